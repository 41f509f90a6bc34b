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
    [EXACT_REDUCE] = {"reduce", "rcomm-reduce-perf",
                      PERF_COLL_REDUCES | PERF_COLL_ROOTED},
    [EXACT_GATHER] = {"gather", "rcomm-gather-perf", PERF_COLL_BLOCKS | PERF_COLL_ROOTED},
    [EXACT_SCATTER] = {"scatter", "rcomm-scatter-perf",
                       PERF_COLL_BLOCKS | PERF_COLL_ROOTED},
    [EXACT_ALLTOALL] = {"alltoall", "rcomm-alltoall-perf", PERF_COLL_BLOCKS},
    [EXACT_SENDRECV] = {"sendrecv", "rcomm-sendrecv-perf", PERF_COLL_NO_IN_PLACE},
};

double perf_coll_bus_factor(exact_coll_t coll, int p)
{
    switch (coll) {
    case EXACT_ALLREDUCE: return 2.0 * (p - 1) / p;
    case EXACT_BROADCAST:
    case EXACT_REDUCE:
    case EXACT_SENDRECV: return 1;
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

int perf_coll_placements(exact_coll_t coll)
{
    return perf_coll_info[coll].flags & PERF_COLL_NO_IN_PLACE ? 1 : 2;
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

/* In place (see exact_inputs.h for where the input lies): RCOMM_IN_PLACE where
 * rcomm.h takes it. Only the root of a rooted collective may pass it, so in
 * place the others send from (gather: their block of) rbuf, or receive
 * (scatter) into their block of it. rcomm's broadcast has one buffer: out
 * of place the root first copies its send buffer into it, inside the timed
 * call, as an out-of-place broadcast must. */
rcomm_status_t perf_coll_run(const perf_coll_t *c, const char *sbuf, char *rbuf, size_t n,
                             int in_place)
{
    const void *in = in_place ? RCOMM_IN_PLACE : sbuf;
    const size_t block = n * rcomm_dtype_size(c->dtype);
    const int root = c->rank == c->root, p = c->size;
    rcomm_comm_t *comm = c->comm;

    switch (c->coll) {
    case EXACT_ALLREDUCE:
        if (c->nonblocking) {
            rcomm_request_t *req;
            rcomm_status_t st =
                rcomm_iallreduce(comm, in, rbuf, n, c->dtype, c->op, c->algo, &req);
            return st != RCOMM_OK ? st : rcomm_wait(req);
        }
        return rcomm_allreduce_with(comm, in, rbuf, n, c->dtype, c->op, c->algo);
    case EXACT_BROADCAST:
        if (!in_place && root)
            memcpy(rbuf, sbuf, block);
        return rcomm_broadcast(comm, rbuf, n, c->dtype, c->root);
    case EXACT_ALLGATHER: return rcomm_allgather(comm, in, rbuf, n, c->dtype);
    case EXACT_REDUCE_SCATTER:
        return rcomm_reduce_scatter(comm, in, rbuf, n, c->dtype, c->op);
    case EXACT_REDUCE:
        if (in_place && !root)
            in = rbuf;
        return rcomm_reduce(comm, in, rbuf, n, c->dtype, c->op, c->root);
    case EXACT_GATHER:
        if (in_place && !root)
            in = rbuf + (size_t)c->rank * block;
        return rcomm_gather(comm, in, rbuf, n, c->dtype, c->root);
    case EXACT_SCATTER:
        if (!in_place)
            return rcomm_scatter(comm, sbuf, rbuf, n, c->dtype, c->root);
        return rcomm_scatter(comm, rbuf,
                             root ? RCOMM_IN_PLACE : rbuf + (size_t)c->rank * block, n,
                             c->dtype, c->root);
    case EXACT_ALLTOALL: return rcomm_alltoall(comm, in, rbuf, n, c->dtype);
    case EXACT_SENDRECV:
        return rcomm_sendrecv(comm, sbuf, n, (c->rank + 1) % p, rbuf, n,
                              (c->rank + p - 1) % p, c->dtype, 0);
    default: return RCOMM_ERR_INVALID_ARG;
    }
}

/* Allreduce and reduce are chosen by the cost model (allreduce: unless -a
 * forces one), as broadcast is (coll_select_broadcast inside the library);
 * the others have one algorithm each. */
const char *perf_coll_algo(const perf_coll_t *c, size_t n, const void *sbuf, void *rbuf)
{
    const size_t bytes = n * rcomm_dtype_size(c->dtype);
    rcomm_algo_t used = c->algo;
    const char *path;

    switch (c->coll) {
    case EXACT_ALLREDUCE:
        if (used == RCOMM_ALGO_AUTO &&
            (path =
                 hook_allreduce_path(c->comm, sbuf, rbuf, n, c->dtype, !c->nonblocking)))
            return path;
        if (used == RCOMM_ALGO_AUTO)
            rcomm_allreduce_algo(c->comm, n, c->dtype, &used);
        return rcomm_algo_name(used);
    case EXACT_BROADCAST: return base_bcast_algo_name(hook_bcast_algo(c->comm, bytes));
    case EXACT_REDUCE:
        return base_reduce_algo_name(coll_select_reduce(
            hook_model(c->comm), hook_config(c->comm)->reduce_algo, c->size, bytes));
    case EXACT_GATHER:
    case EXACT_SCATTER: return "binomial";
    case EXACT_ALLTOALL: return "pairwise";
    case EXACT_SENDRECV: return "p2p";
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
