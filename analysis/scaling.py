#!/usr/bin/python3
"""Scaling-law fit over the runs of a sweep: final loss against parameter count.

    /usr/bin/python3 analysis/scaling.py runs/scale-*             # after slurm/sweep.sbatch
    /usr/bin/python3 analysis/scaling.py runs/sweep1/* --last 50 --out runs/sweep1/scaling

For every run directory: the parameter count N from its newest checkpoint (the sizes of the
/model/params datasets, read with h5py; without h5py, `lemma inspect`), and the loss L as the
mean training loss of the last --last steps of RUN_DIR/metrics.jsonl (of the last phase that
logged a loss). Then the fit

    L(N) = E + A * N^(-alpha)        (Kaplan et al. 2020; Hoffmann et al. 2022, at fixed data)

by least squares on L: for each alpha the best E and A are linear, so alpha is searched on a
grid and refined by golden-section search; A > 0 and E >= 0 are enforced (E = 0 is a pure
power law; --no-offset forces it; with two runs it is the only fit that is determined). With
exactly three runs the three parameters fit exactly: look at the plot before believing alpha.

Writes OUT.png (loss against N on log axes: the runs, the fitted curve, the asymptote E) and
OUT.json (the runs and the fit), prints a table. Exit status 0; 1 when fewer than two runs
have both a checkpoint and losses (each skipped run is named with the reason); 2 on usage.
Needs numpy and matplotlib (Debian: python3-numpy python3-matplotlib; make deps).
"""
import argparse
import json
import math
import os
import re
import subprocess
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402  (analysis/common.py: the metrics.jsonl reader)


def newest_checkpoint(run_dir):
    cdir = os.path.join(run_dir, "ckpt")
    if not os.path.isdir(cdir):
        return None
    try:
        name = open(os.path.join(cdir, "latest")).read().strip()
        if name and os.path.exists(os.path.join(cdir, name)):
            return os.path.join(cdir, name)
    except OSError:
        pass
    names = sorted(n for n in os.listdir(cdir) if re.fullmatch(r"step_\d+\.h5", n))
    return os.path.join(cdir, names[-1]) if names else None


EMBEDDING = ("tok_emb", "lm_head")


def count_params(ckpt, lemma):
    """(total, non-embedding, source) for a checkpoint."""
    try:
        import h5py
        with h5py.File(ckpt, "r") as f:
            params = f["model/params"]
            total = sum(int(np.prod(params[k].shape)) for k in params)
            emb = sum(int(np.prod(params[k].shape)) for k in params if k in EMBEDDING)
            return total, total - emb, "h5py"
    except ImportError:
        pass
    out = subprocess.run([lemma, "inspect", ckpt, "--all"], capture_output=True, text=True, check=True).stdout
    m = re.search(r"^parameters\s+(\d+)", out, re.M)
    if not m:
        raise ValueError("no 'parameters' line in lemma inspect's output")
    total = int(m.group(1))
    emb = 0
    for line in out.splitlines():
        t = re.match(r"\s*model/params/(\S+)\s+(\d+(?:x\d+)*)\s", line)
        if t and t.group(1) in EMBEDDING:
            emb += int(np.prod([int(d) for d in t.group(2).split("x")]))
    return total, total - emb, "lemma inspect"


def final_loss(run_dir, last):
    """(mean loss of the last `last` steps of the last phase that logged losses, phase, step)."""
    rows = [r for r in common.read_metrics(os.path.join(run_dir, "metrics.jsonl"))
            if isinstance(r.get("loss"), (int, float)) and math.isfinite(r["loss"]) and not r.get("skipped")]
    if not rows:
        raise ValueError("no losses in metrics.jsonl")
    phase = rows[-1].get("phase")
    rows = [r for r in rows if r.get("phase") == phase]
    # The last record of each step wins (a resumed run may repeat steps after its checkpoint).
    by_step = {}
    for r in rows:
        by_step[r.get("step")] = r["loss"]
    steps = sorted(s for s in by_step if isinstance(s, (int, float)))
    tail = steps[-last:]
    return float(np.mean([by_step[s] for s in tail])), phase, int(steps[-1])


