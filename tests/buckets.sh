#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
# Gradient buckets (tests/buckets_check.c) on 1, 2, 3, 5 and 8 ranks, 16
# buckets of 1 MiB in flight on 3 and 4 ranks, and tensors declared
# differently on 3 ranks. Run by automake (TESTS_BUILDDIR).
b=${TESTS_BUILDDIR:?TESTS_BUILDDIR is not set}/..
export RCOMM_TRANSPORT=tcp RCOMM_TIMEOUT=30 RCOMM_LOG_LEVEL=none
set -e
for n in 1 2 3 5 8; do
    "$b/rcomm-run" -n $n -t 300 "$b/tests/buckets_check" values
done
for n in 3 4; do
    "$b/rcomm-run" -n $n -t 300 "$b/tests/buckets_check" big
done
"$b/rcomm-run" -n 3 -t 300 "$b/tests/buckets_check" mismatch
echo "buckets: values exact on 1-8 ranks, errors named"
