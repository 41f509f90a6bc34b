#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
# Neighbour averaging (tests/gossip_check.c): bit for bit on every graph,
# dtype and awkward count on 1, 2, 3, 5, 7 and 8 ranks, and with tiny
# segments; the mathematics (sum kept, lambda^t, one-peer exact average);
# push-sum over one-sided writes (mass kept with a slow rank, convergence
# to the true average); argument checks, a neighbour that calls
# differently, a rank with another graph, and dead neighbours. RCOMM_TEST_TRANSPORT picks the transport
# (default tcp); RCOMM_CHECK_QUICK=1 skips the 1000003-element counts;
# RCOMM_TEST_RANKS limits the rank counts of the exact and small-segment
# runs (the soft-RoCE VM's, tests/rxe_suite.sh).
# Run by automake (TESTS_BUILDDIR).
b=${TESTS_BUILDDIR:?TESTS_BUILDDIR is not set}/..
export RCOMM_TRANSPORT=${RCOMM_TEST_TRANSPORT:-tcp} RCOMM_TIMEOUT=30 RCOMM_LOG_LEVEL=none
quick=${RCOMM_CHECK_QUICK:+--quick}
set -e
run() { "$b/rcomm-run" -t 300 "$@"; }
for n in ${RCOMM_TEST_RANKS:-1 2 3 5 7 8}; do
    run -n "$n" "$b/tests/gossip_check" exact $quick
    run -n "$n" "$b/tests/gossip_check" math
done
# Push-sum over one-sided writes: shared memory's mapped writes and, with
# it off, TCP's emulated ones (which a sleeping rank does not apply).
for n in ${RCOMM_TEST_RANKS:-1 2 3 5 7 8}; do
    run -n "$n" "$b/tests/gossip_check" pushsum
done
for n in ${RCOMM_TEST_RANKS:-3 8}; do
    RCOMM_SHM=off run -n "$n" "$b/tests/gossip_check" pushsum
done
# Many segments per call and slots reused (64-byte segments, 2 slots).
for n in ${RCOMM_TEST_RANKS:-2 3 8}; do
    RCOMM_SEGMENT_SIZE=64 RCOMM_PIPELINE_DEPTH=2 run -n $n "$b/tests/gossip_check" exact --quick
done
for n in 1 2 3; do
    run -n $n "$b/tests/gossip_check" badargs
done
run -n 3 "$b/tests/gossip_check" mismatch-graph
# Each rank exits 0 when it saw the failure it should (gossip_check.c).
run -n 3 "$b/tests/gossip_check" mismatch
RCOMM_TIMEOUT=5 run -n 3 "$b/tests/gossip_check" dead
RCOMM_TIMEOUT=5 run -n 5 "$b/tests/gossip_check" dead
RCOMM_TIMEOUT=5 run -n 3 "$b/tests/gossip_check" dead-win
RCOMM_SHM=off RCOMM_TIMEOUT=5 run -n 3 "$b/tests/gossip_check" dead-win
# The benchmark runs every graph and grades each (its figures are not asserted).
out=$(run -n 3 "$b/rcomm-gossip-perf" -b 8 -e 4K -f 8 -n 2 -w 1 -r 1)
for g in ring torus exp2 full one-peer; do
    echo "$out" | grep -q "# $g *: at 4096 B a round took" || { echo "$out"; echo "no grade for $g"; exit 1; }
done
echo "gossip: neighbour averaging exact on ${RCOMM_TEST_RANKS:-1-8} ranks, its mathematics, push-sum's mass and convergence, their failures"
