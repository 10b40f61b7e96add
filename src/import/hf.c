// import/hf: a Hugging Face model directory: config.json (LlamaForCausalLM, Qwen2ForCausalLM,
// MistralForCausalLM) into a ModelConfig, generation_config.json's ids, tokenizer_config.json's
// chat template, and the safetensors files (one, or shards named by
// model.safetensors.index.json) into the tensor table: header parsed, every range checked
// against the file.
#include "import_internal.h"
#include "lemma/util.h"

#include <cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

// A JSON file of the directory; NULL when absent (or, with required, -1 in *rc and err).
static cJSON *hf_json(const char *dir, const char *name, int required, int *rc, char *err,
                      size_t err_len) {
    char path[4200];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    char *text = lm_read_file(path, NULL);
    if (!text) {
        if (required) snprintf(err, err_len, "%s: cannot read it", path), *rc = -1;
        return NULL;
    }
    cJSON *j = cJSON_Parse(text);
    free(text);
    if (!j || !cJSON_IsObject(j)) {
        snprintf(err, err_len, "%s: not a JSON object", path);
        cJSON_Delete(j);
        *rc = -1;
        return NULL;
    }
    return j;
}

static const cJSON *hf_get(const cJSON *j, const char *key) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, key);
    return v && !cJSON_IsNull(v) ? v : NULL;
}

// An integer key (def when absent); -1 with err when present but not a number.
static int hf_int(const cJSON *j, const char *key, int def, int *ok, const char *file, char *err,
                  size_t err_len) {
    const cJSON *v = hf_get(j, key);
    if (!v) return def;
    if (!cJSON_IsNumber(v) || v->valuedouble != floor(v->valuedouble) || v->valuedouble < 0 ||
        v->valuedouble > 1e9) {
        snprintf(err, err_len, "%s: '%s' is not a non-negative integer", file, key);
        *ok = 0;
        return def;
    }
    return (int)v->valuedouble;
}

static double hf_num(const cJSON *j, const char *key, double def) {
    const cJSON *v = hf_get(j, key);
    return v && cJSON_IsNumber(v) ? v->valuedouble : def;
}

// A float key within float's range (NaN beyond it: refused by the checks that follow).
static float hf_float(const cJSON *j, const char *key, double def) {
    double v = hf_num(j, key, def);
    return v >= -3e38 && v <= 3e38 ? (float)v : NAN;
}

static int hf_bool(const cJSON *j, const char *key, int def) {
    const cJSON *v = hf_get(j, key);
    return v ? cJSON_IsTrue(v) : def;
}

// Ids of a key that is a number or a list of numbers (eos_token_id) into ids (at most cap).
static int hf_ids(const cJSON *j, const char *key, int *ids, int cap) {
    const cJSON *v = hf_get(j, key);
    int n = 0;
    if (v && cJSON_IsNumber(v)) ids[n++] = v->valueint;
    for (const cJSON *e = v && cJSON_IsArray(v) ? v->child : NULL; e && n < cap; e = e->next)
        if (cJSON_IsNumber(e)) ids[n++] = e->valueint;
    return n;
}

// rope_scaling: null or type "llama3" (anything else refused).
static int hf_rope_scaling(const cJSON *c, ModelConfig *mc, const char *file, char *err,
                           size_t err_len) {
    const cJSON *rs = hf_get(c, "rope_scaling");
    if (!rs) return 0;
    const cJSON *type = hf_get(rs, "rope_type");
    if (!type) type = hf_get(rs, "type");
    const char *t = cJSON_IsString(type) ? type->valuestring : "?";
    if (strcmp(t, "llama3") != 0) {
        snprintf(err, err_len, "%s: rope_scaling of type '%s' is not supported (only llama3)", file, t);
        return -1;
    }
    mc->rope_factor = hf_float(rs, "factor", 0);
    mc->rope_low_freq_factor = hf_float(rs, "low_freq_factor", 1);
    mc->rope_high_freq_factor = hf_float(rs, "high_freq_factor", 4);
    int ok = 1;
    mc->rope_orig_max_seq = hf_int(rs, "original_max_position_embeddings", 8192, &ok, file, err, err_len);
    if (!ok) return -1;
    if (!(mc->rope_factor > 0) || !(mc->rope_low_freq_factor > 0) ||
        !(mc->rope_high_freq_factor > mc->rope_low_freq_factor) || mc->rope_orig_max_seq <= 0) {
        snprintf(err, err_len, "%s: rope_scaling: factor and low_freq_factor must be > 0, "
                 "high_freq_factor > low_freq_factor, original_max_position_embeddings > 0", file);
        return -1;
    }
    return 0;
}

