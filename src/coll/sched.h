/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Schedules: every collective is built as a small dependency graph of
 * operations (send, receive, reduce, copy, finish, join) and then run by one
 * executor. An operation starts once the operations it depends on have
 * completed, so
 *  - reduction of segment k overlaps the transfer of segment k+1 simply
 *    because they do not depend on each other;
 *  - nonblocking collectives need no thread: coll_sched_progress() posts
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

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "coll/model.h"
#include "core/comm.h"
#include "rcomm.h"
#include "transports/transport.h"

typedef struct coll_sched coll_sched_t;
typedef uint32_t coll_sop_id_t;
#define COLL_SOP_NONE UINT32_MAX
/* Scratch blocks a schedule may take: one per phase (its slots and its
 * bookkeeping), and a hierarchical allreduce runs four phases. */
#define COLL_SCHED_SCRATCH 8

/* What every rank must agree on; travels in each message's envelope. */
typedef struct {
    coll_kind_t kind;
    rcomm_dtype_t dtype;
    rcomm_op_t op;
    int root;
    size_t count;
} coll_desc_t;

typedef enum {
    COLL_SOP_SEND,
    COLL_SOP_RECV,
    COLL_SOP_REDUCE, /* dst = a op b, n elements */
    COLL_SOP_COPY,   /* dst = a, n bytes */
    COLL_SOP_FINISH, /* dst = finish(dst) (AVG division), n elements */
    COLL_SOP_JOIN,   /* nothing: a point to depend on */
    COLL_SOP_AXPY,   /* dst (accumulator) = w a, or += w a unless first */
    COLL_SOP_STORE,  /* dst = a (accumulator) in the call's dtype */
    COLL_SOP_CALL,   /* fn(s, dst, budget) until it returns true */
} coll_sop_kind_t;

/* A local op of a builder's own (coll_sched_call): does up to *budget
 * bytes' worth of work, takes what it did off *budget, and returns true
 * once it is all done (it is called again later otherwise). It may fail
 * the schedule (coll_sched_fail) or skip ops that wait for it. */
typedef bool coll_sop_fn(coll_sched_t *s, void *arg, size_t *budget);

typedef struct coll_sop coll_sop_t;

struct coll_sched {
    rcomm_comm_t *comm;
    coll_desc_t desc;
    size_t esize;
    uint64_t seq;      /* the collective's number; COLL_SEQ_P2P for send/recv */
    uint64_t tag_base; /* upper half of every tag: seq, or the p2p space */
    const char *name;  /* "allreduce (ring)": for messages */
    char label[64];    /* "rcomm_recv from rank 3, tag 7": overrides name #seq */

    coll_sop_t *ops;
    uint32_t nops, cap_ops;
    uint64_t *edges; /* (from << 32 | to) while building */
    uint32_t nedges, cap_edges;
    uint32_t *succ; /* successors of each op, after start */
    uint32_t *ready;
    uint32_t *work; /* peer_next and last_send, then succ and ready (one block) */
    size_t cap_work;
    uint32_t ready_head, ready_tail;
    uint32_t *peer_next; /* per peer: next send/recv index (building) */
    uint32_t *last_send; /* per peer: last send op (building) */
    void *scratch[COLL_SCHED_SCRATCH];

    uint8_t fan_in; /* receives from several peers in flight at once (coll.c wait) */
    uint32_t ndone;
    uint32_t ndone_seen;   /* ndone when check_timeout last looked */
    rcomm_status_t status; /* INPROGRESS, OK or the failure */
    uint64_t last_activity_ns;
    uint64_t moved_seen;       /* coll_sched_moved() when sampled (coll.c) */
    uint8_t moved_sampled;     /* since last_activity_ns */
    coll_sched_t *next, *prev; /* coll_state(comm)->active */
    int failed_peer;           /* peer named by the failure, or -1 */
    uint8_t errmsg_late;       /* the transport logs its failure after the callback */
    /* The failure's message, kept with the request: it may be decided in a
     * call on another request (or, later, on a progress thread), whose
     * thread-local error is gone by the time this one is waited for. */
    char errmsg[256];
};

