// tests/unit/test_tasks_load: the JSONL loaders. Our records (with graphs) round trip;
// GSM8K and MATH-like records give their gold answers; malformed lines are skipped and
// counted up to data.max_bad_frac, beyond which loading fails; UTF-8 text survives.
#include "harness.h"
#include "lemma/tasks.h"

#include <cJSON.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char tmpdir[] = "/tmp/lemma_test_load_XXXXXX";

static const char *write_file(const char *name, const char *text) {
    static char path[256];
    snprintf(path, sizeof path, "%s/%s", tmpdir, name);
    FILE *f = fopen(path, "wb");
    LM_CHECK(f, "cannot write %s", path);
    fputs(text, f);
    fclose(f);
    return path;
}

static void test_our_records_round_trip(void) {
    GenParams gp = {.seed = 5, .min_ops = 1, .max_ops = 4, .ood_min_ops = 5, .ood_max_ops = 6,
                    .max_operand = 100, .ood_max_operand = 1000, .distractor_prob = 0.5};
    char path[256];
    snprintf(path, sizeof path, "%s/ours.jsonl", tmpdir);
    FILE *f = fopen(path, "w");
    TaskProblem gen[30];
    for (int i = 0; i < 30; i++) {
        LM_CHECK(gen_problem(&gp, (TaskSplit)(i % 3), i, &gen[i]) == 0, "gen");
        cJSON *o = tasks_problem_to_json(&gen[i]);
        lm_jsonl_write(f, o);
        cJSON_Delete(o);
    }
    fclose(f);
    TaskSet set;
    char err[512];
    EXPECT(tasks_load(path, 0.0, &set, err, sizeof err) == 0 && set.n == 30 && set.n_bad == 0, "load: %s", err);
    for (int i = 0; i < 30 && i < set.n; i++) {
        const TaskProblem *a = &gen[i], *b = &set.items[i];
        EXPECT(!strcmp(a->id, b->id) && !strcmp(a->question, b->question) && !strcmp(a->answer, b->answer) &&
                   !strcmp(a->solution, b->solution) && !strcmp(a->split, b->split) && a->ops == b->ops,
               "record %d differs", i);
        EXPECT(b->graph && memcmp(a->graph, b->graph, sizeof(TaskGraph)) == 0, "graph %d differs", i);
    }
    tasks_set_free(&set);
    for (int i = 0; i < 30; i++) tasks_problem_free(&gen[i]);
}

static void test_gsm8k_and_math_records(void) {
    const char *path = write_file("mixed.jsonl",
        "{\"question\": \"Natalia sold 48 clips.\", \"answer\": \"Natalia sold 48/2 = <<48/2=24>>24 clips in May.\\n#### 72\"}\n"
        "{\"problem\": \"What is $\\\\frac{1}{2}+\\\\frac{1}{4}$?\", \"solution\": \"We get $\\\\boxed{\\\\frac{3}{4}}$.\"}\n"
        "{\"problem\": \"2+2?\", \"solution\": \"It is 4.\", \"answer\": 4}\n"
        "{\"id\": 17, \"question\": \"q\", \"answer\": 42.5, \"split\": \"test\", \"ops\": 2}\n");
    TaskSet set;
    char err[512];
    EXPECT(tasks_load(path, 0.0, &set, err, sizeof err) == 0 && set.n == 4, "load: %s", err);
    if (set.n == 4) {
        TaskProblem *g = &set.items[0], *m = &set.items[1], *m2 = &set.items[2], *o = &set.items[3];
        EXPECT(!strcmp(g->answer, "72") && !strcmp(g->solution, "Natalia sold 48/2 = <<48/2=24>>24 clips in May."),
               "gsm8k: '%s' / '%s'", g->answer, g->solution);
        EXPECT(!strcmp(g->id, "mixed.jsonl:1") && g->ops == -1 && !g->graph, "gsm8k id '%s'", g->id);
        EXPECT(!strcmp(m->answer, "\\frac{3}{4}") && !strcmp(m->question, "What is $\\frac{1}{2}+\\frac{1}{4}$?"),
               "math: '%s'", m->answer);
        EXPECT(!strcmp(m2->answer, "4"), "math with answer: '%s'", m2->answer);
        EXPECT(!strcmp(o->id, "17") && !strcmp(o->answer, "42.5") && !strcmp(o->split, "test") && o->ops == 2,
               "ours: id '%s' answer '%s'", o->id, o->answer);
    }
    tasks_set_free(&set);
}

