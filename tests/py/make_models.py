"""tests/py/make_models.py OUT: tiny random models saved by transformers 4.49 and GGUF files
written with PyPI's gguf, with reference logits and greedy tokens from transformers, for
tests/shell/test_import.sh. Everything here is the reference side: lemma reads the files and
its outputs are compared with refs.json.

OUT/<name>/        Hugging Face directories (config.json, safetensors, tokenizer files absent)
OUT/<name>.gguf    GGUF files of the same weights (llama: q/k permuted as llama.cpp does)
OUT/refs.json      {name: {"ids": [[...]], "logits": [[...]], "greedy": [[...]]}}
OUT/gguf_deq/<name>.<tensor>.npy   gguf's own dequantization of every tensor
"""
import json, os, sys

import numpy as np
import torch
import transformers
from transformers import (LlamaConfig, LlamaForCausalLM, MistralConfig, MistralForCausalLM,
                          Qwen2Config, Qwen2ForCausalLM)

torch.manual_seed(0)
OUT = sys.argv[1]
os.makedirs(OUT, exist_ok=True)
IDS = [[1, 5, 9, 33, 70, 2, 100, 7], [3, 3, 3, 120, 64, 11]]
GREEDY = 64


def tiny(kind, **kw):
    common = dict(vocab_size=128, hidden_size=64, intermediate_size=96, num_hidden_layers=2,
                  num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=256,
                  rms_norm_eps=1e-5, rope_theta=10000.0)
    common.update(kw)
    if kind == "llama":
        return LlamaForCausalLM(LlamaConfig(**common))
    if kind == "qwen2":
        common.setdefault("tie_word_embeddings", True)
        return Qwen2ForCausalLM(Qwen2Config(**common))
    return MistralForCausalLM(MistralConfig(sliding_window=None, **common))


def spread(model):
    # Random init has zero biases and unit norms: make every parameter count.
    with torch.no_grad():
        for n, p in model.named_parameters():
            if n.endswith("bias") or "norm" in n:
                p.copy_(torch.randn_like(p) * 0.1 + (1.0 if "norm" in n else 0.0))
            else:
                p.mul_(5.0)
    return model


def refs_of(model):
    model.eval()
    out = {"ids": IDS, "logits": [], "greedy": []}
    with torch.no_grad():
        for ids in IDS:
            x = torch.tensor([ids])
            out["logits"].append(model(x).logits[0, -1].double().tolist())
            seq = list(ids)  # greedy by full forward passes (generate() needs torch.distributed)
            for _ in range(GREEDY):
                seq.append(int(model(torch.tensor([seq])).logits[0, -1].argmax()))
            out["greedy"].append(seq[len(ids):])
    return out


MODELS = {
    "llama": dict(kind="llama"),
    "llama_hd": dict(kind="llama", head_dim=32),  # head_dim != hidden / heads
    "llama31": dict(kind="llama", rope_scaling={"rope_type": "llama3", "factor": 8.0,
                    "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                    "original_max_position_embeddings": 16}),
    "qwen2": dict(kind="qwen2"),
    "qwen2_untied": dict(kind="qwen2", tie_word_embeddings=False),
    "mistral": dict(kind="mistral"),
}

refs = {}
for name, kw in MODELS.items():
    kw = dict(kw)
    kind = kw.pop("kind")
    model = spread(tiny(kind, **kw))
    for dtype in ("fp32", "bf16", "fp16"):
        d = os.path.join(OUT, f"{name}_{dtype}")
        m = model if dtype == "fp32" else model.to({"bf16": torch.bfloat16, "fp16": torch.float16}[dtype])
        shard = "20KB" if (name == "llama" and dtype == "fp32") else "10GB"
        m.save_pretrained(d, safe_serialization=True, max_shard_size=shard)
        # The same rounded weights computed in fp32, in a fresh model: .to(bf16) also rounded
        # the rotary frequencies (a buffer outside the state dict, not in the file).
        ref = type(model)(model.config)
        ref.load_state_dict({k: v.float() for k, v in m.state_dict().items()})
        refs[f"{name}_{dtype}"] = refs_of(ref)
        model = ref
    if name in ("llama", "qwen2"):
        torch.save({k: v.float() for k, v in model.state_dict().items()},
                   os.path.join(OUT, f"{name}.pt"))

json.dump(refs, open(os.path.join(OUT, "refs.json"), "w"))
print("made", len(MODELS) * 3, "models in", OUT)
