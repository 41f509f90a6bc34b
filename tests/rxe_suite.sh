#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
# The verbs suite, run inside the soft-RoCE VM by `make check-rxe`
# (scripts/rxe-vm.sh): the transport's conformance and verbs-only cases, the
# two-sided ones again with completion events instead of busy polling and
# with rdma_cm connections; the collective suite (every collective,
# algorithm, datatype and op on 2, 3 and 8 ranks, failure modes) over verbs,
# and part of it with rdma_cm; the parameter server; rcomm-tune over verbs
# and a job that loads its file; the device chosen when RCOMM_IB_HCA is
# unset. With --asan DIR (a build configured --enable-sanitizers, as CI's
# build-asan), the transport's cases and a 3-rank collective check again
# under ASan and UBSan; with --valgrind, the two-sided cases under valgrind
# (3 minutes here; ASan's part covers the same code in a quarter of it).
# Usage: rxe_suite.sh BUILDDIR [--asan DIR] [--valgrind]. Exits non-zero if
# any part failed.
set -u
b=${1:?usage: rxe_suite.sh BUILDDIR [--asan DIR] [--valgrind]}
shift
asan=
valgrind=
while [ $# -gt 0 ]; do
    case $1 in
    --asan) asan=${2:?rxe_suite.sh: --asan needs a build directory}; shift 2 ;;
    --valgrind) valgrind=1; shift ;;
    *) echo "rxe_suite.sh: unknown argument $1" >&2; exit 2 ;;
    esac
done
failed=0
npart=0
failed_names=
logdir=$(mktemp -d)
trap 'rm -rf "$logdir"' EXIT

# Each part's output is streamed and kept; a failed part's tail is printed
# again at the end, where CI logs that show only the last lines will see it.
part() {
    name=$1
    shift
    echo "== rxe: $name"
    start=$(date +%s)
    npart=$((npart + 1))
    log="$logdir/$npart.log"
    { "$@"; echo $? >"$log.rc"; } 2>&1 | tee "$log"
    if [ "$(cat "$log.rc")" = 0 ]; then
        echo "== rxe: $name: PASS ($(( $(date +%s) - start )) s)"
    else
        echo "== rxe: $name: FAIL ($(( $(date +%s) - start )) s, exit $(cat "$log.rc"))"
        failed=$((failed + 1))
        failed_names="$failed_names$name
"
        cp "$log" "$logdir/failed-$failed.log"
    fi
}

if [ ! -d /sys/class/infiniband ] || [ -z "$(ls /sys/class/infiniband 2>/dev/null)" ]; then
    echo "rxe_suite.sh: no RDMA device here; run it through scripts/rxe-vm.sh" >&2
    exit 2
fi
export CK_DEFAULT_TIMEOUT=600
# Every rank here runs in the one VM: shared memory would carry what these
# parts test over verbs.
export RCOMM_SHM=off
part "transport (busy polling)" "$b/tests/unit_verbs"
# With RCOMM_IB_HCA unset a rank opens the active device nearest its CPUs;
# rxe devices have no PCI locality, so the first active one in
# ibv_get_device_list order, which every rank logs at info level. A second
# device, rxe1 on a dummy netdev of its own, makes that a choice when the
# kernel lets us add it. Both ranks must say so and the job's sums be right.
placement() {
    second="rxe1 on dummy1 (198.18.1.1)"
    if ! { ip link add dummy1 type dummy && ip link set dummy1 up &&
        ip addr add 198.18.1.1/24 dev dummy1 &&
        rdma link add rxe1 type rxe netdev dummy1; } 2>"$logdir/place.err"; then
        second="none: $(tr '\n' ' ' <"$logdir/place.err")"
    fi
    ndev=$(ibv_devices | awk 'NR > 2' | wc -l)
    i=0
    while [ $i -lt 50 ] && [ "$(ibv_devinfo | grep -c PORT_ACTIVE)" -lt "$ndev" ]; do
        sleep 0.1 # up to 5 s for the new port to become active
        i=$((i + 1))
    done
    first=$(ibv_devices | awk 'NR > 2 { print $1; exit }')
    echo "devices: $(ibv_devices | awk 'NR > 2 { print $1 }' | tr '\n' ' ')(second device: $second); expected: $first"
    "$b/rcomm-info" | sed -n '/would choose/,/progress thread/p'
    env RCOMM_TRANSPORT=verbs RCOMM_LOG_LEVEL=info "$b/rcomm-run" -n 2 -t 120 \
        "$b/rcomm-allreduce-perf" -b 8 -e 1M -f 32 -n 2 -w 1 --no-ceiling \
        >"$logdir/place.out" 2>&1
    st=$?
    line="verbs: device $first port 1: no device has PCI locality"
    grep "verbs: device " "$logdir/place.out"
    [ $st -eq 0 ] && [ "$(grep -c "$line" "$logdir/place.out")" -eq 2 ] &&
        grep -q "Out of bounds values : 0 OK" "$logdir/place.out"
    st=$?
    [ $st -eq 0 ] || cat "$logdir/place.out"
    if [ "${second#none}" = "$second" ]; then
        rdma link delete rxe1
        ip link delete dummy1
    fi
    return $st
}
part "device choice without RCOMM_IB_HCA" placement
part "transport (completion events)" env RCOMM_IB_POLL=event CK_RUN_CASE=two-sided \
    "$b/tests/unit_verbs"
