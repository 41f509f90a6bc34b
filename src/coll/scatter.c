/* SPDX-License-Identifier: BSD-3-Clause */
/* Scatter by binomial tree (tree.c), gather's mirror: block r of the root's
 * sendbuf (count elements at sendbuf + r * count) to rank r. The root sends
 * straight from sendbuf and every rank's own block lands straight in its
 * recvbuf; relays forward their subtree's blocks from scratch.
 *   cost ~ ceil(lg p) alpha + (p-1) n beta, n = bytes per rank */
#include "coll/coll.h"

rcomm_status_t coll_scatter_build(coll_sched_t *s, const char *sbuf, char *rbuf)
{
    const int p = s->comm->size, root = s->desc.root;
    const size_t n = s->desc.count, es = s->esize;
    const coll_blocks_t bl = {n * (size_t)p, p, n, NULL, NULL, NULL};
    coll_tree_t t;

    if (coll_tree_init(&t, s, &bl, (char *)sbuf) != 0)
        return RCOMM_OK; /* out of memory: recorded, start fails */
    t.own = rbuf;
    if (t.v == 0)
        coll_sched_copy(s, rbuf, sbuf + (size_t)root * n * es, n * es);
    coll_tree_scatter(s, &t, COLL_SOP_NONE);
    return RCOMM_OK;
}
