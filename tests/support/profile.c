// tests/support/profile: a timing wrapper around any backend. Each op is forwarded to the inner
// backend, synchronised, and its wall time added to a per-op total; benchmarks print the
// table to show where the time goes.
#include "support.h"
#include "lemma/util.h"

#include <stdlib.h>
#include <string.h>

enum { P_EMBED_F, P_EMBED_B, P_MM_F, P_MM_B, P_NORM_F, P_RESNORM_F, P_NORM_B, P_ROPE, P_ATT_F,
       P_ATT_B, P_SWI_F, P_SWI_B, P_CE, P_ADAMW, P_SUMSQ, P_SCALE, P_KV_WRITE, P_ATT_DEC,
       P_MM_ROWS, P_COUNT };
static const char *op_names[P_COUNT] = {
    "embed_fwd", "embed_bwd", "matmul_fwd", "matmul_bwd", "rmsnorm_fwd", "residual_rmsnorm_fwd",
    "rmsnorm_bwd", "rope", "attention_fwd", "attention_bwd", "swiglu_fwd", "swiglu_bwd",
    "crossentropy", "adamw", "sumsq", "scale", "kv_write", "attention_decode", "matmul_rows"};

typedef struct {
    Backend *inner;
    double seconds[P_COUNT];
    long calls[P_COUNT];
    double t0;
} Prof;

#define INNER(b) (((Prof *)(b)->impl)->inner)

static void prof_begin(Backend *b) {
    Prof *p = b->impl;
    p->inner->sync(p->inner);
    p->t0 = lm_now();
}

static void prof_end(Backend *b, int op) {
    Prof *p = b->impl;
    p->inner->sync(p->inner);
    p->seconds[op] += lm_now() - p->t0;
    p->calls[op]++;
}

// Each wrapper: time the inner op.
#define TIMED(op, call)                                                                            \
    do {                                                                                           \
        prof_begin(b);                                                                             \
        call;                                                                                      \
        prof_end(b, op);                                                                           \
    } while (0)

static void *w_alloc(Backend *b, size_t n, const char *w) { return INNER(b)->alloc(INNER(b), n, w); }
static void w_free(Backend *b, void *p) { INNER(b)->free(INNER(b), p); }
static void w_upload(Backend *b, void *d, const void *s, size_t n) { INNER(b)->upload(INNER(b), d, s, n); }
static void w_download(Backend *b, void *d, const void *s, size_t n) { INNER(b)->download(INNER(b), d, s, n); }
static void w_zero(Backend *b, void *p, size_t n) { INNER(b)->zero(INNER(b), p, n); }
static void w_sync(Backend *b) { INNER(b)->sync(INNER(b)); }
static void w_upload_act(Backend *b, void *d, const float *s, size_t n) { INNER(b)->upload_act(INNER(b), d, s, n); }
static void w_download_act(Backend *b, float *d, const void *s, size_t n) { INNER(b)->download_act(INNER(b), d, s, n); }
static void w_cast(Backend *b, void *d, const float *s, size_t n) { INNER(b)->cast_to_act(INNER(b), d, s, n); }

