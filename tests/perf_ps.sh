#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
# rcomm-ps-perf runs a parameter server per -S entry over TCP, prints one
# well-formed row per (servers, size, op), writes CSV and JSON that parse and
# agree with the table, finds no value out of bounds, and refuses bad options
# and server counts with a usage message and status 2. Timings are only
# checked to be numbers: a loaded host may be as slow as it likes.
name=perf_ps
. "$(dirname "$0")/perf_common.sh"
perf=$top/rcomm-ps-perf
export RCOMM_TRANSPORT=tcp

# Rows: "[0] servers bytes count op workers p50 p99 avg GB/s ops/s retries
# waits", bytes = count * elem, workers = ranks - servers, the rest numbers.
# Prints the good rows' "servers bytes op" keys, one per line. $1 the ranks,
# $2 the element size, $3 the output.
rows() {
    awk -v p="$1" -v es="$2" '
        function num(x) { return x ~ /^[0-9]+(\.[0-9]+)?$/ }
        $1 == "[0]" && $2 !~ /^#/ && NF == 13 && num($2) && num($3) && num($4) &&
        $3 == $4 * es && ($5 == "pull" || $5 == "push") && $6 == p - $2 &&
        num($7) && num($8) && num($9) && num($10) && num($11) && num($12) &&
        num($13) && $7 <= $8 { print $2, $3, $5 }' "$3"
}
# Every (servers, size, op) once, in the order of the sweep. $1 servers, $2
# sizes in bytes, $3 ops, all space-separated.
expect() {
    for s in $1; do for b in $2; do for o in $3; do echo "$s $b $o"; done; done; done
}

# What carries the messages (rcomm_comm_transport): shared memory, all
# ranks being on this host, unless it is off.
want_tp=shm
[ "${RCOMM_SHM:-auto}" = off ] && want_tp=${RCOMM_TRANSPORT:-tcp}

# 3 ranks, -S 1,2: one server and two workers, then two servers and one
# worker; sizes 8, 64, 512, 4096 B; both ops.
if "$run" -n 3 -t 180 "$perf" -S 1,2 -b 8 -e 4K -f 8 -n 3 -w 1 \
    --json "$tmp/ps.json" --csv "$tmp/ps.csv" >"$tmp/out" 2>"$tmp/err"; then
    ok
    grep -Eq "^\[0\] # rcomm-ps-perf: transport $want_tp, ranks 3, dtype f32, staleness asp," \
        "$tmp/out" && ok || ko "no header line"
    grep -Eq '^\[0\] # +servers +size +count +op +workers +p50 +p99' "$tmp/out" && ok ||
        ko "no table header"
    rows 3 4 "$tmp/out" >"$tmp/rows"
    expect "1 2" "8 64 512 4096" "pull push" >"$tmp/want"
    cmp -s "$tmp/rows" "$tmp/want" && ok ||
        { ko "-S 1,2: rows differ from the 16 expected"; diff "$tmp/want" "$tmp/rows" >&2; }
    # Only rank 0 prints rows.
    [ "$(grep -Ec '^\[[1-9]\] ' "$tmp/out")" -eq 0 ] && ok || ko "another rank printed"
    grep -q "^\[0\] # Out of bounds values : 0 OK" "$tmp/out" && ok || ko "no OK footer"
    head -1 "$tmp/ps.csv" | grep -qx 'tool,transport,servers,workers,op,bytes,count,dtype,iters,lat_p50_us,lat_p99_us,lat_avg_us,gbps,ops_per_s,retries,waits' &&
        [ "$(wc -l <"$tmp/ps.csv")" -eq 17 ] && ok ||
        { ko "CSV header or records"; cat "$tmp/ps.csv" >&2; }
    # CSV rows: the table's, field by field where both have them.
    awk -F, 'NR > 1 { print $3, $6, $5 }' "$tmp/ps.csv" | cmp -s - "$tmp/want" && ok ||
        ko "CSV rows differ from the table"
    if [ $have_py -eq 1 ]; then
        python3 -c 'import json, math, sys
recs = json.load(open(sys.argv[1]))
assert len(recs) == 16, len(recs)
keys = [(r["servers"], r["bytes"], r["op"]) for r in recs]
assert keys == [(s, b, o) for s in (1, 2) for b in (8, 64, 512, 4096)
                for o in ("pull", "push")], keys
for r in recs:
    assert r["tool"] == "rcomm-ps-perf" and r["transport"] == sys.argv[2], r
    assert r["workers"] == 3 - r["servers"] and r["dtype"] == "f32", r
    assert r["bytes"] == 4 * r["count"] and r["iters"] == 3, r
    for k in ("lat_p50_us", "lat_p99_us", "lat_avg_us", "gbps", "ops_per_s"):
        assert isinstance(r[k], float) and math.isfinite(r[k]) and r[k] >= 0, (k, r)
    assert r["lat_p50_us"] <= r["lat_p99_us"], r
    assert isinstance(r["retries"], int) and r["retries"] >= 0, r
    assert isinstance(r["waits"], int) and r["waits"] >= 0, r
    # aggregate bandwidth: the rate of calls times the bytes of each
    assert abs(r["gbps"] - r["ops_per_s"] * r["bytes"] / 1e9) <= 1e-6 + 1e-3 * r["gbps"], r' \
            "$tmp/ps.json" "$want_tp" && ok || { ko "bad JSON"; cat "$tmp/ps.json" >&2; }
    else
        [ "$(grep -c '"tool"' "$tmp/ps.json")" -eq 16 ] && ok || ko "JSON records"
    fi
