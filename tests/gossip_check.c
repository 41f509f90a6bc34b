/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Neighbour averaging (rcomm_neighbor_allreduce), run by every rank of an
 * rcomm-run job (tests/gossip.sh). Modes:
 *  exact     every graph kind and dtype, counts 0, 1, p-1, p,
 *            13 and (without --quick) 1000003, in place and not, blocking
 *            and not: bit for bit against the sum computed here in the
 *            library's order (self, then in-neighbours by rank), whose
 *            inputs every rank can compute for every rank;
 *  math      f64 on the ring, torus, exponential-2 and full graphs over 40
 *            calls: the sum over ranks is kept (1e-12 relative); each call
 *            equals W x computed densely here from the rows the ranks
 *            publish (1e-12); the consensus error after t calls is at most
 *            lambda^t times the first, lambda from LAPACK (with OpenBLAS);
 *            one-peer exponential-2 gives every rank the exact average
 *            after log2 p calls on a power of two p, and keeps the sum on
 *            any p;
 *  badargs   every argument check, naming what was wrong;
 *  mismatch  (3 ranks) rank 1 calls with another count: all three fail with
 *            MISMATCH, ranks 0 and 2 naming rank 1;
 *  mismatch-graph  rank 1 builds another (valid) graph than the others:
 *            creation fails on every rank, naming rank 1;
 *  dead      rank 1 exits before calling: its neighbours fail naming it,
 *            within RCOMM_TIMEOUT;
 *  pushsum   push-sum over one-sided writes on a directed ring: rounds with
 *            no synchronisation, then with rank 0 sleeping before each push
 *            (the others never wait for it): after a flush the numerators
 *            and weights sum to what they did at first (no mass lost to an
 *            overwritten or torn slot), and synchronous rounds then reach
 *            the true average within 1e-9 of the first error;
 *  dead-win  rank 1 exits after its window is made: rank 0, which writes to
 *            it, fails naming it.
 */
#include "config.h"

#include <math.h>
#include <stdint.h>
#include <unistd.h>

#include "rank_check.h"
#include "reduce/reduce.h"
#ifdef HAVE_OPENBLAS
#include "slem.h"
#endif

static int bad;
static const char *const kind_names[] = {"ring", "torus", "exp2", "full", "one-peer"};
static const rcomm_dtype_t dtypes[] = {RCOMM_F32, RCOMM_F64, RCOMM_F16, RCOMM_BF16,
                                       RCOMM_I32, RCOMM_I64, RCOMM_U8};

/* Rank q's input at element i of call c: small integers, exact in every
 * dtype, different per rank, element and call. */
static double input(int q, size_t i, int c)
{
    return (double)((int)(((size_t)q * 7 + i * 3 + (size_t)c * 5) % 17) - 8);
}

/* Rank q's input in dtype dt: u8 holds 0 .. 16 instead of -8 .. 8. */
static double value(rcomm_dtype_t dt, int q, size_t i, int c)
{
    return input(q, i, c) + (dt == RCOMM_U8 ? 8 : 0);
}

/* Store a result: floating ones from their f32 or f64 sum, integers from
 * the f64 sum rounded to nearest even and held to range (weighted.c). */
static void put(void *buf, size_t i, rcomm_dtype_t dt, float f, double d)
{
    double r = nearbyint(d);

    switch (dt) {
    case RCOMM_F32: ((float *)buf)[i] = f; break;
    case RCOMM_F64: ((double *)buf)[i] = d; break;
    case RCOMM_F16: ((uint16_t *)buf)[i] = reduce_f32_to_f16(f); break;
    case RCOMM_BF16: ((uint16_t *)buf)[i] = reduce_f32_to_bf16(f); break;
    case RCOMM_I32: ((int32_t *)buf)[i] = (int32_t)r; break; /* inputs keep it in range */
    case RCOMM_I64: ((int64_t *)buf)[i] = (int64_t)r; break;
    default: ((uint8_t *)buf)[i] = (uint8_t)(r < 0 ? 0 : r > 255 ? 255 : r); break;
    }
}

