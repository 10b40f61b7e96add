// tests/unit/test_ops_cpu: the CPU backend's ops against naive double-precision references
// written here (forward), central differences of those references (backward), the
// accumulate-vs-overwrite rules of backend.h, AdamW against its formula, and bitwise
// determinism (run to run, and across thread counts where the backend promises it).
#include "harness.h"
#include "lemma/backend.h"
#include "lemma/util.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static Backend *be;

// ---------------------------------------------------------------------------
// helpers

static float *fbuf(size_t n) { return lm_calloc(n ? n : 1, sizeof(float)); }
static double *dbuf(size_t n) { return lm_calloc(n ? n : 1, sizeof(double)); }

// x = scale * N(0,1) draws of stream `seed` (LM_STREAM_TEST).
static void fill_normal(float *x, size_t n, uint64_t seed, float scale) {
    for (size_t i = 0; i < n; i++) x[i] = scale * lm_rng_normal(seed, LM_STREAM_TEST, i);
}

static double *to_double(const float *x, size_t n) {
    double *d = dbuf(n);
    for (size_t i = 0; i < n; i++) d[i] = x[i];
    return d;
}

// max |got - want| / max |want| (want nonzero somewhere; else the plain max error).
static double err_norm(const float *got, const double *want, size_t n) {
    double num = 0, den = 0;
    for (size_t i = 0; i < n; i++) {
        double e = fabs((double)got[i] - want[i]);
        if (isnan(got[i])) return INFINITY;
        if (e > num) num = e;
        if (fabs(want[i]) > den) den = fabs(want[i]);
    }
    return den > 0 ? num / den : num;
}

#define EXPECT_CLOSE(what, got, want, n, tol)                                                      \
    do {                                                                                           \
        double e_ = err_norm((got), (want), (n));                                                  \
        if (getenv("LEMMA_TEST_VERBOSE")) printf("  %-44s error %.3g\n", (what), e_);            \
        EXPECT(e_ < (tol), "%s: error %.3g (tolerance %.1g)", (what), e_, (double)(tol));         \
    } while (0)

// Central differences of f(ctx) with respect to the n doubles at x (perturbed in place).
typedef double (*ObjFn)(void *ctx);
static void fd_grad(ObjFn f, void *ctx, double *x, size_t n, double *g) {
    const double h = 1e-4;
    for (size_t i = 0; i < n; i++) {
        double save = x[i];
        x[i] = save + h;
        double lp = f(ctx);
        x[i] = save - h;
        double lm = f(ctx);
        x[i] = save;
        g[i] = (lp - lm) / (2 * h);
    }
}

static double dot_d(const double *a, const double *b, size_t n) {
    double s = 0;
    for (size_t i = 0; i < n; i++) s += a[i] * b[i];
    return s;
}

// ---------------------------------------------------------------------------
// naive references (double)

static void ref_matmul(double *out, const double *inp, const double *w, const double *bias, int N,
                       int C, int OC) {
    for (int n = 0; n < N; n++)
        for (int o = 0; o < OC; o++) {
            double s = bias ? bias[o] : 0;
            for (int c = 0; c < C; c++) s += inp[n * C + c] * w[o * C + c];
            out[n * OC + o] = s;
        }
}

static void ref_rmsnorm(double *out, double *rstd, const double *x, const double *w, int N, int C,
                        double eps) {
    for (int n = 0; n < N; n++) {
        double ss = 0;
        for (int c = 0; c < C; c++) ss += x[n * C + c] * x[n * C + c];
        double r = 1 / sqrt(ss / C + eps);
        if (rstd) rstd[n] = r;
        for (int c = 0; c < C; c++) out[n * C + c] = x[n * C + c] * r * w[c];
    }
}

// Rotate-half RoPE on the q and k heads, angle pos * theta^(-2i/hd) (sign -1: inverse).
static void ref_rope(double *qkv, const int *pos, int N, int T, int H, int KV, int hd,
                     double theta, double sign) {
    int R = (H + 2 * KV) * hd, half = hd / 2;
    for (int n = 0; n < N; n++) {
        int p = pos ? pos[n] : n % T;
        for (int h = 0; h < H + KV; h++) {
            double *x = qkv + (size_t)n * R + h * hd;
            for (int i = 0; i < half; i++) {
                double a = sign * p * pow(theta, -2.0 * i / hd);
                double x0 = x[i], x1 = x[i + half];
                x[i] = x0 * cos(a) - x1 * sin(a);
                x[i + half] = x0 * sin(a) + x1 * cos(a);
            }
        }
    }
}

