# tests/shell/test_train.sh: the data-parallel training phase: the same losses on 1, 2 and 3
# ranks, sharded and unsharded optimizer, with and without overlap; bitwise resume on the
# same world size and resume on another; SIGUSR1 -> checkpoint and clean exit; a truncated
# checkpoint -> fallback to the previous one; NaN -> skipped updates, then an abort.
source "$(dirname "$0")/lib.sh"
CFG=tests/configs/train_small.cfg
export OMP_NUM_THREADS=1

train() { # NP DIR [--set ...]
    local np=$1 dir=$2; shift 2
    "${MPIRUN[@]}" -np "$np" "$LEMMA" train "$CFG" --set run.dir="$dir" "$@" >"$dir.log" 2>&1
}
losses() { # DIR -> "step loss" lines
    python3 -c 'import json,sys
for l in open(sys.argv[1] + "/metrics.jsonl"):
    r = json.loads(l); print(r["step"], repr(r["loss"]))' "$1"
}

train 1 "$TMP/np1" && train 2 "$TMP/np2" && train 3 "$TMP/np3"
check trained_np1_np2_np3 test -s "$TMP/np3/metrics.jsonl"
compare same_losses_np1_np2 "$TMP/np1" "$TMP/np2" 1e-5
compare same_losses_np1_np3 "$TMP/np1" "$TMP/np3" 1e-5
first=$(losses "$TMP/np1" | sed -n 1p | cut -d' ' -f2); last=$(losses "$TMP/np1" | tail -n 1 | cut -d' ' -f2)
if python3 -c "import sys; sys.exit(not ($last < 0.8 * $first))"; then echo "PASS loss_falls"
else echo "FAIL loss_falls: $first -> $last"; fi

train 2 "$TMP/zero" --set train.zero=true && compare zero_matches_unsharded "$TMP/np2" "$TMP/zero" 1e-5
train 2 "$TMP/noov" --set train.overlap=false && compare no_overlap_matches "$TMP/np2" "$TMP/noov" 0
train 3 "$TMP/zero3" --set train.zero=true && compare zero_np3_matches "$TMP/np1" "$TMP/zero3" 1e-5

# Resume: stop after step 10 (checkpoint), run again to step 20; bitwise on the same world size.
train 2 "$TMP/res" --set train.stop_after=10
if grep -q "stopping after step 10 because train.stop_after" "$TMP/res.log" && [[ -n $(ls "$TMP"/res/ckpt/step_00000010.h5 2>/dev/null) ]]; then
    echo "PASS stop_after_checkpoints"; else echo "FAIL stop_after_checkpoints: $(tail -3 "$TMP/res.log")"; fi
train 2 "$TMP/res"
grep -q "resumed from .*step_00000010.h5" "$TMP/res.log" && echo "PASS resume_message" || echo "FAIL resume_message: $(head -3 "$TMP/res.log")"
compare bitwise_resume_np2 "$TMP/np2" "$TMP/res" 0 11

# Another world size: saved on 2 ranks, resumed on 3.
train 2 "$TMP/res3" --set train.stop_after=10 && train 3 "$TMP/res3"
compare resume_np2_to_np3 "$TMP/np2" "$TMP/res3" 1e-6 11

# A checkpoint of another model shape is refused with the list of mismatches.
train 1 "$TMP/res3" --set model.dim=64 --set train.steps=30
if grep -q "does not match the model: tok_emb: checkpoint 260x32, model 260x64" "$TMP/res3.log"; then
    echo "PASS other_shape_refused"; else echo "FAIL other_shape_refused: $(tail -3 "$TMP/res3.log")"; fi

# run.time_limit: checkpoint and stop run.stop_margin seconds before the end.
train 1 "$TMP/tl" --set train.steps=1000000 --set run.time_limit=0:00:04 --set run.stop_margin=2
if grep -q "because the time limit is near" "$TMP/tl.log" && ls "$TMP"/tl/ckpt/step_*.h5 >/dev/null 2>&1; then
    echo "PASS time_limit_stops"; else echo "FAIL time_limit_stops: $(tail -3 "$TMP/tl.log")"; fi

