// sample/phase: the data-parallel sampling phase. Rank r takes the problems i with
// i % W == r (of data.train or the built-in train split) and decodes, for each, one greedy
// completion (sample -1, with sample.greedy) and sample.k sampled ones through the engine.
// Every finished sample is graded and appended to the rank's part file at once; pairs
// already in any part file are skipped, so a killed or stopped run resumes where it was.
// Every sync_every engine steps the ranks sum their progress (and any signal) in one
// collective; they leave the loop together when no rank has work left. Rank 0 then merges.
#include "lemma/dist.h"
#include "lemma/sample.h"
#include "lemma/util.h"

#include <cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SAMPLE_SYNC_EVERY 8 // engine steps between the collective progress sums
#define SAMPLE_WARN_MAX 5   // skipped prompts named one by one per rank

typedef struct {
    long index;      // global problem index
    char *id, *gold; // problem id and gold answer
    int *prompt;     // bos + tasks_prompt(question)
    int prompt_len;
    int skip;        // the prompt does not fit model.max_seq
    int left;        // (problem, sample) pairs not finished
} SampleItem;

typedef struct {
    const SampleOptions *o;
    int cols;               // pairs per problem: column 0 greedy, 1 + j sample j
    long n_total;           // problems of the phase (all ranks)
    SampleItem *items;      // this rank's: item q is problem rank + q * W
    long n_items;
    unsigned char *done;    // (n_items, cols)
    long next_q;            // the source's cursor: item and column
    int next_c;
    FILE *part;
    long done_problems;     // this rank's problems with every pair finished
    long done_samples;      // this rank's finished samples (greedy ones not counted)
    long skipped;           // this rank's prompts that do not fit
    long max_prompt;        // longest prompt of this rank (skipped ones not counted)
} Sampler;

// ---------------------------------------------------------------------------
// problems

static void sampler_add(Sampler *s, const Tokenizer *tok, const TaskProblem *p, long index,
                        int max_seq) {
    SampleItem *it = &s->items[s->n_items++];
    it->index = index;
    it->id = lm_strdup(p->id);
    it->gold = lm_strdup(p->answer);
    it->prompt = sample_encode_prompt(tok, p->question, &it->prompt_len);
    it->skip = it->prompt_len >= max_seq; // no room for one generated token
    if (!it->skip && it->prompt_len > s->max_prompt) s->max_prompt = it->prompt_len;
}

// This rank's problems: from o->data, else the built-in train split. 0, or -1 with err.
static int sampler_load(Sampler *s, const Tokenizer *tok, int max_seq, char *err, size_t err_len) {
    const SampleOptions *o = s->o;
    TaskSet set = {0};
    if (o->data[0]) {
        if (tasks_load(o->data, o->max_bad, &set, err, err_len) != 0) return -1;
        s->n_total = o->problems > 0 && o->problems < set.n ? o->problems : set.n;
    } else {
        s->n_total = o->problems > 0 ? o->problems : o->builtin_size;
    }
    if (s->n_total > SAMPLE_MAX_PROBLEMS) {
        snprintf(err, err_len, "%ld problems: the sampler's randomness key holds %ld at most "
                 "(set sample.problems)", s->n_total, SAMPLE_MAX_PROBLEMS);
        tasks_set_free(&set);
        return -1;
    }
    long W = dist.size;
    s->items = lm_calloc((size_t)(s->n_total / W + 1), sizeof(SampleItem));
    int rc = 0;
    for (long i = dist.rank; i < s->n_total && rc == 0; i += W) {
        TaskProblem p;
        if (o->data[0]) {
            sampler_add(s, tok, &set.items[i], i, max_seq);
        } else if (gen_problem(&o->gen_params, TASK_SPLIT_TRAIN, i, &p) == 0) {
            sampler_add(s, tok, &p, i, max_seq);
            tasks_problem_free(&p);
        } else {
            snprintf(err, err_len, "the task generator could not draw train problem %ld with "
                     "these tasks.* settings", i);
            rc = -1;
        }
    }
    if (o->data[0]) tasks_set_free(&set);
    return rc;
}

