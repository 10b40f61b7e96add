// train/phase: the data-parallel training phase. Each step takes the next global batch of
// rows (the same rows whatever the world size), gives rank r the rows j with j % W == r, runs
// them in micro-batches, sums the gradients over ranks (each block's reduction started as
// soon as its backward is done, or reduce-scatter onto optimizer slices with train.zero),
// then clips, skips NaN/Inf updates, steps AdamW, logs, checkpoints and watches for signals
// and the deadline.
#include "lemma/dist.h"
#include "lemma/hub.h"
#include "lemma/train.h"
#include "lemma/util.h"

#include <cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct {
    Model *m;
    const TrainData *d;
    const Tokenizer *tok;
    const TrainOptions *o;
    int R, T;                      // rows per global batch, row length
    int *tok_rows, *tgt, *seg, *pos; // (R, T) the global batch
    long n_valid;                  // targets in the global batch
    EpochPlan plan;
    long epoch, cursor;            // next row: row `cursor` of epoch `epoch`
    size_t *counts, *displs;       // optimizer slices per rank (sharded)
    int sharded, host_mem, overlap_now;
    int dev_dp;                    // reductions on backend memory (be->dp_*: NCCL on GPUs)
    float *stage;                  // host copy of a buffer for backends with device memory
    long step, tokens, nan_skips, nan_run;
    double t0, t_log;
    double reduce_s;               // seconds of the last step spent waiting for reductions
    long tok_log;
    FILE *metrics;
    char *config_text;             // config_dump_text(o->cfg), saved in checkpoints
} Trainer;

// ---------------------------------------------------------------------------
// Batches

// Fills the R rows of the next global batch, moving to the next epoch when one runs out.
static void trainer_next_batch(Trainer *t) {
    t->n_valid = 0;
    for (int j = 0; j < t->R; j++) {
        if (t->cursor >= t->plan.n_rows) {
            train_plan_free(&t->plan);
            train_plan_epoch(&t->plan, t->d, t->o->seed, ++t->epoch);
            t->cursor = 0;
        }
        size_t off = (size_t)j * t->T;
        t->n_valid += train_fill_row(t->d, &t->plan, t->cursor++, t->tok->pad, t->tok_rows + off,
                                     t->tgt + off, t->seg + off, t->pos + off);
    }
}

static void inject_nan_fault(Trainer *t);

// This rank's rows (j % W == rank) in micro-batches; returns the summed loss.
static double trainer_accumulate(Trainer *t, void (*hook)(void *, size_t, size_t)) {
    Model *m = t->m;
    int mb = t->o->micro_batch, W = dist.size, T = t->T;
    int n_mine = t->R > dist.rank ? (t->R - dist.rank + W - 1) / W : 0;
    int *tok = lm_malloc((size_t)mb * T * 4 * sizeof(int));
    int *tgt = tok + (size_t)mb * T, *seg = tgt + (size_t)mb * T, *pos = seg + (size_t)mb * T;
    double loss_sum = 0;
    model_zero_grad(m);
    inject_nan_fault(t); // before any reduction starts
    for (int k0 = 0; k0 < n_mine; k0 += mb) {
        int B = n_mine - k0 < mb ? n_mine - k0 : mb;
        for (int b = 0; b < B; b++) {
            size_t src = (size_t)(dist.rank + (k0 + b) * W) * T, dst = (size_t)b * T;
            memcpy(tok + dst, t->tok_rows + src, T * sizeof(int));
            memcpy(tgt + dst, t->tgt + src, T * sizeof(int));
            memcpy(seg + dst, t->seg + src, T * sizeof(int));
            memcpy(pos + dst, t->pos + src, T * sizeof(int));
        }
        m->grad_ready = (k0 + mb >= n_mine) ? hook : NULL; // the last micro-batch reduces
        m->grad_ready_ctx = t;
        model_set_packing(m, seg, pos);
        model_forward_backward(m, tok, tgt, B, T, 1.0f / (float)t->n_valid);
        loss_sum += m->loss_sum;
    }
    m->grad_ready = NULL;
    free(tok);
    return loss_sum;
}

// ---------------------------------------------------------------------------
// Gradient reduction

static void on_grad_ready(void *ctx, size_t off, size_t n) {
    Trainer *t = ctx;
    if (t->dev_dp) {
        t->m->be->dp_allreduce_start(t->m->be, t->m->grads + off, n);
        return;
    }
    dist_iallreduce_sum_f32(t->m->grads + off, n);
    dist_progress();
}