/* The library's sum for this rank, element by element, into want. */
static void reference(void *want, size_t count, rcomm_dtype_t dt, int c, const int *nbr,
                      const double *w, size_t nin, double self)
{
    for (size_t i = 0; i < count; i++) {
        double d = self * value(dt, rank, i, c);
        float f = (float)self * (float)value(dt, rank, i, c);
        for (size_t k = 0; k < nin; k++) {
            d = d + w[k] * value(dt, nbr[k], i, c);
            f = f + (float)w[k] * (float)value(dt, nbr[k], i, c);
        }
        put(want, i, dt, f, d);
    }
}

static int exact_case(rcomm_graph_t *g, int kind, rcomm_dtype_t dt, size_t count,
                      int inplace, int c)
{
    const size_t es = rcomm_dtype_size(dt);
    char *x = malloc(count * es + 1), *y = malloc(count * es + 1),
         *want = malloc(count * es + 1);
    int *nbr = malloc((size_t)size * sizeof(int));
    double *w = malloc((size_t)size * sizeof(double)), self;
    size_t nin;
    rcomm_request_t *req;
    rcomm_status_t st;
    const uint64_t t = rcomm_graph_step(g);

    if (!x || !y || !want || !nbr || !w) {
        FAIL("out of memory");
        return 1;
    }
    CALL(rcomm_graph_in_neighbors(g, t, nbr, w, (size_t)size, &nin, &self));
    for (size_t i = 0; i < count; i++) {
        put(x, i, dt, (float)value(dt, rank, i, c), value(dt, rank, i, c));
        put(y, i, dt, 99.0f, 99.0); /* overwritten, or found */
    }
    if (inplace)
        memcpy(y, x, count * es);
    reference(want, count, dt, c, nbr, w, nin, self);
    if (c % 2) {
        st = rcomm_ineighbor_allreduce(g, inplace ? RCOMM_IN_PLACE : x, y, count, dt,
                                       &req);
        if (st == RCOMM_OK)
            st = rcomm_wait(req);
    } else {
        st = rcomm_neighbor_allreduce(g, inplace ? RCOMM_IN_PLACE : x, y, count, dt);
    }
    if (st != RCOMM_OK)
        FAIL("%s, %s, count %zu%s: %s (%s)", kind_names[kind], rcomm_dtype_name(dt),
             count, inplace ? ", in place" : "", rcomm_strerror(st), rcomm_last_error());
    else if (rcomm_graph_step(g) != t + 1)
        FAIL("%s: step %llu after the call, expected %llu", kind_names[kind],
             (unsigned long long)rcomm_graph_step(g), (unsigned long long)t + 1);
    for (size_t i = 0; st == RCOMM_OK && i < count; i++)
        if (memcmp(y + i * es, want + i * es, es)) {
            FAIL("%s, %s, count %zu%s, step %llu: element %zu differs from the reference",
                 kind_names[kind], rcomm_dtype_name(dt), count,
                 inplace ? ", in place" : "", (unsigned long long)t, i);
            break;
        }
    free(x);
    free(y);
    free(want);
    free(nbr);
    free(w);
    return bad;
}

static int exact(rcomm_comm_t *comm, int quick)
{
    const size_t counts[] = {0, 1, (size_t)size - 1, (size_t)size, 13, 1000003};
    const size_t ncounts = quick ? 5 : 6;
    int c = 0;

    for (int kind = 0; kind < RCOMM_GRAPH_KIND_COUNT; kind++) {
        rcomm_graph_t *g;
        CALL(rcomm_graph_create(comm, (rcomm_graph_kind_t)kind, &g));
        for (size_t d = 0; d < sizeof(dtypes) / sizeof(dtypes[0]); d++)
            for (size_t k = 0; k < ncounts; k++)
                for (int inplace = 0; inplace < 2; inplace++) {
                    /* The big count once per kind, each time another
                     * dtype, in place on every other kind. */
                    if (k == 5 && ((int)d != kind % 7 || inplace != kind % 2))
                        continue;
                    if (exact_case(g, kind, dtypes[d], counts[k], inplace, c++))
                        return 1;
                }
        CALL(rcomm_graph_destroy(g));
    }
    return 0;
}

