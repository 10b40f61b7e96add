// ckpt/stub: the HDF5 entry points of builds without MPI (USE_MPI=0, hence no parallel
// HDF5): each fails with a message saying so. The plain-file parts (dir.c) still work.
#if !LEMMA_HDF5
#include "lemma/ckpt.h"

#include <limits.h>
#include <stdio.h>

#define NO_HDF5 "built without MPI/HDF5: checkpoints unavailable"

static int unavailable(char *err, size_t err_len) {
    if (err_len) snprintf(err, err_len, "%s", NO_HDF5);
    return -1;
}

int ckpt_save(const char *run_dir, const CkptMeta *meta, const CkptTensor *t, int n, int keep,
              char *err, size_t err_len) {
    (void)run_dir, (void)meta, (void)t, (void)n, (void)keep;
    return unavailable(err, err_len);
}

int ckpt_load(const char *path, CkptMeta *meta, CkptTensor *t, int n, char *err, size_t err_len) {
    (void)path, (void)meta, (void)t, (void)n;
    return unavailable(err, err_len);
}

int ckpt_load_latest(const char *run_dir, CkptMeta *meta, CkptTensor *t, int n, char *path_out,
                     size_t path_len, char *err, size_t err_len) {
    (void)meta, (void)t, (void)n, (void)path_out, (void)path_len;
    char path[PATH_MAX];
    if (ckpt_latest(run_dir, path, sizeof path) != 0) { // a fresh run works without HDF5
        if (err_len) snprintf(err, err_len, "no checkpoint in %s/ckpt", run_dir);
        return 1;
    }
    return unavailable(err, err_len);
}

int ckpt_cmd_inspect(const Config *cfg, const char *input, int argc, char **argv) {
    (void)cfg, (void)argc, (void)argv;
    fprintf(stderr, "lemma inspect: %s: " NO_HDF5 "\n", input);
    return 2;
}
#endif
