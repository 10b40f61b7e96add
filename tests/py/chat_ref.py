"""tests/py/chat_ref.py ASSETS TOKDIR OUT: the reference prompt ids of the chat formats, from
each vendor's own code, for tests/shell/test_chat.sh:
  llama3   llama-models 0.3.0's ChatFormat.encode_dialog_prompt over its tiktoken tokenizer
  mistral  mistral-common 1.13.1's MistralTokenizer.encode_chat_completion (Mistral-7B v1)
  chatml   SmolLM2-135M-Instruct's own Jinja template (from its GGUF), rendered by jinja2 with
           add_generation_prompt, encoded by HF tokenizers (TOKDIR/smollm2.json)
and tiny LlamaForCausalLM / MistralForCausalLM / Qwen2ForCausalLM directories in OUT (random
weights, saved by transformers 4.49) that carry the real LLaMA-3, Mistral and Qwen
tokenizer.json and a tokenizer_config.json chat template, so that lemma reads the tokenizer
and the template as a user's model directory gives them (test_chat, test_from, test_export). Writes OUT/refs.json:
  {family: [{"system": S or null, "user": U, "ids": [...]}, ...]}."""
import json, os, sys
from pathlib import Path

import gguf, jinja2, torch
from tokenizers import Tokenizer

assets, tokdir, out = sys.argv[1:4]
os.makedirs(out, exist_ok=True)
USERS = ["What is 2 + 3?",
         "Natalia sold clips to 48 of her friends in April, and then she sold half as many clips to friends in May. "
         "How many clips did Natalia sell altogether in April and May?",
         "Find the value of $x$ such that $\\sqrt{x + 7} = 9$.",
         "  Spaces around, a tab\tand  two spaces  "]
SYSTEM = "Be brief. Show each step."
refs = {}

# LLaMA-3: Meta's own prompt format.
from llama_models.datatypes import RawMessage
from llama_models.llama3.chat_format import ChatFormat
from llama_models.llama3.tokenizer import Tokenizer as MetaTokenizer

cf = ChatFormat(MetaTokenizer(Path(assets) / "llama3.tiktoken"))
refs["llama3"] = []
for sys_msg in [None, SYSTEM]:
    for u in USERS:
        msgs = ([RawMessage(role="system", content=sys_msg)] if sys_msg else []) + [RawMessage(role="user", content=u)]
        refs["llama3"].append({"system": sys_msg, "user": u, "ids": cf.encode_dialog_prompt(msgs).tokens})

# Mistral: mistral-common's own encoding of a chat completion request.
from mistral_common.protocol.instruct.messages import SystemMessage, UserMessage
from mistral_common.protocol.instruct.request import ChatCompletionRequest
from mistral_common.tokens.tokenizers.mistral import MistralTokenizer

mt = MistralTokenizer.from_file(os.path.join(assets, "mistral.model"))
refs["mistral"] = []
for sys_msg in [None, SYSTEM]:
    for u in USERS:
        msgs = ([SystemMessage(content=sys_msg)] if sys_msg else []) + [UserMessage(content=u)]
        ids = mt.encode_chat_completion(ChatCompletionRequest(messages=msgs)).tokens
        refs["mistral"].append({"system": sys_msg, "user": u, "ids": ids})

# chatml: SmolLM2's own template.
r = gguf.GGUFReader(os.path.join(assets, "smollm2-135m-instruct-q4_1.gguf"))
f = r.fields["tokenizer.chat_template"]
tmpl = jinja2.Environment().from_string(bytes(f.parts[f.data[0]]).decode())
smol = Tokenizer.from_file(os.path.join(tokdir, "smollm2.json"))
refs["chatml"] = []
for sys_msg in [None, SYSTEM]:
    for u in USERS:
        msgs = ([{"role": "system", "content": sys_msg}] if sys_msg else []) + [{"role": "user", "content": u}]
        text = tmpl.render(messages=msgs, add_generation_prompt=True)
        refs["chatml"].append({"system": sys_msg, "user": u, "ids": smol.encode(text, add_special_tokens=False).ids})

# Tiny model directories with the real tokenizers (the weights do not matter here).
from transformers import (LlamaConfig, LlamaForCausalLM, MistralConfig, MistralForCausalLM, Qwen2Config,
                          Qwen2ForCausalLM)

torch.manual_seed(0)
small = dict(hidden_size=16, intermediate_size=32, num_hidden_layers=1, num_attention_heads=2,
             num_key_value_heads=1, tie_word_embeddings=True, max_position_embeddings=512)
LLAMA3_TEMPLATE = ("{{ bos_token }}{% for m in messages %}{{ '<|start_header_id|>' + m['role'] + "
                   "'<|end_header_id|>\n\n' + m['content'] | trim + '<|eot_id|>' }}{% endfor %}"
                   "{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\n\n' }}{% endif %}")
MISTRAL_TEMPLATE = ("{{ bos_token }}{% for m in messages %}{% if m['role'] == 'user' %}{{ '[INST] ' + m['content'] + "
                    "' [/INST]' }}{% else %}{{ m['content'] + eos_token }}{% endif %}{% endfor %}")
CHATML_TEMPLATE = ("{% for m in messages %}{{ '<|im_start|>' + m['role'] + '\n' + m['content'] + '<|im_end|>\n' }}"
                   "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}")
for name, cls, cfgcls, vocab, bos, eos, tok, tmpl_text in [
        ("llama3", LlamaForCausalLM, LlamaConfig, 128256, 128000, [128001, 128009], "llama3.json", LLAMA3_TEMPLATE),
        ("mistral", MistralForCausalLM, MistralConfig, 32000, 1, 2, "mistral.json", MISTRAL_TEMPLATE),
        # Qwen2 as Qwen2.5-7B has it: q/k/v biases, an untied head, the vocabulary padded to 151936
        ("qwen2", Qwen2ForCausalLM, Qwen2Config, 151936, None, [151645, 151643], "qwen.json", CHATML_TEMPLATE)]:
    d = os.path.join(out, name)
    kw = dict(small, tie_word_embeddings=name != "qwen2")
    cls(cfgcls(vocab_size=vocab, bos_token_id=bos, eos_token_id=eos, **kw)).save_pretrained(d, safe_serialization=True)
    Tokenizer.from_file(os.path.join(tokdir, tok)).save(os.path.join(d, "tokenizer.json"))
    json.dump({"chat_template": tmpl_text}, open(os.path.join(d, "tokenizer_config.json"), "w"))
json.dump(refs, open(os.path.join(out, "refs.json"), "w"))
print("made", sorted(refs), "and", ["llama3", "mistral", "qwen2"])
