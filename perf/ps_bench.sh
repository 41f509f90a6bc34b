#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
# Parameter server figures for docs/PERFORMANCE.md: pull and push against
# key-range size and number of servers (rcomm-ps-perf), next to the
# transport's own one-sided read latency (rcomm-read-lat) so that the
# protocol's cost reads as a ratio. Usage: perf/ps_bench.sh BUILDDIR
# [TRANSPORT] [REPS]. In the soft-RoCE VM: scripts/rxe-vm.sh --
# perf/ps_bench.sh "$PWD/build" verbs 3
set -eu
b=${1:?usage: ps_bench.sh BUILDDIR [tcp|verbs] [REPS]}
tp=${2:-tcp}
reps=${3:-3}
export RCOMM_TRANSPORT="$tp" RCOMM_LOG_LEVEL=error
run=$b/rcomm-run
for r in $(seq "$reps"); do
    echo "== repetition $r: read latency (64 B, 2 ranks)"
    "$run" -n 2 "$b/rcomm-read-lat" -s 64 -n 1000 --no-ceiling 2>&1 | grep -E '^\[0\] +64 '
    echo "== repetition $r: pull/push latency (64 B, 1 server, 1 worker)"
    "$run" -n 2 "$b/rcomm-ps-perf" -S 1 -b 64 -e 64 -n 1000 -w 20 2>&1 |
        grep -E '^\[0\] +1 +64 '
done
echo "== sweep: 4 ranks, 1 and 2 servers, 64 B to 1 MiB"
"$run" -n 4 "$b/rcomm-ps-perf" -S 1,2 -b 64 -e 1M -f 16 -n 30 -w 5 2>&1 | sed 's/^\[0\] //'
