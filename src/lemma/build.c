// lemma/build: the data builder behind 'lemma build'. Every rank reads the graded samples
// (RUN_DIR/samples.jsonl) and keeps the questions whose problem index is its rank modulo the
// world size (problems from data.train, or the built-in train split). Per rank, in batches
// for the teacher:
//   1. harvest: the distinct wrong samples are located and classified; the counts per type
//      (every wrong sample) are summed over ranks: the measured error-type distribution;
//   2. plan: per question up to build.student_errors located wrong samples (drawn order) and,
//      when the question has a wrong sample, build.teacher_errors injected errors whose types
//      are drawn from the measured distribution or uniformly from build.error_types (a type
//      the problem cannot take is redrawn, three attempts);
//   3. correct: the teacher writes the corrected continuation of every error;
//   4. records: cot (the reference), rft (distinct correct samples) and per error the
//      reflection kinds of build.formats; a record whose final answer is not the gold answer
//      is dropped and counted; records go to the rank's part file in question order.
// Rank 0 then merges the parts (src/lemma/merge.c). Every draw is keyed by (run.seed,
// question index, purpose, number), so the output does not depend on the number of ranks.
#include "lemma/dist.h"
#include "lemma/lemma.h"

#include <cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BUILD_MAX_INDEX (1L << 24) // problem indices (as the sampler's; the randomness key packs them)
#define BUILD_ATTEMPTS 3           // draws of an injected error's type
#define BUILD_MAX_ERRORS 64        // student plus teacher errors of one question

enum { KEY_STUDENT = 1, KEY_TYPE = 2, KEY_INJECT = 3, KEY_PHRASE = 4, KEY_RESTART = 5 };

// The randomness key of a draw: question index, purpose, number.
static uint64_t build_key(long q, int purpose, int j) {
    return (((uint64_t)q * 8 + (uint64_t)purpose) << 12) | ((uint64_t)j & 0xfff);
}

static uint32_t build_draw(const BuildOptions *o, long q, int purpose, int j) {
    return lm_rng_u32(o->seed, LM_STREAM_BUILD, build_key(q, purpose, j) << 16);
}

// ---------------------------------------------------------------------------
// Questions and their samples

typedef struct {
    char *text;
    int count; // samples with this completion
} BuildSample;

typedef struct {
    BuildSample *items;
    int n, cap;
} SampleList;

typedef struct {
    LemmaQuestion q;
    SampleList wrong, right;   // distinct completions in sample order
    long n_samples, n_wrong;
    TeacherLocateJob *located; // one per distinct wrong sample (harvest)
} BuildItem;

typedef struct {
    BuildItem *items;
    long n, cap;
    int *slot_of;    // problem index -> item, -1 none (this rank's)
    long n_slot;
} BuildSet;

static void list_add(SampleList *l, const char *text) {
    for (int i = 0; i < l->n; i++)
        if (strcmp(l->items[i].text, text) == 0) {
            l->items[i].count++;
            return;
        }
    if (l->n == l->cap) l->items = lm_realloc(l->items, sizeof(BuildSample) * (size_t)(l->cap = l->cap ? 2 * l->cap : 4));
    l->items[l->n++] = (BuildSample){lm_strdup(text), 1};
}

static void list_free(SampleList *l) {
    for (int i = 0; i < l->n; i++) free(l->items[i].text);
    free(l->items);
}

static BuildItem *set_item(BuildSet *s, long index) {
    if (index >= s->n_slot) {
        long n = s->n_slot ? s->n_slot : 1024;
        while (n <= index) n *= 2;
        s->slot_of = lm_realloc(s->slot_of, sizeof(int) * (size_t)n);
        for (long i = s->n_slot; i < n; i++) s->slot_of[i] = -1;
        s->n_slot = n;
    }
    if (s->slot_of[index] >= 0) return &s->items[s->slot_of[index]];
    if (s->n == s->cap) s->items = lm_realloc(s->items, sizeof(BuildItem) * (size_t)(s->cap = s->cap ? 2 * s->cap : 64));
    BuildItem *it = &s->items[s->n];
    memset(it, 0, sizeof *it);
    it->q.index = index;
    s->slot_of[index] = (int)s->n++;
    return it;
}

static void set_free(BuildSet *s) {
    for (long i = 0; i < s->n; i++) {
        BuildItem *it = &s->items[i];
        lemma_question_free(&it->q);
        list_free(&it->wrong), list_free(&it->right);
        free(it->located);
    }
    free(s->items), free(s->slot_of);
    memset(s, 0, sizeof *s);
}

