// pipeline: `lemma run CONFIG`, the phases of pipeline.phases in one job on one model kept in
// memory, with RUN_DIR/manifest.json recording the finished ones (include/lemma/pipeline.h,
// docs/pipeline.md).
#include "lemma/pipeline.h"
#include "lemma/ckpt.h"
#include "lemma/dist.h"
#include "lemma/eval.h"
#include "lemma/lemma.h"
#include "lemma/hub.h"
#include "lemma/sample.h"
#include "lemma/train.h"
#include "lemma/util.h"

#include <cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum { PHASE_DONE = 0, PHASE_STOPPED = 1, PHASE_FAILED = 2, PHASE_BAD_INPUT = 3 };
typedef enum { HOLD_INIT, HOLD_BASE, HOLD_FINAL } Holding;

typedef struct {
    const Config *cfg;
    const char *run_dir;
    char base_root[4096];  // the base model's checkpoints are in BASE_ROOT/ckpt
    char final_root[4096]; // the fine-tuned model's: RUN_DIR/finetune/ckpt
    char data_path[4096];  // the built records the fine-tuning reads
    double deadline;       // lm_now() at which to stop (run.time_limit, Slurm's end time)
    HubModel h;            // the one model of the job, with its tokenizer
    Holding holds;         // what the model's parameters are
    long step;             // the training step they come from (-1: unknown)
} Pipeline;

// ---------------------------------------------------------------------------
// The manifest: RUN_DIR/manifest.json, read and written by rank 0

static cJSON *manifest_read(const char *run_dir) {
    char path[4200];
    snprintf(path, sizeof path, "%s/manifest.json", run_dir);
    char *text = lm_read_file(path, NULL);
    cJSON *j = text ? cJSON_Parse(text) : NULL;
    int had_file = text != NULL;
    free(text);
    if (!j || !cJSON_IsObject(j)) {
        if (had_file) lm_warn("%s is not a JSON object: every phase counts as unfinished", path);
        cJSON_Delete(j);
        j = cJSON_CreateObject();
        cJSON_AddNumberToObject(j, "version", 1);
    }
    if (!cJSON_IsObject(cJSON_GetObjectItemCaseSensitive(j, "done")))
        cJSON_DeleteItemFromObject(j, "done"), cJSON_AddObjectToObject(j, "done");
    return j;
}

// Records `phase` as finished (with the time and the seconds it took), replacing the file
// atomically (rank 0); 0, or -1 with a warning.
static int pipeline_mark_done(const char *run_dir, const char *phase, double seconds) {
    cJSON *j = manifest_read(run_dir), *done = cJSON_GetObjectItemCaseSensitive(j, "done");
    cJSON_DeleteItemFromObject(done, phase);
    cJSON *e = cJSON_AddObjectToObject(done, phase);
    char when[64];
    time_t now = time(NULL);
    strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", gmtime(&now));
    cJSON_AddStringToObject(e, "finished", when);
    cJSON_AddNumberToObject(e, "seconds", seconds);
    char path[4200], err[4400];
    snprintf(path, sizeof path, "%s/manifest.json", run_dir);
    int rc = lm_json_write_file(path, j, err, sizeof err);
    if (rc) lm_warn("%s: phase %s will run again next time", err, phase);
    cJSON_Delete(j);
    return rc;
}

// ---------------------------------------------------------------------------
// The model between phases

// A phase of pipeline.phases; export: when pipeline.export names a format.
static int has_phase(const Config *cfg, const char *phase) {
    if (!strcmp(phase, "export")) return cfg_list_len(cfg, "pipeline.export") > 0;
    return cfg_list_has(cfg, "pipeline.phases", phase);
}

// Loads the newest checkpoint's parameters of ROOT/ckpt; 0, 1 none, -1 error (err).
static int load_params(Pipeline *p, const char *root, Holding what, char *err, size_t err_len) {
    int rc = hub_load(&p->h, root, err, err_len);
    if (rc == 0) {
        p->holds = what, p->step = p->h.step;
        lm_info("run: %s model from %s", what == HOLD_BASE ? "base" : "fine-tuned", p->h.from);
    }
    return rc;
}

