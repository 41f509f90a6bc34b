/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Butterfly AllReduce (Rabenseifner): recursive-halving reduce-scatter, then
 * recursive-doubling allgather, on the largest power of two p2 <= p ranks.
 *
 * p = 4, blocks A B C D:
 *   halving, distance 2: ranks 0<->2 and 1<->3 swap halves;
 *     0 keeps AB, sends CD; 2 keeps CD, sends AB (and 1/3 likewise)
 *   halving, distance 1: 0<->1 and 2<->3 swap quarters; rank v keeps block v
 *   (each rank now holds its block reduced over all 4 ranks)
 *   doubling, distance 1, then 2: the same exchanges backwards, copying
 *     instead of reducing, until every rank holds A B C D.
 *
 * Other rank counts: the rem = p - p2 extra ranks are folded in first (see
 * pattern.h: rank 2i gives its vector to rank 2i+1, which reduces it and takes
 * part; rank 2i gets the result back at the end).
 *   cost = 2 log2(p2) alpha + 2 (p2-1)/p2 n beta + (p2-1)/p2 n gamma
 *          (+ 2 alpha + 2 n beta + n gamma when p is not a power of two)
 * Fewer latency steps than the ring; the same bandwidth term for powers of two.
 */
#include "coll/coll.h"

rcomm_status_t coll_allreduce_butterfly_build(coll_sched_t *s, const char *sbuf,
                                              char *rbuf)
{
    const size_t es = s->esize;
    coll_fold_t f;
    coll_slots_t sl;
    coll_blocks_t bl;
    coll_sop_id_t prev;
    const char *cur;
    int lo = 0, nb;

    coll_fold(s->comm->rank, s->comm->size, &f);
    coll_slots_init(&sl, s, coll_seg(s) * es, s->desc.count * es);
    prev = coll_fold_in(s, &f, sbuf, rbuf, &sl);
    if (f.vrank < 0) {
        coll_fold_out(s, &f, rbuf, prev);
        return RCOMM_OK;
    }
    cur = f.fold_peer >= 0 ? rbuf : sbuf;
    bl = (coll_blocks_t){s->desc.count, f.p2, 0, NULL, NULL, NULL};
    nb = f.p2;
    for (int mask = f.p2 / 2; mask >= 1; mask /= 2) {
        const int peer = coll_fold_real(&f, f.vrank ^ mask), half = nb / 2;
        const int keep = (f.vrank & mask) ? lo + half : lo;
        const int give = (f.vrank & mask) ? lo : lo + half;
        size_t koff, klen, goff, glen;

        coll_block_range(&bl, keep, half, &koff, &klen);
        coll_block_range(&bl, give, half, &goff, &glen);
        prev = coll_exchange(s, peer, cur + goff * es, glen, rbuf + koff * es,
                             cur + koff * es, klen, &sl, prev);
        cur = rbuf;
        lo = keep;
        nb = half;
    }
    if (s->desc.op == RCOMM_AVG) {
        size_t off, len;
        coll_block(&bl, lo, &off, &len);
        coll_sop_id_t fin = coll_sched_finish(s, rbuf + off * es, len);
        coll_sched_dep(s, fin, prev);
        prev = fin;
    }
    for (int mask = 1; mask < f.p2; mask *= 2) {
        const int peer = coll_fold_real(&f, f.vrank ^ mask);
        size_t moff, mlen, poff, plen;

        coll_block_range(&bl, lo, nb, &moff, &mlen);
        coll_block_range(&bl, lo ^ mask, nb, &poff, &plen);
        prev = coll_exchange(s, peer, rbuf + moff * es, mlen, rbuf + poff * es, NULL,
                             plen, NULL, prev);
        lo = lo < (lo ^ mask) ? lo : lo ^ mask;
        nb *= 2;
    }
    coll_fold_out(s, &f, rbuf, prev);
    return RCOMM_OK;
}
