// tests/unit/test_tasks_grade: answer extraction from completions (rule order and edge
// cases) and the equivalence policy, as hand-written (prediction, gold, equal?) cases.
#include "harness.h"
#include "lemma/tasks.h"

#include <stdlib.h>
#include <string.h>

// The rule that found an answer, by name (for messages).
static const char *grade_source_name(GradeSource s) {
    static const char *names[] = {"none", "boxed", "answer_is", "hashes", "answer_section", "last_number"};
    return (unsigned)s < sizeof names / sizeof names[0] ? names[s] : "?";
}

typedef struct {
    const char *pred, *gold;
    int equal;
} EqCase;

// Written by hand from the policy in docs/tasks.md, not from the code's output.
static const EqCase eq_cases[] = {
    // the issue's cases
    {"1,000", "1000", 1},
    {"0.5", "1/2", 1},
    {"$18.00", "18", 1},
    {"-3", "3", 0},
    {"\\frac{1}{3}", "0.3333", 0}, // rationals are compared exactly
    // integers and signs
    {"42", "42", 1},
    {"42", "43", 0},
    {"+7", "7", 1},
    {"-7", "-7", 1},
    {"- 7", "-7", 1},
    {"\xe2\x88\x92" "7", "-7", 1}, // Unicode minus
    {"0", "0", 1},
    {"0", "-0", 1},
    {"0", "0.00001", 0},
    {"007", "7", 1},
    // thousands separators
    {"1,234,567", "1234567", 1},
    {"12,345.5", "12345.5", 1},
    {"1,00", "100", 0},
    {"10,000", "10000", 1},
    // decimals
    {"0.50", ".5", 1},
    {"5.", "5", 1},
    {"2.5", "2.50", 1},
    {"3.14159", "3.1416", 0}, // two different rationals
    {"3.14", "3.1416", 0},    // 5e-4 off
    {"100000", "100001", 0},  // integers exactly
    {"10000", "10001", 0},
    {"1000", "1001", 0},      // 1/1001 > 1e-4
    // fractions
    {"3/4", "0.75", 1},
    {"\\frac{3}{4}", "0.75", 1},
    {"\\dfrac{3}{4}", "3/4", 1},
    {"\\tfrac{3}{4}", "0.75", 1},
    {"\\frac34", "0.75", 1},
    {"-\\frac{1}{2}", "-0.5", 1},
    {"\\frac{-1}{2}", "-1/2", 1},
    {"6/8", "3/4", 1},
    {"1/3", "0.333", 0},
    {"2/0", "2", 0},
    {"\\frac{1}{3}", "0.33", 0},
    // percent: as written or divided by 100 (50% == 50, 50% == 0.5)
    {"50%", "50", 1},
    {"50\\%", "50", 1},
    {"50%", "0.5", 1},
    {"0.5", "50%", 1},
    {"50%", "5", 0},
    {"12.5 %", "12.5", 1},
    // currency and units
    {"$1,250", "1250", 1},
    {"\\$5", "5", 1},
    {"\xe2\x82\xac" "20", "20", 1}, // euro sign
    {"\xc2\xa3" "3.50", "3.5", 1},  // pound sign
    {"18 dollars", "18", 1},
    {"36 marbles", "36", 1},
    {"45 minutes", "45", 1},
    {"12 km/h", "12", 1},
    {"90^\\circ", "90", 1},
    {"90\xc2\xb0", "90", 1},
    // LaTeX wrappers
    {"\\boxed{42}", "42", 1},
    {"$\\boxed{42}$", "42", 1},
    {"\\text{42 apples}", "42", 1},
    {"\\left( 3 \\right)", "3", 1}, // one number in parentheses
    // a prediction with words around one number
    {"Bob has 36 marbles", "36", 1},
    {"x = 5", "5", 1},
    {"5 apples and 3 pears", "5", 0},
    {"5 + 3", "8", 1}, // the same value
    {"5 + 4", "8", 0},
    {"about 3", "3", 1},
    // non-numeric answers: normalized strings
    {"(1, 2)", "(1,2)", 1},
    {"x^2 + 1", "x^2+1", 1},
    {"\\dfrac{\\sqrt{3}}{2}", "\\frac{\\sqrt{3}}{2}", 1},
    {"Yes", "yes", 1},
    {"\\text{Tuesday}", "Tuesday", 1},
    {"A", "B", 0},
    {"", "", 0},
    {"   ", "5", 0},
    {"five", "5", 0},
    {"<<4*2=8>>8", "8", 1}, // GSM8K calculator annotations are dropped
    {"\\left(1,2\\right)", "(1, 2)", 1},
};

static void test_equal_cases(void) {
    int n = (int)(sizeof eq_cases / sizeof eq_cases[0]);
    EXPECT(n >= 60, "only %d cases", n);
    for (int i = 0; i < n; i++) {
        const EqCase *c = &eq_cases[i];
        int want = c->equal;
        EXPECT(grade_equal(c->pred, c->gold) == want, "case %d: '%s' vs '%s': want %s", i, c->pred,
               c->gold, want ? "equal" : "different");
    }
}

static void test_equal_is_symmetric_for_numbers(void) {
    static const char *pairs[][2] = {{"1,000", "1000"}, {"0.5", "1/2"}, {"$18.00", "18"},
                                     {"\\frac{1}{3}", "0.3333"}, {"-3", "3"}, {"50%", "0.5"}};
    for (int i = 0; i < 6; i++)
        EXPECT(grade_equal(pairs[i][0], pairs[i][1]) == grade_equal(pairs[i][1], pairs[i][0]),
               "pair %d not symmetric", i);
    EXPECT(!grade_equal(NULL, "1") && !grade_equal("1", NULL), "NULL never equals");
}

