// tests/unit/test_tasks_verify: the step verifier on hand-written steps (operators,
// precedence, chains, rounding, annotations, things that must not be checked), step and
// sentence splitting, and exact numbers.
#include "harness.h"
#include "lemma/tasks.h"

#include <stdlib.h>
#include <string.h>

typedef struct {
    const char *text;
    int n_checks, n_wrong;
} StepCase;

// Checks and wrong checks worked out by hand.
static const StepCase step_cases[] = {
    {"Bob has 3 * 12 = 36 marbles.", 1, 0},
    {"Bob has 3 * 12 = 35 marbles.", 1, 1},
    {"Together they have 36 + 29 = 65 marbles.", 1, 0},
    {"2 * (3 + 4) = 14", 1, 0},
    {"2 * 3 + 4 = 10", 1, 0},
    {"2 * 3 + 4 = 14", 1, 1},
    {"(2 + 3) * 4 = 20", 1, 0},
    {"10 - 2 - 3 = 5", 1, 0},
    {"24 / 4 / 2 = 3", 1, 0},
    {"2^3 = 8", 1, 0},
    {"<<560//10=56>>", 1, 0},          // floor division, as GSM8K's calculator wrote it
    {"7 // 2 = 3", 1, 0},
    {"-7 // 2 = -4", 1, 0},
    {"7 // 2 = 3.5", 1, 1},
    {"2 ** 10 = 1024", 1, 0},
    {"-3 + 5 = 2", 1, 0},
    {"5 - -3 = 8", 1, 0},
    {"3 x 4 = 12", 1, 0},
    {"3 \xc3\x97 4 = 12", 1, 0},       // ×
    {"12 \xc3\xb7 4 = 3", 1, 0},       // ÷
    {"5 \xe2\x88\x92 2 = 3", 1, 0},    // − (minus sign)
    {"5 \xe2\x80\x93 2 = 3", 1, 0},    // – (en dash)
    {"$1,000 + $500 = $1,500", 1, 0},
    {"1,000 * 3 = 3,000", 1, 0},
    {"0.2 * 50 = 10", 1, 0},
    {"12/60 = 0.2", 1, 0},
    {"10 / 3 = 3.33", 1, 0},           // rounded to the digits written
    {"2 / 3 = 0.67", 1, 0},
    {"2 / 3 = 0.6", 1, 0},             // truncated: within one unit of the last digit
    {"2 / 3 = 0.5", 1, 1},
    {"10 / 3 = 3", 1, 1},              // an integer result must be exact
    {"7 / 2 = 3.5", 1, 0},
    {"1/2 + 1/4 = 3/4", 1, 0},
    {"25 / 1/3 = 75", 1, 0},           // a tight fraction is one number
    {"12/4/3 = 1", 1, 0},              // but a tight chain divides left to right
    {"2(6+12) = 36", 1, 0},            // implicit multiplication
    {"3 + 4 = 7 = 7", 1, 0},           // the bare pair 7 = 7 is not a computation
    {"3 + 4 = 7 + 0 = 7", 2, 0},
    {"$3/2 = $1.50 + $3.00 = $4.50", 1, 0}, // running total: the middle pair is not a claim
    {"2 + 2 = 5 = 5", 1, 1},
    {"<<48/2=24>>", 1, 0},
    {"Natalia sold 48/2 = <<48/2=24>>24 clips in May.", 1, 0}, // annotations only
    {"<<48/2=25>>25", 1, 1},
    {"<<3/4=3/4>>", 1, 0},
    {"The answer is: 65", 0, 0},
    {"Ann has 12 marbles.", 0, 0},
    {"20% of 50 = 10", 0, 0},          // '%' inside arithmetic is not checked
    {"50 * 20% = 10", 0, 0},
    {"x + 4 = 32 - 7", 0, 0},          // a variable on the left
    {"3x = 12", 0, 0},
    {"26 = 5 + 3x", 0, 0},
    {"7 / 0 = 3", 0, 0},               // no value
    {"0900 - 0130 = 0730", 0, 0},      // times, not numbers
    {"4 / 3 = 1 and 1/3", 0, 0},       // a mixed number in words
    {"10% of 150 = 15", 0, 0},
    {"100 / 6 = 16 and (2/3)", 0, 0},
    {"\xc2\xbe x 3/3 = 9/12", 1, 0},     // ¾
    {"2 * \xc2\xbd = 1", 1, 0},          // ½
    {"the cost of 3 + 4 = 7", 1, 0},   // "of" with no number before it joins nothing
    {"2 + 1 1/2 = 3 1/2", 0, 0},
    {"$80 000 x 20/100 = $16 000", 0, 0}, // spaces as thousands separators
    {"Remaining 10 = 62,300/10 = $6230", 1, 0}, // a label, then a computation
    {"(2 + 3 = 5)", 1, 0},
    {"He has 5 - 2 = 3 apples and 4 + 1 = 6 pears", 2, 1},
    // GSM8K calculator results with float64 noise: equal at the precision they show
    {"<<7/3=2.3333333333333335>>", 1, 0},
    {"<<1.87*9=16.830000000000002>>", 1, 0},
    {"<<7/3=2.3333333333343>>", 1, 1},     // off in the 12th digit
    {"<<7/3=2.3333333333343335>>", 1, 1},  // 17 digits, but off beyond float64 noise
    // LaTeX: the equations inside math delimiters, read whole by the expression engine
    {"We have $4\\cdot 5^3+2\\cdot 5^2+1\\cdot 5^1+0\\cdot 5^0=4\\cdot 125+2\\cdot 25+5=555$.", 2, 0},
    {"We have $4\\cdot 5^3+\\dots+0\\cdot 5^0=4\\cdot 125$.", 0, 0}, // not a whole equation: no fragment
    {"So $\\frac{1}{2}\\times 8 = 5$ and $3^2 = 9$.", 2, 1},
    {"Then $\\sqrt{16} = 4$ and $\\frac{6}{8} = \\frac34$.", 2, 0},
    {"\\(2^{10} = 1024\\), \\[12 \\div 4 = 3\\]", 2, 0},
    {"Let $x + 3 = 5$, so $x = 2$.", 0, 0},   // variables: nothing to evaluate
    {"The area is $2 \\times 3 = 6 \\text{ cm}^2$.", 0, 0}, // words refuse the side
    {"$\\frac{1}{3} = 0.33$", 1, 0},       // a rounded decimal within its last digit
    {"$\\frac{1}{3} = 0.35$", 1, 1},
    {"$1,000 + $500 = $1,500", 1, 0},        // currency, not math: the plain-text reader
};

