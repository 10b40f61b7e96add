# tests/shell/test_ckpt_h5py.sh: a checkpoint written on 3 ranks (skewed ranges) read by
# other tools: Debian's serial h5py (/usr/bin/python3) checks every dataset's name, shape,
# dtype and values against the expected values the C side dumps, the meta attributes, and
# the checksum formula of docs/checkpoints.md; h5dump -H lists the layout.
source "$(dirname "$0")/lib.sh"
BIN=${BUILD:-build}/mpi/ckpt_mpi
PY=/usr/bin/python3

"${MPIRUN[@]}" -np 3 "$BIN" save "$TMP/run" 5 skew >/dev/null 2>&1
mkdir -p "$TMP/expect"
"$BIN" expect 5 "$TMP/expect" >/dev/null 2>&1
ck=$TMP/run/ckpt/step_00000005.h5
version=$("$LEMMA" --version | sed -n 's/^lemma //p')

if ! "$PY" -c 'import h5py, numpy' 2>/dev/null; then
    echo "FAIL h5py_reads_checkpoint: $PY cannot import h5py and numpy (make deps installs python3-h5py)"
else
    out=$("$PY" - "$ck" "$TMP/expect" "$version" <<'EOF' 2>&1
import json, re, sys
import h5py, numpy as np
path, expect, version = sys.argv[1:]
fails = []
def check(cond, what):
    if not cond: fails.append(what)

def checksum(x):  # docs/checkpoints.md: sum of splitmix64((i << 32) ^ bits) mod 2^64
    with np.errstate(over="ignore"):
        bits = x.reshape(-1).view(np.uint32).astype(np.uint64)
        z = (np.arange(bits.size, dtype=np.uint64) << np.uint64(32)) ^ bits
        z = z + np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        z = z ^ (z >> np.uint64(31))
        return int(z.sum(dtype=np.uint64))

with h5py.File(path, "r") as f:
    names = []
    f.visititems(lambda n, o: names.append(n) if isinstance(o, h5py.Dataset) else None)
    want = [l.split() for l in open(expect + "/list.txt")]
    check(sorted(names) == sorted(w[0] for w in want), "dataset names: %s" % sorted(names))
    for w in want:
        name, shape = w[0], tuple(int(d) for d in w[1:])
        if name not in f: continue
        d = f[name]
        check(d.shape == shape, "%s shape %s, want %s" % (name, d.shape, shape))
        check(d.dtype == np.float32, "%s dtype %s" % (name, d.dtype))
        x = d[()]
        ref = np.fromfile("%s/%s.f32" % (expect, name), dtype="<f4").reshape(shape)
        check(x.tobytes() == ref.tobytes(), "%s values differ" % name)
        check(int(d.attrs["checksum"]) == checksum(x), "%s checksum" % name)
    t = f["train"].attrs
    check((t["step"], t["tokens"], t["epoch"], t["cursor"], t["nan_skips"]) == (5, 20480, 0, 40, 1),
          "train attrs %s" % dict(t))
    check(f["pipeline"].attrs["phase"] == "pretrain", "phase")
    m = f["meta"].attrs
    check(m["world_size"] == 3, "world_size %s" % m["world_size"])
    check(m["program_version"] == version, "program_version %s" % m["program_version"])
    check(re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", m["time"]) is not None, "time %s" % m["time"])
    check("ckpt-test" in m["config_text"], "config_text")
    check(json.loads(f["model"].attrs["config"]) == {"dim": 16, "n_layers": 2}, "model config")
print("FAILS: " + "; ".join(fails) if fails else "h5py ok: %d datasets" % len(want))
EOF
)
    if grep -q '^h5py ok: 27 datasets' <<<"$out"; then echo "PASS h5py_reads_checkpoint"
    else echo "FAIL h5py_reads_checkpoint: $out"; fi
fi

out=$(h5dump -H "$ck" 2>&1)
pats=('GROUP "model"' 'ATTRIBUTE "config"' 'GROUP "params"' 'DATASET "layers.0.attn.wq"'
      'DATASPACE  SIMPLE \{ \( 16, 16 \) / \( 16, 16 \) \}' 'DATATYPE  H5T_IEEE_F32LE'
      'GROUP "optim"' 'GROUP "m"' 'GROUP "v"' 'GROUP "train"' 'ATTRIBUTE "nan_skips"'
      'GROUP "pipeline"' 'ATTRIBUTE "phase"' 'GROUP "meta"' 'ATTRIBUTE "program_version"')
missing=""
for p in "${pats[@]}"; do grep -qE "$p" <<<"$out" || missing+=" [$p]"; done
if [[ -z $missing ]]; then echo "PASS h5dump_lists_layout"; else echo "FAIL h5dump_lists_layout: missing$missing"; fi
expect_out h5dump_reads_step '\(0\): 5' h5dump -a /train/step "$ck"
