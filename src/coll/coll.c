/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Public collective calls: validate, build a schedule, run it. A blocking
 * call is a nonblocking one followed by rcomm_wait(). Waiting busy-polls for
 * RCOMM_SPIN_US (waking a sleeping thread costs tens of microseconds) and then
 * sleeps in the transport; a schedule that makes no progress for RCOMM_TIMEOUT
 * fails naming the peers it waits for. A request carries its failure's
 * message, which rcomm_test/rcomm_wait make the caller's last error.
 */
#include "coll/call.h"
#include "coll/colls.h"
#include "coll/mapped.h"
#include "hooks/hooks.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/clock.h"
#include "base/error.h"
#include "core/handle.h"

struct rcomm_request {
    uint64_t magic; /* HANDLE_MAGIC_REQUEST until it completes (core/handle.h) */
    bool user;      /* handed to the caller, who may use it after it is freed */
    coll_sched_t sched;
};

/* ---- validation ---------------------------------------------------------- */

int coll_overlap(const char *a, size_t alen, const char *b, size_t blen)
{
    return alen && blen && a < b + blen && b < a + alen;
}

rcomm_status_t coll_check_common(rcomm_comm_t *comm, const coll_call_t *c, int has_op)
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

rcomm_status_t coll_check_buf(const rcomm_comm_t *comm, const coll_call_t *c,
                              const void *buf, const char *what)
{
    if (c->desc.count > 0 && !buf)
        return base_err(RCOMM_ERR_INVALID_ARG, "%s: rank %d: %s is NULL with count %zu",
                        c->fn, comm->rank, what, c->desc.count);
    return RCOMM_OK;
}

rcomm_status_t coll_check_overlap(const rcomm_comm_t *comm, const coll_call_t *c,
                                  size_t sbytes, size_t rbytes)
{
    if (c->sbuf != c->rbuf && coll_overlap(c->sbuf, sbytes, c->rbuf, rbytes))
        return base_err(RCOMM_ERR_INVALID_ARG,
                        "%s: rank %d: sendbuf and recvbuf overlap without being equal "
                        "(use RCOMM_IN_PLACE for in-place operation)",
                        c->fn, comm->rank);
    return RCOMM_OK;
}

/* ---- running ------------------------------------------------------------- */

rcomm_status_t coll_check_inout(const rcomm_comm_t *comm, coll_call_t *c)
{
    const size_t bytes = c->desc.count * rcomm_dtype_size(c->desc.dtype);
    rcomm_status_t st;

    if (c->sbuf == RCOMM_IN_PLACE)
        c->sbuf = c->rbuf;
    if ((st = coll_check_buf(comm, c, c->sbuf, "sendbuf")) != RCOMM_OK ||
        (st = coll_check_buf(comm, c, c->rbuf, "recvbuf")) != RCOMM_OK)
        return st;
    return coll_check_overlap(comm, c, bytes, bytes);
}

rcomm_status_t coll_check_root(const rcomm_comm_t *comm, const coll_call_t *c)
{
    if (c->desc.root < 0 || c->desc.root >= comm->size)
        return base_err(RCOMM_ERR_INVALID_ARG,
                        "%s: rank %d: root %d is out of range for %d ranks", c->fn,
                        comm->rank, c->desc.root, comm->size);
    return RCOMM_OK;
}

/* ---- running ------------------------------------------------------------- */

static const char *sched_name(const coll_call_t *c)
{
    switch (c->desc.kind) {
    case COLL_ALLREDUCE:
        if (c->mapped)
            return "allreduce (mapped, or the model's choice)";
        return c->algo == RCOMM_ALGO_RING        ? "allreduce (ring)"
               : c->algo == RCOMM_ALGO_BUTTERFLY ? "allreduce (butterfly)"
               : c->algo == RCOMM_ALGO_HIER      ? "allreduce (hier)"
               : c->algo == RCOMM_ALGO_DIRECT    ? "allreduce (direct)"
                                                 : "allreduce (rd)";
    case COLL_BROADCAST: return "broadcast";
    case COLL_ALLGATHER: return "allgather";
    case COLL_REDUCE_SCATTER: return "reduce_scatter";
    case COLL_BARRIER: return "barrier";
    case COLL_EXCHANGE: return "exchange";
    case COLL_REDUCE:
        return c->algo == COLL_REDUCE_RSG ? "reduce (rsg)" : "reduce (binomial)";
    case COLL_GATHER: return "gather";
    case COLL_SCATTER: return "scatter";
    case COLL_ALLTOALL: return "alltoall";
    case COLL_ALLGATHERV: return "allgatherv";
    case COLL_ALLTOALLV: return "alltoallv";
    case COLL_SEND: return "send";
    case COLL_RECV: return "recv";
    case COLL_NEIGHBOR: return "neighbor_allreduce";
    default: return "collective";
    }
}

