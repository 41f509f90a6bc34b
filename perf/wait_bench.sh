#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
#
# wait_bench.sh: how long a rank should busy-poll when ranks outnumber cores,
# or any other tunable's values side by side. Runs the collective benchmarks
# with the variable set to each value in turn, interleaved round by round
# (noise hits every value alike), and prints the median time per size side by
# side, with the ratio to the first value.
#
#   perf/wait_bench.sh [-v VAR] [-e MAX] [-f FACTOR] [-c COLLS] BUILD_DIR [RANKS [ROUNDS [VALUES...]]]
#   perf/wait_bench.sh build 4 3 0 20 200
#   perf/wait_bench.sh -v RCOMM_PROGRESS -e 64M -f 2 -c allreduce build 2 3 caller thread
#
# VAR defaults to RCOMM_OVERSUB_SPIN_US, and then each run forces
# RCOMM_OVERSUBSCRIBED=1, so the spin under test is used even where the
# cores would suffice. MAX: the largest size (256K); FACTOR: between sizes
# (4); COLLS: the collectives (all four).
set -eu
var=RCOMM_OVERSUB_SPIN_US max=256K factor=4 colls="allreduce broadcast allgather reduce-scatter"
while getopts v:e:f:c: o; do
    case $o in
    v) var=$OPTARG ;;
    e) max=$OPTARG ;;
    f) factor=$OPTARG ;;
    c) colls=$OPTARG ;;
    *) exit 2 ;;
    esac
done
shift $((OPTIND - 1))
[ $# -ge 1 ] || { sed -n 4,20p "$0"; exit 2; }
build=$(cd "$1" && pwd)
ranks=${2:-4}
rounds=${3:-3}
shift $(($# < 3 ? $# : 3))
spins=("$@")
[ ${#spins[@]} -gt 0 ] || spins=(0 20 200)
force=(-x RCOMM_OVERSUBSCRIBED=1)
[ "$var" = RCOMM_OVERSUB_SPIN_US ] || force=()
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

for r in $(seq "$rounds"); do
    for c in $colls; do
        for s in "${spins[@]}"; do
            "$build/rcomm-run" -n "$ranks" -t 300 ${force[@]+"${force[@]}"} \
                -x "$var=$s" "$build/rcomm-$c-perf" -b 8 -e "$max" -f "$factor" \
                -n 50 -w 5 -c 0 --no-ceiling >"$out/$c-$s-$r" 2>&1 ||
                { echo "wait_bench: $c with spin $s failed:" >&2; cat "$out/$c-$s-$r" >&2; exit 1; }
        done
    done
done

# Median over rounds of the out-of-place time (column 8 after the [0] prefix).
for c in $colls; do
    echo "# $c, $ranks ranks, microseconds (median of $rounds rounds); ratio = time / $var=${spins[0]}'s"
    printf "%10s" "size(B)"
    for s in "${spins[@]}"; do printf " %12s" "$s"; done
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
