// lemma/teacher_model: the model teacher. A checkpoint (the config teacher.config, else the
// build's own config: its model.* and the newest checkpoint in its run.dir) driven through
// the sampler (sample_generate) with the prompt templates of teacher.prompts
// (configs/prompts/{locate,inject,correct}.txt, {name} placeholders). Every job of a batch
// is decoded together; outputs that do not parse, injected solutions that the grader marks
// right and corrections that it marks wrong are dropped with their status (counted by the
// builder).
#include "lemma/ckpt.h"
#include "lemma/dist.h"
#include "lemma/lemma.h"
#include "lemma/hub.h"
#include "lemma/sample.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

// ---------------------------------------------------------------------------
// Templates

static char *read_template(const char *dir, const char *name, char *err, size_t err_len) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    char *t = lm_read_file(path, NULL);
    if (!t) snprintf(err, err_len, "cannot read the teacher prompt template '%s' (teacher.prompts)", path);
    return t;
}

int teacher_prompts_load(TeacherPrompts *p, const char *dir, char *err, size_t err_len) {
    memset(p, 0, sizeof *p);
    if ((p->locate = read_template(dir, "locate.txt", err, err_len)) &&
        (p->inject = read_template(dir, "inject.txt", err, err_len)) &&
        (p->correct = read_template(dir, "correct.txt", err, err_len)))
        return 0;
    teacher_prompts_free(p);
    return 2;
}

void teacher_prompts_free(TeacherPrompts *p) {
    free(p->locate), free(p->inject), free(p->correct);
    memset(p, 0, sizeof *p);
}

char *teacher_prompt_fill(const char *tmpl, const char *const *names, const char *const *values, int n) {
    size_t cap = strlen(tmpl) + 1, len = 0;
    for (int i = 0; i < n; i++) cap += strlen(values[i]) * 4;
    char *out = lm_malloc(cap);
    for (const char *p = tmpl; *p;) {
        const char *close = p[0] == '{' ? strchr(p, '}') : NULL;
        int hit = -1;
        for (int i = 0; close && i < n && hit < 0; i++)
            if ((size_t)(close - p - 1) == strlen(names[i]) && strncmp(p + 1, names[i], strlen(names[i])) == 0) hit = i;
        if (close && hit < 0 && close - p < 40 && close > p + 1) {
            int word = 1;
            for (const char *c = p + 1; c < close; c++) word &= isalnum((unsigned char)*c) || *c == '_';
            if (word) { // an unknown placeholder
                free(out);
                return NULL;
            }
        }
        const char *piece = hit >= 0 ? values[hit] : p;
        size_t plen = hit >= 0 ? strlen(values[hit]) : 1;
        if (len + plen + 1 > cap) out = lm_realloc(out, cap = 2 * (len + plen + 1));
        memcpy(out + len, piece, plen);
        len += plen;
        p = hit >= 0 ? close + 1 : p + 1;
    }
    out[len] = 0;
    return out;
}

// ---------------------------------------------------------------------------
// Parsers of the model's outputs

// The text after "key" (case-insensitive, at a line start) up to the end of its line, or NULL.
static const char *field(const char *out, const char *key, size_t *len) {
    size_t k = strlen(key);
    for (const char *p = out; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
        while (*p == ' ' || *p == '*') p++;
        if (strncasecmp(p, key, k) != 0) continue;
        const char *v = p + k;
        while (*v == ' ') v++;
        const char *e = strchr(v, '\n');
        *len = e ? (size_t)(e - v) : strlen(v);
        while (*len > 0 && strchr(" .\r", v[*len - 1])) (*len)--;
        return v;
    }
    return NULL;
}

static int field_int(const char *out, const char *key, int *x) {
    size_t len;
    const char *v = field(out, key, &len);
    if (v && (!strncasecmp(v, "step ", 5))) v += 5;
    return v && isdigit((unsigned char)*v) ? (*x = atoi(v), 0) : -1;
}

