// model: the LLaMA-style decoder (RMSNorm, RoPE, grouped-query attention, SwiGLU, optional
// QKV bias, tied or untied LM head), its parameter layout (one fp32 buffer with named views),
// forward and backward orchestration over the backend ops, AdamW, the learning-rate
// schedule.
#ifndef LEMMA_MODEL_H
#define LEMMA_MODEL_H

#include "lemma/backend.h"
#include "lemma/config.h"

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

// ---------------------------------------------------------------------------
// Architecture and parameter layout.

typedef struct {
    int vocab, dim, n_layers, n_heads, n_kv_heads, head_dim, ffn_dim, max_seq;
    float rope_theta, norm_eps, init_std;
    int qkv_bias, tied;
    // LLaMA-3.1 frequency scaling (rope_scaling of type "llama3"); rope_factor 0: none.
    float rope_factor, rope_low_freq_factor, rope_high_freq_factor;
    int rope_orig_max_seq;
} ModelConfig;

// model.* keys plus the tokenizer's vocabulary (model_config_check tells whether they fit).
void model_config_from(ModelConfig *mc, const Config *cfg, int vocab);
// Checks the shape rules (dim % n_heads, n_heads % n_kv_heads, even head_dim, max_seq); 0 or
// -1 with a message in err that names the keys.
int model_config_check(const ModelConfig *mc, char *err, size_t err_len);

enum { PV_MAX_NAME = 48 };
typedef struct {
    char name[PV_MAX_NAME]; // "layers.3.attn.wq"
    size_t offset, numel;   // in floats, into the parameter buffer
    int ndim, shape[2];
    int decay;              // 1 for matrices (weight decay), 0 for norms and biases
    int layer;              // block index, -1 for embedding / final norm / head
} ParamView;

// Offsets of one block's tensors (in floats). wq, wk, wv are adjacent (one fused QKV matmul),
// so are bq, bk, bv, and w1, w3 (one fused matmul).
typedef struct {
    size_t attn_norm, wqkv, bqkv, wo, mlp_norm, w13, w2;
    size_t begin, end; // the block's span of the buffer
} LayerOffsets;

typedef struct {
    size_t tok_emb, norm, lm_head; // lm_head == tok_emb when tied
    LayerOffsets *layers;
    size_t n_params;
    int n_views;
    ParamView *views;
} ParamLayout;

void param_layout_build(ParamLayout *pl, const ModelConfig *mc);
void param_layout_free(ParamLayout *pl);
// The RoPE frequencies (head_dim / 2): theta^(-2i/hd), with LLaMA-3.1's scaling when
// rope_factor > 0 (low frequencies divided by the factor, high ones kept, a smooth blend
// between; as transformers' "llama3" rope type).
void model_rope_freqs(const ModelConfig *mc, double *inv_freq);
// The architecture as a JSON object text (malloc'd), stored in checkpoints.
char *model_config_json(const ModelConfig *mc);

// ---------------------------------------------------------------------------
// The model on a backend.

typedef struct {
    int B, T, N;         // allocated for
    int chunk;           // rows per LM-head chunk
    // forward (act dtype unless noted)
    void *x;             // residual stream, (2L+1) x (N,C): x[0] embeddings, 2 per block
    void *ln1, *ln2;     // per block (N,C) normalised inputs of attention and MLP
    float *rstd1, *rstd2;// per block (N) fp32
    void *qkv;           // per block (N, QKVd) after RoPE
    void *att;           // per block (N, H*hd) attention output
    float *lse;          // per block (B,H,T) fp32
    void *h13;           // per block (N, 2F)
    void *sw;            // per block (N, F) SwiGLU output
    void *lnf;           // (N,C) final norm output
    float *rstdf;        // (N)
    void *proj;          // (N,C) scratch: output of wo / w2
    void *logits;        // (chunk, V)
    float *losses;       // (N) fp32
    int *tok, *tgt;      // (N) int32 in backend memory
    int *seg, *pos;      // (N) record ids and positions of packed rows (backend memory)
    int *tok_host, *tgt_host;
    float *loss_host;    // (N)
    // backward scratch
    void *dx, *dln, *dqkv, *datt, *dh13, *dsw;
} ModelActs;

