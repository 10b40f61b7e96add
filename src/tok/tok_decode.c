// tok/tok_decode: BPE decoding, HF tokenizers' Tokenizer.decode: the ids' strings (added
// content or vocab string; special tokens dropped when skipping them) run through the
// decoder chain, each step mapping a list of strings to a list of strings, then joined; and
// the pieces of tokenizer_piece_bytes, the same steps on one token in the middle of a text.
#include "tok_internal.h"

#include "lemma/util.h"

#include <stdlib.h>
#include <string.h>

// A list of strings in one buffer. Invariant: item i is data.p[off[i] .. off[i] + len[i]).
typedef struct {
    TokBuf data;
    size_t *off, *len;
    int n, cap;
} StrVec;

static void sv_add(StrVec *v, const char *s, size_t n) {
    if (v->n == v->cap) {
        v->cap = v->cap ? 2 * v->cap : 16;
        v->off = lm_realloc(v->off, (size_t)v->cap * sizeof *v->off);
        v->len = lm_realloc(v->len, (size_t)v->cap * sizeof *v->len);
    }
    v->off[v->n] = v->data.n, v->len[v->n] = n;
    tokbuf_put(&v->data, s, n);
    v->n++;
}

// Appends to the last item (which must be the last one written).
static void sv_append(StrVec *v, const char *s, size_t n) {
    tokbuf_put(&v->data, s, n);
    v->len[v->n - 1] += n;
}

static void sv_free(StrVec *v) {
    tokbuf_free(&v->data);
    free(v->off), free(v->len);
    memset(v, 0, sizeof *v);
}

#define SV_ITEM(v, i) ((v)->data.p + (v)->off[i])

// ---------------------------------------------------------------------------
// steps (raw: piece mode, invalid UTF-8 kept as bytes)

// ByteLevel: each token's characters back to bytes (a token with a character outside the
// map stays as it is), all joined, invalid UTF-8 replaced (from_utf8_lossy).
static void dec_bytelevel(const StrVec *in, StrVec *out, int raw) {
    TokBuf bytes = {0};
    tokbuf_put(&bytes, "", 0);
    for (int i = 0; i < in->n; i++) {
        const unsigned char *s = (const unsigned char *)SV_ITEM(in, i);
        size_t n = in->len[i], start = bytes.n, j = 0;
        while (j < n) {
            uint32_t cp;
            int l = tok_utf8_len(s + j, n - j, &cp);
            int by = l > 0 ? tok_cp_byte((int)cp) : -1;
            if (by < 0) break;
            char c = (char)by;
            tokbuf_put(&bytes, &c, 1);
            j += (size_t)l;
        }
        if (j < n) {
            bytes.n = start;
            tokbuf_put(&bytes, s, n);
        }
    }
    if (raw) sv_add(out, bytes.p, bytes.n);
    else {
        TokBuf l = {0};
        tok_utf8_lossy(&l, bytes.p, bytes.n);
        sv_add(out, l.p, l.n);
        tokbuf_free(&l);
    }
    tokbuf_free(&bytes);
}

static void dec_replace(const TokDec *d, const StrVec *in, StrVec *out) {
    for (int i = 0; i < in->n; i++) {
        const char *s = SV_ITEM(in, i);
        size_t n = in->len[i], prev = 0;
        sv_add(out, "", 0);
        if (d->alen)
            for (size_t j = 0; j + d->alen <= n;) {
                if (memcmp(s + j, d->a, d->alen) == 0) {
                    sv_append(out, s + prev, j - prev);
                    sv_append(out, d->b, d->blen);
                    j += d->alen, prev = j;
                } else j++;
            }
        sv_append(out, s + prev, n - prev);
    }
}

