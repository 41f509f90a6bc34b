#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
#
# mapreduce_bench.sh: time per training step of examples/train_mnist in
# allreduce mode against mapreduce mode (the driver mapping too, and idle),
# and the BSP parameter server, on 2 and 4 ranks, run side by side.
#
#   examples/mapreduce_bench.sh [BUILD_DIR [REPS [STEPS [OUT_DIR]]]]
#                               (defaults: ./build, 7, 300, a temporary one)
#
# Each repetition runs every configuration once on 2 ranks, then on 4, in an
# order rotated by one every repetition, so that the modes share the
# machine's conditions. One run is STEPS steps of 120 images (f64, 784-100-10,
# 79510 parameters: the gradient and the model are 636 KB each), test-set
# evaluation only after the last step. The time per step is taken from the
# CSV that rank 0 (ps: the first worker) writes, from step STEPS/10 on, so
# that start-up (data loading, the ranks' first meeting) is left out: the
# median step, which ignores the steps another process on the machine
# preempted, and the 10th percentile ("fast" step), which comes close to the
# step's cost on an idle machine. Printed: per rank count and mode, for each,
# the median over the repetitions, and the median over repetitions of its
# ratio to allreduce mode's in the same repetition (with the lowest and
# highest ratio). OUT_DIR/runs.txt has one row per run: rep, ranks, mode,
# median, 10th percentile and mean step (ms).
# BENCH_MODES picks the modes (default: allreduce mapreduce mapreduce-idle
# ps-bsp; also ps-ssp, staleness 2, and ps-asp), BENCH_RANKS the rank counts
# (default: 2 4); allreduce is the reference, so keep it in. The mean step
# column is the wall time of the run's steps divided by their number.
# Exit status 0 when every run succeeded, 1 otherwise, 2 for a bad
# invocation or missing programs.
set -u
build=${1:-./build}
reps=${2:-7}
steps=${3:-300}
out=${4:-}
run=$build/rcomm-run
prog=$build/examples/train_mnist
for f in "$run" "$prog"; do
    [ -x "$f" ] || { echo "mapreduce_bench.sh: no executable $f (build first)" >&2; exit 2; }
done
case "$reps$steps" in *[!0-9]*) echo "mapreduce_bench.sh: REPS and STEPS are numbers" >&2; exit 2 ;; esac
[ "$steps" -ge 20 ] || { echo "mapreduce_bench.sh: STEPS must be at least 20" >&2; exit 2; }
if [ -z "$out" ]; then
    out=$(mktemp -d) || exit 1
    trap 'rm -rf "$out"' EXIT
fi
mkdir -p "$out" || exit 1
: >"$out/runs.txt"
: "${RCOMM_TRANSPORT:=tcp}"
export RCOMM_TRANSPORT
# 12000 training images (100 batches, wrapping): the data need not all load.
common="--steps $steps --batch 120 --lr 0.1 --train-limit 12000 --test-limit 500
    --eval-every $((steps + 1))"
modes=${BENCH_MODES:-allreduce mapreduce mapreduce-idle ps-bsp}
ranks=${BENCH_RANKS:-2 4}
args_of() {
    case $1 in
    allreduce) echo "--mode allreduce" ;;
    mapreduce) echo "--mode mapreduce" ;;
    mapreduce-idle) echo "--mode mapreduce --driver-idle" ;;
    ps-bsp) echo "--mode ps --sync bsp" ;;
    ps-ssp) echo "--mode ps --sync ssp --staleness 2" ;;
    ps-asp) echo "--mode ps --sync asp" ;;
    esac
}
status=0
rep=1
while [ "$rep" -le "$reps" ]; do
    for n in $ranks; do
        # this repetition's order: the modes rotated by rep - 1
        order=$(echo $modes | awk -v k="$rep" '{ for (i = 0; i < NF; i++)
            printf "%s ", $((i + k - 1) % NF + 1) }')
        for m in $order; do
            csv=$out/$m-n$n-r$rep.csv
            if ! "$run" -n "$n" -t 600 "$prog" $common $(args_of "$m") --csv "$csv" \
                >"$out/$m-n$n-r$rep.log" 2>&1; then
                echo "mapreduce_bench.sh: $m on $n ranks failed (rep $rep):" >&2
                tail -5 "$out/$m-n$n-r$rep.log" >&2
                status=1
                continue
            fi
            # the steps' durations (ms) from step k0 on: median, 10th
            # percentile, mean
            awk -F, -v k0=$((steps / 10)) 'NR > 1 && $1 > k0 { print ($2 - t) * 1e3 }
                NR > 1 { t = $2 }' "$csv" | sort -g |
                awk -v r="$rep" -v n="$n" -v m="$m" '{ v[NR] = $1; s += $1 }
                END { printf "%d %d %s %.4f %.4f %.4f\n", r, n, m,
                      NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2,
                      v[int((NR - 1) / 10) + 1], s / NR }' >>"$out/runs.txt"
        done
    done
    echo "mapreduce_bench.sh: repetition $rep of $reps done" >&2
    rep=$((rep + 1))
done

median() { # of the numbers on stdin
    sort -g | awk '{ v[NR] = $1 } END { if (NR == 0) print "nan";
        else if (NR % 2) printf "%.4g\n", v[(NR + 1) / 2];
        else printf "%.4g\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}
printf '\n%d repetitions of %d steps of 120 images, %s; steps from %d on\n' \
    "$reps" "$steps" "$RCOMM_TRANSPORT" $((steps / 10))
printf '%-6s %-15s %9s %18s %9s %18s %9s %18s\n' "" "" "median" "ratio to" "fast" \
    "ratio to" "mean" "ratio to"
printf '%-6s %-15s %9s %18s %9s %18s %9s %18s\n' ranks mode "step ms" "allreduce" \
    "step ms" "allreduce" "step ms" "allreduce"
# column col of runs.txt for ranks n and mode m: the median over repetitions,
# then the median (min - max) of its ratios to allreduce's in the same one
summary() {
    v=$(awk -v n="$1" -v m="$2" -v c="$3" '$2 == n && $3 == m { print $c }' \
        "$out/runs.txt" | median)
    ratios=$(awk -v n="$1" -v m="$2" -v c="$3" '$2 == n && $3 == "allreduce" { a[$1] = $c }
        $2 == n && $3 == m { b[$1] = $c }
        END { for (r in b) if (r in a && a[r] > 0) printf "%.4f\n", b[r] / a[r] }' \
        "$out/runs.txt" | grep .)
    med=$(echo "$ratios" | median)
    range=$(echo "$ratios" | sort -g | awk 'NR == 1 { lo = $1 } { hi = $1 }
        END { if (NR) printf "(%.2f-%.2f)", lo, hi }')
    printf ' %9.3f %6.2f %11s' "$v" "$med" "$range"
}
for n in $ranks; do
    for m in $modes; do
        printf '%-6s %-15s' "$n" "$m"
        summary "$n" "$m" 4
        summary "$n" "$m" 5
        summary "$n" "$m" 6
        echo
    done
done
exit $status
