// cuda_norm.cu: RMSNorm forward (one block per row, fp32 accumulation), the fused residual add
// + RMSNorm, and the backward: dinp per row, and the weight gradient summed deterministically
// (per-block partial sums over fixed row ranges, then a second kernel adds them in order).
#include "cuda_common.h"

#define NORM_THREADS 256
#define RMS_BWD_ROWS 32 // rows per block in the backward (one partial dw row per block)

// out (N,C) = inp * rstd * w; rstd (N). Grid N, block NORM_THREADS.
template <typename T>
__global__ void rmsnorm_fwd_kernel(T *out, float *rstd, const T *inp, const T *w, int C,
                                   float eps) {
    __shared__ float sh[32];
    const size_t off = (size_t)blockIdx.x * C;
    const T *x = inp + off;
    float ss = 0.0f;
    for (int c = threadIdx.x; c < C; c += blockDim.x) {
        float v = to_f32(x[c]);
        ss += v * v;
    }
    ss = block_sum(ss, sh);
    const float r = 1.0f / sqrtf(ss / (float)C + eps);
    if (threadIdx.x == 0) rstd[blockIdx.x] = r;
    for (int c = threadIdx.x; c < C; c += blockDim.x)
        out[off + c] = from_f32<T>(to_f32(x[c]) * r * to_f32(w[c]));
}

// res_out = res_in + delta (rounded to T; res_out may be res_in: each element is read and
// written by the same thread), out = rmsnorm(res_out). Grid N, block NORM_THREADS.
template <typename T>
__global__ void residual_rmsnorm_fwd_kernel(T *res_out, T *out, float *rstd, const T *res_in,
                                            const T *delta, const T *w, int C, float eps) {
    __shared__ float sh[32];
    const size_t off = (size_t)blockIdx.x * C;
    float ss = 0.0f;
    for (int c = threadIdx.x; c < C; c += blockDim.x) {
        T r = from_f32<T>(to_f32(res_in[off + c]) + to_f32(delta[off + c]));
        res_out[off + c] = r;
        float v = to_f32(r);
        ss += v * v;
    }
    ss = block_sum(ss, sh);
    const float r = 1.0f / sqrtf(ss / (float)C + eps);
    if (threadIdx.x == 0) rstd[blockIdx.x] = r;
    for (int c = threadIdx.x; c < C; c += blockDim.x) // this thread's own res_out elements
        out[off + c] = from_f32<T>(to_f32(res_out[off + c]) * r * to_f32(w[c]));
}

// Rows [blockIdx.x * RMS_BWD_ROWS, +RMS_BWD_ROWS) of the backward:
//   dinp[n] += rstd * (dout*w - x * k), k = rstd^2 * sum(dout*w*x) / C;
//   part[blockIdx.x, c] = sum over the block's rows, in order, of dout * (x * rstd).
// Each thread owns the columns c = threadIdx.x + j*blockDim.x of its partial row.
template <typename T>
__global__ void rmsnorm_bwd_kernel(T *dinp, float *part, const T *dout, const T *inp, const T *w,
                                   const float *rstd, int N, int C) {
    __shared__ float sh[32];
    float *p = part + (size_t)blockIdx.x * C;
    for (int c = threadIdx.x; c < C; c += blockDim.x) p[c] = 0.0f;
    const int n0 = blockIdx.x * RMS_BWD_ROWS;
    const int n1 = min(n0 + RMS_BWD_ROWS, N);
    for (int n = n0; n < n1; n++) { // uniform over the block
        const size_t off = (size_t)n * C;
        const float r = rstd[n];
        float dot = 0.0f;
        for (int c = threadIdx.x; c < C; c += blockDim.x)
            dot += to_f32(dout[off + c]) * to_f32(w[c]) * to_f32(inp[off + c]);
        dot = block_sum(dot, sh);
        const float k = dot * r * r / (float)C;
        for (int c = threadIdx.x; c < C; c += blockDim.x) {
            const float dy = to_f32(dout[off + c]), x = to_f32(inp[off + c]);
            const float dx = r * (dy * to_f32(w[c]) - x * k);
            dinp[off + c] = from_f32<T>(to_f32(dinp[off + c]) + dx);
            p[c] += dy * (x * r);
        }
    }
}

