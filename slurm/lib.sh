# slurm/lib.sh: what the batch scripts of slurm/ share: finding lemma, the run directory and
# the log, the job environment, launching the ranks, forwarding Slurm's early-warning signal,
# and deciding at the end whether the run is complete or must be resumed (requeue, or the next
# job of a chain). Sourced by lemma.sbatch, multinode.sbatch and sweep.sbatch; not a job
# script itself. docs/slurm.md describes the whole.
#
# Settings (environment variables; sbatch passes the submitting shell's environment):
#   LEMMA_CMD           the lemma command the job runs: `run` (default: the one-job pipeline,
#                       pretrain to eval, with RUN_DIR/manifest.json) or `train` (training
#                       only, as `lemma train`). One word, one place to change the default.
#   LEMMA               the binary (default: $LEMMA_HOME/build/lemma)
#   LEMMA_HOME          the lemma checkout (default: found from the submitted script's path)
#   LEMMA_LAUNCHER      srun (default) or mpirun
#   LEMMA_SRUN_ARGS     extra srun arguments (default: --mpi=pmix)
#   LEMMA_MPIRUN_ARGS   extra mpirun arguments (default: --bind-to none)
#   LEMMA_REQUEUE       1 (default): a run stopped by the early signal or its time limit
#                       requeues its own job (scontrol requeue); 0: it just ends
#   LEMMA_MAX_RESTARTS  no requeue after this many restarts of the job (default 50)
#   LEMMA_CHAIN         set by slurm/overnight.sh: no self-requeue; the next job of the chain
#                       resumes the run; the job that completes the run cancels the rest
#   LEMMA_STRIPE_COUNT, LEMMA_STRIPE_SIZE   Lustre striping of the checkpoint directories
#                       (RUN_DIR/pretrain/ckpt and RUN_DIR/finetune/ckpt for `run`, RUN_DIR/ckpt
#                       for `train`) when RUN_DIR is on Lustre and `lfs` exists (default 8 and
#                       4M; LEMMA_STRIPE_COUNT=0: leave them)
#   HDF5_USE_FILE_LOCKING   FALSE unless set (see lemma_env)

: "${LEMMA_CMD:=run}"   # the default command (sweep.sbatch sets train first): change only this line

lemma_log() { printf '[lemma-slurm %s] %s\n' "$(date '+%F %T')" "$*"; }
lemma_die() { lemma_log "error: $1"; exit "${2:-1}"; }

# The checkout: LEMMA_HOME, else two levels above the script Slurm was given (sbatch runs a
# copy from its spool directory, so $0 does not tell; the controller keeps the original path),
# else the submit directory.
lemma_find_home() {
    if [[ -z ${LEMMA_HOME:-} && -n ${SLURM_JOB_ID:-} ]]; then
        local cmd
        cmd=$(scontrol show job "$SLURM_JOB_ID" 2>/dev/null | sed -n 's/^ *Command=\([^ ]*\).*/\1/p' | head -1)
        [[ -n $cmd && -f $cmd ]] && LEMMA_HOME=$(cd "$(dirname "$cmd")/.." && pwd)
    fi
    : "${LEMMA_HOME:=${SLURM_SUBMIT_DIR:-$PWD}}"
    : "${LEMMA:=$LEMMA_HOME/build/lemma}"
    [[ -x $LEMMA ]] || lemma_die "lemma binary '$LEMMA' not found: build it (make) or set LEMMA=/path/to/lemma" 2
    export LEMMA_HOME LEMMA
}