// Applies sample.too_long to this rank's prompts that do not fit: counted and named (skip),
// or -1 with err (error).
static int sampler_too_long(Sampler *s, int max_seq, char *err, size_t err_len) {
    for (long q = 0; q < s->n_items; q++) {
        const SampleItem *it = &s->items[q];
        if (!it->skip) continue;
        if (s->o->too_long_error) {
            snprintf(err, err_len, "problem '%s' (index %ld): its prompt has %d tokens, no room "
                     "for a completion within model.max_seq = %d (sample.too_long = error)",
                     it->id, it->index, it->prompt_len, max_seq);
            return -1;
        }
        if (s->skipped++ < SAMPLE_WARN_MAX)
            lm_warn("sample: skipping problem '%s' (index %ld): its prompt has %d tokens, no "
                    "room for a completion within model.max_seq = %d", it->id, it->index,
                    it->prompt_len, max_seq);
    }
    if (s->skipped > SAMPLE_WARN_MAX)
        lm_warn("sample: %ld prompts skipped in all on this rank (longer than model.max_seq)",
                s->skipped);
    return 0;
}

// ---------------------------------------------------------------------------
// resume

static void sampler_mark(void *ctx, long problem, int sample, int correct, const char *line) {
    Sampler *s = ctx;
    (void)correct, (void)line;
    if (problem >= s->n_total || problem % dist.size != dist.rank || sample + 1 >= s->cols) return;
    if (sample < 0 && !s->o->greedy) return;
    s->done[(size_t)(problem / dist.size) * s->cols + (size_t)(sample + 1)] = 1;
}

// Finished pairs from every part file, then this rank's part file opened for appending.
static int sampler_resume(Sampler *s, char *err, size_t err_len) {
    const char *dir = s->o->run_dir;
    char path[4096];
    snprintf(path, sizeof path, "%s/samples", dir);
    int bad = lm_mkdir_p(path) != 0;
    sample_part_path(dir, dist.rank, path, sizeof path);
    long cut = bad ? 0 : sample_part_repair(path);
    if (cut > 0) lm_warn("sample: %s: dropped a truncated last line (%ld bytes)", path, cut);
    bad |= cut < 0;
    if (dist_any(bad)) {
        snprintf(err, err_len, "cannot prepare %s/samples (or a part file in it)", dir);
        return -1;
    }
    dist_barrier(); // every part file is whole before anyone reads them
    s->done = lm_calloc((size_t)(s->n_items ? s->n_items : 1) * s->cols, 1);
    if (!s->o->greedy)
        for (long q = 0; q < s->n_items; q++) s->done[(size_t)q * s->cols] = 1;
    sample_parts_scan(dir, sampler_mark, s, dist.rank != 0);
    for (long q = 0; q < s->n_items; q++) {
        SampleItem *it = &s->items[q];
        for (int c = 0; c < s->cols; c++) it->left += !s->done[(size_t)q * s->cols + c];
        for (int c = 1; c < s->cols; c++) s->done_samples += s->done[(size_t)q * s->cols + c];
        if (it->skip) it->left = 0;
        else if (it->left == 0) s->done_problems++;
    }
    s->part = fopen(path, "a");
    if (dist_any(s->part == NULL)) {
        snprintf(err, err_len, "cannot open %s for appending", path);
        return -1;
    }
    return 0;
}

// ---------------------------------------------------------------------------
// the engine's source and sink

// Moves the cursor to the next pair to start (skipping finished ones); 0 when none is left.
static int sampler_peek(Sampler *s) {
    for (; s->next_q < s->n_items; s->next_q++, s->next_c = 0) {
        if (s->items[s->next_q].skip) continue;
        for (; s->next_c < s->cols; s->next_c++)
            if (!s->done[(size_t)s->next_q * s->cols + s->next_c]) return 1;
    }
    return 0;
}

static int sampler_source(void *ctx, SampleRequest *r) {
    Sampler *s = ctx;
    if (!sampler_peek(s)) return 0;
    const SampleItem *it = &s->items[s->next_q];
    r->prompt = it->prompt, r->prompt_len = it->prompt_len;
    r->problem = it->index, r->sample = s->next_c - 1;
    r->tag = s->next_q * s->cols + s->next_c;
    s->next_c++;
    return 1;
}

