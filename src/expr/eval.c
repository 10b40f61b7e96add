// expr/eval: values of expression trees. Arithmetic is exact on rationals of 64-bit reduced
// numerators and denominators (128-bit intermediates; a result that does not fit becomes a
// double), integer powers and square roots of perfect squares stay exact, everything else
// (pi, roots, functions) is a double. Variables take the values of an assignment.
#include "expr_internal.h"
#include "lemma/util.h"

#include <math.h>
#include <string.h>

#define XV_LIMIT ((__int128)1 << 62)


XVal xv_double(double d) {
    XVal v = {0, 0, 1, d};
    return v;
}

static XVal xv_make(__int128 p, __int128 q) {
    if (q == 0) return xv_double(NAN);
    if (q < 0) p = -p, q = -q;
    __int128 g = lm_gcd128(p, q);
    if (g > 1) p /= g, q /= g;
    if (lm_abs128(p) >= XV_LIMIT || q >= XV_LIMIT) return xv_double((double)p / (double)q);
    XVal v = {1, (long long)p, (long long)q, (double)p / (double)q};
    return v;
}

XVal xv_int(long long v) { return xv_make(v, 1); }
XVal xv_ratio(long long num, long long den) { return xv_make(num, den); }

XVal xv_add(XVal a, XVal b) {
    if (a.exact && b.exact) return xv_make((__int128)a.num * b.den + (__int128)b.num * a.den, (__int128)a.den * b.den);
    return xv_double(a.d + b.d);
}

XVal xv_mul(XVal a, XVal b) {
    if (a.exact && b.exact) {
        __int128 g1 = lm_gcd128(a.num, b.den), g2 = lm_gcd128(b.num, a.den);
        if (g1 == 0) g1 = 1;
        if (g2 == 0) g2 = 1;
        return xv_make((__int128)(a.num / g1) * (b.num / g2), (__int128)(a.den / g2) * (b.den / g1));
    }
    return xv_double(a.d * b.d);
}

XVal xv_div(XVal a, XVal b) {
    if (b.exact) {
        if (b.num == 0) return xv_double(NAN);
        XVal inv = xv_make(b.den, b.num);
        return xv_mul(a, inv);
    }
    return xv_double(a.d / b.d);
}

XVal xv_neg(XVal a) {
    if (a.exact) a.num = -a.num;
    a.d = -a.d;
    return a;
}

// a^k for an integer k, exact while it fits.
static XVal xv_ipow(XVal a, long long k) {
    if (k < 0) return xv_div(xv_int(1), xv_ipow(a, -k));
    XVal r = xv_int(1);
    for (long long i = 0; i < k && r.exact; i++) r = xv_mul(r, a);
    return r.exact ? r : xv_double(pow(a.d, (double)k));
}

// The exact rational root of p/q (both >= 0) of degree n, when there is one.
static int root_exact(long long v, int n, long long *out) {
    double guess = pow((double)v, 1.0 / n);
    for (long long c = (long long)guess - 1; c <= (long long)guess + 1; c++) {
        if (c < 0) continue;
        __int128 p = 1;
        for (int i = 0; i < n && p <= (__int128)v; i++) p *= c;
        if (p == (__int128)v) return *out = c, 1;
    }
    return 0;
}

static XVal xv_root(XVal a, int n) {
    long long rn, rd;
    if (a.exact && a.num >= 0 && root_exact(a.num, n, &rn) && root_exact(a.den, n, &rd))
        return xv_ratio(rn, rd);
    if (a.exact && a.num < 0 && n % 2 == 1 && root_exact(-a.num, n, &rn) && root_exact(a.den, n, &rd))
        return xv_ratio(-rn, rd);
    if (a.d < 0 && n % 2 == 1) return xv_double(-pow(-a.d, 1.0 / n));
    return xv_double(a.d < 0 ? NAN : pow(a.d, 1.0 / n));
}

XVal xv_sqrt(XVal a) { return xv_root(a, 2); }

XVal xv_pow(XVal a, XVal b) {
    if (b.exact && b.den == 1 && b.num >= -64 && b.num <= 64) return xv_ipow(a, b.num);
    if (b.exact && b.den <= 16 && b.num >= -64 && b.num <= 64) { // a^(p/q) = root_q(a)^p
        XVal r = xv_root(a, (int)b.den);
        if (r.exact) return xv_ipow(r, b.num);
    }
    return xv_double(pow(a.d, b.d));
}

// ---------------------------------------------------------------------------
// Evaluation

static double fact(double n) {
    if (n < 0 || n != floor(n)) return NAN;
    return n > 170 ? INFINITY : tgamma(n + 1);
}

