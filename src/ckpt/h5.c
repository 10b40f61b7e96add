// ckpt/h5: the HDF5 plumbing that save, load and inspect share: error status with HDF5's
// own reason turned into our message, collective agreement on failure, property lists,
// flat-range hyperslab selections, attributes, meta reading and the tensor checksum.
#if LEMMA_HDF5
#include "ckpt_internal.h"
#include "lemma/dist.h"
#include "lemma/util.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

// ---------------------------------------------------------------------------
// Errors.

void ckpt_h5_quiet(void) { H5Eset_auto2(H5E_DEFAULT, NULL, NULL); }

void ckpt_fail(CkptStatus *st, const char *fmt, ...) {
    if (st->failed) return;
    st->failed = 1;
    int w = snprintf(st->msg, sizeof st->msg, "%s: ", st->path ? st->path : "checkpoint");
    if (w < 0 || (size_t)w >= sizeof st->msg) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(st->msg + w, sizeof st->msg - (size_t)w, fmt, ap);
    va_end(ap);
}

// H5Ewalk2 callback, walking upward: entry 0 is the innermost, most specific reason.
static herr_t innermost_reason(unsigned n, const H5E_error2_t *e, void *out) {
    if (n == 0 && e->desc) snprintf(out, 256, "%s", e->desc);
    return 0;
}

int64_t ckpt_h5_check(CkptStatus *st, int64_t rc, const char *call, const char *file, int line) {
    if (rc >= 0) return rc;
    char reason[256] = "unknown HDF5 error", fn[64];
    H5Ewalk2(H5E_DEFAULT, H5E_WALK_UPWARD, innermost_reason, reason);
    H5Eclear2(H5E_DEFAULT);
    snprintf(fn, sizeof fn, "%.*s", (int)strcspn(call, "( "), call);
    if (strstr(reason, "signature not found"))
        ckpt_fail(st, "not an HDF5 file (%s; %s at %s:%d)", reason, fn, file, line);
    else
        ckpt_fail(st, "%s (%s at %s:%d)", reason, fn, file, line);
    return rc;
}

int ckpt_agree(CkptStatus *st) {
    int mine = st->failed ? dist.rank : dist.size, first = dist.size;
    MPI_CHECK(MPI_Allreduce(&mine, &first, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD));
    if (first == dist.size) return 0;
    MPI_CHECK(MPI_Bcast(st->msg, (int)sizeof st->msg, MPI_CHAR, first, MPI_COMM_WORLD));
    MPI_CHECK(MPI_Bcast(&st->mismatch, 1, MPI_INT, first, MPI_COMM_WORLD));
    st->failed = 1;
    return -1;
}

// ---------------------------------------------------------------------------
// Property lists and selections.

hid_t ckpt_fapl(CkptStatus *st, int parallel) {
    hid_t fapl = H5_CHECK(st, H5Pcreate(H5P_FILE_ACCESS));
    if (parallel) {
        H5_CHECK(st, H5Pset_fapl_mpio(fapl, MPI_COMM_WORLD, MPI_INFO_NULL));
        H5_CHECK(st, H5Pset_all_coll_metadata_ops(fapl, 1));
        H5_CHECK(st, H5Pset_coll_metadata_write(fapl, 1));
        // Large datasets start on 1 MiB boundaries (parallel file system stripes).
        H5_CHECK(st, H5Pset_alignment(fapl, 4 << 20, 1 << 20));
    }
#if H5_VERSION_GE(1, 10, 7)
    // Lock where the file system supports it; carry on where locking is disabled (Lustre
    // mounted without flock). Older HDF5: set HDF5_USE_FILE_LOCKING=FALSE there.
    H5_CHECK(st, H5Pset_file_locking(fapl, 1, 1));
#endif
    return fapl;
}

hid_t ckpt_dxpl(CkptStatus *st) {
    hid_t dxpl = H5_CHECK(st, H5Pcreate(H5P_DATASET_XFER));
    H5_CHECK(st, H5Pset_dxpl_mpio(dxpl, H5FD_MPIO_COLLECTIVE));
    return dxpl;
}

