// main: the command line. Parses the subcommand, the config file and --set overrides,
// brings up the MPI world and dispatches to the phase that was asked for.
#include "lemma/backend.h"
#include "lemma/ckpt.h"
#include "lemma/config.h"
#include "lemma/dist.h"
#include "lemma/eval.h"
#include "lemma/lemma.h"
#include "lemma/model.h"
#include "lemma/pipeline.h"
#include "lemma/sample.h"
#include "lemma/tasks.h"
#include "lemma/train.h"
#include "lemma/util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <omp.h>

#define EXIT_USAGE 2

// A command gets the loaded config (the file named by INPUT, or the defaults for commands
// whose INPUT is a data file or a checkpoint), INPUT, and its own options (argc, argv).
typedef int (*CommandFn)(const Config *cfg, const char *input, int argc, char **argv);

typedef struct {
    const char *name;
    const char *input; // what INPUT is: "CONFIG", "IN.jsonl", "CKPT"
    const char *help;
    CommandFn fn;      // NULL: not implemented yet
} Command;

static int cmd_train(const Config *cfg, const char *input, int argc, char **argv);
static int cmd_config(const Config *cfg, const char *input, int argc, char **argv);

static const Command commands[] = {
    {"run", "CONFIG", "the whole pipeline in one job (pipeline.phases)", pipeline_cmd},
    {"train", "CONFIG", "data-parallel training with checkpoints and resume", cmd_train},
    {"sample", "CONFIG", "sample and grade solutions, data-parallel", sample_cmd},
    {"build", "CONFIG", "build reflection data from graded samples", build_cmd},
    {"eval", "CONFIG", "evaluate accuracy and error types", eval_cmd},
    {"gen", "CONFIG", "write built-in word problems", tasks_cmd_gen},
    {"grade", "IN.jsonl", "grade completions against gold answers", tasks_cmd_grade},
    {"verify", "IN.jsonl", "check the steps of solutions", tasks_cmd_verify},
    {"inspect", "CKPT", "summarise a checkpoint", ckpt_cmd_inspect},
    {"config", "CONFIG", "validate a config; --dump prints the effective config", cmd_config},
};
static const int n_commands = sizeof(commands) / sizeof(commands[0]);

static void usage(FILE *f) {
    fprintf(f, "usage: lemma COMMAND INPUT [--set key=value]... [options]\n"
               "       lemma config --reference   (every key, its type, default and help)\n"
               "       lemma --help | --version\n\ncommands:\n");
    for (int i = 0; i < n_commands; i++)
        fprintf(f, "  %-8s %-9s %s%s\n", commands[i].name, commands[i].input, commands[i].help,
                commands[i].fn ? "" : " (not implemented yet)");
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
    const char *input;
    char **sets, **opts;
    int n_sets, n_opts;
} Args;

// argv: lemma COMMAND [INPUT] args...: --set k=v is taken here, the rest goes to the command.
static void parse_args(int argc, char **argv, Args *a) {
    memset(a, 0, sizeof *a);
    a->sets = lm_calloc((size_t)argc, sizeof(char *));
    a->opts = lm_calloc((size_t)argc, sizeof(char *));
    int i = 2;
    if (i < argc && argv[i][0] != '-') a->input = argv[i++];
    for (; i < argc; i++) {
        if (strcmp(argv[i], "--set") == 0) {
            if (i + 1 >= argc) user_error("%s needs key=value", "--set");
            a->sets[a->n_sets++] = argv[++i];
        } else if (strncmp(argv[i], "--set=", 6) == 0) {
            a->sets[a->n_sets++] = argv[i] + 6;
        } else {
            a->opts[a->n_opts++] = argv[i];
        }
    }
}

// Commands call this for an option they do not know; exit 2 on every rank.
static int unknown_option(const char *cmd, const char *opt) {
    if (dist.rank == 0)
        fprintf(stderr, "lemma %s: unknown option '%s' (see lemma --help)\n", cmd, opt);
    return EXIT_USAGE;
}


// After training: greedy answers to the first n built-in test problems (rank 0).
static void train_show(Model *m, const Tokenizer *tok, const Config *cfg, int n) {
    GenParams gp;
    char err[512];
    if (n <= 0 || dist.rank != 0 || gen_params_from_config(&gp, cfg, err, sizeof err) != 0) return;
    int right = 0;
    for (int i = 0; i < n; i++) {
        TaskProblem p;
        if (gen_problem(&gp, TASK_SPLIT_TEST, i, &p) != 0) break;
        char *prompt = tasks_prompt(p.question);
        char *out = model_greedy_complete(m, tok, prompt, m->cfg.max_seq);
        char *pred = grade_extract_answer(out, NULL);
        int ok = pred && grade_equal(pred, p.answer);
        right += ok;
        printf("\n--- test problem %d (gold %s, %s)\n%s%s\n", i, p.answer, ok ? "right" : "wrong",
               prompt, out);
        free(pred), free(out), free(prompt);
        tasks_problem_free(&p);
    }
    printf("\ngreedy accuracy on %d test problems: %d/%d\n", n, right, n);
}

