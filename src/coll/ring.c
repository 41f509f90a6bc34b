/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The two ring phases. Rank r sends to r+1 and receives from r-1; the vector
 * is cut into p blocks and every block into segments.
 *
 * Reduce-scatter, p = 4, blocks A B C D (rank 0 ends with A, rank 1 with B...):
 *   at step k rank r sends block r-k-1 and receives block r-k-2, which it
 *   reduces with its own copy of that block.
 *
 *            rank 0      rank 1      rank 2      rank 3
 *   step 0   send D      send A      send B      send C
 *            recv C      recv D      recv A      recv B    (reduce: 2 ranks)
 *   step 1   send C'     send D'     send A'     send B'
 *            recv B'     recv C'     recv D'     recv A'   (3 ranks)
 *   step 2   send B''    send C''    send D''    send A''
 *            recv A''    recv B''    recv C''    recv D''  (all 4: done)
 *
 * Allgather then passes the finished blocks on: at step k rank r sends block
 * r-k and receives block r-k-1, straight into the destination buffer.
 *
 * Every block travels in segments, and each segment is its own message with
 * its own reduction, so the reduction of segment m overlaps the transfer of
 * segment m+1, and a segment can move on to the next rank before its whole
 * block has arrived. Messages to one peer are built step-major (step, then
 * segment): the receiver takes its receive slots in the same order the data
 * arrives, so a held-back large message can always be matched.
 *
 * Cost (n bytes, p ranks): each phase is (p-1) steps of n/p bytes:
 *   reduce-scatter (p-1) alpha + (p-1)/p n beta + (p-1)/p n gamma,
 *   allgather      (p-1) alpha + (p-1)/p n beta.
 */
#include "coll/coll.h"

rcomm_sop_id_t rcomm_ring_reduce_scatter(rcomm_sched_t *s, const rcomm_blocks_t *bl,
                                         const char *sbuf, char *acc, int acc_is_full,
                                         char *out, rcomm_sop_id_t after)
{
    const int p = s->comm->size, r = s->comm->rank;
    const int right = rcomm_mod(r + 1, p), left = rcomm_mod(r - 1, p);
    const size_t es = s->esize, seg = rcomm_coll_seg(s);
    size_t maxlen, off;
    rcomm_sop_id_t done = rcomm_sched_join(s);
    rcomm_sop_id_t *prev_reduce, *prev_send, wait;
    char *dbuf[2] = {NULL, NULL};
    rcomm_slots_t sl;
    size_t nseg_max;

    rcomm_block(bl, 0, &off, &maxlen); /* block 0 is never shorter */
    nseg_max = rcomm_nseg(maxlen, seg);
    rcomm_slots_init(&sl, s, seg * es, maxlen * es);
    if (!acc_is_full) {
        dbuf[0] = rcomm_sched_scratch(s, 2 * maxlen * es);
        dbuf[1] = dbuf[0] ? dbuf[0] + maxlen * es : NULL;
    }
    /* Per segment: the reduction and the send of the previous step. */
    prev_reduce =
        rcomm_sched_scratch(s, 2 * (nseg_max ? nseg_max : 1) * sizeof(rcomm_sop_id_t));
    if (!prev_reduce || !sl.base || (!acc_is_full && !dbuf[0]))
        return RCOMM_SOP_NONE;
    prev_send = prev_reduce + nseg_max;
    for (size_t m = 0; m < nseg_max; m++)
        prev_reduce[m] = prev_send[m] = RCOMM_SOP_NONE;

    for (int k = 0; k < p - 1; k++) {
        const int sb = rcomm_mod(r - k - 1, p), rb = rcomm_mod(r - k - 2, p);
        size_t soff, slen, roff, rlen;
        const char *src;
        char *dst;

        rcomm_block(bl, sb, &soff, &slen);
        rcomm_block(bl, rb, &roff, &rlen);
        src = k == 0 ? sbuf + soff * es
                     : (acc_is_full ? acc + soff * es : dbuf[(k - 1) % 2]);
        dst = k == p - 2 ? out : (acc_is_full ? acc + roff * es : dbuf[k % 2]);
        for (size_t m = 0; m < nseg_max; m++) {
            size_t so = m * seg, ro = m * seg;
            rcomm_sop_id_t snd = RCOMM_SOP_NONE, rcv, red = RCOMM_SOP_NONE;

            if (so < slen) {
                size_t n = slen - so < seg ? slen - so : seg;
                snd = rcomm_sched_send(s, right, src + so * es, n * es);
                rcomm_sched_dep(s, snd, after);
                rcomm_sched_dep(s, snd, prev_reduce[m]);
            }
            if (ro < rlen) {
                size_t n = rlen - ro < seg ? rlen - ro : seg;
                char *slot = rcomm_slot_take(&sl, &wait);
                rcv = rcomm_sched_recv(s, left, slot, n * es);
                rcomm_sched_dep(s, rcv, after);
                rcomm_sched_dep(s, rcv, wait);
                red = rcomm_sched_reduce(s, dst + ro * es, sbuf + (roff + ro) * es, slot,
                                         n);
                rcomm_sched_dep(s, red, rcv);
                /* The double buffer half we overwrite was sent last step. */
                if (!acc_is_full)
                    rcomm_sched_dep(s, red, prev_send[m]);
                rcomm_slot_release(&sl, red);
                rcomm_sched_dep(s, done, red);
            }
            rcomm_sched_dep(s, done, snd);
            prev_reduce[m] = red;
            prev_send[m] = snd;
        }
    }
    return done;
}