/* ---- math --------------------------------------------------------------- */

/* W, dense, row-major, as the ranks' own rows say (allgather). */
static int dense_w(rcomm_comm_t *comm, rcomm_graph_t *g, uint64_t t, double *wd)
{
    double *row = calloc((size_t)size, sizeof(double)),
           *w = malloc(size * sizeof(double));
    int *nbr = malloc((size_t)size * sizeof(int));
    size_t nin;
    double self;

    CALL(rcomm_graph_in_neighbors(g, t, nbr, w, (size_t)size, &nin, &self));
    row[rank] = self;
    for (size_t k = 0; k < nin; k++)
        row[nbr[k]] += w[k];
    CALL(rcomm_allgather(comm, row, wd, (size_t)size, RCOMM_F64));
    free(row);
    free(w);
    free(nbr);
    return 0;
}

#define MATH_N 37
#define MATH_CALLS 40

static int math_kind(rcomm_comm_t *comm, int kind)
{
    const size_t n = (size_t)size;
    double *wd = malloc(n * n * sizeof(double)),
           *all = malloc(n * MATH_N * sizeof(double));
    double *nxt = malloc(n * MATH_N * sizeof(double)), x[MATH_N], y[MATH_N];
    double sum0[MATH_N], avg[MATH_N], e0 = 0, lam = -1;
    int rounds = 0;
    rcomm_graph_t *g;

    CALL(rcomm_graph_create(comm, (rcomm_graph_kind_t)kind, &g));
    CALL(dense_w(comm, g, 0, wd));
    for (size_t q = 0; q < n; q++)
        for (size_t i = 0; i < MATH_N; i++)
            all[q * MATH_N + i] = input((int)q, i, 0);
    for (size_t i = 0; i < MATH_N; i++) {
        sum0[i] = 0;
        for (size_t q = 0; q < n; q++)
            sum0[i] += all[q * MATH_N + i];
        avg[i] = sum0[i] / (double)n;
        for (size_t q = 0; q < n; q++)
            e0 += (all[q * MATH_N + i] - avg[i]) * (all[q * MATH_N + i] - avg[i]);
    }
    e0 = sqrt(e0);
#ifdef HAVE_OPENBLAS
    if (kind != RCOMM_GRAPH_ONE_PEER_EXP2 && size > 1 && (lam = slem(wd, size)) < 0)
        FAIL("%s: dgeev failed", kind_names[kind]);
#endif
    memcpy(x, all + (size_t)rank * MATH_N, sizeof(x));
    while ((1 << rounds) < size)
        rounds++;
    for (int t = 1; t <= MATH_CALLS && !bad; t++) {
        double sum[MATH_N], e = 0, mine = 0;
        CALL(dense_w(comm, g, rcomm_graph_step(g), wd));
        CALL(rcomm_neighbor_allreduce(g, x, y, MATH_N, RCOMM_F64));
        for (size_t i = 0; i < MATH_N; i++) /* W x, densely, for every rank */
            for (size_t q = 0; q < n; q++) {
                double s = 0;
                for (size_t j = 0; j < n; j++)
                    s += wd[q * n + j] * all[j * MATH_N + i];
                nxt[q * MATH_N + i] = s;
            }
        memcpy(all, nxt, n * MATH_N * sizeof(double));
        memcpy(x, y, sizeof(x));
        CALL(rcomm_allreduce(comm, x, sum, MATH_N, RCOMM_F64, RCOMM_SUM));
        for (size_t i = 0; i < MATH_N; i++) {
            double dense = all[(size_t)rank * MATH_N + i];
            if (fabs(x[i] - dense) > 1e-12 * (fabs(dense) + 1))
                FAIL("%s, call %d: element %zu is %.17g, W x gives %.17g",
                     kind_names[kind], t, i, x[i], dense);
            if (fabs(sum[i] - sum0[i]) > 1e-12 * (fabs(sum0[i]) + 1))
                FAIL("%s, call %d: the sum of element %zu is %.17g, was %.17g",
                     kind_names[kind], t, i, sum[i], sum0[i]);
            mine += (x[i] - avg[i]) * (x[i] - avg[i]);
        }
        CALL(rcomm_allreduce(comm, &mine, &e, 1, RCOMM_F64, RCOMM_SUM));
        e = sqrt(e);
        if (lam >= 0 && e > pow(lam, t) * e0 * (1 + 1e-9) + 1e-12)
            FAIL("%s, call %d: consensus error %g > lambda^t e0 = %g^%d x %g",
                 kind_names[kind], t, e, lam, t, e0);
        /* One-peer exponential-2 on a power of two: exact after log2 p. */
        if (kind == RCOMM_GRAPH_ONE_PEER_EXP2 && (size & (size - 1)) == 0 && t == rounds)
            for (size_t i = 0; i < MATH_N; i++)
                if (x[i] != avg[i]) {
                    FAIL("one-peer: after %d calls element %zu is %.17g, not the average "
                         "%.17g",
                         t, i, x[i], avg[i]);
                    break;
                }
    }
    CALL(rcomm_graph_destroy(g));
    free(wd);
    free(all);
    free(nxt);
    return bad;
}

