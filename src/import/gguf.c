// import/gguf: a GGUF file (llama.cpp's format, versions 2 and 3): the header, every metadata
// value (arrays left in the mapping), the tensor infos and the aligned data, all bounded by
// the file's size; architectures llama and qwen2 into a ModelConfig; the tokenizer arrays of
// tokenizer.ggml.* as a TokSpec.
#include "import_internal.h"
#include "lemma/util.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { GV_U8, GV_I8, GV_U16, GV_I16, GV_U32, GV_I32, GV_F32, GV_BOOL, GV_STRING, GV_ARRAY,
       GV_U64, GV_I64, GV_F64, GV_COUNT };
static const size_t gv_size[GV_COUNT] = {1, 1, 2, 2, 4, 4, 4, 1, 0, 0, 8, 8, 8};

typedef struct {
    const unsigned char *p, *end;
    int bad;
} Cursor;

static int cur_need(Cursor *c, uint64_t n) {
    if (c->bad || (uint64_t)(c->end - c->p) < n) return c->bad = 1, 0;
    return 1;
}

static uint64_t cur_u(Cursor *c, int bytes) {
    uint64_t v = 0;
    if (!cur_need(c, (uint64_t)bytes)) return 0;
    for (int i = 0; i < bytes; i++) v |= (uint64_t)c->p[i] << (8 * i);
    c->p += bytes;
    return v;
}

// A GGUF string (u64 length, bytes) as a malloc'd NUL-terminated copy (NULL when bad).
static char *cur_str(Cursor *c) {
    uint64_t n = cur_u(c, 8);
    if (n > (1u << 24) || !cur_need(c, n)) return c->bad = 1, NULL;
    char *s = lm_malloc((size_t)n + 1);
    memcpy(s, c->p, (size_t)n);
    s[n] = 0;
    c->p += n;
    return s;
}

// Skips one value of type t (strings and nested arrays walked).
static void cur_skip(Cursor *c, uint32_t t, int depth) {
    if (t >= GV_COUNT || depth > 2) {
        c->bad = 1;
    } else if (t == GV_STRING) {
        uint64_t n = cur_u(c, 8);
        if (cur_need(c, n)) c->p += n;
    } else if (t == GV_ARRAY) {
        uint32_t et = (uint32_t)cur_u(c, 4);
        uint64_t n = cur_u(c, 8);
        if (et < GV_COUNT && et != GV_STRING && et != GV_ARRAY) {
            if (n <= (1ull << 40) / 8 && cur_need(c, n * gv_size[et])) c->p += n * gv_size[et];
            else c->bad = 1;
        } else {
            for (uint64_t i = 0; i < n && !c->bad; i++) cur_skip(c, et, depth + 1);
        }
    } else if (cur_need(c, gv_size[t])) {
        c->p += gv_size[t];
    }
}

static int gguf_kvs(ImportModel *im, Cursor *c, uint64_t n_kv) {
    im->kv = lm_calloc((size_t)n_kv + 1, sizeof(ImpKV));
    for (uint64_t i = 0; i < n_kv && !c->bad; i++) {
        ImpKV *kv = &im->kv[im->n_kv];
        kv->key = cur_str(c);
        if (!kv->key) break;
        im->n_kv++;
        kv->type = (uint32_t)cur_u(c, 4);
        if (kv->type == GV_ARRAY) {
            const unsigned char *at = c->p;
            kv->arr_type = (uint32_t)cur_u(c, 4);
            kv->n = cur_u(c, 8);
            kv->data = c->p;
            c->p = at;
        } else {
            kv->data = c->p;
        }
        cur_skip(c, kv->type, 0);
    }
    return c->bad ? -1 : 0;
}

static const ImpKV *gguf_kv(const ImportModel *im, const char *key) {
    for (int i = 0; i < im->n_kv; i++)
        if (!strcmp(im->kv[i].key, key)) return &im->kv[i];
    return NULL;
}

