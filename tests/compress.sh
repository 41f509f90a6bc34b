#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
# Compressed allreduce (tests/compress_check.c): every kind exact against a
# reference on 1, 2, 3, 5, 7 and 8 ranks; configs and counts that differ;
# rcomm-compress-perf runs.
# Run by automake (TESTS_BUILDDIR).
b=${TESTS_BUILDDIR:?TESTS_BUILDDIR is not set}/..
export RCOMM_TRANSPORT=tcp RCOMM_TIMEOUT=30 RCOMM_LOG_LEVEL=none
set -e
for n in 1 2 3 5 7 8; do
    "$b/rcomm-run" -n $n -t 300 "$b/tests/compress_check" values
done
# PowerSGD (when built with OpenBLAS): close to an f64 reference, identical bits.
if grep -q "define HAVE_OPENBLAS 1" "$b/config.h"; then
    for n in 1 2 3 5; do
        "$b/rcomm-run" -n $n -t 300 "$b/tests/compress_check" powersgd
    done
fi
# Through gradient buckets: bit for bit the blocking calls' results.
for n in 1 2 3 5 8; do
    "$b/rcomm-run" -n $n -t 300 "$b/tests/compress_check" buckets
done
"$b/rcomm-run" -n 3 -t 300 "$b/tests/compress_check" mismatch
# The benchmark runs every kind and grades each (its figures are not asserted).
out=$("$b/rcomm-run" -n 2 -t 300 "$b/rcomm-compress-perf" -b 4K -e 64K -f 16 -n 2 -w 1 -r 1)
for k in bf16 f16 randk topk sign; do
    echo "$out" | grep -q "# $k *: wire" || { echo "$out"; echo "no grade for $k"; exit 1; }
done
echo "compress: every kind exact on 1-8 ranks, mismatches named"
