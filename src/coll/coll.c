/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Public collective calls: validate, build a schedule, run it. A blocking
 * call is a nonblocking one followed by rcomm_wait(). Waiting busy-polls for
 * RCOMM_SPIN_US (waking a sleeping thread costs tens of microseconds) and then
 * sleeps in the transport; a schedule that makes no progress for RCOMM_TIMEOUT
 * fails naming the peers it waits for. A request carries its failure's
 * message, which rcomm_test/rcomm_wait make the caller's last error.
 */
#include "coll/coll.h"
#include "coll/colls.h"
#include "hooks/hooks.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/clock.h"
#include "base/error.h"

struct rcomm_request {
    coll_sched_t sched;
};

typedef struct {
    const char *fn; /* public function name, for messages */
    coll_desc_t desc;
    const char *sbuf;
    char *rbuf;
    rcomm_algo_t algo;
    int peer; /* exchange: the partner, -1 to only take part in the numbering */
} coll_call_t;

/* ---- validation ---------------------------------------------------------- */

static int overlap(const char *a, size_t alen, const char *b, size_t blen)
{
    return alen && blen && a < b + blen && b < a + alen;
}

static rcomm_status_t check_common(rcomm_comm_t *comm, const coll_call_t *c, int has_op)
{
    rcomm_status_t st;

    if ((st = comm_check(comm, c->fn)) != RCOMM_OK)
        return st;
    if ((unsigned)c->desc.dtype >= RCOMM_DTYPE_COUNT)
        return base_err(RCOMM_ERR_INVALID_ARG,
                        "%s: rank %d: dtype %d is not a valid rcomm_dtype_t", c->fn,
                        comm->rank, (int)c->desc.dtype);
    if (has_op && (unsigned)c->desc.op >= RCOMM_OP_COUNT)
        return base_err(RCOMM_ERR_INVALID_ARG,
                        "%s: rank %d: op %d is not a valid rcomm_op_t", c->fn, comm->rank,
                        (int)c->desc.op);
    if (c->desc.count > SIZE_MAX / 8 / (size_t)comm->size)
        return base_err(RCOMM_ERR_INVALID_ARG, "%s: rank %d: count %zu is too large",
                        c->fn, comm->rank, c->desc.count);
    return RCOMM_OK;
}

static rcomm_status_t check_buf(const rcomm_comm_t *comm, const coll_call_t *c,
                                const void *buf, const char *what)
{
    if (c->desc.count > 0 && !buf)
        return base_err(RCOMM_ERR_INVALID_ARG, "%s: rank %d: %s is NULL with count %zu",
                        c->fn, comm->rank, what, c->desc.count);
    return RCOMM_OK;
}

static rcomm_status_t check_overlap(const rcomm_comm_t *comm, const coll_call_t *c,
                                    size_t sbytes, size_t rbytes)
{
    if (c->sbuf != c->rbuf && overlap(c->sbuf, sbytes, c->rbuf, rbytes))
        return base_err(RCOMM_ERR_INVALID_ARG,
                        "%s: rank %d: sendbuf and recvbuf overlap without being equal "
                        "(use RCOMM_IN_PLACE for in-place operation)",
                        c->fn, comm->rank);
    return RCOMM_OK;
}

/* ---- running ------------------------------------------------------------- */

static const char *sched_name(coll_kind_t kind, rcomm_algo_t algo)
{
    switch (kind) {
    case COLL_ALLREDUCE:
        return algo == RCOMM_ALGO_RING        ? "allreduce (ring)"
               : algo == RCOMM_ALGO_BUTTERFLY ? "allreduce (butterfly)"
                                              : "allreduce (rd)";
    case COLL_BROADCAST: return "broadcast";
    case COLL_ALLGATHER: return "allgather";
    case COLL_REDUCE_SCATTER: return "reduce_scatter";
    case COLL_BARRIER: return "barrier";
    case COLL_EXCHANGE: return "exchange";
    }
    return "collective";
}

