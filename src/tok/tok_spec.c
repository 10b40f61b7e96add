// tok/tok_spec: a BPE tokenizer from GGUF-style metadata (TokSpec), built as the tokenizer.json
// that HF would make of the same model: "gpt2" models get ByteLevel with the pre-tokeniser
// of tokenizer.ggml.pre (the pattern of that model family's tokenizer.json), "llama" models
// the SentencePiece pipeline of HF's LLaMA/Mistral (legacy: Prepend("▁") + Replace(" ", "▁"),
// byte fallback, fused unknowns; decoder Replace, ByteFallback, Fuse, Strip). Without merges
// (sentencepiece BPE) the merges are generated from the scores as transformers' converter
// does (generate_merges).
#include "tok_internal.h"

#include "lemma/util.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const LLAMA3_PATTERN =
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*"
    "|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
static const char *const QWEN2_PATTERN =
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*"
    "|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

__attribute__((format(printf, 3, 4))) static int spec_fail(char *err, size_t err_len, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, err_len, fmt, ap);
    va_end(ap);
    return -1;
}

static int spec_split(TokBpe *b, const char *pat, char *err, size_t err_len) {
    b->pre = lm_realloc(b->pre, (size_t)(b->n_pre + 1) * sizeof *b->pre);
    TokPre *p = &b->pre[b->n_pre++];
    memset(p, 0, sizeof *p);
    p->kind = PRE_SPLIT, p->behavior = SPLIT_ISOLATED, p->pat = lm_strdup(pat);
    return (p->re = tok_regex(pat, strlen(pat), err, err_len)) ? 0 : -1;
}

static void spec_norm(TokBpe *b, int kind, const char *a, const char *c) {
    b->norm = lm_realloc(b->norm, (size_t)(b->n_norm + 1) * sizeof *b->norm);
    TokNorm *n = &b->norm[b->n_norm++];
    memset(n, 0, sizeof *n);
    n->kind = kind;
    if (a) n->a = lm_strdup(a), n->alen = strlen(a);
    if (c) n->b = lm_strdup(c), n->blen = strlen(c);
}

static void spec_dec(TokBpe *b, int kind, const char *a, const char *c) {
    b->dec = lm_realloc(b->dec, (size_t)(b->n_dec + 1) * sizeof *b->dec);
    TokDec *d = &b->dec[b->n_dec++];
    memset(d, 0, sizeof *d);
    d->kind = kind;
    if (a) d->a = lm_strdup(a), d->alen = strlen(a);
    if (c) d->b = lm_strdup(c), d->blen = strlen(c);
    b->has_decoder = 1;
}

// The pipeline of a "gpt2" model by tokenizer.ggml.pre.
static int spec_pre(TokBpe *b, const char *pre, char *err, size_t err_len) {
    if (!pre || !strcmp(pre, "default") || !strcmp(pre, "gpt2") || !strcmp(pre, "gpt-2"))
        return tok_add_bytelevel(b, 0, 1, err, err_len);
    if (!strcmp(pre, "llama-bpe") || !strcmp(pre, "llama3") || !strcmp(pre, "llama-v3")) {
        b->ignore_merges = 1; // as LLaMA-3's tokenizer.json
        return spec_split(b, LLAMA3_PATTERN, err, err_len) || tok_add_bytelevel(b, 0, 0, err, err_len);
    }
    if (!strcmp(pre, "qwen2")) {
        spec_norm(b, NORM_NFC, NULL, NULL);
        return spec_split(b, QWEN2_PATTERN, err, err_len) || tok_add_bytelevel(b, 0, 0, err, err_len);
    }
    if (!strcmp(pre, "smollm"))
        return spec_split(b, "\\p{N}", err, err_len) || tok_add_bytelevel(b, 0, 1, err, err_len);
    return spec_fail(err, err_len, "tokenizer.ggml.pre '%s' is not supported (default, gpt2, llama-bpe, qwen2, smollm)",
                     pre);
}

