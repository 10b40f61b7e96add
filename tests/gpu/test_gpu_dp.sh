# tests/gpu/test_gpu_dp.sh (make test-gpu): data parallelism and device changes on the GPU.
# - 1 rank against 2 ranks (sharing one GPU: gradients through host memory and MPI; on 2 GPUs:
#   NCCL), unsharded and sharded optimizer: the same losses (fp32, within 1e-4);
# - a run saved on 2 ranks resumed on 1, and a GPU run resumed on the CPU: the losses of the
#   remaining steps follow the uninterrupted run;
# - greedy sampling on the GPU equals greedy sampling on the CPU in fp32 (fp32 KV cache)
#   completion for completion.
# Parts that need what this build or machine lacks (mpirun and an MPI build; HDF5 for
# checkpoints) print "SKIP name: why" (counted apart, never as a pass).
# LEMMA_TEST_DEVICE=cpu runs the same script on the CPU (to check the script itself).
source "$(dirname "$0")/../shell/lib.sh"
CFG=tests/configs/train_small.cfg
DEV=${LEMMA_TEST_DEVICE:-cuda}
export OMP_NUM_THREADS=2
COMMON=(--set run.device="$DEV" --set run.precision=fp32 --set run.threads=2)

has_mpi=0
"$LEMMA" --version | grep -q "MPI yes" && command -v mpirun >/dev/null && has_mpi=1
train() { # NP DIR [--set ...]
    local np=$1 dir=$2; shift 2
    if ((np == 1)); then "$LEMMA" train "$CFG" --set run.dir="$dir" "${COMMON[@]}" "$@" >"$dir.log" 2>&1
    else "${MPIRUN[@]}" -np "$np" "$LEMMA" train "$CFG" --set run.dir="$dir" "${COMMON[@]}" "$@" >"$dir.log" 2>&1; fi
}
need_mpi() { # NAME: 0 when this build and machine run several ranks, else prints SKIP
    ((has_mpi)) && return 0
    echo "SKIP $1: needs mpirun and a build with MPI (this one: $("$LEMMA" --version | grep build:))"
    return 1
}

train 1 "$TMP/np1"
check trained_np1 test -s "$TMP/np1/metrics.jsonl"

if need_mpi same_losses_np1_np2; then
    train 2 "$TMP/np2"
    compare same_losses_np1_np2 "$TMP/np1" "$TMP/np2" 1e-4
    grep -E "NCCL|host memory and MPI" "$TMP/np2.log" | head -2 | sed 's/^/# /'
fi
if need_mpi sharded_equals_unsharded; then
    train 2 "$TMP/zero" --set train.zero=true
    compare sharded_equals_unsharded "$TMP/np2" "$TMP/zero" 1e-4
fi

# Checkpoints need HDF5 (gpu-pack builds without it refuse to save, with a message).
train 1 "$TMP/ck" --set train.stop_after=10
if [[ -z $(ls "$TMP"/ck/ckpt/step_00000010.h5 2>/dev/null) ]]; then
    echo "SKIP resume_tests: no checkpoint written ($(grep -m1 -i "hdf5\|checkpoint" "$TMP/ck.log"))"
else
    cp -r "$TMP/ck" "$TMP/ck_cpu"
    train 1 "$TMP/ck"
    compare resume_same_device "$TMP/np1" "$TMP/ck" 1e-6 11
    "$LEMMA" train "$CFG" --set run.dir="$TMP/ck_cpu" --set run.device=cpu --set run.threads=2 \
        >"$TMP/ck_cpu.log" 2>&1
    compare resume_on_cpu "$TMP/np1" "$TMP/ck_cpu" 1e-3 11
    if need_mpi resume_np2_on_np1; then
        train 2 "$TMP/ck2" --set train.stop_after=10 && train 1 "$TMP/ck2"
        compare resume_np2_on_np1 "$TMP/np1" "$TMP/ck2" 1e-4 11
    fi
    # Greedy sampling from the trained model: the device's against the CPU's, fp32 cache.
    for d in "$DEV" cpu; do
        "$LEMMA" sample "$CFG" --set run.dir="$TMP/ck" --set run.device="$d" --set run.precision=fp32 \
            --set run.threads=2 --set sample.kv_cache=fp32 --set sample.problems=40 --set sample.k=1 \
            --set sample.max_new_tokens=96 --set sample.log_every=0 >"$TMP/sample_$d.log" 2>&1
        cp "$TMP/ck/greedy.jsonl" "$TMP/greedy_$d.jsonl" 2>/dev/null
        rm -rf "$TMP/ck/samples" "$TMP/ck/samples.jsonl" "$TMP/ck/greedy.jsonl"
    done
    python3 - "$TMP/greedy_$DEV.jsonl" "$TMP/greedy_cpu.jsonl" <<'PY'
import json, sys
def load(p):
    try: return {r["problem"]: r["completion"] for r in map(json.loads, open(p, encoding="utf-8"))}
    except OSError: return {}
a, b = load(sys.argv[1]), load(sys.argv[2])
diff = [k for k in a if a[k] != b.get(k)]
if a and len(a) == len(b) and not diff: print("PASS greedy_gpu_equals_cpu"); print("# %d greedy completions equal" % len(a))
else: print("FAIL greedy_gpu_equals_cpu: %d vs %d completions, %d differ (first: problem %s)" % (len(a), len(b), len(diff), diff[:1]))
PY
fi