static void field_text(const char *out, const char *key, char *buf, size_t cap) {
    size_t len = 0;
    const char *v = field(out, key, &len);
    buf[0] = 0;
    if (v && len) snprintf(buf, cap, "%.*s.", (int)len, v);
}

int teacher_parse_locate(const char *out, int n_steps, int *step, LemmaErrorType *type, char *explanation,
                         size_t cap) {
    int n;
    size_t len;
    const char *t = field(out, "Error type:", &len);
    if (field_int(out, "Wrong step:", &n) != 0 || n < 1 || n > n_steps || !t) return -1;
    char label[64];
    snprintf(label, sizeof label, "%.*s", (int)(len < 63 ? len : 63), t);
    int e = lemma_error_parse(label);
    if (e < 0) return -1;
    *step = n - 1, *type = (LemmaErrorType)e;
    field_text(out, "Explanation:", explanation, cap);
    if (!explanation[0]) snprintf(explanation, cap, "This step is wrong: %s.", lemma_error_describe(*type));
    return 0;
}

int teacher_parse_inject(const char *out, char **solution, int *step, char *explanation, size_t cap) {
    size_t len;
    const char *w = field(out, "Wrong step:", &len);
    if (!w || field_int(out, "Wrong step:", step) != 0) return -1;
    const char *line = w;
    while (line > out && line[-1] != '\n') line--;
    size_t n = (size_t)(line - out);
    while (n > 0 && strchr(" \n\r", out[n - 1])) n--;
    *solution = lm_malloc(n + 1);
    memcpy(*solution, out, n);
    (*solution)[n] = 0;
    field_text(out, "Explanation:", explanation, cap);
    GradeSource src;
    char *pred = grade_extract_answer(*solution, &src);
    int ok = pred != NULL && src == GRADE_ANSWER_IS && *step >= 1;
    free(pred);
    if (!ok) {
        free(*solution);
        *solution = NULL;
        return -1;
    }
    (*step)--;
    return 0;
}

int teacher_parse_correct(const char *out, const char *gold, char **continuation) {
    *continuation = NULL;
    const char *a = strcasestr(out, "The answer is");
    if (!a) return -1;
    const char *e = strchr(a, '\n');
    size_t n = e ? (size_t)(e - out) : strlen(out);
    char *c = lm_malloc(n + 1);
    memcpy(c, out, n);
    c[n] = 0;
    char *pred = grade_extract_answer(c, NULL);
    int right = pred && grade_equal(pred, gold);
    free(pred);
    if (!right) {
        free(c);
        return -2;
    }
    *continuation = c;
    return 0;
}

// ---------------------------------------------------------------------------
// The model and generation

struct TeacherModel {
    Config cfg;  // the teacher's config (teacher.config), unused when own = 0
    int own;
    HubModel h;  // the teacher's model and tokenizer
    SampleConfig sc;
};

static void teacher_model_close(TeacherModel *tm) {
    hub_close(&tm->h);
    if (tm->own) config_free(&tm->cfg);
}