static rcomm_status_t build(coll_sched_t *s, const coll_call_t *c)
{
    const size_t bytes = c->desc.count * s->esize;
    const int p = s->comm->size;

    if (c->desc.count == 0 && c->desc.kind != COLL_BARRIER)
        return RCOMM_OK; /* nothing to move: the call is local */
    if (c->desc.kind == COLL_EXCHANGE) {
        if (c->peer >= 0)
            coll_exchange(s, c->peer, c->sbuf, c->desc.count, c->rbuf, NULL,
                          c->desc.count, NULL, COLL_SOP_NONE);
        return RCOMM_OK;
    }
    if (p == 1) {
        if (c->desc.kind != COLL_BROADCAST && c->desc.kind != COLL_BARRIER)
            coll_sched_copy(s, c->rbuf, c->sbuf, bytes);
        return RCOMM_OK;
    }
    switch (c->desc.kind) {
    case COLL_ALLREDUCE:
        switch (c->algo) {
        case RCOMM_ALGO_RING: return coll_allreduce_ring_build(s, c->sbuf, c->rbuf);
        case RCOMM_ALGO_BUTTERFLY:
            return coll_allreduce_butterfly_build(s, c->sbuf, c->rbuf);
        default: return coll_allreduce_rd_build(s, c->sbuf, c->rbuf);
        }
    case COLL_BROADCAST:
        return coll_broadcast_build(
            s, c->rbuf,
            coll_select_broadcast(&coll_state(s->comm)->model, s->comm->cfg.bcast_algo,
                                  s->comm->cfg.segment_size, p, bytes));
    case COLL_ALLGATHER: return coll_allgather_build(s, c->sbuf, c->rbuf);
    case COLL_REDUCE_SCATTER: return coll_reduce_scatter_build(s, c->sbuf, c->rbuf);
    case COLL_BARRIER: return coll_barrier_build(s);
    case COLL_EXCHANGE: break; /* above */
    }
    return RCOMM_ERR_INTERNAL;
}

static void unlink_active(rcomm_comm_t *comm, coll_sched_t *s)
{
    if (s->prev)
        s->prev->next = s->next;
    else
        coll_state(comm)->active = s->next;
    if (s->next)
        s->next->prev = s->prev;
}

static rcomm_status_t post(rcomm_comm_t *comm, const coll_call_t *c,
                           rcomm_request_t **out)
{
    coll_state_t *colls = coll_state(comm);
    rcomm_request_t *req;
    coll_sched_t *s, **tail;
    rcomm_status_t st;

    if (colls->next_seq >= COMM_SPACE_FLOOR) /* tags would meet the services' */
        return base_err(RCOMM_ERR_INTERNAL,
                        "%s: rank %d has run %llu collectives, the most one "
                        "communicator can tag; create a new one",
                        c->fn, comm->rank, (unsigned long long)colls->next_seq);
    if (!(req = calloc(1, sizeof(*req))))
        return base_err(RCOMM_ERR_NO_MEMORY, "%s: out of memory", c->fn);
    s = &req->sched;
    st = coll_sched_init(s, comm, &c->desc, sched_name(c->desc.kind, c->algo));
    if (st != RCOMM_OK) {
        free(req);
        return st;
    }
    s->seq = colls->next_seq++;
    if ((st = build(s, c)) != RCOMM_OK || (st = coll_sched_start(s)) < 0) {
        if (st == RCOMM_ERR_NO_MEMORY || st == RCOMM_ERR_INTERNAL)
            base_err(st, "%s: rank %d could not build its schedule", c->fn, comm->rank);
        else
            comm_fail(comm, st); /* a post failed: peers may be waiting */
        coll_sched_free(s);
        free(req);
        return st;
    }
    /* Append: the oldest collective is progressed first. */
    for (tail = &colls->active; *tail; tail = &(*tail)->next)
        s->prev = *tail;
    *tail = s;
    *out = req;
    return RCOMM_OK;
}

