// cuda_matmul.cu: matmul forward and backward on cuBLASLt (fp32 accumulation; CUBLAS_COMPUTE_32F,
// never TF32), with the bias fused through the BIAS epilogue, plans (descriptors and the
// heuristic's algorithm) cached per shape and alignment, cublasGemmEx as the fallback for
// shapes cuBLASLt has no algorithm for, and a deterministic two-stage kernel for the bias
// gradient. Row-major matrices are column-major transposes, so every product is computed
// as its transpose: out^T = w . inp^T.
#include "cuda_common.h"

#include <string.h>

#define LT_PLANS 64        // cached plans
#define DBIAS_ROWS 256     // rows per block in the bias-gradient partial sums

// One cached cuBLASLt problem: D (m x n, col-major, ldd) = op(A) op(B) [+ bias], with C = D.
typedef struct {
    int used;
    int ta, tb, m, n, k, lda, ldb, ldd;
    cudaDataType_t tin, tout;
    int epi_bias;                         // BIAS epilogue
    unsigned al_a, al_b, al_d, al_bias;   // pointer alignments the heuristic was asked for
    int has_algo;                         // 0: cuBLASLt found none, use cublasGemmEx
    cublasLtMatmulDesc_t desc;
    cublasLtMatrixLayout_t la, lb, ld;
    cublasLtMatmulAlgo_t algo;
} LtPlan;

struct CudaMatmulCache {
    LtPlan plan[LT_PLANS];
    int next; // next slot to evict when full
};

CudaMatmulCache *cuda_matmul_cache_create(void) {
    return (CudaMatmulCache *)lm_calloc(1, sizeof(CudaMatmulCache));
}

static void lt_plan_release(LtPlan *p) {
    if (!p->used) return;
    CUBLAS_CHECK(cublasLtMatmulDescDestroy(p->desc));
    CUBLAS_CHECK(cublasLtMatrixLayoutDestroy(p->la));
    CUBLAS_CHECK(cublasLtMatrixLayoutDestroy(p->lb));
    CUBLAS_CHECK(cublasLtMatrixLayoutDestroy(p->ld));
    memset(p, 0, sizeof *p);
}

void cuda_matmul_cache_destroy(CudaMatmulCache *c) {
    if (!c) return;
    for (int i = 0; i < LT_PLANS; i++) lt_plan_release(&c->plan[i]);
    free(c);
}

// The key fields of a plan (everything but the cuBLASLt objects).
static int lt_plan_matches(const LtPlan *p, const LtPlan *key) {
    return p->used && p->ta == key->ta && p->tb == key->tb && p->m == key->m && p->n == key->n &&
           p->k == key->k && p->lda == key->lda && p->ldb == key->ldb && p->ldd == key->ldd &&
           p->tin == key->tin && p->tout == key->tout && p->epi_bias == key->epi_bias &&
           p->al_a == key->al_a && p->al_b == key->al_b && p->al_d == key->al_d &&
           p->al_bias == key->al_bias;
}

// Builds the descriptors of `key` into *p and asks the heuristic for one algorithm.
static void lt_plan_build(Backend *b, LtPlan *p, const LtPlan *key, const void *bias) {
    CudaState *st = cuda_state(b);
    *p = *key;
    CUBLAS_CHECK(cublasLtMatmulDescCreate(&p->desc, CUBLAS_COMPUTE_32F, CUDA_R_32F));
    cublasOperation_t opa = key->ta ? CUBLAS_OP_T : CUBLAS_OP_N;
    cublasOperation_t opb = key->tb ? CUBLAS_OP_T : CUBLAS_OP_N;
    CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(p->desc, CUBLASLT_MATMUL_DESC_TRANSA, &opa,
                                                sizeof opa));
    CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(p->desc, CUBLASLT_MATMUL_DESC_TRANSB, &opb,
                                                sizeof opb));
    if (key->epi_bias) {
        cublasLtEpilogue_t epi = CUBLASLT_EPILOGUE_BIAS;
        CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(p->desc, CUBLASLT_MATMUL_DESC_EPILOGUE, &epi,
                                                    sizeof epi));
        int32_t bias_type = (int32_t)key->tout; // the bias is in the act dtype, as D
        CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(p->desc, CUBLASLT_MATMUL_DESC_BIAS_DATA_TYPE,
                                                    &bias_type, sizeof bias_type));
        // the heuristic reads the pointer's alignment
        CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(p->desc, CUBLASLT_MATMUL_DESC_BIAS_POINTER,
                                                    &bias, sizeof bias));
    }
    // stored shapes: op(A) is m x k, op(B) is k x n
    CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&p->la, key->tin, key->ta ? key->k : key->m,
                                            key->ta ? key->m : key->k, key->lda));
    CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&p->lb, key->tin, key->tb ? key->n : key->k,
                                            key->tb ? key->k : key->n, key->ldb));
    CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&p->ld, key->tout, key->m, key->n, key->ldd));

    cublasLtMatmulPreference_t pref;
    CUBLAS_CHECK(cublasLtMatmulPreferenceCreate(&pref));
    uint64_t ws = st->lt_ws_bytes;
    CUBLAS_CHECK(cublasLtMatmulPreferenceSetAttribute(
        pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &ws, sizeof ws));
    uint32_t al_a = key->al_a, al_b = key->al_b, al_d = key->al_d;
    CUBLAS_CHECK(cublasLtMatmulPreferenceSetAttribute(
        pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, &al_a, sizeof al_a));
    CUBLAS_CHECK(cublasLtMatmulPreferenceSetAttribute(
        pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES, &al_b, sizeof al_b));
    CUBLAS_CHECK(cublasLtMatmulPreferenceSetAttribute(
        pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES, &al_d, sizeof al_d));
    CUBLAS_CHECK(cublasLtMatmulPreferenceSetAttribute(
        pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES, &al_d, sizeof al_d));

    cublasLtMatmulHeuristicResult_t heur;
    memset(&heur, 0, sizeof heur);
    int n_res = 0;
    cublasStatus_t s = cublasLtMatmulAlgoGetHeuristic(st->lt, p->desc, p->la, p->lb, p->ld, p->ld,
                                                      pref, 1, &heur, &n_res);
    CUBLAS_CHECK(cublasLtMatmulPreferenceDestroy(pref));
    p->has_algo = s == CUBLAS_STATUS_SUCCESS && n_res > 0 && heur.state == CUBLAS_STATUS_SUCCESS;
    if (p->has_algo) {
        p->algo = heur.algo;
    } else if (s != CUBLAS_STATUS_SUCCESS && s != CUBLAS_STATUS_NOT_SUPPORTED) {
        CUBLAS_CHECK(s);
    } else {
        lm_warn("cuBLASLt has no algorithm for m=%d n=%d k=%d (lda %d ldb %d ldd %d, "
                "alignments %u/%u/%u); using cublasGemmEx",
                key->m, key->n, key->k, key->lda, key->ldb, key->ldd, key->al_a, key->al_b,
                key->al_d);
    }
    p->used = 1;
}

