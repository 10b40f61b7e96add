// export/hf: a Hugging Face model directory: config.json written from the architecture (the
// family's class: LlamaForCausalLM, Qwen2ForCausalLM, MistralForCausalLM), model.safetensors
// (8-byte header length, a JSON header of names, dtypes, shapes and data offsets, the data;
// tensors named as transformers names them), generation_config.json, and the source's
// tokenizer files copied.
#include "lemma/backend.h"
#include "lemma/export.h"
#include "lemma/util.h"

#include <cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *export_family(const ModelConfig *mc, const char *source_family) {
    if (source_family && source_family[0]) return source_family;
    return mc->qkv_bias ? "qwen2" : "llama";
}

static const char *hf_class(const char *family) {
    return !strcmp(family, "qwen2") ? "Qwen2ForCausalLM"
         : !strcmp(family, "mistral") ? "MistralForCausalLM" : "LlamaForCausalLM";
}

// lemma's tensor name as transformers names it.
static void hf_name(const char *view, char *buf, size_t len) {
    static const char *const map[][2] = {
        {"attn_norm", "input_layernorm.weight"}, {"mlp_norm", "post_attention_layernorm.weight"},
        {"attn.wq", "self_attn.q_proj.weight"},  {"attn.wk", "self_attn.k_proj.weight"},
        {"attn.wv", "self_attn.v_proj.weight"},  {"attn.wo", "self_attn.o_proj.weight"},
        {"attn.bq", "self_attn.q_proj.bias"},    {"attn.bk", "self_attn.k_proj.bias"},
        {"attn.bv", "self_attn.v_proj.bias"},    {"mlp.w1", "mlp.gate_proj.weight"},
        {"mlp.w3", "mlp.up_proj.weight"},        {"mlp.w2", "mlp.down_proj.weight"}};
    int layer;
    char leaf[64];
    if (sscanf(view, "layers.%d.%63s", &layer, leaf) == 2)
        for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
            if (!strcmp(leaf, map[i][0])) {
                snprintf(buf, len, "model.layers.%d.%s", layer, map[i][1]);
                return;
            }
    snprintf(buf, len, "%s", !strcmp(view, "tok_emb") ? "model.embed_tokens.weight"
                             : !strcmp(view, "norm") ? "model.norm.weight" : "lm_head.weight");
}

// The shortest decimal that reads back as f (1e-06, not 9.99999997e-07), as a double.
static double f32_decimal(float f) {
    char buf[32];
    for (int p = 6; p < 9; p++) {
        snprintf(buf, sizeof buf, "%.*g", p, (double)f);
        if ((float)strtod(buf, NULL) == f) return strtod(buf, NULL);
    }
    return (double)f;
}

static void add_ids(cJSON *j, const char *key, const int *ids, int n) {
    if (n == 1) cJSON_AddNumberToObject(j, key, ids[0]);
    else if (n > 1) cJSON_AddItemToObject(j, key, cJSON_CreateIntArray(ids, n));
}

static cJSON *hf_config(const ModelConfig *mc, const ExportInfo *x) {
    cJSON *c = cJSON_CreateObject();
    const char *fam = export_family(mc, x->family);
    cJSON *arch = cJSON_AddArrayToObject(c, "architectures");
    cJSON_AddItemToArray(arch, cJSON_CreateString(hf_class(fam)));
    cJSON_AddStringToObject(c, "model_type", fam);
    cJSON_AddNumberToObject(c, "vocab_size", mc->vocab);
    cJSON_AddNumberToObject(c, "hidden_size", mc->dim);
    cJSON_AddNumberToObject(c, "intermediate_size", mc->ffn_dim);
    cJSON_AddNumberToObject(c, "num_hidden_layers", mc->n_layers);
    cJSON_AddNumberToObject(c, "num_attention_heads", mc->n_heads);
    cJSON_AddNumberToObject(c, "num_key_value_heads", mc->n_kv_heads);
    cJSON_AddNumberToObject(c, "head_dim", mc->head_dim);
    cJSON_AddNumberToObject(c, "max_position_embeddings", mc->max_seq);
    cJSON_AddNumberToObject(c, "rms_norm_eps", f32_decimal(mc->norm_eps));
    cJSON_AddNumberToObject(c, "rope_theta", f32_decimal(mc->rope_theta));
    cJSON_AddBoolToObject(c, "tie_word_embeddings", mc->tied);
    cJSON_AddStringToObject(c, "hidden_act", "silu");
    cJSON_AddStringToObject(c, "torch_dtype", x->type == EXPORT_F32 ? "float32" : "bfloat16");
    if (!strcmp(fam, "llama")) cJSON_AddBoolToObject(c, "attention_bias", 0);
    if (!strcmp(fam, "qwen2")) cJSON_AddBoolToObject(c, "use_sliding_window", 0);
    if (!strcmp(fam, "mistral")) cJSON_AddNullToObject(c, "sliding_window");
    if (mc->rope_factor > 0) {
        cJSON *rs = cJSON_AddObjectToObject(c, "rope_scaling");
        cJSON_AddStringToObject(rs, "rope_type", "llama3");
        cJSON_AddNumberToObject(rs, "factor", f32_decimal(mc->rope_factor));
        cJSON_AddNumberToObject(rs, "low_freq_factor", f32_decimal(mc->rope_low_freq_factor));
        cJSON_AddNumberToObject(rs, "high_freq_factor", f32_decimal(mc->rope_high_freq_factor));
        cJSON_AddNumberToObject(rs, "original_max_position_embeddings", mc->rope_orig_max_seq);
    }
    if (x->bos >= 0) cJSON_AddNumberToObject(c, "bos_token_id", x->bos);
    add_ids(c, "eos_token_id", x->eos, x->n_eos);
    return c;
}

