#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
#
# ps_demo.sh: train ps_softmax on 1 server + 3 workers under each consistency
# model the parameter server offers, print each run, then a table of the final
# loss and wall time per configuration.
#
#   examples/ps_demo.sh [BUILD_DIR]    (default ./build)
#
# Exit status 0 when every run succeeded (each run fails when training did not
# cut the loss to below 0.7 x the initial loss, see ps_softmax.c), 1 otherwise,
# 2 when the build directory lacks the programs.

build=${1:-./build}
run=$build/rcomm-run
prog=$build/examples/ps_softmax
limit=300 # seconds per run: a hang becomes a failure, not a stuck demo

for f in "$run" "$prog"; do
    if [ ! -x "$f" ]; then
        echo "ps_demo.sh: no executable $f (build first; usage: $0 [BUILD_DIR])" >&2
        exit 2
    fi
done

tmp=$(mktemp) || exit 1
table=$(mktemp) || exit 1
trap 'rm -f "$tmp" "$tmp.rc" "$table"' EXIT
trap 'exit 130' INT TERM
status=0

# demo NAME ARGS...: one run of 4 ranks (rank 0 serves, 1..3 work).
demo() {
    name=$1
    shift
    echo "== $name: rcomm-run -n 4 ps_softmax --servers 1 $*"
    # Shown as it runs, and kept for the table; the pipe loses rcomm-run's
    # status, so it goes through a file.
    { "$run" -n 4 -t "$limit" "$prog" --servers 1 "$@" 2>&1; echo $? >"$tmp.rc"; } |
        tee "$tmp"
    rc=$(cat "$tmp.rc")
    # "[1] final loss X after T steps in Y s (...)": split into X Y on purpose
    # shellcheck disable=SC2046
    set -- $(sed -n 's/.*final loss \([^ ]*\) after .* in \([^ ]*\) s .*/\1 \2/p' "$tmp")
    if [ "$rc" -ne 0 ] || [ $# -ne 2 ]; then
        printf '%-22s %12s %8s\n' "$name" "FAILED($rc)" "${2:--}" >>"$table"
        status=1
    else
        printf '%-22s %12s %8s\n' "$name" "$1" "$2" >>"$table"
    fi
    echo
}

demo bsp --mode bsp
demo ssp-s2 --mode ssp --staleness 2
demo asp --mode asp
demo bsp-push2 --mode bsp --push 2
demo bsp-pull4-push2 --mode bsp --pull 4 --push 2
demo ssp-s2-slow3 --mode ssp --staleness 2 --slow 3:10

printf '%-22s %12s %8s\n' config final_loss wall_s
cat "$table"
exit $status
