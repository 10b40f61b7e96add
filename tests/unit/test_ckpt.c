// tests/unit/test_ckpt.c: HDF5 checkpoints on one rank (an MPI singleton): bitwise and meta
// round trips, every flat range of 1-D and 2-D tensors, the latest pointer, pruning,
// shape mismatches, bad arguments, and missing, truncated, foreign and corrupt files with
// the fallback to older checkpoints. Across world sizes: tests/shell/test_ckpt_mpi.sh.
#include "harness.h"
#include "lemma/ckpt.h"
#include "lemma/dist.h"
#include "lemma/util.h"

#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#if LEMMA_HDF5
#include <hdf5.h>

static char tmp_root[] = "/tmp/lemma_test_ckpt_XXXXXX";
static char err[8192];

// A fresh run directory for one test.
static const char *run_dir(const char *name) {
    static char path[256];
    snprintf(path, sizeof path, "%s/%s", tmp_root, name);
    return path;
}

static const char *ckpt_file(const char *dir, long step) {
    static char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/ckpt/step_%08ld.h5", dir, step);
    return path;
}

static int exists(const char *path) { return access(path, F_OK) == 0; }

// A whole tensor (range [0, numel)) of values lm_rng_normal(step, 500 + k, i).
static CkptTensor tensor(const char *group, const char *name, long d0, long d1, long step, int k) {
    CkptTensor t = {group, name, d1 ? 2 : 1, {d0, d1}, 0, 0, NULL};
    t.hi = (size_t)d0 * (size_t)(d1 ? d1 : 1);
    t.data = lm_calloc(t.hi, sizeof(float));
    for (size_t i = 0; i < t.hi; i++) t.data[i] = lm_rng_normal((uint64_t)step, 500 + (uint64_t)k, i);
    return t;
}

enum { N_MODEL = 5 };
// A small model: params and both moments of two tensors, and an odd-shaped bias.
static void model(CkptTensor *t, long step) {
    t[0] = tensor("model/params", "layers.0.attn.wq", 5, 7, step, 0);
    t[1] = tensor("model/params", "layers.0.attn.bq", 5, 0, step, 1);
    t[2] = tensor("optim/m", "layers.0.attn.wq", 5, 7, step, 2);
    t[3] = tensor("optim/v", "layers.0.attn.wq", 5, 7, step, 3);
    t[4] = tensor("model/params", "norm", 7, 0, step, 4);
}

static void free_model(CkptTensor *t, int n) {
    for (int i = 0; i < n; i++) free(t[i].data);
}

// Empty copies (same shapes and ranges, zeroed data) to load into.
static void blank(CkptTensor *dst, const CkptTensor *src, int n) {
    for (int i = 0; i < n; i++) {
        dst[i] = src[i];
        dst[i].data = lm_calloc(src[i].hi - src[i].lo + 1, sizeof(float));
    }
}

static int same_bits(const CkptTensor *a, const CkptTensor *b, int n) {
    for (int i = 0; i < n; i++)
        if (memcmp(a[i].data, b[i].data, (a[i].hi - a[i].lo) * sizeof(float)) != 0) return 0;
    return 1;
}

static CkptMeta meta(long step) {
    CkptMeta m = {step, step * 1000, 2, step * 16, 3, "finetune", "train = { lr = 1e-3; };\n",
                  "{\"dim\":7}", 0};
    return m;
}

static int save(const char *dir, long step, int keep) {
    CkptTensor t[N_MODEL];
    model(t, step);
    CkptMeta m = meta(step);
    int rc = ckpt_save(dir, &m, t, N_MODEL, keep, err, sizeof err);
    free_model(t, N_MODEL);
    return rc;
}

