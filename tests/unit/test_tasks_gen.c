// tests/unit/test_tasks_gen: the built-in generator. Determinism from (seed, split, index);
// train and test text-disjoint (20k train against 2k test) and ood disjoint from train;
// every solution passes the step verifier with the graph's values and its answer is the
// graph's target; the graph is consistent with the question text; ood is harder by the
// knobs; the knobs are validated and obeyed.
#include "harness.h"
#include "lemma/tasks.h"

#include <cJSON.h>
#include <stdlib.h>
#include <string.h>

#define N_TRAIN 20000
#define N_TEST 2000
#define N_OOD 1000

// ---------------------------------------------------------------------------
// A set of strings (open addressing), to compare question texts across splits.

typedef struct {
    char **slot;
    size_t cap, n;
} StrSet;

static uint64_t str_hash(const char *s) {
    uint64_t h = 14695981039346656037ULL;
    while (*s) h = (h ^ (unsigned char)*s++) * 1099511628211ULL;
    return h;
}

// Adds s (copied); 1 when it was new.
static int set_add(StrSet *set, const char *s) {
    size_t i = str_hash(s) % set->cap;
    for (; set->slot[i]; i = (i + 1) % set->cap)
        if (strcmp(set->slot[i], s) == 0) return 0;
    set->slot[i] = strdup(s);
    set->n++;
    return 1;
}

static int set_has(const StrSet *set, const char *s) {
    for (size_t i = str_hash(s) % set->cap; set->slot[i]; i = (i + 1) % set->cap)
        if (strcmp(set->slot[i], s) == 0) return 1;
    return 0;
}

static StrSet train_questions;
static int train_max_ops;
static int64_t train_max_number;

// ---------------------------------------------------------------------------
// Helpers

static GenParams params_with(const char *set1, const char *set2) {
    Config cfg;
    char err[512];
    config_defaults(&cfg);
    if (set1) LM_CHECK(config_set(&cfg, set1, err, sizeof err) == 0, "%s", err);
    if (set2) LM_CHECK(config_set(&cfg, set2, err, sizeof err) == 0, "%s", err);
    GenParams p;
    LM_CHECK(gen_params_from_config(&p, &cfg, err, sizeof err) == 0, "%s", err);
    config_free(&cfg);
    return p;
}

static char *problem_json(const TaskProblem *p) {
    cJSON *o = tasks_problem_to_json(p);
    char *s = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    return s;
}

// The numbers written with digits in a text, read here independently of the generator.
static int text_numbers(const char *s, int64_t *out, int cap) {
    int n = 0;
    for (const char *p = s; *p;) {
        if (*p >= '0' && *p <= '9') {
            int64_t v = 0;
            while (*p >= '0' && *p <= '9') v = v * 10 + (*p++ - '0');
            if (n < cap) out[n++] = v;
        } else {
            p++;
        }
    }
    return n;
}

static int is_used(const TaskGraph *g, int q) {
    for (int s = 0; s < g->n_steps; s++)
        for (int k = 0; k < g->steps[s].n_args; k++)
            if (g->steps[s].args[k] == q) return 1;
    return 0;
}

static int is_distractor(const TaskGraph *g, int q) {
    for (int i = 0; i < g->n_distractors; i++)
        if (g->distractors[i] == q) return 1;
    return 0;
}

// ---------------------------------------------------------------------------
// Per-problem checks

