// sample/engine: batched generation with continuous batching. The engine owns `slots`
// sequences of the model's KV cache. Each step refills free slots from the caller's source,
// then runs one model_decode_step over: the next chunk of every prefilling prompt (at most
// prefill_tokens prompt tokens per step in all) and the last token of every generating
// sequence; rows that need logits (a prompt's last token, generating sequences) come last.
// A token is then drawn for each of those, and finished sequences (eos, a stop string,
// max_new_tokens, the context) go to the sink; their slots take new requests next step.
#include "lemma/sample.h"
#include "lemma/util.h"

#include <stdlib.h>
#include <string.h>

typedef enum { SLOT_FREE, SLOT_PREFILL, SLOT_GEN } SlotState;

typedef struct {
    SlotState state;
    SampleRequest req;
    int fed;      // prompt tokens in the cache (prefill)
    int n_gen;    // tokens generated
    int next_tok; // generating: the token to feed, at position prompt_len + n_gen - 1
    char *text;   // the completion so far (NUL-terminated), cap bytes
    size_t len, cap;
} Slot;

struct SampleEngine {
    Model *m;
    const Tokenizer *tok;
    SampleConfig c;
    ModelDecode dec;
    Slot *slot;
    int *row_tok, *row_slot, *row_pos; // (max_rows) rows of a step
    int *lg_tok, *lg_slot, *lg_pos;    // (slots) the rows with logits, appended last
    int *idx;                          // (V) sample_token work
    double *p;                         // (V)
    long tokens;
};

const char *sample_finish_name(SampleFinish f) {
    return f == SAMPLE_EOS ? "eos" : f == SAMPLE_STOP ? "stop" : "length";
}

SampleEngine *sample_engine_create(Model *m, const Tokenizer *tok, const SampleConfig *c) {
    LM_CHECK(c->slots > 0 && c->prefill_tokens > 0 && c->max_new_tokens > 0,
             "sample: slots %d, prefill_tokens %d, max_new_tokens %d", c->slots,
             c->prefill_tokens, c->max_new_tokens);
    SampleEngine *e = lm_calloc(1, sizeof *e);
    e->m = m, e->tok = tok, e->c = *c;
    int rows = c->slots + c->prefill_tokens, V = m->cfg.vocab;
    model_decode_init(&e->dec, m, c->slots, c->ctx, rows, c->slots, c->kv);
    size_t piece = tokenizer_max_piece(tok); // longest text of one token
    e->slot = lm_calloc((size_t)c->slots, sizeof(Slot));
    for (int s = 0; s < c->slots; s++) {
        e->slot[s].cap = (size_t)c->max_new_tokens * piece + 1;
        e->slot[s].text = lm_malloc(e->slot[s].cap);
    }
    e->row_tok = lm_malloc(3 * (size_t)rows * sizeof(int));
    e->row_slot = e->row_tok + rows, e->row_pos = e->row_slot + rows;
    e->lg_tok = lm_malloc(3 * (size_t)c->slots * sizeof(int));
    e->lg_slot = e->lg_tok + c->slots, e->lg_pos = e->lg_slot + c->slots;
    e->idx = lm_malloc((size_t)V * sizeof(int));
    e->p = lm_malloc((size_t)V * sizeof(double));
    return e;
}

void sample_engine_free(SampleEngine *e) {
    if (!e) return;
    model_decode_free(&e->dec, e->m);
    for (int s = 0; s < e->c.slots; s++) free(e->slot[s].text);
    free(e->slot);
    free(e->row_tok);
    free(e->lg_tok);
    free(e->idx);
    free(e->p);
    free(e);
}

long sample_engine_tokens(const SampleEngine *e) { return e->tokens; }

