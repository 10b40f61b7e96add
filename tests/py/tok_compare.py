"""tests/py/tok_compare.py: lemma's tokenizer (tests/tools/tok_check) against Hugging Face
`tokenizers` on the tokenizer.json files of tests/py/make_tokenizers.py, and against tiktoken
and sentencepiece themselves where those agree with HF. Prints PASS/FAIL/SKIP lines
(tests/shell/lib.sh conventions) and '#' lines with the counts.

    python tok_compare.py --bin BUILD/tools/tok_check --tok TOKDIR --assets ASSETS
                          [--data DIR] [--fixture FILE] --work SCRATCH

Texts: every question/answer/problem/solution string of DIR/gsm8k/*.jsonl and
DIR/math/*.jsonl (or the fixture's lines when DIR is absent), a Unicode/whitespace torture
set (below, with byte strings that are not UTF-8, which both sides read as Rust's and
Python's lossy UTF-8 decoding does), and a sweep over the code points (each one alone,
after a space, inside a word, before a digit). Per tokenizer and set: the ids of
encode(add_special_tokens=False), decode with skip_special_tokens True and False, that the
concatenated pieces make the decoded text, and decode(encode(x)) == normalizer(x) for the
byte-level ones; decode of random id lists; bos/eos and token_id lookups.
"""
import argparse
import concurrent.futures
import glob
import json
import os
import random
import subprocess
import sys

from tokenizers import Tokenizer

NAMES = ["gpt2", "llama3", "qwen", "mistral", "mistral-metaspace", "smollm2"]
SPECS = ["gpt2", "llama3", "qwen", "mistral", "smollm2"]
BYTE_LEVEL = {"gpt2", "llama3", "qwen", "smollm2"}
SPECIALS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|begin_of_text|>", "<|eot_id|>",
            "<|start_header_id|>", "<|end_header_id|>", "<|reserved_special_token_5|>", "<s>", "</s>",
            "<unk>", "<|extra_7|>", "<repo_name>", "<jupyter_code>"]


