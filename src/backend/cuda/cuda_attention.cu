// cuda_attention.cu: causal grouped-query attention with an optional packed-sequence mask,
// forward and backward, never materialising the (T,T) scores in global memory.
//   bf16: flash-style tiled kernels on the tensor cores (WMMA bf16 16x16x16, fp32
//     accumulation). A block holds 64 query (or key) rows, 16 per warp; scores and
//     probabilities of a 64x64 tile go through shared memory, where the softmax is done
//     row-wise by plain threads (lane = row (lane/2), half of the columns (lane%2)).
//     Backward is FlashAttention-2 style in two kernels: dk/dv parallel over (b, kv head,
//     key block), looping over the group's query heads and the query blocks; dq parallel
//     over (b, query head, query block), looping over the key blocks.
//   fp32: exact kernels on CUDA cores, one warp per query (or key) row, for comparison with
//     the CPU backend.
// Everything is deterministic: no atomics, fixed summation orders.
#include "cuda_common.h"

#include <math.h>
#include <mma.h>

using namespace nvcuda;

#define ATT_ROWS 64    // query/key rows per block and per tile (4 warps x 16)
#define ATT_THREADS 128
#define ATT_LOG2E 1.4426950408889634f
#define ATT_LN2 0.6931471805599453f

// ---------------------------------------------------------------------------
// fp32 (and generic) kernels: one warp per row. Lane l holds the elements d = l + 32 i of
// its head vectors (HD / 32 rounded up; the missing ones, for HD = 16, are zero).

// Geometry shared by all kernels: qkv rows (N, (H + 2KV) hd) hold [q heads | k heads | v heads].
struct AttGeom {
    int B, T, H, KV, hd;
    int group;      // H / KV
    size_t R;       // qkv row stride
    size_t O;       // out / dout row stride: H hd
    float scale;    // 1/sqrt(hd)
};

// Dot products of two pairs of lane-distributed vectors, summed over the warp (every lane
// gets both sums).
__device__ __forceinline__ void warp_sum2(float &a, float &b) {
    for (int o = 16; o > 0; o >>= 1) {
        a += __shfl_xor_sync(0xffffffffu, a, o);
        b += __shfl_xor_sync(0xffffffffu, b, o);
    }
}

// Warp w = (b H + h) T + t: out row t of head h, lse[w], by an online softmax over keys
// s <= t of the same record.
template <typename T, int HD>
__global__ void attn_fwd_simple_kernel(T *out, float *lse, const T *qkv, const int *seg,
                                       AttGeom g) {
    constexpr int NE = (HD + 31) / 32;
    const int lane = threadIdx.x % 32;
    const long long w = (long long)blockIdx.x * (blockDim.x / 32) + threadIdx.x / 32;
    if (w >= (long long)g.B * g.H * g.T) return; // whole warps leave together
    const int t = (int)(w % g.T), bh = (int)(w / g.T);
    const int b = bh / g.H, h = bh % g.H, kvh = h / g.group;
    const T *seq = qkv + (size_t)b * g.T * g.R;
    const T *qrow = seq + (size_t)t * g.R + (size_t)h * HD;
    const T *kcol = seq + (size_t)(g.H + kvh) * HD;
    const T *vcol = seq + (size_t)(g.H + g.KV + kvh) * HD;
    float q[NE], o[NE];
#pragma unroll
    for (int i = 0; i < NE; i++) {
        const int d = lane + 32 * i;
        q[i] = d < HD ? to_f32(qrow[d]) * g.scale : 0.0f;
        o[i] = 0.0f;
    }
    const int seg_t = seg ? seg[(size_t)b * g.T + t] : 0;
    float m = -INFINITY, l = 0.0f;
    for (int s = 0; s <= t; s++) {
        if (seg && seg[(size_t)b * g.T + s] != seg_t) continue; // same for the whole warp
        const T *krow = kcol + (size_t)s * g.R;
        const T *vrow = vcol + (size_t)s * g.R;
        float x = 0.0f;
#pragma unroll
        for (int i = 0; i < NE; i++) {
            const int d = lane + 32 * i;
            if (d < HD) x += q[i] * to_f32(krow[d]);
        }
        x = warp_sum(x);
        const float m_new = fmaxf(m, x);
        const float corr = expf(m - m_new); // 0 for the first key (m = -inf)
        const float p = expf(x - m_new);
        l = l * corr + p;
#pragma unroll
        for (int i = 0; i < NE; i++) {
            const int d = lane + 32 * i;
            if (d < HD) o[i] = o[i] * corr + p * to_f32(vrow[d]);
        }
        m = m_new;
    }
    T *orow = out + ((size_t)b * g.T + t) * g.O + (size_t)h * HD;
    const float inv = 1.0f / l;
#pragma unroll
    for (int i = 0; i < NE; i++) {
        const int d = lane + 32 * i;
        if (d < HD) orow[d] = from_f32<T>(o[i] * inv);
    }
    if (lane == 0) lse[w] = m + logf(l);
}

// D[(b H + h) T + t] = dout_t . out_t over head h (one warp per entry).
template <typename T>
__global__ void attn_bwd_d_kernel(float *D, const T *dout, const T *out, AttGeom g) {
    const int lane = threadIdx.x % 32;
    const long long w = (long long)blockIdx.x * (blockDim.x / 32) + threadIdx.x / 32;
    if (w >= (long long)g.B * g.H * g.T) return;
    const int t = (int)(w % g.T), bh = (int)(w / g.T);
    const int b = bh / g.H, h = bh % g.H;
    const size_t off = ((size_t)b * g.T + t) * g.O + (size_t)h * g.hd;
    float s = 0.0f;
    for (int d = lane; d < g.hd; d += 32) s += to_f32(dout[off + d]) * to_f32(out[off + d]);
    s = warp_sum(s);
    if (lane == 0) D[w] = s;
}

