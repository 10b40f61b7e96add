// hub: a model and where it came from. Opens the model a config describes on the backend of
// run.device, with its tokenizer and chat template: the built-in architecture of model.* with
// the byte-level tokenizer, or with model.from an imported one (a Hugging Face directory or a
// GGUF file: its architecture, weights, tokenizer, eos ids and chat template); loads its
// parameters from a run directory's newest checkpoint or from a checkpoint file; saves and
// resumes training checkpoints (parameters and optimizer moments). Every command, pipeline
// phase and the model teacher open their model here.
#ifndef LEMMA_HUB_H
#define LEMMA_HUB_H

#include "lemma/ckpt.h"
#include "lemma/config.h"
#include "lemma/model.h"
#include "lemma/tokenizer.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    Model m;             // on be
    Tokenizer tok;
    Backend *be;
    char from[4096];     // the checkpoint file the parameters came from; "" when fresh
    long step;           // that checkpoint's training step; -1 when fresh
    int imported;        // the model of model.from: source names it
    char source[4096];   // model.from as given ("" for a built-in model)
} HubModel;

// What a MODEL argument of a command names (hub/resolve.c): a Hugging Face directory or a
// .gguf file (the defaults with model.from = MODEL), a run directory (its config.cfg, else
// the config stored in its newest checkpoint) or a checkpoint file (its stored config); the
// --set overrides then. 0, or -1 with err.
int hub_resolve(const char *model, char *const *sets, int n_sets, Config *cfg, char *err,
                size_t err_len);
// hub_open, then the parameters of MODEL (resolved into cfg): a checkpoint file, a run
// directory's newest checkpoint, or the imported weights. 0, or -1 with err.
int hub_open_model(HubModel *h, const Config *cfg, const char *model, char *err, size_t err_len);
// The tokenizer (and chat template, stop ids) of cfg's model alone, without its weights.
int hub_open_tokenizer(Tokenizer *tok, const Config *cfg, char *err, size_t err_len);

// One job per run directory (hub/lock.c): RUN_DIR/.lock names the holder (host, pid, Slurm
// job). Collective; 0 taken (a stale lock of a dead process on this host, or of the same
// Slurm job before a requeue, is taken over), -1 with err naming the holder. hub_run_unlock
// removes this process's lock.
int hub_run_lock(const char *run_dir, char *err, size_t err_len);
void hub_run_unlock(void);

// What a process will do with the model it opens: the memory plan counts these (HUB_USE_*).
enum { HUB_USE_TRAIN = 1, HUB_USE_SAMPLE = 2, HUB_USE_EVAL = 4 };

// The tokenizer, the backend (run.device, run.precision, run.threads shared among the node's
// ranks) and on it the model of cfg, initialised from run.seed, after the memory plan for
// `use` (hub_memory_check) has passed. 0, or -1 with err.
int hub_open_for(HubModel *h, const Config *cfg, unsigned use, char *err, size_t err_len);
// hub_open_for with no use beyond holding the model (the plan is printed only if it refuses).
int hub_open(HubModel *h, const Config *cfg, char *err, size_t err_len);

// The memory plan of one rank (hub/memory.c), in bytes: from the same tables that the
// allocations use (model_acts_bytes, model_decode_bytes), before anything is allocated.
typedef struct {
    double base;             // the process before the model (libraries, tokenizer, data)
    double params;           // fp32 parameters and, below fp32, their compute copy
    double import;           // weight files mapped while an imported model is read
    double grads, optim, acts; // training (HUB_USE_TRAIN): optim sharded under train.zero
    int train_B, train_T;
    double decode;           // KV cache, decode buffers, packed weights of the largest decoder
    int decode_slots, ctx;   // its sequences (decode_key) and positions (model.max_seq)
    const char *decode_key;
    double host_peak;        // host memory at the peak (base included)
    double device_peak;      // backend memory that is not host memory (GPU); 0 on the CPU
    const char *peak_at;     // "training", "decoding", "importing", "holding the model"
} HubMemPlan;
void hub_memory_plan(HubMemPlan *p, const Config *cfg, const ModelConfig *mc, const Backend *be,
                     unsigned use, double import_bytes);
// The plan, printed on rank 0 when use is not 0, checked against the node's memory for all
// its ranks (run.memory_limit, else MemAvailable and the cgroup's room) and the GPU's free
// memory. Collective; 0 fits (or run.memory_check is false), -1 with the figures in err.
int hub_memory_check(const Config *cfg, const ModelConfig *mc, Backend *be, unsigned use,
                     double import_bytes, char *err, size_t err_len);
void hub_close(HubModel *h);
// Parameters (no optimizer state) from `path`: a run directory (the newest loadable checkpoint
// of PATH/ckpt) or a checkpoint file. Collective; 0 loaded (from, step set), 1 no checkpoint
// in the directory (an imported model then gets its imported weights back, from = source,
// step -1, and 0 is returned), -1 error (err).
int hub_load(HubModel *h, const char *path, char *err, size_t err_len);
// One line on rank 0: "WHO: parameters from <from>; cpu backend (2 threads per rank), 0.81M
// parameters".
void hub_describe(const HubModel *h, const char *who);

// Greedy completion of prompt (through the chat template, at most max_new tokens, stopping at
// a newline or a stop id) by full forward passes; a malloc'd string.
char *hub_greedy_line(HubModel *h, const char *prompt, int max_new);

// Training checkpoints of a model in RUN_DIR/ckpt (hub/ckpt_io.c). Collective. save: the
// parameters and optimizer moments, meta as given (model_json filled in). resume: the newest
// loadable checkpoint into the model (moments allocated first); 0 loaded, 1 none, -1 error.
int hub_ckpt_save(Model *m, const char *run_dir, CkptMeta *meta, int keep, char *err,
                  size_t err_len);
int hub_ckpt_resume(Model *m, const char *run_dir, CkptMeta *meta, char *path, size_t path_len,
                    char *err, size_t err_len);
// The parameters alone of checkpoint `file`, or with file NULL of the newest loadable one of
// run_dir (path gets the one used). Collective; 0 loaded, 1 none, -1 error (err).
int hub_ckpt_load_params(Model *m, const char *run_dir, const char *file, char *path,
                         size_t path_len, char *err, size_t err_len);

// The model written as format "hf" (a Hugging Face directory out) or "gguf" (a file out) in
// dtype "bf16", "f16" (GGUF only) or "f32" (NULL: bf16 for hf, f16 for gguf), with what it
// came from: an imported model's family, context, eos ids, tokenizer files (hf, from a Hugging
// Face source) or GGUF tokenizer metadata (gguf, from a GGUF source) and chat template
// (hub/export.c). Collective, rank 0 writes; 0, or -1 with err.
int hub_export(const HubModel *h, const char *format, const char *dtype, const char *out,
               char *err, size_t err_len);
// Whether hub_export takes format and dtype ("auto": the format's default); 0, or -1 with err.
int hub_export_check(const char *format, const char *dtype, char *err, size_t err_len);

// `lemma tokenize MODEL`, `lemma import PATH --out RUN_DIR` (hub/cmd.c) and `lemma export
// MODEL --format hf|gguf --out PATH` (hub/export.c); cfg is MODEL's.
int tokenize_cmd(const Config *cfg, const char *input, int argc, char **argv);
int import_cmd(const Config *cfg, const char *input, int argc, char **argv);
int export_cmd(const Config *cfg, const char *input, int argc, char **argv);

#ifdef __cplusplus
}
#endif
#endif
