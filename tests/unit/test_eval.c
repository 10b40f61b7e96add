// tests/unit/test_eval.c: the evaluation's figures. The Wilson interval against bounds found
// independently (numpy roots of the interval's quadratic); finding reflections; grading,
// error types and the self-correction counts of hand-written completions of real built-in
// problems, tallied by hand; the summary object; the merge of part files; the options.
#include "harness.h"
#include "lemma/eval.h"
#include "lemma/util.h"

#include <cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

// ---------------------------------------------------------------------------
// Wilson interval

// Bounds computed by /usr/bin/python3 with numpy, not with the formula of stats.c: the Wilson
// bounds are the p with (p^ - p)^2 = z^2 p (1 - p) / n, i.e. the roots of
// (n + z^2) p^2 - (2 n p^ + z^2) p + n p^2 = 0, from
//   numpy.roots([n + z*z, -(2*n*ph + z*z), n*ph*ph]) with z = 1.959963984540054.
// At c = n the upper root is 1 (1.0000000000000004 in floating point).
static void test_wilson_against_numpy(void) {
    static const struct { long c, n; double lo, hi; } cases[] = {
        {0, 12, 0.0, 0.24249400665524087},
        {3, 12, 0.08894166839405475, 0.5323053349335657},
        {12, 12, 0.7575059933447588, 1.0},
        {50, 200, 0.19508168006817497, 0.31434098312045833},
        {1, 1, 0.20654931437723742, 1.0},
        {7, 10, 0.39677814746114526, 0.892208732593699},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        double lo, hi;
        eval_wilson(cases[i].c, cases[i].n, EVAL_Z95, &lo, &hi);
        EXPECT(fabs(lo - cases[i].lo) < 1e-12 && fabs(hi - cases[i].hi) < 1e-12,
               "%ld/%ld: [%.17g, %.17g], numpy [%.17g, %.17g]", cases[i].c, cases[i].n, lo, hi,
               cases[i].lo, cases[i].hi);
        double p = (double)cases[i].c / (double)cases[i].n;
        EXPECT(lo <= p && p <= hi, "%ld/%ld: the interval misses the accuracy", cases[i].c, cases[i].n);
    }
    double lo, hi;
    eval_wilson(0, 0, EVAL_Z95, &lo, &hi);
    EXPECT(lo == 0.0 && hi == 1.0, "n = 0: [%g, %g], want [0, 1]", lo, hi);
    eval_wilson(0, 12, EVAL_Z95, &lo, &hi);
    EXPECT(lo == 0.0, "0/12: lower bound %.17g, want exactly 0", lo);
}

// ---------------------------------------------------------------------------
// reflections

static void test_find_reflection(void) {
    LemmaPhrases ph;
    lemma_phrases_builtin(&ph);
    const char *t = "A 1 + 1 = 2.\nHmm, that does not look right. Wait, let me check this step again.";
    EXPECT(eval_find_reflection(t, &ph, "[BACK]") == 13, "the earliest phrase is at 13, got %ld",
           eval_find_reflection(t, &ph, "[BACK]"));
    EXPECT(eval_find_reflection("x [BACK] y. Let me double-check that.", &ph, "[BACK]") == 2,
           "the back token comes first");
    EXPECT(eval_find_reflection("x [BACK] y", &ph, "") == -1, "no back token configured");
    EXPECT(eval_find_reflection("The answer is: 3", &ph, "[BACK]") == -1, "no reflection");
    EXPECT(eval_find_reflection("wait, let me check this step again.", &ph, NULL) == -1,
           "phrases match as written (case too)");
    lemma_phrases_free(&ph);
}

// ---------------------------------------------------------------------------
// outcomes of hand-written completions

static char *cat(const char *a, const char *b, const char *c) {
    size_t n = strlen(a) + strlen(b) + strlen(c);
    char *s = lm_malloc(n + 1);
    snprintf(s, n + 1, "%s%s%s", a, b, c);
    return s;
}

