#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
#
# Network faults on simulated hosts (scripts/rcomm-simhosts: a network
# namespace per rank under one bridge). Jobs that check every element of
# their results against an exact reference (tests/coll_check --quick: every
# collective, algorithm, type and op; rcomm-allreduce-perf -c 1: 1 to 8 MiB,
# rendezvous) must stay exact under
#   - random packet loss, 1% and 5%, in and out of one host (nftables, or
#     iptables' statistic match; skipped without either);
#   - links shaped by tc tbf to 200 Mbit/s and 20 Mbit/s, and messages that
#     take longer than RCOMM_TIMEOUT to cross them;
#   - a link down for one second, well under RCOMM_TIMEOUT, mid-collective;
# and jobs must fail, each rank naming the culprit, never hang, when
#   - one host's link goes down for good mid-collective: every other rank
#     fails within RCOMM_TIMEOUT (and 2 s of health probes) naming it as
#     the one that did not respond, and it fails too;
#   - one rank is frozen (SIGSTOP) on shaped links: the others name it.
# Skips (77) without root or network namespaces. Every wait is bounded
# (timeout, polls); the exit trap kills the ranks and removes the
# namespaces. One TAP-like line per check, then "N passed, N failed".
# Run by automake (TESTS_BUILDDIR); by hand, from the build directory:
#   TESTS_BUILDDIR=$PWD/tests sh ../tests/faults.sh
# shellcheck disable=SC2086 # $COLL and $PERF: a program and its arguments

b=${TESTS_BUILDDIR:?TESTS_BUILDDIR is not set}/..
TMP=$(mktemp -d) || exit 99
# shellcheck source-path=SCRIPTDIR source=fault_lib.sh
. "$(dirname "$0")/fault_lib.sh"
if ! why=$(netns_ok); then
    rm -rf "$TMP"
    echo "faults: $why: skipped"
    exit 77
fi
export RCOMM_SIMHOSTS=rcflt$$
trap 'fl_kill_all; "$sim" down; rm -rf "$TMP"' EXIT
trap 'exit 1' INT TERM
ADDR="$("$sim" addr 0):29500"
COLL="$b/tests/coll_check --quick"
PERF="$b/rcomm-allreduce-perf -b 1M -e 8M -n 1 -w 0 -c 1 --no-ceiling"
worst=0

up() {
    "$sim" up "$@" >/dev/null || {
        fl_not_ok "rcomm-simhosts up $*"
        exit 1
    }
}

# exact TITLE N TIMEOUT PROGRAM ARGS...: a job over hosts 0..N-1 through
# rcomm-run, which exits 0 only if every rank does (each checks its own
# results); at most 240 s.
exact() {
    title=$1 n=$2 tmo=$3
    shift 3
    t0=$(fl_now_ms)
    RCOMM_TIMEOUT=$tmo timeout 240 "$b/rcomm-run" -n "$n" -t 200 -a "$ADDR" \
        "$sim" rank "$@" >"$TMP/job.out" 2>"$TMP/job.err"
    rc=$?
    ms=$(($(fl_now_ms) - t0))
    if [ $rc -eq 0 ]; then
        fl_ok "$title: exact ($(fl_secs $ms) s)"
    else
        fl_not_ok "$title: exit status $rc after $(fl_secs $ms) s" \
            "$(grep -v "^\[.\] #\|^\[.\]  *[0-9]" "$TMP/job.err" "$TMP/job.out" | tail -n 6 | tr '\n' '|')"
    fi
}

# retrans HOST: TCP segments host HOST has retransmitted so far.
retrans() {
    "$sim" exec "$1" cat /proc/net/snmp |
        awk '/^Tcp:/ { if (!n) { for (i = 1; i <= NF; i++) if ($i == "RetransSegs") c = i; n = 1 } else print $c }'
}

# ---- Packet loss ----------------------------------------------------------------

