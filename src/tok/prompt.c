// tok/prompt: the ids of a prompt through the tokenizer's chat template, the id that ends a
// training response, and the ids that end a sampled one.
#include "lemma/tokenizer.h"
#include "lemma/util.h"

#include <stdlib.h>
#include <string.h>

int *tokenizer_prompt(const Tokenizer *t, const char *user, int extra, int *n) {
    char *text = chat_prompt(&t->chat, user);
    int bos = t->chat.kind == CHAT_PLAIN && t->add_bos && t->bos >= 0, need = 0;
    tokenizer_encode(t, text, NULL, 0, &need);
    int *ids = lm_malloc((size_t)(bos + need + (extra > 0 ? extra : 0) + 1) * sizeof(int));
    if (bos) ids[0] = t->bos;
    *n = bos + tokenizer_encode(t, text, ids + bos, need, NULL);
    free(text);
    return ids;
}

int tokenizer_end_id(const Tokenizer *t) {
    int id = t->chat.end && t->chat.end[0] ? tokenizer_token_id(t, t->chat.end) : -1;
    return id >= 0 ? id : t->eos;
}

int tokenizer_is_stop(const Tokenizer *t, int id) {
    if (id == t->eos) return 1;
    for (int i = 0; i < t->n_stop; i++)
        if (t->stop[i] == id) return 1;
    return 0;
}

void tokenizer_add_stop(Tokenizer *t, int id) {
    if (id < 0 || tokenizer_is_stop(t, id)) return;
    LM_CHECK(t->n_stop < TOK_MAX_STOP, "at most %d stop ids", TOK_MAX_STOP);
    t->stop[t->n_stop++] = id;
}

void tokenizer_set_chat(Tokenizer *t, ChatTemplate *c) {
    chat_free(&t->chat);
    t->chat = *c;
    memset(c, 0, sizeof *c);
    if (t->chat.end[0]) tokenizer_add_stop(t, tokenizer_token_id(t, t->chat.end));
}
