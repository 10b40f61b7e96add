// lemma/inject_annotated: errors put into a reference solution through its GSM8K calculator
// annotations <<expr=value>>: a calculation error (a wrong value) or an operator error
// (another operator, the value recomputed) at one drawn annotation. The wrong value is
// carried on: every later annotation that uses an old value gets the new one and is
// recomputed (its visible result after ">>" and a visible copy of its expression before
// "<<" too), and the final answer becomes the new value of the gold answer. A candidate is
// kept only when no new value is a number of the problem and the answer changes.
#include "lemma/lemma.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ANN_MAX 64
#define ANN_MAX_MAP 64

typedef struct {
    int raw;                   // its index among all "<<" of the solution
    size_t start, end;         // "<<" .. ">>" (end past the ">>")
    char expr[128];            // the left side
    LemmaComp comp;
    LemmaExprSpans sp;
    size_t vis_start, vis_end; // the visible number right after ">>" (empty when none)
    size_t pre_start;          // a visible copy of expr before "<<" ("48/2 = "), else start
} Annot;

typedef struct {
    Annot a[ANN_MAX];
    int n;
} Annots;

typedef struct {
    size_t start, end;
    char text[256];
} Edit;

typedef struct {
    long double from[ANN_MAX_MAP], to[ANN_MAX_MAP];
    int n;
    Edit edits[3 * ANN_MAX];
    int n_edits;
} Change;

static void ann_visible(const char *sol, Annot *a) {
    size_t i = a->end;
    if (sol[i] == '$') i++;
    TasksNum num;
    int dec;
    size_t used = tasks_num_scan(sol + i, strlen(sol + i), &num, &dec);
    a->vis_start = i, a->vis_end = i + used;
    a->pre_start = a->start;
    size_t len = strlen(a->expr), j = a->start;
    while (j > 0 && sol[j - 1] == ' ') j--;
    if (j == 0 || sol[j - 1] != '=') return;
    j--;
    while (j > 0 && sol[j - 1] == ' ') j--;
    if (j >= len && strncmp(sol + j - len, a->expr, len) == 0) a->pre_start = j - len;
}

static void ann_parse(const char *sol, Annots *as) {
    as->n = 0;
    int raw = 0;
    for (const char *p = sol; (p = strstr(p, "<<")) && as->n < ANN_MAX; raw++) {
        const char *e = strstr(p + 2, ">>");
        if (!e) break;
        Annot *a = &as->a[as->n];
        memset(a, 0, sizeof *a);
        a->raw = raw;
        a->start = (size_t)(p - sol), a->end = (size_t)(e + 2 - sol);
        const char *eq = NULL;
        for (const char *s = p + 2; s < e; s++)
            if (*s == '=') eq = s;
        char ann[200];
        snprintf(ann, sizeof ann, "%.*s", (int)(e + 2 - p), p);
        VerifyCheck *chk;
        int k = verify_text(ann, &chk, NULL);
        if (eq && k == 1 && chk[0].ok && (size_t)(eq - p - 2) < sizeof a->expr) {
            snprintf(a->expr, sizeof a->expr, "%.*s", (int)(eq - p - 2), p + 2);
            if (lemma_parse_expr(a->expr, &a->comp, &a->sp) == 0 && a->comp.n >= 2) {
                a->comp.value = chk[0].value.v, a->comp.stated = chk[0].stated_val.v;
                ann_visible(sol, a);
                as->n++;
            }
        }
        verify_checks_free(chk, k);
        p = e + 2;
    }
}

// ---------------------------------------------------------------------------
// Rewriting

static int is_problem_value(const LemmaQuestion *q, long double v) {
    for (int i = 0; i < q->ref->n_qty; i++)
        if (lemma_num_eq(q->ref->qty[i].value, v)) return 1;
    for (int i = 0; i < q->ref->n_stated; i++)
        if (lemma_num_eq(q->ref->stated[i], v)) return 1;
    return 0;
}

// v has at most two decimals and is no number of the problem.
static int fresh_value(const LemmaQuestion *q, long double v) {
    long double c = v * 100;
    return isfinite(v) && v > 0 && v < 1e12 && fabsl(c - roundl(c)) < 1e-6 && !is_problem_value(q, v);
}