struct coll_sop {
    tp_req_t req; /* first: callbacks recover the op from it */
    coll_sched_t *sched;
    uint8_t kind;
    uint8_t posted;
    uint8_t first; /* AXPY: dst = w a instead of dst += w a */
    uint8_t skip;  /* completes without running (coll_sched_skip) */
    int peer;
    uint32_t tag;
    void *dst;
    const void *a, *b;
    size_t n;
    size_t off;       /* local ops: how much of n is done (sched.c run_local) */
    double w;         /* AXPY: the weight */
    coll_sop_fn *fn;  /* CALL: the work, with dst as its argument */
    uint64_t count;   /* send: the count its envelope claims; recv: expects */
    uint32_t pending; /* unfinished dependencies */
    uint32_t succ_off, nsucc;
    coll_sop_id_t order_next; /* next send to the same peer */
};

/* Building. Every add returns the new op's id, or COLL_SOP_NONE when out of
 * memory (recorded: coll_sched_start then fails). Dependencies on
 * COLL_SOP_NONE are ignored, so builders can pass "no op" freely.
 * coll_sched_init takes s zeroed, or as coll_sched_clear left it. */
rcomm_status_t coll_sched_init(coll_sched_t *s, rcomm_comm_t *comm,
                               const coll_desc_t *desc, const char *name);
coll_sop_id_t coll_sched_send(coll_sched_t *s, int peer, const void *buf, size_t bytes);
coll_sop_id_t coll_sched_recv(coll_sched_t *s, int peer, void *buf, size_t bytes);
coll_sop_id_t coll_sched_reduce(coll_sched_t *s, void *dst, const void *a, const void *b,
                                size_t count);
coll_sop_id_t coll_sched_copy(coll_sched_t *s, void *dst, const void *src, size_t bytes);
coll_sop_id_t coll_sched_finish(coll_sched_t *s, void *buf, size_t count);
coll_sop_id_t coll_sched_join(coll_sched_t *s);
/* fn(s, arg, budget), run as local work once the op's dependencies are
 * done, until it returns true. */
coll_sop_id_t coll_sched_call(coll_sched_t *s, coll_sop_fn *fn, void *arg);
/* Branches: ops [from, to) complete without running (a send posts
 * nothing, a receive expects nothing). While building, or from a CALL
 * that every one of them waits for, directly or not, so that none has
 * started; every rank must skip the same ops, for the messages of the rest
 * to pair up. */
void coll_sched_skip(coll_sched_t *s, coll_sop_id_t from, coll_sop_id_t to);
/* Weighted sums (reduce_axpy): acc = w x when first, else acc += w x, for
 * count elements of x (the call's dtype, floating) into an accumulator of
 * reduce_acc_size elements; store writes the accumulator back as dtype. */
coll_sop_id_t coll_sched_axpy(coll_sched_t *s, void *acc, const void *x, size_t count,
                              double w, int first);
coll_sop_id_t coll_sched_store(coll_sched_t *s, void *dst, const void *acc, size_t count);
/* A zero-byte message with a tag of its own (see COLL_TAG_CTRL), for a
 * pattern that must not depend on the rest of the schedule (agree.c): it is
 * not numbered among the data messages to the peer and is posted whenever
 * its dependencies allow, neither held back by those messages nor holding
 * them back. Its envelope carries the call, as every message's does. */
coll_sop_id_t coll_sched_ctrl_send(coll_sched_t *s, int peer, uint32_t tag);
coll_sop_id_t coll_sched_ctrl_recv(coll_sched_t *s, int peer, uint32_t tag);
/* Control tags: the top of a collective's tag range, which the data
 * messages (numbered from 0 per peer) never reach. */
#define COLL_TAG_CTRL 0xffffff00u

/* Messages claim, and receives expect, desc.count in their envelope; a
 * schedule whose pairs move different counts (alltoallv) sets each one. */
void coll_sched_set_count(coll_sched_t *s, coll_sop_id_t op, uint64_t count);
/* A send or receive matched by its own tag instead of its place among the
 * messages to that peer (point-to-point: the user's tag). */
