// model/optim: AdamW over the parameter buffer or over this rank's slice of it (sharded
// optimizer state), decoupled weight decay on matrices only, the gradient norm and clipping,
// and the cosine learning-rate schedule.
#include "lemma/model.h"
#include "lemma/util.h"

#include <math.h>

double model_grad_sumsq(Model *m, size_t lo, size_t hi) {
    return hi > lo ? m->be->sumsq(m->be, m->grads + lo, hi - lo) : 0.0;
}

double model_grad_norm(Model *m) { return sqrt(model_grad_sumsq(m, 0, m->layout.n_params)); }

float adamw_clip_scale(double norm, float clip) {
    // As torch.nn.utils.clip_grad_norm_: scale by clip / (norm + 1e-6) when that is < 1.
    if (clip <= 0) return 1.0f;
    double coef = clip / (norm + 1e-6);
    return coef < 1.0 ? (float)coef : 1.0f;
}

void model_set_opt_range(Model *m, size_t lo, size_t hi) {
    LM_CHECK(lo <= hi && hi <= m->layout.n_params, "optimizer range [%zu, %zu) outside %zu", lo,
             hi, m->layout.n_params);
    LM_CHECK(!m->m, "the optimizer range is set before the first step");
    m->opt_lo = lo, m->opt_hi = hi;
    m->opt_range_set = 1;
}

void model_reset_optimizer(Model *m) {
    if (m->m) m->be->free(m->be, m->m);
    if (m->v) m->be->free(m->be, m->v);
    m->m = m->v = NULL;
    m->opt_lo = 0, m->opt_hi = m->layout.n_params, m->opt_range_set = 0;
}

void model_alloc_moments(Model *m) {
    if (m->m) return;
    Backend *be = m->be;
    if (!m->opt_range_set) m->opt_lo = 0, m->opt_hi = m->layout.n_params;
    size_t n = m->opt_hi - m->opt_lo;
    m->m = be->alloc(be, (n ? n : 1) * sizeof(float), "AdamW first moment");
    m->v = be->alloc(be, (n ? n : 1) * sizeof(float), "AdamW second moment");
    be->zero(be, m->m, n * sizeof(float));
    be->zero(be, m->v, n * sizeof(float));
}

// Runs of consecutive views with the same decay flag, cut to [opt_lo, opt_hi), are updated
// by one call each. Moments are indexed from opt_lo.
void model_adamw_update(Model *m, const AdamWConfig *ac, float lr, int t, float gscale) {
    model_alloc_moments(m);
    Backend *be = m->be;
    const ParamLayout *pl = &m->layout;
    int i = 0;
    while (i < pl->n_views) {
        int j = i;
        while (j + 1 < pl->n_views && pl->views[j + 1].decay == pl->views[i].decay) j++;
        size_t lo = pl->views[i].offset, hi = pl->views[j].offset + pl->views[j].numel;
        lo = lo > m->opt_lo ? lo : m->opt_lo;
        hi = hi < m->opt_hi ? hi : m->opt_hi;
        if (hi > lo) {
            void *pact = m->cparams == (void *)m->params
                             ? NULL : (char *)m->cparams + lo * be->act_size;
            float wd = pl->views[i].decay ? ac->weight_decay : 0.0f;
            be->adamw(be, m->params + lo, pact, m->grads + lo, m->m + (lo - m->opt_lo),
                      m->v + (lo - m->opt_lo), hi - lo, lr, ac->beta1, ac->beta2, ac->eps, wd,
                      gscale, t);
        }
        i = j + 1;
    }
}

float lr_schedule(int step, int total, float lr, int warmup, float min_frac) {
    if (warmup > 0 && step < warmup) return lr * (float)(step + 1) / (float)warmup;
    int span = total - warmup;
    if (span <= 1) return lr;
    double progress = (double)(step - warmup) / (double)(span - 1);
    if (progress > 1) progress = 1;
    double cosine = 0.5 * (1.0 + cos(M_PI * progress));
    return (float)(lr * (min_frac + (1.0 - min_frac) * cosine));
}
