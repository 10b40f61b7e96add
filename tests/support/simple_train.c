// tests/support/simple_train: the single-process training loop (gradient accumulation, AdamW,
// cosine schedule, clipping, progress lines) of the benchmarks and the GPU tests.
#include "support.h"
#include "lemma/util.h"

#include <math.h>
#include <stdlib.h>

// One optimizer step over grad_accum micro-batches: the gradient of the mean loss over all
// their target tokens (each micro-batch's sum is added, then scaled once by 1/count).
static float train_step(Model *m, const SimpleTrainConfig *c, BatchFn next, void *ctx, int step,
                        int *tok, int *tgt, double *gnorm) {
    model_zero_grad(m);
    double loss_sum = 0;
    long n_valid = 0;
    for (int k = 0; k < c->grad_accum; k++) {
        next(ctx, step * c->grad_accum + k, tok, tgt, c->B, c->T);
        model_forward_backward(m, tok, tgt, c->B, c->T, 1.0f);
        loss_sum += m->loss_sum;
        n_valid += m->n_valid;
    }
    float lr = lr_schedule(step, c->steps, c->lr, c->warmup, c->min_lr_frac);
    float gscale = n_valid > 0 ? 1.0f / (float)n_valid : 0.0f;
    *gnorm = model_adamw_step(m, &c->adamw, lr, step + 1, gscale);
    return n_valid > 0 ? (float)(loss_sum / n_valid) : 0.0f;
}

SimpleTrainResult train_simple(Model *m, const SimpleTrainConfig *c, BatchFn next, void *ctx,
                               float *losses_out) {
    SimpleTrainResult r = {0};
    size_t n = (size_t)c->B * c->T;
    int *tok = lm_malloc(n * sizeof(int)), *tgt = lm_malloc(n * sizeof(int));
    double t0 = lm_now(), t_last = t0;
    long tok_last = 0;
    for (int s = 0; s < c->steps; s++) {
        double gnorm = 0;
        float loss = train_step(m, c, next, ctx, s, tok, tgt, &gnorm);
        r.tokens += (long)n * c->grad_accum;
        if (s == 0) r.first_loss = loss;
        r.last_loss = loss;
        if (losses_out) losses_out[s] = loss;
        if (c->log_every > 0 && ((s + 1) % c->log_every == 0 || s + 1 == c->steps)) {
            m->be->sync(m->be);
            double now = lm_now(), tps = (r.tokens - tok_last) / (now - t_last);
            double eta = (c->steps - s - 1) * (now - t0) / (s + 1);
            lm_info("step %5d/%d  loss %.4f  lr %.2e  grad norm %.3f  %.0f tok/s  eta %.0fs",
                    s + 1, c->steps, loss, lr_schedule(s, c->steps, c->lr, c->warmup,
                    c->min_lr_frac), gnorm, tps, eta);
            t_last = now, tok_last = r.tokens;
        }
    }
    m->be->sync(m->be);
    r.seconds = lm_now() - t0;
    free(tok);
    free(tgt);
    return r;
}
