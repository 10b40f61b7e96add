#!/usr/bin/env bash
# make bench: CPU training tokens/s of lemma against PyTorch (same model, same threads, same
# machine, measured side by side in this run), for three model sizes, with the ratio and a
# per-op breakdown of lemma's step. make bench-gpu (--gpu): GPU training tokens/s and MFU.
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD=${BUILD:-build}
THREADS=${THREADS:-2}
BIN=$BUILD/bench/bench_train

if [[ "${1:-}" == "--gpu" ]]; then
    echo "== GPU training throughput (124M LLaMA-style: dim 768, 12 layers, 12 heads, seq 1024) =="
    for prec in bf16 fp32; do
        "$BIN" --device cuda --precision $prec --dim 768 --layers 12 --heads 12 --kv-heads 12 \
            --ffn 3072 --seq 1024 --batch ${GPU_BATCH:-16} --steps 10 --warmup 3
    done
    "$BIN" --device cuda --precision bf16 --dim 768 --layers 12 --heads 12 --kv-heads 12 \
        --ffn 3072 --seq 1024 --batch ${GPU_BATCH:-16} --steps 3 --warmup 2 --profile
    exit 0
fi

printf '%-26s %12s %12s %8s\n' config "lemma tok/s" "torch tok/s" ratio
for cfg in "128 4 8 4 384" "256 6 8 4 768" "512 8 8 4 1536"; do
    read -r dim layers heads kv ffn <<<"$cfg"
    args=(--dim $dim --layers $layers --heads $heads --kv-heads $kv --ffn $ffn --seq 256 --batch 8 --steps 6 --warmup 2)
    ours=$(OMP_NUM_THREADS=$THREADS "$BIN" "${args[@]}" --threads $THREADS)
    theirs=$(/usr/bin/python3 tests/bench/torch_train.py "${args[@]}" --vocab 260 --threads $THREADS)
    a=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["tokens_per_s"])' "$ours")
    b=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["tokens_per_s"])' "$theirs")
    printf '%-26s %12.0f %12.0f %7.2fx\n' "dim $dim, $layers layers" "$a" "$b" "$(python3 -c "print($a/$b)")"
done
echo
echo "== where lemma's time goes: dim 256, 6 layers, seq 256, batch 8, $THREADS threads =="
OMP_NUM_THREADS=$THREADS "$BIN" --dim 256 --layers 6 --heads 8 --kv-heads 4 --ffn 768 --seq 256 \
    --batch 8 --steps 3 --warmup 1 --threads $THREADS --profile | tail -n +2
