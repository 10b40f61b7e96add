// tests/unit/test_sample_decode.c: the decoding ops of the CPU backend and the model's KV
// cache path. matmul_rows against a double-precision reference and bitwise independent of
// the row count; kv_write + attention_decode against attention_fwd (causal) with rows of
// several slots mixed; model_decode_step logits against model_forward + model_logits, fed in
// one step, token by token, and in chunks; and greedy decoding through the sampling engine
// (continuous batching, chunked prefill) against full recomputation without a cache, token
// for token.
#include "harness.h"
#include "lemma/backend.h"
#include "lemma/model.h"
#include "lemma/sample.h"
#include "lemma/util.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static Backend *be;

static float *randn(size_t n, uint64_t seed, float scale) {
    float *x = lm_malloc(n * sizeof(float));
    for (size_t i = 0; i < n; i++) x[i] = scale * lm_rng_normal(seed, LM_STREAM_TEST, i);
    return x;
}

// ---------------------------------------------------------------------------
// ops

static void check_matmul_rows(int N, int C, int OC, int bias) {
    float *x = randn((size_t)N * C, 1, 1.0f), *w = randn((size_t)OC * C, 2, 0.1f);
    float *b = bias ? randn(OC, 3, 1.0f) : NULL, *out = lm_malloc((size_t)N * OC * sizeof(float));
    void *wp = be->pack_rows(be, w, C, OC);
    for (size_t i = 0; i < (size_t)OC * C; i++) w[i] = NAN; // the packed copy must not read w
    be->matmul_rows(be, out, x, wp, b, N, C, OC);
    free(w), w = randn((size_t)OC * C, 2, 0.1f);
    double worst = 0;
    for (int n = 0; n < N; n++)
        for (int o = 0; o < OC; o++) {
            double acc = b ? b[o] : 0.0;
            for (int c = 0; c < C; c++) acc += (double)x[(size_t)n * C + c] * w[(size_t)o * C + c];
            double e = fabs(acc - out[(size_t)n * OC + o]) / (fabs(acc) + 1.0);
            worst = e > worst ? e : worst;
        }
    EXPECT(worst < 1e-5, "matmul_rows N=%d C=%d OC=%d: error %.2e", N, C, OC, worst);
    // each row alone, and the rows in another company, give the same bits
    float *one = lm_malloc((size_t)OC * sizeof(float));
    int same = 1;
    for (int n = 0; n < N; n += (N > 10 ? 7 : 1)) {
        be->matmul_rows(be, one, x + (size_t)n * C, wp, b, 1, C, OC);
        same &= memcmp(one, out + (size_t)n * OC, (size_t)OC * sizeof(float)) == 0;
    }
    EXPECT(same, "matmul_rows N=%d C=%d OC=%d: a row alone differs from the batched one", N, C, OC);
    be->free(be, wp);
    free(x), free(w), free(b), free(out), free(one);
}

