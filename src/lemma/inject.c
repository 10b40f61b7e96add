// lemma/inject: the symbolic teacher writes wrong solutions. Into a built-in problem's
// reference solution it puts one error of a requested type at one step (drawn), renders the
// changed step from the graph's template and recomputes every later step from the wrong
// value, so the solution stays self-consistent after the error and ends in a wrong final
// answer. A candidate is kept only when every changed value is a positive integer that is
// none of the problem's numbers (so the error is unambiguous: its step is the first wrong
// one and its type the one asked for); steps and candidates are tried in a drawn order.
//
//   calculation_error          the result of step k off by a small amount
//   operator_error             another operator on the same operands (not in conversions)
//   counting_error             a total with one term left out or counted twice
//   context_value_error        a given or const operand replaced by another number of the
//                              question, or by its digits reordered
//   hallucination              a given or const operand replaced by a number from nowhere
//   previous_step_value_error  an earlier result carried over wrongly (off by a little)
//   unit_conversion_error      the wrong conversion factor, or converting the wrong way
//   missing_step               step k left out: later steps use its input for its result
//                              (the error is at the first step that uses it)
//   question_misinterpretation the solution stops at an earlier quantity and answers it
#include "lemma/lemma.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define INJECT_MAX_VALUE 1000000000LL
#define INJECT_MAX_CANDIDATES 32

typedef struct {
    uint64_t seed, key;
    uint32_t n;
} Draws;

static uint32_t draw(Draws *d) {
    return lm_rng_u32(d->seed, LM_STREAM_BUILD, (d->key << 16) | (d->n++ & 0xffff));
}

// A drawn order of items 0..n-1 into order.
static void draw_order(Draws *d, int *order, int n) {
    for (int i = 0; i < n; i++) order[i] = i;
    for (int i = n - 1; i > 0; i--) {
        int j = (int)(draw(d) % (uint32_t)(i + 1)), t = order[i];
        order[i] = order[j], order[j] = t;
    }
}

// One change at step k of the reference.
typedef struct {
    int k;
    int skip, base;                 // missing step: step k left out, quantity base stands in
    int n;                          // operands written at step k
    int64_t x[LEMMA_MAX_ARGS];
    char op;
    int custom;                     // the operand list differs from the template's
    int wrong_result;               // calculation error: this result is written
    int64_t result;
} GraphMut;

static int64_t qval(const TaskGraph *g, int q) { return g->quantities[q].value; }

static int eval_int(const int64_t *x, int n, char op, int64_t *out) {
    int64_t v = x[0];
    for (int i = 1; i < n; i++) {
        int bad = 0;
        switch (op) {
        case '+': bad = __builtin_add_overflow(v, x[i], &v); break;
        case '-': bad = __builtin_sub_overflow(v, x[i], &v); break;
        case '*': bad = __builtin_mul_overflow(v, x[i], &v); break;
        case '/': bad = x[i] == 0 || v % x[i] != 0; if (!bad) v /= x[i]; break;
        default: bad = 1;
        }
        if (bad) return -1;
    }
    *out = v;
    return v > 0 && v <= INJECT_MAX_VALUE ? 0 : -1;
}

// Is v one of the problem's numbers (any quantity, any number the question states)?
static int is_problem_number(const LemmaQuestion *q, int64_t v) {
    const TaskGraph *g = q->p.graph;
    for (int i = 0; i < g->n_quantities; i++)
        if (qval(g, i) == v) return 1;
    for (int i = 0; i < q->ref->n_stated; i++)
        if (lemma_num_eq(q->ref->stated[i], (long double)v)) return 1;
    return 0;
}

