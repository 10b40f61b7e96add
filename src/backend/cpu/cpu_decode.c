// backend/cpu: the decoding ops (docs/sampling.md): kv_write (k and v rows into the KV
// cache), attention_decode (one query row per sequence over its slot's cache), and
// matmul_rows, a matmul for the decode path whose every output element is one sequential
// sum over the input dimension, so that a row's result does not depend on how many rows run
// with it (OpenBLAS picks different kernels for different row counts; its small-matrix
// kernels round differently).
//
// The cache holds fp32 or bf16 keys and values (compute in fp32 either way).
//
// matmul_rows: input rows are packed transposed in blocks of DEC_MB rows ((C, DEC_MB) per
// block, zero-padded; each thread packs every block into its own buffer); a kernel keeps DEC_OB weight rows x DEC_MB input rows of sums in
// registers, broadcasting one weight and loading DEC_MV vectors of inputs per step of the
// sum. Each weight block runs over the whole input dimension before the next one, so that
// its rows stream from memory once (the packed inputs come back from L2 for every block);
// within a block the sum runs in chunks of DEC_KC input dimensions whose running sums wait
// in a tile between chunks (loaded back, not added: the order of the sum is unchanged).
// Threads own ranges of weight blocks (no barrier: each packs the inputs itself).
#include "cpu_internal.h"
#include "lemma/util.h"

#include <math.h>
#include <omp.h>
#include <string.h>

#if defined(__AVX512F__)
#define DEC_VL 16 // floats per vector register
#define DEC_MV 4  // vectors of input rows per block (24 accumulators of 32 registers)
#else
#define DEC_VL 8 // AVX2 (or narrower: gcc splits the vectors)
#define DEC_MV 2 // 12 accumulators of 16 registers
#endif
#define DEC_OB 6                 // weight rows (output columns) per kernel call
#define DEC_MB (DEC_VL * DEC_MV) // input rows per block
#define DEC_KC 64                // input dimensions per chunk of the sum
// Work (multiply-adds, or elements moved) below which an op runs on one thread: a parallel
// region costs microseconds, and a scheduler time slice when the cores are oversubscribed.
#define DEC_PAR_WORK (1L << 16)

typedef float dec_vf __attribute__((vector_size(DEC_VL * sizeof(float))));
#define DEC_VLOAD(v, p) memcpy(&(v), (p), sizeof(dec_vf))
#define DEC_VSTORE(p, v) memcpy((p), &(v), sizeof(dec_vf))

// ---------------------------------------------------------------------------
// In-register transpose of DEC_VL x DEC_VL floats (packing, and the small-N kernels).

typedef int dec_vi __attribute__((vector_size(DEC_VL * sizeof(int))));
// Butterfly step b of the in-register transpose: lanes with bit b set come from the other
// vector (lo gets hi's lanes shifted down by b, hi gets lo's shifted up).
#define DEC_LO(b, l) (((l) & (b)) ? DEC_VL + (l) - (b) : (l))
#define DEC_HI(b, l) (((l) & (b)) ? DEC_VL + (l) : (l) + (b))
#if DEC_VL == 16
#define DEC_MASK(F, b)                                                                             \
    (dec_vi) {                                                                                     \
        F(b, 0), F(b, 1), F(b, 2), F(b, 3), F(b, 4), F(b, 5), F(b, 6), F(b, 7), F(b, 8), F(b, 9),  \
            F(b, 10), F(b, 11), F(b, 12), F(b, 13), F(b, 14), F(b, 15)                             \
    }
#else
#define DEC_MASK(F, b) (dec_vi){F(b, 0), F(b, 1), F(b, 2), F(b, 3), F(b, 4), F(b, 5), F(b, 6), F(b, 7)}
#endif

#define DEC_BUTTERFLY(r, b)                                                                        \
    _Pragma("GCC unroll 16") for (int i = 0; i < DEC_VL; i++) {                                    \
        if (i & (b)) continue;                                                                     \
        dec_vf lo = r[i], hi = r[i + (b)];                                                         \
        r[i] = __builtin_shuffle(lo, hi, DEC_MASK(DEC_LO, b));                                     \
        r[i + (b)] = __builtin_shuffle(lo, hi, DEC_MASK(DEC_HI, b));                               \
    }

