#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
#
# compare.sh: AllReduce (f32 sum) of rcomm, Gloo and Open MPI on this host
# (or, with -c, reduce or all-to-all of rcomm and Open MPI),
# all over TCP on loopback, in interleaved rounds (every library and algorithm
# once per round), then a side-by-side table of the best median of each
# library per rank count and size.
#
#   perf/compare/compare.sh [options] BUILD_DIR [N ...]      (N: 2 4 by default)
#
# Needs bash, coreutils and awk; mpicc/mpirun for Open MPI, g++ and libgloo
# for Gloo (perf/compare/deps.sh installs them); BUILD_DIR/rcomm-run and
# BUILD_DIR/rcomm-<coll>-perf for rcomm. See README.md next to this script.
set -u

usage() {
    cat <<'EOF'
usage: compare.sh [options] BUILD_DIR [N ...]
Builds BUILD_DIR/compare/{mpi_coll,gloo_allreduce}, runs rcomm, Gloo and
Open MPI AllReduce benchmarks (-c: another collective) for each rank count N (default: 2 4) in
interleaved rounds, saves every raw table in BUILD_DIR/compare/results-TIMESTAMP/
and prints a summary of the per-size medians over the rounds.
  -b SIZE    smallest message (default 8; K, M, G suffixes)
  -e SIZE    largest message, included when on the sequence (default 256M)
  -f N       size factor (default 2: every power of two from 8 B to 256 MiB)
  -s SIZE    sizes below this are "small", the others "large" (default 1M)
  -n/-w      timed iterations / warm-up per run for small sizes (default 100/10)
  -N/-W      the same for large sizes (default 5/1)
  -r N       rounds (default 3): each round runs every library and algorithm
             once (-r 1 in the benchmark), one after the other; the summary
             takes the median over the rounds per size
  -a ALGOS   rcomm algorithms (default "ring butterfly rd auto")
  -g ALGOS   Gloo algorithms (default "ring ring_chunked halving_doubling bcube
             new_ring new_bcube")
  -l LIBS    libraries to run (default "rcomm gloo ompi")
  -c COLL    allreduce (default), reduce (to rank 0), alltoall or broadcast
             (from rank 0; rcomm and -B only); Gloo runs allreduce only, and
             rcomm's other collectives have one algorithm name here: auto
  -B DIR     also run rcomm -a auto from another build (the baseline, e.g. the
             last release), as library "base", in every round; the summary
             then adds its time and now/base = rcomm auto time / base time
  -t SECS    time limit per benchmark process (default 600)
  -i MODE    run in a private network namespace with only lo: auto (if
             "unshare -n" works), yes, no (default auto)
  -m         shared memory: rcomm with RCOMM_SHM=auto (every rank of this host
             through shared memory) against Open MPI's shared-memory BTL
             (vader,self); Gloo has none and stays on TCP. Without -m both
             run over TCP on lo (RCOMM_SHM=off)
  -h         this help
The default run (2 and 4 ranks, 8 B .. 256 MiB, 3 rounds) took 41 minutes on
2 idle cores (see README.md next to this script; -e 64M saves most of it);
after the first round the script says how long the rest will take.
Environment: MPICC, CXX (compilers), OMPI_EXTRA (more mpirun arguments).
EOF
}

die() { echo "compare.sh: $*" >&2; exit 1; }
note() { echo "compare.sh: $*" >&2; }

# --- options -----------------------------------------------------------------
ORIG_ARGS=("$@")
MINB=8 MAXB=256M FACTOR=2 SPLIT=1M
SMALL_N=100 SMALL_W=10
LARGE_N=5 LARGE_W=1
ROUNDS=3
RCOMM_ALGOS="ring butterfly rd auto"
GLOO_ALGOS="ring ring_chunked halving_doubling bcube new_ring new_bcube"
LIBS="rcomm gloo ompi"
COLL=allreduce
LIMIT=600
ISOLATE=auto
BASE=
SHM=0
while getopts "b:e:f:s:n:w:r:N:W:R:a:g:l:c:t:i:B:mh" opt; do
    case $opt in
    b) MINB=$OPTARG ;;
    e) MAXB=$OPTARG ;;
    f) FACTOR=$OPTARG ;;
    s) SPLIT=$OPTARG ;;
    n) SMALL_N=$OPTARG ;;
    w) SMALL_W=$OPTARG ;;
    r) ROUNDS=$OPTARG ;;
    N) LARGE_N=$OPTARG ;;
    W) LARGE_W=$OPTARG ;;
    R) die "-R is gone: -r sets the number of rounds, for every size" ;;
    a) RCOMM_ALGOS=$OPTARG ;;
    g) GLOO_ALGOS=$OPTARG ;;
    l) LIBS=$OPTARG ;;
    c) COLL=$OPTARG ;;
    t) LIMIT=$OPTARG ;;
    i) ISOLATE=$OPTARG ;;
    B) BASE=$OPTARG ;;
    m) SHM=1 ;;
    h) usage; exit 0 ;;
    *) usage >&2; exit 2 ;;
    esac
