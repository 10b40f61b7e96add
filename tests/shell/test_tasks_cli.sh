# tests/shell/test_tasks_cli.sh: the gen, grade and verify commands: output files, the
# same problems from any --start and any number of ranks, --stats, and user errors (bad
# options, bad knobs, a missing file, a malformed line reported with file:line, too many
# malformed lines) that exit 2 with a clear message.
source "$(dirname "$0")/lib.sh"
# the generator's default knobs (the checks below name them), not those of a demo config
CFG=$TMP/defaults.cfg
printf 'run = {\n  name = "gen-test";\n  seed = 1234;\n};\n' >"$CFG"

# ---- gen
check gen_train "$LEMMA" gen $CFG --split train --count 40 --out "$TMP/train.jsonl"
n=$(grep -c '"graph":{"quantities":\[' "$TMP/train.jsonl")
if [[ $n == 40 ]] && grep -q '"id":"train-39"' "$TMP/train.jsonl"; then echo "PASS gen_writes_records"
else echo "FAIL gen_writes_records: $n records with a graph"; fi

"$LEMMA" gen $CFG --split test --count 20 --out "$TMP/a.jsonl" >/dev/null
"$LEMMA" gen $CFG --split test --count 10 --start 10 --out "$TMP/b.jsonl" >/dev/null
if cmp -s <(tail -n 10 "$TMP/a.jsonl") "$TMP/b.jsonl"; then echo "PASS gen_start_same_problems"
else echo "FAIL gen_start_same_problems: --start 10 gave other problems"; fi
"$LEMMA" gen $CFG --split test --count 20 --out "$TMP/c.jsonl" --set run.seed=99 >/dev/null
if ! cmp -s "$TMP/a.jsonl" "$TMP/c.jsonl"; then echo "PASS gen_seed_changes_problems"
else echo "FAIL gen_seed_changes_problems"; fi
"${MPIRUN[@]}" -np 2 "$LEMMA" gen $CFG --split train --count 40 --out "$TMP/mpi.jsonl" >/dev/null 2>&1
if cmp -s "$TMP/train.jsonl" "$TMP/mpi.jsonl"; then echo "PASS gen_two_ranks_same_file"
else echo "FAIL gen_two_ranks_same_file"; fi
expect_out gen_stdout '"split":"ood","ops":[56]' "$LEMMA" gen $CFG --split ood --count 2 --out -

expect_out gen_stats 'operations +1: [0-9]+ .*4: [0-9]+' "$LEMMA" gen $CFG --stats --count 200
expect_out gen_stats_tokens 'question +tokens min [0-9]+ +mean' "$LEMMA" gen $CFG --stats --count 50
expect_out gen_stats_ood 'operations +5: [0-9]+ .*6: [0-9]+' "$LEMMA" gen $CFG --stats --split ood --count 100
expect_out gen_help 'usage: lemma gen CONFIG --split' "$LEMMA" gen $CFG --help

expect_fail gen_bad_split 2 "lemma gen: --split must be train, test or ood, got 'dev'" \
    "$LEMMA" gen $CFG --split dev --count 1 --out -
expect_fail gen_no_count 2 "lemma gen: --count N is required" "$LEMMA" gen $CFG --out "$TMP/x.jsonl"
expect_fail gen_no_out 2 "lemma gen: --out FILE is required" "$LEMMA" gen $CFG --count 3
expect_fail gen_bad_count 2 "lemma gen: --count expects an integer in \[0, [0-9]+\], got 'abc'" \
    "$LEMMA" gen $CFG --count abc --out -
expect_fail gen_negative_start 2 "--start expects an integer" "$LEMMA" gen $CFG --count 1 --start -1 --out -
expect_fail gen_missing_value 2 "lemma gen: --out needs a value" "$LEMMA" gen $CFG --count 1 --out
expect_fail gen_unknown_option 2 "lemma gen: unknown option '--x'" "$LEMMA" gen $CFG --x
expect_fail gen_ood_ops_knob 2 "tasks.ood_min_ops = 3 must be larger than tasks.max_ops = 4" \
    "$LEMMA" gen $CFG --count 1 --out - --set tasks.ood_min_ops=3
expect_fail gen_ood_operand_knob 2 "tasks.ood_max_operand = 50 must be larger than tasks.max_operand = 100" \
    "$LEMMA" gen $CFG --count 1 --out - --set tasks.ood_max_operand=50
expect_fail gen_unwritable 2 "lemma gen: cannot write '/nonexistent/x.jsonl'" \
    "$LEMMA" gen $CFG --count 1 --out /nonexistent/x.jsonl

# ---- grade
cat >"$TMP/comp.jsonl" <<'EOF'
{"id": "a", "completion": "Bob has 3 * 24 = 72.\nThe answer is: 72", "answer": "72"}
{"id": "b", "completion": "so the result is \\boxed{\\frac{1}{2}}", "answer": "0.5"}
{"id": "c", "completion": "The answer is: -3", "answer": 3}
{"id": "d", "completion": "They have 1000 in all.", "answer": "Natalia sold 10 * 100 = <<10*100=1000>>1000.\n#### 1,000"}
EOF
expect_out grade_accuracy 'accuracy 0.7500 \(3 of 4 correct\)' "$LEMMA" grade "$TMP/comp.jsonl" --out "$TMP/graded.jsonl"
if grep -q '"id":"a".*"pred":"72","correct":true' "$TMP/graded.jsonl" &&
   grep -q '"id":"c".*"pred":"-3","correct":false' "$TMP/graded.jsonl"; then echo "PASS grade_writes_pred_correct"
