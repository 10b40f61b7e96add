// tests/gpu/test_gpu_ops: every op of the CUDA backend against the CPU backend (the
// reference), in both CUDA modes: fp32 (relative L2 error within 1e-5) and bf16 (within
// 1e-2; inputs are rounded to bf16 values before both backends see them, so the comparison
// measures compute error). Inputs are fresh each run (the seed is printed on the first line;
// argv[1] reproduces a run); every overwritten output starts as NaN on both sides, so an
// element left unwritten shows; accumulated outputs start from the same random values.
// Ends with bitwise determinism checks of the backward ops (attention, rmsnorm, embedding).
// Needs a GPU: without one it prints "FAIL no_gpu" and exits 1.
#include "harness.h"
#include "lemma/backend.h"
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
static Mode g_modes[2]; // fp32, bf16
static uint64_t g_seed, g_draw;

// ---------------------------------------------------------------------------
// random inputs

static float randn(void) { return lm_rng_normal(g_seed, LM_STREAM_TEST, g_draw++); }
static int randi(int n) { return (int)(lm_rng_u32(g_seed, LM_STREAM_TEST, g_draw++) % (uint32_t)n); }

static void round_bf16(float *x, size_t n) {
    for (size_t i = 0; i < n; i++) x[i] = lm_bf16_to_f32(lm_f32_to_bf16(x[i]));
}

// n normals times sc, rounded to bf16 values when bf16.
static float *hrand(size_t n, float sc, int bf16) {
    float *x = lm_malloc(n * sizeof(float));
    for (size_t i = 0; i < n; i++) x[i] = randn() * sc;
    if (bf16) round_bf16(x, n);
    return x;
}

static float *hnan(size_t n) {
    float *x = lm_malloc(n * sizeof(float));
    for (size_t i = 0; i < n; i++) x[i] = NAN;
    return x;
}

// ---------------------------------------------------------------------------
// backend buffers (freed together at the end of each case)

#define MAX_BUFS 256
static struct {
    Backend *b;
    void *p;
} g_bufs[MAX_BUFS];
static int g_nbufs;

static void *balloc(Backend *b, size_t bytes) {
    LM_CHECK(g_nbufs < MAX_BUFS, "test: too many buffers");
    void *p = b->alloc(b, bytes, "test buffer");
    g_bufs[g_nbufs].b = b;
    g_bufs[g_nbufs].p = p;
    g_nbufs++;
    return p;
}

static void bfree_all(void) {
    for (int i = 0; i < g_nbufs; i++) g_bufs[i].b->free(g_bufs[i].b, g_bufs[i].p);
    g_nbufs = 0;
}

// act buffer of n elements holding h (off elements into the allocation: off > 0 makes the
// pointer unaligned, as views into one parameter buffer are).
static void *dact_off(Backend *b, const float *h, size_t n, size_t off) {
    char *p = balloc(b, (n + off) * b->act_size);
    p += off * b->act_size;
    b->upload_act(b, p, h, n);
    return p;
}
static void *dact(Backend *b, const float *h, size_t n) { return dact_off(b, h, n, 0); }
static void *dact_nan(Backend *b, size_t n) {
    float *h = hnan(n);
    void *p = dact(b, h, n);
    free(h);
    return p;
}
static float *df32(Backend *b, const float *h, size_t n) {
    float *p = balloc(b, n * sizeof(float));
    b->upload(b, p, h, n * sizeof(float));
    return p;
}
static float *df32_nan(Backend *b, size_t n) {
    float *h = hnan(n);
    float *p = df32(b, h, n);
    free(h);
    return p;
}
static int *di32(Backend *b, const int *h, size_t n) {
    int *p = balloc(b, n * sizeof(int));
    b->upload(b, p, h, n * sizeof(int));
    return p;
}
static float *hact(Backend *b, const void *p, size_t n) {
    float *h = lm_malloc(n * sizeof(float));
    b->sync(b);
    b->download_act(b, h, p, n);
    return h;
}
static float *hf32(Backend *b, const float *p, size_t n) {
    float *h = lm_malloc(n * sizeof(float));
    b->sync(b);
    b->download(b, h, p, n * sizeof(float));
    return h;
}

// ---------------------------------------------------------------------------
// comparison

// got (CUDA) against want (CPU): no NaN on either side, relative L2 error within tol.
static void compare(const char *what, const Mode *m, const float *got, const float *want,
                    size_t n, double tol) {
    size_t nan_got = 0, nan_want = 0, first = 0;
    for (size_t i = 0; i < n; i++) {
        if (isnan(got[i]) && nan_got++ == 0) first = i;
        if (isnan(want[i])) nan_want++;
    }
    EXPECT(nan_got == 0, "%s [%s]: %zu NaN of %zu elements (first at %zu)", what, m->name,
           nan_got, n, first);
    EXPECT(nan_want == 0, "%s [%s]: the CPU reference has %zu NaN", what, m->name, nan_want);
    if (nan_got || nan_want) return;
    double e = th_rel_l2(got, want, n);
    printf("#   %-40s [%s] rel L2 %.2e\n", what, m->name, e);
    EXPECT(e <= tol, "%s [%s]: relative L2 error %.3e > %.1e", what, m->name, e, tol);
}

