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
 * Allgather also takes variable blocks (allgatherv): each travels in as many
 * segments as it needs, an empty one as one empty message.
 *
 * Cost (n bytes, p ranks): each phase is (p-1) steps of n/p bytes:
 *   reduce-scatter (p-1) alpha + (p-1)/p n beta + (p-1)/p n gamma,
 *   allgather      (p-1) alpha + (p-1)/p n beta.
 */
#include "coll/coll.h"

/* Our place in the ring of bl's group, and our neighbours' ranks. */
static void ring_place(const coll_sched_t *s, const coll_blocks_t *bl, int *p, int *r,
                       int *right, int *left)
{
    const coll_group_t *g = bl->group;

    *p = g ? g->n : s->comm->size;
    *r = g ? g->me : s->comm->rank;
    *right = coll_mod(*r + 1, *p);
    *left = coll_mod(*r - 1, *p);
    if (g) {
        *right = g->rank[*right];
        *left = g->rank[*left];
    }
}

coll_sop_id_t coll_ring_reduce_scatter(coll_sched_t *s, const coll_blocks_t *bl,
                                       const char *sbuf, char *acc, int acc_is_full,
                                       char *out, coll_sop_id_t after)
{
    int p, r, right, left;
    const size_t es = s->esize, seg = coll_seg(s);
    size_t maxlen, off;
    coll_sop_id_t done = coll_sched_join(s);
    coll_sop_id_t *prev_reduce, *prev_send, wait;
    char *dbuf[2] = {NULL, NULL};
    coll_slots_t sl;
    size_t nseg_max;

    ring_place(s, bl, &p, &r, &right, &left);
    coll_block(bl, 0, &off, &maxlen); /* block 0 is never shorter */
    nseg_max = coll_nseg(maxlen, seg);
    coll_slots_init(&sl, s, seg * es, maxlen * es);
    /* Partial blocks between steps: none with 2 ranks, whose one step
     * reduces into out (a 64 MiB block here cost the slots their place in
     * the scratch cache, and every call faulted them in again). */
    if (!acc_is_full && p > 2) {
        dbuf[0] = coll_sched_scratch(s, 2 * maxlen * es);
        dbuf[1] = dbuf[0] ? dbuf[0] + maxlen * es : NULL;
    }
    /* Per segment: the reduction and the send of the previous step. */
    prev_reduce =
        coll_sched_scratch(s, 2 * (nseg_max ? nseg_max : 1) * sizeof(coll_sop_id_t));
    if (!prev_reduce || !sl.base || (!acc_is_full && p > 2 && !dbuf[0]))
        return COLL_SOP_NONE;
    prev_send = prev_reduce + nseg_max;
    for (size_t m = 0; m < nseg_max; m++)
        prev_reduce[m] = prev_send[m] = COLL_SOP_NONE;

    for (int k = 0; k < p - 1; k++) {
        const int sb = coll_mod(r - k - 1, p), rb = coll_mod(r - k - 2, p);
        size_t soff, slen, roff, rlen;
        const char *src;
        char *dst;

        coll_block(bl, sb, &soff, &slen);
        coll_block(bl, rb, &roff, &rlen);
        src = k == 0 ? sbuf + soff * es
                     : (acc_is_full ? acc + soff * es : dbuf[(k - 1) % 2]);
        dst = k == p - 2 ? out : (acc_is_full ? acc + roff * es : dbuf[k % 2]);
        for (size_t m = 0; m < nseg_max; m++) {
            size_t so = m * seg, ro = m * seg;
            coll_sop_id_t snd = COLL_SOP_NONE, rcv, red = COLL_SOP_NONE;

            if (so < slen) {
                size_t n = slen - so < seg ? slen - so : seg;
                snd = coll_sched_send(s, right, src + so * es, n * es);
                coll_sched_dep(s, snd, after);
                coll_sched_dep(s, snd, prev_reduce[m]);
            }
            if (ro < rlen) {
                size_t n = rlen - ro < seg ? rlen - ro : seg;
                char *slot = coll_slot_take(&sl, &wait);
                rcv = coll_sched_recv(s, left, slot, n * es);
                coll_sched_dep(s, rcv, after);
                coll_sched_dep(s, rcv, wait);
                red =
                    coll_sched_reduce(s, dst + ro * es, sbuf + (roff + ro) * es, slot, n);
                coll_sched_dep(s, red, rcv);
                /* The double buffer half we overwrite was sent last step. */
                if (!acc_is_full)
                    coll_sched_dep(s, red, prev_send[m]);
                coll_slot_release(&sl, red);
                coll_sched_dep(s, done, red);
            }
            coll_sched_dep(s, done, snd);
            prev_reduce[m] = red;
            prev_send[m] = snd;
        }
    }
    return done;
}

coll_sop_id_t coll_ring_allgather(coll_sched_t *s, const coll_blocks_t *bl,
                                  const char *own_src, char *rbuf, coll_sop_id_t after)
{
    int p, r, right, left;
    const size_t es = s->esize, seg = coll_seg(s);
    size_t maxlen, nseg_max;
    coll_sop_id_t done = coll_sched_join(s), *prev_recv;

    ring_place(s, bl, &p, &r, &right, &left);
    maxlen = coll_block_max(bl);
    nseg_max = coll_nseg(maxlen, seg);
    /* Variable counts: an empty block still sends one empty message, whose
     * envelope lets the receiver check that the counts agree. */
    if (bl->counts && nseg_max == 0)
        nseg_max = 1;
    prev_recv = coll_sched_scratch(s, (nseg_max ? nseg_max : 1) * sizeof(coll_sop_id_t));
    if (!prev_recv)
        return COLL_SOP_NONE;
    for (size_t m = 0; m < nseg_max; m++)
        prev_recv[m] = COLL_SOP_NONE;

    for (int k = 0; k < p - 1; k++) {
        const int sb = coll_mod(r - k, p), rb = coll_mod(r - k - 1, p);
        size_t soff, slen, roff, rlen;
        const char *src;

        coll_block(bl, sb, &soff, &slen);
        coll_block(bl, rb, &roff, &rlen);
        src = k == 0 ? own_src : coll_at(rbuf, soff * es);
        for (size_t m = 0; m < nseg_max; m++) {
            size_t o = m * seg;
            coll_sop_id_t snd = COLL_SOP_NONE, rcv = COLL_SOP_NONE;

            if (o < slen || (o == 0 && bl->counts)) {
                size_t n = slen - o < seg ? slen - o : seg;
                snd = coll_sched_send(s, right, coll_at(src, o * es), n * es);
                coll_sched_dep(s, snd, after);
                coll_sched_dep(s, snd, prev_recv[m]);
            }
            if (o < rlen || (o == 0 && bl->counts)) {
                size_t n = rlen - o < seg ? rlen - o : seg;
                rcv = coll_sched_recv(s, left, coll_at(rbuf, (roff + o) * es), n * es);
                coll_sched_dep(s, rcv, after);
            }
            coll_sched_dep(s, done, snd);
            coll_sched_dep(s, done, rcv);
            prev_recv[m] = rcv;
        }
    }
    return done;
}
