#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
#
# train_curves.sh: train examples/train_mnist on Fashion-MNIST in every mode
# (one process; data parallel with blocking allreduce; with gradient buckets
# and the progress thread; iterative MapReduce, rank 0 driving; the parameter
# server under BSP, SSP and ASP with push/pull intervals), one CSV per mode,
# then draw loss against time and against steps for all of them in one
# picture with rcomm-plot.
#
#   examples/train_curves.sh [BUILD_DIR [OUT_DIR [STEPS [SET]]]]
#                            (defaults: ./build, ./train-curves, 600, modes)
#
# SET modes: data parallel and MapReduce runs use 3 ranks (the driver maps
# too); the parameter server 1 server + 3 workers, so every mode sees the
# same global batch of 120 images per step.
# SET decentralized: 8 ranks, allreduce against D-PSGD on the exponential-2
# graph, the ring and one-peer exponential-2, and push-sum gossip on the
# exponential-2 graph, fully asynchronous and with every rank at most 4 and
# 1 steps ahead of the slowest (--max-lead); accuracy on all 10000 test
# images.
# Prints a table of each mode's final loss, test accuracy and wall time.
# Exit status 0 when every run succeeded, 1 otherwise, 2 when the build
# directory lacks the programs.
set -u
build=${1:-./build}
out=${2:-./train-curves}
steps=${3:-600}
set=${4:-modes}
plotflags=
run=$build/rcomm-run
prog=$build/examples/train_mnist
plot=$(dirname "$0")/../scripts/rcomm-plot
for f in "$run" "$prog"; do
    [ -x "$f" ] || { echo "train_curves.sh: no executable $f (build first)" >&2; exit 2; }
done
mkdir -p "$out" || exit 1
common="--steps $steps --batch 120 --lr 0.1 --eval-every 25 --test-limit 2000"
modes="single 1 --mode single
allreduce 3 --mode allreduce
buckets-thread 3 --mode buckets --bucket-kb 64 --progress thread
mapreduce 3 --mode mapreduce
ps-bsp 4 --mode ps --sync bsp
ps-ssp 4 --mode ps --sync ssp --staleness 2 --push-every 2
ps-asp 4 --mode ps --sync asp --push-every 2 --pull-every 2"
if [ "$set" = decentralized ]; then
    common="--steps $steps --batch 120 --lr 0.1 --eval-every 50 --test-limit 10000"
    modes="allreduce 8 --mode allreduce
dpsgd-exp2 8 --mode dpsgd --graph exp2
dpsgd-ring 8 --mode dpsgd --graph ring
dpsgd-one-peer 8 --mode dpsgd --graph one-peer
gossip-async 8 --mode gossip --graph exp2
gossip-lead4 8 --mode gossip --graph exp2 --max-lead 4
gossip-lead1 8 --mode gossip --graph exp2 --max-lead 1"
    plotflags=--accuracy # rank 0's 15-image loss is noise; its accuracy is not
elif [ "$set" != modes ]; then
    echo "train_curves.sh: SET is modes or decentralized, not $set" >&2
    exit 2
fi
status=0
# mode-name ranks train_mnist-arguments
while read -r name n args; do
    echo "== $name: $n rank(s): train_mnist $args"
    if [ "$n" -eq 1 ]; then
        "$prog" $common $args --csv "$out/$name.csv" || status=1
    else
        "$run" -n "$n" -t 900 "$prog" $common $args --csv "$out/$name.csv" || status=1
    fi
done <<MODES
$modes
MODES

printf '\n%-16s %10s %10s %10s\n' mode loss accuracy time_s
for f in "$out"/*.csv; do
    awk -F, -v m="$(basename "$f" .csv)" 'NR > 1 { l = $3; t = $2; if ($4 != "") a = $4 }
        END { printf "%-16s %10.4f %10.4f %10.2f\n", m, l, a, t }' "$f"
done
"$plot" $plotflags --title "train_mnist on Fashion-MNIST ($steps steps of 120 images, $set)" \
    -o "$out/loss.svg" "$out"/*.csv || status=1
"$plot" $plotflags --title "train_mnist on Fashion-MNIST ($steps steps of 120 images, $set)" \
    -o "$out/loss.png" "$out"/*.csv || status=1
exit $status
