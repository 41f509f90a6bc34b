#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
#
# hier_bench.sh: flat against hierarchical allreduce on simulated hosts
# (scripts/rcomm-simhosts), the links between hosts rate-limited below
# shared memory, and what the cost model picks there.
#
#   perf/hier_bench.sh [-H HOSTS] [-m RANKS_PER_HOST] [-r RATE] [-e MAX] [-R REPS]
#                      [-F] [-o DIR] BUILD_DIR
#   perf/hier_bench.sh -H 8 -m 2 -r 400mbit -e 16M build
#
# 1. rcomm-tune measures both links in the job itself (shared memory within
#    a host, the network between pairs of hosts, every rank busy) and writes
#    DIR/hier.tuning, with rules for this rank count (every algorithm, hier
#    included, timed at every power of two); with -F without them, so that
#    the formulas alone choose.
# 2. rcomm-allreduce-perf -a all with that file: every algorithm and auto
#    side by side at every power of two up to MAX, the median of REPS
#    repetitions, into DIR/hier.csv (and DIR/hier.svg when gnuplot is
#    there).
# Prints, per size, each algorithm's time, the fastest and auto's pick.
# Needs root (network namespaces). DIR defaults to ./hier-bench.
set -eu
hosts=8 per=2 rate=400mbit max=16M reps=3 dir=hier-bench rules=
while getopts H:m:r:e:R:Fo: o; do
    case $o in
    H) hosts=$OPTARG ;;
    m) per=$OPTARG ;;
    r) rate=$OPTARG ;;
    e) max=$OPTARG ;;
    R) reps=$OPTARG ;;
    o) dir=$OPTARG ;;
    F) rules=-R ;;
    *) exit 2 ;;
    esac
done
shift $((OPTIND - 1))
[ $# -eq 1 ] || { sed -n 4,20p "$0"; exit 2; }
build=$(cd "$1" && pwd)
sim=$(cd "$(dirname "$0")/../scripts" && pwd)/rcomm-simhosts
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
export RCOMM_SIMHOSTS=rchb$$ RCOMM_TRANSPORT=tcp RCOMM_SHM=auto RCOMM_TIMEOUT=300
trap '"$sim" down' EXIT INT TERM
"$sim" up -n "$hosts" --rate "$rate" >/dev/null
n=$((hosts * per))
job() { "$build/rcomm-run" -n "$n" -t 3600 -a "$("$sim" addr 0):29500" "$sim" rank -m "$per" "$@"; }

echo "# $hosts hosts x $per ranks, links $rate; tuning into $dir/hier.tuning" >&2
# shellcheck disable=SC2086
job "$build/rcomm-tune" $rules -e "$max" -r "$reps" -o "$dir/hier.tuning" 2>"$dir/tune.log"
RCOMM_TUNING_FILE="$dir/hier.tuning" job "$build/rcomm-allreduce-perf" -a all -b 8 \
    -e "$max" -r "$reps" -n 5 -w 2 -c 1 --no-ceiling --csv "$dir/hier.csv" >"$dir/perf.txt"
RCOMM_TUNING_FILE="$dir/hier.tuning" "$build/rcomm-info" --ranks-per-host "$per" \
    --hosts "$hosts" --explain "$n" "$max" >"$dir/explain.txt"
cat "$dir/perf.txt"
if command -v gnuplot >/dev/null; then
    "$(dirname "$sim")/rcomm-plot" --title "allreduce, $hosts hosts x $per ranks, links $rate" \
        -o "$dir/hier.svg" "$dir/hier.csv" || true
fi
