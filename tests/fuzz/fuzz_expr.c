// tests/fuzz/fuzz_expr: feeds random and mutated LaTeX into the expression engine
// (expr_parse, expr_str, expr_value, expr_equal) and the grader (grade_extract_answer,
// grade_equal) for a fixed number of iterations, deterministically: a seed corpus of answers
// and completions, mutated by byte edits and token insertions, plus generated stress inputs
// (deep nesting, unbalanced braces, long digit strings, exponent towers such as
// 10^{10^{10}}, \frac with missing groups, matrices with ragged rows, inputs of 4 KiB and
// just over). tests/shell/test_expr_fuzz.sh builds it twice: under AddressSanitizer and
// UBSan, where any crash, memory error, undefined behaviour or leak fails it, and optimised
// without sanitizers, where an input that takes longer than MAX_MS milliseconds of CPU time
// (all the calls on it together) fails it. Prints the slowest input and its time.
// Usage: fuzz_expr ITERATIONS [MAX_MS]   (MAX_MS: default 50; 0: no bound)
#include "fuzz_common.h"
#include "lemma/expr.h"
#include "lemma/tasks.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define FUZZ_MAX (EXPR_MAX_INPUT + 64) // a little over the engine's input bound


static FuzzRng rng = {2121, 0};
static size_t rnd_below(size_t n) { return fuzz_below(&rng, n); }

static const char *seeds[] = {
    "\\frac{1}{2}", "\\frac12", "\\frac 59", "\\frac{270}7", "\\dfrac{3}{4}", "\\tfrac{\\pi}{2}",
    "\\frac\\pi2", "-\\frac{35}{9}", "2\\frac{1}{2}", "137 \\frac{1}{2}", "0.5", ".0000672",
    "120,006", "40{,}000", "11,\\! 111,\\! 111,\\! 100", "\\$32,\\!348", "1.2\\times10^3", "1.2e3",
    "6.02 \\cdot 10^{-23}", "4210_{5}", "52_8", "50\\%", "5 \\text{ cm}", "864 \\mbox{ inches}^2",
    "90^\\circ", "2\\sqrt3", "\\sqrt[3]{8}", "3 \\pm 2 \\sqrt{2}", "\\{1\\pm\\sqrt{5},-2\\}",
    "2\\pi", "18+2\\pi", "\\frac{20000}{\\pi}", "x=5", "y = 2x + 3", "5x - 7y + 11z + 4 = 0",
    "x \\ge 3", "(x+1)^2", "x^5 - x^4 + x^3 - x^2 + x - 1", "\\sin^2 x + \\cos^2 x", "\\cot x",
    "\\frac{11+9a}{20}", "6 - 5i", "\\left( 3, \\frac{\\pi}{2} \\right)", "(-1,6)", "1, 2, 3",
    "[1,2)", "(-\\infty, 3]", "(-\\infty, 2) \\cup (3, \\infty)", "x \\in [-2,7]",
    "\\left(\\frac{3}{5},\\frac{8}{3}\\right]", "\\begin{pmatrix} -1 & 0 \\\\ 0 & -1 \\end{pmatrix}",
    "\\begin{pmatrix} -1/3 \\\\ 2/3 \\\\ 5/3 \\end{pmatrix}", "\\text{(C)}", "\\textbf{(B)}", "C",
    "\\text{Evelyn}", "\\left| -3 \\right|", "\\log_2 8", "e^{i\\pi}", "10^{10^{10}}",
    "The answer is \\(\\boxed{156}\\).",
    "so it is \\frac{8}{21}",
    "Final Answer: The final answer is $\\frac{1}{2}$. I hope it is correct.",
    "Natalia sold 48/2 = <<48/2=24>>24 clips in May.\nNatalia sold 48+24 = <<48+24=72>>72 clips.\n#### 72",
    "The sum is 2 + 3 = 5.\n\n# Answer\n\n5",
    "Thus, the final answer is \\(\\boxed{\\dfrac{\\sqrt{3}}{2}}\\).",
    "At first \\boxed{3}, then \\fbox{4} and \\boxed{\\{1, 2\\}}.",
    "She has 5 apples left, and 1,250 marbles.",
};
#define N_SEEDS ((int)(sizeof seeds / sizeof seeds[0]))

