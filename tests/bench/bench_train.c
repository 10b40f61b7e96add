// tests/bench/bench_train.c: training throughput (forward + backward + AdamW) of a
// LLaMA-style model on random tokens, on the CPU or the GPU. Prints one JSON line
// {"impl": "lemma", "tokens_per_s", "step_ms", "mfu", ...}; --profile adds the per-op table
// and one line with the share of the step spent in the LM head (its matmuls, forward and
// backward) and the cross-entropy. --model PATH trains a real model instead (a Hugging Face
// directory or a GGUF file, as `model.from` opens it: its architecture instead of --dim ...
// --vocab, its weights dequantized to fp32).
//   bench_train --dim 256 --layers 6 --heads 8 --kv-heads 4 --ffn 768 --seq 256 --batch 8
//               [--vocab 260] [--steps 10] [--warmup 3] [--threads 2] [--model PATH]
//               [--device cpu|cuda] [--precision bf16|fp32] [--peak-tflops 989] [--profile]
#include "bench_model.h"
#include "lemma/backend.h"
#include "lemma/model.h"
#include "support.h"
#include "lemma/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    int dim, layers, heads, kv_heads, ffn, seq, batch, vocab, steps, warmup, threads, profile;
    const char *device, *precision, *model;
    double peak_tflops;
} BenchArgs;

