/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The parameter server's behaviour, run by every rank under rcomm-run (see
 * test_ps.c). Modes:
 *   values     initial values, owners and sub-range pulls exact; bad calls
 *              refused with a message; one BSP step exact
 *   clocks     every worker pushes 1 into its own key each step, so key j
 *              counts worker j's applied steps: each pull checks the
 *              staleness bound (exact under BSP) and the clock it returns;
 *              workers run at different speeds
 *   intervals  clocks with --push/--pull: pushes and pulls counted, and
 *              the values of pulls served locally are those of the last pull
 *   torn       concurrent pushes and pulls on many small blocks, written
 *              slowly by a user update rule: every block read must be whole,
 *              and no block is read one-sided more than twice in a pull
 *   equiv      BSP SGD with momentum (f64) through the PS, through
 *              AllReduce and in one process on the union batch agree
 *   death      server rank 1 dies; every worker's next call fails naming it
 *   wdeath     worker rank 2 dies (no goodbye) while server rank 0, which
 *              has nothing to send it, serves: rcomm_ps_serve fails naming
 *              it (over verbs without rdma_cm only the keepalive tells)
 *   mixed      pushes of the whole tensor (80 KB: the update threads apply
 *              them) and of a few keys (small: the server's progress does)
 *              interleaved, ASP with momentum: the final model exact
 *   badnotify  worker rank 1 notifies server rank 0 of a push of the wrong
 *              clock (hook_ps_notify) after a right one: rcomm_ps_serve
 *              fails, a protocol error naming rank 1 and that clock
 *   attentive  rank 0 serves and works, and computes outside rcomm while the
 *              others pull: with --expect served their pulls are answered
 *              meanwhile (the progress thread); with --expect unserved
 *              (RCOMM_PROGRESS=caller) none is, within --wait seconds. The
 *              workers say they are done by files in --flags DIR.
 * Options: --servers S --work --staleness S|asp --push N --pull N --steps T
 * --flags DIR --wait S --expect served|unserved --pause US (the update
 * threads wait US microseconds between their reads of what is released
 * and what is applied: hook_ps_pause).
 * Exit status 0 when this rank saw what it should.
 */
#include <getopt.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "hooks/hooks.h" /* badnotify: a forged notification; --pause */
#include "rank_check.h"

static int bad;
static rcomm_comm_t *comm;
static rcomm_ps_config_t cfg;
static int steps = 20;
static const char *flags_dir = ".";
static int wait_s = 20, expect_served = 1;

static int is_worker(void)
{
    return cfg.servers_work || rank >= cfg.num_servers || size == 1;
}
static int nworkers(void)
{
    return cfg.servers_work || size == 1 ? size : size - cfg.num_servers;
}
static int worker_id(void)
{
    return cfg.servers_work || size == 1 ? rank : rank - cfg.num_servers;
}

static void nap_ms(int ms)
{
    nanosleep(&(struct timespec){ms / 1000, (long)(ms % 1000) * 1000000}, NULL);
}

/* Server-only ranks serve; every rank destroys. */
static int finish(rcomm_ps_t *ps)
{
    if (!is_worker())
        CALL(rcomm_ps_serve(ps));
    CALL(rcomm_ps_destroy(ps));
    return 0;
}

static int expect_err(const char *what, rcomm_status_t st, const char *needle)
{
    if (st != RCOMM_ERR_INVALID_ARG || !strstr(rcomm_last_error(), needle))
        FAIL("%s: got %s '%s', expected INVALID_ARG mentioning '%s'", what,
             rcomm_strerror(st), rcomm_last_error(), needle);
    return 0;
}

/* ---- values ------------------------------------------------------------ */

static double init_val(int t, size_t i)
{
    return (double)(t + 1) * 1000.0 + (double)i * 0.5;
}

static int values(void)
{
    /* One key (fewer than servers), p - 1 keys (maybe 0: then 1), a prime. */
    const size_t counts[3] = {1, size > 1 ? (size_t)size - 1 : 1, 10007};
    double *init[3], *buf = malloc(10007 * sizeof(double));
    rcomm_ps_tensor_t t[3];
    rcomm_ps_t *ps;
    uint64_t clock;
    char name[3][8];

    for (int i = 0; i < 3; i++) {
        init[i] = malloc(counts[i] * sizeof(double));
        for (size_t k = 0; k < counts[i]; k++)
            init[i][k] = init_val(i, k);
        snprintf(name[i], sizeof(name[i]), "t%d", i);
        t[i] = (rcomm_ps_tensor_t){name[i], counts[i], RCOMM_F64, init[i]};
    }
    cfg.block_bytes = 256; /* many blocks, pieces across servers */
    cfg.lr = 0.5;
    CALL(rcomm_ps_create(comm, &cfg, t, 3, &ps));
    /* Owners tile every tensor. */
    for (int i = 0; i < 3; i++) {
        size_t k = 0;
        int last = -1;
        while (k < counts[i]) {
            size_t first, n;
            int s;
            CALL(rcomm_ps_owner(ps, i, k, &s, &first, &n));
            if (first != k || n == 0 || s <= last || s >= cfg.num_servers)
                FAIL("owner of t%d[%zu]: server %d [%zu, +%zu)", i, k, s, first, n);
            last = s;
            k = first + n;
        }
    }
    expect_err("owner past end", rcomm_ps_owner(ps, 0, 1, NULL, NULL, NULL),
               "past tensor");
    {
        int w, nw;
        CALL(rcomm_ps_worker(ps, &w, &nw));
        if (w != (is_worker() ? worker_id() : -1) || nw != nworkers())
            FAIL("rcomm_ps_worker: index %d of %d, expected %d of %d", w, nw,
                 is_worker() ? worker_id() : -1, nworkers());
    }
    if (is_worker()) {
        static const size_t sub[][2] = {{0, 0},     {0, 1},     {5, 1},    {4999, 10},
                                        {17, 9990}, {10006, 1}, {0, 10007}};
        for (size_t j = 0; j < sizeof(sub) / sizeof(sub[0]); j++) {
            memset(buf, 0, 10007 * sizeof(double));
            CALL(rcomm_ps_pull(ps, 2, sub[j][0], sub[j][1], buf, &clock));
            for (size_t k = 0; k < sub[j][1]; k++)
                if (buf[k] != init_val(2, sub[j][0] + k)) {
                    FAIL("pull t2[%zu, +%zu): key %zu is %g, expected %g", sub[j][0],
                         sub[j][1], sub[j][0] + k, buf[k], init_val(2, sub[j][0] + k));
                    break;
                }
        }
        for (int i = 0; i < 2; i++) {
            CALL(rcomm_ps_pull(ps, i, 0, counts[i], buf, NULL));
            for (size_t k = 0; k < counts[i]; k++)
                if (buf[k] != init_val(i, k))
                    FAIL("t%d[%zu] is %g, expected %g", i, k, buf[k], init_val(i, k));
        }
        expect_err("bad tensor", rcomm_ps_pull(ps, 3, 0, 1, buf, NULL), "tensor 3");
        expect_err("past end", rcomm_ps_pull(ps, 2, 10000, 8, buf, NULL), "outside");
        expect_err("NULL grad", rcomm_ps_push(ps, 2, 0, 1, NULL), "grad is NULL");
        /* One BSP step: worker w pushes w + 1 on every key of t2. */
        for (size_t k = 0; k < 10007; k++)
            buf[k] = worker_id() + 1;
        CALL(rcomm_ps_push(ps, 2, 0, 10007, buf));
        CALL(rcomm_ps_clock(ps));
        CALL(rcomm_ps_pull(ps, 2, 0, 10007, buf, &clock));
        {
            const double sum = (double)nworkers() * (nworkers() + 1) / 2;
            for (size_t k = 0; k < 10007; k++)
                if (buf[k] != init_val(2, k) - 0.5 * sum) {
                    FAIL("after one step t2[%zu] is %g, expected %g", k, buf[k],
                         init_val(2, k) - 0.5 * sum);
                    break;
                }
            if (clock != 1)
                FAIL("the pull after one BSP step returned clock %llu",
                     (unsigned long long)clock);
        }
    } else {
        expect_err("server pulls", rcomm_ps_pull(ps, 0, 0, 1, buf, NULL), "not a worker");
    }
    for (int i = 0; i < 3; i++)
        free(init[i]);
    free(buf);
    return finish(ps);
}

/* ---- clocks and intervals ---------------------------------------------- */

static uint64_t required(uint64_t c)
{
    const uint64_t s = (uint64_t)cfg.staleness, n = (uint64_t)cfg.push_interval;
    if (cfg.staleness < 0 || c <= s)
        return 0;
    return (c - s) / n * n;
}

static int clocks(int check_intervals)
{
    const int W = nworkers();
    double *keys = calloc((size_t)W, sizeof(double)), *last = calloc((size_t)W, 8);
    double *one = calloc((size_t)W, sizeof(double));
    rcomm_ps_tensor_t t = {"counts", (size_t)W, RCOMM_F64, NULL};
    rcomm_ps_stats_t stats;
    uint64_t maxlead = 0, got;
    rcomm_ps_t *ps;
    /* Nobody runs more than staleness (plus what it has not pushed) ahead of
     * the slowest worker, us included. */
    const uint64_t ahead = cfg.staleness < 0
                               ? (uint64_t)steps
                               : (uint64_t)(cfg.staleness + 2 * cfg.push_interval);

    cfg.lr = 1.0;
    CALL(rcomm_ps_create(comm, &cfg, &t, 1, &ps));
    if (is_worker())
        one[worker_id()] = -1.0; /* p -= lr * g: our key counts our steps */
    for (uint64_t c = 0; is_worker() && c < (uint64_t)steps; c++) {
        const int remote = c % (uint64_t)cfg.pull_interval == 0;
        uint64_t need = required(c), min = UINT64_MAX;
        CALL(rcomm_ps_pull(ps, 0, 0, (size_t)W, keys, &got));
        for (int j = 0; j < W; j++) {
            uint64_t v = (uint64_t)keys[j];
            if (keys[j] != (double)v || v > c + ahead || v > (uint64_t)steps)
                FAIL("step %llu: key %d is %g", (unsigned long long)c, j, keys[j]);
            min = v < min ? v : min;
        }
        if (remote) {
            if (min < need || got < need || got > min)
                FAIL("step %llu: read keys with min %llu and clock %llu, staleness %d "
                     "needs %llu",
                     (unsigned long long)c, (unsigned long long)min,
                     (unsigned long long)got, cfg.staleness, (unsigned long long)need);
            if (cfg.staleness == 0)
                for (int j = 0; j < W; j++)
                    if (keys[j] != (double)need)
                        FAIL(
                            "BSP step %llu: worker %d's key is %g, expected exactly %llu",
                            (unsigned long long)c, j, keys[j], (unsigned long long)need);
            memcpy(last, keys, (size_t)W * sizeof(double));
        } else if (memcmp(last, keys, (size_t)W * sizeof(double)) != 0) {
            FAIL("step %llu: a pull served locally differs from the last pull",
                 (unsigned long long)c);
        }
        if (c - (min < c ? min : c) > maxlead)
            maxlead = c - (min < c ? min : c);
        /* Workers of different speeds: 0, 1, 2 ms per step. */
        nap_ms(worker_id() % 3);
        CALL(rcomm_ps_push(ps, 0, 0, (size_t)W, one));
        CALL(rcomm_ps_clock(ps));
    }
    CALL(rcomm_ps_stats(ps, &stats));
    if (check_intervals && is_worker()) {
        const uint64_t T = (uint64_t)steps, P = (uint64_t)cfg.push_interval,
                       Q = (uint64_t)cfg.pull_interval;
        if (stats.pushes != T / P || stats.pulls != (T + Q - 1) / Q ||
            stats.local_pulls != T - (T + Q - 1) / Q)
            FAIL("%llu steps, push every %llu, pull every %llu: %llu pushes, %llu pulls, "
                 "%llu local pulls",
                 (unsigned long long)T, (unsigned long long)P, (unsigned long long)Q,
                 (unsigned long long)stats.pushes, (unsigned long long)stats.pulls,
                 (unsigned long long)stats.local_pulls);
    }
    if (is_worker())
        printf("worker %d: %llu steps, staleness %d: led the slowest by up to %llu "
               "clocks, waited %llu times\n",
               worker_id(), (unsigned long long)stats.clock, cfg.staleness,
               (unsigned long long)maxlead, (unsigned long long)stats.waits);
    free(keys);
    free(last);
    free(one);
    return finish(ps);
}

/* ---- torn -------------------------------------------------------------- */

enum { TORN_KEYS = 8192 };

/* p += g, slowly: a read that overlapped this without the version check
 * would see part of the block updated. */
static void slow_add(void *arg, int tensor, size_t first, void *params, const void *grad,
                     size_t n, rcomm_dtype_t dtype)
{
    double *p = params;
    const double *g = grad;

    for (size_t i = 0; i < n; i++) {
        p[i] += g[i];
        for (volatile int spin = 0; spin < 50; spin++)
            ;
    }
}

static int torn(void)
{
    double *init = malloc(TORN_KEYS * sizeof(double)), *buf = malloc(TORN_KEYS * 8);
    double *ones = malloc(TORN_KEYS * sizeof(double));
    rcomm_ps_tensor_t t = {"torn", TORN_KEYS, RCOMM_F64, init};
    rcomm_ps_stats_t stats;
    rcomm_ps_t *ps;

    for (size_t k = 0; k < TORN_KEYS; k++) {
        init[k] = (double)k * 1e4;
        ones[k] = 1.0;
    }
    cfg.staleness = RCOMM_PS_ASP;
    cfg.block_bytes = 512; /* 64 keys per block */
    cfg.update = slow_add;
    CALL(rcomm_ps_create(comm, &cfg, &t, 1, &ps));
    for (int step = 0; is_worker() && step < steps; step++) {
        rcomm_ps_stats_t s0, s1;
        CALL(rcomm_ps_stats(ps, &s0));
        CALL(rcomm_ps_pull(ps, 0, 0, TORN_KEYS, buf, NULL));
        CALL(rcomm_ps_stats(ps, &s1));
        /* The bound: a block is read again one-sided at most once, then
         * fetched from its server. */
        if (s1.retries - s1.fetched - (s0.retries - s0.fetched) > TORN_KEYS / 64 ||
            s1.fetched - s0.fetched > TORN_KEYS / 64)
            FAIL("step %d: %llu blocks read again and %llu fetched in a pull of %d "
                 "blocks",
                 step, (unsigned long long)(s1.retries - s0.retries),
                 (unsigned long long)(s1.fetched - s0.fetched), TORN_KEYS / 64);
        for (size_t b = 0; b < TORN_KEYS / 64; b++) {
            /* Every key of a block has had the same number of updates. */
            const double n0 = buf[b * 64] - init[b * 64];
            for (size_t k = b * 64; k < b * 64 + 64; k++)
                if (buf[k] - init[k] != n0) {
                    FAIL("step %d: block %zu is torn: key %zu has %g updates, key %zu "
                         "has %g",
                         step, b, b * 64, n0, k, buf[k] - init[k]);
                    break;
                }
        }
        CALL(rcomm_ps_push(ps, 0, 0, TORN_KEYS, ones));
        CALL(rcomm_ps_clock(ps));
    }
    if (is_worker()) {
        CALL(rcomm_ps_stats(ps, &stats));
        printf("worker %d: %d pulls of %d blocks, %llu blocks read again, %llu of them "
               "fetched\n",
               worker_id(), steps, TORN_KEYS / 64, (unsigned long long)stats.retries,
               (unsigned long long)stats.fetched);
    }
    free(init);
    free(buf);
    free(ones);
    return finish(ps);
}

/* ---- equiv ------------------------------------------------------------- */

enum { DIM = 37, BATCH = 5 };
static const double LR = 0.01, MOM = 0.9;

/* Row r of the data set: x in [-1, 1), y = x . w* + 0.25 + noise. */
static void row(size_t r, double *x, double *y)
{
    uint64_t h = r * 0x9e3779b97f4a7c15ull + 12345;
    double dot = 0.25;

    for (int d = 0; d < DIM; d++) {
        h ^= h >> 31;
        h *= 0xbf58476d1ce4e5b9ull;
        h ^= h >> 29;
        x[d] = (double)(h >> 11) / (double)(1ull << 53) * 2 - 1;
        dot += x[d] * (double)(d % 7 - 3) / 3.0;
    }
    *y = dot + ((double)(h & 0xff) / 256.0 - 0.5) * 0.01;
}

/* Gradient of 0.5 * sum (x.w + b - y)^2 over rows [r0, r0 + n). */
static void grad(const double *w, double b, size_t r0, size_t n, double *gw, double *gb)
{
    double x[DIM], y;

    memset(gw, 0, DIM * sizeof(double));
    *gb = 0;
    for (size_t r = r0; r < r0 + n; r++) {
        double e = b - 0;
        row(r, x, &y);
        for (int d = 0; d < DIM; d++)
            e += x[d] * w[d];
        e -= y;
        for (int d = 0; d < DIM; d++)
            gw[d] += e * x[d];
        *gb += e;
    }
}

static void sgd(double *p, double *m, const double *g, int n)
{
    for (int i = 0; i < n; i++) {
        m[i] = MOM * m[i] + g[i];
        p[i] -= LR * m[i];
    }
}

static double max_rel(const double *a, const double *b, int n)
{
    double e = 0;
    for (int i = 0; i < n; i++) {
        double d = fabs(a[i] - b[i]) / fmax(1.0, fabs(b[i]));
        e = d > e ? d : e;
    }
    return e;
}

static int equiv(void)
{
    /* Tolerance: the three runs sum the same gradients in different orders;
     * after 30 steps in f64 that moves the last few bits, not more. */
    const double tol = 1e-10;
    const int W = nworkers(), me = worker_id();
    double w_ps[DIM + 1] = {0}, w_ar[DIM + 1] = {0}, m_ar[DIM + 1] = {0};
    double w_one[DIM + 1] = {0}, m_one[DIM + 1] = {0}, g[DIM + 1], gsum[DIM + 1];
    rcomm_ps_tensor_t t[2] = {{"w", DIM, RCOMM_F64, NULL}, {"b", 1, RCOMM_F64, NULL}};
    rcomm_ps_t *ps;
    uint64_t clock;

    cfg.lr = LR;
    cfg.momentum = MOM;
    cfg.block_bytes = 64; /* several blocks per server */
    CALL(rcomm_ps_create(comm, &cfg, t, 2, &ps));
    for (int s = 0; is_worker() && s < steps; s++) {
        CALL(rcomm_ps_pull(ps, 0, 0, DIM, w_ps, NULL));
        CALL(rcomm_ps_pull(ps, 1, 0, 1, w_ps + DIM, NULL));
        grad(w_ps, w_ps[DIM], ((size_t)s * W + me) * BATCH, BATCH, g, g + DIM);
        CALL(rcomm_ps_push(ps, 0, 0, DIM, g));
        CALL(rcomm_ps_push(ps, 1, 0, 1, g + DIM));
        CALL(rcomm_ps_clock(ps));
    }
    if (is_worker()) {
        CALL(rcomm_ps_pull(ps, 0, 0, DIM, w_ps, &clock));
        CALL(rcomm_ps_pull(ps, 1, 0, 1, w_ps + DIM, NULL));
        if (clock != (uint64_t)steps)
            FAIL("final pull returned clock %llu, expected %d", (unsigned long long)clock,
                 steps);
    }
    if (finish(ps))
        return 1;
    /* The same through AllReduce: ranks that only served add zeros. */
    for (int s = 0; s < steps; s++) {
        if (is_worker())
            grad(w_ar, w_ar[DIM], ((size_t)s * W + me) * BATCH, BATCH, g, g + DIM);
        else
            memset(g, 0, sizeof(g));
        CALL(rcomm_allreduce(comm, g, gsum, DIM + 1, RCOMM_F64, RCOMM_SUM));
        sgd(w_ar, m_ar, gsum, DIM + 1);
    }
    /* And in one process on the union batch. */
    for (int s = 0; s < steps; s++) {
        grad(w_one, w_one[DIM], (size_t)s * W * BATCH, (size_t)W * BATCH, g, g + DIM);
        sgd(w_one, m_one, g, DIM + 1);
    }
    if (is_worker() &&
        (max_rel(w_ps, w_one, DIM + 1) > tol || max_rel(w_ar, w_one, DIM + 1) > tol))
        FAIL("after %d steps: PS differs from one process by %.3g, AllReduce by %.3g "
             "(tolerance %g)",
             steps, max_rel(w_ps, w_one, DIM + 1), max_rel(w_ar, w_one, DIM + 1), tol);
    if (is_worker() && me == 0)
        printf("equiv: %d workers, %d steps: PS vs one process %.3g, AllReduce vs one "
               "process %.3g (tolerance %g); w[0] = %.17g\n",
               W, steps, max_rel(w_ps, w_one, DIM + 1), max_rel(w_ar, w_one, DIM + 1),
               tol, w_one[0]);
    return 0;
}

/* ---- mean: what cfg.average does to the step ----------------------------- */

/* Every worker pushes g[k] = (k + 1) / 4 at every step, under the
 * staleness and intervals of the command line. A push every P steps moves a
 * key by lr times what it carries: P g summed, or g averaged over the steps
 * (one optimizer step per push, as gradient accumulation does); and the W
 * workers' pushes add up, or count 1/W each. So after `steps` steps (a
 * multiple of P) key k is exactly -lr g[k] (steps / P) (P unless averaged
 * over steps) (W unless averaged over workers): lr, g, W and P are powers
 * of two, so nothing rounds. */
static int mean(void)
{
    enum { K = 37 };
    const double lr = 0.5;
    const int W = nworkers();
    double p[K], g[K];
    rcomm_ps_tensor_t t = {"m", K, RCOMM_F64, NULL};
    rcomm_ps_t *ps;
    uint64_t clock;

    cfg.lr = lr;
    cfg.block_bytes = 64;
    for (int k = 0; k < K; k++)
        g[k] = (k + 1) / 4.0;
    CALL(rcomm_ps_create(comm, &cfg, &t, 1, &ps));
    for (int s = 0; is_worker() && s < steps; s++) {
        CALL(rcomm_ps_push(ps, 0, 0, K, g));
        CALL(rcomm_ps_clock(ps));
    }
    if (is_worker()) {
        /* BSP or SSP: wait for every push (pull at clock steps + staleness). */
        for (int s = 0; s < (cfg.staleness > 0 ? cfg.staleness : 0); s++)
            CALL(rcomm_ps_clock(ps));
        CALL(rcomm_ps_pull(ps, 0, 0, K, p, &clock));
        for (int k = 0; k < K; k++) {
            const int P = cfg.push_interval;
            const double want = -lr * g[k] * (steps / P) *
                                (cfg.average & RCOMM_PS_MEAN_STEPS ? 1 : P) *
                                (cfg.average & RCOMM_PS_MEAN_WORKERS ? 1 : W);
            if (p[k] != want)
                FAIL("average %d, %d workers, push every %d: key %d is %.17g, expected "
                     "%.17g",
                     cfg.average, W, cfg.push_interval, k, p[k], want);
        }
        if (worker_id() == 0)
            printf("mean: average %d, %d workers, push every %d: key 1 moved by %g\n",
                   cfg.average, W, cfg.push_interval, p[1]);
    }
    return finish(ps);
}

/* ---- fresh: a pull that skips the local copy ------------------------------ */

/* BSP, pull every 4 steps, every worker pushing g[k] = (k + 1) / 4 each
 * step, and a fresh pull at every step 4i + 2: at clock c a plain pull
 * returns the values of the last read of the servers (c itself on a pull
 * step; before, the last pull step or fresh pull), a fresh one those of
 * every step before c; all exactly (-lr g[k] W c). */
static int fresh(void)
{
    enum { K = 21 };
    const double lr = 0.5;
    const int W = nworkers();
    double p[K], g[K];
    rcomm_ps_tensor_t t = {"f", K, RCOMM_F64, NULL};
    rcomm_ps_t *ps;
    uint64_t c;
    int seen = 0; /* the clock of our last read of the servers */

    cfg.lr = lr;
    cfg.pull_interval = 4;
    cfg.block_bytes = 64;
    for (int k = 0; k < K; k++)
        g[k] = (k + 1) / 4.0;
    CALL(rcomm_ps_create(comm, &cfg, &t, 1, &ps));
    for (int s = 0; is_worker() && s <= steps; s++) {
        for (int f = 0; f <= (s % 4 == 2); f++) {
            const int want = f || s % 4 == 0 ? s : seen;
            if (f)
                CALL(rcomm_ps_pull_fresh(ps, 0, 0, K, p, &c));
            else
                CALL(rcomm_ps_pull(ps, 0, 0, K, p, &c));
            if (c != (uint64_t)want)
                FAIL("step %d: %s pull at clock %llu, expected %d", s,
                     f ? "fresh" : "plain", (unsigned long long)c, want);
            for (int k = 0; k < K; k++)
                if (p[k] != -lr * g[k] * W * want)
                    FAIL("step %d, %s pull, key %d: %.17g, expected %.17g", s,
                         f ? "fresh" : "plain", k, p[k], -lr * g[k] * W * want);
            seen = want;
        }
        CALL(rcomm_ps_push(ps, 0, 0, K, g));
        CALL(rcomm_ps_clock(ps));
    }
    return finish(ps);
}

/* ---- final: the model after training -------------------------------------- */

static int final_root = RCOMM_PS_EVERY_RANK;

/* Two tensors (f64 of 1001 keys, f32 of 7: fewer keys than some runs have
 * servers), every worker pushing g = (k + 1) / 4 at every step under the
 * staleness of the command line; then rcomm_ps_final to final_root: every
 * push is in, so key k is exactly init + -lr g W steps, on the ranks that
 * receive; a pull afterwards is INVALID_ARG. */
static int final(void)
{
    enum { K0 = 1001, K1 = 7 };
    const double lr = 0.5;
    const int W = nworkers();
    static double p0[K0], g0[K0];
    float p1[K1], g1[K1], i1[K1];
    rcomm_ps_tensor_t t[2] = {{"big", K0, RCOMM_F64, NULL}, {"small", K1, RCOMM_F32, i1}};
    void *dst[2] = {p0, p1};
    const int receives = final_root == RCOMM_PS_EVERY_RANK || final_root == rank;
    rcomm_ps_t *ps;

    cfg.lr = lr;
    cfg.block_bytes = 64;
    for (int k = 0; k < K0; k++)
        g0[k] = (k + 1) / 4.0;
    for (int k = 0; k < K1; k++) {
        g1[k] = (float)(k + 1) / 4;
        i1[k] = (float)k;
        p1[k] = -1;
    }
    memset(p0, 0xff, sizeof(p0)); /* NaN until written */
    CALL(rcomm_ps_create(comm, &cfg, t, 2, &ps));
    for (int s = 0; is_worker() && s < steps; s++) {
        CALL(rcomm_ps_push(ps, 0, 0, K0, g0));
        CALL(rcomm_ps_push(ps, 1, 0, K1, g1));
        CALL(rcomm_ps_clock(ps));
    }
    CALL(rcomm_ps_final(ps, final_root, receives ? dst : NULL));
    for (int k = 0; receives && k < K0; k++)
        if (p0[k] != -lr * g0[k] * W * steps)
            FAIL("root %d: big[%d] is %.17g, expected %.17g", final_root, k, p0[k],
                 -lr * g0[k] * W * steps);
    for (int k = 0; receives && k < K1; k++)
        if (p1[k] != (float)(k - lr * g1[k] * W * steps))
            FAIL("root %d: small[%d] is %.9g, expected %.9g", final_root, k, p1[k],
                 (float)(k - lr * g1[k] * W * steps));
    if (is_worker())
        expect_err("pull after final", rcomm_ps_pull(ps, 0, 0, 1, p0, NULL),
                   "rcomm_ps_final was called");
    expect_err("final twice", rcomm_ps_final(ps, final_root, dst), "second time");
    CALL(rcomm_ps_destroy(ps));
    return 0;
}

/* ---- death ------------------------------------------------------------- */

static void die(int sig)
{
    _exit(0); /* no goodbye: the kernel closes the connections */
}

/* A worker's ASP loop on tensor 0's 64 keys, until an error or n steps. */
static rcomm_status_t churn(rcomm_ps_t *ps, int n)
{
    double keys[64], g[64] = {0};
    rcomm_status_t st = RCOMM_OK;

    for (int i = 0; i < n && st == RCOMM_OK; i++) {
        if ((st = rcomm_ps_pull(ps, 0, 0, 64, keys, NULL)) == RCOMM_OK &&
            (st = rcomm_ps_push(ps, 0, 0, 64, g)) == RCOMM_OK)
            st = rcomm_ps_clock(ps);
        nap_ms(1);
    }
    return st;
}

static int death(void)
{
    rcomm_ps_tensor_t t = {"x", 64, RCOMM_F64, NULL};
    rcomm_status_t st = RCOMM_OK;
    rcomm_ps_t *ps;

    cfg.num_servers = 2;
    cfg.staleness = RCOMM_PS_ASP;
    CALL(rcomm_ps_create(comm, &cfg, &t, 1, &ps));
    if (rank == 1) {
        signal(SIGALRM, die);
        alarm(1);
    }
    if (!is_worker()) {
        st = rcomm_ps_serve(ps);
        /* Server 0 outlives server 1 and sees the workers fail. */
        if (st == RCOMM_OK)
            FAIL("server 0 served to the end although server 1 died");
        rcomm_ps_destroy(ps);
        return 0;
    }
    st = churn(ps, 100000);
    if (st == RCOMM_OK || !strstr(rcomm_last_error(), "rank 1"))
        FAIL("after server rank 1 died: %s '%s', expected an error naming rank 1",
             rcomm_strerror(st), rcomm_last_error());
    else
        printf("worker %d: %s: %s\n", worker_id(), rcomm_strerror(st),
               rcomm_last_error());
    rcomm_ps_destroy(ps);
    return 0;
}

static int wdeath(void)
{
    rcomm_ps_tensor_t t = {"x", 64, RCOMM_F64, NULL};
    rcomm_status_t st = RCOMM_OK;
    struct timespec t0, t1;
    rcomm_ps_t *ps;

    cfg.num_servers = 1;
    cfg.staleness = RCOMM_PS_ASP;
    CALL(rcomm_ps_create(comm, &cfg, &t, 1, &ps));
    if (rank == 2) {
        signal(SIGALRM, die);
        alarm(1);
    }
    if (!is_worker()) {
        clock_gettime(CLOCK_MONOTONIC, &t0);
        st = rcomm_ps_serve(ps);
        clock_gettime(CLOCK_MONOTONIC, &t1);
        if (st == RCOMM_OK || !strstr(rcomm_last_error(), "rank 2"))
            FAIL("after worker rank 2 died the server got %s '%s', expected an error "
                 "naming rank 2",
                 rcomm_strerror(st), rcomm_last_error());
        else
            printf("server: %s after %.1f s of serving: %s\n", rcomm_strerror(st),
                   (double)(t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) * 1e-9,
                   rcomm_last_error());
        rcomm_ps_destroy(ps);
        return 0;
    }
    /* The other workers go on until the server leaves (or 20 s); how they
     * end is not what is checked. */
    churn(ps, 20000);
    rcomm_ps_destroy(ps);
    return 0;
}

/* Which keys worker w pushes at step s: every key, or three. */
static int mixed_whole(int w, int s)
{
    return (s + w) % 3 == 0;
}
static size_t mixed_key(int w, int s, int j, size_t n)
{
    return ((size_t)w * 7919 + (size_t)s * 104729 + (size_t)j * 31) % n;
}

static int mixed(void)
{
    enum { N = 20000 };
    const int W = nworkers();
    static float ones[N], got[N], want[N];
    rcomm_ps_tensor_t t = {"m", N, RCOMM_F32, NULL};
    void *dst[1] = {got};
    rcomm_ps_t *ps;

    cfg.num_servers = 1;
    cfg.staleness = RCOMM_PS_ASP;
    cfg.lr = 1; /* each push of 1 takes 1 off: exact in f32 */
    for (int k = 0; k < N; k++)
        ones[k] = 1;
    CALL(rcomm_ps_create(comm, &cfg, &t, 1, &ps));
    for (int s = 0; is_worker() && s < steps; s++) {
        if (mixed_whole(worker_id(), s)) {
            CALL(rcomm_ps_push(ps, 0, 0, N, ones));
        } else {
            for (int j = 0; j < 3; j++)
                CALL(rcomm_ps_push(ps, 0, mixed_key(worker_id(), s, j, N), 1, ones));
        }
        CALL(rcomm_ps_clock(ps));
    }
    for (int w = 0; w < W; w++)
        for (int s = 0; s < steps; s++)
            for (size_t k = 0; k < N; k++)
                want[k] -= mixed_whole(w, s) ? 1.0f : 0.0f;
    for (int w = 0; w < W; w++)
        for (int s = 0; s < steps; s++)
            for (int j = 0; !mixed_whole(w, s) && j < 3; j++)
                want[mixed_key(w, s, j, N)] -= 1;
    CALL(rcomm_ps_final(ps, RCOMM_PS_EVERY_RANK, dst));
    for (int k = 0; k < N; k++)
        if (got[k] != want[k]) {
            FAIL("key %d is %g after every push, expected %g", k, got[k], want[k]);
            break;
        }
    CALL(rcomm_ps_destroy(ps));
    return 0;
}

static int badnotify(void)
{
    rcomm_ps_tensor_t t = {"x", 64, RCOMM_F64, NULL};
    rcomm_status_t st;
    rcomm_ps_t *ps = NULL;

    cfg.num_servers = 1;
    cfg.staleness = RCOMM_PS_ASP;
    st = rcomm_ps_create(comm, &cfg, &t, 1, &ps);
    if (!is_worker()) {
        /* The forged notification may come while our create still waits
         * for another worker's keys: then create fails with it. */
        if (st == RCOMM_OK)
            st = rcomm_ps_serve(ps);
        /* The failure comes from the progress: serve returns it as the
         * communicator's, with the cause quoted. */
        if ((st != RCOMM_ERR_PROTOCOL && st != RCOMM_ERR_COMM_FAILED) ||
            !strstr(rcomm_last_error(), "protocol error") ||
            !strstr(rcomm_last_error(), "worker rank 1") ||
            !strstr(rcomm_last_error(), "clock 9"))
            FAIL("after a forged notification the server got %s '%s', expected "
                 "a protocol error naming worker rank 1 and clock 9",
                 rcomm_strerror(st), rcomm_last_error());
        else
            printf("server: %s\n", rcomm_last_error());
        rcomm_ps_destroy(ps);
        return 0;
    }
    if (st != RCOMM_OK) /* the server failed first: how is not checked here */
        return 0;
    if (rank == 1) { /* clock 1 is right, then 9 where 2 is due */
        double g[64] = {0};
        CALL(rcomm_ps_push(ps, 0, 0, 64, g));
        CALL(rcomm_ps_clock(ps));
        /* Its own completion may come after the server's verdict reached
         * us (over verbs the ack and the goodbye race): not checked. */
        (void)hook_ps_notify(ps, 9);
    }
    /* Until the server fails them (or 20 s): how they end is not checked. */
    churn(ps, 20000);
    rcomm_ps_destroy(ps);
    return 0;
}

static double now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int pulled(void) /* workers whose flag file exists */
{
    char path[512];
    int n = 0;

    for (int r = 1; r < size; r++) {
        snprintf(path, sizeof(path), "%s/pulled.%d", flags_dir, r);
        n += access(path, F_OK) == 0;
    }
    return n;
}

static int attentive(void)
{
    enum { N = 300 }; /* more than one block */
    double init[N], got[N];
    rcomm_ps_tensor_t t = {"x", N, RCOMM_F64, init};
    volatile double acc = 0;
    rcomm_ps_t *ps;
    char path[512];
    FILE *f;

    for (int i = 0; i < N; i++)
        init[i] = i + 0.5;
    cfg.num_servers = 1;
    cfg.servers_work = 1;
    cfg.staleness = RCOMM_PS_ASP; /* a pull never waits for a clock */
    CALL(rcomm_ps_create(comm, &cfg, &t, 1, &ps));
    snprintf(path, sizeof(path), "%s/computing", flags_dir);
    if (rank == 0) {
        double t0 = now_s();
        int n = 0;

        /* The pulls must come while we compute, not while our create
         * still progresses (it waits for the workers' mailbox keys). */
        if (!(f = fopen(path, "w")))
            FAIL("cannot create %s", path);
        else
            fclose(f);

        /* The training step: no rcomm call until every pull is answered. */
        while ((n = pulled()) < size - 1 && now_s() - t0 < wait_s)
            for (int i = 0; i < 100000; i++)
                acc += 1e-9 * i;
        if (expect_served && n < size - 1)
            FAIL("%d of %d workers' pulls were answered in %d s while rank 0 "
                 "computed outside rcomm",
                 n, size - 1, wait_s);
        if (!expect_served && n > 0)
            FAIL("%d workers' pulls were answered while rank 0 computed outside "
                 "rcomm, with no progress thread",
                 n);
    } else {
        for (double t0 = now_s(); access(path, F_OK) != 0 && now_s() - t0 < wait_s;)
            nap_ms(1);
        CALL(rcomm_ps_pull(ps, 0, 0, N, got, NULL));
        for (int i = 0; i < N; i++)
            if (got[i] != init[i]) {
                FAIL("x[%d] = %g, expected %g", i, got[i], init[i]);
                break;
            }
        snprintf(path, sizeof(path), "%s/pulled.%d", flags_dir, rank);
        if (!(f = fopen(path, "w")))
            FAIL("cannot create %s", path);
        else
            fclose(f);
    }
    CALL(rcomm_ps_destroy(ps));
    return 0;
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {{"servers", 1, 0, 'S'},
                                         {"work", 0, 0, 'W'},
                                         {"staleness", 1, 0, 's'},
                                         {"push", 1, 0, 'p'},
                                         {"pull", 1, 0, 'q'},
                                         {"steps", 1, 0, 'T'},
                                         {"flags", 1, 0, 'F'},
                                         {"wait", 1, 0, 'w'},
                                         {"expect", 1, 0, 'e'},
                                         {"average", 1, 0, 'a'},
                                         {"root", 1, 0, 'r'},
                                         {"pause", 1, 0, 'P'},
                                         {0, 0, 0, 0}};
    const char *mode;
    int c, rc;

    rcomm_ps_config_init(&cfg);
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'S': cfg.num_servers = atoi(optarg); break;
        case 'W': cfg.servers_work = 1; break;
        case 's':
            cfg.staleness = strcmp(optarg, "asp") == 0 ? RCOMM_PS_ASP : atoi(optarg);
            break;
        case 'p': cfg.push_interval = atoi(optarg); break;
        case 'q': cfg.pull_interval = atoi(optarg); break;
        case 'T': steps = atoi(optarg); break;
        case 'F': flags_dir = optarg; break;
        case 'w': wait_s = atoi(optarg); break;
        case 'a': cfg.average = atoi(optarg); break;
        case 'r': final_root = atoi(optarg); break;
        case 'e': expect_served = strcmp(optarg, "unserved") != 0; break;
        case 'P': hook_ps_pause((unsigned)atoi(optarg)); break;
        default: return 2;
        }
    }
    if (optind != argc - 1) {
        fprintf(stderr,
                "usage: ps_check [options] "
                "values|clocks|intervals|torn|equiv|death|wdeath|badnotify|attentive|\n"
                "mean|fresh|final|mixed\n");
        return 2;
    }
    mode = argv[optind];
    comm = join();
    if (strcmp(mode, "values") == 0)
        rc = values();
    else if (strcmp(mode, "clocks") == 0)
        rc = clocks(0);
    else if (strcmp(mode, "intervals") == 0)
        rc = clocks(1);
    else if (strcmp(mode, "torn") == 0)
        rc = torn();
    else if (strcmp(mode, "equiv") == 0)
        rc = equiv();
    else if (strcmp(mode, "death") == 0)
        rc = death();
    else if (strcmp(mode, "wdeath") == 0)
        rc = wdeath();
    else if (strcmp(mode, "badnotify") == 0)
        rc = badnotify();
    else if (strcmp(mode, "mixed") == 0)
        rc = mixed();
    else if (strcmp(mode, "attentive") == 0)
        rc = attentive();
    else if (strcmp(mode, "mean") == 0)
        rc = mean();
    else if (strcmp(mode, "fresh") == 0)
        rc = fresh();
    else if (strcmp(mode, "final") == 0)
        rc = final();
    else {
        fprintf(stderr, "ps_check: unknown mode '%s'\n", mode);
        rc = 2;
    }
    rcomm_comm_destroy(comm);
    return rc ? rc : bad;
}
