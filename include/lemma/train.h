// train: training drivers. For now the single-process driver used by tests, benchmarks and
// the demo (the data-parallel training phase with checkpoints builds on it), and the toy
// addition corpus it trains on before the task generator exists.
#ifndef LEMMA_TRAIN_H
#define LEMMA_TRAIN_H

#include "lemma/model.h"

#ifdef __cplusplus
extern "C" {
#endif

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
// The train.* keys of a config as a SimpleTrainConfig (micro_batch, seq_len, steps, ...).
void train_config_from(SimpleTrainConfig *c, const Config *cfg);

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

// Greedy completion of prompt (at most max_new tokens, stopping at a newline or eos);
// returns a malloc'd string.
char *model_greedy_complete(Model *m, const Tokenizer *tok, const char *prompt, int max_new);

#ifdef __cplusplus
}
#endif
#endif
