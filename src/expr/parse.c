// expr/parse: LaTeX and plain math into an expression tree, by recursive descent over the
// tokens of lex.c. Precedence, lowest first: a list (',' ';' "or"), a relation (= < <= ...),
// \cup, \pm, sums, products (explicit, and implicit as in 2\pi, 3\sqrt2, (x+1)(x-1)), unary
// signs, powers (right-associative), postfix ! and %, then primaries: numbers (a mixed number
// 2\frac{1}{2} is a sum), variables, \frac/\sqrt/\binom with braced or one-character arguments
// (\frac12, \frac\pi2), functions, |x|, brackets (a group, a tuple, an interval by its ends),
// \{ \} sets and matrix environments. Words (units) are dropped beside math; an answer of
// words alone is text. docs/grading.md has the rules.
#include "expr_internal.h"
#include "lemma/util.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    Lexer L, before; // the lexer after and before the current token
    Tok t;           // the current token
    int depth, failed, math;
    int strict;      // words refuse the parse (expr_parse_math)
    char text[256];  // the words seen, lower case, for an answer of words alone
    char *err;
    size_t err_len;
} Parser;

Expr *ex_new(ExprKind k) {
    Expr *e = lm_calloc(1, sizeof *e);
    e->kind = k;
    e->den = 1;
    return e;
}

Expr *ex_num(XVal v) {
    Expr *e = ex_new(EX_NUM);
    e->exact = v.exact, e->num = v.exact ? v.num : 0, e->den = v.exact ? v.den : 1, e->value = v.d;
    return e;
}

void ex_add_kid(Expr *e, Expr *kid) {
    e->kid = lm_realloc(e->kid, (size_t)(e->n + 1) * sizeof *e->kid);
    e->kid[e->n++] = kid;
}

static Expr *ex_two(ExprKind k, Expr *a, Expr *b) {
    Expr *e = ex_new(k);
    ex_add_kid(e, a), ex_add_kid(e, b);
    return e;
}

// name = a followed by b, cut to fit.
static void name_set(Expr *e, const char *a, const char *b) {
    size_t k = 0;
    for (const char *s = a; *s && k + 1 < sizeof e->name; s++) e->name[k++] = *s;
    for (const char *s = b; *s && k + 1 < sizeof e->name; s++) e->name[k++] = *s;
    e->name[k] = 0;
}

static Expr *ex_named(ExprKind k, const char *name) {
    Expr *e = ex_new(k);
    name_set(e, name, "");
    return e;
}

void expr_free(Expr *e) {
    if (!e) return;
    for (int i = 0; i < e->n; i++) expr_free(e->kid[i]);
    free(e->kid);
    free(e);
}

// ---------------------------------------------------------------------------
// Tokens

// After a word, a power belongs to the unit ("cm^2", "\\text{ inches}^2"): skipped.
static void skip_unit_power(Lexer *L) {
    const char *p = L->p;
    while (*p == ' ') p++;
    if (*p != '^') return;
    p++;
    while (*p == ' ') p++;
    if (*p >= '0' && *p <= '9') L->p = p + 1;
    else if (*p == '{' && p[1] >= '0' && p[1] <= '9' && p[2] == '}') L->p = p + 3;
}

static void next(Parser *P) {
    for (;;) {
        P->before = P->L;
        P->t = lex_next(&P->L, 0);
        if (P->t.kind != T_WORD) break;
        if (P->strict) {
            P->t.kind = T_BAD;
            break;
        }
        if (P->L.text_depth == 0) skip_unit_power(&P->L);
        else { // inside \text{...}: the power follows the group's '}'
            const char *c = P->L.p;
            while (*c == ' ') c++;
            if (*c == '}' && P->L.text_close[P->L.text_depth - 1] / 2 == P->L.brace_depth - 1) {
                Lexer after = P->L;
                after.p = c + 1, after.brace_depth--, after.text_depth--;
                const char *before = after.p;
                skip_unit_power(&after);
                if (after.p != before) P->L = after;
            }
        }
        size_t k = strlen(P->text);
        if (k + strlen(P->t.text) + 2 < sizeof P->text) {
            if (k) P->text[k++] = ' ';
            for (const char *c = P->t.text; *c; c++) P->text[k++] = (char)tolower((unsigned char)*c);
            P->text[k] = 0;
        }
    }
    if (P->t.kind != T_END) P->math = 1;
}

