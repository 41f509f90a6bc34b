#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
#
# Soak test of rcomm-run under kills (not part of make check; minutes long).
#
#   (a) COUNT runs of a 4-rank allreduce loop in which a random rank gets
#       SIGKILL at a random moment (one run in four in the first 300 ms, when
#       ranks start and bootstrap; else in the first 5 s). Per run:
#       whether rcomm-run blamed the killed rank, which survivors printed an
#       error naming it, whether the job hung (not done within 60 s), rank
#       processes left after rcomm-run exited, and the time from the kill to
#       rcomm-run's exit.
#   (b) COUNT runs in which rcomm-run itself gets SIGKILL at a random moment:
#       rank processes left 5 s later.
#
# Usage, from the build directory:
#   sh ../tests/soak.sh [COUNT]        (default 100 runs of each part)
# RCOMM_RUN and RCOMM_PERF name other binaries (default ./rcomm-run and
# ./rcomm-allreduce-perf). Exit status 0 when there was no hang, no leftover
# process and every kill was blamed on the killed rank.

COUNT=${1:-100}
RUN=${RCOMM_RUN:-./rcomm-run}
PERF=${RCOMM_PERF:-./rcomm-allreduce-perf}
HANG_S=60
for f in "$RUN" "$PERF"; do
    if [ ! -x "$f" ]; then
        echo "soak.sh: $f not found (run from the build directory, or set RCOMM_RUN" \
            "and RCOMM_PERF)" >&2
        exit 99
    fi
done
TMP=$(mktemp -d) || exit 99
# The ranks are found by this path: only this soak's ranks have it. The
# perf tool takes its collective from its name, which stays the same.
ln -s "$(cd "$(dirname "$PERF")" && pwd)/$(basename "$PERF")" \
    "$TMP/rcomm-allreduce-perf" || exit 99
RANK_PROG=$TMP/rcomm-allreduce-perf
trap 'pkill -KILL -f -- "$RANK_PROG" 2>/dev/null; rm -rf "$TMP"' EXIT
# About 15 s of 64 KiB allreduces on a 2-core host, so that the kills (at
# most 5 s in) land while the job runs.
PERF_ARGS="-b 64K -e 64K -n 30000 -w 10 --no-ceiling"

now_ms() {
    date +%s%3N
}

# rand N: a random integer in 0..N-1.
rand() {
    echo $(($(od -An -N4 -tu4 /dev/urandom | tr -d ' ') % $1))
}

# A moment to kill at, in ms after the start: one run in four in the first
# 300 ms (rcomm-run starting ranks, ranks bootstrapping), the others in 5 s.
kill_moment() {
    if [ "$(rand 4)" -eq 0 ]; then rand 300; else rand 5000; fi
}

# Rank processes (rcomm-run's own command line names the program too, but
# does not start with it).
ranks_left() {
    pgrep -f -- "^$RANK_PROG" | wc -l
}

# job_left PGID: the job's processes still alive: ranks, and anything in its
# process group (the watchdog, what the ranks started). Zombies are dead:
# they only wait for init to reap them, which takes pid 1 of some
# containers a second or two.
job_left() {
    {
        pgrep -f -- "^$RANK_PROG"
        [ -n "$1" ] && pgrep -g "$1"
    } | sort -u | while read -r p; do ps -o stat= -p "$p"; done | grep -vc '^Z'
}

# The job's process group: its leader is rcomm-run's watchdog.
job_pgid() {
    pgrep -P "$1" -x rcomm-run-wd
}

# rank_pid LAUNCHER_PID RANK: the pid of that rank, or nothing yet.
rank_pid() {
    for p in $(pgrep -P "$1" -f -- "^$RANK_PROG"); do
        if tr '\0' '\n' <"/proc/$p/environ" 2>/dev/null | grep -qx "RCOMM_RANK=$2"; then
            echo "$p"
            return
        fi
    done
}

# wait_gone PID BOUND_S: wait for PID to exit, at most BOUND_S seconds;
# $rc is its status, or "hang".
wait_gone() {
    i=0
    while kill -0 "$1" 2>/dev/null && [ $i -lt $(($2 * 20)) ]; do
        sleep 0.05
        i=$((i + 1))
    done
    if kill -0 "$1" 2>/dev/null; then
        rc=hang
        kill -KILL "$1"
        wait "$1" 2>/dev/null
    else
        wait "$1"
        rc=$?
    fi
}

echo "# soak: $COUNT runs per part; $RUN -n 4 $RANK_PROG $PERF_ARGS"
echo "# host: $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"

# ---- (a) a random rank killed -9 ----------------------------------------------------

