/* SPDX-License-Identifier: BSD-3-Clause */
/* Matching of two-sided messages by (peer, tag): see match.h. */
#include "transports/util/match.h"

#include "base/error.h"
#include "base/fifo.h"

void tp_post(tp_match_t *m, tp_op_t *recv)
{
    BASE_FIFO_PUSH(&m->posted, recv);
}

tp_op_t *tp_match_posted(tp_match_t *m, uint64_t tag)
{
    for (tp_op_t *op = m->posted.head, *prev = NULL; op; prev = op, op = op->next)
        if (op->tag == tag) {
            BASE_FIFO_UNLINK(&m->posted, prev, op);
            return op;
        }
    return NULL;
}

bool tp_unpost(tp_match_t *m, tp_op_t *recv)
{
    for (tp_op_t *op = m->posted.head, *prev = NULL; op; prev = op, op = op->next)
        if (op == recv) {
            BASE_FIFO_UNLINK(&m->posted, prev, op);
            return true;
        }
    return false;
}

void tp_unexpected(const tp_t *tp, int peer, uint64_t tag, const tp_env_t *env,
                   uint64_t len)
{
    if (tp->on_unexpected)
        tp->on_unexpected(tp->unexpected_arg, peer, tag, env, (size_t)len);
}

void tp_hold(tp_match_t *m, tp_unexp_t *ux)
{
    BASE_FIFO_PUSH(&m->unexp, ux);
}

tp_unexp_t *tp_find_held(tp_match_t *m, uint64_t tag, tp_unexp_t **prev)
{
    *prev = NULL;
    for (tp_unexp_t *ux = m->unexp.head; ux; *prev = ux, ux = ux->next)
        if (ux->tag == tag)
            return ux;
    return NULL;
}

void tp_unhold(tp_match_t *m, tp_unexp_t *prev, tp_unexp_t *ux)
{
    BASE_FIFO_UNLINK(&m->unexp, prev, ux);
}

tp_unexp_t *tp_match_held(tp_match_t *m, uint64_t tag)
{
    tp_unexp_t *prev, *ux = tp_find_held(m, tag, &prev);

    if (ux)
        tp_unhold(m, prev, ux);
    return ux;
}

void tp_report_done(tp_t *tp, tp_opq_t *done)
{
    if (done->head)
        tp->traffic++;
    BASE_FIFO_DRAIN_DONE(done, tp_op_t, tp_req_head);
}

bool tp_queued(const tp_opq_t *q, const tp_op_t *op)
{
    for (const tp_op_t *o = q->head; o; o = o->next)
        if (o == op)
            return true;
    return false;
}

rcomm_status_t tp_err_oversize(int rank, int peer, uint64_t len, uint64_t tag, size_t cap)
{
    return base_err(
        RCOMM_ERR_PROTOCOL,
        "rank %d: rank %d sent %llu bytes for tag 0x%llx, receive posted for %zu", rank,
        peer, (unsigned long long)len, (unsigned long long)tag, cap);
}