def torture():
    t = ["", " ", "  ", "   ", "\t", "\t\t x", "\n", "\n\n", "\n\n\n\n", "\r\n", "a\r\nb\r\n\r\nc", "\r", " \n ",
         "   \n\n  \t x", "abc   ", "abc \n", " abc", "  abc", "a  b   c    d", "a\tb\n\tc", "\u00a0", "a\u00a0b",
         "\u3000x\u3000", "a\u2003b", "x\u0085y", "x\u180ey", "zero\u200bwidth", "line\u2028sep\u2029para",
         "\u000b\u000c", " \u00a0 \u00a0", "\x7f\x01\x02\x07",
         "👍🏽 family 👨\u200d👩\u200d👧\u200d👦 🇺🇸🇯🇵 ❤️ 🦜🧮", "数学问题：小明有3个苹果，吃了1个。", "日本語のテキスト、カタカナ。",
         "한국어 텍스트 한글", "مرحبا بالعالم ١٢٣", "שלום עולם", "नमस्ते दुनिया १२३", "สวัสดีครับ", "Ελληνικά κείμενο",
         "Привет, мир! ЁЖ", "𝔸𝕓𝕔 𝟙𝟚 𝒳", "\U0001F600\U0001F64F\U0001FAF6",
         "café", "cafe\u0301", "Å vs A\u030a", "\u1100\u1161\u11a8", "\uac01", "e\u0301\u0301", "a\u0308\u0304",
         "o\u0328\u0304", "\u0344", "ﬁ ligature ﬀ", "① ② ⑽", "x² + y³ = z½", "Ⅻ ⅻ", "ﾊﾝｶｸ ｶﾅ",
         "1234567890123", "3.14159265", "1,000,000", "12 345", "٣٤٥٦", "१२३४", "0x1F 0b1010 1e-9", "v1.2.3-rc4",
         "$2.50 and 30% off", "-17 + 42 = 25", "1/2 = 0.5", "000123",
         "I'll go", "she's here", "they'RE", "IT'S", "don't", "'s", "''s", "'", "’s", "it’ll", "'ſ", "'K",
         "O'Neil's", "we've'd'm", " 've", "x'LL",
         "$\\frac{1}{2}$ and \\boxed{42}", "\\[ x^2 + 2x + 1 = (x+1)^2 \\]", "def f(x):\n\treturn x**2  # sq\n",
         "if (a<b && c>d) { return; }", "<html><body>x</body></html>", "http://example.com/a?b=c&d=e",
         " " * 100, "a" * 500, "1" * 100, "\n" * 50, "ab" * 200, "\t" * 30, "!!!???...", "----====____",
         "\ufeffBOM", "\ufffd", "\uffff", "\U0010ffff", "\U000e0041", "\ue000\uf8ff", "\u0080\u07ff\u0800",
         "\x85", "\u00ad soft hyphen", "\u0300 leading combining", "Z\u0351\u0362\u0334a\u035c\u0325lgo",
         "Hello<s>world", " <s> ", "x</s>", "<s><s></s>", "<unk>x<unk>", "<|endoftext|>", "<|endoftext|> a b",
         "a<|endoftext|>b", "<|endoftext", "<<|endoftext|>>", "<|im_start|>user\nWhat is 2+2?<|im_end|>\n"
         "<|im_start|>assistant\n4<|im_end|>", "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\n"
         "hi<|eot_id|>", "<|im_end|><|im_end|>", " <|im_end|> ", "<|reserved_special_token_5|>x", "<|extra_7|>",
         "<repo_name>lemma<file_sep>x", "<jupyter_code>print(1)", "▁▁ already ▁ spaces", "▁x", "<0x41>",
         "Ġhello", "ĠĊ", "Mixed 中文 and English 123 ok", "tab\there", "trailing\n", "\nleading"]
    t += [s + " " + t[i % 40] for i, s in enumerate(SPECIALS)]
    t += ["%s%d%s" % (a, i, b) for i, (a, b) in enumerate(zip(t[20:60], t[60:100]))]
    hexes = ["ff", "61ff62", "c3", "e282", "e2ac", "f0928d", "c0af", "eda080", "f4908080", "80808080",
             "68c3a96c6c6fe2", "e4b8ade69687ff", "3c7c656e646f66746578747c3eff"]
    return t, hexes


def sweep():
    cps = [c for c in range(1, 0x20000) if not 0xD800 <= c <= 0xDFFF]
    cps += list(range(0x20000, 0x40000, 13)) + list(range(0xE0000, 0xE01F0)) + list(range(0xF0000, 0x110000, 997))
    out = []
    for i in range(0, len(cps), 256):
        out.append("".join(chr(c) + " a" + chr(c) + "1" for c in cps[i:i + 256]))
    return out


def data_texts(data, fixture):
    files = sorted(glob.glob(os.path.join(data, "gsm8k", "*.jsonl")) + glob.glob(os.path.join(data, "math", "*.jsonl")))
    if not files:
        return [json.loads(l) for l in open(fixture)], False
    out = []
    for f in files:
        for line in open(f):
            r = json.loads(line)
            out += [r[k] for k in ("question", "answer", "problem", "solution") if isinstance(r.get(k), str)]
    return out, True


def run_c(args, *cmd):
    p = subprocess.run([args.bin, *cmd], capture_output=True, text=True)
    if p.returncode != 0:
        return None, p.stderr.strip()
    return [json.loads(l) for l in p.stdout.split("\n") if l], None


def show(s, n=70):
    s = repr(s)
    return s if len(s) <= n else s[:n] + "..."