static void ref_attention(double *out, double *lse, const double *qkv, const int *seg, int B, int T,
                          int H, int KV, int hd) {
    int R = (H + 2 * KV) * hd;
    double scale = 1 / sqrt((double)hd);
    double *sc = dbuf(T);
    for (int b = 0; b < B; b++)
        for (int h = 0; h < H; h++)
            for (int t = 0; t < T; t++) {
                int kvh = h / (H / KV);
                const double *q = qkv + (size_t)(b * T + t) * R + h * hd;
                double mx = -INFINITY;
                for (int s = 0; s <= t; s++) {
                    if (seg && seg[b * T + s] != seg[b * T + t]) continue;
                    const double *k = qkv + (size_t)(b * T + s) * R + (H + kvh) * hd;
                    sc[s] = scale * dot_d(q, k, hd);
                    if (sc[s] > mx) mx = sc[s];
                }
                double sum = 0;
                double *o = out + (size_t)(b * T + t) * H * hd + h * hd;
                for (int d = 0; d < hd; d++) o[d] = 0;
                for (int s = 0; s <= t; s++) {
                    if (seg && seg[b * T + s] != seg[b * T + t]) continue;
                    double p = exp(sc[s] - mx);
                    sum += p;
                    const double *v = qkv + (size_t)(b * T + s) * R + (H + KV + kvh) * hd;
                    for (int d = 0; d < hd; d++) o[d] += p * v[d];
                }
                for (int d = 0; d < hd; d++) o[d] /= sum;
                if (lse) lse[(size_t)(b * H + h) * T + t] = mx + log(sum);
            }
    free(sc);
}

static void ref_swiglu(double *out, const double *hh, int N, int F) {
    for (int n = 0; n < N; n++)
        for (int i = 0; i < F; i++) {
            double a = hh[n * 2 * F + i], g = hh[n * 2 * F + F + i];
            out[n * F + i] = a / (1 + exp(-a)) * g;
        }
}

static void ref_crossentropy(double *loss, const double *x, const int *y, int N, int V) {
    for (int n = 0; n < N; n++) {
        if (y[n] < 0) {
            loss[n] = 0;
            continue;
        }
        double mx = -INFINITY, sum = 0;
        for (int i = 0; i < V; i++) mx = fmax(mx, x[n * V + i]);
        for (int i = 0; i < V; i++) sum += exp(x[n * V + i] - mx);
        loss[n] = mx + log(sum) - x[n * V + y[n]];
    }
}

// ---------------------------------------------------------------------------
// memory functions

static void test_memory(void) {
    float *p = be->alloc(be, 1000, "test buffer");
    EXPECT(((uintptr_t)p & 63) == 0, "alloc not 64-byte aligned");
    float host[250], back[250];
    fill_normal(host, 250, 1, 1.0f);
    be->upload(be, p, host, sizeof host);
    be->download(be, back, p, sizeof back);
    EXPECT(memcmp(host, back, sizeof host) == 0, "upload/download round trip");
    be->upload_act(be, p, host, 250);
    be->cast_to_act(be, p, p, 250); // dst == src: nothing to do
    be->download_act(be, back, p, 250);
    EXPECT(memcmp(host, back, sizeof host) == 0, "act round trip");
    be->zero(be, p, 1000);
    for (int i = 0; i < 250; i++) EXPECT(p[i] == 0.0f, "zero at %d", i);
    be->sync(be);
    be->free(be, p);
    EXPECT(be->act == DT_F32 && be->act_size == 4, "act dtype");
    EXPECT(be->threads >= 1, "threads %d", be->threads);
}

// ---------------------------------------------------------------------------
// matmul

static void check_matmul_fwd(int N, int C, int OC, int with_bias) {
    float *x = fbuf((size_t)N * C), *w = fbuf((size_t)OC * C), *bias = fbuf(OC);
    float *out = fbuf((size_t)N * OC);
    fill_normal(x, (size_t)N * C, 10, 1.0f);
    fill_normal(w, (size_t)OC * C, 11, 0.3f);
    fill_normal(bias, OC, 12, 1.0f);
    double *xd = to_double(x, (size_t)N * C), *wd = to_double(w, (size_t)OC * C);
    double *bd = to_double(bias, OC), *ref = dbuf((size_t)N * OC);
    ref_matmul(ref, xd, wd, with_bias ? bd : NULL, N, C, OC);
    be->matmul_fwd(be, out, x, w, with_bias ? bias : NULL, N, C, OC);
    char what[64];
    snprintf(what, sizeof what, "matmul %dx%dx%d bias %d", N, C, OC, with_bias);
    EXPECT_CLOSE(what, out, ref, (size_t)N * OC, 1e-5);
    free(x), free(w), free(bias), free(out), free(xd), free(wd), free(bd), free(ref);
}

static void test_matmul_fwd(void) {
    check_matmul_fwd(7, 13, 9, 1);
    check_matmul_fwd(7, 13, 9, 0);
    check_matmul_fwd(130, 96, 80, 1);
}

typedef struct {
    double *x, *w, *b, *R, *out;
    int N, C, OC;
} MatmulCtx;

static double matmul_obj(void *p) {
    MatmulCtx *c = p;
    ref_matmul(c->out, c->x, c->w, c->b, c->N, c->C, c->OC);
    return dot_d(c->out, c->R, (size_t)c->N * c->OC);
}