// r[i][j] <- r[j][i].
static inline void dec_transpose(dec_vf r[DEC_VL]) {
    DEC_BUTTERFLY(r, 1)
    DEC_BUTTERFLY(r, 2)
    DEC_BUTTERFLY(r, 4)
#if DEC_VL == 16
    DEC_BUTTERFLY(r, 8)
#endif
}

// ---------------------------------------------------------------------------
// matmul_rows

// tile (DEC_OB, DEC_MB): for the first MV vectors of rows, acc[r][v] = (init ? 0 : tile)
// + sum over c < kc of wr[r][c] * xb[c][v-th vector], c in order: every lane gets the same
// sequence of fused multiply-adds whatever MV and the chunking are.
#define DEC_KERNEL(MV)                                                                             \
    static void dec_kernel_##MV(float *restrict tile, const float *const *wr,                      \
                                const float *restrict xb, int kc, int init) {                      \
        const float *w0 = wr[0], *w1 = wr[1], *w2 = wr[2], *w3 = wr[3], *w4 = wr[4], *w5 = wr[5];  \
        dec_vf a0[MV], a1[MV], a2[MV], a3[MV], a4[MV], a5[MV];                                     \
        _Pragma("GCC unroll 4") for (int v = 0; v < MV; v++) {                                     \
            if (init) {                                                                            \
                a0[v] = a1[v] = a2[v] = a3[v] = a4[v] = a5[v] = (dec_vf){0};                       \
                continue;                                                                          \
            }                                                                                      \
            DEC_VLOAD(a0[v], tile + 0 * DEC_MB + v * DEC_VL);                                      \
            DEC_VLOAD(a1[v], tile + 1 * DEC_MB + v * DEC_VL);                                      \
            DEC_VLOAD(a2[v], tile + 2 * DEC_MB + v * DEC_VL);                                      \
            DEC_VLOAD(a3[v], tile + 3 * DEC_MB + v * DEC_VL);                                      \
            DEC_VLOAD(a4[v], tile + 4 * DEC_MB + v * DEC_VL);                                      \
            DEC_VLOAD(a5[v], tile + 5 * DEC_MB + v * DEC_VL);                                      \
        }                                                                                          \
        for (int c = 0; c < kc; c++) {                                                             \
            dec_vf x[MV];                                                                          \
            _Pragma("GCC unroll 4") for (int v = 0; v < MV; v++)                                   \
                DEC_VLOAD(x[v], xb + (size_t)c * DEC_MB + v * DEC_VL);                              \
            float b0 = w0[c], b1 = w1[c], b2 = w2[c], b3 = w3[c], b4 = w4[c], b5 = w5[c];          \
            _Pragma("GCC unroll 4") for (int v = 0; v < MV; v++) {                                 \
                a0[v] += b0 * x[v], a1[v] += b1 * x[v], a2[v] += b2 * x[v];                        \
                a3[v] += b3 * x[v], a4[v] += b4 * x[v], a5[v] += b5 * x[v];                        \
            }                                                                                      \
        }                                                                                          \
        _Pragma("GCC unroll 4") for (int v = 0; v < MV; v++) {                                     \
            DEC_VSTORE(tile + 0 * DEC_MB + v * DEC_VL, a0[v]);                                     \
            DEC_VSTORE(tile + 1 * DEC_MB + v * DEC_VL, a1[v]);                                     \
            DEC_VSTORE(tile + 2 * DEC_MB + v * DEC_VL, a2[v]);                                     \
            DEC_VSTORE(tile + 3 * DEC_MB + v * DEC_VL, a3[v]);                                     \
            DEC_VSTORE(tile + 4 * DEC_MB + v * DEC_VL, a4[v]);                                     \
            DEC_VSTORE(tile + 5 * DEC_MB + v * DEC_VL, a5[v]);                                     \
        }                                                                                          \
    }

DEC_KERNEL(1)
DEC_KERNEL(2)
#if DEC_MV == 4
DEC_KERNEL(3)
DEC_KERNEL(4)
#endif

static void dec_kernel(float *tile, const float *const *wr, const float *xb, int kc, int init,
                       int mv) {
    switch (mv) {
    case 1: dec_kernel_1(tile, wr, xb, kc, init); break;
    case 2: dec_kernel_2(tile, wr, xb, kc, init); break;
#if DEC_MV == 4
    case 3: dec_kernel_3(tile, wr, xb, kc, init); break;
    case 4: dec_kernel_4(tile, wr, xb, kc, init); break;
#endif
    default: LM_CHECK(0, "matmul_rows: bad vector count %d", mv);
    }
}

