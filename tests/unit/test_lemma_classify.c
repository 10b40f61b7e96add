// tests/unit/test_lemma_classify: the symbolic teacher's locate and classify rules
// (src/lemma/locate.c), one hand-written student solution per rule, on two hand-written
// problems with computation graphs and one without any reference; then the pieces around
// them: expression and number reading, step spans, explanations, continuations, the record
// formats (truncation on and off), reflection phrases, the model teacher's templates and
// output parsers.
#include "harness.h"
#include "lemma/lemma.h"

#include <cJSON.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

// Ann 12, Bob = 3 * Ann, Cara = Bob - 7, asked: Bob + Cara. Dan's 20 is a distractor.
static const char *marbles_json =
    "{\"id\": \"marbles\", \"question\": \"Ann has 12 marbles. Bob has 3 times as many marbles as Ann. "
    "Cara has 7 fewer marbles than Bob. Dan has 20 marbles. How many marbles do Bob and Cara have together?\", "
    "\"answer\": \"65\", \"solution\": \"Bob has 3 * 12 = 36 marbles.\\nCara has 36 - 7 = 29 marbles.\\n"
    "Together they have 36 + 29 = 65 marbles.\\nThe answer is: 65\", \"graph\": {\"quantities\": ["
    "{\"id\": 0, \"kind\": \"given\", \"value\": 12, \"entity\": \"Ann\", \"unit\": \"marbles\", \"sentence\": 0},"
    "{\"id\": 1, \"kind\": \"const\", \"value\": 3, \"sentence\": 1},"
    "{\"id\": 2, \"kind\": \"derived\", \"value\": 36, \"entity\": \"Bob\", \"unit\": \"marbles\", \"sentence\": 1},"
    "{\"id\": 3, \"kind\": \"const\", \"value\": 7, \"sentence\": 2},"
    "{\"id\": 4, \"kind\": \"derived\", \"value\": 29, \"entity\": \"Cara\", \"unit\": \"marbles\", \"sentence\": 2},"
    "{\"id\": 5, \"kind\": \"derived\", \"value\": 65, \"entity\": \"together\", \"unit\": \"marbles\", \"sentence\": 4},"
    "{\"id\": 6, \"kind\": \"given\", \"value\": 20, \"entity\": \"Dan\", \"unit\": \"marbles\", \"sentence\": 3}],"
    "\"steps\": [{\"line\": 0, \"op\": \"*\", \"args\": [1, 0], \"out\": 2, \"relation\": \"times\", "
    "\"template\": \"Bob has {0} {op} {1} = {=} marbles.\"},"
    "{\"line\": 1, \"op\": \"-\", \"args\": [2, 3], \"out\": 4, \"relation\": \"fewer\", "
    "\"template\": \"Cara has {0} {op} {1} = {=} marbles.\"},"
    "{\"line\": 2, \"op\": \"+\", \"args\": [2, 4], \"out\": 5, \"relation\": \"total\", "
    "\"template\": \"Together they have {0} {op} {1} = {=} marbles.\"}],"
    "\"target\": 5, \"distractors\": [6]}}";

// Eli 3 dozen eggs -> 36 eggs, uses 5: 31 left.
static const char *eggs_json =
    "{\"id\": \"eggs\", \"question\": \"Eli has 3 dozen eggs. Then Eli uses 5 eggs. How many eggs does Eli have now?\", "
    "\"answer\": \"31\", \"solution\": \"Eli has 3 * 12 = 36 eggs.\\nEli now has 36 - 5 = 31 eggs.\\nThe answer is: 31\", "
    "\"graph\": {\"quantities\": ["
    "{\"id\": 0, \"kind\": \"given\", \"value\": 3, \"entity\": \"Eli\", \"unit\": \"dozen eggs\", \"sentence\": 0},"
    "{\"id\": 1, \"kind\": \"conversion\", \"value\": 12, \"unit\": \"eggs per dozen\"},"
    "{\"id\": 2, \"kind\": \"derived\", \"value\": 36, \"entity\": \"Eli\", \"unit\": \"eggs\", \"sentence\": 0},"
    "{\"id\": 3, \"kind\": \"const\", \"value\": 5, \"sentence\": 1},"
    "{\"id\": 4, \"kind\": \"derived\", \"value\": 31, \"entity\": \"Eli\", \"unit\": \"eggs\", \"sentence\": 1}],"
    "\"steps\": [{\"line\": 0, \"op\": \"*\", \"args\": [0, 1], \"out\": 2, \"relation\": \"convert\", "
    "\"template\": \"Eli has {0} {op} {1} = {=} eggs.\"},"
    "{\"line\": 1, \"op\": \"-\", \"args\": [2, 3], \"out\": 4, \"relation\": \"loss\", "
    "\"template\": \"Eli now has {0} {op} {1} = {=} eggs.\"}], \"target\": 4, \"distractors\": []}}";

