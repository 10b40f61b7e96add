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

// A tokenizer as GGUF metadata describes it (tokenizer.ggml.*); pointers belong to the caller.
typedef struct {
    int spm;                    // 1: "llama" (SentencePiece BPE), 0: "gpt2" (byte-level BPE)
    int n_vocab;
    const char *const *tokens;  // n_vocab token strings as stored
    const float *scores;        // n_vocab or NULL
    const int *types;           // n_vocab GGUF token types or NULL: 1 normal, 2 unknown,
                                // 3 control, 4 user-defined, 5 unused, 6 byte
    int n_merges;
    const char *const *merges;  // "a b"; none for spm: merge priority from the scores
    const char *pre;            // tokenizer.ggml.pre ("default", "llama-bpe", "qwen2", "smollm")
    int bos, eos, unk, pad;     // -1: none
    int add_bos, add_eos;
} TokSpec;
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
