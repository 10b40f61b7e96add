// tasks: the built-in word-problem generator with computation graphs, problem loaders (our
// JSONL, GSM8K, MATH-like), answer extraction and equivalence (grading), the step verifier,
// and the 'gen', 'grade' and 'verify' commands. docs/tasks.md describes the formats and the
// policies (answer equivalence, split assignment, graph layout).
#ifndef LEMMA_TASKS_H
#define LEMMA_TASKS_H

#include "lemma/config.h"
#include "lemma/util.h"

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

struct cJSON;

// ---------------------------------------------------------------------------
// Exact numbers: 64-bit rationals that fall back to long double when a result does not fit.

typedef struct {
    int64_t p, q;  // the value p/q, reduced, q > 0 (meaningful when exact)
    long double v; // the value as a long double (always set)
    int exact;     // 0: too big for 64-bit rationals; only v counts
} TasksNum;

TasksNum tasks_num_int(int64_t x);
TasksNum tasks_num_ratio(int64_t p, int64_t q); // q != 0
// a op b for op in + - * / ^ and f (floor division, "//") into *out; -1 on division by
// zero or a non-finite result.
int tasks_num_apply(char op, TasksNum a, TasksNum b, TasksNum *out);
// 1 when |a - b| <= rel * max(|a|, |b|) (rel = 0: exactly equal).
int tasks_num_close(TasksNum a, TasksNum b, double rel);
// "24", "-10/3", or a decimal approximation for inexact values.
void tasks_num_format(TasksNum a, char *buf, size_t cap);
// Scans an unsigned decimal at s[0..n): digits with optional ",ddd" thousands groups and an
// optional ".digits" (or ".5"). Returns the bytes used (0: no number), the value and the
// count of digits after the point.
size_t tasks_num_scan(const char *s, size_t n, TasksNum *out, int *decimals);

// ---------------------------------------------------------------------------
// Grading: answer extraction from a completion and answer equivalence.

typedef enum {
    GRADE_NONE,           // nothing found: "no answer", counted apart from wrong ones
    GRADE_BOXED,          // the last \boxed{X} or \fbox{X} (nested braces)
    GRADE_ANSWER_IS,      // the last "The answer is X" / "final answer is X" / "Answer: X"
    GRADE_HASHES,         // the last "#### X" (GSM8K)
    GRADE_ANSWER_SECTION, // a "# Answer" line, then X (MATH / PRM800K)
    GRADE_LAST_NUMBER,    // plain text only: its last word, when that is a number
} GradeSource;

// LaTeX text: a backslash command (\frac, \(, \[), or a '$' that closes math (one after an
// earlier '$' and not followed by a number: "$1,000 + $500" is currency; text with GSM8K
// <<annotations>> never is).
int tasks_is_latex(const char *text);
// The answer in a completion (malloc'd, trimmed, math delimiters stripped) by the first rule
// that finds one, in the order of GradeSource; NULL when none. src (may be NULL) says which.
char *grade_extract_answer(const char *text, GradeSource *src);
// The content of the last \boxed{...} (or \fbox{...}) with balanced braces, or NULL.
char *grade_last_boxed(const char *text);
// The text after the last "####" on its line, trimmed, or NULL (GSM8K gold answers).
char *grade_after_hashes(const char *text);
// The answer as one number (LaTeX wrappers, currency signs, '%' and unit words stripped;
// thousands separators, signs, decimals, a/b and \frac{a}{b} read); 1 when it is one.
int grade_parse_number(const char *answer, TasksNum *out);
// The comparison form of a non-numeric answer (malloc'd): lower case, no spaces, no
// LaTeX spacing or \left \right, \dfrac and \tfrac as \frac.
char *grade_normalize(const char *answer);
// Are prediction and gold the same answer? Both parsed by the expression engine (expr.h:
// rationals exactly, expressions by evaluation, structures element by element); where one
// does not parse, a prediction with words around one number against a numeric gold, else
// equal normalized strings (docs/grading.md).
int grade_equal(const char *pred, const char *gold);

// ---------------------------------------------------------------------------
// Step verifier: splits a solution into steps and checks every computation it can read
// (a op b = c, chains a = b = c, parentheses, GSM8K <<expr=value>> annotations).

