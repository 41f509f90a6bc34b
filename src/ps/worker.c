/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The worker side: pull, push, clock.
 *
 * Pull reads server memory under the blocks' version words, seqlock style,
 * in three dependent rounds so that it needs no ordering inside one RDMA
 * READ (the spec gives none):
 *   1. read the published clocks and the versions v1 of the blocks;
 *      wait here while the staleness bound says so;
 *   2. read the data;
 *   3. read the versions again (v2).
 * A block whose v1 was odd (a thread was writing it) or whose v2 differs
 * was overwritten while we read it: those blocks alone go back to round 1.
 * The writer makes the version odd before it writes and even after, so v1
 * even and equal to v2 means no write overlapped round 2.
 *
 * Push adds into a local accumulator and marks blocks dirty; on a push step
 * the dirty blocks go into our slot on their servers (RDMA WRITE, stamped
 * with the clock; only the keys picked, with a filter or a compressor:
 * sparse.c), and then every server's clock word for us is advanced by
 * a fetch-and-add: that is the signal its threads wait for. A slot is
 * written again only once the server has published the previous push.
 */
#include <stdlib.h>
#include <string.h>

#include "base/clock.h"
#include "base/error.h"
#include "ps/ps.h"
#include "reduce/reduce.h"

typedef struct ps_piece {
    int s;       /* server */
    size_t a, b; /* keys [a, b) of the tensor being pulled */
} ps_piece_t;

rcomm_status_t ps_worker_init(rcomm_ps_t *ps)
{
    const int S = ps->cfg.num_servers, T = ps->lay.ntensors;

    if (ps->worker < 0)
        return RCOMM_OK;
    ps->rem = calloc((size_t)S, sizeof(*ps->rem));
    ps->local = calloc((size_t)T, sizeof(*ps->local));
    ps->accum = calloc((size_t)T, sizeof(*ps->accum));
    if (!ps->rem || !ps->local || !ps->accum)
        goto nomem;
    for (int s = 0; s < S; s++) {
        ps_remote_t *r = &ps->rem[s];
        size_t nb = ps->lay.nblocks[s] ? ps->lay.nblocks[s] : 1;
        r->applied = calloc((size_t)ps->nworkers, 8);
        r->v1 = calloc(nb, 8);
        r->v2 = calloc(nb, 8);
        r->stamp = calloc(nb, 8);
        r->fetched = malloc(nb * 8);
        r->dirty = calloc(nb, 1);
        r->sent = calloc(nb, 1);
        if (!r->applied || !r->v1 || !r->v2 || !r->stamp || !r->fetched || !r->dirty ||
            !r->sent)
            goto nomem;
        memset(r->fetched, 0xff, nb * 8); /* never pulled */
    }
    for (int t = 0; t < T; t++) {
        size_t bytes = ps->lay.t[t].count * ps->lay.t[t].esize;
        if (!(ps->local[t] = calloc(1, bytes)) || !(ps->accum[t] = calloc(1, bytes)))
            goto nomem;
    }
    return ps_sparse_init(ps);
nomem:
    return base_err(RCOMM_ERR_NO_MEMORY,
                    "rcomm_ps_create: worker rank %d: no memory for the local copies",
                    ps->comm->rank);
}

void ps_worker_free(rcomm_ps_t *ps)
{
    for (int s = 0; ps->rem && s < ps->cfg.num_servers; s++) {
        ps_remote_t *r = &ps->rem[s];
        free(r->applied);
        free(r->v1);
        free(r->v2);
        free(r->stamp);
        free(r->fetched);
        free(r->dirty);
        free(r->sent);
        free(r->stage);
    }
    free(ps->pick);
    free(ps->pick_val);
    free(ps->pick_scr);
    for (int t = 0; ps->local && t < ps->lay.ntensors; t++)
        free(ps->local[t]);
    for (int t = 0; ps->accum && t < ps->lay.ntensors; t++)
        free(ps->accum[t]);
    free(ps->rem);
    free(ps->local);
    free(ps->accum);
    free(ps->pieces.v);
    free(ps->again.v);
    free(ps->ops);
}

