"""Independent PyTorch reference for lemma's C parity tests.

A plain, readable float32 PyTorch implementation of lemma's LLaMA-style model
(byte vocabulary, RMSNorm, RoPE rotate-half, GQA attention with optional q/k/v
biases and optional segment (record) masking, SwiGLU MLP, tied or untied head)
plus the driver that the C parity test calls:

    /usr/bin/python3 tests/ref/model_ref.py DIR

DIR is an exchange directory written by the C test. It holds config.json,
params.f32, tokens.i32, targets.i32 and, when config "use_seg" is true, seg.i32.
The driver writes, all as little-endian float32:
    ref_logits.f32        (B*T*V)  logits of batch 0 at the initial parameters
    ref_loss.f32          (1)      mean cross-entropy of batch 0 (targets -1 ignored)
    ref_grads.f32         (n_params) gradient of that loss, laid out like params.f32
    ref_losses.f32        (steps)  loss of batch i at step i of AdamW training
    ref_params_final.f32  (n_params) parameters after the last training step
Parameters are mapped by the names/offsets/shapes listed in config.json, never by
a hard-coded order. Any malformed input makes it exit with status 2 and a
message on stderr that names the problem.

The functions (rmsnorm, rope_cos_sin, apply_rope, attention, forward, ...) are
imported by tests/ref/check_ref.py, which checks them against independent
formulations. Threads: LEMMA_REF_THREADS (default 2).
"""
import json
import math
import os
import sys

_THREADS = int(os.environ.get("LEMMA_REF_THREADS", "2") or "2")
# Debian's torch sends matmuls to OpenBLAS; keep its pool the same size as torch's.
os.environ.setdefault("OMP_NUM_THREADS", str(_THREADS))
os.environ.setdefault("OPENBLAS_NUM_THREADS", str(_THREADS))

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

torch.set_num_threads(_THREADS)

DTYPE = torch.float32


class InputError(Exception):
    """Malformed exchange directory or configuration."""


# --------------------------------------------------------------------------
# Configuration and parameter layout
# --------------------------------------------------------------------------

_INT_KEYS = ["vocab", "dim", "n_layers", "n_heads", "n_kv_heads", "head_dim",
             "ffn_dim", "B", "T", "steps", "n_params"]
_FLOAT_KEYS = ["rope_theta", "norm_eps", "lr", "beta1", "beta2", "eps",
               "weight_decay", "grad_clip"]
_BOOL_KEYS = ["qkv_bias", "tied", "use_seg"]


def expected_shapes(cfg):
    """Name -> shape for every parameter the architecture described by cfg has."""
    V, C, F_ = cfg["vocab"], cfg["dim"], cfg["ffn_dim"]
    H, KV, hd = cfg["n_heads"], cfg["n_kv_heads"], cfg["head_dim"]
    shapes = {"tok_emb": (V, C), "norm": (C,)}
    for l in range(cfg["n_layers"]):
        p = "layers.%d." % l
        shapes[p + "attn_norm"] = (C,)
        shapes[p + "attn.wq"] = (H * hd, C)
        shapes[p + "attn.wk"] = (KV * hd, C)
        shapes[p + "attn.wv"] = (KV * hd, C)
        if cfg["qkv_bias"]:
            shapes[p + "attn.bq"] = (H * hd,)
            shapes[p + "attn.bk"] = (KV * hd,)
            shapes[p + "attn.bv"] = (KV * hd,)
        shapes[p + "attn.wo"] = (C, H * hd)
        shapes[p + "mlp_norm"] = (C,)
        shapes[p + "mlp.w1"] = (F_, C)
        shapes[p + "mlp.w3"] = (F_, C)
        shapes[p + "mlp.w2"] = (C, F_)
    if not cfg["tied"]:
        shapes["lm_head"] = (V, C)
    return shapes


