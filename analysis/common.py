"""Shared readers for the analysis scripts: a run directory's metrics.jsonl, eval/*.json,
data/*.json and config.cfg, plus the number formats the reports use.

Every reader tolerates what is missing: absent files give None or empty results, malformed
metrics lines are skipped and named (FILE:LINE) through the warn callback.
"""
import json
import math
import os
import re

# The error taxonomy (DESIGN.md, src/lemma/errors.c), in its order; eval files add "unlocated".
ERROR_TYPES = (
    "calculation_error", "counting_error", "context_value_error", "previous_step_value_error",
    "unit_conversion_error", "operator_error", "formula_confusion_error", "missing_step",
    "contradictory_step", "question_misinterpretation", "confusing_concept_error",
    "hallucination", "nonsense_output",
)
SPLIT_ORDER = ("test", "ood")


def is_num(x):
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def read_metrics(path, warn=None):
    """The JSON objects of a metrics.jsonl, in file order. Raises OSError when it cannot be read.
    A line that is not a JSON object is skipped and, with warn, reported as 'PATH:LINE: ...'."""
    rows = []
    with open(path, errors="replace") as f:
        for i, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                r = json.loads(line)
            except ValueError:
                r, why = None, "not valid JSON"
            else:
                why = "not a JSON object"
            if not isinstance(r, dict):
                if warn:
                    warn("%s:%d: malformed line skipped (%s)" % (path, i, why))
                continue
            rows.append(r)
    return rows


def loss_curves(rows):
    """{phase: curve} for every phase whose lines carry a numeric step and loss, in the order
    the phases first appear. The last line of a step wins (a resumed run repeats steps after its
    checkpoint); steps whose update was skipped or whose loss is not finite are left out.
    A curve: {"step", "loss", "lr", "tokens", "tokens_per_s"} (lists sorted by step; missing
    values are None), "repeated" (lines superseded by a later one) and "skipped"."""
    by_phase = {}
    for r in rows:
        phase, step = r.get("phase"), r.get("step")
        if not isinstance(phase, str) or not is_num(step) or "loss" not in r:
            continue
        c = by_phase.setdefault(phase, {"lines": {}, "repeated": 0})
        if step in c["lines"]:
            c["repeated"] += 1
        c["lines"][step] = r
    curves = {}
    for phase, c in by_phase.items():
        good = [(s, r) for s, r in sorted(c["lines"].items()) if is_num(r.get("loss")) and not r.get("skipped")]
        if not good:
            continue
        get = lambda key: [r.get(key) if is_num(r.get(key)) else None for _, r in good]
        curves[phase] = {"step": [int(s) for s, _ in good], "loss": [float(r["loss"]) for _, r in good],
                         "lr": get("lr"), "tokens": get("tokens"), "tokens_per_s": get("tokens_per_s"),
                         "repeated": c["repeated"], "skipped": len(c["lines"]) - len(good)}
    return curves


def mean_last(curve, last):
    """Mean loss of the last `last` steps of a curve."""
    tail = curve["loss"][-last:]
    return sum(tail) / len(tail)


def last_of_phase(rows, phase):
    """The last line of a phase (e.g. "sample", "build"), or None."""
    found = None
    for r in rows:
        if r.get("phase") == phase:
            found = r
    return found


def read_json(path, warn=None):
    """The parsed file, or None when it is absent or (reported through warn) unreadable."""
    if not os.path.exists(path):
        return None
    try:
        with open(path, errors="replace") as f:
            return json.load(f)
    except (OSError, ValueError) as e:
        if warn:
            warn("%s: cannot read: %s" % (path, e))
        return None


def wilson(k, n, z=1.959963984540054):
    """Wilson score interval of k successes in n trials."""
    if n <= 0:
        return 0.0, 1.0
    p = k / n
    d = 1 + z * z / n
    c = (p + z * z / (2 * n)) / d
    h = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / d
    return max(0.0, c - h), min(1.0, c + h)


def newcombe(p1, lo1, hi1, p2, lo2, hi2):
    """95 % interval of p2 - p1 from the two proportions' own intervals (Newcombe 1998, method
    10). It treats the samples as independent; for the same problems evaluated twice it is
    conservative (wider than a paired interval)."""
    d = p2 - p1
    return (d - math.sqrt((p2 - lo2) ** 2 + (hi1 - p1) ** 2),
            d + math.sqrt((hi2 - p2) ** 2 + (p1 - lo1) ** 2))


def _eval_record(d, model, split, source):
    """A uniform eval result from an eval/*.json object or an eval metrics line; None when it
    holds no accuracy."""
    n, k, acc = d.get("n"), d.get("correct"), d.get("accuracy")
    if not is_num(acc):
        if is_num(n) and is_num(k) and n > 0:
            acc = k / n
        else:
            return None
    ci = d.get("ci95")
    if isinstance(ci, list) and len(ci) == 2 and all(is_num(x) for x in ci):
        lo, hi = float(ci[0]), float(ci[1])
    elif is_num(d.get("ci95_lo")) and is_num(d.get("ci95_hi")):
        lo, hi = float(d["ci95_lo"]), float(d["ci95_hi"])
    elif is_num(n) and n > 0:
        lo, hi = wilson(acc * n if not is_num(k) else k, n)
    else:
        lo, hi = None, None
    return {"model": model, "split": split, "accuracy": float(acc), "lo": lo, "hi": hi,
            "n": int(n) if is_num(n) else None, "correct": int(k) if is_num(k) else None,
            "step": d.get("step") if is_num(d.get("step")) else None,
            "error_types": d.get("error_types") if isinstance(d.get("error_types"), dict) else None,
            "reflection": d.get("reflection") if isinstance(d.get("reflection"), dict) else None,
            "source": source}