static int hold_base(Pipeline *p, char *err, size_t err_len) {
    if (p->holds == HOLD_BASE) return 0;
    int rc = load_params(p, p->base_root, HOLD_BASE, err, err_len);
    if (rc == 1)
        snprintf(err, err_len, "no base model: no checkpoint in %s/ckpt (put pretrain in "
                 "pipeline.phases, or set pipeline.base_run to a run that has one)", p->base_root);
    return rc;
}

// The fine-tuned model when there is one, else the base model. *fine is set to which.
static int hold_final(Pipeline *p, int *fine, char *err, size_t err_len) {
    *fine = 1;
    if (p->holds == HOLD_FINAL) return 0;
    char path[4096];
    if (ckpt_latest(p->final_root, path, sizeof path) != 0) {
        *fine = 0;
        return hold_base(p, err, err_len);
    }
    return load_params(p, p->final_root, HOLD_FINAL, err, err_len);
}

// ---------------------------------------------------------------------------
// Phases. Each returns PHASE_DONE, PHASE_STOPPED, PHASE_FAILED or PHASE_BAD_INPUT (err).

static int train_status(TrainStatus st) {
    return st == TRAIN_DONE ? PHASE_DONE : st == TRAIN_STOPPED ? PHASE_STOPPED : PHASE_FAILED;
}

// Records: pretrain.data, else train.data, else chain-of-thought records of the training
// problems; then every file of pretrain.extra.
static int pretrain_data(Pipeline *p, TrainData *d, char *err, size_t err_len) {
    const Config *cfg = p->cfg;
    const char *records = cfg_str(cfg, "pretrain.data");
    if (!records[0]) records = cfg_str(cfg, "train.data");
    if (train_data_from_config(d, cfg, &p->h.tok, records, err, err_len) != 0) return 2;
    for (int i = 0; i < cfg_list_len(cfg, "pretrain.extra"); i++) {
        const char *path = cfg_list_item(cfg, "pretrain.extra", i);
        long before = d->n;
        if (train_data_load(d, &p->h.tok, path, cfg_float(cfg, "data.max_bad_frac"), err, err_len))
            return 2;
        lm_info("pretrain: %ld records from %s (pretrain.extra)", d->n - before, path);
    }
    return 0;
}

static int phase_pretrain(Pipeline *p, char *err, size_t err_len) {
    TrainOptions o;
    if (train_options_from(&o, p->cfg, "pretrain", err, err_len)) return PHASE_BAD_INPUT;
    o.ckpt_dir = p->base_root;
    TrainData d;
    train_data_init(&d, o.seq_len);
    int rc = pretrain_data(p, &d, err, err_len) ? PHASE_BAD_INPUT : PHASE_DONE;
    if (rc == PHASE_DONE) rc = train_status(train_phase(&p->h.m, &d, &p->h.tok, &o, err, err_len));
    model_release_training(&p->h.m); // the phases after it decode: no gradients, moments
    if (rc == PHASE_DONE) p->holds = HOLD_BASE, p->step = o.steps;
    train_data_free(&d);
    return rc;
}

static int phase_sample(Pipeline *p, char *err, size_t err_len) {
    int rc = hold_base(p, err, err_len);
    if (rc) return rc == 1 ? PHASE_BAD_INPUT : PHASE_FAILED;
    SampleOptions o;
    if (sample_options_from(&o, p->cfg, err, err_len)) {
        sample_options_free(&o);
        return PHASE_BAD_INPUT;
    }
    o.deadline = p->deadline;
    SampleSummary sum;
    SampleStatus st = sample_phase(&p->h.m, &p->h.tok, &o, &sum, err, err_len);
    if (st == SAMPLE_DONE && dist.rank == 0) sample_report(&o, &sum);
    sample_options_free(&o);
    return st == SAMPLE_DONE ? PHASE_DONE : st == SAMPLE_STOPPED ? PHASE_STOPPED
         : st == SAMPLE_BAD_INPUT ? PHASE_BAD_INPUT : PHASE_FAILED;
}

static int phase_build(Pipeline *p, char *err, size_t err_len) {
    int rc = build_phase(p->cfg, err, err_len);
    return rc == 0 ? PHASE_DONE : rc == 2 ? PHASE_BAD_INPUT : PHASE_FAILED;
}

