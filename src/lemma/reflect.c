// lemma/reflect: the reflection phrases (our own list, or a file), the symbolic correction
// (the reference's steps from the wrong one on), and the training records of every kind:
//   cot, rft          prompt = "Question: Q\nAnswer: ", response = a correct solution
//   lemma_fix         the wrong solution cut after its wrong step, a phrase, what was wrong,
//                     the corrected step and the rest of the solution
//   lemma_restart     the cut wrong solution, a phrase, "Let me solve the problem again
//                     from the start.", a complete correct solution
//   lema_correction   prompt: the question, the whole wrong solution and a request to
//                     correct it; response: "Incorrect step: step N.", "Explanation: ...",
//                     "Correct solution:" with the steps before the wrong one and the
//                     corrected rest (LeMa)
//   retry             the wrong solution up to its wrong step, the [BACK] token, then the
//                     corrected step and the rest (Physics of LMs 2.2)
#include "lemma/lemma.h"

#include <cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PHRASE_MAX_LEN 200
static const char *restart_bridge = "Let me solve the problem again from the start.";
static const char *lema_request = "Find the first wrong step and correct the solution.";

// ---------------------------------------------------------------------------
// Phrases

static const char *builtin_phrases[] = {
    "Wait, let me check this step again.",
    "Hold on, something is off here.",
    "Hmm, that does not look right.",
    "Let me double-check that.",
    "Wait, I should verify this step.",
    "Hmm, let me look at this more carefully.",
    "That seems wrong; let me recheck.",
    "Let me pause and re-examine this step.",
    "On second thought, this step needs another look.",
    "Wait a moment, I think I made a mistake.",
    "Let me go back and check my work here.",
    "Something does not add up; let me review it.",
};

void lemma_phrases_builtin(LemmaPhrases *p) {
    p->n = (int)(sizeof builtin_phrases / sizeof builtin_phrases[0]);
    p->items = lm_calloc((size_t)p->n, sizeof(char *));
    for (int i = 0; i < p->n; i++) p->items[i] = lm_strdup(builtin_phrases[i]);
}

static char *trim(char *s) {
    while (*s == ' ' || *s == '\t') s++;
    size_t n = strlen(s);
    while (n > 0 && strchr(" \t\r\n", s[n - 1])) s[--n] = 0;
    return s;
}

int lemma_phrases_load(LemmaPhrases *p, const char *path, char *err, size_t err_len) {
    memset(p, 0, sizeof *p);
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(err, err_len, "cannot read reflection phrases '%s': %s", path, strerror(errno));
        return 2;
    }
    char line[4096];
    int ln = 0, rc = 0;
    while (rc == 0 && fgets(line, sizeof line, f)) {
        ln++;
        char *s = trim(line);
        if (!s[0] || s[0] == '#') continue;
        if (strlen(s) > PHRASE_MAX_LEN) {
            snprintf(err, err_len, "%s:%d: a reflection phrase longer than %d characters", path, ln, PHRASE_MAX_LEN);
            rc = 2;
        } else if (strpbrk(s, "0123456789=")) {
            snprintf(err, err_len, "%s:%d: a reflection phrase must not hold digits or '=' (the step "
                     "verifier would read them)", path, ln);
            rc = 2;
        } else {
            p->items = lm_realloc(p->items, sizeof(char *) * (size_t)(p->n + 1));
            p->items[p->n++] = lm_strdup(s);
        }
    }
    fclose(f);
    if (rc == 0 && p->n == 0) {
        snprintf(err, err_len, "%s: no reflection phrase in the file (one per line)", path);
        rc = 2;
    }
    if (rc) lemma_phrases_free(p);
    return rc;
}

void lemma_phrases_free(LemmaPhrases *p) {
    for (int i = 0; i < p->n; i++) free(p->items[i]);
    free(p->items);
    memset(p, 0, sizeof *p);
}

// ---------------------------------------------------------------------------
// Growing strings

typedef struct {
    char *s;
    size_t n, cap;
} Str;

static void str_add(Str *b, const char *s, size_t n) {
    if (b->n + n + 1 > b->cap) b->s = lm_realloc(b->s, b->cap = 2 * (b->n + n + 1) + 256);
    memcpy(b->s + b->n, s, n);
    b->n += n;
    b->s[b->n] = 0;
}

static void str_cat(Str *b, const char *s) { str_add(b, s, strlen(s)); }

// s[0..n) without trailing blanks and newlines.
static void str_trimmed(Str *b, const char *s, size_t n) {
    while (n > 0 && strchr(" \t\r\n", s[n - 1])) n--;
    str_add(b, s, n);
}

// ---------------------------------------------------------------------------
// The symbolic correction

char *lemma_continuation(const LemmaQuestion *q, const LemmaLocation *loc) {
    const LemmaRef *r = q->ref;
    if (!r) return NULL;
    int first = r->n_lines;
    for (int k = 0; k < r->n_steps; k++)
        if (!loc->produced[k] && r->steps[k].line < first) first = r->steps[k].line;
    Str b = {0};
    for (int i = first; i < r->n_lines; i++) {
        int has_step = 0, pending = 0;
        for (int k = 0; k < r->n_steps; k++)
            if (r->steps[k].line == i) has_step = 1, pending |= !loc->produced[k];
        if (has_step && !pending) continue;
        str_cat(&b, r->lines[i]);
        str_cat(&b, "\n");
    }
    str_cat(&b, "The answer is: ");
    str_cat(&b, q->p.answer);
    return b.s;
}

