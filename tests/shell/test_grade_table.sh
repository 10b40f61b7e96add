# tests/shell/test_grade_table.sh: the grader against a table of hand-written cases,
# tests/fixtures/grade_cases.jsonl. The cases were written by hand for this project (issue 21:
# a grader a MATH user trusts), each verdict worked out by hand and none produced by the
# code under test; answers marked "gold from MATH-500" copy a gold answer of that set. One
# JSON object a line: rule (the equivalence or extraction rule it exercises), prediction (an
# answer compared as is) or completion (a model output the answer is extracted from), answer
# (the gold: a string or a number), expect ("right", "wrong" or "no_answer") and an optional
# note (why, where the verdict is a decision). Runs `lemma grade` on all of them and passes
# when every verdict matches (and "correct" agrees with it); else lists every mismatch.
source "$(dirname "$0")/lib.sh"
CASES=tests/fixtures/grade_cases.jsonl

/usr/bin/python3 - prepare "$CASES" "$TMP/in.jsonl" <<'PY' || { echo "FAIL grade_table: cannot read $CASES"; exit 0; }
import json, sys
_, _, cases, out = sys.argv
with open(cases, encoding="utf-8") as f, open(out, "w", encoding="utf-8") as o:
    for i, line in enumerate(f):
        c = json.loads(line)
        rec = {"case": i, "answer": c["answer"]}
        key = "prediction" if "prediction" in c else "completion"
        rec[key] = c[key]
        o.write(json.dumps(rec, ensure_ascii=False) + "\n")
PY

if ! "$LEMMA" grade "$TMP/in.jsonl" --out "$TMP/out.jsonl" >"$TMP/grade.log" 2>&1; then
    echo "FAIL grade_table: '$LEMMA grade' exited non-zero"; tail -5 "$TMP/grade.log" | sed 's/^/     /'; exit 0
fi

/usr/bin/python3 - compare "$CASES" "$TMP/out.jsonl" <<'PY'
import json, sys
from collections import Counter
_, _, cases_path, out_path = sys.argv
cases = [json.loads(l) for l in open(cases_path, encoding="utf-8")]
got = {}
for line in open(out_path, encoding="utf-8"):
    line = line.strip()
    if line:
        r = json.loads(line)
        got[r.get("case")] = r
per_rule = Counter(c["rule"] for c in cases)
print("# %d cases, per rule: %s" % (len(cases), ", ".join("%s %d" % kv for kv in per_rule.items())))
bad = []
for i, c in enumerate(cases):
    r = got.get(i)
    kind = "prediction" if "prediction" in c else "completion"
    if r is None:
        why = "missing from the output"
    else:
        v = r.get("verdict")
        if v != c["expect"]:
            why = "got %s (pred %s)" % (v, json.dumps(r.get("pred"), ensure_ascii=False))
        elif r.get("correct") is not (v == "right"):
            why = "verdict %s but correct = %s" % (v, json.dumps(r.get("correct")))
        else:
            continue
    bad.append("%s | %s %s | gold %s | expected %s | %s" % (
        c["rule"], kind, json.dumps(c[kind], ensure_ascii=False), json.dumps(c["answer"], ensure_ascii=False),
        c["expect"], why))
if bad:
    failed = Counter(b.split(" | ")[0] for b in bad)
    print("FAIL grade_table: %d of %d cases mismatch (%s)" % (len(bad), len(cases),
          ", ".join("%s %d" % kv for kv in failed.items())))
    for b in bad:
        print("     " + b)
else:
    print("PASS grade_table")
PY
