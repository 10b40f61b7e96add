// export/gguf: a GGUF v3 file as llama.cpp reads it: the architecture's metadata (llama or
// qwen2; a Mistral model is written as llama, as llama.cpp's converter does), the tokenizer's
// (tokenizer.ggml.*), then the tensor infos and the data, each tensor 32-byte aligned;
// matrices in F32, F16 or BF16, 1-D tensors in F32; llama's q and k rows in llama.cpp's
// order.
#include "lemma/backend.h"
#include "lemma/export.h"
#include "lemma/util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { GV_U32 = 4, GV_I32 = 5, GV_F32 = 6, GV_BOOL = 7, GV_STRING = 8, GV_ARRAY = 9 };
#define GGUF_ALIGN 32

typedef struct {
    FILE *f;
    int ok;
} Out;

static void put(Out *o, const void *p, size_t n) { o->ok = o->ok && fwrite(p, 1, n, o->f) == n; }
static void put_u32(Out *o, uint32_t v) { put(o, &v, 4); }
static void put_u64(Out *o, uint64_t v) { put(o, &v, 8); }
static void put_str(Out *o, const char *s) {
    put_u64(o, strlen(s));
    put(o, s, strlen(s));
}
static void kv_u32(Out *o, const char *k, uint32_t v) { put_str(o, k), put_u32(o, GV_U32), put_u32(o, v); }
static void kv_f32(Out *o, const char *k, float v) { put_str(o, k), put_u32(o, GV_F32), put(o, &v, 4); }
static void kv_bool(Out *o, const char *k, int v) {
    unsigned char b = (unsigned char)(v != 0);
    put_str(o, k), put_u32(o, GV_BOOL), put(o, &b, 1);
}
static void kv_str(Out *o, const char *k, const char *v) { put_str(o, k), put_u32(o, GV_STRING), put_str(o, v); }
static void kv_arr_hdr(Out *o, const char *k, uint32_t type, uint64_t n) {
    put_str(o, k), put_u32(o, GV_ARRAY), put_u32(o, type), put_u64(o, n);
}

static const char *gguf_arch(const ModelConfig *mc, const ExportInfo *x) {
    return !strcmp(export_family(mc, x->family), "qwen2") ? "qwen2" : "llama";
}

// The number of metadata keys gguf_meta writes.
static uint64_t gguf_n_kv(const ModelConfig *mc, const ExportInfo *x) {
    uint64_t n = 13 + (mc->head_dim * mc->n_heads != mc->dim ? 2 : 0);
    const TokSpec *t = x->tok;
    if (t) n += 5 + (t->scores != NULL) + (t->n_merges > 0) + (t->unk >= 0) + (t->pad >= 0) + (t->bos >= 0) + (t->eos >= 0);
    return n + (x->chat_template != NULL);
}

static void gguf_arch_meta(Out *o, const ModelConfig *mc, const ExportInfo *x) {
    const char *a = gguf_arch(mc, x);
    char k[96];
#define AK(s) (snprintf(k, sizeof k, "%s.%s", a, s), k)
    kv_str(o, "general.architecture", a);
    kv_str(o, "general.name", x->name ? x->name : "lemma");
    kv_u32(o, "general.alignment", GGUF_ALIGN);
    kv_u32(o, "general.file_type", x->type == EXPORT_F32 ? 0 : x->type == EXPORT_F16 ? 1 : 32);
    kv_u32(o, AK("context_length"), (uint32_t)mc->max_seq);
    kv_u32(o, AK("embedding_length"), (uint32_t)mc->dim);
    kv_u32(o, AK("block_count"), (uint32_t)mc->n_layers);
    kv_u32(o, AK("feed_forward_length"), (uint32_t)mc->ffn_dim);
    kv_u32(o, AK("attention.head_count"), (uint32_t)mc->n_heads);
    kv_u32(o, AK("attention.head_count_kv"), (uint32_t)mc->n_kv_heads);
    kv_f32(o, AK("attention.layer_norm_rms_epsilon"), mc->norm_eps);
    kv_f32(o, AK("rope.freq_base"), mc->rope_theta);
    kv_u32(o, AK("rope.dimension_count"), (uint32_t)mc->head_dim);
    if (mc->head_dim * mc->n_heads != mc->dim) {
        kv_u32(o, AK("attention.key_length"), (uint32_t)mc->head_dim);
        kv_u32(o, AK("attention.value_length"), (uint32_t)mc->head_dim);
    }
#undef AK
}

