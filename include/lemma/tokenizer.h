// tokenizer: text to token ids and back. The byte-level tokenizer of the built-in models
// (ids 0..255 are bytes, then bos, eos, pad, then the configured special tokens). Tasks may
// use this module; it knows no model and no backend.
#ifndef LEMMA_TOKENIZER_H
#define LEMMA_TOKENIZER_H

#include "lemma/config.h"

#ifdef __cplusplus
extern "C" {
#endif

// Tokenizer: ids 0..255 are bytes, then bos, eos, pad, then the extra special tokens
// (model.special_tokens, e.g. "[BACK]"), whose literal text is recognised when encoding.

#define TOK_MAX_SPECIAL 32
typedef struct {
    int bos, eos, pad;
    int n_special;                       // extra special tokens
    char *special[TOK_MAX_SPECIAL];      // their text
    int vocab;                           // 259 + n_special
} Tokenizer;

void tokenizer_init(Tokenizer *t, char *const *special, int n_special);
void tokenizer_from_config(Tokenizer *t, const Config *cfg);
void tokenizer_free(Tokenizer *t);
// Encodes text into ids (no bos/eos added); returns the count written (at most cap; the
// full length is returned in *needed when not NULL).
int tokenizer_encode(const Tokenizer *t, const char *text, int *ids, int cap, int *needed);
// Decodes ids (special tokens as their text, bos/eos/pad dropped) into a malloc'd string.
char *tokenizer_decode(const Tokenizer *t, const int *ids, int n);
const char *tokenizer_piece(const Tokenizer *t, int id, char byte_buf[2]);

#ifdef __cplusplus
}
#endif
#endif
