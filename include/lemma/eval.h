// eval: evaluation of a model (docs/eval.md). Greedy decoding of every problem of each split
// (built-in test and ood splits, JSONL sets) with the sampler's engine, data-parallel over
// ranks; grading against the gold answer; accuracy with a 95 % Wilson score interval; the
// error types of the wrong outputs (the symbolic teacher's locate and classify); and
// self-correction statistics (outputs with a reflection phrase or the retry token, and what
// the reflection changed). Writes RUN_DIR/eval/<split>.{jsonl,json} and metrics lines.
#ifndef LEMMA_EVAL_H
#define LEMMA_EVAL_H

#include "lemma/config.h"
#include "lemma/lemma.h"
#include "lemma/model.h"
#include "lemma/tokenizer.h"
#include "lemma/sample.h"
#include "lemma/tasks.h"

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

struct cJSON;

// ---------------------------------------------------------------------------
// Statistics (src/eval/stats.c).

// The z of a two-sided 95 % interval: the 0.975 quantile of the standard normal.
#define EVAL_Z95 1.959963984540054

// The Wilson score interval of a proportion correct / n at normal quantile z; [0, 1] when
// n is 0.
void eval_wilson(long correct, long n, double z, double *lo, double *hi);

// The byte offset of the first reflection in text: the earliest occurrence of any phrase or
// of the back token (NULL or "": none); -1 when there is none.
long eval_find_reflection(const char *text, const LemmaPhrases *phrases, const char *back);

// One output graded and analysed.
typedef struct {
    char *pred;          // the extracted answer (malloc'd), NULL when none
    int correct;         // pred equals the gold answer (grade_equal)
    int located;         // a wrong output whose first wrong step was found (loc holds it)
    LemmaLocation loc;
    long reflect_at;     // byte offset of the first reflection, -1: no reflection
    int prefix_wrong;    // with a reflection: the text before it has a located wrong step
    int level;           // the problem's MATH level (1..5), 0 unknown
    int subject;         // its MATH subject (index into eval_subject_name), -1 none
} EvalOutcome;

// MATH's seven subjects and "other" (EVAL_N_SUBJECTS names); the index of a subject, -1 NULL.
enum { EVAL_N_SUBJECTS = 8 };
const char *eval_subject_name(int i);
int eval_subject_index(const char *subject);

// Grades completion against q's gold answer, locates and classifies the error of a wrong
// one (lemma_locate on the whole completion), finds the first reflection and checks the text
// before it (rules in docs/eval.md). Free with eval_outcome_free.
void eval_outcome(const LemmaQuestion *q, const char *completion, const LemmaPhrases *phrases,
                  const char *back, EvalOutcome *out);
void eval_outcome_free(EvalOutcome *o);

// The figures of one split (longs: summed over ranks as one array).
typedef struct {
    long problems;                    // asked for
    long skipped;                     // prompt too long for the context
    long n, correct;                  // evaluated, right
    long no_answer;                   // outputs without an answer (docs/grading.md): not right,
                                      // and not counted among the wrong ones
    long error_types[LEMMA_N_ERRORS]; // wrong outputs by located type
    long unlocated;                   // wrong outputs whose error was not located
    long with_reflection;             // outputs with a reflection
    long right_after_reflection;      // ... whose final answer is right
    long right_to_wrong;              // ... right before the reflection, wrong at the end
    long wrong_to_right;              // ... a wrong step before it, right at the end
    long tokens;                      // generated
    long level_n[6], level_correct[6]; // by MATH level (index 1..5; 0 unknown)
    long subject_n[EVAL_N_SUBJECTS], subject_correct[EVAL_N_SUBJECTS]; // by MATH subject
} EvalCounts;

void eval_counts_add(EvalCounts *c, const EvalOutcome *o);
// The summary object {split, model, step, problems, skipped, n, correct, accuracy, ci95,
// error_types, reflection, tokens, seconds} (docs/eval.md).
struct cJSON *eval_summary_json(const char *split, const char *label, long step,
                                const EvalCounts *c, double seconds);

// ---------------------------------------------------------------------------
// The evaluation phase (src/eval/eval.c, src/eval/merge.c).

typedef struct {
    char *name;      // "test", "ood", or a JSONL file's basename without .jsonl
    char *path;      // the JSONL file; NULL: the built-in split
    TaskSplit split; // the built-in split (path NULL)
} EvalSplit;

typedef struct {
    EvalSplit *splits;
    int n_splits;
    long problems;        // per split: the first N (0: all of a JSONL set)
    SampleConfig gen;     // greedy decoding: stops from sample.stop, slots eval.batch
    double log_every;     // seconds between progress lines (sample.log_every)
    double max_bad;       // data.max_bad_frac
    GenParams gen_params; // the built-in generator (tasks.*, run.seed)
    LemmaPhrases phrases; // reflection phrases (build.phrases, else the built-in list)
    char *back;           // the retry token (build.back_token)
} EvalOptions;

// The eval.*, sample.stop, sample.prefill_tokens, sample.log_every, data.*, build.phrases,
// build.back_token and tasks.* keys. Splits: eval.splits (the test split reads data.test when
// set), then one per eval.data file. 0, or 2 with err filled (free o either way).
int eval_options_from(EvalOptions *o, const Config *cfg, char *err, size_t err_len);
void eval_options_free(EvalOptions *o);

// Evaluates m on every split over the MPI world (collective). Rank r decodes the problems
// i with i % W == r into OUT_DIR/.<split>.part-RRRRR.jsonl; rank 0 merges them in index
// order into OUT_DIR/<split>.jsonl, writes OUT_DIR/<split>.json, appends a metrics line
// {"phase":"eval","model":label,...} to RUN_DIR/metrics.jsonl and prints a table. The files
// do not depend on the number of ranks. 0, 2 (bad input: a split's problems) or 1 (failure),
// with err filled; every rank returns the same.
int eval_phase(Model *m, const Tokenizer *tok, const EvalOptions *o, const char *run_dir,
               const char *out_dir, const char *label, long step, char *err, size_t err_len);

// Rank 0's merge (src/eval/merge.c): the part files of `world` ranks of a split into
// OUT_DIR/<split>.jsonl (records in problem order, through a temporary file); the part
// files are removed. 0, or -1 with err.
int eval_merge(const char *out_dir, const char *split, int world, long n_problems, char *err,
               size_t err_len);
// OUT_DIR/.<split>.part-RRRRR.jsonl
void eval_part_path(const char *out_dir, const char *split, int rank, char *buf, size_t len);

// `lemma eval CONFIG [--from DIR] [--label NAME]`: parameters of the newest checkpoint in
// DIR/ckpt (default run.dir; none is an error), results in RUN_DIR/eval. Exit 0, 1 on
// failure, 2 on bad input.
int eval_cmd(const Config *cfg, const char *input, int argc, char **argv);

#ifdef __cplusplus
}
#endif
#endif
