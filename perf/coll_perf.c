/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * rcomm-{allreduce,broadcast,allgather,reduce-scatter,reduce,gather,scatter,
 * alltoall,sendrecv}-perf: collective bandwidth and latency in nccl-tests'
 * *_perf format. One program: the collective comes from the name it runs
 * under (or --coll). One process per rank:
 *   rcomm-run -n 4 rcomm-allgather-perf -b 8 -e 256M -f 4
 *
 * size  : bytes, as nccl-tests prints them (max of the bytes sent and
 *         received per rank; -b/-e/-f step through them), and count the
 *         elements of the call: perf/coll_ops.h says how for each collective
 * time  : microseconds per call, the slowest rank's mean over -n iterations
 *         (median over -r repetitions)
 * algbw : size / time
 * busbw : algbw * factor, the per-link rate that a bandwidth-optimal
 *         algorithm needs, comparable across rank counts (nccl-tests'
 *         doc/PERFORMANCE.md; the factors in perf/coll_ops.h)
 * #wrong: elements that differ from the exact expected result (-c 1; the
 *         inputs and results of each collective in perf/exact_inputs.h)
 *
 * In place: where rcomm.h defines it (perf/coll_ops.c, perf_coll_run);
 * sendrecv has no in-place form, and its in-place columns are N/A.
 *
 * -a all (allreduce only): every algorithm at each size, so that a size where
 * auto's pick is not the fastest shows. Out of place only: auto's choice does
 * not depend on the placement. Each forced algorithm (ring, butterfly, rd:
 * every one rcomm_algo_name knows) and auto (rcomm_allreduce) is timed as
 * above, taking turns within each repetition so that a noisy moment hits all
 * alike. One row per size: a time per forced algorithm, '*' after the fastest,
 * '<' after auto's pick; auto's pick, auto's own time, the fastest, and ratio
 * = the pick's time / the fastest's (both forced, timed in the same turns);
 * #wrong adds up all of them. A footer counts
 * the sizes where auto was within 10% of the fastest and names the worst.
 * Avg bus bandwidth is then auto's. --json/--csv: a record per size and
 * algorithm, auto's last (algo "auto"), with best and auto_pick (0 or 1).
 */
#include <errno.h>
#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hooks/hooks.h"
#include "perf/coll_ops.h"
#include "perf/grade.h"
#include "perf/perf_cli.h"
#include "perf/perf_out.h"
#include "rcomm.h"

typedef struct {
    perf_coll_t c; /* the collective, its type, op, algorithm and root */
    size_t minb, maxb, factor;
    int iters, warmup, check, reps, no_ceiling, mem_alloc;
    int all; /* -a all: every algorithm side by side (algo is AUTO) */
    const char *json, *csv;
} opts_t;

/* nccl-tests' look for the ceiling and fit lines (perf/grade.h) */
static const grade_fmt_t grade_fmt = {"# ", 8, 21, "busbw", "GB/s", 1, 3};
static const char *const placements[2] = {"out-of-place", "in-place"};
static rcomm_comm_t *comm;
static int rank, size;

static const char *coll_name(int i)
{
    return perf_coll_info[i].name;
}

static void usage(FILE *f)
{
    fprintf(
        f,
        "usage: %s [options]   (one process per rank, e.g. under rcomm-run)\n"
        "  -b SIZE   smallest size in bytes (default 8; K, M, G suffixes)\n"
        "  -e SIZE   largest size in bytes (default 256M)\n"
        "  -f N      multiply the size by N each step (default 2)\n"
        "  -n N      timed iterations per size (default 20)\n"
        "  -w N      warm-up iterations per size (default 5)\n"
        "  -r N      repetitions; the median time is reported (default 1;\n"
        "            nccl-tests' -r is the root: here it is -R)\n"
        "  -R N      broadcast, reduce, gather, scatter: the root rank (default 0;\n"
        "            others ignore it)\n"
        "  -c 0|1    check results element by element (default 1)\n"
        "  -d TYPE   f32 f64 f16 bf16 i32 i64 u8 (default f32)\n"
        "  -o OP     allreduce, reduce-scatter, reduce: sum prod min max avg\n"
        "            (default sum)\n"
        "  -a ALGO   allreduce: auto ring butterfly rd hier direct all (default\n"
        "            auto); all:\n"
        "            every algorithm and auto at each size, out of place, the\n"
        "            fastest and auto's pick marked\n"
        "  --json FILE, --csv FILE   also write one record per size and placement\n"
        "            (-a all: per size and algorithm; wrong is -1 with -c 0)\n"
        "  --no-ceiling   skip finding the ceiling the results are compared with\n"
        "  --mem-alloc    take the buffers from rcomm_mem_alloc (registered; on one\n"
        "            host shared with the peers) instead of malloc\n"
        "  --nonblocking  allreduce: each call an rcomm_iallreduce and its rcomm_wait\n"
        "  --coll NAME   instead of the program's name:",
        perf_prog);
    for (int i = 0; i < EXACT_COLL_COUNT; i++)
        fprintf(f, "%s%s", i % 5 ? " " : "\n            ", coll_name(i));
    fprintf(f, "\n  -h, --help   print this help\n");
}