static void gguf_tok_meta(Out *o, const ExportInfo *x) {
    const TokSpec *t = x->tok;
    if (t) {
        kv_str(o, "tokenizer.ggml.model", t->spm ? "llama" : "gpt2");
        kv_str(o, "tokenizer.ggml.pre", t->pre ? t->pre : "default");
        kv_arr_hdr(o, "tokenizer.ggml.tokens", GV_STRING, (uint64_t)t->n_vocab);
        for (int i = 0; i < t->n_vocab; i++) put_str(o, t->tokens[i]);
        kv_arr_hdr(o, "tokenizer.ggml.token_type", GV_I32, (uint64_t)t->n_vocab);
        for (int i = 0; i < t->n_vocab; i++) put_u32(o, (uint32_t)(t->types ? t->types[i] : 1));
        if (t->scores) {
            kv_arr_hdr(o, "tokenizer.ggml.scores", GV_F32, (uint64_t)t->n_vocab);
            put(o, t->scores, (size_t)t->n_vocab * 4);
        }
        if (t->n_merges > 0) {
            kv_arr_hdr(o, "tokenizer.ggml.merges", GV_STRING, (uint64_t)t->n_merges);
            for (int i = 0; i < t->n_merges; i++) put_str(o, t->merges[i]);
        }
        if (t->bos >= 0) kv_u32(o, "tokenizer.ggml.bos_token_id", (uint32_t)t->bos);
        if (t->eos >= 0) kv_u32(o, "tokenizer.ggml.eos_token_id", (uint32_t)t->eos);
        if (t->unk >= 0) kv_u32(o, "tokenizer.ggml.unknown_token_id", (uint32_t)t->unk);
        if (t->pad >= 0) kv_u32(o, "tokenizer.ggml.padding_token_id", (uint32_t)t->pad);
        kv_bool(o, "tokenizer.ggml.add_bos_token", t->add_bos);
    }
    if (x->chat_template) kv_str(o, "tokenizer.chat_template", x->chat_template);
}

// GGUF's names of lemma's tensors.
static void gguf_name(const char *view, char *buf, size_t len) {
    static const char *const map[][2] = {
        {"attn_norm", "attn_norm.weight"}, {"mlp_norm", "ffn_norm.weight"},
        {"attn.wq", "attn_q.weight"},      {"attn.wk", "attn_k.weight"},
        {"attn.wv", "attn_v.weight"},      {"attn.wo", "attn_output.weight"},
        {"attn.bq", "attn_q.bias"},        {"attn.bk", "attn_k.bias"},
        {"attn.bv", "attn_v.bias"},        {"mlp.w1", "ffn_gate.weight"},
        {"mlp.w3", "ffn_up.weight"},       {"mlp.w2", "ffn_down.weight"}};
    int layer;
    char leaf[64];
    if (sscanf(view, "layers.%d.%63s", &layer, leaf) == 2)
        for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
            if (!strcmp(leaf, map[i][0])) {
                snprintf(buf, len, "blk.%d.%s", layer, map[i][1]);
                return;
            }
    snprintf(buf, len, "%s", !strcmp(view, "tok_emb") ? "token_embd.weight"
                             : !strcmp(view, "norm") ? "output_norm.weight" : "output.weight");
}

// fp32 to IEEE half, rounding to nearest even (overflow to inf, NaN kept quiet).
static uint16_t f32_to_f16(float f) {
    uint32_t x;
    memcpy(&x, &f, 4);
    uint32_t sign = (x >> 16) & 0x8000, e = (x >> 23) & 0xff, m = x & 0x7fffff;
    if (e == 0xff) return (uint16_t)(sign | 0x7c00 | (m ? 0x200 : 0));
    int ne = (int)e - 127 + 15;
    if (ne >= 31) return (uint16_t)(sign | 0x7c00);
    if (ne <= 0) { // subnormal or zero: shift the full mantissa, round to nearest even
        if (ne < -10) return (uint16_t)sign;
        m |= 0x800000;
        int shift = 14 - ne;
        uint32_t half = m >> shift, rem = m & ((1u << shift) - 1), mid = 1u << (shift - 1);
        half += rem > mid || (rem == mid && (half & 1));
        return (uint16_t)(sign | half);
    }
    uint32_t h = (uint32_t)ne << 10 | m >> 13, rem = m & 0x1fff;
    h += rem > 0x1000 || (rem == 0x1000 && (h & 1)); // a carry into the exponent is right
    return (uint16_t)(sign | h);
}

static int tensor_type(const ParamView *v, const ExportInfo *x) { return v->ndim == 1 ? EXPORT_F32 : (int)x->type; }
static size_t tensor_bytes(const ParamView *v, const ExportInfo *x) {
    return v->numel * (tensor_type(v, x) == EXPORT_F32 ? 4 : 2);
}
static int skip(const ModelConfig *mc, const ParamView *v) { return mc->tied && !strcmp(v->name, "lm_head"); }

