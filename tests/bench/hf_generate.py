"""Hugging Face side of lemma's sampling benchmarks: transformers' `generate`.

A LlamaForCausalLM of the same architecture as lemma's model (RMSNorm, RoPE rotate-half,
GQA attention, SwiGLU MLP, untied head, no biases) with random weights, in bf16 (or fp32)
on --device; or with --gguf PATH a real model: the LlamaForCausalLM of that GGUF file's
architecture with its weights dequantized to fp32 by transformers' GGUF reader (what
from_pretrained(gguf_file=) does; --dtype fp32 only). Reading the GGUF takes transformers
~15 s, so with --f32-cache DIR the fp32 weights are saved once (save_pretrained) into
DIR/NAME-f32 and later runs load that copy. --batch sequences with random prompts of
--prompt tokens (over the whole vocabulary; no padding) each
generate exactly --new tokens at temperature 0.7 (do_sample, top_k 0, top_p 1,
min_new_tokens = max_new_tokens, so no sequence stops early). Prints one JSON line:

  python3 tests/bench/hf_generate.py --dim 768 --layers 12 --heads 12 --kv-heads 12 \\
      --ffn 3072 --batch 64 --prompt 64 --new 128 --vocab 260 --device cuda
  -> {"impl": "hf-generate", "tokens_per_s": ..., "step_ms": ..., "prefill_s": ..., ...}

Timed as lemma's bench_sample: the decode steps only. `generate` does the prefill and the
decode in one call, so it is timed twice on the same prompts, once for --new tokens and once
for 1 (the prefill and the first token); the decode time is the difference, over
batch * (new - 1) tokens. One untimed call first warms up the GPU (kernels, allocator).
Best of --repeats. --cache static asks for transformers' static KV cache (default: its
dynamic cache, what `generate` does when nothing is set). --threads N (CPU runs) sets
OMP_NUM_THREADS, OPENBLAS_NUM_THREADS and OMP_WAIT_POLICY=PASSIVE before torch is imported,
as tests/bench/torch_sample.py does (Debian's torch runs its matmuls in OpenBLAS).
"""
import argparse
import json
import os
import sys
import time