static int math(rcomm_comm_t *comm)
{
    for (int kind = 0; kind < RCOMM_GRAPH_KIND_COUNT && !bad; kind++)
        math_kind(comm, kind);
    return bad;
}

/* ---- push-sum over one-sided writes ------------------------------------- */

/* The sum over ranks of the numerators and of the weights, and the squared
 * distance of the estimates x from avg. */
static int pushsum_state(rcomm_comm_t *comm, rcomm_gossip_win_t *win, const double *x,
                         const double *avg, double *sum, double *wsum, double *err)
{
    double mine[MATH_N + 2], all[MATH_N + 2], w;

    CALL(rcomm_gossip_win_mass(win, mine, &w));
    mine[MATH_N] = w;
    mine[MATH_N + 1] = 0;
    for (size_t i = 0; i < MATH_N; i++)
        mine[MATH_N + 1] += (x[i] - avg[i]) * (x[i] - avg[i]);
    CALL(rcomm_allreduce(comm, mine, all, MATH_N + 2, RCOMM_F64, RCOMM_SUM));
    memcpy(sum, all, MATH_N * sizeof(double));
    *wsum = all[MATH_N];
    *err = sqrt(all[MATH_N + 1]);
    return 0;
}

/* Push-sum on a directed ring (r -> r + 1, uniform out-weights 1/2):
 * ASYNC_ROUNDS pushes and updates with no synchronisation (rank 0 sleeping
 * slow_us before each; the others go on until rank 0 is done, an ibarrier
 * tells them); the mass is then exact after a flush. Then synchronous
 * rounds (push, flush) converge to the true average within 1e-9 of the first
 * error: lambda = cos(pi / p) per round, 0.924 on 8 ranks. */
#define ASYNC_ROUNDS 200
#define SYNC_ROUNDS 400

