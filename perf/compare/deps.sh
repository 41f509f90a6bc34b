#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
#
# deps.sh: installs the Debian 12 packages that compare.sh needs for its
# peers, those not installed yet:
#   openmpi-bin     mpirun, mpicc (Open MPI 4.1)
#   libopenmpi-dev  mpi.h and the library mpicc links
#   libgloo-dev     Gloo's headers and libgloo.so (pulls libgloo0)
#   g++             to build gloo_allreduce
#   iproute2        ip, for the private network namespace (unshare is in
#                   util-linux, which every Debian has)
#
#   perf/compare/deps.sh [-n]     -n: only say what is missing
set -u

PKGS="openmpi-bin libopenmpi-dev libgloo-dev g++ iproute2"

die() { echo "deps.sh: $*" >&2; exit 1; }

DRY=0
case ${1:-} in
"") ;;
-n) DRY=1 ;;
-h) sed -n '4,14s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"; exit 0 ;;
*) die "usage: deps.sh [-n]" ;;
esac

if ! command -v dpkg-query >/dev/null || ! command -v apt-get >/dev/null; then
    die "not a Debian system: install Open MPI (mpicc, mpirun) and Gloo by hand"
fi

MISSING=()
for p in $PKGS; do
    [ "$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null)" = "install ok installed" ] ||
        MISSING+=("$p")
done
if [ ${#MISSING[@]} -eq 0 ]; then
    echo "deps.sh: all installed: $PKGS"
    exit 0
fi
echo "deps.sh: missing: ${MISSING[*]}"
[ "$DRY" -eq 1 ] && exit 1

SUDO=()
if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null ||
        die "not root and no sudo: as root, run apt-get install -y" \
            "--no-install-recommends ${MISSING[*]}"
    SUDO=(sudo)
fi
export DEBIAN_FRONTEND=noninteractive
"${SUDO[@]}" apt-get update || die "apt-get update failed"
"${SUDO[@]}" apt-get install -y --no-install-recommends "${MISSING[@]}" ||
    die "apt-get install ${MISSING[*]} failed"
