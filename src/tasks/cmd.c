// tasks/cmd: the 'gen', 'grade' and 'verify' commands.
// Rank 0 does all the work; other ranks check the options the same way and return.
#include "lemma/dist.h"
#include "lemma/tokenizer.h"
#include "lemma/tasks.h"

#include <cJSON.h>
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#define EXIT_USAGE 2
#define GEN_STATS_DEFAULT 1000

static const char gen_help[] =
    "usage: lemma gen CONFIG --split train|test|ood --count N --out FILE [--start I]\n"
    "       lemma gen CONFIG --stats [--split S] [--count N] [--start I]\n"
    "Writes built-in word problems as JSONL (--out - writes to stdout), or prints their\n"
    "distribution. Problem I of a split depends only on run.seed; the knobs are tasks.*.\n";
static const char grade_help[] =
    "usage: lemma grade IN.jsonl [--out OUT.jsonl]\n"
    "Reads lines with 'answer' (the gold answer; GSM8K '... #### X' works) and either\n"
    "'completion' (its answer is extracted: docs/grading.md) or 'prediction' (compared as it\n"
    "is), writes each line with 'pred', 'correct' and 'verdict' (right / wrong / no_answer)\n"
    "added (to stdout without --out) and prints the accuracy and the answers not found (on\n"
    "stderr when the lines go to stdout).\n";
static const char verify_help[] =
    "usage: lemma verify IN.jsonl [--out OUT.jsonl]\n"
    "Checks every computation in each line's 'solution' (else 'completion', else a GSM8K\n"
    "'answer') and writes the line with 'steps' (per-step verdicts ok / wrong / none),\n"
    "'first_wrong_step' and 'verdict' added (to stdout without --out), then a summary.\n";

__attribute__((format(printf, 2, 3))) static int cmd_error(const char *cmd, const char *fmt, ...) {
    if (dist.rank == 0) {
        va_list ap;
        va_start(ap, fmt);
        fprintf(stderr, "lemma %s: ", cmd);
        vfprintf(stderr, fmt, ap);
        fputc('\n', stderr);
        va_end(ap);
    }
    return EXIT_USAGE;
}

// ---------------------------------------------------------------------------
// Options

typedef struct {
    const char *name;   // "--out"
    const char **value; // options with a value
    int *flag;          // options without one
} CmdOpt;

// "--name VALUE", "--name=VALUE" and flags; 0, or 2 with the message printed.
static int parse_opts(const char *cmd, int argc, char **argv, CmdOpt *opts, int n_opts) {
    for (int i = 0; i < argc; i++) {
        const CmdOpt *o = NULL;
        const char *eq = strchr(argv[i], '=');
        size_t len = eq ? (size_t)(eq - argv[i]) : strlen(argv[i]);
        for (int k = 0; k < n_opts && !o; k++)
            if (strlen(opts[k].name) == len && strncmp(argv[i], opts[k].name, len) == 0) o = &opts[k];
        if (!o) return cmd_error(cmd, "unknown option '%s' (see lemma %s CONFIG --help)", argv[i], cmd);
        if (o->flag && eq) return cmd_error(cmd, "%s takes no value", o->name);
        if (o->flag) *o->flag = 1;
        else if (eq) *o->value = eq + 1;
        else if (i + 1 < argc) *o->value = argv[++i];
        else return cmd_error(cmd, "%s needs a value", o->name);
    }
    return 0;
}

// A whole non-negative integer no larger than max; 0 or 2 with the message printed.
static int parse_count(const char *cmd, const char *opt, const char *s, int64_t max, int64_t *out) {
    char *end;
    errno = 0;
    long long x = strtoll(s, &end, 10);
    if (!s[0] || *end || errno || x < 0 || x > max)
        return cmd_error(cmd, "%s expects an integer in [0, %lld], got '%s'", opt, (long long)max, s);
    *out = x;
    return 0;
}