// dw (C) += sum over the n_blocks partial rows, in block order.
__global__ void rmsnorm_dw_final_kernel(float *dw, const float *part, int n_blocks, int C) {
    const int c = blockIdx.x * blockDim.x + threadIdx.x;
    if (c >= C) return;
    float s = 0.0f;
    for (int i = 0; i < n_blocks; i++) s += part[(size_t)i * C + c];
    dw[c] += s;
}

void cuda_rmsnorm_fwd(Backend *b, void *out, float *rstd, const void *inp, const void *w, int N,
                      int C, float eps) {
    LM_CHECK(N > 0 && C > 0, "rmsnorm_fwd: bad shape N=%d C=%d", N, C);
    cudaStream_t s = cuda_stream(b);
    if (b->act == DT_BF16)
        rmsnorm_fwd_kernel<bf16><<<N, NORM_THREADS, 0, s>>>((bf16 *)out, rstd, (const bf16 *)inp,
                                                             (const bf16 *)w, C, eps);
    else
        rmsnorm_fwd_kernel<float><<<N, NORM_THREADS, 0, s>>>(
            (float *)out, rstd, (const float *)inp, (const float *)w, C, eps);
    CUDA_CHECK_LAST();
}

void cuda_residual_rmsnorm_fwd(Backend *b, void *res_out, void *out, float *rstd,
                               const void *res_in, const void *delta, const void *w, int N, int C,
                               float eps) {
    LM_CHECK(N > 0 && C > 0, "residual_rmsnorm_fwd: bad shape N=%d C=%d", N, C);
    cudaStream_t s = cuda_stream(b);
    if (b->act == DT_BF16)
        residual_rmsnorm_fwd_kernel<bf16><<<N, NORM_THREADS, 0, s>>>(
            (bf16 *)res_out, (bf16 *)out, rstd, (const bf16 *)res_in, (const bf16 *)delta,
            (const bf16 *)w, C, eps);
    else
        residual_rmsnorm_fwd_kernel<float><<<N, NORM_THREADS, 0, s>>>(
            (float *)res_out, (float *)out, rstd, (const float *)res_in, (const float *)delta,
            (const float *)w, C, eps);
    CUDA_CHECK_LAST();
}

void cuda_rmsnorm_bwd(Backend *b, void *dinp_acc, float *dw_acc, const void *dout,
                      const void *inp, const void *w, const float *rstd, int N, int C) {
    LM_CHECK(N > 0 && C > 0, "rmsnorm_bwd: bad shape N=%d C=%d", N, C);
    cudaStream_t s = cuda_stream(b);
    const int n_blocks = (N + RMS_BWD_ROWS - 1) / RMS_BWD_ROWS;
    float *part = (float *)cuda_scratch(b, SCR_PARTIAL, (size_t)n_blocks * C * sizeof(float));
    if (b->act == DT_BF16)
        rmsnorm_bwd_kernel<bf16><<<n_blocks, NORM_THREADS, 0, s>>>(
            (bf16 *)dinp_acc, part, (const bf16 *)dout, (const bf16 *)inp, (const bf16 *)w, rstd,
            N, C);
    else
        rmsnorm_bwd_kernel<float><<<n_blocks, NORM_THREADS, 0, s>>>(
            (float *)dinp_acc, part, (const float *)dout, (const float *)inp, (const float *)w,
            rstd, N, C);
    CUDA_CHECK_LAST();
    rmsnorm_dw_final_kernel<<<(C + 255) / 256, 256, 0, s>>>(dw_acc, part, n_blocks, C);
    CUDA_CHECK_LAST();
}