static void test_step_cases(void) {
    for (size_t i = 0; i < sizeof step_cases / sizeof step_cases[0]; i++) {
        const StepCase *c = &step_cases[i];
        VerifyCheck *checks;
        int n = verify_text(c->text, &checks, NULL), wrong = 0;
        for (int k = 0; k < n; k++) wrong += !checks[k].ok;
        EXPECT(n == c->n_checks && wrong == c->n_wrong, "case %zu '%s': %d checks (%d wrong), want %d (%d)",
               i, c->text, n, wrong, c->n_checks, c->n_wrong);
        verify_checks_free(checks, n);
    }
}

static void test_check_fields(void) {
    VerifyCheck *c;
    int ann = -1;
    int n = verify_text("Weng earns 12/60 = $<<12/60=0.2>>0.2 per minute.", &c, &ann);
    EXPECT(n == 1 && ann == 1, "n=%d ann=%d", n, ann);
    if (n == 1) {
        EXPECT(strcmp(c[0].expr, "12/60") == 0 && strcmp(c[0].stated, "0.2") == 0, "'%s' '%s'", c[0].expr,
               c[0].stated);
        EXPECT(c[0].value.exact && c[0].value.p == 1 && c[0].value.q == 5, "value 1/5");
    }
    verify_checks_free(c, n);
    n = verify_text("So 7 * 8 = 54.", &c, &ann);
    EXPECT(n == 1 && ann == 0 && !c[0].ok && c[0].value.p == 56 && c[0].stated_val.p == 54, "7*8=54");
    verify_checks_free(c, n);
}

static void test_solution_steps(void) {
    const char *sol = "Bob has 3 * 12 = 36 marbles.\n\nCara has 36 - 7 = 28 marbles.\n"
                      "Together they have 36 + 28 = 64 marbles.\nThe answer is: 64";
    VerifyResult r;
    verify_solution(sol, 0, &r);
    EXPECT(r.n_steps == 4, "steps %d (the blank line is not a step)", r.n_steps);
    EXPECT(r.first_wrong == 1, "first wrong %d", r.first_wrong);
    EXPECT(r.n_ok == 2 && r.n_wrong == 1 && r.n_none == 1, "ok %d wrong %d none %d", r.n_ok, r.n_wrong, r.n_none);
    if (r.n_steps == 4) {
        EXPECT(r.steps[1].line == 2 && r.steps[3].line == 4, "lines %d %d", r.steps[1].line, r.steps[3].line);
        EXPECT(r.steps[1].verdict == VERIFY_WRONG && r.steps[2].verdict == VERIFY_OK, "verdicts");
        EXPECT(strcmp(r.steps[1].text, "Cara has 36 - 7 = 28 marbles.") == 0, "text '%s'", r.steps[1].text);
    }
    verify_result_free(&r);
}

