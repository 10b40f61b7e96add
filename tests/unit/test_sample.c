// tests/unit/test_sample.c: the sampler. Token sampling (greedy ties, the temperature
// distribution, top-k, top-p, the keyed uniform); the engine: the same samples whatever the
// batch size and prefill chunking, stop strings, eos and max_new_tokens; pass@k; UTF-8
// cleaning; part-file repair and the merge.
#include "harness.h"
#include "lemma/backend.h"
#include "lemma/model.h"
#include "lemma/sample.h"
#include "lemma/util.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static Backend *be;

// ---------------------------------------------------------------------------
// one token

static void test_greedy_ties_lowest_id(void) {
    float lg[6] = {0.5f, 2.0f, -1.0f, 2.0f, 2.0f, NAN};
    int idx[6];
    double p[6];
    SampleStrategy g = {0.0f, 0, 1.0f};
    EXPECT(sample_token(lg, 6, &g, 0.99f, idx, p) == 1, "greedy tie: not the lowest id");
    float nan_first[3] = {NAN, 1.0f, 3.0f};
    EXPECT(sample_token(nan_first, 3, &g, 0.0f, idx, p) == 2, "greedy: a NaN logit won");
}

// Draws at u = (i + 0.5) / n: the share of each token approaches its probability.
static void draw_shares(const float *lg, int V, const SampleStrategy *s, int n, double *share) {
    int idx[16];
    double p[16];
    for (int v = 0; v < V; v++) share[v] = 0;
    for (int i = 0; i < n; i++) share[sample_token(lg, V, s, (float)((i + 0.5) / n), idx, p)] += 1.0 / n;
}

static void test_temperature_topk_topp(void) {
    const int V = 5, n = 20000;
    float lg[5] = {1.0f, 3.0f, 0.0f, 2.0f, 2.0f};
    double share[5], want[5], z = 0;
    SampleStrategy t = {0.7f, 0, 1.0f};
    for (int v = 0; v < V; v++) z += want[v] = exp(lg[v] / 0.7);
    draw_shares(lg, V, &t, n, share);
    double worst = 0;
    for (int v = 0; v < V; v++) worst = fmax(worst, fabs(share[v] - want[v] / z));
    EXPECT(worst < 1e-3, "temperature 0.7: shares differ from softmax by %.4f", worst);
    SampleStrategy k2 = {1.0f, 2, 1.0f}; // tokens 1 and 3 (3 before 4: lower id first)
    draw_shares(lg, V, &k2, n, share);
    double p1 = exp(3.0) / (exp(3.0) + exp(2.0));
    EXPECT(fabs(share[1] - p1) < 1e-3 && fabs(share[3] - (1 - p1)) < 1e-3 && share[4] == 0 &&
           share[0] == 0, "top-k 2: shares %.3f %.3f %.3f", share[1], share[3], share[4]);
    // p = (0.52, 0.19, 0.19, 0.07, 0.03) for tokens 1, 3, 4, 0, 2: top-p 0.6 keeps 1 and 3
    double p_all = exp(1.0) + exp(3.0) + exp(0.0) + 2 * exp(2.0), p3 = exp(2.0) / p_all;
    SampleStrategy tp = {1.0f, 0, 0.6f};
    draw_shares(lg, V, &tp, n, share);
    EXPECT(fabs(share[3] - p3 / (p3 + exp(3.0) / p_all)) < 1e-3 && share[4] == 0 &&
           share[0] == 0 && share[2] == 0, "top-p 0.6: shares %.3f %.3f %.3f %.3f %.3f",
           share[0], share[1], share[2], share[3], share[4]);
    SampleStrategy tp1 = {1.0f, 0, 0.5f}; // 0.52 >= 0.5: token 1 alone
    draw_shares(lg, V, &tp1, n, share);
    EXPECT(share[1] > 0.9999, "top-p 0.5: token 1 share %.5f", share[1]);
}

// ---------------------------------------------------------------------------
// sampling over a real-sized vocabulary (49,152: SmolLM2's) on a fixed context

typedef struct {
    const float *l;
} RefOrder;
static RefOrder ref_order;
// The reference order, written apart from the sampler: (logit desc, id asc).
static int ref_cmp(const void *a, const void *b) {
    int i = *(const int *)a, j = *(const int *)b;
    double x = ref_order.l[i], y = ref_order.l[j];
    return x > y ? -1 : x < y ? 1 : (i > j) - (i < j);
}

