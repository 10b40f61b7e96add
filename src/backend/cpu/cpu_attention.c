// backend/cpu: causal grouped-query attention, forward and backward, without materialising
// the (T,T) score matrix. Query rows go in blocks of CPU_ATT_RB; for a block, the scores
// against the keys it can see are computed, softmaxed and used at once. The forward keeps
// lse (logsumexp of the scaled scores) so that the backward recomputes the probabilities.
//
// Each task first packs its kv head: keys transposed Kt (hd, Tp) so that scores are
// vectorised over keys, values by row Vs (T, hdp) so that outputs are vectorised over the
// head dimension. Forward runs one (batch, query head) per task; backward one (batch, kv
// head) per task, looping over the query heads of the group inside, so that each task owns
// its dk/dv rows and every sum runs in a fixed order (bitwise deterministic).
#include "cpu_internal.h"
#include "lemma/util.h"

#include <math.h>
#include <omp.h>
#include <string.h>

#define CPU_ATT_RB 4 // query rows per block (the kernels below are written for 4)
// LEMMA_VL16 (tests only): the AVX-512 shapes on any machine.
#if defined(__AVX512F__) || defined(LEMMA_VL16)
#define CPU_VL 16 // floats per vector: one AVX-512 register
#else
#define CPU_VL 8 // one AVX2 register (gcc splits 64-byte vectors on AVX2 so badly that the
                 // kernels below ran 3x slower: broadcasts through the stack, sums spilled)
#endif

// A GCC vector of CPU_VL floats, loaded and stored with memcpy (unaligned), and never passed
// to or returned from a function (that would tie the ABI to the vector ISA).
typedef float cpu_vf __attribute__((vector_size(CPU_VL * sizeof(float))));
#define CPU_VLOAD(v, p) memcpy(&(v), (p), sizeof(cpu_vf))
#define CPU_VSTORE(p, v) memcpy((p), &(v), sizeof(cpu_vf))

// The geometry of one attention call.
typedef struct {
    int T, H, KV, hd;
    int R;       // row stride of qkv: (H + 2 KV) hd
    int Tp, hdp; // T and hd rounded up to CPU_VL
    float scale; // 1/sqrt(hd)
} CpuAtt;

static CpuAtt cpu_att_geometry(int T, int H, int KV, int hd) {
    LM_CHECK(KV > 0 && H % KV == 0, "attention: %d query heads, %d kv heads", H, KV);
    CpuAtt a = {T, H, KV, hd, (H + 2 * KV) * hd, 0, 0, 1.0f / sqrtf((float)hd)};
    a.Tp = (T + CPU_VL - 1) / CPU_VL * CPU_VL;
    a.hdp = (hd + CPU_VL - 1) / CPU_VL * CPU_VL;
    return a;
}

// Row t of batch row 0 qkv_b: query head h, key head kvh, value head kvh.
static const float *cpu_att_q(const CpuAtt *a, const float *qkv_b, int t, int h) {
    return qkv_b + (size_t)t * a->R + (size_t)h * a->hd;
}
static const float *cpu_att_k(const CpuAtt *a, const float *qkv_b, int t, int kvh) {
    return qkv_b + (size_t)t * a->R + (size_t)(a->H + kvh) * a->hd;
}
static const float *cpu_att_v(const CpuAtt *a, const float *qkv_b, int t, int kvh) {
    return qkv_b + (size_t)t * a->R + (size_t)(a->H + a->KV + kvh) * a->hd;
}

// ---------------------------------------------------------------------------
// packing and record bounds

// xt (hd, Tp) = the T head vectors at src (row stride R) transposed, columns T.. zero.
static void cpu_att_pack_t(float *restrict xt, const CpuAtt *a, const float *src) {
    int T = a->T, Tp = a->Tp, hd = a->hd;
    for (int d = 0; d < hd; d++)
        for (int s = T; s < Tp; s++) xt[(size_t)d * Tp + s] = 0.0f;
    for (int s = 0; s < T; s++) {
        const float *row = src + (size_t)s * a->R;
        for (int d = 0; d < hd; d++) xt[(size_t)d * Tp + s] = row[d];
    }
}