// MATH's level and subject, both spellings (MATH: "Level 3" and 'type'; MATH-500: 3 and
// 'subject'); kept through our own records.
static void test_math_level_and_subject(void) {
    const char *path = write_file("math.jsonl",
        "{\"problem\": \"p1\", \"solution\": \"$\\\\boxed{1}$\", \"level\": \"Level 3\", \"type\": \"Algebra\"}\n"
        "{\"problem\": \"p2\", \"answer\": \"2\", \"level\": 5, \"subject\": \"Number Theory\"}\n"
        "{\"problem\": \"p3\", \"answer\": \"3\", \"level\": \"Level ?\"}\n");
    TaskSet set;
    char err[512];
    EXPECT(tasks_load(path, 0.0, &set, err, sizeof err) == 0 && set.n == 3, "load: %s", err);
    if (set.n == 3) {
        EXPECT(set.items[0].level == 3 && !strcmp(set.items[0].subject, "Algebra"), "MATH spelling");
        EXPECT(set.items[1].level == 5 && !strcmp(set.items[1].subject, "Number Theory"), "MATH-500 spelling");
        EXPECT(set.items[2].level == 0 && !set.items[2].subject, "unknown level");
        cJSON *o = tasks_problem_to_json(&set.items[1]);
        TaskProblem back;
        EXPECT(tasks_problem_from_json(o, "x", &back, err, sizeof err) == 0 && back.level == 5 &&
                   back.subject && !strcmp(back.subject, "Number Theory"), "round trip");
        tasks_problem_free(&back);
        cJSON_Delete(o);
    }
    tasks_set_free(&set);
}

// data.fields: SVAMP's Body + Question and a numeric Answer; records of other sets in the same
// file are read as usual; a bad mapping is refused with the item named.
static void test_field_mapping(void) {
    char err[512];
    EXPECT(tasks_fields_configure("question=Body+Question, answer=Answer, id=ID", err, sizeof err) == 0, "%s", err);
    const char *path = write_file("svamp.jsonl",
        "{\"Body\": \"There are 87 oranges.\", \"Question\": \"How many are there?\", \"Answer\": 87.0, \"ID\": \"chal-1\"}\n"
        "{\"question\": \"q\", \"answer\": \"x #### 5\"}\n"
        "{\"Body\": \"b\", \"Answer\": 1}\n");
    TaskSet set;
    EXPECT(tasks_load(path, 0.5, &set, err, sizeof err) == 0 && set.n == 2 && set.n_bad == 1, "load: %s (%ld)", err, set.n);
    if (set.n == 2) {
        const TaskProblem *a = &set.items[0];
        EXPECT(!strcmp(a->question, "There are 87 oranges. How many are there?") && !strcmp(a->answer, "87") &&
                   !strcmp(a->id, "chal-1"), "svamp: '%s' '%s' '%s'", a->question, a->answer, a->id);
        EXPECT(!strcmp(set.items[1].answer, "5"), "gsm8k record beside it: '%s'", set.items[1].answer);
    }
    tasks_set_free(&set);
    EXPECT(tasks_fields_configure("question=Body, colour=Red", err, sizeof err) == -1 && strstr(err, "colour=Red"),
           "bad field: %s", err);
    EXPECT(tasks_fields_configure("question=Body", err, sizeof err) == -1 && strstr(err, "answer=KEY"), "%s", err);
    EXPECT(tasks_fields_configure("", err, sizeof err) == 0, "cleared");
}

// data.prompt: the formats, and a template file.
static void test_prompts(void) {
    char err[512], *p;
    EXPECT(tasks_prompt_configure("qa", err, sizeof err) == 0, "qa");
    p = tasks_prompt("What is 2+3?");
    EXPECT(!strcmp(p, "Question: What is 2+3?\nAnswer: "), "qa: '%s'", p);
    free(p);
    EXPECT(tasks_prompt_configure("cot", err, sizeof err) == 0, "cot");
    p = tasks_prompt("What is 2+3?");
    EXPECT(!strcmp(p, "What is 2+3?\nPlease reason step by step, and put your final answer within \\boxed{}."),
           "cot: '%s'", p);
    free(p);
    EXPECT(tasks_prompt_configure("cot-fewshot", err, sizeof err) == 0, "fewshot");
    p = tasks_prompt("What is 2+3?");
    EXPECT(strstr(p, "\\boxed{22}") && strstr(p, "Problem: What is 2+3?\nSolution:") == p + strlen(p) - 31,
           "fewshot ends with the question: '%s'", p + strlen(p) - 40);
    free(p);
    const char *t = write_file("prompt.txt", "Q: {question} A:");
    EXPECT(tasks_prompt_configure(t, err, sizeof err) == 0, "file: %s", err);
    p = tasks_prompt("x?");
    EXPECT(!strcmp(p, "Q: x? A:"), "file: '%s'", p);
    free(p);
    t = write_file("noq.txt", "no placeholder");
    EXPECT(tasks_prompt_configure(t, err, sizeof err) == -1 && strstr(err, "{question}"), "%s", err);
    EXPECT(tasks_prompt_configure("qa", err, sizeof err) == 0, "back to qa");
}