static int lookup(const char *s, const char *(*name)(int), int n, const char *what)
{
    for (int i = 0; i < n; i++)
        if (strcmp(s, name(i)) == 0)
            return i;
    perf_bad_usage(what, s);
}

static const char *dtype_name(int i)
{
    return rcomm_dtype_name((rcomm_dtype_t)i);
}

static const char *op_name(int i)
{
    return rcomm_op_name((rcomm_op_t)i);
}

static const char *algo_name(int i)
{
    return rcomm_algo_name((rcomm_algo_t)i);
}

/* The collective whose tool name perf_prog is (a libtool "lt-" prefix aside). */
static int coll_from_name(int argc, char **argv)
{
    const char *slash = argc > 0 ? strrchr(argv[0], '/') : NULL;

    perf_prog = slash ? slash + 1 : argc > 0 ? argv[0] : perf_prog;
    perf_prog += strncmp(perf_prog, "lt-", 3) == 0 ? 3 : 0;
    for (int i = 0; i < EXACT_COLL_COUNT; i++)
        if (strcmp(perf_prog, perf_coll_info[i].tool) == 0)
            return i;
    return -1;
}

/* The same on every rank, before the communicator exists: a bad option
 * stops every rank with status 2 and never leaves a peer waiting. */
static void parse(int argc, char **argv, opts_t *o)
{
    enum { JSON = 256, CSV, COLL, NO_CEILING, MEM_ALLOC, NONBLOCKING };
    static const struct option lopts[] = {{"json", required_argument, NULL, JSON},
                                          {"csv", required_argument, NULL, CSV},
                                          {"coll", required_argument, NULL, COLL},
                                          {"root", required_argument, NULL, 'R'},
                                          {"help", no_argument, NULL, 'h'},
                                          {"no-ceiling", no_argument, NULL, NO_CEILING},
                                          {"mem-alloc", no_argument, NULL, MEM_ALLOC},
                                          {"nonblocking", no_argument, NULL, NONBLOCKING},
                                          {NULL, 0, NULL, 0}};
    int c, coll = coll_from_name(argc, argv);

    /* zero: f32, sum, auto, root 0 */
    *o = (opts_t){.minb = 8,
                  .maxb = 256u << 20,
                  .factor = 2,
                  .iters = 20,
                  .warmup = 5,
                  .check = 1,
                  .reps = 1};
    while ((c = getopt_long(argc, argv, "b:e:f:n:w:c:r:R:d:o:a:h", lopts, NULL)) != -1) {
        switch (c) {
        case 'b': o->minb = perf_parse_size(optarg); break;
        case 'e': o->maxb = perf_parse_size(optarg); break;
        case 'f': o->factor = (size_t)perf_parse_int(optarg, 2); break;
        case 'n': o->iters = perf_parse_int(optarg, 1); break;
        case 'w': o->warmup = perf_parse_int(optarg, 0); break;
        case 'c': o->check = perf_parse_int(optarg, 0); break;
        case 'r': o->reps = perf_parse_int(optarg, 1); break;
        case 'R': o->c.root = perf_parse_int(optarg, 0); break;
        case 'd':
            o->c.dtype =
                lookup(optarg, dtype_name, RCOMM_DTYPE_COUNT, "unknown datatype");
            break;
        case 'o': o->c.op = lookup(optarg, op_name, RCOMM_OP_COUNT, "unknown op"); break;
        case 'a':
            o->all = strcmp(optarg, "all") == 0;
            o->c.algo =
                o->all ? RCOMM_ALGO_AUTO
                       : lookup(optarg, algo_name, RCOMM_ALGO_COUNT, "unknown algorithm");
            break;
        case JSON: o->json = optarg; break;
        case CSV: o->csv = optarg; break;
        case NO_CEILING: o->no_ceiling = 1; break;
        case MEM_ALLOC: o->mem_alloc = 1; break;
        case NONBLOCKING: o->c.nonblocking = 1; break;
        case COLL:
            coll = lookup(optarg, coll_name, EXACT_COLL_COUNT, "unknown collective");
            break;
        case 'h': usage(stdout); exit(0);
        default: usage(stderr); exit(2);
        }
    }
    if (optind < argc)
        perf_bad_usage("unexpected argument", argv[optind]);
    if (o->minb > o->maxb)
        perf_bad_usage("-b is larger than -e", NULL);
    if (coll < 0)
        perf_bad_usage("cannot tell the collective (use --coll) from the name",
                       perf_prog);
    o->c.coll = (exact_coll_t)coll;
    /* The algo column would show what rcomm chose, not what was asked. */
    if (o->c.coll != EXACT_ALLREDUCE && (o->c.algo != RCOMM_ALGO_AUTO || o->all))
        perf_bad_usage("-a is for allreduce only, not for", coll_name(coll));
    if (o->c.coll != EXACT_ALLREDUCE && o->c.nonblocking)
        perf_bad_usage("--nonblocking is for allreduce only, not for", coll_name(coll));
}

