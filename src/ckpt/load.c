// ckpt/load: ckpt_load and ckpt_load_latest. The file is opened collectively (metadata read
// once and shared, so every rank sees the same file and fails at the same point), the meta
// and every requested tensor's shape are checked (all mismatches listed in one message),
// each rank reads its flat range of each tensor with collective MPI-IO, and the data are
// checked against the checksums saved with them. ckpt_load_latest falls back to older
// checkpoints when the newest is unreadable.
#if LEMMA_HDF5
#include "ckpt_internal.h"
#include "lemma/dist.h"
#include "lemma/util.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

// A message built from parts; "..." ends it when it no longer fits.
typedef struct {
    char text[3000];
    size_t len;
    int parts;
} MsgList;

static void msg_add(MsgList *m, const char *sep, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void msg_add(MsgList *m, const char *sep, const char *fmt, ...) {
    size_t cap = sizeof m->text - 4;
    if (m->len >= cap) return;
    char part[sizeof m->text];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(part, sizeof part, fmt, ap);
    va_end(ap);
    int w = snprintf(m->text + m->len, cap - m->len, "%s%s", m->parts++ ? sep : "", part);
    m->len += (size_t)w;
    if (m->len >= cap) m->len = cap + (size_t)snprintf(m->text + cap, 4, "...");
}

static const char *display_name(const CkptTensor *t, char *buf, size_t len) {
    if (strcmp(t->group, "model/params") == 0) return t->name;
    snprintf(buf, len, "%s/%s", t->group, t->name);
    return buf;
}

static void shape_text(char *buf, size_t len, int ndim, const hsize_t *dims) {
    if (ndim == 1) snprintf(buf, len, "%llu", (unsigned long long)dims[0]);
    else if (ndim == 2)
        snprintf(buf, len, "%llux%llu", (unsigned long long)dims[0], (unsigned long long)dims[1]);
    else snprintf(buf, len, "%d-D", ndim);
}

// One tensor against the file: appends to bad (wrong shape or type) or missing.
static void check_shape(CkptStatus *st, hid_t f, const CkptTensor *t, MsgList *bad,
                        MsgList *missing) {
    char path[512], shown[512], have[64], want[64];
    snprintf(path, sizeof path, "%s/%s", t->group, t->name);
    const char *name = display_name(t, shown, sizeof shown);
    if (!ckpt_h5_exists(st, f, path)) {
        msg_add(missing, ", ", "%s", name);
        return;
    }
    hid_t d = H5_CHECK(st, H5Dopen2(f, path, H5P_DEFAULT));
    hid_t space = H5_CHECK(st, H5Dget_space(d));
    hid_t type = H5_CHECK(st, H5Dget_type(d));
    hsize_t dims[H5S_MAX_RANK] = {0}, mine[2] = {(hsize_t)t->shape[0], (hsize_t)t->shape[1]};
    int nd = H5_CHECK(st, H5Sget_simple_extent_dims(space, dims, NULL));
    if (!st->failed && H5_CHECK(st, H5Tget_class(type)) != H5T_FLOAT) {
        msg_add(bad, "; ", "%s: checkpoint holds non-float data", name);
    } else if (!st->failed && (nd != t->ndim || dims[0] != mine[0] ||
                               (nd == 2 && dims[1] != mine[1]))) {
        shape_text(have, sizeof have, nd, dims);
        shape_text(want, sizeof want, t->ndim, mine);
        msg_add(bad, "; ", "%s: checkpoint %s, model %s", name, have, want);
    }
    H5_CHECK(st, H5Tclose(type));
    H5_CHECK(st, H5Sclose(space));
    H5_CHECK(st, H5Dclose(d));
}

static void check_shapes(CkptStatus *st, hid_t f, const CkptTensor *t, int n) {
    MsgList bad = {0}, missing = {0};
    for (int i = 0; i < n && !st->failed; i++) check_shape(st, f, &t[i], &bad, &missing);
    if (st->failed || (bad.parts == 0 && missing.parts == 0)) return;
    if (missing.parts) msg_add(&bad, "; ", "missing: %s", missing.text);
    ckpt_fail(st, "checkpoint does not match the model: %s", bad.text);
    st->mismatch = 1;
}

static void read_tensor(CkptStatus *st, hid_t f, CkptTensor *t, uint64_t *stored, int *has) {
    char path[512];
    snprintf(path, sizeof path, "%s/%s", t->group, t->name);
    hsize_t dims[2] = {(hsize_t)t->shape[0], t->ndim == 2 ? (hsize_t)t->shape[1] : 1};
    hid_t d = H5_CHECK(st, H5Dopen2(f, path, H5P_DEFAULT));
    hid_t fspace = H5_CHECK(st, H5Dget_space(d));
    ckpt_select_range(st, fspace, t->ndim, dims, t->lo, t->hi);
    hid_t mspace = ckpt_mem_space(st, t->hi - t->lo);
    hid_t dxpl = ckpt_dxpl(st);
    float dummy;
    H5_CHECK(st, H5Dread(d, H5T_NATIVE_FLOAT, mspace, fspace, dxpl,
                         t->hi > t->lo ? t->data : &dummy));
    *has = ckpt_attr_get_u64(st, f, path, "checksum", stored) == 1;
    H5_CHECK(st, H5Pclose(dxpl));
    H5_CHECK(st, H5Sclose(mspace));
    H5_CHECK(st, H5Sclose(fspace));
    H5_CHECK(st, H5Dclose(d));
}

// Collective. A rank that read a whole tensor checks it alone; the ranks that read parts
// check the sum of their partial checksums when their ranges add up to the whole tensor.
static void verify_checksums(CkptStatus *st, const CkptTensor *t, int n, const uint64_t *stored,
                             const int *has) {
    uint64_t *local = lm_calloc((size_t)n + 1, sizeof *local);
    uint64_t *part = lm_calloc(2 * (size_t)n + 1, sizeof *part);
    for (int i = 0; i < n; i++) {
        local[i] = ckpt_checksum(t[i].lo, t[i].data, t[i].hi - t[i].lo);
        int full = t[i].lo == 0 && t[i].hi == ckpt_numel(&t[i]);
        if (!full) part[2 * i] = local[i], part[2 * i + 1] = t[i].hi - t[i].lo;
    }
    MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, part, 2 * n, MPI_UINT64_T, MPI_SUM, MPI_COMM_WORLD));
    const char *unverified = getenv("LEMMA_CKPT_UNVERIFIED");
    for (int i = 0; i < n && !st->failed; i++) {
        int full = t[i].lo == 0 && t[i].hi == ckpt_numel(&t[i]);
        int whole = part[2 * i + 1] == ckpt_numel(&t[i]);
        if (!has[i] && !(unverified && !strcmp(unverified, "1")))
            ckpt_fail(st, "%s/%s has no checksum (edited, or not written by lemma): refused; "
                      "LEMMA_CKPT_UNVERIFIED=1 loads it unchecked", t[i].group, t[i].name);
        if (has[i] && ((full && local[i] != stored[i]) || (whole && part[2 * i] != stored[i])))
            ckpt_fail(st, "corrupt data in %s/%s (checksum mismatch)", t[i].group, t[i].name);
    }
    free(local);
    free(part);
}