static void edit_add(Change *ch, size_t start, size_t end, const char *text) {
    Edit *e = &ch->edits[ch->n_edits++];
    e->start = start, e->end = end;
    snprintf(e->text, sizeof e->text, "%s", text);
}

// Annotation a rewritten with expression expr and value v (and its visible parts).
static void edit_annotation(const char *sol, const Annot *a, const char *expr, long double v, Change *ch) {
    char val[48], ann[200];
    lemma_num_format(v, val, sizeof val);
    if (a->pre_start < a->start) {
        char pre[160];
        snprintf(pre, sizeof pre, "%s%.*s", expr, (int)(a->start - a->pre_start - strlen(a->expr)),
                 sol + a->pre_start + strlen(a->expr));
        edit_add(ch, a->pre_start, a->start, pre);
    }
    snprintf(ann, sizeof ann, "<<%s=%s>>", expr, val);
    edit_add(ch, a->start, a->end, ann);
    if (a->vis_end > a->vis_start) edit_add(ch, a->vis_start, a->vis_end, val);
}

static int map_find(const Change *ch, long double v) {
    for (int i = ch->n - 1; i >= 0; i--)
        if (lemma_num_eq(ch->from[i], v)) return i;
    return -1;
}

// Later annotations recomputed from the changed values; 0, or -1 when one goes bad.
static int propagate(const LemmaQuestion *q, const char *sol, const Annots *as, int k, Change *ch) {
    for (int j = k + 1; j < as->n; j++) {
        const Annot *a = &as->a[j];
        char expr[256];
        size_t n = 0, at = 0;
        int changed = 0;
        for (int i = 0; i < a->comp.n; i++) {
            int m = map_find(ch, a->comp.v[i]);
            if (m < 0) continue;
            char val[48];
            lemma_num_format(ch->to[m], val, sizeof val);
            n += (size_t)snprintf(expr + n, sizeof expr - n, "%.*s%s", a->sp.num_start[i] - (int)at, a->expr + at, val);
            at = (size_t)a->sp.num_end[i], changed = 1;
        }
        if (!changed) continue;
        snprintf(expr + n, sizeof expr - n, "%s", a->expr + at);
        long double v;
        if (lemma_eval_expr(expr, &v) != 0 || !isfinite(v) || v <= 0 || strlen(expr) > 120) return -1;
        if (!lemma_num_eq(v, a->comp.stated)) {
            if (is_problem_value(q, v) || ch->n == ANN_MAX_MAP) return -1;
            ch->from[ch->n] = a->comp.stated, ch->to[ch->n++] = v;
        }
        edit_annotation(sol, a, expr, v, ch);
    }
    return 0;
}

static int edit_cmp(const void *x, const void *y) {
    const Edit *a = x, *b = y;
    return a->start < b->start ? -1 : a->start > b->start;
}

// The solution with the edits applied and "The answer is: ANSWER" (malloc'd).
static char *apply_edits(const char *sol, Change *ch, long double answer) {
    qsort(ch->edits, (size_t)ch->n_edits, sizeof(Edit), edit_cmp);
    size_t cap = strlen(sol) + 64 + (size_t)ch->n_edits * 256, n = 0, at = 0;
    char *out = lm_malloc(cap), val[48];
    for (int i = 0; i < ch->n_edits; i++) {
        const Edit *e = &ch->edits[i];
        if (e->start < at) continue; // overlaps the edit before
        n += (size_t)snprintf(out + n, cap - n, "%.*s%s", (int)(e->start - at), sol + at, e->text);
        at = e->end;
    }
    n += (size_t)snprintf(out + n, cap - n, "%s", sol + at);
    while (n > 0 && (out[n - 1] == '\n' || out[n - 1] == ' ')) n--;
    lemma_num_format(answer, val, sizeof val);
    snprintf(out + n, cap - n, "\nThe answer is: %s", val);
    return out;
}