static double bus_factor(const opts_t *o)
{
    return perf_coll_bus_factor(o->c.coll, size);
}

/* ---- measuring ----------------------------------------------------------- */

#define MAX_REPS 64 /* a larger -r: the median of the first 64 */

static void run_calls(const opts_t *o, const char *sbuf, char *rbuf, size_t n, int ip,
                      int calls)
{
    for (int i = 0; i < calls; i++)
        if (perf_coll_run(&o->c, sbuf, rbuf, n, ip))
            perf_die(coll_name(o->c.coll));
}

/* Mean seconds per call on the slowest rank, median over repetitions, of each
 * of the k <= RCOMM_ALGO_COUNT variants o[0..k-1] (-a all: the algorithms).
 * Within a repetition they take turns, so that a noisy moment hits all alike. */
static void time_it(const opts_t *o, int k, const char *sbuf, char *rbuf, size_t n,
                    int ip, double *median)
{
    double t[RCOMM_ALGO_COUNT][MAX_REPS];
    int reps = o->reps < MAX_REPS ? o->reps : MAX_REPS;

    for (int v = 0; v < k; v++)
        run_calls(&o[v], sbuf, rbuf, n, ip, o[v].warmup);
    for (int r = 0; r < reps; r++) {
        for (int v = 0; v < k; v++) {
            if (rcomm_barrier(comm) != RCOMM_OK)
                perf_die("barrier");
            double t0 = grade_now_s();
            run_calls(&o[v], sbuf, rbuf, n, ip, o[v].iters);
            t[v][r] = (grade_now_s() - t0) / o[v].iters;
            if (rcomm_allreduce(comm, RCOMM_IN_PLACE, &t[v][r], 1, RCOMM_F64, RCOMM_MAX))
                perf_die("allreduce of timings");
        }
    }
    for (int v = 0; v < k; v++)
        median[v] = grade_median(t[v], reps);
}

/* #wrong over all ranks; -1 without -c. */
static long long check(const opts_t *o, char *sbuf, char *rbuf, size_t n, int in_place)
{
    size_t local;
    unsigned long long wrong;

    if (!o->check)
        return -1;
    if (perf_coll_check(&o->c, sbuf, rbuf, n, in_place, &local))
        perf_die(coll_name(o->c.coll));
    wrong = local;
    if (rcomm_allreduce(comm, RCOMM_IN_PLACE, &wrong, 1, RCOMM_I64, RCOMM_SUM))
        perf_die("allreduce of #wrong");
    return (long long)wrong;
}

