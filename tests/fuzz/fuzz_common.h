// tests/fuzz/fuzz_common.h: what the fuzzers share: a counter-based random stream (util's
// RNG, so that a run is the same on every machine) and the mutation of a seed with 1-8 edits
// (bit flips, random bytes, deleted ranges, inserted tokens, duplicated ranges, truncation).
#ifndef LEMMA_FUZZ_COMMON_H
#define LEMMA_FUZZ_COMMON_H

#include "lemma/util.h"

#include <stdint.h>
#include <string.h>

typedef struct {
    uint64_t seed, ctr;
} FuzzRng;

static inline uint32_t fuzz_rnd(FuzzRng *r) { return lm_rng_u32(r->seed, LM_STREAM_TEST, r->ctr++); }
static inline size_t fuzz_below(FuzzRng *r, size_t n) { return n ? fuzz_rnd(r) % n : 0; }

// seed with 1-8 random edits into buf (cap bytes, NUL-terminated); tokens[0..n_tokens) are
// what insertions insert, token_cases (1 or 2) how many of the kinds of edit are insertions.
static inline size_t fuzz_mutate(FuzzRng *r, char *buf, size_t cap, const char *seed,
                                 const char *const *tokens, int n_tokens, int token_cases) {
    size_t n = strlen(seed) < cap ? strlen(seed) : cap - 1;
    memcpy(buf, seed, n);
    int edits = 1 + (int)fuzz_below(r, 8);
    for (int e = 0; e < edits; e++) {
        size_t at = fuzz_below(r, n + 1), len;
        int kind = (int)fuzz_below(r, (size_t)(5 + token_cases));
        if (kind >= 3 && kind < 3 + token_cases) kind = 3;      // insert a token
        else if (kind >= 3 + token_cases) kind -= token_cases - 1; // 4: duplicate, 5: truncate
        switch (kind) {
        case 0: if (n) buf[fuzz_below(r, n)] ^= (char)(1u << fuzz_below(r, 8)); break;
        case 1: if (n) buf[fuzz_below(r, n)] = (char)fuzz_rnd(r); break;
        case 2: // delete a range
            len = fuzz_below(r, n - at + 1);
            memmove(buf + at, buf + at + len, n - at - len), n -= len;
            break;
        case 3: {
            const char *t = tokens[fuzz_below(r, (size_t)n_tokens)];
            len = strlen(t);
            if (n + len >= cap) break;
            memmove(buf + at + len, buf + at, n - at), memcpy(buf + at, t, len), n += len;
            break;
        }
        case 4: // duplicate a range
            len = fuzz_below(r, n - at + 1);
            if (n + len >= cap) break;
            memmove(buf + at + len, buf + at, n - at), n += len;
            break;
        default: n = at; // truncate
        }
    }
    buf[n] = 0;
    return n;
}

// Up to 511 random bytes.
static inline size_t fuzz_random_bytes(FuzzRng *r, char *buf) {
    size_t n = fuzz_below(r, 512);
    for (size_t i = 0; i < n; i++) buf[i] = (char)fuzz_rnd(r);
    buf[n] = 0;
    return n;
}

#endif