// A numeric scalar of any integer or float type as a double; def when absent.
static double gguf_num(const ImportModel *im, const char *key, double def) {
    const ImpKV *kv = gguf_kv(im, key);
    if (!kv || kv->type >= GV_COUNT || kv->type == GV_STRING || kv->type == GV_ARRAY) return def;
    Cursor c = {kv->data, kv->data + 8, 0};
    uint64_t u = cur_u(&c, (int)gv_size[kv->type]);
    switch (kv->type) {
    case GV_I8: return (int8_t)u;
    case GV_I16: return (int16_t)u;
    case GV_I32: return (int32_t)u;
    case GV_I64: return (double)(int64_t)u;
    case GV_F32: { uint32_t b = (uint32_t)u; float f; memcpy(&f, &b, 4); return f; }
    case GV_F64: { double d; memcpy(&d, &u, 8); return d; }
    default: return (double)u;
    }
}

// An integer-valued key in int's range (def when absent, -1 when out of range).
static int gguf_int(const ImportModel *im, const char *key, int def) {
    double v = gguf_num(im, key, def);
    return v >= -1 && v <= 2147483647.0 ? (int)v : -1;
}

// A float-valued key in float's range (def when absent, NaN when out of range: refused later).
static float gguf_float(const ImportModel *im, const char *key, double def) {
    double v = gguf_num(im, key, def);
    return v >= -3e38 && v <= 3e38 ? (float)v : NAN;
}

// A string value (malloc'd) or NULL.
static char *gguf_strval(const ImportModel *im, const char *key) {
    const ImpKV *kv = gguf_kv(im, key);
    if (!kv || kv->type != GV_STRING) return NULL;
    Cursor c = {kv->data, im->files[0].base + im->files[0].size, 0};
    return cur_str(&c);
}

static int gguf_tensor_infos(ImportModel *im, Cursor *c, uint64_t n, char *err, size_t err_len) {
    const char *path = im->files[0].path;
    for (uint64_t i = 0; i < n; i++) {
        char *name = cur_str(c);
        uint32_t nd = (uint32_t)cur_u(c, 4);
        if (!name || nd > 4 || c->bad) {
            free(name);
            snprintf(err, err_len, "%s: tensor info %llu is malformed", path, (unsigned long long)i);
            return -1;
        }
        ImpTensor *t = imp_add_tensor(im);
        t->name = name, t->ndim = (int)nd;
        for (uint32_t d = 0; d < nd; d++) t->shape[nd - 1 - d] = (int64_t)cur_u(c, 8); // ne reversed
        t->type = (int)cur_u(c, 4);
        snprintf(t->type_name, sizeof t->type_name, "%s", imp_type_name(t->type));
        t->nbytes = (size_t)cur_u(c, 8); // the offset for now
    }
    return c->bad ? -1 : 0;
}

// Tensor data: aligned offsets from the aligned end of the infos; every range inside the
// file, no two sharing bytes.
static int gguf_place(ImportModel *im, size_t data0, size_t align, char *err, size_t err_len) {
    const ImpFile *f = &im->files[0];
    for (int i = 0; i < im->n_t; i++) {
        ImpTensor *t = &im->t[i];
        size_t off = t->nbytes;
        int64_t n = imp_numel(t->shape, t->ndim);
        int64_t cols = t->ndim > 0 ? t->shape[t->ndim - 1] : 1;
        if (n < 0) {
            snprintf(err, err_len, "%s: tensor '%s' has an impossible shape", f->path, t->name);
            return -1;
        }
        size_t bytes = imp_type_bytes(t->type, n);
        int quant = t->type != GGML_F32 && t->type != GGML_F16 && t->type != GGML_BF16;
        if (bytes && quant && cols % 32 != 0) {
            snprintf(err, err_len, "%s: tensor '%s': rows of %lld elements are not whole %s blocks",
                     f->path, t->name, (long long)cols, t->type_name);
            return -1;
        }
        if (off % align != 0) {
            snprintf(err, err_len, "%s: tensor '%s': offset %zu is not a multiple of the alignment "
                     "%zu", f->path, t->name, off, align);
            return -1;
        }
        if (data0 > f->size || off > f->size - data0 || bytes > f->size - data0 - off) {
            snprintf(err, err_len, "%s: tensor '%s' lies beyond the end of the file (truncated?)",
                     f->path, t->name);
            return -1;
        }
        t->data = f->base + data0 + off;
        t->nbytes = bytes;
        t->file = 0;
    }
    return imp_no_overlap(im, 0, 0, err, err_len);
}