/* ---- output -------------------------------------------------------------- */

/* One size, both placements: what the table and the records show. */
typedef struct {
    size_t bytes, count;
    const char *algo;
    double time[2], algbw[2];
    long long wrong[2]; /* -1: not checked */
} row_t;

/* -a all, one size: out of place only, so each row_t's [0]. */
typedef struct {
    row_t run[RCOMM_ALGO_COUNT]; /* by algorithm; [RCOMM_ALGO_AUTO]: auto's */
    rcomm_algo_t best, pick;     /* the fastest forced algorithm; auto's pick */
    size_t wrong;                /* over all of them */
} sweep_t;

/* -a all, over the sizes: where auto was close to the fastest forced algorithm
 * (within 10%: a wrong pick there costs little; a cliff costs a factor), and
 * where it was furthest from it. */
#define AUTO_CLOSE 1.10
typedef struct {
    int sizes, close;
    double worst;
    size_t worst_bytes;
} tally_t;

/* -a all: a time column per forced algorithm, wide enough for its marks. */
static void print_sweep_columns(void)
{
    printf(
        "# *: the fastest forced algorithm; <: auto's pick; ratio: the pick's time / the "
        "fastest's;\n# #wrong: all algorithms' together (--json/--csv: each's)\n#\n");
    printf("# %10s %12s %6s %6s", "size", "count", "type", "redop");
    for (int a = RCOMM_ALGO_AUTO + 1; a < RCOMM_ALGO_COUNT; a++)
        printf(" %9s  ", rcomm_algo_name((rcomm_algo_t)a));
    printf(" %9s %9s %9s %6s %6s\n", "auto", "auto", "best", "ratio", "#wrong");
    printf("# %10s %12s %6s %6s", "(B)", "(elements)", "", "");
    for (int a = RCOMM_ALGO_AUTO + 1; a < RCOMM_ALGO_COUNT; a++)
        printf(" %9s  ", "(us)");
    printf(" %9s %9s %9s %6s %6s\n", "pick", "(us)", "", "", "");
}

static void print_header(const opts_t *o, const char *tp, const grade_t *g)
{
    hook_host_t host;

    printf("# %s: %d ranks, transport %s, algo %s, iters %d, warmup %d, reps %d%s\n",
           perf_coll_info[o->c.coll].tool, size, tp,
           o->all ? "all" : rcomm_algo_name(o->c.algo), o->iters, o->warmup, o->reps,
           o->c.nonblocking ? ", nonblocking" : "");
    hook_host(comm, &host);
    printf("# rank 0's host: %d ranks on %d cores%s; cost model: %s\n", host.local_size,
           host.local_cores, host.oversubscribed ? " (oversubscribed: polls yield)" : "",
           hook_model(comm)->source);
    grade_print_ceilings(g, &grade_fmt);
    printf("#\n");
    if (o->all) {
        print_sweep_columns();
        return;
    }
    printf("# %10s %12s %6s %6s %5s %9s   %9s %7s %7s %6s   %9s %7s %7s %6s\n", "", "",
           "", "", "", "", "out-of-place", "", "", "", "in-place", "", "", "");
    printf("# %10s %12s %6s %6s %5s %9s   %9s %7s %7s %6s   %9s %7s %7s %6s\n", "size",
           "count", "type", "redop", "root", "algo", "time", "algbw", "busbw", "#wrong",
           "time", "algbw", "busbw", "#wrong");
    printf("# %10s %12s %6s %6s %5s %9s   %9s %7s %7s %6s   %9s %7s %7s %6s\n", "(B)",
           "(elements)", "", "", "", "", "(us)", "(GB/s)", "(GB/s)", "", "(us)", "(GB/s)",
           "(GB/s)", "");
}

/* Placements measured: out of place, then in place unless there is none. */
static int placements_of(const opts_t *o)
{
    return perf_coll_placements(o->c.coll);
}

/* A placement not measured prints N/A, as nccl-tests' #wrong where it cannot
 * check. */
