#!/usr/bin/env bash
# Runs the test suite: every C unit-test binary in $BUILD/tests and every shell test in
# tests/shell (with --gpu: the GPU binaries and tests/gpu/*.sh only). Each prints "PASS
# name" / "FAIL name: why" lines, and "SKIP name: why" for a check this build or machine
# cannot run (counted apart, never as a pass); a binary that crashes or exits non-zero
# without a FAIL line counts as a failure. Ends with "N passed, N failed, N skipped"; exit
# status non-zero on any failure.
set -uo pipefail
BUILD=${BUILD:-build}
cd "$(dirname "$0")/.."
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
export LEMMA=$PWD/$BUILD/lemma BUILD
# Debian 12's OpenBLAS does not recognise recent Xeons and falls back to slow kernels (lemma
# itself re-executes with this set; the test binaries get it from here).
if [[ -z ${OPENBLAS_CORETYPE:-} ]] && grep -qw avx512f /proc/cpuinfo; then export OPENBLAS_CORETYPE=SkylakeX
elif [[ -z ${OPENBLAS_CORETYPE:-} ]] && grep -qw avx2 /proc/cpuinfo; then export OPENBLAS_CORETYPE=Haswell; fi
LOGDIR=$BUILD/test-logs; mkdir -p "$LOGDIR"
passed=0; failed=0; skipped=0
gpu=0; [[ "${1:-}" == "--gpu" ]] && gpu=1

run_one() { # name, command...
    local name=$1; shift
    local log=$LOGDIR/$name.log
    local t0=$SECONDS
    "$@" >"$log" 2>&1
    local rc=$?
    local p f s
    p=$(grep -c '^PASS ' "$log"); f=$(grep -c '^FAIL ' "$log"); s=$(grep -c '^SKIP ' "$log")
    if ((rc != 0 && f == 0)); then
        echo "FAIL $name: exited with status $rc (log: $log)"; tail -n 20 "$log" | sed 's/^/    /'
        f=1
    fi
    grep -E '^(FAIL|SKIP|     )' "$log"
    passed=$((passed + p)); failed=$((failed + f)); skipped=$((skipped + s))
    printf '%-32s %3d passed %3d failed %3d skipped  %4ds\n' "$name" "$p" "$f" "$s" $((SECONDS - t0))
}

if ((gpu)); then
    for t in "$BUILD"/tests/test_gpu_*; do [[ -x $t ]] && run_one "$(basename "$t")" "$t"; done
    for t in tests/gpu/test_*.sh; do [[ -f $t ]] && run_one "$(basename "$t" .sh)" bash "$t"; done
else
    for t in "$BUILD"/tests/test_*; do
        [[ -x $t ]] || continue
        [[ $(basename "$t") == test_gpu_* ]] && continue
        run_one "$(basename "$t")" "$t"
    done
    for t in tests/shell/test_*.sh; do [[ -f $t ]] && run_one "$(basename "$t" .sh)" bash "$t"; done
fi
echo "$passed passed, $failed failed, $skipped skipped"
((failed == 0))