// xs (T, hdp) = the T head vectors at src (row stride R), columns hd.. zero.
static void cpu_att_pack_rows(float *restrict xs, const CpuAtt *a, const float *src) {
    int hd = a->hd, hdp = a->hdp;
    for (int s = 0; s < a->T; s++) {
        float *dst = xs + (size_t)s * hdp;
        memcpy(dst, src + (size_t)s * a->R, (size_t)hd * sizeof(float));
        for (int d = hd; d < hdp; d++) dst[d] = 0.0f;
    }
}

// lo[t] = a row index <= every row of t's record: the start of t's run of equal ids when
// every id forms one run (packed records; returns 1), else 0 (returns 0: the mask then
// compares ids). Without seg every lo is 0 and it returns 1.
static int cpu_att_record_lo(int *lo, const int *seg, int T) {
    if (!seg) {
        memset(lo, 0, (size_t)T * sizeof(int));
        return 1;
    }
    int contiguous = 1;
    for (int t = 1; t < T && contiguous; t++) {
        if (seg[t] == seg[t - 1]) continue;
        for (int s = 0; s < t - 1; s++) // a new run: its id must not have appeared before
            if (seg[s] == seg[t]) {
                contiguous = 0;
                break;
            }
    }
    for (int t = 0; t < T; t++) {
        if (!contiguous) lo[t] = 0;
        else lo[t] = (t > 0 && seg[t] == seg[t - 1]) ? lo[t - 1] : t;
    }
    return contiguous;
}

// [vlo, vhi) = [lo, hi) widened to whole vectors: the range the score kernel fills, and the
// one the elementwise loops run over (aligned, without scalar remainders).
static void cpu_att_vector_range(int lo, int hi, int *vlo, int *vhi) {
    *vlo = lo / CPU_VL * CPU_VL;
    *vhi = (hi + CPU_VL - 1) / CPU_VL * CPU_VL;
}

// The lowest record start among the block's rows t0..t0+nr-1.
static int cpu_att_block_lo(const int *lo, int t0, int nr) {
    int m = lo[t0];
    for (int r = 1; r < nr; r++) m = lo[t0 + r] < m ? lo[t0 + r] : m;
    return m;
}

// ---------------------------------------------------------------------------
// kernels on one block of CPU_ATT_RB query rows. They run on GCC vector types of CPU_VL
// floats (plain C operators; gcc maps them to AVX-512, AVX2 or SSE), two to three times
// faster than what gcc -O2 makes of the scalar loops. Score rows have stride Tp (T rounded
// up to CPU_VL, padded keys are 0); head vectors have stride hdp (hd rounded up likewise).

// S[r][s0 .. s0+2VL) = sum_{d < hd} x[r][d] * Yt[d][s0 ..]: eight accumulators, enough to
// keep two FMA units busy.
static void cpu_att_scores2(float *restrict S, const float *restrict x, const float *restrict Yt,
                            int Tp, int hd, int hdp, int s0) {
    const float *x0 = x, *x1 = x + hdp, *x2 = x + 2 * hdp, *x3 = x + 3 * hdp;
    cpu_vf a0 = {0}, a1 = {0}, a2 = {0}, a3 = {0}, b0 = {0}, b1 = {0}, b2 = {0}, b3 = {0};
    for (int d = 0; d < hd; d++) {
        cpu_vf y, z;
        CPU_VLOAD(y, Yt + (size_t)d * Tp + s0);
        CPU_VLOAD(z, Yt + (size_t)d * Tp + s0 + CPU_VL);
        a0 += x0[d] * y;
        a1 += x1[d] * y;
        a2 += x2[d] * y;
        a3 += x3[d] * y;
        b0 += x0[d] * z;
        b1 += x1[d] * z;
        b2 += x2[d] * z;
        b3 += x3[d] * z;
    }
    CPU_VSTORE(S + s0, a0);
    CPU_VSTORE(S + Tp + s0, a1);
    CPU_VSTORE(S + 2 * (size_t)Tp + s0, a2);
    CPU_VSTORE(S + 3 * (size_t)Tp + s0, a3);
    CPU_VSTORE(S + s0 + CPU_VL, b0);
    CPU_VSTORE(S + Tp + s0 + CPU_VL, b1);
    CPU_VSTORE(S + 2 * (size_t)Tp + s0 + CPU_VL, b2);
    CPU_VSTORE(S + 3 * (size_t)Tp + s0 + CPU_VL, b3);
}

