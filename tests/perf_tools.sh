#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
# The tools run, their output parses, results are right, and bad options get
# a usage message and exit status 2.
name=perf_tools
. "$(dirname "$0")/perf_common.sh"
perf=$top/rcomm-allreduce-perf
out=$tmp/out

# 3 ranks, every algorithm: one table row per size, #wrong 0 in both halves.
for a in ring butterfly rd direct auto; do
    if "$run" -n 3 -t 120 "$perf" -a "$a" -b 8 -e 1M -f 8 -n 2 -w 1 -d bf16 -o avg >"$out" 2>&1; then
        rows=$(awk '$1 == "[0]" && $2 ~ /^[0-9]+$/ && NF == 15 && $11 == 0 && $15 == 0' "$out" | wc -l)
        if [ "$rows" -eq 6 ]; then ok; else ko "-a $a: $rows good rows of 6"; cat "$out" >&2; fi
        grep -q "Out of bounds values : 0 OK" "$out" && ok || ko "-a $a: no OK footer"
    else
        ko "-a $a exited non-zero"; cat "$out" >&2
    fi
done
# --mem-alloc, 3 ranks sharing this host: buffers from rcomm_mem_alloc, #wrong
# 0 in both halves, and the algo column names the way each size went: the
# shared slots up to 256 bytes, the mapped path above, from 32 KiB where the
# header says the ranks outnumber the cores (allreduce_mapped.c), a
# schedule's algorithm in between.
if "$run" -n 3 -t 120 "$perf" --mem-alloc -b 8 -e 1M -f 8 -n 2 -w 1 >"$out" 2>&1; then
    rows=$(awk '/rank 0.s host:/ { from = /oversubscribed/ ? 32768 : 257 }
        $1 == "[0]" && $2 ~ /^[0-9]+$/ && NF == 15 && $11 == 0 && $15 == 0 &&
        (($2 <= 256 && $7 == "slots") || ($2 >= from && $7 == "mapped") ||
         ($2 > 256 && $2 < from && $7 != "slots" && $7 != "mapped"))' "$out" | wc -l)
    if [ "$rows" -eq 6 ]; then ok; else ko "--mem-alloc: $rows good rows of 6"; cat "$out" >&2; fi
else
    ko "--mem-alloc exited non-zero"; cat "$out" >&2
fi
# --nonblocking: each call an rcomm_iallreduce and its wait; the header says
# so. With --mem-alloc the mapped path from 64 KiB (allreduce_mapped_nb.c),
# the model's choice below; from malloc, the model's choice everywhere. Both
# #wrong 0. For another collective the option is refused.
for mem in --mem-alloc ""; do
    # shellcheck disable=SC2086 # $mem: one option or none
    if "$run" -n 3 -t 120 "$perf" --nonblocking $mem -b 8K -e 512K -f 8 -n 2 -w 1 >"$out" 2>&1; then
        rows=$(awk -v m="$mem" '$1 == "[0]" && $2 ~ /^[0-9]+$/ && NF == 15 && $11 == 0 &&
            $15 == 0 && (($2 >= 65536 && m != "") == ($7 == "mapped")) && $7 != "slots"' \
            "$out" | wc -l)
        grep -q "^\[0\] # rcomm-allreduce-perf: 3 ranks, .*, nonblocking$" "$out" &&
            [ "$rows" -eq 3 ] && ok || { ko "--nonblocking $mem: $rows good rows of 3"; cat "$out" >&2; }
    else
        ko "--nonblocking $mem exited non-zero"; cat "$out" >&2
    fi
done
# RCOMM_SHM_MAPPED=0: rcomm_mem_alloc buffers, blocking and not, never
# mapped, the results still right.
for nb in --nonblocking ""; do
    # shellcheck disable=SC2086 # $nb: one option or none
    if "$run" -n 2 -t 120 -x RCOMM_SHM_MAPPED=0 "$perf" $nb --mem-alloc -b 1K -e 1M -f 32 -n 2 \
        -w 1 >"$out" 2>&1; then
        rows=$(awk '$1 == "[0]" && $2 ~ /^[0-9]+$/ && NF == 15 && $11 == 0 && $15 == 0 &&
            $7 != "mapped"' "$out" | wc -l)
        [ "$rows" -eq 3 ] && ok || { ko "RCOMM_SHM_MAPPED=0 $nb: $rows good rows of 3"; cat "$out" >&2; }
    else
        ko "RCOMM_SHM_MAPPED=0 $nb exited non-zero"; cat "$out" >&2
    fi
done
"$run" -n 2 -t 60 "$top/rcomm-broadcast-perf" --nonblocking -b 8 -e 8 >"$out" 2>&1 &&
    { ko "broadcast --nonblocking accepted"; cat "$out" >&2; } ||
    { grep -q "nonblocking is for allreduce only" "$out" && ok || { ko "broadcast --nonblocking: no reason"; cat "$out" >&2; }; }
# -a all, 3 ranks: the structure, never a timing. The algorithms are the
# header's columns between redop and auto's (ring, butterfly, rd, direct at least).
# Each of the 5 rows (8 B to 32 KiB) has one time per algorithm, one '*' on
# the smallest printed time, whose algorithm the best column names, one '<' on
# the algorithm the auto pick column names, a ratio equal to the pick's time
# over the best's within their rounding, and #wrong 0; the footer's worst ratio is
# the largest in the table. The CSV and JSON hold a record per algorithm and
# size, then auto's.
if "$run" -n 3 -t 120 "$perf" -a all -b 8 -e 64K -f 8 -n 2 -w 1 -r 1 \
    --json "$out.json" --csv "$out.csv" >"$out" 2>&1; then
    # A '<' after a space joins its time, so that every time is one field.
    awk '$1 != "[0]" { next }
        $2 == "#" && $3 == "size" {
            for (i = 7; i <= NF && $i != "auto"; i++) name[++k] = $i
            for (i = 1; i <= k; i++) known += name[i] ~ /^(ring|butterfly|rd|direct)$/
        }
        /^\[0\] # auto within 10% of the best at [0-9]+ of 5 sizes; worst: ratio [0-9.]+ at [0-9]+ B$/ {
            fr = $(NF - 3); fs = $(NF - 1)
        }
        $2 ~ /^[0-9]+$/ {
            line = $0; gsub(/ </, "<", line); nf = split(line, f, " ")
            if (nf != 10 + k || f[nf] != 0) next
            min = -1; stars = picks = 0
            for (i = 1; i <= k; i++) {
                t = f[5 + i]; star = t ~ /\*/; pick = t ~ /</; gsub(/[*<]/, "", t)
                if (t !~ /^[0-9]+\.[0-9][0-9]$/) next
                if (min < 0 || t + 0 < min) min = t + 0
                if (star) { stars++; best = name[i]; bt = t + 0 }
                if (pick) { picks++; picked = name[i]; pt = t + 0 }
            }
            if (stars != 1 || picks != 1 || bt != min || best != f[8 + k] || picked != f[6 + k])
                next
            a = pt; r = f[9 + k]
            if (a <= 0 || bt <= 0 || f[7 + k] <= 0) next
            d = r - a / bt # each time is rounded to 0.005, the ratio to 0.0005
            if ((d < 0 ? -d : d) > 0.0006 + a / bt * (0.006 / a + 0.006 / bt)) next
            rows++; ratio[f[2]] = r
            if (rows == 1 || r + 0 > worst + 0) worst = r
        }
        END {
            if (k < 3 || known != 4 || rows != 5 || fr != worst || ratio[fs] != worst) {
                printf "-a all: %d algorithms (%d known), %d good rows, footer %s at %s, worst %s\n",
                    k, known, rows, fr, fs, worst
                exit 1
            }
        }' "$out" && ok || { ko "-a all: table"; cat "$out" >&2; }
    grep -q "Out of bounds values : 0 OK" "$out" && ok || ko "-a all: no OK footer"
    k=$(awk '$2 == "#" && $3 == "size" { for (i = 7; i <= NF && $i != "auto"; i++) k++; print k; exit }' "$out")
    lines=$(wc -l <"$out.csv")
    head -1 "$out.csv" | grep -q '^tool,.*,bytes,count,.*,algo,.*,time_us,.*,wrong,.*,best,auto_pick$' &&
        [ "$lines" -eq $((5 * (k + 1) + 1)) ] && ok ||
        { ko "-a all: CSV of $lines lines for $k algorithms"; cat "$out.csv" >&2; }
    if [ $have_py -eq 1 ]; then
        # Per size: the forced algorithms, then auto; one best (the fastest)
        # and one pick among the forced ones, none on auto; #wrong 0.
        python3 -c 'import csv, json, sys
recs = list(csv.DictReader(open(sys.argv[1])))
js = json.load(open(sys.argv[2]))
k = int(sys.argv[3])
assert len(recs) == len(js) == 5 * (k + 1), (len(recs), len(js))
assert all(r["algo"] == j["algo"] and int(r["bytes"]) == j["bytes"] for r, j in zip(recs, js))
for i in range(0, len(recs), k + 1):
    forced, auto = recs[i:i + k], recs[i + k]
    assert len({r["bytes"] for r in forced + [auto]}) == 1
    assert auto["algo"] == "auto" and auto["best"] == auto["auto_pick"] == "0", auto
    assert "auto" not in [r["algo"] for r in forced]
    best = [r for r in forced if r["best"] == "1"]
    assert len(best) == 1 and float(best[0]["time_us"]) == min(float(r["time_us"]) for r in forced)
    assert sum(r["auto_pick"] == "1" for r in forced) == 1
    assert all(r["wrong"] == "0" and r["placement"] == "out-of-place" for r in forced + [auto])' \
            "$out.csv" "$out.json" "$k" && ok || { ko "-a all: bad CSV or JSON"; cat "$out.csv" >&2; }
    fi
else
    ko "-a all exited non-zero"; cat "$out" >&2
fi
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
        # memcpy of 8 MiB: the largest size, 4096 B, held to 8-256 MiB
        /^\[0\] # Memory  : memcpy on rank 0, measured: [0-9.]+ GB\/s \(one core, 8388608 B: / {
            m += $10 > 0
        }
        /^\[0\] # Share of ceiling +: best busbw / {
            pct = $0; sub(/%.*/, "", pct); sub(/.* /, "", pct)
            lim = $0; sub(/ GB\/s\)$/, "", lim); sub(/.*\(/, "", lim)
            if ($9 ~ /^[0-9.]+$/ && pct ~ /^[0-9.e+-]+$/ && lim > 0) s++
        }
        /^\[0\] # Share of memcpy +: largest size.s busbw [0-9.]+ GB\/s \([0-9]+ B, .*% of memcpy of 8388608 B \([0-9.]+ GB\/s\)$/ {
            pct = $0; sub(/% of memcpy.*/, "", pct); sub(/.* /, "", pct)
            if (pct ~ /^[0-9.e+-]+$/) sm++
        }
        /^\[0\] # alpha-beta fit: / { f++ }
        END { exit !(c == 1 && s == 1 && m == mem && sm == mem && f == 1) }' "$3" && ok ||
        { ko "$1: ceiling, share or fit lines"; cat "$3" >&2; }
}
# Every collective on 3 ranks, checked, with JSON and CSV records. Sizes 8,
# 64, 512, 4096 B: the ones counted per rank block (allgather, reduce-scatter,
# gather, scatter, alltoall) skip 8 B (2 f32 do not split into 3 blocks) and
# print count * 3 elements' bytes. The rooted ones from rank 2 (-R 2; the
# others ignore it, as nccl-tests' tools without a root ignore -r). Sendrecv
# has no in-place form: N/A in its in-place columns, one record per size.
for coll in allreduce broadcast allgather reduce-scatter reduce gather scatter alltoall \
    sendrecv; do
    places=2
    case $coll in
    allreduce) rows=4 blocks=1 redop=sum root=-1 f=4/3 ;;
    broadcast) rows=4 blocks=1 redop=none root=2 f=1/1 ;;
    allgather) rows=3 blocks=3 redop=none root=-1 f=2/3 ;;
    reduce-scatter) rows=3 blocks=3 redop=sum root=-1 f=2/3 ;;
    reduce) rows=4 blocks=1 redop=sum root=2 f=1/1 ;;
    gather | scatter) rows=3 blocks=3 redop=none root=2 f=2/3 ;;
    alltoall) rows=3 blocks=3 redop=none root=-1 f=2/3 ;;
    sendrecv) rows=4 blocks=1 redop=none root=-1 f=1/1 places=1 ;;
    esac
    if ! "$run" -n 3 -t 120 "$top/rcomm-$coll-perf" -b 8 -e 4K -f 8 -n 2 -w 1 -c 1 -R 2 \
        --json "$out.json" --csv "$out.csv" >"$out" 2>&1; then
        ko "$coll exited non-zero"; cat "$out" >&2; continue
    fi
    good=$(awk -v b="$blocks" -v op="$redop" -v r="$root" -v ip="$places" '$1 == "[0]" &&
        NF == 15 && $2 == $3 * 4 * b && $4 == "f32" && $5 == op && $6 == r && $11 == 0 &&
        (ip == 2 ? $15 == 0 : $12 $13 $14 $15 == "N/AN/AN/AN/A")' "$out" | wc -l)
    [ "$good" -eq "$rows" ] && ok || { ko "$coll: $good good rows of $rows"; cat "$out" >&2; }
    grep -q "Out of bounds values : 0 OK" "$out" && ok || ko "$coll: no OK footer"
    check_grade "$coll" "$redop" "$out"
    lines=$(wc -l <"$out.csv")
    head -1 "$out.csv" | grep -q '^tool,transport,collective,ranks,bytes,count,.*,ceiling_gbs,share$' &&
        [ "$lines" -eq $((places * rows + 1)) ] && ok ||
        { ko "$coll: CSV of $lines lines"; cat "$out.csv" >&2; }
    if [ $have_py -eq 1 ]; then
        # A record per size and placement; busbw = algbw * the collective's factor.
        python3 -c 'import json, sys
recs = json.load(open(sys.argv[1]))
n, places = int(sys.argv[2]), int(sys.argv[5])
num, den = map(float, sys.argv[3].split("/"))
assert len(recs) == places * n, len(recs)
assert [r["placement"] for r in recs[:places]] == ["out-of-place", "in-place"][:places]
assert all(r["wrong"] == 0 and r["ranks"] == 3 and r["collective"] == sys.argv[4] for r in recs)
assert all(abs(r["busbw_gbs"] - r["algbw_gbs"] * num / den) < 2e-6 for r in recs)
# share has 6 decimals: off by up to 5e-7 times the ceiling (memcpy, 40 GB/s, under shm)
assert all(r["ceiling_gbs"] > 0 and abs(r["share"] * r["ceiling_gbs"] - r["busbw_gbs"]) < 1e-5 + 5e-7 * r["ceiling_gbs"] for r in recs)' \
            "$out.json" "$rows" "$f" "$coll" "$places" && ok ||
            { ko "$coll: bad JSON"; cat "$out.json" >&2; }
    else
        [ "$(grep -c '"tool"' "$out.json")" -eq $((places * rows)) ] && ok ||
            ko "$coll: JSON records"
    fi
done
# nccl-tests' reduce_perf, gather_perf, scatter_perf, alltoall_perf and
# sendrecv_perf on 1, 2, 3 and 5 ranks, 8 B to 32 KiB, every element checked
# out of place and in place (sendrecv: out of place, N/A in place): the
# header, one row per size (the per-block ones skip 8 B, less than an f32 per
# rank, on 3 and 5 ranks) with size = count * 4 (* p per block), the root
# where there is one (root 0 on 1 and 3 ranks, 1 on 2, 3 on 5: the tree
# renumbered from a middle rank) and #wrong 0, and the OK footer.
for coll in reduce gather scatter alltoall sendrecv; do
    blocks=0 rooted=1 places=2
    case $coll in
    gather | scatter) blocks=1 ;;
    alltoall) blocks=1 rooted=0 ;;
    sendrecv) rooted=0 places=1 ;;
    esac
    for p in 1 2 3 5; do
        case $p in 1 | 3) root=0 ;; 2) root=1 ;; 5) root=3 ;; esac
        rows=5 b=1 col=-1
        [ "$blocks" -eq 1 ] && b=$p && [ "$p" -ge 3 ] && rows=4
        [ "$rooted" -eq 1 ] && col=$root
        if ! "$run" -n "$p" -t 120 "$top/rcomm-$coll-perf" -b 8 -e 64K -f 8 -n 2 -w 1 \
            -R "$root" --no-ceiling >"$out" 2>&1; then
            ko "$coll on $p ranks exited non-zero"; cat "$out" >&2; continue
        fi
        grep -q "^\[0\] # *size *count *type *redop *root *algo *time *algbw *busbw *#wrong *time *algbw *busbw *#wrong$" "$out" &&
            grep -q "^\[0\] # rcomm-$coll-perf: $p ranks, " "$out" && ok ||
            { ko "$coll on $p ranks: header"; cat "$out" >&2; }
        good=$(awk -v b="$b" -v r="$col" -v ip="$places" '$1 == "[0]" && NF == 15 &&
            $2 ~ /^[0-9]+$/ && $2 == $3 * 4 * b && $6 == r && $11 == 0 &&
            (ip == 2 ? $15 == 0 : $12 $13 $14 $15 == "N/AN/AN/AN/A")' "$out" | wc -l)
        [ "$good" -eq "$rows" ] && ok ||
            { ko "$coll on $p ranks: $good good rows of $rows"; cat "$out" >&2; }
        grep -q "^\[0\] # Out of bounds values : 0 OK$" "$out" && ok ||
            { ko "$coll on $p ranks: no OK footer"; cat "$out" >&2; }
    done
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
for coll in broadcast reduce gather scatter; do
    "$run" -n 3 -t 60 "$top/rcomm-$coll-perf" -R 3 -b 8 -e 8 >/dev/null 2>"$out"
    grep -q usage "$out" && grep -q "exited with status 2" "$out" && ok ||
        { ko "$coll -R 3 on 3 ranks"; cat "$out" >&2; }
done
# The name decides, --coll overrides; bad options of the other tools.
for coll in allgather sendrecv; do
    RCOMM_SIZE=1 RCOMM_RANK=0 "$perf" --coll $coll -b 64 -e 64 -n 1 -w 0 --no-ceiling |
        grep -q "^# rcomm-$coll-perf:" && ok || ko "--coll $coll"
done
for args in "-R 1" "-R -1" "-a ring" "-a all" "--coll scan" "--json" "-c"; do
    # shellcheck disable=SC2086
    RCOMM_SIZE=1 RCOMM_RANK=0 "$top/rcomm-broadcast-perf" -b 8 -e 8 $args >/dev/null 2>"$out"
    st=$?
    [ "$st" -eq 2 ] && grep -q usage "$out" && ok || ko "broadcast '$args': status $st"
done
RCOMM_SIZE=1 RCOMM_RANK=0 "$perf" --coll broadcast -a all -b 8 -e 8 >/dev/null 2>"$out"
st=$?
[ "$st" -eq 2 ] && grep -q "usage" "$out" && grep -q -- "-a is for allreduce only" "$out" && ok ||
    { ko "--coll broadcast -a all: status $st"; cat "$out" >&2; }
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
# rcomm-info's switch points: 15 rank counts per collective, the first
# choice from 1 B, sizes increasing along each line.
"$top/rcomm-info" >"$out" 2>&1
awk '/^# (allreduce|broadcast): / { c = $2 } c && $1 ~ /^[0-9]+$/ {
        n[c]++; prev = 0; bad += $3 != "from" || $4 != 1
        for (i = 4; i <= NF; i++) if ($i == "from") { v = $(i + 1); bad += v + 0 <= prev; prev = v }
     }
     END { exit !(n["allreduce:"] == 15 && n["broadcast:"] == 15 && !bad) }' "$out" &&
    ok || { ko "rcomm-info switch points"; cat "$out" >&2; }
