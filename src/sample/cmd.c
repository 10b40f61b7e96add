// sample/cmd: 'lemma sample CONFIG': the sample.* options, the model (parameters of the
// newest checkpoint in run.dir, else a fresh random model with a warning), the sampling
// phase, and its report (printed, and one line in RUN_DIR/metrics.jsonl).
#include "lemma/ckpt.h"
#include "lemma/dist.h"
#include "lemma/sample.h"
#include "lemma/train.h"
#include "lemma/util.h"

#include <cJSON.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

// ---------------------------------------------------------------------------
// options

// s with the escapes \n, \t, \r and \\ replaced (malloc'd): stop strings can be written on
// the command line (--set 'sample.stop=\n\nQuestion') and in configs alike.
static char *sample_unescape(const char *s) {
    char *out = lm_malloc(strlen(s) + 1), *o = out;
    for (; *s; s++) {
        if (*s != '\\' || !s[1]) {
            *o++ = *s;
            continue;
        }
        char c = s[1];
        char r = c == 'n' ? '\n' : c == 't' ? '\t' : c == 'r' ? '\r' : c == '\\' ? '\\' : 0;
        if (r) *o++ = r, s++;
        else *o++ = *s;
    }
    *o = 0;
    return out;
}

DType sample_kv_dtype(const Config *cfg) {
    return strcmp(cfg_str(cfg, "sample.kv_cache"), "bf16") == 0 ? DT_BF16 : DT_F32;
}

int sample_options_from(SampleOptions *o, const Config *cfg, char *err, size_t err_len) {
    memset(o, 0, sizeof *o);
    SampleConfig *g = &o->gen;
    g->strategy.temperature = (float)cfg_float(cfg, "sample.temperature");
    g->strategy.top_k = (int)cfg_int(cfg, "sample.top_k");
    g->strategy.top_p = (float)cfg_float(cfg, "sample.top_p");
    g->max_new_tokens = (int)cfg_int(cfg, "sample.max_new_tokens");
    g->seed = (uint64_t)cfg_int(cfg, "run.seed");
    g->slots = (int)cfg_int(cfg, "sample.batch");
    g->prefill_tokens = (int)cfg_int(cfg, "sample.prefill_tokens");
    g->kv = sample_kv_dtype(cfg);
    g->n_stop = cfg_list_len(cfg, "sample.stop");
    g->stop = lm_calloc((size_t)g->n_stop + 1, sizeof(char *));
    for (int i = 0; i < g->n_stop; i++) g->stop[i] = sample_unescape(cfg_list_item(cfg, "sample.stop", i));
    o->k = (int)cfg_int(cfg, "sample.k");
    o->greedy = cfg_bool(cfg, "sample.greedy");
    o->problems = (long)cfg_int(cfg, "sample.problems");
    o->too_long_error = strcmp(cfg_str(cfg, "sample.too_long"), "error") == 0;
    o->log_every = cfg_float(cfg, "sample.log_every");
    o->run_dir = cfg_str(cfg, "run.dir");
    o->data = cfg_str(cfg, "data.train");
    o->max_bad = cfg_float(cfg, "data.max_bad_frac");
    o->builtin_size = (long)cfg_int(cfg, "data.train_size");
    if (o->k >= SAMPLE_MAX_SAMPLES) {
        snprintf(err, err_len, "%s: sample.k = %d: at most %d samples per problem", cfg->path,
                 o->k, SAMPLE_MAX_SAMPLES - 1);
        return 2;
    }
    if (!o->data[0] && gen_params_from_config(&o->gen_params, cfg, err, err_len) != 0) return 2;
    return 0;
}

void sample_options_free(SampleOptions *o) {
    for (int i = 0; i < o->gen.n_stop; i++) free(o->gen.stop[i]);
    free(o->gen.stop);
    o->gen.stop = NULL, o->gen.n_stop = 0;
}

// ---------------------------------------------------------------------------
// the model

// OpenMP threads per rank: run.threads, else OMP_NUM_THREADS, else the node's cores shared
// among its ranks (as 'lemma train').

// ---------------------------------------------------------------------------
// report