// The record kinds each finetune.data takes from the built data.
static int finetune_kinds(const char *data, const char **kinds) {
    kinds[0] = "cot";
    if (!strcmp(data, "sft")) return 1;
    if (!strcmp(data, "lemma")) return kinds[1] = "lemma_fix", kinds[2] = "lemma_restart", 3;
    if (!strcmp(data, "rft")) return kinds[1] = "rft", 2;
    if (!strcmp(data, "lema")) return kinds[1] = "lema_correction", 2;
    return kinds[1] = "retry", 2;
}

// The reflection/baseline records (kinds[1..n)) into d: all of them, or as many as make
// them finetune.reflection_share of the records beside d's `cot` cot records.
static int finetune_others(Pipeline *p, TrainData *d, const char *const *kinds, int n, long cot,
                           long *other, char *err, size_t err_len) {
    double share = cfg_float(p->cfg, "finetune.reflection_share");
    double bad = cfg_float(p->cfg, "data.max_bad_frac");
    TrainData o;
    train_data_init(&o, d->seq_len);
    o.mask_mistakes = d->mask_mistakes;
    int rc = train_data_load_kinds(&o, &p->h.tok, p->data_path, kinds, n, bad, other, err, err_len);
    long want = o.n;
    if (share >= 0) want = (long)floor(share / (1.0 - share) * (double)cot + 0.5);
    if (rc == 0 && share >= 0 && want > o.n && dist.rank == 0)
        lm_warn("finetune: finetune.reflection_share = %g asks for %ld reflection records; "
                "%s has %ld: all of them are used", share, want, p->data_path, o.n);
    want = want < o.n ? want : o.n;
    if (rc == 0) train_data_append_sample(d, &o, want, (uint64_t)cfg_int(p->cfg, "run.seed"));
    d->n_masked += o.n_masked, d->n_too_long += o.n_too_long;
    if (rc == 0 && share >= 0)
        lm_info("finetune: reflection_share %.2f: %ld of %ld reflection/baseline records kept",
                share, want, o.n);
    *other = want;
    train_data_free(&o);
    return rc;
}

static int finetune_data(Pipeline *p, TrainData *d, char *err, size_t err_len) {
    const char *which = cfg_str(p->cfg, "finetune.data"), *kinds[4];
    int n = finetune_kinds(which, kinds);
    long cot = 0, other = 0;
    double bad = cfg_float(p->cfg, "data.max_bad_frac");
    d->mask_mistakes = cfg_bool(p->cfg, "finetune.mask_mistakes");
    if (train_data_load_kinds(d, &p->h.tok, p->data_path, kinds, 1, bad, &cot, err, err_len))
        return 2; // (n_kinds 0 would mean every kind: sft loads the cot records alone)
    if (n > 1 && finetune_others(p, d, kinds + 1, n - 1, cot, &other, err, err_len)) return 2;
    lm_info("finetune: finetune.data = %s: %ld cot and %ld %s records from %s", which, cot,
            other, n > 1 ? "reflection/baseline" : "other", p->data_path);
    if (d->mask_mistakes)
        lm_info("finetune: mask_mistakes: no loss on the repeated wrong solution; %ld of the "
                "records read have one", d->n_masked);
    if (n > 1 && other == 0 && dist.rank == 0)
        lm_warn("finetune: no %s%s%s records in %s (build.formats must list them)", kinds[1],
                n > 2 ? " or " : "", n > 2 ? kinds[2] : "", p->data_path);
    int has_mistakes = !strcmp(which, "lemma") || !strcmp(which, "retry");
    if (d->mask_mistakes && has_mistakes && d->n_masked == 0 && other > 0 && dist.rank == 0)
        lm_warn("finetune: finetune.mask_mistakes is on but no record of %s has mistake_chars "
                "(built by an older lemma? run the build phase again)", p->data_path);
    if (d->n == 0) {
        snprintf(err, err_len, "finetune: no usable records in %s for finetune.data = %s",
                 p->data_path, which);
        return 2;
    }
    return 0;
}

