// main: the command line. Parses the subcommand, the config file and --set overrides,
// brings up the MPI world and dispatches to the phase that was asked for.
#include "lemma/backend.h"
#include "lemma/config.h"
#include "lemma/dist.h"
#include "lemma/model.h"
#include "lemma/train.h"
#include "lemma/util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <omp.h>

#define EXIT_USAGE 2

typedef struct {
    const char *name;
    const char *help;
    int implemented;
} Command;

static const Command commands[] = {
    {"run", "the whole pipeline in one job (pipeline.phases)", 0},
    {"train", "training phase (for now: single process, toy addition corpus)", 1},
    {"sample", "sample and grade solutions, data-parallel", 0},
    {"build", "build reflection data from graded samples", 0},
    {"eval", "evaluate accuracy and error types", 0},
    {"gen", "write built-in word problems", 0},
    {"grade", "grade completions against gold answers", 0},
    {"verify", "check the steps of solutions", 0},
    {"inspect", "summarise a checkpoint", 0},
    {"config", "validate a config; --dump prints the effective config", 1},
};
static const int n_commands = sizeof(commands) / sizeof(commands[0]);

static void usage(FILE *f) {
    fprintf(f, "usage: lemma COMMAND CONFIG [--set key=value]... [options]\n"
               "       lemma config --reference   (every key, its type, default and help)\n"
               "       lemma --help | --version\n\ncommands:\n");
    for (int i = 0; i < n_commands; i++) fprintf(f, "  %-8s %s\n", commands[i].name, commands[i].help);
    fprintf(f, "\nConfigs are libconfig files (see configs/); --set train.lr=3e-4 overrides a key.\n"
               "'lemma config CONFIG --dump' prints every key with its effective value and help.\n");
}

static void print_version(void) {
    char cuda[256];
    backend_cuda_describe(cuda, sizeof cuda);
    printf("lemma %s\n", LEMMA_VERSION);
    printf("build: MPI %s, CUDA %s\n", LEMMA_MPI ? "yes" : "no", LEMMA_CUDA ? "yes" : "no");
    printf("cuda: %s\n", cuda);
    printf("world: %d rank(s)\n", dist.size);
}

// A user error: every rank reaches it with the same input, rank 0 prints, all exit 2.
static void user_error(const char *fmt, const char *arg) {
    if (dist.rank == 0) {
        fprintf(stderr, "lemma: ");
        fprintf(stderr, fmt, arg);
        fprintf(stderr, "\n");
    }
    dist_finalize();
    exit(EXIT_USAGE);
}

static const Command *find_command(const char *name) {
    for (int i = 0; i < n_commands; i++)
        if (strcmp(commands[i].name, name) == 0) return &commands[i];
    return NULL;
}

typedef struct {
    const Command *cmd;
    const char *config_path;
    char **sets;
    int n_sets;
    int dump;
} Args;

static void parse_args(int argc, char **argv, Args *a) {
    memset(a, 0, sizeof *a);
    a->sets = lm_calloc((size_t)argc, sizeof(char *));
    for (int i = 2; i < argc; i++) {
        if (strcmp(argv[i], "--set") == 0) {
            if (i + 1 >= argc) user_error("%s needs key=value", "--set");
            a->sets[a->n_sets++] = argv[++i];
        } else if (strncmp(argv[i], "--set=", 6) == 0) {
            a->sets[a->n_sets++] = argv[i] + 6;
        } else if (strcmp(argv[i], "--dump") == 0) {
            a->dump = 1;
        } else if (argv[i][0] == '-' && argv[i][1]) {
            user_error("unknown option '%s' (see lemma --help)", argv[i]);
        } else if (!a->config_path) {
            a->config_path = argv[i];
        } else {
            user_error("unexpected argument '%s' (see lemma --help)", argv[i]);
        }
    }
}

// OpenMP threads per rank: run.threads, else OMP_NUM_THREADS, else the cores of the node
// shared among its ranks.
static int threads_per_rank(const Config *cfg) {
    int t = (int)cfg_int(cfg, "run.threads");
    if (t > 0) return t;
    if (getenv("OMP_NUM_THREADS")) return omp_get_max_threads();
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    t = (int)(cores / (dist.local_size > 0 ? dist.local_size : 1));
    return t < 1 ? 1 : t;
}

