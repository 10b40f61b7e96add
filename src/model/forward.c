// model/forward: the forward pass, the chunked LM head with the fused loss, the backward
// pass, and logits. Shapes: N = B*T rows, C = dim, hq = n_heads*head_dim,
// qkvd = hq + 2*n_kv_heads*head_dim, F = ffn_dim, V = vocab.
#include "lemma/model.h"
#include "lemma/util.h"

#include <math.h>
#include <string.h>

typedef struct {
    int B, T, N, C, H, KV, hd, hq, qkvd, F, V, L;
} Dims;

static Dims dims_of(const Model *m, int B, int T) {
    const ModelConfig *mc = &m->cfg;
    Dims d;
    d.B = B, d.T = T, d.N = B * T, d.C = mc->dim, d.H = mc->n_heads, d.KV = mc->n_kv_heads;
    d.hd = mc->head_dim, d.hq = d.H * d.hd, d.qkvd = d.hq + 2 * d.KV * d.hd;
    d.F = mc->ffn_dim, d.V = mc->vocab, d.L = mc->n_layers;
    return d;
}

static inline void *A(const Model *m, const void *base, size_t elems) {
    return (char *)base + elems * m->be->act_size;
}
static inline void *W(const Model *m, size_t off) { return A(m, m->cparams, off); }
static inline float *G(const Model *m, size_t off) { return m->grads + off; }
// The residual stream entry i (0 .. 2L): (N, C).
static inline void *X(const Model *m, const Dims *d, int i) {
    return A(m, m->acts.x, (size_t)i * d->N * d->C);
}

static void upload_batch(Model *m, const Dims *d, const int *tokens, const int *targets) {
    ModelActs *a = &m->acts;
    Backend *be = m->be;
    for (int n = 0; n < d->N; n++) {
        LM_CHECK(tokens[n] >= 0 && tokens[n] < d->V, "token %d at position %d is outside the "
                 "vocabulary (size %d)", tokens[n], n, d->V);
        a->tok_host[n] = tokens[n];
        int t = targets ? targets[n] : -1;
        LM_CHECK(t >= -1 && t < d->V, "target %d at position %d is outside the vocabulary", t, n);
        a->tgt_host[n] = t;
    }
    be->upload(be, a->tok, a->tok_host, (size_t)d->N * sizeof(int));
    be->upload(be, a->tgt, a->tgt_host, (size_t)d->N * sizeof(int));
    m->packed = m->pack_seg != NULL;
    if (m->packed) {
        be->upload(be, a->seg, m->pack_seg, (size_t)d->N * sizeof(int));
        be->upload(be, a->pos, m->pack_pos, (size_t)d->N * sizeof(int));
    }
    m->pack_seg = m->pack_pos = NULL; // used by this forward only
}

void model_set_packing(Model *m, const int *seg_host, const int *pos_host) {
    LM_CHECK((seg_host == NULL) == (pos_host == NULL), "packing needs both seg and pos");
    m->pack_seg = seg_host;
    m->pack_pos = pos_host;
}

static inline const int *SEG(const Model *m) { return m->packed ? m->acts.seg : NULL; }
static inline const int *POS(const Model *m) { return m->packed ? m->acts.pos : NULL; }

// Block l's saved activations.
typedef struct {
    void *ln1, *ln2, *qkv, *att, *h13, *sw;
    float *lse, *rstd1, *rstd2;
} BlockActs;

static BlockActs block_acts(const Model *m, const Dims *d, int l) {
    const ModelActs *a = &m->acts;
    size_t N = d->N, L = (size_t)l;
    BlockActs b;
    b.ln1 = A(m, a->ln1, L * N * d->C), b.ln2 = A(m, a->ln2, L * N * d->C);
    b.qkv = A(m, a->qkv, L * N * d->qkvd), b.att = A(m, a->att, L * N * d->hq);
    b.h13 = A(m, a->h13, L * N * 2 * d->F), b.sw = A(m, a->sw, L * N * d->F);
    b.lse = a->lse + L * d->B * d->H * d->T;
    b.rstd1 = a->rstd1 + L * N, b.rstd2 = a->rstd2 + L * N;
    return b;
}

