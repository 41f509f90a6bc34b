#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
# The parameter-server example trains: examples/ps_demo.sh runs ps_softmax
# under BSP, SSP, ASP and push/pull intervals, and each run fails (exit 1)
# unless its final loss is below 0.7 x the initial loss. Two more runs cover
# one rank alone and working servers. Run by automake (TESTS_BUILDDIR).
b=${TESTS_BUILDDIR:?TESTS_BUILDDIR is not set}/..
export RCOMM_TRANSPORT=tcp
set -e
"$(dirname "$0")/../examples/ps_demo.sh" "$b"
"$b/rcomm-run" -n 1 -t 300 "$b/examples/ps_softmax" --mode bsp --steps 100 --every 50
"$b/rcomm-run" -n 5 -t 300 "$b/examples/ps_softmax" --servers 2 --servers-work \
    --mode ssp --staleness 1 --push 2 --pull 2 --steps 100 --every 50
echo "example_ps: all runs trained"
