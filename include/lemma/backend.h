// backend: the ops table that the model calls. One table, two implementations: the CPU
// (fp32, OpenBLAS sgemm, OpenMP; the reference) and CUDA (bf16 or fp32 compute, cuBLASLt,
// fused kernels). Nothing above this header knows which one runs.
//
// Conventions for every op:
//   - pointers are backend memory (device memory for CUDA) unless named *_host;
//   - "act" tensors are in the backend's activation dtype (Backend.act: fp32 or bf16),
//     and so are the compute copies of the weights; gradients of weights, norms' rstd,
//     attention's logsumexp, losses and the optimizer state are always fp32;
//   - N = B*T rows; row n is (b = n / T, t = n % T); matrices are row-major;
//   - outputs named d*_acc are accumulated into (+=), every other output is overwritten.
#ifndef LEMMA_BACKEND_H
#define LEMMA_BACKEND_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum { DT_F32 = 0, DT_BF16 = 1 } DType;

// Bytes per element of a dtype.
static inline size_t lm_dtype_size(DType t) { return t == DT_BF16 ? 2 : 4; }

typedef struct Backend Backend;

struct Backend {
    const char *name; // "cpu" or "cuda"
    DType act;        // dtype of activations and compute weights
    size_t act_size;  // bytes per act element
    int threads;      // CPU threads used (cpu backend)
    int host_memory;  // 1 when backend memory is host memory (pointers usable directly)
    void *impl;       // backend private state

    // ---- memory. alloc never returns NULL: out of memory is fatal with the sizes asked for.
    void *(*alloc)(Backend *b, size_t bytes, const char *what);
    void (*free)(Backend *b, void *p);
    // The memory an alloc of `bytes` takes (its rounding to pages; the memory plan counts
    // this); NULL: bytes.
    size_t (*alloc_bytes)(const Backend *b, size_t bytes);
    void (*upload)(Backend *b, void *dst, const void *src_host, size_t bytes);
    void (*download)(Backend *b, void *dst_host, const void *src, size_t bytes);
    void (*zero)(Backend *b, void *p, size_t bytes);
    void (*sync)(Backend *b);
    // fp32 host <-> act device, and fp32 device -> act device (n elements).
    void (*upload_act)(Backend *b, void *dst, const float *src_host, size_t n);
    void (*download_act)(Backend *b, float *dst_host, const void *src, size_t n);
    void (*cast_to_act)(Backend *b, void *dst, const float *src, size_t n);

    // ---- ops
    // out[n,:] = wte[tok[n],:]. tok: (N) int32 in backend memory; tok_host: the same on the host.
    void (*embed_fwd)(Backend *b, void *out, const int *tok, const int *tok_host, const void *wte,
                      int N, int C);
    // dwte_acc[tok[n],:] += dout[n,:]; deterministic (same sum order every run).
    void (*embed_bwd)(Backend *b, float *dwte_acc, const void *dout, const int *tok,
                      const int *tok_host, int N, int C, int V);

    // out (N,OC) = inp (N,C) @ w^T (w: OC,C) [+ bias (OC)]. bias may be NULL.
    void (*matmul_fwd)(Backend *b, void *out, const void *inp, const void *w, const void *bias,
                       int N, int C, int OC);
    // dinp (N,C) = dout @ w (skipped when NULL); dw_acc (OC,C) += dout^T @ inp;
    // dbias_acc (OC) += column sums of dout (skipped when NULL).
    void (*matmul_bwd)(Backend *b, void *dinp, float *dw_acc, float *dbias_acc, const void *dout,
                       const void *inp, const void *w, int N, int C, int OC);

    // out = inp / rms(inp) * w, rstd[n] = 1/sqrt(mean(inp[n]^2) + eps).
    void (*rmsnorm_fwd)(Backend *b, void *out, float *rstd, const void *inp, const void *w, int N,
                        int C, float eps);
    // res_out = res_in + delta (may alias res_in), then out = rmsnorm(res_out).
    void (*residual_rmsnorm_fwd)(Backend *b, void *res_out, void *out, float *rstd,
                                 const void *res_in, const void *delta, const void *w, int N,
                                 int C, float eps);
    // dinp_acc += d/dinp, dw_acc += d/dw, given dout and the forward's inp, w, rstd.
    void (*rmsnorm_bwd)(Backend *b, void *dinp_acc, float *dw_acc, const void *dout,
                        const void *inp, const void *w, const float *rstd, int N, int C);

