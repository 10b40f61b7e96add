#!/usr/bin/python3
"""The report of one run: what was trained, how accuracy and the error types changed.

    /usr/bin/python3 analysis/report.py runs/tiny                   # writes runs/tiny/report.md
    /usr/bin/python3 analysis/report.py runs/tiny --out /tmp/tiny.md

Reads RUN_DIR/metrics.jsonl (required; the last line of a repeated (phase, step) wins, a
malformed line is skipped with a warning), eval/<split>.json (the final model),
eval/base/<split>.json (the base model, before fine-tuning), data/error_types.json and
data/summary.json (lemma build), manifest.json and config.cfg, each when it is there. Writes
OUT (default RUN_DIR/report.md) and, next to it in a folder named after it (RUN_DIR/report/):
loss.png (training loss against step, one line per training phase) and error_types.png (the
wrong answers per error type, base against final model, with the harvested distribution of the
student's samples). Accuracies are percentages with one decimal (0.375 -> 37.5), differences
percentage points ("+12.5"), 95 % intervals as "[lo, hi]".

Exit status 0; 1 when RUN_DIR is not a directory or has no readable metrics.jsonl; 2 on usage.
Needs numpy and matplotlib (Debian: python3-numpy python3-matplotlib; make deps).
"""
import argparse
import datetime
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402
from common import ERROR_TYPES, ci_str, is_num, loss_str, pct, points  # noqa: E402

PROG = "report.py"
LAST = 10  # "mean of the last N steps" in the training table


def warn(msg, notes=None):
    print("%s: warning: %s" % (PROG, msg), file=sys.stderr)
    if notes is not None:
        notes.append(msg)


def md_table(header, rows):
    out = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    out += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return "\n".join(out)


def count(x):
    return "%d" % x if is_num(x) else "–"


# ---------------------------------------------------------------------------
# figures

