# tests/slurm/test_slurm.sh: the batch scripts of slurm/ against a real Slurm cluster started on
# this machine (tests/slurm/cluster.sh): munged, slurmctld and slurmd from Debian, stopped
# again by pid at the end. Run from the repository root (tests/shell/test_slurm.sh does).
#   - lemma.sbatch with 2 tasks (srun --mpi=pmix) on configs/micro/train.cfg runs to the end;
#   - the same run signalled half-way (scancel --batch --signal=USR1, what --signal=B:USR1@N
#     does before the time limit) checkpoints, requeues itself, resumes and ends with exactly
#     the losses of the uninterrupted run;
#   - overnight.sh: a chain of 3 jobs (mpirun launcher): the first signalled, the second
#     resumes and completes, the third is cancelled; same losses again;
#   - sweep.sbatch: a 3-task array (at most 2 at once) over the 3 micro sizes, then
#     analysis/scaling.py over the results;
#   - status.sh while running and after; a bad config fails the job with the reason.
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

if ! cluster_start "$TMP/cluster" >"$TMP/cluster.log" 2>&1; then
    echo "FAIL slurm_cluster_starts: $(head -1 "$TMP/cluster.log")"; sed 1d "$TMP/cluster.log"
    exit 1
fi
echo "PASS slurm_cluster_starts"; cat "$TMP/cluster.log"

submit() { # sbatch args... -> job id; Slurm's own output file goes to $TMP/out
    sbatch --parsable -o "$TMP/out/slurm-%j.out" "$@" | cut -d';' -f1
}
steps_logged() { [[ -s $1/metrics.jsonl ]] && wc -l <"$1/metrics.jsonl" || echo 0; }
wait_steps() { # RUN_DIR N SECONDS: until metrics.jsonl has N lines
    local t0=$SECONDS
    while ((SECONDS - t0 < $3)); do (($(steps_logged "$1") >= $2)) && return 0; sleep 0.1; done
    return 1
}
field() { scontrol -o show job "$1" 2>/dev/null | grep -o "\b$2=[^ ]*" | head -1 | cut -d= -f2; }
same_losses() { # NAME A B: every step's loss equal, bit for bit (last record of a step wins)
    $PY - "$@" <<'PY'
import json, sys
name, a, b = sys.argv[1:4]
def load(d):
    out = {}
    for l in open(d + "/metrics.jsonl"):
        r = json.loads(l); out[r["step"]] = r["loss"]
    return out
la, lb = load(a), load(b)
bad = [(s, la.get(s), lb.get(s)) for s in sorted(set(la) | set(lb)) if la.get(s) != lb.get(s)]
if not la or bad:
    print("FAIL %s: %d steps, %d differ (step, a, b): %s" % (name, len(la), len(bad), bad[:3]))
else:
    print("PASS %s" % name)
    print("# %s: %d steps, final loss %r in both" % (name, len(la), la[max(la)]))
PY
}
CFG=configs/micro/train.cfg
PLAIN=$TMP/runs/plain REQ=$TMP/runs/requeue CHAIN=$TMP/runs/chain SWEEP=$TMP/runs/sweep

# Everything is submitted at once; the node (4 CPUs) runs what fits and queues the rest.
plain=$(submit -n 2 slurm/lemma.sbatch "$CFG" --set run.dir="$PLAIN")
req=$(submit -n 2 slurm/lemma.sbatch "$CFG" --set run.dir="$REQ")
bad=$(submit -n 1 slurm/lemma.sbatch configs/micro/no-such.cfg)
mapfile -t chain < <(LEMMA_LAUNCHER=mpirun bash slurm/overnight.sh -k 3 --name lemma-test-chain \
    --sbatch "-n 2 -o $TMP/out/slurm-%j.out" "$CFG" --set run.dir="$CHAIN" 2>"$TMP/overnight.err")
