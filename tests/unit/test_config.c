// tests/unit/test_config: the configuration module: schema defaults, loading and validation
// messages (file:line:key), --set, lists, suggestions, the dump round-trip and the reference.
#include "harness.h"
#include "lemma/config.h"

#include <string.h>
#include <unistd.h>

// ---------------------------------------------------------------------------
// Helpers

// Writes text to a per-test file under /tmp; the path goes to path (256 bytes).
static void write_cfg(char *path, const char *name, const char *text) {
    snprintf(path, 256, "/tmp/lemma_test_config_%d_%s.cfg", (int)getpid(), name);
    FILE *f = fopen(path, "w");
    if (!f) {
        perror(path);
        exit(1);
    }
    fputs(text, f);
    fclose(f);
}

// Loads text (written to a temp file) with the given --set list; returns config_load's code.
static int load_text(Config *c, const char *name, const char *text, char *const *sets,
                     int n_sets, char *err, char *path) {
    write_cfg(path, name, text);
    int rc = config_load(c, path, sets, n_sets, err, 512);
    unlink(path);
    return rc;
}

// Loads text that must fail; checks the code, that c is left empty and that err == want
// (want is a format with %s for the path).
static void expect_load_error(const char *name, const char *text, const char *want_fmt) {
    Config c;
    char err[512] = "", path[256], want[768];
    int rc = load_text(&c, name, text, NULL, 0, err, path);
    snprintf(want, sizeof want, want_fmt, path);
    EXPECT(rc == 2, "%s: rc %d", name, rc);
    EXPECT(strcmp(err, want) == 0, "%s:\n  got  '%s'\n  want '%s'", name, err, want);
    EXPECT(c.vals == NULL && c.path == NULL && c.text == NULL, "%s: state left after error",
           name);
    config_free(&c); // safe after an error
}

// Applies one --set to the defaults that must fail with exactly want.
static void expect_set_error(const char *assignment, const char *want) {
    Config c;
    char err[512] = "";
    config_defaults(&c);
    int rc = config_set(&c, assignment, err, sizeof err);
    EXPECT(rc == 2, "'%s': rc %d", assignment, rc);
    EXPECT(strcmp(err, want) == 0, "'%s':\n  got  '%s'\n  want '%s'", assignment, err, want);
    config_free(&c);
}

static int same_value(const CfgEntry *e, const CfgValue *a, const CfgValue *b) {
    switch (e->type) {
    case CFG_INT: return a->i == b->i;
    case CFG_FLOAT: return a->f == b->f;
    case CFG_BOOL: return a->b == b->b;
    case CFG_STRING:
    case CFG_ENUM: return strcmp(a->s, b->s) == 0;
    case CFG_LIST:
        if (a->n_items != b->n_items) return 0;
        for (int i = 0; i < a->n_items; i++)
            if (strcmp(a->items[i], b->items[i]) != 0) return 0;
        return 1;
    }
    return 0;
}

static char *dump_to_string(const Config *c) {
    char *buf = NULL;
    size_t n = 0;
    FILE *m = open_memstream(&buf, &n);
    config_dump(c, m);
    fclose(m);
    return buf;
}

// ---------------------------------------------------------------------------
// Schema and defaults

static void test_schema_well_formed(void) {
    EXPECT(cfg_schema_len >= 45, "only %d keys", cfg_schema_len);
    for (int i = 0; i < cfg_schema_len; i++) {
        const CfgEntry *e = &cfg_schema[i];
        const char *dot = strchr(e->key, '.');
        EXPECT(dot && dot > e->key && dot[1] && !strchr(dot + 1, '.'), "key '%s'", e->key);
        EXPECT(e->help && e->help[0], "no help for '%s'", e->key);
        EXPECT((e->type == CFG_ENUM) <= (e->choices != NULL), "enum '%s' without choices", e->key);
        for (int j = 0; j < i; j++)
            EXPECT(strcmp(e->key, cfg_schema[j].key) != 0, "duplicate key '%s'", e->key);
    }
}

