# tests/shell/test_mpi.sh: the MPI world on 1, 2 and 3 ranks: sizes and local ranks, the
# counter-based generator independent of the number of ranks, job-wide abort naming the
# rank, and signals turned into the same stop decision on every rank.
source "$(dirname "$0")/lib.sh"
BIN=${BUILD:-build}/mpi/mpi_check

expect_out singleton_world '^rank 0 size 1 local 0/1$' "$BIN" world
for np in 1 2 3; do
    out=$("${MPIRUN[@]}" -np $np "$BIN" world 2>&1)
    if [[ $(grep -c "size $np local" <<<"$out") == "$np" ]] && grep -q "rank $((np-1)) size $np" <<<"$out"; then
        echo "PASS world_np$np"; else echo "FAIL world_np$np: $out"; fi
done

ref=$("$BIN" rng 10007)
for np in 1 2 3; do
    got=$("${MPIRUN[@]}" -np $np "$BIN" rng 10007 2>&1)
    if [[ -n "$ref" && "$got" == "$ref" ]]; then echo "PASS rng_same_on_np$np"
    else echo "FAIL rng_same_on_np$np: '$got' vs singleton '$ref'"; fi
done

start=$SECONDS
out=$("${MPIRUN[@]}" -np 3 "$BIN" abort 1 2>&1); rc=$?
if ((rc != 0)) && grep -q "\[rank 1\] test abort requested" <<<"$out" && ! grep -q survived <<<"$out" \
   && ((SECONDS - start < 15)); then echo "PASS abort_ends_all_ranks"
else echo "FAIL abort_ends_all_ranks: rc=$rc after $((SECONDS - start))s: $(tail -3 <<<"$out")"; fi

out=$("${MPIRUN[@]}" -np 3 "$BIN" signal 2 2>&1)
if [[ $(grep -c "stop 1" <<<"$out") == 3 ]] && grep -q "rank 2 stop 1 seen 1" <<<"$out" \
   && grep -q "rank 0 stop 1 seen 0" <<<"$out"; then echo "PASS signal_collective_stop"
else echo "FAIL signal_collective_stop: $out"; fi