// Warp w = (b H + h) T + t: dq row t of head h = scale * sum_s dS_ts k_s with
// p = exp(scale q.k - lse_t), dS = p (dout_t . v_s - D_t).
template <typename T, int HD>
__global__ void attn_bwd_dq_simple_kernel(T *dqkv, const T *dout, const T *qkv, const float *lse,
                                          const float *D, const int *seg, AttGeom g) {
    constexpr int NE = (HD + 31) / 32;
    const int lane = threadIdx.x % 32;
    const long long w = (long long)blockIdx.x * (blockDim.x / 32) + threadIdx.x / 32;
    if (w >= (long long)g.B * g.H * g.T) return;
    const int t = (int)(w % g.T), bh = (int)(w / g.T);
    const int b = bh / g.H, h = bh % g.H, kvh = h / g.group;
    const T *seq = qkv + (size_t)b * g.T * g.R;
    const T *qrow = seq + (size_t)t * g.R + (size_t)h * HD;
    const T *dorow = dout + ((size_t)b * g.T + t) * g.O + (size_t)h * HD;
    const T *kcol = seq + (size_t)(g.H + kvh) * HD;
    const T *vcol = seq + (size_t)(g.H + g.KV + kvh) * HD;
    float q[NE], dov[NE], dq[NE];
#pragma unroll
    for (int i = 0; i < NE; i++) {
        const int d = lane + 32 * i;
        q[i] = d < HD ? to_f32(qrow[d]) * g.scale : 0.0f;
        dov[i] = d < HD ? to_f32(dorow[d]) : 0.0f;
        dq[i] = 0.0f;
    }
    const float lse_t = lse[w], D_t = D[w];
    const int seg_t = seg ? seg[(size_t)b * g.T + t] : 0;
    for (int s = 0; s <= t; s++) {
        if (seg && seg[(size_t)b * g.T + s] != seg_t) continue;
        const T *krow = kcol + (size_t)s * g.R;
        const T *vrow = vcol + (size_t)s * g.R;
        float x = 0.0f, dp = 0.0f;
#pragma unroll
        for (int i = 0; i < NE; i++) {
            const int d = lane + 32 * i;
            if (d < HD) {
                x += q[i] * to_f32(krow[d]);
                dp += dov[i] * to_f32(vrow[d]);
            }
        }
        warp_sum2(x, dp);
        const float p = expf(x - lse_t);
        const float ds = p * (dp - D_t);
#pragma unroll
        for (int i = 0; i < NE; i++) {
            const int d = lane + 32 * i;
            if (d < HD) dq[i] += ds * to_f32(krow[d]);
        }
    }
    T *dqrow = dqkv + ((size_t)b * g.T + t) * g.R + (size_t)h * HD;
#pragma unroll
    for (int i = 0; i < NE; i++) {
        const int d = lane + 32 * i;
        if (d < HD) dqrow[d] = from_f32<T>(dq[i] * g.scale);
    }
}

// Warp w = (b KV + kvh) T + s: dk, dv rows s of kv head kvh, summed over the group's query
// heads h (in order) and the queries t >= s of the same record (in order):
//   dv += p dout_t, dk += scale dS q_t.
template <typename T, int HD>
__global__ void attn_bwd_dkdv_simple_kernel(T *dqkv, const T *dout, const T *qkv,
                                            const float *lse, const float *D, const int *seg,
                                            AttGeom g) {
    constexpr int NE = (HD + 31) / 32;
    const int lane = threadIdx.x % 32;
    const long long w = (long long)blockIdx.x * (blockDim.x / 32) + threadIdx.x / 32;
    if (w >= (long long)g.B * g.KV * g.T) return;
    const int s = (int)(w % g.T), bk = (int)(w / g.T);
    const int b = bk / g.KV, kvh = bk % g.KV;
    const T *seq = qkv + (size_t)b * g.T * g.R;
    const T *krow = seq + (size_t)s * g.R + (size_t)(g.H + kvh) * HD;
    const T *vrow = seq + (size_t)s * g.R + (size_t)(g.H + g.KV + kvh) * HD;
    float k[NE], v[NE], dk[NE], dv[NE];
#pragma unroll
    for (int i = 0; i < NE; i++) {
        const int d = lane + 32 * i;
        k[i] = d < HD ? to_f32(krow[d]) : 0.0f;
        v[i] = d < HD ? to_f32(vrow[d]) : 0.0f;
        dk[i] = 0.0f;
        dv[i] = 0.0f;
    }
    const int seg_s = seg ? seg[(size_t)b * g.T + s] : 0;
    for (int h = kvh * g.group; h < (kvh + 1) * g.group; h++) {
        const float *lse_h = lse + ((size_t)b * g.H + h) * g.T;
        const float *D_h = D + ((size_t)b * g.H + h) * g.T;
        for (int t = s; t < g.T; t++) {
            if (seg && seg[(size_t)b * g.T + t] != seg_s) continue;
            const T *qrow = seq + (size_t)t * g.R + (size_t)h * HD;
            const T *dorow = dout + ((size_t)b * g.T + t) * g.O + (size_t)h * HD;
            float x = 0.0f, dp = 0.0f;
#pragma unroll
            for (int i = 0; i < NE; i++) {
                const int d = lane + 32 * i;
                if (d < HD) {
                    x += to_f32(qrow[d]) * g.scale * k[i];
                    dp += to_f32(dorow[d]) * v[i];
                }
            }
            warp_sum2(x, dp);
            const float p = expf(x - lse_h[t]);
            const float ds = p * (dp - D_h[t]);
#pragma unroll
            for (int i = 0; i < NE; i++) {
                const int d = lane + 32 * i;
                if (d < HD) {
                    dv[i] += p * to_f32(dorow[d]);
                    dk[i] += ds * (to_f32(qrow[d]) * g.scale);
                }
            }
        }
    }
    T *dkrow = dqkv + ((size_t)b * g.T + s) * g.R + (size_t)(g.H + kvh) * HD;
    T *dvrow = dqkv + ((size_t)b * g.T + s) * g.R + (size_t)(g.H + g.KV + kvh) * HD;
#pragma unroll
    for (int i = 0; i < NE; i++) {
        const int d = lane + 32 * i;
        if (d < HD) {
            dkrow[d] = from_f32<T>(dk[i]);
            dvrow[d] = from_f32<T>(dv[i]);
        }
    }
}

