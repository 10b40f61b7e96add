# tests/slurm/cluster.sh: a real single-node Slurm cluster on this machine, for the tests.
#
# Sourced:   source tests/slurm/cluster.sh; cluster_start DIR || exit; ...; cluster_stop
# By hand:   bash tests/slurm/cluster.sh start DIR   (prints the export line for SLURM_CONF)
#            bash tests/slurm/cluster.sh stop DIR
#
# cluster_start makes DIR (a fresh directory; its parents must be searchable by the munge
# user), creates a munge key there, starts munged as the munge user with its own socket, then
# slurmctld and slurmd (as root) from a generated DIR/slurm.conf naming this host, with free
# TCP ports, proctrack/linuxproc, task/none and all state under DIR. It exports SLURM_CONF, so
# sbatch, squeue, scontrol... of this shell (and the jobs, which inherit the environment) talk
# to this cluster only, never to one configured in /etc/slurm. It waits until the node is idle.
# On failure it prints "cluster: REASON" (and the tail of the daemon's log), stops what it
# started and returns 1.
#
# cluster_stop stops exactly the daemons cluster_start started, by the pids it recorded
# (TERM, then KILL after 10 s), slurmd first, munged last. It is safe to call twice.
#
# The node offers CLUSTER_CPUS CPUs (default: the machine's, at least 4; with more than the
# machine has, SlurmdParameters=config_overrides lets slurmd accept that, so that a 2-rank job
# and a 3-task array fit on a 2-core machine, oversubscribed as mpirun --oversubscribe would).

CLUSTER_DIR=""
CLUSTER_PIDS=()   # "name:pid", in start order

_cluster_fail() { # REASON [LOG]
    echo "cluster: $1"
    if [[ -n ${2:-} && -s $2 ]]; then tail -n 15 "$2" | sed 's/^/    /'; fi
    cluster_stop
    return 1
}

_cluster_free_ports() { # N -> N free TCP ports on this machine, one a line
    /usr/bin/python3 - "$1" <<'PY'
import socket, sys
socks = []
for _ in range(int(sys.argv[1])):
    s = socket.socket(); s.bind(("127.0.0.1", 0)); socks.append(s)
print("\n".join(str(s.getsockname()[1]) for s in socks))
PY
}

_cluster_alive() { # PID NAME: true when PID is a running NAME process
    [[ -r /proc/$1/comm ]] && [[ $(cat "/proc/$1/comm" 2>/dev/null) == "$2"* ]] &&
        ! grep -q '^State:[[:space:]]*Z' "/proc/$1/status" 2>/dev/null
}

# _cluster_starting PID: true while the daemon just started in the background lives, whatever
# its name: right after `cmd &` the child is still the forked shell (or setpriv) until it execs.
_cluster_starting() {
    [[ -r /proc/$1/status ]] && ! grep -q '^State:[[:space:]]*Z' "/proc/$1/status" 2>/dev/null
}