    // Rotary embedding in place on the q and k parts of qkv (N, (H + 2*KV) * hd); v untouched.
    // Pairs are (i, i + hd/2) (the rotate-half convention of HF LLaMA/Qwen2), angle
    // pos * inv_freq[i]; inv_freq (hd/2) is a host array (theta^(-2i/hd), or LLaMA-3.1's
    // scaled frequencies: model_rope_freqs). pos: (N) positions, or NULL for t = n % T.
    // inverse = 1 rotates back (the backward pass of the rotation, applied to dq and dk).
    void (*rope)(Backend *b, void *qkv, const int *pos, int N, int T, int H, int KV, int hd,
                 const double *inv_freq, int inverse);

    // Causal attention with grouped-query heads. qkv (N, (H+2KV)*hd) holds per row
    // [q heads | k heads | v heads]; query head h uses kv head h / (H/KV). Scale 1/sqrt(hd).
    // seg: (N) record ids, or NULL; when given, row t attends only to rows s <= t of the same
    // record (packed sequences). out (N, H*hd); lse (B, H, T) logsumexp of the scaled scores.
    void (*attention_fwd)(Backend *b, void *out, float *lse, const void *qkv, const int *seg,
                          int B, int T, int H, int KV, int hd);
    // dqkv (N, (H+2KV)*hd) overwritten with the gradients of q, k, v (k and v summed over the
    // query heads of their group), given dout, the forward's qkv, out and lse.
    void (*attention_bwd)(Backend *b, void *dqkv, const void *dout, const void *qkv,
                          const void *out, const float *lse, const int *seg, int B, int T, int H,
                          int KV, int hd);

    // out (N,F) = silu(h[:, :F]) * h[:, F:] with h (N, 2F).
    void (*swiglu_fwd)(Backend *b, void *out, const void *h, int N, int F);
    void (*swiglu_bwd)(Backend *b, void *dh, const void *dout, const void *h, int N, int F);

    // Softmax cross-entropy over logits (N,V). targets (N) int32, -1 = no loss on this row.
    // loss[n] (fp32) = -log softmax(logits[n])[targets[n]], 0 on ignored rows.
    // When dlogits is not NULL: dlogits = (softmax - onehot) * dscale, 0 on ignored rows
    // (dlogits may alias logits).
    void (*crossentropy)(Backend *b, float *loss, void *dlogits, const void *logits,
                         const int *targets, int N, int V, float dscale);

    // AdamW on n fp32 parameters (decoupled weight decay wd, bias-corrected with step t >= 1),
    // gradient multiplied by gscale first. p_act (may be NULL) receives the updated
    // parameters in the act dtype (the compute copy).
    void (*adamw)(Backend *b, float *p, void *p_act, const float *g, float *m, float *v, size_t n,
                  float lr, float beta1, float beta2, float eps, float wd, float gscale, int t);
    // sum of squares of n fp32 values (result on the host, in double).
    double (*sumsq)(Backend *b, const float *x, size_t n);
    // x *= s on n fp32 values.
    void (*scale)(Backend *b, float *x, float s, size_t n);

    // ---- decoding with a KV cache (model_decode_*, docs/sampling.md). A layer's cache has
    // S slots (one sequence each) of ctx positions (a multiple of 16): kc (S, KV, ctx/16, hd,
    // 16) the keys in blocks of 16 positions, transposed within a block so that scores run
    // along positions (key (t, d) at block t/16, row d, column t%16); vc (S, KV, ctx, hd) the
    // values; both of dtype kvt: fp32 or bf16 (any act dtype; bf16 halves the cache's memory
    // and the attention's traffic). slot, pos: (N) int32 in backend memory with
    // 0 <= slot[n] < S, 0 <= pos[n] < ctx.
    // Copies the k and v heads of row n of qkv (N, (H+2KV)*hd, after RoPE) into the cache at
    // slot[n], position pos[n]. Rows must not share a (slot, position).
    void (*kv_write)(Backend *b, void *kc, void *vc, const void *qkv, const int *slot,
                     const int *pos, int N, int H, int KV, int hd, int ctx, DType kvt);
    // out (N, H*hd): the query heads of row n of qkv attend over positions 0..pos[n] of
    // slot[n]'s cache (all written before the call), scale 1/sqrt(hd), query head h on kv
    // head h / (H/KV). Each row's result depends on that row and its slot's cache only.
    void (*attention_decode)(Backend *b, void *out, const void *qkv, const void *kc,
                             const void *vc, const int *slot, const int *pos, int N, int H,
                             int KV, int hd, int ctx, DType kvt);
    // out (N,OC) = inp (N,C) @ w^T (w: OC,C) [+ bias (OC)], as matmul_fwd, for decoding:
    // fast for few rows, and on the CPU each row's result is bitwise the same whatever N and
    // the other rows are (so a sample does not depend on what shares its batch). w as
    // pack_rows returned it where the backend has that op, else the weights as they are.
    // CUDA: cuBLASLt as matmul_fwd (no such guarantee).
    void (*matmul_rows)(Backend *b, void *out, const void *inp, const void *w, const void *bias,
                        int N, int C, int OC);
    // A copy of w (OC,C) in the layout matmul_rows reads, in a new buffer (b->free frees it);
    // a copy: later changes to w do not show in it. NULL where matmul_rows takes w as is.
    void *(*pack_rows)(Backend *b, const void *w, int C, int OC);
    // The bytes pack_rows allocates for (OC, C) weights (the memory plan); with pack_rows.
    size_t (*pack_rows_bytes)(const Backend *b, int C, int OC);

