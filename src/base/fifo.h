/* SPDX-License-Identifier: BSD-3-Clause */
/* Intrusive singly linked FIFOs shared by the transports: q is any struct
 * with head and tail pointers to elements that have a next pointer. */
#ifndef RCOMM_FIFO_H
#define RCOMM_FIFO_H

#include <stddef.h>

#define BASE_FIFO_PUSH(q, e)                                                             \
    do {                                                                                 \
        (e)->next = NULL;                                                                \
        if ((q)->tail)                                                                   \
            (q)->tail->next = (e);                                                       \
        else                                                                             \
            (q)->head = (e);                                                             \
        (q)->tail = (e);                                                                 \
    } while (0)

/* Remove the head (which must exist). */
#define BASE_FIFO_POP(q)                                                                 \
    do {                                                                                 \
        if (!((q)->head = (q)->head->next))                                              \
            (q)->tail = NULL;                                                            \
    } while (0)

/* Unlink e, whose predecessor is prev (NULL at the head). */
#define BASE_FIFO_UNLINK(q, prev, e)                                                     \
    do {                                                                                 \
        if (prev)                                                                        \
            (prev)->next = (e)->next;                                                    \
        else                                                                             \
            (q)->head = (e)->next;                                                       \
        if ((q)->tail == (e))                                                            \
            (q)->tail = (prev);                                                          \
    } while (0)

/* Report the completed operations queued on q, oldest first: each is
 * unlinked before its callback runs, so that the callback may repost its
 * request. req_of maps an operation to its tp_req_t. */
#define BASE_FIFO_DRAIN_DONE(q, op_type, req_of)                                         \
    do {                                                                                 \
        op_type *op_;                                                                    \
        while ((op_ = (q)->head)) {                                                      \
            tp_req_t *req_ = req_of(op_);                                                \
            BASE_FIFO_POP(q);                                                            \
            req_->status = (rcomm_status_t)op_->status;                                  \
            if (req_->cb)                                                                \
                req_->cb(req_);                                                          \
        }                                                                                \
    } while (0)

#endif