# loss HOST PCT: drop PCT% of the packets in and out of HOST's eth0 at
# random (0: none). Prints the tool used, or fails if there is none.
loss() {
    if command -v nft >/dev/null; then
        "$sim" exec "$1" nft delete table inet rcfault 2>/dev/null
        [ "$2" -eq 0 ] && return 0
        "$sim" exec "$1" nft -f - <<EOF || return 1
table inet rcfault {
    chain in { type filter hook input priority 0; policy accept;
        iifname "eth0" numgen random mod 100 < $2 counter drop; }
    chain out { type filter hook output priority 0; policy accept;
        oifname "eth0" numgen random mod 100 < $2 counter drop; }
}
EOF
        echo nftables
    elif command -v iptables >/dev/null; then
        "$sim" exec "$1" iptables -F
        [ "$2" -eq 0 ] && return 0
        p=$(awk -v p="$2" 'BEGIN { printf "%.2f", p / 100 }')
        "$sim" exec "$1" iptables -A INPUT -i eth0 -m statistic --mode random \
            --probability "$p" -j DROP &&
            "$sim" exec "$1" iptables -A OUTPUT -o eth0 -m statistic --mode random \
                --probability "$p" -j DROP || return 1
        echo iptables
    else
        return 1
    fi
}

# dropped HOST: packets the loss rules of HOST dropped.
dropped() {
    if command -v nft >/dev/null; then
        "$sim" exec "$1" nft list table inet rcfault |
            awk '/counter packets/ { for (i = 1; i < NF; i++) if ($i == "packets") s += $(i + 1) } END { print s + 0 }'
    else
        "$sim" exec "$1" iptables -L -v -x -n | awk '/statistic/ { s += $1 } END { print s + 0 }'
    fi
}

# fast_rto HOSTS: TCP's least retransmission timeout on every host's route
# at 10 ms, as datacenters set it (Linux's 200 ms made 5% loss cost
# coll_check 50 s of waiting, on a link with a 0.1 ms round trip).
fast_rto() {
    i=0
    while [ $i -lt "$1" ]; do
        "$sim" exec $i sh -c 'ip route change $(ip route show dev eth0 | head -n 1) dev eth0 rto_min 10ms' ||
            return 1
        i=$((i + 1))
    done
}

up -n 5
fast_rto 5 || fl_not_ok "rto_min 10ms on the hosts' routes"
for pct in 1 5; do
    if ! tool=$(loss 1 $pct); then
        fl_skip "$pct% packet loss" "neither nft nor iptables (apt-get install nftables)"
        continue
    fi
    exact "3 ranks, $pct% loss in and out of host 1 ($tool), coll_check --quick" 3 30 $COLL
    exact "5 ranks, $pct% loss in and out of host 1, allreduce 1-8 MiB checked" 5 30 $PERF
    echo "# host 1 dropped $(dropped 1) packets"
    loss 1 0
done

# ---- Rate limits ----------------------------------------------------------------

up -n 5 --rate 200mbit
exact "3 ranks, every link 200 Mbit/s (tc tbf), coll_check --quick" 3 30 $COLL
exact "5 ranks, every link 200 Mbit/s, allreduce 1-8 MiB checked" 5 30 $PERF
up -n 5 --rate 20mbit
exact "3 ranks, every link 20 Mbit/s (tc tbf), coll_check --quick" 3 30 $COLL
exact "5 ranks, every link 20 Mbit/s, allreduce 1-2 MiB checked" 5 30 \
    "$b/rcomm-allreduce-perf" -b 1M -e 2M -n 1 -w 0 -c 1 --no-ceiling
# A message that takes longer than RCOMM_TIMEOUT (16 MiB: 6.7 s) is slow,
# not dead: its bytes keep moving (coll.c check_timeout).
exact "3 ranks, every link 20 Mbit/s, 16 MiB messages (6.7 s each) with RCOMM_TIMEOUT=3" 3 3 \
    "$b/rcomm-sendrecv-perf" -b 16M -e 16M -n 1 -w 0 -c 1 --no-ceiling

# ---- A link down for good, mid-collective -------------------------------------------