# cfg_get DUMPFILE section.key: a value from `lemma config CONFIG --dump` (strings unquoted).
cfg_get() {
    awk -v want="$2" '
        /^[a-z_]+ = \{/ { sect = $1; next }
        /^[ \t]+[a-z_]+ = / {
            line = $0; sub(/^[ \t]+/, "", line)
            key = line; sub(/ = .*/, "", key)
            if (sect "." key != want) next
            val = line; sub(/^[a-z_]+ = /, "", val)
            if (val ~ /^"/) { sub(/^"/, "", val); sub(/";.*$/, "", val) } else sub(/;.*$/, "", val)
            print val; exit
        }' "$1"
}

# lemma_resolve CONFIG ARGS...: the effective config (dump) in $LEMMA_DUMP, RUN_DIR from it.
# Only the --set overrides go to `lemma config`; other options are for the command itself.
lemma_resolve() {
    local config=$1; shift
    [[ -r $config ]] || lemma_die "cannot read config '$config' (relative paths are taken from the submit directory $PWD)" 2
    local sets=() a
    while (($#)); do
        a=$1; shift
        if [[ $a == --set ]]; then sets+=(--set "${1:-}"); shift
        elif [[ $a == --set=* ]]; then sets+=("$a"); fi
    done
    LEMMA_DUMP=$(mktemp "${TMPDIR:-/tmp}/lemma-cfg.XXXXXX")
    # One process, outside srun, as a plain MPI singleton: without the SLURM_* variables,
    # which would make Open MPI believe srun started it.
    local unset=() v
    for v in $(compgen -e); do [[ $v == SLURM_* || $v == PMI_* || $v == PMIX_* ]] && unset+=(-u "$v"); done
    if ! env "${unset[@]}" "$LEMMA" config "$config" "${sets[@]}" --dump >"$LEMMA_DUMP" 2>"$LEMMA_DUMP.err"; then
        cat "$LEMMA_DUMP.err"
        lemma_die "'lemma config $config ${sets[*]}' failed" 2
    fi
    rm -f "$LEMMA_DUMP.err"
    RUN_DIR=$(cfg_get "$LEMMA_DUMP" run.dir)
    # pipeline.phases, as words: [ "pretrain", "sample" ] -> pretrain sample
    LEMMA_PHASES=$(cfg_get "$LEMMA_DUMP" pipeline.phases | tr -d '[]",' | xargs)
    : "${LEMMA_PHASES:=pretrain sample build finetune eval}"
    [[ -n $RUN_DIR ]] || lemma_die "no run.dir in the effective config of $config" 2
    mkdir -p "$RUN_DIR" || lemma_die "cannot create the run directory $RUN_DIR"
    RUN_DIR=$(cd "$RUN_DIR" && pwd)
    export RUN_DIR
}

# The job's log goes to RUN_DIR/slurm-%j.out (slurm-%A_%a.out for an array task), appended
# across requeues. When Slurm's own output file is elsewhere, that file keeps one line that
# says where the log went.
lemma_log_to_run_dir() {
    local id=${SLURM_JOB_ID:-local-$$}
    [[ -n ${SLURM_ARRAY_JOB_ID:-} && -n ${SLURM_ARRAY_TASK_ID:-} ]] && id=${SLURM_ARRAY_JOB_ID}_${SLURM_ARRAY_TASK_ID}
    LEMMA_LOG=$RUN_DIR/slurm-$id.out
    local cur
    cur=$(readlink -f /proc/$$/fd/1 2>/dev/null || true)
    if [[ $cur != "$(readlink -f "$LEMMA_LOG" 2>/dev/null)" ]]; then
        [[ -n $cur && $cur != /dev/null ]] && lemma_log "log: $LEMMA_LOG"
        exec >>"$LEMMA_LOG" 2>&1
    fi
    export LEMMA_LOG
}

# Environment of the ranks.
lemma_env() {
    # One OpenMP thread team per rank, as wide as the CPUs Slurm gave each task.
    export OMP_NUM_THREADS=${SLURM_CPUS_PER_TASK:-${OMP_NUM_THREADS:-1}}
    export OMP_PROC_BIND=${OMP_PROC_BIND:-false}
    # Since Slurm 22.05 srun no longer takes --cpus-per-task from the batch job; without this
    # every rank would get one CPU and its threads would share it.
    [[ -n ${SLURM_CPUS_PER_TASK:-} ]] && export SRUN_CPUS_PER_TASK=${SRUN_CPUS_PER_TASK:-$SLURM_CPUS_PER_TASK}
    # lemma writes checkpoints under temporary names and renames them, and nothing reads a
    # checkpoint while it is written, so HDF5's advisory locks buy nothing; on Lustre or GPFS
    # mounted without flock they fail ("unable to lock file"). Keep a value the user set.
    export HDF5_USE_FILE_LOCKING=${HDF5_USE_FILE_LOCKING:-FALSE}
    # Slurm before 23.02 does not export the job's end time; lemma stops run.stop_margin
    # seconds before it (the early signal below is the second line of defence).
    if [[ -z ${SLURM_JOB_END_TIME:-} && -n ${SLURM_JOB_ID:-} ]]; then
        local end
        end=$(squeue -h -j "$SLURM_JOB_ID" -o %e 2>/dev/null | head -1)
        if [[ $end =~ ^[0-9]{4}-[0-9]{2}-[0-9]{2}T ]] && end=$(date -d "$end" +%s 2>/dev/null); then
            export SLURM_JOB_END_TIME=$end
        fi
    fi
    # Checkpoints of big models on Lustre: stripe the checkpoint directories over several OSTs
    # (new files inherit it). Only when the run directory is on Lustre, and only once each.
    if [[ ${LEMMA_STRIPE_COUNT:-8} != 0 ]] && command -v lfs >/dev/null 2>&1 &&
       [[ $(stat -f -c %T "$RUN_DIR" 2>/dev/null) == lustre ]]; then
        local d dirs=("$RUN_DIR/ckpt")
        [[ $LEMMA_CMD == run ]] && dirs=("$RUN_DIR/pretrain/ckpt" "$RUN_DIR/finetune/ckpt")
        for d in "${dirs[@]}"; do
            [[ -d $d ]] && continue
            mkdir -p "$d"
            lfs setstripe -c "${LEMMA_STRIPE_COUNT:-8}" -S "${LEMMA_STRIPE_SIZE:-4M}" "$d" &&
                lemma_log "Lustre: $d striped over ${LEMMA_STRIPE_COUNT:-8} OSTs, ${LEMMA_STRIPE_SIZE:-4M} stripes"
        done
    fi
}

# Signals. With `#SBATCH --signal=B:USR1@300` Slurm signals this shell (only) 300 s before
# the time limit; scancel --batch --signal=USR1 does the same by hand. The trap passes the
# signal on to the launcher, srun and mpirun pass it to every rank, and lemma finishes the
# step, checkpoints and exits 0. SIGTERM (scancel, or the limit itself) is passed on the same
# way. A second signal to lemma ends it at once, so each signal is passed on only once.
LEMMA_PID=""
LEMMA_SIGNALLED=""
LEMMA_REQUEUING=""
lemma_on_signal() {
    local sig=$1
    if [[ -n $LEMMA_REQUEUING ]]; then lemma_log "SIG$sig: the job ends here and is queued again"; exit 0; fi
    if [[ -n $LEMMA_SIGNALLED ]]; then lemma_log "SIG$sig again: already passed on SIG$LEMMA_SIGNALLED"; return; fi
    LEMMA_SIGNALLED=$sig
    lemma_log "SIG$sig received: asking lemma to checkpoint and stop"
    [[ -n $LEMMA_PID ]] && kill -USR1 "$LEMMA_PID" 2>/dev/null
}
trap 'lemma_on_signal USR1' USR1
trap 'lemma_on_signal TERM' TERM

# lemma_launch ARGS...: runs `lemma $LEMMA_CMD ARGS...` on every task of the job (or on
# LEMMA_NTASKS local ranks outside Slurm) in the background and waits for it; the status is
# in LEMMA_RC.
lemma_launch() {
    local launcher=${LEMMA_LAUNCHER:-srun} cmd
    if [[ -z ${SLURM_JOB_ID:-} ]]; then launcher=mpirun; fi
    case $launcher in
        srun)
            # shellcheck disable=SC2206
            local extra=(${LEMMA_SRUN_ARGS:---mpi=pmix})
            cmd=(srun "${extra[@]}" --kill-on-bad-exit=1 "$LEMMA" "$LEMMA_CMD" "$@") ;;
        mpirun)
            # shellcheck disable=SC2206
            local extra=(${LEMMA_MPIRUN_ARGS:---bind-to none})
            local np=${SLURM_NTASKS:-${LEMMA_NTASKS:-1}}
            cmd=(mpirun -np "$np" "${extra[@]}" -x OMP_NUM_THREADS -x HDF5_USE_FILE_LOCKING
                 -x SLURM_JOB_END_TIME "$LEMMA" "$LEMMA_CMD" "$@") ;;
        *) lemma_die "LEMMA_LAUNCHER must be srun or mpirun, not '$launcher'" 2 ;;
    esac
    LEMMA_NOT_STARTED=""
    if [[ -n $LEMMA_SIGNALLED ]]; then
        lemma_log "signalled before the start: not starting"; LEMMA_RC=0 LEMMA_NOT_STARTED=1; return
    fi
    lemma_log "start: ${cmd[*]}"
    "${cmd[@]}" </dev/null &
    LEMMA_PID=$!
    local rc
    while :; do
        wait "$LEMMA_PID"; rc=$?
        # wait returns early (status > 128) when a trapped signal arrives; the launcher is
        # still there (or not yet reaped), so wait again for its real status.
        if ((rc > 128)) && kill -0 "$LEMMA_PID" 2>/dev/null; then continue; fi
        break
    done
    LEMMA_PID=""
    LEMMA_RC=$rc
}

# lemma_phases_left: the phases of pipeline.phases (LEMMA_PHASES) that RUN_DIR/manifest.json
# does not list as finished, space-separated; empty when the pipeline is complete.
lemma_phases_left() {
    local p todo=()
    for p in $LEMMA_PHASES; do
        grep -Eq "\"$p\"[[:space:]]*:" "$RUN_DIR/manifest.json" 2>/dev/null || todo+=("$p")
    done
    echo "${todo[*]}"
}

# How the attempt ended, from lemma's contract: exit 0 after a checkpoint that a signal or
# the time limit caused means "stopped early: resume me"; exit 0 otherwise means complete.
#   - `lemma run`: complete exactly when manifest.json lists every phase of pipeline.phases
#     (a finished run directory, where lemma says "nothing to do", is complete too);
#     otherwise the log of this attempt says why it stopped: a training phase's "stopping
#     after step N because ...", or the pipeline's "stopped early (a signal or the time
#     limit)" / "stopping before PHASE (a signal or the time limit)".
#   - `lemma train`: complete unless its log says "...: stopping after step N because a
#     signal (SIGTERM or SIGUSR1) was received" (or "the time limit is near", or
#     "train.stop_after was reached").
# RUN_DIR/STOPPED, when lemma writes it, says the same in a file ("REASON STEP" on one line:
# signal, time_limit, stop_after). Sets LEMMA_OUTCOME to complete, resume (signal or time
# limit), stopped (the user's stop_after) or failed, and LEMMA_STOP_REASON.
lemma_outcome() { # LOG_OFFSET: where this attempt's output starts in LEMMA_LOG
    local off=$1 reason="" left=""
    LEMMA_STOP_REASON=""
    if ((LEMMA_RC != 0)); then
        # Ended by a signal we passed on, or by Slurm at the limit (SIGTERM, then SIGKILL):
        # the checkpoint before it still stands, so resume from there; anything else failed.
        if [[ -n $LEMMA_SIGNALLED ]]; then LEMMA_OUTCOME=resume LEMMA_STOP_REASON=interrupted
        else LEMMA_OUTCOME=failed; fi
        return
    fi
    if [[ -n ${LEMMA_NOT_STARTED:-} ]]; then LEMMA_OUTCOME=resume LEMMA_STOP_REASON=signal; return; fi
    if [[ $LEMMA_CMD == run ]]; then
        left=$(lemma_phases_left)
        if [[ -z $left ]]; then LEMMA_OUTCOME=complete; return; fi
    fi
    if [[ -s $RUN_DIR/STOPPED ]]; then
        reason=$(awk '{print $1; exit}' "$RUN_DIR/STOPPED")
    else
        # A training phase's own line first: `run` follows it with its generic line, which
        # also follows train.stop_after.
        local line attempt
        attempt=$(tail -c +$((off + 1)) "$LEMMA_LOG")
        line=$(grep -E 'stopping after .* because ' <<<"$attempt" | tail -1)
        [[ -n $line ]] || line=$(grep -E '(stopped early|stopping before .*) \(a signal or the time limit\)' <<<"$attempt" | tail -1)
        case $line in
            *"because a signal"*) reason=signal ;;
            *"because the time limit"*) reason=time_limit ;;
            *"a signal or the time limit"*) if [[ -n $LEMMA_SIGNALLED ]]; then reason=signal; else reason=time_limit; fi ;;
            *"because "*) reason=stop_after ;;
        esac
    fi
    if [[ -z $reason && -n $left ]]; then
        # `run` exited 0 with phases left and no word of why: resume after our own signal,
        # otherwise something is wrong, and running it again would not help.
        if [[ -n $LEMMA_SIGNALLED ]]; then reason=signal
        else LEMMA_OUTCOME=failed LEMMA_STOP_REASON="exit status 0 but phases not finished: $left"; return; fi
    fi
    case $reason in
        "") LEMMA_OUTCOME=complete ;;
        signal | time_limit) LEMMA_OUTCOME=resume ;;
        *) LEMMA_OUTCOME=stopped ;;
    esac
    LEMMA_STOP_REASON=$reason${left:+; phases left: $left}
}

