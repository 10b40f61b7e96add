// tests/unit/test_import.c: the parts of src/import that need no Python: fp16 and bf16
// conversion at their edges (subnormals, infinities, NaN), GGUF block dequantization on
// hand-made blocks (values worked out by hand from ggml's definitions), malformed safetensors
// headers (offsets negative, beyond the file, overlapping, fractional; sizes disagreeing) and
// malformed GGUF files (lengths, offsets and counts beyond the file) refused with the file
// named.
#include "harness.h"
#include "lemma/import.h"
#include "lemma/util.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void test_f16(void) {
    EXPECT(import_f16_to_f32(0x3c00) == 1.0f, "1.0");
    EXPECT(import_f16_to_f32(0xc000) == -2.0f, "-2.0");
    EXPECT(import_f16_to_f32(0x0001) == ldexpf(1.0f, -24), "smallest subnormal");
    EXPECT(import_f16_to_f32(0x03ff) == ldexpf(1023.0f, -24), "largest subnormal");
    EXPECT(import_f16_to_f32(0x7bff) == 65504.0f, "largest normal");
    EXPECT(isinf(import_f16_to_f32(0x7c00)) && import_f16_to_f32(0x7c00) > 0, "+inf");
    EXPECT(isinf(import_f16_to_f32(0xfc00)) && import_f16_to_f32(0xfc00) < 0, "-inf");
    EXPECT(isnan(import_f16_to_f32(0x7e00)), "nan");
    EXPECT(signbit(import_f16_to_f32(0x8000)) && import_f16_to_f32(0x8000) == 0.0f, "-0");
}

static void test_bf16(void) {
    EXPECT(import_bf16_to_f32(0x3f80) == 1.0f, "1.0");
    EXPECT(import_bf16_to_f32(0xc040) == -3.0f, "-3.0");
    EXPECT(import_bf16_to_f32(0x0001) == ldexpf(1.0f, -133), "smallest subnormal");
    EXPECT(import_bf16_to_f32(0x007f) == ldexpf(127.0f, -133), "largest subnormal");
    EXPECT(import_bf16_to_f32(0x7f7f) == ldexpf(255.0f, 120), "largest normal");
    EXPECT(isinf(import_bf16_to_f32(0x7f80)) && import_bf16_to_f32(0x7f80) > 0, "+inf");
    EXPECT(isinf(import_bf16_to_f32(0xff80)) && import_bf16_to_f32(0xff80) < 0, "-inf");
    EXPECT(isnan(import_bf16_to_f32(0x7fc0)) && isnan(import_bf16_to_f32(0xffc1)), "nan");
    EXPECT(signbit(import_bf16_to_f32(0x8000)) && import_bf16_to_f32(0x8000) == 0.0f, "-0");
}

// Block types as ggml numbers them: Q4_0 = 2, Q4_1 = 3, Q8_0 = 8. d = 0.5 is 0x3800 in fp16,
// m = -1 is 0xbc00.
static void test_dequant(void) {
    unsigned char q8[34] = {0x00, 0x38};
    for (int j = 0; j < 32; j++) q8[2 + j] = (unsigned char)(int8_t)(j - 16);
    float out[32];
    import_dequant_block(8, q8, out);
    int ok = 1;
    for (int j = 0; j < 32; j++) ok &= out[j] == 0.5f * (float)(j - 16);
    EXPECT(ok, "Q8_0: q * d");
    unsigned char q4[18] = {0x00, 0x38};
    for (int j = 0; j < 16; j++) q4[2 + j] = (unsigned char)(j | (15 - j) << 4);
    import_dequant_block(2, q4, out);
    ok = 1;
    for (int j = 0; j < 16; j++) ok &= out[j] == 0.5f * (float)(j - 8) && out[j + 16] == 0.5f * (float)(7 - j);
    EXPECT(ok, "Q4_0: low nibbles are elements 0..15, high ones 16..31, (q - 8) * d");
    unsigned char q41[20] = {0x00, 0x38, 0x00, 0xbc};
    for (int j = 0; j < 16; j++) q41[4 + j] = (unsigned char)(j | (15 - j) << 4);
    import_dequant_block(3, q41, out);
    ok = 1;
    for (int j = 0; j < 16; j++) ok &= out[j] == 0.5f * (float)j - 1.0f && out[j + 16] == 0.5f * (float)(15 - j) - 1.0f;
    EXPECT(ok, "Q4_1: q * d + m");
}

// A model directory with a config.json and a model.safetensors of the given bytes.
static void write_dir(const char *dir, const void *st, size_t n) {
    char path[512];
    lm_mkdir_p(dir);
    snprintf(path, sizeof path, "%s/config.json", dir);
    FILE *f = fopen(path, "w");
    fputs("{\"architectures\": [\"LlamaForCausalLM\"], \"vocab_size\": 8, \"hidden_size\": 8, "
          "\"num_hidden_layers\": 1, \"num_attention_heads\": 2, \"intermediate_size\": 8}", f);
    fclose(f);
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    f = fopen(path, "wb");
    fwrite(st, 1, n, f);
    fclose(f);
}