static void test_matmul_bwd(void) {
    int N = 5, C = 4, OC = 3;
    size_t nx = (size_t)N * C, nw = (size_t)OC * C, no = (size_t)N * OC;
    float *x = fbuf(nx), *w = fbuf(nw), *bias = fbuf(OC), *R = fbuf(no);
    float *dx = fbuf(nx), *dw = fbuf(nw), *db = fbuf(OC), *dw0 = fbuf(nw), *db0 = fbuf(OC);
    fill_normal(x, nx, 20, 1.0f);
    fill_normal(w, nw, 21, 1.0f);
    fill_normal(bias, OC, 22, 1.0f);
    fill_normal(R, no, 23, 1.0f);
    fill_normal(dw0, nw, 24, 1.0f); // prior contents of the accumulators
    fill_normal(db0, OC, 25, 1.0f);
    fill_normal(dx, nx, 26, 1.0f); // garbage: dinp is overwritten
    memcpy(dw, dw0, nw * 4);
    memcpy(db, db0, OC * 4);
    be->matmul_bwd(be, dx, dw, db, R, x, w, N, C, OC);
    for (size_t i = 0; i < nw; i++) dw[i] -= dw0[i];
    for (int i = 0; i < OC; i++) db[i] -= db0[i];

    MatmulCtx c = {to_double(x, nx), to_double(w, nw), to_double(bias, OC), to_double(R, no),
                   dbuf(no), N, C, OC};
    double *gx = dbuf(nx), *gw = dbuf(nw), *gb = dbuf(OC);
    fd_grad(matmul_obj, &c, c.x, nx, gx);
    fd_grad(matmul_obj, &c, c.w, nw, gw);
    fd_grad(matmul_obj, &c, c.b, OC, gb);
    EXPECT_CLOSE("dinp", dx, gx, nx, 1e-5);
    EXPECT_CLOSE("dw_acc - prior", dw, gw, nw, 1e-5);
    EXPECT_CLOSE("dbias_acc - prior", db, gb, OC, 1e-5);

    // dinp NULL and dbias NULL: dw still accumulated the same way.
    float *dw2 = fbuf(nw);
    memcpy(dw2, dw0, nw * 4);
    be->matmul_bwd(be, NULL, dw2, NULL, R, x, w, N, C, OC);
    for (size_t i = 0; i < nw; i++) dw2[i] -= dw0[i];
    EXPECT_CLOSE("dw_acc with dinp NULL", dw2, gw, nw, 1e-5);
    free(x), free(w), free(bias), free(R), free(dx), free(dw), free(db), free(dw0), free(db0);
    free(dw2), free(c.x), free(c.w), free(c.b), free(c.R), free(c.out), free(gx), free(gw), free(gb);
}

// ---------------------------------------------------------------------------
// rmsnorm

static void test_rmsnorm_fwd(void) {
    int N = 9, C = 37;
    size_t n = (size_t)N * C;
    float eps = 1e-5f;
    float *x = fbuf(n), *w = fbuf(C), *out = fbuf(n), *rstd = fbuf(N), *delta = fbuf(n);
    fill_normal(x, n, 30, 2.0f);
    fill_normal(w, C, 31, 1.0f);
    fill_normal(delta, n, 32, 1.0f);
    double *xd = to_double(x, n), *wd = to_double(w, C), *ref = dbuf(n), *rr = dbuf(N);
    ref_rmsnorm(ref, rr, xd, wd, N, C, eps);
    be->rmsnorm_fwd(be, out, rstd, x, w, N, C, eps);
    EXPECT_CLOSE("rmsnorm out", out, ref, n, 1e-5);
    EXPECT_CLOSE("rmsnorm rstd", rstd, rr, N, 1e-5);

    // residual: res = x + delta into a separate buffer, then in place (res_out == res_in).
    double *sum = dbuf(n);
    for (size_t i = 0; i < n; i++) sum[i] = (double)x[i] + (double)delta[i];
    ref_rmsnorm(ref, rr, sum, wd, N, C, eps);
    float *res = fbuf(n);
    be->residual_rmsnorm_fwd(be, res, out, rstd, x, delta, w, N, C, eps);
    EXPECT_CLOSE("residual res_out", res, sum, n, 1e-6);
    EXPECT_CLOSE("residual out", out, ref, n, 1e-5);
    EXPECT_CLOSE("residual rstd", rstd, rr, N, 1e-5);
    memset(out, 0, n * 4);
    be->residual_rmsnorm_fwd(be, x, out, rstd, x, delta, w, N, C, eps); // aliased
    EXPECT_CLOSE("residual in place res", x, sum, n, 1e-6);
    EXPECT_CLOSE("residual in place out", out, ref, n, 1e-5);
    free(x), free(w), free(out), free(rstd), free(delta), free(xd), free(wd), free(ref), free(rr);
    free(sum), free(res);
}

typedef struct {
    double *x, *w, *R, *out;
    int N, C;
} NormCtx;

static double rmsnorm_obj(void *p) {
    NormCtx *c = p;
    ref_rmsnorm(c->out, NULL, c->x, c->w, c->N, c->C, 1e-5);
    return dot_d(c->out, c->R, (size_t)c->N * c->C);
}

