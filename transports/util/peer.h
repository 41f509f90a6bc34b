/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * What every transport keeps about a peer's health, and the checks every
 * create() and every post make, so that a failure reads the same whatever
 * transport saw it.
 *
 * A peer fails once: the first cause is kept ("<cause> [seen by rank R]")
 * and later causes are ignored. The failure is logged once as an error when
 * requests failed with it; when nothing was waiting it is logged as a
 * warning (information for a peer that closed normally) and the next post to
 * the peer reports it as that post's error, once through the log and then
 * only as the thread's last error.
 */
#ifndef RCOMM_TPU_PEER_H
#define RCOMM_TPU_PEER_H

#include <stdarg.h>
#include <stdbool.h>

#include "transports/transport.h"

#define TP_ERRMSG 256

typedef struct {
    rcomm_status_t status; /* RCOMM_OK while healthy */
    bool logged;           /* msg went out through base_err */
    char msg[TP_ERRMSG];
} tp_fail_t;

/* The cause of a failure, as the transports format it before they act. */
typedef struct {
    char text[TP_ERRMSG - 32];
} tp_cause_t;

/* Start failing a peer with status: false if it had failed already (the
 * caller then does nothing more). Records status and the message of cause;
 * the caller fails its requests, then calls tp_fail_log. */
bool tp_fail_start(tp_fail_t *f, rcomm_status_t status, int rank,
                   const tp_cause_t *cause);
void tp_cause_vfmt(tp_cause_t *cause, const char *fmt, va_list ap);

/* Log a failure just started. failed: what failed with it ("2 request(s)"),
 * NULL when nothing was waiting; closed: the peer said goodbye, so a lost
 * peer is no news. */
void tp_fail_log(tp_fail_t *f, int rank, const tp_cause_t *cause, const char *failed,
                 bool closed);

/* A peer's goodbye, status and len bytes of its text as they came: the
 * status to fail it with (a normal close is PEER_FAILED, a status that is
 * no error code PROTOCOL), and the cause in words, with the text made
 * printable first (it is quoted in our log, so it must not forge lines). */
rcomm_status_t tp_goodbye(int peer, int32_t status, const char *text, size_t len,
                          tp_cause_t *cause);

/* A post to a failed peer: "<what> rank <peer>: <msg>" with its status,
 * logged the first time only. */
rcomm_status_t tp_fail_report(tp_fail_t *f, const char *what, int peer);

/* After tp_check_post, for a post that needs a healthy peer: OK, or
 * tp_fail_report. */
static inline rcomm_status_t tp_fail_check(tp_fail_t *f, const char *what, int peer)
{
    return f->status == RCOMM_OK ? RCOMM_OK : tp_fail_report(f, what, peer);
}

/* The checks of create(): params, its cfg and tp are set and rank is in
 * [0, size). name is the transport's, for the message. */
rcomm_status_t tp_create_check(const tp_params_t *params, tp_t **tp, const char *name);
/* Fill the common head of a new instance from params (a copy of the peer
 * set included); tp_head_fini frees what it holds. */
rcomm_status_t tp_head_init(tp_t *tp, const tp_ops_t *ops, const tp_params_t *params);
void tp_head_fini(tp_t *tp);
/* How many peers tp serves. */
int tp_served(const tp_t *tp);

#endif /* RCOMM_TPU_PEER_H */
