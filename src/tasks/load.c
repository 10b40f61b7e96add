// tasks/load: problem records in and out of JSON and the JSONL loader. One record is ours
// ({id, question, answer, solution?, graph?, split?, ops?}), GSM8K ({question, answer ending
// in "#### X"}) or MATH-like ({problem, solution with \boxed{X}, answer?}); a malformed line
// is reported with file:line and skipped, and too many of them is an error.
#include "lemma/tasks.h"

#include <cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define LOAD_MAX_REPORTS 10 // malformed lines reported one by one, then only counted

static const char *split_names[] = {"train", "test", "ood"};

const char *tasks_split_name(TaskSplit s) {
    return (unsigned)s < TASK_N_SPLITS ? split_names[s] : "?";
}

int tasks_split_parse(const char *name) {
    for (int s = 0; s < TASK_N_SPLITS; s++)
        if (name && strcmp(name, split_names[s]) == 0) return s;
    return -1;
}

// ---------------------------------------------------------------------------
// One record

static const char *str_field(const cJSON *o, const char *key) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

// A string or number field as a string (numbers written back without a trailing ".0").
static char *text_field(const cJSON *o, const char *key) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (cJSON_IsString(v)) return lm_strdup(v->valuestring);
    if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble)) return NULL;
    char buf[64];
    double x = v->valuedouble;
    if (x == floor(x) && fabs(x) < 9e15) snprintf(buf, sizeof buf, "%.0f", x);
    else snprintf(buf, sizeof buf, "%.17g", x);
    return lm_strdup(buf);
}

static int fail(char *why, size_t len, const char *msg) {
    snprintf(why, len, "%s", msg);
    return -1;
}

// GSM8K: the solution is the text before "####", the gold the text after it.
static int from_gsm8k(const cJSON *o, TaskProblem *p, char *why, size_t len) {
    const char *ans = str_field(o, "answer");
    p->answer = grade_after_hashes(ans);
    if (!p->answer) return fail(why, len, "GSM8K 'answer' has nothing after '####'");
    size_t n = (size_t)(strstr(ans, "####") - ans);
    while (n > 0 && (ans[n - 1] == '\n' || ans[n - 1] == ' ')) n--;
    p->solution = lm_malloc(n + 1);
    memcpy(p->solution, ans, n);
    p->solution[n] = 0;
    return 0;
}

// MATH-like: the gold is 'answer' when given, else the last \boxed{} of the solution.
static int from_math(const cJSON *o, TaskProblem *p, char *why, size_t len) {
    const char *sol = str_field(o, "solution");
    p->question = lm_strdup(str_field(o, "problem"));
    if (sol) p->solution = lm_strdup(sol);
    p->answer = text_field(o, "answer");
    if (!p->answer && sol) p->answer = grade_last_boxed(sol);
    if (!p->answer) return fail(why, len, "MATH-like record has no 'answer' and no \\boxed{} in 'solution'");
    return 0;
}

// Ours: optional solution, split, ops and graph next to question and answer.
static int from_ours(const cJSON *o, TaskProblem *p, char *why, size_t len) {
    const cJSON *v;
    p->answer = text_field(o, "answer");
    if (!p->answer) return fail(why, len, "'answer' must be a string or a number");
    if ((v = cJSON_GetObjectItemCaseSensitive(o, "solution")) && !cJSON_IsNull(v)) {
        if (!cJSON_IsString(v)) return fail(why, len, "'solution' must be a string");
        p->solution = lm_strdup(v->valuestring);
    }
    if ((v = cJSON_GetObjectItemCaseSensitive(o, "split")) && !cJSON_IsNull(v)) {
        if (!cJSON_IsString(v)) return fail(why, len, "'split' must be a string");
        p->split = lm_strdup(v->valuestring);
    }
    if ((v = cJSON_GetObjectItemCaseSensitive(o, "ops")) && !cJSON_IsNull(v)) {
        if (!cJSON_IsNumber(v) || v->valuedouble != floor(v->valuedouble) || v->valuedouble < 0 ||
            v->valuedouble > 1e6)
            return fail(why, len, "'ops' must be a non-negative integer");
        p->ops = (int)v->valuedouble;
    }
    if ((v = cJSON_GetObjectItemCaseSensitive(o, "graph")) && !cJSON_IsNull(v)) {
        p->graph = lm_malloc(sizeof(TaskGraph));
        if (tasks_graph_from_json(v, p->graph, why, len)) return -1;
    }
    return 0;
}

