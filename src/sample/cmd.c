// sample/cmd: 'lemma sample CONFIG': the model (parameters of the newest checkpoint in
// run.dir, else a fresh random model with a warning), the sampling phase, and its report
// (printed, and one line in RUN_DIR/metrics.jsonl).
#include "lemma/dist.h"
#include "lemma/hub.h"
#include "lemma/sample.h"
#include "lemma/util.h"

#include <stdio.h>

// ---------------------------------------------------------------------------
// the command

static int sample_run(const Config *cfg, const SampleOptions *o) {
    HubModel h;
    char err[1024];
    if (hub_open_for(&h, cfg, HUB_USE_SAMPLE, err, sizeof err) != 0) {
        if (dist.rank == 0) fprintf(stderr, "lemma sample: %s\n", err);
        return 2;
    }
    int rc = hub_load(&h, o->run_dir, err, sizeof err);
    if (rc == 1 && dist.rank == 0)
        lm_warn("no checkpoint in %s/ckpt: sampling from a randomly initialised model", o->run_dir);
    int status = 0;
    if (rc < 0) {
        if (dist.rank == 0) fprintf(stderr, "lemma sample: %s\n", err);
        status = 1;
    } else {
        hub_describe(&h, "lemma sample");
        SampleSummary sum;
        SampleStatus st = sample_phase(&h.m, &h.tok, o, &sum, err, sizeof err);
        if (st == SAMPLE_DONE) sample_report(o, &sum);
        if (st == SAMPLE_STOPPED)
            lm_info("sample: stopped by a signal or the time limit; finished samples are kept "
                    "in %s/samples: run the same command to go on", o->run_dir);
        if ((st == SAMPLE_FAILED || st == SAMPLE_BAD_INPUT) && dist.rank == 0)
            fprintf(stderr, "lemma sample: %s\n", err);
        status = st == SAMPLE_FAILED ? 1 : st == SAMPLE_BAD_INPUT ? 2 : 0;
    }
    hub_close(&h);
    return status;
}

int sample_cmd(const Config *cfg, const char *input, int argc, char **argv) {
    (void)input;
    if (argc > 0) {
        if (dist.rank == 0)
            fprintf(stderr, "lemma sample: unknown option '%s' (see lemma --help)\n", argv[0]);
        return 2;
    }
    SampleOptions o;
    char err[1024];
    if (sample_options_from(&o, cfg, err, sizeof err) != 0) {
        if (dist.rank == 0) fprintf(stderr, "lemma sample: %s\n", err);
        sample_options_free(&o);
        return 2;
    }
    dist_install_signal_handlers();
    int rc = sample_run(cfg, &o);
    sample_options_free(&o);
    return rc;
}
