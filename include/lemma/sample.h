// sample: generation from the model (docs/sampling.md): token sampling (greedy, temperature,
// top-k, top-p) with randomness keyed by (seed, problem, sample, position); an engine that
// decodes many sequences together over the model's KV cache with continuous batching (a
// finished sequence's slot is refilled at once) and chunked prefill; and the data-parallel
// sampling phase behind 'lemma sample': problems sharded over ranks by global index, every
// sample graded and appended to a per-rank part file (the resume point), merged by rank 0
// into RUN_DIR/samples.jsonl, with greedy pass@1, mean accuracy and pass@k.
#ifndef LEMMA_SAMPLE_H
#define LEMMA_SAMPLE_H

#include "lemma/config.h"
#include "lemma/model.h"
#include "lemma/tokenizer.h"
#include "lemma/tasks.h"

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

// ---------------------------------------------------------------------------
// One token.

// Limits of the randomness key (the counter packs problem, sample and position).
#define SAMPLE_MAX_PROBLEMS (1L << 24)
#define SAMPLE_MAX_SAMPLES (1 << 16)
#define SAMPLE_MAX_POSITION (1 << 24)

typedef struct {
    float temperature; // 0: greedy
    int top_k;         // keep the k most likely tokens; 0: all
    float top_p;       // then the smallest most-likely set of mass >= top_p; 1: off
} SampleStrategy;

// The uniform in [0, 1) for drawing the token at `position` (0 = the first generated token)
// of sample `sample` of problem `problem`: lm_rng_uniform(seed, LM_STREAM_SAMPLE, counter)
// with counter = (problem * 2^16 + sample) * 2^24 + position.
float sample_uniform(uint64_t seed, long problem, int sample, int position);

// The token drawn from logits (V). Temperature 0: the argmax (the lowest id among ties).
// Else p = softmax(logits / temperature) over the candidates: every token in id order, or
// with top_k / top_p the tokens in order of decreasing logit (ties: lower id first), cut to
// the first top_k, then to the shortest prefix whose mass reaches top_p of theirs. The
// token is where u * (the candidates' mass) falls along that order. The vocabulary is never
// sorted: top_k selects with a heap of k, top_p sorts only the tokens of the most likely
// log-probability buckets that reach its mass. idx (V ints) and p (V doubles) are work space.
int sample_token(const float *logits, int V, const SampleStrategy *s, float u, int *idx,
                 double *p);

// ---------------------------------------------------------------------------
// The generation engine.

typedef struct {
    SampleStrategy strategy; // of sampled requests (greedy requests ignore it)
    int max_new_tokens;      // longest completion, in tokens
    char **stop;             // stop strings (n_stop), matched on the completion's text
    int n_stop;
    uint64_t seed;
    int slots;               // sequences decoded together
    int prefill_tokens;      // prompt tokens fed per step at most (beside one per generating slot)
    int ctx;                 // cache positions per sequence (<= model.max_seq)
    DType kv;                // KV cache dtype (sample.kv_cache): DT_F32 (0, exact) or DT_BF16
} SampleConfig;

typedef struct {
    const int *prompt; // token ids (bos first), 1 <= prompt_len <= ctx; read when the
    int prompt_len;    // request starts: must stay valid until its result is delivered
    long problem;      // randomness key: global problem index, and
    int sample;        // sample index; < 0: greedy (no randomness)
    long tag;          // the caller's, returned with the result
} SampleRequest;

typedef enum { SAMPLE_EOS, SAMPLE_STOP, SAMPLE_LENGTH } SampleFinish;
const char *sample_finish_name(SampleFinish f);

typedef struct {
    SampleRequest req;
    const char *text;    // the completion (raw bytes, NUL-terminated); eos, a stop string and
    size_t text_len;     // what follows it excluded
    int n_tokens;        // tokens generated (eos included)
    SampleFinish finish; // eos, a stop string, or max_new_tokens / the context
} SampleResult;

// The next request to start: 1 and *out filled, or 0 when there is none (now).
typedef int (*SampleSourceFn)(void *ctx, SampleRequest *out);
// A finished sequence (the result and its text are valid during the call only).
typedef void (*SampleSinkFn)(void *ctx, const SampleResult *r);

typedef struct SampleEngine SampleEngine;

// The engine allocates the model's KV cache and every buffer once (nothing per token).
SampleEngine *sample_engine_create(Model *m, const Tokenizer *tok, const SampleConfig *c);
void sample_engine_free(SampleEngine *e);
// One step: fills free slots from src, feeds the next prompt chunk of prefilling sequences
// and the last token of every generating one in one model_decode_step, draws a token for
// each sequence at the end of its prompt or generating, and hands finished ones to sink
// (their slots are refilled at the next step). Returns the sequences in flight after the
// step: 0 when src had nothing and every slot is free.
int sample_engine_step(SampleEngine *e, SampleSourceFn src, void *src_ctx, SampleSinkFn sink,
                       void *sink_ctx);
// Tokens generated so far (every sequence, finished or not).
long sample_engine_tokens(const SampleEngine *e);

// Runs requests 0..n-1 to completion on this process; out[i] gets request i's result
// (text malloc'd: free with sample_results_free).
void sample_generate(Model *m, const Tokenizer *tok, const SampleConfig *c,
                     const SampleRequest *reqs, int n, SampleResult *out);
