// lemma: LEMMA data construction (docs/lemma.md). Harvest the student's graded samples,
// locate the first wrong step of a wrong solution and classify its error into DESIGN.md's
// taxonomy, inject typed errors into reference solutions (carried consistently to a wrong
// final answer), connect a truncated wrong solution to a correct one with a reflection
// phrase (fix & continue, fresh & restart), and write training records in every format
// (cot, rft, lemma_fix, lemma_restart, lema_correction, retry) plus an instruction/input/
// output export. A teacher does the locating, injecting and correcting: symbolic (exact,
// from the computation graph, GSM8K annotations or plain "a op b = c" steps) or a model
// driven through the sampler with the prompt templates of configs/prompts/.
#ifndef LEMMA_LEMMA_H
#define LEMMA_LEMMA_H

#include "lemma/config.h"
#include "lemma/tasks.h"

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

// ---------------------------------------------------------------------------
// Error taxonomy (labels used in configs, JSONL and reports).

typedef enum {
    LEMMA_ERR_CALCULATION,
    LEMMA_ERR_COUNTING,
    LEMMA_ERR_CONTEXT_VALUE,
    LEMMA_ERR_PREVIOUS_STEP_VALUE,
    LEMMA_ERR_UNIT_CONVERSION,
    LEMMA_ERR_OPERATOR,
    LEMMA_ERR_FORMULA_CONFUSION,
    LEMMA_ERR_MISSING_STEP,
    LEMMA_ERR_CONTRADICTORY_STEP,
    LEMMA_ERR_QUESTION_MISINTERPRETATION,
    LEMMA_ERR_CONFUSING_CONCEPT,
    LEMMA_ERR_HALLUCINATION,
    LEMMA_ERR_NONSENSE_OUTPUT,
    LEMMA_N_ERRORS
} LemmaErrorType;

const char *lemma_error_name(LemmaErrorType t);       // "calculation_error"
const char *lemma_error_describe(LemmaErrorType t);   // one sentence (prompts, docs)
int lemma_error_parse(const char *name);              // the type, -1 when unknown
// Types the symbolic teacher can inject into a built-in problem (through GSM8K annotations:
// calculation and operator errors only).
int lemma_error_injectable(LemmaErrorType t);

// ---------------------------------------------------------------------------
// Numbers and computations read from solution text.

enum {
    LEMMA_MAX_ARGS = 8,    // operands of one computation
    LEMMA_MAX_QTY = 128,   // quantities of a reference
    LEMMA_MAX_STEPS = 48,  // computations of a reference
    LEMMA_MAX_STATED = 64, // numbers a question states
};

// One computation "a op b op c = r" as written in a step.
typedef struct {
    int n;                           // operands
    long double v[LEMMA_MAX_ARGS];   // operand values in the order written
    char ops[LEMMA_MAX_ARGS];        // the n - 1 operators in order (+ - * / ^ f)
    long double value, stated;       // the left side evaluated; the result as written
    int ok;                          // the verifier accepts it
    char text[96];                   // the left side as written (cut to fit)
} LemmaComp;

// Where the operands and operators of a parsed expression are (byte offsets in it).
typedef struct {
    int num_start[LEMMA_MAX_ARGS], num_end[LEMMA_MAX_ARGS];
    int op_start[LEMMA_MAX_ARGS], op_len[LEMMA_MAX_ARGS];
} LemmaExprSpans;