void coll_sched_set_tag(coll_sched_t *s, coll_sop_id_t op, uint32_t tag);
/* op waits for dep to complete. */
void coll_sched_dep(coll_sched_t *s, coll_sop_id_t op, coll_sop_id_t dep);
/* Scratch memory owned by the schedule (freed with it, at most 4 areas);
 * NULL if out of memory (recorded: coll_sched_start then fails). */
void *coll_sched_scratch(coll_sched_t *s, size_t bytes);

/* A ring of receive buffers of one segment each. Taking a slot returns the op
 * that last released it: the receive into it must depend on that op. */
#define COLL_MAX_SLOTS 64
typedef struct {
    char *base;
    size_t bytes;
    uint32_t n, next;
    coll_sop_id_t release[COLL_MAX_SLOTS];
} coll_slots_t;

/* Up to RCOMM_PIPELINE_DEPTH slots of seg_bytes, fewer if total_bytes (the
 * most that will ever be in flight) needs fewer. */
void coll_slots_init(coll_slots_t *sl, coll_sched_t *s, size_t seg_bytes,
                     size_t total_bytes);
char *coll_slot_take(coll_slots_t *sl, coll_sop_id_t *wait_for);
/* The op after which the slot taken last may be reused. */
void coll_slot_release(coll_slots_t *sl, coll_sop_id_t op);

/* Local work (copies, reductions) done in one call before the transport has
 * its turn: a 32 MiB copy run whole left every socket idle for milliseconds
 * (our own block of a 64 MiB all-to-all on 2 ranks: 4% of its time). A
 * longer op runs in slices of this size and goes to the back of the ready
 * queue in between, behind the sends and receives that became ready
 * meanwhile; progress() then sets comm->local_work. 1 MiB slices made a
 * 1 MiB reduce on 4 ranks 1.13x slower. */
#define COLL_LOCAL_SLICE ((size_t)4 << 20)

/* Running. start() links the graph and posts what is ready; progress() posts
 * newly ready operations and runs up to COLL_LOCAL_SLICE of local work. Both
 * return INPROGRESS, OK or an error. */
rcomm_status_t coll_sched_start(coll_sched_t *s);
rcomm_status_t coll_sched_progress(coll_sched_t *s);
/* Record a failure decided elsewhere (timeout, comm failure). Every failure
 * keeps the thread's last error as the schedule's errmsg. */
void coll_sched_fail(coll_sched_t *s, rcomm_status_t status);
/* An unexpected message of this schedule's sequence number arrived: fail
 * with MISMATCH if its envelope disagrees with our call. */
void coll_sched_check_unexpected(coll_sched_t *s, int peer, const tp_env_t *env);
/* Describe the peers this schedule is waiting for ("rank 3 (receive), ..."). */
void coll_sched_waiting_for(const coll_sched_t *s, char *buf, size_t len);
/* A sum that changes whenever bytes move with a peer that an operation in
 * flight waits on (the transport's moved[] counters). */
uint64_t coll_sched_moved(const coll_sched_t *s);
void coll_sched_free(coll_sched_t *s);
/* Ends s but keeps its arrays for the next coll_sched_init on it: blocking
 * calls reuse one schedule instead of allocating eight arrays each time. */
void coll_sched_clear(coll_sched_t *s);

/* The envelope of every message of collective #seq: seq, then the desc. */
void coll_desc_to_env(const coll_desc_t *d, uint64_t seq, tp_env_t *env);
void coll_env_to_desc(const tp_env_t *env, coll_desc_t *d);
int coll_desc_equal(const coll_desc_t *a, const coll_desc_t *b);

/* A collective's tags are its sequence number in the upper half: the tag
 * spaces below the services' (core/service.h). */

/* "allreduce" */
const char *coll_kind_name(coll_kind_t k);
/* "allreduce(count=100, f32, sum)" */
void coll_desc_format(const coll_desc_t *d, char *buf, size_t len);
/* "allreduce (ring) #4", or a point-to-point operation's label. */
void coll_sched_title(const coll_sched_t *s, char *buf, size_t len);

/* Point-to-point schedules are not numbered: they take no part in the
 * collectives' order. */
#define COLL_SEQ_P2P UINT64_MAX
static inline int coll_is_p2p(const coll_sched_t *s)
{
    return s->seq == COLL_SEQ_P2P;
}

#endif