# lemma_cancel_rest_of_chain WHY: the job that completes a chain (or fails for good) cancels
# the chain's jobs still pending (same name, same user: what `--dependency=singleton` waits on).
lemma_cancel_rest_of_chain() {
    [[ -n ${LEMMA_CHAIN:-} && -n ${SLURM_JOB_NAME:-} ]] || return 0
    local ids
    ids=$(squeue -h -u "$(id -un)" -n "$SLURM_JOB_NAME" -t PENDING -o %i 2>/dev/null | grep -vx "${SLURM_JOB_ID:-}" | tr '\n' ' ')
    if [[ -n ${ids// /} ]]; then
        lemma_log "$1: cancelling the rest of the chain: $ids"
        # shellcheck disable=SC2086
        scancel $ids
    fi
}

# lemma_job CONFIG ARGS...: the whole job. Exit status: 0 when complete, stopped on purpose,
# or requeued/handed to the chain to resume; lemma's status when it failed.
lemma_job() {
    (($# >= 1)) || lemma_die "usage: sbatch $0 CONFIG [--set key=value]... [lemma options]" 2
    local config=$1
    lemma_find_home
    lemma_resolve "$@"
    lemma_log_to_run_dir
    local restarts=${SLURM_RESTART_COUNT:-0}
    lemma_log "job ${SLURM_JOB_ID:-none}${SLURM_ARRAY_TASK_ID:+ (array task $SLURM_ARRAY_TASK_ID)} on ${SLURM_JOB_NODELIST:-$(hostname)}: ${SLURM_NTASKS:-${LEMMA_NTASKS:-1}} tasks, ${SLURM_CPUS_PER_TASK:-1} CPUs each, restart $restarts; lemma $LEMMA_CMD $config; run directory $RUN_DIR"
    if [[ $LEMMA_CMD == run ]]; then
        local left; left=$(lemma_phases_left)
        lemma_log "pipeline.phases: $LEMMA_PHASES; ${left:+to run: $left}${left:-all finished}"
    fi
    lemma_env
    cp "$LEMMA_DUMP" "$RUN_DIR/slurm.cfg" 2>/dev/null   # the effective config, for status.sh
    rm -f "$LEMMA_DUMP"
    printf '%s %s restart=%s tasks=%s nodes=%s start=%s cmd=%s\n' "${SLURM_JOB_ID:-local}" "${SLURM_ARRAY_JOB_ID:+${SLURM_ARRAY_JOB_ID}_${SLURM_ARRAY_TASK_ID}}" \
        "$restarts" "${SLURM_NTASKS:-1}" "${SLURM_JOB_NODELIST:-$(hostname)}" "$(date +%s)" "$LEMMA_CMD" >>"$RUN_DIR/slurm.jobs"
    local off; off=$(stat -c %s "$LEMMA_LOG" 2>/dev/null || echo 0)
    local t0=$SECONDS
    lemma_launch "$@"
    lemma_outcome "$off"
    lemma_log "lemma exited with status $LEMMA_RC after $((SECONDS - t0)) s: $LEMMA_OUTCOME${LEMMA_STOP_REASON:+ ($LEMMA_STOP_REASON)}"
    case $LEMMA_OUTCOME in
        complete)
            lemma_log "run complete"
            lemma_cancel_rest_of_chain "run complete"
            return 0 ;;
        stopped)
            lemma_log "stopped as configured ($LEMMA_STOP_REASON); submit again to go on"
            return 0 ;;
        failed)
            lemma_log "lemma failed (status $LEMMA_RC${LEMMA_STOP_REASON:+: $LEMMA_STOP_REASON}): not resuming"
            lemma_cancel_rest_of_chain "lemma failed"
            return $((LEMMA_RC ? LEMMA_RC : 1)) ;;
    esac
    # resume
    if [[ -n ${LEMMA_CHAIN:-} ]]; then
        lemma_log "stopped early: the next job of the chain resumes"
        return 0
    fi
    if [[ ${LEMMA_REQUEUE:-1} != 1 || -z ${SLURM_JOB_ID:-} ]]; then
        lemma_log "stopped early: resume by submitting the same command again"
        return 0
    fi
    if ((restarts >= ${LEMMA_MAX_RESTARTS:-50})); then
        lemma_log "stopped early, but the job was already restarted $restarts times (LEMMA_MAX_RESTARTS): not requeuing"
        return 0
    fi
    lemma_log "stopped early: requeuing job $SLURM_JOB_ID to resume"
    LEMMA_REQUEUING=1
    # Requeuing ends this script; a failure (a job submitted with --no-requeue, JobRequeue=0)
    # is reported and the job ends.
    if ! scontrol requeue "$SLURM_JOB_ID"; then
        lemma_log "scontrol requeue failed (was the job submitted with --no-requeue?): resume by submitting again"
        return 0
    fi
    # The controller now ends this job and queues it again; wait for that here.
    sleep 300 &
    wait $! 2>/dev/null
    return 0
}