done
shift $((OPTIND - 1))
[ $# -ge 1 ] || { usage >&2; exit 2; }
[ -d "$1" ] || die "BUILD_DIR '$1' is not a directory"
BUILD=$(cd "$1" && pwd) || exit 1
shift
RANKS=("$@")
[ ${#RANKS[@]} -gt 0 ] || RANKS=(2 4)
if [ -n "$BASE" ]; then
    [ -x "$BASE/rcomm-run" ] && [ -x "$BASE/rcomm-$COLL-perf" ] ||
        die "-B $BASE: no rcomm-run or rcomm-$COLL-perf there"
    BASE=$(cd "$BASE" && pwd) || exit 1
fi

is_uint() { [[ $1 =~ ^[0-9]+$ ]]; }
to_bytes() {
    local s=$1 m=1
    case $s in
    *[kK]) m=1024; s=${s%?} ;;
    *[mM]) m=$((1 << 20)); s=${s%?} ;;
    *[gG]) m=$((1 << 30)); s=${s%?} ;;
    esac
    is_uint "$s" || die "bad size '$1'"
    echo $((s * m))
}
MINB=$(to_bytes "$MINB") || exit 1
MAXB=$(to_bytes "$MAXB") || exit 1
SPLIT=$(to_bytes "$SPLIT") || exit 1
for v in FACTOR SMALL_N SMALL_W LARGE_N LARGE_W ROUNDS LIMIT; do
    is_uint "${!v}" || die "bad number '${!v}' for $v"
done
for n in "${RANKS[@]}"; do
    if ! is_uint "$n" || [ "$n" -lt 2 ]; then die "bad rank count '$n' (at least 2)"; fi
done
if [ "$MINB" -lt 1 ] || [ "$MINB" -gt "$MAXB" ]; then die "need 1 <= -b <= -e"; fi
[ "$FACTOR" -ge 2 ] || die "-f must be at least 2"
[ "$ROUNDS" -ge 1 ] || die "-r must be at least 1"
if [ "$SMALL_N" -lt 1 ] || [ "$LARGE_N" -lt 1 ]; then die "-n and -N must be at least 1"; fi
for l in $LIBS; do
    case $l in rcomm | gloo | ompi) ;; *) die "unknown library '$l' in -l" ;; esac
done
case $COLL in
allreduce) ;;
broadcast)
    # rcomm against itself (-B): mpi_coll has no broadcast.
    LIBS=$(echo " $LIBS " | sed 's/ gloo / /; s/ ompi / /')
    [ "$RCOMM_ALGOS" = "ring butterfly rd auto" ] && RCOMM_ALGOS=auto
    [ "$RCOMM_ALGOS" = auto ] || die "-a: $COLL has one algorithm name here, auto"
    ;;
reduce | alltoall)
    # Gloo is compared for allreduce only; rcomm's tool picks its algorithm.
    LIBS=$(echo " $LIBS " | sed 's/ gloo / /')
    [ "$RCOMM_ALGOS" = "ring butterfly rd auto" ] && RCOMM_ALGOS=auto
    [ "$RCOMM_ALGOS" = auto ] || die "-a: $COLL has one algorithm name here, auto"
    ;;
*) die "unknown collective '$COLL' in -c (allreduce, reduce, alltoall, broadcast)" ;;
esac
want() { [[ " $LIBS " == *" $1 "* ]]; }