/* ---- scratch ----------------------------------------------------------- */

static ps_op_t *op_add(rcomm_ps_t *ps, size_t *n)
{
    if (*n == ps->cap_ops) {
        size_t cap = ps->cap_ops ? 2 * ps->cap_ops : 16;
        ps_op_t *o = realloc(ps->ops, cap * sizeof(*o));
        if (!o)
            return NULL;
        ps->ops = o;
        ps->cap_ops = cap;
    }
    memset(&ps->ops[*n], 0, sizeof(ps->ops[*n]));
    return &ps->ops[(*n)++];
}

static int piece_add(ps_pieces_t *v, int s, size_t a, size_t b)
{
    if (v->n && v->v[v->n - 1].s == s && v->v[v->n - 1].b == a) {
        v->v[v->n - 1].b = b; /* coalesce */
        return 0;
    }
    if (v->n == v->cap) {
        size_t c = v->cap ? 2 * v->cap : 16;
        ps_piece_t *p = realloc(v->v, c * sizeof(*p));
        if (!p)
            return -1;
        v->v = p;
        v->cap = c;
    }
    v->v[v->n++] = (ps_piece_t){s, a, b};
    return 0;
}

static rcomm_status_t nomem(rcomm_ps_t *ps, const char *fn)
{
    return base_err(RCOMM_ERR_NO_MEMORY, "%s: rank %d: out of memory", fn,
                    ps->comm->rank);
}

/* Blocks [*b0, *b1] of server s that hold keys [a, b) of tensor t. */
static void piece_blocks(const rcomm_ps_t *ps, int t, const ps_piece_t *p, size_t *b0,
                         size_t *b1)
{
    const ps_range_t *r = ps_range(&ps->lay, p->s, t);
    const size_t blk = ps->lay.t[t].blk;

    *b0 = r->block + (p->a - r->lo) / blk;
    *b1 = r->block + (p->b - 1 - r->lo) / blk;
}

/* The piece of keys [k, end) of tensor t that k's server owns. */
static ps_piece_t piece_at(const rcomm_ps_t *ps, int t, size_t k, size_t end)
{
    const int s = ps_layout_owner(&ps->lay, t, k);
    const ps_range_t *r = ps_range(&ps->lay, s, t);

    return (ps_piece_t){s, k, r->lo + r->n < end ? r->lo + r->n : end};
}

/* ---- checks ------------------------------------------------------------ */

/* Any worker call: ps usable, and we work. */
static rcomm_status_t check_worker(rcomm_ps_t *ps, const char *fn)
{
    rcomm_status_t st;

    if ((st = ps_check_handle(ps, fn)) != RCOMM_OK)
        return st;
    if (ps->failed)
        return comm_check(ps->comm, fn);
    if (ps->worker < 0)
        return base_err(RCOMM_ERR_INVALID_ARG,
                        "%s: rank %d is a server, not a worker (cfg.servers_work is 0)",
                        fn, ps->comm->rank);
    if (ps->done_sent)
        return base_err(
            RCOMM_ERR_INVALID_ARG, "%s: rank %d: the PS is %s", fn, ps->comm->rank,
            ps->finalized ? "finished (rcomm_ps_final was called)" : "being destroyed");
    return RCOMM_OK;
}

/* Pull and push: also keys [off, off + count) of tensor, and their buffer
 * (bufname NULL: it may be NULL). */