// Downloads CPU and CUDA results of an act / fp32 buffer pair and compares them.
static void cmp_act(const char *what, const Mode *m, Backend *bs[2], void *p[2], size_t n) {
    float *want = hact(bs[0], p[0], n), *got = hact(bs[1], p[1], n);
    compare(what, m, got, want, n, m->tol);
    free(want);
    free(got);
}
static void cmp_f32(const char *what, const Mode *m, Backend *bs[2], float *p[2], size_t n) {
    float *want = hf32(bs[0], p[0], n), *got = hf32(bs[1], p[1], n);
    compare(what, m, got, want, n, m->tol);
    free(want);
    free(got);
}

// ---------------------------------------------------------------------------
// memory and conversions

static void test_memory(void) {
    for (int mi = 0; mi < 2; mi++) {
        const Mode *m = &g_modes[mi];
        Backend *b = m->gpu;
        // bytes round trip, and zero
        size_t nb = 1000003;
        unsigned char *h = lm_malloc(nb), *back = lm_malloc(nb);
        for (size_t i = 0; i < nb; i++) h[i] = (unsigned char)randi(256);
        unsigned char *d = balloc(b, nb);
        b->upload(b, d, h, nb);
        b->download(b, back, d, nb);
        EXPECT(memcmp(h, back, nb) == 0, "[%s] upload/download round trip differs", m->name);
        b->zero(b, d + 17, 1000);
        b->download(b, back, d, nb);
        int zero_ok = 1;
        for (size_t i = 0; i < nb; i++)
            if (back[i] != ((i >= 17 && i < 1017) ? 0 : h[i])) zero_ok = 0;
        EXPECT(zero_ok, "[%s] zero wrote outside [17, 1017) or left bytes", m->name);
        free(h);
        free(back);

        // act round trip over more than one conversion chunk (values exact in the act dtype)
        size_t n = (5u << 20) + 3;
        float *x = hrand(n, 1.0f, m->bf16), *y = lm_malloc(n * sizeof(float));
        void *a = dact(b, x, n);
        b->download_act(b, y, a, n);
        EXPECT(memcmp(x, y, n * sizeof(float)) == 0, "[%s] upload_act/download_act round trip",
               m->name);

        // cast_to_act of unrounded fp32: rounds to nearest even, as lm_f32_to_bf16
        float *raw = hrand(n, 1.0f, 0);
        float *draw = df32(b, raw, n);
        void *c = balloc(b, n * b->act_size);
        b->cast_to_act(b, c, draw, n);
        b->download_act(b, y, c, n);
        if (m->bf16) round_bf16(raw, n);
        EXPECT(memcmp(raw, y, n * sizeof(float)) == 0, "[%s] cast_to_act differs from host "
               "rounding", m->name);
        if (!m->bf16) { // dst == src: nothing changes
            b->cast_to_act(b, draw, draw, n);
            b->download(b, y, draw, n * sizeof(float));
            EXPECT(memcmp(raw, y, n * sizeof(float)) == 0, "[fp32] cast_to_act in place");
        }
        free(x);
        free(y);
        free(raw);
        bfree_all();
    }
}

// ---------------------------------------------------------------------------
// embedding

static void test_embed_fwd(void) {
    for (int mi = 0; mi < 2; mi++) {
        const Mode *m = &g_modes[mi];
        Backend *bs[2] = {g_cpu, m->gpu};
        const int N = 201, C = 96, V = 259;
        float *wte = hrand((size_t)V * C, 1.0f, m->bf16);
        int *tok = lm_malloc(N * sizeof(int));
        for (int n = 0; n < N; n++) tok[n] = randi(V);
        void *out[2];
        for (int k = 0; k < 2; k++) {
            Backend *b = bs[k];
            out[k] = dact_nan(b, (size_t)N * C);
            b->embed_fwd(b, out[k], di32(b, tok, N), tok, dact(b, wte, (size_t)V * C), N, C);
        }
        cmp_act("embed_fwd out", m, bs, out, (size_t)N * C);
        free(wte);
        free(tok);
        bfree_all();
    }
}

// tokens with many repeats (17 ids for 201 rows) and a few anywhere in the vocabulary
static void repeated_tokens(int *tok, int N, int V) {
    for (int n = 0; n < N; n++) tok[n] = n % 10 == 9 ? randi(V) : randi(17);
}

static void test_embed_bwd(void) {
    for (int mi = 0; mi < 2; mi++) {
        const Mode *m = &g_modes[mi];
        Backend *bs[2] = {g_cpu, m->gpu};
        const int N = 201, C = 200, V = 259;
        float *dout = hrand((size_t)N * C, 1.0f, m->bf16);
        float *acc0 = hrand((size_t)V * C, 1.0f, 0);
        int *tok = lm_malloc(N * sizeof(int));
        repeated_tokens(tok, N, V);
        float *dwte[2];
        for (int k = 0; k < 2; k++) {
            Backend *b = bs[k];
            dwte[k] = df32(b, acc0, (size_t)V * C);
            b->embed_bwd(b, dwte[k], dact(b, dout, (size_t)N * C), di32(b, tok, N), tok, N, C, V);
        }
        cmp_f32("embed_bwd dwte_acc", m, bs, dwte, (size_t)V * C);
        free(dout);
        free(acc0);
        free(tok);
        bfree_all();
    }
}

// ---------------------------------------------------------------------------
// matmul

