"""tests/bench/torch_blocks.py: the layers that the PyTorch sides of the benchmarks share
(torch_train.py, torch_sample.py): RMSNorm, RoPE's rotate-half, and the parameters of a
transformer block (fused QKV and w1|w3 projections, as lemma lays them out). Import it after
torch's threading and OpenBLAS environment are set."""
import torch
import torch.nn as nn


class RMSNorm(nn.Module):
    def __init__(self, dim, eps=1e-5):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * self.weight


def rotate_half(x):
    half = x.shape[-1] // 2
    return torch.cat((-x[..., half:], x[..., :half]), dim=-1)


class BlockParams(nn.Module):
    """A block's parameters for args a (dim, heads, kv_heads, ffn); subclasses add forward."""

    def __init__(self, a):
        super().__init__()
        self.H, self.KV, self.hd = a.heads, a.kv_heads, a.dim // a.heads
        self.attn_norm = RMSNorm(a.dim)
        self.wqkv = nn.Linear(a.dim, (self.H + 2 * self.KV) * self.hd, bias=False)
        self.wo = nn.Linear(self.H * self.hd, a.dim, bias=False)
        self.mlp_norm = RMSNorm(a.dim)
        self.w13 = nn.Linear(a.dim, 2 * a.ffn, bias=False)
        self.w2 = nn.Linear(a.ffn, a.dim, bias=False)
