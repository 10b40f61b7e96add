// tests/bench/bench_sample.c: sampling throughput of the decode path: `batch` sequences with
// random prompts of `prompt` tokens each generate `new` tokens at temperature 0.7 (no eos,
// no stop strings) through the sampling engine (KV cache, continuous batching machinery,
// token draws included). Timed: the decode steps after every prompt is in the cache. Also
// measured in the same run, with the same threads: the sgemm rate (1024^3, best of 5) and
// the read bandwidth over a buffer as large as the weights, for the batch-1 bound (one
// token costs at least one pass over the weights, and its FLOPs at the sgemm rate). Prints
// one JSON line; --profile adds the per-op table. --model PATH decodes a real model instead
// (a Hugging Face directory or a GGUF file, as `lemma generate` opens it: the weights in
// fp32, its architecture instead of --dim ... --vocab; random prompts over its vocabulary;
// tokens appended as text through the byte tokenizer, whose pieces past 255 are empty).
//   bench_sample --dim 256 --layers 6 --heads 8 --kv-heads 4 --ffn 768 --batch 64
//                [--prompt 64] [--new 128] [--vocab 260] [--threads 2] [--model PATH]
//                [--device cpu|cuda] [--precision bf16|fp32] [--kv-cache bf16|fp32]
//                [--profile]
//                [--rates-only | --sgemm-gflops X --read-gbps Y]
// --rates-only prints the machine's rates alone (for the weights of this model size), so
// that a script can measure them once, under the OpenMP settings best for OpenBLAS, and
// pass them to the decoding runs (whose spinning OpenMP threads would slow OpenBLAS down).
#include "bench_model.h"
#include "lemma/backend.h"
#include "lemma/model.h"
#include "support.h"
#include "lemma/sample.h"
#include "lemma/util.h"

#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    int dim, layers, heads, kv_heads, ffn, batch, prompt, n_new, vocab, threads, profile, rates_only;
    double sgemm, read; // rates given on the command line (0: measure them here)
    const char *device, *precision, *kv_cache; // kv_cache: as sample.kv_cache (default bf16)
    const char *model; // --model PATH, or NULL: the random model of --dim ... --vocab
} BenchArgs;

static void parse(int argc, char **argv, BenchArgs *a) {
    *a = (BenchArgs){256, 6, 8, 4, 768, 64, 64, 128, 260, 0, 0, 0, 0, 0, "cpu", "bf16", "bf16", NULL};
    for (int i = 1; i < argc; i++) {
        const char *k = argv[i], *v = i + 1 < argc ? argv[i + 1] : "0";
        int used = 1;
        if (!strcmp(k, "--dim")) a->dim = atoi(v);
        else if (!strcmp(k, "--layers")) a->layers = atoi(v);
        else if (!strcmp(k, "--heads")) a->heads = atoi(v);
        else if (!strcmp(k, "--kv-heads")) a->kv_heads = atoi(v);
        else if (!strcmp(k, "--ffn")) a->ffn = atoi(v);
        else if (!strcmp(k, "--batch")) a->batch = atoi(v);
        else if (!strcmp(k, "--prompt")) a->prompt = atoi(v);
        else if (!strcmp(k, "--new")) a->n_new = atoi(v);
        else if (!strcmp(k, "--vocab")) a->vocab = atoi(v);
        else if (!strcmp(k, "--threads")) a->threads = atoi(v);
        else if (!strcmp(k, "--device")) a->device = v;
        else if (!strcmp(k, "--precision")) a->precision = v;
        else if (!strcmp(k, "--kv-cache")) a->kv_cache = v;
        else if (!strcmp(k, "--model")) a->model = v;
        else if (!strcmp(k, "--sgemm-gflops")) a->sgemm = atof(v);
        else if (!strcmp(k, "--read-gbps")) a->read = atof(v);
        else if (!strcmp(k, "--profile")) a->profile = 1, used = 0;
        else if (!strcmp(k, "--rates-only")) a->rates_only = 1, used = 0;
        else {
            fprintf(stderr, "bench_sample: unknown argument %s\n", k);
            exit(2);
        }
        i += used;
    }
    if (strcmp(a->kv_cache, "bf16") && strcmp(a->kv_cache, "fp32")) {
        fprintf(stderr, "bench_sample: --kv-cache %s (bf16 or fp32)\n", a->kv_cache);
        exit(2);
    }
    if (a->batch < 1 || a->prompt < 1 || a->n_new < 2) {
        fprintf(stderr, "bench_sample: need batch >= 1, prompt >= 1, new >= 2\n");
        exit(2);
    }
}