// ---------------------------------------------------------------------------
// bf16 tensor-core kernels

// Shared-memory geometry (element strides; every sub-buffer starts on a 128-byte boundary,
// and every WMMA pointer below is a multiple of 32 bytes from it).
template <int HD> struct AttSmem {
    static constexpr int LDH = HD + 8;                  // bf16 (64, HD) tiles
    static constexpr int LDS = ATT_ROWS + 4;            // fp32 (16, 64) score blocks
    static constexpr int LDP = ATT_ROWS + 8;            // bf16 (16, 64) probability blocks
    static constexpr int LDO = HD + 4;                  // fp32 (16, HD) output staging
    static constexpr int TILE = ATT_ROWS * LDH;         // bf16 elements of a tile
    static constexpr int PW = 16 * LDP;                 // bf16 elements of a warp's P block
    static constexpr int FW_FWD = 16 * (LDS > LDO ? LDS : LDO);      // fp32 per warp, fwd
    static constexpr int FW_BWD = (2 * 16 * LDS > 16 * LDO) ? 2 * 16 * LDS : 16 * LDO; // bwd
    // forward: Q, K, V tiles | P (4 warps) | F (4 warps) | seg_q, seg_k
    static constexpr size_t FWD_BYTES = 3 * (size_t)TILE * 2 + 4 * (size_t)PW * 2 +
                                        4 * (size_t)FW_FWD * 4 + 2 * ATT_ROWS * 4;
    // backward: 4 tiles | 2 P-sized blocks (4 warps) | F (4 warps) | lse, D, seg_q, seg_k
    static constexpr size_t BWD_BYTES = 4 * (size_t)TILE * 2 + 8 * (size_t)PW * 2 +
                                        4 * (size_t)FW_BWD * 4 + 4 * ATT_ROWS * 4;
    static_assert((TILE * 2) % 128 == 0, "tile alignment");
    static_assert((4 * PW * 2) % 128 == 0, "P alignment");
    static_assert((FW_FWD * 4) % 128 == 0 && (FW_BWD * 4) % 128 == 0, "F alignment");
};

typedef wmma::fragment<wmma::matrix_a, 16, 16, 16, bf16, wmma::row_major> FragA;
typedef wmma::fragment<wmma::matrix_b, 16, 16, 16, bf16, wmma::row_major> FragBRow;
typedef wmma::fragment<wmma::matrix_b, 16, 16, 16, bf16, wmma::col_major> FragBCol;
typedef wmma::fragment<wmma::accumulator, 16, 16, 16, float> FragC;

// dst (64, LDH) = rows r0 .. r0+63 of src (row stride ld elements, the head's first column);
// rows >= T are zero. vec: src and ld allow 16-byte loads.
template <int HD>
__device__ __forceinline__ void att_load_tile(bf16 *dst, const bf16 *src, size_t ld, int r0,
                                              int T, bool vec) {
    constexpr int VPR = HD / 8; // 16-byte vectors per row
    constexpr int LDH = AttSmem<HD>::LDH;
    for (int i = threadIdx.x; i < ATT_ROWS * VPR; i += blockDim.x) {
        const int r = i / VPR, c = (i % VPR) * 8;
        uint4 val = make_uint4(0u, 0u, 0u, 0u);
        if (r0 + r < T) {
            const bf16 *p = src + (size_t)(r0 + r) * ld + c;
            if (vec) {
                val = *(const uint4 *)p;
            } else {
                const unsigned short *u = (const unsigned short *)p;
                val.x = (unsigned)u[0] | ((unsigned)u[1] << 16);
                val.y = (unsigned)u[2] | ((unsigned)u[3] << 16);
                val.z = (unsigned)u[4] | ((unsigned)u[5] << 16);
                val.w = (unsigned)u[6] | ((unsigned)u[7] << 16);
            }
        }
        *(uint4 *)(dst + r * LDH + c) = val;
    }
}

// dst[i] = seg[b T + r0 + i] for the 64 rows (0 beyond T or without seg). Threads < 64.
__device__ __forceinline__ void att_load_seg(int *dst, const int *seg, int b, int r0, int T) {
    if (threadIdx.x < ATT_ROWS) {
        const int r = r0 + threadIdx.x;
        dst[threadIdx.x] = (seg && r < T) ? seg[(size_t)b * T + r] : 0;
    }
}

