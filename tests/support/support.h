// tests/support/support.h: what tests and benchmarks share beyond the library: a
// single-process training loop (gradient accumulation, AdamW, cosine schedule, clipping) and
// a toy addition corpus.
#ifndef LEMMA_TEST_SUPPORT_H
#define LEMMA_TEST_SUPPORT_H

#include "lemma/backend.h"
#include "lemma/model.h"
#include "lemma/tokenizer.h"

#include <stdint.h>

// Fills tokens and targets (B,T) for step `step`; targets -1 where no loss is wanted.
typedef void (*BatchFn)(void *ctx, int step, int *tokens, int *targets, int B, int T);

typedef struct {
    int B, T;         // micro-batch
    int steps;        // optimizer steps
    int grad_accum;   // micro-batches per step
    int warmup;       // warmup steps
    float lr, min_lr_frac;
    AdamWConfig adamw;
    int log_every;    // 0: silent
} SimpleTrainConfig;

typedef struct {
    double seconds;   // wall time of the whole loop
    long tokens;      // tokens processed (B*T per micro-batch)
    float first_loss, last_loss;
} SimpleTrainResult;

// Trains m for c->steps steps; losses_out (may be NULL) receives each step's mean loss.
SimpleTrainResult train_simple(Model *m, const SimpleTrainConfig *c, BatchFn next, void *ctx,
                               float *losses_out);

// Toy corpus: lines "a+b=c\n" with operands below `max_operand`, drawn from
// (seed, LM_STREAM_DATA, index). Loss only on the answer and the newline.
typedef struct {
    uint64_t seed;
    int max_operand;
    const Tokenizer *tok;
    long next_line;   // index of the next line drawn
} ToyCorpus;

void toy_batch(void *ctx, int step, int *tokens, int *targets, int B, int T);
// Writes problem i of the held-out range ("a+b=") into buf and returns the answer.
int toy_problem(const ToyCorpus *tc, long i, char *buf, size_t len);


// Single-process AdamW step: the norm of all gradients times gscale, clipping to grad_clip
// (0: off), then the update; returns the norm measured after gscale.
double model_adamw_step(Model *m, const AdamWConfig *ac, float lr, int t, float gscale);
// All gradients (n_params fp32) to the host.
void model_get_grads(const Model *m, float *host);
// Parameters of an architecture.
size_t model_config_n_params(const ModelConfig *mc);
// Forward FLOPs per token (matmuls and attention at sequence length T), for MFU.
double model_flops_per_token(const ModelConfig *mc, int T);

// A backend that forwards every op to `inner` and times it (synchronising after each op), for
// the per-op breakdown of the benchmarks. backend_profile_report prints the table;
// destroying the wrapper leaves inner alive.
Backend *backend_profile_wrap(Backend *inner);
void backend_profile_report(Backend *prof, FILE *f);
void backend_profile_reset(Backend *prof);

#endif