// Called during the backward pass each time a span of the gradient buffer is final
// (each block, then the embedding / head / final norm), so that its reduction can start.
typedef void (*GradReadyFn)(void *ctx, size_t offset, size_t numel);

typedef struct {
    ModelConfig cfg;
    ParamLayout layout;
    Backend *be;
    double *rope_freq;     // (head_dim / 2) host: model_rope_freqs
    float *params, *grads; // fp32, backend memory, same layout (grads: from the first
                           // model_zero_grad or backward; inference needs none)
    void *cparams;         // compute copy in the act dtype (== params when act is fp32)
    float *m, *v;          // AdamW moments of [opt_lo, opt_hi) (allocated by the first step)
    size_t opt_lo, opt_hi; // the slice of the parameters this rank updates (default: all)
    int opt_range_set;
    ModelActs acts;
    int has_acts;
    int fwd_B, fwd_T;      // shape of the last forward
    const int *pack_seg, *pack_pos; // packing of the next forward (host), NULL: plain rows
    int packed;            // the last forward used seg/pos
    int n_valid;           // targets counted by the last forward
    double loss_sum;       // sum of per-token losses of the last forward
    GradReadyFn grad_ready;
    void *grad_ready_ctx;
} Model;

// Allocates the parameters on the backend and initialises them from (seed, LM_STREAM_INIT):
// matrices N(0, init_std), output projections (wo, w2) N(0, init_std / sqrt(2 L)),
// norms 1, biases 0.
void model_init(Model *m, const ModelConfig *mc, Backend *be, uint64_t seed);
// The buffers of the model alone (parameters unset: model_set_params follows), e.g. for
// imported weights.
void model_alloc(Model *m, const ModelConfig *mc, Backend *be);
void model_free(Model *m);
void model_set_params(Model *m, const float *host);  // all n_params, then the compute copy
void model_get_params(const Model *m, float *host);
void model_zero_grad(Model *m);
// After params were written in place (host-memory backends): the compute copy follows.
void model_params_changed(Model *m);
// (Re)allocates activations for batches up to B x T.
void model_alloc_acts(Model *m, int B, int T);
// The bytes model_alloc_acts allocates on be for (B,T).
size_t model_acts_bytes(const ModelConfig *mc, const Backend *be, int B, int T);
// Frees what only training needs (activations, gradients, optimizer moments and range): a
// phase that only decodes after a training phase does not carry them.
void model_release_training(Model *m);

// Packed rows for the next forward (and its backward): seg (B*T) record ids (attention stays
// inside a record) and pos (B*T) positions within the record (RoPE). Host arrays that must
// stay valid until the forward; NULL, NULL for plain rows (positions 0..T-1).
void model_set_packing(Model *m, const int *seg_host, const int *pos_host);

// Forward over tokens (B,T). With targets (B,T, -1 = no loss) returns the mean loss over
// the targets given (0 if none) and sets n_valid and loss_sum; targets may be NULL.
float model_forward(Model *m, const int *tokens_host, const int *targets_host, int B, int T);
// Forward and backward: gradients of dscale * sum of the per-token losses are *added* to
// m->grads (use dscale = 1 / n_valid for the mean). Returns the mean loss as model_forward.
float model_forward_backward(Model *m, const int *tokens_host, const int *targets_host, int B,
                             int T, float dscale);
// After a forward: fp32 logits (B*T, V) on the host.
void model_logits(Model *m, float *host_out);

typedef struct {
    float lr, beta1, beta2, eps, weight_decay, grad_clip;
} AdamWConfig;

