// tests/gpu/test_gpu_model.c: the whole model on the GPU against the CPU backend: one
// forward and backward of a small model (logits, loss, every gradient) in fp32 and bf16,
// and 50 training steps whose loss curve must follow the CPU's. Needs a CUDA device.
#include "harness.h"
#include "lemma/backend.h"
#include "lemma/model.h"
#include "support.h"
#include "lemma/util.h"

#include <string.h>

static ModelConfig small_config(int vocab) {
    ModelConfig mc = {.vocab = vocab, .dim = 128, .n_layers = 2, .n_heads = 4, .n_kv_heads = 2,
                      .head_dim = 32, .ffn_dim = 256, .max_seq = 128, .rope_theta = 10000.0f,
                      .norm_eps = 1e-5f, .init_std = 0.02f, .qkv_bias = 1, .tied = 0};
    return mc;
}

static void random_params(const Model *m, float *h, uint64_t seed) {
    for (int i = 0; i < m->layout.n_views; i++) {
        const ParamView *v = &m->layout.views[i];
        int is_norm = v->ndim == 1 && strstr(v->name, "norm");
        for (size_t j = 0; j < v->numel; j++) {
            float z = lm_rng_normal(seed, LM_STREAM_TEST, v->offset + j);
            h[v->offset + j] = is_norm ? 1.0f + 0.2f * z : (v->ndim == 1 ? 0.05f * z : 0.08f * z);
        }
    }
}

typedef struct {
    float loss;
    float *logits, *grads;
} Result;

static Result run_once(Backend *be, const ModelConfig *mc, const float *params, const int *tok,
                       const int *tgt, int B, int T) {
    Model m;
    model_init(&m, mc, be, 1);
    model_set_params(&m, params);
    Result r;
    size_t N = (size_t)B * T;
    r.logits = lm_malloc(N * mc->vocab * sizeof(float));
    r.grads = lm_malloc(m.layout.n_params * sizeof(float));
    int n_valid = 0;
    for (size_t i = 0; i < N; i++) n_valid += tgt[i] >= 0;
    model_zero_grad(&m);
    r.loss = model_forward_backward(&m, tok, tgt, B, T, 1.0f / (float)n_valid);
    model_logits(&m, r.logits);
    model_get_grads(&m, r.grads);
    model_free(&m);
    return r;
}

static void compare_fwd_bwd(DType act, double tol_logits, double tol_loss, double tol_grad) {
    char err[256];
    Backend *cpu = backend_cpu_create(0);
    Backend *gpu = backend_cuda_create(0, act, err, sizeof err);
    EXPECT(gpu != NULL, "no CUDA backend: %s", err);
    if (!gpu) return;
    ModelConfig mc = small_config(260);
    ParamLayout pl;
    param_layout_build(&pl, &mc);
    float *params = lm_malloc(pl.n_params * sizeof(float));
    Model tmp = {.layout = pl};
    random_params(&tmp, params, 5);
    int B = 3, T = 67, N = B * T;
    int *tok = lm_malloc(N * sizeof(int)), *tgt = lm_malloc(N * sizeof(int));
    for (int i = 0; i < N; i++) {
        tok[i] = (int)(lm_rng_u32(11, LM_STREAM_TEST, i) % 260);
        tgt[i] = (i % 5 == 0) ? -1 : (int)(lm_rng_u32(12, LM_STREAM_TEST, i) % 260);
    }
    Result a = run_once(cpu, &mc, params, tok, tgt, B, T);
    Result b = run_once(gpu, &mc, params, tok, tgt, B, T);
    double el = th_rel_l2(b.logits, a.logits, (size_t)N * mc.vocab);
    double eloss = fabs((double)b.loss - a.loss) / fabs((double)a.loss);
    EXPECT(el < tol_logits, "logits rel L2 %.3g >= %.1g", el, tol_logits);
    EXPECT(eloss < tol_loss, "loss %.7f vs CPU %.7f", b.loss, a.loss);
    double worst = 0;
    const char *worst_name = "";
    for (int i = 0; i < pl.n_views; i++) {
        const ParamView *v = &pl.views[i];
        double e = th_rel_l2(b.grads + v->offset, a.grads + v->offset, v->numel);
        EXPECT(e < tol_grad, "gradient of %s rel L2 %.3g >= %.1g", v->name, e, tol_grad);
        if (e > worst || isnan(e)) worst = e, worst_name = v->name;
    }
    printf("# %s: logits rel L2 %.2g, loss rel %.2g, worst gradient %s rel L2 %.2g\n",
           act == DT_BF16 ? "bf16" : "fp32", el, eloss, worst_name, worst);
    free(a.logits), free(a.grads), free(b.logits), free(b.grads);
    free(params), free(tok), free(tgt);
    param_layout_free(&pl);
    backend_destroy(gpu);
    backend_destroy(cpu);
}

