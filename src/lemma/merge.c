// lemma/merge: rank 0's end of a build. The ranks' part files (each in question order) are
// merged by question index, records already written (the same prompt and response) are
// dropped as duplicates, and the outputs are written through temporary files:
//   RUN_DIR/data/train.jsonl         training records {id, kind, prompt, response, answer,
//                                    error_type?, source?, error_step?, mistake_chars?}
//   RUN_DIR/data/train_alpaca.json   the same records as a JSON array of {instruction,
//                                    input, output} (Alpaca layout)
//   RUN_DIR/data/summary.json        counts per kind and per error type, what was filtered
//   RUN_DIR/data/error_types.json    the measured error-type distribution of the samples
// plus one line in RUN_DIR/metrics.jsonl. The part files are removed afterwards.
#include "lemma/lemma.h"

#include <cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct {
    LmJsonlReader r;
    cJSON *cur; // the next record, NULL at the end
    long q;
} Part;

static void part_next(Part *p) {
    cJSON_Delete(p->cur);
    p->cur = lm_jsonl_next(&p->r);
    const cJSON *q = p->cur ? cJSON_GetObjectItemCaseSensitive(p->cur, "_q") : NULL;
    p->q = cJSON_IsNumber(q) ? (long)q->valuedouble : -1;
}

// ---------------------------------------------------------------------------
// Deduplication: a set of 64-bit FNV-1a hashes of prompt and response.

typedef struct {
    uint64_t *h;
    size_t n, cap;
} HashSet;

static uint64_t fnv(uint64_t h, const char *s) {
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return h;
}

// 1 when h was new (then added).
static int hashset_add(HashSet *s, uint64_t h) {
    h |= 1;
    if (2 * (s->n + 1) > s->cap) {
        HashSet b = {lm_calloc(s->cap ? 2 * s->cap : 1024, sizeof(uint64_t)), 0, s->cap ? 2 * s->cap : 1024};
        for (size_t i = 0; i < s->cap; i++)
            if (s->h[i]) hashset_add(&b, s->h[i]);
        free(s->h);
        *s = b;
    }
    size_t i = h & (s->cap - 1);
    while (s->h[i] && s->h[i] != h) i = (i + 1) & (s->cap - 1);
    if (s->h[i]) return 0;
    s->h[i] = h, s->n++;
    return 1;
}

// ---------------------------------------------------------------------------
// Outputs

typedef struct {
    char train[4200], alpaca[4200];
    FILE *ft, *fa;
    long n_alpaca;
} Outputs;

static const char *str_of(const cJSON *o, const char *key) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsString(v) ? v->valuestring : "";
}

static void write_alpaca(Outputs *out, const cJSON *rec) {
    cJSON *a = cJSON_CreateObject();
    cJSON_AddStringToObject(a, "instruction", str_of(rec, "_instruction"));
    cJSON_AddStringToObject(a, "input", str_of(rec, "_input"));
    cJSON_AddStringToObject(a, "output", str_of(rec, "response"));
    char *s = cJSON_PrintUnformatted(a);
    fprintf(out->fa, "%s%s", out->n_alpaca++ ? ",\n" : "", s);
    free(s);
    cJSON_Delete(a);
}

// One merged record: counted, dropped as a duplicate or written.
static void merge_record(Outputs *out, HashSet *seen, cJSON *rec, BuildStats *st) {
    int kind = lemma_kind_parse(str_of(rec, "kind")), type = lemma_error_parse(str_of(rec, "error_type"));
    if (kind < 0) return;
    uint64_t h = fnv(fnv(14695981039346656037ULL, str_of(rec, "prompt")) * 31 + 0x1f, str_of(rec, "response"));
    if (!hashset_add(seen, h)) {
        st->duplicate[kind]++;
        return;
    }
    st->written[kind]++;
    if (type >= 0) st->written_by_type[type]++;
    write_alpaca(out, rec);
    cJSON_DeleteItemFromObjectCaseSensitive(rec, "_q");
    cJSON_DeleteItemFromObjectCaseSensitive(rec, "_instruction");
    cJSON_DeleteItemFromObjectCaseSensitive(rec, "_input");
    lm_jsonl_write(out->ft, rec);
}

