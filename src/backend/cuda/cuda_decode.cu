// cuda_decode.cu: the decoding ops on the GPU (docs/sampling.md): kv_write (the k and v
// heads of each row into the KV cache at its slot and position) and attention_decode (each
// row's query heads over its slot's cached positions 0..pos, one block per (row, kv head),
// keys in tiles of DEC_TILE with an online softmax). matmul_rows is cuda_matmul_fwd
// (cuBLASLt), registered directly in cuda_backend.cu. Cache layouts (as backend.h; elements
// fp32 or bf16 whatever the act dtype): keys (S, KV, ctx/16, hd, 16), values (S, KV, ctx, hd).
#include "cuda_common.h"

#include <math.h>

#define DEC_EW_THREADS 256 // kv_write
#define DEC_THREADS 128    // attention_decode: threads per block
#define DEC_TILE 128       // keys per tile: one per thread for the scores
#define DEC_MAXJ 8         // (query head, dim) outputs per thread: G * hd <= 1024

// ---------------------------------------------------------------------------
// kv_write

// Key (t, d) of one (slot, kv head) cache: blocks of 16 positions, each (hd, 16).
__device__ __forceinline__ size_t dec_kidx(int t, int d, int hd) {
    return ((size_t)(t >> 4) * hd + (size_t)d) * 16 + (size_t)(t & 15);
}

// One (row, kv head, dim) element per iteration: k to key (pos, d) of kc[slot][g], v to
// vc[slot][g][pos][d]. T: act dtype, K: cache dtype.
template <typename T, typename K>
__global__ void kv_write_kernel(K *kc, K *vc, const T *qkv, const int *slot, const int *pos,
                                int N, int H, int KV, int hd, int ctx) {
    const size_t per_row = (size_t)KV * hd, total = (size_t)N * per_row;
    const size_t R = (size_t)(H + 2 * KV) * hd;
    for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < total;
         i += (size_t)gridDim.x * blockDim.x) {
        const size_t n = i / per_row, r = i % per_row, g = r / hd, d = r % hd;
        const size_t s = (size_t)slot[n];
        const int p = pos[n];
        const T *row = qkv + n * R;
        kc[(s * KV + g) * ctx * hd + dec_kidx(p, (int)d, hd)] =
            from_f32<K>(to_f32(row[(H + g) * hd + d]));
        vc[((s * KV + g) * ctx + (size_t)p) * hd + d] = from_f32<K>(to_f32(row[(H + KV + g) * hd + d]));
    }
}

template <typename T, typename K>
static void dec_kv_write_launch(Backend *b, void *kc, void *vc, const void *qkv, const int *slot,
                                const int *pos, int N, int H, int KV, int hd, int ctx) {
    const size_t total = (size_t)N * KV * hd;
    kv_write_kernel<T, K><<<cuda_grid(total, DEC_EW_THREADS), DEC_EW_THREADS, 0, cuda_stream(b)>>>(
        (K *)kc, (K *)vc, (const T *)qkv, slot, pos, N, H, KV, hd, ctx);
    CUDA_CHECK_LAST();
}

void cuda_kv_write(Backend *b, void *kc, void *vc, const void *qkv, const int *slot,
                   const int *pos, int N, int H, int KV, int hd, int ctx, DType kvt) {
    LM_CHECK(N >= 0 && H > 0 && KV > 0 && hd > 0 && ctx > 0 && ctx % 16 == 0,
             "kv_write: bad shape N=%d H=%d KV=%d hd=%d ctx=%d", N, H, KV, hd, ctx);
    if (N == 0) return;
    const int ab = b->act == DT_BF16, kb = kvt == DT_BF16;
    if (ab && kb) dec_kv_write_launch<bf16, bf16>(b, kc, vc, qkv, slot, pos, N, H, KV, hd, ctx);
    else if (ab) dec_kv_write_launch<bf16, float>(b, kc, vc, qkv, slot, pos, N, H, KV, hd, ctx);
    else if (kb) dec_kv_write_launch<float, bf16>(b, kc, vc, qkv, slot, pos, N, H, KV, hd, ctx);
    else dec_kv_write_launch<float, float>(b, kc, vc, qkv, slot, pos, N, H, KV, hd, ctx);
}