static void select_block(CkptStatus *st, hid_t space, int ndim, hsize_t r, hsize_t c,
                         hsize_t nr, hsize_t nc, int *first) {
    hsize_t start[2] = {r, c}, count[2] = {nr, nc};
    if (ndim == 1) start[0] = c, count[0] = nc;
    H5S_seloper_t op = *first ? H5S_SELECT_SET : H5S_SELECT_OR;
    H5_CHECK(st, H5Sselect_hyperslab(space, op, start, NULL, count, NULL));
    *first = 0;
}

void ckpt_select_range(CkptStatus *st, hid_t space, int ndim, const hsize_t *dims, size_t lo,
                       size_t hi) {
    if (hi <= lo) {
        H5_CHECK(st, H5Sselect_none(space));
        return;
    }
    int first = 1;
    if (ndim == 1) {
        select_block(st, space, 1, 0, lo, 1, hi - lo, &first);
        return;
    }
    hsize_t C = dims[1], r0 = lo / C, c0 = lo % C, r1 = hi / C, c1 = hi % C;
    if (r0 == r1) { // inside one row
        select_block(st, space, 2, r0, c0, 1, c1 - c0, &first);
        return;
    }
    if (c0 > 0) select_block(st, space, 2, r0++, c0, 1, C - c0, &first); // partial first row
    if (r1 > r0) select_block(st, space, 2, r0, 0, r1 - r0, C, &first);  // whole rows
    if (c1 > 0) select_block(st, space, 2, r1, 0, 1, c1, &first);        // partial last row
}

hid_t ckpt_mem_space(CkptStatus *st, size_t count) {
    hsize_t dim = count ? count : 1;
    hid_t space = H5_CHECK(st, H5Screate_simple(1, &dim, NULL));
    if (count == 0) H5_CHECK(st, H5Sselect_none(space));
    return space;
}

// ---------------------------------------------------------------------------
// Attributes (scalar).

static void attr_put(CkptStatus *st, hid_t obj, const char *name, hid_t ftype, hid_t mtype,
                     const void *v) {
    hid_t space = H5_CHECK(st, H5Screate(H5S_SCALAR));
    hid_t a = H5_CHECK(st, H5Acreate2(obj, name, ftype, space, H5P_DEFAULT, H5P_DEFAULT));
    H5_CHECK(st, H5Awrite(a, mtype, v));
    H5_CHECK(st, H5Aclose(a));
    H5_CHECK(st, H5Sclose(space));
}

void ckpt_attr_put_i64(CkptStatus *st, hid_t obj, const char *name, int64_t v) {
    attr_put(st, obj, name, H5T_STD_I64LE, H5T_NATIVE_INT64, &v);
}

void ckpt_attr_put_u64(CkptStatus *st, hid_t obj, const char *name, uint64_t v) {
    attr_put(st, obj, name, H5T_STD_U64LE, H5T_NATIVE_UINT64, &v);
}

// Variable-length UTF-8: h5py reads it as str, h5dump prints it, no 64 KiB attribute limit.
static hid_t vlen_string_type(CkptStatus *st) {
    hid_t type = H5_CHECK(st, H5Tcopy(H5T_C_S1));
    H5_CHECK(st, H5Tset_size(type, H5T_VARIABLE));
    H5_CHECK(st, H5Tset_cset(type, H5T_CSET_UTF8));
    return type;
}

void ckpt_attr_put_str(CkptStatus *st, hid_t obj, const char *name, const char *s) {
    hid_t type = vlen_string_type(st);
    const char *v = s ? s : "";
    attr_put(st, obj, name, type, type, &v);
    H5_CHECK(st, H5Tclose(type));
}

// Opens attribute NAME of OBJ_PATH: the attribute id, 0 when it is missing, -1 on error.
static hid_t attr_open(CkptStatus *st, hid_t loc, const char *obj_path, const char *name) {
    htri_t there = H5_CHECK(st, H5Aexists_by_name(loc, obj_path, name, H5P_DEFAULT));
    if (there <= 0) return there;
    return H5_CHECK(st, H5Aopen_by_name(loc, obj_path, name, H5P_DEFAULT, H5P_DEFAULT));
}

