/* SPDX-License-Identifier: BSD-3-Clause */
/* Dissemination barrier: in round k rank r signals r + 2^k and waits for
 * r - 2^k. After ceil(log2 p) rounds every rank has heard, directly or not,
 * from every other, so no rank leaves before all have arrived.
 *   cost = ceil(log2 p) alpha */
#include "coll/coll.h"

rcomm_status_t coll_barrier_build(coll_sched_t *s)
{
    const int p = s->comm->size, r = s->comm->rank;
    coll_sop_id_t prev = COLL_SOP_NONE;

    for (int d = 1; d < p; d *= 2) {
        coll_sop_id_t snd = coll_sched_send(s, coll_mod(r + d, p), NULL, 0);
        coll_sop_id_t rcv = coll_sched_recv(s, coll_mod(r - d, p), NULL, 0);
        coll_sched_dep(s, snd, prev);
        coll_sched_dep(s, rcv, prev);
        prev = rcv;
    }
    return RCOMM_OK;
}
