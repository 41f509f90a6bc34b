/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * rcomm-allreduce-perf: AllReduce bandwidth and latency in nccl-tests'
 * all_reduce_perf format. Run one process per rank:
 *   rcomm-run -n 4 rcomm-allreduce-perf -b 8 -e 256M -f 4
 *
 * time  : microseconds per call, the slowest rank's mean over -n iterations
 *         (median over -r repetitions)
 * algbw : size / time
 * busbw : algbw * 2 (p-1) / p, the per-link rate that a bandwidth-optimal
 *         algorithm needs, comparable across rank counts (nccl-tests'
 *         definition)
 * #wrong: elements that differ from the exact expected result (-c 1)
 */
#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "rcomm.h"
#include "perf/exact_inputs.h"

typedef struct {
    size_t minb, maxb, factor;
    int iters, warmup, check, reps;
    rcomm_dtype_t dtype;
    rcomm_op_t op;
    rcomm_algo_t algo;
} opts_t;

static rcomm_comm_t *comm;
static int rank, size;

static void die(const char *what)
{
    fprintf(stderr, "rcomm-allreduce-perf: rank %d: %s: %s\n", rank, what,
            rcomm_last_error());
    exit(1);
}

static void usage(FILE *f)
{
    fprintf(f,
            "usage: rcomm-allreduce-perf [options]   (one process per rank, e.g. "
            "under rcomm-run)\n"
            "  -b SIZE   smallest message in bytes (default 8; K, M, G suffixes)\n"
            "  -e SIZE   largest message in bytes (default 256M)\n"
            "  -f N      multiply the size by N each step (default 2)\n"
            "  -n N      timed iterations per size (default 20)\n"
            "  -w N      warm-up iterations per size (default 5)\n"
            "  -r N      repetitions; the median time is reported (default 1)\n"
            "  -c 0|1    check results element by element (default 1)\n"
            "  -d TYPE   f32 f64 f16 bf16 i32 i64 u8 (default f32)\n"
            "  -o OP     sum prod min max avg (default sum)\n"
            "  -a ALGO   auto ring butterfly rd (default auto)\n");
}

static size_t parse_size(const char *s)
{
    char *end;
    double v = strtod(s, &end);
    switch (*end) {
    case 'K': case 'k': v *= 1024; end++; break;
    case 'M': case 'm': v *= 1024 * 1024; end++; break;
    case 'G': case 'g': v *= 1024.0 * 1024 * 1024; end++; break;
    }
    if (end == s || *end || v < 0) {
        fprintf(stderr, "rcomm-allreduce-perf: bad size '%s'\n", s);
        usage(stderr);
        exit(2);
    }
    return (size_t)v;
}

static int parse_int(const char *s, int min)
{
    char *end;
    long v = strtol(s, &end, 10);
    if (end == s || *end || v < min || v > 1000000000) {
        fprintf(stderr, "rcomm-allreduce-perf: bad number '%s'\n", s);
        usage(stderr);
        exit(2);
    }
    return (int)v;
}

static int lookup(const char *s, const char *(*name)(int), int n, const char *what)
{
    for (int i = 0; i < n; i++)
        if (strcmp(s, name(i)) == 0)
            return i;
    fprintf(stderr, "rcomm-allreduce-perf: unknown %s '%s'\n", what, s);
    usage(stderr);
    exit(2);
}

static const char *dtype_name(int i) { return rcomm_dtype_name((rcomm_dtype_t)i); }
static const char *op_name(int i) { return rcomm_op_name((rcomm_op_t)i); }
static const char *algo_name(int i) { return rcomm_algo_name((rcomm_algo_t)i); }