static int phase_finetune(Pipeline *p, char *err, size_t err_len) {
    TrainOptions o;
    if (train_options_from(&o, p->cfg, "finetune", err, err_len)) return PHASE_BAD_INPUT;
    o.ckpt_dir = p->final_root;
    int rc = hold_base(p, err, err_len);
    if (rc) return rc == 1 ? PHASE_BAD_INPUT : PHASE_FAILED;
    model_reset_optimizer(&p->h.m); // fine-tuning starts from the base parameters alone
    TrainData d;
    train_data_init(&d, o.seq_len);
    rc = finetune_data(p, &d, err, err_len) ? PHASE_BAD_INPUT : PHASE_DONE;
    if (rc == PHASE_DONE) rc = train_status(train_phase(&p->h.m, &d, &p->h.tok, &o, err, err_len));
    model_release_training(&p->h.m); // the phases after it decode: no gradients, moments
    if (rc == PHASE_DONE) p->holds = HOLD_FINAL, p->step = o.steps;
    if (rc != PHASE_DONE) p->holds = HOLD_INIT; // partly trained: reload before any use
    train_data_free(&d);
    return rc;
}

// The base model into RUN_DIR/eval/base (pipeline.eval_base, when there is a fine-tuned one),
// then the final model into RUN_DIR/eval.
static int phase_eval(Pipeline *p, char *err, size_t err_len) {
    EvalOptions o;
    if (eval_options_from(&o, p->cfg, err, err_len)) {
        eval_options_free(&o);
        return PHASE_BAD_INPUT;
    }
    char dir[4200];
    int fine = 0, ev = 0, hold = hold_final(p, &fine, err, err_len);
    if (hold == 0 && fine && cfg_bool(p->cfg, "pipeline.eval_base")) {
        hold = hold_base(p, err, err_len);
        snprintf(dir, sizeof dir, "%s/eval/base", p->run_dir);
        if (hold == 0) ev = eval_phase(&p->h.m, &p->h.tok, &o, p->run_dir, dir, "base", p->step, err, err_len);
        if (hold == 0 && ev == 0) hold = hold_final(p, &fine, err, err_len);
    }
    snprintf(dir, sizeof dir, "%s/eval", p->run_dir);
    if (hold == 0 && ev == 0)
        ev = eval_phase(&p->h.m, &p->h.tok, &o, p->run_dir, dir, fine ? "final" : "base", p->step,
                        err, err_len);
    eval_options_free(&o);
    if (hold) return hold == 1 ? PHASE_BAD_INPUT : PHASE_FAILED;
    return ev == 0 ? PHASE_DONE : ev == 2 ? PHASE_BAD_INPUT : PHASE_FAILED;
}

// The final model (the fine-tuned one, else the base) in each format of pipeline.export:
// RUN_DIR/export/hf/, RUN_DIR/export/model.gguf.
static int phase_export(Pipeline *p, char *err, size_t err_len) {
    int fine = 0, rc = hold_final(p, &fine, err, err_len);
    if (rc) return rc == 1 ? PHASE_BAD_INPUT : PHASE_FAILED;
    char dir[4200], out[4300];
    snprintf(dir, sizeof dir, "%s/export", p->run_dir);
    if (dist.rank == 0) lm_mkdir_p(dir);
    const char *dtype = cfg_str(p->cfg, "pipeline.export_dtype");
    for (int i = 0; i < cfg_list_len(p->cfg, "pipeline.export"); i++) {
        const char *fmt = cfg_list_item(p->cfg, "pipeline.export", i);
        snprintf(out, sizeof out, "%s/%s", dir, !strcmp(fmt, "gguf") ? "model.gguf" : "hf");
        lm_info("run: exporting the %s model (%s) as %s", fine ? "fine-tuned" : "base", p->h.from, fmt);
        if (hub_export(&p->h, fmt, dtype, out, err, err_len) != 0) return PHASE_FAILED;
    }
    return PHASE_DONE;
}

// ---------------------------------------------------------------------------
// The job

typedef int (*PhaseFn)(Pipeline *p, char *err, size_t err_len);
static const struct {
    const char *name;
    PhaseFn fn;
} phases[] = {{"pretrain", phase_pretrain}, {"sample", phase_sample}, {"build", phase_build},
              {"finetune", phase_finetune}, {"eval", phase_eval}, {"export", phase_export}};
#define N_PHASES ((int)(sizeof phases / sizeof phases[0]))