// The shape of one call.
typedef struct {
    float *out;
    const float *x, *w, *bias;
    int N, C, OC, nmb, nob; // input blocks of DEC_MB rows, weight blocks of DEC_OB rows
} DecMM;

// Input block k packed into blk (C, DEC_MB): rows k*DEC_MB .. of x transposed, zero-padded
// past N; DEC_VL x DEC_VL tiles transposed in registers, a scalar loop at the edges.
static void dec_pack_block(const DecMM *mm, int k, float *blk) {
    int C = mm->C, n0 = k * DEC_MB, nr = mm->N - n0 < DEC_MB ? mm->N - n0 : DEC_MB;
    for (int j0 = 0; j0 < DEC_MB; j0 += DEC_VL) {
        int c = 0;
        for (; j0 + DEC_VL <= nr && c + DEC_VL <= C; c += DEC_VL) {
            dec_vf t[DEC_VL];
            for (int j = 0; j < DEC_VL; j++) DEC_VLOAD(t[j], mm->x + (size_t)(n0 + j0 + j) * C + c);
            dec_transpose(t);
            for (int i = 0; i < DEC_VL; i++) DEC_VSTORE(blk + (size_t)(c + i) * DEC_MB + j0, t[i]);
        }
        for (; c < C; c++)
            for (int j = j0; j < j0 + DEC_VL; j++)
                blk[(size_t)c * DEC_MB + j] = j < nr ? mm->x[(size_t)(n0 + j) * C + c] : 0.0f;
    }
}

// Weight block ob's tile into out (rows of input block k), with the bias.
static void dec_store(const DecMM *mm, const float *tile, int ob, int k) {
    int o0 = ob * DEC_OB, no = mm->OC - o0 < DEC_OB ? mm->OC - o0 : DEC_OB;
    int n0 = k * DEC_MB, nr = mm->N - n0 < DEC_MB ? mm->N - n0 : DEC_MB;
    for (int j = 0; j < nr; j++) {
        float *o = mm->out + (size_t)(n0 + j) * mm->OC + o0;
        for (int r = 0; r < no; r++) o[r] = tile[r * DEC_MB + j] + (mm->bias ? mm->bias[o0 + r] : 0.0f);
    }
}

// One thread's weight blocks [ob0, ob1) over every input block: the thread packs each input
// block itself into xb (C, DEC_MB) (no barrier, and the block stays in this core's cache),
// then runs each weight block over it, the running sums in tile (DEC_OB, DEC_MB).
static void dec_thread(const DecMM *mm, int ob0, int ob1, float *xb, float *tile) {
    const float *wr[DEC_OB];
    for (int k = 0; k < mm->nmb; k++) {
        int nr = mm->N - k * DEC_MB < DEC_MB ? mm->N - k * DEC_MB : DEC_MB;
        int mv = (nr + DEC_VL - 1) / DEC_VL;
        dec_pack_block(mm, k, xb);
        for (int ob = ob0; ob < ob1; ob++) {
            int o0 = ob * DEC_OB, no = mm->OC - o0 < DEC_OB ? mm->OC - o0 : DEC_OB;
            for (int c0 = 0; c0 < mm->C; c0 += DEC_KC) {
                int kc = mm->C - c0 < DEC_KC ? mm->C - c0 : DEC_KC;
                for (int r = 0; r < DEC_OB; r++) // rows past OC repeat the last one (not stored)
                    wr[r] = mm->w + (size_t)(o0 + (r < no ? r : no - 1)) * mm->C + c0;
                dec_kernel(tile, wr, xb + (size_t)c0 * DEC_MB, kc, c0 == 0, mv);
            }
            dec_store(mm, tile, ob, k);
        }
    }
}

// ---------------------------------------------------------------------------
// matmul_rows for a few rows (N < DEC_SMALL): vectors along the output instead. A block of
// DEC_VL weight rows is loaded DEC_VL columns at a time and transposed in registers, then
// each row's sums take out[n][o..o+VL) += w^T[c][o..] * x[n][c] for c in order: the same
// fused multiply-adds in the same order as the kernels above, so every output is bitwise
// the same as with many rows; the weights are read once, in whole vectors.