// ---------------------------------------------------------------------------
// attention over the cache

// Shared memory of one block (floats): q (G, hd) scaled, p (G, DEC_TILE) scores then
// probabilities of the tile, and per head the running max, sum and this tile's rescale.
struct DecSmem {
    float *q, *p, *m, *l, *corr;
};

__device__ __forceinline__ DecSmem dec_smem(float *base, int G, int hd) {
    DecSmem s;
    s.q = base;
    s.p = s.q + G * hd;
    s.m = s.p + G * DEC_TILE;
    s.l = s.m + G;
    s.corr = s.l + G;
    return s;
}

// p[h][i] = q_h . k(t0 + i) for the tile's keys (-inf past the row's last position).
template <typename K>
__device__ __forceinline__ void dec_scores(const DecSmem &sm, const K *kt, int G, int hd, int t0,
                                           int len) {
    const int t = t0 + threadIdx.x;
    for (int h = 0; h < G; h++) {
        float sc = -INFINITY;
        if (t < len) {
            sc = 0.0f;
            for (int d = 0; d < hd; d++) sc += sm.q[h * hd + d] * to_f32(kt[dec_kidx(t, d, hd)]);
        }
        sm.p[h * DEC_TILE + threadIdx.x] = sc;
    }
}

// Per head (one warp each): the tile's max, p = exp(p - new max), the running sum and the
// factor that rescales what was accumulated before.
__device__ __forceinline__ void dec_softmax_tile(const DecSmem &sm, int G) {
    const int lane = threadIdx.x % 32, warp = threadIdx.x / 32, n_warps = blockDim.x / 32;
    for (int h = warp; h < G; h += n_warps) {
        float *p = sm.p + h * DEC_TILE;
        float mx = -INFINITY;
        for (int i = lane; i < DEC_TILE; i += 32) mx = fmaxf(mx, p[i]);
        mx = warp_max(mx);
        const float m_new = fmaxf(sm.m[h], mx); // finite: every tile has a key
        float sum = 0.0f;
        for (int i = lane; i < DEC_TILE; i += 32) {
            const float e = expf(p[i] - m_new);
            p[i] = e;
            sum += e;
        }
        sum = warp_sum(sum);
        if (lane == 0) {
            const float c = expf(sm.m[h] - m_new); // 0 for the first tile (m = -inf)
            sm.corr[h] = c;
            sm.l[h] = sm.l[h] * c + sum;
            sm.m[h] = m_new;
        }
    }
}

