// backend/cpu: the elementwise and row-wise ops: token embedding (forward, and a
// deterministic backward), rotary embedding with a cached cos/sin table, SwiGLU, and
// softmax cross-entropy.
#include "cpu_internal.h"
#include "lemma/util.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

// ---------------------------------------------------------------------------
// embedding

// out (N,C) = wte[tok[n]] rows.
void cpu_embed_fwd(Backend *b, void *out, const int *tok, const int *tok_host, const void *wte,
                   int N, int C) {
    (void)b;
    const int *tk = tok ? tok : tok_host;
    for (int n = 0; n < N; n++) LM_CHECK(tk[n] >= 0, "embed_fwd: token %d at row %d", tk[n], n);
    float *o = out;
    const float *e = wte;
#pragma omp parallel for schedule(static)
    for (int n = 0; n < N; n++)
        memcpy(o + (size_t)n * C, e + (size_t)tk[n] * C, (size_t)C * sizeof(float));
}

// dwte_acc (V,C): row tok[n] += dout[n] for n in order; threads own column blocks.
void cpu_embed_bwd(Backend *b, float *dwte_acc, const void *dout, const int *tok,
                   const int *tok_host, int N, int C, int V) {
    (void)b;
    const int *tk = tok ? tok : tok_host;
    for (int n = 0; n < N; n++)
        LM_CHECK(tk[n] >= 0 && tk[n] < V, "embed_bwd: token %d at row %d, vocab %d", tk[n], n, V);
    const float *d = dout;
    int nblk = (C + CPU_COL_BLOCK - 1) / CPU_COL_BLOCK;
#pragma omp parallel for schedule(static)
    for (int k = 0; k < nblk; k++) {
        int c0 = k * CPU_COL_BLOCK, c1 = c0 + CPU_COL_BLOCK < C ? c0 + CPU_COL_BLOCK : C;
        for (int n = 0; n < N; n++) {
            float *restrict dst = dwte_acc + (size_t)tk[n] * C;
            const float *restrict src = d + (size_t)n * C;
#pragma omp simd
            for (int c = c0; c < c1; c++) dst[c] += src[c];
        }
    }
}

// ---------------------------------------------------------------------------
// rotary embedding

// Makes the cos/sin table cover positions < npos for the frequencies inv_freq (hd/2); rebuilt
// when they change.
static void cpu_rope_table(Backend *b, int npos, int hd, const double *inv_freq) {
    CpuImpl *impl = b->impl;
    int half = hd / 2;
    int same = impl->rope_half == half &&
               memcmp(impl->rope_freq, inv_freq, (size_t)half * sizeof(double)) == 0;
    if (same && impl->rope_npos >= npos) return;
    if (same && npos < 2 * impl->rope_npos) npos = 2 * impl->rope_npos; // grow geometrically
    free(impl->rope_cos);
    free(impl->rope_sin);
    size_t bytes = (size_t)npos * half * sizeof(float);
    impl->rope_cos = b->alloc(b, bytes, "rope cos table");
    impl->rope_sin = b->alloc(b, bytes, "rope sin table");
    impl->rope_freq = lm_realloc(impl->rope_freq, (size_t)half * sizeof(double));
    memcpy(impl->rope_freq, inv_freq, (size_t)half * sizeof(double));
#pragma omp parallel for schedule(static)
    for (int p = 0; p < npos; p++) {
        for (int i = 0; i < half; i++) {
            double angle = (double)p * inv_freq[i];
            impl->rope_cos[(size_t)p * half + i] = (float)cos(angle);
            impl->rope_sin[(size_t)p * half + i] = (float)sin(angle);
        }
    }
    impl->rope_npos = npos;
    impl->rope_half = half;
}

// Rotates one head vector x (hd = 2*half): (x[i], x[i+half]) by the angle with cos c, sin s.
static void cpu_rope_head(float *restrict x, const float *restrict c, const float *restrict s,
                          float sign, int half) {
#pragma omp simd
    for (int i = 0; i < half; i++) {
        float x0 = x[i], x1 = x[i + half], si = sign * s[i];
        x[i] = x0 * c[i] - x1 * si;
        x[i + half] = x0 * si + x1 * c[i];
    }
}