#define DEC_SMALL (DEC_VL / 2) // rows below which matmul_rows takes this path

// Outputs o0 .. o0+VL of the NR rows of x (N < DEC_SMALL): wr the VL weight rows (rows past
// OC repeat the last one), no of them stored.
#define DEC_SMALL_KERNEL(NR)                                                                       \
    static void dec_small_##NR(float *out, const float *restrict x, const float *const *wr,        \
                               const float *bias, int C, int OC, int o0, int no) {                 \
        dec_vf acc[NR];                                                                            \
        for (int n = 0; n < NR; n++) acc[n] = (dec_vf){0};                                         \
        int c0 = 0;                                                                                \
        for (; c0 + DEC_VL <= C; c0 += DEC_VL) {                                                   \
            dec_vf t[DEC_VL];                                                                      \
            _Pragma("GCC unroll 16") for (int r = 0; r < DEC_VL; r++) DEC_VLOAD(t[r], wr[r] + c0); \
            dec_transpose(t);                                                                      \
            _Pragma("GCC unroll 16") for (int j = 0; j < DEC_VL; j++)                              \
                _Pragma("GCC unroll 8") for (int n = 0; n < NR; n++)                               \
                    acc[n] += t[j] * x[(size_t)n * C + c0 + j];                                    \
        }                                                                                          \
        for (; c0 < C; c0++) {                                                                     \
            float col[DEC_VL];                                                                     \
            for (int r = 0; r < DEC_VL; r++) col[r] = wr[r][c0];                                   \
            dec_vf t;                                                                              \
            DEC_VLOAD(t, col);                                                                     \
            for (int n = 0; n < NR; n++) acc[n] += t * x[(size_t)n * C + c0];                      \
        }                                                                                          \
        for (int n = 0; n < NR; n++) {                                                             \
            float o[DEC_VL];                                                                       \
            DEC_VSTORE(o, acc[n]);                                                                 \
            for (int r = 0; r < no; r++)                                                           \
                out[(size_t)n * OC + o0 + r] = o[r] + (bias ? bias[o0 + r] : 0.0f);                \
        }                                                                                          \
    }

DEC_SMALL_KERNEL(1)
DEC_SMALL_KERNEL(2)
DEC_SMALL_KERNEL(3)
#if DEC_SMALL > 4
DEC_SMALL_KERNEL(4)
DEC_SMALL_KERNEL(5)
DEC_SMALL_KERNEL(6)
DEC_SMALL_KERNEL(7)
#endif

typedef void (*DecSmallFn)(float *, const float *, const float *const *, const float *, int, int,
                           int, int);

static void dec_matmul_small(float *out, const float *x, const float *w, const float *bias,
                             int N, int C, int OC) {
#if DEC_SMALL > 4
    static const DecSmallFn fns[] = {NULL, dec_small_1, dec_small_2, dec_small_3,
                                     dec_small_4, dec_small_5, dec_small_6, dec_small_7};
#else
    static const DecSmallFn fns[] = {NULL, dec_small_1, dec_small_2, dec_small_3};
#endif
    int nb = (OC + DEC_VL - 1) / DEC_VL;
#pragma omp parallel for schedule(static) if ((long)N * C * OC >= DEC_PAR_WORK)
    for (int k = 0; k < nb; k++) {
        int o0 = k * DEC_VL, no = OC - o0 < DEC_VL ? OC - o0 : DEC_VL;
        const float *wr[DEC_VL];
        for (int r = 0; r < DEC_VL; r++) wr[r] = w + (size_t)(o0 + (r < no ? r : no - 1)) * C;
        fns[N](out, x, wr, bias, C, OC, o0, no);
    }
}

