# tests/shell/test_eval.sh: 'lemma eval': a small model trained a few steps, evaluated on
# the built-in test and ood splits and a JSONL set (one prompt too long) on 1 and 2 ranks:
# every file is there and well formed, the figures agree with the records (checked in
# Python), the results do not depend on the number of ranks; a missing checkpoint, a bad
# eval.data path, a malformed eval.data file and an unknown option fail with a clear message.
source "$(dirname "$0")/lib.sh"
CFG=tests/configs/train_small.cfg
export OMP_NUM_THREADS=1
SET=(--set run.threads=1 --set eval.problems=12 --set eval.max_new_tokens=64 --set eval.batch=5
     --set sample.prefill_tokens=64 --set sample.log_every=0 --set eval.data="$TMP/mine.jsonl")

"$LEMMA" train "$CFG" --set run.dir="$TMP/run" --set train.steps=150 --set train.lr=1e-2 \
    >"$TMP/train.log" 2>&1 || { echo "FAIL eval_train: $(tail -3 "$TMP/train.log")"; exit 0; }

# Our format, GSM8K's and a prompt longer than model.max_seq = 320 tokens.
long=$(printf 'How many? %.0s' $(seq 40))
{ echo '{"id": "m-1", "question": "Ann has 3 apples. She buys 4 more. How many apples does she have?", "answer": "7", "solution": "Ann has 3 + 4 = 7 apples.\nThe answer is: 7"}'
  echo '{"question": "Bob has 10 pears and eats 2 of them. How many pears are left?", "answer": "Bob has 10 - 2 = <<10-2=8>>8 pears left.\n#### 8"}'
  echo "{\"id\": \"m-long\", \"question\": \"$long\", \"answer\": \"1\"}"
  echo '{"id": "m-4", "question": "Cara has 6 boxes of 5 pens. How many pens does she have?", "answer": "30"}'; } >"$TMP/mine.jsonl"

evaluate() { # NP OUT_RUN_DIR [args...]
    local np=$1 dir=$2; shift 2
    "${MPIRUN[@]}" -np "$np" "$LEMMA" eval "$CFG" --set run.dir="$dir" --from "$TMP/run" "${SET[@]}" "$@" >"$dir.log" 2>&1
}
evaluate 1 "$TMP/e1" --label ckpt150; rc1=$?
evaluate 2 "$TMP/e2" --label ckpt150; rc2=$?
if ((rc1 == 0 && rc2 == 0)); then echo "PASS eval_runs"; else echo "FAIL eval_runs: status $rc1, $rc2"; tail -4 "$TMP/e2.log" | sed 's/^/     /'; fi

python3 - "$TMP/e1" "$TMP/e2" <<'PY'
import json, math, os, sys
fails = []
def check(name, ok, why=""):
    print("PASS " + name if ok else "FAIL %s: %s" % (name, why))

