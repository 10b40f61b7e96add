#!/usr/bin/env bash
# Makes (once) the converted tokenizers (tests/py/make_tokenizers.py) and the chat
# references with their tiny LLaMA-3 and Mistral model directories (tests/py/chat_ref.py)
# in $LEMMA_CACHE, keyed by the scripts' contents, and prints "ASSETS TOKENIZERS REFS", the
# three folders. Exits 3 when a script fails (callers print FAIL), other non-zero when the
# assets cannot be had (SKIP), with the reason on stderr.
set -euo pipefail
cd "$(dirname "$0")/../.."
PY=$(bash tests/py/venv.sh)
A=$(bash tests/py/assets.sh --model)
CACHE=${LEMMA_CACHE:-$HOME/.cache/lemma}
exec 9>"$CACHE/chat.lock"
flock 9
T=$CACHE/tokenizers-$(md5sum <tests/py/make_tokenizers.py | cut -c1-12)
if [[ ! -f $T/tiktoken.json ]]; then
    rm -rf "$T.part" && mkdir -p "$T.part"
    "$PY" tests/py/make_tokenizers.py "$A" "$T.part" >"$T.log" 2>&1 ||
        { echo "make_tokenizers.py failed: $(tail -1 "$T.log")" >&2; exit 3; }
    mv "$T.part" "$T"
fi
R=$CACHE/chat-$(cat tests/py/chat_ref.py tests/py/make_tokenizers.py | md5sum | cut -c1-12)
if [[ ! -f $R/refs.json ]]; then
    rm -rf "$R.part"
    "$PY" tests/py/chat_ref.py "$A" "$T" "$R.part" >"$R.log" 2>&1 ||
        { echo "chat_ref.py failed: $(tail -1 "$R.log")" >&2; exit 3; }
    mv "$R.part" "$R"
fi
echo "$A $T $R"
