#!/usr/bin/env bash
# tests/shell/test_eval_sets.sh: real data sets in one evaluation job. eval.sets names GSM8K,
# MATH-500 and SVAMP fixtures (tests/fixtures: a plain clone has them); SVAMP is read through
# a data.fields mapping; the MATH set's summary is broken down by level and subject with the
# counts of the file itself; every summary's correct + wrong + no_answer is its n; 2 ranks
# write the same summaries as 1; bad entries are refused with the key named.
source "$(dirname "$0")/lib.sh"
cd "$(dirname "$0")/../.."
CFG=tests/configs/train_small.cfg
R=$TMP/run
SETS="eval.sets=math=tests/fixtures/math/math500.jsonl,gsm8k=tests/fixtures/gsm8k/test.jsonl,svamp=tests/fixtures/svamp/test.jsonl"
COMMON=(--set model.max_seq=1400 --set eval.splits= --set "$SETS" --set eval.problems=0
        --set eval.max_new_tokens=24 --set "data.fields=question=Body+Question,answer=Answer,id=ID"
        --set data.prompt=cot --set run.threads=1)
"$LEMMA" train "$CFG" --set run.dir="$R" --set train.steps=2 --set model.max_seq=1400 >"$TMP/train.log" 2>&1 ||
    { echo "FAIL eval_sets_train: $(tail -3 "$TMP/train.log")"; exit 0; }
"$LEMMA" eval "$CFG" --set run.dir="$R" "${COMMON[@]}" >"$TMP/eval.log" 2>&1
check eval_sets_table grep -qE "^  math +80 " "$TMP/eval.log"
check eval_sets_rows grep -qE "^  gsm8k +100 " "$TMP/eval.log"
check eval_sets_svamp_row grep -qE "^  svamp +60 " "$TMP/eval.log"
check eval_sets_level_rows grep -qE "^    level 5 " "$TMP/eval.log"
check eval_sets_subject_rows grep -qE "^    Counting & Probability " "$TMP/eval.log"
check eval_sets_counts python3 - "$R/eval" tests/fixtures/math/math500.jsonl <<'PY'
import collections, json, sys
d, src = sys.argv[1], sys.argv[2]
recs = [json.loads(l) for l in open(src)]
want_level = collections.Counter(str(r["level"]) for r in recs)
want_subject = collections.Counter(r["subject"] for r in recs)
m = json.load(open(d + "/math.json"))
got_level = {k: v["n"] for k, v in m["by_level"].items()}
got_subject = {k: v["n"] for k, v in m["by_subject"].items()}
assert got_level == dict(want_level), (got_level, want_level)
assert got_subject == dict(want_subject), (got_subject, want_subject)
for name, n in (("math", 80), ("gsm8k", 100), ("svamp", 60)):
    s = json.load(open("%s/%s.json" % (d, name)))
    assert s["n"] == n and s["correct"] + s["wrong"] + s["no_answer"] == n, (name, s)
    assert name == "math" or "by_level" not in s, name
# the SVAMP questions are Body + " " + Question, through the mapping
first = json.loads(open(d + "/svamp.jsonl").readline())
src0 = json.loads(open("tests/fixtures/svamp/test.jsonl").readline())
assert first["id"] == src0["ID"], first["id"]
PY
cp -r "$R/eval" "$TMP/np1"
"${MPIRUN[@]}" -np 2 "$LEMMA" eval "$CFG" --set run.dir="$R" "${COMMON[@]}" >"$TMP/np2.log" 2>&1
check eval_sets_same_on_2_ranks python3 - "$TMP/np1" "$R/eval" <<'PY'
import json, sys
a, b = sys.argv[1], sys.argv[2]
for name in ("math", "gsm8k", "svamp"):
    x, y = json.load(open("%s/%s.json" % (a, name))), json.load(open("%s/%s.json" % (b, name)))
    for k in ("n", "correct", "wrong", "no_answer", "by_level", "by_subject"):
        assert x.get(k) == y.get(k), (name, k, x.get(k), y.get(k))
PY
expect_fail eval_sets_bad_entry 2 "eval.sets 'math500': want NAME=PATH" "$LEMMA" eval "$CFG" \
    --set run.dir="$R" --set eval.sets=math500
expect_fail eval_sets_missing_file 2 "eval.sets: cannot read 'nope.jsonl'" "$LEMMA" eval "$CFG" \
    --set run.dir="$R" --set eval.sets=x=nope.jsonl
expect_fail eval_sets_name_taken 2 "the name 'a' is taken" "$LEMMA" eval "$CFG" --set run.dir="$R" \
    --set eval.sets=a=tests/fixtures/svamp/test.jsonl,a=tests/fixtures/svamp/test.jsonl
expect_fail eval_sets_bad_fields 2 "data.fields: 'colour=Red' is not FIELD=KEY" "$LEMMA" eval "$CFG" \
    --set run.dir="$R" --set "data.fields=question=Body,colour=Red"
