// eval/cmd: 'lemma eval CONFIG [--from DIR] [--label NAME]': the model from the newest checkpoint of DIR (default run.dir; none is
// an error), then the evaluation phase into RUN_DIR/eval.
#include "lemma/dist.h"
#include "lemma/eval.h"
#include "lemma/ckpt.h"
#include "lemma/hub.h"
#include "lemma/util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

// ---------------------------------------------------------------------------
// the command

static int eval_run(const Config *cfg, const EvalOptions *o, const char *from, const char *label) {
    HubModel h;
    char err[1024];
    int rc = hub_open_for(&h, cfg, HUB_USE_EVAL, err, sizeof err);
    if (rc == 0) {
        rc = hub_load(&h, from, err, sizeof err);
        if (rc == 1)
            snprintf(err, sizeof err, "no checkpoint in %s/ckpt: nothing to evaluate (train a "
                     "model first, or name a run directory that has one with --from DIR)", from);
    }
    int status = rc == 0 ? 0 : rc == -1 && !h.be ? 2 : 1;
    if (rc == 0) {
        hub_describe(&h, "lemma eval");
        char out_dir[4096];
        snprintf(out_dir, sizeof out_dir, "%s/eval", cfg_str(cfg, "run.dir"));
        status = eval_phase(&h.m, &h.tok, o, cfg_str(cfg, "run.dir"), out_dir, label, h.step,
                            err, sizeof err);
    }
    if (status != 0 && dist.rank == 0) fprintf(stderr, "lemma eval: %s\n", err);
    hub_close(&h);
    return status;
}

static int eval_usage(const char *fmt, const char *arg) {
    if (dist.rank == 0) {
        fprintf(stderr, "lemma eval: ");
        fprintf(stderr, fmt, arg);
        fprintf(stderr, " (usage: lemma eval CONFIG [--from DIR] [--label NAME])\n");
    }
    return 2;
}

int eval_cmd(const Config *cfg, const char *input, int argc, char **argv) {
    (void)input;
    const char *from = cfg_str(cfg, "run.dir"), *label = "final";
    for (int i = 0; i < argc; i++) {
        int is_from = strcmp(argv[i], "--from") == 0, is_label = strcmp(argv[i], "--label") == 0;
        if (!is_from && !is_label) return eval_usage("unknown option '%s'", argv[i]);
        if (i + 1 >= argc || !argv[i + 1][0]) return eval_usage("option '%s' needs a value", argv[i]);
        if (is_from) from = argv[++i];
        else label = argv[++i];
    }
    EvalOptions o;
    char err[1024];
    int rc = eval_options_from(&o, cfg, err, sizeof err);
    if (rc != 0 && dist.rank == 0) fprintf(stderr, "lemma eval: %s\n", err);
    if (rc == 0) rc = eval_run(cfg, &o, from, label);
    eval_options_free(&o);
    return rc;
}