def eval_results(run_dir, rows, warn=None):
    """{"base": {split: result}, "final": {split: result}}: eval/<split>.json (final model) and
    eval/base/<split>.json (base model); an eval line of metrics.jsonl (the last per model and
    split) fills in what the files lack."""
    out = {"base": {}, "final": {}}
    for r in rows:
        if r.get("phase") != "eval":
            continue
        model = r.get("model", "final")
        if model not in out:  # another label (lemma eval --label NAME): not part of before/after
            continue
        split = r.get("split") if isinstance(r.get("split"), str) else "test"
        e = _eval_record(r, model, split, "metrics.jsonl")
        if e:
            out[model][split] = e
    for model, sub in (("final", "eval"), ("base", os.path.join("eval", "base"))):
        d = os.path.join(run_dir, sub)
        if not os.path.isdir(d):
            continue
        for name in sorted(os.listdir(d)):
            if not name.endswith(".json"):
                continue
            j = read_json(os.path.join(d, name), warn)
            if not isinstance(j, dict):
                continue
            split = j.get("split") if isinstance(j.get("split"), str) else name[:-5]
            e = _eval_record(j, model, split, os.path.join(sub, name))
            if e:
                prev = out[model].get(split)
                for key in ("error_types", "reflection"):  # keep what only the other source has
                    if e[key] is None and prev:
                        e[key] = prev[key]
                out[model][split] = e
            elif warn:
                warn("%s: no accuracy in it" % os.path.join(d, name))
    return out


def split_sort(splits):
    """test, ood, then the others by name."""
    return sorted(set(splits), key=lambda s: (SPLIT_ORDER.index(s) if s in SPLIT_ORDER else len(SPLIT_ORDER), s))


# ---------------------------------------------------------------------------
# config.cfg (libconfig): a small reader for the report, flattened to {"section.key": value}

_TOKEN = re.compile(r'\s+|#[^\n]*|//[^\n]*|/\*.*?\*/|"(?:\\.|[^"\\])*"|[=:;,{}()\[\]]|[^\s=:;,{}()\[\]"#]+', re.S)


def _tokens(text):
    for m in _TOKEN.finditer(text):
        t = m.group(0)
        if t[0].isspace() or t.startswith(("#", "//", "/*")):
            continue
        yield t


def _scalar(t):
    if t.startswith('"'):
        return re.sub(r'\\(.)', lambda m: {"n": "\n", "t": "\t", "r": "\r"}.get(m.group(1), m.group(1)), t[1:-1])
    low = t.lower()
    if low in ("true", "false"):
        return low == "true"
    try:
        return int(t.rstrip("Ll"), 0)
    except ValueError:
        pass
    try:
        return float(t)
    except ValueError:
        raise ValueError("bad value %r" % t)


def parse_libconfig(text):
    """{"section.key": value} of a libconfig text (groups flattened, lists and arrays as Python
    lists). Raises ValueError on what it cannot parse."""
    toks = list(_tokens(text))
    pos = [0]

    def peek():
        return toks[pos[0]] if pos[0] < len(toks) else None

    def take(expect=None):
        t = peek()
        if t is None or (expect and t not in expect):
            raise ValueError("expected %s, got %r" % (" or ".join(expect) if expect else "more", t))
        pos[0] += 1
        return t

    def value(prefix, out):
        t = take()
        if t == "{":
            settings(prefix + ".", out, "}")
            take("}")
            return None
        if t in "[(":
            close = "]" if t == "[" else ")"
            items = []
            while peek() != close:
                if peek() == "{":
                    take()
                    sub = {}
                    settings("", sub, "}")
                    take("}")
                    items.append(sub)
                else:
                    items.append(value(prefix, {}))
                if peek() == ",":
                    take()
            take(close)
            return items
        v = _scalar(t)
        while isinstance(v, str) and peek() and peek().startswith('"'):  # "a" "b" is "ab"
            v += _scalar(take())
        return v

    def settings(prefix, out, end):
        while peek() is not None and peek() != end:
            name = take()
            take(("=", ":"))
            v = value(prefix + name, out)
            if v is not None:
                out[prefix + name] = v
            if peek() in (";", ","):
                take()

    out = {}
    settings("", out, None)
    return out


def read_config(path, warn=None):
    """The flattened config of a run (config.cfg), or None when absent or unparseable."""
    try:
        with open(path, errors="replace") as f:
            text = f.read()
    except OSError:
        return None
    try:
        return parse_libconfig(text)
    except ValueError as e:
        if warn:
            warn("%s: cannot parse: %s" % (path, e))
        return None


# ---------------------------------------------------------------------------
# formats: accuracies as percentages with one decimal (0.375 -> "37.5"), differences in
# percentage points with a sign ("+12.5"), losses with four decimals

def pct(x):
    return "%.1f" % (100.0 * x) if is_num(x) else "–"


def points(d):
    return "%+.1f" % (100.0 * d) if is_num(d) else "–"


def ci_str(lo, hi):
    return "[%.1f, %.1f]" % (100.0 * lo, 100.0 * hi) if is_num(lo) and is_num(hi) else "–"


def loss_str(x):
    return "%.4f" % x if is_num(x) else "–"
