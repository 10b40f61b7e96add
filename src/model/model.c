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

// The activation buffers of a (B,T) batch: where each goes in ModelActs, its bytes and name.
// One table for model_alloc_acts and model_acts_bytes (the memory plan).
enum { ACT_BUFS = 25 };
typedef struct {
    void **ptr;
    size_t bytes;
    const char *what;
} ActBuf;

static int acts_chunk(const ModelConfig *mc, size_t N, size_t as) {
    size_t budget = (size_t)64 << 20, V = mc->vocab; // bytes of logits held at once
    return (int)(N * V * as <= budget ? N : (budget / (V * as) > 0 ? budget / (V * as) : 1));
}

static void acts_table(ModelActs *a, const ModelConfig *mc, int B, int T, size_t as, ActBuf *t) {
    size_t L = mc->n_layers, N = (size_t)B * T, C = mc->dim, V = mc->vocab, F = mc->ffn_dim;
    size_t hq = (size_t)mc->n_heads * mc->head_dim, qkvd = hq + 2 * (size_t)mc->n_kv_heads * mc->head_dim;
    size_t fs = sizeof(float), is = sizeof(int), ch = (size_t)acts_chunk(mc, N, as);
    ActBuf tab[ACT_BUFS] = {
        {&a->x, (2 * L + 1) * N * C * as, "activations: residual stream"},
        {&a->ln1, L * N * C * as, "activations: attention norm"},
        {&a->ln2, L * N * C * as, "activations: MLP norm"},
        {(void **)&a->rstd1, L * N * fs, "activations: rstd"},
        {(void **)&a->rstd2, L * N * fs, "activations: rstd"},
        {&a->qkv, L * N * qkvd * as, "activations: qkv"},
        {&a->att, L * N * hq * as, "activations: attention"},
        {(void **)&a->lse, L * (size_t)B * mc->n_heads * T * fs, "activations: logsumexp"},
        {&a->h13, L * N * 2 * F * as, "activations: MLP hidden"},
        {&a->sw, L * N * F * as, "activations: SwiGLU"},
        {&a->lnf, N * C * as, "activations: final norm"},
        {(void **)&a->rstdf, N * fs, "activations: rstd"},
        {&a->proj, N * C * as, "activations: projection"},
        {&a->logits, ch * V * as, "activations: logits"},
        {(void **)&a->losses, N * fs, "activations: losses"},
        {(void **)&a->tok, N * is, "tokens"},
        {(void **)&a->tgt, N * is, "targets"},
        {(void **)&a->seg, N * is, "record ids"},
        {(void **)&a->pos, N * is, "positions"},
        {&a->dx, N * C * as, "gradients: residual"},
        {&a->dln, N * C * as, "gradients: norm output"},
        {&a->dqkv, N * qkvd * as, "gradients: qkv"},
        {&a->datt, N * hq * as, "gradients: attention"},
        {&a->dh13, N * 2 * F * as, "gradients: MLP hidden"},
        {&a->dsw, N * F * as, "gradients: SwiGLU"},
    };
    memcpy(t, tab, sizeof tab);
}

static void acts_free(Model *m) {
    ModelActs *a = &m->acts;
    Backend *be = m->be;
    ActBuf t[ACT_BUFS];
    acts_table(a, &m->cfg, a->B, a->T, be->act_size, t);
    for (int i = 0; i < ACT_BUFS; i++)
        if (*t[i].ptr) be->free(be, *t[i].ptr);
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

size_t model_acts_bytes(const ModelConfig *mc, const Backend *be, int B, int T) {
    ModelActs a;
    ActBuf t[ACT_BUFS];
    acts_table(&a, mc, B, T, be->act_size, t);
    size_t sum = (size_t)B * T * (2 * sizeof(int) + sizeof(float)); // the host copies
    for (int i = 0; i < ACT_BUFS; i++) sum += backend_alloc_bytes(be, t[i].bytes);
    return sum;
}

void model_release_training(Model *m) {
    acts_free(m);
    model_reset_optimizer(m);
    if (m->grads) m->be->free(m->be, m->grads);
    m->grads = NULL;
}

void model_alloc_acts(Model *m, int B, int T) {
    if (m->has_acts && B <= m->acts.B && T <= m->acts.T && (size_t)B * T <= (size_t)m->acts.N) return;
    acts_free(m);
    Backend *be = m->be;
    ModelActs *a = &m->acts;
    size_t N = (size_t)B * T;
    a->B = B, a->T = T, a->N = (int)N;
    a->chunk = acts_chunk(&m->cfg, N, be->act_size);
    ActBuf t[ACT_BUFS];
    acts_table(a, &m->cfg, B, T, be->act_size, t);
    for (int i = 0; i < ACT_BUFS; i++) *t[i].ptr = be->alloc(be, t[i].bytes, t[i].what);
    a->tok_host = lm_malloc(N * sizeof(int));
    a->tgt_host = lm_malloc(N * sizeof(int));
    a->loss_host = lm_malloc(N * sizeof(float));
    m->has_acts = 1;
}
