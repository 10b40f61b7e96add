# tests/shell/test_build.sh: 'lemma build' on small synthetic sample files (built-in problems
# with right, wrong, nonsense, empty and duplicate "student" completions; GSM8K problems with
# a wrong annotation): the records and files DESIGN.md names, every record graded right by
# 'lemma grade', the same output on 1 and 2 ranks, truncation off, records that 'lemma train'
# reads, the model teacher end to end on a barely trained model (its outputs dropped and
# counted), and bad input (exit 2, messages with file:line).
source "$(dirname "$0")/lib.sh"
CFG=tests/configs/train_small.cfg
export OMP_NUM_THREADS=1
ALL=cot,rft,lemma_fix,lemma_restart,lema_correction,retry

# Samples of the first N built-in train problems: 4 per problem.
"$LEMMA" gen "$CFG" --split train --count 30 --out "$TMP/probs.jsonl" >/dev/null
python3 - "$TMP/probs.jsonl" "$TMP/samples.jsonl" <<'PY'
import json, re, sys
out = open(sys.argv[2], "w")
for i, line in enumerate(open(sys.argv[1])):
    p = json.loads(line)
    lines, gold = p["solution"].split("\n"), int(p["answer"])
    k = i % (len(lines) - 1)
    wrong = list(lines)
    wrong[k] = re.sub(r"= (\d+)", lambda m: "= %d" % (int(m.group(1)) + 1), wrong[k])
    wrong[-1] = "The answer is: %d" % (gold + 1)
    odd = ["\n".join(wrong), "I do not know.", ""][i % 3]
    comps = [p["solution"], "\n".join(wrong), "\n".join(lines[:-1] + ["The answer is: %d" % (gold + 7)]), odd]
    for s, c in enumerate(comps):
        ok = c == p["solution"]
        if i == 4 and s == 2: ok = True  # a wrong 'correct' flag: regraded
        out.write(json.dumps({"id": p["id"], "problem": i, "sample": s, "completion": c, "correct": ok}) + "\n")
PY

build() { # NP DIR [--set ...]: build from $TMP/samples.jsonl into DIR
    local np=$1 dir=$2; shift 2
    "${MPIRUN[@]}" -np "$np" "$LEMMA" build "$CFG" --set run.dir="$dir" --set build.samples="$TMP/samples.jsonl" \
        --set build.formats=$ALL "$@" >"$dir.log" 2>&1
}
grade_all() { # NAME FILE: every record's response graded right against its answer
    python3 -c '
import json, sys
for l in open(sys.argv[1]):
    r = json.loads(l); print(json.dumps({"completion": r["response"], "answer": r["answer"]}))' "$2" >"$TMP/grade_in.jsonl"
    local out; out=$("$LEMMA" grade "$TMP/grade_in.jsonl" 2>&1 >/dev/null)
    if grep -qE "accuracy 1\.0000 \(([0-9]+) of \1 correct\)" <<<"$out"; then echo "PASS $1"
    else echo "FAIL $1: $out"; fi
}

mkdir -p "$TMP/np1" "$TMP/np2"
build 1 "$TMP/np1"
python3 - "$TMP/np1" <<'PY'
import json, sys, collections
d = sys.argv[1] + "/data/"
recs = [json.loads(l) for l in open(d + "train.jsonl", encoding="utf-8")]
alp = json.load(open(d + "train_alpaca.json", encoding="utf-8"))
summ, et = json.load(open(d + "summary.json")), json.load(open(d + "error_types.json"))
kinds = collections.Counter(r["kind"] for r in recs)
need = {"id", "kind", "prompt", "response", "answer"}
refl = [r for r in recs if r["kind"] not in ("cot", "rft")]
ok = (all(need <= set(r) for r in recs) and set(kinds) == {"cot", "lemma_fix", "lemma_restart", "lema_correction", "retry"}
      and all({"error_type", "source", "error_step"} <= set(r) for r in refl)
      and all(r["prompt"].startswith("Question: ") for r in recs)
      and len(alp) == len(recs) and all(set(a) == {"instruction", "input", "output"} for a in alp)
      and [a["output"] for a in alp] == [r["response"] for r in recs]
      and all(r["response"].count("[BACK]") == 1 for r in recs if r["kind"] == "retry")
      and len({(r["prompt"], r["response"]) for r in recs}) == len(recs)
      and kinds["cot"] == 30 and summ["questions"] == 30 and summ["samples"]["total"] == 120
      and summ["samples"]["regraded"] == 1 and summ["filtered"]["duplicate"]["rft"] == 30
      and sum(et["counts"].values()) == et["located"] == summ["samples"]["located"]
      and et["counts"]["calculation_error"] >= 20 and et["counts"]["nonsense_output"] == 10
      and summ["records"]["total"] == len(recs))
