// tests/unit/test_import.c: the parts of src/import that need no Python: fp16 conversion at
// its edges (subnormals, infinities, NaN), GGUF block dequantization on hand-made blocks
// (values worked out by hand from ggml's definitions), and malformed safetensors headers
// refused with the file named.
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
    };
    const char *want[] = {"outside the file", "outside the file", "make 12 bytes", "not a JSON object"};
    for (int i = 0; i < 4; i++) {
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

int main(void) {
    RUN_TEST(test_f16);
    RUN_TEST(test_dequant);
    RUN_TEST(test_bad_safetensors);
    TEST_EXIT();
}
