#!/usr/bin/env bash
# configs/experiments/lemma_vs_sft/run.sh [NP]: the lemma-vs-sft experiment (docs/results.md).
#   base                 pretrain, sample (k = 4), build: the base model and its reflection data
#   sft-<T>              fine-tune on CoT records only, T steps (matched budget)
#   lemma-<T>            fine-tune on CoT + LEMMA reflection records (fix & continue, restart)
# then, at VARIANT_STEPS:
#   lemma-notrunc-<T>    the same built without truncation (the LEMMA ablation)
#   lemma-mask-<T>       no loss on the repeated wrong solution (finetune.mask_mistakes)
#   lemma-share25-<T>    reflection records a quarter of the mix (finetune.reflection_share)
#   pretrain-mix         pretraining from scratch on CoT plus the base run's reflection data
# then the long budget, LONG_STEPS (sft and lemma), and last round 2 (below): 4x the
# harvest, a lower fine-tuning learning rate. T steps x 12288 tokens each.
# Finished runs are skipped (manifest.json), so the script resumes where it stopped; every
# run is compared (analysis/compare.py) after each one, so a stopped sweep still has a table.
set -euo pipefail
cd "$(dirname "$0")/../../.."
NP=${1:-2}
BUILD=${BUILD:-build}
OUT=${OUT:-runs/lemma_vs_sft}
CFG=configs/experiments/lemma_vs_sft/base.cfg
FT_STEPS=${FT_STEPS:-"80 320"}
VARIANT_STEPS=${VARIANT_STEPS:-320}
LONG_STEPS=${LONG_STEPS:-1300}
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
runs=()
lemma() { mpirun --oversubscribe -np "$NP" "$BUILD/lemma" run "$CFG" --set run.dir="$OUT/$1" "${@:2}"; }
compare() { /usr/bin/python3 analysis/compare.py "$OUT/base" "${runs[@]}" --out "$OUT" >/dev/null; }
# ft NAME STEPS SETTINGS...: fine-tune the base and evaluate.
ft() {
    lemma "$1" --set pipeline.base_run="$OUT/base" --set 'pipeline.phases=finetune,eval' \
        --set finetune.steps="$2" "${@:3}"
    runs+=("$OUT/$1")
    compare
}

lemma base --set 'pipeline.phases=pretrain,sample,build,eval'
for s in $FT_STEPS; do
    ft "sft-$s" "$s" --set finetune.data=sft
    ft "lemma-$s" "$s" --set finetune.data=lemma
done
v=$VARIANT_STEPS
lemma "lemma-notrunc-$v" --set pipeline.base_run="$OUT/base" --set 'pipeline.phases=build,finetune,eval' \
    --set build.samples="$OUT/base/samples.jsonl" --set build.truncate=false \
    --set finetune.data=lemma --set finetune.steps="$v"
runs+=("$OUT/lemma-notrunc-$v")
ft "lemma-mask-$v" "$v" --set finetune.data=lemma --set finetune.mask_mistakes=true
ft "lemma-share25-$v" "$v" --set finetune.data=lemma --set finetune.reflection_share=0.25
lemma pretrain-mix --set 'pipeline.phases=pretrain,eval' --set pretrain.extra="$OUT/base/data/train.jsonl"
runs+=("$OUT/pretrain-mix")
compare
for s in $LONG_STEPS; do
    ft "sft-$s" "$s" --set finetune.data=sft
    ft "lemma-$s" "$s" --set finetune.data=lemma
done
# Round 2: the same base, errors harvested on 4x the problems (HARVEST2 problems x 4 samples),
# fine-tuned at a lower learning rate (FT2_LR) for VARIANT_STEPS steps: *-h4k runs.
lemma harvest-h4k --set pipeline.base_run="$OUT/base" --set 'pipeline.phases=sample' \
    --set sample.problems="${HARVEST2:-4000}"
ft2() { # NAME SETTINGS...: build from the round-2 samples, fine-tune, evaluate
    lemma "$1" --set pipeline.base_run="$OUT/base" --set 'pipeline.phases=build,finetune,eval' \
        --set build.samples="$OUT/harvest-h4k/samples.jsonl" --set finetune.steps="$v" \
        --set finetune.lr="${FT2_LR:-3e-4}" "${@:2}"
    runs+=("$OUT/$1")
    compare
}
ft2 "sft-$v-h4k" --set finetune.data=sft
ft2 "lemma-$v-h4k" --set finetune.data=lemma
ft2 "lemma-share25-$v-h4k" --set finetune.data=lemma --set finetune.reflection_share=0.25
ft2 "lemma-mask-$v-h4k" --set finetune.data=lemma --set finetune.mask_mistakes=true
ft2 "lemma-notrunc-$v-h4k" --set finetune.data=lemma --set build.truncate=false
/usr/bin/python3 analysis/compare.py "$OUT/base" "${runs[@]}" --out "$OUT"