def fit_sse(x, y, alpha, offset):
    """Best E, A for a fixed alpha (x = N / N0), with A > 0 and E >= 0; returns (sse, E, A)."""
    z = x ** (-alpha)
    best = None
    if offset:
        M = np.stack([np.ones_like(z), z], axis=1)
        (E, A), *_ = np.linalg.lstsq(M, y, rcond=None)
        if A > 0 and E >= 0:
            best = (float(np.sum((E + A * z - y) ** 2)), float(E), float(A))
    if best is None:  # E = 0 (or E < 0 refused): a pure power law
        A = float(np.dot(z, y) / np.dot(z, z))
        if A <= 0:
            return math.inf, 0.0, A
        best = (float(np.sum((A * z - y) ** 2)), 0.0, A)
    return best


def fit(N, L, offset=True):
    N, L = np.asarray(N, float), np.asarray(L, float)
    N0 = float(np.exp(np.mean(np.log(N))))
    x = N / N0
    offset = offset and len(N) >= 3
    grid = np.logspace(-3, math.log10(4.0), 800)
    sse = [fit_sse(x, L, a, offset)[0] for a in grid]
    i = int(np.argmin(sse))
    if not math.isfinite(sse[i]):
        raise ValueError("no power law with A > 0 fits (the loss does not fall with size)")
    lo, hi = grid[max(i - 1, 0)], grid[min(i + 1, len(grid) - 1)]
    g = (math.sqrt(5) - 1) / 2
    for _ in range(100):  # golden-section refinement of alpha
        a, b = hi - g * (hi - lo), lo + g * (hi - lo)
        if fit_sse(x, L, a, offset)[0] < fit_sse(x, L, b, offset)[0]:
            hi = b
        else:
            lo = a
    alpha = (lo + hi) / 2
    s, E, A0 = fit_sse(x, L, alpha, offset)
    A = A0 * N0 ** alpha  # back to L = E + A * N^-alpha in raw parameter counts
    pred = E + A * N ** (-alpha)
    ss_tot = float(np.sum((L - L.mean()) ** 2))
    return {
        "form": "L(N) = E + A * N^(-alpha)",
        "E": E, "A": A, "alpha": alpha,
        "offset_fitted": offset and E > 0,
        "offset_refused": offset and E == 0,  # the best offset was negative: a pure power law
        "rmse": math.sqrt(s / len(N)),
        "r2": 1.0 - s / ss_tot if ss_tot > 0 else 1.0,
        "at_boundary": bool(alpha <= grid[0] * 1.01 or alpha >= grid[-1] * 0.99),
        "predicted": [float(p) for p in pred],
    }