static FILE *open_out(const char *path) {
    if (!path || strcmp(path, "-") == 0) return stdout;
    return fopen(path, "w");
}

static void close_out(FILE *f) {
    if (f != stdout) fclose(f);
}

// ---------------------------------------------------------------------------
// gen

static int gen_write(const GenParams *gp, TaskSplit split, int64_t start, int64_t count, const char *path) {
    FILE *f = open_out(path);
    if (!f) return cmd_error("gen", "cannot write '%s': %s", path, strerror(errno));
    for (int64_t i = start; i < start + count; i++) {
        TaskProblem p;
        if (gen_problem(gp, split, i, &p)) {
            close_out(f);
            return cmd_error("gen", "could not draw problem %s-%lld: the tasks.* knobs leave too few problems",
                             tasks_split_name(split), (long long)i);
        }
        cJSON *o = tasks_problem_to_json(&p);
        lm_jsonl_write(f, o);
        cJSON_Delete(o);
        tasks_problem_free(&p);
    }
    close_out(f);
    fprintf(f == stdout ? stderr : stdout, "lemma gen: wrote %lld %s problems to %s\n",
            (long long)count, tasks_split_name(split), f == stdout ? "stdout" : path);
    return 0;
}

typedef struct {
    long n, with_distractors, ops_hist[TASK_MAX_STEPS + 1], rel_count[16];
    int64_t *answers, max_stated;
    long q_tok_min, q_tok_max, s_tok_min, s_tok_max;
    double q_tok_sum, s_tok_sum;
} GenStats;

static const char *stat_relations[] = {"times", "fraction", "more", "fewer", "gain", "loss",
                                       "share", "rate", "total", "difference", "convert"};
#define N_STAT_REL ((int)(sizeof stat_relations / sizeof stat_relations[0]))

static int token_count(const Tokenizer *tok, const char *text) {
    int needed = 0;
    tokenizer_encode(tok, text, NULL, 0, &needed);
    return needed;
}

static void stats_add(GenStats *st, const TaskProblem *p, const Tokenizer *tok) {
    const TaskGraph *g = p->graph;
    long q = token_count(tok, p->question), s = token_count(tok, p->solution);
    if (st->n == 0) st->q_tok_min = st->q_tok_max = q, st->s_tok_min = st->s_tok_max = s;
    st->q_tok_min = q < st->q_tok_min ? q : st->q_tok_min, st->q_tok_max = q > st->q_tok_max ? q : st->q_tok_max;
    st->s_tok_min = s < st->s_tok_min ? s : st->s_tok_min, st->s_tok_max = s > st->s_tok_max ? s : st->s_tok_max;
    st->q_tok_sum += q, st->s_tok_sum += s;
    st->ops_hist[p->ops <= TASK_MAX_STEPS ? p->ops : TASK_MAX_STEPS]++;
    for (int k = 0; k < g->n_steps; k++)
        for (int r = 0; r < N_STAT_REL; r++) st->rel_count[r] += strcmp(g->steps[k].relation, stat_relations[r]) == 0;
    st->answers[st->n++] = g->quantities[g->target].value;
    st->with_distractors += g->n_distractors > 0;
    if (gen_max_stated(g) > st->max_stated) st->max_stated = gen_max_stated(g);
}