void cpu_matmul_rows(Backend *b, void *out, const void *inp, const void *w, const void *bias,
                     int N, int C, int OC) {
    LM_CHECK(N >= 0 && C > 0 && OC > 0, "matmul_rows: bad shape N=%d C=%d OC=%d", N, C, OC);
    if (N == 0) return;
    if (N < DEC_SMALL) {
        dec_matmul_small(out, inp, w, bias, N, C, OC);
        return;
    }
    DecMM mm = {out, inp, w, bias, N, C, OC, (N + DEC_MB - 1) / DEC_MB, (OC + DEC_OB - 1) / DEC_OB};
    size_t stride;
    float *scratch = cpu_scratch(b, (size_t)(C + DEC_OB) * DEC_MB, &stride);
#pragma omp parallel if ((long)N * C * OC >= DEC_PAR_WORK)
    {
        int nth = omp_get_num_threads(), t = omp_get_thread_num();
        float *xb = scratch + (size_t)t * stride;
        dec_thread(&mm, (int)((long)mm.nob * t / nth), (int)((long)mm.nob * (t + 1) / nth), xb,
                   xb + (size_t)C * DEC_MB);
    }
}

// ---------------------------------------------------------------------------
// KV cache: fp32, or bf16 (round to nearest even on the way in, exact on the way out: a
// bf16 value widens to fp32 by a 16-bit shift). The loads below take the cache dtype as a
// constant argument: the always-inline callers are compiled once per dtype.

typedef uint16_t dec_vh __attribute__((vector_size(DEC_VL * sizeof(uint16_t))));
typedef uint32_t dec_vu __attribute__((vector_size(DEC_VL * sizeof(uint32_t))));
#define DEC_INLINE static inline __attribute__((always_inline))

// DEC_VL cache elements from element i of p, as fp32.
DEC_INLINE dec_vf dec_kv_load(const void *p, size_t i, DType t) {
    dec_vf f;
    if (t == DT_F32) {
        DEC_VLOAD(f, (const float *)p + i);
    } else {
        dec_vh h;
        memcpy(&h, (const uint16_t *)p + i, sizeof h);
        dec_vu u = __builtin_convertvector(h, dec_vu) << 16;
        memcpy(&f, &u, sizeof f);
    }
    return f;
}

DEC_INLINE float dec_kv_load1(const void *p, size_t i, DType t) {
    return t == DT_F32 ? ((const float *)p)[i] : lm_bf16_to_f32(((const uint16_t *)p)[i]);
}

DEC_INLINE void dec_kv_store1(void *p, size_t i, float x, DType t) {
    if (t == DT_F32) ((float *)p)[i] = x;
    else ((uint16_t *)p)[i] = lm_f32_to_bf16(x);
}

static void dec_check_kvt(const char *op, DType t) {
    LM_CHECK(t == DT_F32 || t == DT_BF16, "%s: KV cache dtype %d (fp32 or bf16 only)", op, (int)t);
}

// Key (t, d) of one (slot, kv head) cache: blocks of 16 positions, each (hd, 16).
static inline size_t dec_kidx(int t, int d, int hd) {
    return ((size_t)(t >> 4) * hd + (size_t)d) * 16 + (size_t)(t & 15);
}

void cpu_kv_write(Backend *b, void *kc, void *vc, const void *qkv, const int *slot,
                  const int *pos, int N, int H, int KV, int hd, int ctx, DType kvt) {
    (void)b;
    LM_CHECK(ctx % 16 == 0, "kv_write: ctx = %d is not a multiple of 16", ctx);
    dec_check_kvt("kv_write", kvt);
    size_t R = (size_t)(H + 2 * KV) * hd;
#pragma omp parallel for schedule(static) if ((long)N * KV * hd >= DEC_PAR_WORK / 8)
    for (int n = 0; n < N; n++) {
        const float *row = (const float *)qkv + (size_t)n * R;
        size_t s = (size_t)slot[n];
        int p = pos[n];
        for (int g = 0; g < KV; g++) {
            const float *k = row + (size_t)(H + g) * hd, *v = row + (size_t)(H + KV + g) * hd;
            size_t kt = (s * KV + g) * ctx * hd, vs = ((s * KV + g) * ctx + (size_t)p) * hd;
            for (int d = 0; d < hd; d++) {
                dec_kv_store1(kc, kt + dec_kidx(p, d, hd), k[d], kvt);
                dec_kv_store1(vc, vs + (size_t)d, v[d], kvt);
            }
        }
    }
}

// ---------------------------------------------------------------------------
// attention over the cache
//
// One task per (row, kv head): the G query heads of the group go over the slot's keys and
// values in pairs, so that each key and value is read from memory once per task. kt, vs
// point at the task's (slot, kv head) part of the caches, elements of dtype t.

