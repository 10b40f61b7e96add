// tasks/verify: the step verifier. Splits a solution into steps (lines, optionally
// sentences), reads every checkable computation in a step (runs of numbers, operators,
// parentheses and '=' between words, or GSM8K <<expr=value>> annotations; in LaTeX text the
// equations inside math delimiters, through the expression engine, only when every side is a
// whole expression), evaluates both sides exactly and reports per step: ok, wrong, or nothing
// checkable.
#include "lemma/tasks.h"
#include "lemma/expr.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define VERIFY_MAX_RUN 256  // longer runs of arithmetic tokens are not checked
#define VERIFY_MAX_DEPTH 32 // parenthesis nesting

typedef enum { VT_NUM, VT_OP, VT_LP, VT_RP, VT_EQ, VT_OTHER } VTokKind;

typedef struct {
    VTokKind kind;
    char op;          // VT_OP: + - * / ^ f (floor division)
    TasksNum num;     // VT_NUM
    int decimals, pct;
    int frac;          // a tight fraction "1/3" read as one number (a division)
    size_t start, end; // bytes of the text
} VTok;

typedef struct {
    VTok *t;
    int n, cap;
} VToks;

typedef struct {
    VerifyCheck *c;
    int n, cap;
} VChecks;

static int is_digit(char c) { return c >= '0' && c <= '9'; }
static int is_alpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
static int is_space(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\f' || c == '\v'; }

static char *dup_n(const char *s, size_t n) {
    char *d = lm_malloc(n + 1);
    memcpy(d, s, n);
    d[n] = 0;
    return d;
}

static VTok *toks_push(VToks *v, VTokKind kind, size_t start, size_t end) {
    if (v->n == v->cap) v->t = lm_realloc(v->t, sizeof(VTok) * (size_t)(v->cap = v->cap ? 2 * v->cap : 32));
    VTok *t = &v->t[v->n++];
    memset(t, 0, sizeof *t);
    t->kind = kind, t->start = start, t->end = end;
    return t;
}

// ---------------------------------------------------------------------------
// Tokens

// Operator spelled at s[0..n): its symbol and length, or 0.
static size_t op_at(const char *s, size_t n, char *op) {
    static const struct { const char *text; char op; } ops[] = {
        {"**", '^'}, {"//", 'f'}, {"+", '+'}, {"-", '-'}, {"*", '*'}, {"/", '/'}, {"^", '^'},
        {"\xc3\x97", '*'}, {"\xc3\xb7", '/'}, {"\xc2\xb7", '*'}, {"\xe2\x88\x92", '-'},
        {"\xe2\x8b\x85", '*'}, {"\xe2\x80\x93", '-'},
    };
    for (size_t k = 0; k < sizeof ops / sizeof ops[0]; k++) {
        size_t len = strlen(ops[k].text);
        if (len <= n && memcmp(s, ops[k].text, len) == 0) return *op = ops[k].op, len;
    }
    return 0;
}

// Length of a currency sign at s[0..n) that comes right before a number, or 0.
static size_t currency_at(const char *s, size_t n) {
    static const char *signs[] = {"$", "\xe2\x82\xac", "\xc2\xa3"};
    for (size_t k = 0; k < 3; k++) {
        size_t len = strlen(signs[k]);
        if (len < n && memcmp(s, signs[k], len) == 0 &&
            (is_digit(s[len]) || (s[len] == '.' && len + 1 < n && is_digit(s[len + 1]))))
            return len;
    }
    return 0;
}

// A vulgar fraction character at s[0..n) ("½"): its length and value, or 0.
static size_t vulgar_at(const char *s, size_t n, TasksNum *num) {
    static const struct { const char *text; int p, q; } fr[] = {
        {"\xc2\xbd", 1, 2}, {"\xc2\xbc", 1, 4}, {"\xc2\xbe", 3, 4}, {"\xe2\x85\x93", 1, 3}, {"\xe2\x85\x94", 2, 3},
    };
    for (size_t k = 0; k < sizeof fr / sizeof fr[0]; k++) {
        size_t len = strlen(fr[k].text);
        if (len <= n && memcmp(s, fr[k].text, len) == 0) return *num = tasks_num_ratio(fr[k].p, fr[k].q), len;
    }
    return 0;
}

// A tight fraction "1/3" continuing the integer at s[i..e): the end of its denominator, or e.
// "25 / 1/3" means 25 / (1/3); "12/4/3" is not a fraction but a chain of divisions.
static size_t tight_fraction(const char *s, size_t i, size_t e, size_t n, TasksNum *num) {
    if (e + 1 >= n || s[e] != '/' || !is_digit(s[e + 1]) || (i > 0 && s[i - 1] == '/')) return e;
    TasksNum den;
    int dec;
    size_t len = tasks_num_scan(s + e + 1, n - e - 1, &den, &dec), end = e + 1 + len;
    if (dec || (end < n && (s[end] == '/' || s[end] == '.' || s[end] == ','))) return e;
    return tasks_num_apply('/', *num, den, num) ? e : end;
}

// A number (with currency sign and '%') at s[i..n); its end, or i when there is none.
static size_t lex_number(const char *s, size_t i, size_t n, VToks *v) {
    size_t cur = currency_at(s + i, n - i), j = i + cur;
    TasksNum num;
    int dec;
    size_t len = (j < n) ? tasks_num_scan(s + j, n - j, &num, &dec) : 0;
    if (len == 0 && (len = vulgar_at(s + j, n - j, &num)) > 0) {
        toks_push(v, VT_NUM, i, j + len)->num = num;
        return j + len;
    }
    if (len == 0) return i;
    if (s[j] == '0' && j + 1 < n && is_digit(s[j + 1])) { // "0900": a time or a code, not a number
        toks_push(v, VT_OTHER, i, j + len);
        return j + len;
    }
    size_t end = dec ? j + len : tight_fraction(s, j, j + len, n, &num);
    VTok *t = toks_push(v, VT_NUM, i, end);
    t->num = num, t->decimals = dec, t->frac = end != j + len;
    if (end < n && s[end] == '%') t->pct = 1, t->end++;
    return t->end;
}

// "x" as multiplication: between a number (or ')') and a number (or '(').
static int x_is_times(const char *s, size_t i, size_t n, const VToks *v) {
    if (v->n == 0 || (v->t[v->n - 1].kind != VT_NUM && v->t[v->n - 1].kind != VT_RP)) return 0;
    size_t j = i + 1;
    while (j < n && (s[j] == ' ' || s[j] == '\t')) j++;
    return j < n && (is_digit(s[j]) || s[j] == '(' || s[j] == '$' || s[j] == '.');
}

// A word or one other (UTF-8) character at s[i..n); its end.
static size_t lex_other(const char *s, size_t i, size_t n, VToks *v) {
    size_t j = i + 1;
    if (is_alpha(s[i])) {
        while (j < n && is_alpha(s[j])) j++;
        if (j == i + 1 && (s[i] == 'x' || s[i] == 'X') && x_is_times(s, i, n, v)) {
            toks_push(v, VT_OP, i, j)->op = '*';
            return j;
        }
    } else {
        while (j < n && ((unsigned char)s[j] & 0xC0) == 0x80) j++;
    }
    toks_push(v, VT_OTHER, i, j);
    return j;
}

static void tokenize(const char *s, size_t n, VToks *v) {
    for (size_t i = 0; i < n;) {
        char op;
        size_t len, j;
        if (is_space(s[i])) i++;
        else if ((j = lex_number(s, i, n, v)) > i) i = j;
        else if ((len = op_at(s + i, n - i, &op)) > 0) toks_push(v, VT_OP, i, i + len)->op = op, i += len;
        else if (s[i] == '(' || s[i] == '[') toks_push(v, VT_LP, i, i + 1), i++;
        else if (s[i] == ')' || s[i] == ']') toks_push(v, VT_RP, i, i + 1), i++;
        else if (s[i] == '=') toks_push(v, VT_EQ, i, i + 1), i++;
        else i = lex_other(s, i, n, v);
    }
}

// ---------------------------------------------------------------------------
// Expressions: sum := product (('+'|'-') product)*, product := unary (('*'|'/') unary)*,
// (product also takes "//", floor division), unary := ('-'|'+') unary | power, power := primary ('^' unary)?, primary := NUM | '(' sum ')'

typedef struct {
    const VTok *t;
    int pos, end, depth, n_ops;
} VParser;

static int p_sum(VParser *p, TasksNum *out);
static int p_unary(VParser *p, TasksNum *out);

static int p_is_op(const VParser *p, const char *ops) {
    return p->pos < p->end && p->t[p->pos].kind == VT_OP && strchr(ops, p->t[p->pos].op);
}

static int p_primary(VParser *p, TasksNum *out) {
    if (p->pos >= p->end) return -1;
    const VTok *t = &p->t[p->pos];
    if (t->kind == VT_NUM) {
        *out = t->num, p->pos++;
        p->n_ops += t->frac;
        return 0;
    }
    if (t->kind != VT_LP || p->depth >= VERIFY_MAX_DEPTH) return -1;
    p->pos++, p->depth++;
    if (p_sum(p, out) || p->pos >= p->end || p->t[p->pos].kind != VT_RP) return -1;
    p->pos++, p->depth--;
    return 0;
}

static int p_power(VParser *p, TasksNum *out) {
    if (p_primary(p, out)) return -1;
    if (!p_is_op(p, "^")) return 0;
    TasksNum e;
    p->pos++, p->n_ops++;
    return p_unary(p, &e) || tasks_num_apply('^', *out, e, out) ? -1 : 0;
}

static int p_unary(VParser *p, TasksNum *out) {
    if (!p_is_op(p, "+-")) return p_power(p, out);
    char op = p->t[p->pos++].op;
    if (p->depth++ >= VERIFY_MAX_DEPTH || p_unary(p, out)) return -1;
    p->depth--;
    return op == '-' ? tasks_num_apply('-', tasks_num_int(0), *out, out) : 0;
}

// One left-associative level: operand (op operand)* for the operators in ops; at the
// product level a '(' right after an operand multiplies ("2(6+12)").
static int p_level(VParser *p, TasksNum *out, const char *ops, int (*operand)(VParser *, TasksNum *)) {
    if (operand(p, out)) return -1;
    for (;;) {
        int implicit = ops[0] == '*' && p->pos < p->end && p->t[p->pos].kind == VT_LP;
        if (!implicit && !p_is_op(p, ops)) return 0;
        char op = implicit ? '*' : p->t[p->pos++].op;
        TasksNum b;
        p->n_ops++;
        if (operand(p, &b) || tasks_num_apply(op, *out, b, out)) return -1;
    }
}

static int p_product(VParser *p, TasksNum *out) { return p_level(p, out, "*/f", p_unary); }
static int p_sum(VParser *p, TasksNum *out) { return p_level(p, out, "+-", p_product); }

typedef struct {
    int ok;            // parsed
    int lo, hi;        // tokens used
    TasksNum v;
    int n_ops, single, decimals; // single: one number token (decimals: its digits after the point)
} VSide;

// Parses tokens [lo, hi) as one whole expression.
static VSide parse_side(const VTok *t, int lo, int hi) {
    VSide s = {0};
    VParser p = {t, lo, hi, 0, 0};
    if (lo >= hi || p_sum(&p, &s.v) || p.pos != hi) return s;
    s.ok = 1, s.lo = lo, s.hi = hi, s.n_ops = p.n_ops;
    s.single = hi - lo == 1;
    s.decimals = s.single ? t[lo].decimals : 0;
    return s;
}

// The first side of a run: [lo, hi) without leading '(' that do not close (".. (2 + 3 = 5)").
static VSide parse_first(const VTok *t, int lo, int hi) {
    VSide s = parse_side(t, lo, hi);
    while (!s.ok && lo < hi && t[lo].kind == VT_LP) s = parse_side(t, ++lo, hi);
    return s;
}

// The last side: [lo, hi) without trailing parentheses ("= 5)", "= 36 (").
static VSide parse_last(const VTok *t, int lo, int hi) {
    VSide s = parse_side(t, lo, hi);
    while (!s.ok && hi > lo && (t[hi - 1].kind == VT_LP || t[hi - 1].kind == VT_RP)) s = parse_side(t, lo, --hi);
    return s;
}

// ---------------------------------------------------------------------------
// Checks

// Significant digits of a single number side with `decimals` after the point.
static int sig_digits(const VSide *s) {
    long double a = fabsl(s->v.v);
    int d = s->decimals;
    while (a >= 1.0L) a /= 10.0L, d++;
    return d;
}

// The stated side (a single number) may be rounded: within one unit of its last digit; one
// written with 15 or more significant digits is a float64 result ("<<7/3=2.3333333333333335>>",
// "<<1.87*9=16.830000000000002>>"), equal within float64 precision.
static int sides_agree(const VSide *l, const VSide *r) {
    if (tasks_num_close(l->v, r->v, 0)) return 1;
    if ((!l->v.exact || !r->v.exact) && tasks_num_close(l->v, r->v, 1e-9)) return 1;
    const VSide *st = r->single ? r : l->single ? l : NULL;
    if (st && sig_digits(st) >= 15 && tasks_num_close(l->v, r->v, 1e-14)) return 1;
    int dec = st ? st->decimals : 0;
    return dec > 0 && fabsl(l->v.v - r->v.v) < powl(10.0L, (long double)-dec);
}

static void checks_add(VChecks *c, const char *text, const VTok *t, const VSide *l, const VSide *r) {
    if (c->n == c->cap) c->c = lm_realloc(c->c, sizeof(VerifyCheck) * (size_t)(c->cap = c->cap ? 2 * c->cap : 8));
    VerifyCheck *k = &c->c[c->n++];
    k->expr = dup_n(text + t[l->lo].start, t[l->hi - 1].end - t[l->lo].start);
    k->stated = dup_n(text + t[r->lo].start, t[r->hi - 1].end - t[r->lo].start);
    k->value = l->v, k->stated_val = r->v;
    k->ok = sides_agree(l, r);
}

// Words that join a number to more of the expression: "10% of 150", "1 and 1/2", "3 times 4".
static int is_joining_word(const char *text, const VTok *w) {
    static const char *words[] = {"of", "and", "times", "plus", "minus", "by", "per", "over", "into", "x"};
    size_t n = w->end - w->start;
    for (size_t k = 0; k < sizeof words / sizeof words[0]; k++)
        if (strlen(words[k]) == n && strncmp(text + w->start, words[k], n) == 0) return 1;
    return 0;
}

// Is token i (or the one past a parenthesis, going in direction dir) a number, or something
// numeric that is not read as one ("000")?
static int numeric_at(const char *text, const VTok *t, int n, int i, int dir) {
    if (i >= 0 && i < n && (t[i].kind == VT_LP || t[i].kind == VT_RP)) i += dir;
    return i >= 0 && i < n && (t[i].kind == VT_NUM || (t[i].kind == VT_OTHER && is_digit(text[t[i].start])));
}

// Does token w (index wi of t[0..n)) next to the run's edge token e make that side part of
// something larger? Digits that are not a number ("80 000"), a variable written onto a number
// ("3x"), a joining word with a number beyond it ("1 and 1/3 = ..."), and before the run,
// any word when the run starts with an operator ("S + 143 = ...") or is a bare number
// ("Remaining 10 = 62,300/10").
static int edge_blocked(const char *text, const VTok *t, int n, int wi, const VTok *e, int before, int bare) {
    const VTok *w = &t[wi];
    if (w->kind != VT_OTHER) return 0;
    if (is_digit(text[w->start])) return 1;
    if (!is_alpha(text[w->start])) return 0;
    int touching = before ? w->end == e->start : e->end == w->start;
    int joined = is_joining_word(text, w) && numeric_at(text, t, n, before ? wi - 1 : wi + 1, before ? -1 : 1);
    return touching || joined || (before && (e->kind == VT_OP || bare));
}

// "= 1.50 + 3.00 = 4.50" after "$3/2": a running computation that starts from the previous
// result, not a claim that the two sides are equal.
static int continues_from(const VTok *t, const VSide *prev, const VSide *cur) {
    return cur->n_ops > 0 && t[cur->lo].kind == VT_NUM && tasks_num_close(t[cur->lo].num, prev->v, 1e-9);
}

// A run of arithmetic tokens [lo, hi) of t[0..n) with at least one '=': every neighbouring
// pair of sides that parses, holds an operator and does not continue into words is a check.
static void check_run(const char *text, const VTok *t, int n, int lo, int hi, VChecks *c) {
    int eq[VERIFY_MAX_RUN], n_eq = 0;
    for (int i = lo; i < hi; i++) {
        if (t[i].pct) return; // '%' is ambiguous inside arithmetic: not checked
        if (t[i].kind == VT_EQ) eq[n_eq++] = i;
    }
    VSide prev = parse_first(t, lo, eq[0]);
    if (lo > 0 && prev.ok && edge_blocked(text, t, n, lo - 1, &t[prev.lo], 1, prev.n_ops == 0)) prev.ok = 0;
    for (int k = 0; k < n_eq; k++) {
        int s = eq[k] + 1, e = k + 1 < n_eq ? eq[k + 1] : hi, last = k + 1 == n_eq;
        VSide cur = last ? parse_last(t, s, e) : parse_side(t, s, e);
        if (last && cur.ok && hi < n && edge_blocked(text, t, n, hi, &t[cur.hi - 1], 0, 0)) cur.ok = 0;
        int claim = prev.ok && cur.ok && prev.n_ops + cur.n_ops > 0;
        if (claim && (sides_agree(&prev, &cur) || !continues_from(t, &prev, &cur))) checks_add(c, text, t, &prev, &cur);
        prev = cur;
    }
}

// Every run of non-word tokens in text[0..n) that holds an '='.
static void check_span(const char *text, size_t n, VChecks *c) {
    VToks v = {0};
    tokenize(text, n, &v);
    for (int i = 0; i < v.n;) {
        int j = i, has_eq = 0;
        while (j < v.n && v.t[j].kind != VT_OTHER) has_eq |= v.t[j++].kind == VT_EQ;
        if (has_eq && j - i <= VERIFY_MAX_RUN) check_run(text, v.t, v.n, i, j, c);
        i = j > i ? j : i + 1;
    }
    free(v.t);
}

// The <<...>> annotations of text; 1 when there was at least one.
static int check_annotations(const char *text, VChecks *c) {
    int found = 0;
    for (const char *p = text; (p = strstr(p, "<<"));) {
        const char *q = strstr(p + 2, ">>");
        if (!q) break;
        check_span(p + 2, (size_t)(q - p - 2), c);
        found = 1, p = q + 2;
    }
    return found;
}

// ---------------------------------------------------------------------------
// LaTeX steps: the equations inside math delimiters, read by the expression engine

// One side of an equation, text[0..n): its value when it is a whole expression without
// variables or words. single: a lone number (decimals: its digits after the point).
static int latex_side(const char *text, size_t n, VSide *out) {
    char *t = dup_n(text, n);
    Expr *e = expr_parse_math(t, NULL, 0);
    double d;
    int exact = 0;
    long long num = 0, den = 1;
    int ok = e && !expr_has_vars(e) && expr_value(e, &d, &exact, &num, &den) && isfinite(d);
    memset(out, 0, sizeof *out);
    if (ok) {
        out->ok = 1;
        out->v = exact ? tasks_num_ratio(num, den) : (TasksNum){0, 1, (long double)d, 0};
        const Expr *x = e->kind == EX_NEG ? e->kid[0] : e;
        out->single = x->kind == EX_NUM && !strpbrk(t, "\\+*/^(");
        const char *dot = strchr(t, '.');
        if (out->single && dot)
            while (is_digit(*++dot)) out->decimals++;
        out->n_ops = !out->single;
    }
    expr_free(e);
    free(t);
    return ok;
}

// An equation chain a = b = c inside one math segment m[0..n): checked only when every side
// is a whole expression (no fragments); each neighbouring pair with an operator is a check.
static void check_latex_equation(const char *m, size_t n, VChecks *c) {
    enum { MAX_SIDES = 32 };
    size_t cut[MAX_SIDES + 1];
    int n_sides = 0, depth = 0;
    cut[0] = 0;
    for (size_t i = 0; i < n; i++) {
        depth += strchr("{([", m[i]) ? 1 : strchr("})]", m[i]) ? -1 : 0;
        int eq = m[i] == '=' && depth == 0 && (i == 0 || !strchr("<>!", m[i - 1]));
        if (eq && n_sides + 1 < MAX_SIDES) cut[++n_sides] = i + 1;
    }
    if (n_sides == 0) return;
    VSide side[MAX_SIDES];
    for (int k = 0; k <= n_sides; k++) {
        size_t lo = cut[k], hi = k < n_sides ? cut[k + 1] - 1 : n;
        if (!latex_side(m + lo, hi - lo, &side[k])) return;
        while (lo < hi && is_space(m[lo])) lo++;
        while (hi > lo && is_space(m[hi - 1])) hi--;
        side[k].lo = (int)lo, side[k].hi = (int)hi;
    }
    for (int k = 0; k < n_sides; k++) {
        const VSide *l = &side[k], *r = &side[k + 1];
        if (l->single && r->single) continue;
        if (c->n == c->cap) c->c = lm_realloc(c->c, sizeof(VerifyCheck) * (size_t)(c->cap = c->cap ? 2 * c->cap : 8));
        VerifyCheck *ck = &c->c[c->n++];
        ck->expr = dup_n(m + l->lo, (size_t)(l->hi - l->lo));
        ck->stated = dup_n(m + r->lo, (size_t)(r->hi - r->lo));
        ck->value = l->v, ck->stated_val = r->v;
        ck->ok = sides_agree(l, r);
    }
}

// The math segments of a LaTeX step ($..$, $$..$$, \(..\), \[..\]), each checked as an
// equation chain; text outside them is not read.
static void check_latex(const char *text, VChecks *c) {
    static const char *const open[] = {"$$", "$", "\\(", "\\["}, *const close[] = {"$$", "$", "\\)", "\\]"};
    for (const char *p = text; *p;) {
        int k = 0;
        while (k < 4 && strncmp(p, open[k], strlen(open[k]))) k++;
        if (k == 4 || (p > text && p[-1] == '\\' && k < 2)) {
            p++;
            continue;
        }
        const char *s = p + strlen(open[k]), *e = strstr(s, close[k]);
        if (!e) return;
        check_latex_equation(s, (size_t)(e - s), c);
        p = e + strlen(close[k]);
    }
}

int verify_text(const char *text, VerifyCheck **checks, int *from_annotations) {
    VChecks c = {0};
    int latex = tasks_is_latex(text), ann = !latex && check_annotations(text, &c);
    if (latex) check_latex(text, &c);
    else if (!ann) check_span(text, strlen(text), &c);
    if (from_annotations) *from_annotations = ann;
    *checks = c.c;
    return c.n;
}

void verify_checks_free(VerifyCheck *checks, int n) {
    for (int i = 0; i < n; i++) free(checks[i].expr), free(checks[i].stated);
    free(checks);
}

// ---------------------------------------------------------------------------
// Steps

// Is the word that ends right before s[i] (a '.') an abbreviation like "Mr"?
static int is_abbreviation(const char *s, size_t i) {
    static const char *abbr[] = {"Mr", "Mrs", "Ms", "Dr", "St", "Jr", "Sr", "vs", "etc", "No", "approx"};
    size_t j = i;
    while (j > 0 && is_alpha(s[j - 1])) j--;
    for (size_t k = 0; k < sizeof abbr / sizeof abbr[0]; k++)
        if (strlen(abbr[k]) == i - j && strncmp(s + j, abbr[k], i - j) == 0) return 1;
    return i - j == 1 && s[j] >= 'A' && s[j] <= 'Z'; // an initial
}

// Length of the first sentence of s[0..n): up to ". " (or ! ?) followed by a non-lowercase
// character, outside <<...>>.
static size_t sentence_len(const char *s, size_t n) {
    int in_ann = 0;
    for (size_t i = 0; i + 1 < n; i++) {
        if (s[i] == '<' && s[i + 1] == '<') in_ann = 1;
        if (s[i] == '>' && s[i + 1] == '>') in_ann = 0;
        if (in_ann || !strchr(".!?", s[i]) || !is_space(s[i + 1])) continue;
        size_t j = i + 1;
        while (j < n && is_space(s[j])) j++;
        if (j < n && !(s[j] >= 'a' && s[j] <= 'z') && !(s[i] == '.' && is_abbreviation(s, i)))
            return i + 1;
    }
    return n;
}

static void add_step(VerifyResult *r, const char *s, size_t n, int line, int *cap) {
    while (n > 0 && is_space(*s)) s++, n--;
    while (n > 0 && is_space(s[n - 1])) n--;
    if (n == 0) return;
    if (r->n_steps == *cap) r->steps = lm_realloc(r->steps, sizeof(VerifyStep) * (size_t)(*cap = *cap ? 2 * *cap : 16));
    VerifyStep *st = &r->steps[r->n_steps];
    memset(st, 0, sizeof *st);
    st->text = dup_n(s, n);
    st->line = line;
    st->n_checks = verify_text(st->text, &st->checks, &st->from_annotations);
    st->verdict = st->n_checks ? VERIFY_OK : VERIFY_NONE;
    for (int k = 0; k < st->n_checks; k++)
        if (!st->checks[k].ok) st->verdict = VERIFY_WRONG;
    if (st->verdict == VERIFY_WRONG && r->first_wrong < 0) r->first_wrong = r->n_steps;
    r->n_ok += st->verdict == VERIFY_OK;
    r->n_wrong += st->verdict == VERIFY_WRONG;
    r->n_none += st->verdict == VERIFY_NONE;
    r->n_steps++;
}

void verify_solution(const char *text, int flags, VerifyResult *out) {
    memset(out, 0, sizeof *out);
    out->first_wrong = -1;
    int cap = 0, line = 0;
    for (const char *p = text; p && *p; line++) {
        const char *nl = strchr(p, '\n');
        size_t len = nl ? (size_t)(nl - p) : strlen(p);
        for (size_t i = 0; i < len;) {
            size_t k = (flags & VERIFY_SENTENCES) ? sentence_len(p + i, len - i) : len - i;
            add_step(out, p + i, k, line, &cap);
            i += k;
        }
        p = nl ? nl + 1 : NULL;
    }
}

void verify_result_free(VerifyResult *r) {
    for (int i = 0; i < r->n_steps; i++) {
        free(r->steps[i].text);
        verify_checks_free(r->steps[i].checks, r->steps[i].n_checks);
    }
    free(r->steps);
    memset(r, 0, sizeof *r);
}

const char *verify_verdict_name(VerifyVerdict v) {
    return v == VERIFY_OK ? "ok" : v == VERIFY_WRONG ? "wrong" : "none";
}
