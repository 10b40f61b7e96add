// tok/tok_internal.h: the BPE tokenizer's state, shared by the files of src/tok/ (not a
// public header). The pipeline is HF `tokenizers`' own: added tokens split out of the raw
// text, the rest normalised (norm[]), added tokens with normalized=true split out of that,
// pre-tokenised (pre[]) into words, each word BPE'd; decode runs dec[] over token strings.
#ifndef LEMMA_TOK_INTERNAL_H
#define LEMMA_TOK_INTERNAL_H

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "lemma/tokenizer.h"

// A growable byte buffer.
typedef struct {
    char *p;
    size_t n, cap;
} TokBuf;
void tokbuf_reserve(TokBuf *b, size_t n);
void tokbuf_put(TokBuf *b, const void *s, size_t n);
void tokbuf_free(TokBuf *b);

// StrMap: byte string -> int, open addressing with linear probing; keys are copied into an
// arena. Invariant: cap is a power of two and n <= cap / 2.
typedef struct {
    uint64_t off;  // key offset in arena
    uint32_t len;  // key length
    uint32_t h;    // hash (upper half of the 64-bit one); 0 with val -1: empty slot
    int32_t val;   // -1: empty
} StrSlot;
typedef struct {
    StrSlot *slot;
    uint32_t cap, n;
    TokBuf arena;
} StrMap;
uint64_t tok_hash(const void *s, size_t n);
void strmap_init(StrMap *m, uint32_t expect);
void strmap_free(StrMap *m);
// Sets key -> val (an existing key is overwritten, as a Rust HashMap insert).
void strmap_put(StrMap *m, const char *s, size_t n, int val);
int strmap_get(const StrMap *m, const char *s, size_t n);        // -1: absent
int strmap_get_h(const StrMap *m, const char *s, size_t n, uint64_t h);

// PairMap: (left id, right id) -> (merge rank, merged id). Same layout rules as StrMap.
typedef struct {
    uint64_t key;  // left << 32 | right; UINT64_MAX: empty
    int32_t rank, id;
} PairSlot;
typedef struct {
    PairSlot *slot;
    uint32_t cap, n;
} PairMap;
void pairmap_init(PairMap *m, uint32_t expect);
void pairmap_free(PairMap *m);
void pairmap_put(PairMap *m, int l, int r, int rank, int id);  // a later put overwrites
static inline const PairSlot *pairmap_get(const PairMap *m, int l, int r) {
    uint64_t k = (uint64_t)(uint32_t)l << 32 | (uint32_t)r;
    uint32_t i = (uint32_t)((k * 0x9E3779B97F4A7C15ull) >> 32) & (m->cap - 1);
    for (;; i = (i + 1) & (m->cap - 1)) {
        const PairSlot *s = &m->slot[i];
        if (s->key == k) return s;
        if (s->key == UINT64_MAX) return NULL;
    }
}

// Normaliser steps (a Sequence flattened).
enum { NORM_NFC, NORM_NFD, NORM_NFKC, NORM_NFKD, NORM_PREPEND, NORM_REPLACE };
typedef struct {
    int kind;
    char *a, *b;        // PREPEND: a; REPLACE: pattern a (String) or re, content b
    size_t alen, blen;
    pcre2_code *re;     // REPLACE with a Regex pattern
} TokNorm;

// Pre-tokeniser steps (a Sequence flattened). Digits is a SPLIT on \p{N} / \p{N}+.
enum { PRE_SPLIT, PRE_BYTELEVEL, PRE_METASPACE };
enum { SPLIT_ISOLATED, SPLIT_REMOVED };
enum { PREPEND_ALWAYS, PREPEND_FIRST, PREPEND_NEVER };
typedef struct {
    int kind;
    pcre2_code *re;      // SPLIT; BYTELEVEL with use_regex (the GPT-2 pattern); else NULL
    char *pat;           // SPLIT: the source of re (what GGUF's tokenizer.ggml.pre is told by)
    char *lit;           // SPLIT on a String pattern (then re is NULL)
    size_t lit_len;
    int behavior;        // SPLIT: SPLIT_*
    int prefix_space;    // BYTELEVEL: add_prefix_space
    char rep[8];         // METASPACE: the replacement character, UTF-8
    int rep_len, scheme, split;
} TokPre;

// Decoder steps (a Sequence flattened).
enum { DEC_BYTELEVEL, DEC_REPLACE, DEC_BYTEFALLBACK, DEC_FUSE, DEC_STRIP, DEC_METASPACE };
typedef struct {
    int kind;
    char *a, *b;         // REPLACE: pattern a -> content b; STRIP: content char a
    size_t alen, blen;
    int start, stop;     // STRIP: how many leading / trailing content chars at most
    int scheme;          // METASPACE: PREPEND_* (first token loses its replacement chars)
} TokDec;

// An added token: content matched in the text before normalisation (normalized = 0) or in
// the normalised text (then match is the normalised content).
typedef struct {
    char *content, *match;
    size_t len, match_len;
    int id;
    unsigned char special, normalized, lstrip, rstrip;
} TokAdded;

// A byte trie over added-token match strings: node 0 is the root.
typedef struct {
    int32_t *child;   // [n_nodes] first child node, -1 none
    int32_t *sib;     // [n_nodes] next sibling, -1 none
    int32_t *tok;     // [n_nodes] index in added[] of the token ending here, -1 none
    unsigned char *c; // [n_nodes] the byte leading to this node
    int n_nodes, cap;
    unsigned char first[256]; // first[b]: some token starts with byte b
} TokTrie;