static void test_matmul_fwd(void) {
    // N, C, OC, bias, element offset of every pointer (0 aligned, 1 unaligned)
    const int cases[][5] = {
        {201, 200, 96, 1, 0}, {201, 200, 96, 0, 0}, {201, 96, 259, 0, 0},
        {201, 96, 259, 1, 0}, {67, 200, 96, 1, 1},  {16, 64, 48, 0, 1},
    };
    for (int mi = 0; mi < 2; mi++) {
        const Mode *m = &g_modes[mi];
        Backend *bs[2] = {g_cpu, m->gpu};
        for (size_t ci = 0; ci < sizeof cases / sizeof cases[0]; ci++) {
            const int N = cases[ci][0], C = cases[ci][1], OC = cases[ci][2];
            const int has_bias = cases[ci][3];
            const size_t off = (size_t)cases[ci][4];
            float *inp = hrand((size_t)N * C, 1.0f, m->bf16);
            float *w = hrand((size_t)OC * C, 1.0f / sqrtf((float)C), m->bf16);
            float *bias = hrand(OC, 1.0f, m->bf16);
            void *out[2];
            for (int k = 0; k < 2; k++) {
                Backend *b = bs[k];
                char *o = balloc(b, ((size_t)N * OC + off) * b->act_size);
                o += off * b->act_size;
                float *nan = hnan((size_t)N * OC);
                b->upload_act(b, o, nan, (size_t)N * OC);
                free(nan);
                out[k] = o;
                b->matmul_fwd(b, out[k], dact_off(b, inp, (size_t)N * C, off),
                              dact_off(b, w, (size_t)OC * C, off),
                              has_bias ? dact_off(b, bias, OC, off) : NULL, N, C, OC);
            }
            char what[96];
            snprintf(what, sizeof what, "matmul_fwd out N=%d C=%d OC=%d%s%s", N, C, OC,
                     has_bias ? " bias" : "", off ? " unaligned" : "");
            cmp_act(what, m, bs, out, (size_t)N * OC);
            free(inp);
            free(w);
            free(bias);
            bfree_all();
        }
    }
}

static void test_matmul_bwd(void) {
    // N, C, OC, dinp, dbias, element offset
    const int cases[][6] = {
        {201, 200, 96, 1, 1, 0}, {201, 96, 259, 1, 0, 0}, {67, 200, 96, 0, 1, 1},
        {300, 64, 259, 1, 1, 1},
    };
    for (int mi = 0; mi < 2; mi++) {
        const Mode *m = &g_modes[mi];
        Backend *bs[2] = {g_cpu, m->gpu};
        for (size_t ci = 0; ci < sizeof cases / sizeof cases[0]; ci++) {
            const int N = cases[ci][0], C = cases[ci][1], OC = cases[ci][2];
            const int has_dinp = cases[ci][3], has_dbias = cases[ci][4];
            const size_t off = (size_t)cases[ci][5];
            float *dout = hrand((size_t)N * OC, 1.0f, m->bf16);
            float *inp = hrand((size_t)N * C, 1.0f, m->bf16);
            float *w = hrand((size_t)OC * C, 1.0f / sqrtf((float)C), m->bf16);
            float *dw0 = hrand((size_t)OC * C, 1.0f, 0), *db0 = hrand(OC, 1.0f, 0);
            void *dinp[2];
            float *dw[2], *db[2];
            for (int k = 0; k < 2; k++) {
                Backend *b = bs[k];
                dinp[k] = has_dinp ? dact_nan(b, (size_t)N * C) : NULL;
                dw[k] = df32(b, dw0, (size_t)OC * C);
                db[k] = df32(b, db0, OC);
                b->matmul_bwd(b, dinp[k], dw[k], has_dbias ? db[k] : NULL,
                              dact_off(b, dout, (size_t)N * OC, off),
                              dact_off(b, inp, (size_t)N * C, off),
                              dact_off(b, w, (size_t)OC * C, off), N, C, OC);
            }
            char what[96];
            snprintf(what, sizeof what, "matmul_bwd N=%d C=%d OC=%d%s", N, C, OC,
                     off ? " unaligned" : "");
            char w2[128];
            if (has_dinp) {
                snprintf(w2, sizeof w2, "%s dinp", what);
                cmp_act(w2, m, bs, dinp, (size_t)N * C);
            }
            snprintf(w2, sizeof w2, "%s dw_acc", what);
            cmp_f32(w2, m, bs, dw, (size_t)OC * C);
            snprintf(w2, sizeof w2, "%s dbias_acc", what);
            cmp_f32(w2, m, bs, db, OC); // unchanged on both sides without dbias
            free(dout);
            free(inp);
            free(w);
            free(dw0);
            free(db0);
            bfree_all();
        }
    }
}

// ---------------------------------------------------------------------------
// RMSNorm

static void test_rmsnorm_fwd(void) {
    const int shapes[][2] = {{201, 200}, {201, 96}, {5, 3000}};
    for (int mi = 0; mi < 2; mi++) {
        const Mode *m = &g_modes[mi];
        Backend *bs[2] = {g_cpu, m->gpu};
        for (size_t si = 0; si < sizeof shapes / sizeof shapes[0]; si++) {
            const int N = shapes[si][0], C = shapes[si][1];
            float *inp = hrand((size_t)N * C, 2.0f, m->bf16), *w = hrand(C, 1.0f, m->bf16);
            void *out[2];
            float *rstd[2];
            for (int k = 0; k < 2; k++) {
                Backend *b = bs[k];
                out[k] = dact_nan(b, (size_t)N * C);
                rstd[k] = df32_nan(b, N);
                b->rmsnorm_fwd(b, out[k], rstd[k], dact(b, inp, (size_t)N * C), dact(b, w, C), N,
                               C, 1e-5f);
            }
            char what[64];
            snprintf(what, sizeof what, "rmsnorm_fwd out N=%d C=%d", N, C);
            cmp_act(what, m, bs, out, (size_t)N * C);
            snprintf(what, sizeof what, "rmsnorm_fwd rstd N=%d C=%d", N, C);
            cmp_f32(what, m, bs, rstd, N);
            free(inp);
            free(w);
            bfree_all();
        }
    }
}

