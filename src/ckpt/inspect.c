// ckpt/inspect: `lemma inspect CKPT [--all] [--config]`, a summary of one checkpoint read
// on rank 0 with the serial HDF5 driver: meta, model JSON, tensors and parameters per group,
// and the shapes and L2 norms of a few tensors, checked against their checksums (--all:
// every tensor; --config: the stored config text). A missing, foreign or damaged file is
// exit status 2 with a message.
#if LEMMA_HDF5
#include "ckpt_internal.h"
#include "lemma/dist.h"
#include "lemma/util.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define EXIT_USAGE 2
#define NORM_BLOCK (1 << 20) // floats read at a time for a norm

typedef struct {
    char path[512]; // "model/params/layers.0.attn.wq"
    int ndim;
    hsize_t dims[2];
    size_t numel;
} TensorInfo;

typedef struct {
    char name[64]; // "model/params", "optim/m"
    TensorInfo *t;
    int n;
    size_t numel;
} GroupInfo;

typedef struct {
    char **names;
    int n;
} NameList;

static herr_t collect_name(hid_t g, const char *name, const H5L_info_t *info, void *data) {
    (void)g, (void)info;
    NameList *l = data;
    l->names = lm_realloc(l->names, (size_t)(l->n + 1) * sizeof(char *));
    l->names[l->n++] = lm_strdup(name);
    return 0;
}

static void free_names(NameList *l) {
    for (int i = 0; i < l->n; i++) free(l->names[i]);
    free(l->names);
}

// Link names of group PATH, in creation order when the file tracks it, else by name.
static NameList list_group(CkptStatus *st, hid_t f, const char *path) {
    NameList l = {0};
    hid_t g = H5_CHECK(st, H5Gopen2(f, path, H5P_DEFAULT));
    hid_t gcpl = H5_CHECK(st, H5Gget_create_plist(g));
    unsigned flags = 0;
    H5_CHECK(st, H5Pget_link_creation_order(gcpl, &flags));
    H5_index_t idx = (flags & H5P_CRT_ORDER_INDEXED) ? H5_INDEX_CRT_ORDER : H5_INDEX_NAME;
    H5_CHECK(st, H5Literate(g, idx, H5_ITER_INC, NULL, collect_name, &l));
    H5_CHECK(st, H5Pclose(gcpl));
    H5_CHECK(st, H5Gclose(g));
    return l;
}

static void read_group(CkptStatus *st, hid_t f, const char *path, GroupInfo *gi) {
    memset(gi, 0, sizeof *gi);
    snprintf(gi->name, sizeof gi->name, "%s", path);
    NameList l = list_group(st, f, path);
    gi->t = lm_calloc((size_t)l.n + 1, sizeof *gi->t);
    for (int i = 0; i < l.n && !st->failed; i++) {
        TensorInfo *ti = &gi->t[gi->n++];
        snprintf(ti->path, sizeof ti->path, "%s/%s", path, l.names[i]);
        hid_t d = H5_CHECK(st, H5Dopen2(f, ti->path, H5P_DEFAULT));
        hid_t space = H5_CHECK(st, H5Dget_space(d));
        ti->ndim = H5_CHECK(st, H5Sget_simple_extent_ndims(space));
        if (ti->ndim < 1 || ti->ndim > 2) ckpt_fail(st, "%s: %d-D dataset", ti->path, ti->ndim);
        else H5_CHECK(st, H5Sget_simple_extent_dims(space, ti->dims, NULL));
        ti->numel = (size_t)ti->dims[0] * (ti->ndim == 2 ? (size_t)ti->dims[1] : 1);
        gi->numel += ti->numel;
        H5_CHECK(st, H5Sclose(space));
        H5_CHECK(st, H5Dclose(d));
    }
    free_names(&l);
}

