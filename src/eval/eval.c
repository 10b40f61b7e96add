// eval/eval: the evaluation phase. Every split's problems are read first (a bad file stops
// the phase before any decoding). Then, split by split, rank r decodes greedily the problems
// i with i % W == r through the sampler's engine (context model.max_seq on every rank, so
// that a completion does not depend on the number of ranks), grades and analyses each
// output and writes its record to its part file; every few engine steps the ranks sum their
// progress in one collective and leave the loop together. Rank 0 then merges the parts,
// writes the split's summary and metrics line, and at the end prints the table.
#include "lemma/dist.h"
#include "lemma/eval.h"
#include "lemma/util.h"

#include <cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define EVAL_SYNC_EVERY 8 // engine steps between the collective progress sums
#define EVAL_WARN_MAX 5   // skipped prompts named one by one per rank and split

typedef struct {
    long index;      // global problem index in the split
    LemmaQuestion q; // the problem and its reference (for locate)
    int *prompt;     // bos + tasks_prompt(question)
    int prompt_len;
} EvalItem;

typedef struct {
    const EvalOptions *o;
    const EvalSplit *sp;
    long n_total;      // problems of the split (all ranks)
    EvalItem *items;   // this rank's problems that fit the context
    long n_items, next; // the source's cursor
    long done;         // this rank's finished problems
    FILE *part;
    EvalCounts counts; // this rank's (summed over ranks after the loop)
    double seconds;
} EvalRun;

// ---------------------------------------------------------------------------
// problems

static void eval_add(EvalRun *r, const Tokenizer *tok, TaskProblem *p, long index, int ctx) {
    int len;
    int *prompt = sample_encode_prompt(tok, p->question, &len);
    if (len >= ctx) { // no room for one generated token
        if (r->counts.skipped++ < EVAL_WARN_MAX)
            lm_warn("eval: %s: skipping problem '%s' (index %ld): its prompt has %d tokens, no "
                    "room for a completion within model.max_seq = %d", r->sp->name, p->id,
                    index, len, ctx);
        free(prompt);
        tasks_problem_free(p);
        return;
    }
    EvalItem *it = &r->items[r->n_items++];
    it->index = index, it->prompt = prompt, it->prompt_len = len;
    lemma_question_init(&it->q, index, p);
}

// This rank's problems of the split; 0, or 2 with err.
static int eval_load(EvalRun *r, const Tokenizer *tok, int ctx, char *err, size_t err_len) {
    const EvalOptions *o = r->o;
    TaskSet set = {0};
    if (r->sp->path) {
        char why[900];
        if (tasks_load(r->sp->path, o->max_bad, &set, why, sizeof why) != 0) {
            snprintf(err, err_len, "split '%s': %s", r->sp->name, why);
            return 2;
        }
        r->n_total = o->problems > 0 && o->problems < set.n ? o->problems : set.n;
    } else {
        r->n_total = o->problems;
    }
    r->items = lm_calloc((size_t)(r->n_total / dist.size + 1), sizeof(EvalItem));
    int rc = 0;
    for (long i = dist.rank; i < r->n_total && rc == 0; i += dist.size) {
        TaskProblem p;
        if (r->sp->path) {
            p = set.items[i];
            memset(&set.items[i], 0, sizeof p); // taken over
            eval_add(r, tok, &p, i, ctx);
        } else if (gen_problem(&o->gen_params, r->sp->split, i, &p) == 0) {
            eval_add(r, tok, &p, i, ctx);
        } else {
            snprintf(err, err_len, "the task generator could not draw %s problem %ld with these "
                     "tasks.* settings", r->sp->name, i);
            rc = 2;
        }
    }
    if (r->counts.skipped > EVAL_WARN_MAX)
        lm_warn("eval: %s: %ld prompts skipped in all on this rank (longer than model.max_seq)",
                r->sp->name, r->counts.skipped);
    tasks_set_free(&set);
    return rc;
}

static void eval_run_free(EvalRun *r) {
    for (long i = 0; i < r->n_items; i++) {
        lemma_question_free(&r->items[i].q);
        free(r->items[i].prompt);
    }
    free(r->items);
    if (r->part) fclose(r->part);
    memset(r, 0, sizeof *r);
}

// ---------------------------------------------------------------------------
// the engine's source and sink

static int eval_source(void *ctx, SampleRequest *req) {
    EvalRun *r = ctx;
    if (r->next >= r->n_items) return 0;
    const EvalItem *it = &r->items[r->next];
    *req = (SampleRequest){it->prompt, it->prompt_len, it->index, -1, r->next};
    r->next++;
    return 1;
}