static void test_residual_rmsnorm_fwd(void) {
    const int N = 201, C = 200;
    for (int mi = 0; mi < 2; mi++) {
        const Mode *m = &g_modes[mi];
        Backend *bs[2] = {g_cpu, m->gpu};
        for (int inplace = 0; inplace < 2; inplace++) {
            float *res = hrand((size_t)N * C, 1.0f, m->bf16);
            float *delta = hrand((size_t)N * C, 1.0f, m->bf16), *w = hrand(C, 1.0f, m->bf16);
            void *res_out[2], *out[2];
            float *rstd[2];
            for (int k = 0; k < 2; k++) {
                Backend *b = bs[k];
                void *res_in = dact(b, res, (size_t)N * C);
                res_out[k] = inplace ? res_in : dact_nan(b, (size_t)N * C);
                out[k] = dact_nan(b, (size_t)N * C);
                rstd[k] = df32_nan(b, N);
                b->residual_rmsnorm_fwd(b, res_out[k], out[k], rstd[k], res_in,
                                        dact(b, delta, (size_t)N * C), dact(b, w, C), N, C, 1e-5f);
            }
            const char *tag = inplace ? " (in place)" : "";
            char what[64];
            snprintf(what, sizeof what, "residual_rmsnorm_fwd res_out%s", tag);
            cmp_act(what, m, bs, res_out, (size_t)N * C);
            snprintf(what, sizeof what, "residual_rmsnorm_fwd out%s", tag);
            cmp_act(what, m, bs, out, (size_t)N * C);
            snprintf(what, sizeof what, "residual_rmsnorm_fwd rstd%s", tag);
            cmp_f32(what, m, bs, rstd, N);
            free(res);
            free(delta);
            free(w);
            bfree_all();
        }
    }
}

// rstd of the rows of x (N,C), as the forward computes it.
static float *host_rstd(const float *x, int N, int C, float eps) {
    float *r = lm_malloc((size_t)N * sizeof(float));
    for (int n = 0; n < N; n++) {
        double ss = 0;
        for (int c = 0; c < C; c++) ss += (double)x[(size_t)n * C + c] * x[(size_t)n * C + c];
        r[n] = (float)(1.0 / sqrt(ss / C + eps));
    }
    return r;
}

// One rmsnorm_bwd on b: results in dinp (act) and dw (fp32) buffers it allocates.
static void run_rmsnorm_bwd(Backend *b, void **dinp, float **dw, const float *dout,
                            const float *inp, const float *w, const float *rstd,
                            const float *dinp0, const float *dw0, int N, int C) {
    *dinp = dact(b, dinp0, (size_t)N * C);
    *dw = df32(b, dw0, C);
    b->rmsnorm_bwd(b, *dinp, *dw, dact(b, dout, (size_t)N * C), dact(b, inp, (size_t)N * C),
                   dact(b, w, C), df32(b, rstd, N), N, C);
}

static void test_rmsnorm_bwd(void) {
    const int shapes[][2] = {{201, 200}, {67, 96}};
    for (int mi = 0; mi < 2; mi++) {
        const Mode *m = &g_modes[mi];
        Backend *bs[2] = {g_cpu, m->gpu};
        for (size_t si = 0; si < sizeof shapes / sizeof shapes[0]; si++) {
            const int N = shapes[si][0], C = shapes[si][1];
            float *dout = hrand((size_t)N * C, 1.0f, m->bf16);
            float *inp = hrand((size_t)N * C, 1.0f, m->bf16), *w = hrand(C, 1.0f, m->bf16);
            float *rstd = host_rstd(inp, N, C, 1e-5f);
            float *dinp0 = hrand((size_t)N * C, 1.0f, m->bf16), *dw0 = hrand(C, 1.0f, 0);
            void *dinp[2];
            float *dw[2];
            for (int k = 0; k < 2; k++)
                run_rmsnorm_bwd(bs[k], &dinp[k], &dw[k], dout, inp, w, rstd, dinp0, dw0, N, C);
            char what[64];
            snprintf(what, sizeof what, "rmsnorm_bwd dinp_acc N=%d C=%d", N, C);
            cmp_act(what, m, bs, dinp, (size_t)N * C);
            snprintf(what, sizeof what, "rmsnorm_bwd dw_acc N=%d C=%d", N, C);
            cmp_f32(what, m, bs, dw, C);
            free(dout);
            free(inp);
            free(w);
            free(rstd);
            free(dinp0);
            free(dw0);
            bfree_all();
        }
    }
}

// ---------------------------------------------------------------------------
// RoPE