static const char *bare_json = "{\"id\": \"bare\", \"question\": \"What is 2 + 3 + 2?\", \"answer\": \"7\"}";

static LemmaQuestion marbles, eggs, bare;

static void load_question(const char *json, LemmaQuestion *q) {
    cJSON *o = cJSON_Parse(json);
    TaskProblem p;
    char why[256];
    int rc = tasks_problem_from_json(o, "x", &p, why, sizeof why);
    if (rc != 0) {
        printf("cannot read a test problem: %s\n", why);
        exit(1);
    }
    lemma_question_init(q, 0, &p);
    cJSON_Delete(o);
}

// locate gives (step, type) for solution; -1 as type: not located.
static void expect_located(const LemmaQuestion *q, const char *solution, int step, int type) {
    LemmaLocation loc;
    int rc = lemma_locate(q, solution, &loc);
    if (type < 0) {
        EXPECT(rc != 0, "located at %d (%s) but should not be:\n%s", loc.step, lemma_error_name(loc.type), solution);
        return;
    }
    EXPECT(rc == 0 && loc.step == step && (int)loc.type == type, "wanted step %d %s, got rc %d step %d %s:\n%s",
           step, lemma_error_name((LemmaErrorType)type), rc, loc.step, lemma_error_name(loc.type), solution);
}

#define B "Bob has 3 * 12 = 36 marbles.\n"
#define C "Cara has 36 - 7 = 29 marbles.\n"

static void test_rules_computation(void) {
    // C1: the arithmetic is wrong
    expect_located(&marbles, B "Cara has 36 - 7 = 28 marbles.\nTogether they have 36 + 28 = 64 marbles.\nThe answer is: 64",
                   1, LEMMA_ERR_CALCULATION);
    // C2: the same operands, another operator; in a conversion step
    expect_located(&marbles, "Bob has 3 + 12 = 15 marbles.\nCara has 15 - 7 = 8 marbles.\nThe answer is: 23", 0, LEMMA_ERR_OPERATOR);
    expect_located(&eggs, "Eli has 3 + 12 = 15 eggs.\nEli now has 15 - 5 = 10 eggs.\nThe answer is: 10", 0,
                   LEMMA_ERR_UNIT_CONVERSION);
    // C3: a right computation with a value that was never worked out
    expect_located(&marbles, B "Together they have 36 + 29 = 65 marbles.\nThe answer is: 65", 1, LEMMA_ERR_MISSING_STEP);
    // C4: a term counted twice
    expect_located(&marbles, B C "Together they have 36 + 29 + 29 = 94 marbles.\nThe answer is: 94", 2, LEMMA_ERR_COUNTING);
    // C5: one operand replaced
    expect_located(&eggs, "Eli has 3 * 10 = 30 eggs.\nEli now has 30 - 5 = 25 eggs.\nThe answer is: 25", 0,
                   LEMMA_ERR_UNIT_CONVERSION);
    expect_located(&marbles, "Cara has 12 - 7 = 5 marbles.\nTogether they have 12 + 5 = 17 marbles.\nThe answer is: 17", 0,
                   LEMMA_ERR_MISSING_STEP);
    expect_located(&marbles, B "Cara has 63 - 7 = 56 marbles.\nThe answer is: 92", 1, LEMMA_ERR_PREVIOUS_STEP_VALUE);
    expect_located(&marbles, "Bob has 3 * 20 = 60 marbles.\nThe answer is: 113", 0, LEMMA_ERR_CONTEXT_VALUE);
    expect_located(&marbles, "Bob has 3 * 21 = 63 marbles.\nThe answer is: 119", 0, LEMMA_ERR_CONTEXT_VALUE);
    expect_located(&marbles, "Bob has 3 * 17 = 51 marbles.\nThe answer is: 95", 0, LEMMA_ERR_HALLUCINATION);
    // C6: one operand replaced and another operator
    expect_located(&marbles, B "Cara has 36 + 5 = 41 marbles.\nThe answer is: 77", 1, LEMMA_ERR_FORMULA_CONFUSION);
    // C7: several operands differ: from nowhere, or all known
    expect_located(&marbles, "Bob has 40 + 50 = 90 marbles.\nThe answer is: 90", 0, LEMMA_ERR_HALLUCINATION);
    expect_located(&marbles, "Bob has 20 * 7 = 140 marbles.\nThe answer is: 140", 0, LEMMA_ERR_FORMULA_CONFUSION);
}

