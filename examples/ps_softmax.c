/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * ps_softmax: softmax regression (multinomial logistic regression) trained
 * with rcomm's parameter server. One process per rank, under rcomm-run:
 *
 *   rcomm-run -n 4 ps_softmax --mode ssp --staleness 2 --slow 3:20
 *
 * Ranks 0..S-1 are servers (--servers S) and only serve; the others are
 * workers (with --servers-work every rank is a worker). The data set is
 * synthetic and the same on every rank: K Gaussian blobs in D dimensions, N
 * samples, from a fixed seed. Each worker owns a disjoint shard (the first
 * N % workers shards one sample longer) and, every step, pulls the model,
 * computes the mean cross-entropy gradient over its next minibatch (cycling
 * through its shard), pushes it and ends the step with rcomm_ps_clock. The
 * model is two f32 tensors, "W" (K x D weights, row per class) and "b" (K
 * biases), so that the multi-tensor API is exercised.
 *
 * The first worker prints a header, then every --every steps
 *   step  clock_read  loss  wall_s
 * where clock_read is the clock of what the pull returned (every worker's
 * updates of the steps before it are in the model) and loss is the mean
 * cross-entropy over the WHOLE data set with the parameters just pulled; the
 * last line is the model pulled after the last step. Then a summary line:
 *   final loss X after T steps in Y s (pushes P, remote pulls Q, waits R)
 *
 * Exit status: 0 on success; 1 on any rcomm error, and ALSO 1 when a
 * worker's final loss is not below 0.7 x the loss of the initial model, so
 * that the example doubles as a test that training makes progress; 2 on a
 * bad command line.
 */
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "rcomm.h"

/* Training must at least cut the loss of the initial model by this much. */
#define PROGRESS_FACTOR 0.7

typedef struct {
    const char *mode;
    int staleness, staleness_set;
    int push, pull, steps, servers, servers_work, every;
    int classes, dims, samples, batch;
    double lr, momentum;
    int slow_rank, slow_ms; /* slow_rank -1: nobody is slow */
    uint64_t seed;
} opts_t;

typedef struct {
    int n, k, d;
    float *x; /* n rows of d features */
    int *y;   /* n labels in [0, k) */
} data_t;

static const char *prog = "ps_softmax";
static int rank = -1;

static void __attribute__((noreturn)) die(const char *what, rcomm_status_t st)
{
    fprintf(stderr, "%s: rank %d: %s: %s: %s\n", prog, rank, what, rcomm_strerror(st),
            rcomm_last_error());
    exit(1);
}

static void check(const char *what, rcomm_status_t st)
{
    if (st != RCOMM_OK)
        die(what, st);
}

/* ---- command line -------------------------------------------------------- */

static void usage(FILE *f)
{
    fprintf(f,
            "usage: %s [options]   (one process per rank, e.g. under rcomm-run)\n"
            "  --mode bsp|ssp|asp  consistency (default bsp)\n"
            "  --staleness S       ssp: how many steps a pull may lag (default 2)\n"
            "  --push N            push every N steps, accumulating between (default 1)\n"
            "  --pull N            pull every N steps, local copy between (default 1)\n"
            "  --steps T           steps per worker (default 200)\n"
            "  --servers S         ranks 0..S-1 are servers (default 1)\n"
            "  --servers-work      servers are workers too\n"
            "  --lr X              learning rate (default 0.05)\n"
            "  --momentum X        momentum in [0, 1) (default 0)\n"
            "  --batch B           minibatch size (default 32)\n"
            "  --slow RANK:MS      worker RANK sleeps MS milliseconds every step\n"
            "  --every K           print every K steps (default 20)\n"
            "  --seed N            data set and initial model (default 1)\n"
            "  --classes K, --dims D, --samples N   data set shape (4, 16, 4096)\n"
            "  -h, --help          print this help\n"
            "Exit status 1 on an rcomm error or when the final loss is not below\n"
            "%.1f x the initial loss; 2 on a bad command line.\n",
            prog, PROGRESS_FACTOR);
}