typedef enum { VERIFY_NONE, VERIFY_OK, VERIFY_WRONG } VerifyVerdict;

typedef struct {
    char *expr, *stated;        // the two sides as written ("48/2", "24")
    TasksNum value, stated_val; // their values
    int ok;
} VerifyCheck;

typedef struct {
    char *text;           // the step, trimmed
    int line;             // 0-based line of the solution it is on
    VerifyVerdict verdict;
    VerifyCheck *checks;
    int n_checks;
    int from_annotations; // the checks come from <<...>> annotations
} VerifyStep;

typedef struct {
    VerifyStep *steps;
    int n_steps;
    int first_wrong; // index into steps, -1 when none
    int n_ok, n_wrong, n_none;
} VerifyResult;

enum { VERIFY_SENTENCES = 1 }; // also split lines into sentences (GSM8K)

void verify_solution(const char *text, int flags, VerifyResult *out);
void verify_result_free(VerifyResult *r);
// The checks found in one piece of text (no step splitting); the caller frees with
// verify_checks_free. Annotations are used when the text has any.
int verify_text(const char *text, VerifyCheck **checks, int *from_annotations);
void verify_checks_free(VerifyCheck *checks, int n);
const char *verify_verdict_name(VerifyVerdict v);

// ---------------------------------------------------------------------------
// Computation graph of a built-in problem (layout in docs/tasks.md, "graph").

enum {
    TASK_MAX_QUANTITIES = 64,
    TASK_MAX_STEPS = 16,
    TASK_MAX_ARGS = 4,
    TASK_NAME_LEN = 32,
    TASK_TEMPLATE_LEN = 192,
};

typedef enum { TQ_GIVEN, TQ_CONST, TQ_CONVERSION, TQ_DERIVED } TaskQuantityKind;

typedef struct {
    TaskQuantityKind kind;
    int64_t value;
    char entity[TASK_NAME_LEN]; // whose it is ("Ann"); "" for constants
    char unit[TASK_NAME_LEN];   // what it counts ("marbles", "minutes", "dozen eggs"); may be ""
    int sentence;               // question sentence that states or defines it; -1 none
    int step;                   // the step that computes it (derived), else -1
} TaskQuantity;

typedef struct {
    int line;                       // solution line (0-based)
    char op;                        // '+', '-', '*', '/'
    int n_args, args[TASK_MAX_ARGS]; // quantity ids in the order written
    int out;                        // the quantity computed
    char relation[16];              // times, fraction, more, fewer, gain, loss, share, rate,
                                    // total, difference, convert
    char tmpl[TASK_TEMPLATE_LEN];   // the line with {0} {1}.. {op} {=} for operands, operator, result
} TaskStep;

typedef struct {
    int n_quantities, n_steps, n_distractors;
    TaskQuantity quantities[TASK_MAX_QUANTITIES];
    TaskStep steps[TASK_MAX_STEPS];
    int target;                          // the quantity asked for
    int distractors[TASK_MAX_QUANTITIES]; // stated quantities no step needs
} TaskGraph;

// Writes a step's line with the given operand values, operator and result into buf
// (e.g. a wrong result or operator, for injected errors). Returns the length, -1 if too long.
int tasks_render_step(const TaskStep *s, const int64_t *operands, char op, int64_t result,
                      char *buf, size_t cap);
// The value of step s computed from its arguments' values; -1 on a bad division.
int tasks_graph_eval_step(const TaskGraph *g, int s, int64_t *out);
struct cJSON *tasks_graph_to_json(const TaskGraph *g);
// Reads and checks a graph (ids, references, kinds, every step's value); 0, or -1 with why.
int tasks_graph_from_json(const struct cJSON *j, TaskGraph *g, char *why, size_t why_len);

// ---------------------------------------------------------------------------
// Problems and loaders.

typedef enum { TASK_SPLIT_TRAIN, TASK_SPLIT_TEST, TASK_SPLIT_OOD, TASK_N_SPLITS } TaskSplit;
const char *tasks_split_name(TaskSplit s);
int tasks_split_parse(const char *name); // -1 when unknown

