# tests/shell/lib.sh: helpers for shell-level tests. check NAME CMD... runs CMD and prints
# PASS/FAIL; expect_fail NAME CODE PATTERN CMD... wants exit status CODE and PATTERN in
# the output. $LEMMA is the binary under test, $TMP a scratch directory removed at exit.
set -u
TMP=$(mktemp -d); trap 'rm -rf "$TMP"' EXIT
LEMMA=${LEMMA:-build/lemma}
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
MPIRUN=(mpirun --oversubscribe -x OMP_NUM_THREADS=1)

check() { # NAME CMD...
    local name=$1; shift
    if out=$("$@" 2>&1); then echo "PASS $name"; else echo "FAIL $name: '$*' exited $?"; echo "$out" | tail -5 | sed 's/^/     /'; fi
}
expect_out() { # NAME PATTERN CMD...: exit 0 and PATTERN (grep -E) in output
    local name=$1 pat=$2; shift 2
    local out rc
    out=$("$@" 2>&1); rc=$?
    if ((rc == 0)) && grep -qE -- "$pat" <<<"$out"; then echo "PASS $name"
    else echo "FAIL $name: status $rc, wanted /$pat/ in:"; echo "$out" | tail -8 | sed 's/^/     /'; fi
}
expect_fail() { # NAME CODE PATTERN CMD...: exit CODE and PATTERN in output
    local name=$1 code=$2 pat=$3; shift 3
    local out rc
    out=$("$@" 2>&1); rc=$?
    if ((rc == code)) && grep -qE -- "$pat" <<<"$out"; then echo "PASS $name"
    else echo "FAIL $name: status $rc (wanted $code), wanted /$pat/ in:"; echo "$out" | tail -8 | sed 's/^/     /'; fi
}
compare() { # NAME A B REL [FROM_STEP]: run dirs A and B: the losses in metrics.jsonl of steps
             # >= FROM_STEP agree within REL (relative)
    python3 - "$@" <<'PY'
import json, sys
name, a, b, rel = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4])
first = int(sys.argv[5]) if len(sys.argv) > 5 else 1
def load(d):
    out = {}
    for l in open(d + "/metrics.jsonl"):
        r = json.loads(l); out[r["step"]] = r["loss"]
    return out
la, lb = load(a), load(b)
steps = [s for s in sorted(la) if s >= first]
bad = [(s, la[s], lb.get(s)) for s in steps if s not in lb or abs(la[s] - lb[s]) > rel * abs(la[s])]
if not steps or bad:
    print("FAIL %s: %d steps compared, mismatches (step, a, b): %s" % (name, len(steps), bad[:3]))
else:
    worst = max(abs(la[s] - lb[s]) / abs(la[s]) for s in steps)
    print("PASS %s" % name); print("# %s: %d steps, worst relative difference %.3g" % (name, len(steps), worst))
PY
}
