#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
# Quick start, step 1: install the build dependencies (Debian 12, as root),
# build rcomm in build/, and run a 4-rank AllReduce benchmark on localhost
# (the ranks share this host: shared memory between them; RCOMM_SHM=off
# would send everything over TCP). Idempotent: installed packages and an up-to-date build are reused.
set -eu
cd "$(dirname "$0")/.."
. scripts/deps.sh
rcomm_install_deps
rcomm_build build
echo "== 4-rank AllReduce on localhost, shared memory between the ranks (16 B .. 64 MiB)"
build/rcomm-run -n 4 build/rcomm-allreduce-perf -b 16 -e 64M -f 4 -n 10 -w 3