static void parse(int argc, char **argv, opts_t *o)
{
    int c;

    *o = (opts_t){8, 256u << 20, 2, 20, 5, 1, 1, RCOMM_F32, RCOMM_SUM, RCOMM_ALGO_AUTO};
    while ((c = getopt(argc, argv, "b:e:f:n:w:c:r:d:o:a:h")) != -1) {
        switch (c) {
        case 'b': o->minb = parse_size(optarg); break;
        case 'e': o->maxb = parse_size(optarg); break;
        case 'f': o->factor = (size_t)parse_int(optarg, 2); break;
        case 'n': o->iters = parse_int(optarg, 1); break;
        case 'w': o->warmup = parse_int(optarg, 0); break;
        case 'c': o->check = parse_int(optarg, 0); break;
        case 'r': o->reps = parse_int(optarg, 1); break;
        case 'd': o->dtype = lookup(optarg, dtype_name, RCOMM_DTYPE_COUNT, "datatype"); break;
        case 'o': o->op = lookup(optarg, op_name, RCOMM_OP_COUNT, "op"); break;
        case 'a': o->algo = lookup(optarg, algo_name, RCOMM_ALGO_COUNT, "algorithm"); break;
        case 'h': usage(stdout); exit(0);
        default: usage(stderr); exit(2);
        }
    }
    if (optind < argc || o->minb > o->maxb) {
        fprintf(stderr, "rcomm-allreduce-perf: %s\n",
                optind < argc ? "unexpected argument" : "-b is larger than -e");
        usage(stderr);
        exit(2);
    }
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Elements that differ from the exact expected result. */
static size_t count_wrong(const void *got, size_t n, const opts_t *o)
{
    size_t es = rcomm_dtype_size(o->dtype), wrong = 0;
    unsigned char want[8];

    for (size_t i = 0; i < n; i++) {
        exact_expect(want, i, 0, o->op, o->dtype, size);
        wrong += memcmp((const char *)got + i * es, want, es) != 0;
    }
    return wrong;
}

static double median(double *v, int n)
{
    for (int i = 1; i < n; i++)
        for (int j = i; j > 0 && v[j] < v[j - 1]; j--) {
            double t = v[j];
            v[j] = v[j - 1];
            v[j - 1] = t;
        }
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

/* Mean seconds per call on the slowest rank, median over repetitions. */
static double time_it(const opts_t *o, const void *sbuf, void *rbuf, size_t n)
{
    double t[64];
    int reps = o->reps < 64 ? o->reps : 64;

    for (int i = 0; i < o->warmup; i++)
        if (rcomm_allreduce_with(comm, sbuf, rbuf, n, o->dtype, o->op, o->algo))
            die("allreduce");
    for (int r = 0; r < reps; r++) {
        if (rcomm_barrier(comm) != RCOMM_OK)
            die("barrier");
        double t0 = now_s();
        for (int i = 0; i < o->iters; i++)
            if (rcomm_allreduce_with(comm, sbuf, rbuf, n, o->dtype, o->op, o->algo))
                die("allreduce");
        t[r] = (now_s() - t0) / o->iters;
        if (rcomm_allreduce(comm, RCOMM_IN_PLACE, &t[r], 1, RCOMM_F64, RCOMM_MAX))
            die("allreduce of timings");
    }
    return median(t, reps);
}

static size_t check(const opts_t *o, void *sbuf, void *rbuf, size_t n, int in_place)
{
    unsigned long long wrong;

    if (!o->check)
        return 0;
    exact_fill(sbuf, n, rank, o->op, o->dtype);
    if (rcomm_allreduce_with(comm, in_place ? RCOMM_IN_PLACE : sbuf,
                             in_place ? sbuf : rbuf, n, o->dtype, o->op, o->algo))
        die("allreduce");
    wrong = count_wrong(in_place ? sbuf : rbuf, n, o);
    if (rcomm_allreduce(comm, RCOMM_IN_PLACE, &wrong, 1, RCOMM_I64, RCOMM_SUM))
        die("allreduce of #wrong");
    return (size_t)wrong;
}

int main(int argc, char **argv)
{
    opts_t o;
    size_t es, wrong_total = 0;
    double bw_sum = 0;
    int nsizes = 0;
    char *sbuf, *rbuf;
    const char *tp;

    parse(argc, argv, &o);
    if (rcomm_comm_create_from_env(&comm) != RCOMM_OK)
        die("creating the communicator");
    rcomm_comm_rank(comm, &rank);
    rcomm_comm_size(comm, &size);
    rcomm_comm_transport(comm, &tp);
    es = rcomm_dtype_size(o.dtype);
    sbuf = calloc(1, o.maxb + es);
    rbuf = calloc(1, o.maxb + es);
    if (!sbuf || !rbuf)
        die("allocating buffers");
    if (rank == 0) {
        printf("# rcomm-allreduce-perf: %d ranks, transport %s, algo %s, iters %d, "
               "warmup %d, reps %d\n#\n", size, tp, rcomm_algo_name(o.algo), o.iters,
               o.warmup, o.reps);
        printf("# %10s %12s %6s %6s %5s %9s   %9s %7s %7s %6s   %9s %7s %7s %6s\n", "", "",
               "", "", "", "", "out-of-place", "", "", "", "in-place", "", "", "");
        printf("# %10s %12s %6s %6s %5s %9s   %9s %7s %7s %6s   %9s %7s %7s %6s\n", "size",
               "count", "type", "redop", "root", "algo", "time", "algbw", "busbw",
               "#wrong", "time", "algbw", "busbw", "#wrong");
        printf("# %10s %12s %6s %6s %5s %9s   %9s %7s %7s %6s   %9s %7s %7s %6s\n", "(B)",
               "(elements)", "", "", "", "", "(us)", "(GB/s)", "(GB/s)", "", "(us)",
               "(GB/s)", "(GB/s)", "");
    }
    for (size_t bytes = o.minb; bytes <= o.maxb; bytes *= o.factor) {
        size_t n = bytes / es;
        double t[2], algbw[2];
        size_t wrong[2];
        rcomm_algo_t used = o.algo;

        if (n == 0) {
            if (bytes == 0)
                bytes = 1; /* keep multiplying */
            continue;
        }
        if (used == RCOMM_ALGO_AUTO)
            rcomm_allreduce_algo(comm, n, o.dtype, &used);
        for (int ip = 0; ip < 2; ip++) {
            wrong[ip] = check(&o, sbuf, rbuf, n, ip);
            t[ip] = time_it(&o, ip ? RCOMM_IN_PLACE : sbuf, ip ? sbuf : rbuf, n);
            algbw[ip] = (double)(n * es) / t[ip] / 1e9;
            wrong_total += wrong[ip];
        }
        bw_sum += algbw[1] * 2.0 * (size - 1) / size;
        nsizes++;
        if (rank == 0)
            printf("  %10zu %12zu %6s %6s %5d %9s   %9.2f %7.3f %7.3f %6zu   %9.2f %7.3f "
                   "%7.3f %6zu\n",
                   n * es, n, rcomm_dtype_name(o.dtype), rcomm_op_name(o.op), -1,
                   rcomm_algo_name(used), t[0] * 1e6, algbw[0],
                   algbw[0] * 2.0 * (size - 1) / size, wrong[0], t[1] * 1e6, algbw[1],
                   algbw[1] * 2.0 * (size - 1) / size, wrong[1]);
        fflush(stdout);
        if (bytes == 0)
            break;
    }
    if (rank == 0) {
        printf("# Out of bounds values : %zu %s\n", wrong_total, wrong_total ? "FAILED" : "OK");
        printf("# Avg bus bandwidth    : %g\n#\n", nsizes ? bw_sum / nsizes : 0.0);
    }
    free(sbuf);
    free(rbuf);
    if (rcomm_comm_destroy(comm) != RCOMM_OK)
        die("destroy");
    return wrong_total ? 1 : 0;
}
