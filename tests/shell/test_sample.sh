# tests/shell/test_sample.sh: 'lemma sample': records as DESIGN.md says; the same merged
# samples on 1 and 3 ranks and with batch sizes 1, 4 and 7; killed mid-run (and a torn last
# line) or stopped by SIGUSR1, then rerun: the merged file equals an uninterrupted run's; a
# prompt longer than the context: skipped and named, or an error; parameters from a
# checkpoint; usage errors.
source "$(dirname "$0")/lib.sh"
CFG=tests/configs/train_small.cfg
export OMP_NUM_THREADS=1
SET=(--set run.threads=1 --set sample.problems=24 --set sample.k=3 --set sample.max_new_tokens=160
     --set sample.batch=4 --set sample.prefill_tokens=64 --set sample.log_every=0.2)

sample() { # NP DIR [--set ...]
    local np=$1 dir=$2; shift 2
    "${MPIRUN[@]}" -np "$np" "$LEMMA" sample "$CFG" --set run.dir="$dir" "${SET[@]}" "$@" >"$dir.log" 2>&1
}
same_files() { # NAME DIR_A DIR_B: samples.jsonl and greedy.jsonl byte for byte
    if cmp -s "$2/samples.jsonl" "$3/samples.jsonl" && cmp -s "$2/greedy.jsonl" "$3/greedy.jsonl"; then
        echo "PASS $1"; else echo "FAIL $1: $2 and $3 differ"; tail -3 "$3.log" | sed 's/^/     /'; fi
}
lines() { if [[ -f $1 ]]; then wc -l <"$1"; else echo 0; fi; }

sample 1 "$TMP/np1"
python3 - "$TMP/np1" <<'PY'
import json, sys
d = sys.argv[1]
recs = [json.loads(l) for l in open(d + "/samples.jsonl", encoding="utf-8")]
greedy = [json.loads(l) for l in open(d + "/greedy.jsonl", encoding="utf-8")]
keys = {"id", "sample", "completion", "pred", "correct", "problem", "finish", "tokens", "gold"}
order = [(r["problem"], r["sample"]) for r in recs]
ok = (len(recs) == 72 and len(greedy) == 24 and all(keys <= set(r) for r in recs + greedy)
      and order == sorted(order) == [(p, s) for p in range(24) for s in range(3)]
      and all(g["sample"] == -1 and g["greedy"] for g in greedy)
      and all(r["finish"] in ("eos", "stop", "length") and 0 < r["tokens"] <= 160 for r in recs)
      and all(isinstance(r["correct"], bool) for r in recs))
print("PASS sample_records" if ok else "FAIL sample_records: %d records, %d greedy, first %s"
      % (len(recs), len(greedy), recs[:1]))
PY
if grep -qE "greedy pass@1 [0-9.]+ \([0-9]+/24\) \| mean accuracy [0-9.]+ \([0-9]+/72 samples\) \| pass@1 [0-9.]+ \| pass@3" "$TMP/np1.log" \
    && grep -q "problems 24/24" "$TMP/np1.log" && grep -q '"phase":"sample"' "$TMP/np1/metrics.jsonl"; then
    echo "PASS sample_report"; else echo "FAIL sample_report: $(tail -4 "$TMP/np1.log")"; fi

sample 3 "$TMP/np3" && same_files same_samples_np1_np3 "$TMP/np1" "$TMP/np3"
sample 1 "$TMP/b1" --set sample.batch=1 && same_files same_samples_batch4_batch1 "$TMP/np1" "$TMP/b1"
sample 1 "$TMP/b7" --set sample.batch=7 --set sample.prefill_tokens=5 && same_files same_samples_batch4_batch7 "$TMP/np1" "$TMP/b7"