// On backend memory: the rest of the reductions (the ones the backward did not start) and
// the wait for them; reduce_s is the part that the backward's compute did not hide.
static void trainer_reduce_dev(Trainer *t) {
    Model *m = t->m;
    Backend *be = m->be;
    be->sync(be); // the backward pass is done
    double t0 = lm_now();
    if (!t->overlap_now) {
        if (t->sharded) be->dp_reduce_scatter(be, m->grads, t->counts, t->displs);
        else be->dp_allreduce_start(be, m->grads, m->layout.n_params);
    }
    be->dp_wait(be);
    be->sync(be);
    t->reduce_s = lm_now() - t0;
}

// The gradient buffer on the host: the buffer itself on the CPU, else a copy.
static float *grads_host(Trainer *t) {
    Model *m = t->m;
    if (t->host_mem) return m->grads;
    m->be->download(m->be, t->stage, m->grads, m->layout.n_params * sizeof(float));
    return t->stage;
}

static void grads_push(Trainer *t) {
    Model *m = t->m;
    if (!t->host_mem) m->be->upload(m->be, m->grads, t->stage, m->layout.n_params * sizeof(float));
}

// Finishes the gradient reduction; t->reduce_s is the time spent waiting here (with the
// overlap, the part of the communication that the backward pass did not hide).
static void trainer_reduce_grads(Trainer *t) {
    double t0 = lm_now();
    t->reduce_s = 0;
    if (dist.size == 1) return;
    if (t->dev_dp) {
        trainer_reduce_dev(t);
        return;
    }
    if (t->overlap_now) {
        dist_wait_all();
    } else {
        float *g = grads_host(t);
        if (t->sharded) dist_reduce_scatter_sum_f32(g, t->counts, t->displs);
        else dist_allreduce_sum_f32(g, t->m->layout.n_params);
        grads_push(t);
    }
    t->reduce_s = lm_now() - t0;
}

// After the sharded update: every rank gets every slice of the parameters.
static void trainer_gather_params(Trainer *t) {
    Model *m = t->m;
    Backend *be = m->be;
    size_t n = m->layout.n_params;
    if (!t->sharded || dist.size == 1) return;
    if (t->dev_dp) {
        be->dp_allgather(be, m->params, t->counts, t->displs);
        if (m->cparams != (void *)m->params) be->cast_to_act(be, m->cparams, m->params, n);
        return;
    }
    float *p = m->params;
    if (!t->host_mem) be->download(be, p = t->stage, m->params, n * sizeof(float));
    dist_allgather_f32(p, t->counts, t->displs);
    if (!t->host_mem) be->upload(be, m->params, p, n * sizeof(float));
    if (m->cparams != (void *)m->params) be->cast_to_act(be, m->cparams, m->params, n);
}

// ---------------------------------------------------------------------------
// Update

typedef struct {
    float loss, lr;
    double grad_norm;
    int skipped;
    int params_bad; // the update made a parameter non-finite (on some rank)
} StepResult;

static StepResult trainer_update(Trainer *t, double loss_sum) {
    Model *m = t->m;
    const TrainOptions *o = t->o;
    StepResult r = {0};
    // The optimizer range is the whole buffer (every rank holds the summed gradients) or
    // this rank's slice (whose squares are then summed over ranks).
    double sums[2] = {loss_sum, model_grad_sumsq(m, m->opt_lo, m->opt_hi)};
    if (dist.size > 1) dist_allreduce_sum_f64(sums, t->sharded ? 2 : 1);
    r.loss = (float)(sums[0] / (double)t->n_valid);
    r.grad_norm = sqrt(sums[1]);
    r.lr = lr_schedule((int)t->step, o->steps, o->lr, o->warmup, o->min_lr_frac);
    if (!isfinite(r.loss) || !isfinite(r.grad_norm)) {
        r.skipped = 1;
        t->nan_skips++, t->nan_run++;
        return r;
    }
    t->nan_run = 0;
    int update = (int)(t->step + 1 - t->nan_skips); // AdamW's step count: updates made
    model_adamw_update(m, &o->adamw, r.lr, update, adamw_clip_scale(r.grad_norm, o->adamw.grad_clip));
    // A finite gradient can still give a non-finite update (train.eps = 0 with a zero second
    // moment): this rank's slice of the parameters is checked, the verdict agreed.
    r.params_bad = dist_any(!isfinite(m->be->sumsq(m->be, m->params + m->opt_lo, m->opt_hi - m->opt_lo)));
    if (!r.params_bad) trainer_gather_params(t);
    return r;
}