// ---------------------------------------------------------------------------
// Reading the samples

typedef struct {
    const BuildOptions *o;
    TaskSet problems;   // data.train (all of it), empty for the built-in split
    char **ids;         // data.train ids sorted, with their indices
    long *id_index;
} Resolver;

static const Resolver *cmp_ctx;
static int cmp_id(const void *a, const void *b) {
    return strcmp(cmp_ctx->problems.items[*(const long *)a].id, cmp_ctx->problems.items[*(const long *)b].id);
}

static void resolver_index(Resolver *r) {
    long n = r->problems.n;
    r->id_index = lm_malloc(sizeof(long) * (size_t)(n + 1));
    for (long i = 0; i < n; i++) r->id_index[i] = i;
    cmp_ctx = r;
    qsort(r->id_index, (size_t)n, sizeof(long), cmp_id);
}

static long resolve_id(const Resolver *r, const char *id) {
    if (!r->o->problems[0]) {
        char *end;
        if (strncmp(id, "train-", 6) != 0) return -1;
        errno = 0;
        long i = strtol(id + 6, &end, 10);
        return *end || errno || i < 0 || end == id + 6 ? -1 : i;
    }
    long lo = 0, hi = r->problems.n - 1;
    while (lo <= hi) {
        long mid = (lo + hi) / 2, i = r->id_index[mid];
        int c = strcmp(r->problems.items[i].id, id);
        if (c == 0) return i;
        if (c < 0) lo = mid + 1;
        else hi = mid - 1;
    }
    return -1;
}

// The problem index of a sample record, or -1 with why.
static long sample_index(const Resolver *r, const cJSON *o, char *why, size_t len) {
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(o, "id"), *pr = cJSON_GetObjectItemCaseSensitive(o, "problem");
    if (id && !cJSON_IsString(id)) return snprintf(why, len, "'id' is not a string"), -1;
    if (pr && (!cJSON_IsNumber(pr) || pr->valuedouble < 0 || pr->valuedouble >= BUILD_MAX_INDEX ||
               pr->valuedouble != (double)(long)pr->valuedouble))
        return snprintf(why, len, "'problem' is not an index below %ld", BUILD_MAX_INDEX), -1;
    if (!id && !pr) return snprintf(why, len, "neither 'id' nor 'problem'"), -1;
    long i = id ? resolve_id(r, id->valuestring) : (long)pr->valuedouble;
    if (id && i < 0) return snprintf(why, len, "unknown problem id '%.60s'", id->valuestring), -1;
    if (pr && id && (long)pr->valuedouble != i)
        return snprintf(why, len, "'problem' %ld is not the index of id '%.60s'", (long)pr->valuedouble, id->valuestring), -1;
    if (r->o->problems[0] && i >= r->problems.n)
        return snprintf(why, len, "problem %ld: %s has %ld problems", i, r->o->problems, r->problems.n), -1;
    if (i >= BUILD_MAX_INDEX) return snprintf(why, len, "problem index %ld is too large", i), -1;
    return i;
}

// One sample line: kept in its question when the question is this rank's.
static int read_sample(const Resolver *r, const cJSON *o, BuildSet *set, char *why, size_t len) {
    const cJSON *c = cJSON_GetObjectItemCaseSensitive(o, "completion");
    const cJSON *ok = cJSON_GetObjectItemCaseSensitive(o, "correct");
    if (!cJSON_IsString(c)) return snprintf(why, len, "no 'completion' string"), -1;
    if (ok && !cJSON_IsBool(ok)) return snprintf(why, len, "'correct' is not a bool"), -1;
    long i = sample_index(r, o, why, len);
    if (i < 0) return -1;
    if (i % dist.size != dist.rank) return 0;
    BuildItem *it = set_item(set, i);
    it->n_samples++;
    // the grade is recomputed against the problem's gold once the problem is known: the
    // file's flag is kept in the text list for now (1 = right)
    list_add(cJSON_IsTrue(ok) ? &it->right : &it->wrong, c->valuestring);
    return 0;
}

