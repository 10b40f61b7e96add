// ckpt: HDF5 checkpoints (docs/checkpoints.md). One file per checkpoint,
// RUN_DIR/ckpt/step_%08ld.h5, written collectively with parallel HDF5 over MPI-IO: every
// dataset has the tensor's *global* shape and each rank writes its flat element range of it,
// so a checkpoint written by any number of ranks loads on any other number. Files appear
// complete or not at all (temporary name, fsync, rename); RUN_DIR/ckpt/latest names the
// newest. Built without MPI (USE_MPI=0) the HDF5 parts are stubs that fail with a message.
#ifndef LEMMA_CKPT_H
#define LEMMA_CKPT_H

#include "lemma/config.h"

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

// One tensor as this rank holds it.
typedef struct {
    const char *group;  // "model/params", "optim/m" or "optim/v"
    const char *name;   // tensor name, e.g. "layers.3.attn.wq" (no '/')
    int ndim;           // 1 or 2
    long shape[2];      // global shape
    size_t lo, hi;      // the flat element range [lo, hi) of this tensor that this rank holds
    float *data;        // hi - lo floats: element lo of the tensor is data[0]
} CkptTensor;

typedef struct {
    long step, tokens;          // optimizer steps done, tokens seen
    long epoch, cursor;         // data position: epoch and global record index of the next batch
    long nan_skips;             // updates skipped for NaN/Inf so far
    char phase[32];             // pipeline phase ("pretrain", "finetune", "train")
    const char *config_text;    // the config file text (saved in /meta)
    const char *model_json;     // the architecture as JSON (saved as attribute of /model)
    int world_size;             // ranks that wrote it
} CkptMeta;

// Collective over MPI_COMM_WORLD. Writes RUN_DIR/ckpt/step_%08ld.h5 (meta->step): first as
// RUN_DIR/ckpt/.step_%08ld.h5.tmp, each rank writing its [lo, hi) part of each dataset; then
// rank 0 fsyncs and renames it, replaces RUN_DIR/ckpt/latest atomically and deletes all but
// the newest `keep` checkpoints (keep <= 0: keep all). Every rank passes the same tensors in
// the same order; for each tensor the ranges of the ranks must tile [0, numel) exactly (an
// empty range is fine). The meta of rank 0 is the one saved; world_size is filled in.
// Returns 0, or -1 with a message in err (same return and message on every rank).
int ckpt_save(const char *run_dir, const CkptMeta *meta, const CkptTensor *t, int n, int keep,
              char *err, size_t err_len);

// Path of the newest complete checkpoint in RUN_DIR/ckpt (the file `latest` names, else the
// highest step_*.h5), or -1 when there is none. Not collective (plain file system calls).
int ckpt_latest(const char *run_dir, char *path, size_t len);
// The step in a checkpoint's path (".../step_00001234.h5": 1234), or -1.
long ckpt_step_of(const char *path);

// Collective. Reads meta (may be NULL; config_text and model_json are malloc'd: free with
// ckpt_meta_free) and each rank's [lo, hi) part of each tensor (ranges may overlap between
// ranks, e.g. every rank reading everything). Every tensor must exist with exactly the given
// shape: otherwise -1 and err lists every mismatch. Data are checked against the checksums
// stored at save time whenever the ranks together read whole tensors. Returns 0, or -1
// with a message naming the file (same on every rank); after -1 the data are unspecified.
int ckpt_load(const char *path, CkptMeta *meta, CkptTensor *t, int n, char *err, size_t err_len);

// Collective. Loads the newest loadable checkpoint of RUN_DIR (the one `latest` names, then
// older ones by step), warning with the file name and the reason for each unreadable one;
// path_out gets the one used. Returns 0, 1 when there is no checkpoint, -1 when none is
// loadable or the shapes do not match the model (no fallback for a mismatch).
int ckpt_load_latest(const char *run_dir, CkptMeta *meta, CkptTensor *t, int n, char *path_out,
                     size_t path_len, char *err, size_t err_len);

// Frees the strings ckpt_load allocated and clears them.
void ckpt_meta_free(CkptMeta *meta);

// `lemma inspect CKPT [--all] [--config]`: prints a summary of a checkpoint (rank 0).
// Exit status 0, or 2 with a message for a missing, unreadable or foreign file.
int ckpt_cmd_inspect(const Config *cfg, const char *input, int argc, char **argv);

#ifdef __cplusplus
}
#endif
#endif