cluster_start() { # DIR
    local dir=$1
    CLUSTER_DIR=$dir
    CLUSTER_PIDS=()
    local b
    for b in munged mungekey slurmctld slurmd sbatch squeue scontrol sinfo srun setpriv; do
        command -v "$b" >/dev/null 2>&1 || PATH=$PATH:/usr/sbin:/sbin command -v "$b" >/dev/null 2>&1 ||
            { _cluster_fail "'$b' not found: install Slurm and munge (make deps: slurm-wlm munge)"; return 1; }
    done
    export PATH=$PATH:/usr/sbin:/sbin
    ((EUID == 0)) || { _cluster_fail "must run as root (slurmd starts jobs as their user; the tests need root)"; return 1; }
    id munge >/dev/null 2>&1 || { _cluster_fail "no 'munge' user (the munge package creates it)"; return 1; }

    mkdir -p "$dir" || { _cluster_fail "cannot create $dir"; return 1; }
    dir=$(cd "$dir" && pwd); CLUSTER_DIR=$dir
    chmod 755 "$dir"
    local host; host=$(hostname -s)
    mkdir -p "$dir/munge" "$dir/state" "$dir/spool/slurmd-$host" "$dir/log" "$dir/tmp"
    chown munge:munge "$dir/munge"; chmod 755 "$dir/munge"   # the socket must be reachable by all
    # munged refuses a socket or key directory that others can write to, and so any parent
    # of it that is group/other-writable without the sticky bit: check, to fail with a reason.
    local p=$dir
    while [[ $p != / ]]; do
        p=$(dirname "$p")
        local mode; mode=$(stat -c %a "$p")
        if (( (8#$mode & 8#022) && !(8#$mode & 8#1000) )); then
            _cluster_fail "$p is group/other-writable without the sticky bit; munged refuses a socket below it"; return 1
        fi
        if (( !(8#$mode & 8#001) )); then
            _cluster_fail "$p is not searchable by others; the munge user cannot reach $dir"; return 1
        fi
    done

    # munge: a fresh key, munged as the munge user in the foreground (so that $! is munged).
    local key=$dir/munge/munge.key sock=$dir/munge/munge.socket
    setpriv --reuid=munge --regid=munge --init-groups mungekey --create --keyfile="$key" >"$dir/log/mungekey.log" 2>&1 ||
        { _cluster_fail "mungekey failed" "$dir/log/mungekey.log"; return 1; }
    setpriv --reuid=munge --regid=munge --init-groups munged --foreground --key-file="$key" \
        --socket="$sock" --pid-file="$dir/munge/munged.pid" --seed-file="$dir/munge/munged.seed" \
        --log-file="$dir/munge/munged.log" </dev/null >"$dir/log/munged.out" 2>&1 &
    CLUSTER_PIDS+=("munged:$!")
    local i
    for i in $(seq 100); do [[ -S $sock ]] && break; _cluster_starting "$!" || break; sleep 0.1; done
    [[ -S $sock ]] || { cat "$dir/munge/munged.log" >>"$dir/log/munged.out" 2>/dev/null
                        _cluster_fail "munged did not start" "$dir/log/munged.out"; return 1; }

    local ports; ports=($(_cluster_free_ports 2))
    local cpus=${CLUSTER_CPUS:-$(( $(nproc) > 4 ? $(nproc) : 4 ))}
    cat >"$dir/slurm.conf" <<EOF
# Generated by tests/slurm/cluster.sh: a single-node test cluster, all state in $dir.
ClusterName=lemmatest
SlurmctldHost=$host(127.0.0.1)
SlurmctldPort=${ports[0]}
SlurmdPort=${ports[1]}
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
# cred_expire: also the pause before a requeued job may start again (default 120 s)
AuthInfo=socket=$sock,cred_expire=${CLUSTER_CRED_EXPIRE:-8}
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool/slurmd-%n
# the jobs' TmpFS; PMIx puts its per-step directories (spmix_appdir_*) there, not in /tmp
TmpFS=$dir/tmp
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/log/slurmctld.log
SlurmdLogFile=$dir/log/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
PlugStackConfig=$dir/plugstack.conf
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/filetxt
JobCompLoc=$dir/log/jobcomp.txt
MpiDefault=none
SwitchType=switch/none
SchedulerType=sched/builtin
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
SlurmdParameters=config_overrides
ReturnToService=2
JobRequeue=1
MinJobAge=3600
KillWait=5
InactiveLimit=0
MessageTimeout=10
NodeName=$host NodeAddr=127.0.0.1 CPUs=$cpus State=UNKNOWN
PartitionName=debug Nodes=$host Default=YES MaxTime=INFINITE State=UP
EOF
    : >"$dir/plugstack.conf"
    export SLURM_CONF=$dir/slurm.conf

    slurmctld -D -i -f "$SLURM_CONF" </dev/null >"$dir/log/slurmctld.out" 2>&1 &
    CLUSTER_PIDS+=("slurmctld:$!")
    for i in $(seq 100); do scontrol ping 2>/dev/null | grep -q "is UP" && break
        _cluster_starting "$!" || break; sleep 0.2; done
    scontrol ping 2>/dev/null | grep -q "is UP" ||
        { _cluster_fail "slurmctld did not come up" "$dir/log/slurmctld.log"; return 1; }

    slurmd -D -f "$SLURM_CONF" -N "$host" </dev/null >"$dir/log/slurmd.out" 2>&1 &
    CLUSTER_PIDS+=("slurmd:$!")
    local state=""
    for i in $(seq 150); do
        state=$(sinfo -h -n "$host" -o %t 2>/dev/null)
        [[ $state == idle ]] && break
        _cluster_starting "$!" || break
        sleep 0.2
    done
    [[ $state == idle ]] || { _cluster_fail "node $host did not become idle (state '$state')" "$dir/log/slurmd.log"; return 1; }
    echo "# cluster: up in $dir (node $host, $cpus CPUs, slurmctld port ${ports[0]})"
}

cluster_stop() {
    local i entry name pid
    for ((i = ${#CLUSTER_PIDS[@]} - 1; i >= 0; i--)); do
        entry=${CLUSTER_PIDS[i]}; name=${entry%%:*}; pid=${entry##*:}
        _cluster_alive "$pid" "$name" || continue
        kill -TERM "$pid" 2>/dev/null
        local n
        for n in $(seq 100); do _cluster_alive "$pid" "$name" || break; sleep 0.1; done
        _cluster_alive "$pid" "$name" && kill -KILL "$pid" 2>/dev/null
        wait "$pid" 2>/dev/null
    done
    CLUSTER_PIDS=()
}

# Jobs' state as the controller sees it: JOBID -> STATE (e.g. RUNNING, COMPLETED, PENDING).
job_state() { scontrol -o show job "$1" 2>/dev/null | grep -o 'JobState=[A-Z_]*' | cut -d= -f2; }

# wait_job JOBID SECONDS: until the job (every task of an array) has ended; false on timeout.
wait_job() {
    local id=$1 limit=$2 t0=$SECONDS
    while ((SECONDS - t0 < limit)); do
        [[ -z $(squeue -h -j "$id" -o %i 2>/dev/null) ]] && return 0
        sleep 0.5
    done
    return 1
}

if [[ ${BASH_SOURCE[0]} == "$0" ]]; then
    case ${1:-} in
        start)
            [[ -n ${2:-} ]] || { echo "usage: $0 start|stop DIR"; exit 2; }
            cluster_start "$2" || exit 1
            printf '%s\n' "${CLUSTER_PIDS[@]}" >"$CLUSTER_DIR/pids"
            # The daemons are children of this shell: leave them running when it exits.
            disown -a
            echo "export SLURM_CONF=$SLURM_CONF"
            ;;
        stop)
            [[ -n ${2:-} && -r $2/pids ]] || { echo "usage: $0 stop DIR (a DIR that '$0 start' made)"; exit 2; }
            mapfile -t CLUSTER_PIDS <"$2/pids"
            cluster_stop; rm -f "$2/pids"
            ;;
        *) echo "usage: $0 start|stop DIR"; exit 2 ;;
    esac
fi