// sgemm GFLOP/s of the CPU backend (OpenBLAS) on 1024^3, best of 5.
static double sgemm_gflops(int threads) {
    Backend *b = backend_cpu_create(threads);
    const int n = 1024;
    float *x = lm_malloc((size_t)n * n * 4), *w = lm_malloc((size_t)n * n * 4), *o = lm_malloc((size_t)n * n * 4);
    for (size_t i = 0; i < (size_t)n * n; i++) x[i] = 1e-3f * (float)(i % 7), w[i] = 1e-3f * (float)(i % 5);
    b->matmul_fwd(b, o, x, w, NULL, n, n, n);
    double best = 1e30;
    for (int r = 0; r < 5; r++) {
        double t0 = lm_now();
        b->matmul_fwd(b, o, x, w, NULL, n, n, n);
        double dt = lm_now() - t0;
        best = dt < best ? dt : best;
    }
    free(x), free(w), free(o);
    backend_destroy(b);
    return 2.0 * n * n * n / best / 1e9;
}

// Read bandwidth (GB/s) over a buffer of `bytes`, summed by every thread, best of 5.
static double read_gbps(size_t bytes) {
    size_t n = bytes / sizeof(float);
    float *buf = lm_malloc(n * sizeof(float));
    for (size_t i = 0; i < n; i++) buf[i] = (float)(i & 7);
    double best = 1e30, sink = 0;
    for (int r = 0; r < 6; r++) {
        double t0 = lm_now(), s = 0;
#pragma omp parallel for simd reduction(+ : s) schedule(static)
        for (size_t i = 0; i < n; i++) s += buf[i];
        double dt = lm_now() - t0;
        sink += s;
        if (r > 0) best = dt < best ? dt : best;
    }
    free(buf);
    return sink < 0 ? 0 : (double)bytes / best / 1e9;
}

// The requests: random prompts of ids below `range`, greedy off.
static SampleRequest *make_requests(const BenchArgs *a, int range, int **prompts) {
    SampleRequest *r = lm_calloc((size_t)a->batch, sizeof(SampleRequest));
    *prompts = lm_malloc((size_t)a->batch * a->prompt * sizeof(int));
    for (int b = 0; b < a->batch; b++) {
        int *p = *prompts + (size_t)b * a->prompt;
        for (int t = 0; t < a->prompt; t++)
            p[t] = (int)(lm_rng_u32(5, LM_STREAM_DATA, (uint64_t)b * a->prompt + t) % (uint32_t)range);
        r[b].prompt = p, r[b].prompt_len = a->prompt, r[b].problem = b, r[b].sample = 0;
    }
    return r;
}

typedef struct {
    SampleRequest *reqs;
    int n, next;
} Feed;

static int feed_source(void *ctx, SampleRequest *r) {
    Feed *f = ctx;
    if (f->next >= f->n) return 0;
    *r = f->reqs[f->next++];
    return 1;
}

static void feed_sink(void *ctx, const SampleResult *r) { (void)ctx, (void)r; }

