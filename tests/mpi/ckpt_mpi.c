// tests/mpi/ckpt_mpi.c: checkpoints across world sizes, driven by tests/shell/test_ckpt_*.sh.
//   ckpt_mpi save DIR STEP SPLIT [KEEP]  saves the test model (values of STEP) with SPLIT ranges
//   ckpt_mpi load DIR SPLIT [STEP]       ckpt_load_latest with SPLIT ranges; checks every
//                                        value bitwise and the meta (STEP: the one expected)
//   ckpt_mpi expect STEP OUTDIR          rank 0 writes the expected tensors for h5py:
//                                        OUTDIR/list.txt ("group/name d0 [d1]" lines) and
//                                        OUTDIR/<group>/<name>.f32 (raw little-endian floats)
//   ckpt_mpi mismatch DIR                loads with two wrong shapes and a missing tensor
//   ckpt_mpi badsave DIR KIND            a save the ranks disagree on (KIND gap: the last
//                                        rank stops one short on `wide`; overlap: rank 1
//                                        starts one early; list: rank 1 passes one tensor less)
//   ckpt_mpi writer DIR MB START SECS    saves MB-megabyte checkpoints STEP = START, START+1...
//                                        (keep 2) for SECS seconds, for the kill -9 test;
//                                        prints "pid RANK PID" first
//   ckpt_mpi verify DIR MB               `latest` must name a complete checkpoint of the
//                                        writer that loads and holds exactly its values
// SPLIT: even (rank r holds numel*r/P .. numel*(r+1)/P), skew (uneven cuts inside rows, some
// ranks empty), last (the last rank holds everything), all (every rank everything; load only).
// Values: lm_rng_normal(seed STEP, stream 1000 + 100 * group + tensor, element index).
#include "lemma/ckpt.h"
#include "lemma/dist.h"
#include "lemma/util.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *groups[] = {"model/params", "optim/m", "optim/v"};
typedef struct {
    const char *name;
    int ndim;
    long d0, d1;
} Spec;
static const Spec model[] = {
    {"tok_emb", 2, 37, 16},          {"layers.0.attn_norm", 1, 16, 0},
    {"layers.0.attn.wq", 2, 16, 16}, {"layers.0.mlp.w1", 2, 40, 16},
    {"layers.1.attn.wq", 2, 16, 16}, {"tiny", 1, 2, 0},
    {"wide", 2, 3, 50},              {"norm", 1, 16, 0},
    {"lm_head", 2, 37, 16},
};
enum { N_SPEC = sizeof model / sizeof model[0], N_TENSORS = 3 * N_SPEC };

static void range_of(const char *split, size_t numel, int k, size_t *lo, size_t *hi) {
    size_t P = (size_t)dist.size, r = (size_t)dist.rank;
    if (!strcmp(split, "all")) {
        *lo = 0, *hi = numel;
    } else if (!strcmp(split, "last")) {
        *lo = r + 1 == P ? 0 : numel, *hi = numel;
    } else if (!strcmp(split, "skew")) { // quadratic cuts shifted by the tensor index
        size_t a = r == 0 ? 0 : numel * r * r / (P * P) + (size_t)(k % 3);
        size_t b = r + 1 == P ? numel : numel * (r + 1) * (r + 1) / (P * P) + (size_t)(k % 3);
        *lo = a < numel ? a : numel, *hi = b < numel ? b : numel;
    } else {
        *lo = numel * r / P, *hi = numel * (r + 1) / P;
    }
}

static float value_at(long step, int g, int k, size_t i) {
    return lm_rng_normal((uint64_t)step, 1000 + 100 * (uint64_t)g + (uint64_t)k, i);
}