// Step s written with operands x (n of them, maybe not the template's count) into buf.
static int render(const TaskStep *s, const int64_t *x, int n, char op, int64_t result, int custom,
                  char *buf, size_t cap) {
    if (!custom) return tasks_render_step(s, x, op, result, buf, cap);
    const char *t = s->tmpl, *first = NULL, *last = NULL;
    for (const char *p = t; *p; p++)
        if (p[0] == '{' && p[1] >= '0' && p[1] <= '9' && p[2] == '}') last = p + 3, first = first ? first : p;
    if (!first) return -1;
    char expr[160];
    size_t m = 0;
    for (int i = 0; i < n && m < sizeof expr; i++) {
        if (i) m += (size_t)snprintf(expr + m, sizeof expr - m, " %c ", op);
        if (m < sizeof expr) m += (size_t)snprintf(expr + m, sizeof expr - m, "%lld", (long long)x[i]);
    }
    if (m >= sizeof expr) return -1;
    TaskStep c = *s;
    int len = snprintf(c.tmpl, sizeof c.tmpl, "%.*s%s%s", (int)(first - t), t, expr, last);
    if (len < 0 || (size_t)len >= sizeof c.tmpl) return -1;
    c.n_args = 0;
    return tasks_render_step(&c, x, op, result, buf, cap);
}

typedef struct {
    char *buf;
    size_t n, cap;
} Text;

static void text_line(Text *t, const char *line) {
    size_t len = strlen(line);
    if (t->n + len + 2 > t->cap) t->buf = lm_realloc(t->buf, t->cap = 2 * (t->n + len + 2) + 256);
    memcpy(t->buf + t->n, line, len);
    t->n += len;
    t->buf[t->n++] = '\n';
    t->buf[t->n] = 0;
}

static void text_answer(Text *t, int64_t answer) {
    char line[64];
    snprintf(line, sizeof line, "The answer is: %lld", (long long)answer);
    text_line(t, line);
    t->buf[--t->n] = 0; // no newline after the answer
}

// Step s of the wrong solution into t, from the values nv (updated with its result); -1 when
// a value goes bad.
static int render_step(const TaskGraph *g, const GraphMut *m, int s, int64_t *nv, Text *t) {
    const TaskStep *st = &g->steps[s];
    int64_t x[LEMMA_MAX_ARGS], v = 0;
    int here = s == m->k, n = here ? m->n : st->n_args;
    char op = here ? m->op : st->op, line[512];
    for (int a = 0; a < n; a++) x[a] = here ? m->x[a] : nv[st->args[a]];
    if (eval_int(x, n, op, &v) != 0) return -1;
    if (here && m->wrong_result) v = m->result;
    nv[st->out] = v;
    if (render(st, x, n, op, v, here && m->custom, line, sizeof line) < 0) return -1;
    text_line(t, line);
    return 0;
}

// Every changed value a positive integer that is none of the problem's numbers (the left
// out step's stand-in aside), and the final answer wrong.
static int changes_ok(const LemmaQuestion *q, const GraphMut *m, const int64_t *nv) {
    const TaskGraph *g = q->p.graph;
    for (int i = 0; i < g->n_quantities; i++) {
        if (nv[i] == qval(g, i) || (m->skip && i == g->steps[m->k].out)) continue;
        if (nv[i] <= 0 || nv[i] > INJECT_MAX_VALUE || is_problem_number(q, nv[i])) return 0;
    }
    char answer[32];
    snprintf(answer, sizeof answer, "%lld", (long long)nv[g->target]);
    return !grade_equal(answer, q->p.answer);
}

// Applies m and renders the wrong solution into out; 0, or -1 when a value goes bad or
// collides with a number of the problem, or the answer does not change.
static int apply_mut(const LemmaQuestion *q, const GraphMut *m, LemmaInjection *out) {
    const TaskGraph *g = q->p.graph;
    int64_t nv[TASK_MAX_QUANTITIES];
    for (int i = 0; i < g->n_quantities; i++) nv[i] = qval(g, i);
    Text t = {0};
    int err_line = -1, n_lines = 0, rc = 0;
    for (int s = 0; s < g->n_steps && rc == 0; s++) {
        const TaskStep *st = &g->steps[s];
        if (s < m->k) {
            text_line(&t, q->ref->lines[s]), n_lines++;
            continue;
        }
        if (s == m->k && m->skip) { // left out: later steps use its input for its result
            nv[st->out] = nv[m->base];
            continue;
        }
        rc = render_step(g, m, s, nv, &t);
        if (err_line < 0 && s == m->k) err_line = n_lines;
        for (int a = 0; m->skip && err_line < 0 && a < st->n_args; a++)
            if (st->args[a] == g->steps[m->k].out) err_line = n_lines; // the first use of the skipped one
        n_lines++;
    }
    if (rc != 0 || err_line < 0 || !changes_ok(q, m, nv)) {
        free(t.buf);
        return -1;
    }
    text_answer(&t, nv[g->target]);
    out->text = t.buf, out->step = err_line;
    return 0;
}

