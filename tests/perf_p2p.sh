#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
# The perftest-style point-to-point tools (rcomm-{write,read,send,atomic}-
# {bw,lat}) run on 2 ranks over the default transport, print one well-formed
# row per size (atomic: 8 B only), write JSON and CSV that parse, pass their
# data check (atomic: the target's counter equals the fetch-and-adds made,
# always), and refuse bad options and rank counts with a usage message and
# status 2.
name=perf_p2p
. "$(dirname "$0")/perf_common.sh"

# The grade lines (perf/grade.c): a ceiling line in the header and a share
# line after the table (the ceiling positive, the rates numbers: a loaded host
# may print 0.00), for every test: bw tools are graded by BW average, lat
# tools by bytes / t_typical. lat tools also print a fit line (which may say
# why there is none) when they ran several sizes, bw tools none. $1 the tool,
# $2 its output, $3 the number of sizes.
check_grade() {
    awk -v bw="$(case $1 in *-bw) echo 1 ;; *) echo 0 ;; esac)" -v sizes="$3" '
        $1 != "[0]" { next }
        /^\[0\]  Ceiling      : .* [0-9.]+ GB\/s.* = [0-9.]+ MB\/sec$/ {
            v = $0; sub(/ GB\/s.*/, "", v); sub(/.* /, "", v); c += v > 0 && $(NF - 1) > 0
        }
        /^\[0\]  Share of ceiling: best (BW average|bytes\/t_typical) / {
            pct = $0; sub(/%.*/, "", pct); sub(/.* /, "", pct)
            lim = $(NF - 1); sub(/^\(/, "", lim)
            r = $0; sub(/.*(average|t_typical) /, "", r); sub(/ .*/, "", r)
            s += r ~ /^[0-9.]+$/ && pct ~ /^[0-9.e+-]+$/ && lim > 0
        }
        /alpha-beta fit: / { f++ }
        END { exit !(c == 1 && s == 1 && f == (!bw && sizes > 1)) }' "$2" && ok ||
        { ko "$1: ceiling, share or fit lines"; cat "$2" >&2; }
}

for tool in write-bw read-bw send-bw atomic-bw write-lat read-lat send-lat atomic-lat; do
    t=$top/rcomm-$tool
    case $tool in
    atomic-*) first=8 sizes=1 ;; # -a: the one size
    *) first=2 sizes=23 ;;       # -a: 2 B to 8 MiB
    esac
    case $tool in
    *-bw) nums=3 check=-c hdr='#bytes +#iterations +BW peak\[MB/sec\]' ;;
    *) nums=7 check='' hdr='#bytes #iterations +t_min\[usec\]' ;;
    esac
    # shellcheck disable=SC2086
    if ! "$run" -n 2 -t 120 "$t" -a -n 20 -w 2 $check --json "$tmp/$tool.json" \
        --csv "$tmp/$tool.csv" >"$tmp/out" 2>"$tmp/err"; then
        ko "$tool exited non-zero"
        cat "$tmp/out" "$tmp/err" >&2
        continue
    fi
    ok
    grep -Eq "^\[0\] +$hdr" "$tmp/out" && ok || ko "$tool: no table header"
    # Rows: "[0] bytes 20 <nums numbers>", the sizes in order.
    rows=$(awk -v n="$nums" -v first="$first" '
        $1 == "[0]" && $2 ~ /^[0-9]+$/ && $2 == first * 2 ^ k && $3 == 20 && NF == n + 3 {
            good = 1
            for (i = 4; i <= NF; i++)
                if ($i !~ /^[0-9]+\.[0-9]+$/)
                    good = 0
            k += good
        }
        END { print k + 0 }' "$tmp/out")
    [ "$rows" -eq $sizes ] && ok || { ko "$tool: $rows good rows of $sizes"; cat "$tmp/out" >&2; }
    grep -q "data check failed" "$tmp/err" && ko "$tool: data check failed" || ok
    check_grade "$tool" "$tmp/out" "$sizes"
    # CSV: a header and one line per size, every value a number >= 0 (no
    # timing assertion: a loaded host may print 0.000000).
    bad=$(awk -F, -v n="$nums" 'NR > 1 && (NF < n + 6 || $6 != 20) { b++; next }
        NR > 1 { for (i = 7; i < 7 + n; i++) if ($i !~ /^[0-9.e+-]+$/ || $i < 0) b++ }
        END { print b + 0 }' "$tmp/$tool.csv")
    lines=$(wc -l <"$tmp/$tool.csv")
    [ "$lines" -eq $((sizes + 1)) ] && [ "$bad" -eq 0 ] && ok ||
        { ko "$tool: CSV has $lines lines, $bad bad values"; cat "$tmp/$tool.csv" >&2; }
    if [ $have_py -eq 1 ]; then
        python3 -c 'import json, sys
recs = json.load(open(sys.argv[1]))
assert len(recs) == int(sys.argv[2]), len(recs)
assert all(r["iterations"] == 20 and r["bytes"] > 0 for r in recs)
assert all(r["ceiling_gbs"] > 0 and r["share"] >= 0 for r in recs)' \
            "$tmp/$tool.json" $sizes && ok || ko "$tool: bad JSON"
    else
        [ "$(grep -c '"tool"' "$tmp/$tool.json")" -eq $sizes ] && ok || ko "$tool: JSON records"
    fi
done

# Overrides, units, -D: the header says what ran, one row comes out.
# One size: no fit. The ceiling in Gb/sec with --report_gbits; none with
# --no-ceiling.
out=$("$run" -n 2 -t 60 "$top/rcomm-write-bw" --op send --test lat -s 64 -n 20 2>&1)
echo "$out" | grep -q "Send Latency Test" && ok || { ko "--op/--test"; echo "$out" >&2; }
echo "$out" | grep -q "alpha-beta fit" && { ko "a fit of one size"; echo "$out" >&2; } || ok
out=$("$run" -n 2 -t 60 "$top/rcomm-read-bw" -s 4K -n 50 --report_gbits 2>&1)
echo "$out" | grep -q "BW peak\[Gb/sec\]" && ok || { ko "--report_gbits"; echo "$out" >&2; }
echo "$out" | grep -Eq "Ceiling      : .* = [0-9.]+ Gb/sec$" &&
    echo "$out" | grep -Eq "Share of ceiling: .*\([0-9.]+ Gb/sec\)$" && ok ||
    { ko "--report_gbits: ceiling and share in Gb/sec"; echo "$out" >&2; }
out=$("$run" -n 2 -t 60 "$top/rcomm-write-bw" -s 64K -n 50 --no-ceiling 2>&1)
echo "$out" | grep -Eq "Ceiling|Share" && { ko "--no-ceiling"; echo "$out" >&2; } || ok
out=$("$run" -n 2 -t 60 "$top/rcomm-send-lat" -s 8 -n 50 --no-ceiling 2>&1)
echo "$out" | grep -Eq "Ceiling|Share" && { ko "lat --no-ceiling"; echo "$out" >&2; } || ok
out=$("$run" -n 2 -t 60 "$top/rcomm-send-lat" -s 8 -D 0.3 2>&1)
echo "$out" | awk '$1 == "[0]" && $2 == 8 && $3 > 20' | grep -q . && ok ||
    { ko "-D"; echo "$out" >&2; }

# Bad options: usage on stderr, status 2, before any rank waits for another.
for args in "-s" "-s 0" "-s 2G" "-n 0" "-t 0" "-n 5 -D 1" "--bogus" "--op fly" "stray"; do
    for tool in write-lat send-bw atomic-lat; do
        # shellcheck disable=SC2086
        RCOMM_SIZE=1 RCOMM_RANK=0 "$top/rcomm-$tool" $args >/dev/null 2>"$tmp/err"
        st=$?
        [ "$st" -eq 2 ] && grep -q usage "$tmp/err" && ok || ko "$tool '$args': status $st"
    done
done
# Not 2 ranks: alone, and 3 under the launcher (which reports the first
# rank's status 2 and stops the others).
RCOMM_SIZE=1 RCOMM_RANK=0 "$top/rcomm-atomic-bw" -s 16 >/dev/null 2>"$tmp/err"
st=$?
[ "$st" -eq 2 ] && grep -q "an atomic is 8 bytes" "$tmp/err" && ok || ko "atomic -s 16: status $st"
# The window from malloc: over shm the other way (cross-memory attach, the
# target's progress applying the atomics), the same counts.
for tool in atomic-lat atomic-bw read-lat; do
    out=$("$run" -n 2 -t 60 "$top/rcomm-$tool" -n 50 --malloc-window --no-ceiling 2>&1) &&
        ! echo "$out" | grep -q "data check failed" && ok ||
        { ko "$tool --malloc-window"; echo "$out" >&2; }
done
RCOMM_SIZE=1 RCOMM_RANK=0 "$top/rcomm-read-bw" >/dev/null 2>"$tmp/err"
st=$?
[ "$st" -eq 2 ] && grep -q usage "$tmp/err" && ok || ko "1 rank: status $st"
"$run" -n 3 -t 60 "$top/rcomm-read-bw" >/dev/null 2>"$tmp/err"
grep -q usage "$tmp/err" && grep -q "exited with status 2" "$tmp/err" && ok ||
    { ko "3 ranks"; cat "$tmp/err" >&2; }
"$top/rcomm-send-lat" -h | grep -q usage && ok || ko "-h"
summary