// Values equal up to 1e-9 relative (exact for the integers and decimals of solutions).
int lemma_num_eq(long double a, long double b);
// Are a and b the same digits in another order (12 and 21: a misreading)?
int lemma_digits_reordered(long double a, long double b);
// A value as solutions write it: an integer, else a decimal with at most 4 places.
void lemma_num_format(long double v, char *buf, size_t cap);
// The operands and operators of an expression ("48/2", "(3 + 4) * 12") into c (n, v, ops,
// text; spans may be NULL); 0, or -1 when it holds more than LEMMA_MAX_ARGS numbers or
// something else than numbers, operators and parentheses.
int lemma_parse_expr(const char *expr, LemmaComp *c, LemmaExprSpans *spans);
// The value of an expression (the step verifier's exact arithmetic); 0, or -1.
int lemma_eval_expr(const char *expr, long double *out);
// A computation from one of the verifier's checks; 0, or -1 when its left side does not parse.
int lemma_comp_from_check(const VerifyCheck *chk, LemmaComp *c);
// Numbers a question states: digit strings (with thousands separators and decimals) and
// number words (one .. twelve, twice, double, half, dozen, ...). Returns the count.
int lemma_stated_numbers(const char *question, long double *out, int cap);

// A solution split into steps (the step verifier's steps: lines, or sentences when the text
// holds GSM8K annotations or "####") with their byte spans in the text.
typedef struct {
    VerifyResult vr;
    size_t *start, *end; // step i is text[start[i] .. end[i])
    int answer_step;     // the last step that says "The answer is", -1 none
    int flags;           // the verify flags used
} LemmaSteps;

void lemma_steps_split(const char *text, LemmaSteps *s);
void lemma_steps_free(LemmaSteps *s);

// ---------------------------------------------------------------------------
// The reference: what a correct solution computes, from the problem's computation graph or,
// without one, from its reference solution's computations (GSM8K annotations, a op b = c).

typedef struct {
    long double value;
    TaskQuantityKind kind; // given/const: the question states it; conversion: world knowledge
    int step;              // the reference step computing it (derived), else -1
} LemmaQty;

typedef struct {
    int n_args, args[LEMMA_MAX_ARGS]; // quantity ids in the order written
    char ops[LEMMA_MAX_ARGS];         // n_args - 1 operators
    int out;                          // the quantity computed
    int convert;                      // a unit conversion (built-in relation "convert")
    int line;                         // its step in the reference solution (lines[line])
} LemmaRefStep;

typedef struct {
    int n_qty, n_steps;
    LemmaQty qty[LEMMA_MAX_QTY];
    LemmaRefStep steps[LEMMA_MAX_STEPS];
    int target;                          // the quantity asked for, -1 unknown
    int n_stated;
    long double stated[LEMMA_MAX_STATED]; // numbers the question states
    int n_lines;
    char **lines;                        // the reference solution's steps, answer line excluded
    const TaskGraph *graph;              // the problem's graph, NULL when built from text
} LemmaRef;

// A question of the build: the problem and its reference.
typedef struct {
    long index;      // the problem's index in data.train or the built-in train split
    TaskProblem p;   // id, question, gold answer, reference solution, graph
    LemmaRef *ref;   // NULL when the problem has neither graph nor a readable solution
    char *reference; // the reference solution ending in "The answer is: GOLD"; NULL: none
} LemmaQuestion;

// Fills q from p (taken over: q->p owns its strings afterwards). Always succeeds; q->ref is
// NULL when nothing checkable is known.
void lemma_question_init(LemmaQuestion *q, long index, TaskProblem *p);
void lemma_question_free(LemmaQuestion *q);

// ---------------------------------------------------------------------------
// Locate and classify (src/lemma/locate.c holds the rules).

typedef struct {
    int step;                   // the first wrong step (index into LemmaSteps), -1 none
    LemmaErrorType type;
    size_t start, end;          // its bytes in the solution: truncation keeps [0, end)
    int at_answer;              // the wrong step is the final answer (or its absence)
    int ref_step;               // the reference step it meant, -1 unknown
    int has_comp;
    LemmaComp comp;             // the wrong computation (has_comp)
    long double written, meant; // wrong-operand types: the operand written and the one meant
    unsigned char produced[LEMMA_MAX_STEPS]; // reference steps done right before the wrong step
    char explanation[400];      // what is wrong, in one or two sentences
} LemmaLocation;

