// import/import_internal.h: what the readers of the import module share: mapped files, the
// tensor table (each tensor as the file stores it), and the ImportModel itself.
#ifndef LEMMA_IMPORT_INTERNAL_H
#define LEMMA_IMPORT_INTERNAL_H

#include "lemma/import.h"

#include <stdint.h>

// ggml tensor types lemma converts (the numbers of the GGUF format).
enum { GGML_F32 = 0, GGML_F16 = 1, GGML_Q4_0 = 2, GGML_Q4_1 = 3, GGML_Q8_0 = 8, GGML_BF16 = 30 };

typedef struct {
    char *path;
    const unsigned char *base; // read-only mapping of the whole file
    size_t size;
} ImpFile;

typedef struct {
    char *name;                // as the file names it
    int type;                  // a GGML_* type (safetensors F32/F16/BF16 map onto them); -1:
    char type_name[16];        // one lemma does not convert (refused when needed), by name
    int ndim;
    int64_t shape[4];          // row-major, outermost first (GGUF's ne reversed)
    const unsigned char *data; // inside the mapping
    size_t nbytes;
    int file;                  // index into files
} ImpTensor;

// A GGUF metadata value (arrays point into the mapping).
typedef struct {
    char *key;
    uint32_t type;             // GGUF value type
    uint32_t arr_type;         // element type of an array
    uint64_t n;                // array length
    const unsigned char *data; // the value (scalar) or the first element (array)
} ImpKV;

struct ImportModel {
    char *path, *dir;          // dir: the Hugging Face directory, NULL for GGUF
    int gguf, permute_qk;      // permute_qk: llama.cpp's q/k row order (GGUF llama)
    char family[16];           // "llama", "qwen2" or "mistral"
    ModelConfig mc;
    int bos, n_eos, eos[8];
    char *chat_template;
    ImpFile *files;
    int n_files;
    ImpTensor *t;
    int n_t, cap_t;
    ImpKV *kv;                 // GGUF metadata
    int n_kv;
    // GGUF tokenizer arrays (copies, NUL-terminated)
    char **tok_tokens, **tok_merges;
    float *tok_scores;
    int *tok_types;
    int tok_n, tok_n_merges;
    char tok_pre[64];          // tokenizer.ggml.pre
};

// Writes the message into err; returns -1.
int imp_fail(char *err, size_t err_len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
int imp_map_file(ImportModel *im, const char *path, char *err, size_t err_len);
ImpTensor *imp_add_tensor(ImportModel *im);
// The tensors first .. n_t - 1 (all of file f) must not share bytes; 0 or -1 with err.
int imp_no_overlap(const ImportModel *im, int f, int first, char *err, size_t err_len);
const ImpTensor *imp_find(const ImportModel *im, const char *name);
const char *imp_type_name(int type);
// Elements of a shape; -1 when a dimension is negative or the count beyond IMP_MAX_NUMEL.
#define IMP_MAX_NUMEL ((int64_t)1 << 44)
int64_t imp_numel(const int64_t *shape, int ndim);
// Bytes of n elements of a type (n a multiple of the block for quantized ones).
size_t imp_type_bytes(int type, int64_t n);

int imp_open_hf(ImportModel *im, const char *dir, char *err, size_t err_len);
int imp_open_gguf(ImportModel *im, const char *path, char *err, size_t err_len);
// The file's name of lemma's tensor `view` ("layers.3.attn.wq" -> "model.layers.3.self_attn.
// q_proj.weight" or "blk.3.attn_q.weight"), into buf.
void imp_hf_name(const char *view, char *buf, size_t len);
void imp_gguf_name(const char *view, char *buf, size_t len);

#endif