// The solution: one verified line per step with the graph's operands and result, then the
// answer line; the extracted answer is the target's value.
static void check_solution(const TaskProblem *p) {
    const TaskGraph *g = p->graph;
    VerifyResult r;
    verify_solution(p->solution, 0, &r);
    EXPECT(r.n_steps == g->n_steps + 1 && r.n_wrong == 0 && r.n_ok == g->n_steps, "%s: %d steps, %d ok, %d wrong",
           p->id, r.n_steps, r.n_ok, r.n_wrong);
    for (int s = 0; s < g->n_steps && s < r.n_steps; s++) {
        const VerifyStep *st = &r.steps[s];
        int64_t out = g->quantities[g->steps[s].out].value;
        EXPECT(st->n_checks == 1 && st->checks[0].value.exact && st->checks[0].value.q == 1 &&
                   st->checks[0].value.p == out && st->checks[0].stated_val.p == out,
               "%s step %d: checks %d, value not %lld", p->id, s, st->n_checks, (long long)out);
        EXPECT(g->steps[s].line == s && st->line == s, "%s step %d on line %d", p->id, s, g->steps[s].line);
    }
    verify_result_free(&r);
    char want[32], *x = grade_extract_answer(p->solution, NULL);
    snprintf(want, sizeof want, "%lld", (long long)g->quantities[g->target].value);
    EXPECT(strcmp(p->answer, want) == 0 && x && strcmp(x, want) == 0 && grade_equal(x, p->answer),
           "%s: answer '%s', extracted '%s', target %s", p->id, p->answer, x ? x : "", want);
    free(x);
}

// The graph: every step needed, givens used or listed as distractors, the target computed
// last, ops counted, and a JSON round trip that passes validation unchanged.
static void check_graph(const TaskProblem *p) {
    const TaskGraph *g = p->graph;
    int ops = 0;
    for (int s = 0; s < g->n_steps; s++) ops += g->steps[s].n_args - 1;
    EXPECT(ops == p->ops, "%s: ops %d, steps say %d", p->id, p->ops, ops);
    EXPECT(g->n_steps > 0 && g->steps[g->n_steps - 1].out == g->target, "%s: target not last", p->id);
    for (int q = 0; q < g->n_quantities; q++) {
        const TaskQuantity *x = &g->quantities[q];
        int used = is_used(g, q), distr = is_distractor(g, q);
        if (x->kind == TQ_DERIVED && q != g->target) EXPECT(used, "%s: quantity %d is computed but not used", p->id, q);
        if (x->kind != TQ_DERIVED) EXPECT(used != distr, "%s: quantity %d used %d distractor %d", p->id, q, used, distr);
    }
    cJSON *j = tasks_graph_to_json(g);
    TaskGraph back;
    char why[256];
    int rc = tasks_graph_from_json(j, &back, why, sizeof why);
    EXPECT(rc == 0, "%s: graph does not read back: %s", p->id, why);
    if (rc == 0) {
        cJSON *j2 = tasks_graph_to_json(&back);
        char *a = cJSON_PrintUnformatted(j), *b = cJSON_PrintUnformatted(j2);
        EXPECT(strcmp(a, b) == 0, "%s: graph round trip differs", p->id);
        free(a), free(b);
        cJSON_Delete(j2);
    }
    cJSON_Delete(j);
}

// The question: the numbers it writes are exactly the stated quantities (givens, constants
// written with digits, distractors); every given is written.
static void check_question(const TaskProblem *p, int64_t *max_number) {
    const TaskGraph *g = p->graph;
    int64_t nums[128];
    int n = text_numbers(p->question, nums, 128);
    *max_number = 0;
    for (int i = 0; i < n; i++) {
        int found = 0;
        for (int q = 0; q < g->n_quantities && !found; q++)
            found = g->quantities[q].kind != TQ_DERIVED && g->quantities[q].kind != TQ_CONVERSION &&
                    g->quantities[q].value == nums[i];
        EXPECT(found, "%s: number %lld in the question is no stated quantity", p->id, (long long)nums[i]);
        if (nums[i] > *max_number) *max_number = nums[i];
    }
    for (int q = 0; q < g->n_quantities; q++) {
        if (g->quantities[q].kind != TQ_GIVEN) continue;
        int found = 0;
        for (int i = 0; i < n && !found; i++) found = nums[i] == g->quantities[q].value;
        EXPECT(found, "%s: given %lld is not in the question", p->id, (long long)g->quantities[q].value);
    }
}

