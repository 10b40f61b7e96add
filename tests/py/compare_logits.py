"""tests/py/compare_logits.py NAME REFS.json KEY TOOL_OUTPUT [TOL]: lemma's logits and greedy
tokens (the JSON lines of tests/tools/import_logits) against the reference entry KEY of
REFS.json; prints PASS/FAIL NAME with the largest relative L2 error of the logits."""
import json, sys

import numpy as np

name, refs, key, got = sys.argv[1:5]
tol = float(sys.argv[5]) if len(sys.argv) > 5 else 1e-4
ref = json.load(open(refs))[key]
lines = [json.loads(l) for l in open(got) if l.strip()]
worst, same = 0.0, True
for i, g in enumerate(lines):
    a, b = np.array(g["logits"]), np.array(ref["logits"][i])
    worst = max(worst, float(np.linalg.norm(a - b) / np.linalg.norm(b)))
    same &= g["greedy"] == ref["greedy"][i]
if len(lines) != len(ref["logits"]):
    print(f"FAIL {name}: {len(lines)} outputs for {len(ref['logits'])} inputs")
elif worst > tol or not same:
    print(f"FAIL {name}: logits rel. error {worst:.2e} (tolerance {tol:g}), greedy tokens "
          f"{'identical' if same else 'differ'}")
else:
    print(f"PASS {name} (logits rel. error {worst:.1e}, {len(ref['greedy'][0])} greedy tokens identical)")
