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
#   examples/train_curves.sh [BUILD_DIR [OUT_DIR [STEPS]]]
#                            (defaults: ./build, ./train-curves, 600)
#
# Data parallel and MapReduce runs use 3 ranks (the driver maps too); the
# parameter server 1 server + 3 workers, so every mode sees the same global
# batch of 120 images per step. Prints a table of each mode's final loss,
# test accuracy and wall time.
# Exit status 0 when every run succeeded, 1 otherwise, 2 when the build
# directory lacks the programs.
set -u
build=${1:-./build}
out=${2:-./train-curves}
steps=${3:-600}
run=$build/rcomm-run
prog=$build/examples/train_mnist
plot=$(dirname "$0")/../scripts/rcomm-plot
for f in "$run" "$prog"; do
    [ -x "$f" ] || { echo "train_curves.sh: no executable $f (build first)" >&2; exit 2; }
done
mkdir -p "$out" || exit 1
common="--steps $steps --batch 120 --lr 0.1 --eval-every 25 --test-limit 2000"
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
single 1 --mode single
allreduce 3 --mode allreduce
buckets-thread 3 --mode buckets --bucket-kb 64 --progress thread
mapreduce 3 --mode mapreduce
ps-bsp 4 --mode ps --sync bsp
ps-ssp 4 --mode ps --sync ssp --staleness 2 --push-every 2
ps-asp 4 --mode ps --sync asp --push-every 2 --pull-every 2
MODES

printf '\n%-16s %10s %10s %10s\n' mode loss accuracy time_s
for f in "$out"/*.csv; do
    awk -F, -v m="$(basename "$f" .csv)" 'NR > 1 { l = $3; t = $2; if ($4 != "") a = $4 }
        END { printf "%-16s %10.4f %10.4f %10.2f\n", m, l, a, t }' "$f"
done
"$plot" --title "train_mnist on Fashion-MNIST ($steps steps of 120 images)" \
    -o "$out/loss.svg" "$out"/*.csv || status=1
"$plot" --title "train_mnist on Fashion-MNIST ($steps steps of 120 images)" \
    -o "$out/loss.png" "$out"/*.csv || status=1
exit $status
