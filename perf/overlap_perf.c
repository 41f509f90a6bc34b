/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * rcomm-overlap-perf: how much of the gradients' allreduce a backward pass
 * hides when gradient buckets (rcomm_buckets_*) reduce each bucket as soon as
 * backprop fills it. One process per rank:
 *   rcomm-run -n 2 rcomm-overlap-perf --model resnet50
 *
 * The model is a list of gradient tensors in backprop order
 * (overlap_layers.h), scaled by --scale, laid back to back in one f32 buffer
 * in that order (so every bucket is reduced in place, as DDP lays them out).
 * Each layer's backward compute is real: repetitions of one sgemm of
 * --gemm-dim cubed, as many as its share of the parameters asks of
 * --compute-ms per step. The sgemm is timed once at startup with every rank
 * computing at once (as they do in a step); rank 0's time is broadcast, and
 * rank 0 hands every rank the same repetitions. Then whole backward passes
 * are timed (the slowest rank's median) and the repetitions spread again from
 * that pace, twice, since ranks that share cores or other load make a step's
 * GEMMs slower than the calibration's. --compute-ms auto sets the
 * step's compute to the time of one allreduce of all gradients at once, so
 * that communication and compute are about equal.
 *
 * For each bucket size of --bucket-kb (the first bucket is the smaller of
 * it and 1 MiB, as DDP's), every iteration runs four steps, interleaved so
 * that a drift of the machine touches them alike, each after a barrier:
 *   compute  the backward GEMMs alone
 *   comm     every tensor marked ready at once, then rcomm_buckets_wait
 *   noovl    the backward GEMMs, then every tensor marked, then the wait
 *   step     each tensor marked ready right after its layer's GEMMs, then
 *            the wait: what a training step with buckets does
 * A step's time is the slowest rank's; each column is the median over
 * --iters iterations after --warmup. efficiency = (compute + comm - step) /
 * min(compute, comm): 1 when the shorter one is wholly hidden, 0 when the
 * step costs their sum, negative when it costs more; printed as measured.
 *
 * The gradients start at 1 and are averaged: every value must stay 1, and
 * the values that do not are counted, as the other tools' #wrong.
 *
 * Progress: RCOMM_PROGRESS as the library read it is printed. With caller
 * progress, a bucket advances only inside rcomm calls (each mark, and the
 * final wait); a progress thread would move it while the GEMMs run.
 */
#include <cblas.h>
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "hooks/hooks.h"
#include "perf/overlap_layers.h"
#include "perf/perf_cli.h"
#include "perf/perf_out.h"
#include "rcomm.h"

#define TOOL "rcomm-overlap-perf"
#define MAX_B 32                /* entries of --bucket-kb */
#define FIRST_BUCKET (1u << 20) /* DDP's first bucket, at most */
#define CAL_BATCH_S 0.02        /* a calibration batch lasts at least this */
#define CAL_BATCHES 5
#define REFINE_ROUNDS 2 /* of refine_reps */
#define REFINE_STEPS 3

enum { M_COMPUTE, M_COMM, M_NOOVL, M_STEP, M_COUNT };

typedef struct {
    const char *model;
    double scale; /* 0: the model's default */
    int syn_layers;
    size_t syn_count;
    int syn_set;       /* a --synthetic-* option was given */
    double compute_ms; /* < 0: auto */
    size_t bucket_kb[MAX_B];
    int nb;
    int iters, warmup, gemm_dim;
    int list;
    int malloc_grads; /* --malloc: the gradients from malloc, not an arena */
    const char *json, *csv;
} opts_t;

static rcomm_comm_t *comm;
static int rank, size;

static void usage(FILE *f)
{
    fprintf(f,
            "usage: %s [options]   (one process per rank, e.g. under rcomm-run)\n"
            "  --model " OVL_MODELS "   the gradient tensors, in backprop order\n"
            "            (default resnet50)\n"
            "  --synthetic-layers N   synthetic: N tensors (default 16)\n"
            "  --synthetic-count C    synthetic: C f32 elements each (default 256K;\n"
            "            K, M suffixes)\n"
            "  --scale F   multiply every tensor's element count by F, at least 1\n"
            "            (default 0.25 resnet50, 0.05 bert-base, 1 synthetic)\n"
            "  --compute-ms T|auto   backward compute per step, in ms, split over the\n"
            "            layers by parameter count; auto (default): the time of one\n"
            "            allreduce of all gradients\n"
            "  --bucket-kb LIST   bucket sizes in KiB, comma-separated (default\n"
            "            256,1024,4096,16384,65536)\n"
            "  -n, --iters N    timed iterations per bucket size (default 10)\n"
            "  -w, --warmup N   untimed ones first (default 2)\n"
            "  --gemm-dim D     the compute's sgemm is D x D x D (default 128)\n"
            "  --malloc         the gradients in malloc'd memory instead of an arena\n"
            "            (rcomm_grad_arena_create: on one host, the mapped path)\n"
            "  --list           print the model's tensors and exit\n"
            "  --json FILE, --csv FILE   also write one record per bucket size\n"
            "  -h, --help   print this help\n",
            perf_prog);
}

static double parse_double(const char *s, const char *what, double min)
{
    char *end;
    double v;

    errno = 0;
    v = strtod(s, &end);
    if (end == s || *end || errno || !isfinite(v) || v < min || v > 1e9)
        perf_bad_usage(what, s);
    return v;
}

/* "256,1024": each at least 1 KiB. */
static void parse_buckets(const char *s, opts_t *o)
{
    char buf[512], *save = NULL, *tok;

    if (strlen(s) >= sizeof(buf) || !*s || s[0] == ',' || s[strlen(s) - 1] == ',' ||
        strstr(s, ",,"))
        perf_bad_usage("bad bucket list", s);
    strcpy(buf, s);
    o->nb = 0;
    for (tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        if (o->nb == MAX_B)
            perf_bad_usage("too many entries in the bucket list", s);
        o->bucket_kb[o->nb++] = (size_t)perf_parse_int(tok, 1);
    }
}

/* The same on every rank, before the communicator exists: a bad option
 * stops every rank with status 2 and never leaves a peer waiting. */
static void parse(int argc, char **argv, opts_t *o)
{
    enum {
        MODEL = 256,
        SYN_LAYERS,
        SYN_COUNT,
        SCALE,
        COMPUTE,
        BUCKETS,
        GEMM,
        LIST,
        MALLOC,
        JSON,
        CSV
    };
    static const struct option lopts[] = {
        {"model", required_argument, NULL, MODEL},
        {"synthetic-layers", required_argument, NULL, SYN_LAYERS},
        {"synthetic-count", required_argument, NULL, SYN_COUNT},
        {"scale", required_argument, NULL, SCALE},
        {"compute-ms", required_argument, NULL, COMPUTE},
        {"bucket-kb", required_argument, NULL, BUCKETS},
        {"iters", required_argument, NULL, 'n'},
        {"warmup", required_argument, NULL, 'w'},
        {"gemm-dim", required_argument, NULL, GEMM},
        {"list", no_argument, NULL, LIST},
        {"malloc", no_argument, NULL, MALLOC},
        {"json", required_argument, NULL, JSON},
        {"csv", required_argument, NULL, CSV},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}};
    static const size_t default_kb[] = {256, 1024, 4096, 16384, 65536};
    const char *slash = argc > 0 ? strrchr(argv[0], '/') : NULL;
    int c;

    perf_prog = slash ? slash + 1 : argc > 0 ? argv[0] : perf_prog;
    perf_prog += strncmp(perf_prog, "lt-", 3) == 0 ? 3 : 0; /* libtool's wrapper */
    *o = (opts_t){.model = "resnet50",
                  .syn_layers = 16,
                  .syn_count = 256u << 10,
                  .compute_ms = -1,
                  .iters = 10,
                  .warmup = 2,
                  .gemm_dim = 128};
    memcpy(o->bucket_kb, default_kb, sizeof(default_kb));
    o->nb = sizeof(default_kb) / sizeof(default_kb[0]);
    while ((c = getopt_long(argc, argv, "n:w:h", lopts, NULL)) != -1) {
        switch (c) {
        case MODEL: o->model = optarg; break;
        case SYN_LAYERS:
            o->syn_layers = perf_parse_int(optarg, 1);
            o->syn_set = 1;
            break;
        case SYN_COUNT:
            o->syn_count = perf_parse_size(optarg);
            o->syn_set = 1;
            if (o->syn_count == 0)
                perf_bad_usage("bad synthetic count", optarg);
            break;
        case SCALE: o->scale = parse_double(optarg, "bad scale", 1e-9); break;
        case COMPUTE:
            o->compute_ms =
                strcmp(optarg, "auto") == 0 ? -1 : parse_double(optarg, "bad time", 0);
            break;
        case BUCKETS: parse_buckets(optarg, o); break;
        case 'n': o->iters = perf_parse_int(optarg, 1); break;
        case 'w': o->warmup = perf_parse_int(optarg, 0); break;
        case GEMM: o->gemm_dim = perf_parse_int(optarg, 1); break;
        case LIST: o->list = 1; break;
        case MALLOC: o->malloc_grads = 1; break;
        case JSON: o->json = optarg; break;
        case CSV: o->csv = optarg; break;
        case 'h': usage(stdout); exit(0);
        default: usage(stderr); exit(2);
        }
    }
    if (optind < argc)
        perf_bad_usage("unexpected argument", argv[optind]);
    if (strcmp(o->model, "resnet50") && strcmp(o->model, "bert-base") &&
        strcmp(o->model, "synthetic"))
        perf_bad_usage("unknown model (" OVL_MODELS ")", o->model);
    if (o->syn_set && strcmp(o->model, "synthetic"))
        perf_bad_usage("--synthetic-layers and --synthetic-count are for --model "
                       "synthetic only",
                       NULL);
    if (o->gemm_dim > 4096)
        perf_bad_usage("--gemm-dim is at most 4096", NULL);
    if (o->scale == 0)
        o->scale = strcmp(o->model, "resnet50") == 0    ? 0.25
                   : strcmp(o->model, "bert-base") == 0 ? 0.05
                                                        : 1;
}

/* ---- the model and its compute ------------------------------------------- */

typedef struct {
    const opts_t *o;
    ovl_model_t m;
    float *grads;              /* every tensor back to back, backprop order */
    rcomm_grad_arena_t *arena; /* where grads lie, unless --malloc */
    rcomm_grad_t *g;
    int *reps; /* GEMMs of each layer's backward */
    long total_reps;
    int d;
    float *a, *bm, *c; /* the sgemm's matrices, d x d */
    double gemm0_s;    /* one sgemm, rank 0's time in the calibration */
    double gemm_s;     /* one sgemm, as paced in a whole step */
    double target_s;   /* compute asked for per step */
    double flat_s;     /* auto: one allreduce of everything (else 0) */
} bench_t;

static double now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
    const double x = *(const double *)a, y = *(const double *)b;

    return (x > y) - (x < y);
}