// ---------------------------------------------------------------------------
// Logging and checkpoints

static void trainer_log(Trainer *t, const StepResult *r, double step_seconds) {
    const TrainOptions *o = t->o;
    double now = lm_now();
    if (t->metrics) {
        cJSON *j = cJSON_CreateObject();
        cJSON_AddStringToObject(j, "phase", o->phase);
        cJSON_AddNumberToObject(j, "step", (double)t->step + 1);
        cJSON_AddNumberToObject(j, "loss", r->loss);
        cJSON_AddNumberToObject(j, "lr", r->lr);
        cJSON_AddNumberToObject(j, "grad_norm", r->grad_norm);
        cJSON_AddNumberToObject(j, "tokens", (double)t->tokens);
        cJSON_AddNumberToObject(j, "tokens_per_s", (double)t->R * t->T / (step_seconds + 1e-9));
        cJSON_AddNumberToObject(j, "elapsed", now - t->t0);
        cJSON_AddNumberToObject(j, "step_s", step_seconds);
        cJSON_AddNumberToObject(j, "reduce_wait_s", t->reduce_s);
        if (r->skipped) cJSON_AddBoolToObject(j, "skipped", 1);
        lm_jsonl_write(t->metrics, j);
        cJSON_Delete(j);
    }
    if (r->skipped)
        lm_warn("%s step %ld: loss %g, gradient norm %g: update skipped (%ld in a row)", o->phase,
                t->step + 1, r->loss, r->grad_norm, t->nan_run);
    long done = t->step + 1;
    if (o->log_every > 0 && (done % o->log_every == 0 || done == o->steps)) {
        double tps = (double)(t->tokens - t->tok_log) / (now - t->t_log + 1e-9);
        double eta = (o->steps - done) * (now - t->t_log) / o->log_every;
        lm_info("%s step %5ld/%d | loss %.4f | lr %.2e | grad norm %.3f | %.0f tok/s | eta %.0fs",
                o->phase, done, o->steps, r->loss, r->lr, r->grad_norm, tps, eta);
        t->tok_log = t->tokens;
        t->t_log = now;
    }
}

// A checkpoint of the current step; -1 with err when it could not be written twice (the last
// good checkpoint and `latest` stay as they were).
static int trainer_checkpoint(Trainer *t, char *err, size_t err_len) {
    const TrainOptions *o = t->o;
    CkptMeta meta = {0};
    meta.step = t->step, meta.tokens = t->tokens, meta.epoch = t->epoch, meta.cursor = t->cursor;
    meta.nan_skips = t->nan_skips;
    snprintf(meta.phase, sizeof meta.phase, "%s", o->phase);
    meta.config_text = t->config_text;
    double t0 = lm_now();
    for (int attempt = 1;; attempt++) { // a failed write is tried once more, then it is an error
        if (hub_ckpt_save(t->m, o->ckpt_dir, &meta, o->ckpt_keep, err, err_len) == 0) break;
        if (attempt == 2) return -1;
        if (dist.rank == 0) lm_warn("checkpoint at step %ld failed: %s; trying once more", t->step, err);
        sleep(1);
    }
    lm_info("%s: checkpoint at step %ld written in %.1fs", o->phase, t->step, lm_now() - t0);
    return 0;
}

// ---------------------------------------------------------------------------
// Setup

// Optimizer slices: contiguous, in rank order, each a multiple of 64 floats but the last.
static void trainer_shard(Trainer *t) {
    size_t n = t->m->layout.n_params, W = (size_t)dist.size;
    t->counts = lm_malloc(W * sizeof(size_t));
    t->displs = lm_malloc(W * sizeof(size_t));
    size_t per = ((n + W - 1) / W + 63) / 64 * 64;
    for (size_t r = 0; r < W; r++) {
        size_t lo = r * per < n ? r * per : n, hi = (r + 1) * per < n ? (r + 1) * per : n;
        t->displs[r] = lo, t->counts[r] = hi - lo;
    }
    if (t->sharded)
        model_set_opt_range(t->m, t->displs[dist.rank], t->displs[dist.rank] + t->counts[dist.rank]);
}

