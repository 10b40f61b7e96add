// eval/options: the eval.* options: the splits and JSONL sets to evaluate, the number of
// problems, greedy decoding settings, the reflection phrases that self-correction counts.
#include "lemma/eval.h"
#include "lemma/util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

// The stop strings, prefill and seed as 'lemma sample' reads them (sample.stop escapes);
// greedy decoding with the eval.* lengths and batch.
static int eval_gen_from(SampleConfig *g, const Config *cfg, char *err, size_t err_len) {
    SampleOptions so;
    int rc = sample_options_from(&so, cfg, err, err_len);
    if (rc == 0) {
        memset(g, 0, sizeof *g);
        g->strategy = (SampleStrategy){0.0f, 0, 1.0f};
        g->max_new_tokens = (int)cfg_int(cfg, "eval.max_new_tokens");
        g->slots = (int)cfg_int(cfg, "eval.batch");
        g->prefill_tokens = so.gen.prefill_tokens;
        g->kv = so.gen.kv;
        g->seed = so.gen.seed;
        g->n_stop = so.gen.n_stop;
        g->stop = lm_calloc((size_t)g->n_stop + 1, sizeof(char *));
        for (int i = 0; i < g->n_stop; i++) g->stop[i] = lm_strdup(so.gen.stop[i]);
    }
    sample_options_free(&so);
    return rc;
}

static void eval_add_split(EvalOptions *o, const char *name, const char *path, TaskSplit split) {
    o->splits = lm_realloc(o->splits, sizeof(EvalSplit) * (size_t)(o->n_splits + 1));
    EvalSplit *s = &o->splits[o->n_splits++];
    s->name = lm_strdup(name);
    s->path = path ? lm_strdup(path) : NULL;
    s->split = split;
}

// 0, or 2 with err when path cannot be read (checked before the model is loaded).
static int eval_readable(const Config *cfg, const char *key, const char *path, char *err,
                         size_t err_len) {
    if (access(path, R_OK) == 0) return 0;
    snprintf(err, err_len, "%s: %s: cannot read '%s': %s", cfg->path, key, path, strerror(errno));
    return 2;
}

// eval.data file -> split named after its basename without .jsonl; 0, or 2 with err.
static int eval_add_file(EvalOptions *o, const Config *cfg, const char *path, char *err,
                         size_t err_len) {
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    char name[256];
    size_t n = strlen(base);
    if (n > 6 && strcmp(base + n - 6, ".jsonl") == 0) n -= 6;
    if (n == 0 || n >= sizeof name || base[0] == '.') {
        snprintf(err, err_len, "%s: eval.data '%s': cannot name a split after this file (want "
                 "NAME.jsonl)", cfg->path, path);
        return 2;
    }
    if (eval_readable(cfg, "eval.data", path, err, err_len)) return 2;
    memcpy(name, base, n);
    name[n] = 0;
    for (int i = 0; i < o->n_splits; i++)
        if (strcmp(o->splits[i].name, name) == 0) {
            snprintf(err, err_len, "%s: eval.data '%s' gives the split name '%s', which another "
                     "split already has (rename the file)", cfg->path, path, name);
            return 2;
        }
    eval_add_split(o, name, path, TASK_SPLIT_TEST);
    return 0;
}

// An eval.sets entry NAME=PATH; 0, or 2 with err.
static int eval_add_set(EvalOptions *o, const Config *cfg, const char *entry, char *err,
                        size_t err_len) {
    const char *eq = strchr(entry, '=');
    size_t n = eq ? (size_t)(eq - entry) : 0;
    char name[256];
    if (!eq || n == 0 || n >= sizeof name || !eq[1]) {
        snprintf(err, err_len, "%s: eval.sets '%s': want NAME=PATH (e.g. math500=data/math500.jsonl)",
                 cfg->path, entry);
        return 2;
    }
    memcpy(name, entry, n);
    name[n] = 0;
    for (int i = 0; i < o->n_splits; i++)
        if (strcmp(o->splits[i].name, name) == 0) {
            snprintf(err, err_len, "%s: eval.sets '%s': the name '%s' is taken by another set",
                     cfg->path, entry, name);
            return 2;
        }
    if (eval_readable(cfg, "eval.sets", eq + 1, err, err_len)) return 2;
    eval_add_split(o, name, eq + 1, TASK_SPLIT_TEST);
    return 0;
}

static int eval_splits_from(EvalOptions *o, const Config *cfg, char *err, size_t err_len) {
    int builtin = 0;
    for (int i = 0; i < cfg_list_len(cfg, "eval.splits"); i++) {
        const char *name = cfg_list_item(cfg, "eval.splits", i);
        TaskSplit sp = (TaskSplit)tasks_split_parse(name);
        const char *path = sp == TASK_SPLIT_TEST && cfg_str(cfg, "data.test")[0]
                               ? cfg_str(cfg, "data.test") : NULL;
        int dup = 0;
        for (int k = 0; k < o->n_splits; k++) dup |= strcmp(o->splits[k].name, name) == 0;
        if (dup) continue;
        if (path && eval_readable(cfg, "data.test", path, err, err_len)) return 2;
        eval_add_split(o, name, path, sp);
        builtin |= path == NULL;
    }
    for (int i = 0; i < cfg_list_len(cfg, "eval.data"); i++)
        if (eval_add_file(o, cfg, cfg_list_item(cfg, "eval.data", i), err, err_len)) return 2;
    for (int i = 0; i < cfg_list_len(cfg, "eval.sets"); i++)
        if (eval_add_set(o, cfg, cfg_list_item(cfg, "eval.sets", i), err, err_len)) return 2;
    if (builtin && o->problems == 0) {
        snprintf(err, err_len, "%s: eval.problems = 0 (all) needs a JSONL set, but eval.splits "
                 "has a built-in split, which has no end: set eval.problems > 0", cfg->path);
        return 2;
    }
    if (builtin) return gen_params_from_config(&o->gen_params, cfg, err, err_len);
    return 0;
}

int eval_options_from(EvalOptions *o, const Config *cfg, char *err, size_t err_len) {
    memset(o, 0, sizeof *o);
    o->problems = (long)cfg_int(cfg, "eval.problems");
    o->log_every = cfg_float(cfg, "sample.log_every");
    o->max_bad = cfg_float(cfg, "data.max_bad_frac");
    o->back = lm_strdup(cfg_str(cfg, "build.back_token"));
    if (eval_gen_from(&o->gen, cfg, err, err_len)) return 2;
    if (eval_splits_from(o, cfg, err, err_len)) return 2;
    if (o->n_splits == 0) {
        snprintf(err, err_len, "%s: nothing to evaluate: eval.splits and eval.data are empty",
                 cfg->path);
        return 2;
    }
    const char *phrases = cfg_str(cfg, "build.phrases");
    if (!phrases[0]) lemma_phrases_builtin(&o->phrases);
    else return lemma_phrases_load(&o->phrases, phrases, err, err_len);
    return 0;
}

void eval_options_free(EvalOptions *o) {
    for (int i = 0; i < o->n_splits; i++) free(o->splits[i].name), free(o->splits[i].path);
    free(o->splits);
    for (int i = 0; i < o->gen.n_stop; i++) free(o->gen.stop[i]);
    free(o->gen.stop);
    lemma_phrases_free(&o->phrases);
    free(o->back);
    memset(o, 0, sizeof *o);
}