// S[r][s0 .. s0+VL): four accumulators.
static void cpu_att_scores1(float *restrict S, const float *restrict x, const float *restrict Yt,
                            int Tp, int hd, int hdp, int s0) {
    const float *x0 = x, *x1 = x + hdp, *x2 = x + 2 * hdp, *x3 = x + 3 * hdp;
    cpu_vf a0 = {0}, a1 = {0}, a2 = {0}, a3 = {0};
    for (int d = 0; d < hd; d++) {
        cpu_vf y;
        CPU_VLOAD(y, Yt + (size_t)d * Tp + s0);
        a0 += x0[d] * y;
        a1 += x1[d] * y;
        a2 += x2[d] * y;
        a3 += x3[d] * y;
    }
    CPU_VSTORE(S + s0, a0);
    CPU_VSTORE(S + Tp + s0, a1);
    CPU_VSTORE(S + 2 * (size_t)Tp + s0, a2);
    CPU_VSTORE(S + 3 * (size_t)Tp + s0, a3);
}

// S[r][s] = sum_{d < hd} x[r][d] * Yt[d][s] for s in [lo, hi) widened to whole vectors
// (cpu_att_vector_range). x: (RB, hdp), Yt: (hd, Tp), S: (RB, Tp).
static void cpu_att_scores(float *restrict S, const float *restrict x, const float *restrict Yt,
                           int Tp, int hd, int hdp, int lo, int hi) {
    int s0 = lo / CPU_VL * CPU_VL;
    for (; s0 + CPU_VL < hi; s0 += 2 * CPU_VL) cpu_att_scores2(S, x, Yt, Tp, hd, hdp, s0);
    if (s0 < hi) cpu_att_scores1(S, x, Yt, Tp, hd, hdp, s0);
}

// O[r][d0 .. d0+2VL) = sum_{s in [lo, hi)} P[r][s] * Y[s][d0 ..]: eight accumulators.
static void cpu_att_mix2(float *restrict O, const float *restrict P, const float *restrict Y,
                         int Tp, int hdp, int lo, int hi, int d0) {
    const float *p0 = P, *p1 = P + Tp, *p2 = P + 2 * (size_t)Tp, *p3 = P + 3 * (size_t)Tp;
    cpu_vf a0 = {0}, a1 = {0}, a2 = {0}, a3 = {0}, b0 = {0}, b1 = {0}, b2 = {0}, b3 = {0};
    for (int s = lo; s < hi; s++) {
        cpu_vf y, z;
        CPU_VLOAD(y, Y + (size_t)s * hdp + d0);
        CPU_VLOAD(z, Y + (size_t)s * hdp + d0 + CPU_VL);
        a0 += p0[s] * y;
        a1 += p1[s] * y;
        a2 += p2[s] * y;
        a3 += p3[s] * y;
        b0 += p0[s] * z;
        b1 += p1[s] * z;
        b2 += p2[s] * z;
        b3 += p3[s] * z;
    }
    CPU_VSTORE(O + d0, a0);
    CPU_VSTORE(O + hdp + d0, a1);
    CPU_VSTORE(O + 2 * hdp + d0, a2);
    CPU_VSTORE(O + 3 * hdp + d0, a3);
    CPU_VSTORE(O + d0 + CPU_VL, b0);
    CPU_VSTORE(O + hdp + d0 + CPU_VL, b1);
    CPU_VSTORE(O + 2 * hdp + d0 + CPU_VL, b2);
    CPU_VSTORE(O + 3 * hdp + d0 + CPU_VL, b3);
}