// Where the base model and the built data are: this run's, or pipeline.base_run's for the
// phases this run does not have.
static void pipeline_paths(Pipeline *p) {
    const char *base = cfg_str(p->cfg, "pipeline.base_run");
    const char *model_from = has_phase(p->cfg, "pretrain") || !base[0] ? p->run_dir : base;
    const char *data_from = has_phase(p->cfg, "build") || !base[0] ? p->run_dir : base;
    snprintf(p->base_root, sizeof p->base_root, "%s/pretrain", model_from);
    snprintf(p->final_root, sizeof p->final_root, "%s/finetune", p->run_dir);
    snprintf(p->data_path, sizeof p->data_path, "%s/data/train.jsonl", data_from);
}

static int pipeline_open(Pipeline *p, const Config *cfg, char *err, size_t err_len) {
    memset(p, 0, sizeof *p);
    p->cfg = cfg, p->run_dir = cfg_str(cfg, "run.dir"), p->step = -1;
    TrainOptions o; // checks train.* against the model and gives the deadline
    if (train_options_from(&o, cfg, "train", err, err_len)) return 2;
    p->deadline = o.deadline;
    for (int i = 0; i < cfg_list_len(cfg, "pipeline.export"); i++)
        if (hub_export_check(cfg_list_item(cfg, "pipeline.export", i),
                             cfg_str(cfg, "pipeline.export_dtype"), err, err_len) != 0)
            return 2;
    pipeline_paths(p);
    unsigned use = (has_phase(cfg, "pretrain") || has_phase(cfg, "finetune") ? HUB_USE_TRAIN : 0) |
                   (has_phase(cfg, "sample") ? HUB_USE_SAMPLE : 0) |
                   (has_phase(cfg, "eval") ? HUB_USE_EVAL : 0);
    if (hub_open_for(&p->h, cfg, use, err, err_len) != 0) return 2;
    lm_info("lemma run: %s backend (%d threads per rank), %d rank(s), %.2fM parameters%s%s, "
            "prompt format %s, run directory %s", p->h.be->name, p->h.be->threads, dist.size,
            p->h.m.layout.n_params / 1e6, p->h.imported ? " imported from " : "",
            p->h.imported ? p->h.source : "", chat_name(&p->h.tok.chat), p->run_dir);
    return 0;
}

static void pipeline_close(Pipeline *p) {
    hub_close(&p->h);
}

// Rank 0 writes RUN_DIR/config.cfg (the effective configuration) once; every rank learns
// which phases are finished. Returns the number of listed phases still to run, -1 on error.
static int pipeline_prepare(const Config *cfg, int *done, char *err, size_t err_len) {
    const char *run_dir = cfg_str(cfg, "run.dir");
    int todo = 0, ok = 1;
    if (dist.rank == 0) {
        ok = lm_mkdir_p(run_dir) == 0;
        char path[4200];
        snprintf(path, sizeof path, "%s/config.cfg", run_dir);
        FILE *f = ok ? fopen(path, "w") : NULL;
        if (f) config_dump(cfg, f), fclose(f);
        ok = ok && f;
        cJSON *man = manifest_read(run_dir), *fin = cJSON_GetObjectItemCaseSensitive(man, "done");
        for (int i = 0; i < N_PHASES; i++) done[i] = cJSON_HasObjectItem(fin, phases[i].name);
        cJSON_Delete(man);
    }
    dist_bcast(&ok, sizeof ok, 0);
    dist_bcast(done, N_PHASES * sizeof(int), 0);
    if (!ok) {
        snprintf(err, err_len, "cannot create the run directory '%s' and its config.cfg", run_dir);
        return -1;
    }
    for (int i = 0; i < N_PHASES; i++) todo += has_phase(cfg, phases[i].name) && !done[i];
    return todo;
}

// Runs the listed phases that are not finished, in order.
static int pipeline_phases(Pipeline *p, const int *done, char *err, size_t err_len) {
    for (int i = 0; i < N_PHASES; i++) {
        const char *name = phases[i].name;
        if (!has_phase(p->cfg, name)) continue;
        if (done[i]) {
            lm_info("run: phase %s finished earlier (manifest.json): skipped", name);
            continue;
        }
        if (dist_any(dist_signal_seen()) || (p->deadline > 0 && lm_now() >= p->deadline)) {
            lm_info("run: stopping before %s (a signal or the time limit): rerun to go on", name);
            return PHASE_STOPPED;
        }
        lm_info("run: phase %s", name);
        double t0 = lm_now();
        int rc = phases[i].fn(p, err, err_len);
        if (rc == PHASE_STOPPED)
            lm_info("run: phase %s stopped early (a signal or the time limit); rerun the same "
                    "command to resume it", name);
        if (rc != PHASE_DONE) return rc;
        if (dist.rank == 0) pipeline_mark_done(p->run_dir, name, lm_now() - t0);
        lm_info("run: phase %s finished in %.1fs", name, lm_now() - t0);
    }
    return PHASE_DONE;
}

