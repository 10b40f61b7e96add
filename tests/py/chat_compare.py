"""tests/py/chat_compare.py LEMMA REFS.json FAMILY MODEL: `lemma tokenize MODEL --chat` (with
model.system set where the reference has a system message, else the model's default) against the reference prompt ids
of tests/py/chat_ref.py; one PASS/FAIL line."""
import json, subprocess, sys

lemma, refs, fam, model = sys.argv[1:5]
cases = json.load(open(refs))[fam]
bad = []
for sys_msg in sorted({c["system"] or "" for c in cases}):
    group = [c for c in cases if (c["system"] or "") == sys_msg]
    # no system message: the model's own default (chatml templates may write one)
    cmd = [lemma, "tokenize", model, "--chat"] + (["--set", "model.system=" + sys_msg] if sys_msg else [])
    out = subprocess.run(cmd, input="".join(c["user"] + "\n" for c in group), capture_output=True, text=True)
    if out.returncode != 0:
        print("FAIL chat_%s: lemma tokenize exit %d: %s" % (fam, out.returncode, out.stderr.strip()[-300:]))
        sys.exit(0)
    got = [json.loads(l)["ids"] for l in out.stdout.splitlines()]
    for c, g in zip(group, got):
        if g != c["ids"]:
            bad.append((c, g))
    if len(got) != len(group):
        bad.append(({"user": "(line count)", "ids": len(group)}, len(got)))
if bad:
    c, g = bad[0]
    print("FAIL chat_%s: %d of %d prompts differ; first: system %r user %r\n     lemma %s\n     ref   %s"
          % (fam, len(bad), len(cases), c.get("system"), c["user"], g, c["ids"]))
else:
    print("PASS chat_%s (%d prompts with and without a system message: ids identical to the vendor's)" % (fam, len(cases)))