static void test_parse_number(void) {
    TasksNum v;
    EXPECT(grade_parse_number("-1,234.5", &v) && v.exact && v.p == -2469 && v.q == 2, "-1,234.5");
    EXPECT(grade_parse_number("\\frac{6}{8}", &v) && v.p == 3 && v.q == 4, "6/8 reduced");
    EXPECT(grade_parse_number("$0.20", &v) && v.p == 1 && v.q == 5, "$0.20");
    EXPECT(!grade_parse_number("12 + 3", &v), "an expression is not a number");
    EXPECT(!grade_parse_number("abc", &v), "no digits");
    EXPECT(!grade_parse_number("1.2.3", &v), "two points");
    EXPECT(grade_parse_number("123456789012345678901234567890", &v) && !v.exact &&
               v.v > 1.2e29L && v.v < 1.3e29L, "huge numbers fall back to long double");
}

typedef struct {
    const char *text, *want;
    GradeSource src;
} ExCase;

static const ExCase ex_cases[] = {
    {"Bob has 36.\nThe answer is: 36", "36", GRADE_ANSWER_IS},
    {"The answer is 42.", "42", GRADE_ANSWER_IS},
    {"THE ANSWER IS: $18.00", "$18.00", GRADE_ANSWER_IS},
    {"The answer is: 3\nWait.\nThe answer is: 5\n", "5", GRADE_ANSWER_IS},
    {"so \\boxed{\\frac{1}{2}} and the answer is:", "\\frac{1}{2}", GRADE_BOXED},
    {"first \\boxed{1} then \\boxed{2}", "2", GRADE_BOXED},
    {"unbalanced \\boxed{3", NULL, GRADE_NONE}, // LaTeX text: no last-number fallback
    {"Natalia sold 48/2 = 24 clips.\n#### 72", "72", GRADE_HASHES},
    {"#### 1,000\n", "1,000", GRADE_HASHES},
    {"She has 5 apples and 7 pears", "7", GRADE_LAST_NUMBER},
    {"the total is -12.5 now", "-12.5", GRADE_LAST_NUMBER},
    {"ratio 3/4", "3/4", GRADE_LAST_NUMBER},
    {"costs $1,250.", "1,250", GRADE_LAST_NUMBER},
    {"So $80,000 - $150,000 = $50,000.\n\nThe profit is $50,000.", "50,000", GRADE_LAST_NUMBER}, // currency, not math
    {"So $x = 5$ and the rest is 7", NULL, GRADE_NONE}, // '$' closing math: LaTeX text
    {"no numbers at all", NULL, GRADE_NONE},
    {"", NULL, GRADE_NONE},
    {"The answer is:   \n 7", "7", GRADE_LAST_NUMBER}, // an empty "answer is" falls through
    {"The answer is: \\boxed{9}", "9", GRADE_BOXED},
    {"The answer is \\(\\boxed{156}\\).", "156", GRADE_BOXED},
    {"so the answer is $\\frac{8}{21}$.", "\\frac{8}{21}", GRADE_ANSWER_IS},
    {"Final Answer: The final answer is $-\\sqrt{3}$. I hope it is correct.", "-\\sqrt{3}", GRADE_ANSWER_IS},
    {"so it is \\frac{8}{21}", NULL, GRADE_NONE},
    {"the point is (-1,6)", NULL, GRADE_NONE},
    {"We get 2\\pi", NULL, GRADE_NONE},
    {"Steps.\n\n# Answer\n\n5", "5", GRADE_ANSWER_SECTION},
};

static void test_extract(void) {
    for (size_t i = 0; i < sizeof ex_cases / sizeof ex_cases[0]; i++) {
        GradeSource src;
        char *got = grade_extract_answer(ex_cases[i].text, &src);
        const char *want = ex_cases[i].want;
        EXPECT((!got && !want) || (got && want && strcmp(got, want) == 0), "case %zu: got '%s' want '%s'",
               i, got ? got : "(null)", want ? want : "(null)");
        EXPECT(src == ex_cases[i].src, "case %zu: rule %s, want %s", i, grade_source_name(src),
               grade_source_name(ex_cases[i].src));
        free(got);
    }
}

// End to end: a completion is graded by its extracted answer.
static void test_extract_then_equal(void) {
    char *a = grade_extract_answer("Ann has 3 * 12 = 36.\nThe answer is: 36 marbles.", NULL);
    EXPECT(a && grade_equal(a, "36"), "36 marbles");
    free(a);
    a = grade_extract_answer("... so the result is \\boxed{\\dfrac{1}{4}}", NULL);
    EXPECT(a && grade_equal(a, "0.25"), "boxed dfrac");
    free(a);
}

static void test_helpers(void) {
    char *b = grade_last_boxed("x \\boxed{a{b}c} y \\fbox{z}");
    EXPECT(b && strcmp(b, "z") == 0, "fbox after boxed: %s", b ? b : "(null)");
    free(b);
    b = grade_after_hashes("a\n#### \n");
    EXPECT(!b, "empty after ####");
    free(b);
    char *n = grade_normalize(" \\left( A , B \\right) ");
    EXPECT(strcmp(n, "(a,b)") == 0, "normalize: %s", n);
    free(n);
}

int main(void) {
    RUN_TEST(test_equal_cases);
    RUN_TEST(test_equal_is_symmetric_for_numbers);
    RUN_TEST(test_parse_number);
    RUN_TEST(test_extract);
    RUN_TEST(test_extract_then_equal);
    RUN_TEST(test_helpers);
    TEST_EXIT();
}
