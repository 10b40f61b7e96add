// export: a model in the formats the user's next tools load. A Hugging Face directory
// (config.json, model.safetensors in bf16 or fp32, generation_config.json, the tokenizer files
// of the source) that transformers and vLLM read, or a GGUF file (F32, F16 or BF16 tensors,
// the tokenizer in its metadata) that llama.cpp reads. docs/models.md.
#ifndef LEMMA_EXPORT_H
#define LEMMA_EXPORT_H

#include "lemma/model.h"
#include "lemma/tokenizer.h"

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum { EXPORT_F32 = 0, EXPORT_F16 = 1, EXPORT_BF16 = 30 } ExportType; // GGUF numbers

typedef struct {
    const char *family;     // "llama", "qwen2" or "mistral": the HF architecture / GGUF arch
    const char *name;       // general.name, the model's name in messages
    const char *source_dir; // a Hugging Face directory whose tokenizer files are copied, or NULL
    int bos, n_eos;         // bos (-1: none) and eos ids for config.json/generation_config.json
    const int *eos;
    const TokSpec *tok;     // the tokenizer as GGUF metadata (NULL: none written)
    const char *chat_template; // Jinja text for GGUF's tokenizer.chat_template, or NULL
    ExportType type;        // tensor type: safetensors F32 or BF16; GGUF F32, F16 or BF16
    char why[256];          // why tok is NULL, when it is
} ExportInfo;

// params: the fp32 parameters in the layout pl of mc (host). 0, or -1 with err naming the file.
int export_hf(const ModelConfig *mc, const ParamLayout *pl, const float *params,
              const ExportInfo *x, const char *out_dir, char *err, size_t err_len);
int export_gguf(const ModelConfig *mc, const ParamLayout *pl, const float *params,
                const ExportInfo *x, const char *out_path, char *err, size_t err_len);
// The family of a model: the source's, else qwen2 when it has q/k/v biases, else llama.
const char *export_family(const ModelConfig *mc, const char *source_family);

#ifdef __cplusplus
}
#endif
#endif