def compare(name, texts, ref, got, normalizer, byte_level):
    # (texts that are not UTF-8 come as their lossy decoding, which both sides read)
    """ref: (ids, dec, dec_all) lists from HF; got: tok_check's records. Returns FAIL lines."""
    bad = {"ids": [], "dec": [], "dec_all": [], "pieces": [], "roundtrip": []}
    for i, (t, g) in enumerate(zip(texts, got)):
        g.setdefault("dec", t)
        g.setdefault("dec_all", g["dec"])
        if g["ids"] != ref[0][i]:
            bad["ids"].append(i)
        if g["dec"] != ref[1][i]:
            bad["dec"].append(i)
        if g["dec_all"] != ref[2][i]:
            bad["dec_all"].append(i)
        if not g["pieces_ok"]:
            bad["pieces"].append(i)
        # decode(encode(x)) == x (normalised) wherever HF's own round trip holds (a byte a
        # vocab lacks becomes the unknown token on both sides)
        want = normalizer.normalize_str(t) if normalizer else t
        if byte_level and g["dec_all"] != want and ref[2][i] == want:
            bad["roundtrip"].append(i)
    lines = []
    for k, v in bad.items():
        if not v:
            continue
        i = v[0]
        detail = ""
        if k == "ids":
            a, b = got[i]["ids"], ref[0][i]
            j = next((j for j in range(min(len(a), len(b))) if a[j] != b[j]), min(len(a), len(b)))
            detail = " first at token %d: lemma %s, HF %s" % (j, a[j:j + 4], b[j:j + 4])
        elif k in ("dec", "dec_all"):
            detail = " lemma %s, HF %s" % (show(got[i][k]), show(ref[1 if k == "dec" else 2][i]))
        lines.append("%s: %d/%d texts differ in %s (first: text %d %s%s)" % (name, len(v), len(texts), k, i,
                                                                        show(texts[i]), detail))
    return lines, len(bad["ids"])


def hf_ref(tok, texts):
    enc = tok.encode_batch(texts, add_special_tokens=False)
    ids = [e.ids for e in enc]
    return ids, tok.decode_batch(ids, skip_special_tokens=True), tok.decode_batch(ids, skip_special_tokens=False)