static const char *tokens[] = {
    "\\frac", "\\frac{", "\\dfrac", "\\tfrac", "{", "}", "{}", "\\sqrt", "\\sqrt[", "]", "[", "^",
    "^{", "_", "_{", "\\left(", "\\right)", "\\left[", "\\right]", "\\left\\{", "\\right\\}",
    "\\left|", "\\right|", "\\left.", "(", ")", "\\{", "\\}", ",", "{,}", ",\\!", "\\%", "%", "\\$",
    "$", "\\(", "\\)", "\\[", "\\]", "\\text{", "\\mbox{", "\\mathrm{", "\\textbf{", "\\boxed{",
    "\\fbox{", "The answer is ", "the final answer is ", "#### ", "# Answer\n\n", "\\times10^{",
    "\\cdot", "e", "e999", "e-999", "E", "99999999999999999999", "9223372036854775807",
    "-9223372036854775808", "0.", ".", "0", "=", "<", "\\le", "\\geq", "\\ne", "x", "y", "i", "\\pi",
    "\\infty", "\\sin", "\\cos", "\\log", "\\ln", "\\exp", "\\pm", "\\mp", "\\cup", "\\cap", "\\in",
    "\\begin{pmatrix}", "\\end{pmatrix}", "\\begin{bmatrix}", "&", "\\\\", "-", "+", "*", "/", "!",
    "\\", " ", "\n", "\t", "^\\circ", "\\!", "\\,", "\\;", "\\quad", "(C)", "\\text{(E)}", "\xff",
    "\xc3\x97", "\xe2\x88\x92", "\xc2\xb0", "\xe2\x80\x8b", "1/0", "0/0", "0^{-1}", "^{-1}",
};
#define N_TOKENS ((int)(sizeof tokens / sizeof tokens[0]))

static size_t append(char *buf, size_t n, const char *s) {
    size_t len = strlen(s);
    if (n + len >= FUZZ_MAX) len = FUZZ_MAX - 1 - n;
    memcpy(buf + n, s, len);
    buf[n + len] = 0;
    return n + len;
}

// A seed with 1-8 random edits.
static size_t mutate(char *buf, const char *seed) {
    return fuzz_mutate(&rng, buf, FUZZ_MAX, seed, tokens, N_TOKENS, 2);
}

static size_t random_bytes(char *buf) { return fuzz_random_bytes(&rng, buf); }

// Random tokens up to a random length (up to just over 4 KiB).
static size_t token_soup(char *buf) {
    size_t want = rnd_below(8) == 0 ? FUZZ_MAX - 1 : rnd_below(600), n = 0;
    buf[0] = 0;
    while (n < want && n < FUZZ_MAX - 1) n = append(buf, n, tokens[rnd_below(N_TOKENS)]);
    return n;
}