static void test_defaults_match_schema(void) {
    Config c;
    config_defaults(&c);
    EXPECT(strcmp(c.path, "<defaults>") == 0 && strcmp(c.text, "") == 0, "path/text");
    for (int i = 0; i < cfg_schema_len; i++) {
        const CfgEntry *e = &cfg_schema[i];
        const CfgValue *v = &c.vals[i];
        EXPECT(v->line == 0, "%s line %d", e->key, v->line);
        if (e->type == CFG_INT) EXPECT(v->i == strtoll(e->def, NULL, 10), "%s", e->key);
        if (e->type == CFG_FLOAT) EXPECT(v->f == strtod(e->def, NULL), "%s", e->key);
        if (e->type == CFG_STRING || e->type == CFG_ENUM)
            EXPECT(strcmp(v->s, e->def) == 0, "%s = '%s'", e->key, v->s);
        if (e->type == CFG_LIST) {
            int n = e->def[0] ? 1 : 0;
            for (const char *p = e->def; *p; p++) n += *p == ',';
            EXPECT(v->n_items == n, "%s has %d items", e->key, v->n_items);
        }
    }
    EXPECT(cfg_int(&c, "model.dim") == 256, "model.dim");
    EXPECT(cfg_int(&c, "run.seed") == 1234, "run.seed");
    EXPECT(cfg_float(&c, "train.lr") == 3e-4, "train.lr");
    EXPECT(cfg_float(&c, "model.norm_eps") == 1e-5, "norm_eps");
    EXPECT(cfg_bool(&c, "model.tied_embeddings") == 1, "tied");
    EXPECT(cfg_bool(&c, "model.qkv_bias") == 0, "qkv_bias");
    EXPECT(strcmp(cfg_str(&c, "run.device"), "auto") == 0, "device");
    EXPECT(strcmp(cfg_str(&c, "data.train"), "") == 0, "data.train");
    EXPECT(cfg_list_len(&c, "pipeline.phases") == 5, "phases");
    EXPECT(strcmp(cfg_list_item(&c, "pipeline.phases", 4), "eval") == 0, "phases[4]");
    EXPECT(cfg_list_len(&c, "model.special_tokens") == 1, "special_tokens");
    EXPECT(strcmp(cfg_list_item(&c, "model.special_tokens", 0), "[BACK]") == 0, "[BACK]");
    EXPECT(cfg_list_has(&c, "eval.splits", "ood") && !cfg_list_has(&c, "eval.splits", "x"), "has");
    config_free(&c);
    config_free(&c); // twice is fine
}

// ---------------------------------------------------------------------------
// Loading

static void test_load_valid_file(void) {
    const char *text = "# a small config\n"
                       "run = {\n"
                       "  name = \"small\";\n"
                       "  seed = 7;\n"
                       "  device = \"cpu\";\n"
                       "};\n"
                       "train = { lr = 1; steps = 20; beta2 = 0.99; };\n"
                       "model = { qkv_bias = true; special_tokens = ( \"[BACK]\", \"[X]\" ); };\n"
                       "pipeline = { phases = [ \"sample\", \"eval\" ]; };\n";
    Config c;
    char err[512] = "", path[256];
    int rc = load_text(&c, "valid", text, NULL, 0, err, path);
    EXPECT(rc == 0, "rc %d: %s", rc, err);
    if (rc) return;
    EXPECT(strcmp(c.path, path) == 0, "path '%s'", c.path);
    EXPECT(strcmp(c.text, text) == 0, "text not verbatim");
    EXPECT(strcmp(cfg_str(&c, "run.name"), "small") == 0, "name");
    EXPECT(cfg_int(&c, "run.seed") == 7, "seed");
    EXPECT(strcmp(cfg_str(&c, "run.device"), "cpu") == 0, "device");
    EXPECT(cfg_float(&c, "train.lr") == 1.0, "int accepted for a float key");
    EXPECT(cfg_int(&c, "train.steps") == 20, "steps");
    EXPECT(cfg_float(&c, "train.beta2") == 0.99, "beta2");
    EXPECT(cfg_bool(&c, "model.qkv_bias") == 1, "qkv_bias");
    EXPECT(cfg_list_len(&c, "model.special_tokens") == 2, "special_tokens");
    EXPECT(strcmp(cfg_list_item(&c, "model.special_tokens", 1), "[X]") == 0, "[X]");
    EXPECT(cfg_list_len(&c, "pipeline.phases") == 2, "phases");
    EXPECT(cfg_list_has(&c, "pipeline.phases", "eval"), "eval phase");
    EXPECT(!cfg_list_has(&c, "pipeline.phases", "pretrain"), "no pretrain");
    EXPECT(cfg_int(&c, "model.dim") == 256, "default filled");
    int seed = -1, dim = -1;
    for (int i = 0; i < cfg_schema_len; i++) {
        if (strcmp(cfg_schema[i].key, "run.seed") == 0) seed = c.vals[i].line;
        if (strcmp(cfg_schema[i].key, "model.dim") == 0) dim = c.vals[i].line;
    }
    EXPECT(seed == 4 && dim == 0, "lines: seed %d, dim %d", seed, dim);
    config_free(&c);
}