// Loads the newest of DIR into the model's shapes; the step loaded, or -1 (err says why).
// The warnings printed on stderr go to `warnings`.
static char warnings[8192];
static long load_latest(const char *dir, char *path, size_t path_len) {
    CkptTensor ref[N_MODEL], t[N_MODEL];
    model(ref, 0);
    blank(t, ref, N_MODEL);
    CkptMeta m;
    char log[PATH_MAX];
    snprintf(log, sizeof log, "%s/stderr.txt", tmp_root);
    fflush(stderr);
    int saved = dup(2), fd = open(log, O_CREAT | O_TRUNC | O_WRONLY, 0644);
    dup2(fd, 2);
    int rc = ckpt_load_latest(dir, &m, t, N_MODEL, path, path_len, err, sizeof err);
    fflush(stderr);
    dup2(saved, 2);
    close(fd), close(saved);
    char *text = lm_read_file(log, NULL);
    snprintf(warnings, sizeof warnings, "%s", text ? text : "");
    free(text);
    long step = rc == 0 ? m.step : rc == 1 ? -2 : -1;
    if (rc == 0) {
        model(ref, m.step); // the values saved at that step
        if (!same_bits(t, ref, N_MODEL)) step = -3;
        free_model(ref, N_MODEL);
    }
    ckpt_meta_free(&m);
    free_model(t, N_MODEL);
    return step;
}

// A tensor with NaN or Inf is refused, naming it, and nothing is written.
static void test_nonfinite_refused(void) {
    const char *dir = run_dir("nonfinite");
    CkptTensor t[N_MODEL];
    float bad[3] = {INFINITY, -INFINITY, NAN};
    for (int k = 0; k < 3; k++) {
        model(t, 7);
        t[4].data[2] = bad[k];
        CkptMeta m = meta(7);
        int rc = ckpt_save(dir, &m, t, N_MODEL, 3, err, sizeof err);
        EXPECT(rc != 0 && strstr(err, "holds a non-finite value") && strstr(err, t[4].name),
               "value %g: rc %d, '%s'", (double)bad[k], rc, err);
        EXPECT(access(ckpt_file(dir, 7), F_OK) != 0, "a file was written for value %g", (double)bad[k]);
        free_model(t, N_MODEL);
    }
}

static void test_round_trip_bitwise_and_meta(void) {
    const char *dir = run_dir("round");
    CkptTensor t[N_MODEL], back[N_MODEL];
    model(t, 42);
    t[4].data[0] = -0.0f, t[4].data[1] = 3.4028235e38f, t[4].data[2] = -3.4028235e38f;
    t[4].data[4] = 1e-45f; // denormal
    size_t big = 100000;   // config text beyond HDF5's 64 KiB compact attribute limit
    char *text = lm_malloc(big + 1);
    for (size_t i = 0; i < big; i++) text[i] = "abc = \"é\";\n"[i % 12];
    text[big] = 0;
    CkptMeta m = meta(42), got;
    m.config_text = text;
    int rc = ckpt_save(dir, &m, t, N_MODEL, 3, err, sizeof err);
    EXPECT(rc == 0, "save: %s", err);
    blank(back, t, N_MODEL);
    rc = ckpt_load(ckpt_file(dir, 42), &got, back, N_MODEL, err, sizeof err);
    EXPECT(rc == 0, "load: %s", err);
    EXPECT(same_bits(t, back, N_MODEL), "data differ after the round trip");
    EXPECT(got.step == 42 && got.tokens == 42000 && got.epoch == 2 && got.cursor == 42 * 16 &&
               got.nan_skips == 3 && got.world_size == 1,
           "meta: step %ld tokens %ld epoch %ld cursor %ld nan_skips %ld world %d", got.step,
           got.tokens, got.epoch, got.cursor, got.nan_skips, got.world_size);
    EXPECT(!strcmp(got.phase, "finetune"), "phase '%s'", got.phase);
    EXPECT(got.config_text && !strcmp(got.config_text, text), "config text differs");
    EXPECT(got.model_json && !strcmp(got.model_json, "{\"dim\":7}"), "model json '%s'",
           got.model_json ? got.model_json : "(null)");
    ckpt_meta_free(&got);
    EXPECT(got.config_text == NULL && got.model_json == NULL, "ckpt_meta_free leaves pointers");
    // meta may be NULL, and no tensors at all is fine.
    EXPECT(ckpt_load(ckpt_file(dir, 42), NULL, back, N_MODEL, err, sizeof err) == 0, "%s", err);
    EXPECT(ckpt_load(ckpt_file(dir, 42), &got, NULL, 0, err, sizeof err) == 0 && got.step == 42,
           "meta only: %s", err);
    ckpt_meta_free(&got);
    free(text);
    free_model(t, N_MODEL);
    free_model(back, N_MODEL);
}