static int is_op(const Parser *P, const char *op) { return P->t.kind == T_OP && !strcmp(P->t.text, op); }
static int is_cmd(const Parser *P, const char *c) { return P->t.kind == T_CMD && !strcmp(P->t.text, c); }

static int peek_is(Parser *P, const char *op) {
    Tok t = lex_peek(&P->L);
    return t.kind == T_OP && !strcmp(t.text, op);
}

static int accept(Parser *P, const char *op) {
    if (!is_op(P, op)) return 0;
    next(P);
    return 1;
}

static Expr *fail(Parser *P, const char *why) {
    if (!P->failed && P->err)
        snprintf(P->err, P->err_len, "%s at '%s'", why, P->t.kind == T_END ? "the end" : P->t.text);
    P->failed = 1;
    return NULL;
}

static Expr *parse_list_in(Parser *P, const char *close, const char *close2, int *n_items);
static Expr *parse_rel(Parser *P);
static Expr *parse_sum(Parser *P);
static Expr *parse_unary(Parser *P);
static Expr *parse_power(Parser *P);
static Expr *parse_primary(Parser *P);

// ---------------------------------------------------------------------------
// Arguments of LaTeX commands

// A braced group, a command or symbol (\pi), or one character (\frac12).
static Expr *parse_arg(Parser *P) {
    if (P->failed) return NULL;
    if (accept(P, "{")) {
        int n;
        Expr *e = parse_list_in(P, "}", NULL, &n);
        if (e && (n != 1 || !accept(P, "}"))) expr_free(e), e = fail(P, "a list as an argument");
        return e;
    }
    if (P->t.kind == T_CMD || P->t.kind == T_SYM) return parse_primary(P);
    P->L = P->before;
    Tok c = lex_next(&P->L, 1);
    next(P);
    if (c.kind == T_NUM) return ex_num(xv_ratio(c.num, c.den));
    if (c.kind == T_SYM) return ex_named(EX_SYM, c.text);
    return fail(P, "an argument expected");
}

static Expr *parse_frac(Parser *P) {
    Expr *a = parse_arg(P), *b = a ? parse_arg(P) : NULL;
    if (!b) return expr_free(a), fail(P, "\\frac needs two arguments");
    return ex_two(EX_DIV, a, b);
}

static Expr *parse_sqrt(Parser *P) {
    Expr *deg = NULL;
    if (accept(P, "[")) {
        deg = parse_sum(P);
        if (!deg || !accept(P, "]")) return expr_free(deg), fail(P, "\\sqrt[n] not closed");
    }
    Expr *x = parse_arg(P);
    if (!x) return expr_free(deg), NULL;
    Expr *e = ex_named(EX_FUNC, "sqrt");
    ex_add_kid(e, x);
    if (deg) ex_add_kid(e, deg);
    return e;
}

// \sin x, \log(2), \sin^2 x, \log_2 8 (a change of base).
static Expr *parse_function(Parser *P, const char *name) {
    Expr *pw = NULL, *base = NULL;
    if (accept(P, "^")) pw = parse_arg(P);
    if (!P->failed && accept(P, "_")) base = parse_arg(P);
    if (P->failed) return expr_free(pw), expr_free(base), NULL;
    Expr *x = is_op(P, "(") ? parse_primary(P) : parse_power(P);
    if (!x) return expr_free(pw), expr_free(base), NULL;
    Expr *e = ex_named(EX_FUNC, name);
    ex_add_kid(e, x);
    if (base) { // log_b x = ln x / ln b
        Expr *lb = ex_named(EX_FUNC, "ln");
        ex_add_kid(lb, base);
        name_set(e, "ln", "");
        e = ex_two(EX_DIV, e, lb);
    }
    return pw ? ex_two(EX_POW, e, pw) : e;
}