// The test model's tensors as this rank holds them under SPLIT (data filled when fill).
static CkptTensor *make_tensors(const char *split, long step, int fill) {
    CkptTensor *t = lm_calloc(N_TENSORS, sizeof *t);
    for (int g = 0; g < 3; g++) {
        for (int k = 0; k < N_SPEC; k++) {
            CkptTensor *x = &t[g * N_SPEC + k];
            *x = (CkptTensor){groups[g], model[k].name, model[k].ndim, {model[k].d0, model[k].d1},
                              0, 0, NULL};
            size_t numel = (size_t)model[k].d0 * (size_t)(model[k].ndim == 2 ? model[k].d1 : 1);
            range_of(split, numel, g * N_SPEC + k, &x->lo, &x->hi);
            x->data = lm_calloc(x->hi - x->lo + 1, sizeof(float));
            for (size_t i = x->lo; fill && i < x->hi; i++) x->data[i - x->lo] = value_at(step, g, k, i);
        }
    }
    return t;
}

static void free_tensors(CkptTensor *t, int n) {
    for (int i = 0; i < n; i++) free(t[i].data);
    free(t);
}

static int cmd_save(const char *dir, long step, const char *split, int keep) {
    CkptTensor *t = make_tensors(split, step, 1);
    CkptMeta m = {step, step * 4096, step / 10, step * 8, 1, "pretrain",
                  "run = { name = \"ckpt-test\"; };\n", "{\"dim\":16,\"n_layers\":2}", 0};
    char err[1024];
    int rc = ckpt_save(dir, &m, t, N_TENSORS, keep, err, sizeof err);
    if (rc != 0) printf("FAIL save rank %d: %s\n", dist.rank, err);
    else printf("rank %d saved step %ld\n", dist.rank, step);
    free_tensors(t, N_TENSORS);
    return rc ? 1 : 0;
}

static int cmd_load(const char *dir, const char *split, long want_step) {
    CkptTensor *t = make_tensors(split, 0, 0);
    CkptMeta m;
    char err[4096], path[PATH_MAX];
    int rc = ckpt_load_latest(dir, &m, t, N_TENSORS, path, sizeof path, err, sizeof err);
    if (rc != 0) {
        printf("FAIL load rank %d: rc %d: %s\n", dist.rank, rc, err);
        free_tensors(t, N_TENSORS);
        return 1;
    }
    if (want_step < 0) want_step = m.step;
    long bad = 0, n = 0;
    for (int j = 0; j < N_TENSORS; j++) {
        for (size_t i = t[j].lo; i < t[j].hi; i++, n++) {
            float want = value_at(m.step, j / N_SPEC, j % N_SPEC, i);
            if (memcmp(&want, &t[j].data[i - t[j].lo], 4) != 0 && bad++ < 3)
                printf("FAIL rank %d: %s/%s[%zu] = %.9g, saved %.9g\n", dist.rank, t[j].group,
                       t[j].name, i, t[j].data[i - t[j].lo], want);
        }
    }
    int meta_ok = m.step == want_step && m.tokens == want_step * 4096 && m.epoch == want_step / 10 &&
                  m.cursor == want_step * 8 && m.nan_skips == 1 && !strcmp(m.phase, "pretrain") &&
                  m.config_text && strstr(m.config_text, "ckpt-test") && m.model_json &&
                  !strcmp(m.model_json, "{\"dim\":16,\"n_layers\":2}");
    if (!meta_ok) printf("FAIL rank %d: meta step %ld tokens %ld phase %s\n", dist.rank, m.step,
                         m.tokens, m.phase);
    if (!bad && meta_ok)
        printf("rank %d load ok: step %ld, %ld values, written by %d ranks, from %s\n", dist.rank,
               m.step, n, m.world_size, path);
    ckpt_meta_free(&m);
    free_tensors(t, N_TENSORS);
    return bad || !meta_ok;
}

