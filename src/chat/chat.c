// chat/chat: the named chat templates, custom template files, and recognising the family of
// a Hugging Face (Jinja) chat template. Each named family writes what transformers'
// apply_chat_template(add_generation_prompt=True) writes for one user message.
#include "lemma/chat.h"
#include "lemma/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const chat_names[] = {"plain", "chatml", "llama3", "mistral", "custom"};
static const char *const chat_ends[] = {"", "<|im_end|>", "<|eot_id|>", "</s>", ""};

void chat_plain(ChatTemplate *c) {
    memset(c, 0, sizeof *c);
    c->system = lm_strdup("");
    c->end = lm_strdup("");
}

void chat_free(ChatTemplate *c) {
    free(c->system);
    free(c->custom);
    free(c->end);
    memset(c, 0, sizeof *c);
}

const char *chat_name(const ChatTemplate *c) { return chat_names[c->kind]; }

// A template file: the text, less a last line "#end <text>" that names the answer's end.
static int chat_load_file(ChatTemplate *c, const char *path, char *err, size_t err_len) {
    char *text = lm_read_file(path, NULL);
    if (!text) {
        snprintf(err, err_len, "model.chat_template '%s' is neither a named template (plain, "
                 "chatml, llama3, mistral) nor a readable template file", path);
        return -1;
    }
    if (!strstr(text, "{user}")) {
        snprintf(err, err_len, "%s: a chat template file needs a {user} placeholder", path);
        free(text);
        return -1;
    }
    char *last = strstr(text, "\n#end ");
    if (last) {
        char *e = last + 6;
        e[strcspn(e, "\r\n")] = 0;
        free(c->end);
        c->end = lm_strdup(e);
        last[1] = 0; // the text keeps its newline before the #end line
    }
    c->kind = CHAT_CUSTOM;
    c->custom = text;
    return 0;
}

int chat_open(ChatTemplate *c, const char *name, const char *system, char *err, size_t err_len) {
    chat_plain(c);
    int kind = -1;
    for (int k = 0; k < CHAT_CUSTOM; k++)
        if (strcmp(name, chat_names[k]) == 0) kind = k;
    if (system) free(c->system), c->system = lm_strdup(system);
    if (kind < 0) {
        int rc = chat_load_file(c, name, err, err_len);
        if (rc) chat_free(c);
        return rc;
    }
    c->kind = (ChatKind)kind;
    free(c->end);
    c->end = lm_strdup(chat_ends[kind]);
    return 0;
}

const char *chat_detect(const char *jinja) {
    if (!jinja) return NULL;
    if (strstr(jinja, "<|im_start|>")) return "chatml";
    if (strstr(jinja, "<|start_header_id|>")) return "llama3";
    if (strstr(jinja, "[INST]")) return "mistral";
    return NULL;
}

char *chat_default_system(const char *jinja) {
    static const char key[] = "<|im_start|>system";
    const char *p = jinja ? strstr(jinja, key) : NULL;
    if (!p) return NULL;
    p += strlen(key);
    if (*p == '\n') p++; // a newline, or Jinja's escape of one
    else if (p[0] == '\\' && p[1] == 'n') p += 2;
    else return NULL;
    const char *e = strstr(p, "<|im_end|>");
    if (!e) return NULL;
    for (const char *q = p; q < e; q++) // a literal, not an expression of the template
        if (*q == '{' || *q == '}' || *q == '\'' || *q == '"' || *q == '+') return NULL;
    char *s = lm_malloc((size_t)(e - p) + 1);
    memcpy(s, p, (size_t)(e - p));
    s[e - p] = 0;
    return s;
}

// t with every {system} and {user} replaced (malloc'd).
static char *fill(const char *t, const char *system, const char *user) {
    size_t cap = strlen(t) + 1, len = 0;
    for (const char *p = t; (p = strchr(p, '{')); p++) cap += strlen(system) + strlen(user);
    char *out = lm_malloc(cap);
    for (const char *p = t; *p;) {
        const char *v = !strncmp(p, "{system}", 8) ? system : !strncmp(p, "{user}", 6) ? user : NULL;
        if (v) {
            size_t n = strlen(v);
            memcpy(out + len, v, n);
            len += n, p += v == system ? 8 : 6;
        } else {
            out[len++] = *p++;
        }
    }
    out[len] = 0;
    return out;
}

// Meta's own format (llama-models' ChatFormat: the content as it is; HF's Jinja copy of it
// trims the content, which differs only for text with white space at either end).
static char *chat_llama3(const char *s, const char *u) {
    size_t cap = strlen(s) + strlen(u) + 256;
    char *out = lm_malloc(cap);
    int n = snprintf(out, cap, "<|begin_of_text|>");
    if (s[0])
        n += snprintf(out + n, cap - (size_t)n,
                      "<|start_header_id|>system<|end_header_id|>\n\n%s<|eot_id|>", s);
    snprintf(out + n, cap - (size_t)n, "<|start_header_id|>user<|end_header_id|>\n\n%s<|eot_id|>"
             "<|start_header_id|>assistant<|end_header_id|>\n\n", u);
    return out;
}

char *chat_prompt(const ChatTemplate *c, const char *user) {
    const char *sys = c->system ? c->system : "";
    size_t cap = strlen(sys) + strlen(user) + 128;
    char *out;
    switch (c->kind) {
    case CHAT_CHATML:
        out = lm_malloc(cap);
        if (sys[0])
            snprintf(out, cap, "<|im_start|>system\n%s<|im_end|>\n<|im_start|>user\n%s<|im_end|>\n"
                     "<|im_start|>assistant\n", sys, user);
        else
            snprintf(out, cap, "<|im_start|>user\n%s<|im_end|>\n<|im_start|>assistant\n", user);
        return out;
    case CHAT_LLAMA3:
        return chat_llama3(sys, user);
    case CHAT_MISTRAL:
        out = lm_malloc(cap);
        snprintf(out, cap, "<s>[INST] %s%s%s [/INST]", sys, sys[0] ? "\n\n" : "", user);
        return out;
    case CHAT_CUSTOM:
        return fill(c->custom, sys, user);
    default:
        return lm_strdup(user);
    }
}
