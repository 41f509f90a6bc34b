/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Small allreduce through the mailboxes (mailbox.h), for communicators
 * whose ranks all share memory (Open MPI's fast boxes, NCCL's LL protocol):
 * each rank writes its data once, into a slot of its own mailbox, and reads
 * every peer's slot straight out of the peer's memory (the transport's
 * rkey_ptr). No message, no request, no schedule: one cache line each way
 * per peer.
 *
 * Once a rank has every peer's contribution it reduces the p of them in
 * rank order (so every rank gets the same bits) and returns. A peer that
 * made the call another way (the generic path: another count, collective,
 * algorithm, or the nonblocking form) is a MISMATCH, within the call, as
 * for every collective (include/rcomm.h). Its own call then fails when
 * this rank's failure reaches it (the transport's goodbye).
 */
#include <string.h>

#include "base/error.h"
#include "coll/mailbox.h"
#include "reduce/reduce.h"

rcomm_status_t coll_slots_allreduce(rcomm_comm_t *comm, const coll_call_t *c)
{
    const int p = comm->size;
    const size_t bytes = c->desc.count * rcomm_dtype_size(c->desc.dtype);
    coll_mbox_wait_t w;
    rcomm_status_t st;
    int other;

    base_err_clear();
    if ((st = coll_mbox_post(&w, comm, c, c->sbuf, bytes)) != RCOMM_OK ||
        (st = coll_mbox_gather(&w, &other)) != RCOMM_OK)
        return st;
    if (other >= 0) {
        st = base_err(RCOMM_ERR_MISMATCH,
                      "%s: rank %d: collective #%llu: rank %d called it differently "
                      "(not a blocking allreduce of %zu elements with rcomm's choice "
                      "of algorithm)",
                      c->fn, comm->rank, (unsigned long long)w.seq, other, c->desc.count);
        comm_fail(comm, st);
        return st;
    }
    /* In rank order on every rank: the same bits everywhere. */
    memcpy(c->rbuf, w.sl->in[0], bytes);
    for (int q = 1; q < p; q++)
        reduce_apply(c->rbuf, c->rbuf, w.sl->in[q], c->desc.count, c->desc.dtype,
                     c->desc.op);
    reduce_finish(c->rbuf, c->desc.count, c->desc.dtype, c->desc.op, p);
    if (comm->deferred != RCOMM_OK)
        return comm_check(comm, c->fn);
    return RCOMM_OK;
}