static int merge_parts(const BuildOptions *o, int world, Outputs *out, BuildStats *st, char *err, size_t err_len) {
    Part *parts = lm_calloc((size_t)world, sizeof(Part));
    HashSet seen = {0};
    int rc = 0;
    for (int r = 0; r < world && rc == 0; r++) {
        char path[4200];
        snprintf(path, sizeof path, "%s/data/parts/part-%05d.jsonl", o->run_dir, r);
        if (lm_jsonl_open(&parts[r].r, path) != 0) {
            snprintf(err, err_len, "cannot read the part file '%s': %s", path, strerror(errno));
            rc = 1;
        } else {
            part_next(&parts[r]);
        }
    }
    for (;;) {
        int best = -1;
        for (int r = 0; r < world && rc == 0; r++)
            if (parts[r].cur && (best < 0 || parts[r].q < parts[best].q)) best = r;
        if (best < 0) break;
        merge_record(out, &seen, parts[best].cur, st);
        part_next(&parts[best]);
    }
    for (int r = 0; r < world; r++) {
        if (parts[r].r.n_bad && rc == 0) snprintf(err, err_len, "part file %d has malformed lines", r), rc = 1;
        if (parts[r].r.f) lm_jsonl_close(&parts[r].r);
        cJSON_Delete(parts[r].cur);
    }
    free(parts);
    free(seen.h);
    return rc;
}

// ---------------------------------------------------------------------------
// Summaries

static cJSON *by_type(const long *v) {
    cJSON *o = cJSON_CreateObject();
    for (int e = 0; e < LEMMA_N_ERRORS; e++) cJSON_AddNumberToObject(o, lemma_error_name((LemmaErrorType)e), (double)v[e]);
    return o;
}

static cJSON *by_kind(const long *v, const BuildOptions *o) {
    cJSON *j = cJSON_CreateObject();
    for (int k = 0; k < LEMMA_N_KINDS; k++)
        if (o->kinds[k]) cJSON_AddNumberToObject(j, lemma_kind_name((LemmaKind)k), (double)v[k]);
    return j;
}

static long sum(const long *v, int n) {
    long s = 0;
    for (int i = 0; i < n; i++) s += v[i];
    return s;
}

static cJSON *summary_json(const BuildOptions *o, const BuildStats *st) {
    cJSON *j = cJSON_CreateObject(), *s = cJSON_CreateObject(), *e = cJSON_CreateObject();
    cJSON *r = cJSON_CreateObject(), *f = cJSON_CreateObject(), *t = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "samples_file", o->samples);
    cJSON_AddNumberToObject(j, "questions", (double)st->questions);
    cJSON_AddNumberToObject(j, "questions_with_wrong", (double)st->with_wrong);
    cJSON_AddNumberToObject(j, "questions_with_correct", (double)st->with_correct);
    cJSON_AddNumberToObject(s, "total", (double)st->samples);
    cJSON_AddNumberToObject(s, "wrong", (double)st->wrong);
    cJSON_AddNumberToObject(s, "correct", (double)st->correct);
    cJSON_AddNumberToObject(s, "distinct_wrong", (double)st->distinct_wrong);
    cJSON_AddNumberToObject(s, "distinct_correct", (double)st->distinct_correct);
    cJSON_AddNumberToObject(s, "regraded", (double)st->regraded);
    cJSON_AddNumberToObject(s, "located", (double)st->located);
    cJSON_AddNumberToObject(s, "not_located", (double)st->not_located);
    cJSON_AddItemToObject(j, "samples", s);
    cJSON_AddItemToObject(e, "measured", by_type(st->measured));
    cJSON_AddItemToObject(e, "student_used", by_type(st->student_used));
    cJSON_AddItemToObject(e, "teacher_injected", by_type(st->injected));
    cJSON_AddItemToObject(e, "written", by_type(st->written_by_type));
    cJSON_AddItemToObject(j, "errors", e);
    for (int k = 0; k < TEACHER_N_STATUS; k++) cJSON_AddNumberToObject(t, teacher_status_name((TeacherStatus)k), (double)st->teacher[k]);
    cJSON_AddItemToObject(j, "teacher", t);
    cJSON_AddItemToObject(r, "made", by_kind(st->made, o));
    cJSON_AddItemToObject(r, "written", by_kind(st->written, o));
    cJSON_AddNumberToObject(r, "total", (double)sum(st->written, LEMMA_N_KINDS));
    cJSON_AddItemToObject(j, "records", r);
    cJSON_AddItemToObject(f, "answer_not_gold", by_kind(st->not_gold, o));
    cJSON_AddItemToObject(f, "duplicate", by_kind(st->duplicate, o));
    cJSON_AddItemToObject(f, "no_correction", by_kind(st->missing_input, o));
    cJSON_AddNumberToObject(f, "samples_not_located", (double)st->not_located);
    cJSON_AddItemToObject(j, "filtered", f);
    return j;
}

