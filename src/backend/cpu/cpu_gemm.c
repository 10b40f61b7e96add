// backend/cpu: the one sgemm entry point of the CPU backend. Normally OpenBLAS; builds with
// USE_BLAS=0 (the carried GPU-machine build, where OpenBLAS may be missing) use a plain
// OpenMP implementation that is exact enough to be the reference for the GPU tests.
#include "cpu_internal.h"

#include <stdlib.h>
#include <string.h>

#if LEMMA_BLAS
#include <cblas.h>

void cpu_sgemm(int trans_a, int trans_b, int M, int N, int K, float alpha, const float *A,
               int lda, const float *B, int ldb, float beta, float *C, int ldc) {
    cblas_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans,
                trans_b ? CblasTrans : CblasNoTrans, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

#else

// C (M,N) = alpha * op(A) (M,K) @ op(B) (K,N) + beta * C, row-major; one row of C per task.
void cpu_sgemm(int trans_a, int trans_b, int M, int N, int K, float alpha, const float *A,
               int lda, const float *B, int ldb, float beta, float *C, int ldc) {
#pragma omp parallel
    {
        float *acc = malloc((size_t)N * sizeof(float));
#pragma omp for schedule(static)
        for (int i = 0; i < M; i++) {
            memset(acc, 0, (size_t)N * sizeof(float));
            for (int k = 0; k < K; k++) {
                float a = trans_a ? A[(size_t)k * lda + i] : A[(size_t)i * lda + k];
                if (trans_b) {
                    for (int j = 0; j < N; j++) acc[j] += a * B[(size_t)j * ldb + k];
                } else {
                    const float *restrict brow = B + (size_t)k * ldb;
#pragma omp simd
                    for (int j = 0; j < N; j++) acc[j] += a * brow[j];
                }
            }
            float *restrict crow = C + (size_t)i * ldc;
            for (int j = 0; j < N; j++)
                crow[j] = alpha * acc[j] + (beta != 0.0f ? beta * crow[j] : 0.0f);
        }
        free(acc);
    }
}
#endif
