// backend/cpu: the CPU backend's ops table (fp32 activations, OpenMP threads, OpenBLAS):
// memory functions, per-thread scratch, the optimizer step (AdamW), sumsq and scale, and
// backend_cpu_create. The ops themselves live in cpu_matmul.c, cpu_norm.c,
// cpu_attention.c and cpu_misc.c.
#include "cpu_internal.h"
#include "lemma/util.h"

#if LEMMA_BLAS
#include <cblas.h>
#endif
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

// ---------------------------------------------------------------------------
// memory

#define CPU_HUGE (2u << 20) // transparent huge page size (x86-64)

// Buffers of 2 MiB or more are aligned to 2 MiB and offered to the kernel as transparent
// huge pages (where THP is in "madvise" mode, the common default): the weights and the KV
// cache are streamed through every step, and with 4 KiB pages every 4 KiB costs a TLB miss.
static size_t cpu_alloc_bytes(const Backend *b, size_t bytes) {
    (void)b;
    size_t align = bytes >= CPU_HUGE ? CPU_HUGE : 64;
    size_t rounded = (bytes + align - 1) / align * align; // aligned_alloc wants a multiple
    return rounded ? rounded : 64;
}

static void *cpu_alloc(Backend *b, size_t bytes, const char *what) {
    size_t align = bytes >= CPU_HUGE ? CPU_HUGE : 64, rounded = cpu_alloc_bytes(b, bytes);
    void *p = aligned_alloc(align, rounded);
    if (!p) lm_fatal("out of memory: cannot allocate %zu bytes for %s", bytes, what ? what : "?");
#ifdef MADV_HUGEPAGE
    if (align == CPU_HUGE) (void)madvise(p, rounded, MADV_HUGEPAGE); // a hint: failure is fine
#endif
    return p;
}

static void cpu_free(Backend *b, void *p) {
    (void)b;
    free(p);
}

static void cpu_copy(Backend *b, void *dst, const void *src, size_t bytes) {
    (void)b;
    if (dst != src && bytes > 0) memcpy(dst, src, bytes);
}

static void cpu_zero(Backend *b, void *p, size_t bytes) {
    (void)b;
    if (bytes > 0) memset(p, 0, bytes);
}

static void cpu_sync(Backend *b) { (void)b; }

static void cpu_upload_act(Backend *b, void *dst, const float *src_host, size_t n) {
    cpu_copy(b, dst, src_host, n * sizeof(float));
}

static void cpu_download_act(Backend *b, float *dst_host, const void *src, size_t n) {
    cpu_copy(b, dst_host, src, n * sizeof(float));
}

static void cpu_cast_to_act(Backend *b, void *dst, const float *src, size_t n) {
    cpu_copy(b, dst, src, n * sizeof(float));
}

float *cpu_scratch(Backend *b, size_t floats, size_t *stride) {
    CpuImpl *impl = b->impl;
    size_t want = (floats + 15) / 16 * 16;
    if (want > impl->scratch_stride) {
        free(impl->scratch);
        impl->scratch = cpu_alloc(b, want * (size_t)b->threads * sizeof(float), "cpu scratch");
        impl->scratch_stride = want;
    }
    *stride = impl->scratch_stride;
    return impl->scratch;
}

// ---------------------------------------------------------------------------
// optimizer and gradient utilities

// AdamW in the form of torch.optim.AdamW (single-tensor path): decay, moments, then
// p -= (lr / bc1) * m / (sqrt(v) / sqrt(bc2) + eps).
static void cpu_adamw(Backend *b, float *p, void *p_act, const float *g, float *m, float *v,
                      size_t n, float lr, float beta1, float beta2, float eps, float wd,
                      float gscale, int t) {
    (void)b;
    LM_CHECK(t >= 1, "adamw: step %d, must be >= 1", t);
    double bc1 = 1.0 - pow((double)beta1, (double)t);
    double bc2 = 1.0 - pow((double)beta2, (double)t);
    float step_size = (float)(lr / bc1);
    float bc2_sqrt = (float)sqrt(bc2);
    float decay = (float)(1.0 - (double)lr * (double)wd);
    float *restrict pa = (p_act && p_act != (void *)p) ? p_act : NULL;
    long long nn = (long long)n;
#pragma omp parallel for schedule(static)
    for (long long i = 0; i < nn; i++) { // memory-bound: 7 streams of n floats
        float gi = g[i] * gscale;
        float mi = beta1 * m[i] + (1.0f - beta1) * gi;
        float vi = beta2 * v[i] + (1.0f - beta2) * gi * gi;
        float denom = sqrtf(vi) / bc2_sqrt + eps;
        float pi = p[i] * decay - step_size * mi / denom;
        m[i] = mi;
        v[i] = vi;
        p[i] = pi;
        if (pa) pa[i] = pi;
    }
}