static void __attribute__((noreturn)) bad_usage(const char *what, const char *arg)
{
    if (arg)
        fprintf(stderr, "%s: %s '%s'\n", prog, what, arg);
    else
        fprintf(stderr, "%s: %s\n", prog, what);
    usage(stderr);
    exit(2);
}

static int parse_int(const char *s, int min, int max)
{
    char *end;
    long v = strtol(s, &end, 10);
    if (end == s || *end || v < min || v > max)
        bad_usage("bad number", s);
    return (int)v;
}

static double parse_double(const char *s, double min, double below)
{
    char *end;
    double v = strtod(s, &end);
    if (end == s || *end || !(v >= min && v < below))
        bad_usage("bad number", s);
    return v;
}

/* RANK:MS */
static void parse_slow(const char *s, opts_t *o)
{
    char *end;
    long r = strtol(s, &end, 10), ms;

    if (end == s || *end != ':' || r < 0 || r > 1000000)
        bad_usage("bad --slow (want RANK:MS)", s);
    s = end + 1;
    ms = strtol(s, &end, 10);
    if (end == s || *end || ms < 0 || ms > 600000)
        bad_usage("bad --slow (want RANK:MS)", s);
    o->slow_rank = (int)r;
    o->slow_ms = (int)ms;
}

/* The same on every rank, before the communicator exists: a bad option
 * stops every rank with status 2 and never leaves a peer waiting. */
static void parse(int argc, char **argv, opts_t *o)
{
    /* Long options only; the letters are just the values getopt returns. */
    static const struct option lopts[] = {{"mode", required_argument, NULL, 'm'},
                                          {"staleness", required_argument, NULL, 's'},
                                          {"push", required_argument, NULL, 'P'},
                                          {"pull", required_argument, NULL, 'p'},
                                          {"steps", required_argument, NULL, 't'},
                                          {"servers", required_argument, NULL, 'S'},
                                          {"servers-work", no_argument, NULL, 'W'},
                                          {"lr", required_argument, NULL, 'l'},
                                          {"momentum", required_argument, NULL, 'M'},
                                          {"batch", required_argument, NULL, 'B'},
                                          {"slow", required_argument, NULL, 'z'},
                                          {"every", required_argument, NULL, 'e'},
                                          {"seed", required_argument, NULL, 'r'},
                                          {"classes", required_argument, NULL, 'K'},
                                          {"dims", required_argument, NULL, 'D'},
                                          {"samples", required_argument, NULL, 'N'},
                                          {"help", no_argument, NULL, 'h'},
                                          {NULL, 0, NULL, 0}};
    int c;

    if (argc > 0 && argv[0][0]) {
        const char *slash = strrchr(argv[0], '/');
        prog = slash ? slash + 1 : argv[0];
        prog += strncmp(prog, "lt-", 3) == 0 ? 3 : 0; /* libtool wrapper */
    }
    *o = (opts_t){.mode = "bsp",
                  .staleness = 2,
                  .push = 1,
                  .pull = 1,
                  .steps = 200,
                  .servers = 1,
                  .every = 20,
                  .classes = 4,
                  .dims = 16,
                  .samples = 4096,
                  .batch = 32,
                  .lr = 0.05,
                  .slow_rank = -1,
                  .seed = 1};
    while ((c = getopt_long(argc, argv, "h", lopts, NULL)) != -1) {
        switch (c) {
        case 'm':
            if (strcmp(optarg, "bsp") && strcmp(optarg, "ssp") && strcmp(optarg, "asp"))
                bad_usage("unknown mode", optarg);
            o->mode = optarg;
            break;
        case 's':
            o->staleness = parse_int(optarg, 1, 1000000);
            o->staleness_set = 1;
            break;
        case 'P': o->push = parse_int(optarg, 1, 1000000); break;
        case 'p': o->pull = parse_int(optarg, 1, 1000000); break;
        case 't': o->steps = parse_int(optarg, 1, 100000000); break;
        case 'S': o->servers = parse_int(optarg, 1, 4096); break;
        case 'W': o->servers_work = 1; break;
        case 'l': o->lr = parse_double(optarg, 0, 1e6); break;
        case 'M': o->momentum = parse_double(optarg, 0, 1); break;
        case 'B': o->batch = parse_int(optarg, 1, 1000000); break;
        case 'z': parse_slow(optarg, o); break;
        case 'e': o->every = parse_int(optarg, 1, 100000000); break;
        case 'r': o->seed = (uint64_t)parse_int(optarg, 0, 2000000000); break;
        case 'K': o->classes = parse_int(optarg, 2, 4096); break;
        case 'D': o->dims = parse_int(optarg, 1, 65536); break;
        case 'N': o->samples = parse_int(optarg, 1, 10000000); break;
        case 'h': usage(stdout); exit(0);
        default: usage(stderr); exit(2);
        }
    }
    if (optind < argc)
        bad_usage("unexpected argument", argv[optind]);
    if (o->staleness_set && strcmp(o->mode, "ssp") != 0)
        bad_usage("--staleness is for --mode ssp, not", o->mode);
    if ((size_t)o->classes * (size_t)o->dims > 16u << 20)
        bad_usage("the model is too large (classes x dims > 16M)", NULL);
}

