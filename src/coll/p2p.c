/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Point-to-point send and receive. A message is a one-op schedule in the
 * collectives' executor, so it shares their requests, progress, timeout
 * diagnosis and failure handling, but it takes no sequence number (only two
 * ranks take part) and travels in a tag space of its own, registered like
 * any other service: the transport tag is that space, then the user's tag.
 * The transport matches a receive to the oldest message from its peer with
 * its tag, which is MPI's non-overtaking rule. Each message goes as one
 * transport message (not in segments: segments of two messages with the same
 * tag could interleave), zero-copy where the transport is.
 *
 * The envelope says send, the dtype, the count and the tag; a receive whose
 * own call differs fails with MISMATCH naming the sender and both calls.
 */
#include "coll/call.h"
#include "coll/colls.h"

#include <stdio.h>
#include <string.h>

#include "base/error.h"

static const comm_service_ops_t p2p_service = {.name = "point-to-point"};

rcomm_status_t coll_p2p_init(rcomm_comm_t *comm)
{
    return comm_service_add(comm, &p2p_service, NULL, &coll_state(comm)->p2p_space);
}

rcomm_status_t coll_p2p_build(coll_sched_t *s, const coll_call_t *c)
{
    const uint32_t tag = (uint32_t)c->desc.root;
    const size_t es = s->esize;
    coll_sop_id_t op;

    /* Both setters ignore COLL_SOP_NONE (out of memory: start fails). */
    if (c->dst >= 0) {
        op = coll_sched_send(s, c->dst, c->sbuf, c->send_count * es);
        coll_sched_set_tag(s, op, tag);
        coll_sched_set_count(s, op, c->send_count);
    }
    if (c->src >= 0)
        coll_sched_set_tag(s, coll_sched_recv(s, c->src, c->rbuf, c->desc.count * es),
                           tag);
    if (c->dst >= 0 && c->src >= 0)
        snprintf(s->label, sizeof(s->label),
                 "rcomm_sendrecv to rank %d from rank %d (tag %u)", c->dst, c->src, tag);
    else if (c->dst >= 0)
        snprintf(s->label, sizeof(s->label), "rcomm_send to rank %d (tag %u)", c->dst,
                 tag);
    else
        snprintf(s->label, sizeof(s->label), "rcomm_recv from rank %d (tag %u)", c->src,
                 tag);
    return RCOMM_OK;
}

static rcomm_status_t check_peer(const rcomm_comm_t *comm, const char *fn, int peer,
                                 const char *what)
{
    if (peer < 0 || peer >= comm->size || peer == comm->rank)
        return base_err(RCOMM_ERR_INVALID_ARG,
                        "%s: rank %d: %s %d is not another rank of the %d", fn,
                        comm->rank, what, peer, comm->size);
    return RCOMM_OK;
}

static rcomm_status_t check_tag(const rcomm_comm_t *comm, const char *fn, int tag)
{
    if (tag < 0 || tag > RCOMM_TAG_MAX)
        return base_err(RCOMM_ERR_INVALID_ARG, "%s: rank %d: tag %d is not in 0 .. %d",
                        fn, comm->rank, tag, RCOMM_TAG_MAX);
    return RCOMM_OK;
}

#define SEND 1
#define RECV 2

/* What messages call the arguments: rcomm_send's buf, count, peer; or
 * rcomm_sendrecv's sendbuf, sendcount, dst and recvbuf, recvcount, src. */
typedef struct {
    const char *buf, *count, *peer;
} p2p_names_t;

static rcomm_status_t check_side(rcomm_comm_t *comm, coll_call_t *c, const void *buf,
                                 size_t count, int peer, const p2p_names_t *n)
{
    rcomm_status_t st;

    c->desc.count = 0; /* the communicator and dtype first, then which count */
    if ((st = coll_check_common(comm, c, 0)) != RCOMM_OK)
        return st;
    if (count > SIZE_MAX / 8 / (size_t)comm->size)
        return base_err(RCOMM_ERR_INVALID_ARG, "%s: rank %d: %s %zu is too large", c->fn,
                        comm->rank, n->count, count);
    c->desc.count = count;
    if ((st = check_peer(comm, c->fn, peer, n->peer)) != RCOMM_OK ||
        (st = coll_check_buf(comm, c, buf, n->buf)) != RCOMM_OK)
        return st;
    return RCOMM_OK;
}

