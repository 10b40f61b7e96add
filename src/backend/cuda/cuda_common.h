// cuda_common.h: private header of the CUDA backend: the error-check macros, the backend's
// state (device, stream, cuBLASLt handle and workspace, scratch buffers), bf16/fp32 load and
// store helpers, deterministic warp/block reductions, and the op functions that each .cu file
// contributes to the ops table in cuda_backend.cu.
#ifndef LEMMA_CUDA_COMMON_H
#define LEMMA_CUDA_COMMON_H

#include "lemma/backend.h"
#include "lemma/util.h"

#include <cublasLt.h>
#include <cublas_v2.h>
#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <stddef.h>
#include <stdint.h>

typedef __nv_bfloat16 bf16;

// ---------------------------------------------------------------------------
// error checks: every failure is fatal with file:line and the error string.

#define CUDA_CHECK(call)                                                                           \
    do {                                                                                           \
        cudaError_t e_ = (call);                                                                   \
        if (e_ != cudaSuccess)                                                                     \
            lm_fatal_at(__FILE__, __LINE__, "CUDA error %s: %s (in %s)", cudaGetErrorName(e_),     \
                        cudaGetErrorString(e_), #call);                                            \
    } while (0)

#define CUBLAS_CHECK(call)                                                                         \
    do {                                                                                           \
        cublasStatus_t s_ = (call);                                                                \
        if (s_ != CUBLAS_STATUS_SUCCESS)                                                           \
            lm_fatal_at(__FILE__, __LINE__, "cuBLAS error %d (%s) in %s", (int)s_,                 \
                        cublasGetStatusString(s_), #call);                                         \
    } while (0)

// After every kernel launch: a bad launch configuration (or an earlier asynchronous error)
// is reported where it happened.
static inline void cuda_check_last(const char *file, int line) {
    cudaError_t e = cudaGetLastError();
    if (e != cudaSuccess)
        lm_fatal_at(file, line, "CUDA kernel launch failed: %s: %s", cudaGetErrorName(e),
                    cudaGetErrorString(e));
}
#define CUDA_CHECK_LAST() cuda_check_last(__FILE__, __LINE__)

// ---------------------------------------------------------------------------
// backend state

// Device scratch buffers, one per purpose (an op may use several at once).
enum {
    SCR_CONVERT = 0, // upload_act / download_act staging (fp32 chunks)
    SCR_PARTIAL,     // per-block partial sums (rmsnorm_bwd, dbias, sumsq)
    SCR_INDEX,       // embed_bwd row grouping
    SCR_ATTN,        // attention backward: D = rowsum(dout * out)
    N_SCRATCH
};

typedef struct {
    void *p;
    size_t bytes;
} CudaBuf;

typedef struct CudaMatmulCache CudaMatmulCache; // cuda_matmul.cu
typedef struct CudaComm CudaComm;               // cuda_comm.cu

typedef struct {
    int device;                 // CUDA device ordinal
    cudaStream_t stream;        // the one compute stream (non-blocking)
    cublasLtHandle_t lt;        // cuBLASLt
    cublasHandle_t blas;        // cuBLAS, for shapes cuBLASLt finds no algorithm for
    void *lt_ws;                // cuBLASLt workspace
    size_t lt_ws_bytes;
    int n_sm;                   // multiprocessors
    size_t smem_optin;          // largest dynamic shared memory a block may opt into
    CudaBuf scratch[N_SCRATCH]; // device scratch, grown on demand
    void *host_buf;             // host scratch (embed_bwd grouping), grown on demand
    size_t host_bytes;
    CudaMatmulCache *mm;        // cuBLASLt plans per shape
    CudaComm *comm;             // NCCL data parallelism (after dp_init), or NULL
} CudaState;

static inline CudaState *cuda_state(Backend *b) { return (CudaState *)b->impl; }
static inline cudaStream_t cuda_stream(Backend *b) { return cuda_state(b)->stream; }

// Device scratch of at least `bytes` for `slot` (contents not kept across growth). Growing
// waits for the stream first, so no queued kernel still uses the old buffer.
void *cuda_scratch(Backend *b, int slot, size_t bytes);
// Host scratch of at least `bytes` (contents not kept across growth).
void *cuda_host_scratch(Backend *b, size_t bytes);
// cudaMalloc that is fatal, with the sizes and a hint, when out of memory.
void *cuda_alloc_or_die(Backend *b, size_t bytes, const char *what);

// Grid for a grid-stride loop over n items with `threads` per block.
static inline unsigned cuda_grid(size_t n, int threads) {
    size_t g = (n + (size_t)threads - 1) / (size_t)threads;
    if (g < 1) g = 1;
    if (g > 65536u * 16u) g = 65536u * 16u; // grid-stride loops cover the rest
    return (unsigned)g;
}

// Largest power of two (<= 256) that divides the address.
static inline unsigned cuda_align_of(const void *p) {
    uintptr_t a = (uintptr_t)p;
    unsigned al = 256;
    while (al > 1 && (a % al) != 0) al >>= 1;
    return al;
}

// ---------------------------------------------------------------------------
// element access: act tensors are float or bf16, arithmetic is always fp32.

__device__ __forceinline__ float to_f32(float x) { return x; }
__device__ __forceinline__ float to_f32(bf16 x) { return __bfloat162float(x); }

template <typename T> __device__ __forceinline__ T from_f32(float x);
template <> __device__ __forceinline__ float from_f32<float>(float x) { return x; }
template <> __device__ __forceinline__ bf16 from_f32<bf16>(float x) {
    return __float2bfloat16(x); // round to nearest even, as lm_f32_to_bf16
}

// ---------------------------------------------------------------------------
// deterministic reductions (fixed shuffle and shared-memory order)

template <typename F> __device__ __forceinline__ F warp_sum(F v) {
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}

__device__ __forceinline__ float warp_max(float v) {
    for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
    return v;
}

// Sum over the block (blockDim.x a multiple of 32, at most 1024); every thread gets the
// total. sh: 32 elements of shared memory. Contains __syncthreads: call from all threads.
template <typename F> __device__ __forceinline__ F block_sum(F v, F *sh) {
    const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
    const int n_warps = blockDim.x / 32;
    v = warp_sum(v);
    __syncthreads(); // sh may still be read by a previous call
    if (lane == 0) sh[warp] = v;
    __syncthreads();
    v = lane < n_warps ? sh[lane] : (F)0;
    return warp_sum(v);
}

// ---------------------------------------------------------------------------
// the ops, by file (signatures as in backend.h)

// cuda_backend.cu
void cuda_convert_f32_to_act(Backend *b, void *dst, const float *src, size_t n);

// cuda_matmul.cu
CudaMatmulCache *cuda_matmul_cache_create(void);
void cuda_matmul_cache_destroy(CudaMatmulCache *c);
void cuda_matmul_fwd(Backend *b, void *out, const void *inp, const void *w, const void *bias,
                     int N, int C, int OC);
void cuda_matmul_bwd(Backend *b, void *dinp, float *dw_acc, float *dbias_acc, const void *dout,
                     const void *inp, const void *w, int N, int C, int OC);

// cuda_norm.cu
void cuda_rmsnorm_fwd(Backend *b, void *out, float *rstd, const void *inp, const void *w, int N,
                      int C, float eps);
void cuda_residual_rmsnorm_fwd(Backend *b, void *res_out, void *out, float *rstd,
                               const void *res_in, const void *delta, const void *w, int N, int C,
                               float eps);
void cuda_rmsnorm_bwd(Backend *b, void *dinp_acc, float *dw_acc, const void *dout,
                      const void *inp, const void *w, const float *rstd, int N, int C);

// cuda_attention.cu
void cuda_attention_fwd(Backend *b, void *out, float *lse, const void *qkv, const int *seg, int B,
                        int T, int H, int KV, int hd);
void cuda_attention_bwd(Backend *b, void *dqkv, const void *dout, const void *qkv,
                        const void *out, const float *lse, const int *seg, int B, int T, int H,
                        int KV, int hd);

// cuda_decode.cu
void cuda_kv_write(Backend *b, void *kc, void *vc, const void *qkv, const int *slot,
                   const int *pos, int N, int H, int KV, int hd, int ctx, DType kvt);
void cuda_attention_decode(Backend *b, void *out, const void *qkv, const void *kc,
                           const void *vc, const int *slot, const int *pos, int N, int H, int KV,
                           int hd, int ctx, DType kvt);

// cuda_comm.cu
int cuda_dp_init(Backend *b, char *err, size_t err_len);
void cuda_dp_destroy(Backend *b);
void cuda_dp_allreduce_start(Backend *b, float *buf, size_t n);
void cuda_dp_wait(Backend *b);
void cuda_dp_reduce_scatter(Backend *b, float *buf, const size_t *counts, const size_t *displs);
void cuda_dp_allgather(Backend *b, float *buf, const size_t *counts, const size_t *displs);

// cuda_misc.cu
void cuda_embed_fwd(Backend *b, void *out, const int *tok, const int *tok_host, const void *wte,
                    int N, int C);
void cuda_embed_bwd(Backend *b, float *dwte_acc, const void *dout, const int *tok,
                    const int *tok_host, int N, int C, int V);
void cuda_rope(Backend *b, void *qkv, const int *pos, int N, int T, int H, int KV, int hd,
               const double *inv_freq, int inverse);
void cuda_swiglu_fwd(Backend *b, void *out, const void *h, int N, int F);
void cuda_swiglu_bwd(Backend *b, void *dh, const void *dout, const void *h, int N, int F);
void cuda_crossentropy(Backend *b, float *loss, void *dlogits, const void *logits,
                       const int *targets, int N, int V, float dscale);
void cuda_adamw(Backend *b, float *p, void *p_act, const float *g, float *m, float *v, size_t n,
                float lr, float beta1, float beta2, float eps, float wd, float gscale, int t);
double cuda_sumsq(Backend *b, const float *x, size_t n);
void cuda_scale(Backend *b, float *x, float s, size_t n);

#endif