static void engine_start(SampleEngine *e, Slot *s, const SampleRequest *r) {
    LM_CHECK(r->prompt_len >= 1 && r->prompt_len <= e->dec.ctx, "sample: a prompt of %d tokens "
             "(problem %ld) does not fit the context of %d", r->prompt_len, r->problem,
             e->dec.ctx);
    s->state = SLOT_PREFILL;
    s->req = *r;
    s->fed = 0, s->n_gen = 0, s->len = 0;
    s->text[0] = 0;
}

// ---------------------------------------------------------------------------
// rows of a step

static void engine_add_row(int *tok, int *slot, int *pos, int *n, int t, int s, int p) {
    tok[*n] = t, slot[*n] = s, pos[*n] = p;
    (*n)++;
}

// The prompt rows of slot s for this step (within *budget); its last prompt token goes to
// the logit rows.
static void engine_prefill_rows(SampleEngine *e, int s, int *budget, int *n, int *nl) {
    Slot *sl = &e->slot[s];
    int P = sl->req.prompt_len, take = P - sl->fed < *budget ? P - sl->fed : *budget;
    for (int i = 0; i < take; i++) {
        int p = sl->fed + i, t = sl->req.prompt[p];
        if (p == P - 1) engine_add_row(e->lg_tok, e->lg_slot, e->lg_pos, nl, t, s, p);
        else engine_add_row(e->row_tok, e->row_slot, e->row_pos, n, t, s, p);
    }
    sl->fed += take;
    *budget -= take;
}

// Fills the rows of the next step; returns their count (logit rows last, *nl of them).
static int engine_rows(SampleEngine *e, int *nl_out) {
    int n = 0, nl = 0, budget = e->c.prefill_tokens;
    for (int s = 0; s < e->c.slots && budget > 0; s++)
        if (e->slot[s].state == SLOT_PREFILL) engine_prefill_rows(e, s, &budget, &n, &nl);
    for (int s = 0; s < e->c.slots; s++) {
        Slot *sl = &e->slot[s];
        if (sl->state == SLOT_GEN)
            engine_add_row(e->lg_tok, e->lg_slot, e->lg_pos, &nl, sl->next_tok, s,
                           sl->req.prompt_len + sl->n_gen - 1);
    }
    memcpy(e->row_tok + n, e->lg_tok, (size_t)nl * sizeof(int));
    memcpy(e->row_slot + n, e->lg_slot, (size_t)nl * sizeof(int));
    memcpy(e->row_pos + n, e->lg_pos, (size_t)nl * sizeof(int));
    *nl_out = nl;
    return n + nl;
}

// ---------------------------------------------------------------------------
// tokens

// Appends token t's text; returns 1 when a stop string now occurs (the text is cut where
// the earliest one starts).
static int engine_append(SampleEngine *e, Slot *s, int t) {
    size_t pl, old = s->len;
    const char *piece = tokenizer_piece_bytes(e->tok, t, &pl);
    LM_CHECK(s->len + pl < s->cap, "sample: completion buffer overflow");
    memcpy(s->text + s->len, piece, pl);
    s->len += pl;
    s->text[s->len] = 0;
    size_t cut = s->len + 1;
    for (int i = 0; i < e->c.n_stop; i++) { // only a match that ends in the new text is new
        size_t ls = strlen(e->c.stop[i]);
        if (ls == 0 || ls > s->len) continue;
        size_t from = old + 1 >= ls ? old + 1 - ls : 0;
        const char *hit = memmem(s->text + from, s->len - from, e->c.stop[i], ls);
        if (hit && (size_t)(hit - s->text) < cut) cut = (size_t)(hit - s->text);
    }
    if (cut > s->len) return 0;
    s->len = cut;
    s->text[cut] = 0;
    return 1;
}

