// tests/gpu/test_gpu_decode: the decoding ops of the CUDA backend against the CPU backend
// (the reference), in fp32 (relative L2 within 1e-5) and bf16 (within 1e-2; inputs rounded
// to bf16 values first, so the comparison measures compute error): kv_write (the whole
// caches compared, exactly, so writes outside the rows' cells show; fp32 and bf16 caches in
// both modes), attention_decode (rows of several
// slots and lengths across tile boundaries, GQA groups of 1, 2 and 4, head dims 16 to 128),
// matmul_rows, and model_decode_step logits of a small random model fed in chunks. Every
// overwritten output starts as NaN on both sides. The seed is printed (argv[1] repeats a
// run). Needs a GPU: without one it prints "FAIL no_gpu" and exits 1.
#include "harness.h"
#include "lemma/backend.h"
#include "lemma/model.h"
#include "lemma/util.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define TOL_F32 1e-5
#define TOL_BF16 1e-2

typedef struct {
    Backend *gpu;
    int bf16;
    double tol;
    const char *name;
} Mode;

static Backend *g_cpu;
static Mode g_modes[2];
static uint64_t g_seed, g_draw;

static float randn(void) { return lm_rng_normal(g_seed, LM_STREAM_TEST, g_draw++); }
static int randi(int n) { return (int)(lm_rng_u32(g_seed, LM_STREAM_TEST, g_draw++) % (uint32_t)n); }

static float *hrand(size_t n, float sc, int bf16) {
    float *x = lm_malloc(n * sizeof(float));
    for (size_t i = 0; i < n; i++) {
        x[i] = randn() * sc;
        if (bf16) x[i] = lm_bf16_to_f32(lm_f32_to_bf16(x[i]));
    }
    return x;
}

// act buffer of n elements holding h (NULL: NaN).
static void *dact(Backend *b, const float *h, size_t n) {
    void *p = b->alloc(b, n * b->act_size, "test buffer");
    float *nan = NULL;
    if (!h) {
        nan = lm_malloc(n * sizeof(float));
        for (size_t i = 0; i < n; i++) nan[i] = NAN;
    }
    b->upload_act(b, p, h ? h : nan, n);
    free(nan);
    return p;
}

static int *di32(Backend *b, const int *h, size_t n) {
    int *p = b->alloc(b, n * sizeof(int), "test ints");
    b->upload(b, p, h, n * sizeof(int));
    return p;
}

static float *hact(Backend *b, const void *p, size_t n) {
    float *h = lm_malloc(n * sizeof(float));
    b->sync(b);
    b->download_act(b, h, p, n);
    return h;
}

// CUDA result got against CPU result want: no NaN, relative L2 within tol.
static void compare(const char *what, const Mode *m, const float *got, const float *want,
                    size_t n, double tol) {
    size_t nan_got = 0, first = 0;
    for (size_t i = 0; i < n; i++)
        if (isnan(got[i]) && nan_got++ == 0) first = i;
    EXPECT(nan_got == 0, "%s [%s]: %zu NaN of %zu (first at %zu)", what, m->name, nan_got, n, first);
    if (nan_got) return;
    double e = th_rel_l2(got, want, n);
    printf("#   %-44s [%s] rel L2 %.2e\n", what, m->name, e);
    EXPECT(e <= tol, "%s [%s]: relative L2 error %.3e > %.1e", what, m->name, e, tol);
}

static void cmp_act(const char *what, const Mode *m, Backend *bs[2], void *p[2], size_t n,
                    double tol) {
    float *want = hact(bs[0], p[0], n), *got = hact(bs[1], p[1], n);
    compare(what, m, got, want, n, tol);
    free(want), free(got);
}

// KV cache buffer of n elements of dtype t holding h (values representable in t), and back.
static void *dcache(Backend *b, const float *h, size_t n, DType t) {
    size_t es = lm_dtype_size(t);
    void *p = b->alloc(b, n * es, "test cache"), *src = (void *)h;
    if (t == DT_BF16) {
        uint16_t *u = lm_malloc(n * sizeof(uint16_t));
        for (size_t i = 0; i < n; i++) u[i] = lm_f32_to_bf16(h[i]);
        src = u;
    }
    b->upload(b, p, src, n * es);
    if (src != h) free(src);
    return p;
}