rcomm_sop_id_t rcomm_ring_allgather(rcomm_sched_t *s, const rcomm_blocks_t *bl,
                                    const char *own_src, char *rbuf, rcomm_sop_id_t after)
{
    const int p = s->comm->size, r = s->comm->rank;
    const int right = rcomm_mod(r + 1, p), left = rcomm_mod(r - 1, p);
    const size_t es = s->esize, seg = rcomm_coll_seg(s);
    size_t off, maxlen, nseg_max;
    rcomm_sop_id_t done = rcomm_sched_join(s), *prev_recv;

    rcomm_block(bl, 0, &off, &maxlen);
    nseg_max = rcomm_nseg(maxlen, seg);
    prev_recv =
        rcomm_sched_scratch(s, (nseg_max ? nseg_max : 1) * sizeof(rcomm_sop_id_t));
    if (!prev_recv)
        return RCOMM_SOP_NONE;
    for (size_t m = 0; m < nseg_max; m++)
        prev_recv[m] = RCOMM_SOP_NONE;

    for (int k = 0; k < p - 1; k++) {
        const int sb = rcomm_mod(r - k, p), rb = rcomm_mod(r - k - 1, p);
        size_t soff, slen, roff, rlen;
        const char *src;

        rcomm_block(bl, sb, &soff, &slen);
        rcomm_block(bl, rb, &roff, &rlen);
        src = k == 0 ? own_src : rbuf + soff * es;
        for (size_t m = 0; m < nseg_max; m++) {
            size_t o = m * seg;
            rcomm_sop_id_t snd = RCOMM_SOP_NONE, rcv = RCOMM_SOP_NONE;

            if (o < slen) {
                size_t n = slen - o < seg ? slen - o : seg;
                snd = rcomm_sched_send(s, right, src + o * es, n * es);
                rcomm_sched_dep(s, snd, after);
                rcomm_sched_dep(s, snd, prev_recv[m]);
            }
            if (o < rlen) {
                size_t n = rlen - o < seg ? rlen - o : seg;
                rcv = rcomm_sched_recv(s, left, rbuf + (roff + o) * es, n * es);
                rcomm_sched_dep(s, rcv, after);
            }
            rcomm_sched_dep(s, done, snd);
            rcomm_sched_dep(s, done, rcv);
            prev_recv[m] = rcv;
        }
    }
    return done;
}