def validate_config(cfg):
    """Checks types, sizes and the params list of a parsed config.json; raises InputError."""
    if not isinstance(cfg, dict):
        raise InputError("config.json: top level is not an object")
    for k in _INT_KEYS + _FLOAT_KEYS + _BOOL_KEYS + ["params"]:
        if k not in cfg:
            raise InputError("config.json: missing key %r" % k)
    for k in _INT_KEYS:
        v = cfg[k]
        if isinstance(v, bool) or not isinstance(v, int):
            raise InputError("config.json: %r must be an integer, got %r" % (k, v))
        if v <= 0:
            raise InputError("config.json: %r must be positive, got %r" % (k, v))
    for k in _FLOAT_KEYS:
        v = cfg[k]
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
            raise InputError("config.json: %r must be a finite number, got %r" % (k, v))
    for k in _BOOL_KEYS:
        if not isinstance(cfg[k], bool):
            raise InputError("config.json: %r must be true/false, got %r" % (k, cfg[k]))
    if cfg["head_dim"] % 2:
        raise InputError("config.json: head_dim must be even for RoPE, got %d" % cfg["head_dim"])
    if cfg["n_heads"] % cfg["n_kv_heads"]:
        raise InputError("config.json: n_heads (%d) is not a multiple of n_kv_heads (%d)"
                         % (cfg["n_heads"], cfg["n_kv_heads"]))
    if cfg["norm_eps"] <= 0 or cfg["rope_theta"] <= 0:
        raise InputError("config.json: norm_eps and rope_theta must be positive")
    if cfg["grad_clip"] < 0:
        raise InputError("config.json: grad_clip must be >= 0")

    plist = cfg["params"]
    if not isinstance(plist, list) or not plist:
        raise InputError("config.json: 'params' must be a non-empty list")
    want = expected_shapes(cfg)
    seen = {}
    covered = np.zeros(cfg["n_params"], dtype=np.int8)
    for i, e in enumerate(plist):
        if not isinstance(e, dict):
            raise InputError("config.json: params[%d] is not an object" % i)
        for k in ("name", "offset", "numel", "shape", "decay"):
            if k not in e:
                raise InputError("config.json: params[%d] lacks %r" % (i, k))
        name = e["name"]
        if name not in want:
            raise InputError("config.json: unexpected parameter %r for this architecture" % name)
        if name in seen:
            raise InputError("config.json: parameter %r listed twice" % name)
        shape = tuple(e["shape"]) if isinstance(e["shape"], list) else None
        if shape != want[name]:
            raise InputError("config.json: %r has shape %r, the architecture needs %r"
                             % (name, e["shape"], list(want[name])))
        off, n = e["offset"], e["numel"]
        if any(isinstance(x, bool) or not isinstance(x, int) for x in (off, n)):
            raise InputError("config.json: %r offset/numel must be integers" % name)
        if n != int(np.prod(shape)):
            raise InputError("config.json: %r numel %d != product of shape %r" % (name, n, shape))
        if off < 0 or off + n > cfg["n_params"]:
            raise InputError("config.json: %r [%d, %d) lies outside n_params=%d"
                             % (name, off, off + n, cfg["n_params"]))
        if covered[off:off + n].any():
            raise InputError("config.json: %r overlaps another parameter" % name)
        covered[off:off + n] = 1
        if e["decay"] not in (0, 1) or isinstance(e["decay"], bool):
            raise InputError("config.json: %r decay must be 0 or 1" % name)
        seen[name] = e
    missing = sorted(set(want) - set(seen))
    if missing:
        raise InputError("config.json: missing parameters: %s" % ", ".join(missing[:5]))
    if cfg["tied"] and "lm_head" in seen:
        raise InputError("config.json: tied model must not list lm_head")


def _read_array(path, dtype, count, what):
    if not os.path.isfile(path):
        raise InputError("missing file %s" % path)
    size = os.path.getsize(path)
    itemsize = np.dtype(dtype).itemsize
    if size != count * itemsize:
        raise InputError("%s: %d bytes, expected %d (%s = %d x %d bytes)"
                         % (path, size, count * itemsize, what, count, itemsize))
    return np.fromfile(path, dtype=dtype, count=count)


