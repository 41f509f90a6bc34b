/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * mpi_coll: MPI_Allreduce, MPI_Reduce (to rank 0) or MPI_Alltoall (-C; float
 * sum) baseline in the table format of rcomm's collective perf tools, to
 * compare rcomm against the MPI installed on this host.
 *   mpirun --allow-run-as-root --oversubscribe -n 4 --mca pml ob1 \
 *       --mca btl tcp,self --mca btl_tcp_if_include lo ./mpi_coll -b 8 -e 256M -f 2
 * The sizes are -b times -f^k up to and including -e, as in the rcomm tools:
 * the line above runs every power of two, 8 B to 256 MiB. As in nccl-tests,
 * size is the vector for allreduce and reduce, and for alltoall what each
 * rank sends in all (size / p to each rank, rounded down to whole floats).
 *
 * Timing is rcomm-allreduce-perf's: per repetition a barrier, then -n calls
 * timed together; the mean per call, maxed over ranks; the median over -r
 * repetitions. Out-of-place by default (-i: MPI_IN_PLACE). The columns are
 * those of rcomm-allreduce-perf's out-of-place half, root and algo included
 * (algo "default": Open MPI's coll component picks it), so one awk script
 * parses all the tables.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <mpi.h>

typedef enum { C_ALLREDUCE, C_REDUCE, C_ALLTOALL } coll_t;
static const char *const coll_names[] = {"allreduce", "reduce", "alltoall"};
static const char *const mpi_names[] = {"MPI_Allreduce", "MPI_Reduce", "MPI_Alltoall"};

typedef struct {
    size_t minb, maxb, factor;
    int iters, warmup, check, reps, in_place;
    coll_t coll;
} opts_t;

static int rank, size;

static void usage(FILE *f)
{
    fprintf(f, "usage: mpi_coll [options]   (under mpirun)\n"
               "  -C COLL   allreduce, reduce (root 0) or alltoall (default allreduce)\n"
               "  -b SIZE   smallest message in bytes (default 8; K, M, G suffixes)\n"
               "  -e SIZE   largest message in bytes (default 256M)\n"
               "  -f N      multiply the size by N each step (default 2)\n"
               "  -n N      timed iterations per size (default 20)\n"
               "  -w N      warm-up iterations per size (default 5)\n"
               "  -r N      repetitions; the median time is reported (default 1)\n"
               "  -c 0|1    check results element by element (default 1)\n"
               "  -i        in place (MPI_IN_PLACE) instead of out of place\n");
}

static void bad(const char *what, const char *s)
{
    if (rank == 0) {
        fprintf(stderr, "mpi_coll: bad %s '%s'\n", what, s);
        usage(stderr);
    }
    MPI_Finalize();
    exit(2);
}

static size_t parse_size(const char *s)
{
    char *end;
    double v = strtod(s, &end);
    switch (*end) {
    case 'K':
    case 'k':
        v *= 1024;
        end++;
        break;
    case 'M':
    case 'm':
        v *= 1024 * 1024;
        end++;
        break;
    case 'G':
    case 'g':
        v *= 1024.0 * 1024 * 1024;
        end++;
        break;
    }
    if (end == s || *end || v < 0)
        bad("size", s);
    return (size_t)v;
}

static int parse_int(const char *s, int min)
{
    char *end;
    long v = strtol(s, &end, 10);
    if (end == s || *end || v < min || v > 1000000000)
        bad("number", s);
    return (int)v;
}

static void parse(int argc, char **argv, opts_t *o)
{
    int c;

    *o = (opts_t){8, 256u << 20, 2, 20, 5, 1, 1, 0, C_ALLREDUCE};
    while ((c = getopt(argc, argv, "C:b:e:f:n:w:c:r:ih")) != -1) {
        switch (c) {
        case 'C':
            for (o->coll = C_ALLREDUCE; strcmp(optarg, coll_names[o->coll]) != 0;)
                if (++o->coll > C_ALLTOALL)
                    bad("collective", optarg);
            break;
        case 'b': o->minb = parse_size(optarg); break;
        case 'e': o->maxb = parse_size(optarg); break;
        case 'f': o->factor = (size_t)parse_int(optarg, 2); break;
        case 'n': o->iters = parse_int(optarg, 1); break;
        case 'w': o->warmup = parse_int(optarg, 0); break;
        case 'c': o->check = parse_int(optarg, 0); break;
        case 'r': o->reps = parse_int(optarg, 1); break;
        case 'i': o->in_place = 1; break;
        case 'h':
            if (rank == 0)
                usage(stdout);
            MPI_Finalize();
            exit(0);
        default: bad("option", argv[optind - 1]);
        }
    }
    if (optind < argc)
        bad("argument", argv[optind]);
    if (o->minb > o->maxb)
        bad("range (-b > -e)", argv[0]);
}

static void die(const char *what, int rc)
{
    char msg[MPI_MAX_ERROR_STRING];
    int len = 0;

    MPI_Error_string(rc, msg, &len);
    fprintf(stderr, "mpi_coll: rank %d: %s: %s\n", rank, what, msg);
    MPI_Abort(MPI_COMM_WORLD, 1);
}

#define CHECK(call, what)                                                                \
    do {                                                                                 \
        int rc_ = (call);                                                                \
        if (rc_ != MPI_SUCCESS)                                                          \
            die(what, rc_);                                                              \
    } while (0)

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* The same exact small integers as rcomm-allreduce-perf's sum inputs: every
 * partial sum is exact in float, whatever the reduction order. */
static float input(int r, size_t i)
{
    return (float)((i * 5 + (size_t)r * 3) % 9);
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

/* One call on n floats (alltoall: n / p to each rank). Sizes above 2^31
 * elements would need a derived datatype; 8 GiB of floats is beyond what
 * this benchmark is for. */
static void run(const opts_t *o, float *sbuf, float *rbuf, size_t n)
{
    const void *in = o->in_place ? MPI_IN_PLACE : sbuf;
    float *out = o->in_place ? sbuf : rbuf;

    switch (o->coll) {
    case C_ALLREDUCE:
        CHECK(MPI_Allreduce(in, out, (int)n, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD),
              "MPI_Allreduce");
        break;
    case C_REDUCE: /* MPI_IN_PLACE is the root's only */
        CHECK(MPI_Reduce(rank == 0 ? in : sbuf, rank == 0 ? out : NULL, (int)n, MPI_FLOAT,
                         MPI_SUM, 0, MPI_COMM_WORLD),
              "MPI_Reduce");
        break;
    case C_ALLTOALL:
        CHECK(MPI_Alltoall(in, (int)(n / size), MPI_FLOAT, out, (int)(n / size),
                           MPI_FLOAT, MPI_COMM_WORLD),
              "MPI_Alltoall");
        break;
    }
}

/* Mean seconds per call on the slowest rank, median over repetitions. */
static double time_it(const opts_t *o, float *sbuf, float *rbuf, size_t n)
{
    double t[64];
    int reps = o->reps < 64 ? o->reps : 64;

    for (int i = 0; i < o->warmup; i++)
        run(o, sbuf, rbuf, n);
    for (int r = 0; r < reps; r++) {
        CHECK(MPI_Barrier(MPI_COMM_WORLD), "MPI_Barrier");
        double t0 = now_s();
        for (int i = 0; i < o->iters; i++)
            run(o, sbuf, rbuf, n);
        t[r] = (now_s() - t0) / o->iters;
        CHECK(MPI_Allreduce(MPI_IN_PLACE, &t[r], 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD),
              "MPI_Allreduce of timings");
    }
    return median(t, reps);
}

static size_t check(const opts_t *o, float *sbuf, float *rbuf, size_t n)
{
    unsigned long long wrong = 0;
    const float *got = o->in_place ? sbuf : rbuf;

    if (!o->check)
        return 0;
    for (size_t i = 0; i < n; i++)
        sbuf[i] = input(rank, i);
    run(o, sbuf, rbuf, n);
    for (size_t i = 0; i < n && (o->coll != C_REDUCE || rank == 0); i++) {
        float want = 0;
        if (o->coll == C_ALLTOALL) { /* block q from rank q's block for us */
            size_t blk = n / (size_t)size, q = i / blk;
            want = input((int)q, (size_t)rank * blk + i % blk);
        } else {
            for (int r = 0; r < size; r++)
                want += input(r, i);
        }
        if (memcmp(&got[i], &want, sizeof(want)) != 0)
            wrong++;
    }
    CHECK(MPI_Allreduce(MPI_IN_PLACE, &wrong, 1, MPI_UNSIGNED_LONG_LONG, MPI_SUM,
                        MPI_COMM_WORLD),
          "MPI_Allreduce of #wrong");
    return (size_t)wrong;
}

int main(int argc, char **argv)
{
    opts_t o;
    size_t wrong_total = 0;
    double bw_sum = 0;
    int nsizes = 0, vlen = 0, major = 0, minor = 0;
    char lib[MPI_MAX_LIBRARY_VERSION_STRING], *nl;
    float *sbuf, *rbuf;

    MPI_Init(&argc, &argv);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    /* Errors come back as codes, so a failure names the call. */
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    parse(argc, argv, &o);
    MPI_Get_version(&major, &minor);
    MPI_Get_library_version(lib, &vlen);
    if ((nl = strpbrk(lib, ",\n")) != NULL)
        *nl = '\0'; /* "Open MPI v4.1.4, package: ..." -> "Open MPI v4.1.4" */
    sbuf = calloc(1, o.maxb + sizeof(float));
    rbuf = calloc(1, o.maxb + sizeof(float));
    if (!sbuf || !rbuf) {
        fprintf(stderr, "mpi_coll: rank %d: out of memory\n", rank);
        MPI_Abort(MPI_COMM_WORLD, 1);
    }
    if (rank == 0) {
        printf("# mpi_coll: library %s (MPI %d.%d), %d ranks, %s, "
               "%s only, iters %d, warmup %d, reps %d\n#\n",
               lib, major, minor, size, mpi_names[o.coll],
               o.in_place ? "in-place" : "out-of-place", o.iters, o.warmup, o.reps);
        printf("# %10s %12s %6s %6s %5s %9s   %9s %7s %7s %6s\n", "", "", "", "", "", "",
               o.in_place ? "in-place" : "out-of-place", "", "", "");
        printf("# %10s %12s %6s %6s %5s %9s   %9s %7s %7s %6s\n", "size", "count", "type",
               "redop", "root", "algo", "time", "algbw", "busbw", "#wrong");
        printf("# %10s %12s %6s %6s %5s %9s   %9s %7s %7s %6s\n", "(B)", "(elements)", "",
               "", "", "", "(us)", "(GB/s)", "(GB/s)", "");
    }
    for (size_t bytes = o.minb; bytes <= o.maxb; bytes *= o.factor) {
        size_t n = bytes / sizeof(float), wrong;
        double t, algbw, busbw;

        if (o.coll == C_ALLTOALL)
            n -= n % (size_t)size;

        if (n == 0) {
            if (bytes == 0)
                bytes = 1; /* keep multiplying */
            continue;
        }
        wrong = check(&o, sbuf, rbuf, n);
        t = time_it(&o, sbuf, rbuf, n);
        algbw = (double)(n * sizeof(float)) / t / 1e9;
        /* nccl-tests' factors: what a bandwidth-optimal algorithm moves per link */
        busbw = algbw * (o.coll == C_ALLREDUCE  ? 2.0 * (size - 1) / size
                         : o.coll == C_ALLTOALL ? (double)(size - 1) / size
                                                : 1.0);
        wrong_total += wrong;
        bw_sum += busbw;
        nsizes++;
        if (rank == 0)
            printf("  %10zu %12zu %6s %6s %5d %9s   %9.2f %7.3f %7.3f %6zu\n",
                   n * sizeof(float), n, "f32", o.coll == C_ALLTOALL ? "none" : "sum",
                   o.coll == C_REDUCE ? 0 : -1, "default", t * 1e6, algbw, busbw, wrong);
        fflush(stdout);
    }
    if (rank == 0) {
        printf("# Out of bounds values : %zu %s\n", wrong_total,
               wrong_total ? "FAILED" : "OK");
        printf("# Avg bus bandwidth    : %g\n#\n", nsizes ? bw_sum / nsizes : 0.0);
    }
    free(sbuf);
    free(rbuf);
    MPI_Finalize();
    return wrong_total ? 1 : 0;
}
