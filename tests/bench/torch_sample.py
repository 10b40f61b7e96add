"""PyTorch side of lemma's sampling benchmark: a KV-cache decoder.

The same architecture as lemma (RMSNorm, RoPE rotate-half, GQA attention, SwiGLU MLP,
untied head) in float32 with random weights. --batch sequences with random prompts of
--prompt tokens go through one prefill forward that fills preallocated caches
(batch, kv_heads, prompt + new, head_dim), then --new - 1 decode steps of one token per
sequence: embedding, per layer norm, fused qkv, RoPE at the position, k and v written into
the cache, GQA attention of the query over the cache (no repeated k/v), output projection,
SwiGLU; logits, then a draw at temperature 0.7 (torch.multinomial). Prints one JSON line:

  /usr/bin/python3 tests/bench/torch_sample.py --dim 256 --layers 6 --heads 8 \\
      --kv-heads 4 --ffn 768 --batch 64 --prompt 64 --new 128 --vocab 260 --threads 2
  -> {"impl": "torch", "tokens_per_s": ..., "step_ms": ..., ...}

Timed: the decode steps (time.perf_counter), as lemma's bench_sample. Fairness as in
torch_train.py: OMP_NUM_THREADS / OPENBLAS_NUM_THREADS set to --threads and
OMP_WAIT_POLICY=PASSIVE before torch is imported, torch.set_num_threads(--threads),
OPENBLAS_CORETYPE inherited (or --blas-core); torch.inference_mode(); every buffer of the
decode loop is allocated before it (caches, RoPE tables), so the loop measures the model.
"""
import argparse
import json
import math
import os
import sys
import time


