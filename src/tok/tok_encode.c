// tok/tok_encode: BPE encoding, HF tokenizers' Tokenizer.encode(text, add_special_tokens=
// False): added tokens split out of the raw text (leftmost, then longest), each remaining
// segment normalised, added tokens with normalized=true split out of the normalised text,
// the rest pre-tokenised into words (a chain of steps, each splitting the pieces of the one
// before) and each word BPE'd (tok_bpe.c).
#include "tok_internal.h"

#include "lemma/util.h"

#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

typedef struct {
    const TokBpe *b;
    TokThread *th;
    int *ids;
    int cap, n; // n counts every id, those past cap too
} Enc;

static inline void enc_emit(Enc *e, int id) {
    if (e->n < e->cap) e->ids[e->n] = id;
    e->n++;
}

// ---------------------------------------------------------------------------
// normalisers

static int tok_is_ascii(const char *s, size_t n) {
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] >= 0x80) return 0;
    return 1;
}

static void norm_unicode(int kind, const char *s, size_t n, TokBuf *out) {
    out->n = 0;
    if (tok_is_ascii(s, n)) {
        tokbuf_put(out, s, n);
        return;
    }
    int opt = UTF8PROC_STABLE;
    opt |= kind == NORM_NFC || kind == NORM_NFKC ? UTF8PROC_COMPOSE : UTF8PROC_DECOMPOSE;
    if (kind == NORM_NFKC || kind == NORM_NFKD) opt |= UTF8PROC_COMPAT;
    utf8proc_uint8_t *dst = NULL;
    utf8proc_ssize_t r = utf8proc_map((const utf8proc_uint8_t *)s, (utf8proc_ssize_t)n, &dst, opt);
    LM_CHECK(r >= 0, "tokenizer: utf8proc: %s", utf8proc_errmsg(r));
    tokbuf_put(out, dst, (size_t)r);
    free(dst);
}

// All non-overlapping occurrences of the String pattern a (or the regex) replaced by b.
static void norm_replace(const TokNorm *nm, const char *s, size_t n, TokBuf *out) {
    out->n = 0;
    tokbuf_reserve(out, n + 1);
    if (nm->re) {
        pcre2_match_data *md = pcre2_match_data_create_from_pattern(nm->re, NULL);
        size_t off = 0, prev = 0;
        while (off <= n && pcre2_match(nm->re, (PCRE2_SPTR)s, n, off, PCRE2_NO_UTF_CHECK, md, NULL) >= 0) {
            PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
            tokbuf_put(out, s + prev, ov[0] - prev);
            tokbuf_put(out, nm->b, nm->blen);
            prev = ov[1];
            if (ov[1] > ov[0]) off = ov[1];
            else {
                if (ov[0] >= n) break;
                uint32_t cp;
                int l = tok_utf8_len((const unsigned char *)s + ov[0], n - ov[0], &cp);
                off = ov[0] + (size_t)(l > 0 ? l : 1);
            }
        }
        pcre2_match_data_free(md);
        tokbuf_put(out, s + prev, n - prev);
        return;
    }
    size_t prev = 0;
    if (nm->alen)
        for (size_t i = 0; i + nm->alen <= n;) {
            if (memcmp(s + i, nm->a, nm->alen) == 0) {
                tokbuf_put(out, s + prev, i - prev);
                tokbuf_put(out, nm->b, nm->blen);
                i += nm->alen, prev = i;
            } else i++;
        }
    tokbuf_put(out, s + prev, n - prev);
}

// The normaliser chain; out gets the result (a second buffer serves as scratch).
static void tok_normalize2(const TokBpe *b, const char *s, size_t n, TokBuf *out, TokBuf *tmp) {
    TokBuf *cur = out, *oth = tmp;
    out->n = 0;
    tokbuf_put(out, s, n);
    for (int i = 0; i < b->n_norm; i++) {
        const TokNorm *nm = &b->norm[i];
        if (nm->kind == NORM_PREPEND) {
            if (cur->n == 0) continue;
            oth->n = 0;
            tokbuf_put(oth, nm->a, nm->alen);
            tokbuf_put(oth, cur->p, cur->n);
        } else if (nm->kind == NORM_REPLACE) {
            norm_replace(nm, cur->p, cur->n, oth);
        } else {
            norm_unicode(nm->kind, cur->p, cur->n, oth);
        }
        TokBuf *t = cur;
        cur = oth, oth = t;
    }
    if (cur != out) {
        out->n = 0;
        tokbuf_put(out, cur->p, cur->n);
    }
}

void tok_normalize(const TokBpe *b, const char *s, size_t n, TokBuf *out) {
    TokBuf tmp = {0};
    tok_normalize2(b, s, n, out, &tmp);
    tokbuf_free(&tmp);
}