// model/params, then every optim/* group.
static int read_groups(CkptStatus *st, hid_t f, GroupInfo **out) {
    *out = lm_calloc(1, sizeof **out);
    if (!ckpt_h5_exists(st, f, "model/params")) {
        ckpt_fail(st, "not a lemma checkpoint: no /model/params group");
        return 0;
    }
    read_group(st, f, "model/params", &(*out)[0]);
    int n = 1;
    NameList optim = {0};
    if (ckpt_h5_exists(st, f, "optim")) optim = list_group(st, f, "optim");
    *out = lm_realloc(*out, (size_t)(1 + optim.n) * sizeof **out);
    for (int i = 0; i < optim.n && !st->failed; i++) {
        char path[128];
        snprintf(path, sizeof path, "optim/%s", optim.names[i]);
        read_group(st, f, path, &(*out)[n++]);
    }
    free_names(&optim);
    return n;
}

// L2 norm of a dataset, read NORM_BLOCK floats at a time; the data are checked against the
// checksum saved with them (none is an error unless LEMMA_CKPT_UNVERIFIED=1).
static double tensor_norm(CkptStatus *st, hid_t f, const TensorInfo *ti, float *buf) {
    hid_t d = H5_CHECK(st, H5Dopen2(f, ti->path, H5P_DEFAULT));
    hid_t fspace = H5_CHECK(st, H5Dget_space(d));
    double sum = 0;
    uint64_t checksum = 0, stored = 0;
    for (size_t lo = 0; lo < ti->numel && !st->failed; lo += NORM_BLOCK) {
        size_t hi = lo + NORM_BLOCK < ti->numel ? lo + NORM_BLOCK : ti->numel;
        ckpt_select_range(st, fspace, ti->ndim, ti->dims, lo, hi);
        hid_t mspace = ckpt_mem_space(st, hi - lo);
        H5_CHECK(st, H5Dread(d, H5T_NATIVE_FLOAT, mspace, fspace, H5P_DEFAULT, buf));
        for (size_t j = 0; j < hi - lo; j++) sum += (double)buf[j] * buf[j];
        checksum += ckpt_checksum(lo, buf, hi - lo);
        H5_CHECK(st, H5Sclose(mspace));
    }
    int has = ckpt_attr_get_u64(st, f, ti->path, "checksum", &stored) == 1;
    const char *unverified = getenv("LEMMA_CKPT_UNVERIFIED");
    if (has && stored != checksum) ckpt_fail(st, "corrupt data in %s (checksum mismatch)", ti->path);
    if (!has && !st->failed && !(unverified && !strcmp(unverified, "1")))
        ckpt_fail(st, "%s has no checksum (edited, or not written by lemma): refused; "
                  "LEMMA_CKPT_UNVERIFIED=1 reads it unchecked", ti->path);
    H5_CHECK(st, H5Sclose(fspace));
    H5_CHECK(st, H5Dclose(d));
    return sqrt(sum);
}

static void print_tensor(CkptStatus *st, hid_t f, const TensorInfo *ti, float *buf) {
    char shape[64];
    if (ti->ndim == 2)
        snprintf(shape, sizeof shape, "%llux%llu", (unsigned long long)ti->dims[0],
                 (unsigned long long)ti->dims[1]);
    else snprintf(shape, sizeof shape, "%llu", (unsigned long long)ti->dims[0]);
    double norm = tensor_norm(st, f, ti, buf);
    if (!st->failed) printf("  %-40s %-12s %12.6g\n", ti->path, shape, norm);
}

// A few tensors of model/params (the first 4 and the last 2), or every tensor with all; the
// others are read too, so that every checksum is verified.
static void print_tensors(CkptStatus *st, hid_t f, const GroupInfo *g, int ng, int all) {
    float *buf = lm_malloc(NORM_BLOCK * sizeof(float));
    printf("  %-40s %-12s %12s\n", "tensor", "shape", "L2 norm");
    for (int k = 0; k < ng; k++) {
        for (int i = 0; i < g[k].n && !st->failed; i++) {
            int shown = all || (k == 0 && (i < 4 || i >= g[k].n - 2));
            if (shown) print_tensor(st, f, &g[k].t[i], buf);
            else tensor_norm(st, f, &g[k].t[i], buf);
            if (!all && k == 0 && i == 4 && g[k].n > 6) printf("  ... %d more (--all lists every tensor)\n", g[k].n - 6);
        }
    }
    if (!st->failed && !all) printf("  (every tensor's checksum verified)\n");
    free(buf);
}