static void print_row(const opts_t *o, const row_t *r)
{
    const double f = bus_factor(o);

    printf("  %10zu %12zu %6s %6s %5d %9s", r->bytes, r->count,
           rcomm_dtype_name(o->c.dtype), perf_coll_redop(&o->c),
           perf_coll_root_column(&o->c), r->algo);
    for (int ip = 0; ip < 2; ip++)
        if (ip < placements_of(o))
            printf("   %9.2f %7.3f %7.3f %6lld", r->time[ip] * 1e6, r->algbw[ip],
                   r->algbw[ip] * f, r->wrong[ip] < 0 ? 0 : r->wrong[ip]);
        else
            printf("   %9s %7s %7s %6s", "N/A", "N/A", "N/A", "N/A");
    printf("\n");
    fflush(stdout);
}

/* -a all: auto's time over the fastest forced algorithm's. */
/* The pick's forced time, not auto's own: the same code path, timed in the
 * same turns as the fastest, so the ratio carries no second measurement's
 * noise. */
static double sweep_ratio(const sweep_t *s)
{
    return s->run[s->pick].time[0] / s->run[s->best].time[0];
}

static void print_sweep_row(const opts_t *o, const sweep_t *s)
{
    const row_t *a0 = &s->run[RCOMM_ALGO_AUTO];

    printf("  %10zu %12zu %6s %6s", a0->bytes, a0->count, rcomm_dtype_name(o->c.dtype),
           perf_coll_redop(&o->c));
    for (int a = RCOMM_ALGO_AUTO + 1; a < RCOMM_ALGO_COUNT; a++)
        printf(" %9.2f%c%c", s->run[a].time[0] * 1e6, a == (int)s->best ? '*' : ' ',
               a == (int)s->pick ? '<' : ' ');
    printf(" %9s %9.2f %9s %6.3f %6zu\n", rcomm_algo_name(s->pick), a0->time[0] * 1e6,
           rcomm_algo_name(s->best), sweep_ratio(s), s->wrong);
    fflush(stdout);
}

static void print_tally(const tally_t *t)
{
    printf("# auto within %.0f%% of the best at %d of %d sizes", (AUTO_CLOSE - 1) * 100,
           t->close, t->sizes);
    if (t->sizes)
        printf("; worst: ratio %.3f at %zu B", t->worst, t->worst_bytes);
    printf("\n");
}

/* The fields of placement ip of r; the caller ends the record. */
static void begin_record(perf_out_t *out, const opts_t *o, const char *tp, const row_t *r,
                         int ip, const grade_t *g)
{
    perf_out_begin(out);
    perf_out_str(out, "tool", perf_coll_info[o->c.coll].tool);
    perf_out_str(out, "transport", tp);
    perf_out_str(out, "collective", coll_name(o->c.coll));
    perf_out_int(out, "ranks", size);
    perf_out_int(out, "bytes", (int64_t)r->bytes);
    perf_out_int(out, "count", (int64_t)r->count);
    perf_out_str(out, "type", rcomm_dtype_name(o->c.dtype));
    perf_out_str(out, "redop", perf_coll_redop(&o->c));
    perf_out_int(out, "root", perf_coll_root_column(&o->c));
    perf_out_str(out, "algo", r->algo);
    perf_out_str(out, "placement", placements[ip]);
    perf_out_double(out, "time_us", r->time[ip] * 1e6);
    perf_out_double(out, "algbw_gbs", r->algbw[ip]);
    perf_out_double(out, "busbw_gbs", r->algbw[ip] * bus_factor(o));
    perf_out_int(out, "wrong", r->wrong[ip]);
    perf_out_double(out, "ceiling_gbs", grade_ceiling_gbs(g));
    perf_out_double(out, "share", grade_share(g, r->algbw[ip] * bus_factor(o)));
}

static void write_records(perf_out_t *out, const opts_t *o, const char *tp,
                          const row_t *r, const grade_t *g)
{
    for (int ip = 0; out && ip < placements_of(o); ip++) {
        begin_record(out, o, tp, r, ip, g);
        perf_out_end(out);
    }
}