static rcomm_status_t finish(rcomm_request_t *req)
{
    coll_sched_t *s = &req->sched;
    rcomm_comm_t *comm = s->comm;
    rcomm_status_t st = s->status;

    /* The request's own message becomes the caller's last error: it was
     * decided in whichever call progressed it, maybe not this one. */
    if (st < 0 && st != RCOMM_ERR_COMM_FAILED)
        base_err_quiet(st, "%s", s->errmsg);
    unlink_active(comm, s);
    coll_sched_free(s);
    free(req);
    /* COMM_FAILED explains itself; an error found while this collective ran
     * (a stray message of an earlier one) is reported now. */
    if (st == RCOMM_ERR_COMM_FAILED || (st == RCOMM_OK && comm->deferred != RCOMM_OK))
        return comm_check(comm, "collective");
    return st;
}

static void check_timeout(coll_sched_t *s, uint64_t now)
{
    char msg[512];
    rcomm_status_t st;

    if (s->status != RCOMM_INPROGRESS ||
        (double)(now - s->last_activity_ns) < s->comm->cfg.timeout_s * 1e9)
        return;
    st = coll_health_diagnose(s->comm, s, msg, sizeof(msg));
    if (s->status != RCOMM_INPROGRESS)
        return; /* it moved, or failed with its own error, while we asked */
    coll_sched_fail(s, base_err(st, "%s", msg));
    comm_fail(s->comm, st);
}

static rcomm_status_t test(rcomm_request_t *req)
{
    if (req->sched.status == RCOMM_INPROGRESS) {
        comm_progress(req->sched.comm, 0);
        check_timeout(&req->sched, base_now_ns());
    }
    return req->sched.status == RCOMM_INPROGRESS ? RCOMM_INPROGRESS : finish(req);
}

static rcomm_status_t wait(rcomm_request_t *req)
{
    coll_sched_t *s = &req->sched;
    uint64_t start;

    start = base_now_ns();
    while (s->status == RCOMM_INPROGRESS) {
        comm_wait_step(s->comm, start, 50);
        check_timeout(s, base_now_ns());
    }
    return finish(req);
}

/* The request is freed by the time the lock is released: keep its comm. */
rcomm_status_t rcomm_test(rcomm_request_t *req)
{
    rcomm_comm_t *comm;

    if (!req)
        return base_err(RCOMM_ERR_INVALID_ARG, "rcomm_test: req is NULL");
    comm = req->sched.comm;
    return COMM_LOCKED(comm, test(req));
}

rcomm_status_t rcomm_wait(rcomm_request_t *req)
{
    rcomm_comm_t *comm;

    if (!req)
        return base_err(RCOMM_ERR_INVALID_ARG, "rcomm_wait: req is NULL");
    comm = req->sched.comm;
    return COMM_LOCKED(comm, wait(req));
}

/* ---- entry points -------------------------------------------------------- */

static rcomm_status_t run(rcomm_comm_t *comm, const coll_call_t *c,
                          rcomm_request_t **req_out)
{
    rcomm_request_t *req;
    rcomm_status_t st;

    base_err_clear();
    if ((st = post(comm, c, &req)) != RCOMM_OK)
        return st;
    if (req_out) {
        *req_out = req;
        return RCOMM_OK;
    }
    return wait(req);
}

