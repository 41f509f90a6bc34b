#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
# The PMIx bootstrap under Open MPI's mpirun, with no rcomm variable set
# (issue 19):
#  - the conformance program (coll_check --quick) on 2, 3 and 5 ranks: every
#    collective, bit for bit;
#  - the same communicator as the store's: pmix_where's lines (rank, size,
#    node-local rank and size, hosts, exact sums) under mpirun and under
#    rcomm-run are the same, on 4 ranks;
#  - a job key: rank 0's, handed out through PMIx ("job key rank 0's");
#  - two communicators one after the other in the same processes;
#  - a rank that never reaches the fence: the others fail within
#    RCOMM_TIMEOUT, naming PMIx_Fence and its status, and mpirun ends;
#  - RCOMM_BOOTSTRAP=pmix without a PMIx server: a clean error at once.
# Skips (77) without mpirun or without PMIx in this build.
b=${TESTS_BUILDDIR:?TESTS_BUILDDIR is not set}/..
fail() { echo "pmix_mpirun: FAIL: $*"; exit 1; }
command -v mpirun >/dev/null 2>&1 ||
    { echo "pmix_mpirun: skipped: no mpirun (Debian: openmpi-bin)" >&2; exit 77; }
grep -q '^#define HAVE_PMIX 1' "$b/config.h" ||
    { echo "pmix_mpirun: skipped: rcomm was built without PMIx (libpmix-dev)" >&2; exit 77; }
[ -z "${RCOMM_NO_PMIX_TESTS:-}" ] ||
    { echo "pmix_mpirun: skipped: RCOMM_NO_PMIX_TESTS is set" >&2; exit 77; }

. "$(dirname "$0")/pmix_lib.sh" # clean, same_as_store
mpi() {
    n=$1
    shift
    clean timeout 300 mpirun --allow-run-as-root --oversubscribe --bind-to none \
        -n "$n" "$@"
}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

for n in 2 3 5; do
    mpi $n "$b/tests/coll_check" --quick >"$out/cc" 2>&1 ||
        { cat "$out/cc"; fail "coll_check --quick on $n ranks under mpirun"; }
    grep -q "coll_check: $n ranks: .* 0 failed on rank 0" "$out/cc" ||
        { cat "$out/cc"; fail "coll_check on $n ranks: no clean summary"; }
    echo "pmix_mpirun: coll_check --quick, $n ranks: $(grep 'coll_check:' "$out/cc")"
done

# The same communicator, both ways.
mpi 4 env RCOMM_LOG_LEVEL=info "$b/tests/pmix_where" >"$out/pmix" 2>"$out/pmix.err" ||
    { cat "$out/pmix" "$out/pmix.err"; fail "pmix_where under mpirun"; }
same_as_store mpirun

# Two communicators one after the other: the second's keys are its own.
mpi 3 "$b/tests/pmix_where" --again >"$out/again" 2>&1 ||
    { cat "$out/again"; fail "a second communicator under mpirun"; }
[ "$(grep -c '^rank .* size 3 ' "$out/again")" -eq 6 ] ||
    { cat "$out/again"; fail "a second communicator: not 6 lines"; }
echo "pmix_mpirun: two communicators in turn on 3 ranks: ok"

# A rank that never fences: RCOMM_TIMEOUT=2, rank 2 sleeps 7 s.
start=$(date +%s)
mpi 3 env RCOMM_TIMEOUT=2 "$b/tests/pmix_where" --stall 2 >"$out/stall" 2>&1 &&
    { cat "$out/stall"; fail "a job with a stalled rank succeeded"; }
took=$(($(date +%s) - start))
grep -q "PMIx_Fence returned TIMEOUT" "$out/stall" ||
    { cat "$out/stall"; fail "the error does not name PMIx_Fence and TIMEOUT"; }
[ "$took" -lt 30 ] || fail "a stalled rank took $took s to be reported"
echo "pmix_mpirun: a rank that never fences, after ${took} s:"
grep -m1 "PMIx_Fence" "$out/stall" | sed 's/^/    /'

# No server: RCOMM_BOOTSTRAP=pmix in a plain environment, and with the
# variables of a server that is gone.
clean env RCOMM_BOOTSTRAP=pmix timeout 20 "$b/tests/pmix_where" >"$out/none" 2>&1 &&
    fail "RCOMM_BOOTSTRAP=pmix without a server succeeded"
grep -q "invalid configuration.*RCOMM_BOOTSTRAP=pmix, but no PMIx server" "$out/none" ||
    { cat "$out/none"; fail "no clear error without a PMIx server"; }
echo "pmix_mpirun: without a server: $(head -c 160 "$out/none")..."
clean env RCOMM_BOOTSTRAP=pmix PMIX_NAMESPACE=gone PMIX_RANK=0 \
    PMIX_SERVER_URI41="gone.0;tcp4://127.0.0.1:1" timeout 20 "$b/tests/pmix_where" \
    >"$out/gone" 2>&1 && fail "a PMIx server that is gone: success"
[ $? -ne 124 ] || fail "a PMIx server that is gone: hang"
grep -q "PMIx_Init failed" "$out/gone" || { cat "$out/gone"; fail "no PMIx_Init error"; }
echo "pmix_mpirun: a server that is gone: $(head -c 160 "$out/gone")..."
echo "pmix_mpirun: ok"