// ---------------------------------------------------------------------------
// Records

void lemma_record_free(LemmaRecord *r) {
    free(r->prompt), free(r->response), free(r->input);
    memset(r, 0, sizeof *r);
}

static void record_init(LemmaRecord *r, LemmaKind kind, const LemmaErrorCase *c) {
    memset(r, 0, sizeof *r);
    r->kind = kind;
    r->error_type = c ? (int)c->loc->type : -1;
    r->source = c ? c->source : 0;
    r->error_step = c ? c->loc->step : -1;
}

void lemma_make_plain(const LemmaQuestion *q, LemmaKind kind, const char *solution, LemmaRecord *r) {
    record_init(r, kind, NULL);
    r->prompt = tasks_prompt(q->p.question);
    Str b = {0};
    str_trimmed(&b, solution, strlen(solution));
    r->response = b.s ? b.s : lm_strdup("");
}

// The wrong solution before the reflection: cut after the wrong step, or whole.
static void add_prefix(Str *b, const LemmaErrorCase *c, int truncate) {
    str_trimmed(b, c->wrong, truncate ? c->loc->end : strlen(c->wrong));
    str_cat(b, "\n");
}

static int make_fix(const LemmaErrorCase *c, LemmaRecord *r, Str *b) {
    if (!c->continuation) return -1;
    add_prefix(b, c, c->truncate);
    r->mistake_chars = (int)b->n;
    str_cat(b, c->phrase);
    str_cat(b, " ");
    str_cat(b, c->loc->explanation);
    str_cat(b, "\n");
    str_trimmed(b, c->continuation, strlen(c->continuation));
    return 0;
}

static int make_restart(const LemmaErrorCase *c, LemmaRecord *r, Str *b) {
    if (!c->restart) return -1;
    add_prefix(b, c, c->truncate);
    r->mistake_chars = (int)b->n;
    str_cat(b, c->phrase);
    str_cat(b, " ");
    str_cat(b, restart_bridge);
    str_cat(b, "\n");
    str_trimmed(b, c->restart, strlen(c->restart));
    return 0;
}

static int make_retry(const LemmaErrorCase *c, LemmaRecord *r, Str *b) {
    if (!c->continuation) return -1;
    str_trimmed(b, c->wrong, c->loc->end);
    r->mistake_chars = (int)b->n;
    str_cat(b, " ");
    str_cat(b, c->back);
    str_cat(b, "\n");
    str_trimmed(b, c->continuation, strlen(c->continuation));
    return 0;
}

static int make_lema(const LemmaErrorCase *c, LemmaRecord *r, Str *b) {
    if (!c->continuation) return -1;
    Str in = {0};
    str_trimmed(&in, c->wrong, strlen(c->wrong));
    str_cat(&in, "\n\n");
    str_cat(&in, lema_request);
    str_cat(&in, "\n");
    char *head = tasks_prompt(c->q->p.question), line[64];
    Str pr = {0};
    str_cat(&pr, head);
    str_cat(&pr, in.s);
    free(head);
    r->prompt = pr.s, r->input = in.s;
    snprintf(line, sizeof line, "Incorrect step: step %d.\nExplanation: ", c->loc->step + 1);
    str_cat(b, line);
    str_cat(b, c->loc->explanation);
    str_cat(b, "\nCorrect solution:\n");
    if (c->loc->start > 0) {
        str_trimmed(b, c->wrong, c->loc->start);
        str_cat(b, "\n");
    }
    str_trimmed(b, c->continuation, strlen(c->continuation));
    return 0;
}

int lemma_make_record(const LemmaErrorCase *c, LemmaKind kind, LemmaRecord *r) {
    record_init(r, kind, c);
    Str b = {0};
    int rc = -1;
    switch (kind) {
    case LEMMA_KIND_FIX: rc = make_fix(c, r, &b); break;
    case LEMMA_KIND_RESTART: rc = make_restart(c, r, &b); break;
    case LEMMA_KIND_RETRY: rc = make_retry(c, r, &b); break;
    case LEMMA_KIND_LEMA: rc = make_lema(c, r, &b); break;
    default: break;
    }
    if (rc == 0 && !r->prompt) r->prompt = tasks_prompt(c->q->p.question);
    r->response = b.s;
    if (rc != 0) lemma_record_free(r);
    return rc;
}

int lemma_record_answer_ok(const LemmaRecord *r, const char *gold) {
    char *pred = grade_extract_answer(r->response, NULL);
    int ok = pred && grade_equal(pred, gold);
    free(pred);
    return ok;
}

cJSON *lemma_record_to_json(const LemmaRecord *r, const LemmaQuestion *q) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "id", q->p.id);
    cJSON_AddStringToObject(o, "kind", lemma_kind_name(r->kind));
    cJSON_AddStringToObject(o, "prompt", r->prompt);
    cJSON_AddStringToObject(o, "response", r->response);
    cJSON_AddStringToObject(o, "answer", q->p.answer);
    if (r->error_type >= 0) {
        cJSON_AddStringToObject(o, "error_type", lemma_error_name((LemmaErrorType)r->error_type));
        cJSON_AddStringToObject(o, "source", r->source == 1 ? "student" : "teacher");
        cJSON_AddNumberToObject(o, "error_step", r->error_step);
    }
    if (r->mistake_chars > 0) cJSON_AddNumberToObject(o, "mistake_chars", r->mistake_chars);
    return o;
}
