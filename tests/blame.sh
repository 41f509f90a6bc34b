#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
#
# Blame of a frozen rank: one rank gets SIGSTOP while the job moves
# messages above the eager limit, and every other rank must fail within
# RCOMM_TIMEOUT (and the 2 s of health probes) with an error that names the
# frozen rank as the one that did not respond, and no other rank so
# (src/coll/health.c; its probes and their answers must not wait behind
# the data queued for a live rank).
#   - 5 and 8 ranks on the loopback, an allreduce of 8 MiB in a loop, 3
#     runs each with the frozen rank differing: the staged path (the ranks
#     meet in shared memory, src/coll/allreduce_staged.c), then in the last
#     run messages (RCOMM_SHM_STAGED=0; segments of 256 KiB: rendezvous)
#     with RCOMM_TCP_EAGER=16K;
#   - as root with network namespaces: 5 simulated hosts on 20 Mbit/s links
#     (scripts/rcomm-simhosts), each rank exchanging 16 MiB messages with
#     its neighbours (rcomm-sendrecv-perf), which take longer than
#     RCOMM_TIMEOUT. Until control frames went ahead of queued data
#     (transports/tcp/tcp.h, "Control before data") a probe, or its answer,
#     waited behind such a message and live ranks were named as silent.
# Every wait is bounded; the frozen rank gets SIGCONT and SIGKILL at the
# end of its run, and the exit trap kills whatever is left. One TAP-like
# line per run, then "N passed, N failed". Run by automake
# (TESTS_BUILDDIR); by hand, from the build directory:
#   TESTS_BUILDDIR=$PWD/tests sh ../tests/blame.sh
# RCOMM_BLAME_RUNS changes the 3 runs per rank count.

b=${TESTS_BUILDDIR:?TESTS_BUILDDIR is not set}/..
RUNS=${RCOMM_BLAME_RUNS:-3}
TMP=$(mktemp -d) || exit 99
# shellcheck source-path=SCRIPTDIR source=fault_lib.sh
. "$(dirname "$0")/fault_lib.sh"
simup=0
trap 'fl_kill_all; [ $simup -eq 1 ] && "$sim" down; rm -rf "$TMP"' EXIT
trap 'exit 1' INT TERM
worst=0

# frozen N VICTIM ADDR LAUNCH TIMEOUT TITLE PROGRAM ARGS...: N ranks of a
# perf tool, VICTIM stopped once they run, every other rank's error read.
frozen() {
    n=$1 victim=$2 addr=$3 launch=$4 tmo=$5 title=$6
    shift 6
    fl_start "$n" "$addr" "$launch" "$tmo" "$@"
    busy=0
    if ! fl_started; then
        fl_kill_all
        # A port another job holds is not what this test is about: the
        # caller tries another.
        if grep -q "Address already in use" "$TMP"/err*; then
            busy=1
            return
        fi
        fl_not_ok "$title" "rank 0 printed no header: $(tail -n 3 "$TMP/err0" | tr '\n' '|')"
        return
    fi
    eval "kill -STOP \$fl_pid$victim"
    t0=$(fl_now_ms)
    fl_wait_exits "$t0" $(((${tmo%.*} + ${slack:-12}) * 1000)) "$victim"
    fl_kill_all
    if grep -q "Address already in use" "$TMP"/err*; then
        busy=1
        return
    fi
    fl_named "$victim" "$victim"
    [ $fl_ms -gt $worst ] && worst=$fl_ms
    if [ -z "$fl_bad" ]; then
        fl_ok "$title: every other rank named rank $victim alone," \
            "within $(fl_secs $fl_ms) s of SIGSTOP"
    else
        fl_not_ok "$title" "$fl_bad"
    fi
}

# loopback N VICTIM TITLE [VAR=VALUE...]: an allreduce loop on 127.0.0.1,
# on a port of its own (another is tried when that one is taken).
loopback() {
    n=$1 v=$2 title=$3
    shift 3
    for try in 1 2 3; do
        port=$((20000 + ($$ * 7 + try * 4099 + n * 31 + v * 577) % 30000))
        frozen "$n" "$v" "127.0.0.1:$port" "" 2 "$title" env "$@" \
            "$b/rcomm-allreduce-perf" -b 8M -e 8M -n 100000 -w 1 -c 0 --no-ceiling
        [ "$busy" = 1 ] || return
    done
    fl_not_ok "$title" "3 ports in a row were taken (last 127.0.0.1:$port)"
}

# The last run of each size by messages with a small eager limit: more
# rendezvous, announcements without a head once the flow-control budget is
# spent.
for size in 5 8; do
    run=1
    while [ $run -le "$RUNS" ]; do
        v=$(((run * 3 + size) % size))
        if [ $run -lt "$RUNS" ]; then
            loopback $size $v "$size ranks, allreduce 8 MiB, rank $v frozen (run $run of $RUNS)"
        else
            loopback $size $v "$size ranks, allreduce 8 MiB, messages, RCOMM_TCP_EAGER=16K, rank $v frozen (run $run of $RUNS)" \
                RCOMM_SHM_STAGED=0 RCOMM_TCP_EAGER=16K
        fi
        run=$((run + 1))
    done
done

# Simulated hosts on slow links.
if ! why=$(netns_ok); then
    fl_skip "5 simulated hosts on 20 Mbit/s links" "$why"
else
    export RCOMM_SIMHOSTS=rcblame$$
    if "$sim" up -n 5 --rate 20mbit >/dev/null; then
        simup=1
        # The frozen rank's kernel still takes bytes until its socket
        # buffers (and its senders') are full: about 16 MiB, 6.4 s at 20
        # Mbit/s, during which its peers see progress (coll.c check_timeout).
        slack=25
        for v in 2 4; do
            frozen 5 $v "$("$sim" addr 0):29500" sim 3 \
                "5 hosts on 20 Mbit/s, 16 MiB exchanges (longer than RCOMM_TIMEOUT), rank $v frozen" \
                "$b/rcomm-sendrecv-perf" -b 16M -e 16M -n 100000 -w 1 -c 0 --no-ceiling
        done
        "$sim" down
        simup=0
        left=$(ip netns list | grep -c "^$RCOMM_SIMHOSTS-")
        if [ "$left" -eq 0 ]; then
            fl_ok "simulated hosts removed"
        else
            fl_not_ok "$left namespaces of $RCOMM_SIMHOSTS left behind"
        fi
    else
        fl_not_ok "rcomm-simhosts up -n 5 --rate 20mbit"
    fi
fi

echo "# worst time from SIGSTOP to the last error: $(fl_secs $worst) s"
fl_summary
