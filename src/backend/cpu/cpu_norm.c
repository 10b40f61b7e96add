// backend/cpu: RMSNorm forward (plain and fused with the residual add) and backward.
// Rows run in parallel; the weight gradient is summed per column block with the rows in
// order, so it is bitwise the same for any thread count.
#include "cpu_internal.h"

#include <math.h>

// One row: out (C) = x * rstd * w, returns rstd = 1/sqrt(mean(x^2) + eps).
static float cpu_rmsnorm_row(float *restrict out, const float *restrict x,
                             const float *restrict w, int C, float eps) {
    float ss = 0.0f;
#pragma omp simd reduction(+ : ss)
    for (int c = 0; c < C; c++) ss += x[c] * x[c];
    float r = 1.0f / sqrtf(ss / (float)C + eps);
#pragma omp simd
    for (int c = 0; c < C; c++) out[c] = x[c] * r * w[c];
    return r;
}

// out (N,C), rstd (N), inp (N,C), w (C).
void cpu_rmsnorm_fwd(Backend *b, void *out, float *rstd, const void *inp, const void *w, int N,
                     int C, float eps) {
    (void)b;
    float *o = out;
    const float *x = inp;
#pragma omp parallel for schedule(static)
    for (int n = 0; n < N; n++)
        rstd[n] = cpu_rmsnorm_row(o + (size_t)n * C, x + (size_t)n * C, w, C, eps);
}

// res_out (N,C) = res_in + delta (res_out may be res_in), then out = rmsnorm(res_out).
void cpu_residual_rmsnorm_fwd(Backend *b, void *res_out, void *out, float *rstd,
                              const void *res_in, const void *delta, const void *w, int N, int C,
                              float eps) {
    (void)b;
#pragma omp parallel for schedule(static)
    for (int n = 0; n < N; n++) {
        size_t off = (size_t)n * C;
        float *r = (float *)res_out + off; // may equal ri: the loop is elementwise
        const float *ri = (const float *)res_in + off;
        const float *restrict d = (const float *)delta + off;
#pragma omp simd
        for (int c = 0; c < C; c++) r[c] = ri[c] + d[c];
        rstd[n] = cpu_rmsnorm_row((float *)out + off, r, w, C, eps);
    }
}

// One row of dinp: with xhat = x*rstd, g = dout*w: dinp += rstd * (g - xhat * mean(g*xhat)).
static void cpu_rmsnorm_bwd_row(float *restrict dinp, const float *restrict dout,
                                const float *restrict x, const float *restrict w, float rstd,
                                int C) {
    float dot = 0.0f; // sum of g * x
#pragma omp simd reduction(+ : dot)
    for (int c = 0; c < C; c++) dot += dout[c] * w[c] * x[c];
    float k = dot * rstd * rstd / (float)C; // mean(g * xhat) * rstd, so xhat * mean = x * k
#pragma omp simd
    for (int c = 0; c < C; c++) dinp[c] += rstd * (dout[c] * w[c] - x[c] * k);
}

// dw_acc (C) += sum_n dout[n] * inp[n] * rstd[n], column blocks in parallel, rows in order.
static void cpu_rmsnorm_dw(float *dw_acc, const float *dout, const float *x, const float *rstd,
                           int N, int C) {
    int nblk = (C + CPU_COL_BLOCK - 1) / CPU_COL_BLOCK;
#pragma omp parallel for schedule(static)
    for (int k = 0; k < nblk; k++) {
        int c0 = k * CPU_COL_BLOCK, c1 = c0 + CPU_COL_BLOCK < C ? c0 + CPU_COL_BLOCK : C;
        float acc[CPU_COL_BLOCK];
        for (int c = c0; c < c1; c++) acc[c - c0] = dw_acc[c];
        for (int n = 0; n < N; n++) {
            const float *restrict dr = dout + (size_t)n * C;
            const float *restrict xr = x + (size_t)n * C;
            float r = rstd[n];
#pragma omp simd
            for (int c = c0; c < c1; c++) acc[c - c0] += dr[c] * (xr[c] * r);
        }
        for (int c = c0; c < c1; c++) dw_acc[c] = acc[c - c0];
    }
}

void cpu_rmsnorm_bwd(Backend *b, void *dinp_acc, float *dw_acc, const void *dout,
                     const void *inp, const void *w, const float *rstd, int N, int C) {
    (void)b;
    const float *d = dout, *x = inp;
#pragma omp parallel for schedule(static)
    for (int n = 0; n < N; n++) {
        size_t off = (size_t)n * C;
        cpu_rmsnorm_bwd_row((float *)dinp_acc + off, d + off, x + off, w, rstd[n], C);
    }
    cpu_rmsnorm_dw(dw_acc, d, x, rstd, N, C);
}