static int refused(const char *dir, const char *want) {
    ImportModel *im;
    char err[1024] = "";
    int rc = import_open(&im, dir, err, sizeof err);
    if (rc == 0) import_close(im);
    return rc != 0 && strstr(err, want) != NULL;
}

static void test_bad_safetensors(void) {
    char dir[] = "/tmp/lemma-test-import-XXXXXX";
    LM_CHECK(mkdtemp(dir), "mkdtemp");
    char sub[600];
    const char *headers[] = {
        "{\"a\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [-8, 0]}}",
        "{\"a\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [0, 4000]}}",
        "{\"a\": {\"dtype\": \"F32\", \"shape\": [3], \"data_offsets\": [0, 8]}}",
        "[1, 2]",
        "{\"a\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [0, 8]}, "
        "\"b\": {\"dtype\": \"F16\", \"shape\": [2], \"data_offsets\": [4, 8]}}",
        "{\"a\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [0.5, 8.5]}}",
        "{\"a\": {\"dtype\": \"F32\", \"shape\": [-2], \"data_offsets\": [0, 0]}}",
        "{\"a\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": \"0, 8\"}}",
    };
    const char *want[] = {"outside the file", "outside the file", "make 12 bytes", "not a JSON object",
                          "overlap", "outside the file", "shape is not", "needs dtype"};
    for (int i = 0; i < 8; i++) {
        unsigned char buf[512] = {0};
        uint64_t hl = strlen(headers[i]);
        memcpy(buf, &hl, 8);
        memcpy(buf + 8, headers[i], hl);
        snprintf(sub, sizeof sub, "%s/m%d", dir, i);
        write_dir(sub, buf, 8 + hl + 8);
        EXPECT(refused(sub, want[i]) && refused(sub, "model.safetensors"), "header %d: %s", i, headers[i]);
    }
    unsigned char big[16] = {0xff, 0xff, 0xff, 0x7f};
    snprintf(sub, sizeof sub, "%s/m9", dir);
    write_dir(sub, big, sizeof big);
    EXPECT(refused(sub, "not a safetensors file"), "header length beyond the file");
    char cmd[700];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    EXPECT(system(cmd) == 0, "cleanup");
}

// A GGUF file by hand: version 3, n_t tensors, one string key (its length as given), then
// `tail` bytes of whatever follows.
static void write_gguf(const char *path, uint64_t n_t, uint64_t key_len, const void *tail,
                       size_t tail_len) {
    FILE *f = fopen(path, "wb");
    uint32_t magic = 0x46554747u, version = 3, type = 8;
    uint64_t n_kv = 1, vlen = 5;
    fwrite(&magic, 4, 1, f), fwrite(&version, 4, 1, f), fwrite(&n_t, 8, 1, f);
    fwrite(&n_kv, 8, 1, f), fwrite(&key_len, 8, 1, f);
    fwrite("general.architecture", 1, 20, f), fwrite(&type, 4, 1, f), fwrite(&vlen, 8, 1, f);
    fwrite("llama", 1, 5, f);
    fwrite(tail, 1, tail_len, f);
    fclose(f);
}

static void test_bad_gguf(void) {
    char path[] = "/tmp/lemma-test-import-XXXXXX.gguf";
    int fd = mkstemps(path, 5);
    LM_CHECK(fd >= 0, "mkstemps");
    close(fd);
    write_gguf(path, 0, (uint64_t)1 << 62, NULL, 0); // a key longer than the file
    EXPECT(refused(path, "metadata is malformed") && refused(path, path), "huge key length");
    write_gguf(path, 0, 20, NULL, 0); // the architecture, no hyperparameters: refused, no crash
    EXPECT(refused(path, "llama.embedding_length"), "no hyperparameters");
    // One tensor info: name "t" (len 1), 2 dims (32, 2), F32, offset 2^64 - 32: beyond the end.
    unsigned char info[64];
    size_t n = 0;
    uint64_t u64 = 1, dims[2] = {32, 2}, off = ~(uint64_t)0 - 31; // aligned (32), wrapping around
    uint32_t nd = 2, type = 0;
    memcpy(info + n, &u64, 8), n += 8, info[n++] = 't';
    memcpy(info + n, &nd, 4), n += 4, memcpy(info + n, dims, 16), n += 16;
    memcpy(info + n, &type, 4), n += 4, memcpy(info + n, &off, 8), n += 8;
    write_gguf(path, 1, 20, info, n);
    EXPECT(refused(path, "tensor 't' lies beyond the end"), "tensor offset wrapping around");
    dims[0] = dims[1] = (uint64_t)1 << 40, off = 0; // 2^80 elements
    memcpy(info + 13, dims, 16), memcpy(info + 37, &off, 8);
    write_gguf(path, 1, 20, info, n);
    EXPECT(refused(path, "tensor 't' has an impossible shape"), "element count overflowing");
    write_gguf(path, (uint64_t)1 << 40, 20, NULL, 0);
    EXPECT(refused(path, "is not supported"), "2^40 tensors");
    unlink(path);
}

int main(void) {
    RUN_TEST(test_f16);
    RUN_TEST(test_bf16);
    RUN_TEST(test_bad_gguf);
    RUN_TEST(test_dequant);
    RUN_TEST(test_bad_safetensors);
    TEST_EXIT();
}
