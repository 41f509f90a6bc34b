/* SPDX-License-Identifier: BSD-3-Clause */
/* Entry points of all-to-all and the variable-count calls. Counts and
 * displacements are checked here, whole, before anything is sent: every
 * block inside the address space, receive blocks disjoint, the send and
 * receive areas apart unless in place. */
#include "coll/call.h"

#include <stdlib.h>

#include "base/error.h"

/* A 32-bit digest of the counts (FNV-1a): what allgatherv's envelopes carry
 * so that ranks can tell whether they agree. */
static uint32_t counts_hash(const size_t *counts, int n)
{
    uint64_t h = 14695981039346656037ull;

    for (int i = 0; i < n; i++)
        for (int b = 0; b < 8; b++) {
            h ^= (uint64_t)counts[i] >> (8 * b) & 0xff;
            h *= 1099511628211ull;
        }
    return (uint32_t)(h ^ h >> 32);
}

typedef struct {
    size_t *displs; /* the caller's, or packed ones made here */
    size_t extent;  /* elements up to the end of the last block */
    size_t total;   /* sum of the counts */
    void *owned;
} vlayout_t;

typedef struct {
    size_t displ;
    int block;
} vblock_t;

static int by_displ(const void *a, const void *b)
{
    size_t x = ((const vblock_t *)a)->displ, y = ((const vblock_t *)b)->displ;
    return x < y ? -1 : x > y;
}

/* Check counts[] and displs[] (NULL: packed) for p blocks of es bytes and
 * describe them; with disjoint set, no two non-empty blocks may overlap. The
 * caller frees l->owned, whatever the outcome. */
static rcomm_status_t vlayout(const rcomm_comm_t *comm, const char *fn, const char *cname,
                              const char *dname, const size_t *counts,
                              const size_t *displs, size_t es, int disjoint, vlayout_t *l)
{
    const int p = comm->size;
    const size_t max = SIZE_MAX / 8 / es;
    vblock_t *order;
    size_t n = 0;

    l->owned = NULL;
    l->extent = l->total = 0;
    if (!counts)
        return base_err(RCOMM_ERR_INVALID_ARG, "%s: rank %d: %s is NULL", fn, comm->rank,
                        cname);
    if (!displs && !(l->owned = malloc((size_t)p * sizeof(size_t))))
        return base_err(RCOMM_ERR_NO_MEMORY, "%s: rank %d: out of memory", fn,
                        comm->rank);
    l->displs = displs ? (size_t *)displs : l->owned;
    for (int i = 0; i < p; i++) {
        if (!displs)
            l->displs[i] = l->total;
        if (counts[i] > max || l->displs[i] > max - counts[i] ||
            l->total > max - counts[i])
            return base_err(RCOMM_ERR_INVALID_ARG,
                            "%s: rank %d: %s[%d] = %zu with %s[%d] = %zu is too large",
                            fn, comm->rank, cname, i, counts[i], dname, i, l->displs[i]);
        l->total += counts[i];
        if (l->displs[i] + counts[i] > l->extent)
            l->extent = l->displs[i] + counts[i];
    }
    if (!disjoint || !displs)
        return RCOMM_OK;
    /* Sort the non-empty blocks by displacement: neighbours must not overlap. */
    if (!(order = malloc((size_t)p * sizeof(*order))))
        return base_err(RCOMM_ERR_NO_MEMORY, "%s: rank %d: out of memory", fn,
                        comm->rank);
    for (int i = 0; i < p; i++)
        if (counts[i])
            order[n++] = (vblock_t){displs[i], i};
    qsort(order, n, sizeof(*order), by_displ);
    for (size_t k = 1; k < n; k++) {
        int a = order[k - 1].block, b = order[k].block;
        if (displs[a] + counts[a] > displs[b]) {
            free(order);
            return base_err(
                RCOMM_ERR_INVALID_ARG,
                "%s: rank %d: receive blocks %d and %d overlap (%s %zu + %zu > "
                "%zu)",
                fn, comm->rank, a, b, dname, displs[a], counts[a], displs[b]);
        }
    }
    free(order);
    return RCOMM_OK;
}