// Takes token t as slot s's next: the sequence ends (to the sink; the slot is free) or the
// token is fed next step.
static void engine_accept(SampleEngine *e, Slot *s, int t, SampleSinkFn sink, void *ctx) {
    s->n_gen++;
    e->tokens++;
    int end = tokenizer_is_stop(e->tok, t); // eos or the chat template's end of an answer
    int stop = !end && engine_append(e, s, t);
    // a token that goes on is fed at position prompt_len + n_gen - 1
    int full = s->n_gen >= e->c.max_new_tokens || s->req.prompt_len + s->n_gen > e->dec.ctx;
    if (!end && !stop && !full) {
        s->next_tok = t;
        s->state = SLOT_GEN;
        return;
    }
    SampleFinish f = end ? SAMPLE_EOS : stop ? SAMPLE_STOP : SAMPLE_LENGTH;
    SampleResult r = {s->req, s->text, s->len, s->n_gen, f};
    sink(ctx, &r);
    s->state = SLOT_FREE;
}

static void engine_draw(SampleEngine *e, const float *logits, int nl, SampleSinkFn sink,
                        void *ctx) {
    int V = e->m->cfg.vocab;
    SampleStrategy greedy = {0.0f, 0, 1.0f};
    for (int i = 0; i < nl; i++) {
        Slot *s = &e->slot[e->lg_slot[i]];
        int sampled = s->req.sample >= 0;
        float u = sampled ? sample_uniform(e->c.seed, s->req.problem, s->req.sample, s->n_gen)
                          : 0.0f;
        int t = sample_token(logits + (size_t)i * V, V, sampled ? &e->c.strategy : &greedy, u,
                             e->idx, e->p);
        engine_accept(e, s, t, sink, ctx);
    }
}

int sample_engine_step(SampleEngine *e, SampleSourceFn src, void *src_ctx, SampleSinkFn sink,
                       void *sink_ctx) {
    for (int s = 0; s < e->c.slots; s++) {
        SampleRequest r;
        if (e->slot[s].state == SLOT_FREE && src && src(src_ctx, &r)) engine_start(e, &e->slot[s], &r);
    }
    int nl, n = engine_rows(e, &nl);
    if (n > 0) {
        const float *logits = model_decode_step(e->m, &e->dec, e->row_tok, e->row_slot,
                                                e->row_pos, n, nl);
        engine_draw(e, logits, nl, sink, sink_ctx);
    }
    int busy = 0;
    for (int s = 0; s < e->c.slots; s++) busy += e->slot[s].state != SLOT_FREE;
    return busy;
}

// ---------------------------------------------------------------------------
// one process, a list of requests

typedef struct {
    const SampleRequest *reqs;
    int n, next;
    SampleResult *out;
} GenJob;

static int gen_source(void *ctx, SampleRequest *r) {
    GenJob *j = ctx;
    if (j->next >= j->n) return 0;
    *r = j->reqs[j->next];
    r->tag = j->next++;
    return 1;
}

static void gen_sink(void *ctx, const SampleResult *r) {
    GenJob *j = ctx;
    SampleResult *o = &j->out[r->req.tag];
    *o = *r;
    o->req.tag = j->reqs[r->req.tag].tag;
    char *t = lm_malloc(r->text_len + 1);
    memcpy(t, r->text, r->text_len + 1);
    o->text = t;
}

void sample_generate(Model *m, const Tokenizer *tok, const SampleConfig *c,
                     const SampleRequest *reqs, int n, SampleResult *out) {
    SampleEngine *e = sample_engine_create(m, tok, c);
    GenJob j = {reqs, n, 0, out};
    while (sample_engine_step(e, gen_source, &j, gen_sink, &j) > 0 || j.next < n) {
    }
    sample_engine_free(e);
}

void sample_results_free(SampleResult *r, int n) {
    for (int i = 0; i < n; i++) free((char *)r[i].text), r[i].text = NULL;
}

int *sample_encode_prompt(const Tokenizer *tok, const char *question, int *len) {
    char *prompt = tasks_prompt(question);
    int *ids = tokenizer_prompt(tok, prompt, 0, len);
    free(prompt);
    return ids;
}