// O[r][d0 .. d0+VL) = sum_{s in [lo, hi)} P[r][s] * Y[s][d0 ..]: four accumulators.
static void cpu_att_mix1(float *restrict O, const float *restrict P, const float *restrict Y,
                         int Tp, int hdp, int lo, int hi, int d0) {
    const float *p0 = P, *p1 = P + Tp, *p2 = P + 2 * (size_t)Tp, *p3 = P + 3 * (size_t)Tp;
    cpu_vf a0 = {0}, a1 = {0}, a2 = {0}, a3 = {0};
    for (int s = lo; s < hi; s++) {
        cpu_vf y;
        CPU_VLOAD(y, Y + (size_t)s * hdp + d0);
        a0 += p0[s] * y;
        a1 += p1[s] * y;
        a2 += p2[s] * y;
        a3 += p3[s] * y;
    }
    CPU_VSTORE(O + d0, a0);
    CPU_VSTORE(O + hdp + d0, a1);
    CPU_VSTORE(O + 2 * hdp + d0, a2);
    CPU_VSTORE(O + 3 * hdp + d0, a3);
}

// O[r][d] = sum_{s in [lo, hi)} P[r][s] * Y[s][d]. P: (RB, Tp), Y: (T, hdp), O: (RB, hdp).
static void cpu_att_mix(float *restrict O, const float *restrict P, const float *restrict Y,
                        int Tp, int hdp, int lo, int hi) {
    int d0 = 0;
    for (; d0 + 2 * CPU_VL <= hdp; d0 += 2 * CPU_VL) cpu_att_mix2(O, P, Y, Tp, hdp, lo, hi, d0);
    if (d0 < hdp) cpu_att_mix1(O, P, Y, Tp, hdp, lo, hi, d0);
}

// G[s][d] += sum_r A[r][s] * x[r][d] for s in [lo, hi). A: (RB, Tp), x: (RB, hdp), G: (T, hdp).
static void cpu_att_rank_update(float *restrict G, const float *restrict A,
                                const float *restrict x, int Tp, int hdp, int lo, int hi) {
    const float *A0 = A, *A1 = A + Tp, *A2 = A + 2 * (size_t)Tp, *A3 = A + 3 * (size_t)Tp;
    for (int d0 = 0; d0 < hdp; d0 += CPU_VL) {
        cpu_vf x0, x1, x2, x3, g;
        CPU_VLOAD(x0, x + d0);
        CPU_VLOAD(x1, x + hdp + d0);
        CPU_VLOAD(x2, x + 2 * hdp + d0);
        CPU_VLOAD(x3, x + 3 * hdp + d0);
        for (int s = lo; s < hi; s++) {
            float *gs = G + (size_t)s * hdp + d0;
            CPU_VLOAD(g, gs);
            g += A0[s] * x0 + A1[s] * x1 + A2[s] * x2 + A3[s] * x3;
            CPU_VSTORE(gs, g);
        }
    }
}

// Sets S[r][s] = -inf for the keys s in [vlo, vhi) that row t = t0 + r may not see: the
// margin [vlo, lo) that the score kernel computed on the way, s > t (the block's last few
// keys and the margin up to vhi), and s in another record: with contiguous records those
// before lo[t], else (ids that come back) every s whose id differs. S: (RB, Tp).
static void cpu_att_mask(float *restrict S, const int *seg, const int *lo_t, int contiguous,
                         int Tp, int t0, int nr, int lo, int vlo, int vhi) {
    for (int r = 0; r < nr; r++) {
        float *restrict row = S + (size_t)r * Tp;
        int t = t0 + r;
        for (int s = vlo; s < lo; s++) row[s] = -INFINITY;
        for (int s = t + 1; s < vhi; s++) row[s] = -INFINITY;
        if (!seg) continue;
        if (contiguous) {
            for (int s = lo; s < lo_t[t]; s++) row[s] = -INFINITY;
        } else {
            int st = seg[t];
            for (int s = lo; s <= t; s++) row[s] = seg[s] != st ? -INFINITY : row[s];
        }
    }
}

// x (RB, hdp) = nr head vectors from src (row stride `stride`) times mul; the rest zero.
static void cpu_att_load_rows(float *restrict x, const float *src, size_t stride, int nr, int hd,
                              int hdp, float mul) {
    memset(x, 0, (size_t)CPU_ATT_RB * hdp * sizeof(float));
    for (int r = 0; r < nr; r++) {
        const float *restrict row = src + (size_t)r * stride;
        float *restrict xr = x + (size_t)r * hdp;
#pragma omp simd
        for (int d = 0; d < hd; d++) xr[d] = row[d] * mul;
    }
}

