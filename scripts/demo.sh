#!/usr/bin/env bash
# The demo: the biggest thing that works so far. Today: the LLaMA-style model trained on
# the CPU by the single-process driver on the toy addition corpus, with greedy answers to
# held-out problems at the end. Later: the whole pipeline (configs/tiny.cfg, 2 ranks).
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
echo "== lemma demo: training a 4-layer model on additions (configs/tiny.cfg), CPU =="
"$BUILD/lemma" train configs/tiny.cfg "$@"
