// chat: prompt formats (chat templates). How a user message becomes the text a model reads
// before its answer, and what ends the answer, for the families lemma imports: chatml (Qwen2,
// SmolLM2), llama3, mistral ([INST]), plain (the text as it is), or a custom template file.
// Text only: special tokens appear as their literal text ("<|im_start|>"), which the
// tokenizer encodes to their ids. Knows no tokenizer, model or backend.
#ifndef LEMMA_CHAT_H
#define LEMMA_CHAT_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum { CHAT_PLAIN = 0, CHAT_CHATML, CHAT_LLAMA3, CHAT_MISTRAL, CHAT_CUSTOM } ChatKind;

typedef struct {
    ChatKind kind;
    char *system; // the system message ("" for none): the template's default unless set
    char *custom; // CHAT_CUSTOM: the template text with {system} and {user} (malloc'd)
    char *end;    // the text that ends an answer ("<|im_end|>", "<|eot_id|>", "</s>"; "" for
                  // plain and custom: the tokenizer's eos ends it)
} ChatTemplate;

// The plain template (the prompt as it is).
void chat_plain(ChatTemplate *c);
// A named template ("plain", "chatml", "llama3", "mistral") or, for any other value, a
// template file: its text with {system} and {user} placeholders; an optional last line
// "#end <text>" names the text that ends an answer. `system` (NULL: the family's default,
// none for every named family) is the system message. 0, or -1 with err naming the value or
// the file.
int chat_open(ChatTemplate *c, const char *name, const char *system, char *err, size_t err_len);
void chat_free(ChatTemplate *c);
// The family of a Hugging Face chat template (the Jinja text of tokenizer_config.json or of
// GGUF metadata): "chatml", "llama3", "mistral", or NULL when it is none of them.
const char *chat_detect(const char *jinja);
// The default system message a chatml Jinja template writes when none is given (Qwen2.5,
// SmolLM2), malloc'd, or NULL.
char *chat_default_system(const char *jinja);
const char *chat_name(const ChatTemplate *c);
// The text that precedes the model's answer to `user` (malloc'd). Plain: user itself.
char *chat_prompt(const ChatTemplate *c, const char *user);

#ifdef __cplusplus
}
#endif
#endif
