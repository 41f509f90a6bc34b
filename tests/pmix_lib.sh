# SPDX-License-Identifier: BSD-3-Clause
# Shared by pmix_mpirun.sh and pmix_slurm.sh (sourced; they set b, out and
# fail first).

# Run "$@" with nothing of rcomm's in its environment: PMIx must do it all.
clean() {
    # shellcheck disable=SC2046 # one -u per variable
    env $(env | sed -n 's/^\(RCOMM_[A-Z0-9_]*\)=.*/-u \1/p') "$@"
}

# $out/pmix and $out/pmix.err hold pmix_where's output on 4 ranks under a
# PMIx launcher (named by $1): every rank took PMIx and rank 0's job key,
# and the lines (ranks, node-local ranks, exact sums) equal rcomm-run's.
same_as_store() {
    [ "$(grep -c "bootstrap: PMIx, .*job key rank 0's through PMIx" "$out/pmix.err")" -eq 4 ] ||
        { cat "$out/pmix.err"; fail "not every rank took PMIx and rank 0's key"; }
    clean "$b/rcomm-run" -n 4 -t 120 "$b/tests/pmix_where" >"$out/store" 2>&1 ||
        { cat "$out/store"; fail "pmix_where under rcomm-run"; }
    sed 's/^\[[0-9]*\] //' "$out/store" | sort >"$out/store.s"
    sort "$out/pmix" >"$out/pmix.s"
    [ "$(wc -l <"$out/pmix.s")" -eq 4 ] || { cat "$out/pmix"; fail "pmix_where: not 4 lines"; }
    cmp -s "$out/store.s" "$out/pmix.s" ||
        { diff "$out/store.s" "$out/pmix.s"; fail "rcomm-run and $1 give different communicators"; }
    echo "same communicator under rcomm-run and $1:"
    sed 's/^/    /' "$out/pmix.s"
}