// Every [lo, hi) of a 5x7 matrix and of a 7-vector, read in one call (the same dataset many
// times): partial first rows, whole rows, partial last rows, single elements, empty ranges.
static void test_every_flat_range(void) {
    const char *dir = run_dir("ranges");
    EXPECT(save(dir, 1, 0) == 0, "save: %s", err);
    CkptTensor ref[N_MODEL];
    model(ref, 1);
    const CkptTensor *src[2] = {&ref[0], &ref[4]};
    for (int s = 0; s < 2; s++) {
        size_t numel = src[s]->hi, n = 0;
        CkptTensor *t = lm_calloc((numel + 1) * (numel + 2) / 2, sizeof *t);
        for (size_t lo = 0; lo <= numel; lo++) {
            for (size_t hi = lo; hi <= numel; hi++, n++) {
                t[n] = *src[s];
                t[n].lo = lo, t[n].hi = hi;
                t[n].data = lm_calloc(hi - lo + 1, sizeof(float));
            }
        }
        int rc = ckpt_load(ckpt_file(dir, 1), NULL, t, (int)n, err, sizeof err);
        EXPECT(rc == 0, "load of %zu ranges: %s", n, err);
        int bad = 0;
        for (size_t j = 0; j < n; j++) {
            bad += memcmp(t[j].data, src[s]->data + t[j].lo, (t[j].hi - t[j].lo) * 4) != 0;
            free(t[j].data);
        }
        EXPECT(bad == 0, "%s: %d of %zu ranges read wrong values", src[s]->name, bad, n);
        free(t);
    }
    free_model(ref, N_MODEL);
}

static void test_latest_points_at_newest(void) {
    const char *dir = run_dir("latest");
    char path[PATH_MAX], want[PATH_MAX], latest[PATH_MAX];
    EXPECT(ckpt_latest(dir, path, sizeof path) == -1, "a run without checkpoints has a latest");
    long steps[] = {5, 20, 10}; // the pointer follows the last save, not the highest name
    for (int i = 0; i < 3; i++) EXPECT(save(dir, steps[i], 0) == 0, "save: %s", err);
    snprintf(latest, sizeof latest, "%s/ckpt/latest", dir);
    char *text = lm_read_file(latest, NULL);
    EXPECT(text && !strcmp(text, "step_00000010.h5\n"), "latest holds '%s'", text ? text : "");
    free(text);
    EXPECT(ckpt_latest(dir, path, sizeof path) == 0 && !strcmp(path, ckpt_file(dir, 10)),
           "latest: %s", path);
    snprintf(want, sizeof want, "%s", ckpt_file(dir, 20));
    unlink(latest); // without the pointer: the highest step by name
    EXPECT(ckpt_latest(dir, path, sizeof path) == 0 && !strcmp(path, want), "by name: %s", path);
    FILE *f = fopen(latest, "w");
    fputs("../../etc/passwd\n", f);
    fclose(f);
    EXPECT(ckpt_latest(dir, path, sizeof path) == 0 && !strcmp(path, want), "bad pointer: %s", path);
    f = fopen(latest, "w");
    fputs("step_00000099.h5\n", f); // names a file that is gone
    fclose(f);
    EXPECT(ckpt_latest(dir, path, sizeof path) == 0 && !strcmp(path, want), "dangling: %s", path);
}

static void test_keep_prunes_old_and_stale(void) {
    const char *dir = run_dir("keep");
    for (long s = 1; s <= 5; s++) EXPECT(save(dir, s, 2) == 0, "save: %s", err);
    for (long s = 1; s <= 5; s++)
        EXPECT(exists(ckpt_file(dir, s)) == (s >= 4), "step %ld %s", s,
               exists(ckpt_file(dir, s)) ? "kept" : "deleted");
    char stale[PATH_MAX];
    snprintf(stale, sizeof stale, "%s/ckpt/.step_00000007.h5.tmp", dir);
    FILE *f = fopen(stale, "w");
    fputs("a killed writer's leftover", f);
    fclose(f);
    EXPECT(save(dir, 6, 2) == 0, "save: %s", err);
    EXPECT(!exists(stale), "stale temporary file left behind");
    EXPECT(!exists(ckpt_file(dir, 4)) && exists(ckpt_file(dir, 5)) && exists(ckpt_file(dir, 6)),
           "keep 2 after step 6");
    // Resumed from an older checkpoint: the newer files of the abandoned run stay until
    // training overwrites them; the one just written is never deleted.
    EXPECT(save(dir, 3, 1) == 0, "save: %s", err);
    EXPECT(exists(ckpt_file(dir, 3)) && exists(ckpt_file(dir, 5)) && exists(ckpt_file(dir, 6)),
           "pruning after an older step");
    EXPECT(save(dir, 9, 0) == 0 && exists(ckpt_file(dir, 3)), "keep 0 keeps everything");
}