def plot(runs, result, path, xkey):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    N = np.array([r[xkey] for r in runs], float)
    L = np.array([r["loss"] for r in runs], float)
    fig, ax = plt.subplots(figsize=(6.4, 4.4), dpi=120)
    ax.scatter(N, L, color="C0", zorder=3, label="runs")
    for r in runs:
        ax.annotate(r["name"], (r[xkey], r["loss"]), textcoords="offset points", xytext=(5, 5), fontsize=8)
    if result:
        grid = np.logspace(math.log10(N.min()) - 0.3, math.log10(N.max()) + 0.3, 200)
        E, A, a = result["E"], result["A"], result["alpha"]
        ax.plot(grid, E + A * grid ** (-a), color="C1",
                label="fit: %.3g + %.3g N^(-%.3f)" % (E, A, a))
        if E > 0:
            ax.axhline(E, color="C1", ls="--", lw=0.8, label="E = %.3g (irreducible)" % E)
    ax.set_xscale("log")
    ax.set_yscale("log")
    from matplotlib.ticker import ScalarFormatter
    for axis in (ax.yaxis,):
        axis.set_major_formatter(ScalarFormatter())
        axis.set_minor_formatter(ScalarFormatter())
    ax.set_xlabel("parameters" + (" (non-embedding)" if xkey == "params_nonemb" else ""))
    ax.set_ylabel("final training loss")
    ax.set_title("loss against model size (%d runs)" % len(runs))
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("runs", nargs="+", help="run directories (each with metrics.jsonl and ckpt/)")
    p.add_argument("--last", type=int, default=10, help="average the loss over the last N steps (default 10)")
    p.add_argument("--non-embedding", action="store_true",
                   help="count parameters without the embedding and LM head (Kaplan et al.)")
    p.add_argument("--no-offset", action="store_true", help="fit a pure power law (E = 0)")
    p.add_argument("--out", default="scaling", help="output prefix: OUT.png and OUT.json (default ./scaling)")
    p.add_argument("--lemma", default=os.environ.get("LEMMA", os.path.join(os.path.dirname(
        os.path.abspath(__file__)), "..", "build", "lemma")), help="lemma binary, used without h5py")
    a = p.parse_args(argv)
    if a.last < 1:
        p.error("--last must be at least 1")

    runs, skipped = [], []
    for d in a.runs:
        d = d.rstrip("/")
        try:
            if not os.path.isdir(d):
                raise ValueError("not a directory")
            ckpt = newest_checkpoint(d)
            if not ckpt:
                raise ValueError("no checkpoint in ckpt/")
            total, nonemb, source = count_params(ckpt, a.lemma)
            loss, phase, step = final_loss(d, a.last)
        except (OSError, ValueError, subprocess.CalledProcessError, KeyError) as e:
            skipped.append((d, str(e)))
            print("scaling.py: skipping %s: %s" % (d, e), file=sys.stderr)
            continue
        runs.append({"name": os.path.basename(d), "dir": d, "checkpoint": ckpt, "params": total,
                     "params_nonemb": nonemb, "params_from": source, "loss": loss, "phase": phase,
                     "step": step})
    xkey = "params_nonemb" if a.non_embedding else "params"
    runs.sort(key=lambda r: r[xkey])
    if len(runs) < 2:
        print("scaling.py: need at least two runs with a checkpoint and losses, have %d" % len(runs),
              file=sys.stderr)
        return 1
    if len(set(r[xkey] for r in runs)) < 2:
        print("scaling.py: every run has %d parameters: nothing to fit" % runs[0][xkey], file=sys.stderr)
        return 1

    result, error = None, None
    try:
        result = fit([r[xkey] for r in runs], [r["loss"] for r in runs], offset=not a.no_offset)
    except ValueError as e:
        error = str(e)
    if os.path.dirname(a.out):
        os.makedirs(os.path.dirname(a.out), exist_ok=True)
    plot(runs, result, a.out + ".png", xkey)
    with open(a.out + ".json", "w") as f:
        json.dump({"x": xkey, "loss": "mean training loss of the last %d steps" % a.last, "runs": runs,
                   "fit": result, "fit_error": error, "skipped": [{"dir": d, "why": w} for d, w in skipped]},
                  f, indent=2)
        f.write("\n")

    print("%-24s %14s %14s %10s %8s" % ("run", "parameters", "non-embedding", "loss", "step"))
    for i, r in enumerate(runs):
        print("%-24s %14d %14d %10.4f %8d%s" % (r["name"][:24], r["params"], r["params_nonemb"], r["loss"], r["step"],
              "   fit %.4f" % result["predicted"][i] if result else ""))
    if result:
        print("fit: L(N) = %.4g + %.4g * N^(-%.4f)   (rmse %.3g, R^2 %.4f%s%s)" % (
            result["E"], result["A"], result["alpha"], result["rmse"], result["r2"],
            ", best offset negative: E = 0" if result["offset_refused"] else
            "" if result["offset_fitted"] else ", no offset",
            ", alpha at the edge of the search range" if result["at_boundary"] else ""))
        if len(runs) == 3 and result["offset_fitted"]:
            print("note: three runs determine the three parameters exactly; add sizes before trusting alpha")
    else:
        print("fit: none: %s" % error)
    print("wrote %s.png and %s.json" % (a.out, a.out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