static XVal eval_func(const char *f, XVal x, XVal y, int n_args) {
    if (!strcmp(f, "sqrt")) return n_args == 2 && y.exact && y.den == 1 && y.num >= 2 && y.num <= 64
                                       ? xv_root(x, (int)y.num) : n_args == 2 ? xv_double(pow(x.d, 1.0 / y.d)) : xv_sqrt(x);
    if (!strcmp(f, "abs")) return x.exact ? (x.num < 0 ? xv_neg(x) : x) : xv_double(fabs(x.d));
    if (!strcmp(f, "fact") && x.exact && x.den == 1 && x.num >= 0 && x.num <= 20) {
        XVal r = xv_int(1);
        for (long long i = 2; i <= x.num; i++) r = xv_mul(r, xv_int(i));
        return r;
    }
    if (!strcmp(f, "fact")) return xv_double(fact(x.d));
    if (!strcmp(f, "binom")) {
        if (x.exact && y.exact && x.den == 1 && y.den == 1 && y.num >= 0 && y.num <= 60 && x.num >= 0) {
            XVal r = xv_int(1);
            for (long long i = 0; i < y.num && r.exact; i++) r = xv_div(xv_mul(r, xv_int(x.num - i)), xv_int(i + 1));
            return r;
        }
        return xv_double(fact(x.d) / (fact(y.d) * fact(x.d - y.d)));
    }
    static const struct {
        const char *name;
        double (*fn)(double);
    } fns[] = {{"sin", sin},   {"cos", cos},   {"tan", tan},   {"arcsin", asin}, {"arccos", acos},
               {"arctan", atan}, {"sinh", sinh}, {"cosh", cosh}, {"tanh", tanh},   {"ln", log},
               {"log", log},   {"lg", log10},  {"exp", exp}};
    for (size_t i = 0; i < sizeof fns / sizeof fns[0]; i++)
        if (!strcmp(f, fns[i].name)) return xv_double(fns[i].fn(x.d));
    if (!strcmp(f, "cot")) return xv_double(1.0 / tan(x.d));
    if (!strcmp(f, "sec")) return xv_double(1.0 / cos(x.d));
    if (!strcmp(f, "csc")) return xv_double(1.0 / sin(x.d));
    return xv_double(NAN);
}

// The value of e with variables from (names, vals, n_vars); NaN for what has none.
XVal expr_eval_at(const Expr *e, const char (*names)[24], const double *vals, int n_vars, int depth) {
    if (depth > EXPR_MAX_DEPTH * 2) return xv_double(NAN);
    switch (e->kind) {
    case EX_NUM: {
        XVal v = e->exact ? xv_ratio(e->num, e->den) : xv_double(e->value);
        return v;
    }
    case EX_SYM:
        for (int i = 0; i < n_vars; i++)
            if (!strcmp(names[i], e->name)) return xv_double(vals[i]);
        return xv_double(NAN);
    case EX_NEG: return xv_neg(expr_eval_at(e->kid[0], names, vals, n_vars, depth + 1));
    case EX_ADD:
    case EX_MUL: {
        XVal acc = xv_int(e->kind == EX_ADD ? 0 : 1);
        for (int i = 0; i < e->n; i++) {
            XVal k = expr_eval_at(e->kid[i], names, vals, n_vars, depth + 1);
            acc = e->kind == EX_ADD ? xv_add(acc, k) : xv_mul(acc, k);
        }
        return acc;
    }
    case EX_DIV:
        return xv_div(expr_eval_at(e->kid[0], names, vals, n_vars, depth + 1),
                      expr_eval_at(e->kid[1], names, vals, n_vars, depth + 1));
    case EX_POW:
        return xv_pow(expr_eval_at(e->kid[0], names, vals, n_vars, depth + 1),
                      expr_eval_at(e->kid[1], names, vals, n_vars, depth + 1));
    case EX_FUNC: {
        XVal x = e->n > 0 ? expr_eval_at(e->kid[0], names, vals, n_vars, depth + 1) : xv_double(NAN);
        XVal y = e->n > 1 ? expr_eval_at(e->kid[1], names, vals, n_vars, depth + 1) : xv_double(NAN);
        return eval_func(e->name, x, y, e->n);
    }
    default: return xv_double(NAN);
    }
}

int expr_value(const Expr *e, double *out, int *exact, long long *num, long long *den) {
    XVal v = expr_eval_at(e, NULL, NULL, 0, 0);
    if (isnan(v.d)) return 0;
    *out = v.d;
    if (exact) *exact = v.exact;
    if (num) *num = v.num;
    if (den) *den = v.den;
    return 1;
}
