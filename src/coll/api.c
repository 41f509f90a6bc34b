/* SPDX-License-Identifier: BSD-3-Clause */
/* The first collectives' entry points: allreduce, broadcast, allgather,
 * reduce-scatter, barrier, and rcomm-tune's exchange. Validate, then run. */
#include "coll/call.h"
#include "coll/colls.h"
#include "coll/mailbox.h"
#include "coll/mapped.h"
#include "hooks/hooks.h"

#include "base/error.h"
#include "core/handle.h"

coll_path_t coll_allreduce_path(const rcomm_comm_t *comm, const coll_call_t *c,
                                bool blocking)
{
    const size_t bytes = c->desc.count * rcomm_dtype_size(c->desc.dtype);

    if (!coll_state(comm)->slots || c->algo != RCOMM_ALGO_AUTO ||
        c->desc.kind != COLL_ALLREDUCE || !comm->tp)
        return COLL_PATH_SCHED;
    if (!blocking) /* the same answer on every rank: the buffers come later */
        return comm->cfg.shm_mapped && coll_mapped_nb_applies(comm, c)
                   ? COLL_PATH_MAPPED_NB
                   : COLL_PATH_SCHED;
    if (bytes <= COLL_SLOT_BYTES)
        return COLL_PATH_SLOTS;
    if (comm->cfg.shm_mapped && coll_mapped_fit(comm, c, NULL, NULL))
        return COLL_PATH_MAPPED;
    return coll_staged_fit(comm, c) ? COLL_PATH_STAGED : COLL_PATH_SCHED;
}

static rcomm_status_t allreduce(rcomm_comm_t *comm, const void *sendbuf, void *recvbuf,
                                size_t count, rcomm_dtype_t dtype, rcomm_op_t op,
                                rcomm_algo_t algo, const char *fn, rcomm_request_t **req)
{
    coll_call_t c = {.fn = fn,
                     .desc = {COLL_ALLREDUCE, dtype, op, 0, count},
                     .sbuf = sendbuf,
                     .rbuf = recvbuf,
                     .algo = algo,
                     .peer = -1};
    rcomm_status_t st;
    bool generic = true;
    size_t bytes;

    if ((st = coll_check_common(comm, &c, 1)) != RCOMM_OK)
        return st;
    if ((unsigned)algo >= RCOMM_ALGO_COUNT)
        return base_err(RCOMM_ERR_INVALID_ARG, "%s: rank %d: algo %d is not valid", fn,
                        comm->rank, (int)algo);
    if ((st = coll_check_inout(comm, &c)) != RCOMM_OK)
        return st;
    bytes = count * rcomm_dtype_size(dtype);
    switch (coll_allreduce_path(comm, &c, !req)) {
    case COLL_PATH_SLOTS:
        st = coll_slots_allreduce(comm, &c);
        coll_state(comm)->in_mbox = false;
        return st;
    case COLL_PATH_MAPPED:
    case COLL_PATH_STAGED:
        st = coll_mapped_allreduce(comm, &c, &generic);
        coll_state(comm)->in_mbox = false;
        if (st != RCOMM_OK || !generic)
            return st;
        break;
    case COLL_PATH_MAPPED_NB: c.mapped = true; break;
    case COLL_PATH_SCHED: break;
    }
    if (algo == RCOMM_ALGO_AUTO)
        c.algo = coll_select_allreduce_on(&coll_state(comm)->links,
                                          comm->cfg.allreduce_algo, bytes);
    return coll_run(comm, &c, req);
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
    if (comm_valid(comm, "rcomm_allreduce_algo") != RCOMM_OK)
        return RCOMM_ERR_INVALID_ARG;
    if (!algo)
        return base_err(RCOMM_ERR_INVALID_ARG, "rcomm_allreduce_algo: algo is NULL");
    if ((unsigned)dtype >= RCOMM_DTYPE_COUNT)
        return base_err(RCOMM_ERR_INVALID_ARG,
                        "rcomm_allreduce_algo: dtype %d is not valid", (int)dtype);
    *algo = coll_select_allreduce_on(&coll_state(comm)->links, comm->cfg.allreduce_algo,
                                     count * rcomm_dtype_size(dtype));
    return RCOMM_OK;
}