static int read_samples(const Resolver *r, BuildSet *set, char *err, size_t err_len) {
    LmJsonlReader rd;
    if (tasks_open(&rd, r->o->samples, err, err_len)) return 2;
    rd.quiet = dist.rank != 0;
    cJSON *o;
    char why[256];
    while ((o = tasks_next_record(&rd))) {
        if (read_sample(r, o, set, why, sizeof why) != 0) tasks_bad_line(&rd, why);
        cJSON_Delete(o);
    }
    int rc = tasks_bad_check(&rd, r->o->max_bad, err, err_len);
    if (rc == 0 && rd.n_ok == 0) snprintf(err, err_len, "%s: no sample records", r->o->samples), rc = 2;
    lm_jsonl_close(&rd);
    return rc;
}

// ---------------------------------------------------------------------------
// Problems

static int cmp_item(const void *a, const void *b) {
    long x = ((const BuildItem *)a)->q.index, y = ((const BuildItem *)b)->q.index;
    return x < y ? -1 : x > y;
}

// Moves the samples to the right list by the grader (the gold of the problem); counts the
// records whose 'correct' flag disagreed.
static void regrade(BuildItem *it, BuildStats *st) {
    SampleList lists[2] = {it->wrong, it->right};
    memset(&it->wrong, 0, sizeof it->wrong), memset(&it->right, 0, sizeof it->right);
    for (int l = 0; l < 2; l++) {
        for (int i = 0; i < lists[l].n; i++) {
            char *pred = grade_extract_answer(lists[l].items[i].text, NULL);
            int right = pred && grade_equal(pred, it->q.p.answer);
            free(pred);
            if (right != l) st->regraded += lists[l].items[i].count;
            SampleList *to = right ? &it->right : &it->wrong;
            for (int k = 0; k < lists[l].items[i].count; k++) list_add(to, lists[l].items[i].text);
        }
        list_free(&lists[l]);
    }
    for (int i = 0; i < it->wrong.n; i++) it->n_wrong += it->wrong.items[i].count;
}

// The questions of this rank in index order, with their problems. 0, or 1 with err.
static int load_questions(Resolver *r, BuildSet *set, BuildStats *st, char *err, size_t err_len) {
    qsort(set->items, (size_t)set->n, sizeof(BuildItem), cmp_item);
    for (long i = 0; i < set->n; i++) {
        BuildItem *it = &set->items[i];
        set->slot_of[it->q.index] = (int)i;
        TaskProblem p;
        if (r->o->problems[0]) {
            p = r->problems.items[it->q.index];
            memset(&r->problems.items[it->q.index], 0, sizeof p);
        } else if (gen_problem(&r->o->gen, TASK_SPLIT_TRAIN, it->q.index, &p) != 0) {
            snprintf(err, err_len, "the task generator could not draw train problem %ld with these tasks.* "
                     "settings", it->q.index);
            return 1;
        }
        lemma_question_init(&it->q, it->q.index, &p);
        regrade(it, st);
        st->questions++;
        st->samples += it->n_samples, st->wrong += it->n_wrong, st->correct += it->n_samples - it->n_wrong;
        st->distinct_wrong += it->wrong.n, st->distinct_correct += it->right.n;
        st->with_wrong += it->n_wrong > 0, st->with_correct += it->right.n > 0;
    }
    return 0;
}

// ---------------------------------------------------------------------------
// 1. Harvest

static void harvest(Teacher *t, BuildSet *set, BuildStats *st) {
    long n = 0;
    for (long i = 0; i < set->n; i++) n += set->items[i].wrong.n;
    TeacherLocateJob *jobs = lm_calloc((size_t)n + 1, sizeof *jobs);
    long k = 0;
    for (long i = 0; i < set->n; i++)
        for (int w = 0; w < set->items[i].wrong.n; w++)
            jobs[k++] = (TeacherLocateJob){&set->items[i].q, set->items[i].wrong.items[w].text, {0}, TEACHER_OK};
    t->locate(t, jobs, (int)n);
    k = 0;
    for (long i = 0; i < set->n; i++) {
        BuildItem *it = &set->items[i];
        it->located = lm_calloc((size_t)it->wrong.n + 1, sizeof(TeacherLocateJob));
        for (int w = 0; w < it->wrong.n; w++, k++) {
            it->located[w] = jobs[k];
            int c = it->wrong.items[w].count;
            st->teacher[jobs[k].status]++;
            if (jobs[k].status == TEACHER_OK) st->located += c, st->measured[jobs[k].loc.type] += c;
            else st->not_located += c;
        }
    }
    free(jobs);
}

