// expr/equal: whether two parsed answers are the same. Numbers: rationals exactly, anything
// irrational within a relative 1e-6, a percent either as written or divided by 100.
// Expressions with variables: evaluated at six fixed pseudo-random points (variables in
// [0.3, 2.7], away from the usual domain edges); a point where both are undefined is skipped,
// one where only one is ends it. Relations: x = 5 against 5 by the right-hand side; two
// relations by their sides (mirrored ones too) or, for equations, by proportional differences
// of the sides. Structures element by element: bare lists, sets and \pm pairs in any order,
// tuples, intervals (with their ends) and matrices in order, unions part by part.
#include "expr_internal.h"
#include "lemma/util.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define EQ_REL_TOL 1e-6
#define EQ_POINTS 6
#define EQ_MAX_VARS 16

typedef struct {
    char names[EQ_MAX_VARS][24];
    int n, overflow;
} Vars;

static void collect_vars(const Expr *e, Vars *v) {
    if (e->kind == EX_SYM) {
        for (int i = 0; i < v->n; i++)
            if (!strcmp(v->names[i], e->name)) return;
        if (v->n == EQ_MAX_VARS) {
            v->overflow = 1;
            return;
        }
        snprintf(v->names[v->n++], 24, "%s", e->name);
        return;
    }
    for (int i = 0; i < e->n; i++) collect_vars(e->kid[i], v);
}

int expr_has_vars(const Expr *e) {
    Vars v = {0};
    collect_vars(e, &v);
    return v.n > 0 || v.overflow;
}

static int close_vals(XVal a, XVal b) {
    if (a.exact && b.exact) return a.num == b.num && a.den == b.den;
    if (isnan(a.d) || isnan(b.d)) return 0;
    if (isinf(a.d) || isinf(b.d)) return a.d == b.d;
    double diff = fabs(a.d - b.d), scale = fmax(fabs(a.d), fabs(b.d));
    return diff <= EQ_REL_TOL * scale || diff < 1e-12;
}

// Variable i's value at point k: fixed, in [0.3, 2.7].
static double point_value(int k, int i) {
    uint64_t h = (uint64_t)(k * 131 + i * 7919 + 17) * 0x9E3779B97F4A7C15ULL;
    h ^= h >> 29;
    h *= 0xBF58476D1CE4E5B9ULL;
    h ^= h >> 32;
    return 0.3 + 2.4 * (double)(h >> 11) / (double)(1ULL << 53);
}

static int is_value_kind(ExprKind k) {
    return k == EX_NUM || k == EX_SYM || k == EX_ADD || k == EX_MUL || k == EX_POW ||
           k == EX_NEG || k == EX_DIV || k == EX_FUNC;
}

// A number written with a percent sign (possibly negated): its value divided by 100.
static int percent_alt(const Expr *e, XVal *out) {
    int neg = e->kind == EX_NEG;
    const Expr *n = neg ? e->kid[0] : e;
    if (n->kind != EX_NUM || !n->percent) return 0;
    XVal v = xv_div(expr_eval_at(n, NULL, NULL, 0, 0), xv_int(100));
    *out = neg ? xv_neg(v) : v;
    return 1;
}

// Both values without variables: equal as numbers (a percent also as a fraction).
static int numbers_equal(const Expr *a, const Expr *b) {
    if (a->kind == EX_NUM && b->kind == EX_NUM && a->name[0] && b->name[0]) { // long integers
        const char *x = a->name, *y = b->name;
        while (*x == '0' && x[1]) x++;
        while (*y == '0' && y[1]) y++;
        return !strcmp(x, y);
    }
    XVal x = expr_eval_at(a, NULL, NULL, 0, 0), y = expr_eval_at(b, NULL, NULL, 0, 0), alt;
    if (close_vals(x, y)) return 1;
    if (percent_alt(a, &alt) && close_vals(alt, y)) return 1;
    return percent_alt(b, &alt) && close_vals(x, alt);
}

