# tests/shell/test_analysis.sh: analysis/report.py and analysis/compare.py on synthetic run
# directories whose numbers the test chooses (accuracy 3/8 = 37.5 %, base 2/8 = 25.0 %, ...):
# the report's tables and figures (valid PNGs), a repeated step (the last line wins), a
# malformed metrics line (skipped with a warning), runs without a base evaluation or without
# any evaluation, missing directories (exit 1 with a message); the comparison table (one row
# per run, the right accuracies and changes), its figure, --labels; and scaling.py, which now
# reads metrics.jsonl through analysis/common.py, on three synthetic checkpoints.
source "$(dirname "$0")/lib.sh"
PY=/usr/bin/python3

if ! "$PY" -c 'import numpy, matplotlib' 2>/dev/null; then
    echo "FAIL analysis_deps: $PY cannot import numpy and matplotlib (make deps installs them)"
    exit 0
fi

is_png() { # FILE: nonempty and starts with the PNG signature
    [[ -s $1 ]] && [[ $(head -c 8 "$1" | od -An -tx1 | tr -d ' \n') == 89504e470d0a1a0a ]]
}
has() { # NAME FILE FIXED-STRING...: every string is in FILE
    local name=$1 file=$2; shift 2
    local s
    for s in "$@"; do
        if ! grep -qF -- "$s" "$file"; then echo "FAIL $name: '$s' not in $file"; sed 's/^/     /' "$file" | head -60; return; fi
    done
    echo "PASS $name"
}

# make RUN_DIR KIND FINAL_CORRECT BASE_CORRECT|- [noeval]: a run with 8 test problems.
cat >"$TMP/mk.py" <<'EOF'
import json, math, os, sys
d, kind, final, base = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
noeval = "noeval" in sys.argv[5:]
os.makedirs(d + "/data", exist_ok=True)
with open(d + "/config.cfg", "w") as f:
    f.write('# written by the test\nrun = {\n  name = "syn-%s";  # a comment\n  dir = "%s";\n  seed = 7;\n};\n'
            'model = { dim = 64; n_layers = 2; special_tokens = [ "[BACK]" ]; };\n'
            'pipeline = { phases = [ "pretrain", "sample", "build", "finetune", "eval" ]; };\n'
            'finetune = { data = "%s"; lr = 1e-05; };\n' % (kind, d, kind))
lines = []
for s in range(1, 31):
    lines.append({"phase": "pretrain", "step": s, "loss": 4.0 * math.exp(-s / 8) + 1.0, "lr": 1e-3,
                  "grad_norm": 1.0, "tokens": 512 * s, "tokens_per_s": 4000.0})
    if s == 4:
        lines.append("{\"phase\": \"pretrain\", \"step\": 5, \"loss\": ")  # malformed: line 5
lines.append({"phase": "pretrain", "step": 30, "loss": 9.8765, "lr": 1e-3, "tokens": 15360})  # resumed run:
lines.append({"phase": "pretrain", "step": 30, "loss": 1.2345, "lr": 1e-3, "tokens": 15360})  # last wins
lines.append({"phase": "sample", "problems": 100, "skipped": 0, "k": 4, "samples": 400, "mean_accuracy": 0.3,
              "pass_at_1": 0.3, "pass_at_k": 0.55, "greedy_pass_at_1": 0.33})
lines.append({"phase": "build", "questions": 100, "samples": 400, "wrong_samples": 275, "located": 250,
              "records": 777, "records_by_kind": {"cot": 100, "lemma_fix": 338, "lemma_restart": 339},
              "error_types": {"calculation_error": 150, "operator_error": 100}})
lines.append({"phase": "future_phase", "whatever": [1, 2]})
for s in range(1, 11):
    lines.append({"phase": "finetune", "step": s, "loss": 0.5 + 0.1 / s, "lr": 1e-5, "tokens": 256 * s,
                  "tokens_per_s": 2000.0})
with open(d + "/metrics.jsonl", "w") as f:
    for r in lines:
        f.write((r if isinstance(r, str) else json.dumps(r)) + "\n")
json.dump({"wrong_samples": 275, "located": 250, "not_located": 25,
           "counts": {"calculation_error": 150, "operator_error": 100}, "fractions": {}}, open(d + "/data/error_types.json", "w"))
json.dump({"questions": 100, "questions_with_wrong": 90, "questions_with_correct": 60, "samples": {"total": 400}},
          open(d + "/data/summary.json", "w"))
if noeval:
    sys.exit(0)
def wilson(k, n, z=1.959963984540054):
    p = k / n; den = 1 + z * z / n; c = (p + z * z / (2 * n)) / den
    h = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / den
    return [max(0.0, c - h), min(1.0, c + h)]
def result(split, model, k, n, types, refl=None):
    r = {"split": split, "model": model, "step": 10, "problems": n, "skipped": 0, "n": n, "correct": k,
         "accuracy": k / n, "ci95": wilson(k, n), "error_types": types, "tokens": 999, "seconds": 1.5}
    if refl:
        r["reflection"] = refl
    return r