static LtPlan *lt_plan_get(Backend *b, const LtPlan *key, const void *bias) {
    CudaMatmulCache *c = cuda_state(b)->mm;
    for (int i = 0; i < LT_PLANS; i++)
        if (lt_plan_matches(&c->plan[i], key)) return &c->plan[i];
    LtPlan *p = NULL;
    for (int i = 0; i < LT_PLANS && !p; i++)
        if (!c->plan[i].used) p = &c->plan[i];
    if (!p) { // full: evict round-robin
        p = &c->plan[c->next];
        c->next = (c->next + 1) % LT_PLANS;
        lt_plan_release(p);
    }
    lt_plan_build(b, p, key, bias);
    return p;
}

// out (N,OC) += bias (OC) broadcast over rows (used when the epilogue cannot take the bias).
template <typename T>
__global__ void add_bias_kernel(T *out, const T *bias, size_t total, int OC) {
    for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < total;
         i += (size_t)gridDim.x * blockDim.x)
        out[i] = from_f32<T>(to_f32(out[i]) + to_f32(bias[i % (size_t)OC]));
}

// D (m x n, col-major) = op(A) op(B) + beta D [+ bias (m) on every column].
// A, B of type tin; D (and C = D) of type tout; fp32 compute.
static void cuda_gemm(Backend *b, int ta, int tb, int m, int n, int k, const void *A, int lda,
                      const void *B, int ldb, void *D, int ldd, cudaDataType_t tin,
                      cudaDataType_t tout, float beta, const void *bias) {
    CudaState *st = cuda_state(b);
    LtPlan key;
    memset(&key, 0, sizeof key);
    key.ta = ta;
    key.tb = tb;
    key.m = m;
    key.n = n;
    key.k = k;
    key.lda = lda;
    key.ldb = ldb;
    key.ldd = ldd;
    key.tin = tin;
    key.tout = tout;
    key.al_a = cuda_align_of(A);
    key.al_b = cuda_align_of(B);
    key.al_d = cuda_align_of(D);
    // The epilogue wants an aligned bias; otherwise the bias goes in a separate kernel.
    key.epi_bias = bias != NULL && cuda_align_of(bias) >= 16;
    key.al_bias = key.epi_bias ? cuda_align_of(bias) : 0;
    LtPlan *p = lt_plan_get(b, &key, bias);
    const float alpha = 1.0f;
    if (p->has_algo) {
        if (p->epi_bias)
            CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(p->desc, CUBLASLT_MATMUL_DESC_BIAS_POINTER,
                                                        &bias, sizeof bias));
        CUBLAS_CHECK(cublasLtMatmul(st->lt, p->desc, &alpha, A, p->la, B, p->lb, &beta, D, p->ld,
                                    D, p->ld, &p->algo, st->lt_ws, st->lt_ws_bytes, st->stream));
    } else {
        CUBLAS_CHECK(cublasGemmEx(st->blas, ta ? CUBLAS_OP_T : CUBLAS_OP_N,
                                  tb ? CUBLAS_OP_T : CUBLAS_OP_N, m, n, k, &alpha, A, tin, lda, B,
                                  tin, ldb, &beta, D, tout, ldd, CUBLAS_COMPUTE_32F,
                                  CUBLAS_GEMM_DEFAULT));
    }
    if (bias && !(p->has_algo && p->epi_bias)) {
        // D is (m x n) col-major = row-major (n, m): the bias runs along the rows
        size_t total = (size_t)m * n;
        if (tout == CUDA_R_16BF)
            add_bias_kernel<bf16><<<cuda_grid(total, 256), 256, 0, st->stream>>>(
                (bf16 *)D, (const bf16 *)bias, total, m);
        else
            add_bias_kernel<float><<<cuda_grid(total, 256), 256, 0, st->stream>>>(
                (float *)D, (const float *)bias, total, m);
        CUDA_CHECK_LAST();
    }
}

