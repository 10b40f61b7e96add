#!/bin/bash
# slurm/status.sh RUN_DIR [--json]: where a run stands: state (with its Slurm job when squeue
# answers), pipeline phase, step of how many, last loss, speed, ETA, the newest checkpoint and
# the log. Works for a `lemma run` directory (the pipeline) and a `lemma train` one.
#
#   $ slurm/status.sh runs/micro-pipeline
#   run         runs/micro-pipeline
#   state       running: job 4 on vm for 0:07 (restart 1)
#   phase       finetune (4 of 5; done: pretrain sample build; next: eval)
#   step        52 / 80 (65.0%) of finetune
#   loss        2.9627 (step 52), mean of the last 10 steps 3.0103
#   speed       0.062 s/step, 41.3k tokens/s
#   ETA         2s (08:29:40) for finetune; then eval
#   checkpoint  finetune/ckpt/step_00000050.h5 (1m 02s ago)
#   log         runs/micro-pipeline/slurm-4.out
#
# Pipeline runs (RUN_DIR/manifest.json or RUN_DIR/config.cfg, which `lemma run` writes): the
# phases are pipeline.phases of RUN_DIR/config.cfg; the done ones are those manifest.json
# lists, the current one is the first listed phase not done. Step and loss are those of the
# current training phase (pretrain or finetune; during sample, build or eval: the last one
# that trained), from RUN_DIR/metrics.jsonl; its total steps from the config (PHASE.steps,
# else train.steps). The ETA is for the current phase: steps left times the mean step time of
# the last 20 steps, or for sample and eval the estimate of their newest progress line in the
# log. When eval is done, the test/ood accuracies (base -> final) are shown.
# `lemma train` runs: the same from RUN_DIR/metrics.jsonl, RUN_DIR/ckpt and the config the
# batch scripts saved (RUN_DIR/slurm.cfg), else the newest progress line ("step N/M") of the log.
# --json prints the same as one JSON object. Exit status 0, or 2 when RUN_DIR has no run.
set -uo pipefail
[[ $# -ge 1 && $1 != -h && $1 != --help ]] || { sed -n '2,28p' "$0" | sed 's/^# \{0,1\}//'; exit 2; }
run_dir=${1%/}; json=0; [[ ${2:-} == --json ]] && json=1
[[ -d $run_dir ]] || { echo "status.sh: no directory $run_dir" >&2; exit 2; }

# Slurm's view of the newest job of this run (RUN_DIR/slurm.jobs: one line per job start).
job="" jobinfo="" restart=0 cmd=""
if [[ -s $run_dir/slurm.jobs ]]; then
    job=$(awk 'END {print $1}' "$run_dir/slurm.jobs")
    restart=$(awk 'END {for (i = 1; i <= NF; i++) if ($i ~ /^restart=/) {sub(/^restart=/, "", $i); print $i}}' "$run_dir/slurm.jobs")
    cmd=$(awk 'END {for (i = 1; i <= NF; i++) if ($i ~ /^cmd=/) {sub(/^cmd=/, "", $i); print $i}}' "$run_dir/slurm.jobs")
    if [[ $job =~ ^[0-9]+$ ]] && command -v squeue >/dev/null 2>&1; then
        jobinfo=$(squeue -h -j "$job" -o '%T|%M|%N|%r|%S' 2>/dev/null | head -1)
    fi
fi
log=$(ls -t "$run_dir"/slurm-*.out 2>/dev/null | head -1)

PYTHON=$(command -v python3 || echo /usr/bin/python3)
exec "$PYTHON" - "$run_dir" "$json" "$job" "$jobinfo" "$log" "$restart" "$cmd" <<'PY'
import json, os, re, signal, sys, time
signal.signal(signal.SIGPIPE, signal.SIG_DFL)

run_dir, as_json, job, jobinfo, log, restart, cmd = sys.argv[1], sys.argv[2] == "1", *sys.argv[3:8]
out = {"run": run_dir}
TRAINING = ("pretrain", "finetune", "train")
ALL_PHASES = ["pretrain", "sample", "build", "finetune", "eval"]

def path(*p):
    return os.path.join(run_dir, *p)

# A pipeline run (`lemma run`) or a training run (`lemma train`)?
pipeline = os.path.exists(path("manifest.json")) or os.path.exists(path("config.cfg")) or cmd == "run"
out["command"] = "run" if pipeline else "train"

# Training rows of metrics.jsonl (sample, build and eval lines have no loss).
rows = []
if os.path.exists(path("metrics.jsonl")):
    with open(path("metrics.jsonl"), errors="replace") as f:
        for line in f:
            try:
                r = json.loads(line)
            except ValueError:
                continue  # a line being written
            if isinstance(r, dict) and "step" in r and "loss" in r and r.get("phase", "train") in TRAINING:
                rows.append(r)

def cfg_value(key):
    """A value of the effective config: RUN_DIR/config.cfg (lemma run), else RUN_DIR/slurm.cfg."""
    sect_want, key_want = key.split(".", 1)
    for name in ("config.cfg", "slurm.cfg"):
        p = path(name)
        if not os.path.exists(p):
            continue
        sect = None
        for line in open(p, errors="replace"):
            m = re.match(r"^([a-z_]+) = \{", line)
            if m:
                sect = m.group(1)
                continue
            m = re.match(r"^\s+([a-z_]+) = (\[[^]]*\]|\"[^\"]*\"|[^;]*);", line)
            if m and sect == sect_want and m.group(1) == key_want:
                v = m.group(2).strip()
                if v.startswith("["):
                    return re.findall(r'"([^"]*)"', v)
                return v.strip('"')
    return None

def total_steps(phase):
    for key in ((phase + ".steps", "train.steps") if phase in ("pretrain", "finetune") else ("train.steps",)):
        v = cfg_value(key)
        if isinstance(v, str) and re.fullmatch(r"\d+", v) and int(v) > 0:
            return int(v)
    return None

def log_lines():
    if not log or not os.path.exists(log):
        return []
    with open(log, errors="replace") as f:
        return f.read().splitlines()
lines = log_lines()

def log_total(phase):
    total = None
    for line in lines:
        m = re.search(r"^(\w+) step\s+\d+/(\d+)", line) or re.search(r"\b()step\s+\d+/(\d+)", line)
        if m and (not m.group(1) or m.group(1) == phase):
            total = int(m.group(2))
    return total

# The pipeline's phases: listed, done (manifest.json), current (the first listed not done).
phases, done, current = None, [], None
if pipeline:
    v = cfg_value("pipeline.phases")
    phases = v if isinstance(v, list) and v else list(ALL_PHASES)
    try:
        done = list(json.load(open(path("manifest.json"))).get("done", {}))
    except (OSError, ValueError, AttributeError):
        done = []
    left = [p for p in phases if p not in done]
    current = left[0] if left else None
    out["phases"], out["done"], out["current_phase"] = phases, [p for p in phases if p in done], current

# The training phase whose step and loss are shown.
if pipeline:
    if current in ("pretrain", "finetune"):
        tphase = current
    else:
        trained = [p for p in phases if p in ("pretrain", "finetune") and p in done]
        tphase = trained[-1] if trained else None
    prow = [r for r in rows if r.get("phase") == tphase]
else:
    prow = rows
    tphase = rows[-1].get("phase", "train") if rows else None
last = prow[-1] if prow else None
step = int(last["step"]) if last else 0
total = None
if last and isinstance(last.get("steps"), (int, float)):
    total = int(last["steps"])
if total is None and tphase:
    total = total_steps(tphase) or log_total(tphase)

# The newest checkpoint (the one `latest` names) of that phase.
crel = os.path.join(tphase, "ckpt") if pipeline and tphase else "ckpt"
cdir = path(crel)
ckpt, ckpt_age = None, None
try:
    name = open(os.path.join(cdir, "latest")).read().strip()
    if name and os.path.exists(os.path.join(cdir, name)):
        ckpt = name
except OSError:
    names = sorted(n for n in os.listdir(cdir) if re.fullmatch(r"step_\d+\.h5", n)) if os.path.isdir(cdir) else []
    ckpt = names[-1] if names else None
if ckpt:
    ckpt_age = time.time() - os.path.getmtime(os.path.join(cdir, ckpt))
ckpt_step = int(re.search(r"(\d+)", ckpt).group(1)) if ckpt else None

# How the batch script saw the last attempt end ("lemma exited with status N after S s: OUTCOME").
said = ""
for line in lines:
    m = re.match(r"\[lemma-slurm [^]]*\] (lemma exited with status .*|run complete)$", line.strip())
    if m:
        said = m.group(1)
stopped = path("STOPPED")

def hms(s):
    s = int(round(s))
    if s >= 86400:
        return "%dd %02dh" % (s // 86400, s % 86400 // 3600)
    if s >= 3600:
        return "%dh %02dm" % (s // 3600, s % 3600 // 60)
    if s >= 60:
        return "%dm %02ds" % (s // 60, s % 60)
    return "%ds" % s

jstate = jobinfo.split("|") if jobinfo else []
if pipeline:
    finished = current is None
else:
    finished = said.endswith("complete") or bool(total and step >= total and not os.path.exists(stopped))
if jstate and jstate[0] in ("RUNNING", "COMPLETING"):
    state = "running: job %s on %s for %s%s" % (job, jstate[2] or "?", jstate[1],
                                                " (restart %s)" % restart if restart not in ("", "0") else "")
elif jstate and jstate[0] in ("PENDING", "REQUEUED", "REQUEUE_HOLD", "REQUEUE_FED", "CONFIGURING"):
    state = "waiting: job %s %s (%s%s)" % (job, jstate[0].lower(), jstate[3],
                                          ", starts %s" % jstate[4] if jstate[4] not in ("N/A", "") else "")
elif finished:
    state = "complete"
elif re.search(r": failed( \(|$)", said):
    state = "failed: " + said
elif not rows and not done:
    state = "not started"
elif said:
    where = "in phase %s" % current if pipeline and current not in ("pretrain", "finetune") else \
        "at step %d%s" % (ckpt_step if ckpt_step is not None else step, " of %s" % tphase if pipeline else "")
    state = "stopped %s (%s); resumes when a job runs it again" % (where, said)
else:
    state = "not running (%s)" % ("phase %s" % current if pipeline else "last step %d" % step)
out["state"] = state
if job:
    out["job"] = job
out["phase"] = current if pipeline else tphase
out["training_phase"] = tphase
out["step"] = step
out["steps"] = total
running_now = not state.startswith(("complete", "failed"))
if last:
    out["loss"] = last.get("loss")
    tail = [r["loss"] for r in prow[-10:] if isinstance(r.get("loss"), (int, float))]
    out["loss_mean10"] = sum(tail) / len(tail) if tail else None
    recent = [r for r in prow[-20:] if isinstance(r.get("step_s"), (int, float))]
    sps = sum(r["step_s"] for r in recent) / len(recent) if recent else None
    out["step_s"] = sps
    out["tokens_per_s"] = last.get("tokens_per_s")
    if sps and total and step < total and running_now and (not pipeline or tphase == current):
        out["eta_s"] = (total - step) * sps
# sample / eval: their newest progress line in the log ("sample: problems 120/160 | ... | eta 4s").
if pipeline and current in ("sample", "eval") and running_now:
    for line in reversed(lines):
        m = re.match(r"^%s: (?:(\w+) )?problems (\d+)/(\d+) .*\beta (\d+)s" % current, line)
        if m:
            out["progress"] = "%s%s: problems %s/%s (%.1f%%)" % (current, " " + m.group(1) if m.group(1) else "",
                                                             m.group(2), m.group(3), 100.0 * int(m.group(2)) / max(1, int(m.group(3))))
            out["eta_s"] = float(m.group(4))
            break
out["checkpoint"] = os.path.join(crel, ckpt) if ckpt and pipeline else ckpt
out["checkpoint_age_s"] = ckpt_age
out["log"] = log or None

# Accuracy (base -> final) once eval is done.
acc = {}
if pipeline and "eval" in done:
    for split in ("test", "ood"):
        def one(p):
            try:
                e = json.load(open(p))
                return {"accuracy": e["accuracy"], "ci95": e.get("ci95"), "n": e.get("n")}
            except (OSError, ValueError, KeyError, TypeError):
                return None
        final, base = one(path("eval", split + ".json")), one(path("eval", "base", split + ".json"))
        if final:
            acc[split] = {"final": final, "base": base}
    out["accuracy"] = acc or None

if as_json:
    print(json.dumps(out))
    sys.exit(0)
print("%-11s %s" % ("run", run_dir))
print("%-11s %s" % ("state", state))
if pipeline:
    nxt = [p for p in phases if p not in done and p != current]
    if current is None:
        print("%-11s all %d finished (%s)" % ("phase", len(phases), " ".join(phases)))
    else:
        print("%-11s %s (%d of %d%s%s)" % ("phase", current, phases.index(current) + 1, len(phases),
              "; done: " + " ".join(p for p in phases if p in done) if done else "",
              "; next: " + " ".join(nxt) if nxt else ""))
elif last:
    print("%-11s %s" % ("phase", tphase))
if last:
    of = " of %s" % tphase if pipeline else ""
    if total:
        print("%-11s %d / %d (%.1f%%)%s" % ("step", step, total, 100.0 * step / total, of))
    else:
        print("%-11s %d%s" % ("step", step, of))
    loss = out.get("loss")
    print("%-11s %s (step %d)%s" % ("loss", "%.4f" % loss if isinstance(loss, (int, float)) else loss, step,
          ", mean of the last 10 steps %.4f" % out["loss_mean10"] if out.get("loss_mean10") is not None else ""))
    if out.get("step_s"):
        tps = out.get("tokens_per_s")
        print("%-11s %.3f s/step%s" % ("speed", out["step_s"],
              ", %.1fk tokens/s" % (tps / 1e3) if isinstance(tps, (int, float)) else ""))
if out.get("progress"):
    print("%-11s %s" % ("progress", out["progress"]))
if "eta_s" in out:
    then = ""
    if pipeline:
        nxt = [p for p in phases if p not in done and p != current]
        then = " for %s%s" % (current, "; then " + " ".join(nxt) if nxt else "")
    print("%-11s %s (%s)%s%s" % ("ETA", hms(out["eta_s"]),
          time.strftime("%H:%M:%S", time.localtime(time.time() + out["eta_s"])), then,
          "" if state.startswith("running") else ", of computing time once it runs"))
for split, a in acc.items():
    f, b = a["final"], a["base"]
    ci = f.get("ci95") or [None, None]
    print("%-11s %s %.3f%s (n %s)%s" % ("accuracy", split, f["accuracy"],
          " [%.3f, %.3f]" % tuple(ci) if None not in ci else "", f.get("n"),
          ", base %.3f" % b["accuracy"] if b else ""))
if ckpt:
    print("%-11s %s (%s ago)" % ("checkpoint", out["checkpoint"], hms(ckpt_age)))
if log:
    print("%-11s %s" % ("log", log))
PY