# Killed mid-run (SIGKILL, as a node failure), a torn last line added: the rerun drops it,
# redoes only what is missing, and the merged file equals the uninterrupted run's.
"$LEMMA" sample "$CFG" --set run.dir="$TMP/kill" "${SET[@]}" >"$TMP/kill.log" 2>&1 &
pid=$!
part=$TMP/kill/samples/part-00000.jsonl
for _ in $(seq 400); do (( $(lines "$part") >= 20 )) && break; sleep 0.02; done
kill -9 $pid; wait $pid 2>/dev/null
done_before=$(lines "$part")
printf '{"id":"train-9","problem":9,"sam' >>"$part"
sample 1 "$TMP/kill"
if ((done_before >= 20 && done_before < 96)) && grep -q "dropped a truncated last line" "$TMP/kill.log"; then
    echo "PASS kill_resume_runs"; else echo "FAIL kill_resume_runs: $done_before records before the kill; $(head -3 "$TMP/kill.log")"; fi
same_files kill_resume_same_samples "$TMP/np1" "$TMP/kill"
total=$(lines "$part")
if ((total == 96)); then echo "PASS kill_resume_no_rework"; else echo "FAIL kill_resume_no_rework: $total records in the part file (96 pairs)"; fi

# SIGUSR1: every rank stops, finished samples stay, exit 0; the rerun completes.
"${MPIRUN[@]}" -np 2 "$LEMMA" sample "$CFG" --set run.dir="$TMP/sig" "${SET[@]}" >"$TMP/sig.log" 2>&1 &
mpid=$!
for _ in $(seq 400); do (( $(cat "$TMP"/sig/samples/part-*.jsonl 2>/dev/null | wc -l) >= 10 )) && break; sleep 0.02; done
victim=$(pgrep -f "lemma sample $CFG --set run.dir=$TMP/sig" | grep -v "^$mpid$" | tail -1)
kill -USR1 "$victim"
wait $mpid; rc=$?
if ((rc == 0)) && grep -q "stopped by a signal" "$TMP/sig.log" && [[ ! -f $TMP/sig/samples.jsonl ]]; then
    echo "PASS sigusr1_stops"; else echo "FAIL sigusr1_stops: rc=$rc $(tail -3 "$TMP/sig.log")"; fi
sample 2 "$TMP/sig" && same_files sigusr1_resume_same_samples "$TMP/np1" "$TMP/sig"

# A prompt longer than the context (model.max_seq = 320 tokens).
long=$(printf 'How many? %.0s' $(seq 40))
{ echo '{"id": "short-1", "question": "Ann has 3 apples. How many?", "answer": "3"}'
  echo "{\"id\": \"too-long\", \"question\": \"$long\", \"answer\": \"1\"}"
  echo '{"id": "short-2", "question": "Bob has 4 pears. How many?", "answer": "4"}'; } >"$TMP/probs.jsonl"
sample 1 "$TMP/long" --set data.train="$TMP/probs.jsonl" --set sample.problems=0
if grep -q "skipping problem 'too-long'" "$TMP/long.log" && grep -q "1 of 3 problems skipped" "$TMP/long.log" \
    && (( $(lines "$TMP/long/samples.jsonl") == 6 )); then echo "PASS too_long_skipped"
else echo "FAIL too_long_skipped: $(tail -4 "$TMP/long.log")"; fi
expect_fail too_long_error 2 "problem 'too-long' \(index 1\): its prompt has [0-9]+ tokens" \
    "$LEMMA" sample "$CFG" --set run.dir="$TMP/long2" --set data.train="$TMP/probs.jsonl" --set sample.too_long=error

# Parameters from the newest checkpoint of run.dir.
"$LEMMA" train "$CFG" --set run.dir="$TMP/ck" --set train.steps=2 >"$TMP/ck_train.log" 2>&1
expect_out sample_from_checkpoint "parameters from .*step_00000002.h5" \
    "$LEMMA" sample "$CFG" --set run.dir="$TMP/ck" "${SET[@]}" --set sample.problems=2

expect_fail sample_unknown_option 2 "lemma sample: unknown option '--frob'" "$LEMMA" sample "$CFG" --frob
expect_fail sample_missing_data 2 "lemma sample: .*nope.jsonl" \
    "$LEMMA" sample "$CFG" --set run.dir="$TMP/nd" --set data.train="$TMP/nope.jsonl"
expect_fail sample_k_too_big 2 "sample.k = 70000" "$LEMMA" sample "$CFG" --set sample.k=70000
