/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Matching of two-sided messages by (peer, tag), shared by the transports.
 *
 * Every transport's request state (in rcomm_tp_req_t.priv) starts with a
 * tpu_op_t: the link of the one list the request is on (posted, done, or a
 * list of the transport's own), its tag, peer and the status it completes
 * with. Every message a transport holds because it arrived before its
 * receive starts with a tpu_unexp_t. Both are intrusive: queueing allocates
 * nothing.
 *
 * Per peer (tpu_match_t), posted receives are kept in posting order and a
 * message matches the first one with its tag; held messages are kept in
 * arrival order and a receive takes the oldest one with its tag. What a
 * transport holds (a buffered copy, a rendezvous request, a parked frame)
 * and how it delivers it stays the transport's.
 */
#ifndef RCOMM_TPU_MATCH_H
#define RCOMM_TPU_MATCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "transports/transport.h"

typedef struct tpu_op {
    struct tpu_op *next;
    uint64_t tag; /* two-sided */
    int32_t peer;
    int32_t status; /* reported when the done list drains */
} tpu_op_t;

typedef struct {
    tpu_op_t *head, *tail;
} tpu_opq_t;

typedef struct tpu_unexp {
    struct tpu_unexp *next;
    uint64_t tag;
    uint64_t len;
    rcomm_env_t env;
} tpu_unexp_t;

typedef struct {
    tpu_unexp_t *head, *tail;
} tpu_uxq_t;

/* One peer's receives and early messages. */
typedef struct {
    tpu_opq_t posted; /* receives, posting order */
    tpu_uxq_t unexp;  /* arrival order */
} tpu_match_t;

static inline tpu_op_t *tpu_op(rcomm_tp_req_t *req)
{
    return (tpu_op_t *)req->priv;
}

static inline rcomm_tp_req_t *tpu_req(tpu_op_t *op)
{
    return (rcomm_tp_req_t *)((char *)op - offsetof(rcomm_tp_req_t, priv));
}

/* A receive waits for its message. */
void tpu_post(tpu_match_t *m, tpu_op_t *recv);
/* The first posted receive with tag, unlinked; NULL if none. */
tpu_op_t *tpu_match_posted(tpu_match_t *m, uint64_t tag);
/* Withdraw recv: false if it is not posted here (found by address). */
bool tpu_unpost(tpu_match_t *m, tpu_op_t *recv);

/* A message arrived before its receive: tell the transport's owner (the
 * on_unexpected hook), before the transport decides how to hold it. */
void tpu_unexpected(const rcomm_tp_t *tp, int peer, uint64_t tag, const rcomm_env_t *env,
                    uint64_t len);
/* Hold it, behind the others. */
void tpu_hold(tpu_match_t *m, tpu_unexp_t *ux);
/* The oldest held message with tag, left in place; *prev is its
 * predecessor, for tpu_unhold. NULL if none. */
tpu_unexp_t *tpu_find_held(tpu_match_t *m, uint64_t tag, tpu_unexp_t **prev);
void tpu_unhold(tpu_match_t *m, tpu_unexp_t *prev, tpu_unexp_t *ux);
/* tpu_find_held and tpu_unhold. */
tpu_unexp_t *tpu_match_held(tpu_match_t *m, uint64_t tag);

/* A message longer than its receive: logs and returns RCOMM_ERR_PROTOCOL. */
rcomm_status_t tpu_err_oversize(int rank, int peer, uint64_t len, uint64_t tag,
                                size_t cap);

/* Complete op with status: it joins the done list, reported by
 * tpu_report_done (never from a post). */
static inline void tpu_done(tpu_opq_t *done, tpu_op_t *op, rcomm_status_t status)
{
    op->status = status;
    op->next = NULL;
    if (done->tail)
        done->tail->next = op;
    else
        done->head = op;
    done->tail = op;
}
/* Report the done list, oldest first: each request is unlinked before its
 * callback runs, so that the callback may post it again. */
void tpu_report_done(tpu_opq_t *done);
/* Is op on q? (found by address: op may never have been posted) */
bool tpu_queued(const tpu_opq_t *q, const tpu_op_t *op);

#endif /* RCOMM_TPU_MATCH_H */
