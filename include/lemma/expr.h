// expr: a small math expression engine for grading answers and checking steps. LaTeX and
// plain math are parsed into a tree: numbers (decimals, thousands separators, scientific
// notation, base subscripts, percent, mixed numbers), \frac in all its spellings, roots,
// powers, pi, symbols (variables), + - * / ^, implicit products, functions (\sin, \log, ...),
// equations and inequalities, tuples, intervals with open or closed ends, sets, matrices and
// choice letters; \text, units and spacing commands are dropped. Two trees are compared as
// numbers exactly (rationals) where they are rational and within a tight relative tolerance
// otherwise, expressions with variables by evaluation at several random points, and
// structures element by element (sets and unordered lists in any order). docs/grading.md
// lists every rule with an example.
#ifndef LEMMA_EXPR_H
#define LEMMA_EXPR_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum {
    EX_NUM,      // a number: exact rational when ex->exact, else ex->value
    EX_SYM,      // a variable or named constant (name): x, y, \alpha ... (pi and e are EX_NUM)
    EX_ADD,      // sum of kids
    EX_MUL,      // product of kids
    EX_POW,      // kid[0] ^ kid[1]
    EX_NEG,      // -kid[0]
    EX_DIV,      // kid[0] / kid[1]
    EX_FUNC,     // name(kid[0]): sqrt, sin, cos, tan, log, ln, exp, abs, ...
    EX_REL,      // kid[0] op kid[1] with op in name: "=", "<", ">", "<=", ">=", "!="
    EX_TUPLE,    // (a, b, ...) or an unbracketed list a, b, ...
    EX_INTERVAL, // kid[0], kid[1] with open_lo / open_hi
    EX_SET,      // {a, b, ...}
    EX_MATRIX,   // rows x cols kids, row-major
    EX_CHOICE,   // a multiple-choice letter (name: "A" .. "Z")
    EX_TEXT,     // words that are not math (name: normalised text)
    EX_UNION,    // kid[0] \cup kid[1]
    EX_PM,       // kid[0] \pm kid[1]: the two values
} ExprKind;

typedef struct Expr Expr;
struct Expr {
    ExprKind kind;
    int exact;              // EX_NUM: num/den is exact
    long long num, den;     // EX_NUM exact value, den > 0, reduced
    double value;           // EX_NUM value (always set)
    char name[24];          // EX_SYM, EX_FUNC, EX_REL, EX_CHOICE, EX_TEXT (truncated)
    int percent;            // EX_NUM written with a percent sign (50\% is 50 or 0.5)
    int ordered;            // EX_TUPLE: bracketed "(a, b)" (else a bare, unordered list)
    int open_lo, open_hi;   // EX_INTERVAL
    int rows, cols;         // EX_MATRIX
    int n;                  // kids
    Expr **kid;
};

// Parses text (one answer: "\frac{1}{2}", "(1, \sqrt 3)", "x = 5", "\text{(C)}", "2\pi",
// "4210_5", "40{,}000"...). NULL when it is not math this engine reads, with the reason in
// err (err may be NULL). Bounded: inputs longer than EXPR_MAX_INPUT bytes or nested deeper
// than EXPR_MAX_DEPTH are refused.
enum { EXPR_MAX_INPUT = 4096, EXPR_MAX_DEPTH = 64 };
Expr *expr_parse(const char *text, char *err, size_t err_len);
// As expr_parse, but a word (units, \text{...}) refuses the parse: for the sides of a step's
// equation, where a dropped word could join two numbers into one product.
Expr *expr_parse_math(const char *text, char *err, size_t err_len);
void expr_free(Expr *e);
// The tree as text (malloc'd), for messages and tests: "(1/2 + x)".
char *expr_str(const Expr *e);

// Are a and b the same answer? Rational numbers exactly, others within relative 1e-6,
// expressions with variables by evaluation at random points, equations by their right-hand
// side against a value (x = 5 vs 5) or as equations, structures element by element (bare
// lists, sets and \pm pairs in any order). 1 equal, 0 not.
int expr_equal(const Expr *a, const Expr *b);

// Does e hold a variable (x, \alpha, n_1)?
int expr_has_vars(const Expr *e);

// The value of a tree without variables: 1 and *out set, 0 when it has variables or is not a
// number (a tuple, a relation). exact: 1 with *num / *den when the value is rational.
int expr_value(const Expr *e, double *out, int *exact, long long *num, long long *den);

#ifdef __cplusplus
}
#endif
#endif
