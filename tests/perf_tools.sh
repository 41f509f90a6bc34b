#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
# The tools run, their output parses, results are right, and bad options get
# a usage message and exit status 2.
run=${RCOMM_RUN:-./rcomm-run}
top=$(dirname "$run")
perf=$top/rcomm-allreduce-perf
pass=0 fail=0
ok() { pass=$((pass + 1)); }
ko() { fail=$((fail + 1)); echo "FAIL: $*"; }
out=$(mktemp)
trap 'rm -f "$out"' EXIT

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
echo "perf_tools: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