static int config_staleness(const opts_t *o)
{
    if (strcmp(o->mode, "asp") == 0)
        return RCOMM_PS_ASP;
    return strcmp(o->mode, "ssp") == 0 ? o->staleness : 0;
}

/* ---- data ---------------------------------------------------------------- */

/* splitmix64: tiny, good enough, and the same stream on every rank. */
static uint64_t rng_next(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* Uniform in (0, 1): never 0, so that log() below is finite. */
static double rng_uniform(uint64_t *s)
{
    return ((double)(rng_next(s) >> 11) + 0.5) / 9007199254740992.0;
}

/* Box-Muller; the second value is thrown away to keep the stream simple. */
static double rng_gauss(uint64_t *s)
{
    double u = rng_uniform(s), v = rng_uniform(s);
    return sqrt(-2 * log(u)) * cos(6.283185307179586 * v);
}

/*
 * K class centres with coordinates N(0, 0.6^2), and samples = centre of a
 * random class + N(0, 1) noise in every coordinate. Centres this close
 * overlap a little, so the loss falls over many steps instead of at once,
 * and never reaches 0.
 */
static int data_make(data_t *ds, const opts_t *o)
{
    uint64_t s = o->seed * 0x2545f4914f6cdd1dull + 1;
    float *centre = malloc((size_t)o->classes * o->dims * sizeof(float));

    ds->n = o->samples;
    ds->k = o->classes;
    ds->d = o->dims;
    ds->x = malloc((size_t)ds->n * ds->d * sizeof(float));
    ds->y = malloc((size_t)ds->n * sizeof(int));
    if (!centre || !ds->x || !ds->y) {
        free(centre);
        return -1;
    }
    for (size_t i = 0; i < (size_t)ds->k * ds->d; i++)
        centre[i] = (float)(0.6 * rng_gauss(&s));
    for (int i = 0; i < ds->n; i++) {
        int y = (int)(rng_next(&s) % (uint64_t)ds->k);
        ds->y[i] = y;
        for (int j = 0; j < ds->d; j++)
            ds->x[(size_t)i * ds->d + j] =
                centre[(size_t)y * ds->d + j] + (float)rng_gauss(&s);
    }
    free(centre);
    return 0;
}

/* ---- the model ----------------------------------------------------------- */

/* p = softmax(W x + b) (K values); returns the cross-entropy -log p[y]. In
 * double, shifted by the largest logit so that exp() cannot overflow. */
static double softmax_xent(const data_t *ds, const float *w, const float *b,
                           const float *x, int y, double *p)
{
    double zmax = -INFINITY, zy = 0, sum = 0;

    for (int k = 0; k < ds->k; k++) {
        const float *wk = w + (size_t)k * ds->d;
        double z = b[k];
        for (int j = 0; j < ds->d; j++)
            z += (double)wk[j] * x[j];
        p[k] = z;
        zy = k == y ? z : zy;
        zmax = z > zmax ? z : zmax;
    }
    for (int k = 0; k < ds->k; k++) {
        p[k] = exp(p[k] - zmax);
        sum += p[k];
    }
    for (int k = 0; k < ds->k; k++)
        p[k] /= sum;
    return log(sum) + zmax - zy;
}

/* Mean cross-entropy over the whole data set. */
static double full_loss(const data_t *ds, const float *w, const float *b, double *p)
{
    double total = 0;
    for (int i = 0; i < ds->n; i++)
        total += softmax_xent(ds, w, b, ds->x + (size_t)i * ds->d, ds->y[i], p);
    return total / ds->n;
}

/* gw, gb = gradient of the mean cross-entropy over samples idx[0..m):
 * d/dz_k = p_k - [k == y], so dW_k = (p_k - [k == y]) x and db_k likewise. */
static void gradient(const data_t *ds, const float *w, const float *b, const int *idx,
                     int m, float *gw, float *gb, double *p)
{
    const size_t kd = (size_t)ds->k * ds->d;

    memset(gw, 0, kd * sizeof(float));
    memset(gb, 0, (size_t)ds->k * sizeof(float));
    for (int i = 0; i < m; i++) {
        const float *x = ds->x + (size_t)idx[i] * ds->d;
        softmax_xent(ds, w, b, x, ds->y[idx[i]], p);
        for (int k = 0; k < ds->k; k++) {
            float dz = (float)((p[k] - (k == ds->y[idx[i]])) / m);
            float *gk = gw + (size_t)k * ds->d;
            for (int j = 0; j < ds->d; j++)
                gk[j] += dz * x[j];
            gb[k] += dz;
        }
    }
}

/* ---- the run ------------------------------------------------------------- */

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0)
        ;
}

