/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * rcomm-ps-perf: parameter-server pull and push latency and throughput
 * against the size of the key range, for given numbers of servers. One
 * process per rank:
 *   rcomm-run -n 4 rcomm-ps-perf -S 1,2 -b 8 -e 4M -f 4
 *
 * For each entry S of -S a parameter server is created with ranks 0..S-1 as
 * servers (not workers: they only serve) and the other ranks as workers, over
 * one f32 (or f64) tensor of -e bytes. For each size, every worker:
 *   pull  calls rcomm_ps_pull of keys [0, count) into a buffer, then
 *         rcomm_ps_clock (pull_interval 1: every pull reads the servers);
 *         the pull alone is timed;
 *   push  calls rcomm_ps_push of count ones, then rcomm_ps_clock, which sends
 *         them (push_interval 1); both are timed, the push is what they do
 *         together. lr is 1e-9, so the values stay small and finite.
 * -w untimed calls first, then -n timed ones. Servers are inside
 * rcomm_ps_serve the whole time, so the workers cannot meet in a collective
 * between sizes: each one goes at its own pace (the staleness bound, -s,
 * asp by default, is the only thing that holds them together). The figures
 * are gathered once the PS is destroyed:
 *   p50, p99, avg : microseconds per call, over the samples of all workers
 *                   pooled (not a median of per-worker medians); p99 is the
 *                   nearest-rank percentile
 *   GB/s          : bytes of all workers' timed calls / the slowest worker's
 *                   elapsed time for its timed loop (for pulls that loop
 *                   includes the untimed clocks: it is what a training loop
 *                   sees); GB are 1e9 bytes
 *   ops/s         : calls of all workers / the same time
 *   retries, waits: rcomm_ps_stats over the timed loop, summed over workers
 * With --vs-raw, each timed call is paired with a bare one-sided operation
 * of the same size on server rank 0, timed just before or after it (in
 * turns: the first of the two may pay for waking the server) through the
 * same wait (the library's, hook_ps_bare): a read of its parameters for a
 * pull; for a push, a write into a probe after our slot there that the
 * server never reads (sizes up to hook_ps_probe_bytes(), 256), acknowledged
 * like any write. Two more columns: the bare
 * operation's p50, and the median over calls of call / bare operation: the
 * protocol's cost as a ratio measured side by side, on the same connection,
 * in the same process (an emulated link's mood changes from run to run).
 * With --idle SECONDS, a last parameter server (the first entry of -S)
 * measures what serving costs when nothing comes: its workers sleep that
 * long, and each server reports the CPU time its process used inside
 * rcomm_ps_serve (update threads included) as a share of one core.
 * The last pull of each size is checked: values start at 0 and only ever
 * lose lr per push applied, so anything outside [-lr * pushes, 0] (or not
 * finite) is counted as out of bounds, as coll_perf's #wrong.
 */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "hooks/hooks.h" /* --vs-raw: the bare operations */
#include "perf/perf_cli.h"
#include "perf/perf_out.h"
#include "rcomm.h"

#define TOOL "rcomm-ps-perf"
#define MAX_S 32 /* entries of -S */
#define LR 1e-9  /* small enough that ones pushed for hours stay near 0 */

enum { OP_PULL, OP_PUSH, OP_COUNT };
static const char *const op_names[OP_COUNT] = {"pull", "push"};

typedef struct {
    size_t minb, maxb, factor;
    int iters, warmup;
    int servers[MAX_S], nservers;
    rcomm_dtype_t dtype;
    int ops[OP_COUNT], nops; /* the ops measured, in this order */
    int staleness;
    const char *stale_name;
    const char *json, *csv;
    size_t counts[64], nsz; /* the sweep, in elements */
    double idle;            /* --idle: seconds the workers sleep, 0: no idle phase */
    int raw;                /* --vs-raw */
    size_t block;           /* --block: block_bytes, 0: the default */
} opts_t;

static rcomm_comm_t *comm;
static int rank, size;

static void usage(FILE *f)
{
    fprintf(f,
            "usage: %s [options]   (one process per rank, e.g. under rcomm-run)\n"
            "  -b SIZE   smallest key range in bytes (default 8; K, M, G suffixes)\n"
            "  -e SIZE   largest key range in bytes, the tensor's size (default 4M)\n"
            "  -f N      multiply the size by N each step (default 2)\n"
            "  -n N      timed calls per size and op on each worker (default 20)\n"
            "  -w N      warm-up calls per size and op (default 5)\n"
            "  -S LIST   numbers of servers, comma-separated (default 1): one\n"
            "            parameter server each, ranks 0..S-1 serve and the others\n"
            "            work, so each must be smaller than the number of ranks\n"
            "  -d TYPE   f32 f64 (default f32)\n"
            "  -s STALE  bsp, asp or a staleness bound in steps (default asp)\n"
            "  --op pull|push|both   what to measure (default both)\n"
            "  --idle SECONDS   then the servers' CPU use while the workers sleep\n"
            "  --block BYTES   the PS's block_bytes (default: rcomm_ps_config_init's)\n"
            "  --vs-raw  pair each call with a bare read (pull) or write (push)\n"
            "            of its size on server rank 0 and report the ratio\n"
            "  --json FILE, --csv FILE   also write one record per row of the table\n"
            "  -h, --help   print this help\n",
            perf_prog);
}

/* "1,2,4": each at least 1; whether they fit is known once size is. */
static void parse_servers(const char *s, opts_t *o)
{
    char buf[256], *save = NULL, *tok;

    if (strlen(s) >= sizeof(buf) || !*s || s[strlen(s) - 1] == ',')
        perf_bad_usage("bad server list", s);
    strcpy(buf, s);
    o->nservers = 0;
    for (tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        if (o->nservers == MAX_S)
            perf_bad_usage("too many entries in the server list", s);
        o->servers[o->nservers++] = perf_parse_int(tok, 1);
    }
    if (o->nservers == 0 || strstr(s, ",,") || s[0] == ',')
        perf_bad_usage("bad server list", s);
}

static void parse_ops(const char *s, opts_t *o)
{
    o->nops = 0;
    if (strcmp(s, "pull") == 0 || strcmp(s, "both") == 0)
        o->ops[o->nops++] = OP_PULL;
    if (strcmp(s, "push") == 0 || strcmp(s, "both") == 0)
        o->ops[o->nops++] = OP_PUSH;
    if (o->nops == 0)
        perf_bad_usage("unknown op", s);
}

static void parse_staleness(const char *s, opts_t *o)
{
    o->stale_name = s;
    if (strcmp(s, "bsp") == 0)
        o->staleness = 0;
    else if (strcmp(s, "asp") == 0)
        o->staleness = RCOMM_PS_ASP;
    else
        o->staleness = perf_parse_int(s, 0);
}

/* The element counts of the sweep, -b to -e by -f; sizes below one element
 * are skipped. */
static size_t sweep(const opts_t *o, size_t *counts, size_t max)
{
    const size_t es = rcomm_dtype_size(o->dtype);
    size_t n = 0;

    for (size_t bytes = o->minb; bytes <= o->maxb && n < max; bytes *= o->factor) {
        if (bytes / es)
            counts[n++] = bytes / es;
        if (bytes == 0)
            bytes = 1; /* keep multiplying */
        if (bytes > o->maxb / o->factor)
            break;
    }
    return n;
}

/* The same on every rank, before the communicator exists: a bad option
 * stops every rank with status 2 and never leaves a peer waiting. */
static void parse(int argc, char **argv, opts_t *o)
{
    enum { JSON = 256, CSV, OP, IDLE, RAW, BLOCK };
    static const struct option lopts[] = {{"json", required_argument, NULL, JSON},
                                          {"idle", required_argument, NULL, IDLE},
                                          {"vs-raw", no_argument, NULL, RAW},
                                          {"block", required_argument, NULL, BLOCK},
                                          {"csv", required_argument, NULL, CSV},
                                          {"op", required_argument, NULL, OP},
                                          {"help", no_argument, NULL, 'h'},
                                          {NULL, 0, NULL, 0}};
    const char *slash = argc > 0 ? strrchr(argv[0], '/') : NULL;
    int c;

    perf_prog = slash ? slash + 1 : argc > 0 ? argv[0] : perf_prog;
    perf_prog += strncmp(perf_prog, "lt-", 3) == 0 ? 3 : 0; /* libtool's wrapper */
    *o = (opts_t){.minb = 8,
                  .maxb = 4u << 20,
                  .factor = 2,
                  .iters = 20,
                  .warmup = 5,
                  .servers = {1},
                  .nservers = 1,
                  .dtype = RCOMM_F32,
                  .ops = {OP_PULL, OP_PUSH},
                  .nops = 2,
                  .staleness = RCOMM_PS_ASP,
                  .stale_name = "asp"};
    while ((c = getopt_long(argc, argv, "b:e:f:n:w:S:d:s:h", lopts, NULL)) != -1) {
        switch (c) {
        case 'b': o->minb = perf_parse_size(optarg); break;
        case 'e': o->maxb = perf_parse_size(optarg); break;
        case 'f': o->factor = (size_t)perf_parse_int(optarg, 2); break;
        case 'n': o->iters = perf_parse_int(optarg, 1); break;
        case 'w': o->warmup = perf_parse_int(optarg, 0); break;
        case 'S': parse_servers(optarg, o); break;
        case 'd':
            if (strcmp(optarg, "f32") == 0)
                o->dtype = RCOMM_F32;
            else if (strcmp(optarg, "f64") == 0)
                o->dtype = RCOMM_F64;
            else
                perf_bad_usage("unknown datatype (f32 or f64)", optarg);
            break;
        case 's': parse_staleness(optarg, o); break;
        case OP: parse_ops(optarg, o); break;
        case IDLE: o->idle = perf_parse_int(optarg, 1); break;
        case RAW: o->raw = 1; break;
        case BLOCK: o->block = perf_parse_size(optarg); break;
        case JSON: o->json = optarg; break;
        case CSV: o->csv = optarg; break;
        case 'h': usage(stdout); exit(0);
        default: usage(stderr); exit(2);
        }
    }
    if (optind < argc)
        perf_bad_usage("unexpected argument", argv[optind]);
    if (o->minb > o->maxb)
        perf_bad_usage("-b is larger than -e", NULL);
    o->nsz = sweep(o, o->counts, sizeof(o->counts) / sizeof(o->counts[0]));
    if (o->nsz == 0)
        perf_bad_usage("no size from -b to -e holds one element", NULL);
}

/* Every entry of -S must leave a worker: the same verdict on every rank, so
 * all leave at once; rank 0 says why. */
static void check_servers(const opts_t *o)
{
    for (int i = 0; i < o->nservers; i++) {
        if (o->servers[i] < size)
            continue;
        if (rank == 0) {
            fprintf(stderr,
                    "%s: -S %d leaves no worker on %d ranks (servers are ranks "
                    "0..S-1 and do not work)\n",
                    perf_prog, o->servers[i], size);
            usage(stderr);
        }
        /* The launcher stops the others when one exits: not before rank 0 spoke. */
        rcomm_barrier(comm);
        rcomm_comm_destroy(comm);
        exit(2);
    }
}

/* ---- measuring ----------------------------------------------------------- */

static double now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* What one worker measured for one (size, op), and after the gather what all
 * of them did together. */
typedef struct {
    double *t;       /* [iters] seconds per call, this worker */
    double *raw, *x; /* --vs-raw: [iters] the bare operation's, t / raw */
    double wall;     /* the timed loop, seconds: max over workers once gathered */
    uint64_t ctr[2]; /* retries, waits: summed once gathered */
} row_t;

typedef struct {
    const opts_t *o;
    rcomm_ps_t *ps;
    size_t es, maxcount;
    void *dst, *grad, *bare; /* bare: --vs-raw's buffer */
    double lr_floor;         /* the lowest value a pull may see, given the pushes */
    unsigned long long wrong;
} bench_t;

static double elem(const bench_t *b, const void *buf, size_t i)
{
    return b->o->dtype == RCOMM_F64 ? ((const double *)buf)[i]
                                    : (double)((const float *)buf)[i];
}

/* Values outside what the pushes could have made of the zeros. */
static void check_pulled(bench_t *b, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        double v = elem(b, b->dst, i);
        b->wrong += !isfinite(v) || v > 0 || v < b->lr_floor;
    }
}

static void stats(const bench_t *b, rcomm_ps_stats_t *s)
{
    if (rcomm_ps_stats(b->ps, s) != RCOMM_OK)
        perf_die("rcomm_ps_stats");
}

/* --vs-raw: seconds of one bare read (pull) or write (push) of bytes on
 * server rank 0, through the wait the PS's own operations use; 0 when there
 * is none to pair (a push larger than the probe). */
static double bare_op(bench_t *b, int op, size_t bytes)
{
    double a;

    if (op == OP_PUSH && bytes > hook_ps_probe_bytes())
        return 0;
    a = now_s();
    if (hook_ps_bare(b->ps, op == OP_PUSH, b->bare, bytes) != RCOMM_OK)
        perf_die("the bare operation of --vs-raw");
    return now_s() - a;
}

/* Worker: -w then -n calls of op on keys [0, n). */
static void run_op(bench_t *b, int op, size_t n, row_t *r)
{
    const opts_t *o = b->o;
    rcomm_ps_stats_t s0 = {0}, s1;
    double t0 = 0, bare_s = 0; /* the timed loop's bare operations */

    for (int i = 0; i < o->warmup + o->iters; i++) {
        rcomm_status_t st;
        /* The first of a pair may pay for waking the server: take turns. */
        const int late = i % 2;
        double a, z, bare = o->raw && !late ? bare_op(b, op, n * b->es) : 0;

        if (i == o->warmup) {
            stats(b, &s0);
            t0 = now_s();
        }
        a = now_s();
        if (op == OP_PULL) {
            st = rcomm_ps_pull(b->ps, 0, 0, n, b->dst, NULL);
            z = now_s();
            if (st != RCOMM_OK)
                perf_die("rcomm_ps_pull");
            st = rcomm_ps_clock(b->ps);
        } else {
            st = rcomm_ps_push(b->ps, 0, 0, n, b->grad);
            if (st != RCOMM_OK)
                perf_die("rcomm_ps_push");
            st = rcomm_ps_clock(b->ps);
            z = now_s();
        }
        if (st != RCOMM_OK)
            perf_die("rcomm_ps_clock");
        if (o->raw && late)
            bare = bare_op(b, op, n * b->es);
        if (i >= o->warmup) {
            bare_s += bare;
            r->t[i - o->warmup] = z - a;
            r->raw[i - o->warmup] = bare;
            r->x[i - o->warmup] = bare > 0 ? (z - a) / bare : 0;
        }
    }
    r->wall = now_s() - t0 - bare_s; /* GB/s is the PS's alone */
    stats(b, &s1);
    r->ctr[0] = s1.retries - s0.retries;
    r->ctr[1] = s1.waits - s0.waits;
    if (op == OP_PULL)
        check_pulled(b, n);
}

/* One parameter server of nsrv servers: the whole sweep on the workers,
 * serving on the others, until every worker is done. */
static void run_ps(bench_t *b, int nsrv, row_t *rows)
{
    const opts_t *o = b->o;
    rcomm_ps_config_t cfg;
    rcomm_ps_tensor_t t = {"ps_perf", b->maxcount, o->dtype, NULL};

    rcomm_ps_config_init(&cfg);
    cfg.num_servers = nsrv;
    cfg.servers_work = 0;
    if (o->block)
        cfg.block_bytes = o->block;
    cfg.staleness = o->staleness;
    cfg.push_interval = 1;
    cfg.pull_interval = 1;
    cfg.lr = LR;
    if (rcomm_ps_create(comm, &cfg, &t, 1, &b->ps) != RCOMM_OK)
        perf_die("rcomm_ps_create");
    if (rank < nsrv) {
        if (rcomm_ps_serve(b->ps) != RCOMM_OK)
            perf_die("rcomm_ps_serve");
    } else {
        for (size_t s = 0; s < o->nsz; s++)
            for (int k = 0; k < o->nops; k++)
                run_op(b, o->ops[k], o->counts[s], &rows[s * o->nops + k]);
    }
    if (rcomm_ps_destroy(b->ps) != RCOMM_OK)
        perf_die("rcomm_ps_destroy");
    b->ps = NULL;
}

static double cpu_s(void)
{
    struct rusage ru;

    if (getrusage(RUSAGE_SELF, &ru) != 0)
        perf_die("getrusage");
    return (double)ru.ru_utime.tv_sec + 1e-6 * (double)ru.ru_utime.tv_usec +
           (double)ru.ru_stime.tv_sec + 1e-6 * (double)ru.ru_stime.tv_usec;
}

/* --idle: the workers sleep; each server measures its process's CPU time
 * over its rcomm_ps_serve. Rank 0 prints the busiest server's share. */
static void run_idle(bench_t *b, int nsrv)
{
    rcomm_ps_config_t cfg;
    rcomm_ps_tensor_t t = {"ps_idle", b->maxcount, b->o->dtype, NULL};
    double v[2] = {0, 0}; /* CPU s, wall s */

    rcomm_ps_config_init(&cfg);
    cfg.num_servers = nsrv;
    cfg.lr = LR;
    if (rcomm_ps_create(comm, &cfg, &t, 1, &b->ps) != RCOMM_OK)
        perf_die("rcomm_ps_create");
    if (rank < nsrv) {
        const double c0 = cpu_s(), t0 = now_s();
        if (rcomm_ps_serve(b->ps) != RCOMM_OK)
            perf_die("rcomm_ps_serve");
        v[0] = cpu_s() - c0;
        v[1] = now_s() - t0;
    } else {
        struct timespec ts = {(time_t)b->o->idle, 0};
        nanosleep(&ts, NULL);
    }
    if (rcomm_ps_destroy(b->ps) != RCOMM_OK)
        perf_die("rcomm_ps_destroy");
    b->ps = NULL;
    v[0] = v[1] > 0 ? v[0] / v[1] : 0;
    if (rcomm_allreduce(comm, RCOMM_IN_PLACE, v, 2, RCOMM_F64, RCOMM_MAX))
        perf_die("allreduce of the idle CPU");
    if (rank == 0)
        printf("# idle: %d server(s), workers asleep %.0f s: the busiest server used "
               "%.1f%% of a core over %.2f s of serving\n",
               nsrv, b->o->idle, 100 * v[0], v[1]);
}

/* ---- gathering and output ------------------------------------------------ */

/* What a table row and a record show. */
typedef struct {
    int servers, workers, op;
    size_t bytes, count;
    double p50, p99, avg, gbps, ops;
    double raw_p50, x_p50; /* --vs-raw; 0: none */
    uint64_t retries, waits;
} line_t;

static int cmp_double(const void *a, const void *b)
{
    const double x = *(const double *)a, y = *(const double *)b;

    return (x > y) - (x < y);
}

/* Nearest rank: the smallest sample with a share q of them at or below it. */
static double percentile(const double *v, size_t n, double q)
{
    const size_t k = (size_t)ceil(q * (double)n);

    return v[k ? k - 1 : 0];
}

static void print_header(const opts_t *o, const char *tp)
{
    printf("# %s: transport %s, ranks %d, dtype %s, staleness %s, iters %d, warmup "
           "%d\n",
           TOOL, tp, size, rcomm_dtype_name(o->dtype), o->stale_name, o->iters,
           o->warmup);
    printf("# servers are ranks 0..S-1, the other ranks work; latency over every "
           "worker's calls\n");
    printf("# (push = rcomm_ps_push + rcomm_ps_clock); GB/s and ops/s: all workers' "
           "calls / the slowest\n");
    printf("# worker's loop; retries and waits summed over workers\n");
    if (o->raw)
        printf("# bare: the paired bare read or write's p50; x_bare: median of call / "
               "bare\n");
    printf("#\n");
    printf("# %7s %10s %12s %5s %7s %10s %10s %10s %8s %10s %8s %8s", "servers", "size",
           "count", "op", "workers", "p50", "p99", "avg", "aggbw", "rate", "retries",
           "waits");
    printf(o->raw ? " %10s %8s\n" : "\n", "bare", "x_bare");
    printf("# %7s %10s %12s %5s %7s %10s %10s %10s %8s %10s %8s %8s", "", "(B)",
           "(elements)", "", "", "(us)", "(us)", "(us)", "(GB/s)", "(ops/s)", "", "");
    printf(o->raw ? " %10s %8s\n" : "\n", "(us)", "");
}

static void print_line(const opts_t *o, const line_t *l)
{
    printf("  %7d %10zu %12zu %5s %7d %10.2f %10.2f %10.2f %8.3f %10.0f %8llu %8llu",
           l->servers, l->bytes, l->count, op_names[l->op], l->workers, l->p50, l->p99,
           l->avg, l->gbps, l->ops, (unsigned long long)l->retries,
           (unsigned long long)l->waits);
    if (o->raw && l->x_p50 > 0)
        printf(" %10.2f %8.2f", l->raw_p50, l->x_p50);
    else if (o->raw)
        printf(" %10s %8s", "-", "-");
    printf("\n");
    fflush(stdout);
}

static void write_record(perf_out_t *out, const opts_t *o, const char *tp,
                         const line_t *l)
{
    if (!out)
        return;
    perf_out_begin(out);
    perf_out_str(out, "tool", TOOL);
    perf_out_str(out, "transport", tp);
    perf_out_int(out, "servers", l->servers);
    perf_out_int(out, "workers", l->workers);
    perf_out_str(out, "op", op_names[l->op]);
    perf_out_int(out, "bytes", (int64_t)l->bytes);
    perf_out_int(out, "count", (int64_t)l->count);
    perf_out_str(out, "dtype", rcomm_dtype_name(o->dtype));
    perf_out_int(out, "iters", o->iters);
    perf_out_double(out, "lat_p50_us", l->p50);
    perf_out_double(out, "lat_p99_us", l->p99);
    perf_out_double(out, "lat_avg_us", l->avg);
    perf_out_double(out, "gbps", l->gbps);
    perf_out_double(out, "ops_per_s", l->ops);
    perf_out_int(out, "retries", (int64_t)l->retries);
    perf_out_int(out, "waits", (int64_t)l->waits);
    if (o->raw && l->x_p50 > 0) {
        perf_out_double(out, "bare_p50_us", l->raw_p50);
        perf_out_double(out, "x_bare", l->x_p50);
    }
    perf_out_end(out);
}

/* Collective: every rank's mine[iters] into all; on rank 0, the workers'
 * samples sorted (the nt after the servers' zeros). */
static double *pool(const opts_t *o, int nsrv, const double *mine, double *all, size_t nt)
{
    double *v = all + (size_t)nsrv * o->iters;

    if (rcomm_allgather(comm, mine, all, (size_t)o->iters, RCOMM_F64))
        perf_die("allgather of the latencies");
    if (rank == 0)
        qsort(v, nt, sizeof(*v), cmp_double);
    return v;
}

static double median(const double *v, size_t n)
{
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* Collective, after the PS is gone: the slowest loop and the summed counters
 * of every row at once, then each row's samples (one row at a time, so that
 * memory stays size * iters). Servers contribute zeros and are left out of
 * the pooled samples. Rank 0 fills lines[]. */
static void gather(const opts_t *o, int nsrv, row_t *rows, double *all, line_t *lines)
{
    const size_t nrows = o->nsz * (size_t)o->nops, es = rcomm_dtype_size(o->dtype);
    const size_t nt = (size_t)(size - nsrv) * (size_t)o->iters;
    double *wall = malloc(nrows * sizeof(*wall));
    uint64_t *ctr = malloc(2 * nrows * sizeof(*ctr));

    if (!wall || !ctr)
        perf_die("allocating the gather buffers");
    for (size_t r = 0; r < nrows; r++) {
        wall[r] = rows[r].wall;
        memcpy(&ctr[2 * r], rows[r].ctr, sizeof(rows[r].ctr));
    }
    if (rcomm_allreduce(comm, RCOMM_IN_PLACE, wall, nrows, RCOMM_F64, RCOMM_MAX) ||
        rcomm_allreduce(comm, RCOMM_IN_PLACE, ctr, 2 * nrows, RCOMM_I64, RCOMM_SUM))
        perf_die("allreduce of the loop times and counters");
    for (size_t r = 0; r < nrows; r++) {
        line_t *l = &lines[r];
        double sum = 0, raw = 0, x = 0, *v;

        if (o->raw) { /* pooled and sorted one at a time, in all */
            raw = median(pool(o, nsrv, rows[r].raw, all, nt), nt);
            x = median(pool(o, nsrv, rows[r].x, all, nt), nt);
        }
        v = pool(o, nsrv, rows[r].t, all, nt);
        if (rank != 0)
            continue;
        for (size_t i = 0; i < nt; i++)
            sum += v[i];
        *l = (line_t){.servers = nsrv,
                      .workers = size - nsrv,
                      .op = o->ops[r % o->nops],
                      .count = o->counts[r / o->nops],
                      .p50 = 1e6 * median(v, nt),
                      .p99 = 1e6 * percentile(v, nt, 0.99),
                      .avg = 1e6 * sum / (double)nt,
                      .raw_p50 = 1e6 * raw,
                      .x_p50 = x,
                      .retries = ctr[2 * r],
                      .waits = ctr[2 * r + 1]};
        l->bytes = l->count * es;
        l->ops = wall[r] > 0 ? (double)nt / wall[r] : NAN;
        l->gbps = l->ops * (double)l->bytes / 1e9;
    }
    free(wall);
    free(ctr);
}

/* ---- the run ------------------------------------------------------------- */

int main(int argc, char **argv)
{
    opts_t o;
    bench_t b = {0};
    size_t nrows;
    row_t *rows;
    line_t *lines;
    double *samples, *all;
    const char *tp;
    perf_out_t *json, *csv;
    int32_t failed;

    perf_prog = TOOL;
    perf_usage = usage;
    parse(argc, argv, &o);
    comm = perf_comm_create(&rank, &size, &tp);
    check_servers(&o);

    b.o = &o;
    b.es = rcomm_dtype_size(o.dtype);
    b.maxcount = o.maxb / b.es;
    nrows = o.nsz * (size_t)o.nops;
    /* Every push of the sweep hits key 0: the most any key can lose, with
     * room for rounding in f32. */
    b.lr_floor = -LR * 1.01 * (double)size * (double)o.nsz * (o.warmup + o.iters) - 1e-30;
    b.dst = malloc(b.maxcount * b.es);
    b.grad = malloc(b.maxcount * b.es);
    rows = calloc(nrows ? nrows : 1, sizeof(*rows));
    lines = calloc(nrows ? nrows : 1, sizeof(*lines));
    samples = calloc(3 * nrows * (size_t)o.iters + 1, sizeof(*samples));
    b.bare = calloc(1, b.maxcount * b.es > hook_ps_probe_bytes() ? b.maxcount * b.es
                                                                 : hook_ps_probe_bytes());
    all = malloc((size_t)size * (size_t)o.iters * sizeof(*all));
    if (!b.dst || !b.grad || !b.bare || !rows || !lines || !samples || !all)
        perf_die("allocating buffers");
    for (size_t i = 0; i < b.maxcount; i++) {
        if (o.dtype == RCOMM_F64)
            ((double *)b.grad)[i] = 1;
        else
            ((float *)b.grad)[i] = 1;
    }
    for (size_t r = 0; r < nrows; r++) {
        rows[r].t = samples + 3 * r * (size_t)o.iters;
        rows[r].raw = rows[r].t + o.iters;
        rows[r].x = rows[r].raw + o.iters;
    }

    perf_open_outputs(comm, o.json, o.csv, &json, &csv);
    if (rank == 0)
        print_header(&o, tp);
    for (int i = 0; i < o.nservers; i++) {
        /* servers and earlier entries leave zeros behind: no stale rows */
        memset(samples, 0, 3 * nrows * (size_t)o.iters * sizeof(*samples));
        for (size_t r = 0; r < nrows; r++)
            rows[r].wall = 0, rows[r].ctr[0] = rows[r].ctr[1] = 0;
        run_ps(&b, o.servers[i], rows);
        gather(&o, o.servers[i], rows, all, lines);
        for (size_t r = 0; rank == 0 && r < nrows; r++) {
            print_line(&o, &lines[r]);
            write_record(json, &o, tp, &lines[r]);
            write_record(csv, &o, tp, &lines[r]);
        }
    }
    if (o.idle > 0)
        run_idle(&b, o.servers[0]);
    if (rcomm_allreduce(comm, RCOMM_IN_PLACE, &b.wrong, 1, RCOMM_I64, RCOMM_SUM))
        perf_die("allreduce of the values out of bounds");
    failed = b.wrong != 0;
    if (rank == 0) {
        printf("# Out of bounds values : %llu %s\n", b.wrong, b.wrong ? "FAILED" : "OK");
        printf("#\n");
        failed |= perf_close_output(json, o.json) | perf_close_output(csv, o.csv);
        fflush(stdout);
    }
    /* Every rank fails when one does, and the launcher stops the others as
     * soon as one exits non-zero: agree, then leave together, once rank 0
     * has said why. */
    if (rcomm_allreduce(comm, RCOMM_IN_PLACE, &failed, 1, RCOMM_I32, RCOMM_MAX))
        perf_die("allreduce of the exit status");
    free(b.dst);
    free(b.grad);
    free(b.bare);
    free(rows);
    free(lines);
    free(samples);
    free(all);
    if (rcomm_comm_destroy(comm) != RCOMM_OK)
        perf_die("destroy");
    return failed;
}