// What lemma's decoder does not compute (sliding windows, MLP bias, another activation).
static int hf_refuse(const cJSON *c, const ModelConfig *mc, const char *file, char *err,
                     size_t err_len) {
    const cJSON *act = hf_get(c, "hidden_act");
    if (act && (!cJSON_IsString(act) || strcmp(act->valuestring, "silu") != 0)) {
        snprintf(err, err_len, "%s: hidden_act '%s' is not supported (silu only)", file,
                 cJSON_IsString(act) ? act->valuestring : "?");
        return -1;
    }
    if (hf_bool(c, "mlp_bias", 0)) {
        snprintf(err, err_len, "%s: mlp_bias = true is not supported", file);
        return -1;
    }
    int ok = 1, sw = hf_int(c, "sliding_window", 0, &ok, file, err, err_len);
    if (!ok) return -1;
    int use_sw = hf_get(c, "use_sliding_window") ? hf_bool(c, "use_sliding_window", 0) : sw > 0;
    if (use_sw && sw > 0 && sw < mc->max_seq) {
        snprintf(err, err_len, "%s: sliding_window = %d (smaller than the context %d) is not "
                 "supported", file, sw, mc->max_seq);
        return -1;
    }
    return 0;
}

static int hf_config(ImportModel *im, const cJSON *c, const char *file, char *err, size_t err_len) {
    const cJSON *arch = hf_get(c, "architectures");
    const char *a = arch && cJSON_IsArray(arch) && cJSON_IsString(arch->child) ? arch->child->valuestring : "";
    int qwen = !strcmp(a, "Qwen2ForCausalLM");
    if (!qwen && strcmp(a, "LlamaForCausalLM") != 0 && strcmp(a, "MistralForCausalLM") != 0) {
        snprintf(err, err_len, "%s: architecture '%s' is not supported (LlamaForCausalLM, "
                 "Qwen2ForCausalLM, MistralForCausalLM)", file, a[0] ? a : "(none)");
        return -1;
    }
    snprintf(im->family, sizeof im->family, "%s", qwen ? "qwen2" : !strcmp(a, "MistralForCausalLM") ? "mistral" : "llama");
    ModelConfig *mc = &im->mc;
    int ok = 1;
    mc->vocab = hf_int(c, "vocab_size", 0, &ok, file, err, err_len);
    mc->dim = hf_int(c, "hidden_size", 0, &ok, file, err, err_len);
    mc->n_layers = hf_int(c, "num_hidden_layers", 0, &ok, file, err, err_len);
    mc->n_heads = hf_int(c, "num_attention_heads", 0, &ok, file, err, err_len);
    mc->n_kv_heads = hf_int(c, "num_key_value_heads", mc->n_heads, &ok, file, err, err_len);
    mc->ffn_dim = hf_int(c, "intermediate_size", 0, &ok, file, err, err_len);
    mc->max_seq = hf_int(c, "max_position_embeddings", 2048, &ok, file, err, err_len);
    if (!ok) return -1;
    const char *need[] = {"vocab_size", "hidden_size", "num_hidden_layers", "num_attention_heads",
                          "intermediate_size"};
    int got[] = {mc->vocab, mc->dim, mc->n_layers, mc->n_heads, mc->ffn_dim};
    for (int i = 0; i < 5; i++)
        if (got[i] <= 0) return imp_fail(err, err_len, "%s: '%s' is missing or 0", file, need[i]);
    mc->head_dim = hf_int(c, "head_dim", mc->dim / mc->n_heads, &ok, file, err, err_len);
    mc->rope_theta = hf_float(c, "rope_theta", 10000.0);
    mc->norm_eps = hf_float(c, "rms_norm_eps", 1e-6);
    mc->init_std = hf_float(c, "initializer_range", 0.02);
    mc->tied = hf_bool(c, "tie_word_embeddings", 0);
    mc->qkv_bias = qwen || hf_bool(c, "attention_bias", 0);
    int b[1];
    if (hf_ids(c, "bos_token_id", b, 1)) im->bos = b[0];
    im->n_eos = hf_ids(c, "eos_token_id", im->eos, 8);
    if (!ok || hf_rope_scaling(c, mc, file, err, err_len) != 0) return -1;
    return hf_refuse(c, mc, file, err, err_len);
}

static int hf_dtype(const char *s) {
    return !strcmp(s, "F32") ? GGML_F32 : !strcmp(s, "F16") ? GGML_F16 : !strcmp(s, "BF16") ? GGML_BF16 : -1;
}

