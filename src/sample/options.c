// sample/options: the sample.* options (decoding strategy, stop strings with escapes, batch,
// KV-cache dtype, problems) as the sampling phase and the evaluation read them.
#include "lemma/sample.h"
#include "lemma/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

// s with the escapes \n, \t, \r and \\ replaced (malloc'd): stop strings can be written on
// the command line (--set 'sample.stop=\n\nQuestion') and in configs alike.
static char *sample_unescape(const char *s) {
    char *out = lm_malloc(strlen(s) + 1), *o = out;
    for (; *s; s++) {
        if (*s != '\\' || !s[1]) {
            *o++ = *s;
            continue;
        }
        char c = s[1];
        char r = c == 'n' ? '\n' : c == 't' ? '\t' : c == 'r' ? '\r' : c == '\\' ? '\\' : 0;
        if (r) *o++ = r, s++;
        else *o++ = *s;
    }
    *o = 0;
    return out;
}

DType sample_kv_dtype(const Config *cfg) {
    return strcmp(cfg_str(cfg, "sample.kv_cache"), "bf16") == 0 ? DT_BF16 : DT_F32;
}

int sample_options_from(SampleOptions *o, const Config *cfg, char *err, size_t err_len) {
    memset(o, 0, sizeof *o);
    SampleConfig *g = &o->gen;
    g->strategy.temperature = (float)cfg_float(cfg, "sample.temperature");
    g->strategy.top_k = (int)cfg_int(cfg, "sample.top_k");
    g->strategy.top_p = (float)cfg_float(cfg, "sample.top_p");
    g->max_new_tokens = (int)cfg_int(cfg, "sample.max_new_tokens");
    g->seed = (uint64_t)cfg_int(cfg, "run.seed");
    g->slots = (int)cfg_int(cfg, "sample.batch");
    g->prefill_tokens = (int)cfg_int(cfg, "sample.prefill_tokens");
    g->kv = sample_kv_dtype(cfg);
    g->n_stop = cfg_list_len(cfg, "sample.stop");
    g->stop = lm_calloc((size_t)g->n_stop + 1, sizeof(char *));
    for (int i = 0; i < g->n_stop; i++) g->stop[i] = sample_unescape(cfg_list_item(cfg, "sample.stop", i));
    o->k = (int)cfg_int(cfg, "sample.k");
    o->greedy = cfg_bool(cfg, "sample.greedy");
    o->problems = (long)cfg_int(cfg, "sample.problems");
    o->too_long_error = strcmp(cfg_str(cfg, "sample.too_long"), "error") == 0;
    o->log_every = cfg_float(cfg, "sample.log_every");
    o->run_dir = cfg_str(cfg, "run.dir");
    o->data = cfg_str(cfg, "data.train");
    o->max_bad = cfg_float(cfg, "data.max_bad_frac");
    o->builtin_size = (long)cfg_int(cfg, "data.train_size");
    if (o->k >= SAMPLE_MAX_SAMPLES) {
        snprintf(err, err_len, "%s: sample.k = %d: at most %d samples per problem", cfg->path,
                 o->k, SAMPLE_MAX_SAMPLES - 1);
        return 2;
    }
    if (!o->data[0] && gen_params_from_config(&o->gen_params, cfg, err, err_len) != 0) return 2;
    return 0;
}

void sample_options_free(SampleOptions *o) {
    for (int i = 0; i < o->gen.n_stop; i++) free(o->gen.stop[i]);
    free(o->gen.stop);
    o->gen.stop = NULL, o->gen.n_stop = 0;
}