// Forward. Grid (ceil(T/64), B*H), 128 threads; block = query rows q0 .. q0+63 of head h
// (the last query blocks first: they have the most keys). Warp w owns rows q0+16w .. +15.
template <int HD>
__global__ void __launch_bounds__(ATT_THREADS)
    attn_fwd_wmma_kernel(bf16 *out, float *lse, const bf16 *qkv, const int *seg, AttGeom g,
                         int vec) {
    typedef AttSmem<HD> S;
    extern __shared__ __align__(128) unsigned char smem[];
    bf16 *Qs = (bf16 *)smem;
    bf16 *Ks = Qs + S::TILE;
    bf16 *Vs = Ks + S::TILE;
    bf16 *Ps = Vs + S::TILE;                   // 4 x (16, LDP)
    float *Fs = (float *)(Ps + 4 * S::PW);     // 4 x FW_FWD: scores, then P.V
    int *seg_q = (int *)(Fs + 4 * S::FW_FWD);  // 64
    int *seg_k = seg_q + ATT_ROWS;             // 64

    const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
    const int q0 = (gridDim.x - 1 - blockIdx.x) * ATT_ROWS;
    const int b = blockIdx.y / g.H, h = blockIdx.y % g.H, kvh = h / g.group;
    const bf16 *seq = qkv + (size_t)b * g.T * g.R;
    const float scale_log2 = g.scale * ATT_LOG2E;

    att_load_tile<HD>(Qs, seq + (size_t)h * HD, g.R, q0, g.T, vec);
    att_load_seg(seg_q, seg, b, q0, g.T);
    __syncthreads();

    FragA qf[HD / 16];
#pragma unroll
    for (int kk = 0; kk < HD / 16; kk++)
        wmma::load_matrix_sync(qf[kk], Qs + warp * 16 * S::LDH + kk * 16, S::LDH);

    // this lane's row of the warp's 16, and its half of the columns: 4j + 2*half + {0,1}
    const int r = lane >> 1, half = lane & 1;
    const int t = q0 + warp * 16 + r;
    const int my_seg = seg_q[warp * 16 + r];
    float *Fw = Fs + warp * S::FW_FWD;
    bf16 *Pw = Ps + warp * S::PW;
    float m = -INFINITY, l = 0.0f; // running max (log2 units) and sum of the row
    float o[HD / 2];
#pragma unroll
    for (int j = 0; j < HD / 2; j++) o[j] = 0.0f;

    const int k_end = min(g.T, q0 + ATT_ROWS); // keys beyond cannot be seen by this block
    for (int k0 = 0; k0 < k_end; k0 += ATT_ROWS) {
        __syncthreads(); // every warp is done with the previous K, V tile
        att_load_tile<HD>(Ks, seq + (size_t)(g.H + kvh) * HD, g.R, k0, g.T, vec);
        att_load_tile<HD>(Vs, seq + (size_t)(g.H + g.KV + kvh) * HD, g.R, k0, g.T, vec);
        att_load_seg(seg_k, seg, b, k0, g.T);
        __syncthreads();

        // scores (16, 64) = Q_w K^T into Fw (stride LDS)
#pragma unroll
        for (int jn = 0; jn < ATT_ROWS / 16; jn++) {
            FragC acc;
            wmma::fill_fragment(acc, 0.0f);
#pragma unroll
            for (int kk = 0; kk < HD / 16; kk++) {
                FragBCol kf; // (d, key) = Ks[key][d]
                wmma::load_matrix_sync(kf, Ks + jn * 16 * S::LDH + kk * 16, S::LDH);
                wmma::mma_sync(acc, qf[kk], kf, acc);
            }
            wmma::store_matrix_sync(Fw + jn * 16, acc, S::LDS, wmma::mem_row_major);
        }
        __syncwarp();

        // online softmax of the row (in log2 units), P in bf16 into Pw
        float x[ATT_ROWS / 2];
        float mx = -INFINITY;
#pragma unroll
        for (int i = 0; i < ATT_ROWS / 4; i++) {
            const int c = 4 * i + 2 * half;
            const float2 sv = *(const float2 *)(Fw + r * S::LDS + c);
#pragma unroll
            for (int e = 0; e < 2; e++) {
                const int s = k0 + c + e;
                const bool ok = t < g.T && s <= t && (!seg || seg_k[c + e] == my_seg);
                const float v = e == 0 ? sv.x : sv.y;
                x[2 * i + e] = ok ? v * scale_log2 : -INFINITY;
                mx = fmaxf(mx, x[2 * i + e]);
            }
        }
        mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 1));
        const float m_new = fmaxf(m, mx);
        const float m_use = m_new == -INFINITY ? 0.0f : m_new; // all masked so far: p = 0
        const float alpha = exp2f(m - m_use);
        float sum = 0.0f;
#pragma unroll
        for (int i = 0; i < ATT_ROWS / 4; i++) {
            const float p0 = exp2f(x[2 * i] - m_use), p1 = exp2f(x[2 * i + 1] - m_use);
            sum += p0 + p1;
            *(__nv_bfloat162 *)(Pw + r * S::LDP + 4 * i + 2 * half) = __floats2bfloat162_rn(p0, p1);
        }
        sum += __shfl_xor_sync(0xffffffffu, sum, 1);
        l = l * alpha + sum;
        m = m_new;
        __syncwarp(); // Pw written, Fw (scores) read by every lane

        // P.V (16, HD) into Fw (stride LDO)
        FragA pf[ATT_ROWS / 16];
#pragma unroll
        for (int kk = 0; kk < ATT_ROWS / 16; kk++)
            wmma::load_matrix_sync(pf[kk], Pw + kk * 16, S::LDP);
#pragma unroll
        for (int dn = 0; dn < HD / 16; dn++) {
            FragC acc;
            wmma::fill_fragment(acc, 0.0f);
#pragma unroll
            for (int kk = 0; kk < ATT_ROWS / 16; kk++) {
                FragBRow vf; // (key, d) = Vs[key][d]
                wmma::load_matrix_sync(vf, Vs + kk * 16 * S::LDH + dn * 16, S::LDH);
                wmma::mma_sync(acc, pf[kk], vf, acc);
            }
            wmma::store_matrix_sync(Fw + dn * 16, acc, S::LDO, wmma::mem_row_major);
        }
        __syncwarp();
#pragma unroll
        for (int j = 0; j < HD / 4; j++) {
            const float2 pv = *(const float2 *)(Fw + r * S::LDO + 4 * j + 2 * half);
            o[2 * j] = o[2 * j] * alpha + pv.x;
            o[2 * j + 1] = o[2 * j + 1] * alpha + pv.y;
        }
    }

    if (t < g.T) {
        const float inv = 1.0f / l;
        bf16 *orow = out + ((size_t)b * g.T + t) * g.O + (size_t)h * HD;
#pragma unroll
        for (int j = 0; j < HD / 4; j++) {
            const int c = 4 * j + 2 * half;
            orow[c] = __float2bfloat16(o[2 * j] * inv);
            orow[c + 1] = __float2bfloat16(o[2 * j + 1] * inv);
        }
        if (half == 0) lse[((size_t)b * g.H + h) * g.T + t] = (m + log2f(l)) * ATT_LN2;
    }
}