// The candidates of a strategy by definition: the whole vocabulary sorted, cut to top_k, then
// to the shortest prefix of mass >= top_p; p: their softmax weights at the temperature.
static int ref_candidates(const float *l, int V, const SampleStrategy *s, int *ord, double *p) {
    double mx = -INFINITY;
    for (int v = 0; v < V; v++) mx = fmax(mx, l[v]), ord[v] = v;
    for (int v = 0; v < V; v++) p[v] = exp(((double)l[v] - mx) / (double)s->temperature);
    ref_order.l = l;
    qsort(ord, (size_t)V, sizeof(int), ref_cmp);
    int n = s->top_k > 0 && s->top_k < V ? s->top_k : V;
    double total = 0, cum = 0;
    for (int i = 0; i < n; i++) total += p[ord[i]];
    if (s->top_p >= 1.0f) return n;
    int keep = 0;
    while (keep < n && (keep == 0 || cum < (double)s->top_p * total)) cum += p[ord[keep++]];
    return keep;
}

// The chi-square critical value at upper tail 0.001 (Wilson-Hilferty, z = 3.09).
static double chi2_crit(int df) {
    double a = 2.0 / (9.0 * df);
    return df * pow(1.0 - a + 3.09 * sqrt(a), 3);
}

// Draws n tokens with keyed uniforms and tests their counts against the reference softmax
// over the reference candidates (bins of expected count < 5 pooled); no token outside them.
static void check_vocab_draws(const float *l, int V, const SampleStrategy *s, int n,
                              const char *what) {
    int *ord = malloc((size_t)V * sizeof(int)), *idx = malloc((size_t)V * sizeof(int));
    double *p = malloc((size_t)V * sizeof(double)), *work = malloc((size_t)V * sizeof(double));
    int *rank = malloc((size_t)V * sizeof(int)), *count = calloc((size_t)V, sizeof(int));
    int nc = ref_candidates(l, V, s, ord, p), outside = 0;
    for (int v = 0; v < V; v++) rank[v] = -1;
    for (int i = 0; i < nc; i++) rank[ord[i]] = i;
    for (int i = 0; i < n; i++) {
        int t = sample_token(l, V, s, sample_uniform(5, 1000 + i, 0, 3), idx, work);
        if (rank[t] < 0) outside++;
        else count[rank[t]]++;
    }
    double total = 0, chi2 = 0, pool_e = 0, pool_o = 0;
    for (int i = 0; i < nc; i++) total += p[ord[i]];
    int bins = 0;
    for (int i = 0; i < nc; i++) {
        double e = n * p[ord[i]] / total;
        if (e < 5) pool_e += e, pool_o += count[i];
        else chi2 += (count[i] - e) * (count[i] - e) / e, bins++;
    }
    if (pool_e > 0) chi2 += (pool_o - pool_e) * (pool_o - pool_e) / pool_e, bins++;
    EXPECT(outside == 0, "%s: %d of %d draws outside the %d candidates", what, outside, n, nc);
    EXPECT(bins >= 10, "%s: only %d bins: the test says little", what, bins);
    EXPECT(chi2 < chi2_crit(bins - 1), "%s: chi-square %.1f over %d bins (critical %.1f at "
           "0.001)", what, chi2, bins, chi2_crit(bins - 1));
    printf("  %s: %d candidates, %d bins, chi-square %.1f (critical %.1f)\n", what, nc, bins,
           chi2, chi2_crit(bins - 1));
    free(ord), free(idx), free(p), free(work), free(rank), free(count);
}

static void test_large_vocab_chi_square(void) {
    const int V = 49152, T = 6;
    ModelConfig mc = {.vocab = V, .dim = 32, .n_layers = 1, .n_heads = 2, .n_kv_heads = 1,
                      .head_dim = 16, .ffn_dim = 64, .max_seq = 16, .rope_theta = 10000.0f,
                      .norm_eps = 1e-5f, .init_std = 0.5f, .tied = 1};
    Model m;
    model_init(&m, &mc, be, 7);
    int ctx[6] = {812, 40000, 7, 31337, 5, 49151};
    model_forward(&m, ctx, NULL, 1, T);
    float *all = malloc((size_t)T * V * sizeof(float));
    model_logits(&m, all);
    const float *l = all + (size_t)(T - 1) * V; // the next token after the context
    SampleStrategy full = {1.0f, 0, 1.0f}, k40 = {0.7f, 40, 1.0f}, p90 = {0.8f, 0, 0.9f},
                   kp = {1.0f, 200, 0.8f};
    check_vocab_draws(l, V, &full, 6000, "temperature 1, whole vocabulary");
    check_vocab_draws(l, V, &k40, 6000, "temperature 0.7, top-k 40");
    check_vocab_draws(l, V, &p90, 6000, "temperature 0.8, top-p 0.9");
    check_vocab_draws(l, V, &kp, 6000, "top-k 200 then top-p 0.8");
    free(all);
    model_free(&m);
}

