#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
# Build the libFuzzer harnesses: rcomm's core library with clang, ASan,
# UBSan and coverage instrumentation (RCOMM_FUZZING compiles in the fuzz
# hooks: fixed nonces, kvs_fuzz_*, tcp_fuzz_*), then one binary per harness.
#
#   fuzz/build.sh [BUILDDIR]      (default: build-fuzz, next to fuzz/)
#
# Needs clang and libFuzzer (Debian 12: clang libclang-rt-14-dev).
set -eu

src=$(cd "$(dirname "$0")/.." && pwd)
bld=${1:-$src/build-fuzz}
CC=${CC:-clang}
jobs=${JOBS:-2}
san="-fsanitize=address,undefined -fno-sanitize-recover=undefined"
cflags="-g -O1 -fno-omit-frame-pointer $san -fsanitize=fuzzer-no-link -DRCOMM_FUZZING"

mkdir -p "$bld"
bld=$(cd "$bld" && pwd)
cd "$bld"
# configure runs once; make keeps the library up to date afterwards.
if [ ! -f Makefile ]; then
    [ -x "$src/configure" ] || (cd "$src" && autoreconf -fi)
    "$src/configure" -q --disable-shared CC="$CC" CFLAGS="$cflags"
fi
make -s -j"$jobs" src/coll/profiles.inc
# The core library's flags include a GCC-only one (-fvect-cost-model) that
# clang refuses: the same flags without it.
libcflags=$(sed -n 's/^src_librcomm_core_la_CFLAGS = //p' Makefile |
    sed 's/-fvect-cost-model=[^ ]*//')
make -s -j"$jobs" src_librcomm_core_la_CFLAGS="$libcflags" src/librcomm_core.la

harnesses="fuzz_store fuzz_tcp"
grep -q '^#define HAVE_VERBS 1' config.h && harnesses="$harnesses fuzz_verbs_cm"
mkdir -p fuzz
for h in $harnesses; do
    # libtool adds the core library's dependencies (libsodium, verbs...).
    # shellcheck disable=SC2086 # cflags is a list of flags
    ./libtool --quiet --tag=CC --mode=link "$CC" $cflags -fsanitize=fuzzer \
        -std=gnu11 -Wall -Wextra -Wno-unused-parameter -D_GNU_SOURCE \
        -I"$bld" -I"$bld/src" -I"$src" -I"$src/include" -I"$src/src" \
        -o "fuzz/$h" "$src/fuzz/$h.c" src/librcomm_core.la -lm
    echo "built $bld/fuzz/$h"
done