# SIGUSR1 to one rank: every rank finishes the step, a checkpoint, exit 0.
"${MPIRUN[@]}" -np 2 "$LEMMA" train "$CFG" --set run.dir="$TMP/sig" --set train.steps=100000 \
    --set log.every=1 >"$TMP/sig.log" 2>&1 &
mpirun_pid=$!
for _ in $(seq 100); do grep -q "train step" "$TMP/sig.log" 2>/dev/null && break; sleep 0.2; done
victim=$(pgrep -f "lemma train $CFG --set run.dir=$TMP/sig" | grep -v "^$mpirun_pid$" | tail -1)
kill -USR1 "$victim"
wait $mpirun_pid; rc=$?
if ((rc == 0)) && grep -q "because a signal" "$TMP/sig.log" && ls "$TMP"/sig/ckpt/step_*.h5 >/dev/null 2>&1; then
    echo "PASS sigusr1_checkpoint_and_exit"; else echo "FAIL sigusr1_checkpoint_and_exit: rc=$rc $(tail -3 "$TMP/sig.log")"; fi

# Two signals in a row: the second ends the process at once.
# (a bigger model, so that a step lasts long enough for both signals to land inside it)
"${MPIRUN[@]}" -np 1 "$LEMMA" train "$CFG" --set run.dir="$TMP/sig2" --set train.steps=100000 \
    --set log.every=1 --set model.dim=256 --set model.n_layers=8 --set model.ffn_dim=1024 >"$TMP/sig2.log" 2>&1 &
mpirun_pid=$!
for _ in $(seq 100); do grep -q "train step" "$TMP/sig2.log" 2>/dev/null && break; sleep 0.2; done
victim=$(pgrep -f "lemma train $CFG --set run.dir=$TMP/sig2" | grep -v "^$mpirun_pid$" | tail -1)
kill -USR1 "$victim"; sleep 0.05; kill -USR1 "$victim"
wait $mpirun_pid; rc=$?
if ((rc != 0)) && grep -q "second signal, exiting at once" "$TMP/sig2.log"; then
    echo "PASS second_signal_exits_at_once"; else echo "FAIL second_signal_exits_at_once: rc=$rc $(tail -3 "$TMP/sig2.log")"; fi

# A truncated newest checkpoint: fall back to the previous one, naming the bad file.
train 1 "$TMP/trunc" --set ckpt.every=5 --set train.stop_after=15
newest=$(ls "$TMP"/trunc/ckpt/step_*.h5 | tail -1)
truncate -s 2000 "$newest"
train 1 "$TMP/trunc"
if grep -q "$(basename "$newest")" "$TMP/trunc.log" && grep -q "resumed from .*step_00000010.h5" "$TMP/trunc.log"; then
    echo "PASS truncated_checkpoint_fallback"; else echo "FAIL truncated_checkpoint_fallback: $(head -5 "$TMP/trunc.log")"; fi

# NaN/Inf gradients (injected): one bad step is skipped and counted, training goes on; too
# many in a row abort the run with a message.
LEMMA_FAULT_NAN_AT=3 train 2 "$TMP/nan1"; rc=$?
skipped=$(grep -c '"skipped":true' "$TMP/nan1/metrics.jsonl")
if ((rc == 0)) && ((skipped == 1)) && grep -q "step 3: .*update skipped" "$TMP/nan1.log"; then
    echo "PASS nan_step_skipped"; else echo "FAIL nan_step_skipped: rc=$rc skipped=$skipped $(tail -3 "$TMP/nan1.log")"; fi
LEMMA_FAULT_NAN_AT=4,5,6 train 2 "$TMP/nan3" --set train.max_nan_skips=3; rc=$?
if ((rc != 0)) && grep -q "train.max_nan_skips = 3" "$TMP/nan3.log"; then
    echo "PASS nan_run_aborts"; else echo "FAIL nan_run_aborts: rc=$rc $(tail -3 "$TMP/nan3.log")"; fi

expect_fail bad_time_limit 2 "run.time_limit = 'soon'" "$LEMMA" train "$CFG" --set run.dir="$TMP/tl2" --set run.time_limit=soon