static rcomm_status_t alltoallv(rcomm_comm_t *comm, const void *sendbuf,
                                const size_t *sendcounts, const size_t *sdispls,
                                void *recvbuf, const size_t *recvcounts,
                                const size_t *rdispls, rcomm_dtype_t dtype, int v,
                                const char *fn, rcomm_request_t **req)
{
    coll_call_t c = {.fn = fn,
                     .desc = {v ? COLL_ALLTOALLV : COLL_ALLTOALL, dtype, 0, 0, 0},
                     .sbuf = sendbuf,
                     .rbuf = recvbuf};
    const int in_place = sendbuf == RCOMM_IN_PLACE, r = comm ? comm->rank : 0;
    vlayout_t rl = {0}, sl = {0};
    size_t es;
    rcomm_status_t st;

    if ((st = coll_check_common(comm, &c, 0)) != RCOMM_OK)
        return st;
    es = rcomm_dtype_size(dtype);
    if ((st = vlayout(comm, fn, "recvcounts", "rdispls", recvcounts, rdispls, es, 1,
                      &rl)) != RCOMM_OK)
        goto out;
    if (!in_place && (st = vlayout(comm, fn, "sendcounts", "sdispls", sendcounts, sdispls,
                                   es, 0, &sl)) != RCOMM_OK)
        goto out;
    c.rcounts = recvcounts;
    c.rdispls = rl.displs;
    c.scounts = in_place ? recvcounts : sendcounts;
    c.sdispls = in_place ? rl.displs : sl.displs;
    c.desc.count = v ? rl.total : recvcounts[0];
    st = RCOMM_ERR_INVALID_ARG;
    if (c.scounts[r] != recvcounts[r]) {
        base_err(st,
                 "%s: rank %d: sendcounts[%d] = %zu but recvcounts[%d] = %zu (its own "
                 "block must keep its size)",
                 fn, r, r, c.scounts[r], r, recvcounts[r]);
        goto out;
    }
    if (rl.extent && !recvbuf) {
        base_err(st, "%s: rank %d: recvbuf is NULL for %zu elements", fn, r, rl.extent);
        goto out;
    }
    if (in_place) {
        c.sbuf = recvbuf;
    } else if (sl.extent && !sendbuf) {
        base_err(st, "%s: rank %d: sendbuf is NULL for %zu elements", fn, r, sl.extent);
        goto out;
    } else if (sendbuf != recvbuf &&
               coll_overlap(sendbuf, sl.extent * es, recvbuf, rl.extent * es)) {
        base_err(st, "%s: rank %d: sendbuf overlaps recvbuf (use RCOMM_IN_PLACE)", fn, r);
        goto out;
    }
    st = coll_run(comm, &c, req);
out:
    free(rl.owned);
    free(sl.owned);
    return st;
}

static rcomm_status_t alltoall(rcomm_comm_t *comm, const void *sendbuf, void *recvbuf,
                               size_t count, rcomm_dtype_t dtype, const char *fn,
                               rcomm_request_t **req)
{
    const int p = comm ? comm->size : 0;
    coll_call_t c = {.fn = fn, .desc = {COLL_ALLTOALL, dtype, 0, 0, count}};
    size_t *counts;
    rcomm_status_t st;

    if ((st = coll_check_common(comm, &c, 0)) != RCOMM_OK)
        return st;
    if (!(counts = malloc((size_t)p * sizeof(size_t))))
        return base_err(RCOMM_ERR_NO_MEMORY, "%s: rank %d: out of memory", fn,
                        comm->rank);
    for (int i = 0; i < p; i++)
        counts[i] = count;
    st = alltoallv(comm, sendbuf, counts, NULL, recvbuf, counts, NULL, dtype, 0, fn, req);
    free(counts);
    return st;
}

rcomm_status_t rcomm_alltoall(rcomm_comm_t *comm, const void *sendbuf, void *recvbuf,
                              size_t count, rcomm_dtype_t dtype)
{
    return COMM_LOCKED(
        comm, alltoall(comm, sendbuf, recvbuf, count, dtype, "rcomm_alltoall", NULL));
}

rcomm_status_t rcomm_ialltoall(rcomm_comm_t *comm, const void *sendbuf, void *recvbuf,
                               size_t count, rcomm_dtype_t dtype, rcomm_request_t **req)
{
    if (!req)
        return base_err(RCOMM_ERR_INVALID_ARG, "rcomm_ialltoall: req is NULL");
    return COMM_LOCKED(
        comm, alltoall(comm, sendbuf, recvbuf, count, dtype, "rcomm_ialltoall", req));
}

