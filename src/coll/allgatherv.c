/* SPDX-License-Identifier: BSD-3-Clause */
/* Allgatherv: the ring allgather phase (ring.c) over blocks of their own
 * counts, block r at recvbuf + displs[r]. Every message's envelope carries
 * the total and a hash of the counts, so a rank whose counts differ is found
 * by the first message it sends or receives (an empty block still sends an
 * empty message).
 *   cost = (p-1) alpha + (N - n_r) beta, N = all blocks' bytes */
#include "coll/coll.h"

rcomm_status_t coll_allgatherv_build(coll_sched_t *s, const char *sbuf, char *rbuf,
                                     const size_t *counts, const size_t *displs)
{
    const int p = s->comm->size, r = s->comm->rank;
    const size_t es = s->esize;
    const coll_blocks_t bl = {s->desc.count, p, 0, counts, displs, NULL};

    coll_sched_copy(s, coll_at(rbuf, displs[r] * es), sbuf, counts[r] * es);
    coll_ring_allgather(s, &bl, sbuf, rbuf, COLL_SOP_NONE);
    return RCOMM_OK;
}