static void test_rmsnorm_bwd(void) {
    int N = 3, C = 5;
    size_t n = (size_t)N * C;
    float *x = fbuf(n), *w = fbuf(C), *R = fbuf(n), *out = fbuf(n), *rstd = fbuf(N);
    float *dx = fbuf(n), *dw = fbuf(C), *dx0 = fbuf(n), *dw0 = fbuf(C);
    fill_normal(x, n, 40, 1.0f);
    fill_normal(w, C, 41, 1.0f);
    fill_normal(R, n, 42, 1.0f);
    fill_normal(dx0, n, 43, 1.0f);
    fill_normal(dw0, C, 44, 1.0f);
    memcpy(dx, dx0, n * 4);
    memcpy(dw, dw0, C * 4);
    be->rmsnorm_fwd(be, out, rstd, x, w, N, C, 1e-5f);
    be->rmsnorm_bwd(be, dx, dw, R, x, w, rstd, N, C);
    for (size_t i = 0; i < n; i++) dx[i] -= dx0[i];
    for (int i = 0; i < C; i++) dw[i] -= dw0[i];
    NormCtx c = {to_double(x, n), to_double(w, C), to_double(R, n), dbuf(n), N, C};
    double *gx = dbuf(n), *gw = dbuf(C);
    fd_grad(rmsnorm_obj, &c, c.x, n, gx);
    fd_grad(rmsnorm_obj, &c, c.w, C, gw);
    EXPECT_CLOSE("dinp_acc - prior", dx, gx, n, 1e-4);
    EXPECT_CLOSE("dw_acc - prior", dw, gw, C, 1e-4);
    free(x), free(w), free(R), free(out), free(rstd), free(dx), free(dw), free(dx0), free(dw0);
    free(c.x), free(c.w), free(c.R), free(c.out), free(gx), free(gw);
}

// ---------------------------------------------------------------------------
// rope

static void test_rope_fwd(void) {
    int B = 2, T = 7, H = 4, KV = 2, hd = 8, N = B * T, R = (H + 2 * KV) * hd;
    size_t n = (size_t)N * R;
    float theta = 10000.0f;
    float *x = fbuf(n), *x0 = fbuf(n);
    fill_normal(x0, n, 50, 1.0f);
    int pos[14];
    for (int i = 0; i < N; i++) pos[i] = (i * 37 + 5) % 300; // arbitrary positions
    for (int use_pos = 0; use_pos < 2; use_pos++) {
        memcpy(x, x0, n * 4);
        double *ref = to_double(x0, n);
        ref_rope(ref, use_pos ? pos : NULL, N, T, H, KV, hd, theta, 1.0);
        be->rope(be, x, use_pos ? pos : NULL, N, T, H, KV, hd, th_rope_freq(hd, theta), 0);
        EXPECT_CLOSE(use_pos ? "rope with pos" : "rope pos NULL", x, ref, n, 1e-5);
        int v_same = 1;
        for (int r = 0; r < N; r++)
            for (int j = (H + KV) * hd; j < R; j++)
                v_same &= x[(size_t)r * R + j] == x0[(size_t)r * R + j];
        EXPECT(v_same, "rope changed v");
        be->rope(be, x, use_pos ? pos : NULL, N, T, H, KV, hd, th_rope_freq(hd, theta), 1);
        double *orig = to_double(x0, n);
        EXPECT_CLOSE("rope then inverse", x, orig, n, 1e-5);
        free(ref), free(orig);
    }
    free(x), free(x0);
}

typedef struct {
    double *x, *R, *y;
    int N, T, H, KV, hd;
} RopeCtx;

static double rope_obj(void *p) {
    RopeCtx *c = p;
    size_t n = (size_t)c->N * (c->H + 2 * c->KV) * c->hd;
    memcpy(c->y, c->x, n * sizeof(double));
    ref_rope(c->y, NULL, c->N, c->T, c->H, c->KV, c->hd, 500.0, 1.0);
    return dot_d(c->y, c->R, n);
}

// The backward of rope is rope with inverse = 1 applied to the output gradient.
static void test_rope_bwd(void) {
    int B = 2, T = 5, H = 2, KV = 1, hd = 4, N = B * T;
    size_t n = (size_t)N * (H + 2 * KV) * hd;
    float *x = fbuf(n), *R = fbuf(n);
    fill_normal(x, n, 51, 1.0f);
    fill_normal(R, n, 52, 1.0f);
    float *g = fbuf(n);
    memcpy(g, R, n * 4);
    be->rope(be, g, NULL, N, T, H, KV, hd, th_rope_freq(hd, 500.0), 1);
    RopeCtx c = {to_double(x, n), to_double(R, n), dbuf(n), N, T, H, KV, hd};
    double *gx = dbuf(n);
    fd_grad(rope_obj, &c, c.x, n, gx);
    EXPECT_CLOSE("rope backward", g, gx, n, 1e-5);
    free(x), free(R), free(g), free(c.x), free(c.R), free(c.y), free(gx);
}

// ---------------------------------------------------------------------------
// attention

