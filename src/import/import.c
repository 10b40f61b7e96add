// import/import: opening an import (a Hugging Face directory or a GGUF file), the mapped
// files and tensor table, the fp16/bf16 conversions and GGUF block dequantization, and the
// conversion of the file's tensors into lemma's parameter layout.
#include "import_internal.h"
#include "lemma/util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

int imp_fail(char *err, size_t err_len, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, err_len, fmt, ap);
    va_end(ap);
    return -1;
}

int imp_map_file(ImportModel *im, const char *path, char *err, size_t err_len) {
    int fd = open(path, O_RDONLY);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0) {
        snprintf(err, err_len, "%s: cannot open: %s", path, strerror(errno));
        if (fd >= 0) close(fd);
        return -1;
    }
    void *base = st.st_size > 0 ? mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0)
                                : MAP_FAILED;
    close(fd);
    if (base == MAP_FAILED) {
        snprintf(err, err_len, "%s: cannot map (%s)", path,
                 st.st_size > 0 ? strerror(errno) : "the file is empty");
        return -1;
    }
    im->files = lm_realloc(im->files, (size_t)(im->n_files + 1) * sizeof(ImpFile));
    im->files[im->n_files++] = (ImpFile){lm_strdup(path), base, (size_t)st.st_size};
    return im->n_files - 1;
}

ImpTensor *imp_add_tensor(ImportModel *im) {
    if (im->n_t == im->cap_t) {
        im->cap_t = im->cap_t ? 2 * im->cap_t : 256;
        im->t = lm_realloc(im->t, (size_t)im->cap_t * sizeof(ImpTensor));
    }
    ImpTensor *t = &im->t[im->n_t++];
    memset(t, 0, sizeof *t);
    return t;
}

const ImpTensor *imp_find(const ImportModel *im, const char *name) {
    for (int i = 0; i < im->n_t; i++)
        if (strcmp(im->t[i].name, name) == 0) return &im->t[i];
    return NULL;
}

const char *imp_type_name(int type) {
    static const char *names[] = {"F32", "F16", "Q4_0", "Q4_1", "Q4_2", "Q4_3", "Q5_0", "Q5_1",
                                  "Q8_0", "Q8_1", "Q2_K", "Q3_K", "Q4_K", "Q5_K", "Q6_K",
                                  "Q8_K", "IQ2_XXS", "IQ2_XS", "IQ3_XXS", "IQ1_S", "IQ4_NL",
                                  "IQ3_S", "IQ2_S", "IQ4_XS", "I8", "I16", "I32", "I64", "F64",
                                  "IQ1_M", "BF16"};
    return type >= 0 && type < (int)(sizeof names / sizeof names[0]) ? names[type] : "unknown";
}

int64_t imp_numel(const int64_t *shape, int ndim) {
    int64_t n = 1;
    for (int d = 0; d < ndim; d++) {
        if (shape[d] < 0 || shape[d] > IMP_MAX_NUMEL) return -1;
        if (shape[d] == 0) return 0;
        if (n > IMP_MAX_NUMEL / shape[d]) return -1;
        n *= shape[d];
    }
    return n;
}

size_t imp_type_bytes(int type, int64_t n) {
    switch (type) {
    case GGML_F32: return (size_t)n * 4;
    case GGML_F16:
    case GGML_BF16: return (size_t)n * 2;
    case GGML_Q8_0: return (size_t)(n / 32) * 34;
    case GGML_Q4_0: return (size_t)(n / 32) * 18;
    case GGML_Q4_1: return (size_t)(n / 32) * 20;
    default: return 0;
    }
}

static int imp_cmp_data(const void *a, const void *b) {
    const ImpTensor *x = *(const ImpTensor *const *)a, *y = *(const ImpTensor *const *)b;
    return x->data < y->data ? -1 : x->data > y->data;
}

// The tensors of file f (entries first .. n_t) must not share bytes.
int imp_no_overlap(const ImportModel *im, int f, int first, char *err, size_t err_len) {
    int n = im->n_t - first, rc = 0;
    const ImpTensor **by = lm_malloc((size_t)(n + 1) * sizeof *by);
    for (int i = 0; i < n; i++) by[i] = &im->t[first + i];
    qsort(by, (size_t)n, sizeof *by, imp_cmp_data);
    const ImpTensor *last = NULL; // of the bytes seen so far, the one that ends last
    for (int i = 0; i < n && rc == 0; i++) {
        if (!by[i]->nbytes) continue;
        if (last && last->data + last->nbytes > by[i]->data)
            rc = imp_fail(err, err_len, "%s: tensors '%s' and '%s' overlap",
                          im->files[f].path, last->name, by[i]->name);
        if (!last || by[i]->data + by[i]->nbytes > last->data + last->nbytes) last = by[i];
    }
    free(by);
    return rc;
}