static int pushsum(rcomm_comm_t *comm, int slow_us)
{
    int src[8], dst[8];
    double x[MATH_N], avg[MATH_N] = {0}, sum0[MATH_N] = {0}, sum[MATH_N], wsum, e0, e;
    rcomm_graph_t *g;
    rcomm_gossip_win_t *win;
    rcomm_gossip_stats_t stats;
    rcomm_request_t *req;
    int done = 0, extra = 0;
    double pushes, tol;

    for (int r = 0; r < size && size > 1; r++) {
        src[r] = r;
        dst[r] = (r + 1) % size;
    }
    CALL(rcomm_graph_create_edges(comm, size > 1 ? (size_t)size : 0, src, dst, NULL, NULL,
                                  &g));
    for (size_t i = 0; i < MATH_N; i++) {
        x[i] = input(rank, i, 0) + 0.25 * rank;
        for (int q = 0; q < size; q++)
            sum0[i] += input(q, i, 0) + 0.25 * q;
        avg[i] = sum0[i] / size;
    }
    CALL(rcomm_gossip_win_create(g, x, MATH_N, RCOMM_F64, &win));
    if (pushsum_state(comm, win, x, avg, sum, &wsum, &e0))
        return 1;
    for (int t = 0; t < ASYNC_ROUNDS; t++) {
        if (rank == 0 && slow_us)
            usleep((useconds_t)slow_us);
        CALL(rcomm_gossip_win_push(win));
        CALL(rcomm_gossip_win_update(win, x));
    }
    CALL(rcomm_ibarrier(comm, &req));
    while (!done) { /* the fast ranks keep going until rank 0 is done */
        rcomm_status_t st = rcomm_test(req);
        if (st == RCOMM_OK)
            done = 1;
        else if (st != RCOMM_INPROGRESS)
            CALL(st);
        else if (rank != 0) {
            CALL(rcomm_gossip_win_push(win));
            CALL(rcomm_gossip_win_update(win, x));
            extra++;
        }
    }
    CALL(rcomm_gossip_win_flush(win, x));
    if (pushsum_state(comm, win, x, avg, sum, &wsum, &e))
        return 1;
    /* Rounding only: the running totals grow by a share per push, and a fold
     * subtracts two of them, so each loses about an ulp of a total, which is
     * about pushes x the values. */
    CALL(rcomm_gossip_win_stats(win, &stats));
    pushes = (double)stats.pushes;
    CALL(rcomm_allreduce(comm, RCOMM_IN_PLACE, &pushes, 1, RCOMM_F64, RCOMM_MAX));
    tol = 1e-12 + 4e-16 * pushes * size;
    for (size_t i = 0; i < MATH_N; i++)
        if (fabs(sum[i] - sum0[i]) > tol * (fabs(sum0[i]) + 8 * size))
            FAIL("push-sum%s: after the flush the numerators sum to %.17g, not %.17g",
                 slow_us ? " (rank 0 slow)" : "", sum[i], sum0[i]);
    if (fabs(wsum - size) > tol * size)
        FAIL("push-sum%s: after the flush the weights sum to %.17g, not %d (%g pushes)",
             slow_us ? " (rank 0 slow)" : "", wsum, size, pushes);
    for (int t = 0; t < SYNC_ROUNDS; t++) {
        CALL(rcomm_gossip_win_push(win));
        CALL(rcomm_gossip_win_flush(win, x));
    }
    if (pushsum_state(comm, win, x, avg, sum, &wsum, &e))
        return 1;
    if (e > 1e-9 * e0 + 1e-12)
        FAIL("push-sum%s: the estimates are %g from the average (at first %g)",
             slow_us ? " (rank 0 slow)" : "", e, e0);
    CALL(rcomm_gossip_win_stats(win, &stats));
    if (stats.pushes != (uint64_t)(ASYNC_ROUNDS + extra + SYNC_ROUNDS))
        FAIL("push-sum: %llu pushes counted, %d made", (unsigned long long)stats.pushes,
             ASYNC_ROUNDS + extra + SYNC_ROUNDS);
    if (rank == 1 || size == 1)
        printf(
            "push-sum%s, rank %d: %llu pushes, %llu writes, %llu skipped, %llu folded, "
            "%llu torn halves refused; error %g -> %g\n",
            slow_us ? " (rank 0 slow)" : "", rank, (unsigned long long)stats.pushes,
            (unsigned long long)stats.writes, (unsigned long long)stats.skipped,
            (unsigned long long)stats.folded, (unsigned long long)stats.torn, e0, e);
    CALL(rcomm_gossip_win_destroy(win));
    CALL(rcomm_graph_destroy(g));
    return bad;
}

/* ---- failures ----------------------------------------------------------- */