// seg patterns: kind 0 none, 1 two records per batch row (split at different places), 2 ids
// that come back after another record (not contiguous).
static int *make_seg(int kind, int B, int T) {
    if (kind == 0) return NULL;
    int *seg = lm_malloc((size_t)B * T * sizeof(int));
    for (int b = 0; b < B; b++)
        for (int t = 0; t < T; t++) {
            int split = (b == 0) ? T / 2 : (T + 2) / 3;
            if (kind == 1) seg[b * T + t] = 10 * b + (t < split ? 1 : 2);
            else seg[b * T + t] = (t / 2) % 2;
        }
    return seg;
}

static void check_attention_fwd(int B, int T, int H, int KV, int hd, int seg_kind) {
    int N = B * T, R = (H + 2 * KV) * hd;
    size_t nq = (size_t)N * R, no = (size_t)N * H * hd, nl = (size_t)B * H * T;
    float *qkv = fbuf(nq), *out = fbuf(no), *lse = fbuf(nl);
    fill_normal(qkv, nq, 60 + T + hd, 1.0f);
    int *seg = make_seg(seg_kind, B, T);
    double *qd = to_double(qkv, nq), *ref = dbuf(no), *refl = dbuf(nl);
    ref_attention(ref, refl, qd, seg, B, T, H, KV, hd);
    be->attention_fwd(be, out, lse, qkv, seg, B, T, H, KV, hd);
    char what[96];
    snprintf(what, sizeof what, "attention B%d T%d H%d KV%d hd%d seg%d out", B, T, H, KV, hd,
             seg_kind);
    EXPECT_CLOSE(what, out, ref, no, 1e-5);
    snprintf(what, sizeof what, "attention B%d T%d H%d KV%d hd%d seg%d lse", B, T, H, KV, hd,
             seg_kind);
    EXPECT_CLOSE(what, lse, refl, nl, 1e-5);
    free(qkv), free(out), free(lse), free(seg), free(qd), free(ref), free(refl);
}

static void test_attention_fwd(void) {
    for (int seg_kind = 0; seg_kind < 3; seg_kind++) {
        check_attention_fwd(2, 7, 4, 2, 4, seg_kind);   // GQA, tiny
        check_attention_fwd(2, 37, 4, 2, 32, seg_kind); // GQA, several key vectors
    }
    check_attention_fwd(1, 20, 4, 4, 16, 0);  // MHA
    check_attention_fwd(2, 19, 4, 1, 24, 1);  // MQA, hd not a multiple of 16
    check_attention_fwd(1, 1, 2, 1, 8, 0);    // T = 1
    check_attention_fwd(1, 100, 2, 1, 64, 1); // longer rows
}

typedef struct {
    double *qkv, *R, *out;
    const int *seg;
    int B, T, H, KV, hd;
} AttCtx;

static double attention_obj(void *p) {
    AttCtx *c = p;
    ref_attention(c->out, NULL, c->qkv, c->seg, c->B, c->T, c->H, c->KV, c->hd);
    return dot_d(c->out, c->R, (size_t)c->B * c->T * c->H * c->hd);
}

static void check_attention_bwd(int B, int T, int H, int KV, int hd, int seg_kind) {
    int N = B * T, R = (H + 2 * KV) * hd;
    size_t nq = (size_t)N * R, no = (size_t)N * H * hd;
    float *qkv = fbuf(nq), *out = fbuf(no), *lse = fbuf((size_t)B * H * T), *dout = fbuf(no);
    float *dqkv = fbuf(nq);
    fill_normal(qkv, nq, 70 + seg_kind, 1.0f);
    fill_normal(dout, no, 71, 1.0f);
    for (size_t i = 0; i < nq; i++) dqkv[i] = NAN; // overwritten, never read
    int *seg = make_seg(seg_kind, B, T);
    be->attention_fwd(be, out, lse, qkv, seg, B, T, H, KV, hd);
    be->attention_bwd(be, dqkv, dout, qkv, out, lse, seg, B, T, H, KV, hd);
    AttCtx c = {to_double(qkv, nq), to_double(dout, no), dbuf(no), seg, B, T, H, KV, hd};
    double *g = dbuf(nq);
    fd_grad(attention_obj, &c, c.qkv, nq, g);
    // split the check into q, k, v parts for clearer failures
    const char *names[3] = {"dq", "dk", "dv"};
    int lo[3] = {0, H * hd, (H + KV) * hd}, hi[3] = {H * hd, (H + KV) * hd, R};
    for (int part = 0; part < 3; part++) {
        size_t m = 0;
        float *a = fbuf(nq);
        double *e = dbuf(nq);
        for (int n = 0; n < N; n++)
            for (int j = lo[part]; j < hi[part]; j++, m++) {
                a[m] = dqkv[(size_t)n * R + j];
                e[m] = g[(size_t)n * R + j];
            }
        char what[96];
        snprintf(what, sizeof what, "%s B%d T%d H%d KV%d hd%d seg%d", names[part], B, T, H, KV, hd,
                 seg_kind);
        EXPECT_CLOSE(what, a, e, m, 1e-4);
        free(a), free(e);
    }
    free(qkv), free(out), free(lse), free(dout), free(dqkv), free(seg), free(c.qkv), free(c.R);
    free(c.out), free(g);
}

