// tests/mpi/mpi_check.c: a small MPI program driven by tests/shell/test_mpi.sh.
//   mpi_check world        each rank prints "rank R size S local L/LS"
//   mpi_check rng N        the first N draws of (seed, stream) split over ranks by index,
//                          gathered on rank 0 in global order and printed as a checksum
//   mpi_check abort R      rank R calls dist_abort; every rank must end
//   mpi_check signal R     rank R raises SIGUSR1; dist_should_stop() must be 1 everywhere
#include "lemma/dist.h"
#include "lemma/util.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void cmd_rng(long n) {
    // Each rank draws the indices i with i % size == rank, as a data-parallel phase would.
    double *mine = calloc((size_t)n, sizeof(double));
    for (long i = dist.rank; i < n; i += dist.size) {
        mine[i] = (double)lm_rng_u32(1234, LM_STREAM_TEST, (uint64_t)i) +
                  (double)lm_rng_normal(1234, LM_STREAM_DATA, (uint64_t)i);
    }
    dist_allreduce_sum_f64(mine, (size_t)n);
    if (dist.rank == 0) {
        unsigned long long h = 1469598103934665603ull; // FNV-1a over the values
        for (long i = 0; i < n; i++) {
            unsigned char b[8];
            memcpy(b, &mine[i], 8);
            for (int k = 0; k < 8; k++) h = (h ^ b[k]) * 1099511628211ull;
        }
        printf("rng %ld %016llx first %.0f\n", n, h, mine[0]);
    }
    free(mine);
}

int main(int argc, char **argv) {
    dist_init(&argc, &argv);
    dist_install_signal_handlers();
    const char *cmd = argc > 1 ? argv[1] : "world";
    long arg = argc > 2 ? atol(argv[2]) : 0;
    if (!strcmp(cmd, "world")) {
        printf("rank %d size %d local %d/%d\n", dist.rank, dist.size, dist.local_rank, dist.local_size);
    } else if (!strcmp(cmd, "rng")) {
        cmd_rng(arg);
    } else if (!strcmp(cmd, "abort")) {
        if (dist.rank == arg) dist_abort(3, "test abort requested");
        // The other ranks must be ended by the abort, not by this returning (a signal,
        // caught by our SIGTERM handler, interrupts sleep: keep sleeping).
        double t0 = lm_now();
        while (lm_now() - t0 < 20) sleep(1);
        printf("rank %d survived the abort\n", dist.rank);
    } else if (!strcmp(cmd, "signal")) {
        if (dist.rank == arg) raise(SIGUSR1);
        int stop = dist_should_stop();
        printf("rank %d stop %d seen %d\n", dist.rank, stop, dist_signal_seen());
    } else {
        fprintf(stderr, "unknown command %s\n", cmd);
        dist_finalize();
        return 2;
    }
    fflush(stdout);
    dist_finalize();
    return 0;
}
