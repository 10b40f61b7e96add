# tests/shell/test_expr_fuzz.sh: builds tests/fuzz/fuzz_expr.c with the tasks, expression and
# util sources twice and runs each on the same deterministic inputs, random and mutated LaTeX
# (FUZZ_ITERS, default 3000): under AddressSanitizer (leaks included) and UBSan, where any
# sanitizer report or crash fails the test; and with -O2 and no sanitizers, where an input
# that takes more than FUZZ_MAX_MS (default 50) milliseconds of CPU time fails it (the
# sanitizers slow the engine some 30 times, so the bound is checked on the plain build). The
# slowest input of each run is reported.
source "$(dirname "$0")/lib.sh"
ITERS=${FUZZ_ITERS:-3000}
MAX_MS=${FUZZ_MAX_MS:-50}
CC_FUZZ=$(command -v clang || command -v gcc)
# the sources of fuzz_tasks (every src/tasks/*.c but the commands, their options and the
# prompt formats) and the expression engine (src/expr/)
mapfile -t SRC < <(ls src/tasks/*.c | grep -vE '/(cmd|options|prompt)\.c$'; ls src/expr/*.c 2>/dev/null)
SRC=(tests/fuzz/fuzz_expr.c "${SRC[@]}" src/util/core.c src/util/jsonl.c src/util/rng.c)
COMMON=(-std=c11 -D_GNU_SOURCE -g -Wall -Wextra -Werror -Iinclude $(pkg-config --cflags libcjson))
LIBS=($(pkg-config --libs libcjson) -lm)

if "$CC_FUZZ" "${COMMON[@]}" -O1 -fno-omit-frame-pointer -fsanitize=address,undefined \
    -fno-sanitize-recover=undefined "${SRC[@]}" -o "$TMP/fuzz_expr_asan" "${LIBS[@]}" >"$TMP/build.log" 2>&1 &&
    "$CC_FUZZ" "${COMMON[@]}" -O2 "${SRC[@]}" -o "$TMP/fuzz_expr" "${LIBS[@]}" >>"$TMP/build.log" 2>&1; then
    echo "PASS fuzz_expr_build"
else
    echo "FAIL fuzz_expr_build: $CC_FUZZ failed"; tail -20 "$TMP/build.log" | sed 's/^/     /'; exit 0
fi

if ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 UBSAN_OPTIONS=print_stacktrace=1 \
    "$TMP/fuzz_expr_asan" "$ITERS" 0 >"$TMP/asan.out" 2>"$TMP/asan.err" &&
    grep -q "fuzz_expr: $ITERS iterations done" "$TMP/asan.out" &&
    ! grep -qE 'ERROR: (Address|Leak)Sanitizer|runtime error' "$TMP/asan.err"; then
    echo "PASS fuzz_expr_asan_${ITERS}_iterations"
    grep 'slowest input' "$TMP/asan.out" | sed 's/^/# under the sanitizers: /'
else
    echo "FAIL fuzz_expr_asan: a sanitizer report or a crash (run: FUZZ_ITERS=$ITERS bash $0)"
    head -40 "$TMP/asan.err" | sed 's/^/     /'
fi

if "$TMP/fuzz_expr" "$ITERS" "$MAX_MS" >"$TMP/time.out" 2>&1 &&
    grep -q "fuzz_expr: $ITERS iterations done" "$TMP/time.out"; then
    echo "PASS fuzz_expr_time_under_${MAX_MS}ms"
    grep 'slowest input' "$TMP/time.out" | sed 's/^/# -O2: /'
else
    echo "FAIL fuzz_expr_time: an input over $MAX_MS ms of CPU, or a crash (run: FUZZ_ITERS=$ITERS bash $0)"
    head -14 "$TMP/time.out" | sed 's/^/     /'
fi