static void test_attention_bwd(void) {
    for (int seg_kind = 0; seg_kind < 3; seg_kind++) check_attention_bwd(2, 7, 4, 2, 4, seg_kind);
    check_attention_bwd(2, 5, 4, 2, 4, 0);
    check_attention_bwd(1, 9, 2, 2, 16, 1);  // MHA, a whole vector of head dims
    check_attention_bwd(1, 21, 2, 1, 20, 0); // MQA, hd padded, T over one key vector
}

// ---------------------------------------------------------------------------
// swiglu

typedef struct {
    double *h, *R, *out;
    int N, F;
} SwigluCtx;

static double swiglu_obj(void *p) {
    SwigluCtx *c = p;
    ref_swiglu(c->out, c->h, c->N, c->F);
    return dot_d(c->out, c->R, (size_t)c->N * c->F);
}

static void test_swiglu(void) {
    int N = 6, F = 11;
    size_t nh = (size_t)N * 2 * F, no = (size_t)N * F;
    float *h = fbuf(nh), *out = fbuf(no), *R = fbuf(no), *dh = fbuf(nh);
    fill_normal(h, nh, 80, 2.0f);
    h[0] = -30.0f; // far tails
    h[1] = 30.0f;
    fill_normal(R, no, 81, 1.0f);
    fill_normal(dh, nh, 82, 1.0f); // overwritten
    SwigluCtx c = {to_double(h, nh), to_double(R, no), dbuf(no), N, F};
    ref_swiglu(c.out, c.h, N, F);
    be->swiglu_fwd(be, out, h, N, F);
    EXPECT_CLOSE("swiglu fwd", out, c.out, no, 1e-5);
    be->swiglu_bwd(be, dh, R, h, N, F);
    double *g = dbuf(nh);
    fd_grad(swiglu_obj, &c, c.h, nh, g);
    EXPECT_CLOSE("swiglu bwd", dh, g, nh, 1e-5);
    free(h), free(out), free(R), free(dh), free(c.h), free(c.R), free(c.out), free(g);
}

// ---------------------------------------------------------------------------
// cross-entropy

typedef struct {
    double *x, *loss;
    const int *y;
    int N, V;
} CeCtx;

static double ce_obj(void *p) {
    CeCtx *c = p;
    ref_crossentropy(c->loss, c->x, c->y, c->N, c->V);
    double s = 0;
    for (int n = 0; n < c->N; n++) s += c->loss[n];
    return s;
}

static void test_crossentropy(void) {
    int N = 5, V = 13;
    size_t n = (size_t)N * V;
    int y[5] = {3, -1, 0, 12, 3};
    float *x = fbuf(n), *loss = fbuf(N), *dx = fbuf(n);
    fill_normal(x, n, 90, 3.0f);
    x[2 * V + 5] = 80.0f; // a dominant logit: stability
    CeCtx c = {to_double(x, n), dbuf(N), y, N, V};
    ref_crossentropy(c.loss, c.x, y, N, V);
    be->crossentropy(be, loss, NULL, x, y, N, V, 1.0f);
    EXPECT_CLOSE("loss, no dlogits", loss, c.loss, N, 1e-5);
    EXPECT(loss[1] == 0.0f, "ignored row loss %g", loss[1]);
    float dscale = 0.25f;
    be->crossentropy(be, loss, dx, x, y, N, V, dscale);
    EXPECT_CLOSE("loss", loss, c.loss, N, 1e-5);
    double *g = dbuf(n);
    fd_grad(ce_obj, &c, c.x, n, g);
    for (size_t i = 0; i < n; i++) g[i] *= dscale;
    EXPECT_CLOSE("dlogits", dx, g, n, 1e-5);
    for (int i = 0; i < V; i++) EXPECT(dx[V + i] == 0.0f, "ignored row dlogits %d", i);
    // aliased: dlogits written over logits
    float *xa = fbuf(n);
    memcpy(xa, x, n * 4);
    be->crossentropy(be, loss, xa, xa, y, N, V, dscale);
    EXPECT(memcmp(xa, dx, n * 4) == 0, "aliased dlogits differ");
    EXPECT_CLOSE("aliased loss", loss, c.loss, N, 1e-5);

    // a bigger vocabulary against the reference
    int N2 = 4, V2 = 1000;
    int y2[4] = {999, 0, -1, 500};
    float *x2 = fbuf((size_t)N2 * V2), *l2 = fbuf(N2);
    fill_normal(x2, (size_t)N2 * V2, 91, 5.0f);
    double *x2d = to_double(x2, (size_t)N2 * V2), *l2d = dbuf(N2);
    ref_crossentropy(l2d, x2d, y2, N2, V2);
    be->crossentropy(be, l2, x2, x2, y2, N2, V2, 1.0f);
    EXPECT_CLOSE("loss V=1000", l2, l2d, N2, 1e-5);
    free(x), free(loss), free(dx), free(c.x), free(c.loss), free(g), free(xa), free(x2), free(l2);
    free(x2d), free(l2d);
}

