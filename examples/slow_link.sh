#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
#
# slow_link.sh: gradient compression on slow links. Trains
# examples/train_mnist (data parallel, 4 ranks, Fashion-MNIST) on 4 simulated
# hosts (scripts/rcomm-simhosts: network namespaces under one bridge, each
# link shaped by tc tbf) at each RATE, once uncompressed and once per
# compressor, then prints per rate: each run's final test accuracy, the time
# it took to reach the uncompressed run's final accuracy less 1 point, the
# speedup on that time, and the bytes a rank sent per step (rcomm_comm_stats).
# Draws accuracy and loss against time per rate with rcomm-plot.
#
#   examples/slow_link.sh [BUILD_DIR [OUT_DIR [STEPS [RATE...]]]]
#                         (defaults: ./build, ./slow-link, 1000, 1gbit 100mbit)
#
# The uncompressed baseline sends W1 and W2 in f32, like the compressors'
# input, and runs twice, with the allreduce rcomm picks (auto) and with the
# ring (the fewest bytes); the faster is the baseline. Needs root. Exit
# status 0 when every run succeeded, 1 otherwise, 2 when something it needs
# is missing.
set -u
build=${1:-./build}
out=${2:-./slow-link}
steps=${3:-1000}
[ $# -gt 3 ] && shift 3 || set -- 1gbit 100mbit
here=$(dirname "$0")
sim=$here/../scripts/rcomm-simhosts
plot=$here/../scripts/rcomm-plot
run=$build/rcomm-run
prog=$build/examples/train_mnist
for f in "$run" "$prog"; do
    [ -x "$f" ] || { echo "slow_link.sh: no executable $f (build first)" >&2; exit 2; }
done
[ "$(id -u)" -eq 0 ] || { echo "slow_link.sh: needs root (network namespaces)" >&2; exit 2; }
trap '"$sim" down' EXIT INT TERM
# The bytes rank 0 sent per step, from its log.
per_step() { sed -n 's/^\[0\] train_mnist: rank 0 sent [0-9]* bytes, \([0-9]*\) per step$/\1/p' "$1"; }
common="--mode allreduce --steps $steps --batch 120 --lr 0.1 --eval-every 25 --test-limit 5000"
status=0
for rate in "$@"; do
    dir=$out/$rate
    mkdir -p "$dir" || exit 1
    "$sim" up -n 4 --rate "$rate" || exit 1
    addr="$("$sim" addr 0):29500"
    # name RCOMM_ALLREDUCE_ALGO train_mnist-arguments
    while read -r name algo args; do
        echo "== $rate $name: train_mnist $args"
        RCOMM_ALLREDUCE_ALGO=$algo "$run" -n 4 -t 1800 -a "$addr" "$sim" rank "$prog" \
            $common $args --csv "$dir/$name.csv" >"$dir/$name.log" 2>&1 || {
            status=1
            tail -n 5 "$dir/$name.log"
        }
        grep '^\[0\] train_mnist:' "$dir/$name.log"
    done <<RUNS
none auto --compress none
none-ring ring --compress none
topk-1% auto --compress topk --ratio 0.01
powersgd-r2 auto --compress powersgd --lowrank 2
sign auto --compress sign
RUNS
    "$sim" down
    # The baseline: the faster of the uncompressed runs.
    base=none
    t1=$(tail -n 1 "$dir/none.csv" | cut -d, -f2)
    t2=$(tail -n 1 "$dir/none-ring.csv" | cut -d, -f2)
    awk -v a="$t1" -v b="$t2" 'BEGIN { exit !(b < a) }' && base=none-ring
    target=$(tail -n 1 "$dir/$base.csv" | awk -F, '{ printf "%.4f", $4 - 0.01 }')
    printf '\n# %s per link, 4 ranks, %s steps; target accuracy %s (%s final - 1 point)\n' \
        "$rate" "$steps" "$target" "$base"
    printf '%-12s %9s %12s %9s %14s %9s\n' run accuracy time_to_tgt speedup \
        bytes/step fewer
    tb=$(awk -F, -v t="$target" 'NR > 1 && $4 != "" && $4 + 0 >= t { print $2; exit }' \
        "$dir/$base.csv")
    bb=$(per_step "$dir/$base.log")
    for f in "$dir"/*.csv; do
        name=$(basename "$f" .csv)
        by=$(per_step "$dir/$name.log")
        awk -F, -v t="$target" -v tb="$tb" -v bb="$bb" -v by="$by" -v n="$name" '
            NR > 1 && $4 != "" { a = $4; if (tt == "" && $4 + 0 >= t) tt = $2 }
            END {
                sp = tt == "" ? "-" : sprintf("%.2fx", tb / tt)
                printf "%-12s %9.4f %12s %9s %14s %8.1fx\n", n, a,
                       tt == "" ? "never" : sprintf("%.2f s", tt), sp, by, bb / by
            }' "$f"
    done | tee "$dir/summary.txt"
    "$plot" --accuracy --title "train_mnist, 4 ranks, $rate links" \
        -o "$dir/accuracy.png" "$dir"/*.csv || status=1
    "$plot" --accuracy --title "train_mnist, 4 ranks, $rate links" \
        -o "$dir/accuracy.svg" "$dir"/*.csv || status=1
done
exit $status