static void print_summary(const char *path, const CkptMeta *m, const char *version,
                          const char *when, const GroupInfo *g, int ng) {
    struct stat sb;
    double mb = stat(path, &sb) == 0 ? (double)sb.st_size / 1e6 : 0;
    printf("checkpoint  %s (%.1f MB)\n", path, mb);
    printf("written     %s by lemma %s on %d rank%s\n", when, version, m->world_size,
           m->world_size == 1 ? "" : "s");
    printf("step        %ld (tokens %ld, epoch %ld, cursor %ld, nan skips %ld)\n", m->step,
           m->tokens, m->epoch, m->cursor, m->nan_skips);
    printf("phase       %s\n", m->phase);
    printf("model       %s\n", m->model_json);
    printf("config      %zu bytes of config text (--config prints it)\n", strlen(m->config_text));
    int nt = 0;
    for (int k = 0; k < ng; k++) nt += g[k].n;
    printf("tensors     %d\n", nt);
    printf("parameters  %zu (%.3fM)\n", g[0].numel, g[0].numel / 1e6);
    for (int k = 0; k < ng; k++)
        printf("  %-14s %4d tensors %12zu floats %10.1f MB\n", g[k].name, g[k].n, g[k].numel,
               g[k].numel * 4 / 1e6);
}

static int inspect_file(const char *path, int all, int config) {
    CkptStatus st = {.path = path};
    if (access(path, R_OK) != 0) {
        fprintf(stderr, "lemma inspect: cannot open checkpoint '%s': %s\n", path, strerror(errno));
        return EXIT_USAGE;
    }
    hid_t fapl = ckpt_fapl(&st, 0);
    hid_t f = H5_CHECK(&st, H5Fopen(path, H5F_ACC_RDONLY, fapl));
    H5_CHECK(&st, H5Pclose(fapl));
    CkptMeta m = {0};
    char *version = NULL, *when = NULL;
    GroupInfo *g = NULL;
    int ng = 0;
    if (!st.failed) ckpt_read_meta(&st, f, &m);
    if (!st.failed) ckpt_attr_get_str(&st, f, "meta", "program_version", &version);
    if (!st.failed) ckpt_attr_get_str(&st, f, "meta", "time", &when);
    if (!st.failed) ng = read_groups(&st, f, &g);
    if (!st.failed && config) {
        fputs(m.config_text, stdout);
    } else if (!st.failed) {
        print_summary(path, &m, version ? version : "?", when ? when : "?", g, ng);
        print_tensors(&st, f, g, ng, all);
    }
    if (f >= 0) H5_CHECK(&st, H5Fclose(f));
    for (int k = 0; k < ng; k++) free(g[k].t);
    free(g);
    free(version);
    free(when);
    ckpt_meta_free(&m);
    if (!st.failed) return 0;
    fprintf(stderr, "lemma inspect: %s\n", st.msg);
    return EXIT_USAGE;
}

int ckpt_cmd_inspect(const Config *cfg, const char *input, int argc, char **argv) {
    (void)cfg;
    ckpt_h5_quiet();
    int all = 0, config = 0;
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--all") == 0) all = 1;
        else if (strcmp(argv[i], "--config") == 0) config = 1;
        else {
            if (dist.rank == 0)
                fprintf(stderr, "lemma inspect: unknown option '%s' (options: --all, --config)\n",
                        argv[i]);
            return EXIT_USAGE;
        }
    }
    int rc = dist.rank == 0 ? inspect_file(input, all, config) : 0;
    fflush(stdout);
    dist_bcast(&rc, sizeof rc, 0);
    return rc;
}
#endif
