// hub/memory: the memory plan. Before a model is allocated, what one rank will hold
// (parameters, gradients, AdamW moments, activations, KV cache and decode buffers, the weight
// files an import maps) is worked out from the same tables the allocations use, printed, and
// checked against what the node has (MemAvailable, the cgroup's limit, run.memory_limit) and,
// on a GPU, against its free memory: a job that cannot fit is refused with the figures before
// it allocates, instead of being killed by the kernel in the middle of a phase.
#include "hub_internal.h"
#include "lemma/dist.h"
#include "lemma/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define GIB (1024.0 * 1024.0 * 1024.0)

// Resident bytes of this process now.
static double mem_rss_now(void) {
    long pages = 0, resident = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    if (f && fscanf(f, "%ld %ld", &pages, &resident) != 2) resident = 0;
    if (f) fclose(f);
    return (double)resident * (double)sysconf(_SC_PAGESIZE);
}

// A number read from a one-line file; -1 when absent or not a number ("max").
static double mem_read_number(const char *path) {
    FILE *f = fopen(path, "r");
    double v = -1;
    if (f && fscanf(f, "%lf", &v) != 1) v = -1;
    if (f) fclose(f);
    return v;
}

// MemAvailable of /proc/meminfo in bytes; 0 when unknown.
static double mem_available(void) {
    FILE *f = fopen("/proc/meminfo", "r");
    char line[256];
    double kb = 0;
    while (f && fgets(line, sizeof line, f))
        if (sscanf(line, "MemAvailable: %lf kB", &kb) == 1) break;
    if (f) fclose(f);
    return kb * 1024.0;
}

// The least room (memory.max - memory.current) of the cgroup v2 groups this process is in,
// from its own up to the root (a Slurm job's limit sits on one of them); 0 when none is set.
static double mem_cgroup_room(void) {
    char line[4096] = "", path[4200];
    FILE *f = fopen("/proc/self/cgroup", "r");
    int ok = f && fgets(line, sizeof line, f) && strncmp(line, "0::", 3) == 0;
    if (f) fclose(f);
    if (!ok) return 0;
    char *group = line + 3;
    group[strcspn(group, "\n")] = 0;
    double room = 0;
    for (;;) {
        snprintf(path, sizeof path, "/sys/fs/cgroup%s/memory.max", group);
        double max = mem_read_number(path);
        snprintf(path, sizeof path, "/sys/fs/cgroup%s/memory.current", group);
        double cur = mem_read_number(path);
        if (max > 0 && cur >= 0 && (room == 0 || max - cur < room)) room = max - cur > 1 ? max - cur : 1;
        char *slash = strrchr(group, '/');
        if (!slash || slash == group) break;
        *slash = 0;
    }
    return room;
}

static void plan_train(HubMemPlan *p, const Config *cfg, const ModelConfig *mc, const Backend *be,
                       double n) {
    p->train_B = (int)cfg_int(cfg, "train.micro_batch");
    p->train_T = (int)cfg_int(cfg, "train.seq_len");
    if (p->train_T > mc->max_seq) p->train_T = mc->max_seq; // refused later, with its message
    int W = cfg_bool(cfg, "train.zero") && dist.size > 1 ? dist.size : 1;
    p->grads = (double)backend_alloc_bytes(be, (size_t)n * sizeof(float));
    p->optim = 2.0 * (double)backend_alloc_bytes(be, ((size_t)n + W - 1) / W * sizeof(float));
    p->acts = (double)model_acts_bytes(mc, be, p->train_B, p->train_T);
}

// The decode state of a phase of `slots` sequences (sample.batch or eval.batch), each up to
// model.max_seq positions (the prompts are not read yet: an upper bound).
static void plan_decode(HubMemPlan *p, const Config *cfg, const ModelConfig *mc,
                        const Backend *be, const char *batch_key) {
    int slots = (int)cfg_int(cfg, batch_key), rows = slots + (int)cfg_int(cfg, "sample.prefill_tokens");
    DType kv = strcmp(cfg_str(cfg, "sample.kv_cache"), "bf16") == 0 ? DT_BF16 : DT_F32;
    double b = (double)model_decode_bytes(mc, be, slots, mc->max_seq, rows, slots, kv);
    b += (double)mc->vocab * (sizeof(int) + sizeof(double)); // sample_token's work space
    if (b > p->decode) p->decode = b, p->decode_slots = slots, p->decode_key = batch_key;
}

void hub_memory_plan(HubMemPlan *p, const Config *cfg, const ModelConfig *mc, const Backend *be,
                     unsigned use, double import_bytes) {
    memset(p, 0, sizeof *p);
    ParamLayout pl;
    param_layout_build(&pl, mc);
    size_t np = pl.n_params;
    double n = (double)np;
    param_layout_free(&pl);
    p->base = mem_rss_now();
    p->params = (double)backend_alloc_bytes(be, np * sizeof(float)) +
                (be->act == DT_F32 ? 0 : (double)backend_alloc_bytes(be, np * be->act_size));
    p->import = import_bytes;
    p->ctx = mc->max_seq;
    if (use & HUB_USE_TRAIN) plan_train(p, cfg, mc, be, n);
    if (use & HUB_USE_SAMPLE) plan_decode(p, cfg, mc, be, "sample.batch");
    if (use & HUB_USE_EVAL) plan_decode(p, cfg, mc, be, "eval.batch");
    double train = p->grads + p->optim + p->acts;
    // What is in backend memory, and its peak: training and decoding do not overlap
    // (model_release_training ends a training phase).
    double dev = p->params + (train > p->decode ? train : p->decode);
    p->peak_at = train > p->decode ? "training" : p->decode > 0 ? "decoding" : "holding the model";
    if (be->host_memory) {
        p->host_peak = p->base + dev;
        if (p->base + p->params + p->import > p->host_peak)
            p->host_peak = p->base + p->params + p->import, p->peak_at = "importing";
    } else {
        p->device_peak = dev;
        // Host: the fp32 staging copy of an upload, the mapped files, and with training the
        // checkpoint's host mirrors of the parameters and moments.
        p->host_peak = p->base + p->import + n * sizeof(float) + (train > 0 ? n * 4 + p->optim : 0);
    }
}