// The first line of a solution with its result (the number after the last " = ") plus one:
// a calculation error written by hand.
static char *wrong_first_line(const char *solution, char *right_line, size_t cap) {
    size_t n = strcspn(solution, "\n");
    snprintf(right_line, cap, "%.*s", (int)n, solution);
    char *eq = strstr(right_line, " = ");
    for (char *e; eq && (e = strstr(eq + 1, " = ")); ) eq = e;
    if (!eq) return NULL;
    long v = strtol(eq + 3, NULL, 10);
    char *rest = eq + 3;
    while (*rest >= '0' && *rest <= '9') rest++;
    char buf[512];
    snprintf(buf, sizeof buf, "%.*s = %ld%s", (int)(eq - right_line), right_line, v + 1, rest);
    return lm_strdup(buf);
}

typedef struct {
    const char *what;
    char *text;
    int correct, reflection, prefix_wrong, located;
} Case;

static void load_question(LemmaQuestion *q, long index) {
    Config cfg;
    config_defaults(&cfg);
    GenParams gp;
    char err[256];
    EXPECT(gen_params_from_config(&gp, &cfg, err, sizeof err) == 0, "gen params: %s", err);
    TaskProblem p;
    EXPECT(gen_problem(&gp, TASK_SPLIT_TEST, index, &p) == 0, "gen_problem %ld", index);
    lemma_question_init(q, index, &p);
    config_free(&cfg);
}

// A built-in test problem with at least two steps, its first line made wrong by hand.
static long pick_problem(LemmaQuestion *q) {
    for (long i = 0; i < 50; i++) {
        load_question(q, i);
        if (q->p.solution && strchr(q->p.solution, '\n') &&
            strchr(strchr(q->p.solution, '\n') + 1, '\n'))
            return i;
        lemma_question_free(q);
    }
    return -1;
}

static void test_outcomes_and_counts(void) {
    LemmaQuestion q;
    if (pick_problem(&q) < 0) {
        EXPECT(0, "no built-in test problem with two steps among the first 50");
        return;
    }
    LemmaPhrases ph;
    lemma_phrases_builtin(&ph);
    const char *sol = q.p.solution, *phrase = "Wait, let me check this step again. ";
    char right[512], gold1[64], wrong_answer[96], right_answer[96];
    char *wrong = wrong_first_line(sol, right, sizeof right);
    EXPECT(wrong != NULL, "no ' = ' in the first line of '%s'", sol);
    if (!wrong) return;
    snprintf(gold1, sizeof gold1, "%ld", strtol(q.p.answer, NULL, 10) + 1);
    snprintf(wrong_answer, sizeof wrong_answer, "The answer is: %s", gold1);
    snprintf(right_answer, sizeof right_answer, "The answer is: %s", q.p.answer);
    // The reference with its last line replaced by a wrong answer.
    size_t body = (size_t)(strstr(sol, "The answer is") - sol);
    char *sol_wrong = lm_malloc(body + 64);
    snprintf(sol_wrong, body + 64, "%.*s%s", (int)body, sol, wrong_answer);
    char *w_nl = cat(wrong, "\n", ""), *r_nl = cat(right, "\n", "");
    char *fix = cat(phrase, right_answer, "");
    Case cases[] = {
        // what, text, correct, reflection, prefix_wrong, located (wrong ones)
        {"reference", lm_strdup(sol), 1, 0, 0, 0},
        {"wrong step, phrase, reference", cat(w_nl, phrase, sol), 1, 1, 1, 0},
        {"right step, phrase, wrong answer", cat(r_nl, phrase, wrong_answer), 0, 1, 0, 1},
        {"wrong step, [BACK], reference", cat(wrong, " [BACK]\n", sol), 1, 1, 1, 0},
        {"reference with a wrong answer", lm_strdup(sol_wrong), 0, 0, 0, 1},
        {"wrong step, phrase, wrong answer", cat(w_nl, phrase, wrong_answer), 0, 1, 1, 1},
        {"right unfinished step, phrase, reference", cat(r_nl, phrase, sol), 1, 1, 0, 0},
        {"wrong stated answer, phrase, right answer", cat(sol_wrong, "\n", fix), 1, 1, 1, 0},
        {"empty output", lm_strdup(""), 0, 0, 0, 0},
    };
    int n = (int)(sizeof cases / sizeof cases[0]);
    EvalCounts c;
    memset(&c, 0, sizeof c);
    for (int i = 0; i < n; i++) {
        EvalOutcome o;
        eval_outcome(&q, cases[i].text, &ph, "[BACK]", &o);
        EXPECT(o.correct == cases[i].correct, "%s: correct %d", cases[i].what, o.correct);
        EXPECT((o.reflect_at >= 0) == cases[i].reflection, "%s: reflection at %ld", cases[i].what, o.reflect_at);
        EXPECT(o.prefix_wrong == cases[i].prefix_wrong, "%s: prefix_wrong %d", cases[i].what, o.prefix_wrong);
        if (!cases[i].correct)
            EXPECT(o.located == cases[i].located, "%s: located %d", cases[i].what, o.located);
        eval_counts_add(&c, &o);
        eval_outcome_free(&o);
    }
    // Tallied by hand from the table: 9 outputs, 5 right; wrong: 3 located + 1 unlocated;
    // with a reflection: 6, of which right 4; right-to-wrong 1 (the third); wrong-to-right 3
    // (second, fourth, eighth).
    long located = 0;
    for (int t = 0; t < LEMMA_N_ERRORS; t++) located += c.error_types[t];
    EXPECT(c.n == 9 && c.correct == 5, "n %ld correct %ld", c.n, c.correct);
    EXPECT(located == 3 && c.unlocated == 1, "located %ld unlocated %ld", located, c.unlocated);
    EXPECT(c.with_reflection == 6 && c.right_after_reflection == 4, "with %ld right after %ld",
           c.with_reflection, c.right_after_reflection);
    EXPECT(c.right_to_wrong == 1 && c.wrong_to_right == 3, "r2w %ld w2r %ld", c.right_to_wrong,
           c.wrong_to_right);
    for (int i = 0; i < n; i++) free(cases[i].text);
    free(wrong), free(sol_wrong), free(w_nl), free(r_nl), free(fix);
    lemma_phrases_free(&ph);
    lemma_question_free(&q);
}

