// ckpt/save: ckpt_save, the collective write of one checkpoint. Every rank checks its
// arguments, the ranks check together that they pass the same tensors and that their ranges
// tile each tensor, then the file is written with parallel HDF5 under a temporary name
// (each rank its hyperslab of every global-shaped dataset, collective MPI-IO) and rank 0
// publishes it (fsync, rename, `latest`, prune). Failures agree across ranks at each stage.
#if LEMMA_HDF5
#include "ckpt_internal.h"
#include "lemma/dist.h"
#include "lemma/util.h"

#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

// FNV-1a over the tensor list (groups, names, shapes): equal on every rank or a bug.
static uint64_t tensor_list_hash(const CkptTensor *t, int n) {
    uint64_t h = 1469598103934665603ull;
    for (int i = 0; i < n; i++) {
        char buf[512];
        int w = snprintf(buf, sizeof buf, "%s|%s|%d|%ld|%ld;", t[i].group, t[i].name, t[i].ndim,
                         t[i].shape[0], t[i].ndim == 2 ? t[i].shape[1] : 0L);
        for (int k = 0; k < w && k < (int)sizeof buf; k++)
            h = (h ^ (uint8_t)buf[k]) * 1099511628211ull;
    }
    return h;
}

static int range_by_lo(const void *a, const void *b) {
    const unsigned long long *x = a, *y = b;
    return x[0] < y[0] ? -1 : x[0] > y[0] ? 1 : 0;
}

// Tensor i's ranges on every rank (from the gathered [lo, hi) pairs of all tensors) must tile
// [0, numel): sorted by start, each begins where the previous one ended.
static void check_tiling(CkptStatus *st, const CkptTensor *t, int n, int i,
                         const unsigned long long *all, unsigned long long *one) {
    int k = 0;
    for (int r = 0; r < dist.size; r++) {
        const unsigned long long *ab = &all[(size_t)r * 2 * n + 2 * i];
        if (ab[1] > ab[0]) one[2 * k] = ab[0], one[2 * k + 1] = ab[1], k++;
    }
    qsort(one, (size_t)k, 2 * sizeof *one, range_by_lo);
    unsigned long long end = 0;
    for (int j = 0; j < k && !st->failed; j++) {
        if (one[2 * j] != end)
            ckpt_fail(st, "tensor %s/%s: the ranks' ranges %s at element %llu", t[i].group,
                      t[i].name, one[2 * j] > end ? "leave a gap" : "overlap", end);
        end = one[2 * j + 1];
    }
    if (!st->failed && end != ckpt_numel(&t[i]))
        ckpt_fail(st, "tensor %s/%s: the ranks' ranges cover %llu of %zu elements", t[i].group,
                  t[i].name, end, ckpt_numel(&t[i]));
}

// Collective: same tensor list everywhere, and the non-empty ranges of the ranks tile
// [0, numel) of every tensor (each element written exactly once).
static void check_across_ranks(CkptStatus *st, const CkptTensor *t, int n) {
    unsigned long long mine[2] = {(unsigned long long)n, tensor_list_hash(t, n)}, lo[2], hi[2];
    MPI_CHECK(MPI_Allreduce(mine, lo, 2, MPI_UNSIGNED_LONG_LONG, MPI_MIN, MPI_COMM_WORLD));
    MPI_CHECK(MPI_Allreduce(mine, hi, 2, MPI_UNSIGNED_LONG_LONG, MPI_MAX, MPI_COMM_WORLD));
    if (lo[0] != hi[0] || lo[1] != hi[1]) {
        ckpt_fail(st, "the ranks passed different tensor lists (count, names or shapes)");
        return;
    }
    unsigned long long *mr = lm_malloc((size_t)(2 * n) * sizeof *mr);
    unsigned long long *all = lm_malloc((size_t)(2 * n) * (size_t)dist.size * sizeof *all);
    unsigned long long *one = lm_malloc((size_t)(2 * dist.size) * sizeof *one);
    for (int i = 0; i < n; i++) mr[2 * i] = t[i].lo, mr[2 * i + 1] = t[i].hi;
    MPI_CHECK(MPI_Allgather(mr, 2 * n, MPI_UNSIGNED_LONG_LONG, all, 2 * n,
                            MPI_UNSIGNED_LONG_LONG, MPI_COMM_WORLD));
    for (int i = 0; i < n && !st->failed; i++) check_tiling(st, t, n, i, all, one);
    free(mr);
    free(all);
    free(one);
}

// Collective: the whole-tensor checksums, from each rank's partial sums.
static uint64_t *tensor_checksums(const CkptTensor *t, int n) {
    uint64_t *sums = lm_calloc((size_t)n + 1, sizeof *sums);
    for (int i = 0; i < n; i++) sums[i] = ckpt_checksum(t[i].lo, t[i].data, t[i].hi - t[i].lo);
    MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, sums, n, MPI_UINT64_T, MPI_SUM, MPI_COMM_WORLD));
    return sums;
}