static int trainer_init(Trainer *t, Model *m, const TrainData *d, const Tokenizer *tok,
                        const TrainOptions *o, char *err, size_t err_len) {
    memset(t, 0, sizeof *t);
    t->m = m, t->d = d, t->tok = tok, t->o = o, t->T = o->seq_len;
    t->config_text = config_dump_text(o->cfg);
    if (o->seq_len > m->cfg.max_seq) {
        snprintf(err, err_len, "train.seq_len = %d exceeds the model's context of %d tokens "
                 "(model.max_seq)", o->seq_len, m->cfg.max_seq);
        return -1;
    }
    if (d->n == 0 && d->n_too_long > 0) {
        snprintf(err, err_len, "no training records: all %ld are longer than train.seq_len + 1 = "
                 "%d tokens (raise train.seq_len)", d->n_too_long, o->seq_len + 1);
        return -1;
    }
    if (d->n == 0) {
        snprintf(err, err_len, "no training records: the training data is empty (data.train or "
                 "the built data file has no records)");
        return -1;
    }
    t->R = (int)((o->batch_tokens + o->seq_len - 1) / o->seq_len);
    size_t cells = (size_t)t->R * t->T;
    t->tok_rows = lm_malloc(4 * cells * sizeof(int));
    t->tgt = t->tok_rows + cells, t->seg = t->tgt + cells, t->pos = t->seg + cells;
    t->sharded = o->zero && dist.size > 1;
    t->host_mem = m->be->host_memory;
    // Device collectives only when every rank's backend has them (a rank that fell back to
    // the CPU under run.device = auto must not leave the others in a collective).
    int want = !t->host_mem && m->be->dp_init != NULL;
    if (dist.size > 1 && !dist_any(!want)) { // collective
        char why[512];
        t->dev_dp = m->be->dp_init(m->be, why, sizeof why);
        if (!t->dev_dp && dist.rank == 0)
            lm_warn("%s: gradients go through host memory and MPI: %s", o->phase, why);
    }
    // Overlap needs every rank to run at least one micro-batch, and host memory for MPI or
    // the backend's own collectives.
    t->overlap_now = o->overlap && dist.size > 1 && !t->sharded && (t->host_mem || t->dev_dp) &&
                     t->R >= dist.size;
    if (!t->host_mem && !t->dev_dp) t->stage = lm_malloc(m->layout.n_params * sizeof(float));
    trainer_shard(t);
    model_alloc_moments(m); // fixes the optimizer range
    model_alloc_acts(m, o->micro_batch, o->seq_len);
    model_zero_grad(m); // the gradient buffer exists from here on
    if (dist.rank == 0) {
        if (lm_mkdir_p(o->run_dir) != 0) {
            snprintf(err, err_len, "cannot create run directory '%s'", o->run_dir);
            return -1;
        }
        char path[4096];
        snprintf(path, sizeof path, "%s/metrics.jsonl", o->run_dir);
        t->metrics = fopen(path, "a");
        if (!t->metrics) {
            snprintf(err, err_len, "cannot open '%s' for appending: %s", path, strerror(errno));
            return -1;
        }
    }
    return 0;
}

// trainer_init on every rank, its errors agreed: all ranks fail together with the first
// failing rank's message (a rank alone in the next collective would wait forever).
static int trainer_init_all(Trainer *t, Model *m, const TrainData *d, const Tokenizer *tok,
                            const TrainOptions *o, char *err, size_t err_len) {
    int bad = trainer_init(t, m, d, tok, o, err, err_len) != 0;
    return dist_agree(bad, err, err_len) ? -1 : 0;
}

static void trainer_free(Trainer *t) {
    if (t->metrics) fclose(t->metrics);
    train_plan_free(&t->plan);
    free(t->tok_rows);
    free(t->stage);
    free(t->counts);
    free(t->displs);
    free(t->config_text);
}

// Resumes from the newest checkpoint: -1 on error, else 0 (resumed or fresh start).
static int trainer_resume(Trainer *t, char *err, size_t err_len) {
    const TrainOptions *o = t->o;
    t->epoch = 0, t->cursor = 0;
    if (o->resume) {
        CkptMeta meta = {0};
        char path[4096];
        int rc = hub_ckpt_resume(t->m, o->ckpt_dir, &meta, path, sizeof path, err, err_len);
        if (rc < 0) return -1;
        if (rc == 0) {
            t->step = meta.step, t->tokens = meta.tokens, t->epoch = meta.epoch;
            t->cursor = meta.cursor, t->nan_skips = meta.nan_skips;
            lm_info("%s: resumed from %s (step %ld, epoch %ld, %ld tokens seen)", o->phase, path,
                    t->step, t->epoch, t->tokens);
            ckpt_meta_free(&meta);
        }
    }
    train_plan_epoch(&t->plan, t->d, o->seed, t->epoch);
    return 0;
}

