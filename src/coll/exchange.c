/* SPDX-License-Identifier: BSD-3-Clause */
/* Pairwise exchange in segments, the step that butterfly, recursive doubling
 * and the fold of extra ranks are made of. */
#include "coll/coll.h"

size_t coll_seg(const coll_sched_t *s)
{
    size_t seg = s->comm->cfg.segment_size / (s->esize ? s->esize : 1);
    return seg ? seg : 1;
}

coll_sop_id_t coll_exchange(coll_sched_t *s, int peer, const char *src, size_t scount,
                            char *dst, const char *a, size_t rcount, coll_slots_t *sl,
                            coll_sop_id_t after)
{
    const size_t es = s->esize, seg = coll_seg(s);
    coll_sop_id_t done = coll_sched_join(s), wait;

    coll_sched_dep(s, done, after);
    for (size_t o = 0; o < scount; o += seg) {
        size_t n = scount - o < seg ? scount - o : seg;
        coll_sop_id_t snd = coll_sched_send(s, peer, src + o * es, n * es);
        coll_sched_dep(s, snd, after);
        coll_sched_dep(s, done, snd);
    }
    for (size_t o = 0; o < rcount; o += seg) {
        size_t n = rcount - o < seg ? rcount - o : seg;
        coll_sop_id_t rcv, red;

        if (!sl) {
            rcv = coll_sched_recv(s, peer, dst + o * es, n * es);
            coll_sched_dep(s, rcv, after);
            coll_sched_dep(s, done, rcv);
            continue;
        }
        char *slot = coll_slot_take(sl, &wait);
        rcv = coll_sched_recv(s, peer, slot, n * es);
        coll_sched_dep(s, rcv, after);
        coll_sched_dep(s, rcv, wait);
        red = coll_sched_reduce(s, dst + o * es, a + o * es, slot, n);
        coll_sched_dep(s, red, rcv);
        coll_slot_release(sl, red);
        coll_sched_dep(s, done, red);
    }
    return done;
}