// Writes the warp's 16 rows x HD of staged fp32 values (Fw, stride LDO) times mul into
// rows row0 + r of dst (row stride ld) for rows < T. Lane: row lane/2, half the columns.
template <int HD>
__device__ __forceinline__ void att_store_rows(bf16 *dst, size_t ld, const float *Fw, int row0,
                                               int T, float mul) {
    const int lane = threadIdx.x % 32, r = lane >> 1, half = lane & 1;
    if (row0 + r >= T) return;
    bf16 *row = dst + (size_t)(row0 + r) * ld;
    const float *src = Fw + r * AttSmem<HD>::LDO;
#pragma unroll
    for (int j = 0; j < HD / 2; j++) {
        const int c = half * (HD / 2) + j;
        row[c] = __float2bfloat16(src[c] * mul);
    }
}

// Backward, dq. Grid (ceil(T/64), B*H), 128 threads; block = query rows q0 .. q0+63 of head
// h, looping over the key tiles it can see:
//   S = Q K^T, dP = dO V^T, P = exp2(S scale log2e - lse log2e), dS = P (dP - D),
//   dQ += dS K;  dq = scale dQ.
template <int HD>
__global__ void __launch_bounds__(ATT_THREADS)
    attn_bwd_dq_wmma_kernel(bf16 *dqkv, const bf16 *dout, const bf16 *qkv, const float *lse,
                            const float *D, const int *seg, AttGeom g, int vec) {
    typedef AttSmem<HD> S;
    extern __shared__ __align__(128) unsigned char smem[];
    bf16 *Qs = (bf16 *)smem;
    bf16 *dOs = Qs + S::TILE;
    bf16 *Ks = dOs + S::TILE;
    bf16 *Vs = Ks + S::TILE;
    bf16 *dSs = Vs + S::TILE;                  // 4 x (16, LDP); the second P block is unused
    float *Fs = (float *)(dSs + 8 * S::PW);    // 4 x FW_BWD: S | dP, then dq staging
    float *lse_q = Fs + 4 * S::FW_BWD;         // 64, times log2e
    float *D_q = lse_q + ATT_ROWS;             // 64
    int *seg_q = (int *)(D_q + ATT_ROWS);      // 64
    int *seg_k = seg_q + ATT_ROWS;             // 64

    const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
    const int q0 = (gridDim.x - 1 - blockIdx.x) * ATT_ROWS;
    const int b = blockIdx.y / g.H, h = blockIdx.y % g.H, kvh = h / g.group;
    const bf16 *seq = qkv + (size_t)b * g.T * g.R;
    const float scale_log2 = g.scale * ATT_LOG2E;

    att_load_tile<HD>(Qs, seq + (size_t)h * HD, g.R, q0, g.T, vec);
    att_load_tile<HD>(dOs, dout + (size_t)b * g.T * g.O + (size_t)h * HD, g.O, q0, g.T, vec);
    att_load_seg(seg_q, seg, b, q0, g.T);
    if (threadIdx.x < ATT_ROWS) {
        const int tq = q0 + threadIdx.x;
        const size_t li = ((size_t)b * g.H + h) * g.T + tq;
        lse_q[threadIdx.x] = tq < g.T ? lse[li] * ATT_LOG2E : 0.0f;
        D_q[threadIdx.x] = tq < g.T ? D[li] : 0.0f;
    }
    __syncthreads();

    FragA qf[HD / 16], dof[HD / 16];
#pragma unroll
    for (int kk = 0; kk < HD / 16; kk++) {
        wmma::load_matrix_sync(qf[kk], Qs + warp * 16 * S::LDH + kk * 16, S::LDH);
        wmma::load_matrix_sync(dof[kk], dOs + warp * 16 * S::LDH + kk * 16, S::LDH);
    }
    FragC dq[HD / 16];
#pragma unroll
    for (int dn = 0; dn < HD / 16; dn++) wmma::fill_fragment(dq[dn], 0.0f);

    const int r = lane >> 1, half = lane & 1;
    const int t = q0 + warp * 16 + r;
    const int my_seg = seg_q[warp * 16 + r];
    const float my_lse = lse_q[warp * 16 + r], my_D = D_q[warp * 16 + r];
    float *Sw = Fs + warp * S::FW_BWD;   // (16, LDS) scores
    float *dPw = Sw + 16 * S::LDS;       // (16, LDS) dP
    bf16 *dSw = dSs + warp * S::PW;      // (16, LDP) dS in bf16

    const int k_end = min(g.T, q0 + ATT_ROWS);
    for (int k0 = 0; k0 < k_end; k0 += ATT_ROWS) {
        __syncthreads();
        att_load_tile<HD>(Ks, seq + (size_t)(g.H + kvh) * HD, g.R, k0, g.T, vec);
        att_load_tile<HD>(Vs, seq + (size_t)(g.H + g.KV + kvh) * HD, g.R, k0, g.T, vec);
        att_load_seg(seg_k, seg, b, k0, g.T);
        __syncthreads();

#pragma unroll
        for (int jn = 0; jn < ATT_ROWS / 16; jn++) {
            FragC acc;
            wmma::fill_fragment(acc, 0.0f);
#pragma unroll
            for (int kk = 0; kk < HD / 16; kk++) {
                FragBCol kf; // (d, key) = Ks[key][d]
                wmma::load_matrix_sync(kf, Ks + jn * 16 * S::LDH + kk * 16, S::LDH);
                wmma::mma_sync(acc, qf[kk], kf, acc);
            }
            wmma::store_matrix_sync(Sw + jn * 16, acc, S::LDS, wmma::mem_row_major);
            wmma::fill_fragment(acc, 0.0f);
#pragma unroll
            for (int kk = 0; kk < HD / 16; kk++) {
                FragBCol vf; // (d, key) = Vs[key][d]
                wmma::load_matrix_sync(vf, Vs + jn * 16 * S::LDH + kk * 16, S::LDH);
                wmma::mma_sync(acc, dof[kk], vf, acc);
            }
            wmma::store_matrix_sync(dPw + jn * 16, acc, S::LDS, wmma::mem_row_major);
        }
        __syncwarp();

#pragma unroll
        for (int i = 0; i < ATT_ROWS / 4; i++) {
            const int c = 4 * i + 2 * half;
            float ds[2];
#pragma unroll
            for (int e = 0; e < 2; e++) {
                const int s = k0 + c + e;
                const bool ok = t < g.T && s <= t && (!seg || seg_k[c + e] == my_seg);
                const float p = ok ? exp2f(Sw[r * S::LDS + c + e] * scale_log2 - my_lse) : 0.0f;
                ds[e] = p * (dPw[r * S::LDS + c + e] - my_D);
            }
            *(__nv_bfloat162 *)(dSw + r * S::LDP + c) = __floats2bfloat162_rn(ds[0], ds[1]);
        }
        __syncwarp();

#pragma unroll
        for (int kk = 0; kk < ATT_ROWS / 16; kk++) {
            FragA sa;
            wmma::load_matrix_sync(sa, dSw + kk * 16, S::LDP);
#pragma unroll
            for (int dn = 0; dn < HD / 16; dn++) {
                FragBRow kf; // (key, d) = Ks[key][d]
                wmma::load_matrix_sync(kf, Ks + kk * 16 * S::LDH + dn * 16, S::LDH);
                wmma::mma_sync(dq[dn], sa, kf, dq[dn]);
            }
        }
    }

    __syncwarp(); // the last reads of Sw / dPw are done: stage dq there
#pragma unroll
    for (int dn = 0; dn < HD / 16; dn++)
        wmma::store_matrix_sync(Sw + dn * 16, dq[dn], S::LDO, wmma::mem_row_major);
    __syncwarp();
    att_store_rows<HD>(dqkv + (size_t)b * g.T * g.R + (size_t)h * HD, g.R, Sw, q0 + warp * 16,
                       g.T, g.scale);
}

