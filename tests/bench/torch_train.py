"""PyTorch side of lemma's CPU training benchmark.

Trains lemma's architecture (RMSNorm, RoPE rotate-half, GQA attention, SwiGLU
MLP, untied head) in float32 on random tokens with AdamW, loss on every
position, and prints one line of JSON with the measured throughput:

  /usr/bin/python3 tests/bench/torch_train.py --dim 256 --layers 6 --heads 8 \
      --kv-heads 4 --ffn 768 --seq 256 --batch 8 --vocab 260 --threads 2 \
      --steps 10 --warmup 3
  -> {"impl": "torch", "tokens_per_s": ..., "step_ms": ..., "dim": ..., ...}

Fairness: OMP_NUM_THREADS / OPENBLAS_NUM_THREADS are set to --threads and
OMP_WAIT_POLICY=PASSIVE before torch is imported (Debian's torch runs matmuls
in OpenBLAS, whose thread pool would otherwise fight torch's OpenMP pool), and
torch.set_num_threads(--threads). OPENBLAS_CORETYPE is inherited (or set by
--blas-core): OpenBLAS 0.3.21 falls back to slow SSE3 "Prescott" kernels on
this VM's Xeon, and lemma links the same OpenBLAS, so give both the same
setting; the JSON's "blas_core" says which kernels ran. The model uses the fastest formulation we
found that computes the same function: fused q/k/v and w1/w3 projections, GQA
without materialising repeated k/v, explicit causal softmax computed in
--attn-chunks query chunks so fully masked blocks are skipped (torch 1.13 has
no scaled_dot_product_attention; it is used when present). Timed: forward +
backward + optimizer step, time.perf_counter, over --steps steps after --warmup.
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
    ap.add_argument("--seq", type=int, default=256)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--vocab", type=int, default=260)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--steps", type=int, default=10, help="timed steps")
    ap.add_argument("--warmup", type=int, default=3, help="untimed steps first")
    ap.add_argument("--lr", type=float, default=3e-4)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--attn-chunks", type=int, default=2,
                    help="causal attention in this many query chunks (skips masked blocks)")
    ap.add_argument("--blas-core", default="",
                    help="set OPENBLAS_CORETYPE (e.g. SkylakeX, Haswell); default: inherit the "
                         "environment. OpenBLAS 0.3.21 detects this VM's CPU as Prescott (SSE3 "
                         "kernels, ~4x slower sgemm): give C and torch the same setting")
    a = ap.parse_args(argv)
    if a.ffn <= 0:
        a.ffn = 3 * a.dim
    if a.dim % a.heads or a.heads % a.kv_heads or (a.dim // a.heads) % 2:
        ap.error("need dim %% heads == 0, heads %% kv_heads == 0 and an even head dim")
    if a.steps < 1 or a.warmup < 0 or a.threads < 1:
        ap.error("need steps >= 1, warmup >= 0, threads >= 1")
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
HAVE_SDPA = hasattr(F, "scaled_dot_product_attention")


def blas_core():
    """The kernel set OpenBLAS picked (torch's matmuls run there on Debian), or "n/a"."""
    import ctypes
    try:
        lib = ctypes.CDLL("libopenblas.so.0")
        lib.openblas_get_corename.restype = ctypes.c_char_p
        return lib.openblas_get_corename().decode()
    except (OSError, AttributeError):
        return "n/a"


class Block(BlockParams):
    def attention(self, x, cos, sin, mask, chunks):
        B, T, _ = x.shape
        H, KV, hd = self.H, self.KV, self.hd
        g = H // KV
        qkv = self.wqkv(x).view(B, T, H + 2 * KV, hd)
        q, k, v = qkv.split([H, KV, KV], dim=2)  # (B, T, heads, hd) views
        c, s = cos[:, None, :], sin[:, None, :]
        q = q * c + rotate_half(q) * s
        k = k * c + rotate_half(k) * s
        if HAVE_SDPA:
            q, k, v = q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2)
            k = k.repeat_interleave(g, dim=1)
            v = v.repeat_interleave(g, dim=1)
            y = F.scaled_dot_product_attention(q, k, v, is_causal=True).transpose(1, 2)
            return self.wo(y.reshape(B, T, H * hd))
        # GQA without copying k/v: the g query heads that share a kv head become rows
        # t*g + j of one (T*g, hd) matrix per (batch, kv head); mask row t*g + j is causal
        # row t. Causal: query chunk [t0, t1) needs keys [0, t1) only, so the score matrices
        # of later chunks are wider and the upper-right blocks are never computed.
        q = q.reshape(B, T, KV, g, hd).permute(0, 2, 1, 3, 4).reshape(B * KV, T * g, hd)
        k = k.transpose(1, 2).reshape(B * KV, T, hd)
        v = v.transpose(1, 2).reshape(B * KV, T, hd)
        ys = []
        for t0, t1 in chunks:
            sc = torch.baddbmm(mask[t0 * g:t1 * g, :t1].expand(B * KV, (t1 - t0) * g, t1),
                               q[:, t0 * g:t1 * g], k[:, :t1].transpose(1, 2),
                               alpha=1.0 / math.sqrt(hd))
            ys.append(torch.bmm(torch.softmax(sc, dim=-1), v[:, :t1]))
        y = ys[0] if len(ys) == 1 else torch.cat(ys, dim=1)
        y = y.view(B, KV, T, g, hd).permute(0, 2, 1, 3, 4).reshape(B, T, H * hd)
        return self.wo(y)

    def forward(self, x, cos, sin, mask, chunks):
        x = x + self.attention(self.attn_norm(x), cos, sin, mask, chunks)
        a, b = self.w13(self.mlp_norm(x)).chunk(2, dim=-1)
        return x + self.w2(F.silu(a) * b)