# The algorithms are the same code over every transport, and the host suite
# checks them bit for bit on 1, 2, 3, 5, 7 and 8 ranks. What verbs adds
# (eager and zero-copy messages, credits, a QP per peer) runs here with
# every collective, algorithm, datatype and op on 2 and 3 (odd) ranks, the
# rooted, all-to-all, variable-count and point-to-point calls on 8 too
# (seven peers each, every pair exchanging), and with 64-byte segments
# (many eager messages per block) on 2. 5 and 7 ranks ran the same verbs
# code again, 1 rank has no peer to reach over verbs, coll_check on 8 took
# 52 s (every allreduce algorithm on 8 runs with rdma_cm below), and
# 64-byte segments took 53 s on 3 ranks and up to 4 minutes on 8 on the
# VM's two emulated CPUs (10 s on 2).
coll_verbs() {
    env RCOMM_TEST_TRANSPORT=verbs RCOMM_CHECK_QUICK=1 RCOMM_TEST_RANKS="2 3" \
        CK_EXCLUDE_TAGS=set RCOMM_RUN="$b/rcomm-run" TESTS_BUILDDIR="$b/tests" \
        "$b/tests/test_coll" &&
        env RCOMM_TEST_TRANSPORT=verbs RCOMM_CHECK_QUICK=1 RCOMM_TEST_RANKS="2 3 8" \
            CK_INCLUDE_TAGS=set RCOMM_RUN="$b/rcomm-run" TESTS_BUILDDIR="$b/tests" \
            "$b/tests/test_coll" &&
        env RCOMM_TEST_TRANSPORT=verbs RCOMM_TEST_RANKS="2" RCOMM_RUN="$b/rcomm-run" \
            TESTS_BUILDDIR="$b/tests" "$b/tests/test_coll_small"
}
part "collectives over verbs" coll_verbs
# Neighbour averaging bit for bit and its mathematics, and push-sum's
# one-sided writes as RDMA WRITEs (mass exact, convergence, torn halves
# refused), on 2 and 3 ranks; their failure modes run over TCP
# (tests/gossip.sh).
gossip_verbs() {
    for n in 2 3; do
        for mode in "exact --quick" math pushsum; do
            # shellcheck disable=SC2086 # mode is a mode and its flag
            env RCOMM_TRANSPORT=verbs "$b/rcomm-run" -n $n -t 300 "$b/tests/gossip_check" \
                $mode || return 1
        done
    done
}
part "neighbour averaging and push-sum over verbs" gossip_verbs
# Pulls as RDMA READ, pushes as RDMA WRITE WITH IMMEDIATE (the server's
# progress takes the notification), mailboxes as RDMA WRITE: every scenario
# of 2 to 5 ranks (the one-sided paths are the same on 1, 7 and 8 ranks,
# which the TCP suite runs).
part "parameter server over verbs" env RCOMM_TEST_TRANSPORT=verbs RCOMM_TEST_RANKS="2 3 4 5" \
    RCOMM_RUN="$b/rcomm-run" TESTS_BUILDDIR="$b/tests" "$b/tests/test_ps"
# The progress thread over verbs: without a descriptor (busy polling) it
# naps; with completion events it sleeps on the channel. An allreduce
# completes while the ranks compute, buckets stay exact, and an idle
# communicator sleeps (events).
progress_verbs() {
    for poll in busy event; do
        env RCOMM_TRANSPORT=verbs RCOMM_PROGRESS=thread RCOMM_IB_POLL=$poll \
            "$b/rcomm-run" -n 2 -t 600 "$b/tests/progress_check" overlap --expect done ||
            return 1
    done
    env RCOMM_TRANSPORT=verbs RCOMM_PROGRESS=thread "$b/rcomm-run" -n 3 -t 600 \
        "$b/tests/buckets_check" values &&
        env RCOMM_TRANSPORT=verbs RCOMM_PROGRESS=thread RCOMM_IB_POLL=event \
            "$b/rcomm-run" -n 2 -t 600 "$b/tests/progress_check" idle
}
part "progress thread over verbs" progress_verbs
# Teardown releases everything and nothing reads what the HCA did not write
# (verbs.h marks HCA-written memory for valgrind). Each scenario once
# (RCOMM_TP_QUICK: sendrecv and serves on 3 ranks only, the same code as on
# their other rank counts, which the parts above run without valgrind).
if [ -n "$valgrind" ]; then
    part "transport under valgrind (two-sided)" env CK_RUN_CASE=two-sided RCOMM_TP_QUICK=1 \
        CK_TIMEOUT_MULTIPLIER=10 valgrind -q --trace-children=yes --error-exitcode=9 \
        --leak-check=full --errors-for-leak-kinds=definite "$b/tests/unit_verbs"
