/* SPDX-License-Identifier: BSD-3-Clause */
/* Intrusive singly linked FIFOs shared by the transports: q is any struct
 * with head and tail pointers to elements that have a next pointer. */
#ifndef RCOMM_FIFO_H
#define RCOMM_FIFO_H

#include <stddef.h>

#define RCOMM_FIFO_PUSH(q, e)                                                            \
    do {                                                                                 \
        (e)->next = NULL;                                                                \
        if ((q)->tail)                                                                   \
            (q)->tail->next = (e);                                                       \
        else                                                                             \
            (q)->head = (e);                                                             \
        (q)->tail = (e);                                                                 \
    } while (0)

/* Remove the head (which must exist). */
#define RCOMM_FIFO_POP(q)                                                                \
    do {                                                                                 \
        if (!((q)->head = (q)->head->next))                                              \
            (q)->tail = NULL;                                                            \
    } while (0)

/* Unlink e, whose predecessor is prev (NULL at the head). */
#define RCOMM_FIFO_UNLINK(q, prev, e)                                                    \
    do {                                                                                 \
        if (prev)                                                                        \
            (prev)->next = (e)->next;                                                    \
        else                                                                             \
            (q)->head = (e)->next;                                                       \
        if ((q)->tail == (e))                                                            \
            (q)->tail = (prev);                                                          \
    } while (0)

#endif
