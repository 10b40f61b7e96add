// cuda_misc.cu: the elementwise and row-wise ops: token embedding (forward gather; backward
// grouped by token on the host, one block per distinct token, deterministic), rotary
// embedding (angles in double, as the CPU's table), SwiGLU, softmax cross-entropy (one block
// per row, online max/sum), AdamW (torch.optim.AdamW), sum of squares (fixed two-stage
// reduction in double) and scale.
#include "cuda_common.h"

#include <math.h>
#include <string.h>

#define EW_THREADS 256      // elementwise kernels
#define SUMSQ_BLOCKS 512    // fixed grid of the sum of squares (its result depends on it)
#define SUMSQ_THREADS 512
#define ROPE_MAX_HALF 128   // hd up to 256

// ---------------------------------------------------------------------------
// embedding

// out (N,C) = wte[tok[n]] rows.
template <typename T>
__global__ void embed_fwd_kernel(T *out, const int *tok, const T *wte, int N, int C) {
    const size_t total = (size_t)N * C;
    for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < total;
         i += (size_t)gridDim.x * blockDim.x) {
        const size_t n = i / C, c = i % C;
        out[i] = wte[(size_t)tok[n] * C + c];
    }
}

void cuda_embed_fwd(Backend *b, void *out, const int *tok, const int *tok_host, const void *wte,
                    int N, int C) {
    LM_CHECK(N > 0 && C > 0, "embed_fwd: bad shape N=%d C=%d", N, C);
    if (tok_host)
        for (int n = 0; n < N; n++)
            LM_CHECK(tok_host[n] >= 0, "embed_fwd: token %d at row %d", tok_host[n], n);
    cudaStream_t s = cuda_stream(b);
    const size_t total = (size_t)N * C;
    if (b->act == DT_BF16)
        embed_fwd_kernel<bf16><<<cuda_grid(total, EW_THREADS), EW_THREADS, 0, s>>>(
            (bf16 *)out, tok, (const bf16 *)wte, N, C);
    else
        embed_fwd_kernel<float><<<cuda_grid(total, EW_THREADS), EW_THREADS, 0, s>>>(
            (float *)out, tok, (const float *)wte, N, C);
    CUDA_CHECK_LAST();
}

// One block per distinct token u: dwte[uniq[u]] += sum of dout rows rows[start[u] ..
// start[u+1]) in that (ascending row) order. Threads own columns.
template <typename T>
__global__ void embed_bwd_kernel(float *dwte, const T *dout, const int *rows, const int *uniq,
                                 const int *start, int C) {
    const int u = blockIdx.x;
    const int v = uniq[u], s0 = start[u], s1 = start[u + 1];
    float *dst = dwte + (size_t)v * C;
    for (int c = threadIdx.x; c < C; c += blockDim.x) {
        float acc = 0.0f;
        for (int j = s0; j < s1; j++) acc += to_f32(dout[(size_t)rows[j] * C + c]);
        dst[c] += acc;
    }
}

void cuda_embed_bwd(Backend *b, float *dwte_acc, const void *dout, const int *tok,
                    const int *tok_host, int N, int C, int V) {
    (void)tok; // grouped from tok_host
    LM_CHECK(N > 0 && C > 0 && V > 0, "embed_bwd: bad shape N=%d C=%d V=%d", N, C, V);
    LM_CHECK(tok_host != NULL, "embed_bwd: the CUDA backend needs tok_host");
    // counting sort of the rows by token (stable: rows ascending within a token)
    int *count = (int *)lm_calloc((size_t)V + 1, sizeof(int));
    for (int n = 0; n < N; n++) {
        const int t = tok_host[n];
        LM_CHECK(t >= 0 && t < V, "embed_bwd: token %d at row %d, vocab %d", t, n, V);
        count[t + 1]++;
    }
    int U = 0;
    for (int v = 0; v < V; v++) U += count[v + 1] > 0;
    for (int v = 0; v < V; v++) count[v + 1] += count[v]; // count[v] = first slot of token v
    // host layout: rows (N) | uniq (U) | start (U + 1)
    const size_t n_ints = (size_t)N + 2 * (size_t)U + 1;
    int *h = (int *)cuda_host_scratch(b, n_ints * sizeof(int));
    int *h_rows = h, *h_uniq = h + N, *h_start = h + N + U;
    int u = 0;
    for (int v = 0; v < V; v++)
        if (count[v + 1] > count[v]) {
            h_uniq[u] = v;
            h_start[u] = count[v];
            u++;
        }
    h_start[U] = N;
    for (int n = 0; n < N; n++) h_rows[count[tok_host[n]]++] = n;
    free(count);

    cudaStream_t s = cuda_stream(b);
    int *d = (int *)cuda_scratch(b, SCR_INDEX, n_ints * sizeof(int));
    // pageable source: the call returns once h is staged, so h may be reused afterwards
    CUDA_CHECK(cudaMemcpyAsync(d, h, n_ints * sizeof(int), cudaMemcpyHostToDevice, s));
    const int threads = C >= 256 ? 256 : ((C + 31) / 32) * 32;
    if (b->act == DT_BF16)
        embed_bwd_kernel<bf16><<<U, threads, 0, s>>>(dwte_acc, (const bf16 *)dout, d, d + N,
                                                      d + N + U, C);
    else
        embed_bwd_kernel<float><<<U, threads, 0, s>>>(dwte_acc, (const float *)dout, d, d + N,
                                                       d + N + U, C);
    CUDA_CHECK_LAST();
}