// ---------------------------------------------------------------------------
// merges from scores (transformers' generate_merges): for every token, each split into two
// vocab tokens; ordered by the token's score (descending; without scores by id ascending),
// then the parts' lengths in characters (same direction), then token id, left id, right id.

typedef struct {
    float score;
    int m, l, r, ll, lr;
} GenMerge;

static int gen_desc; // qsort has no context argument: set while sorting (build is single-threaded)

static int gen_cmp(const void *pa, const void *pb) {
    const GenMerge *a = pa, *b = pb;
    int s = gen_desc ? -1 : 1;
    if (a->score != b->score) return a->score < b->score ? -s : s;
    if (a->ll != b->ll) return a->ll < b->ll ? -s : s;
    if (a->lr != b->lr) return a->lr < b->lr ? -s : s;
    if (a->m != b->m) return a->m < b->m ? -1 : 1;
    if (a->l != b->l) return a->l < b->l ? -1 : 1;
    return a->r < b->r ? -1 : a->r > b->r;
}

static int utf8_count(const char *s, size_t n) {
    int c = 0;
    for (size_t i = 0; i < n; i++) c += ((unsigned char)s[i] & 0xC0) != 0x80;
    return c;
}

static void spec_gen_merges(TokBpe *b, const TokSpec *s) {
    GenMerge *g = NULL;
    size_t n = 0, cap = 0;
    for (int m = 0; m < s->n_vocab; m++) {
        const char *t = s->tokens[m];
        size_t len = strlen(t);
        if (strmap_get(&b->model, t, len) != m) continue; // a duplicate string: HF keeps the last id
        for (size_t i = 1; i < len; i++) {
            if (((unsigned char)t[i] & 0xC0) == 0x80) continue; // split at character boundaries
            int l = strmap_get(&b->model, t, i), r = strmap_get(&b->model, t + i, len - i);
            if (l < 0 || r < 0) continue;
            if (n == cap) g = lm_realloc(g, (cap = cap ? 2 * cap : 4096) * sizeof *g);
            g[n++] = (GenMerge){s->scores ? s->scores[m] : (float)m, m, l, r, utf8_count(t, i),
                                utf8_count(t + i, len - i)};
        }
    }
    gen_desc = s->scores != NULL;
    qsort(g, n, sizeof *g, gen_cmp);
    for (size_t i = 0; i < n; i++) pairmap_put(&b->merges, g[i].l, g[i].r, (int)i, g[i].m);
    free(g);
}

static int spec_merges(TokBpe *b, const TokSpec *s, char *err, size_t err_len) {
    for (int i = 0; i < s->n_merges; i++) {
        const char *m = s->merges[i], *sp = m[0] ? strchr(m + 1, ' ') : NULL;
        if (!sp) return spec_fail(err, err_len, "tokenizer.ggml.merges[%d] '%s': expected \"a b\"", i, m);
        if (tok_bpe_add_merge(b, m, (size_t)(sp - m), sp + 1, strlen(sp + 1), i))
            return spec_fail(err, err_len, "tokenizer.ggml.merges[%d] '%s': a part or the merged token is not a token",
                             i, m);
    }
    if (s->n_merges == 0 && s->spm) spec_gen_merges(b, s);
    return 0;
}

