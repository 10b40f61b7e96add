// backend/cpu: private declarations shared by the CPU backend's files: the backend's state
// (per-thread scratch, the RoPE cos/sin table), a vectorisable expf, and the op functions
// that cpu_backend.c puts into the ops table. All act tensors are fp32 on this backend.
#ifndef LEMMA_CPU_INTERNAL_H
#define LEMMA_CPU_INTERNAL_H

// -std=c11 turns gcc's contraction of a*b+c into fused multiply-adds off (-ffp-contract=off),
// which halves the speed of the attention kernels; every CPU backend file includes this
// header first, so turn it back on for all of them. (With -ffp-contract=fast in CFLAGS this
// line can go.)
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("fp-contract=fast")
#endif

#include "lemma/backend.h"

#include <stddef.h>
#include <stdint.h>

typedef struct {
    // Per-thread scratch: thread i owns scratch + i * scratch_stride floats.
    float *scratch;
    size_t scratch_stride; // floats per thread (a multiple of 16)
    // RoPE table: cos/sin of pos * rope_freq[i] for pos < rope_npos, i < rope_half.
    float *rope_cos, *rope_sin; // (rope_npos, rope_half)
    int rope_npos, rope_half;
    double *rope_freq;          // (rope_half) the frequencies the table was made for
} CpuImpl;

// Scratch of `floats` floats for each of b->threads threads, 64-byte aligned, grown on
// demand (call outside parallel regions; thread i uses the return value + i * stride).
float *cpu_scratch(Backend *b, size_t floats, size_t *stride);

// Channels per block in the deterministic column reductions (dw, dbias, embedding grads).
#define CPU_COL_BLOCK 64

// exp(x) with relative error below 1e-7 for x in [-87, 88]; 0 below -87 (so exp(-inf) = 0),
// and x clamped to 88 above. Written so that gcc vectorises it inside `omp simd` loops
// (libm's expf is a call).
static inline float cpu_expf(float x_in) {
    float x = x_in < -87.0f ? -87.0f : x_in;
    x = x > 88.0f ? 88.0f : x;
    // n = round(x / ln 2) by the 1.5 * 2^23 trick, f = x - n ln 2 (ln 2 split in two).
    float n = (x * 1.44269504088896341f + 12582912.0f) - 12582912.0f;
    float f = x - n * 0.693359375f + n * 2.12194440e-4f;
    float p = 1.0f / 5040.0f; // Taylor series of e^f, |f| <= 0.35
    p = p * f + 1.0f / 720.0f;
    p = p * f + 1.0f / 120.0f;
    p = p * f + 1.0f / 24.0f;
    p = p * f + 1.0f / 6.0f;
    p = p * f + 0.5f;
    p = p * f + 1.0f;
    p = p * f + 1.0f;
    union {
        int32_t i;
        float f;
    } two_n;
    two_n.i = ((int32_t)n + 127) << 23; // 2^n
    float r = p * two_n.f;
    return x_in < -87.0f ? 0.0f : r;
}

// cpu_matmul.c
// Row-major sgemm: C (M,N) = alpha * op(A) @ op(B) + beta * C (OpenBLAS or the fallback).
void cpu_sgemm(int trans_a, int trans_b, int M, int N, int K, float alpha, const float *A,
               int lda, const float *B, int ldb, float beta, float *C, int ldc);
void cpu_matmul_fwd(Backend *b, void *out, const void *inp, const void *w, const void *bias,
                    int N, int C, int OC);
void cpu_matmul_bwd(Backend *b, void *dinp, float *dw_acc, float *dbias_acc, const void *dout,
                    const void *inp, const void *w, int N, int C, int OC);

// cpu_norm.c
void cpu_rmsnorm_fwd(Backend *b, void *out, float *rstd, const void *inp, const void *w, int N,
                     int C, float eps);
void cpu_residual_rmsnorm_fwd(Backend *b, void *res_out, void *out, float *rstd,
                              const void *res_in, const void *delta, const void *w, int N, int C,
                              float eps);
void cpu_rmsnorm_bwd(Backend *b, void *dinp_acc, float *dw_acc, const void *dout, const void *inp,
                     const void *w, const float *rstd, int N, int C);

// cpu_attention.c
void cpu_attention_fwd(Backend *b, void *out, float *lse, const void *qkv, const int *seg, int B,
                       int T, int H, int KV, int hd);
void cpu_attention_bwd(Backend *b, void *dqkv, const void *dout, const void *qkv, const void *out,
                       const float *lse, const int *seg, int B, int T, int H, int KV, int hd);

// cpu_misc.c
void cpu_embed_fwd(Backend *b, void *out, const int *tok, const int *tok_host, const void *wte,
                   int N, int C);
void cpu_embed_bwd(Backend *b, float *dwte_acc, const void *dout, const int *tok,
                   const int *tok_host, int N, int C, int V);
void cpu_rope(Backend *b, void *qkv, const int *pos, int N, int T, int H, int KV, int hd,
              const double *inv_freq, int inverse);
void cpu_swiglu_fwd(Backend *b, void *out, const void *h, int N, int F);
void cpu_swiglu_bwd(Backend *b, void *dh, const void *dout, const void *h, int N, int F);
void cpu_crossentropy(Backend *b, float *loss, void *dlogits, const void *logits,
                      const int *targets, int N, int V, float dscale);

// cpu_decode.c
void cpu_kv_write(Backend *b, void *kc, void *vc, const void *qkv, const int *slot,
                  const int *pos, int N, int H, int KV, int hd, int ctx, DType kvt);
void cpu_attention_decode(Backend *b, void *out, const void *qkv, const void *kc,
                          const void *vc, const int *slot, const int *pos, int N, int H, int KV,
                          int hd, int ctx, DType kvt);
void *cpu_pack_rows(Backend *b, const void *w, int C, int OC);
size_t cpu_pack_rows_bytes(const Backend *b, int C, int OC);
void cpu_matmul_rows(Backend *b, void *out, const void *inp, const void *w, const void *bias,
                     int N, int C, int OC);

#endif
