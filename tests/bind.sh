#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
# RCOMM_BIND and rcomm-info --map, on 3 ranks of one host: none leaves every
# rank where it was started; core puts the host's i-th rank on the i-th core
# it may use (wrapping around: with 2 cores, rank 2 shares rank 0's), so the
# first min(3, cores) ranks have different CPUs; numa puts them on their
# NUMA node, whose CPUs include their core's. A bad value stops every rank
# with a message naming RCOMM_BIND. Skips (77) without hwloc. These run
# with rcomm-run -b none; then rcomm-run's own placement (-b auto, its
# default): N ranks on at least N cores get disjoint shares of them, more
# ranks than cores a core each, neighbours sharing.
name=bind
. "$(dirname "$0")/perf_common.sh"
info=$top/rcomm-info
export RCOMM_TRANSPORT=tcp RCOMM_LOG_LEVEL=error

"$info" | grep -q "^# topology: unknown" && { echo "bind: no hwloc: skipped"; exit 77; }
cores=$("$info" | sed -n 's/^#   this process may run on \([0-9]*\) core.*/\1/p')
[ -n "$cores" ] || { echo "bind: rcomm-info printed no core count"; exit 1; }

# "rank cpus" of every rank, from rank 0's map. $1: RCOMM_BIND.
map() {
    RCOMM_BIND=$1 "$run" -b none -n 3 -t 60 "$info" --map >"$tmp/out.$1" 2>"$tmp/err.$1" ||
        { ko "RCOMM_BIND=$1: rcomm-info --map failed"; cat "$tmp/err.$1" >&2; return; }
    awk '$1 == "[0]" && $2 ~ /^[0-9]+$/ { print $2, $NF }' "$tmp/out.$1" >"$tmp/map.$1"
    [ "$(wc -l <"$tmp/map.$1")" -eq 3 ] && ok || { ko "RCOMM_BIND=$1: not 3 ranks"; cat "$tmp/out.$1" >&2; }
}
cpus() { awk -v r="$2" '$1 == r { print $2 }' "$tmp/map.$1"; }

map none
mine=$("$info" | sed -n 's/^#   this process may run on .*: //p')
for r in 0 1 2; do
    [ "$(cpus none $r)" = "$mine" ] && ok || ko "none: rank $r runs on $(cpus none $r), not $mine"
done

map core
c0=$(cpus core 0) c1=$(cpus core 1) c2=$(cpus core 2)
if [ "$cores" -ge 2 ]; then
    [ "$c0" != "$c1" ] && ok || ko "core: ranks 0 and 1 share CPUs $c0 on $cores cores"
    [ "$c0" != "$mine" ] && ok || ko "core: rank 0 was not bound ($c0)"
fi
if [ "$cores" -eq 2 ]; then
    [ "$c2" = "$c0" ] && ok || ko "core: rank 2 on $c2, not wrapped to rank 0's $c0"
elif [ "$cores" -ge 3 ]; then
    [ "$c2" != "$c0" ] && [ "$c2" != "$c1" ] && ok || ko "core: rank 2 shares CPUs ($c2)"
fi

# A NUMA node holds whole cores: each rank's node holds the core it got.
map numa
for r in 0 1 2; do
    n=$(cpus numa $r) c=$(cpus core $r)
    python3 -c 'import sys
def cpus(s):
    out = set()
    for part in s.split(","):
        a, _, b = part.partition("-")
        out |= set(range(int(a), int(b or a) + 1))
    return out
sys.exit(0 if cpus(sys.argv[2]) <= cpus(sys.argv[1]) else 1)' "$n" "$c" 2>/dev/null && ok ||
        ko "numa: rank $r's node ($n) lacks its core's CPUs ($c)"
done

RCOMM_BIND=socket "$run" -b none -n 2 -t 60 "$info" --map >/dev/null 2>"$tmp/err" && ko "RCOMM_BIND=socket ran" ||
    { grep -q "RCOMM_BIND='socket' is not valid" "$tmp/err" && ok || { ko "RCOMM_BIND=socket: no message"; cat "$tmp/err" >&2; }; }
# rcomm-run -b auto. $1: ranks; the map goes to $tmp/map.placed.
placed() {
    "$run" -n "$1" -t 60 "$info" --map >"$tmp/out.placed" 2>"$tmp/err.placed" ||
        { ko "rcomm-run -n $1: rcomm-info --map failed"; cat "$tmp/err.placed" >&2; return; }
    awk '$1 == "[0]" && $2 ~ /^[0-9]+$/ { print $2, $NF }' "$tmp/out.placed" >"$tmp/map.placed"
}
if [ "$cores" -ge 2 ]; then
    placed 2
    p0=$(cpus placed 0) p1=$(cpus placed 1)
    [ -n "$p0" ] && [ "$p0" != "$p1" ] && [ "$p0" != "$mine" ] && [ "$p1" != "$mine" ] && ok ||
        ko "rcomm-run -n 2 on $cores cores: ranks on CPUs '$p0' and '$p1' (all: $mine)"
fi
# More ranks than cores: a core each, in runs: ranks 0 and 1 share the
# first, the last rank has the last.
placed $((cores + 1))
p0=$(cpus placed 0) p1=$(cpus placed 1) pl=$(cpus placed "$cores")
[ -n "$p0" ] && [ "$p0" = "$p1" ] && ok ||
    ko "rcomm-run -n $((cores + 1)) on $cores cores: ranks 0 and 1 on '$p0' and '$p1'"
if [ "$cores" -ge 2 ]; then
    [ "$p0" != "$mine" ] && [ -n "$pl" ] && [ "$pl" != "$p0" ] && [ "$pl" != "$mine" ] && ok ||
        ko "rcomm-run -n $((cores + 1)) on $cores cores: rank 0 on '$p0', rank $cores on '$pl' (all: $mine)"
fi
"$run" -b sometimes -n 1 true 2>"$tmp/err" && ko "rcomm-run -b sometimes ran" ||
    { grep -q "expected auto or none" "$tmp/err" && ok || ko "rcomm-run -b sometimes: no message"; }
summary