// Bytes as "12.3 MiB" or "1.23 GiB" (buf of 32).
static const char *mem_fmt(double bytes, char *buf) {
    if (bytes < GIB) snprintf(buf, 32, "%.1f MiB", bytes / (1024.0 * 1024.0));
    else snprintf(buf, 32, "%.2f GiB", bytes / GIB);
    return buf;
}

// "parameters 98.5 MiB, gradients 98.5 MiB, ..." into buf.
static void plan_describe(const HubMemPlan *p, char *buf, size_t len) {
    char a[32], b[32], c[32];
    size_t k = (size_t)snprintf(buf, len, "parameters %s", mem_fmt(p->params, a));
    if (p->grads > 0 && k < len)
        k += (size_t)snprintf(buf + k, len - k, ", gradients %s, AdamW moments %s, activations "
                              "%s (train.micro_batch %d x train.seq_len %d)", mem_fmt(p->grads, a),
                              mem_fmt(p->optim, b), mem_fmt(p->acts, c), p->train_B, p->train_T);
    if (p->decode > 0 && k < len)
        k += (size_t)snprintf(buf + k, len - k, ", KV cache and decode buffers %s (%s %d x %d "
                              "positions)", mem_fmt(p->decode, a), p->decode_key, p->decode_slots,
                              p->ctx);
    if (p->import > 0 && k < len)
        k += (size_t)snprintf(buf + k, len - k, ", weight files mapped while importing %s",
                              mem_fmt(p->import, a));
    if (k < len) snprintf(buf + k, len - k, ", the process before the model %s", mem_fmt(p->base, a));
}

// The node's memory for this job: run.memory_limit, else MemAvailable or the cgroup's room,
// whichever is less (what the ranks already hold is outside it: *held 1). Bytes; 0 unknown.
static double node_room(const Config *cfg, const char **what, int *held) {
    double limit = cfg_float(cfg, "run.memory_limit") * GIB;
    *held = limit <= 0;
    if (limit > 0) return *what = "run.memory_limit", limit;
    double avail = mem_available(), cg = mem_cgroup_room();
    *what = "available (MemAvailable)";
    if (cg > 0 && (avail == 0 || cg < avail)) avail = cg, *what = "left under the cgroup's memory.max";
    return avail;
}

// 1 when this rank's plan does not fit, with the reason in err.
static int plan_refused(const HubMemPlan *p, const Config *cfg, Backend *be, int verbose,
                        char *err, size_t err_len) {
    char desc[1024];
    plan_describe(p, desc, sizeof desc);
    const char *what;
    int held, ranks = dist.local_size > 0 ? dist.local_size : 1;
    double room = node_room(cfg, &what, &held);
    double need = ranks * (p->host_peak - (held ? p->base : 0));
    char pk[32], nd[32], rm[32];
    mem_fmt(p->host_peak, pk), mem_fmt(need, nd), mem_fmt(room, rm);
    const char *more = held ? " more" : "";
    if (verbose)
        lm_info("memory per rank: %s; peak %s while %s; %d rank(s) on this node need %s%s, %s is "
                "%s", desc, pk, p->peak_at, ranks, nd, more, rm, what);
    if (room > 0 && need > room) {
        snprintf(err, err_len, "not enough memory: %d rank(s) on this node need %s%s, %s is %s "
                 "(per rank: %s; peak %s while %s); lower train.micro_batch, train.seq_len, "
                 "sample.batch, eval.batch or model.max_seq, run fewer ranks per node, or set "
                 "run.memory_check = false to try anyway", ranks, nd, more, rm, what, desc, pk,
                 p->peak_at);
        return 1;
    }
    size_t dev_free = 0, dev_total = 0;
    if (p->device_peak > 0 && be->mem_info && be->mem_info(be, &dev_free, &dev_total) == 0) {
        char dv[32], fr[32], tt[32];
        mem_fmt(p->device_peak, dv), mem_fmt((double)dev_free, fr), mem_fmt((double)dev_total, tt);
        if (verbose) lm_info("%s memory per rank: %s (of %s free, %s in all)", be->name, dv, fr, tt);
        if (p->device_peak > (double)dev_free) {
            snprintf(err, err_len, "not enough %s memory: a rank needs %s (%s), %s is free; "
                     "lower train.micro_batch, train.seq_len, sample.batch or eval.batch, or set "
                     "run.memory_check = false to try anyway", be->name, dv, desc, fr);
            return 1;
        }
    }
    return 0;
}

int hub_memory_check(const Config *cfg, const ModelConfig *mc, Backend *be, unsigned use,
                     double import_bytes, char *err, size_t err_len) {
    HubMemPlan p;
    hub_memory_plan(&p, cfg, mc, be, use, import_bytes);
    int refuse = plan_refused(&p, cfg, be, use != 0, err, err_len);
    if (!cfg_bool(cfg, "run.memory_check")) {
        if (refuse && dist.rank == 0) lm_warn("%s (run.memory_check = false: going on)", err);
        return 0;
    }
    int any = dist_any(refuse); // collective: every rank refuses when one does
    if (any && !refuse)
        snprintf(err, err_len, "not enough memory on another rank's node (its log has the "
                 "figures)");
    return any ? -1 : 0;
}