static void gguf_infos(Out *o, const ModelConfig *mc, const ParamLayout *pl, const ExportInfo *x) {
    uint64_t off = 0;
    for (int i = 0; i < pl->n_views; i++) {
        const ParamView *v = &pl->views[i];
        if (skip(mc, v)) continue;
        char name[96];
        gguf_name(v->name, name, sizeof name);
        put_str(o, name);
        put_u32(o, (uint32_t)v->ndim);
        put_u64(o, (uint64_t)(v->ndim == 2 ? v->shape[1] : v->shape[0])); // ne[0]: fastest
        if (v->ndim == 2) put_u64(o, (uint64_t)v->shape[0]);
        put_u32(o, (uint32_t)tensor_type(v, x));
        put_u64(o, off);
        off += (tensor_bytes(v, x) + GGUF_ALIGN - 1) / GGUF_ALIGN * GGUF_ALIGN;
    }
}

static void pad_to(Out *o, long pos) {
    static const char zeros[GGUF_ALIGN];
    long pad = (GGUF_ALIGN - pos % GGUF_ALIGN) % GGUF_ALIGN;
    put(o, zeros, (size_t)pad);
}

// File row of lemma's row r of a q or k tensor in llama.cpp's order, inverted: lemma's row
// s * hd/2 + j of a head is written at 2 j + s.
static int64_t qk_src_row(int64_t file_row, int hd) {
    int64_t h = file_row / hd, i = file_row % hd;
    return h * hd + (i % 2) * (hd / 2) + i / 2;
}

static void gguf_tensor(Out *o, const ModelConfig *mc, const ParamView *v, const float *p,
                        const ExportInfo *x, int permute) {
    int64_t rows = v->ndim == 2 ? v->shape[0] : 1, cols = v->ndim == 2 ? v->shape[1] : v->shape[0];
    int type = tensor_type(v, x);
    uint16_t *h = lm_malloc((size_t)cols * 2);
    float *one = NULL;
    if (permute && v->ndim == 1) { // a q/k bias: its elements are the rows
        one = lm_malloc((size_t)cols * 4);
        for (int64_t r = 0; r < cols; r++) one[r] = p[qk_src_row(r, mc->head_dim)];
        p = one;
    }
    for (int64_t r = 0; r < rows && o->ok; r++) {
        const float *row = p + (size_t)((permute && v->ndim == 2 ? qk_src_row(r, mc->head_dim) : r) * cols);
        if (type == EXPORT_F32) {
            put(o, row, (size_t)cols * 4);
            continue;
        }
        for (int64_t c = 0; c < cols; c++)
            h[c] = type == EXPORT_BF16 ? lm_f32_to_bf16(row[c]) : f32_to_f16(row[c]);
        put(o, h, (size_t)cols * 2);
    }
    free(h);
    free(one);
}

int export_gguf(const ModelConfig *mc, const ParamLayout *pl, const float *params,
                const ExportInfo *x, const char *out_path, char *err, size_t err_len) {
    if (mc->rope_factor > 0) {
        snprintf(err, err_len, "%s: LLaMA-3.1 rope scaling goes into GGUF as a rope_freqs tensor, "
                 "which lemma does not write (export --format hf)", out_path);
        return -1;
    }
    Out o = {fopen(out_path, "wb"), 1};
    if (!o.f) {
        snprintf(err, err_len, "%s: cannot write: %s", out_path, strerror(errno));
        return -1;
    }
    uint64_t n_t = 0;
    for (int i = 0; i < pl->n_views; i++) n_t += !skip(mc, &pl->views[i]);
    put(&o, "GGUF", 4);
    put_u32(&o, 3);
    put_u64(&o, n_t);
    put_u64(&o, gguf_n_kv(mc, x));
    gguf_arch_meta(&o, mc, x);
    gguf_tok_meta(&o, x);
    gguf_infos(&o, mc, pl, x);
    pad_to(&o, ftell(o.f));
    int llama = !strcmp(gguf_arch(mc, x), "llama");
    for (int i = 0; i < pl->n_views && o.ok; i++) {
        const ParamView *v = &pl->views[i];
        if (skip(mc, v)) continue;
        int qk = strstr(v->name, "attn.wq") || strstr(v->name, "attn.wk") ||
                 strstr(v->name, "attn.bq") || strstr(v->name, "attn.bk");
        gguf_tensor(&o, mc, v, params + v->offset, x, llama && qk);
        pad_to(&o, ftell(o.f));
    }
    o.ok = fclose(o.f) == 0 && o.ok;
    if (!o.ok) snprintf(err, err_len, "%s: write failed: %s", out_path, strerror(errno));
    return o.ok ? 0 : -1;
}