/* The window's checks; g is a ring. */
static int badargs_win(rcomm_comm_t *comm, rcomm_graph_t *g)
{
    rcomm_graph_t *dyn;
    rcomm_gossip_win_t *win, *none;
    double x[3] = {1, 2, 3};
    rcomm_gossip_stats_t st;

    CALL(rcomm_graph_create(comm, RCOMM_GRAPH_ONE_PEER_EXP2, &dyn));
    if (size > 2)
        bad |= expect("window on a dynamic graph",
                      rcomm_gossip_win_create(dyn, x, 3, RCOMM_F64, &none),
                      RCOMM_ERR_INVALID_ARG, "static graph");
    CALL(rcomm_graph_destroy(dyn));
    bad |= expect("window of f16", rcomm_gossip_win_create(g, x, 3, RCOMM_F16, &none),
                  RCOMM_ERR_INVALID_ARG, "f32 or f64");
    bad |= expect("window, x NULL", rcomm_gossip_win_create(g, NULL, 3, RCOMM_F64, &none),
                  RCOMM_ERR_INVALID_ARG, "x is NULL");
    bad |= expect("window of 0", rcomm_gossip_win_create(g, x, 0, RCOMM_F64, &none),
                  RCOMM_ERR_INVALID_ARG, "count");
    bad |= expect("window, win NULL", rcomm_gossip_win_create(g, x, 3, RCOMM_F64, NULL),
                  RCOMM_ERR_INVALID_ARG, "win is NULL");
    CALL(rcomm_gossip_win_create(g, x, 3, RCOMM_F64, &win));
    bad |= expect("update, x NULL", rcomm_gossip_win_update(win, NULL),
                  RCOMM_ERR_INVALID_ARG, "x is NULL");
    bad |= expect("add, delta NULL", rcomm_gossip_win_add(win, NULL),
                  RCOMM_ERR_INVALID_ARG, "delta is NULL");
    bad |= expect("stats NULL", rcomm_gossip_win_stats(win, NULL), RCOMM_ERR_INVALID_ARG,
                  "stats is NULL");
    bad |= expect("push, win NULL", rcomm_gossip_win_push(NULL), RCOMM_ERR_INVALID_ARG,
                  "win is NULL");
    CALL(rcomm_gossip_win_add(win, x)); /* s = 2x: the estimate doubles */
    CALL(rcomm_gossip_win_flush(win, x));
    CALL(rcomm_gossip_win_destroy(win));
    bad |= expect("push on a destroyed window", rcomm_gossip_win_push(win),
                  RCOMM_ERR_INVALID_ARG, "destroyed");
    bad |= expect("destroy twice", rcomm_gossip_win_destroy(win), RCOMM_ERR_INVALID_ARG,
                  "destroyed");
    bad |= expect("stats of a destroyed window", rcomm_gossip_win_stats(win, &st),
                  RCOMM_ERR_INVALID_ARG, "destroyed");
    if (x[0] != 2 || x[1] != 4 || x[2] != 6) /* nobody pushed: our own, doubled */
        FAIL("add then flush: estimate %g %g %g, expected 2 4 6", x[0], x[1], x[2]);
    { /* f32: the same through conversions */
        float f[3] = {1, 2, 3};
        CALL(rcomm_gossip_win_create(g, f, 3, RCOMM_F32, &win));
        CALL(rcomm_gossip_win_add(win, f));
        CALL(rcomm_gossip_win_flush(win, f));
        CALL(rcomm_gossip_win_destroy(win));
        if (f[0] != 2 || f[1] != 4 || f[2] != 6)
            FAIL("f32 add then flush: estimate %g %g %g, expected 2 4 6", f[0], f[1],
                 f[2]);
    }
    return bad;
}

