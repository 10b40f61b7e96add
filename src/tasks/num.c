// tasks/num: exact numbers for grading and step checking. Values are 64-bit rationals
// (kept below 2^62 so that every intermediate fits in 128 bits); a result that does not fit
// falls back to long double and is marked inexact.
#include "lemma/tasks.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#define NUM_LIMIT ((__int128)1 << 62)


static TasksNum num_approx(long double v) {
    TasksNum r = {0, 1, v, 0};
    return r;
}

// p/q reduced when it fits, else the approximation v.
static TasksNum num_make(__int128 p, __int128 q, long double v) {
    if (q < 0) p = -p, q = -q;
    __int128 g = lm_gcd128(p, q);
    if (g > 1) p /= g, q /= g;
    if (lm_abs128(p) >= NUM_LIMIT || q >= NUM_LIMIT) return num_approx(v);
    TasksNum r = {(int64_t)p, (int64_t)q, (long double)p / (long double)q, 1};
    return r;
}

TasksNum tasks_num_int(int64_t x) { return num_make(x, 1, (long double)x); }

TasksNum tasks_num_ratio(int64_t p, int64_t q) {
    return num_make(p, q, (long double)p / (long double)q);
}

// Integer power of an exact base (|e| <= 64); -1 when the base is 0 and e < 0.
static int num_pow_exact(TasksNum a, int64_t e, TasksNum *out) {
    if (e < 0 && a.p == 0) return -1;
    TasksNum r = tasks_num_int(1);
    TasksNum base = e < 0 ? tasks_num_ratio(a.q, a.p) : a;
    for (int64_t i = 0; i < (e < 0 ? -e : e); i++)
        if (tasks_num_apply('*', r, base, &r)) return -1;
    *out = r;
    return 0;
}

// Exact a op b when both are exact; -1 when op cannot be done exactly here.
static int num_apply_exact(char op, TasksNum a, TasksNum b, TasksNum *out) {
    __int128 ap = a.p, aq = a.q, bp = b.p, bq = b.q;
    long double v;
    switch (op) {
    case '+': v = a.v + b.v; *out = num_make(ap * bq + bp * aq, aq * bq, v); return 0;
    case '-': v = a.v - b.v; *out = num_make(ap * bq - bp * aq, aq * bq, v); return 0;
    case '*': v = a.v * b.v; *out = num_make(ap * bp, aq * bq, v); return 0;
    case '/': v = a.v / b.v; *out = num_make(ap * bq, aq * bp, v); return 0;
    case '^':
        if (b.q == 1 && b.p >= -64 && b.p <= 64) return num_pow_exact(a, b.p, out);
        return -1;
    case 'f': { // floor division, Python's //
        __int128 n = ap * bq, d = aq * bp;
        if (d < 0) n = -n, d = -d;
        __int128 f = n / d - (n % d != 0 && n < 0);
        *out = num_make(f, 1, floorl(a.v / b.v));
        return 0;
    }
    }
    return -1;
}

int tasks_num_apply(char op, TasksNum a, TasksNum b, TasksNum *out) {
    if ((op == '/' || op == 'f') && (b.exact ? b.p == 0 : b.v == 0)) return -1;
    if (a.exact && b.exact && num_apply_exact(op, a, b, out) == 0) return 0;
    long double v;
    switch (op) {
    case '+': v = a.v + b.v; break;
    case '-': v = a.v - b.v; break;
    case '*': v = a.v * b.v; break;
    case '/': v = a.v / b.v; break;
    case '^': v = powl(a.v, b.v); break;
    case 'f': v = floorl(a.v / b.v); break;
    default: return -1;
    }
    if (!isfinite(v)) return -1;
    *out = num_approx(v);
    return 0;
}

int tasks_num_close(TasksNum a, TasksNum b, double rel) {
    if (rel == 0 && a.exact && b.exact) return a.p == b.p && a.q == b.q;
    long double d = fabsl(a.v - b.v), m = fmaxl(fabsl(a.v), fabsl(b.v));
    if (rel == 0) return d == 0;
    // the slack keeps exact boundary cases (1/3 against 0.3333 at 1e-4) on the inside
    return d <= (long double)rel * m * (1 + 1e-12L);
}

void tasks_num_format(TasksNum a, char *buf, size_t cap) {
    if (a.exact && a.q == 1) snprintf(buf, cap, "%lld", (long long)a.p);
    else if (a.exact) snprintf(buf, cap, "%lld/%lld", (long long)a.p, (long long)a.q);
    else snprintf(buf, cap, "%.12Lg", a.v);
}

static int is_digit(char c) { return c >= '0' && c <= '9'; }

// Length of a thousands group ",ddd" at s[i..n) (4), or 0 when there is none.
static size_t num_group(const char *s, size_t i, size_t n) {
    if (i + 4 > n || s[i] != ',') return 0;
    for (size_t k = 1; k < 4; k++)
        if (!is_digit(s[i + k])) return 0;
    if (i + 4 < n && is_digit(s[i + 4])) return 0;
    return 4;
}

// Adds digit d to the mantissa (exact while it stays below the limit).
static void num_push(__int128 *m, long double *v, int *exact, int d) {
    *v = *v * 10 + d;
    if (*m >= NUM_LIMIT / 16) *exact = 0;
    else *m = *m * 10 + d;
}

size_t tasks_num_scan(const char *s, size_t n, TasksNum *out, int *decimals) {
    size_t i = 0;
    __int128 m = 0;
    long double v = 0;
    int exact = 1, dec = 0, int_digits = 0;
    while (i < n && is_digit(s[i])) num_push(&m, &v, &exact, s[i++] - '0'), int_digits++;
    if (int_digits > 0 && int_digits <= 3)
        for (size_t g; (g = num_group(s, i, n)) > 0; i += g)
            for (size_t k = 1; k < 4; k++) num_push(&m, &v, &exact, s[i + k] - '0');
    if (i + 1 < n && s[i] == '.' && is_digit(s[i + 1])) {
        i++;
        while (i < n && is_digit(s[i])) {
            num_push(&m, &v, &exact, s[i++] - '0');
            if (++dec > 18) exact = 0;
        }
    }
    if (int_digits == 0 && dec == 0) return 0;
    long double scale = powl(10.0L, (long double)dec);
    if (!isfinite(v) || !isfinite(v / scale)) return 0;
    __int128 q = 1;
    for (int k = 0; k < dec && exact; k++) q *= 10;
    *out = exact ? num_make(m, q, v / scale) : num_approx(v / scale);
    if (decimals) *decimals = dec;
    return i;
}