// The teacher's tokenizer, model and parameters (collective); 0, or 2 with err (nothing
// left open).
static int teacher_model_open(TeacherModel *tm, const Config *build_cfg, char *err, size_t err_len) {
    const char *path = cfg_str(build_cfg, "teacher.config");
    const Config *cfg = build_cfg;
    if (path[0]) {
        if (config_load(&tm->cfg, path, NULL, 0, err, err_len) != 0) return 2;
        tm->own = 1, cfg = &tm->cfg;
    }
    if (hub_open(&tm->h, cfg, err, err_len) != 0) {
        if (tm->own) config_free(&tm->cfg);
        return 2;
    }
    int rc = hub_load(&tm->h, cfg_str(cfg, "run.dir"), err, err_len);
    if (rc == 0) lm_info("teacher: parameters from %s", tm->h.from);
    if (rc == 1) snprintf(err, err_len, "teacher.kind = model: no checkpoint in %s/ckpt (the teacher's "
                          "parameters; set teacher.config to the teacher's config)", cfg_str(cfg, "run.dir"));
    SampleConfig *s = &tm->sc;
    s->strategy.temperature = (float)cfg_float(build_cfg, "teacher.temperature");
    s->strategy.top_p = 1.0f;
    s->max_new_tokens = (int)cfg_int(build_cfg, "teacher.max_new_tokens");
    s->seed = (uint64_t)cfg_int(build_cfg, "run.seed");
    s->slots = (int)cfg_int(build_cfg, "sample.batch");
    s->prefill_tokens = (int)cfg_int(build_cfg, "sample.prefill_tokens");
    s->kv = sample_kv_dtype(build_cfg);
    s->ctx = tm->h.m.cfg.max_seq;
    if (rc == 0) return 0;
    teacher_model_close(tm);
    return 2;
}

int teacher_model_generate(TeacherModel *tm, char *const *prompts, const long *keys, int n, char **outs,
                           char *err, size_t err_len) {
    (void)err, (void)err_len;
    SampleRequest *reqs = lm_calloc((size_t)n + 1, sizeof *reqs);
    SampleResult *res = lm_calloc((size_t)n + 1, sizeof *res);
    int *which = lm_calloc((size_t)n + 1, sizeof(int)), nr = 0;
    for (int i = 0; i < n; i++) {
        int len = 0;
        outs[i] = NULL;
        int *ids = tokenizer_prompt(&tm->h.tok, prompts[i], 0, &len); // through its chat template
        if (len >= tm->sc.ctx) { // no room for an answer
            free(ids);
            continue;
        }
        reqs[nr] = (SampleRequest){ids, len, (keys[i] >> 16) % SAMPLE_MAX_PROBLEMS, (int)(keys[i] & 0xffff), i};
        which[nr++] = i;
    }
    if (nr > 0) sample_generate(&tm->h.m, &tm->h.tok, &tm->sc, reqs, nr, res);
    for (int r = 0; r < nr; r++) {
        outs[which[r]] = sample_utf8_clean(res[r].text, res[r].text_len);
        free((int *)reqs[r].prompt);
    }
    sample_results_free(res, nr);
    free(reqs), free(res), free(which);
    return 0;
}

// ---------------------------------------------------------------------------
// The teacher

typedef struct {
    TeacherModel tm;
    TeacherPrompts prompts;
} ModelTeacher;

// A solution as "Step 1: ..." lines (the first n steps; all when n < 0).
static char *numbered(const char *solution, int n) {
    LemmaSteps s;
    lemma_steps_split(solution, &s);
    if (n < 0 || n > s.vr.n_steps) n = s.vr.n_steps;
    size_t cap = strlen(solution) + 16 * (size_t)n + 2, len = 0;
    char *out = lm_malloc(cap);
    out[0] = 0;
    for (int i = 0; i < n; i++)
        len += (size_t)snprintf(out + len, cap - len, "Step %d: %s\n", i + 1, s.vr.steps[i].text);
    lemma_steps_free(&s);
    return out;
}

static char *error_type_list(void) {
    size_t cap = 4096, len = 0;
    char *out = lm_malloc(cap);
    out[0] = 0;
    for (int e = 0; e < LEMMA_N_ERRORS; e++)
        len += (size_t)snprintf(out + len, cap - len, "- %s: %s\n", lemma_error_name((LemmaErrorType)e),
                                lemma_error_describe((LemmaErrorType)e));
    return out;
}

// Generates outs[i] for prompts[i] (freed by the caller); a failed generation leaves NULLs.
static void generate(Teacher *t, char **prompts, const long *keys, int n, char **outs) {
    ModelTeacher *mt = t->impl;
    char err[512];
    if (teacher_model_generate(&mt->tm, prompts, keys, n, outs, err, sizeof err) != 0) lm_warn("teacher: %s", err);
}

