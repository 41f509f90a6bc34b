#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
#
# compare.sh: AllReduce (f32 sum) of rcomm, Gloo and Open MPI on this host,
# all over TCP on loopback, one library after the other, then a side-by-side
# table of the best result of each library per rank count and size.
#
#   perf/compare/compare.sh [options] BUILD_DIR [N ...]      (N: 2 4 by default)
#
# Needs bash, coreutils and awk; mpicc/mpirun for Open MPI, g++ and libgloo
# for Gloo; BUILD_DIR/rcomm-run and BUILD_DIR/rcomm-allreduce-perf for rcomm.
# See README.md next to this script.
set -u

usage() {
    cat <<'EOF'
usage: compare.sh [options] BUILD_DIR [N ...]
Builds BUILD_DIR/compare/{mpi_allreduce,gloo_allreduce}, runs rcomm, Gloo and
Open MPI AllReduce benchmarks for each rank count N (default: 2 4), saves the
raw tables in BUILD_DIR/compare/results-TIMESTAMP/ and prints a summary.
  -b SIZE    smallest message (default 8; K, M, G suffixes)
  -e SIZE    largest message (default 256M; with -f 4 the last size is 128M)
  -f N       size factor (default 4)
  -s SIZE    sizes below this are "small", the others "large" (default 1M)
  -n/-w/-r   iterations / warm-up / repetitions for small sizes (default 100/10/3)
  -N/-W/-R   the same for large sizes (default 5/1/3)
  -a ALGOS   rcomm algorithms (default "ring butterfly auto")
  -g ALGOS   Gloo algorithms (default "ring ring_chunked halving_doubling bcube
             new_ring new_bcube")
  -l LIBS    libraries to run (default "rcomm gloo ompi")
  -t SECS    time limit per run (default 600)
  -i MODE    run in a private network namespace with only lo: auto (if
             "unshare -n" works), yes, no (default auto)
  -h         this help
Environment: MPICC, CXX (compilers), OMPI_EXTRA (more mpirun arguments).
EOF
}

die() { echo "compare.sh: $*" >&2; exit 1; }
note() { echo "compare.sh: $*" >&2; }

# --- options -----------------------------------------------------------------
ORIG_ARGS=("$@")
MINB=8 MAXB=256M FACTOR=4 SPLIT=1M
SMALL_N=100 SMALL_W=10 SMALL_R=3
LARGE_N=5 LARGE_W=1 LARGE_R=3
RCOMM_ALGOS="ring butterfly auto"
GLOO_ALGOS="ring ring_chunked halving_doubling bcube new_ring new_bcube"
LIBS="rcomm gloo ompi"
LIMIT=600
ISOLATE=auto
while getopts "b:e:f:s:n:w:r:N:W:R:a:g:l:t:i:h" opt; do
    case $opt in
    b) MINB=$OPTARG ;;
    e) MAXB=$OPTARG ;;
    f) FACTOR=$OPTARG ;;
    s) SPLIT=$OPTARG ;;
    n) SMALL_N=$OPTARG ;;
    w) SMALL_W=$OPTARG ;;
    r) SMALL_R=$OPTARG ;;
    N) LARGE_N=$OPTARG ;;
    W) LARGE_W=$OPTARG ;;
    R) LARGE_R=$OPTARG ;;
    a) RCOMM_ALGOS=$OPTARG ;;
    g) GLOO_ALGOS=$OPTARG ;;
    l) LIBS=$OPTARG ;;
    t) LIMIT=$OPTARG ;;
    i) ISOLATE=$OPTARG ;;
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
for v in FACTOR SMALL_N SMALL_W SMALL_R LARGE_N LARGE_W LARGE_R LIMIT; do
    is_uint "${!v}" || die "bad number '${!v}' for $v"
done
for n in "${RANKS[@]}"; do
    if ! is_uint "$n" || [ "$n" -lt 2 ]; then die "bad rank count '$n' (at least 2)"; fi
done
if [ "$MINB" -lt 1 ] || [ "$MINB" -gt "$MAXB" ]; then die "need 1 <= -b <= -e"; fi
[ "$FACTOR" -ge 2 ] || die "-f must be at least 2"
for l in $LIBS; do
    case $l in rcomm | gloo | ompi) ;; *) die "unknown library '$l' in -l" ;; esac
done
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
    note "no private network namespace (needs root, unshare and ip); Open MPI listens on all addresses"
fi