static rcomm_status_t check_call(rcomm_ps_t *ps, const char *fn, int tensor, size_t off,
                                 size_t count, const void *buf, const char *bufname)
{
    const ps_tensor_t *t;
    rcomm_status_t st;

    if ((st = check_worker(ps, fn)) != RCOMM_OK)
        return st;
    if (tensor < 0 || tensor >= ps->lay.ntensors)
        return base_err(RCOMM_ERR_INVALID_ARG, "%s: rank %d: tensor %d is not in [0, %d)",
                        fn, ps->comm->rank, tensor, ps->lay.ntensors);
    t = &ps->lay.t[tensor];
    if (off > t->count || count > t->count - off)
        return base_err(RCOMM_ERR_INVALID_ARG,
                        "%s: rank %d: keys [%zu, %zu + %zu) are outside tensor '%s' "
                        "(%zu keys)",
                        fn, ps->comm->rank, off, off, count, t->name, t->count);
    if (count && !buf && bufname)
        return base_err(RCOMM_ERR_INVALID_ARG, "%s: rank %d: %s is NULL", fn,
                        ps->comm->rank, bufname);
    return RCOMM_OK;
}

/* ---- pull -------------------------------------------------------------- */

/* The clock every worker must have reached before a pull at our clock. */
static uint64_t required_clock(const rcomm_ps_t *ps)
{
    const uint64_t s = (uint64_t)ps->cfg.staleness, n = (uint64_t)ps->cfg.push_interval;

    if (ps->cfg.staleness < 0 || ps->clock <= s)
        return 0;
    /* A worker's clock reaches the servers at push steps only. */
    return (ps->clock - s) / n * n;
}

static uint64_t min_applied(const rcomm_ps_t *ps, int s, int *who)
{
    uint64_t m = UINT64_MAX;

    for (int w = 0; w < ps->nworkers; w++)
        if (ps->rem[s].applied[w] < m) {
            m = ps->rem[s].applied[w];
            *who = w;
        }
    return m;
}

static void add_get(ps_op_t *o, int s, void *buf, size_t len, const tp_rkey_t *key,
                    size_t off, int words)
{
    o->kind = PS_GET;
    o->server = s;
    o->buf = buf;
    o->len = len;
    o->rkey = key;
    o->raddr = ps_raddr(key, off);
    o->words = words;
}

/* One round: with clocks, the published clocks of every server involved;
 * the versions of every piece (into v1, or v2 after the data); with data,
 * each piece's data after its versions, fenced (tp_req_t.fence: the TCP
 * target serves our reads in order, the HCA starts a fenced READ once the
 * reads before it are done, our own memory is copied in order), so that it
 * is read after them, as the seqlock check needs: the versions-data-versions
 * protocol takes two rounds of posting and waiting, not three. */
static rcomm_status_t read_round(rcomm_ps_t *ps, int t, int second, int clocks, int data,
                                 const char *fn)
{
    const size_t es = ps->lay.t[t].esize;
    size_t n = 0, b0, b1;
    int last = -1;
    ps_op_t *o;

    for (size_t i = 0; i < ps->pieces.n; i++) {
        const ps_piece_t *p = &ps->pieces.v[i];
        const ps_range_t *rg = ps_range(&ps->lay, p->s, t);
        ps_remote_t *r = &ps->rem[p->s];
        if (clocks && p->s != last) {
            if (!(o = op_add(ps, &n)))
                return nomem(ps, fn);
            add_get(o, p->s, r->applied, (size_t)ps->nworkers * 8, &r->pub, 0, 1);
            last = p->s;
        }
        piece_blocks(ps, t, p, &b0, &b1);
        if (!(o = op_add(ps, &n)))
            return nomem(ps, fn);
        add_get(o, p->s, (second ? r->v2 : r->v1) + b0, (b1 - b0 + 1) * 8, &r->pub,
                ps_pub_version(ps, b0), 1);
        if (data) {
            if (!(o = op_add(ps, &n)))
                return nomem(ps, fn);
            add_get(o, p->s, ps->local[t] + p->a * es, (p->b - p->a) * es, &r->params,
                    rg->off + (p->a - rg->lo) * es, 0);
            o->req.fence = 1;
        }
    }
    return ps_rma_run(ps, ps->ops, n, fn + 9 /* "rcomm_ps_" */);
}