static void stats_allreduce(BuildStats *st) {
    dist_allreduce_sum_long((long *)st, sizeof *st / sizeof(long)); // BuildStats is all longs
}

// ---------------------------------------------------------------------------
// 2. Plan and 3. correct

typedef struct {
    const LemmaQuestion *q;
    const char *wrong;         // the wrong solution (a sample's text, or owned when injected)
    char *owned;
    LemmaLocation loc;
    int source;                // 1 student, 2 teacher
    char *continuation;
    int slot;                  // its number within the question (draws)
} BuildCase;

typedef struct {
    BuildCase *c;
    long n, cap;
    long *first;               // per item: its first case; first[n_items] = n
} CaseList;

static BuildCase *case_add(CaseList *l) {
    if (l->n == l->cap) l->c = lm_realloc(l->c, sizeof(BuildCase) * (size_t)(l->cap = l->cap ? 2 * l->cap : 256));
    BuildCase *c = &l->c[l->n++];
    memset(c, 0, sizeof *c);
    return c;
}

// Student errors of a question: up to student_errors located wrong samples, drawn order.
static void plan_student(const BuildOptions *o, BuildItem *it, CaseList *l, BuildStats *st) {
    int n = it->wrong.n, order[BUILD_MAX_ERRORS * 4], taken = 0;
    if (n > (int)(sizeof order / sizeof order[0])) n = (int)(sizeof order / sizeof order[0]);
    for (int i = 0; i < n; i++) order[i] = i;
    for (int i = n - 1; i > 0; i--) {
        int j = (int)(build_draw(o, it->q.index, KEY_STUDENT, i) % (uint32_t)(i + 1)), t = order[i];
        order[i] = order[j], order[j] = t;
    }
    for (int i = 0; i < n && taken < o->student_errors; i++) {
        const TeacherLocateJob *j = &it->located[order[i]];
        if (j->status != TEACHER_OK) continue;
        BuildCase *c = case_add(l);
        c->q = &it->q, c->wrong = j->solution, c->loc = j->loc, c->source = 1, c->slot = taken++;
        st->student_used[c->loc.type]++;
    }
}

// The error type of injection (question q, number j, attempt a): from the measured
// distribution (types the teacher can inject) or uniformly from the configured list.
static int draw_type(const BuildOptions *o, const Teacher *t, const long *measured, long q, int j, int a) {
    double w[LEMMA_N_ERRORS], total = 0;
    for (int e = 0; e < LEMMA_N_ERRORS; e++) {
        w[e] = o->types_measured ? (double)measured[e] : 1.0;
        if (!t->injectable[e] || !o->types[e]) w[e] = 0;
        total += w[e];
    }
    if (total <= 0 && o->types_measured) // nothing measured: the configured list
        for (int e = 0; e < LEMMA_N_ERRORS; e++) total += w[e] = t->injectable[e] && o->types[e];
    if (total <= 0) return -1;
    double u = lm_rng_uniform(o->seed, LM_STREAM_BUILD, build_key(q, KEY_TYPE, j * 8 + a) << 16) * total;
    for (int e = 0; e < LEMMA_N_ERRORS; e++) {
        if (w[e] <= 0) continue;
        if (u < w[e]) return e;
        u -= w[e];
    }
    for (int e = LEMMA_N_ERRORS - 1; e >= 0; e--)
        if (w[e] > 0) return e;
    return -1;
}

