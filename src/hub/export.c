// hub/export: a hub's model handed back in the formats the user's next tools load (through
// src/export): what it came from (the imported model's family, context, eos ids, tokenizer
// files and chat template; defaults for a built-in model), its parameters on the host, and
// `lemma export MODEL --format hf|gguf --out PATH [--dtype bf16|f16|f32]`.
#include "hub_internal.h"
#include "lemma/dist.h"
#include "lemma/export.h"
#include "lemma/import.h"
#include "lemma/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

// format "hf" or "gguf"; dtype "bf16", "f16", "f32" (NULL, "" or "auto": the format's
// default: bf16 for hf, f16 for gguf). 0, or -1 with err.
static int export_type(const char *format, const char *dtype, ExportType *t, char *err,
                       size_t err_len) {
    if (strcmp(format, "hf") != 0 && strcmp(format, "gguf") != 0) {
        snprintf(err, err_len, "export: format '%s' is not one lemma writes (hf, gguf)", format);
        return -1;
    }
    if (!dtype || !dtype[0] || !strcmp(dtype, "auto")) dtype = !strcmp(format, "gguf") ? "f16" : "bf16";
    if (!strcmp(dtype, "bf16")) *t = EXPORT_BF16;
    else if (!strcmp(dtype, "f32")) *t = EXPORT_F32;
    else if (!strcmp(dtype, "f16") && !strcmp(format, "gguf")) *t = EXPORT_F16;
    else {
        snprintf(err, err_len, "export: dtype '%s' is not one %s writes (%s)", dtype, format,
                 !strcmp(format, "gguf") ? "bf16, f16, f32" : "bf16, f32");
        return -1;
    }
    return 0;
}

// The model's description for the exporters; *im stays open (x points into it) until the
// export is written. A built-in model: the family of its shape, the tokenizer's bos and eos.
static int export_info(const HubModel *h, ExportInfo *x, ModelConfig *mc, ImportModel **im,
                       TokSpec *spec, TokSpecBuf *buf, char *err, size_t err_len) {
    memset(x, 0, sizeof *x);
    *mc = h->m.cfg, *im = NULL;
    x->name = h->imported ? h->source : "lemma";
    x->bos = h->tok.bos, x->eos = &h->tok.eos, x->n_eos = h->tok.eos >= 0;
    if (!h->imported) return 0;
    if (import_open(im, h->source, err, err_len) != 0) return -1;
    x->family = import_family(*im);
    x->source_dir = import_dir(*im);
    mc->max_seq = import_config(*im)->max_seq; // the model's own context, not lemma's window
    x->bos = import_bos(*im), x->eos = import_eos(*im), x->n_eos = import_n_eos(*im);
    x->chat_template = import_chat_template(*im);
    if (!strcmp(import_format(*im), "gguf")) {
        if (import_gguf_tok_spec(*im, spec, err, err_len) == 0) x->tok = spec;
    } else if (tokenizer_to_spec(&h->tok, mc->vocab, buf, x->why, sizeof x->why) == 0) {
        x->tok = &buf->spec; // tokenizer.json as GGUF metadata
    }
    return 0;
}

// Rank 0's work: host parameters, the description, the files.
static int export_write(const HubModel *h, const char *format, ExportType type, const char *out,
                        char *err, size_t err_len) {
    ExportInfo x;
    ModelConfig mc;
    ImportModel *im;
    TokSpec spec;
    TokSpecBuf buf = {0};
    if (export_info(h, &x, &mc, &im, &spec, &buf, err, err_len) != 0) return -1;
    x.type = type;
    const Model *m = &h->m;
    float *host = m->params;
    if (!m->be->host_memory) {
        host = lm_malloc(m->layout.n_params * sizeof(float));
        m->be->download(m->be, host, m->params, m->layout.n_params * sizeof(float));
    }
    int rc = 0;
    if (!strcmp(format, "gguf") && !x.tok) {
        snprintf(err, err_len, "export: a GGUF file needs the tokenizer as GGUF metadata, and "
                 "the tokenizer of %s has none: %s (export --format hf instead)",
                 h->imported ? h->source : "this model", x.why[0] ? x.why : "the byte tokenizer of built-in models");
        rc = -1;
    } else if (!strcmp(format, "gguf")) {
        rc = export_gguf(&mc, &m->layout, host, &x, out, err, err_len);
    } else {
        if (!x.source_dir)
            lm_warn("export: %s has no tokenizer files to copy; %s gets config.json and the "
                    "weights only", h->imported ? h->source : "a built-in model", out);
        rc = export_hf(&mc, &m->layout, host, &x, out, err, err_len);
    }
    if (host != m->params) free(host);
    if (im) import_close(im);
    tokspec_buf_free(&buf);
    return rc;
}

int hub_export_check(const char *format, const char *dtype, char *err, size_t err_len) {
    ExportType type;
    return export_type(format, dtype, &type, err, err_len);
}

int hub_export(const HubModel *h, const char *format, const char *dtype, const char *out,
               char *err, size_t err_len) {
    ExportType type;
    if (export_type(format, dtype, &type, err, err_len) != 0) return -1;
    double t0 = lm_now();
    int rc = dist.rank == 0 ? export_write(h, format, type, out, err, err_len) : 0;
    if (dist_any(rc != 0)) {
        if (dist.rank != 0) snprintf(err, err_len, "export failed on rank 0");
        return -1;
    }
    lm_info("export: %s (%s) written in %.1fs", out, format, lm_now() - t0);
    return 0;
}

int export_cmd(const Config *cfg, const char *input, int argc, char **argv) {
    const char *format = NULL, *out = NULL, *dtype = NULL;
    for (int i = 0; i < argc; i++) {
        if (!strcmp(argv[i], "--format") && i + 1 < argc) format = argv[++i];
        else if (!strcmp(argv[i], "--out") && i + 1 < argc) out = argv[++i];
        else if (!strcmp(argv[i], "--dtype") && i + 1 < argc) dtype = argv[++i];
        else format = NULL, out = NULL, i = argc;
    }
    if (!format || !out) {
        if (dist.rank == 0)
            fprintf(stderr, "lemma export: usage: lemma export MODEL --format hf|gguf --out PATH "
                    "[--dtype bf16|f16|f32]\n");
        return 2;
    }
    HubModel h;
    ExportType type;
    char err[2048];
    int rc = export_type(format, dtype, &type, err, sizeof err) ? 2 : 0;
    if (rc == 0 && hub_open_model(&h, cfg, input, err, sizeof err) != 0) rc = 2;
    if (rc == 0) {
        hub_describe(&h, "lemma export");
        if (hub_export(&h, format, dtype, out, err, sizeof err) != 0) rc = 1;
        hub_close(&h);
    }
    if (rc && dist.rank == 0) fprintf(stderr, "lemma export: %s\n", err);
    return rc;
}