// A one-step built-in problem with a wrong result: a calculation error at step 0. A problem
// without a reference whose answer is its (right) last result: not located.
static void test_error_types(void) {
    LemmaQuestion q;
    long i = 0;
    for (;; i++) { // one step line, then the answer line
        load_question(&q, i);
        const char *s = q.p.solution;
        if (i == 199 || (s && strchr(s, '\n') && strchr(s, '\n') == strrchr(s, '\n'))) break;
        lemma_question_free(&q);
    }
    char right[512], text[600];
    char *wrong = wrong_first_line(q.p.solution, right, sizeof right);
    EXPECT(wrong != NULL, "problem %ld: no one-step problem found", i);
    if (!wrong) return;
    snprintf(text, sizeof text, "%s\nThe answer is: %ld", wrong, strtol(q.p.answer, NULL, 10) + 1);
    EvalOutcome o;
    eval_outcome(&q, text, NULL, NULL, &o);
    EXPECT(!o.correct && o.located && o.loc.type == LEMMA_ERR_CALCULATION && o.loc.step == 0,
           "'%s': correct %d located %d type %s step %d", text, o.correct, o.located,
           lemma_error_name(o.loc.type), o.loc.step);
    eval_outcome_free(&o);
    free(wrong);
    lemma_question_free(&q);

    TaskProblem p = {lm_strdup("x-1"), lm_strdup("Ann has 5 apples. She buys 2 more. How many apples does she have?"),
                     lm_strdup("7"), NULL, NULL, -1, NULL, 0, NULL};
    lemma_question_init(&q, 0, &p);
    eval_outcome(&q, "Ann has 5 + 1 = 6 apples.\nThe answer is: 6", NULL, NULL, &o);
    EXPECT(!o.correct && !o.located, "no reference, answer = last result: located %d", o.located);
    EvalCounts c;
    memset(&c, 0, sizeof c);
    eval_counts_add(&c, &o);
    EXPECT(c.unlocated == 1 && c.n == 1, "unlocated %ld", c.unlocated);
    eval_outcome_free(&o);
    lemma_question_free(&q);
}

// ---------------------------------------------------------------------------
// summary, merge, options