static void test_rope(void) {
    // N, T, H, KV, hd, theta, positions given, inverse
    const struct {
        int N, T, H, KV, hd;
        float theta;
        int use_pos, inverse;
    } cases[] = {
        {201, 67, 4, 2, 64, 10000.0f, 0, 0},
        {201, 67, 4, 2, 64, 10000.0f, 1, 1},
        {128, 128, 2, 2, 128, 1000000.0f, 0, 0},
        {67, 67, 4, 1, 32, 10000.0f, 1, 0},
    };
    for (int mi = 0; mi < 2; mi++) {
        const Mode *m = &g_modes[mi];
        Backend *bs[2] = {g_cpu, m->gpu};
        for (size_t ci = 0; ci < sizeof cases / sizeof cases[0]; ci++) {
            const int N = cases[ci].N, hd = cases[ci].hd;
            const int H = cases[ci].H, KV = cases[ci].KV;
            const size_t n = (size_t)N * (H + 2 * KV) * hd;
            float *qkv = hrand(n, 1.0f, m->bf16);
            int *pos = lm_malloc(N * sizeof(int));
            for (int i = 0; i < N; i++) pos[i] = randi(4096);
            void *x[2];
            for (int k = 0; k < 2; k++) {
                Backend *b = bs[k];
                x[k] = dact(b, qkv, n);
                b->rope(b, x[k], cases[ci].use_pos ? di32(b, pos, N) : NULL, N, cases[ci].T, H,
                        KV, hd, th_rope_freq(hd, cases[ci].theta), cases[ci].inverse);
            }
            char what[96];
            snprintf(what, sizeof what, "rope N=%d hd=%d%s%s", N, hd,
                     cases[ci].use_pos ? " pos" : "", cases[ci].inverse ? " inverse" : "");
            cmp_act(what, m, bs, x, n);
            free(qkv);
            free(pos);
            bfree_all();
        }
    }
}

// ---------------------------------------------------------------------------
// attention

typedef struct {
    int B, T, H, KV, hd, seg;
} AttCase;

static const AttCase att_cases[] = {
    {2, 1, 4, 2, 64, 0},    {3, 67, 4, 2, 64, 0},  {2, 128, 4, 4, 32, 1}, {1, 300, 4, 2, 128, 1},
    {2, 300, 2, 2, 64, 0},  {3, 67, 4, 4, 128, 1}, {2, 67, 2, 1, 16, 1},  {1, 130, 4, 1, 32, 0},
    {2, 129, 4, 2, 64, 1},
};
#define N_ATT_CASES (sizeof att_cases / sizeof att_cases[0])

// Record ids for each of the B rows: 2 or 3 records of random lengths (1 when T is 1).
static int *make_seg(int B, int T) {
    int *seg = lm_malloc((size_t)B * T * sizeof(int));
    for (int b = 0; b < B; b++) {
        int n_rec = T < 3 ? 1 : 2 + randi(2);
        int cut[3] = {T, T, T}; // record r covers [cut[r-1], cut[r])
        for (int r = 0; r + 1 < n_rec; r++) cut[r] = 1 + randi(T - 1);
        for (int i = 0; i < 2; i++) // sort the (at most 2) cuts
            if (cut[0] > cut[1]) {
                int t = cut[0];
                cut[0] = cut[1];
                cut[1] = t;
            }
        for (int t = 0; t < T; t++) {
            int r = t < cut[0] ? 0 : t < cut[1] ? 1 : 2;
            seg[(size_t)b * T + t] = 10 * b + r;
        }
    }
    return seg;
}

static void att_name(char *buf, size_t len, const char *what, const AttCase *c) {
    snprintf(buf, len, "%s B=%d T=%d H=%d KV=%d hd=%d%s", what, c->B, c->T, c->H, c->KV, c->hd,
             c->seg ? " seg" : "");
}

static void test_attention_fwd(void) {
    for (int mi = 0; mi < 2; mi++) {
        const Mode *m = &g_modes[mi];
        Backend *bs[2] = {g_cpu, m->gpu};
        for (size_t ci = 0; ci < N_ATT_CASES; ci++) {
            const AttCase *c = &att_cases[ci];
            const int N = c->B * c->T;
            const size_t nq = (size_t)N * (c->H + 2 * c->KV) * c->hd, no = (size_t)N * c->H * c->hd;
            const size_t nl = (size_t)c->B * c->H * c->T;
            float *qkv = hrand(nq, 1.0f, m->bf16);
            int *seg = c->seg ? make_seg(c->B, c->T) : NULL;
            void *out[2];
            float *lse[2];
            for (int k = 0; k < 2; k++) {
                Backend *b = bs[k];
                out[k] = dact_nan(b, no);
                lse[k] = df32_nan(b, nl);
                b->attention_fwd(b, out[k], lse[k], dact(b, qkv, nq), seg ? di32(b, seg, N) : NULL,
                                 c->B, c->T, c->H, c->KV, c->hd);
            }
            char what[96];
            att_name(what, sizeof what, "attention_fwd out", c);
            cmp_act(what, m, bs, out, no);
            att_name(what, sizeof what, "attention_fwd lse", c);
            cmp_f32(what, m, bs, lse, nl);
            free(qkv);
            free(seg);
            bfree_all();
        }
    }
}

// Inputs of an attention backward: qkv and dout random, out and lse from the CPU forward
// (out rounded to bf16 in bf16 mode), seg or NULL.
typedef struct {
    float *qkv, *dout, *out, *lse;
    int *seg;
    size_t nq, no, nl;
} AttBwdIn;