// The stress shapes: nesting, unbalanced groups, long numbers, exponent towers, big inputs.
static size_t stress(char *buf) {
    size_t n = 0, depth = 1 + rnd_below(rnd_below(4) == 0 ? 2000 : 100);
    buf[0] = 0;
    switch (rnd_below(16)) {
    case 0: // \frac{\frac{\frac{...}{2}}{2}}{2}
        for (size_t i = 0; i < depth; i++) n = append(buf, n, "\\frac{");
        n = append(buf, n, "1");
        for (size_t i = 0; i < depth; i++) n = append(buf, n, "}{2}");
        break;
    case 1: // ((((x))))
        for (size_t i = 0; i < depth; i++) n = append(buf, n, "(");
        n = append(buf, n, "x");
        for (size_t i = 0; i < depth; i++) n = append(buf, n, ")");
        break;
    case 2: // unbalanced braces: {{{{1
        for (size_t i = 0; i < depth; i++) n = append(buf, n, rnd_below(2) ? "{" : "\\boxed{");
        n = append(buf, n, "1");
        break;
    case 3: // unbalanced the other way: 1}}}}
        n = append(buf, n, "\\boxed{1");
        for (size_t i = 0; i < depth; i++) n = append(buf, n, "}");
        break;
    case 4: // a long digit string, maybe with a point, separators, an exponent
        n = append(buf, n, rnd_below(2) ? "-" : "");
        for (size_t i = 0; i < depth * 8 && n < FUZZ_MAX - 8; i++) {
            char d[2] = {(char)('0' + rnd_below(10)), 0};
            n = append(buf, n, d);
            if (rnd_below(50) == 0) n = append(buf, n, rnd_below(2) ? "," : ".");
        }
        if (rnd_below(2)) n = append(buf, n, rnd_below(2) ? "e99999" : "\\times10^{-99999}");
        break;
    case 5: // exponent towers: 10^{10^{10^{...}}}
        for (size_t i = 0; i < depth % 200 + 1; i++) n = append(buf, n, rnd_below(3) ? "10^{" : "x^{");
        n = append(buf, n, "10");
        for (size_t i = 0; i < depth % 200 + 1; i++) n = append(buf, n, "}");
        break;
    case 6: { // huge or awkward powers and quotients
        static const char *p[] = {"10^{10^{10}}", "2^{999999999}", "(-1)^{10^{18}}", "0^{-1}",
                                  "0^0", "1/0", "0/0", "\\frac{1}{0}", "10^{-400}", "x^{10^{10}}",
                                  "\\sqrt{-1}", "(-8)^{1/3}", "9223372036854775807+1",
                                  "-9223372036854775808/-1", "9223372036854775807*9223372036854775807",
                                  "\\frac{9223372036854775807}{9223372036854775806}-1",
                                  "(-9223372036854775808)^2", "1e308*1e308", "e^{e^{e^{e^{e}}}}",
                                  "2^{2^{2^{2^{2^{2}}}}}", "\\frac{x}{x-x}", "\\log(0)", "\\ln(-1)",
                                  "\\tan(\\pi/2)", "99999999999999999999_{2}", "12_{1}", "12_{0}",
                                  "12_{99}", "4210_{-5}", "1\\frac{1}{0}", "50\\%\\%\\%",
                                  "\\sqrt[0]{2}", "\\sqrt[-1]{0}", "\\sqrt[10^{10}]{2}"};
        n = append(buf, n, p[rnd_below(sizeof p / sizeof p[0])]);
        break;
    }
    case 7: { // \frac / \sqrt with missing groups
        static const char *p[] = {"\\frac", "\\frac{", "\\frac{1}", "\\frac{1}{", "\\frac1",
                                  "\\frac{}{}", "\\frac{1}{}", "\\frac\\frac\\frac", "\\dfrac12345",
                                  "\\sqrt", "\\sqrt[", "\\sqrt[3]", "\\sqrt{}", "\\sqrt[]{}", "^",
                                  "^{", "_", "2^", "2_", "\\left(", "\\right)", "\\begin{pmatrix}",
                                  "\\end{pmatrix}", "\\text{", "\\boxed{", "\\boxed", "\\", "{}"};
        for (size_t i = 0; i < depth % 40 + 1; i++) n = append(buf, n, p[rnd_below(sizeof p / sizeof p[0])]);
        break;
    }
    case 8: { // matrices: ragged, wide, tall, nested
        size_t rows = 1 + rnd_below(60), cols = 1 + rnd_below(60);
        n = append(buf, n, "\\begin{pmatrix}");
        for (size_t r = 0; r < rows; r++) {
            size_t c_here = rnd_below(4) ? cols : 1 + rnd_below(cols + 2);
            for (size_t c = 0; c < c_here; c++) {
                n = append(buf, n, rnd_below(20) ? "1" : "\\begin{pmatrix}1&2\\end{pmatrix}");
                if (c + 1 < c_here) n = append(buf, n, "&");
            }
            if (r + 1 < rows) n = append(buf, n, "\\\\");
        }
        if (rnd_below(4)) n = append(buf, n, "\\end{pmatrix}");
        break;
    }
    case 9: // long lists, sets, tuples
        n = append(buf, n, rnd_below(3) == 0 ? "\\{" : rnd_below(2) ? "(" : "");
        for (size_t i = 0; i < depth * 4 && n < FUZZ_MAX - 8; i++) {
            n = append(buf, n, seeds[rnd_below(20)]);
            n = append(buf, n, ", ");
        }
        n = append(buf, n, "1\\}");
        break;
    case 10: // long sums and products of variables (evaluation cost)
        for (size_t i = 0; i < depth * 4 && n < FUZZ_MAX - 16; i++) {
            n = append(buf, n, rnd_below(2) ? "(x+y)^{9}" : "\\sin(x)^{99}");
            n = append(buf, n, rnd_below(2) ? "+" : "*");
        }
        n = append(buf, n, "z");
        break;
    case 11: // deep \sqrt and \left( nesting
        for (size_t i = 0; i < depth; i++) n = append(buf, n, rnd_below(2) ? "\\sqrt{" : "\\left(");
        n = append(buf, n, "2");
        for (size_t i = 0; i < depth; i++) n = append(buf, n, rnd_below(2) ? "}" : "\\right)");
        break;
    case 12: // many boxes and answer phrases in one completion
        for (size_t i = 0; i < depth && n < FUZZ_MAX - 32; i++)
            n = append(buf, n, rnd_below(2) ? "The answer is $\\boxed{\\frac{1}{2}}$. " : "#### 7\n# Answer\n\n");
        break;
    case 13: // 1+1+...+1 of EXPR_MAX_INPUT - 1, EXPR_MAX_INPUT or EXPR_MAX_INPUT + 1 bytes
        n = EXPR_MAX_INPUT - 1 + rnd_below(3);
        for (size_t i = 0; i < n; i++) buf[i] = i % 2 ? '+' : '1';
        buf[n - 1] = '1';
        buf[n] = 0;
        break;
    case 14: // nested intervals and unions
        for (size_t i = 0; i < depth % 300 + 1; i++) n = append(buf, n, rnd_below(2) ? "(0,1]\\cup" : "[");
        n = append(buf, n, "2,3)");
        break;
    default: // repeated \pm and relations
        for (size_t i = 0; i < depth % 300 + 1; i++) n = append(buf, n, rnd_below(2) ? "1\\pm" : "x=");
        n = append(buf, n, "2");
        break;
    }
    return n;
}