# --- build -----------------------------------------------------------------------
SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd) || exit 1
OUT=$BUILD/compare
mkdir -p "$OUT" || exit 1
if want ompi; then
    note "building $OUT/mpi_allreduce"
    "${MPICC:-mpicc}" -O2 -o "$OUT/mpi_allreduce" "$SRC/mpi_allreduce.c" ||
        die "mpicc failed (skip Open MPI with -l)"
fi
if want gloo; then
    note "building $OUT/gloo_allreduce"
    "${CXX:-g++}" -O2 -std=c++17 -o "$OUT/gloo_allreduce" "$SRC/gloo_allreduce.cc" -lgloo ||
        die "building against Gloo failed (skip it with -l)"
fi
if want rcomm; then
    if [ ! -x "$BUILD/rcomm-run" ] || [ ! -x "$BUILD/rcomm-allreduce-perf" ]; then
        die "no $BUILD/rcomm-run or rcomm-allreduce-perf: build rcomm first (or -l \"gloo ompi\")"
    fi
fi

# --- sizes: two passes so small sizes get many iterations and large ones few ----
# Both passes walk the same sequence MINB * FACTOR^k <= MAXB for every library.
SMALL_E=0 LARGE_B=0
for ((s = MINB; s <= MAXB; s *= FACTOR)); do
    if [ "$s" -lt "$SPLIT" ]; then
        SMALL_E=$s
    elif [ "$LARGE_B" -eq 0 ]; then
        LARGE_B=$s
    fi
done
PASSES=()
[ "$SMALL_E" -gt 0 ] && PASSES+=("-b $MINB -e $SMALL_E -f $FACTOR -n $SMALL_N -w $SMALL_W -r $SMALL_R")
[ "$LARGE_B" -gt 0 ] && PASSES+=("-b $LARGE_B -e $MAXB -f $FACTOR -n $LARGE_N -w $LARGE_W -r $LARGE_R")

# --- launchers: N ALGO, then the pass's options ----------------------------------
export RCOMM_TRANSPORT=tcp # rcomm: the TCP transport on 127.0.0.1 (its default)
launch_rcomm() {
    local n=$1 algo=$2
    shift 2
    timeout -k 10 "$LIMIT" "$BUILD/rcomm-run" -n "$n" \
        "$BUILD/rcomm-allreduce-perf" -a "$algo" "$@"
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
    # ob1 + tcp,self: the TCP BTL on lo, no vader (shared memory), no UCX.
    # --bind-to none: the other libraries are not pinned either.
    # shellcheck disable=SC2086 # OMPI_EXTRA is a list of arguments
    timeout -k 10 "$LIMIT" mpirun --allow-run-as-root --oversubscribe -n "$n" --bind-to none \
        --mca pml ob1 --mca btl tcp,self --mca btl_tcp_if_include lo \
        --mca oob_tcp_if_include lo ${OMPI_EXTRA:-} "$OUT/mpi_allreduce" "$@"
}

# --- runs --------------------------------------------------------------------------
RES=$OUT/results-$(date +%Y%m%d-%H%M%S)
mkdir -p "$RES" || exit 1
{
    echo "date:      $(date)"
    echo "host:      $(uname -srm), $(nproc) cores"
    echo "command:   $0 ${ORIG_ARGS[*]}"
    echo "network:   $NETNS"
    echo "ranks:     ${RANKS[*]}"
    echo "libraries: $LIBS"
    echo "rcomm:     $RCOMM_ALGOS"
    echo "gloo:      $GLOO_ALGOS"
    want ompi && echo "ompi:      $(mpirun --version 2>&1 | head -n 1)"
    for p in "${PASSES[@]}"; do echo "pass:      $p"; done
} >"$RES/settings.txt"

JOBS=()
for n in "${RANKS[@]}"; do
    if want rcomm; then for a in $RCOMM_ALGOS; do JOBS+=("$n rcomm $a"); done; fi
    if want gloo; then for a in $GLOO_ALGOS; do JOBS+=("$n gloo $a"); done; fi
    if want ompi; then JOBS+=("$n ompi default"); fi
done

START=$SECONDS
k=0
for job in "${JOBS[@]}"; do
    read -r n lib algo <<<"$job"
    k=$((k + 1))
    f=$RES/N$n-$lib-$algo
    t0=$SECONDS
    rc=0
    printf 'compare.sh: [%d/%d] N=%d %s %s ... ' "$k" "${#JOBS[@]}" "$n" "$lib" "$algo" >&2
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
    echo "$n $lib $algo $((SECONDS - t0)) $status" >>"$RES/runs.txt"
    echo "$status, $((SECONDS - t0)) s" >&2