// ---------------------------------------------------------------------------
// Candidates per type

static void mut_at(const TaskGraph *g, int k, GraphMut *m) {
    memset(m, 0, sizeof *m);
    const TaskStep *st = &g->steps[k];
    m->k = k, m->n = st->n_args, m->op = st->op;
    for (int a = 0; a < st->n_args; a++) m->x[a] = qval(g, st->args[a]);
}

static int is_known_number(const LemmaQuestion *q, int64_t v) { return is_problem_number(q, v); }

// v with its two last digits swapped, or -1.
static int64_t swap_digits(int64_t v) {
    if (v < 10 || (v / 10) % 10 == v % 10 || (v < 100 && v % 10 == 0)) return -1;
    return v - v % 100 + (v % 10) * 10 + (v / 10) % 10;
}

static int cands_calculation(const TaskGraph *g, int k, Draws *d, GraphMut *c) {
    static const int deltas[] = {1, -1, 2, -2, 3, -3, 10, -10, 9, -9, 5, -5};
    int n = 0, nd = (int)(sizeof deltas / sizeof deltas[0]), off = (int)(draw(d) % (uint32_t)nd);
    int64_t v = qval(g, g->steps[k].out);
    for (int i = 0; i < nd; i++) {
        mut_at(g, k, &c[n]);
        c[n].wrong_result = 1, c[n].result = v + deltas[(i + off) % nd];
        n++;
    }
    return n;
}

static int cands_operator(const TaskGraph *g, int k, Draws *d, GraphMut *c) {
    const TaskStep *st = &g->steps[k];
    if (!strcmp(st->relation, "convert")) return 0;
    const char *alt = st->op == '+' ? "-*" : st->op == '-' ? "+*" : st->op == '*' ? "+-/" : "*-+";
    int n = (int)strlen(alt), off = (int)(draw(d) % (uint32_t)n);
    for (int i = 0; i < n; i++) {
        mut_at(g, k, &c[i]);
        c[i].op = alt[(i + off) % n];
    }
    return n;
}

static int cands_counting(const TaskGraph *g, int k, Draws *d, GraphMut *c) {
    const TaskStep *st = &g->steps[k];
    if (st->op != '+' || strcmp(st->relation, "total") || st->n_args < 2) return 0;
    int n = 0, na = st->n_args;
    for (int drop = 0; na >= 3 && drop < na; drop++) { // a term left out
        mut_at(g, k, &c[n]);
        c[n].n = 0, c[n].custom = 1;
        for (int a = 0; a < na; a++)
            if (a != drop) c[n].x[c[n].n++] = qval(g, st->args[a]);
        n++;
    }
    for (int twice = 0; na < LEMMA_MAX_ARGS && twice < na; twice++) { // a term counted twice
        mut_at(g, k, &c[n]);
        c[n].custom = 1;
        for (int a = na; a > twice; a--) c[n].x[a] = c[n].x[a - 1];
        c[n].n = na + 1;
        n++;
    }
    int off = (int)(draw(d) % (uint32_t)n);
    GraphMut tmp[INJECT_MAX_CANDIDATES];
    for (int i = 0; i < n; i++) tmp[i] = c[(i + off) % n];
    memcpy(c, tmp, sizeof(GraphMut) * (size_t)n);
    return n;
}

// Candidates that replace operand slot a of step k by each value of xs.
static int replace_slot(const TaskGraph *g, int k, int a, const int64_t *xs, int nx, GraphMut *c, int n) {
    for (int i = 0; i < nx && n < INJECT_MAX_CANDIDATES; i++) {
        if (xs[i] <= 0 || xs[i] == qval(g, g->steps[k].args[a])) continue;
        mut_at(g, k, &c[n]);
        c[n++].x[a] = xs[i];
    }
    return n;
}