    // ---- data parallelism on backend memory, over the MPI world (src/train/phase.c). NULL
    // where the backend has none: the CPU's buffers are host memory, on which the trainer
    // calls MPI directly. CUDA: NCCL, loaded at run time.
    // Collective: 1 when every rank can use it, else 0 on every rank with the reason in err
    // (the trainer then stages through host memory and MPI).
    int (*dp_init)(Backend *b, char *err, size_t err_len);
    // Sum of n fp32 over the ranks, in place, started once the work queued so far is done;
    // the host does not wait (the backward pass goes on while it runs).
    void (*dp_allreduce_start)(Backend *b, float *buf, size_t n);
    // Work queued after this call sees every reduction started before it.
    void (*dp_wait)(Backend *b);
    // As dist_reduce_scatter_sum_f32 / dist_allgather_f32 (slices counts[r] at displs[r]),
    // on backend memory, ordered like any op (work queued after them sees the result).
    void (*dp_reduce_scatter)(Backend *b, float *buf, const size_t *counts, const size_t *displs);
    void (*dp_allgather)(Backend *b, float *buf, const size_t *counts, const size_t *displs);

    // Free and total bytes of backend memory that is not host memory (the memory plan
    // checks against it); NULL on host-memory backends. 0, or -1 when unknown.
    int (*mem_info)(Backend *b, size_t *free_bytes, size_t *total_bytes);

    void (*destroy)(Backend *b);
};

// be->alloc_bytes(be, bytes), or bytes where the backend has no such op.
static inline size_t backend_alloc_bytes(const Backend *be, size_t bytes) {
    return be->alloc_bytes ? be->alloc_bytes(be, bytes) : bytes;
}

// CPU backend with `threads` OpenMP threads (0: OMP_NUM_THREADS or all cores).
Backend *backend_cpu_create(int threads);
// OpenBLAS falls back to slow generic kernels on CPUs it does not know (Debian 12's 0.3.21
// on recent Xeons). The OPENBLAS_CORETYPE value that fixes it here, or NULL; and a call for
// the start of main() that re-executes the program with it set (before MPI_Init).
const char *backend_cpu_blas_coretype_fix(void);
void backend_cpu_reexec_for_blas(char **argv);

// CUDA backend on device `device` with act dtype (DT_BF16 or DT_F32); NULL with a message in
// err when there is no usable GPU or the build has no CUDA.
Backend *backend_cuda_create(int device, DType act, char *err, size_t err_len);
// Number of usable CUDA devices (0 without a driver, a GPU or a CUDA build).
int backend_cuda_device_count(void);
// One line describing what CUDA sees ("no CUDA device", "1 device: NVIDIA H100 ...").
void backend_cuda_describe(char *buf, size_t len);

// run.device "auto" | "cpu" | "cuda" and run.precision "bf16" | "fp32": the backend to use on
// this rank (the GPU is picked by local rank). Fatal, with a message, when "cuda" is asked
// for and cannot be had.
Backend *backend_create(const char *device, const char *precision, int threads, int local_rank);
void backend_destroy(Backend *b);

// bf16 <-> fp32 on the host (round to nearest even), for tests and checkpoints.
uint16_t lm_f32_to_bf16(float f);
float lm_bf16_to_f32(uint16_t h);

#ifdef __cplusplus
}
#endif
#endif
