# tests/shell/test_pipeline.sh: `lemma run` end to end on configs/micro/pipeline.cfg, 2 ranks:
#   - every artifact of the run directory exists and is well-formed;
#   - a finished run directory: lemma run does nothing and says so;
#   - killed (SIGKILL) mid-sample and stopped (SIGUSR1) mid-finetune, each rerun completes with
#     exactly the results of an uninterrupted run;
#   - bad input: an unknown finetune.data, a missing base model, a corrupt manifest (warned
#     about, every phase runs again).
source tests/shell/lib.sh
CFG=configs/micro/pipeline.cfg
PY=/usr/bin/python3
run() { "${MPIRUN[@]}" -np 2 "$LEMMA" run "$CFG" "$@"; }

# ---------------------------------------------------------------------------
# The smoke run and its artifacts
A=$TMP/a
check smoke_run run --set run.dir="$A"
check artifacts_well_formed $PY - "$A" <<'PY'
import json, os, sys
d = sys.argv[1]
def jl(p): return [json.loads(l) for l in open(os.path.join(d, p))]
def js(p): return json.load(open(os.path.join(d, p)))
man = js("manifest.json")
assert sorted(man["done"]) == sorted(["pretrain", "sample", "build", "finetune", "eval"]), man
for ph in ("pretrain", "finetune"):
    latest = open(f"{d}/{ph}/ckpt/latest").read().strip()
    assert os.path.getsize(f"{d}/{ph}/ckpt/{latest}") > 0, ph
s = jl("samples.jsonl")
assert len(s) == 24 * 2, len(s)
assert all({"id", "sample", "completion", "pred", "correct"} <= set(r) for r in s)
assert len(jl("greedy.jsonl")) == 24
recs = jl("data/train.jsonl")
kinds = {r["kind"] for r in recs}
assert {"cot", "lemma_fix", "lemma_restart"} <= kinds, kinds
assert all(r["prompt"] and r["response"] and r["answer"] for r in recs)
for r in recs:  # reflection records say where the repeated wrong solution ends
    if r["kind"] in ("lemma_fix", "lemma_restart"):
        mc, resp = r["mistake_chars"], r["response"].encode()  # a count of UTF-8 bytes
        assert 0 < mc < len(resp) and resp[mc - 1:mc] == b"\n", r  # whole lines
        assert resp[mc:mc + 1].isupper(), r  # then the reflection phrase
    else:
        assert "mistake_chars" not in r, r
js("data/error_types.json"); js("data/summary.json")
for sub, label in (("eval", "final"), ("eval/base", "base")):
    for split in ("test", "ood"):
        e = js(f"{sub}/{split}.json")
        assert e["model"] == label and e["split"] == split, e
        assert e["n"] + e["skipped"] == e["problems"] == 12, e
        assert 0 <= e["correct"] <= e["n"] and abs(e["accuracy"] - e["correct"] / e["n"]) < 1e-12
        lo, hi = e["ci95"]; assert lo <= e["accuracy"] <= hi
        assert len(jl(f"{sub}/{split}.jsonl")) == e["n"]
m = jl("metrics.jsonl")
phases = {r["phase"] for r in m}
assert {"pretrain", "sample", "build", "finetune", "eval"} <= phases, phases
assert max(r["step"] for r in m if r["phase"] == "pretrain") == 40
assert max(r["step"] for r in m if r["phase"] == "finetune") == 10
assert sum(1 for r in m if r["phase"] == "eval") == 4
PY
check config_saved_and_valid "$LEMMA" config "$A/config.cfg"
lines=$(wc -l <"$A/metrics.jsonl")
expect_out finished_run_does_nothing 'nothing to do' run --set run.dir="$A"
check finished_run_writes_nothing test "$(wc -l <"$A/metrics.jsonl")" -eq "$lines"

# Another fine-tuning of the same base (pipeline.base_run): sft reads the cot records alone
expect_out sft_reads_cot_only 'finetune.data = sft: [1-9][0-9]* cot and 0 other records' \
    run --set run.dir="$TMP/sft" --set pipeline.base_run="$A" --set pipeline.phases=finetune,eval \
    --set finetune.data=sft
check sft_base_is_base_run_model $PY - "$A" "$TMP/sft" <<'PY'
import json, sys
a, b = sys.argv[1:3]
for split in ("test", "ood"):  # the same base model on the same problems: the same outputs
    assert open(f"{a}/eval/base/{split}.jsonl").read() == open(f"{b}/eval/base/{split}.jsonl").read()
PY

# The fine-tuning mix knobs: a quarter of the records are reflection records (a seeded
# subset), and no loss on the wrong solution they repeat.
"${MPIRUN[@]}" -np 2 "$LEMMA" run "$CFG" --set run.dir="$TMP/mix" --set pipeline.base_run="$A" \
    --set pipeline.phases=finetune --set finetune.reflection_share=0.25 \
    --set finetune.mask_mistakes=true >"$TMP/mix.log" 2>&1
