/* SPDX-License-Identifier: BSD-3-Clause */
/* Gather by binomial tree (tree.c): count elements from every rank, block r
 * at recvbuf + r * count on the root. Leaves send straight from sendbuf,
 * and the root receives straight into recvbuf; relays forward their
 * subtree's blocks from scratch.
 *   cost ~ ceil(lg p) alpha + (p-1) n beta, n = bytes per rank */
#include "coll/coll.h"

rcomm_status_t coll_gather_build(coll_sched_t *s, const char *sbuf, char *rbuf)
{
    const int p = s->comm->size, root = s->desc.root;
    const size_t n = s->desc.count, es = s->esize;
    const coll_blocks_t bl = {n * (size_t)p, p, n, NULL, NULL, NULL};
    coll_tree_t t;

    if (coll_tree_init(&t, s, &bl, rbuf) != 0)
        return RCOMM_OK; /* out of memory: recorded, start fails */
    t.own = (char *)sbuf;
    if (t.v == 0)
        coll_sched_copy(s, rbuf + (size_t)root * n * es, sbuf, n * es);
    coll_tree_gather(s, &t, COLL_SOP_NONE);
    return RCOMM_OK;
}
