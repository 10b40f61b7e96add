// tasks/graph: the computation graph of a built-in problem (quantities, steps, target,
// distractors): rendering a step's line from its template, evaluating a step, and the JSON
// form with full validation on reading (layout in docs/tasks.md).
#include "lemma/tasks.h"

#include <cJSON.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define GRAPH_MAX_INT 9007199254740992.0 // 2^53: integers JSON numbers hold exactly

static const char *kind_names[] = {"given", "const", "conversion", "derived"};

int tasks_render_step(const TaskStep *s, const int64_t *operands, char op, int64_t result,
                      char *buf, size_t cap) {
    size_t n = 0;
    char tmp[32];
    for (const char *p = s->tmpl; *p;) {
        const char *piece = NULL;
        size_t skip = 1;
        if (strncmp(p, "{op}", 4) == 0) snprintf(tmp, sizeof tmp, "%c", op), piece = tmp, skip = 4;
        else if (strncmp(p, "{=}", 3) == 0)
            snprintf(tmp, sizeof tmp, "%lld", (long long)result), piece = tmp, skip = 3;
        else if (p[0] == '{' && p[1] >= '0' && p[1] < '0' + s->n_args && p[2] == '}')
            snprintf(tmp, sizeof tmp, "%lld", (long long)operands[p[1] - '0']), piece = tmp, skip = 3;
        size_t len = piece ? strlen(piece) : 1;
        if (n + len + 1 > cap) return -1;
        memcpy(buf + n, piece ? piece : p, len);
        n += len, p += skip;
    }
    buf[n] = 0;
    return (int)n;
}

// a op b in 64 bits; -1 on overflow or an inexact or zero division.
static int apply_int(char op, int64_t a, int64_t b, int64_t *out) {
    switch (op) {
    case '+': return __builtin_add_overflow(a, b, out) ? -1 : 0;
    case '-': return __builtin_sub_overflow(a, b, out) ? -1 : 0;
    case '*': return __builtin_mul_overflow(a, b, out) ? -1 : 0;
    case '/':
        if (b == 0 || a % b != 0) return -1;
        *out = a / b;
        return 0;
    }
    return -1;
}

int tasks_graph_eval_step(const TaskGraph *g, int s, int64_t *out) {
    const TaskStep *st = &g->steps[s];
    int64_t v = g->quantities[st->args[0]].value;
    for (int k = 1; k < st->n_args; k++)
        if (apply_int(st->op, v, g->quantities[st->args[k]].value, &v)) return -1;
    *out = v;
    return 0;
}

// ---------------------------------------------------------------------------
// Writing

static cJSON *quantity_to_json(const TaskQuantity *q, int id) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "id", id);
    cJSON_AddStringToObject(o, "kind", kind_names[q->kind]);
    cJSON_AddNumberToObject(o, "value", (double)q->value);
    if (q->entity[0]) cJSON_AddStringToObject(o, "entity", q->entity);
    if (q->unit[0]) cJSON_AddStringToObject(o, "unit", q->unit);
    if (q->sentence >= 0) cJSON_AddNumberToObject(o, "sentence", q->sentence);
    return o;
}

static cJSON *step_to_json(const TaskStep *s) {
    cJSON *o = cJSON_CreateObject();
    char op[2] = {s->op, 0};
    cJSON_AddNumberToObject(o, "line", s->line);
    cJSON_AddStringToObject(o, "op", op);
    cJSON_AddItemToObject(o, "args", cJSON_CreateIntArray(s->args, s->n_args));
    cJSON_AddNumberToObject(o, "out", s->out);
    cJSON_AddStringToObject(o, "relation", s->relation);
    cJSON_AddStringToObject(o, "template", s->tmpl);
    return o;
}