static cJSON *eval_record(const EvalItem *it, const char *text, const EvalOutcome *oc,
                          const SampleResult *res) {
    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "id", it->q.p.id);
    cJSON_AddNumberToObject(j, "problem", (double)it->index);
    cJSON_AddStringToObject(j, "completion", text);
    if (oc->pred) cJSON_AddStringToObject(j, "pred", oc->pred);
    else cJSON_AddNullToObject(j, "pred");
    cJSON_AddStringToObject(j, "gold", it->q.p.answer);
    cJSON_AddBoolToObject(j, "correct", oc->correct);
    if (oc->located) {
        cJSON_AddStringToObject(j, "error_type", lemma_error_name(oc->loc.type));
        cJSON_AddNumberToObject(j, "first_error_step", oc->loc.step);
    }
    cJSON_AddBoolToObject(j, "reflection", oc->reflect_at >= 0);
    cJSON_AddStringToObject(j, "finish", sample_finish_name(res->finish));
    cJSON_AddNumberToObject(j, "tokens", res->n_tokens);
    return j;
}

static void eval_sink(void *ctx, const SampleResult *res) {
    EvalRun *r = ctx;
    const EvalItem *it = &r->items[res->req.tag];
    char *text = sample_utf8_clean(res->text, res->text_len);
    EvalOutcome oc;
    eval_outcome(&it->q, text, &r->o->phrases, r->o->back, &oc);
    eval_counts_add(&r->counts, &oc);
    r->counts.tokens += res->n_tokens;
    cJSON *rec = eval_record(it, text, &oc, res);
    lm_jsonl_write(r->part, rec);
    cJSON_Delete(rec);
    eval_outcome_free(&oc);
    free(text);
    r->done++;
}

// ---------------------------------------------------------------------------
// the loop

// Steps the engine until no rank has work. Collective: the ranks sum (work left, problems
// done, tokens) every EVAL_SYNC_EVERY steps; rank 0 prints a progress line every log_every
// seconds and once at the end.
static void eval_loop(EvalRun *r, SampleEngine *e, long todo) {
    double t0 = lm_now(), t_log = t0;
    for (long it = 1;; it++) {
        int busy = sample_engine_step(e, eval_source, r, eval_sink, r);
        if (it % EVAL_SYNC_EVERY) continue;
        double g[3] = {busy > 0 || r->next < r->n_items, (double)r->done, (double)r->counts.tokens};
        dist_allreduce_sum_f64(g, 3);
        double now = lm_now(), el = now - t0 > 0 ? now - t0 : 1e-9;
        int last = g[0] == 0;
        if (!last && now - t_log < r->o->log_every) continue;
        t_log = now;
        double eta = g[1] > 0 ? ((double)todo - g[1]) * el / g[1] : 0.0;
        lm_info("eval: %s problems %.0f/%ld | %.0f tok/s | eta %.0fs", r->sp->name, g[1], todo,
                g[2] / el, eta);
        if (last) return;
    }
}

static void eval_counts_allreduce(EvalCounts *c) {
    dist_allreduce_sum_long((long *)c, sizeof *c / sizeof(long)); // EvalCounts is all longs
}

static void eval_metrics(const EvalRun *r, const char *run_dir, const char *label, long step) {
    const EvalCounts *c = &r->counts;
    double lo, hi;
    eval_wilson(c->correct, c->n, EVAL_Z95, &lo, &hi);
    cJSON *m = cJSON_CreateObject();
    cJSON_AddStringToObject(m, "phase", "eval");
    cJSON_AddStringToObject(m, "model", label);
    cJSON_AddStringToObject(m, "split", r->sp->name);
    cJSON_AddNumberToObject(m, "step", (double)step);
    cJSON_AddNumberToObject(m, "n", (double)c->n);
    cJSON_AddNumberToObject(m, "correct", (double)c->correct);
    cJSON_AddNumberToObject(m, "accuracy", c->n ? (double)c->correct / (double)c->n : 0.0);
    cJSON_AddNumberToObject(m, "ci95_lo", lo);
    cJSON_AddNumberToObject(m, "ci95_hi", hi);
    lm_metrics_append(run_dir, m);
}

// Rank 0's outputs of a split: the merged records, the summary and the metrics line.
static int eval_write(EvalRun *r, const char *run_dir, const char *out_dir, const char *label,
                      long step, char *err, size_t err_len) {
    if (eval_merge(out_dir, r->sp->name, dist.size, r->n_total, err, err_len) != 0) return -1;
    char path[4096];
    snprintf(path, sizeof path, "%s/%s.json", out_dir, r->sp->name);
    cJSON *sum = eval_summary_json(r->sp->name, label, step, &r->counts, r->seconds);
    int bad = lm_json_write_file(path, sum, err, err_len);
    cJSON_Delete(sum);
    if (bad) return -1;
    eval_metrics(r, run_dir, label, step);
    return 0;
}