// The step (LemmaSteps of text) that holds the k-th "<<" of the text.
static int step_of_annotation(const char *text, int k) {
    LemmaSteps s;
    lemma_steps_split(text, &s);
    int seen = 0, found = -1;
    for (int i = 0; i < s.vr.n_steps && found < 0; i++)
        for (const char *p = s.vr.steps[i].text; (p = strstr(p, "<<")); p += 2)
            if (seen++ == k) found = i;
    lemma_steps_free(&s);
    return found;
}

// Annotation k given expression expr (value v): the whole rewrite, or -1.
static int try_change(const LemmaQuestion *q, const Annots *as, int k, const char *expr, long double v,
                      LemmaInjection *out) {
    const char *sol = q->p.solution;
    const Annot *a = &as->a[k];
    TasksNum gold;
    Change ch = {0};
    if (!fresh_value(q, v) || !grade_parse_number(q->p.answer, &gold)) return -1;
    ch.from[0] = a->comp.stated, ch.to[0] = v, ch.n = 1;
    edit_annotation(sol, a, expr, v, &ch);
    if (propagate(q, sol, as, k, &ch) != 0) return -1;
    int m = map_find(&ch, gold.v);
    char answer[48];
    if (m < 0) return -1;
    lemma_num_format(ch.to[m], answer, sizeof answer);
    if (grade_equal(answer, q->p.answer)) return -1; // the grader would still take it as right
    out->text = apply_edits(sol, &ch, ch.to[m]);
    out->step = step_of_annotation(out->text, a->raw);
    if (out->step >= 0) return 0;
    free(out->text);
    out->text = NULL;
    return -1;
}

static int try_calculation(const LemmaQuestion *q, const Annots *as, int k, uint32_t r, LemmaInjection *out) {
    static const int deltas[] = {1, -1, 2, -2, 3, -3, 10, -10, 9, -9, 5, -5};
    int nd = (int)(sizeof deltas / sizeof deltas[0]);
    const Annot *a = &as->a[k];
    for (int i = 0; i < nd; i++) {
        long double v = a->comp.stated + deltas[(i + (int)(r % (uint32_t)nd)) % nd];
        // the expression stays; only its value is wrong (try_change writes expr = v)
        if (try_change(q, as, k, a->expr, v, out) == 0) return 0;
    }
    return -1;
}

static int try_operator(const LemmaQuestion *q, const Annots *as, int k, uint32_t r, LemmaInjection *out) {
    const Annot *a = &as->a[k];
    static const char alts[] = "+-*/";
    int n_ops = a->comp.n - 1;
    for (int i = 0; i < n_ops; i++) {
        int pos = (i + (int)(r % (uint32_t)n_ops)) % n_ops;
        for (int j = 0; j < 4; j++) {
            char op = alts[(j + (int)(r >> 8)) % 4];
            if (op == a->comp.ops[pos]) continue;
            char expr[160];
            snprintf(expr, sizeof expr, "%.*s%c%s", a->sp.op_start[pos], a->expr, op,
                     a->expr + a->sp.op_start[pos] + a->sp.op_len[pos]);
            long double v;
            if (lemma_eval_expr(expr, &v) == 0 && try_change(q, as, k, expr, v, out) == 0) return 0;
        }
    }
    return -1;
}

int lemma_inject_annotated(const LemmaQuestion *q, LemmaErrorType type, uint64_t seed, uint64_t key,
                           LemmaInjection *out) {
    memset(out, 0, sizeof *out);
    out->type = type, out->step = -1;
    if (!q->ref || !q->p.solution || (type != LEMMA_ERR_CALCULATION && type != LEMMA_ERR_OPERATOR)) return -1;
    Annots *as = lm_malloc(sizeof *as);
    ann_parse(q->p.solution, as);
    int rc = -1;
    uint32_t off = lm_rng_u32(seed, LM_STREAM_BUILD, key << 16);
    for (int i = 0; i < as->n && rc != 0; i++) {
        int k = (int)((i + off) % (uint32_t)as->n);
        uint32_t r = lm_rng_u32(seed, LM_STREAM_BUILD, (key << 16) | (uint32_t)(1 + i));
        rc = type == LEMMA_ERR_CALCULATION ? try_calculation(q, as, k, r, out) : try_operator(q, as, k, r, out);
    }
    free(as);
    return rc;
}