// <arch>.* hyperparameters into the ModelConfig.
static int gguf_config(ImportModel *im, const char *arch, char *err, size_t err_len) {
    ModelConfig *mc = &im->mc;
    char k[128];
#define ARCH_INT(key, def) (snprintf(k, sizeof k, "%s." key, arch), gguf_int(im, k, def))
#define ARCH_FLOAT(key, def) (snprintf(k, sizeof k, "%s." key, arch), gguf_float(im, k, def))
    mc->dim = ARCH_INT("embedding_length", 0);
    mc->n_layers = ARCH_INT("block_count", 0);
    mc->n_heads = ARCH_INT("attention.head_count", 0);
    mc->n_kv_heads = ARCH_INT("attention.head_count_kv", mc->n_heads);
    mc->ffn_dim = ARCH_INT("feed_forward_length", 0);
    mc->max_seq = ARCH_INT("context_length", 2048);
    mc->rope_theta = ARCH_FLOAT("rope.freq_base", 10000.0);
    mc->norm_eps = ARCH_FLOAT("attention.layer_norm_rms_epsilon", 1e-5);
    mc->head_dim = mc->n_heads > 0 ? ARCH_INT("attention.key_length", mc->dim / mc->n_heads) : 0;
    int v_dim = ARCH_INT("attention.value_length", mc->head_dim);
    int rope_dims = ARCH_INT("rope.dimension_count", mc->head_dim);
    snprintf(k, sizeof k, "%s.rope.scaling.type", arch);
    char *scaling = gguf_strval(im, k);
#undef ARCH_INT
#undef ARCH_FLOAT
    mc->init_std = 0.02f;
    mc->qkv_bias = !strcmp(arch, "qwen2");
    const char *path = im->files[0].path;
    int rc = 0;
    if (mc->dim <= 0 || mc->n_layers <= 0 || mc->n_heads <= 0 || mc->ffn_dim <= 0)
        rc = imp_fail(err, err_len, "%s: %s.embedding_length, block_count, attention.head_count "
                      "or feed_forward_length is missing or out of range", path, arch);
    else if (v_dim != mc->head_dim)
        rc = imp_fail(err, err_len, "%s: %s.attention.value_length = %d differs from key_length "
                      "%d: not supported", path, arch, v_dim, mc->head_dim);
    else if (rope_dims != mc->head_dim)
        rc = imp_fail(err, err_len, "%s: %s.rope.dimension_count = %d (partial rotary) is not "
                      "supported", path, arch, rope_dims);
    else if (scaling && strcmp(scaling, "none") != 0)
        rc = imp_fail(err, err_len, "%s: %s.rope.scaling.type '%s' is not supported", path, arch,
                      scaling);
    else if (imp_find(im, "rope_freqs.weight"))
        rc = imp_fail(err, err_len, "%s: tensor 'rope_freqs.weight' (LLaMA-3.1 rope scaling as "
                      "GGUF stores it) is not supported: import the Hugging Face checkpoint",
                      path);
    free(scaling);
    const ImpTensor *emb = imp_find(im, "token_embd.weight");
    if (rc == 0 && !emb)
        rc = imp_fail(err, err_len, "%s: tensor 'token_embd.weight' is missing", path);
    if (rc == 0 && (emb->ndim != 2 || emb->shape[0] > (1 << 24)))
        rc = imp_fail(err, err_len, "%s: tensor 'token_embd.weight' is not a (vocab, dim) matrix "
                      "of at most 2^24 rows", path);
    if (rc == 0) mc->vocab = (int)emb->shape[0], mc->tied = imp_find(im, "output.weight") == NULL;
    return rc;
}

