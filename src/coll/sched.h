/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Schedules: every collective is built as a small dependency graph of
 * operations (send, receive, reduce, copy, finish, join) and then run by one
 * executor. An operation starts once the operations it depends on have
 * completed, so
 *  - reduction of segment k overlaps the transfer of segment k+1 simply
 *    because they do not depend on each other;
 *  - nonblocking collectives need no thread: rcomm_sched_progress() posts
 *    whatever became ready and returns;
 *  - timeouts, peer failures and argument mismatches are handled once, here.
 *
 * Message matching: the n-th send to a peer in a schedule pairs with that
 * peer's n-th receive from us (both sides build the same graph), so builders
 * never invent tags. Sends to one peer are also posted in that order, which
 * keeps the transport's streams free of head-of-line surprises.
 */
#ifndef RCOMM_SCHED_H
#define RCOMM_SCHED_H

#include <stddef.h>
#include <stdint.h>

#include "coll/model.h"
#include "core/comm.h"
#include "rcomm.h"
#include "transports/transport.h"

typedef struct rcomm_sched rcomm_sched_t;
typedef uint32_t rcomm_sop_id_t;
#define RCOMM_SOP_NONE UINT32_MAX

/* What every rank must agree on; travels in each message's envelope. */
typedef struct {
    rcomm_coll_kind_t kind;
    rcomm_dtype_t dtype;
    rcomm_op_t op;
    int root;
    size_t count;
} rcomm_coll_desc_t;

typedef enum {
    RCOMM_SOP_SEND,
    RCOMM_SOP_RECV,
    RCOMM_SOP_REDUCE, /* dst = a op b, n elements */
    RCOMM_SOP_COPY,   /* dst = a, n bytes */
    RCOMM_SOP_FINISH, /* dst = finish(dst) (AVG division), n elements */
    RCOMM_SOP_JOIN,   /* nothing: a point to depend on */
} rcomm_sop_kind_t;

typedef struct rcomm_sop rcomm_sop_t;

struct rcomm_sched {
    rcomm_comm_t *comm;
    rcomm_coll_desc_t desc;
    size_t esize;
    uint64_t seq;
    const char *name; /* "allreduce (ring)": for messages */

    rcomm_sop_t *ops;
    uint32_t nops, cap_ops;
    uint64_t *edges; /* (from << 32 | to) while building */
    uint32_t nedges, cap_edges;
    uint32_t *succ; /* successors of each op, after start */
    uint32_t *ready;
    uint32_t ready_head, ready_tail;
    uint32_t *peer_next; /* per peer: next send/recv index (building) */
    uint32_t *last_send; /* per peer: last send op (building) */
    void *scratch[4];

    uint32_t ndone;
    rcomm_status_t status; /* INPROGRESS, OK or the failure */
    uint64_t last_activity_ns;
    rcomm_sched_t *next, *prev; /* rcomm_colls(comm)->active */
    int failed_peer;            /* peer named by the failure, or -1 */
    /* The failure's message, kept with the request: it may be decided in a
     * call on another request (or, later, on a progress thread), whose
     * thread-local error is gone by the time this one is waited for. */
    char errmsg[256];
};

struct rcomm_sop {
    rcomm_tp_req_t req; /* first: callbacks recover the op from it */
    rcomm_sched_t *sched;
    uint8_t kind;
    uint8_t posted;
    int peer;
    uint32_t tag;
    void *dst;
    const void *a, *b;
    size_t n;
    uint32_t pending; /* unfinished dependencies */
    uint32_t succ_off, nsucc;
    rcomm_sop_id_t order_next; /* next send to the same peer */
};

/* Building. Every add returns the new op's id, or RCOMM_SOP_NONE when out of
 * memory (recorded: rcomm_sched_start then fails). Dependencies on
 * RCOMM_SOP_NONE are ignored, so builders can pass "no op" freely. */