static void parse(int argc, char **argv, BenchArgs *a) {
    *a = (BenchArgs){256, 6, 8, 4, 768, 256, 8, 260, 10, 3, 0, 0, "cpu", "bf16", NULL, 989.0};
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
        else if (!strcmp(k, "--model")) a->model = v;
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

// The LM head's share of a step: a layer over the (profiling) backend that times the head's
// matmuls (those with the head's weight: the logits, and the backward into the final norm and
// the head's weight gradient) and the cross-entropy. The profiler synchronises around each
// op, so these wall times are the ops' own.
typedef struct {
    Backend *below;
    const void *w; // the head's compute weight (the embedding's when tied)
    double mm_fwd, mm_bwd, ce;
} HeadTimer;
static HeadTimer head_timer;

static void head_mm_fwd(Backend *b, void *o, const void *i, const void *w, const void *bias, int N,
                        int C, int OC) {
    (void)b;
    double t0 = lm_now();
    head_timer.below->matmul_fwd(head_timer.below, o, i, w, bias, N, C, OC);
    if (w == head_timer.w) head_timer.mm_fwd += lm_now() - t0;
}

static void head_mm_bwd(Backend *b, void *di, float *dw, float *db, const void *d, const void *i,
                        const void *w, int N, int C, int OC) {
    (void)b;
    double t0 = lm_now();
    head_timer.below->matmul_bwd(head_timer.below, di, dw, db, d, i, w, N, C, OC);
    if (w == head_timer.w) head_timer.mm_bwd += lm_now() - t0;
}

static void head_ce(Backend *b, float *l, void *dl, const void *lg, const int *t, int N, int V,
                    float s) {
    (void)b;
    double t0 = lm_now();
    head_timer.below->crossentropy(head_timer.below, l, dl, lg, t, N, V, s);
    head_timer.ce += lm_now() - t0;
}

// A copy of `below` (the profiler, whose ops take their state from impl) with the three ops
// replaced; not destroyed (below is). head_timer.w is set once the model has its weights.
static Backend *head_timer_wrap(Backend *below, Backend *storage) {
    head_timer = (HeadTimer){below, NULL, 0, 0, 0};
    *storage = *below;
    storage->matmul_fwd = head_mm_fwd, storage->matmul_bwd = head_mm_bwd;
    storage->crossentropy = head_ce;
    return storage;
}

int main(int argc, char **argv) {
    backend_cpu_reexec_for_blas(argv);
    BenchArgs a;
    parse(argc, argv, &a);
    ModelConfig mc = {.vocab = a.vocab, .dim = a.dim, .n_layers = a.layers, .n_heads = a.heads,
                      .n_kv_heads = a.kv_heads, .head_dim = a.dim / a.heads, .ffn_dim = a.ffn,
                      .max_seq = a.seq, .rope_theta = 10000.0f, .norm_eps = 1e-5f,
                      .init_std = 0.02f, .qkv_bias = 0, .tied = 0}; // untied, as the PyTorch side
    ImportModel *im = a.model ? bench_model_open("bench_train", a.model, &mc) : NULL;
    char err[256];
    if (model_config_check(&mc, err, sizeof err)) {
        fprintf(stderr, "bench_train: %s\n", err);
        return 2;
    }
    if (a.seq > mc.max_seq) {
        fprintf(stderr, "bench_train: seq %d exceeds the model's context %d\n", a.seq, mc.max_seq);
        return 2;
    }
    Backend *inner = backend_create(a.device, a.precision, a.threads, 0);
    Backend *be = a.profile ? backend_profile_wrap(inner) : inner;
    Backend head_storage; // with --profile the model runs on the head timer over the profiler
    Backend *mb = a.profile ? head_timer_wrap(be, &head_storage) : be;
    Model m;
    if (im) bench_model_load("bench_train", im, &mc, &m, mb);
    else model_init(&m, &mc, mb, 1);
    head_timer.w = (const char *)m.cparams + m.layout.lm_head * mb->act_size;
    SimpleTrainConfig tc = {.B = a.batch, .T = a.seq, .steps = a.warmup, .grad_accum = 1,
                            .warmup = 0, .lr = 1e-4f, .min_lr_frac = 1.0f,
                            .adamw = {1e-4f, 0.9f, 0.95f, 1e-8f, 0.1f, 1.0f}, .log_every = 0};
    RandomData rd = {mc.vocab};
    train_simple(&m, &tc, random_batch, &rd, NULL); // warm-up, not timed
    if (a.profile) {
        backend_profile_reset(be);
        head_timer.mm_fwd = head_timer.mm_bwd = head_timer.ce = 0;
    }
    tc.steps = a.steps;
    SimpleTrainResult r = train_simple(&m, &tc, random_batch, &rd, NULL);
    double tps = r.tokens / r.seconds;
    double flops = 3.0 * model_flops_per_token(&mc, a.seq) * tps;
    double mfu = !strcmp(inner->name, "cuda") ? flops / (a.peak_tflops * 1e12) : 0.0;
    printf("{\"impl\": \"lemma\", \"model\": \"%s\", \"device\": \"%s\", \"precision\": \"%s\", "
           "\"dim\": %d, \"layers\": %d, \"heads\": %d, \"kv_heads\": %d, \"ffn\": %d, "
           "\"vocab\": %d, \"tied\": %d, \"seq\": %d, \"batch\": %d, \"threads\": %d, "
           "\"params\": %zu, \"tokens_per_s\": %.1f, \"step_ms\": %.2f, \"tflops\": %.2f, "
           "\"mfu\": %.4f, \"loss\": %.4f}\n",
           a.model ? "imported" : "random", inner->name, inner->act == DT_BF16 ? "bf16" : "fp32",
           mc.dim, mc.n_layers, mc.n_heads, mc.n_kv_heads, mc.ffn_dim, mc.vocab, mc.tied, a.seq,
           a.batch, inner->threads, m.layout.n_params, tps, 1e3 * r.seconds / a.steps,
           flops / 1e12, mfu, r.last_loss);
    if (a.profile) {
        backend_profile_report(be, stdout);
        HeadTimer *h = &head_timer;
        double head = h->mm_fwd + h->mm_bwd + h->ce;
        printf("LM head + cross-entropy (vocab %d): %.1f ms of a %.1f ms step = %.1f %% "
               "(head matmul forward %.1f %%, backward %.1f %%, cross-entropy %.1f %%)\n",
               mc.vocab, 1e3 * head / a.steps, 1e3 * r.seconds / a.steps, 100 * head / r.seconds,
               100 * h->mm_fwd / r.seconds, 100 * h->mm_bwd / r.seconds, 100 * h->ce / r.seconds);
    }
    model_free(&m);
    if (a.profile) backend_destroy(be);
    backend_destroy(inner);
    return 0;
}