// The first operand slot of step k whose quantity kind is one of kinds ("gc": given or
// const, "d": derived, "v": conversion), from a drawn start; -1 none.
static int slot_of_kind(const TaskGraph *g, int k, const char *kinds, Draws *d) {
    const TaskStep *st = &g->steps[k];
    int off = (int)(draw(d) % (uint32_t)st->n_args);
    for (int i = 0; i < st->n_args; i++) {
        int a = (i + off) % st->n_args;
        TaskQuantityKind kd = g->quantities[st->args[a]].kind;
        char ch = kd == TQ_GIVEN ? 'g' : kd == TQ_CONST ? 'c' : kd == TQ_DERIVED ? 'd' : 'v';
        if (strchr(kinds, ch)) return a;
    }
    return -1;
}

static int cands_context(const LemmaQuestion *q, int k, Draws *d, GraphMut *c) {
    const TaskGraph *g = q->p.graph;
    int a = slot_of_kind(g, k, "gc", d);
    if (a < 0) return 0;
    int64_t y = qval(g, g->steps[k].args[a]), xs[TASK_MAX_QUANTITIES + 1];
    int nx = 0;
    for (int i = 0; i < g->n_quantities; i++) {
        TaskQuantityKind kd = g->quantities[i].kind;
        if ((kd == TQ_GIVEN || kd == TQ_CONST) && qval(g, i) != y) xs[nx++] = qval(g, i);
    }
    if (swap_digits(y) > 0) xs[nx++] = swap_digits(y);
    int off = nx ? (int)(draw(d) % (uint32_t)nx) : 0;
    int64_t rot[TASK_MAX_QUANTITIES + 1];
    for (int i = 0; i < nx; i++) rot[i] = xs[(i + off) % nx];
    return replace_slot(g, k, a, rot, nx, c, 0);
}

static int cands_hallucination(const LemmaQuestion *q, int k, Draws *d, GraphMut *c) {
    const TaskGraph *g = q->p.graph;
    int a = slot_of_kind(g, k, "gc", d);
    if (a < 0) return 0;
    int64_t y = qval(g, g->steps[k].args[a]), hi = 2 * (y > 20 ? y : 20), xs[16];
    int nx = 0;
    for (int i = 0; i < 48 && nx < 16; i++) {
        int64_t x = 2 + (int64_t)(draw(d) % (uint32_t)(hi - 1));
        if (!is_known_number(q, x) && !lemma_digits_reordered((long double)x, (long double)y)) xs[nx++] = x;
    }
    return replace_slot(g, k, a, xs, nx, c, 0);
}

static int cands_previous(const LemmaQuestion *q, int k, Draws *d, GraphMut *c) {
    const TaskGraph *g = q->p.graph;
    int a = slot_of_kind(g, k, "d", d);
    if (a < 0) return 0;
    int64_t y = qval(g, g->steps[k].args[a]);
    int64_t all[] = {swap_digits(y), y + 1, y - 1, y + 2, y - 2, y + 10, y - 10, y + 3, y - 3}, xs[9];
    int nx = 0;
    for (int i = 0; i < 9; i++)
        if (all[i] > 0 && !is_known_number(q, all[i])) xs[nx++] = all[i];
    int off = nx ? (int)(draw(d) % (uint32_t)nx) : 0;
    int64_t rot[9];
    for (int i = 0; i < nx; i++) rot[i] = xs[(i + off) % nx];
    return replace_slot(g, k, a, rot, nx, c, 0);
}

static int cands_conversion(const TaskGraph *g, int k, Draws *d, GraphMut *c) {
    const TaskStep *st = &g->steps[k];
    if (strcmp(st->relation, "convert")) return 0;
    int a = slot_of_kind(g, k, "v", d);
    if (a < 0) return 0;
    static const int64_t factors[] = {10, 12, 24, 60, 100, 1000, 30, 7};
    int nf = 8, off = (int)(draw(d) % (uint32_t)nf);
    int64_t rot[8];
    for (int i = 0; i < nf; i++) rot[i] = factors[(i + off) % nf];
    int n = replace_slot(g, k, a, rot, nf, c, 0);
    mut_at(g, k, &c[n]);
    c[n++].op = st->op == '*' ? '/' : '*'; // converting the wrong way
    return n;
}

