#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
#
# Tests of the rcomm-run launcher: output prefixes, environment and job key,
# exit status, stopping a job when one rank fails and blaming the right rank,
# time limit, requests beyond the host's limits, usage errors, signal
# forwarding, and no rank outliving a killed launcher. Run by automake with
# RCOMM_RUN set to the built rcomm-run; by hand:
# RCOMM_RUN=/path/to/rcomm-run sh tests/launcher.sh
# Every run of rcomm-run is under `timeout`, so a broken launcher fails the
# test instead of hanging it; every wait is a bounded poll. Last line:
# "N passed, N failed".
#
# Conditions are passed to `expect` in single quotes on purpose: eval expands
# them after the run they check.
# shellcheck disable=SC2016,SC2034

RUN=${RCOMM_RUN:-./rcomm-run}
if [ ! -x "$RUN" ]; then
    echo "launcher.sh: rcomm-run not found at '$RUN' (set RCOMM_RUN)" >&2
    exit 99
fi
TMP=$(mktemp -d) || exit 99
# Rank processes are found by this path: only this run's ranks have it.
ln -s "$(command -v sleep)" "$TMP/rank-sleep" || exit 99
trap 'pkill -KILL -f -- "$TMP/rank-sleep" 2>/dev/null; rm -rf "$TMP"' EXIT
# The job key tests need rcomm-run to make the key.
unset RCOMM_JOB_KEY RCOMM_JOB_KEY_FILE
OUT=$TMP/out
ERR=$TMP/err
passed=0
failed=0

pass() {
    passed=$((passed + 1))
    echo "ok - $1"
}

fail() {
    failed=$((failed + 1))
    echo "not ok - $1"
    echo "#   exit status: $rc"
    sed 's/^/#   stdout: /' "$OUT"
    sed 's/^/#   stderr: /' "$ERR"
}

# run ARGS...: rcomm-run with ARGS, stdout in $OUT, stderr in $ERR, status in
# $rc and the wall time in whole seconds in $secs.
run() {
    t0=$(date +%s)
    timeout 60 "$RUN" "$@" >"$OUT" 2>"$ERR"
    rc=$?
    secs=$(($(date +%s) - t0))
}

# expect NAME CONDITION...: pass if the shell condition holds.
expect() {
    name=$1
    shift
    if eval "$*"; then pass "$name"; else fail "$name"; fi
}

skip() {
    passed=$((passed + 1))
    echo "ok - $1 # SKIP $2"
}

# poll CONDITION: true as soon as the shell condition holds, checked every
# 0.05 s for at most 10 s; $polls counts the checks that failed.
poll() {
    polls=0
    until eval "$1"; do
        [ $polls -ge 200 ] && return 1
        sleep 0.05
        polls=$((polls + 1))
    done
}

# The processes running $TMP/rank-sleep (not rcomm-run, whose command line
# only contains it; zombies have no command line).
ranks_left() {
    pgrep -f -- "^$TMP/rank-sleep" | wc -l
}

# kill9 READY ARGS...: rcomm-run ARGS in the background, killed with SIGKILL
# as soon as the condition READY holds; then wait (bounded) for its ranks to
# go. $at_kill: rank processes at the kill; $left: still there after the
# wait; $gone_ms: how long they took.
kill9() {
    ready=$1
    shift
    "$RUN" "$@" >"$OUT" 2>"$ERR" &
    pid=$!
    poll "$ready"
    at_kill=$(ranks_left)
    kill -KILL $pid
    wait $pid 2>/dev/null
    rc=$?
    poll '[ "$(ranks_left)" -eq 0 ]'
    left=$(ranks_left)
    gone_ms=$((polls * 50))
    pkill -KILL -f -- "$TMP/rank-sleep" 2>/dev/null # for the next test
}

# ---- Output and environment ---------------------------------------------------

run -n 3 sh -c 'echo hi $RCOMM_RANK/$RCOMM_SIZE'
printf '[0] hi 0/3\n[1] hi 1/3\n[2] hi 2/3\n' >"$TMP/want"
expect "three ranks print three prefixed lines" \
    '[ $rc -eq 0 ] && sort "$OUT" | cmp -s - "$TMP/want" && [ ! -s "$ERR" ]'

