#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
#
# launch_noise.sh: how far one algorithm's time moves between separate
# launches of the same job (an A/A test). Runs `rcomm-allreduce-perf -a all`
# LAUNCHES times (every power of two, 8 B .. MAX), then prints per size the
# spread max/min over the launches of each forced algorithm, and a summary:
# the median, 90th percentile and largest spread. A choice between two
# algorithms measured in one launch and checked in another is meaningful only
# where they differ by more than this spread.
#
#   perf/launch_noise.sh BUILD_DIR [RANKS [LAUNCHES [MAX]]]
#   perf/launch_noise.sh build 4 3 64M
set -eu
[ $# -ge 1 ] || { sed -n 4,13p "$0"; exit 2; }
build=$(cd "$1" && pwd)
ranks=${2:-2}
launches=${3:-3}
max=${4:-64M}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

run() { # LAUNCH PASS ARGS...: one launch's pass, its CSV kept
    local l=$1 p=$2
    shift 2
    "$build/rcomm-run" -n "$ranks" -t 3000 "$build/rcomm-allreduce-perf" -a all \
        --no-ceiling --csv "$out/$l-$p.csv" "$@" >"$out/$l-$p.txt" 2>&1 ||
        { echo "launch_noise: launch $l failed:" >&2; cat "$out/$l-$p.txt" >&2; exit 1; }
}
for l in $(seq "$launches"); do
    run "$l" small -b 8 -e 1M -n 20 -w 3 -r 3
    run "$l" large -b 2M -e "$max" -n 3 -w 1 -r 3
done

echo "# $ranks ranks, $launches launches: max/min of each algorithm's time over the launches"
cat "$out"/*.csv | awk -F, '$1 == "rcomm-allreduce-perf" && $10 != "auto" {
        k = $5 " " $10; v = $12 + 0
        if (!(k in lo) || v < lo[k]) lo[k] = v
        if (v > hi[k]) hi[k] = v
    }
    END { for (k in lo) { split(k, f, " "); printf "%d %s %.3f\n", f[1], f[2], hi[k] / lo[k] } }' |
    sort -k1,1n -k2,2 | awk '
        $1 != size { if (size) printf "\n"; size = $1; printf "%10d", size }
        { printf "  %s %.2f", $2, $3; all[++n] = $3 }
        END {
            printf "\n"
            for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (all[j] < all[i]) { x = all[i]; all[i] = all[j]; all[j] = x }
            printf "# spread over %d size-algorithm pairs: median %.2f, 90th percentile %.2f, largest %.2f\n",
                n, all[int((n + 1) / 2)], all[int(n * 0.9 + 0.5)], all[n]
        }'