static void test_unknown_key_names_file_line_and_suggestion(void) {
    const char *text = "# test\n"
                       "trian = {\n"
                       "  lr = 1;\n"
                       "};\n";
    Config c;
    char err[512] = "", path[256];
    int rc = load_text(&c, "unknown", text, NULL, 0, err, path);
    EXPECT(rc == 2, "rc %d", rc);
    EXPECT(strstr(err, path) != NULL, "no file name: %s", err);
    EXPECT(strstr(err, ":3:") != NULL, "no line 3: %s", err);
    EXPECT(strstr(err, "trian.lr") != NULL, "no key: %s", err);
    EXPECT(strstr(err, "train.lr") != NULL, "no suggestion: %s", err);
    EXPECT(!strchr(err, '\n'), "newline in the message");
    config_free(&c);
    expect_load_error("unknown_exact", text,
                      "%s:3: unknown key 'trian.lr' (did you mean 'train.lr'?)");
    expect_load_error("unknown_far", "run = {\n  zzzzzzzzzz = 1;\n};\n",
                      "%s:2: unknown key 'run.zzzzzzzzzz'");
    expect_load_error("unknown_section", "\nfoo = { };\n", "%s:2: unknown section 'foo'");
}

static void test_wrong_types(void) {
    expect_load_error("float_for_int", "train = {\n  steps = 1.5;\n};\n",
                      "%s:2: key 'train.steps' expects an integer, got a float");
    expect_load_error("string_for_float", "train = { lr = \"0.1\"; };\n",
                      "%s:1: key 'train.lr' expects a number, got a string");
    expect_load_error("int_for_bool", "model = {\n\n  qkv_bias = 1;\n};\n",
                      "%s:3: key 'model.qkv_bias' expects a boolean, got an integer");
    expect_load_error("bool_for_string", "run = { name = true; };\n",
                      "%s:1: key 'run.name' expects a string, got a boolean");
    expect_load_error("string_for_list", "eval = { splits = \"test\"; };\n",
                      "%s:1: key 'eval.splits' expects a list of strings, got a string");
    expect_load_error("int_in_list", "model = { special_tokens = ( \"a\", 2 ); };\n",
                      "%s:1: key 'model.special_tokens' expects a list of strings, got a list "
                      "with an integer");
}

static void test_out_of_range_and_choices_in_file(void) {
    expect_load_error("lr_range", "train = {\n  lr = 20;\n};\n",
                      "%s:2: key 'train.lr' = 20 is out of range [0, 10]");
    expect_load_error("dim_range", "model = { dim = 4; };\n",
                      "%s:1: key 'model.dim' = 4 is out of range [8, 65536]");
    expect_load_error("eps_range", "model = { norm_eps = 0.5; };\n",
                      "%s:1: key 'model.norm_eps' = 0.5 is out of range [1e-12, 0.1]");
    expect_load_error("bad_enum", "run = {\n  device = \"gpu\";\n};\n",
                      "%s:2: key 'run.device' = 'gpu' is not one of auto|cpu|cuda");
    expect_load_error("bad_item", "eval = { splits = [ \"test\", \"dev\" ]; };\n",
                      "%s:1: key 'eval.splits' item 'dev' is not one of test|ood");
    expect_load_error("empty_item", "model = { special_tokens = [ \"\" ]; };\n",
                      "%s:1: key 'model.special_tokens' has an empty item");
}

static void test_structure_errors(void) {
    expect_load_error("not_in_section", "# top\nlr = 1;\n", "%s:2: 'lr' is not inside a section");
    expect_load_error("nested_group", "train = {\n  opt = {\n    lr = 1;\n  };\n};\n",
                      "%s:2: 'train.opt' is a group inside section 'train'; sections do not nest");
    expect_load_error("parse_error", "run = {\n  seed = 1;\n\n  name = ;\n};\n",
                      "%s:4: parse error: syntax error");
    expect_load_error("duplicate", "run = {\n  seed = 1;\n  seed = 2;\n};\n",
                      "%s:3: parse error: duplicate setting name");
}