static void test_summary_json(void) {
    EvalCounts c;
    memset(&c, 0, sizeof c);
    c.problems = 14, c.skipped = 2, c.n = 12, c.correct = 3, c.unlocated = 4, c.tokens = 99;
    c.error_types[LEMMA_ERR_CALCULATION] = 5;
    c.with_reflection = 3, c.right_after_reflection = 1, c.wrong_to_right = 1;
    cJSON *j = eval_summary_json("test", "final", 7, &c, 1.5);
    const cJSON *ci = cJSON_GetObjectItem(j, "ci95"), *et = cJSON_GetObjectItem(j, "error_types");
    const cJSON *r = cJSON_GetObjectItem(j, "reflection");
    EXPECT(strcmp(cJSON_GetObjectItem(j, "split")->valuestring, "test") == 0 &&
           strcmp(cJSON_GetObjectItem(j, "model")->valuestring, "final") == 0 &&
           cJSON_GetObjectItem(j, "step")->valuedouble == 7, "split, model, step");
    EXPECT(cJSON_GetObjectItem(j, "accuracy")->valuedouble == 0.25, "accuracy 3/12");
    EXPECT(cJSON_GetArraySize(ci) == 2 && fabs(cJSON_GetArrayItem(ci, 0)->valuedouble -
                                               0.08894166839405475) < 1e-12,
           "ci95 of 3/12 (numpy bound above)");
    EXPECT(cJSON_GetArraySize(et) == LEMMA_N_ERRORS + 1 &&
           cJSON_GetObjectItem(et, "calculation_error")->valuedouble == 5 &&
           cJSON_GetObjectItem(et, "unlocated")->valuedouble == 4, "error_types");
    EXPECT(cJSON_GetObjectItem(r, "with_reflection_rate")->valuedouble == 0.25 &&
           cJSON_GetObjectItem(r, "wrong_to_right")->valuedouble == 1, "reflection");
    const char *keys[] = {"problems", "skipped", "n", "correct", "tokens", "seconds"};
    for (int i = 0; i < 6; i++) EXPECT(cJSON_GetObjectItem(j, keys[i]) != NULL, "no '%s'", keys[i]);
    cJSON_Delete(j);
}

static void write_file(const char *path, const char *text) {
    FILE *f = fopen(path, "w");
    fputs(text, f);
    fclose(f);
}

static void test_merge_parts(void) {
    char dir[] = "/tmp/lemma_test_eval_XXXXXX", path[256], err[512];
    EXPECT(mkdtemp(dir) != NULL, "mkdtemp");
    eval_part_path(dir, "s", 0, path, sizeof path);
    write_file(path, "{\"problem\":2,\"x\":\"c\"}\n{\"problem\":0,\"x\":\"a\"}\n");
    eval_part_path(dir, "s", 1, path, sizeof path);
    write_file(path, "{\"problem\":3,\"x\":\"d\"}\n");
    EXPECT(eval_merge(dir, "s", 2, 4, err, sizeof err) == 0, "merge: %s", err);
    snprintf(path, sizeof path, "%s/s.jsonl", dir);
    char *got = lm_read_file(path, NULL);
    EXPECT(got && strcmp(got, "{\"problem\":0,\"x\":\"a\"}\n{\"problem\":2,\"x\":\"c\"}\n"
                              "{\"problem\":3,\"x\":\"d\"}\n") == 0, "merged: %s", got);
    free(got);
    eval_part_path(dir, "s", 0, path, sizeof path);
    EXPECT(access(path, F_OK) != 0, "part file left behind");
    eval_part_path(dir, "s", 0, path, sizeof path);
    write_file(path, "{\"problem\":9}\n");
    EXPECT(eval_merge(dir, "s", 1, 4, err, sizeof err) != 0 && strstr(err, ":1:"),
           "a record of no problem of the split: '%s'", err);
    remove(path);
    snprintf(path, sizeof path, "%s/s.jsonl", dir);
    remove(path);
    rmdir(dir);
}