static int cmp_i64(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

static void stats_print(GenStats *st) {
    printf("operations ");
    for (int k = 0; k <= TASK_MAX_STEPS; k++)
        if (st->ops_hist[k]) printf("  %d: %ld (%.1f%%)", k, st->ops_hist[k], 100.0 * st->ops_hist[k] / st->n);
    printf("\nrelations  ");
    for (int r = 0; r < N_STAT_REL; r++) printf("  %s %ld", stat_relations[r], st->rel_count[r]);
    qsort(st->answers, (size_t)st->n, sizeof(int64_t), cmp_i64);
    printf("\nanswers      min %lld  median %lld  max %lld\n", (long long)st->answers[0],
           (long long)st->answers[st->n / 2], (long long)st->answers[st->n - 1]);
    printf("question     tokens min %ld  mean %.1f  max %ld\n", st->q_tok_min, st->q_tok_sum / st->n, st->q_tok_max);
    printf("solution     tokens min %ld  mean %.1f  max %ld\n", st->s_tok_min, st->s_tok_sum / st->n, st->s_tok_max);
    printf("stated       largest number a step uses: %lld\n", (long long)st->max_stated);
    printf("distractors  %.1f%% of problems\n", 100.0 * st->with_distractors / st->n);
}

static int gen_stats(const Config *cfg, const GenParams *gp, TaskSplit split, int64_t start, int64_t count) {
    if (count == 0) return cmd_error("gen", "--stats needs --count of at least 1");
    Tokenizer tok;
    tokenizer_from_config(&tok, cfg);
    GenStats st = {0};
    st.answers = lm_malloc(sizeof(int64_t) * (size_t)count);
    int rc = 0;
    for (int64_t i = start; i < start + count && rc == 0; i++) {
        TaskProblem p;
        if (gen_problem(gp, split, i, &p)) {
            rc = cmd_error("gen", "could not draw problem %s-%lld", tasks_split_name(split), (long long)i);
            break;
        }
        stats_add(&st, &p, &tok);
        tasks_problem_free(&p);
    }
    if (rc == 0) {
        printf("lemma gen: %lld %s problems (seed %llu, indices %lld..%lld)\n", (long long)count,
               tasks_split_name(split), (unsigned long long)gp->seed, (long long)start, (long long)(start + count - 1));
        stats_print(&st);
    }
    free(st.answers);
    tokenizer_free(&tok);
    return rc;
}

int tasks_cmd_gen(const Config *cfg, const char *input, int argc, char **argv) {
    (void)input;
    const char *split_s = "train", *count_s = NULL, *out = NULL, *start_s = "0";
    int stats = 0, help = 0;
    CmdOpt opts[] = {{"--split", &split_s, NULL}, {"--count", &count_s, NULL}, {"--out", &out, NULL},
                     {"--start", &start_s, NULL}, {"--stats", NULL, &stats}, {"--help", NULL, &help}};
    if (parse_opts("gen", argc, argv, opts, 6)) return EXIT_USAGE;
    if (help) return dist.rank == 0 ? (fputs(gen_help, stdout), 0) : 0;
    GenParams gp;
    char err[512];
    if (gen_params_from_config(&gp, cfg, err, sizeof err)) return cmd_error("gen", "%s", err);
    int split = tasks_split_parse(split_s);
    if (split < 0) return cmd_error("gen", "--split must be train, test or ood, got '%s'", split_s);
    int64_t count = GEN_STATS_DEFAULT, start, limit = ((int64_t)1 << 38);
    if (!count_s && !stats) return cmd_error("gen", "--count N is required");
    if (count_s && parse_count("gen", "--count", count_s, limit, &count)) return EXIT_USAGE;
    if (parse_count("gen", "--start", start_s, limit - count, &start)) return EXIT_USAGE;
    if (stats && out) return cmd_error("gen", "--stats prints a summary; it does not take --out");
    if (!stats && !out) return cmd_error("gen", "--out FILE is required (or --stats)");
    if (dist.rank != 0) return 0;
    return stats ? gen_stats(cfg, &gp, (TaskSplit)split, start, count)
                 : gen_write(&gp, (TaskSplit)split, start, count, out);
}

// ---------------------------------------------------------------------------
// grade and verify: one pass over a JSONL file, one output line per good input line.

typedef int (*RecordFn)(cJSON *o, void *ctx, char *why, size_t why_len); // 0, or -1 malformed

// Runs fn over every record of in, writing the changed records to out_path (stdout when
// NULL); *info is where the summary goes. 0, or 2 with the message printed.
static int each_record(const char *cmd, const Config *cfg, const char *in, const char *out_path,
                       RecordFn fn, void *ctx, FILE **info) {
    LmJsonlReader r;
    char why[256], err[512];
    if (tasks_open(&r, in, err, sizeof err)) return cmd_error(cmd, "%s", err);
    FILE *out = open_out(out_path);
    if (!out) {
        lm_jsonl_close(&r);
        return cmd_error(cmd, "cannot write '%s': %s", out_path, strerror(errno));
    }
    *info = out == stdout ? stderr : stdout;
    cJSON *o;
    while ((o = tasks_next_record(&r))) {
        if (fn(o, ctx, why, sizeof why) == 0) lm_jsonl_write(out, o);
        else tasks_bad_line(&r, why);
        cJSON_Delete(o);
    }
    close_out(out);
    int rc = tasks_bad_check(&r, cfg_float(cfg, "data.max_bad_frac"), err, sizeof err);
    lm_jsonl_close(&r);
    return rc ? cmd_error(cmd, "%s", err) : 0;
}

static const char *json_str(const cJSON *o, const char *key) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static void json_set(cJSON *o, const char *key, cJSON *v) {
    cJSON_DeleteItemFromObjectCaseSensitive(o, key);
    cJSON_AddItemToObject(o, key, v);
}

typedef struct {
    long n, right, none;
} GradeCount;

// The gold answer of a record: 'answer' (string or number; GSM8K "... #### X" -> X).
static char *gold_answer(const cJSON *o) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, "answer");
    if (cJSON_IsNumber(v)) {
        char buf[64];
        snprintf(buf, sizeof buf, "%.17g", v->valuedouble);
        return lm_strdup(buf);
    }
    if (!cJSON_IsString(v)) return NULL;
    return strstr(v->valuestring, "####") ? grade_after_hashes(v->valuestring) : lm_strdup(v->valuestring);
}