// ---------------------------------------------------------------------------
// forward

// S[lo, hi) = exp(S - max) in place (masked scores give 0); returns the sum, *mx the max.
static float cpu_att_exp_row(float *restrict S, int lo, int hi, float *mx_out) {
    float mx = -INFINITY;
#pragma omp simd reduction(max : mx)
    for (int s = lo; s < hi; s++) mx = S[s] > mx ? S[s] : mx;
    float sum = 0.0f;
#pragma omp simd reduction(+ : sum)
    for (int s = lo; s < hi; s++) {
        S[s] = cpu_expf(S[s] - mx);
        sum += S[s];
    }
    *mx_out = mx;
    return sum;
}

// Per-task buffers, carved from the thread's scratch.
typedef struct {
    float *Kt, *Vt;      // keys, values transposed (hd, Tp)
    float *Ks, *Vs;      // keys, values by row (T, hdp)
    float *dK, *dV;      // (T, hdp) gradient accumulators of the kv head (backward)
    float *P, *dS;       // (RB, Tp) scores / probabilities, their gradients
    float *x, *dob, *o;  // (RB, hdp): scaled q, dout, output (or dq) of the block
    int *lo;             // (T) record starts
    int contiguous;      // records are runs of equal ids (see cpu_att_record_lo)
} CpuAttBufs;

static size_t cpu_att_scratch_floats(const CpuAtt *a) {
    size_t th = (size_t)a->Tp * a->hdp;
    return 6 * th + 2 * (size_t)CPU_ATT_RB * a->Tp + 3 * (size_t)CPU_ATT_RB * a->hdp + a->Tp;
}

static CpuAttBufs cpu_att_bufs(const CpuAtt *a, float *scratch) {
    CpuAttBufs w;
    size_t th = (size_t)a->Tp * a->hdp, rt = (size_t)CPU_ATT_RB * a->Tp;
    size_t rh = (size_t)CPU_ATT_RB * a->hdp;
    w.Kt = scratch;
    w.Vt = w.Kt + th;
    w.Ks = w.Vt + th;
    w.Vs = w.Ks + th;
    w.dK = w.Vs + th;
    w.dV = w.dK + th;
    w.P = w.dV + th;
    w.dS = w.P + rt;
    w.x = w.dS + rt;
    w.dob = w.x + rh;
    w.o = w.dob + rh;
    w.lo = (int *)(w.o + rh);
    w.contiguous = 1;
    return w;
}

// One block of query rows t0..t0+nr-1 of head h: out rows and lse entries.
static void cpu_att_fwd_block(const CpuAtt *a, CpuAttBufs *w, float *out_b, float *lse_h,
                              const float *qkv_b, const int *seg_b, int h, int t0) {
    int T = a->T, Tp = a->Tp, hd = a->hd, hdp = a->hdp;
    int nr = T - t0 < CPU_ATT_RB ? T - t0 : CPU_ATT_RB, hi = t0 + nr;
    int blo = cpu_att_block_lo(w->lo, t0, nr), vlo, vhi;
    cpu_att_vector_range(blo, hi, &vlo, &vhi);
    float inv_sum[CPU_ATT_RB];
    cpu_att_load_rows(w->x, cpu_att_q(a, qkv_b, t0, h), a->R, nr, hd, hdp, a->scale);
    cpu_att_scores(w->P, w->x, w->Kt, Tp, hd, hdp, blo, hi);
    cpu_att_mask(w->P, seg_b, w->lo, w->contiguous, Tp, t0, nr, blo, vlo, vhi);
    for (int r = 0; r < CPU_ATT_RB; r++) {
        float *row = w->P + (size_t)r * Tp, mx;
        if (r >= nr) { // padding rows
            memset(row + vlo, 0, (size_t)(vhi - vlo) * sizeof(float));
            continue;
        }
        float sum = cpu_att_exp_row(row, vlo, vhi, &mx);
        lse_h[t0 + r] = mx + logf(sum);
        inv_sum[r] = 1.0f / sum;
    }
    cpu_att_mix(w->o, w->P, w->Vs, Tp, hdp, blo, hi);
    size_t ostride = (size_t)a->H * hd;
    for (int r = 0; r < nr; r++) {
        float *restrict dst = out_b + (size_t)(t0 + r) * ostride + (size_t)h * hd;
        const float *restrict src = w->o + (size_t)r * hdp;
#pragma omp simd
        for (int d = 0; d < hd; d++) dst[d] = src[d] * inv_sum[r];
    }
}

