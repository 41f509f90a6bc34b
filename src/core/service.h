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

#include <stddef.h>
#include <stdint.h>

#include "rcomm.h"
#include "transports/transport.h"

#define RCOMM_SERVICE_MAX 8
#define RCOMM_SPACE_TOP 0xffffffffu /* the first space handed out */

typedef struct {
    const char *name;
    /* After each transport progress. May post, complete, and fail the
     * communicator. NULL: nothing to do. */
    void (*progress)(rcomm_comm_t *comm, void *state);
    /* A message in this service's space arrived before its receive (the
     * transport keeps it for the receive). May record state; must not post
     * or cancel. NULL: nothing to record. */
    void (*unexpected)(rcomm_comm_t *comm, void *state, int peer, uint64_t tag,
                       const rcomm_env_t *env, size_t len);
} rcomm_service_ops_t;

typedef struct {
    const rcomm_service_ops_t *ops; /* NULL: a free slot */
    void *state;
    uint32_t space;
} rcomm_service_t;

/* Register ops (static: kept by pointer) with state; *space gets the
 * service's tag space, the highest one free. RCOMM_ERR_INTERNAL when all
 * RCOMM_SERVICE_MAX are taken. */
rcomm_status_t rcomm_service_add(rcomm_comm_t *comm, const rcomm_service_ops_t *ops,
                                 void *state, uint32_t *space);
/* The owner of every space below those handed out (the collectives). */
void rcomm_service_set_rest(rcomm_comm_t *comm, const rcomm_service_ops_t *ops,
                            void *state);
/* Unregister the service that has this space; its space becomes free. */
void rcomm_service_remove(rcomm_comm_t *comm, uint32_t space);
/* The lowest space that may be handed out: the rest's spaces stay below. */
#define RCOMM_SPACE_FLOOR (RCOMM_SPACE_TOP - RCOMM_SERVICE_MAX + 1)

static inline uint64_t rcomm_service_tag(uint32_t space, uint32_t low)
{
    return (uint64_t)space << 32 | low;
}

/* The communicator's part: every hook, in registration order (the rest
 * first); an unexpected message to its space's owner. */
void rcomm_services_progress(rcomm_comm_t *comm);
void rcomm_services_unexpected(rcomm_comm_t *comm, int peer, uint64_t tag,
                               const rcomm_env_t *env, size_t len);

#endif