# Oversubscription is counted from the ranks' host names and cpusets: two
# ranks confined to one core are oversubscribed, unless told otherwise;
# unconfined they are if the host has fewer than 2 cores.
host_line() { grep -o "rank 0's host: [0-9]* ranks on [0-9]* cores[^;]*" "$out"; }
if command -v taskset >/dev/null 2>&1; then
    taskset -c 0 "$run" -n 2 -t 60 "$perf" -b 8 -e 8 -n 1 -w 0 --no-ceiling >"$out" 2>&1
    [ "$(host_line)" = "rank 0's host: 2 ranks on 1 cores (oversubscribed: polls yield)" ] && ok ||
        { ko "two ranks on one core: $(host_line)"; cat "$out" >&2; }
    taskset -c 0 "$run" -n 2 -t 60 -x RCOMM_OVERSUBSCRIBED=0 "$perf" -b 8 -e 8 -n 1 -w 0 \
        --no-ceiling >"$out" 2>&1
    [ "$(host_line)" = "rank 0's host: 2 ranks on 1 cores" ] && ok ||
        { ko "RCOMM_OVERSUBSCRIBED=0: $(host_line)"; cat "$out" >&2; }
fi
cores=$(nproc)
"$run" -n 2 -t 60 "$perf" -b 8 -e 8 -n 1 -w 0 --no-ceiling >"$out" 2>&1
expect="rank 0's host: 2 ranks on $cores cores"
[ "$cores" -ge 2 ] || expect="$expect (oversubscribed: polls yield)"
[ "$(host_line)" = "$expect" ] && ok || { ko "two free ranks: $(host_line)"; cat "$out" >&2; }
# rcomm-tune writes a tuning file that rcomm-info and a job load; a broken
# file is refused, naming the line, by rcomm-info and by every rank. Over TCP
# (RCOMM_SHM=off): rcomm-info reads the transport's section.
tuning=$tmp/t.tuning
# (The eager limit inside the range: its step gets two classes of its own.)
if RCOMM_SHM=off RCOMM_TCP_EAGER=64K "$run" -n 3 -t 120 "$top/rcomm-tune" -b 8 -e 128K -n 2 -r 1 \
    -o "$tuning" >"$out" 2>&1 &&
    head -1 "$tuning" | grep -q "^rcomm-tuning 1$" &&
    grep -q "^ranks-per-host 3$" "$tuning" && grep -q "^class inf " "$tuning" &&
    [ "$(grep -c '^class ' "$tuning")" -eq 16 ]; then ok; else
    ko "rcomm-tune: no tuning file of 16 classes"; cat "$out" "$tuning" >&2; fi
