// lemma/cmd: 'lemma build CONFIG [--help]': the command-line entry of the build phase.
#include "lemma/dist.h"
#include "lemma/lemma.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define EXIT_USAGE 2

static const char build_help[] =
    "usage: lemma build CONFIG [--set key=value]...\n"
    "Builds training data from graded samples (build.samples, default RUN_DIR/samples.jsonl)\n"
    "and the problems (data.train, or the built-in train split): RUN_DIR/data/train.jsonl,\n"
    "train_alpaca.json, summary.json and error_types.json. Options: build.*, teacher.*\n"
    "(lemma config --reference); docs/lemma.md describes the method and the formats.\n";

int build_cmd(const Config *cfg, const char *input, int argc, char **argv) {
    (void)input;
    for (int i = 0; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            if (dist.rank == 0) fputs(build_help, stdout);
            return 0;
        }
        if (dist.rank == 0) fprintf(stderr, "lemma build: unknown option '%s' (see lemma build CONFIG --help)\n", argv[i]);
        return EXIT_USAGE;
    }
    char err[1024];
    int rc = build_phase(cfg, err, sizeof err);
    if (rc && dist.rank == 0) fprintf(stderr, "lemma build: %s\n", err);
    return rc;
}
