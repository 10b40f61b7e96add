"""tests/bench/median.py: the rows of make bench's comparisons (tests/bench/run.sh). Each row
comes from runs of lemma and a peer (PyTorch, transformers) alternating REPEATS times on a
shared, noisy machine; the figure is the median of the per-pair ratios, with their range.

  median.py header TITLE PEER [--sgemm]
  median.py row LABEL [--sgemm] [--bound] OURS THEIRS [OURS THEIRS ...]
  from median import repeats, spread   (the Python benchmarks that alternate in-process)

OURS / THEIRS: one JSON object each (a benchmark's output line) with "tokens_per_s". A row
prints the median lemma and peer tokens/s, the median ratio lemma / peer and [min-max];
--sgemm adds lemma's median share of the machine's sgemm rate ("frac_sgemm" of
bench_sample) with its range; --bound (batch-1 decoding) a second line: the median run's ms
per token against the bound of one pass over the weights at the measured read bandwidth.
"""
import json
import os
import statistics
import sys

W = 34  # label column


def repeats():
    """How many times the two sides alternate: BENCH_REPEATS (run.sh exports it), default 3."""
    return max(1, int(os.environ.get("BENCH_REPEATS", "3")))


def spread(xs):
    """The median of xs and its range: (median, min, max)."""
    xs = list(xs)
    return statistics.median(xs), min(xs), max(xs)


def header(title, peer, sgemm):
    line = "%-*s %11s %11s %8s %13s" % (W, title, "lemma tok/s", peer + " tok/s", "ratio", "[min-max]")
    if sgemm:
        line += " %9s %13s" % ("of sgemm", "[min-max]")
    print(line)


def row(label, opts, runs):
    if not runs or len(runs) % 2:
        sys.exit("median.py: %s: need pairs of runs, got %d" % (label, len(runs)))
    rs = [json.loads(r) for r in runs]
    ours, theirs = rs[0::2], rs[1::2]
    med = statistics.median
    r = spread(o["tokens_per_s"] / t["tokens_per_s"] for o, t in zip(ours, theirs))
    line = "%-*s %11.0f %11.0f %7.2fx %13s" % (
        W, label, med(o["tokens_per_s"] for o in ours), med(t["tokens_per_s"] for t in theirs),
        r[0], "[%.2f-%.2f]" % r[1:])
    if "--sgemm" in opts:
        f = spread(100 * o["frac_sgemm"] for o in ours)
        line += " %8.1f%% %13s" % (f[0], "[%.1f-%.1f]" % f[1:])
    print(line)
    if "--bound" in opts:  # the run of the median tokens/s (the lower middle one of an even count)
        o = sorted(ours, key=lambda r: r["tokens_per_s"])[(len(ours) - 1) // 2]
        print("%-*s %.2f ms per token; one pass over the weights at %.1f GB/s and the FLOPs at the "
              "sgemm rate bound it at %.0f tok/s (%.0f%% reached)"
              % (W, "", o["step_ms"], o["read_gbps"], o["bound_tokens_per_s"],
                 100 * o["tokens_per_s"] / o["bound_tokens_per_s"]))


def main(argv):
    if len(argv) >= 3 and argv[0] == "header":
        header(argv[1], argv[2], "--sgemm" in argv[3:])
    elif len(argv) >= 2 and argv[0] == "row":
        opts = [a for a in argv[2:] if a.startswith("--")]
        row(argv[1], opts, [a for a in argv[2:] if not a.startswith("--")])
    else:
        sys.exit(__doc__)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