// ---------------------------------------------------------------------------
// The loop

// The collective decision to stop early: a signal on any rank, or the deadline.
static const char *stop_reason(const Trainer *t) {
    long long why = dist_signal_number() ? 2 : (t->o->deadline > 0 && lm_now() >= t->o->deadline);
    dist_allreduce_max_i64(&why); // a signal on any rank outranks the clock
    if (why == 2) return "a signal (SIGTERM or SIGUSR1) was received";
    if (why == 1) return "the time limit is near";
    if (t->o->stop_after > 0 && t->step == t->o->stop_after && t->step < t->o->steps)
        return "train.stop_after was reached";
    return NULL;
}

// Fault injection for tests: LEMMA_FAULT_NAN_AT="3,4,5" puts a NaN into rank 0's gradients
// at those steps (1-based), as a diverging run would.
static void inject_nan_fault(Trainer *t) {
    const char *spec = getenv("LEMMA_FAULT_NAN_AT");
    if (!spec || dist.rank != 0) return;
    for (const char *p = spec; *p;) {
        char *end;
        long s = strtol(p, &end, 10);
        if (end == p) return;
        if (s == t->step + 1) {
            float nan = NAN;
            t->m->be->upload(t->m->be, t->m->grads, &nan, sizeof nan);
            return;
        }
        p = *end == ',' ? end + 1 : end;
    }
}

TrainStatus train_phase(Model *m, const TrainData *d, const Tokenizer *tok, const TrainOptions *o,
                        char *err, size_t err_len) {
    Trainer t;
    TrainStatus status = TRAIN_DONE;
    if (trainer_init_all(&t, m, d, tok, o, err, err_len) != 0 || trainer_resume(&t, err, err_len) != 0) {
        trainer_free(&t);
        return TRAIN_FAILED;
    }
    lm_info("%s: %ld records (%ld left out as longer than %d tokens), %d rows of %d tokens per "
            "step on %d rank(s), %d steps from step %ld%s%s%s", o->phase, d->n, d->n_too_long,
            o->seq_len + 1, t.R, t.T, dist.size, o->steps, t.step, t.sharded ? ", sharded optimizer" : "",
            t.overlap_now ? ", overlapped reduction" : "", t.dev_dp ? ", NCCL" : "");
    t.t0 = t.t_log = lm_now();
    t.tok_log = t.tokens;
    while (t.step < o->steps) {
        double t_step = lm_now();
        trainer_next_batch(&t);
        double loss_sum = trainer_accumulate(&t, t.overlap_now ? on_grad_ready : NULL);
        trainer_reduce_grads(&t);
        StepResult r = trainer_update(&t, loss_sum);
        t.tokens += (long)t.R * t.T;
        trainer_log(&t, &r, lm_now() - t_step);
        if (r.params_bad) {
            snprintf(err, err_len, "the update of step %ld made parameters non-finite (NaN/Inf; "
                     "train.eps = %g, train.beta2 = %g, train.lr = %g): stopped without a checkpoint "
                     "of it; the last good checkpoint in %s is kept", t.step + 1, o->adamw.eps,
                     o->adamw.beta2, o->lr, o->ckpt_dir);
            status = TRAIN_FAILED;
            break;
        }
        t.step++;
        if (o->max_nan_skips > 0 && t.nan_run >= o->max_nan_skips) {
            snprintf(err, err_len, "%ld updates in a row had NaN/Inf loss or gradients (limit "
                     "train.max_nan_skips = %d)", t.nan_run, o->max_nan_skips);
            status = TRAIN_FAILED;
            break;
        }
        const char *why = stop_reason(&t);
        int last = t.step == o->steps;
        if ((why || last || (o->ckpt_every > 0 && t.step % o->ckpt_every == 0)) &&
            trainer_checkpoint(&t, err, err_len) != 0) {
            char why_ck[1536];
            snprintf(why_ck, sizeof why_ck, "the checkpoint of step %ld could not be written "
                     "(tried twice): %s; the last good checkpoint in %s is kept", t.step, err, o->ckpt_dir);
            snprintf(err, err_len, "%s", why_ck);
            status = TRAIN_FAILED;
            break;
        }
        if (why) {
            lm_info("%s: stopping after step %ld because %s; resume by running the same command",
                    o->phase, t.step, why);
            status = TRAIN_STOPPED;
            break;
        }
    }
    trainer_free(&t);
    return status;
}
