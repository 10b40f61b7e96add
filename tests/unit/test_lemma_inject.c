// tests/unit/test_lemma_inject: the symbolic teacher on generated problems. For every
// injectable error type, 200 problems (train split, then ood) get an error of that type:
// locate must find the injected step every time and classify gives the injected type at
// least 95% of the time (the confusion matrix is printed as "# " lines). Injected solutions
// stay consistent after the error (every later step verifies) and end in a wrong answer; the
// reflection records built on them end in the gold answer, truncation keeps exactly the
// steps up to the wrong one, and after a fix & continue reflection every step verifies.
#include "harness.h"
#include "lemma/lemma.h"

#include <stdlib.h>
#include <string.h>

#define N_PROBLEMS 200
#define MAX_TRIES 3000
#define SEED 20250

static GenParams gp;

static void setup(void) {
    memset(&gp, 0, sizeof gp);
    gp.seed = 7, gp.min_ops = 1, gp.max_ops = 4, gp.ood_min_ops = 5, gp.ood_max_ops = 6;
    gp.max_operand = 100, gp.ood_max_operand = 1000, gp.distractor_prob = 0.3;
}

static TaskSplit split = TASK_SPLIT_TRAIN;

static int question(long i, LemmaQuestion *q) {
    TaskProblem p;
    if (gen_problem(&gp, split, i, &p) != 0) return -1;
    lemma_question_init(q, i, &p);
    return 0;
}

// Steps after `step` of a solution verify (ok or nothing to check).
static int verifies_after(const char *text, int step) {
    VerifyResult r;
    verify_solution(text, 0, &r);
    int ok = 1;
    for (int i = step + 1; i < r.n_steps; i++) ok &= r.steps[i].verdict != VERIFY_WRONG;
    verify_result_free(&r);
    return ok;
}

// Prints text with "# " before every line.
static void print_commented(const char *text) {
    for (const char *p = text; p && *p;) {
        const char *nl = strchr(p, '\n');
        int n = nl ? (int)(nl - p) : (int)strlen(p);
        printf("#   %.*s\n", n, p);
        p = nl ? nl + 1 : NULL;
    }
}

static long confusion[LEMMA_N_ERRORS][LEMMA_N_ERRORS + 1];

// Injects `type` into problems until N_PROBLEMS took it; counts how locate and classify do.
static void run_type(LemmaErrorType type, int *n_done, int *n_step_ok, int *n_consistent) {
    *n_done = *n_step_ok = *n_consistent = 0;
    for (long i = 0; i < MAX_TRIES && *n_done < N_PROBLEMS; i++) {
        LemmaQuestion q;
        if (question(i, &q) != 0) continue;
        LemmaInjection inj;
        if (lemma_inject(&q, type, SEED, (uint64_t)i, &inj) == 0) {
            LemmaLocation loc;
            int found = lemma_locate(&q, inj.text, &loc) == 0;
            char *pred = grade_extract_answer(inj.text, NULL);
            int wrong = pred && !grade_equal(pred, q.p.answer);
            free(pred);
            (*n_done)++;
            *n_step_ok += found && loc.step == inj.step;
            *n_consistent += wrong && verifies_after(inj.text, inj.step);
            confusion[type][found ? loc.type : LEMMA_N_ERRORS]++;
            if (found && loc.type != type && confusion[type][loc.type] <= 2) {
                printf("# %s classified %s (step %d, injected %d):\n", lemma_error_name(type),
                       lemma_error_name(loc.type), loc.step, inj.step);
                print_commented(inj.text);
                printf("# reference:\n");
                print_commented(q.p.solution);
            }
            free(inj.text);
        }
        lemma_question_free(&q);
    }
}

static void print_matrix(void) {
    printf("# confusion matrix (rows: injected, columns: classified; - = not located)\n# %-27s", "");
    for (int c = 0; c < LEMMA_N_ERRORS; c++) printf(" %4.4s", lemma_error_name((LemmaErrorType)c));
    printf("    -\n");
    for (int r = 0; r < LEMMA_N_ERRORS; r++) {
        if (!lemma_error_injectable((LemmaErrorType)r)) continue;
        printf("# %-27s", lemma_error_name((LemmaErrorType)r));
        for (int c = 0; c <= LEMMA_N_ERRORS; c++) printf(" %4ld", confusion[r][c]);
        printf("\n");
    }
}

static void classify_split(TaskSplit s) {
    split = s;
    memset(confusion, 0, sizeof confusion);
    printf("# %s split\n", tasks_split_name(s));
    for (int t = 0; t < LEMMA_N_ERRORS; t++) {
        if (!lemma_error_injectable((LemmaErrorType)t)) continue;
        int done, step_ok, consistent;
        run_type((LemmaErrorType)t, &done, &step_ok, &consistent);
        long right = confusion[t][t];
        printf("# %-27s %3d injected, located %3d, classified right %3ld (%.1f%%), consistent %3d\n",
               lemma_error_name((LemmaErrorType)t), done, step_ok, right, done ? 100.0 * right / done : 0.0, consistent);
        EXPECT(done == N_PROBLEMS, "%s: only %d problems took the error", lemma_error_name((LemmaErrorType)t), done);
        EXPECT(step_ok == done, "%s: the injected step located %d of %d times", lemma_error_name((LemmaErrorType)t), step_ok, done);
        EXPECT(right * 100 >= 95L * done, "%s: classified right %ld of %d", lemma_error_name((LemmaErrorType)t), right, done);
        EXPECT(consistent == done, "%s: %d of %d consistent after the error with a wrong answer",
               lemma_error_name((LemmaErrorType)t), consistent, done);
    }
    print_matrix();
    split = TASK_SPLIT_TRAIN;
}