// A non-negative integer of a header (a shape dimension, an offset); -1 when it is not one.
static double st_uint(const cJSON *v) {
    if (!cJSON_IsNumber(v) || v->valuedouble < 0 || v->valuedouble > 9e15 ||
        v->valuedouble != floor(v->valuedouble))
        return -1;
    return v->valuedouble;
}

// One tensor entry of a safetensors header, checked against the file.
static int st_tensor(ImportModel *im, int f, const cJSON *e, size_t data0, char *err, size_t err_len) {
    const char *path = im->files[f].path, *name = e->string;
    const cJSON *dt = cJSON_GetObjectItemCaseSensitive(e, "dtype");
    const cJSON *sh = cJSON_GetObjectItemCaseSensitive(e, "shape");
    const cJSON *off = cJSON_GetObjectItemCaseSensitive(e, "data_offsets");
    if (!cJSON_IsString(dt) || !cJSON_IsArray(sh) || !cJSON_IsArray(off) || cJSON_GetArraySize(off) != 2) {
        snprintf(err, err_len, "%s: tensor '%s': header entry needs dtype, shape, data_offsets", path, name);
        return -1;
    }
    int type = hf_dtype(dt->valuestring);
    int nd = cJSON_GetArraySize(sh);
    double o0 = st_uint(cJSON_GetArrayItem(off, 0)), o1 = st_uint(cJSON_GetArrayItem(off, 1));
    size_t avail = im->files[f].size - data0;
    if (nd > 4 || o0 < 0 || o1 < o0 || o1 > (double)avail) {
        snprintf(err, err_len, "%s: tensor '%s': data_offsets [%.0f, %.0f] lie outside the file "
                 "(%zu bytes of data; truncated?)", path, name, o0, o1, avail);
        return -1;
    }
    ImpTensor *t = imp_add_tensor(im);
    t->name = lm_strdup(name);
    t->type = type, t->ndim = nd, t->file = f;
    for (int i = 0; i < nd; i++) {
        double d = st_uint(cJSON_GetArrayItem(sh, i));
        t->shape[i] = d >= 0 && d <= (double)IMP_MAX_NUMEL ? (int64_t)d : -1;
    }
    int64_t n = imp_numel(t->shape, nd);
    t->data = im->files[f].base + data0 + (size_t)o0;
    t->nbytes = (size_t)(o1 - o0);
    if (n < 0) {
        snprintf(err, err_len, "%s: tensor '%s': the shape is not a list of sizes", path, name);
        return -1;
    }
    if (type >= 0 && imp_type_bytes(type, n) != t->nbytes) { // (other dtypes: refused if used)
        snprintf(err, err_len, "%s: tensor '%s': shape and dtype %s make %zu bytes, data_offsets "
                 "say %zu", path, name, dt->valuestring, imp_type_bytes(type, n), t->nbytes);
        return -1;
    }
    snprintf(t->type_name, sizeof t->type_name, "%s", dt->valuestring);
    return 0;
}

// A safetensors file: 8-byte little-endian header length, the JSON header, the data.
static int st_open(ImportModel *im, const char *path, char *err, size_t err_len) {
    int f = imp_map_file(im, path, err, err_len);
    if (f < 0) return -1;
    const ImpFile *file = &im->files[f];
    uint64_t hl = 0;
    for (int i = 0; i < 8 && file->size >= 8; i++) hl |= (uint64_t)file->base[i] << (8 * i);
    if (file->size < 8 || hl > file->size - 8 || hl > (1u << 30)) {
        snprintf(err, err_len, "%s: not a safetensors file (header length %llu, file %zu bytes)",
                 path, (unsigned long long)hl, file->size);
        return -1;
    }
    cJSON *h = cJSON_ParseWithLength((const char *)file->base + 8, (size_t)hl);
    if (!cJSON_IsObject(h)) {
        snprintf(err, err_len, "%s: the safetensors header is not a JSON object", path);
        cJSON_Delete(h);
        return -1;
    }
    int rc = 0, first = im->n_t;
    for (const cJSON *e = h->child; e && rc == 0; e = e->next)
        if (strcmp(e->string, "__metadata__") != 0) rc = st_tensor(im, f, e, 8 + (size_t)hl, err, err_len);
    cJSON_Delete(h);
    return rc == 0 ? imp_no_overlap(im, f, first, err, err_len) : rc;
}

