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

#define TPU_ERRMSG 256

typedef struct {
    rcomm_status_t status; /* RCOMM_OK while healthy */
    bool logged;           /* msg went out through rcomm_err */
    char msg[TPU_ERRMSG];
} tpu_fail_t;

/* The cause of a failure, as the transports format it before they act. */
typedef struct {
    char text[TPU_ERRMSG - 32];
} tpu_cause_t;

/* Start failing a peer with status: false if it had failed already (the
 * caller then does nothing more). Records status and the message of cause;
 * the caller fails its requests, then calls tpu_fail_log. */
bool tpu_fail_start(tpu_fail_t *f, rcomm_status_t status, int rank,
                    const tpu_cause_t *cause);
void tpu_cause_vfmt(tpu_cause_t *cause, const char *fmt, va_list ap);

/* Log a failure just started. failed: what failed with it ("2 request(s)"),
 * NULL when nothing was waiting; closed: the peer said goodbye, so a lost
 * peer is no news. */
void tpu_fail_log(tpu_fail_t *f, int rank, const tpu_cause_t *cause, const char *failed,
                  bool closed);

/* A post to a failed peer: "<what> rank <peer>: <msg>" with its status,
 * logged the first time only. */
rcomm_status_t tpu_fail_report(tpu_fail_t *f, const char *what, int peer);

/* After rcomm_tp_check_post, for a post that needs a healthy peer: OK, or
 * tpu_fail_report. */
static inline rcomm_status_t tpu_fail_check(tpu_fail_t *f, const char *what, int peer)
{
    return f->status == RCOMM_OK ? RCOMM_OK : tpu_fail_report(f, what, peer);
}

/* The checks of create(): params, its cfg and tp are set and rank is in
 * [0, size). name is the transport's, for the message. */
rcomm_status_t tpu_create_check(const rcomm_tp_params_t *params, rcomm_tp_t **tp,
                                const char *name);
/* Fill the common head of a new instance from params (a copy of the peer
 * set included); tpu_head_fini frees what it holds. */
rcomm_status_t tpu_head_init(rcomm_tp_t *tp, const rcomm_tp_ops_t *ops,
                             const rcomm_tp_params_t *params);
void tpu_head_fini(rcomm_tp_t *tp);
/* How many peers tp serves. */
int tpu_served(const rcomm_tp_t *tp);

#endif /* RCOMM_TPU_PEER_H */