static AttBwdIn att_bwd_inputs(const AttCase *c, int bf16) {
    AttBwdIn in;
    const int N = c->B * c->T;
    in.nq = (size_t)N * (c->H + 2 * c->KV) * c->hd;
    in.no = (size_t)N * c->H * c->hd;
    in.nl = (size_t)c->B * c->H * c->T;
    in.qkv = hrand(in.nq, 1.0f, bf16);
    in.dout = hrand(in.no, 1.0f, bf16);
    in.seg = c->seg ? make_seg(c->B, c->T) : NULL;
    Backend *b = g_cpu;
    void *out = dact_nan(b, in.no);
    float *lse = df32_nan(b, in.nl);
    b->attention_fwd(b, out, lse, dact(b, in.qkv, in.nq), in.seg ? di32(b, in.seg, N) : NULL,
                     c->B, c->T, c->H, c->KV, c->hd);
    in.out = hact(b, out, in.no);
    in.lse = hf32(b, lse, in.nl);
    if (bf16) round_bf16(in.out, in.no);
    bfree_all();
    return in;
}

static void att_bwd_free(AttBwdIn *in) {
    free(in->qkv);
    free(in->dout);
    free(in->out);
    free(in->lse);
    free(in->seg);
}

// dqkv (NaN first) from one attention_bwd on b.
static void *run_attention_bwd(Backend *b, const AttCase *c, const AttBwdIn *in) {
    const int N = c->B * c->T;
    void *dqkv = dact_nan(b, in->nq);
    b->attention_bwd(b, dqkv, dact(b, in->dout, in->no), dact(b, in->qkv, in->nq),
                     dact(b, in->out, in->no), df32(b, in->lse, in->nl),
                     in->seg ? di32(b, in->seg, N) : NULL, c->B, c->T, c->H, c->KV, c->hd);
    return dqkv;
}

static void test_attention_bwd(void) {
    for (int mi = 0; mi < 2; mi++) {
        const Mode *m = &g_modes[mi];
        Backend *bs[2] = {g_cpu, m->gpu};
        for (size_t ci = 0; ci < N_ATT_CASES; ci++) {
            const AttCase *c = &att_cases[ci];
            AttBwdIn in = att_bwd_inputs(c, m->bf16);
            void *dqkv[2];
            for (int k = 0; k < 2; k++) dqkv[k] = run_attention_bwd(bs[k], c, &in);
            char what[96];
            att_name(what, sizeof what, "attention_bwd dqkv", c);
            cmp_act(what, m, bs, dqkv, in.nq);
            att_bwd_free(&in);
            bfree_all();
        }
    }
}

// ---------------------------------------------------------------------------
// SwiGLU

static void test_swiglu_fwd(void) {
    const int shapes[][2] = {{201, 200}, {201, 67}, {3, 8}};
    for (int mi = 0; mi < 2; mi++) {
        const Mode *m = &g_modes[mi];
        Backend *bs[2] = {g_cpu, m->gpu};
        for (size_t si = 0; si < sizeof shapes / sizeof shapes[0]; si++) {
            const int N = shapes[si][0], F = shapes[si][1];
            float *h = hrand((size_t)N * 2 * F, 2.0f, m->bf16);
            void *out[2];
            for (int k = 0; k < 2; k++) {
                Backend *b = bs[k];
                out[k] = dact_nan(b, (size_t)N * F);
                b->swiglu_fwd(b, out[k], dact(b, h, (size_t)N * 2 * F), N, F);
            }
            char what[64];
            snprintf(what, sizeof what, "swiglu_fwd out N=%d F=%d", N, F);
            cmp_act(what, m, bs, out, (size_t)N * F);
            free(h);
            bfree_all();
        }
    }
}

static void test_swiglu_bwd(void) {
    const int shapes[][2] = {{201, 200}, {201, 67}, {3, 8}};
    for (int mi = 0; mi < 2; mi++) {
        const Mode *m = &g_modes[mi];
        Backend *bs[2] = {g_cpu, m->gpu};
        for (size_t si = 0; si < sizeof shapes / sizeof shapes[0]; si++) {
            const int N = shapes[si][0], F = shapes[si][1];
            float *h = hrand((size_t)N * 2 * F, 2.0f, m->bf16);
            float *dout = hrand((size_t)N * F, 1.0f, m->bf16);
            void *dh[2];
            for (int k = 0; k < 2; k++) {
                Backend *b = bs[k];
                dh[k] = dact_nan(b, (size_t)N * 2 * F);
                b->swiglu_bwd(b, dh[k], dact(b, dout, (size_t)N * F),
                              dact(b, h, (size_t)N * 2 * F), N, F);
            }
            char what[64];
            snprintf(what, sizeof what, "swiglu_bwd dh N=%d F=%d", N, F);
            cmp_act(what, m, bs, dh, (size_t)N * 2 * F);
            free(h);
            free(dout);
            bfree_all();
        }
    }
}

// ---------------------------------------------------------------------------
// cross-entropy

