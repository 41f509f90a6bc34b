#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
# AllReduce between buffers from malloc and from rcomm_mem_alloc (the mapped
# path where every rank shares this host), side by side: ROUNDS interleaved
# rounds of rcomm-allreduce-perf at every power of two from 1 KiB to 64 MiB
# on each rank count, then per rank count and size the median busbw of each,
# out of place and in place, and their ratio; and memcpy of 64 MiB in one
# process, the figure the 64 MiB target is read against beside the tools'
# 8 MiB one (docs/PERFORMANCE.md, "Mapped AllReduce").
#   perf/mapped_bench.sh BUILD [ROUNDS [RANKS...]]   (default 5, 2 4)
set -eu
b=${1:?usage: mapped_bench.sh BUILD [ROUNDS [RANKS...]]}
rounds=${2:-5}
shift $(($# < 2 ? $# : 2))
ranks=${*:-2 4}
raw=$(mktemp)
trap 'rm -f "$raw"' EXIT
for r in $(seq "$rounds"); do
    for p in $ranks; do
        for m in malloc mem; do
            a=
            [ $m = malloc ] || a=--mem-alloc
            "$b/rcomm-run" -n "$p" "$b/rcomm-allreduce-perf" -b 1K -e 64M -n 20 -w 3 \
                -c 0 --no-ceiling $a 2>&1 |
                awk -v r="$r" -v p="$p" -v m="$m" \
                    '$1 == "[0]" && $2 ~ /^[0-9]+$/ { print r, p, m, $2, $7, $10, $14 }' \
                    >>"$raw"
        done
    done
done
echo "# ranks size: busbw GB/s, medians of $rounds rounds; out of place malloc mem (ratio) | in place malloc mem (ratio); mem's path"
awk '{ k = $2 " " $4; o[k, $3, ++n[k, $3]] = $6; i[k, $3, n[k, $3]] = $7
       if ($3 == "mem") path[k] = $5; keys[k] = 1 }
     function med(a, k, m, c,   v, j, t, x) {
         c = n[k, m]; for (j = 1; j <= c; j++) v[j] = a[k, m, j]
         for (j = 2; j <= c; j++) { x = v[j]; for (t = j - 1; t >= 1 && v[t] > x; t--) v[t + 1] = v[t]; v[t + 1] = x }
         return c % 2 ? v[(c + 1) / 2] : (v[c / 2] + v[c / 2 + 1]) / 2 }
     END { for (k in keys) {
         om = med(o, k, "malloc"); oM = med(o, k, "mem"); im = med(i, k, "malloc"); iM = med(i, k, "mem")
         printf "%s %7.2f %7.2f (%5.2fx) | %7.2f %7.2f (%5.2fx) %s\n", k, om, oM, oM / om, im, iM, iM / im, path[k] } }' \
    "$raw" | sort -k1,1n -k2,2n
for r in $(seq 3); do "$b/perf/shm_bound" 2 64M 1M | sed 's/.*\(memcpy of[^;]*\);.*/\1/'; done
