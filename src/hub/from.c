// hub/from: a model of model.from (a Hugging Face directory or a GGUF file): its architecture,
// tokenizer, eos ids and chat template from the files, its weights through src/import
// straight into the model's parameters (host-memory backends) or through one host buffer.
#include "hub_internal.h"
#include "lemma/dist.h"
#include "lemma/import.h"
#include "lemma/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define HUB_DEFAULT_CONTEXT 4096 // an imported model's context when model.max_seq is 0

// The tokenizer of an import: tokenizer.json of a Hugging Face directory, or GGUF metadata.
static int from_tokenizer_file(ImportModel *im, Tokenizer *tok, char *err, size_t err_len) {
    if (!strcmp(import_format(im), "gguf")) {
        TokSpec spec;
        if (import_gguf_tok_spec(im, &spec, err, err_len) != 0) return -1;
        return tokenizer_from_spec(tok, &spec, err, err_len);
    }
    char path[4200];
    snprintf(path, sizeof path, "%s/tokenizer.json", import_dir(im));
    return tokenizer_load_json(tok, path, err, err_len);
}

// model.chat_template, else the family of the model's own template, else plain; the system
// message: model.system ("none": no system turn), else (chatml) the default the model's own
// template writes.
static int from_chat(const Config *cfg, ImportModel *im, ChatTemplate *chat, char *err,
                     size_t err_len) {
    const char *name = cfg_str(cfg, "model.chat_template"), *sys = cfg_str(cfg, "model.system");
    const char *jinja = import_chat_template(im), *fam = chat_detect(jinja);
    if (!name[0]) name = fam ? fam : "plain";
    if (!cfg_str(cfg, "model.chat_template")[0] && jinja && !fam && dist.rank == 0)
        lm_warn("%s: its chat template is of no family lemma knows; prompts are plain text (set "
                "model.chat_template)", import_path(im));
    char *def = !sys[0] && !strcmp(name, "chatml") ? chat_default_system(jinja) : NULL;
    const char *use = !strcmp(sys, "none") ? "" : sys[0] ? sys : def;
    int rc = chat_open(chat, name, use, err, err_len);
    free(def);
    return rc;
}

// Tokenizer, chat template and stop ids (the model's eos ids, the template's end token).
static int from_tokenizer(const Config *cfg, ImportModel *im, Tokenizer *tok, char *err,
                          size_t err_len) {
    if (from_tokenizer_file(im, tok, err, err_len) != 0) return -1;
    if (import_n_eos(im) > 0 && tok->eos < 0) tok->eos = import_eos(im)[0];
    if (tok->bos < 0) tok->bos = import_bos(im);
    for (int i = 0; i < import_n_eos(im); i++) tokenizer_add_stop(tok, import_eos(im)[i]);
    ChatTemplate chat;
    if (from_chat(cfg, im, &chat, err, err_len) != 0) {
        tokenizer_free(tok);
        return -1;
    }
    tokenizer_set_chat(tok, &chat);
    if (tok->eos < 0 && tok->n_stop == 0) {
        snprintf(err, err_len, "%s: no eos token (config.json eos_token_id, generation_config.json "
                 "or tokenizer.ggml.eos_token_id): nothing would end an answer", import_path(im));
        tokenizer_free(tok);
        return -1;
    }
    if (tok->eos < 0) tok->eos = tok->stop[0];
    if (tok->pad < 0) tok->pad = tok->eos; // training pads rows; the loss never sees padding
    return 0;
}

int hub_from_tokenizer(Tokenizer *tok, const Config *cfg, char *err, size_t err_len) {
    ImportModel *im;
    if (import_open(&im, cfg_str(cfg, "model.from"), err, err_len) != 0) return -1;
    int rc = from_tokenizer(cfg, im, tok, err, err_len);
    import_close(im);
    return rc;
}

// The weights of im into h's model.
static int from_weights(HubModel *h, ImportModel *im, char *err, size_t err_len) {
    Model *m = &h->m;
    size_t n = m->layout.n_params;
    float *host = h->be->host_memory ? m->params : lm_malloc(n * sizeof(float));
    int rc = import_read_params(im, &m->layout, host, 0, n, err, err_len);
    if (rc == 0 && h->be->host_memory) model_params_changed(m);
    else if (rc == 0) model_set_params(m, host);
    if (host != m->params) free(host);
    return rc;
}

int hub_from_reload(HubModel *h, char *err, size_t err_len) {
    ImportModel *im;
    if (import_open(&im, h->source, err, err_len) != 0) return -1;
    int rc = from_weights(h, im, err, err_len);
    import_close(im);
    return rc;
}

int hub_from_open(HubModel *h, const Config *cfg, unsigned use, char *err, size_t err_len) {
    const char *from = cfg_str(cfg, "model.from");
    ImportModel *im;
    double t0 = lm_now();
    if (import_open(&im, from, err, err_len) != 0) return -1;
    int rc = from_tokenizer(cfg, im, &h->tok, err, err_len);
    ModelConfig mc = *import_config(im);
    int want = (int)cfg_int(cfg, "model.max_seq");
    mc.max_seq = want > 0 ? want : mc.max_seq < HUB_DEFAULT_CONTEXT ? mc.max_seq : HUB_DEFAULT_CONTEXT;
    if (rc == 0 && h->tok.vocab > mc.vocab)
        rc = -1, snprintf(err, err_len, "%s: the tokenizer has %d tokens, the embedding only %d "
                          "rows", from, h->tok.vocab, mc.vocab);
    if (rc == 0) {
        h->be = backend_create(cfg_str(cfg, "run.device"), cfg_str(cfg, "run.precision"),
                               dist_threads_per_rank((int)cfg_int(cfg, "run.threads")),
                               dist.local_rank);
        rc = hub_memory_check(cfg, &mc, h->be, use, (double)import_file_bytes(im), err, err_len);
    }
    if (rc == 0) {
        model_alloc(&h->m, &mc, h->be);
        h->imported = 1;
        snprintf(h->source, sizeof h->source, "%s", from);
        rc = from_weights(h, im, err, err_len);
    }
    if (rc == 0 && dist.rank == 0)
        lm_info("model: %s (%s; %d layers, dim %d, vocab %d, context %d; chat template %s) "
                "imported in %.1fs", from, import_format(im), mc.n_layers, mc.dim, mc.vocab,
                mc.max_seq, chat_name(&h->tok.chat), lm_now() - t0);
    import_close(im);
    return rc;
}
