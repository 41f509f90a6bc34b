#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
#
# overlap_bench.sh: rcomm-overlap-perf with RCOMM_PROGRESS=caller and =thread
# side by side, interleaved round by round (noise hits both alike), for each
# rank count and model; prints the median over rounds of every column per
# bucket size, and the overlap efficiency of both modes next to each other.
#
#   perf/overlap_bench.sh BUILD_DIR [ROUNDS [RANKS [MODELS]]]
#   perf/overlap_bench.sh build 3 "2 4" "resnet50 bert-base synthetic"
#
# Extra rcomm-overlap-perf options come from OVERLAP_ARGS (default "-n 5 -w 1").
set -eu
[ $# -ge 1 ] || { sed -n 4,12p "$0"; exit 2; }
build=$(cd "$1" && pwd)
rounds=${2:-3}
ranks=${3:-2 4}
models=${4:-resnet50 bert-base synthetic}
args=${OVERLAP_ARGS:--n 5 -w 1}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

for r in $(seq "$rounds"); do
    for n in $ranks; do
        for m in $models; do
            for p in caller thread; do
                # shellcheck disable=SC2086
                "$build/rcomm-run" -n "$n" -t 600 -x RCOMM_PROGRESS=$p \
                    "$build/rcomm-overlap-perf" --model "$m" $args \
                    --csv "$out/$n-$m-$p-$r.csv" >"$out/log" 2>&1 ||
                    { echo "overlap_bench: $m on $n ranks ($p) failed:" >&2; cat "$out/log" >&2; exit 1; }
            done
        done
    done
done

# Columns by name; the median over rounds of each, per (ranks, model, mode, bucket).
for n in $ranks; do
    for m in $models; do
        echo "# $m, $n ranks, ms (median of $rounds rounds); eff = (compute + comm - step) / min(compute, comm)"
        printf "%8s %8s | %8s %8s %8s %8s %6s | %8s %8s %8s %8s %6s\n" bucketKB nbuckets \
            compute comm noovl step eff compute comm noovl step eff
        printf "%17s | %42s | %42s\n" "" "caller" "thread"
        cat "$out/$n-$m-"*.csv | awk -F, '
            $1 == "tool" { for (i = 1; i <= NF; i++) c[$i] = i; next }
            { k = $(c["bucket_kb"]); p = $(c["progress"]); nb[k] = $(c["nbuckets"]); seen[k] = 1
              split("compute_ms comm_ms noovl_ms step_ms efficiency", f, " ")
              for (j = 1; j <= 5; j++) v[k, p, j, ++cnt[k, p, j]] = $(c[f[j]]) + 0 }
            function med(k, p, j,   n, i, a, x, y) {
                n = cnt[k, p, j]; for (i = 1; i <= n; i++) a[i] = v[k, p, j, i]
                for (x = 1; x <= n; x++) for (y = x + 1; y <= n; y++) if (a[y] < a[x]) { t = a[x]; a[x] = a[y]; a[y] = t }
                return n ? a[int((n + 1) / 2)] : 0 }
            END { m = 0; for (k in seen) ks[++m] = k + 0
                for (x = 1; x <= m; x++) for (y = x + 1; y <= m; y++) if (ks[y] < ks[x]) { t = ks[x]; ks[x] = ks[y]; ks[y] = t }
                for (x = 1; x <= m; x++) { k = ks[x]; printf "%8d %8d |", k, nb[k]
                    for (q = 1; q <= 2; q++) { p = q == 1 ? "caller" : "thread"
                        printf " %8.1f %8.1f %8.1f %8.1f %6.2f |", med(k, p, 1), med(k, p, 2), med(k, p, 3), med(k, p, 4), med(k, p, 5) }
                    printf "\n" } }' | sed 's/ |$//'
        echo
    done
done
