// tests/unit/test_model_ref.c: parity of the C model (CPU backend) with the independent
// PyTorch reference tests/ref/model_ref.py: logits, loss, every parameter gradient and the
// losses of 10 AdamW steps, over GQA, tied/untied heads, QKV bias, loss masks, odd T, B > 1.
#include "harness.h"
#include "lemma/backend.h"
#include "lemma/model.h"
#include "support.h"
#include "lemma/util.h"

#include <cJSON.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

typedef struct {
    const char *name;
    int dim, n_layers, n_heads, n_kv_heads, ffn, vocab, B, T, qkv_bias, tied;
    float grad_clip;
    int packed; // rows hold several records (seg ids, positions restarting per record)
} Case;

static int STEPS = 10;
static const float LR = 3e-3f, B1 = 0.9f, B2 = 0.95f, EPS = 1e-8f, WD = 0.1f;

static void write_bin(const char *dir, const char *name, const void *p, size_t bytes) {
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = lm_fopen(path, "wb");
    LM_CHECK(fwrite(p, 1, bytes, f) == bytes, "short write %s", path);
    fclose(f);
}

static int read_bin(const char *dir, const char *name, void *p, size_t bytes) {
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "rb");
    if (!f) return -1;
    size_t got = fread(p, 1, bytes, f);
    fclose(f);
    return got == bytes ? 0 : -1;
}

static void write_config(const char *dir, const Case *c, const Model *m) {
    const ModelConfig *mc = &m->cfg;
    cJSON *j = cJSON_CreateObject();
    cJSON_AddNumberToObject(j, "vocab", mc->vocab);
    cJSON_AddNumberToObject(j, "dim", mc->dim);
    cJSON_AddNumberToObject(j, "n_layers", mc->n_layers);
    cJSON_AddNumberToObject(j, "n_heads", mc->n_heads);
    cJSON_AddNumberToObject(j, "n_kv_heads", mc->n_kv_heads);
    cJSON_AddNumberToObject(j, "head_dim", mc->head_dim);
    cJSON_AddNumberToObject(j, "ffn_dim", mc->ffn_dim);
    cJSON_AddNumberToObject(j, "rope_theta", mc->rope_theta);
    cJSON_AddNumberToObject(j, "norm_eps", mc->norm_eps);
    cJSON_AddBoolToObject(j, "qkv_bias", mc->qkv_bias);
    cJSON_AddBoolToObject(j, "tied", mc->tied);
    cJSON_AddNumberToObject(j, "B", c->B);
    cJSON_AddNumberToObject(j, "T", c->T);
    cJSON_AddNumberToObject(j, "steps", STEPS);
    cJSON_AddNumberToObject(j, "lr", LR);
    cJSON_AddNumberToObject(j, "beta1", B1);
    cJSON_AddNumberToObject(j, "beta2", B2);
    cJSON_AddNumberToObject(j, "eps", EPS);
    cJSON_AddNumberToObject(j, "weight_decay", WD);
    cJSON_AddNumberToObject(j, "grad_clip", c->grad_clip);
    cJSON_AddBoolToObject(j, "use_seg", c->packed);
    cJSON_AddNumberToObject(j, "n_params", (double)m->layout.n_params);
    cJSON *ps = cJSON_AddArrayToObject(j, "params");
    for (int i = 0; i < m->layout.n_views; i++) {
        const ParamView *v = &m->layout.views[i];
        cJSON *p = cJSON_CreateObject();
        cJSON_AddStringToObject(p, "name", v->name);
        cJSON_AddNumberToObject(p, "offset", (double)v->offset);
        cJSON_AddNumberToObject(p, "numel", (double)v->numel);
        cJSON *shape = cJSON_AddArrayToObject(p, "shape");
        for (int d = 0; d < v->ndim; d++) cJSON_AddItemToArray(shape, cJSON_CreateNumber(v->shape[d]));
        cJSON_AddNumberToObject(p, "decay", v->decay);
        cJSON_AddItemToArray(ps, p);
    }
    char *txt = cJSON_Print(j);
    write_bin(dir, "config.json", txt, strlen(txt));
    free(txt);
    cJSON_Delete(j);
}

