// train/options: the training phase's settings from the config, and the deadline from
// run.time_limit or the Slurm job's end time.
#include "lemma/train.h"
#include "lemma/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

// "[D-]HH:MM:SS", "MM:SS" or "SS" in seconds; -1 when malformed.
static long parse_duration(const char *s) {
    long days = 0, parts[3] = {0, 0, 0};
    int n = 0;
    const char *dash = strchr(s, '-');
    if (dash) {
        char *end;
        days = strtol(s, &end, 10);
        if (end != dash || days < 0) return -1;
        s = dash + 1;
    }
    while (*s && n < 3) {
        char *end;
        long v = strtol(s, &end, 10);
        if (end == s || v < 0) return -1;
        parts[n++] = v;
        if (*end == ':') s = end + 1;
        else if (*end == 0) s = end;
        else return -1;
    }
    if (*s || n == 0) return -1;
    long secs = 0;
    for (int i = 0; i < n; i++) secs = secs * 60 + parts[i];
    return days * 86400 + secs;
}

// Seconds left in the job: run.time_limit from now, else SLURM_JOB_END_TIME (epoch seconds).
static int time_left(const Config *cfg, double *left, char *err, size_t err_len) {
    const char *limit = cfg_str(cfg, "run.time_limit");
    *left = 0;
    if (limit[0]) {
        long secs = parse_duration(limit);
        if (secs <= 0) {
            snprintf(err, err_len, "%s: run.time_limit = '%s' is not a duration like 02:00:00 "
                     "or 1-12:00:00", cfg->path, limit);
            return 2;
        }
        *left = (double)secs;
        return 0;
    }
    const char *end = getenv("SLURM_JOB_END_TIME");
    if (end && atol(end) > 0) *left = (double)(atol(end) - (long)time(NULL));
    return 0;
}

// A nonzero <phase>.steps, .lr or .batch_tokens replaces the train.* value.
static void phase_overrides(TrainOptions *o, const Config *cfg, const char *phase) {
    char key[64];
    snprintf(key, sizeof key, "%s.steps", phase);
    if (cfg_int(cfg, key) > 0) o->steps = (int)cfg_int(cfg, key);
    snprintf(key, sizeof key, "%s.lr", phase);
    if (cfg_float(cfg, key) > 0) o->lr = o->adamw.lr = (float)cfg_float(cfg, key);
    snprintf(key, sizeof key, "%s.batch_tokens", phase);
    if (cfg_int(cfg, key) > 0) o->batch_tokens = (long)cfg_int(cfg, key);
    o->warmup = (int)(cfg_float(cfg, "train.warmup_frac") * o->steps);
}

int train_options_from(TrainOptions *o, const Config *cfg, const char *phase, char *err,
                       size_t err_len) {
    memset(o, 0, sizeof *o);
    o->steps = (int)cfg_int(cfg, "train.steps");
    o->micro_batch = (int)cfg_int(cfg, "train.micro_batch");
    o->seq_len = (int)cfg_int(cfg, "train.seq_len");
    o->batch_tokens = (long)cfg_int(cfg, "train.batch_tokens");
    o->warmup = (int)(cfg_float(cfg, "train.warmup_frac") * o->steps);
    o->lr = (float)cfg_float(cfg, "train.lr");
    o->min_lr_frac = (float)cfg_float(cfg, "train.min_lr_frac");
    o->adamw = (AdamWConfig){o->lr, (float)cfg_float(cfg, "train.beta1"),
                             (float)cfg_float(cfg, "train.beta2"), (float)cfg_float(cfg, "train.eps"),
                             (float)cfg_float(cfg, "train.weight_decay"),
                             (float)cfg_float(cfg, "train.grad_clip")};
    o->zero = cfg_bool(cfg, "train.zero");
    o->overlap = cfg_bool(cfg, "train.overlap");
    o->resume = cfg_bool(cfg, "train.resume");
    o->max_nan_skips = (int)cfg_int(cfg, "train.max_nan_skips");
    o->stop_after = (long)cfg_int(cfg, "train.stop_after");
    o->log_every = (int)cfg_int(cfg, "log.every");
    o->ckpt_every = (int)cfg_int(cfg, "ckpt.every");
    o->ckpt_keep = (int)cfg_int(cfg, "ckpt.keep");
    o->seed = (uint64_t)cfg_int(cfg, "run.seed");
    o->run_dir = cfg_str(cfg, "run.dir");
    o->phase = phase;
    o->cfg = cfg;
    o->ckpt_dir = o->run_dir;
    if (!strcmp(phase, "pretrain") || !strcmp(phase, "finetune")) phase_overrides(o, cfg, phase);
    long max_seq = (long)cfg_int(cfg, "model.max_seq"); // 0: the model's own (trainer_init)
    if (max_seq > 0 && o->seq_len > max_seq) {
        snprintf(err, err_len, "%s: train.seq_len = %d exceeds model.max_seq = %ld", cfg->path,
                 o->seq_len, max_seq);
        return 2;
    }
    double left, margin = (double)cfg_int(cfg, "run.stop_margin");
    if (time_left(cfg, &left, err, err_len)) return 2;
    if (left > 0 && left <= margin) { // it would stop at once, and a requeue would do the same
        snprintf(err, err_len, "the time limit leaves %.0f s (%s), not more than run.stop_margin = "
                 "%.0f s: no step could be made before the stop; ask for more time or lower "
                 "run.stop_margin", left, cfg_str(cfg, "run.time_limit")[0] ? "run.time_limit"
                 : "Slurm's end time", margin);
        return 2;
    }
    if (left > 0) o->deadline = lm_now() + left - margin;
    return 0;
}
