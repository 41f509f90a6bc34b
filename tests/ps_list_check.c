/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Pushes of some keys and calls over lists of slices, run by every rank
 * under rcomm-run (see test_ps.c). Tensors: a (f32, 1000 keys), b (f64, 333
 * keys), c (f32, 7 keys), on servers with 64-byte blocks (16 f32 keys, 8
 * f64 keys), BSP, lr 0.5, momentum 0.5; gradients from {+-1/8, +-1/4, +-1,
 * +-2}, so that every sum and update is exact and every rank can compute
 * the servers' parameters. Modes:
 *   keys  each step a worker pushes a few ranges (some inside one block,
 *         some covering blocks) and a key list with a key named twice and a
 *         pair that cancels, without a filter: a block whose every key was
 *         named goes whole, any other as (offset, value) pairs of its
 *         nonzero keys when smaller, and only those keys are updated
 *         (momentum leaves the others alone). The model predicts every
 *         parameter and each worker's bytes pushed exactly.
 *   many  each step a worker pushes all three tensors with one
 *         rcomm_ps_pushv and pulls four slices (overlapping, one empty, one
 *         into NULL) with one rcomm_ps_pullv; every value is checked. At the
 *         end, with nothing left to apply, a fresh rcomm_ps_pullv of every
 *         tensor takes exactly one round of reads (every block's own clock
 *         says it is current; a round per tensor would be three).
 *   halves  2 ranks, ASP; the server's update rule blocks until the worker
 *         creates the file DIR/open (--flags DIR). Two pushes complete
 *         without waiting while the first is held in the rule (a push goes
 *         into the other half of the worker's slot); the third must wait
 *         for the first and, with RCOMM_TIMEOUT=2, fails naming the server
 *         and the push it waited for.
 *   fetch  1 server, 1 update thread, ASP; the update rule stalls 3 s in the
 *         middle of its first write (block 0 of tensor f), after creating
 *         DIR/stalled. Worker 0 pushes -1 to every key; once the file is
 *         there every worker pulls: block 0 is odd in both one-sided reads,
 *         so the pull must fetch it from the server (stats: retries 2,
 *         fetched 1), whose progress waits for the write to end: block 0
 *         reads -1 exactly, the others (read during the stall) 0.
 * keys and many check that bad lists and keys are refused naming the slice
 * or key. Options: --servers S --work --steps T --flags DIR.
 */
#include <getopt.h>
#include <time.h>
#include <unistd.h>

#include "rank_check.h"

static int bad;
static rcomm_comm_t *comm;
static rcomm_ps_config_t cfg;
static int steps = 5;
static const char *flags_dir = ".";

#define NT 3
static const size_t count[NT] = {1000, 333, 7};
static const rcomm_dtype_t dtype[NT] = {RCOMM_F32, RCOMM_F64, RCOMM_F32};

static int nworkers(void)
{
    return cfg.servers_work || size == 1 ? size : size - cfg.num_servers;
}

static uint64_t hash(uint64_t a, uint64_t b, uint64_t c)
{
    return ((a * 7919u + b * 104729u + c * 31u) * 0x9e3779b97f4a7c15ull) >> 17;
}

/* A nonzero gradient. */
static double grad(int w, int s, int t, size_t k)
{
    static const double v[8] = {0.125, -0.125, 0.25, -0.25, 1, -1, 2, -2};
    return v[hash((uint64_t)w, (uint64_t)s * NT + (uint64_t)t, k) % 8];
}

static double init(int t, size_t k)
{
    return (double)(2 + 2 * t) * (k % 2 ? 1 : -1);
}

static double get(int t, const void *p, size_t k)
{
    return dtype[t] == RCOMM_F64 ? ((const double *)p)[k] : ((const float *)p)[k];
}

static void set(int t, void *p, size_t k, double v)
{
    if (dtype[t] == RCOMM_F64)
        ((double *)p)[k] = v;
    else
        ((float *)p)[k] = (float)v;
}

/* ---- the servers' parameters, as every rank computes them --------------- */

typedef struct {
    double *p[NT], *m[NT];    /* parameters, momentum */
    double *acc[NT];          /* [worker][key] accumulated, unsent */
    unsigned char *named[NT]; /* [worker][key] pushed this step */
    uint64_t *bytes;          /* [worker] gradient bytes written */
} model_t;

/* What worker w's push step sends of tensor t, added into d and marked. */
static int model_send(model_t *x, rcomm_ps_t *ps, int w, int t, double *d,
                      unsigned char *mark)
{
    const size_t es = dtype[t] == RCOMM_F64 ? 8 : 4, blk = cfg.block_bytes / es;
    double *acc = x->acc[t] + (size_t)w * count[t];
    unsigned char *named = x->named[t] + (size_t)w * count[t];

    for (size_t k = 0; k < count[t];) {
        size_t lo, n;
        int s;
        CALL(rcomm_ps_owner(ps, t, k, &s, &lo, &n));
        for (size_t first = lo; first < lo + n; first += blk) {
            const size_t len = lo + n - first < blk ? lo + n - first : blk;
            size_t all = 0, nz = 0;
            for (size_t j = first; j < first + len; j++) {
                all += named[j];
                nz += named[j] && acc[j] != 0;
            }
            if (!all)
                continue; /* not dirty */
            if (all < len && !nz)
                continue; /* cancelled out: nothing sent */
            {
                const int whole =
                    all == len || (4 * nz + es - 1) / es * es + nz * es >= len * es;
                x->bytes[w] += whole ? len * es : (4 * nz + es - 1) / es * es + nz * es;
                for (size_t j = first; j < first + len; j++)
                    if (whole || acc[j] != 0) {
                        d[j] += acc[j];
                        mark[j] = 1;
                        acc[j] = 0;
                    }
            }
        }
        k = lo + n;
    }
    memset(named, 0, count[t]);
    return 0;
}

/* The end of a BSP step: every worker's push, then the update, per key in
 * the tensor's precision (exact here: every value is a binary fraction). */
static int model_step(model_t *x, rcomm_ps_t *ps)
{
    for (int t = 0; t < NT; t++) {
        double *d = calloc(count[t], sizeof(double));
        unsigned char *mark = calloc(count[t], 1);
        for (int w = 0; w < nworkers(); w++)
            if (model_send(x, ps, w, t, d, mark))
                return 1;
        for (size_t k = 0; k < count[t]; k++)
            if (mark[k]) {
                x->m[t][k] = cfg.momentum * x->m[t][k] + d[k];
                x->p[t][k] -= cfg.lr * x->m[t][k];
            }
        free(d);
        free(mark);
    }
    return 0;
}

static void model_push(model_t *x, int w, int t, size_t k, double g)
{
    x->acc[t][(size_t)w * count[t] + k] += g;
    x->named[t][(size_t)w * count[t] + k] = 1;
}

/* ---- keys ----------------------------------------------------------------- */

/* Worker w's pushes of step s (into the PS when ps_w, always into the
 * model): ranges of a and b, and a key list of b. */
static int push_step(model_t *x, rcomm_ps_t *ps, int w, int s, int real)
{
    static const size_t len[4] = {1, 3, 16, 40};
    double g[64];
    size_t keys[6];

    for (int r = 0; r < 3; r++) {
        const int t = r % 2;
        const size_t n = len[hash((uint64_t)w, (uint64_t)s, (uint64_t)r + 50) % 4];
        const size_t off = hash((uint64_t)w, (uint64_t)s, (uint64_t)r) % (count[t] - n);
        char buf[64 * 8];
        for (size_t j = 0; j < n; j++) {
            g[j] = grad(w, s * 3 + r, t, off + j);
            set(t, buf, j, g[j]);
            model_push(x, w, t, off + j, g[j]);
        }
        if (real)
            CALL(rcomm_ps_push(ps, t, off, n, buf));
    }
    /* Keys of b: one named twice, and a key whose two pushes cancel. */
    keys[0] = hash((uint64_t)w, (uint64_t)s, 90) % count[1];
    keys[1] = hash((uint64_t)w, (uint64_t)s, 91) % count[1];
    keys[2] = keys[0];
    keys[3] = hash((uint64_t)w, (uint64_t)s, 92) % count[1];
    keys[4] = (size_t)(w * 37 + s * 11) % count[1];
    keys[5] = keys[4];
    for (int j = 0; j < 6; j++)
        g[j] = j == 5 ? -g[4] : grad(w, s + 100, 1, (size_t)j);
    for (int j = 0; j < 6; j++)
        model_push(x, w, 1, keys[j], g[j]);
    if (real)
        CALL(rcomm_ps_push_keys(ps, 1, keys, 6, g));
    return 0;
}

static int check_params(model_t *x, rcomm_ps_t *ps, const char *mode, void *got)
{
    for (int t = 0; t < NT; t++) {
        CALL(rcomm_ps_pull_fresh(ps, t, 0, count[t], got, NULL));
        for (size_t k = 0; k < count[t]; k++)
            if (get(t, got, k) != x->p[t][k]) {
                FAIL("%s: tensor %d key %zu is %.17g after %d steps, the model's %.17g",
                     mode, t, k, get(t, got, k), steps, x->p[t][k]);
                break;
            }
    }
    return 0;
}

static int bad_calls(rcomm_ps_t *ps, void *buf)
{
    const size_t keys[2] = {3, 333};
    rcomm_ps_slice_t v[2] = {{0, 0, 10, buf}, {1, 330, 4, buf}};
    const double g[2] = {1, 1};

    bad |= expect("push_keys past the end", rcomm_ps_push_keys(ps, 1, keys, 2, g),
                  RCOMM_ERR_INVALID_ARG, "keys[1] = 333");
    bad |= expect("push_keys without keys", rcomm_ps_push_keys(ps, 1, NULL, 2, g),
                  RCOMM_ERR_INVALID_ARG, "keys is NULL");
    bad |= expect("push_keys bad tensor", rcomm_ps_push_keys(ps, 3, keys, 1, g),
                  RCOMM_ERR_INVALID_ARG, "tensor 3");
    bad |= expect("pullv slice 1 past the end", rcomm_ps_pullv(ps, v, 2, 0, NULL),
                  RCOMM_ERR_INVALID_ARG, "slice 1");
    bad |= expect("pushv slice 1 past the end", rcomm_ps_pushv(ps, v, 2),
                  RCOMM_ERR_INVALID_ARG, "slice 1");
    bad |= expect("pullv NULL list", rcomm_ps_pullv(ps, NULL, 2, 0, NULL),
                  RCOMM_ERR_INVALID_ARG, "2 slices");
    bad |= expect("pushv negative count", rcomm_ps_pushv(ps, v, -1),
                  RCOMM_ERR_INVALID_ARG, "-1 slices");
    bad |= expect("pullv bad flags", rcomm_ps_pullv(ps, v, 1, 6, NULL),
                  RCOMM_ERR_INVALID_ARG, "flags");
    v[1].count = 3;
    v[1].buf = NULL;
    bad |= expect("pushv NULL gradient", rcomm_ps_pushv(ps, v, 2), RCOMM_ERR_INVALID_ARG,
                  "grad is NULL");
    /* Nothing of a refused call was added: empty lists are fine. */
    CALL(rcomm_ps_pushv(ps, NULL, 0));
    CALL(rcomm_ps_pullv(ps, NULL, 0, 0, NULL));
    return 0;
}

/* ---- many ----------------------------------------------------------------- */

static int many_step(model_t *x, rcomm_ps_t *ps, int me, int s, void **buf, void **got)
{
    rcomm_ps_slice_t v[NT], pv[4];
    rcomm_ps_stats_t st0, st1;
    uint64_t clock;

    for (int t = 0; t < NT; t++) {
        for (size_t k = 0; k < count[t]; k++)
            set(t, buf[t], k, grad(me, s, t, k));
        v[t] = (rcomm_ps_slice_t){t, 0, count[t], buf[t]};
    }
    CALL(rcomm_ps_pushv(ps, v, NT));
    CALL(rcomm_ps_clock(ps));
    for (int w = 0; w < nworkers(); w++)
        for (int t = 0; t < NT; t++)
            for (size_t k = 0; k < count[t]; k++)
                model_push(x, w, t, k, grad(w, s, t, k));
    if (model_step(x, ps))
        return 1;
    /* a[100, 700) and a[650, 1000) overlap; b empty; c into NULL. */
    pv[0] = (rcomm_ps_slice_t){0, 100, 600, got[0]};
    pv[1] = (rcomm_ps_slice_t){1, 5, 0, got[1]};
    pv[2] = (rcomm_ps_slice_t){0, 650, 350, got[2]};
    pv[3] = (rcomm_ps_slice_t){2, 0, 7, NULL};
    CALL(rcomm_ps_stats(ps, &st0));
    CALL(rcomm_ps_pullv(ps, pv, 4, 0, &clock));
    CALL(rcomm_ps_stats(ps, &st1));
    if (st1.bytes_pulled - st0.bytes_pulled != (600 + 350 + 7) * 4)
        FAIL("many: step %d: the pullv read %llu bytes, expected %d", s,
             (unsigned long long)(st1.bytes_pulled - st0.bytes_pulled),
             (600 + 350 + 7) * 4);
    if (clock != (uint64_t)s + 1)
        FAIL("many: the pullv after step %d returned clock %llu", s,
             (unsigned long long)clock);
    for (size_t k = 0; k < 600; k++)
        if (get(0, got[0], k) != x->p[0][100 + k]) {
            FAIL("many: step %d: a[%zu] is %g, the model's %g", s, 100 + k,
                 get(0, got[0], k), x->p[0][100 + k]);
            break;
        }
    for (size_t k = 0; k < 350; k++)
        if (get(0, got[2], k) != x->p[0][650 + k]) {
            FAIL("many: step %d: a[%zu] (second slice) is %g, the model's %g", s, 650 + k,
                 get(0, got[2], k), x->p[0][650 + k]);
            break;
        }
    /* c, pulled into NULL, read on its own. */
    CALL(rcomm_ps_pull(ps, 2, 0, 7, got[1], NULL));
    for (size_t k = 0; k < 7; k++)
        if (get(2, got[1], k) != x->p[2][k])
            FAIL("many: step %d: c[%zu] is %g, the model's %g", s, k, get(2, got[1], k),
                 x->p[2][k]);
    return 0;
}

/* Nothing is left to apply: a fresh pull of every tensor, twice (the first
 * may follow a pull that waited, and then reads the clocks first), the
 * second in exactly one round; then slices served locally in none. */
static int many_rounds(rcomm_ps_t *ps, void **got)
{
    rcomm_ps_slice_t v[NT];
    rcomm_ps_stats_t a, b;

    for (int t = 0; t < NT; t++)
        v[t] = (rcomm_ps_slice_t){t, 0, count[t], got[t]};
    CALL(rcomm_ps_pullv(ps, v, NT, RCOMM_PS_FRESH, NULL));
    CALL(rcomm_ps_stats(ps, &a));
    CALL(rcomm_ps_pullv(ps, v, NT, RCOMM_PS_FRESH, NULL));
    CALL(rcomm_ps_stats(ps, &b));
    if (b.rounds - a.rounds != 1 || b.retries != a.retries || b.pulls != a.pulls + 1)
        FAIL("many: a fresh pullv of %d tensors took %llu rounds (%llu retries, %llu "
             "pulls), expected 1 (0, 1)",
             NT, (unsigned long long)(b.rounds - a.rounds),
             (unsigned long long)(b.retries - a.retries),
             (unsigned long long)(b.pulls - a.pulls));
    return 0;
}

/* ---- halves --------------------------------------------------------------- */

static void gate(void *arg, int tensor, size_t first, void *params, const void *grad,
                 size_t n, rcomm_dtype_t dt)
{
    char path[512];

    (void)arg, (void)tensor, (void)first, (void)dt;
    snprintf(path, sizeof(path), "%s/open", flags_dir);
    while (access(path, F_OK) != 0)
        nanosleep(&(struct timespec){0, 1000000}, NULL);
    for (size_t i = 0; i < n; i++)
        ((float *)params)[i] -= ((const float *)grad)[i];
}

static int halves(void)
{
    rcomm_ps_tensor_t t = {"h", 16, RCOMM_F32, NULL};
    float g[16] = {1};
    rcomm_ps_stats_t st;
    rcomm_ps_t *ps;
    char path[512];
    FILE *f;

    cfg.staleness = RCOMM_PS_ASP;
    cfg.update = gate;
    cfg.momentum = 0;
    CALL(rcomm_ps_create(comm, &cfg, &t, 1, &ps));
    if (rank == 0) {
        (void)rcomm_ps_serve(ps); /* ends when the worker fails */
        rcomm_ps_destroy(ps);
        return 0;
    }
    for (int i = 0; i < 2; i++) {
        CALL(rcomm_ps_push(ps, 0, 0, 16, g));
        CALL(rcomm_ps_clock(ps));
    }
    CALL(rcomm_ps_stats(ps, &st));
    if (st.pushes != 2 || st.waits != 0)
        FAIL("halves: 2 pushes while the first is held: %llu pushes, %llu waits, "
             "expected 2 and 0",
             (unsigned long long)st.pushes, (unsigned long long)st.waits);
    CALL(rcomm_ps_push(ps, 0, 0, 16, g));
    bad |= expect("halves: the third push while the first is held", rcomm_ps_clock(ps),
                  RCOMM_ERR_TIMEOUT, "server rank 0 has not applied our push of clock 1");
    snprintf(path, sizeof(path), "%s/open", flags_dir);
    if (!(f = fopen(path, "w")))
        FAIL("halves: cannot create %s", path);
    else
        fclose(f);
    rcomm_ps_destroy(ps);
    return 0;
}

/* ---- fetch ---------------------------------------------------------------- */

static void stall(void *arg, int tensor, size_t first, void *params, const void *grad,
                  size_t n, rcomm_dtype_t dt)
{
    static int calls;
    char path[512];
    FILE *f;

    (void)arg, (void)tensor, (void)first, (void)dt;
    if (calls++ == 0) { /* one update thread: no race on calls */
        snprintf(path, sizeof(path), "%s/stalled", flags_dir);
        if ((f = fopen(path, "w")))
            fclose(f);
        nanosleep(&(struct timespec){3, 0}, NULL);
    }
    for (size_t i = 0; i < n; i++)
        ((float *)params)[i] -= ((const float *)grad)[i];
}

static int fetch(void)
{
    enum { N = 64 }; /* 4 blocks of 16 keys */
    rcomm_ps_tensor_t t = {"f", N, RCOMM_F32, NULL};
    float g[N], got[N];
    rcomm_ps_stats_t st;
    rcomm_ps_t *ps;
    char path[512];
    int i;

    for (i = 0; i < N; i++)
        g[i] = 1;
    cfg.num_servers = 1;
    cfg.servers_work = 0;
    cfg.server_threads = 1;
    cfg.staleness = RCOMM_PS_ASP;
    cfg.update = stall;
    cfg.momentum = 0;
    CALL(rcomm_ps_create(comm, &cfg, &t, 1, &ps));
    if (rank == 0) {
        CALL(rcomm_ps_serve(ps));
        CALL(rcomm_ps_destroy(ps));
        return 0;
    }
    if (rank == 1) {
        CALL(rcomm_ps_push(ps, 0, 0, N, g));
        CALL(rcomm_ps_clock(ps));
    }
    snprintf(path, sizeof(path), "%s/stalled", flags_dir);
    for (i = 0; i < 30000 && access(path, F_OK) != 0; i++)
        nanosleep(&(struct timespec){0, 1000000}, NULL);
    if (i == 30000)
        FAIL("fetch: the update rule did not start within 30 s");
    CALL(rcomm_ps_pull(ps, 0, 0, N, got, NULL));
    CALL(rcomm_ps_stats(ps, &st));
    for (i = 0; i < N; i++)
        if (got[i] != (i < 16 ? -1.0f : 0.0f)) {
            FAIL("fetch: key %d is %g, expected %g", i, got[i], i < 16 ? -1.0 : 0.0);
            break;
        }
    if (st.retries != 2 || st.fetched != 1)
        FAIL("fetch: %llu blocks read again, %llu fetched; expected 2 and 1",
             (unsigned long long)st.retries, (unsigned long long)st.fetched);
    CALL(rcomm_ps_destroy(ps));
    return 0;
}

static int run(const char *mode)
{
    const int worker = cfg.servers_work || rank >= cfg.num_servers || size == 1;
    const int me = cfg.servers_work || size == 1 ? rank : rank - cfg.num_servers;
    rcomm_ps_tensor_t tensors[NT];
    void *buf[NT], *got[NT];
    rcomm_ps_stats_t st;
    rcomm_ps_t *ps;
    model_t x = {0};
    int64_t sparse = 0;

    x.bytes = calloc((size_t)nworkers(), sizeof(uint64_t));
    for (int t = 0; t < NT; t++) {
        const size_t n = count[t];
        buf[t] = malloc(n * 8);
        got[t] = malloc(count[0] * 8); /* any slice of any tensor */
        x.p[t] = malloc(n * sizeof(double));
        x.m[t] = calloc(n, sizeof(double));
        x.acc[t] = calloc((size_t)nworkers() * n, sizeof(double));
        x.named[t] = calloc((size_t)nworkers() * n, 1);
        for (size_t k = 0; k < n; k++) {
            x.p[t][k] = init(t, k);
            set(t, buf[t], k, init(t, k));
        }
        tensors[t] = (rcomm_ps_tensor_t){t == 0   ? "a"
                                         : t == 1 ? "b"
                                                  : "c",
                                         n, dtype[t], buf[t]};
    }
    CALL(rcomm_ps_create(comm, &cfg, tensors, NT, &ps));
    if (worker && bad_calls(ps, got[0]))
        return 1;
    for (int s = 0; s < steps; s++) {
        if (!strcmp(mode, "many")) {
            if (worker && many_step(&x, ps, me, s, buf, got))
                return 1;
            if (!worker) {
                for (int w = 0; w < nworkers(); w++)
                    for (int t = 0; t < NT; t++)
                        for (size_t k = 0; k < count[t]; k++)
                            model_push(&x, w, t, k, grad(w, s, t, k));
                if (model_step(&x, ps))
                    return 1;
            }
            continue;
        }
        for (int w = 0; w < nworkers(); w++)
            if (push_step(&x, ps, w, s, worker && w == me))
                return 1;
        if (worker)
            CALL(rcomm_ps_clock(ps));
        if (model_step(&x, ps))
            return 1;
    }
    if (worker) {
        if (check_params(&x, ps, mode, got[0]))
            return 1;
        if (!strcmp(mode, "many") && many_rounds(ps, got))
            return 1;
        CALL(rcomm_ps_stats(ps, &st));
        sparse = (int64_t)st.keys_pushed;
        if (!strcmp(mode, "keys") && st.bytes_pushed != x.bytes[me])
            FAIL("%s: pushed %llu bytes, the model %llu", mode,
                 (unsigned long long)st.bytes_pushed, (unsigned long long)x.bytes[me]);
    } else {
        CALL(rcomm_ps_serve(ps));
    }
    CALL(rcomm_ps_destroy(ps));
    /* Pushes of a few keys went sparse somewhere; whole tensors never. */
    CALL(rcomm_allreduce(comm, RCOMM_IN_PLACE, &sparse, 1, RCOMM_I64, RCOMM_SUM));
    if (!strcmp(mode, "keys") ? !sparse : sparse != 0)
        FAIL("%s: %lld keys were pushed sparse", mode, (long long)sparse);
    for (int t = 0; t < NT; t++) {
        free(buf[t]), free(got[t]), free(x.p[t]), free(x.m[t]), free(x.acc[t]);
        free(x.named[t]);
    }
    free(x.bytes);
    return 0;
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {{"servers", 1, 0, 'S'},
                                         {"work", 0, 0, 'W'},
                                         {"steps", 1, 0, 'T'},
                                         {"flags", 1, 0, 'F'},
                                         {0, 0, 0, 0}};
    int c, rc;

    rcomm_ps_config_init(&cfg);
    cfg.block_bytes = 64;
    cfg.lr = 0.5;
    cfg.momentum = 0.5;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'S': cfg.num_servers = atoi(optarg); break;
        case 'W': cfg.servers_work = 1; break;
        case 'T': steps = atoi(optarg); break;
        case 'F': flags_dir = optarg; break;
        default: return 2;
        }
    }
    if (optind != argc - 1 ||
        (strcmp(argv[optind], "keys") && strcmp(argv[optind], "many") &&
         strcmp(argv[optind], "halves") && strcmp(argv[optind], "fetch"))) {
        fprintf(stderr,
                "usage: ps_list_check [--servers S] [--work] [--steps T] [--flags "
                "DIR] keys|many|halves|fetch\n");
        return 2;
    }
    comm = join();
    if (!strcmp(argv[optind], "halves") && size != 2) {
        fprintf(stderr, "ps_list_check halves: 2 ranks, not %d\n", size);
        return 2;
    }
    rc = !strcmp(argv[optind], "halves")  ? halves()
         : !strcmp(argv[optind], "fetch") ? fetch()
                                          : run(argv[optind]);
    rcomm_comm_destroy(comm);
    if (!rc && !bad && rank == 0)
        printf("ps_list_check %s: %d ranks OK\n", argv[optind], size);
    return rc ? rc : bad;
}