static int grade_record(cJSON *o, void *ctx, char *why, size_t why_len) {
    GradeCount *c = ctx;
    const char *completion = json_str(o, "completion"), *prediction = json_str(o, "prediction");
    char *gold = gold_answer(o);
    if ((!completion && !prediction) || !gold) {
        snprintf(why, why_len, "%s", !gold ? "no gold 'answer' (string or number)"
                                           : "no string 'completion' or 'prediction'");
        free(gold);
        return -1;
    }
    char *pred = completion ? grade_extract_answer(completion, NULL) : lm_strdup(prediction);
    int ok = pred && grade_equal(pred, gold);
    json_set(o, "pred", pred ? cJSON_CreateString(pred) : cJSON_CreateNull());
    json_set(o, "correct", cJSON_CreateBool(ok));
    json_set(o, "verdict", cJSON_CreateString(ok ? "right" : pred ? "wrong" : "no_answer"));
    c->n++, c->right += ok, c->none += !pred;
    free(pred);
    free(gold);
    return 0;
}

// A command over one JSONL file: its name, help, what it does to a record, its summary.
typedef struct {
    const char *name, *help;
    RecordFn fn;
    void (*summary)(FILE *info, const void *ctx);
} IoCommand;

static int io_command(const IoCommand *ic, void *ctx, const Config *cfg, const char *input, int argc, char **argv) {
    const char *out = NULL;
    int help = 0;
    CmdOpt opts[] = {{"--out", &out, NULL}, {"--help", NULL, &help}};
    if (parse_opts(ic->name, argc, argv, opts, 2)) return EXIT_USAGE;
    if (dist.rank != 0) return 0;
    if (help) return fputs(ic->help, stdout), 0;
    FILE *info;
    int rc = each_record(ic->name, cfg, input, out, ic->fn, ctx, &info);
    if (rc == 0) ic->summary(info, ctx);
    return rc;
}

static void grade_summary(FILE *info, const void *ctx) {
    const GradeCount *c = ctx;
    fprintf(info, "lemma grade: accuracy %.4f (%ld of %ld correct); %ld wrong, %ld without an answer\n",
            c->n ? (double)c->right / c->n : 0.0, c->right, c->n, c->n - c->right - c->none, c->none);
}