static void check_problem(const TaskProblem *p, TaskSplit split, int64_t *max_number) {
    EXPECT(p->graph && p->solution && p->split && strcmp(p->split, tasks_split_name(split)) == 0, "%s: fields", p->id);
    if (!p->graph) return;
    check_solution(p);
    check_graph(p);
    check_question(p, max_number);
}

// ---------------------------------------------------------------------------
// Tests

static void test_params_validation(void) {
    static const char *bad[][3] = {
        {"tasks.ood_min_ops=4", NULL, "tasks.ood_min_ops = 4 must be larger than tasks.max_ops = 4"},
        {"tasks.ood_max_operand=100", NULL, "tasks.ood_max_operand = 100 must be larger than tasks.max_operand = 100"},
        {"tasks.min_ops=5", "tasks.max_ops=3", "tasks.min_ops = 5 is larger than tasks.max_ops = 3"},
        {"tasks.ood_min_ops=9", "tasks.ood_max_ops=8", "tasks.ood_min_ops = 9 is larger than tasks.ood_max_ops = 8"},
    };
    for (int i = 0; i < 4; i++) {
        Config cfg;
        char err[512] = "";
        GenParams p;
        config_defaults(&cfg);
        config_set(&cfg, bad[i][0], err, sizeof err);
        if (bad[i][1]) config_set(&cfg, bad[i][1], err, sizeof err);
        int rc = gen_params_from_config(&p, &cfg, err, sizeof err);
        EXPECT(rc == 2 && strstr(err, bad[i][2]), "case %d: rc %d, '%s'", i, rc, err);
        config_free(&cfg);
    }
    GenParams d = params_with(NULL, NULL);
    EXPECT(d.min_ops == 1 && d.max_ops == 4 && d.ood_min_ops == 5 && d.ood_max_ops == 6 && d.max_operand == 100 &&
               d.ood_max_operand == 1000, "defaults");
}

static void test_determinism(void) {
    GenParams p = params_with(NULL, NULL), q = params_with("run.seed=1235", NULL);
    char *first[3][40];
    int differ_seed = 0, differ_next = 0;
    for (int s = 0; s < 3; s++)
        for (int i = 0; i < 40; i++) {
            TaskProblem a;
            LM_CHECK(gen_problem(&p, (TaskSplit)s, i, &a) == 0, "gen");
            first[s][i] = problem_json(&a);
            tasks_problem_free(&a);
        }
    for (int s = 2; s >= 0; s--) // again, in the other order
        for (int i = 39; i >= 0; i--) {
            TaskProblem a, b;
            LM_CHECK(gen_problem(&p, (TaskSplit)s, i, &a) == 0 && gen_problem(&q, (TaskSplit)s, i, &b) == 0, "gen");
            char *again = problem_json(&a);
            EXPECT(strcmp(again, first[s][i]) == 0, "split %d index %d differs on the second draw", s, i);
            differ_seed += strcmp(a.question, b.question) != 0;
            if (i > 0) differ_next += strstr(first[s][i - 1], a.question) == NULL;
            free(again);
            tasks_problem_free(&a), tasks_problem_free(&b);
        }
    EXPECT(differ_seed == 120, "another seed changed only %d of 120 problems", differ_seed);
    EXPECT(differ_next == 117, "neighbouring indices share questions: %d of 117 differ", differ_next);
    for (int s = 0; s < 3; s++)
        for (int i = 0; i < 40; i++) free(first[s][i]);
    TaskProblem x;
    EXPECT(gen_problem(&p, TASK_SPLIT_TRAIN, -1, &x) == -1, "negative index");
}