static cJSON *error_types_json(const BuildStats *st) {
    cJSON *j = cJSON_CreateObject(), *fr = cJSON_CreateObject();
    cJSON_AddNumberToObject(j, "wrong_samples", (double)st->wrong);
    cJSON_AddNumberToObject(j, "located", (double)st->located);
    cJSON_AddNumberToObject(j, "not_located", (double)st->not_located);
    cJSON_AddItemToObject(j, "counts", by_type(st->measured));
    for (int e = 0; e < LEMMA_N_ERRORS; e++)
        cJSON_AddNumberToObject(fr, lemma_error_name((LemmaErrorType)e), st->located ? (double)st->measured[e] / (double)st->located : 0.0);
    cJSON_AddItemToObject(j, "fractions", fr);
    return j;
}

static void append_metrics(const BuildOptions *o, const BuildStats *st, double seconds) {
    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "phase", "build");
    cJSON_AddNumberToObject(j, "questions", (double)st->questions);
    cJSON_AddNumberToObject(j, "samples", (double)st->samples);
    cJSON_AddNumberToObject(j, "wrong_samples", (double)st->wrong);
    cJSON_AddNumberToObject(j, "located", (double)st->located);
    cJSON_AddNumberToObject(j, "records", (double)sum(st->written, LEMMA_N_KINDS));
    cJSON_AddItemToObject(j, "records_by_kind", by_kind(st->written, o));
    cJSON_AddItemToObject(j, "error_types", by_type(st->measured));
    cJSON_AddNumberToObject(j, "elapsed", seconds);
    lm_metrics_append(o->run_dir, j);
}

// ---------------------------------------------------------------------------

static int outputs_open(const BuildOptions *o, Outputs *out, char *err, size_t err_len) {
    snprintf(out->train, sizeof out->train, "%s/data/train.jsonl", o->run_dir);
    snprintf(out->alpaca, sizeof out->alpaca, "%s/data/train_alpaca.json", o->run_dir);
    char tmp[4300];
    snprintf(tmp, sizeof tmp, "%s.tmp", out->train);
    out->ft = fopen(tmp, "w");
    snprintf(tmp, sizeof tmp, "%s.tmp", out->alpaca);
    out->fa = fopen(tmp, "w");
    if (out->ft && out->fa) {
        fprintf(out->fa, "[\n");
        return 0;
    }
    snprintf(err, err_len, "cannot write into '%s/data': %s", o->run_dir, strerror(errno));
    if (out->ft) fclose(out->ft);
    if (out->fa) fclose(out->fa);
    return 1;
}

static int outputs_close(Outputs *out, char *err, size_t err_len) {
    fprintf(out->fa, "%s]\n", out->n_alpaca ? "\n" : "");
    int ok = fclose(out->ft) == 0;
    ok = fclose(out->fa) == 0 && ok;
    char tmp[4300];
    snprintf(tmp, sizeof tmp, "%s.tmp", out->train);
    ok = ok && rename(tmp, out->train) == 0;
    snprintf(tmp, sizeof tmp, "%s.tmp", out->alpaca);
    ok = ok && rename(tmp, out->alpaca) == 0;
    if (!ok) snprintf(err, err_len, "cannot write '%s': %s", out->train, strerror(errno));
    return ok ? 0 : 1;
}

static void remove_parts(const BuildOptions *o, int world) {
    char path[4200];
    for (int r = 0; r < world; r++) {
        snprintf(path, sizeof path, "%s/data/parts/part-%05d.jsonl", o->run_dir, r);
        unlink(path);
    }
    snprintf(path, sizeof path, "%s/data/parts", o->run_dir);
    rmdir(path);
}

int build_merge(const BuildOptions *o, int world, BuildStats *st, double seconds, char *err, size_t err_len) {
    Outputs out = {0};
    if (outputs_open(o, &out, err, err_len)) return 1;
    int rc = merge_parts(o, world, &out, st, err, err_len);
    char e2[4608];
    if (outputs_close(&out, e2, sizeof e2) && rc == 0) snprintf(err, err_len, "%s", e2), rc = 1;
    if (rc) return rc;
    char path[4200];
    cJSON *j = summary_json(o, st);
    snprintf(path, sizeof path, "%s/data/summary.json", o->run_dir);
    rc = lm_json_write_file(path, j, err, err_len) ? 1 : 0;
    cJSON_Delete(j);
    j = error_types_json(st);
    snprintf(path, sizeof path, "%s/data/error_types.json", o->run_dir);
    if (rc == 0) rc = lm_json_write_file(path, j, err, err_len) ? 1 : 0;
    cJSON_Delete(j);
    if (rc == 0) append_metrics(o, st, seconds), remove_parts(o, world);
    return rc;
}