// Sum of squares of the gradients [lo, hi), and the global gradient norm.
double model_grad_sumsq(Model *m, size_t lo, size_t hi);
double model_grad_norm(Model *m);
// The factor that clips a gradient of norm `norm` to `clip` (1 when clip is 0 or not reached).
float adamw_clip_scale(double norm, float clip);
// Sharded optimizer state: this rank updates (and keeps moments for) [lo, hi) only. Before
// the first step.
void model_set_opt_range(Model *m, size_t lo, size_t hi);
// Allocates zeroed AdamW moments for the optimizer range (done by the first update).
void model_alloc_moments(Model *m);
// Forgets the optimizer: frees the moments and the range (a new training phase starts
// from the parameters alone, e.g. fine-tuning after pretraining in the same process).
void model_reset_optimizer(Model *m);
// AdamW step t (>= 1) on the optimizer range with the gradients multiplied by gscale (which
// includes any clipping).
void model_adamw_update(Model *m, const AdamWConfig *ac, float lr, int t, float gscale);

// Learning rate at step (0-based) of total: linear warmup to lr over warmup steps, then
// cosine decay to lr * min_frac.
float lr_schedule(int step, int total, float lr, int warmup, float min_frac);

// ---------------------------------------------------------------------------
// Decoding: a KV cache and a forward pass over "rows" that each feed one token of one
// sequence (src/model/decode.c, docs/sampling.md). The cache has `slots` sequences of `ctx`
// positions per layer; a step takes any mix of rows: several consecutive prompt tokens of a
// slot (prefill, in chunks) and one token each of generating slots (decode). Every row is
// computed on its own (matmul_rows, attention_decode): its result does not depend on the
// other rows of the step, so chunking and batching never change a sequence's logits (on the
// CPU bitwise; on the GPU up to rounding).

typedef struct {
    int slots, ctx;        // cache: sequences, positions per sequence
    int stride;            // positions allocated per sequence: ctx rounded up to 16
    int max_rows;          // rows per step
    int max_logits;        // rows per step that may ask for logits
    DType kv;              // cache dtype (fp32 or bf16, whatever the act dtype)
    void *kc, *vc;         // L x (slots, KV, stride/16, hd, 16) keys (backend.h), (slots,
                           // KV, stride, hd) values
    void *x, *ln, *qkv, *att, *proj, *h13, *sw; // (max_rows, ...) activations, act dtype
    float *rstd;           // (max_rows) fp32
    void *logits;          // (max_logits, V) act dtype
    int *tok, *slot, *pos; // (max_rows) int32, backend memory
    float *logits_host;    // (max_logits, V) fp32
    // The matmul weights as matmul_rows reads them (backend pack_rows: copies taken at
    // init, so a decode state sees the weights of that moment); where the backend packs
    // nothing, pointers into the model's parameters.
    const void **wqkv, **wo, **w13, **w2; // (n_layers) each, one allocation from wqkv
    const void *lm_head;
} ModelDecode;

// Allocates the cache (zeroed, dtype kv: DT_F32 or DT_BF16) and the step buffers for a
// model: slots sequences of up to ctx (<= model.max_seq) positions, max_rows rows per step,
// max_logits (<= max_rows) of them with logits. Takes the matmul weights as they are now:
// after they change (training), free and init again.
void model_decode_init(ModelDecode *d, Model *m, int slots, int ctx, int max_rows,
                       int max_logits, DType kv);
void model_decode_free(ModelDecode *d, Model *m);
// The bytes model_decode_init allocates for these arguments on be (packed weights included).
size_t model_decode_bytes(const ModelConfig *mc, const Backend *be, int slots, int ctx,
                          int max_rows, int max_logits, DType kv);
// One step over n rows: row i feeds token tok[i] at position pos[i] of slot slot[i] (its
// keys and values go into the cache; positions 0 .. pos[i]-1 of the slot must have been fed
// by earlier steps or earlier rows of this one). The last n_logits rows get logits: returns
// fp32 host logits (n_logits, V), valid until the next step. Fatal on an out-of-range row.
const float *model_decode_step(Model *m, ModelDecode *d, const int *tok, const int *slot,
                               const int *pos, int n, int n_logits);

#ifdef __cplusplus
}
#endif
#endif