static int badargs(rcomm_comm_t *comm)
{
    rcomm_graph_t *g, *dead, *none;
    float v[4] = {0};
    rcomm_request_t *req;
    size_t n;
    int src[2] = {0, 1}, dst[2] = {1, 0};
    double w[2] = {0.5, 0.5}, self[2] = {0.25, 0.5};

    CALL(rcomm_graph_create(comm, RCOMM_GRAPH_RING, &g));
    CALL(rcomm_graph_create(comm, RCOMM_GRAPH_FULL, &dead));
    CALL(rcomm_graph_destroy(dead));
    bad |= expect("create, kind 99", rcomm_graph_create(comm, 99, &none),
                  RCOMM_ERR_INVALID_ARG, "kind 99");
    bad |= expect("create, graph NULL", rcomm_graph_create(comm, RCOMM_GRAPH_RING, NULL),
                  RCOMM_ERR_INVALID_ARG, "graph is NULL");
    bad |= expect("create, comm NULL", rcomm_graph_create(NULL, RCOMM_GRAPH_RING, &none),
                  RCOMM_ERR_INVALID_ARG, "comm");
    bad |= expect("destroy twice", rcomm_graph_destroy(dead), RCOMM_ERR_INVALID_ARG,
                  "destroyed");
    bad |= expect("call on a destroyed graph",
                  rcomm_neighbor_allreduce(dead, v, v, 4, RCOMM_F32),
                  RCOMM_ERR_INVALID_ARG, "destroyed");
    bad |= expect("graph NULL", rcomm_neighbor_allreduce(NULL, v, v, 4, RCOMM_F32),
                  RCOMM_ERR_INVALID_ARG, "graph is NULL");
    bad |= expect("dtype 42", rcomm_neighbor_allreduce(g, v, v, 4, 42),
                  RCOMM_ERR_INVALID_ARG, "dtype 42");
    bad |= expect("recvbuf NULL", rcomm_neighbor_allreduce(g, v, NULL, 4, RCOMM_F32),
                  RCOMM_ERR_INVALID_ARG, "recvbuf");
    bad |= expect("overlap", rcomm_neighbor_allreduce(g, v, v + 1, 3, RCOMM_F32),
                  RCOMM_ERR_INVALID_ARG, "overlap");
    bad |= expect("req NULL", rcomm_ineighbor_allreduce(g, v, v, 4, RCOMM_F32, NULL),
                  RCOMM_ERR_INVALID_ARG, "req is NULL");
    bad |= expect("in_neighbors, n NULL",
                  rcomm_graph_in_neighbors(g, 0, NULL, NULL, 0, NULL, NULL),
                  RCOMM_ERR_INVALID_ARG, "n is NULL");
    bad |= expect("schedule of none", rcomm_graph_create_schedule(comm, &g, 0, &none),
                  RCOMM_ERR_INVALID_ARG, "nsteps is 0");
    if (rcomm_graph_step(g) != 0)
        FAIL("the failed calls advanced the graph to step %llu",
             (unsigned long long)rcomm_graph_step(g));
    if (size == 2) { /* rank 0's weights sum to 0.75 */
        bad |= expect("rows off 1",
                      rcomm_graph_create_edges(comm, 2, src, dst, w, self, &none),
                      RCOMM_ERR_INVALID_ARG, "rank 0's weights");
        self[0] = 0.5;
        dst[1] = 1; /* a self loop */
        bad |= expect("self loop",
                      rcomm_graph_create_edges(comm, 2, src, dst, w, self, &none),
                      RCOMM_ERR_INVALID_ARG, "self loop");
    }
    /* The graph still works after all that, and with no neighbour's data
     * lost: a call of count 4 on it. */
    CALL(rcomm_ineighbor_allreduce(g, v, v, 4, RCOMM_F32, &req) == RCOMM_OK
             ? rcomm_wait(req)
             : RCOMM_ERR_INTERNAL);
    CALL(rcomm_graph_in_neighbors(g, 0, NULL, NULL, 0, &n, NULL));
    bad |= badargs_win(comm, g);
    CALL(rcomm_graph_destroy(g));
    return bad;
}

/* 3 ranks: everyone is everyone's neighbour on the ring. */
static int mismatch(rcomm_comm_t *comm)
{
    float v[11] = {0};
    rcomm_graph_t *g;
    rcomm_status_t st;

    CALL(rcomm_graph_create(comm, RCOMM_GRAPH_RING, &g));
    st = rcomm_neighbor_allreduce(g, v, v, rank == 1 ? 10 : 11, RCOMM_F32);
    if (st != RCOMM_ERR_MISMATCH)
        FAIL("count 10 against 11: %s (%s), expected MISMATCH", rcomm_strerror(st),
             rcomm_last_error());
    else if (rank != 1 && !strstr(rcomm_last_error(), "rank 1"))
        FAIL("count 10 against 11: '%s' does not name rank 1", rcomm_last_error());
    rcomm_graph_destroy(g);
    return bad;
}

/* Every rank builds a ring, rank 1 with other weights: creation fails on
 * every rank, naming rank 1. */