/* Read clocks and versions (and, on the first read when `data`, the data)
 * until every server involved has applied every worker's pushes up to
 * `need`; *got gets the smallest clock applied, *have_data whether the
 * data came with the read that showed it, ps->pull_waited whether it took
 * more than one read. */
static rcomm_status_t wait_clocks(rcomm_ps_t *ps, int t, uint64_t need, int data,
                                  uint64_t *got, int *have_data, const char *fn)
{
    const uint64_t limit = (uint64_t)base_config_timeout_ms(&ps->comm->cfg) * 1000000ull;
    uint64_t start = 0;
    comm_waiter_t waiter;
    rcomm_status_t st;

    for (;;) {
        int lag_s = -1, lag_w = 0, w = 0;
        uint64_t lag = UINT64_MAX;
        if ((st = read_round(ps, t, 0, 1, data, fn)) != RCOMM_OK)
            return st;
        for (size_t i = 0; i < ps->pieces.n; i++) {
            uint64_t m = min_applied(ps, ps->pieces.v[i].s, &w);
            if (m < lag) {
                lag = m;
                lag_s = ps->pieces.v[i].s;
                lag_w = w;
            }
        }
        if (lag >= need || lag_s < 0) {
            *got = lag_s < 0 ? need : lag;
            *have_data = data;
            ps->pull_waited = start != 0;
            return RCOMM_OK;
        }
        data = 0; /* not the data of the clock we wait for: poll without it */
        if (!start) {
            start = base_now_ns();
            comm_waiter_start(ps->comm, &waiter);
            waiter.follow = false; /* our own polls are the traffic */
            ps->stats.waits++;
        } else if (limit && base_now_ns() - start > limit) {
            return ps_fail(ps, base_err(RCOMM_ERR_TIMEOUT,
                                        "%s: rank %d at clock %llu waited RCOMM_TIMEOUT "
                                        "(%.0f s) for worker rank %d: server rank %d has "
                                        "its updates up to clock %llu, staleness %d "
                                        "needs %llu",
                                        fn, ps->comm->rank, (unsigned long long)ps->clock,
                                        ps->comm->cfg.timeout_s, ps->worker_rank[lag_w],
                                        lag_s, (unsigned long long)lag, ps->cfg.staleness,
                                        (unsigned long long)need));
        }
        /* Re-read after each step: the state we wait for is remote memory,
         * whose change no local event announces. */
        comm_wait_step(ps->comm, &waiter, 1);
    }
}

/* The pieces' versions (v1) and data have been read: read the versions
 * again (v2), and the blocks that changed in between again, versions and
 * data in one round, until none did. */
static rcomm_status_t read_consistent(rcomm_ps_t *ps, int t, const char *fn)
{
    const size_t blk = ps->lay.t[t].blk;
    rcomm_status_t st;
    size_t b0, b1;

    for (;;) {
        if ((st = read_round(ps, t, 1, 0, 0, fn)) != RCOMM_OK)
            return st;
        ps->again.n = 0;
        for (size_t i = 0; i < ps->pieces.n; i++) {
            const ps_piece_t *p = &ps->pieces.v[i];
            const ps_range_t *r = ps_range(&ps->lay, p->s, t);
            const ps_remote_t *rm = &ps->rem[p->s];
            piece_blocks(ps, t, p, &b0, &b1);
            for (size_t b = b0; b <= b1; b++) {
                /* This block's keys within the piece. */
                size_t a = r->lo + (b - r->block) * blk, e = a + blk;
                if (!(rm->v1[b] & 1) && rm->v1[b] == rm->v2[b])
                    continue;
                if (piece_add(&ps->again, p->s, a > p->a ? a : p->a, e < p->b ? e : p->b))
                    return nomem(ps, fn);
                ps->stats.retries++;
            }
        }
        if (!ps->again.n)
            return RCOMM_OK;
        {
            ps_pieces_t tmp = ps->pieces;
            ps->pieces = ps->again;
            ps->again = tmp;
        }
        if ((st = read_round(ps, t, 0, 0, 1, fn)) != RCOMM_OK)
            return st;
    }
}