// ---------------------------------------------------------------------------
// rotary embedding

// The frequencies (hd/2, double) by value as a kernel parameter.
struct RopeFreq {
    double inv_freq[ROPE_MAX_HALF];
};

// One thread per (row n, pair i): the angle pos * inv_freq[i] in double, its cos/sin in double
// rounded to fp32 (the CPU's table), then every q and k head of the row rotated:
//   (x0, x1) -> (x0 c - x1 s, x0 s + x1 c), s negated for the inverse rotation.
template <typename T>
__global__ void rope_kernel(T *qkv, const int *pos, RopeFreq f, int N, int T_, int n_heads,
                            int row_stride, int hd, float sign) {
    const int half = hd / 2;
    const size_t total = (size_t)N * half;
    for (size_t idx = (size_t)blockIdx.x * blockDim.x + threadIdx.x; idx < total;
         idx += (size_t)gridDim.x * blockDim.x) {
        const int n = (int)(idx / half), i = (int)(idx % half);
        const int p = pos ? pos[n] : n % T_;
        double sd, cd;
        sincos((double)p * f.inv_freq[i], &sd, &cd);
        const float c = (float)cd, s = sign * (float)sd;
        T *row = qkv + (size_t)n * row_stride;
        for (int h = 0; h < n_heads; h++) {
            T *x = row + (size_t)h * hd;
            const float x0 = to_f32(x[i]), x1 = to_f32(x[i + half]);
            x[i] = from_f32<T>(x0 * c - x1 * s);
            x[i + half] = from_f32<T>(x0 * s + x1 * c);
        }
    }
}

void cuda_rope(Backend *b, void *qkv, const int *pos, int N, int T, int H, int KV, int hd,
               const double *inv_freq, int inverse) {
    LM_CHECK(hd > 0 && hd % 2 == 0 && hd / 2 <= ROPE_MAX_HALF,
             "rope: head dim %d (must be even, at most %d)", hd, 2 * ROPE_MAX_HALF);
    LM_CHECK(N > 0 && (pos || T > 0), "rope: bad shape N=%d T=%d", N, T);
    RopeFreq f;
    memset(&f, 0, sizeof f);
    for (int i = 0; i < hd / 2; i++) f.inv_freq[i] = inv_freq[i];
    const int row_stride = (H + 2 * KV) * hd;
    const size_t total = (size_t)N * (hd / 2);
    cudaStream_t s = cuda_stream(b);
    const float sign = inverse ? -1.0f : 1.0f;
    if (b->act == DT_BF16)
        rope_kernel<bf16><<<cuda_grid(total, EW_THREADS), EW_THREADS, 0, s>>>(
            (bf16 *)qkv, pos, f, N, T, H + KV, row_stride, hd, sign);
    else
        rope_kernel<float><<<cuda_grid(total, EW_THREADS), EW_THREADS, 0, s>>>(
            (float *)qkv, pos, f, N, T, H + KV, row_stride, hd, sign);
    CUDA_CHECK_LAST();
}

// ---------------------------------------------------------------------------
// SwiGLU. VEC elements per thread (16-byte loads when VEC > 1: F % VEC == 0 and aligned
// pointers). dh may alias h: each thread reads its a and g before writing da and dg.

template <typename T, int VEC> struct alignas(sizeof(T) * VEC) Pack {
    T v[VEC];
};

__device__ __forceinline__ float sigmoidf_(float a) { return 1.0f / (1.0f + expf(-a)); }

