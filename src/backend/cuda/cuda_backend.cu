// cuda_backend.cu: the CUDA backend's entry points (device count, describe, create/destroy),
// its memory functions (alloc, upload/download, the fp32 <-> act conversions), the scratch
// buffers, and the ops table. The ops live in cuda_matmul.cu, cuda_norm.cu,
// cuda_attention.cu and cuda_misc.cu.
#include "cuda_common.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CUDA_LT_WORKSPACE (32u << 20) // cuBLASLt workspace bytes
#define CUDA_CONVERT_CHUNK (1u << 22) // elements per upload_act / download_act chunk (16 MiB)
#define CUDA_MIN_MAJOR 9              // the build targets sm_90

// ---------------------------------------------------------------------------
// devices

// Ordinals of the devices this build can run on (compute capability >= 9.0), at most max.
static int cuda_usable_devices(int *ids, int max) {
    int n = 0;
    if (cudaGetDeviceCount(&n) != cudaSuccess) {
        (void)cudaGetLastError(); // no driver or no device: not an error here
        return 0;
    }
    int k = 0;
    for (int i = 0; i < n; i++) {
        cudaDeviceProp p;
        if (cudaGetDeviceProperties(&p, i) != cudaSuccess) {
            (void)cudaGetLastError();
            continue;
        }
        if (p.major < CUDA_MIN_MAJOR) continue;
        if (ids && k < max) ids[k] = i;
        k++;
    }
    return k;
}

int backend_cuda_device_count(void) { return cuda_usable_devices(NULL, 0); }

