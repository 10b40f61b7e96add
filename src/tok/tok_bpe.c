// tok/tok_bpe: the BPE model of a tokenizer: its vocab, merges and added tokens, the
// per-thread scratch and word cache, and the merge loop of one pre-tokenised word (HF
// tokenizers' BPE::merge_word and Word::merge_all: a binary heap over the adjacent pairs'
// merge ranks, lowest rank first and leftmost first on ties, over a linked list of symbols).
#include "tok_internal.h"

#include "lemma/util.h"

#include <stdlib.h>
#include <string.h>

TokBpe *tok_bpe_new(void) {
    TokBpe *b = lm_calloc(1, sizeof *b);
    strmap_init(&b->model, 1024);
    strmap_init(&b->added_map, 16);
    pairmap_init(&b->merges, 1024);
    b->unk = -1;
    b->sym = &b->model;
    for (int i = 0; i < 256; i++) b->byte_sym[i] = b->byte_fb[i] = -1;
    return b;
}

static void tok_grow_ids(TokBpe *b, int id) {
    if (id < b->n_ids) return;
    int n = id + 1;
    b->str = lm_realloc(b->str, (size_t)n * sizeof *b->str);
    b->slen = lm_realloc(b->slen, (size_t)n * sizeof *b->slen);
    for (int i = b->n_ids; i < n; i++) b->str[i] = NULL, b->slen[i] = 0;
    b->n_ids = n;
}

static void tok_set_str(TokBpe *b, int id, const char *s, size_t n) {
    tok_grow_ids(b, id);
    free(b->str[id]);
    b->str[id] = lm_malloc(n + 1);
    memcpy(b->str[id], s, n);
    b->str[id][n] = 0;
    b->slen[id] = (uint32_t)n;
}

void tok_bpe_set_vocab(TokBpe *b, int id, const char *s, size_t n) {
    strmap_put(&b->model, s, n, id);
    tok_set_str(b, id, s, n);
}

void tok_bpe_add_token(TokBpe *b, const char *s, size_t n, int id, int special, int normalized,
                       int lstrip, int rstrip) {
    b->added = lm_realloc(b->added, (size_t)(b->n_added + 1) * sizeof *b->added);
    TokAdded *a = &b->added[b->n_added++];
    memset(a, 0, sizeof *a);
    a->content = lm_malloc(n + 1);
    memcpy(a->content, s, n);
    a->content[n] = 0;
    a->len = n, a->id = id, a->special = (unsigned char)special;
    a->normalized = (unsigned char)normalized, a->lstrip = (unsigned char)lstrip;
    a->rstrip = (unsigned char)rstrip;
    strmap_put(&b->added_map, s, n, id);
    tok_set_str(b, id, s, n);
}

void tok_bpe_free(TokBpe *b) {
    if (!b) return;
    for (int i = 0; i < b->n_ids; i++) free(b->str[i]);
    if (b->piece)
        for (int i = 0; i < b->n_ids; i++) free(b->piece[i]);
    free(b->str), free(b->slen), free(b->special), free(b->piece), free(b->piece_len);
    strmap_free(&b->model), strmap_free(&b->bytes), strmap_free(&b->added_map);
    pairmap_free(&b->merges);
    for (int i = 0; i < b->n_norm; i++) {
        free(b->norm[i].a), free(b->norm[i].b);
        if (b->norm[i].re) pcre2_code_free(b->norm[i].re);
    }
    for (int i = 0; i < b->n_pre; i++) {
        free(b->pre[i].lit), free(b->pre[i].pat);
        if (b->pre[i].re) pcre2_code_free(b->pre[i].re);
    }
    for (int i = 0; i < b->n_dec; i++) free(b->dec[i].a), free(b->dec[i].b);
    for (int i = 0; i < b->n_added; i++) {
        if (b->added[i].match != b->added[i].content) free(b->added[i].match);
        free(b->added[i].content);
    }
    free(b->norm), free(b->pre), free(b->dec), free(b->added);
    TokTrie *tr[2] = {&b->trie_raw, &b->trie_norm};
    for (int i = 0; i < 2; i++) free(tr[i]->child), free(tr[i]->sib), free(tr[i]->tok), free(tr[i]->c);
    if (b->key_ok) {
        for (int i = 0; i < b->n_threads; i++) tok_thread_free(b->threads[i]);
        free(b->threads);
        pthread_key_delete(b->key);
        pthread_mutex_destroy(&b->mu);
    }
    free(b);
}