// Ten good lines around the bad ones, so that fractions are easy to reason about.
static void test_bad_lines(void) {
    static const char *bad[] = {
        "not json",
        "[1, 2]",
        "{\"question\": 5, \"answer\": \"1\"}",
        "{\"question\": \"q\"}",
        "{\"question\": \"q\", \"answer\": \"x\\n#### \"}",
        "{\"problem\": \"p\", \"solution\": \"no box\"}",
        "{\"question\": \"q\", \"answer\": \"1\", \"ops\": -1}",
        "{\"question\": \"q\", \"answer\": \"1\", \"graph\": {\"quantities\": []}}",
        "{\"question\": \"q\", \"answer\": \"1\", \"solution\": 3}",
        "{\"question\": \"q\", \"answer\": \"\xff\xfe\"}",
    };
    const char *good = "{\"question\": \"caf\xc3\xa9 \xe2\x82\xac 3 \xc3\xb7 4\", \"answer\": \"0.75\"}\n";
    for (int b = 0; b < 10; b++) {
        char text[4096] = "";
        for (int i = 0; i < 9; i++) strcat(text, good);
        strcat(text, bad[b]);
        strcat(text, "\n");
        strcat(text, good);
        const char *path = write_file("bad.jsonl", text);
        TaskSet set;
        char err[512] = "";
        int rc = tasks_load(path, 0.1, &set, err, sizeof err);
        EXPECT(rc == 0 && set.n == 10 && set.n_bad == 1, "bad line %d: rc %d, %ld good, %ld bad", b, rc, set.n, set.n_bad);
        if (set.n) EXPECT(strcmp(set.items[0].question, "caf\xc3\xa9 \xe2\x82\xac 3 \xc3\xb7 4") == 0, "UTF-8 kept");
        tasks_set_free(&set);
        rc = tasks_load(path, 0.05, &set, err, sizeof err);
        EXPECT(rc == 2 && strstr(err, "bad.jsonl: 1 of 11 lines are malformed") && strstr(err, "data.max_bad_frac"),
               "bad line %d at 5%%: rc %d '%s'", b, rc, err);
        EXPECT(set.n == 0 && set.items == NULL, "a failed load leaves nothing");
    }
}

static void test_missing_file(void) {
    TaskSet set;
    char err[512];
    int rc = tasks_load("/nonexistent/x.jsonl", 0.5, &set, err, sizeof err);
    EXPECT(rc == 2 && strstr(err, "cannot read '/nonexistent/x.jsonl'"), "rc %d '%s'", rc, err);
    const char *path = write_file("empty.jsonl", "\n\n");
    EXPECT(tasks_load(path, 0.0, &set, err, sizeof err) == 0 && set.n == 0, "an empty file is no error");
    tasks_set_free(&set);
}

static void test_splits(void) {
    EXPECT(tasks_split_parse("train") == TASK_SPLIT_TRAIN && tasks_split_parse("ood") == TASK_SPLIT_OOD, "parse");
    EXPECT(tasks_split_parse("dev") == -1 && tasks_split_parse(NULL) == -1, "unknown");
    EXPECT(strcmp(tasks_split_name(TASK_SPLIT_TEST), "test") == 0, "name");
}

int main(void) {
    LM_CHECK(mkdtemp(tmpdir), "mkdtemp");
    RUN_TEST(test_our_records_round_trip);
    RUN_TEST(test_gsm8k_and_math_records);
    RUN_TEST(test_math_level_and_subject);
    RUN_TEST(test_field_mapping);
    RUN_TEST(test_prompts);
    RUN_TEST(test_bad_lines);
    RUN_TEST(test_missing_file);
    RUN_TEST(test_splits);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", tmpdir);
    if (system(cmd) != 0) printf("could not remove %s\n", tmpdir);
    TEST_EXIT();
}