static long job_key(const LemmaQuestion *q, int op, int i) { return (q->index << 16) | (op << 12) | (i & 0xfff); }

static void model_locate(Teacher *t, TeacherLocateJob *jobs, int n) {
    ModelTeacher *mt = t->impl;
    char **prompts = lm_calloc((size_t)n + 1, sizeof(char *)), **outs = lm_calloc((size_t)n + 1, sizeof(char *));
    long *keys = lm_calloc((size_t)n + 1, sizeof(long));
    char *types = error_type_list();
    for (int i = 0; i < n; i++) {
        char *sol = numbered(jobs[i].solution, -1);
        const char *names[] = {"question", "gold", "solution", "error_types"};
        const char *vals[] = {jobs[i].q->p.question, jobs[i].q->p.answer, sol, types};
        prompts[i] = teacher_prompt_fill(mt->prompts.locate, names, vals, 4);
        keys[i] = job_key(jobs[i].q, 0, i);
        free(sol);
    }
    generate(t, prompts, keys, n, outs);
    for (int i = 0; i < n; i++) {
        TeacherLocateJob *j = &jobs[i];
        LemmaSteps s;
        lemma_steps_split(j->solution, &s);
        memset(&j->loc, 0, sizeof j->loc);
        j->loc.ref_step = -1;
        int step;
        LemmaErrorType type;
        j->status = TEACHER_UNPARSED;
        if (outs[i] && teacher_parse_locate(outs[i], s.vr.n_steps, &step, &type, j->loc.explanation,
                                            sizeof j->loc.explanation) == 0 &&
            lemma_location_at(j->solution, step, &j->loc) == 0)
            j->loc.type = type, j->status = TEACHER_OK;
        lemma_steps_free(&s);
        free(prompts[i]), free(outs[i]);
    }
    free(types), free(prompts), free(outs), free(keys);
}

static void model_inject(Teacher *t, TeacherInjectJob *jobs, int n) {
    ModelTeacher *mt = t->impl;
    char **prompts = lm_calloc((size_t)n + 1, sizeof(char *)), **outs = lm_calloc((size_t)n + 1, sizeof(char *));
    long *keys = lm_calloc((size_t)n + 1, sizeof(long));
    for (int i = 0; i < n; i++) {
        const LemmaQuestion *q = jobs[i].q;
        const char *names[] = {"question", "gold", "reference", "error_type", "error_description"};
        const char *vals[] = {q->p.question, q->p.answer, q->reference ? q->reference : "",
                              lemma_error_name(jobs[i].type), lemma_error_describe(jobs[i].type)};
        prompts[i] = q->reference ? teacher_prompt_fill(mt->prompts.inject, names, vals, 5) : NULL;
        keys[i] = job_key(q, 1, i);
    }
    generate(t, prompts, keys, n, outs);
    for (int i = 0; i < n; i++) {
        TeacherInjectJob *j = &jobs[i];
        memset(&j->loc, 0, sizeof j->loc);
        j->loc.ref_step = -1, j->solution = NULL;
        int step;
        char *sol = NULL, *pred = NULL;
        j->status = prompts[i] ? TEACHER_UNPARSED : TEACHER_NO_REFERENCE;
        if (outs[i] && teacher_parse_inject(outs[i], &sol, &step, j->loc.explanation, sizeof j->loc.explanation) == 0) {
            pred = grade_extract_answer(sol, NULL);
            if (pred && grade_equal(pred, j->q->p.answer)) j->status = TEACHER_NOT_WRONG;
            else if (lemma_location_at(sol, step, &j->loc) == 0) j->status = TEACHER_OK, j->loc.type = j->type;
        }
        if (j->status == TEACHER_OK) j->solution = sol;
        else free(sol);
        if (j->status == TEACHER_OK && !j->loc.explanation[0])
            snprintf(j->loc.explanation, sizeof j->loc.explanation, "This step is wrong: %s.", lemma_error_describe(j->type));
        free(pred), free(prompts[i]), free(outs[i]);
    }
    free(prompts), free(outs), free(keys);
}