static void test_crossentropy(void) {
    // N, V, dlogits: 0 none, 1 separate, 2 aliasing the logits
    const int cases[][3] = {{201, 259, 1}, {201, 259, 2}, {37, 50257, 1}, {37, 50257, 0},
                            {5, 50257, 2}};
    for (int mi = 0; mi < 2; mi++) {
        const Mode *m = &g_modes[mi];
        Backend *bs[2] = {g_cpu, m->gpu};
        for (size_t ci = 0; ci < sizeof cases / sizeof cases[0]; ci++) {
            const int N = cases[ci][0], V = cases[ci][1], dmode = cases[ci][2];
            const size_t n = (size_t)N * V;
            float *logits = hrand(n, 3.0f, m->bf16);
            int *tgt = lm_malloc(N * sizeof(int));
            int n_valid = 0;
            for (int i = 0; i < N; i++) {
                tgt[i] = (i == 0 || randi(5) == 0) ? -1 : randi(V); // row 0 always ignored
                n_valid += tgt[i] >= 0;
            }
            const float dscale = 1.0f / (float)(n_valid > 0 ? n_valid : 1);
            float *loss[2];
            void *dl[2];
            for (int k = 0; k < 2; k++) {
                Backend *b = bs[k];
                void *x = dact(b, logits, n);
                dl[k] = dmode == 2 ? x : dmode == 1 ? dact_nan(b, n) : NULL;
                loss[k] = df32_nan(b, N);
                b->crossentropy(b, loss[k], dl[k], x, di32(b, tgt, N), N, V, dscale);
            }
            char what[96];
            snprintf(what, sizeof what, "crossentropy loss N=%d V=%d", N, V);
            cmp_f32(what, m, bs, loss, N);
            if (dmode) {
                snprintf(what, sizeof what, "crossentropy dlogits N=%d V=%d%s", N, V,
                         dmode == 2 ? " (in place)" : "");
                cmp_act(what, m, bs, dl, n);
            }
            free(logits);
            free(tgt);
            bfree_all();
        }
    }
}

// ---------------------------------------------------------------------------
// optimizer and reductions

static void test_adamw(void) {
    const size_t n = 10007;
    const int steps = 3;
    for (int mi = 0; mi < 2; mi++) {
        const Mode *m = &g_modes[mi];
        Backend *bs[2] = {g_cpu, m->gpu};
        for (int with_act = 0; with_act < 2; with_act++) {
            float *p0 = hrand(n, 1.0f, 0);
            float *zeros = calloc(n, sizeof(float));
            float *g[3];
            for (int s = 0; s < steps; s++) g[s] = hrand(n, 1.0f, 0);
            float *p[2], *mm[2], *vv[2];
            void *pa[2];
            for (int k = 0; k < 2; k++) {
                Backend *b = bs[k];
                p[k] = df32(b, p0, n);
                mm[k] = df32(b, zeros, n);
                vv[k] = df32(b, zeros, n);
                pa[k] = with_act ? dact_nan(b, n) : NULL;
                for (int s = 0; s < steps; s++)
                    b->adamw(b, p[k], pa[k], df32(b, g[s], n), mm[k], vv[k], n, 1e-3f, 0.9f,
                             0.95f, 1e-8f, 0.1f, 0.5f, s + 1);
            }
            const char *tag = with_act ? " (with p_act)" : "";
            char what[64];
            snprintf(what, sizeof what, "adamw p%s", tag);
            cmp_f32(what, m, bs, p, n);
            snprintf(what, sizeof what, "adamw m%s", tag);
            cmp_f32(what, m, bs, mm, n);
            snprintf(what, sizeof what, "adamw v%s", tag);
            cmp_f32(what, m, bs, vv, n);
            if (with_act) cmp_act("adamw p_act", m, bs, pa, n);
            free(p0);
            free(zeros);
            for (int s = 0; s < steps; s++) free(g[s]);
            bfree_all();
        }
    }
}

static void test_sumsq(void) {
    const size_t n = 1000003;
    for (int mi = 0; mi < 2; mi++) {
        const Mode *m = &g_modes[mi];
        float *x = hrand(n, 1.0f, 0);
        double want = g_cpu->sumsq(g_cpu, df32(g_cpu, x, n), n);
        double got = m->gpu->sumsq(m->gpu, df32(m->gpu, x, n), n);
        double rel = fabs(got - want) / want;
        printf("#   %-40s [%s] rel %.2e\n", "sumsq n=1000003", m->name, rel);
        EXPECT(!isnan(got) && rel <= 1e-9, "[%s] sumsq %.17g, CPU %.17g (rel %.3e)", m->name,
               got, want, rel);
        double got1 = m->gpu->sumsq(m->gpu, df32(m->gpu, x, 1), 1);
        EXPECT(got1 == (double)x[0] * x[0], "[%s] sumsq of 1 element %.17g", m->name, got1);
        free(x);
        bfree_all();
    }
}

static void test_scale(void) {
    const size_t n = 1000003;
    for (int mi = 0; mi < 2; mi++) {
        const Mode *m = &g_modes[mi];
        Backend *bs[2] = {g_cpu, m->gpu};
        float *x = hrand(n, 1.0f, 0);
        float *d[2];
        for (int k = 0; k < 2; k++) {
            d[k] = df32(bs[k], x, n);
            bs[k]->scale(bs[k], d[k], 0.37f, n);
        }
        cmp_f32("scale", m, bs, d, n);
        free(x);
        bfree_all();
    }
}

// ---------------------------------------------------------------------------
// determinism: the same inputs twice give bitwise the same outputs

// Raw bytes of n elements of size es at p.
static void *raw(Backend *b, const void *p, size_t n, size_t es) {
    void *h = lm_malloc(n * es);
    b->sync(b);
    b->download(b, h, p, n * es);
    return h;
}