static rcomm_status_t allreduce(rcomm_comm_t *comm, const void *sendbuf, void *recvbuf,
                                size_t count, rcomm_dtype_t dtype, rcomm_op_t op,
                                rcomm_algo_t algo, const char *fn, rcomm_request_t **req)
{
    coll_call_t c = {fn, {COLL_ALLREDUCE, dtype, op, 0, count}, sendbuf, recvbuf, algo,
                     -1};
    rcomm_status_t st;
    size_t bytes;

    if ((st = check_common(comm, &c, 1)) != RCOMM_OK)
        return st;
    if ((unsigned)algo >= RCOMM_ALGO_COUNT)
        return base_err(RCOMM_ERR_INVALID_ARG, "%s: rank %d: algo %d is not valid", fn,
                        comm->rank, (int)algo);
    if (sendbuf == RCOMM_IN_PLACE)
        c.sbuf = recvbuf;
    if ((st = check_buf(comm, &c, c.sbuf, "sendbuf")) != RCOMM_OK ||
        (st = check_buf(comm, &c, recvbuf, "recvbuf")) != RCOMM_OK)
        return st;
    bytes = count * rcomm_dtype_size(dtype);
    if ((st = check_overlap(comm, &c, bytes, bytes)) != RCOMM_OK)
        return st;
    if (algo == RCOMM_ALGO_AUTO)
        c.algo = coll_select_allreduce(&coll_state(comm)->model, comm->cfg.allreduce_algo,
                                       comm->size, bytes);
    return run(comm, &c, req);
}

rcomm_status_t rcomm_allreduce(rcomm_comm_t *comm, const void *sendbuf, void *recvbuf,
                               size_t count, rcomm_dtype_t dtype, rcomm_op_t op)
{
    return COMM_LOCKED(comm, allreduce(comm, sendbuf, recvbuf, count, dtype, op,
                                       RCOMM_ALGO_AUTO, "rcomm_allreduce", NULL));
}

rcomm_status_t rcomm_allreduce_with(rcomm_comm_t *comm, const void *sendbuf,
                                    void *recvbuf, size_t count, rcomm_dtype_t dtype,
                                    rcomm_op_t op, rcomm_algo_t algo)
{
    return COMM_LOCKED(comm, allreduce(comm, sendbuf, recvbuf, count, dtype, op, algo,
                                       "rcomm_allreduce_with", NULL));
}

rcomm_status_t rcomm_iallreduce(rcomm_comm_t *comm, const void *sendbuf, void *recvbuf,
                                size_t count, rcomm_dtype_t dtype, rcomm_op_t op,
                                rcomm_algo_t algo, rcomm_request_t **req)
{
    if (!req)
        return base_err(RCOMM_ERR_INVALID_ARG, "rcomm_iallreduce: req is NULL");
    return COMM_LOCKED(comm, allreduce(comm, sendbuf, recvbuf, count, dtype, op, algo,
                                       "rcomm_iallreduce", req));
}

rcomm_status_t rcomm_allreduce_algo(const rcomm_comm_t *comm, size_t count,
                                    rcomm_dtype_t dtype, rcomm_algo_t *algo)
{
    if (!comm || !algo)
        return base_err(RCOMM_ERR_INVALID_ARG, "rcomm_allreduce_algo: %s is NULL",
                        !comm ? "comm" : "algo");
    if ((unsigned)dtype >= RCOMM_DTYPE_COUNT)
        return base_err(RCOMM_ERR_INVALID_ARG,
                        "rcomm_allreduce_algo: dtype %d is not valid", (int)dtype);
    *algo = coll_select_allreduce(&coll_state(comm)->model, comm->cfg.allreduce_algo,
                                  comm->size, count * rcomm_dtype_size(dtype));
    return RCOMM_OK;
}

static rcomm_status_t broadcast(rcomm_comm_t *comm, void *buf, size_t count,
                                rcomm_dtype_t dtype, int root, const char *fn,
                                rcomm_request_t **req)
{
    coll_call_t c = {fn, {COLL_BROADCAST, dtype, 0, root, count}, buf, buf, 0, -1};
    rcomm_status_t st;

    if ((st = check_common(comm, &c, 0)) != RCOMM_OK ||
        (st = check_buf(comm, &c, buf, "buf")) != RCOMM_OK)
        return st;
    if (root < 0 || root >= comm->size)
        return base_err(RCOMM_ERR_INVALID_ARG,
                        "%s: rank %d: root %d is out of range for %d ranks", fn,
                        comm->rank, root, comm->size);
    return run(comm, &c, req);
}

