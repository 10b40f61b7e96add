// tok/tok_map: the small containers of the BPE tokenizer: growable buffers, the string ->
// id and pair -> merge hash maps (open addressing, linear probing), UTF-8 helpers and the
// GPT-2 byte <-> unicode map.
#include "tok_internal.h"

#include "lemma/util.h"

#include <stdlib.h>
#include <string.h>

void tokbuf_reserve(TokBuf *b, size_t n) {
    if (n <= b->cap) return;
    size_t c = b->cap ? b->cap : 64;
    while (c < n) c *= 2;
    b->p = lm_realloc(b->p, c);
    b->cap = c;
}

void tokbuf_put(TokBuf *b, const void *s, size_t n) {
    tokbuf_reserve(b, b->n + n + 1);
    if (n) memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = 0;
}

void tokbuf_free(TokBuf *b) {
    free(b->p);
    memset(b, 0, sizeof *b);
}

// ---------------------------------------------------------------------------
// hashing: 8 bytes at a time, a multiply-xorshift mix (keys are short words).

static inline uint64_t tok_mix(uint64_t h) {
    h ^= h >> 32;
    h *= 0xD6E8FEB86659FD93ull;
    h ^= h >> 32;
    return h;
}

uint64_t tok_hash(const void *s, size_t n) {
    const unsigned char *p = s;
    uint64_t h = 0x9E3779B97F4A7C15ull ^ (n * 0xFF51AFD7ED558CCDull);
    while (n >= 8) {
        uint64_t w;
        memcpy(&w, p, 8);
        h = tok_mix(h ^ w) * 0x9E3779B97F4A7C15ull;
        p += 8, n -= 8;
    }
    uint64_t w = 0;
    for (size_t i = 0; i < n; i++) w |= (uint64_t)p[i] << (8 * i);
    return tok_mix(h ^ w ^ 0x27D4EB2F165667C5ull);
}

// ---------------------------------------------------------------------------
// StrMap

static uint32_t tok_pow2(uint32_t n) {
    uint32_t c = 16;
    while (c < 2 * n) c *= 2;
    return c;
}

void strmap_init(StrMap *m, uint32_t expect) {
    memset(m, 0, sizeof *m);
    m->cap = tok_pow2(expect);
    m->slot = lm_malloc(m->cap * sizeof *m->slot);
    for (uint32_t i = 0; i < m->cap; i++) m->slot[i].val = -1;
}

void strmap_free(StrMap *m) {
    free(m->slot);
    tokbuf_free(&m->arena);
    memset(m, 0, sizeof *m);
}

static void strmap_grow(StrMap *m) {
    StrSlot *old = m->slot;
    uint32_t oc = m->cap;
    m->cap *= 2;
    m->slot = lm_malloc(m->cap * sizeof *m->slot);
    for (uint32_t i = 0; i < m->cap; i++) m->slot[i].val = -1;
    for (uint32_t i = 0; i < oc; i++) {
        if (old[i].val < 0) continue;
        uint64_t h = tok_hash(m->arena.p + old[i].off, old[i].len);
        uint32_t j = (uint32_t)h & (m->cap - 1);
        while (m->slot[j].val >= 0) j = (j + 1) & (m->cap - 1);
        m->slot[j] = old[i];
    }
    free(old);
}

void strmap_put(StrMap *m, const char *s, size_t n, int val) {
    uint64_t h = tok_hash(s, n);
    uint32_t i = (uint32_t)h & (m->cap - 1), hh = (uint32_t)(h >> 32);
    for (;; i = (i + 1) & (m->cap - 1)) {
        StrSlot *e = &m->slot[i];
        if (e->val < 0) break;
        if (e->h == hh && e->len == n && memcmp(m->arena.p + e->off, s, n) == 0) {
            e->val = val;
            return;
        }
    }
    StrSlot *e = &m->slot[i];
    e->off = m->arena.n, e->len = (uint32_t)n, e->h = hh, e->val = val;
    tokbuf_put(&m->arena, s, n);
    if (++m->n * 2 > m->cap) strmap_grow(m);
}

int strmap_get_h(const StrMap *m, const char *s, size_t n, uint64_t h) {
    if (!m->cap) return -1;
    uint32_t i = (uint32_t)h & (m->cap - 1), hh = (uint32_t)(h >> 32);
    for (;; i = (i + 1) & (m->cap - 1)) {
        const StrSlot *e = &m->slot[i];
        if (e->val < 0) return -1;
        if (e->h == hh && e->len == n && memcmp(m->arena.p + e->off, s, n) == 0) return e->val;
    }
}

int strmap_get(const StrMap *m, const char *s, size_t n) {
    return strmap_get_h(m, s, n, tok_hash(s, n));
}

// ---------------------------------------------------------------------------
// PairMap

void pairmap_init(PairMap *m, uint32_t expect) {
    m->cap = tok_pow2(expect), m->n = 0;
    m->slot = lm_malloc(m->cap * sizeof *m->slot);
    for (uint32_t i = 0; i < m->cap; i++) m->slot[i].key = UINT64_MAX;
}

void pairmap_free(PairMap *m) {
    free(m->slot);
    memset(m, 0, sizeof *m);
}

static void pairmap_insert(PairMap *m, PairSlot s) {
    uint32_t i = (uint32_t)((s.key * 0x9E3779B97F4A7C15ull) >> 32) & (m->cap - 1);
    for (;; i = (i + 1) & (m->cap - 1)) {
        if (m->slot[i].key == s.key) {
            m->slot[i] = s;
            return;
        }
        if (m->slot[i].key == UINT64_MAX) break;
    }
    m->slot[i] = s;
    m->n++;
}

