#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
# Quick start, step 2: build if needed (in build/) and run the whole test
# suite; the verbs tests skip where there is no RDMA device.
set -eu
cd "$(dirname "$0")/.."
. scripts/deps.sh
rcomm_install_deps
rcomm_build build
make -C build -j"$(nproc)" check ||
    { tail -n 100 build/test-suite.log 2>/dev/null; exit 1; }
