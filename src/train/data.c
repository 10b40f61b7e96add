// train/data: training records tokenised as bos + prompt + response + eos (loss on the
// response and eos only), packed several to a row without attention crossing records, in an
// order drawn per epoch from the counter-based generator, so that the sequence of global
// batches is the same whatever the number of ranks.
#include "lemma/train.h"
#include "lemma/util.h"

#include <cJSON.h>
#include <stdlib.h>
#include <string.h>

void train_data_init(TrainData *d, int seq_len) {
    memset(d, 0, sizeof *d);
    d->seq_len = seq_len;
    d->start = lm_malloc(sizeof(long));
    d->start[0] = 0;
}

void train_data_free(TrainData *d) {
    free(d->tok);
    free(d->start);
    free(d->prompt_len);
    memset(d, 0, sizeof *d);
}

static void data_reserve(TrainData *d, long n_tok) {
    if (d->n + 1 >= d->cap) {
        d->cap = d->cap ? 2 * d->cap : 1024;
        d->start = lm_realloc(d->start, (size_t)(d->cap + 1) * sizeof(long));
        d->prompt_len = lm_realloc(d->prompt_len, (size_t)d->cap * sizeof(int));
    }
    if (d->n_tok + n_tok > d->cap_tok) {
        while (d->n_tok + n_tok > d->cap_tok) d->cap_tok = d->cap_tok ? 2 * d->cap_tok : 1 << 16;
        d->tok = lm_realloc(d->tok, (size_t)d->cap_tok * sizeof(int));
    }
}

// Appends one tokenised record of len tokens whose first no_loss get no loss.
static int *data_push(TrainData *d, long len, int no_loss) {
    data_reserve(d, len);
    int *t = d->tok + d->n_tok;
    d->prompt_len[d->n] = no_loss;
    d->n_tok += len;
    d->start[++d->n] = d->n_tok;
    return t;
}

int train_data_add_masked(TrainData *d, const Tokenizer *tok, const char *prompt,
                          const char *response, size_t skip) {
    size_t rlen = strlen(response);
    skip = skip < rlen ? skip : rlen;
    char *head = lm_malloc(skip + 1); // the masked part and the rest, encoded apart
    memcpy(head, response, skip);
    head[skip] = 0;
    int np = 0, nh = 0, nr = 0;
    int *p = tokenizer_prompt(tok, prompt, 0, &np); // the chat template's, bos first if any
    tokenizer_encode(tok, head, NULL, 0, &nh);
    tokenizer_encode(tok, response + skip, NULL, 0, &nr);
    long len = (long)np + nh + nr + 1;
    if (len > d->seq_len + 1) {
        d->n_too_long++;
        free(head), free(p);
        return -1;
    }
    int *t = data_push(d, len, np + nh);
    memcpy(t, p, (size_t)np * sizeof(int));
    tokenizer_encode(tok, head, t + np, nh, NULL);
    tokenizer_encode(tok, response + skip, t + np + nh, nr, NULL);
    t[len - 1] = tokenizer_end_id(tok); // eos, or the end of an assistant turn
    free(head), free(p);
    return 0;
}

int train_data_add(TrainData *d, const Tokenizer *tok, const char *prompt, const char *response) {
    return train_data_add_masked(d, tok, prompt, response, 0);
}

// The bytes of a record's response to leave out of the loss: mistake_chars when asked for.
static size_t record_skip(const TrainData *d, const cJSON *o) {
    if (!d->mask_mistakes) return 0;
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(o, "mistake_chars");
    return cJSON_IsNumber(m) && m->valuedouble > 0 ? (size_t)m->valuedouble : 0;
}

static int kind_wanted(const cJSON *o, const char *const *kinds, int n_kinds) {
    if (n_kinds == 0) return 1;
    const cJSON *k = cJSON_GetObjectItemCaseSensitive(o, "kind");
    for (int i = 0; cJSON_IsString(k) && i < n_kinds; i++)
        if (strcmp(k->valuestring, kinds[i]) == 0) return 1;
    return 0;
}

int train_data_load_kinds(TrainData *d, const Tokenizer *tok, const char *path,
                          const char *const *kinds, int n_kinds, double max_bad, long *n_kept,
                          char *err, size_t err_len) {
    LmJsonlReader r;
    if (tasks_open(&r, path, err, err_len) != 0) return 2;
    long kept = 0;
    cJSON *o;
    while ((o = tasks_next_record(&r))) {
        const cJSON *p = cJSON_GetObjectItemCaseSensitive(o, "prompt");
        const cJSON *s = cJSON_GetObjectItemCaseSensitive(o, "response");
        if (!cJSON_IsString(p) || !cJSON_IsString(s))
            tasks_bad_line(&r, "a training record needs string fields prompt and response");
        else if (kind_wanted(o, kinds, n_kinds)) {
            size_t skip = record_skip(d, o);
            if (train_data_add_masked(d, tok, p->valuestring, s->valuestring, skip) == 0)
                d->n_masked += skip > 0;
            kept++;
        }
        cJSON_Delete(o);
    }
    int rc = tasks_bad_check(&r, max_bad, err, err_len);
    lm_jsonl_close(&r);
    if (n_kept) *n_kept = kept;
    return rc;
}

int train_data_load(TrainData *d, const Tokenizer *tok, const char *path, double max_bad,
                    char *err, size_t err_len) {
    return train_data_load_kinds(d, tok, path, NULL, 0, max_bad, NULL, err, err_len);
}