// Backward, dk and dv. Grid (ceil(T/64), B*KV), 128 threads; block = key rows k0 .. k0+63
// of kv head kvh (warp w owns keys k0+16w .. +15), looping over the group's query heads and,
// for each, over the query tiles at or after the key block (in order):
//   S^T = K Q^T, dP^T = V dO^T, P^T, dS^T as in the dq kernel (transposed),
//   dV += P^T dO, dK += dS^T Q;  dk = scale dK.
template <int HD>
__global__ void __launch_bounds__(ATT_THREADS)
    attn_bwd_dkdv_wmma_kernel(bf16 *dqkv, const bf16 *dout, const bf16 *qkv, const float *lse,
                              const float *D, const int *seg, AttGeom g, int vec) {
    typedef AttSmem<HD> S;
    extern __shared__ __align__(128) unsigned char smem[];
    bf16 *Ks = (bf16 *)smem;
    bf16 *Vs = Ks + S::TILE;
    bf16 *Qs = Vs + S::TILE;
    bf16 *dOs = Qs + S::TILE;
    bf16 *Pt = dOs + S::TILE;                  // 4 x (16, LDP): P^T of the warp's keys
    bf16 *dSt = Pt + 4 * S::PW;                // 4 x (16, LDP): dS^T
    float *Fs = (float *)(dSt + 4 * S::PW);    // 4 x FW_BWD: S^T | dP^T, then staging
    float *lse_q = Fs + 4 * S::FW_BWD;         // 64, times log2e
    float *D_q = lse_q + ATT_ROWS;             // 64
    int *seg_q = (int *)(D_q + ATT_ROWS);      // 64
    int *seg_k = seg_q + ATT_ROWS;             // 64

    const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
    const int kb = blockIdx.x; // the first key blocks have the most queries: they go first
    const int k0 = kb * ATT_ROWS;
    const int b = blockIdx.y / g.KV, kvh = blockIdx.y % g.KV;
    const bf16 *seq = qkv + (size_t)b * g.T * g.R;
    const float scale_log2 = g.scale * ATT_LOG2E;

    att_load_tile<HD>(Ks, seq + (size_t)(g.H + kvh) * HD, g.R, k0, g.T, vec);
    att_load_tile<HD>(Vs, seq + (size_t)(g.H + g.KV + kvh) * HD, g.R, k0, g.T, vec);
    att_load_seg(seg_k, seg, b, k0, g.T);
    __syncthreads();

    FragC dk[HD / 16], dv[HD / 16];
#pragma unroll
    for (int dn = 0; dn < HD / 16; dn++) {
        wmma::fill_fragment(dk[dn], 0.0f);
        wmma::fill_fragment(dv[dn], 0.0f);
    }

    const int r = lane >> 1, half = lane & 1;
    const int s = k0 + warp * 16 + r; // this lane's key row
    const int my_seg = seg_k[warp * 16 + r];
    float *Sw = Fs + warp * S::FW_BWD;  // (16 keys, LDS) S^T
    float *dPw = Sw + 16 * S::LDS;      // (16 keys, LDS) dP^T
    bf16 *Pw = Pt + warp * S::PW;
    bf16 *dSw = dSt + warp * S::PW;
    const bf16 *Kw = Ks + warp * 16 * S::LDH;
    const bf16 *Vw = Vs + warp * 16 * S::LDH;

    const int n_qt = (g.T + ATT_ROWS - 1) / ATT_ROWS;
    for (int h = kvh * g.group; h < (kvh + 1) * g.group; h++) {
        for (int qt = kb; qt < n_qt; qt++) {
            const int q0 = qt * ATT_ROWS;
            __syncthreads(); // every warp is done with the previous Q, dO tile
            att_load_tile<HD>(Qs, seq + (size_t)h * HD, g.R, q0, g.T, vec);
            att_load_tile<HD>(dOs, dout + (size_t)b * g.T * g.O + (size_t)h * HD, g.O, q0, g.T,
                              vec);
            att_load_seg(seg_q, seg, b, q0, g.T);
            if (threadIdx.x < ATT_ROWS) {
                const int tq = q0 + threadIdx.x;
                const size_t li = ((size_t)b * g.H + h) * g.T + tq;
                lse_q[threadIdx.x] = tq < g.T ? lse[li] * ATT_LOG2E : 0.0f;
                D_q[threadIdx.x] = tq < g.T ? D[li] : 0.0f;
            }
            __syncthreads();

#pragma unroll
            for (int jn = 0; jn < ATT_ROWS / 16; jn++) {
                FragC acc;
                wmma::fill_fragment(acc, 0.0f);
#pragma unroll
                for (int kk = 0; kk < HD / 16; kk++) {
                    FragA ka;    // (key, d) = Ks[key][d]
                    FragBCol qb; // (d, query) = Qs[query][d]
                    wmma::load_matrix_sync(ka, Kw + kk * 16, S::LDH);
                    wmma::load_matrix_sync(qb, Qs + jn * 16 * S::LDH + kk * 16, S::LDH);
                    wmma::mma_sync(acc, ka, qb, acc);
                }
                wmma::store_matrix_sync(Sw + jn * 16, acc, S::LDS, wmma::mem_row_major);
                wmma::fill_fragment(acc, 0.0f);
#pragma unroll
                for (int kk = 0; kk < HD / 16; kk++) {
                    FragA va;    // (key, d) = Vs[key][d]
                    FragBCol ob; // (d, query) = dOs[query][d]
                    wmma::load_matrix_sync(va, Vw + kk * 16, S::LDH);
                    wmma::load_matrix_sync(ob, dOs + jn * 16 * S::LDH + kk * 16, S::LDH);
                    wmma::mma_sync(acc, va, ob, acc);
                }
                wmma::store_matrix_sync(dPw + jn * 16, acc, S::LDS, wmma::mem_row_major);
            }
            __syncwarp();

#pragma unroll
            for (int i = 0; i < ATT_ROWS / 4; i++) {
                const int c = 4 * i + 2 * half;
                float p[2], ds[2];
#pragma unroll
                for (int e = 0; e < 2; e++) {
                    const int tq = q0 + c + e;
                    const bool ok = tq < g.T && s <= tq && (!seg || seg_q[c + e] == my_seg);
                    p[e] = ok ? exp2f(Sw[r * S::LDS + c + e] * scale_log2 - lse_q[c + e]) : 0.0f;
                    ds[e] = p[e] * (dPw[r * S::LDS + c + e] - D_q[c + e]);
                }
                *(__nv_bfloat162 *)(Pw + r * S::LDP + c) = __floats2bfloat162_rn(p[0], p[1]);
                *(__nv_bfloat162 *)(dSw + r * S::LDP + c) = __floats2bfloat162_rn(ds[0], ds[1]);
            }
            __syncwarp();

#pragma unroll
            for (int kk = 0; kk < ATT_ROWS / 16; kk++) {
                FragA pa, sa; // (key, query)
                wmma::load_matrix_sync(pa, Pw + kk * 16, S::LDP);
                wmma::load_matrix_sync(sa, dSw + kk * 16, S::LDP);
#pragma unroll
                for (int dn = 0; dn < HD / 16; dn++) {
                    FragBRow ob, qb; // (query, d)
                    wmma::load_matrix_sync(ob, dOs + kk * 16 * S::LDH + dn * 16, S::LDH);
                    wmma::mma_sync(dv[dn], pa, ob, dv[dn]);
                    wmma::load_matrix_sync(qb, Qs + kk * 16 * S::LDH + dn * 16, S::LDH);
                    wmma::mma_sync(dk[dn], sa, qb, dk[dn]);
                }
            }
        }
    }

    bf16 *dseq = dqkv + (size_t)b * g.T * g.R;
    __syncwarp(); // the last reads of Sw / dPw are done: stage dk, then dv, there
#pragma unroll
    for (int dn = 0; dn < HD / 16; dn++)
        wmma::store_matrix_sync(Sw + dn * 16, dk[dn], S::LDO, wmma::mem_row_major);
    __syncwarp();
    att_store_rows<HD>(dseq + (size_t)(g.H + kvh) * HD, g.R, Sw, k0 + warp * 16, g.T, g.scale);
    __syncwarp();
#pragma unroll
    for (int dn = 0; dn < HD / 16; dn++)
        wmma::store_matrix_sync(Sw + dn * 16, dv[dn], S::LDO, wmma::mem_row_major);
    __syncwarp();
    att_store_rows<HD>(dseq + (size_t)(g.H + g.KV + kvh) * HD, g.R, Sw, k0 + warp * 16, g.T,
                       1.0f);
}

