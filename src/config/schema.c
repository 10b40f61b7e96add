// config/schema: every configuration key with its type, default, range or choices and a
// one-line help. The single source of truth: loading, validation, the dump and the
// reference (docs/config.md) are all driven by this table. Keep it grouped by section;
// the sections are derived from the keys.
#include "lemma/config.h"

#define NO_RANGE 0, 0
#define INT64_RANGE_MAX 4611686018427387903.0 // 2^62 - 1 (rounds to 2^62 as a double)

const CfgEntry cfg_schema[] = {
    // run
    {"run.name", CFG_STRING, "lemma", NO_RANGE, NULL, "run name, used in logs and reports"},
    {"run.dir", CFG_STRING, "runs/lemma", NO_RANGE, NULL,
     "run directory: checkpoints, samples, data, eval, metrics"},
    {"run.seed", CFG_INT, "1234", 0, INT64_RANGE_MAX, NULL,
     "seed of every random draw (counter-based, rank-independent)"},
    {"run.device", CFG_ENUM, "auto", NO_RANGE, "auto|cpu|cuda",
     "compute device; auto takes a GPU when there is one"},
    {"run.precision", CFG_ENUM, "bf16", NO_RANGE, "bf16|fp32",
     "GPU compute precision (master weights and optimizer state stay fp32; the CPU is always "
     "fp32)"},
    {"run.threads", CFG_INT, "0", 0, 4096, NULL,
     "OpenMP threads per rank; 0 = OMP_NUM_THREADS, else the cores shared among local ranks"},
    {"run.time_limit", CFG_STRING, "", NO_RANGE, NULL,
     "wall-clock limit as [D-]HH:MM:SS; the job checkpoints and stops before it (empty: none)"},
    {"run.stop_margin", CFG_INT, "300", 0, 1e7, NULL,
     "seconds before run.time_limit (or Slurm's end time) at which to checkpoint and stop"},
    {"run.hang_timeout", CFG_INT, "1800", 0, 1e7, NULL,
     "seconds one collective operation may wait before the job is ended as hung (a rank stopped "
     "or lost), naming the rank and the operation; 0: wait forever"},
    {"run.memory_limit", CFG_FLOAT, "0", 0, 1e9, NULL,
     "GiB of memory the ranks of one node may use together; 0 = what the node has available "
     "(MemAvailable, and the cgroup's limit under Slurm); the job refuses to start when its "
     "memory plan does not fit (docs/models.md)"},
    {"run.memory_check", CFG_BOOL, "true", NO_RANGE, NULL,
     "refuse to start when the memory plan exceeds the memory available (false: warn only)"},

    // model
    {"model.dim", CFG_INT, "256", 8, 65536, NULL, "model width"},
    {"model.n_layers", CFG_INT, "6", 1, 1024, NULL, "transformer blocks"},
    {"model.n_heads", CFG_INT, "8", 1, 1024, NULL, "attention (query) heads; must divide dim"},
    {"model.n_kv_heads", CFG_INT, "4", 1, 1024, NULL,
     "key/value heads (grouped-query attention); must divide n_heads"},
    {"model.ffn_dim", CFG_INT, "768", 1, 1048576, NULL, "SwiGLU hidden width"},
    {"model.from", CFG_STRING, "", NO_RANGE, NULL,
     "a pretrained model to start from: a Hugging Face directory (config.json, *.safetensors, "
     "tokenizer.json) or a .gguf file; its architecture, weights, tokenizer and chat template "
     "replace model.* (docs/models.md); empty: the built-in architecture of model.*"},
    {"model.chat_template", CFG_STRING, "", NO_RANGE, NULL,
     "prompt format: plain, chatml, llama3, mistral, or a template file with {system} and "
     "{user}; empty: the one the imported model declares (plain for built-in models)"},
    {"model.system", CFG_STRING, "", NO_RANGE, NULL,
     "system message of chat templates; empty: the template's own default; 'none': no system "
     "message"},
    {"model.max_seq", CFG_INT, "0", 0, 1048576, NULL,
     "longest sequence (prompt plus completion) the model handles; 0: 512 for built-in models, "
     "an imported model's max_position_embeddings up to 4096"},
    {"model.rope_theta", CFG_FLOAT, "10000", 1, 1e12, NULL, "RoPE base frequency"},
    {"model.norm_eps", CFG_FLOAT, "1e-5", 1e-12, 0.1, NULL, "RMSNorm epsilon"},
    {"model.qkv_bias", CFG_BOOL, "false", NO_RANGE, NULL,
     "biases on the query, key and value projections (Qwen2 style)"},
    {"model.tied_embeddings", CFG_BOOL, "true", NO_RANGE, NULL,
     "LM head shares the token embedding matrix"},
    {"model.init_std", CFG_FLOAT, "0.02", 0, 1, NULL, "standard deviation of the initial weights"},
    {"model.special_tokens", CFG_LIST, "[BACK]", NO_RANGE, NULL,
     "extra special tokens after bos, eos and pad"},

    // data
    {"data.train", CFG_STRING, "", NO_RANGE, NULL,
     "training problems (JSONL); empty: the built-in generator"},
    {"data.test", CFG_STRING, "", NO_RANGE, NULL,
     "test problems (JSONL); empty: the built-in generator's test split"},
    {"data.prompt", CFG_STRING, "qa", NO_RANGE, NULL,
     "how a question is asked, in training, sampling and evaluation alike (inside the model's "
     "chat template): qa ('Question: ...\\nAnswer: '), cot (reason step by step, final answer "
     "in \\boxed{}), cot-fewshot (four worked examples first), or a file with {question}"},
    {"data.fields", CFG_STRING, "", NO_RANGE, NULL,
     "field mapping for JSONL sets that are not GSM8K, MATH or lemma's own: FIELD=KEY[+KEY] "
     "items, e.g. 'question=Body+Question, answer=Answer, id=ID' for SVAMP (fields: question, "
     "answer, solution, id, level, subject); records without the first question key are read "
     "as usual"},
    {"data.max_bad_frac", CFG_FLOAT, "0.01", 0, 1, NULL,
     "largest fraction of malformed JSONL lines skipped when reading data; more is an error"},
    {"data.train_size", CFG_INT, "20000", 1, 1e9, NULL,
     "built-in training problems used when data.train is empty"},

    // tasks
    {"tasks.min_ops", CFG_INT, "1", 1, 12, NULL, "fewest operations in a train or test problem"},
    {"tasks.max_ops", CFG_INT, "4", 1, 12, NULL, "most operations in a train or test problem"},
    {"tasks.max_operand", CFG_INT, "100", 10, 1000000, NULL,
     "largest number a train or test question states"},
    {"tasks.ood_min_ops", CFG_INT, "5", 2, 12, NULL,
     "fewest operations in an ood problem; must exceed tasks.max_ops"},
    {"tasks.ood_max_ops", CFG_INT, "6", 2, 12, NULL, "most operations in an ood problem"},
    {"tasks.ood_max_operand", CFG_INT, "1000", 11, 10000000, NULL,
     "largest number an ood question states; must exceed tasks.max_operand (each ood problem "
     "uses a number above it)"},
    {"tasks.distractor_prob", CFG_FLOAT, "0.3", 0, 1, NULL,
     "chance of a sentence with a number no step needs (drawn twice: at most two per problem)"},

    // pipeline
    {"pipeline.phases", CFG_LIST, "pretrain,sample,build,finetune,eval", NO_RANGE,
     "pretrain|sample|build|finetune|eval", "phases run by 'lemma run', in order"},
    {"pipeline.base_run", CFG_STRING, "", NO_RANGE, NULL,
     "a finished run directory whose base model (pretrain/ckpt) and built data (data/train.jsonl) "
     "this run uses for the phases it does not run itself: one base, several fine-tunings"},
    {"pipeline.eval_base", CFG_BOOL, "true", NO_RANGE, NULL,
     "the eval phase also evaluates the base model (into eval/base/), for the before/after table"},
    {"pipeline.export", CFG_LIST, "", NO_RANGE, "hf|gguf",
     "formats the final model is exported to at the end of the run: hf (RUN_DIR/export/hf/, "
     "for transformers and vLLM), gguf (RUN_DIR/export/model.gguf, for llama.cpp); empty: none"},
    {"pipeline.export_dtype", CFG_ENUM, "auto", NO_RANGE, "auto|bf16|f16|f32",
     "tensor type of the exports: auto is bf16 for hf and f16 for gguf; f16 is gguf only"},

    // sample
    {"sample.k", CFG_INT, "4", 1, 100000, NULL, "samples per training question"},
    {"sample.temperature", CFG_FLOAT, "0.7", 0, 100, NULL, "sampling temperature (0: greedy)"},
    {"sample.top_k", CFG_INT, "0", 0, 1000000, NULL, "keep the k most likely tokens (0: all)"},
    {"sample.top_p", CFG_FLOAT, "1.0", 0, 1, NULL, "nucleus sampling mass (1: off)"},
    {"sample.max_new_tokens", CFG_INT, "256", 1, 1048576, NULL, "longest completion"},
    {"sample.batch", CFG_INT, "64", 1, 65536, NULL, "sequences decoded together per rank"},
    {"sample.problems", CFG_INT, "0", 0, 16777216, NULL,
     "problems to sample: the first N of data.train, or of the built-in train split (0: all "
     "of data.train, or data.train_size built-in ones)"},
    {"sample.greedy", CFG_BOOL, "true", NO_RANGE, NULL,
     "also decode every problem once greedily (greedy pass@1; records in greedy.jsonl)"},
    {"sample.stop", CFG_LIST, "\\n\\nQuestion", NO_RANGE, NULL,
     "stop strings: a completion ends where one first appears (not included); \\n \\t "
     "\\r \\\\ are read as escapes"},
    {"sample.prefill_tokens", CFG_INT, "1024", 1, 1048576, NULL,
     "prompt tokens fed per decoding step at most (chunked prefill beside the generating "
     "sequences)"},
    {"sample.kv_cache", CFG_ENUM, "bf16", NO_RANGE, "bf16|fp32",
     "dtype of the KV cache: bf16 halves its memory and the attention's memory traffic "
     "(keys and values rounded to bf16, compute in fp32); fp32 decodes exactly as a full "
     "forward pass"},
    {"sample.too_long", CFG_ENUM, "skip", NO_RANGE, "skip|error",
     "a prompt with no room for a completion in model.max_seq: skip it (named and counted) "
     "or stop with an error"},
    {"sample.log_every", CFG_FLOAT, "10", 0, 1e6, NULL, "seconds between progress lines"},

    // teacher
    {"teacher.kind", CFG_ENUM, "symbolic", NO_RANGE, "symbolic|model",
     "who writes and locates errors"},
    {"teacher.config", CFG_STRING, "", NO_RANGE, NULL,
     "model teacher: the teacher's config (its model.* and the newest checkpoint in its run.dir); "
     "empty: this config and run"},
    {"teacher.prompts", CFG_STRING, "configs/prompts", NO_RANGE, NULL,
     "model teacher: directory of the prompt templates locate.txt, inject.txt, correct.txt"},
    {"teacher.temperature", CFG_FLOAT, "0.7", 0, 100, NULL,
     "model teacher: sampling temperature (0: greedy)"},
    {"teacher.max_new_tokens", CFG_INT, "384", 1, 1048576, NULL,
     "model teacher: longest output"},

    // build
    {"build.samples", CFG_STRING, "", NO_RANGE, NULL,
     "graded samples to build from (JSONL); empty: RUN_DIR/samples.jsonl"},
    {"build.student_errors", CFG_INT, "2", 0, 32, NULL,
     "wrong student samples turned into reflection data per question (distinct, located)"},
    {"build.teacher_errors", CFG_INT, "2", 0, 32, NULL,
     "errors the teacher injects per question that has a wrong student sample"},
    {"build.error_source", CFG_ENUM, "measured", NO_RANGE, "measured|list",
     "types of injected errors: drawn from the measured distribution of the student's errors, "
     "or uniformly from build.error_types"},
    {"build.error_types", CFG_LIST,
     "calculation_error,counting_error,context_value_error,previous_step_value_error,"
     "unit_conversion_error,operator_error,missing_step,question_misinterpretation,hallucination",
     NO_RANGE,
     "calculation_error|counting_error|context_value_error|previous_step_value_error|"
     "unit_conversion_error|operator_error|formula_confusion_error|missing_step|"
     "contradictory_step|question_misinterpretation|confusing_concept_error|hallucination|"
     "nonsense_output",
     "error types the teacher may inject (with error_source = measured: those it draws from)"},
    {"build.formats", CFG_LIST, "cot,lemma_fix,lemma_restart", NO_RANGE,
     "cot|rft|lemma_fix|lemma_restart|lema_correction|retry",
     "record kinds written: lemma_fix and lemma_restart are the two correction strategies; the "
     "others are the baselines' data"},
    {"build.truncate", CFG_BOOL, "true", NO_RANGE, NULL,
     "cut a wrong solution right after its first wrong step (false: the LEMMA ablation without "
     "truncation)"},
    {"build.restart_source", CFG_ENUM, "own", NO_RANGE, "own|reference",
     "fresh & restart: one of the student's own correct samples when there is one, or always "
     "the reference solution"},
    {"build.phrases", CFG_STRING, "", NO_RANGE, NULL,
     "reflection phrases, one per line ('#' comments); empty: the built-in list of 12"},
    {"build.back_token", CFG_STRING, "[BACK]", NO_RANGE, NULL,
     "retry format: the token after a wrong step (must be one of model.special_tokens)"},

    // train
    {"train.steps", CFG_INT, "1000", 0, 1e12, NULL, "optimizer steps"},
    {"train.lr", CFG_FLOAT, "3e-4", 0, 10, NULL, "peak learning rate"},
    {"train.min_lr_frac", CFG_FLOAT, "0.1", 0, 1, NULL,
     "final learning rate as a fraction of the peak (cosine decay)"},
    {"train.warmup_frac", CFG_FLOAT, "0.03", 0, 1, NULL,
     "linear warmup as a fraction of the steps"},
    {"train.batch_tokens", CFG_INT, "16384", 1, 1e12, NULL, "global batch in tokens"},
    {"train.micro_batch", CFG_INT, "8", 1, 65536, NULL,
     "sequences per rank per forward/backward"},
    {"train.seq_len", CFG_INT, "256", 2, 1048576, NULL, "training sequence length"},
    {"train.weight_decay", CFG_FLOAT, "0.1", 0, 10, NULL,
     "AdamW decoupled weight decay (not on norms and biases)"},
    {"train.beta1", CFG_FLOAT, "0.9", 0, 1, NULL, "AdamW beta1"},
    {"train.beta2", CFG_FLOAT, "0.95", 0, 1, NULL, "AdamW beta2"},
    {"train.eps", CFG_FLOAT, "1e-8", 0, 1, NULL, "AdamW epsilon"},
    {"train.grad_clip", CFG_FLOAT, "1.0", 0, 1e6, NULL,
     "clip the global gradient norm to this (0: off)"},
    {"train.data", CFG_STRING, "", NO_RANGE, NULL,
     "training records (JSONL with prompt and response); empty: chain-of-thought records of "
     "the training problems"},
    {"train.zero", CFG_BOOL, "false", NO_RANGE, NULL,
     "shard the optimizer state over ranks (ZeRO-1: reduce-scatter, update a slice, all-gather)"},
    {"train.overlap", CFG_BOOL, "true", NO_RANGE, NULL,
     "start each layer's gradient reduction as soon as its backward pass is done"},
    {"train.resume", CFG_BOOL, "true", NO_RANGE, NULL,
     "resume from the newest checkpoint in run.dir when there is one"},
    {"train.stop_after", CFG_INT, "0", 0, 1e12, NULL,
     "checkpoint and stop after this step, as on a signal (0: run to train.steps)"},
    {"train.max_nan_skips", CFG_INT, "5", 0, 1e9, NULL,
     "updates skipped in a row for NaN/Inf loss or gradients before the run aborts"},

    // pretrain (0 or empty: the train.* value)
    {"pretrain.steps", CFG_INT, "0", 0, 1e12, NULL, "pretraining optimizer steps (0: train.steps)"},
    {"pretrain.lr", CFG_FLOAT, "0", 0, 10, NULL, "pretraining peak learning rate (0: train.lr)"},
    {"pretrain.batch_tokens", CFG_INT, "0", 0, 1e12, NULL,
     "pretraining global batch in tokens (0: train.batch_tokens)"},
    {"pretrain.data", CFG_STRING, "", NO_RANGE, NULL,
     "pretraining records (JSONL with prompt and response); empty: train.data, else "
     "chain-of-thought records of the training problems"},
    {"pretrain.extra", CFG_LIST, "", NO_RANGE, NULL,
     "more record files (JSONL) mixed into pretraining, e.g. another run's data/train.jsonl "
     "(reflection or retry data in pretraining)"},

    // finetune
    {"finetune.data", CFG_ENUM, "lemma", NO_RANGE, "lemma|sft|rft|lema|retry",
     "fine-tuning records taken from the built data: lemma (cot, lemma_fix, lemma_restart), "
     "sft (cot only, same steps and batch: matched tokens), rft (cot, rft), lema (cot, "
     "lema_correction), retry (cot, retry)"},
    {"finetune.steps", CFG_INT, "0", 0, 1e12, NULL, "fine-tuning optimizer steps (0: train.steps)"},
    {"finetune.lr", CFG_FLOAT, "0", 0, 10, NULL, "fine-tuning peak learning rate (0: train.lr)"},
    {"finetune.batch_tokens", CFG_INT, "0", 0, 1e12, NULL,
     "fine-tuning global batch in tokens (0: train.batch_tokens)"},
    {"finetune.reflection_share", CFG_FLOAT, "-1", -1, 0.99, NULL,
     "share of the fine-tuning records that are reflection/baseline records (the rest: every "
     "cot record); a seeded subset of them is kept; negative: all records as built"},
    {"finetune.mask_mistakes", CFG_BOOL, "false", NO_RANGE, NULL,
     "no loss on the wrong solution a reflection record repeats (its mistake_chars): train "
     "on the reflection and the correction only"},

    // eval
    {"eval.splits", CFG_LIST, "test,ood", NO_RANGE, "test|ood",
     "built-in splits evaluated (test reads data.test when it is set)"},
    {"eval.sets", CFG_LIST, "", NO_RANGE, NULL,
     "JSONL sets evaluated as NAME=PATH (gsm8k=.../test.jsonl, math500=.../math500.jsonl): a "
     "table row and NAME.json each, with MATH sets broken down by level and subject"},
    {"eval.data", CFG_LIST, "", NO_RANGE, NULL,
     "extra problem sets (JSONL), each a split named after its file (NAME.jsonl: NAME)"},
    {"eval.problems", CFG_INT, "200", 0, 16777216, NULL,
     "problems per split: the first N (0: all of a JSONL set; a built-in split needs N > 0)"},
    {"eval.max_new_tokens", CFG_INT, "256", 1, 1048576, NULL, "longest completion"},
    {"eval.batch", CFG_INT, "64", 1, 65536, NULL, "sequences decoded together per rank"},

    // ckpt
    {"ckpt.every", CFG_INT, "500", 0, 1e12, NULL,
     "checkpoint every N steps (0: only at the end and on signals)"},
    {"ckpt.keep", CFG_INT, "3", 1, 1000000, NULL, "checkpoints kept"},

    // log
    {"log.every", CFG_INT, "10", 1, 1000000000, NULL, "progress line and metrics every N steps"},
};

const int cfg_schema_len = (int)(sizeof(cfg_schema) / sizeof(cfg_schema[0]));