/* Every key of [off, off + count) has been pulled; the oldest clock among
 * their blocks, or UINT64_MAX if one was never pulled. */
static uint64_t local_clock(const rcomm_ps_t *ps, int t, size_t off, size_t count)
{
    uint64_t c = UINT64_MAX - 1;
    size_t k = off, b0, b1;

    while (k < off + count) {
        const ps_piece_t p = piece_at(ps, t, k, off + count);
        const int s = p.s;
        piece_blocks(ps, t, &p, &b0, &b1);
        for (size_t b = b0; b <= b1; b++)
            if (ps->rem[s].fetched[b] < c)
                c = ps->rem[s].fetched[b];
            else if (ps->rem[s].fetched[b] == UINT64_MAX)
                return UINT64_MAX;
        k = p.b;
    }
    return c;
}

/* fresh: read the servers even between pull steps. */
static rcomm_status_t ps_pull_locked(rcomm_ps_t *ps, int tensor, size_t offset,
                                     size_t count, void *dst, uint64_t *clock, bool fresh)
{
    const char *fn = fresh ? "rcomm_ps_pull_fresh" : "rcomm_ps_pull";
    rcomm_status_t st;
    uint64_t got = 0, cached;
    size_t es, k, b0, b1;
    int have_data = 0;

    if ((st = check_call(ps, fn, tensor, offset, count, dst, NULL)) != RCOMM_OK)
        return st;
    es = ps->lay.t[tensor].esize;
    if (!count) {
        if (clock)
            *clock = ps->clock;
        return RCOMM_OK;
    }
    cached = local_clock(ps, tensor, offset, count);
    if (!fresh && ps->clock % (uint64_t)ps->cfg.pull_interval != 0 &&
        cached != UINT64_MAX) {
        ps->stats.local_pulls++;
        got = cached;
        goto copy;
    }
    ps->pieces.n = 0;
    for (k = offset; k < offset + count;) {
        const ps_piece_t p = piece_at(ps, tensor, k, offset + count);
        if (piece_add(&ps->pieces, p.s, p.a, p.b))
            return nomem(ps, fn);
        k = p.b;
    }
    /* The data comes with the clocks unless we expect to wait for them (the
     * last pull did): then a read of it would be of an older clock. */
    if ((st = wait_clocks(ps, tensor, required_clock(ps), !ps->pull_waited, &got,
                          &have_data, fn)) != RCOMM_OK)
        return st;
    if (!have_data && (st = read_round(ps, tensor, 0, 0, 1, fn)) != RCOMM_OK)
        return st;
    /* The pieces are rewritten by retries: remember the blocks first. */
    for (size_t i = 0; i < ps->pieces.n; i++) {
        piece_blocks(ps, tensor, &ps->pieces.v[i], &b0, &b1);
        for (size_t b = b0; b <= b1; b++)
            ps->rem[ps->pieces.v[i].s].fetched[b] = got;
    }
    if ((st = read_consistent(ps, tensor, fn)) != RCOMM_OK)
        return st;
    ps->stats.pulls++;
    ps->stats.bytes_pulled += count * es;
copy:
    if (dst)
        memcpy(dst, ps->local[tensor] + offset * es, count * es);
    if (clock)
        *clock = got;
    return RCOMM_OK;
}

rcomm_status_t rcomm_ps_pull(rcomm_ps_t *ps, int tensor, size_t offset, size_t count,
                             void *dst, uint64_t *clock)
{
    rcomm_comm_t *comm = ps_lock_comm(ps);

    return COMM_LOCKED(comm,
                       ps_pull_locked(ps, tensor, offset, count, dst, clock, false));
}

