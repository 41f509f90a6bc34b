#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
# The progress thread (RCOMM_PROGRESS=thread): a posted allreduce completes
# while every rank computes outside rcomm, and does not without the thread
# (the same check failing the other way); an idle communicator sleeps; a
# bad RCOMM_PROGRESS_CPU is refused, named; the
# nonblocking collectives, gradient buckets (compressed too) and the
# parameter server's scenarios (sparse pushes too) stay exact with the
# thread on. CI runs it in a ThreadSanitizer
# build too (RCOMM_PROGRESS_QUICK=1 there: fewer rank counts). Run by
# automake (TESTS_BUILDDIR).
b=${TESTS_BUILDDIR:?TESTS_BUILDDIR is not set}/..
t=$b/tests
export RCOMM_TRANSPORT=tcp RCOMM_TIMEOUT=60 RCOMM_LOG_LEVEL=error
set -e
# run MODE N PROGRAM ARGS: N ranks with RCOMM_PROGRESS=MODE.
run() { m=$1 n=$2; shift 2; env RCOMM_PROGRESS="$m" "$b/rcomm-run" -n "$n" -t 600 "$@"; }

ranks="2 3 5"
[ -n "$RCOMM_PROGRESS_QUICK" ] && ranks=3
for n in $ranks; do
    run thread "$n" "$t/progress_check" overlap --expect done
done
run caller 3 "$t/progress_check" overlap --expect pending
run thread 3 "$t/progress_check" idle
# A CPU the process may not use is the caller's error, named, at creation.
if msg=$(env RCOMM_PROGRESS_CPU=65535 RCOMM_PROGRESS=thread "$b/rcomm-run" -n 2 -t 60 \
    "$t/progress_check" idle 2>&1); then
    echo "progress: RCOMM_PROGRESS_CPU=65535 was accepted"; exit 1
fi
echo "$msg" | grep -q "RCOMM_PROGRESS_CPU=65535: this process may not run on CPU 65535" ||
    { echo "progress: unexpected error for RCOMM_PROGRESS_CPU=65535: $msg"; exit 1; }

for n in $ranks; do
    run thread "$n" "$t/coll_check" --quick
    run thread "$n" "$t/buckets_check" values
done
run thread 3 "$t/buckets_check" mismatch
flags=$(mktemp -d)
trap 'rm -rf "$flags"' EXIT
run thread 3 "$t/ps_check" --flags "$flags" attentive
run thread 5 "$t/ps_check" --servers 2 --work torn
run thread 5 "$t/ps_check" --servers 1 --staleness 2 clocks
run thread 3 "$t/ps_check" --servers 1 --work --staleness asp --push 4 --pull 1 --steps 9 intervals
run thread 5 "$t/ps_check" --servers 2 --work --steps 30 equiv
run thread 5 "$t/ps_check" --pause 300 --servers 2 --work --steps 10 equiv
# Compressed buckets (calls in rounds while the thread moves the
# collectives) and sparse, encoded pushes (server threads decoding).
run thread 3 "$t/compress_check" buckets
run thread 3 "$t/ps_sparse_check" --servers 1 --work sign
run thread 4 "$t/ps_sparse_check" --servers 2 filter
run thread 5 "$t/ps_list_check" --servers 2 --work many
echo "progress: collectives complete while the caller computes; idle sleeps; exact with the thread"