static void block_forward(Model *m, const Dims *d, int l) {
    Backend *be = m->be;
    ModelActs *a = &m->acts;
    const LayerOffsets *lo = &m->layout.layers[l];
    size_t N = d->N;
    BlockActs ba = block_acts(m, d, l);
    void *ln1 = ba.ln1, *ln2 = ba.ln2, *qkv = ba.qkv, *att = ba.att, *h13 = ba.h13, *sw = ba.sw;
    float *lse = ba.lse, *rstd1 = ba.rstd1, *rstd2 = ba.rstd2;
    float eps = m->cfg.norm_eps;

    if (l == 0) be->rmsnorm_fwd(be, ln1, rstd1, X(m, d, 0), W(m, lo->attn_norm), d->N, d->C, eps);
    be->matmul_fwd(be, qkv, ln1, W(m, lo->wqkv), m->cfg.qkv_bias ? W(m, lo->bqkv) : NULL, d->N,
                   d->C, d->qkvd);
    be->rope(be, qkv, POS(m), d->N, d->T, d->H, d->KV, d->hd, m->rope_freq, 0);
    be->attention_fwd(be, att, lse, qkv, SEG(m), d->B, d->T, d->H, d->KV, d->hd);
    be->matmul_fwd(be, a->proj, att, W(m, lo->wo), NULL, d->N, d->hq, d->C);
    be->residual_rmsnorm_fwd(be, X(m, d, 2 * l + 1), ln2, rstd2, X(m, d, 2 * l), a->proj,
                             W(m, lo->mlp_norm), d->N, d->C, eps);
    be->matmul_fwd(be, h13, ln2, W(m, lo->w13), NULL, d->N, d->C, 2 * d->F);
    be->swiglu_fwd(be, sw, h13, d->N, d->F);
    be->matmul_fwd(be, a->proj, sw, W(m, lo->w2), NULL, d->N, d->F, d->C);
    // The next norm (the next block's attention norm, or the final norm) is fused here.
    int last = l == d->L - 1;
    void *next_ln = last ? a->lnf : A(m, a->ln1, (l + 1) * N * d->C);
    float *next_rstd = last ? a->rstdf : a->rstd1 + (l + 1) * N;
    size_t next_w = last ? m->layout.norm : m->layout.layers[l + 1].attn_norm;
    be->residual_rmsnorm_fwd(be, X(m, d, 2 * l + 2), next_ln, next_rstd, X(m, d, 2 * l + 1),
                             a->proj, W(m, next_w), d->N, d->C, eps);
}

// LM head and loss over row chunks so that the logits of the whole batch are never held at
// once. With dscale != 0 the head's backward runs in the same pass: dlogits in place, the
// head's weight gradient, and the gradient of the final norm's output into acts.dln.
static void head_forward(Model *m, const Dims *d, float dscale) {
    Backend *be = m->be;
    ModelActs *a = &m->acts;
    void *wh = W(m, m->layout.lm_head);
    for (int r0 = 0; r0 < d->N; r0 += a->chunk) {
        int n = d->N - r0 < a->chunk ? d->N - r0 : a->chunk;
        void *lnf = A(m, a->lnf, (size_t)r0 * d->C);
        be->matmul_fwd(be, a->logits, lnf, wh, NULL, n, d->C, d->V);
        be->crossentropy(be, a->losses + r0, dscale != 0 ? a->logits : NULL, a->logits,
                         a->tgt + r0, n, d->V, dscale);
        if (dscale != 0)
            be->matmul_bwd(be, A(m, a->dln, (size_t)r0 * d->C), G(m, m->layout.lm_head), NULL,
                           a->logits, lnf, wh, n, d->C, d->V);
    }
}

static float collect_loss(Model *m, const Dims *d) {
    ModelActs *a = &m->acts;
    m->be->download(m->be, a->loss_host, a->losses, (size_t)d->N * sizeof(float));
    double sum = 0;
    int n = 0;
    for (int i = 0; i < d->N; i++)
        if (a->tgt_host[i] >= 0) sum += a->loss_host[i], n++;
    m->loss_sum = sum;
    m->n_valid = n;
    return n ? (float)(sum / n) : 0.0f;
}

static float forward_impl(Model *m, const int *tokens, const int *targets, int B, int T,
                          float dscale) {
    LM_CHECK(T <= m->cfg.max_seq, "sequence length %d exceeds model.max_seq = %d", T,
             m->cfg.max_seq);
    model_alloc_acts(m, B, T);
    Dims d = dims_of(m, B, T);
    m->fwd_B = B, m->fwd_T = T;
    upload_batch(m, &d, tokens, targets);
    Backend *be = m->be;
    be->embed_fwd(be, X(m, &d, 0), m->acts.tok, m->acts.tok_host, W(m, m->layout.tok_emb), d.N, d.C);
    for (int l = 0; l < d.L; l++) block_forward(m, &d, l);
    if (!targets) {
        m->loss_sum = 0, m->n_valid = 0;
        return 0.0f;
    }
    head_forward(m, &d, dscale);
    return collect_loss(m, &d);
}

float model_forward(Model *m, const int *tokens, const int *targets, int B, int T) {
    return forward_impl(m, tokens, targets, B, T, 0.0f);
}

