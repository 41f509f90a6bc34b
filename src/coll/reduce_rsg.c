/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Reduce by reduce-scatter then gather (Rabenseifner's reduce): the ring
 * reduce-scatter (ring.c) leaves rank r with block r reduced over all ranks,
 * and a binomial gather (tree.c) brings the p blocks to the root. Every rank
 * sends about 2 n bytes whatever p, where the binomial tree's relays each
 * send n bytes up to lg p times, so it wins for large messages.
 *   cost = (p-1) (alpha + n/p beta + n/p gamma) + ceil(lg p) alpha + (p-1)/p n beta
 * The root's reduced block is written in place in recvbuf and the gathered
 * blocks land there straight; relays hold their subtree's blocks in scratch.
 */
#include "coll/coll.h"

rcomm_status_t coll_reduce_rsg_build(coll_sched_t *s, const char *sbuf, char *rbuf)
{
    const int p = s->comm->size, r = s->comm->rank;
    const coll_blocks_t bl = {s->desc.count, p, 0, NULL, NULL, NULL};
    size_t off, len;
    coll_sop_id_t fin;
    coll_tree_t t;

    if (coll_tree_init(&t, s, &bl, rbuf) != 0)
        return RCOMM_OK; /* out of memory: recorded, start fails */
    coll_block(&bl, r, &off, &len);
    t.own = t.v == 0 ? rbuf + off * s->esize : t.buf;
    fin = coll_ring_reduce_scatter(s, &bl, sbuf, NULL, 0, t.own, COLL_SOP_NONE);
    if (s->desc.op == RCOMM_AVG && len > 0) {
        coll_sop_id_t rs = fin;
        fin = coll_sched_finish(s, t.own, len);
        coll_sched_dep(s, fin, rs);
    }
    /* At the root recvbuf may be sendbuf: gather into it once the
     * reduce-scatter has read it. */
    coll_tree_gather(s, &t, fin);
    return RCOMM_OK;
}