// Sum of squares in double over 64 fixed blocks, added in order: the same result for any
// thread count.
#define CPU_SUMSQ_BLOCKS 64
static double cpu_sumsq(Backend *b, const float *x, size_t n) {
    (void)b;
    double part[CPU_SUMSQ_BLOCKS];
    size_t blk = (n + CPU_SUMSQ_BLOCKS - 1) / CPU_SUMSQ_BLOCKS;
#pragma omp parallel for schedule(static)
    for (int k = 0; k < CPU_SUMSQ_BLOCKS; k++) {
        size_t lo = (size_t)k * blk, hi = lo + blk < n ? lo + blk : n;
        double s = 0;
#pragma omp simd reduction(+ : s)
        for (size_t i = lo; i < hi; i++) s += (double)x[i] * (double)x[i];
        part[k] = s;
    }
    double total = 0;
    for (int k = 0; k < CPU_SUMSQ_BLOCKS; k++) total += part[k];
    return total;
}

static void cpu_scale(Backend *b, float *x, float s, size_t n) {
    (void)b;
    long long nn = (long long)n;
#pragma omp parallel for simd schedule(static)
    for (long long i = 0; i < nn; i++) x[i] *= s;
}

// ---------------------------------------------------------------------------
// the table

static void cpu_destroy(Backend *b) {
    if (!b) return;
    CpuImpl *impl = b->impl;
    if (impl) {
        free(impl->scratch);
        free(impl->rope_cos);
        free(impl->rope_sin);
        free(impl->rope_freq);
        free(impl);
    }
    free(b);
}

// OpenBLAS picks its kernels when it is loaded, from the CPU model; 0.3.21 (Debian 12) does
// not know recent Xeons and then falls back to its generic SSE3 "Prescott" kernels, several
// times slower. The fix is OPENBLAS_CORETYPE in the environment before the library loads:
// the kernels this CPU can run, or NULL when nothing needs fixing.
const char *backend_cpu_blas_coretype_fix(void) {
#if LEMMA_BLAS && (defined(__x86_64__) || defined(__i386__))
    const char *core = openblas_get_corename();
    if (!core || strcmp(core, "Prescott") != 0 || getenv("OPENBLAS_CORETYPE")) return NULL;
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f") ? "SkylakeX"
           : __builtin_cpu_supports("avx2")  ? "Haswell"
                                             : NULL;
#else
    return NULL;
#endif
}

void backend_cpu_reexec_for_blas(char **argv) {
    const char *want = backend_cpu_blas_coretype_fix();
    if (!want) return;
    setenv("OPENBLAS_CORETYPE", want, 1);
    execv("/proc/self/exe", argv); // only returns on failure: go on with the slow kernels
}

static void cpu_check_openblas_core(void) {
    static int checked;
    const char *want = checked++ ? NULL : backend_cpu_blas_coretype_fix();
    if (want)
        lm_warn("OpenBLAS did not recognise this CPU and runs its generic SSE3 kernels; "
                "export OPENBLAS_CORETYPE=%s for several times faster matmuls",
                want);
}

Backend *backend_cpu_create(int threads) {
    if (threads <= 0) threads = omp_get_max_threads();
    omp_set_num_threads(threads);
#if LEMMA_BLAS
    openblas_set_num_threads(threads);
#endif
    cpu_check_openblas_core();

    Backend *b = lm_calloc(1, sizeof(Backend));
    b->impl = lm_calloc(1, sizeof(CpuImpl));
    b->name = "cpu";
    b->host_memory = 1;
    b->act = DT_F32;
    b->act_size = sizeof(float);
    b->threads = threads;

    b->alloc = cpu_alloc;
    b->alloc_bytes = cpu_alloc_bytes;
    b->free = cpu_free;
    b->upload = cpu_copy;
    b->download = cpu_copy;
    b->zero = cpu_zero;
    b->sync = cpu_sync;
    b->upload_act = cpu_upload_act;
    b->download_act = cpu_download_act;
    b->cast_to_act = cpu_cast_to_act;

    b->embed_fwd = cpu_embed_fwd;
    b->embed_bwd = cpu_embed_bwd;
    b->matmul_fwd = cpu_matmul_fwd;
    b->matmul_bwd = cpu_matmul_bwd;
    b->rmsnorm_fwd = cpu_rmsnorm_fwd;
    b->residual_rmsnorm_fwd = cpu_residual_rmsnorm_fwd;
    b->rmsnorm_bwd = cpu_rmsnorm_bwd;
    b->rope = cpu_rope;
    b->attention_fwd = cpu_attention_fwd;
    b->attention_bwd = cpu_attention_bwd;
    b->swiglu_fwd = cpu_swiglu_fwd;
    b->swiglu_bwd = cpu_swiglu_bwd;
    b->crossentropy = cpu_crossentropy;
    b->adamw = cpu_adamw;
    b->sumsq = cpu_sumsq;
    b->scale = cpu_scale;
    b->kv_write = cpu_kv_write, b->attention_decode = cpu_attention_decode;
    b->matmul_rows = cpu_matmul_rows, b->pack_rows = cpu_pack_rows;
    b->pack_rows_bytes = cpu_pack_rows_bytes;
    b->destroy = cpu_destroy;
    return b;
}