rcomm_status_t rcomm_sched_init(rcomm_sched_t *s, rcomm_comm_t *comm,
                                const rcomm_coll_desc_t *desc, const char *name);
rcomm_sop_id_t rcomm_sched_send(rcomm_sched_t *s, int peer, const void *buf,
                                size_t bytes);
rcomm_sop_id_t rcomm_sched_recv(rcomm_sched_t *s, int peer, void *buf, size_t bytes);
rcomm_sop_id_t rcomm_sched_reduce(rcomm_sched_t *s, void *dst, const void *a,
                                  const void *b, size_t count);
rcomm_sop_id_t rcomm_sched_copy(rcomm_sched_t *s, void *dst, const void *src,
                                size_t bytes);
rcomm_sop_id_t rcomm_sched_finish(rcomm_sched_t *s, void *buf, size_t count);
rcomm_sop_id_t rcomm_sched_join(rcomm_sched_t *s);
/* op waits for dep to complete. */
void rcomm_sched_dep(rcomm_sched_t *s, rcomm_sop_id_t op, rcomm_sop_id_t dep);
/* Scratch memory owned by the schedule (freed with it, at most 4 areas);
 * NULL if out of memory (recorded: rcomm_sched_start then fails). */
void *rcomm_sched_scratch(rcomm_sched_t *s, size_t bytes);

/* A ring of receive buffers of one segment each. Taking a slot returns the op
 * that last released it: the receive into it must depend on that op. */
#define RCOMM_MAX_SLOTS 64
typedef struct {
    char *base;
    size_t bytes;
    uint32_t n, next;
    rcomm_sop_id_t release[RCOMM_MAX_SLOTS];
} rcomm_slots_t;

/* Up to RCOMM_PIPELINE_DEPTH slots of seg_bytes, fewer if total_bytes (the
 * most that will ever be in flight) needs fewer. */
void rcomm_slots_init(rcomm_slots_t *sl, rcomm_sched_t *s, size_t seg_bytes,
                      size_t total_bytes);
char *rcomm_slot_take(rcomm_slots_t *sl, rcomm_sop_id_t *wait_for);
/* The op after which the slot taken last may be reused. */
void rcomm_slot_release(rcomm_slots_t *sl, rcomm_sop_id_t op);

/* Running. start() links the graph and posts what is ready; progress() posts
 * newly ready operations. Both return INPROGRESS, OK or an error. */
rcomm_status_t rcomm_sched_start(rcomm_sched_t *s);
rcomm_status_t rcomm_sched_progress(rcomm_sched_t *s);
/* Record a failure decided elsewhere (timeout, comm failure). Every failure
 * keeps the thread's last error as the schedule's errmsg. */
void rcomm_sched_fail(rcomm_sched_t *s, rcomm_status_t status);
/* An unexpected message of this schedule's sequence number arrived: fail
 * with MISMATCH if its envelope disagrees with our call. */
void rcomm_sched_check_unexpected(rcomm_sched_t *s, int peer, const rcomm_env_t *env);
/* Describe the peers this schedule is waiting for ("rank 3 (receive), ..."). */
void rcomm_sched_waiting_for(const rcomm_sched_t *s, char *buf, size_t len);
void rcomm_sched_free(rcomm_sched_t *s);

/* The envelope of every message of collective #seq: seq, then the desc. */
void rcomm_coll_desc_to_env(const rcomm_coll_desc_t *d, uint64_t seq, rcomm_env_t *env);
void rcomm_coll_env_to_desc(const rcomm_env_t *env, rcomm_coll_desc_t *d);
int rcomm_coll_desc_equal(const rcomm_coll_desc_t *a, const rcomm_coll_desc_t *b);

/* A collective's tags are its sequence number in the upper half: the tag
 * spaces below the services' (core/service.h). */

/* "allreduce(count=100, f32, sum)" */
void rcomm_coll_desc_format(const rcomm_coll_desc_t *d, char *buf, size_t len);

#endif