// Block (row n, kv head g): out[n][(g G + h) hd + d] for the G query heads of the group.
// T: act dtype, K: cache dtype.
template <typename T, typename K>
__global__ void __launch_bounds__(DEC_THREADS)
attention_decode_kernel(T *out, const T *qkv, const K *kc, const K *vc, const int *slot,
                        const int *pos, int H, int KV, int hd, int ctx, float scale) {
    extern __shared__ float dec_shared[];
    const int n = blockIdx.x / KV, g = blockIdx.x % KV, G = H / KV, P = G * hd;
    const DecSmem sm = dec_smem(dec_shared, G, hd);
    const size_t R = (size_t)(H + 2 * KV) * hd, s = (size_t)slot[n];
    const int len = pos[n] + 1;
    const K *kt = kc + (s * KV + g) * ctx * hd, *vs = vc + (s * KV + g) * ctx * hd;
    for (int i = threadIdx.x; i < P; i += blockDim.x)
        sm.q[i] = to_f32(qkv[n * R + (size_t)g * G * hd + i]) * scale;
    for (int h = threadIdx.x; h < G; h += blockDim.x) sm.m[h] = -INFINITY, sm.l[h] = 0.0f;
    float acc[DEC_MAXJ];
#pragma unroll
    for (int j = 0; j < DEC_MAXJ; j++) acc[j] = 0.0f;
    __syncthreads();
    for (int t0 = 0; t0 < len; t0 += DEC_TILE) {
        dec_scores(sm, kt, G, hd, t0, len);
        __syncthreads();
        dec_softmax_tile(sm, G);
        __syncthreads();
        const int nt = min(DEC_TILE, len - t0);
#pragma unroll
        for (int j = 0; j < DEC_MAXJ; j++) {
            const int idx = threadIdx.x + j * DEC_THREADS;
            if (idx >= P) break;
            const int h = idx / hd, d = idx % hd;
            const float *p = sm.p + h * DEC_TILE;
            const K *v = vs + (size_t)t0 * hd + d;
            float a = acc[j] * sm.corr[h];
            for (int i = 0; i < nt; i++) a += p[i] * to_f32(v[(size_t)i * hd]);
            acc[j] = a;
        }
        __syncthreads(); // the next tile overwrites p
    }
    T *o = out + (size_t)n * H * hd + (size_t)g * G * hd;
#pragma unroll
    for (int j = 0; j < DEC_MAXJ; j++) {
        const int idx = threadIdx.x + j * DEC_THREADS;
        if (idx >= P) break;
        o[idx] = from_f32<T>(acc[j] / sm.l[idx / hd]);
    }
}

template <typename T, typename K>
static void dec_attention_launch(Backend *b, void *out, const void *qkv, const void *kc,
                                 const void *vc, const int *slot, const int *pos, int N, int H,
                                 int KV, int hd, int ctx, size_t smem) {
    const float scale = 1.0f / sqrtf((float)hd);
    attention_decode_kernel<T, K><<<(unsigned)(N * KV), DEC_THREADS, smem, cuda_stream(b)>>>(
        (T *)out, (const T *)qkv, (const K *)kc, (const K *)vc, slot, pos, H, KV, hd, ctx, scale);
    CUDA_CHECK_LAST();
}

void cuda_attention_decode(Backend *b, void *out, const void *qkv, const void *kc,
                           const void *vc, const int *slot, const int *pos, int N, int H, int KV,
                           int hd, int ctx, DType kvt) {
    LM_CHECK(N >= 0 && KV > 0 && H % KV == 0 && hd > 0 && ctx > 0 && ctx % 16 == 0,
             "attention_decode: bad shape N=%d H=%d KV=%d hd=%d ctx=%d", N, H, KV, hd, ctx);
    if (N == 0) return;
    const int G = H / KV;
    LM_CHECK(G * hd <= DEC_THREADS * DEC_MAXJ, "attention_decode: %d query heads per kv head "
             "x head dim %d exceeds %d", G, hd, DEC_THREADS * DEC_MAXJ);
    LM_CHECK((long long)N * KV < (1LL << 31), "attention_decode: %d rows x %d kv heads", N, KV);
    const size_t smem = ((size_t)G * hd + (size_t)G * DEC_TILE + 3 * (size_t)G) * sizeof(float);
    LM_CHECK(smem <= 48 * 1024, "attention_decode: %zu bytes of shared memory", smem);
    const int ab = b->act == DT_BF16, kb = kvt == DT_BF16;
    if (ab && kb) dec_attention_launch<bf16, bf16>(b, out, qkv, kc, vc, slot, pos, N, H, KV, hd, ctx, smem);
    else if (ab) dec_attention_launch<bf16, float>(b, out, qkv, kc, vc, slot, pos, N, H, KV, hd, ctx, smem);
    else if (kb) dec_attention_launch<float, bf16>(b, out, qkv, kc, vc, slot, pos, N, H, KV, hd, ctx, smem);
    else dec_attention_launch<float, float>(b, out, qkv, kc, vc, slot, pos, N, H, KV, hd, ctx, smem);
}
