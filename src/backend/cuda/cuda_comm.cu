// cuda_comm.cu: data parallelism on device memory with NCCL (backend.h, dp_* ops): one
// communicator per rank on its GPU, the unique id broadcast over MPI; one communication
// stream beside the compute stream, ordered against it with events, so that a gradient
// reduction started after a block's backward runs while the rest of the backward computes.
// NCCL is loaded at run time (dlopen of $LEMMA_NCCL_LIB, else libnccl.so.2): the binary runs
// where it is missing, and the trainer then stages gradients through host memory and MPI.
// Uneven slices (the sharded optimizer's) go as one NCCL group of reduces (reduce-scatter)
// or broadcasts (all-gather), one per rank.
#include "cuda_common.h"
#include "lemma/dist.h"

#include <dlfcn.h>
#include <nccl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct CudaComm {
    void *lib;
    ncclResult_t (*get_unique_id)(ncclUniqueId *);
    ncclResult_t (*comm_init_rank)(ncclComm_t *, int, ncclUniqueId, int);
    ncclResult_t (*comm_destroy)(ncclComm_t);
    ncclResult_t (*all_reduce)(const void *, void *, size_t, ncclDataType_t, ncclRedOp_t,
                               ncclComm_t, cudaStream_t);
    ncclResult_t (*reduce)(const void *, void *, size_t, ncclDataType_t, ncclRedOp_t, int,
                           ncclComm_t, cudaStream_t);
    ncclResult_t (*broadcast)(const void *, void *, size_t, ncclDataType_t, int, ncclComm_t,
                              cudaStream_t);
    ncclResult_t (*group_start)(void);
    ncclResult_t (*group_end)(void);
    const char *(*error_string)(ncclResult_t);
    ncclComm_t comm;
    cudaStream_t stream;     // communication
    cudaEvent_t ready, done; // compute -> communication, communication -> compute
} CudaComm;

// Checks an NCCL call: fatal on every rank with file:line and NCCL's message.
#define NCCL_CHECK(cc, call)                                                                       \
    do {                                                                                           \
        ncclResult_t r_ = (call);                                                                  \
        if (r_ != ncclSuccess)                                                                     \
            dist_abort(1, "%s:%d: NCCL error %d (%s) in %s", __FILE__, __LINE__, (int)r_,          \
                       (cc)->error_string ? (cc)->error_string(r_) : "?", #call);                  \
    } while (0)

// Loads libnccl and its entry points; 0 with a message in err when it cannot.
static int comm_load(CudaComm *cc, char *err, size_t err_len) {
    const char *path = getenv("LEMMA_NCCL_LIB");
    if (!path || !*path) path = "libnccl.so.2";
    cc->lib = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!cc->lib) {
        snprintf(err, err_len, "cannot load NCCL (%s); set LEMMA_NCCL_LIB to libnccl.so.2's path",
                 dlerror());
        return 0;
    }
    struct {
        void **fn;
        const char *name;
    } syms[] = {{(void **)&cc->get_unique_id, "ncclGetUniqueId"},
                {(void **)&cc->comm_init_rank, "ncclCommInitRank"},
                {(void **)&cc->comm_destroy, "ncclCommDestroy"},
                {(void **)&cc->all_reduce, "ncclAllReduce"},
                {(void **)&cc->reduce, "ncclReduce"},
                {(void **)&cc->broadcast, "ncclBroadcast"},
                {(void **)&cc->group_start, "ncclGroupStart"},
                {(void **)&cc->group_end, "ncclGroupEnd"},
                {(void **)&cc->error_string, "ncclGetErrorString"}};
    for (size_t i = 0; i < sizeof syms / sizeof syms[0]; i++) {
        *syms[i].fn = dlsym(cc->lib, syms[i].name);
        if (!*syms[i].fn) {
            snprintf(err, err_len, "%s has no %s", path, syms[i].name);
            return 0;
        }
    }
    return 1;
}

static void comm_unload(CudaComm *cc) {
    if (cc->lib) dlclose(cc->lib);
    free(cc);
}