static int spec_build(TokBpe *b, const TokSpec *s, char *err, size_t err_len) {
    if (s->n_vocab <= 0 || !s->tokens) return spec_fail(err, err_len, "tokenizer spec: no tokens");
    for (int i = 0; i < s->n_vocab; i++) {
        if (!s->tokens[i]) return spec_fail(err, err_len, "tokenizer.ggml.tokens[%d] is missing", i);
        tok_bpe_set_vocab(b, i, s->tokens[i], strlen(s->tokens[i]));
    }
    for (int i = 0; i < s->n_vocab; i++) {
        int ty = s->types ? s->types[i] : 1;
        if (ty == 2 || ty == 3 || ty == 4)
            tok_bpe_add_token(b, s->tokens[i], strlen(s->tokens[i]), i, ty != 4, 0, 0, 0);
    }
    if (s->spm) {
        spec_norm(b, NORM_PREPEND, "\xE2\x96\x81", NULL);
        spec_norm(b, NORM_REPLACE, " ", "\xE2\x96\x81");
        b->byte_fallback = 1, b->fuse_unk = 1;
        b->unk = s->unk >= 0 && s->unk < s->n_vocab ? s->unk : -1;
        spec_dec(b, DEC_REPLACE, "\xE2\x96\x81", " ");
        spec_dec(b, DEC_BYTEFALLBACK, NULL, NULL);
        spec_dec(b, DEC_FUSE, NULL, NULL);
        spec_dec(b, DEC_STRIP, " ", NULL);
        b->dec[b->n_dec - 1].start = 1;
    } else {
        if (spec_pre(b, s->pre, err, err_len)) return -1;
        spec_dec(b, DEC_BYTELEVEL, NULL, NULL);
        // A byte the vocab lacks: the unknown token when there is one (transformers' GGUF
        // loading of llama-architecture models with a gpt2 tokenizer: unk, fused, byte
        // fallback), else dropped (its GPT-2 loading: no unknown token).
        if (s->unk >= 0 && s->unk < s->n_vocab) b->unk = s->unk, b->fuse_unk = 1, b->byte_fallback = 1;
    }
    if (tok_bpe_finish(b, err, err_len)) return -1;
    return spec_merges(b, s, err, err_len);
}

int tokenizer_from_spec(Tokenizer *t, const TokSpec *s, char *err, size_t err_len) {
    memset(t, 0, sizeof *t);
    TokBpe *b = tok_bpe_new();
    if (spec_build(b, s, err, err_len)) {
        tok_bpe_free(b);
        t->bos = t->eos = t->pad = t->unk = -1;
        return -1;
    }
    tok_bpe_init_tokenizer(t, b);
    int ok = s->n_vocab;
    t->bos = s->bos < ok ? s->bos : -1, t->eos = s->eos < ok ? s->eos : -1, t->pad = s->pad < ok ? s->pad : -1;
    t->add_bos = s->add_bos, t->add_eos = s->add_eos;
    return 0;
}

// ---------------------------------------------------------------------------
// The other way: a tokenizer.json's BPE tokenizer as GGUF metadata (for export). GGUF names
// a byte-level tokenizer's pipeline by tokenizer.ggml.pre, so only the pipelines above (the
// ones spec_pre builds) can be written; SentencePiece ones get scores from the merge ranks
// (a merged token scores minus the rank of its first merge), which is the order that
// transformers' generate_merges and llama.cpp's score-driven merging follow.

// The GGUF pre name of b's byte-level pipeline, or NULL when it is none of spec_pre's.
static const char *spec_pre_name(const TokBpe *b) {
    const TokPre *p = b->pre;
    int bl_last = b->n_pre > 0 && p[b->n_pre - 1].kind == PRE_BYTELEVEL && !p[b->n_pre - 1].prefix_space;
    int nfc = b->n_norm == 1 && b->norm[0].kind == NORM_NFC;
    if (!bl_last || (b->n_norm && !nfc)) return NULL;
    if (b->n_pre == 1 && p[0].re && !nfc) return "gpt-2";
    if (b->n_pre != 2 || p[0].kind != PRE_SPLIT || !p[0].pat || p[0].behavior != SPLIT_ISOLATED) return NULL;
    if (!strcmp(p[0].pat, LLAMA3_PATTERN) && !p[1].re && !nfc) return "llama-bpe";
    if (!strcmp(p[0].pat, QWEN2_PATTERN) && !p[1].re && nfc) return "qwen2";
    if (!strcmp(p[0].pat, "\\p{N}") && p[1].re && !nfc) return "smollm";
    return NULL;
}

static int spec_is_byte_token(const char *s) {
    return strlen(s) == 6 && !strncmp(s, "<0x", 3) && s[5] == '>';
}

