#!/usr/bin/env bash
# tests/shell/test_from.sh: every command starts from an imported model (model.from). A tiny
# random LLaMA-3 directory with the real LLaMA-3 tokenizer and chat template
# (tests/py/chat_ref.py) is fine-tuned by `lemma train` on 1 and 2 ranks (the same losses,
# starting at ln(vocab) and falling); the run directory it leaves reopens in `lemma generate`
# as the fine-tuned model, checked against transformers running the checkpoint's weights
# (tests/py/ckpt_greedy.py); `lemma import` makes a run directory that generates what the
# source does; sample, build (model teacher) and eval run from it. SKIP where the venv or
# the assets cannot be had (no network).
source "$(dirname "$0")/lib.sh"
cd "$(dirname "$0")/../.."
export OMP_NUM_THREADS=1
if ! PY=$(bash tests/py/venv.sh 2>"$TMP/venv.err"); then
    echo "SKIP from: no reference venv ($(tail -1 "$TMP/venv.err"))"; exit 0
fi
paths=$(bash tests/py/chat_assets.sh 2>"$TMP/assets.err"); rc=$?
if ((rc == 3)); then echo "FAIL from_assets: $(tail -1 "$TMP/assets.err")"; exit 0; fi
if ((rc)); then echo "SKIP from: assets unavailable ($(tail -1 "$TMP/assets.err"))"; exit 0; fi
read -r _ _ R <<<"$paths"
SRC=$R/llama3
CFG=tests/configs/train_small.cfg
FROM=(--set model.from="$SRC" --set train.steps=4 --set log.every=1)

# Fine-tuning from the imported model: 1 and 2 ranks agree; the loss starts near ln(128256).
"$LEMMA" train "$CFG" --set run.dir="$TMP/ft1" "${FROM[@]}" >"$TMP/ft1.log" 2>&1
"${MPIRUN[@]}" -np 2 "$LEMMA" train "$CFG" --set run.dir="$TMP/ft2" "${FROM[@]}" >"$TMP/ft2.log" 2>&1
if grep -q "imported parameters of $SRC" "$TMP/ft1.log" && [[ -s $TMP/ft2/metrics.jsonl ]]; then
    echo "PASS train_from_import"; else echo "FAIL train_from_import:"; tail -3 "$TMP/ft1.log" "$TMP/ft2.log" | sed 's/^/     /'; fi
compare train_from_import_np1_np2 "$TMP/ft1" "$TMP/ft2" 1e-5
python3 - "$TMP/ft1/metrics.jsonl" <<'PY'
import json, math, sys
loss = [json.loads(l)["loss"] for l in open(sys.argv[1])]
ok = len(loss) == 4 and abs(loss[0] - math.log(128256)) < 0.1 and loss[-1] < loss[0]
print("%s train_from_import_loss (%s)" % ("PASS" if ok else "FAIL", " ".join("%.4f" % x for x in loss)))
PY

# The run directory reopens as the fine-tuned model: greedy tokens identical to transformers
# running the checkpoint's parameters, and unlike the source's.
PROMPT="What is 2 + 3?"
if ids=$("$LEMMA" tokenize "$TMP/ft1" --chat <<<"$PROMPT" 2>"$TMP/tok.err"); then
    "$PY" -c "import json,sys; print(json.dumps(json.loads(sys.argv[1])['ids']))" "$ids" |
        "$PY" tests/py/ckpt_greedy.py "$TMP"/ft1/ckpt/step_00000004.h5 "$SRC" 24 >"$TMP/ref.ids" 2>"$TMP/ref.err" ||
        { echo "FAIL generate_finetuned_reference:"; tail -3 "$TMP/ref.err" | sed 's/^/     /'; }
else echo "FAIL tokenize_run_dir: $(tail -1 "$TMP/tok.err")"; fi
"$LEMMA" generate "$TMP/ft1" --prompt "$PROMPT" --max-tokens 24 >"$TMP/ft.txt" 2>"$TMP/ft.err"
"$LEMMA" generate "$SRC" --prompt "$PROMPT" --max-tokens 24 >"$TMP/src.txt" 2>"$TMP/src.err"
if [[ -s $TMP/ref.ids ]]; then
    "$PY" - "$TMP/ref.ids" "$SRC/tokenizer.json" "$TMP/ft.txt" "$TMP/src.txt" <<'PY'
import json, sys
from tokenizers import Tokenizer
ids = json.loads(open(sys.argv[1]).readline())
stop = [k for k, t in enumerate(ids) if t in (128001, 128009)]  # eos, <|eot_id|>
ids = ids[:stop[0]] if stop else ids
want = Tokenizer.from_file(sys.argv[2]).decode(ids, skip_special_tokens=False)
got = open(sys.argv[3], encoding="utf-8").read()[:-1]
src = open(sys.argv[4], encoding="utf-8").read()[:-1]
ok = got == want and got != src
print("%s generate_finetuned_run_dir (%d tokens identical to transformers on the checkpoint%s)%s"
      % ("PASS" if ok else "FAIL", len(ids), "; the source model says otherwise" if got != src else "",
         "" if ok else "\n     lemma %r\n     ref   %r\n     src   %r" % (got[:60], want[:60], src[:60])))
PY
fi

# lemma import: a run directory (config.cfg, a step-0 checkpoint) that is the source model.
expect_out import_run_dir "-> $TMP/imp \(config.cfg; checkpoint ckpt/step_00000000.h5" \
    "$LEMMA" import "$SRC" --out "$TMP/imp"
"$LEMMA" generate "$TMP/imp" --prompt "$PROMPT" --max-tokens 24 >"$TMP/imp.txt" 2>"$TMP/imp.err"
if [[ -s $TMP/src.txt ]] && cmp -s "$TMP/imp.txt" "$TMP/src.txt"; then echo "PASS generate_imported_run_dir"
else echo "FAIL generate_imported_run_dir: $(head -c 80 "$TMP/imp.txt") vs $(head -c 80 "$TMP/src.txt")"; tail -2 "$TMP/imp.err"; fi

# sample, build with the model teacher, and eval, from the fine-tuned run.
RUN=(--set run.dir="$TMP/ft1" "${FROM[@]}" --set sample.problems=4 --set sample.k=2
     --set sample.max_new_tokens=16 --set teacher.kind=model --set teacher.max_new_tokens=16
     --set eval.splits=test --set eval.problems=4 --set eval.max_new_tokens=16)
expect_out sample_from_import "sample: greedy pass@1 .*\(4 problems\)" "$LEMMA" sample "$CFG" "${RUN[@]}"
expect_out build_from_import "build: wrote $TMP/ft1/data/train.jsonl" "$LEMMA" build "$CFG" "${RUN[@]}"
expect_out eval_from_import "eval: model final \(step 4\)" "$LEMMA" eval "$CFG" "${RUN[@]}"