// The shards of model.safetensors.index.json, each opened once.
static int st_open_index(ImportModel *im, const char *dir, const cJSON *idx, char *err, size_t err_len) {
    const cJSON *map = cJSON_GetObjectItemCaseSensitive(idx, "weight_map");
    if (!cJSON_IsObject(map)) {
        snprintf(err, err_len, "%s/model.safetensors.index.json: no weight_map", dir);
        return -1;
    }
    for (const cJSON *e = map->child; e; e = e->next) {
        if (!cJSON_IsString(e) || strchr(e->valuestring, '/')) {
            snprintf(err, err_len, "%s/model.safetensors.index.json: bad shard name for '%s'", dir, e->string);
            return -1;
        }
        char path[4200];
        snprintf(path, sizeof path, "%s/%s", dir, e->valuestring);
        int seen = 0;
        for (int i = 0; i < im->n_files; i++) seen |= strcmp(im->files[i].path, path) == 0;
        if (seen) continue;
        if (access(path, R_OK) != 0)
            return imp_fail(err, err_len, "%s: cannot open: %s (the shard of tensor '%s' in "
                            "model.safetensors.index.json)", path, strerror(errno), e->string);
        if (st_open(im, path, err, err_len) != 0) return -1;
    }
    return 0;
}

static int hf_weights(ImportModel *im, const char *dir, char *err, size_t err_len) {
    int rc = 0;
    cJSON *idx = hf_json(dir, "model.safetensors.index.json", 0, &rc, err, err_len);
    if (rc) return -1;
    if (idx) {
        rc = st_open_index(im, dir, idx, err, err_len);
        cJSON_Delete(idx);
        return rc;
    }
    char path[4200];
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    return st_open(im, path, err, err_len);
}

// generation_config.json's ids and tokenizer_config.json's chat template, when present.
static int hf_extras(ImportModel *im, const char *dir, char *err, size_t err_len) {
    int rc = 0;
    cJSON *g = hf_json(dir, "generation_config.json", 0, &rc, err, err_len);
    int ids[8], n;
    if (g && hf_ids(g, "bos_token_id", ids, 1)) im->bos = ids[0];
    if (g && (n = hf_ids(g, "eos_token_id", ids, 8)) > 0) memcpy(im->eos, ids, sizeof ids), im->n_eos = n;
    cJSON_Delete(g);
    cJSON *t = rc ? NULL : hf_json(dir, "tokenizer_config.json", 0, &rc, err, err_len);
    const cJSON *ct = t ? hf_get(t, "chat_template") : NULL;
    if (ct && cJSON_IsString(ct)) im->chat_template = lm_strdup(ct->valuestring);
    cJSON_Delete(t);
    return rc;
}

int imp_open_hf(ImportModel *im, const char *dir, char *err, size_t err_len) {
    im->dir = lm_strdup(dir);
    int rc = 0;
    char file[4200];
    snprintf(file, sizeof file, "%s/config.json", dir);
    cJSON *c = hf_json(dir, "config.json", 1, &rc, err, err_len);
    if (rc) return -1;
    rc = hf_config(im, c, file, err, err_len);
    cJSON_Delete(c);
    if (rc == 0) rc = hf_extras(im, dir, err, err_len);
    if (rc == 0) rc = hf_weights(im, dir, err, err_len);
    return rc;
}

void imp_hf_name(const char *view, char *buf, size_t len) {
    static const char *const map[][2] = {
        {"attn_norm", "input_layernorm.weight"}, {"mlp_norm", "post_attention_layernorm.weight"},
        {"attn.wq", "self_attn.q_proj.weight"},  {"attn.wk", "self_attn.k_proj.weight"},
        {"attn.wv", "self_attn.v_proj.weight"},  {"attn.wo", "self_attn.o_proj.weight"},
        {"attn.bq", "self_attn.q_proj.bias"},    {"attn.bk", "self_attn.k_proj.bias"},
        {"attn.bv", "self_attn.v_proj.bias"},    {"mlp.w1", "mlp.gate_proj.weight"},
        {"mlp.w3", "mlp.up_proj.weight"},        {"mlp.w2", "mlp.down_proj.weight"}};
    int layer;
    char leaf[64];
    if (sscanf(view, "layers.%d.%63s", &layer, leaf) == 2) {
        for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
            if (!strcmp(leaf, map[i][0])) {
                snprintf(buf, len, "model.layers.%d.%s", layer, map[i][1]);
                return;
            }
    }
    if (!strcmp(view, "tok_emb")) snprintf(buf, len, "model.embed_tokens.weight");
    else if (!strcmp(view, "norm")) snprintf(buf, len, "model.norm.weight");
    else if (!strcmp(view, "lm_head")) snprintf(buf, len, "lm_head.weight");
    else snprintf(buf, len, "%s", view);
}