static void test_options(void) {
    char dir[] = "/tmp/lemma_test_eval_XXXXXX", a[128], b[128], c[128], d[128], set[600], err[512];
    EXPECT(mkdtemp(dir) != NULL, "mkdtemp");
    snprintf(a, sizeof a, "%s/gsm8k_test.jsonl", dir), snprintf(b, sizeof b, "%s/other", dir);
    snprintf(c, sizeof c, "%s/x", dir), snprintf(d, sizeof d, "%s/x/other.jsonl", dir);
    mkdir(c, 0700);
    write_file(a, ""), write_file(b, ""), write_file(d, "");
    Config cfg;
    config_defaults(&cfg);
    snprintf(set, sizeof set, "eval.data=%s,%s", a, b);
    EXPECT(config_set(&cfg, set, err, sizeof err) == 0, "%s", err);
    EvalOptions o;
    EXPECT(eval_options_from(&o, &cfg, err, sizeof err) == 0, "%s", err);
    EXPECT(o.n_splits == 4 && strcmp(o.splits[0].name, "test") == 0 && !o.splits[0].path &&
           strcmp(o.splits[1].name, "ood") == 0 && o.splits[1].split == TASK_SPLIT_OOD &&
           strcmp(o.splits[2].name, "gsm8k_test") == 0 && strcmp(o.splits[3].name, "other") == 0,
           "splits");
    EXPECT(o.problems == 200 && o.gen.max_new_tokens == 256 && o.gen.slots == 64 &&
           o.gen.n_stop == 1 && strcmp(o.gen.stop[0], "\n\nQuestion") == 0 &&
           o.gen.strategy.temperature == 0 && o.phrases.n == 12 && strcmp(o.back, "[BACK]") == 0,
           "defaults");
    eval_options_free(&o);
    snprintf(set, sizeof set, "eval.data=%s,%s", b, d);
    EXPECT(config_set(&cfg, set, err, sizeof err) == 0, "%s", err);
    EXPECT(eval_options_from(&o, &cfg, err, sizeof err) == 2 && strstr(err, d),
           "two files named other: '%s'", err);
    eval_options_free(&o);
    snprintf(set, sizeof set, "eval.data=%s/nope.jsonl", dir);
    EXPECT(config_set(&cfg, set, err, sizeof err) == 0, "%s", err);
    EXPECT(eval_options_from(&o, &cfg, err, sizeof err) == 2 && strstr(err, "nope.jsonl") &&
           strstr(err, "eval.data"), "a missing file: '%s'", err);
    eval_options_free(&o);
    EXPECT(config_set(&cfg, "eval.data=", err, sizeof err) == 0, "%s", err);
    EXPECT(config_set(&cfg, "eval.problems=0", err, sizeof err) == 0, "%s", err);
    EXPECT(eval_options_from(&o, &cfg, err, sizeof err) == 2 && strstr(err, "eval.problems"),
           "problems = 0 with built-in splits: '%s'", err);
    eval_options_free(&o);
    EXPECT(config_set(&cfg, "eval.splits=test", err, sizeof err) == 0, "%s", err);
    EXPECT(config_set(&cfg, "data.test=/z/mine.jsonl", err, sizeof err) == 0, "%s", err);
    EXPECT(eval_options_from(&o, &cfg, err, sizeof err) == 2 && strstr(err, "data.test") &&
           strstr(err, "/z/mine.jsonl"), "a missing data.test: '%s'", err);
    eval_options_free(&o);
    snprintf(set, sizeof set, "data.test=%s", a);
    EXPECT(config_set(&cfg, set, err, sizeof err) == 0, "%s", err);
    EXPECT(eval_options_from(&o, &cfg, err, sizeof err) == 0 && o.n_splits == 1 &&
           o.splits[0].path && strcmp(o.splits[0].path, a) == 0, "test from data.test: %s", err);
    eval_options_free(&o);
    config_free(&cfg);
    remove(a), remove(b), remove(d), rmdir(c), rmdir(dir);
}

int main(void) {
    RUN_TEST(test_wilson_against_numpy);
    RUN_TEST(test_find_reflection);
    RUN_TEST(test_outcomes_and_counts);
    RUN_TEST(test_error_types);
    RUN_TEST(test_summary_json);
    RUN_TEST(test_merge_parts);
    RUN_TEST(test_options);
    TEST_EXIT();
}
