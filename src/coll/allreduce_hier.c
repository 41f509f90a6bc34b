/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Hierarchical AllReduce, for H hosts of L ranks each (comm->host_of: the
 * ranks that share memory): the network carries only what crosses hosts,
 * in 2 (H-1) steps instead of a flat ring's 2 (HL-1).
 *   1. ring reduce-scatter among the L ranks of a host: the host's i-th
 *      rank holds block i of the host's sum;
 *   2. ring allreduce (reduce-scatter + allgather) of block i among the H
 *      ranks that are i-th on their host, one per host: block i of the sum;
 *   3. ring allgather among the host's ranks.
 *
 * 2 hosts x 2 ranks, ranks 0 and 1 on host A, 2 and 3 on host B, a vector
 * of blocks [x y]:
 *   step 1   rank 0: x0+x1   rank 1: y0+y1   rank 2: x2+x3   rank 3: y2+y3
 *   step 2   ranks 0 and 2 exchange halves of x: both hold x0+x1+x2+x3;
 *            ranks 1 and 3 do the same with y
 *   step 3   ranks 0 and 1 swap x and y; ranks 2 and 3 likewise.
 *
 * Cost, n bytes, alpha/beta of shared memory (s) and of the network (w):
 *   2 (L-1) alpha_s + 2 (L-1)/L n beta_s + (L-1)/L n gamma
 *   + 2 (H-1) alpha_w + 2 (H-1)/(HL) n beta_w + (H-1)/(HL) n gamma
 * Each host's link carries L streams of 2 (H-1)/(HL) n, as much as a flat
 * ring of host-ordered ranks puts on it; what is saved is the network's
 * latency steps. Hosts of unequal sizes, or one rank per host, run the flat
 * ring instead.
 */
#include "coll/coll.h"
#include "coll/colls.h"

rcomm_status_t coll_allreduce_hier_build(coll_sched_t *s, const char *sbuf, char *rbuf)
{
    const rcomm_comm_t *c = s->comm;
    const int L = coll_state(c)->links.per_host, H = c->nhosts, me = c->rank,
              host = c->host_of[me];
    const size_t es = s->esize;
    int *local, *cross, li = 0;
    coll_group_t gl, gx;
    coll_blocks_t bl, bx;
    size_t off, len, off2, len2;
    coll_sop_id_t rs, fin, ag;
    char *blk;

    if (!L)
        return coll_allreduce_ring_build(s, sbuf, rbuf);
    local = coll_sched_scratch(s, (size_t)(L + H) * sizeof(int));
    if (!local)
        return RCOMM_ERR_NO_MEMORY;
    cross = local + L;
    /* Our host's ranks in rank order, then each host's rank of our index. */
    for (int r = 0, n = 0; r < c->size; r++)
        if (c->host_of[r] == host) {
            li = r == me ? n : li;
            local[n++] = r;
        }
    for (int h = 0; h < H; h++)
        for (int r = 0, n = 0; r < c->size; r++)
            if (c->host_of[r] == h && n++ == li)
                cross[h] = r;
    gl = (coll_group_t){L, li, local};
    gx = (coll_group_t){H, host, cross};
    bl = (coll_blocks_t){s->desc.count, L, 0, NULL, NULL, &gl};
    coll_block(&bl, li, &off, &len);
    blk = rbuf + off * es;
    rs = coll_ring_reduce_scatter(s, &bl, sbuf, rbuf, 1, blk, COLL_SOP_NONE);
    if (len == 0) { /* fewer elements than ranks per host: nothing to cross */
        coll_ring_allgather(s, &bl, blk, rbuf, rs);
        return RCOMM_OK;
    }
    bx = (coll_blocks_t){len, H, 0, NULL, NULL, &gx};
    coll_block(&bx, host, &off2, &len2);
    rs = coll_ring_reduce_scatter(s, &bx, blk, blk, 1, blk + off2 * es, rs);
    fin = rs;
    if (s->desc.op == RCOMM_AVG && len2 > 0) {
        fin = coll_sched_finish(s, blk + off2 * es, len2);
        coll_sched_dep(s, fin, rs);
    }
    ag = coll_ring_allgather(s, &bx, blk + off2 * es, blk, fin);
    coll_ring_allgather(s, &bl, blk, rbuf, ag);
    return RCOMM_OK;
}