// Teacher errors of every question with a wrong sample, in rounds of attempts.
static void plan_teacher(const BuildOptions *o, Teacher *t, BuildSet *set, const long *measured,
                         BuildCase **out, BuildStats *st) {
    long n = set->n * (long)o->teacher_errors;
    TeacherInjectJob *jobs = lm_calloc((size_t)n + 1, sizeof *jobs);
    int *done = lm_calloc((size_t)n + 1, sizeof(int));
    for (int a = 0; a < BUILD_ATTEMPTS; a++) {
        long m = 0;
        TeacherInjectJob *batch = lm_calloc((size_t)n + 1, sizeof *batch);
        long *which = lm_calloc((size_t)n + 1, sizeof(long));
        for (long i = 0; i < set->n; i++) {
            BuildItem *it = &set->items[i];
            for (int j = 0; j < o->teacher_errors && it->n_wrong > 0; j++) {
                long x = i * o->teacher_errors + j;
                int type = done[x] ? -1 : draw_type(o, t, measured, it->q.index, j, a);
                if (type < 0) continue;
                batch[m] = (TeacherInjectJob){&it->q, (LemmaErrorType)type,
                                              build_key(it->q.index, KEY_INJECT, j * 8 + a), NULL, {0}, TEACHER_OK};
                which[m++] = x;
            }
        }
        t->inject(t, batch, (int)m);
        for (long k = 0; k < m; k++) {
            st->teacher[batch[k].status]++;
            if (batch[k].status == TEACHER_OK) jobs[which[k]] = batch[k], done[which[k]] = 1;
        }
        free(batch), free(which);
    }
    for (long x = 0; x < n; x++) {
        if (!done[x]) continue;
        BuildCase *c = out[x] = lm_calloc(1, sizeof *c);
        c->q = jobs[x].q, c->owned = jobs[x].solution, c->wrong = c->owned, c->loc = jobs[x].loc;
        c->source = 2, c->slot = BUILD_MAX_ERRORS / 2 + (int)(x % o->teacher_errors);
        st->injected[c->loc.type]++;
    }
    free(jobs), free(done);
}

// Every case of this rank, question by question (students first, then the teacher's).
static void plan(const BuildOptions *o, Teacher *t, BuildSet *set, const long *measured, CaseList *l,
                 BuildStats *st) {
    long n_teach = set->n * (long)o->teacher_errors;
    BuildCase **teach = lm_calloc((size_t)n_teach + 1, sizeof(BuildCase *));
    if (o->teacher_errors > 0) plan_teacher(o, t, set, measured, teach, st);
    l->first = lm_calloc((size_t)set->n + 1, sizeof(long));
    for (long i = 0; i < set->n; i++) {
        l->first[i] = l->n;
        plan_student(o, &set->items[i], l, st);
        for (int j = 0; j < o->teacher_errors; j++) {
            BuildCase *c = teach[i * o->teacher_errors + j];
            if (!c) continue;
            *case_add(l) = *c;
            free(c);
        }
    }
    l->first[set->n] = l->n;
    free(teach);
}

static void correct_all(Teacher *t, CaseList *l, BuildStats *st) {
    TeacherCorrectJob *jobs = lm_calloc((size_t)l->n + 1, sizeof *jobs);
    for (long i = 0; i < l->n; i++) jobs[i] = (TeacherCorrectJob){l->c[i].q, l->c[i].wrong, &l->c[i].loc, NULL, TEACHER_OK};
    t->correct(t, jobs, (int)l->n);
    for (long i = 0; i < l->n; i++) {
        l->c[i].continuation = jobs[i].continuation;
        st->teacher[jobs[i].status]++;
    }
    free(jobs);
}

// ---------------------------------------------------------------------------
// 4. Records

typedef struct {
    const BuildOptions *o;
    FILE *f;
    BuildStats *st;
} Writer;

static void write_record(Writer *w, const LemmaQuestion *q, LemmaRecord *r) {
    BuildStats *st = w->st;
    st->made[r->kind]++;
    if (!lemma_record_answer_ok(r, q->p.answer)) {
        st->not_gold[r->kind]++;
        lemma_record_free(r);
        return;
    }
    cJSON *j = lemma_record_to_json(r, q);
    cJSON_AddNumberToObject(j, "_q", (double)q->index);
    cJSON_AddStringToObject(j, "_instruction", q->p.question);
    cJSON_AddStringToObject(j, "_input", r->input ? r->input : "");
    lm_jsonl_write(w->f, j);
    cJSON_Delete(j);
    lemma_record_free(r);
}

static void write_case(Writer *w, const BuildItem *it, const BuildCase *c) {
    const BuildOptions *o = w->o;
    long qi = it->q.index;
    const char *restart = it->q.reference;
    if (o->restart_own && it->right.n > 0)
        restart = it->right.items[build_draw(o, qi, KEY_RESTART, c->slot) % (uint32_t)it->right.n].text;
    static const LemmaKind kinds[] = {LEMMA_KIND_FIX, LEMMA_KIND_RESTART, LEMMA_KIND_LEMA, LEMMA_KIND_RETRY};
    for (int k = 0; k < 4; k++) {
        if (!o->kinds[kinds[k]]) continue;
        const char *phrase = o->phrases.items[build_draw(o, qi, KEY_PHRASE, c->slot * 8 + k) % (uint32_t)o->phrases.n];
        LemmaErrorCase ec = {&it->q, c->wrong, &c->loc, c->continuation, restart, phrase, o->back, o->truncate, c->source};
        LemmaRecord r;
        if (lemma_make_record(&ec, kinds[k], &r) == 0) write_record(w, &it->q, &r);
        else w->st->missing_input[kinds[k]]++;
    }
}