rcomm_status_t rcomm_ps_pull_fresh(rcomm_ps_t *ps, int tensor, size_t offset,
                                   size_t count, void *dst, uint64_t *clock)
{
    rcomm_comm_t *comm = ps_lock_comm(ps);

    return COMM_LOCKED(comm, ps_pull_locked(ps, tensor, offset, count, dst, clock, true));
}

/* ---- push -------------------------------------------------------------- */

static rcomm_status_t ps_push_locked(rcomm_ps_t *ps, int tensor, size_t offset,
                                     size_t count, const void *grad)
{
    static const char fn[] = "rcomm_ps_push";
    const ps_tensor_t *tn;
    rcomm_status_t st;
    size_t k, b0, b1;
    char *acc;

    if ((st = check_call(ps, fn, tensor, offset, count, grad, "grad")) != RCOMM_OK)
        return st;
    tn = &ps->lay.t[tensor];
    acc = ps->accum[tensor] + offset * tn->esize;
    reduce_apply(acc, acc, grad, count, tn->dtype, RCOMM_SUM);
    for (k = offset; k < offset + count;) {
        const ps_piece_t p = piece_at(ps, tensor, k, offset + count);
        piece_blocks(ps, tensor, &p, &b0, &b1);
        memset(ps->rem[p.s].dirty + b0, 1, b1 - b0 + 1);
        k = p.b;
    }
    return RCOMM_OK;
}

rcomm_status_t rcomm_ps_push(rcomm_ps_t *ps, int tensor, size_t offset, size_t count,
                             const void *grad)
{
    rcomm_comm_t *comm = ps_lock_comm(ps);

    return COMM_LOCKED(comm, ps_push_locked(ps, tensor, offset, count, grad));
}

/* Until every server has published our previous push, our slots are busy. */
static rcomm_status_t wait_slots(rcomm_ps_t *ps, const char *fn)
{
    const uint64_t limit = (uint64_t)base_config_timeout_ms(&ps->comm->cfg) * 1000000ull;
    uint64_t start = 0;
    comm_waiter_t waiter;
    rcomm_status_t st;

    for (;;) {
        size_t n = 0;
        int busy = -1;
        for (int s = 0; s < ps->cfg.num_servers; s++) {
            ps_remote_t *r = &ps->rem[s];
            ps_op_t *o;
            if (r->applied[ps->worker] >= ps->pushed)
                continue; /* as last read, by a pull or by this loop */
            if (!(o = op_add(ps, &n)))
                return nomem(ps, fn);
            add_get(o, s, &r->applied[ps->worker], 8, &r->pub, (size_t)ps->worker * 8, 1);
        }
        if (!n)
            return RCOMM_OK;
        if ((st = ps_rma_run(ps, ps->ops, n, "clock")) != RCOMM_OK)
            return st;
        for (int s = 0; s < ps->cfg.num_servers && busy < 0; s++)
            if (ps->rem[s].applied[ps->worker] < ps->pushed)
                busy = s;
        if (busy < 0)
            return RCOMM_OK;
        if (!start) {
            start = base_now_ns();
            comm_waiter_start(ps->comm, &waiter);
            waiter.follow = false; /* our own polls are the traffic */
            ps->stats.waits++;
        } else if (limit && base_now_ns() - start > limit) {
            return ps_fail(
                ps, base_err(RCOMM_ERR_TIMEOUT,
                             "%s: rank %d: server rank %d has not applied our push of "
                             "clock %llu within RCOMM_TIMEOUT (%.0f s)%s",
                             fn, ps->comm->rank, busy, (unsigned long long)ps->pushed,
                             ps->comm->cfg.timeout_s,
                             ps->cfg.staleness == 0
                                 ? "; under BSP it waits for every worker's push"
                                 : ""));
        }
        /* Re-read after each step: the state we wait for is remote memory,
         * whose change no local event announces. */
        comm_wait_step(ps->comm, &waiter, 1);
    }
}

