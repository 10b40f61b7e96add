// import: pretrained models in the formats users bring. A Hugging Face directory (config.json
// of LlamaForCausalLM, Qwen2ForCausalLM or MistralForCausalLM; model.safetensors or shards
// with model.safetensors.index.json; F32, F16 or BF16) or a GGUF file (architectures llama
// and qwen2; F32, F16, BF16, Q8_0, Q4_0, Q4_1). Files are read through mmap; the
// architecture becomes a ModelConfig and the tensors lemma's parameter layout in fp32.
// Anything it cannot take exactly (an architecture, a tensor type, a rope scaling, a shape)
// is refused with the file and the key or tensor, never loaded wrong. docs/models.md.
#ifndef LEMMA_IMPORT_H
#define LEMMA_IMPORT_H

#include "lemma/model.h"
#include "lemma/tokenizer.h"

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ImportModel ImportModel;

// Opens PATH (a directory with config.json, or a .gguf file): the architecture and the tensor
// table are read and checked, no weights converted. 0, or -1 with err.
int import_open(ImportModel **im, const char *path, char *err, size_t err_len);
void import_close(ImportModel *im);
// The architecture (vocab: the embedding's rows; max_seq: the model's own context).
const ModelConfig *import_config(const ImportModel *im);
// host[lo, hi) of lemma's parameter buffer (the layout of param_layout_build(import_config))
// in fp32, converted or dequantized from the files. 0, or -1 with err naming the tensor.
int import_read_params(ImportModel *im, const ParamLayout *pl, float *host, size_t lo,
                       size_t hi, char *err, size_t err_len);
const char *import_format(const ImportModel *im); // "hf" or "gguf"
const char *import_path(const ImportModel *im);
// Bytes of the weight files, mapped while import_read_params reads them (the memory plan).
size_t import_file_bytes(const ImportModel *im);
// The Hugging Face directory (tokenizer.json, tokenizer_config.json live there); NULL for GGUF.
const char *import_dir(const ImportModel *im);
// The family: "llama", "qwen2" or "mistral" (GGUF: its general.architecture).
const char *import_family(const ImportModel *im);
// bos and the eos ids (config.json, then generation_config.json; GGUF metadata); -1 / 0 none.
int import_bos(const ImportModel *im);
int import_n_eos(const ImportModel *im);
const int *import_eos(const ImportModel *im);
// The model's own chat template (Jinja: tokenizer_config.json's chat_template, or GGUF's
// tokenizer.chat_template), NULL when it has none.
const char *import_chat_template(const ImportModel *im);
// GGUF: the tokenizer of its metadata (tokenizer.ggml.*) as a TokSpec whose pointers stay
// valid until import_close. 0, or -1 with err (a Hugging Face import, missing keys).
int import_gguf_tok_spec(const ImportModel *im, TokSpec *s, char *err, size_t err_len);

// Conversions (exact, as ggml and safetensors define them).
float import_f16_to_f32(uint16_t h);
float import_bf16_to_f32(uint16_t h);
// One block of 32 values of a quantized GGUF type ("Q8_0", "Q4_0", "Q4_1"), into out[32].
void import_dequant_block(int ggml_type, const unsigned char *block, float *out);

#ifdef __cplusplus
}
#endif
#endif