// The accuracy of one eval summary file as "0.625 [0.41, 0.80] (n 40)"; 0 when unreadable.
static int accuracy_of(const char *path, char *buf, size_t len) {
    char *text = lm_read_file(path, NULL);
    cJSON *j = text ? cJSON_Parse(text) : NULL;
    free(text);
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(j, "accuracy");
    const cJSON *ci = cJSON_GetObjectItemCaseSensitive(j, "ci95");
    const cJSON *n = cJSON_GetObjectItemCaseSensitive(j, "n");
    int ok = cJSON_IsNumber(a) && cJSON_GetArraySize(ci) == 2 && cJSON_IsNumber(n);
    if (ok)
        snprintf(buf, len, "%.3f [%.3f, %.3f] (n %d)", a->valuedouble,
                 cJSON_GetArrayItem(ci, 0)->valuedouble, cJSON_GetArrayItem(ci, 1)->valuedouble,
                 n->valueint);
    cJSON_Delete(j);
    return ok;
}

// Rank 0: the before/after table from RUN_DIR/eval/base/ and RUN_DIR/eval/.
static void pipeline_table(const Pipeline *p) {
    if (dist.rank != 0 || !has_phase(p->cfg, "eval")) return;
    EvalOptions o;
    char err[512];
    if (eval_options_from(&o, p->cfg, err, sizeof err)) {
        eval_options_free(&o);
        return;
    }
    printf("\n%-12s %-36s %-36s\n", "split", "base: accuracy [95% CI]", "final: accuracy [95% CI]");
    for (int i = 0; i < o.n_splits; i++) {
        char path[4300], before[128] = "-", after[128] = "-";
        snprintf(path, sizeof path, "%s/eval/base/%s.json", p->run_dir, o.splits[i].name);
        accuracy_of(path, before, sizeof before);
        snprintf(path, sizeof path, "%s/eval/%s.json", p->run_dir, o.splits[i].name);
        accuracy_of(path, after, sizeof after);
        printf("%-12s %-36s %-36s\n", o.splits[i].name, before, after);
    }
    printf("\n(eval/*.json has error types and self-correction figures; analysis/report.py %s "
           "writes report.md)\n", p->run_dir);
    fflush(stdout);
    eval_options_free(&o);
}

int pipeline_cmd(const Config *cfg, const char *input, int argc, char **argv) {
    (void)input;
    if (argc > 0) {
        if (dist.rank == 0) fprintf(stderr, "lemma run: unknown option '%s' (see lemma --help)\n", argv[0]);
        return 2;
    }
    char err[2048] = "";
    int done[N_PHASES] = {0};
    int todo = pipeline_prepare(cfg, done, err, sizeof err);
    if (todo < 0) {
        if (dist.rank == 0) fprintf(stderr, "lemma run: %s\n", err);
        return 1;
    }
    if (todo == 0) {
        lm_info("lemma run: every phase of %s is finished (manifest.json): nothing to do",
                cfg_str(cfg, "run.dir"));
        return 0;
    }
    dist_install_signal_handlers();
    Pipeline p;
    int rc = pipeline_open(&p, cfg, err, sizeof err) ? PHASE_BAD_INPUT : PHASE_DONE;
    if (rc == PHASE_DONE) {
        rc = pipeline_phases(&p, done, err, sizeof err);
        if (rc == PHASE_DONE) pipeline_table(&p);
        pipeline_close(&p);
    }
    if ((rc == PHASE_FAILED || rc == PHASE_BAD_INPUT) && dist.rank == 0)
        fprintf(stderr, "lemma run: %s\n", err);
    return rc == PHASE_DONE || rc == PHASE_STOPPED ? 0 : rc == PHASE_BAD_INPUT ? 2 : 1;
}
