/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * rcomm-{write,read,send,atomic}-{bw,lat}: point-to-point benchmarks through
 * the transport layer, in the manner of perftest's ib_write_bw, ib_read_lat,
 * ib_atomic_lat... (atomic: 64-bit fetch-and-add, 8 bytes, as perftest's).
 * One program: the operation and the test come from the name it runs under
 * (or --op, --test). Exactly two ranks: rank 0 initiates and prints the
 * table, rank 1 is the target. Any transport (RCOMM_TRANSPORT):
 *   rcomm-run -n 2 rcomm-write-bw -a
 *
 * Bandwidth, -t operations in flight (MB = 2^20 bytes and Gb = 10^9 bits,
 * as in perftest):
 *   BW average : size * iterations / time. Time runs from the first timed
 *                post to the last completion (write, read) or, for send, to
 *                the arrival of rank 1's acknowledgement that every message
 *                landed (a send may complete before it arrives).
 *   BW peak    : perftest's: the best rate over any run of consecutive
 *                operations i..j, from the post of i to the completion of j
 *                at rank 0 (for send, the local completion: over TCP the
 *                kernel's acceptance, so that peak is optimistic). Found by
 *                bisection in O(n) steps instead of perftest's O(n^2). Not
 *                measured with -D (printed as 0, as perftest does).
 *   MsgRate    : iterations / time, in millions of messages per second.
 * Latency in usec, every iteration timed alone (CLOCK_MONOTONIC):
 *   write, send: ping-pong, one way = round trip / 2; read, atomic: the round
 *   trip of one get or fetch-and-add, not halved (as perftest reports it).
 * The window comes from tp_heap_alloc (shm: mapped by the peer, so its
 * operations there are its own loads, stores and atomic instructions);
 * --malloc-window takes it from malloc (shm: cross-memory attach, and
 * atomics applied by the target's progress). t_typical is the median;
 *   the percentiles are nearest-rank.
 * Waiting spins for RCOMM_SPIN_US, then lets progress sleep, as rcomm_wait
 * does: with as many busy ranks as cores, pure spinning can starve the
 * kernel's share of the work (TCP loopback, soft-RoCE), and messages then
 * wait for the spinner to give up. Only write-lat, which watches memory that
 * an RDMA write fills without waking anyone, keeps polling (yielding the
 * core) instead.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "perf/p2p_perf.h"

const char *const p2p_op_names[OP_COUNT] = {"write", "read", "send", "atomic"};
static const char *const test_names[] = {"bw", "lat"};
static const char *const titles[] = {"RDMA_Write", "RDMA_Read", "Send",
                                     "Atomic FETCH_AND_ADD"};

/* perftest's rule: 87 dashes */
#define LINE                                                                             \
    "-------------------------------------------"                                        \
    "--------------------------------------------\n"

static const char *const fields[2][7] = {{"bw_peak", "bw_average", "msg_rate_mpps"},
                                         {"t_min_us", "t_max_us", "t_typical_us",
                                          "t_avg_us", "t_stdev_us", "t_p99_us",
                                          "t_p99_9_us"}};
static const char *prog = "rcomm-p2p-perf";
static rcomm_comm_t *comm;
static int rank = -1;

/* Fatal: print, close the transport with the reason so that the peer stops
 * at once and quotes it, exit 1. */
void __attribute__((format(printf, 2, 3), noreturn))
p2p_die(rcomm_status_t st, const char *fmt, ...)
{
    char msg[512];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    fprintf(stderr, "%s: rank %d: %s\n", prog, rank, msg);
    if (comm && hook_transport(comm)) {
        char why[600];
        snprintf(why, sizeof(why), "%s: rank %d: %s", prog, rank, msg);
        hook_fail(comm, st, why);
    }
    exit(1);
}

static const char *why(rcomm_status_t st)
{
    return *rcomm_last_error() ? rcomm_last_error() : rcomm_strerror(st);
}

void __attribute__((noreturn)) p2p_die_op(rcomm_status_t st, const char *what, size_t len)
{
    p2p_die(st, "%s of %zu bytes with rank %d failed: %s", what, len, 1 - rank, why(st));
}

static void usage(FILE *f)
{
    fprintf(
        f,
        "usage: %s [options]   (exactly 2 ranks: rcomm-run -n 2 %s)\n"
        "  -s SIZE         message size, 1 to 1G, K M G suffixes (default 65536 for\n"
        "                  bw, 2 for lat; atomic: 8, always)\n"
        "  -a              every power of two from 2 to 8M (overrides -s)\n"
        "  -n ITERS        iterations per size (default 5000 for bw, 1000 for lat)\n"
        "  -D SECONDS      run each size this long instead of -n ITERS\n"
        "  -t TX_DEPTH     bw: operations in flight, 1 to 16384 (default 128)\n"
        "  -w WARMUP       untimed iterations before each size (default 16)\n"
        "  -c              bw: check the data that landed, exit 1 if wrong\n"
        "  --report_gbits  bw: Gb/sec (10^9 bits) instead of MB/sec (2^20 bytes)\n"
        "  --json FILE, --csv FILE   also write one record per size\n"
        "  --no-ceiling    bw: do not find the link's ceiling to compare with\n"
        "  --op write|read|send|atomic, --test bw|lat   instead of the program's name\n"
        "  --malloc-window the peer's window from malloc, not memory it maps\n"
        "                  (shm: cross-memory attach, atomics by the target's CPU)\n"
        "  -h, --help      print this help\n",
        prog, prog);
}

static void __attribute__((format(printf, 1, 2), noreturn))
bad_usage(const char *fmt, ...)
{
    va_list ap;

    fprintf(stderr, "%s: ", prog);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    usage(stderr);
    exit(2);
}

/* A number in [min, max]; whole unless frac; K, M, G (powers of 1024) for -s. */
static double number(const char *s, int opt, double min, double max, int frac)
{
    static const char units[] = "kKmMgG";
    const char *u = NULL;
    char *end;
    double v = strtod(s, &end);

    if (opt == 's' && end != s && *end && (u = strchr(units, *end))) {
        v *= (double)(1ull << (10 * (1 + (u - units) / 2)));
        end++;
    }
    if (end == s || *end || !(v >= min && v <= max) || (!frac && v != floor(v)))
        bad_usage("bad value '%s' for -%c", s, opt);
    return v;
}

static int lookup(const char *s, const char *const *names, int n, const char *what)
{
    for (int i = 0; i < n; i++)
        if (strcmp(s, names[i]) == 0)
            return i;
    bad_usage("unknown %s '%s'", what, s);
}

/* The same on every rank, before the communicator exists: a bad option
 * stops every rank with status 2 and never leaves a peer waiting. */
static void parse(int argc, char **argv, opts_t *o)
{
    enum { GBITS = 256, JSON, CSV, OP, TEST, NO_CEILING, MALLOC_WIN };
    static const struct option lopts[] = {
        {"size", required_argument, NULL, 's'},
        {"all", no_argument, NULL, 'a'},
        {"iters", required_argument, NULL, 'n'},
        {"duration", required_argument, NULL, 'D'},
        {"tx-depth", required_argument, NULL, 't'},
        {"report_gbits", no_argument, NULL, GBITS},
        {"json", required_argument, NULL, JSON},
        {"csv", required_argument, NULL, CSV},
        {"op", required_argument, NULL, OP},
        {"test", required_argument, NULL, TEST},
        {"no-ceiling", no_argument, NULL, NO_CEILING},
        {"malloc-window", no_argument, NULL, MALLOC_WIN},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}};
    const char *slash = strrchr(argv[0], '/');
    size_t n;
    int c;

    *o = (opts_t){.op = -1, .test = -1, .tx_depth = 128, .warmup = 16};
    prog = slash ? slash + 1 : argv[0];
    prog += strncmp(prog, "lt-", 3) == 0 ? 3 : 0; /* a libtool wrapper's */
    n = strlen(prog);
    for (int i = 0; i < OP_COUNT; i++)
        if (strstr(prog, p2p_op_names[i]))
            o->op = i;
    if (n > 4 && strcmp(prog + n - 4, "-lat") == 0)
        o->test = TEST_LAT;
    if (n > 3 && strcmp(prog + n - 3, "-bw") == 0)
        o->test = TEST_BW;
    while ((c = getopt_long(argc, argv, "s:an:D:t:w:ch", lopts, NULL)) != -1) {
        switch (c) {
        case 's': o->size = (size_t)number(optarg, c, 1, 1 << 30, 0); break;
        case 'a': o->all = 1; break;
        case 'n': o->iters = (long)number(optarg, c, 1, 1e9, 0); break;
        case 'D': o->duration = number(optarg, c, 1e-3, 86400, 1); break;
        case 't': o->tx_depth = (int)number(optarg, c, 1, 16384, 0); break;
        case 'w': o->warmup = (int)number(optarg, c, 0, 1e6, 0); break;
        case 'c': o->check = 1; break;
        case GBITS: o->gbits = 1; break;
        case JSON: o->json = optarg; break;
        case CSV: o->csv = optarg; break;
        case NO_CEILING: o->no_ceiling = 1; break;
        case MALLOC_WIN: o->malloc_win = 1; break;
        case OP: o->op = lookup(optarg, p2p_op_names, OP_COUNT, "--op"); break;
        case TEST: o->test = lookup(optarg, test_names, TEST_COUNT, "--test"); break;
        case 'h': usage(stdout); exit(0);
        default: usage(stderr); exit(2);
        }
    }
    if (optind < argc)
        bad_usage("unexpected argument '%s'", argv[optind]);
    if (o->op < 0 || o->test < 0)
        bad_usage("cannot tell the test from the name '%s': use --op and --test", prog);
    if (o->iters && o->duration > 0)
        bad_usage("-n and -D exclude each other");
    if (o->op == OP_ATOMIC && o->size && o->size != 8)
        bad_usage("an atomic is 8 bytes, not %zu", o->size);
    if (o->op == OP_ATOMIC)
        o->size = 8, o->all = 0; /* -a too: the one size */
    if (!o->size)
        o->size = o->test == TEST_BW ? 65536 : 2;
    if (!o->iters && o->duration == 0)
        o->iters = o->test == TEST_BW ? 5000 : 1000;
}

/* ---- output -------------------------------------------------------------- */

/* perftest's look for the ceiling lines, in the table's unit (perf/grade.h),
 * by --report_gbits */
static const grade_fmt_t grade_fmts[2] = {
    {" ", 13, 13, "BW average", "MB/sec", 1e9 / 1048576, 2},
    {" ", 13, 13, "BW average", "Gb/sec", 8, 2},
};
/* A latency run is graded by the bandwidth its sizes reach: bytes /
 * t_typical (one way for write and send, the round trip for read). */
static const grade_fmt_t grade_fmt_lat = {
    " ", 13, 13, "bytes/t_typical", "MB/sec", 1e9 / 1048576, 2};

static const grade_fmt_t *fmt(const opts_t *o)
{
    return o->test == TEST_BW ? &grade_fmts[o->gbits] : &grade_fmt_lat;
}

/* GB/s that a row reached: BW average, or bytes / t_typical. */
static double row_gbs(const opts_t *o, const row_t *r)
{
    if (o->test == TEST_BW)
        return r->v[1] / grade_fmts[o->gbits].per_gbs;
    return r->v[2] > 0 ? (double)r->bytes / r->v[2] / 1e3 : 0;
}

/* The transport that carries the pair's bytes (shm between ranks of one
 * host under RCOMM_SHM=auto). */
static const char *link_name(const p2p_t *p, tp_caps_t *caps)
{
    p->tp->ops->caps(p->tp, caps);
    return caps->name;
}

static void print_header(const p2p_t *p)
{
    tp_caps_t caps;
    const opts_t *o = &p->o;
    const int bw = o->test == TEST_BW;

    printf(LINE "                    %s %s Test\n", titles[o->op], bw ? "BW" : "Latency");
    printf(" Transport    : %s\n Ranks        : 2\n", link_name(p, &caps));
    if (bw)
        printf(" TX depth     : %d\n", o->tx_depth);
    if (o->duration > 0)
        printf(" Duration     : %g s per size\n", o->duration);
    else
        printf(" Iterations   : %ld\n", o->iters);
    printf(" Warm-up      : %d\n", o->warmup);
    if (o->all)
        printf(" Sizes        : 2 to %u B\n", ALL_MAX);
    else
        printf(" Size         : %zu B\n", o->size);
    if (bw)
        printf(" Data check   : %s\n", o->check ? "on" : "off");
    if (bw && o->duration > 0)
        printf(" BW peak      : not measured with -D\n");
    grade_print_ceilings(&p->grade, fmt(o));
    printf(LINE "%s\n",
           !bw ? " #bytes #iterations    t_min[usec]    t_max[usec]  t_typical[usec]    "
                 "t_avg[usec]    t_stdev[usec]   99% percentile[usec]   99.9% "
                 "percentile[usec] "
           : o->gbits
               ? " #bytes     #iterations    BW peak[Gb/sec]    BW average[Gb/sec]   "
                 "MsgRate[Mpps]"
               : " #bytes     #iterations    BW peak[MB/sec]    BW average[MB/sec]   "
                 "MsgRate[Mpps]");
    fflush(stdout);
}

static perf_out_t *open_out(const char *path, perf_out_format_t format)
{
    perf_out_t *out = perf_out_open(path, format);

    if (!out)
        p2p_die(RCOMM_ERR_SYSTEM, "cannot write %s: %s", path, strerror(errno));
    return out;
}

/* One record: the table's row, named as in the header's fields[]. */
static void write_record(perf_out_t *out, const p2p_t *p, const row_t *r)
{
    const opts_t *o = &p->o;
    const char *const *name = fields[o->test];
    tp_caps_t caps;

    if (!out)
        return;
    perf_out_begin(out);
    perf_out_str(out, "tool", prog);
    perf_out_str(out, "transport", link_name(p, &caps));
    perf_out_str(out, "op", p2p_op_names[o->op]);
    perf_out_str(out, "test", test_names[o->test]);
    perf_out_int(out, "bytes", (int64_t)r->bytes);
    perf_out_int(out, "iterations", (int64_t)r->iters);
    for (int i = 0; i < 7 && name[i]; i++)
        perf_out_double(out, name[i], r->v[i]);
    if (o->test == TEST_BW)
        perf_out_str(out, "bw_unit", o->gbits ? "Gb/sec" : "MB/sec");
    perf_out_double(out, "ceiling_gbs", grade_ceiling_gbs(&p->grade));
    perf_out_double(out, "share", grade_share(&p->grade, row_gbs(o, r)));
    perf_out_end(out);
}

static void print_row(p2p_t *p, const row_t *r)
{
    const opts_t *o = &p->o;

    grade_rate(&p->grade, r->bytes, row_gbs(o, r), NULL);
    if (o->test == TEST_BW) {
        printf(" %-10zu %-14" PRIu64 " %-18.2f %-20.2f %.6f\n", r->bytes, r->iters,
               r->v[0], r->v[1], r->v[2]);
    } else {
        grade_time(&p->grade, r->bytes, r->v[2]); /* t_typical: the median */
        printf(" %-6zu %-14" PRIu64
               " %-14.2f %-12.2f %-18.2f %-14.2f %-15.2f %-22.2f %.2f\n",
               r->bytes, r->iters, r->v[0], r->v[1], r->v[2], r->v[3], r->v[4], r->v[5],
               r->v[6]);
    }
    fflush(stdout);
    write_record(p->json, p, r);
    write_record(p->csv, p, r);
}

static void close_out(perf_out_t *out, const char *path)
{
    if (perf_out_close(out) != 0)
        p2p_die(RCOMM_ERR_SYSTEM, "writing %s failed: %s", path, strerror(errno));
}

/* ---- setup and the run --------------------------------------------------- */
/* What the options make a rank do: both must agree, or the protocol in p2p_run.c
 * would hang or misreport. FNV-1a over the values that matter. */
static uint64_t digest(const opts_t *o)
{
    const uint64_t v[] = {
        (uint64_t)o->op,    (uint64_t)o->test,     (uint64_t)o->all,
        (uint64_t)o->check, (uint64_t)o->tx_depth, (uint64_t)o->warmup,
        (uint64_t)o->size,  (uint64_t)o->iters,    (uint64_t)(o->duration * 1e6)};
    uint64_t h = 14695981039346656037ull;

    for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++)
        h = (h ^ v[i]) * 1099511628211ull;
    return h;
}

static unsigned char *alloc_buf(size_t len)
{
    void *b = NULL;

    if (posix_memalign(&b, 4096, len))
        p2p_die(RCOMM_ERR_NO_MEMORY, "cannot allocate %zu bytes", len);
    return memset(b, 0, len); /* fault the pages in now, not while timing */
}

/* Buffers, their registration, and the exchange of windows. */
/* Our traffic goes straight to the transport: the service is only our tag
 * space. */
static const comm_service_ops_t p2p_service = {.name = "point-to-point benchmark"};

static void setup(p2p_t *p)
{
    const size_t cap = p->o.all ? ALL_MAX : p->o.size;
    const size_t nreq = p->o.tx_depth > RX_DEPTH ? (size_t)p->o.tx_depth : RX_DEPTH;
    const unsigned exposed =
        TP_REMOTE_READ | TP_REMOTE_WRITE | TP_REMOTE_ATOMIC | TP_MESSAGES;
    msg_t mine = {.digest = digest(&p->o)}, theirs;
    tp_req_t req = {0};
    rcomm_status_t st;
    hook_host_t host;

    hook_host(comm, &host);
    p->tp = hook_transport(comm);
    if ((st = comm_service_add(comm, &p2p_service, p, &p->space)) != RCOMM_OK)
        p2p_die(st, "%s", rcomm_last_error());
    p->peer = 1 - rank;
    p->yield = host.oversubscribed;
    p->spin = (double)host.spin_ns * 1e-9;
    p->loc = alloc_buf(cap);
    if (p->o.malloc_win)
        p->win = alloc_buf(cap);
    else if ((st = tp_heap_alloc(cap, (void **)&p->win)) != RCOMM_OK)
        p2p_die(st, "allocating a window of %zu bytes: %s", cap, why(st));
    p->reqs = calloc(nreq, sizeof(*p->reqs));
    if (!p->reqs)
        p2p_die(RCOMM_ERR_NO_MEMORY, "no memory for %zu requests", nreq);
    if (rank == 0 && p->o.test == TEST_BW && p->o.duration == 0) { /* for the peak */
        p->tpost = malloc((size_t)p->o.iters * sizeof(double));
        p->tdone = malloc((size_t)p->o.iters * sizeof(double));
        if (!p->tpost || !p->tdone)
            p2p_die(RCOMM_ERR_NO_MEMORY, "no memory for the times of %ld operations",
                    p->o.iters);
    }
    /* MESSAGES: on verbs, messages then land in place, with no copy. */
    if ((st = p->tp->ops->mem_reg(p->tp, p->loc, cap, TP_MESSAGES, &p->loc_mr)) ||
        (st = p->tp->ops->mem_reg(p->tp, p->win, cap, exposed, &p->win_mr)) ||
        (st = p->tp->ops->mem_rkey(p->win_mr, &mine.win)))
        p2p_die(st, "registering %zu bytes: %s", cap, why(st));
    p2p_post_msg(p, 1, T_SETUP, &mine, sizeof(mine), &req);
    p2p_ctrl(p, 0, T_SETUP, &theirs);
    p2p_wait_req(p, &req, "control send", sizeof(mine));
    if (theirs.digest != mine.digest)
        p2p_die(RCOMM_ERR_MISMATCH, "rank %d was started with other options", p->peer);
    p->rwin = theirs.win;
}

static void teardown(p2p_t *p)
{
    rcomm_status_t st;

    if ((st = p->tp->ops->mem_dereg(p->tp, p->win_mr)) != RCOMM_OK ||
        (st = p->tp->ops->mem_dereg(p->tp, p->loc_mr)) != RCOMM_OK)
        p2p_die(st, "cleaning up: %s", why(st));
    if ((st = rcomm_comm_destroy(comm)) != RCOMM_OK)
        p2p_die(st, "cleaning up: %s", why(st));
    comm = NULL;
    if (p->o.malloc_win)
        free(p->win);
    else
        tp_heap_free(p->win);
    free(p->loc);
    free(p->reqs);
    free(p->tpost);
    free(p->tdone);
}

static unsigned char pattern(size_t i, size_t len)
{
    return (unsigned char)((i * 131 + len) & 0xff);
}

static void fill(unsigned char *b, size_t len)
{
    for (size_t i = 0; i < len; i++)
        b[i] = pattern(i, len);
}

/* -c: the bytes that differ from the pattern, reported by the rank that looked. */
static uint64_t verify(const unsigned char *b, size_t len)
{
    uint64_t wrong = 0;
    size_t first = 0;

    for (size_t i = 0; i < len; i++)
        if (b[i] != pattern(i, len) && !wrong++)
            first = i;
    if (wrong)
        fprintf(stderr,
                "%s: rank %d: data check failed at size %zu: %" PRIu64 " bytes wrong, "
                "the first at offset %zu (0x%02x, expected 0x%02x)\n",
                prog, rank, len, wrong, first, b[first], pattern(first, len));
    return wrong;
}

/* The atomic test's counter: want fetch-and-adds of 1 landed, no more, no
 * fewer. 1 when it says otherwise. */
static uint64_t verify_count(const unsigned char *win, uint64_t want)
{
    uint64_t got;

    memcpy(&got, win, sizeof(got));
    if (got == want)
        return 0;
    fprintf(stderr,
            "%s: rank %d: data check failed: the counter is %" PRIu64 " after %" PRIu64
            " fetch-and-adds of 1\n",
            prog, rank, got, want);
    return 1;
}

/* Rank 0's side of one size: READY from rank 1, run, DONE, its REPORT. */
static uint64_t client(p2p_t *p, size_t len)
{
    const opts_t *o = &p->o;
    msg_t mine = {0}, theirs;
    row_t row = {.bytes = len};

    fill(p->loc, len);
    if (o->op == OP_READ)
        memset(p->loc, 0, len); /* where the gets land */
    memset(p->win, 0, len);     /* no write-lat marker from an older size */
    p2p_ctrl(p, 0, T_READY, NULL);
    if (o->test == TEST_BW)
        p2p_bw_client(p, len, &row);
    else
        p2p_lat_client(p, len, &row);
    if (o->test == TEST_BW && o->check && o->op == OP_READ)
        mine.wrong = verify(p->loc, len);
    mine.count = row.iters;
    p2p_ctrl(p, 1, T_DONE, &mine);
    p2p_ctrl(p, 0, T_REPORT, &theirs);
    if (o->test == TEST_BW && o->op == OP_SEND && theirs.count != row.iters + o->warmup)
        p2p_die(RCOMM_ERR_PROTOCOL, "rank 1 received %" PRIu64 " messages, not %" PRIu64,
                theirs.count, row.iters + o->warmup);
    print_row(p, &row);
    return mine.wrong + theirs.wrong;
}

/* Rank 1's side: prepare, READY, serve until DONE, REPORT. */
static uint64_t server(p2p_t *p, size_t len)
{
    const opts_t *o = &p->o;
    msg_t mine = {0}, theirs;
    tp_req_t done = {0};

    if (o->op == OP_READ)
        fill(p->win, len);
    else
        memset(p->win, 0, len);
    p2p_post_msg(p, 0, T_DONE, &theirs, sizeof(theirs), &done);
    /* READY once the receives are up. */
    if (o->test == TEST_LAT)
        mine.count = p2p_pong(p, len, &done);
    else if (o->op == OP_SEND)
        mine.count = p2p_rx_stream(p, len);
    else
        p2p_ctrl(p, 1, T_READY, NULL);
    p2p_wait_req(p, &done, "control receive",
                 sizeof(theirs)); /* TCP: serves puts, gets */
    if (done.len != sizeof(theirs))
        p2p_die(RCOMM_ERR_PROTOCOL, "DONE of %zu bytes", done.len);
    if (o->op == OP_ATOMIC) /* every fetch-and-add added 1: always checked */
        mine.wrong = verify_count(p->win, theirs.count + (uint64_t)o->warmup);
    else if (o->test == TEST_BW && o->check && o->op != OP_READ)
        mine.wrong = verify(p->win, len);
    p2p_ctrl(p, 1, T_REPORT, &mine);
    return mine.wrong + theirs.wrong;
}

int main(int argc, char **argv)
{
    p2p_t p = {0};
    uint64_t wrong = 0;
    int nranks;

    parse(argc, argv, &p.o);
    if (rcomm_comm_create_from_env(&comm) != RCOMM_OK) {
        fprintf(stderr, "%s: creating the communicator: %s\n", prog, rcomm_last_error());
        return 1;
    }
    rcomm_comm_rank(comm, &rank);
    rcomm_comm_size(comm, &nranks);
    if (nranks != 2) {
        fprintf(stderr,
                "%s: rank %d: usage: exactly 2 ranks, not %d (rcomm-run -n 2 %s)\n", prog,
                rank, nranks, prog);
        rcomm_comm_destroy(comm);
        return 2;
    }
    setup(&p);
    if (rank == 0) {
        p.json = p.o.json ? open_out(p.o.json, PERF_OUT_JSON) : NULL;
        p.csv = p.o.csv ? open_out(p.o.csv, PERF_OUT_CSV) : NULL;
        grade_init(&p.grade, comm, p.o.no_ceiling ? 0 : GRADE_NET, 0);
        print_header(&p);
    }
    for (size_t len = p.o.all ? 2 : p.o.size;
         !wrong && len <= (p.o.all ? ALL_MAX : p.o.size); len *= 2)
        wrong = rank == 0 ? client(&p, len) : server(&p, len);
    if (rank == 0) {
        printf(LINE);
        grade_print_results(&p.grade, fmt(&p.o));
        close_out(p.json, p.o.json);
        close_out(p.csv, p.o.csv);
    }
    /* Rank 1 leaves last: a launcher may stop the others when one fails. */
    p2p_ctrl(&p, rank == 0, T_BYE, NULL);
    teardown(&p);
    return wrong ? 1 : 0;
}
