/* SPDX-License-Identifier: BSD-3-Clause */
/* Transport lookup by name: the one place that lists the transports built
 * (verbs when configure found libibverbs and librdmacm), and what every
 * transport shares. */
#include <stdio.h>
#include <string.h>

#include "base/error.h"
#include "config.h"
#include "transports/transport.h"
#ifdef HAVE_VERBS
#include "transports/verbs/verbs.h"
#endif

static const tp_ops_t *const transports[] = {
    &tp_tcp_ops,
    &tp_shm_ops,
#ifdef HAVE_VERBS
    &tp_verbs_ops,
#endif
};

/* Every member is called without a NULL check, so a table with a hole, or
 * one built against another layout (its size differs), is never handed out. */
static bool complete(const tp_ops_t *o)
{
    return o->size == sizeof(tp_ops_t) && o->name && o->create && o->local_addr &&
           o->connect && o->destroy && o->isend && o->irecv && o->cancel && o->mem_reg &&
           o->mem_rkey && o->mem_dereg && o->put && o->get && o->fetch_add &&
           o->compare_swap && o->rkey_ptr && o->rkey_ptr_release && o->put_notify &&
           o->caps && o->progress && o->wait_fd;
}

const tp_ops_t *tp_find(const char *name)
{
    if (!name)
        return NULL;
    for (size_t i = 0; i < sizeof(transports) / sizeof(transports[0]); i++) {
        if (strcmp(transports[i]->name, name) != 0)
            continue;
        if (complete(transports[i]))
            return transports[i];
        base_err(RCOMM_ERR_INTERNAL, "transport %s: its ops table is incomplete", name);
        return NULL;
    }
    return NULL;
}

rcomm_status_t tp_check_post(const tp_t *tp, bool connected, int peer, const void *req,
                             const char *what)
{
    bool known = tp && peer >= 0 && peer < tp->size;

    if (known && connected && req && tp_serves(tp, peer))
        return RCOMM_OK;
    if (known && connected && req && peer != tp->rank)
        return base_err(RCOMM_ERR_INVALID_ARG,
                        "rank %d: %s rank %d: this %s instance does not serve rank %d "
                        "(another instance carries its traffic)",
                        tp->rank, what, peer, tp->ops->name, peer);
    return base_err(RCOMM_ERR_INVALID_ARG, "rank %d: %s rank %d: %s", tp ? tp->rank : -1,
                    what, peer,
                    !tp || !connected  ? "the transport is not connected"
                    : !req             ? "req is NULL"
                    : peer == tp->rank ? "a rank cannot post to itself"
                                       : "no such rank");
}

rcomm_status_t tp_verbs_device(const base_config_t *cfg, char *name, size_t namelen,
                               char *near, size_t nearlen, char *why, size_t whylen)
{
#ifdef HAVE_VERBS
    vx_choice_t c;
    rcomm_status_t st = vx_choose_device(cfg->ib_hca, -1, true, &c);

    if (st != RCOMM_OK)
        return st;
    ibv_close_device(c.ctx);
    snprintf(name, namelen, "%s port %u", c.name, c.port);
    snprintf(near, nearlen, "%s", c.near);
    snprintf(why, whylen, "%s", c.why);
    return RCOMM_OK;
#else
    return base_err_quiet(RCOMM_ERR_UNSUPPORTED, "rcomm was built without verbs");
#endif
}