int main(int argc, char **argv) {
    backend_cpu_reexec_for_blas(argv);
    BenchArgs a;
    parse(argc, argv, &a);
    if (a.threads <= 0) a.threads = omp_get_max_threads();
    ModelConfig mc = {.vocab = a.vocab, .dim = a.dim, .n_layers = a.layers, .n_heads = a.heads,
                      .n_kv_heads = a.kv_heads, .head_dim = a.dim / a.heads, .ffn_dim = a.ffn,
                      .max_seq = a.prompt + a.n_new, .rope_theta = 10000.0f, .norm_eps = 1e-5f,
                      .init_std = 0.02f, .qkv_bias = 0, .tied = 0}; // untied, as the PyTorch side
    ImportModel *im = a.model ? bench_model_open("bench_sample", a.model, &mc) : NULL;
    char err[256];
    if (model_config_check(&mc, err, sizeof err)) {
        fprintf(stderr, "bench_sample: %s\n", err);
        return 2;
    }
    if (a.prompt + a.n_new > mc.max_seq) {
        fprintf(stderr, "bench_sample: prompt + new = %d exceeds the model's context %d\n",
                a.prompt + a.n_new, mc.max_seq);
        return 2;
    }
    if (a.rates_only) {
        double weights = (double)model_config_n_params(&mc) * sizeof(float);
        printf("{\"sgemm_gflops\": %.2f, \"read_gbps\": %.2f}\n", sgemm_gflops(a.threads),
               read_gbps((size_t)weights));
        if (im) import_close(im);
        return 0;
    }
    Tokenizer tok;
    tokenizer_init(&tok, NULL, 0);
    tok.eos = -1; // every sequence generates `new` tokens
    Backend *inner = backend_create(a.device, a.precision, a.threads, 0);
    Backend *be = a.profile ? backend_profile_wrap(inner) : inner;
    Model m;
    if (im) bench_model_load("bench_sample", im, &mc, &m, be);
    else model_init(&m, &mc, be, 1);
    int *prompts;
    SampleRequest *reqs = make_requests(&a, a.model ? mc.vocab : 256, &prompts);
    SampleConfig c = {.strategy = {0.7f, 0, 1.0f}, .max_new_tokens = a.n_new, .seed = 1,
                      .slots = a.batch, .prefill_tokens = a.batch * a.prompt, .ctx = mc.max_seq,
                      .kv = strcmp(a.kv_cache, "bf16") ? DT_F32 : DT_BF16};
    SampleEngine *e = sample_engine_create(&m, &tok, &c);
    Feed f = {reqs, a.batch, 0};
    double t0 = lm_now(); // one step: every prompt into the cache, every first token drawn
    sample_engine_step(e, feed_source, &f, feed_sink, NULL);
    be->sync(be);
    double t1 = lm_now();
    if (a.profile) backend_profile_reset(be);
    while (sample_engine_step(e, feed_source, &f, feed_sink, NULL) > 0) {
    }
    be->sync(be);
    double t2 = lm_now();
    long decoded = sample_engine_tokens(e) - a.batch;
    double tps = decoded / (t2 - t1);
    double flops_tok = model_flops_per_token(&mc, a.prompt + a.n_new / 2); // mean context
    double weights = (double)model_config_n_params(&mc) * inner->act_size;
    int cpu = !strcmp(inner->name, "cpu");
    double sg = cpu ? (a.sgemm > 0 ? a.sgemm : sgemm_gflops(a.threads)) : 0;
    double bw = cpu ? (a.read > 0 ? a.read : read_gbps((size_t)weights)) : 0;
    double bound = cpu ? 1.0 / fmax(weights / (bw * 1e9), flops_tok / (sg * 1e9)) : 0;
    printf("{\"impl\": \"lemma\", \"model\": \"%s\", \"device\": \"%s\", \"precision\": \"%s\", "
           "\"dim\": %d, \"layers\": %d, \"vocab\": %d, \"params\": %zu, \"kv_cache\": \"%s\", "
           "\"batch\": %d, \"prompt\": %d, \"new\": %d, \"threads\": %d, "
           "\"tokens_per_s\": %.1f, \"step_ms\": %.3f, \"prefill_s\": %.3f, \"gflops\": %.2f, "
           "\"sgemm_gflops\": %.2f, \"frac_sgemm\": %.4f, \"read_gbps\": %.2f, "
           "\"bound_tokens_per_s\": %.1f}\n",
           a.model ? "imported" : "random", inner->name, inner->act == DT_BF16 ? "bf16" : "fp32", mc.dim,
           mc.n_layers, mc.vocab, m.layout.n_params, a.kv_cache, a.batch,
           a.prompt, a.n_new, inner->threads, tps, 1e3 * (t2 - t1) / (a.n_new - 1), t1 - t0,
           tps * flops_tok / 1e9, sg, sg > 0 ? tps * flops_tok / 1e9 / sg : 0, bw, bound);
    if (a.profile) backend_profile_report(be, stdout);
    sample_engine_free(e);
    free(reqs), free(prompts);
    model_free(&m);
    if (a.profile) backend_destroy(be);
    backend_destroy(inner);
    tokenizer_free(&tok);
    return 0;
}
