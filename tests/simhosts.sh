#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
# scripts/rcomm-simhosts: three simulated hosts (network namespaces, links
# shaped by tc tbf) run a job whose results are checked exactly
# (compress_check values), the traffic crossing every host's shaped link;
# then nothing of them is left. Skips (77) without root or network
# namespaces. Run by automake (TESTS_BUILDDIR).
b=${TESTS_BUILDDIR:?TESTS_BUILDDIR is not set}/..
sim=$(dirname "$0")/../scripts/rcomm-simhosts
export RCOMM_SIMHOSTS=rcsimt$$ RCOMM_TRANSPORT=tcp RCOMM_TIMEOUT=30 RCOMM_LOG_LEVEL=none
. "$(dirname "$0")/netns_lib.sh"
why=$(netns_ok) || { echo "simhosts: $why: skipped"; exit 77; }
tmp_out=$(mktemp)
trap '"$sim" down; rm -f "$tmp_out"' EXIT INT TERM
"$sim" up -n 3 --rate 1gbit || exit 1
"$b/rcomm-run" -n 3 -t 300 -a "$("$sim" addr 0):29500" "$sim" rank \
    "$b/tests/compress_check" values || exit 1
# 2 ranks per host: shared memory within a host, TCP between them, and
# the benchmark's header names both (rcomm_comm_transport).
"$b/rcomm-run" -n 6 -t 300 -a "$("$sim" addr 0):29500" -x RCOMM_SHM=auto "$sim" rank -m 2 \
    "$b/rcomm-allreduce-perf" -b 8 -e 4K -f 8 -n 2 -w 1 -c 1 --no-ceiling >"$tmp_out" 2>&1 &&
    grep -q '^\[0\] # rcomm-allreduce-perf: 6 ranks, transport tcp+shm,' "$tmp_out" &&
    grep -q "Out of bounds values : 0 OK" "$tmp_out" ||
    { echo "6 ranks on 3 hosts: the benchmark failed or did not say tcp+shm"; cat "$tmp_out"; exit 1; }
for i in 0 1 2; do
    sent=$("$sim" exec $i tc -s qdisc show dev eth0 | awk '/tbf/ { t = 1 } t && /Sent/ { print $2; exit }')
    [ "${sent:-0}" -gt 10000 ] || { echo "host $i's shaped link carried ${sent:-no} bytes"; exit 1; }
done
"$sim" down
left=$(ip netns list | grep -c "^$RCOMM_SIMHOSTS-")
[ "$left" -eq 0 ] || { echo "$left namespaces left behind"; exit 1; }
echo "simhosts: 3 shaped hosts ran an exact job; nothing left behind"