static int attr_get_int(CkptStatus *st, hid_t loc, const char *obj_path, const char *name,
                        hid_t mtype, void *v) {
    hid_t a = attr_open(st, loc, obj_path, name);
    if (a <= 0) return (int)a;
    hid_t type = H5_CHECK(st, H5Aget_type(a));
    int rc = 1;
    if (H5_CHECK(st, H5Tget_class(type)) != H5T_INTEGER) {
        ckpt_fail(st, "attribute '%s' of '%s' is not an integer", name, obj_path);
        rc = -1;
    } else if (H5_CHECK(st, H5Aread(a, mtype, v)) < 0) {
        rc = -1;
    }
    H5_CHECK(st, H5Tclose(type));
    H5_CHECK(st, H5Aclose(a));
    return rc;
}

int ckpt_attr_get_i64(CkptStatus *st, hid_t loc, const char *obj_path, const char *name,
                      int64_t *v) {
    return attr_get_int(st, loc, obj_path, name, H5T_NATIVE_INT64, v);
}

int ckpt_attr_get_u64(CkptStatus *st, hid_t loc, const char *obj_path, const char *name,
                      uint64_t *v) {
    return attr_get_int(st, loc, obj_path, name, H5T_NATIVE_UINT64, v);
}

// Reads a string attribute of either kind (variable or fixed length) into a malloc'd copy.
static char *attr_read_str(CkptStatus *st, hid_t a, hid_t ftype) {
    char *out = NULL;
    if (H5_CHECK(st, H5Tis_variable_str(ftype)) > 0) {
        hid_t mtype = vlen_string_type(st);
        char *v = NULL;
        if (H5_CHECK(st, H5Aread(a, mtype, &v)) >= 0) out = lm_strdup(v ? v : "");
        if (v) H5_CHECK(st, H5free_memory(v));
        H5_CHECK(st, H5Tclose(mtype));
    } else {
        size_t size = H5Tget_size(ftype); // 0: error, and H5Aread reports it
        char *v = lm_calloc(size + 1, 1);
        if (H5_CHECK(st, H5Aread(a, ftype, v)) >= 0) out = v;
        else free(v);
    }
    return out;
}

int ckpt_attr_get_str(CkptStatus *st, hid_t loc, const char *obj_path, const char *name,
                      char **s) {
    *s = NULL;
    hid_t a = attr_open(st, loc, obj_path, name);
    if (a <= 0) return (int)a;
    hid_t type = H5_CHECK(st, H5Aget_type(a));
    if (H5_CHECK(st, H5Tget_class(type)) != H5T_STRING)
        ckpt_fail(st, "attribute '%s' of '%s' is not a string", name, obj_path);
    else
        *s = attr_read_str(st, a, type);
    H5_CHECK(st, H5Tclose(type));
    H5_CHECK(st, H5Aclose(a));
    return *s ? 1 : -1;
}

int ckpt_h5_exists(CkptStatus *st, hid_t loc, const char *path) {
    char buf[1024];
    snprintf(buf, sizeof buf, "%s", path);
    for (char *p = buf;; p++) {
        if (*p != '/' && *p != 0) continue;
        char c = *p;
        *p = 0;
        htri_t there = H5_CHECK(st, H5Lexists(loc, buf, H5P_DEFAULT));
        *p = c;
        if (there <= 0) return 0;
        if (c == 0) return 1;
    }
}

// ---------------------------------------------------------------------------
// Meta.

static void need_i64(CkptStatus *st, hid_t f, const char *obj, const char *name, long *v) {
    int64_t x = 0;
    int rc = ckpt_attr_get_i64(st, f, obj, name, &x);
    if (rc == 0) ckpt_fail(st, "not a lemma checkpoint: no attribute '%s' on /%s", name, obj);
    *v = (long)x;
}

static char *need_str(CkptStatus *st, hid_t f, const char *obj, const char *name) {
    char *s = NULL;
    int rc = ckpt_attr_get_str(st, f, obj, name, &s);
    if (rc == 0) ckpt_fail(st, "not a lemma checkpoint: no attribute '%s' on /%s", name, obj);
    return s;
}