# --- network isolation ---------------------------------------------------------
# Open MPI's TCP BTL and mpirun listen on 0.0.0.0 / [::] even with
# btl_tcp_if_include=lo; in a fresh network namespace lo is all there is, for
# every library alike. The script re-executes itself there.
NETNS="host (no isolation)"
if [ -n "${COMPARE_IN_NETNS:-}" ]; then
    ip link set lo up || die "cannot bring lo up in the network namespace"
    NETNS="private network namespace, lo only"
elif [ "$ISOLATE" != no ]; then
    if command -v unshare >/dev/null && command -v ip >/dev/null &&
        unshare -n true 2>/dev/null; then
        export COMPARE_IN_NETNS=1
        exec unshare -n -- /bin/bash "${BASH_SOURCE[0]}" "${ORIG_ARGS[@]}"
    fi
    [ "$ISOLATE" = yes ] && die "cannot create a network namespace (unshare -n; needs root)"
    note "no private network namespace (needs root, unshare from util-linux and ip from" \
        "iproute2); Open MPI listens on all addresses"
fi

# --- build -----------------------------------------------------------------------
SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd) || exit 1
OUT=$BUILD/compare
mkdir -p "$OUT" || exit 1
# What is missing, and the Debian 12 package that brings it.
missing() {
    die "$1 not found: install the Debian package $2 (perf/compare/deps.sh installs" \
        "all the peers need), or leave the library out with -l"
}
# Does the compiler $1 (with language $2) find the header $3?
has_header() { echo "#include <$3>" | "$1" -E -x "$2" - >/dev/null 2>&1; }
MPICC=${MPICC:-mpicc} CXX=${CXX:-g++}
if want ompi; then
    command -v "$MPICC" >/dev/null || missing "$MPICC" openmpi-bin
    command -v mpirun >/dev/null || missing mpirun openmpi-bin
    has_header "$MPICC" c mpi.h || missing "mpi.h (for $MPICC)" libopenmpi-dev
    note "building $OUT/mpi_coll"
    "$MPICC" -O2 -o "$OUT/mpi_coll" "$SRC/mpi_coll.c" ||
        die "$MPICC failed (skip Open MPI with -l)"
fi
if want gloo; then
    command -v "$CXX" >/dev/null || missing "$CXX" g++
    has_header "$CXX" c++ gloo/config.h || missing "gloo/config.h (for $CXX)" libgloo-dev
    note "building $OUT/gloo_allreduce"
    "$CXX" -O2 -std=c++17 -o "$OUT/gloo_allreduce" "$SRC/gloo_allreduce.cc" -lgloo ||
        die "building against Gloo failed (libgloo-dev and libgloo0; skip Gloo with -l)"
fi
if want rcomm; then
    if [ ! -x "$BUILD/rcomm-run" ] || [ ! -x "$BUILD/rcomm-$COLL-perf" ]; then
        die "no $BUILD/rcomm-run or rcomm-$COLL-perf: build rcomm first (or -l \"gloo ompi\")"
    fi
fi

# --- sizes: two passes so small sizes get many iterations and large ones few ----
# Both passes walk the same sequence MINB * FACTOR^k <= MAXB for every library
# (each benchmark includes -e when it is on the sequence: 8 B x 2^k reaches
# 256 MiB). One repetition per run (-r 1): the rounds are the repetitions.
SMALL_E=0 LARGE_B=0 NSIZES=0
for ((s = MINB; s <= MAXB; s *= FACTOR)); do
    NSIZES=$((NSIZES + 1))
    if [ "$s" -lt "$SPLIT" ]; then
        SMALL_E=$s
    elif [ "$LARGE_B" -eq 0 ]; then
        LARGE_B=$s
    fi
done
PASSES=()
[ "$SMALL_E" -gt 0 ] && PASSES+=("-b $MINB -e $SMALL_E -f $FACTOR -n $SMALL_N -w $SMALL_W -r 1")
[ "$LARGE_B" -gt 0 ] && PASSES+=("-b $LARGE_B -e $MAXB -f $FACTOR -n $LARGE_N -w $LARGE_W -r 1")