// ---------------------------------------------------------------------------
// regex: HF's patterns are Oniguruma's; PCRE2 with UTF and UCP reads them the same but for
// \s, which Oniguruma takes as the White_Space property (PCRE2 adds U+180E): it is spelled
// out here.

#define TOK_WS "\\t\\n\\x0B\\f\\r\\x20\\x{85}\\x{A0}\\x{1680}\\x{2000}-\\x{200A}\\x{2028}\\x{2029}" \
               "\\x{202F}\\x{205F}\\x{3000}"

pcre2_code *tok_regex(const char *pat, size_t n, char *err, size_t err_len) {
    TokBuf o = {0};
    int in_class = 0;
    for (size_t i = 0; i < n; i++) {
        char c = pat[i];
        if (c == '\\' && i + 1 < n) {
            char d = pat[++i];
            if (d == 's') tokbuf_put(&o, in_class ? TOK_WS : "[" TOK_WS "]", strlen(in_class ? TOK_WS : "[" TOK_WS "]"));
            else if (d == 'S' && !in_class) tokbuf_put(&o, "[^" TOK_WS "]", strlen("[^" TOK_WS "]"));
            else tokbuf_put(&o, pat + i - 1, 2);
            continue;
        }
        if (!in_class && c == '[') {
            in_class = 1;
            tokbuf_put(&o, "[", 1);
            if (i + 1 < n && pat[i + 1] == '^') tokbuf_put(&o, "^", 1), i++;
            if (i + 1 < n && pat[i + 1] == ']') tokbuf_put(&o, "]", 1), i++;
            continue;
        }
        if (in_class && c == '[') {
            if (i + 1 < n && pat[i + 1] == ':') {
                tokbuf_put(&o, "[", 1);
                continue;
            }
            snprintf(err, err_len, "nested character class at offset %zu (Oniguruma only)", i);
            tokbuf_free(&o);
            return NULL;
        }
        if (in_class && c == ']') in_class = 0;
        tokbuf_put(&o, &c, 1);
    }
    int ec;
    PCRE2_SIZE eo;
    pcre2_code *re = pcre2_compile((PCRE2_SPTR)o.p, o.n, PCRE2_UTF | PCRE2_UCP | PCRE2_MULTILINE, &ec, &eo, NULL);
    tokbuf_free(&o);
    if (!re) {
        PCRE2_UCHAR msg[160];
        pcre2_get_error_message(ec, msg, sizeof msg);
        snprintf(err, err_len, "regex does not compile (%s)", (char *)msg);
        return NULL;
    }
    pcre2_jit_compile(re, PCRE2_JIT_COMPLETE); // without JIT, pcre2_match interprets
    return re;
}

// ---------------------------------------------------------------------------
// finishing the state

static void trie_init(TokTrie *t) {
    memset(t, 0, sizeof *t);
    t->cap = 16;
    t->child = lm_malloc((size_t)t->cap * sizeof *t->child);
    t->sib = lm_malloc((size_t)t->cap * sizeof *t->sib);
    t->tok = lm_malloc((size_t)t->cap * sizeof *t->tok);
    t->c = lm_malloc((size_t)t->cap);
    t->child[0] = t->sib[0] = t->tok[0] = -1, t->c[0] = 0;
    t->n_nodes = 1;
}