// Merges in rank order as "a b" strings; for SentencePiece, scores from the ranks.
static void spec_out_merges(const TokBpe *b, TokSpecBuf *o) {
    const PairMap *pm = &b->merges;
    o->merges = lm_malloc(((size_t)pm->n + 1) * sizeof *o->merges);
    int n = 0;
    for (uint32_t i = 0; i < pm->cap; i++) {
        const PairSlot *s = &pm->slot[i];
        if (s->key == UINT64_MAX || s->rank < 0 || s->rank >= (int)pm->n) continue;
        int l = (int)(s->key >> 32), r = (int)(uint32_t)s->key;
        size_t len = strlen(b->str[l]) + strlen(b->str[r]) + 2;
        char *m = lm_malloc(len);
        snprintf(m, len, "%s %s", b->str[l], b->str[r]);
        o->merges[s->rank] = m, n++;
        if (o->scores && s->id >= 0 && s->id < b->n_ids && -(float)s->rank > o->scores[s->id])
            o->scores[s->id] = -(float)s->rank; // its first (lowest-ranked) merge
    }
    o->spec.n_merges = n;
}

int tokenizer_to_spec(const Tokenizer *t, int n_vocab, TokSpecBuf *o, char *err, size_t err_len) {
    memset(o, 0, sizeof *o);
    const TokBpe *b = t->bpe;
    if (t->kind != TOK_BPE || !b)
        return spec_fail(err, err_len, "the byte tokenizer of built-in models has no GGUF form");
    const char *pre = b->byte_level ? spec_pre_name(b) : NULL;
    if (b->byte_level && !pre)
        return spec_fail(err, err_len, "its pre-tokenizer is none that GGUF's tokenizer.ggml.pre names "
                         "(the GPT-2, LLaMA-3, Qwen2 and SmolLM2 ones)");
    if (!b->byte_level && !b->byte_fallback)
        return spec_fail(err, err_len, "a SentencePiece tokenizer without byte fallback has no GGUF form");
    if (n_vocab < b->n_ids)
        return spec_fail(err, err_len, "the tokenizer has %d ids, the model's vocabulary only %d", b->n_ids, n_vocab);
    int n = n_vocab; // GGUF lists one token per embedding row: padding rows as [PADi], unused
    o->tokens = lm_malloc((size_t)n * sizeof *o->tokens);
    o->types = lm_malloc((size_t)n * sizeof *o->types);
    if (!b->byte_level) {
        o->scores = lm_malloc((size_t)n * sizeof *o->scores);
        for (int i = 0; i < n; i++) o->scores[i] = -1e9f;
    }
    for (int i = 0; i < n; i++) {
        char hole[32];
        snprintf(hole, sizeof hole, "[PAD%d]", i);
        const char *s = i < b->n_ids ? b->str[i] : NULL;
        o->tokens[i] = lm_strdup(s ? s : hole);
        o->types[i] = !s ? 5 : i == b->unk ? 2 : !b->byte_level && spec_is_byte_token(s) ? 6 : 1;
    }
    for (int i = 0; i < b->n_added; i++)
        if (b->added[i].id != b->unk) o->types[b->added[i].id] = b->added[i].special ? 3 : 4;
    spec_out_merges(b, o);
    snprintf(o->pre, sizeof o->pre, "%s", pre ? pre : "default");
    o->spec = (TokSpec){.spm = !b->byte_level, .n_vocab = n, .tokens = (const char *const *)o->tokens,
                        .scores = o->scores, .types = o->types, .n_merges = o->spec.n_merges,
                        .merges = (const char *const *)o->merges, .pre = o->pre, .bos = t->bos,
                        .eos = t->eos, .unk = b->unk, .pad = t->pad, .add_bos = t->add_bos,
                        .add_eos = t->add_eos};
    return 0;
}

void tokspec_buf_free(TokSpecBuf *o) {
    for (int i = 0; o->tokens && i < o->spec.n_vocab; i++) free(o->tokens[i]);
    for (int i = 0; o->merges && i < o->spec.n_merges; i++) free(o->merges[i]);
    free(o->tokens), free(o->merges), free(o->scores), free(o->types);
    memset(o, 0, sizeof *o);
}