void pairmap_put(PairMap *m, int l, int r, int rank, int id) {
    if ((m->n + 1) * 2 > m->cap) {
        PairSlot *old = m->slot;
        uint32_t oc = m->cap;
        m->cap *= 2, m->n = 0;
        m->slot = lm_malloc(m->cap * sizeof *m->slot);
        for (uint32_t i = 0; i < m->cap; i++) m->slot[i].key = UINT64_MAX;
        for (uint32_t i = 0; i < oc; i++)
            if (old[i].key != UINT64_MAX) pairmap_insert(m, old[i]);
        free(old);
    }
    PairSlot s = {(uint64_t)(uint32_t)l << 32 | (uint32_t)r, rank, id};
    pairmap_insert(m, s);
}

// ---------------------------------------------------------------------------
// UTF-8

int tok_utf8_len(const unsigned char *s, size_t n, uint32_t *cp) {
    unsigned c = s[0];
    if (c < 0x80) return *cp = c, 1;
    int len;
    uint32_t v, min;
    if (c >= 0xC2 && c <= 0xDF) len = 2, v = c & 0x1F, min = 0x80;
    else if (c >= 0xE0 && c <= 0xEF) len = 3, v = c & 0x0F, min = 0x800;
    else if (c >= 0xF0 && c <= 0xF4) len = 4, v = c & 0x07, min = 0x10000;
    else return 0;
    if ((size_t)len > n) return 0;
    for (int i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80) return 0;
        v = v << 6 | (s[i] & 0x3F);
    }
    if (v < min || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF)) return 0;
    *cp = v;
    return len;
}

int tok_utf8_put(char *out, uint32_t cp) {
    unsigned char *o = (unsigned char *)out;
    if (cp < 0x80) return o[0] = (unsigned char)cp, 1;
    if (cp < 0x800) {
        o[0] = (unsigned char)(0xC0 | cp >> 6), o[1] = (unsigned char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        o[0] = (unsigned char)(0xE0 | cp >> 12), o[1] = (unsigned char)(0x80 | (cp >> 6 & 0x3F));
        o[2] = (unsigned char)(0x80 | (cp & 0x3F));
        return 3;
    }
    o[0] = (unsigned char)(0xF0 | cp >> 18), o[1] = (unsigned char)(0x80 | (cp >> 12 & 0x3F));
    o[2] = (unsigned char)(0x80 | (cp >> 6 & 0x3F)), o[3] = (unsigned char)(0x80 | (cp & 0x3F));
    return 4;
}

// The length of the maximal prefix of an invalid sequence at s that is a valid start (Rust's
// from_utf8_lossy replaces each such subpart, or a lone bad byte, by one U+FFFD).
static size_t tok_utf8_bad_len(const unsigned char *s, size_t n) {
    unsigned c = s[0];
    unsigned lo = 0x80, hi = 0xBF;
    size_t need;
    if (c >= 0xC2 && c <= 0xDF) need = 1;
    else if (c >= 0xE0 && c <= 0xEF) need = 2, lo = c == 0xE0 ? 0xA0 : 0x80, hi = c == 0xED ? 0x9F : 0xBF;
    else if (c >= 0xF0 && c <= 0xF4) need = 3, lo = c == 0xF0 ? 0x90 : 0x80, hi = c == 0xF4 ? 0x8F : 0xBF;
    else return 1;
    size_t i = 1;
    if (i < n && s[i] >= lo && s[i] <= hi) {
        i++;
        while (i <= need && i < n && (s[i] & 0xC0) == 0x80) i++;
    }
    return i;
}

void tok_utf8_lossy(TokBuf *out, const char *s, size_t n) {
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;
    while (i < n) {
        size_t j = i;
        uint32_t cp;
        int l;
        while (j < n && (l = tok_utf8_len(p + j, n - j, &cp)) > 0) j += (size_t)l;
        tokbuf_put(out, p + i, j - i);
        if (j >= n) break;
        tokbuf_put(out, "\xEF\xBF\xBD", 3);
        i = j + tok_utf8_bad_len(p + j, n - j);
    }
    if (!out->p) tokbuf_put(out, "", 0);
}

int tok_is_whitespace(uint32_t c) {
    return (c >= 9 && c <= 13) || c == 32 || c == 0x85 || c == 0xA0 || c == 0x1680 ||
           (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F ||
           c == 0x205F || c == 0x3000;
}

// ---------------------------------------------------------------------------
// GPT-2's bytes_to_unicode: printable Latin-1 bytes map to themselves, the other 68 bytes to
// U+0100.. in byte order.

static int tok_byte_is_printable(int b) {
    return (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
}

static int tok_b2u[256], tok_u2b[324]; // code points of the map are < 256 + 68
static pthread_once_t tok_map_once = PTHREAD_ONCE_INIT;

static void tok_map_init(void) {
    int n = 0;
    for (int i = 0; i < 324; i++) tok_u2b[i] = -1;
    for (int b = 0; b < 256; b++) {
        tok_b2u[b] = tok_byte_is_printable(b) ? b : 256 + n++;
        tok_u2b[tok_b2u[b]] = b;
    }
}

int tok_byte_cp(int b) {
    pthread_once(&tok_map_once, tok_map_init);
    return tok_b2u[b & 255];
}

int tok_cp_byte(int cp) {
    pthread_once(&tok_map_once, tok_map_init);
    return cp >= 0 && cp < 324 ? tok_u2b[cp] : -1;
}