/* Checks that need the communicator's size. The verdict is the same on every
 * rank, so all leave with status 2 together; rank 0 says why, before the
 * barrier, since the launcher stops every rank once one has exited. */
static void check_layout(rcomm_comm_t *comm, const opts_t *o, int size, int swork)
{
    char why[160] = "";
    int nworkers = swork ? size : size - o->servers;

    if (o->servers > size)
        snprintf(why, sizeof(why), "--servers %d is more than the %d ranks", o->servers,
                 size);
    else if (nworkers < 1)
        snprintf(why, sizeof(why),
                 "no rank is left to work (%d ranks, %d servers; see --servers-work)",
                 size, o->servers);
    else if (nworkers > o->samples)
        snprintf(why, sizeof(why), "%d workers but only %d samples", nworkers,
                 o->samples);
    else if (o->slow_rank >= size ||
             (o->slow_rank >= 0 && !swork && o->slow_rank < o->servers))
        snprintf(why, sizeof(why), "--slow rank %d is not a worker", o->slow_rank);
    if (!why[0])
        return;
    if (rank == 0) {
        fprintf(stderr, "%s: %s\n", prog, why);
        usage(stderr);
    }
    rcomm_barrier(comm);
    rcomm_comm_destroy(comm);
    exit(2);
}

