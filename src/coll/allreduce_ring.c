/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Ring AllReduce: ring reduce-scatter, then ring allgather (see ring.c for the
 * worked example). Bandwidth-optimal: every rank sends and receives
 * 2 (p-1)/p n bytes, whatever p, but it takes 2 (p-1) latency steps.
 *   cost = 2 (p-1) alpha + 2 (p-1)/p n beta + (p-1)/p n gamma
 * Partial sums are kept in recvbuf, so in-place and out-of-place are the
 * same schedule.
 */
#include "coll/coll.h"

rcomm_status_t coll_allreduce_ring_build(coll_sched_t *s, const char *sbuf, char *rbuf)
{
    const int p = s->comm->size, r = s->comm->rank;
    const coll_blocks_t bl = {s->desc.count, p, 0, NULL, NULL, NULL};
    size_t off, len;
    coll_sop_id_t rs, fin;

    coll_block(&bl, r, &off, &len);
    rs = coll_ring_reduce_scatter(s, &bl, sbuf, rbuf, 1, rbuf + off * s->esize,
                                  COLL_SOP_NONE);
    fin = rs;
    if (s->desc.op == RCOMM_AVG && len > 0) {
        fin = coll_sched_finish(s, rbuf + off * s->esize, len);
        coll_sched_dep(s, fin, rs);
    }
    coll_ring_allgather(s, &bl, rbuf + off * s->esize, rbuf, fin);
    return RCOMM_OK;
}