/* Calls whose every rank must hear from its peers even when there is no
 * data: their counts differ per rank, or they are messages themselves. */
static int always_talks(coll_kind_t kind)
{
    return kind == COLL_BARRIER || kind == COLL_ALLGATHERV || kind == COLL_ALLTOALLV ||
           kind == COLL_SEND || kind == COLL_RECV || kind == COLL_NEIGHBOR;
}

/* Calls where a rank could finish without hearing from every rank, and so
 * return OK next to a rank that called differently: rooted ones (a root
 * or a leaf may only send) and those that move nothing here (count 0; the
 * peers may have data for us, or wait for ours). The others' data reaches
 * every rank from every rank, checked on the way (agree.c). */
static int needs_agreement(const coll_call_t *c)
{
    switch (c->desc.kind) {
    case COLL_BROADCAST:
    case COLL_REDUCE:
    case COLL_GATHER:
    case COLL_SCATTER: return 1;
    case COLL_ALLREDUCE:
    case COLL_ALLGATHER:
    case COLL_REDUCE_SCATTER:
    case COLL_ALLTOALL: return c->desc.count == 0;
    default: return 0; /* they always talk, or are not collectives */
    }
}

rcomm_status_t coll_allreduce_build(coll_sched_t *s, int algo, const char *sbuf,
                                    char *rbuf)
{
    switch (algo) {
    case RCOMM_ALGO_RING: return coll_allreduce_ring_build(s, sbuf, rbuf);
    case RCOMM_ALGO_BUTTERFLY: return coll_allreduce_butterfly_build(s, sbuf, rbuf);
    case RCOMM_ALGO_HIER: return coll_allreduce_hier_build(s, sbuf, rbuf);
    case RCOMM_ALGO_DIRECT: return coll_allreduce_direct_build(s, sbuf, rbuf);
    default: return coll_allreduce_rd_build(s, sbuf, rbuf);
    }
}

