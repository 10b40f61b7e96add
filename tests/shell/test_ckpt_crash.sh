# tests/shell/test_ckpt_crash.sh: crash safety. A writer on 2 ranks saves 50 MB checkpoints
# in a loop (tests/mpi/ckpt_mpi.c writer); 20 times it is killed with SIGKILL at a random
# moment (all ranks at once, or one of them), and after each kill `latest` must name a
# complete checkpoint (never a .tmp) that ckpt_load reads and that holds exactly the values
# of its step. The next trial's writer resumes after that step, so kills also land between
# the rename of a checkpoint and the update of `latest`, and on top of stale .tmp files.
source "$(dirname "$0")/lib.sh"
BIN=${BUILD:-build}/mpi/ckpt_mpi
MB=${CKPT_CRASH_MB:-50}
TRIALS=${CKPT_CRASH_TRIALS:-20}
dir=$TMP/crash
RANDOM=4242 # reproducible kill moments

ok=0 mid_write=0 fails=""
for ((trial = 1; trial <= TRIALS; trial++)); do
    start=1
    [[ -f $dir/ckpt/latest ]] && start=$((10#$(sed 's/step_\([0-9]*\).h5/\1/' "$dir/ckpt/latest") + 1))
    log=$TMP/writer_$trial.log
    : >"$log" # exists before the background job opens it
    # The writer stops by itself after 60 s, so that nothing outlives a failed kill.
    "${MPIRUN[@]}" -np 2 "$BIN" writer "$dir" "$MB" "$start" 60 </dev/null >>"$log" 2>&1 &
    launcher=$!
    for ((i = 0; i < 400; i++)); do
        (($(grep -c '^pid ' "$log") >= 2)) && break
        sleep 0.05
    done
    pids=$(awk '/^pid /{print $3}' "$log")
    if [[ $(wc -w <<<"$pids") != 2 ]]; then
        fails+=" [trial $trial: the writer did not start: $(head -3 "$log")]"
        wait "$launcher"
        continue
    fi
    sleep "$(printf '%d.%03d' $((RANDOM % 4 == 0)) $((RANDOM % 1000)))" # 0 to 2 s
    if ((trial % 2)); then victims=$pids                   # the whole job dies
    else victims=$(sed -n "$((RANDOM % 2 + 1))p" <<<"$pids"); fi # one rank dies
    kill -9 $victims 2>/dev/null # mpirun then ends the other rank, if any
    # a temporary file of this trial's writer: the kill landed inside a save
    tmp_left=$(ls -A "$dir/ckpt" 2>/dev/null | sed -n 's/^\.step_0*\([0-9][0-9]*\)\.h5\.tmp$/\1/p' |
               awk -v s="$start" '$1 >= s' | wc -l)
    wait "$launcher" 2>/dev/null
    ((tmp_left > 0)) && mid_write=$((mid_write + 1))
    saved=$(grep -c '^saved ' "$log")
    if out=$("$BIN" verify "$dir" "$MB" 2>&1) && grep -q '^verified step_' <<<"$out"; then
        ok=$((ok + 1))
    elif ((saved == 0)) && ! [[ -f $dir/ckpt/latest ]]; then
        ok=$((ok + 1)) # killed before any checkpoint was complete: nothing to check yet
    else
        fails+=" [trial $trial after $saved saves: $out]"
    fi
done
if ((ok == TRIALS && mid_write >= TRIALS / 4)); then
    echo "PASS kill9_latest_always_loadable ($TRIALS kills, $mid_write during a write)"
else
    echo "FAIL kill9_latest_always_loadable: $ok of $TRIALS verified, $mid_write kills during a write:$fails"
fi

# The survivor of all this loads on another world size.
out=$("${MPIRUN[@]}" -np 3 "$BIN" verify "$dir" "$MB" 2>&1)
if [[ $(grep -c '^verified step_' <<<"$out") == 3 ]]; then echo "PASS kill9_then_load_np3"
else echo "FAIL kill9_then_load_np3: $out"; fi
