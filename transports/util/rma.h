/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * One-sided operations: the access check every transport makes (TCP at the
 * target, verbs at the initiator, before anything reaches the wire), and the
 * one message an operation refused with RCOMM_ERR_ACCESS carries.
 */
#ifndef RCOMM_TPU_RMA_H
#define RCOMM_TPU_RMA_H

#include <stdbool.h>
#include <stdint.h>

#include "rcomm.h"
#include "transports/transport.h"

typedef enum { TP_PUT, TP_GET, TP_FADD, TP_CSWAP } tp_rma_t;

/* Why an access is refused. TCP carries these values on the wire. */
typedef enum {
    TP_ACC_OK = 0,
    TP_ACC_NO_KEY, /* no region under that key */
    TP_ACC_RANGE,  /* the bytes leave the region */
    TP_ACC_RIGHTS, /* the region lacks the right the operation needs */
    TP_ACC_ALIGN,  /* atomic address not 8-byte aligned */
} tp_acc_t;

/* For messages: what the caller posted ("put to"), and the operation's
 * name ("put"). */
const char *tp_rma_post(tp_rma_t kind);
const char *tp_rma_name(tp_rma_t kind);

/* May kind touch [raddr, raddr + len) of the region [base, base + rlen)
 * whose rights (RCOMM_TP_REMOTE_*) are granted? Atomics touch 8 bytes. */
tp_acc_t tp_rma_access(tp_rma_t kind, uint64_t base, uint64_t rlen, unsigned granted,
                       uint64_t raddr, uint64_t len);

/* Log and return RCOMM_ERR_ACCESS for a refused operation: which, where,
 * whose region, and why (base and rlen describe the region for a range
 * refusal). */
rcomm_status_t tp_rma_denied(int rank, int peer, tp_rma_t kind, uint64_t len,
                             uint64_t raddr, uint64_t key, tp_acc_t why, uint64_t base,
                             uint64_t rlen);

/* rkey_ptr's argument checks (transport.h): ptr and rkey set (*ptr is
 * cleared first), access TP_REMOTE_READ and/or TP_REMOTE_WRITE, and
 * tp_check_post's. INVALID_ARG with a message naming them. */
rcomm_status_t tp_rkey_ptr_check(const tp_t *tp, bool connected, int peer,
                                 const tp_rkey_t *rkey, unsigned access, void **ptr);

/* The rkey_ptr of a transport that maps no peer's memory (TCP, verbs), its
 * ops table's member as it is: the checks above (whether connected or not,
 * the answer is the same), then RCOMM_ERR_UNSUPPORTED saying so. */
rcomm_status_t tp_rkey_ptr_unmapped(tp_t *tp, int peer, const tp_rkey_t *rkey,
                                    uint64_t raddr, size_t len, unsigned access,
                                    void **ptr);
void tp_rkey_ptr_release_none(tp_t *tp, int peer, void *ptr);

#endif /* RCOMM_TPU_RMA_H */
