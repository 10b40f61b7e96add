// lemma/phase: the build phase: the build.* options, the teacher (teacher.kind), the build
// over the MPI world and its report.
#include "lemma/dist.h"
#include "lemma/lemma.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

int build_phase(const Config *cfg, char *err, size_t err_len) {
    BuildOptions o;
    int rc = build_options_from(&o, cfg, err, err_len);
    Teacher *t = NULL;
    if (rc == 0) rc = teacher_create(cfg, &t, err, err_len);
    if (rc == 0) {
        lm_info("lemma build: %s teacher, samples %s, %d rank(s)", t->kind, o.samples, dist.size);
        BuildStats st;
        rc = build_run(&o, t, &st, err, err_len);
        if (rc == 0 && dist.rank == 0) report(&o, t, &st);
    }
    teacher_destroy(t);
    build_options_free(&o);
    return rc;
}
