// tokenizer: text to token ids and back. Two kinds: the byte-level tokenizer of the built-in
// models (ids 0..255 are bytes, then bos, eos, pad, then the configured special tokens), and
// BPE tokenizers of real models, loaded from a Hugging Face tokenizer.json or built from
// GGUF-style metadata, that encode and decode exactly like HF `tokenizers`. Tasks may use
// this module; it knows no model and no backend.
#ifndef LEMMA_TOKENIZER_H
#define LEMMA_TOKENIZER_H

#include <stddef.h>

#include "lemma/chat.h"
#include "lemma/config.h"

#ifdef __cplusplus
extern "C" {
#endif

// The byte tokenizer: ids 0..255 are bytes, then bos, eos, pad, then the extra special tokens
// (model.special_tokens, e.g. "[BACK]"), whose literal text is recognised when encoding.
// A BPE tokenizer: n_special is 0 and special[] unused; its state is behind bpe.

#define TOK_MAX_SPECIAL 32
#define TOK_MAX_STOP 8
enum { TOK_BYTE = 0, TOK_BPE = 1 };
typedef struct TokBpe TokBpe; // opaque (src/tok/tok_internal.h)

typedef struct {
    int bos, eos, pad;                   // -1 when the tokenizer has none
    int n_special;                       // extra special tokens (byte tokenizer)
    char *special[TOK_MAX_SPECIAL];      // their text
    int vocab;                           // byte: 259 + n_special; BPE: largest id + 1
    int kind;                            // TOK_BYTE or TOK_BPE
    int add_bos, add_eos;                // callers prepend bos / append eos (encode never does)
    int unk;                             // BPE: the unknown token, -1 none
    TokBpe *bpe;                         // BPE state; NULL for the byte tokenizer
    ChatTemplate chat;                   // how a prompt is written (plain unless set)
    int n_stop, stop[TOK_MAX_STOP];      // ids that end a response besides eos
} Tokenizer;

// GGUF-style tokenizer metadata (tokenizer.ggml.*), filled by a GGUF reader. Arrays are
// borrowed for the call only.
typedef struct {
    int spm;                    // 0: "gpt2" byte-level BPE, 1: "llama" SentencePiece BPE
    int n_vocab;
    const char *const *tokens;  // [n_vocab] as GGUF stores them (byte-level / "▁" strings)
    const float *scores;        // [n_vocab] or NULL
    const int *types;           // [n_vocab] or NULL: 1 normal 2 unknown 3 control
                                // 4 user-defined 5 unused 6 byte
    int n_merges;
    const char *const *merges;  // [n_merges] "a b"; spm may have none: merge priority then
                                // follows the merged token's score, as sentencepiece BPE
    const char *pre;            // tokenizer.ggml.pre: "default"/"gpt2", "llama-bpe"/"llama3",
                                // "qwen2", "smollm" (NULL: "default"); others are refused
    int bos, eos, unk, pad;     // -1 none
    int add_bos, add_eos;
} TokSpec;

// A BPE tokenizer as GGUF metadata (tok/tok_spec.c, for export): spec points into the
// arrays, which the buffer owns.
typedef struct {
    TokSpec spec;
    char **tokens, **merges;
    float *scores;
    int *types;
    char pre[16];
} TokSpecBuf;
// n_vocab: the model's embedding rows (>= the tokenizer's ids; the rows beyond are listed as
// unused "[PADi]" tokens, as llama.cpp's converter does). 0, or -1 with err when the tokenizer
// has no GGUF form (the byte tokenizer; a pre-tokenizer that tokenizer.ggml.pre cannot name).
// tokenizer_from_spec of it encodes as t does.
int tokenizer_to_spec(const Tokenizer *t, int n_vocab, TokSpecBuf *o, char *err, size_t err_len);
void tokspec_buf_free(TokSpecBuf *o);

void tokenizer_init(Tokenizer *t, char *const *special, int n_special);
void tokenizer_from_config(Tokenizer *t, const Config *cfg);
// Loads a Hugging Face tokenizer.json (model BPE; see docs/models.md for what is supported).
// Returns 0, or -1 with a message naming the file and the key in err (t is then empty).
int tokenizer_load_json(Tokenizer *t, const char *path, char *err, size_t err_len);
// Builds a BPE tokenizer from GGUF-style metadata; 0, or -1 with a message in err.
// Control (3), unknown (2) and user-defined (4) tokens become added tokens, matched in the
// text before anything else (control and unknown ones are special: decode drops them).
int tokenizer_from_spec(Tokenizer *t, const TokSpec *s, char *err, size_t err_len);
void tokenizer_set_special_ids(Tokenizer *t, int bos, int eos, int pad);
void tokenizer_free(Tokenizer *t);

// Encodes text into ids (no bos/eos added; for BPE exactly HF's
// Tokenizer.encode(text, add_special_tokens=False), invalid UTF-8 read as HF reads
// String::from_utf8_lossy of it); returns the count written (at most cap; the full length
// is returned in *needed when not NULL). Safe to call from several threads on one tokenizer.
int tokenizer_encode(const Tokenizer *t, const char *text, int *ids, int cap, int *needed);
// Decodes ids into a malloc'd string. Byte tokenizer: special tokens as their text,
// bos/eos/pad dropped. BPE: HF decode(ids, skip_special_tokens=True).
char *tokenizer_decode(const Tokenizer *t, const int *ids, int n);
// BPE: HF decode(ids, skip_special_tokens=False); byte tokenizer: bos/eos/pad as "".
char *tokenizer_decode_all(const Tokenizer *t, const int *ids, int n);
// The text of one token as NUL-terminated string (byte tokenizer: byte_buf holds a byte id;
// BPE: tokenizer_piece_bytes, cut at a NUL byte if the piece has one).
const char *tokenizer_piece(const Tokenizer *t, int id, char byte_buf[2]);
// The exact bytes token id adds when appended in the middle of a text (*len of them; the
// pointer stays valid while t lives). Byte-level BPE: the GPT-2 byte map reversed;
// SentencePiece: "▁" as a space, <0xAB> as that byte; special tokens (those decode drops):
// "". For any ids, decode(ids) equals the concatenation of the pieces, except that HF's
// decoders strip the space of a leading "▁" at the very start of a text (Strip/Metaspace),
// and that decode replaces invalid UTF-8 by U+FFFD where the pieces keep the raw bytes.
const char *tokenizer_piece_bytes(const Tokenizer *t, int id, size_t *len);
// The longest piece in bytes (sizing stream buffers).
size_t tokenizer_max_piece(const Tokenizer *t);
// The id of the token whose vocabulary or added-token string is exactly content (added
// tokens first, as HF's token_to_id), or -1. Byte tokenizer: the configured special tokens
// only.
int tokenizer_token_id(const Tokenizer *t, const char *content);

// Prompts and responses (tok/prompt.c). The ids a model reads before its answer to `user`:
// the chat template's text (which writes the family's own bos, e.g. "<|begin_of_text|>"),
// or for the plain template the text with bos first when the tokenizer adds one (the byte
// tokenizer always does). malloc'd, *n ids, room for `extra` more after them.
int *tokenizer_prompt(const Tokenizer *t, const char *user, int extra, int *n);
// The id written after a training response: the chat template's end token ("<|im_end|>",
// "<|eot_id|>", "</s>") when the vocabulary has it, else eos.
int tokenizer_end_id(const Tokenizer *t);
// Whether id ends a response: eos, the chat template's end token, or an added stop id.
int tokenizer_is_stop(const Tokenizer *t, int id);
void tokenizer_add_stop(Tokenizer *t, int id); // ignores -1 and ids already stops
// Installs chat template c (t takes it over; the old one is freed) and its end token as a
// stop id.
void tokenizer_set_chat(Tokenizer *t, ChatTemplate *c);

#ifdef __cplusplus
}
#endif
#endif
