#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
# rcomm over verbs next to perftest, and AllReduce over verbs next to TCP,
# side by side in one run, medians of REPS repetitions (alternating, so that
# drift in the machine's load hits both sides alike). Meant for the
# soft-RoCE VM (docs/PERFORMANCE.md):
#   scripts/rxe-vm.sh -- perf/rxe_bench.sh "$PWD/build" 5
set -u
b=${1:?usage: rxe_bench.sh BUILDDIR [REPS]}
reps=${2:-5}
dev=$(ls /sys/class/infiniband 2>/dev/null | head -n 1)
ip=$(ip -4 -o addr show | awk '$2 != "lo" {split($4, a, "/"); print a[1]; exit}')
[ -n "$dev" ] && [ -n "$ip" ] || { echo "rxe_bench.sh: no RDMA device or address" >&2; exit 2; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

median() { sort -n | awk '{a[NR] = $1} END {print NR % 2 ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2}'; }

# Column COL of perftest's result row for SIZE (server in the background).
perftest() {
    tool=$1 size=$2 col=$3
    shift 3
    "$tool" -d "$dev" -F -s "$size" "$@" >/dev/null 2>&1 &
    srv=$!
    sleep 2
    "$tool" -d "$dev" -F -s "$size" "$@" "$ip" 2>/dev/null |
        awk -v s="$size" -v c="$col" '$1 == s {print $c}'
    wait "$srv"
}

# The same column of rcomm's tool (rows prefixed "[0]" by rcomm-run).
rcomm() {
    tool=$1 size=$2 col=$3
    shift 3
    env RCOMM_TRANSPORT=verbs "$b/rcomm-run" -n 2 -t 600 "$b/$tool" -s "$size" "$@" 2>/dev/null |
        sed 's/^\[0\] *//' | awk -v s="$size" -v c="$col" '$1 == s {print $c}'
}

# name, perftest tool, rcomm tool, size, column, unit, extra options
compare() {
    name=$1 pt=$2 rt=$3 size=$4 col=$5 unit=$6
    shift 6
    : >"$tmp/p"
    : >"$tmp/r"
    i=0
    while [ "$i" -lt "$reps" ]; do
        perftest "$pt" "$size" "$col" "$@" >>"$tmp/p"
        rcomm "$rt" "$size" "$col" "$@" >>"$tmp/r"
        i=$((i + 1))
    done
    p=$(median <"$tmp/p")
    r=$(median <"$tmp/r")
    printf '%-22s %9s B  perftest %10s  rcomm %10s %-8s rcomm/perftest %s  (n=%s/%s)\n' \
        "$name" "$size" "$p" "$r" "$unit" \
        "$(awk -v a="$r" -v b="$p" 'BEGIN {if (b > 0) printf "%.2f", a / b; else print "-"}')" \
        "$(wc -l <"$tmp/p")" "$(wc -l <"$tmp/r")"
}

# RXE_BENCH_P2P=0: only the AllReduce part.
if [ "${RXE_BENCH_P2P:-1}" = 1 ]; then
    echo "== point to point on $dev ($ip), medians of $reps"
    compare "RDMA write bandwidth" ib_write_bw rcomm-write-bw 1048576 4 MB/s -n 100
    compare "RDMA write bandwidth" ib_write_bw rcomm-write-bw 65536 4 MB/s -n 500
    compare "RDMA read bandwidth" ib_read_bw rcomm-read-bw 1048576 4 MB/s -n 100
    compare "send bandwidth" ib_send_bw rcomm-send-bw 1048576 4 MB/s -n 100
    compare "RDMA write latency" ib_write_lat rcomm-write-lat 8 5 us -n 1000
    compare "RDMA read latency" ib_read_lat rcomm-read-lat 8 5 us -n 1000
    compare "send latency" ib_send_lat rcomm-send-lat 8 5 us -n 1000
fi

echo "== AllReduce busbw (GB/s, out of place), 4 ranks, medians of $reps"
echo "   verbs (busy polling), verbs with RCOMM_IB_POLL=event, tcp"
for t in verbs event tcp; do
    i=0
    while [ "$i" -lt "$reps" ]; do
        case $t in
        event) env="RCOMM_TRANSPORT=verbs RCOMM_IB_POLL=event" ;;
        *) env="RCOMM_TRANSPORT=$t" ;;
        esac
        # shellcheck disable=SC2086
        env $env "$b/rcomm-run" -n 4 -t 600 "$b/rcomm-allreduce-perf" \
            -b 4K -e 4M -f 4 -n 10 -w 2 -c 1 2>/dev/null |
            awk '$1 == "[0]" && $2 ~ /^[0-9]+$/ && NF == 15 {print $2, $9}' >>"$tmp/ar.$t"
        i=$((i + 1))
    done
done
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {if (b > 0) printf "%.2f", a / b; else print "-"}'; }
printf '%10s %10s %10s %10s %10s %10s\n' bytes verbs event tcp verbs/tcp event/tcp
for s in $(awk '{print $1}' "$tmp/ar.tcp" | sort -un); do
    v=$(awk -v s="$s" '$1 == s {print $2}' "$tmp/ar.verbs" | median)
    e=$(awk -v s="$s" '$1 == s {print $2}' "$tmp/ar.event" | median)
    t=$(awk -v s="$s" '$1 == s {print $2}' "$tmp/ar.tcp" | median)
    printf '%10s %10s %10s %10s %10s %10s\n' "$s" "$v" "$e" "$t" "$(ratio "$v" "$t")" "$(ratio "$e" "$t")"
done
