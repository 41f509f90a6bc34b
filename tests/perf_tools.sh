#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
# The tools run, their output parses, results are right, and bad options get
# a usage message and exit status 2.
name=perf_tools
. "$(dirname "$0")/perf_common.sh"
perf=$top/rcomm-allreduce-perf
out=$tmp/out

# 3 ranks, every algorithm: one table row per size, #wrong 0 in both halves.
for a in ring butterfly rd auto; do
    if "$run" -n 3 -t 120 "$perf" -a "$a" -b 8 -e 1M -f 8 -n 2 -w 1 -d bf16 -o avg >"$out" 2>&1; then
        rows=$(awk '$1 == "[0]" && $2 ~ /^[0-9]+$/ && NF == 15 && $11 == 0 && $15 == 0' "$out" | wc -l)
        if [ "$rows" -eq 6 ]; then ok; else ko "-a $a: $rows good rows of 6"; cat "$out" >&2; fi
        grep -q "Out of bounds values : 0 OK" "$out" && ok || ko "-a $a: no OK footer"
    else
        ko "-a $a exited non-zero"; cat "$out" >&2
    fi
done
# The grade lines (perf/grade.c): the ceiling (positive) before the table and
# the share of it after (numbers: a loaded host may print 0.000, and tests
# assert no timing); for reductions memcpy and its share too; a fit
# line for a sweep (which may say why there is no fit for tiny sizes).
# $1 collective, $2 its redop, $3 the output.
check_grade() {
    awk -v mem="$([ "$2" = none ] && echo 0 || echo 1)" '
        $1 != "[0]" { next }
        /^\[0\] # Ceiling : .* [0-9.]+ GB\/s/ {
            v = $0; sub(/ GB\/s.*/, "", v); sub(/.* /, "", v); c += v > 0
        }
        /^\[0\] # Memory  : memcpy on rank 0, measured: [0-9.]+ GB\/s/ { m += $10 > 0 }
        /^\[0\] # Share of (ceiling|memcpy) +: best busbw / {
            pct = $0; sub(/%.*/, "", pct); sub(/.* /, "", pct)
            lim = $0; sub(/ GB\/s\)$/, "", lim); sub(/.*\(/, "", lim)
            if ($9 ~ /^[0-9.]+$/ && pct ~ /^[0-9.e+-]+$/ && lim > 0) { if ($5 == "ceiling") s++; else sm++ }
        }
        /^\[0\] # alpha-beta fit: / { f++ }
        END { exit !(c == 1 && s == 1 && m == mem && sm == mem && f == 1) }' "$3" && ok ||
        { ko "$1: ceiling, share or fit lines"; cat "$3" >&2; }
}
# Every collective on 3 ranks, checked, with JSON and CSV records. Sizes 8,
# 64, 512, 4096 B: allgather and reduce-scatter skip 8 B (2 f32 do not split
# into 3 blocks) and print count * 3 elements' bytes. Broadcast from rank 2
# (-R 2; the others ignore it, as nccl-tests' tools without a root ignore -r).
for coll in allreduce broadcast allgather reduce-scatter; do
    case $coll in
    allreduce) rows=4 blocks=1 redop=sum root=-1 f=4/3 ;;
    broadcast) rows=4 blocks=1 redop=none root=2 f=1/1 ;;
    allgather) rows=3 blocks=3 redop=none root=-1 f=2/3 ;;
    reduce-scatter) rows=3 blocks=3 redop=sum root=-1 f=2/3 ;;
    esac
    if ! "$run" -n 3 -t 120 "$top/rcomm-$coll-perf" -b 8 -e 4K -f 8 -n 2 -w 1 -c 1 -R 2 \
        --json "$out.json" --csv "$out.csv" >"$out" 2>&1; then
        ko "$coll exited non-zero"; cat "$out" >&2; continue
    fi
    good=$(awk -v b="$blocks" -v op="$redop" -v r="$root" '$1 == "[0]" && NF == 15 &&
        $2 == $3 * 4 * b && $4 == "f32" && $5 == op && $6 == r && $11 == 0 &&
        $15 == 0' "$out" | wc -l)
    [ "$good" -eq "$rows" ] && ok || { ko "$coll: $good good rows of $rows"; cat "$out" >&2; }
    grep -q "Out of bounds values : 0 OK" "$out" && ok || ko "$coll: no OK footer"
    check_grade "$coll" "$redop" "$out"
    lines=$(wc -l <"$out.csv")
    head -1 "$out.csv" | grep -q '^tool,transport,collective,ranks,bytes,count,.*,ceiling_gbs,share$' &&
        [ "$lines" -eq $((2 * rows + 1)) ] && ok ||
        { ko "$coll: CSV of $lines lines"; cat "$out.csv" >&2; }
    if [ $have_py -eq 1 ]; then
        # Two records per size; busbw = algbw * the collective's factor.
        python3 -c 'import json, sys
recs = json.load(open(sys.argv[1]))
n = int(sys.argv[2])
num, den = map(float, sys.argv[3].split("/"))
assert len(recs) == 2 * n, len(recs)
assert [r["placement"] for r in recs[:2]] == ["out-of-place", "in-place"]
assert all(r["wrong"] == 0 and r["ranks"] == 3 and r["collective"] == sys.argv[4] for r in recs)
assert all(abs(r["busbw_gbs"] - r["algbw_gbs"] * num / den) < 2e-6 for r in recs)
assert all(r["ceiling_gbs"] > 0 and abs(r["share"] * r["ceiling_gbs"] - r["busbw_gbs"]) < 1e-5 for r in recs)' \
            "$out.json" "$rows" "$f" "$coll" && ok || { ko "$coll: bad JSON"; cat "$out.json" >&2; }
    else
        [ "$(grep -c '"tool"' "$out.json")" -eq $((2 * rows)) ] && ok || ko "$coll: JSON records"
    fi
done
# The fit: a sweep of 7 sizes prints the same alpha and beta as a weighted
# least-squares fit (weights 1/time^2, as perf/grade.c) of the table's size
# and out-of-place time columns, within their rounding; --no-ceiling drops
# the ceiling lines. One size: no fit line.
if "$run" -n 2 -t 120 "$perf" -b 1K -e 4M -f 4 -n 3 -w 1 -c 0 --no-ceiling >"$out" 2>&1; then
    awk '$1 == "[0]" && NF == 15 && $2 ~ /^[0-9]+$/ && $8 > 0 { n++; x[n] = $2; y[n] = $8 }
        /alpha-beta fit: alpha = / { pa = $7; pb = $11 }
        /alpha-beta fit: none, time does not grow/ { none = 1 }
        END {
            for (i = 1; i <= n; i++) { w = 1 / y[i] ^ 2; sw += w; xm += w * x[i]; ym += w * y[i] }
            xm /= sw; ym /= sw
            for (i = 1; i <= n; i++) {
                w = 1 / y[i] ^ 2; sxx += w * (x[i] - xm) ^ 2; sxy += w * (x[i] - xm) * (y[i] - ym)
            }
            b = 1e3 * sxy / sxx; a = ym - sxy / sxx * xm
            if (b <= 0) exit !(none && n == 7)
            da = a - pa; db = b - pb
            if (da < 0) da = -da
            if (db < 0) db = -db
            if (n != 7 || da > 0.01 * (a < 0 ? -a : a) + 0.05 || db > 0.01 * b) {
                printf "fit: awk alpha %g beta %g, printed %s %s\n", a, b, pa, pb
                exit 1
            }
        }' "$out" && ok || { ko "alpha-beta fit differs from awk's"; cat "$out" >&2; }
    grep -Eq "# (Ceiling|Memory|Share)" "$out" && { ko "--no-ceiling"; cat "$out" >&2; } || ok
else
    ko "the sweep for the fit exited non-zero"; cat "$out" >&2
fi
"$run" -n 2 -t 60 "$perf" -b 64K -e 64K -n 2 -w 1 >"$out" 2>&1
grep -q "# Ceiling : " "$out" && ! grep -q "alpha-beta fit" "$out" && ok ||
    { ko "one size: a ceiling and no fit"; cat "$out" >&2; }
# A root that does not exist: every rank stops with usage and status 2.
"$run" -n 3 -t 60 "$top/rcomm-broadcast-perf" -R 7 -b 8 -e 8 >/dev/null 2>"$out"
grep -q usage "$out" && grep -q "exited with status 2" "$out" && ok ||
    { ko "-R 7 on 3 ranks"; cat "$out" >&2; }
# The name decides, --coll overrides; bad options of the other tools.
RCOMM_SIZE=1 RCOMM_RANK=0 "$perf" --coll allgather -b 64 -e 64 -n 1 -w 0 |
    grep -q "^# rcomm-allgather-perf:" && ok || ko "--coll"
for args in "-R 1" "-R -1" "-a ring" "--coll gather" "--json" "-c"; do
    # shellcheck disable=SC2086
    RCOMM_SIZE=1 RCOMM_RANK=0 "$top/rcomm-broadcast-perf" -b 8 -e 8 $args >/dev/null 2>"$out"
    st=$?
    [ "$st" -eq 2 ] && grep -q usage "$out" && ok || ko "broadcast '$args': status $st"
done
# Bad options: usage on stderr, exit 2, for every rank.
for args in "-b" "-d f128" "-o xor" "-a fastest" "-b 1M -e 8" "-n 0" "stray"; do
    # shellcheck disable=SC2086
    RCOMM_SIZE=1 RCOMM_RANK=0 "$perf" $args >/dev/null 2>"$out"
    st=$?
    [ "$st" -eq 2 ] && grep -q usage "$out" && ok || ko "'$args': status $st"
done
"$perf" -h | grep -q usage && ok || ko "-h"
# rcomm-info lists every tunable; reduce_perf prints its table.
"$top/rcomm-info" | grep -q RCOMM_SEGMENT_SIZE && ok || ko "rcomm-info"
RCOMM_TIMEOUT=soon "$top/rcomm-info" >/dev/null 2>&1 && ko "rcomm-info accepted a bad value" || ok
"$top/perf/reduce_perf" -s 4096 -r 2 | grep -q "f32 .* sum" && ok || ko "reduce_perf"
summary