rcomm_status_t rcomm_broadcast(rcomm_comm_t *comm, void *buf, size_t count,
                               rcomm_dtype_t dtype, int root)
{
    return COMM_LOCKED(comm,
                       broadcast(comm, buf, count, dtype, root, "rcomm_broadcast", NULL));
}

rcomm_status_t rcomm_ibroadcast(rcomm_comm_t *comm, void *buf, size_t count,
                                rcomm_dtype_t dtype, int root, rcomm_request_t **req)
{
    if (!req)
        return base_err(RCOMM_ERR_INVALID_ARG, "rcomm_ibroadcast: req is NULL");
    return COMM_LOCKED(comm,
                       broadcast(comm, buf, count, dtype, root, "rcomm_ibroadcast", req));
}

static rcomm_status_t allgather(rcomm_comm_t *comm, const void *sendbuf, void *recvbuf,
                                size_t count, rcomm_dtype_t dtype, const char *fn,
                                rcomm_request_t **req)
{
    coll_call_t c = {fn, {COLL_ALLGATHER, dtype, 0, 0, count}, sendbuf, recvbuf, 0, -1};
    rcomm_status_t st;
    size_t bytes;

    if ((st = check_common(comm, &c, 0)) != RCOMM_OK ||
        (st = check_buf(comm, &c, recvbuf, "recvbuf")) != RCOMM_OK)
        return st;
    bytes = count * rcomm_dtype_size(dtype);
    if (sendbuf == RCOMM_IN_PLACE) {
        c.sbuf = (const char *)recvbuf + (size_t)comm->rank * bytes;
        return run(comm, &c, req);
    }
    if ((st = check_buf(comm, &c, sendbuf, "sendbuf")) != RCOMM_OK)
        return st;
    if (overlap(c.sbuf, bytes, c.rbuf, bytes * (size_t)comm->size))
        return base_err(RCOMM_ERR_INVALID_ARG,
                        "%s: rank %d: sendbuf overlaps recvbuf (use RCOMM_IN_PLACE)", fn,
                        comm->rank);
    return run(comm, &c, req);
}

rcomm_status_t rcomm_allgather(rcomm_comm_t *comm, const void *sendbuf, void *recvbuf,
                               size_t count, rcomm_dtype_t dtype)
{
    return COMM_LOCKED(
        comm, allgather(comm, sendbuf, recvbuf, count, dtype, "rcomm_allgather", NULL));
}

rcomm_status_t rcomm_iallgather(rcomm_comm_t *comm, const void *sendbuf, void *recvbuf,
                                size_t count, rcomm_dtype_t dtype, rcomm_request_t **req)
{
    if (!req)
        return base_err(RCOMM_ERR_INVALID_ARG, "rcomm_iallgather: req is NULL");
    return COMM_LOCKED(
        comm, allgather(comm, sendbuf, recvbuf, count, dtype, "rcomm_iallgather", req));
}

static rcomm_status_t reduce_scatter(rcomm_comm_t *comm, const void *sendbuf,
                                     void *recvbuf, size_t count, rcomm_dtype_t dtype,
                                     rcomm_op_t op, const char *fn, rcomm_request_t **req)
{
    coll_call_t c = {fn, {COLL_REDUCE_SCATTER, dtype, op, 0, count}, sendbuf, recvbuf, 0,
                     -1};
    rcomm_status_t st;
    size_t bytes;

    if ((st = check_common(comm, &c, 1)) != RCOMM_OK ||
        (st = check_buf(comm, &c, recvbuf, "recvbuf")) != RCOMM_OK)
        return st;
    bytes = count * rcomm_dtype_size(dtype);
    if (sendbuf == RCOMM_IN_PLACE) {
        c.sbuf = recvbuf;
        c.rbuf = (char *)recvbuf + (size_t)comm->rank * bytes;
        return run(comm, &c, req);
    }
    if ((st = check_buf(comm, &c, sendbuf, "sendbuf")) != RCOMM_OK)
        return st;
    if (overlap(c.sbuf, bytes * (size_t)comm->size, c.rbuf, bytes))
        return base_err(RCOMM_ERR_INVALID_ARG,
                        "%s: rank %d: sendbuf overlaps recvbuf (use RCOMM_IN_PLACE)", fn,
                        comm->rank);
    return run(comm, &c, req);
}

