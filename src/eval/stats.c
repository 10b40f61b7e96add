// eval/stats: the figures of an evaluation: the Wilson score interval of an accuracy, one
// output graded and analysed (error type, reflection, what the reflection changed), the
// counts of a split and its summary object. Definitions in docs/eval.md.
#include "lemma/eval.h"
#include "lemma/util.h"

#include <cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

// Wilson score interval (Wilson 1927). With p = correct / n, the bounds are the two p* that
// solve |p - p*| = z sqrt(p* (1 - p*) / n), i.e.
//   lo, hi = (p + z^2 / (2n) -+ z sqrt(p (1 - p) / n + z^2 / (4 n^2))) / (1 + z^2 / n).
// Unlike p -+ z sqrt(p (1 - p) / n) it stays inside [0, 1] and is not empty at p = 0 or 1.
void eval_wilson(long correct, long n, double z, double *lo, double *hi) {
    if (n <= 0) {
        *lo = 0.0, *hi = 1.0;
        return;
    }
    double nn = (double)n, p = (double)correct / nn, z2 = z * z;
    double denom = 1.0 + z2 / nn;
    double center = (p + z2 / (2.0 * nn)) / denom;
    double half = z * sqrt(p * (1.0 - p) / nn + z2 / (4.0 * nn * nn)) / denom;
    // At correct = 0 (n) the lower (upper) bound is 0 (1) exactly; rounding would miss it.
    *lo = correct <= 0 || center - half < 0.0 ? 0.0 : center - half;
    *hi = correct >= n || center + half > 1.0 ? 1.0 : center + half;
}

long eval_find_reflection(const char *text, const LemmaPhrases *phrases, const char *back) {
    long best = -1;
    for (int i = 0; phrases && i < phrases->n; i++) {
        const char *at = phrases->items[i][0] ? strstr(text, phrases->items[i]) : NULL;
        if (at && (best < 0 || at - text < best)) best = at - text;
    }
    const char *at = back && back[0] ? strstr(text, back) : NULL;
    if (at && (best < 0 || at - text < best)) best = at - text;
    return best;
}

// Does the text before the first reflection hold a wrong step? A located wrong computation,
// or a final answer it states ("The answer is", \boxed, ####) that is wrong. A wrong "answer"
// that is only the last number of an unfinished attempt does not count.
static int prefix_has_wrong_step(const LemmaQuestion *q, const char *text, long len) {
    char *prefix = lm_malloc((size_t)len + 1);
    memcpy(prefix, text, (size_t)len);
    prefix[len] = 0;
    LemmaLocation loc;
    int wrong = lemma_locate(q, prefix, &loc) == 0;
    if (wrong && loc.at_answer) {
        GradeSource src = GRADE_NONE;
        free(grade_extract_answer(prefix, &src));
        wrong = src != GRADE_NONE && src != GRADE_LAST_NUMBER;
    }
    free(prefix);
    return wrong;
}

void eval_outcome(const LemmaQuestion *q, const char *completion, const LemmaPhrases *phrases,
                  const char *back, EvalOutcome *out) {
    memset(out, 0, sizeof *out);
    out->loc.step = -1;
    out->level = q->p.level;
    out->subject = eval_subject_index(q->p.subject);
    out->pred = grade_extract_answer(completion, NULL);
    out->correct = out->pred && grade_equal(out->pred, q->p.answer);
    if (!out->correct) out->located = lemma_locate(q, completion, &out->loc) == 0;
    out->reflect_at = eval_find_reflection(completion, phrases, back);
    if (out->reflect_at >= 0)
        out->prefix_wrong = prefix_has_wrong_step(q, completion, out->reflect_at);
}

void eval_outcome_free(EvalOutcome *o) {
    free(o->pred);
    o->pred = NULL;
}

static const char *const subjects[EVAL_N_SUBJECTS] = {
    "Algebra", "Counting & Probability", "Geometry", "Intermediate Algebra", "Number Theory",
    "Prealgebra", "Precalculus", "other"};

const char *eval_subject_name(int i) { return i >= 0 && i < EVAL_N_SUBJECTS ? subjects[i] : "?"; }

int eval_subject_index(const char *subject) {
    if (!subject) return -1;
    for (int i = 0; i < EVAL_N_SUBJECTS - 1; i++)
        if (!strcmp(subject, subjects[i])) return i;
    return EVAL_N_SUBJECTS - 1;
}

