// tests/tools/import_logits: imports a model (a Hugging Face directory or a GGUF file) through
// src/import into a CPU model and prints, as JSON, the fp32 logits of the last position of
// each id sequence read from stdin (one JSON array of ids per line), and with --greedy N the
// N greedy tokens after each sequence (full forward passes, or with --decode the KV-cache
// decoding of src/model/decode.c). For tests/shell/test_import.sh.
//   import_logits PATH [--greedy N] [--decode] [--all] [--dump-params FILE]
#include "lemma/import.h"
#include "lemma/util.h"

#include <cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void print_floats(const float *x, int n) {
    putchar('[');
    for (int i = 0; i < n; i++) printf(i ? ",%.9g" : "%.9g", x[i]);
    putchar(']');
}

static int argmax(const float *x, int n) {
    int b = 0;
    for (int i = 1; i < n; i++)
        if (x[i] > x[b]) b = i;
    return b;
}

// n prompt ids, then `greedy` tokens through a KV cache (prefill in one step), printed.
static void greedy_decode(Model *m, const int *ids, int n, int greedy) {
    ModelDecode d;
    int ctx = n + greedy + 1;
    model_decode_init(&d, m, 1, ctx, n, 1, DT_F32);
    int *slot = lm_calloc((size_t)n, sizeof(int)), *pos = lm_malloc((size_t)n * sizeof(int));
    for (int i = 0; i < n; i++) pos[i] = i;
    const float *lg = model_decode_step(m, &d, ids, slot, pos, n, 1);
    for (int g = 0; g < greedy; g++) {
        int next = argmax(lg, m->cfg.vocab), p = n + g;
        printf(g ? ",%d" : "%d", next);
        if (g + 1 < greedy) lg = model_decode_step(m, &d, &next, slot, &p, 1, 1);
    }
    free(slot), free(pos);
    model_decode_free(&d, m);
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: import_logits PATH [--greedy N] [--all] [--dump-params FILE]\n");
        return 2;
    }
    int greedy = 0, all = 0, decode = 0;
    const char *dump = NULL;
    for (int i = 2; i < argc; i++) {
        if (!strcmp(argv[i], "--greedy") && i + 1 < argc) greedy = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--all")) all = 1;
        else if (!strcmp(argv[i], "--decode")) decode = 1;
        else if (!strcmp(argv[i], "--dump-params") && i + 1 < argc) dump = argv[++i];
    }
    char err[2048];
    ImportModel *im;
    double t0 = lm_now();
    if (import_open(&im, argv[1], err, sizeof err) != 0) {
        fprintf(stderr, "import_logits: %s\n", err);
        return 1;
    }
    ModelConfig mc = *import_config(im);
    Backend *be = backend_create("cpu", "fp32", 0, 0);
    Model m;
    model_alloc(&m, &mc, be);
    // The CPU backend's parameters are host memory: read into them directly, as hub does.
    float *host = m.params;
    if (import_read_params(im, &m.layout, host, 0, m.layout.n_params, err, sizeof err) != 0) {
        fprintf(stderr, "import_logits: %s\n", err);
        return 1;
    }
    model_params_changed(&m);
    fprintf(stderr, "import_logits: imported %s (%.2fM parameters) in %.3fs\n", argv[1],
            m.layout.n_params / 1e6, lm_now() - t0);
    if (dump) {
        FILE *f = fopen(dump, "wb");
        fwrite(host, sizeof(float), m.layout.n_params, f);
        fclose(f);
    }
    import_close(im);
    char line[1 << 16];
    int V = mc.vocab;
    while (fgets(line, sizeof line, stdin)) {
        cJSON *j = cJSON_Parse(line);
        int n = cJSON_GetArraySize(j), cap = n + greedy + 1;
        int *ids = lm_malloc((size_t)cap * sizeof(int));
        for (int i = 0; i < n; i++) ids[i] = cJSON_GetArrayItem(j, i)->valueint;
        cJSON_Delete(j);
        float *logits = lm_malloc((size_t)cap * V * sizeof(float));
        model_forward(&m, ids, NULL, 1, n);
        model_logits(&m, logits);
        printf("{\"logits\": ");
        if (all) {
            putchar('[');
            for (int t = 0; t < n; t++) {
                if (t) putchar(',');
                print_floats(logits + (size_t)t * V, V);
            }
            putchar(']');
        } else {
            print_floats(logits + (size_t)(n - 1) * V, V);
        }
        printf(", \"greedy\": [");
        if (decode) greedy_decode(&m, ids, n, greedy);
        for (int g = 0; g < greedy && !decode; g++) {
            int next = argmax(logits + (size_t)(n - 1) * V, V);
            printf(g ? ",%d" : "%d", next);
            ids[n++] = next;
            if (g + 1 < greedy) {
                model_forward(&m, ids, NULL, 1, n);
                model_logits(&m, logits);
            }
        }
        printf("]}\n");
        fflush(stdout);
        free(ids), free(logits);
    }
    model_free(&m);
    backend_destroy(be);
    return 0;
}
