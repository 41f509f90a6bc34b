#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
# Compressed allreduce (tests/compress_check.c): every kind exact against a
# reference on 1, 2, 3, 5, 7 and 8 ranks; configs and counts that differ.
# Run by automake (TESTS_BUILDDIR).
b=${TESTS_BUILDDIR:?TESTS_BUILDDIR is not set}/..
export RCOMM_TRANSPORT=tcp RCOMM_TIMEOUT=30 RCOMM_LOG_LEVEL=none
set -e
for n in 1 2 3 5 7 8; do
    "$b/rcomm-run" -n $n -t 300 "$b/tests/compress_check" values
done
"$b/rcomm-run" -n 3 -t 300 "$b/tests/compress_check" mismatch
echo "compress: every kind exact on 1-8 ranks, mismatches named"