// Collective, on an open file: meta (into m, always valid), shapes, data, checksums.
static void read_body(CkptStatus *st, hid_t f, CkptMeta *m, CkptTensor *t, int n) {
    ckpt_read_meta(st, f, m);
    if (ckpt_agree(st) == 0) check_shapes(st, f, t, n);
    uint64_t *stored = lm_calloc((size_t)n + 1, sizeof *stored);
    int *has = lm_calloc((size_t)n + 1, sizeof *has);
    for (int i = 0; i < n && ckpt_agree(st) == 0; i++)
        read_tensor(st, f, &t[i], &stored[i], &has[i]);
    if (ckpt_agree(st) == 0) verify_checksums(st, t, n, stored, has);
    free(stored);
    free(has);
}

// Collective. 0, or -1 with st filled (st->mismatch: the file is fine, the shapes are not).
// meta (may be NULL) is filled on success and zeroed on failure.
static int load_file(const char *path, CkptMeta *meta, CkptTensor *t, int n, CkptStatus *st) {
    CkptMeta m = {0};
    if (meta) memset(meta, 0, sizeof *meta);
    st->path = path ? path : "(no path)";
    ckpt_check_tensors(st, t, n);
    if (!path) ckpt_fail(st, "no checkpoint path");
    if (dist.rank == 0 && !st->failed && access(path, R_OK) != 0)
        ckpt_fail(st, "cannot open: %s", strerror(errno));
    if (ckpt_agree(st) != 0) return -1;
    hid_t fapl = ckpt_fapl(st, 1);
    hid_t f = H5_CHECK(st, H5Fopen(path, H5F_ACC_RDONLY, fapl));
    H5_CHECK(st, H5Pclose(fapl));
    if (ckpt_agree(st) != 0) return -1;
    read_body(st, f, &m, t, n);
    H5_CHECK(st, H5Fclose(f));
    int rc = ckpt_agree(st);
    if (rc == 0 && meta) *meta = m;
    else ckpt_meta_free(&m);
    return rc;
}

