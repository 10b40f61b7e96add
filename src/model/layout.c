// model/layout: the architecture's shape rules and the parameter layout: one fp32 buffer,
// one named view per tensor ("layers.3.attn.wq"), blocks contiguous so that each block's
// gradients can be reduced as soon as its backward pass is done.
#include "lemma/model.h"
#include "lemma/util.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int model_config_check(const ModelConfig *mc, char *err, size_t err_len) {
    if (mc->n_heads < 1 || mc->dim % mc->n_heads != 0) {
        snprintf(err, err_len, "model.dim = %d is not a multiple of model.n_heads = %d", mc->dim,
                 mc->n_heads);
        return -1;
    }
    if (mc->n_kv_heads < 1 || mc->n_heads % mc->n_kv_heads != 0) {
        snprintf(err, err_len, "model.n_heads = %d is not a multiple of model.n_kv_heads = %d",
                 mc->n_heads, mc->n_kv_heads);
        return -1;
    }
    if (mc->max_seq < 8) {
        snprintf(err, err_len, "model.max_seq = %d: at least 8 positions", mc->max_seq);
        return -1;
    }
    if (mc->head_dim % 2 != 0) {
        snprintf(err, err_len, "head dimension %d must be even (RoPE)",
                 mc->head_dim);
        return -1;
    }
    return 0;
}

void model_config_from(ModelConfig *mc, const Config *cfg, int vocab) {
    memset(mc, 0, sizeof *mc);
    mc->vocab = vocab;
    mc->dim = (int)cfg_int(cfg, "model.dim");
    mc->n_layers = (int)cfg_int(cfg, "model.n_layers");
    mc->n_heads = (int)cfg_int(cfg, "model.n_heads");
    mc->n_kv_heads = (int)cfg_int(cfg, "model.n_kv_heads");
    mc->ffn_dim = (int)cfg_int(cfg, "model.ffn_dim");
    mc->max_seq = (int)cfg_int(cfg, "model.max_seq");
    if (mc->max_seq == 0) mc->max_seq = 512;
    mc->rope_theta = (float)cfg_float(cfg, "model.rope_theta");
    mc->norm_eps = (float)cfg_float(cfg, "model.norm_eps");
    mc->init_std = (float)cfg_float(cfg, "model.init_std");
    mc->qkv_bias = cfg_bool(cfg, "model.qkv_bias");
    mc->tied = cfg_bool(cfg, "model.tied_embeddings");
    mc->head_dim = mc->n_heads > 0 ? mc->dim / mc->n_heads : 0;
}

typedef struct {
    ParamLayout *pl;
    size_t cursor;
    int cap;
} LayoutBuilder;

static size_t layout_add(LayoutBuilder *lb, const char *name, int layer, int d0, int d1,
                         int decay) {
    ParamLayout *pl = lb->pl;
    if (pl->n_views == lb->cap) {
        lb->cap = lb->cap ? 2 * lb->cap : 64;
        pl->views = lm_realloc(pl->views, (size_t)lb->cap * sizeof(ParamView));
    }
    ParamView *v = &pl->views[pl->n_views++];
    memset(v, 0, sizeof *v);
    snprintf(v->name, sizeof v->name, "%s", name);
    v->offset = lb->cursor;
    v->numel = (size_t)d0 * (size_t)(d1 > 0 ? d1 : 1);
    v->ndim = d1 > 0 ? 2 : 1;
    v->shape[0] = d0;
    v->shape[1] = d1 > 0 ? d1 : 0;
    v->decay = decay;
    v->layer = layer;
    lb->cursor += v->numel;
    return v->offset;
}