void ckpt_read_meta(CkptStatus *st, hid_t f, CkptMeta *meta) {
    memset(meta, 0, sizeof *meta);
    const char *groups[] = {"model", "train", "pipeline", "meta"};
    for (int i = 0; i < 4; i++)
        if (!st->failed && !ckpt_h5_exists(st, f, groups[i]))
            ckpt_fail(st, "not a lemma checkpoint: no /%s group", groups[i]);
    if (st->failed) return;
    need_i64(st, f, "train", "step", &meta->step);
    need_i64(st, f, "train", "tokens", &meta->tokens);
    need_i64(st, f, "train", "epoch", &meta->epoch);
    need_i64(st, f, "train", "cursor", &meta->cursor);
    need_i64(st, f, "train", "nan_skips", &meta->nan_skips);
    long ws = 0;
    need_i64(st, f, "meta", "world_size", &ws);
    meta->world_size = (int)ws;
    char *phase = need_str(st, f, "pipeline", "phase");
    snprintf(meta->phase, sizeof meta->phase, "%s", phase ? phase : "");
    free(phase);
    meta->config_text = need_str(st, f, "meta", "config_text");
    meta->model_json = need_str(st, f, "model", "config");
    if (!st->failed && (meta->step < 0 || meta->tokens < 0 || meta->epoch < 0 || meta->cursor < 0 ||
                        meta->nan_skips < 0 || meta->world_size < 1))
        ckpt_fail(st, "impossible values in /train or /meta (step %ld, tokens %ld, epoch %ld, "
                  "cursor %ld, nan_skips %ld, world_size %d): not a checkpoint lemma wrote",
                  meta->step, meta->tokens, meta->epoch, meta->cursor, meta->nan_skips,
                  meta->world_size);
}

// ---------------------------------------------------------------------------
// Tensors.

static uint64_t splitmix64(uint64_t x) {
    x += 0x9E3779B97F4A7C15ull;
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
    return x ^ (x >> 31);
}

uint64_t ckpt_checksum(size_t lo, const float *x, size_t count) {
    uint64_t sum = 0;
    for (size_t j = 0; j < count; j++) {
        uint32_t bits;
        memcpy(&bits, &x[j], 4);
        sum += splitmix64(((uint64_t)(lo + j) << 32) ^ bits);
    }
    return sum;
}

size_t ckpt_numel(const CkptTensor *t) {
    return (size_t)t->shape[0] * (size_t)(t->ndim == 2 ? t->shape[1] : 1);
}

static int known_group(const char *g) {
    if (!g) return 0;
    if (strcmp(g, "model/params") == 0) return 1;
    return strncmp(g, "optim/", 6) == 0 && g[6] && !strchr(g + 6, '/');
}

void ckpt_check_tensors(CkptStatus *st, const CkptTensor *t, int n) {
    if (n < 0 || (n > 0 && !t)) ckpt_fail(st, "bad tensor list (%d tensors at %p)", n, (void *)t);
    for (int i = 0; i < n && !st->failed; i++) {
        const char *name = t[i].name ? t[i].name : "(null)";
        if (!known_group(t[i].group))
            ckpt_fail(st, "tensor %s: group '%s' is not model/params or optim/NAME", name,
                      t[i].group ? t[i].group : "(null)");
        else if (!t[i].name || !t[i].name[0] || strchr(t[i].name, '/') || strlen(name) > 200)
            ckpt_fail(st, "tensor %d: bad name '%s' (1 to 200 characters, no '/')", i, name);
        else if (t[i].ndim < 1 || t[i].ndim > 2 || t[i].shape[0] < 1 ||
                 (t[i].ndim == 2 && t[i].shape[1] < 1))
            ckpt_fail(st, "tensor %s: bad shape (ndim %d, %ld x %ld)", name, t[i].ndim,
                      t[i].shape[0], t[i].shape[1]);
        else if (t[i].lo > t[i].hi || t[i].hi > ckpt_numel(&t[i]))
            ckpt_fail(st, "tensor %s: range [%zu, %zu) outside its %zu elements", name, t[i].lo,
                      t[i].hi, ckpt_numel(&t[i]));
        else if (t[i].hi > t[i].lo && !t[i].data)
            ckpt_fail(st, "tensor %s: no data for range [%zu, %zu)", name, t[i].lo, t[i].hi);
    }
}

void ckpt_bcast_str(char **s, int root) {
    long len = *s ? (long)strlen(*s) : -1;
    MPI_CHECK(MPI_Bcast(&len, 1, MPI_LONG, root, MPI_COMM_WORLD));
    if (dist.rank != root) *s = len < 0 ? NULL : lm_malloc((size_t)len + 1);
    if (len < 0) return;
    dist_bcast(*s, (size_t)len + 1, root);
}
#endif