void cpu_attention_fwd(Backend *b, void *out, float *lse, const void *qkv, const int *seg, int B,
                       int T, int H, int KV, int hd) {
    CpuAtt a = cpu_att_geometry(T, H, KV, hd);
    size_t stride;
    float *scratch = cpu_scratch(b, cpu_att_scratch_floats(&a), &stride);
    size_t qkv_b = (size_t)T * a.R, out_b = (size_t)T * H * hd;
#pragma omp parallel for schedule(dynamic, 1) num_threads(b->threads)
    for (int bh = 0; bh < B * H; bh++) {
        int bi = bh / H, h = bh % H, kvh = h / (H / KV);
        const float *q_b = (const float *)qkv + bi * qkv_b;
        const int *seg_b = seg ? seg + (size_t)bi * T : NULL;
        CpuAttBufs w = cpu_att_bufs(&a, scratch + (size_t)omp_get_thread_num() * stride);
        cpu_att_pack_t(w.Kt, &a, cpu_att_k(&a, q_b, 0, kvh));
        cpu_att_pack_rows(w.Vs, &a, cpu_att_v(&a, q_b, 0, kvh));
        w.contiguous = cpu_att_record_lo(w.lo, seg_b, T);
        for (int t0 = 0; t0 < T; t0 += CPU_ATT_RB)
            cpu_att_fwd_block(&a, &w, (float *)out + bi * out_b, lse + (size_t)bh * T, q_b, seg_b,
                              h, t0);
    }
}

// ---------------------------------------------------------------------------
// backward

// P[r][s] = exp(S[r][s] - lse) and dS[r][s] = P (dP - D) with D = dout_r . out_r, for the
// block's real rows (padding rows get zeros). On entry P holds masked scores, dS holds dP.
static void cpu_att_bwd_probs(const CpuAtt *a, CpuAttBufs *w, const float *out_rows,
                              const float *lse_t0, int nr, int lo, int hi) {
    size_t ostride = (size_t)a->H * a->hd;
    for (int r = 0; r < CPU_ATT_RB; r++) {
        float *restrict p = w->P + (size_t)r * a->Tp, *restrict ds = w->dS + (size_t)r * a->Tp;
        if (r >= nr) {
            memset(p + lo, 0, (size_t)(hi - lo) * sizeof(float));
            memset(ds + lo, 0, (size_t)(hi - lo) * sizeof(float));
            continue;
        }
        const float *restrict dor = w->dob + (size_t)r * a->hdp;
        const float *restrict orow = out_rows + (size_t)r * ostride;
        float D = 0.0f, l = lse_t0[r];
#pragma omp simd reduction(+ : D)
        for (int d = 0; d < a->hd; d++) D += dor[d] * orow[d];
#pragma omp simd
        for (int s = lo; s < hi; s++) {
            p[s] = cpu_expf(p[s] - l);
            ds[s] = p[s] * (ds[s] - D);
        }
    }
}

