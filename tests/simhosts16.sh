#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
# The conformance programs on 16 ranks over 8 simulated hosts, 2 ranks per
# host (scripts/rcomm-simhosts: network namespaces under a bridge; placed in
# host order, and round-robin for the allreduce algorithms): every
# collective, algorithm, datatype and op, reduce, gather, scatter,
# all-to-all, the variable-count calls and send/recv under both reduce
# algorithms, bit for bit (--quick: the 1000003-element counts are left to
# test_coll, which runs them on up to 8 ranks; here they would take 5
# minutes). Every host's link must have carried traffic, and no namespace
# may be left behind, also when a job fails (checked with one that does).
# Skips (77) without root, network namespaces, bridges, veth pairs or tbf,
# and with RCOMM_NO_FAULT_TESTS, as the fault tests do: the sanitizer
# build's CI phase sets it, and runs the same programs in test_coll.
b=${TESTS_BUILDDIR:?TESTS_BUILDDIR is not set}/..
sim=$(dirname "$0")/../scripts/rcomm-simhosts
run=$b/rcomm-run
pfx=rcs16$$
export RCOMM_SIMHOSTS=$pfx RCOMM_TRANSPORT=tcp RCOMM_TIMEOUT=60 RCOMM_LOG_LEVEL=error
[ -z "${RCOMM_NO_FAULT_TESTS:-}" ] || { echo "simhosts16: RCOMM_NO_FAULT_TESTS is set: skipped"; exit 77; }
. "$(dirname "$0")/netns_lib.sh"
why=$(netns_ok) || { echo "simhosts16: $why: skipped"; exit 77; }
left() { ip netns list | grep -c "^$1-"; }

# A job that fails inside a test built like this one leaves nothing behind.
RCOMM_SIMHOSTS=${pfx}f sh -c 'trap "\"$1\" down" EXIT INT TERM
    "$1" up -n 2 >/dev/null || exit 1
    "$2" -n 2 -t 60 -a "$("$1" addr 0):29500" "$1" rank false' sh "$sim" "$run" \
    >/dev/null 2>&1 && { echo "simhosts16: a failing job succeeded"; exit 1; }
[ "$(left "${pfx}f")" -eq 0 ] || { echo "simhosts16: a failed job left namespaces behind"; exit 1; }

trap '"$sim" down' EXIT INT TERM
"$sim" up -n 8 || exit 1
# job PLACEMENT ENV PROGRAM ARGS: -m 2 puts ranks 2h and 2h+1 on host h, -r
# deals them round-robin (rank r on host r % 8), so hier's groups are not
# runs of ranks.
job() {
    echo "simhosts16: $*"
    # shellcheck disable=SC2086
    env $2 "$run" -n 16 -t 600 -a "$("$sim" addr 0):29500" "$sim" rank $1 \
        "$b/tests/$3" --quick $4 || { echo "simhosts16: $3 failed"; exit 1; }
}
job -r "RCOMM_ALLREDUCE_ALGO=auto" coll_check ""
job "-m 2" "RCOMM_REDUCE_ALGO=binomial" coll_set_check ""
job "-m 2" "RCOMM_REDUCE_ALGO=rsg" coll_set_check --reduce-only
for i in 0 1 2 3 4 5 6 7; do
    tx=$("$sim" exec $i cat /sys/class/net/eth0/statistics/tx_bytes)
    [ "${tx:-0}" -gt 100000 ] || { echo "host $i's link carried ${tx:-no} bytes"; exit 1; }
done
"$sim" down
trap - EXIT INT TERM
[ "$(left "$pfx")" -eq 0 ] || { echo "simhosts16: namespaces left behind"; exit 1; }
echo "simhosts16: 16 ranks on 8 hosts, every conformance case exact; nothing left behind"
