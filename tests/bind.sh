#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
# RCOMM_BIND and rcomm-info --map, on 3 ranks of one host: none leaves every
# rank where it was started; core puts the host's i-th rank on the i-th core
# it may use (wrapping around: with 2 cores, rank 2 shares rank 0's), so the
# first min(3, cores) ranks have different CPUs; numa puts them on their
# NUMA node, whose CPUs include their core's. A bad value stops every rank
# with a message naming RCOMM_BIND. Skips (77) without hwloc.
name=bind
. "$(dirname "$0")/perf_common.sh"
info=$top/rcomm-info
export RCOMM_TRANSPORT=tcp RCOMM_LOG_LEVEL=error

"$info" | grep -q "^# topology: unknown" && { echo "bind: no hwloc: skipped"; exit 77; }
cores=$("$info" | sed -n 's/^#   this process may run on \([0-9]*\) core.*/\1/p')
[ -n "$cores" ] || { echo "bind: rcomm-info printed no core count"; exit 1; }

# "rank cpus" of every rank, from rank 0's map. $1: RCOMM_BIND.
map() {
    RCOMM_BIND=$1 "$run" -n 3 -t 60 "$info" --map >"$tmp/out.$1" 2>"$tmp/err.$1" ||
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

RCOMM_BIND=socket "$run" -n 2 -t 60 "$info" --map >/dev/null 2>"$tmp/err" && ko "RCOMM_BIND=socket ran" ||
    { grep -q "RCOMM_BIND='socket' is not valid" "$tmp/err" && ok || { ko "RCOMM_BIND=socket: no message"; cat "$tmp/err" >&2; }; }
summary