static void model_correct(Teacher *t, TeacherCorrectJob *jobs, int n) {
    ModelTeacher *mt = t->impl;
    char **prompts = lm_calloc((size_t)n + 1, sizeof(char *)), **outs = lm_calloc((size_t)n + 1, sizeof(char *));
    long *keys = lm_calloc((size_t)n + 1, sizeof(long));
    for (int i = 0; i < n; i++) {
        const TeacherCorrectJob *j = &jobs[i];
        char *sol = numbered(j->solution, j->loc->step + 1), step[16];
        snprintf(step, sizeof step, "%d", j->loc->step + 1);
        const char *names[] = {"question", "gold", "solution", "wrong_step", "explanation"};
        const char *vals[] = {j->q->p.question, j->q->p.answer, sol, step, j->loc->explanation};
        prompts[i] = teacher_prompt_fill(mt->prompts.correct, names, vals, 5);
        keys[i] = job_key(j->q, 2, i);
        free(sol);
    }
    generate(t, prompts, keys, n, outs);
    for (int i = 0; i < n; i++) {
        int rc = outs[i] ? teacher_parse_correct(outs[i], jobs[i].q->p.answer, &jobs[i].continuation) : -1;
        jobs[i].status = rc == 0 ? TEACHER_OK : rc == -2 ? TEACHER_WRONG_ANSWER : TEACHER_UNPARSED;
        free(prompts[i]), free(outs[i]);
    }
    free(prompts), free(outs), free(keys);
}

static void model_destroy(Teacher *t) {
    ModelTeacher *mt = t->impl;
    teacher_model_close(&mt->tm);
    teacher_prompts_free(&mt->prompts);
    free(mt);
    free(t);
}

// Every template fills with its own placeholders (an unknown one is a user error).
static int prompts_check(const TeacherPrompts *p, const char *dir, char *err, size_t err_len) {
    const char *names[] = {"question", "gold", "solution", "error_types", "reference", "error_type",
                           "error_description", "wrong_step", "explanation"};
    const char *vals[] = {"", "", "", "", "", "", "", "", ""};
    const char *tm[] = {p->locate, p->inject, p->correct}, *files[] = {"locate.txt", "inject.txt", "correct.txt"};
    for (int i = 0; i < 3; i++) {
        char *f = teacher_prompt_fill(tm[i], names, vals, 9);
        if (!f) {
            snprintf(err, err_len, "%s/%s: an unknown {placeholder} (known: question, gold, solution, "
                     "error_types, reference, error_type, error_description, wrong_step, explanation)", dir, files[i]);
            return 2;
        }
        free(f);
    }
    return 0;
}

int teacher_model_create(const Config *cfg, Teacher **out, char *err, size_t err_len) {
    *out = NULL;
    ModelTeacher *mt = lm_calloc(1, sizeof *mt);
    const char *dir = cfg_str(cfg, "teacher.prompts");
    int rc = teacher_prompts_load(&mt->prompts, dir, err, err_len);
    if (rc == 0) rc = prompts_check(&mt->prompts, dir, err, err_len);
    if (rc == 0) rc = teacher_model_open(&mt->tm, cfg, err, err_len);
    if (rc != 0) {
        teacher_prompts_free(&mt->prompts);
        free(mt);
        return rc;
    }
    Teacher *t = lm_calloc(1, sizeof *t);
    t->kind = "model";
    for (int e = 0; e < LEMMA_N_ERRORS; e++) t->injectable[e] = e != LEMMA_ERR_NONSENSE_OUTPUT;
    t->locate = model_locate, t->inject = model_inject, t->correct = model_correct;
    t->destroy = model_destroy;
    t->seed = (uint64_t)cfg_int(cfg, "run.seed");
    t->impl = mt;
    *out = t;
    return 0;
}