up -n 5
down=3
fl_start 5 "$ADDR" sim 3 "$b/rcomm-allreduce-perf" -b 8M -e 8M -n 100000 -w 1 -c 0 --no-ceiling
title="5 ranks, host $down's eth0 down mid-allreduce (RCOMM_TIMEOUT=3)"
if fl_started; then
    "$sim" exec $down ip link set eth0 down
    t0=$(fl_now_ms)
    fl_wait_exits "$t0" 15000
    fl_kill_all
    fl_named $down $down
    [ $fl_ms -gt $worst ] && worst=$fl_ms
    own=$(grep -c ": rank $down: " "$TMP/err$down")
    if [ -n "$fl_bad" ]; then
        fl_not_ok "$title" "$fl_bad"
    elif [ ! -f "$TMP/gone$down" ] || [ "$own" -eq 0 ]; then
        fl_not_ok "$title: rank $down did not fail" "$(tail -n 3 "$TMP/err$down" | tr '\n' '|')"
    else
        fl_ok "$title: every other rank named rank $down alone within $(fl_secs $fl_ms) s;" \
            "rank $down failed after $(fl_secs "$(cat "$TMP/gone$down")") s"
    fi
else
    fl_kill_all
    fl_not_ok "$title: the job did not start" "$(tail -n 3 "$TMP/err0" | tr '\n' '|')"
fi

# ---- A link down for a second, mid-collective -----------------------------------------

# 20 Mbit/s, so that coll_check runs for seconds and the outage (at the
# switch port) lands among its collectives: TCP retransmits what was lost.
up -n 3 --rate 20mbit
before=$(retrans 1)
t0=$(fl_now_ms)
RCOMM_TIMEOUT=10 timeout 240 "$b/rcomm-run" -n 3 -t 200 -a "$ADDR" "$sim" rank $COLL \
    >"$TMP/job.out" 2>"$TMP/job.err" &
job=$!
sleep 1.5
ip -n "$RCOMM_SIMHOSTS-sw" link set p1 down
sleep 1
ip -n "$RCOMM_SIMHOSTS-sw" link set p1 up
wait $job
rc=$?
ms=$(($(fl_now_ms) - t0))
again=$(($(retrans 1) - before))
title="3 ranks, host 1's switch port down for 1 s mid-coll_check (RCOMM_TIMEOUT=10)"
if [ $rc -ne 0 ]; then
    fl_not_ok "$title: exit status $rc" "$(tail -n 6 "$TMP/job.err" | tr '\n' '|')"
elif [ "$again" -le 0 ]; then
    fl_not_ok "$title: no retransmission: the outage missed the job ($(fl_secs $ms) s)"
else
    fl_ok "$title: exact, $again segments retransmitted, $(fl_secs $ms) s"
fi

# ---- A frozen rank on shaped links ----------------------------------------------------

up -n 5 --rate 200mbit
frozen=2
fl_start 5 "$ADDR" sim 3 "$b/rcomm-allreduce-perf" -b 8M -e 8M -n 100000 -w 1 -c 0 --no-ceiling
title="5 ranks on 200 Mbit/s links, rank $frozen frozen mid-allreduce (RCOMM_TIMEOUT=3)"
if fl_started; then
    eval "kill -STOP \$fl_pid$frozen"
    t0=$(fl_now_ms)
    fl_wait_exits "$t0" 15000 $frozen
    fl_kill_all
    fl_named $frozen $frozen
    [ $fl_ms -gt $worst ] && worst=$fl_ms
    if [ -z "$fl_bad" ]; then
        fl_ok "$title: every other rank named rank $frozen alone within $(fl_secs $fl_ms) s"
    else
        fl_not_ok "$title" "$fl_bad"
    fi
else
    fl_kill_all
    fl_not_ok "$title: the job did not start" "$(tail -n 3 "$TMP/err0" | tr '\n' '|')"
fi

"$sim" down
left=$(ip netns list | grep -c "^$RCOMM_SIMHOSTS-")
if [ "$left" -eq 0 ]; then
    fl_ok "every namespace removed"
else
    fl_not_ok "$left namespaces of $RCOMM_SIMHOSTS left behind"
fi
echo "# worst time from a fault to the last rank's error: $(fl_secs $worst) s"
fl_summary