// Rank 0's meta on every rank (attributes must be written with the same values everywhere).
static void share_meta(const CkptMeta *in, CkptMeta *out, char **config, char **model) {
    *out = *in;
    MPI_CHECK(MPI_Bcast(out, (int)sizeof *out, MPI_BYTE, 0, MPI_COMM_WORLD));
    *config = dist.rank == 0 && in->config_text ? lm_strdup(in->config_text) : NULL;
    *model = dist.rank == 0 && in->model_json ? lm_strdup(in->model_json) : NULL;
    ckpt_bcast_str(config, 0);
    ckpt_bcast_str(model, 0);
    out->config_text = *config;
    out->model_json = *model;
    out->world_size = dist.size;
    out->phase[sizeof out->phase - 1] = 0;
}

static hid_t make_group(CkptStatus *st, hid_t f, const char *path) {
    hid_t lcpl = H5_CHECK(st, H5Pcreate(H5P_LINK_CREATE));
    hid_t gcpl = H5_CHECK(st, H5Pcreate(H5P_GROUP_CREATE));
    H5_CHECK(st, H5Pset_create_intermediate_group(lcpl, 1));
    // Tensors listed in the order they were saved (the model's layout order).
    H5_CHECK(st, H5Pset_link_creation_order(gcpl, H5P_CRT_ORDER_TRACKED | H5P_CRT_ORDER_INDEXED));
    hid_t g = H5_CHECK(st, H5Gcreate2(f, path, lcpl, gcpl, H5P_DEFAULT));
    H5_CHECK(st, H5Pclose(lcpl));
    H5_CHECK(st, H5Pclose(gcpl));
    return g;
}

static void write_meta(CkptStatus *st, hid_t f, const CkptMeta *m) {
    char when[32];
    time_t now = time(NULL);
    MPI_CHECK(MPI_Bcast(&now, (int)sizeof now, MPI_BYTE, 0, MPI_COMM_WORLD));
    strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", gmtime(&now));
    hid_t g = make_group(st, f, "model");
    ckpt_attr_put_str(st, g, "config", m->model_json);
    H5_CHECK(st, H5Gclose(g));
    H5_CHECK(st, H5Gclose(make_group(st, f, "model/params")));
    g = make_group(st, f, "train");
    ckpt_attr_put_i64(st, g, "step", m->step);
    ckpt_attr_put_i64(st, g, "tokens", m->tokens);
    ckpt_attr_put_i64(st, g, "epoch", m->epoch);
    ckpt_attr_put_i64(st, g, "cursor", m->cursor);
    ckpt_attr_put_i64(st, g, "nan_skips", m->nan_skips);
    H5_CHECK(st, H5Gclose(g));
    g = make_group(st, f, "pipeline");
    ckpt_attr_put_str(st, g, "phase", m->phase);
    H5_CHECK(st, H5Gclose(g));
    g = make_group(st, f, "meta");
    ckpt_attr_put_str(st, g, "program_version", LEMMA_VERSION);
    ckpt_attr_put_i64(st, g, "world_size", m->world_size);
    ckpt_attr_put_str(st, g, "time", when);
    ckpt_attr_put_str(st, g, "config_text", m->config_text);
    H5_CHECK(st, H5Gclose(g));
}

// The optimizer groups, created once each before their first tensor.
static void make_tensor_groups(CkptStatus *st, hid_t f, const CkptTensor *t, int n) {
    for (int i = 0; i < n; i++) {
        int seen = strcmp(t[i].group, "model/params") == 0;
        for (int j = 0; j < i && !seen; j++) seen = strcmp(t[j].group, t[i].group) == 0;
        if (!seen) H5_CHECK(st, H5Gclose(make_group(st, f, t[i].group)));
    }
}

static void write_tensor(CkptStatus *st, hid_t f, const CkptTensor *t, uint64_t checksum) {
    char path[512];
    snprintf(path, sizeof path, "%s/%s", t->group, t->name);
    hsize_t dims[2] = {(hsize_t)t->shape[0], t->ndim == 2 ? (hsize_t)t->shape[1] : 1};
    hid_t fspace = H5_CHECK(st, H5Screate_simple(t->ndim, dims, NULL));
    hid_t dcpl = H5_CHECK(st, H5Pcreate(H5P_DATASET_CREATE));
    H5_CHECK(st, H5Pset_fill_time(dcpl, H5D_FILL_TIME_NEVER)); // every element gets written
    hid_t d = H5_CHECK(st, H5Dcreate2(f, path, H5T_IEEE_F32LE, fspace, H5P_DEFAULT, dcpl,
                                      H5P_DEFAULT));
    ckpt_select_range(st, fspace, t->ndim, dims, t->lo, t->hi);
    hid_t mspace = ckpt_mem_space(st, t->hi - t->lo);
    hid_t dxpl = ckpt_dxpl(st);
    float dummy = 0;
    H5_CHECK(st, H5Dwrite(d, H5T_NATIVE_FLOAT, mspace, fspace, dxpl,
                          t->hi > t->lo ? t->data : &dummy));
    ckpt_attr_put_u64(st, d, "checksum", checksum);
    H5_CHECK(st, H5Pclose(dxpl));
    H5_CHECK(st, H5Sclose(mspace));
    H5_CHECK(st, H5Dclose(d));
    H5_CHECK(st, H5Pclose(dcpl));
    H5_CHECK(st, H5Sclose(fspace));
}

