// lemma/options: the build.* options of the data builder (checked against each other and
// the teacher kind).
#include "lemma/lemma.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define EXIT_USAGE 2

// build.error_types and build.formats into o; 0, or 2 with err.
static int options_lists(BuildOptions *o, const Config *cfg, char *err, size_t err_len) {
    int symbolic = strcmp(cfg_str(cfg, "teacher.kind"), "symbolic") == 0, n_types = 0;
    for (int i = 0; i < cfg_list_len(cfg, "build.error_types"); i++) {
        int e = lemma_error_parse(cfg_list_item(cfg, "build.error_types", i));
        if (symbolic && !lemma_error_injectable((LemmaErrorType)e)) {
            snprintf(err, err_len, "%s: build.error_types: the symbolic teacher cannot inject %s "
                     "(see docs/lemma.md for the types it injects)", cfg->path, lemma_error_name((LemmaErrorType)e));
            return EXIT_USAGE;
        }
        o->types[e] = 1, n_types++;
    }
    if (n_types == 0 && o->teacher_errors > 0) {
        snprintf(err, err_len, "%s: build.error_types is empty but build.teacher_errors = %d", cfg->path, o->teacher_errors);
        return EXIT_USAGE;
    }
    for (int i = 0; i < cfg_list_len(cfg, "build.formats"); i++) o->kinds[lemma_kind_parse(cfg_list_item(cfg, "build.formats", i))] = 1;
    if (o->kinds[LEMMA_KIND_RETRY] && !cfg_list_has(cfg, "model.special_tokens", o->back)) {
        snprintf(err, err_len, "%s: build.formats has retry but build.back_token '%s' is not one of "
                 "model.special_tokens", cfg->path, o->back);
        return EXIT_USAGE;
    }
    return 0;
}

int build_options_from(BuildOptions *o, const Config *cfg, char *err, size_t err_len) {
    memset(o, 0, sizeof *o);
    o->run_dir = cfg_str(cfg, "run.dir");
    const char *samples = cfg_str(cfg, "build.samples");
    size_t n = strlen(o->run_dir) + 32 + strlen(samples);
    o->samples = lm_malloc(n);
    if (samples[0]) snprintf(o->samples, n, "%s", samples);
    else snprintf(o->samples, n, "%s/samples.jsonl", o->run_dir);
    o->problems = cfg_str(cfg, "data.train");
    o->max_bad = cfg_float(cfg, "data.max_bad_frac");
    o->seed = (uint64_t)cfg_int(cfg, "run.seed");
    o->student_errors = (int)cfg_int(cfg, "build.student_errors");
    o->teacher_errors = (int)cfg_int(cfg, "build.teacher_errors");
    o->types_measured = strcmp(cfg_str(cfg, "build.error_source"), "measured") == 0;
    o->truncate = cfg_bool(cfg, "build.truncate");
    o->restart_own = strcmp(cfg_str(cfg, "build.restart_source"), "own") == 0;
    o->back = cfg_str(cfg, "build.back_token");
    if (!o->problems[0] && gen_params_from_config(&o->gen, cfg, err, err_len) != 0) return EXIT_USAGE;
    int rc = options_lists(o, cfg, err, err_len);
    if (rc) return rc;
    const char *phrases = cfg_str(cfg, "build.phrases");
    if (!phrases[0]) lemma_phrases_builtin(&o->phrases);
    else return lemma_phrases_load(&o->phrases, phrases, err, err_len);
    return 0;
}

void build_options_free(BuildOptions *o) {
    free(o->samples);
    lemma_phrases_free(&o->phrases);
    memset(o, 0, sizeof *o);
}
