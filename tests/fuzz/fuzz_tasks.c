// tests/fuzz/fuzz_tasks: feeds random and mutated bytes into every loader and extractor of
// the tasks module (answer extraction and equivalence, number scanning, the step verifier,
// graph and record readers, the JSONL loader) for a fixed number of iterations. Built and
// run under AddressSanitizer and UBSan by tests/shell/test_tasks_fuzz.sh: any crash, memory
// error, undefined behaviour or leak fails it. Usage: fuzz_tasks ITERATIONS TMPDIR
#include "fuzz_common.h"
#include "lemma/tasks.h"

#include <cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FUZZ_MAX 4096


static FuzzRng rng = {4242, 0};
static size_t rnd_below(size_t n) { return fuzz_below(&rng, n); }

static const char *seeds[] = {
    "Natalia sold 48/2 = <<48/2=24>>24 clips in May.\nNatalia sold 48+24 = <<48+24=72>>72 clips.\n#### 72",
    "Weng earns 12/60 = $<<12/60=0.2>>0.2 per minute. Mr. Smith paid $1,250.50. So 0.2 x 50 = $10.\n#### 10",
    "We get $\\boxed{\\dfrac{3}{4}}$ and \\frac{1}{2} + \\frac12 = 1, so the answer is \\boxed{\\text{Tuesday}}.",
    "Bob has 3 * 12 = 36 marbles.\nCara has 36 - 7 = 29 marbles.\nThe answer is: 29",
    "2(6+12) = 36 = 36; 25 / 1/3 = 75; 7 // 2 = 3; 2^10 = 1024; -3 + 5 = 2; 50% of 80 = 40; \xc2\xbe x 4 = 3",
    "The answer is 1,000.5%  \xe2\x88\x92" "5 \xc3\x97 3 \xc3\xb7 (2 - 2) = 0900 - 0130 = 0730 and 1 and 1/2",
    "{\"question\": \"Ann has 12 marbles.\", \"answer\": \"A <<6*2=12>>12\\n#### 12\"}\n"
    "{\"problem\": \"p\", \"solution\": \"\\\\boxed{\\\\frac{1}{2}}\"}\n{\"id\": 3, \"question\": \"q\", \"answer\": 4.5}",
};
#define N_SEEDS ((int)(sizeof seeds / sizeof seeds[0]))

static const char *tokens[] = {
    "<<", ">>", "=", "\\boxed{", "\\fbox{", "}", "{", "####", "\\frac{", "\\dfrac", "The answer is:",
    "the answer is", "1,000", ".", "%", "$", "(", ")", "\n", "\"", "\\", "\xc3\x97", "\xff", "//",
    "**", "^", "99999999999999999999999", "0.000000000000000000001", "-", "+", "/", "*", " x ",
    "\\text{", "\\left(", ",", "1/0", "0/0", "\xc2\xbd", "Mr. ", "? ", "e308", "{\"graph\":",
    "\"quantities\":[", "\"steps\":[", "]", "[", ":", "null", "true", "-1e400", "1e400",
};
#define N_TOKENS ((int)(sizeof tokens / sizeof tokens[0]))

// A seed (or a generated record) with 1-8 random edits; returns the length.
static size_t mutate(char *buf, const char *seed) {
    return fuzz_mutate(&rng, buf, FUZZ_MAX, seed, tokens, N_TOKENS, 1);
}

static size_t random_bytes(char *buf) { return fuzz_random_bytes(&rng, buf); }

// The string extractors; s is NUL-terminated (bytes after an inner NUL are not seen).
static void fuzz_strings(const char *s, const char *other) {
    GradeSource src;
    TasksNum v;
    free(grade_extract_answer(s, &src));
    free(grade_last_boxed(s));
    free(grade_after_hashes(s));
    free(grade_normalize(s));
    grade_parse_number(s, &v);
    grade_equal(s, other);
    grade_equal(other, s);
    int dec;
    tasks_num_scan(s, strlen(s), &v, &dec);
    VerifyResult r;
    verify_solution(s, 0, &r);
    verify_result_free(&r);
    verify_solution(s, VERIFY_SENTENCES, &r);
    verify_result_free(&r);
}

// The JSON readers on bytes that may parse as JSON.
static void fuzz_json(const char *s) {
    cJSON *o = cJSON_Parse(s);
    if (!o) return;
    TaskGraph g;
    TaskProblem p;
    char why[256];
    if (tasks_graph_from_json(o, &g, why, sizeof why) == 0) {
        char line[512];
        int64_t ops[TASK_MAX_ARGS];
        for (int k = 0; k < g.n_steps; k++) {
            for (int a = 0; a < g.steps[k].n_args; a++) ops[a] = g.quantities[g.steps[k].args[a]].value;
            tasks_render_step(&g.steps[k], ops, g.steps[k].op, g.quantities[g.steps[k].out].value, line, sizeof line);
        }
    }
    if (tasks_problem_from_json(o, "fuzz", &p, why, sizeof why) == 0) {
        cJSON_Delete(tasks_problem_to_json(&p));
        tasks_problem_free(&p);
    }
    cJSON_Delete(o);
}

// The JSONL loader on a file of these bytes.
static void fuzz_file(const char *dir, const char *buf, size_t n) {
    char path[512], err[512];
    snprintf(path, sizeof path, "%s/fuzz.jsonl", dir);
    FILE *f = fopen(path, "wb");
    if (!f) lm_fatal("cannot write %s", path);
    fwrite(buf, 1, n, f);
    fclose(f);
    TaskSet set;
    if (tasks_load(path, 1.0, &set, err, sizeof err) == 0) tasks_set_free(&set);
    tasks_load(path, 0.0, &set, err, sizeof err);
    tasks_set_free(&set);
}

// A generated record's JSON line, so that graphs get mutated too.
static char *generated_seed(int64_t i) {
    GenParams gp = {.seed = 1, .min_ops = 1, .max_ops = 6, .ood_min_ops = 7, .ood_max_ops = 8,
                    .max_operand = 100, .ood_max_operand = 1000, .distractor_prob = 0.5};
    TaskProblem p;
    if (gen_problem(&gp, TASK_SPLIT_TRAIN, i, &p)) lm_fatal("gen failed");
    cJSON *o = tasks_problem_to_json(&p);
    char *s = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    tasks_problem_free(&p);
    return s;
}

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: fuzz_tasks ITERATIONS TMPDIR\n");
        return 2;
    }
    long iters = atol(argv[1]);
    char *gen_seeds[4];
    for (int i = 0; i < 4; i++) gen_seeds[i] = generated_seed(i);
    static char buf[FUZZ_MAX], other[FUZZ_MAX];
    for (long it = 0; it < iters; it++) {
        int k = (int)rnd_below(N_SEEDS + 5);
        const char *seed = k < N_SEEDS ? seeds[k] : gen_seeds[k % 4];
        size_t n = k == N_SEEDS + 4 ? random_bytes(buf) : mutate(buf, seed);
        mutate(other, seeds[rnd_below(N_SEEDS)]);
        fuzz_strings(buf, other);
        fuzz_json(buf);
        if (it % 8 == 0) fuzz_file(argv[2], buf, n);
    }
    for (int i = 0; i < 4; i++) cJSON_free(gen_seeds[i]);
    printf("fuzz_tasks: %ld iterations done\n", iters);
    return 0;
}
