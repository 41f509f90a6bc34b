/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Fetch: the bound on re-reads. A pull reads a block one-sided, and once
 * more if a server thread wrote it meanwhile (pull.c); if that second read
 * is torn too, it asks the server for the block's keys with a message
 * instead of trying again. Under continuous updates a one-sided reader can
 * lose every race; the server cannot: its progress hook holds the block
 * (the thread that owns it waits before its next write of it), lets a
 * write in progress finish, copies the keys and sends them back. So a
 * block is read at most twice one-sided, then fetched once.
 *
 * The hold. A thread begins a write of block b by making its version odd,
 * then looks at hold; if hold is b, it puts the version back, writes
 * nothing and waits. The hook sets hold to b, then reads b's version. All
 * four accesses are sequentially consistent: of a thread's odd store and
 * the hook's store to hold, each then reads the other's location, so at
 * least one sees the other's store: either the thread backs off or the
 * hook sees the write in progress; every later write of b backs off. The
 * hook does not wait long for that write: after a short spin it keeps the
 * hold and comes back at its next progress (a slow update rule must not
 * stop a TCP server from answering reads), and copies once the version is
 * even. One request is served at a time, in
 * the order they arrived per worker, workers in turn; the hook alone sets
 * hold (under the communicator's lock). A worker whose own rank serves
 * queues its request there too, and progresses until it is served.
 *
 * Requests are untrusted: a worker's request must name keys of one of our
 * ranges, or the worker is failed (PROTOCOL); each worker has one receive
 * posted, reposted once fewer than FETCH_OUT_MAX replies to it are in
 * flight, so a worker that never takes its replies costs a bounded amount
 * of memory.
 */
#include <sched.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "ps/ps.h"

#define FETCH_OUT_MAX 16 /* replies in flight to one worker */
/* ps_server_t.fetch_st: nothing posted; a receive posted; a request arrived
 * and waits its turn; the worker failed (its done receive says so). */
enum { FETCH_IDLE, FETCH_POSTED, FETCH_READY, FETCH_GONE };

static uint32_t fetch_tag(uint32_t id)
{
    return PS_MSG_BLOCK | id << 4;
}

/* ---- the server's side ------------------------------------------------- */

struct ps_reply {
    ps_op_t op;
    int w;
    struct ps_reply *next;
    char data[];
};

uint64_t ps_server_begin_write(rcomm_ps_t *ps, int t, size_t i)
{
    ps_server_t *sv = &ps->srv;
    const size_t b = ps_range(&ps->lay, ps->comm->rank, t)->block + i;
    uint64_t *version = &ps_server_hdr(ps, t, i)->version;

    for (;;) {
        const uint64_t v = __atomic_load_n(version, __ATOMIC_RELAXED);
        /* Both sequentially consistent: the store is seen before the load,
         * and the data written after. */
        __atomic_store_n(version, v + 1, __ATOMIC_SEQ_CST);
        if (__atomic_load_n(&sv->hold, __ATOMIC_SEQ_CST) != b + 1)
            return v;
        __atomic_store_n(version, v, __ATOMIC_RELEASE); /* nothing written */
        while (__atomic_load_n(&sv->hold, __ATOMIC_ACQUIRE) == b + 1)
            sched_yield(); /* until the progress has copied b: rare */
    }
}

void ps_server_end_write(rcomm_ps_t *ps, int t, size_t i, uint64_t v, uint64_t clock)
{
    ps_block_hdr_t *h = ps_server_hdr(ps, t, i);
    const size_t bytes =
        ps_block_keys(&ps->lay, ps->comm->rank, t, i) * ps->lay.t[t].esize;

    __atomic_store_n(&h->clock, clock, __ATOMIC_RELAXED);
    __atomic_store_n(&h->sum, ps_block_sum(v + 2, clock, ps_server_data(ps, t, i), bytes),
                     __ATOMIC_RELAXED);
    __atomic_store_n(&h->version, v + 2, __ATOMIC_RELEASE);
}

/* Copy the current request's next block, if no write of it is in progress:
 * returns whether the request is complete. */
static int copy_some(rcomm_ps_t *ps)
{
    ps_server_t *sv = &ps->srv;
    ps_fetch_job_t *j = &sv->job;
    const ps_range_t *r = ps_range(&ps->lay, ps->comm->rank, j->t);
    const ps_tensor_t *tn = &ps->lay.t[j->t];
    while (j->k < j->b) {
        const size_t blk = r->block + (j->k - r->lo) / tn->blk;
        size_t e = r->lo + (blk - r->block + 1) * tn->blk;
        e = e < j->b ? e : j->b;
        int spin = 0;
        __atomic_store_n(&sv->hold, blk + 1, __ATOMIC_SEQ_CST);
        /* A write that began before the hold: it usually ends within
         * microseconds; if not, come back at the next progress. */
        while (__atomic_load_n(&ps_server_hdr(ps, j->t, blk - r->block)->version,
                               __ATOMIC_SEQ_CST) &
               1)
            if (++spin == 1000)
                return 0;
        memcpy(j->dst + (j->k - j->a) * tn->esize,
               ps_server_data(ps, j->t, blk - r->block) +
                   (j->k - r->lo) % tn->blk * tn->esize,
               (e - j->k) * tn->esize);
        __atomic_store_n(&sv->hold, 0, __ATOMIC_RELEASE);
        j->k = e;
    }
    return 1;
}

int ps_fetch_valid(const ps_layout_t *l, int s, const ps_fetch_msg_t *m, size_t len)
{
    const ps_range_t *r;

    if (len != sizeof(*m) || m->t >= (uint32_t)l->ntensors || m->id >= PS_FETCH_ID_MAX)
        return 0;
    r = ps_range(l, s, (int)m->t);
    return m->a >= r->lo && m->a < m->b && m->b <= r->lo + r->n;
}

/* Worker w's request arrived: check it and make it the current job. */
static int start(rcomm_ps_t *ps, int w)
{
    ps_server_t *sv = &ps->srv;
    const ps_fetch_msg_t *m = (const ps_fetch_msg_t *)(void *)sv->fetch_buf[w];
    struct ps_reply *rep;
    size_t bytes;

    if (!ps_fetch_valid(&ps->lay, ps->comm->rank, m, sv->fetch_in[w].req.len)) {
        ps_fail(ps,
                base_err(RCOMM_ERR_PROTOCOL,
                         "rcomm_ps: server rank %d: worker rank %d sent a block "
                         "request that names no keys of ours (%zu bytes)",
                         ps->comm->rank, ps->worker_rank[w], sv->fetch_in[w].req.len));
        return 0;
    }
    bytes = (size_t)(m->b - m->a) * ps->lay.t[m->t].esize;
    if (!(rep = malloc(sizeof(*rep) + bytes))) {
        ps_fail(ps, base_err(RCOMM_ERR_NO_MEMORY,
                             "rcomm_ps: server rank %d: no memory for %zu bytes of "
                             "blocks for worker rank %d",
                             ps->comm->rank, bytes, ps->worker_rank[w]));
        return 0;
    }
    rep->op = (ps_op_t){.kind = PS_SEND,
                        .server = ps->worker_rank[w],
                        .buf = rep->data,
                        .len = bytes,
                        .add = fetch_tag(m->id)};
    rep->w = w;
    sv->job = (ps_fetch_job_t){.w = w,
                               .t = (int)m->t,
                               .a = (size_t)m->a,
                               .b = (size_t)m->b,
                               .k = (size_t)m->a,
                               .dst = rep->data,
                               .rep = rep};
    return 1;
}

/* The current job is copied: send its reply (or, ours, say so). */
static void finish_job(rcomm_ps_t *ps)
{
    ps_server_t *sv = &ps->srv;
    struct ps_reply *rep = sv->job.rep;

    sv->job.w = -1;
    if (!rep) {
        sv->self_done = 1;
        return;
    }
    rep->next = sv->replies;
    sv->replies = rep;
    sv->fetch_out[rep->w]++;
    sv->fetch_st[rep->w] = FETCH_IDLE;
    ps_post(ps, &rep->op, "serve"); /* an error fails ps, naming the worker */
}

/* Free the replies whose sends completed. */
static void reap(rcomm_ps_t *ps)
{
    ps_server_t *sv = &ps->srv;

    for (struct ps_reply **p = &sv->replies; *p;) {
        struct ps_reply *rep = *p;
        if (rep->op.req.status == RCOMM_INPROGRESS) {
            p = &rep->next;
            continue;
        }
        sv->fetch_out[rep->w]--;
        *p = rep->next;
        free(rep);
    }
}

void ps_fetch_serve(rcomm_ps_t *ps)
{
    ps_server_t *sv = &ps->srv;
    const int W = ps->nworkers;

    reap(ps);
    for (int w = 0; w < W; w++)
        if (sv->fetch_st[w] == FETCH_POSTED &&
            sv->fetch_in[w].req.status != RCOMM_INPROGRESS)
            sv->fetch_st[w] =
                sv->fetch_in[w].req.status == RCOMM_OK ? FETCH_READY : FETCH_GONE;
    while (!ps->failed) {
        if (sv->job.w < 0) { /* the next request, workers in turn */
            int w = -1;
            for (int i = 1; i <= W && w < 0; i++)
                if (sv->fetch_st[(sv->turn + i) % W] == FETCH_READY)
                    w = (sv->turn + i) % W;
            if (w < 0)
                break;
            sv->turn = w;
            if (!start(ps, w))
                return;
        }
        if (!copy_some(ps))
            break;
        finish_job(ps);
    }
    for (int w = 0; w < W && !ps->failed; w++) {
        ps_op_t *in = &sv->fetch_in[w];
        if (ps->worker_rank[w] == ps->comm->rank || sv->fetch_st[w] != FETCH_IDLE ||
            sv->fetch_out[w] >= FETCH_OUT_MAX)
            continue;
        *in = (ps_op_t){.kind = PS_RECV,
                        .server = ps->worker_rank[w],
                        .buf = sv->fetch_buf[w],
                        .len = sizeof(ps_fetch_msg_t),
                        .add = PS_MSG_FETCH};
        if (ps_post(ps, in, "serve") == RCOMM_OK)
            sv->fetch_st[w] = FETCH_POSTED;
    }
}

/* Our own worker's request: queued as the current job when none is, served
 * by our progress (the hook runs in every wait step). */
static rcomm_status_t fetch_own(rcomm_ps_t *ps, int t, size_t a, size_t b, char *dst,
                                const char *fn)
{
    ps_server_t *sv = &ps->srv;
    ps_wait_t wait = {0};
    int queued = 0;

    sv->self_done = 0;
    while (!sv->self_done) {
        if (!queued && sv->job.w < 0) {
            sv->job = (ps_fetch_job_t){
                .w = ps->worker, .t = t, .a = a, .b = b, .k = a, .dst = dst};
            queued = 1;
        }
        if (ps_wait_step(ps, &wait))
            return ps_fail(ps, base_err(RCOMM_ERR_TIMEOUT,
                                        "%s: rank %d: a block of its own server stayed "
                                        "in an update for RCOMM_TIMEOUT (%.0f s)",
                                        fn, ps->comm->rank, ps->comm->cfg.timeout_s));
        if (ps->failed || ps->comm->failed)
            return comm_check(ps->comm, fn);
    }
    return RCOMM_OK;
}

void ps_fetch_cancel(rcomm_ps_t *ps)
{
    ps_server_t *sv = &ps->srv;
    tp_t *tp = ps->comm->tp;

    for (int w = 0; sv->fetch_st && w < ps->nworkers; w++)
        if (sv->fetch_st[w] == FETCH_POSTED &&
            sv->fetch_in[w].req.status == RCOMM_INPROGRESS && tp &&
            tp->ops->cancel(tp, &sv->fetch_in[w].req) == RCOMM_OK)
            sv->fetch_st[w] = FETCH_GONE; /* never completes */
}

int ps_fetch_busy(const rcomm_ps_t *ps)
{
    const ps_server_t *sv = &ps->srv;

    for (int w = 0; sv->fetch_st && w < ps->nworkers; w++)
        if (sv->fetch_st[w] == FETCH_POSTED &&
            sv->fetch_in[w].req.status == RCOMM_INPROGRESS)
            return 1;
    for (const struct ps_reply *r = sv->replies; r; r = r->next)
        if (r->op.req.status == RCOMM_INPROGRESS)
            return 1;
    return 0;
}

void ps_fetch_release(rcomm_ps_t *ps)
{
    ps_server_t *sv = &ps->srv;

    if (sv->job.w >= 0 && sv->job.rep)
        free(sv->job.rep); /* copied partly, never sent */
    sv->job.w = -1;
    __atomic_store_n(&sv->hold, 0, __ATOMIC_RELEASE);
    while (sv->replies) { /* whatever is left, the transport has dropped */
        struct ps_reply *rep = sv->replies;
        sv->replies = rep->next;
        free(rep);
    }
}

/* ---- the worker's side ------------------------------------------------- */

/* Room in ps->inbox for the keys of v, piece after piece, as the servers
 * send them: without the blocks' headers. */
static int inbox_room(rcomm_ps_t *ps, const ps_pieces_t *v)
{
    size_t n = 0;
    char *p;

    for (size_t i = 0; i < v->n; i++)
        n += (v->v[i].b - v->v[i].a) * ps->lay.t[v->v[i].t].esize;
    if (n <= ps->cap_inbox)
        return 0;
    if (!(p = realloc(ps->inbox, n)))
        return -1;
    ps->inbox = p;
    ps->cap_inbox = n;
    return 0;
}

rcomm_status_t ps_fetch(rcomm_ps_t *ps, const ps_pieces_t *v, const char *fn)
{
    size_t n = 0, b0, b1, in = 0;
    rcomm_status_t st;
    ps_fetch_msg_t *msg;
    ps_op_t *o;

    if (v->n > PS_FETCH_ID_MAX)
        return ps_nomem(ps, fn); /* more pieces than ids: never with real layouts */
    if (v->n > ps->cap_fetch) {
        if (!(msg = realloc(ps->fetch_msg, v->n * sizeof(*msg))))
            return ps_nomem(ps, fn);
        ps->fetch_msg = msg;
        ps->cap_fetch = v->n;
    }
    if (inbox_room(ps, v))
        return ps_nomem(ps, fn);
    msg = ps->fetch_msg;
    for (size_t i = 0; i < v->n; i++) {
        const ps_piece_t *p = &v->v[i];
        const size_t es = ps->lay.t[p->t].esize;
        char *dst = ps->inbox + in;
        in += (p->b - p->a) * es;
        ps_piece_blocks(ps, p, &b0, &b1);
        ps->stats.fetched += b1 - b0 + 1;
        if (p->s == ps->comm->rank) {
            if ((st = fetch_own(ps, p->t, p->a, p->b, dst, fn)) != RCOMM_OK)
                return st;
            continue;
        }
        msg[i] = (ps_fetch_msg_t){(uint32_t)p->t, (uint32_t)i, p->a, p->b};
        if (!(o = ps_op_add(ps, &n)))
            return ps_nomem(ps, fn);
        *o = (ps_op_t){.kind = PS_RECV,
                       .server = p->s,
                       .buf = dst,
                       .len = (p->b - p->a) * es,
                       .add = fetch_tag((uint32_t)i)};
        if (!(o = ps_op_add(ps, &n)))
            return ps_nomem(ps, fn);
        *o = (ps_op_t){.kind = PS_SEND,
                       .server = p->s,
                       .buf = &msg[i],
                       .len = sizeof(msg[i]),
                       .add = PS_MSG_FETCH};
    }
    if ((st = ps_rma_run(ps, ps->ops, n, fn + 9)) != RCOMM_OK)
        return st;
    for (size_t i = 0; i < n; i++)
        if (ps->ops[i].kind == PS_RECV && ps->ops[i].req.len != ps->ops[i].len)
            return ps_fail(ps, base_err(RCOMM_ERR_PROTOCOL,
                                        "%s: rank %d: server rank %d answered a block "
                                        "request with %zu bytes, not %zu",
                                        fn, ps->comm->rank, ps->ops[i].server,
                                        ps->ops[i].req.len, ps->ops[i].len));
    in = 0;
    for (size_t i = 0; i < v->n; i++) { /* into our copy's records */
        const ps_piece_t *p = &v->v[i];
        ps_rec_copy(&ps->lay, p->s, p->t, p->a, p->b, ps->rem[p->s].local, ps->inbox + in,
                    0);
        in += (v->v[i].b - v->v[i].a) * ps->lay.t[v->v[i].t].esize;
    }
    return RCOMM_OK;
}