// The single-process driver on the toy addition corpus; the held-out accuracy shows
// whether the model learned. Replaced by the data-parallel phase on real records.
static int cmd_train(const Config *cfg) {
    if (dist.size > 1) {
        if (dist.rank == 0)
            fprintf(stderr, "lemma train: data-parallel training is not implemented yet; "
                            "run it with one rank\n");
        return EXIT_USAGE;
    }
    Tokenizer tok;
    tokenizer_from_config(&tok, cfg);
    ModelConfig mc;
    model_config_from(&mc, cfg, tok.vocab);
    Backend *be = backend_create(cfg_str(cfg, "run.device"), cfg_str(cfg, "run.precision"),
                                 threads_per_rank(cfg), dist.local_rank);
    Model m;
    uint64_t seed = (uint64_t)cfg_int(cfg, "run.seed");
    model_init(&m, &mc, be, seed);
    SimpleTrainConfig tc;
    train_config_from(&tc, cfg);
    lm_info("lemma train: %s backend (%d threads), %.2fM parameters, %d steps of %d x %d x %d "
            "tokens (toy addition corpus)", be->name, be->threads, m.layout.n_params / 1e6,
            tc.steps, tc.grad_accum, tc.B, tc.T);
    ToyCorpus corpus = {seed, 100, &tok, 0};
    SimpleTrainResult r = train_simple(&m, &tc, toy_batch, &corpus, NULL);
    lm_info("trained %ld tokens in %.1fs (%.0f tok/s), loss %.4f -> %.4f", r.tokens, r.seconds,
            r.tokens / r.seconds, r.first_loss, r.last_loss);
    int n_eval = 100, right = 0;
    for (int i = 0; i < n_eval; i++) {
        char prompt[64];
        int answer = toy_problem(&corpus, i, prompt, sizeof prompt);
        char *out = model_greedy_complete(&m, &tok, prompt, 6);
        int ok = atoi(out) == answer && out[0] >= '0' && out[0] <= '9';
        right += ok;
        if (i < 5) lm_info("  %s%-5s %s", prompt, out, ok ? "right" : "wrong");
        free(out);
    }
    lm_info("held-out accuracy: %d/%d", right, n_eval);
    model_free(&m);
    backend_destroy(be);
    tokenizer_free(&tok);
    return 0;
}

static int cmd_config(const Config *cfg, const Args *a) {
    if (dist.rank != 0) return 0;
    if (a->dump) {
        printf("# lemma %s, world size %d\n", LEMMA_VERSION, dist.size);
        config_dump(cfg, stdout);
    } else {
        printf("%s: ok (world size %d)\n", a->config_path, dist.size);
    }
    return 0;
}

int main(int argc, char **argv) {
    if (argc < 2) {
        usage(stderr);
        return EXIT_USAGE;
    }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        usage(stdout);
        return 0;
    }
    if (argc == 3 && !strcmp(argv[1], "config") && !strcmp(argv[2], "--reference")) {
        config_reference(stdout);
        return 0;
    }
    dist_init(&argc, &argv);
    if (!strcmp(argv[1], "--version")) {
        if (dist.rank == 0) print_version();
        dist_finalize();
        return 0;
    }
    const Command *cmd = find_command(argv[1]);
    if (!cmd) {
        if (dist.rank == 0) {
            fprintf(stderr, "lemma: unknown command '%s'\n\n", argv[1]);
            usage(stderr);
        }
        dist_finalize();
        return EXIT_USAGE;
    }
    Args a;
    parse_args(argc, argv, &a);
    a.cmd = cmd;
    if (!a.config_path) {
        if (dist.rank == 0) {
            fprintf(stderr, "lemma %s: missing CONFIG file\n\n", cmd->name);
            usage(stderr);
        }
        dist_finalize();
        return EXIT_USAGE;
    }
    if (access(a.config_path, R_OK) != 0) {
        if (dist.rank == 0) {
            fprintf(stderr, "lemma: cannot read config '%s': %s\n\n", a.config_path, strerror(errno));
            usage(stderr);
        }
        dist_finalize();
        return EXIT_USAGE;
    }
    Config cfg;
    char err[1024];
    if (config_load(&cfg, a.config_path, a.sets, a.n_sets, err, sizeof err) != 0) {
        config_free(&cfg);
        user_error("%s", err);
    }
    int rc;
    if (!cmd->implemented) {
        if (dist.rank == 0) fprintf(stderr, "lemma: '%s' is not implemented yet\n", cmd->name);
        rc = EXIT_USAGE;
    } else {
        rc = !strcmp(cmd->name, "train") ? cmd_train(&cfg) : cmd_config(&cfg, &a);
    }
    config_free(&cfg);
    free(a.sets);
    dist_finalize();
    return rc;
}