static void test_shape_mismatch_lists_every_difference(void) {
    const char *dir = run_dir("mismatch");
    EXPECT(save(dir, 1, 0) == 0, "save: %s", err);
    EXPECT(save(dir, 2, 0) == 0, "save: %s", err);
    CkptTensor ref[N_MODEL], t[N_MODEL + 1];
    model(ref, 0);
    blank(t, ref, N_MODEL);
    t[0].shape[0] = 10, t[0].shape[1] = 4, t[0].hi = 40;  // 10x4 instead of 5x7
    t[1].ndim = 2, t[1].shape[1] = 1;                       // 5x1 instead of 5
    t[3].shape[1] = 8, t[3].hi = 40;                        // optim/v 5x8
    t[N_MODEL] = t[4];
    t[N_MODEL].name = "lm_head";                            // missing
    char path[PATH_MAX] = "";
    int rc = ckpt_load_latest(dir, NULL, t, N_MODEL + 1, path, sizeof path, err, sizeof err);
    EXPECT(rc == -1, "rc %d", rc);
    const char *want[] = {"step_00000002.h5: checkpoint does not match the model: ",
                          "layers.0.attn.wq: checkpoint 5x7, model 10x4",
                          "layers.0.attn.bq: checkpoint 5, model 5x1",
                          "optim/v/layers.0.attn.wq: checkpoint 5x7, model 5x8",
                          "; missing: lm_head"};
    for (int i = 0; i < 5; i++) EXPECT(strstr(err, want[i]), "no '%s' in: %s", want[i], err);
    EXPECT(!strstr(err, "optim/m/layers"), "a matching tensor listed: %s", err);
    // No optimizer state in the file: every moment is listed as missing.
    const char *dir2 = run_dir("mismatch_no_optim");
    CkptTensor params[2] = {ref[0], ref[4]};
    CkptMeta m = meta(3);
    EXPECT(ckpt_save(dir2, &m, params, 2, 0, err, sizeof err) == 0, "save: %s", err);
    rc = ckpt_load(ckpt_file(dir2, 3), NULL, &t[2], 2, err, sizeof err);
    EXPECT(rc == -1 && strstr(err, "missing: optim/m/layers.0.attn.wq, optim/v/layers.0.attn.wq"),
           "rc %d: %s", rc, err);
    free_model(ref, N_MODEL);
    free_model(t, N_MODEL);
}