print("PASS build_records" if ok else "FAIL build_records: kinds %s, %d alpaca, summary %s" % (dict(kinds), len(alp), summ))
PY
if grep -q '"phase":"build"' "$TMP/np1/metrics.jsonl" && grep -q "build: wrote .*lemma_fix" "$TMP/np1.log" \
    && [[ ! -d $TMP/np1/data/parts ]]; then echo "PASS build_report"; else echo "FAIL build_report: $(tail -3 "$TMP/np1.log")"; fi
grade_all build_records_end_in_gold "$TMP/np1/data/train.jsonl"

build 2 "$TMP/np2"
same=1
for f in train.jsonl train_alpaca.json summary.json error_types.json; do cmp -s "$TMP/np1/data/$f" "$TMP/np2/data/$f" || same=0; done
if ((same)); then echo "PASS build_same_on_1_and_2_ranks"; else echo "FAIL build_same_on_1_and_2_ranks: $(tail -2 "$TMP/np2.log")"; fi

# Truncation off: the whole wrong solution stays before the reflection.
mkdir -p "$TMP/notrunc"
build 1 "$TMP/notrunc" --set build.truncate=false --set build.formats=lemma_fix --set build.teacher_errors=0
python3 - "$TMP/notrunc" "$TMP/samples.jsonl" <<'PY'
import json, sys
recs = [json.loads(l) for l in open(sys.argv[1] + "/data/train.jsonl")]
wrong = {json.loads(l)["completion"] for l in open(sys.argv[2])}
ok = recs and all(r["kind"] == "lemma_fix" and r["source"] == "student" for r in recs) \
     and all(any(r["response"].startswith(w + "\n") for w in wrong if w) for r in recs)
print("PASS build_no_truncation" if ok else "FAIL build_no_truncation: %d records" % len(recs))
PY

# The records train: 'lemma train' reads them.
expect_out build_records_train "records|steps|loss" "$LEMMA" train "$CFG" --set run.dir="$TMP/train" \
    --set train.data="$TMP/np1/data/train.jsonl" --set train.steps=1 --set ckpt.every=0

# GSM8K problems (data.train): wrong samples with a changed annotation; teacher errors go
# through the annotations (calculation and operator errors only).
head -n 12 tests/fixtures/gsm8k/train.jsonl >"$TMP/gsm.jsonl" # GSM8K's first 12 train records
python3 - "$TMP/gsm.jsonl" "$TMP/gsm_samples.jsonl" <<'PY'
import json, re, sys
out = open(sys.argv[2], "w")
for i, line in enumerate(open(sys.argv[1])):
    p = json.loads(line)
    sol, gold = p["answer"].split("####")[0].strip(), p["answer"].split("####")[1].strip()
    wrong = re.sub(r"=([0-9.]+)>>", lambda m: "=%s>>" % (float(m.group(1)) + 3), sol, count=1)
    for s, c in enumerate([sol + "\nThe answer is: " + gold, wrong + "\nThe answer is: 1"]):
        out.write(json.dumps({"id": "gsm.jsonl:%d" % (i + 1), "sample": s, "completion": c, "correct": s == 0}) + "\n")
PY
mkdir -p "$TMP/gsm"
"$LEMMA" build "$CFG" --set run.dir="$TMP/gsm" --set data.train="$TMP/gsm.jsonl" --set build.samples="$TMP/gsm_samples.jsonl" \
    --set build.error_source=list --set build.error_types=calculation_error,operator_error --set build.formats=$ALL >"$TMP/gsm.log" 2>&1
if python3 -c '
import json, sys
s = json.load(open(sys.argv[1]))
ok = s["questions"] == 12 and s["errors"]["measured"]["calculation_error"] >= 10 and sum(s["errors"]["teacher_injected"].values()) >= 20
sys.exit(0 if ok else 1)' "$TMP/gsm/data/summary.json" 2>/dev/null; then echo "PASS build_gsm8k"
else echo "FAIL build_gsm8k: $(tail -4 "$TMP/gsm.log")"; fi
grade_all build_gsm8k_end_in_gold "$TMP/gsm/data/train.jsonl"