// S0[t], S1[t] = q0 . k(t), q1 . k(t) for the NV * DEC_VL positions from t0 (kt: keys in
// blocks of 16 positions, (hd, 16) each); S1 is not written when q1 is NULL.
#define DEC_SCORES(NV)                                                                             \
    DEC_INLINE void dec_scores_##NV(float *restrict S0, float *restrict S1,                        \
                                    const float *restrict q0, const float *restrict q1,            \
                                    const void *kt, int hd, int t0, DType t) {                     \
        dec_vf a[NV], b[NV];                                                                       \
        _Pragma("GCC unroll 8") for (int v = 0; v < NV; v++) a[v] = (dec_vf){0}, b[v] = a[v];     \
        for (int d = 0; d < hd; d++) {                                                             \
            float x0 = q0[d], x1 = q1 ? q1[d] : 0.0f;                                              \
            _Pragma("GCC unroll 8") for (int v = 0; v < NV; v++) {                                 \
                dec_vf kv = dec_kv_load(kt, dec_kidx(t0 + v * DEC_VL, d, hd), t);                  \
                a[v] += x0 * kv;                                                                   \
                b[v] += x1 * kv;                                                                   \
            }                                                                                      \
        }                                                                                          \
        _Pragma("GCC unroll 8") for (int v = 0; v < NV; v++) {                                     \
            DEC_VSTORE(S0 + t0 + v * DEC_VL, a[v]);                                                \
            if (S1) DEC_VSTORE(S1 + t0 + v * DEC_VL, b[v]);                                        \
        }                                                                                          \
    }
DEC_SCORES(1)
DEC_SCORES(4)

// The scores for t in [0, lenv) (lenv a multiple of 16, <= ctx): 4 vectors of positions at
// a time (8 independent sums), then one at a time. q1 may be NULL.
DEC_INLINE void dec_att_scores(float *restrict S0, float *restrict S1, const float *restrict q0,
                               const float *restrict q1, const void *kt, int hd, int lenv,
                               DType t) {
    int t0 = 0;
    for (; t0 + 4 * DEC_VL <= lenv; t0 += 4 * DEC_VL) dec_scores_4(S0, S1, q0, q1, kt, hd, t0, t);
    for (; t0 < lenv; t0 += DEC_VL) dec_scores_1(S0, S1, q0, q1, kt, hd, t0, t);
}

// S[0..len) = exp(S - max) in place; returns the sum.
static float dec_att_softmax(float *restrict S, int len) {
    float mx = -INFINITY;
#pragma omp simd reduction(max : mx)
    for (int t = 0; t < len; t++) mx = S[t] > mx ? S[t] : mx;
    float sum = 0.0f;
#pragma omp simd reduction(+ : sum)
    for (int t = 0; t < len; t++) {
        S[t] = cpu_expf(S[t] - mx);
        sum += S[t];
    }
    return sum;
}

// o0[d], o1[d] = (sum_{t < len} P0[t] v(t)[d]) * inv0, the same with P1 (o1, P1 may be NULL),
// for d < hd; vs: (ctx, hd) values. Positions in four interleaved partial sums added in a
// fixed order; the head dimension in vectors, then a scalar tail.
DEC_INLINE void dec_att_mix(float *restrict o0, float *restrict o1, const float *restrict P0,
                            const float *restrict P1, const void *vs, int len, int hd,
                            float inv0, float inv1, DType dt) {
    int d0 = 0;
    for (; d0 + DEC_VL <= hd; d0 += DEC_VL) {
        dec_vf a[4] = {{0}}, b[4] = {{0}};
        int t = 0;
        for (; t + 4 <= len; t += 4)
            for (int u = 0; u < 4; u++) {
                dec_vf v = dec_kv_load(vs, (size_t)(t + u) * hd + d0, dt);
                a[u] += P0[t + u] * v;
                if (P1) b[u] += P1[t + u] * v;
            }
        for (; t < len; t++) {
            dec_vf v = dec_kv_load(vs, (size_t)t * hd + d0, dt);
            a[0] += P0[t] * v;
            if (P1) b[0] += P1[t] * v;
        }
        dec_vf r0 = ((a[0] + a[1]) + (a[2] + a[3])) * inv0;
        DEC_VSTORE(o0 + d0, r0);
        if (o1) {
            dec_vf r1 = ((b[0] + b[1]) + (b[2] + b[3])) * inv1;
            DEC_VSTORE(o1 + d0, r1);
        }
    }
    for (; d0 < hd; d0++) {
        float a = 0.0f, b = 0.0f;
        for (int t = 0; t < len; t++) {
            float v = dec_kv_load1(vs, (size_t)t * hd + d0, dt);
            a += P0[t] * v;
            if (P1) b += P1[t] * v;
        }
        o0[d0] = a * inv0;
        if (o1) o1[d0] = b * inv1;
    }
}