// \begin{pmatrix} a & b \\ c & d \end{pmatrix}
static Expr *parse_matrix(Parser *P) {
    Expr *m = ex_new(EX_MATRIX);
    int cols = 0, col = 0;
    while (!P->failed && !is_cmd(P, "end")) {
        Expr *x = parse_sum(P);
        if (!x) break;
        ex_add_kid(m, x), col++;
        if (accept(P, "&")) continue;
        if (cols && col != cols) fail(P, "matrix rows of different lengths");
        cols = col, col = 0, m->rows++;
        if (!accept(P, "\\\\") && !is_cmd(P, "end")) fail(P, "'&' or '\\\\' expected in a matrix");
        if (accept(P, "\\\\") && is_cmd(P, "end")) break; // a trailing row separator
    }
    if (P->failed || !is_cmd(P, "end") || m->n == 0) return expr_free(m), fail(P, "matrix not closed");
    next(P);
    m->cols = cols;
    return m;
}

// ---------------------------------------------------------------------------
// Primaries

// After an integer literal: "\frac{1}{2}" with integer literals makes a mixed number.
static Expr *parse_mixed(Parser *P, Expr *whole) {
    Parser save = *P;
    next(P);
    Expr *f = parse_frac(P);
    int ok = f && f->kid[0]->kind == EX_NUM && f->kid[1]->kind == EX_NUM && f->kid[0]->exact &&
             f->kid[1]->exact && f->kid[0]->den == 1 && f->kid[1]->den == 1 &&
             f->kid[0]->num >= 0 && f->kid[0]->num < f->kid[1]->num;
    if (!ok) {
        expr_free(f);
        *P = save;
        return whole;
    }
    Expr *e = ex_new(EX_ADD);
    ex_add_kid(e, whole), ex_add_kid(e, f);
    return e;
}

// Brackets: ( ) a group or an ordered tuple; [ ], ( ], [ ) with two entries an interval.
static Expr *parse_bracket(Parser *P) {
    int open_round = is_op(P, "(");
    next(P);
    int n;
    Expr *list = parse_list_in(P, ")", "]", &n);
    if (!list) return NULL;
    int close_round = is_op(P, ")");
    next(P);
    if (n == 1) return list;
    if (n == 2 && !(open_round && close_round)) {
        list->kind = EX_INTERVAL, list->open_lo = open_round, list->open_hi = close_round;
        return list;
    }
    list->kind = EX_TUPLE, list->ordered = 1;
    return list;
}

static Expr *parse_command(Parser *P) {
    char name[24];
    snprintf(name, sizeof name, "%s", P->t.text);
    next(P);
    if (!strcmp(name, "pi")) return ex_num(xv_double(M_PI));
    if (!strcmp(name, "infty")) return ex_num(xv_double(INFINITY));
    if (!strcmp(name, "frac")) return parse_frac(P);
    if (!strcmp(name, "sqrt")) return parse_sqrt(P);
    if (!strcmp(name, "emptyset")) return ex_new(EX_SET);
    if (!strcmp(name, "begin")) return parse_matrix(P);
    if (!strcmp(name, "binom")) {
        Expr *a = parse_arg(P), *b = a ? parse_arg(P) : NULL;
        if (!b) return expr_free(a), NULL;
        Expr *e = ex_named(EX_FUNC, "binom");
        ex_add_kid(e, a), ex_add_kid(e, b);
        return e;
    }
    if (!strcmp(name, "pm") || !strcmp(name, "mp") || !strcmp(name, "cup") || !strcmp(name, "end"))
        return fail(P, "an operand expected");
    return parse_function(P, name);
}

