// tasks/load: problem records in and out of JSON and the JSONL loader. One record is read
// through the data.fields mapping (any JSONL: SVAMP's Body+Question, Answer), or is ours
// ({id, question, answer, solution?, graph?, split?, ops?}), GSM8K ({question, answer ending
// in "#### X"}) or MATH ({problem, solution with \boxed{X}, answer?, level?, type?}); a
// malformed line is reported with file:line and skipped, and too many of them is an error.
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

// MATH's level: "Level 3" or 3 -> 3; 0 when absent or not 1..5.
static int level_field(const cJSON *o, const char *key) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    int l = cJSON_IsNumber(v) ? (int)v->valuedouble : 0;
    if (cJSON_IsString(v)) {
        const char *s = v->valuestring;
        if (!strncmp(s, "Level ", 6)) s += 6;
        l = atoi(s);
    }
    return l >= 1 && l <= 5 ? l : 0;
}

// MATH-like: the gold is 'answer' when given, else the last \boxed{} of the solution.
static int from_math(const cJSON *o, TaskProblem *p, char *why, size_t len) {
    const char *sol = str_field(o, "solution"), *subj = str_field(o, "type");
    p->question = lm_strdup(str_field(o, "problem"));
    if (sol) p->solution = lm_strdup(sol);
    p->answer = text_field(o, "answer");
    if (!p->answer && sol) p->answer = grade_last_boxed(sol);
    if (!p->answer) return fail(why, len, "MATH-like record has no 'answer' and no \\boxed{} in 'solution'");
    p->level = level_field(o, "level");
    if (!subj) subj = str_field(o, "subject");
    if (subj) p->subject = lm_strdup(subj);
    return 0;
}

// ---------------------------------------------------------------------------
// data.fields: a mapping from a data set's keys to the fields of a problem

enum { MAP_QUESTION, MAP_ANSWER, MAP_SOLUTION, MAP_ID, MAP_LEVEL, MAP_SUBJECT, MAP_N };
static const char *const map_names[MAP_N] = {"question", "answer", "solution", "id", "level", "subject"};
static char *map_keys[MAP_N][4]; // up to 4 keys per field, joined by a space
static int map_set;

int tasks_fields_configure(const char *spec, char *err, size_t err_len) {
    for (int f = 0; f < MAP_N; f++)
        for (int k = 0; k < 4; k++) free(map_keys[f][k]), map_keys[f][k] = NULL;
    map_set = 0;
    if (!spec || !spec[0]) return 0;
    char *copy = lm_strdup(spec), *save = NULL;
    int rc = 0;
    for (char *item = strtok_r(copy, ",", &save); item && rc == 0; item = strtok_r(NULL, ",", &save)) {
        while (*item == ' ') item++;
        char *eq = strchr(item, '=');
        int f = 0;
        if (eq) *eq = 0;
        while (f < MAP_N && strcmp(item, map_names[f])) f++;
        if (!eq || f == MAP_N || map_keys[f][0]) {
            if (eq) *eq = '=';
            snprintf(err, err_len, "data.fields: '%s' is not FIELD=KEY[+KEY] with FIELD one of question, "
                     "answer, solution, id, level, subject (each once)", item);
            rc = -1;
            break;
        }
        char *save2 = NULL;
        int k = 0;
        for (char *key = strtok_r(eq + 1, "+", &save2); key && k < 4; key = strtok_r(NULL, "+", &save2)) {
            while (*key == ' ') key++;
            size_t n = strlen(key);
            while (n > 0 && key[n - 1] == ' ') key[--n] = 0;
            if (n) map_keys[f][k++] = lm_strdup(key);
        }
    }
    free(copy);
    if (rc == 0 && (!map_keys[MAP_QUESTION][0] || !map_keys[MAP_ANSWER][0])) {
        snprintf(err, err_len, "data.fields: 'question=KEY' and 'answer=KEY' are both needed");
        rc = -1;
    }
    map_set = rc == 0;
    return rc;
}

// The mapped keys' values (strings or numbers) joined by a space; NULL when one is missing.
static char *map_value(const cJSON *o, int f) {
    char *out = NULL;
    for (int k = 0; k < 4 && map_keys[f][k]; k++) {
        char *v = text_field(o, map_keys[f][k]);
        if (!v) return free(out), NULL;
        if (!out) {
            out = v;
            continue;
        }
        char *j = lm_malloc(strlen(out) + strlen(v) + 2);
        sprintf(j, "%s %s", out, v);
        free(out), free(v);
        out = j;
    }
    return out;
}

static int from_mapping(const cJSON *o, TaskProblem *p, char *why, size_t len) {
    p->question = map_value(o, MAP_QUESTION);
    p->answer = map_value(o, MAP_ANSWER);
    if (!p->question || !p->answer)
        return fail(why, len, "a field of data.fields ('question' or 'answer') is missing");
    if (strstr(p->answer, "####")) { // a GSM8K-style answer under another key
        char *gold = grade_after_hashes(p->answer);
        free(p->answer);
        p->answer = gold;
        if (!gold) return fail(why, len, "the mapped answer has nothing after '####'");
    }
    if (map_keys[MAP_SOLUTION][0]) p->solution = map_value(o, MAP_SOLUTION);
    if (map_keys[MAP_SUBJECT][0]) p->subject = map_value(o, MAP_SUBJECT);
    if (map_keys[MAP_LEVEL][0]) p->level = level_field(o, map_keys[MAP_LEVEL][0]);
    return 0;
}

// The record has the first mapped question key: read through the mapping.
static int mapped(const cJSON *o) {
    return map_set && cJSON_GetObjectItemCaseSensitive(o, map_keys[MAP_QUESTION][0]) != NULL;
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
    p->level = level_field(o, "level"); // kept through our files (MATH records written back)
    if (str_field(o, "subject")) p->subject = lm_strdup(str_field(o, "subject"));
    if ((v = cJSON_GetObjectItemCaseSensitive(o, "graph")) && !cJSON_IsNull(v)) {
        p->graph = lm_malloc(sizeof(TaskGraph));
        if (tasks_graph_from_json(v, p->graph, why, len)) return -1;
    }
    return 0;
}

static int problem_fill(const cJSON *o, TaskProblem *p, char *why, size_t len) {
    const char *q = str_field(o, "question"), *ans = str_field(o, "answer");
    if (mapped(o)) return from_mapping(o, p, why, len);
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
        p->id = mapped(o) && map_keys[MAP_ID][0] ? map_value(o, MAP_ID) : text_field(o, "id");
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
    if (p->level) cJSON_AddNumberToObject(o, "level", p->level);
    if (p->subject) cJSON_AddStringToObject(o, "subject", p->subject);
    return o;
}

void tasks_problem_free(TaskProblem *p) {
    if (!p) return;
    free(p->id), free(p->question), free(p->answer), free(p->solution), free(p->split), free(p->subject);
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
