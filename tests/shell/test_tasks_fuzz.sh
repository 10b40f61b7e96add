# tests/shell/test_tasks_fuzz.sh: builds tests/fuzz/fuzz_tasks.c with the tasks and util
# sources under AddressSanitizer (leaks included) and UBSan, and runs it for a fixed number
# of iterations of random and mutated bytes (FUZZ_ITERS, default 3000; set it higher for a
# longer run). Any sanitizer report or crash fails the test.
source "$(dirname "$0")/lib.sh"
ITERS=${FUZZ_ITERS:-3000}
CC_FUZZ=$(command -v clang || command -v gcc)
SRC=(tests/fuzz/fuzz_tasks.c src/tasks/num.c src/tasks/answer.c src/tasks/verify.c src/tasks/graph.c
     src/tasks/load.c src/tasks/gen.c src/util/core.c src/util/jsonl.c src/util/rng.c
     src/expr/*.c) # the expression engine that grading and the step checker use
BIN=$TMP/fuzz_tasks

if "$CC_FUZZ" -std=c11 -D_GNU_SOURCE -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined \
    -fno-sanitize-recover=undefined -Wall -Wextra -Werror -Iinclude $(pkg-config --cflags libcjson) \
    "${SRC[@]}" -o "$BIN" $(pkg-config --libs libcjson) -lm >"$TMP/build.log" 2>&1; then
    echo "PASS fuzz_build_asan"
else
    echo "FAIL fuzz_build_asan: $CC_FUZZ failed"; tail -20 "$TMP/build.log" | sed 's/^/     /'; exit 0
fi

mkdir -p "$TMP/fuzz"
if ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 UBSAN_OPTIONS=print_stacktrace=1 \
    "$BIN" "$ITERS" "$TMP/fuzz" >"$TMP/fuzz.out" 2>"$TMP/fuzz.err" &&
    grep -q "fuzz_tasks: $ITERS iterations done" "$TMP/fuzz.out" &&
    ! grep -qE 'ERROR: (Address|Leak)Sanitizer|runtime error' "$TMP/fuzz.err"; then
    echo "PASS fuzz_tasks_${ITERS}_iterations"
else
    echo "FAIL fuzz_tasks: a sanitizer report or a crash (run: FUZZ_ITERS=$ITERS bash $0)"
    grep -vE 'warning: .*malformed' "$TMP/fuzz.err" | head -40 | sed 's/^/     /'
fi
