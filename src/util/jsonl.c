// util/jsonl: JSON Lines on cJSON. The reader returns one parsed object per line and
// skips (counts, reports with file:line) lines that are not valid UTF-8, not valid JSON
// or not a JSON object; the writer appends one object per line and flushes.
#include "lemma/util.h"

#include <cJSON.h>
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

int lm_jsonl_open(LmJsonlReader *r, const char *path) {
    memset(r, 0, sizeof(*r));
    r->f = fopen(path, "rb");
    if (!r->f) return -1;
    r->path = lm_strdup(path);
    return 0;
}

void lm_jsonl_close(LmJsonlReader *r) {
    if (r->f) fclose(r->f);
    free(r->path);
    free(r->buf);
    memset(r, 0, sizeof(*r));
}

double lm_jsonl_bad_fraction(const LmJsonlReader *r) {
    long total = r->n_ok + r->n_bad;
    return total ? (double)r->n_bad / (double)total : 0.0;
}

// 1 when s[0..n) is well-formed UTF-8: no stray continuation bytes, no truncated
// sequences, no overlong forms, no surrogates (U+D800..U+DFFF), nothing above U+10FFFF.
static int utf8_valid(const unsigned char *s, size_t n) {
    size_t i = 0;
    while (i < n) {
        unsigned c = s[i];
        if (c < 0x80) {
            i++;
            continue;
        }
        size_t len;
        uint32_t cp, min;
        if ((c & 0xE0) == 0xC0) len = 2, cp = c & 0x1F, min = 0x80;
        else if ((c & 0xF0) == 0xE0) len = 3, cp = c & 0x0F, min = 0x800;
        else if ((c & 0xF8) == 0xF0) len = 4, cp = c & 0x07, min = 0x10000;
        else return 0; // continuation byte as lead, or 0xF8..0xFF
        if (n - i < len) return 0;
        for (size_t k = 1; k < len; k++) {
            if ((s[i + k] & 0xC0) != 0x80) return 0;
            cp = (cp << 6) | (s[i + k] & 0x3F);
        }
        if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
        i += len;
    }
    return 1;
}

static int is_blank(const char *s, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (!isspace((unsigned char)s[i])) return 0;
    return 1;
}

// Parses one line (n bytes, no newline). Returns the object, or NULL with *why set.
static cJSON *parse_line(const char *s, size_t n, const char **why) {
    if (!utf8_valid((const unsigned char *)s, n)) {
        *why = "invalid UTF-8";
        return NULL;
    }
    const char *end = NULL;
    // a raw NUL byte is never valid JSON, and would hide the rest of the line from cJSON
    cJSON *v = memchr(s, 0, n) ? NULL : cJSON_ParseWithLengthOpts(s, n, &end, 0);
    if (v) {
        while (end < s + n && isspace((unsigned char)*end)) end++;
        if (end != s + n) { // trailing garbage after the value
            cJSON_Delete(v);
            v = NULL;
        }
    }
    if (!v) {
        *why = "not valid JSON";
        return NULL;
    }
    if (!cJSON_IsObject(v)) {
        cJSON_Delete(v);
        *why = "not a JSON object";
        return NULL;
    }
    return v;
}

// Reads the next physical line into r->buf without its "\n" or "\r\n"; its length,
// or -1 at end of file. Read errors are fatal: a silently short data file is worse.
static ssize_t read_line(LmJsonlReader *r) {
    errno = 0;
    ssize_t n = getline(&r->buf, &r->cap, r->f);
    if (n < 0) {
        if (ferror(r->f) || errno == ENOMEM)
            lm_fatal("%s: read error after line %ld: %s", r->path, r->line, strerror(errno));
        return -1;
    }
    r->line++;
    if (n > 0 && r->buf[n - 1] == '\n') n--;
    if (n > 0 && r->buf[n - 1] == '\r') n--;
    r->buf[n] = 0;
    return n;
}

cJSON *lm_jsonl_next(LmJsonlReader *r) {
    if (!r->f) return NULL;
    ssize_t n;
    while ((n = read_line(r)) >= 0) {
        if (is_blank(r->buf, (size_t)n)) continue;
        const char *why = NULL;
        cJSON *obj = parse_line(r->buf, (size_t)n, &why);
        if (obj) {
            r->n_ok++;
            return obj;
        }
        r->n_bad++;
        if (!r->quiet) lm_warn("%s:%ld: malformed JSONL line skipped (%s)", r->path, r->line, why);
    }
    return NULL;
}

void lm_jsonl_write(FILE *f, const cJSON *obj) {
    char *s = cJSON_PrintUnformatted(obj);
    if (!s) lm_fatal("cannot serialise JSON object (out of memory?)");
    errno = 0;
    int bad = fputs(s, f) == EOF || fputc('\n', f) == EOF || fflush(f) == EOF || ferror(f);
    int err = errno ? errno : EIO;
    cJSON_free(s);
    if (bad) lm_fatal("cannot write JSONL line: %s", strerror(err));
}

void lm_metrics_append(const char *run_dir, cJSON *obj) {
    char path[4200];
    snprintf(path, sizeof path, "%s/metrics.jsonl", run_dir);
    FILE *f = fopen(path, "a");
    if (!f) lm_warn("cannot append to %s: %s", path, strerror(errno));
    else lm_jsonl_write(f, obj), fclose(f);
    cJSON_Delete(obj);
}

int lm_json_write_file(const char *path, const cJSON *obj, char *err, size_t err_len) {
    char tmp[4300];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    char *text = cJSON_Print(obj);
    FILE *f = fopen(tmp, "w");
    int ok = f && text && fprintf(f, "%s\n", text) > 0;
    ok = (f && fclose(f) == 0) && ok && rename(tmp, path) == 0;
    if (!ok) snprintf(err, err_len, "cannot write '%s': %s", path, strerror(errno));
    free(text);
    return ok ? 0 : -1;
}