int train_data_from_config(TrainData *d, const Config *cfg, const Tokenizer *tok,
                           const char *records, char *err, size_t err_len) {
    const char *problems = cfg_str(cfg, "data.train");
    double max_bad = cfg_float(cfg, "data.max_bad_frac");
    if (records && records[0]) return train_data_load(d, tok, records, max_bad, err, err_len);
    if (problems[0]) {
        TaskSet set;
        int rc = tasks_load(problems, max_bad, &set, err, err_len);
        for (long i = 0; rc == 0 && i < set.n; i++) {
            if (!set.items[i].solution) continue;
            char *prompt = tasks_prompt(set.items[i].question);
            train_data_add(d, tok, prompt, set.items[i].solution);
            free(prompt);
        }
        if (rc == 0) tasks_set_free(&set);
        return rc;
    }
    GenParams gp;
    if (gen_params_from_config(&gp, cfg, err, err_len) != 0) return 2;
    if (train_data_generate(d, tok, &gp, (long)cfg_int(cfg, "data.train_size")) != 0) {
        snprintf(err, err_len, "%s: the task generator could not draw problems with these "
                 "tasks.* settings", cfg->path);
        return 2;
    }
    return 0;
}

int train_data_generate(TrainData *d, const Tokenizer *tok, const GenParams *gp, long n) {
    for (long i = 0; i < n; i++) {
        TaskProblem p;
        if (gen_problem(gp, TASK_SPLIT_TRAIN, i, &p) != 0) return -1;
        char *prompt = tasks_prompt(p.question);
        train_data_add(d, tok, prompt, p.solution);
        free(prompt);
        tasks_problem_free(&p);
    }
    return 0;
}

// Epoch order: Fisher-Yates driven by (seed, LM_STREAM_DATA, epoch, i).
static void epoch_permutation(long *perm, long n, uint64_t seed, long epoch) {
    for (long i = 0; i < n; i++) perm[i] = i;
    for (long i = n - 1; i > 0; i--) {
        uint64_t ctr = ((uint64_t)epoch << 40) | (uint64_t)i;
        long j = (long)(lm_rng_u32(seed, LM_STREAM_DATA, ctr) % (uint32_t)(i + 1));
        long t = perm[i];
        perm[i] = perm[j], perm[j] = t;
    }
}

void train_data_append_sample(TrainData *d, const TrainData *src, long n, uint64_t seed) {
    LM_CHECK(n >= 0 && n <= src->n, "train_data_append_sample: %ld of %ld records", n, src->n);
    long *perm = lm_malloc((size_t)(src->n > 0 ? src->n : 1) * sizeof(long));
    epoch_permutation(perm, src->n, seed, 0);
    for (long i = 0; i < n; i++) { // (the epochs shuffle them again)
        long r = perm[i], len = src->start[r + 1] - src->start[r];
        memcpy(data_push(d, len, src->prompt_len[r]), src->tok + src->start[r],
               (size_t)len * sizeof(int));
    }
    free(perm);
}

// Greedy packing: records in epoch order fill rows of seq_len + 1 tokens; a record that does
// not fit in what is left of a row starts the next one.
void train_plan_epoch(EpochPlan *p, const TrainData *d, uint64_t seed, long epoch) {
    memset(p, 0, sizeof *p);
    p->epoch = epoch;
    p->rec = lm_malloc((size_t)(d->n ? d->n : 1) * sizeof(long));
    p->row_start = lm_malloc((size_t)(d->n + 1) * sizeof(long));
    epoch_permutation(p->rec, d->n, seed, epoch);
    long used = d->seq_len + 1; // forces a new row for the first record
    for (long k = 0; k < d->n; k++) {
        long len = d->start[p->rec[k] + 1] - d->start[p->rec[k]];
        if (used + len > d->seq_len + 1) p->row_start[p->n_rows++] = k, used = 0;
        used += len;
    }
    p->row_start[p->n_rows] = d->n;
}

void train_plan_free(EpochPlan *p) {
    free(p->rec);
    free(p->row_start);
    memset(p, 0, sizeof *p);
}

// Row `row` of the plan as model inputs (T = seq_len): tokens, targets (the next token inside
// the same record's response, else -1), record ids and positions. Padding gets its own record
// id. Returns the number of targets.
int train_fill_row(const TrainData *d, const EpochPlan *p, long row, int pad, int *tok, int *tgt,
                   int *seg, int *pos) {
    int T = d->seq_len, n = 0, valid = 0;
    int *buf = lm_malloc(4 * (size_t)(T + 1) * sizeof(int));
    int *buf_tok = buf, *buf_seg = buf + (T + 1), *buf_pos = buf + 2 * (T + 1);
    int *buf_loss = buf + 3 * (T + 1);
    for (long k = p->row_start[row]; k < p->row_start[row + 1]; k++) {
        long r = p->rec[k], len = d->start[r + 1] - d->start[r];
        for (long i = 0; i < len; i++, n++) {
            buf_tok[n] = d->tok[d->start[r] + i];
            buf_seg[n] = (int)(k - p->row_start[row]);
            buf_pos[n] = (int)i;
            buf_loss[n] = i >= d->prompt_len[r];
        }
    }
    for (int i = n; i <= T; i++) buf_tok[i] = pad, buf_seg[i] = -1 - i, buf_pos[i] = 0, buf_loss[i] = 0;
    for (int t = 0; t < T; t++) {
        tok[t] = buf_tok[t], seg[t] = buf_seg[t], pos[t] = buf_pos[t];
        int ok = buf_loss[t + 1] && buf_seg[t + 1] == buf_seg[t];
        tgt[t] = ok ? buf_tok[t + 1] : -1;
        valid += ok;
    }
    free(buf);
    return valid;
}
