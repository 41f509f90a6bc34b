/* SPDX-License-Identifier: BSD-3-Clause */
/* Pairwise exchange in segments, the step that butterfly, recursive doubling
 * and the fold of extra ranks are made of. */
#include "coll/coll.h"

size_t rcomm_coll_seg(const rcomm_sched_t *s)
{
    size_t seg = s->comm->cfg.segment_size / (s->esize ? s->esize : 1);
    return seg ? seg : 1;
}

rcomm_sop_id_t rcomm_exchange(rcomm_sched_t *s, int peer, const char *src, size_t scount,
                              char *dst, const char *a, size_t rcount, rcomm_slots_t *sl,
                              rcomm_sop_id_t after)
{
    const size_t es = s->esize, seg = rcomm_coll_seg(s);
    rcomm_sop_id_t done = rcomm_sched_join(s), wait;

    rcomm_sched_dep(s, done, after);
    for (size_t o = 0; o < scount; o += seg) {
        size_t n = scount - o < seg ? scount - o : seg;
        rcomm_sop_id_t snd = rcomm_sched_send(s, peer, src + o * es, n * es);
        rcomm_sched_dep(s, snd, after);
        rcomm_sched_dep(s, done, snd);
    }
    for (size_t o = 0; o < rcount; o += seg) {
        size_t n = rcount - o < seg ? rcount - o : seg;
        rcomm_sop_id_t rcv, red;

        if (!sl) {
            rcv = rcomm_sched_recv(s, peer, dst + o * es, n * es);
            rcomm_sched_dep(s, rcv, after);
            rcomm_sched_dep(s, done, rcv);
            continue;
        }
        char *slot = rcomm_slot_take(sl, &wait);
        rcv = rcomm_sched_recv(s, peer, slot, n * es);
        rcomm_sched_dep(s, rcv, after);
        rcomm_sched_dep(s, rcv, wait);
        red = rcomm_sched_reduce(s, dst + o * es, a + o * es, slot, n);
        rcomm_sched_dep(s, red, rcv);
        rcomm_slot_release(sl, red);
        rcomm_sched_dep(s, done, red);
    }
    return done;
}
