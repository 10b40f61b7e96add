// hub/resolve: what a MODEL argument names (a Hugging Face directory, a GGUF file, a run
// directory, a checkpoint file) as the config that opens it, and opening it with its
// parameters: what `lemma generate`, `tokenize`, `import` and `export` take.
#include "hub_internal.h"
#include "lemma/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static int is_regular(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

static int ends_with(const char *s, const char *tail) {
    size_t n = strlen(s), m = strlen(tail);
    return n >= m && strcmp(s + n - m, tail) == 0;
}

// MODEL is something model.from takes: a .gguf file or a directory with config.json.
static int is_import(const char *model) {
    char path[4200];
    snprintf(path, sizeof path, "%s/config.json", model);
    return (ends_with(model, ".gguf") && is_regular(model)) || is_regular(path);
}

// The newest checkpoint of a run directory: RUN/ckpt (lemma train), else RUN/finetune/ckpt,
// else RUN/pretrain/ckpt (lemma run); 0 with path, -1 when there is none.
static int run_checkpoint(const char *run, char *path, size_t len) {
    const char *sub[] = {"", "/finetune", "/pretrain"};
    for (int i = 0; i < 3; i++) {
        char root[4200];
        snprintf(root, sizeof root, "%s%s", run, sub[i]);
        if (ckpt_latest(root, path, len) == 0) return 0;
    }
    return -1;
}

// The config stored in checkpoint `file`, with the overrides. 0, or -1 with err.
static int ckpt_config(const char *file, char *const *sets, int n_sets, Config *cfg, char *err,
                       size_t err_len) {
    CkptMeta meta;
    memset(&meta, 0, sizeof meta);
    if (ckpt_load(file, &meta, NULL, 0, err, err_len) != 0) return -1;
    int rc = config_load_text(cfg, file, meta.config_text ? meta.config_text : "", sets, n_sets,
                              err, err_len) ? -1 : 0;
    ckpt_meta_free(&meta);
    return rc;
}

int hub_resolve(const char *model, char *const *sets, int n_sets, Config *cfg, char *err,
                size_t err_len) {
    char path[4200];
    if (is_import(model)) {
        config_defaults(cfg);
        snprintf(path, sizeof path, "model.from=%s", model);
        int rc = config_set(cfg, path, err, err_len);
        for (int i = 0; i < n_sets && rc == 0; i++) rc = config_set(cfg, sets[i], err, err_len);
        if (rc) config_free(cfg);
        return rc ? -1 : 0;
    }
    if (is_regular(model)) return ckpt_config(model, sets, n_sets, cfg, err, err_len);
    char ck[4096];
    if (run_checkpoint(model, ck, sizeof ck) == 0) {
        snprintf(path, sizeof path, "%s/config.cfg", model);
        if (is_regular(path)) return config_load(cfg, path, sets, n_sets, err, err_len) ? -1 : 0;
        return ckpt_config(ck, sets, n_sets, cfg, err, err_len);
    }
    snprintf(err, err_len, "'%s' is not a model: expected a Hugging Face directory (config.json), "
             "a .gguf file, a checkpoint (.h5) or a run directory with a checkpoint", model);
    return -1;
}

int hub_open_model(HubModel *h, const Config *cfg, const char *model, char *err, size_t err_len) {
    if (hub_open(h, cfg, err, err_len) != 0) return -1;
    if (is_import(model)) return 0; // the imported weights are in
    char ck[4096];
    int rc = is_regular(model) ? hub_load(h, model, err, err_len)
                               : run_checkpoint(model, ck, sizeof ck) == 0 ? hub_load(h, ck, err, err_len)
                                                                           : 1;
    if (rc == 1) snprintf(err, err_len, "%s: no checkpoint", model);
    if (rc == 0) return 0;
    hub_close(h);
    return -1;
}

int hub_open_tokenizer(Tokenizer *tok, const Config *cfg, char *err, size_t err_len) {
    if (cfg_str(cfg, "model.from")[0]) return hub_from_tokenizer(tok, cfg, err, err_len);
    tokenizer_from_config(tok, cfg);
    return 0;
}