static int trie_node(TokTrie *t, int parent, unsigned char c) {
    for (int k = t->child[parent]; k >= 0; k = t->sib[k])
        if (t->c[k] == c) return k;
    if (t->n_nodes == t->cap) {
        t->cap *= 2;
        t->child = lm_realloc(t->child, (size_t)t->cap * sizeof *t->child);
        t->sib = lm_realloc(t->sib, (size_t)t->cap * sizeof *t->sib);
        t->tok = lm_realloc(t->tok, (size_t)t->cap * sizeof *t->tok);
        t->c = lm_realloc(t->c, (size_t)t->cap);
    }
    int k = t->n_nodes++;
    t->child[k] = -1, t->tok[k] = -1, t->c[k] = c;
    t->sib[k] = t->child[parent], t->child[parent] = k;
    return k;
}

// A later added token with the same match string replaces the earlier (HF keeps one).
static void trie_add(TokTrie *t, const char *s, size_t n, int tok) {
    if (n == 0) return;
    int k = 0;
    for (size_t i = 0; i < n; i++) k = trie_node(t, k, (unsigned char)s[i]);
    t->tok[k] = tok;
    t->first[(unsigned char)s[0]] = 1;
}

// Byte-level model vocab: each HF string whose every character is in the GPT-2 map, as the
// raw bytes it stands for.
static void tok_build_bytes(TokBpe *b) {
    strmap_init(&b->bytes, b->model.n);
    char *tmp = lm_malloc(1);
    size_t cap = 1;
    for (uint32_t i = 0; i < b->model.cap; i++) {
        const StrSlot *e = &b->model.slot[i];
        if (e->val < 0) continue;
        const unsigned char *s = (const unsigned char *)b->model.arena.p + e->off;
        if (e->len > cap) tmp = lm_realloc(tmp, cap = e->len);
        size_t n = 0, j = 0;
        for (; j < e->len;) {
            uint32_t cp;
            int l = tok_utf8_len(s + j, e->len - j, &cp);
            int by = l ? tok_cp_byte((int)cp) : -1;
            if (by < 0) break;
            tmp[n++] = (char)by, j += (size_t)l;
        }
        if (j == e->len && n > 0) strmap_put(&b->bytes, tmp, n, e->val);
    }
    free(tmp);
    b->sym = &b->bytes;
    for (int c = 0; c < 256; c++) {
        char ch = (char)c;
        b->byte_sym[c] = strmap_get(&b->bytes, &ch, 1);
    }
}

int tok_bpe_finish(TokBpe *b, char *err, size_t err_len) {
    (void)err, (void)err_len;
    for (int i = 0; i < b->n_pre; i++) b->byte_level |= b->pre[i].kind == PRE_BYTELEVEL;
    if (b->byte_level) tok_build_bytes(b);
    for (int c = 0; c < 256; c++) {
        char code[8];
        snprintf(code, sizeof code, "<0x%02X>", c);
        b->byte_fb[c] = strmap_get(&b->model, code, 6);
    }
    trie_init(&b->trie_raw), trie_init(&b->trie_norm);
    StrMap special;
    strmap_init(&special, (uint32_t)b->n_added);
    for (int i = 0; i < b->n_added; i++) {
        TokAdded *a = &b->added[i];
        a->match = a->content, a->match_len = a->len;
        if (a->normalized && b->n_norm) {
            TokBuf o = {0};
            tok_normalize(b, a->content, a->len, &o);
            a->match = o.p ? o.p : lm_strdup(""), a->match_len = o.n;
        }
        trie_add(a->normalized ? &b->trie_norm : &b->trie_raw, a->match, a->match_len, i);
        if (a->special) strmap_put(&special, a->content, a->len, 1);
    }
    b->special = lm_calloc((size_t)b->n_ids + 1, 1);
    for (int i = 0; i < b->n_ids; i++)
        if (b->str[i]) b->special[i] = strmap_get(&special, b->str[i], b->slen[i]) == 1;
    strmap_free(&special);
    tok_bpe_make_pieces(b);
    pthread_key_create(&b->key, NULL);
    pthread_mutex_init(&b->mu, NULL);
    b->key_ok = 1;
    return 0;
}

