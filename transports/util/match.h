/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Matching of two-sided messages by (peer, tag), shared by the transports.
 *
 * Every transport's request state (in tp_req_t.priv) starts with a
 * tp_op_t: the link of the one list the request is on (posted, done, or a
 * list of the transport's own), its tag, peer and the status it completes
 * with. Every message a transport holds because it arrived before its
 * receive starts with a tp_unexp_t. Both are intrusive: queueing allocates
 * nothing.
 *
 * Per peer (tp_match_t), posted receives are kept in posting order and a
 * message matches the first one with its tag; held messages are kept in
 * arrival order and a receive takes the oldest one with its tag. What a
 * transport holds (a buffered copy, a rendezvous announcement)
 * and how it delivers it stays the transport's.
 */
#ifndef RCOMM_TPU_MATCH_H
#define RCOMM_TPU_MATCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "transports/transport.h"

typedef struct tp_op {
    struct tp_op *next;
    uint64_t tag; /* two-sided */
    int32_t peer;
    int32_t status; /* reported when the done list drains */
} tp_op_t;

typedef struct {
    tp_op_t *head, *tail;
} tp_opq_t;

/* 1 for an operation a peer's failure report counts, 0 for a watch
 * (tp_req_t.watch). op must be in a request's priv, as every transport
 * keeps them (not a transport's own control record). */
static inline unsigned tp_op_counted(const tp_op_t *op)
{
    return !((const tp_req_t *)((const char *)op - offsetof(tp_req_t, priv)))->watch;
}

typedef struct tp_unexp {
    struct tp_unexp *next;
    uint64_t tag;
    uint64_t len;
    tp_env_t env;
} tp_unexp_t;

typedef struct {
    tp_unexp_t *head, *tail;
} tp_uxq_t;

/* One peer's receives and early messages. */
typedef struct {
    tp_opq_t posted; /* receives, posting order */
    tp_uxq_t unexp;  /* arrival order */
} tp_match_t;

static inline tp_op_t *tp_op(tp_req_t *req)
{
    return (tp_op_t *)req->priv;
}

static inline tp_req_t *tp_req_head(tp_op_t *op)
{
    return (tp_req_t *)((char *)op - offsetof(tp_req_t, priv));
}

/* A receive waits for its message. */
void tp_post(tp_match_t *m, tp_op_t *recv);
/* The first posted receive with tag, unlinked; NULL if none. */
tp_op_t *tp_match_posted(tp_match_t *m, uint64_t tag);
/* Withdraw recv: false if it is not posted here (found by address). */
bool tp_unpost(tp_match_t *m, tp_op_t *recv);

/* A message arrived before its receive: tell the transport's owner (the
 * on_unexpected hook), before the transport decides how to hold it. */
void tp_unexpected(const tp_t *tp, int peer, uint64_t tag, const tp_env_t *env,
                   uint64_t len);
/* Hold it, behind the others. */
void tp_hold(tp_match_t *m, tp_unexp_t *ux);
/* The oldest held message with tag, left in place; *prev is its
 * predecessor, for tp_unhold. NULL if none. */
tp_unexp_t *tp_find_held(tp_match_t *m, uint64_t tag, tp_unexp_t **prev);
void tp_unhold(tp_match_t *m, tp_unexp_t *prev, tp_unexp_t *ux);
/* tp_find_held and tp_unhold. */
tp_unexp_t *tp_match_held(tp_match_t *m, uint64_t tag);

/* A message longer than its receive: logs and returns RCOMM_ERR_PROTOCOL. */
rcomm_status_t tp_err_oversize(int rank, int peer, uint64_t len, uint64_t tag,
                               size_t cap);

/* Complete op with status: it joins the done list, reported by
 * tp_report_done (never from a post). */
static inline void tp_done(tp_opq_t *done, tp_op_t *op, rcomm_status_t status)
{
    op->status = status;
    op->next = NULL;
    if (done->tail)
        done->tail->next = op;
    else
        done->head = op;
    done->tail = op;
}
/* Report tp's done list, oldest first: each request is unlinked before its
 * callback runs, so that the callback may post it again. A report bumps
 * tp->traffic (the contract: completions are news), also for a request
 * done without a byte moving, such as a receive matched at its post to a
 * message already here: a waiter that saw no news would sleep on work its
 * callbacks just made ready (multi.c, 50 ms a step). */
void tp_report_done(tp_t *tp, tp_opq_t *done);
/* Is op on q? (found by address: op may never have been posted) */
bool tp_queued(const tp_opq_t *q, const tp_op_t *op);

#endif /* RCOMM_TPU_MATCH_H */