static int problem_fill(const cJSON *o, TaskProblem *p, char *why, size_t len) {
    const char *q = str_field(o, "question"), *ans = str_field(o, "answer");
    if (str_field(o, "problem")) return from_math(o, p, why, len);
    if (!q) return fail(why, len, "no string 'question' (or 'problem')");
    p->question = lm_strdup(q);
    if (ans && strstr(ans, "####")) return from_gsm8k(o, p, why, len);
    return from_ours(o, p, why, len);
}

int tasks_problem_from_json(const cJSON *o, const char *default_id, TaskProblem *p, char *why,
                            size_t why_len) {
    memset(p, 0, sizeof *p);
    p->ops = -1;
    int rc = problem_fill(o, p, why, why_len);
    if (rc == 0) {
        p->id = text_field(o, "id");
        if (!p->id) p->id = lm_strdup(default_id ? default_id : "");
    } else {
        tasks_problem_free(p);
    }
    return rc;
}

cJSON *tasks_problem_to_json(const TaskProblem *p) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "id", p->id ? p->id : "");
    cJSON_AddStringToObject(o, "question", p->question ? p->question : "");
    cJSON_AddStringToObject(o, "answer", p->answer ? p->answer : "");
    if (p->solution) cJSON_AddStringToObject(o, "solution", p->solution);
    if (p->graph) cJSON_AddItemToObject(o, "graph", tasks_graph_to_json(p->graph));
    if (p->split) cJSON_AddStringToObject(o, "split", p->split);
    if (p->ops >= 0) cJSON_AddNumberToObject(o, "ops", p->ops);
    else cJSON_AddNullToObject(o, "ops");
    return o;
}

void tasks_problem_free(TaskProblem *p) {
    if (!p) return;
    free(p->id), free(p->question), free(p->answer), free(p->solution), free(p->split);
    free(p->graph);
    memset(p, 0, sizeof *p);
    p->ops = -1;
}

// ---------------------------------------------------------------------------
// Files

int tasks_open(LmJsonlReader *r, const char *path, char *err, size_t err_len) {
    struct stat st;
    if (stat(path, &st) == 0 && S_ISDIR(st.st_mode)) errno = EISDIR;
    else if (lm_jsonl_open(r, path) == 0) return 0;
    snprintf(err, err_len, "cannot read '%s': %s", path, strerror(errno));
    return 2;
}

cJSON *tasks_next_record(LmJsonlReader *r) {
    if (r->n_bad >= LOAD_MAX_REPORTS) r->quiet = 1;
    return lm_jsonl_next(r);
}

void tasks_bad_line(LmJsonlReader *r, const char *why) {
    r->n_ok--, r->n_bad++;
    if (!r->quiet) lm_warn("%s:%ld: malformed line skipped (%s)", r->path, r->line, why);
}

int tasks_bad_check(LmJsonlReader *r, double max_bad_frac, char *err, size_t err_len) {
    if (r->n_bad > LOAD_MAX_REPORTS)
        lm_warn("%s: %ld malformed lines in all (only the first %d shown)", r->path, r->n_bad,
                LOAD_MAX_REPORTS);
    if (r->n_bad == 0 || lm_jsonl_bad_fraction(r) <= max_bad_frac) return 0;
    snprintf(err, err_len, "%s: %ld of %ld lines are malformed (%.1f%%), more than data.max_bad_frac = %g",
             r->path, r->n_bad, r->n_ok + r->n_bad, 100.0 * lm_jsonl_bad_fraction(r), max_bad_frac);
    return 2;
}

static void set_push(TaskSet *set, const TaskProblem *p) {
    if (set->n == set->cap) {
        set->cap = set->cap ? 2 * set->cap : 256;
        set->items = lm_realloc(set->items, sizeof(TaskProblem) * (size_t)set->cap);
    }
    set->items[set->n++] = *p;
}

int tasks_load(const char *path, double max_bad_frac, TaskSet *set, char *err, size_t err_len) {
    memset(set, 0, sizeof *set);
    LmJsonlReader r;
    if (tasks_open(&r, path, err, err_len)) return 2;
    cJSON *o;
    char why[256], id[64];
    const char *base = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
    while ((o = tasks_next_record(&r))) {
        TaskProblem p;
        snprintf(id, sizeof id, "%.40s:%ld", base, r.line);
        if (tasks_problem_from_json(o, id, &p, why, sizeof why) == 0) set_push(set, &p);
        else tasks_bad_line(&r, why);
        cJSON_Delete(o);
    }
    set->n_bad = r.n_bad;
    int rc = tasks_bad_check(&r, max_bad_frac, err, err_len);
    lm_jsonl_close(&r);
    if (rc) tasks_set_free(set);
    return rc;
}

void tasks_set_free(TaskSet *set) {
    for (long i = 0; i < set->n; i++) tasks_problem_free(&set->items[i]);
    free(set->items);
    memset(set, 0, sizeof *set);
}
