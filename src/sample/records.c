// sample/records: the files of the sampling phase. Each rank appends sample records to
// RUN_DIR/samples/part-RRRRR.jsonl (one flushed line per finished sample); a killed run
// leaves at most a truncated last line, which is cut (own file) or skipped (others'). Rank 0
// merges every part file into RUN_DIR/samples.jsonl and greedy.jsonl in (problem, sample)
// order and computes the summary. Completions are stored as valid UTF-8.
#include "lemma/sample.h"
#include "lemma/util.h"

#include <cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

// ---------------------------------------------------------------------------
// UTF-8

// Length of the valid UTF-8 sequence at s (n bytes left), or 0 when the byte starts none
// (NUL counts as invalid: C strings cannot carry it).
static size_t utf8_seq(const unsigned char *s, size_t n) {
    unsigned char c = s[0];
    if (c >= 0x01 && c < 0x80) return 1;
    size_t len = c >= 0xC2 && c <= 0xDF ? 2 : c >= 0xE0 && c <= 0xEF ? 3 : c >= 0xF0 && c <= 0xF4 ? 4 : 0;
    if (len == 0 || len > n) return 0;
    for (size_t i = 1; i < len; i++)
        if ((s[i] & 0xC0) != 0x80) return 0;
    if (c == 0xE0 && s[1] < 0xA0) return 0; // overlong
    if (c == 0xED && s[1] > 0x9F) return 0; // surrogates
    if (c == 0xF0 && s[1] < 0x90) return 0; // overlong
    if (c == 0xF4 && s[1] > 0x8F) return 0; // beyond U+10FFFF
    return len;
}

char *sample_utf8_clean(const char *text, size_t n) {
    const unsigned char *s = (const unsigned char *)text;
    char *out = lm_malloc(3 * n + 1), *o = out;
    for (size_t i = 0; i < n;) {
        size_t len = utf8_seq(s + i, n - i);
        if (len == 0) {
            memcpy(o, "\xEF\xBF\xBD", 3); // U+FFFD for each byte that starts no character
            o += 3, i++;
        } else {
            memcpy(o, s + i, len);
            o += len, i += len;
        }
    }
    *o = 0;
    return out;
}

// ---------------------------------------------------------------------------
// part files

void sample_part_path(const char *run_dir, int rank, char *buf, size_t len) {
    snprintf(buf, len, "%s/samples/part-%05d.jsonl", run_dir, rank);
}

long sample_part_repair(const char *path) {
    FILE *f = fopen(path, "r+");
    if (!f) return errno == ENOENT ? 0 : -1;
    long keep = 0, pos = 0;
    int c;
    while ((c = fgetc(f)) != EOF) {
        pos++;
        if (c == '\n') keep = pos;
    }
    int bad = ferror(f) || (pos > keep && ftruncate(fileno(f), keep) != 0);
    fclose(f);
    return bad ? -1 : pos - keep;
}

// Reads the record line of one part file: problem, sample and correct, or -1 (malformed).
static int part_parse(const char *line, long *problem, int *sample, int *correct) {
    cJSON *o = cJSON_Parse(line);
    if (!o) return -1;
    const cJSON *p = cJSON_GetObjectItemCaseSensitive(o, "problem");
    const cJSON *s = cJSON_GetObjectItemCaseSensitive(o, "sample");
    const cJSON *c = cJSON_GetObjectItemCaseSensitive(o, "correct");
    int ok = cJSON_IsNumber(p) && cJSON_IsNumber(s) && cJSON_IsBool(c) && p->valuedouble >= 0 &&
             s->valuedouble >= -1 && s->valuedouble < SAMPLE_MAX_SAMPLES;
    if (ok) *problem = (long)p->valuedouble, *sample = (int)s->valuedouble, *correct = cJSON_IsTrue(c);
    cJSON_Delete(o);
    return ok ? 0 : -1;
}

// Every complete line of one part file to fn; a last line without its newline is skipped.
static void part_scan_file(const char *path, SamplePartFn fn, void *ctx, int quiet) {
    FILE *f = fopen(path, "r");
    if (!f) {
        lm_warn("cannot read %s: %s", path, strerror(errno));
        return;
    }
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    long lineno = 0;
    while ((n = getline(&line, &cap, f)) > 0) {
        lineno++;
        if (line[n - 1] != '\n') break; // cut short by a killed run: that sample is redone
        line[--n] = 0;
        if (n > 0 && line[n - 1] == '\r') line[--n] = 0;
        long problem;
        int sample, correct;
        if (part_parse(line, &problem, &sample, &correct) == 0) fn(ctx, problem, sample, correct, line);
        else if (!quiet) lm_warn("%s:%ld: malformed sample record skipped", path, lineno);
    }
    free(line);
    fclose(f);
}

