/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Direct AllReduce: reduce-scatter by sending block q straight to rank q,
 * then allgather by sending our finished block straight to every peer
 * (the "two-shot" of NCCL and Open MPI's shared-memory collectives).
 * Every rank moves what the ring moves, 2 (p-1)/p n bytes each way, but in
 * two steps instead of 2 (p-1): nothing waits on a neighbour's reduction.
 * That pays where a step costs more than its bytes: ranks that outnumber
 * the cores (every step of the ring waits for a descheduled neighbour),
 * and the transfers of shared memory, which are the receiver's copies.
 *   cost = 2 (p-1) msg(n/p) + (p-1) red(n/p), as the ring's
 * Each rank still sends and receives p-1 messages per phase, and the model
 * prices a message, not a wait, so the formulas never prefer this to the
 * ring; a measured rule does (select.c, profiles/shm.tuning).
 *
 * Our block r gathers the peers' contributions in a fixed order (r+1,
 * r+2, ...), so the result does not depend on arrival; every rank then
 * receives block q from rank q alone, so every rank has the same bits.
 *
 * Messages to a peer: first its block from our sendbuf, then our finished
 * block; the peer posts its receives in the same order (sched.h). In place,
 * the peer's finished block q lands where our contribution to it was: that
 * receive waits until our send of it is complete.
 */
#include "coll/coll.h"

/* Elements of the segment at o of a block of len (o < len). */
static size_t piece(size_t len, size_t o, size_t seg)
{
    return len - o < seg ? len - o : seg;
}

rcomm_status_t coll_allreduce_direct_build(coll_sched_t *s, const char *sbuf, char *rbuf)
{
    const int p = s->comm->size, r = s->comm->rank;
    const size_t es = s->esize, seg = coll_seg(s);
    const coll_blocks_t bl = {s->desc.count, p, 0, NULL, NULL, NULL};
    size_t off, len, maxlen, nseg;
    coll_sop_id_t *sent, *final, wait;
    coll_slots_t sl;

    coll_block(&bl, r, &off, &len);
    maxlen = coll_block_max(&bl);
    nseg = coll_nseg(maxlen, seg);
    /* Per peer and segment, the send of its block (in-place hazard);
     * per segment of ours, its last reduction. */
    sent = coll_sched_scratch(s, ((size_t)p + 1) * (nseg ? nseg : 1) * sizeof(*sent));
    coll_slots_init(&sl, s, seg * es, (size_t)(p - 1) * maxlen * es);
    if (!sent || !sl.base)
        return RCOMM_ERR_NO_MEMORY;
    final = sent + (size_t)p * nseg;

    /* Reduce-scatter: segment-major, so every peer's segment m is in flight
     * together and reduced in peer order as it lands. */
    for (size_t m = 0; m < nseg; m++) {
        const size_t o = m * seg;
        coll_sop_id_t acc = COLL_SOP_NONE;

        for (int k = 1; k < p; k++) {
            const int q = coll_mod(r + k, p);
            size_t qoff, qlen;

            coll_block(&bl, q, &qoff, &qlen);
            sent[(size_t)q * nseg + m] =
                o < qlen ? coll_sched_send(s, q, sbuf + (qoff + o) * es,
                                           piece(qlen, o, seg) * es)
                         : COLL_SOP_NONE;
            if (o < len) {
                size_t n = piece(len, o, seg);
                char *slot = coll_slot_take(&sl, &wait);
                coll_sop_id_t rcv = coll_sched_recv(s, q, slot, n * es), red;

                coll_sched_dep(s, rcv, wait);
                red = coll_sched_reduce(s, rbuf + (off + o) * es,
                                        acc == COLL_SOP_NONE ? sbuf + (off + o) * es
                                                             : rbuf + (off + o) * es,
                                        slot, n);
                coll_sched_dep(s, red, rcv);
                coll_sched_dep(s, red, acc);
                coll_slot_release(&sl, red);
                acc = red;
            }
        }
        if (acc != COLL_SOP_NONE && s->desc.op == RCOMM_AVG) {
            coll_sop_id_t fin =
                coll_sched_finish(s, rbuf + (off + o) * es, piece(len, o, seg));
            coll_sched_dep(s, fin, acc);
            acc = fin;
        }
        final[m] = acc;
    }

    /* Allgather: our finished segments out, every peer's in, in place. */
    for (int k = 1; k < p; k++) {
        const int q = coll_mod(r + k, p);
        size_t qoff, qlen;

        coll_block(&bl, q, &qoff, &qlen);
        for (size_t m = 0; m < nseg; m++) {
            const size_t o = m * seg;
            if (o < len)
                coll_sched_dep(
                    s,
                    coll_sched_send(s, q, rbuf + (off + o) * es, piece(len, o, seg) * es),
                    final[m]);
            if (o < qlen)
                coll_sched_dep(s,
                               coll_sched_recv(s, q, rbuf + (qoff + o) * es,
                                               piece(qlen, o, seg) * es),
                               sent[(size_t)q * nseg + m]);
        }
    }
    return RCOMM_OK;
}
