#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
#
# wait_bench.sh: how long a rank should busy-poll when ranks outnumber cores.
# Runs the collective benchmarks with RCOMM_OVERSUB_SPIN_US set to each value
# in turn, interleaved round by round (noise hits every value alike), and
# prints the median time per size side by side, with the ratio to the first
# value.
#
#   perf/wait_bench.sh BUILD_DIR [RANKS [ROUNDS [SPINS...]]]
#   perf/wait_bench.sh build 4 3 0 20 200
#
# Each run forces RCOMM_OVERSUBSCRIBED=1, so the spin under test is used
# even where the cores would suffice.
set -eu
[ $# -ge 1 ] || { sed -n 4,15p "$0"; exit 2; }
build=$(cd "$1" && pwd)
ranks=${2:-4}
rounds=${3:-3}
shift $(($# < 3 ? $# : 3))
spins=("$@")
[ ${#spins[@]} -gt 0 ] || spins=(0 20 200)
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

for r in $(seq "$rounds"); do
    for c in allreduce broadcast allgather reduce-scatter; do
        for s in "${spins[@]}"; do
            "$build/rcomm-run" -n "$ranks" -t 300 -x RCOMM_OVERSUBSCRIBED=1 \
                -x RCOMM_OVERSUB_SPIN_US="$s" "$build/rcomm-$c-perf" -b 8 -e 256K -f 4 \
                -n 50 -w 5 -c 0 --no-ceiling >"$out/$c-$s-$r" 2>&1 ||
                { echo "wait_bench: $c with spin $s failed:" >&2; cat "$out/$c-$s-$r" >&2; exit 1; }
        done
    done
done

# Median over rounds of the out-of-place time (column 8 after the [0] prefix).
for c in allreduce broadcast allgather reduce-scatter; do
    echo "# $c, $ranks ranks, microseconds (median of $rounds rounds); ratio = time / spin ${spins[0]}'s"
    printf "%10s" "size(B)"
    for s in "${spins[@]}"; do printf " %12s" "spin=$s"; done
    for s in "${spins[@]:1}"; do printf " %10s" "r($s)"; done
    echo
    for s in "${spins[@]}"; do
        cat "$out/$c-$s-"* | awk -v s="$s" '$1 == "[0]" && $2 ~ /^[0-9]+$/ { print s, $2, $8 }'
    done | sort -k1,1n -k2,2n -k3,3g | awk -v order="${spins[*]}" '
        { t[$1, $2, ++n[$1, $2]] = $3; sizes[$2] = 1 }
        END {
            ns = split(order, sp, " ")
            m = 0; for (z in sizes) sz[++m] = z + 0
            for (i = 1; i <= m; i++) for (j = i + 1; j <= m; j++) if (sz[j] < sz[i]) { x = sz[i]; sz[i] = sz[j]; sz[j] = x }
            for (i = 1; i <= m; i++) {
                printf "%10d", sz[i]
                for (k = 1; k <= ns; k++) {
                    c = n[sp[k], sz[i]]; med[k] = c ? t[sp[k], sz[i], int((c + 1) / 2)] : 0
                    printf " %12.2f", med[k]
                }
                for (k = 2; k <= ns; k++) printf " %10.2f", (med[1] > 0 ? med[k] / med[1] : 0)
                printf "\n"
            }
        }'
done