/* -a all: the forced algorithms' records, then auto's. */
static void write_sweep_records(perf_out_t *out, const opts_t *o, const char *tp,
                                const sweep_t *s, const grade_t *g)
{
    for (int i = 1; out && i <= RCOMM_ALGO_COUNT; i++) {
        int a = i % RCOMM_ALGO_COUNT; /* RCOMM_ALGO_AUTO (0) comes last */

        begin_record(out, o, tp, &s->run[a], 0, g);
        perf_out_int(out, "best", a == (int)s->best);
        perf_out_int(out, "auto_pick", a == (int)s->pick);
        perf_out_end(out);
    }
}

/* ---- the run ------------------------------------------------------------- */

/* Both placements (or the one) of one size, count n. Returns the elements
 * found wrong. */
static size_t measure(const opts_t *o, char *sbuf, char *rbuf, size_t n, row_t *r)
{
    size_t wrong = 0;

    r->count = n;
    r->bytes = perf_coll_bytes(&o->c, n);
    r->algo = perf_coll_algo(&o->c, n, sbuf, rbuf);
    for (int ip = 0; ip < placements_of(o); ip++) {
        r->wrong[ip] = check(o, sbuf, rbuf, n, ip);
        time_it(o, 1, sbuf, rbuf, n, ip, &r->time[ip]);
        r->algbw[ip] = (double)r->bytes / r->time[ip] / 1e9;
        wrong += r->wrong[ip] > 0 ? (size_t)r->wrong[ip] : 0;
    }
    return wrong;
}

/* -a all: every algorithm and auto at count n, out of place. Returns the
 * elements found wrong. */
static size_t measure_all(const opts_t *o, char *sbuf, char *rbuf, size_t n, sweep_t *s)
{
    opts_t v[RCOMM_ALGO_COUNT];
    double t[RCOMM_ALGO_COUNT];

    *s = (sweep_t){.best = RCOMM_ALGO_AUTO + 1};
    for (int a = 0; a < RCOMM_ALGO_COUNT; a++) {
        row_t *r = &s->run[a];

        v[a] = *o;
        v[a].c.algo = (rcomm_algo_t)a;
        r->count = n;
        r->bytes = perf_coll_bytes(&o->c, n);
        r->algo = rcomm_algo_name(v[a].c.algo); /* "auto" for auto, not its pick */
        r->wrong[0] = check(&v[a], sbuf, rbuf, n, 0);
        s->wrong += r->wrong[0] > 0 ? (size_t)r->wrong[0] : 0;
    }
    time_it(v, RCOMM_ALGO_COUNT, sbuf, rbuf, n, 0, t);
    for (int a = 0; a < RCOMM_ALGO_COUNT; a++) {
        s->run[a].time[0] = t[a];
        s->run[a].algbw[0] = (double)s->run[a].bytes / t[a] / 1e9;
        if (a != RCOMM_ALGO_AUTO && t[a] < t[s->best])
            s->best = (rcomm_algo_t)a;
    }
    if (rcomm_allreduce_algo(comm, n, o->c.dtype, &s->pick) != RCOMM_OK)
        perf_die("rcomm_allreduce_algo");
    return s->wrong;
}

/* -a all, rank 0: one size into the table, the files, the grade and the tally. */
static void report_sweep(const opts_t *o, const char *tp, const sweep_t *s, grade_t *g,
                         perf_out_t *json, perf_out_t *csv, tally_t *t)
{
    const row_t *a0 = &s->run[RCOMM_ALGO_AUTO];
    const double ratio = sweep_ratio(s);

    grade_time(g, a0->bytes, a0->time[0] * 1e6); /* auto's: what users get */
    for (int a = 0; a < RCOMM_ALGO_COUNT; a++)
        grade_rate(g, a0->bytes, s->run[a].algbw[0] * bus_factor(o), s->run[a].algo);
    print_sweep_row(o, s);
    write_sweep_records(json, o, tp, s, g);
    write_sweep_records(csv, o, tp, s, g);
    t->sizes++;
    t->close += ratio <= AUTO_CLOSE;
    if (t->sizes == 1 || ratio > t->worst) {
        t->worst = ratio;
        t->worst_bytes = a0->bytes;
    }
}

/* Root out of range: the same verdict on every rank, so all leave at once. */
static void check_root(const opts_t *o)
{
    if (perf_coll_root_column(&o->c) < size)
        return;
    fprintf(stderr, "%s: rank %d: root %d is out of range for %d ranks\n", perf_prog,
            rank, o->c.root, size);
    usage(stderr);
    rcomm_comm_destroy(comm);
    exit(2);
}