static void test_rules_answer(void) {
    // a right solution, a right one in other words and order: nothing to locate
    expect_located(&marbles, marbles.p.solution, 0, -1);
    expect_located(&marbles, "Bob: 12 * 3 = 36.\nCara: 36 - 7 = 29.\nBoth: 29 + 36 = 65.\nThe answer is: 65", 0, -1);
    // A1: no computation and no answer; an answer that is no number
    expect_located(&marbles, "I like turtles.", 0, LEMMA_ERR_NONSENSE_OUTPUT);
    expect_located(&marbles, B "The answer is: marbles", 1, LEMMA_ERR_NONSENSE_OUTPUT);
    expect_located(&marbles, "zq 50 $$ k\nxx", 1, LEMMA_ERR_NONSENSE_OUTPUT);
    expect_located(&marbles, "The answer is: 50", 0, LEMMA_ERR_MISSING_STEP);
    // A2: another quantity answered (without "The answer is" the grader takes the last number)
    expect_located(&marbles, B "The answer is: 36", 1, LEMMA_ERR_QUESTION_MISINTERPRETATION);
    expect_located(&marbles, B C "The answer is: 12", 2, LEMMA_ERR_QUESTION_MISINTERPRETATION);
    expect_located(&marbles, B C, 1, LEMMA_ERR_QUESTION_MISINTERPRETATION);
    // A3: the asked quantity never computed
    expect_located(&marbles, B C "The answer is: 50", 2, LEMMA_ERR_MISSING_STEP);
    // A4: the answer disagrees with the result above
    expect_located(&marbles, B C "Together they have 36 + 29 = 65 marbles.\nThe answer is: 66", 3, LEMMA_ERR_CONTRADICTORY_STEP);
    // no reference: the arithmetic, an earlier result answered, the last result (cannot tell)
    expect_located(&bare, "2 + 3 = 6\n6 + 2 = 8\nThe answer is: 8", 0, LEMMA_ERR_CALCULATION);
    expect_located(&bare, "2 + 3 = 5\n5 + 1 = 6\nThe answer is: 5", 2, LEMMA_ERR_QUESTION_MISINTERPRETATION);
    expect_located(&bare, "2 + 3 = 5\n5 + 1 = 6\nThe answer is: 7.5", 2, LEMMA_ERR_CONTRADICTORY_STEP);
    expect_located(&bare, "2 + 3 = 5\n5 + 1 = 6\nThe answer is: 6", 0, -1);
    expect_located(&bare, "", 0, -1);
}