static int hexval(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

// "<0xAB>" -> 0xAB, else -1 (Rust's u8::from_str_radix on the two characters, which takes
// a leading '+').
static int dec_byte_token(const char *s, size_t n) {
    if (n != 6 || memcmp(s, "<0x", 3) != 0 || s[5] != '>') return -1;
    if (s[3] == '+') return hexval(s[4]);
    int h = hexval(s[3]), l = hexval(s[4]);
    return h < 0 || l < 0 ? -1 : h * 16 + l;
}

static int utf8_valid(const char *s, size_t n) {
    for (size_t i = 0; i < n;) {
        uint32_t cp;
        int l = tok_utf8_len((const unsigned char *)s + i, n - i, &cp);
        if (l <= 0) return 0;
        i += (size_t)l;
    }
    return 1;
}

// ByteFallback: each run of byte tokens becomes its string when valid UTF-8, else one
// U+FFFD per byte.
static void dec_bytefallback(const StrVec *in, StrVec *out, int raw) {
    TokBuf run = {0};
    for (int i = 0; i <= in->n; i++) {
        int by = i < in->n ? dec_byte_token(SV_ITEM(in, i), in->len[i]) : -1;
        if (by >= 0) {
            char c = (char)by;
            tokbuf_put(&run, &c, 1);
            continue;
        }
        if (run.n) {
            if (raw || utf8_valid(run.p, run.n)) sv_add(out, run.p, run.n);
            else
                for (size_t k = 0; k < run.n; k++) sv_add(out, "\xEF\xBF\xBD", 3);
            run.n = 0;
        }
        if (i < in->n) sv_add(out, SV_ITEM(in, i), in->len[i]);
    }
    tokbuf_free(&run);
}

static void dec_fuse(const StrVec *in, StrVec *out) {
    sv_add(out, "", 0);
    for (int i = 0; i < in->n; i++) sv_append(out, SV_ITEM(in, i), in->len[i]);
}

// Strip: at most start leading and stop trailing copies of the content character.
static void dec_strip(const TokDec *d, const StrVec *in, StrVec *out) {
    for (int i = 0; i < in->n; i++) {
        const char *s = SV_ITEM(in, i);
        size_t a = 0, z = in->len[i];
        for (int k = 0; k < d->start && z - a >= d->alen && memcmp(s + a, d->a, d->alen) == 0; k++)
            a += d->alen;
        for (int k = 0; k < d->stop && z - a >= d->alen && memcmp(s + z - d->alen, d->a, d->alen) == 0; k++)
            z -= d->alen;
        sv_add(out, s + a, z - a);
    }
}

// Metaspace: the replacement becomes a space, except in the first token (all of them there)
// when a prefix was prepended. first: whether item 0 is the start of the text.
static void dec_metaspace(const TokDec *d, const StrVec *in, StrVec *out, int first) {
    for (int i = 0; i < in->n; i++) {
        const char *s = SV_ITEM(in, i);
        size_t n = in->len[i], prev = 0;
        int drop = first && i == 0 && d->scheme != PREPEND_NEVER;
        sv_add(out, "", 0);
        for (size_t j = 0; j + d->alen <= n;) {
            if (d->alen && memcmp(s + j, d->a, d->alen) == 0) {
                sv_append(out, s + prev, j - prev);
                if (!drop) sv_append(out, " ", 1);
                j += d->alen, prev = j;
            } else j++;
        }
        sv_append(out, s + prev, n - prev);
    }
}

// Runs the chain over v (replaced by the result). piece: the one token of v is in the
// middle of a text (no edge effects; raw bytes kept).
static void dec_chain(const TokBpe *b, StrVec *v, int piece) {
    int fused = 0;
    for (int k = 0; k < b->n_dec; k++) {
        const TokDec *d = &b->dec[k];
        StrVec o = {0};
        switch (d->kind) {
        case DEC_BYTELEVEL: dec_bytelevel(v, &o, piece), fused = 1; break;
        case DEC_REPLACE: dec_replace(d, v, &o); break;
        case DEC_BYTEFALLBACK:
            if (piece && fused) dec_fuse(v, &o);
            else dec_bytefallback(v, &o, piece);
            break;
        case DEC_FUSE: dec_fuse(v, &o), fused = 1; break;
        case DEC_STRIP:
            if (piece && fused) dec_fuse(v, &o);
            else dec_strip(d, v, &o);
            break;
        default: dec_metaspace(d, v, &o, !piece); break;
        }
        sv_free(v);
        *v = o;
    }
}

static char *sv_join(const StrVec *v, const char *sep, size_t *len) {
    TokBuf o = {0};
    tokbuf_put(&o, "", 0);
    for (int i = 0; i < v->n; i++) {
        if (i && sep) tokbuf_put(&o, sep, strlen(sep));
        tokbuf_put(&o, SV_ITEM(v, i), v->len[i]);
    }
    if (len) *len = o.n;
    return o.p;
}

char *tok_bpe_decode(const TokBpe *b, const int *ids, int n, int skip_special) {
    StrVec v = {0};
    for (int i = 0; i < n; i++) {
        int id = ids[i];
        if (id < 0 || id >= b->n_ids || !b->str[id]) continue; // HF drops unknown ids
        if (skip_special && b->special[id]) continue;
        sv_add(&v, b->str[id], b->slen[id]);
    }
    if (b->has_decoder) dec_chain(b, &v, 0);
    char *out = sv_join(&v, b->has_decoder ? NULL : " ", NULL);
    sv_free(&v);
    return out;
}

void tok_bpe_make_pieces(TokBpe *b) {
    b->piece = lm_calloc((size_t)b->n_ids + 1, sizeof *b->piece);
    b->piece_len = lm_calloc((size_t)b->n_ids + 1, sizeof *b->piece_len);
    b->max_piece = 0;
    for (int id = 0; id < b->n_ids; id++) {
        if (!b->str[id] || b->special[id]) {
            b->piece[id] = lm_strdup("");
            continue;
        }
        StrVec v = {0};
        sv_add(&v, b->str[id], b->slen[id]);
        size_t len;
        if (b->has_decoder) {
            dec_chain(b, &v, 1);
            b->piece[id] = sv_join(&v, NULL, &len);
        } else {
            b->piece[id] = lm_malloc(b->slen[id] + 2);
            b->piece[id][0] = ' ';
            memcpy(b->piece[id] + 1, b->str[id], b->slen[id] + 1);
            len = b->slen[id] + 1;
        }
        sv_free(&v);
        b->piece_len[id] = (uint32_t)len;
        if (len > b->max_piece) b->max_piece = len;
    }
}