static int cmd_expect(long step, const char *out) {
    if (dist.rank != 0) return 0;
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/list.txt", out);
    FILE *list = lm_fopen(path, "w");
    const char *dirs[] = {"model", "model/params", "optim", "optim/m", "optim/v"};
    for (int i = 0; i < 5; i++) {
        snprintf(path, sizeof path, "%s/%s", out, dirs[i]);
        mkdir(path, 0777);
    }
    for (int g = 0; g < 3; g++) {
        for (int k = 0; k < N_SPEC; k++) {
            size_t numel = (size_t)model[k].d0 * (size_t)(model[k].ndim == 2 ? model[k].d1 : 1);
            fprintf(list, "%s/%s %ld", groups[g], model[k].name, model[k].d0);
            if (model[k].ndim == 2) fprintf(list, " %ld", model[k].d1);
            fprintf(list, "\n");
            snprintf(path, sizeof path, "%s/%s/%s.f32", out, groups[g], model[k].name);
            FILE *f = lm_fopen(path, "wb");
            for (size_t i = 0; i < numel; i++) {
                float v = value_at(step, g, k, i);
                fwrite(&v, 4, 1, f);
            }
            fclose(f);
        }
    }
    fclose(list);
    return 0;
}

static int cmd_mismatch(const char *dir) {
    CkptTensor *t = make_tensors("even", 0, 0);
    CkptTensor wrong[4] = {t[2], t[7], t[0], t[N_SPEC + 2]};
    wrong[0].shape[0] = 32, wrong[0].lo = wrong[0].hi = 0; // layers.0.attn.wq 32x16
    wrong[1].ndim = 2, wrong[1].shape[1] = 1;               // norm 16x1
    wrong[1].lo = wrong[1].hi = 0;
    wrong[2].name = "lm_head.missing";                      // missing
    wrong[3].shape[1] = 8, wrong[3].lo = wrong[3].hi = 0;   // optim/m/layers.0.attn.wq 16x8
    char err[4096], path[PATH_MAX];
    int rc = ckpt_load_latest(dir, NULL, wrong, 4, path, sizeof path, err, sizeof err);
    printf("rank %d rc %d: %s\n", dist.rank, rc, err);
    free_tensors(t, N_TENSORS);
    return 0;
}

static int cmd_badsave(const char *dir, const char *kind) {
    CkptTensor *t = make_tensors("even", 1, 1);
    int n = N_TENSORS, w = 6; // "wide"
    if (!strcmp(kind, "gap") && dist.rank == dist.size - 1) t[w].hi--;
    if (!strcmp(kind, "overlap") && dist.rank == 1) t[w].lo--;
    if (!strcmp(kind, "list") && dist.rank == 1) n--;
    CkptMeta m = {1, 0, 0, 0, 0, "train", "", "{}", 0};
    char err[1024];
    int rc = ckpt_save(dir, &m, t, n, 0, err, sizeof err);
    printf("rank %d rc %d: %s\n", dist.rank, rc, err);
    free_tensors(t, N_TENSORS);
    return 0;
}

// The writer's tensors: 4 matrices of rows x 1024 floats, MB megabytes in all, split evenly;
// value i of tensor k at STEP is a cheap hash of (step, k, i) made exact in float.
static CkptTensor *writer_tensors(int mb, int *n) {
    static const char *names[] = {"big.0", "big.1", "big.2", "big.3"};
    long rows = (long)mb * (1 << 20) / 4 / 4 / 1024;
    *n = 4;
    CkptTensor *t = lm_calloc(4, sizeof *t);
    for (int k = 0; k < 4; k++) {
        t[k] = (CkptTensor){"model/params", names[k], 2, {rows + k, 1024}, 0, 0, NULL};
        range_of("even", (size_t)(rows + k) * 1024, k, &t[k].lo, &t[k].hi);
        t[k].data = lm_calloc(t[k].hi - t[k].lo + 1, sizeof(float));
    }
    return t;
}

static float writer_value(long step, int k, size_t i) {
    uint32_t h = (uint32_t)i * 2654435761u ^ (uint32_t)step * 40503u ^ (uint32_t)k * 2246822519u;
    h ^= h >> 15;
    return (float)(h >> 8) / 16777216.0f;
}

