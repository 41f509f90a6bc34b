#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
# Training on real data (Debian's dataset-fashion-mnist; skipped without it)
# gives the same model however it is distributed:
#  - data-parallel with allreduce on 3 ranks (f64, 6 steps of 120 images),
#    and with gradient buckets of 8 KiB (reduced by the caller, and by the
#    progress thread while backprop goes on), equal one process on the whole
#    batch to 1e-12 (max-norm, relative);
#  - iterative MapReduce (rank 0 drives: broadcast, map, reduce to it) on 3
#    and 2 ranks with the driver mapping too, and on 3 with it idle (2
#    mappers), equals one process on the whole batch to 1e-12 as well, on
#    every rank (the workers hold only the model they were broadcast);
#  - the BSP parameter server, 1 server and 3 workers each pushing its
#    slice's mean gradient (averaged by the servers: RCOMM_PS_MEAN_WORKERS),
#    read back with rcomm_ps_final, equals one process that averages the
#    same 3 slice means in the same order: bit for bit (tolerance 0);
#  - decentralized SGD (every rank steps on its slice's mean gradient, then
#    averages with its neighbours) on the full graph of 3 ranks, and on
#    one-peer exponential-2 over 2 (both: every rank gets the average),
#    equals one process averaging the slice means, to 1e-12 on every rank;
#  - asynchronous push-sum gossip on 3 ranks trains: test accuracy at least
#    0.5 after 30 steps (chance is 0.1; a lost or doubled share, or a weight
#    underflowing, ends near chance or in NaN);
#  - compressed gradients that lose nothing (--compress none: plain f32;
#    topk with --ratio 1: every entry, by allgather) equal one process to
#    1e-7 (the weight matrices travel in f32), and top-k at 1% does not
#    (so the compressed path really is taken).
# Run by automake (TESTS_BUILDDIR).
b=${TESTS_BUILDDIR:?TESTS_BUILDDIR is not set}/..
t=$b/examples/train_mnist
export RCOMM_TRANSPORT=tcp
[ -x "$t" ] || { echo "train_check: no $t (needs OpenBLAS and zlib)"; exit 77; }
dir=$(mktemp -d) || exit 1
trap 'rm -rf "$dir"' EXIT
common="--steps 6 --batch 120 --lr 0.1 --train-limit 2400 --test-limit 500 --skip-missing"
"$t" $common --dump "$dir/whole"
rc=$?
[ $rc -eq 77 ] && { echo "train_check: dataset-fashion-mnist is not installed"; exit 77; }
[ $rc -eq 0 ] || exit 1
"$t" $common --slices 3 --dump "$dir/slices" || exit 1
"$t" $common --slices 2 --dump "$dir/slices2" || exit 1
set -e
"$b/rcomm-run" -n 3 -t 300 "$t" $common --mode allreduce --check "$dir/whole" --tol 1e-12
for progress in caller thread; do
    "$b/rcomm-run" -n 3 -t 300 "$t" $common --mode buckets --bucket-kb 8 \
        --progress $progress --check "$dir/whole" --tol 1e-12
done
for n in 3 2; do
    "$b/rcomm-run" -n $n -t 300 "$t" $common --mode mapreduce --check "$dir/whole" --tol 1e-12
done
"$b/rcomm-run" -n 3 -t 300 "$t" $common --mode mapreduce --driver-idle \
    --check "$dir/whole" --tol 1e-12
"$b/rcomm-run" -n 4 -t 300 "$t" $common --mode ps --sync bsp --check "$dir/slices" --tol 0
"$b/rcomm-run" -n 3 -t 300 "$t" $common --mode dpsgd --graph full --check "$dir/slices" \
    --tol 1e-12
"$b/rcomm-run" -n 2 -t 300 "$t" $common --mode dpsgd --graph one-peer \
    --check "$dir/slices2" --tol 1e-12
acc=$("$b/rcomm-run" -n 3 -t 300 "$t" --steps 30 --batch 120 --lr 0.1 --train-limit 4000 \
    --test-limit 500 --mode gossip --graph exp2 | sed -n 's/.*: test accuracy \([0-9.]*\) .*/\1/p')
echo "train_check: gossip on 3 ranks, 30 steps: test accuracy $acc"
awk -v a="$acc" 'BEGIN { exit !(a + 0 >= 0.5) }' ||
    { echo "train_check: gossip did not train (accuracy '$acc')"; exit 1; }
for c in "none" "topk --ratio 1"; do
    "$b/rcomm-run" -n 3 -t 300 "$t" $common --mode allreduce --compress $c \
        --check "$dir/whole" --tol 1e-7
done
if "$b/rcomm-run" -n 3 -t 300 "$t" $common --mode allreduce --compress topk --ratio 0.01 \
    --check "$dir/whole" --tol 1e-7 >/dev/null 2>&1; then
    echo "train_check: top-k 1% trained the uncompressed model; the compressed path was not taken"
    exit 1
fi
# The check can fail: the whole batch and its slices do differ in the last bits.
if "$t" $common --check "$dir/slices" --tol 0 >/dev/null; then
    echo "train_check: the two references are identical; the bit-for-bit check proves nothing"
    exit 1
fi
echo "train_check: allreduce, buckets, mapreduce, the BSP parameter server, D-PSGD on full graphs and lossless compression match one process; gossip trains"