typedef struct {
    char *id, *question, *answer; // answer: the gold answer as a string
    char *solution, *split;       // NULL when absent
    int ops;                      // operations, -1 unknown
    TaskGraph *graph;             // NULL when absent
    int level;                    // MATH's difficulty 1..5 ("Level 3" or 3), 0 unknown
    char *subject;                // MATH's 'type' / 'subject' ("Algebra"), NULL when absent
} TaskProblem;

typedef struct {
    TaskProblem *items;
    long n, cap;
    long n_bad; // malformed lines skipped
} TaskSet;

// One record: through the data.fields mapping when it has the mapped question field; else
// ours {id, question, answer, solution?, graph?, split?, ops?}, GSM8K {question, answer
// ending in "#### X"} or MATH {problem, solution with \boxed{X}, answer?, level?,
// type?/subject?}. default_id names records without an id. 0, or -1 with why (p left empty).
int tasks_problem_from_json(const struct cJSON *o, const char *default_id, TaskProblem *p,
                            char *why, size_t why_len);
struct cJSON *tasks_problem_to_json(const TaskProblem *p);
void tasks_problem_free(TaskProblem *p);

// Loads every record of a JSONL file; malformed lines are reported with file:line and
// skipped. Returns 0, or 2 with err filled when the file cannot be read or more than
// max_bad_frac of its lines are malformed.
int tasks_load(const char *path, double max_bad_frac, TaskSet *set, char *err, size_t err_len);
void tasks_set_free(TaskSet *set);

// Shared by loaders and commands: tasks_open opens a JSONL file (0, or 2 with err filled:
// missing, unreadable, a directory); tasks_next_record is lm_jsonl_next that stops reporting
// malformed lines one by one after the first few; tasks_bad_line counts a JSON line the
// caller rejects (why) as malformed and reports it with file:line; tasks_bad_check turns
// too many malformed lines into 2 with err filled.
int tasks_open(LmJsonlReader *r, const char *path, char *err, size_t err_len);
struct cJSON *tasks_next_record(LmJsonlReader *r);
void tasks_bad_line(LmJsonlReader *r, const char *why);
int tasks_bad_check(LmJsonlReader *r, double max_bad_frac, char *err, size_t err_len);

// ---------------------------------------------------------------------------
// Generator.

typedef struct {
    uint64_t seed;
    int min_ops, max_ops, ood_min_ops, ood_max_ops;
    int64_t max_operand, ood_max_operand;
    double distractor_prob;
} GenParams;

// The tasks.* keys and run.seed; 0, or 2 with err naming the keys that do not fit together.
int gen_params_from_config(GenParams *p, const Config *cfg, char *err, size_t err_len);
// Problem index of a split: a pure function of (seed, split, index). 0, or -1 when no
// problem could be drawn (knobs too tight).
int gen_problem(const GenParams *p, TaskSplit split, int64_t index, TaskProblem *out);
// The split a question text belongs to under the train/test partition (train or test).
TaskSplit gen_text_split(const char *question);
// The largest number the question states that a step uses.
int64_t gen_max_stated(const TaskGraph *g);

// ---------------------------------------------------------------------------
// Prompt format (malloc'd), the same for training records, the sampler and evaluation: by
// default "Question: <question>\nAnswer: " (completions end with "The answer is: X" and eos);
// data.prompt = "cot" asks to reason step by step and box the answer, "cot-fewshot" puts
// four worked examples first, a file path gives a template with {question}.
char *tasks_prompt(const char *question);
// Sets the format for this process from data.prompt's value; 0, or -1 with err.
int tasks_prompt_configure(const char *name, char *err, size_t err_len);
// Sets the field mapping of JSONL records for this process from data.fields' value:
// "question=Body+Question, answer=Answer, id=ID" (FIELD=KEY, several keys joined by a space;
// fields: question, answer, solution, id, level, subject). "" clears it. 0, or -1 with err.
int tasks_fields_configure(const char *spec, char *err, size_t err_len);

// ---------------------------------------------------------------------------
// Commands (src/tasks/cmd.c).

int tasks_cmd_gen(const Config *cfg, const char *input, int argc, char **argv);
int tasks_cmd_grade(const Config *cfg, const char *input, int argc, char **argv);
int tasks_cmd_verify(const Config *cfg, const char *input, int argc, char **argv);

#ifdef __cplusplus
}
#endif
#endif
