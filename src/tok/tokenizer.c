// tok/tokenizer: the byte-level tokenizer. Ids 0..255 are bytes, then bos, eos, pad, then
// the configured special tokens whose literal text (e.g. "[BACK]") encodes to one id.
#include "lemma/tokenizer.h"
#include "lemma/util.h"

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
}

void tokenizer_from_config(Tokenizer *t, const Config *cfg) {
    int n = cfg_list_len(cfg, "model.special_tokens");
    char *items[TOK_MAX_SPECIAL];
    LM_CHECK(n <= TOK_MAX_SPECIAL, "%s: model.special_tokens has %d entries, at most %d allowed",
             cfg->path, n, TOK_MAX_SPECIAL);
    for (int i = 0; i < n; i++) items[i] = (char *)cfg_list_item(cfg, "model.special_tokens", i);
    tokenizer_init(t, items, n);
}

void tokenizer_free(Tokenizer *t) {
    for (int i = 0; i < t->n_special; i++) free(t->special[i]);
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
    for (const char *p = text; *p;) {
        size_t len;
        int id = tokenizer_match_special(t, p, &len);
        if (id < 0) id = (unsigned char)*p, len = 1;
        if (n < cap) ids[n] = id;
        n++;
        p += len;
    }
    if (needed) *needed = n;
    return n < cap ? n : cap;
}

const char *tokenizer_piece(const Tokenizer *t, int id, char byte_buf[2]) {
    if (id >= 0 && id < 256) {
        byte_buf[0] = (char)id, byte_buf[1] = 0;
        return byte_buf;
    }
    if (id >= 259 && id < t->vocab) return t->special[id - 259];
    return ""; // bos, eos, pad
}

char *tokenizer_decode(const Tokenizer *t, const int *ids, int n) {
    size_t cap = (size_t)n + 16, len = 0;
    char *out = lm_malloc(cap);
    char b[2];
    for (int i = 0; i < n; i++) {
        const char *piece = tokenizer_piece(t, ids[i], b);
        size_t pl = ids[i] >= 0 && ids[i] < 256 ? 1 : strlen(piece);
        if (len + pl + 1 > cap) out = lm_realloc(out, cap = 2 * (len + pl + 1));
        memcpy(out + len, piece, pl);
        len += pl;
    }
    out[len] = 0;
    return out;
}