// Query heads h0 (and h0 + 1 when pair) of row n over the slot's cache of their kv head.
// q: (H, hd) the row's query heads scaled; S: two rows of ctx floats; out: the row's output.
DEC_INLINE void dec_att_heads(float *out, const float *q, float *S, const void *kt,
                              const void *vs, int h0, int pair, int len, int hd, int ctx,
                              DType t) {
    float *S1 = pair ? S + ctx : NULL;
    int lenv = (len + 15) / 16 * 16;
    dec_att_scores(S, S1, q + (size_t)h0 * hd, pair ? q + (size_t)(h0 + 1) * hd : NULL, kt, hd,
                   lenv, t);
    float inv0 = 1.0f / dec_att_softmax(S, len), inv1 = pair ? 1.0f / dec_att_softmax(S1, len) : 0;
    dec_att_mix(out + (size_t)h0 * hd, pair ? out + (size_t)(h0 + 1) * hd : NULL, S, S1, vs, len,
                hd, inv0, inv1, t);
}

// The G query heads of one task, compiled once per cache dtype.
static void dec_att_group_f32(float *o, const float *q, float *S, const void *kt, const void *vs,
                              int G, int len, int hd, int ctx) {
    for (int h = 0; h < G; h += 2) dec_att_heads(o, q, S, kt, vs, h, h + 1 < G, len, hd, ctx, DT_F32);
}
static void dec_att_group_bf16(float *o, const float *q, float *S, const void *kt, const void *vs,
                               int G, int len, int hd, int ctx) {
    for (int h = 0; h < G; h += 2) dec_att_heads(o, q, S, kt, vs, h, h + 1 < G, len, hd, ctx, DT_BF16);
}

void cpu_attention_decode(Backend *b, void *out, const void *qkv, const void *kc,
                          const void *vc, const int *slot, const int *pos, int N, int H, int KV,
                          int hd, int ctx, DType kvt) {
    LM_CHECK(KV > 0 && H % KV == 0, "attention_decode: %d query heads, %d kv heads", H, KV);
    LM_CHECK(ctx % 16 == 0, "attention_decode: ctx = %d is not a multiple of 16", ctx);
    dec_check_kvt("attention_decode", kvt);
    int G = H / KV;
    size_t R = (size_t)(H + 2 * KV) * hd, stride, es = lm_dtype_size(kvt);
    float *scratch = cpu_scratch(b, 2 * (size_t)ctx + (size_t)G * hd, &stride);
    float scale = 1.0f / sqrtf((float)hd);
    long tasks = (long)N * KV, work = 0; // one (row, kv head) per task
    for (int n = 0; n < N; n++) work += (long)(pos[n] + 1) * H * hd * 2;
#pragma omp parallel for schedule(static) if (work >= DEC_PAR_WORK)
    for (long task = 0; task < tasks; task++) {
        int n = (int)(task / KV), g = (int)(task % KV);
        float *S = scratch + (size_t)omp_get_thread_num() * stride, *q = S + 2 * (size_t)ctx;
        size_t s = (size_t)slot[n], base = (s * KV + g) * ctx * hd * es;
        const float *qr = (const float *)qkv + (size_t)n * R + (size_t)g * G * hd;
        for (int i = 0; i < G * hd; i++) q[i] = qr[i] * scale;
        const char *kt = (const char *)kc + base, *vs = (const char *)vc + base;
        float *o = (float *)out + (size_t)n * H * hd + (size_t)g * G * hd;
        if (kvt == DT_F32) dec_att_group_f32(o, q, S, kt, vs, G, pos[n] + 1, hd, ctx);
        else dec_att_group_bf16(o, q, S, kt, vs, G, pos[n] + 1, hd, ctx);
    }
}