static void test_missing_file(void) {
    Config c;
    char err[512] = "";
    int rc = config_load(&c, "/tmp/lemma_test_config_no_such_dir/x.cfg", NULL, 0, err, sizeof err);
    EXPECT(rc == 2, "rc %d", rc);
    EXPECT(strcmp(err, "cannot read config '/tmp/lemma_test_config_no_such_dir/x.cfg': No such "
                       "file or directory") == 0,
           "got '%s'", err);
    EXPECT(c.vals == NULL && c.path == NULL && c.text == NULL, "state left after error");
    config_free(&c);
}

// libconfig 1.5 wraps 5000000000 (no L) to 705032704 silently; we refuse it.
static void test_wrapped_32bit_literal(void) {
    expect_load_error("wrapped", "run = {\n  seed = 5000000000;\n};\n",
                      "%s:2: key 'run.seed' = 5000000000 does not fit in 32 bits; libconfig "
                      "needs 5000000000L");
    Config c;
    char err[512] = "", path[256];
    int rc = load_text(&c, "int64", "run = { seed = 5000000000L; };\ntrain = { lr = 0; };\n",
                       NULL, 0, err, path);
    EXPECT(rc == 0, "rc %d: %s", rc, err);
    if (rc == 0) EXPECT(cfg_int(&c, "run.seed") == 5000000000LL, "seed");
    config_free(&c);
}

// ---------------------------------------------------------------------------
// --set

static void test_set_errors(void) {
    expect_set_error("foo", "--set 'foo': expected key=value");
    expect_set_error("=3", "--set '=3': expected key=value");
    expect_set_error("trian.lr=1", "--set 'trian.lr=1': unknown key 'trian.lr' (did you mean "
                                   "'train.lr'?)");
    expect_set_error("zzzzzzzz=1", "--set 'zzzzzzzz=1': unknown key 'zzzzzzzz'");
    expect_set_error("train.steps=abc",
                     "--set 'train.steps=abc': key 'train.steps' expects an integer");
    expect_set_error("train.steps=1e3",
                     "--set 'train.steps=1e3': key 'train.steps' expects an integer");
    expect_set_error("train.steps=", "--set 'train.steps=': key 'train.steps' expects an integer");
    expect_set_error("train.lr=abc", "--set 'train.lr=abc': key 'train.lr' expects a number");
    expect_set_error("train.lr=nan", "--set 'train.lr=nan': key 'train.lr' expects a number");
    expect_set_error("train.lr=20",
                     "--set 'train.lr=20': key 'train.lr' = 20 is out of range [0, 10]");
    expect_set_error("train.lr=-1e-3",
                     "--set 'train.lr=-1e-3': key 'train.lr' = -0.001 is out of range [0, 10]");
    expect_set_error("model.dim=99999999999999999999",
                     "--set 'model.dim=99999999999999999999': key 'model.dim' = "
                     "99999999999999999999 is out of range [8, 65536]");
    expect_set_error("run.device=gpu",
                     "--set 'run.device=gpu': key 'run.device' = 'gpu' is not one of auto|cpu|cuda");
    expect_set_error("model.qkv_bias=maybe",
                     "--set 'model.qkv_bias=maybe': key 'model.qkv_bias' expects a boolean "
                     "(true/false, yes/no, on/off, 1/0)");
    expect_set_error("eval.splits=test,dev",
                     "--set 'eval.splits=test,dev': key 'eval.splits' item 'dev' is not one of "
                     "test|ood");
    expect_set_error("model.special_tokens=a,,b",
                     "--set 'model.special_tokens=a,,b': key 'model.special_tokens' has an empty "
                     "item");
}