static void block_backward(Model *m, const Dims *d, int l) {
    Backend *be = m->be;
    ModelActs *a = &m->acts;
    const LayerOffsets *lo = &m->layout.layers[l];
    BlockActs ba = block_acts(m, d, l);
    void *ln1 = ba.ln1, *ln2 = ba.ln2, *qkv = ba.qkv, *att = ba.att, *h13 = ba.h13, *sw = ba.sw;
    float *lse = ba.lse;

    // MLP: x[2l+2] = x[2l+1] + w2(swiglu(w13(ln2))); a->dx holds d x[2l+2].
    be->matmul_bwd(be, a->dsw, G(m, lo->w2), NULL, a->dx, sw, W(m, lo->w2), d->N, d->F, d->C);
    be->swiglu_bwd(be, a->dh13, a->dsw, h13, d->N, d->F);
    be->matmul_bwd(be, a->dln, G(m, lo->w13), NULL, a->dh13, ln2, W(m, lo->w13), d->N, d->C,
                   2 * d->F);
    be->rmsnorm_bwd(be, a->dx, G(m, lo->mlp_norm), a->dln, X(m, d, 2 * l + 1), W(m, lo->mlp_norm),
                    ba.rstd2, d->N, d->C);
    // Attention: x[2l+1] = x[2l] + wo(attention(rope(qkv(ln1)))).
    be->matmul_bwd(be, a->datt, G(m, lo->wo), NULL, a->dx, att, W(m, lo->wo), d->N, d->hq, d->C);
    be->attention_bwd(be, a->dqkv, a->datt, qkv, att, lse, SEG(m), d->B, d->T, d->H, d->KV,
                      d->hd);
    be->rope(be, a->dqkv, POS(m), d->N, d->T, d->H, d->KV, d->hd, m->rope_freq, 1);
    be->matmul_bwd(be, a->dln, G(m, lo->wqkv), m->cfg.qkv_bias ? G(m, lo->bqkv) : NULL, a->dqkv,
                   ln1, W(m, lo->wqkv), d->N, d->C, d->qkvd);
    be->rmsnorm_bwd(be, a->dx, G(m, lo->attn_norm), a->dln, X(m, d, 2 * l), W(m, lo->attn_norm),
                    ba.rstd1, d->N, d->C);
    if (m->grad_ready) m->grad_ready(m->grad_ready_ctx, lo->begin, lo->end - lo->begin);
}

float model_forward_backward(Model *m, const int *tokens, const int *targets, int B, int T,
                             float dscale) {
    LM_CHECK(targets != NULL, "model_forward_backward needs targets");
    LM_CHECK(dscale != 0.0f, "model_forward_backward needs a non-zero dscale");
    if (!m->grads) model_zero_grad(m);
    float loss = forward_impl(m, tokens, targets, B, T, dscale);
    Dims d = dims_of(m, B, T);
    Backend *be = m->be;
    ModelActs *a = &m->acts;
    const ParamLayout *pl = &m->layout;
    // acts.dln holds d(final norm output); the final norm's input is x[2L].
    be->zero(be, a->dx, (size_t)d.N * d.C * be->act_size);
    be->rmsnorm_bwd(be, a->dx, G(m, pl->norm), a->dln, X(m, &d, 2 * d.L), W(m, pl->norm),
                    a->rstdf, d.N, d.C);
    for (int l = d.L - 1; l >= 0; l--) block_backward(m, &d, l);
    be->embed_bwd(be, G(m, pl->tok_emb), a->dx, a->tok, a->tok_host, d.N, d.C, d.V);
    if (m->grad_ready) {
        size_t emb_end = pl->tok_emb + (size_t)d.V * d.C;
        m->grad_ready(m->grad_ready_ctx, 0, emb_end);
        m->grad_ready(m->grad_ready_ctx, pl->norm, pl->n_params - pl->norm);
    }
    return loss;
}

void model_logits(Model *m, float *host_out) {
    LM_CHECK(m->has_acts, "model_logits needs a forward pass first");
    Backend *be = m->be;
    ModelActs *a = &m->acts;
    Dims d = dims_of(m, m->fwd_B, m->fwd_T);
    for (int r0 = 0; r0 < d.N; r0 += a->chunk) {
        int n = d.N - r0 < a->chunk ? d.N - r0 : a->chunk;
        be->matmul_fwd(be, a->logits, A(m, a->lnf, (size_t)r0 * d.C), W(m, m->layout.lm_head), NULL,
                       n, d.C, d.V);
        be->download_act(be, host_out + (size_t)r0 * d.V, a->logits, (size_t)n * d.V);
    }
}