want = {"test": 12, "ood": 12, "mine": 4}
for d in sys.argv[1:3]:
    bad = []
    for split, problems in want.items():
        try:
            recs = [json.loads(l) for l in open("%s/eval/%s.jsonl" % (d, split), encoding="utf-8")]
            s = json.load(open("%s/eval/%s.json" % (d, split)))
        except Exception as e:
            bad.append("%s: %s" % (split, e)); continue
        n, c = s["n"], s["correct"]
        lo, hi = s["ci95"]
        acc = c / n if n else 0.0
        types = s["error_types"]; r = s["reflection"]
        with_r = [x for x in recs if x["reflection"]]
        wrong = [x for x in recs if not x["correct"]]
        checks = [
            (s["split"] == split and s["model"] == "ckpt150" and s["step"] == 150, "split/model/step"),
            (s["problems"] == problems and n + s["skipped"] == problems, "n + skipped == problems"),
            (len(recs) == n and 0 <= c <= n and c == sum(x["correct"] for x in recs), "records vs n, correct"),
            (abs(s["accuracy"] - acc) < 1e-12, "accuracy == correct / n"),
            (0 <= lo <= acc <= hi <= 1, "CI [%s, %s] contains %s" % (lo, hi, acc)),
            ([x["problem"] for x in recs] == sorted(x["problem"] for x in recs), "records in problem order"),
            (sum(types.values()) == n - c and len(types) == 14, "error types sum to the wrong ones"),
            (all(types.get(x["error_type"], 0) > 0 for x in wrong if "error_type" in x)
             and types["unlocated"] == sum("error_type" not in x for x in wrong), "error types vs records"),
            (r["with_reflection"] == len(with_r) and r["right_after_reflection"] == sum(x["correct"] for x in with_r)
             and r["right_to_wrong"] + r["wrong_to_right"] <= len(with_r), "reflection counts"),
            (s["tokens"] == sum(x["tokens"] for x in recs) and all(set(x) >= {"id", "completion", "pred", "correct", "reflection"} for x in recs),
             "tokens and record fields"),
            (not [f for f in os.listdir(d + "/eval") if f.startswith(".")], "part files removed"),
        ]
        bad += ["%s: %s" % (split, why) for ok, why in checks if not ok]
    if "mine" in want and not bad:
        s = json.load(open(d + "/eval/mine.json"))
        if s["skipped"] != 1: bad.append("mine: the long prompt is not counted as skipped")
    m = [json.loads(l) for l in open(d + "/metrics.jsonl")]
    m = [x for x in m if x.get("phase") == "eval"]
    if sorted(x["split"] for x in m) != sorted(want) or not all(x["model"] == "ckpt150" and x["step"] == 150 and x["ci95_lo"] <= x["accuracy"] <= x["ci95_hi"] for x in m):
        bad.append("metrics lines: %s" % m)
    check("eval_files_%s" % os.path.basename(d), not bad, "; ".join(bad[:4]))

same = []
for split in want:
    a = open("%s/eval/%s.jsonl" % (sys.argv[1], split), "rb").read()
    b = open("%s/eval/%s.jsonl" % (sys.argv[2], split), "rb").read()
    sa = json.load(open("%s/eval/%s.json" % (sys.argv[1], split))); sa.pop("seconds")
    sb = json.load(open("%s/eval/%s.json" % (sys.argv[2], split))); sb.pop("seconds")
    if a != b or sa != sb: same.append(split)
check("eval_same_np1_np2", not same, "differ: %s" % same)
texts = [json.loads(l)["completion"] for l in open(sys.argv[1] + "/eval/test.jsonl")]
check("eval_nontrivial_outputs", len(set(texts)) > 1, "every completion the same: %r" % texts[:1])
PY

if grep -qE "^  test +12 +[0-9.]+  \[[0-9.]+, [0-9.]+\]" "$TMP/e1.log" && grep -qE "^  mine +3 " "$TMP/e1.log" \
    && grep -q "problems 12/12" "$TMP/e1.log" && grep -q "skipping problem 'm-long'" "$TMP/e1.log"; then
    echo "PASS eval_table"; else echo "FAIL eval_table:"; tail -6 "$TMP/e1.log" | sed 's/^/     /'; fi

expect_fail eval_no_checkpoint 1 "lemma eval: no checkpoint in $TMP/none/ckpt" \
    "$LEMMA" eval "$CFG" --set run.dir="$TMP/none"
expect_fail eval_bad_data 2 "lemma eval: .*eval.data: cannot read '$TMP/nope.jsonl'" \
    "$LEMMA" eval "$CFG" --set run.dir="$TMP/run" --set eval.data="$TMP/nope.jsonl"
printf 'not json\n{"question": 3}\n' >"$TMP/junk.jsonl"
expect_fail eval_malformed_data 2 "lemma eval: split 'junk': .*junk.jsonl" \
    "${MPIRUN[@]}" -np 2 "$LEMMA" eval "$CFG" --set run.dir="$TMP/run" --set eval.data="$TMP/junk.jsonl"
expect_fail eval_unknown_option 2 "lemma eval: unknown option '--frob'" "$LEMMA" eval "$CFG" --frob
expect_fail eval_from_needs_value 2 "lemma eval: option '--from' needs a value" "$LEMMA" eval "$CFG" --from
