// train: the data-parallel training phase (packed records, gradient accumulation, MPI
// reduction overlapped with the backward pass, optional sharded optimizer state, HDF5
// checkpoints with resume, signals and time limits, metrics) and the train command.
#ifndef LEMMA_TRAIN_H
#define LEMMA_TRAIN_H

#include "lemma/ckpt.h"
#include "lemma/model.h"
#include "lemma/tokenizer.h"
#include "lemma/tasks.h"

#ifdef __cplusplus
extern "C" {
#endif

// ---------------------------------------------------------------------------
// Training data: records tokenised as bos + prompt + response + eos; loss on the response
// and eos only. Records longer than seq_len + 1 tokens are left out (counted).

typedef struct {
    int *tok;        // all records' tokens, one after another
    long *start;     // record r is tok[start[r] .. start[r + 1])
    int *prompt_len; // tokens at the start of each record with no loss: bos + prompt (and
                     // the repeated wrong solution when mask_mistakes)
    long n, cap, n_tok, cap_tok;
    long n_too_long; // records left out for length
    int seq_len;
    int mask_mistakes;       // loading: no loss on a record's first `mistake_chars` bytes
    long n_masked;           // records loaded with their mistake masked
} TrainData;

void train_data_init(TrainData *d, int seq_len);
void train_data_free(TrainData *d);
// Adds one record; -1 when it is too long (counted in n_too_long).
int train_data_add(TrainData *d, const Tokenizer *tok, const char *prompt, const char *response);
// The same with no loss on the response's first `skip` bytes either (they stay in the input).
int train_data_add_masked(TrainData *d, const Tokenizer *tok, const char *prompt,
                          const char *response, size_t skip);
// Appends n records of src to d, chosen by a permutation drawn from seed (n <= src->n).
void train_data_append_sample(TrainData *d, const TrainData *src, long n, uint64_t seed);
// Training records {prompt, response, ...} from JSONL; 0, or 2 with err filled.
int train_data_load(TrainData *d, const Tokenizer *tok, const char *path, double max_bad,
                    char *err, size_t err_len);
// The same, only records whose `kind` is one of kinds[0..n_kinds) (n_kinds 0: all records).
// *n_kept (may be NULL) gets the records added.
int train_data_load_kinds(TrainData *d, const Tokenizer *tok, const char *path,
                          const char *const *kinds, int n_kinds, double max_bad, long *n_kept,
                          char *err, size_t err_len);
// Training records as the config says: `records` (a JSONL file of records) when not empty,
// else chain-of-thought records of the problems in data.train, else of data.train_size
// built-in training problems. 0, or 2 with err filled.
int train_data_from_config(TrainData *d, const Config *cfg, const Tokenizer *tok,
                           const char *records, char *err, size_t err_len);
// Chain-of-thought records of the built-in train problems 0 .. n-1 (prompt: tasks_prompt of
// the question, response: the solution); -1 when the generator fails.
int train_data_generate(TrainData *d, const Tokenizer *tok, const GenParams *gp, long n);

// One epoch's rows: records in an order drawn from (seed, epoch), packed greedily into rows of
// seq_len + 1 tokens; row k holds the records rec[row_start[k] .. row_start[k + 1]).
typedef struct {
    long epoch, n_rows;
    long *row_start, *rec;
} EpochPlan;

void train_plan_epoch(EpochPlan *p, const TrainData *d, uint64_t seed, long epoch);
void train_plan_free(EpochPlan *p);
// Row `row` as model inputs of length seq_len: tokens, targets (-1: no loss), record ids and
// positions (for the model's packing). Returns the number of targets.
int train_fill_row(const TrainData *d, const EpochPlan *p, long row, int pad, int *tok, int *tgt,
                   int *seg, int *pos);

// ---------------------------------------------------------------------------
// The training phase.

typedef struct {
    int steps, micro_batch, seq_len, warmup;
    long batch_tokens;
    float lr, min_lr_frac;
    AdamWConfig adamw;
    int zero, overlap, resume, max_nan_skips, log_every, ckpt_every, ckpt_keep;
    long stop_after;         // stop (as on a signal) after this step; 0: off
    double deadline;         // lm_now() value at which to checkpoint and stop; 0: none
    uint64_t seed;
    const char *run_dir, *phase;
    const Config *cfg;       // the effective config (its dump goes into each checkpoint)
    const char *ckpt_dir;    // checkpoints in CKPT_DIR/ckpt (run_dir, or RUN_DIR/<phase> in the pipeline)
} TrainOptions;

// The train.*, ckpt.*, log.* and run.* keys (for phase "pretrain" or "finetune", a nonzero
// <phase>.steps, .lr, .batch_tokens replaces the train.* value); the deadline from run.time_limit or Slurm's end
// time (SLURM_JOB_END_TIME), minus run.stop_margin. 0, or 2 with err filled.
int train_options_from(TrainOptions *o, const Config *cfg, const char *phase, char *err,
                       size_t err_len);

typedef enum { TRAIN_DONE = 0, TRAIN_STOPPED = 1, TRAIN_FAILED = 2 } TrainStatus;

// Trains m on d over the MPI world (collective). Resumes from the newest checkpoint of
// o->run_dir when o->resume is set and one exists; checkpoints every ckpt_every steps, at the
// end, and when a signal or the deadline stops it (TRAIN_STOPPED). Every rank returns the
// same status; err says why on TRAIN_FAILED.
TrainStatus train_phase(Model *m, const TrainData *d, const Tokenizer *tok, const TrainOptions *o,
                        char *err, size_t err_len);

// `lemma train CONFIG [--show N]` (train/cmd.c); exit status 0, 1 failed, 2 bad input.
int train_cmd(const Config *cfg, const char *input, int argc, char **argv);

#ifdef __cplusplus
}
#endif
#endif
