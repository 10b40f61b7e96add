// backend/cpu: the decoding ops (docs/sampling.md): kv_write (k and v rows into the KV
// cache), attention_decode (one query row per sequence over its slot's cache), and
// matmul_rows, a matmul for the decode path whose every output element is one sequential
// sum over the input dimension, so that a row's result does not depend on how many rows run
// with it (OpenBLAS picks different kernels for different row counts; its small-matrix
// kernels round differently).
//
// The cache holds fp32 or bf16 keys and values (compute in fp32 either way).
//
// matmul_rows: the weights come packed once by pack_rows (when decoding starts) in panels of
// DEC_P output rows, each (C, DEC_P) contiguous, so that one step of the sum loads whole
// vectors of outputs and the weights stream from memory in one sequential pass; a kernel
// keeps up to DEC_R input rows x DEC_P outputs of sums in registers, broadcasting one input
// per row and step, and stores whole vectors of outputs. Every sum runs over the input
// dimension in order from zero with explicit fused multiply-adds, so a row gives the same
// bits alone or in company (kernels for 1 .. DEC_R rows). Threads own ranges of panels;
// rows are split too when panels are few.
#include "cpu_internal.h"
#include "lemma/util.h"

#include <immintrin.h>
#include <math.h>
#include <omp.h>
#include <string.h>

// LEMMA_VL16 (tests only): the AVX-512 shapes on any machine, gcc splitting the vectors.
#if defined(__AVX512F__) || defined(LEMMA_VL16)
#define DEC_VL 16 // floats per vector register
#define DEC_PV 4  // vectors of outputs per panel (24 accumulators of 32 registers)
#else
#define DEC_VL 8 // AVX2 (or narrower: gcc splits the vectors)
#define DEC_PV 2 // 12 accumulators of 16 registers
#endif
#define DEC_P (DEC_VL * DEC_PV) // outputs per packed weight panel
#define DEC_R 6                  // input rows per kernel call (DEC_R x DEC_PV sums in registers)
// Work (multiply-adds, or elements moved) below which an op runs on one thread: a parallel
// region costs microseconds, and a scheduler time slice when the cores are oversubscribed.
#define DEC_PAR_WORK (1L << 16)

typedef float dec_vf __attribute__((vector_size(DEC_VL * sizeof(float))));
#define DEC_VLOAD(v, p) memcpy(&(v), (p), sizeof(dec_vf))
#define DEC_VSTORE(p, v) memcpy((p), &(v), sizeof(dec_vf))

// a * b + c rounded once, in every lane. matmul_rows needs it explicit: its kernels for
// different row counts must give the same bits, and gcc contracts a * b + c into one
// instruction in some loops only.
static inline dec_vf dec_fma(dec_vf a, dec_vf b, dec_vf c) {
#if defined(__AVX512F__) && DEC_VL == 16
    return (dec_vf)_mm512_fmadd_ps((__m512)a, (__m512)b, (__m512)c);
#elif defined(__FMA__) && DEC_VL == 8
    return (dec_vf)_mm256_fmadd_ps((__m256)a, (__m256)b, (__m256)c);
#else
    for (int i = 0; i < DEC_VL; i++) c[i] = fmaf(a[i], b[i], c[i]);
    return c;
#endif
}

static inline dec_vf dec_splat(float x) {
    dec_vf v;
    for (int i = 0; i < DEC_VL; i++) v[i] = x;
    return v;
}

// ---------------------------------------------------------------------------
// In-register transpose of DEC_VL x DEC_VL floats (packing).

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

// A panel: DEC_P weight rows (outputs o0 .. o0+DEC_P) transposed, (C, DEC_P), so that one
// step of the sum loads DEC_PV whole vectors of outputs; rows past OC are zero (not stored).
// Packing loads DEC_VL x DEC_VL tiles of w and transposes them in registers.
static void dec_pack_panel(float *restrict panel, const float *restrict w, int C, int OC, int o0) {
    int no = OC - o0 < DEC_P ? OC - o0 : DEC_P;
    for (int j0 = 0; j0 < DEC_P; j0 += DEC_VL) {
        int c = 0;
        for (; j0 + DEC_VL <= no && c + DEC_VL <= C; c += DEC_VL) {
            dec_vf t[DEC_VL];
            for (int j = 0; j < DEC_VL; j++) DEC_VLOAD(t[j], w + (size_t)(o0 + j0 + j) * C + c);
            dec_transpose(t);
            for (int i = 0; i < DEC_VL; i++) DEC_VSTORE(panel + (size_t)(c + i) * DEC_P + j0, t[i]);
        }
        for (; c < C; c++)
            for (int j = j0; j < j0 + DEC_VL; j++)
                panel[(size_t)c * DEC_P + j] = j < no ? w[(size_t)(o0 + j) * C + c] : 0.0f;
    }
}