static cudaDataType_t act_type(Backend *b) { return b->act == DT_BF16 ? CUDA_R_16BF : CUDA_R_32F; }

static void check_dims(const char *op, int N, int C, int OC) {
    LM_CHECK(N > 0 && C > 0 && OC > 0, "%s: bad shape N=%d C=%d OC=%d", op, N, C, OC);
}

// out (N,OC) = inp (N,C) @ w^T [+ bias]: column-major out^T (OC x N) = w (OC x C) . inp^T,
// where w row-major is w^T column-major (C x OC, ld C) and inp row-major is inp^T (C x N).
void cuda_matmul_fwd(Backend *b, void *out, const void *inp, const void *w, const void *bias,
                     int N, int C, int OC) {
    check_dims("matmul_fwd", N, C, OC);
    cuda_gemm(b, 1, 0, OC, N, C, w, C, inp, C, out, OC, act_type(b), act_type(b), 0.0f, bias);
}

// part (n_chunks, OC): column sums of dout over DBIAS_ROWS-row chunks. Block (32, 8): 32
// columns, 8 row lanes that each add every 8th row in order, then summed in lane order.
template <typename T>
__global__ void dbias_partial_kernel(float *part, const T *dout, int N, int OC) {
    __shared__ float sh[8][33];
    const int oc = blockIdx.x * 32 + threadIdx.x;
    const int r0 = blockIdx.y * DBIAS_ROWS;
    const int r1 = min(r0 + DBIAS_ROWS, N);
    float s = 0.0f;
    if (oc < OC)
        for (int r = r0 + threadIdx.y; r < r1; r += 8) s += to_f32(dout[(size_t)r * OC + oc]);
    sh[threadIdx.y][threadIdx.x] = s;
    __syncthreads();
    if (threadIdx.y == 0 && oc < OC) {
        float t = 0.0f;
        for (int y = 0; y < 8; y++) t += sh[y][threadIdx.x];
        part[(size_t)blockIdx.y * OC + oc] = t;
    }
}

// dbias (OC) += sum of the chunk partials, in chunk order.
__global__ void dbias_final_kernel(float *dbias, const float *part, int n_chunks, int OC) {
    const int oc = blockIdx.x * blockDim.x + threadIdx.x;
    if (oc >= OC) return;
    float s = 0.0f;
    for (int c = 0; c < n_chunks; c++) s += part[(size_t)c * OC + oc];
    dbias[oc] += s;
}

// dinp (N,C) = dout (N,OC) @ w (OC,C): column-major dinp^T (C x N) = w^T (C x OC) . dout^T.
// dw_acc (OC,C) += dout^T @ inp: column-major dw^T (C x OC) += inp^T (C x N) . dout (N x OC),
// dout^T being dout stored (OC x N, ld OC), transposed.
void cuda_matmul_bwd(Backend *b, void *dinp, float *dw_acc, float *dbias_acc, const void *dout,
                     const void *inp, const void *w, int N, int C, int OC) {
    check_dims("matmul_bwd", N, C, OC);
    cudaDataType_t at = act_type(b);
    if (dinp) cuda_gemm(b, 0, 0, C, N, OC, w, C, dout, OC, dinp, C, at, at, 0.0f, NULL);
    cuda_gemm(b, 0, 1, C, OC, N, inp, C, dout, OC, dw_acc, C, at, CUDA_R_32F, 1.0f, NULL);
    if (dbias_acc) {
        cudaStream_t s = cuda_stream(b);
        const int n_chunks = (N + DBIAS_ROWS - 1) / DBIAS_ROWS;
        LM_CHECK(n_chunks <= 65535, "matmul_bwd: N=%d rows is too many for the bias gradient", N);
        float *part = (float *)cuda_scratch(b, SCR_PARTIAL, (size_t)n_chunks * OC * sizeof(float));
        dim3 grid((OC + 31) / 32, n_chunks), block(32, 8);
        if (b->act == DT_BF16)
            dbias_partial_kernel<bf16><<<grid, block, 0, s>>>(part, (const bf16 *)dout, N, OC);
        else
            dbias_partial_kernel<float><<<grid, block, 0, s>>>(part, (const float *)dout, N, OC);
        CUDA_CHECK_LAST();
        dbias_final_kernel<<<(OC + 255) / 256, 256, 0, s>>>(dbias_acc, part, n_chunks, OC);
        CUDA_CHECK_LAST();
    }
}