static float *hcache(Backend *b, const void *p, size_t n, DType t) {
    float *h = lm_malloc(n * sizeof(float));
    b->sync(b);
    if (t == DT_F32) {
        b->download(b, h, p, n * sizeof(float));
        return h;
    }
    uint16_t *u = lm_malloc(n * sizeof(uint16_t));
    b->download(b, u, p, n * sizeof(uint16_t));
    for (size_t i = 0; i < n; i++) h[i] = lm_bf16_to_f32(u[i]);
    free(u);
    return h;
}

static void cmp_cache(const char *what, const Mode *m, Backend *bs[2], void *p[2], size_t n,
                      DType t) {
    float *want = hcache(bs[0], p[0], n, t), *got = hcache(bs[1], p[1], n, t);
    compare(what, m, got, want, n, 0.0); // copies (and the same rounding): exact
    free(want), free(got);
}

// ---------------------------------------------------------------------------
// the ops

typedef struct {
    int N, S, H, KV, hd, ctx;
} DecCase;

// Rows: distinct (slot, position) cells; positions across tiles of 128 and up to ctx - 1.
static void make_rows(const DecCase *c, int *slot, int *pos) {
    for (int n = 0; n < c->N; n++) {
        int again;
        do {
            slot[n] = randi(c->S);
            pos[n] = n == 0 ? c->ctx - 1 : randi(c->ctx);
            again = 0;
            for (int j = 0; j < n; j++) again |= slot[j] == slot[n] && pos[j] == pos[n];
        } while (again);
    }
}

// The cache in dtype kvt (bf16 keys and values are rounded the same way on both sides, so
// with an fp32 act dtype the attention still agrees to fp32 rounding).
static void check_decode_ops(const Mode *m, const DecCase *c, DType kvt) {
    Backend *bs[2] = {g_cpu, m->gpu};
    int R = (c->H + 2 * c->KV) * c->hd;
    size_t cache = (size_t)c->S * c->KV * c->hd * c->ctx, nq = (size_t)c->N * R;
    size_t no = (size_t)c->N * c->H * c->hd;
    int kb = kvt == DT_BF16;
    float *kc0 = hrand(cache, 1.0f, m->bf16 || kb), *vc0 = hrand(cache, 1.0f, m->bf16 || kb);
    float *qkv = hrand(nq, 1.0f, m->bf16);
    int *slot = lm_malloc((size_t)c->N * sizeof(int)), *pos = lm_malloc((size_t)c->N * sizeof(int));
    make_rows(c, slot, pos);
    void *kc[2], *vc[2], *out[2], *q[2];
    int *ds[2], *dp[2];
    for (int k = 0; k < 2; k++) {
        Backend *b = bs[k];
        kc[k] = dcache(b, kc0, cache, kvt), vc[k] = dcache(b, vc0, cache, kvt);
        q[k] = dact(b, qkv, nq);
        out[k] = dact(b, NULL, no);
        ds[k] = di32(b, slot, c->N), dp[k] = di32(b, pos, c->N);
        b->kv_write(b, kc[k], vc[k], q[k], ds[k], dp[k], c->N, c->H, c->KV, c->hd, c->ctx, kvt);
        b->attention_decode(b, out[k], q[k], kc[k], vc[k], ds[k], dp[k], c->N, c->H, c->KV,
                            c->hd, c->ctx, kvt);
    }
    char what[112];
    const char *kn = kb ? "bf16" : "fp32";
    snprintf(what, sizeof what, "kv_write keys (%s) N=%d KV=%d hd=%d ctx=%d", kn, c->N, c->KV, c->hd, c->ctx);
    cmp_cache(what, m, bs, kc, cache, kvt);
    snprintf(what, sizeof what, "kv_write values (%s) N=%d KV=%d hd=%d ctx=%d", kn, c->N, c->KV, c->hd, c->ctx);
    cmp_cache(what, m, bs, vc, cache, kvt);
    snprintf(what, sizeof what, "attention_decode (%s) N=%d H=%d KV=%d hd=%d", kn, c->N, c->H, c->KV, c->hd);
    cmp_act(what, m, bs, out, no, m->tol);
    for (int k = 0; k < 2; k++) {
        Backend *b = bs[k];
        b->free(b, kc[k]), b->free(b, vc[k]), b->free(b, q[k]), b->free(b, out[k]);
        b->free(b, ds[k]), b->free(b, dp[k]);
    }
    free(kc0), free(vc0), free(qkv), free(slot), free(pos);
}

