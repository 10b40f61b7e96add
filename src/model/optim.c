// model/optim: AdamW over the parameter buffer (decoupled weight decay on matrices only),
// the global gradient norm with clipping, and the cosine learning-rate schedule.
#include "lemma/model.h"
#include "lemma/util.h"

#include <math.h>

double model_grad_norm(Model *m) {
    return sqrt(m->be->sumsq(m->be, m->grads, m->layout.n_params));
}

// Runs of consecutive views with the same decay flag are updated by one call.
static void adamw_runs(Model *m, const AdamWConfig *ac, float lr, int t, float gscale) {
    Backend *be = m->be;
    const ParamLayout *pl = &m->layout;
    int i = 0;
    while (i < pl->n_views) {
        int j = i;
        while (j + 1 < pl->n_views && pl->views[j + 1].decay == pl->views[i].decay) j++;
        size_t off = pl->views[i].offset, n = pl->views[j].offset + pl->views[j].numel - off;
        void *pact = m->cparams == (void *)m->params ? NULL
                                                     : (char *)m->cparams + off * be->act_size;
        float wd = pl->views[i].decay ? ac->weight_decay : 0.0f;
        be->adamw(be, m->params + off, pact, m->grads + off, m->m + off, m->v + off, n, lr,
                  ac->beta1, ac->beta2, ac->eps, wd, gscale, t);
        i = j + 1;
    }
}

double model_adamw_step(Model *m, const AdamWConfig *ac, float lr, int t, float gscale) {
    Backend *be = m->be;
    size_t n = m->layout.n_params;
    if (!m->m) {
        m->m = be->alloc(be, n * sizeof(float), "AdamW first moment");
        m->v = be->alloc(be, n * sizeof(float), "AdamW second moment");
        be->zero(be, m->m, n * sizeof(float));
        be->zero(be, m->v, n * sizeof(float));
    }
    double norm = model_grad_norm(m) * fabs((double)gscale);
    // As torch.nn.utils.clip_grad_norm_: scale by clip / (norm + 1e-6) when that is < 1.
    if (ac->grad_clip > 0) {
        double coef = ac->grad_clip / (norm + 1e-6);
        if (coef < 1.0) gscale = (float)(gscale * coef);
    }
    adamw_runs(m, ac, lr, t, gscale);
    return norm;
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
