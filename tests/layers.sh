#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
# The layering of docs/ARCHITECTURE.md, checked on every #include "...": each
# folder may include only the folders listed for it (and itself, rcomm.h and
# the build's config.h). A new include that breaks a layer, or a circle
# between folders, fails here with the file and the line.
top=${srcdir:-.}
cd "$top" || exit 1
allowed() {
    case $1 in
    src/base) echo "base" ;;
    src/reduce) echo "reduce" ;;
    transports) echo "transports base" ;;
    src/bootstrap) echo "bootstrap base" ;;
    src/core) echo "core base transports bootstrap" ;;
    src/coll) echo "coll core base transports bootstrap reduce hooks" ;;
    src/ps) echo "ps core base transports bootstrap reduce compress" ;;
    src/hooks) echo "hooks coll ps core base transports bootstrap reduce compress" ;;
    src/buckets) echo "buckets base compress" ;; # the public API, errors, compressed calls
    src/compress) echo "compress base reduce" ;; # and the public API
    src/gossip) echo "gossip base core coll transports" ;; # graph.c, slot.c: base only
    perf) echo "perf hooks" ;;
    *) echo "*" ;; # tools and tests: anything
    esac
}
# hooks.h is the tools' window (perf/ sees only it); src/coll defines
# hook_exchange, so it may include it. Nothing else in src/ may.
check() {
    for f in $(find src transports perf -name '*.[ch]' | sort); do
        case $f in
        transports/*) layer=transports ;;
        perf/*) layer=perf ;;
        *) layer=$(echo "$f" | cut -d/ -f1-2) ;;
        esac
        ok=$(allowed "$layer")
        [ "$ok" = "*" ] && continue
        grep -n '^#include "' "$f" | while IFS= read -r line; do
            inc=$(echo "$line" | sed 's/.*#include "\([^"]*\)".*/\1/')
            case $inc in rcomm.h | config.h) continue ;; esac
            case $inc in
            */*) dir=${inc%%/*} ;;
            *) dir=$(basename "$(dirname "$f")") ;; # same folder
            esac
            [ "$dir" = "$(basename "$layer")" ] && continue
            case " $ok " in *" $dir "*) continue ;; esac
            echo "layers: $f:${line%%:*} includes $inc; $layer may include only: $ok"
        done
    done
}
out=$(check)
if [ -n "$out" ]; then
    echo "$out"
    exit 1
fi
echo "layers: every include follows docs/ARCHITECTURE.md"