static void test_set_values(void) {
    Config c;
    char err[512] = "";
    config_defaults(&c);
    EXPECT(config_set(&c, "run.name=\"x y\"", err, sizeof err) == 0, "%s", err);
    EXPECT(strcmp(cfg_str(&c, "run.name"), "x y") == 0, "quotes stripped: '%s'",
           cfg_str(&c, "run.name"));
    EXPECT(config_set(&c, "run.dir=a=b", err, sizeof err) == 0, "%s", err);
    EXPECT(strcmp(cfg_str(&c, "run.dir"), "a=b") == 0, "value with '='");
    EXPECT(config_set(&c, "model.qkv_bias=yes", err, sizeof err) == 0, "%s", err);
    EXPECT(cfg_bool(&c, "model.qkv_bias") == 1, "yes");
    EXPECT(config_set(&c, "model.tied_embeddings=off", err, sizeof err) == 0, "%s", err);
    EXPECT(cfg_bool(&c, "model.tied_embeddings") == 0, "off");
    EXPECT(config_set(&c, "train.lr=1e-3", err, sizeof err) == 0, "%s", err);
    EXPECT(cfg_float(&c, "train.lr") == 1e-3, "lr");
    EXPECT(config_set(&c, "train.steps=-0", err, sizeof err) == 0, "%s", err);
    EXPECT(config_set(&c, "run.seed=4611686018427387903", err, sizeof err) == 0, "%s", err);
    EXPECT(cfg_int(&c, "run.seed") == 4611686018427387903LL, "big seed");
    EXPECT(config_set(&c, "run.device=cuda", err, sizeof err) == 0, "%s", err);
    EXPECT(strcmp(cfg_str(&c, "run.device"), "cuda") == 0, "device");
    EXPECT(c.vals[0].line == -1, "line of a --set is -1");
    config_free(&c);
}

static void test_set_overrides_file(void) {
    char *sets[] = {"train.steps=20", "train.steps=30", "run.name=over"};
    Config c;
    char err[512] = "", path[256];
    int rc = load_text(&c, "override", "train = { steps = 10; };\nrun = { name = \"file\"; };\n",
                       sets, 3, err, path);
    EXPECT(rc == 0, "rc %d: %s", rc, err);
    if (rc) return;
    EXPECT(cfg_int(&c, "train.steps") == 30, "the last --set wins: %lld",
           (long long)cfg_int(&c, "train.steps"));
    EXPECT(strcmp(cfg_str(&c, "run.name"), "over") == 0, "name");
    config_free(&c);

    char *bad[] = {"train.lr=20"};
    rc = load_text(&c, "override_bad", "train = { steps = 10; };\n", bad, 1, err, path);
    EXPECT(rc == 2, "rc %d", rc);
    EXPECT(strcmp(err, "--set 'train.lr=20': key 'train.lr' = 20 is out of range [0, 10]") == 0,
           "got '%s'", err);
    EXPECT(c.vals == NULL, "state left after error");
    config_free(&c);
}

static void test_lists(void) {
    Config c;
    char err[512] = "";
    config_defaults(&c);
    EXPECT(config_set(&c, "eval.splits= ood , test ", err, sizeof err) == 0, "%s", err);
    EXPECT(cfg_list_len(&c, "eval.splits") == 2, "2 items");
    EXPECT(strcmp(cfg_list_item(&c, "eval.splits", 0), "ood") == 0, "trimmed item 0");
    EXPECT(strcmp(cfg_list_item(&c, "eval.splits", 1), "test") == 0, "trimmed item 1");
    EXPECT(config_set(&c, "model.special_tokens=", err, sizeof err) == 0, "%s", err);
    EXPECT(cfg_list_len(&c, "model.special_tokens") == 0, "empty list");
    EXPECT(config_set(&c, "pipeline.phases=eval", err, sizeof err) == 0, "%s", err);
    EXPECT(cfg_list_len(&c, "pipeline.phases") == 1 && cfg_list_has(&c, "pipeline.phases", "eval"),
           "one phase");
    EXPECT(config_set(&c, "pipeline.phases=eval,bogus", err, sizeof err) == 2, "bad phase");
    EXPECT(cfg_list_len(&c, "pipeline.phases") == 1, "a failed --set changes nothing");
    config_free(&c);

    char path[256];
    int rc = load_text(&c, "lists", "eval = { splits = ( ); };\nmodel = { special_tokens = [ "
                                    "\"<a>\" ]; };\n",
                       NULL, 0, err, path);
    EXPECT(rc == 0, "rc %d: %s", rc, err);
    if (rc == 0) {
        EXPECT(cfg_list_len(&c, "eval.splits") == 0, "empty list from file");
        EXPECT(strcmp(cfg_list_item(&c, "model.special_tokens", 0), "<a>") == 0, "array item");
    }
    config_free(&c);
}

// ---------------------------------------------------------------------------
// Dump, reference, suggestions

