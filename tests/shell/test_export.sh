#!/usr/bin/env bash
# tests/shell/test_export.sh: `lemma export` against the readers users load exports with. Tiny
# random LLaMA-3 (GQA, tied head) and Qwen2 (q/k/v biases, untied head, padded vocabulary)
# directories with their real tokenizers (tests/py/chat_ref.py) are fine-tuned for 20 steps,
# then exported: transformers loads the Hugging Face export and its logits equal those of
# the checkpoint's parameters (fp32 exactly; bf16 exactly after rounding them to bf16), its
# greedy decoding what `lemma generate` printed; PyPI gguf reads every tensor of the GGUF
# exports (F32, F16, BF16) back bit-exact, and their tokenizer metadata (token strings,
# merges, types, tokenizer.ggml.pre) matches the source's tokenizer.json, whose encoding
# lemma's GGUF reader reproduces on GSM8K text. The Mistral (SentencePiece) tokenizer
# exported to GGUF is read back by transformers' own GGUF loader. Then the errors. SKIP where
# the venv or the assets cannot be had (no network).
source "$(dirname "$0")/lib.sh"
cd "$(dirname "$0")/../.."
export OMP_NUM_THREADS=1
if ! PY=$(bash tests/py/venv.sh 2>"$TMP/venv.err"); then
    echo "SKIP export: no reference venv ($(tail -1 "$TMP/venv.err"))"; exit 0
fi
paths=$(bash tests/py/chat_assets.sh 2>"$TMP/assets.err"); rc=$?
if ((rc == 3)); then echo "FAIL export_assets: $(tail -1 "$TMP/assets.err")"; exit 0; fi
if ((rc)); then echo "SKIP export: assets unavailable ($(tail -1 "$TMP/assets.err"))"; exit 0; fi
read -r _ _ R <<<"$paths"
CFG=tests/configs/train_small.cfg
CHECK=(env TRANSFORMERS_VERBOSITY=error "$PY" tests/py/export_check.py)

# Text lines to tokenize: GSM8K's test questions and answers when the shared data is there,
# else the fixture's texts, one line each.
G=../shared/data/gsm8k/test.jsonl
python3 - "$G" tests/fixtures/tok_texts.jsonl >"$TMP/lines.txt" <<'PY'
import json, os, sys
texts = []
if os.path.exists(sys.argv[1]):
    for l in open(sys.argv[1], encoding="utf-8"):
        r = json.loads(l); texts += [r["question"], r["answer"]]
else:
    texts = [json.loads(l) for l in open(sys.argv[2], encoding="utf-8") if l.strip()]
for t in texts:
    for line in t.split("\n"):
        if line: print(line)
PY

PROMPT="What is 2 + 3?"
for m in llama3 qwen2; do
    src=$R/$m run=$TMP/$m
    case $m in llama3) pre=llama-bpe stop=128001,128009 ;; qwen2) pre=qwen2 stop=151645,151643 ;; esac
    if ! "$LEMMA" train "$CFG" --set model.from="$src" --set run.dir="$run" >"$run.log" 2>&1; then
        echo "FAIL export_${m}_train:"; tail -3 "$run.log" | sed 's/^/     /'; continue
    fi
    ck=$run/ckpt/step_00000020.h5
    # Hugging Face, fp32: logits, and greedy decoding against `lemma generate` on the run.
    "$LEMMA" export "$run" --format hf --dtype f32 --out "$TMP/$m-hf32" >"$TMP/$m-hf32.log" 2>&1 ||
        { echo "FAIL export_${m}_hf32: $(tail -1 "$TMP/$m-hf32.log")"; continue; }
    text=$("$LEMMA" generate "$run" --prompt "$PROMPT" --max-tokens 24 2>/dev/null)
    ids=$("$LEMMA" tokenize "$run" --chat <<<"$PROMPT" 2>/dev/null)
    python3 -c "import json,sys; print(json.dumps({'prompt': json.loads(sys.argv[1])['ids'], 'text': sys.argv[2], 'n': 24, 'stop': [int(x) for x in sys.argv[3].split(',')]}))" \
        "$ids" "$text" "$stop" | "${CHECK[@]}" hf "export_${m}_hf_f32" "$TMP/$m-hf32" "$ck" "$src" f32
    if cmp -s "$src/tokenizer.json" "$TMP/$m-hf32/tokenizer.json" && cmp -s "$src/tokenizer_config.json" "$TMP/$m-hf32/tokenizer_config.json"
    then echo "PASS export_${m}_hf_tokenizer_files"; else echo "FAIL export_${m}_hf_tokenizer_files: not the source's"; fi
    # Hugging Face, bf16 (the default).
    "$LEMMA" export "$run" --format hf --out "$TMP/$m-hf16" >/dev/null 2>&1 &&
        "${CHECK[@]}" hf "export_${m}_hf_bf16" "$TMP/$m-hf16" "$ck" "$src" bf16 </dev/null
    # GGUF in each tensor type; the tokenizer metadata; lemma's reading of it.
    for d in f32 f16 bf16; do
        if "$LEMMA" export "$run" --format gguf --dtype $d --out "$TMP/$m-$d.gguf" >"$TMP/$m-$d.log" 2>&1; then
            "${CHECK[@]}" gguf "export_${m}_gguf_$d" "$TMP/$m-$d.gguf" "$ck" "$src" $d
        else echo "FAIL export_${m}_gguf_$d: $(tail -1 "$TMP/$m-$d.log")"; fi
    done
    vocab=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['vocab_size'])" "$src/config.json")
    "${CHECK[@]}" gguf_tok "export_${m}_gguf" "$TMP/$m-f32.gguf" "$src" $pre "$vocab"
    "$LEMMA" tokenize "$TMP/$m-f32.gguf" <"$TMP/lines.txt" >"$TMP/$m.ids" 2>/dev/null
    "${CHECK[@]}" tok_ids "export_${m}_gguf_encodes" "$TMP/lines.txt" "$src/tokenizer.json" "$TMP/$m.ids"
    g=$("$LEMMA" generate "$TMP/$m-f32.gguf" --prompt "$PROMPT" --max-tokens 24 2>/dev/null)
    [[ -n $text && $g == "$text" ]] && echo "PASS export_${m}_gguf_generates (as the run it came from)" ||
        echo "FAIL export_${m}_gguf_generates: $g vs $text"