def load_exchange(d):
    """Reads and validates an exchange directory. Returns (cfg, flat params, tokens, targets, seg)."""
    if not os.path.isdir(d):
        raise InputError("exchange directory %s does not exist" % d)
    cpath = os.path.join(d, "config.json")
    if not os.path.isfile(cpath):
        raise InputError("missing file %s" % cpath)
    try:
        with open(cpath) as f:
            cfg = json.load(f)
    except (ValueError, UnicodeDecodeError) as e:
        raise InputError("%s: not valid JSON (%s)" % (cpath, e))
    validate_config(cfg)
    S, B, T, V = cfg["steps"], cfg["B"], cfg["T"], cfg["vocab"]
    flat = _read_array(os.path.join(d, "params.f32"), "<f4", cfg["n_params"], "n_params floats")
    if not np.isfinite(flat).all():
        raise InputError("params.f32 contains non-finite values")
    tokens = _read_array(os.path.join(d, "tokens.i32"), "<i4", S * B * T,
                         "steps*B*T int32").reshape(S, B, T)
    targets = _read_array(os.path.join(d, "targets.i32"), "<i4", S * B * T,
                          "steps*B*T int32").reshape(S, B, T)
    if tokens.min() < 0 or tokens.max() >= V:
        raise InputError("tokens.i32: token ids must be in [0, %d), found [%d, %d]"
                         % (V, tokens.min(), tokens.max()))
    if targets.min() < -1 or targets.max() >= V:
        raise InputError("targets.i32: targets must be -1 or in [0, %d), found [%d, %d]"
                         % (V, targets.min(), targets.max()))
    seg = None
    if cfg["use_seg"]:
        seg = _read_array(os.path.join(d, "seg.i32"), "<i4", B * T, "B*T int32").reshape(B, T)
    return cfg, flat, tokens, targets, seg


def params_from_flat(cfg, flat, dtype=DTYPE, requires_grad=True):
    """Name -> leaf tensor, copied out of the flat buffer by the config's offsets and shapes."""
    out = {}
    for e in cfg["params"]:
        a = np.asarray(flat[e["offset"]:e["offset"] + e["numel"]], dtype=np.float64)
        t = torch.tensor(a.reshape(e["shape"]), dtype=dtype)
        out[e["name"]] = t.requires_grad_(requires_grad)
    return out


def flat_from_tensors(cfg, tensors):
    """Inverse of params_from_flat: name -> tensor (or None = zeros) into a float32 buffer."""
    flat = np.zeros(cfg["n_params"], dtype="<f4")
    for e in cfg["params"]:
        t = tensors.get(e["name"])
        if t is not None:
            flat[e["offset"]:e["offset"] + e["numel"]] = t.detach().to(torch.float32).reshape(-1).numpy()
    return flat


# --------------------------------------------------------------------------
# Model
# --------------------------------------------------------------------------

def rmsnorm(x, weight, eps):
    """x / sqrt(mean(x^2) + eps) * weight over the last dimension."""
    ms = (x * x).mean(dim=-1, keepdim=True)
    return x / torch.sqrt(ms + eps) * weight


def positions_from_seg(seg):
    """(B, T) record ids -> (B, T) positions that restart at 0 where a record starts.

    A record is a maximal run of equal ids: t starts a record when t == 0 or
    seg[b, t] != seg[b, t-1]."""
    seg = torch.as_tensor(seg)
    B, T = seg.shape
    idx = torch.arange(T).expand(B, T)
    is_start = torch.ones(B, T, dtype=torch.bool)
    is_start[:, 1:] = seg[:, 1:] != seg[:, :-1]
    start = torch.where(is_start, idx, torch.zeros_like(idx))
    start = torch.cummax(start, dim=1).values
    return idx - start