static void test_bad_arguments_are_refused(void) {
    const char *dir = run_dir("badargs");
    CkptTensor t[N_MODEL];
    model(t, 1);
    CkptMeta m = meta(1);
    CkptTensor x = t[0];
    x.hi = 36;
    EXPECT(ckpt_save(dir, &m, &x, 1, 0, err, sizeof err) == -1 && strstr(err, "layers.0.attn.wq") &&
               strstr(err, "outside its 35 elements"), "%s", err);
    x = t[0], x.lo = 4, x.hi = 3;
    EXPECT(ckpt_save(dir, &m, &x, 1, 0, err, sizeof err) == -1 && strstr(err, "range [4, 3)"), "%s", err);
    x = t[0], x.group = "optimizer";
    EXPECT(ckpt_save(dir, &m, &x, 1, 0, err, sizeof err) == -1 && strstr(err, "group 'optimizer'"), "%s", err);
    x = t[0], x.name = "a/b";
    EXPECT(ckpt_save(dir, &m, &x, 1, 0, err, sizeof err) == -1 && strstr(err, "bad name 'a/b'"), "%s", err);
    x = t[0], x.ndim = 3;
    EXPECT(ckpt_save(dir, &m, &x, 1, 0, err, sizeof err) == -1 && strstr(err, "bad shape"), "%s", err);
    x = t[0], x.data = NULL;
    EXPECT(ckpt_save(dir, &m, &x, 1, 0, err, sizeof err) == -1 && strstr(err, "no data"), "%s", err);
    x = t[0], x.hi = 30; // one rank holding part of a tensor: the rest would never be written
    EXPECT(ckpt_save(dir, &m, &x, 1, 0, err, sizeof err) == -1 && strstr(err, "cover 30 of 35"), "%s", err);
    EXPECT(ckpt_save(dir, NULL, t, N_MODEL, 0, err, sizeof err) == -1 && strstr(err, "no meta"), "%s", err);
    EXPECT(ckpt_save("", &m, t, N_MODEL, 0, err, sizeof err) == -1 && strstr(err, "no run directory"), "%s", err);
    EXPECT(ckpt_load(NULL, NULL, t, N_MODEL, err, sizeof err) == -1 && strstr(err, "no checkpoint path"), "%s", err);
    EXPECT(!exists(ckpt_file(dir, 1)) && ckpt_latest(dir, (char[PATH_MAX]){0}, PATH_MAX) == -1,
           "a refused save left a checkpoint");
    char file[PATH_MAX]; // a run directory that cannot be created
    snprintf(file, sizeof file, "%s/plain_file", tmp_root);
    fclose(fopen(file, "w"));
    EXPECT(ckpt_save(file, &m, t, N_MODEL, 0, err, sizeof err) == -1 &&
               strstr(err, "cannot create directory") && strstr(err, "plain_file"), "%s", err);
    free_model(t, N_MODEL);
}