// ---------------------------------------------------------------------------
// embedding

static void test_embed(void) {
    int N = 9, C = 70, V = 6; // C over one column block
    int tok[9] = {3, 1, 3, 0, 5, 3, 1, 2, 0};
    float *wte = fbuf((size_t)V * C), *out = fbuf((size_t)N * C), *dout = fbuf((size_t)N * C);
    float *dw = fbuf((size_t)V * C), *dw0 = fbuf((size_t)V * C);
    fill_normal(wte, (size_t)V * C, 100, 1.0f);
    fill_normal(dout, (size_t)N * C, 101, 1.0f);
    fill_normal(dw0, (size_t)V * C, 102, 1.0f);
    be->embed_fwd(be, out, tok, tok, wte, N, C);
    int same = 1;
    for (int n = 0; n < N; n++) same &= memcmp(out + n * C, wte + tok[n] * C, C * 4) == 0;
    EXPECT(same, "embed_fwd rows");
    memcpy(dw, dw0, (size_t)V * C * 4);
    be->embed_bwd(be, dw, dout, tok, tok, N, C, V);
    // d/dwte of sum(out * dout) = sum of dout rows per token, on top of the prior contents
    double *ref = dbuf((size_t)V * C);
    for (size_t i = 0; i < (size_t)V * C; i++) ref[i] = dw0[i];
    for (int n = 0; n < N; n++)
        for (int c = 0; c < C; c++) ref[tok[n] * C + c] += dout[n * C + c];
    EXPECT_CLOSE("embed_bwd", dw, ref, (size_t)V * C, 1e-6);
    free(wte), free(out), free(dout), free(dw), free(dw0), free(ref);
}

// ---------------------------------------------------------------------------
// optimizer, sumsq, scale

static void check_adamw(float wd, int act_mode) {
    size_t n = 37;
    float lr = 1e-2f, b1 = 0.9f, b2 = 0.95f, eps = 1e-8f, gscale = 0.5f;
    float *p = fbuf(n), *m = fbuf(n), *v = fbuf(n), *g = fbuf(n), *pa = fbuf(n);
    double *pr = dbuf(n), *mr = dbuf(n), *vr = dbuf(n);
    fill_normal(p, n, 110, 1.0f);
    for (size_t i = 0; i < n; i++) pr[i] = p[i];
    for (int t = 1; t <= 3; t++) {
        fill_normal(g, n, 111 + t, 1.0f);
        void *act = act_mode == 0 ? NULL : act_mode == 1 ? (void *)pa : (void *)p;
        be->adamw(be, p, act, g, m, v, n, lr, b1, b2, eps, wd, gscale, t);
        for (size_t i = 0; i < n; i++) {
            double gi = (double)g[i] * gscale;
            pr[i] -= (double)lr * wd * pr[i];
            mr[i] = b1 * mr[i] + (1 - (double)b1) * gi;
            vr[i] = b2 * vr[i] + (1 - (double)b2) * gi * gi;
            double mh = mr[i] / (1 - pow(b1, t)), vh = vr[i] / (1 - pow(b2, t));
            pr[i] -= lr * mh / (sqrt(vh) + eps);
        }
    }
    char what[64];
    snprintf(what, sizeof what, "adamw p wd %g", wd);
    EXPECT_CLOSE(what, p, pr, n, 1e-5);
    EXPECT_CLOSE("adamw m", m, mr, n, 1e-5);
    EXPECT_CLOSE("adamw v", v, vr, n, 1e-5);
    if (act_mode == 1) EXPECT(memcmp(p, pa, n * 4) == 0, "p_act is not the new p");
    free(p), free(m), free(v), free(g), free(pa), free(pr), free(mr), free(vr);
}

static void test_adamw(void) {
    check_adamw(0.0f, 1);
    check_adamw(0.1f, 0);
    check_adamw(0.1f, 2); // p_act == p
    // weight decay changes the result
    float p1 = 1.0f, p2 = 1.0f, g = 0.3f, m1 = 0, v1 = 0, m2 = 0, v2 = 0;
    be->adamw(be, &p1, NULL, &g, &m1, &v1, 1, 0.1f, 0.9f, 0.999f, 1e-8f, 0.0f, 1.0f, 1);
    be->adamw(be, &p2, NULL, &g, &m2, &v2, 1, 0.1f, 0.9f, 0.999f, 1e-8f, 0.5f, 1.0f, 1);
    EXPECT(fabsf(p1 - 0.9f) < 1e-6f, "step 1 without decay: %g, want 0.9", p1);
    EXPECT(fabsf(p2 - (0.95f - 0.1f)) < 1e-6f, "step 1 with decay: %g, want 0.85", p2);
}