static void test_fp32_forward_backward(void) { compare_fwd_bwd(DT_F32, 1e-5, 1e-5, 1e-4); }
static void test_bf16_forward_backward(void) { compare_fwd_bwd(DT_BF16, 2e-2, 1e-2, 5e-2); }

enum { CURVE_STEPS = 50 };

static void curve(Backend *be, float *losses) {
    Tokenizer tok;
    char *special[] = {"[BACK]"};
    tokenizer_init(&tok, special, 1);
    ModelConfig mc = small_config(tok.vocab);
    Model m;
    model_init(&m, &mc, be, 3);
    ToyCorpus corpus = {9, 100, &tok, 0};
    SimpleTrainConfig tc = {.B = 8, .T = 64, .steps = CURVE_STEPS, .grad_accum = 1, .warmup = 5,
                            .lr = 3e-3f, .min_lr_frac = 0.1f,
                            .adamw = {3e-3f, 0.9f, 0.95f, 1e-8f, 0.1f, 1.0f}, .log_every = 0};
    train_simple(&m, &tc, toy_batch, &corpus, losses);
    model_free(&m);
    tokenizer_free(&tok);
}

// fp32 must follow the CPU step by step (tol per step). bf16 rounding shifts the moment the
// loss drops from one plateau to the next by a step or two, so its curve is compared as means
// over windows of 10 steps (tol per window): a wrong gradient departs by far more.
static double curve_departure(const float *lg, const float *lc, int window) {
    double worst = 0;
    for (int s0 = 0; s0 < CURVE_STEPS; s0 += window) {
        double a = 0, c = 0;
        for (int s = s0; s < s0 + window && s < CURVE_STEPS; s++) a += lg[s], c += lc[s];
        double e = fabs(a - c) / fabs(c);
        if (e > worst || isnan(e)) worst = e;
    }
    return worst;
}

static void compare_curves(DType act, double tol, int window) {
    char err[256];
    Backend *cpu = backend_cpu_create(0);
    Backend *gpu = backend_cuda_create(0, act, err, sizeof err);
    EXPECT(gpu != NULL, "no CUDA backend: %s", err);
    if (!gpu) return;
    float lc[CURVE_STEPS], lg[CURVE_STEPS];
    curve(cpu, lc);
    curve(gpu, lg);
    double worst = curve_departure(lg, lc, window);
    const char *name = act == DT_BF16 ? "bf16" : "fp32";
    EXPECT(worst < tol, "%s loss curve departs from the CPU's by %.3g (> %.1g over windows of %d)",
           name, worst, tol, window);
    EXPECT(lg[CURVE_STEPS - 1] < 0.7f * lg[0], "GPU loss did not fall: %.4f -> %.4f", lg[0],
           lg[CURVE_STEPS - 1]);
    printf("# %s curve: step 0 %.4f/%.4f, step 25 %.4f/%.4f, step 49 %.4f/%.4f (GPU/CPU), "
           "worst rel departure %.2g (windows of %d)\n", name, lg[0], lc[0], lg[25], lc[25],
           lg[49], lc[49], worst, window);
    backend_destroy(gpu);
    backend_destroy(cpu);
}

static void test_fp32_training_curve(void) { compare_curves(DT_F32, 1e-3, 1); }
static void test_bf16_training_curve(void) { compare_curves(DT_BF16, 1e-1, 10); }

int main(void) {
    if (backend_cuda_device_count() == 0) {
        printf("FAIL no_gpu: no CUDA device\n");
        return 1;
    }
    RUN_TEST(test_fp32_forward_backward);
    RUN_TEST(test_bf16_forward_backward);
    RUN_TEST(test_fp32_training_curve);
    RUN_TEST(test_bf16_training_curve);
    TEST_EXIT();
}