# --- launchers: N ALGO, then the pass's options ----------------------------------
# rcomm's -a names an AllReduce algorithm; the other tools choose their own.
algo_opt() { [ "$COLL" = allreduce ] && echo "-a $1"; }
export RCOMM_TRANSPORT=tcp # rcomm: the TCP transport on 127.0.0.1 (its default)
# ... between hosts: the ranks of this one share memory unless -m is off.
if [ "$SHM" = 1 ]; then export RCOMM_SHM=auto; else export RCOMM_SHM=off; fi
launch_rcomm() {
    local n=$1 algo=$2
    shift 2
    # --no-ceiling: the loopback and memcpy ceilings are not in the summary,
    # and measuring them on every run would only add time.
    timeout -k 10 "$LIMIT" "$BUILD/rcomm-run" -n "$n" \
        "$BUILD/rcomm-$COLL-perf" $(algo_opt "$algo") --no-ceiling "$@"
}
launch_base() {
    local n=$1 algo=$2
    shift 2
    timeout -k 10 "$LIMIT" "$BASE/rcomm-run" -n "$n" \
        "$BASE/rcomm-$COLL-perf" $(algo_opt "$algo") --no-ceiling "$@"
}
launch_gloo() {
    local n=$1 algo=$2 store rc=0 r
    local pids=()
    shift 2
    # A fresh FileStore per job: stale keys would be read as this job's.
    store=$(mktemp -d "${TMPDIR:-/tmp}/gloo-store.XXXXXX") || return 1
    if [ -x "$BUILD/rcomm-run" ]; then
        GLOO_STORE_DIR=$store timeout -k 10 "$LIMIT" "$BUILD/rcomm-run" -n "$n" \
            "$OUT/gloo_allreduce" -a "$algo" "$@" || rc=$?
    else
        for ((r = 0; r < n; r++)); do
            RCOMM_RANK=$r RCOMM_SIZE=$n GLOO_STORE_DIR=$store \
                timeout -k 10 "$LIMIT" "$OUT/gloo_allreduce" -a "$algo" "$@" &
            pids+=($!)
        done
        for r in "${pids[@]}"; do
            wait "$r" || rc=$?
        done
    fi
    rm -rf "$store"
    return $rc
}
launch_ompi() {
    local n=$1
    shift 2
    # ob1 + tcp,self: the TCP BTL on lo, no vader (shared memory), no UCX;
    # with -m vader,self instead. Placement: each launcher's default (mpirun
    # binds up to 2 ranks to cores, rcomm-run gives each rank a share of the
    # cores when there are enough, for Gloo too).
    local btl="--mca btl tcp,self --mca btl_tcp_if_include lo"
    [ "$SHM" = 1 ] && btl="--mca btl vader,self"
    # shellcheck disable=SC2086 # OMPI_EXTRA and btl are lists of arguments
    timeout -k 10 "$LIMIT" mpirun --allow-run-as-root --oversubscribe -n "$n" \
        --mca pml ob1 $btl --mca oob_tcp_if_include lo ${OMPI_EXTRA:-} \
        "$OUT/mpi_coll" -C "$COLL" "$@"
}

# --- runs --------------------------------------------------------------------------
# A second run in the same second gets its own directory (two runs once
# shared one, and the second summary mixed in the first's tables).
mkdir -p "$OUT" || exit 1
RES_BASE=$OUT/results-$(date +%Y%m%d-%H%M%S)
RES=$RES_BASE
i=0
until mkdir "$RES" 2>/dev/null; do
    i=$((i + 1))
    [ "$i" -le 9 ] || die "cannot make a fresh results directory $RES_BASE(-N)"
    RES=$RES_BASE-$i
done
{
    echo "date:      $(date)"
    echo "host:      $(uname -srm), $(nproc) cores"
    echo "command:   $0 ${ORIG_ARGS[*]}"
    echo "network:   $NETNS"
    echo "ranks:     ${RANKS[*]}"
    echo "collective: $COLL"
    echo "libraries: $LIBS"
    echo "rcomm:     $RCOMM_ALGOS"
    echo "gloo:      $GLOO_ALGOS"
    [ -n "$BASE" ] && echo "base:      $BASE (auto), $(git -C "$BASE" describe --always 2>/dev/null)"
    want ompi && echo "ompi:      $(mpirun --version 2>&1 | head -n 1)"
    echo "sizes:     $NSIZES, $MINB B x $FACTOR^k <= $MAXB B"
    echo "rounds:    $ROUNDS (the summary takes the median per size)"
    for p in "${PASSES[@]}"; do echo "pass:      $p"; done
} >"$RES/settings.txt"