static void test_location_details(void) {
    const char *sol = B "Cara has 36 - 7 = 28 marbles.\nThe answer is: 64";
    LemmaLocation loc;
    EXPECT(lemma_locate(&marbles, sol, &loc) == 0, "not located");
    EXPECT(loc.start == strlen(B) && loc.end == strlen(B) + strlen("Cara has 36 - 7 = 28 marbles."),
           "span %zu..%zu", loc.start, loc.end);
    EXPECT(strcmp(loc.explanation, "36 - 7 is 29, not 28.") == 0, "explanation '%s'", loc.explanation);
    EXPECT(loc.produced[0] && !loc.produced[1] && !loc.produced[2], "produced %d %d %d", loc.produced[0], loc.produced[1],
           loc.produced[2]);
    char *cont = lemma_continuation(&marbles, &loc);
    EXPECT(cont && strcmp(cont, C "Together they have 36 + 29 = 65 marbles.\nThe answer is: 65") == 0, "continuation '%s'", cont);
    free(cont);
    // the skipped step comes first in the continuation
    EXPECT(lemma_locate(&marbles, "Cara has 12 - 7 = 5 marbles.", &loc) == 0, "not located");
    cont = lemma_continuation(&marbles, &loc);
    EXPECT(cont && strncmp(cont, B C, strlen(B C)) == 0, "continuation '%s'", cont);
    EXPECT(strstr(loc.explanation, "skipped") != NULL, "explanation '%s'", loc.explanation);
    free(cont);
    EXPECT(lemma_locate(&marbles, B "The answer is: 36", &loc) == 0 && loc.at_answer, "at the answer");
    EXPECT(strstr(loc.explanation, "How many marbles do Bob and Cara have together?") != NULL, "'%s'", loc.explanation);
    EXPECT(lemma_location_at(sol, 1, &loc) == 0 && loc.start == strlen(B), "location_at");
    EXPECT(lemma_location_at(sol, 3, &loc) != 0, "location_at out of range");
}

static void test_records(void) {
    const char *wrong = B "Cara has 36 - 7 = 28 marbles.\nTogether they have 36 + 28 = 64 marbles.\nThe answer is: 64";
    LemmaLocation loc;
    lemma_locate(&marbles, wrong, &loc);
    char *cont = lemma_continuation(&marbles, &loc);
    LemmaErrorCase c = {&marbles, wrong, &loc, cont, marbles.p.solution, "Wait, let me check this step again.", "[BACK]", 1, 1};
    LemmaRecord r;
    const char *fix = B "Cara has 36 - 7 = 28 marbles.\nWait, let me check this step again. 36 - 7 is 29, not 28.\n" C
                        "Together they have 36 + 29 = 65 marbles.\nThe answer is: 65";
    EXPECT(lemma_make_record(&c, LEMMA_KIND_FIX, &r) == 0 && strcmp(r.response, fix) == 0, "fix:\n%s", r.response);
    EXPECT(strcmp(r.prompt, "Question: Ann has 12 marbles. Bob has 3 times as many marbles as Ann. Cara has 7 fewer marbles "
                            "than Bob. Dan has 20 marbles. How many marbles do Bob and Cara have together?\nAnswer: ") == 0,
           "prompt '%s'", r.prompt);
    EXPECT(lemma_record_answer_ok(&r, "65") && r.error_type == LEMMA_ERR_CALCULATION && r.error_step == 1, "fix fields");
    lemma_record_free(&r);
    EXPECT(lemma_make_record(&c, LEMMA_KIND_RESTART, &r) == 0 &&
               strstr(r.response, "28 marbles.\nWait, let me check this step again. Let me solve the problem again from the "
                                  "start.\n" B C) != NULL, "restart:\n%s", r.response);
    lemma_record_free(&r);
    EXPECT(lemma_make_record(&c, LEMMA_KIND_RETRY, &r) == 0 &&
               strcmp(r.response, B "Cara has 36 - 7 = 28 marbles. [BACK]\n" C "Together they have 36 + 29 = 65 marbles.\n"
                                    "The answer is: 65") == 0, "retry:\n%s", r.response);
    lemma_record_free(&r);
    EXPECT(lemma_make_record(&c, LEMMA_KIND_LEMA, &r) == 0 && strstr(r.prompt, "The answer is: 64\n\nFind the first") &&
               strncmp(r.response, "Incorrect step: step 2.\nExplanation: 36 - 7 is 29, not 28.\nCorrect solution:\n" B C, 90) == 0 &&
               r.input && strstr(r.prompt, r.input), "lema:\n%s\n---\n%s", r.prompt, r.response);
    lemma_record_free(&r);
    c.truncate = 0; // the ablation: the whole wrong solution stays before the reflection
    EXPECT(lemma_make_record(&c, LEMMA_KIND_FIX, &r) == 0 && strstr(r.response, "= 64 marbles.\nThe answer is: 64\nWait,") &&
               lemma_record_answer_ok(&r, "65"), "fix without truncation:\n%s", r.response);
    lemma_record_free(&r);
    c.continuation = NULL;
    EXPECT(lemma_make_record(&c, LEMMA_KIND_FIX, &r) != 0, "fix without a continuation");
    free(cont);
}

