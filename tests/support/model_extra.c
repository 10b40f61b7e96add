// tests/support/model_extra: model helpers that only tests and benchmarks need: the
// single-process AdamW step, gradients to the host, parameter counts and FLOPs per token.
#include "support.h"

#include <math.h>

double model_adamw_step(Model *m, const AdamWConfig *ac, float lr, int t, float gscale) {
    double norm = model_grad_norm(m) * fabs((double)gscale);
    model_adamw_update(m, ac, lr, t, gscale * adamw_clip_scale(norm, ac->grad_clip));
    return norm;
}

void model_get_grads(const Model *m, float *host) {
    m->be->download(m->be, host, m->grads, m->layout.n_params * sizeof(float));
}

size_t model_config_n_params(const ModelConfig *mc) {
    ParamLayout pl;
    param_layout_build(&pl, mc);
    size_t n = pl.n_params;
    param_layout_free(&pl);
    return n;
}

// Forward FLOPs per token: 2 per multiply-add of every matmul (the LM head included, the
// embedding lookup not), plus causal attention: QK^T and PV over on average (T+1)/2 keys.
double model_flops_per_token(const ModelConfig *mc, int T) {
    double C = mc->dim, hq = (double)mc->n_heads * mc->head_dim;
    double hkv = (double)mc->n_kv_heads * mc->head_dim, F = mc->ffn_dim;
    double per_layer = 2.0 * (C * (hq + 2 * hkv) + hq * C + 3.0 * C * F);
    double attn = 2.0 * 2.0 * hq * (T + 1) / 2.0;
    return mc->n_layers * (per_layer + attn) + 2.0 * C * mc->vocab;
}
