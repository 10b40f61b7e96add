// lemma/teacher: the teacher interface (locate, inject, correct, each on a batch of jobs)
// and its symbolic implementation: lemma_locate, lemma_inject (confirmed by locating the
// injected error again: the same step and type, else the job is dropped as unconfirmed)
// and lemma_continuation. teacher_create picks teacher.kind.
#include "lemma/lemma.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void symbolic_locate(Teacher *t, TeacherLocateJob *jobs, int n) {
    (void)t;
    for (int i = 0; i < n; i++)
        jobs[i].status = lemma_locate(jobs[i].q, jobs[i].solution, &jobs[i].loc) == 0 ? TEACHER_OK : TEACHER_NOT_LOCATED;
}

static void symbolic_inject(Teacher *t, TeacherInjectJob *jobs, int n) {
    for (int i = 0; i < n; i++) {
        TeacherInjectJob *j = &jobs[i];
        LemmaInjection inj;
        j->solution = NULL;
        if (lemma_inject(j->q, j->type, t->seed, j->key, &inj) != 0) {
            j->status = TEACHER_NOT_INJECTABLE;
            continue;
        }
        int found = lemma_locate(j->q, inj.text, &j->loc) == 0;
        if (found && j->loc.step == inj.step && j->loc.type == inj.type) {
            j->solution = inj.text, j->status = TEACHER_OK;
        } else {
            free(inj.text);
            j->status = TEACHER_UNCONFIRMED;
        }
    }
}

static void symbolic_correct(Teacher *t, TeacherCorrectJob *jobs, int n) {
    (void)t;
    for (int i = 0; i < n; i++) {
        jobs[i].continuation = lemma_continuation(jobs[i].q, jobs[i].loc);
        jobs[i].status = jobs[i].continuation ? TEACHER_OK : TEACHER_NO_REFERENCE;
    }
}

static void symbolic_destroy(Teacher *t) { free(t); }

Teacher *teacher_symbolic_create(uint64_t seed) {
    Teacher *t = lm_calloc(1, sizeof *t);
    t->kind = "symbolic";
    for (int e = 0; e < LEMMA_N_ERRORS; e++) t->injectable[e] = (unsigned char)lemma_error_injectable((LemmaErrorType)e);
    t->locate = symbolic_locate, t->inject = symbolic_inject, t->correct = symbolic_correct;
    t->destroy = symbolic_destroy;
    t->seed = seed;
    return t;
}

int teacher_create(const Config *cfg, Teacher **out, char *err, size_t err_len) {
    *out = NULL;
    if (strcmp(cfg_str(cfg, "teacher.kind"), "model") == 0) return teacher_model_create(cfg, out, err, err_len);
    *out = teacher_symbolic_create((uint64_t)cfg_int(cfg, "run.seed"));
    return 0;
}

void teacher_destroy(Teacher *t) {
    if (t) t->destroy(t);
}