/* A send, a receive or both (what: SEND | RECV). */
static rcomm_status_t p2p(rcomm_comm_t *comm, int what, const void *sendbuf,
                          size_t sendcount, int dst, void *recvbuf, size_t recvcount,
                          int src, rcomm_dtype_t dtype, int tag, const char *fn,
                          rcomm_request_t **req)
{
    static const p2p_names_t one = {"buf", "count", "peer"},
                             out = {"sendbuf", "sendcount", "dst"},
                             in = {"recvbuf", "recvcount", "src"};
    const int both = what == (SEND | RECV);
    coll_call_t c = {.fn = fn,
                     .desc = {what & RECV ? COLL_RECV : COLL_SEND, dtype, 0, tag, 0},
                     .sbuf = sendbuf,
                     .rbuf = recvbuf,
                     .dst = what & SEND ? dst : -1,
                     .src = what & RECV ? src : -1,
                     .send_count = sendcount};
    rcomm_status_t st;

    if ((what & SEND) && (st = check_side(comm, &c, sendbuf, sendcount, dst,
                                          both ? &out : &one)) != RCOMM_OK)
        return st;
    if ((what & RECV) && (st = check_side(comm, &c, recvbuf, recvcount, src,
                                          both ? &in : &one)) != RCOMM_OK)
        return st;
    if ((st = check_tag(comm, fn, tag)) != RCOMM_OK)
        return st;
    c.desc.count = what & RECV ? recvcount : sendcount;
    return coll_run(comm, &c, req);
}

rcomm_status_t rcomm_send(rcomm_comm_t *comm, const void *buf, size_t count,
                          rcomm_dtype_t dtype, int peer, int tag)
{
    return COMM_LOCKED(comm, p2p(comm, SEND, buf, count, peer, NULL, 0, -1, dtype, tag,
                                 "rcomm_send", NULL));
}

rcomm_status_t rcomm_isend(rcomm_comm_t *comm, const void *buf, size_t count,
                           rcomm_dtype_t dtype, int peer, int tag, rcomm_request_t **req)
{
    if (!req)
        return base_err(RCOMM_ERR_INVALID_ARG, "rcomm_isend: req is NULL");
    return COMM_LOCKED(comm, p2p(comm, SEND, buf, count, peer, NULL, 0, -1, dtype, tag,
                                 "rcomm_isend", req));
}

rcomm_status_t rcomm_recv(rcomm_comm_t *comm, void *buf, size_t count,
                          rcomm_dtype_t dtype, int peer, int tag)
{
    return COMM_LOCKED(comm, p2p(comm, RECV, NULL, 0, -1, buf, count, peer, dtype, tag,
                                 "rcomm_recv", NULL));
}

rcomm_status_t rcomm_irecv(rcomm_comm_t *comm, void *buf, size_t count,
                           rcomm_dtype_t dtype, int peer, int tag, rcomm_request_t **req)
{
    if (!req)
        return base_err(RCOMM_ERR_INVALID_ARG, "rcomm_irecv: req is NULL");
    return COMM_LOCKED(comm, p2p(comm, RECV, NULL, 0, -1, buf, count, peer, dtype, tag,
                                 "rcomm_irecv", req));
}

/* Both ends this rank (a ring shift on one rank): a copy. */
static rcomm_status_t sendrecv_self(rcomm_comm_t *comm, const void *sendbuf,
                                    size_t sendcount, void *recvbuf, size_t recvcount,
                                    rcomm_dtype_t dtype, int tag)
{
    const char *fn = "rcomm_sendrecv";
    coll_call_t c = {.fn = fn, .desc = {COLL_RECV, dtype, 0, tag, recvcount}};
    rcomm_status_t st;

    if ((st = coll_check_common(comm, &c, 0)) != RCOMM_OK ||
        (st = check_tag(comm, fn, tag)) != RCOMM_OK ||
        (st = coll_check_buf(comm, &c, sendbuf, "sendbuf")) != RCOMM_OK ||
        (st = coll_check_buf(comm, &c, recvbuf, "recvbuf")) != RCOMM_OK)
        return st;
    if (sendcount != recvcount)
        return base_err(RCOMM_ERR_MISMATCH,
                        "%s: rank %d sends %zu elements to itself but receives %zu", fn,
                        comm->rank, sendcount, recvcount);
    if (recvcount && sendbuf != recvbuf)
        memmove(recvbuf, sendbuf, recvcount * rcomm_dtype_size(dtype));
    return RCOMM_OK;
}

rcomm_status_t rcomm_sendrecv(rcomm_comm_t *comm, const void *sendbuf, size_t sendcount,
                              int dst, void *recvbuf, size_t recvcount, int src,
                              rcomm_dtype_t dtype, int tag)
{
    if (comm && dst == comm->rank && src == comm->rank)
        return COMM_LOCKED(comm, sendrecv_self(comm, sendbuf, sendcount, recvbuf,
                                               recvcount, dtype, tag));
    return COMM_LOCKED(comm, p2p(comm, SEND | RECV, sendbuf, sendcount, dst, recvbuf,
                                 recvcount, src, dtype, tag, "rcomm_sendrecv", NULL));
}