void sample_results_free(SampleResult *r, int n);

// Tokenises bos + tasks_prompt(question) into a malloc'd array; *len its length.
int *sample_encode_prompt(const Tokenizer *tok, const char *question, int *len);

// ---------------------------------------------------------------------------
// The sampling phase.

typedef struct {
    SampleConfig gen;      // ctx is set per rank from its prompts
    int k;                 // samples per problem
    int greedy;            // one greedy decode per problem too (greedy pass@1)
    long problems;         // problems to sample (0: all)
    int too_long_error;    // a prompt that does not fit model.max_seq: error (else skip)
    double log_every;      // seconds between progress lines
    double deadline;       // lm_now() at which to stop (0: none)
    const char *run_dir;
    const char *data;      // problems JSONL (data.train), or "" for the built-in train split
    double max_bad;        // data.max_bad_frac
    long builtin_size;     // data.train_size
    GenParams gen_params;  // the built-in generator (tasks.*, run.seed)
} SampleOptions;

// The sample.*, data.*, run.* keys; 0, or 2 with err filled.
int sample_options_from(SampleOptions *o, const Config *cfg, char *err, size_t err_len);
// sample.kv_cache as a dtype (DT_BF16 or DT_F32).
DType sample_kv_dtype(const Config *cfg);
void sample_options_free(SampleOptions *o);

typedef struct {
    long problems;          // problems asked for
    long skipped;           // left out: prompt longer than the context
    long sampled;           // problems with all k samples
    long samples, correct;  // sampled records and how many are right
    long greedy_n, greedy_correct;
    double mean_accuracy;   // correct / samples
    double greedy_pass1;    // greedy_correct / greedy_n
    double pass_at_k;       // unbiased pass@k over the problems with all k samples
    double pass_at_1;       // unbiased pass@1 over the same problems
    long tokens;            // generated by this run (all ranks)
    double seconds;
} SampleSummary;

typedef enum { SAMPLE_DONE = 0, SAMPLE_STOPPED = 1, SAMPLE_FAILED = 2, SAMPLE_BAD_INPUT = 3 } SampleStatus;

// Samples o->k completions (and a greedy one) of every problem over the MPI world
// (collective). Rank r takes the problems i with i % W == r; finished samples already in
// RUN_DIR/samples/part-*.jsonl are not redone. SAMPLE_DONE: rank 0 merged
// RUN_DIR/samples.jsonl (and greedy.jsonl) and sum holds the figures (every rank);
// SAMPLE_STOPPED: a signal or the deadline stopped it (rerun to finish); SAMPLE_BAD_INPUT:
// the problems cannot be read or a prompt is too long under sample.too_long = error (err);
// SAMPLE_FAILED: anything else (err).
SampleStatus sample_phase(Model *m, const Tokenizer *tok, const SampleOptions *o,
                          SampleSummary *sum, char *err, size_t err_len);

// Files (src/sample/records.c). RUN_DIR/samples/part-RRRRR.jsonl of a rank.
void sample_part_path(const char *run_dir, int rank, char *buf, size_t len);
// Cuts a truncated last line (no newline: a killed writer) off a part file so that appends
// start on a fresh line: the bytes removed (0 also when the file does not exist), -1 on error.
long sample_part_repair(const char *path);
// Every complete record line of RUN_DIR/samples/part-*.jsonl, files in name order, to fn
// with its problem index, sample index (-1: greedy) and correct flag; a last line without
// newline is skipped, malformed lines are warned about (unless quiet) and skipped.
typedef void (*SamplePartFn)(void *ctx, long problem, int sample, int correct, const char *line);
void sample_parts_scan(const char *run_dir, SamplePartFn fn, void *ctx, int quiet);
// Rank 0's merge: the first record of every (problem < n_problems, sample < k) found in the
// part files, written to RUN_DIR/samples.jsonl (samples 0..k-1 of each problem in order)
// and, with greedy, RUN_DIR/greedy.jsonl (through temporary files); sum gets the figures
// (samples, correct, greedy, pass@k over problems with all k samples). 0, or -1 with err.
int sample_merge(const char *run_dir, long n_problems, int k, int greedy, SampleSummary *sum,
                 char *err, size_t err_len);
// n bytes as valid UTF-8 (malloc'd): every byte that starts no valid character (NUL too)
// becomes U+FFFD.
char *sample_utf8_clean(const char *text, size_t n);

// Unbiased pass@k estimate from n samples of which c are right (Chen et al. 2021):
// 1 - C(n-c, k) / C(n, k); needs k <= n.
double sample_pass_at_k(int n, int c, int k);

// Rank 0: the figures of a finished sampling phase as log lines and one line in
// RUN_DIR/metrics.jsonl.
void sample_report(const SampleOptions *o, const SampleSummary *s);

// `lemma sample CONFIG`: the model from the newest checkpoint in run.dir (else a fresh one,
// with a warning), then sample_phase. Exit 0, 1 on failure, 2 on bad input.
int sample_cmd(const Config *cfg, const char *input, int argc, char **argv);
// `lemma generate MODEL --prompt TEXT [--max-tokens N] [--temperature T] [--top-p P]
// [--top-k K]` (sample/generate.c): cfg is MODEL's (hub_resolve).
int generate_cmd(const Config *cfg, const char *input, int argc, char **argv);

#ifdef __cplusplus
}
#endif
#endif