typedef struct TokThread TokThread;

struct TokBpe {
    int n_ids;                   // ids are 0..n_ids-1
    char **str;                  // [n_ids] the HF string of each id (added content wins); NULL: hole
    uint32_t *slen;
    unsigned char *special;      // [n_ids] 1: decode(skip_special_tokens) drops it
    char **piece;                // [n_ids] tokenizer_piece_bytes (NUL-terminated)
    uint32_t *piece_len;
    size_t max_piece;
    StrMap model;                // model vocab: HF string -> id
    StrMap bytes;                // byte_level: model vocab as raw bytes -> id (what words are)
    const StrMap *sym;           // the map words are looked up in (&bytes or &model)
    PairMap merges;
    int byte_level;              // the pre-tokeniser has ByteLevel: words are raw bytes
    int byte_sym[256];           // byte_level: id of each one-byte symbol, -1 none
    int byte_fb[256];            // id of "<0xXX>", -1 none
    int byte_fallback, fuse_unk, ignore_merges, unk;
    TokNorm *norm;
    int n_norm;
    TokPre *pre;
    int n_pre;
    TokDec *dec;
    int n_dec, has_decoder;      // no decoder: tokens joined with " " (HF)
    TokAdded *added;
    int n_added;
    StrMap added_map;            // added content -> id
    TokTrie trie_raw, trie_norm;
    // Per-thread scratch and word cache (tok_bpe.c), freed with the tokenizer.
    pthread_key_t key;
    int key_ok;                  // key and mu exist (tok_bpe_finish ran)
    pthread_mutex_t mu;
    TokThread **threads;
    int n_threads, cap_threads;
};

// The GPT-2 byte <-> unicode map: byte b is code point tok_byte_cp(b); tok_cp_byte(cp) is
// the byte of code point cp, -1 when cp is not in the map.
int tok_byte_cp(int b);
int tok_cp_byte(int cp);
// UTF-8: the length of the valid sequence at s (1..4), 0 when invalid; tok_utf8_put
// writes cp, returns its length.
int tok_utf8_len(const unsigned char *s, size_t n, uint32_t *cp);
int tok_utf8_put(char *out, uint32_t cp);
// Copies s as String::from_utf8_lossy does (U+FFFD for each maximal invalid subpart).
void tok_utf8_lossy(TokBuf *out, const char *s, size_t n);
int tok_is_whitespace(uint32_t cp); // Rust's char::is_whitespace (White_Space)

// Building (tok_bpe.c): an empty state, ids, merges, added tokens, then tok_bpe_finish.
TokBpe *tok_bpe_new(void);
void tok_bpe_free(TokBpe *b);
// Sets the model vocab entry id = s (an HF string; byte-level strings are decoded when
// the state is finished). All of the vocab is set before the added tokens (whose content
// then is the string of their id, as HF's id_to_token).
void tok_bpe_set_vocab(TokBpe *b, int id, const char *s, size_t n);
void tok_bpe_add_token(TokBpe *b, const char *s, size_t n, int id, int special, int normalized,
                       int lstrip, int rstrip);
// Compiles an HF (Oniguruma) pattern for PCRE2 with UTF, UCP and JIT; NULL with err set.
pcre2_code *tok_regex(const char *pat, size_t n, char *err, size_t err_len);
// After the vocab, added tokens, normalisers, pre-tokenisers and decoders are set: builds
// the maps and pieces. Merges are added after it (tok_bpe_add_merge). 0 or -1 with err.
int tok_bpe_finish(TokBpe *b, char *err, size_t err_len);
// Adds merge "a b" (HF strings) of the given rank; -1 when a part or the result is not in the
// vocab (HF refuses such a file).
int tok_bpe_add_merge(TokBpe *b, const char *a, size_t an, const char *bb, size_t bn, int rank);

// A ByteLevel pre-tokeniser step (use_regex: the GPT-2 pattern), for tok_json.c/tok_spec.c.
int tok_add_bytelevel(TokBpe *b, int prefix_space, int use_regex, char *err, size_t err_len);
// Makes t a BPE tokenizer over the finished state b (kind, vocab, unk; bos/eos/pad -1,
// add_bos/add_eos 0).
void tok_bpe_init_tokenizer(Tokenizer *t, TokBpe *b);

// Encoding (tok_encode.c) and decoding (tok_decode.c).
int tok_bpe_encode(const TokBpe *b, const char *text, int *ids, int cap);
char *tok_bpe_decode(const TokBpe *b, const int *ids, int n, int skip_special);
void tok_bpe_make_pieces(TokBpe *b);
// The normaliser run on s (used for added tokens with normalized=true too).
void tok_normalize(const TokBpe *b, const char *s, size_t n, TokBuf *out);

// Per-thread state (tok_bpe.c).
TokThread *tok_thread(const TokBpe *b);
void tok_thread_free(TokThread *th);
// The ids of one pre-tokenised word (cached per thread); returns their count, *out valid
// until the next call on this thread.
int tok_bpe_word(const TokBpe *b, TokThread *th, const char *w, size_t n, const int **out);
pcre2_match_data *tok_thread_md(TokThread *th);
pcre2_match_context *tok_thread_mctx(TokThread *th);
TokBuf *tok_thread_buf(TokThread *th, int i); // scratch buffers 0..TOK_NBUF-1
#define TOK_NBUF 12

#endif
