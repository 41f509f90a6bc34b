#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
# A single-node Slurm on this machine, for the PMIx tests
# (tests/pmix_slurm.sh runs `srun --mpi=pmix` on it). As root, Debian 12.
#
#   scripts/slurm.sh [start]   install Debian's slurmd, slurmctld, munge and
#                              slurm-client if missing, make a munge key if
#                              there is none, write /etc/slurm/slurm.conf
#                              (one node: this host at 127.0.0.1, its CPUs;
#                              one partition), start munged, slurmctld and
#                              slurmd, and wait until the node is idle
#   scripts/slurm.sh stop      stop the three daemons this script started
#                              (by the pids in their pid files)
#   scripts/slurm.sh status    sinfo's view, exit 0 when the node is idle
#
# Idempotent: a daemon that runs already is left running. Without systemd
# (containers, CI machines) the daemons are started directly.
set -eu
cd "$(dirname "$0")/.."
RUN=/run/rcomm-slurm
CONF=/etc/slurm/slurm.conf
node=$(hostname -s)

say() { echo "slurm.sh: $*"; }

pid_alive() { [ -s "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

node_state() { sinfo -h -n "$node" -o %T 2>/dev/null | head -n 1; }

write_conf() {
    cpus=$(nproc)
    mkdir -p /etc/slurm /var/lib/slurm/slurmctld /var/lib/slurm/slurmd /var/log/slurm "$RUN"
    cat >"$CONF" <<EOF
# Written by rcomm's scripts/slurm.sh: one node, for tests.
ClusterName=rcomm
SlurmctldHost=$node(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
MpiDefault=none
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
SchedulerType=sched/builtin
StateSaveLocation=/var/lib/slurm/slurmctld
SlurmdSpoolDir=/var/lib/slurm/slurmd
SlurmctldPidFile=$RUN/slurmctld.pid
SlurmdPidFile=$RUN/slurmd.pid
SlurmctldLogFile=/var/log/slurm/slurmctld.log
SlurmdLogFile=/var/log/slurm/slurmd.log
SlurmctldTimeout=30
SlurmdTimeout=30
InactiveLimit=0
KillWait=5
MinJobAge=30
NodeName=$node NodeAddr=127.0.0.1 CPUs=$cpus State=UNKNOWN
PartitionName=debug Nodes=$node Default=YES MaxTime=INFINITE State=UP OverSubscribe=YES
EOF
}

start() {
    [ "$(id -u)" -eq 0 ] || { say "run as root"; exit 1; }
    . scripts/deps.sh
    rcomm_install_deps slurmd slurmctld slurm-client munge
    ls /usr/lib/x86_64-linux-gnu/slurm-wlm/mpi_pmix*.so >/dev/null 2>&1 ||
        say "warning: this Slurm has no mpi/pmix plugin (srun --mpi=pmix will fail)"
    if [ ! -s /etc/munge/munge.key ]; then
        mungekey --create --keyfile=/etc/munge/munge.key
        chown munge:munge /etc/munge/munge.key
        chmod 600 /etc/munge/munge.key
    fi
    # Ours, or the same as ours: rewritten only when it is not.
    grep -q "^# Written by rcomm's scripts/slurm.sh" "$CONF" 2>/dev/null || write_conf
    mkdir -p "$RUN" /run/munge
    chown munge:munge /run/munge
    if ! pid_alive /run/munge/munged.pid; then
        runuser -u munge -- /usr/sbin/munged
        say "munged started"
    fi
    if ! pid_alive "$RUN/slurmctld.pid"; then
        /usr/sbin/slurmctld
        say "slurmctld started"
    fi
    if ! pid_alive "$RUN/slurmd.pid"; then
        /usr/sbin/slurmd
        say "slurmd started"
    fi
    # Idle within a minute; a node left down by an earlier run is resumed.
    i=0
    while [ $i -lt 60 ]; do
        case $(node_state) in
        idle* | mixed* | allocated*)
            say "node $node: $(node_state)"
            return 0
            ;;
        down* | drain*) scontrol update nodename="$node" state=resume 2>/dev/null || true ;;
        esac
        sleep 1
        i=$((i + 1))
    done
    say "node $node did not become idle: $(node_state)"
    tail -n 20 /var/log/slurm/slurmctld.log /var/log/slurm/slurmd.log
    exit 1
}

stop() {
    for f in "$RUN/slurmd.pid" "$RUN/slurmctld.pid" /run/munge/munged.pid; do
        if pid_alive "$f"; then
            kill "$(cat "$f")"
            say "stopped $(basename "$f" .pid)"
        fi
    done
}

case ${1:-start} in
start) start ;;
stop) stop ;;
status)
    sinfo 2>&1 || true
    case $(node_state) in idle* | mixed* | allocated*) exit 0 ;; *) exit 1 ;; esac
    ;;
*)
    echo "usage: scripts/slurm.sh [start|stop|status]" >&2
    exit 2
    ;;
esac