os.makedirs(d + "/eval", exist_ok=True)
json.dump(result("test", "final", final, 8, {"calculation_error": 8 - final - 1, "unlocated": 1},
                 {"with_reflection": 3, "with_reflection_rate": 0.375, "right_after_reflection": 2,
                  "right_to_wrong": 1, "wrong_to_right": 2}), open(d + "/eval/test.json", "w"))
json.dump(result("ood", "final", 1, 10, {"missing_step": 9}), open(d + "/eval/ood.json", "w"))
if base != "-":
    os.makedirs(d + "/eval/base", exist_ok=True)
    json.dump(result("test", "base", int(base), 8, {"calculation_error": 8 - int(base) - 2, "operator_error": 2}),
              open(d + "/eval/base/test.json", "w"))
EOF
mk() { "$PY" "$TMP/mk.py" "$@"; }
mk "$TMP/lemma" lemma 3 2          # final 37.5 %, base 25.0 %: +12.5
mk "$TMP/sft" sft 5 1              # final 62.5 %, base 12.5 %: +50.0
mk "$TMP/nobase" rft 4 -           # final 50.0 %, no base evaluation
mk "$TMP/noeval" lemma 0 - noeval  # training only
printf 'this is not libconfig {' >"$TMP/nobase/config.cfg"

# ---- report.py: a full run (the slow runs with figures go in parallel)
"$PY" analysis/report.py "$TMP/lemma" >"$TMP/r1.out" 2>&1 & p1=$!
"$PY" analysis/report.py "$TMP/nobase" --out "$TMP/elsewhere/nb.md" >"$TMP/r2.out" 2>&1 & p2=$!
"$PY" analysis/report.py "$TMP/noeval" >"$TMP/r3.out" 2>&1 & p3=$!
"$PY" analysis/compare.py "$TMP/lemma" "$TMP/sft" "$TMP/nobase/" --out "$TMP/cmp" >"$TMP/c1.out" 2>&1 & p4=$!
"$PY" analysis/compare.py "$TMP/lemma" "$TMP/sft" --labels L,S --last 1 --out "$TMP/cmp2" >"$TMP/c2.out" 2>&1 & p5=$!
wait $p1; rc1=$?; wait $p2; rc2=$?; wait $p3; rc3=$?; wait $p4; rc4=$?; wait $p5; rc5=$?

R=$TMP/lemma/report.md
if ((rc1 == 0)) && [[ -s $R ]] && grep -q "wrote $R" "$TMP/r1.out"; then echo "PASS report_runs"
else echo "FAIL report_runs: status $rc1"; sed 's/^/     /' "$TMP/r1.out" | tail -8; fi
if is_png "$TMP/lemma/report/loss.png" && is_png "$TMP/lemma/report/error_types.png"; then echo "PASS report_pngs"
else echo "FAIL report_pngs: $(ls -l "$TMP/lemma/report" 2>&1)"; fi
has report_links_figures "$R" "](report/loss.png)" "](report/error_types.png)"
has report_config "$R" "# Run report: syn-lemma" "| fine-tuning data | lemma |" "| model.dim | 64 |" \
    "| phases | pretrain, sample, build, finetune, eval |"
has report_accuracy "$R" "| test | 8 | 25.0 (2/8) | [7.1, 59.1] | 37.5 (3/8) | [13.7, 69.4] | +12.5 |" \
    "| ood | 10 | – | – | 10.0 (1/10) | [1.8, 40.4] | – | – |"
# pretrain: step 30 logged twice, 9.8765 then 1.2345; the last wins and the first is gone.
has report_last_step_wins "$R" "| pretrain | 30 | 4.5300 | 1.2345 |" "2 repeated step lines" "| finetune | 10 | 0.6000 | 0.5100 |"
if ! grep -q "9.8765" "$R"; then echo "PASS report_superseded_value_unused"; else echo "FAIL report_superseded_value_unused"; fi
if grep -q "metrics.jsonl:5: malformed line skipped (not valid JSON)" "$TMP/r1.out" &&
   grep -q "metrics.jsonl:5: malformed line skipped" "$R"; then echo "PASS report_malformed_line_warned"
else echo "FAIL report_malformed_line_warned:"; sed 's/^/     /' "$TMP/r1.out" | head -5; fi
has report_error_types "$R" "| error type | test before | test after | ood after | harvested samples |" \
    "| calculation_error | 4 | 4 | 0 | 150 |" "| operator_error | 2 | 0 | 0 | 100 |" "| missing_step | 0 | 0 | 9 | 0 |" \
    "| unlocated | 0 | 1 | 0 | 25 |" "| wrong (sum) | 6 | 5 | 9 | 275 |"
has report_reflection "$R" "| test | after (final) | 8 | 3 | 37.5 | 2 | 2 | 1 |"
has report_sampling_build "$R" "100 problems, k = 4, 400 samples: mean accuracy 30.0 %, pass@1 30.0 %, pass@4 55.0 %, greedy pass@1 33.0 %" \
    "100 questions, 400 samples, 275 wrong, 250 located, 777 training records (cot 100, lemma_fix 338, lemma_restart 339)" "90 questions with a wrong sample"

