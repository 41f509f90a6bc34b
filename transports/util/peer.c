/* SPDX-License-Identifier: BSD-3-Clause */
/* Peer health and the checks of create() and of posts: see peer.h. */
#include <stdio.h>
#include <stdlib.h>

#include "base/error.h"
#include "transports/util/peer.h"

void tp_cause_vfmt(tp_cause_t *cause, const char *fmt, va_list ap)
{
    vsnprintf(cause->text, sizeof(cause->text), fmt, ap);
}

bool tp_fail_start(tp_fail_t *f, rcomm_status_t status, int rank, const tp_cause_t *cause)
{
    if (f->status != RCOMM_OK)
        return false;
    f->status = status;
    snprintf(f->msg, sizeof(f->msg), "%s [seen by rank %d]", cause->text, rank);
    return true;
}

void tp_fail_log(tp_fail_t *f, int rank, const tp_cause_t *cause, const char *failed,
                 bool closed)
{
    if (failed) {
        f->logged = true;
        base_err(f->status, "%s [seen by rank %d; failed %s]", cause->text, rank, failed);
        return;
    }
    /* Nothing was waiting: a normal close is no news, and a loss is reported
     * as an error by the next post to this peer. */
    base_log(closed && f->status == RCOMM_ERR_PEER_FAILED ? BASE_LOG_INFO : BASE_LOG_WARN,
             "%s", f->msg);
}

rcomm_status_t tp_goodbye(int peer, int32_t status, const char *text, size_t len,
                          tp_cause_t *cause)
{
    char said[200];
    size_t n = len < sizeof(said) - 1 ? len : sizeof(said) - 1;

    for (size_t i = 0; i < n; i++)
        said[i] = (unsigned char)text[i] < 0x20 || (unsigned char)text[i] > 0x7e
                      ? '?'
                      : text[i];
    said[n] = '\0';
    if (status == RCOMM_OK) {
        snprintf(cause->text, sizeof(cause->text),
                 "peer rank %d closed the connection (it exited or destroyed its "
                 "communicator)",
                 peer);
        return RCOMM_ERR_PEER_FAILED;
    }
    if (status < 0 && status > -100) {
        snprintf(cause->text, sizeof(cause->text), "peer rank %d failed: %s", peer,
                 said[0] ? said : rcomm_strerror((rcomm_status_t)status));
        return (rcomm_status_t)status;
    }
    snprintf(cause->text, sizeof(cause->text),
             "rank %d sent a malformed frame: GOODBYE with status %d", peer, (int)status);
    return RCOMM_ERR_PROTOCOL;
}

rcomm_status_t tp_fail_report(tp_fail_t *f, const char *what, int peer)
{
    if (!f->logged) {
        f->logged = true;
        return base_err(f->status, "%s rank %d: %s", what, peer, f->msg);
    }
    return base_err_quiet(f->status, "%s rank %d: %s", what, peer, f->msg);
}

rcomm_status_t tp_create_check(const tp_params_t *params, tp_t **tp, const char *name)
{
    if (params && tp && params->cfg && params->size >= 1 && params->rank >= 0 &&
        params->rank < params->size)
        return RCOMM_OK;
    return base_err(RCOMM_ERR_INVALID_ARG, "%s create: %s", name,
                    !params || !tp ? "params or tp is NULL"
                    : !params->cfg ? "params->cfg is NULL"
                                   : "rank is not in [0, size)");
}

rcomm_status_t tp_head_init(tp_t *tp, const tp_ops_t *ops, const tp_params_t *params)
{
    *tp = (tp_t){.ops = ops,
                 .rank = params->rank,
                 .size = params->size,
                 .on_unexpected = params->on_unexpected,
                 .unexpected_arg = params->unexpected_arg,
                 .on_notify = params->on_notify,
                 .notify_arg = params->notify_arg};
    if (!(tp->moved = calloc((size_t)params->size, sizeof(*tp->moved))) ||
        (params->serves && !(tp->serves = malloc((size_t)params->size)))) {
        tp_head_fini(tp);
        return base_err(RCOMM_ERR_NO_MEMORY, "rank %d: %s create: out of memory",
                        params->rank, ops->name);
    }
    if (!params->serves)
        return RCOMM_OK;
    for (int r = 0; r < params->size; r++)
        tp->serves[r] = r != params->rank && params->serves[r];
    return RCOMM_OK;
}

void tp_head_fini(tp_t *tp)
{
    free(tp->serves);
    free(tp->moved);
    tp->serves = NULL;
    tp->moved = NULL;
}

int tp_served(const tp_t *tp)
{
    int n = 0;

    for (int r = 0; r < tp->size; r++)
        n += tp_serves(tp, r);
    return n;
}
