#!/usr/bin/env python3
"""tests/py/check_layers.py: the house rules of docs/architecture.md, checked on the includes.

Every file of src/ and include/lemma/ belongs to a module (its folder under src/, or the
header's name); each module may include the headers of the modules listed for it below and
nothing else of the project. The table is the layering (lower modules first), so a new
include that breaks it fails with the file and line. Prints PASS/FAIL lines.
"""
import os, re, sys

# module -> the project modules it may include (itself always). Lower layers first.
ALLOWED = {
    "util":     [],
    "dist":     ["util"],
    "config":   ["util", "dist"],
    "backend":  ["util", "dist"],                      # never the model
    "ckpt":     ["util", "dist", "config"],
    "chat":     ["util"],
    "expr":     ["util"],                              # math answers as trees: no model
    "tok":      ["util", "config", "chat"],            # never the model or a backend
    "model":    ["util", "dist", "config", "backend"],
    "import":   ["chat", "util", "dist", "config", "model", "tok"],
    "export":   ["util", "dist", "config", "backend", "model", "tok"],
    "hub":      ["export", "chat", "util", "dist", "config", "backend", "ckpt", "tok", "model", "import"],
    "tasks":    ["chat", "util", "dist", "config", "tok", "expr"],  # never the model or a backend
    "train":    ["chat", "util", "dist", "config", "ckpt", "tok", "model", "hub", "tasks"],
    "sample":   ["chat", "util", "dist", "config", "ckpt", "tok", "model", "hub", "tasks"],
    "lemma":    ["chat", "util", "dist", "config", "ckpt", "tok", "hub", "tasks", "sample"],  # the network only through sample
    "eval":     ["chat", "util", "dist", "config", "ckpt", "tok", "model", "hub", "tasks", "sample", "lemma"],
    "pipeline": ["chat", "util", "dist", "config", "ckpt", "tok", "model", "hub", "tasks", "train",
                 "sample", "lemma", "eval"],
    "main":     ["expr", "export", "chat", "util", "dist", "config", "backend", "ckpt", "tok", "model", "import", "hub",
                 "tasks", "train", "sample", "lemma", "eval", "pipeline"],
}
HEADER_MODULE = {"tokenizer": "tok"}  # include/lemma/<name>.h -> module, where they differ
INCLUDE = re.compile(r'^\s*#\s*include\s+"lemma/([a-z_]+)\.h"')


def module_of(path):
    parts = path.split(os.sep)
    if parts[0] == "include":
        name = os.path.splitext(parts[-1])[0]
        return HEADER_MODULE.get(name, name)
    if len(parts) == 2:  # src/main.c, src/pipeline.c
        return os.path.splitext(parts[1])[0]
    return parts[1]


def main():
    root = sys.argv[1] if len(sys.argv) > 1 else "."
    os.chdir(root)
    bad, files = [], 0
    for top in ("src", "include/lemma"):
        for d, _, names in os.walk(top):
            for n in sorted(names):
                if not n.endswith((".c", ".h", ".cu")):
                    continue
                path = os.path.join(d, n)
                mod = module_of(path)
                files += 1
                if mod not in ALLOWED:
                    bad.append(f"{path}: module '{mod}' is not in the layer table "
                               "(tests/py/check_layers.py, docs/architecture.md)")
                    continue
                for i, line in enumerate(open(path, encoding="utf-8"), 1):
                    m = INCLUDE.match(line)
                    if not m:
                        continue
                    dep = HEADER_MODULE.get(m.group(1), m.group(1))
                    if dep != mod and dep not in ALLOWED[mod]:
                        bad.append(f"{path}:{i}: module '{mod}' includes lemma/{m.group(1)}.h "
                                   f"(may include: {', '.join(ALLOWED[mod]) or 'nothing'})")
    # the table itself must be a DAG: a module's allowed ones come before it
    order = list(ALLOWED)
    for mod, deps in ALLOWED.items():
        for dep in deps:
            if order.index(dep) >= order.index(mod):
                bad.append(f"layer table: '{mod}' may include '{dep}', which is not below it")
    if bad:
        print(f"FAIL layers: {len(bad)} include(s) break the house rules")
        for b in bad:
            print("     " + b)
        return 1
    print(f"PASS layers ({files} files, {len(ALLOWED)} modules)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