static void test_uniform_keyed(void) {
    float a = sample_uniform(7, 3, 1, 5), b = sample_uniform(7, 3, 1, 5);
    EXPECT(a == b && a >= 0 && a < 1, "the same key gives %g and %g", a, b);
    int distinct = sample_uniform(7, 3, 1, 6) != a && sample_uniform(7, 3, 2, 5) != a &&
                   sample_uniform(7, 4, 1, 5) != a && sample_uniform(8, 3, 1, 5) != a;
    EXPECT(distinct, "changing position, sample, problem or seed left the draw unchanged");
}

static void test_pass_at_k(void) {
    EXPECT(fabs(sample_pass_at_k(4, 1, 1) - 0.25) < 1e-12, "pass@1 n4 c1");
    EXPECT(sample_pass_at_k(4, 1, 4) == 1.0 && sample_pass_at_k(4, 0, 4) == 0.0, "pass@4");
    EXPECT(fabs(sample_pass_at_k(5, 2, 2) - 0.7) < 1e-12, "pass@2 n5 c2: %g",
           sample_pass_at_k(5, 2, 2));
    EXPECT(fabs(sample_pass_at_k(10, 3, 5) - (1.0 - 21.0 / 252.0)) < 1e-12, "pass@5 n10 c3");
}

// ---------------------------------------------------------------------------
// the engine

typedef struct {
    Tokenizer tok;
    Model m;
    int *prompts[6];
    SampleRequest req[6];
    int n;
} Fixture;

// A random model and a tokenizer without extra special tokens: every token is one byte of
// text, or none (bos, eos, pad).
static void fixture_init(Fixture *f) {
    tokenizer_init(&f->tok, NULL, 0);
    ModelConfig mc = {.vocab = f->tok.vocab, .dim = 48, .n_layers = 2, .n_heads = 4,
                      .n_kv_heads = 2, .head_dim = 12, .ffn_dim = 64, .max_seq = 128,
                      .rope_theta = 10000.0f, .norm_eps = 1e-5f, .init_std = 0.3f, .tied = 1};
    model_init(&f->m, &mc, be, 21);
    const char *qs[] = {"Ann has 12 marbles.", "How many apples?", "Bob has 3 times as many.",
                        "Cara has 7 fewer marbles than Bob.", "x"};
    f->n = 5;
    for (int i = 0; i < f->n; i++) {
        f->prompts[i] = sample_encode_prompt(&f->tok, qs[i], &f->req[i].prompt_len);
        f->req[i].prompt = f->prompts[i];
        f->req[i].problem = 100 + i, f->req[i].sample = i % 2 ? -1 : 3, f->req[i].tag = i;
    }
}

static void fixture_free(Fixture *f) {
    for (int i = 0; i < f->n; i++) free(f->prompts[i]);
    model_free(&f->m);
    tokenizer_free(&f->tok);
}

static SampleConfig base_config(void) {
    SampleConfig c = {.strategy = {0.9f, 50, 0.95f}, .max_new_tokens = 40, .seed = 99,
                      .slots = 1, .prefill_tokens = 1000, .ctx = 128};
    return c;
}

static int same_results(const SampleResult *a, const SampleResult *b, int n) {
    for (int i = 0; i < n; i++)
        if (a[i].n_tokens != b[i].n_tokens || a[i].finish != b[i].finish ||
            a[i].text_len != b[i].text_len || memcmp(a[i].text, b[i].text, a[i].text_len))
            return 0;
    return 1;
}

