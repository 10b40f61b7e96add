#!/usr/bin/env bash
# tests/shell/test_faults.sh: faults end a job cleanly (docs/reliability.md). With 2 ranks: an
# unopenable metrics.jsonl on rank 0 ends both ranks with its message (it hung rank 1 in a
# broadcast); a checkpoint directory replaced by a file and a file system that fills up are
# failures with a non-zero status and the cause (the job said "stopping ... resume" and exited
# 0), the last good checkpoint and `latest` intact; a second job on the same run directory is
# refused naming the first; an update that makes the parameters non-finite (train.beta2 = 0,
# train.eps = 0) stops the job before any checkpoint holds a NaN. Every run is bounded by
# `timeout`: a hang fails the test instead of the suite.
source "$(dirname "$0")/lib.sh"
cd "$(dirname "$0")/../.."
CFG=tests/configs/train_small.cfg
T=(timeout 120)
NP2=("${T[@]}" "${MPIRUN[@]}" -np 2)

# bounded NAME PATTERN CMD...: exits non-zero, not by the timeout, with PATTERN in the output.
bounded() {
    local name=$1 pat=$2; shift 2
    local out rc
    out=$("$@" 2>&1); rc=$?
    if ((rc != 0 && rc != 124 && rc != 137)) && grep -qE -- "$pat" <<<"$out"; then echo "PASS $name"
    else echo "FAIL $name: status $rc, wanted /$pat/ in:"; echo "$out" | tail -6 | sed 's/^/     /'; fi
}

# 1. metrics.jsonl that cannot be opened (a directory of that name), 2 ranks.
mkdir -p "$TMP/m/metrics.jsonl"
bounded faults_metrics_unopenable_2_ranks "cannot open '.*metrics.jsonl' for appending" \
    "${NP2[@]}" "$LEMMA" train "$CFG" --set run.dir="$TMP/m" --set train.steps=4

# 2. The checkpoint directory replaced by a file after the first checkpoint.
"$LEMMA" train "$CFG" --set run.dir="$TMP/c" --set train.steps=2 --set ckpt.every=2 >"$TMP/c0.log" 2>&1
mv "$TMP/c/ckpt" "$TMP/c_ckpt" && echo "not a directory" >"$TMP/c/ckpt"
bounded faults_ckpt_dir_is_a_file "the checkpoint of step 2 could not be written \(tried twice\): cannot create directory .*ckpt" \
    "${NP2[@]}" "$LEMMA" train "$CFG" --set run.dir="$TMP/c" --set train.steps=4 --set ckpt.every=2 \
    --set train.resume=false

# 3. Two jobs on one run directory: the second is refused, naming the first.
("${T[@]}" "$LEMMA" train "$CFG" --set run.dir="$TMP/two" --set train.steps=400 >"$TMP/two1.log" 2>&1 &)
for _ in $(seq 50); do [[ -f $TMP/two/.lock ]] && break; sleep 0.1; done
holder=$(awk '{print $4}' "$TMP/two/.lock" 2>/dev/null)
expect_fail faults_second_job_refused 2 "run directory .*/two is in use by another job: pid $holder on host" \
    "${NP2[@]}" "$LEMMA" train "$CFG" --set run.dir="$TMP/two" --set train.steps=4
pkill -f "run.dir=$TMP/two" 2>/dev/null
for _ in $(seq 50); do pgrep -f "run.dir=$TMP/two" >/dev/null || break; sleep 0.1; done
check faults_lock_released_or_stale "$LEMMA" train "$CFG" --set run.dir="$TMP/two" --set train.steps=2

# 4. beta2 = 0, eps = 0: finite loss, then a non-finite update; the checkpoints stay finite.
"$LEMMA" train "$CFG" --set run.dir="$TMP/nan" --set train.steps=4 --set ckpt.every=2 >"$TMP/nan0.log" 2>&1
bounded faults_nonfinite_update "made parameters non-finite .*the last good checkpoint" \
    "${NP2[@]}" "$LEMMA" train "$CFG" --set run.dir="$TMP/nan" --set train.steps=40 --set ckpt.every=1 \
    --set train.beta2=0 --set train.eps=0
check faults_nonfinite_latest_finite /usr/bin/python3 - "$TMP/nan/ckpt" <<'PY'
import glob, os, sys
import h5py, numpy as np
d = sys.argv[1]
latest = open(os.path.join(d, "latest")).read().strip()
for f in glob.glob(os.path.join(d, "step_*.h5")):
    with h5py.File(f, "r") as h:
        def visit(name, obj):
            if isinstance(obj, h5py.Dataset) and obj.dtype.kind == "f":
                assert np.isfinite(obj[()]).all(), (f, name)
        h.visititems(visit)
assert os.path.exists(os.path.join(d, latest)), latest
PY