def plot_losses(curves, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(7.0, 4.2), dpi=120)
    lows, highs = [], []
    for i, (phase, c) in enumerate(curves.items()):
        ax.plot(c["step"], c["loss"], color="C%d" % i, lw=1.0, marker="o" if len(c["step"]) < 30 else None,
                ms=3, label="%s (%d steps)" % (phase, len(c["step"])))
        lows.append(min(c["loss"]))
        highs.append(max(c["loss"]))
    # Log scale when every loss is positive and they span more than a factor of three.
    if min(lows) > 0 and max(highs) / min(lows) > 3:
        ax.set_yscale("log")
        from matplotlib.ticker import FuncFormatter, NullFormatter
        plain = FuncFormatter(lambda v, _: "%g" % v)
        ax.yaxis.set_major_formatter(plain)
        ax.yaxis.set_minor_formatter(plain if max(highs) / min(lows) < 30 else NullFormatter())
        ax.tick_params(axis="y", which="minor", labelsize=7)
    ax.set_xlabel("step")
    ax.set_ylabel("training loss")
    ax.set_title("training loss")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def plot_error_types(types, panels, harvested, path):
    """panels: [(split, {model: (counts, n)})]; harvested: (counts, total) or None. The bars
    are percentages of the answers (of the samples, for the harvested distribution)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np
    rows = max(1, len(panels))
    fig, axes = plt.subplots(rows, 1, figsize=(9.0, 2.2 + 2.6 * rows), dpi=120, sharex=True, squeeze=False)
    x = np.arange(len(types))
    for ax, (split, models) in zip(axes[:, 0], panels or [("", {})]):
        series = [("base (before)", models.get("base"), "C0"), ("final (after)", models.get("final"), "C1")]
        if harvested:
            series.append(("harvested samples", harvested, "0.6"))
        series = [s for s in series if s[1]]
        w = 0.8 / max(1, len(series))
        for j, (label, (counts, total), color) in enumerate(series):
            y = [100.0 * counts.get(t, 0) / total if total else 0.0 for t in types]
            ax.bar(x - 0.4 + w * (j + 0.5), y, w, color=color, label=label)
        ax.set_ylabel("% of answers")
        ax.set_title("wrong answers by error type%s" % (": " + split if split else ""), fontsize=10)
        ax.grid(True, axis="y", alpha=0.3)
        ax.legend(fontsize=8)
    ax = axes[-1, 0]
    ax.set_xticks(x)
    ax.set_xticklabels([t.replace("_error", "") for t in types], rotation=40, ha="right", fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


# ---------------------------------------------------------------------------
# sections

def section_config(cfg, manifest):
    out = []
    keys = [("run.name", "run name"), ("pipeline.phases", "phases"), ("finetune.data", "fine-tuning data"),
            ("model.dim", "model.dim"), ("model.n_layers", "model.n_layers"), ("model.n_heads", "model.n_heads"),
            ("model.n_kv_heads", "model.n_kv_heads"), ("model.ffn_dim", "model.ffn_dim"),
            ("model.max_seq", "model.max_seq"), ("train.steps", "train.steps"), ("train.lr", "train.lr"),
            ("train.batch_tokens", "train.batch_tokens"), ("pretrain.steps", "pretrain.steps"),
            ("finetune.steps", "finetune.steps"), ("finetune.lr", "finetune.lr"), ("sample.k", "sample.k"),
            ("sample.temperature", "sample.temperature"), ("run.seed", "run.seed")]
    if cfg:
        rows = []
        for k, label in keys:
            if k in cfg:
                v = cfg[k]
                rows.append((label, ", ".join(str(x) for x in v) if isinstance(v, list) else v))
        out.append(md_table(("setting", "value"), rows) if rows else "config.cfg holds none of the usual keys.")
    else:
        out.append("No readable config.cfg.")
    if manifest is not None:
        out.append("")
        out.append("Phases done (manifest.json): " + manifest_phases(manifest))
    return out


def manifest_phases(m):
    """The phases manifest.json lists as done ({"done": {phase: {finished, seconds}}}), with
    the seconds each took."""
    done = m.get("done") if isinstance(m, dict) else None
    if not isinstance(done, dict):
        return "unreadable (`" + json.dumps(m)[:200] + "`)"
    parts = []
    for name, v in done.items():
        secs = v.get("seconds") if isinstance(v, dict) else None
        parts.append("%s (%.0f s)" % (name, secs) if isinstance(secs, (int, float)) else name)
    return ", ".join(parts) or "none"


def section_training(curves, img):
    if not curves:
        return ["No training losses in metrics.jsonl."]
    rows = []
    for phase, c in curves.items():
        tps = sorted(v for v in c["tokens_per_s"] if v is not None)
        toks = [v for v in c["tokens"] if v is not None]
        rows.append((phase, c["step"][-1], loss_str(c["loss"][0]), loss_str(c["loss"][-1]),
                     loss_str(common.mean_last(c, LAST)), loss_str(min(c["loss"])),
                     "%.3g" % c["lr"][-1] if c["lr"][-1] is not None else "–",
                     "%d" % toks[-1] if toks else "–", "%.0f" % tps[len(tps) // 2] if tps else "–"))
    out = ["![training loss](%s)" % img, "",
           md_table(("phase", "last step", "first loss", "last loss", "mean of last %d" % LAST, "lowest",
                     "last lr", "tokens", "tokens/s (median)"), rows)]
    for phase, c in curves.items():
        if c["repeated"]:
            out.append("")
            out.append("%s: %d repeated step line%s (a resumed run); the last line of each step is used." %
                       (phase, c["repeated"], "s" if c["repeated"] != 1 else ""))
        if c["skipped"]:
            out.append("")
            out.append("%s: %d step%s without a finite loss (update skipped) left out." %
                       (phase, c["skipped"], "s" if c["skipped"] != 1 else ""))
    return out


def section_accuracy(ev):
    base, final = ev["base"], ev["final"]
    splits = common.split_sort(list(base) + list(final))
    if not splits:
        return ["No evaluation results (no eval/*.json, no eval lines in metrics.jsonl)."]
    have_base, have_final = bool(base), bool(final)
    header = ["split", "n"]
    if have_base:
        header += ["before (base) %", "95 % CI"]
    if have_final:
        header += ["after (final) %", "95 % CI"]
    if have_base and have_final:
        header += ["Δ (points)", "Δ 95 % CI"]
    rows = []
    for s in splits:
        b, f = base.get(s), final.get(s)
        n = (f or b)["n"]
        row = [s, count(n)]
        for have, e in ((have_base, b), (have_final, f)):
            if have:
                row += ["%s (%s/%s)" % (pct(e["accuracy"]), count(e["correct"]), count(e["n"])) if e else "–",
                        ci_str(e["lo"], e["hi"]) if e else "–"]
        if have_base and have_final:
            if b and f:
                d = f["accuracy"] - b["accuracy"]
                lo = hi = None
                if None not in (b["lo"], b["hi"], f["lo"], f["hi"]):
                    lo, hi = common.newcombe(b["accuracy"], b["lo"], b["hi"], f["accuracy"], f["lo"], f["hi"])
                row += [points(d), "[%+.1f, %+.1f]" % (100 * lo, 100 * hi) if lo is not None else "–"]
            else:
                row += ["–", "–"]
        rows.append(row)
    out = [md_table(header, rows), ""]
    notes = []
    if not have_base:
        notes.append("no base-model evaluation (eval/base/): after fine-tuning only")
    if not have_final:
        notes.append("no final-model evaluation (eval/*.json): before fine-tuning only")
    steps = ["%s %s at step %d" % (m, s, e["step"]) for m in ("base", "final") for s, e in sorted(ev[m].items())
             if e["step"] is not None]
    if steps:
        notes.append("checkpoints: " + ", ".join(steps))
    notes.append("accuracy in %; 95 % CI: the Wilson interval; Δ CI: Newcombe's interval for the difference, "
                 "which treats the two evaluations as independent (conservative for the same problems)")
    out += ["Notes: " + "; ".join(notes) + "."]
    return out


def section_error_types(ev, harvested_file, build_line, summary, img_dir, img):
    types = list(ERROR_TYPES)
    sources = [e["error_types"] for m in ("base", "final") for e in ev[m].values() if e["error_types"]]
    hcounts = None
    if isinstance(harvested_file, dict):
        hcounts = harvested_file.get("counts") if isinstance(harvested_file.get("counts"), dict) else None
        if hcounts is not None:
            hcounts = dict(hcounts)
            if is_num(harvested_file.get("not_located")):
                hcounts["unlocated"] = harvested_file["not_located"]
    elif build_line and isinstance(build_line.get("error_types"), dict):
        hcounts = dict(build_line["error_types"])
        if is_num(build_line.get("wrong_samples")) and is_num(build_line.get("located")):
            hcounts["unlocated"] = build_line["wrong_samples"] - build_line["located"]
    if hcounts:
        sources.append(hcounts)
    for s in sources:
        for t in s:
            if t not in types and t != "unlocated":
                types.append(t)
    if any("unlocated" in s for s in sources):
        types.append("unlocated")
    if not sources:
        return ["No error-type counts (no eval/*.json with error_types, no data/error_types.json)."]

    # The harvested distribution as a share of all samples, so that it reads like the eval bars.
    htotal = None
    if isinstance(summary, dict) and isinstance(summary.get("samples"), dict) and is_num(summary["samples"].get("total")):
        htotal = summary["samples"]["total"]
    elif build_line and is_num(build_line.get("samples")):
        htotal = build_line["samples"]

    splits = common.split_sort([s for m in ("base", "final") for s, e in ev[m].items() if e["error_types"]])
    header, cols = ["error type"], []
    for s in splits:
        for m, label in (("base", "before"), ("final", "after")):
            e = ev[m].get(s)
            if e and e["error_types"]:
                header.append("%s %s" % (s, label))
                cols.append(e["error_types"])
    if hcounts:
        header.append("harvested samples")
        cols.append(hcounts)
    rows = []
    for t in types:
        row = [t]
        for c in cols:
            row.append(count(c.get(t, 0)) if is_num(c.get(t, 0)) else "–")
        rows.append(row)
    total = ["wrong (sum)"] + [count(sum(v for v in c.values() if is_num(v))) for c in cols]
    rows.append(total)
    out = []
    panels = [(s, {m: (ev[m][s]["error_types"], ev[m][s]["n"]) for m in ("base", "final")
                   if s in ev[m] and ev[m][s]["error_types"] and ev[m][s]["n"]}) for s in splits]
    if panels or (hcounts and htotal):
        plot_error_types(types, panels, (hcounts, htotal) if hcounts and htotal else None,
                         os.path.join(img_dir, "error_types.png"))
        out += ["![error types](%s)" % img, ""]
    out.append(md_table(header, rows))
    out.append("")
    note = "Counts of wrong answers by the type of their first wrong step (unlocated: no wrong step found)."
    if hcounts:
        note += " Harvested: the student's wrong training samples (data/error_types.json)"
        note += ", %d samples in all." % htotal if htotal else "."
    note += " The figure shows each count as a percentage of the answers (of the samples, for the harvest)."
    out.append(note)
    return out


def section_reflection(ev):
    rows = []
    for m, label in (("base", "before (base)"), ("final", "after (final)")):
        for s in common.split_sort(ev[m]):
            r = ev[m][s]["reflection"]
            if not r:
                continue
            rate = r.get("with_reflection_rate")
            if not is_num(rate) and is_num(r.get("with_reflection")) and ev[m][s]["n"]:
                rate = r["with_reflection"] / ev[m][s]["n"]
            rows.append((s, label, count(ev[m][s]["n"]), count(r.get("with_reflection")), pct(rate),
                         count(r.get("right_after_reflection")), count(r.get("wrong_to_right")),
                         count(r.get("right_to_wrong"))))
    if not rows:
        return ["No self-correction statistics (no reflection counts in eval/*.json)."]
    return [md_table(("split", "model", "n", "with reflection", "reflection rate %", "right after reflection",
                      "wrong → right", "right → wrong"), rows), "",
            "With reflection: outputs that contain a reflection phrase or the retry token; right after "
            "reflection: of those, the final answer is right; wrong → right: a wrong step before the first "
            "reflection and a right final answer; right → wrong: no wrong step before it and a wrong final "
            "answer (definitions: src/eval/stats.c)."]


def section_data(sample, build, summary):
    out = []
    if sample:
        parts = []
        if is_num(sample.get("problems")):
            parts.append("%d problems" % sample["problems"] +
                         (" (%d skipped)" % sample["skipped"] if is_num(sample.get("skipped")) and sample["skipped"] else ""))
        if is_num(sample.get("k")):
            parts.append("k = %d" % sample["k"])
        if is_num(sample.get("samples")):
            parts.append("%d samples" % sample["samples"])
        accs = []
        for key, label in (("mean_accuracy", "mean accuracy"), ("pass_at_1", "pass@1"),
                           ("pass_at_k", "pass@%s" % (sample["k"] if is_num(sample.get("k")) else "k")),
                           ("greedy_pass_at_1", "greedy pass@1")):
            if is_num(sample.get(key)):
                accs.append("%s %s %%" % (label, pct(sample[key])))
        out.append("- **Sampling**: " + ", ".join(parts) + (": " + ", ".join(accs) if accs else "") + ".")
    else:
        out.append("- **Sampling**: no sample line in metrics.jsonl.")
    if build:
        parts = []
        for key, label in (("questions", "questions"), ("samples", "samples"), ("wrong_samples", "wrong"),
                           ("located", "located"), ("records", "training records")):
            if is_num(build.get(key)):
                parts.append("%d %s" % (build[key], label))
        line = "- **Build**: " + ", ".join(parts)
        kinds = build.get("records_by_kind")
        if isinstance(kinds, dict) and kinds:
            line += " (" + ", ".join("%s %s" % (k, count(v)) for k, v in kinds.items()) + ")"
        out.append(line + ".")
    else:
        out.append("- **Build**: no build line in metrics.jsonl.")
    if isinstance(summary, dict):
        extra = []
        if is_num(summary.get("questions_with_wrong")):
            extra.append("%d questions with a wrong sample" % summary["questions_with_wrong"])
        if is_num(summary.get("questions_with_correct")):
            extra.append("%d with a correct one" % summary["questions_with_correct"])
        filt = summary.get("filtered")
        if isinstance(filt, dict):
            for key, label in (("answer_not_gold", "dropped: answer not gold"), ("duplicate", "dropped: duplicate"),
                               ("no_correction", "dropped: no correction")):
                v = filt.get(key)
                n = sum(x for x in v.values() if is_num(x)) if isinstance(v, dict) else v
                if is_num(n) and n:
                    extra.append("%s %d" % (label, n))
        teacher = summary.get("teacher")
        if isinstance(teacher, dict) and teacher:
            extra.append("teacher: " + ", ".join("%s %s" % (k, count(v)) for k, v in teacher.items()))
        if extra:
            out.append("- **Build summary** (data/summary.json): " + "; ".join(extra) + ".")
    return out


# ---------------------------------------------------------------------------

def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("run_dir", metavar="RUN_DIR", help="run directory (with metrics.jsonl)")
    p.add_argument("--out", help="the report (default RUN_DIR/report.md); figures go to a folder named "
                                 "after it (RUN_DIR/report/)")
    a = p.parse_args(argv)
    run_dir = a.run_dir.rstrip("/") or "/"
    metrics = os.path.join(run_dir, "metrics.jsonl")
    if not os.path.isdir(run_dir):
        print("%s: %s: not a directory" % (PROG, run_dir), file=sys.stderr)
        return 1
    notes = []
    try:
        rows = common.read_metrics(metrics, warn=lambda m: warn(m, notes))
    except OSError as e:
        print("%s: %s: no metrics.jsonl (%s): is this a run directory?" % (PROG, run_dir, e.strerror), file=sys.stderr)
        return 1

    out = a.out or os.path.join(run_dir, "report.md")
    out_dir = os.path.dirname(out) or "."
    stem = os.path.splitext(os.path.basename(out))[0]
    img_dir = os.path.join(out_dir, stem)
    os.makedirs(img_dir, exist_ok=True)
    for old in ("loss.png", "error_types.png"):  # a figure not redrawn must not stay from an earlier report
        try:
            os.remove(os.path.join(img_dir, old))
        except OSError:
            pass

    w = lambda m: warn(m, notes)
    cfg = common.read_config(os.path.join(run_dir, "config.cfg"), w)
    manifest = common.read_json(os.path.join(run_dir, "manifest.json"), w)
    curves = common.loss_curves(rows)
    ev = common.eval_results(run_dir, rows, w)
    summary = common.read_json(os.path.join(run_dir, "data", "summary.json"), w)
    harvested = common.read_json(os.path.join(run_dir, "data", "error_types.json"), w)
    sample, build = common.last_of_phase(rows, "sample"), common.last_of_phase(rows, "build")

    name = cfg.get("run.name") if cfg and isinstance(cfg.get("run.name"), str) else os.path.basename(os.path.abspath(run_dir))
    md = ["# Run report: %s" % name, "",
          "Run directory `%s`, report written %s by analysis/report.py." % (
              run_dir, datetime.datetime.now().strftime("%Y-%m-%d %H:%M")), "",
          "## Configuration", ""]
    md += section_config(cfg, manifest)
    md += ["", "## Training", ""]
    if curves:
        plot_losses(curves, os.path.join(img_dir, "loss.png"))
    md += section_training(curves, stem + "/loss.png")
    md += ["", "## Accuracy before and after fine-tuning", ""]
    md += section_accuracy(ev)
    md += ["", "## Error types", ""]
    md += section_error_types(ev, harvested, build, summary, img_dir, stem + "/error_types.png")
    md += ["", "## Self-correction", ""]
    md += section_reflection(ev)
    md += ["", "## Sampling and data", ""]
    md += section_data(sample, build, summary)
    if notes:
        md += ["", "## Warnings", ""] + ["- " + n for n in notes]
    with open(out, "w") as f:
        f.write("\n".join(md) + "\n")
    figs = [f for f in ("loss.png", "error_types.png") if os.path.exists(os.path.join(img_dir, f))]
    if not figs:
        try:
            os.rmdir(img_dir)
        except OSError:
            pass
    print("wrote %s%s" % (out, " and " + ", ".join(os.path.join(img_dir, f) for f in figs) if figs else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