// ---------------------------------------------------------------------------
// pre-tokenisers: step k of the chain takes one piece and hands its pieces to step k + 1;
// past the last step a piece is a word. at_start: the piece starts at offset 0 of the
// original text (Metaspace's "first").

static void pre_step(Enc *e, int k, const char *s, size_t n, int at_start);

static void pre_next(Enc *e, int k, const char *s, size_t n, int at_start) {
    if (n == 0) return; // HF drops empty splits
    if (k + 1 < e->b->n_pre) {
        pre_step(e, k + 1, s, n, at_start);
        return;
    }
    const int *ids;
    int m = tok_bpe_word(e->b, e->th, s, n, &ids);
    for (int i = 0; i < m; i++) enc_emit(e, ids[i]);
}

// Splits s on the regex (or literal) matches: Isolated hands on matches and gaps in order,
// Removed only the gaps. An empty match splits the gap where it is.
static void pre_split(Enc *e, int k, const TokPre *p, const char *s, size_t n, int at_start) {
    size_t off = 0, prev = 0;
    int keep = p->behavior == SPLIT_ISOLATED;
    pcre2_match_data *md = tok_thread_md(e->th);
    pcre2_match_context *mc = tok_thread_mctx(e->th);
    while (off <= n) {
        size_t ms, me;
        if (p->re) {
            int rc = pcre2_match(p->re, (PCRE2_SPTR)s, n, off, PCRE2_NO_UTF_CHECK, md, mc);
            if (rc == PCRE2_ERROR_NOMATCH) break;
            LM_CHECK(rc >= 0, "tokenizer: regex match failed (PCRE2 error %d)", rc);
            PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
            ms = ov[0], me = ov[1];
        } else {
            const char *f = p->lit_len ? memmem(s + off, n - off, p->lit, p->lit_len) : NULL;
            if (!f) break;
            ms = (size_t)(f - s), me = ms + p->lit_len;
        }
        if (ms > prev) pre_next(e, k, s + prev, ms - prev, at_start && prev == 0);
        if (keep) pre_next(e, k, s + ms, me - ms, at_start && ms == 0);
        prev = me;
        if (me > ms) off = me;
        else {
            if (ms >= n) break;
            uint32_t cp;
            int l = tok_utf8_len((const unsigned char *)s + ms, n - ms, &cp);
            off = ms + (size_t)(l > 0 ? l : 1);
        }
    }
    if (prev < n) pre_next(e, k, s + prev, n - prev, at_start && prev == 0);
}

// Metaspace: spaces become the replacement, which is prepended per the scheme; with split,
// each replacement starts a new piece (MergedWithNext).
static void pre_metaspace(Enc *e, int k, const TokPre *p, const char *s, size_t n, int at_start) {
    TokBuf *o = tok_thread_buf(e->th, 2 + k);
    o->n = 0;
    int starts = (n >= (size_t)p->rep_len && memcmp(s, p->rep, (size_t)p->rep_len) == 0) || (n && s[0] == ' ');
    if (!starts && (p->scheme == PREPEND_ALWAYS || (p->scheme == PREPEND_FIRST && at_start)))
        tokbuf_put(o, p->rep, (size_t)p->rep_len);
    size_t prev = 0;
    for (size_t i = 0; i < n; i++)
        if (s[i] == ' ') {
            tokbuf_put(o, s + prev, i - prev);
            tokbuf_put(o, p->rep, (size_t)p->rep_len);
            prev = i + 1;
        }
    tokbuf_put(o, s + prev, n - prev);
    if (!p->split) {
        pre_next(e, k, o->p, o->n, at_start);
        return;
    }
    size_t start = 0, rl = (size_t)p->rep_len;
    for (size_t i = 1; i + rl <= o->n; i++)
        if (memcmp(o->p + i, p->rep, rl) == 0) {
            pre_next(e, k, o->p + start, i - start, at_start && start == 0);
            start = i;
        }
    pre_next(e, k, o->p + start, o->n - start, at_start && start == 0);
}

static void pre_step(Enc *e, int k, const char *s, size_t n, int at_start) {
    const TokPre *p = &e->b->pre[k];
    if (p->kind == PRE_SPLIT) {
        pre_split(e, k, p, s, n, at_start);
    } else if (p->kind == PRE_METASPACE) {
        pre_metaspace(e, k, p, s, n, at_start);
    } else { // ByteLevel: words stay raw bytes (the vocab was mapped to bytes instead)
        if (p->prefix_space && s[0] != ' ') {
            TokBuf *o = tok_thread_buf(e->th, 2 + k);
            o->n = 0;
            tokbuf_put(o, " ", 1);
            tokbuf_put(o, s, n);
            s = o->p, n = o->n;
        }
        if (p->re) {
            TokPre iso = *p;
            iso.behavior = SPLIT_ISOLATED;
            pre_split(e, k, &iso, s, n, at_start);
        } else {
            pre_next(e, k, s, n, at_start);
        }
    }
}