run -n 2 sh -c 'echo out $RCOMM_RANK; echo err $RCOMM_RANK >&2'
expect "stdout and stderr are prefixed separately" \
    '[ $rc -eq 0 ] && [ "$(sort "$OUT" | tr "\n" ,)" = "[0] out 0,[1] out 1," ] &&
     [ "$(sort "$ERR" | tr "\n" ,)" = "[0] err 0,[1] err 1," ]'

run -n 1 sh -c 'printf "no newline"'
expect "a last line without newline keeps its prefix" \
    '[ $rc -eq 0 ] && [ "$(cat "$OUT")" = "[0] no newline" ]'

run -n 2 sh -c 'printf "first "; sleep 0.3; printf "half\n"; printf "x\ny"'
expect "a line written in pieces is printed once, whole" \
    '[ $rc -eq 0 ] && [ "$(grep -c "^\[[01]\] first half$" "$OUT")" -eq 2 ] &&
     [ "$(grep -c "^\[[01]\] [xy]$" "$OUT")" -eq 4 ] && [ "$(wc -l <"$OUT")" -eq 6 ]'

# Four ranks writing long lines at once: no line may mix two ranks.
run -n 4 sh -c 's=$(printf "%0700d" 0); i=0
    while [ $i -lt 200 ]; do echo "$RCOMM_RANK:$s:$RCOMM_RANK"; i=$((i + 1)); done'
expect "lines of concurrent ranks never interleave" \
    '[ $rc -eq 0 ] && [ "$(wc -l <"$OUT")" -eq 800 ] &&
     [ "$(grep -c "^\[\([0-3]\)\] \1:0\{700\}:\1$" "$OUT")" -eq 800 ]'

export RCOMM_TEST_FWD=forwarded
run -n 2 -x RCOMM_TEST_SET=set -x RCOMM_TEST_FWD -- \
    sh -c 'echo $RCOMM_TEST_SET $RCOMM_TEST_FWD $RCOMM_LOCAL_RANK $RCOMM_LOCAL_SIZE \
        $RCOMM_ADDR'
