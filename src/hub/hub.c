// hub/hub: opening a model with its tokenizer and backend, loading its parameters from a run
// directory or a checkpoint file, and a greedy completion by plain forward passes.
#include "hub_internal.h"
#include "lemma/dist.h"
#include "lemma/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int hub_open_for(HubModel *h, const Config *cfg, unsigned use, char *err, size_t err_len) {
    memset(h, 0, sizeof *h);
    h->step = -1;
    if (cfg_str(cfg, "model.from")[0]) {
        if (hub_from_open(h, cfg, use, err, err_len) == 0) return 0;
        hub_close(h);
        return -1;
    }
    tokenizer_from_config(&h->tok, cfg);
    ModelConfig mc;
    model_config_from(&mc, cfg, h->tok.vocab);
    if (model_config_check(&mc, err, err_len) != 0) {
        tokenizer_free(&h->tok);
        return -1;
    }
    h->be = backend_create(cfg_str(cfg, "run.device"), cfg_str(cfg, "run.precision"),
                           dist_threads_per_rank((int)cfg_int(cfg, "run.threads")),
                           dist.local_rank);
    if (hub_memory_check(cfg, &mc, h->be, use, 0, err, err_len) != 0) {
        hub_close(h);
        return -1;
    }
    model_init(&h->m, &mc, h->be, (uint64_t)cfg_int(cfg, "run.seed"));
    return 0;
}

int hub_open(HubModel *h, const Config *cfg, char *err, size_t err_len) {
    return hub_open_for(h, cfg, 0, err, err_len);
}

void hub_close(HubModel *h) {
    if (h->be) {
        model_free(&h->m);
        backend_destroy(h->be);
    }
    tokenizer_free(&h->tok);
    memset(h, 0, sizeof *h);
}

static int is_file(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

int hub_load(HubModel *h, const char *path, char *err, size_t err_len) {
    char used[4096];
    int rc = is_file(path)
                 ? hub_ckpt_load_params(&h->m, NULL, path, used, sizeof used, err, err_len)
                 : hub_ckpt_load_params(&h->m, path, NULL, used, sizeof used, err, err_len);
    if (rc == 0) {
        snprintf(h->from, sizeof h->from, "%s", used);
        h->step = ckpt_step_of(used);
    }
    if (rc == 1 && h->imported) { // no checkpoint yet: the imported weights
        rc = hub_from_reload(h, err, err_len);
        snprintf(h->from, sizeof h->from, "%s", h->source);
        h->step = -1;
    }
    return rc;
}

void hub_describe(const HubModel *h, const char *who) {
    lm_info("%s: %s%s; %s backend (%d threads per rank), %.2fM parameters", who,
            h->from[0] ? "parameters from " : h->imported ? "imported parameters of " :
            "freshly initialised parameters", h->from[0] ? h->from : h->source,
            h->be->name, h->be->threads, h->m.layout.n_params / 1e6);
}

// The id of the largest value (the first of equals).
static int argmax(const float *x, int n) {
    int best = 0;
    for (int v = 1; v < n; v++)
        if (x[v] > x[best]) best = v;
    return best;
}

char *hub_greedy_line(HubModel *h, const char *prompt, int max_new) {
    Model *m = &h->m;
    const Tokenizer *tok = &h->tok;
    int n = 0, V = m->cfg.vocab;
    int *ids = tokenizer_prompt(tok, prompt, max_new, &n), start = n;
    float *logits = NULL;
    for (int i = 0; i < max_new && n < m->cfg.max_seq; i++) {
        model_forward(m, ids, NULL, 1, n);
        logits = lm_realloc(logits, (size_t)n * V * sizeof(float));
        model_logits(m, logits);
        int best = argmax(logits + (size_t)(n - 1) * V, V);
        size_t pl;
        const char *piece = tokenizer_piece_bytes(tok, best, &pl);
        if (tokenizer_is_stop(tok, best) || memchr(piece, '\n', pl)) break;
        ids[n++] = best;
    }
    char *out = tokenizer_decode(tok, ids + start, n - start);
    free(ids);
    free(logits);
    return out;
}