// The training phase (data-parallel over the ranks, checkpoints in run.dir, resume).
static int cmd_train(const Config *cfg, const char *input, int argc, char **argv) {
    (void)input;
    int show = 0;
    for (int i = 0; i < argc; i++) {
        if (!strcmp(argv[i], "--show") && i + 1 < argc) show = atoi(argv[++i]);
        else return unknown_option("train", argv[i]);
    }
    char err[1024];
    TrainOptions o;
    if (train_options_from(&o, cfg, "train", err, sizeof err) != 0) {
        if (dist.rank == 0) fprintf(stderr, "lemma train: %s\n", err);
        return EXIT_USAGE;
    }
    dist_install_signal_handlers();
    Tokenizer tok;
    tokenizer_from_config(&tok, cfg);
    TrainData d;
    train_data_init(&d, o.seq_len);
    if (train_data_from_config(&d, cfg, &tok, cfg_str(cfg, "train.data"), err, sizeof err) != 0) {
        if (dist.rank == 0) fprintf(stderr, "lemma train: %s\n", err);
        train_data_free(&d);
        tokenizer_free(&tok);
        return EXIT_USAGE;
    }
    Model m;
    Backend *be = model_open(&m, cfg, &tok);
    lm_info("lemma train: %s backend (%d threads per rank), %.2fM parameters, run directory %s",
            be->name, be->threads, m.layout.n_params / 1e6, o.run_dir);
    TrainStatus st = train_phase(&m, &d, &tok, &o, err, sizeof err);
    if (st == TRAIN_FAILED && dist.rank == 0) fprintf(stderr, "lemma train: %s\n", err);
    if (st == TRAIN_DONE) train_show(&m, &tok, cfg, show);
    model_close(&m);
    train_data_free(&d);
    tokenizer_free(&tok);
    return st == TRAIN_FAILED ? 1 : 0;
}

static int cmd_config(const Config *cfg, const char *input, int argc, char **argv) {
    int dump = 0;
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--dump") == 0) dump = 1;
        else return unknown_option("config", argv[i]);
    }
    if (dist.rank != 0) return 0;
    if (dump) {
        printf("# lemma %s, world size %d\n", LEMMA_VERSION, dist.size);
        config_dump(cfg, stdout);
    } else {
        printf("%s: ok (world size %d)\n", input, dist.size);
    }
    return 0;
}

// The config of a command: the file INPUT for commands that take a CONFIG, else the
// defaults; then the --set overrides. Exits 2 with the message on any error.
static void load_config(Config *cfg, const Command *cmd, const Args *a) {
    char err[1024];
    int rc;
    if (strcmp(cmd->input, "CONFIG") == 0) {
        if (access(a->input, R_OK) != 0) {
            char msg[1200];
            snprintf(msg, sizeof msg, "cannot read config '%s': %s", a->input, strerror(errno));
            user_error("%s", msg);
        }
        rc = config_load(cfg, a->input, a->sets, a->n_sets, err, sizeof err);
    } else {
        config_defaults(cfg);
        rc = 0;
        for (int i = 0; i < a->n_sets && rc == 0; i++) rc = config_set(cfg, a->sets[i], err, sizeof err);
    }
    if (rc != 0) {
        config_free(cfg);
        user_error("%s", err);
    }
}

int main(int argc, char **argv) {
    backend_cpu_reexec_for_blas(argv);
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
    if (!a.input) {
        if (dist.rank == 0) {
            fprintf(stderr, "lemma %s: missing %s\n\n", cmd->name, cmd->input);
            usage(stderr);
        }
        dist_finalize();
        return EXIT_USAGE;
    }
    Config cfg;
    load_config(&cfg, cmd, &a);
    int rc;
    if (!cmd->fn) {
        if (dist.rank == 0) fprintf(stderr, "lemma: '%s' is not implemented yet\n", cmd->name);
        rc = EXIT_USAGE;
    } else {
        rc = cmd->fn(&cfg, a.input, a.n_opts, a.opts);
    }
    config_free(&cfg);
    free(a.sets);
    free(a.opts);
    dist_finalize();
    return rc;
}