// A random well-formed expression (so that the parser succeeds and the comparison and
// printing code gets deep trees): numbers of every spelling, variables and constants, sums,
// products, powers, \frac, \sqrt, functions, and at the top relations, tuples, sets,
// intervals, \pm and matrices.
static size_t gen_expr(char *buf, size_t n, int depth) {
    static const char *atoms[] = {"0", "1", "2", "7", "-3", "0.5", ".25", "120,006", "40{,}000",
                                  "1.2e3", "3.5\\times10^{-2}", "4210_5", "50\\%", "2\\frac{1}{2}",
                                  "x", "y", "n", "a_1", "\\alpha", "\\pi", "e", "i", "\\infty",
                                  "99999999999999999999", "9223372036854775807", "1/0", "0.0"};
    if (n >= FUZZ_MAX - 64 || depth <= 0 || rnd_below(4) == 0)
        return append(buf, n, atoms[rnd_below(sizeof atoms / sizeof atoms[0])]);
    switch (rnd_below(11)) {
    case 0: case 1:
        n = gen_expr(buf, n, depth - 1), n = append(buf, n, rnd_below(2) ? "+" : "-");
        return gen_expr(buf, n, depth - 1);
    case 2:
        n = gen_expr(buf, n, depth - 1), n = append(buf, n, rnd_below(2) ? "\\cdot " : " ");
        return gen_expr(buf, n, depth - 1);
    case 3:
        n = append(buf, n, "\\frac{"), n = gen_expr(buf, n, depth - 1), n = append(buf, n, "}{");
        n = gen_expr(buf, n, depth - 1);
        return append(buf, n, "}");
    case 4:
        n = append(buf, n, "("), n = gen_expr(buf, n, depth - 1), n = append(buf, n, ")^{");
        n = gen_expr(buf, n, depth - 1);
        return append(buf, n, "}");
    case 5:
        n = append(buf, n, rnd_below(3) ? "\\sqrt{" : "\\sqrt[3]{"), n = gen_expr(buf, n, depth - 1);
        return append(buf, n, "}");
    case 6: {
        static const char *fn[] = {"\\sin", "\\cos", "\\tan", "\\log", "\\ln", "\\exp", "\\cot"};
        n = append(buf, n, fn[rnd_below(sizeof fn / sizeof fn[0])]), n = append(buf, n, "\\left(");
        n = gen_expr(buf, n, depth - 1);
        return append(buf, n, "\\right)");
    }
    case 7:
        n = append(buf, n, "-"), n = append(buf, n, "(");
        n = gen_expr(buf, n, depth - 1);
        return append(buf, n, ")");
    case 8: case 9:
        n = gen_expr(buf, n, depth - 1), n = append(buf, n, "/");
        return gen_expr(buf, n, depth - 1);
    default:
        n = gen_expr(buf, n, depth - 1), n = append(buf, n, "^");
        return append(buf, n, atoms[rnd_below(4)]);
    }
}