// The first wrong step of a solution and its error type. 0 located, -1 not (the solution
// is right, or nothing wrong can be found without a reference).
int lemma_locate(const LemmaQuestion *q, const char *solution, LemmaLocation *loc);
// Fills loc's byte span and at_answer for a step index found elsewhere (the model teacher);
// 0, or -1 when the step is out of range.
int lemma_location_at(const char *solution, int step, LemmaLocation *loc);

// ---------------------------------------------------------------------------
// Inject: a wrong solution with one error of a given type, made from the reference (the
// graph's templates; GSM8K annotations for calculation and operator errors), the wrong
// value carried through every later step to a wrong final answer. Draws come from
// (seed, LM_STREAM_BUILD, key << 16 | draw). 0 (out->text malloc'd, out->step the step of
// the error), or -1 when the type cannot be injected into this problem.

typedef struct {
    char *text;
    int step;
    LemmaErrorType type;
} LemmaInjection;

int lemma_inject(const LemmaQuestion *q, LemmaErrorType type, uint64_t seed, uint64_t key,
                 LemmaInjection *out);
int lemma_inject_graph(const LemmaQuestion *q, LemmaErrorType type, uint64_t seed, uint64_t key,
                       LemmaInjection *out);
int lemma_inject_annotated(const LemmaQuestion *q, LemmaErrorType type, uint64_t seed,
                           uint64_t key, LemmaInjection *out);

// ---------------------------------------------------------------------------
// Corrections and reflection text.

// The reference steps from the wrong one on, corrected, ending in "The answer is: GOLD"
// (malloc'd), or NULL without a reference.
char *lemma_continuation(const LemmaQuestion *q, const LemmaLocation *loc);

// Reflection phrases: the built-in list (our wording) or a file, one per line ('#' starts a
// comment line). 0, or 2 with err naming file:line.
typedef struct {
    char **items;
    int n;
} LemmaPhrases;

void lemma_phrases_builtin(LemmaPhrases *p);
int lemma_phrases_load(LemmaPhrases *p, const char *path, char *err, size_t err_len);
void lemma_phrases_free(LemmaPhrases *p);

// ---------------------------------------------------------------------------
// Training records.

typedef enum {
    LEMMA_KIND_COT,
    LEMMA_KIND_RFT,
    LEMMA_KIND_FIX,
    LEMMA_KIND_RESTART,
    LEMMA_KIND_LEMA,
    LEMMA_KIND_RETRY,
    LEMMA_N_KINDS
} LemmaKind;

const char *lemma_kind_name(LemmaKind k); // "cot", "rft", "lemma_fix", ...
int lemma_kind_parse(const char *name);   // -1 when unknown

typedef struct {
    LemmaKind kind;
    char *prompt, *response; // malloc'd
    char *input;             // the part of the prompt after the question (lema_correction), or NULL
    int error_type;          // -1: none
    int source;              // 0: none, 1: a student sample, 2: injected by the teacher
    int error_step;          // the wrong step (reflection kinds), else -1
    int mistake_chars;       // bytes at the start of response that repeat the wrong solution
} LemmaRecord;

void lemma_record_free(LemmaRecord *r);

// A wrong solution with its location, the corrected continuation and the correct solution
// a restart uses; everything the formats need.
typedef struct {
    const LemmaQuestion *q;
    const char *wrong;
    const LemmaLocation *loc;
    const char *continuation; // lemma_continuation or the model teacher's; NULL: none
    const char *restart;      // a complete correct solution; NULL: none
    const char *phrase;       // the reflection phrase
    const char *back;         // the retry token ("[BACK]")
    int truncate;             // cut the wrong solution after its wrong step (lemma_fix/restart)
    int source;
} LemmaErrorCase;

// One record of a reflection kind (lemma_fix, lemma_restart, lema_correction, retry) into r;
// 0, or -1 when this case lacks what the kind needs (a continuation, a restart solution).
int lemma_make_record(const LemmaErrorCase *c, LemmaKind kind, LemmaRecord *r);
// A plain record (cot, rft): prompt = tasks_prompt(question), response = solution.
void lemma_make_plain(const LemmaQuestion *q, LemmaKind kind, const char *solution,
                      LemmaRecord *r);
