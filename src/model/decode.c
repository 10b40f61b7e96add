// model/decode: the KV cache and the decoding forward pass (docs/sampling.md). A step runs
// n rows, each one token of one sequence (slot) at its position: embedding, then per block
// RMSNorm, the QKV matmul over all rows, RoPE at each row's position, the rows' k and v
// into the cache, attention of each row over its slot's cache, and the rest as in the
// training forward; logits for the last rows only. Shapes: n rows, C = dim, hq = H*hd,
// qkvd = hq + 2*KV*hd, F = ffn_dim, V = vocab. Only the ops table is called.
#include "lemma/model.h"
#include "lemma/util.h"

#include <stdlib.h>
#include <string.h>

static inline void *dec_at(const Model *m, const void *base, size_t elems) {
    return (char *)base + elems * m->be->act_size;
}
static inline void *dec_w(const Model *m, size_t off) { return dec_at(m, m->cparams, off); }

// Elements of one layer's key (or value) cache.
static size_t dec_layer_elems(const ModelConfig *mc, int slots, int ctx) {
    return (size_t)slots * mc->n_kv_heads * mc->head_dim * ctx;
}

static int dec_round_ctx(int ctx) { return (ctx + 15) / 16 * 16; }

// Weights (OC, C) at offset off of the parameters, as matmul_rows reads them.
static const void *dec_pack(Model *m, size_t off, int C, int OC) {
    Backend *be = m->be;
    return be->pack_rows ? be->pack_rows(be, dec_w(m, off), C, OC) : dec_w(m, off);
}

static void dec_pack_weights(ModelDecode *d, Model *m) {
    const ModelConfig *mc = &m->cfg;
    int L = mc->n_layers, C = mc->dim, F = mc->ffn_dim, hq = mc->n_heads * mc->head_dim;
    int qkvd = hq + 2 * mc->n_kv_heads * mc->head_dim;
    d->wqkv = lm_calloc(4 * (size_t)L, sizeof(void *));
    d->wo = d->wqkv + L, d->w13 = d->wo + L, d->w2 = d->w13 + L;
    for (int l = 0; l < L; l++) {
        const LayerOffsets *lo = &m->layout.layers[l];
        d->wqkv[l] = dec_pack(m, lo->wqkv, C, qkvd);
        d->wo[l] = dec_pack(m, lo->wo, hq, C);
        d->w13[l] = dec_pack(m, lo->w13, C, 2 * F);
        d->w2[l] = dec_pack(m, lo->w2, F, C);
    }
    d->lm_head = dec_pack(m, m->layout.lm_head, C, mc->vocab);
}

// The step buffers of a decode state: where each goes, its bytes and name (one table for
// model_decode_init, model_decode_free and model_decode_bytes). The first two are the cache.
enum { DEC_BUFS = 14 };
typedef struct {
    void **ptr;
    size_t bytes;
    const char *what;
} DecBuf;

static void dec_table(ModelDecode *d, const ModelConfig *mc, int slots, int ctx, int max_rows,
                      int max_logits, DType kv, size_t as, DecBuf *t) {
    size_t R = (size_t)max_rows, C = mc->dim, F = mc->ffn_dim, is = sizeof(int);
    size_t hq = (size_t)mc->n_heads * mc->head_dim, qkvd = hq + 2 * (size_t)mc->n_kv_heads * mc->head_dim;
    size_t cache = (size_t)mc->n_layers * dec_layer_elems(mc, slots, dec_round_ctx(ctx)) * lm_dtype_size(kv);
    DecBuf tab[DEC_BUFS] = {
        {&d->kc, cache, "KV cache (keys)"},
        {&d->vc, cache, "KV cache (values)"},
        {&d->x, R * C * as, "decode: residual stream"},
        {&d->ln, R * C * as, "decode: norm output"},
        {&d->qkv, R * qkvd * as, "decode: qkv"},
        {&d->att, R * hq * as, "decode: attention"},
        {&d->proj, R * C * as, "decode: projection"},
        {&d->h13, R * 2 * F * as, "decode: MLP hidden"},
        {&d->sw, R * F * as, "decode: SwiGLU"},
        {(void **)&d->rstd, R * sizeof(float), "decode: rstd"},
        {&d->logits, (size_t)max_logits * mc->vocab * as, "decode: logits"},
        {(void **)&d->tok, R * is, "decode: tokens"},
        {(void **)&d->slot, R * is, "decode: slots"},
        {(void **)&d->pos, R * is, "decode: positions"},
    };
    memcpy(t, tab, sizeof tab);
}