# The model teacher: a model trained for 2 steps writes garbage; every output is dropped
# and counted, the run still ends with the records that need no teacher.
"$LEMMA" train "$CFG" --set run.dir="$TMP/teach" --set train.steps=2 --set ckpt.every=0 >"$TMP/teach_train.log" 2>&1
head -n 24 "$TMP/samples.jsonl" >"$TMP/few.jsonl"
MT=(--set teacher.kind=model --set teacher.max_new_tokens=16 --set model.max_seq=1200 --set build.samples="$TMP/few.jsonl")
"$LEMMA" build "$CFG" --set run.dir="$TMP/teach" "${MT[@]}" >"$TMP/teach.log" 2>&1; rc=$?
if ((rc == 0)) && python3 -c '
import json, sys
s = json.load(open(sys.argv[1]))
t = s["teacher"]
ok = t["unparsed"] + t["not_wrong"] + t["wrong_answer"] > 0 and s["records"]["written"]["cot"] == 6 and s["samples"]["located"] == 0
sys.exit(0 if ok else 1)' "$TMP/teach/data/summary.json"; then echo "PASS build_model_teacher"
else echo "FAIL build_model_teacher: rc=$rc $(tail -4 "$TMP/teach.log")"; fi
expect_fail build_model_teacher_no_ckpt 2 "no checkpoint in .*empty/ckpt" \
    "$LEMMA" build "$CFG" --set run.dir="$TMP/empty" "${MT[@]}"
expect_fail build_model_teacher_prompts 2 "cannot read the teacher prompt template '$TMP/none/locate.txt'" \
    "$LEMMA" build "$CFG" --set run.dir="$TMP/teach" "${MT[@]}" --set teacher.prompts="$TMP/none"

# Bad input.
expect_fail build_missing_samples 2 "cannot read '$TMP/nope/samples.jsonl'" "$LEMMA" build "$CFG" --set run.dir="$TMP/nope"
{ head -n 8 "$TMP/samples.jsonl"; echo '{"id": "train-1", "completion": 5}'; echo 'not json'
  echo '{"id": "train-zz", "completion": "x"}'; } >"$TMP/bad.jsonl"
expect_fail build_malformed_lines 2 "bad.jsonl:9: malformed line skipped \(no 'completion' string\)" \
    "$LEMMA" build "$CFG" --set run.dir="$TMP/bad" --set build.samples="$TMP/bad.jsonl"
expect_fail build_unknown_id 2 "bad.jsonl:11: malformed line skipped \(unknown problem id 'train-zz'\)" \
    "$LEMMA" build "$CFG" --set run.dir="$TMP/bad" --set build.samples="$TMP/bad.jsonl"
expect_fail build_too_many_bad 2 "bad.jsonl: 3 of 11 lines are malformed" \
    "$LEMMA" build "$CFG" --set run.dir="$TMP/bad" --set build.samples="$TMP/bad.jsonl"
: >"$TMP/empty.jsonl"
expect_fail build_no_samples 2 "empty.jsonl: no sample records" \
    "$LEMMA" build "$CFG" --set run.dir="$TMP/bad" --set build.samples="$TMP/empty.jsonl"
expect_fail build_phrases_missing 2 "cannot read reflection phrases '$TMP/p.txt'" \
    "$LEMMA" build "$CFG" --set run.dir="$TMP/np1" --set build.phrases="$TMP/p.txt"
expect_fail build_back_token 2 "build.back_token '\[UNDO\]' is not one of model.special_tokens" \
    "$LEMMA" build "$CFG" --set run.dir="$TMP/np1" --set build.formats=retry --set build.back_token=[UNDO]
expect_fail build_not_injectable 2 "the symbolic teacher cannot inject confusing_concept_error" \
    "$LEMMA" build "$CFG" --set run.dir="$TMP/np1" --set build.error_types=confusing_concept_error
expect_fail build_unknown_format 2 "build.formats" "$LEMMA" build "$CFG" --set build.formats=sft
expect_fail build_unknown_option 2 "lemma build: unknown option '--frob'" "$LEMMA" build "$CFG" --frob
