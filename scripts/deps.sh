# SPDX-License-Identifier: BSD-3-Clause
# Shared by the quick-start scripts and CI: packages and the build.

RCOMM_BUILD_PACKAGES="autoconf automake libtool pkg-config make gcc libc6-dev \
libibverbs-dev librdmacm-dev libhwloc-dev libopenblas-dev check valgrind gnuplot-nox
zlib1g-dev libsodium-dev libxxhash-dev dataset-fashion-mnist iproute2 nftables
libpmix-dev openmpi-bin"

# Install the build packages (and any given as arguments) that are missing.
rcomm_install_deps() {
    missing=""
    for p in $RCOMM_BUILD_PACKAGES "$@"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" ||
            missing="$missing $p"
    done
    if [ -n "$missing" ]; then
        echo "== installing:$missing"
        if [ "$(id -u)" -ne 0 ]; then SUDO=sudo; else SUDO=; fi
        $SUDO apt-get update -qq
        DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq \
            --no-install-recommends $missing
    fi
}

# rcomm_build DIR [configure flags]: configure once out of tree, then make
# (make reruns the autotools itself when their inputs change).
rcomm_build() {
    dir=$1
    shift
    [ -x configure ] || autoreconf -fi
    mkdir -p "$dir"
    [ -f "$dir/Makefile" ] || (cd "$dir" && ../configure --quiet "$@")
    make -C "$dir" -j"$(nproc)" --quiet
}