// out[r][o0 + j] = sum over c in order of x[r][c] * panel[c][j] (+ bias), for the R rows
// from x, j < no: R x DEC_PV vectors of sums in registers, each the same chain of fused
// multiply-adds from zero whatever R is (the row count does not change a row's bits).
#define DEC_PANEL_KERNEL(R)                                                                        \
    static void dec_panel_##R(float *out, int OC, const float *restrict x, int C,                 \
                              const float *restrict panel, const float *bias, int o0, int no) {    \
        dec_vf acc[R][DEC_PV];                                                                     \
        _Pragma("GCC unroll 8") for (int r = 0; r < R; r++)                                        \
            _Pragma("GCC unroll 4") for (int v = 0; v < DEC_PV; v++) acc[r][v] = (dec_vf){0};      \
        for (int c = 0; c < C; c++) {                                                              \
            dec_vf wv[DEC_PV];                                                                     \
            _Pragma("GCC unroll 4") for (int v = 0; v < DEC_PV; v++)                               \
                DEC_VLOAD(wv[v], panel + (size_t)c * DEC_P + v * DEC_VL);                          \
            _Pragma("GCC unroll 8") for (int r = 0; r < R; r++) {                                  \
                dec_vf xr = dec_splat(x[(size_t)r * C + c]);                                       \
                _Pragma("GCC unroll 4") for (int v = 0; v < DEC_PV; v++)                           \
                    acc[r][v] = dec_fma(wv[v], xr, acc[r][v]);                                     \
            }                                                                                      \
        }                                                                                          \
        for (int r = 0; r < R; r++) dec_panel_store(out + (size_t)r * OC + o0, acc[r], bias, o0, no); \
    }

// One row's DEC_P sums into o[0 .. no), with the bias.
static inline void dec_panel_store(float *o, const dec_vf *acc, const float *bias, int o0, int no) {
    if (no == DEC_P) {
        for (int v = 0; v < DEC_PV; v++) {
            dec_vf s = acc[v], bv = (dec_vf){0};
            if (bias) {
                DEC_VLOAD(bv, bias + o0 + v * DEC_VL);
                s += bv;
            }
            DEC_VSTORE(o + v * DEC_VL, s);
        }
        return;
    }
    float t[DEC_P];
    memcpy(t, acc, sizeof t);
    for (int j = 0; j < no; j++) o[j] = t[j] + (bias ? bias[o0 + j] : 0.0f);
}

DEC_PANEL_KERNEL(1)
DEC_PANEL_KERNEL(2)
DEC_PANEL_KERNEL(3)
DEC_PANEL_KERNEL(4)
DEC_PANEL_KERNEL(5)
DEC_PANEL_KERNEL(6)

typedef void (*DecPanelFn)(float *, int, const float *, int, const float *, const float *, int,
                           int);
static const DecPanelFn dec_panel_fns[DEC_R + 1] = {NULL,          dec_panel_1, dec_panel_2,
                                                     dec_panel_3, dec_panel_4, dec_panel_5,
                                                     dec_panel_6};

// Rows [n0, n1) of x through one packed panel, DEC_R rows per kernel call.
static void dec_panel_rows(float *out, const float *x, const float *panel, const float *bias,
                           int n0, int n1, int C, int OC, int o0) {
    int no = OC - o0 < DEC_P ? OC - o0 : DEC_P;
    for (int n = n0; n < n1; n += DEC_R) {
        int r = n1 - n < DEC_R ? n1 - n : DEC_R;
        dec_panel_fns[r](out + (size_t)n * OC, OC, x + (size_t)n * C, C, panel, bias, o0, no);
    }
}

size_t cpu_pack_rows_bytes(const Backend *b, int C, int OC) {
    (void)b;
    return (size_t)((OC + DEC_P - 1) / DEC_P) * C * DEC_P * sizeof(float);
}

