// dist: the MPI world. Works as a singleton (no launcher), under mpirun and under
// srun --mpi=pmix. Built with LEMMA_MPI=0 it is a world of one rank with no-op collectives.
#include "lemma/dist.h"
#include "lemma/util.h"

#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#ifdef _OPENMP
#include <omp.h>
#endif

Dist dist = {0, 1, 0, 1, 0};
static volatile sig_atomic_t signal_flag;

#if LEMMA_MPI
void dist_mpi_fail(int rc, const char *what, const char *file, int line) {
    char msg[MPI_MAX_ERROR_STRING] = {0};
    int len = 0;
    MPI_Error_string(rc, msg, &len);
    lm_fatal_at(file, line, "MPI call failed: %s: %s", what, msg);
}

static void dist_abort_hook(int code) {
    int up = 0;
    MPI_Initialized(&up);
    if (up) MPI_Abort(MPI_COMM_WORLD, code);
    exit(code);
}

void dist_init(int *argc, char ***argv) {
    int provided = 0;
    MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided);
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    MPI_CHECK(MPI_Comm_rank(MPI_COMM_WORLD, &dist.rank));
    MPI_CHECK(MPI_Comm_size(MPI_COMM_WORLD, &dist.size));
    MPI_Comm node;
    MPI_CHECK(MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, dist.rank, MPI_INFO_NULL,
                                  &node));
    MPI_CHECK(MPI_Comm_rank(node, &dist.local_rank));
    MPI_CHECK(MPI_Comm_size(node, &dist.local_size));
    MPI_Comm_free(&node);
    dist.initialized = 1;
    lm_set_abort_hook(dist_abort_hook, dist.rank);
}

void dist_finalize(void) {
    if (!dist.initialized) return;
    MPI_Finalize();
    dist.initialized = 0;
}

// ---------------------------------------------------------------------------
// The watchdog: the collective this rank is in (name, since when), and a thread that ends the
// rank when one lasts longer than run.hang_timeout (mpirun or srun then end the others).

static const char *volatile watch_op;
static volatile double watch_since;
static double watch_timeout;

void dist_watch(const char *op) {
    if (op) watch_since = lm_now();
    watch_op = op;
}

#define WATCHED(name, call) \
    do { \
        const char *outer_ = watch_op; \
        if (!outer_) dist_watch(name); \
        MPI_CHECK(call); \
        if (!outer_) dist_watch(NULL); \
    } while (0)

static void *watchdog_main(void *arg) {
    (void)arg;
    for (;;) {
        sleep(1);
        const char *op = watch_op;
        double waited = lm_now() - watch_since;
        if (!op || waited <= watch_timeout) continue;
        fprintf(stderr, "lemma: [rank %d] no progress for %.0f s in %s (run.hang_timeout = %.0f): "
                "another rank is stopped, lost or much slower; ending the job\n", dist.rank,
                waited, op, watch_timeout);
        fflush(stderr);
        _exit(3);
    }
    return NULL;
}

void dist_watchdog_start(double seconds) {
    static int started;
    watch_timeout = seconds;
    if (started || seconds <= 0 || dist.size < 2) return;
    pthread_t th;
    if (pthread_create(&th, NULL, watchdog_main, NULL) == 0) pthread_detach(th), started = 1;
}

int dist_any(int flag) {
    int mine = flag ? 1 : 0, any = 0;
    WATCHED("allreduce", MPI_Allreduce(&mine, &any, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD));
    return any;
}

int dist_should_stop(void) {
    int mine = signal_flag ? 1 : 0, any = 0;
    WATCHED("allreduce", MPI_Allreduce(&mine, &any, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD));
    return any;
}

void dist_barrier(void) { WATCHED("barrier", MPI_Barrier(MPI_COMM_WORLD)); }

void dist_allreduce_sum_f32(float *buf, size_t n) {
    for (size_t off = 0; off < n; off += 1 << 30) { // MPI counts are int
        int cnt = (int)(n - off < (1u << 30) ? n - off : (1u << 30));
        WATCHED("allreduce", MPI_Allreduce(MPI_IN_PLACE, buf + off, cnt, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD));
    }
}