// ---------------------------------------------------------------------------
// host side

static AttGeom att_geom(const char *op, int B, int T, int H, int KV, int hd) {
    LM_CHECK(B > 0 && T > 0 && H > 0 && KV > 0, "%s: bad shape B=%d T=%d H=%d KV=%d", op, B, T,
             H, KV);
    LM_CHECK(H % KV == 0, "%s: %d query heads are not a multiple of %d kv heads", op, H, KV);
    if (hd != 16 && hd != 32 && hd != 64 && hd != 128)
        lm_fatal("%s: head dim %d is not supported by the CUDA backend (16, 32, 64 or 128)", op,
                 hd);
    LM_CHECK((long long)B * H <= 65535, "%s: B*H = %lld is too large for the grid", op,
             (long long)B * H);
    AttGeom g;
    g.B = B;
    g.T = T;
    g.H = H;
    g.KV = KV;
    g.hd = hd;
    g.group = H / KV;
    g.R = (size_t)(H + 2 * KV) * hd;
    g.O = (size_t)H * hd;
    g.scale = 1.0f / sqrtf((float)hd);
    return g;
}

// Opts the kernel into `bytes` of dynamic shared memory (fatal if the device has less).
template <typename K> static void att_smem(Backend *b, K *kernel, size_t bytes) {
    LM_CHECK(bytes <= cuda_state(b)->smem_optin,
             "attention: needs %zu bytes of shared memory per block, the device allows %zu",
             bytes, cuda_state(b)->smem_optin);
    CUDA_CHECK(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                    (int)bytes));
}