// Does the record's final answer equal the gold answer?
int lemma_record_answer_ok(const LemmaRecord *r, const char *gold);
// The record as JSON {id, kind, prompt, response, answer, error_type?, source?, error_step?,
// mistake_chars?} (mistake_chars when the response starts with the wrong solution).
struct cJSON *lemma_record_to_json(const LemmaRecord *r, const LemmaQuestion *q);

// ---------------------------------------------------------------------------
// Teachers: one interface, two implementations (teacher.kind = symbolic | model). Every
// operation takes a batch (the model teacher decodes it together).

typedef enum {
    TEACHER_OK,
    TEACHER_NOT_LOCATED,    // no wrong step found
    TEACHER_NOT_INJECTABLE, // the type cannot be injected into this problem
    TEACHER_UNCONFIRMED,    // an injected error that locate does not find where it was put
    TEACHER_NO_REFERENCE,   // nothing to correct from
    TEACHER_UNPARSED,       // model output that does not parse
    TEACHER_NOT_WRONG,      // a model-written wrong solution that the grader marks right
    TEACHER_WRONG_ANSWER,   // a model-written correction that the grader marks wrong
    TEACHER_N_STATUS
} TeacherStatus;

const char *teacher_status_name(TeacherStatus s);

typedef struct {
    const LemmaQuestion *q;
    const char *solution; // a wrong solution
    LemmaLocation loc;    // out
    TeacherStatus status; // out
} TeacherLocateJob;

typedef struct {
    const LemmaQuestion *q;
    LemmaErrorType type;  // the error to inject
    uint64_t key;         // randomness key of this injection
    char *solution;       // out, malloc'd
    LemmaLocation loc;    // out
    TeacherStatus status; // out
} TeacherInjectJob;

typedef struct {
    const LemmaQuestion *q;
    const char *solution;      // a wrong solution
    const LemmaLocation *loc;
    char *continuation;        // out, malloc'd: the corrected step on, "The answer is: GOLD"
    TeacherStatus status;      // out
} TeacherCorrectJob;

typedef struct Teacher Teacher;
struct Teacher {
    const char *kind;                        // "symbolic", "model"
    unsigned char injectable[LEMMA_N_ERRORS];
    void (*locate)(Teacher *t, TeacherLocateJob *jobs, int n);
    void (*inject)(Teacher *t, TeacherInjectJob *jobs, int n);
    void (*correct)(Teacher *t, TeacherCorrectJob *jobs, int n);
    void (*destroy)(Teacher *t);
    uint64_t seed;
    void *impl;
};

// teacher.kind from the config (collective for the model teacher: it loads a checkpoint).
// 0, or 2 with err filled.
int teacher_create(const Config *cfg, Teacher **out, char *err, size_t err_len);
void teacher_destroy(Teacher *t);
Teacher *teacher_symbolic_create(uint64_t seed);
int teacher_model_create(const Config *cfg, Teacher **out, char *err, size_t err_len);

// The model teacher's prompt templates (configs/prompts/{locate,inject,correct}.txt) with
// {name} placeholders; filled by teacher_prompt_fill. Parsers of the model's outputs:
// 0 and the fields, or -1 (unparsed).
typedef struct {
    char *locate, *inject, *correct;
} TeacherPrompts;

int teacher_prompts_load(TeacherPrompts *p, const char *dir, char *err, size_t err_len);
void teacher_prompts_free(TeacherPrompts *p);
// The template with every {name} replaced by the value of the same name (names[i] ->
// values[i]); NULL when it holds an unknown placeholder.
char *teacher_prompt_fill(const char *tmpl, const char *const *names, const char *const *values,
                          int n);
int teacher_parse_locate(const char *out, int n_steps, int *step, LemmaErrorType *type,
                         char *explanation, size_t cap);
// The solution part of an injection output (malloc'd) with its declared wrong step.
int teacher_parse_inject(const char *out, char **solution, int *step, char *explanation,
                         size_t cap);