// The header of model.safetensors; *data_bytes gets the size of the data that follows.
static char *st_header(const ParamLayout *pl, const ModelConfig *mc, int es, size_t *data_bytes) {
    cJSON *h = cJSON_CreateObject();
    cJSON *meta = cJSON_AddObjectToObject(h, "__metadata__");
    cJSON_AddStringToObject(meta, "format", "pt");
    size_t off = 0;
    for (int i = 0; i < pl->n_views; i++) {
        const ParamView *v = &pl->views[i];
        if (mc->tied && !strcmp(v->name, "lm_head")) continue;
        char name[128];
        hf_name(v->name, name, sizeof name);
        cJSON *e = cJSON_AddObjectToObject(h, name);
        cJSON_AddStringToObject(e, "dtype", es == 4 ? "F32" : "BF16");
        int shape[2] = {v->shape[0], v->shape[1]};
        cJSON_AddItemToObject(e, "shape", cJSON_CreateIntArray(shape, v->ndim));
        double offs[2] = {(double)off, (double)(off + v->numel * (size_t)es)};
        cJSON_AddItemToObject(e, "data_offsets", cJSON_CreateDoubleArray(offs, 2));
        off += v->numel * (size_t)es;
    }
    char *text = cJSON_PrintUnformatted(h);
    cJSON_Delete(h);
    *data_bytes = off;
    return text;
}

// model.safetensors: the views in layout order (the header's offsets follow that order).
static int st_write(const char *path, const ParamLayout *pl, const ModelConfig *mc,
                    const float *params, int es, char *err, size_t err_len) {
    size_t data;
    char *hdr = st_header(pl, mc, es, &data);
    size_t hl = strlen(hdr), pad = (8 - hl % 8) % 8; // data 8-byte aligned, header padded
    FILE *f = fopen(path, "wb");
    if (!f) {
        free(hdr);
        snprintf(err, err_len, "%s: cannot write: %s", path, strerror(errno));
        return -1;
    }
    uint64_t n = hl + pad;
    int ok = fwrite(&n, 8, 1, f) == 1 && fwrite(hdr, 1, hl, f) == hl && fwrite("        ", 1, pad, f) == pad;
    uint16_t *buf = lm_malloc(1 << 20);
    for (int i = 0; i < pl->n_views && ok; i++) {
        const ParamView *v = &pl->views[i];
        if (mc->tied && !strcmp(v->name, "lm_head")) continue;
        const float *p = params + v->offset;
        if (es == 4) {
            ok = fwrite(p, 4, v->numel, f) == v->numel;
            continue;
        }
        for (size_t j = 0; j < v->numel && ok; j += (1 << 19)) {
            size_t k = v->numel - j < (1 << 19) ? v->numel - j : (1 << 19);
            for (size_t t = 0; t < k; t++) buf[t] = lm_f32_to_bf16(p[j + t]);
            ok = fwrite(buf, 2, k, f) == k;
        }
    }
    free(buf);
    free(hdr);
    ok = fclose(f) == 0 && ok;
    if (!ok) snprintf(err, err_len, "%s: write failed: %s", path, strerror(errno));
    return ok ? 0 : -1;
}

static int write_json(const char *dir, const char *name, cJSON *j, char *err, size_t err_len) {
    char path[4200];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    int rc = lm_json_write_file(path, j, err, err_len);
    cJSON_Delete(j);
    return rc;
}

// The source's tokenizer files (those it has), byte for byte.
static int copy_tokenizer(const char *src, const char *dir, char *err, size_t err_len) {
    static const char *const files[] = {"tokenizer.json", "tokenizer_config.json",
                                        "special_tokens_map.json", "tokenizer.model"};
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        char a[4200], b[4200];
        snprintf(a, sizeof a, "%s/%s", src, files[i]);
        snprintf(b, sizeof b, "%s/%s", dir, files[i]);
        size_t n;
        char *data = lm_read_file(a, &n);
        if (!data) continue;
        FILE *f = fopen(b, "wb");
        int ok = f && fwrite(data, 1, n, f) == n;
        ok = (f && fclose(f) == 0) && ok;
        free(data);
        if (!ok) {
            snprintf(err, err_len, "%s: cannot write: %s", b, strerror(errno));
            return -1;
        }
    }
    return 0;
}

int export_hf(const ModelConfig *mc, const ParamLayout *pl, const float *params,
              const ExportInfo *x, const char *out_dir, char *err, size_t err_len) {
    if (lm_mkdir_p(out_dir) != 0) {
        snprintf(err, err_len, "%s: cannot create the directory: %s", out_dir, strerror(errno));
        return -1;
    }
    char path[4200];
    snprintf(path, sizeof path, "%s/model.safetensors", out_dir);
    int rc = st_write(path, pl, mc, params, x->type == EXPORT_F32 ? 4 : 2, err, err_len);
    if (rc == 0) rc = write_json(out_dir, "config.json", hf_config(mc, x), err, err_len);
    if (rc == 0) {
        cJSON *g = cJSON_CreateObject();
        if (x->bos >= 0) cJSON_AddNumberToObject(g, "bos_token_id", x->bos);
        add_ids(g, "eos_token_id", x->eos, x->n_eos);
        rc = write_json(out_dir, "generation_config.json", g, err, err_len);
    }
    if (rc == 0 && x->source_dir) rc = copy_tokenizer(x->source_dir, out_dir, err, err_len);
    return rc;
}
