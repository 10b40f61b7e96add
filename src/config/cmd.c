// config/cmd: `lemma config CONFIG [--dump]`: validates a config (loading it did), and with
// --dump prints the effective configuration with every key's help (rank 0).
#include "lemma/config.h"
#include "lemma/dist.h"
#include "lemma/util.h"

#include <stdio.h>
#include <string.h>

int config_cmd(const Config *cfg, const char *input, int argc, char **argv) {
    int dump = 0;
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--dump") == 0) {
            dump = 1;
        } else {
            if (dist.rank == 0)
                fprintf(stderr, "lemma config: unknown option '%s' (see lemma --help)\n", argv[i]);
            return 2;
        }
    }
    if (dist.rank != 0) return 0;
    if (dump) {
        printf("# lemma %s, world size %d\n", LEMMA_VERSION, dist.size);
        config_dump(cfg, stdout);
    } else {
        printf("%s: ok (world size %d)\n", input, dist.size);
    }
    return 0;
}
