/* SPDX-License-Identifier: BSD-3-Clause */
/* Allgather: the ring allgather phase (ring.c) over blocks of count elements.
 *   cost = (p-1) alpha + (p-1) n beta, n = bytes contributed per rank */
#include "coll/coll.h"

rcomm_status_t coll_allgather_build(coll_sched_t *s, const char *sbuf, char *rbuf)
{
    const int p = s->comm->size, r = s->comm->rank;
    const size_t n = s->desc.count, es = s->esize;
    const coll_blocks_t bl = {n * (size_t)p, p, n, NULL, NULL, NULL};
    char *own = rbuf + (size_t)r * n * es;

    /* Our own block goes out from sendbuf while it is copied into place. */
    coll_sched_copy(s, own, sbuf, n * es);
    coll_ring_allgather(s, &bl, sbuf, rbuf, COLL_SOP_NONE);
    return RCOMM_OK;
}
