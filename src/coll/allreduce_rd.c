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

coll_sop_id_t coll_fold_in(coll_sched_t *s, const coll_fold_t *f, const char *sbuf,
                           char *rbuf, coll_slots_t *sl)
{
    const size_t n = s->desc.count;

    if (f->fold_peer < 0)
        return COLL_SOP_NONE;
    if (f->vrank < 0) /* hand our vector over */
        return coll_exchange(s, f->fold_peer, sbuf, n, NULL, NULL, 0, NULL,
                             COLL_SOP_NONE);
    return coll_exchange(s, f->fold_peer, NULL, 0, rbuf, sbuf, n, sl, COLL_SOP_NONE);
}

coll_sop_id_t coll_fold_out(coll_sched_t *s, const coll_fold_t *f, char *rbuf,
                            coll_sop_id_t after)
{
    const size_t n = s->desc.count;

    if (f->fold_peer < 0)
        return after;
    if (f->vrank < 0)
        return coll_exchange(s, f->fold_peer, NULL, 0, rbuf, NULL, n, NULL, after);
    return coll_exchange(s, f->fold_peer, rbuf, n, NULL, NULL, 0, NULL, after);
}

rcomm_status_t coll_allreduce_rd_build(coll_sched_t *s, const char *sbuf, char *rbuf)
{
    const size_t es = s->esize, n = s->desc.count;
    coll_fold_t f;
    coll_slots_t sl;
    coll_sop_id_t prev;
    const char *cur;
    char *tmp, *next;

    coll_fold(s->comm->rank, s->comm->size, &f);
    coll_slots_init(&sl, s, coll_seg(s) * es, n * es);
    prev = coll_fold_in(s, &f, sbuf, rbuf, &sl);
    if (f.vrank < 0) {
        coll_fold_out(s, &f, rbuf, prev);
        return RCOMM_OK;
    }
    tmp = coll_sched_scratch(s, n * es);
    if (!tmp)
        return RCOMM_ERR_NO_MEMORY;
    cur = f.fold_peer >= 0 ? rbuf : sbuf;
    for (int mask = 1; mask < f.p2; mask *= 2) {
        const int peer = coll_fold_real(&f, f.vrank ^ mask);
        next = cur == rbuf ? tmp : rbuf;
        prev = coll_exchange(s, peer, cur, n, next, cur, n, &sl, prev);
        cur = next;
    }
    if (cur != rbuf) {
        coll_sop_id_t cp = coll_sched_copy(s, rbuf, cur, n * es);
        coll_sched_dep(s, cp, prev);
        prev = cp;
    }
    if (s->desc.op == RCOMM_AVG) {
        coll_sop_id_t fin = coll_sched_finish(s, rbuf, n);
        coll_sched_dep(s, fin, prev);
        prev = fin;
    }
    coll_fold_out(s, &f, rbuf, prev);
    return RCOMM_OK;
}