static void w_embed_fwd(Backend *b, void *o, const int *t, const int *th, const void *w, int N, int C) {
    TIMED(P_EMBED_F, INNER(b)->embed_fwd(INNER(b), o, t, th, w, N, C));
}
static void w_embed_bwd(Backend *b, float *dw, const void *d, const int *t, const int *th, int N, int C, int V) {
    TIMED(P_EMBED_B, INNER(b)->embed_bwd(INNER(b), dw, d, t, th, N, C, V));
}
static void w_mm_fwd(Backend *b, void *o, const void *i, const void *w, const void *bias, int N, int C, int OC) {
    TIMED(P_MM_F, INNER(b)->matmul_fwd(INNER(b), o, i, w, bias, N, C, OC));
}
static void w_mm_bwd(Backend *b, void *di, float *dw, float *db, const void *d, const void *i,
                     const void *w, int N, int C, int OC) {
    TIMED(P_MM_B, INNER(b)->matmul_bwd(INNER(b), di, dw, db, d, i, w, N, C, OC));
}
static void w_norm_fwd(Backend *b, void *o, float *r, const void *i, const void *w, int N, int C, float e) {
    TIMED(P_NORM_F, INNER(b)->rmsnorm_fwd(INNER(b), o, r, i, w, N, C, e));
}
static void w_resnorm_fwd(Backend *b, void *ro, void *o, float *r, const void *ri, const void *d,
                          const void *w, int N, int C, float e) {
    TIMED(P_RESNORM_F, INNER(b)->residual_rmsnorm_fwd(INNER(b), ro, o, r, ri, d, w, N, C, e));
}
static void w_norm_bwd(Backend *b, void *di, float *dw, const void *d, const void *i, const void *w,
                       const float *r, int N, int C) {
    TIMED(P_NORM_B, INNER(b)->rmsnorm_bwd(INNER(b), di, dw, d, i, w, r, N, C));
}
static void w_rope(Backend *b, void *q, const int *pos, int N, int T, int H, int KV, int hd, const double *th, int inv) {
    TIMED(P_ROPE, INNER(b)->rope(INNER(b), q, pos, N, T, H, KV, hd, th, inv));
}
static void w_att_fwd(Backend *b, void *o, float *l, const void *q, const int *s, int B, int T, int H, int KV, int hd) {
    TIMED(P_ATT_F, INNER(b)->attention_fwd(INNER(b), o, l, q, s, B, T, H, KV, hd));
}
static void w_att_bwd(Backend *b, void *dq, const void *d, const void *q, const void *o, const float *l,
                      const int *s, int B, int T, int H, int KV, int hd) {
    TIMED(P_ATT_B, INNER(b)->attention_bwd(INNER(b), dq, d, q, o, l, s, B, T, H, KV, hd));
}
static void w_swi_fwd(Backend *b, void *o, const void *h, int N, int F) {
    TIMED(P_SWI_F, INNER(b)->swiglu_fwd(INNER(b), o, h, N, F));
}
static void w_swi_bwd(Backend *b, void *dh, const void *d, const void *h, int N, int F) {
    TIMED(P_SWI_B, INNER(b)->swiglu_bwd(INNER(b), dh, d, h, N, F));
}
static void w_ce(Backend *b, float *l, void *dl, const void *lg, const int *t, int N, int V, float s) {
    TIMED(P_CE, INNER(b)->crossentropy(INNER(b), l, dl, lg, t, N, V, s));
}
static void w_adamw(Backend *b, float *p, void *pa, const float *g, float *m, float *v, size_t n, float lr,
                    float b1, float b2, float eps, float wd, float gs, int t) {
    TIMED(P_ADAMW, INNER(b)->adamw(INNER(b), p, pa, g, m, v, n, lr, b1, b2, eps, wd, gs, t));
}
static double w_sumsq(Backend *b, const float *x, size_t n) {
    double r;
    TIMED(P_SUMSQ, r = INNER(b)->sumsq(INNER(b), x, n));
    return r;
}
static void w_scale(Backend *b, float *x, float s, size_t n) {
    TIMED(P_SCALE, INNER(b)->scale(INNER(b), x, s, n));
}
static void w_kv_write(Backend *b, void *kc, void *vc, const void *q, const int *sl, const int *pos,
                       int N, int H, int KV, int hd, int ctx, DType kvt) {
    TIMED(P_KV_WRITE, INNER(b)->kv_write(INNER(b), kc, vc, q, sl, pos, N, H, KV, hd, ctx, kvt));
}
static void w_att_dec(Backend *b, void *o, const void *q, const void *kc, const void *vc, const int *sl,
                      const int *pos, int N, int H, int KV, int hd, int ctx, DType kvt) {
    TIMED(P_ATT_DEC, INNER(b)->attention_decode(INNER(b), o, q, kc, vc, sl, pos, N, H, KV, hd, ctx, kvt));
}
static void w_mm_rows(Backend *b, void *o, const void *i, const void *w, const void *bias, int N, int C, int OC) {
    TIMED(P_MM_ROWS, INNER(b)->matmul_rows(INNER(b), o, i, w, bias, N, C, OC));
}
static void *w_pack_rows(Backend *b, const void *w, int C, int OC) { // once per decode: not timed
    return INNER(b)->pack_rows(INNER(b), w, C, OC);
}
static void w_destroy(Backend *b) {
    free(b->impl);
    free(b);
}

Backend *backend_profile_wrap(Backend *inner) {
    Backend *b = lm_calloc(1, sizeof(Backend));
    Prof *p = lm_calloc(1, sizeof(Prof));
    p->inner = inner;
    *b = *inner; // name, dtype, threads
    b->impl = p;
    b->alloc = w_alloc, b->free = w_free, b->upload = w_upload, b->download = w_download;
    b->zero = w_zero, b->sync = w_sync, b->upload_act = w_upload_act;
    b->download_act = w_download_act, b->cast_to_act = w_cast;
    b->embed_fwd = w_embed_fwd, b->embed_bwd = w_embed_bwd, b->matmul_fwd = w_mm_fwd;
    b->matmul_bwd = w_mm_bwd, b->rmsnorm_fwd = w_norm_fwd, b->residual_rmsnorm_fwd = w_resnorm_fwd;
    b->rmsnorm_bwd = w_norm_bwd, b->rope = w_rope, b->attention_fwd = w_att_fwd;
    b->attention_bwd = w_att_bwd, b->swiglu_fwd = w_swi_fwd, b->swiglu_bwd = w_swi_bwd;
    b->crossentropy = w_ce, b->adamw = w_adamw, b->sumsq = w_sumsq, b->scale = w_scale;
    b->kv_write = w_kv_write, b->attention_decode = w_att_dec, b->matmul_rows = w_mm_rows;
    b->pack_rows = inner->pack_rows ? w_pack_rows : NULL;
    // no device data parallelism under the profiler (the trainer stages through the host)
    b->dp_init = NULL, b->dp_allreduce_start = NULL, b->dp_wait = NULL;
    b->dp_reduce_scatter = NULL, b->dp_allgather = NULL;
    b->destroy = w_destroy;
    return b;
}

void backend_profile_reset(Backend *b) {
    Prof *p = b->impl;
    memset(p->seconds, 0, sizeof p->seconds);
    memset(p->calls, 0, sizeof p->calls);
}

void backend_profile_report(Backend *b, FILE *f) {
    Prof *p = b->impl;
    double total = 0;
    for (int i = 0; i < P_COUNT; i++) total += p->seconds[i];
    fprintf(f, "%-22s %8s %10s %7s\n", "op", "calls", "ms", "share");
    for (int i = 0; i < P_COUNT; i++) {
        if (!p->calls[i]) continue;
        fprintf(f, "%-22s %8ld %10.2f %6.1f%%\n", op_names[i], p->calls[i], 1e3 * p->seconds[i],
                total > 0 ? 100 * p->seconds[i] / total : 0);
    }
    fprintf(f, "%-22s %8s %10.2f\n", "total", "", 1e3 * total);
}