static void test_dump_round_trip(void) {
    char *sets[] = {"run.seed=5000000000",     "train.lr=3e-4",
                    "run.name=q\"uo\\te",      "model.special_tokens=",
                    "model.norm_eps=1e-12",    "train.steps=1000000000000",
                    "model.rope_theta=1e12",   "sample.top_p=1",
                    "train.beta2=0.1",         "data.train=line1\nline2\ttab",
                    "eval.splits=ood",         "model.qkv_bias=true",
                    "train.grad_clip=123456.789"};
    int n_sets = (int)(sizeof sets / sizeof sets[0]);
    Config a, b;
    char err[512] = "", path[256];
    int rc = load_text(&a, "dump_src", "train = { warmup_frac = 0; };\n", sets, n_sets, err, path);
    EXPECT(rc == 0, "rc %d: %s", rc, err);
    if (rc) return;
    char *text = dump_to_string(&a);
    rc = load_text(&b, "dump_back", text, NULL, 0, err, path);
    EXPECT(rc == 0, "the dump does not load back: %s\n%s", err, text);
    if (rc == 0) {
        for (int i = 0; i < cfg_schema_len; i++)
            EXPECT(same_value(&cfg_schema[i], &a.vals[i], &b.vals[i]), "%s differs",
                   cfg_schema[i].key);
        for (int i = 0; i < cfg_schema_len; i++)
            EXPECT(b.vals[i].line > 0, "%s not in the dump", cfg_schema[i].key);
        char *again = dump_to_string(&b);
        EXPECT(strcmp(text, again) == 0, "the dump is not stable");
        free(again);
    }
    EXPECT(strstr(text, "seed = 5000000000L;") != NULL, "no L suffix:\n%s", text);
    EXPECT(strstr(text, "lr = 0.0003;") != NULL, "lr:\n%s", text);
    EXPECT(strstr(text, "top_p = 1.0;") != NULL, "float written as int:\n%s", text);
    EXPECT(strstr(text, "special_tokens = [ ];") != NULL, "empty list:\n%s", text);
    EXPECT(strstr(text, "\ntrain = {\n") != NULL, "no train section:\n%s", text);
    free(text);
    config_free(&a);
    config_free(&b);
}

static void test_reference(void) {
    char *buf = NULL;
    size_t n = 0;
    FILE *m = open_memstream(&buf, &n);
    config_reference(m);
    fclose(m);
    int lines = 0;
    for (char *p = buf; *p; p++) lines += *p == '\n';
    EXPECT(lines == cfg_schema_len + 2, "%d lines", lines);
    EXPECT(strncmp(buf, "| key | type | default | range / choices | description |\n", 57) == 0,
           "header");
    EXPECT(strstr(buf, "| `train.lr` | float | `3e-4` | [0, 10] | peak learning rate |") != NULL,
           "train.lr row:\n%s", buf);
    EXPECT(strstr(buf, "one of `auto`, `cpu`, `cuda`") != NULL, "choices");
    free(buf);
}

static void test_suggest(void) {
    const char *s = config_suggest("trian.lr");
    EXPECT(s && strcmp(s, "train.lr") == 0, "trian.lr -> %s", s ? s : "NULL");
    s = config_suggest("training.lr");
    EXPECT(s && strcmp(s, "train.lr") == 0, "training.lr -> %s", s ? s : "NULL");
    s = config_suggest("model.dimm");
    EXPECT(s && strcmp(s, "model.dim") == 0, "model.dimm -> %s", s ? s : "NULL");
    s = config_suggest("opt.micro_batch");
    EXPECT(s && strcmp(s, "train.micro_batch") == 0, "opt.micro_batch -> %s", s ? s : "NULL");
    s = config_suggest("steps");
    EXPECT(s && strcmp(s, "train.steps") == 0, "steps -> %s", s ? s : "NULL");
    EXPECT(config_suggest("zzzz.qqqq") == NULL, "far key got a suggestion");
    EXPECT(config_suggest("") == NULL, "empty key got a suggestion");
}

int main(void) {
    RUN_TEST(test_schema_well_formed);
    RUN_TEST(test_defaults_match_schema);
    RUN_TEST(test_load_valid_file);
    RUN_TEST(test_unknown_key_names_file_line_and_suggestion);
    RUN_TEST(test_wrong_types);
    RUN_TEST(test_out_of_range_and_choices_in_file);
    RUN_TEST(test_structure_errors);
    RUN_TEST(test_missing_file);
    RUN_TEST(test_wrapped_32bit_literal);
    RUN_TEST(test_set_errors);
    RUN_TEST(test_set_values);
    RUN_TEST(test_set_overrides_file);
    RUN_TEST(test_lists);
    RUN_TEST(test_dump_round_trip);
    RUN_TEST(test_reference);
    RUN_TEST(test_suggest);
    TEST_EXIT();
}
