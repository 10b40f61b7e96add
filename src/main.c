// main: the command line: a table of commands, each the entry of its module. Parses the
// command, its INPUT, the config file and --set overrides, brings up the MPI world and calls
// the command.
#include "lemma/backend.h"
#include "lemma/ckpt.h"
#include "lemma/config.h"
#include "lemma/dist.h"
#include "lemma/eval.h"
#include "lemma/hub.h"
#include "lemma/lemma.h"
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

#define EXIT_USAGE 2

// A command gets the loaded config (the file named by INPUT, or the defaults for commands
// whose INPUT is a data file or a checkpoint), INPUT, and its own options (argc, argv).
typedef int (*CommandFn)(const Config *cfg, const char *input, int argc, char **argv);

typedef struct {
    const char *name;
    const char *input; // what INPUT is: "CONFIG", "IN.jsonl", "CKPT", "MODEL" (hub_resolve)
    const char *help;
    CommandFn fn;
    int locks;         // writes run.dir: holds its lock while it runs (hub_run_lock)
} Command;

static const Command commands[] = {
    {"run", "CONFIG", "the whole pipeline in one job (pipeline.phases)", pipeline_cmd, 1},
    {"train", "CONFIG", "data-parallel training with checkpoints and resume", train_cmd, 1},
    {"sample", "CONFIG", "sample and grade solutions, data-parallel", sample_cmd, 1},
    {"build", "CONFIG", "build reflection data from graded samples", build_cmd, 1},
    {"eval", "CONFIG", "evaluate accuracy and error types", eval_cmd, 0},
    {"gen", "CONFIG", "write built-in word problems", tasks_cmd_gen, 0},
    {"grade", "IN.jsonl", "grade completions against gold answers", tasks_cmd_grade, 0},
    {"verify", "IN.jsonl", "check the steps of solutions", tasks_cmd_verify, 0},
    {"generate", "MODEL", "complete --prompt TEXT through the model's chat template", generate_cmd, 0},
    {"tokenize", "MODEL", "token ids of each line of standard input, as JSON", tokenize_cmd, 0},
    {"import", "MODEL", "a Hugging Face or GGUF model into a run directory (--out DIR)", import_cmd, 0},
    {"export", "MODEL", "a model as a Hugging Face directory or GGUF file (--format, --out)", export_cmd, 0},
    {"inspect", "CKPT", "summarise a checkpoint", ckpt_cmd_inspect, 0},
    {"config", "CONFIG", "validate a config; --dump prints the effective config", config_cmd, 0},
};
static const int n_commands = sizeof(commands) / sizeof(commands[0]);

static void usage(FILE *f) {
    fprintf(f, "usage: lemma COMMAND INPUT [--set key=value]... [options]\n"
               "       lemma config --reference   (every key, its type, default and help)\n"
               "       lemma --help | --version\n\ncommands:\n");
    for (int i = 0; i < n_commands; i++)
        fprintf(f, "  %-9s %-9s %s\n", commands[i].name, commands[i].input, commands[i].help);
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

// The config of a command: the file INPUT for commands that take a CONFIG, MODEL's (a Hugging
// Face directory, GGUF file, run directory or checkpoint) for those that take a MODEL, else
// the defaults; then the --set overrides. Exits 2 with the message on any error.
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
    } else if (strcmp(cmd->input, "MODEL") == 0) {
        if (hub_resolve(a->input, a->sets, a->n_sets, cfg, err, sizeof err) != 0) user_error("%s", err);
        rc = 0;
    } else {
        config_defaults(cfg);
        rc = 0;
        for (int i = 0; i < a->n_sets && rc == 0; i++) rc = config_set(cfg, a->sets[i], err, sizeof err);
    }
    if (rc != 0) {
        config_free(cfg);
        user_error("%s", err);
    }
    ModelConfig mc; // the built-in architecture's shape rules, before any command runs
    model_config_from(&mc, cfg, 256);
    int bad_shape = !cfg_str(cfg, "model.from")[0] && model_config_check(&mc, err, sizeof err) != 0;
    if (bad_shape || tasks_prompt_configure(cfg_str(cfg, "data.prompt"), err, sizeof err) != 0 ||
        tasks_fields_configure(cfg_str(cfg, "data.fields"), err, sizeof err) != 0) {
        char msg[1200];
        snprintf(msg, sizeof msg, "%s: %s", cfg->path && cfg->path[0] ? cfg->path : "config", err);
        config_free(cfg);
        user_error("%s", msg);
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
    int help = 0;
    for (int i = 0; i < a.n_opts; i++) help |= !strcmp(a.opts[i], "--help");
    char err[2048];
    if (cmd->locks && !help && hub_run_lock(cfg_str(&cfg, "run.dir"), err, sizeof err) != 0) {
        if (dist.rank == 0) fprintf(stderr, "lemma %s: %s\n", cmd->name, err);
        config_free(&cfg);
        dist_finalize();
        return EXIT_USAGE;
    }
    dist_watchdog_start((double)cfg_int(&cfg, "run.hang_timeout"));
    int rc = cmd->fn(&cfg, a.input, a.n_opts, a.opts);
    if (cmd->locks) hub_run_unlock();
    config_free(&cfg);
    free(a.sets);
    free(a.opts);
    dist_finalize();
    return rc;
}