static void test_decode_ops(void) {
    const DecCase cases[] = {
        {1, 1, 2, 1, 16, 16},   {5, 3, 8, 4, 32, 144},  {64, 16, 8, 4, 32, 272},
        {7, 4, 4, 1, 64, 400},  {33, 9, 12, 12, 20, 48}, {3, 2, 16, 4, 128, 256},
    };
    for (int mi = 0; mi < 2; mi++)
        for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
            for (int kb = 0; kb < 2; kb++) check_decode_ops(&g_modes[mi], &cases[i], kb ? DT_BF16 : DT_F32);
}

static void test_matmul_rows(void) {
    const int cases[][3] = {{1, 256, 768}, {7, 96, 259}, {64, 256, 512}, {300, 64, 96}};
    for (int mi = 0; mi < 2; mi++) {
        const Mode *m = &g_modes[mi];
        Backend *bs[2] = {g_cpu, m->gpu};
        for (size_t ci = 0; ci < sizeof cases / sizeof cases[0]; ci++) {
            int N = cases[ci][0], C = cases[ci][1], OC = cases[ci][2];
            float *x = hrand((size_t)N * C, 1.0f, m->bf16);
            float *w = hrand((size_t)OC * C, 1.0f / sqrtf((float)C), m->bf16);
            float *bias = hrand(OC, 1.0f, m->bf16);
            void *out[2], *dx[2], *dw[2], *db[2];
            for (int k = 0; k < 2; k++) {
                Backend *b = bs[k];
                out[k] = dact(b, NULL, (size_t)N * OC), dx[k] = dact(b, x, (size_t)N * C);
                dw[k] = dact(b, w, (size_t)OC * C), db[k] = dact(b, bias, OC);
                if (b->pack_rows) { // the CPU reads its packed layout
                    void *wp = b->pack_rows(b, dw[k], C, OC);
                    b->free(b, dw[k]), dw[k] = wp;
                }
                b->matmul_rows(b, out[k], dx[k], dw[k], ci % 2 ? db[k] : NULL, N, C, OC);
            }
            char what[64];
            snprintf(what, sizeof what, "matmul_rows N=%d C=%d OC=%d", N, C, OC);
            cmp_act(what, m, bs, out, (size_t)N * OC, m->tol);
            for (int k = 0; k < 2; k++)
                bs[k]->free(bs[k], out[k]), bs[k]->free(bs[k], dx[k]), bs[k]->free(bs[k], dw[k]),
                    bs[k]->free(bs[k], db[k]);
            free(x), free(w), free(bias);
        }
    }
}

// ---------------------------------------------------------------------------
// the model's decode path