static void test_train_problems(void) {
    GenParams p = params_with(NULL, NULL);
    train_questions.cap = 4 * N_TRAIN;
    train_questions.slot = calloc(train_questions.cap, sizeof(char *));
    int seen_rel[11] = {0}, with_distractor = 0;
    static const char *rels[] = {"times", "fraction", "more", "fewer", "gain", "loss", "share", "rate", "total", "difference", "convert"};
    for (int64_t i = 0; i < N_TRAIN; i++) {
        TaskProblem a;
        LM_CHECK(gen_problem(&p, TASK_SPLIT_TRAIN, i, &a) == 0, "gen");
        int64_t m = 0;
        if (!th_cur_failed) { // after the first failing problem, only collect (one is enough to read)
            check_problem(&a, TASK_SPLIT_TRAIN, &m);
            EXPECT(a.ops >= p.min_ops && a.ops <= p.max_ops, "%s: ops %d", a.id, a.ops);
            EXPECT(m <= p.max_operand && gen_max_stated(a.graph) <= p.max_operand, "%s: number %lld", a.id, (long long)m);
            EXPECT(gen_text_split(a.question) == TASK_SPLIT_TRAIN, "%s: hashes to test", a.id);
        }
        if (a.ops > train_max_ops) train_max_ops = a.ops;
        if (m > train_max_number) train_max_number = m;
        set_add(&train_questions, a.question);
        for (int s = 0; s < a.graph->n_steps; s++)
            for (int r = 0; r < 11; r++) seen_rel[r] |= strcmp(a.graph->steps[s].relation, rels[r]) == 0;
        with_distractor += a.graph->n_distractors > 0;
        tasks_problem_free(&a);
    }
    for (int r = 0; r < 11; r++) EXPECT(seen_rel[r], "relation %s never drawn", rels[r]);
    EXPECT(train_questions.n > N_TRAIN * 99 / 100, "only %zu distinct questions in %d", train_questions.n, N_TRAIN);
    EXPECT(with_distractor > N_TRAIN / 5 && with_distractor < N_TRAIN / 2, "%d problems with distractors", with_distractor);
}

// Problems of a held-out split: the usual checks, the split's bounds, and no question
// text shared with train.
static void check_held_out(TaskSplit split, int count) {
    GenParams p = params_with(NULL, NULL);
    int in_train = 0, ood = split == TASK_SPLIT_OOD;
    for (int64_t i = 0; i < count && train_questions.slot; i++) {
        TaskProblem a;
        LM_CHECK(gen_problem(&p, split, i, &a) == 0, "gen");
        int64_t m;
        check_problem(&a, split, &m);
        if (ood) {
            EXPECT(a.ops >= p.ood_min_ops && a.ops <= p.ood_max_ops && a.ops > train_max_ops,
                   "%s: ops %d (train max %d)", a.id, a.ops, train_max_ops);
            EXPECT(m > train_max_number && m <= p.ood_max_operand && gen_max_stated(a.graph) > p.max_operand,
                   "%s: largest number %lld (train max %lld)", a.id, (long long)m, (long long)train_max_number);
        } else {
            EXPECT(a.ops >= p.min_ops && a.ops <= p.max_ops && m <= p.max_operand, "%s: ops %d number %lld",
                   a.id, a.ops, (long long)m);
        }
        if (set_has(&train_questions, a.question) && in_train++ < 3)
            printf("     %s question also in train: %s\n", tasks_split_name(split), a.question);
        tasks_problem_free(&a);
    }
    EXPECT(train_questions.slot && in_train == 0, "%d of %d %s questions appear in train", in_train, count,
           tasks_split_name(split));
}

static void test_test_split_disjoint(void) { check_held_out(TASK_SPLIT_TEST, N_TEST); }
static void test_ood_harder(void) { check_held_out(TASK_SPLIT_OOD, N_OOD); }