# ... and rules for 3 ranks: each collective's last one ends at -e (128 KiB),
# each names an algorithm of its collective; rcomm-info marks the 3 ranks.
awk '$1 == "rule" { bad += $3 != 3; last[$2] = $4
         bad += $2 == "allreduce" ? $5 !~ /^(ring|butterfly|rd|direct)$/ : $5 !~ /^(binomial|chain)$/ }
     END { exit !(!bad && last["allreduce"] == 131072 && last["broadcast"] == 131072) }' \
    "$tuning" && ok || { ko "rcomm-tune: rules for 3 ranks"; cat "$tuning" >&2; }
RCOMM_TUNING_FILE=$tuning "$top/rcomm-info" >"$out"
[ "$(grep -c "(measured rules" "$out")" -eq 2 ] && grep -q "^ *3  .*(measured rules" "$out" &&
    ok || { ko "rcomm-info does not mark the measured rules (3 ranks only)"; cat "$out" >&2; }
RCOMM_TUNING_FILE=$tuning "$top/rcomm-info" | grep -q "cost model: $tuning" && ok ||
    ko "rcomm-info does not load RCOMM_TUNING_FILE"
# --explain: the four flat allreduce algorithms' predictions, the two of
# broadcast and of reduce, auto's pick marked in each.
RCOMM_TUNING_FILE=$tuning "$top/rcomm-info" --explain 5 1M >"$out" 2>&1
[ "$(grep -c '^allreduce ' "$out")" -eq 4 ] && [ "$(grep -c '^reduce ' "$out")" -eq 2 ] &&
    [ "$(grep -c '<- auto' "$out")" -eq 3 ] && ok ||
    { ko "rcomm-info --explain"; cat "$out" >&2; }
if RCOMM_SHM=off RCOMM_TUNING_FILE=$tuning "$run" -n 3 -t 120 -x RCOMM_TUNING_FILE "$perf" -a all -b 8 \
    -e 4K -f 8 -n 2 -w 1 >"$out" 2>&1; then ok; else ko "a job with rcomm-tune's file"; cat "$out" >&2; fi
# Ranks of one host over shared memory (RCOMM_SHM=auto): rcomm-tune writes
# an shm section, which such a job takes (its header names the file); the
# TCP-only file above leaves such a job on the built-in shm profile.
if "$run" -n 2 -t 120 "$top/rcomm-tune" -R -b 8 -e 64K -n 2 -r 1 -o "$tuning.shm" >"$out" 2>&1 &&
    grep -q "^transport shm$" "$tuning.shm" && ! grep -q "^transport tcp$" "$tuning.shm" &&
    RCOMM_TUNING_FILE=$tuning.shm "$run" -n 2 -t 120 "$perf" -b 8 -e 8 -n 1 -w 0 --no-ceiling \
        >"$out" 2>&1 && grep -q "cost model: $tuning.shm" "$out"; then ok; else
    ko "rcomm-tune over shared memory"; cat "$out" "$tuning.shm" >&2; fi
RCOMM_TUNING_FILE=$tuning "$run" -n 2 -t 120 "$perf" -b 8 -e 8 -n 1 -w 0 --no-ceiling \
    >"$out" 2>&1 && grep -q "cost model: built-in shm profile" "$out" && ok ||
    { ko "a TCP tuning file on shared memory"; cat "$out" >&2; }
sed 's/^class 1024 .*/class 1024 1 1/' "$tuning" >"$tuning.bad"
RCOMM_TUNING_FILE=$tuning.bad "$top/rcomm-info" >/dev/null 2>"$out" && ko "rcomm-info: bad file accepted" ||
    { grep -q "line [0-9]*: 'class' takes 4 fields" "$out" && ok || { ko "rcomm-info: message"; cat "$out" >&2; }; }
# Rank 0 names the line; the rank that learns it first through the store
# quotes it (rcomm-run then stops the others, maybe before they print).
RCOMM_TUNING_FILE=$tuning.bad "$run" -n 3 -t 120 -x RCOMM_TUNING_FILE "$perf" -b 8 -e 8 >"$out" 2>&1 &&
    ko "a job accepted a bad tuning file" ||
    { grep -q "^\[0\].*line [0-9]*: 'class' takes 4 fields" "$out" &&
      grep -q "^\[[12]\].*rank 0 could not load the cost model: .*line [0-9]*: 'class' takes 4 fields" "$out" &&
      ok || { ko "rank 0's error did not name the line, or no rank quoted it"; cat "$out" >&2; }; }
"$top/perf/reduce_perf" -s 4096 -r 2 | grep -q "f32 .* sum" && ok || ko "reduce_perf"
# shm_bound checks its result element by element (exit 1 on a wrong one)
# and refuses sizes its blocks cannot split.
"$top/perf/shm_bound" 3 96K 48K | grep -q "^shm_bound: 3 ranks, 98304 B in 49152-byte chunks: .* busbw / memcpy [0-9.]*$" &&
    ok || ko "shm_bound 3 96K 48K"
"$top/perf/shm_bound" 3 1M 1M >/dev/null 2>&1; [ $? -eq 2 ] && ok || ko "shm_bound 3 1M 1M: not refused"
# tcp_bound checks every byte it receives (exit 1 on a wrong one).
"$top/perf/tcp_bound" 3 96K 3 | grep -q "^tcp_bound: 3 ranks, the bytes of a 98304-byte allreduce (131072 B each way per rank) over loopback TCP: [0-9.]* ms, median of 3; as an allreduce, busbw [0-9.]* GB/s$" &&
    ok || ko "tcp_bound 3 96K 3"
"$top/perf/tcp_bound" 1 >/dev/null 2>&1; [ $? -eq 2 ] && ok || ko "tcp_bound 1: not refused"
summary
