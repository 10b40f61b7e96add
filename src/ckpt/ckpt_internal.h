// ckpt_internal: what the files of src/ckpt share. The run directory side (listing, the
// latest pointer, publishing and pruning; dir.c) is plain POSIX and always built; the HDF5
// side (status and error messages, property lists, hyperslabs, attributes; h5.c) only with
// LEMMA_HDF5.
#ifndef LEMMA_CKPT_INTERNAL_H
#define LEMMA_CKPT_INTERNAL_H

#include "lemma/ckpt.h"

#include <stddef.h>
#include <stdint.h>

// ---------------------------------------------------------------------------
// The checkpoint directory (dir.c).

typedef struct {
    long step;
    char name[64]; // "step_00001234.h5"
} CkptEntry;

// RUN_DIR/ckpt/NAME into buf (NAME may be ""); -1 when it does not fit.
int ckpt_path(char *buf, size_t len, const char *run_dir, const char *name);
// The step_*.h5 files of RUN_DIR/ckpt, newest first, in a malloc'd array (NULL when none);
// returns the count (0 when the directory does not exist).
int ckpt_list(const char *run_dir, CkptEntry **out);
// The checkpoints to try when resuming, best first: the one `latest` names, then those with
// a lower step, newest first (all of them, newest first, without a valid `latest`). A
// malloc'd array of malloc'd paths; returns the count.
int ckpt_candidates(const char *run_dir, char ***out);
// Creates RUN_DIR/ckpt (and RUN_DIR) when missing; 0, or -1 with msg.
int ckpt_make_dir(const char *run_dir, char *msg, size_t len);
// Rank 0, after the collective write of TMP: fsync it, rename it to step_%08ld.h5, point
// `latest` at it (write latest.tmp, fsync, rename), then prune to `keep`. 0, or -1 with msg.
int ckpt_publish(const char *run_dir, const char *tmp, long step, int keep, char *msg,
                 size_t len);

#if LEMMA_HDF5
#include <hdf5.h>

// ---------------------------------------------------------------------------
// Status of a collective operation on one file (h5.c). The first error on a rank is kept;
// ckpt_agree makes every rank share the first failing rank's message.

typedef struct {
    const char *path; // the file, named in every message
    int failed;
    int mismatch;     // the failure is a shape mismatch (the file itself is fine)
    char msg[4096];
} CkptStatus;

// Checks an HDF5 call (negative = failure): records "PATH: HDF5's reason (call at file:line)"
// in st unless an error is already recorded, clears HDF5's error stack, and yields the call's
// value, so that `hid_t d = H5_CHECK(st, H5Dopen2(...));` reads straight on.
#define H5_CHECK(st, call) ckpt_h5_check((st), (int64_t)(call), #call, __FILE__, __LINE__)
int64_t ckpt_h5_check(CkptStatus *st, int64_t rc, const char *call, const char *file, int line);
// Records "PATH: message" unless an error is already recorded.
void ckpt_fail(CkptStatus *st, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
// Collective: 0 when no rank failed; else -1 on every rank, each with the message (and the
// mismatch flag) of the lowest failing rank.
int ckpt_agree(CkptStatus *st);
// Turns off HDF5's printing of its error stack (we report errors ourselves).
void ckpt_h5_quiet(void);

// File access: MPI-IO over MPI_COMM_WORLD with collective metadata (parallel) or the default
// POSIX driver (serial, for inspect); file locking ignored where the file system lacks it.
hid_t ckpt_fapl(CkptStatus *st, int parallel);
// Dataset transfer with collective MPI-IO.
hid_t ckpt_dxpl(CkptStatus *st);
// Selects the flat element range [lo, hi) of a row-major dataspace of ndim (1 or 2) dims:
// up to three hyperslabs OR-ed together; none when the range is empty.
void ckpt_select_range(CkptStatus *st, hid_t space, int ndim, const hsize_t *dims, size_t lo,
                       size_t hi);
// A 1-D memory dataspace of count floats (everything selected; nothing when count is 0).
hid_t ckpt_mem_space(CkptStatus *st, size_t count);

void ckpt_attr_put_i64(CkptStatus *st, hid_t obj, const char *name, int64_t v);
void ckpt_attr_put_u64(CkptStatus *st, hid_t obj, const char *name, uint64_t v);
void ckpt_attr_put_str(CkptStatus *st, hid_t obj, const char *name, const char *s);
// Attribute NAME of the object at OBJ_PATH (relative to loc). Missing: 0 (not an error).
// Found: 1 (strings malloc'd). Unreadable or of the wrong kind: -1 with st recorded.
int ckpt_attr_get_i64(CkptStatus *st, hid_t loc, const char *obj_path, const char *name,
                      int64_t *v);
int ckpt_attr_get_u64(CkptStatus *st, hid_t loc, const char *obj_path, const char *name,
                      uint64_t *v);
int ckpt_attr_get_str(CkptStatus *st, hid_t loc, const char *obj_path, const char *name,
                      char **s);
// 1 when every component of PATH exists as a link in loc, 0 when one is missing.
int ckpt_h5_exists(CkptStatus *st, hid_t loc, const char *path);
// Reads the saved meta (strings malloc'd); every field is required.
void ckpt_read_meta(CkptStatus *st, hid_t f, CkptMeta *meta);

// Order-independent checksum of elements lo.. of a tensor: sum over i of mix(i, bits of x_i)
// modulo 2^64, so partial sums of any split add up to the whole tensor's (docs/checkpoints.md).
uint64_t ckpt_checksum(size_t lo, const float *x, size_t count);
size_t ckpt_numel(const CkptTensor *t);
// Checks the tensors this rank passed: a known group, a name without '/', 1 or 2 positive
// dims, lo <= hi <= numel, data when the range is not empty.
void ckpt_check_tensors(CkptStatus *st, const CkptTensor *t, int n);
// Broadcasts a malloc'd string from root (other ranks get a malloc'd copy; NULL stays NULL).
void ckpt_bcast_str(char **s, int root);
#endif

#endif