void dist_allreduce_sum_f64(double *buf, size_t n) {
    for (size_t off = 0; off < n; off += 1 << 30) {
        int cnt = (int)(n - off < (1u << 30) ? n - off : (1u << 30));
        WATCHED("allreduce", MPI_Allreduce(MPI_IN_PLACE, buf + off, cnt, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD));
    }
}

void dist_allreduce_sum_long(long *v, size_t n) {
    for (size_t off = 0; off < n; off += 1 << 30) {
        int cnt = (int)(n - off < (1u << 30) ? n - off : (1u << 30));
        WATCHED("allreduce", MPI_Allreduce(MPI_IN_PLACE, v + off, cnt, MPI_LONG, MPI_SUM, MPI_COMM_WORLD));
    }
}

void dist_allreduce_max_i64(long long *v) {
    WATCHED("allreduce", MPI_Allreduce(MPI_IN_PLACE, v, 1, MPI_LONG_LONG, MPI_MAX, MPI_COMM_WORLD));
}

void dist_bcast(void *buf, size_t bytes, int root) {
    char *p = buf;
    for (size_t off = 0; off < bytes; off += 1 << 30) {
        int cnt = (int)(bytes - off < (1u << 30) ? bytes - off : (1u << 30));
        WATCHED("broadcast", MPI_Bcast(p + off, cnt, MPI_BYTE, root, MPI_COMM_WORLD));
    }
}

// Pending non-blocking reductions.
static MPI_Request *pending;
static int n_pending, cap_pending;

void dist_iallreduce_sum_f32(float *buf, size_t n) {
    for (size_t off = 0; off < n; off += 1 << 30) {
        int cnt = (int)(n - off < (1u << 30) ? n - off : (1u << 30));
        if (n_pending == cap_pending) {
            cap_pending = cap_pending ? 2 * cap_pending : 64;
            pending = lm_realloc(pending, (size_t)cap_pending * sizeof(MPI_Request));
        }
        MPI_CHECK(MPI_Iallreduce(MPI_IN_PLACE, buf + off, cnt, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD,
                                 &pending[n_pending++]));
    }
}

void dist_progress(void) {
    int done = 0;
    if (n_pending) MPI_CHECK(MPI_Testall(n_pending, pending, &done, MPI_STATUSES_IGNORE));
}

void dist_wait_all(void) {
    if (n_pending) WATCHED("gradient reduction", MPI_Waitall(n_pending, pending, MPI_STATUSES_IGNORE));
    n_pending = 0;
}

// MPI counts are int: the slices of a sharded buffer must each be below 2^31 elements.
static void dist_int_counts(const size_t *counts, const size_t *displs, int *ic, int *id) {
    for (int r = 0; r < dist.size; r++) {
        LM_CHECK(counts[r] < (1u << 31) && displs[r] < (1u << 31),
                 "sharded buffer slice too large for MPI counts (%zu)", counts[r]);
        ic[r] = (int)counts[r], id[r] = (int)displs[r];
    }
}

void dist_reduce_scatter_sum_f32(float *buf, const size_t *counts, const size_t *displs) {
    int *ic = lm_malloc(2 * (size_t)dist.size * sizeof(int)), *id = ic + dist.size;
    dist_int_counts(counts, displs, ic, id);
    float *mine = lm_malloc((counts[dist.rank] ? counts[dist.rank] : 1) * sizeof(float));
    // The slices are contiguous and in rank order, as MPI_Reduce_scatter expects.
    WATCHED("reduce-scatter", MPI_Reduce_scatter(buf + displs[0], mine, ic, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD));
    memcpy(buf + displs[dist.rank], mine, counts[dist.rank] * sizeof(float));
    free(mine);
    free(ic);
}

void dist_allgather_f32(float *buf, const size_t *counts, const size_t *displs) {
    int *ic = lm_malloc(2 * (size_t)dist.size * sizeof(int)), *id = ic + dist.size;
    dist_int_counts(counts, displs, ic, id);
    WATCHED("allgather", MPI_Allgatherv(MPI_IN_PLACE, 0, MPI_DATATYPE_NULL, buf, ic, id, MPI_FLOAT,
                             MPI_COMM_WORLD));
    free(ic);
}

