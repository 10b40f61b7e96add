"""lemma's grader against math-verify (Hugging Face) on the gold answers of MATH-500.

Pairs (gold, prediction):
  (a) each gold against reformattings of itself made here by string rewrites (\\dfrac as
      \\frac, \\frac{a}{b} as \\frac ab, a finite fraction as a decimal, \\left( \\right)
      added or removed, thousands separators and degree signs removed, a unit appended to a
      plain number, $...$ delimiters, \\boxed{}): the same answer written another way;
  (b) each gold against the gold of the next problem (skipping pairs whose golds are
      string-equal): almost always a different answer.
Each pair is graded by math-verify (verify(parse(gold), parse(prediction)), gold first) and
by `lemma grade` ({"prediction": P, "answer": G} lines). Prints the agreement of lemma with
math-verify and every disagreement ("# " lines), then
  PASS/FAIL grade_mathverify_agreement     (agreement >= 99 %, issue 21's threshold)
  PASS/FAIL grade_mathverify_other_gold    (lemma says "wrong" on >= 99 % of set (b)).
Pairs that math-verify cannot read (parse gives nothing for either side) have no
math-verify verdict: they are listed and left out of the agreement.

Usage: math_verify_agree.py --lemma BIN --data math500.jsonl --tmp DIR
"""
import argparse
import json
import re
import subprocess
import sys
from fractions import Fraction

THRESHOLD = 0.99


def unescaped_dollar(s):
    return re.search(r"(?<!\\)\$", s) is not None


def mv_wrap(s):
    """math-verify reads LaTeX between delimiters or in \\boxed{}: add $...$ when absent."""
    if unescaped_dollar(s) or "\\boxed" in s or "\\(" in s or "\\[" in s:
        return s
    return "$" + s + "$"


def one_group(s):
    """s is one bracketed group: its first bracket closes at its last character."""
    depth = 0
    for i, ch in enumerate(s):
        if ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
            if depth == 0 and i != len(s) - 1:
                return False
    return depth == 0


FRAC_WHOLE = re.compile(r"^(-?)\\[dt]?frac\{(\d+)\}\{(\d+)\}$|^(-?)(\d+)/(\d+)$")


def finite_decimal(fr):
    """The exact decimal of fr when it is finite (denominator 2^a 5^b), else None."""
    d = fr.denominator
    k = 0
    while d % 2 == 0:
        d //= 2
        k += 1
    j = 0
    while d % 5 == 0:
        d //= 5
        j += 1
    if d != 1:
        return None
    places = max(k, j)
    scaled = abs(fr.numerator) * 10 ** places // fr.denominator
    digits = str(scaled).rjust(places + 1, "0")
    text = digits[:-places] + "." + digits[-places:] if places else digits
    return ("-" if fr < 0 else "") + text