int tasks_cmd_grade(const Config *cfg, const char *input, int argc, char **argv) {
    static const IoCommand ic = {"grade", grade_help, grade_record, grade_summary};
    GradeCount c = {0};
    return io_command(&ic, &c, cfg, input, argc, argv);
}

typedef struct {
    long n, n_wrong, n_ok, n_none, steps[3];
} VerifyCount;

static cJSON *step_json(const VerifyStep *st, int i) {
    cJSON *s = cJSON_CreateObject(), *checks = cJSON_CreateArray();
    cJSON_AddNumberToObject(s, "step", i);
    cJSON_AddNumberToObject(s, "line", st->line);
    cJSON_AddStringToObject(s, "text", st->text);
    cJSON_AddStringToObject(s, "verdict", verify_verdict_name(st->verdict));
    for (int k = 0; k < st->n_checks; k++) {
        char value[64];
        cJSON *c = cJSON_CreateObject();
        tasks_num_format(st->checks[k].value, value, sizeof value);
        cJSON_AddStringToObject(c, "expr", st->checks[k].expr);
        cJSON_AddStringToObject(c, "stated", st->checks[k].stated);
        cJSON_AddStringToObject(c, "value", value);
        cJSON_AddBoolToObject(c, "ok", st->checks[k].ok);
        cJSON_AddItemToArray(checks, c);
    }
    cJSON_AddItemToObject(s, "checks", checks);
    return s;
}

// The text to verify: 'solution', else 'completion', else a GSM8K 'answer'.
static const char *verify_source(const cJSON *o) {
    const char *t = json_str(o, "solution");
    if (!t) t = json_str(o, "completion");
    if (!t && (t = json_str(o, "answer")) && !strstr(t, "####")) t = NULL;
    return t;
}

static int verify_record(cJSON *o, void *ctx, char *why, size_t why_len) {
    VerifyCount *c = ctx;
    const char *text = verify_source(o);
    if (!text) {
        snprintf(why, why_len, "no string 'solution' or 'completion' (or GSM8K 'answer')");
        return -1;
    }
    VerifyResult r;
    verify_solution(text, strstr(text, "####") || strstr(text, "<<") ? VERIFY_SENTENCES : 0, &r);
    cJSON *steps = cJSON_CreateArray();
    for (int i = 0; i < r.n_steps; i++) {
        cJSON_AddItemToArray(steps, step_json(&r.steps[i], i));
        c->steps[r.steps[i].verdict]++;
    }
    json_set(o, "steps", steps);
    json_set(o, "first_wrong_step", r.first_wrong >= 0 ? cJSON_CreateNumber(r.first_wrong) : cJSON_CreateNull());
    const char *verdict = r.n_wrong ? "wrong" : r.n_ok ? "ok" : "none";
    json_set(o, "verdict", cJSON_CreateString(verdict));
    c->n++, c->n_wrong += r.n_wrong > 0, c->n_ok += !r.n_wrong && r.n_ok, c->n_none += !r.n_wrong && !r.n_ok;
    verify_result_free(&r);
    return 0;
}

static void verify_summary(FILE *info, const void *ctx) {
    const VerifyCount *c = ctx;
    fprintf(info, "lemma verify: %ld solutions: %ld with a wrong step, %ld all ok, %ld nothing checkable; "
            "steps: %ld ok, %ld wrong, %ld unchecked\n", c->n, c->n_wrong, c->n_ok, c->n_none,
            c->steps[VERIFY_OK], c->steps[VERIFY_WRONG], c->steps[VERIFY_NONE]);
}

int tasks_cmd_verify(const Config *cfg, const char *input, int argc, char **argv) {
    static const IoCommand ic = {"verify", verify_help, verify_record, verify_summary};
    VerifyCount c = {0};
    return io_command(&ic, &c, cfg, input, argc, argv);
}