static int part_name_cmp(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

void sample_parts_scan(const char *run_dir, SamplePartFn fn, void *ctx, int quiet) {
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/samples", run_dir);
    DIR *d = opendir(dir);
    if (!d) return;
    char **names = NULL;
    int n = 0, cap = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        size_t len = strlen(e->d_name);
        if (strncmp(e->d_name, "part-", 5) != 0 || len < 6 || strcmp(e->d_name + len - 6, ".jsonl"))
            continue;
        if (n == cap) names = lm_realloc(names, (size_t)(cap = cap ? 2 * cap : 16) * sizeof(char *));
        names[n++] = lm_strdup(e->d_name);
    }
    closedir(d);
    qsort(names, (size_t)n, sizeof(char *), part_name_cmp);
    for (int i = 0; i < n; i++) {
        char path[4400];
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        part_scan_file(path, fn, ctx, quiet);
        free(names[i]);
    }
    free(names);
}

// ---------------------------------------------------------------------------
// merge

typedef struct {
    long n;             // problems
    int k;              // samples per problem
    char **line;        // (n, k + 1): column 0 greedy, 1 + j sample j; NULL: missing
    unsigned char *ok;  // the same cells: the record is right
} MergeTable;

static void merge_add(void *ctx, long problem, int sample, int correct, const char *line) {
    MergeTable *t = ctx;
    if (problem >= t->n || sample >= t->k) return; // from a run with other settings
    size_t cell = (size_t)problem * (t->k + 1) + (size_t)(sample + 1);
    if (t->line[cell]) return; // the first copy wins (copies are equal: sampling is keyed)
    t->line[cell] = lm_strdup(line);
    t->ok[cell] = (unsigned char)correct;
}

// Writes column range [c0, c1) of every problem to path (through a temporary file).
static int merge_write(const MergeTable *t, const char *path, int c0, int c1, char *err,
                       size_t err_len) {
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    if (!f) {
        snprintf(err, err_len, "cannot write %s: %s", tmp, strerror(errno));
        return -1;
    }
    for (long i = 0; i < t->n; i++)
        for (int c = c0; c < c1; c++) {
            const char *l = t->line[(size_t)i * (t->k + 1) + c];
            if (l) fputs(l, f), fputc('\n', f);
        }
    int bad = fflush(f) != 0 || fsync(fileno(f)) != 0;
    bad |= fclose(f) != 0;
    if (bad || rename(tmp, path) != 0) {
        snprintf(err, err_len, "cannot write %s: %s", path, strerror(errno));
        return -1;
    }
    return 0;
}

// The figures of the merged table.
static void merge_summary(const MergeTable *t, SampleSummary *s) {
    double pk = 0, p1 = 0;
    for (long i = 0; i < t->n; i++) {
        size_t row = (size_t)i * (t->k + 1);
        int n = 0, c = 0;
        for (int j = 1; j <= t->k; j++)
            if (t->line[row + j]) n++, c += t->ok[row + j];
        s->samples += n, s->correct += c;
        if (n == t->k) {
            s->sampled++;
            pk += sample_pass_at_k(n, c, t->k);
            p1 += sample_pass_at_k(n, c, 1);
        }
        if (t->line[row]) s->greedy_n++, s->greedy_correct += t->ok[row];
    }
    s->mean_accuracy = s->samples ? (double)s->correct / (double)s->samples : 0.0;
    s->greedy_pass1 = s->greedy_n ? (double)s->greedy_correct / (double)s->greedy_n : 0.0;
    s->pass_at_k = s->sampled ? pk / (double)s->sampled : 0.0;
    s->pass_at_1 = s->sampled ? p1 / (double)s->sampled : 0.0;
}

int sample_merge(const char *run_dir, long n_problems, int k, int greedy, SampleSummary *sum,
                 char *err, size_t err_len) {
    MergeTable t = {n_problems, k, NULL, NULL};
    size_t cells = (size_t)n_problems * (k + 1);
    t.line = lm_calloc(cells ? cells : 1, sizeof(char *));
    t.ok = lm_calloc(cells ? cells : 1, 1);
    sample_parts_scan(run_dir, merge_add, &t, 0);
    char path[4096];
    snprintf(path, sizeof path, "%s/samples.jsonl", run_dir);
    int rc = merge_write(&t, path, 1, k + 1, err, err_len);
    snprintf(path, sizeof path, "%s/greedy.jsonl", run_dir);
    if (rc == 0 && greedy) rc = merge_write(&t, path, 0, 1, err, err_len);
    merge_summary(&t, sum);
    for (size_t i = 0; i < cells; i++) free(t.line[i]);
    free(t.line);
    free(t.ok);
    return rc;
}