void sample_report(const SampleOptions *o, const SampleSummary *s) {
    if (dist.rank != 0) return;
    lm_info("sample: %ld tokens generated in %.1fs (%.0f tok/s)", s->tokens, s->seconds,
            s->tokens / (s->seconds > 0 ? s->seconds : 1e-9));
    if (s->skipped)
        lm_info("sample: %ld of %ld problems skipped: prompt longer than the context",
                s->skipped, s->problems);
    char greedy[96] = "";
    if (o->greedy)
        snprintf(greedy, sizeof greedy, "greedy pass@1 %.4f (%ld/%ld) | ", s->greedy_pass1,
                 s->greedy_correct, s->greedy_n);
    lm_info("sample: %smean accuracy %.4f (%ld/%ld samples) | pass@1 %.4f | pass@%d %.4f "
            "(%ld problems)", greedy, s->mean_accuracy, s->correct, s->samples, s->pass_at_1,
            o->k, s->pass_at_k, s->sampled);
    lm_info("sample: wrote %s/samples.jsonl%s", o->run_dir, o->greedy ? " and greedy.jsonl" : "");
    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "phase", "sample");
    cJSON_AddNumberToObject(j, "problems", (double)s->problems);
    cJSON_AddNumberToObject(j, "skipped", (double)s->skipped);
    cJSON_AddNumberToObject(j, "k", o->k);
    cJSON_AddNumberToObject(j, "samples", (double)s->samples);
    cJSON_AddNumberToObject(j, "mean_accuracy", s->mean_accuracy);
    cJSON_AddNumberToObject(j, "pass_at_1", s->pass_at_1);
    cJSON_AddNumberToObject(j, "pass_at_k", s->pass_at_k);
    if (o->greedy) cJSON_AddNumberToObject(j, "greedy_pass_at_1", s->greedy_pass1);
    cJSON_AddNumberToObject(j, "tokens", (double)s->tokens);
    cJSON_AddNumberToObject(j, "tokens_per_s", s->tokens / (s->seconds > 0 ? s->seconds : 1e-9));
    cJSON_AddNumberToObject(j, "elapsed", s->seconds);
    lm_metrics_append(o->run_dir, j);
}

// ---------------------------------------------------------------------------
// the command

static int sample_run(const Config *cfg, const SampleOptions *o) {
    Tokenizer tok;
    tokenizer_from_config(&tok, cfg);
    Model m;
    Backend *be = model_open(&m, cfg, &tok);
    char path[4096], err[1024];
    int rc = train_ckpt_load_params(&m, o->run_dir, path, sizeof path, err, sizeof err);
    if (rc == 0) lm_info("lemma sample: parameters from %s", path);
    else if (rc == 1 && dist.rank == 0)
        lm_warn("no checkpoint in %s/ckpt: sampling from a randomly initialised model", o->run_dir);
    int status = 0;
    if (rc < 0) {
        if (dist.rank == 0) fprintf(stderr, "lemma sample: %s\n", err);
        status = 1;
    } else {
        lm_info("lemma sample: %s backend (%d threads per rank), %.2fM parameters", be->name,
                be->threads, m.layout.n_params / 1e6);
        SampleSummary sum;
        SampleStatus st = sample_phase(&m, &tok, o, &sum, err, sizeof err);
        if (st == SAMPLE_DONE) sample_report(o, &sum);
        if (st == SAMPLE_STOPPED)
            lm_info("sample: stopped by a signal or the time limit; finished samples are kept "
                    "in %s/samples: run the same command to go on", o->run_dir);
        if ((st == SAMPLE_FAILED || st == SAMPLE_BAD_INPUT) && dist.rank == 0)
            fprintf(stderr, "lemma sample: %s\n", err);
        status = st == SAMPLE_FAILED ? 1 : st == SAMPLE_BAD_INPUT ? 2 : 0;
    }
    model_close(&m);
    tokenizer_free(&tok);
    return status;
}

int sample_cmd(const Config *cfg, const char *input, int argc, char **argv) {
    (void)input;
    if (argc > 0) {
        if (dist.rank == 0)
            fprintf(stderr, "lemma sample: unknown option '%s' (see lemma --help)\n", argv[0]);
        return 2;
    }
    SampleOptions o;
    char err[1024];
    if (sample_options_from(&o, cfg, err, sizeof err) != 0) {
        if (dist.rank == 0) fprintf(stderr, "lemma sample: %s\n", err);
        sample_options_free(&o);
        return 2;
    }
    dist_install_signal_handlers();
    int rc = sample_run(cfg, &o);
    sample_options_free(&o);
    return rc;
}