// tokenizer.ggml.* arrays copied out of the mapping, and the special ids.
static void gguf_tok_arrays(ImportModel *im) {
    const ImpKV *tk = gguf_kv(im, "tokenizer.ggml.tokens");
    const ImpKV *mg = gguf_kv(im, "tokenizer.ggml.merges");
    const ImpKV *sc = gguf_kv(im, "tokenizer.ggml.scores");
    const ImpKV *ty = gguf_kv(im, "tokenizer.ggml.token_type");
    const unsigned char *end = im->files[0].base + im->files[0].size;
    for (int w = 0; w < 2; w++) {
        const ImpKV *kv = w ? mg : tk;
        if (!kv || kv->type != GV_ARRAY || kv->arr_type != GV_STRING || kv->n > (1u << 24)) continue;
        char **out = lm_calloc((size_t)kv->n + 1, sizeof(char *));
        Cursor c = {kv->data, end, 0};
        uint64_t n = 0;
        for (; n < kv->n && (out[n] = cur_str(&c)); n++) {
        }
        if (w) im->tok_merges = out, im->tok_n_merges = (int)n;
        else im->tok_tokens = out, im->tok_n = (int)n;
    }
    if (sc && sc->type == GV_ARRAY && sc->arr_type == GV_F32 && sc->n == (uint64_t)im->tok_n) {
        im->tok_scores = lm_malloc((size_t)im->tok_n * sizeof(float) + 1);
        memcpy(im->tok_scores, sc->data, (size_t)im->tok_n * sizeof(float));
    }
    if (ty && ty->type == GV_ARRAY && ty->arr_type == GV_I32 && ty->n == (uint64_t)im->tok_n) {
        im->tok_types = lm_malloc((size_t)im->tok_n * sizeof(int) + 1);
        memcpy(im->tok_types, ty->data, (size_t)im->tok_n * sizeof(int));
    }
    im->bos = gguf_int(im, "tokenizer.ggml.bos_token_id", -1);
    int eos = gguf_int(im, "tokenizer.ggml.eos_token_id", -1);
    if (eos >= 0) im->eos[im->n_eos++] = eos;
    int eot = gguf_int(im, "tokenizer.ggml.eot_token_id", -1);
    if (eot >= 0 && eot != eos) im->eos[im->n_eos++] = eot;
    im->chat_template = gguf_strval(im, "tokenizer.chat_template");
}

int imp_open_gguf(ImportModel *im, const char *path, char *err, size_t err_len) {
    im->gguf = 1;
    if (imp_map_file(im, path, err, err_len) < 0) return -1;
    const ImpFile *f = &im->files[0];
    Cursor c = {f->base, f->base + f->size, 0};
    uint32_t magic = (uint32_t)cur_u(&c, 4), version = (uint32_t)cur_u(&c, 4);
    uint64_t n_t = cur_u(&c, 8), n_kv = cur_u(&c, 8);
    if (c.bad || magic != 0x46554747u) {
        snprintf(err, err_len, "%s: not a GGUF file (and not a directory with config.json)", path);
        return -1;
    }
    if (version < 2 || version > 3 || n_t > (1u << 20) || n_kv > (1u << 20)) {
        snprintf(err, err_len, "%s: GGUF version %u with %llu tensors and %llu keys is not "
                 "supported (versions 2 and 3)", path, version, (unsigned long long)n_t,
                 (unsigned long long)n_kv);
        return -1;
    }
    if (gguf_kvs(im, &c, n_kv) != 0) {
        snprintf(err, err_len, "%s: metadata is malformed or truncated", path);
        return -1;
    }
    if (gguf_tensor_infos(im, &c, n_t, err, err_len) != 0) return -1;
    size_t align = (size_t)gguf_num(im, "general.alignment", 32);
    if (align == 0 || (align & (align - 1)) || align > 65536) {
        snprintf(err, err_len, "%s: general.alignment = %zu is not a power of two", path, align);
        return -1;
    }
    size_t data0 = ((size_t)(c.p - f->base) + align - 1) / align * align;
    if (gguf_place(im, data0, align, err, err_len) != 0) return -1;
    char *arch = gguf_strval(im, "general.architecture");
    int rc = 0;
    if (!arch || (strcmp(arch, "llama") != 0 && strcmp(arch, "qwen2") != 0))
        rc = imp_fail(err, err_len, "%s: architecture '%s' is not supported (llama, qwen2)", path,
                      arch ? arch : "(none)");
    else rc = gguf_config(im, arch, err, err_len);
    im->permute_qk = arch && !strcmp(arch, "llama");
    if (rc == 0) snprintf(im->family, sizeof im->family, "%s", arch);
    free(arch);
    if (rc == 0) gguf_tok_arrays(im);
    return rc;
}

