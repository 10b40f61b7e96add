# tests/slurm/test_slurm.sh: the batch scripts of slurm/ against a real Slurm cluster started on
# this machine (tests/slurm/cluster.sh): munged, slurmctld and slurmd from Debian, stopped
# again by pid at the end. Run from the repository root (tests/shell/test_slurm.sh does).
#   - lib.sh's outcome decision (complete, resume, stopped, failed) for `lemma run` and
#     `lemma train`, on made-up logs and manifests (no cluster needed);
#   - lemma.sbatch with 2 tasks (srun --mpi=pmix) runs `lemma run` on
#     configs/micro/pipeline.cfg to the end: manifest.json lists every phase, eval/ exists;
#   - the same run signalled during pretraining (scancel --batch --signal=USR1, what
#     --signal=B:USR1@N does before the time limit) checkpoints, requeues itself, resumes and
#     ends with exactly the losses (per phase and step) and eval results of the plain run;
#   - overnight.sh: a chain of 3 jobs (mpirun launcher): the first signalled during
#     fine-tuning, the second resumes and completes, the third is cancelled; same results;
#   - a finished run submitted again: "all finished", complete, nothing rerun;
#   - LEMMA_CMD=train: lemma.sbatch runs `lemma train` on configs/micro/train.cfg to the end;
#   - sweep.sbatch (`lemma train`, its default): a 3-task array (at most 2 at once) over the 3
#     micro sizes, then analysis/scaling.py over the results;
#   - status.sh while running and after, for a pipeline and a training run directory; a bad
#     config fails the job with the reason.
# Where the cluster cannot start, one FAIL line says why (make deps installs slurm-wlm, munge).
source tests/shell/lib.sh
source tests/slurm/cluster.sh
chmod 755 "$TMP"   # the munge user must reach the cluster directory inside it
trap 'cluster_stop; rm -rf "$TMP"' EXIT
export OMPI_MCA_rmaps_base_oversubscribe=1 OMP_NUM_THREADS=1
export LEMMA=${LEMMA:-$PWD/build/lemma}
[[ $LEMMA == /* ]] || LEMMA=$PWD/$LEMMA
PY=/usr/bin/python3
exec > >(tee "$TMP/test.out") 2>&1   # a copy, to tell at the end whether anything failed
TEE_PID=$!
trap 'cluster_stop; exec >&- 2>&-; wait "$TEE_PID"; rm -rf "$TMP"' EXIT
T0=$SECONDS
mkdir -p "$TMP/out" "$TMP/runs"

for cfg in configs/micro/*.cfg; do check "micro_config_valid_$(basename "$cfg" .cfg)" "$LEMMA" config "$cfg"; done
for f in slurm/*.sbatch slurm/*.sh; do check "bash_syntax_$(basename "$f")" bash -n "$f"; done
grep -q '^: "${LEMMA_CMD:=run}"' slurm/lib.sh && echo "PASS lemma_cmd_default_run" || echo "FAIL lemma_cmd_default_run: $(grep -n 'LEMMA_CMD:=' slurm/lib.sh)"

# lemma_outcome on made-up attempts: CMD RC SIGNALLED "DONE PHASES" "LOG OF THIS ATTEMPT" -> "OUTCOME REASON".
# An earlier attempt's stop line is in the log before the offset and must not count.
outcome() {
    (
        source slurm/lib.sh
        RUN_DIR=$(mktemp -d "$TMP/oc.XXXX") LEMMA_LOG=$RUN_DIR/log
        LEMMA_CMD=$1 LEMMA_RC=$2 LEMMA_SIGNALLED=$3 LEMMA_PHASES=${6:-pretrain sample build finetune eval}
        if [[ -n $4 ]]; then
            { echo '{"version": 1, "done": {'; for p in $4; do echo "\"$p\": {\"seconds\": 1},"; done; echo '"x": 0}}'; } >"$RUN_DIR/manifest.json"
        fi
        echo "pretrain: stopping after step 3 because a signal (SIGTERM or SIGUSR1) was received; resume by running the same command" >"$LEMMA_LOG"
        local off; off=$(stat -c %s "$LEMMA_LOG")
        printf '%b' "$5" >>"$LEMMA_LOG"
        lemma_outcome "$off"
        echo "$LEMMA_OUTCOME ${LEMMA_STOP_REASON%%;*}"
    )
}
outcome_cases() { # CMD: "EXPECTED|ARGS..." lines; prints the mismatches
    local line want args got
    while IFS= read -r line; do
        [[ -n $line ]] || continue
        want=${line%%|*}; eval "args=(${line#*|})"
        got=$(outcome "${args[@]}" 2>&1)
        [[ $got == "$want" ]] || echo "  outcome ${line#*|}: got '$got', wanted '$want'"
    done
}
SIG='train: stopping after step 5 because a signal (SIGTERM or SIGUSR1) was received; resume by running the same command\n'
bad=$(outcome_cases <<EOF2
resume signal|train 0 USR1 "" "$SIG"
resume time_limit|train 0 "" "" "train: stopping after step 5 because the time limit is near; resume by running the same command\n"
stopped stop_after|train 0 "" "" "train: stopping after step 5 because train.stop_after was reached; resume by running the same command\n"
complete |train 0 "" "" "train step 80/80\n"
resume interrupted|train 143 TERM "" ""
failed |train 1 "" "" "lemma: error\n"
EOF2
)
[[ -z $bad ]] && echo "PASS outcome_logic_train" || { echo "FAIL outcome_logic_train:"; echo "$bad"; }
PSTOP='run: phase PHASE stopped early (a signal or the time limit); rerun the same command to resume it\n'
bad=$(outcome_cases <<EOF2
complete |run 0 "" "pretrain sample build finetune eval" "lemma run: every phase of x is finished (manifest.json): nothing to do\n"
complete |run 0 "" "sample build" "" "sample build"
resume signal|run 0 USR1 "" "pretrain: stopping after step 21 because a signal (SIGTERM or SIGUSR1) was received\n${PSTOP/PHASE/pretrain}"
resume time_limit|run 0 "" "pretrain" "${PSTOP/PHASE/sample}"
resume signal|run 0 USR1 "pretrain sample" "${PSTOP/PHASE/build}"
resume time_limit|run 0 "" "pretrain sample build" "run: stopping before finetune (a signal or the time limit): rerun to go on\n"
stopped stop_after|run 0 "" "" "pretrain: stopping after step 10 because train.stop_after was reached\n${PSTOP/PHASE/pretrain}"
failed exit status 0 but phases not finished: eval|run 0 "" "pretrain sample build finetune" "run: phase finetune finished\n"
resume interrupted|run 137 USR1 "pretrain" ""
failed |run 2 "" "" "lemma: configs/x.cfg:3: unknown key\n"
EOF2
)
[[ -z $bad ]] && echo "PASS outcome_logic_run" || { echo "FAIL outcome_logic_run:"; echo "$bad"; }

if ! cluster_start "$TMP/cluster" >"$TMP/cluster.log" 2>&1; then
    echo "FAIL slurm_cluster_starts: $(head -1 "$TMP/cluster.log")"; sed 1d "$TMP/cluster.log"
    exit 1
fi
echo "PASS slurm_cluster_starts"; cat "$TMP/cluster.log"

submit() { # sbatch args... -> job id; Slurm's own output file goes to $TMP/out
    sbatch --parsable -o "$TMP/out/slurm-%j.out" "$@" | cut -d';' -f1
}
# phase_step RUN_DIR PHASE: the newest step of PHASE in metrics.jsonl (0 when none yet)
phase_step() {
    [[ -s $1/metrics.jsonl ]] || { echo 0; return; }
    grep -o "\"phase\":\"$2\",\"step\":[0-9]*" "$1/metrics.jsonl" | tail -1 | grep -o '[0-9]*$' || echo 0
}
wait_phase_step() { # RUN_DIR PHASE N SECONDS: until PHASE has logged step N
    local t0=$SECONDS
    while ((SECONDS - t0 < $4)); do (($(phase_step "$1" "$2") >= $3)) && return 0; sleep 0.1; done
    return 1
}
field() { scontrol -o show job "$1" 2>/dev/null | grep -o "\b$2=[^ ]*" | head -1 | cut -d= -f2; }
same_results() { # NAME A B: every (phase, step) loss equal, bit for bit (the last record of a
                 # step wins), the same eval results (eval/*.json without "seconds"), and the
                 # same samples, built data and eval completions
    $PY - "$@" <<'PY'
import json, os, sys
name, a, b = sys.argv[1:4]
def losses(d):
    out = {}
    for l in open(d + "/metrics.jsonl"):
        r = json.loads(l)
        if "loss" in r and "step" in r:
            out[(r.get("phase", "train"), r["step"])] = r["loss"]
    return out
def evals(d):
    out = {}
    for sub in ("eval", "eval/base"):
        for split in ("test", "ood"):
            p = os.path.join(d, sub, split + ".json")
            if os.path.exists(p):
                e = json.load(open(p)); e.pop("seconds", None); out[sub + "/" + split] = e
    return out
la, lb = losses(a), losses(b)
bad = [(k, la.get(k), lb.get(k)) for k in sorted(set(la) | set(lb)) if la.get(k) != lb.get(k)]
ea, eb = evals(a), evals(b)
files = ("samples.jsonl", "greedy.jsonl", "data/train.jsonl", "eval/test.jsonl", "eval/ood.jsonl")
diff = [f for f in files if open(os.path.join(a, f)).read() != open(os.path.join(b, f)).read()]
phases = sorted({p for p, _ in la})
if not la or bad or len(ea) != 4 or ea != eb or phases != ["finetune", "pretrain"] or diff:
    print("FAIL %s: %d steps (%s), %d differ (key, a, b): %s; eval files %d/%d, %s; files that differ: %s" % (
        name, len(la), phases, len(bad), bad[:3], len(ea), len(eb), "same" if ea == eb else "differ", diff))
else:
    print("PASS %s" % name)
    last = max(k for k in la if k[0] == "finetune")
    print("# %s: %d (phase, step) losses, final finetune loss %r, test accuracy %r in both" % (
        name, len(la), la[last], ea["eval/test"]["accuracy"]))
PY
}
pipeline_complete() { # RUN_DIR: manifest.json lists every phase, eval/test.json exists
    $PY - "$1" <<'PY'
import json, os, sys
d = sys.argv[1]
done = json.load(open(d + "/manifest.json"))["done"]
sys.exit(not (set(done) == {"pretrain", "sample", "build", "finetune", "eval"} and
              os.path.exists(d + "/eval/test.json") and os.path.exists(d + "/eval/base/test.json")))
PY
}
CFG=configs/micro/pipeline.cfg
PRE=80 FT=40   # pretrain and finetune steps: long enough to be signalled in either phase
LONG=(--set "pretrain.steps=$PRE" --set "finetune.steps=$FT" --set ckpt.every=10)
PLAIN=$TMP/runs/plain REQ=$TMP/runs/requeue CHAIN=$TMP/runs/chain SWEEP=$TMP/runs/sweep TRAIN=$TMP/runs/train

# Everything is submitted at once; the node (4 CPUs) runs what fits and queues the rest.
plain=$(submit -n 2 slurm/lemma.sbatch "$CFG" --set run.dir="$PLAIN" "${LONG[@]}")
req=$(submit -n 2 slurm/lemma.sbatch "$CFG" --set run.dir="$REQ" "${LONG[@]}")
bad=$(submit -n 1 slurm/lemma.sbatch configs/micro/no-such.cfg)
mapfile -t chain < <(LEMMA_LAUNCHER=mpirun bash slurm/overnight.sh -k 3 --name lemma-test-chain \
    --sbatch "-n 2 -o $TMP/out/slurm-%j.out" "$CFG" --set run.dir="$CHAIN" "${LONG[@]}" 2>"$TMP/overnight.err")
array=$(LEMMA_SWEEP_DIR=$SWEEP submit --array=0-2%2 -n 1 slurm/sweep.sbatch configs/micro 'scale_*.cfg')
train=$(LEMMA_CMD=train submit -n 2 slurm/lemma.sbatch configs/micro/train.cfg --set run.dir="$TRAIN")
echo "# jobs: plain $plain, requeue $req, bad config $bad, chain ${chain[*]}, array $array, train $train"
if ((${#chain[@]} == 3)); then echo "PASS overnight_submits_3_jobs"
else echo "FAIL overnight_submits_3_jobs: got '${chain[*]}': $(cat "$TMP/overnight.err")"; fi

# The early signal: to the batch shell only, as --signal=B:USR1@N sends it.
signal_at() { # NAME JOB RUN_DIR PHASE STEP
    if wait_phase_step "$3" "$4" "$5" 150; then
        scancel --batch --signal=USR1 "$2"
        echo "# $1: job $2 signalled at $4 step $(phase_step "$3" "$4")"
    else
        echo "FAIL $1_reached_$4_step_$5: $(tail -3 "$3"/slurm-*.out 2>/dev/null)"
    fi
}
signal_at requeue "$req" "$REQ" pretrain 15
# status.sh on a running job (the plain run started with it), in pretraining
if out=$(bash slurm/status.sh "$PLAIN" 2>&1) && grep -q "^state *running: job $plain" <<<"$out" &&
   grep -q "^phase *pretrain (1 of 5; next: sample build finetune eval)" <<<"$out" &&
   grep -qE "^step +[0-9]+ / $PRE \([0-9.]+%\) of pretrain" <<<"$out" && grep -q "^ETA .* for pretrain; then sample" <<<"$out"; then
    echo "PASS status_running"
else echo "FAIL status_running:"; sed 's/^/     /' <<<"$out"; fi
signal_at chain "${chain[0]:-0}" "$CHAIN" finetune 5

if wait_job "$plain" 180 && wait_job "$req" 180 && wait_job "${chain[2]:-0}" 180 && wait_job "$array" 180 &&
   wait_job "$bad" 60 && wait_job "$train" 60; then echo "PASS jobs_finish"
else echo "FAIL jobs_finish: still queued after 3 minutes:"; squeue | sed 's/^/     /'; fi
echo "# all jobs done after $((SECONDS - T0)) s"

# 1. The plain run: the whole pipeline in one job.
log=$PLAIN/slurm-$plain.out
if [[ $(field "$plain" JobState) == COMPLETED && $(field "$plain" ExitCode) == 0:0 ]] && grep -q "run complete" "$log" &&
   grep -q "start: srun --mpi=pmix .* run $CFG" "$log" && grep -q "pretrain: .* on 2 rank(s), $PRE steps from step 0" "$log" &&
   grep -q "to run: pretrain sample build finetune eval" "$log" && pipeline_complete "$PLAIN" &&
   [[ -f $PLAIN/finetune/ckpt/step_$(printf %08d $FT).h5 ]]; then echo "PASS sbatch_2_tasks_pipeline_completes"
else echo "FAIL sbatch_2_tasks_pipeline_completes: state $(field "$plain" JobState) $(field "$plain" ExitCode)"; tail -5 "$log" 2>/dev/null | sed 's/^/     /'; fi
grep -q "log: $PLAIN/slurm-$plain.out" "$TMP/out/slurm-$plain.out" && echo "PASS log_in_run_dir" ||
    echo "FAIL log_in_run_dir: $(cat "$TMP/out/slurm-$plain.out")"
# A finished run submitted again does nothing and is complete.
again=$(submit -n 2 slurm/lemma.sbatch "$CFG" --set run.dir="$PLAIN" "${LONG[@]}")

# 2. Signalled during pretraining, requeued, resumed.
log=$REQ/slurm-$req.out
stop=$(grep -o "pretrain: stopping after step [0-9]* because a signal" "$log" | head -1 | grep -o "[0-9]*")
if [[ -n $stop ]] && ((stop < PRE)) && grep -q "SIGUSR1 received" "$log" && grep -q "requeuing job $req" "$log" &&
   grep -q "resume (signal; phases left: pretrain sample build finetune eval)" "$log" &&
   [[ $(field "$req" Restarts) == 1 ]] && grep -q "restart 1;" "$log" &&
   grep -q "pretrain: resumed from .*pretrain/ckpt/step_$(printf %08d "$stop").h5" "$log" &&
   [[ $(field "$req" JobState) == COMPLETED ]] && grep -q "run complete" "$log" && pipeline_complete "$REQ"; then
    echo "PASS signal_checkpoint_requeue_resume"; echo "# requeue: stopped after pretrain step $stop, requeued (same job $req), resumed, completed"
else echo "FAIL signal_checkpoint_requeue_resume: stop '$stop', state $(field "$req" JobState), restarts $(field "$req" Restarts)"
     grep -E "lemma-slurm|stopping|resumed" "$log" 2>/dev/null | tail -12 | sed 's/^/     /'; fi
same_results requeued_run_same_results "$PLAIN" "$REQ"
out=$(bash slurm/status.sh "$REQ" 2>&1)
if grep -q "^state *complete" <<<"$out" && grep -q "^phase *all 5 finished" <<<"$out" &&
   grep -qE "^step +$FT / $FT \(100.0%\) of finetune" <<<"$out" && grep -q "^accuracy *test " <<<"$out" &&
   grep -q "^checkpoint  finetune/ckpt/step_$(printf %08d $FT).h5" <<<"$out" &&
   bash slurm/status.sh "$REQ" --json | $PY -c 'import json,sys; j=json.load(sys.stdin); sys.exit(not (j["command"] == "run" and j["current_phase"] is None and len(j["done"]) == 5))'; then
    echo "PASS status_complete"; else echo "FAIL status_complete:"; sed 's/^/     /' <<<"$out"; fi

# 3. The overnight chain: job 1 signalled during fine-tuning and ended, job 2 resumed and
# completed, job 3 cancelled.
if ((${#chain[@]} == 3)); then
    l1=$CHAIN/slurm-${chain[0]}.out l2=$CHAIN/slurm-${chain[1]}.out
    if [[ $(field "${chain[0]}" JobState) == COMPLETED ]] && grep -q "the next job of the chain resumes" "$l1" &&
       grep -q "start: mpirun -np 2" "$l1" && grep -q "finetune: stopping after step [0-9]* because a signal" "$l1" &&
       grep -q "to run: finetune eval" "$l2" && grep -q "finetune: resumed from" "$l2" && grep -q "run complete" "$l2" &&
       [[ $(field "${chain[1]}" JobState) == COMPLETED && $(field "${chain[2]}" JobState) == CANCELLED ]] &&
       [[ ! -e $CHAIN/slurm-${chain[2]}.out ]] && pipeline_complete "$CHAIN"; then echo "PASS overnight_chain_resumes_and_cancels_rest"
    else echo "FAIL overnight_chain_resumes_and_cancels_rest: states $(for j in "${chain[@]}"; do field "$j" JobState; done | tr '\n' ' ')"
         cat "$l1" "$l2" 2>/dev/null | grep -E "lemma-slurm|stopping|resumed" | tail -12 | sed 's/^/     /'; fi
    same_results chain_run_same_results "$PLAIN" "$CHAIN"
fi
dry=$(bash slurm/overnight.sh -n -k 2 --begin now+1hour --afterany "$CFG" 2>&1)
if grep -q -- "--begin=now+1hour" <<<"$dry" && grep -q -- "--dependency=afterany:JOB1" <<<"$dry"; then echo "PASS overnight_begin_afterany"
else echo "FAIL overnight_begin_afterany:"; sed 's/^/     /' <<<"$dry"; fi

# LEMMA_CMD=train: lemma.sbatch runs `lemma train`, complete at its last step.
log=$TRAIN/slurm-$train.out
if [[ $(field "$train" JobState) == COMPLETED ]] && grep -q "start: srun --mpi=pmix .* train configs/micro/train.cfg" "$log" &&
   grep -q "lemma exited with status 0 after .*: complete" "$log" && [[ -f $TRAIN/ckpt/step_00000080.h5 && ! -e $TRAIN/manifest.json ]]; then
    echo "PASS lemma_cmd_train_completes"
else echo "FAIL lemma_cmd_train_completes: $(field "$train" JobState)"; tail -5 "$log" 2>/dev/null | sed 's/^/     /'; fi

# The finished run, submitted again.
lines=$(wc -l <"$PLAIN/metrics.jsonl")
wait_job "$again" 60
log=$PLAIN/slurm-$again.out
if [[ $(field "$again" JobState) == COMPLETED ]] && grep -q "all finished" "$log" && grep -q "nothing to do" "$log" &&
   grep -q "run complete" "$log" && [[ $(wc -l <"$PLAIN/metrics.jsonl") == "$lines" ]]; then echo "PASS finished_run_again_is_complete"
else echo "FAIL finished_run_again_is_complete: $(field "$again" JobState)"; tail -5 "$log" 2>/dev/null | sed 's/^/     /'; fi

# 4. The array sweep and the scaling fit.
ok=1
for i in 0 1 2; do
    d=$SWEEP/scale_$((i + 1))
    [[ -f $d/slurm-${array}_$i.out ]] && grep -q "run complete" "$d/slurm-${array}_$i.out" &&
        grep -q "lemma train configs/micro/scale_$((i + 1)).cfg" "$d/slurm-${array}_$i.out" &&
        [[ -f $d/ckpt/step_00000060.h5 ]] || { ok=0; echo "#   task $i: $(tail -3 "$d"/slurm-*.out 2>/dev/null)"; }
done
((ok)) && echo "PASS sweep_array_3_sizes" ||
    echo "FAIL sweep_array_3_sizes: $(scontrol -o show job "$array" | grep -o 'JobState=[A-Z]*' | tr '\n' ' ')"
out=$(bash slurm/status.sh "$TRAIN" 2>&1)
if grep -q "^state *complete" <<<"$out" && grep -q "^phase *train$" <<<"$out" && grep -qE "^step +80 / 80 \(100.0%\)$" <<<"$out" &&
   grep -q "^checkpoint  step_00000080.h5" <<<"$out" && ! grep -q "^accuracy" <<<"$out" &&
   bash slurm/status.sh "$SWEEP/scale_2" | grep -qE "^step +60 / 60"; then
    echo "PASS status_train_run_dir"; else echo "FAIL status_train_run_dir:"; sed 's/^/     /' <<<"$out"; fi
# the %2 cap: no three tasks ever ran at once (start/end times from the controller)
if scontrol -o show job "$array" | grep -q "ArrayTaskThrottle=2" &&
   scontrol -o show job "$array" | $PY -c '
import re, sys, datetime
iv = []
for l in sys.stdin:
    s, e = re.search(r"StartTime=(\S+)", l).group(1), re.search(r"EndTime=(\S+)", l).group(1)
    iv.append((datetime.datetime.fromisoformat(s), datetime.datetime.fromisoformat(e)))
sys.exit(not (len(iv) == 3 and not (max(a for a, _ in iv) < min(b for _, b in iv))))'; then
    echo "PASS sweep_concurrency_cap"; else echo "FAIL sweep_concurrency_cap: $(scontrol -o show job "$array" | grep -o 'ArrayTaskThrottle=[0-9]*\|StartTime=[^ ]*\|EndTime=[^ ]*' | tr '\n' ' ')"; fi
if out=$($PY analysis/scaling.py "$SWEEP"/scale_* --out "$TMP/scaling" 2>&1) &&
   $PY - "$TMP/scaling.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
p = [x["params"] for x in r["runs"]]
f = r["fit"]
ok = len(p) == 3 and p == sorted(p) and len(set(p)) == 3 and f and f["A"] > 0 and 0 < f["alpha"] < 4
ok = ok and all(abs(x["loss"] - y) < 0.5 for x, y in zip(r["runs"], f["predicted"]))
sys.exit(not ok)
PY
then [[ -s $TMP/scaling.png ]] && echo "PASS scaling_fit_over_sweep" || echo "FAIL scaling_fit_over_sweep: no plot"
     grep -E "^fit:" <<<"$out" | sed 's/^/# /'
else echo "FAIL scaling_fit_over_sweep:"; sed 's/^/     /' <<<"$out"; cat "$TMP/scaling.json" 2>/dev/null | head -30; fi

# 5. A bad config: the job fails and says why in Slurm's output file.
if [[ $(field "$bad" JobState) == FAILED ]] && grep -q "cannot read config 'configs/micro/no-such.cfg'" "$TMP/out/slurm-$bad.out"; then
    echo "PASS bad_config_fails_with_reason"
else echo "FAIL bad_config_fails_with_reason: $(field "$bad" JobState): $(cat "$TMP/out/slurm-$bad.out")"; fi

# The job environment: OMP_NUM_THREADS from --cpus-per-task, HDF5 locking off.
env_out=$TMP/out/env.out
cat >"$TMP/env.sbatch" <<'EOF'
#!/bin/bash
source slurm/lib.sh; RUN_DIR=$PWD; lemma_env
echo "OMP=$OMP_NUM_THREADS SRUN=$SRUN_CPUS_PER_TASK HDF5=$HDF5_USE_FILE_LOCKING END=${SLURM_JOB_END_TIME:-none}"
EOF
envjob=$(env -u OMP_NUM_THREADS sbatch --parsable -n 1 -c 2 -t 10 -o "$env_out" "$TMP/env.sbatch")
wait_job "$envjob" 60
if grep -qE "OMP=2 SRUN=2 HDF5=FALSE END=[0-9]{10}" "$env_out"; then echo "PASS job_environment"
else echo "FAIL job_environment: $(cat "$env_out")"; fi

# On any failure, the daemons' errors help: they go into this test's log.
if grep -q "^FAIL" "$TMP/test.out" || [[ -n ${SLURM_TEST_LOGS:-} ]]; then
    for f in "$TMP"/out/slurm-*.out; do
        grep -qiE "error|fail" "$f" && { echo "# --- $f ---"; tail -n 8 "$f" | sed 's/^/# /'; }
    done
    for f in slurmctld slurmd; do
        echo "# --- $f.log (errors) ---"
        grep -iE "error|fatal" "$TMP/cluster/log/$f.log" | grep -v "spmix_appdir\|state file\|backup state\|MailProg" | tail -20 | sed 's/^/# /'
    done
fi
[[ -n ${SLURM_TEST_KEEP:-} ]] && { cp -r "$TMP" "$SLURM_TEST_KEEP"; echo "# kept in $SLURM_TEST_KEEP"; }
pids=("${CLUSTER_PIDS[@]}")
cluster_stop
left=0; for e in "${pids[@]}"; do kill -0 "${e##*:}" 2>/dev/null && left=1; done
((left == 0)) && echo "PASS cluster_stopped_by_pid" || echo "FAIL cluster_stopped_by_pid: ${pids[*]}"
echo "# slurm tests: $((SECONDS - T0)) s"