// An HDF5 file that is not ours: a foreign layout must be a message, not a crash.
static void write_foreign_h5(const char *path) {
    hid_t f = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    hid_t g = H5Gcreate2(f, "weights", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    H5Gclose(g);
    H5Fclose(f);
}

static void test_bad_files_name_the_file(void) {
    const char *dir = run_dir("badfiles");
    char path[PATH_MAX];
    CkptTensor t[N_MODEL];
    model(t, 0);
    snprintf(path, sizeof path, "%s/none.h5", dir);
    EXPECT(ckpt_load(path, NULL, t, N_MODEL, err, sizeof err) == -1 && strstr(err, path) &&
               strstr(err, "No such file"), "%s", err);
    mkdir(dir, 0777);
    snprintf(path, sizeof path, "%s/text.h5", dir);
    FILE *f = fopen(path, "w");
    fputs("not a checkpoint\n", f);
    fclose(f);
    EXPECT(ckpt_load(path, NULL, t, N_MODEL, err, sizeof err) == -1 && strstr(err, path) &&
               strstr(err, "not an HDF5 file"), "%s", err);
    snprintf(path, sizeof path, "%s/empty.h5", dir);
    fclose(fopen(path, "w"));
    EXPECT(ckpt_load(path, NULL, t, N_MODEL, err, sizeof err) == -1 && strstr(err, path), "%s", err);
    snprintf(path, sizeof path, "%s/foreign.h5", dir);
    write_foreign_h5(path);
    EXPECT(ckpt_load(path, NULL, t, N_MODEL, err, sizeof err) == -1 && strstr(err, path) &&
               strstr(err, "not a lemma checkpoint"), "%s", err);
    free_model(t, N_MODEL);
}

static void truncate_file(const char *path, off_t size) { EXPECT(truncate(path, size) == 0, "truncate"); }

static void flip_bytes(const char *path, long offset) {
    FILE *f = fopen(path, "r+b");
    unsigned char b[8];
    fseek(f, offset, SEEK_SET);
    size_t got = fread(b, 1, sizeof b, f);
    for (size_t i = 0; i < got; i++) b[i] ^= 0x5a;
    fseek(f, offset, SEEK_SET);
    fwrite(b, 1, got, f);
    fclose(f);
}

// Where the raw data of dataset NAME start in the file.
static long data_offset(const char *path, const char *name) {
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    hid_t d = H5Dopen2(f, name, H5P_DEFAULT);
    haddr_t off = H5Dget_offset(d);
    H5Dclose(d);
    H5Fclose(f);
    return off == HADDR_UNDEF ? -1 : (long)off;
}

static void test_fallback_to_previous_checkpoint(void) {
    const char *dir = run_dir("fallback");
    char path[PATH_MAX];
    EXPECT(load_latest(dir, path, sizeof path) == -2 && strstr(err, "no checkpoint"),
           "no checkpoint: %s", err);
    for (long s = 1; s <= 4; s++) EXPECT(save(dir, s, 0) == 0, "save: %s", err);
    EXPECT(load_latest(dir, path, sizeof path) == 4 && !strcmp(path, ckpt_file(dir, 4)) &&
               warnings[0] == 0, "intact: %s %s", path, warnings);
    struct stat sb;
    stat(ckpt_file(dir, 4), &sb);
    truncate_file(ckpt_file(dir, 4), sb.st_size / 2);
    EXPECT(load_latest(dir, path, sizeof path) == 3 && !strcmp(path, ckpt_file(dir, 3)),
           "truncated newest: got %s (%s)", path, err);
    EXPECT(strstr(warnings, ckpt_file(dir, 4)) && strstr(warnings, "truncated"),
           "warning: %s", warnings);
    flip_bytes(ckpt_file(dir, 3), 0); // the superblock signature
    EXPECT(load_latest(dir, path, sizeof path) == 2, "header garbage: %s", err);
    EXPECT(strstr(warnings, ckpt_file(dir, 3)) && strstr(warnings, "not an HDF5 file"),
           "warning: %s", warnings);
    long off = data_offset(ckpt_file(dir, 2), "optim/m/layers.0.attn.wq");
    EXPECT(off > 0, "no data offset");
    flip_bytes(ckpt_file(dir, 2), off + 40); // raw data: only the checksum can tell
    EXPECT(load_latest(dir, path, sizeof path) == 1, "data garbage: %s", err);
    EXPECT(strstr(warnings, ckpt_file(dir, 2)) && strstr(warnings, "checksum mismatch"),
           "warning: %s", warnings);
    truncate_file(ckpt_file(dir, 1), 0);
    EXPECT(load_latest(dir, path, sizeof path) == -1, "all corrupt loaded");
    EXPECT(strstr(err, "no loadable checkpoint") && strstr(err, "4 tried") &&
               strstr(err, ckpt_file(dir, 4)), "all corrupt: %s", err);
    EXPECT(strstr(warnings, ckpt_file(dir, 1)) && strstr(warnings, "no older checkpoint"),
           "warning: %s", warnings);
}

int main(int argc, char **argv) {
    dist_init(&argc, &argv);
    if (!mkdtemp(tmp_root)) {
        printf("FAIL setup: mkdtemp: %s\n", tmp_root);
        return 1;
    }
    RUN_TEST(test_nonfinite_refused);
    RUN_TEST(test_round_trip_bitwise_and_meta);
    RUN_TEST(test_every_flat_range);
    RUN_TEST(test_latest_points_at_newest);
    RUN_TEST(test_keep_prunes_old_and_stale);
    RUN_TEST(test_shape_mismatch_lists_every_difference);
    RUN_TEST(test_bad_arguments_are_refused);
    RUN_TEST(test_bad_files_name_the_file);
    RUN_TEST(test_fallback_to_previous_checkpoint);
    char cmd[PATH_MAX + 16];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp_root);
    if (!th_failed && system(cmd) != 0) printf("note: could not remove %s\n", tmp_root);
    dist_finalize();
    TEST_EXIT();
}
#else
// Built without MPI (USE_MPI=0): the entry points fail with a message; a fresh run (no
// checkpoint) still starts.
static void test_stubs_say_why(void) {
    char err[256];
    CkptMeta m = {0};
    EXPECT(ckpt_save("/tmp", &m, NULL, 0, 1, err, sizeof err) == -1 &&
               strstr(err, "built without MPI/HDF5: checkpoints unavailable"), "%s", err);
    EXPECT(ckpt_load("/tmp/x.h5", &m, NULL, 0, err, sizeof err) == -1 &&
               strstr(err, "checkpoints unavailable"), "%s", err);
    EXPECT(ckpt_load_latest("/nonexistent/run", &m, NULL, 0, NULL, 0, err, sizeof err) == 1,
           "fresh run: %s", err);
}

int main(void) {
    RUN_TEST(test_stubs_say_why);
    TEST_EXIT();
}
#endif
