# tests/shell/test_grade_mathverify.sh: lemma's grader against math-verify (Hugging Face's
# grader, pinned in tests/py/venv.sh) on the gold answers of MATH-500: each gold against
# reformattings of itself and against the next problem's gold (tests/py/math_verify_agree.py
# says how the pairs are made). Passes when lemma agrees with math-verify on >= 99 % of the
# pairs (issue 21) and says "wrong" on >= 99 % of the gold-vs-other-gold pairs; every
# disagreement is listed in the log. SKIP without ../shared/data/math or the venv.
source "$(dirname "$0")/lib.sh"
DATA=../shared/data/math/math500.jsonl
if [[ ! -f $DATA ]]; then echo "SKIP grade_mathverify: ../shared/data/math absent"; exit 0; fi
if ! PY=$(bash tests/py/venv.sh 2>"$TMP/venv.err"); then
    echo "SKIP grade_mathverify: no reference venv ($(tail -1 "$TMP/venv.err"))"; exit 0
fi
"$PY" tests/py/math_verify_agree.py --lemma "$LEMMA" --data "$DATA" --tmp "$TMP"