static int cands_missing(const TaskGraph *g, int k, GraphMut *c) {
    const TaskStep *st = &g->steps[k];
    if (st->out == g->target) return 0;
    mut_at(g, k, &c[0]);
    c[0].skip = 1, c[0].base = st->args[0];
    for (int a = 0; a < st->n_args; a++) {
        TaskQuantityKind kd = g->quantities[st->args[a]].kind;
        if (kd == TQ_GIVEN || kd == TQ_DERIVED) {
            c[0].base = st->args[a];
            break;
        }
    }
    return 1;
}

static int candidates(const LemmaQuestion *q, LemmaErrorType type, int k, Draws *d, GraphMut *c) {
    const TaskGraph *g = q->p.graph;
    switch (type) {
    case LEMMA_ERR_CALCULATION: return cands_calculation(g, k, d, c);
    case LEMMA_ERR_OPERATOR: return cands_operator(g, k, d, c);
    case LEMMA_ERR_COUNTING: return cands_counting(g, k, d, c);
    case LEMMA_ERR_CONTEXT_VALUE: return cands_context(q, k, d, c);
    case LEMMA_ERR_HALLUCINATION: return cands_hallucination(q, k, d, c);
    case LEMMA_ERR_PREVIOUS_STEP_VALUE: return cands_previous(q, k, d, c);
    case LEMMA_ERR_UNIT_CONVERSION: return cands_conversion(g, k, d, c);
    case LEMMA_ERR_MISSING_STEP: return cands_missing(g, k, c);
    default: return 0;
    }
}

// question_misinterpretation: the reference cut after an earlier step, answering its value
// (with one step only: a number the question gives).
static int inject_misinterpretation(const LemmaQuestion *q, Draws *d, LemmaInjection *out) {
    const TaskGraph *g = q->p.graph;
    int64_t answer = -1;
    int j = -1;
    if (g->n_steps >= 2) {
        j = (int)(draw(d) % (uint32_t)(g->n_steps - 1));
        answer = qval(g, g->steps[j].out);
    } else {
        const TaskStep *st = &g->steps[0];
        for (int a = 0; a < st->n_args && answer < 0; a++)
            if (g->quantities[st->args[a]].kind == TQ_GIVEN) answer = qval(g, st->args[a]);
    }
    char text[32];
    snprintf(text, sizeof text, "%lld", (long long)answer);
    if (answer <= 0 || grade_equal(text, q->p.answer)) return -1;
    Text t = {0};
    for (int s = 0; s <= j; s++) text_line(&t, q->ref->lines[s]);
    text_answer(&t, answer);
    out->text = t.buf, out->step = j + 1;
    return 0;
}

int lemma_inject_graph(const LemmaQuestion *q, LemmaErrorType type, uint64_t seed, uint64_t key,
                       LemmaInjection *out) {
    memset(out, 0, sizeof *out);
    out->type = type, out->step = -1;
    const TaskGraph *g = q->p.graph;
    if (!g || !q->ref || g->n_steps == 0) return -1;
    Draws d = {seed, key, 0};
    if (type == LEMMA_ERR_QUESTION_MISINTERPRETATION) return inject_misinterpretation(q, &d, out);
    int order[TASK_MAX_STEPS];
    draw_order(&d, order, g->n_steps);
    for (int i = 0; i < g->n_steps; i++) {
        GraphMut c[INJECT_MAX_CANDIDATES];
        int n = candidates(q, type, order[i], &d, c);
        for (int j = 0; j < n; j++)
            if (apply_mut(q, &c[j], out) == 0) return 0;
    }
    return -1;
}

int lemma_inject(const LemmaQuestion *q, LemmaErrorType type, uint64_t seed, uint64_t key,
                 LemmaInjection *out) {
    if (q->p.graph) return lemma_inject_graph(q, type, seed, key, out);
    return lemma_inject_annotated(q, type, seed, key, out);
}
