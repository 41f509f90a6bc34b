/* SPDX-License-Identifier: BSD-3-Clause */
/* The collectives of the nccl-tests-style benchmark (coll_ops.h). */
#include "perf/coll_ops.h"

#include <string.h>

#include "hooks/hooks.h"

const perf_coll_info_t perf_coll_info[EXACT_COLL_COUNT] = {
    [EXACT_ALLREDUCE] = {"allreduce", "rcomm-allreduce-perf", PERF_COLL_REDUCES},
    [EXACT_BROADCAST] = {"broadcast", "rcomm-broadcast-perf", PERF_COLL_ROOTED},
    [EXACT_ALLGATHER] = {"allgather", "rcomm-allgather-perf", PERF_COLL_BLOCKS},
    [EXACT_REDUCE_SCATTER] = {"reduce-scatter", "rcomm-reduce-scatter-perf",
                              PERF_COLL_REDUCES | PERF_COLL_BLOCKS},
};

double perf_coll_bus_factor(exact_coll_t coll, int p)
{
    switch (coll) {
    case EXACT_ALLREDUCE: return 2.0 * (p - 1) / p;
    case EXACT_BROADCAST: return 1;
    default: return (double)(p - 1) / p;
    }
}

static size_t blocks(const perf_coll_t *c)
{
    return perf_coll_info[c->coll].flags & PERF_COLL_BLOCKS ? (size_t)c->size : 1;
}

size_t perf_coll_count(const perf_coll_t *c, size_t bytes)
{
    return bytes / rcomm_dtype_size(c->dtype) / blocks(c);
}

size_t perf_coll_bytes(const perf_coll_t *c, size_t count)
{
    return count * rcomm_dtype_size(c->dtype) * blocks(c);
}

int perf_coll_root_column(const perf_coll_t *c)
{
    return perf_coll_info[c->coll].flags & PERF_COLL_ROOTED ? c->root : -1;
}

const char *perf_coll_redop(const perf_coll_t *c)
{
    return perf_coll_info[c->coll].flags & PERF_COLL_REDUCES ? rcomm_op_name(c->op)
                                                             : "none";
}

/* In place: allreduce and broadcast work in the receive buffer; allgather
 * finds each rank's block at recvbuf + rank * count, reduce-scatter its input
 * in recvbuf and its result at recvbuf + rank * count (see rcomm.h). rcomm's
 * broadcast has one buffer, so out of place the root first copies its send
 * buffer into it, inside the timed call, as an out-of-place broadcast must. */
rcomm_status_t perf_coll_run(const perf_coll_t *c, const char *sbuf, char *rbuf, size_t n,
                             int in_place)
{
    const void *in = in_place ? RCOMM_IN_PLACE : sbuf;
    const size_t block = n * rcomm_dtype_size(c->dtype);
    const int root = c->rank == c->root;
    rcomm_comm_t *comm = c->comm;

    switch (c->coll) {
    case EXACT_ALLREDUCE:
        return rcomm_allreduce_with(comm, in, rbuf, n, c->dtype, c->op, c->algo);
    case EXACT_BROADCAST:
        if (!in_place && root)
            memcpy(rbuf, sbuf, block);
        return rcomm_broadcast(comm, rbuf, n, c->dtype, c->root);
    case EXACT_ALLGATHER: return rcomm_allgather(comm, in, rbuf, n, c->dtype);
    case EXACT_REDUCE_SCATTER:
        return rcomm_reduce_scatter(comm, in, rbuf, n, c->dtype, c->op);
    default: return RCOMM_ERR_INVALID_ARG;
    }
}

/* Allreduce is chosen by the cost model (unless -a forces one), as broadcast
 * is (coll_select_broadcast inside the library); allgather and
 * reduce-scatter have one algorithm. */
const char *perf_coll_algo(const perf_coll_t *c, size_t n)
{
    const size_t bytes = n * rcomm_dtype_size(c->dtype);
    rcomm_algo_t used = c->algo;

    switch (c->coll) {
    case EXACT_ALLREDUCE:
        if (used == RCOMM_ALGO_AUTO)
            rcomm_allreduce_algo(c->comm, n, c->dtype, &used);
        return rcomm_algo_name(used);
    case EXACT_BROADCAST: return base_bcast_algo_name(hook_bcast_algo(c->comm, bytes));
    default: return "ring"; /* allgather, reduce-scatter */
    }
}

rcomm_status_t perf_coll_check(const perf_coll_t *c, char *sbuf, char *rbuf, size_t n,
                               int in_place, size_t *wrong)
{
    const exact_call_t call = {c->coll, c->dtype, c->op, c->root, c->rank, c->size, n};
    rcomm_status_t st;

    exact_fill_call(&call, sbuf, rbuf, in_place);
    if ((st = perf_coll_run(c, sbuf, rbuf, n, in_place)) == RCOMM_OK)
        *wrong = exact_count_wrong(&call, rbuf, in_place);
    return st;
}