static void print_header(const opts_t *o, rcomm_comm_t *comm, int size, int nworkers)
{
    const char *tp = "?";
    char stale[32] = "";

    rcomm_comm_transport(comm, &tp);
    if (strcmp(o->mode, "ssp") == 0)
        snprintf(stale, sizeof(stale), " (staleness %d)", o->staleness);
    printf("# ps_softmax: mode %s%s, %d ranks over %s: %d server(s)%s, %d worker(s)\n",
           o->mode, stale, size, tp, o->servers, o->servers_work ? " that also work" : "",
           nworkers);
    printf("# push every %d, pull every %d, lr %g, momentum %g, batch %d, %d steps\n",
           o->push, o->pull, o->lr, o->momentum, o->batch, o->steps);
    printf("# data: %d samples, %d classes, %d dims, seed %" PRIu64, o->samples,
           o->classes, o->dims, o->seed);
    if (o->slow_rank >= 0)
        printf("; rank %d sleeps %d ms per step", o->slow_rank, o->slow_ms);
    printf("\n#%5s %10s %10s %8s\n", "step", "clock_read", "loss", "wall_s");
}

/* Pull both tensors; returns the older of the two clocks, for which the
 * promise holds for the model as a whole. */
static uint64_t pull_model(rcomm_ps_t *ps, const data_t *ds, float *w, float *b)
{
    uint64_t cw, cb;
    check("pull W", rcomm_ps_pull(ps, 0, 0, (size_t)ds->k * ds->d, w, &cw));
    check("pull b", rcomm_ps_pull(ps, 1, 0, (size_t)ds->k, b, &cb));
    return cw < cb ? cw : cb;
}

/* The worker's loop. Returns 1 when training did not make enough progress. */
static int train(rcomm_ps_t *ps, const opts_t *o, const data_t *ds, int worker,
                 int nworkers, int printer, double loss0)
{
    const size_t kd = (size_t)ds->k * ds->d;
    /* The shard: the first n % nworkers workers take one sample more. */
    const int per = ds->n / nworkers, extra = ds->n % nworkers;
    const int first = worker * per + (worker < extra ? worker : extra);
    const int len = per + (worker < extra);
    float *w = malloc(kd * sizeof(float)), *b = malloc((size_t)ds->k * sizeof(float));
    float *gw = malloc(kd * sizeof(float)), *gb = malloc((size_t)ds->k * sizeof(float));
    double *p = malloc((size_t)ds->k * sizeof(double)), t0 = now_s(), loss, wall;
    int *idx = malloc((size_t)o->batch * sizeof(int)), pos = 0, failed;
    rcomm_ps_stats_t st;
    uint64_t cr;

    if (!w || !b || !gw || !gb || !p || !idx) {
        fprintf(stderr, "%s: rank %d: out of memory\n", prog, rank);
        exit(1);
    }
    for (int step = 0; step < o->steps; step++) {
        if (rank == o->slow_rank)
            sleep_ms(o->slow_ms);
        cr = pull_model(ps, ds, w, b);
        if (printer && step % o->every == 0)
            printf("%6d %10" PRIu64 " %10.5f %8.3f\n", step, cr, full_loss(ds, w, b, p),
                   now_s() - t0);
        for (int i = 0; i < o->batch; i++)
            idx[i] = first + (pos + i) % len;
        pos = (pos + o->batch) % len;
        gradient(ds, w, b, idx, o->batch, gw, gb, p);
        check("push W", rcomm_ps_push(ps, 0, 0, kd, gw));
        check("push b", rcomm_ps_push(ps, 1, 0, (size_t)ds->k, gb));
        check("clock", rcomm_ps_clock(ps));
    }
    /* The model after the last step, as a worker would save it. */
    cr = pull_model(ps, ds, w, b);
    loss = full_loss(ds, w, b, p);
    wall = now_s() - t0;
    check("stats", rcomm_ps_stats(ps, &st));
    if (printer) {
        printf("%6d %10" PRIu64 " %10.5f %8.3f\n", o->steps, cr, loss, wall);
        printf("final loss %.5f after %d steps in %.3f s (pushes %" PRIu64
               ", remote pulls %" PRIu64 ", waits %" PRIu64 ")\n",
               loss, o->steps, wall, st.pushes, st.pulls, st.waits);
    }
    /* Written so that a NaN loss (divergence) fails too. */
    failed = !(loss < PROGRESS_FACTOR * loss0);
    if (failed)
        fprintf(stderr,
                "%s: rank %d: FAIL: final loss %g is not below %.1f x the initial "
                "loss %g\n",
                prog, rank, loss, PROGRESS_FACTOR, loss0);
    free(idx);
    free(p);
    free(gb);
    free(gw);
    free(b);
    free(w);
    return failed;
}