static size_t dec_packed_bytes(const Backend *be, int C, int OC) {
    return backend_alloc_bytes(be, be->pack_rows_bytes(be, C, OC));
}

size_t model_decode_bytes(const ModelConfig *mc, const Backend *be, int slots, int ctx,
                          int max_rows, int max_logits, DType kv) {
    ModelDecode d;
    DecBuf t[DEC_BUFS];
    dec_table(&d, mc, slots, ctx, max_rows, max_logits, kv, be->act_size, t);
    size_t sum = (size_t)max_logits * mc->vocab * sizeof(float); // logits_host
    for (int i = 0; i < DEC_BUFS; i++) sum += backend_alloc_bytes(be, t[i].bytes);
    if (!be->pack_rows) return sum;
    int C = mc->dim, F = mc->ffn_dim, hq = mc->n_heads * mc->head_dim;
    int qkvd = hq + 2 * mc->n_kv_heads * mc->head_dim;
    size_t layer = dec_packed_bytes(be, C, qkvd) + dec_packed_bytes(be, hq, C) +
                   dec_packed_bytes(be, C, 2 * F) + dec_packed_bytes(be, F, C);
    return sum + (size_t)mc->n_layers * layer + dec_packed_bytes(be, C, mc->vocab);
}

void model_decode_init(ModelDecode *d, Model *m, int slots, int ctx, int max_rows,
                       int max_logits, DType kv) {
    const ModelConfig *mc = &m->cfg;
    Backend *be = m->be;
    LM_CHECK(slots > 0 && max_rows > 0 && max_logits > 0 && max_logits <= max_rows,
             "model_decode_init: slots %d, max_rows %d, max_logits %d", slots, max_rows,
             max_logits);
    LM_CHECK(ctx > 0 && ctx <= mc->max_seq, "model_decode_init: context %d (model.max_seq = %d)",
             ctx, mc->max_seq);
    LM_CHECK(kv == DT_F32 || kv == DT_BF16, "model_decode_init: KV cache dtype %d", (int)kv);
    memset(d, 0, sizeof *d);
    d->kv = kv, d->slots = slots, d->ctx = ctx, d->stride = dec_round_ctx(ctx), d->max_rows = max_rows;
    d->max_logits = max_logits;
    DecBuf t[DEC_BUFS];
    dec_table(d, mc, slots, ctx, max_rows, max_logits, kv, be->act_size, t);
    for (int i = 0; i < DEC_BUFS; i++) *t[i].ptr = be->alloc(be, t[i].bytes, t[i].what);
    be->zero(be, d->kc, t[0].bytes); // padded positions are read (and masked): keep them finite
    be->zero(be, d->vc, t[1].bytes);
    d->logits_host = lm_malloc((size_t)max_logits * mc->vocab * sizeof(float));
    dec_pack_weights(d, m);
}

void model_decode_free(ModelDecode *d, Model *m) {
    Backend *be = m->be;
    DecBuf t[DEC_BUFS];
    dec_table(d, &m->cfg, d->slots, d->ctx, d->max_rows, d->max_logits, d->kv, be->act_size, t);
    for (int i = 0; i < DEC_BUFS; i++)
        if (*t[i].ptr) be->free(be, *t[i].ptr);
    if (be->pack_rows && d->wqkv) { // the copies pack_rows made (wqkv .. w2 are one array)
        for (int i = 0; i < 4 * m->cfg.n_layers; i++) be->free(be, (void *)d->wqkv[i]);
        be->free(be, (void *)d->lm_head);
    }
    free(d->wqkv);
    free(d->logits_host);
    memset(d, 0, sizeof *d);
}

