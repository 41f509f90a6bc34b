/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The services a communicator hosts: the collectives, the health checks, the
 * parameter server, a benchmark's own traffic. Each owns a tag space (the
 * upper 32 bits of the transport's 64-bit tags) handed out here, from the
 * top down, in registration order. Services register in the same order on
 * every rank (at communicator creation, or inside a collective call such as
 * rcomm_ps_create), so a service gets the same space everywhere. One
 * service, the collectives, owns every space below those handed out: its
 * sequence numbers. The communicator's progress calls each service's hook,
 * and hands an unexpected message to the owner of its space; it knows no
 * service by name.
 */
#ifndef RCOMM_SERVICE_H
#define RCOMM_SERVICE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rcomm.h"
#include "transports/transport.h"

#define COMM_SERVICE_MAX 8
#define COMM_SPACE_TOP 0xffffffffu /* the first space handed out */

typedef struct {
    const char *name;
    /* After each transport progress. May post, complete, and fail the
     * communicator. NULL: nothing to do. */
    void (*progress)(rcomm_comm_t *comm, void *state);
    /* A message in this service's space arrived before its receive (the
     * transport keeps it for the receive). May record state; must not post
     * or cancel. NULL: nothing to record. */
    void (*unexpected)(rcomm_comm_t *comm, void *state, int peer, uint64_t tag,
                       const tp_env_t *env, size_t len);
    /* A peer's put_notify for this service landed (comm_notify_imm): value
     * is the peer's, untrusted. The same rules as unexpected: record state,
     * do not post or cancel. NULL: notifications are dropped. */
    void (*notify)(rcomm_comm_t *comm, void *state, int peer, uint32_t value);
    /* Whether operations of the service are in flight: the communicator is
     * then not destroyed, nor memory deregistered. Writes what is in flight
     * ("nonblocking collective #4") into what. NULL: never busy. */
    bool (*busy)(rcomm_comm_t *comm, void *state, char *what, size_t len);
    /* The transport is connected, before the ranks' last meeting at the
     * bootstrap: every rank calls it, in service order, so it may exchange
     * through the bootstrap (comm->bs, NULL on one rank). An error fails
     * the communicator's creation. NULL: nothing to set up. */
    rcomm_status_t (*connected)(rcomm_comm_t *comm, void *state);
    /* The communicator failed (its transport is about to close): complete
     * whatever is in flight with RCOMM_ERR_COMM_FAILED. NULL: nothing to do. */
    void (*fail)(rcomm_comm_t *comm, void *state);
    /* The communicator is going away: free state. NULL: nothing to free. */
    void (*destroy)(rcomm_comm_t *comm, void *state);
} comm_service_ops_t;

typedef struct {
    const comm_service_ops_t *ops; /* NULL: a free slot */
    void *state;
    uint32_t space;
} comm_service_t;

/* Register ops (static: kept by pointer) with state; *space gets the
 * service's tag space, the highest one free. RCOMM_ERR_INTERNAL when all
 * COMM_SERVICE_MAX are taken. */
rcomm_status_t comm_service_add(rcomm_comm_t *comm, const comm_service_ops_t *ops,
                                void *state, uint32_t *space);
/* The owner of every space below those handed out (the collectives). */
void comm_service_set_rest(rcomm_comm_t *comm, const comm_service_ops_t *ops,
                           void *state);
/* Unregister the service that has this space; its space becomes free. */
void comm_service_remove(rcomm_comm_t *comm, uint32_t space);
/* The lowest space that may be handed out: the rest's spaces stay below. */
#define COMM_SPACE_FLOOR (COMM_SPACE_TOP - COMM_SERVICE_MAX + 1)

static inline uint64_t comm_service_tag(uint32_t space, uint32_t low)
{
    return (uint64_t)space << 32 | low;
}

/* The immediate of a put_notify for service `space` carrying value: the
 * service in the top bits (spaces handed out are at most COMM_SERVICE_MAX
 * below the top), value below COMM_NOTIFY_LIMIT in the rest. */
#define COMM_NOTIFY_BITS 28
#define COMM_NOTIFY_LIMIT (1u << COMM_NOTIFY_BITS)
_Static_assert((uint64_t)COMM_SERVICE_MAX << COMM_NOTIFY_BITS <= TP_NOTIFY_LIMIT,
               "a service's notifications must fit the transport's immediate");
static inline uint32_t comm_notify_imm(uint32_t space, uint32_t value)
{
    return (COMM_SPACE_TOP - space) << COMM_NOTIFY_BITS |
           (value & (COMM_NOTIFY_LIMIT - 1));
}

/* The communicator's part: every hook, in registration order (the rest
 * first); an unexpected message to its space's owner; busy: the first busy
 * service's answer; destroy: every service's, the rest last. */
void comm_services_progress(rcomm_comm_t *comm);
void comm_services_unexpected(rcomm_comm_t *comm, int peer, uint64_t tag,
                              const tp_env_t *env, size_t len);
/* A put_notify landed: to the service its immediate names. */
void comm_services_notify(rcomm_comm_t *comm, int peer, uint32_t imm);
bool comm_services_busy(rcomm_comm_t *comm, char *what, size_t len);
rcomm_status_t comm_services_connected(rcomm_comm_t *comm);
void comm_services_fail(rcomm_comm_t *comm);
void comm_services_destroy(rcomm_comm_t *comm);

/* The services every communicator hosts, registered at its creation once
 * the bootstrap is up and before the transport connects (so that no
 * message finds its space without an owner). Defined by the layer above,
 * the collectives (coll/colls.c): the communicator never names them. */
rcomm_status_t comm_services_builtin(rcomm_comm_t *comm);

#endif