// Random parameters with non-trivial norms and biases, so that every path is exercised.
static void random_params(const Model *m, float *h, uint64_t seed) {
    for (int i = 0; i < m->layout.n_views; i++) {
        const ParamView *v = &m->layout.views[i];
        int is_norm = v->ndim == 1 && strstr(v->name, "norm");
        for (size_t j = 0; j < v->numel; j++) {
            float z = lm_rng_normal(seed, LM_STREAM_TEST, v->offset + j);
            h[v->offset + j] = is_norm ? 1.0f + 0.2f * z : (v->ndim == 1 ? 0.1f * z : 0.15f * z);
        }
    }
}

// Tokens random; targets the next token with about a third of the rows masked (-1),
// including a fully masked prefix in batch row 0 (a prompt).
static void random_batches(const Case *c, int *tok, int *tgt, uint64_t seed) {
    size_t n = (size_t)STEPS * c->B * c->T;
    for (size_t i = 0; i < n; i++) tok[i] = (int)(lm_rng_u32(seed, 7, i) % (uint32_t)c->vocab);
    for (size_t i = 0; i < n; i++) {
        int t = (int)(i % c->T);
        int masked = (lm_rng_u32(seed, 8, i) % 3 == 0) || (i % ((size_t)c->B * c->T) < 3);
        tgt[i] = masked ? -1 : (t + 1 < c->T ? tok[i + 1] : (int)(lm_rng_u32(seed, 9, i) % c->vocab));
    }
}

// Packed rows: records of 2 to 6 tokens one after the other; pos restarts at each record.
static void make_packing(const Case *c, int *seg, int *pos) {
    for (int b = 0; b < c->B; b++) {
        int id = 0, start = 0, len = 2 + (int)(lm_rng_u32(5, 3, (uint64_t)b) % 5);
        for (int t = 0; t < c->T; t++) {
            if (t - start == len) {
                id++, start = t;
                len = 2 + (int)(lm_rng_u32(5, 3, (uint64_t)(b * 1000 + t)) % 5);
            }
            seg[b * c->T + t] = id;
            pos[b * c->T + t] = t - start;
        }
    }
}