// This rank's part of every tensor is finite: a checkpoint never holds NaN or Inf (a
// diverged update would poison every later resume).
static void check_finite(CkptStatus *st, const CkptTensor *t, int n) {
    for (int i = 0; i < n && !st->failed; i++)
        for (size_t k = 0; k < t[i].hi - t[i].lo; k++)
            if (!isfinite(t[i].data[k])) {
                ckpt_fail(st, "tensor %s/%s holds a non-finite value (%g at element %zu): not "
                          "written", t[i].group, t[i].name, (double)t[i].data[k], t[i].lo + k);
                break;
            }
}

// Rank 0: room for the file (its tensors plus 1 MiB for meta and HDF5's own structures) on
// the file system of run_dir, before anything is written.
static void check_space(CkptStatus *st, const char *run_dir, const CkptTensor *t, int n) {
    double need = 1 << 20;
    for (int i = 0; i < n; i++) need += (double)ckpt_numel(&t[i]) * sizeof(float);
    struct statvfs fs;
    if (statvfs(run_dir, &fs) != 0) return; // not there yet: ckpt_make_dir reports it
    double room = (double)fs.f_bavail * (double)fs.f_frsize;
    if (room < need)
        ckpt_fail(st, "no space left for the checkpoint on the file system of %s: it needs %.1f "
                  "MiB, %.1f MiB are free (disk full or quota)", run_dir, need / 1048576.0,
                  room / 1048576.0);
}

// Collective: the whole file under its temporary name.
static void write_file(CkptStatus *st, const char *tmp, const CkptMeta *m, const CkptTensor *t,
                       int n, const uint64_t *sums) {
    hid_t fapl = ckpt_fapl(st, 1);
    hid_t f = H5_CHECK(st, H5Fcreate(tmp, H5F_ACC_TRUNC, H5P_DEFAULT, fapl));
    H5_CHECK(st, H5Pclose(fapl));
    if (ckpt_agree(st) != 0) return;
    write_meta(st, f, m);
    make_tensor_groups(st, f, t, n);
    for (int i = 0; i < n && ckpt_agree(st) == 0; i++) write_tensor(st, f, &t[i], sums[i]);
    if (!st->failed) H5_CHECK(st, H5Fflush(f, H5F_SCOPE_GLOBAL)); // MPI_File_sync
    H5_CHECK(st, H5Fclose(f));
    ckpt_agree(st);
}

int ckpt_save(const char *run_dir, const CkptMeta *meta, const CkptTensor *t, int n, int keep,
              char *err, size_t err_len) {
    ckpt_h5_quiet();
    CkptStatus st = {.path = run_dir && run_dir[0] ? run_dir : "(no run directory)"};
    CkptMeta none = {0}, m;
    if (!run_dir || !run_dir[0] || !meta) ckpt_fail(&st, "no run directory or no meta");
    char *config, *model;
    share_meta(meta ? meta : &none, &m, &config, &model);
    char tmp[PATH_MAX], name[64];
    snprintf(name, sizeof name, ".step_%08ld.h5.tmp", m.step);
    if (!st.failed && ckpt_path(tmp, sizeof tmp, run_dir, name) != 0)
        ckpt_fail(&st, "path too long");
    if (m.step < 0) ckpt_fail(&st, "negative step %ld", m.step);
    ckpt_check_tensors(&st, t, n);
    if (!st.failed) check_finite(&st, t, n);
    if (ckpt_agree(&st) == 0) check_across_ranks(&st, t, n);
    if (dist.rank == 0 && !st.failed && ckpt_make_dir(run_dir, st.msg, sizeof st.msg) != 0)
        st.failed = 1;
    if (dist.rank == 0 && !st.failed) check_space(&st, run_dir, t, n);
    if (ckpt_agree(&st) == 0) {
        uint64_t *sums = tensor_checksums(t, n);
        st.path = tmp;
        write_file(&st, tmp, &m, t, n, sums);
        if (dist.rank == 0 && !st.failed &&
            ckpt_publish(run_dir, tmp, m.step, keep, st.msg, sizeof st.msg) != 0)
            st.failed = 1;
        if (dist.rank == 0 && st.failed) unlink(tmp);
        ckpt_agree(&st);
        free(sums);
    }
    free(config);
    free(model);
    if (err_len) snprintf(err, err_len, "%s", st.failed ? st.msg : "");
    return st.failed ? -1 : 0;
}
#endif
