/* SPDX-License-Identifier: BSD-3-Clause */
/* Entry points of the rooted collectives: reduce, gather, scatter. The root's
 * buffer of p blocks is checked on the root only; RCOMM_IN_PLACE is the
 * root's alone. */
#include "coll/call.h"
#include "coll/colls.h"

#include "base/error.h"

static rcomm_status_t not_in_place(const rcomm_comm_t *comm, const coll_call_t *c,
                                   const void *buf, const char *what)
{
    if (buf == RCOMM_IN_PLACE)
        return base_err(RCOMM_ERR_INVALID_ARG,
                        "%s: rank %d: %s is RCOMM_IN_PLACE but only the root (rank %d) "
                        "may work in place",
                        c->fn, comm->rank, what, c->desc.root);
    return coll_check_buf(comm, c, buf, what);
}

static rcomm_status_t reduce(rcomm_comm_t *comm, const void *sendbuf, void *recvbuf,
                             size_t count, rcomm_dtype_t dtype, rcomm_op_t op, int root,
                             const char *fn, rcomm_request_t **req)
{
    coll_call_t c = {.fn = fn,
                     .desc = {COLL_REDUCE, dtype, op, root, count},
                     .sbuf = sendbuf,
                     .rbuf = recvbuf};
    rcomm_status_t st;

    if ((st = coll_check_common(comm, &c, 1)) != RCOMM_OK ||
        (st = coll_check_root(comm, &c)) != RCOMM_OK)
        return st;
    c.algo = coll_select_reduce(&coll_state(comm)->model, comm->cfg.reduce_algo,
                                comm->size, count * rcomm_dtype_size(dtype));
    if (comm->rank != root) {
        c.rbuf = NULL;
        if ((st = not_in_place(comm, &c, sendbuf, "sendbuf")) != RCOMM_OK)
            return st;
        return coll_run(comm, &c, req);
    }
    if ((st = coll_check_inout(comm, &c)) != RCOMM_OK)
        return st;
    return coll_run(comm, &c, req);
}

rcomm_status_t rcomm_reduce(rcomm_comm_t *comm, const void *sendbuf, void *recvbuf,
                            size_t count, rcomm_dtype_t dtype, rcomm_op_t op, int root)
{
    return COMM_LOCKED(comm, reduce(comm, sendbuf, recvbuf, count, dtype, op, root,
                                    "rcomm_reduce", NULL));
}

rcomm_status_t rcomm_ireduce(rcomm_comm_t *comm, const void *sendbuf, void *recvbuf,
                             size_t count, rcomm_dtype_t dtype, rcomm_op_t op, int root,
                             rcomm_request_t **req)
{
    if (!req)
        return base_err(RCOMM_ERR_INVALID_ARG, "rcomm_ireduce: req is NULL");
    return COMM_LOCKED(comm, reduce(comm, sendbuf, recvbuf, count, dtype, op, root,
                                    "rcomm_ireduce", req));
}

/* Gather and scatter: the root's big buffer (p blocks) and everyone's block. */
static rcomm_status_t rooted(rcomm_comm_t *comm, coll_call_t *c, rcomm_request_t **req)
{
    const int gather = c->desc.kind == COLL_GATHER;
    const char *big_name = gather ? "recvbuf" : "sendbuf",
               *own_name = gather ? "sendbuf" : "recvbuf";
    const void *big = gather ? (const void *)c->rbuf : (const void *)c->sbuf,
               *own = gather ? (const void *)c->sbuf : (const void *)c->rbuf;
    rcomm_status_t st;
    size_t bytes;

    if ((st = coll_check_common(comm, c, 0)) != RCOMM_OK ||
        (st = coll_check_root(comm, c)) != RCOMM_OK)
        return st;
    if (comm->rank != c->desc.root) {
        if ((st = not_in_place(comm, c, own, own_name)) != RCOMM_OK)
            return st;
        if (gather)
            c->rbuf = NULL;
        else
            c->sbuf = NULL;
        return coll_run(comm, c, req);
    }
    if ((st = coll_check_buf(comm, c, big, big_name)) != RCOMM_OK)
        return st;
    bytes = c->desc.count * rcomm_dtype_size(c->desc.dtype);
    if (own == RCOMM_IN_PLACE) { /* the root's block stays where it is */
        own = (const char *)big + (size_t)comm->rank * bytes;
    } else {
        if ((st = coll_check_buf(comm, c, own, own_name)) != RCOMM_OK)
            return st;
        if (coll_overlap(own, bytes, big, bytes * (size_t)comm->size))
            return base_err(RCOMM_ERR_INVALID_ARG,
                            "%s: rank %d: %s overlaps %s (use RCOMM_IN_PLACE)", c->fn,
                            comm->rank, own_name, big_name);
    }
    if (gather)
        c->sbuf = own;
    else
        c->rbuf = (char *)own;
    return coll_run(comm, c, req);
}

static rcomm_status_t gather(rcomm_comm_t *comm, const void *sendbuf, void *recvbuf,
                             size_t count, rcomm_dtype_t dtype, int root, const char *fn,
                             rcomm_request_t **req)
{
    coll_call_t c = {.fn = fn,
                     .desc = {COLL_GATHER, dtype, 0, root, count},
                     .sbuf = sendbuf,
                     .rbuf = recvbuf};
    return rooted(comm, &c, req);
}

rcomm_status_t rcomm_gather(rcomm_comm_t *comm, const void *sendbuf, void *recvbuf,
                            size_t count, rcomm_dtype_t dtype, int root)
{
    return COMM_LOCKED(
        comm, gather(comm, sendbuf, recvbuf, count, dtype, root, "rcomm_gather", NULL));
}

rcomm_status_t rcomm_igather(rcomm_comm_t *comm, const void *sendbuf, void *recvbuf,
                             size_t count, rcomm_dtype_t dtype, int root,
                             rcomm_request_t **req)
{
    if (!req)
        return base_err(RCOMM_ERR_INVALID_ARG, "rcomm_igather: req is NULL");
    return COMM_LOCKED(
        comm, gather(comm, sendbuf, recvbuf, count, dtype, root, "rcomm_igather", req));
}

static rcomm_status_t scatter(rcomm_comm_t *comm, const void *sendbuf, void *recvbuf,
                              size_t count, rcomm_dtype_t dtype, int root, const char *fn,
                              rcomm_request_t **req)
{
    coll_call_t c = {.fn = fn,
                     .desc = {COLL_SCATTER, dtype, 0, root, count},
                     .sbuf = sendbuf,
                     .rbuf = recvbuf};
    return rooted(comm, &c, req);
}

rcomm_status_t rcomm_scatter(rcomm_comm_t *comm, const void *sendbuf, void *recvbuf,
                             size_t count, rcomm_dtype_t dtype, int root)
{
    return COMM_LOCKED(
        comm, scatter(comm, sendbuf, recvbuf, count, dtype, root, "rcomm_scatter", NULL));
}

rcomm_status_t rcomm_iscatter(rcomm_comm_t *comm, const void *sendbuf, void *recvbuf,
                              size_t count, rcomm_dtype_t dtype, int root,
                              rcomm_request_t **req)
{
    if (!req)
        return base_err(RCOMM_ERR_INVALID_ARG, "rcomm_iscatter: req is NULL");
    return COMM_LOCKED(
        comm, scatter(comm, sendbuf, recvbuf, count, dtype, root, "rcomm_iscatter", req));
}
