"""tests/bench/tok_bench.py TOOL TOKDIR TEXTS...: tokenizer throughput (MB/s of UTF-8 text
encoded) of lemma (tests/tools/tok_check --bench) against Hugging Face `tokenizers`
(Tokenizer.encode_batch with TOKENIZERS_PARALLELISM=false: one thread, as lemma's), on the
same texts, for the tokenizer.json files of tests/py/make_tokenizers.py. Each side encodes
everything 3 times per run and keeps its best (both keep their word caches between passes);
the two sides alternate BENCH_REPEATS runs (default 3), and the median ratio and its range
are printed (tests/bench/median.py).
TEXTS: JSONL files whose lines are JSON strings (the GSM8K and MATH texts)."""
import json, os, statistics, subprocess, sys, tempfile, time

os.environ["TOKENIZERS_PARALLELISM"] = "false"
from tokenizers import Tokenizer

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from median import repeats, spread

tool, tokdir = sys.argv[1:3]
texts = []
for path in sys.argv[3:]:
    texts += [json.loads(l) for l in open(path) if l.strip()]
texts = [t for t in texts if isinstance(t, str)]
nbytes = sum(len(t.encode()) for t in texts)
tmp = tempfile.NamedTemporaryFile("w", suffix=".jsonl", delete=False)
for t in texts:
    tmp.write(json.dumps(t) + "\n")
tmp.close()


def lemma(tok):
    out = subprocess.run([tool, "--bench", "3", tok, tmp.name], capture_output=True, text=True, check=True)
    return json.loads(out.stdout)["mb_s"]


def hf(tok):
    t = Tokenizer.from_file(tok)
    best = 1e30
    for _ in range(3):
        t0 = time.perf_counter()
        t.encode_batch(texts, add_special_tokens=False)
        best = min(best, time.perf_counter() - t0)
    return nbytes / best / 1e6


print("%.1f MB of text, %d texts" % (nbytes / 1e6, len(texts)))
n = repeats()
print("%-20s %12s %12s %8s   (%d alternating runs: median [range] of lemma / HF)" % ("tokenizer", "lemma MB/s", "HF MB/s", "ratio", n))
for name in ["gpt2", "llama3", "qwen", "mistral", "smollm2"]:
    path = os.path.join(tokdir, name + ".json")
    if not os.path.exists(path):
        print("%-20s SKIP (not made)" % name)
        continue
    a, b = [], []
    for _ in range(n):
        a.append(lemma(path))
        b.append(hf(path))
    r = spread(x / y for x, y in zip(a, b))
    print("%-20s %12.2f %12.2f %7.2fx   [%.2f, %.2f]" % (name, statistics.median(a), statistics.median(b), *r))
os.unlink(tmp.name)
