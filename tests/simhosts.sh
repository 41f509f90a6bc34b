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
trap '"$sim" down' EXIT INT TERM
"$sim" up -n 3 --rate 1gbit || exit 1
"$b/rcomm-run" -n 3 -t 300 -a "$("$sim" addr 0):29500" "$sim" rank \
    "$b/tests/compress_check" values || exit 1
for i in 0 1 2; do
    sent=$("$sim" exec $i tc -s qdisc show dev eth0 | awk '/tbf/ { t = 1 } t && /Sent/ { print $2; exit }')
    [ "${sent:-0}" -gt 10000 ] || { echo "host $i's shaped link carried ${sent:-no} bytes"; exit 1; }
done
"$sim" down
left=$(ip netns list | grep -c "^$RCOMM_SIMHOSTS-")
[ "$left" -eq 0 ] || { echo "$left namespaces left behind"; exit 1; }
echo "simhosts: 3 shaped hosts ran an exact job; nothing left behind"