static void enc_pretokenize(Enc *e, const char *s, size_t n, int at_start) {
    if (n == 0) return;
    if (e->b->n_pre) pre_step(e, 0, s, n, at_start);
    else pre_next(e, -1, s, n, at_start);
}

// ---------------------------------------------------------------------------
// added tokens

// The longest added token whose match string starts at s[0], or -1 (its length in *len).
static int trie_match(const TokTrie *t, const char *s, size_t n, size_t *len) {
    int k = 0, best = -1;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        int nx = -1;
        for (int j = t->child[k]; j >= 0; j = t->sib[j])
            if (t->c[j] == c) {
                nx = j;
                break;
            }
        if (nx < 0) break;
        k = nx;
        if (t->tok[k] >= 0) best = t->tok[k], *len = i + 1;
    }
    return best;
}

static size_t ws_back(const char *s, size_t from, size_t floor) {
    // the start of the run of whitespace ending at from (not before floor)
    size_t i = from;
    while (i > floor) {
        size_t j = i - 1;
        while (j > floor && ((unsigned char)s[j] & 0xC0) == 0x80) j--;
        uint32_t cp;
        if (tok_utf8_len((const unsigned char *)s + j, i - j, &cp) <= 0 || !tok_is_whitespace(cp)) break;
        i = j;
    }
    return i;
}

static size_t ws_fwd(const char *s, size_t from, size_t n) {
    size_t i = from;
    while (i < n) {
        uint32_t cp;
        int l = tok_utf8_len((const unsigned char *)s + i, n - i, &cp);
        if (l <= 0 || !tok_is_whitespace(cp)) break;
        i += (size_t)l;
    }
    return i;
}

static void enc_segment(Enc *e, const char *s, size_t n, int at_start);

// Splits s on the trie's tokens (leftmost, longest at a position; lstrip/rstrip take the
// whitespace beside a token into it); gaps go to the segment handler (raw) or straight to
// the pre-tokenisers (normalised).
static void enc_split_added(Enc *e, const TokTrie *t, const char *s, size_t n, int at_start, int raw) {
    size_t gap = 0, p = 0;
    while (p < n) {
        size_t len = 0;
        int a = t->first[(unsigned char)s[p]] ? trie_match(t, s + p, n - p, &len) : -1;
        if (a < 0) {
            p++;
            continue;
        }
        const TokAdded *tok = &e->b->added[a];
        size_t start = p, stop = p + len;
        if (tok->lstrip) start = ws_back(s, start, gap);
        if (tok->rstrip) stop = ws_fwd(s, stop, n);
        if (start > gap) {
            if (raw) enc_segment(e, s + gap, start - gap, at_start && gap == 0);
            else enc_pretokenize(e, s + gap, start - gap, at_start && gap == 0);
        }
        enc_emit(e, tok->id);
        gap = p = stop;
    }
    if (gap < n) {
        if (raw) enc_segment(e, s + gap, n - gap, at_start && gap == 0);
        else enc_pretokenize(e, s + gap, n - gap, at_start && gap == 0);
    }
}

// A segment of the raw text between added tokens: normalised, then split on the added
// tokens that match normalised text.
static void enc_segment(Enc *e, const char *s, size_t n, int at_start) {
    const TokBpe *b = e->b;
    if (b->n_norm) {
        TokBuf *o = tok_thread_buf(e->th, 1), *tmp = tok_thread_buf(e->th, TOK_NBUF - 1);
        tok_normalize2(b, s, n, o, tmp);
        s = o->p, n = o->n;
    }
    if (b->trie_norm.n_nodes > 1) enc_split_added(e, &b->trie_norm, s, n, at_start, 0);
    else enc_pretokenize(e, s, n, at_start);
}

static int tok_valid_utf8(const char *s, size_t n) {
    for (size_t i = 0; i < n;) {
        if ((unsigned char)s[i] < 0x80) {
            i++;
            continue;
        }
        uint32_t cp;
        int l = tok_utf8_len((const unsigned char *)s + i, n - i, &cp);
        if (l <= 0) return 0;
        i += (size_t)l;
    }
    return 1;
}

int tok_bpe_encode(const TokBpe *b, const char *text, int *ids, int cap) {
    Enc e = {b, tok_thread(b), ids, cap, 0};
    size_t n = strlen(text);
    if (!tok_valid_utf8(text, n)) {
        TokBuf *o = tok_thread_buf(e.th, 0);
        o->n = 0;
        tok_utf8_lossy(o, text, n);
        text = o->p, n = o->n;
    }
    if (b->trie_raw.n_nodes > 1) enc_split_added(&e, &b->trie_raw, text, n, 1, 1);
    else enc_segment(&e, text, n, 1);
    return e.n;
}