# 5. A file system that fills up (a 4 MiB tmpfs; CI runs as root): the first checkpoint fits,
# the second does not; the job fails saying so and `latest` stays on the first.
FS=$TMP/fs
mkdir -p "$FS"
if mount -t tmpfs -o size=4m tmpfs "$FS" 2>/dev/null; then
    M=(--set model.dim=64 --set model.n_layers=4 --set model.ffn_dim=192 --set ckpt.keep=3)
    bounded faults_disk_full "no space left for the checkpoint on the file system of .*needs [0-9.]+ MiB" \
        "${NP2[@]}" "$LEMMA" train "$CFG" --set run.dir="$FS/r" --set train.steps=4 --set ckpt.every=2 "${M[@]}"
    check faults_disk_full_latest_intact grep -qx "step_00000002.h5" "$FS/r/ckpt/latest"
    check faults_disk_full_resumable "$LEMMA" inspect "$FS/r/ckpt/step_00000002.h5"
    umount "$FS"
else
    echo "SKIP faults_disk_full: cannot mount a tmpfs here (needs root)"
fi

# 6. Tampered checkpoints: a dataset whose checksum attribute was removed, and a step of -7,
# are refused by inspect and by a resume (LEMMA_CKPT_UNVERIFIED=1 reads the first anyway).
"$LEMMA" train "$CFG" --set run.dir="$TMP/t" --set train.steps=2 --set ckpt.every=2 >"$TMP/t0.log" 2>&1
cp "$TMP/t/ckpt/step_00000002.h5" "$TMP/nosum.h5" && cp "$TMP/t/ckpt/step_00000002.h5" "$TMP/neg.h5"
/usr/bin/python3 - "$TMP/nosum.h5" "$TMP/neg.h5" <<'PY'
import sys
import h5py, numpy as np
with h5py.File(sys.argv[1], "r+") as f:
    del f["model/params/norm"].attrs["checksum"]
with h5py.File(sys.argv[2], "r+") as f:
    a = f["train"].attrs
    a.modify("step", np.array(-7, dtype=a["step"].dtype))
PY
expect_fail faults_no_checksum_refused 2 "model/params/norm has no checksum .*refused" "$LEMMA" inspect "$TMP/nosum.h5"
check faults_no_checksum_explicit env LEMMA_CKPT_UNVERIFIED=1 "$LEMMA" inspect "$TMP/nosum.h5"
expect_fail faults_negative_step_refused 2 "impossible values .*step -7" "$LEMMA" inspect "$TMP/neg.h5"
cp "$TMP/neg.h5" "$TMP/t/ckpt/step_00000004.h5" && echo step_00000004.h5 >"$TMP/t/ckpt/latest"
expect_out faults_negative_step_skipped_on_resume "resumed from .*step_00000002.h5" "$LEMMA" train "$CFG" \
    --set run.dir="$TMP/t" --set train.steps=3

# 7. A time limit that is not longer than run.stop_margin: an error, not a stop that a
# requeue would repeat forever.
expect_fail faults_time_limit_too_short 2 "time limit leaves 60 s .*not more than run.stop_margin = 300 s" \
    "$LEMMA" train "$CFG" --set run.dir="$TMP/tl" --set run.time_limit=00:01:00

# 8. A rank stopped with SIGSTOP: the other waits in a collective past run.hang_timeout (5 s
# here), and the job ends, naming the rank and the operation, instead of hanging.
if command -v mpirun >/dev/null && "$LEMMA" --version | grep -q "MPI yes"; then
    ("${T[@]}" "${MPIRUN[@]}" -np 2 "$LEMMA" train "$CFG" --set run.dir="$TMP/hang" --set train.steps=100000 \
        --set run.hang_timeout=5 >"$TMP/hang.log" 2>&1; echo "rc=$?" >>"$TMP/hang.log") &
    for _ in $(seq 100); do grep -q "^train step" "$TMP/hang.log" 2>/dev/null && break; sleep 0.2; done
    victim=$(pgrep -f "lemma train $CFG --set run.dir=$TMP/hang" | sort -n | tail -1)
    t0=$SECONDS
    [[ -n $victim ]] && kill -STOP "$victim"
    for _ in $(seq 300); do grep -q "^rc=" "$TMP/hang.log" && break; sleep 0.2; done
    waited=$((SECONDS - t0))
    pkill -9 -f "run.dir=$TMP/hang" 2>/dev/null
    if grep -q "no progress for [0-9]* s in .* (run.hang_timeout = 5)" "$TMP/hang.log" &&
       grep -q "^rc=[1-9]" "$TMP/hang.log" && ! grep -q "^rc=124" "$TMP/hang.log" && ((waited < 60)); then
        echo "PASS faults_hang_watchdog"; echo "# faults_hang_watchdog: ended ${waited} s after SIGSTOP"
    else echo "FAIL faults_hang_watchdog: after ${waited} s:"; tail -5 "$TMP/hang.log" | sed 's/^/     /'; fi
else
    echo "SKIP faults_hang_watchdog: needs mpirun and a build with MPI"
fi