static void layout_block(LayoutBuilder *lb, const ModelConfig *mc, int l, LayerOffsets *lo) {
    int C = mc->dim, hq = mc->n_heads * mc->head_dim, hkv = mc->n_kv_heads * mc->head_dim;
    int F = mc->ffn_dim;
    char n[PV_MAX_NAME];
    lo->begin = lb->cursor;
#define NAME(s) (snprintf(n, sizeof n, "layers.%d.%s", l, s), n)
    lo->attn_norm = layout_add(lb, NAME("attn_norm"), l, C, 0, 0);
    lo->wqkv = layout_add(lb, NAME("attn.wq"), l, hq, C, 1);
    layout_add(lb, NAME("attn.wk"), l, hkv, C, 1);
    layout_add(lb, NAME("attn.wv"), l, hkv, C, 1);
    lo->bqkv = 0;
    if (mc->qkv_bias) {
        lo->bqkv = layout_add(lb, NAME("attn.bq"), l, hq, 0, 0);
        layout_add(lb, NAME("attn.bk"), l, hkv, 0, 0);
        layout_add(lb, NAME("attn.bv"), l, hkv, 0, 0);
    }
    lo->wo = layout_add(lb, NAME("attn.wo"), l, C, hq, 1);
    lo->mlp_norm = layout_add(lb, NAME("mlp_norm"), l, C, 0, 0);
    lo->w13 = layout_add(lb, NAME("mlp.w1"), l, F, C, 1);
    layout_add(lb, NAME("mlp.w3"), l, F, C, 1);
    lo->w2 = layout_add(lb, NAME("mlp.w2"), l, C, F, 1);
#undef NAME
    lo->end = lb->cursor;
}

void param_layout_build(ParamLayout *pl, const ModelConfig *mc) {
    memset(pl, 0, sizeof *pl);
    LayoutBuilder lb = {pl, 0, 0};
    pl->tok_emb = layout_add(&lb, "tok_emb", -1, mc->vocab, mc->dim, 1);
    pl->layers = lm_calloc((size_t)mc->n_layers, sizeof(LayerOffsets));
    for (int l = 0; l < mc->n_layers; l++) layout_block(&lb, mc, l, &pl->layers[l]);
    pl->norm = layout_add(&lb, "norm", -1, mc->dim, 0, 0);
    pl->lm_head = mc->tied ? pl->tok_emb : layout_add(&lb, "lm_head", -1, mc->vocab, mc->dim, 1);
    pl->n_params = lb.cursor;
}

void param_layout_free(ParamLayout *pl) {
    free(pl->layers);
    free(pl->views);
    memset(pl, 0, sizeof *pl);
}

void model_rope_freqs(const ModelConfig *mc, double *inv_freq) {
    int hd = mc->head_dim;
    double factor = mc->rope_factor, lo = mc->rope_low_freq_factor, hi = mc->rope_high_freq_factor;
    double old = mc->rope_orig_max_seq;
    for (int i = 0; i < hd / 2; i++) {
        double f = pow((double)mc->rope_theta, -2.0 * i / (double)hd);
        if (factor > 0) {
            double wavelen = 2.0 * M_PI / f;
            if (wavelen > old / lo) { // low frequency: scaled down
                f /= factor;
            } else if (wavelen >= old / hi) { // between: blended
                double smooth = (old / wavelen - lo) / (hi - lo);
                f = (1.0 - smooth) * f / factor + smooth * f;
            }
        }
        inv_freq[i] = f;
    }
}

char *model_config_json(const ModelConfig *mc) {
    char buf[768], scaling[256] = "";
    if (mc->rope_factor > 0)
        snprintf(scaling, sizeof scaling, ", \"rope_scaling\": {\"rope_type\": \"llama3\", "
                 "\"factor\": %.9g, \"low_freq_factor\": %.9g, \"high_freq_factor\": %.9g, "
                 "\"original_max_position_embeddings\": %d}", mc->rope_factor,
                 mc->rope_low_freq_factor, mc->rope_high_freq_factor, mc->rope_orig_max_seq);
    snprintf(buf, sizeof buf,
             "{\"vocab\": %d, \"dim\": %d, \"n_layers\": %d, \"n_heads\": %d, \"n_kv_heads\": %d, "
             "\"head_dim\": %d, \"ffn_dim\": %d, \"max_seq\": %d, \"rope_theta\": %.9g, "
             "\"norm_eps\": %.9g, \"qkv_bias\": %s, \"tied_embeddings\": %s%s}",
             mc->vocab, mc->dim, mc->n_layers, mc->n_heads, mc->n_kv_heads, mc->head_dim,
             mc->ffn_dim, mc->max_seq, mc->rope_theta, mc->norm_eps,
             mc->qkv_bias ? "true" : "false", mc->tied ? "true" : "false", scaling);
    return lm_strdup(buf);
}
