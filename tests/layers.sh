#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
# The layering of docs/ARCHITECTURE.md, checked on every #include "...": each
# folder may include only the folders listed for it (and itself, rcomm.h and
# the build's config.h). A new include that breaks a layer, or a circle
# between folders, fails here with the file and the line.
top=${srcdir:-.}
cd "$top" || exit 1
# Each layer and the folders its files may include; a folder not listed
# (tools, tests) may include anything. hooks.h is the tools' window (perf/
# sees only it); src/coll defines hook_exchange, so it may include it.
# Nothing else in src/ may.
rules='src/base: base
src/reduce: reduce
transports: transports base
src/bootstrap: bootstrap base
src/core: core base transports bootstrap
src/coll: coll core base transports bootstrap reduce hooks
src/ps: ps core base transports bootstrap reduce compress
src/hooks: hooks coll ps core base transports bootstrap reduce compress
src/buckets: buckets base compress
src/compress: compress base reduce
src/gossip: gossip base core coll transports
perf: perf hooks'
# src/buckets: the public API, errors, compressed calls; src/compress: and
# the public API; src/gossip: graph.c and slot.c use base only.
# One awk over every file (a process per include took 8-16 s).
check() {
    # shellcheck disable=SC2046 # the file list
    awk -v rules="$rules" '
        BEGIN {
            n = split(rules, r, "\n")
            for (i = 1; i <= n; i++) {
                c = index(r[i], ": ")
                ok[substr(r[i], 1, c - 1)] = substr(r[i], c + 2)
            }
        }
        FNR == 1 {
            split(FILENAME, part, "/")
            layer = part[1] == "transports" || part[1] == "perf" ? part[1] : part[1] "/" part[2]
            own = layer; sub(/.*\//, "", own)
            # the folder a plain "x.h" include names: the file'"'"'s own
            here = FILENAME; sub(/\/[^\/]*$/, "", here); sub(/.*\//, "", here)
        }
        !(layer in ok) { nextfile }
        /^#include "/ {
            inc = $0; sub(/^#include "/, "", inc); sub(/".*/, "", inc)
            if (inc == "rcomm.h" || inc == "config.h") next
            dir = index(inc, "/") ? substr(inc, 1, index(inc, "/") - 1) : here
            if (dir == own || index(" " ok[layer] " ", " " dir " ")) next
            printf "layers: %s:%d includes %s; %s may include only: %s\n", FILENAME, FNR, inc, layer, ok[layer]
        }' $(find src transports perf -name '*.[ch]' | sort)
}
out=$(check)
if [ -n "$out" ]; then
    echo "$out"
    exit 1
fi
echo "layers: every include follows docs/ARCHITECTURE.md"