// Logits of two sequences fed in chunks (prefill rows, then single tokens), CPU and GPU.
static void test_model_decode(void) {
    ModelConfig mc = {.vocab = 260, .dim = 128, .n_layers = 2, .n_heads = 4, .n_kv_heads = 2,
                      .head_dim = 32, .ffn_dim = 256, .max_seq = 200, .rope_theta = 10000.0f,
                      .norm_eps = 1e-5f, .init_std = 0.1f, .qkv_bias = 1, .tied = 0};
    for (int mi = 0; mi < 2; mi++) {
        const Mode *md = &g_modes[mi];
        Backend *bs[2] = {g_cpu, md->gpu};
        Model m[2];
        for (int k = 0; k < 2; k++) model_init(&m[k], &mc, bs[k], 3);
        float *p = lm_malloc(m[0].layout.n_params * sizeof(float));
        model_get_params(&m[0], p);
        for (size_t i = 0; i < m[0].layout.n_params; i++)
            if (md->bf16) p[i] = lm_bf16_to_f32(lm_f32_to_bf16(p[i]));
        for (int k = 0; k < 2; k++) model_set_params(&m[k], p);
        ModelDecode d[2];
        DType kv = md->bf16 ? DT_BF16 : DT_F32;
        for (int k = 0; k < 2; k++) model_decode_init(&d[k], &m[k], 2, 150, 64, 64, kv);
        int tok[64], slot[64], pos[64], done[2] = {0, 0};
        double worst = 0;
        for (int step = 0; step < 12; step++) { // chunk sizes 1 .. 23 per slot
            int n = 0;
            for (int s = 0; s < 2; s++)
                for (int r = 0; r < 1 + (step * 7 + s * 5) % 23 && done[s] < 150; r++, n++)
                    tok[n] = randi(mc.vocab), slot[n] = s, pos[n] = done[s]++;
            if (n == 0) break;
            float *lg[2];
            for (int k = 0; k < 2; k++) {
                const float *l = model_decode_step(&m[k], &d[k], tok, slot, pos, n, n);
                lg[k] = lm_malloc((size_t)n * mc.vocab * sizeof(float));
                memcpy(lg[k], l, (size_t)n * mc.vocab * sizeof(float));
            }
            size_t nan = 0;
            for (size_t i = 0; i < (size_t)n * mc.vocab; i++) nan += isnan(lg[1][i]);
            EXPECT(nan == 0, "model_decode_step [%s]: %zu NaN logits at step %d", md->name, nan, step);
            double e = th_rel_l2(lg[1], lg[0], (size_t)n * mc.vocab);
            worst = e > worst ? e : worst;
            free(lg[0]), free(lg[1]);
        }
        printf("#   %-44s [%s] rel L2 %.2e (worst step)\n", "model_decode_step logits", md->name, worst);
        EXPECT(worst <= (md->bf16 ? 3e-2 : 1e-4), "model_decode_step logits [%s]: relative L2 "
               "error %.3e", md->name, worst);
        for (int k = 0; k < 2; k++) model_decode_free(&d[k], &m[k]), model_free(&m[k]);
        free(p);
    }
}

int main(int argc, char **argv) {
    g_seed = argc > 1 ? strtoull(argv[1], NULL, 10)
                      : ((uint64_t)time(NULL) * 1000003u + (uint64_t)(lm_now() * 1e6)) % 1000000007u;
    printf("# seed %llu\n", (unsigned long long)g_seed);
    char desc[1024];
    backend_cuda_describe(desc, sizeof desc);
    printf("# %s\n", desc);
    if (backend_cuda_device_count() == 0) {
        printf("FAIL no_gpu: no CUDA device\n");
        return 1;
    }
    char err[512];
    Backend *gpu32 = backend_cuda_create(0, DT_F32, err, sizeof err);
    Backend *gpu16 = gpu32 ? backend_cuda_create(0, DT_BF16, err, sizeof err) : NULL;
    if (!gpu32 || !gpu16) {
        printf("FAIL cuda_create: %s\n", err);
        return 1;
    }
    g_cpu = backend_cpu_create(0);
    g_modes[0] = (Mode){gpu32, 0, TOL_F32, "fp32"};
    g_modes[1] = (Mode){gpu16, 1, TOL_BF16, "bf16"};
    RUN_TEST(test_decode_ops);
    RUN_TEST(test_matmul_rows);
    RUN_TEST(test_model_decode);
    backend_destroy(gpu32);
    backend_destroy(gpu16);
    backend_destroy(g_cpu);
    TEST_EXIT();
}
