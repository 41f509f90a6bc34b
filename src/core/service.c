/* SPDX-License-Identifier: BSD-3-Clause */
/* The registry of services and their tag spaces (service.h). */
#include "core/service.h"

#include "base/error.h"
#include "core/comm.h"

rcomm_status_t comm_service_add(rcomm_comm_t *comm, const comm_service_ops_t *ops,
                                void *state, uint32_t *space)
{
    bool used[COMM_SERVICE_MAX] = {false};
    int slot = -1;

    for (int i = 0; i < COMM_SERVICE_MAX; i++) {
        if (comm->services[i].ops)
            used[COMM_SPACE_TOP - comm->services[i].space] = true;
        else if (slot < 0)
            slot = i;
    }
    for (int k = 0; k < COMM_SERVICE_MAX && slot >= 0; k++) {
        if (used[k])
            continue;
        comm->services[slot] = (comm_service_t){ops, state, COMM_SPACE_TOP - (uint32_t)k};
        *space = comm->services[slot].space;
        return RCOMM_OK;
    }
    return base_err(RCOMM_ERR_INTERNAL, "rank %d: no room for service %s (%d taken)",
                    comm->rank, ops->name, COMM_SERVICE_MAX);
}

void comm_service_set_rest(rcomm_comm_t *comm, const comm_service_ops_t *ops, void *state)
{
    comm->rest = (comm_service_t){ops, state, 0};
}

void comm_service_remove(rcomm_comm_t *comm, uint32_t space)
{
    for (int i = 0; i < COMM_SERVICE_MAX; i++)
        if (comm->services[i].ops && comm->services[i].space == space)
            comm->services[i].ops = NULL;
}

/* Every registered service with a hook, the rest first: s is set to each. */
#define EACH_WITH(comm, s, hook)                                                         \
    for (int i_ = 0; i_ <= COMM_SERVICE_MAX; i_++)                                       \
        if ((s = i_ ? &(comm)->services[i_ - 1] : &(comm)->rest)->ops && s->ops->hook)

void comm_services_progress(rcomm_comm_t *comm)
{
    const comm_service_t *s;

    comm->local_work = 0;
    EACH_WITH (comm, s, progress)
        s->ops->progress(comm, s->state);
}

void comm_services_unexpected(rcomm_comm_t *comm, int peer, uint64_t tag,
                              const tp_env_t *env, size_t len)
{
    const uint32_t space = (uint32_t)(tag >> 32);
    const comm_service_t *owner = NULL;

    for (int i = 0; i < COMM_SERVICE_MAX && !owner; i++)
        if (comm->services[i].ops && comm->services[i].space == space)
            owner = &comm->services[i];
    /* A space not (yet) handed out here belongs to a service that a faster
     * peer has registered and we have not: the transport keeps the message
     * until we post its receive. */
    if (!owner && space < COMM_SPACE_FLOOR)
        owner = &comm->rest;
    if (owner && owner->ops && owner->ops->unexpected)
        owner->ops->unexpected(comm, owner->state, peer, tag, env, len);
}

void comm_services_notify(rcomm_comm_t *comm, int peer, uint32_t imm)
{
    const uint32_t space = COMM_SPACE_TOP - (imm >> COMM_NOTIFY_BITS);

    /* None: the service is gone (a straggler's) or the peer is confused;
     * either way nobody here waits for it. */
    for (int i = 0; i < COMM_SERVICE_MAX; i++)
        if (comm->services[i].ops && comm->services[i].space == space &&
            comm->services[i].ops->notify) {
            comm->services[i].ops->notify(comm, comm->services[i].state, peer,
                                          imm & (COMM_NOTIFY_LIMIT - 1));
            return;
        }
}

bool comm_services_busy(rcomm_comm_t *comm, char *what, size_t len)
{
    const comm_service_t *s;

    EACH_WITH (comm, s, busy)
        if (s->ops->busy(comm, s->state, what, len))
            return true;
    return false;
}

rcomm_status_t comm_services_connected(rcomm_comm_t *comm)
{
    const comm_service_t *s;
    rcomm_status_t st;

    EACH_WITH (comm, s, connected)
        if ((st = s->ops->connected(comm, s->state)) != RCOMM_OK)
            return st;
    return RCOMM_OK;
}

void comm_services_fail(rcomm_comm_t *comm)
{
    const comm_service_t *s;

    EACH_WITH (comm, s, fail)
        s->ops->fail(comm, s->state);
}

/* The rest last: services may reach its state while they go. */
void comm_services_destroy(rcomm_comm_t *comm)
{
    for (int i = COMM_SERVICE_MAX - 1; i >= 0; i--) {
        comm_service_t s = comm->services[i];
        comm->services[i].ops = NULL;
        if (s.ops && s.ops->destroy)
            s.ops->destroy(comm, s.state);
    }
    if (comm->rest.ops && comm->rest.ops->destroy)
        comm->rest.ops->destroy(comm, comm->rest.state);
    comm->rest = (comm_service_t){NULL, NULL, 0};
}
