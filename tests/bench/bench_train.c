// tests/bench/bench_train.c: training throughput (forward + backward + AdamW) of a
// LLaMA-style model on random tokens, on the CPU or the GPU. Prints one JSON line
// {"impl": "lemma", "tokens_per_s", "step_ms", "mfu", ...}; --profile adds the per-op table.
//   bench_train --dim 256 --layers 6 --heads 8 --kv-heads 4 --ffn 768 --seq 256 --batch 8
//               [--vocab 260] [--steps 10] [--warmup 3] [--threads 2]
//               [--device cpu|cuda] [--precision bf16|fp32] [--peak-tflops 989] [--profile]
#include "lemma/backend.h"
#include "lemma/model.h"
#include "support.h"
#include "lemma/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    int dim, layers, heads, kv_heads, ffn, seq, batch, vocab, steps, warmup, threads, profile;
    const char *device, *precision;
    double peak_tflops;
} BenchArgs;

static void parse(int argc, char **argv, BenchArgs *a) {
    *a = (BenchArgs){256, 6, 8, 4, 768, 256, 8, 260, 10, 3, 0, 0, "cpu", "bf16", 989.0};
    for (int i = 1; i < argc; i++) {
        const char *k = argv[i], *v = i + 1 < argc ? argv[i + 1] : "0";
        int used = 1;
        if (!strcmp(k, "--dim")) a->dim = atoi(v);
        else if (!strcmp(k, "--layers")) a->layers = atoi(v);
        else if (!strcmp(k, "--heads")) a->heads = atoi(v);
        else if (!strcmp(k, "--kv-heads")) a->kv_heads = atoi(v);
        else if (!strcmp(k, "--ffn")) a->ffn = atoi(v);
        else if (!strcmp(k, "--seq")) a->seq = atoi(v);
        else if (!strcmp(k, "--batch")) a->batch = atoi(v);
        else if (!strcmp(k, "--vocab")) a->vocab = atoi(v);
        else if (!strcmp(k, "--steps")) a->steps = atoi(v);
        else if (!strcmp(k, "--warmup")) a->warmup = atoi(v);
        else if (!strcmp(k, "--threads")) a->threads = atoi(v);
        else if (!strcmp(k, "--device")) a->device = v;
        else if (!strcmp(k, "--precision")) a->precision = v;
        else if (!strcmp(k, "--peak-tflops")) a->peak_tflops = atof(v);
        else if (!strcmp(k, "--profile")) a->profile = 1, used = 0;
        else {
            fprintf(stderr, "bench_train: unknown argument %s\n", k);
            exit(2);
        }
        i += used;
    }
}

typedef struct {
    int vocab;
} RandomData;

static void random_batch(void *ctx, int step, int *tok, int *tgt, int B, int T) {
    RandomData *r = ctx;
    for (int i = 0; i < B * T; i++) {
        tok[i] = (int)(lm_rng_u32(7, LM_STREAM_DATA, (uint64_t)step * B * T + i) % (uint32_t)r->vocab);
        tgt[i] = (int)(lm_rng_u32(8, LM_STREAM_DATA, (uint64_t)step * B * T + i) % (uint32_t)r->vocab);
    }
}

int main(int argc, char **argv) {
    backend_cpu_reexec_for_blas(argv);
    BenchArgs a;
    parse(argc, argv, &a);
    ModelConfig mc = {.vocab = a.vocab, .dim = a.dim, .n_layers = a.layers, .n_heads = a.heads,
                      .n_kv_heads = a.kv_heads, .head_dim = a.dim / a.heads, .ffn_dim = a.ffn,
                      .max_seq = a.seq, .rope_theta = 10000.0f, .norm_eps = 1e-5f,
                      .init_std = 0.02f, .qkv_bias = 0, .tied = 0}; // untied, as the PyTorch side
    char err[256];
    if (model_config_check(&mc, err, sizeof err)) {
        fprintf(stderr, "bench_train: %s\n", err);
        return 2;
    }
    Backend *inner = backend_create(a.device, a.precision, a.threads, 0);
    Backend *be = a.profile ? backend_profile_wrap(inner) : inner;
    Model m;
    model_init(&m, &mc, be, 1);
    SimpleTrainConfig tc = {.B = a.batch, .T = a.seq, .steps = a.warmup, .grad_accum = 1,
                            .warmup = 0, .lr = 1e-4f, .min_lr_frac = 1.0f,
                            .adamw = {1e-4f, 0.9f, 0.95f, 1e-8f, 0.1f, 1.0f}, .log_every = 0};
    RandomData rd = {a.vocab};
    train_simple(&m, &tc, random_batch, &rd, NULL); // warm-up, not timed
    if (a.profile) backend_profile_reset(be);
    tc.steps = a.steps;
    SimpleTrainResult r = train_simple(&m, &tc, random_batch, &rd, NULL);
    double tps = r.tokens / r.seconds;
    double flops = 3.0 * model_flops_per_token(&mc, a.seq) * tps;
    double mfu = !strcmp(inner->name, "cuda") ? flops / (a.peak_tflops * 1e12) : 0.0;
    printf("{\"impl\": \"lemma\", \"device\": \"%s\", \"precision\": \"%s\", \"dim\": %d, "
           "\"layers\": %d, \"heads\": %d, \"kv_heads\": %d, \"ffn\": %d, \"seq\": %d, "
           "\"batch\": %d, \"threads\": %d, \"params\": %zu, \"tokens_per_s\": %.1f, "
           "\"step_ms\": %.2f, \"tflops\": %.2f, \"mfu\": %.4f, \"loss\": %.4f}\n",
           inner->name, inner->act == DT_BF16 ? "bf16" : "fp32", a.dim, a.layers, a.heads,
           a.kv_heads, a.ffn, a.seq, a.batch, inner->threads, m.layout.n_params, tps,
           1e3 * r.seconds / a.steps, flops / 1e12, mfu, r.last_loss);
    if (a.profile) backend_profile_report(be, stdout);
    model_free(&m);
    if (a.profile) backend_destroy(be);
    backend_destroy(inner);
    return 0;
}