// out (N,F) = silu(a) * g, a = h[:, :F], g = h[:, F:].
template <typename T, int VEC>
__global__ void swiglu_fwd_kernel(T *out, const T *h, int N, int F) {
    const int FV = F / VEC;
    const size_t total = (size_t)N * FV;
    for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < total;
         i += (size_t)gridDim.x * blockDim.x) {
        const size_t n = i / FV, f = (i % FV) * VEC;
        const Pack<T, VEC> a = *(const Pack<T, VEC> *)(h + n * 2 * F + f);
        const Pack<T, VEC> g = *(const Pack<T, VEC> *)(h + n * 2 * F + F + f);
        Pack<T, VEC> o;
#pragma unroll
        for (int k = 0; k < VEC; k++) {
            const float av = to_f32(a.v[k]), gv = to_f32(g.v[k]);
            o.v[k] = from_f32<T>(av * sigmoidf_(av) * gv);
        }
        *(Pack<T, VEC> *)(out + n * F + f) = o;
    }
}

// dh (N,2F): da = dout * g * sig(a) * (1 + a (1 - sig(a))), dg = dout * silu(a).
template <typename T, int VEC>
__global__ void swiglu_bwd_kernel(T *dh, const T *dout, const T *h, int N, int F) {
    const int FV = F / VEC;
    const size_t total = (size_t)N * FV;
    for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < total;
         i += (size_t)gridDim.x * blockDim.x) {
        const size_t n = i / FV, f = (i % FV) * VEC;
        const Pack<T, VEC> a = *(const Pack<T, VEC> *)(h + n * 2 * F + f);
        const Pack<T, VEC> g = *(const Pack<T, VEC> *)(h + n * 2 * F + F + f);
        const Pack<T, VEC> d = *(const Pack<T, VEC> *)(dout + n * F + f);
        Pack<T, VEC> da, dg;
#pragma unroll
        for (int k = 0; k < VEC; k++) {
            const float av = to_f32(a.v[k]), gv = to_f32(g.v[k]), dv = to_f32(d.v[k]);
            const float sig = sigmoidf_(av);
            da.v[k] = from_f32<T>(dv * gv * sig * (1.0f + av * (1.0f - sig)));
            dg.v[k] = from_f32<T>(dv * av * sig);
        }
        *(Pack<T, VEC> *)(dh + n * 2 * F + f) = da;
        *(Pack<T, VEC> *)(dh + n * 2 * F + F + f) = dg;
    }
}

// Vector width in elements when F and all pointers allow 16-byte accesses, else 1.
static int swiglu_vec(Backend *b, int F, const void *p0, const void *p1, const void *p2) {
    const int vec = (int)(16 / b->act_size);
    if (F % vec != 0) return 1;
    if (cuda_align_of(p0) < 16 || cuda_align_of(p1) < 16 || (p2 && cuda_align_of(p2) < 16))
        return 1;
    return vec;
}

template <typename T> static void swiglu_fwd_launch(Backend *b, void *out, const void *h, int N,
                                                    int F) {
    constexpr int V = 16 / sizeof(T);
    cudaStream_t s = cuda_stream(b);
    if (swiglu_vec(b, F, out, h, NULL) == V) {
        const size_t total = (size_t)N * (F / V);
        swiglu_fwd_kernel<T, V><<<cuda_grid(total, EW_THREADS), EW_THREADS, 0, s>>>(
            (T *)out, (const T *)h, N, F);
    } else {
        const size_t total = (size_t)N * F;
        swiglu_fwd_kernel<T, 1><<<cuda_grid(total, EW_THREADS), EW_THREADS, 0, s>>>(
            (T *)out, (const T *)h, N, F);
    }
    CUDA_CHECK_LAST();
}

template <typename T> static void swiglu_bwd_launch(Backend *b, void *dh, const void *dout,
                                                    const void *h, int N, int F) {
    constexpr int V = 16 / sizeof(T);
    cudaStream_t s = cuda_stream(b);
    if (swiglu_vec(b, F, dh, dout, h) == V) {
        const size_t total = (size_t)N * (F / V);
        swiglu_bwd_kernel<T, V><<<cuda_grid(total, EW_THREADS), EW_THREADS, 0, s>>>(
            (T *)dh, (const T *)dout, (const T *)h, N, F);
    } else {
        const size_t total = (size_t)N * F;
        swiglu_bwd_kernel<T, 1><<<cuda_grid(total, EW_THREADS), EW_THREADS, 0, s>>>(
            (T *)dh, (const T *)dout, (const T *)h, N, F);
    }
    CUDA_CHECK_LAST();
}

void cuda_swiglu_fwd(Backend *b, void *out, const void *h, int N, int F) {
    LM_CHECK(N > 0 && F > 0, "swiglu_fwd: bad shape N=%d F=%d", N, F);
    if (b->act == DT_BF16) swiglu_fwd_launch<bf16>(b, out, h, N, F);
    else swiglu_fwd_launch<float>(b, out, h, N, F);
}

