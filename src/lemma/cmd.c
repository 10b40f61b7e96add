// lemma/cmd: 'lemma build CONFIG': the build.* options (checked against each other and the
// teacher), the teacher (teacher.kind), the build over the MPI world and its report.
#include "lemma/dist.h"
#include "lemma/lemma.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define EXIT_USAGE 2

static const char build_help[] =
    "usage: lemma build CONFIG [--set key=value]...\n"
    "Builds training data from graded samples (build.samples, default RUN_DIR/samples.jsonl)\n"
    "and the problems (data.train, or the built-in train split): RUN_DIR/data/train.jsonl,\n"
    "train_alpaca.json, summary.json and error_types.json. Options: build.*, teacher.*\n"
    "(lemma config --reference); docs/lemma.md describes the method and the formats.\n";

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

// ---------------------------------------------------------------------------
// Report

// "name n, name n, ..." of the non-zero counts into buf.
static void list_counts(char *buf, size_t cap, const long *v, int n, const char *(*name)(int)) {
    size_t len = 0;
    buf[0] = 0;
    for (int i = 0; i < n && len < cap; i++)
        if (v[i]) len += (size_t)snprintf(buf + len, cap - len, "%s%s %ld", len ? ", " : "", name(i), v[i]);
    if (!buf[0]) snprintf(buf, cap, "none");
}

static const char *type_name(int i) { return lemma_error_name((LemmaErrorType)i); }
static const char *kind_name(int i) { return lemma_kind_name((LemmaKind)i); }
static const char *status_name(int i) { return teacher_status_name((TeacherStatus)i); }

static void report(const BuildOptions *o, const Teacher *t, const BuildStats *st) {
    char a[1024], b[1024];
    lm_info("build: %ld questions, %ld samples (%ld wrong, %ld distinct), %ld regraded", st->questions,
            st->samples, st->wrong, st->distinct_wrong, st->regraded);
    list_counts(a, sizeof a, st->measured, LEMMA_N_ERRORS, type_name);
    lm_info("build: %s teacher located %ld wrong samples (%ld not): %s", t->kind, st->located, st->not_located, a);
    list_counts(a, sizeof a, st->injected, LEMMA_N_ERRORS, type_name);
    list_counts(b, sizeof b, st->teacher, TEACHER_N_STATUS, status_name);
    lm_info("build: injected %s | teacher outcomes: %s", a, b);
    list_counts(a, sizeof a, st->written, LEMMA_N_KINDS, kind_name);
    lm_info("build: wrote %s/data/train.jsonl: %s", o->run_dir, a);
    long nf = 0, nd = 0;
    for (int k = 0; k < LEMMA_N_KINDS; k++) nf += st->not_gold[k], nd += st->duplicate[k];
    lm_info("build: dropped %ld with a final answer that is not the gold one, %ld duplicates "
            "(summary.json says which)", nf, nd);
}

int build_cmd(const Config *cfg, const char *input, int argc, char **argv) {
    (void)input;
    for (int i = 0; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            if (dist.rank == 0) fputs(build_help, stdout);
            return 0;
        }
        if (dist.rank == 0) fprintf(stderr, "lemma build: unknown option '%s' (see lemma build CONFIG --help)\n", argv[i]);
        return EXIT_USAGE;
    }
    BuildOptions o;
    char err[1024];
    int rc = build_options_from(&o, cfg, err, sizeof err);
    Teacher *t = NULL;
    if (rc == 0) rc = teacher_create(cfg, &t, err, sizeof err);
    if (rc == 0) {
        lm_info("lemma build: %s teacher, samples %s, %d rank(s)", t->kind, o.samples, dist.size);
        BuildStats st;
        rc = build_run(&o, t, &st, err, sizeof err);
        if (rc == 0 && dist.rank == 0) report(&o, t, &st);
    }
    if (rc && dist.rank == 0) fprintf(stderr, "lemma build: %s\n", err);
    teacher_destroy(t);
    build_options_free(&o);
    return rc;
}