/* Write the dirty blocks of tensor t on server s into our slot there: runs
 * of whole blocks, or with picked keys (sparse.c) each block that has some,
 * as an image when that is smaller. A block with none stays dirty. */
static rcomm_status_t put_dirty(rcomm_ps_t *ps, int s, int t, size_t *n, uint64_t *bytes)
{
    const ps_range_t *r = ps_range(&ps->lay, s, t);
    const ps_tensor_t *tn = &ps->lay.t[t];
    ps_remote_t *rm = &ps->rem[s];
    const size_t nb = (r->n + tn->blk - 1) / tn->blk;
    const int picks = ps_picks(ps, t), encodes = ps_encodes(ps, t);
    const size_t m = picks ? ps_pick(ps, s, t) : 0;
    size_t k = 0; /* the next picked key */
    ps_op_t *o;

    for (size_t i = 0; i < nb;) {
        size_t b0 = r->block + i, j = i + 1, first = i * tn->blk, last, img = 0, a;
        if (!rm->dirty[b0]) {
            i++;
            continue;
        }
        if (picks) {
            const size_t end = first + tn->blk;
            while (k < m && ps->pick[k] < first)
                k++;
            for (a = k; k < m && ps->pick[k] < end;)
                k++;
            if (a == k) { /* nothing picked: it waits */
                i++;
                continue;
            }
            img = ps_sparse_image(ps, s, t, i, ps->pick + a, k - a);
            rm->stamp[b0] = PS_STAMP(ps->clock, img ? k - a : 0);
            rm->sent[b0] = img ? PS_SENT_SPARSE : PS_SENT_DENSE;
            ps->stats.keys_pushed += img ? k - a : 0;
        } else if (encodes) {
            img = ps_encoded_image(ps, s, t, i);
            rm->stamp[b0] = PS_STAMP(ps->clock, 0) | (img ? PS_STAMP_ENCODED : 0);
            rm->sent[b0] = img ? PS_SENT_ENCODED : PS_SENT_DENSE;
        } else {
            while (j < nb && rm->dirty[r->block + j])
                j++;
            for (size_t b = b0; b < r->block + j; b++) {
                rm->stamp[b] = PS_STAMP(ps->clock, 0);
                rm->sent[b] = PS_SENT_DENSE;
            }
        }
        last = j * tn->blk < r->n ? j * tn->blk : r->n;
        if (!(o = op_add(ps, n)))
            return nomem(ps, "rcomm_ps_clock");
        *o = (ps_op_t){.kind = PS_PUT,
                       .server = s,
                       .buf = img ? rm->stage + r->off + first * tn->esize
                                  : ps->accum[t] + (r->lo + first) * tn->esize,
                       .len = img ? img : (last - first) * tn->esize,
                       .rkey = &rm->slot,
                       .raddr = ps_raddr(&rm->slot, r->off + first * tn->esize)};
        *bytes += o->len;
        if (!(o = op_add(ps, n)))
            return nomem(ps, "rcomm_ps_clock");
        *o = (ps_op_t){.kind = PS_PUT,
                       .server = s,
                       .buf = rm->stamp + b0,
                       .len = (j - i) * 8,
                       .rkey = &rm->slot,
                       .raddr = ps_raddr(&rm->slot, ps_slot_stamp(ps, s, b0))};
        i = j;
    }
    return RCOMM_OK;
}

/* After a push: blocks sent whole are zeroed; a block sent sparse (its keys
 * zeroed already) or encoded (what it lost kept) stays dirty while it holds
 * gradient, which is dropped instead when the compressor keeps no error
 * feedback. */