/* Sorts v. */
static double median(double *v, size_t n)
{
    qsort(v, n, sizeof(*v), cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static void gemm(bench_t *b)
{
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, b->d, b->d, b->d, 1.0f, b->a,
                b->d, b->bm, b->d, 0.0f, b->c, b->d);
}

static void bench_init(bench_t *b, const opts_t *o)
{
    const size_t dd = (size_t)o->gemm_dim * (size_t)o->gemm_dim;
    size_t off = 0;

    *b = (bench_t){.o = o, .d = o->gemm_dim};
    if (ovl_model_build(&b->m, o->model, o->scale, o->syn_layers, o->syn_count) != 0)
        perf_die("building the layer list");
    b->g = calloc((size_t)b->m.n, sizeof(*b->g));
    if (b->g && !o->malloc_grads) { /* one f32 tensor per layer: back to back */
        for (int i = 0; i < b->m.n; i++)
            b->g[i] = (rcomm_grad_t){b->m.t[i].name, NULL, b->m.t[i].count, RCOMM_F32};
        if (rcomm_grad_arena_create(comm, b->g, b->m.n, &b->arena) != RCOMM_OK)
            perf_die("rcomm_grad_arena_create");
        b->grads = b->g[0].buf;
    } else {
        b->grads = aligned_alloc(64, (b->m.params * sizeof(float) + 63) & ~(size_t)63);
    }
    b->reps = calloc((size_t)b->m.n, sizeof(*b->reps));
    b->a = malloc(dd * sizeof(float));
    b->bm = malloc(dd * sizeof(float));
    b->c = malloc(dd * sizeof(float));
    if (!b->grads || !b->g || !b->reps || !b->a || !b->bm || !b->c)
        perf_die("allocating the gradients");
    for (size_t i = 0; i < b->m.params; i++)
        b->grads[i] = 1;
    for (int i = 0; i < b->m.n; i++) {
        b->g[i] =
            (rcomm_grad_t){b->m.t[i].name, b->grads + off, b->m.t[i].count, RCOMM_F32};
        off += b->m.t[i].count;
    }
    for (size_t i = 0; i < dd; i++) {
        b->a[i] = (float)(i % 7) * 0.125f;
        b->bm[i] = (float)(i % 5) * 0.25f;
    }
}

static void bench_free(bench_t *b)
{
    ovl_model_free(&b->m);
    if (b->arena)
        rcomm_grad_arena_destroy(b->arena);
    else
        free(b->grads);
    free(b->g);
    free(b->reps);
    free(b->a);
    free(b->bm);
    free(b->c);
}

/* Seconds per sgemm: every rank computes at once, as in a step (ranks may
 * share cores), and rank 0's median batch is everyone's. */
static void calibrate(bench_t *b)
{
    double t[CAL_BATCHES];
    long n = 1;

    if (rcomm_barrier(comm) != RCOMM_OK)
        perf_die("barrier");
    for (int i = 0; i < 8; i++)
        gemm(b);
    for (;;) { /* a batch long enough for the clock */
        double t0 = now_s();
        for (long i = 0; i < n; i++)
            gemm(b);
        if (now_s() - t0 >= CAL_BATCH_S || n >= (1l << 30))
            break;
        n *= 2;
    }
    for (int k = 0; k < CAL_BATCHES; k++) {
        double t0 = now_s();
        for (long i = 0; i < n; i++)
            gemm(b);
        t[k] = (now_s() - t0) / (double)n;
    }
    b->gemm_s = median(t, CAL_BATCHES);
    if (rcomm_broadcast(comm, &b->gemm_s, 1, RCOMM_F64, 0) != RCOMM_OK)
        perf_die("broadcast of the calibration");
    b->gemm0_s = b->gemm_s;
}

/* The steps' time, each the slowest rank's, median over iters. */
static double slowest_median(double *t, int iters)
{
    if (rcomm_allreduce(comm, RCOMM_IN_PLACE, t, (size_t)iters, RCOMM_F64, RCOMM_MAX) !=
        RCOMM_OK)
        perf_die("allreduce of the times");
    return median(t, (size_t)iters);
}

/* auto: one allreduce of all gradients, as one buffer. */
static void measure_flat(bench_t *b)
{
    const opts_t *o = b->o;
    double *t = calloc((size_t)o->iters, sizeof(*t));

    if (!t)
        perf_die("allocating the times");
    for (int it = 0; it < o->warmup + o->iters; it++) {
        double t0;
        if (rcomm_barrier(comm) != RCOMM_OK)
            perf_die("barrier");
        t0 = now_s();
        if (rcomm_allreduce(comm, RCOMM_IN_PLACE, b->grads, b->m.params, RCOMM_F32,
                            RCOMM_AVG) != RCOMM_OK)
            perf_die("allreduce of all gradients");
        if (it >= o->warmup)
            t[it - o->warmup] = now_s() - t0;
    }
    b->flat_s = slowest_median(t, o->iters);
    free(t);
}

/* Rank 0 spreads target_s / gemm_s GEMMs over the layers by parameter count,
 * carrying the rounding from layer to layer so that the sum is right; every
 * rank gets the same list. At least one GEMM in all: a target shorter than
 * half a GEMM (auto's, on a loaded machine) left none, and a compute of 0
 * made the efficiency, over min(compute, comm), meaningless. */
static void assign_reps(bench_t *b)
{
    if (rank == 0) {
        const double per = b->gemm_s > 0 ? b->target_s / b->gemm_s : 0;
        double acc = 0;
        long done = 0;

        for (int i = 0; i < b->m.n; i++) {
            long upto;
            acc += per * (double)b->m.t[i].count / (double)b->m.params;
            upto = lround(acc);
            b->reps[i] = (int)(upto - done);
            done = upto;
        }
        if (done == 0 && b->m.n > 0)
            b->reps[b->m.n - 1] = 1;
    }
    if (rcomm_broadcast(comm, b->reps, (size_t)b->m.n, RCOMM_I32, 0) != RCOMM_OK)
        perf_die("broadcast of the repetitions");
    b->total_reps = 0;
    for (int i = 0; i < b->m.n; i++)
        b->total_reps += b->reps[i];
}

static void backward(bench_t *b, rcomm_buckets_t *bk);

/* The pace of a whole backward pass can differ from the calibration's (ranks
 * that outnumber the cores, other load, caches): time it, every rank at
 * once, and spread the GEMMs again from the slowest rank's median, twice.
 * Every rank sees the same times, so the same pace. */
static void refine_reps(bench_t *b)
{
    for (int round = 0; round < REFINE_ROUNDS && b->total_reps > 0; round++) {
        double t[REFINE_STEPS];

        for (int k = 0; k < REFINE_STEPS; k++) {
            double t0;
            if (rcomm_barrier(comm) != RCOMM_OK)
                perf_die("barrier");
            t0 = now_s();
            backward(b, NULL);
            t[k] = now_s() - t0;
        }
        b->gemm_s = slowest_median(t, REFINE_STEPS) / (double)b->total_reps;
        assign_reps(b);
    }
}

/* ---- the four steps ---------------------------------------------------- */

/* Backprop: each layer's GEMMs, then (with buckets) its gradient is ready. */
static void backward(bench_t *b, rcomm_buckets_t *bk)
{
    for (int i = 0; i < b->m.n; i++) {
        for (int r = 0; r < b->reps[i]; r++)
            gemm(b);
        if (bk && rcomm_buckets_ready(bk, i) != RCOMM_OK)
            perf_die("rcomm_buckets_ready");
    }
}

static void reduce_all(bench_t *b, rcomm_buckets_t *bk)
{
    for (int i = 0; i < b->m.n; i++)
        if (rcomm_buckets_ready(bk, i) != RCOMM_OK)
            perf_die("rcomm_buckets_ready");
}

static void run_step(bench_t *b, rcomm_buckets_t *bk, int mode)
{
    switch (mode) {
    case M_COMPUTE: backward(b, NULL); return;
    case M_COMM: reduce_all(b, bk); break;
    case M_NOOVL:
        backward(b, NULL);
        reduce_all(b, bk);
        break;
    case M_STEP: backward(b, bk); break;
    }
    if (rcomm_buckets_wait(bk) != RCOMM_OK)
        perf_die("rcomm_buckets_wait");
}

typedef struct {
    size_t bucket_kb;
    int nbuckets;
    double ms[M_COUNT]; /* compute, comm, noovl, step */
    double eff;
} line_t;

/* One bucket size: the four steps interleaved, iteration by iteration. */
static void run_row(bench_t *b, size_t kb, double *t, line_t *l)
{
    const opts_t *o = b->o;
    rcomm_buckets_config_t cfg;
    rcomm_buckets_t *bk;
    double compute, comm_s, step;

    rcomm_buckets_config_init(&cfg);
    cfg.bucket_bytes = kb << 10;
    cfg.first_bucket_bytes =
        cfg.bucket_bytes < FIRST_BUCKET ? cfg.bucket_bytes : FIRST_BUCKET;
    cfg.op = RCOMM_AVG;
    if (rcomm_buckets_create(comm, &cfg, b->g, b->m.n, &bk) != RCOMM_OK)
        perf_die("rcomm_buckets_create");
    *l = (line_t){.bucket_kb = kb};
    if (rcomm_buckets_layout(bk, &l->nbuckets, NULL) != RCOMM_OK)
        perf_die("rcomm_buckets_layout");
    for (int it = 0; it < o->warmup + o->iters; it++)
        for (int m = 0; m < M_COUNT; m++) {
            double t0;
            if (rcomm_barrier(comm) != RCOMM_OK)
                perf_die("barrier");
            t0 = now_s();
            run_step(b, bk, m);
            if (it >= o->warmup)
                t[m * o->iters + it - o->warmup] = now_s() - t0;
        }
    if (rcomm_buckets_destroy(bk) != RCOMM_OK)
        perf_die("rcomm_buckets_destroy");
    for (int m = 0; m < M_COUNT; m++)
        l->ms[m] = 1e3 * slowest_median(t + m * o->iters, o->iters);
    compute = l->ms[M_COMPUTE];
    comm_s = l->ms[M_COMM];
    step = l->ms[M_STEP];
    l->eff = (compute + comm_s - step) / fmin(compute, comm_s); /* NaN on 0 / 0 */
}

/* ---- output -------------------------------------------------------------- */

typedef struct {
    const char *tp, *progress;
} env_t;

static void print_header(const bench_t *b, const env_t *e)
{
    const opts_t *o = b->o;
    hook_host_t host;

    hook_host(comm, &host);
    printf("# %s: model %s, scale %g, %d tensors, %zu params, %zu bytes (f32), ranks "
           "%d, transport %s, progress %s\n",
           TOOL, o->model, o->scale, b->m.n, b->m.params, b->m.params * sizeof(float),
           size, e->tp, e->progress);
    printf("# rank 0's host: %d ranks on %d cores%s\n", host.local_size, host.local_cores,
           host.oversubscribed ? " (oversubscribed: polls yield)" : "");
    printf("# gradients: %s\n", b->arena ? "in an arena (rcomm_grad_arena_create)"
                                         : "in malloc'd memory (--malloc)");
    if (o->compute_ms < 0)
        printf("# compute: %.2f ms per step (auto: one allreduce of all gradients, "
               "median %.2f ms)\n",
               1e3 * b->target_s, 1e3 * b->flat_s);
    else
        printf("# compute: %.2f ms per step (--compute-ms)\n", 1e3 * b->target_s);
    printf("# calibration: sgemm %dx%dx%d, %.1f us alone, %.1f us in a backward pass "
           "(every rank computing); %ld per step over %d layers\n",
           b->d, b->d, b->d, 1e6 * b->gemm0_s, 1e6 * b->gemm_s, b->total_reps, b->m.n);
    printf("# iters %d, warmup %d; each time: the slowest rank's, median over iters; "
           "first bucket: min(bucket, %u KiB)\n",
           o->iters, o->warmup, FIRST_BUCKET >> 10);
    printf("# compute: GEMMs only; comm: all marked, then wait; noovl: GEMMs, then all "
           "marked, then wait;\n");
    printf("# step: each marked after its GEMMs, then wait; efficiency = (compute + comm "
           "- step) / min(compute, comm)\n");
    printf("#\n");
    printf("# %9s %8s %10s %10s %10s %10s %10s\n", "bucket", "nbuckets", "compute",
           "comm", "noovl", "step", "efficiency");
    printf("# %9s %8s %10s %10s %10s %10s %10s\n", "(KiB)", "", "(ms)", "(ms)", "(ms)",
           "(ms)", "");
    fflush(stdout);
}

static void print_line(const line_t *l)
{
    printf("  %9zu %8d %10.2f %10.2f %10.2f %10.2f %10.4f\n", l->bucket_kb, l->nbuckets,
           l->ms[M_COMPUTE], l->ms[M_COMM], l->ms[M_NOOVL], l->ms[M_STEP], l->eff);
    fflush(stdout);
}

static void write_record(perf_out_t *out, const bench_t *b, const env_t *e,
                         const line_t *l)
{
    if (!out)
        return;
    perf_out_begin(out);
    perf_out_str(out, "tool", TOOL);
    perf_out_str(out, "model", b->o->model);
    perf_out_double(out, "scale", b->o->scale);
    perf_out_int(out, "tensors", b->m.n);
    perf_out_int(out, "params", (int64_t)b->m.params);
    perf_out_int(out, "bytes", (int64_t)(b->m.params * sizeof(float)));
    perf_out_int(out, "ranks", size);
    perf_out_str(out, "transport", e->tp);
    perf_out_str(out, "progress", e->progress);
    perf_out_int(out, "iters", b->o->iters);
    perf_out_double(out, "gemm_us", 1e6 * b->gemm_s);
    perf_out_int(out, "bucket_kb", (int64_t)l->bucket_kb);
    perf_out_int(out, "nbuckets", l->nbuckets);
    perf_out_double(out, "compute_ms", l->ms[M_COMPUTE]);
    perf_out_double(out, "comm_ms", l->ms[M_COMM]);
    perf_out_double(out, "noovl_ms", l->ms[M_NOOVL]);
    perf_out_double(out, "step_ms", l->ms[M_STEP]);
    perf_out_double(out, "efficiency", l->eff);
    perf_out_end(out);
}

static void list_model(const opts_t *o)
{
    ovl_model_t m = {0};

    if (ovl_model_build(&m, o->model, o->scale, o->syn_layers, o->syn_count) != 0) {
        fprintf(stderr, "%s: building the layer list: %s\n", perf_prog, strerror(errno));
        exit(1);
    }
    printf("# %s: model %s, scale %g, %d tensors, %zu params, in backprop order\n", TOOL,
           o->model, o->scale, m.n, m.params);
    for (int i = 0; i < m.n; i++)
        printf("%4d %-56s %12zu\n", i, m.t[i].name, m.t[i].count);
    ovl_model_free(&m);
}

/* Values that are not 1 any more (the average of ones). */
static int64_t count_wrong(const bench_t *b)
{
    int64_t wrong = 0;

    for (size_t i = 0; i < b->m.params; i++)
        wrong += !(fabsf(b->grads[i] - 1.0f) <= 1e-5f);
    return wrong;
}

/* ---- the run ------------------------------------------------------------- */

int main(int argc, char **argv)
{
    opts_t o;
    bench_t b;
    env_t e;
    double *t;
    perf_out_t *json, *csv;
    int64_t wrong;
    int32_t failed;

    perf_prog = TOOL;
    perf_usage = usage;
    parse(argc, argv, &o);
    if (o.list) {
        list_model(&o);
        return 0;
    }
    openblas_set_num_threads(1); /* ranks share the cores */
    comm = perf_comm_create(&rank, &size, &e.tp);
    e.progress = hook_config(comm)->progress_thread ? "thread" : "caller";
    bench_init(&b, &o);
    if (!(t = calloc((size_t)M_COUNT * (size_t)o.iters, sizeof(*t))))
        perf_die("allocating the times");
    perf_open_outputs(comm, o.json, o.csv, &json, &csv);

    calibrate(&b);
    if (o.compute_ms < 0) {
        measure_flat(&b);
        b.target_s = b.flat_s;
    } else {
        b.target_s = o.compute_ms / 1e3;
    }
    assign_reps(&b);
    refine_reps(&b);
    if (rank == 0)
        print_header(&b, &e);
    for (int k = 0; k < o.nb; k++) {
        line_t l;
        run_row(&b, o.bucket_kb[k], t, &l);
        if (rank == 0) {
            print_line(&l);
            write_record(json, &b, &e, &l);
            write_record(csv, &b, &e, &l);
        }
    }
    wrong = count_wrong(&b);
    if (rcomm_allreduce(comm, RCOMM_IN_PLACE, &wrong, 1, RCOMM_I64, RCOMM_SUM))
        perf_die("allreduce of the values out of bounds");
    failed = wrong != 0;
    if (rank == 0) {
        printf("# Out of bounds values : %lld %s\n", (long long)wrong,
               wrong ? "FAILED" : "OK");
        printf("#\n");
        failed |= perf_close_output(json, o.json) | perf_close_output(csv, o.csv);
        fflush(stdout);
    }
    /* Every rank fails when one does, and the launcher stops the others as
     * soon as one exits non-zero: agree, then leave together. */
    if (rcomm_allreduce(comm, RCOMM_IN_PLACE, &failed, 1, RCOMM_I32, RCOMM_MAX))
        perf_die("allreduce of the exit status");
    free(t);
    bench_free(&b);
    if (rcomm_comm_destroy(comm) != RCOMM_OK)
        perf_die("destroy");
    return failed;
}
