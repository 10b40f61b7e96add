#!/usr/bin/env bash
# The demo (make demo): the whole method on the CPU with 2 MPI ranks, configs/tiny.cfg:
# pretrain a small model on chain-of-thought solutions of built-in word problems, sample and
# grade its own solutions, build reflection data from the wrong ones, fine-tune on it,
# evaluate before and after, and write report.md. About ten minutes on 2 cores.
# Rerunning resumes an interrupted run (finished phases are skipped); delete RUN to start over.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMP_NUM_THREADS=1
RUN=${RUN:-runs/demo}
echo "== lemma demo: pretrain -> sample -> build -> finetune -> eval, 2 ranks, CPU (configs/tiny.cfg)"
echo "   run directory: $RUN (rerun to resume; delete it to start over)"
mpirun --oversubscribe -np 2 "$BUILD/lemma" run configs/tiny.cfg --set run.dir="$RUN" "$@"
echo
echo "== what the reflection data looks like (one lemma_fix record of $RUN/data/train.jsonl)"
/usr/bin/python3 - "$RUN/data/train.jsonl" <<'PY'
import json, sys
for line in open(sys.argv[1]):
    r = json.loads(line)
    if r["kind"] == "lemma_fix":
        print(r["prompt"] + r["response"])
        print("   [error type: %s]" % r.get("error_type", "?"))
        break
PY
echo
/usr/bin/python3 analysis/report.py "$RUN"