// Appends to buf (len bytes, *pos used so far), never past the end.
static void cuda_appendf(char *buf, size_t len, size_t *pos, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void cuda_appendf(char *buf, size_t len, size_t *pos, const char *fmt, ...) {
    if (*pos + 1 >= len) return;
    va_list ap;
    va_start(ap, fmt);
    int w = vsnprintf(buf + *pos, len - *pos, fmt, ap);
    va_end(ap);
    if (w < 0) return;
    *pos += (size_t)w;
    if (*pos >= len) *pos = len - 1;
}

void backend_cuda_describe(char *buf, size_t len) {
    if (!buf || len == 0) return;
    buf[0] = 0;
    int n = 0;
    if (cudaGetDeviceCount(&n) != cudaSuccess || n <= 0) {
        (void)cudaGetLastError();
        snprintf(buf, len, "no CUDA device");
        return;
    }
    size_t pos = 0;
    cuda_appendf(buf, len, &pos, "%d device%s: ", n, n == 1 ? "" : "s");
    for (int i = 0; i < n; i++) {
        cudaDeviceProp p;
        if (i > 0) cuda_appendf(buf, len, &pos, ", ");
        if (cudaGetDeviceProperties(&p, i) != cudaSuccess) {
            (void)cudaGetLastError();
            cuda_appendf(buf, len, &pos, "device %d (properties unavailable)", i);
            continue;
        }
        cuda_appendf(buf, len, &pos, "%s (sm_%d%d, %.1f GiB%s)", p.name, p.major, p.minor,
                     (double)p.totalGlobalMem / (1024.0 * 1024.0 * 1024.0),
                     p.major < CUDA_MIN_MAJOR ? ", not usable: this build needs sm_90+" : "");
    }
}

// ---------------------------------------------------------------------------
// memory

static int cuda_mem_info(Backend *b, size_t *free_bytes, size_t *total_bytes) {
    (void)b;
    if (cudaMemGetInfo(free_bytes, total_bytes) == cudaSuccess) return 0;
    (void)cudaGetLastError();
    return -1;
}

void *cuda_alloc_or_die(Backend *b, size_t bytes, const char *what) {
    CudaState *st = cuda_state(b);
    void *p = NULL;
    cudaError_t e = cudaMalloc(&p, bytes ? bytes : 256);
    if (e != cudaSuccess || !p) {
        (void)cudaGetLastError();
        size_t free_b = 0, total_b = 0;
        if (cudaMemGetInfo(&free_b, &total_b) != cudaSuccess) (void)cudaGetLastError();
        lm_fatal("CUDA out of memory on device %d: cannot allocate %zu bytes (%.1f MiB) for %s "
                 "(%s; %.2f GiB free of %.2f GiB); reduce train.micro_batch or train.seq_len",
                 st->device, bytes, (double)bytes / (1024.0 * 1024.0), what ? what : "?",
                 cudaGetErrorString(e), (double)free_b / (1024.0 * 1024.0 * 1024.0),
                 (double)total_b / (1024.0 * 1024.0 * 1024.0));
    }
    return p;
}

static void *cuda_alloc(Backend *b, size_t bytes, const char *what) {
    return cuda_alloc_or_die(b, bytes, what);
}

static void cuda_free(Backend *b, void *p) {
    if (!p) return;
    CUDA_CHECK(cudaStreamSynchronize(cuda_stream(b))); // no queued kernel may still use p
    CUDA_CHECK(cudaFree(p));
}

static void cuda_upload(Backend *b, void *dst, const void *src_host, size_t bytes) {
    if (bytes == 0) return;
    cudaStream_t s = cuda_stream(b);
    CUDA_CHECK(cudaMemcpyAsync(dst, src_host, bytes, cudaMemcpyHostToDevice, s));
    CUDA_CHECK(cudaStreamSynchronize(s));
}

static void cuda_download(Backend *b, void *dst_host, const void *src, size_t bytes) {
    if (bytes == 0) return;
    cudaStream_t s = cuda_stream(b);
    CUDA_CHECK(cudaMemcpyAsync(dst_host, src, bytes, cudaMemcpyDeviceToHost, s));
    CUDA_CHECK(cudaStreamSynchronize(s));
}

static void cuda_zero(Backend *b, void *p, size_t bytes) {
    if (bytes == 0) return;
    CUDA_CHECK(cudaMemsetAsync(p, 0, bytes, cuda_stream(b)));
}

static void cuda_sync(Backend *b) { CUDA_CHECK(cudaStreamSynchronize(cuda_stream(b))); }

void *cuda_scratch(Backend *b, int slot, size_t bytes) {
    CudaState *st = cuda_state(b);
    LM_CHECK(slot >= 0 && slot < N_SCRATCH, "cuda_scratch: bad slot %d", slot);
    CudaBuf *s = &st->scratch[slot];
    if (bytes > s->bytes) {
        if (s->p) {
            CUDA_CHECK(cudaStreamSynchronize(st->stream));
            CUDA_CHECK(cudaFree(s->p));
            s->p = NULL;
            s->bytes = 0;
        }
        size_t want = (bytes + ((size_t)1 << 20) - 1) & ~(((size_t)1 << 20) - 1); // whole MiB
        s->p = cuda_alloc_or_die(b, want, "CUDA backend scratch");
        s->bytes = want;
    }
    return s->p;
}

void *cuda_host_scratch(Backend *b, size_t bytes) {
    CudaState *st = cuda_state(b);
    if (bytes > st->host_bytes) {
        free(st->host_buf);
        st->host_buf = lm_malloc(bytes);
        st->host_bytes = bytes;
    }
    return st->host_buf;
}

// ---------------------------------------------------------------------------
// fp32 <-> act conversions

template <typename Tin, typename Tout>
__global__ void convert_kernel(Tout *dst, const Tin *src, size_t n) {
    for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < n;
         i += (size_t)gridDim.x * blockDim.x)
        dst[i] = from_f32<Tout>(to_f32(src[i]));
}

// dst (act, n) = src (fp32 device, n); a copy (or nothing when dst == src) in fp32 mode.
void cuda_convert_f32_to_act(Backend *b, void *dst, const float *src, size_t n) {
    if (n == 0) return;
    cudaStream_t s = cuda_stream(b);
    if (b->act == DT_F32) {
        if (dst != (const void *)src)
            CUDA_CHECK(cudaMemcpyAsync(dst, src, n * sizeof(float), cudaMemcpyDeviceToDevice, s));
        return;
    }
    convert_kernel<float, bf16><<<cuda_grid(n, 256), 256, 0, s>>>((bf16 *)dst, src, n);
    CUDA_CHECK_LAST();
}