static size_t gen_answer(char *buf) {
    size_t n = 0;
    int depth = 1 + (int)rnd_below(rnd_below(8) == 0 ? 12 : 5), k = 2 + (int)rnd_below(3);
    buf[0] = 0;
    switch (rnd_below(9)) {
    case 0: // a relation
        n = gen_expr(buf, n, depth), n = append(buf, n, rnd_below(2) ? " = " : " \\le ");
        return gen_expr(buf, n, depth);
    case 1: case 2: // a tuple, a set or a bare list
        n = append(buf, n, rnd_below(3) == 0 ? "(" : rnd_below(2) ? "\\{" : "");
        for (int j = 0; j < k; j++) n = gen_expr(buf, n, depth), n = append(buf, n, j + 1 < k ? ", " : "");
        return append(buf, n, buf[0] == '(' ? ")" : buf[0] == '\\' ? "\\}" : "");
    case 3: // an interval or a union of two
        n = append(buf, n, rnd_below(2) ? "(" : "["), n = gen_expr(buf, n, depth), n = append(buf, n, ", ");
        n = gen_expr(buf, n, depth), n = append(buf, n, rnd_below(2) ? ")" : "]");
        if (rnd_below(2)) n = append(buf, n, " \\cup (2, \\infty)");
        return n;
    case 4: // a \pm pair
        n = gen_expr(buf, n, depth), n = append(buf, n, " \\pm ");
        return gen_expr(buf, n, depth);
    case 5: // a matrix
        n = append(buf, n, "\\begin{pmatrix}");
        for (int r = 0; r < k; r++)
            for (int c = 0; c < 2; c++) {
                n = gen_expr(buf, n, depth / 2);
                n = append(buf, n, c == 0 ? " & " : r + 1 < k ? " \\\\ " : "");
            }
        return append(buf, n, "\\end{pmatrix}");
    case 6: { // inside a completion
        int boxed = (int)rnd_below(2);
        n = append(buf, n, boxed ? "So the answer is $\\boxed{" : "The final answer is \\(");
        n = gen_expr(buf, n, depth);
        return append(buf, n, boxed ? "}$." : "\\).");
    }
    default:
        return gen_expr(buf, n, depth);
    }
}