void *cpu_pack_rows(Backend *b, const void *w, int C, int OC) {
    LM_CHECK(C > 0 && OC > 0, "pack_rows: bad shape C=%d OC=%d", C, OC);
    int np = (OC + DEC_P - 1) / DEC_P;
    float *pk = b->alloc(b, cpu_pack_rows_bytes(b, C, OC), "decode: packed weights");
#pragma omp parallel for schedule(static) if ((long)C * OC >= DEC_PAR_WORK)
    for (int p = 0; p < np; p++) dec_pack_panel(pk + (size_t)p * C * DEC_P, w, C, OC, p * DEC_P);
    return pk;
}

void cpu_matmul_rows(Backend *b, void *out, const void *inp, const void *w, const void *bias,
                     int N, int C, int OC) {
    LM_CHECK(N >= 0 && C > 0 && OC > 0, "matmul_rows: bad shape N=%d C=%d OC=%d", N, C, OC);
    if (N == 0) return;
    // Tasks: (panel, chunk of rows), panel-major; the rows are cut in chunks only when there
    // are too few panels to go round the threads.
    int np = (OC + DEC_P - 1) / DEC_P, par = (long)N * C * OC >= DEC_PAR_WORK;
    int nth = par ? b->threads : 1;
    int nrc = np >= 2 * nth ? 1 : (2 * nth + np - 1) / np;
    int rows = (N + nrc - 1) / nrc;
    rows = (rows + DEC_R - 1) / DEC_R * DEC_R;
    nrc = (N + rows - 1) / rows;
    const float *pk = w;
#pragma omp parallel for schedule(static) if (par)
    for (int task = 0; task < np * nrc; task++) {
        int p = task / nrc, n0 = task % nrc * rows, n1 = n0 + rows < N ? n0 + rows : N;
        dec_panel_rows(out, inp, pk + (size_t)p * C * DEC_P, bias, n0, n1, C, OC, p * DEC_P);
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
// for the NV * DEC_VL head dimensions from d0; vs: (ctx, hd) values. Each sum runs over the
// positions in order, all NV vectors of a position's value row at once (one cache line at
// hd 32 in bf16), the sums of both heads in registers.
#define DEC_MIX(NV)                                                                                \
    DEC_INLINE void dec_mix_##NV(float *restrict o0, float *restrict o1,                           \
                                 const float *restrict P0, const float *restrict P1,               \
                                 const void *vs, int len, int hd, int d0, float inv0, float inv1,  \
                                 DType dt) {                                                       \
        dec_vf a[NV], b[NV];                                                                       \
        _Pragma("GCC unroll 4") for (int v = 0; v < NV; v++) a[v] = (dec_vf){0}, b[v] = a[v];     \
        for (int t = 0; t < len; t++) {                                                            \
            float p0 = P0[t], p1 = P1 ? P1[t] : 0.0f;                                              \
            _Pragma("GCC unroll 4") for (int v = 0; v < NV; v++) {                                 \
                dec_vf x = dec_kv_load(vs, (size_t)t * hd + d0 + v * DEC_VL, dt);                  \
                a[v] += p0 * x;                                                                    \
                b[v] += p1 * x;                                                                    \
            }                                                                                      \
        }                                                                                          \
        _Pragma("GCC unroll 4") for (int v = 0; v < NV; v++) {                                     \
            dec_vf r0 = a[v] * inv0, r1 = b[v] * inv1;                                             \
            DEC_VSTORE(o0 + d0 + v * DEC_VL, r0);                                                  \
            if (o1) DEC_VSTORE(o1 + d0 + v * DEC_VL, r1);                                          \
        }                                                                                          \
    }
DEC_MIX(1)
DEC_MIX(2)
DEC_MIX(4)

// The mix over the whole head dimension: 4 vectors at a time, then 2, then one, then a
// scalar tail.
DEC_INLINE void dec_att_mix(float *restrict o0, float *restrict o1, const float *restrict P0,
                            const float *restrict P1, const void *vs, int len, int hd,
                            float inv0, float inv1, DType dt) {
    int d0 = 0;
    for (; d0 + 4 * DEC_VL <= hd; d0 += 4 * DEC_VL)
        dec_mix_4(o0, o1, P0, P1, vs, len, hd, d0, inv0, inv1, dt);
    for (; d0 + 2 * DEC_VL <= hd; d0 += 2 * DEC_VL)
        dec_mix_2(o0, o1, P0, P1, vs, len, hd, d0, inv0, inv1, dt);
    for (; d0 + DEC_VL <= hd; d0 += DEC_VL) dec_mix_1(o0, o1, P0, P1, vs, len, hd, d0, inv0, inv1, dt);
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
