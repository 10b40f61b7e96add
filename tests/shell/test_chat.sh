#!/usr/bin/env bash
# tests/shell/test_chat.sh: prompt formats and trying a model in one line. The ids of
# `lemma tokenize MODEL --chat` against each vendor's own code (tests/py/chat_ref.py):
# LLaMA-3 (llama-models' ChatFormat), Mistral (mistral-common) and chatml (SmolLM2's own
# Jinja template), read from model directories and a GGUF as a user's model gives them; then
# `lemma generate` on SmolLM2-135M-Instruct (GGUF) against transformers' greedy decoding of the
# same chat prompts (64 tokens, or up to the end of the answer); then the commands' errors.
# SKIP where the venv or the assets cannot be had (no network).
source "$(dirname "$0")/lib.sh"
cd "$(dirname "$0")/../.."
if ! PY=$(bash tests/py/venv.sh 2>"$TMP/venv.err"); then
    echo "SKIP chat: no reference venv ($(tail -1 "$TMP/venv.err"))"; exit 0
fi
paths=$(bash tests/py/chat_assets.sh 2>"$TMP/assets.err"); rc=$?
if ((rc == 3)); then echo "FAIL chat_assets: $(tail -1 "$TMP/assets.err")"; exit 0; fi
if ((rc)); then echo "SKIP chat: assets unavailable ($(tail -1 "$TMP/assets.err"))"; exit 0; fi
read -r A T R <<<"$paths"
G=$A/smollm2-135m-instruct-q4_1.gguf
"$PY" tests/py/chat_compare.py "$LEMMA" "$R/refs.json" llama3 "$R/llama3"
"$PY" tests/py/chat_compare.py "$LEMMA" "$R/refs.json" mistral "$R/mistral"
"$PY" tests/py/chat_compare.py "$LEMMA" "$R/refs.json" chatml "$G"

# lemma generate against transformers' greedy decoding (KV cache on both sides), on two
# GSM8K-like chat prompts of the reference; lemma stops at <|im_end|> or eos.
if [[ ! -f $R/greedy.json ]]; then
    "$PY" -c "import json,sys; r=json.load(open(sys.argv[1]))['chatml']; print('\n'.join(json.dumps(c['ids']) for c in r[:2]))" \
        "$R/refs.json" | "$PY" tests/py/ref_gguf_model.py "$G" "$R/greedy.json" 64 >"$TMP/greedy.log" 2>&1 ||
        { echo "FAIL generate_reference:"; tail -3 "$TMP/greedy.log" | sed 's/^/     /'; }
fi
if [[ -f $R/greedy.json ]]; then
    for i in 0 1; do
        user=$("$PY" -c "import json,sys; print(json.load(open(sys.argv[1]))['chatml'][int(sys.argv[2])]['user'])" "$R/refs.json" $i)
        if ! "$LEMMA" generate "$G" --prompt "$user" --max-tokens 64 >"$TMP/gen$i.txt" 2>"$TMP/gen$i.err"; then
            echo "FAIL generate_smollm2_$i: exit $?"; tail -3 "$TMP/gen$i.err" | sed 's/^/     /'; continue
        fi
        "$PY" - "$R/greedy.json" "$T/smollm2.json" "$TMP/gen$i.txt" $i <<'PY'
import json, sys
from tokenizers import Tokenizer
g = json.load(open(sys.argv[1]))["smollm2"]["greedy"][int(sys.argv[4])]
stop = [k for k, t in enumerate(g) if t in (2, 0)]  # <|im_end|>, <|endoftext|>
ids = g[:stop[0]] if stop else g
want = Tokenizer.from_file(sys.argv[2]).decode(ids, skip_special_tokens=False)
got = open(sys.argv[3], encoding="utf-8").read()[:-1]  # generate ends with a newline
name = "generate_smollm2_greedy_%s" % sys.argv[4]
if got == want:
    print("PASS %s (%d tokens identical to transformers%s)" % (name, len(ids), ", ended by <|im_end|>" if stop else ""))
else:
    k = next((i for i in range(min(len(got), len(want))) if got[i] != want[i]), min(len(got), len(want)))
    print("FAIL %s: differs at character %d\n     lemma %r\n     ref   %r" % (name, k, got[k:k + 60], want[k:k + 60]))
PY
    done
fi

# The commands' errors: clear messages, status 2.
expect_fail generate_needs_prompt 2 "--prompt TEXT is required" "$LEMMA" generate "$G"
expect_fail generate_bad_temperature 2 "option --temperature: bad value" "$LEMMA" generate "$G" --prompt x --temperature -1
expect_fail generate_not_a_model 2 "is not a model: expected a Hugging Face directory" "$LEMMA" generate "$TMP" --prompt x
expect_fail tokenize_unknown_option 2 "usage: lemma tokenize MODEL" "$LEMMA" tokenize "$G" --bogus
printf '#end </s>\n' >"$TMP/bad.tmpl"
expect_fail chat_template_needs_user 2 "needs a .user. placeholder" "$LEMMA" tokenize "$G" --chat --set model.chat_template="$TMP/bad.tmpl"
# A custom template file: {system} and {user} filled in, as the file says.
printf '<|im_start|>user\n{user}<|im_end|>\n<|im_start|>assistant\n#end <|im_end|>\n' >"$TMP/my.tmpl"
a=$(echo "What is 2 + 3?" | "$LEMMA" tokenize "$G" --chat --set model.chat_template="$TMP/my.tmpl" 2>/dev/null)
b=$(echo "What is 2 + 3?" | "$LEMMA" tokenize "$G" --chat --set model.system=none 2>/dev/null)
[[ -n $a && $a == "$b" ]] && echo "PASS chat_custom_template_file (the same ids as chatml with no system turn)" ||
    echo "FAIL chat_custom_template_file: $a vs $b"