expect "-x VAR=VALUE, -x VAR and the RCOMM_* variables reach every rank" \
    '[ $rc -eq 0 ] &&
     [ "$(grep -c "^\[0\] set forwarded 0 2 127\.0\.0\.1:[0-9][0-9]*$" "$OUT")" -eq 1 ] &&
     [ "$(grep -c "^\[1\] set forwarded 1 2 127\.0\.0\.1:[0-9][0-9]*$" "$OUT")" -eq 1 ] &&
     [ "$(sed "s/.* //" "$OUT" | sort -u | wc -l)" -eq 1 ]'

RCOMM_ADDR=10.9.8.7:1 run -n 1 -a 127.0.0.1:5555 sh -c 'echo $RCOMM_ADDR'
expect "-a sets RCOMM_ADDR" '[ $rc -eq 0 ] && [ "$(cat "$OUT")" = "[0] 127.0.0.1:5555" ]'

RCOMM_ADDR=10.9.8.7:1 run -n 1 sh -c 'echo $RCOMM_ADDR'
expect "an inherited RCOMM_ADDR is replaced by a fresh port" \
    '[ $rc -eq 0 ] && grep -q "^\[0\] 127\.0\.0\.1:[0-9][0-9]*$" "$OUT"'

# Rank 0 alone inherits the store's listener, already listening on the
# job's port before rank 0 runs (/proc/net/tcp: state 0A is LISTEN), so no
# other process can take the port first. Rank 0 holds it (rcomm-run closed
# its own copy) until rank 1 has looked: rank 1 says so in a file.
rm -f "$TMP/looked"
export LOOKED="$TMP/looked"
run -n 2 -x LOOKED sh -c 'fd=${RCOMM_STORE_FD:-none}; port=$(printf %04X "${RCOMM_ADDR##*:}")
    [ "$fd" = none ] || [ "$(readlink /proc/$$/fd/$fd | cut -c1-8)" = "socket:[" ] ||
        fd=not-a-socket
    grep -q "^ *[0-9]*: 0100007F:$port 00000000:0000 0A" /proc/net/tcp && l=listening
    echo "$fd ${l:-free}"
    if [ "$RCOMM_RANK" = 1 ]; then : >"$LOOKED"; else
        i=0; while [ ! -e "$LOOKED" ] && [ $i -lt 200 ]; do sleep 0.05; i=$((i + 1)); done
    fi'
unset LOOKED
expect "rank 0 alone inherits the listening store socket" \
    '[ $rc -eq 0 ] && grep -q "^\[0\] [0-9][0-9]* listening$" "$OUT" &&
     grep -q "^\[1\] none listening$" "$OUT"'
RCOMM_STORE_FD=0 run -n 1 -a 127.0.0.1:5555 sh -c 'echo ${RCOMM_STORE_FD:-none}'
expect "with -a, no listener is made and an inherited RCOMM_STORE_FD is dropped" \
    '[ $rc -eq 0 ] && [ "$(cat "$OUT")" = "[0] none" ]'

# The job key: one per job, the same for every rank, never printed.
hex64='^\[[01]\] [0-9a-f]\{64\}$'
run -n 2 sh -c 'echo $RCOMM_JOB_KEY'
key1=$(sed -n 's/^\[0\] //p' "$OUT")
expect "every rank gets the job's RCOMM_JOB_KEY: 64 hex digits" \
    '[ $rc -eq 0 ] && [ "$(grep -c "$hex64" "$OUT")" -eq 2 ] &&
     [ "$(sed "s/^\[[01]\] //" "$OUT" | sort -u | wc -l)" -eq 1 ] && [ ! -s "$ERR" ]'
run -n 1 sh -c 'echo $RCOMM_JOB_KEY'
expect "each job gets a key of its own" \
    '[ $rc -eq 0 ] && grep -q "$hex64" "$OUT" && [ -n "$key1" ] &&
     [ "$(sed -n "s/^\[0\] //p" "$OUT")" != "$key1" ]'

RCOMM_JOB_KEY=the-users-own-key-0123456789abcdef run -n 2 sh -c 'echo "$RCOMM_JOB_KEY"'
expect "a user's RCOMM_JOB_KEY is passed through unchanged" \
    '[ $rc -eq 0 ] &&
     [ "$(grep -c "^\[[01]\] the-users-own-key-0123456789abcdef$" "$OUT")" -eq 2 ]'

run -n 1 -x RCOMM_JOB_KEY=set-with-x-0123456789abcdef0123456 sh -c 'echo "$RCOMM_JOB_KEY"'
expect "-x RCOMM_JOB_KEY=KEY is used as the key" \
    '[ $rc -eq 0 ] && [ "$(cat "$OUT")" = "[0] set-with-x-0123456789abcdef0123456" ]'

RCOMM_JOB_KEY_FILE=/some/key run -n 1 sh -c 'echo "${RCOMM_JOB_KEY-unset} $RCOMM_JOB_KEY_FILE"'
expect "with RCOMM_JOB_KEY_FILE set, no RCOMM_JOB_KEY is added" \
    '[ $rc -eq 0 ] && [ "$(cat "$OUT")" = "[0] unset /some/key" ]'

# ---- Failures -----------------------------------------------------------------------

run -n 3 sh -c '[ $RCOMM_RANK = 1 ] && exit 3; exec sleep 100'
expect "a failing rank stops its peers quickly and is named" \
    '[ $rc -ne 0 ] && [ $secs -lt 10 ] &&
     grep -q "^rcomm-run: rank 1 exited with status 3$" "$ERR"'

run -n 2 sh -c '[ $RCOMM_RANK = 0 ] && { echo last words >&2; exit 4; }; exec sleep 100'
expect "a failed rank's output comes before the report of its failure" \
    '[ $rc -ne 0 ] && [ "$(grep -v "^\[1\]" "$ERR" | tr "\n" ,)" = \
        "[0] last words,rcomm-run: rank 0 exited with status 4," ]'

run -n 2 sh -c '[ $RCOMM_RANK = 0 ] && kill -SEGV $$; exec sleep 100'
expect "a rank killed by a signal: 128+signal, signal named" \
    '[ $rc -eq 139 ] && [ $secs -lt 10 ] &&
     grep -q "^rcomm-run: rank 0 was killed by signal SIGSEGV" "$ERR"'

run -n 2 sh -c 'trap "" TERM; [ $RCOMM_RANK = 0 ] && exit 1; exec sleep 100'
expect "a rank that ignores SIGTERM gets SIGKILL after the grace period" \
    '[ $rc -eq 1 ] && [ $secs -lt 10 ]'

run -n 3 sh -c 'exit 77'
expect "every rank skipped: exit 77" '[ $rc -eq 77 ]'

run -n 2 sh -c '[ $RCOMM_RANK = 0 ] && exit 77; exit 0'
expect "only some ranks skipped: failure" '[ $rc -ne 0 ] && [ $rc -ne 77 ]'

run -n 2 /nonexistent/program
expect "a program that cannot run: said once, job fails at once" \
    '[ $rc -eq 1 ] && [ $secs -lt 10 ] && [ "$(cat "$ERR")" = \
        "rcomm-run: cannot execute /nonexistent/program: No such file or directory" ]'

# Blame: ranks that fail because a peer died are not the failure. Each
# survivor waits for EOF on a FIFO that only the victim holds open, so it
# exits with an error the moment the victim dies: both deaths reach
# rcomm-run at about the same time, in either order.
cat >"$TMP/blame-rank" <<'EOF'
dir=$(dirname "$0")
if [ "$RCOMM_RANK" = "$1" ]; then
    fd=3
    for r in 0 1 2 3; do
        [ $r = "$1" ] && continue
        eval "exec $fd>\"\$dir/fifo$r\""
        fd=$((fd + 1))
    done
    echo ready
    exec "$dir/rank-sleep" 1000
fi
cat "$dir/fifo$RCOMM_RANK"
echo "lost my peer" >&2
exit 1
EOF
for victim in 0 3; do
    rm -f "$TMP"/fifo*
    for r in 0 1 2 3; do [ $r = $victim ] || mkfifo "$TMP/fifo$r"; done
    timeout 60 "$RUN" -n 4 sh "$TMP/blame-rank" $victim >"$OUT" 2>"$ERR" &
    pid=$!
    # Until the kill finds the victim: it prints "ready" just before it
    # becomes rank-sleep, and a loaded host (the ASan build in CI) once
    # looked in between, killed nothing and left the job to its time limit.
    poll 'grep -q ready "$OUT" && pkill -KILL -f -- "^$TMP/rank-sleep"'
    wait $pid
    rc=$?
    echo "# $(grep -c "lost my peer" "$ERR") of 3 survivors saw rank $victim die before being stopped"
    expect "rank $victim killed: rank $victim is blamed, not the ranks that lost it" \
        '[ $rc -eq 137 ] &&
         [ "$(grep "^rcomm-run:" "$ERR")" = "rcomm-run: rank $victim was killed by signal SIGKILL" ]'
done

run -t 1 -n 2 sleep 30
expect "the time limit stops the job with status 124" \
    '[ $rc -eq 124 ] && [ $secs -lt 10 ] &&
     grep -q "^rcomm-run: time limit of 1 s reached; stopping ranks$" "$ERR"'

# ---- Requests beyond the host's limits -----------------------------------------------

# Fine on an idle host (some seconds: processes cost about a millisecond
# each), or a failure that names the limit; never a silent wait.
run -n 4096 true
expect "-n 4096 true finishes, or fails naming the limit (took ${secs} s)" \
    '{ [ $rc -eq 0 ] && ! grep -v "ranks started in" "$ERR" | grep -q .; } ||
     { [ $rc -eq 1 ] && grep -q "limit" "$ERR"; }'

if command -v prlimit >/dev/null; then
    run_limited() {
        t0=$(date +%s)
        # shellcheck disable=SC2086 # $AS: a command and its options, or nothing
        timeout 60 $AS prlimit "$@" >"$OUT" 2>"$ERR"
        rc=$?
        secs=$(($(date +%s) - t0))
    }
    AS=
    run_limited --nofile=100:100 "$RUN" -n 4096 true
    expect "-n 4096 under ulimit -n 100 fails at once, naming the limit" \
        '[ $rc -eq 1 ] && [ $secs -lt 5 ] &&
         grep -q "needs 8224 file descriptors; the limit is 100 (ulimit -n" "$ERR"'
    # The kernel does not hold root to RLIMIT_NPROC: be nobody for these.
    if [ "$(id -u)" -eq 0 ] && command -v setpriv >/dev/null; then
        AS="setpriv --reuid=65534 --regid=65534 --clear-groups"
    fi
    if [ "$(id -u)" -ne 0 ] || [ -n "$AS" ]; then
        run_limited --nproc=50:50 "$RUN" -n 4096 true
        expect "-n 4096 under ulimit -u 50 fails at once, naming the limit" \
            '[ $rc -eq 1 ] && [ $secs -lt 5 ] &&
             grep -q "the limit on processes is 50 (ulimit -u, RLIMIT_NPROC)" "$ERR"'
    else
        skip "-n 4096 under ulimit -u 50 fails at once" "root without setpriv"
    fi
    if [ -n "$AS" ]; then
        # Five processes of nobody's already run: rank 18 of 20 cannot start.
        run_limited --nproc=25:25 sh -c 'for i in 1 2 3 4 5; do sleep 3 & done
            exec "$0" -n 20 sleep 1000' "$RUN"
        expect "a fork that hits ulimit -u stops the job at once, naming the limit" \
            '[ $rc -eq 1 ] && [ $secs -lt 10 ] &&
             grep -q "^rcomm-run: cannot start rank 1[0-9] of 20: .*the limit on processes is 25 (ulimit -u, RLIMIT_NPROC)$" "$ERR"'
    else
        skip "a fork that hits ulimit -u stops the job at once" "not root with setpriv"
    fi
else
    skip "requests beyond ulimit -n and -u" "no prlimit"
fi

# ---- Usage ----------------------------------------------------------------------------

for args in "" "-n 0 true" "-n 4097 true" "-n abc true" "-n 2" "-q -n 2 true" \
    "-n 2 -t 0 true" "-n 2 -x 1BAD=x true" "-n 2 -x RCOMM_RANK=5 true"; do
    # shellcheck disable=SC2086 # word splitting of $args is the point
    run $args
    expect "usage error: '$args' exits 2" '[ $rc -eq 2 ] && grep -q "usage:" "$ERR"'
done

run --help
expect "--help prints usage and exits 0" '[ $rc -eq 0 ] && grep -q "^usage:" "$OUT"'

# ---- Signals --------------------------------------------------------------------------

# SIGTERM sent to rcomm-run alone reaches every rank.
"$RUN" -n 2 sh -c 'trap "echo got TERM \$RCOMM_RANK; exit 0" TERM; echo ready
    while :; do sleep 0.1; done' >"$OUT" 2>"$ERR" &
pid=$!
i=0
while [ "$(grep -c ready "$OUT")" -lt 2 ] && [ $i -lt 100 ]; do
    sleep 0.1
    i=$((i + 1))
done
kill -TERM $pid
i=0
while kill -0 $pid 2>/dev/null && [ $i -lt 100 ]; do
    sleep 0.1
    i=$((i + 1))
done
if kill -0 $pid 2>/dev/null; then
    kill -KILL $pid
    rc=hung
else
    wait $pid
    rc=$?
fi
expect "SIGTERM to rcomm-run is forwarded to every rank" \
    '[ "$rc" = 0 ] && grep -q "^\[0\] got TERM 0$" "$OUT" &&
     grep -q "^\[1\] got TERM 1$" "$OUT"'

# ---- Nothing outlives rcomm-run -------------------------------------------------------

if command -v pgrep >/dev/null; then
    run -n 1 sh -c '"$0" 1000 & echo started' "$TMP/rank-sleep"
    poll '[ "$(ranks_left)" -eq 0 ]'
    expect "what a rank leaves running ends with the job" \
        '[ $rc -eq 0 ] && [ "$(cat "$OUT")" = "[0] started" ] && [ "$(ranks_left)" -eq 0 ]'

    # 300 ranks take a while to start: the kill comes while rcomm-run is
    # still starting them.
    kill9 '[ "$(ranks_left)" -ge 1 ]' -n 300 "$TMP/rank-sleep" 1000
    echo "# killed at startup with $at_kill of 300 ranks running; gone after ~$gone_ms ms"
    expect "rcomm-run killed -9 while starting ranks: no rank is left" \
        '[ "$at_kill" -ge 1 ] && [ "$left" -eq 0 ]'

    kill9 '[ "$(ranks_left)" -eq 4 ]' -n 4 "$TMP/rank-sleep" 1000
    echo "# killed mid-run; ranks gone after ~$gone_ms ms"
    expect "rcomm-run killed -9 mid-run: no rank is left" '[ "$left" -eq 0 ]'

    # The ranks are shells; what they run is their child, which only the
    # process group reaches.
    kill9 '[ "$(ranks_left)" -eq 2 ]' -n 2 sh -c '"$0" 1000; echo unreachable' \
        "$TMP/rank-sleep"
    echo "# killed mid-run; ranks' children gone after ~$gone_ms ms"
    expect "rcomm-run killed -9: the ranks' children go too" '[ "$left" -eq 0 ]'
else
    skip "nothing outlives rcomm-run" "no pgrep"
fi

echo "$passed passed, $failed failed"
[ $failed -eq 0 ]