// One split: decode, then merge. 0, or 1 with err (every rank the same).
static int eval_split(EvalRun *r, SampleEngine *e, const char *run_dir, const char *out_dir,
                      const char *label, long step, char *err, size_t err_len) {
    char path[4096];
    eval_part_path(out_dir, r->sp->name, dist.rank, path, sizeof path);
    r->part = fopen(path, "w");
    if (dist_any(r->part == NULL)) {
        snprintf(err, err_len, "cannot open the part files in %s (%s)", out_dir, path);
        return 1;
    }
    EvalCounts c = r->counts;
    eval_counts_allreduce(&c);
    lm_info("eval: %s: %ld problems (%ld skipped: prompt too long), %d sequences per rank on %d "
            "rank(s)", r->sp->name, r->n_total, c.skipped, r->o->gen.slots, dist.size);
    double t0 = lm_now();
    eval_loop(r, e, r->n_total - c.skipped);
    fclose(r->part), r->part = NULL;
    dist_barrier(); // every part file complete
    r->seconds = lm_now() - t0;
    eval_counts_allreduce(&r->counts);
    r->counts.problems = r->n_total;
    int bad = dist.rank == 0 && eval_write(r, run_dir, out_dir, label, step, err, err_len) != 0;
    if (dist_any(bad)) {
        if (!bad) snprintf(err, err_len, "rank 0 could not write the results of split '%s'", r->sp->name);
        return 1;
    }
    return 0;
}

// One indented row of a breakdown: "    level 3" or "    Algebra".
static void eval_table_row(const char *what, const char *name, int level, long n, long right) {
    char label[64];
    if (name) snprintf(label, sizeof label, "  %s", name);
    else snprintf(label, sizeof label, "  %s %d", what, level);
    double lo, hi;
    eval_wilson(right, n, EVAL_Z95, &lo, &hi);
    lm_info("  %-24.24s %7ld %9.4f  [%.4f, %.4f]", label, n, (double)right / (double)n, lo, hi);
}

static void eval_table(const EvalRun *runs, int n, const char *out_dir, const char *label,
                       long step) {
    lm_info("eval: model %s (step %ld), results in %s", label, step, out_dir);
    lm_info("  %-24s %7s %9s  %s", "split", "n", "accuracy", "95% CI");
    for (int i = 0; i < n; i++) {
        const EvalCounts *c = &runs[i].counts;
        double lo, hi;
        eval_wilson(c->correct, c->n, EVAL_Z95, &lo, &hi);
        lm_info("  %-24s %7ld %9.4f  [%.4f, %.4f]", runs[i].sp->name, c->n,
                c->n ? (double)c->correct / (double)c->n : 0.0, lo, hi);
        for (int l = 1; l <= 5; l++) // MATH sets: by level, then by subject
            if (c->level_n[l]) eval_table_row("level", NULL, l, c->level_n[l], c->level_correct[l]);
        for (int s = 0; s < EVAL_N_SUBJECTS; s++)
            if (c->subject_n[s]) eval_table_row(NULL, eval_subject_name(s), 0, c->subject_n[s], c->subject_correct[s]);
    }
}

// Every split's problems on every rank; 0, or 2 with err (agreed over ranks).
static int eval_prepare(EvalRun *runs, const EvalOptions *o, const Tokenizer *tok, int ctx,
                        const char *out_dir, char *err, size_t err_len) {
    int rc = 0;
    for (int i = 0; i < o->n_splits && rc == 0; i++) {
        runs[i].o = o, runs[i].sp = &o->splits[i];
        rc = eval_load(&runs[i], tok, ctx, err, err_len);
    }
    if (dist_any(rc != 0)) { // rank 0 prints its own message; another rank's only when it differs
        int rc0 = rc;
        dist_bcast(&rc0, sizeof rc0, 0);
        if (rc != 0 && rc0 == 0) lm_warn("eval: %s", err);
        if (rc == 0) snprintf(err, err_len, "another rank could not read its problems (see its message)");
        return 2;
    }
    int bad = dist.rank == 0 && lm_mkdir_p(out_dir) != 0;
    if (dist_any(bad)) {
        snprintf(err, err_len, "cannot create the directory %s", out_dir);
        return 1;
    }
    return 0;
}

int eval_phase(Model *m, const Tokenizer *tok, const EvalOptions *o, const char *run_dir,
               const char *out_dir, const char *label, long step, char *err, size_t err_len) {
    int ctx = m->cfg.max_seq;
    EvalRun *runs = lm_calloc((size_t)o->n_splits, sizeof(EvalRun));
    int rc = eval_prepare(runs, o, tok, ctx, out_dir, err, err_len);
    if (rc == 0) {
        SampleConfig c = o->gen;
        c.ctx = ctx;
        SampleEngine *e = sample_engine_create(m, tok, &c);
        for (int i = 0; i < o->n_splits && rc == 0; i++)
            rc = eval_split(&runs[i], e, run_dir, out_dir, label, step, err, err_len);
        sample_engine_free(e);
        if (rc == 0) eval_table(runs, o->n_splits, out_dir, label, step);
    }
    for (int i = 0; i < o->n_splits; i++) eval_run_free(&runs[i]);
    free(runs);
    return rc;
}