// The ratio f(a) / f(b) at each point, or (ratio 0) plain equality of the values.
static int points_agree(const Expr *a, const Expr *b, const Vars *v, int ratio) {
    int valid = 0;
    double r0 = 0;
    for (int k = 0; k < EQ_POINTS; k++) {
        double vals[EQ_MAX_VARS];
        for (int i = 0; i < v->n; i++) vals[i] = point_value(k, i);
        XVal x = expr_eval_at(a, v->names, vals, v->n, 0), y = expr_eval_at(b, v->names, vals, v->n, 0);
        int nx = isnan(x.d) || isinf(x.d), ny = isnan(y.d) || isinf(y.d);
        if (nx && ny) continue;
        if (nx || ny) return 0;
        if (ratio) {
            if (fabs(y.d) < 1e-12) {
                if (fabs(x.d) > 1e-12) return 0;
                continue;
            }
            double r = x.d / y.d;
            if (valid == 0) r0 = r;
            else if (fabs(r - r0) > EQ_REL_TOL * fmax(fabs(r), fabs(r0))) return 0;
            if (r0 == 0) return 0;
        } else if (!close_vals(x, y)) {
            return 0;
        }
        valid++;
    }
    return valid >= 3;
}

static int values_equal(const Expr *a, const Expr *b) {
    Vars v = {0};
    collect_vars(a, &v), collect_vars(b, &v);
    if (v.overflow) return 0;
    if (v.n == 0) return numbers_equal(a, b);
    return points_agree(a, b, &v, 0);
}

// ---------------------------------------------------------------------------
// Relations

static const char *mirror_op(const char *op) {
    return !strcmp(op, "<") ? ">" : !strcmp(op, ">") ? "<" : !strcmp(op, "<=") ? ">=" :
           !strcmp(op, ">=") ? "<=" : op;
}

// lhs - rhs of an equation, as a new tree sharing e's kids (free with free_difference).
static Expr *difference(const Expr *e) {
    Expr *neg = ex_new(EX_NEG), *d = ex_new(EX_ADD);
    ex_add_kid(neg, e->kid[1]);
    ex_add_kid(d, e->kid[0]), ex_add_kid(d, neg);
    return d;
}

static void free_difference(Expr *d) {
    free(d->kid[1]->kid), free(d->kid[1]), free(d->kid), free(d);
}

static int relations_equal(const Expr *a, const Expr *b) {
    if (!strcmp(a->name, b->name) && expr_equal(a->kid[0], b->kid[0]) && expr_equal(a->kid[1], b->kid[1]))
        return 1;
    if (!strcmp(mirror_op(a->name), b->name) && expr_equal(a->kid[0], b->kid[1]) &&
        expr_equal(a->kid[1], b->kid[0]))
        return 1;
    if (strcmp(a->name, "=") || strcmp(b->name, "=") || !is_value_kind(a->kid[0]->kind) ||
        !is_value_kind(a->kid[1]->kind) || !is_value_kind(b->kid[0]->kind) ||
        !is_value_kind(b->kid[1]->kind))
        return 0;
    Expr *da = difference(a), *db = difference(b);
    Vars v = {0};
    collect_vars(da, &v), collect_vars(db, &v);
    int eq = !v.overflow && v.n > 0 && points_agree(da, db, &v, 1);
    free_difference(da), free_difference(db);
    return eq;
}

// x = value (a variable on the left): the value.
static const Expr *assigned(const Expr *e) {
    return e->kind == EX_REL && !strcmp(e->name, "=") && e->kid[0]->kind == EX_SYM ? e->kid[1] : NULL;
}

// ---------------------------------------------------------------------------
// Structures

// a \pm b as the unordered list (a + b, a - b) sharing e's kids (free with free_pm).
static Expr *pm_list(const Expr *e) {
    Expr *l = ex_new(EX_TUPLE), *plus = ex_new(EX_ADD), *minus = ex_new(EX_ADD), *neg = ex_new(EX_NEG);
    ex_add_kid(plus, e->kid[0]), ex_add_kid(plus, e->kid[1]);
    ex_add_kid(neg, e->kid[1]);
    ex_add_kid(minus, e->kid[0]), ex_add_kid(minus, neg);
    ex_add_kid(l, plus), ex_add_kid(l, minus);
    return l;
}

