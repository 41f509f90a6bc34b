/* SPDX-License-Identifier: BSD-3-Clause */
/* Reduce-scatter: the ring reduce-scatter phase (ring.c) over blocks of count
 * elements; partial blocks travel through a two-block double buffer, so
 * recvbuf needs to hold only the result.
 *   cost = (p-1) alpha + (p-1) n beta + (p-1) n gamma, n = bytes per block */
#include "coll/coll.h"

rcomm_status_t coll_reduce_scatter_build(coll_sched_t *s, const char *sbuf, char *rbuf)
{
    const int p = s->comm->size;
    const size_t n = s->desc.count;
    const coll_blocks_t bl = {n * (size_t)p, p, n, NULL, NULL, NULL};
    coll_sop_id_t rs;

    rs = coll_ring_reduce_scatter(s, &bl, sbuf, NULL, 0, rbuf, COLL_SOP_NONE);
    if (s->desc.op == RCOMM_AVG && n > 0)
        coll_sched_dep(s, coll_sched_finish(s, rbuf, n), rs);
    return RCOMM_OK;
}
