#!/usr/bin/env bash
# make bench: CPU training tokens/s of lemma against PyTorch (same model, same threads, same
# machine, measured side by side in this run), for three model sizes, with the ratio and a
# per-op breakdown of lemma's step; then sampling (KV-cache decoding) tokens/s against a
# PyTorch KV-cache decoder and against the machine's sgemm rate; then SmolLM2-135M (a real
# model, fp32) sampling and training against Hugging Face transformers, with the LM head's
# share of the step; then tokenizers and import against Hugging Face. Every comparison
# alternates the two sides BENCH_REPEATS times (default 3) and prints the median ratio with
# its range. make bench-gpu (--gpu): GPU training tokens/s and MFU, and GPU sampling tokens/s.
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD=${BUILD:-build}
THREADS=${THREADS:-2}
BIN=$BUILD/bench/bench_train
# Both sides use Debian's OpenBLAS: give them the same kernels, the best this CPU runs (lemma
# re-executes itself with this when OpenBLAS does not recognise the CPU; PyTorch needs it
# from the environment). An inherited OPENBLAS_CORETYPE is overridden (some images set
# Haswell on AVX-512 machines, which halves the sgemm rate); BENCH_CORETYPE chooses.
if [[ -n ${BENCH_CORETYPE:-} ]]; then export OPENBLAS_CORETYPE=$BENCH_CORETYPE
elif grep -qw avx512f /proc/cpuinfo; then export OPENBLAS_CORETYPE=SkylakeX
elif grep -qw avx2 /proc/cpuinfo; then export OPENBLAS_CORETYPE=Haswell; fi
echo "OpenBLAS kernels: ${OPENBLAS_CORETYPE:-auto}, $THREADS threads, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2)"
# Idle OpenMP threads sleep instead of spinning, on both sides (PyTorch's script sets the
# same): on a shared machine spinning threads starve each other (2.5x slower measured here
# under load); on a dedicated node the default policy is as fast.
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-PASSIVE}
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1

