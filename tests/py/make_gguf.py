"""tests/py/make_gguf.py OUT: GGUF files of the tiny llama and qwen2 models of make_models.py
(OUT/<name>.pt) written with PyPI's gguf in F32, F16, BF16, Q8_0, Q4_0 and Q4_1, the way
llama.cpp's convert_hf_to_gguf.py lays them out (llama: q/k rows permuted; 1-D tensors F32).
References: gguf's own dequantization of every tensor, loaded into transformers, gives the
logits and greedy tokens (OUT/refs_gguf.json), and the expected lemma parameter buffer
(OUT/<file>.params.f32, lemma's layout order) for a bit-exact check of the dequantization.
"""
import json, os, sys

import gguf
import numpy as np
import torch
from gguf import GGMLQuantizationType as Q
from transformers import LlamaConfig, LlamaForCausalLM, Qwen2Config, Qwen2ForCausalLM

OUT = sys.argv[1]
IDS = [[1, 5, 9, 33, 70, 2, 100, 7], [3, 3, 3, 120, 64, 11]]
GREEDY = 64
CFG = dict(vocab_size=128, hidden_size=64, intermediate_size=96, num_hidden_layers=2,
           num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=256,
           rms_norm_eps=1e-5, rope_theta=10000.0)
TYPES = {"F32": Q.F32, "F16": Q.F16, "BF16": Q.BF16, "Q8_0": Q.Q8_0, "Q4_0": Q.Q4_0, "Q4_1": Q.Q4_1}


def permute(w, n_head):  # llama.cpp's convert_hf_to_gguf.py LlamaModel.permute
    return w.reshape(n_head, 2, w.shape[0] // n_head // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def unpermute(w, n_head):
    return w.reshape(n_head, w.shape[0] // n_head // 2, 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def gguf_names(arch, L):
    m = {"model.embed_tokens.weight": "token_embd.weight", "model.norm.weight": "output_norm.weight",
         "lm_head.weight": "output.weight"}
    for l in range(L):
        for hf, g in [("input_layernorm.weight", "attn_norm.weight"),
                      ("post_attention_layernorm.weight", "ffn_norm.weight"),
                      ("self_attn.q_proj.weight", "attn_q.weight"), ("self_attn.k_proj.weight", "attn_k.weight"),
                      ("self_attn.v_proj.weight", "attn_v.weight"), ("self_attn.o_proj.weight", "attn_output.weight"),
                      ("self_attn.q_proj.bias", "attn_q.bias"), ("self_attn.k_proj.bias", "attn_k.bias"),
                      ("self_attn.v_proj.bias", "attn_v.bias"), ("mlp.gate_proj.weight", "ffn_gate.weight"),
                      ("mlp.up_proj.weight", "ffn_up.weight"), ("mlp.down_proj.weight", "ffn_down.weight")]:
            m[f"model.layers.{l}.{hf}"] = f"blk.{l}.{g}"
    return m


def lemma_order(arch, L, tied):  # HF names in lemma's parameter-layout order
    names = ["model.embed_tokens.weight"]
    for l in range(L):
        p = f"model.layers.{l}."
        names += [p + "input_layernorm.weight", p + "self_attn.q_proj.weight", p + "self_attn.k_proj.weight",
                  p + "self_attn.v_proj.weight"]
        if arch == "qwen2":
            names += [p + "self_attn.q_proj.bias", p + "self_attn.k_proj.bias", p + "self_attn.v_proj.bias"]
        names += [p + "self_attn.o_proj.weight", p + "post_attention_layernorm.weight", p + "mlp.gate_proj.weight",
                  p + "mlp.up_proj.weight", p + "mlp.down_proj.weight"]
    names.append("model.norm.weight")
    if not tied:
        names.append("lm_head.weight")
    return names


def write(arch, sd, tname, path):
    H, KV, L = CFG["num_attention_heads"], CFG["num_key_value_heads"], CFG["num_hidden_layers"]
    w = gguf.GGUFWriter(path, arch=arch)
    w.add_context_length(CFG["max_position_embeddings"])
    w.add_embedding_length(CFG["hidden_size"])
    w.add_block_count(L)
    w.add_feed_forward_length(CFG["intermediate_size"])
    w.add_head_count(H)
    w.add_head_count_kv(KV)
    w.add_layer_norm_rms_eps(CFG["rms_norm_eps"])
    w.add_rope_freq_base(CFG["rope_theta"])
    w.add_rope_dimension_count(CFG["hidden_size"] // H)
    names = gguf_names(arch, L)
    deq = {}
    for hf, t in sd.items():
        if hf not in names:
            continue
        a = t.float().numpy().astype(np.float32)
        if arch == "llama" and hf.endswith(("q_proj.weight", "q_proj.bias")):
            a = permute(a, H)
        if arch == "llama" and hf.endswith(("k_proj.weight", "k_proj.bias")):
            a = permute(a, KV)
        qt = TYPES[tname] if a.ndim == 2 else Q.F32
        data = gguf.quants.quantize(a, qt) if qt != Q.F32 else a
        w.add_tensor(names[hf], data, raw_dtype=qt)
        back = gguf.quants.dequantize(data, qt).reshape(a.shape).astype(np.float32)
        if arch == "llama" and hf.endswith(("q_proj.weight", "q_proj.bias")):
            back = unpermute(back, H)
        if arch == "llama" and hf.endswith(("k_proj.weight", "k_proj.bias")):
            back = unpermute(back, KV)
        deq[hf] = back
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return deq


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


refs = {}
for arch in ("llama", "qwen2"):
    sd = torch.load(os.path.join(OUT, f"{arch}.pt"))
    tied = "lm_head.weight" not in sd or arch == "qwen2"
    if arch == "qwen2":
        sd = {k: v for k, v in sd.items() if k != "lm_head.weight"}
    for tname in TYPES:
        path = os.path.join(OUT, f"{arch}_{tname}.gguf")
        deq = write(arch, sd, tname, path)
        cfg = (LlamaConfig if arch == "llama" else Qwen2Config)(tie_word_embeddings=tied, **CFG)
        model = (LlamaForCausalLM if arch == "llama" else Qwen2ForCausalLM)(cfg)
        missing = model.load_state_dict({k: torch.from_numpy(v) for k, v in deq.items()}, strict=False)
        assert not [k for k in missing.missing_keys if "lm_head" not in k or not tied], missing
        if tied:
            model.tie_weights()
        refs[f"{arch}_{tname}"] = refs_of(model)
        flat = np.concatenate([deq[n].reshape(-1) for n in lemma_order(arch, CFG["num_hidden_layers"], tied)])
        flat.astype(np.float32).tofile(path + ".params.f32")
json.dump(refs, open(os.path.join(OUT, "refs_gguf.json"), "w"))
print("wrote", len(refs), "GGUF files")
