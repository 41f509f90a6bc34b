#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
# Parameter server figures for docs/PERFORMANCE.md: pull and push next to
# the transport's own one-sided operations, so that the protocol's cost
# reads as a ratio, then a sweep against key-range size and servers.
#
#   perf/ps_bench.sh BUILDDIR [TRANSPORT] [REPS]
#   (in the soft-RoCE VM: scripts/rxe-vm.sh -- perf/ps_bench.sh "$PWD/build" verbs 3)
#
# Each repetition runs, on 2 ranks (1 server, 1 worker, ASP): rcomm-read-lat
# and rcomm-write-lat at 64 B (t_typical), rcomm-read-bw at 256 KiB (average
# MB/s), and rcomm-ps-perf pull and push at 64 B (p50) and pull at 256 KiB
# (GB/s). The summary grades the medians over repetitions against issue
# 16's targets: a 64 B pull within 1.5x of a read, a push within 2x of a
# write, a 256 KiB pull at 90% or more of the read bandwidth.
set -eu
b=${1:?usage: ps_bench.sh BUILDDIR [tcp|verbs] [REPS]}
tp=${2:-tcp}
reps=${3:-3}
export RCOMM_TRANSPORT="$tp" RCOMM_LOG_LEVEL=error
run=$b/rcomm-run
fig=$(mktemp)
trap 'rm -f "$fig"' EXIT

# The number in column $2 of the row of size $1 that rank 0 printed.
col() {
    awk -v s="$1" -v c="$2" '$1 == "[0]" && $2 == s { print $(c + 1); exit }'
}
for r in $(seq "$reps"); do
    echo "== repetition $r (2 ranks)"
    v=$("$run" -n 2 "$b/rcomm-read-lat" -s 64 -n 1000 --no-ceiling 2>&1 | col 64 5)
    echo "read_lat $v" | tee -a "$fig"
    v=$("$run" -n 2 "$b/rcomm-write-lat" -s 64 -n 1000 --no-ceiling 2>&1 | col 64 5)
    echo "write_lat $v" | tee -a "$fig"
    v=$("$run" -n 2 "$b/rcomm-read-bw" -s 256K -n 200 --no-ceiling 2>&1 | col 262144 4)
    echo "read_bw_MBs $v" | tee -a "$fig"
    # rows: servers size count op workers p50 p99 avg GB/s ops/s retries waits
    "$run" -n 2 "$b/rcomm-ps-perf" -S 1 -b 64 -e 256K -f 4096 -n 300 -w 20 2>&1 |
        awk '$1 == "[0]" && $2 == 1 && $3 == 64 { print $5 "_p50 " $7 }
             $1 == "[0]" && $2 == 1 && $3 == 262144 && $5 == "pull" {
                 print "pull_256K_MBs " $10 * 1000 }' | tee -a "$fig"
done
echo "== summary: medians over $reps repetitions, $tp"
awk '{ v[$1] = v[$1] " " $2 }
    function med(s,   a, n, i, j, t) {
        n = split(s, a, " ")
        for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++)
            if (a[j] + 0 < a[i] + 0) { t = a[i]; a[i] = a[j]; a[j] = t }
        return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
    }
    function grade(name, x, y, r, lim, more) {
        printf "%-30s %10.1f vs %10.1f  %5.2fx  target %s %.2fx: %s\n", name, x, y, r,
            more ? ">=" : "<=", lim, (more ? r >= lim : r <= lim) ? "met" : "NOT met"
    }
    END {
        rl = med(v["read_lat"]); wl = med(v["write_lat"]); bw = med(v["read_bw_MBs"])
        pl = med(v["pull_p50"]); ph = med(v["push_p50"]); pb = med(v["pull_256K_MBs"])
        grade("64 B pull p50 / read (us)", pl, rl, pl / rl, 1.5, 0)
        grade("64 B push p50 / write (us)", ph, wl, ph / wl, 2, 0)
        grade("256 KiB pull / read bw (MB/s)", pb, bw, pb / bw, 0.9, 1)
    }' "$fig"
echo "== sweep: 4 ranks, 1 and 2 servers, 64 B to 1 MiB"
"$run" -n 4 "$b/rcomm-ps-perf" -S 1,2 -b 64 -e 1M -f 16 -n 30 -w 5 2>&1 | sed 's/^\[0\] //'
