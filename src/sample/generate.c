// sample/generate: `lemma generate MODEL --prompt TEXT [--max-tokens N] [--temperature T]
// [--top-p P] [--top-k K]`: one completion of TEXT through the model's chat template, printed
// on standard output (rank 0). Greedy at temperature 0, the default.
#include "lemma/dist.h"
#include "lemma/hub.h"
#include "lemma/sample.h"
#include "lemma/util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    const char *prompt;
    long max_tokens;
    double temperature, top_p;
    long top_k;
} GenerateArgs;

static int generate_usage(const char *msg, const char *arg) {
    if (dist.rank == 0) {
        fprintf(stderr, "lemma generate: ");
        fprintf(stderr, msg, arg);
        fprintf(stderr, "\nusage: lemma generate MODEL --prompt TEXT [--max-tokens N] "
                "[--temperature T] [--top-p P] [--top-k K]\n");
    }
    return 2;
}

// A number option's value in [lo, hi]; 0, or -1 when it is not one.
static int number_arg(const char *s, double lo, double hi, double *out) {
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || !(v >= lo && v <= hi)) return -1;
    *out = v;
    return 0;
}

static int generate_args(GenerateArgs *g, int argc, char **argv) {
    *g = (GenerateArgs){NULL, 256, 0.0, 1.0, 0};
    for (int i = 0; i < argc; i++) {
        const char *o = argv[i];
        if (i + 1 >= argc) return generate_usage("option '%s' needs a value", o);
        const char *v = argv[++i];
        double x;
        if (!strcmp(o, "--prompt")) g->prompt = v;
        else if (!strcmp(o, "--max-tokens") && number_arg(v, 1, 1 << 20, &x) == 0) g->max_tokens = (long)x;
        else if (!strcmp(o, "--temperature") && number_arg(v, 0, 100, &x) == 0) g->temperature = x;
        else if (!strcmp(o, "--top-p") && number_arg(v, 1e-6, 1, &x) == 0) g->top_p = x;
        else if (!strcmp(o, "--top-k") && number_arg(v, 0, 1 << 24, &x) == 0) g->top_k = (long)x;
        else if (!strcmp(o, "--max-tokens") || !strcmp(o, "--temperature") ||
                 !strcmp(o, "--top-p") || !strcmp(o, "--top-k"))
            return generate_usage("option %s: bad value", o);
        else return generate_usage("unknown option '%s'", o);
    }
    return g->prompt ? 0 : generate_usage("%s is required", "--prompt TEXT");
}

// The completion of ids (n of them) on one slot.
static SampleResult generate_one(HubModel *h, const GenerateArgs *g, const int *ids, int n,
                                 uint64_t seed) {
    SampleConfig c;
    memset(&c, 0, sizeof c);
    c.strategy.temperature = (float)g->temperature;
    c.strategy.top_p = (float)g->top_p;
    c.strategy.top_k = (int)g->top_k;
    c.max_new_tokens = (int)g->max_tokens;
    c.seed = seed;
    c.slots = 1;
    c.prefill_tokens = 256;
    long ctx = n + g->max_tokens;
    c.ctx = ctx < h->m.cfg.max_seq ? (int)ctx : h->m.cfg.max_seq;
    c.kv = DT_F32;
    SampleRequest r = {ids, n, 0, g->temperature > 0 ? 0 : -1, 0};
    SampleResult out;
    sample_generate(&h->m, &h->tok, &c, &r, 1, &out);
    return out;
}

int generate_cmd(const Config *cfg, const char *input, int argc, char **argv) {
    GenerateArgs g;
    lm_log_to_stderr(); // standard output is the result
    if (generate_args(&g, argc, argv) != 0) return 2;
    HubModel h;
    char err[2048];
    if (hub_open_model(&h, cfg, input, err, sizeof err) != 0) {
        if (dist.rank == 0) fprintf(stderr, "lemma generate: %s\n", err);
        return 2;
    }
    int n = 0, status = 0;
    int *ids = tokenizer_prompt(&h.tok, g.prompt, 0, &n);
    if (n < 1 || n >= h.m.cfg.max_seq) {
        if (dist.rank == 0)
            fprintf(stderr, "lemma generate: the prompt is %d tokens; the model's context is %d "
                    "(model.max_seq)\n", n, h.m.cfg.max_seq);
        status = 2;
    } else {
        SampleResult r = generate_one(&h, &g, ids, n, (uint64_t)cfg_int(cfg, "run.seed"));
        if (dist.rank == 0) {
            fwrite(r.text, 1, r.text_len, stdout);
            fputc('\n', stdout);
            lm_info("generate: %d tokens (%s)", r.n_tokens, sample_finish_name(r.finish));
        }
        sample_results_free(&r, 1);
    }
    free(ids);
    hub_close(&h);
    return status;
}