def rewrites(g):
    """Reformattings of gold g that mean the same answer: (kind, text) pairs."""
    out = []
    if "\\dfrac" in g:
        out.append(("dfrac_as_frac", g.replace("\\dfrac", "\\frac")))
    elif "\\frac" in g:
        out.append(("frac_as_dfrac", g.replace("\\frac", "\\dfrac")))
    short = re.sub(r"\\([dt]?)frac\{(\d)\}\{(\d)\}", r"\\\1frac \2\3", g)
    if short != g:
        out.append(("frac_short", short))
    m = FRAC_WHOLE.match(g.strip())
    if m:
        sign, a, b = (m.group(1), m.group(2), m.group(3)) if m.group(2) else (m.group(4), m.group(5), m.group(6))
        if int(b) != 0:
            dec = finite_decimal(Fraction(int(a), int(b)) * (-1 if sign else 1))
            if dec is not None:
                out.append(("fraction_as_decimal", dec))
    if "\\left" in g:
        out.append(("left_right_removed", re.sub(r"\\(left|right)(?![a-zA-Z])", "", g)))
    elif len(g) >= 2 and g[0] in "([" and g[-1] in ")]" and one_group(g):
        out.append(("left_right_added", "\\left" + g[0] + g[1:-1] + "\\right" + g[-1]))
    if ",\\!" in g:
        out.append(("thousands_removed", g.replace(",\\!", "").replace(" ", "")))
    if g.endswith("^\\circ"):
        out.append(("degrees_removed", g[: -len("^\\circ")].strip()))
    if re.fullmatch(r"-?\d+(\.\d+)?", g):
        out.append(("unit_appended", g + " \\text{ units}"))
    if re.fullmatch(r"-?\d+", g):  # math-verify reads \text{0.15} as text: integers only
        out.append(("text_wrapped", "\\text{" + g + "}"))
    if m and m.group(2):
        out.append(("frac_as_slash", m.group(1) + m.group(2) + "/" + m.group(3)))
    if re.search(r"\\sqrt\{\d\}", g):
        out.append(("sqrt_unbraced", re.sub(r"\\sqrt\{(\d)\}", r"\\sqrt\1", g)))
    elif re.search(r"\\sqrt\d", g):
        out.append(("sqrt_braced", re.sub(r"\\sqrt(\d)", r"\\sqrt{\1}", g)))
    # comma spacing, where no comma could be a thousands separator
    if "," in g and not re.search(r",\s*\d{3}(?!\d)", g) and ",\\!" not in g and "{,}" not in g:
        out.append(("comma_spacing", g.replace(", ", ",") if ", " in g else g.replace(",", ", ")))
        if not re.search(r"[()\[\]{}]", g):  # an unbracketed list: any order
            out.append(("list_reversed", ", ".join(x.strip() for x in reversed(g.split(",")))))
    pm = re.fullmatch(r"([^,]+?)\s*\\pm\s*([^,]+)", g)
    if pm and not re.search(r"[{}()]", pm.group(1)):
        a, b = pm.group(1).strip(), pm.group(2).strip()
        out.append(("pm_expanded", "%s+%s, %s-%s" % (a, b, a, b)))
    out.append(("dollars", "$" + g + "$"))
    out.append(("boxed", "\\boxed{" + g + "}"))
    seen, uniq = {g}, []
    for kind, p in out:
        if p not in seen:
            seen.add(p)
            uniq.append((kind, p))
    return uniq


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--lemma", required=True)
    ap.add_argument("--data", required=True)
    ap.add_argument("--tmp", required=True)
    args = ap.parse_args()

    try:
        import math_verify
        from math_verify import parse, verify
    except Exception as e:  # the venv lacks it
        print("FAIL grade_mathverify_agreement: cannot import math_verify (%s)" % e)
        return 1
    version = getattr(math_verify, "__version__", None)
    if version is None:
        try:
            from importlib.metadata import version as pkg_version
            version = pkg_version("math-verify")
        except Exception:
            version = "?"

    golds = []
    for line in open(args.data, encoding="utf-8"):
        line = line.strip()
        if line:
            golds.append(str(json.loads(line)["answer"]).strip())

    pairs = []  # (set, kind, gold, prediction)
    for g in golds:
        for kind, p in rewrites(g):
            pairs.append(("a", kind, g, p))
    for i, g in enumerate(golds):
        p = golds[(i + 1) % len(golds)]
        if p != g:
            pairs.append(("b", "next_gold", g, p))

    # math-verify, gold first
    mv = []
    for _, _, g, p in pairs:
        try:
            G, P = parse(mv_wrap(g)), parse(mv_wrap(p))
            mv.append(None if not G or not P else bool(verify(G, P)))
        except Exception:
            mv.append(None)

    # lemma
    inp, outp = args.tmp + "/mv_pairs.jsonl", args.tmp + "/mv_graded.jsonl"
    with open(inp, "w", encoding="utf-8") as f:
        for k, (_, _, g, p) in enumerate(pairs):
            f.write(json.dumps({"pair": k, "prediction": p, "answer": g}, ensure_ascii=False) + "\n")
    run = subprocess.run([args.lemma, "grade", inp, "--out", outp], capture_output=True, text=True)
    if run.returncode != 0:
        print("FAIL grade_mathverify_agreement: '%s grade' exited %d" % (args.lemma, run.returncode))
        for l in (run.stdout + run.stderr).strip().splitlines()[-5:]:
            print("     " + l)
        return 0
    verdict = {}
    for line in open(outp, encoding="utf-8"):
        line = line.strip()
        if line:
            r = json.loads(line)
            verdict[r.get("pair")] = r.get("verdict")

    n_a = sum(1 for s in pairs if s[0] == "a")
    n_b = len(pairs) - n_a
    kinds = {}
    for s, kind, _, _ in pairs:
        kinds[kind] = kinds.get(kind, 0) + 1
    print("# math-verify %s; %d MATH-500 golds; set (a) %d pairs (gold vs its reformattings), set (b) %d pairs "
          "(gold vs the next gold)" % (version, len(golds), n_a, n_b))
    print("# pairs per kind: " + ", ".join("%s %d" % kv for kv in kinds.items()))

    unread = [k for k in range(len(pairs)) if mv[k] is None]
    if unread:
        print("# math-verify cannot read %d pairs (left out of the agreement):" % len(unread))
        for k in unread:
            s, kind, g, p = pairs[k]
            print("#   [%s:%s] gold %s  pred %s  (lemma: %s)" % (s, kind, json.dumps(g), json.dumps(p), verdict.get(k) or "missing"))

    agree = {"a": 0, "b": 0}
    counted = {"a": 0, "b": 0}
    disagree = []
    for k, (s, kind, g, p) in enumerate(pairs):
        if mv[k] is None:
            continue
        counted[s] += 1
        v = verdict.get(k)
        lemma_right = v == "right"
        if v is not None and lemma_right == mv[k]:
            agree[s] += 1
        else:
            disagree.append((s, kind, g, p, "right" if mv[k] else "wrong", v if v is not None else "missing"))
    total = counted["a"] + counted["b"]
    n_agree = agree["a"] + agree["b"]
    rate = n_agree / total if total else 0.0

    def pct(a, b):
        return "%d/%d = %.2f %%" % (a, b, 100.0 * a / b) if b else "0/0"

    print("# agreement with math-verify: %s (set a: %s, set b: %s)"
          % (pct(n_agree, total), pct(agree["a"], counted["a"]), pct(agree["b"], counted["b"])))
    print("# %d disagreements (set:kind, gold, prediction, math-verify verdict, lemma verdict):" % len(disagree))
    for s, kind, g, p, m, v in disagree:
        print("#   [%s:%s] gold %s  pred %s  math-verify %s  lemma %s" % (s, kind, json.dumps(g), json.dumps(p), m, v))

    b_wrong = sum(1 for k, q in enumerate(pairs) if q[0] == "b" and verdict.get(k) == "wrong")
    b_rate = b_wrong / n_b if n_b else 0.0
    print("# set (b): lemma says wrong on %s" % pct(b_wrong, n_b))

    if total and rate >= THRESHOLD:
        print("PASS grade_mathverify_agreement")
    else:
        print("FAIL grade_mathverify_agreement: lemma agrees with math-verify on %s, below %.0f %% "
              "(the disagreements are listed in the log)" % (pct(n_agree, total), 100 * THRESHOLD))
        for s, kind, g, p, m, v in disagree[:10]:
            print("     [%s:%s] gold %s  pred %s  math-verify %s  lemma %s" % (s, kind, json.dumps(g), json.dumps(p), m, v))
    if n_b and b_rate >= THRESHOLD:
        print("PASS grade_mathverify_other_gold")
    else:
        print("FAIL grade_mathverify_other_gold: lemma says wrong on %s of set (b), below %.0f %%"
              % (pct(b_wrong, n_b), 100 * THRESHOLD))
        shown = 0
        for k, (s, kind, g, p) in enumerate(pairs):
            if s == "b" and verdict.get(k) != "wrong" and shown < 10:
                print("     gold %s  pred %s  lemma %s" % (json.dumps(g), json.dumps(p), verdict.get(k) or "missing"))
                shown += 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