static double cpu_ms(void) {
    struct timespec t;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

// Every entry point on s (and against other). The results are not checked: only that each
// call returns, frees what it allocates and stays within the time bound.
static void fuzz_one(const char *s, const char *other) {
    char err[128], tiny[1];
    Expr *a = expr_parse(s, err, sizeof err);
    Expr *a2 = expr_parse(s, NULL, 0);
    expr_free(expr_parse(s, tiny, sizeof tiny));
    expr_free(expr_parse_math(s, err, sizeof err));
    Expr *b = expr_parse(other, err, sizeof err);
    if (a) {
        char *str = expr_str(a);
        if (str) {
            expr_free(expr_parse(str, err, sizeof err)); // its own rendering parses back, or not
            free(str);
        }
        double v;
        int exact;
        long long num, den;
        expr_value(a, &v, &exact, &num, &den);
        expr_equal(a, a);
        if (a2) expr_equal(a, a2);
        if (b) {
            expr_equal(a, b);
            expr_equal(b, a);
        }
    }
    expr_free(a);
    expr_free(a2);
    expr_free(b);
    expr_free(NULL);

    GradeSource src;
    char *ans = grade_extract_answer(s, &src);
    free(grade_extract_answer(s, NULL));
    if (ans) {
        grade_equal(ans, other);
        grade_equal(other, ans);
        free(ans);
    }
    grade_equal(s, other);
    grade_equal(other, s);
    grade_equal(s, s);
    VerifyCheck *vc = NULL; // the step checker reads LaTeX equations through the engine too
    int nv = verify_text(s, &vc, NULL);
    verify_checks_free(vc, nv);
}

// The first cap - 1 bytes of s, with '?' for every byte that is not printable ASCII.
static void printable_head(char *dst, size_t cap, const char *s) {
    size_t i = 0;
    for (; i + 1 < cap && s[i]; i++) dst[i] = (unsigned char)s[i] < 32 || (unsigned char)s[i] > 126 ? '?' : s[i];
    dst[i] = 0;
}

int main(int argc, char **argv) {
    if (argc < 2 || argc > 3) {
        fprintf(stderr, "usage: fuzz_expr ITERATIONS [MAX_MS]\n");
        return 2;
    }
    long iters = atol(argv[1]);
    double max_ms = argc > 2 ? atof(argv[2]) : 50.0;
    static char buf[FUZZ_MAX], other[FUZZ_MAX], gen[FUZZ_MAX];
    double worst = 0;
    long worst_it = -1;
    size_t worst_len = 0;
    char worst_head[81] = "";
    int over = 0;
    for (long it = 0; it < iters; it++) {
        size_t n;
        switch (rnd_below(12)) {
        case 0: n = random_bytes(buf); break;
        case 1: case 2: n = token_soup(buf); break;
        case 3: case 4: case 5: n = stress(buf); break;
        case 6: case 7: case 8: n = gen_answer(buf); break;
        case 9: gen_answer(gen), n = mutate(buf, gen); break;
        default: n = mutate(buf, seeds[rnd_below(N_SEEDS)]);
        }
        switch (rnd_below(4)) {
        case 0: mutate(other, seeds[rnd_below(N_SEEDS)]); break;
        case 1: gen_answer(other); break;
        case 2: memcpy(other, buf, n + 1); if (n) other[rnd_below(n)] ^= 1; break; // a near twin
        default: snprintf(other, sizeof other, "%s", seeds[rnd_below(N_SEEDS)]);
        }
        double t0 = cpu_ms();
        fuzz_one(buf, other);
        double dt = cpu_ms() - t0;
        if (dt > worst) {
            worst = dt, worst_it = it, worst_len = n;
            printable_head(worst_head, sizeof worst_head, buf);
        }
        if (max_ms > 0 && dt > max_ms && over++ < 10) {
            char head[81];
            printable_head(head, sizeof head, buf);
            printf("fuzz_expr: input %ld (%zu bytes) took %.1f ms, over %.0f ms: %s\n", it, n, dt, max_ms, head);
        }
    }
    printf("fuzz_expr: slowest input %.2f ms of CPU (input %ld, %zu bytes: %s)\n", worst, worst_it, worst_len,
           worst_head);
    if (over) {
        printf("fuzz_expr: %d inputs over %.0f ms\n", over, max_ms);
        return 1;
    }
    printf("fuzz_expr: %ld iterations done\n", iters);
    return 0;
}