int cuda_dp_init(Backend *b, char *err, size_t err_len) {
    CudaState *st = cuda_state(b);
    if (st->comm) return 1;
    err[0] = 0;
    CudaComm *cc = (CudaComm *)lm_calloc(1, sizeof(CudaComm));
    int ok = comm_load(cc, err, err_len);
    // NCCL wants one rank per GPU: ranks sharing a GPU stage through host memory instead.
    if (ok && dist.local_size > backend_cuda_device_count()) {
        snprintf(err, err_len, "%d ranks on this node share %d GPU(s); NCCL needs one GPU per rank",
                 dist.local_size, backend_cuda_device_count());
        ok = 0;
    }
    if (dist_any(!ok)) { // every rank takes the same path
        if (ok) snprintf(err, err_len, "NCCL is not usable on every rank");
        comm_unload(cc);
        return 0;
    }
    ncclUniqueId id;
    if (dist.rank == 0) NCCL_CHECK(cc, cc->get_unique_id(&id));
    dist_bcast(&id, sizeof id, 0);
    CUDA_CHECK(cudaSetDevice(st->device));
    NCCL_CHECK(cc, cc->comm_init_rank(&cc->comm, dist.size, id, dist.rank));
    CUDA_CHECK(cudaStreamCreateWithFlags(&cc->stream, cudaStreamNonBlocking));
    CUDA_CHECK(cudaEventCreateWithFlags(&cc->ready, cudaEventDisableTiming));
    CUDA_CHECK(cudaEventCreateWithFlags(&cc->done, cudaEventDisableTiming));
    st->comm = cc;
    return 1;
}

void cuda_dp_destroy(Backend *b) {
    CudaComm *cc = cuda_state(b)->comm;
    if (!cc) return;
    CUDA_CHECK(cudaStreamSynchronize(cc->stream));
    NCCL_CHECK(cc, cc->comm_destroy(cc->comm));
    CUDA_CHECK(cudaEventDestroy(cc->ready));
    CUDA_CHECK(cudaEventDestroy(cc->done));
    CUDA_CHECK(cudaStreamDestroy(cc->stream));
    comm_unload(cc);
    cuda_state(b)->comm = NULL;
}

static CudaComm *comm_of(Backend *b) {
    CudaComm *cc = cuda_state(b)->comm;
    LM_CHECK(cc != NULL, "data-parallel op before dp_init");
    return cc;
}

// The communication stream waits for what the compute stream has queued so far.
static void comm_after_compute(Backend *b, CudaComm *cc) {
    CUDA_CHECK(cudaEventRecord(cc->ready, cuda_stream(b)));
    CUDA_CHECK(cudaStreamWaitEvent(cc->stream, cc->ready, 0));
}

void cuda_dp_allreduce_start(Backend *b, float *buf, size_t n) {
    CudaComm *cc = comm_of(b);
    comm_after_compute(b, cc);
    NCCL_CHECK(cc, cc->all_reduce(buf, buf, n, ncclFloat32, ncclSum, cc->comm, cc->stream));
}

void cuda_dp_wait(Backend *b) {
    CudaComm *cc = comm_of(b);
    CUDA_CHECK(cudaEventRecord(cc->done, cc->stream));
    CUDA_CHECK(cudaStreamWaitEvent(cuda_stream(b), cc->done, 0));
}

// One NCCL group of per-rank collectives over the slices (counts[r] at displs[r]): a reduce
// onto rank r (reduce-scatter) or a broadcast from rank r (all-gather); uneven slices are
// fine, which NCCL's own reduce-scatter and all-gather do not allow.
static void comm_per_rank(Backend *b, float *buf, const size_t *counts, const size_t *displs,
                          int reduce) {
    CudaComm *cc = comm_of(b);
    comm_after_compute(b, cc);
    NCCL_CHECK(cc, cc->group_start());
    for (int r = 0; r < dist.size; r++) {
        float *p = buf + displs[r];
        if (counts[r] == 0) continue;
        if (reduce) NCCL_CHECK(cc, cc->reduce(p, p, counts[r], ncclFloat32, ncclSum, r, cc->comm, cc->stream));
        else NCCL_CHECK(cc, cc->broadcast(p, p, counts[r], ncclFloat32, r, cc->comm, cc->stream));
    }
    NCCL_CHECK(cc, cc->group_end());
    cuda_dp_wait(b);
}

void cuda_dp_reduce_scatter(Backend *b, float *buf, const size_t *counts, const size_t *displs) {
    comm_per_rank(b, buf, counts, displs, 1);
}

void cuda_dp_allgather(Backend *b, float *buf, const size_t *counts, const size_t *displs) {
    comm_per_rank(b, buf, counts, displs, 0);
}