// In place on the H q heads and KV k heads of each row of qkv (N, (H+2KV)*hd).
void cpu_rope(Backend *b, void *qkv, const int *pos, int N, int T, int H, int KV, int hd,
              const double *inv_freq, int inverse) {
    LM_CHECK(hd % 2 == 0, "rope: head dim %d is odd", hd);
    int npos = T;
    if (pos) {
        npos = 0;
        for (int n = 0; n < N; n++) {
            LM_CHECK(pos[n] >= 0, "rope: position %d at row %d", pos[n], n);
            if (pos[n] + 1 > npos) npos = pos[n] + 1;
        }
    }
    if (npos < 1) npos = 1;
    cpu_rope_table(b, npos, hd, inv_freq);
    CpuImpl *impl = b->impl;
    int half = hd / 2, R = (H + 2 * KV) * hd;
    float sign = inverse ? -1.0f : 1.0f;
#pragma omp parallel for schedule(static)
    for (int n = 0; n < N; n++) {
        int p = pos ? pos[n] : n % T;
        const float *c = impl->rope_cos + (size_t)p * half;
        const float *s = impl->rope_sin + (size_t)p * half;
        float *row = (float *)qkv + (size_t)n * R;
        for (int h = 0; h < H + KV; h++) cpu_rope_head(row + (size_t)h * hd, c, s, sign, half);
    }
}

// ---------------------------------------------------------------------------
// SwiGLU

// sigmoid(a); exp's argument capped at 80 so that the result stays a normal float (below
// a = -80 it is < 2e-35 either way), since subnormal arithmetic is very slow on x86.
static inline float cpu_sigmoid(float a) {
    float e = -a > 80.0f ? 80.0f : -a;
    return 1.0f / (1.0f + cpu_expf(e));
}

// out (N,F) = silu(a) * g with a = h[:, :F], g = h[:, F:] (h: N, 2F).
void cpu_swiglu_fwd(Backend *b, void *out, const void *h, int N, int F) {
    (void)b;
#pragma omp parallel for schedule(static)
    for (int n = 0; n < N; n++) {
        const float *restrict a = (const float *)h + (size_t)n * 2 * F;
        const float *restrict g = a + F;
        float *restrict o = (float *)out + (size_t)n * F;
#pragma omp simd
        for (int i = 0; i < F; i++) {
            float sig = cpu_sigmoid(a[i]);
            o[i] = a[i] * sig * g[i];
        }
    }
}

// dh (N,2F): da = dout * g * sig(a) * (1 + a (1 - sig(a))), dg = dout * silu(a).
void cpu_swiglu_bwd(Backend *b, void *dh, const void *dout, const void *h, int N, int F) {
    (void)b;
#pragma omp parallel for schedule(static)
    for (int n = 0; n < N; n++) {
        const float *restrict a = (const float *)h + (size_t)n * 2 * F;
        const float *restrict g = a + F;
        const float *restrict d = (const float *)dout + (size_t)n * F;
        float *restrict da = (float *)dh + (size_t)n * 2 * F;
        float *restrict dg = da + F;
#pragma omp simd
        for (int i = 0; i < F; i++) {
            float sig = cpu_sigmoid(a[i]);
            da[i] = d[i] * g[i] * sig * (1.0f + a[i] * (1.0f - sig));
            dg[i] = d[i] * a[i] * sig;
        }
    }
}

// ---------------------------------------------------------------------------
// cross-entropy

// One row of logits x (V): returns the loss for target y and, when dx is not NULL, writes
// (softmax - onehot) * dscale into dx (which may be x: x is only read before dx is written).
static float cpu_crossentropy_row(float *dx, const float *x, int y, int V, float dscale) {
    float mx = -INFINITY;
#pragma omp simd reduction(max : mx)
    for (int i = 0; i < V; i++) mx = x[i] > mx ? x[i] : mx;
    double sum = 0.0; // in double: tens of thousands of terms for large vocabularies
#pragma omp simd reduction(+ : sum)
    for (int i = 0; i < V; i++) sum += (double)cpu_expf(x[i] - mx);
    float loss = (float)((double)mx + log(sum) - (double)x[y]);
    if (dx) {
        float k = (float)(dscale / sum);
#pragma omp simd
        for (int i = 0; i < V; i++) dx[i] = cpu_expf(x[i] - mx) * k;
        dx[y] -= dscale;
    }
    return loss;
}

// loss (N); dlogits (N,V) or NULL, may alias logits (N,V); targets (N), -1 = ignored row.
void cpu_crossentropy(Backend *b, float *loss, void *dlogits, const void *logits,
                      const int *targets, int N, int V, float dscale) {
    (void)b;
    for (int n = 0; n < N; n++)
        LM_CHECK(targets[n] >= -1 && targets[n] < V, "crossentropy: target %d at row %d, vocab %d",
                 targets[n], n, V);
#pragma omp parallel for schedule(static)
    for (int n = 0; n < N; n++) {
        size_t off = (size_t)n * V;
        float *dx = dlogits ? (float *)dlogits + off : NULL;
        if (targets[n] < 0) {
            loss[n] = 0.0f;
            if (dx) memset(dx, 0, (size_t)V * sizeof(float));
            continue;
        }
        loss[n] = cpu_crossentropy_row(dx, (const float *)logits + off, targets[n], V, dscale);
    }
}
