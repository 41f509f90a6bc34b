/* SPDX-License-Identifier: BSD-3-Clause */
/* Peer health and the checks of create() and of posts: see peer.h. */
#include <stdio.h>
#include <stdlib.h>

#include "base/error.h"
#include "transports/util/peer.h"

void tpu_cause_vfmt(tpu_cause_t *cause, const char *fmt, va_list ap)
{
    vsnprintf(cause->text, sizeof(cause->text), fmt, ap);
}

bool tpu_fail_start(tpu_fail_t *f, rcomm_status_t status, int rank,
                    const tpu_cause_t *cause)
{
    if (f->status != RCOMM_OK)
        return false;
    f->status = status;
    snprintf(f->msg, sizeof(f->msg), "%s [seen by rank %d]", cause->text, rank);
    return true;
}

void tpu_fail_log(tpu_fail_t *f, int rank, const tpu_cause_t *cause, const char *failed,
                  bool closed)
{
    if (failed) {
        f->logged = true;
        rcomm_err(f->status, "%s [seen by rank %d; failed %s]", cause->text, rank,
                  failed);
        return;
    }
    /* Nothing was waiting: a normal close is no news, and a loss is reported
     * as an error by the next post to this peer. */
    rcomm_log(closed && f->status == RCOMM_ERR_PEER_FAILED ? RCOMM_LOG_INFO
                                                           : RCOMM_LOG_WARN,
              "%s", f->msg);
}

rcomm_status_t tpu_fail_report(tpu_fail_t *f, const char *what, int peer)
{
    if (!f->logged) {
        f->logged = true;
        return rcomm_err(f->status, "%s rank %d: %s", what, peer, f->msg);
    }
    return rcomm_err_quiet(f->status, "%s rank %d: %s", what, peer, f->msg);
}

rcomm_status_t tpu_create_check(const rcomm_tp_params_t *params, rcomm_tp_t **tp,
                                const char *name)
{
    if (params && tp && params->cfg && params->size >= 1 && params->rank >= 0 &&
        params->rank < params->size)
        return RCOMM_OK;
    return rcomm_err(RCOMM_ERR_INVALID_ARG, "%s create: %s", name,
                     !params || !tp ? "params or tp is NULL"
                     : !params->cfg ? "params->cfg is NULL"
                                    : "rank is not in [0, size)");
}

rcomm_status_t tpu_head_init(rcomm_tp_t *tp, const rcomm_tp_ops_t *ops,
                             const rcomm_tp_params_t *params)
{
    *tp = (rcomm_tp_t){.ops = ops,
                       .rank = params->rank,
                       .size = params->size,
                       .on_unexpected = params->on_unexpected,
                       .unexpected_arg = params->unexpected_arg};
    if (!params->serves)
        return RCOMM_OK;
    if (!(tp->serves = malloc((size_t)params->size)))
        return rcomm_err(RCOMM_ERR_NO_MEMORY, "rank %d: %s create: out of memory",
                         params->rank, ops->name);
    for (int r = 0; r < params->size; r++)
        tp->serves[r] = r != params->rank && params->serves[r];
    return RCOMM_OK;
}

void tpu_head_fini(rcomm_tp_t *tp)
{
    free(tp->serves);
    tp->serves = NULL;
}

int tpu_served(const rcomm_tp_t *tp)
{
    int n = 0;

    for (int r = 0; r < tp->size; r++)
        n += rcomm_tp_serves(tp, r);
    return n;
}
