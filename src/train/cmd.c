// train/cmd: `lemma train CONFIG [--show N]`: the training phase on the model of the config,
// data-parallel with checkpoints and resume in run.dir; --show prints greedy answers to the
// first N built-in test problems afterwards.
#include "lemma/dist.h"
#include "lemma/hub.h"
#include "lemma/train.h"
#include "lemma/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

// After training: greedy answers to the first n built-in test problems (rank 0).
static void train_show(HubModel *h, const Config *cfg, int n) {
    GenParams gp;
    char err[512];
    if (n <= 0 || dist.rank != 0 || gen_params_from_config(&gp, cfg, err, sizeof err) != 0) return;
    int right = 0;
    for (int i = 0; i < n; i++) {
        TaskProblem p;
        if (gen_problem(&gp, TASK_SPLIT_TEST, i, &p) != 0) break;
        char *prompt = tasks_prompt(p.question);
        char *out = hub_greedy_line(h, prompt, h->m.cfg.max_seq);
        char *pred = grade_extract_answer(out, NULL);
        int ok = pred && grade_equal(pred, p.answer);
        right += ok;
        printf("\n--- test problem %d (gold %s, %s)\n%s%s\n", i, p.answer, ok ? "right" : "wrong",
               prompt, out);
        free(pred), free(out), free(prompt);
        tasks_problem_free(&p);
    }
    printf("\ngreedy accuracy on %d test problems: %d/%d\n", n, right, n);
}

static int train_fail(const char *err, int status) {
    if (dist.rank == 0) fprintf(stderr, "lemma train: %s\n", err);
    return status;
}

int train_cmd(const Config *cfg, const char *input, int argc, char **argv) {
    (void)input;
    int show = 0;
    for (int i = 0; i < argc; i++) {
        if (!strcmp(argv[i], "--show") && i + 1 < argc) show = atoi(argv[++i]);
        else {
            if (dist.rank == 0)
                fprintf(stderr, "lemma train: unknown option '%s' (see lemma --help)\n", argv[i]);
            return 2;
        }
    }
    char err[1024];
    TrainOptions o;
    if (train_options_from(&o, cfg, "train", err, sizeof err) != 0) return train_fail(err, 2);
    dist_install_signal_handlers();
    HubModel h;
    if (hub_open_for(&h, cfg, HUB_USE_TRAIN, err, sizeof err) != 0) return train_fail(err, 2);
    TrainData d;
    train_data_init(&d, o.seq_len);
    int rc = train_data_from_config(&d, cfg, &h.tok, cfg_str(cfg, "train.data"), err, sizeof err);
    if (rc == 0) {
        hub_describe(&h, "lemma train");
        lm_info("lemma train: run directory %s", o.run_dir);
        TrainStatus st = train_phase(&h.m, &d, &h.tok, &o, err, sizeof err);
        if (st == TRAIN_FAILED) rc = train_fail(err, 1);
        if (st == TRAIN_DONE) train_show(&h, cfg, show);
    } else {
        rc = train_fail(err, 2);
    }
    train_data_free(&d);
    hub_close(&h);
    return rc;
}