// The record of a finished sample, graded.
static cJSON *sampler_record(const SampleItem *it, const SampleResult *r) {
    char *text = sample_utf8_clean(r->text, r->text_len);
    char *pred = grade_extract_answer(text, NULL);
    int ok = pred && grade_equal(pred, it->gold);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "id", it->id);
    cJSON_AddNumberToObject(o, "problem", (double)it->index);
    cJSON_AddNumberToObject(o, "sample", r->req.sample);
    if (r->req.sample < 0) cJSON_AddBoolToObject(o, "greedy", 1);
    cJSON_AddStringToObject(o, "completion", text);
    if (pred) cJSON_AddStringToObject(o, "pred", pred);
    else cJSON_AddNullToObject(o, "pred");
    cJSON_AddBoolToObject(o, "correct", ok);
    cJSON_AddStringToObject(o, "gold", it->gold);
    cJSON_AddStringToObject(o, "finish", sample_finish_name(r->finish));
    cJSON_AddNumberToObject(o, "tokens", r->n_tokens);
    free(text);
    free(pred);
    return o;
}

static void sampler_sink(void *ctx, const SampleResult *r) {
    Sampler *s = ctx;
    long q = r->req.tag / s->cols;
    SampleItem *it = &s->items[q];
    cJSON *rec = sampler_record(it, r);
    lm_jsonl_write(s->part, rec); // one flushed line: the resume point
    cJSON_Delete(rec);
    s->done[r->req.tag] = 1;
    s->done_samples += r->req.sample >= 0;
    if (--it->left == 0) s->done_problems++;
}

// ---------------------------------------------------------------------------
// the loop

typedef struct {
    double t0, t_log;
    long todo, done0; // problems of the phase (all ranks, skipped ones left out), done at start
} Progress;

static void sampler_progress(const SampleOptions *o, Progress *pg, const double *g, int last) {
    double now = lm_now();
    if (!last && now - pg->t_log < o->log_every) return;
    pg->t_log = now;
    double el = now - pg->t0, rate = (g[1] - (double)pg->done0) / (el > 0 ? el : 1e-9);
    double eta = rate > 0 ? ((double)pg->todo - g[1]) / rate : 0.0;
    lm_info("sample: problems %.0f/%ld | %.0f samples | %.0f tok/s | eta %.0fs", g[1], pg->todo,
            g[2], g[3] / (el > 0 ? el : 1e-9), eta);
}

// Steps the engine until no rank has work (SAMPLE_DONE) or a signal / the deadline stops
// every rank (SAMPLE_STOPPED). Collective: ranks sync every SAMPLE_SYNC_EVERY iterations,
// idle ones included.
static SampleStatus sampler_loop(Sampler *s, SampleEngine *e, Progress *pg, long *tokens) {
    for (long it = 1;; it++) {
        int busy = e ? sample_engine_step(e, sampler_source, s, sampler_sink, s) : 0;
        if (it % SAMPLE_SYNC_EVERY) continue;
        long gen = e ? sample_engine_tokens(e) : 0;
        int stop = dist_signal_seen() || (s->o->deadline > 0 && lm_now() >= s->o->deadline);
        int more = busy > 0 || sampler_peek(s); // a freed slot is refilled next step
        double g[5] = {more, (double)s->done_problems, (double)s->done_samples, (double)gen, stop};
        dist_allreduce_sum_f64(g, 5);
        *tokens = (long)g[3];
        sampler_progress(s->o, pg, g, g[0] == 0 || g[4] > 0);
        if (g[4] > 0) return SAMPLE_STOPPED;
        if (g[0] == 0) return SAMPLE_DONE;
    }
}

static void sampler_free(Sampler *s) {
    for (long q = 0; q < s->n_items; q++) {
        free(s->items[q].id);
        free(s->items[q].gold);
        free(s->items[q].prompt);
    }
    free(s->items);
    free(s->done);
    if (s->part) fclose(s->part);
}

// Loading, the too-long policy and resume, agreed over ranks: 0, -2 (bad input: the
// problems, a prompt) or -1, with err.
static int sampler_init(Sampler *s, const Tokenizer *tok, int max_seq, char *err,
                        size_t err_len) {
    int rc = sampler_load(s, tok, max_seq, err, err_len);
    if (rc == 0) rc = sampler_too_long(s, max_seq, err, err_len);
    if (dist_any(rc != 0)) {
        if (rc != 0 && dist.rank != 0) lm_warn("sample: %s", err); // rank 0 prints its own
        if (rc == 0) snprintf(err, err_len, "another rank could not prepare its problems (see "
                              "its message)");
        return -2;
    }
    return sampler_resume(s, err, err_len);
}