cJSON *tasks_graph_to_json(const TaskGraph *g) {
    cJSON *o = cJSON_CreateObject(), *qs = cJSON_CreateArray(), *ss = cJSON_CreateArray();
    for (int i = 0; i < g->n_quantities; i++) cJSON_AddItemToArray(qs, quantity_to_json(&g->quantities[i], i));
    for (int i = 0; i < g->n_steps; i++) cJSON_AddItemToArray(ss, step_to_json(&g->steps[i]));
    cJSON_AddItemToObject(o, "quantities", qs);
    cJSON_AddItemToObject(o, "steps", ss);
    cJSON_AddNumberToObject(o, "target", g->target);
    cJSON_AddItemToObject(o, "distractors", cJSON_CreateIntArray(g->distractors, g->n_distractors));
    return o;
}

// ---------------------------------------------------------------------------
// Reading

__attribute__((format(printf, 3, 4))) static int why_fail(char *why, size_t len, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, len, fmt, ap);
    va_end(ap);
    return -1;
}

// An integer member in [lo, hi]; absent: def when optional (required < 0), else an error.
static int read_int(const cJSON *o, const char *key, int required, double lo, double hi,
                    int64_t def, int64_t *out, char *why, size_t len) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!v && !required) return *out = def, 0;
    if (!cJSON_IsNumber(v) || v->valuedouble != floor(v->valuedouble) || v->valuedouble < lo ||
        v->valuedouble > hi)
        return why_fail(why, len, "graph: '%s' must be an integer in [%.0f, %.0f]", key, lo, hi);
    *out = (int64_t)v->valuedouble;
    return 0;
}

// An optional string member that fits in cap bytes (absent: "").
static int read_str(const cJSON *o, const char *key, char *out, size_t cap, char *why, size_t len) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    out[0] = 0;
    if (!v) return 0;
    if (!cJSON_IsString(v) || strlen(v->valuestring) >= cap)
        return why_fail(why, len, "graph: '%s' must be a string shorter than %zu bytes", key, cap);
    strcpy(out, v->valuestring);
    return 0;
}

static int read_quantity(const cJSON *o, int id, TaskQuantity *q, char *why, size_t len) {
    int64_t v;
    if (!cJSON_IsObject(o)) return why_fail(why, len, "graph: quantity %d is not an object", id);
    if (read_int(o, "id", 1, id, id, 0, &v, why, len)) return -1;
    const cJSON *k = cJSON_GetObjectItemCaseSensitive(o, "kind");
    int kind = -1;
    for (int i = 0; i < 4 && cJSON_IsString(k); i++)
        if (strcmp(k->valuestring, kind_names[i]) == 0) kind = i;
    if (kind < 0) return why_fail(why, len, "graph: quantity %d has no valid 'kind'", id);
    q->kind = (TaskQuantityKind)kind;
    if (read_int(o, "value", 1, -GRAPH_MAX_INT, GRAPH_MAX_INT, 0, &q->value, why, len)) return -1;
    if (read_str(o, "entity", q->entity, sizeof q->entity, why, len)) return -1;
    if (read_str(o, "unit", q->unit, sizeof q->unit, why, len)) return -1;
    if (read_int(o, "sentence", 0, 0, 1e6, -1, &v, why, len)) return -1;
    q->sentence = (int)v, q->step = -1;
    return 0;
}

// An array of n ints each in [0, hi); n within [min_n, max_n].
static int read_ids(const cJSON *a, const char *key, int min_n, int max_n, int hi, int *ids,
                    int *n, char *why, size_t len) {
    int count = cJSON_IsArray(a) ? cJSON_GetArraySize(a) : -1;
    if (count < min_n || count > max_n)
        return why_fail(why, len, "graph: '%s' must be an array of %d to %d ids", key, min_n, max_n);
    for (int i = 0; i < count; i++) {
        const cJSON *v = cJSON_GetArrayItem(a, i);
        if (!cJSON_IsNumber(v) || v->valuedouble != floor(v->valuedouble) || v->valuedouble < 0 ||
            v->valuedouble >= hi)
            return why_fail(why, len, "graph: '%s' holds an id that is not a quantity", key);
        ids[i] = (int)v->valuedouble;
    }
    *n = count;
    return 0;
}

