"""tests/py/ref_gguf_model.py GGUF OUT.json [GREEDY]: reference logits (last position) and
greedy tokens of a real GGUF model (SmolLM2-135M-Instruct), dequantized and un-permuted by
transformers' own GGUF reader (modeling_gguf_pytorch_utils.load_gguf_checkpoint, which
transformers 4.49 uses for from_pretrained(gguf_file=...)), run in fp32 by LlamaForCausalLM.
Token ids are fixed here (a GSM8K-like prompt in the model's chat format, tokenized by
tests/shell/test_import.sh with lemma and checked there against HF tokenizers)."""
import json, sys

import torch
from transformers import LlamaConfig, LlamaForCausalLM
from transformers.modeling_gguf_pytorch_utils import load_gguf_checkpoint

path, out = sys.argv[1], sys.argv[2]
greedy = int(sys.argv[3]) if len(sys.argv) > 3 else 64
ids_lines = [json.loads(l) for l in sys.stdin if l.strip()]
c = load_gguf_checkpoint(path)["config"]
cfg = LlamaConfig(vocab_size=c.get("vocab_size", 49152), hidden_size=c["hidden_size"],
                  intermediate_size=c["intermediate_size"], num_hidden_layers=c["num_hidden_layers"],
                  num_attention_heads=c["num_attention_heads"],
                  num_key_value_heads=c["num_key_value_heads"], rms_norm_eps=c["rms_norm_eps"],
                  rope_theta=c.get("rope_theta", 10000.0),
                  max_position_embeddings=c.get("max_position_embeddings", 2048),
                  tie_word_embeddings=True)
model = LlamaForCausalLM(cfg)
ck = load_gguf_checkpoint(path, return_tensors=True, model_to_load=model)
sd = {k: v.float() for k, v in ck["tensors"].items()}
res = model.load_state_dict(sd, strict=False)
assert not [k for k in res.missing_keys if k != "lm_head.weight"], res.missing_keys
model.tie_weights()
model.eval()
torch.set_num_threads(2)
refs = {"ids": ids_lines, "logits": [], "greedy": []}
with torch.no_grad():
    for ids in ids_lines:
        seq = list(ids)
        logits = model(torch.tensor([seq])).logits[0, -1]
        refs["logits"].append(logits.double().tolist())
        gen = []
        past = None
        x = torch.tensor([seq])
        for _ in range(greedy):
            o = model(x, past_key_values=past, use_cache=True)
            past = o.past_key_values
            nxt = int(o.logits[0, -1].argmax())
            gen.append(nxt)
            x = torch.tensor([[nxt]])
        refs["greedy"].append(gen)
json.dump({"smollm2": refs}, open(out, "w"))
print("reference:", len(ids_lines), "sequences")
