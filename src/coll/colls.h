/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The collectives as a service of the communicator (core/service.h): the
 * schedules in flight, the sequence counter that numbers them (and is their
 * tag space), the cost model, and the health checks that explain a timeout.
 * The communicator holds none of this; it reaches the collectives only
 * through the service hooks.
 */
#ifndef RCOMM_COLLS_H
#define RCOMM_COLLS_H

#include "coll/model.h"
#include "coll/sched.h"
#include "core/comm.h"

typedef struct coll_sched coll_sched_t;
typedef struct coll_mailboxes coll_mailboxes_t;
struct coll_health;

/* The envelope of a message for a collective this rank has not called yet
 * (colls.c). */
typedef struct {
    uint64_t seq;
    int peer;
    tp_env_t env;
} coll_early_t;
#define COLL_EARLY_MAX 32

typedef struct {
    uint64_t next_seq;           /* collectives started so far: tags and logs */
    coll_sched_t *active;        /* collectives in flight, oldest first */
    coll_model_t model;          /* the same on every rank (rank 0's): the
                                  * transport's, or the network's */
    coll_model_t local;          /* shared memory's, beside a network */
    coll_links_t links;          /* what the algorithms cross (model.h) */
    struct coll_health *health;  /* probes for timeout diagnosis (health.c) */
    uint32_t p2p_space;          /* the tag space of send and receive (p2p.c) */
    struct rcomm_request *spare; /* a finished blocking call's, for the next */
    /* One envelope per distinct call of the messages that came ahead of
     * their collective, oldest first; more than COLL_EARLY_MAX distinct ones
     * at once are not kept (the data or the agreement still find them). */
    coll_early_t early[COLL_EARLY_MAX];
    unsigned nearly;
    /* Small allreduces through shared slots (allreduce_slots.c): set when
     * every rank maps every other's mailbox; NULL: not used. */
    coll_mailboxes_t *slots;
    /* The last call begun in the mailboxes (coll_mbox_tag of it; 0: none).
     * Its ranks all take the same path, so data for it means it fell back
     * to the generic path: early, not a mismatch (colls.c). */
    uint64_t mbox_call;
    /* Inside that call (from coll_mbox_post until it returns), and what it
     * is: the answer to a peer's health probe (health.c). */
    bool in_mbox;
    coll_desc_t mbox_desc;
} coll_state_t;

/* Frees a kept request (coll_state_t.spare; coll.c). */
void coll_spare_free(struct rcomm_request *req);

/* The communicator's collectives state (set up at creation). */
static inline coll_state_t *coll_state(const rcomm_comm_t *comm)
{
    return comm->rest.state;
}

/* health.c: the health checks, a service of their own (their own tag
 * space). After a timeout of s: probe every peer and explain; returns the
 * status to fail with (TIMEOUT or MISMATCH) and the message in msg. */
rcomm_status_t coll_health_init(rcomm_comm_t *comm);
/* Whether peer has failed (*st: how), watching it from the first call on
 * with a zero-byte receive on a tag nobody sends to, which the transport
 * fails when the peer fails: for waits that post nothing to the peer (the
 * mailboxes). */
bool coll_health_peer_failed(rcomm_comm_t *comm, int peer, rcomm_status_t *st);
/* p2p.c: register point-to-point's tag space. */
rcomm_status_t coll_p2p_init(rcomm_comm_t *comm);
/* colls.c: check the envelopes that came ahead of s (just posted) against
 * it and forget them: MISMATCH fails s, naming the peer. */
rcomm_status_t coll_early_check(rcomm_comm_t *comm, coll_sched_t *s);
/* allreduce_slots.c: the mailboxes, set up once the transport is
 * connected (every rank, through the bootstrap; colls->slots stays NULL
 * unless every rank can map every other's); a collective's start, which
 * every call announces there; and freeing them (tp: the live transport, or
 * NULL once it is gone). */
rcomm_status_t coll_slots_connected(rcomm_comm_t *comm, coll_state_t *colls);
void coll_slots_started(coll_state_t *colls, uint64_t seq);
void coll_slots_free(tp_t *tp, coll_mailboxes_t *sl);
/* A call that made no progress for RCOMM_TIMEOUT, as its diagnosis names
 * it. */
typedef struct {
    char title[96];    /* "allreduce (ring) #4" */
    char waiting[200]; /* "rank 3 (receive), ..." */
    uint64_t seq;
    coll_desc_t desc;
    bool p2p;
} coll_stall_t;
/* Asks every peer what it is doing (health.c) and says in msg who is to
 * blame: TIMEOUT, or MISMATCH where peers are in one call differently. */
rcomm_status_t coll_health_diagnose(rcomm_comm_t *comm, const coll_stall_t *s, char *msg,
                                    size_t len);

#endif
