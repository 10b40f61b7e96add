// eval/merge: rank 0's merge of a split's part files (one per rank, records in the order the
// rank finished them) into OUT_DIR/<split>.jsonl in problem order, written to a temporary
// name and renamed; the part files are removed afterwards.
#include "lemma/eval.h"
#include "lemma/util.h"

#include <cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void eval_part_path(const char *out_dir, const char *split, int rank, char *buf, size_t len) {
    snprintf(buf, len, "%s/.%s.part-%05d.jsonl", out_dir, split, rank);
}

// Every record line of one part file into lines[problem]; 0, or -1 with err.
static int eval_read_part(const char *path, long n_problems, char **lines, char *err,
                          size_t err_len) {
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(err, err_len, "cannot read %s: %s", path, strerror(errno));
        return -1;
    }
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    int rc = 0;
    for (long ln = 1; rc == 0 && (len = getline(&line, &cap, f)) > 0; ln++) {
        while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r')) line[--len] = 0;
        cJSON *o = cJSON_Parse(line);
        const cJSON *p = o ? cJSON_GetObjectItemCaseSensitive(o, "problem") : NULL;
        long k = cJSON_IsNumber(p) ? (long)p->valuedouble : -1;
        if (k < 0 || k >= n_problems || lines[k]) {
            snprintf(err, err_len, "%s:%ld: not a record of a problem of this split (or a second "
                     "one)", path, ln);
            rc = -1;
        } else {
            lines[k] = lm_strdup(line);
        }
        cJSON_Delete(o);
    }
    free(line);
    fclose(f);
    return rc;
}

static int eval_write_lines(const char *path, char **lines, long n, char *err, size_t err_len) {
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    int bad = !f;
    for (long i = 0; !bad && i < n; i++)
        if (lines[i]) bad = fprintf(f, "%s\n", lines[i]) < 0;
    if (f) bad |= fclose(f) != 0;
    if (!bad) bad = rename(tmp, path) != 0;
    if (bad) {
        snprintf(err, err_len, "cannot write %s: %s", path, strerror(errno));
        remove(tmp);
        return -1;
    }
    return 0;
}

int eval_merge(const char *out_dir, const char *split, int world, long n_problems, char *err,
               size_t err_len) {
    char **lines = lm_calloc((size_t)n_problems + 1, sizeof(char *));
    char path[4096];
    int rc = 0;
    for (int r = 0; r < world && rc == 0; r++) {
        eval_part_path(out_dir, split, r, path, sizeof path);
        rc = eval_read_part(path, n_problems, lines, err, err_len);
    }
    snprintf(path, sizeof path, "%s/%s.jsonl", out_dir, split);
    if (rc == 0) rc = eval_write_lines(path, lines, n_problems, err, err_len);
    for (int r = 0; r < world && rc == 0; r++) {
        eval_part_path(out_dir, split, r, path, sizeof path);
        remove(path);
    }
    for (long i = 0; i < n_problems; i++) free(lines[i]);
    free(lines);
    return rc;
}
