#!/usr/bin/python3
"""Runs side by side: fine-tuning data, final losses, accuracy per split and its change.

    /usr/bin/python3 analysis/compare.py runs/lemma runs/sft runs/rft --out runs/cmp
    /usr/bin/python3 analysis/compare.py runs/sweep/* --labels a,b,c --last 1

For every run directory: the label (--labels, else the directory's name), the fine-tuning data
(finetune.data in RUN_DIR/config.cfg; "?" when it cannot be read), the final training loss of
each phase (the mean of the last --last steps of metrics.jsonl; the last line of a repeated
step wins), and per split the final model's accuracy with its 95 % interval and the change
from the base model (eval/<split>.json and eval/base/<split>.json, or the eval lines of
metrics.jsonl). Accuracies are percentages with one decimal (0.375 -> 37.5), changes
percentage points ("+12.5").

Prints the table and writes it to OUT/compare.md, and OUT/compare_accuracy.png (grouped bars
per split, one per run, with the 95 % intervals as error bars and the base model's accuracy as
a black tick). Exit status 0; 1 when a directory is missing or holds no results (no losses,
no evaluation; each one is named); 2 on usage.
Needs numpy and matplotlib (Debian: python3-numpy python3-matplotlib; make deps).
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402
from common import ci_str, loss_str, pct, points  # noqa: E402

PROG = "compare.py"
PHASE_ORDER = ("pretrain", "train", "finetune")


def warn(msg):
    print("%s: warning: %s" % (PROG, msg), file=sys.stderr)


def load_run(d, label, last):
    """The figures of one run; raises ValueError when it has none."""
    if not os.path.isdir(d):
        raise ValueError("not a directory")
    try:
        rows = common.read_metrics(os.path.join(d, "metrics.jsonl"), warn=warn)
    except OSError:
        rows = []
    curves = common.loss_curves(rows)
    ev = common.eval_results(d, rows, warn)
    if not curves and not ev["final"] and not ev["base"]:
        raise ValueError("no results: no training losses in metrics.jsonl and no evaluation in eval/")
    cfg = common.read_config(os.path.join(d, "config.cfg"), warn)
    kind = cfg.get("finetune.data") if cfg else None
    return {"label": label, "dir": d, "finetune_data": kind if isinstance(kind, str) else "?",
            "loss": {p: common.mean_last(c, last) for p, c in curves.items()},
            "final": ev["final"], "base": ev["base"]}


def table(runs, phases, splits, last):
    header = ["run", "finetune.data"] + ["loss %s" % p for p in phases]
    for s in splits:
        header += ["%s %% [95 %% CI]" % s, "Δ %s" % s]
    rows = []
    for r in runs:
        row = [r["label"], r["finetune_data"]] + [loss_str(r["loss"].get(p)) for p in phases]
        for s in splits:
            f, b = r["final"].get(s), r["base"].get(s)
            row.append("%s %s" % (pct(f["accuracy"]), ci_str(f["lo"], f["hi"])) if f else "–")
            row.append(points(f["accuracy"] - b["accuracy"]) if f and b else "–")
        rows.append(row)
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    lines += ["", "Loss: mean training loss of the last %d step%s of each phase. Accuracy: the final model, in %%, "
              "with the Wilson 95 %% interval; Δ: final minus base model, in percentage points." %
              (last, "s" if last != 1 else "")]
    return "\n".join(lines)


def plot(runs, splits, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np
    fig, ax = plt.subplots(figsize=(max(5.0, 1.2 + 0.55 * len(runs) * len(splits)), 4.2), dpi=120)
    x = np.arange(len(splits))
    w = 0.8 / len(runs)
    based = False
    for j, r in enumerate(runs):
        xs, ys, lo, hi, bx, by = [], [], [], [], [], []
        for i, s in enumerate(splits):
            pos = x[i] - 0.4 + w * (j + 0.5)
            f, b = r["final"].get(s), r["base"].get(s)
            if f:
                xs.append(pos)
                ys.append(100 * f["accuracy"])
                lo.append(100 * (f["accuracy"] - f["lo"]) if f["lo"] is not None else 0)
                hi.append(100 * (f["hi"] - f["accuracy"]) if f["hi"] is not None else 0)
            if b:
                bx.append(pos)
                by.append(100 * b["accuracy"])
        if xs:
            ax.bar(xs, ys, w * 0.9, yerr=[lo, hi], capsize=3, color="C%d" % (j % 10), label=r["label"],
                   error_kw={"lw": 1, "ecolor": "0.2"})
        if bx:
            ax.scatter(bx, by, marker="_", s=max(60, 1800 * w), color="black", linewidths=2, zorder=3,
                       label=None if based else "base model")
            based = True
    ax.set_xticks(x)
    ax.set_xticklabels(splits)
    ax.set_ylabel("accuracy (%)")
    ax.set_ylim(0, 100)
    ax.set_title("final-model accuracy with 95 % intervals")
    ax.grid(True, axis="y", alpha=0.3)
    ax.legend(fontsize=8, ncol=2 if len(runs) > 4 else 1)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("runs", nargs="+", metavar="RUN_DIR", help="run directories")
    p.add_argument("--out", default=".", help="folder for compare.md and compare_accuracy.png (default .)")
    p.add_argument("--labels", help="comma-separated names of the runs, in order (default: the directory names)")
    p.add_argument("--last", type=int, default=10, help="final loss: mean over the last N steps (default 10)")
    a = p.parse_args(argv)
    if a.last < 1:
        p.error("--last must be at least 1")
    dirs = [d.rstrip("/") or "/" for d in a.runs]
    labels = [os.path.basename(os.path.abspath(d)) for d in dirs]
    if a.labels is not None:
        labels = [s.strip() for s in a.labels.split(",")]
        if len(labels) != len(dirs):
            p.error("--labels has %d names for %d run directories" % (len(labels), len(dirs)))

    runs, bad = [], 0
    for d, label in zip(dirs, labels):
        try:
            runs.append(load_run(d, label, a.last))
        except ValueError as e:
            print("%s: %s: %s" % (PROG, d, e), file=sys.stderr)
            bad += 1
    if bad:
        return 1

    phases = sorted({ph for r in runs for ph in r["loss"]},
                    key=lambda ph: (PHASE_ORDER.index(ph) if ph in PHASE_ORDER else len(PHASE_ORDER), ph))
    splits = common.split_sort([s for r in runs for m in ("final", "base") for s in r[m]])
    text = table(runs, phases, splits, a.last)
    print(text)
    os.makedirs(a.out, exist_ok=True)
    md = os.path.join(a.out, "compare.md")
    with open(md, "w") as f:
        f.write("# Runs compared\n\n" + "\n".join("- %s: `%s`" % (r["label"], r["dir"]) for r in runs) +
                "\n\n" + text + "\n")
    png = os.path.join(a.out, "compare_accuracy.png")
    if splits:
        plot(runs, splits, png)
        with open(md, "a") as f:
            f.write("\n![accuracy](compare_accuracy.png)\n")
        print("wrote %s and %s" % (md, png))
    else:
        if os.path.exists(png):
            os.remove(png)
        print("wrote %s (no evaluation in any run: no figure)" % md)
    return 0


if __name__ == "__main__":
    sys.exit(main())