int import_gguf_tok_spec(const ImportModel *im, TokSpec *s, char *err, size_t err_len) {
    memset(s, 0, sizeof *s);
    char *model = im->gguf ? gguf_strval(im, "tokenizer.ggml.model") : NULL;
    int rc = 0;
    if (!model || (strcmp(model, "gpt2") != 0 && strcmp(model, "llama") != 0))
        rc = imp_fail(err, err_len, "%s: tokenizer.ggml.model '%s' is not supported (gpt2, llama)",
                      im->path, model ? model : "(none)");
    else if (!im->tok_tokens || im->tok_n == 0)
        rc = imp_fail(err, err_len, "%s: tokenizer.ggml.tokens is missing", im->path);
    if (rc == 0) {
        s->spm = !strcmp(model, "llama");
        s->n_vocab = im->tok_n;
        s->tokens = (const char *const *)im->tok_tokens;
        s->scores = im->tok_scores;
        s->types = im->tok_types;
        s->n_merges = im->tok_n_merges;
        s->merges = (const char *const *)im->tok_merges;
        char *p = gguf_strval(im, "tokenizer.ggml.pre");
        snprintf((char *)im->tok_pre, sizeof im->tok_pre, "%s", p ? p : "default");
        free(p);
        s->pre = im->tok_pre;
        s->bos = im->bos;
        s->eos = im->n_eos > 0 ? im->eos[0] : -1;
        s->unk = gguf_int(im, "tokenizer.ggml.unknown_token_id", -1);
        s->pad = gguf_int(im, "tokenizer.ggml.padding_token_id", -1);
        s->add_bos = gguf_int(im, "tokenizer.ggml.add_bos_token", s->spm);
        s->add_eos = gguf_int(im, "tokenizer.ggml.add_eos_token", 0);
    }
    free(model);
    return rc;
}

void imp_gguf_name(const char *view, char *buf, size_t len) {
    static const char *const map[][2] = {
        {"attn_norm", "attn_norm.weight"}, {"mlp_norm", "ffn_norm.weight"},
        {"attn.wq", "attn_q.weight"},      {"attn.wk", "attn_k.weight"},
        {"attn.wv", "attn_v.weight"},      {"attn.wo", "attn_output.weight"},
        {"attn.bq", "attn_q.bias"},        {"attn.bk", "attn_k.bias"},
        {"attn.bv", "attn_v.bias"},        {"mlp.w1", "ffn_gate.weight"},
        {"mlp.w3", "ffn_up.weight"},       {"mlp.w2", "ffn_down.weight"}};
    int layer;
    char leaf[64];
    if (sscanf(view, "layers.%d.%63s", &layer, leaf) == 2) {
        for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
            if (!strcmp(leaf, map[i][0])) {
                snprintf(buf, len, "blk.%d.%s", layer, map[i][1]);
                return;
            }
    }
    if (!strcmp(view, "tok_emb")) snprintf(buf, len, "token_embd.weight");
    else if (!strcmp(view, "norm")) snprintf(buf, len, "output_norm.weight");
    else if (!strcmp(view, "lm_head")) snprintf(buf, len, "output.weight");
    else snprintf(buf, len, "%s", view);
}