# ---- report.py: no base evaluation, an unparseable config, --out elsewhere; no evaluation at all
NB=$TMP/elsewhere/nb.md
if ((rc2 == 0)) && is_png "$TMP/elsewhere/nb/loss.png" && grep -qF "](nb/loss.png)" "$NB"; then echo "PASS report_out_option"
else echo "FAIL report_out_option: status $rc2"; sed 's/^/     /' "$TMP/r2.out" | tail -5; fi
has report_after_only "$NB" "| split | n | after (final) % | 95 % CI |" "| test | 8 | 50.0 (4/8) | [21.5, 78.5] |" \
    "no base-model evaluation" "No readable config.cfg." "config.cfg: cannot parse"
if ! grep -q "before (base)" "$NB"; then echo "PASS report_after_only_no_before_column"
else echo "FAIL report_after_only_no_before_column"; fi
if ((rc3 == 0)); then has report_no_eval "$TMP/noeval/report.md" "No evaluation results" "| pretrain | 30 |" "No self-correction"
else echo "FAIL report_no_eval: status $rc3"; sed 's/^/     /' "$TMP/r3.out" | tail -5; fi

expect_fail report_missing_dir 1 "report.py: $TMP/nope: not a directory" "$PY" analysis/report.py "$TMP/nope"
mkdir -p "$TMP/empty"
expect_fail report_no_metrics 1 "report.py: $TMP/empty: no metrics.jsonl" "$PY" analysis/report.py "$TMP/empty"
expect_fail report_usage 2 "usage: report.py" "$PY" analysis/report.py

# ---- compare.py
C=$TMP/cmp/compare.md
if ((rc4 == 0)) && [[ -s $C ]] && is_png "$TMP/cmp/compare_accuracy.png"; then echo "PASS compare_runs"
else echo "FAIL compare_runs: status $rc4"; sed 's/^/     /' "$TMP/c1.out" | tail -8; fi
n=$(grep -c '^| \(lemma\|sft\|nobase\) |' "$C")
if [[ $n == 3 ]]; then echo "PASS compare_one_row_per_run"; else echo "FAIL compare_one_row_per_run: $n rows"; cat "$C"; fi
has compare_header "$C" "| run | finetune.data | loss pretrain | loss finetune | test % [95 % CI] | Δ test | ood % [95 % CI] | Δ ood |"
has compare_accuracies "$C" "| lemma | lemma | " "37.5 [13.7, 69.4] | +12.5 | 10.0 [1.8, 40.4] | – |" \
    "| sft | sft | " "62.5 [30.6, 86.3] | +50.0 |" "| nobase | ? | " "50.0 [21.5, 78.5] | – |"
if grep -qF "| test % [95 % CI]" "$TMP/c1.out"; then echo "PASS compare_prints_table"; else echo "FAIL compare_prints_table"; fi
# --last 1: the final loss is step 30's last line; --labels names the rows.
has compare_labels_last "$TMP/cmp2/compare.md" "| L | lemma | 1.2345 | 0.5100 | 37.5" "| S | sft | 1.2345 | 0.5100 | 62.5"
((rc5 == 0)) || echo "FAIL compare_labels_status: $rc5"
expect_fail compare_missing_dir 1 "compare.py: $TMP/nope: not a directory" \
    "$PY" analysis/compare.py "$TMP/lemma" "$TMP/nope" --out "$TMP/cmp3"
expect_fail compare_no_results 1 "compare.py: $TMP/empty: no results" \
    "$PY" analysis/compare.py "$TMP/empty" --out "$TMP/cmp3"
expect_fail compare_labels_count 2 "--labels has 1 names for 2 run directories" \
    "$PY" analysis/compare.py "$TMP/lemma" "$TMP/sft" --labels x

# ---- scaling.py (reads metrics.jsonl through common.py): three sizes, a malformed line
if "$PY" -c 'import h5py' 2>/dev/null; then
    "$PY" - "$TMP/sweep" <<'EOF'
import json, os, sys
import h5py, numpy as np
for i, (d, loss) in enumerate([(16, 3.0), (32, 2.5), (64, 2.2)]):
    r = "%s/s%d" % (sys.argv[1], i)
    os.makedirs(r + "/ckpt")
    with h5py.File(r + "/ckpt/step_00000010.h5", "w") as f:
        f.create_dataset("model/params/tok_emb", data=np.zeros((50, d), np.float32))
        f.create_dataset("model/params/w", data=np.zeros((d, 4 * d), np.float32))
    with open(r + "/metrics.jsonl", "w") as f:
        for s in range(1, 11):
            f.write(json.dumps({"phase": "train", "step": s, "loss": loss + (1.0 if s < 10 else 0.0)}) + "\n")
        f.write("not json\n")
EOF
    expect_out scaling_reads_metrics "^s0 +1824 +1024 +3\.0000 +10" \
        "$PY" analysis/scaling.py "$TMP"/sweep/s0 "$TMP"/sweep/s1 "$TMP"/sweep/s2 --last 1 --out "$TMP/scaling"
fi