static void test_matmul_rows(void) {
    const int cases[][4] = {{1, 64, 48, 0}, {7, 33, 17, 1}, {16, 64, 96, 0}, {70, 40, 13, 1},
                            {200, 128, 259, 0}, {3, 768, 256, 0}, {13, 7, 130, 1}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        check_matmul_rows(cases[i][0], cases[i][1], cases[i][2], cases[i][3]);
}

// One sequence of T rows: attention_fwd (causal) against the cache path, the rows split in
// two calls and written to slot 2 of 3; the other slots hold other data. With a bf16 cache
// the reference gets k and v rounded to bf16 (q as is): the cache path must then agree to
// fp32 rounding, so a write that truncates instead of rounding shows.
static void check_attention_decode(int T, int H, int KV, int hd, DType kvt) {
    int R = (H + 2 * KV) * hd, S = 3, ctx = (T + 15) / 16 * 16 + 16;
    float *qkv = randn((size_t)T * R, 10 + T, 1.0f), *ref = lm_malloc((size_t)T * H * hd * 4);
    float *qkv_ref = lm_malloc((size_t)T * R * sizeof(float));
    for (size_t i = 0; i < (size_t)T * R; i++)
        qkv_ref[i] = kvt == DT_BF16 && (int)(i % R) >= H * hd ? lm_bf16_to_f32(lm_f32_to_bf16(qkv[i])) : qkv[i];
    float *lse = lm_malloc((size_t)H * T * sizeof(float));
    be->attention_fwd(be, ref, lse, qkv_ref, NULL, 1, T, H, KV, hd);
    size_t cache = (size_t)S * KV * hd * ctx;
    float *kc = randn(cache, 20, 1.0f), *vc = randn(cache, 21, 1.0f);
    if (kvt == DT_BF16) // the other slots' data as bf16 (the buffers are reused in place)
        for (size_t i = 0; i < cache; i++) {
            ((uint16_t *)kc)[i] = lm_f32_to_bf16(kc[i]);
            ((uint16_t *)vc)[i] = lm_f32_to_bf16(vc[i]);
        }
    float *out = lm_malloc((size_t)T * H * hd * sizeof(float));
    int *slot = lm_malloc((size_t)T * sizeof(int)), *pos = lm_malloc((size_t)T * sizeof(int));
    for (int t = 0; t < T; t++) slot[t] = 2, pos[t] = t;
    int half = T / 2;
    be->kv_write(be, kc, vc, qkv, slot, pos, half, H, KV, hd, ctx, kvt);
    be->attention_decode(be, out, qkv, kc, vc, slot, pos, half, H, KV, hd, ctx, kvt);
    be->kv_write(be, kc, vc, qkv + (size_t)half * R, slot + half, pos + half, T - half, H, KV, hd,
                 ctx, kvt);
    be->attention_decode(be, out + (size_t)half * H * hd, qkv + (size_t)half * R, kc, vc,
                         slot + half, pos + half, T - half, H, KV, hd, ctx, kvt);
    double e = th_rel_l2(out, ref, (size_t)T * H * hd);
    EXPECT(e < 1e-5, "attention_decode (%s cache) T=%d H=%d KV=%d hd=%d: rel L2 %.2e",
           kvt == DT_BF16 ? "bf16" : "fp32", T, H, KV, hd, e);
    free(qkv), free(qkv_ref), free(ref), free(lse), free(kc), free(vc), free(out), free(slot), free(pos);
}

static void test_attention_decode(void) {
    const int cases[][4] = {{1, 2, 1, 8}, {37, 4, 2, 16}, {70, 8, 4, 32}, {20, 3, 3, 20}, {129, 4, 1, 64}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        for (int k = 0; k < 2; k++)
            check_attention_decode(cases[i][0], cases[i][1], cases[i][2], cases[i][3],
                                   k ? DT_BF16 : DT_F32);
}

// ---------------------------------------------------------------------------
// the model's decode path

static ModelConfig small_config(int tied, int qkv_bias) {
    ModelConfig mc = {.vocab = 260, .dim = 64, .n_layers = 2, .n_heads = 4, .n_kv_heads = 2,
                      .head_dim = 16, .ffn_dim = 96, .max_seq = 96, .rope_theta = 10000.0f,
                      .norm_eps = 1e-5f, .init_std = 0.2f, .qkv_bias = qkv_bias, .tied = tied};
    return mc;
}

// Logits of one sequence from model_forward, and from the cache fed in chunks of `chunk`
// rows (all with logits), slot 1 of 2. An fp32 cache agrees to rounding; a bf16 cache
// within bf16's precision, and not exactly (its keys and values are rounded).
static void check_decode_logits(int tied, int qkv_bias, int chunk, DType kv) {
    ModelConfig mc = small_config(tied, qkv_bias);
    Model m;
    model_init(&m, &mc, be, 5);
    if (qkv_bias) { // non-zero biases
        float *p = lm_malloc(m.layout.n_params * sizeof(float));
        model_get_params(&m, p);
        for (int l = 0; l < mc.n_layers; l++)
            for (int i = 0; i < (mc.n_heads + 2 * mc.n_kv_heads) * mc.head_dim; i++)
                p[m.layout.layers[l].bqkv + i] = 0.3f * lm_rng_normal(6, LM_STREAM_TEST, i);
        model_set_params(&m, p);
        free(p);
    }
    const int T = 50, V = mc.vocab;
    int tok[50], slot[50], pos[50];
    for (int t = 0; t < T; t++) tok[t] = (int)(lm_rng_u32(7, LM_STREAM_TEST, t) % 256), slot[t] = 1, pos[t] = t;
    model_forward(&m, tok, NULL, 1, T);
    float *ref = lm_malloc((size_t)T * V * sizeof(float)), *got = lm_malloc((size_t)T * V * 4);
    model_logits(&m, ref);
    ModelDecode d;
    model_decode_init(&d, &m, 2, T, chunk, chunk, kv);
    for (int t0 = 0; t0 < T; t0 += chunk) {
        int n = T - t0 < chunk ? T - t0 : chunk;
        const float *lg = model_decode_step(&m, &d, tok + t0, slot + t0, pos + t0, n, n);
        memcpy(got + (size_t)t0 * V, lg, (size_t)n * V * sizeof(float));
    }
    double e = th_rel_l2(got, ref, (size_t)T * V);
    if (kv == DT_F32)
        EXPECT(e < 2e-5, "decode logits (tied %d, bias %d, chunk %d): rel L2 %.2e against the "
               "forward", tied, qkv_bias, chunk, e);
    else {
        printf("# bf16 cache (tied %d, bias %d, chunk %d): logits rel L2 %.2e against the forward\n",
               tied, qkv_bias, chunk, e);
        EXPECT(e > 0 && e < 1e-2, "decode logits, bf16 cache (tied %d, bias %d, chunk %d): rel "
               "L2 %.2e against the forward", tied, qkv_bias, chunk, e);
    }
    model_decode_free(&d, &m);
    model_free(&m);
    free(ref), free(got);
}

static void test_decode_logits_match_forward(void) {
    check_decode_logits(1, 0, 50, DT_F32);
    check_decode_logits(1, 0, 1, DT_F32);
    check_decode_logits(0, 1, 7, DT_F32);
    check_decode_logits(1, 0, 1, DT_BF16);
    check_decode_logits(0, 1, 7, DT_BF16);
}

// Greedy completion by full recomputation: model_forward over the whole sequence for every
// new token, argmax (lowest id on ties) of the last row, until eos, max_new tokens or a
// sequence that would not fit model.max_seq.
static char *recompute_greedy(Model *m, const Tokenizer *tok, const int *prompt, int plen,
                              int max_new, int *n_gen) {
    int V = m->cfg.vocab, n = plen;
    int *ids = lm_malloc((size_t)(plen + max_new) * sizeof(int));
    float *lg = lm_malloc((size_t)(plen + max_new) * V * sizeof(float));
    memcpy(ids, prompt, (size_t)plen * sizeof(int));
    *n_gen = 0;
    while (*n_gen < max_new && n <= m->cfg.max_seq) {
        model_forward(m, ids, NULL, 1, n);
        model_logits(m, lg);
        const float *last = lg + (size_t)(n - 1) * V;
        int best = 0;
        for (int v = 1; v < V; v++)
            if (last[v] > last[best]) best = v;
        (*n_gen)++;
        if (best == tok->eos) break;
        ids[n++] = best;
    }
    char *text = tokenizer_decode(tok, ids + plen, n - plen);
    free(ids), free(lg);
    return text;
}

static void test_greedy_cache_equals_recompute(void) {
    Tokenizer tok;
    char *special[] = {"[BACK]"};
    tokenizer_init(&tok, special, 1);
    ModelConfig mc = small_config(1, 0);
    mc.vocab = tok.vocab;
    Model m;
    model_init(&m, &mc, be, 11);
    const char *qs[] = {"Ann has 12 marbles.", "How many?", "Bob has 3 times as many apples as Ann has pears.",
                        "x", "Cara has 7 fewer marbles than Bob. How many do they have together?"};
    enum { NQ = 5, MAX_NEW = 30 };
    SampleRequest req[NQ];
    int *prompts[NQ];
    for (int i = 0; i < NQ; i++) {
        prompts[i] = sample_encode_prompt(&tok, qs[i], &req[i].prompt_len);
        req[i].prompt = prompts[i], req[i].problem = i, req[i].sample = -1, req[i].tag = i;
    }
    SampleConfig c = {.strategy = {0.0f, 0, 1.0f}, .max_new_tokens = MAX_NEW, .seed = 1,
                      .slots = 2, .prefill_tokens = 9, .ctx = mc.max_seq, .kv = DT_F32};
    SampleResult res[NQ];
    sample_generate(&m, &tok, &c, req, NQ, res);
    int total = 0;
    for (int i = 0; i < NQ; i++) {
        int n_gen;
        char *want = recompute_greedy(&m, &tok, prompts[i], req[i].prompt_len, MAX_NEW, &n_gen);
        total += n_gen;
        EXPECT(res[i].n_tokens == n_gen && strcmp(res[i].text, want) == 0,
               "prompt %d: cached greedy '%s' (%d tokens) != recomputed '%s' (%d tokens)", i,
               res[i].text, res[i].n_tokens, want, n_gen);
        free(want);
        free(prompts[i]);
    }
    printf("# %d greedy tokens compared over %d prompts, 2 slots, prefill chunks of 9\n", total, NQ);
    sample_results_free(res, NQ);
    model_free(&m);
    tokenizer_free(&tok);
}

int main(void) {
    be = backend_cpu_create(0);
    RUN_TEST(test_matmul_rows);
    RUN_TEST(test_attention_decode);
    RUN_TEST(test_decode_logits_match_forward);
    RUN_TEST(test_greedy_cache_equals_recompute);
    backend_destroy(be);
    TEST_EXIT();
}