else
    ko "-S 1,2 exited non-zero"
    cat "$tmp/out" "$tmp/err" >&2
fi

# One op, f64, the other consistency models: BSP pulls only, SSP pushes only
# (sizes 8 and 64 B, that is 1 and 8 elements), the latter with the idle
# phase, whose line is checked for form only.
for args in "--op pull -s bsp" "--op push -s 2 --idle 1"; do
    op=${args#--op }
    op=${op%% *}
    # shellcheck disable=SC2086
    if "$run" -n 3 -t 120 "$perf" -S 1 -b 8 -e 64 -f 8 -n 3 -w 1 -d f64 $args \
        >"$tmp/out" 2>"$tmp/err"; then
        rows 3 8 "$tmp/out" >"$tmp/rows"
        expect 1 "8 64" "$op" >"$tmp/want"
        cmp -s "$tmp/rows" "$tmp/want" &&
            grep -q "^\[0\] # Out of bounds values : 0 OK" "$tmp/out" && ok ||
            { ko "'$args': rows or footer"; cat "$tmp/out" >&2; }
        case $args in
        *--idle*)
            grep -Eq '^\[0\] # idle: 1 server\(s\), workers asleep 1 s: the busiest server used [0-9]+\.[0-9]% of a core over [0-9]+\.[0-9]+ s of serving$' \
                "$tmp/out" && ok || { ko "no idle line"; cat "$tmp/out" >&2; } ;;
        esac
    else
        ko "'$args' exited non-zero"
        cat "$tmp/out" "$tmp/err" >&2
    fi
done

# --vs-raw, with 128-byte blocks: two more columns, the bare operation's
# p50 and the median of call / bare, on every row but the push larger than
# the slot's 256-byte probe ("-"); the JSON records carry them the same way.
if "$run" -n 3 -t 120 "$perf" -S 1 -b 64 -e 512 -f 8 -n 5 -w 1 --vs-raw --block 128 \
    --json "$tmp/raw.json" >"$tmp/out" 2>"$tmp/err"; then
    grep -Eq '^\[0\] # +servers .* waits +bare +x_bare$' "$tmp/out" && ok ||
        ko "--vs-raw: table header"
    awk 'function num(x) { return x ~ /^[0-9]+(\.[0-9]+)?$/ }
        $1 == "[0]" && $2 !~ /^#/ && NF == 15 {
            bare = !($5 == "push" && $3 > 256)
            if (bare ? num($14) && num($15) && $14 > 0 && $15 > 0 : $14 == "-" && $15 == "-")
                print $3, $5 }' "$tmp/out" >"$tmp/rows"
    printf '64 pull\n64 push\n512 pull\n512 push\n' >"$tmp/want"
    cmp -s "$tmp/rows" "$tmp/want" && ok ||
        { ko "--vs-raw: rows"; cat "$tmp/out" >&2; }
    if [ $have_py -eq 1 ]; then
        python3 -c 'import json, sys
recs = json.load(open(sys.argv[1]))
assert [(r["bytes"], r["op"]) for r in recs] == [(64, "pull"), (64, "push"), (512, "pull"),
                                                 (512, "push")], recs
for r in recs:
    bare = not (r["op"] == "push" and r["bytes"] > 256)
    assert ("x_bare" in r and r["x_bare"] > 0 and r["bare_p50_us"] > 0) == bare, r' \
            "$tmp/raw.json" && ok || { ko "--vs-raw: JSON"; cat "$tmp/raw.json" >&2; }
    fi
else
    ko "--vs-raw exited non-zero"
    cat "$tmp/out" "$tmp/err" >&2
fi
# A block size the PS refuses: every rank stops, the message names it.
"$run" -n 2 -t 60 "$perf" -S 1 -b 8 -e 8 --block 32 >/dev/null 2>"$tmp/err" && ko "--block 32 ran" ||
    { grep -q "block_bytes 32" "$tmp/err" && ok || { ko "--block 32: no message"; cat "$tmp/err" >&2; }; }

# A server count that leaves no worker: every rank stops, rank 0 says why.
"$run" -n 3 -t 60 "$perf" -S 1,3 -b 8 -e 8 >/dev/null 2>"$tmp/err"
grep -q usage "$tmp/err" && grep -q "exited with status 2" "$tmp/err" && ok ||
    { ko "-S 1,3 on 3 ranks"; cat "$tmp/err" >&2; }
RCOMM_SIZE=1 RCOMM_RANK=0 "$perf" -b 8 -e 8 >/dev/null 2>"$tmp/err"
st=$?
[ "$st" -eq 2 ] && grep -q usage "$tmp/err" && ok || ko "one rank: status $st"
# Bad options: usage on stderr, exit 2, before any rank talks to another.
for args in "-b" "-d f16" "--op send" "-s fast" "-s -2" "-S 0" "-S 1,,2" "-S ,1" \
    "-S 1," "-S x" "-b 1M -e 8" "-e 2" "-n 0" "-f 1" "--json" "--idle 0" \
    "--idle x" "--block" "--block x" "stray"; do
    # shellcheck disable=SC2086
    RCOMM_SIZE=1 RCOMM_RANK=0 "$perf" $args >/dev/null 2>"$tmp/err"
    st=$?
    [ "$st" -eq 2 ] && grep -q usage "$tmp/err" && ok || ko "'$args': status $st"
done
"$perf" -h | grep -q usage && ok || ko "-h"
summary