int tok_bpe_add_merge(TokBpe *b, const char *a, size_t an, const char *bb, size_t bn, int rank) {
    int l = strmap_get(&b->model, a, an), r = strmap_get(&b->model, bb, bn);
    if (l < 0 || r < 0) return -1;
    char stack[256];
    char *s = an + bn <= sizeof stack ? stack : lm_malloc(an + bn);
    memcpy(s, a, an), memcpy(s + an, bb, bn);
    int m = strmap_get(&b->model, s, an + bn);
    if (s != stack) free(s);
    if (m < 0) return -1;
    pairmap_put(&b->merges, l, r, rank, m);
    return 0;
}

// ---------------------------------------------------------------------------
// per-thread state: scratch for the merge loop and the pipeline, and a word cache (words of
// at most TOK_CACHE_WORD bytes -> their ids; cleared when full).

#define TOK_CACHE_SLOTS (1u << 15)
#define TOK_CACHE_MAX (TOK_CACHE_SLOTS / 2)
#define TOK_CACHE_WORD 256

typedef struct {
    uint64_t h;
    uint32_t key, key_len, ids, n_ids; // offsets in keys / cids; key_len UINT32_MAX: empty
} CacheSlot;

typedef struct {
    uint32_t rank;
    int32_t pos, id;
} HeapEnt;

struct TokThread {
    CacheSlot *slot;
    uint32_t n_cached;
    TokBuf keys;
    int *cids;
    size_t n_cids, cap_cids;
    int *sid, *sprev, *snext; // symbols: id (-1 removed), linked list
    size_t cap_sym;
    HeapEnt *heap;
    size_t cap_heap;
    int *out;
    size_t cap_out;
    pcre2_match_data *md;
    pcre2_match_context *mctx;
    pcre2_jit_stack *js;
    TokBuf buf[TOK_NBUF];
};

static void tok_cache_clear(TokThread *th) {
    for (uint32_t i = 0; i < TOK_CACHE_SLOTS; i++) th->slot[i].key_len = UINT32_MAX;
    th->n_cached = 0, th->keys.n = 0, th->n_cids = 0;
}

TokThread *tok_thread(const TokBpe *cb) {
    TokBpe *b = (TokBpe *)cb; // the registry of thread states is mutable behind a const tokenizer
    TokThread *th = pthread_getspecific(b->key);
    if (th) return th;
    th = lm_calloc(1, sizeof *th);
    th->slot = lm_malloc(TOK_CACHE_SLOTS * sizeof *th->slot);
    tok_cache_clear(th);
    th->md = pcre2_match_data_create(32, NULL);
    th->mctx = pcre2_match_context_create(NULL);
    th->js = pcre2_jit_stack_create(32 * 1024, 4 * 1024 * 1024, NULL);
    pcre2_jit_stack_assign(th->mctx, NULL, th->js);
    pthread_mutex_lock(&b->mu);
    if (b->n_threads == b->cap_threads) {
        b->cap_threads = b->cap_threads ? 2 * b->cap_threads : 4;
        b->threads = lm_realloc(b->threads, (size_t)b->cap_threads * sizeof *b->threads);
    }
    b->threads[b->n_threads++] = th;
    pthread_mutex_unlock(&b->mu);
    pthread_setspecific(b->key, th);
    return th;
}

void tok_thread_free(TokThread *th) {
    free(th->slot), tokbuf_free(&th->keys), free(th->cids);
    free(th->sid), free(th->sprev), free(th->snext), free(th->heap), free(th->out);
    pcre2_match_data_free(th->md), pcre2_match_context_free(th->mctx), pcre2_jit_stack_free(th->js);
    for (int i = 0; i < TOK_NBUF; i++) tokbuf_free(&th->buf[i]);
    free(th);
}

pcre2_match_data *tok_thread_md(TokThread *th) { return th->md; }
pcre2_match_context *tok_thread_mctx(TokThread *th) { return th->mctx; }
TokBuf *tok_thread_buf(TokThread *th, int i) { return &th->buf[i]; }