rcomm_status_t rcomm_reduce_scatter(rcomm_comm_t *comm, const void *sendbuf,
                                    void *recvbuf, size_t count, rcomm_dtype_t dtype,
                                    rcomm_op_t op)
{
    return COMM_LOCKED(comm, reduce_scatter(comm, sendbuf, recvbuf, count, dtype, op,
                                            "rcomm_reduce_scatter", NULL));
}

rcomm_status_t rcomm_ireduce_scatter(rcomm_comm_t *comm, const void *sendbuf,
                                     void *recvbuf, size_t count, rcomm_dtype_t dtype,
                                     rcomm_op_t op, rcomm_request_t **req)
{
    if (!req)
        return base_err(RCOMM_ERR_INVALID_ARG, "rcomm_ireduce_scatter: req is NULL");
    return COMM_LOCKED(comm, reduce_scatter(comm, sendbuf, recvbuf, count, dtype, op,
                                            "rcomm_ireduce_scatter", req));
}

static rcomm_status_t exchange(rcomm_comm_t *comm, int peer, const void *sendbuf,
                               void *recvbuf, size_t bytes)
{
    coll_call_t c = {"hook_exchange",
                     {COLL_EXCHANGE, RCOMM_U8, 0, 0, bytes},
                     sendbuf,
                     recvbuf,
                     0,
                     peer};
    rcomm_status_t st;

    if ((st = check_common(comm, &c, 0)) != RCOMM_OK)
        return st;
    if (peer >= comm->size || peer == comm->rank || peer < -1)
        return base_err(RCOMM_ERR_INVALID_ARG,
                        "hook_exchange: rank %d: peer %d is not another rank", comm->rank,
                        peer);
    if (peer >= 0 && ((st = check_buf(comm, &c, sendbuf, "sendbuf")) != RCOMM_OK ||
                      (st = check_buf(comm, &c, recvbuf, "recvbuf")) != RCOMM_OK))
        return st;
    return run(comm, &c, NULL);
}

rcomm_status_t hook_exchange(rcomm_comm_t *comm, int peer, const void *sendbuf,
                             void *recvbuf, size_t bytes)
{
    return COMM_LOCKED(comm, exchange(comm, peer, sendbuf, recvbuf, bytes));
}

static rcomm_status_t barrier(rcomm_comm_t *comm, const char *fn, rcomm_request_t **req)
{
    coll_call_t c = {fn, {COLL_BARRIER, RCOMM_U8, 0, 0, 0}, NULL, NULL, 0, -1};
    rcomm_status_t st;

    if ((st = comm_check(comm, c.fn)) != RCOMM_OK)
        return st;
    return run(comm, &c, req);
}

rcomm_status_t rcomm_barrier(rcomm_comm_t *comm)
{
    return COMM_LOCKED(comm, barrier(comm, "rcomm_barrier", NULL));
}

rcomm_status_t rcomm_ibarrier(rcomm_comm_t *comm, rcomm_request_t **req)
{
    if (!req)
        return base_err(RCOMM_ERR_INVALID_ARG, "rcomm_ibarrier: req is NULL");
    return COMM_LOCKED(comm, barrier(comm, "rcomm_ibarrier", req));
}