class Model(nn.Module):
    def __init__(self, a):
        super().__init__()
        self.a = a
        self.tok_emb = nn.Embedding(a.vocab, a.dim)
        self.layers = nn.ModuleList(Block(a) for _ in range(a.layers))
        self.norm = RMSNorm(a.dim)
        self.lm_head = nn.Linear(a.dim, a.vocab, bias=False)
        hd, T = a.dim // a.heads, a.seq
        inv_freq = 10000.0 ** (-torch.arange(0, hd, 2, dtype=torch.float32) / hd)
        ang = torch.outer(torch.arange(T, dtype=torch.float32), inv_freq)
        emb = torch.cat((ang, ang), dim=-1)
        self.register_buffer("cos", emb.cos(), persistent=False)
        self.register_buffer("sin", emb.sin(), persistent=False)
        g = a.heads // a.kv_heads
        causal = torch.full((T, T), float("-inf")).triu(1)
        self.register_buffer("mask", causal.repeat_interleave(g, dim=0), persistent=False)
        n = max(1, min(a.attn_chunks, T))
        self.chunks = [(T * i // n, T * (i + 1) // n) for i in range(n)]
        for n, p in self.named_parameters():
            if p.dim() == 2:
                nn.init.normal_(p, std=0.02)

    def forward(self, tokens, targets):
        x = self.tok_emb(tokens)
        for layer in self.layers:
            x = layer(x, self.cos, self.sin, self.mask, self.chunks)
        logits = self.lm_head(self.norm(x))
        return F.cross_entropy(logits.view(-1, logits.shape[-1]), targets.view(-1))


def main():
    a = args
    torch.manual_seed(a.seed)
    model = Model(a)
    decay = [p for p in model.parameters() if p.dim() == 2]
    no_decay = [p for p in model.parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.1},
                             {"params": no_decay, "weight_decay": 0.0}],
                            lr=a.lr, betas=(0.9, 0.95), eps=1e-8, foreach=True)
    n_params = sum(p.numel() for p in model.parameters())
    core = blas_core()
    if core == "Prescott" and not os.environ.get("OPENBLAS_CORETYPE"):
        sys.stderr.write("torch_train: warning: OpenBLAS runs its generic SSE3 (Prescott) kernels "
                         "on this CPU; OPENBLAS_CORETYPE=SkylakeX (or --blas-core) is several "
                         "times faster. lemma links the same OpenBLAS: use one setting for both\n")
    data = torch.randint(0, a.vocab, (a.warmup + a.steps, a.batch, a.seq + 1))
    batches = [(d[:, :-1].contiguous(), d[:, 1:].contiguous()) for d in data]

    def step(i):
        opt.zero_grad(set_to_none=True)
        loss = model(*batches[i])
        loss.backward()
        opt.step()
        return loss.item()

    for i in range(a.warmup):
        step(i)
    times, loss = [], float("nan")
    for i in range(a.warmup, a.warmup + a.steps):
        t0 = time.perf_counter()
        loss = step(i)
        times.append(time.perf_counter() - t0)
    step_s = sum(times) / len(times)
    tokens = a.batch * a.seq
    print(json.dumps({
        "impl": "torch", "tokens_per_s": round(tokens / step_s, 1),
        "step_ms": round(step_s * 1e3, 2), "step_ms_min": round(min(times) * 1e3, 2),
        "dim": a.dim, "layers": a.layers, "heads": a.heads, "kv_heads": a.kv_heads,
        "ffn": a.ffn, "seq": a.seq, "batch": a.batch, "vocab": a.vocab,
        "threads": a.threads, "steps": a.steps, "warmup": a.warmup,
        "n_params": n_params, "final_loss": round(loss, 4),
        "attention": "sdpa" if HAVE_SDPA else "explicit", "torch": torch.__version__,
        "blas_core": core,
    }))
    return 0


if __name__ == "__main__":
    sys.exit(main())
