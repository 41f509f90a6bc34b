#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
# scripts/rcomm-plot draws SVG and PNG pictures from sample --csv files of
# every layout, converts bandwidth units right, picks the rows it should,
# draws training curves (train_mnist --csv) in side-by-side panels, and meets
# bad invocations, mixing training and perf files among them, with a usage
# message and exit status 2.
plot=$(dirname "$0")/../scripts/rcomm-plot
gnuplot=${GNUPLOT:-gnuplot}
if ! command -v "$gnuplot" >/dev/null 2>&1; then
    echo "SKIP: $gnuplot not installed (Debian: gnuplot-nox)"
    exit 77
fi
pass=0 fail=0
ok() { pass=$((pass + 1)); }
ko() { fail=$((fail + 1)); echo "FAIL: $*"; }
d=$(mktemp -d)
trap 'rm -rf "$d"' EXIT
cd "$d" || exit 1
case $plot in /*) ;; *) plot=$OLDPWD/$plot ;; esac

# Samples: columns in the tools' order, except gb.csv (shuffled, CRLF).
cat >bw.csv <<'EOF'
tool,transport,op,test,bytes,iterations,bw_peak,bw_average,msg_rate_mpps,bw_unit
rcomm-write-bw,tcp,write,bw,2,50,2.0,1.9,1.0,MB/sec
rcomm-write-bw,tcp,write,bw,1024,50,600,500,0.5,MB/sec
rcomm-write-bw,tcp,write,bw,1048576,50,2200,2000,0.002,MB/sec
EOF
printf '%s\r\n' bw_unit,bytes,bw_average,tool,op,test,transport,iterations,bw_peak,msg_rate_mpps \
    Gb/sec,65536,8,rcomm-write-bw,write,bw,tcp,50,9,0.01 >gb.csv
cat >mb1.csv <<'EOF'
tool,transport,op,test,bytes,iterations,bw_peak,bw_average,msg_rate_mpps,bw_unit
rcomm-read-bw,verbs,read,bw,4096,50,1000,1000,0.25,MB/sec
EOF
cat >lat.csv <<'EOF'
tool,transport,op,test,bytes,iterations,t_min_us,t_max_us,t_typical_us,t_avg_us,t_stdev_us,t_p99_us,t_p99_9_us
rcomm-send-lat,tcp,send,lat,2,50,10,90,12.5,14,3,60,90
rcomm-send-lat,tcp,send,lat,4096,50,20,99,25,27,4,70,99
rcomm-send-lat,tcp,send,lat,1048576,50,900,1500,1000,1010,30,1400,1500
EOF
{
    echo tool,transport,collective,ranks,bytes,count,type,redop,root,algo,placement,time_us,algbw_gbs,busbw_gbs,wrong
    for a in ring rd; do
        for b in 1024 65536 4194304; do
            for p in out-of-place in-place; do
                case $a/$p in # busbw differs by algorithm and placement
                ring/out-of-place) bus=1.5 ;; ring/in-place) bus=2.5 ;;
                rd/out-of-place) bus=3.5 ;; rd/in-place) bus=4.5 ;;
                esac
                echo "rcomm-allreduce-perf,verbs,allreduce,4,$b,$((b / 4)),float,sum,-1,$a,$p,$((b / 1024 + 7)),1.0,$bus,0"
            done
        done
    done
} >coll.csv
# Training curves as train_mnist writes them: accuracy empty between
# evaluations; a nan loss and a nan accuracy; run-b.csv with CRLF.
cat >run-a.csv <<'EOF'
step,time_s,loss,test_accuracy
1,0.010000,2.30258509,
2,0.020000,1.9,
3,0.030000,1.5,0.6100
4,0.040000,nan,
5,0.050000,1.1,nan
6,0.060000,0.9,0.7200
EOF
printf '%s\r\n' step,time_s,loss,test_accuracy 1,0.02,2.2, 2,0.05,1.6,0.5500 3,0.08,0.7,0.7000 >run-b.csv
printf 'name,size,speed\nx,1,2\n' >odd.csv
: >empty.csv

# svg_ok FILE TEXT...: a complete SVG holding every TEXT.
svg_ok() {
    f=$1 && shift
    head -c 40 "$f" | grep -qE '^(<\?xml|<svg)' || { ko "$f: does not start like SVG"; return; }
    [ "$(awk 'NF { l = $0 } END { print l }' "$f")" = "</svg>" ] || { ko "$f: does not end with </svg>"; return; }
    for t; do grep -qF "$t" "$f" && ok || ko "$f: no \"$t\""; done
}
# value FILE BYTES SERIES [ARGS]: the plotted value at BYTES in SERIES.
value() {
    f=$1 b=$2 s=$3 && shift 3
    sh "$plot" --data "$f" "$@" 2>/dev/null | awk -v b="$b" -v s="# $s" '
        /^#/ { cur = $0; next } cur == s && $1 == b { print $2; exit }'
}
# near GOT WANT WHAT: GOT within 1e-4 of WANT.
near() {
    awk -v g="$1" -v w="$2" 'BEGIN { exit !(g != "" && g - w < 1e-4 && w - g < 1e-4) }' &&
        ok || ko "$3: got '$1', want $2"
}

# Bandwidth: p2p and collective together, one series per file for write-bw.
if sh "$plot" -o bw.svg bw.csv gb.csv coll.csv 2>err; then
    ok
    svg_ok bw.svg "write-bw, tcp (bw.csv)" "write-bw, tcp (gb.csv)" \
        "allreduce ring, verbs" "allreduce rd, verbs" "Message size (bytes)" \
        "(GB/s)" "rcomm: bandwidth vs message size" ">1K<" ">1M<"
else
    ko "bandwidth SVG: exit status $?"; cat err
fi
# Latency by default from latency files, as PNG; options after the files.
if sh "$plot" lat.csv -o lat.png --title 'send_lat ^ mine' 2>err; then
    ok
    magic=$(od -An -tx1 -N8 lat.png | tr -d ' \n')
    [ "$magic" = 89504e470d0a1a0a ] && ok || ko "lat.png: magic $magic"
else
    ko "latency PNG: exit status $?"; cat err
fi
sh "$plot" -o lat.svg lat.csv 2>err &&
    svg_ok lat.svg "send-lat, tcp" "rcomm: latency vs message size" "Latency, median (us)" ||
    ko "latency SVG: $(cat err)"
sh "$plot" -o coll.png --latency --in-place coll.csv 2>err && ok || ko "collective latency PNG: $(cat err)"
sh "$plot" -o mixed.svg lat.csv bw.csv 2>err && grep -q "lat.csv has no bandwidth" err &&
    grep -q "write-bw, tcp" mixed.svg && ! grep -q "send-lat" mixed.svg && ok || ko "mixed bw+lat"
sh "$plot" --bandwidth -o x.svg lat.csv 2>err
[ $? -eq 1 ] && grep -q "no bandwidth data" err && ok || ko "--bandwidth on latency only"

# Units: GB/s = 10^9 bytes/s; MB/sec = 2^20 bytes/s; Gb/sec = 10^9 bits/s.
near "$(value gb.csv 65536 "write-bw, tcp")" 1 "8 Gb/sec"
near "$(value mb1.csv 4096 "read-bw, verbs")" 1.048576 "1000 MB/sec"
near "$(value bw.csv 1048576 "write-bw, tcp")" 2.097152 "2000 MB/sec"
near "$(value lat.csv 4096 "send-lat, tcp" --latency)" 25 "t_typical_us"
near "$(value lat.csv 4096 "send-lat, tcp")" 25 "latency by default"
# Collectives: busbw of the out-of-place rows unless --in-place; time_us.
near "$(value coll.csv 65536 "allreduce ring, verbs")" 1.5 "busbw ring"
near "$(value coll.csv 65536 "allreduce rd, verbs")" 3.5 "busbw rd"
near "$(value coll.csv 65536 "allreduce ring, verbs" --in-place)" 2.5 "--in-place busbw"
near "$(value coll.csv 4194304 "allreduce rd, verbs" --latency)" 4103 "time_us"
n=$(sh "$plot" --data coll.csv | grep -c '^[0-9]')
[ "$n" -eq 6 ] && ok || ko "collective rows plotted: $n of 6"

# Training curves: loss against time and against step, one line per file
# titled by its base name, accuracy on request; nan and empty values skipped.
if sh "$plot" -o train.svg run-a.csv run-b.csv 2>err; then
    ok
    svg_ok train.svg "<text>run-a</text>" "<text>run-b</text>" "<text>Time (s)</text>" \
        "<text>Step</text>" "<text>Loss</text>" "rcomm: training loss"
    ! grep -q "Test accuracy" train.svg && ok || ko "train.svg: an accuracy panel without --accuracy"
else
    ko "training SVG: exit status $?"; cat err
fi
sh "$plot" -o train.png --accuracy --log-loss run-a.csv run-b.csv 2>err && ok ||
    ko "training PNG: $(cat err)"
sh "$plot" -o acc.svg --accuracy run-b.csv run-a.csv 2>err &&
    svg_ok acc.svg "<text>Test accuracy</text>" "<text>Step</text>" || ko "--accuracy: $(cat err)"
rows() { # rows FILE SERIES [ARGS]: the lines of SERIES in --data's output
    f=$1 s=$2 && shift 2
    sh "$plot" --data "$f" "$@" 2>/dev/null | awk -v s="# $s" '
        /^#/ { cur = $0; next } cur == s && NF { printf "%s%s", n++ ? ";" : "", $0 }'
}
[ "$(rows run-a.csv run-a)" = "1 0.010000 2.30258509;2 0.020000 1.9;3 0.030000 1.5;5 0.050000 1.1;6 0.060000 0.9" ] &&
    ok || ko "run-a loss rows: $(rows run-a.csv run-a)"
[ "$(rows run-a.csv "run-a: test accuracy" --accuracy)" = "3 0.030000 0.6100;6 0.060000 0.7200" ] &&
    ok || ko "run-a accuracy rows: $(rows run-a.csv "run-a: test accuracy" --accuracy)"
[ "$(rows run-b.csv run-b)" = "1 0.02 2.2;2 0.05 1.6;3 0.08 0.7" ] && ok || ko "run-b (CRLF) rows"
# Training and perf files together, either way round: exit 2, and why.
for args in "run-a.csv bw.csv" "coll.csv run-b.csv"; do
    # shellcheck disable=SC2086
    sh "$plot" -o tp.svg $args >/dev/null 2>err
    st=$?
    [ "$st" -eq 2 ] && grep -q "training curves (run-.\.csv) and perf results (.*\.csv) cannot share a picture" err &&
        grep -q usage err && [ ! -e tp.svg ] && ok || ko "'$args': status $st, $(head -1 err)"
done

# Bad invocations: usage on stderr, exit status 2, no picture.
for args in "" "--bogus bw.csv" "missing.csv" "odd.csv" "empty.csv" "-o x.pdf bw.csv" \
    "bw.csv -o" "--title" "bw.csv odd.csv" "--log-loss bw.csv" "--accuracy lat.csv" \
    "--latency run-a.csv" "--in-place run-a.csv"; do
    # shellcheck disable=SC2086
    sh "$plot" $args >/dev/null 2>err
    st=$?
    [ "$st" -eq 2 ] && grep -q usage err && ok || ko "'$args': status $st"
done
sh "$plot" -h | grep -q "^usage: rcomm-plot" && ok || ko "-h"
[ ! -e x.pdf ] && [ ! -e rcomm-plot.svg ] && ok || ko "a bad invocation wrote a picture"

echo "plot: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