static int tok_cache_get(TokThread *th, const char *w, size_t n, uint64_t h, const int **out) {
    for (uint32_t i = (uint32_t)h & (TOK_CACHE_SLOTS - 1);; i = (i + 1) & (TOK_CACHE_SLOTS - 1)) {
        CacheSlot *s = &th->slot[i];
        if (s->key_len == UINT32_MAX) return -1;
        if (s->h == h && s->key_len == n && memcmp(th->keys.p + s->key, w, n) == 0) {
            *out = th->cids + s->ids;
            return (int)s->n_ids;
        }
    }
}

static void tok_cache_put(TokThread *th, const char *w, size_t n, uint64_t h, const int *ids, int k) {
    if (th->n_cached >= TOK_CACHE_MAX) tok_cache_clear(th);
    uint32_t i = (uint32_t)h & (TOK_CACHE_SLOTS - 1);
    while (th->slot[i].key_len != UINT32_MAX) i = (i + 1) & (TOK_CACHE_SLOTS - 1);
    if (th->n_cids + (size_t)k > th->cap_cids) {
        th->cap_cids = 2 * (th->n_cids + (size_t)k) + 1024;
        th->cids = lm_realloc(th->cids, th->cap_cids * sizeof *th->cids);
    }
    CacheSlot *s = &th->slot[i];
    s->h = h, s->key = (uint32_t)th->keys.n, s->key_len = (uint32_t)n;
    s->ids = (uint32_t)th->n_cids, s->n_ids = (uint32_t)k;
    tokbuf_put(&th->keys, w, n);
    memcpy(th->cids + th->n_cids, ids, (size_t)k * sizeof *ids);
    th->n_cids += (size_t)k;
    th->n_cached++;
}

// ---------------------------------------------------------------------------
// the merge loop

static inline int heap_less(HeapEnt a, HeapEnt b) {
    return a.rank != b.rank ? a.rank < b.rank : a.pos < b.pos;
}

static void heap_push(TokThread *th, size_t *n, HeapEnt e) {
    if (*n == th->cap_heap) {
        th->cap_heap = th->cap_heap ? 2 * th->cap_heap : 256;
        th->heap = lm_realloc(th->heap, th->cap_heap * sizeof *th->heap);
    }
    HeapEnt *h = th->heap;
    size_t i = (*n)++;
    while (i > 0 && heap_less(e, h[(i - 1) / 2])) h[i] = h[(i - 1) / 2], i = (i - 1) / 2;
    h[i] = e;
}

static HeapEnt heap_pop(TokThread *th, size_t *n) {
    HeapEnt *h = th->heap, top = h[0], last = h[--*n];
    size_t i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= *n) break;
        if (c + 1 < *n && heap_less(h[c + 1], h[c])) c++;
        if (!heap_less(h[c], last)) break;
        h[i] = h[c], i = c;
    }
    if (*n) h[i] = last;
    return top;
}

static void sym_reserve(TokThread *th, size_t n) {
    if (n <= th->cap_sym) return;
    th->cap_sym = 2 * n;
    th->sid = lm_realloc(th->sid, th->cap_sym * sizeof *th->sid);
    th->sprev = lm_realloc(th->sprev, th->cap_sym * sizeof *th->sprev);
    th->snext = lm_realloc(th->snext, th->cap_sym * sizeof *th->snext);
}

static inline void sym_add(TokThread *th, int *n, int id) {
    th->sid[*n] = id, th->sprev[*n] = *n - 1, th->snext[*n] = *n + 1;
    (*n)++;
}

// A character not in the vocab: its bytes' <0xXX> tokens when all exist (byte_fallback),
// else the unknown token (fused with a pending one when fuse_unk), else dropped. As HF, a
// pending unknown is not flushed before byte-fallback tokens.
static void sym_unknown(const TokBpe *b, TokThread *th, int *n, const char *c, size_t cl, int *unk) {
    if (b->byte_fallback) {
        size_t k = 0;
        while (k < cl && b->byte_fb[(unsigned char)c[k]] >= 0) k++;
        if (k == cl) {
            for (k = 0; k < cl; k++) sym_add(th, n, b->byte_fb[(unsigned char)c[k]]);
            return;
        }
    }
    if (b->unk < 0) return;
    if (*unk >= 0 && !b->fuse_unk) sym_add(th, n, *unk);
    *unk = b->unk;
}