def parse_args(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--dim", type=int, default=768)
    ap.add_argument("--layers", type=int, default=12)
    ap.add_argument("--heads", type=int, default=12)
    ap.add_argument("--kv-heads", type=int, default=12)
    ap.add_argument("--ffn", type=int, default=0, help="default 4 * dim")
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--prompt", type=int, default=64)
    ap.add_argument("--new", type=int, default=128, help="tokens generated per sequence")
    ap.add_argument("--vocab", type=int, default=260)
    ap.add_argument("--temperature", type=float, default=0.7)
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--dtype", default="bf16", choices=["bf16", "fp32"])
    ap.add_argument("--cache", default="dynamic", choices=["dynamic", "static"])
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--threads", type=int, default=0, help="CPU threads (0: torch's default)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--gguf", default="", help="a real model: a GGUF file (weights in fp32)")
    ap.add_argument("--f32-cache", default="", help="with --gguf: keep the fp32 copy here")
    a = ap.parse_args(argv)
    if a.gguf and a.dtype != "fp32":
        ap.error("--gguf runs in fp32 (--dtype fp32)")
    if a.ffn <= 0:
        a.ffn = 4 * a.dim
    if a.dim % a.heads or a.heads % a.kv_heads or (a.dim // a.heads) % 2:
        ap.error("need dim %% heads == 0, heads %% kv_heads == 0 and an even head dim")
    if a.batch < 1 or a.prompt < 1 or a.new < 2 or a.repeats < 1:
        ap.error("need batch >= 1, prompt >= 1, new >= 2, repeats >= 1")
    return a


def load_gguf(path, cache, torch, transformers):
    """LlamaForCausalLM with the weights of the GGUF file at path, in fp32, on the CPU (tied
    head when the file has none). cache: a folder for the fp32 copy, or ""."""
    transformers.logging.set_verbosity_error()
    name = os.path.splitext(os.path.basename(path))[0]
    copy = os.path.join(cache, name + "-f32") if cache else ""
    if copy and os.path.exists(os.path.join(copy, "config.json")):
        return transformers.LlamaForCausalLM.from_pretrained(copy, torch_dtype=torch.float32)
    from transformers.modeling_gguf_pytorch_utils import load_gguf_checkpoint
    c = load_gguf_checkpoint(path)["config"]
    if c.get("model_type") != "llama":
        raise SystemExit("hf_generate: %s is a %s GGUF (llama only)" % (path, c.get("model_type")))
    keys = ["vocab_size", "hidden_size", "intermediate_size", "num_hidden_layers",
            "num_attention_heads", "num_key_value_heads", "head_dim", "rms_norm_eps",
            "rope_theta", "max_position_embeddings", "tie_word_embeddings", "bos_token_id",
            "eos_token_id", "pad_token_id"]
    model = transformers.LlamaForCausalLM(transformers.LlamaConfig(**{k: c[k] for k in keys if k in c}))
    sd = load_gguf_checkpoint(path, return_tensors=True, model_to_load=model)["tensors"]
    missing = model.load_state_dict({k: v.float() for k, v in sd.items()}, strict=False).missing_keys
    if missing and (missing != ["lm_head.weight"] or not model.config.tie_word_embeddings):
        raise SystemExit("hf_generate: %s lacks %s" % (path, missing))
    if copy:  # written beside, then renamed: a killed run leaves no half copy
        tmp = "%s.part%d" % (copy, os.getpid())
        model.save_pretrained(tmp, safe_serialization=True)
        os.rename(tmp, copy)
    return model


def build_model(a, torch, transformers):
    if a.gguf:
        model = load_gguf(a.gguf, a.f32_cache, torch, transformers).to(a.device).eval()
        c = model.config
        a.vocab, a.dim, a.layers = c.vocab_size, c.hidden_size, c.num_hidden_layers
        a.ffn, a.heads, a.kv_heads = c.intermediate_size, c.num_attention_heads, c.num_key_value_heads
        return model
    cfg = transformers.LlamaConfig(
        vocab_size=a.vocab, hidden_size=a.dim, intermediate_size=a.ffn,
        num_hidden_layers=a.layers, num_attention_heads=a.heads,
        num_key_value_heads=a.kv_heads, max_position_embeddings=a.prompt + a.new,
        rms_norm_eps=1e-5, rope_theta=10000.0, tie_word_embeddings=False,
        attention_bias=False, bos_token_id=0, eos_token_id=1, pad_token_id=0)
    torch.manual_seed(a.seed)
    dtype = torch.bfloat16 if a.dtype == "bf16" else torch.float32
    return transformers.LlamaForCausalLM(cfg).to(device=a.device, dtype=dtype).eval()


def main():
    a = parse_args(sys.argv[1:])
    if a.threads > 0:  # before torch loads its OpenMP and OpenBLAS runtimes
        for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
            os.environ[k] = str(a.threads)
        os.environ["OMP_WAIT_POLICY"] = "PASSIVE"
    os.environ.setdefault("TQDM_DISABLE", "1")  # the GGUF reader draws a progress bar
    import torch
    import transformers
    if a.threads > 0:
        torch.set_num_threads(a.threads)
    if a.device.startswith("cuda") and not torch.cuda.is_available():
        print("hf_generate: --device %s but torch sees no GPU" % a.device, file=sys.stderr)
        return 2
    model = build_model(a, torch, transformers)
    g = torch.Generator().manual_seed(a.seed + 1)
    prompts = torch.randint(2, a.vocab, (a.batch, a.prompt), generator=g).to(a.device)
    mask = torch.ones_like(prompts)
    pad = model.config.pad_token_id if model.config.pad_token_id is not None else 0

    def sync():
        if a.device.startswith("cuda"):
            torch.cuda.synchronize()

    def generate(n):
        # synced_gpus=False: one process. Left unset, transformers 4.49 imports
        # torch.distributed.fsdp to ask whether the model is sharded, which Debian's torch
        # 1.13 cannot import under Python 3.11 (a dataclass error).
        kw = dict(attention_mask=mask, do_sample=True, temperature=a.temperature, top_k=0,
                  top_p=1.0, max_new_tokens=n, min_new_tokens=n, pad_token_id=pad,
                  synced_gpus=False)
        if a.cache == "static":
            kw["cache_implementation"] = "static"
        sync()
        t0 = time.perf_counter()
        out = model.generate(prompts, **kw)
        sync()
        dt = time.perf_counter() - t0
        if out.shape != (a.batch, a.prompt + n):
            raise SystemExit("hf_generate: generate returned shape %s, expected %s"
                             % (tuple(out.shape), (a.batch, a.prompt + n)))
        return dt

    with torch.inference_mode():
        generate(min(a.new, 8))  # warm-up
        full = min(generate(a.new) for _ in range(a.repeats))
        first = min(generate(1) for _ in range(a.repeats))
    decode = max(full - first, 1e-9)
    tokens = a.batch * (a.new - 1)
    print(json.dumps({
        "impl": "hf-generate", "model": os.path.basename(a.gguf) if a.gguf else "random",
        "tokens_per_s": round(tokens / decode, 1),
        "step_ms": round(1e3 * decode / (a.new - 1), 3), "prefill_s": round(first, 3),
        "total_s": round(full, 3), "dim": a.dim, "layers": a.layers, "heads": a.heads,
        "kv_heads": a.kv_heads, "ffn": a.ffn, "batch": a.batch, "prompt": a.prompt,
        "new": a.new, "vocab": a.vocab, "device": a.device, "dtype": a.dtype,
        "cache": a.cache, "threads": torch.get_num_threads(), "torch": torch.__version__,
        "transformers": transformers.__version__,
    }))
    return 0


if __name__ == "__main__":
    sys.exit(main())
