/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Neighbour averaging, one step of decentralized SGD's gossip:
 *   rbuf = w_ii sbuf + sum over in-neighbours j of w_ij x_j
 * Each rank sends its vector to its out-neighbours, straight from sbuf, and
 * receives each in-neighbour's into a ring of slots of one segment, in
 * segments, so that the weighted sum of segment k overlaps the transfer of
 * k + 1. Ring on 4 ranks, Metropolis-Hastings weights (1/3 each):
 *   rank 1 sends x_1 to 0 and 2, receives x_0 and x_2,
 *   rbuf = x_1 / 3, then += x_0 / 3, then += x_2 / 3.
 * The sum is taken in a fixed order, self then in-neighbours in increasing
 * rank, so a result depends on nothing but the inputs and the graph. It is
 * kept in reduce_acc_size's type: rbuf itself for f32 and f64 out of place,
 * else a ring of accumulator segments stored into rbuf (in place: once
 * the segment's sends are out). Integers are summed in f64.
 *   cost = alpha + max(out-degree, in-degree) n beta + in-degree n gamma
 * with n the bytes of the vector, against allreduce's 2 (p-1)/p n beta on a
 * ring: on a sparse graph it moves a constant amount per rank, whatever p.
 *
 * Only neighbours talk, so a rank compares its call (the envelope, whose
 * root is a hash of the graph and step) with its neighbours only; the graph
 * itself was compared across all ranks when it was created. Count 0 still
 * sends one empty message to each out-neighbour, for that comparison.
 */
#include <stdlib.h>

#include "coll/coll.h"
#include "reduce/reduce.h"

rcomm_status_t coll_neighbor_build(coll_sched_t *s, const char *sbuf, char *rbuf,
                                   const coll_nbr_t *nb)
{
    const size_t count = s->desc.count, es = s->esize, seg = coll_seg(s);
    const size_t as = reduce_acc_size(s->desc.dtype);
    /* f32 and f64 accumulate in rbuf itself (out of place): their
     * accumulator is their own type. i64's is f64: the same size, not the
     * same type. */
    const rcomm_dtype_t dt = s->desc.dtype;
    const int direct = (dt == RCOMM_F32 || dt == RCOMM_F64) && sbuf != rbuf;
    size_t depth = s->comm->cfg.pipeline_depth, nseg = (count + seg - 1) / seg;
    const size_t segn = count < seg ? count : seg; /* elements per slot */
    coll_sop_id_t *rel, *snd;
    char *slots, *accs = NULL;

    s->fan_in = nb->nin > 1;
    if (count == 0) {
        for (int k = 0; k < nb->nout; k++)
            coll_sched_send(s, nb->out[k], NULL, 0);
        for (int k = 0; k < nb->nin; k++)
            coll_sched_recv(s, nb->in[k], NULL, 0);
        return RCOMM_OK;
    }
    if (depth > COLL_MAX_SLOTS)
        depth = COLL_MAX_SLOTS;
    if (depth > nseg)
        depth = nseg;
    if (depth == 0)
        depth = 1;
    /* rel[k * depth + d]: the op after which slot d of in-neighbour k (k =
     * nin: accumulator segment d) may be written again; snd: this segment's
     * sends. */
    if (!(rel =
              malloc(((size_t)(nb->nin + 1) * depth + (size_t)nb->nout) * sizeof(*rel))))
        return RCOMM_ERR_NO_MEMORY;
    snd = rel + (size_t)(nb->nin + 1) * depth;
    for (size_t i = 0; i < (size_t)(nb->nin + 1) * depth; i++)
        rel[i] = COLL_SOP_NONE;
    slots = nb->nin ? coll_sched_scratch(s, (size_t)nb->nin * depth * segn * es) : NULL;
    if (!direct)
        accs = coll_sched_scratch(s, depth * segn * as);
    if ((nb->nin && !slots) || (!direct && !accs)) {
        free(rel);
        return RCOMM_OK; /* out of memory: recorded, start fails */
    }
    for (size_t i = 0, o = 0; o < count; i++, o += seg) {
        const size_t n = count - o < seg ? count - o : seg, d = i % depth;
        const char *x = sbuf + o * es;
        char *acc = direct ? rbuf + o * es : accs + d * segn * as;
        coll_sop_id_t a;

        for (int k = 0; k < nb->nout; k++)
            snd[k] = coll_sched_send(s, nb->out[k], x, n * es);
        a = coll_sched_axpy(s, acc, x, n, nb->self_w, 1);
        coll_sched_dep(s, a, rel[nb->nin * depth + d]);
        for (int k = 0; k < nb->nin; k++) {
            char *slot = slots + ((size_t)k * depth + d) * segn * es;
            coll_sop_id_t r = coll_sched_recv(s, nb->in[k], slot, n * es), next;

            coll_sched_dep(s, r, rel[k * depth + d]);
            next = coll_sched_axpy(s, acc, slot, n, nb->in_w[k], 0);
            coll_sched_dep(s, next, r);
            coll_sched_dep(s, next, a);
            a = rel[k * depth + d] = next;
        }
        if (!direct) {
            coll_sop_id_t st = coll_sched_store(s, rbuf + o * es, acc, n);
            coll_sched_dep(s, st, a);
            if (sbuf == rbuf) /* in place: x is rbuf's segment */
                for (int k = 0; k < nb->nout; k++)
                    coll_sched_dep(s, st, snd[k]);
            rel[nb->nin * depth + d] = st;
        }
    }
    free(rel);
    return RCOMM_OK;
}