int ckpt_load(const char *path, CkptMeta *meta, CkptTensor *t, int n, char *err, size_t err_len) {
    ckpt_h5_quiet();
    CkptStatus st = {0};
    int rc = load_file(path, meta, t, n, &st);
    if (err_len) snprintf(err, err_len, "%s", rc ? st.msg : "");
    return rc;
}

// Rank 0's list of candidate files on every rank.
static int shared_candidates(const char *run_dir, char ***out) {
    int n = 0;
    *out = NULL;
    if (dist.rank == 0) n = ckpt_candidates(run_dir, out);
    MPI_CHECK(MPI_Bcast(&n, 1, MPI_INT, 0, MPI_COMM_WORLD));
    if (dist.rank != 0) *out = lm_calloc((size_t)n + 1, sizeof(char *));
    for (int i = 0; i < n; i++) ckpt_bcast_str(&(*out)[i], 0);
    return n;
}

int ckpt_load_latest(const char *run_dir, CkptMeta *meta, CkptTensor *t, int n, char *path_out,
                     size_t path_len, char *err, size_t err_len) {
    ckpt_h5_quiet();
    if (meta) memset(meta, 0, sizeof *meta);
    char **cand;
    int nc = shared_candidates(run_dir, &cand), rc = nc ? -1 : 1, mismatch = 0;
    char newest[sizeof((CkptStatus *)0)->msg] = "";
    for (int i = 0; i < nc && rc != 0 && !mismatch; i++) {
        CkptStatus st = {0};
        rc = load_file(cand[i], meta, t, n, &st);
        mismatch = st.mismatch;
        if (rc == 0 && path_len) snprintf(path_out, path_len, "%s", cand[i]);
        if (rc != 0 && (i == 0 || mismatch)) snprintf(newest, sizeof newest, "%s", st.msg);
        if (rc != 0 && !mismatch && dist.rank == 0)
            lm_warn("%s; %s", st.msg, i + 1 < nc ? "trying the previous checkpoint"
                                                 : "no older checkpoint to try");
    }
    if (err_len) {
        if (rc == 1)
            snprintf(err, err_len, "no checkpoint in %s/ckpt", run_dir);
        else if (rc != 0 && mismatch)
            snprintf(err, err_len, "%s", newest);
        else if (rc != 0)
            snprintf(err, err_len, "no loadable checkpoint in %s/ckpt (%d tried); the newest: %s",
                     run_dir, nc, newest);
        else
            err[0] = 0;
    }
    for (int i = 0; i < nc; i++) free(cand[i]);
    free(cand);
    return rc;
}
#endif