done

# SentencePiece: Mistral's tokenizer as GGUF (scores from the merge ranks), read back by
# transformers' own GGUF loader and by lemma.
if "$LEMMA" export "$R/mistral" --format gguf --out "$TMP/mistral.gguf" >"$TMP/mistral.log" 2>&1; then
    "${CHECK[@]}" gguf_tok export_mistral_gguf "$TMP/mistral.gguf" "$R/mistral" default 32000
    "${CHECK[@]}" tok_gguf export_mistral_gguf_transformers "$TMP/lines.txt" "$TMP/mistral.gguf" "$R/mistral/tokenizer.json"
    "$LEMMA" tokenize "$TMP/mistral.gguf" <"$TMP/lines.txt" >"$TMP/mistral.ids" 2>/dev/null
    "${CHECK[@]}" tok_ids export_mistral_gguf_encodes "$TMP/lines.txt" "$R/mistral/tokenizer.json" "$TMP/mistral.ids"
else echo "FAIL export_mistral_gguf: $(tail -1 "$TMP/mistral.log")"; fi

# Errors: named, before any file is written.
run=$TMP/llama3
expect_fail export_usage 2 "usage: lemma export MODEL --format hf\|gguf --out PATH" "$LEMMA" export "$run" --format hf
expect_fail export_bad_format 2 "format 'onnx' is not one lemma writes \(hf, gguf\)" \
    "$LEMMA" export "$run" --format onnx --out "$TMP/x"
expect_fail export_bad_dtype 2 "dtype 'f16' is not one hf writes \(bf16, f32\)" \
    "$LEMMA" export "$run" --format hf --dtype f16 --out "$TMP/x"
expect_fail export_unwritable 1 "cannot create the directory" \
    "$LEMMA" export "$run" --format hf --out /proc/no/such/dir
"$LEMMA" train "$CFG" --set run.dir="$TMP/builtin" --set train.steps=2 >/dev/null 2>&1
expect_fail export_gguf_builtin_refused 1 "needs the tokenizer as GGUF metadata.*byte tokenizer" \
    "$LEMMA" export "$TMP/builtin" --format gguf --out "$TMP/b.gguf"
expect_out export_hf_builtin "has no tokenizer files to copy" \
    "$LEMMA" export "$TMP/builtin" --format hf --out "$TMP/b-hf"

# lemma run exports the final model at its end (pipeline.export), once: the manifest has it.
RUNSET=(--set model.from="$R/llama3" --set run.dir="$TMP/run" --set pipeline.phases=eval
        --set eval.splits=test --set eval.problems=2 --set eval.max_new_tokens=8 --set pipeline.export=hf,gguf)
expect_out run_exports "run: phase export finished" "$LEMMA" run "$CFG" "${RUNSET[@]}"
a=$("$LEMMA" generate "$TMP/run/export/model.gguf" --prompt "$PROMPT" --max-tokens 12 2>/dev/null)
b=$("$LEMMA" generate "$TMP/run/export/hf" --prompt "$PROMPT" --max-tokens 12 2>/dev/null)
c=$("$LEMMA" generate "$R/llama3" --prompt "$PROMPT" --max-tokens 12 2>/dev/null)
[[ -n $c && $a == "$c" && $b == "$c" ]] && echo "PASS run_exports_the_model (hf and gguf generate as the model the run evaluated)" ||
    echo "FAIL run_exports_the_model: '$a' '$b' vs '$c'"
expect_out run_export_once "every phase of .* is finished" "$LEMMA" run "$CFG" "${RUNSET[@]}"
expect_fail run_export_bad_dtype 2 "dtype 'f16' is not one hf writes" "$LEMMA" run "$CFG" "${RUNSET[@]}" \
    --set run.dir="$TMP/run2" --set pipeline.export_dtype=f16