done
note "all runs: $((SECONDS - START)) s; raw tables in $RES"

# --- summary -------------------------------------------------------------------------
# Every table has rcomm-allreduce-perf's leading columns: size count type redop
# root algo time algbw busbw #wrong (rcomm's in-place half follows; ignored, so
# rcomm is compared out of place; Gloo's algorithm classes are in place only).
# Lines of rcomm-run carry a "[rank] " prefix; only rank 0 prints tables.
summarize() {
    awk -v netns="$NETNS" '
    FNR == 1 {
        f = FILENAME; sub(/.*\//, "", f); sub(/\.txt$/, "", f)
        i = index(f, "-"); n = substr(f, 2, i - 2) + 0; f = substr(f, i + 1)
        i = index(f, "-"); lib = substr(f, 1, i - 1); algo = substr(f, i + 1)
    }
    { sub(/^\[[0-9]+\] /, "") }
    $1 ~ /^[0-9]+$/ && NF >= 10 && $7 ~ /^[0-9.]+$/ {
        size = $1 + 0; t = $7 + 0
        label = algo == "auto" ? "auto:" $6 : algo
        if ($10 + 0 > 0) {
            wrong[++nwrong] = sprintf("N=%d %s %s size %d: %d wrong", n, lib, label, size, $10)
            next
        }
        k = n SUBSEP size SUBSEP lib
        if (!(k in best) || t < best[k]) { best[k] = t; who[k] = label }
        if (!((n, size) in seen)) { seen[n, size] = 1; nsz[n]++; sz[n, nsz[n]] = size }
        if (!(n in seenn)) { seenn[n] = 1; nn++; ns[nn] = n }
    }
    function bw(n, size, t) { return size / (t * 1e-6) / 1e9 * 2 * (n - 1) / n }
    function cell(k,    s) {
        if (!(k in best)) return sprintf("%-16s %10s %7s", "-", "-", "-")
        return sprintf("%-16s %10.2f %7.3f", who[k], best[k], bw(N, SIZE, best[k]))
    }
    END {
        for (a = 2; a <= nn; a++)
            for (b = a; b > 1 && ns[b] < ns[b - 1]; b--) { x = ns[b]; ns[b] = ns[b - 1]; ns[b - 1] = x }
        printf "# AllReduce f32 sum over TCP loopback (%s): best result per library\n", netns
        printf "# time in us (slowest rank, median of reps); busbw = size/time * 2(N-1)/N in GB/s\n"
        printf "# bw ratio = rcomm busbw / best other busbw (>1: rcomm faster); vs = that other\n"
        printf "# t ratio  = rcomm time / Open MPI time (<1: rcomm faster)\n"
        for (a = 1; a <= nn; a++) {
            N = ns[a]
            for (c = 2; c <= nsz[N]; c++)
                for (b = c; b > 1 && sz[N, b] < sz[N, b - 1]; b--) {
                    x = sz[N, b]; sz[N, b] = sz[N, b - 1]; sz[N, b - 1] = x
                }
            printf "\n# N=%d ranks\n", N
            printf "%11s  %-16s %10s %7s  %-16s %10s %7s  %-16s %10s %7s  %8s %-5s %8s\n",
                "size(B)", "rcomm", "time", "busbw", "gloo", "time", "busbw",
                "ompi", "time", "busbw", "bw-ratio", "vs", "t-ratio"
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
                printf "%11d  %s  %s  %s  %8s %-5s %8s\n", SIZE, cell(kr), cell(kg), cell(ko),
                    ratio, vs, tr
            }
        }
        if (nwrong) {
            printf "\n# results with wrong elements (left out of the table above):\n"
            for (i = 1; i <= nwrong; i++) printf "#   %s\n", wrong[i]
        }
    }' "$RES"/N*.txt
    if grep -qv ' ok$' "$RES/runs.txt"; then
        echo
        echo "# runs that did not complete (N lib algo seconds status):"
        grep -v ' ok$' "$RES/runs.txt" | sed 's/^/#   /'
    fi
}
if ls "$RES"/N*.txt >/dev/null 2>&1; then
    summarize | tee "$RES/summary.txt"
else
    die "no results in $RES"
fi