static void settle(rcomm_ps_t *ps, int s, int t)
{
    const ps_range_t *r = ps_range(&ps->lay, s, t);
    const ps_tensor_t *tn = &ps->lay.t[t];
    ps_remote_t *rm = &ps->rem[s];
    const int drop = ps_drops(ps, t);

    for (size_t i = 0; i * tn->blk < r->n; i++) {
        const size_t b = r->block + i, first = i * tn->blk;
        const size_t len = (r->n - first < tn->blk ? r->n - first : tn->blk) * tn->esize;
        char *acc = ps->accum[t] + (r->lo + first) * tn->esize;
        if (rm->sent[b] == PS_SENT_DENSE || (rm->sent[b] != PS_SENT_NONE && drop)) {
            memset(acc, 0, len);
            rm->dirty[b] = 0;
        } else if (rm->sent[b] != PS_SENT_NONE) { /* sparse, or encoded */
            size_t z = 0;
            while (z < len && !acc[z])
                z++;
            rm->dirty[b] = z < len;
        }
        rm->sent[b] = PS_SENT_NONE;
    }
}

static rcomm_status_t flush(rcomm_ps_t *ps)
{
    static const char fn[] = "rcomm_ps_clock";
    uint64_t bytes = 0;
    size_t n = 0;
    rcomm_status_t st;
    ps_op_t *o;

    if ((st = wait_slots(ps, fn)) != RCOMM_OK)
        return st;
    for (int s = 0; s < ps->cfg.num_servers; s++)
        for (int t = 0; t < ps->lay.ntensors; t++)
            if ((st = put_dirty(ps, s, t, &n, &bytes)) != RCOMM_OK)
                return st;
    if ((st = ps_rma_run(ps, ps->ops, n, "clock")) != RCOMM_OK)
        return st;
    /* Only now, with every gradient in place, tell the servers. */
    n = 0;
    for (int s = 0; s < ps->cfg.num_servers; s++) {
        if (!(o = op_add(ps, &n)))
            return nomem(ps, fn);
        *o = (ps_op_t){.kind = PS_FADD,
                       .server = s,
                       .len = 8,
                       .rkey = &ps->rem[s].clk,
                       .raddr = ps_raddr(&ps->rem[s].clk, (size_t)ps->worker * 8),
                       .add = ps->clock - ps->pushed};
    }
    if ((st = ps_rma_run(ps, ps->ops, n, "clock")) != RCOMM_OK)
        return st;
    for (int s = 0; s < ps->cfg.num_servers; s++)
        for (int t = 0; t < ps->lay.ntensors; t++)
            settle(ps, s, t);
    ps->pushed = ps->clock;
    ps->stats.pushes++;
    ps->stats.bytes_pushed += bytes;
    return RCOMM_OK;
}

static rcomm_status_t ps_clock_locked(rcomm_ps_t *ps)
{
    rcomm_status_t st;

    if ((st = check_worker(ps, "rcomm_ps_clock")) != RCOMM_OK)
        return st;
    ps->clock++;
    if (ps->clock % (uint64_t)ps->cfg.push_interval != 0)
        return RCOMM_OK;
    return flush(ps);
}

rcomm_status_t rcomm_ps_clock(rcomm_ps_t *ps)
{
    rcomm_comm_t *comm = ps_lock_comm(ps);

    return COMM_LOCKED(comm, ps_clock_locked(ps));
}

rcomm_status_t ps_worker_finish(rcomm_ps_t *ps)
{
    size_t n = 0;
    ps_op_t *o;

    ps->done_sent = 1;
    for (int s = 0; s < ps->cfg.num_servers; s++) {
        if (s == ps->comm->rank)
            continue;
        if (!(o = op_add(ps, &n)))
            return nomem(ps, "rcomm_ps_destroy");
        *o = (ps_op_t){.kind = PS_SEND, .server = s, .add = PS_MSG_DONE};
    }
    return ps_rma_run(ps, ps->ops, n, "destroy");
}