static Expr *parse_primary(Parser *P) {
    if (P->failed) return NULL;
    if (++P->depth > EXPR_MAX_DEPTH) return fail(P, "nested too deeply");
    Expr *e = NULL;
    Tok t = P->t;
    if (t.kind == T_NUM) {
        next(P);
        e = ex_num(t.exact ? xv_ratio(t.num, t.den) : xv_double(t.value));
        if (!t.exact && t.is_int && strlen(t.text) < sizeof e->name - 1)
            name_set(e, t.text, ""); // a long integer: its digits, compared as written
        if (t.is_int && is_cmd(P, "frac")) e = parse_mixed(P, e);
    } else if (t.kind == T_SYM && !strcmp(t.text, "e") && !peek_is(P, "_")) {
        next(P);
        e = ex_num(xv_double(M_E)); // Euler's number
    } else if (t.kind == T_SYM) {
        next(P);
        e = ex_named(EX_SYM, t.text);
        if (accept(P, "_")) { // x_1, a_{n}: one variable
            Expr *sub = parse_arg(P);
            char *s = sub ? expr_str(sub) : NULL;
            char head[32];
            snprintf(head, sizeof head, "%s_", t.text);
            if (s) name_set(e, head, s);
            free(s), expr_free(sub);
        }
    } else if (t.kind == T_CMD) {
        e = parse_command(P);
    } else if (is_op(P, "(") || is_op(P, "[")) {
        e = parse_bracket(P);
    } else if (accept(P, "{")) {
        int n;
        e = parse_list_in(P, "}", NULL, &n);
        if (e && !accept(P, "}")) expr_free(e), e = fail(P, "'}' expected");
    } else if (accept(P, "\\{")) {
        int n;
        e = parse_list_in(P, "\\}", NULL, &n);
        if (e && !accept(P, "\\}")) expr_free(e), e = fail(P, "'\\}' expected");
        if (e && !(e->kind == EX_TUPLE && !e->ordered)) {
            Expr *s = ex_new(EX_SET);
            ex_add_kid(s, e);
            e = s;
        } else if (e) e->kind = EX_SET;
    } else if (accept(P, "|")) {
        Expr *x = parse_sum(P);
        if (x && !accept(P, "|")) expr_free(x), x = fail(P, "'|' expected");
        if (x) e = ex_named(EX_FUNC, "abs"), ex_add_kid(e, x);
    } else {
        e = fail(P, t.kind == T_BAD ? "not read" : "an operand expected");
    }
    P->depth--;
    return P->failed ? (expr_free(e), NULL) : e;
}

// ---------------------------------------------------------------------------
// Operators

static Expr *parse_postfix(Parser *P) {
    Expr *e = parse_primary(P);
    while (e && !P->failed) {
        if (accept(P, "!")) {
            Expr *f = ex_named(EX_FUNC, "fact");
            ex_add_kid(f, e);
            e = f;
        } else if (accept(P, "%")) {
            if (e->kind == EX_NUM) e->percent = 1;
            else e = ex_two(EX_DIV, e, ex_num(xv_int(100)));
        } else break;
    }
    return e;
}

// The exponent after '^': a group, or a signed primary (plain 2^10, x^-1), right-associative.
static Expr *parse_exponent(Parser *P) {
    if (is_op(P, "{")) return parse_arg(P);
    if (accept(P, "-")) {
        Expr *x = parse_exponent(P);
        if (!x) return NULL;
        Expr *n = ex_new(EX_NEG);
        ex_add_kid(n, x);
        return n;
    }
    return parse_power(P);
}

static Expr *parse_power(Parser *P) {
    if (++P->depth > EXPR_MAX_DEPTH) return fail(P, "nested too deeply");
    Expr *e = parse_postfix(P);
    if (e && accept(P, "^")) {
        Expr *x = parse_exponent(P);
        e = x ? ex_two(EX_POW, e, x) : (expr_free(e), NULL);
        while (e && accept(P, "!")) { // (n^2)! is rare; n^2! binds to the exponent in LaTeX
            Expr *f = ex_named(EX_FUNC, "fact");
            ex_add_kid(f, e);
            e = f;
        }
    }
    P->depth--;
    return e;
}

