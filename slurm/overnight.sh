#!/bin/bash
# slurm/overnight.sh: submit a chain of K jobs that carry one run forward, each resuming from
# the checkpoint the previous one wrote when its time was up.
#
#   slurm/overnight.sh [options] CONFIG [--set key=value]... [lemma options]
#     -k, --jobs K          jobs in the chain (default 4)
#     --begin TIME          hold the chain until TIME (sbatch --begin: 22:00, now+2hours,
#                           2025-12-01T20:00, tomorrow)
#     --afterany            chain by explicit dependencies (job i waits for job i-1 to end,
#                           however it ended) instead of the default --dependency=singleton
#                           (one job of the chain's name runs at a time)
#     --name NAME           the chain's job name (default lemma-<base name of run.dir>)
#     --script FILE         the batch script (default slurm/lemma.sbatch; or slurm/multinode.sbatch)
#     --sbatch "ARGS"       more sbatch options for every job, e.g. "--time=4:00:00 --ntasks=8"
#     -n, --dry-run         print the sbatch commands, submit nothing
#   Prints the job ids, one a line (the first line is the first job).
#
# Each job runs until the early signal before its time limit, checkpoints and ends; the next
# starts and resumes (the jobs get LEMMA_CHAIN=1, so they do not requeue themselves). The job
# that completes the run cancels the chain's jobs still pending, and so does a job in which
# lemma failed (exit status not 0 without a signal: a bad config, diverging training), since
# the next job would fail the same way. A job that dies otherwise (node failure, killed at
# the limit) does not get to cancel anything: the next one resumes from the last good
# checkpoint. `scancel -n NAME` stops a chain by hand.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
jobs=4 begin="" dep=singleton name="" script=$here/lemma.sbatch extra="" dry=0
while (($#)); do
    case $1 in
        -k | --jobs) jobs=$2; shift 2 ;;
        --begin) begin=$2; shift 2 ;;
        --begin=*) begin=${1#*=}; shift ;;
        --afterany) dep=afterany; shift ;;
        --singleton) dep=singleton; shift ;;
        --name) name=$2; shift 2 ;;
        --script) script=$2; shift 2 ;;
        --sbatch) extra=$2; shift 2 ;;
        -n | --dry-run) dry=1; shift ;;
        -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'; exit 0 ;;
        --) shift; break ;;
        -*) echo "overnight.sh: unknown option '$1' (--help lists them)" >&2; exit 2 ;;
        *) break ;;
    esac
done
(($# >= 1)) || { echo "usage: slurm/overnight.sh [-k K] [--begin TIME] [--afterany] CONFIG [--set k=v]..." >&2; exit 2; }
[[ $jobs =~ ^[1-9][0-9]*$ ]] || { echo "overnight.sh: -k wants a positive number, not '$jobs'" >&2; exit 2; }
[[ -r $1 ]] || { echo "overnight.sh: cannot read config '$1'" >&2; exit 2; }
[[ -r $script ]] || { echo "overnight.sh: no batch script '$script'" >&2; exit 2; }

if [[ -z $name ]]; then
    # The run directory's base name, from the effective config when lemma is built.
    lemma=${LEMMA:-$here/../build/lemma}
    sets=() args=("${@:2}")
    for ((i = 0; i < ${#args[@]}; i++)); do
        [[ ${args[i]} == --set ]] && sets+=(--set "${args[i + 1]:-}")
        [[ ${args[i]} == --set=* ]] && sets+=("${args[i]}")
    done
    rundir=""
    if [[ -x $lemma ]]; then
        rundir=$(env $(compgen -e | grep -E '^(SLURM|PMIX?)_' | sed 's/^/-u /') "$lemma" config "$1" "${sets[@]}" --dump 2>/dev/null |
                 awk '/^run = \{/ {r = 1} r && !done && /^  dir = / {sub(/^  dir = "/, ""); sub(/".*/, ""); print; done = 1}') || rundir=""
    fi
    name=lemma-$(basename "${rundir:-$(basename "$1" .cfg)}")
fi

# shellcheck disable=SC2206
extra_args=($extra)
prev=""
for ((j = 1; j <= jobs; j++)); do
    opts=(--parsable --job-name="$name" --export=ALL,LEMMA_CHAIN=1)
    [[ -n $begin ]] && opts+=(--begin="$begin")
    if [[ $dep == singleton ]]; then opts+=(--dependency=singleton)
    elif [[ -n $prev ]]; then opts+=(--dependency=afterany:$prev); fi
    if ((dry)); then
        echo "sbatch ${opts[*]} ${extra_args[*]} $script $*"
        prev=JOB$j
        continue
    fi
    id=$(sbatch "${opts[@]}" "${extra_args[@]}" "$script" "$@")
    id=${id%%;*}
    echo "$id"
    prev=$id
done
((dry)) || echo "overnight.sh: $jobs jobs named $name (dependency $dep${begin:+, begin $begin}); squeue -n $name; scancel -n $name stops the chain" >&2