static void test_batch_invariance(void) {
    Fixture f;
    fixture_init(&f);
    SampleConfig c = base_config();
    SampleResult ref[5], got[5];
    sample_generate(&f.m, &f.tok, &c, f.req, f.n, ref);
    const int variants[][2] = {{7, 1000}, {2, 3}, {3, 1}, {7, 5}};
    for (size_t v = 0; v < sizeof variants / sizeof variants[0]; v++) {
        c.slots = variants[v][0], c.prefill_tokens = variants[v][1];
        sample_generate(&f.m, &f.tok, &c, f.req, f.n, got);
        EXPECT(same_results(ref, got, f.n), "batch %d, prefill chunks of %d: samples differ "
               "from batch 1", c.slots, c.prefill_tokens);
        sample_results_free(got, f.n);
    }
    int tokens = 0;
    for (int i = 0; i < f.n; i++) tokens += ref[i].n_tokens;
    EXPECT(tokens > 3 * f.n, "only %d tokens generated: the comparison says little", tokens);
    // another seed changes the sampled ones, never the greedy ones
    c.seed = 100;
    sample_generate(&f.m, &f.tok, &c, f.req, f.n, got);
    EXPECT(same_results(ref + 1, got + 1, 1) && same_results(ref + 3, got + 3, 1),
           "greedy samples changed with the seed");
    EXPECT(!same_results(ref, got, 1) || !same_results(ref + 2, got + 2, 1),
           "sampled completions did not change with the seed");
    sample_results_free(got, f.n);
    sample_results_free(ref, f.n);
    fixture_free(&f);
}

// One request of the fixture with this config.
static SampleResult run_one(Fixture *f, const SampleConfig *c, const Tokenizer *tok, int i) {
    SampleResult r;
    sample_generate(&f->m, tok, c, &f->req[i], 1, &r);
    return r;
}

static void test_stop_eos_max_new(void) {
    Fixture f;
    fixture_init(&f);
    SampleConfig c = base_config();
    c.strategy.top_k = 0, c.strategy.top_p = 1.0f;
    Tokenizer no_eos = f.tok; // the free completion: no eos, 40 tokens
    no_eos.eos = -1;
    SampleResult full = run_one(&f, &c, &no_eos, 0);
    EXPECT(full.finish == SAMPLE_LENGTH && full.n_tokens == 40 && full.text_len >= 30,
           "40 tokens without eos expected (finish %s, %d tokens)", sample_finish_name(full.finish),
           full.n_tokens);
    // max_new_tokens
    c.max_new_tokens = 7;
    SampleResult r = run_one(&f, &c, &no_eos, 0);
    EXPECT(r.finish == SAMPLE_LENGTH && r.n_tokens == 7 && r.text_len <= full.text_len &&
           memcmp(r.text, full.text, r.text_len) == 0, "max_new_tokens 7: %d tokens, %s",
           r.n_tokens, sample_finish_name(r.finish));
    sample_results_free(&r, 1);
    // the context: a prompt of P tokens in a context of P + 5 gets 6 tokens
    c.max_new_tokens = 40, c.ctx = f.req[0].prompt_len + 5;
    r = run_one(&f, &c, &no_eos, 0);
    EXPECT(r.finish == SAMPLE_LENGTH && r.n_tokens == 6 && r.text_len <= 6 &&
           memcmp(r.text, full.text, r.text_len) == 0, "context limit: %d tokens, %s",
           r.n_tokens, sample_finish_name(r.finish));
    sample_results_free(&r, 1);
    c.ctx = 128;
    // a stop string: 3 bytes found at offset 10 of the free completion
    char stop[4];
    memcpy(stop, full.text + 10, 3), stop[3] = 0;
    size_t first = (size_t)((char *)memmem(full.text, full.text_len, stop, 3) - full.text);
    char *stops[] = {"never appears", stop};
    c.stop = stops, c.n_stop = 2;
    r = run_one(&f, &c, &no_eos, 0);
    EXPECT(r.finish == SAMPLE_STOP && r.text_len == first && memcmp(r.text, full.text, first) == 0,
           "stop string: finish %s, %zu bytes (want %zu)", sample_finish_name(r.finish),
           r.text_len, first);
    sample_results_free(&r, 1);
    c.stop = NULL, c.n_stop = 0;
    // eos: a tokenizer whose eos is the byte the free completion has at offset 4
    Tokenizer tok = f.tok;
    tok.eos = (unsigned char)full.text[4];
    first = (size_t)((char *)memchr(full.text, full.text[4], full.text_len) - full.text);
    r = run_one(&f, &c, &tok, 0);
    EXPECT(r.finish == SAMPLE_EOS && r.text_len == first && memcmp(r.text, full.text, first) == 0
           && r.n_tokens > (int)first && r.n_tokens < full.n_tokens,
           "eos: finish %s, %zu bytes, %d tokens (want %zu bytes)", sample_finish_name(r.finish),
           r.text_len, r.n_tokens, first);
    sample_results_free(&r, 1);
    sample_results_free(&full, 1);
    fixture_free(&f);
}

