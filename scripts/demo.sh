#!/usr/bin/env bash
# The demo: the biggest thing that works so far. Today: data-parallel training of a small
# LLaMA-style model on 2 MPI ranks (CPU) on the built-in word problems, with HDF5 checkpoints,
# then its greedy answers to a few test problems and a look at the last checkpoint.
# Later: the whole pipeline (sample, build reflection data, fine-tune, evaluate).
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMP_NUM_THREADS=1
RUN=${RUN:-runs/demo}
echo "== lemma demo: training on built-in word problems, 2 ranks, CPU (configs/tiny.cfg) =="
echo "   run directory: $RUN (rerun to resume; delete it to start over)"
mpirun --oversubscribe -np 2 "$BUILD/lemma" train configs/tiny.cfg --set run.dir="$RUN" --show 3 "$@"
echo
echo "== the newest checkpoint =="
"$BUILD/lemma" inspect "$RUN/ckpt/$(cat "$RUN/ckpt/latest")"