def rope_cos_sin(pos, head_dim, theta, dtype=DTYPE):
    """cos, sin of shape pos.shape + (head_dim,), HF layout cat([angle, angle])."""
    half = head_dim // 2
    i = torch.arange(half, dtype=torch.float64)
    inv_freq = theta ** (-2.0 * i / head_dim)
    angle = torch.as_tensor(pos, dtype=torch.float64)[..., None] * inv_freq
    emb = torch.cat([angle, angle], dim=-1)
    return torch.cos(emb).to(dtype), torch.sin(emb).to(dtype)


def rotate_half(x):
    half = x.shape[-1] // 2
    return torch.cat([-x[..., half:], x[..., :half]], dim=-1)


def apply_rope(x, cos, sin):
    """x: (B, T, heads, hd); cos/sin: (T, hd) or (B, T, hd)."""
    if cos.dim() == 2:
        cos, sin = cos[None, :, None, :], sin[None, :, None, :]
    else:
        cos, sin = cos[:, :, None, :], sin[:, :, None, :]
    return x * cos + rotate_half(x) * sin


def attention_mask(B, T, seg=None):
    """(B, 1, T, T) bool, True where query t may attend key s."""
    t = torch.arange(T)
    allowed = (t[None, :] <= t[:, None]).expand(B, T, T)
    if seg is not None:
        seg = torch.as_tensor(seg)
        allowed = allowed & (seg[:, None, :] == seg[:, :, None])
    return allowed[:, None, :, :]


def attention(q, k, v, mask):
    """q: (B, T, H, hd), k/v: (B, T, KV, hd), mask (B, 1, T, T) bool -> (B, T, H*hd).

    GQA: query head h reads kv head h // (H // KV). Softmax in float32 (or the
    input dtype if wider)."""
    B, T, H, hd = q.shape
    KV = k.shape[2]
    group = H // KV
    k = k.repeat_interleave(group, dim=2)
    v = v.repeat_interleave(group, dim=2)
    q, k, v = q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2)  # (B, H, T, hd)
    scores = torch.matmul(q, k.transpose(-1, -2)) / math.sqrt(hd)
    sdtype = torch.float64 if q.dtype == torch.float64 else torch.float32
    scores = scores.to(sdtype).masked_fill(~mask, float("-inf"))
    p = torch.softmax(scores, dim=-1).to(q.dtype)
    out = torch.matmul(p, v)  # (B, H, T, hd)
    return out.transpose(1, 2).reshape(B, T, H * hd)


def attention_block(P, prefix, h, cfg, cos, sin, mask):
    """The attention sub-layer on the normed input h (B, T, C), before the residual add."""
    B, T, _ = h.shape
    H, KV, hd = cfg["n_heads"], cfg["n_kv_heads"], cfg["head_dim"]
    q = h @ P[prefix + "attn.wq"].t()
    k = h @ P[prefix + "attn.wk"].t()
    v = h @ P[prefix + "attn.wv"].t()
    if cfg["qkv_bias"]:
        q = q + P[prefix + "attn.bq"]
        k = k + P[prefix + "attn.bk"]
        v = v + P[prefix + "attn.bv"]
    q = apply_rope(q.reshape(B, T, H, hd), cos, sin)
    k = apply_rope(k.reshape(B, T, KV, hd), cos, sin)
    v = v.reshape(B, T, KV, hd)
    return attention(q, k, v, mask) @ P[prefix + "attn.wo"].t()


def mlp_block(P, prefix, h):
    a = h @ P[prefix + "mlp.w1"].t()
    b = h @ P[prefix + "mlp.w3"].t()
    return (F.silu(a) * b) @ P[prefix + "mlp.w2"].t()