static int cmd_writer(const char *dir, int mb, long start, double seconds) {
    int n;
    CkptTensor *t = writer_tensors(mb, &n);
    printf("pid %d %d\n", dist.rank, (int)getpid()); // for kill -9
    fflush(stdout);
    double t0 = lm_now(), stop = 0;
    for (long step = start; !stop; step++) {
        for (int k = 0; k < n; k++)
            for (size_t i = t[k].lo; i < t[k].hi; i++) t[k].data[i - t[k].lo] = writer_value(step, k, i);
        CkptMeta m = {step, step, 0, 0, 0, "train", "writer", "{}", 0};
        char err[1024];
        if (ckpt_save(dir, &m, t, n, 2, err, sizeof err) != 0) {
            printf("FAIL writer: %s\n", err);
            return 1;
        }
        if (dist.rank == 0) printf("saved %ld\n", step), fflush(stdout);
        stop = lm_now() - t0 > seconds; // rank 0's clock decides for all
        dist_bcast(&stop, sizeof stop, 0);
    }
    free_tensors(t, n);
    return 0;
}

static int cmd_verify(const char *dir, int mb) {
    char path[PATH_MAX], err[4096];
    if (ckpt_latest(dir, path, sizeof path) != 0) {
        printf("FAIL verify: no checkpoint in %s\n", dir);
        return 1;
    }
    const char *base = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
    if (strncmp(base, "step_", 5) != 0 || strstr(base, ".tmp")) {
        printf("FAIL verify: latest names '%s'\n", path);
        return 1;
    }
    int n;
    CkptTensor *t = writer_tensors(mb, &n);
    CkptMeta m;
    if (ckpt_load(path, &m, t, n, err, sizeof err) != 0) {
        printf("FAIL verify: %s\n", err);
        free_tensors(t, n);
        return 1;
    }
    long bad = 0;
    for (int k = 0; k < n; k++)
        for (size_t i = t[k].lo; i < t[k].hi; i++) bad += t[k].data[i - t[k].lo] != writer_value(m.step, k, i);
    char want[64];
    snprintf(want, sizeof want, "step_%08ld.h5", m.step);
    if (bad || strcmp(base, want) != 0) printf("FAIL verify: %s holds step %ld, %ld wrong values\n", path, m.step, bad);
    else printf("verified %s\n", base);
    ckpt_meta_free(&m);
    free_tensors(t, n);
    return bad != 0;
}

int main(int argc, char **argv) {
    dist_init(&argc, &argv);
    const char *cmd = argc > 1 ? argv[1] : "";
    int rc = 2;
    if (!strcmp(cmd, "save") && argc >= 5)
        rc = cmd_save(argv[2], atol(argv[3]), argv[4], argc > 5 ? atoi(argv[5]) : 0);
    else if (!strcmp(cmd, "load") && argc >= 4)
        rc = cmd_load(argv[2], argv[3], argc > 4 ? atol(argv[4]) : -1);
    else if (!strcmp(cmd, "expect") && argc == 4) rc = cmd_expect(atol(argv[2]), argv[3]);
    else if (!strcmp(cmd, "mismatch") && argc == 3) rc = cmd_mismatch(argv[2]);
    else if (!strcmp(cmd, "badsave") && argc == 4) rc = cmd_badsave(argv[2], argv[3]);
    else if (!strcmp(cmd, "writer") && argc == 6)
        rc = cmd_writer(argv[2], atoi(argv[3]), atol(argv[4]), atof(argv[5]));
    else if (!strcmp(cmd, "verify") && argc == 4) rc = cmd_verify(argv[2], atoi(argv[3]));
    else fprintf(stderr, "usage: see the comment at the top of tests/mpi/ckpt_mpi.c\n");
    fflush(stdout);
    dist_finalize();
    return rc;
}
