#!/bin/bash
# slurm/status.sh RUN_DIR [--json]: where a run stands: state (with its Slurm job when squeue
# answers), phase, step of how many, last loss, speed, ETA, the newest checkpoint and the log.
#
#   $ slurm/status.sh runs/micro
#   run         runs/micro
#   state       running: job 4 on vm for 0:07 (restart 1)
#   phase       train
#   step        52 / 80 (65.0%)
#   loss        2.9627 (step 53), mean of the last 10 steps 3.0103
#   speed       0.062 s/step, 41.3k tokens/s
#   ETA         2s (08:29:40)
#   checkpoint  step_00000012.h5 (1m 02s ago)
#   log         runs/micro/slurm-4.out
#
# The step and loss come from RUN_DIR/metrics.jsonl; the total steps from the metrics
# ("steps"), else from the effective config the batch scripts saved (RUN_DIR/slurm.cfg:
# PHASE.steps, then train.steps), else from the newest progress line ("step N/M") of the log.
# The ETA is for the running phase: steps left times the mean step time of the last 20 steps.
# --json prints the same as one JSON object. Exit status 0, or 2 when RUN_DIR has no run.
set -uo pipefail
[[ $# -ge 1 && $1 != -h && $1 != --help ]] || { sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'; exit 2; }
run_dir=${1%/}; json=0; [[ ${2:-} == --json ]] && json=1
[[ -d $run_dir ]] || { echo "status.sh: no directory $run_dir" >&2; exit 2; }

# Slurm's view of the newest job of this run (RUN_DIR/slurm.jobs: one line per job start).
job="" jobinfo="" restart=0
if [[ -s $run_dir/slurm.jobs ]]; then
    job=$(awk 'END {print $1}' "$run_dir/slurm.jobs")
    restart=$(awk 'END {for (i = 1; i <= NF; i++) if ($i ~ /^restart=/) {sub(/^restart=/, "", $i); print $i}}' "$run_dir/slurm.jobs")
    if [[ $job =~ ^[0-9]+$ ]] && command -v squeue >/dev/null 2>&1; then
        jobinfo=$(squeue -h -j "$job" -o '%T|%M|%N|%r|%S' 2>/dev/null | head -1)
    fi
fi
log=$(ls -t "$run_dir"/slurm-*.out 2>/dev/null | head -1)

PYTHON=$(command -v python3 || echo /usr/bin/python3)
exec "$PYTHON" - "$run_dir" "$json" "$job" "$jobinfo" "$log" "$restart" <<'PY'
import json, os, re, signal, sys, time
signal.signal(signal.SIGPIPE, signal.SIG_DFL)

run_dir, as_json, job, jobinfo, log, restart = sys.argv[1], sys.argv[2] == "1", *sys.argv[3:7]
out = {"run": run_dir}

rows = []
mpath = os.path.join(run_dir, "metrics.jsonl")
if os.path.exists(mpath):
    with open(mpath, errors="replace") as f:
        for line in f:
            try:
                r = json.loads(line)
            except ValueError:
                continue  # a line being written
            if isinstance(r, dict) and "step" in r:
                rows.append(r)

def cfg_value(key):
    path = os.path.join(run_dir, "slurm.cfg")
    if not os.path.exists(path):
        return None
    sect, want = None, key.split(".", 1)
    for line in open(path, errors="replace"):
        m = re.match(r"^([a-z_]+) = \{", line)
        if m:
            sect = m.group(1)
            continue
        m = re.match(r"^\s+([a-z_]+) = ([^;]*);", line)
        if m and sect == want[0] and m.group(1) == want[1]:
            return m.group(2).strip().strip('"')
    return None

def log_total():
    if not log or not os.path.exists(log):
        return None
    total = None
    with open(log, errors="replace") as f:
        for line in f:
            m = re.search(r"\bstep\s+\d+/(\d+)", line)
            if m:
                total = int(m.group(1))
    return total

last = rows[-1] if rows else None
phase = last.get("phase", "train") if last else None
step = int(last["step"]) if last else 0
total = None
if last and isinstance(last.get("steps"), (int, float)):
    total = int(last["steps"])
if total is None and phase:
    for key in (phase + ".steps", "train.steps"):
        v = cfg_value(key)
        if v and re.fullmatch(r"\d+", v) and int(v) > 0:
            total = int(v)
            break
if total is None:
    total = log_total()

# The newest checkpoint (the one `latest` names).
ckpt, ckpt_age = None, None
cdir = os.path.join(run_dir, "ckpt")
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
if log and os.path.exists(log):
    for line in open(log, errors="replace"):
        m = re.match(r"\[lemma-slurm [^]]*\] (lemma exited with status .*|run complete)$", line.strip())
        if m:
            said = m.group(1)
stopped = os.path.join(run_dir, "STOPPED")

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
if jstate and jstate[0] in ("RUNNING", "COMPLETING"):
    state = "running: job %s on %s for %s%s" % (job, jstate[2] or "?", jstate[1],
                                                " (restart %s)" % restart if restart not in ("", "0") else "")
elif jstate and jstate[0] in ("PENDING", "REQUEUED", "REQUEUE_HOLD", "REQUEUE_FED", "CONFIGURING"):
    state = "waiting: job %s %s (%s%s)" % (job, jstate[0].lower(), jstate[3],
                                          ", starts %s" % jstate[4] if jstate[4] not in ("N/A", "") else "")
elif said.endswith("complete") or (total and step >= total and not os.path.exists(stopped)):
    state = "complete"
elif said.endswith("failed"):
    state = "failed: " + said
elif not rows:
    state = "not started"
elif said:
    state = "stopped at step %d (%s); resumes when a job runs it again" % (
        ckpt_step if ckpt_step is not None else step, said)
else:
    state = "not running (last step %d)" % step
out["state"] = state
if job:
    out["job"] = job
out["phase"] = phase
out["step"] = step
out["steps"] = total
if last:
    out["loss"] = last.get("loss")
    tail = [r["loss"] for r in rows[-10:] if isinstance(r.get("loss"), (int, float))]
    out["loss_mean10"] = sum(tail) / len(tail) if tail else None
    recent = [r for r in rows[-20:] if r.get("phase") == phase and isinstance(r.get("step_s"), (int, float))]
    sps = sum(r["step_s"] for r in recent) / len(recent) if recent else None
    out["step_s"] = sps
    out["tokens_per_s"] = last.get("tokens_per_s")
    if sps and total and step < total and not state.startswith(("complete", "failed")):
        out["eta_s"] = (total - step) * sps
out["checkpoint"] = ckpt
out["checkpoint_age_s"] = ckpt_age
out["log"] = log or None

if as_json:
    print(json.dumps(out))
    sys.exit(0)
print("%-11s %s" % ("run", run_dir))
print("%-11s %s" % ("state", state))
if last:
    print("%-11s %s" % ("phase", phase))
    if total:
        print("%-11s %d / %d (%.1f%%)" % ("step", step, total, 100.0 * step / total))
    else:
        print("%-11s %d" % ("step", step))
    loss = out.get("loss")
    print("%-11s %s (step %d)%s" % ("loss", "%.4f" % loss if isinstance(loss, (int, float)) else loss, step,
          ", mean of the last 10 steps %.4f" % out["loss_mean10"] if out.get("loss_mean10") is not None else ""))
    if out.get("step_s"):
        tps = out.get("tokens_per_s")
        print("%-11s %.3f s/step%s" % ("speed", out["step_s"],
              ", %.1fk tokens/s" % (tps / 1e3) if isinstance(tps, (int, float)) else ""))
    if "eta_s" in out:
        print("%-11s %s (%s)%s" % ("ETA", hms(out["eta_s"]),
              time.strftime("%H:%M:%S", time.localtime(time.time() + out["eta_s"])),
              "" if state.startswith("running") else ", of computing time once it runs"))
if ckpt:
    print("%-11s %s (%s ago)" % ("checkpoint", ckpt, hms(ckpt_age)))
if log:
    print("%-11s %s" % ("log", log))
PY