# dp_bench [mpirun args] -- [lemma --set args]: `lemma train tests/configs/bench_dp.cfg` on 1
# rank, then 2 ranks with the per-block overlap of gradient reductions off and on. Per step
# (the first two warm up): the step time, the time it waited for reductions after its
# backward ("reduce wait": the communication not hidden; with overlap off, all of it) and
# the rest ("compute").
dp_bench() {
    local margs=() largs=() np overlap dir
    while [[ $# -gt 0 && $1 != -- ]]; do margs+=("$1"); shift; done
    shift
    largs=("$@")
    printf '%-28s %10s %12s %16s %12s\n' setup "step ms" "compute ms" "reduce wait ms" "tokens/s"
    for setup in "1 true" "2 false" "2 true"; do
        read -r np overlap <<<"$setup"
        dir=$(mktemp -d)
        if ! mpirun --oversubscribe -np $np "${margs[@]}" "$BUILD/lemma" train tests/configs/bench_dp.cfg \
            --set run.dir="$dir" --set train.overlap=$overlap "${largs[@]}" >"$dir/log" 2>&1; then
            echo "FAILED: $np ranks, overlap $overlap:"; tail -5 "$dir/log"; rm -rf "$dir"; continue
        fi
        python3 - "$dir/metrics.jsonl" "$np ranks, overlap $overlap" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if '"phase":"train"' in l]
per = (rows[-1]["tokens"] - rows[1]["tokens"]) / (len(rows) - 2)
rows = rows[2:]  # the first steps warm up
step = sum(r["step_s"] for r in rows) / len(rows); wait = sum(r["reduce_wait_s"] for r in rows) / len(rows)
print("%-28s %10.1f %12.1f %16.2f %12.0f" % (sys.argv[2], 1e3 * step, 1e3 * (step - wait), 1e3 * wait, per / step))
PY
        rm -rf "$dir"
    done
}

if [[ "${1:-}" == "--gpu" ]]; then
    echo "== GPU training throughput (124M LLaMA-style: dim 768, 12 layers, 12 heads, seq 1024) =="
    for prec in bf16 fp32; do
        "$BIN" --device cuda --precision $prec --dim 768 --layers 12 --heads 12 --kv-heads 12 \
            --ffn 3072 --seq 1024 --batch ${GPU_BATCH:-16} --steps 10 --warmup 3
    done
    "$BIN" --device cuda --precision bf16 --dim 768 --layers 12 --heads 12 --kv-heads 12 \
        --ffn 3072 --seq 1024 --batch ${GPU_BATCH:-16} --steps 3 --warmup 2 --profile
    # Data parallelism on the GPU: the 124M model, bf16, 16 rows of 1024 tokens per step.
    # With one GPU the 2 ranks share it (NCCL needs a GPU per rank: they stage through host
    # memory and MPI, and say so in the log); with 2 GPUs, NCCL.
    echo "== GPU data-parallel training, 124M model: step time split into compute and communication =="
    if command -v mpirun >/dev/null && "$BUILD/lemma" --version | grep -q "MPI yes"; then
        dp_bench -- --set run.device=cuda --set run.precision=bf16 --set model.dim=768 \
            --set model.n_layers=12 --set model.n_heads=12 --set model.n_kv_heads=12 \
            --set model.ffn_dim=3072 --set model.max_seq=1024 --set train.seq_len=1024 \
            --set train.micro_batch=8 --set train.batch_tokens=16384 --set train.steps=8
    else
        echo "SKIP GPU data-parallel training: needs mpirun and a build with MPI (gpu-pack has none)"
    fi
    echo "== GPU sampling: generated tokens/s (dim 256, 6 layers, prompt 64 + 128 new tokens, bf16) =="
    for b in 1 16 64 256 1024; do
        "$BUILD/bench/bench_sample" --device cuda --precision bf16 --batch $b --prompt 64 --new 128
    done
    # The 124M model against Hugging Face transformers' generate on the same GPU (bf16,
    # random weights, random prompts of 64 tokens, 128 new tokens each at temperature 0.7;
    # decode steps timed on both sides). HF_PYTHON: the Python that has torch + transformers.
    echo "== GPU sampling, 124M model (dim 768, 12 layers, 12 heads): lemma vs HF generate, decode tokens/s =="
    printf '%-8s %12s %12s %8s\n' batch "lemma tok/s" "HF tok/s" ratio
    m124=(--dim 768 --layers 12 --heads 12 --kv-heads 12 --ffn 3072 --prompt 64 --new 128 --vocab 260)
    hfpy=${HF_PYTHON:-python3}
    hf_ok=1
    "$hfpy" -c 'import torch, transformers' 2>/dev/null || { hf_ok=0; echo "SKIP HF generate: $hfpy cannot import torch and transformers"; }
    for b in 64 256 1024; do
        ours=$("$BUILD/bench/bench_sample" --device cuda --precision bf16 --batch $b "${m124[@]}")
        theirs='{"tokens_per_s": 0}'
        [[ $hf_ok == 1 ]] && theirs=$("$hfpy" tests/bench/hf_generate.py --device cuda --dtype bf16 --batch $b "${m124[@]}")
        python3 - "$ours" "$theirs" <<'PY'
import json, sys
o, t = json.loads(sys.argv[1]), json.loads(sys.argv[2])
r = "%7.2fx" % (o["tokens_per_s"] / t["tokens_per_s"]) if t["tokens_per_s"] else "      -"
print("%-8d %12.0f %12.0f %s" % (o["batch"], o["tokens_per_s"], t["tokens_per_s"], r))
PY
    done
    exit 0
fi

# Which parts run: BENCH_ONLY, a comma-separated list of train (training and data
# parallelism), sample (sampling), smollm2 (SmolLM2-135M against transformers), models
# (tokenizers and import); all of them when unset.
want() { [[ -z ${BENCH_ONLY:-} || ,$BENCH_ONLY, == *,$1,* ]]; }
jget() { python3 -c 'import json,sys; print(json.loads(sys.argv[1])[sys.argv[2]])' "$1" "$2"; }
# Every row that compares lemma with a peer runs the two sides alternately REPEATS times: on
# a shared machine one pair can be off by 20 %; the row's figure is the median of the
# per-pair ratios, printed with their range (tests/bench/median.py, which tok_bench.py and
# import_bench.py use too).
REPEATS=${BENCH_REPEATS:-3}
export BENCH_REPEATS=$REPEATS
# alternate LABEL OURS THEIRS [median.py options]: the shell functions OURS and THEIRS (each
# prints one JSON line) run in turn REPEATS times; then the row.
alternate() {
    local label=$1 ours=$2 theirs=$3 runs=() i o t
    shift 3
    for i in $(seq "$REPEATS"); do
        o=$($ours)
        t=$($theirs)
        runs+=("$o" "$t")
    done
    python3 tests/bench/median.py row "$label" "$@" "${runs[@]}"
}
SBIN=$BUILD/bench/bench_sample
# Each sampling side at its best OpenMP wait policy: PyTorch and transformers with PASSIVE
# (their scripts set it; with ACTIVE their intra-op and BLAS threads fight: 3-4x slower
# measured), lemma with libgomp's default (spin a little, then sleep), as `lemma sample`
# runs when nothing is set: a decode step is ~40 short parallel regions, and waking sleeping
# threads for each costs 1.6x. The machine's rates (sgemm, read bandwidth over a buffer as
# large as the weights) are measured before each lemma run with idle threads asleep: lemma's
# spinning OpenMP threads would take cores from OpenBLAS's own. SBIN_MODEL: bench_sample's
# model arguments (none: the dim-256 model).
SBIN_MODEL=()
sample_lemma() {
    local r
    r=$(OMP_NUM_THREADS=$THREADS OMP_WAIT_POLICY=PASSIVE "$SBIN" --rates-only --threads $THREADS "${SBIN_MODEL[@]}")
    env -u OMP_WAIT_POLICY OMP_NUM_THREADS=$THREADS "$SBIN" "${SBIN_MODEL[@]}" "${sargs[@]}" \
        --threads $THREADS --sgemm-gflops "$(jget "$r" sgemm_gflops)" --read-gbps "$(jget "$r" read_gbps)"
}

if want train; then
echo "== CPU training: forward + backward + AdamW, seq 256, batch 8, byte vocabulary, fp32, $THREADS threads; lemma against PyTorch (tests/bench/torch_train.py), $REPEATS alternating runs =="
python3 tests/bench/median.py header config torch
train_lemma() { OMP_NUM_THREADS=$THREADS "$BIN" "${targs[@]}" --threads $THREADS; }
train_torch() { /usr/bin/python3 tests/bench/torch_train.py "${targs[@]}" --vocab 260 --threads $THREADS; }
for cfg in "128 4 8 4 384" "256 6 8 4 768" "512 8 8 4 1536"; do
    read -r dim layers heads kv ffn <<<"$cfg"
    targs=(--dim $dim --layers $layers --heads $heads --kv-heads $kv --ffn $ffn --seq 256 --batch 8 --steps 5 --warmup 1)
    alternate "dim $dim, $layers layers" train_lemma train_torch
done
echo
echo "== data-parallel training (dim 256, 6 layers, 8 rows of 512 tokens per step, 1 thread per rank) =="
dp_bench -x OMP_NUM_THREADS=1 --
echo
echo "== where lemma's time goes: dim 256, 6 layers, seq 256, batch 8, $THREADS threads =="
OMP_NUM_THREADS=$THREADS "$BIN" --dim 256 --layers 6 --heads 8 --kv-heads 4 --ffn 768 --seq 256 \
    --batch 8 --steps 3 --warmup 1 --threads $THREADS --profile | tail -n +2
fi

if want sample; then
echo
echo "== sampling: generated tokens/s, dim 256, 6 layers, 8 heads, 4 kv heads, ffn 768, prompt 64 + 128 new tokens, T 0.7, bf16 KV cache (the default; fp32kv: sample.kv_cache = fp32), $THREADS threads; lemma against a PyTorch KV-cache decoder (tests/bench/torch_sample.py, fp32 cache), $REPEATS alternating runs, the sgemm rate measured before each =="
python3 tests/bench/median.py header batch torch --sgemm
sample_torch() { /usr/bin/python3 tests/bench/torch_sample.py --batch $b --prompt 64 --new 128 --vocab 260 --threads $THREADS; }
for row in "1 bf16" "16 bf16" "64 bf16" "64 fp32" "256 bf16"; do
    read -r b kv <<<"$row"
    sargs=(--batch $b --prompt 64 --new 128 --kv-cache $kv)
    label=$b opts=(--sgemm)
    [[ $kv == fp32 ]] && label="$b fp32kv"
    [[ $b == 1 ]] && opts+=(--bound)
    alternate "$label" sample_lemma sample_torch "${opts[@]}"
done
echo
echo "== where the decode step goes: batch 64, $THREADS threads =="
env -u OMP_WAIT_POLICY OMP_NUM_THREADS=$THREADS "$SBIN" --batch 64 --prompt 64 --new 64 --threads $THREADS --profile | tail -n +2
fi

# Real models (issues 19 and 20), in the reference venv of tests/py with the SmolLM2 asset
# (SKIP without them).
if want smollm2 || want models; then
    if PY=$(bash tests/py/venv.sh 2>/dev/null) && A=$(bash tests/py/assets.sh --model 2>/dev/null); then
        have_models=1
    else
        have_models=0
    fi
    CACHE=${LEMMA_CACHE:-$HOME/.cache/lemma}
fi

# SmolLM2-135M-Instruct (the GGUF Q4_1 file, dequantized to fp32 on both sides: lemma through
# src/import, transformers through its GGUF reader; transformers keeps an fp32 copy in CACHE
# so that each run does not spend 15 s reading the GGUF), fp32 compute on both sides, the same
# threads. Sampling: random prompts of 64 tokens, 64 new tokens each at temperature 0.7, no
# early stop (lemma: no eos; transformers: min_new_tokens), the KV cache on both sides (lemma
# with sample.kv_cache = fp32, transformers' dynamic cache), decode steps timed (transformers:
# generate(64) - generate(1), best of 2). Training: batch 4 x seq 256 of random tokens and
# targets, the loss on every position, gradient clipping at 1 and AdamW.
if want smollm2; then
echo
echo "== SmolLM2-135M-Instruct on the CPU, fp32, $THREADS threads: lemma against transformers 4.49 on Debian's PyTorch, $REPEATS alternating runs =="
if [[ $have_models == 1 ]]; then
    G=$A/smollm2-135m-instruct-q4_1.gguf
    echo "sampling: prompt 64 + 64 new tokens at T 0.7, KV cache (lemma: fp32 cache); decode tokens/s (lemma: sampling engine; transformers: generate)"
    python3 tests/bench/median.py header batch HF --sgemm
    SBIN_MODEL=(--model "$G" --precision fp32)
    hf_sample() { "$PY" tests/bench/hf_generate.py --device cpu --dtype fp32 --gguf "$G" --f32-cache "$CACHE" \
        --batch $b --prompt 64 --new 64 --threads $THREADS; }
    for b in 1 16; do
        sargs=(--batch $b --prompt 64 --new 64 --kv-cache fp32)
        opts=(--sgemm)
        [[ $b == 1 ]] && opts+=(--bound)
        alternate "$b: decode, T 0.7" sample_lemma hf_sample "${opts[@]}"
    done
    SBIN_MODEL=()
    echo "training: forward + backward + clip + AdamW on random tokens (lemma: bench_train --model; transformers: LlamaForCausalLM, tests/bench/hf_train.py)"
    python3 tests/bench/median.py header "batch x seq" HF
    sm_args=(--batch 4 --seq 256 --steps 3 --warmup 1)
    train_lemma_sm() { OMP_NUM_THREADS=$THREADS "$BIN" --model "$G" --precision fp32 "${sm_args[@]}" --threads $THREADS; }
    train_hf_sm() { "$PY" tests/bench/hf_train.py --gguf "$G" --f32-cache "$CACHE" "${sm_args[@]}" --threads $THREADS; }
    alternate "4 x 256: fwd + bwd + AdamW" train_lemma_sm train_hf_sm
    echo
    echo "== where lemma's SmolLM2 training step goes: batch 4 x seq 256, $THREADS threads =="
    OMP_NUM_THREADS=$THREADS "$BIN" --model "$G" --precision fp32 --batch 4 --seq 256 --steps 2 --warmup 1 \
        --threads $THREADS --profile | tail -n +2
else
    echo "SKIP SmolLM2-135M benchmarks: no reference venv or SmolLM2 asset (tests/py/venv.sh, tests/py/assets.sh --model)"
fi
fi

# Tokenizer throughput on GSM8K and MATH text and the import time of SmolLM2-135M (GGUF, and
# the same weights as bf16 safetensors) against Hugging Face.
if want models; then
echo
echo "== tokenizers: MB/s of GSM8K test + MATH-500 text, one thread each (lemma / HF tokenizers) =="
if [[ $have_models == 1 ]]; then
    T=$CACHE/tokenizers-$(md5sum <tests/py/make_tokenizers.py | cut -c1-12)
    [[ -f $T/tiktoken.json ]] || { rm -rf "$T.part" && mkdir -p "$T.part" &&
        "$PY" tests/py/make_tokenizers.py "$A" "$T.part" >/dev/null 2>&1 && mv "$T.part" "$T"; }
    texts=$(mktemp)
    "$PY" - "$texts" <<'PY'
import json, os, sys
out = open(sys.argv[1], "w")
for f in ["../shared/data/gsm8k/test.jsonl", "../shared/data/math/math500.jsonl"]:
    src = f if os.path.exists(f) else "tests/fixtures/tok_texts.jsonl"
    for line in open(src):
        r = json.loads(line)
        for v in ([r] if isinstance(r, str) else [r.get(k) for k in ("question", "answer", "problem", "solution")]):
            if isinstance(v, str): out.write(json.dumps(v) + "\n")
PY
    "$PY" tests/bench/tok_bench.py "$BUILD/tools/tok_check" "$T" "$texts"
    rm -f "$texts"
    echo
    echo "== import SmolLM2-135M-Instruct: seconds to a model in memory (lemma / transformers) =="
    THREADS=$THREADS "$PY" tests/bench/import_bench.py "$BUILD/tools/import_logits" \
        "$A/smollm2-135m-instruct-q4_1.gguf" "$CACHE"
else
    echo "SKIP tokenizer and import benchmarks: no reference venv or assets (tests/py/venv.sh, assets.sh)"
fi
fi
