/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Recursive-doubling AllReduce for small vectors: log2(p2) steps, each
 * exchanging the whole vector with the partner at distance 1, 2, 4 ... and
 * reducing. p = 4: step 1 pairs 0-1 and 2-3, step 2 pairs 0-2 and 1-3; after
 * it every rank holds the full reduction.
 *   cost = log2(p2) (alpha + n beta + n gamma)  (+ fold for other p)
 * Fewest latency steps, so it wins for small n; it moves log2(p) n bytes.
 *
 * The partial result alternates between recvbuf and a scratch vector so that
 * a step never overwrites what the same step is still sending.
 *
 * This file also holds the fold of extra ranks shared with the butterfly.
 */
#include <string.h>

#include "coll/coll.h"

rcomm_sop_id_t rcomm_fold_in(rcomm_sched_t *s, const rcomm_fold_t *f, const char *sbuf,
                             char *rbuf, rcomm_slots_t *sl)
{
    const size_t n = s->desc.count;

    if (f->fold_peer < 0)
        return RCOMM_SOP_NONE;
    if (f->vrank < 0) /* hand our vector over */
        return rcomm_exchange(s, f->fold_peer, sbuf, n, NULL, NULL, 0, NULL,
                              RCOMM_SOP_NONE);
    return rcomm_exchange(s, f->fold_peer, NULL, 0, rbuf, sbuf, n, sl, RCOMM_SOP_NONE);
}

rcomm_sop_id_t rcomm_fold_out(rcomm_sched_t *s, const rcomm_fold_t *f, char *rbuf,
                              rcomm_sop_id_t after)
{
    const size_t n = s->desc.count;

    if (f->fold_peer < 0)
        return after;
    if (f->vrank < 0)
        return rcomm_exchange(s, f->fold_peer, NULL, 0, rbuf, NULL, n, NULL, after);
    return rcomm_exchange(s, f->fold_peer, rbuf, n, NULL, NULL, 0, NULL, after);
}

rcomm_status_t rcomm_allreduce_rd_build(rcomm_sched_t *s, const char *sbuf, char *rbuf)
{
    const size_t es = s->esize, n = s->desc.count;
    rcomm_fold_t f;
    rcomm_slots_t sl;
    rcomm_sop_id_t prev;
    const char *cur;
    char *tmp, *next;

    rcomm_fold(s->comm->rank, s->comm->size, &f);
    rcomm_slots_init(&sl, s, rcomm_coll_seg(s) * es, n * es);
    prev = rcomm_fold_in(s, &f, sbuf, rbuf, &sl);
    if (f.vrank < 0) {
        rcomm_fold_out(s, &f, rbuf, prev);
        return RCOMM_OK;
    }
    tmp = rcomm_sched_scratch(s, n * es);
    if (!tmp)
        return RCOMM_ERR_NO_MEMORY;
    cur = f.fold_peer >= 0 ? rbuf : sbuf;
    for (int mask = 1; mask < f.p2; mask *= 2) {
        const int peer = rcomm_fold_real(&f, f.vrank ^ mask);
        next = cur == rbuf ? tmp : rbuf;
        prev = rcomm_exchange(s, peer, cur, n, next, cur, n, &sl, prev);
        cur = next;
    }
    if (cur != rbuf) {
        rcomm_sop_id_t cp = rcomm_sched_copy(s, rbuf, cur, n * es);
        rcomm_sched_dep(s, cp, prev);
        prev = cp;
    }
    if (s->desc.op == RCOMM_AVG) {
        rcomm_sop_id_t fin = rcomm_sched_finish(s, rbuf, n);
        rcomm_sched_dep(s, fin, prev);
        prev = fin;
    }
    rcomm_fold_out(s, &f, rbuf, prev);
    return RCOMM_OK;
}