static rcomm_status_t build(coll_sched_t *s, const coll_call_t *c)
{
    const size_t bytes = c->desc.count * s->esize;
    const int p = s->comm->size;

    if (p > 1 && needs_agreement(c))
        coll_agree_build(s);
    if (c->desc.count == 0 && !always_talks(c->desc.kind))
        return RCOMM_OK; /* nothing to move */
    if (c->desc.kind == COLL_EXCHANGE) {
        if (c->peer >= 0)
            coll_exchange(s, c->peer, c->sbuf, c->desc.count, c->rbuf, NULL,
                          c->desc.count, NULL, COLL_SOP_NONE);
        return RCOMM_OK;
    }
    if (c->desc.kind == COLL_SEND || c->desc.kind == COLL_RECV)
        return coll_p2p_build(s, c);
    if (c->desc.kind == COLL_NEIGHBOR)
        return coll_neighbor_build(s, c->sbuf, c->rbuf, c->nbr);
    if (p == 1 && !always_talks(c->desc.kind)) {
        if (c->desc.kind != COLL_BROADCAST)
            coll_sched_copy(s, c->rbuf, c->sbuf, bytes);
        return RCOMM_OK;
    }
    switch (c->desc.kind) {
    case COLL_ALLREDUCE:
        return c->mapped ? coll_allreduce_mapped_nb_build(s, c)
                         : coll_allreduce_build(s, c->algo, c->sbuf, c->rbuf);
    case COLL_BROADCAST:
        return coll_broadcast_build(
            s, c->rbuf,
            coll_select_broadcast(&coll_state(s->comm)->model, s->comm->cfg.bcast_algo,
                                  s->comm->cfg.segment_size, p, bytes));
    case COLL_ALLGATHER: return coll_allgather_build(s, c->sbuf, c->rbuf);
    case COLL_REDUCE_SCATTER: return coll_reduce_scatter_build(s, c->sbuf, c->rbuf);
    case COLL_BARRIER: return coll_barrier_build(s);
    case COLL_REDUCE:
        return c->algo == COLL_REDUCE_RSG
                   ? coll_reduce_rsg_build(s, c->sbuf, c->rbuf)
                   : coll_reduce_binomial_build(s, c->sbuf, c->rbuf);
    case COLL_GATHER: return coll_gather_build(s, c->sbuf, c->rbuf);
    case COLL_SCATTER: return coll_scatter_build(s, c->sbuf, c->rbuf);
    case COLL_ALLTOALL:
    case COLL_ALLTOALLV:
        return coll_alltoall_build(s, c->sbuf, c->scounts, c->sdispls, c->rbuf,
                                   c->rcounts, c->rdispls,
                                   c->desc.kind == COLL_ALLTOALLV);
    case COLL_ALLGATHERV:
        return coll_allgatherv_build(s, c->sbuf, c->rbuf, c->rcounts, c->rdispls);
    default: break; /* above */
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
    if ((req = colls->spare))
        colls->spare = NULL;
    else if (!(req = calloc(1, sizeof(*req))))
        return base_err(RCOMM_ERR_NO_MEMORY, "%s: out of memory", c->fn);
    s = &req->sched;
    st = coll_sched_init(s, comm, &c->desc, sched_name(c));
    if (st != RCOMM_OK) {
        coll_spare_free(req); /* a kept request has arrays */
        return st;
    }
    if (c->desc.kind == COLL_SEND || c->desc.kind == COLL_RECV) {
        s->seq = COLL_SEQ_P2P;
        s->tag_base = (uint64_t)colls->p2p_space << 32;
    } else {
        s->seq = colls->next_seq++;
        s->tag_base = s->seq << 32;
        coll_slots_started(colls, s->seq);
    }
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
    req->magic = HANDLE_MAGIC_REQUEST;
    /* A peer's message that came before the call: checked now, as it may
     * match none of our receives. The peers hear of a mismatch at once. */
    if (!coll_is_p2p(s) && coll_early_check(comm, s) != RCOMM_OK)
        comm_fail(comm, s->status);
    *out = req;
    return RCOMM_OK;
}

void coll_spare_free(rcomm_request_t *req)
{
    if (req) {
        coll_sched_free(&req->sched);
        free(req);
    }
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
    req->magic = 0;
    if (!req->user && !coll_state(comm)->spare) {
        coll_sched_clear(s); /* kept for the next call: no allocation then */
        coll_state(comm)->spare = req;
    } else {
        coll_sched_free(s);
        if (req->user)
            handle_bury(HANDLE_REQUEST, req); /* a second wait is then an error */
        else
            free(req);
    }
    /* COMM_FAILED explains itself; an error found while this collective ran
     * (a stray message of an earlier one) is reported now. */
    if (st == RCOMM_ERR_COMM_FAILED || (st == RCOMM_OK && comm->deferred != RCOMM_OK))
        return comm_check(comm, "collective");
    return st;
}

/* No operation completed for RCOMM_TIMEOUT: find out why, and fail. But
 * bytes that still move with the peers it waits for are progress: one
 * message can take longer than the timeout (16 MiB on a 20 Mbit/s link
 * takes 6.4 s), and its sender and receiver are alive. The sum of those
 * peers' moved[] counters is sampled half a timeout after the last
 * completion and compared at the full timeout; while it changes, the
 * deadline moves on by half a timeout and the comparison repeats, so a peer
 * that stops is still named within a timeout of its last byte. */
static void check_timeout(coll_sched_t *s, uint64_t now)
{
    const uint64_t limit = (uint64_t)(s->comm->cfg.timeout_s * 1e9);
    coll_stall_t stall;
    char msg[512];
    rcomm_status_t st;
    uint64_t moved;

    if (s->ndone != s->ndone_seen) { /* completions since the last look */
        s->ndone_seen = s->ndone;
        s->last_activity_ns = now;
        s->moved_sampled = 0;
    }
    if (s->status != RCOMM_INPROGRESS || now - s->last_activity_ns < limit / 2)
        return;
    if (!s->moved_sampled) {
        s->moved_seen = coll_sched_moved(s);
        s->moved_sampled = 1;
        return;
    }
    if (now - s->last_activity_ns < limit)
        return;
    if ((moved = coll_sched_moved(s)) != s->moved_seen) {
        s->moved_seen = moved;
        s->last_activity_ns = now - limit / 2;
        return;
    }
    stall.seq = s->seq;
    stall.desc = s->desc;
    stall.p2p = coll_is_p2p(s);
    coll_sched_title(s, stall.title, sizeof(stall.title));
    coll_sched_waiting_for(s, stall.waiting, sizeof(stall.waiting));
    st = coll_health_diagnose(s->comm, &stall, msg, sizeof(msg));
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

/* With more ranks than cores a waiting rank sleeps at once (comm.c), and
 * each message then costs a wakeup. Where several peers' messages are in
 * flight at once (all-to-all) the next one usually follows within
 * microseconds of the last, so such a schedule polls, yielding, this long
 * after each of its completions; not before the first, when the peers
 * still sending need the cores. Each alternative measured slower (4 ranks,
 * 2 cores): polling from the start (16 B: 143 against 78 us), after any
 * traffic (1 MiB: 1.2x), and in collectives that wait on one peer at a time
 * (allgather's ring: 1.7x). docs/PERFORMANCE.md, "Ranks that outnumber the
 * cores". */
#define FAN_IN_SPIN_NS 50000

static rcomm_status_t wait(rcomm_request_t *req)
{
    coll_sched_t *s = &req->sched;
    const bool fan_in = s->fan_in && s->comm->oversubscribed;
    uint32_t seen = s->ndone;
    comm_waiter_t w;

    comm_waiter_start(s->comm, &w);
    if (fan_in) {
        w.spin_ns = FAN_IN_SPIN_NS;
        w.since_ns = 0; /* from the first completion on */
    }
    while (s->status == RCOMM_INPROGRESS) {
        uint64_t now = comm_wait_step(s->comm, &w, 50);
        if (fan_in && s->ndone != seen) {
            seen = s->ndone;
            w.since_ns = now;
        }
        check_timeout(s, now);
    }
    return finish(req);
}

static rcomm_status_t check_req(const rcomm_request_t *req, const char *fn)
{
    if (!req)
        return base_err(RCOMM_ERR_INVALID_ARG, "%s: req is NULL", fn);
    if (req->magic != HANDLE_MAGIC_REQUEST)
        return base_err(RCOMM_ERR_INVALID_ARG,
                        "%s: req completed already (rcomm_test or rcomm_wait said so "
                        "and freed it) or is not a request",
                        fn);
    return RCOMM_OK;
}

/* The request is freed by the time the lock is released: keep its comm. */
rcomm_status_t rcomm_test(rcomm_request_t *req)
{
    rcomm_comm_t *comm;
    rcomm_status_t st;

    if ((st = check_req(req, "rcomm_test")) != RCOMM_OK)
        return st;
    comm = req->sched.comm;
    return COMM_LOCKED(comm, test(req));
}

rcomm_status_t rcomm_wait(rcomm_request_t *req)
{
    rcomm_comm_t *comm;
    rcomm_status_t st;

    if ((st = check_req(req, "rcomm_wait")) != RCOMM_OK)
        return st;
    comm = req->sched.comm;
    return COMM_LOCKED(comm, wait(req));
}

rcomm_status_t coll_run(rcomm_comm_t *comm, const coll_call_t *c,
                        rcomm_request_t **req_out)
{
    rcomm_request_t *req = NULL;
    rcomm_status_t st;

    base_err_clear();
    if ((st = post(comm, c, &req)) != RCOMM_OK)
        return st;
    if (req_out) {
        req->user = true;
        *req_out = req;
        return RCOMM_OK;
    }
    return wait(req);
}
