# SPDX-License-Identifier: BSD-3-Clause
# Shared by tests/blame.sh and tests/faults.sh (sourced, not run): ranks
# started one by one (not by rcomm-run, which stops every rank as soon as
# one fails: here each rank's own error is checked), faults timed from a
# moment, each rank's exit polled for with a bound, the errors read, and
# TAP-like result lines. The caller sets TMP (a directory of its own) and
# b (the build directory); sim is scripts/rcomm-simhosts.

# RCOMM_NO_FAULT_TESTS=1 skips them: CI's sanitizer build sets it, since
# they check behaviour under faults, which the plain build checked, and
# take minutes.
if [ -n "${RCOMM_NO_FAULT_TESTS:-}" ]; then
    rm -rf "$TMP"
    echo "$(basename "$0"): RCOMM_NO_FAULT_TESTS is set: skipped"
    exit 77
fi

sim=$(cd "$(dirname "$0")/../scripts" && pwd)/rcomm-simhosts
fl_pids=""
fl_passed=0
fl_failed=0
RCOMM_JOB_KEY=$(od -An -N32 -tx1 /dev/urandom | tr -d ' \n')
export RCOMM_JOB_KEY RCOMM_TRANSPORT=tcp RCOMM_LOG_LEVEL=error
unset RCOMM_TCP_EAGER RCOMM_SEGMENT_SIZE RCOMM_PROGRESS RCOMM_ALLREDUCE_ALGO

fl_now_ms() {
    echo $(($(date +%s%N) / 1000000))
}

# fl_secs MS: seconds with one decimal.
fl_secs() {
    echo "$(($1 / 1000)).$(($1 % 1000 / 100))"
}

fl_ok() {
    fl_passed=$((fl_passed + 1))
    echo "ok - $*"
}

# fl_not_ok TITLE [DETAILS]: DETAILS are '|'-separated lines.
fl_not_ok() {
    fl_failed=$((fl_failed + 1))
    echo "not ok - $1"
    [ -n "${2:-}" ] && echo "$2" | tr '|' '\n' | sed -n 's/^\(..*\)/#   \1/p' | cut -c1-600
    return 0
}

fl_skip() {
    fl_passed=$((fl_passed + 1))
    echo "ok - $1 # SKIP $2"
}

fl_summary() {
    echo "$fl_passed passed, $fl_failed failed"
    [ $fl_failed -eq 0 ]
}

# Every rank started here: continued (if stopped), killed and reaped.
fl_kill_all() {
    for p in $fl_pids; do
        kill -CONT "$p" 2>/dev/null
        kill -KILL "$p" 2>/dev/null
    done
    for p in $fl_pids; do wait "$p" 2>/dev/null; done
    fl_pids=""
}

# fl_start N ADDR LAUNCH TIMEOUT PROGRAM ARGS...: N ranks of PROGRAM with
# RCOMM_TIMEOUT=TIMEOUT and RCOMM_ADDR=ADDR, stdout in $TMP/outR, stderr in
# $TMP/errR, pid in $fl_pidR. LAUNCH "sim": rank r in simulated host r.
# stdbuf: a header is seen when it is printed. Each wrapper execs the
# next, so the pid is the rank's (SIGSTOP reaches it).
fl_start() {
    fl_n=$1 fl_addr=$2 fl_launch=$3 fl_tmo=$4
    shift 4
    rm -f "$TMP"/out* "$TMP"/err* "$TMP"/gone*
    fl_r=0
    while [ $fl_r -lt "$fl_n" ]; do
        if [ "$fl_launch" = sim ]; then
            RCOMM_RANK=$fl_r RCOMM_SIZE=$fl_n RCOMM_ADDR=$fl_addr RCOMM_TIMEOUT=$fl_tmo \
                "$sim" exec $fl_r stdbuf -oL "$@" >"$TMP/out$fl_r" 2>"$TMP/err$fl_r" &
        else
            RCOMM_RANK=$fl_r RCOMM_SIZE=$fl_n RCOMM_ADDR=$fl_addr RCOMM_TIMEOUT=$fl_tmo \
                stdbuf -oL "$@" >"$TMP/out$fl_r" 2>"$TMP/err$fl_r" &
        fi
        fl_pids="$fl_pids $!"
        eval "fl_pid$fl_r=$!"
        fl_r=$((fl_r + 1))
    done
}

# fl_started: rank 0 of a perf tool printed its header (its communicator
# exists), then half a second for the collectives to get going; false if
# not within 15 s.
fl_started() {
    fl_w=0
    until grep -q "^#" "$TMP/out0" 2>/dev/null; do
        [ $fl_w -ge 300 ] && return 1
        sleep 0.05
        fl_w=$((fl_w + 1))
    done
    sleep 0.5
}

# fl_wait_exits T0 LIMIT_MS [EXCEPT]: poll every 0.1 s until every rank but
# EXCEPT has exited, at most LIMIT_MS after T0 (ms, fl_now_ms); each rank's
# exit time after T0 goes in $TMP/goneR.
fl_wait_exits() {
    fl_left=1
    while [ $fl_left -gt 0 ] && [ $(($(fl_now_ms) - $1)) -lt "$2" ]; do
        sleep 0.1
        fl_left=0
        fl_r=0
        while [ $fl_r -lt "$fl_n" ]; do
            eval "fl_p=\$fl_pid$fl_r"
            # shellcheck disable=SC2154 # fl_p: set by the eval
            fl_state=$(cut -d' ' -f3 "/proc/$fl_p/stat" 2>/dev/null)
            if [ "$fl_r" = "${3:-}" ] || [ -f "$TMP/gone$fl_r" ]; then
                :
            elif [ -n "$fl_state" ] && [ "$fl_state" != Z ]; then
                fl_left=$((fl_left + 1)) # a zombie has exited
            else
                echo $(($(fl_now_ms) - $1)) >"$TMP/gone$fl_r"
            fi
            fl_r=$((fl_r + 1))
        done
    done
}

# fl_named CULPRIT [EXCEPT]: every rank but EXCEPT exited with an error (its
# program's last "...: rank R: ..." line) in which every list of ranks that
# "did not respond" is CULPRIT alone. Sets $fl_bad ("" when so, else what
# each rank got, '|'-separated) and $fl_ms (the latest exit, ms).
fl_named() {
    fl_bad=""
    fl_ms=0
    fl_r=0
    while [ $fl_r -lt "$fl_n" ]; do
        if [ "$fl_r" != "${2:-}" ]; then
            fl_gone=$(cat "$TMP/gone$fl_r" 2>/dev/null || echo never)
            fl_line=$(grep ": rank $fl_r: " "$TMP/err$fl_r" | tail -n 1)
            fl_lists=$(echo "$fl_line" |
                grep -o "rank [0-9][0-9]*\(, rank [0-9][0-9]*\)* did not respond" | sort -u)
            if [ "$fl_gone" = never ]; then
                fl_bad="$fl_bad|rank $fl_r had not exited"
            elif [ -z "$fl_line" ]; then
                fl_bad="$fl_bad|rank $fl_r exited without an error: $(tail -n 2 "$TMP/err$fl_r" | tr '\n' ' ')"
            elif [ "$fl_lists" != "rank $1 did not respond" ]; then
                fl_bad="$fl_bad|rank $fl_r: $fl_line"
            fi
            [ "$fl_gone" != never ] && [ "$fl_gone" -gt "$fl_ms" ] && fl_ms=$fl_gone
        fi
        fl_r=$((fl_r + 1))
    done
}

# netns_ok (netns_lib.sh): what rcomm-simhosts needs can be made here.
. "$(dirname "$0")/netns_lib.sh"
