// expr/expr_internal.h: what the files of src/expr share: the token stream of the lexer
// (lex.c), the node constructors (parse.c) and exact arithmetic on values (eval.c).
#ifndef LEMMA_EXPR_INTERNAL_H
#define LEMMA_EXPR_INTERNAL_H

#include "lemma/expr.h"

typedef enum {
    T_END,  // end of input
    T_NUM,  // a number literal: exact num/den (or value), decimals after the point
    T_SYM,  // a one-letter variable or a Greek letter (text)
    T_CMD,  // a LaTeX command that the parser handles (text without the backslash)
    T_WORD, // a word: units, \text{...} content (dropped next to math)
    T_OP,   // punctuation and operators (text): + - * / ^ _ ! % = < > <= >= != , ; ( ) [ ] { }
            // \{ \} | & \\ (row separator)
    T_BAD,  // something this engine does not read (text says what)
} TokKind;

typedef struct {
    TokKind kind;
    char text[24];
    int exact;          // T_NUM
    long long num, den; // T_NUM
    double value;       // T_NUM
    int is_int;         // T_NUM: digits only (no point, no base)
} Tok;

typedef struct {
    const char *s, *p; // input, position
    int text_depth;    // brace depth inside \text{...} (letters there are words)
    int brace_depth;   // current brace depth
    int text_close[EXPR_MAX_DEPTH]; // brace depths at which \text groups end
    int depth;         // bracket depth (thousands separators only at depth 0)
} Lexer;

// The next token (the position moves past it). one_char: a LaTeX argument without braces
// (\frac12, x^23): a single digit or letter.
Tok lex_next(Lexer *L, int one_char);
Tok lex_peek(Lexer *L);

// Values: exact rationals where they fit (64-bit reduced), else doubles.
typedef struct {
    int exact;
    long long num, den;
    double d;
} XVal;

XVal xv_int(long long v);
XVal xv_ratio(long long num, long long den); // den != 0
XVal xv_double(double d);
XVal xv_add(XVal a, XVal b);
XVal xv_mul(XVal a, XVal b);
XVal xv_div(XVal a, XVal b);
XVal xv_neg(XVal a);
XVal xv_pow(XVal a, XVal b);
XVal xv_sqrt(XVal a);

// The value of e with variables names[i] = vals[i] (NaN where it has none).
XVal expr_eval_at(const Expr *e, const char (*names)[24], const double *vals, int n_vars, int depth);

Expr *ex_new(ExprKind k);
Expr *ex_num(XVal v);
void ex_add_kid(Expr *e, Expr *kid);

#endif