static void write_item(Writer *w, const BuildItem *it, const CaseList *l, long i) {
    LemmaRecord r;
    if (w->o->kinds[LEMMA_KIND_COT] && it->q.reference) {
        lemma_make_plain(&it->q, LEMMA_KIND_COT, it->q.reference, &r);
        write_record(w, &it->q, &r);
    }
    for (int k = 0; w->o->kinds[LEMMA_KIND_RFT] && k < it->right.n; k++) {
        lemma_make_plain(&it->q, LEMMA_KIND_RFT, it->right.items[k].text, &r);
        write_record(w, &it->q, &r);
    }
    for (long c = l->first[i]; c < l->first[i + 1]; c++) write_case(w, it, &l->c[c]);
}

// This rank's part file; 0, or 1 with err.
static int write_part(const BuildOptions *o, const BuildSet *set, const CaseList *l, BuildStats *st, char *err,
                      size_t err_len) {
    char dir[4096], path[4200];
    snprintf(dir, sizeof dir, "%s/data/parts", o->run_dir);
    snprintf(path, sizeof path, "%s/part-%05d.jsonl", dir, dist.rank);
    FILE *f = lm_mkdir_p(dir) == 0 ? fopen(path, "w") : NULL;
    if (!f) {
        snprintf(err, err_len, "cannot write '%s': %s", path, strerror(errno));
        return 1;
    }
    Writer w = {o, f, st};
    for (long i = 0; i < set->n; i++) write_item(&w, &set->items[i], l, i);
    int bad = fclose(f) != 0;
    if (bad) snprintf(err, err_len, "cannot write '%s': %s", path, strerror(errno));
    return bad;
}

static void cases_free(CaseList *l) {
    for (long i = 0; i < l->n; i++) free(l->c[i].owned), free(l->c[i].continuation);
    free(l->c), free(l->first);
}

// ---------------------------------------------------------------------------
// The build

// Reads the problems and this rank's samples; 0, 1 or 2 with err (collective outcome).
static int build_load(const BuildOptions *o, Resolver *r, BuildSet *set, BuildStats *st, char *err, size_t err_len) {
    int rc = 0;
    if (o->problems[0]) {
        rc = tasks_load(o->problems, o->max_bad, &r->problems, err, err_len);
        if (rc == 0) resolver_index(r);
    }
    if (rc == 0) rc = read_samples(r, set, err, err_len);
    if (rc == 0) rc = load_questions(r, set, st, err, err_len);
    if (rc == 1) lm_warn("build: %s", err);
    if (dist_any(rc == 1) && rc != 1) { // another rank failed
        snprintf(err, err_len, "another rank failed while reading the problems");
        rc = 1;
    }
    return rc;
}

int build_run(const BuildOptions *o, Teacher *t, BuildStats *st, char *err, size_t err_len) {
    double t0 = lm_now();
    memset(st, 0, sizeof *st);
    Resolver r = {o, {0}, NULL, NULL};
    BuildSet set = {0};
    int rc = build_load(o, &r, &set, st, err, err_len);
    CaseList cases = {0};
    if (rc == 0) {
        harvest(t, &set, st);
        BuildStats measured = {0};
        memcpy(measured.measured, st->measured, sizeof measured.measured);
        stats_allreduce(&measured); // the global distribution drives the injected types
        plan(o, t, &set, measured.measured, &cases, st);
        correct_all(t, &cases, st);
        rc = write_part(o, &set, &cases, st, err, err_len);
        if (rc) lm_warn("build: %s", err);
        if (dist_any(rc != 0)) rc = 1, snprintf(err, err_len, "a rank could not write its part file");
    }
    if (rc == 0) {
        stats_allreduce(st);
        dist_barrier();
        if (dist.rank == 0) rc = build_merge(o, dist.size, st, lm_now() - t0, err, err_len);
        dist_bcast(&rc, sizeof rc, 0);
    }
    cases_free(&cases);
    set_free(&set);
    tasks_set_free(&r.problems);
    free(r.id_index);
    return rc;
}
