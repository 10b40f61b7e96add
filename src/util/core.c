// util/core: fatal errors with file:line, checked allocation and file opening, rank-aware
// logging and the monotonic clock.
#include "lemma/util.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

static LmAbortHook abort_hook;
static int log_rank;

void lm_set_abort_hook(LmAbortHook hook, int rank) {
    abort_hook = hook;
    log_rank = rank;
}


void lm_fatal_at(const char *file, int line, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "lemma: [rank %d] %s:%d: ", log_rank, file, line);
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    fflush(stderr);
    if (abort_hook) abort_hook(1);
    exit(1);
}

void *lm_malloc_at(size_t bytes, const char *file, int line) {
    void *p = malloc(bytes ? bytes : 1);
    if (!p) lm_fatal_at(file, line, "out of memory allocating %zu bytes", bytes);
    return p;
}

void *lm_calloc_at(size_t n, size_t size, const char *file, int line) {
    void *p = calloc(n ? n : 1, size ? size : 1);
    if (!p) lm_fatal_at(file, line, "out of memory allocating %zu x %zu bytes", n, size);
    return p;
}

void *lm_realloc_at(void *p, size_t bytes, const char *file, int line) {
    void *q = realloc(p, bytes ? bytes : 1);
    if (!q) lm_fatal_at(file, line, "out of memory reallocating to %zu bytes", bytes);
    return q;
}

FILE *lm_fopen_at(const char *path, const char *mode, const char *file, int line) {
    FILE *f = fopen(path, mode);
    if (!f) lm_fatal_at(file, line, "cannot open '%s' (mode %s): %s", path, mode, strerror(errno));
    return f;
}

char *lm_strdup(const char *s) {
    size_t n = strlen(s) + 1;
    char *d = lm_malloc(n);
    memcpy(d, s, n);
    return d;
}

char *lm_read_file(const char *path, size_t *len_out) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    size_t cap = 1 << 16, len = 0;
    char *buf = lm_malloc(cap);
    size_t got;
    while ((got = fread(buf + len, 1, cap - len - 1, f)) > 0) {
        len += got;
        if (cap - len - 1 == 0) buf = lm_realloc(buf, cap *= 2);
    }
    int err = ferror(f);
    fclose(f);
    if (err) {
        free(buf);
        errno = EIO;
        return NULL;
    }
    buf[len] = 0;
    if (len_out) *len_out = len;
    return buf;
}

static int info_to_stderr; // lm_log_to_stderr: standard output carries a command's result

void lm_log_to_stderr(void) { info_to_stderr = 1; }

void lm_info(const char *fmt, ...) {
    if (log_rank != 0) return;
    FILE *f = info_to_stderr ? stderr : stdout;
    va_list ap;
    va_start(ap, fmt);
    vfprintf(f, fmt, ap);
    va_end(ap);
    fputc('\n', f);
    fflush(f);
}

void lm_warn(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "lemma: [rank %d] warning: ", log_rank);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    fflush(stderr);
}

double lm_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

int lm_mkdir_p(const char *path) {
    char buf[4096];
    size_t n = strlen(path);
    if (n == 0 || n >= sizeof buf) return -1;
    memcpy(buf, path, n + 1);
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/') continue;
        *p = 0;
        if (mkdir(buf, 0775) != 0 && errno != EEXIST) return -1;
        *p = '/';
    }
    if (mkdir(buf, 0775) != 0 && errno != EEXIST) return -1;
    return 0;
}
