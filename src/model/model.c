// model/model: the decoder on a backend: the parameter, gradient and activation buffers and
// the initialisation of the parameters (the passes are in forward.c, the optimizer in
// optim.c). Only the ops table is called: the same code runs on the CPU and the GPU.
#include "lemma/model.h"
#include "lemma/dist.h"
#include "lemma/util.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

// Byte offset helpers: act tensors are addressed in elements of the backend's act dtype.
static inline void *act_at(const Model *m, const void *base, size_t elems) {
    return (char *)base + elems * m->be->act_size;
}
static inline void *cw(const Model *m, size_t off) { return act_at(m, m->cparams, off); }
static inline float *gw(const Model *m, size_t off) { return m->grads + off; }

static void model_init_host(const Model *m, float *h, uint64_t seed) {
    const ModelConfig *mc = &m->cfg;
    float std_out = mc->init_std / sqrtf(2.0f * (float)mc->n_layers);
    for (int i = 0; i < m->layout.n_views; i++) {
        const ParamView *v = &m->layout.views[i];
        const char *leaf = strrchr(v->name, '.');
        leaf = leaf ? leaf + 1 : v->name;
        int is_norm = v->ndim == 1 && (strstr(v->name, "norm") != NULL);
        int is_out = strcmp(leaf, "wo") == 0 || strcmp(leaf, "w2") == 0;
        float std = is_out ? std_out : mc->init_std;
#pragma omp parallel for schedule(static)
        for (size_t j = 0; j < v->numel; j++) {
            size_t k = v->offset + j;
            if (v->ndim == 1) h[k] = is_norm ? 1.0f : 0.0f;
            else h[k] = std * lm_rng_normal(seed, LM_STREAM_INIT, k);
        }
    }
}

void model_alloc(Model *m, const ModelConfig *mc, Backend *be) {
    memset(m, 0, sizeof *m);
    m->cfg = *mc;
    m->be = be;
    param_layout_build(&m->layout, mc);
    m->rope_freq = lm_malloc((size_t)(mc->head_dim / 2 > 0 ? mc->head_dim / 2 : 1) * sizeof(double));
    model_rope_freqs(mc, m->rope_freq);
    size_t n = m->layout.n_params;
    m->params = be->alloc(be, n * sizeof(float), "parameters (fp32)");
    m->cparams = be->act == DT_F32 ? (void *)m->params
                                   : be->alloc(be, n * be->act_size, "parameters (compute copy)");
}

void model_init(Model *m, const ModelConfig *mc, Backend *be, uint64_t seed) {
    model_alloc(m, mc, be);
    float *h = lm_malloc(m->layout.n_params * sizeof(float));
    model_init_host(m, h, seed);
    model_set_params(m, h);
    free(h);
}

void model_set_params(Model *m, const float *host) {
    Backend *be = m->be;
    be->upload(be, m->params, host, m->layout.n_params * sizeof(float));
    model_params_changed(m);
}

void model_get_params(const Model *m, float *host) {
    m->be->download(m->be, host, m->params, m->layout.n_params * sizeof(float));
}

void model_zero_grad(Model *m) {
    size_t bytes = m->layout.n_params * sizeof(float);
    if (!m->grads) m->grads = m->be->alloc(m->be, bytes, "gradients (fp32)");
    m->be->zero(m->be, m->grads, bytes);
}

void model_params_changed(Model *m) {
    Backend *be = m->be;
    if (m->cparams != (void *)m->params) be->cast_to_act(be, m->cparams, m->params, m->layout.n_params);
    be->sync(be);
}

static void acts_free(Model *m) {
    ModelActs *a = &m->acts;
    Backend *be = m->be;
    void *dev[] = {a->x,    a->ln1,  a->ln2, a->rstd1, a->rstd2,  a->qkv, a->att,  a->lse,
                   a->h13,  a->sw,   a->lnf, a->rstdf, a->proj,   a->logits, a->losses, a->tok,
                   a->tgt,  a->seg, a->pos, a->dx,   a->dln, a->dqkv,  a->datt,   a->dh13, a->dsw};
    for (size_t i = 0; i < sizeof dev / sizeof dev[0]; i++)
        if (dev[i]) be->free(be, dev[i]);
    free(a->tok_host);
    free(a->tgt_host);
    free(a->loss_host);
    memset(a, 0, sizeof *a);
    m->has_acts = 0;
}

