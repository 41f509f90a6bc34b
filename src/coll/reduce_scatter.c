/* SPDX-License-Identifier: BSD-3-Clause */
/* Reduce-scatter: the ring reduce-scatter phase (ring.c) over blocks of count
 * elements; partial blocks travel through a two-block double buffer, so
 * recvbuf needs to hold only the result.
 *   cost = (p-1) alpha + (p-1) n beta + (p-1) n gamma, n = bytes per block */
#include "coll/coll.h"

rcomm_status_t rcomm_reduce_scatter_build(rcomm_sched_t *s, const char *sbuf, char *rbuf)
{
    const int p = s->comm->size;
    const size_t n = s->desc.count;
    const rcomm_blocks_t bl = {n * (size_t)p, p, n};
    rcomm_sop_id_t rs;

    rs = rcomm_ring_reduce_scatter(s, &bl, sbuf, NULL, 0, rbuf, RCOMM_SOP_NONE);
    if (s->desc.op == RCOMM_AVG && n > 0)
        rcomm_sched_dep(s, rcomm_sched_finish(s, rbuf, n), rs);
    return RCOMM_OK;
}
