// tok/tokenizer: the tokenizer API. The byte-level tokenizer lives here: ids 0..255 are
// bytes, then bos, eos, pad, then the configured special tokens whose literal text (e.g.
// "[BACK]") encodes to one id. BPE tokenizers (tok_json.c, tok_spec.c) are passed on to
// tok_encode.c / tok_decode.c.
#include "lemma/tokenizer.h"
#include "lemma/util.h"
#include "tok_internal.h"

#include <stdlib.h>
#include <string.h>

void tokenizer_init(Tokenizer *t, char *const *special, int n_special) {
    memset(t, 0, sizeof *t);
    LM_CHECK(n_special <= TOK_MAX_SPECIAL, "at most %d special tokens (got %d)", TOK_MAX_SPECIAL,
             n_special);
    t->bos = 256, t->eos = 257, t->pad = 258;
    for (int i = 0; i < n_special; i++) {
        LM_CHECK(special[i][0] != 0, "an empty special token is not allowed");
        t->special[i] = lm_strdup(special[i]);
    }
    t->n_special = n_special;
    t->vocab = 259 + n_special;
    t->kind = TOK_BYTE, t->add_bos = 1, t->unk = -1;
    chat_plain(&t->chat);
}

void tokenizer_from_config(Tokenizer *t, const Config *cfg) {
    int n = cfg_list_len(cfg, "model.special_tokens");
    char *items[TOK_MAX_SPECIAL];
    LM_CHECK(n <= TOK_MAX_SPECIAL, "%s: model.special_tokens has %d entries, at most %d allowed",
             cfg->path, n, TOK_MAX_SPECIAL);
    for (int i = 0; i < n; i++) items[i] = (char *)cfg_list_item(cfg, "model.special_tokens", i);
    tokenizer_init(t, items, n);
}

void tok_bpe_init_tokenizer(Tokenizer *t, TokBpe *b) {
    memset(t, 0, sizeof *t);
    t->kind = TOK_BPE, t->bpe = b;
    t->bos = t->eos = t->pad = -1;
    t->unk = b->unk;
    t->vocab = b->n_ids;
    chat_plain(&t->chat);
}

void tokenizer_set_special_ids(Tokenizer *t, int bos, int eos, int pad) {
    t->bos = bos, t->eos = eos, t->pad = pad;
}

void tokenizer_free(Tokenizer *t) {
    for (int i = 0; i < t->n_special; i++) free(t->special[i]);
    tok_bpe_free(t->bpe);
    chat_free(&t->chat);
    memset(t, 0, sizeof *t);
}

// The special token whose text starts at s (longest match), or -1.
static int tokenizer_match_special(const Tokenizer *t, const char *s, size_t *len) {
    int best = -1;
    size_t best_len = 0;
    for (int i = 0; i < t->n_special; i++) {
        size_t n = strlen(t->special[i]);
        if (n > best_len && strncmp(s, t->special[i], n) == 0) best = i, best_len = n;
    }
    *len = best_len;
    return best < 0 ? -1 : 259 + best;
}

int tokenizer_encode(const Tokenizer *t, const char *text, int *ids, int cap, int *needed) {
    int n = 0;
    if (t->kind == TOK_BPE) {
        n = tok_bpe_encode(t->bpe, text, ids, cap);
    } else {
        for (const char *p = text; *p;) {
            size_t len;
            int id = tokenizer_match_special(t, p, &len);
            if (id < 0) id = (unsigned char)*p, len = 1;
            if (n < cap) ids[n] = id;
            n++;
            p += len;
        }
    }
    if (needed) *needed = n;
    return n < cap ? n : cap;
}

const char *tokenizer_piece_bytes(const Tokenizer *t, int id, size_t *len) {
    if (t->kind == TOK_BPE) {
        const TokBpe *b = t->bpe;
        if (id < 0 || id >= b->n_ids) return *len = 0, "";
        *len = b->piece_len[id];
        return b->piece[id];
    }
    static const char bytes[256][2] = {
#define B1(i) {(char)(i), 0}
#define B4(i) B1(i), B1(i + 1), B1(i + 2), B1(i + 3)
#define B16(i) B4(i), B4(i + 4), B4(i + 8), B4(i + 12)
#define B64(i) B16(i), B16(i + 16), B16(i + 32), B16(i + 48)
        B64(0), B64(64), B64(128), B64(192)};
    if (id >= 0 && id < 256) return *len = 1, bytes[id];
    if (id >= 259 && id < t->vocab) return *len = strlen(t->special[id - 259]), t->special[id - 259];
    return *len = 0, ""; // bos, eos, pad
}

const char *tokenizer_piece(const Tokenizer *t, int id, char byte_buf[2]) {
    if (t->kind == TOK_BPE) {
        size_t len;
        return tokenizer_piece_bytes(t, id, &len);
    }
    if (id >= 0 && id < 256) {
        byte_buf[0] = (char)id, byte_buf[1] = 0;
        return byte_buf;
    }
    if (id >= 259 && id < t->vocab) return t->special[id - 259];
    return ""; // bos, eos, pad
}

size_t tokenizer_max_piece(const Tokenizer *t) {
    if (t->kind == TOK_BPE) return t->bpe->max_piece;
    size_t m = 1;
    for (int i = 0; i < t->n_special; i++)
        if (strlen(t->special[i]) > m) m = strlen(t->special[i]);
    return m;
}

char *tokenizer_decode(const Tokenizer *t, const int *ids, int n) {
    if (t->kind == TOK_BPE) return tok_bpe_decode(t->bpe, ids, n, 1);
    size_t cap = (size_t)n + 16, len = 0;
    char *out = lm_malloc(cap);
    for (int i = 0; i < n; i++) {
        size_t pl;
        const char *piece = tokenizer_piece_bytes(t, ids[i], &pl);
        if (len + pl + 1 > cap) out = lm_realloc(out, cap = 2 * (len + pl + 1));
        memcpy(out + len, piece, pl);
        len += pl;
    }
    out[len] = 0;
    return out;
}

char *tokenizer_decode_all(const Tokenizer *t, const int *ids, int n) {
    if (t->kind == TOK_BPE) return tok_bpe_decode(t->bpe, ids, n, 0);
    return tokenizer_decode(t, ids, n);
}

int tokenizer_token_id(const Tokenizer *t, const char *content) {
    size_t n = strlen(content);
    if (t->kind == TOK_BPE) {
        int id = strmap_get(&t->bpe->added_map, content, n);
        return id >= 0 ? id : strmap_get(&t->bpe->model, content, n);
    }
    for (int i = 0; i < t->n_special; i++)
        if (strcmp(t->special[i], content) == 0) return 259 + i;
    return -1;
}