static void test_sumsq_scale(void) {
    size_t n = 100003;
    float *x = fbuf(n);
    fill_normal(x, n, 120, 1.0f);
    double ref = 0;
    for (size_t i = 0; i < n; i++) ref += (double)x[i] * x[i];
    double got = be->sumsq(be, x, n);
    EXPECT(fabs(got - ref) / ref < 1e-12, "sumsq %.17g want %.17g", got, ref);
    EXPECT(be->sumsq(be, x, n) == got, "sumsq not deterministic");
    EXPECT(be->sumsq(be, x, 3) == (double)x[0] * x[0] + (double)x[1] * x[1] + (double)x[2] * x[2],
           "sumsq of 3");
    EXPECT(be->sumsq(be, x, 0) == 0.0, "sumsq of 0");
    float x5 = x[5];
    be->scale(be, x, -0.5f, n);
    EXPECT(x[5] == x5 * -0.5f, "scale");
    free(x);
}

// ---------------------------------------------------------------------------
// determinism

typedef struct {
    float *dqkv, *dx, *dw, *dwte, *db;
    double sumsq;
} DetOut;

// Attention, rmsnorm, embedding and bias gradients of a mid-sized problem.
static DetOut det_run(Backend *b) {
    int B = 2, T = 64, H = 4, KV = 2, hd = 32, N = B * T, R = (H + 2 * KV) * hd, C = 200, V = 50;
    size_t nq = (size_t)N * R, no = (size_t)N * H * hd, nc = (size_t)N * C;
    float *qkv = fbuf(nq), *out = fbuf(no), *lse = fbuf((size_t)B * H * T), *dout = fbuf(no);
    float *x = fbuf(nc), *w = fbuf(C), *rstd = fbuf(N), *y = fbuf(nc), *dy = fbuf(nc);
    DetOut o = {fbuf(nq), fbuf(nc), fbuf(C), fbuf((size_t)V * C), fbuf(C), 0};
    fill_normal(qkv, nq, 130, 1.0f);
    fill_normal(dout, no, 131, 1.0f);
    fill_normal(x, nc, 132, 1.0f);
    fill_normal(w, C, 133, 1.0f);
    fill_normal(dy, nc, 134, 1.0f);
    int *seg = make_seg(1, B, T), tok[128];
    for (int n = 0; n < N; n++) tok[n] = (n * 7) % V;
    b->attention_fwd(b, out, lse, qkv, seg, B, T, H, KV, hd);
    b->attention_bwd(b, o.dqkv, dout, qkv, out, lse, seg, B, T, H, KV, hd);
    b->rmsnorm_fwd(b, y, rstd, x, w, N, C, 1e-5f);
    b->rmsnorm_bwd(b, o.dx, o.dw, dy, x, w, rstd, N, C);
    b->embed_bwd(b, o.dwte, dy, tok, tok, N, C, V);
    float *dwm = fbuf((size_t)C * C);
    b->matmul_bwd(b, NULL, dwm, o.db, dy, x, dwm, N, C, C);
    o.sumsq = b->sumsq(b, dy, nc);
    free(qkv), free(out), free(lse), free(dout), free(x), free(w), free(rstd), free(y), free(dy);
    free(seg), free(dwm);
    return o;
}

static int det_same(DetOut a, DetOut b) {
    int B = 2, T = 64, H = 4, KV = 2, hd = 32, N = B * T, R = (H + 2 * KV) * hd, C = 200, V = 50;
    return memcmp(a.dqkv, b.dqkv, (size_t)N * R * 4) == 0 &&
           memcmp(a.dx, b.dx, (size_t)N * C * 4) == 0 && memcmp(a.dw, b.dw, (size_t)C * 4) == 0 &&
           memcmp(a.dwte, b.dwte, (size_t)V * C * 4) == 0 &&
           memcmp(a.db, b.db, (size_t)C * 4) == 0 && a.sumsq == b.sumsq;
}

static void det_free(DetOut o) { free(o.dqkv), free(o.dx), free(o.dw), free(o.dwte), free(o.db); }

static void test_determinism(void) {
    DetOut a = det_run(be), b = det_run(be);
    EXPECT(det_same(a, b), "two runs differ");
    // The column-block reductions and per-head attention tasks do not depend on the thread
    // count either.
    Backend *one = backend_cpu_create(1);
    DetOut c = det_run(one);
    backend_destroy(one);
    int threads = be->threads;
    backend_destroy(be);
    be = backend_cpu_create(threads); // restores the thread settings
    EXPECT(det_same(a, c), "1 thread and %d threads differ", threads);
    det_free(a), det_free(b), det_free(c);
}

int main(void) {
    be = backend_cpu_create(0);
    RUN_TEST(test_memory);
    RUN_TEST(test_matmul_fwd);
    RUN_TEST(test_matmul_bwd);
    RUN_TEST(test_rmsnorm_fwd);
    RUN_TEST(test_rmsnorm_bwd);
    RUN_TEST(test_rope_fwd);
    RUN_TEST(test_rope_bwd);
    RUN_TEST(test_attention_fwd);
    RUN_TEST(test_attention_bwd);
    RUN_TEST(test_swiglu);
    RUN_TEST(test_crossentropy);
    RUN_TEST(test_embed);
    RUN_TEST(test_adamw);
    RUN_TEST(test_sumsq_scale);
    RUN_TEST(test_determinism);
    backend_destroy(be);
    TEST_EXIT();
}