def random_ids(name, tok, n_lists=400, seed=1):
    rng = random.Random(seed)
    v = tok.get_vocab_size(with_added_tokens=True)
    specials = [tok.token_to_id(s) for s in SPECIALS if tok.token_to_id(s) is not None]
    out = []
    for k in range(n_lists):
        n = rng.randint(1, 30)
        ids = [rng.randrange(v + 3) for _ in range(n)]
        if specials and k % 3 == 0:
            ids.insert(rng.randrange(n + 1), rng.choice(specials))
        if name.startswith("mistral") and k % 2 == 0:  # runs of byte-fallback tokens, valid or not
            run = [3 + b for b in "é€😀".encode()] if k % 4 == 0 else [3 + rng.randrange(256) for _ in range(3)]
            ids[rng.randrange(len(ids)):0] = run
        if k % 5 == 0:
            ids[0] = rng.choice(specials) if specials else ids[0]
        out.append(ids)
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True)
    ap.add_argument("--tok", required=True)
    ap.add_argument("--assets", required=True)
    ap.add_argument("--data", default="")
    ap.add_argument("--fixture", required=True)
    ap.add_argument("--work", required=True)
    args = ap.parse_args()
    data, full = data_texts(args.data, args.fixture)
    tort, hexes = torture()
    tort_hf = tort + [bytes.fromhex(h).decode("utf-8", "replace") for h in hexes]
    sw = sweep()
    sets = [("data", data), ("torture", tort_hf), ("sweep", sw)]
    allfile = os.path.join(args.work, "texts.jsonl")
    with open(allfile, "w") as f:
        for t in data + tort:
            f.write(json.dumps(t) + "\n")
        for h in hexes:
            f.write(json.dumps({"hex": h}) + "\n")
        for t in sw:
            f.write(json.dumps(t) + "\n")
    texts = data + tort_hf + sw
    if not full:
        print("SKIP tok_full_set: %s is absent: %d fixture texts instead of GSM8K and MATH" % (args.data or "../shared/data", len(data)))
    print("# %d data texts (%.1f MB), %d torture texts, %d sweep texts" % (len(data), sum(len(t.encode()) for t in data) / 1e6,
                                                                      len(tort_hf), len(sw)))
    toks = {n: Tokenizer.from_file(os.path.join(args.tok, n + ".json")) for n in NAMES
            if os.path.exists(os.path.join(args.tok, n + ".json"))}
    for n in NAMES:
        if n not in toks:
            print("SKIP tok_%s: %s.json was not made (asset missing)" % (n, n))
    # C runs in a background thread (one at a time) while HF encodes in this one.
    pool = concurrent.futures.ThreadPoolExecutor(max_workers=1)
    jobs = {}
    dec_files = {}
    for n, tok in toks.items():  # in the order they are consumed below
        jobs[(n, "json")] = pool.submit(run_c, args, os.path.join(args.tok, n + ".json"), allfile)
        if n in SPECS:
            jobs[(n, "spec")] = pool.submit(run_c, args, "--spec", os.path.join(args.tok, n + ".spec.json"), allfile)
        lists = random_ids(n, tok)
        p = os.path.join(args.work, n + ".ids.jsonl")
        with open(p, "w") as f:
            for l in lists:
                f.write(json.dumps(l) + "\n")
        dec_files[n] = lists
        jobs[(n, "decode")] = pool.submit(run_c, args, "--decode", os.path.join(args.tok, n + ".json"), p)
        jobs[(n, "info")] = pool.submit(run_c, args, "--info", *sum([["--id", s] for s in SPECIALS + ["hello", "zzqq__x"]], []),
                                        os.path.join(args.tok, n + ".json"))
    if "llama3" in toks:
        jobs[("llama3", "threads")] = pool.submit(run_c, args, "--threads", "2", os.path.join(args.tok, "llama3.json"), allfile)
    mismatches = {}
    hf_ids = {}
    for n, tok in toks.items():
        ref = hf_ref(tok, texts)
        hf_ids[n] = ref[0]
        for kind in ("json", "spec"):
            if (n, kind) not in jobs:
                continue
            got, err = jobs[(n, kind)].result()
            tag = "tok_%s%s" % (n, "_spec" if kind == "spec" else "")
            if got is None or len(got) != len(texts):
                print("FAIL %s: tok_check failed: %s" % (tag, err or "%d lines for %d texts" % (len(got), len(texts))))
                continue
            off = 0
            for sname, st in sets:
                sub = [r[off:off + len(st)] for r in ref]
                lines, nbad = compare("%s_%s" % (tag, sname), st, sub, got[off:off + len(st)], tok.normalizer, n in BYTE_LEVEL)
                off += len(st)
                mismatches[(tag, sname)] = nbad
                if lines:
                    for l in lines:
                        print("FAIL " + l)
                else:
                    print("PASS %s_%s" % (tag, sname))
        got, err = jobs[(n, "decode")].result()
        lists = dec_files[n]
        hd = tok.decode_batch(lists, skip_special_tokens=True)
        ha = tok.decode_batch(lists, skip_special_tokens=False)
        bad = [i for i, g in enumerate(got or []) if g["dec"] != hd[i] or g["dec_all"] != ha[i]]
        if got is None or bad:
            i = bad[0] if bad else 0
            print("FAIL tok_%s_decode_random: %s" % (n, err if got is None else "%d/%d lists differ (first %s: lemma %s / %s, HF %s / %s)" % (
                len(bad), len(lists), lists[i][:12], show(got[i]["dec"]), show(got[i]["dec_all"]), show(hd[i]), show(ha[i]))))
        else:
            print("PASS tok_%s_decode_random" % n)
        info_check(n, tok, *jobs[(n, "info")].result())
    if ("llama3", "threads") in jobs:
        got, err = jobs[("llama3", "threads")].result()
        ok = got is not None and got[0]["same"] == 1
        print("PASS tok_threads" if ok else "FAIL tok_threads: %s" % (err or got))
    for (tag, sname), v in sorted(mismatches.items()):
        if sname == "data":
            print("# %s: %d mismatching texts of %d (%s)" % (tag, v, len(data), "GSM8K + MATH" if full else "fixture"))
    vendor_checks(args, toks, data + tort_hf, jobs, hf_ids)
    pool.shutdown()