void cuda_swiglu_bwd(Backend *b, void *dh, const void *dout, const void *h, int N, int F) {
    LM_CHECK(N > 0 && F > 0, "swiglu_bwd: bad shape N=%d F=%d", N, F);
    if (b->act == DT_BF16) swiglu_bwd_launch<bf16>(b, dh, dout, h, N, F);
    else swiglu_bwd_launch<float>(b, dh, dout, h, N, F);
}

// ---------------------------------------------------------------------------
// cross-entropy

// (m, s): running max and sum of exp(x - m); combining two is exact up to rounding.
__device__ __forceinline__ void lse_combine(float &m, float &s, float m2, float s2) {
    const float M = fmaxf(m, m2);
    if (M == -INFINITY) return; // both empty
    s = s * expf(m - M) + s2 * expf(m2 - M);
    m = M;
}

// One block per row n. loss[n] = logsumexp(x) - x[target]; dlogits = (softmax - onehot) *
// dscale (dlogits may be logits: x[target] is read by every thread before the first barrier,
// and afterwards each element is read and then written by the same thread). A target out of
// [-1, V) gives NaN loss and gradients.
template <typename T>
__global__ void crossentropy_kernel(float *loss, T *dlogits, const T *logits, const int *targets,
                                    int V, float dscale) {
    __shared__ float sh_m[32], sh_s[32];
    const size_t off = (size_t)blockIdx.x * V;
    const T *x = logits + off;
    const int tgt = targets[blockIdx.x];
    if (tgt == -1) { // uniform over the block
        if (threadIdx.x == 0) loss[blockIdx.x] = 0.0f;
        if (dlogits)
            for (int c = threadIdx.x; c < V; c += blockDim.x) dlogits[off + c] = from_f32<T>(0.0f);
        return;
    }
    const bool ok = tgt >= 0 && tgt < V;
    const float x_t = ok ? to_f32(x[tgt]) : NAN;
    float m = -INFINITY, s = 0.0f;
    for (int c = threadIdx.x; c < V; c += blockDim.x) {
        const float v = to_f32(x[c]);
        if (v > m) {
            s = s * expf(m - v) + 1.0f;
            m = v;
        } else {
            s += expf(v - m);
        }
    }
    for (int o = 16; o > 0; o >>= 1) {
        const float m2 = __shfl_xor_sync(0xffffffffu, m, o);
        const float s2 = __shfl_xor_sync(0xffffffffu, s, o);
        lse_combine(m, s, m2, s2);
    }
    const int lane = threadIdx.x % 32, warp = threadIdx.x / 32, n_warps = blockDim.x / 32;
    if (lane == 0) {
        sh_m[warp] = m;
        sh_s[warp] = s;
    }
    __syncthreads();
    m = -INFINITY;
    s = 0.0f;
    for (int w = 0; w < n_warps; w++) lse_combine(m, s, sh_m[w], sh_s[w]); // same order in all
    const float lse = m + logf(s);
    if (threadIdx.x == 0) loss[blockIdx.x] = ok ? lse - x_t : NAN;
    if (dlogits) {
        for (int c = threadIdx.x; c < V; c += blockDim.x) {
            const float p = expf(to_f32(x[c]) - lse);
            const float g = ok ? (p - (c == tgt ? 1.0f : 0.0f)) * dscale : NAN;
            dlogits[off + c] = from_f32<T>(g);
        }
    }
}

void cuda_crossentropy(Backend *b, float *loss, void *dlogits, const void *logits,
                       const int *targets, int N, int V, float dscale) {
    LM_CHECK(N > 0 && V > 0, "crossentropy: bad shape N=%d V=%d", N, V);
    cudaStream_t s = cuda_stream(b);
    const int threads = V >= 8192 ? 512 : 256;
    if (b->act == DT_BF16)
        crossentropy_kernel<bf16><<<N, threads, 0, s>>>(loss, (bf16 *)dlogits,
                                                         (const bf16 *)logits, targets, V, dscale);
    else
        crossentropy_kernel<float><<<N, threads, 0, s>>>(
            loss, (float *)dlogits, (const float *)logits, targets, V, dscale);
    CUDA_CHECK_LAST();
}