static void test_reading(void) {
    LemmaComp c;
    LemmaExprSpans sp;
    EXPECT(lemma_parse_expr("48/2", &c, &sp) == 0 && c.n == 2 && c.ops[0] == '/' && c.v[0] == 48 && sp.op_start[0] == 2, "48/2");
    EXPECT(lemma_parse_expr("(3 + 4) * 12", &c, NULL) == 0 && c.n == 3 && c.ops[0] == '+' && c.ops[1] == '*', "parens");
    EXPECT(lemma_parse_expr("0.2 x 50", &c, NULL) == 0 && c.n == 2 && c.ops[0] == '*' && lemma_num_eq(c.v[0], 0.2L), "x");
    EXPECT(lemma_parse_expr("$5 + $3", &c, NULL) == 0 && c.n == 2, "dollars");
    EXPECT(lemma_parse_expr("-4 + 10", &c, NULL) == 0 && c.v[0] == -4, "sign");
    EXPECT(lemma_parse_expr("10%", &c, NULL) != 0 && lemma_parse_expr("x + 4", &c, NULL) != 0 &&
               lemma_parse_expr("3 +", &c, NULL) != 0, "not expressions");
    long double v;
    EXPECT(lemma_eval_expr("(3 + 4) * 12", &v) == 0 && v == 84, "eval");
    char buf[32];
    lemma_num_format(84, buf, sizeof buf);
    EXPECT(!strcmp(buf, "84"), "%s", buf);
    lemma_num_format(10.0L / 3, buf, sizeof buf);
    EXPECT(!strcmp(buf, "3.3333"), "%s", buf);
    lemma_num_format(2.5L, buf, sizeof buf);
    EXPECT(!strcmp(buf, "2.5"), "%s", buf);
    long double st[16];
    int n = lemma_stated_numbers("Ann has 1,200 dollars, twice as much as Bob. Half of it, 2.5 each.", st, 16);
    EXPECT(n == 3 && st[0] == 1200 && st[1] == 2 && lemma_num_eq(st[2], 2.5L), "stated: %d", n);
    EXPECT(lemma_digits_reordered(12, 21) && lemma_digits_reordered(123, 312) && !lemma_digits_reordered(12, 12) &&
               !lemma_digits_reordered(5, 5) && !lemma_digits_reordered(12, 13), "digits reordered");
    LemmaSteps s;
    const char *text = "  Bob has 3.\n\nCara has 4.\nThe answer is: 7\n";
    lemma_steps_split(text, &s);
    EXPECT(s.vr.n_steps == 3 && s.start[0] == 2 && s.end[0] == 12 && s.start[1] == 14 && s.answer_step == 2, "steps %d", s.vr.n_steps);
    lemma_steps_free(&s);
    for (int e = 0; e < LEMMA_N_ERRORS; e++)
        EXPECT(lemma_error_parse(lemma_error_name((LemmaErrorType)e)) == e && lemma_error_describe((LemmaErrorType)e)[0], "%d", e);
    for (int k = 0; k < LEMMA_N_KINDS; k++) EXPECT(lemma_kind_parse(lemma_kind_name((LemmaKind)k)) == k, "%d", k);
    EXPECT(lemma_error_parse("typo_error") < 0 && lemma_kind_parse("sft") < 0, "unknown names");
}

static void test_phrases(void) {
    LemmaPhrases p;
    lemma_phrases_builtin(&p);
    EXPECT(p.n >= 10 && p.n <= 14, "%d built-in phrases", p.n);
    for (int i = 0; i < p.n; i++) EXPECT(!strpbrk(p.items[i], "0123456789=") && strlen(p.items[i]) > 10, "'%s'", p.items[i]);
    lemma_phrases_free(&p);
    char path[] = "/tmp/lemma_phrases_XXXXXX", err[512];
    int fd = mkstemp(path);
    FILE *f = fdopen(fd, "w");
    fprintf(f, "# ours\n\nHold on.\n  Let me look again.  \n");
    fclose(f);
    EXPECT(lemma_phrases_load(&p, path, err, sizeof err) == 0 && p.n == 2 && !strcmp(p.items[1], "Let me look again."),
           "file: %s", err);
    lemma_phrases_free(&p);
    f = fopen(path, "w");
    fprintf(f, "Fine.\nCheck step 3 = wrong.\n");
    fclose(f);
    EXPECT(lemma_phrases_load(&p, path, err, sizeof err) == 2 && strstr(err, ":2: "), "digits: %s", err);
    f = fopen(path, "w");
    fprintf(f, "# nothing\n");
    fclose(f);
    EXPECT(lemma_phrases_load(&p, path, err, sizeof err) == 2 && strstr(err, "no reflection phrase"), "empty: %s", err);
    unlink(path);
    EXPECT(lemma_phrases_load(&p, path, err, sizeof err) == 2 && strstr(err, "cannot read"), "missing: %s", err);
}