static void cuda_cast_to_act(Backend *b, void *dst, const float *src, size_t n) {
    cuda_convert_f32_to_act(b, dst, src, n);
}

// fp32 host -> act device: in bf16 mode through an fp32 staging chunk converted on the GPU.
static void cuda_upload_act(Backend *b, void *dst, const float *src_host, size_t n) {
    if (n == 0) return;
    if (b->act == DT_F32) {
        cuda_upload(b, dst, src_host, n * sizeof(float));
        return;
    }
    cudaStream_t s = cuda_stream(b);
    size_t chunk = n < CUDA_CONVERT_CHUNK ? n : CUDA_CONVERT_CHUNK;
    float *stage = (float *)cuda_scratch(b, SCR_CONVERT, chunk * sizeof(float));
    for (size_t i = 0; i < n; i += chunk) {
        size_t m = n - i < chunk ? n - i : chunk;
        // stream order: the previous chunk's conversion finishes before this copy overwrites
        CUDA_CHECK(cudaMemcpyAsync(stage, src_host + i, m * sizeof(float), cudaMemcpyHostToDevice,
                                   s));
        convert_kernel<float, bf16><<<cuda_grid(m, 256), 256, 0, s>>>((bf16 *)dst + i, stage, m);
        CUDA_CHECK_LAST();
    }
    CUDA_CHECK(cudaStreamSynchronize(s));
}

// act device -> fp32 host.
static void cuda_download_act(Backend *b, float *dst_host, const void *src, size_t n) {
    if (n == 0) return;
    if (b->act == DT_F32) {
        cuda_download(b, dst_host, src, n * sizeof(float));
        return;
    }
    cudaStream_t s = cuda_stream(b);
    size_t chunk = n < CUDA_CONVERT_CHUNK ? n : CUDA_CONVERT_CHUNK;
    float *stage = (float *)cuda_scratch(b, SCR_CONVERT, chunk * sizeof(float));
    for (size_t i = 0; i < n; i += chunk) {
        size_t m = n - i < chunk ? n - i : chunk;
        convert_kernel<bf16, float><<<cuda_grid(m, 256), 256, 0, s>>>(stage,
                                                                       (const bf16 *)src + i, m);
        CUDA_CHECK_LAST();
        CUDA_CHECK(cudaMemcpyAsync(dst_host + i, stage, m * sizeof(float), cudaMemcpyDeviceToHost,
                                   s));
    }
    CUDA_CHECK(cudaStreamSynchronize(s));
}

// ---------------------------------------------------------------------------
// create / destroy

static void cuda_destroy(Backend *b) {
    if (!b) return;
    CudaState *st = cuda_state(b);
    if (st) {
        CUDA_CHECK(cudaSetDevice(st->device));
        if (st->stream) CUDA_CHECK(cudaStreamSynchronize(st->stream));
        cuda_dp_destroy(b);
        cuda_matmul_cache_destroy(st->mm);
        for (int i = 0; i < N_SCRATCH; i++)
            if (st->scratch[i].p) CUDA_CHECK(cudaFree(st->scratch[i].p));
        if (st->lt_ws) CUDA_CHECK(cudaFree(st->lt_ws));
        if (st->lt) CUBLAS_CHECK(cublasLtDestroy(st->lt));
        if (st->blas) CUBLAS_CHECK(cublasDestroy(st->blas));
        if (st->stream) CUDA_CHECK(cudaStreamDestroy(st->stream));
        free(st->host_buf);
        free(st);
    }
    free(b);
}

