#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
# Run a command inside the soft-RoCE VM of ../shared/rxe-vm (see its README),
# with the extra packages rcomm's test binaries need there: Check's subunit
# library, valgrind for the teardown check, and what librcomm links: hwloc,
# OpenBLAS (PowerSGD's GEMMs), libsodium (the job key), xxHash (the
# parameter server's block checksums) and PMIx (the bootstrap under srun and
# mpirun; the VM's programs link it even where no PMIx server runs).
# Usage: scripts/rxe-vm.sh [run options] -- COMMAND... (RXE_VM_KIT overrides
# where the kit is).
set -eu
here=$(cd "$(dirname "$0")/.." && pwd)
kit=${RXE_VM_KIT:-$here/../shared/rxe-vm}
RXE_VM_EXTRA_PACKAGES="libsubunit0 valgrind libhwloc15 libopenblas0-pthread libsodium23 libxxhash0 libpmix2"
export RXE_VM_EXTRA_PACKAGES
if [ ! -x "$kit/run" ]; then
    echo "rxe-vm.sh: no soft-RoCE kit at $kit (set RXE_VM_KIT)" >&2
    exit 2
fi
if [ "${1:-}" = --build-image ]; then
    exec "$kit/build-image" -q
fi
exec "$kit/run" "$@"
