/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The mailboxes (mailbox.c): on a communicator whose ranks all share memory,
 * one per rank, from tp_heap_alloc, mapped by every peer, so that a
 * blocking allreduce can meet its peers with plain loads and stores: the
 * small ones carry their data in it (allreduce_slots.c), the ones between
 * buffers from rcomm_mem_alloc carry where those are (allreduce_mapped.c).
 *
 *   started   the collectives this rank has started (every call, of every
 *             collective, bumps it: coll_slots_started)
 *   ready     the mapped path's vote: (call + 1) << 1 | could map
 *   done      the last call of the mapped path this rank has finished
 *             with the peers' buffers
 *   slot[2]   call s uses slot[s & 1]: {seq, the call's description, data},
 *             seq stored last (release)
 *   staged    the staged path's progress (allreduce_staged.c)
 *   stage[3]  the staged path's copies of this rank's send buffer, one piece
 *             of the vector in each, and the results of its blocks
 *
 * A rank in call s posts its slot (coll_mbox_post) and takes each peer's
 * (coll_mbox_take). A peer whose "started" passed s while its slot does not
 * hold s made call s another way: the generic path (another count,
 * collective, algorithm, the nonblocking form, or buffers the mapped path
 * cannot use); the caller decides whether that is a mismatch.
 *
 * Reuse. Before writing slot[s & 1] for call s a rank waits until every
 * peer has started call s - 1, so none still reads that slot's call s - 2.
 * In a loop of blocking calls that is always so already (this rank saw
 * every peer's call s - 1); it matters when nonblocking calls run ahead.
 *
 * Waiting spins (yielding when the ranks outnumber the cores): a store
 * rings no doorbell, so there is nothing to sleep on. Every few hundred
 * polls, or every millisecond where polls yield, the communicator
 * progresses (other requests, failures, goodbyes) and asks whether the
 * peer waited for has failed (coll_health_peer_failed: nothing else is
 * posted to it that would fail). A peer's last act before exiting may be
 * the very store waited for, so a death fails the wait only if the word
 * is still short when looked at once more. A peer that is alive but never
 * comes fails the call after RCOMM_TIMEOUT, named.
 */
#ifndef RCOMM_COLL_MAILBOX_H
#define RCOMM_COLL_MAILBOX_H

#include <stdatomic.h>

#include "coll/call.h"
#include "coll/colls.h"

/* What a slot says of its call: the description (sched.h) in fixed words. */
typedef struct {
    uint64_t kind, dtype, op, count;
} coll_mbox_desc_t;

typedef struct {
    _Alignas(64) _Atomic uint64_t seq; /* the call whose data this is */
    coll_mbox_desc_t desc;
    unsigned char data[COLL_SLOT_BYTES];
} coll_mbox_slot_t;

/* Bytes of the vector the staged path takes per meeting (on 4 ranks 1 MiB
 * was 5-10% faster than 256 KiB, like 512 KiB), and the pieces in flight:
 * a rank copies piece m + 1 in while its peers may still copy piece m - 1
 * out. */
#define COLL_STAGE_BYTES (1u << 20)
#define COLL_STAGE_BUFS 3

typedef struct {
    _Alignas(64) _Atomic uint64_t started;
    _Alignas(64) _Atomic uint64_t ready;
    _Alignas(64) _Atomic uint64_t done;
    _Alignas(64) _Atomic uint64_t staged;
    coll_mbox_slot_t slot[2];
    /* Last: its pages are touched only by the staged path. */
    _Alignas(64) unsigned char stage[COLL_STAGE_BUFS][COLL_STAGE_BYTES];
} coll_mailbox_t;

struct coll_mailboxes {
    coll_mailbox_t *mine;
    tp_mr_t *mr;
    const coll_mailbox_t **peer; /* [size]: every rank's, ours included */
    const unsigned char **in;    /* [size]: a call's slots' data, as they come */
    const char **src;            /* [size]: the mapped path's buffers */
    char **dst;
    uint64_t pieces; /* the staged path's pieces done, over all its calls */
    bool warm;       /* its stages' pages are mapped here */
};

/* One call's wait on its peers. */
typedef struct {
    rcomm_comm_t *comm;
    coll_mailboxes_t *sl;
    const coll_call_t *c;
    uint64_t seq;
    coll_mbox_desc_t want;
    uint64_t since_ns, limit_ns;
    uint64_t checked_ns; /* when the peers' health was last looked at */
    rcomm_status_t gone; /* peer gone_peer failed: fail if still waited for */
    int gone_peer;
    uint32_t polls;
} coll_mbox_wait_t;

/* 0 is a call's number too: what a mailbox stores of call seq is seq + 1. */
static inline uint64_t coll_mbox_tag(uint64_t seq)
{
    return seq + 1;
}

/* Wait until every peer's word at offset word of its mailbox (started,
 * ready or done: offsetof) is at least want, polling; what the peer has
 * not done yet names the wait in a timeout. */
rcomm_status_t coll_mbox_wait_all(coll_mbox_wait_t *w, size_t word, uint64_t want,
                                  const char *what);
/* Start call c: take its number, wait until slot[seq & 1] is free, fill it
 * with the description and bytes of data, and announce the call. */
rcomm_status_t coll_mbox_post(coll_mbox_wait_t *w, rcomm_comm_t *comm,
                              const coll_call_t *c, const void *data, size_t bytes);
/* Peer q's slot data for the call, once there: NULL while it is not yet,
 * or when q made the call another way (*other set), or differently (*st
 * MISMATCH). */
const unsigned char *coll_mbox_take(coll_mbox_wait_t *w, int q, bool *other,
                                    rcomm_status_t *st);
/* Every peer's slot data into w->sl->in (*other -1), or in *other a peer
 * that made the call another way. Not OK: a mismatch, a failure, the
 * timeout. */
rcomm_status_t coll_mbox_gather(coll_mbox_wait_t *w, int *other);
/* One more poll of a wait: progress now and then, check the timeout, yield
 * when the ranks outnumber the cores. Not OK when the communicator failed
 * meanwhile or the wait for peer (which has not done what) timed out. */
rcomm_status_t coll_mbox_poll(coll_mbox_wait_t *w, int peer, const char *what);

/* allreduce_mapped.c: a blocking allreduce with rcomm's choice of
 * algorithm, of more than COLL_SLOT_BYTES, on a communicator with
 * mailboxes. *generic: it did nothing, take the generic path (with the
 * same call number). */
rcomm_status_t coll_mapped_allreduce(rcomm_comm_t *comm, const coll_call_t *c,
                                     bool *generic);
/* allreduce_staged.c: whether call c may take the staged path (its size;
 * the same answer on every rank), and the call, on every rank once all
 * have posted to the mailboxes (w). */
bool coll_staged_fit(const rcomm_comm_t *comm, const coll_call_t *c);
rcomm_status_t coll_staged_allreduce(coll_mbox_wait_t *w);

#endif