static Expr *parse_unary(Parser *P) {
    if (++P->depth > EXPR_MAX_DEPTH) return fail(P, "nested too deeply");
    Expr *e;
    if (accept(P, "-")) {
        Expr *x = parse_unary(P);
        e = x ? ex_new(EX_NEG) : NULL;
        if (e) ex_add_kid(e, x);
    } else if (accept(P, "+")) {
        e = parse_unary(P);
    } else {
        e = parse_power(P);
    }
    P->depth--;
    return e;
}

// Does the current token start a factor (an implicit product: 2x, 3\sqrt2, (a)(b))?
static int starts_factor(const Parser *P) {
    if (P->t.kind == T_NUM || P->t.kind == T_SYM) return 1;
    if (P->t.kind == T_CMD)
        return strcmp(P->t.text, "pm") && strcmp(P->t.text, "mp") && strcmp(P->t.text, "cup") &&
               strcmp(P->t.text, "end");
    return is_op(P, "(") || is_op(P, "[") || is_op(P, "\\{") || is_op(P, "{");
}

static Expr *parse_term(Parser *P) {
    Expr *e = parse_unary(P);
    while (e && !P->failed) {
        int div = is_op(P, "/");
        if (div || is_op(P, "*")) next(P);
        else if (!starts_factor(P)) break;
        Expr *x = parse_unary(P);
        if (!x) return expr_free(e), NULL;
        if (div) e = ex_two(EX_DIV, e, x);
        else if (e->kind == EX_MUL) ex_add_kid(e, x);
        else e = ex_two(EX_MUL, e, x);
    }
    return e;
}

static Expr *parse_sum(Parser *P) {
    Expr *e = parse_term(P);
    while (e && !P->failed && (is_op(P, "+") || is_op(P, "-"))) {
        int minus = is_op(P, "-");
        next(P);
        Expr *x = parse_term(P);
        if (!x) return expr_free(e), NULL;
        if (minus) {
            Expr *n = ex_new(EX_NEG);
            ex_add_kid(n, x);
            x = n;
        }
        if (e->kind == EX_ADD) ex_add_kid(e, x);
        else e = ex_two(EX_ADD, e, x);
    }
    return e;
}

// a \pm b (and \pm b alone: 0 \pm b).
static Expr *parse_pm(Parser *P) {
    Expr *e = is_cmd(P, "pm") || is_cmd(P, "mp") ? ex_num(xv_int(0)) : parse_sum(P);
    if (e && (is_cmd(P, "pm") || is_cmd(P, "mp"))) {
        next(P);
        Expr *x = parse_sum(P);
        e = x ? ex_two(EX_PM, e, x) : (expr_free(e), NULL);
    }
    return e;
}

static Expr *parse_cup(Parser *P) {
    Expr *e = parse_pm(P);
    while (e && !P->failed && is_cmd(P, "cup")) {
        next(P);
        Expr *x = parse_pm(P);
        if (!x) return expr_free(e), NULL;
        e = ex_two(EX_UNION, e, x);
    }
    return e;
}

static const char *const rel_ops[] = {"=", "<", ">", "<=", ">=", "!=", NULL};

static Expr *parse_rel(Parser *P) {
    Expr *e = parse_cup(P);
    for (int i = 0; e && !P->failed && rel_ops[i]; i++) {
        if (!is_op(P, rel_ops[i])) continue;
        next(P);
        Expr *x = parse_cup(P);
        if (!x) return expr_free(e), NULL;
        e = ex_two(EX_REL, e, x);
        name_set(e, rel_ops[i], "");
        for (int j = 0; rel_ops[j]; j++)
            if (is_op(P, rel_ops[j])) return expr_free(e), fail(P, "a chain of relations");
        break;
    }
    return e;
}