def parse_args(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--dim", type=int, default=256)
    ap.add_argument("--layers", type=int, default=6)
    ap.add_argument("--heads", type=int, default=8)
    ap.add_argument("--kv-heads", type=int, default=4)
    ap.add_argument("--ffn", type=int, default=0, help="default 3 * dim")
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--prompt", type=int, default=64)
    ap.add_argument("--new", type=int, default=128, help="tokens generated per sequence")
    ap.add_argument("--vocab", type=int, default=260)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--temperature", type=float, default=0.7)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--blas-core", default="", help="set OPENBLAS_CORETYPE (default: inherit)")
    a = ap.parse_args(argv)
    if a.ffn <= 0:
        a.ffn = 3 * a.dim
    if a.dim % a.heads or a.heads % a.kv_heads or (a.dim // a.heads) % 2:
        ap.error("need dim %% heads == 0, heads %% kv_heads == 0 and an even head dim")
    if a.batch < 1 or a.prompt < 1 or a.new < 2 or a.threads < 1:
        ap.error("need batch >= 1, prompt >= 1, new >= 2, threads >= 1")
    return a


args = parse_args(sys.argv[1:])
# Must happen before torch (and its OpenMP / OpenBLAS runtimes) is loaded.
os.environ["OMP_NUM_THREADS"] = str(args.threads)
os.environ["OPENBLAS_NUM_THREADS"] = str(args.threads)
os.environ["OMP_WAIT_POLICY"] = "PASSIVE"
if args.blas_core:
    os.environ["OPENBLAS_CORETYPE"] = args.blas_core

import torch  # noqa: E402
import torch.nn as nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from torch_blocks import BlockParams, RMSNorm, rotate_half  # noqa: E402

torch.set_num_threads(args.threads)


class Block(BlockParams):
    def attention(self, x, cos, sin, kc, vc, t0):
        """x (B, T, C) at positions t0 .. t0+T-1; kc, vc (B, KV, Tmax, hd) caches."""
        B, T, _ = x.shape
        H, KV, hd = self.H, self.KV, self.hd
        g = H // KV
        qkv = self.wqkv(x).view(B, T, H + 2 * KV, hd)
        q, k, v = qkv.split([H, KV, KV], dim=2)
        c, s = cos[t0:t0 + T, None, :], sin[t0:t0 + T, None, :]
        q = q * c + rotate_half(q) * s
        k = k * c + rotate_half(k) * s
        kc[:, :, t0:t0 + T] = k.transpose(1, 2)
        vc[:, :, t0:t0 + T] = v.transpose(1, 2)
        n = t0 + T
        # GQA without copying k/v: the g query heads of a kv head are rows of one matrix
        qg = q.reshape(B, T, KV, g, hd).permute(0, 2, 1, 3, 4).reshape(B, KV, T * g, hd)
        sc = torch.matmul(qg, kc[:, :, :n].transpose(2, 3)) * (1.0 / math.sqrt(hd))
        if T > 1:  # prefill: causal within the prompt
            mask = torch.full((T, n), float("-inf")).triu(t0 + 1).repeat_interleave(g, dim=0)
            sc = sc + mask
        y = torch.matmul(torch.softmax(sc, dim=-1), vc[:, :, :n])  # (B, KV, T*g, hd)
        y = y.view(B, KV, T, g, hd).permute(0, 2, 1, 3, 4).reshape(B, T, H * hd)
        return self.wo(y)

    def forward(self, x, cos, sin, kc, vc, t0):
        x = x + self.attention(self.attn_norm(x), cos, sin, kc, vc, t0)
        a, b = self.w13(self.mlp_norm(x)).chunk(2, dim=-1)
        return x + self.w2(F.silu(a) * b)


class Model(nn.Module):
    def __init__(self, a):
        super().__init__()
        self.tok_emb = nn.Embedding(a.vocab, a.dim)
        self.layers = nn.ModuleList(Block(a) for _ in range(a.layers))
        self.norm = RMSNorm(a.dim)
        self.lm_head = nn.Linear(a.dim, a.vocab, bias=False)
        hd, T = a.dim // a.heads, a.prompt + a.new
        inv_freq = 10000.0 ** (-torch.arange(0, hd, 2, dtype=torch.float32) / hd)
        ang = torch.outer(torch.arange(T, dtype=torch.float32), inv_freq)
        emb = torch.cat((ang, ang), dim=-1)
        self.cos, self.sin = emb.cos(), emb.sin()
        for p in self.parameters():
            if p.dim() == 2:
                nn.init.normal_(p, std=0.02)

    def forward(self, tokens, caches, t0):
        """Logits of the last position of tokens (B, T) fed at positions t0 .."""
        x = self.tok_emb(tokens)
        for layer, (kc, vc) in zip(self.layers, caches):
            x = layer(x, self.cos, self.sin, kc, vc, t0)
        return self.lm_head(self.norm(x[:, -1]))


def main():
    a = args
    torch.manual_seed(a.seed)
    model = Model(a).eval()
    hd, T = a.dim // a.heads, a.prompt + a.new
    caches = [(torch.zeros(a.batch, a.kv_heads, T, hd), torch.zeros(a.batch, a.kv_heads, T, hd))
              for _ in range(a.layers)]
    prompts = torch.randint(0, 256, (a.batch, a.prompt))
    with torch.inference_mode():
        t_start = time.perf_counter()
        logits = model(prompts, caches, 0)
        tok = torch.multinomial(torch.softmax(logits / a.temperature, dim=-1), 1)
        t_prefill = time.perf_counter() - t_start
        t0 = time.perf_counter()
        for i in range(a.new - 1):
            logits = model(tok, caches, a.prompt + i)
            tok = torch.multinomial(torch.softmax(logits / a.temperature, dim=-1), 1)
        dt = time.perf_counter() - t0
    tokens = a.batch * (a.new - 1)
    print(json.dumps({
        "impl": "torch", "tokens_per_s": round(tokens / dt, 1),
        "step_ms": round(1e3 * dt / (a.new - 1), 3), "prefill_s": round(t_prefill, 3),
        "dim": a.dim, "layers": a.layers, "heads": a.heads, "kv_heads": a.kv_heads,
        "ffn": a.ffn, "batch": a.batch, "prompt": a.prompt, "new": a.new, "vocab": a.vocab,
        "threads": a.threads, "torch": torch.__version__,
    }))
    return 0


if __name__ == "__main__":
    sys.exit(main())