static void test_knobs(void) {
    GenParams p = params_with("tasks.min_ops=3", "tasks.max_ops=3");
    GenParams none = params_with("tasks.distractor_prob=0", NULL), all = params_with("tasks.distractor_prob=1", NULL);
    GenParams small = params_with("tasks.max_operand=10", "tasks.min_ops=4");
    int n_with_none = 0, n_with_all = 0;
    for (int64_t i = 0; i < 300; i++) {
        TaskProblem a, b, c, d;
        LM_CHECK(gen_problem(&p, TASK_SPLIT_TRAIN, i, &a) == 0 && gen_problem(&none, TASK_SPLIT_TEST, i, &b) == 0 &&
                     gen_problem(&all, TASK_SPLIT_TRAIN, i, &c) == 0 && gen_problem(&small, TASK_SPLIT_TRAIN, i, &d) == 0,
                 "gen");
        EXPECT(a.ops == 3, "%s: ops %d with min = max = 3", a.id, a.ops);
        n_with_none += b.graph->n_distractors > 0;
        n_with_all += c.graph->n_distractors > 0;
        int64_t m;
        check_problem(&d, TASK_SPLIT_TRAIN, &m);
        EXPECT(m <= 10 && d.ops == 4, "%s: number %lld, ops %d with max_operand 10", d.id, (long long)m, d.ops);
        tasks_problem_free(&a), tasks_problem_free(&b), tasks_problem_free(&c), tasks_problem_free(&d);
    }
    EXPECT(n_with_none == 0 && n_with_all == 300, "distractors: %d with p=0, %d of 300 with p=1", n_with_none, n_with_all);
}

static void test_graph_rejects_tampering(void) {
    GenParams p = params_with(NULL, NULL);
    TaskProblem a;
    LM_CHECK(gen_problem(&p, TASK_SPLIT_TRAIN, 7, &a) == 0, "gen");
    static const char *want[] = {"does not give", "not a quantity", "derived quantity", "'target'", "integer"};
    for (int t = 0; t < 5; t++) {
        cJSON *j = tasks_graph_to_json(a.graph);
        cJSON *steps = cJSON_GetObjectItem(j, "steps"), *qs = cJSON_GetObjectItem(j, "quantities");
        cJSON *s0 = cJSON_GetArrayItem(steps, 0);
        int out = (int)cJSON_GetObjectItem(s0, "out")->valuedouble;
        cJSON *qo = cJSON_GetArrayItem(qs, out);
        if (t == 0) cJSON_ReplaceItemInObject(qo, "value", cJSON_CreateNumber(cJSON_GetObjectItem(qo, "value")->valuedouble + 1));
        if (t == 1) cJSON_ReplaceItemInArray(cJSON_GetObjectItem(s0, "args"), 0, cJSON_CreateNumber(999));
        if (t == 2) cJSON_ReplaceItemInObject(s0, "out", cJSON_CreateNumber(cJSON_GetArrayItem(cJSON_GetObjectItem(s0, "args"), 0)->valuedouble));
        if (t == 3) cJSON_DeleteItemFromObject(j, "target");
        if (t == 4) cJSON_ReplaceItemInObject(qo, "value", cJSON_CreateNumber(2.5));
        TaskGraph g;
        char why[256] = "";
        EXPECT(tasks_graph_from_json(j, &g, why, sizeof why) == -1 && strstr(why, want[t]), "tamper %d: '%s'", t, why);
        cJSON_Delete(j);
    }
    tasks_problem_free(&a);
}

static void test_render_step(void) {
    TaskStep s = {0};
    s.n_args = 2, s.op = '*';
    strcpy(s.tmpl, "Bob has {0} {op} {1} = {=} marbles {x}.");
    int64_t ops[2] = {3, 12};
    char buf[128];
    int n = tasks_render_step(&s, ops, '+', 40, buf, sizeof buf);
    EXPECT(n > 0 && strcmp(buf, "Bob has 3 + 12 = 40 marbles {x}.") == 0, "'%s'", buf);
    EXPECT(tasks_render_step(&s, ops, '*', 36, buf, 10) == -1, "too small a buffer");
}

int main(void) {
    RUN_TEST(test_params_validation);
    RUN_TEST(test_determinism);
    RUN_TEST(test_train_problems);
    RUN_TEST(test_test_split_disjoint);
    RUN_TEST(test_ood_harder);
    RUN_TEST(test_knobs);
    RUN_TEST(test_graph_rejects_tampering);
    RUN_TEST(test_render_step);
    for (size_t i = 0; i < train_questions.cap; i++) free(train_questions.slot[i]);
    free(train_questions.slot);
    TEST_EXIT();
}