Backend *backend_cuda_create(int device, DType act, char *err, size_t err_len) {
    int ids[64];
    int n = cuda_usable_devices(ids, 64);
    if (n == 0) {
        snprintf(err, err_len, "no usable CUDA device (needs a driver and a GPU of compute "
                               "capability 9.0 or newer)");
        return NULL;
    }
    if (device < 0 || device >= n || device >= 64) {
        snprintf(err, err_len, "CUDA device %d asked for, %d usable", device, n);
        return NULL;
    }
    if (act != DT_F32 && act != DT_BF16) {
        snprintf(err, err_len, "unknown activation dtype %d", (int)act);
        return NULL;
    }
    int dev = ids[device];
    cudaError_t e = cudaSetDevice(dev);
    if (e == cudaSuccess) e = cudaFree(0); // creates the context now: errors show here
    if (e != cudaSuccess) {
        (void)cudaGetLastError();
        snprintf(err, err_len, "cannot use CUDA device %d: %s", dev, cudaGetErrorString(e));
        return NULL;
    }
    cudaDeviceProp prop;
    CUDA_CHECK(cudaGetDeviceProperties(&prop, dev));

    Backend *b = (Backend *)lm_calloc(1, sizeof(Backend));
    CudaState *st = (CudaState *)lm_calloc(1, sizeof(CudaState));
    b->impl = st;
    st->device = dev;
    st->n_sm = prop.multiProcessorCount;
    st->smem_optin = prop.sharedMemPerBlockOptin;
    CUDA_CHECK(cudaStreamCreateWithFlags(&st->stream, cudaStreamNonBlocking));
    CUBLAS_CHECK(cublasLtCreate(&st->lt));
    CUBLAS_CHECK(cublasCreate(&st->blas));
    CUBLAS_CHECK(cublasSetStream(st->blas, st->stream));
    CUBLAS_CHECK(cublasSetMathMode(st->blas, CUBLAS_DEFAULT_MATH)); // no TF32
    st->lt_ws_bytes = CUDA_LT_WORKSPACE;
    b->name = "cuda";
    b->act = act;
    b->act_size = lm_dtype_size(act);
    b->threads = 1;
    st->lt_ws = cuda_alloc_or_die(b, st->lt_ws_bytes, "cuBLASLt workspace");
    st->mm = cuda_matmul_cache_create();

    b->alloc = cuda_alloc;
    b->free = cuda_free;
    b->upload = cuda_upload;
    b->download = cuda_download;
    b->zero = cuda_zero;
    b->sync = cuda_sync;
    b->upload_act = cuda_upload_act;
    b->download_act = cuda_download_act;
    b->cast_to_act = cuda_cast_to_act;

    b->embed_fwd = cuda_embed_fwd;
    b->embed_bwd = cuda_embed_bwd;
    b->matmul_fwd = cuda_matmul_fwd;
    b->matmul_bwd = cuda_matmul_bwd;
    b->rmsnorm_fwd = cuda_rmsnorm_fwd;
    b->residual_rmsnorm_fwd = cuda_residual_rmsnorm_fwd;
    b->rmsnorm_bwd = cuda_rmsnorm_bwd;
    b->rope = cuda_rope;
    b->attention_fwd = cuda_attention_fwd;
    b->attention_bwd = cuda_attention_bwd;
    b->swiglu_fwd = cuda_swiglu_fwd;
    b->swiglu_bwd = cuda_swiglu_bwd;
    b->crossentropy = cuda_crossentropy;
    b->adamw = cuda_adamw;
    b->sumsq = cuda_sumsq;
    b->scale = cuda_scale;
    b->kv_write = cuda_kv_write, b->attention_decode = cuda_attention_decode;
    b->matmul_rows = cuda_matmul_fwd; // cuBLASLt; no row-count invariance on the GPU
    b->dp_init = cuda_dp_init, b->dp_allreduce_start = cuda_dp_allreduce_start;
    b->dp_wait = cuda_dp_wait, b->dp_reduce_scatter = cuda_dp_reduce_scatter;
    b->dp_allgather = cuda_dp_allgather;
    b->mem_info = cuda_mem_info;
    b->destroy = cuda_destroy;
    return b;
}