// The continuation up to its first "The answer is" line (malloc'd), graded against gold:
// 0, -1 unparsed (no answer), -2 a wrong answer.
int teacher_parse_correct(const char *out, const char *gold, char **continuation);
// Generation through the sampler: one completion per prompt with the teacher's model
// (rank-local; keys[i] = problem << 16 | sample is the randomness key of prompt i). outs[i]
// is malloc'd, NULL when the prompt does not fit the model's context. 0, or -1 with err.
typedef struct TeacherModel TeacherModel;
int teacher_model_generate(TeacherModel *m, char *const *prompts, const long *keys, int n,
                           char **outs, char *err, size_t err_len);

// ---------------------------------------------------------------------------
// The builder ('lemma build CONFIG').

typedef struct {
    const char *run_dir;
    char *samples;             // graded samples (build.samples, default RUN_DIR/samples.jsonl)
    const char *problems;      // data.train, or "" for the built-in train split
    GenParams gen;             // the built-in generator
    double max_bad;            // data.max_bad_frac
    uint64_t seed;
    int student_errors;        // wrong student samples used per question
    int teacher_errors;        // injected errors per question with a wrong student sample
    int types_measured;        // draw types from the measured distribution (else the list)
    unsigned char types[LEMMA_N_ERRORS]; // the configured list (build.error_types)
    unsigned char kinds[LEMMA_N_KINDS];  // formats written (build.formats)
    int truncate;
    int restart_own;           // restart from the student's own correct sample when one exists
    LemmaPhrases phrases;
    const char *back;          // build.back_token
} BuildOptions;

// The build.*, data.*, run.* and teacher.* keys; 0, or 2 with err filled.
int build_options_from(BuildOptions *o, const Config *cfg, char *err, size_t err_len);
void build_options_free(BuildOptions *o);

// Counters of a build, summed over ranks (all longs: reduced as one array).
typedef struct {
    long questions, with_wrong, with_correct;
    long samples, wrong, correct, distinct_wrong, distinct_correct, regraded;
    long located, not_located;
    long measured[LEMMA_N_ERRORS];  // located student errors by type (every wrong sample)
    long student_used[LEMMA_N_ERRORS], injected[LEMMA_N_ERRORS];
    long teacher[TEACHER_N_STATUS]; // teacher outcomes of injections and corrections
    long made[LEMMA_N_KINDS], not_gold[LEMMA_N_KINDS], duplicate[LEMMA_N_KINDS];
    long written[LEMMA_N_KINDS];
    long written_by_type[LEMMA_N_ERRORS];
    long missing_input[LEMMA_N_KINDS]; // a kind that lacked a continuation or restart
} BuildStats;

// Builds RUN_DIR/data/{train.jsonl, train_alpaca.json, summary.json, error_types.json} and a
// metrics line over the MPI world (collective): rank r takes the questions whose index is r
// modulo the world size and writes RUN_DIR/data/parts/part-RRRRR.jsonl; rank 0 merges the
// parts in question order and deduplicates. 0, or 2 (bad input) / 1 (failure) with err
// filled; st holds the counts (every rank).
int build_run(const BuildOptions *o, Teacher *t, BuildStats *st, char *err, size_t err_len);
// Rank 0's merge and outputs (src/lemma/merge.c): the part files of `world` ranks into the
// outputs, written and duplicate counts into st. 0, or 1 with err.
int build_merge(const BuildOptions *o, int world, BuildStats *st, double seconds, char *err,
                size_t err_len);

// The build phase of a config (src/lemma/phase.c): options, teacher, build_run and its report
// (rank 0). Collective; 0, or 2 (bad input) / 1 (failure) with err (every rank).
int build_phase(const Config *cfg, char *err, size_t err_len);
// `lemma build CONFIG`. Exit 0, 1 on failure, 2 on bad input.
int build_cmd(const Config *cfg, const char *input, int argc, char **argv);

#ifdef __cplusplus
}
#endif
#endif
