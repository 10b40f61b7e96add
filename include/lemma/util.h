// util: check macros, logging, timers, the counter-based random generator and JSONL I/O.
// Everything here is host-side C and safe to include from .c and .cu files.
#ifndef LEMMA_UTIL_H
#define LEMMA_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

#define LEMMA_VERSION "0.1.0"

// ---------------------------------------------------------------------------
// Fatal errors and check macros. Every fatal path goes through lm_fatal, which
// prints "lemma: [rank R] file:line: message" and ends the whole job (all ranks).
// The dist module installs the abort hook; without it we exit(1).

void lm_fatal_at(const char *file, int line, const char *fmt, ...)
    __attribute__((noreturn, format(printf, 3, 4)));
#define lm_fatal(...) lm_fatal_at(__FILE__, __LINE__, __VA_ARGS__)

// Hook used by lm_fatal_at to end every rank; set by dist_init.
typedef void (*LmAbortHook)(int code);
void lm_set_abort_hook(LmAbortHook hook, int rank);

void *lm_malloc_at(size_t bytes, const char *file, int line);
void *lm_calloc_at(size_t n, size_t size, const char *file, int line);
void *lm_realloc_at(void *p, size_t bytes, const char *file, int line);
FILE *lm_fopen_at(const char *path, const char *mode, const char *file, int line);
#define lm_malloc(bytes) lm_malloc_at((bytes), __FILE__, __LINE__)
#define lm_calloc(n, size) lm_calloc_at((n), (size), __FILE__, __LINE__)
#define lm_realloc(p, bytes) lm_realloc_at((p), (bytes), __FILE__, __LINE__)
#define lm_fopen(path, mode) lm_fopen_at((path), (mode), __FILE__, __LINE__)

// Generic condition check with a message.
#define LM_CHECK(cond, ...)                                                                        \
    do {                                                                                           \
        if (!(cond)) lm_fatal_at(__FILE__, __LINE__, __VA_ARGS__);                                 \
    } while (0)

char *lm_strdup(const char *s);
// mkdir -p; 0, or -1 with errno set.
int lm_mkdir_p(const char *path);
// Reads a whole file into a NUL-terminated buffer; NULL (errno set) when it cannot.
char *lm_read_file(const char *path, size_t *len_out);

// ---------------------------------------------------------------------------
// Logging. lm_info prints on rank 0 only; lm_warn prints on every rank with its rank.

void lm_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
// lm_info to standard error from now on (commands whose standard output is their result).
void lm_log_to_stderr(void);
void lm_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

// ---------------------------------------------------------------------------
// Timers (monotonic clock).

double lm_now(void); // seconds since an arbitrary fixed point

// 128-bit integer helpers of the exact rationals (tasks/num.c, expr/eval.c).
static inline __int128 lm_abs128(__int128 x) { return x < 0 ? -x : x; }
static inline __int128 lm_gcd128(__int128 a, __int128 b) {
    a = lm_abs128(a), b = lm_abs128(b);
    while (b) {
        __int128 t = a % b;
        a = b, b = t;
    }
    return a;
}

// ---------------------------------------------------------------------------
// Counter-based random numbers: Philox 4x32-10 (Salmon et al., SC'11).
// A draw is a pure function of (seed, stream, counter): the same on any rank,
// in any order. Use a distinct stream per purpose (LM_STREAM_*) and the global
// index of the thing drawn for (problem, sample, batch...) as counter.

typedef struct {
    uint32_t v[4];
} Philox4x32;

enum {
    LM_STREAM_INIT = 1,    // parameter initialisation
    LM_STREAM_DATA = 2,    // data order
    LM_STREAM_SAMPLE = 3,  // token sampling
    LM_STREAM_TASKS = 4,   // problem generation
    LM_STREAM_BUILD = 5,   // data construction
    LM_STREAM_TEST = 99,   // tests
};

// The raw block function: 10 rounds over counter ctr with key key.
Philox4x32 philox4x32_10(Philox4x32 ctr, uint32_t key0, uint32_t key1);
// 4 random 32-bit words for (seed, stream, counter).
Philox4x32 lm_rng_block(uint64_t seed, uint64_t stream, uint64_t counter);
// Convenience: the i-th uint32 / uniform float in [0,1) / standard normal of the
// sequence (seed, stream), i.e. element i%4 of block i/4 (normal uses Box-Muller on a pair).
uint32_t lm_rng_u32(uint64_t seed, uint64_t stream, uint64_t i);
float lm_rng_uniform(uint64_t seed, uint64_t stream, uint64_t i);
float lm_rng_normal(uint64_t seed, uint64_t stream, uint64_t i);

// ---------------------------------------------------------------------------
// JSONL on cJSON. The reader hands out one parsed object per line; malformed
// lines are reported with file:line and counted, not fatal (the caller decides
// with lm_jsonl_bad_fraction).

struct cJSON;
typedef struct {
    FILE *f;
    char *path;
    char *buf;
    size_t cap;
    long line;  // line number of the object last returned (1-based)
    long n_ok;  // objects returned
    long n_bad; // malformed lines skipped
    int quiet;  // do not print bad lines
} LmJsonlReader;

int lm_jsonl_open(LmJsonlReader *r, const char *path); // 0 ok, -1 cannot open (errno)
// Next object (caller frees with cJSON_Delete) or NULL at end of file.
struct cJSON *lm_jsonl_next(LmJsonlReader *r);
double lm_jsonl_bad_fraction(const LmJsonlReader *r);
void lm_jsonl_close(LmJsonlReader *r);

// Appends one object as a single line and flushes; fatal on I/O error.
void lm_jsonl_write(FILE *f, const struct cJSON *obj);
// Appends obj as one line to RUN_DIR/metrics.jsonl and frees it (rank 0 calls it; a file
// that cannot be opened is warned about, not fatal).
void lm_metrics_append(const char *run_dir, struct cJSON *obj);
// Writes obj, pretty-printed, to path through path.tmp and a rename (readers see the old
// file or the new one, never half of one); 0, or -1 with err naming the file.
int lm_json_write_file(const char *path, const struct cJSON *obj, char *err, size_t err_len);

#ifdef __cplusplus
}
#endif
#endif