int main(int argc, char **argv)
{
    opts_t o;
    data_t ds;
    rcomm_comm_t *comm;
    rcomm_ps_t *ps;
    rcomm_ps_config_t cfg;
    rcomm_ps_stats_t st;
    float *w0, *b0;
    double *p;
    int size, swork, nworkers, worker;
    int32_t failed = 0;
    uint64_t s;

    parse(argc, argv, &o);
    setvbuf(stdout, NULL, _IOLBF, 0); /* lines through rcomm-run's pipe as they come */
    check("creating the communicator", rcomm_comm_create_from_env(&comm));
    rcomm_comm_rank(comm, &rank);
    rcomm_comm_size(comm, &size);
    swork = o.servers_work || size == 1; /* rcomm_ps_create forces it on one rank */
    check_layout(comm, &o, size, swork);
    nworkers = swork ? size : size - o.servers;
    worker = swork ? rank : rank - o.servers; /* workers are numbered in rank order */

    /* Every rank builds the same data and initial model: servers take their
     * range of the model from it, workers their shard of the data. */
    w0 = malloc((size_t)o.classes * o.dims * sizeof(float));
    b0 = calloc((size_t)o.classes, sizeof(float));
    p = malloc((size_t)o.classes * sizeof(double));
    if (!w0 || !b0 || !p || data_make(&ds, &o) != 0) {
        fprintf(stderr, "%s: rank %d: out of memory\n", prog, rank);
        return 1;
    }
    s = o.seed ^ 0x5eedull;
    for (size_t i = 0; i < (size_t)o.classes * o.dims; i++)
        w0[i] = (float)(0.01 * rng_gauss(&s));

    rcomm_ps_config_init(&cfg);
    cfg.num_servers = o.servers;
    cfg.servers_work = o.servers_work;
    cfg.staleness = config_staleness(&o);
    cfg.push_interval = o.push;
    cfg.pull_interval = o.pull;
    cfg.lr = o.lr;
    cfg.momentum = o.momentum;
    const rcomm_ps_tensor_t tensors[2] = {
        {"W", (size_t)o.classes * o.dims, RCOMM_F32, w0},
        {"b", (size_t)o.classes, RCOMM_F32, b0},
    };
    check("rcomm_ps_create", rcomm_ps_create(comm, &cfg, tensors, 2, &ps));
    check("stats", rcomm_ps_stats(ps, &st));

    if (st.is_worker) {
        int printer = worker == 0;
        if (printer)
            print_header(&o, comm, size, nworkers);
        failed = train(ps, &o, &ds, worker, nworkers, printer, full_loss(&ds, w0, b0, p));
    } else {
        check("rcomm_ps_serve", rcomm_ps_serve(ps));
    }
    check("rcomm_ps_destroy", rcomm_ps_destroy(ps));

    /* The launcher stops every rank as soon as one exits non-zero: agree on
     * the verdict first, so that each failing worker has said why. */
    check("allreduce of the exit status",
          rcomm_allreduce(comm, RCOMM_IN_PLACE, &failed, 1, RCOMM_I32, RCOMM_MAX));
    check("rcomm_comm_destroy", rcomm_comm_destroy(comm));
    free(ds.x);
    free(ds.y);
    free(p);
    free(b0);
    free(w0);
    return failed ? 1 : 0;
}
