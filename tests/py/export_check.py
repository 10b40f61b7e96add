"""Checks of lemma's exports against independent readers, for tests/shell/test_export.sh.

    python export_check.py hf NAME EXPORT_DIR CKPT.h5 SOURCE_DIR DTYPE
        transformers loads EXPORT_DIR (from_pretrained) and its logits on fixed ids equal those
        of the checkpoint's parameters (read with h5py, tests/py/ckpt_greedy.py), rounded to
        bf16 first for a bf16 export: relative difference at most 1e-5. Each line on stdin,
        {"prompt": ids, "text": T, "n": N, "stop": ids}, is a prompt and what `lemma generate`
        printed for it: transformers' greedy decoding of the export (N tokens, or up to a stop
        id), decoded by SOURCE_DIR/tokenizer.json, must be T.
    python export_check.py gguf NAME FILE CKPT.h5 SOURCE DTYPE
        PyPI gguf reads every tensor of FILE; each equals the checkpoint's tensor (in llama.cpp's
        names, layout and q/k row order) converted to DTYPE exactly as numpy converts it.
    python export_check.py gguf_tok NAME FILE SOURCE_DIR PRE VOCAB
        the tokenizer metadata of FILE, read by PyPI gguf, against SOURCE_DIR/tokenizer.json read
        by HF tokenizers: every token string (VOCAB of them, one per embedding row; rows beyond
        the tokenizer's ids as unused [PADi]), the merges in order, control tokens where the
        source has special added tokens, tokenizer.ggml.pre == PRE.
    python export_check.py tok_ids NAME LINES TOKENIZER_JSON IDS
        IDS (what `lemma tokenize` printed for the lines of LINES) against HF tokenizers'
        encode(add_special_tokens=False) of each line with TOKENIZER_JSON.
    python export_check.py tok_gguf NAME LINES FILE TOKENIZER_JSON
        transformers' own GGUF tokenizer loading of FILE encodes each line of LINES as HF
        tokenizers does with TOKENIZER_JSON (SentencePiece tokenizers: transformers reads the
        scores and merges; its GGUF loader ignores tokenizer.ggml.pre, so byte-level ones are
        checked through tok_ids instead).
"""
import json
import os
import sys

import h5py
import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ckpt_greedy import hf_name  # noqa: E402


def ckpt_params(path):
    with h5py.File(path, "r") as f:
        return {k: v[...].astype(np.float32) for k, v in f["model/params"].items()}


def bf16_round(a):
    """fp32 -> bf16 (round to nearest even) -> fp32, as torch does it."""
    return torch.from_numpy(a).to(torch.bfloat16).float().numpy()


def check_hf(name, export_dir, ckpt, source_dir, dtype):
    from transformers import AutoConfig, AutoModelForCausalLM
    got = AutoModelForCausalLM.from_pretrained(export_dir, torch_dtype=torch.float32).eval()
    cfg = AutoConfig.from_pretrained(source_dir)
    ref = AutoModelForCausalLM.from_config(cfg, torch_dtype=torch.float32).eval()
    sd = {}
    for k, a in ckpt_params(ckpt).items():
        sd[hf_name(k)] = torch.from_numpy(bf16_round(a) if dtype == "bf16" else a)
    if cfg.tie_word_embeddings:
        sd["lm_head.weight"] = sd["model.embed_tokens.weight"]
    ref.load_state_dict(sd)
    ids = torch.tensor([[1, 5, 9, 200, 33, 7, 1000, 42, 3, 17, 64, 128]])
    with torch.no_grad():
        a, b = got(ids).logits, ref(ids).logits
    rel = float((a - b).abs().max() / b.abs().max())
    ok = rel <= 1e-5
    print("%s %s_logits (transformers on the export vs the checkpoint%s: relative %.2g)"
          % ("PASS" if ok else "FAIL", name, " rounded to bf16" if dtype == "bf16" else "", rel))
    from tokenizers import Tokenizer
    tok = Tokenizer.from_file(os.path.join(source_dir, "tokenizer.json"))
    for i, line in enumerate(sys.stdin):
        q = json.loads(line)
        x, out, past = torch.tensor([q["prompt"]]), [], None
        with torch.no_grad():
            for _ in range(q["n"]):
                r = got(input_ids=x, past_key_values=past, use_cache=True)
                past, nxt = r.past_key_values, int(r.logits[0, -1].argmax())
                if nxt in q["stop"]:
                    break
                out.append(nxt)
                x = torch.tensor([[nxt]])
        text = tok.decode(out, skip_special_tokens=False)
        ok = text == q["text"]
        print("%s %s_greedy_%d (%d tokens by transformers on the export%s)" % (
            "PASS" if ok else "FAIL", name, i, len(out), "" if ok else ": lemma %r, transformers %r"
            % (q["text"][:60], text[:60])))