def forward(P, cfg, tokens, seg=None, positions=None):
    """Logits (B, T, V) for tokens (B, T). P: name -> tensor. seg: (B, T) record ids or None.

    positions: optional explicit (T,) or (B, T) positions; by default 0..T-1,
    or restarting per record when seg is given."""
    tokens = torch.as_tensor(tokens, dtype=torch.long)
    B, T = tokens.shape
    dtype = P["tok_emb"].dtype
    if positions is None:
        positions = positions_from_seg(seg) if seg is not None else torch.arange(T)
    cos, sin = rope_cos_sin(positions, cfg["head_dim"], cfg["rope_theta"], dtype)
    mask = attention_mask(B, T, seg)
    eps = cfg["norm_eps"]
    x = P["tok_emb"][tokens]
    for l in range(cfg["n_layers"]):
        p = "layers.%d." % l
        h = rmsnorm(x, P[p + "attn_norm"], eps)
        x = x + attention_block(P, p, h, cfg, cos, sin, mask)
        h = rmsnorm(x, P[p + "mlp_norm"], eps)
        x = x + mlp_block(P, p, h)
    x = rmsnorm(x, P["norm"], eps)
    head = P["tok_emb"] if cfg["tied"] else P["lm_head"]
    return x @ head.t()


def loss_fn(logits, targets):
    """Mean cross-entropy over positions whose target != -1."""
    targets = torch.as_tensor(targets, dtype=torch.long)
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1),
                           ignore_index=-1)


def make_optimizer(cfg, P):
    """torch AdamW, decay=1 params with weight_decay, decay=0 ones without; constant lr."""
    decay = [P[e["name"]] for e in cfg["params"] if e["decay"] == 1]
    no_decay = [P[e["name"]] for e in cfg["params"] if e["decay"] == 0]
    groups = []
    if decay:
        groups.append({"params": decay, "weight_decay": cfg["weight_decay"]})
    if no_decay:
        groups.append({"params": no_decay, "weight_decay": 0.0})
    return torch.optim.AdamW(groups, lr=cfg["lr"], betas=(cfg["beta1"], cfg["beta2"]),
                             eps=cfg["eps"])


def train(cfg, flat, tokens, targets, seg=None):
    """AdamW from the initial flat parameters; returns (losses list, final name->tensor)."""
    P = params_from_flat(cfg, flat)
    opt = make_optimizer(cfg, P)
    plist = [P[e["name"]] for e in cfg["params"]]
    losses = []
    for i in range(cfg["steps"]):
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(forward(P, cfg, tokens[i], seg), targets[i])
        loss.backward()
        if cfg["grad_clip"] > 0:
            torch.nn.utils.clip_grad_norm_(plist, cfg["grad_clip"])
        opt.step()
        losses.append(float(loss.detach()))
    return losses, P


def _write(d, name, arr):
    np.ascontiguousarray(arr, dtype="<f4").tofile(os.path.join(d, name))


def run_exchange(d):
    cfg, flat, tokens, targets, seg = load_exchange(d)
    seg_t = torch.as_tensor(seg, dtype=torch.long) if seg is not None else None

    P = params_from_flat(cfg, flat)
    logits = forward(P, cfg, tokens[0], seg_t)
    loss = loss_fn(logits, targets[0])
    loss.backward()
    _write(d, "ref_logits.f32", logits.detach().numpy().reshape(-1))
    _write(d, "ref_loss.f32", np.array([loss.item()]))
    _write(d, "ref_grads.f32", flat_from_tensors(cfg, {n: t.grad for n, t in P.items()}))

    losses, Pf = train(cfg, flat, tokens, targets, seg_t)
    _write(d, "ref_losses.f32", np.array(losses, dtype=np.float64))
    _write(d, "ref_params_final.f32", flat_from_tensors(cfg, Pf))
    return loss.item(), losses


def main(argv):
    if len(argv) != 2:
        sys.stderr.write("usage: %s EXCHANGE_DIR\n" % argv[0])
        return 2
    try:
        loss, losses = run_exchange(argv[1])
    except InputError as e:
        sys.stderr.write("model_ref: error: %s\n" % e)
        return 2
    msg = "model_ref: loss %.6f" % loss
    if losses:
        msg += ", %d steps, last loss %.6f" % (len(losses), losses[-1])
    print(msg)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