// ---------------------------------------------------------------------------
// AdamW, in the form of torch.optim.AdamW (and of the CPU backend):
//   g *= gscale; m = b1 m + (1-b1) g; v = b2 v + (1-b2) g^2;
//   p = p * (1 - lr wd) - (lr / bc1) * m / (sqrt(v) / sqrt(bc2) + eps).
template <typename T>
__global__ void adamw_kernel(float *p, T *p_act, const float *g, float *m, float *v, size_t n,
                             float beta1, float beta2, float eps, float gscale, float decay,
                             float step_size, float bc2_sqrt) {
    for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < n;
         i += (size_t)gridDim.x * blockDim.x) {
        const float gi = g[i] * gscale;
        const float mi = beta1 * m[i] + (1.0f - beta1) * gi;
        const float vi = beta2 * v[i] + (1.0f - beta2) * gi * gi;
        const float denom = sqrtf(vi) / bc2_sqrt + eps;
        const float pi = p[i] * decay - step_size * mi / denom;
        m[i] = mi;
        v[i] = vi;
        p[i] = pi;
        if (p_act) p_act[i] = from_f32<T>(pi);
    }
}

void cuda_adamw(Backend *b, float *p, void *p_act, const float *g, float *m, float *v, size_t n,
                float lr, float beta1, float beta2, float eps, float wd, float gscale, int t) {
    LM_CHECK(t >= 1, "adamw: step %d, must be >= 1", t);
    if (n == 0) return;
    const double bc1 = 1.0 - pow((double)beta1, (double)t);
    const double bc2 = 1.0 - pow((double)beta2, (double)t);
    const float step_size = (float)(lr / bc1);
    const float bc2_sqrt = (float)sqrt(bc2);
    const float decay = (float)(1.0 - (double)lr * (double)wd);
    // in fp32 mode p_act may be p itself: nothing more to write then
    if (b->act == DT_F32 && p_act == (void *)p) p_act = NULL;
    cudaStream_t s = cuda_stream(b);
    if (b->act == DT_BF16)
        adamw_kernel<bf16><<<cuda_grid(n, EW_THREADS), EW_THREADS, 0, s>>>(
            p, (bf16 *)p_act, g, m, v, n, beta1, beta2, eps, gscale, decay, step_size, bc2_sqrt);
    else
        adamw_kernel<float><<<cuda_grid(n, EW_THREADS), EW_THREADS, 0, s>>>(
            p, (float *)p_act, g, m, v, n, beta1, beta2, eps, gscale, decay, step_size, bc2_sqrt);
    CUDA_CHECK_LAST();
}

// ---------------------------------------------------------------------------
// sum of squares: SUMSQ_BLOCKS fixed blocks of grid-stride partial sums in double, then one
// block adds the partials in a fixed order.

__global__ void sumsq_partial_kernel(double *part, const float *x, size_t n) {
    __shared__ double sh[32];
    double s = 0.0;
    for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < n;
         i += (size_t)gridDim.x * blockDim.x) {
        const double v = (double)x[i];
        s += v * v;
    }
    s = block_sum(s, sh);
    if (threadIdx.x == 0) part[blockIdx.x] = s;
}

// One block of SUMSQ_BLOCKS threads: out[0] = sum of part[0 .. SUMSQ_BLOCKS).
__global__ void sumsq_final_kernel(double *out, const double *part) {
    __shared__ double sh[32];
    double s = block_sum(part[threadIdx.x], sh);
    if (threadIdx.x == 0) out[0] = s;
}

double cuda_sumsq(Backend *b, const float *x, size_t n) {
    if (n == 0) return 0.0;
    cudaStream_t s = cuda_stream(b);
    double *part = (double *)cuda_scratch(b, SCR_PARTIAL, (SUMSQ_BLOCKS + 1) * sizeof(double));
    sumsq_partial_kernel<<<SUMSQ_BLOCKS, SUMSQ_THREADS, 0, s>>>(part, x, n);
    CUDA_CHECK_LAST();
    sumsq_final_kernel<<<1, SUMSQ_BLOCKS, 0, s>>>(part + SUMSQ_BLOCKS, part);
    CUDA_CHECK_LAST();
    double result = 0.0;
    CUDA_CHECK(cudaMemcpyAsync(&result, part + SUMSQ_BLOCKS, sizeof(double),
                               cudaMemcpyDeviceToHost, s));
    CUDA_CHECK(cudaStreamSynchronize(s));
    return result;
}

__global__ void scale_kernel(float *x, float sc, size_t n) {
    for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < n;
         i += (size_t)gridDim.x * blockDim.x)
        x[i] *= sc;
}

void cuda_scale(Backend *b, float *x, float s, size_t n) {
    if (n == 0) return;
    scale_kernel<<<cuda_grid(n, EW_THREADS), EW_THREADS, 0, cuda_stream(b)>>>(x, s, n);
    CUDA_CHECK_LAST();
}