else echo "FAIL grade_writes_pred_correct: $(head -3 "$TMP/graded.jsonl")"; fi
n=$("$LEMMA" grade "$TMP/comp.jsonl" 2>/dev/null | grep -c '"correct":')
if [[ $n == 4 ]]; then echo "PASS grade_to_stdout"; else echo "FAIL grade_to_stdout: $n lines"; fi

expect_fail grade_missing_file 2 "lemma grade: cannot read '$TMP/nope.jsonl': No such file" "$LEMMA" grade "$TMP/nope.jsonl"
expect_fail grade_directory 2 "lemma grade: cannot read '$TMP': Is a directory" "$LEMMA" grade "$TMP"
expect_fail grade_unknown_option 2 "lemma grade: unknown option '--frob'" "$LEMMA" grade "$TMP/comp.jsonl" --frob
{ cat "$TMP/comp.jsonl"; echo '{"id": "e", "answer": "1"}'; } >"$TMP/bad1.jsonl"
expect_out grade_bad_line_reported 'bad1.jsonl:5: malformed line skipped \(no string .completion. or .prediction.\)' \
    "$LEMMA" grade "$TMP/bad1.jsonl" --out "$TMP/g2.jsonl" --set data.max_bad_frac=0.5
{ cat "$TMP/comp.jsonl"; echo '{"id": "e", "completion": "1", "answer": "1"'; } >"$TMP/bad2.jsonl"
expect_fail grade_too_many_bad_lines 2 "bad2.jsonl: 1 of 5 lines are malformed \(20.0%\), more than data.max_bad_frac = 0.01" \
    "$LEMMA" grade "$TMP/bad2.jsonl" --out "$TMP/g3.jsonl"
expect_out grade_bad_json_line 'bad2.jsonl:5: malformed JSONL line skipped \(not valid JSON\)' \
    "$LEMMA" grade "$TMP/bad2.jsonl" --out "$TMP/g3.jsonl" --set data.max_bad_frac=0.25

# ---- verify
expect_out verify_generated 'lemma verify: 40 solutions: 0 with a wrong step, 40 all ok' \
    "$LEMMA" verify "$TMP/train.jsonl" --out "$TMP/v.jsonl"
cat >"$TMP/sol.jsonl" <<'EOF'
{"id": "w", "solution": "Bob has 3 * 12 = 36 marbles.\nCara has 36 - 7 = 28 marbles.\nThe answer is: 28"}
{"id": "r", "completion": "2 + 2 = 4\nThe answer is: 4"}
{"id": "m", "problem": "Convert $4210_5$.", "solution": "We have $4\\cdot 5^3+2\\cdot 5^2+1\\cdot 5=555$.\nThen $\\frac{555}{5}=110$, so the answer is $\\boxed{555}$."}
EOF
"$LEMMA" verify "$TMP/sol.jsonl" --out "$TMP/sv.jsonl" >/dev/null 2>&1
if grep -q '"id":"w".*"first_wrong_step":1,"verdict":"wrong"' "$TMP/sv.jsonl" &&
   grep -q '"expr":"36 - 7","stated":"28","value":"29","ok":false' "$TMP/sv.jsonl" &&
   grep -q '"id":"r".*"first_wrong_step":null,"verdict":"ok"' "$TMP/sv.jsonl" &&
   grep -q '"id":"m".*"expr":"\\\\frac{555}{5}","stated":"110","value":"111","ok":false.*"first_wrong_step":1,"verdict":"wrong"' "$TMP/sv.jsonl"; then echo "PASS verify_verdicts"
else echo "FAIL verify_verdicts: $(cat "$TMP/sv.jsonl")"; fi
# GSM8K's test references: one known typo (test.jsonl:1025, tests/unit/test_tasks_gsm8k.c);
# on a plain clone the fixture's first 100 records, which hold none.
if [[ -f ../shared/data/gsm8k/test.jsonl ]]; then
    expect_out verify_gsm8k_test 'lemma verify: 1319 solutions: 1 with a wrong step' \
        "$LEMMA" verify ../shared/data/gsm8k/test.jsonl --out "$TMP/gv.jsonl"
else
    expect_out verify_gsm8k_test 'lemma verify: 100 solutions: 0 with a wrong step' \
        "$LEMMA" verify tests/fixtures/gsm8k/test.jsonl --out "$TMP/gv.jsonl"
fi
expect_fail verify_missing_file 2 "lemma verify: cannot read '$TMP/nope.jsonl'" "$LEMMA" verify "$TMP/nope.jsonl"
{ cat "$TMP/sol.jsonl"; echo '{"id": "x", "text": "1 + 1 = 2"}'; } >"$TMP/bad3.jsonl"
expect_fail verify_too_many_bad_lines 2 "bad3.jsonl:4: malformed line skipped \(no string 'solution'" \
    "$LEMMA" verify "$TMP/bad3.jsonl" --out "$TMP/v3.jsonl"
