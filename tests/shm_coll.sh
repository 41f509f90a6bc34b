#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
# The collective conformance programs over shared memory alone
# (RCOMM_TRANSPORT=shm; test_coll runs them over TCP): every collective,
# algorithm, datatype and op, reduce, gather, scatter, all-to-all, the
# variable-count calls and send/recv, bit for bit, on 2, 3, 5 and 8 ranks
# (--quick), with the 1000003-element counts on 3; allreduces between
# buffers from rcomm_mem_alloc through the mapped path (no message sent;
# with one rank's buffer from malloc, the generic path on every rank:
# --mapped); the same without
# cross-memory attach (RCOMM_SHM_CMA=0: everything through the rings) on 3,
# where the shared slots and the mapped path stay off quietly;
# the failure modes where a rank dies or stays silent, which shared memory
# must notice by itself (no connection breaks), and small allreduces called
# differently (the shared slots against each other and against the generic
# path: MISMATCH on every rank); and parameter-server
# scenarios (below).
b=${TESTS_BUILDDIR:?TESTS_BUILDDIR is not set}/..
run=$b/rcomm-run
export RCOMM_TRANSPORT=shm RCOMM_LOG_LEVEL=error
check() {
    echo "shm_coll: $*"
    "$@" || { echo "shm_coll: failed: $*"; exit 1; }
}
# RCOMM_CHECK_QUICK (the sanitizer build): fewer rank counts, no 1000003.
ranks="2 3 5 8"
[ -z "${RCOMM_CHECK_QUICK:-}" ] || ranks="2 5"
for n in $ranks; do
    # 5 ranks' --mapped runs on a loaded host (below)
    [ "$n" -eq 5 ] || check "$run" -n "$n" -t 600 "$b/tests/coll_check" --quick --mapped
    check "$run" -n $n -t 600 "$b/tests/coll_set_check" --quick
done
[ -n "${RCOMM_CHECK_QUICK:-}" ] || check "$run" -n 3 -t 600 "$b/tests/coll_check" --mapped
check env RCOMM_SHM_CMA=0 "$run" -n 3 -t 600 "$b/tests/coll_check" --quick
check env RCOMM_SHM_CMA=0 "$run" -n 3 -t 600 "$b/tests/coll_set_check" --quick
# Without descriptors to take, the peers' mailboxes cannot be mapped: the
# shared slots stay off without an error line (their refusal is a vote),
# saying why at info level, and the checks above passed the generic path.
log=$(mktemp) || exit 1
check env RCOMM_SHM_CMA=0 RCOMM_LOG_LEVEL=info "$run" -n 2 -t 120 \
    "$b/rcomm-allreduce-perf" -b 8 -e 8 -n 2 -w 1 -o avg 2>"$log" >/dev/null
check test "$(grep -c 'small allreduces take the generic path' "$log")" -eq 2
check test "$(grep -c ' error: ' "$log")" -eq 0
rm -f "$log"
for mode in exit-early hang exit-mapped hang-mapped exit-staged hang-staged p2p-exit \
    p2p-hang exit-alltoall mismatch-small-count \
    mismatch-small-dtype mismatch-small-op; do
    case $mode in *hang | *hang-*) t=1 ;; *) t=20 ;; esac
    check env RCOMM_TIMEOUT=$t RCOMM_LOG_LEVEL=none "$run" -n 3 -t 300 \
        "$b/tests/coll_fail" "$mode"
done
# On a loaded host, a busy loop per core beside the job (and beside the
# suite's other test), where each yield of a waiting rank can last a time
# slice and the mailbox waits look at their peers by the clock:
# - a death is noticed (when they looked every 256 polls, 4 of 12 such
#   runs waited out a 5 s RCOMM_TIMEOUT instead, 36 of 60 beside two busy
#   loops per core);
# - a rank still voting in the mailboxes, when data comes for the call from
#   a peer that took the generic path (one buffer from malloc), keeps it
#   for that call (6 of 6 such runs once called it a mismatch).
hogs=
for _ in $(seq "$(nproc)"); do
    (while :; do :; done) >/dev/null 2>&1 &
    hogs="$hogs $!"
done
# shellcheck disable=SC2086 # a list of pids
trap 'kill $hogs 2>/dev/null' EXIT
st=0
for _ in 1 2 3 4 5 6; do
    env RCOMM_TIMEOUT=5 RCOMM_LOG_LEVEL=none "$run" -n 3 -t 120 \
        "$b/tests/coll_fail" exit-mapped || { st=1; break; }
done
[ $st -eq 1 ] || "$run" -n 5 -t 600 "$b/tests/coll_check" --quick --mapped || st=2
# shellcheck disable=SC2086
kill $hogs 2>/dev/null
trap - EXIT
[ $st -ne 1 ] || { echo "shm_coll: failed: exit-mapped on a loaded host"; exit 1; }
[ $st -ne 2 ] || { echo "shm_coll: failed: coll_check --mapped on 5 ranks, loaded"; exit 1; }
# The parameter server: puts and gets by cross-memory attach, pushes as
# put_notify. A serving rank that computes outside rcomm with no progress
# thread still answers pulls: the worker reads its memory (over TCP it
# would not, test_ps's attentive case).
export RCOMM_TIMEOUT=30
for args in "--servers 2 values" "--servers 2 clocks" "--servers 2 --work torn" \
    "--steps 30 mixed" "--servers 1 --work --steps 20 mixed" "badnotify"; do
    check "$run" -n 4 -t 300 "$b/tests/ps_check" $args
done
check env RCOMM_LOG_LEVEL=none "$run" -n 4 -t 300 "$b/tests/ps_check" death
flags=$(mktemp -d) || exit 1
check env RCOMM_PROGRESS=caller "$run" -n 2 -t 300 "$b/tests/ps_check" --flags "$flags" \
    --wait 30 --expect served attentive
rm -rf "$flags"
echo "shm_coll: passed"