// Items separated by ',' or ';' up to (not past) close or close2 (NULL: the end): one item
// itself, several an unordered EX_TUPLE.
static Expr *parse_list_in(Parser *P, const char *close, const char *close2, int *n_items) {
    Expr *list = ex_new(EX_TUPLE);
    *n_items = 0;
    for (;;) {
        Expr *x = parse_rel(P);
        if (!x) return expr_free(list), NULL;
        ex_add_kid(list, x);
        if (!accept(P, ",") && !accept(P, ";")) break;
    }
    int at_close = close ? is_op(P, close) || (close2 && is_op(P, close2)) : P->t.kind == T_END;
    if (!at_close) return expr_free(list), fail(P, close ? "a closing bracket expected" : "unexpected");
    *n_items = list->n;
    if (list->n > 1) return list;
    Expr *one = list->kid[0];
    free(list->kid), free(list);
    return one;
}

// ---------------------------------------------------------------------------
// \pm inside arithmetic: (1 \pm \sqrt5)/2 is the pair (1 + \sqrt5)/2, (1 - \sqrt5)/2.

static int has_pm(const Expr *e) {
    if (e->kind == EX_PM) return 1;
    for (int i = 0; i < e->n; i++)
        if (has_pm(e->kid[i])) return 1;
    return 0;
}

// A copy of e with every a \pm b as a + b (sign 1) or a - b (sign -1).
static Expr *copy_signed(const Expr *e, int sign) {
    Expr *c = lm_malloc(sizeof *c);
    *c = *e;
    c->kid = NULL, c->n = 0;
    if (e->kind == EX_PM) c->kind = EX_ADD;
    for (int i = 0; i < e->n; i++) {
        Expr *k = copy_signed(e->kid[i], sign);
        if (e->kind == EX_PM && i == 1 && sign < 0) {
            Expr *n = ex_new(EX_NEG);
            ex_add_kid(n, k);
            k = n;
        }
        ex_add_kid(c, k);
    }
    return c;
}

// The items of e with \pm expanded into two, appended to list.
static void expand_into(Expr *list, Expr *e) {
    if (!has_pm(e) || e->kind == EX_TUPLE || e->kind == EX_SET) {
        ex_add_kid(list, e);
        return;
    }
    ex_add_kid(list, copy_signed(e, 1));
    ex_add_kid(list, copy_signed(e, -1));
    expr_free(e);
}

// Expands \pm at the top, in the items of bare lists and sets, and on the right of x = ...
static Expr *expand_pm(Expr *e) {
    if (e->kind == EX_REL) {
        e->kid[1] = expand_pm(e->kid[1]);
        return e;
    }
    if ((e->kind == EX_TUPLE && !e->ordered) || e->kind == EX_SET) {
        Expr **kids = e->kid;
        int n = e->n;
        e->kid = NULL, e->n = 0;
        for (int i = 0; i < n; i++) expand_into(e, kids[i]);
        free(kids);
        return e;
    }
    if (!has_pm(e) || e->kind == EX_TUPLE || e->kind == EX_INTERVAL || e->kind == EX_MATRIX) return e;
    Expr *list = ex_new(EX_TUPLE);
    expand_into(list, e);
    return list;
}

// ---------------------------------------------------------------------------

// A choice letter: "C", "(C)", "\text{(C)}", "\textbf{C}": the letter, or 0.
static char choice_letter(const char *s) {
    char c = 0;
    int n = 0;
    for (const char *p = s; *p; p++) {
        if (*p == '\\') {
            const char *q = p + 1;
            while (isalpha((unsigned char)*q)) q++;
            if (q - p - 1 != 4 && q - p - 1 != 6) return 0; // \text, \textbf, \mathrm
            p = q - 1;
            continue;
        }
        if (strchr("{}()$ ", *p)) continue;
        if (*p >= 'A' && *p <= 'E') c = *p, n++;
        else return 0;
    }
    return n == 1 ? c : 0;
}

static Expr *parse_text(const char *text, int strict, char *err, size_t err_len);

Expr *expr_parse(const char *text, char *err, size_t err_len) { return parse_text(text, 0, err, err_len); }
Expr *expr_parse_math(const char *text, char *err, size_t err_len) { return parse_text(text, 1, err, err_len); }