// One block of rows t0..t0+nr-1 of query head h: writes its dq rows, adds to w->dK, w->dV.
static void cpu_att_bwd_block(const CpuAtt *a, CpuAttBufs *w, float *dqkv_b,
                              const float *dout_b, const float *qkv_b, const float *out_b,
                              const float *lse_h, const int *seg_b, int h, int t0) {
    int T = a->T, Tp = a->Tp, hd = a->hd, hdp = a->hdp;
    int nr = T - t0 < CPU_ATT_RB ? T - t0 : CPU_ATT_RB, hi = t0 + nr;
    int blo = cpu_att_block_lo(w->lo, t0, nr), vlo, vhi;
    cpu_att_vector_range(blo, hi, &vlo, &vhi);
    size_t ostride = (size_t)a->H * hd, ooff = (size_t)t0 * ostride + (size_t)h * hd;
    cpu_att_load_rows(w->x, cpu_att_q(a, qkv_b, t0, h), a->R, nr, hd, hdp, a->scale);
    cpu_att_load_rows(w->dob, dout_b + ooff, ostride, nr, hd, hdp, 1.0f);
    cpu_att_scores(w->P, w->x, w->Kt, Tp, hd, hdp, blo, hi);
    cpu_att_mask(w->P, seg_b, w->lo, w->contiguous, Tp, t0, nr, blo, vlo, vhi);
    cpu_att_scores(w->dS, w->dob, w->Vt, Tp, hd, hdp, blo, hi); // dP[r][s] = dout_r . v_s
    cpu_att_bwd_probs(a, w, out_b + ooff, lse_h + t0, nr, vlo, vhi);
    cpu_att_mix(w->o, w->dS, w->Ks, Tp, hdp, blo, hi); // dq / scale
    for (int r = 0; r < nr; r++) {
        float *restrict dst = dqkv_b + (size_t)(t0 + r) * a->R + (size_t)h * hd;
        const float *restrict src = w->o + (size_t)r * hdp;
#pragma omp simd
        for (int d = 0; d < hd; d++) dst[d] = src[d] * a->scale;
    }
    cpu_att_rank_update(w->dK, w->dS, w->x, Tp, hdp, blo, hi); // x holds scale * q
    cpu_att_rank_update(w->dV, w->P, w->dob, Tp, hdp, blo, hi);
}

// One (batch, kv head): all query heads of its group, then its dk, dv rows.
static void cpu_att_bwd_kvhead(const CpuAtt *a, CpuAttBufs *w, float *dqkv_b,
                               const float *dout_b, const float *qkv_b, const float *out_b,
                               const float *lse_b, const int *seg_b, int kvh) {
    int T = a->T, hd = a->hd, hdp = a->hdp, group = a->H / a->KV;
    cpu_att_pack_t(w->Kt, a, cpu_att_k(a, qkv_b, 0, kvh));
    cpu_att_pack_t(w->Vt, a, cpu_att_v(a, qkv_b, 0, kvh));
    cpu_att_pack_rows(w->Ks, a, cpu_att_k(a, qkv_b, 0, kvh));
    w->contiguous = cpu_att_record_lo(w->lo, seg_b, T);
    memset(w->dK, 0, (size_t)T * hdp * sizeof(float));
    memset(w->dV, 0, (size_t)T * hdp * sizeof(float));
    for (int h = kvh * group; h < (kvh + 1) * group; h++)
        for (int t0 = 0; t0 < T; t0 += CPU_ATT_RB)
            cpu_att_bwd_block(a, w, dqkv_b, dout_b, qkv_b, out_b, lse_b + (size_t)h * T, seg_b, h,
                              t0);
    for (int s = 0; s < T; s++) {
        float *row = dqkv_b + (size_t)s * a->R;
        memcpy(row + (size_t)(a->H + kvh) * hd, w->dK + (size_t)s * hdp, (size_t)hd * sizeof(float));
        memcpy(row + (size_t)(a->H + a->KV + kvh) * hd, w->dV + (size_t)s * hdp,
               (size_t)hd * sizeof(float));
    }
}

void cpu_attention_bwd(Backend *b, void *dqkv, const void *dout, const void *qkv, const void *out,
                       const float *lse, const int *seg, int B, int T, int H, int KV, int hd) {
    CpuAtt a = cpu_att_geometry(T, H, KV, hd);
    size_t stride;
    float *scratch = cpu_scratch(b, cpu_att_scratch_floats(&a), &stride);
    size_t qkv_b = (size_t)T * a.R, out_b = (size_t)T * H * hd;
#pragma omp parallel for schedule(dynamic, 1) num_threads(b->threads)
    for (int bk = 0; bk < B * KV; bk++) {
        int bi = bk / KV, kvh = bk % KV;
        CpuAttBufs w = cpu_att_bufs(&a, scratch + (size_t)omp_get_thread_num() * stride);
        cpu_att_bwd_kvhead(&a, &w, (float *)dqkv + bi * qkv_b, (const float *)dout + bi * out_b,
                           (const float *)qkv + bi * qkv_b, (const float *)out + bi * out_b,
                           lse + (size_t)bi * H * T, seg ? seg + (size_t)bi * T : NULL, kvh);
    }
}
