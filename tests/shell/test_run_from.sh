#!/usr/bin/env bash
# tests/shell/test_run_from.sh: 'lemma run' on an imported model with real data. A tiny random
# LLaMA-3 directory (the real LLaMA-3 tokenizer and chat template, tests/py/chat_ref.py) with
# GSM8K records (tests/fixtures/gsm8k) runs sample, build, fine-tune, eval (base and final)
# and export on 2 ranks; a second run killed (kill -9) mid-finetune and run again ends with
# the same samples, data, losses, eval results and exported weights as the uninterrupted one.
# SKIP where the venv or the assets cannot be had (no network).
source "$(dirname "$0")/lib.sh"
cd "$(dirname "$0")/../.."
export OMP_NUM_THREADS=1
if ! PY=$(bash tests/py/venv.sh 2>"$TMP/venv.err"); then
    echo "SKIP run_from: no reference venv ($(tail -1 "$TMP/venv.err"))"; exit 0
fi
paths=$(bash tests/py/chat_assets.sh 2>"$TMP/assets.err"); rc=$?
if ((rc == 3)); then echo "FAIL run_from_assets: $(tail -1 "$TMP/assets.err")"; exit 0; fi
if ((rc)); then echo "SKIP run_from: assets unavailable ($(tail -1 "$TMP/assets.err"))"; exit 0; fi
read -r _ _ R <<<"$paths"
CFG=tests/configs/run_from.cfg
FROM=(--set model.from="$R/llama3")

B=$TMP/b
"${MPIRUN[@]}" -np 2 "$LEMMA" run "$CFG" --set run.dir="$B" "${FROM[@]}" >"$TMP/b.log" 2>&1
if [[ $? == 0 && -s $B/export/hf/model.safetensors && -s $B/eval/test.json && -s $B/eval/base/test.json ]]; then
    echo "PASS run_from_all_phases"
else echo "FAIL run_from_all_phases:"; tail -5 "$TMP/b.log" | sed 's/^/     /'; fi
check run_from_chat_template grep -q "imported from $R/llama3, prompt format llama3" "$TMP/b.log"
check run_from_gsm8k_data "$PY" - "$B" <<'PY'
import collections, json, sys
d = sys.argv[1]
kinds = collections.Counter(json.loads(l)["kind"] for l in open(d + "/data/train.jsonl"))
samples = [json.loads(l) for l in open(d + "/samples.jsonl")]
gold = {json.loads(l)["answer"].split("####")[-1].strip() for l in open("tests/fixtures/gsm8k/train.jsonl")}
assert len(samples) == 32 and all(s["gold"] in gold for s in samples), len(samples)
assert kinds["cot"] == 16 and kinds["lemma_fix"] + kinds["lemma_restart"] > 0, kinds
loss = [json.loads(l) for l in open(d + "/metrics.jsonl")]
assert [r["step"] for r in loss if r.get("phase") == "finetune"][-1] == 30, loss[-1]
PY

# Killed mid-finetune (after a checkpoint), then the same command again.
C=$TMP/c
"${MPIRUN[@]}" -np 2 "$LEMMA" run "$CFG" --set run.dir="$C" "${FROM[@]}" >"$TMP/c1.log" 2>&1 &
pid=$!
reached() { "$PY" -c "import json,sys; sys.exit(0 if any(json.loads(l).get('phase') == 'finetune' and json.loads(l)['step'] >= 10 for l in open('$C/metrics.jsonl')) else 1)" 2>/dev/null; }
t0=$SECONDS
while ((SECONDS - t0 < 120)) && ! reached; do sleep 0.2; done
if reached; then
    pkill -9 -f "run.dir=$C"; kill -9 $pid 2>/dev/null; wait $pid 2>/dev/null
    check run_from_killed_mid_finetune "$PY" -c "import json,sys; d=json.load(open('$C/manifest.json'))['done']; sys.exit(0 if 'build' in d and 'finetune' not in d else 1)"
else
    echo "FAIL run_from_killed_mid_finetune: fine-tuning never reached step 10"; tail -5 "$TMP/c1.log" | sed 's/^/     /'
    kill -9 $pid 2>/dev/null; wait $pid 2>/dev/null
fi
"${MPIRUN[@]}" -np 2 "$LEMMA" run "$CFG" --set run.dir="$C" "${FROM[@]}" >"$TMP/c2.log" 2>&1
check run_from_resumed_finetune grep -qE "finetune: .*30 steps from step [1-9]" "$TMP/c2.log"
check run_from_resumed_equals_uninterrupted "$PY" - "$B" "$C" <<'PY'
import json, sys
b, c = sys.argv[1:3]
def losses(d):
    return {r["step"]: r["loss"] for r in map(json.loads, open(d + "/metrics.jsonl")) if r.get("phase") == "finetune"}
for f in ("samples.jsonl", "greedy.jsonl", "data/train.jsonl", "eval/test.jsonl", "eval/base/test.jsonl",
          "export/hf/model.safetensors", "export/hf/config.json"):
    assert open(f"{b}/{f}", "rb").read() == open(f"{c}/{f}", "rb").read(), f
for f in ("eval/test.json", "eval/base/test.json"):
    x, y = json.load(open(f"{b}/{f}")), json.load(open(f"{c}/{f}"))
    x.pop("seconds", None); y.pop("seconds", None)
    assert x == y, (f, x, y)
lb, lc = losses(b), losses(c)
assert all(lb[s] == lc[s] for s in lc), [(s, lb[s], lc[s]) for s in lc if lb[s] != lc[s]]
print("final finetune loss", lb[30])
PY
