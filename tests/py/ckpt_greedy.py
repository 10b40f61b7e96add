"""Greedy decoding by transformers of a lemma checkpoint of an imported model.

    python ckpt_greedy.py CKPT.h5 HF_DIR N < ids

HF_DIR is the Hugging Face directory the run started from (its config.json gives the
architecture); the parameters are read from the checkpoint's model/params group with h5py
and put into the transformers model under the Hugging Face names, so that the fine-tuned
model lemma reopens is checked against an implementation that shares no code with it. Each
input line is a JSON list of prompt ids; each output line the JSON list of N greedy ids
(argmax, KV cache, no stopping). Exit 2 with a message on a checkpoint that does not fit.
"""
import json
import sys

import h5py
import torch
from transformers import AutoConfig, AutoModelForCausalLM

HF_NAMES = {  # lemma's names (src/model/layout.c) -> transformers' (per layer: {i})
    "tok_emb": "model.embed_tokens.weight",
    "norm": "model.norm.weight",
    "lm_head": "lm_head.weight",
    "layers.{i}.attn_norm": "model.layers.{i}.input_layernorm.weight",
    "layers.{i}.mlp_norm": "model.layers.{i}.post_attention_layernorm.weight",
    "layers.{i}.attn.wq": "model.layers.{i}.self_attn.q_proj.weight",
    "layers.{i}.attn.wk": "model.layers.{i}.self_attn.k_proj.weight",
    "layers.{i}.attn.wv": "model.layers.{i}.self_attn.v_proj.weight",
    "layers.{i}.attn.wo": "model.layers.{i}.self_attn.o_proj.weight",
    "layers.{i}.attn.bq": "model.layers.{i}.self_attn.q_proj.bias",
    "layers.{i}.attn.bk": "model.layers.{i}.self_attn.k_proj.bias",
    "layers.{i}.attn.bv": "model.layers.{i}.self_attn.v_proj.bias",
    "layers.{i}.mlp.w1": "model.layers.{i}.mlp.gate_proj.weight",
    "layers.{i}.mlp.w3": "model.layers.{i}.mlp.up_proj.weight",
    "layers.{i}.mlp.w2": "model.layers.{i}.mlp.down_proj.weight",
}


def hf_name(name):
    parts = name.split(".")
    if len(parts) > 1 and parts[0] == "layers":
        key = ".".join(["layers", "{i}"] + parts[2:])
        if key in HF_NAMES:
            return HF_NAMES[key].format(i=parts[1])
    return HF_NAMES.get(name)


def main():
    ckpt, hf_dir, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
    torch.manual_seed(0)
    cfg = AutoConfig.from_pretrained(hf_dir)
    model = AutoModelForCausalLM.from_config(cfg, torch_dtype=torch.float32).eval()
    want = model.state_dict()
    got = {}
    with h5py.File(ckpt, "r") as f:
        for name, ds in f["model/params"].items():
            key = hf_name(name)
            if key is None or key not in want or tuple(ds.shape) != tuple(want[key].shape):
                sys.exit("ckpt_greedy: %s: tensor %s %s has no place in %s" % (ckpt, name, ds.shape, hf_dir))
            got[key] = torch.from_numpy(ds[...].astype("float32"))
    if cfg.tie_word_embeddings:
        got["lm_head.weight"] = got["model.embed_tokens.weight"]
    missing = sorted(set(want) - set(got))
    if missing:
        sys.exit("ckpt_greedy: %s lacks %s" % (ckpt, ", ".join(missing)))
    model.load_state_dict(got)
    for line in sys.stdin:
        ids = torch.tensor([json.loads(line)])
        out, past = [], None
        with torch.no_grad():
            for _ in range(n):
                r = model(input_ids=ids, past_key_values=past, use_cache=True)
                past = r.past_key_values
                nxt = int(r.logits[0, -1].argmax())
                out.append(nxt)
                ids = torch.tensor([[nxt]])
        print(json.dumps(out))


if __name__ == "__main__":
    main()