void model_free(Model *m) {
    Backend *be = m->be;
    if (!be) return;
    acts_free(m);
    if (m->cparams != (void *)m->params) be->free(be, m->cparams);
    be->free(be, m->params);
    if (m->grads) be->free(be, m->grads);
    if (m->m) be->free(be, m->m);
    if (m->v) be->free(be, m->v);
    param_layout_free(&m->layout);
    free(m->rope_freq);
    memset(m, 0, sizeof *m);
}

void model_alloc_acts(Model *m, int B, int T) {
    if (m->has_acts && B <= m->acts.B && T <= m->acts.T && (size_t)B * T <= (size_t)m->acts.N) return;
    acts_free(m);
    const ModelConfig *mc = &m->cfg;
    Backend *be = m->be;
    ModelActs *a = &m->acts;
    size_t L = mc->n_layers, N = (size_t)B * T, C = mc->dim, V = mc->vocab, F = mc->ffn_dim;
    size_t hq = (size_t)mc->n_heads * mc->head_dim, qkvd = hq + 2 * (size_t)mc->n_kv_heads * mc->head_dim;
    size_t as = be->act_size, fs = sizeof(float);
    a->B = B, a->T = T, a->N = (int)N;
    size_t budget = (size_t)64 << 20; // bytes of logits held at once
    a->chunk = (int)(N * V * as <= budget ? N : (budget / (V * as) > 0 ? budget / (V * as) : 1));
    a->x = be->alloc(be, (2 * L + 1) * N * C * as, "activations: residual stream");
    a->ln1 = be->alloc(be, L * N * C * as, "activations: attention norm");
    a->ln2 = be->alloc(be, L * N * C * as, "activations: MLP norm");
    a->rstd1 = be->alloc(be, L * N * fs, "activations: rstd");
    a->rstd2 = be->alloc(be, L * N * fs, "activations: rstd");
    a->qkv = be->alloc(be, L * N * qkvd * as, "activations: qkv");
    a->att = be->alloc(be, L * N * hq * as, "activations: attention");
    a->lse = be->alloc(be, L * (size_t)B * mc->n_heads * T * fs, "activations: logsumexp");
    a->h13 = be->alloc(be, L * N * 2 * F * as, "activations: MLP hidden");
    a->sw = be->alloc(be, L * N * F * as, "activations: SwiGLU");
    a->lnf = be->alloc(be, N * C * as, "activations: final norm");
    a->rstdf = be->alloc(be, N * fs, "activations: rstd");
    a->proj = be->alloc(be, N * C * as, "activations: projection");
    a->logits = be->alloc(be, (size_t)a->chunk * V * as, "activations: logits");
    a->losses = be->alloc(be, N * fs, "activations: losses");
    a->tok = be->alloc(be, N * sizeof(int), "tokens");
    a->tgt = be->alloc(be, N * sizeof(int), "targets");
    a->seg = be->alloc(be, N * sizeof(int), "record ids");
    a->pos = be->alloc(be, N * sizeof(int), "positions");
    a->dx = be->alloc(be, N * C * as, "gradients: residual");
    a->dln = be->alloc(be, N * C * as, "gradients: norm output");
    a->dqkv = be->alloc(be, N * qkvd * as, "gradients: qkv");
    a->datt = be->alloc(be, N * hq * as, "gradients: attention");
    a->dh13 = be->alloc(be, N * 2 * F * as, "gradients: MLP hidden");
    a->dsw = be->alloc(be, N * F * as, "gradients: SwiGLU");
    a->tok_host = lm_malloc(N * sizeof(int));
    a->tgt_host = lm_malloc(N * sizeof(int));
    a->loss_host = lm_malloc(N * sizeof(float));
    m->has_acts = 1;
}