static int mismatch_graph(rcomm_comm_t *comm)
{
    int src[] = {0, 1, 2, 1, 2, 0}, dst[] = {1, 2, 0, 0, 1, 2};
    double w[] = {0.25, 0.25, 0.25, 0.25, 0.25, 0.25}, self[] = {0.5, 0.5, 0.5};
    rcomm_graph_t *g;

    if (rank == 1) { /* rank 1's own row: 0.375 from 0, 0.125 from 2 (still 1) */
        w[0] = 0.375;
        w[4] = 0.125;
    }
    bad |= expect("another graph on rank 1",
                  rcomm_graph_create_edges(comm, 6, src, dst, w, self, &g),
                  RCOMM_ERR_MISMATCH, "rank 1");
    return bad;
}

static int dead(rcomm_comm_t *comm)
{
    float v[64] = {0};
    rcomm_graph_t *g;
    rcomm_status_t st;

    CALL(rcomm_graph_create(comm, RCOMM_GRAPH_RING, &g));
    if (rank == 1)
        _exit(0);
    st = rcomm_neighbor_allreduce(g, v, v, 64, RCOMM_F32);
    if (rank != 0 && rank != 2) /* further away: any end but a hang */
        return bad;
    if (st == RCOMM_OK)
        FAIL("a neighbour of the dead rank 1 finished its call");
    else if (!strstr(rcomm_last_error(), "rank 1"))
        FAIL("'%s' does not name rank 1", rcomm_last_error());
    return bad;
}

/* Rank 1 exits after the window is made: rank 0, which writes to it, fails
 * naming it (within RCOMM_TIMEOUT, over TCP; at once where it can tell). */
static int dead_win(rcomm_comm_t *comm)
{
    int src[8], dst[8];
    double x[16] = {0};
    rcomm_graph_t *g;
    rcomm_gossip_win_t *win;
    rcomm_status_t st = RCOMM_OK;

    for (int r = 0; r < size; r++) {
        src[r] = r;
        dst[r] = (r + 1) % size;
    }
    CALL(rcomm_graph_create_edges(comm, (size_t)size, src, dst, NULL, NULL, &g));
    CALL(rcomm_gossip_win_create(g, x, 16, RCOMM_F64, &win));
    CALL(rcomm_barrier(comm));
    if (rank == 1)
        _exit(0);
    for (int t = 0; t < 50 && st == RCOMM_OK; t++) {
        st = rcomm_gossip_win_push(win);
        if (st == RCOMM_OK)
            st = rcomm_gossip_win_update(win, x);
    }
    if (st == RCOMM_OK)
        st = rcomm_gossip_win_flush(win, x);
    if (st == RCOMM_OK)
        FAIL("the window's flush finished with rank 1 dead");
    else if (rank == 0 && !strstr(rcomm_last_error(), "rank 1"))
        FAIL("'%s' does not name rank 1", rcomm_last_error());
    return bad;
}

int main(int argc, char **argv)
{
    const char *mode = argc > 1 ? argv[1] : "exact";
    int quick = argc > 2 && !strcmp(argv[2], "--quick");
    rcomm_comm_t *comm = join();

    if (!strcmp(mode, "exact"))
        exact(comm, quick);
    else if (!strcmp(mode, "math"))
        math(comm);
    else if (!strcmp(mode, "pushsum"))
        (void)(pushsum(comm, 0) || pushsum(comm, 2000));
    else if (!strcmp(mode, "badargs"))
        badargs(comm);
    else if (!strcmp(mode, "mismatch"))
        mismatch(comm);
    else if (!strcmp(mode, "mismatch-graph"))
        mismatch_graph(comm);
    else if (!strcmp(mode, "dead"))
        dead(comm);
    else if (!strcmp(mode, "dead-win"))
        dead_win(comm);
    else
        FAIL("unknown mode %s", mode);
    if (!strncmp(mode, "dead", 4) || !strcmp(mode, "mismatch"))
        _exit(bad); /* the communicator has failed: no goodbye to wait for */
    rcomm_comm_destroy(comm);
    if (!bad && rank == 0)
        printf("gossip_check %s: %d ranks: ok\n", mode, size);
    return bad;
}
