// dist: the MPI world (rank, size, local rank), job-wide abort, signals turned into a
// collective stop decision, and thin collective wrappers. Built without MPI
// (USE_MPI=0, for GPU machines that lack it) it is a world of one rank.
#ifndef LEMMA_DIST_H
#define LEMMA_DIST_H

#include <stddef.h>

#if LEMMA_MPI && !defined(__CUDACC__)
#include <mpi.h>
// Checks an MPI call; prints file:line and MPI's own message, then ends the job.
#define MPI_CHECK(call)                                                                            \
    do {                                                                                           \
        int mpi_rc_ = (call);                                                                      \
        if (mpi_rc_ != MPI_SUCCESS) dist_mpi_fail(mpi_rc_, #call, __FILE__, __LINE__);             \
    } while (0)
void dist_mpi_fail(int rc, const char *what, const char *file, int line) __attribute__((noreturn));
#endif

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    int rank, size;             // world
    int local_rank, local_size; // within the node (MPI_Comm_split_type SHARED)
    int initialized;
} Dist;

extern Dist dist; // the process-wide world, valid after dist_init

void dist_init(int *argc, char ***argv);
void dist_finalize(void);
// Prints "lemma: [rank R] message" and ends every rank of the job.
void dist_abort(int code, const char *fmt, ...) __attribute__((noreturn, format(printf, 2, 3)));

// SIGTERM and SIGUSR1 set a flag (dist_signal_seen); dist_should_stop() is collective:
// every rank calls it at the same point and all get the same answer (any rank saw one).
void dist_install_signal_handlers(void);
int dist_signal_seen(void);
// dist_signal_defer(1) ... dist_signal_defer(0): a second signal in between (which would exit
// at once) exits only at the end, so that what is between happens whole (a checkpoint's rename
// and its `latest`).
void dist_signal_defer(int on);
int dist_signal_number(void); // the signal seen (SIGTERM, SIGUSR1), 0 if none
int dist_should_stop(void);
// The watchdog (run.hang_timeout): with 2 or more ranks, a thread ends this rank (status 3,
// naming the operation) when one collective has lasted longer than `seconds` (0: off), so that
// a stopped or lost rank ends the job instead of hanging it until the Slurm limit. The
// collectives here are watched; dist_watch(NAME) ... dist_watch(NULL) watches a longer
// collective section (a checkpoint write).
void dist_watchdog_start(double seconds);
void dist_watch(const char *op);

// Collective logical OR of a flag over all ranks.
int dist_any(int flag);
// Collective: an error that some ranks met (failed, err) becomes every rank's. Returns 1 when
// any rank failed, with err on every rank the message of the lowest failing rank ("rank R:
// ..." when that is not this rank); 0 when none did (err untouched).
int dist_agree(int failed, char *err, size_t err_len);

// OpenMP threads for this rank: `requested` when > 0 (run.threads), else OMP_NUM_THREADS when
// set, else the node's cores shared among the ranks on it (at least 1).
int dist_threads_per_rank(int requested);

void dist_barrier(void);
void dist_allreduce_sum_f32(float *buf, size_t n);
void dist_allreduce_sum_f64(double *buf, size_t n);
// Sums n longs over the ranks in place (counters; exact).
void dist_allreduce_sum_long(long *v, size_t n);
void dist_allreduce_max_i64(long long *v);
void dist_bcast(void *buf, size_t bytes, int root);

// Non-blocking in-place sum of n floats over all ranks (started now, finished by
// dist_wait_all); dist_progress lets pending reductions advance (call it now and then).
void dist_iallreduce_sum_f32(float *buf, size_t n);
void dist_progress(void);
void dist_wait_all(void);
// Sharded reductions over a buffer cut into one contiguous slice per rank (rank r owns
// [displs[r], displs[r] + counts[r])): reduce-scatter sums buf over ranks into this rank's
// slice of buf; allgather copies each rank's slice of buf to every rank.
void dist_reduce_scatter_sum_f32(float *buf, const size_t *counts, const size_t *displs);
void dist_allgather_f32(float *buf, const size_t *counts, const size_t *displs);

#ifdef __cplusplus
}
#endif
#endif