static int read_step(const cJSON *o, int s, TaskGraph *g, char *why, size_t len) {
    TaskStep *st = &g->steps[s];
    int64_t v;
    if (!cJSON_IsObject(o)) return why_fail(why, len, "graph: step %d is not an object", s);
    if (read_int(o, "line", 1, 0, 1e6, 0, &v, why, len)) return -1;
    st->line = (int)v;
    const cJSON *op = cJSON_GetObjectItemCaseSensitive(o, "op");
    if (!cJSON_IsString(op) || strlen(op->valuestring) != 1 || !strchr("+-*/", op->valuestring[0]))
        return why_fail(why, len, "graph: step %d: 'op' must be one of + - * /", s);
    st->op = op->valuestring[0];
    if (read_ids(cJSON_GetObjectItemCaseSensitive(o, "args"), "args", 2, TASK_MAX_ARGS,
                 g->n_quantities, st->args, &st->n_args, why, len))
        return -1;
    if (read_int(o, "out", 1, 0, g->n_quantities - 1, 0, &v, why, len)) return -1;
    st->out = (int)v;
    if (read_str(o, "relation", st->relation, sizeof st->relation, why, len)) return -1;
    if (read_str(o, "template", st->tmpl, sizeof st->tmpl, why, len)) return -1;
    return 0;
}

// Every step computes a derived quantity once, from other quantities, to its stated value.
static int check_steps(TaskGraph *g, char *why, size_t len) {
    for (int s = 0; s < g->n_steps; s++) {
        TaskStep *st = &g->steps[s];
        TaskQuantity *q = &g->quantities[st->out];
        if (q->kind != TQ_DERIVED || q->step >= 0)
            return why_fail(why, len, "graph: step %d: 'out' must be a derived quantity no other step computes", s);
        for (int k = 0; k < st->n_args; k++)
            if (st->args[k] == st->out) return why_fail(why, len, "graph: step %d uses its own result", s);
        int64_t v;
        if (tasks_graph_eval_step(g, s, &v) || v != q->value)
            return why_fail(why, len, "graph: step %d does not give quantity %d's value", s, st->out);
        q->step = s;
    }
    for (int i = 0; i < g->n_quantities; i++)
        if (g->quantities[i].kind == TQ_DERIVED && g->quantities[i].step < 0)
            return why_fail(why, len, "graph: derived quantity %d has no step", i);
    return 0;
}

int tasks_graph_from_json(const cJSON *j, TaskGraph *g, char *why, size_t len) {
    memset(g, 0, sizeof *g);
    if (!cJSON_IsObject(j)) return why_fail(why, len, "graph: not an object");
    const cJSON *qs = cJSON_GetObjectItemCaseSensitive(j, "quantities");
    const cJSON *ss = cJSON_GetObjectItemCaseSensitive(j, "steps");
    int nq = cJSON_IsArray(qs) ? cJSON_GetArraySize(qs) : -1;
    int ns = cJSON_IsArray(ss) ? cJSON_GetArraySize(ss) : -1;
    if (nq < 1 || nq > TASK_MAX_QUANTITIES)
        return why_fail(why, len, "graph: 'quantities' must be an array of 1 to %d", TASK_MAX_QUANTITIES);
    if (ns < 0 || ns > TASK_MAX_STEPS)
        return why_fail(why, len, "graph: 'steps' must be an array of at most %d", TASK_MAX_STEPS);
    g->n_quantities = nq, g->n_steps = ns;
    for (int i = 0; i < nq; i++)
        if (read_quantity(cJSON_GetArrayItem(qs, i), i, &g->quantities[i], why, len)) return -1;
    for (int s = 0; s < ns; s++)
        if (read_step(cJSON_GetArrayItem(ss, s), s, g, why, len)) return -1;
    int64_t t;
    if (read_int(j, "target", 1, 0, nq - 1, 0, &t, why, len)) return -1;
    g->target = (int)t;
    const cJSON *d = cJSON_GetObjectItemCaseSensitive(j, "distractors");
    if (d && read_ids(d, "distractors", 0, nq, nq, g->distractors, &g->n_distractors, why, len))
        return -1;
    return check_steps(g, why, len);
}