static rcomm_status_t broadcast(rcomm_comm_t *comm, void *buf, size_t count,
                                rcomm_dtype_t dtype, int root, const char *fn,
                                rcomm_request_t **req)
{
    coll_call_t c = {.fn = fn,
                     .desc = {COLL_BROADCAST, dtype, 0, root, count},
                     .sbuf = buf,
                     .rbuf = buf,
                     .peer = -1};
    rcomm_status_t st;

    if ((st = coll_check_common(comm, &c, 0)) != RCOMM_OK ||
        (st = coll_check_buf(comm, &c, buf, "buf")) != RCOMM_OK)
        return st;
    if ((st = coll_check_root(comm, &c)) != RCOMM_OK)
        return st;
    return coll_run(comm, &c, req);
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
    coll_call_t c = {.fn = fn,
                     .desc = {COLL_ALLGATHER, dtype, 0, 0, count},
                     .sbuf = sendbuf,
                     .rbuf = recvbuf,
                     .peer = -1};
    rcomm_status_t st;
    size_t bytes;

    if ((st = coll_check_common(comm, &c, 0)) != RCOMM_OK ||
        (st = coll_check_buf(comm, &c, recvbuf, "recvbuf")) != RCOMM_OK)
        return st;
    bytes = count * rcomm_dtype_size(dtype);
    if (sendbuf == RCOMM_IN_PLACE) {
        c.sbuf = (const char *)recvbuf + (size_t)comm->rank * bytes;
        return coll_run(comm, &c, req);
    }
    if ((st = coll_check_buf(comm, &c, sendbuf, "sendbuf")) != RCOMM_OK)
        return st;
    if (coll_overlap(c.sbuf, bytes, c.rbuf, bytes * (size_t)comm->size))
        return base_err(RCOMM_ERR_INVALID_ARG,
                        "%s: rank %d: sendbuf overlaps recvbuf (use RCOMM_IN_PLACE)", fn,
                        comm->rank);
    return coll_run(comm, &c, req);
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
    coll_call_t c = {.fn = fn,
                     .desc = {COLL_REDUCE_SCATTER, dtype, op, 0, count},
                     .sbuf = sendbuf,
                     .rbuf = recvbuf,
                     .peer = -1};
    rcomm_status_t st;
    size_t bytes;

    if ((st = coll_check_common(comm, &c, 1)) != RCOMM_OK ||
        (st = coll_check_buf(comm, &c, recvbuf, "recvbuf")) != RCOMM_OK)
        return st;
    bytes = count * rcomm_dtype_size(dtype);
    if (sendbuf == RCOMM_IN_PLACE) {
        c.sbuf = recvbuf;
        c.rbuf = (char *)recvbuf + (size_t)comm->rank * bytes;
        return coll_run(comm, &c, req);
    }
    if ((st = coll_check_buf(comm, &c, sendbuf, "sendbuf")) != RCOMM_OK)
        return st;
    if (coll_overlap(c.sbuf, bytes * (size_t)comm->size, c.rbuf, bytes))
        return base_err(RCOMM_ERR_INVALID_ARG,
                        "%s: rank %d: sendbuf overlaps recvbuf (use RCOMM_IN_PLACE)", fn,
                        comm->rank);
    return coll_run(comm, &c, req);
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
    coll_call_t c = {.fn = "hook_exchange",
                     .desc = {COLL_EXCHANGE, RCOMM_U8, 0, 0, bytes},
                     .sbuf = sendbuf,
                     .rbuf = recvbuf,
                     .peer = peer};
    rcomm_status_t st;

    if ((st = coll_check_common(comm, &c, 0)) != RCOMM_OK)
        return st;
    if (peer >= comm->size || peer == comm->rank || peer < -1)
        return base_err(RCOMM_ERR_INVALID_ARG,
                        "hook_exchange: rank %d: peer %d is not another rank", comm->rank,
                        peer);
    if (peer >= 0 && ((st = coll_check_buf(comm, &c, sendbuf, "sendbuf")) != RCOMM_OK ||
                      (st = coll_check_buf(comm, &c, recvbuf, "recvbuf")) != RCOMM_OK))
        return st;
    return coll_run(comm, &c, NULL);
}

rcomm_status_t hook_exchange(rcomm_comm_t *comm, int peer, const void *sendbuf,
                             void *recvbuf, size_t bytes)
{
    return COMM_LOCKED(comm, exchange(comm, peer, sendbuf, recvbuf, bytes));
}

static rcomm_status_t barrier(rcomm_comm_t *comm, const char *fn, rcomm_request_t **req)
{
    coll_call_t c = {.fn = fn, .desc = {COLL_BARRIER, RCOMM_U8, 0, 0, 0}, .peer = -1};
    rcomm_status_t st;

    if ((st = comm_check(comm, c.fn)) != RCOMM_OK)
        return st;
    return coll_run(comm, &c, req);
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