fi
# Every case of the transport, and the collectives on 3 ranks, with the
# sanitizers: the first run found a header sent 8 bytes past its end (stack
# bytes to the peer) and a memcpy to a 0-byte receive's NULL buffer.
asan_verbs() {
    env ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
        "$asan/tests/unit_verbs" &&
        env RCOMM_TRANSPORT=verbs ASAN_OPTIONS=detect_leaks=1 \
            UBSAN_OPTIONS=print_stacktrace=1 "$asan/rcomm-run" -n 3 -t 600 \
            "$asan/tests/coll_check" --quick
}
[ -z "$asan" ] || part "transport and collectives under ASan and UBSan" asan_verbs
# Connections made by rdma_cm: the two-sided cases (the data path after
# connect is the same queue pair's; the verbs-only cases set rdma_cm where
# they need it, in the first part).
part "transport (rdma_cm)" env RCOMM_IB_USE_RDMA_CM=1 CK_RUN_CASE=two-sided \
    "$b/tests/unit_verbs"
# The cost model measured over verbs (the eager step at RCOMM_IB_EAGER, real
# RDMA writes above it), loaded by a job that checks every algorithm.
tune_verbs() {
    t=$(mktemp)
    env RCOMM_TRANSPORT=verbs "$b/rcomm-run" -n 2 -t 600 "$b/rcomm-tune" -b 8 -e 64K \
        -n 3 -r 1 -o "$t" >/dev/null &&
        grep -q "^transport verbs$" "$t" && grep -q "^class 8200 " "$t" &&
        env RCOMM_TRANSPORT=verbs RCOMM_TUNING_FILE="$t" "$b/rcomm-run" -n 3 -t 600 \
            -x RCOMM_TUNING_FILE "$b/rcomm-allreduce-perf" -a all -b 8 -e 64K -f 8 -n 2 \
            -w 1 --no-ceiling >"$t.out" &&
        grep -q "cost model: $t$" "$t.out" &&
        grep -q "Out of bounds values : 0 OK" "$t.out"
    st=$?
    [ $st -eq 0 ] || cat "$t" "$t.out"
    rm -f "$t" "$t.out"
    return $st
}
part "cost model over verbs (rcomm-tune)" tune_verbs
# The collectives on 3 ranks and 8 ranks' 28 connections (the benchmark
# checks every algorithm's results) made by rdma_cm; with it a dead rank is
# noticed by every rank connected to it, so exit-early fails fast instead
# of through RCOMM_TIMEOUT.
cm_collectives() {
    t=$(mktemp)
    env RCOMM_TRANSPORT=verbs RCOMM_IB_USE_RDMA_CM=1 "$b/rcomm-run" -n 3 -t 900 \
        "$b/tests/coll_check" --quick || return 1
    env RCOMM_TRANSPORT=verbs RCOMM_IB_USE_RDMA_CM=1 "$b/rcomm-run" -n 8 -t 900 \
        "$b/rcomm-allreduce-perf" -a all -b 8 -e 64K -f 64 -n 2 -w 1 --no-ceiling >"$t" ||
        { cat "$t"; rm -f "$t"; return 1; }
    grep -q "Out of bounds values : 0 OK" "$t" || { cat "$t"; rm -f "$t"; return 1; }
    rm -f "$t"
    env RCOMM_TRANSPORT=verbs RCOMM_IB_USE_RDMA_CM=1 RCOMM_TIMEOUT=600 \
        "$b/rcomm-run" -n 5 -t 300 "$b/tests/coll_fail" exit-early
}
part "collectives over verbs (rdma_cm)" cm_collectives
i=0
printf '%s' "$failed_names" | while IFS= read -r name; do
    i=$((i + 1))
    echo "== rxe: the last 60 lines of failed part '$name':"
    tail -n 60 "$logdir/failed-$i.log"
done
echo "== rxe: $failed part(s) failed${failed_names:+: $(printf '%s' "$failed_names" | tr '\n' ';' | sed 's/;$//')}"
[ "$failed" -eq 0 ]
