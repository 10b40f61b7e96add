// lemma/ref: the reference of a question, what a correct solution computes. From the
// computation graph of a built-in problem (exact: every quantity's kind, every step's
// operands and operator), else from the computations of the reference solution (GSM8K
// annotations, "a op b = c"): an operand equal to an earlier result is that derived
// quantity, one the question states is given, any other is a conversion (world knowledge:
// 60 minutes, 100 cents); every computation's result is a new derived quantity.
#include "lemma/lemma.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

// The reference solution's steps as text (the answer line and what follows left out).
static void ref_lines(LemmaRef *r, const char *solution) {
    LemmaSteps s;
    lemma_steps_split(solution, &s);
    int n = s.answer_step >= 0 ? s.answer_step : s.vr.n_steps;
    r->lines = lm_calloc((size_t)n + 1, sizeof(char *));
    for (int i = 0; i < n; i++) r->lines[i] = lm_strdup(s.vr.steps[i].text);
    r->n_lines = n;
    lemma_steps_free(&s);
}

static void ref_stated(LemmaRef *r, const char *question) {
    r->n_stated = lemma_stated_numbers(question, r->stated, LEMMA_MAX_STATED);
}

static int ref_from_graph(LemmaRef *r, const TaskGraph *g, const char *solution) {
    if (g->n_quantities > LEMMA_MAX_QTY || g->n_steps > LEMMA_MAX_STEPS) return -1;
    r->graph = g;
    r->n_qty = g->n_quantities, r->n_steps = g->n_steps, r->target = g->target;
    for (int i = 0; i < g->n_quantities; i++) {
        r->qty[i].value = (long double)g->quantities[i].value;
        r->qty[i].kind = g->quantities[i].kind;
        r->qty[i].step = -1;
    }
    for (int k = 0; k < g->n_steps; k++) {
        const TaskStep *ts = &g->steps[k];
        LemmaRefStep *rs = &r->steps[k];
        rs->n_args = ts->n_args;
        for (int a = 0; a < ts->n_args; a++) rs->args[a] = ts->args[a];
        for (int a = 0; a + 1 < ts->n_args; a++) rs->ops[a] = ts->op;
        rs->out = ts->out, rs->line = ts->line;
        rs->convert = strcmp(ts->relation, "convert") == 0;
        r->qty[ts->out].step = k;
    }
    ref_lines(r, solution);
    return r->n_lines >= g->n_steps ? 0 : -1;
}

static int ref_is_stated(const LemmaRef *r, long double v) {
    for (int i = 0; i < r->n_stated; i++)
        if (lemma_num_eq(r->stated[i], v)) return 1;
    return 0;
}

// The quantity an operand of value v of a text reference is: the latest derived one with
// that value, else a given or conversion one (made on first use). -1 when full.
static int ref_operand(LemmaRef *r, long double v) {
    for (int i = r->n_qty - 1; i >= 0; i--)
        if (r->qty[i].kind == TQ_DERIVED && lemma_num_eq(r->qty[i].value, v)) return i;
    for (int i = 0; i < r->n_qty; i++)
        if (r->qty[i].kind != TQ_DERIVED && lemma_num_eq(r->qty[i].value, v)) return i;
    if (r->n_qty == LEMMA_MAX_QTY) return -1;
    LemmaQty *q = &r->qty[r->n_qty];
    q->value = v, q->step = -1;
    q->kind = ref_is_stated(r, v) ? TQ_GIVEN : TQ_CONVERSION;
    return r->n_qty++;
}

static int ref_add_comp(LemmaRef *r, const LemmaComp *c, int line) {
    if (r->n_steps == LEMMA_MAX_STEPS || r->n_qty == LEMMA_MAX_QTY) return -1;
    LemmaRefStep *rs = &r->steps[r->n_steps];
    memset(rs, 0, sizeof *rs);
    rs->n_args = c->n, rs->line = line;
    for (int a = 0; a < c->n; a++)
        if ((rs->args[a] = ref_operand(r, c->v[a])) < 0) return -1;
    memcpy(rs->ops, c->ops, sizeof rs->ops);
    if (r->n_qty == LEMMA_MAX_QTY) return -1;
    LemmaQty *q = &r->qty[r->n_qty];
    q->value = c->stated, q->kind = TQ_DERIVED, q->step = r->n_steps;
    rs->out = r->n_qty++;
    r->n_steps++;
    return 0;
}

static int ref_from_text(LemmaRef *r, const char *solution, const char *gold) {
    ref_lines(r, solution);
    LemmaSteps s;
    lemma_steps_split(solution, &s);
    int rc = 0;
    for (int i = 0; i < r->n_lines && rc == 0; i++) {
        const VerifyStep *st = &s.vr.steps[i];
        for (int k = 0; k < st->n_checks && rc == 0; k++) {
            LemmaComp c;
            if (!st->checks[k].ok || lemma_comp_from_check(&st->checks[k], &c) != 0 || c.n < 2) continue;
            rc = ref_add_comp(r, &c, i);
        }
    }
    lemma_steps_free(&s);
    TasksNum g;
    r->target = -1;
    if (grade_parse_number(gold, &g))
        for (int i = 0; i < r->n_qty; i++)
            if (r->qty[i].kind == TQ_DERIVED && lemma_num_eq(r->qty[i].value, g.v)) r->target = i;
    return rc == 0 && r->n_steps > 0 ? 0 : -1;
}

static void ref_free(LemmaRef *r) {
    if (!r) return;
    for (int i = 0; i < r->n_lines; i++) free(r->lines[i]);
    free(r->lines);
    free(r);
}

// The reference solution ending in "The answer is: GOLD" (malloc'd), or NULL.
static char *reference_text(const TaskProblem *p) {
    if (!p->solution) return NULL;
    GradeSource src;
    char *a = grade_extract_answer(p->solution, &src);
    int has = a && src == GRADE_ANSWER_IS;
    free(a);
    if (has) return lm_strdup(p->solution);
    size_t n = strlen(p->solution), m = n + strlen(p->answer) + 32;
    char *t = lm_malloc(m);
    while (n > 0 && (p->solution[n - 1] == '\n' || p->solution[n - 1] == ' ')) n--;
    snprintf(t, m, "%.*s\nThe answer is: %s", (int)n, p->solution, p->answer);
    return t;
}

void lemma_question_init(LemmaQuestion *q, long index, TaskProblem *p) {
    memset(q, 0, sizeof *q);
    q->index = index;
    q->p = *p;
    memset(p, 0, sizeof *p);
    q->reference = reference_text(&q->p);
    if (!q->p.solution) return;
    LemmaRef *r = lm_calloc(1, sizeof *r);
    ref_stated(r, q->p.question);
    int rc = q->p.graph ? ref_from_graph(r, q->p.graph, q->p.solution)
                        : ref_from_text(r, q->p.solution, q->p.answer);
    if (rc == 0) q->ref = r;
    else ref_free(r);
}

void lemma_question_free(LemmaQuestion *q) {
    ref_free(q->ref);
    free(q->reference);
    tasks_problem_free(&q->p);
    memset(q, 0, sizeof *q);
}