static void test_sentences(void) {
    const char *sol = "Mr. Smith has 2 * 3 = 6 pens. He gives away 6 - 2 = 4 pens. So 4 + 1 = 5!\n#### 5";
    VerifyResult r;
    verify_solution(sol, VERIFY_SENTENCES, &r);
    EXPECT(r.n_steps == 4, "steps %d", r.n_steps);
    EXPECT(r.n_ok == 3 && r.n_none == 1, "ok %d none %d", r.n_ok, r.n_none);
    if (r.n_steps == 4) EXPECT(strncmp(r.steps[0].text, "Mr. Smith", 9) == 0, "'%s'", r.steps[0].text);
    verify_result_free(&r);
    verify_solution("It costs $1.50. Then 1.5 * 2 = 3.", VERIFY_SENTENCES, &r);
    EXPECT(r.n_steps == 2 && r.n_ok == 1, "decimal point is not a sentence end: %d steps", r.n_steps);
    verify_result_free(&r);
    verify_solution("He paid 12 * 2 = <<12*2=24>>24. That is 24. b. c", VERIFY_SENTENCES, &r);
    EXPECT(r.n_steps == 2 && r.n_ok == 1, "lowercase after a period continues: %d steps", r.n_steps);
    verify_result_free(&r);
}

static void test_robust_inputs(void) {
    char deep[2200];
    memset(deep, '(', 1000);
    strcpy(deep + 1000, "1");
    memset(deep + 1001, ')', 1000);
    strcpy(deep + 2001, " = 1 + 0");
    VerifyCheck *c;
    int n = verify_text(deep, &c, NULL);
    EXPECT(n == 0, "a very deep nesting is not checked (%d)", n);
    verify_checks_free(c, n);
    n = verify_text("9^9^9 = 1 + 1", &c, NULL);
    EXPECT(n == 0, "an overflowing power has no value (%d)", n);
    verify_checks_free(c, n);
    n = verify_text("<<unclosed 1+1=2", &c, NULL);
    EXPECT(n == 1 && c[0].ok, "an unclosed annotation falls back to the text (%d)", n);
    verify_checks_free(c, n);
    VerifyResult r;
    verify_solution("", 0, &r);
    EXPECT(r.n_steps == 0 && r.first_wrong == -1, "empty");
    verify_result_free(&r);
}

static void test_num(void) {
    TasksNum a = tasks_num_ratio(6, -8), b;
    EXPECT(a.exact && a.p == -3 && a.q == 4, "6/-8 = %lld/%lld", (long long)a.p, (long long)a.q);
    EXPECT(tasks_num_apply('/', a, tasks_num_int(0), &b) == -1, "division by zero");
    EXPECT(tasks_num_apply('^', tasks_num_int(2), tasks_num_int(-2), &b) == 0 && b.p == 1 && b.q == 4, "2^-2");
    TasksNum big = tasks_num_int(3000000000000000000LL);
    EXPECT(tasks_num_apply('*', big, big, &b) == 0 && !b.exact && b.v > 8.9e36L && b.v < 9.1e36L, "overflow to long double");
    char buf[64];
    tasks_num_format(tasks_num_ratio(-10, 3), buf, sizeof buf);
    EXPECT(strcmp(buf, "-10/3") == 0, "format %s", buf);
    int dec;
    size_t len = tasks_num_scan("1,234.50 apples", 15, &b, &dec);
    EXPECT(len == 8 && dec == 2 && b.p == 2469 && b.q == 2, "scan len %zu dec %d", len, dec);
    len = tasks_num_scan("12,34", 5, &b, &dec);
    EXPECT(len == 2 && b.p == 12, "not a thousands group: len %zu", len);
    EXPECT(tasks_num_close(tasks_num_ratio(1, 3), tasks_num_ratio(3333, 10000), 1e-4), "1/3 ~ 0.3333");
    EXPECT(!tasks_num_close(tasks_num_ratio(1, 3), tasks_num_ratio(333, 1000), 1e-4), "1/3 !~ 0.333");
}

int main(void) {
    RUN_TEST(test_step_cases);
    RUN_TEST(test_check_fields);
    RUN_TEST(test_solution_steps);
    RUN_TEST(test_sentences);
    RUN_TEST(test_robust_inputs);
    RUN_TEST(test_num);
    TEST_EXIT();
}