void eval_counts_add(EvalCounts *c, const EvalOutcome *o) {
    c->n++;
    if (o->level >= 1 && o->level <= 5) c->level_n[o->level]++, c->level_correct[o->level] += o->correct;
    if (o->subject >= 0) c->subject_n[o->subject]++, c->subject_correct[o->subject] += o->correct;
    c->correct += o->correct;
    c->no_answer += !o->pred;
    if (!o->correct) {
        if (o->located) c->error_types[o->loc.type]++;
        else c->unlocated++;
    }
    if (o->reflect_at < 0) return;
    c->with_reflection++;
    c->right_after_reflection += o->correct;
    c->right_to_wrong += !o->prefix_wrong && !o->correct;
    c->wrong_to_right += o->prefix_wrong && o->correct;
}

static double eval_rate(long a, long b) { return b > 0 ? (double)a / (double)b : 0.0; }

// {"NAME": {"n", "correct", "accuracy", "ci95"}} of the groups with problems (names, or
// "1".."n"), added to j as key when any group has some.
static void add_breakdown(cJSON *j, const char *key, const long *n, const long *right, int groups,
                          const char *const *names) {
    cJSON *b = NULL;
    for (int g = 0; g < groups; g++) {
        if (n[g] == 0) continue;
        if (!b) b = cJSON_AddObjectToObject(j, key);
        char num[16];
        snprintf(num, sizeof num, "%d", g + 1);
        cJSON *x = cJSON_AddObjectToObject(b, names ? names[g] : num);
        double lo, hi, ci[2];
        eval_wilson(right[g], n[g], EVAL_Z95, &lo, &hi);
        ci[0] = lo, ci[1] = hi;
        cJSON_AddNumberToObject(x, "n", (double)n[g]);
        cJSON_AddNumberToObject(x, "correct", (double)right[g]);
        cJSON_AddNumberToObject(x, "accuracy", eval_rate(right[g], n[g]));
        cJSON_AddItemToObject(x, "ci95", cJSON_CreateDoubleArray(ci, 2));
    }
}

cJSON *eval_summary_json(const char *split, const char *label, long step, const EvalCounts *c,
                         double seconds) {
    double lo, hi;
    eval_wilson(c->correct, c->n, EVAL_Z95, &lo, &hi);
    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "split", split);
    cJSON_AddStringToObject(j, "model", label);
    cJSON_AddNumberToObject(j, "step", (double)step);
    cJSON_AddNumberToObject(j, "problems", (double)c->problems);
    cJSON_AddNumberToObject(j, "skipped", (double)c->skipped);
    cJSON_AddNumberToObject(j, "n", (double)c->n);
    cJSON_AddNumberToObject(j, "correct", (double)c->correct);
    cJSON_AddNumberToObject(j, "wrong", (double)(c->n - c->correct - c->no_answer));
    cJSON_AddNumberToObject(j, "no_answer", (double)c->no_answer);
    cJSON_AddNumberToObject(j, "accuracy", eval_rate(c->correct, c->n));
    double ci[2] = {lo, hi};
    cJSON_AddItemToObject(j, "ci95", cJSON_CreateDoubleArray(ci, 2));
    cJSON *types = cJSON_AddObjectToObject(j, "error_types");
    for (int t = 0; t < LEMMA_N_ERRORS; t++)
        cJSON_AddNumberToObject(types, lemma_error_name((LemmaErrorType)t), (double)c->error_types[t]);
    cJSON_AddNumberToObject(types, "unlocated", (double)c->unlocated);
    cJSON *r = cJSON_AddObjectToObject(j, "reflection");
    cJSON_AddNumberToObject(r, "with_reflection", (double)c->with_reflection);
    cJSON_AddNumberToObject(r, "with_reflection_rate", eval_rate(c->with_reflection, c->n));
    cJSON_AddNumberToObject(r, "right_after_reflection", (double)c->right_after_reflection);
    cJSON_AddNumberToObject(r, "right_to_wrong", (double)c->right_to_wrong);
    cJSON_AddNumberToObject(r, "wrong_to_right", (double)c->wrong_to_right);
    cJSON_AddNumberToObject(j, "tokens", (double)c->tokens);
    cJSON_AddNumberToObject(j, "seconds", seconds);
    add_breakdown(j, "by_level", c->level_n + 1, c->level_correct + 1, 5, NULL);
    add_breakdown(j, "by_subject", c->subject_n, c->subject_correct, EVAL_N_SUBJECTS, subjects);
    return j;
}