blamed=0 named_all=0 hangs_a=0 left_a=0 missed=0 worst_ms=0 sum_ms=0 runs_a=0
n=1
while [ $n -le "$COUNT" ]; do
    victim=$(rand 4)
    delay_ms=$(kill_moment)
    t0=$(now_ms)
    # shellcheck disable=SC2086 # PERF_ARGS is a list of words
    "$RUN" -n 4 "$RANK_PROG" $PERF_ARGS >"$TMP/out" 2>"$TMP/err" &
    lp=$!
    while [ $(($(now_ms) - t0)) -lt "$delay_ms" ]; do sleep 0.02; done
    # Too early for the ranks to exist: the first moment it does.
    vp=
    while kill -0 $lp 2>/dev/null && [ -z "$vp" ] && [ $(($(now_ms) - t0)) -lt 10000 ]; do
        vp=$(rank_pid $lp "$victim")
        [ -n "$vp" ] || sleep 0.02
    done
    if [ -z "$vp" ]; then
        wait_gone $lp $HANG_S
        echo "run a$n: rank $victim not found to kill (job ended, status $rc): not counted"
        missed=$((missed + 1))
        n=$((n + 1))
        continue
    fi
    pg=$(job_pgid $lp)
    kill -KILL "$vp"
    tk=$(now_ms)
    wait_gone $lp $HANG_S
    detect_ms=$(($(now_ms) - tk))
    left=$(job_left "$pg")
    pkill -KILL -f -- "$RANK_PROG" 2>/dev/null
    runs_a=$((runs_a + 1))
    # Survivors that printed an error naming the victim, those that printed
    # none (stopped by rcomm-run first) and the others.
    named="" silent="" other=""
    for s in 0 1 2 3; do
        [ $s = "$victim" ] && continue
        if grep "^\[$s\] " "$TMP/err" | grep -i "error\|failed\|lost" |
            grep -q "rank $victim\b"; then
            named="$named $s"
        elif ! grep -q "^\[$s\] " "$TMP/err"; then
            silent="$silent $s"
        else
            other="$other $s"
        fi
    done
    launcher=$(grep "^rcomm-run:" "$TMP/err" | tr '\n' ' ')
    ok=""
    if [ "$rc" = hang ]; then
        hangs_a=$((hangs_a + 1))
        ok="$ok HANG"
    fi
    if [ "$launcher" = "rcomm-run: rank $victim was killed by signal SIGKILL " ]; then
        blamed=$((blamed + 1))
    else
        ok="$ok WRONG-BLAME"
    fi
    [ "$(echo "$named" | wc -w)" -eq 3 ] && named_all=$((named_all + 1))
    if [ "$left" -ne 0 ]; then
        left_a=$((left_a + left))
        ok="$ok LEFTOVER"
    fi
    [ $detect_ms -gt $worst_ms ] && worst_ms=$detect_ms
    sum_ms=$((sum_ms + detect_ms))
    echo "run a$n: killed rank $victim at $((tk - t0)) ms; exit $rc after $detect_ms ms;" \
        "survivors naming it:${named:- none}; silent:${silent:- none};" \
        "other:${other:- none};" \
        "left $left; rcomm-run said: $launcher${ok:+ <<<$ok}"
    n=$((n + 1))
done

# ---- (b) rcomm-run killed -9 ------------------------------------------------------------

left_b=0 runs_b=0 worst_gone_ms=0 first_check=0 missed_b=0
n=1
while [ $n -le "$COUNT" ]; do
    delay_ms=$(kill_moment)
    t0=$(now_ms)
    # shellcheck disable=SC2086
    "$RUN" -n 4 "$RANK_PROG" $PERF_ARGS >"$TMP/out" 2>"$TMP/err" &
    lp=$!
    while [ $(($(now_ms) - t0)) -lt "$delay_ms" ]; do sleep 0.02; done
    pg=$(job_pgid $lp)
    at_kill=$(ranks_left)
    if ! kill -KILL $lp 2>/dev/null; then
        wait $lp
        echo "run b$n: rcomm-run ended (status $?) before the kill: not counted"
        missed_b=$((missed_b + 1))
        n=$((n + 1))
        continue
    fi
    tk=$(now_ms)
    wait $lp 2>/dev/null
    # Poll for at most 5 s; what is there then is left over. A check takes
    # about 0.1 s on a busy host: "at the first check" is as fast as we see.
    checks=1
    while [ "$(job_left "$pg")" -gt 0 ] && [ $(($(now_ms) - tk)) -lt 5000 ]; do
        sleep 0.02
        checks=$((checks + 1))
    done
    gone_ms=$(($(now_ms) - tk))
    left=$(job_left "$pg")
    pkill -KILL -f -- "$RANK_PROG" 2>/dev/null
    runs_b=$((runs_b + 1))
    left_b=$((left_b + left))
    [ "$left" -eq 0 ] && [ $checks -eq 1 ] && first_check=$((first_check + 1))
    [ "$left" -eq 0 ] && [ $gone_ms -gt $worst_gone_ms ] && worst_gone_ms=$gone_ms
    echo "run b$n: killed rcomm-run at $((tk - t0)) ms with $at_kill ranks running;" \
        "left after 5 s: $left; all gone after $gone_ms ms (check $checks)"
    n=$((n + 1))
done

echo "# (a) rank killed: $runs_a runs ($missed not counted: job ended before the kill)"
echo "#     blamed on the killed rank by rcomm-run: $blamed/$runs_a"
echo "#     every survivor printed an error naming it: $named_all/$runs_a"
echo "#     hangs (> $HANG_S s): $hangs_a; processes of the job left: $left_a"
[ $runs_a -gt 0 ] &&
    echo "#     kill to rcomm-run's exit: worst $worst_ms ms, mean $((sum_ms / runs_a)) ms"
echo "# (b) rcomm-run killed: $runs_b runs ($missed_b not counted: job ended before" \
    "the kill); processes of the job left after 5 s:" \
    "$left_b; all gone at the first check: $first_check/$runs_b;" \
    "slowest to go: $worst_gone_ms ms"
[ $hangs_a -eq 0 ] && [ $left_a -eq 0 ] && [ $left_b -eq 0 ] && [ $blamed -eq $runs_a ]