// ---------------------------------------------------------------------------
// files

static void test_utf8_clean(void) {
    const char in[] = "ok \xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80 bad \xFF \xC3 \xED\xA0\x80 x";
    char *out = sample_utf8_clean(in, sizeof in - 1);
    EXPECT(strcmp(out, "ok \xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80 bad \xEF\xBF\xBD \xEF\xBF\xBD "
                       "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD x") == 0, "got '%s'", out);
    free(out);
    char nul[3] = {'a', 0, 'b'};
    out = sample_utf8_clean(nul, 3);
    EXPECT(strcmp(out, "a\xEF\xBF\xBD" "b") == 0, "NUL: got '%s'", out);
    free(out);
}

static void write_text(const char *path, const char *text) {
    FILE *f = lm_fopen(path, "w");
    fputs(text, f);
    fclose(f);
}

static char *read_text(const char *path) {
    size_t n;
    char *t = lm_read_file(path, &n);
    return t ? t : lm_strdup("");
}

static void test_parts_repair_merge(void) {
    char dir[] = "/tmp/lemma_test_sample_XXXXXX", path[256], path2[256];
    LM_CHECK(mkdtemp(dir), "mkdtemp");
    snprintf(path, sizeof path, "%s/samples", dir);
    lm_mkdir_p(path);
    sample_part_path(dir, 0, path, sizeof path);
    sample_part_path(dir, 1, path2, sizeof path2);
    write_text(path, "{\"problem\":1,\"sample\":1,\"correct\":true,\"x\":1}\n"
                     "{\"problem\":0,\"sample\":-1,\"correct\":false}\n"
                     "not json\n"
                     "{\"problem\":0,\"sample\":0,\"corr");
    write_text(path2, "{\"problem\":0,\"sample\":1,\"correct\":false}\n"
                      "{\"problem\":1,\"sample\":1,\"correct\":false,\"dup\":1}\n"
                      "{\"problem\":1,\"sample\":0,\"correct\":true}\n"
                      "{\"problem\":0,\"sample\":0,\"correct\":true}\n"
                      "{\"problem\":5,\"sample\":0,\"correct\":true}\n");
    long cut = sample_part_repair(path);
    char *t = read_text(path);
    EXPECT(cut == (long)strlen("{\"problem\":0,\"sample\":0,\"corr") && t[strlen(t) - 1] == '\n',
           "repair cut %ld bytes", cut);
    free(t);
    EXPECT(sample_part_repair(path) == 0, "a whole file changed");
    SampleSummary s;
    memset(&s, 0, sizeof s);
    char err[256];
    EXPECT(sample_merge(dir, 2, 2, 1, &s, err, sizeof err) == 0, "merge: %s", err);
    snprintf(path, sizeof path, "%s/samples.jsonl", dir);
    t = read_text(path);
    EXPECT(strcmp(t, "{\"problem\":0,\"sample\":0,\"correct\":true}\n"
                     "{\"problem\":0,\"sample\":1,\"correct\":false}\n"
                     "{\"problem\":1,\"sample\":0,\"correct\":true}\n"
                     "{\"problem\":1,\"sample\":1,\"correct\":true,\"x\":1}\n") == 0,
           "merged samples.jsonl:\n%s", t);
    free(t);
    EXPECT(s.samples == 4 && s.correct == 3 && s.sampled == 2 && s.greedy_n == 1 &&
           s.greedy_correct == 0 && fabs(s.pass_at_k - 1.0) < 1e-12 &&
           fabs(s.mean_accuracy - 0.75) < 1e-12, "summary: %ld samples %ld correct pass@k %g",
           s.samples, s.correct, s.pass_at_k);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    EXPECT(system(cmd) == 0, "cleanup");
}

int main(void) {
    be = backend_cpu_create(0);
    RUN_TEST(test_greedy_ties_lowest_id);
    RUN_TEST(test_temperature_topk_topp);
    RUN_TEST(test_large_vocab_chi_square);
    RUN_TEST(test_uniform_keyed);
    RUN_TEST(test_pass_at_k);
    RUN_TEST(test_batch_invariance);
    RUN_TEST(test_stop_eos_max_new);
    RUN_TEST(test_utf8_clean);
    RUN_TEST(test_parts_repair_merge);
    backend_destroy(be);
    TEST_EXIT();
}