check share_and_mask_applied $PY - "$TMP/mix.log" "$A/data/train.jsonl" <<'PY'
import json, re, sys
log = open(sys.argv[1]).read()
recs = [json.loads(l) for l in open(sys.argv[2])]
cot = sum(r["kind"] == "cot" for r in recs)
refl = sum(r["kind"] in ("lemma_fix", "lemma_restart") for r in recs)
kept, of = map(int, re.search(r"reflection_share 0.25: (\d+) of (\d+)", log).groups())
# (of: the reflection records that fit in train.seq_len)
assert 0 < of <= refl and kept == min(of, round(cot / 3)) and kept > 0, (kept, of, cot, refl)
masked = int(re.search(r"mask_mistakes: no loss on .*; (\d+) of the records read", log).group(1))
assert masked == of, (masked, of)  # every fix/restart record repeats its wrong solution
PY

# ---------------------------------------------------------------------------
# Interrupted runs end as the uninterrupted one. Longer sampling and fine-tuning (with
# checkpoints) so that there is time to interrupt them.
LONG=(--set sample.problems=160 --set finetune.steps=40 --set ckpt.every=5)
B=$TMP/b
check long_run run --set run.dir="$B" "${LONG[@]}"

wait_for() { # SECONDS PY-CONDITION: until the condition holds (0) or time is up (1)
    local t0=$SECONDS
    while ((SECONDS - t0 < $1)); do $PY -c "$2" 2>/dev/null && return 0; sleep 0.2; done
    return 1
}
C=$TMP/c
"${MPIRUN[@]}" -np 2 "$LEMMA" run "$CFG" --set run.dir="$C" "${LONG[@]}" >"$TMP/c1.log" 2>&1 &
pid=$!
if wait_for 120 "import glob,sys; sys.exit(0 if sum(len(open(f).readlines()) for f in glob.glob('$C/samples/part-*.jsonl')) >= 40 else 1)"; then
    pkill -9 -f "run.dir=$C" ; kill -9 $pid 2>/dev/null
    wait $pid 2>/dev/null
    check killed_mid_sample $PY -c "import json,sys; d=json.load(open('$C/manifest.json'))['done']; sys.exit(0 if 'pretrain' in d and 'sample' not in d else 1)"
else
    echo "FAIL killed_mid_sample: the sample part files never reached 40 records"; tail -5 "$TMP/c1.log"
    kill -9 $pid 2>/dev/null; wait $pid 2>/dev/null
fi
"${MPIRUN[@]}" -np 2 "$LEMMA" run "$CFG" --set run.dir="$C" "${LONG[@]}" >"$TMP/c2.log" 2>&1 &
pid=$!
if wait_for 120 "import json,sys; sys.exit(0 if any(json.loads(l).get('phase')=='finetune' and json.loads(l)['step']>=10 for l in open('$C/metrics.jsonl')) else 1)"; then
    kill -USR1 $pid # mpirun passes it on to the ranks
    wait $pid
    check stopped_mid_finetune grep -q 'finetune: stopping after step' "$TMP/c2.log"
else
    echo "FAIL stopped_mid_finetune: fine-tuning never reached step 10"; tail -5 "$TMP/c2.log"
    wait $pid
fi
check rerun_completes run --set run.dir="$C" "${LONG[@]}"
check resumed_sample_phase grep -qE ', [1-9][0-9]* already done' "$TMP/c2.log"
check interrupted_equals_uninterrupted $PY - "$B" "$C" <<'PY'
import json, sys
b, c = sys.argv[1:3]
def last_loss(d, ph):
    out = {}
    for l in open(d + "/metrics.jsonl"):
        r = json.loads(l)
        if r.get("phase") == ph: out[r["step"]] = r["loss"]
    return out[max(out)]
for f in ("samples.jsonl", "data/train.jsonl", "eval/test.jsonl", "eval/ood.jsonl"):
    assert open(f"{b}/{f}").read() == open(f"{c}/{f}").read(), f
for f in ("eval/test.json", "eval/ood.json"):
    x, y = json.load(open(f"{b}/{f}")), json.load(open(f"{c}/{f}"))
    x.pop("seconds"); y.pop("seconds")
    assert x == y, (x, y)
assert last_loss(b, "finetune") == last_loss(c, "finetune")
print("final finetune loss", last_loss(b, "finetune"), "test accuracy", json.load(open(b + "/eval/test.json"))["accuracy"])
PY

# ---------------------------------------------------------------------------
# Bad input
echo 'not json' >"$TMP/sft/manifest.json"
expect_out corrupt_manifest_warns_and_reruns 'manifest.json is not a JSON object: every phase counts as unfinished' \
    run --set run.dir="$TMP/sft" --set pipeline.base_run="$A" --set pipeline.phases=finetune,eval
check corrupt_manifest_rewritten $PY -c "import json,sys; d=json.load(open('$TMP/sft/manifest.json'))['done']; sys.exit(0 if set(d) == {'finetune', 'eval'} else 1)"
expect_fail bad_finetune_data 2 "finetune.data" "$LEMMA" run "$CFG" --set run.dir="$TMP/d" --set finetune.data=magic
expect_fail no_base_model 2 "no base model: no checkpoint in $TMP/e/pretrain/ckpt" \
    "$LEMMA" run "$CFG" --set run.dir="$TMP/e" --set pipeline.phases=sample,build