GGUF_NAMES = {"tok_emb": "token_embd.weight", "norm": "output_norm.weight", "lm_head": "output.weight",
              "attn_norm": "attn_norm.weight", "mlp_norm": "ffn_norm.weight", "attn.wq": "attn_q.weight",
              "attn.wk": "attn_k.weight", "attn.wv": "attn_v.weight", "attn.wo": "attn_output.weight",
              "attn.bq": "attn_q.bias", "attn.bk": "attn_k.bias", "attn.bv": "attn_v.bias",
              "mlp.w1": "ffn_gate.weight", "mlp.w3": "ffn_up.weight", "mlp.w2": "ffn_down.weight"}


def llama_cpp_order(a, heads):
    """llama.cpp's q/k rows: within each head, the two rotate-half halves interleaved (what its
    converter does to a Hugging Face checkpoint)."""
    rows = a.shape[0]
    hd = rows // heads
    return a.reshape(heads, 2, hd // 2, *a.shape[1:]).swapaxes(1, 2).reshape(a.shape)


def check_gguf(name, path, ckpt, source, dtype):
    import gguf
    r = gguf.GGUFReader(path)
    arch = bytes(r.fields["general.architecture"].parts[-1]).decode()
    nh = int(r.fields[arch + ".attention.head_count"].parts[-1][0])
    nkv = int(r.fields[arch + ".attention.head_count_kv"].parts[-1][0])
    tensors = {t.name: t for t in r.tensors}
    want_type = {"f32": np.float32, "f16": np.float16}.get(dtype)
    bad, n = [], 0
    for k, a in ckpt_params(ckpt).items():
        parts = k.split(".")
        key = ".".join(parts[2:]) if parts[0] == "layers" else k
        g = GGUF_NAMES[key] if parts[0] != "layers" else "blk.%s.%s" % (parts[1], GGUF_NAMES[key])
        if k == "lm_head" and g not in tensors:
            continue
        if arch == "llama" and key in ("attn.wq", "attn.bq"):
            a = llama_cpp_order(a, nh)
        if arch == "llama" and key in ("attn.wk", "attn.bk"):
            a = llama_cpp_order(a, nkv)
        t = tensors.get(g)
        if t is None:
            bad.append("%s missing" % g)
            continue
        data = np.array(t.data)
        if a.ndim == 1 or want_type == np.float32:
            exp = a
        elif want_type == np.float16:
            exp = a.astype(np.float16)
        else:  # bf16: gguf hands back the raw 16-bit words
            exp = (torch.from_numpy(a).to(torch.bfloat16).view(torch.int16).numpy()).view(np.uint16)
            data = data.view(np.uint16)
        n += 1
        if data.reshape(-1).tobytes() != np.ascontiguousarray(exp).reshape(-1).tobytes():
            bad.append(g)
    print("%s %s_tensors (%d tensors read back by gguf bit-exact%s)" % (
        "FAIL" if bad else "PASS", name, n, "; differ: %s" % bad[:4] if bad else ""))


def field(r, key):
    f = r.fields.get(key)
    if f is None:
        return None
    if len(f.data) == 1 and f.types[0] != gguf_types().ARRAY:
        v = f.parts[f.data[0]]
        return bytes(v).decode() if f.types[0] == gguf_types().STRING else v[0].item()
    return [bytes(f.parts[k]).decode() if f.types[-1] == gguf_types().STRING else f.parts[k][0].item()
            for k in f.data]


def gguf_types():
    import gguf
    return gguf.GGUFValueType


def check_gguf_tok(name, path, source_dir, pre, vocab_rows):
    import gguf
    from tokenizers import Tokenizer
    r = gguf.GGUFReader(path)
    src = json.load(open(os.path.join(source_dir, "tokenizer.json"), encoding="utf-8"))
    hf = Tokenizer.from_file(os.path.join(source_dir, "tokenizer.json"))
    tokens, types = field(r, "tokenizer.ggml.tokens"), field(r, "tokenizer.ggml.token_type")
    merges = field(r, "tokenizer.ggml.merges") or []
    bad = []
    n, vocab = len(tokens), int(vocab_rows)
    if n != vocab:
        bad.append("%d tokens, the embedding has %d rows" % (n, vocab))
    # ids the source does not have (the embedding's padding rows) are [PADi] of type unused (5)
    wrong = [i for i in range(n) if (hf.id_to_token(i) or "[PAD%d]" % i) != tokens[i]
             or (hf.id_to_token(i) is None and types[i] != 5)]
    if wrong:
        bad.append("token strings differ at ids %s" % wrong[:5])
    want_merges = [m if isinstance(m, str) else " ".join(m) for m in src["model"].get("merges", [])]
    if merges != want_merges:
        k = next((i for i in range(min(len(merges), len(want_merges))) if merges[i] != want_merges[i]),
                 min(len(merges), len(want_merges)))
        bad.append("merges differ at rank %d (%d vs %d merges)" % (k, len(merges), len(want_merges)))
    special = {a["id"] for a in src.get("added_tokens", []) if a.get("special")}
    unk = hf.token_to_id(src["model"]["unk_token"]) if src["model"].get("unk_token") else None
    if any((types[i] == 3) != (i in special) for i in range(n) if i != unk):
        bad.append("control tokens are not the special added tokens")
    got_pre = field(r, "tokenizer.ggml.pre")
    if got_pre != pre:
        bad.append("tokenizer.ggml.pre %r, wanted %r" % (got_pre, pre))
    print("%s %s_tokenizer_metadata (%d tokens, %d merges, pre %s%s)" % (
        "FAIL" if bad else "PASS", name, n, len(merges), got_pre, "; " + "; ".join(bad) if bad else ""))


def lines_of(path):
    return open(path, encoding="utf-8").read().split("\n")[:-1]


def report(name, what, lines, got, want):
    bad = [i for i in range(len(lines)) if got[i] != want[i]]
    print("%s %s (%d lines%s)" % ("FAIL" if bad else "PASS", name, len(lines),
          "; %d differ, first %r: %s vs %s" % (len(bad), lines[bad[0]][:50], got[bad[0]][:8], want[bad[0]][:8])
          if bad else ", " + what))


def check_tok_ids(name, lines_path, tok_json, ids_path):
    from tokenizers import Tokenizer
    lines = lines_of(lines_path)
    got = [json.loads(l)["ids"] for l in open(ids_path)]
    tok = Tokenizer.from_file(tok_json)
    want = [tok.encode(x, add_special_tokens=False).ids for x in lines]
    if len(got) != len(lines):
        print("FAIL %s: %d id lines for %d lines" % (name, len(got), len(lines)))
        return
    report(name, "lemma's reading of the GGUF encodes as HF tokenizers on the source", lines, got, want)


def check_tok_gguf(name, lines_path, path, tok_json):
    os.environ.setdefault("TQDM_DISABLE", "1")
    from tokenizers import Tokenizer
    from transformers import AutoTokenizer
    from transformers.utils import logging
    logging.set_verbosity_error()
    lines = lines_of(lines_path)
    t = AutoTokenizer.from_pretrained(os.path.dirname(os.path.abspath(path)), gguf_file=os.path.basename(path))
    tok = Tokenizer.from_file(tok_json)
    got = [t.encode(x, add_special_tokens=False) for x in lines]
    want = [tok.encode(x, add_special_tokens=False).ids for x in lines]
    report(name, "transformers' GGUF tokenizer encodes as the source", lines, got, want)


if __name__ == "__main__":
    kind = sys.argv[1]
    {"hf": check_hf, "gguf": check_gguf, "gguf_tok": check_gguf_tok, "tok_ids": check_tok_ids,
     "tok_gguf": check_tok_gguf}[kind](*sys.argv[2:])