static void test_inject_classify_locate(void) { classify_split(TASK_SPLIT_TRAIN); }
// ood problems: more operations, larger numbers
static void test_inject_classify_locate_ood(void) { classify_split(TASK_SPLIT_OOD); }

// The reflection records of one injected error; counts what holds.
typedef struct {
    int n, gold, truncated, verified, whole, back;
} ReflectCounts;

static void check_reflections(const LemmaQuestion *q, const LemmaInjection *inj, const LemmaLocation *loc, ReflectCounts *k) {
    char *cont = lemma_continuation(q, loc);
    const char *phrase = "Hold on, something is off here.";
    LemmaErrorCase c = {q, inj->text, loc, cont, q->reference, phrase, "[BACK]", 1, 2};
    LemmaRecord r;
    int gold = 1;
    k->n++;
    for (int kind = LEMMA_KIND_FIX; kind <= LEMMA_KIND_RETRY; kind++) {
        if (lemma_make_record(&c, (LemmaKind)kind, &r) != 0) {
            gold = 0;
            continue;
        }
        gold &= lemma_record_answer_ok(&r, q->p.answer);
        if (kind == LEMMA_KIND_FIX) {
            // exactly the steps up to and including the wrong one, then the reflection
            k->truncated += strncmp(r.response, inj->text, loc->end) == 0 && r.response[loc->end] == '\n' &&
                            strncmp(r.response + loc->end + 1, phrase, strlen(phrase)) == 0;
            k->verified += verifies_after(r.response, loc->step);
        }
        if (kind == LEMMA_KIND_RETRY)
            k->back += strncmp(r.response, inj->text, loc->end) == 0 && strncmp(r.response + loc->end, " [BACK]\n", 8) == 0;
        lemma_record_free(&r);
    }
    k->gold += gold;
    c.truncate = 0;
    if (lemma_make_record(&c, LEMMA_KIND_FIX, &r) == 0) {
        k->whole += strncmp(r.response, inj->text, strlen(inj->text)) == 0 && lemma_record_answer_ok(&r, q->p.answer);
        lemma_record_free(&r);
    }
    free(cont);
}

// Every reflection record ends in the gold answer; truncation keeps exactly the steps up to
// and including the first wrong one; after a fix & continue reflection every step verifies.
static void test_reflections(void) {
    ReflectCounts k = {0};
    for (int t = 0; t < LEMMA_N_ERRORS; t++) {
        if (!lemma_error_injectable((LemmaErrorType)t)) continue;
        int done = 0;
        for (long i = 0; i < MAX_TRIES && done < 50; i++) {
            LemmaQuestion q;
            if (question(i, &q) != 0) continue;
            LemmaInjection inj;
            LemmaLocation loc;
            if (lemma_inject(&q, (LemmaErrorType)t, SEED + 1, (uint64_t)i, &inj) == 0) {
                if (lemma_locate(&q, inj.text, &loc) == 0) check_reflections(&q, &inj, &loc, &k), done++;
                free(inj.text);
            }
            lemma_question_free(&q);
        }
    }
    printf("# %d errors: records in gold %d, truncated right %d, fix verifies %d, retry [BACK] %d, untruncated %d\n", k.n,
           k.gold, k.truncated, k.verified, k.back, k.whole);
    EXPECT(k.n == 9 * 50, "%d errors", k.n);
    EXPECT(k.gold == k.n && k.truncated == k.n && k.verified == k.n && k.back == k.n && k.whole == k.n,
           "gold %d, truncated %d, verified %d, back %d, whole %d of %d", k.gold, k.truncated, k.verified, k.back, k.whole, k.n);
}

// Injection is a pure function of (seed, key): the same text twice, another with another key.
static void test_inject_deterministic(void) {
    LemmaQuestion q;
    int same = 1, differ = 0;
    for (long i = 0; i < 40; i++) {
        if (question(i, &q) != 0) continue;
        LemmaInjection a, b, c;
        if (lemma_inject(&q, LEMMA_ERR_CALCULATION, 1, 5, &a) == 0) {
            lemma_inject(&q, LEMMA_ERR_CALCULATION, 1, 5, &b);
            lemma_inject(&q, LEMMA_ERR_CALCULATION, 1, 6, &c);
            same &= strcmp(a.text, b.text) == 0 && a.step == b.step;
            differ += strcmp(a.text, c.text) != 0;
            free(a.text), free(b.text), free(c.text);
        }
        lemma_question_free(&q);
    }
    EXPECT(same && differ > 10, "same %d, differ %d", same, differ);
}

int main(void) {
    setup();
    RUN_TEST(test_inject_classify_locate);
    RUN_TEST(test_inject_classify_locate_ood);
    RUN_TEST(test_reflections);
    RUN_TEST(test_inject_deterministic);
    TEST_EXIT();
}
