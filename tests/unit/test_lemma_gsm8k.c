// tests/unit/test_lemma_gsm8k: the symbolic teacher on GSM8K (../shared/data/gsm8k, MIT
// licence). Calculation and operator errors are injected through the calculator annotations
// of 200 reference solutions each (training records in file order whose solution verifies
// and that can take the error); locate must find the sentence of the changed annotation and
// classify the injected type every time. The wrong value is carried on (the final answer
// changes) and the reflection built on it ends in the gold answer.
#include "harness.h"
#include "lemma/lemma.h"

#include <cJSON.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define GSM8K_TRAIN "../shared/data/gsm8k/train.jsonl"
#define N_WANTED 200
#define MAX_RECORDS 600

static TaskSet set;

static int verifies(const char *solution) {
    VerifyResult r;
    verify_solution(solution, VERIFY_SENTENCES, &r);
    int ok = r.first_wrong < 0;
    verify_result_free(&r);
    return ok;
}

// Injects `type` into records until N_WANTED took it.
static void run_type(LemmaErrorType type) {
    int done = 0, located = 0, classified = 0, changed = 0, fixed = 0, skipped = 0;
    for (long i = 0; i < set.n && i < MAX_RECORDS && done < N_WANTED; i++) {
        if (!verifies(set.items[i].solution)) continue;
        TaskProblem p;
        cJSON *o = tasks_problem_to_json(&set.items[i]);
        char why[128];
        tasks_problem_from_json(o, "x", &p, why, sizeof why);
        cJSON_Delete(o);
        LemmaQuestion q;
        lemma_question_init(&q, i, &p);
        LemmaInjection inj;
        if (lemma_inject(&q, type, 99, (uint64_t)i, &inj) != 0) {
            skipped++;
            lemma_question_free(&q);
            continue;
        }
        done++;
        LemmaLocation loc;
        int found = lemma_locate(&q, inj.text, &loc) == 0;
        located += found && loc.step == inj.step;
        classified += found && loc.type == type;
        if (found && (loc.step != inj.step || loc.type != type) && done - classified < 4)
            printf("# %s: located step %d %s, injected step %d\n", q.p.id, loc.step, lemma_error_name(loc.type), inj.step);
        char *pred = grade_extract_answer(inj.text, NULL);
        changed += pred && !grade_equal(pred, q.p.answer);
        free(pred);
        char *cont = found ? lemma_continuation(&q, &loc) : NULL;
        LemmaErrorCase c = {&q, inj.text, &loc, cont, q.reference, "Let me double-check that.", "[BACK]", 1, 2};
        LemmaRecord r;
        if (cont && lemma_make_record(&c, LEMMA_KIND_FIX, &r) == 0) {
            fixed += lemma_record_answer_ok(&r, q.p.answer);
            lemma_record_free(&r);
        }
        free(cont);
        free(inj.text);
        lemma_question_free(&q);
    }
    printf("# %s: %d injected (%d records could not take it), step located %d, classified %d, answer changed %d, "
           "fix & continue ends in gold %d\n", lemma_error_name(type), done, skipped, located, classified, changed, fixed);
    EXPECT(done == N_WANTED, "%s: only %d records took the error", lemma_error_name(type), done);
    EXPECT(located == done && classified == done, "%s: located %d, classified %d of %d", lemma_error_name(type), located,
           classified, done);
    EXPECT(changed == done && fixed == done, "%s: answer changed %d, fixed %d of %d", lemma_error_name(type), changed, fixed, done);
}

static void test_calculation(void) { run_type(LEMMA_ERR_CALCULATION); }
static void test_operator(void) { run_type(LEMMA_ERR_OPERATOR); }

// One example end to end: the first record (Natalia's clips).
static void test_example(void) {
    TaskProblem p;
    cJSON *o = tasks_problem_to_json(&set.items[0]);
    char why[128];
    tasks_problem_from_json(o, "x", &p, why, sizeof why);
    cJSON_Delete(o);
    LemmaQuestion q;
    lemma_question_init(&q, 0, &p);
    EXPECT(q.ref && q.ref->n_steps == 2 && q.ref->target == q.ref->steps[1].out, "reference of %s", q.p.id);
    LemmaInjection inj;
    EXPECT(lemma_inject(&q, LEMMA_ERR_OPERATOR, 99, 0, &inj) == 0, "operator error");
    const char *want = "Natalia sold 48/2 = <<48/2=24>>24 clips in May.\nNatalia sold 48*24 = <<48*24=1152>>1152 clips "
                       "altogether in April and May.\nThe answer is: 1152";
    EXPECT(strcmp(inj.text, want) == 0 && inj.step == 1, "injected (step %d):\n%s", inj.step, inj.text);
    LemmaLocation loc;
    EXPECT(lemma_locate(&q, inj.text, &loc) == 0 && loc.type == LEMMA_ERR_OPERATOR && loc.step == 1, "located");
    EXPECT(strcmp(loc.explanation, "These numbers should be added, not multiplied.") == 0, "'%s'", loc.explanation);
    free(inj.text);
    lemma_question_free(&q);
}

int main(void) {
    char err[512];
    if (access(GSM8K_TRAIN, R_OK) != 0) { // a plain clone: the whole set is not beside it
        printf("SKIP gsm8k_inject: %s absent (../shared is not beside this checkout)\n", GSM8K_TRAIN);
        return 0;
    }
    if (tasks_load(GSM8K_TRAIN, 0.0, &set, err, sizeof err) != 0) {
        printf("FAIL gsm8k_load: %s\n", err);
        return 1;
    }
    RUN_TEST(test_example);
    RUN_TEST(test_calculation);
    RUN_TEST(test_operator);
    tasks_set_free(&set);
    TEST_EXIT();
}
