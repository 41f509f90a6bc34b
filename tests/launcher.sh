#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
#
# Tests of the rcomm-run launcher: output prefixes, environment, exit status,
# stopping a job when one rank fails, time limit, usage errors and signal
# forwarding. Run by automake with RCOMM_RUN set to the built rcomm-run; by
# hand: RCOMM_RUN=/path/to/rcomm-run sh tests/launcher.sh
# Every run of rcomm-run is under `timeout`, so a broken launcher fails the
# test instead of hanging it. Last line: "N passed, N failed".
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
trap 'rm -rf "$TMP"' EXIT
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
expect "a program that cannot run: 127 reported, job fails" \
    '[ $rc -eq 1 ] && grep -q "cannot execute /nonexistent/program" "$ERR" &&
     grep -q "exited with status 127" "$ERR"'

run -t 1 -n 2 sleep 30
expect "the time limit stops the job with status 124" \
    '[ $rc -eq 124 ] && [ $secs -lt 10 ] &&
     grep -q "^rcomm-run: time limit of 1 s reached; stopping ranks$" "$ERR"'

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

echo "$passed passed, $failed failed"
[ $failed -eq 0 ]
