// tests/bench/bench_model.h: the real model of the benchmarks' --model PATH (a Hugging Face
// directory or a GGUF file, anything import_open takes): its architecture, and the model
// on a backend with the file's weights (dequantized to fp32 by src/import, as `lemma
// generate` and `model.from` load them). Included by bench_train.c and bench_sample.c.
#ifndef LEMMA_BENCH_MODEL_H
#define LEMMA_BENCH_MODEL_H

#include "lemma/import.h"
#include "lemma/model.h"
#include "lemma/util.h"

#include <stdio.h>
#include <stdlib.h>

// Opens path or exits with the reason (status 2).
static ImportModel *bench_model_open(const char *tool, const char *path, ModelConfig *mc) {
    char err[2048];
    ImportModel *im;
    if (import_open(&im, path, err, sizeof err) != 0) {
        fprintf(stderr, "%s: %s\n", tool, err);
        exit(2);
    }
    *mc = *import_config(im);
    return im;
}

// The model of mc on be with im's weights; closes im.
static void bench_model_load(const char *tool, ImportModel *im, const ModelConfig *mc, Model *m,
                             Backend *be) {
    char err[2048];
    model_alloc(m, mc, be);
    size_t n = m->layout.n_params;
    float *host = be->host_memory ? m->params : lm_malloc(n * sizeof(float));
    if (import_read_params(im, &m->layout, host, 0, n, err, sizeof err) != 0) {
        fprintf(stderr, "%s: %s\n", tool, err);
        exit(2);
    }
    if (be->host_memory) {
        model_params_changed(m);
    } else {
        model_set_params(m, host);
        free(host);
    }
    import_close(im);
}

#endif