static void free_pm(Expr *l) {
    Expr *plus = l->kid[0], *minus = l->kid[1], *neg = minus->kid[1];
    free(neg->kid), free(neg), free(minus->kid), free(minus), free(plus->kid), free(plus);
    free(l->kid), free(l);
}

static int unordered_equal(const Expr *a, const Expr *b) {
    if (a->n != b->n) return 0;
    char used[256] = {0};
    if (b->n > 256) return 0;
    for (int i = 0; i < a->n; i++) {
        int found = 0;
        for (int j = 0; j < b->n && !found; j++)
            if (!used[j] && expr_equal(a->kid[i], b->kid[j])) used[j] = 1, found = 1;
        if (!found) return 0;
    }
    return 1;
}

static int ordered_equal(const Expr *a, const Expr *b) {
    if (a->n != b->n) return 0;
    for (int i = 0; i < a->n; i++)
        if (!expr_equal(a->kid[i], b->kid[i])) return 0;
    return 1;
}

static int is_unordered(const Expr *e) {
    return e->kind == EX_SET || e->kind == EX_PM || (e->kind == EX_TUPLE && !e->ordered);
}

static int structures_equal(const Expr *a, const Expr *b) {
    if (a->kind == EX_PM || b->kind == EX_PM) {
        Expr *la = a->kind == EX_PM ? pm_list(a) : NULL, *lb = b->kind == EX_PM ? pm_list(b) : NULL;
        const Expr *x = la ? la : a, *y = lb ? lb : b;
        int eq = is_unordered(x) && is_unordered(y) && unordered_equal(x, y);
        if (la) free_pm(la);
        if (lb) free_pm(lb);
        return eq;
    }
    if (a->kind == EX_SET || b->kind == EX_SET)
        return is_unordered(a) && is_unordered(b) && unordered_equal(a, b);
    if (a->kind == EX_TUPLE && b->kind == EX_TUPLE)
        return a->ordered || b->ordered ? ordered_equal(a, b) : unordered_equal(a, b);
    if (a->kind == EX_INTERVAL && b->kind == EX_INTERVAL)
        return a->open_lo == b->open_lo && a->open_hi == b->open_hi && ordered_equal(a, b);
    if ((a->kind == EX_INTERVAL && b->kind == EX_TUPLE) || (a->kind == EX_TUPLE && b->kind == EX_INTERVAL)) {
        const Expr *iv = a->kind == EX_INTERVAL ? a : b, *t = iv == a ? b : a;
        return iv->open_lo && iv->open_hi && t->ordered && ordered_equal(a, b);
    }
    if (a->kind == EX_MATRIX && b->kind == EX_MATRIX)
        return a->rows == b->rows && a->cols == b->cols && ordered_equal(a, b);
    if (a->kind == EX_UNION && b->kind == EX_UNION)
        return (expr_equal(a->kid[0], b->kid[0]) && expr_equal(a->kid[1], b->kid[1])) ||
               (expr_equal(a->kid[0], b->kid[1]) && expr_equal(a->kid[1], b->kid[0]));
    return 0;
}

static int text_equal(const char *a, const char *b) {
    for (;;) {
        while (*a == ' ') a++;
        while (*b == ' ') b++;
        if (*a != *b) return 0;
        if (!*a) return 1;
        a++, b++;
    }
}

int expr_equal(const Expr *a, const Expr *b) {
    if (!a || !b) return 0;
    const Expr *va = assigned(a), *vb = assigned(b);
    if (va && b->kind != EX_REL) return expr_equal(va, b);
    if (vb && a->kind != EX_REL) return expr_equal(a, vb);
    if (a->kind == EX_REL || b->kind == EX_REL) return a->kind == b->kind && relations_equal(a, b);
    if (a->kind == EX_TEXT || b->kind == EX_TEXT) return a->kind == b->kind && text_equal(a->name, b->name);
    if (a->kind == EX_CHOICE || b->kind == EX_CHOICE) return a->kind == b->kind && !strcmp(a->name, b->name);
    if (is_value_kind(a->kind) && is_value_kind(b->kind)) return values_equal(a, b);
    if (is_value_kind(a->kind) || is_value_kind(b->kind)) return 0;
    return structures_equal(a, b);
}
