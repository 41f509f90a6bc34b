/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Asynchronous gossip over one-sided writes: push-sum (Kempe, Dobra and
 * Gehrke 2003) in the form that survives overwritten messages.
 *
 * Every rank keeps a numerator s (count values) and a weight w (1 at the
 * start); its estimate is s / w. A push gives each out-neighbour j the share
 * a_j of (s, w), a_j its column weight, and keeps a_self of it: what a rank
 * gives sums to 1, so no mass is made or lost, on any directed graph. The
 * shares do not travel as messages but as running totals: T_j, all that
 * was ever given to j, is what a write to j's slot carries. The receiver
 * folds T_j - L_j, L_j the total it folded last. So a write that overwrites
 * another loses nothing (its successor's total includes it), and a push
 * whose previous write to j is still in flight is not posted at all, only
 * added to T_j: push never waits for a neighbour, which may be slow, asleep
 * or computing. The weight travels in the same write as the values (the
 * last of the count + 1 doubles), so value and weight always agree.
 *
 * Slots are double-buffered and checksummed (slot.h): a half that is being
 * written is never read.
 *
 * Ring of 3, directed (0 -> 1 -> 2 -> 0), a = 1/2: rank 0 pushes (s, w) =
 * (6, 1): keeps (3, 0.5), T_1 = (3, 0.5) is written to rank 1's slot for
 * rank 0; rank 1's update adds (3, 0.5) to its own (s, w).
 *
 * Every total is f64 whatever the dtype, so that the sum over ranks of s
 * plus all that is in flight stays the first sum to rounding.
 */
#include <sched.h>
#include <stdlib.h>
#include <string.h>

#include "base/clock.h"
#include "base/error.h"
#include "core/comm.h"
#include "core/handle.h"
#include "gossip/gossip.h"
#include "gossip/slot.h"
#include "transports/transport.h"
#include "transports/util/heap.h"

/* A push gives away a share of the weight; a rank that pushes again and again
 * while its neighbours are slow would shrink its weight geometrically (by
 * its self weight, 1/4 on exponential-2 over 8 ranks) to underflow, and its
 * estimate s / w to 0 / 0. Push-sum stays exact with any pushes left out,
 * so a rank below this weight (the average is 1) keeps its mass until some
 * arrives. */
#define GOSSIP_MIN_WEIGHT (1.0 / 1024)

struct rcomm_gossip_win {
    uint64_t magic;
    rcomm_comm_t *comm;
    rcomm_dtype_t dtype;
    size_t count, nv, half; /* nv = count + 1 doubles per write */
    double *s;              /* [nv]: numerator, then weight */
    double self_w;
    /* In-neighbours: our region holds a slot (two halves) for each. */
    int nin;
    const int *in;
    char *region;
    size_t region_bytes;
    tp_mr_t *mr;
    double *last;       /* [nin][nv]: totals folded */
    uint64_t *last_seq; /* [nin] */
    double *vals;       /* [nv]: a slot's values, read */
    void *copy;         /* one half: a slot's bytes, read */
    /* Out-neighbours: totals given, their writes, where they go. */
    int nout;
    const int *out;
    const double *out_w;
    double *total;  /* [nout][nv] */
    char *stage;    /* [nout][half]: the write in flight */
    tp_req_t *req;  /* [nout] */
    uint64_t *seq;  /* [nout]: writes posted */
    uint8_t *dirty; /* [nout]: total changed since the last write */
    tp_rkey_t *key; /* [nout] */
    uint64_t *raddr;
    rcomm_gossip_stats_t stats;
};

static rcomm_status_t win_valid(const rcomm_gossip_win_t *win, const char *fn)
{
    if (!win)
        return base_err(RCOMM_ERR_INVALID_ARG, "%s: win is NULL", fn);
    if (win->magic != HANDLE_MAGIC_GWIN)
        return base_err(RCOMM_ERR_INVALID_ARG, "%s: win was destroyed or is not a window",
                        fn);
    return comm_check(win->comm, fn);
}

static void load(double *dst, const void *src, size_t n, rcomm_dtype_t dt)
{
    for (size_t i = 0; i < n; i++)
        dst[i] = dt == RCOMM_F64 ? ((const double *)src)[i] : ((const float *)src)[i];
}

/* Everything but the handle itself. A failed communicator may have no
 * transport left: its registrations went with it (the region is the
 * process's, tp_heap_alloc). */
static void win_release(rcomm_gossip_win_t *w)
{
    if (w->mr && w->comm->tp)
        w->comm->tp->ops->mem_dereg(w->comm->tp, w->mr);
    if (w->region)
        tp_heap_free(w->region);
    free(w->s);
    free(w->last);
    free(w->last_seq);
    free(w->vals);
    free(w->copy);
    free(w->total);
    free(w->stage);
    free(w->req);
    free(w->seq);
    free(w->dirty);
    free(w->key);
    free(w->raddr);
}

static void win_free(rcomm_gossip_win_t *w)
{
    win_release(w);
    free(w);
}

/* Where our slot is in out-neighbour j's region: our place among its
 * in-neighbours (sorted), two halves each. */
static uint64_t slot_offset(const gossip_graph_t *g, int j, int me, size_t half)
{
    for (int k = g->in_off[j]; k < g->in_off[j + 1]; k++)
        if (g->in_nbr[k] == me)
            return (uint64_t)(k - g->in_off[j]) * 2 * half;
    return 0; /* unreachable: j is our out-neighbour */
}

static void *zalloc(size_t n, size_t size)
{
    return calloc(n ? n : 1, size);
}

static rcomm_status_t win_alloc(rcomm_gossip_win_t *w)
{
    const size_t nv = w->nv, nin = (size_t)w->nin, nout = (size_t)w->nout;

    w->region_bytes = nin * 2 * w->half;
    if (nin && tp_heap_alloc(w->region_bytes, (void **)&w->region) != RCOMM_OK)
        return RCOMM_ERR_NO_MEMORY;
#define ZALLOC(f, n) (w->f = zalloc((n), sizeof(*w->f)))
    if (!ZALLOC(s, nv) || !ZALLOC(last, nin * nv) || !ZALLOC(last_seq, nin) ||
        !ZALLOC(vals, nv) || !(w->copy = calloc(1, w->half)) ||
        !ZALLOC(total, nout * nv) || !ZALLOC(req, nout) || !ZALLOC(seq, nout) ||
        !ZALLOC(dirty, nout) || !ZALLOC(key, nout) || !ZALLOC(raddr, nout) ||
        posix_memalign((void **)&w->stage, 64, nout ? nout * w->half : 64))
        return RCOMM_ERR_NO_MEMORY;
#undef ZALLOC
    for (size_t j = 0; j < nout; j++)
        w->req[j].status = RCOMM_OK;
    return RCOMM_OK;
}

static rcomm_status_t win_register(rcomm_gossip_win_t *w, tp_rkey_t *mine)
{
    tp_t *tp = w->comm->tp;
    rcomm_status_t st;

    if (!tp || !w->nin)
        return RCOMM_OK; /* one rank: no neighbours */
    if ((st = tp->ops->mem_reg(tp, w->region, w->region_bytes, TP_REMOTE_WRITE,
                               &w->mr)) != RCOMM_OK)
        return st;
    return tp->ops->mem_rkey(w->mr, mine);
}

/* Register our region and learn every rank's: rkeys allgathered. */
static rcomm_status_t win_expose(rcomm_gossip_win_t *w, const gossip_graph_t *g)
{
    rcomm_comm_t *comm = w->comm;
    tp_rkey_t mine = {0}, *all;
    rcomm_status_t st;

    if ((st = COMM_LOCKED(comm, win_register(w, &mine))) != RCOMM_OK)
        return st;
    if (!(all = malloc((size_t)comm->size * sizeof(*all))))
        return RCOMM_ERR_NO_MEMORY;
    st = rcomm_allgather(comm, &mine, all, sizeof(mine) / 8, RCOMM_I64);
    for (int j = 0; st == RCOMM_OK && j < w->nout; j++) {
        w->key[j] = all[w->out[j]];
        w->raddr[j] =
            all[w->out[j]].addr + slot_offset(g, w->out[j], comm->rank, w->half);
    }
    free(all);
    return st;
}

rcomm_status_t rcomm_gossip_win_create(rcomm_graph_t *graph, const void *x, size_t count,
                                       rcomm_dtype_t dtype, rcomm_gossip_win_t **win)
{
    static const char fn[] = "rcomm_gossip_win_create";
    rcomm_gossip_win_t *w;
    const gossip_graph_t *g;
    rcomm_comm_t *comm;
    rcomm_status_t st;
    int r;

    if (!win)
        return base_err(RCOMM_ERR_INVALID_ARG, "%s: win is NULL", fn);
    *win = NULL;
    if ((st = gossip_graph_valid(graph, fn)) != RCOMM_OK)
        return st;
    comm = graph->comm;
    r = comm->rank;
    if ((st = comm_check(comm, fn)) != RCOMM_OK)
        return st;
    if (graph->nsteps != 1)
        return base_err(RCOMM_ERR_INVALID_ARG,
                        "%s: rank %d: a window needs a static graph (this one has %zu "
                        "steps)",
                        fn, r, graph->nsteps);
    if (graph->cols_why[0])
        return base_err(
            RCOMM_ERR_INVALID_ARG,
            "%s: rank %d: push-sum needs what each rank gives to sum to 1: %s", fn, r,
            graph->cols_why);
    if (dtype != RCOMM_F32 && dtype != RCOMM_F64)
        return base_err(RCOMM_ERR_INVALID_ARG,
                        "%s: rank %d: dtype %s: a window holds f32 or f64", fn, r,
                        rcomm_dtype_name(dtype));
    if (count == 0 || count > ((size_t)1 << 40) / 8 || !x)
        return base_err(RCOMM_ERR_INVALID_ARG, "%s: rank %d: %s", fn, r,
                        !x ? "x is NULL" : "count must be 1 .. 2^37");
    if (!(w = calloc(1, sizeof(*w))))
        return base_err(RCOMM_ERR_NO_MEMORY, "%s: rank %d: out of memory", fn, r);
    g = &graph->steps[0];
    *w = (rcomm_gossip_win_t){
        .comm = comm,
        .dtype = dtype,
        .count = count,
        .nv = count + 1,
        .half = gossip_slot_half(count + 1),
        .self_w = g->self_w[r],
        .nin = g->in_off[r + 1] - g->in_off[r],
        .in = g->in_nbr + g->in_off[r],
        .nout = g->out_off[r + 1] - g->out_off[r],
        .out = g->out_nbr + g->out_off[r],
        .out_w = g->out_w + g->out_off[r],
    };
    if ((st = win_alloc(w)) != RCOMM_OK) {
        win_free(w);
        return base_err(st, "%s: rank %d: out of memory for a window of %zu values", fn,
                        r, count);
    }
    load(w->s, x, count, dtype);
    w->s[count] = 1;
    if ((st = win_expose(w, g)) != RCOMM_OK) {
        char why[256];
        snprintf(why, sizeof(why), "%s", rcomm_last_error());
        win_free(w);
        return base_err(st, "%s: rank %d: %s", fn, r, why);
    }
    w->magic = HANDLE_MAGIC_GWIN;
    *win = w;
    return RCOMM_OK;
}

/* A write of ours that failed: the communicator fails with it. */
static rcomm_status_t write_failed(rcomm_gossip_win_t *w, int j, const char *fn)
{
    char why[256];

    snprintf(why, sizeof(why), "%s", rcomm_last_error());
    comm_fail(w->comm, w->req[j].status);
    return base_err(
        w->req[j].status, "%s: rank %d: the write to out-neighbour rank %d failed: %s",
        fn, w->comm->rank, w->out[j], why[0] ? why : rcomm_strerror(w->req[j].status));
}

/* Post the write of total j unless one is in flight. */
static rcomm_status_t post(rcomm_gossip_win_t *w, int j, const char *fn)
{
    tp_t *tp = w->comm->tp;
    char *stage = w->stage + (size_t)j * w->half;
    rcomm_status_t st;

    if (w->req[j].status == RCOMM_INPROGRESS) {
        w->stats.skipped++;
        return RCOMM_OK;
    }
    if (w->req[j].status != RCOMM_OK)
        return write_failed(w, j, fn);
    w->seq[j]++;
    gossip_slot_encode(stage, w->seq[j], w->total + (size_t)j * w->nv, w->nv);
    w->req[j] = (tp_req_t){.status = RCOMM_INPROGRESS};
    st = tp->ops->put(tp, w->out[j], stage, w->half, &w->key[j],
                      w->raddr[j] + (w->seq[j] % 2) * w->half, &w->req[j]);
    if (st != RCOMM_OK) {
        w->req[j].status = st;
        return write_failed(w, j, fn);
    }
    w->dirty[j] = 0;
    w->stats.writes++;
    return RCOMM_OK;
}

static rcomm_status_t push(rcomm_gossip_win_t *w, const char *fn)
{
    rcomm_status_t st = RCOMM_OK;

    comm_progress(w->comm, 0);
    w->stats.pushes++;
    if (w->s[w->count] < GOSSIP_MIN_WEIGHT) { /* keep it: see GOSSIP_MIN_WEIGHT */
        w->stats.held++;
        sched_yield(); /* more ranks than cores: let the others catch up */
        return RCOMM_OK;
    }
    for (int j = 0; j < w->nout; j++) {
        double *t = w->total + (size_t)j * w->nv;
        for (size_t i = 0; i < w->nv; i++)
            t[i] += w->out_w[j] * w->s[i];
        w->dirty[j] = 1;
    }
    for (size_t i = 0; i < w->nv; i++)
        w->s[i] *= w->self_w;
    for (int j = 0; j < w->nout && st == RCOMM_OK; j++)
        st = post(w, j, fn);
    return st;
}

/* Fold what arrived; the estimate into x (NULL: none). */
static void update(rcomm_gossip_win_t *w, void *x)
{
    comm_progress(w->comm, 0); /* TCP applies peers' writes here */
    for (int k = 0; k < w->nin; k++) {
        double *last = w->last + (size_t)k * w->nv;
        uint64_t seq = gossip_slot_read(w->region + (size_t)k * 2 * w->half, w->nv,
                                        w->last_seq[k], w->copy, w->vals, &w->stats.torn);
        if (!seq)
            continue;
        for (size_t i = 0; i < w->nv; i++) {
            w->s[i] += w->vals[i] - last[i];
            last[i] = w->vals[i];
        }
        w->last_seq[k] = seq;
        w->stats.folded++;
    }
    for (size_t i = 0; x && i < w->count; i++) {
        double e = w->s[i] / w->s[w->count];
        if (w->dtype == RCOMM_F64)
            ((double *)x)[i] = e;
        else
            ((float *)x)[i] = (float)e;
    }
}

rcomm_status_t rcomm_gossip_win_push(rcomm_gossip_win_t *win)
{
    rcomm_status_t st;

    if ((st = win_valid(win, "rcomm_gossip_win_push")) != RCOMM_OK)
        return st;
    return COMM_LOCKED(win->comm, push(win, "rcomm_gossip_win_push"));
}

rcomm_status_t rcomm_gossip_win_update(rcomm_gossip_win_t *win, void *x)
{
    rcomm_status_t st;

    if ((st = win_valid(win, "rcomm_gossip_win_update")) != RCOMM_OK)
        return st;
    if (!x)
        return base_err(RCOMM_ERR_INVALID_ARG,
                        "rcomm_gossip_win_update: rank %d: x is NULL", win->comm->rank);
    comm_lock(win->comm);
    update(win, x);
    return comm_unlock(win->comm, RCOMM_OK);
}

rcomm_status_t rcomm_gossip_win_add(rcomm_gossip_win_t *win, const void *delta)
{
    rcomm_status_t st;

    if ((st = win_valid(win, "rcomm_gossip_win_add")) != RCOMM_OK)
        return st;
    if (!delta)
        return base_err(RCOMM_ERR_INVALID_ARG,
                        "rcomm_gossip_win_add: rank %d: delta is NULL", win->comm->rank);
    /* Scaled by our weight, so that the estimate moves by delta: a rank
     * that ran ahead holds a small share of weight, and an unscaled step
     * would move its estimate by delta / w. */
    comm_lock(win->comm);
    for (size_t i = 0; i < win->count; i++)
        win->s[i] +=
            win->s[win->count] * (win->dtype == RCOMM_F64 ? ((const double *)delta)[i]
                                                          : ((const float *)delta)[i]);
    return comm_unlock(win->comm, RCOMM_OK);
}

/* Write every total that changed and wait until all our writes have
 * landed, within RCOMM_TIMEOUT. */
static rcomm_status_t drain(rcomm_gossip_win_t *w, const char *fn)
{
    rcomm_comm_t *comm = w->comm;
    const uint64_t limit = (uint64_t)base_config_timeout_ms(&comm->cfg) * 1000000ull;
    const uint64_t start = base_now_ns();
    comm_waiter_t wt;
    rcomm_status_t st;

    comm_waiter_start(comm, &wt);
    for (;;) {
        int busy = -1;
        comm_progress(comm, 0);
        for (int j = 0; j < w->nout; j++) {
            if (w->req[j].status == RCOMM_INPROGRESS) {
                busy = j;
                continue;
            }
            if (w->req[j].status != RCOMM_OK)
                return write_failed(w, j, fn);
            if (w->dirty[j]) {
                if ((st = post(w, j, fn)) != RCOMM_OK)
                    return st;
                busy = j;
            }
        }
        if (busy < 0)
            return RCOMM_OK;
        if (comm->failed)
            return comm_check(comm, fn);
        if (limit && base_now_ns() - start > limit) {
            comm_fail(comm, RCOMM_ERR_TIMEOUT);
            return base_err(RCOMM_ERR_TIMEOUT,
                            "%s: rank %d: the write to out-neighbour rank %d did not "
                            "complete within RCOMM_TIMEOUT (%.0f s)",
                            fn, comm->rank, w->out[busy], comm->cfg.timeout_s);
        }
        comm_wait_step(comm, &wt, 1);
    }
}

rcomm_status_t rcomm_gossip_win_flush(rcomm_gossip_win_t *win, void *x)
{
    static const char fn[] = "rcomm_gossip_win_flush";
    rcomm_status_t st;

    if ((st = win_valid(win, fn)) != RCOMM_OK)
        return st;
    if (!x)
        return base_err(RCOMM_ERR_INVALID_ARG, "%s: rank %d: x is NULL", fn,
                        win->comm->rank);
    if ((st = COMM_LOCKED(win->comm, drain(win, fn))) != RCOMM_OK ||
        (st = rcomm_barrier(win->comm)) != RCOMM_OK) /* every rank's writes landed */
        return st;
    comm_lock(win->comm);
    update(win, x);
    return comm_unlock(win->comm, RCOMM_OK);
}

rcomm_status_t rcomm_gossip_win_mass(const rcomm_gossip_win_t *win, double *values,
                                     double *weight)
{
    rcomm_status_t st;

    if ((st = win_valid(win, "rcomm_gossip_win_mass")) != RCOMM_OK)
        return st;
    if (values)
        memcpy(values, win->s, win->count * sizeof(double));
    if (weight)
        *weight = win->s[win->count];
    return RCOMM_OK;
}

rcomm_status_t rcomm_gossip_win_stats(const rcomm_gossip_win_t *win,
                                      rcomm_gossip_stats_t *stats)
{
    rcomm_status_t st;

    if ((st = win_valid(win, "rcomm_gossip_win_stats")) != RCOMM_OK)
        return st;
    if (!stats)
        return base_err(RCOMM_ERR_INVALID_ARG, "rcomm_gossip_win_stats: stats is NULL");
    *stats = win->stats;
    return RCOMM_OK;
}

rcomm_status_t rcomm_gossip_win_destroy(rcomm_gossip_win_t *win)
{
    static const char fn[] = "rcomm_gossip_win_destroy";
    rcomm_status_t st;

    if (!win || win->magic != HANDLE_MAGIC_GWIN)
        return base_err(RCOMM_ERR_INVALID_ARG, "%s: win is %s", fn,
                        win ? "destroyed or not a window" : "NULL");
    /* Nobody may write into our region once it is gone: our writes land,
     * then every rank's (the barrier). A failed communicator skips both. */
    rcomm_comm_t *comm = win->comm;

    st = comm_check(comm, fn);
    if (st == RCOMM_OK && (st = COMM_LOCKED(comm, drain(win, fn))) == RCOMM_OK)
        st = rcomm_barrier(comm);
    win->magic = 0;
    comm_lock(comm);
    win_release(win);
    comm_unlock(comm, RCOMM_OK);
    handle_bury(HANDLE_GWIN, win); /* a second destroy is then an error */
    return st;
}