SampleStatus sample_phase(Model *m, const Tokenizer *tok, const SampleOptions *o,
                          SampleSummary *sum, char *err, size_t err_len) {
    Sampler s;
    memset(&s, 0, sizeof s);
    memset(sum, 0, sizeof *sum);
    s.o = o, s.cols = o->k + 1;
    int rc = sampler_init(&s, tok, m->cfg.max_seq, err, err_len);
    if (rc != 0) {
        sampler_free(&s);
        return rc == -2 ? SAMPLE_BAD_INPUT : SAMPLE_FAILED;
    }
    double g[2] = {(double)s.skipped, (double)s.done_problems};
    dist_allreduce_sum_f64(g, 2);
    Progress pg = {lm_now(), lm_now(), s.n_total - (long)g[0], (long)g[1]};
    sum->problems = s.n_total, sum->skipped = (long)g[0];
    lm_info("sample: %ld problems (%ld skipped, %ld already done), %d samples each%s, %d "
            "sequences per rank on %d rank(s)", s.n_total, sum->skipped, pg.done0, o->k,
            o->greedy ? " + greedy" : "", o->gen.slots, dist.size);
    SampleEngine *e = NULL;
    if (s.max_prompt > 0) { // this rank has prompts: a cache as long as they need
        SampleConfig c = o->gen;
        long ctx = s.max_prompt + c.max_new_tokens;
        c.ctx = (int)(ctx < m->cfg.max_seq ? ctx : m->cfg.max_seq);
        e = sample_engine_create(m, tok, &c);
    }
    SampleStatus st = sampler_loop(&s, e, &pg, &sum->tokens);
    sum->seconds = lm_now() - pg.t0;
    sample_engine_free(e);
    fclose(s.part), s.part = NULL;
    dist_barrier(); // every part file complete
    if (st == SAMPLE_DONE) {
        int rc = dist.rank == 0 ? sample_merge(o->run_dir, s.n_total, o->k, o->greedy, sum, err,
                                               err_len) : 0;
        long long bad = rc != 0;
        dist_allreduce_max_i64(&bad);
        dist_bcast(sum, sizeof *sum, 0);
        if (bad) {
            if (dist.rank != 0) snprintf(err, err_len, "rank 0 could not merge the samples");
            st = SAMPLE_FAILED;
        }
    }
    sampler_free(&s);
    return st;
}

// ---------------------------------------------------------------------------
// The report: printed on rank 0, and one line in RUN_DIR/metrics.jsonl.

void sample_report(const SampleOptions *o, const SampleSummary *s) {
    if (dist.rank != 0) return;
    lm_info("sample: %ld tokens generated in %.1fs (%.0f tok/s)", s->tokens, s->seconds,
            s->tokens / (s->seconds > 0 ? s->seconds : 1e-9));
    if (s->skipped)
        lm_info("sample: %ld of %ld problems skipped: prompt longer than the context",
                s->skipped, s->problems);
    char greedy[96] = "";
    if (o->greedy)
        snprintf(greedy, sizeof greedy, "greedy pass@1 %.4f (%ld/%ld) | ", s->greedy_pass1,
                 s->greedy_correct, s->greedy_n);
    lm_info("sample: %smean accuracy %.4f (%ld/%ld samples) | pass@1 %.4f | pass@%d %.4f "
            "(%ld problems)", greedy, s->mean_accuracy, s->correct, s->samples, s->pass_at_1,
            o->k, s->pass_at_k, s->sampled);
    lm_info("sample: wrote %s/samples.jsonl%s", o->run_dir, o->greedy ? " and greedy.jsonl" : "");
    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "phase", "sample");
    cJSON_AddNumberToObject(j, "problems", (double)s->problems);
    cJSON_AddNumberToObject(j, "skipped", (double)s->skipped);
    cJSON_AddNumberToObject(j, "k", o->k);
    cJSON_AddNumberToObject(j, "samples", (double)s->samples);
    cJSON_AddNumberToObject(j, "mean_accuracy", s->mean_accuracy);
    cJSON_AddNumberToObject(j, "pass_at_1", s->pass_at_1);
    cJSON_AddNumberToObject(j, "pass_at_k", s->pass_at_k);
    if (o->greedy) cJSON_AddNumberToObject(j, "greedy_pass_at_1", s->greedy_pass1);
    cJSON_AddNumberToObject(j, "tokens", (double)s->tokens);
    cJSON_AddNumberToObject(j, "tokens_per_s", s->tokens / (s->seconds > 0 ? s->seconds : 1e-9));
    cJSON_AddNumberToObject(j, "elapsed", s->seconds);
    lm_metrics_append(o->run_dir, j);
}