rcomm_status_t rcomm_alltoallv(rcomm_comm_t *comm, const void *sendbuf,
                               const size_t *sendcounts, const size_t *sdispls,
                               void *recvbuf, const size_t *recvcounts,
                               const size_t *rdispls, rcomm_dtype_t dtype)
{
    return COMM_LOCKED(comm,
                       alltoallv(comm, sendbuf, sendcounts, sdispls, recvbuf, recvcounts,
                                 rdispls, dtype, 1, "rcomm_alltoallv", NULL));
}

rcomm_status_t rcomm_ialltoallv(rcomm_comm_t *comm, const void *sendbuf,
                                const size_t *sendcounts, const size_t *sdispls,
                                void *recvbuf, const size_t *recvcounts,
                                const size_t *rdispls, rcomm_dtype_t dtype,
                                rcomm_request_t **req)
{
    if (!req)
        return base_err(RCOMM_ERR_INVALID_ARG, "rcomm_ialltoallv: req is NULL");
    return COMM_LOCKED(comm,
                       alltoallv(comm, sendbuf, sendcounts, sdispls, recvbuf, recvcounts,
                                 rdispls, dtype, 1, "rcomm_ialltoallv", req));
}

static rcomm_status_t allgatherv(rcomm_comm_t *comm, const void *sendbuf,
                                 size_t sendcount, void *recvbuf,
                                 const size_t *recvcounts, const size_t *displs,
                                 rcomm_dtype_t dtype, const char *fn,
                                 rcomm_request_t **req)
{
    coll_call_t c = {.fn = fn,
                     .desc = {COLL_ALLGATHERV, dtype, 0, 0, 0},
                     .sbuf = sendbuf,
                     .rbuf = recvbuf};
    const int r = comm ? comm->rank : 0;
    vlayout_t l;
    size_t es;
    rcomm_status_t st;

    if ((st = coll_check_common(comm, &c, 0)) != RCOMM_OK)
        return st;
    es = rcomm_dtype_size(dtype);
    if ((st = vlayout(comm, fn, "recvcounts", "displs", recvcounts, displs, es, 1, &l)) !=
        RCOMM_OK) {
        free(l.owned);
        return st;
    }
    c.rcounts = recvcounts;
    c.rdispls = l.displs;
    c.desc.count = l.total;
    c.desc.root = (int)counts_hash(recvcounts, comm->size);
    st = RCOMM_ERR_INVALID_ARG;
    if (l.extent && !recvbuf) {
        base_err(st, "%s: rank %d: recvbuf is NULL for %zu elements", fn, r, l.extent);
    } else if (sendbuf == RCOMM_IN_PLACE) {
        c.sbuf = coll_at(recvbuf, l.displs[r] * es);
        st = coll_run(comm, &c, req);
    } else if (sendcount != recvcounts[r]) {
        base_err(st, "%s: rank %d: sendcount %zu differs from recvcounts[%d] = %zu", fn,
                 r, sendcount, r, recvcounts[r]);
    } else if (sendcount && !sendbuf) {
        base_err(st, "%s: rank %d: sendbuf is NULL with sendcount %zu", fn, r, sendcount);
    } else if (coll_overlap(sendbuf, sendcount * es, recvbuf, l.extent * es)) {
        base_err(st, "%s: rank %d: sendbuf overlaps recvbuf (use RCOMM_IN_PLACE)", fn, r);
    } else {
        st = coll_run(comm, &c, req);
    }
    free(l.owned);
    return st;
}

rcomm_status_t rcomm_allgatherv(rcomm_comm_t *comm, const void *sendbuf, size_t sendcount,
                                void *recvbuf, const size_t *recvcounts,
                                const size_t *displs, rcomm_dtype_t dtype)
{
    return COMM_LOCKED(comm, allgatherv(comm, sendbuf, sendcount, recvbuf, recvcounts,
                                        displs, dtype, "rcomm_allgatherv", NULL));
}

rcomm_status_t rcomm_iallgatherv(rcomm_comm_t *comm, const void *sendbuf,
                                 size_t sendcount, void *recvbuf,
                                 const size_t *recvcounts, const size_t *displs,
                                 rcomm_dtype_t dtype, rcomm_request_t **req)
{
    if (!req)
        return base_err(RCOMM_ERR_INVALID_ARG, "rcomm_iallgatherv: req is NULL");
    return COMM_LOCKED(comm, allgatherv(comm, sendbuf, sendcount, recvbuf, recvcounts,
                                        displs, dtype, "rcomm_iallgatherv", req));
}