static unsigned att_warp_blocks(long long warps) { return (unsigned)((warps + 7) / 8); }

template <int HD>
static void attention_fwd_hd(Backend *b, void *out, float *lse, const void *qkv, const int *seg,
                             const AttGeom &g) {
    cudaStream_t s = cuda_stream(b);
    if (b->act == DT_BF16) {
        const size_t bytes = AttSmem<HD>::FWD_BYTES;
        att_smem(b, attn_fwd_wmma_kernel<HD>, bytes);
        const int vec = cuda_align_of(qkv) >= 16;
        dim3 grid((g.T + ATT_ROWS - 1) / ATT_ROWS, g.B * g.H);
        attn_fwd_wmma_kernel<HD><<<grid, ATT_THREADS, bytes, s>>>((bf16 *)out, lse,
                                                                  (const bf16 *)qkv, seg, g, vec);
    } else {
        const long long warps = (long long)g.B * g.H * g.T;
        attn_fwd_simple_kernel<float, HD><<<att_warp_blocks(warps), 256, 0, s>>>(
            (float *)out, lse, (const float *)qkv, seg, g);
    }
    CUDA_CHECK_LAST();
}

template <int HD>
static void attention_bwd_hd(Backend *b, void *dqkv, const void *dout, const void *qkv,
                             const float *lse, const float *D, const int *seg, const AttGeom &g) {
    cudaStream_t s = cuda_stream(b);
    if (b->act == DT_BF16) {
        const size_t bytes = AttSmem<HD>::BWD_BYTES;
        att_smem(b, attn_bwd_dq_wmma_kernel<HD>, bytes);
        att_smem(b, attn_bwd_dkdv_wmma_kernel<HD>, bytes);
        const int vec = cuda_align_of(qkv) >= 16 && cuda_align_of(dout) >= 16;
        const int nb = (g.T + ATT_ROWS - 1) / ATT_ROWS;
        attn_bwd_dq_wmma_kernel<HD><<<dim3(nb, g.B * g.H), ATT_THREADS, bytes, s>>>(
            (bf16 *)dqkv, (const bf16 *)dout, (const bf16 *)qkv, lse, D, seg, g, vec);
        CUDA_CHECK_LAST();
        attn_bwd_dkdv_wmma_kernel<HD><<<dim3(nb, g.B * g.KV), ATT_THREADS, bytes, s>>>(
            (bf16 *)dqkv, (const bf16 *)dout, (const bf16 *)qkv, lse, D, seg, g, vec);
        CUDA_CHECK_LAST();
    } else {
        const long long wq = (long long)g.B * g.H * g.T, wk = (long long)g.B * g.KV * g.T;
        attn_bwd_dq_simple_kernel<float, HD><<<att_warp_blocks(wq), 256, 0, s>>>(
            (float *)dqkv, (const float *)dout, (const float *)qkv, lse, D, seg, g);
        CUDA_CHECK_LAST();
        attn_bwd_dkdv_simple_kernel<float, HD><<<att_warp_blocks(wk), 256, 0, s>>>(
            (float *)dqkv, (const float *)dout, (const float *)qkv, lse, D, seg, g);
        CUDA_CHECK_LAST();
    }
}

void cuda_attention_fwd(Backend *b, void *out, float *lse, const void *qkv, const int *seg, int B,
                        int T, int H, int KV, int hd) {
    const AttGeom g = att_geom("attention_fwd", B, T, H, KV, hd);
    switch (hd) {
    case 16: attention_fwd_hd<16>(b, out, lse, qkv, seg, g); break;
    case 32: attention_fwd_hd<32>(b, out, lse, qkv, seg, g); break;
    case 64: attention_fwd_hd<64>(b, out, lse, qkv, seg, g); break;
    default: attention_fwd_hd<128>(b, out, lse, qkv, seg, g); break;
    }
}

void cuda_attention_bwd(Backend *b, void *dqkv, const void *dout, const void *qkv,
                        const void *out, const float *lse, const int *seg, int B, int T, int H,
                        int KV, int hd) {
    const AttGeom g = att_geom("attention_bwd", B, T, H, KV, hd);
    cudaStream_t s = cuda_stream(b);
    const long long warps = (long long)B * H * T;
    float *D = (float *)cuda_scratch(b, SCR_ATTN, (size_t)warps * sizeof(float));
    if (b->act == DT_BF16)
        attn_bwd_d_kernel<bf16><<<att_warp_blocks(warps), 256, 0, s>>>(D, (const bf16 *)dout,
                                                                       (const bf16 *)out, g);
    else
        attn_bwd_d_kernel<float><<<att_warp_blocks(warps), 256, 0, s>>>(D, (const float *)dout,
                                                                        (const float *)out, g);
    CUDA_CHECK_LAST();
    switch (hd) {
    case 16: attention_bwd_hd<16>(b, dqkv, dout, qkv, lse, D, seg, g); break;
    case 32: attention_bwd_hd<32>(b, dqkv, dout, qkv, lse, D, seg, g); break;
    case 64: attention_bwd_hd<64>(b, dqkv, dout, qkv, lse, D, seg, g); break;
    default: attention_bwd_hd<128>(b, dqkv, dout, qkv, lse, D, seg, g); break;
    }
}