int main(int argc, char **argv)
{
    opts_t o;
    size_t es, wrong_total = 0;
    double bw_sum = 0;
    int nsizes = 0;
    int32_t failed;
    char *sbuf, *rbuf;
    const char *tp;
    perf_out_t *json, *csv;
    grade_t g;
    tally_t tally = {0};

    perf_prog = "rcomm-coll-perf";
    perf_usage = usage;
    parse(argc, argv, &o);
    comm = perf_comm_create(&rank, &size, &tp);
    o.c.comm = comm;
    o.c.rank = rank;
    o.c.size = size;
    check_root(&o);
    es = rcomm_dtype_size(o.c.dtype);
    if (o.mem_alloc) {
        if (rcomm_mem_alloc(comm, o.maxb + es, (void **)&sbuf) ||
            rcomm_mem_alloc(comm, o.maxb + es, (void **)&rbuf))
            perf_die("rcomm_mem_alloc");
    } else if (!(sbuf = calloc(1, o.maxb + es)) || !(rbuf = calloc(1, o.maxb + es)))
        perf_die("allocating buffers");
    perf_open_outputs(comm, o.json, o.csv, &json, &csv);
    grade_init(
        &g, comm,
        o.no_ceiling
            ? 0
            : GRADE_NET |
                  (perf_coll_info[o.c.coll].flags & PERF_COLL_REDUCES ? GRADE_MEM : 0),
        o.maxb);
    if (rank == 0)
        print_header(&o, tp, &g);
    for (size_t bytes = o.minb; bytes <= o.maxb; bytes *= o.factor) {
        size_t n = perf_coll_count(&o.c, bytes);
        row_t r;

        if (n == 0) {
            if (bytes == 0)
                bytes = 1; /* keep multiplying */
            continue;
        }
        nsizes++;
        if (o.all) {
            sweep_t s;

            wrong_total += measure_all(&o, sbuf, rbuf, n, &s);
            bw_sum += s.run[RCOMM_ALGO_AUTO].algbw[0] * bus_factor(&o);
            if (rank == 0)
                report_sweep(&o, tp, &s, &g, json, csv, &tally);
            continue;
        }
        wrong_total += measure(&o, sbuf, rbuf, n, &r);
        /* in place, or out of place where there is none */
        bw_sum += r.algbw[placements_of(&o) - 1] * bus_factor(&o);
        if (rank == 0) {
            grade_time(&g, r.bytes, r.time[0] * 1e6); /* out of place, as nccl-tests */
            for (int ip = 0; ip < placements_of(&o); ip++)
                grade_rate(&g, r.bytes, r.algbw[ip] * bus_factor(&o), placements[ip]);
            print_row(&o, &r);
            write_records(json, &o, tp, &r, &g);
            write_records(csv, &o, tp, &r, &g);
        }
    }
    failed = wrong_total != 0;
    if (rank == 0) {
        if (o.all)
            print_tally(&tally);
        printf("# Out of bounds values : %zu %s\n", wrong_total,
               wrong_total ? "FAILED" : "OK");
        printf("# Avg bus bandwidth    : %g\n", nsizes ? bw_sum / nsizes : 0.0);
        grade_print_results(&g, &grade_fmt);
        printf("#\n");
        failed |= perf_close_output(json, o.json) | perf_close_output(csv, o.csv);
        fflush(stdout);
    }
    /* Every rank fails when one does, and the launcher stops the others as
     * soon as one exits non-zero: agree, then leave together, once rank 0
     * has said why. */
    if (rcomm_allreduce(comm, RCOMM_IN_PLACE, &failed, 1, RCOMM_I32, RCOMM_MAX))
        perf_die("allreduce of the exit status");
    if (!o.mem_alloc) {
        free(sbuf);
        free(rbuf);
    } else if (rcomm_mem_free(comm, sbuf) || rcomm_mem_free(comm, rbuf)) {
        perf_die("rcomm_mem_free");
    }
    if (rcomm_comm_destroy(comm) != RCOMM_OK)
        perf_die("destroy");
    return failed;
}