static Expr *parse_text(const char *text, int strict, char *err, size_t err_len) {
    if (err && err_len) err[0] = 0;
    if (!text || strlen(text) > EXPR_MAX_INPUT) {
        if (err) snprintf(err, err_len, "longer than %d bytes", EXPR_MAX_INPUT);
        return NULL;
    }
    char c = strict ? 0 : choice_letter(text);
    if (c) {
        char name[2] = {c, 0};
        return ex_named(EX_CHOICE, name);
    }
    Parser P;
    memset(&P, 0, sizeof P);
    P.L.s = P.L.p = text;
    P.err = err, P.err_len = err_len, P.strict = strict;
    next(&P);
    if (P.t.kind == T_END) {
        if (P.text[0]) return ex_named(EX_TEXT, P.text);
        if (err) snprintf(err, err_len, "empty");
        return NULL;
    }
    int n;
    Expr *e = parse_list_in(&P, NULL, NULL, &n);
    if (!e && P.text[0] && !P.math && err) snprintf(err, err_len, "text");
    return e ? expand_pm(e) : NULL;
}

// ---------------------------------------------------------------------------
// Printing

static void put(char **buf, size_t *len, size_t *cap, const char *s) {
    size_t n = strlen(s);
    if (*len + n + 1 > *cap) {
        *cap = (*len + n + 1) * 2;
        *buf = lm_realloc(*buf, *cap);
    }
    memcpy(*buf + *len, s, n + 1);
    *len += n;
}

static void str_rec(const Expr *e, char **buf, size_t *len, size_t *cap) {
    static const char *const sep[] = {[EX_ADD] = " + ", [EX_MUL] = " * ", [EX_POW] = "^",
                                      [EX_DIV] = "/", [EX_TUPLE] = ", ", [EX_SET] = ", ",
                                      [EX_MATRIX] = ", ", [EX_INTERVAL] = ", ",
                                      [EX_UNION] = " U ", [EX_PM] = " +- ", [EX_FUNC] = ", "};
    char tmp[64];
    switch (e->kind) {
    case EX_NUM:
        if (e->exact && e->den == 1) snprintf(tmp, sizeof tmp, "%lld", e->num);
        else if (e->exact) snprintf(tmp, sizeof tmp, "%lld/%lld", e->num, e->den);
        else snprintf(tmp, sizeof tmp, "%.10g", e->value);
        put(buf, len, cap, tmp);
        if (e->percent) put(buf, len, cap, "%");
        return;
    case EX_SYM: case EX_CHOICE: put(buf, len, cap, e->name); return;
    case EX_TEXT: put(buf, len, cap, "\""), put(buf, len, cap, e->name), put(buf, len, cap, "\""); return;
    case EX_NEG: put(buf, len, cap, "-"), str_rec(e->kid[0], buf, len, cap); return;
    case EX_REL:
        str_rec(e->kid[0], buf, len, cap), put(buf, len, cap, " "), put(buf, len, cap, e->name);
        put(buf, len, cap, " "), str_rec(e->kid[1], buf, len, cap);
        return;
    default: break;
    }
    const char *open = e->kind == EX_SET ? "{" : e->kind == EX_MATRIX ? "[" : e->kind == EX_INTERVAL
                       ? (e->open_lo ? "(" : "[") : e->kind == EX_TUPLE && !e->ordered ? "" : "(";
    const char *close = e->kind == EX_SET ? "}" : e->kind == EX_MATRIX ? "]" : e->kind == EX_INTERVAL
                        ? (e->open_hi ? ")" : "]") : e->kind == EX_TUPLE && !e->ordered ? "" : ")";
    if (e->kind == EX_FUNC) put(buf, len, cap, e->name);
    put(buf, len, cap, open);
    for (int i = 0; i < e->n; i++) {
        if (i) put(buf, len, cap, sep[e->kind] ? sep[e->kind] : ", ");
        str_rec(e->kid[i], buf, len, cap);
    }
    put(buf, len, cap, close);
}

char *expr_str(const Expr *e) {
    size_t len = 0, cap = 64;
    char *buf = lm_malloc(cap);
    buf[0] = 0;
    if (e) str_rec(e, &buf, &len, &cap);
    return buf;
}
