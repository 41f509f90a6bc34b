#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
# The PMIx bootstrap under Slurm (issue 19): `srun --mpi=pmix -n 4` of the
# conformance program (coll_check --quick) with no rcomm variable set, bit
# for bit, and pmix_where's communicator (ranks, node-local ranks, exact
# sums) the same as under rcomm-run. Needs a running Slurm with its PMIx
# plugin: scripts/slurm.sh starts a single-node one (.ci/run does, before
# the suite); this test never starts one. Skips (77) without srun, without
# a Slurm that answers, without Slurm's mpi/pmix plugin or without PMIx in
# this build.
b=${TESTS_BUILDDIR:?TESTS_BUILDDIR is not set}/..
fail() { echo "pmix_slurm: FAIL: $*"; exit 1; }
skip() { echo "pmix_slurm: skipped: $*" >&2; exit 77; }
command -v srun >/dev/null 2>&1 || skip "no srun (scripts/slurm.sh installs and starts Slurm)"
grep -q '^#define HAVE_PMIX 1' "$b/config.h" || skip "rcomm was built without PMIx (libpmix-dev)"
[ -z "${RCOMM_NO_PMIX_TESTS:-}" ] || skip "RCOMM_NO_PMIX_TESTS is set"
timeout 10 sinfo -h -o %T 2>/dev/null | grep -Eq "idle|mixed|allocated" ||
    skip "no Slurm node is up (start one: scripts/slurm.sh start)"
timeout 10 srun --mpi=list 2>&1 | grep -q pmix ||
    skip "this Slurm has no mpi/pmix plugin (srun --mpi=list)"

. "$(dirname "$0")/pmix_lib.sh" # clean, same_as_store
# --overcommit: 4 tasks on a node of fewer CPUs; -t: minutes.
run() { clean timeout 300 srun --mpi=pmix --overcommit -t 5 "$@"; }
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

run -n 4 "$b/tests/coll_check" --quick >"$out/cc" 2>&1 ||
    { cat "$out/cc"; fail "coll_check --quick under srun --mpi=pmix -n 4"; }
grep -q "coll_check: 4 ranks: .* 0 failed on rank 0" "$out/cc" ||
    { cat "$out/cc"; fail "coll_check under srun: no clean summary"; }
echo "pmix_slurm: srun --mpi=pmix -n 4 coll_check --quick: $(grep 'coll_check:' "$out/cc")"

run -n 4 env RCOMM_LOG_LEVEL=info "$b/tests/pmix_where" >"$out/pmix" 2>"$out/pmix.err" ||
    { cat "$out/pmix" "$out/pmix.err"; fail "pmix_where under srun"; }
same_as_store "srun --mpi=pmix"
echo "pmix_slurm: ok"