// Checks the rows on the host and copies them to backend memory.
static void dec_upload_rows(Model *m, ModelDecode *d, const int *tok, const int *slot,
                            const int *pos, int n) {
    Backend *be = m->be;
    for (int i = 0; i < n; i++) {
        LM_CHECK(tok[i] >= 0 && tok[i] < m->cfg.vocab, "decode: token %d at row %d is outside "
                 "the vocabulary (size %d)", tok[i], i, m->cfg.vocab);
        LM_CHECK(slot[i] >= 0 && slot[i] < d->slots, "decode: slot %d at row %d (%d slots)",
                 slot[i], i, d->slots);
        LM_CHECK(pos[i] >= 0 && pos[i] < d->ctx, "decode: position %d at row %d (context %d)",
                 pos[i], i, d->ctx);
    }
    be->upload(be, d->tok, tok, (size_t)n * sizeof(int));
    be->upload(be, d->slot, slot, (size_t)n * sizeof(int));
    be->upload(be, d->pos, pos, (size_t)n * sizeof(int));
}

// Block l on n rows; d->ln holds the block's normalised input, and on return the next
// norm's output (the next block's attention norm, or the final norm).
static void dec_block(Model *m, ModelDecode *d, int l, int n) {
    Backend *be = m->be;
    const ModelConfig *mc = &m->cfg;
    const LayerOffsets *lo = &m->layout.layers[l];
    int C = mc->dim, H = mc->n_heads, KV = mc->n_kv_heads, hd = mc->head_dim, F = mc->ffn_dim;
    int hq = H * hd, qkvd = hq + 2 * KV * hd;
    float eps = mc->norm_eps;
    size_t lay = (size_t)l * dec_layer_elems(mc, d->slots, d->stride) * lm_dtype_size(d->kv);
    void *kc = (char *)d->kc + lay, *vc = (char *)d->vc + lay;

    be->matmul_rows(be, d->qkv, d->ln, d->wqkv[l], mc->qkv_bias ? dec_w(m, lo->bqkv) : NULL,
                    n, C, qkvd);
    be->rope(be, d->qkv, d->pos, n, 1, H, KV, hd, m->rope_freq, 0);
    be->kv_write(be, kc, vc, d->qkv, d->slot, d->pos, n, H, KV, hd, d->stride, d->kv);
    be->attention_decode(be, d->att, d->qkv, kc, vc, d->slot, d->pos, n, H, KV, hd, d->stride,
                         d->kv);
    be->matmul_rows(be, d->proj, d->att, d->wo[l], NULL, n, hq, C);
    be->residual_rmsnorm_fwd(be, d->x, d->ln, d->rstd, d->x, d->proj, dec_w(m, lo->mlp_norm), n,
                             C, eps);
    be->matmul_rows(be, d->h13, d->ln, d->w13[l], NULL, n, C, 2 * F);
    be->swiglu_fwd(be, d->sw, d->h13, n, F);
    be->matmul_rows(be, d->proj, d->sw, d->w2[l], NULL, n, F, C);
    int last = l == mc->n_layers - 1;
    size_t next_w = last ? m->layout.norm : m->layout.layers[l + 1].attn_norm;
    be->residual_rmsnorm_fwd(be, d->x, d->ln, d->rstd, d->x, d->proj, dec_w(m, next_w), n, C, eps);
}

const float *model_decode_step(Model *m, ModelDecode *d, const int *tok, const int *slot,
                               const int *pos, int n, int n_logits) {
    LM_CHECK(n > 0 && n <= d->max_rows, "decode: %d rows (at most %d)", n, d->max_rows);
    LM_CHECK(n_logits >= 0 && n_logits <= n && n_logits <= d->max_logits,
             "decode: logits for %d of %d rows (at most %d)", n_logits, n, d->max_logits);
    Backend *be = m->be;
    const ModelConfig *mc = &m->cfg;
    dec_upload_rows(m, d, tok, slot, pos, n);
    be->embed_fwd(be, d->x, d->tok, tok, dec_w(m, m->layout.tok_emb), n, mc->dim);
    be->rmsnorm_fwd(be, d->ln, d->rstd, d->x, dec_w(m, m->layout.layers[0].attn_norm), n, mc->dim,
                    mc->norm_eps);
    for (int l = 0; l < mc->n_layers; l++) dec_block(m, d, l, n);
    if (n_logits == 0) return d->logits_host;
    // d->ln holds the final norm's output; the head runs on the last n_logits rows only.
    void *lnf = dec_at(m, d->ln, (size_t)(n - n_logits) * mc->dim);
    be->matmul_rows(be, d->logits, lnf, d->lm_head, NULL, n_logits, mc->dim,
                    mc->vocab);
    be->download_act(be, d->logits_host, d->logits, (size_t)n_logits * mc->vocab);
    return d->logits_host;
}