static void test_model_teacher_text(void) {
    TeacherPrompts p;
    char err[512];
    EXPECT(teacher_prompts_load(&p, "configs/prompts", err, sizeof err) == 0, "%s", err);
    const char *names[] = {"question", "gold", "solution", "error_types", "reference", "error_type", "error_description",
                           "wrong_step", "explanation"};
    const char *vals[] = {"Q?", "7", "Step 1: x", "- a: b", "R", "calculation_error", "d", "2", "E."};
    const char *tm[] = {p.locate, p.inject, p.correct};
    for (int i = 0; i < 3; i++) {
        char *f = tm[i] ? teacher_prompt_fill(tm[i], names, vals, 9) : NULL;
        EXPECT(f && !strchr(f, '{') && strstr(f, "Q?"), "template %d: %s", i, f ? f : "(null)");
        free(f);
    }
    teacher_prompts_free(&p);
    EXPECT(teacher_prompt_fill("a {question} {nope}", names, vals, 1) == NULL, "unknown placeholder");
    char *f = teacher_prompt_fill("{question} {x y} {", names, vals, 1);
    EXPECT(f && !strcmp(f, "Q? {x y} {"), "braces that are no placeholder: %s", f);
    free(f);
    int step;
    LemmaErrorType type;
    char expl[128];
    EXPECT(teacher_parse_locate("Sure.\nWrong step: 2\nError type: operator_error\nExplanation: It adds.\n", 3, &step, &type,
                                expl, sizeof expl) == 0 && step == 1 && type == LEMMA_ERR_OPERATOR && !strcmp(expl, "It adds."),
           "locate parse");
    EXPECT(teacher_parse_locate("Wrong step: 5\nError type: operator_error\n", 3, &step, &type, expl, sizeof expl) != 0,
           "step out of range");
    EXPECT(teacher_parse_locate("Wrong step: 1\nError type: typo\n", 3, &step, &type, expl, sizeof expl) != 0, "bad label");
    char *sol;
    EXPECT(teacher_parse_inject("A 1 + 1 = 3.\nThe answer is: 3\nWrong step: 1\nExplanation: Off by one.", &sol, &step, expl,
                                sizeof expl) == 0 && step == 0 && !strcmp(sol, "A 1 + 1 = 3.\nThe answer is: 3"), "inject parse");
    free(sol);
    EXPECT(teacher_parse_inject("A 1 + 1 = 3.\nWrong step: 1", &sol, &step, expl, sizeof expl) != 0, "inject without answer");
    char *cont;
    EXPECT(teacher_parse_correct("B 2 + 5 = 7.\nThe answer is: 7\nMore text", "7", &cont) == 0 &&
               !strcmp(cont, "B 2 + 5 = 7.\nThe answer is: 7"), "correct parse");
    free(cont);
    EXPECT(teacher_parse_correct("The answer is: 8", "7", &cont) == -2 && teacher_parse_correct("no answer", "7", &cont) == -1,
           "correct wrong / unparsed");
}

int main(void) {
    load_question(marbles_json, &marbles);
    load_question(eggs_json, &eggs);
    load_question(bare_json, &bare);
    RUN_TEST(test_rules_computation);
    RUN_TEST(test_rules_answer);
    RUN_TEST(test_location_details);
    RUN_TEST(test_records);
    RUN_TEST(test_reading);
    RUN_TEST(test_phrases);
    RUN_TEST(test_model_teacher_text);
    lemma_question_free(&marbles), lemma_question_free(&eggs), lemma_question_free(&bare);
    TEST_EXIT();
}
