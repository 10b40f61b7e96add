// hub/cmd: the commands about a model itself: `lemma tokenize MODEL [--chat]` (text lines on
// standard input, one {"ids": [...]} line each; --chat: each line as a prompt through the
// model's chat template) and `lemma import PATH --out RUN_DIR` (a run directory
// whose config.cfg names the model and whose step-0 checkpoint holds its weights).
#include "lemma/dist.h"
#include "lemma/hub.h"
#include "lemma/util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static int hub_fail(const char *cmd, const char *msg, int status) {
    if (dist.rank == 0) fprintf(stderr, "lemma %s: %s\n", cmd, msg);
    return status;
}

// One JSON line of ids per line of standard input (the newline ending a line is not part of
// its text). chat: each line as a prompt through the chat template (tokenizer_prompt).
static void tokenize_lines(const Tokenizer *tok, int chat) {
    size_t cap = 0;
    char *line = NULL;
    ssize_t n;
    while ((n = getline(&line, &cap, stdin)) >= 0) {
        if (n > 0 && line[n - 1] == '\n') line[--n] = 0;
        int need = 0, *ids;
        if (chat) {
            ids = tokenizer_prompt(tok, line, 0, &need);
        } else {
            tokenizer_encode(tok, line, NULL, 0, &need);
            ids = lm_malloc(((size_t)need + 1) * sizeof(int));
            tokenizer_encode(tok, line, ids, need, NULL);
        }
        fputs("{\"ids\": [", stdout);
        for (int i = 0; i < need; i++) printf(i ? ", %d" : "%d", ids[i]);
        fputs("]}\n", stdout);
        free(ids);
    }
    free(line);
}

int tokenize_cmd(const Config *cfg, const char *input, int argc, char **argv) {
    (void)input;
    lm_log_to_stderr(); // standard output is the result
    int chat = argc == 1 && !strcmp(argv[0], "--chat");
    if (argc > 0 && !chat)
        return hub_fail("tokenize", "usage: lemma tokenize MODEL [--chat] < TEXT", 2);
    Tokenizer tok;
    char err[2048];
    if (hub_open_tokenizer(&tok, cfg, err, sizeof err) != 0) return hub_fail("tokenize", err, 2);
    if (dist.rank == 0) tokenize_lines(&tok, chat);
    tokenizer_free(&tok);
    return 0;
}

// RUN_DIR/config.cfg: cfg as `lemma config --dump` prints it; text gets the same (malloc'd).
static int import_write_config(const Config *cfg, const char *dir, char **text, char *err,
                               size_t err_len) {
    *text = config_dump_text(cfg);
    if (dist.rank != 0) return 0;
    char path[4200];
    snprintf(path, sizeof path, "%s/config.cfg", dir);
    FILE *f = mkdir(dir, 0777) == 0 || errno == EEXIST ? fopen(path, "w") : NULL;
    if (!f || fputs(*text, f) < 0 || fclose(f) != 0) {
        snprintf(err, err_len, "cannot write %.2000s: %s", path, strerror(errno));
        return -1;
    }
    return 0;
}

int import_cmd(const Config *cfg, const char *input, int argc, char **argv) {
    const char *out = NULL;
    for (int i = 0; i < argc; i++) {
        if (!strcmp(argv[i], "--out") && i + 1 < argc) out = argv[++i];
        else return hub_fail("import", "usage: lemma import PATH --out RUN_DIR", 2);
    }
    if (!out || !cfg_str(cfg, "model.from")[0])
        return hub_fail("import", "usage: lemma import PATH --out RUN_DIR (PATH: a Hugging Face "
                        "directory or a .gguf file)", 2);
    char abs[4096], set[4200], err[2048];
    Config c2;
    if (!realpath(input, abs)) snprintf(abs, sizeof abs, "%s", input);
    snprintf(set, sizeof set, "model.from=%s", abs);
    char *sets[2] = {set, NULL};
    char dirset[4200];
    snprintf(dirset, sizeof dirset, "run.dir=%s", out);
    sets[1] = dirset;
    if (hub_resolve(abs, sets, 2, &c2, err, sizeof err) != 0) return hub_fail("import", err, 2);
    HubModel h;
    int rc = hub_open(&h, &c2, err, sizeof err) ? 2 : 0;
    char *text = NULL;
    if (rc == 0 && dist_any(import_write_config(&c2, out, &text, err, sizeof err) != 0)) rc = 1;
    if (rc == 0) {
        model_alloc_moments(&h.m);
        CkptMeta meta = {0};
        snprintf(meta.phase, sizeof meta.phase, "import");
        meta.config_text = text;
        if (hub_ckpt_save(&h.m, out, &meta, 0, err, sizeof err) != 0) rc = 1;
    }
    if (rc == 0)
        lm_info("lemma import: %s -> %s (config.cfg; checkpoint ckpt/step_00000000.h5, %.2fM "
                "parameters)", abs, out, h.m.layout.n_params / 1e6);
    free(text);
    hub_close(&h);
    config_free(&c2);
    return rc ? hub_fail("import", err, rc) : 0;
}
