/* SPDX-License-Identifier: BSD-3-Clause */
/* Matching of two-sided messages by (peer, tag): see match.h. */
#include "transports/util/match.h"

#include "base/error.h"
#include "base/fifo.h"

void tpu_post(tpu_match_t *m, tpu_op_t *recv)
{
    RCOMM_FIFO_PUSH(&m->posted, recv);
}

tpu_op_t *tpu_match_posted(tpu_match_t *m, uint64_t tag)
{
    for (tpu_op_t *op = m->posted.head, *prev = NULL; op; prev = op, op = op->next)
        if (op->tag == tag) {
            RCOMM_FIFO_UNLINK(&m->posted, prev, op);
            return op;
        }
    return NULL;
}

bool tpu_unpost(tpu_match_t *m, tpu_op_t *recv)
{
    for (tpu_op_t *op = m->posted.head, *prev = NULL; op; prev = op, op = op->next)
        if (op == recv) {
            RCOMM_FIFO_UNLINK(&m->posted, prev, op);
            return true;
        }
    return false;
}

void tpu_unexpected(const rcomm_tp_t *tp, int peer, uint64_t tag, const rcomm_env_t *env,
                    uint64_t len)
{
    if (tp->on_unexpected)
        tp->on_unexpected(tp->unexpected_arg, peer, tag, env, (size_t)len);
}

void tpu_hold(tpu_match_t *m, tpu_unexp_t *ux)
{
    RCOMM_FIFO_PUSH(&m->unexp, ux);
}

tpu_unexp_t *tpu_find_held(tpu_match_t *m, uint64_t tag, tpu_unexp_t **prev)
{
    *prev = NULL;
    for (tpu_unexp_t *ux = m->unexp.head; ux; *prev = ux, ux = ux->next)
        if (ux->tag == tag)
            return ux;
    return NULL;
}

void tpu_unhold(tpu_match_t *m, tpu_unexp_t *prev, tpu_unexp_t *ux)
{
    RCOMM_FIFO_UNLINK(&m->unexp, prev, ux);
}

tpu_unexp_t *tpu_match_held(tpu_match_t *m, uint64_t tag)
{
    tpu_unexp_t *prev, *ux = tpu_find_held(m, tag, &prev);

    if (ux)
        tpu_unhold(m, prev, ux);
    return ux;
}

void tpu_report_done(tpu_opq_t *done)
{
    RCOMM_FIFO_DRAIN_DONE(done, tpu_op_t, tpu_req);
}

bool tpu_queued(const tpu_opq_t *q, const tpu_op_t *op)
{
    for (const tpu_op_t *o = q->head; o; o = o->next)
        if (o == op)
            return true;
    return false;
}

rcomm_status_t tpu_err_oversize(int rank, int peer, uint64_t len, uint64_t tag,
                                size_t cap)
{
    return rcomm_err(
        RCOMM_ERR_PROTOCOL,
        "rank %d: rank %d sent %llu bytes for tag 0x%llx, receive posted for %zu", rank,
        peer, (unsigned long long)len, (unsigned long long)tag, cap);
}