static void run_case(const Case *c) {
    char dir[] = "/tmp/lemma_ref_XXXXXX";
    LM_CHECK(mkdtemp(dir), "mkdtemp");
    ModelConfig mc = {.vocab = c->vocab, .dim = c->dim, .n_layers = c->n_layers,
                      .n_heads = c->n_heads, .n_kv_heads = c->n_kv_heads,
                      .head_dim = c->dim / c->n_heads, .ffn_dim = c->ffn, .max_seq = 64,
                      .rope_theta = 10000.0f, .norm_eps = 1e-5f, .init_std = 0.02f,
                      .qkv_bias = c->qkv_bias, .tied = c->tied};
    Backend *be = backend_cpu_create(0);
    Model m;
    model_init(&m, &mc, be, 42);
    size_t P = m.layout.n_params, BT = (size_t)c->B * c->T, V = (size_t)c->vocab;
    float *p0 = lm_malloc(P * 4), *g = lm_malloc(P * 4), *gref = lm_malloc(P * 4);
    float *logits = lm_malloc(BT * V * 4), *lref = lm_malloc(BT * V * 4);
    int *tok = lm_malloc((size_t)STEPS * BT * 4), *tgt = lm_malloc((size_t)STEPS * BT * 4);
    random_params(&m, p0, 1000 + (uint64_t)c->dim);
    model_set_params(&m, p0);
    random_batches(c, tok, tgt, 77);
    write_config(dir, c, &m);
    write_bin(dir, "params.f32", p0, P * 4);
    write_bin(dir, "tokens.i32", tok, (size_t)STEPS * BT * 4);
    write_bin(dir, "targets.i32", tgt, (size_t)STEPS * BT * 4);
    int *seg = lm_malloc(BT * 4), *pos = lm_malloc(BT * 4);
    make_packing(c, seg, pos);
    if (c->packed) write_bin(dir, "seg.i32", seg, BT * 4);
#define PACK() (c->packed ? model_set_packing(&m, seg, pos) : (void)0)
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "/usr/bin/python3 tests/ref/model_ref.py %s", dir);
    int rc = system(cmd);
    EXPECT(rc == 0, "%s: reference failed (%d)", c->name, rc);
    if (rc != 0) goto done;

    // Logits and loss at the initial parameters.
    float loss_ref = 0;
    EXPECT(read_bin(dir, "ref_loss.f32", &loss_ref, 4) == 0, "read ref_loss");
    EXPECT(read_bin(dir, "ref_logits.f32", lref, BT * V * 4) == 0, "read ref_logits");
    model_zero_grad(&m);
    PACK();
    float loss = model_forward(&m, tok, tgt, c->B, c->T);
    model_logits(&m, logits);
    // Relative error of the logits as a whole (an element near zero has no meaningful
    // relative error of its own).
    double e_logits = th_rel_l2(logits, lref, BT * V);
    EXPECT(e_logits < 1e-5, "%s: logits relative L2 error %.3g", c->name, e_logits);
    EXPECT(fabsf(loss - loss_ref) <= 1e-5f * fabsf(loss_ref), "%s: loss %.8f vs %.8f", c->name,
           loss, loss_ref);

    // Every parameter gradient.
    EXPECT(read_bin(dir, "ref_grads.f32", gref, P * 4) == 0, "read ref_grads");
    PACK();
    model_forward_backward(&m, tok, tgt, c->B, c->T, 1.0f / (float)m.n_valid);
    model_get_grads(&m, g);
    double worst_g = 0;
    for (int i = 0; i < m.layout.n_views; i++) {
        const ParamView *v = &m.layout.views[i];
        double e = th_rel_l2(g + v->offset, gref + v->offset, v->numel);
        EXPECT(e < 1e-4, "%s: gradient of %s: rel L2 error %.3g", c->name, v->name, e);
        if (e > worst_g) worst_g = e;
    }

    // Ten AdamW steps, one batch each.
    float lref10[64];
    EXPECT(read_bin(dir, "ref_losses.f32", lref10, STEPS * sizeof(float)) == 0, "read ref_losses");
    AdamWConfig ac = {LR, B1, B2, EPS, WD, c->grad_clip};
    double worst_l = 0;
    model_set_params(&m, p0);
    for (int s = 0; s < STEPS; s++) {
        model_zero_grad(&m);
        int n_valid = 0;
        for (size_t i = 0; i < BT; i++) n_valid += tgt[s * BT + i] >= 0;
        PACK();
        float l = model_forward_backward(&m, tok + s * BT, tgt + s * BT, c->B, c->T,
                                         1.0f / (float)n_valid);
        model_adamw_step(&m, &ac, LR, s + 1, 1.0f);
        EXPECT(fabsf(l - lref10[s]) <= 1e-5f * fabsf(lref10[s]), "%s: step %d loss %.8f vs %.8f",
               c->name, s, l, lref10[s]);
        double e = fabs((double)l - lref10[s]) / fabs((double)lref10[s]);
        if (e > worst_l) worst_l = e;
    }
    printf("# %s: logits rel L2 %.2g, loss rel %.2g, worst gradient rel L2 %.2g, worst of %d "
           "AdamW losses rel %.2g\n", c->name, e_logits, fabs(loss - loss_ref) / fabs(loss_ref),
           worst_g, STEPS, worst_l);
    if (getenv("LEMMA_REF_KEEP")) {
        model_get_params(&m, g);
        write_bin(dir, "c_params_final.f32", g, P * 4);
        fprintf(stderr, "kept %s\n", dir);
        goto keep;
    }
done:
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);
keep:
    free(seg), free(pos);
    free(p0), free(g), free(gref), free(logits), free(lref), free(tok), free(tgt);
    model_free(&m);
    backend_destroy(be);
}

static void test_gqa_tied_masked(void) {
    Case c = {"gqa_tied", 32, 2, 4, 2, 48, 259, 2, 7, 0, 1, 0.0f, 0};
    run_case(&c);
}
static void test_mha_untied_bias(void) {
    Case c = {"mha_untied_bias", 24, 2, 3, 3, 40, 260, 3, 9, 1, 0, 0.0f, 0};
    run_case(&c);
}
static void test_gqa_untied_bias_clip(void) {
    Case c = {"gqa_untied_bias_clip", 32, 3, 4, 1, 64, 261, 2, 13, 1, 0, 0.5f, 0};
    run_case(&c);
}
static void test_packed_records(void) {
    Case c = {"packed_records", 32, 2, 4, 2, 48, 260, 2, 23, 1, 1, 0.0f, 1};
    run_case(&c);
}

int main(void) {
    if (getenv("LEMMA_REF_STEPS")) STEPS = atoi(getenv("LEMMA_REF_STEPS"));
    RUN_TEST(test_gqa_tied_masked);
    RUN_TEST(test_mha_untied_bias);
    RUN_TEST(test_gqa_untied_bias_clip);
    RUN_TEST(test_packed_records);
    TEST_EXIT();
}