def info_check(n, tok, got, err):
    if got is None:
        print("FAIL tok_%s_info: %s" % (n, err))
        return
    g = got[0]
    with_sp = tok.encode("x", add_special_tokens=True).ids
    without = tok.encode("x", add_special_tokens=False).ids
    add_bos = len(with_sp) > len(without) and with_sp[len(with_sp) - len(without):] == without
    want_ids = [tok.token_to_id(s) for s in SPECIALS + ["hello", "zzqq__x"]]
    want_ids = [-1 if i is None else i for i in want_ids]
    problems = []
    if g["add_bos"] != int(add_bos) or (add_bos and g["bos"] != with_sp[0]):
        problems.append("add_bos %d bos %d, HF prepends %s" % (g["add_bos"], g["bos"], with_sp[:len(with_sp) - len(without)]))
    if g["ids"] != want_ids:
        problems.append("token ids %s, HF %s" % (g["ids"], want_ids))
    if g["vocab"] != tok.get_vocab_size(with_added_tokens=True):
        problems.append("vocab %d, HF %d" % (g["vocab"], tok.get_vocab_size(with_added_tokens=True)))
    print("FAIL tok_%s_info: %s" % (n, "; ".join(problems)) if problems else "PASS tok_%s_info" % n)


def vendor_checks(args, toks, texts, jobs, hf_ids):
    """tiktoken (gpt2, llama3, qwen) and sentencepiece (mistral) themselves: lemma must equal
    them wherever they agree with HF; how often they do is printed."""
    n_data = len(texts)
    tt = json.load(open(os.path.join(args.tok, "tiktoken.json")))
    import tiktoken
    from tiktoken.load import load_tiktoken_bpe
    for n, cfg in tt.items():
        if n not in toks:
            continue
        enc = tiktoken.Encoding(n, pat_str=cfg["pattern"], mergeable_ranks=load_tiktoken_bpe(os.path.join(args.assets, cfg["file"])),
                                special_tokens=cfg["special"])
        theirs = [enc.encode(t, allowed_special="all") for t in texts]
        got, _ = jobs[(n, "json")].result()
        hf = hf_ids[n]
        agree = [i for i in range(n_data) if theirs[i] == hf[i]]
        bad = [i for i in agree if got[i]["ids"] != theirs[i]]
        print("# tiktoken %s agrees with HF on %d of %d texts" % (n, len(agree), n_data))
        print("FAIL tok_%s_tiktoken: %d texts differ" % (n, len(bad)) if bad else "PASS tok_%s_tiktoken" % n)
    if "mistral" in toks:
        import sentencepiece as spm
        sp = spm.SentencePieceProcessor(model_file=os.path.join(args.assets, "mistral.model"))
        theirs = sp.encode(texts)
        got, _ = jobs[("mistral", "json")].result()
        hf = hf_ids["mistral"]
        agree = [i for i in range(n_data) if theirs[i] == hf[i]]
        bad = [i for i in agree if got[i]["ids"] != theirs[i]]
        print("# sentencepiece mistral agrees with HF on %d of %d texts" % (len(agree), n_data))
        print("FAIL tok_mistral_sentencepiece: %d texts differ" % len(bad) if bad else "PASS tok_mistral_sentencepiece")


if __name__ == "__main__":
    sys.exit(main())
