#!/usr/bin/env bash
# configs/experiments/lemma_vs_sft/run.sh [NP]: the lemma-vs-sft experiment (docs/results.md).
#   base             pretrain, sample (k = 4), build: the base model and its reflection data
#   sft-<T>          fine-tune on CoT records only, T tokens (matched budget)
#   lemma-<T>        fine-tune on CoT + LEMMA reflection records (fix & continue, restart)
#   lemma-notrunc-<T> the same built without truncation (the LEMMA ablation)
#   pretrain-mix     pretraining from scratch on CoT plus the base run's reflection data
# T sweeps the fine-tuning budget (FT_STEPS x 12288 tokens). Then analysis/compare.py.
# Finished runs are skipped (manifest.json), so the script resumes where it stopped.
set -euo pipefail
cd "$(dirname "$0")/../../.."
NP=${1:-2}
BUILD=${BUILD:-build}
OUT=${OUT:-runs/lemma_vs_sft}
CFG=configs/experiments/lemma_vs_sft/base.cfg
FT_STEPS=${FT_STEPS:-"80 320"}
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
lemma() { mpirun --oversubscribe -np "$NP" "$BUILD/lemma" run "$CFG" --set run.dir="$OUT/$1" "${@:2}"; }

lemma base --set 'pipeline.phases=pretrain,sample,build,eval'
runs=()
for s in $FT_STEPS; do
    lemma "sft-$s" --set pipeline.base_run="$OUT/base" --set 'pipeline.phases=finetune,eval' \
        --set finetune.data=sft --set finetune.steps="$s"
    lemma "lemma-$s" --set pipeline.base_run="$OUT/base" --set 'pipeline.phases=finetune,eval' \
        --set finetune.data=lemma --set finetune.steps="$s"
    lemma "lemma-notrunc-$s" --set pipeline.base_run="$OUT/base" --set 'pipeline.phases=build,finetune,eval' \
        --set build.samples="$OUT/base/samples.jsonl" --set build.truncate=false \
        --set finetune.data=lemma --set finetune.steps="$s"
    runs+=("$OUT/sft-$s" "$OUT/lemma-$s" "$OUT/lemma-notrunc-$s")
done
lemma pretrain-mix --set 'pipeline.phases=pretrain,eval' --set pretrain.extra="$OUT/base/data/train.jsonl"
/usr/bin/python3 analysis/compare.py "$OUT/base" "${runs[@]}" "$OUT/pretrain-mix" --out "$OUT"