# One round: every rank count, library and algorithm once, in this order.
JOBS=()
for n in "${RANKS[@]}"; do
    if want rcomm; then for a in $RCOMM_ALGOS; do JOBS+=("$n rcomm $a"); done; fi
    if [ -n "$BASE" ]; then JOBS+=("$n base auto"); fi
    if want gloo; then for a in $GLOO_ALGOS; do JOBS+=("$n gloo $a"); done; fi
    if want ompi; then JOBS+=("$n ompi default"); fi
done

START=$SECONDS
k=0
total=$((ROUNDS * ${#JOBS[@]}))
for ((round = 1; round <= ROUNDS; round++)); do
    for job in "${JOBS[@]}"; do
        read -r n lib algo <<<"$job"
        k=$((k + 1))
        f=$RES/N$n-$lib-$algo-r$round
        t0=$SECONDS
        rc=0
        printf 'compare.sh: [%d/%d] round %d/%d N=%d %s %s ... ' "$k" "$total" "$round" \
            "$ROUNDS" "$n" "$lib" "$algo" >&2
        for p in "${PASSES[@]}"; do
            # shellcheck disable=SC2086 # $p is the pass's option list
            "launch_$lib" "$n" "$algo" $p >>"$f.txt" 2>>"$f.err" || rc=$?
            [ "$rc" -eq 0 ] || break
        done
        [ -s "$f.err" ] || rm -f "$f.err"
        case $rc in
        0) status=ok ;;
        77) status=skipped ;;
        124 | 137) status="timeout (${LIMIT}s)" ;;
        *) status="failed (exit $rc)" ;;
        esac
        echo "$round $n $lib $algo $((SECONDS - t0)) $status" >>"$RES/runs.txt"
        echo "$status, $((SECONDS - t0)) s" >&2
    done
    if [ "$round" -lt "$ROUNDS" ]; then
        el=$((SECONDS - START))
        note "round $round done after $el s; about $((el * (ROUNDS - round) / round)) s to go"
    fi
done
note "all runs: $((SECONDS - START)) s; raw tables in $RES"

