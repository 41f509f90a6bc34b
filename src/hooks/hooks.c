/* SPDX-License-Identifier: BSD-3-Clause */
/* The tools' window (hooks.h). */
#include "hooks/hooks.h"

#include "base/error.h"
#include "coll/colls.h"
#include "core/comm.h"

base_config_t *hook_config(rcomm_comm_t *comm)
{
    return &comm->cfg;
}

tp_t *hook_transport(const rcomm_comm_t *comm)
{
    comm_progress_stop((rcomm_comm_t *)comm); /* the tool drives it from now on */
    return comm->tp;
}

bool hook_caps(const rcomm_comm_t *comm, tp_caps_t *caps, const char **name)
{
    rcomm_comm_t *c = (rcomm_comm_t *)comm;
    bool have;

    comm_lock(c);
    if ((have = comm->tp != NULL)) {
        comm->tp->ops->caps(comm->tp, caps);
        *name = comm->tp->ops->name;
    }
    comm_unlock(c, RCOMM_OK);
    return have;
}

void hook_host(const rcomm_comm_t *comm, hook_host_t *host)
{
    *host = (hook_host_t){comm->local_size, comm->local_cores, comm->oversubscribed != 0,
                          comm->spin_ns};
}

const coll_model_t *hook_model(const rcomm_comm_t *comm)
{
    return &coll_state(comm)->model;
}

coll_bcast_algo_t hook_bcast_algo(const rcomm_comm_t *comm, size_t bytes)
{
    return coll_select_broadcast(&coll_state(comm)->model, comm->cfg.bcast_algo,
                                 comm->cfg.segment_size, comm->size, bytes);
}

void hook_fail(rcomm_comm_t *comm, rcomm_status_t status, const char *why)
{
    comm_lock(comm);
    comm_fail(comm, base_err_quiet(status, "%s", why));
    comm_unlock(comm, RCOMM_OK);
}