#else // a world of one rank

void dist_init(int *argc, char ***argv) {
    (void)argc;
    (void)argv;
    dist.initialized = 1;
    lm_set_abort_hook(NULL, 0);
}
void dist_finalize(void) { dist.initialized = 0; }
int dist_should_stop(void) { return signal_flag ? 1 : 0; }
void dist_watch(const char *op) { (void)op; }
void dist_watchdog_start(double seconds) { (void)seconds; }
int dist_any(int flag) { return flag ? 1 : 0; }
void dist_barrier(void) {}
void dist_allreduce_sum_f32(float *buf, size_t n) { (void)buf, (void)n; }
void dist_allreduce_sum_f64(double *buf, size_t n) { (void)buf, (void)n; }
void dist_allreduce_sum_long(long *v, size_t n) { (void)v, (void)n; }
void dist_allreduce_max_i64(long long *v) { (void)v; }
void dist_bcast(void *buf, size_t bytes, int root) { (void)buf, (void)bytes, (void)root; }
void dist_iallreduce_sum_f32(float *buf, size_t n) { (void)buf, (void)n; }
void dist_progress(void) {}
void dist_wait_all(void) {}
void dist_reduce_scatter_sum_f32(float *buf, const size_t *counts, const size_t *displs) {
    (void)buf, (void)counts, (void)displs;
}
void dist_allgather_f32(float *buf, const size_t *counts, const size_t *displs) {
    (void)buf, (void)counts, (void)displs;
}
#endif

void dist_abort(int code, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "lemma: [rank %d] ", dist.rank);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    fflush(stderr);
#if LEMMA_MPI
    if (dist.initialized && dist.size > 1) MPI_Abort(MPI_COMM_WORLD, code);
    dist_finalize();
#endif
    exit(code);
}

static volatile sig_atomic_t defer_depth, deferred_exit; // dist_signal_defer

// The first SIGTERM/SIGUSR1 asks for a checkpoint and a clean stop; a second one exits now,
// or at the end of a section that dist_signal_defer protects.
static void dist_on_signal(int sig) {
    if (signal_flag && defer_depth > 0) {
        deferred_exit = sig;
        return;
    }
    if (signal_flag) {
        static const char msg[] = "lemma: second signal, exiting at once\n";
        ssize_t rc = write(2, msg, sizeof msg - 1);
        (void)rc;
        _exit(128 + sig);
    }
    signal_flag = sig;
}

void dist_install_signal_handlers(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = dist_on_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGUSR1, &sa, NULL);
}

int dist_agree(int failed, char *err, size_t err_len) {
    long long neg_first = failed ? -(long long)dist.rank : -(long long)dist.size;
    dist_allreduce_max_i64(&neg_first); // the lowest failing rank
    int first = (int)-neg_first;
    if (first >= dist.size) return 0;
    char msg[2048];
    snprintf(msg, sizeof msg, "%s", dist.rank == first && err ? err : "");
    dist_bcast(msg, sizeof msg, first);
    if (dist.rank != first && err) snprintf(err, err_len, "rank %d: %s", first, msg);
    return 1;
}

void dist_signal_defer(int on) {
    if (on) {
        defer_depth++;
        return;
    }
    if (defer_depth > 0) defer_depth--;
    if (defer_depth == 0 && deferred_exit) {
        static const char msg[] = "lemma: second signal, exiting now that the checkpoint is published\n";
        ssize_t rc = write(2, msg, sizeof msg - 1);
        (void)rc;
        _exit(128 + deferred_exit);
    }
}

int dist_signal_seen(void) { return signal_flag ? 1 : 0; }
int dist_signal_number(void) { return (int)signal_flag; }

int dist_threads_per_rank(int requested) {
    if (requested > 0) return requested;
#ifdef _OPENMP
    if (getenv("OMP_NUM_THREADS")) return omp_get_max_threads();
#endif
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    long t = cores / (dist.local_size > 0 ? dist.local_size : 1);
    return t < 1 ? 1 : (int)t;
}