static void test_determinism_attention_bwd(void) {
    const AttCase c = {2, 300, 4, 2, 64, 1};
    for (int mi = 0; mi < 2; mi++) {
        Backend *b = g_modes[mi].gpu;
        AttBwdIn in = att_bwd_inputs(&c, g_modes[mi].bf16);
        void *r[2];
        for (int k = 0; k < 2; k++) r[k] = raw(b, run_attention_bwd(b, &c, &in), in.nq, b->act_size);
        EXPECT(memcmp(r[0], r[1], in.nq * b->act_size) == 0, "[%s] attention_bwd differs between "
               "two runs", g_modes[mi].name);
        free(r[0]);
        free(r[1]);
        att_bwd_free(&in);
        bfree_all();
    }
}

static void test_determinism_rmsnorm_bwd(void) {
    const int N = 1000, C = 200;
    for (int mi = 0; mi < 2; mi++) {
        const Mode *m = &g_modes[mi];
        Backend *b = m->gpu;
        float *dout = hrand((size_t)N * C, 1.0f, m->bf16);
        float *inp = hrand((size_t)N * C, 1.0f, m->bf16), *w = hrand(C, 1.0f, m->bf16);
        float *rstd = host_rstd(inp, N, C, 1e-5f);
        float *dinp0 = hrand((size_t)N * C, 1.0f, m->bf16), *dw0 = hrand(C, 1.0f, 0);
        void *ri[2], *rw[2];
        for (int k = 0; k < 2; k++) {
            void *dinp;
            float *dw;
            run_rmsnorm_bwd(b, &dinp, &dw, dout, inp, w, rstd, dinp0, dw0, N, C);
            ri[k] = raw(b, dinp, (size_t)N * C, b->act_size);
            rw[k] = raw(b, dw, C, sizeof(float));
        }
        EXPECT(memcmp(ri[0], ri[1], (size_t)N * C * b->act_size) == 0,
               "[%s] rmsnorm_bwd dinp differs between two runs", m->name);
        EXPECT(memcmp(rw[0], rw[1], C * sizeof(float)) == 0,
               "[%s] rmsnorm_bwd dw differs between two runs", m->name);
        for (int k = 0; k < 2; k++) {
            free(ri[k]);
            free(rw[k]);
        }
        free(dout);
        free(inp);
        free(w);
        free(rstd);
        free(dinp0);
        free(dw0);
        bfree_all();
    }
}

static void test_determinism_embed_bwd(void) {
    const int N = 2001, C = 200, V = 259;
    for (int mi = 0; mi < 2; mi++) {
        const Mode *m = &g_modes[mi];
        Backend *b = m->gpu;
        float *dout = hrand((size_t)N * C, 1.0f, m->bf16), *acc0 = hrand((size_t)V * C, 1.0f, 0);
        int *tok = lm_malloc(N * sizeof(int));
        repeated_tokens(tok, N, V);
        void *r[2];
        for (int k = 0; k < 2; k++) {
            float *dwte = df32(b, acc0, (size_t)V * C);
            b->embed_bwd(b, dwte, dact(b, dout, (size_t)N * C), di32(b, tok, N), tok, N, C, V);
            r[k] = raw(b, dwte, (size_t)V * C, sizeof(float));
        }
        EXPECT(memcmp(r[0], r[1], (size_t)V * C * sizeof(float)) == 0,
               "[%s] embed_bwd differs between two runs", m->name);
        free(r[0]);
        free(r[1]);
        free(dout);
        free(acc0);
        free(tok);
        bfree_all();
    }
}

// ---------------------------------------------------------------------------

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
    if (!gpu32) {
        printf("FAIL cuda_create: %s\n", err);
        return 1;
    }
    Backend *gpu16 = backend_cuda_create(0, DT_BF16, err, sizeof err);
    if (!gpu16) {
        printf("FAIL cuda_create: %s\n", err);
        return 1;
    }
    g_cpu = backend_cpu_create(0);
    g_modes[0] = (Mode){gpu32, 0, TOL_F32, "fp32"};
    g_modes[1] = (Mode){gpu16, 1, TOL_BF16, "bf16"};

    RUN_TEST(test_memory);
    RUN_TEST(test_embed_fwd);
    RUN_TEST(test_embed_bwd);
    RUN_TEST(test_matmul_fwd);
    RUN_TEST(test_matmul_bwd);
    RUN_TEST(test_rmsnorm_fwd);
    RUN_TEST(test_residual_rmsnorm_fwd);
    RUN_TEST(test_rmsnorm_bwd);
    RUN_TEST(test_rope);
    RUN_TEST(test_attention_fwd);
    RUN_TEST(test_attention_bwd);
    RUN_TEST(test_swiglu_fwd);
    RUN_TEST(test_swiglu_bwd);
    RUN_TEST(test_crossentropy);
    RUN_TEST(test_adamw);
    RUN_TEST(test_sumsq);
    RUN_TEST(test_scale);
    RUN_TEST(test_determinism_attention_bwd);
    RUN_TEST(test_determinism_rmsnorm_bwd);
    RUN_TEST(test_determinism_embed_bwd);

    backend_destroy(gpu32);
    backend_destroy(gpu16);
    backend_destroy(g_cpu);
    TEST_EXIT();
}