// The initial symbols of word w: one per character (byte-level: per byte).
static int tok_symbols(const TokBpe *b, TokThread *th, const char *w, size_t n) {
    sym_reserve(th, 4 * n + 4);
    int ns = 0, unk = -1;
    for (size_t i = 0; i < n;) {
        int id;
        size_t cl;
        char cbuf[4];
        const char *c = w + i;
        if (b->byte_level) {
            id = b->byte_sym[(unsigned char)w[i]], cl = 1;
            if (id < 0) c = cbuf, cl = (size_t)tok_utf8_put(cbuf, (uint32_t)tok_byte_cp((unsigned char)w[i]));
            i++;
        } else {
            uint32_t cp;
            int l = tok_utf8_len((const unsigned char *)w + i, n - i, &cp);
            cl = l > 0 ? (size_t)l : 1;
            id = strmap_get(b->sym, c, cl);
            i += cl;
        }
        if (id >= 0) {
            if (unk >= 0) sym_add(th, &ns, unk), unk = -1;
            sym_add(th, &ns, id);
        } else {
            sym_unknown(b, th, &ns, c, cl, &unk);
        }
    }
    if (unk >= 0) sym_add(th, &ns, unk);
    if (ns) th->snext[ns - 1] = -1;
    return ns;
}

static void tok_merge_all(const TokBpe *b, TokThread *th, int ns) {
    size_t nh = 0;
    for (int i = 0; i + 1 < ns; i++) {
        const PairSlot *p = pairmap_get(&b->merges, th->sid[i], th->sid[i + 1]);
        if (p) heap_push(th, &nh, (HeapEnt){(uint32_t)p->rank, i, p->id});
    }
    int *sid = th->sid, *prev = th->sprev, *next = th->snext;
    while (nh) {
        HeapEnt top = heap_pop(th, &nh);
        int pos = top.pos;
        if (sid[pos] < 0 || next[pos] < 0) continue;
        int right = next[pos];
        const PairSlot *p = pairmap_get(&b->merges, sid[pos], sid[right]);
        if (!p || p->id != top.id) continue; // an expired entry
        sid[pos] = top.id, sid[right] = -1;
        next[pos] = next[right];
        if (next[pos] >= 0) prev[next[pos]] = pos;
        if (prev[pos] >= 0) {
            const PairSlot *q = pairmap_get(&b->merges, sid[prev[pos]], sid[pos]);
            if (q) heap_push(th, &nh, (HeapEnt){(uint32_t)q->rank, prev[pos], q->id});
        }
        if (next[pos] >= 0) {
            const PairSlot *q = pairmap_get(&b->merges, sid[pos], sid[next[pos]]);
            if (q) heap_push(th, &nh, (HeapEnt){(uint32_t)q->rank, pos, q->id});
        }
    }
}

int tok_bpe_word(const TokBpe *b, TokThread *th, const char *w, size_t n, const int **out) {
    if (n == 0) return 0;
    uint64_t h = tok_hash(w, n);
    if (b->ignore_merges) {
        int id = strmap_get_h(b->sym, w, n, h);
        if (id >= 0) {
            if (!th->cap_out) th->out = lm_malloc(64 * sizeof *th->out), th->cap_out = 64;
            th->out[0] = id;
            *out = th->out;
            return 1;
        }
    }
    int k;
    if (n <= TOK_CACHE_WORD && (k = tok_cache_get(th, w, n, h, out)) >= 0) return k;
    int ns = tok_symbols(b, th, w, n);
    if (ns > 1) tok_merge_all(b, th, ns);
    if ((size_t)ns > th->cap_out) {
        th->cap_out = 2 * (size_t)ns + 64;
        th->out = lm_realloc(th->out, th->cap_out * sizeof *th->out);
    }
    k = 0;
    for (int i = ns ? 0 : -1; i >= 0; i = th->snext[i]) th->out[k++] = th->sid[i];
    if (n <= TOK_CACHE_WORD) tok_cache_put(th, w, n, h, th->out, k);
    *out = th->out;
    return k;
}