float import_f16_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000) << 16, e = (h >> 10) & 0x1f, m = h & 0x3ff, bits;
    if (e == 0x1f) {
        bits = sign | 0x7f800000u | (m << 13); // inf, nan (payload kept)
    } else if (e != 0) {
        bits = sign | ((e + 112) << 23) | (m << 13);
    } else if (m == 0) {
        bits = sign;
    } else { // subnormal: normalise
        e = 113;
        while (!(m & 0x400)) m <<= 1, e--;
        bits = sign | (e << 23) | ((m & 0x3ff) << 13);
    }
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

float import_bf16_to_f32(uint16_t h) {
    uint32_t bits = (uint32_t)h << 16;
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

static uint16_t rd16(const unsigned char *p) { return (uint16_t)(p[0] | p[1] << 8); }

void import_dequant_block(int type, const unsigned char *b, float *out) {
    float d = import_f16_to_f32(rd16(b));
    if (type == GGML_Q8_0) {
        for (int j = 0; j < 32; j++) out[j] = (float)(int8_t)b[2 + j] * d;
    } else if (type == GGML_Q4_0) {
        for (int j = 0; j < 16; j++) {
            out[j] = (float)((b[2 + j] & 0xf) - 8) * d;
            out[j + 16] = (float)((b[2 + j] >> 4) - 8) * d;
        }
    } else { // Q4_1
        float m = import_f16_to_f32(rd16(b + 2));
        for (int j = 0; j < 16; j++) {
            out[j] = (float)(b[4 + j] & 0xf) * d + m;
            out[j + 16] = (float)(b[4 + j] >> 4) * d + m;
        }
    }
}

// Elements [c0, c0 + n) of row `row` of t (cols elements a row) as fp32 into out (c0 and n
// multiples of 32 for quantized types: whole rows are converted).
static void imp_convert_row(const ImpTensor *t, int64_t row, int64_t cols, float *out) {
    const unsigned char *p = t->data + imp_type_bytes(t->type, row * cols);
    switch (t->type) {
    case GGML_F32: memcpy(out, p, (size_t)cols * 4); break;
    case GGML_F16:
        for (int64_t j = 0; j < cols; j++) out[j] = import_f16_to_f32(rd16(p + 2 * j));
        break;
    case GGML_BF16:
        for (int64_t j = 0; j < cols; j++) out[j] = import_bf16_to_f32(rd16(p + 2 * j));
        break;
    default: {
        size_t bb = imp_type_bytes(t->type, 32);
        for (int64_t j = 0; j < cols; j += 32) import_dequant_block(t->type, p + (j / 32) * bb, out + j);
    }
    }
}

// The file row holding lemma's row r of a q or k weight (or bias) in llama.cpp's order:
// within each head of hd rows, HF row s * hd/2 + j is stored at 2 j + s.
static int64_t imp_qk_row(int64_t r, int hd) {
    int64_t h = r / hd, i = r % hd, half = hd / 2;
    return h * hd + 2 * (i % half) + i / half;
}

static int imp_is_qk(const char *view) {
    return strstr(view, "attn.wq") || strstr(view, "attn.wk") || strstr(view, "attn.bq") ||
           strstr(view, "attn.bk");
}

// The file's tensor of a view, checked against the view's shape; NULL with err.
static const ImpTensor *imp_tensor_of(const ImportModel *im, const ParamView *v, char *err,
                                      size_t err_len) {
    char name[160];
    if (im->gguf) imp_gguf_name(v->name, name, sizeof name);
    else imp_hf_name(v->name, name, sizeof name);
    const ImpTensor *t = imp_find(im, name);
    if (!t) {
        snprintf(err, err_len, "%s: tensor '%s' (lemma's %s) is missing", im->path, name, v->name);
        return NULL;
    }
    if (imp_type_bytes(t->type, 32) == 0) {
        snprintf(err, err_len, "%s: tensor '%s' is of type %s, which lemma does not convert "
                 "(F32, F16, BF16%s)", im->files[t->file].path, name, t->type_name,
                 im->gguf ? ", Q8_0, Q4_0, Q4_1" : "");
        return NULL;
    }
    int64_t rows = v->shape[0], cols = v->ndim == 2 ? v->shape[1] : 1;
    int64_t trows = t->shape[0], tcols = t->ndim == 2 ? t->shape[1] : 1;
    int ok = (t->ndim == v->ndim || (t->ndim == 1 && v->ndim == 1)) && trows == rows && tcols == cols;
    if (!ok) {
        snprintf(err, err_len, "%s: tensor '%s' has shape [%lld, %lld], lemma's %s needs [%lld, "
                 "%lld] (config and weights disagree)", im->files[t->file].path, name,
                 (long long)trows, (long long)tcols, v->name, (long long)rows, (long long)cols);
        return NULL;
    }
    return t;
}

// View v's elements [a, b) (offsets within the view) into dst.
static void imp_convert_view(const ImportModel *im, const ImpTensor *t, const ParamView *v,
                             size_t a, size_t b, float *dst) {
    int permute = im->permute_qk && imp_is_qk(v->name), hd = im->mc.head_dim;
    if (v->ndim == 1) { // norms and biases: one row; q/k biases permuted like their rows
        float *all = lm_malloc(v->numel * sizeof(float));
        imp_convert_row(t, 0, (int64_t)v->numel, all);
        for (size_t k = a; k < b; k++) dst[k - a] = all[permute ? imp_qk_row((int64_t)k, hd) : (int64_t)k];
        free(all);
        return;
    }
    int64_t cols = v->shape[1];
    int64_t r0 = (int64_t)(a / (size_t)cols), r1 = (int64_t)((b + (size_t)cols - 1) / (size_t)cols);
#pragma omp parallel
    {
        float *row = lm_malloc((size_t)cols * sizeof(float));
#pragma omp for schedule(static)
        for (int64_t r = r0; r < r1; r++) {
            imp_convert_row(t, permute ? imp_qk_row(r, hd) : r, cols, row);
            size_t lo = (size_t)(r * cols), hi = lo + (size_t)cols;
            size_t c0 = lo > a ? lo : a, c1 = hi < b ? hi : b;
            memcpy(dst + (c0 - a), row + (c0 - lo), (c1 - c0) * sizeof(float));
        }
        free(row);
    }
}

// A bias in the file that lemma's model has no place for (an output projection's or the
// MLP's): ignoring it would compute another function, so it is refused.
static int imp_refuse_biases(const ImportModel *im, const ParamLayout *pl, char *err,
                             size_t err_len) {
    char name[160];
    for (int i = 0; i < im->n_t; i++) {
        const char *n = im->t[i].name;
        size_t len = strlen(n);
        if (len < 5 || strcmp(n + len - 5, ".bias") != 0) continue;
        int known = 0;
        for (int v = 0; v < pl->n_views && !known; v++) {
            if (im->gguf) imp_gguf_name(pl->views[v].name, name, sizeof name);
            else imp_hf_name(pl->views[v].name, name, sizeof name);
            known = strcmp(name, n) == 0;
        }
        if (!known)
            return imp_fail(err, err_len, "%s: tensor '%s': lemma's model has no such bias "
                            "(only q/k/v biases)", im->files[im->t[i].file].path, n);
    }
    return 0;
}

// Every tensor of the layout present with its shape and a type lemma converts, and no bias
// lemma would drop: checked at open, before anyone allocates for the model.
static int imp_check_tensors(const ImportModel *im, char *err, size_t err_len) {
    ParamLayout pl;
    param_layout_build(&pl, &im->mc);
    int rc = imp_refuse_biases(im, &pl, err, err_len);
    for (int i = 0; i < pl.n_views && rc == 0; i++)
        if (!imp_tensor_of(im, &pl.views[i], err, err_len)) rc = -1;
    param_layout_free(&pl);
    return rc;
}

// Sizes a layout can be built from (positive, bounded) before model_config_check divides.
static int imp_check_sizes(const ModelConfig *mc, char *err, size_t err_len) {
    const char *names[] = {"vocab", "dim", "n_layers", "n_heads", "n_kv_heads", "head_dim",
                           "ffn_dim"};
    int vals[] = {mc->vocab, mc->dim, mc->n_layers, mc->n_heads, mc->n_kv_heads, mc->head_dim,
                  mc->ffn_dim};
    int max[] = {1 << 24, 1 << 20, 1 << 12, 1 << 12, 1 << 12, 1 << 12, 1 << 22};
    for (int i = 0; i < 7; i++)
        if (vals[i] <= 0 || vals[i] > max[i])
            return imp_fail(err, err_len, "%s = %d is out of range (1 .. %d)", names[i], vals[i],
                            max[i]);
    if ((int64_t)mc->n_heads * mc->head_dim > (1 << 20))
        return imp_fail(err, err_len, "n_heads x head_dim = %lld is out of range",
                        (long long)mc->n_heads * mc->head_dim);
    if (!(mc->rope_theta > 0) || !(mc->norm_eps > 0) || mc->rope_theta > 1e30f)
        return imp_fail(err, err_len, "rope_theta = %g, norm_eps = %g: both must be positive",
                        mc->rope_theta, mc->norm_eps);
    return 0;
}

int import_read_params(ImportModel *im, const ParamLayout *pl, float *host, size_t lo,
                       size_t hi, char *err, size_t err_len) {
    for (int i = 0; i < pl->n_views; i++) {
        const ParamView *v = &pl->views[i];
        size_t a = v->offset > lo ? v->offset : lo, b = v->offset + v->numel;
        b = b < hi ? b : hi;
        if (b <= a) continue;
        const ImpTensor *t = imp_tensor_of(im, v, err, err_len);
        if (!t) return -1;
        imp_convert_view(im, t, v, a - v->offset, b - v->offset, host + (a - lo));
    }
    return 0;
}

int import_open(ImportModel **out, const char *path, char *err, size_t err_len) {
    ImportModel *im = lm_calloc(1, sizeof *im);
    im->path = lm_strdup(path);
    im->bos = -1;
    struct stat st;
    int rc;
    if (stat(path, &st) != 0) {
        snprintf(err, err_len, "%s: %s", path, strerror(errno));
        rc = -1;
    } else if (S_ISDIR(st.st_mode)) {
        rc = imp_open_hf(im, path, err, err_len);
    } else {
        rc = imp_open_gguf(im, path, err, err_len);
    }
    if (rc == 0) {
        char why[512];
        if (imp_check_sizes(&im->mc, why, sizeof why) != 0 ||
            model_config_check(&im->mc, why, sizeof why) != 0) {
            snprintf(err, err_len, "%s: %s", path, why);
            rc = -1;
        }
    }
    if (rc == 0) rc = imp_check_tensors(im, err, err_len);
    if (rc != 0) {
        import_close(im);
        im = NULL;
    }
    *out = im;
    return rc;
}

void import_close(ImportModel *im) {
    if (!im) return;
    for (int i = 0; i < im->n_files; i++) {
        munmap((void *)im->files[i].base, im->files[i].size);
        free(im->files[i].path);
    }
    for (int i = 0; i < im->n_t; i++) free(im->t[i].name);
    for (int i = 0; i < im->n_kv; i++) free(im->kv[i].key);
    for (int i = 0; i < im->tok_n; i++) free(im->tok_tokens[i]);
    for (int i = 0; i < im->tok_n_merges; i++) free(im->tok_merges[i]);
    free(im->tok_tokens), free(im->tok_merges), free(im->tok_scores), free(im->tok_types);
    free(im->files), free(im->t), free(im->kv);
    free(im->path), free(im->dir), free(im->chat_template);
    free(im);
}

const ModelConfig *import_config(const ImportModel *im) { return &im->mc; }
const char *import_format(const ImportModel *im) { return im->gguf ? "gguf" : "hf"; }
const char *import_path(const ImportModel *im) { return im->path; }

size_t import_file_bytes(const ImportModel *im) {
    size_t sum = 0;
    for (int i = 0; i < im->n_files; i++) sum += im->files[i].size;
    return sum;
}
const char *import_dir(const ImportModel *im) { return im->dir; }
const char *import_family(const ImportModel *im) { return im->family; }
int import_bos(const ImportModel *im) { return im->bos; }
int import_n_eos(const ImportModel *im) { return im->n_eos; }
const int *import_eos(const ImportModel *im) { return im->eos; }
const char *import_chat_template(const ImportModel *im) { return im->chat_template; }