# --- summary -------------------------------------------------------------------------
# Every table has rcomm-allreduce-perf's leading columns: size count type redop
# root algo time algbw busbw #wrong (rcomm's in-place half follows; ignored, so
# rcomm is compared out of place; Gloo's algorithm classes are in place only).
# Lines of rcomm-run carry a "[rank] " prefix; only rank 0 prints tables. Files
# are named N<ranks>-<lib>-<algo>-r<round>.txt. Per rank count, size, library
# and algorithm the time is the median over the rounds; per library the best
# algorithm's median is shown.
summarize() {
    awk -v netns="$NETNS" -v rounds="$ROUNDS" -v coll="$COLL" -v shm="$SHM" \
        -v split_b="$SPLIT" -v small_n="$SMALL_N" -v large_n="$LARGE_N" '
    FNR == 1 {
        f = FILENAME; sub(/.*\//, "", f); sub(/\.txt$/, "", f)
        round = f; sub(/.*-r/, "", round); sub(/-r[0-9]+$/, "", f)
        i = index(f, "-"); n = substr(f, 2, i - 2) + 0; f = substr(f, i + 1)
        i = index(f, "-"); lib = substr(f, 1, i - 1); algo = substr(f, i + 1)
    }
    { sub(/^\[[0-9]+\] /, "") }
    $1 ~ /^[0-9]+$/ && NF >= 10 && $7 ~ /^[0-9.]+$/ {
        size = $1 + 0
        if (!((n, size) in seen)) { seen[n, size] = 1; nsz[n]++; sz[n, nsz[n]] = size }
        if (!(n in seenn)) { seenn[n] = 1; nn++; ns[nn] = n }
        k = n SUBSEP size SUBSEP lib SUBSEP algo
        if (!(k in cnt)) {
            cnt[k] = 0; nk++; key[nk] = k
            kn[nk] = n; ksize[nk] = size; klib[nk] = lib; kalgo[nk] = algo
            label[k] = algo == "auto" ? "auto:" $6 : algo
        }
        if ($10 + 0 > 0) {
            bad[k] = 1
            wrong[++nwrong] = sprintf("N=%d %s %s size %d round %d: %d wrong", n, lib,
                label[k], size, round, $10)
            next
        }
        tm[k, ++cnt[k]] = $7 + 0
    }
    function median(k, c,    i, j, x) {
        for (i = 1; i <= c; i++) v[i] = tm[k, i]
        for (i = 2; i <= c; i++)
            for (j = i; j > 1 && v[j] < v[j - 1]; j--) { x = v[j]; v[j] = v[j - 1]; v[j - 1] = x }
        return c % 2 ? v[(c + 1) / 2] : (v[c / 2] + v[c / 2 + 1]) / 2
    }
    function bw(n, size, t) { return size / (t * 1e-6) / 1e9 * 2 * (n - 1) / n }
    # "!" after a time timed over less than 2 ms in all (-n calls of it): the
    # first calls and the noise of the host weigh too much there. With -n 100,
    # 16-byte allreduces over shared memory read 0.55 us for Open MPI in one
    # run and 0.20 in the next; 5000 calls gave 0.23 in five.
    function calls(size) { return size < split_b ? small_n : large_n }
    function mark(t) { if (t * calls(SIZE) >= 2000) return ""; short_window = 1; return "!" }
    function cell(k,    m) {
        if (!(k in best)) return sprintf("%-16s %10s %7s", "-", "-", "-")
        m = mark(best[k])
        return sprintf("%-16s %10s %7.3f", who[k], sprintf("%.2f%s", best[k], m),
            bw(N, SIZE, best[k]))
    }
    # Fewer rounds than asked (a run failed or timed out): "*" after the name.
    function name(k) { return label[k] (cnt[k] < rounds ? "*" : "") }
    END {
        for (j = 1; j <= nk; j++) {
            k = key[j]
            if ((k in bad) || cnt[k] == 0) continue
            m = median(k, cnt[k])
            if (cnt[k] < rounds) short = 1
            kb = kn[j] SUBSEP ksize[j] SUBSEP klib[j]
            if (!(kb in best) || m < best[kb]) { best[kb] = m; who[kb] = name(k) }
            if (klib[j] == "base") { hasbase = 1; continue }
            if (klib[j] != "rcomm") continue
            kr = kn[j] SUBSEP ksize[j]
            if (kalgo[j] == "auto") {
                auto[kr] = m; awho[kr] = name(k); hasauto = 1
            } else {
                hasforced = 1
                if (!(kr in forced) || m < forced[kr]) { forced[kr] = m; fwho[kr] = name(k) }
            }
        }
        autocols = hasauto && hasforced
        basecols = hasauto && hasbase
        for (a = 2; a <= nn; a++)
            for (b = a; b > 1 && ns[b] < ns[b - 1]; b--) { x = ns[b]; ns[b] = ns[b - 1]; ns[b - 1] = x }
        title = coll == "allreduce" ? "AllReduce f32 sum" \
                : coll == "reduce" ? "Reduce f32 sum to rank 0" \
                : coll == "broadcast" ? "Broadcast f32 from rank 0" : "All-to-all f32"
        factor = coll == "allreduce" ? "2(N-1)/N" : coll == "reduce" || coll == "broadcast" ? "1" : "(N-1)/N"
        printf "# %s over %s (%s): best result per library\n", title, shm ? "shared memory (rcomm RCOMM_SHM=auto, Open MPI vader; Gloo TCP loopback)" : "TCP loopback", netns
        printf "# time in us: per run the mean of -n calls on the slowest rank; the median over\n"
        printf "#   %d interleaved rounds; busbw = size/time * %s in GB/s\n", rounds, factor
        printf "# bw-ratio = rcomm busbw / best other busbw (>1: rcomm faster); vs = that other\n"
        printf "# t-ratio  = rcomm time / Open MPI time (<1: rcomm faster)\n"
        if (autocols)
            printf "# auto = rcomm -a auto (its pick); forced = rcomm best of the other -a;\n" \
                "#   auto/best = auto time / forced time (>1: auto slower than its best choice)\n"
        if (basecols)
            printf "# base = rcomm -a auto of the -B build; now/base = auto time / base time\n"
        for (a = 1; a <= nn; a++) {
            N = ns[a]
            for (c = 2; c <= nsz[N]; c++)
                for (b = c; b > 1 && sz[N, b] < sz[N, b - 1]; b--) {
                    x = sz[N, b]; sz[N, b] = sz[N, b - 1]; sz[N, b - 1] = x
                }
            printf "\n# N=%d ranks\n", N
            printf "%11s  %-16s %10s %7s  %-16s %10s %7s  %-16s %10s %7s  %8s %-5s %8s",
                "size(B)", "rcomm", "time", "busbw", "gloo", "time", "busbw",
                "ompi", "time", "busbw", "bw-ratio", "vs", "t-ratio"
            if (autocols)
                printf "  %-16s %10s  %-10s %10s %9s", "auto", "time", "forced", "time",
                    "auto/best"
            if (basecols) printf "  %-16s %10s %9s", "base", "time", "now/base"
            printf "\n"
            for (c = 1; c <= nsz[N]; c++) {
                SIZE = sz[N, c]
                kr = N SUBSEP SIZE SUBSEP "rcomm"; kg = N SUBSEP SIZE SUBSEP "gloo"
                ko = N SUBSEP SIZE SUBSEP "ompi"
                other = ""
                if (kg in best) other = "gloo"
                if ((ko in best) && (other == "" || best[ko] < best[kg])) other = "ompi"
                ratio = "-"; vs = "-"; tr = "-"
                if ((kr in best) && other != "") {
                    ratio = sprintf("%.2f", best[N SUBSEP SIZE SUBSEP other] / best[kr]); vs = other
                }
                if ((kr in best) && (ko in best)) tr = sprintf("%.2f", best[kr] / best[ko])
                printf "%11d  %s  %s  %s  %8s %-5s %8s", SIZE, cell(kr), cell(kg), cell(ko),
                    ratio, vs, tr
                if (autocols) {
                    ka = N SUBSEP SIZE
                    at = ka in auto ? sprintf("%.2f", auto[ka]) : "-"
                    ft = ka in forced ? sprintf("%.2f", forced[ka]) : "-"
                    ar = (ka in auto) && (ka in forced) ? sprintf("%.2f", auto[ka] / forced[ka]) : "-"
                    printf "  %-16s %10s  %-10s %10s %9s", ka in auto ? awho[ka] : "-", at,
                        ka in forced ? fwho[ka] : "-", ft, ar
                }
                if (basecols) {
                    kb = N SUBSEP SIZE SUBSEP "base"; ka = N SUBSEP SIZE
                    printf "  %-16s %10s %9s", kb in best ? who[kb] : "-",
                        kb in best ? sprintf("%.2f", best[kb]) : "-",
                        (kb in best) && (ka in auto) ? sprintf("%.2f", auto[ka] / best[kb]) : "-"
                }
                printf "\n"
            }
        }
        if (short)
            printf "\n# *: fewer than %d rounds (see the runs that did not complete)\n", rounds
        if (short_window)
            printf "\n# !: timed over less than 2 ms in all (-n/-N calls x time): too short to\n" \
                "#   trust; rerun those sizes with more calls (-n 5000 -w 500 for latencies\n" \
                "#   under 10 us)\n"
        if (nwrong) {
            printf "\n# results with wrong elements (left out of the table above):\n"
            for (i = 1; i <= nwrong; i++) printf "#   %s\n", wrong[i]
        }
    }' "$RES"/N*.txt
    if grep -qv ' ok$' "$RES/runs.txt"; then
        echo
        echo "# runs that did not complete (round N lib algo seconds status):"
        grep -v ' ok$' "$RES/runs.txt" | sed 's/^/#   /'
    fi
}
if ls "$RES"/N*.txt >/dev/null 2>&1; then
    summarize | tee "$RES/summary.txt"
else
    die "no results in $RES"
fi