array=$(LEMMA_SWEEP_DIR=$SWEEP submit --array=0-2%2 -n 1 slurm/sweep.sbatch configs/micro 'scale_*.cfg')
echo "# jobs: plain $plain, requeue $req, bad config $bad, chain ${chain[*]}, array $array"
if ((${#chain[@]} == 3)); then echo "PASS overnight_submits_3_jobs"
else echo "FAIL overnight_submits_3_jobs: got '${chain[*]}': $(cat "$TMP/overnight.err")"; fi

# The early signal, half-way through: to the batch shell only, as --signal=B:USR1@N sends it.
signal_at() { # NAME JOB RUN_DIR
    if wait_steps "$3" 10 120; then
        scancel --batch --signal=USR1 "$2"
        echo "# $1: job $2 signalled at step $(steps_logged "$3")"
    else
        echo "FAIL $1_reached_step_10: $(tail -3 "$3"/slurm-*.out 2>/dev/null)"
    fi
}
signal_at requeue "$req" "$REQ"
# status.sh on a running job (the plain run started with it)
if out=$(bash slurm/status.sh "$PLAIN" 2>&1) && grep -q "^state *running: job $plain" <<<"$out" &&
   grep -qE "^step +[0-9]+ / 80" <<<"$out" && grep -q "^ETA" <<<"$out"; then echo "PASS status_running"
else echo "FAIL status_running:"; sed 's/^/     /' <<<"$out"; fi
signal_at chain "${chain[0]:-0}" "$CHAIN"

if wait_job "$plain" 180 && wait_job "$req" 180 && wait_job "${chain[2]:-0}" 180 && wait_job "$array" 180 &&
   wait_job "$bad" 60; then echo "PASS jobs_finish"
else echo "FAIL jobs_finish: still queued after 3 minutes:"; squeue | sed 's/^/     /'; fi
echo "# all jobs done after $((SECONDS - T0)) s"

# 1. The plain run.
log=$PLAIN/slurm-$plain.out
if [[ $(field "$plain" JobState) == COMPLETED && $(field "$plain" ExitCode) == 0:0 ]] && grep -q "run complete" "$log" &&
   grep -q "srun --mpi=pmix" "$log" && grep -q "on 2 rank(s), 80 steps from step 0" "$log" &&
   [[ -f $PLAIN/ckpt/step_00000080.h5 ]]; then echo "PASS sbatch_2_tasks_completes"
else echo "FAIL sbatch_2_tasks_completes: state $(field "$plain" JobState) $(field "$plain" ExitCode)"; tail -5 "$log" 2>/dev/null | sed 's/^/     /'; fi
grep -q "log: $PLAIN/slurm-$plain.out" "$TMP/out/slurm-$plain.out" && echo "PASS log_in_run_dir" ||
    echo "FAIL log_in_run_dir: $(cat "$TMP/out/slurm-$plain.out")"

# 2. Signalled, requeued, resumed.
log=$REQ/slurm-$req.out
stop=$(grep -o "stopping after step [0-9]* because a signal" "$log" | head -1 | grep -o "[0-9]*")
if [[ -n $stop ]] && ((stop < 80)) && grep -q "SIGUSR1 received" "$log" && grep -q "requeuing job $req" "$log" &&
   [[ $(field "$req" Restarts) == 1 ]] && grep -q "restart 1;" "$log" &&
   grep -q "resumed from .*step_$(printf %08d "$stop").h5" "$log" &&
   [[ $(field "$req" JobState) == COMPLETED ]] && grep -q "run complete" "$log"; then
    echo "PASS signal_checkpoint_requeue_resume"; echo "# requeue: stopped after step $stop, requeued (same job $req), resumed, completed"
else echo "FAIL signal_checkpoint_requeue_resume: stop '$stop', state $(field "$req" JobState), restarts $(field "$req" Restarts)"
     grep -E "lemma-slurm|stopping|resumed" "$log" 2>/dev/null | tail -12 | sed 's/^/     /'; fi
same_losses requeued_run_same_losses "$PLAIN" "$REQ"
out=$(bash slurm/status.sh "$REQ" 2>&1)
if grep -q "^state *complete" <<<"$out" && grep -qE "^step +80 / 80" <<<"$out" && grep -q "^checkpoint  step_00000080.h5" <<<"$out"; then
    echo "PASS status_complete"; else echo "FAIL status_complete:"; sed 's/^/     /' <<<"$out"; fi

# 3. The overnight chain: job 1 signalled and ended, job 2 resumed and completed, job 3 cancelled.
if ((${#chain[@]} == 3)); then
    l1=$CHAIN/slurm-${chain[0]}.out l2=$CHAIN/slurm-${chain[1]}.out
    if [[ $(field "${chain[0]}" JobState) == COMPLETED ]] && grep -q "the next job of the chain resumes" "$l1" &&
       grep -q "start: mpirun -np 2" "$l1" && grep -q "resumed from" "$l2" && grep -q "run complete" "$l2" &&
       [[ $(field "${chain[1]}" JobState) == COMPLETED && $(field "${chain[2]}" JobState) == CANCELLED ]] &&
       [[ ! -e $CHAIN/slurm-${chain[2]}.out ]]; then echo "PASS overnight_chain_resumes_and_cancels_rest"
    else echo "FAIL overnight_chain_resumes_and_cancels_rest: states $(for j in "${chain[@]}"; do field "$j" JobState; done | tr '\n' ' ')"
         cat "$l1" "$l2" 2>/dev/null | grep -E "lemma-slurm|stopping|resumed" | tail -12 | sed 's/^/     /'; fi
    same_losses chain_run_same_losses "$PLAIN" "$CHAIN"
fi
dry=$(bash slurm/overnight.sh -n -k 2 --begin now+1hour --afterany "$CFG" 2>&1)
if grep -q -- "--begin=now+1hour" <<<"$dry" && grep -q -- "--dependency=afterany:JOB1" <<<"$dry"; then echo "PASS overnight_begin_afterany"
else echo "FAIL overnight_begin_afterany:"; sed 's/^/     /' <<<"$dry"; fi

# 4. The array sweep and the scaling fit.
ok=1
for i in 0 1 2; do
    d=$SWEEP/scale_$((i + 1))
    [[ -f $d/slurm-${array}_$i.out ]] && grep -q "run complete" "$d/slurm-${array}_$i.out" &&
        [[ -f $d/ckpt/step_00000060.h5 ]] || { ok=0; echo "#   task $i: $(tail -3 "$d"/slurm-*.out 2>/dev/null)"; }
done
((ok)) && echo "PASS sweep_array_3_sizes" ||
    echo "FAIL sweep_array_3_sizes: $(scontrol -o show job "$array" | grep -o 'JobState=[A-Z]*' | tr '\n' ' ')"
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
