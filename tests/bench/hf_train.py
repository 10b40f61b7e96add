"""transformers' side of lemma's real-model training benchmark (tests/bench/run.sh).

The LlamaForCausalLM of a GGUF file (SmolLM2-135M-Instruct in make bench) with its weights
dequantized to fp32 by transformers' GGUF reader (hf_generate.load_gguf, with its optional
fp32 copy in --f32-cache), trained as lemma's bench_train --model trains it: random tokens
(B, T) and random targets (B, T), the mean cross-entropy of every position over the logits
that LlamaForCausalLM returns, backward, the gradient norm clipped to 1, torch.optim.AdamW
(lr 1e-4, betas 0.9 / 0.95, eps 1e-8, weight decay 0.1 on matrices only, foreach). The
attention is what transformers 4.49 picks on this torch (eager on Debian's 1.13, which has
no scaled_dot_product_attention). Threads as tests/bench/torch_train.py: OMP_NUM_THREADS /
OPENBLAS_NUM_THREADS = --threads and OMP_WAIT_POLICY=PASSIVE before torch is imported.
Timed: each whole step (zero_grad, forward, backward, clip, step) after --warmup steps.

  python tests/bench/hf_train.py --gguf MODEL.gguf --batch 4 --seq 256 --steps 3 --warmup 1
  -> {"impl": "hf-train", "tokens_per_s": ..., "step_ms": ..., ...}
"""
import argparse
import json
import os
import sys
import time

ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
ap.add_argument("--gguf", required=True)
ap.add_argument("--f32-cache", default="", help="keep the fp32 copy of the weights here")
ap.add_argument("--batch", type=int, default=4)
ap.add_argument("--seq", type=int, default=256)
ap.add_argument("--steps", type=int, default=3, help="timed steps")
ap.add_argument("--warmup", type=int, default=1, help="untimed steps first")
ap.add_argument("--threads", type=int, default=2)
ap.add_argument("--lr", type=float, default=1e-4)
ap.add_argument("--seed", type=int, default=0)
args = ap.parse_args()
if args.steps < 1 or args.warmup < 0 or args.threads < 1:
    ap.error("need steps >= 1, warmup >= 0, threads >= 1")
for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ[k] = str(args.threads)
os.environ["OMP_WAIT_POLICY"] = "PASSIVE"
os.environ.setdefault("TQDM_DISABLE", "1")

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
import transformers  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from hf_generate import load_gguf  # noqa: E402

torch.set_num_threads(args.threads)


def main():
    a = args
    torch.manual_seed(a.seed)
    model = load_gguf(a.gguf, a.f32_cache, torch, transformers).train()
    model.config.use_cache = False
    V = model.config.vocab_size
    if a.seq > model.config.max_position_embeddings:
        ap.error("seq %d exceeds the model's context %d" % (a.seq, model.config.max_position_embeddings))
    params = list(model.parameters())  # the tied head once
    decay = [p for p in params if p.dim() == 2]
    no_decay = [p for p in params if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.1},
                             {"params": no_decay, "weight_decay": 0.0}],
                            lr=a.lr, betas=(0.9, 0.95), eps=1e-8, foreach=True)
    g = torch.Generator().manual_seed(a.seed + 1)
    n = a.warmup + a.steps
    tok = torch.randint(0, V, (n, a.batch, a.seq), generator=g)
    tgt = torch.randint(0, V, (n, a.batch, a.seq), generator=g)

    def step(i):
        opt.zero_grad(set_to_none=True)
        logits = model(input_ids=tok[i], use_cache=False).logits
        loss = F.cross_entropy(logits.view(-1, V), tgt[i].view(-1))
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        return loss.item()

    for i in range(a.warmup):
        step(i)
    times, loss = [], float("nan")
    for i in range(a.warmup, n):
        t0 = time.perf_counter()
        loss = step(i)
        times.append(time.perf_counter() - t0)
    step_s = sum(times) / len(times)
    c = model.config
    print(json.dumps({
        "impl": "hf-train", "model": os.path.basename(a.gguf),
        "tokens_per_s": round(a.batch * a.seq / step_s, 1), "step_ms": round(1e3 * step_s, 2),
        "step_ms_min": round(1e3 * min(times), 2), "dim": c.hidden_size,
        "layers": c.num_hidden_layers, "vocab": V, "seq": a.seq, "batch": a.batch,
        "threads": torch.get_num_threads(), "steps": a.steps, "warmup": a.warmup,
        "params": sum(p.numel() for p in params), "loss": round(loss, 4),
        "attention": c._attn_implementation, "torch": torch.__version__,
        "transformers": transformers.__version__,
    }))
    return 0


if __name__ == "__main__":
    sys.exit(main())
