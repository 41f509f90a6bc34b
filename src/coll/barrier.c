/* SPDX-License-Identifier: BSD-3-Clause */
/* Dissemination barrier: in round k rank r signals r + 2^k and waits for
 * r - 2^k. After ceil(log2 p) rounds every rank has heard, directly or not,
 * from every other, so no rank leaves before all have arrived.
 *   cost = ceil(log2 p) alpha */
#include "coll/coll.h"

rcomm_status_t rcomm_barrier_build(rcomm_sched_t *s)
{
    const int p = s->comm->size, r = s->comm->rank;
    rcomm_sop_id_t prev = RCOMM_SOP_NONE;

    for (int d = 1; d < p; d *= 2) {
        rcomm_sop_id_t snd = rcomm_sched_send(s, rcomm_mod(r + d, p), NULL, 0);
        rcomm_sop_id_t rcv = rcomm_sched_recv(s, rcomm_mod(r - d, p), NULL, 0);
        rcomm_sched_dep(s, snd, prev);
        rcomm_sched_dep(s, rcv, prev);
        prev = rcv;
    }
    return RCOMM_OK;
}
