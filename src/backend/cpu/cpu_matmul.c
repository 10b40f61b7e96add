// backend/cpu: matmul forward and backward on sgemm (OpenBLAS, row-major; see cpu_gemm.c),
// and the deterministic column sums for the bias gradient. sgemm is never called from inside
// an OpenMP region: OpenBLAS runs its own thread pool.
#include "cpu_internal.h"

#include <string.h>

// out (N,OC) = inp (N,C) @ w^T (w: OC,C) [+ bias (OC)].
void cpu_matmul_fwd(Backend *b, void *out, const void *inp, const void *w, const void *bias,
                    int N, int C, int OC) {
    (void)b;
    float *o = out;
    const float *bi = bias;
    float beta = 0.0f;
    if (bi) { // start from the bias rows and let sgemm add the product
#pragma omp parallel for schedule(static)
        for (int n = 0; n < N; n++) memcpy(o + (size_t)n * OC, bi, (size_t)OC * sizeof(float));
        beta = 1.0f;
    }
    cpu_sgemm(0, 1, N, OC, C, 1.0f, inp, C, w, C, beta, o, OC);
}

// dbias_acc (OC) += column sums of dout (N,OC): each thread owns whole column blocks and adds
// the rows in order, so the result does not depend on the thread count.
static void cpu_colsum_acc(float *dbias_acc, const float *dout, int N, int OC) {
    int nblk = (OC + CPU_COL_BLOCK - 1) / CPU_COL_BLOCK;
#pragma omp parallel for schedule(static)
    for (int k = 0; k < nblk; k++) {
        int c0 = k * CPU_COL_BLOCK, c1 = c0 + CPU_COL_BLOCK < OC ? c0 + CPU_COL_BLOCK : OC;
        float acc[CPU_COL_BLOCK];
        for (int c = c0; c < c1; c++) acc[c - c0] = dbias_acc[c];
        for (int n = 0; n < N; n++) {
            const float *restrict row = dout + (size_t)n * OC;
#pragma omp simd
            for (int c = c0; c < c1; c++) acc[c - c0] += row[c];
        }
        for (int c = c0; c < c1; c++) dbias_acc[c] = acc[c - c0];
    }
}

// dinp (N,C) = dout (N,OC) @ w (OC,C); dw_acc (OC,C) += dout^T @ inp; dbias_acc += colsum.
void cpu_matmul_bwd(Backend *b, void *dinp, float *dw_acc, float *dbias_acc, const void *dout,
                    const void *inp, const void *w, int N, int C, int OC) {
    (void)b;
    if (dinp)
        cpu_sgemm(0, 0, N, C, OC, 1.0f, dout, OC, w, C, 0.0f, dinp, C);
    cpu_sgemm(1, 0, OC, C, N, 1.0f, dout, OC, inp, C, 1.0f, dw_acc, C);
    if (dbias_acc) cpu_colsum_acc(dbias_acc, dout, N, OC);
}
