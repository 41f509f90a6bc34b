/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Small allreduce through shared slots, for communicators whose ranks all
 * share memory (Open MPI's fast boxes, NCCL's LL protocol): each rank
 * writes its data once, into a slot of its own mailbox, and reads every
 * peer's slot straight out of the peer's memory (the transport's rkey_ptr).
 * No message, no request, no schedule: one cache line each way per peer.
 *
 * The mailbox (one per rank, from tp_heap_alloc, mapped by every peer):
 *   started   the collectives this rank has started (every call, of every
 *             collective, bumps it: coll_slots_started)
 *   slot[2]   call s uses slot[s & 1]: {seq, the call's description, data},
 *             seq stored last (release)
 *
 * A rank in call s waits for each peer's slot[s & 1].seq == s, checks the
 * description and takes the data; once it has all, it reduces the p
 * contributions in rank order (so every rank gets the same bits) and
 * returns. A peer whose "started" passed s while its slot does not hold s
 * made call s another way (the generic path: another count, collective,
 * algorithm, or the nonblocking form): MISMATCH, within the call, as for
 * every collective (include/rcomm.h). Its own call then fails when this
 * rank's failure reaches it (the transport's goodbye).
 *
 * Reuse. Before writing slot[s & 1] for call s a rank waits until every
 * peer has started call s - 1, so none still reads that slot's call s - 2.
 * In a loop of blocking calls that is always so already (this rank saw
 * every peer's call s - 1); it matters when nonblocking calls run ahead.
 *
 * Waiting spins (yielding when the ranks outnumber the cores): a store
 * rings no doorbell, so there is nothing to sleep on. Every few hundred
 * polls the communicator progresses (other requests, failures, goodbyes);
 * a peer that never comes fails the call after RCOMM_TIMEOUT, named.
 */
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "base/clock.h"
#include "base/error.h"
#include "coll/call.h"
#include "coll/colls.h"
#include "reduce/reduce.h"
#include "transports/util/heap.h"

/* What a slot says of its call: the description (sched.h) in fixed words. */
typedef struct {
    uint64_t kind, dtype, op, count;
} slot_desc_t;

typedef struct {
    _Alignas(64) _Atomic uint64_t seq; /* the call whose data this is */
    slot_desc_t desc;
    unsigned char data[COLL_SLOT_BYTES];
} slot_t;

typedef struct {
    _Alignas(64) _Atomic uint64_t started;
    slot_t slot[2];
} mailbox_t;

struct coll_mailboxes {
    mailbox_t *mine;
    tp_mr_t *mr;
    const mailbox_t **peer;   /* [size]: every rank's, ours included */
    const unsigned char **in; /* [size]: a call's contributions, as they come */
};

/* 0 is a call's number too: a slot's seq is stored + 1. */
static uint64_t tagged(uint64_t seq)
{
    return seq + 1;
}

static slot_desc_t desc_of(const coll_desc_t *d)
{
    return (slot_desc_t){(uint64_t)d->kind, (uint64_t)d->dtype, (uint64_t)d->op,
                         (uint64_t)d->count};
}

/* ---- Setup ------------------------------------------------------------------ */

/* tp: the transport the mailbox is registered with, alive; NULL once it is
 * gone (it took its registrations with it). */
void coll_slots_free(tp_t *tp, coll_mailboxes_t *sl)
{
    if (!sl)
        return;
    if (sl->mr && tp)
        tp->ops->mem_dereg(tp, sl->mr);
    if (sl->mine)
        tp_heap_free(sl->mine);
    free(sl->peer);
    free(sl->in);
    free(sl);
}

/* Our mailbox, registered, its rkey in *rk; NULL when that cannot be (then
 * this rank votes against the slots). */
static coll_mailboxes_t *slots_new(rcomm_comm_t *comm, tp_rkey_t *rk)
{
    coll_mailboxes_t *sl = calloc(1, sizeof(*sl));
    tp_t *tp = comm->tp;

    if (!sl || !(sl->peer = calloc((size_t)comm->size, sizeof(*sl->peer))) ||
        !(sl->in = calloc((size_t)comm->size, sizeof(*sl->in))) ||
        tp_heap_alloc(sizeof(mailbox_t), (void **)&sl->mine) != RCOMM_OK) {
        coll_slots_free(tp, sl);
        return NULL;
    }
    memset(sl->mine, 0, sizeof(mailbox_t));
    if (tp->ops->mem_reg(tp, sl->mine, sizeof(mailbox_t), TP_REMOTE_READ, &sl->mr) !=
            RCOMM_OK ||
        tp->ops->mem_rkey(sl->mr, rk) != RCOMM_OK) {
        coll_slots_free(tp, sl);
        return NULL;
    }
    sl->peer[comm->rank] = sl->mine;
    return sl;
}

/* Every rank maps every peer's mailbox, or nobody uses the slots: a rank
 * that could not would take the generic path, which the others would call
 * a mismatch. Two exchanges through the bootstrap: the mailboxes, then
 * each rank's verdict. */
rcomm_status_t coll_slots_connected(rcomm_comm_t *comm, coll_state_t *colls)
{
    typedef struct {
        tp_rkey_t rk;
        uint64_t ok;
    } pub_t;
    const int p = comm->size;
    pub_t mine = {{0}, 0}, *all = NULL;
    coll_mailboxes_t *sl = NULL;
    uint64_t *votes = NULL, vote;
    rcomm_status_t st;
    bool every = true;

    /* Shared memory serves every peer: the transport itself, or beside a
     * network with every rank on this host (core/comm.c plan_shm). */
    const bool one_host =
        strcmp(comm->cfg.transport, "shm") == 0 || (comm->host_of && comm->nhosts == 1);

    if (!comm->bs || !comm->tp || !one_host ||
        comm->cfg.allreduce_algo != RCOMM_ALGO_AUTO)
        return RCOMM_OK;
    if (!(all = calloc((size_t)p, sizeof(*all))) ||
        !(votes = calloc((size_t)p, sizeof(*votes)))) {
        free(all);
        return base_err(RCOMM_ERR_NO_MEMORY, "rank %d: slots: out of memory", comm->rank);
    }
    mine.ok = (sl = slots_new(comm, &mine.rk)) != NULL;
    if ((st = bootstrap_allgather(comm->bs, "slots", &mine, all, sizeof(mine))) !=
        RCOMM_OK)
        goto out;
    vote = mine.ok;
    base_err_mute(true); /* a refusal is a vote, not an error */
    for (int q = 0; q < p && vote; q++) {
        void *ptr;
        if (q == comm->rank)
            continue;
        vote = all[q].ok && comm->tp->ops->rkey_ptr(comm->tp, q, &all[q].rk,
                                                    all[q].rk.addr, sizeof(mailbox_t),
                                                    TP_REMOTE_READ, &ptr) == RCOMM_OK;
        if (vote)
            sl->peer[q] = ptr;
        else
            base_log(BASE_LOG_INFO, "rank %d: small allreduces take the generic path: %s",
                     comm->rank,
                     all[q].ok ? rcomm_last_error() : "a peer has no mailbox");
    }
    base_err_mute(false);
    base_err_clear();
    if ((st = bootstrap_allgather(comm->bs, "slots-ok", &vote, votes, sizeof(vote))) !=
        RCOMM_OK)
        goto out;
    for (int q = 0; q < p; q++)
        every = every && votes[q];
    if (every) {
        colls->slots = sl;
        sl = NULL;
    }
out:
    coll_slots_free(comm->tp, sl);
    free(all);
    free(votes);
    return st;
}

/* ---- Calls ------------------------------------------------------------------ */

void coll_slots_started(coll_state_t *colls, uint64_t seq)
{
    if (colls->slots)
        atomic_store_explicit(&colls->slots->mine->started, tagged(seq),
                              memory_order_release);
}

bool coll_slots_fit(const rcomm_comm_t *comm, const coll_call_t *c, size_t bytes)
{
    return coll_state(comm)->slots && c->algo == RCOMM_ALGO_AUTO &&
           c->desc.kind == COLL_ALLREDUCE && bytes <= COLL_SLOT_BYTES && comm->tp;
}

typedef struct {
    rcomm_comm_t *comm;
    coll_mailboxes_t *sl;
    const coll_call_t *c;
    uint64_t seq;
    uint64_t since_ns, limit_ns;
    uint32_t polls;
} waiter_t;

/* One more poll of a wait: progress now and then, check the timeout,
 * yield when the ranks outnumber the cores. Not OK when the communicator
 * failed meanwhile (the peers' mailboxes are gone with its transport) or
 * the wait for peer timed out. */
static rcomm_status_t poll_on(waiter_t *w, int peer, const char *what)
{
    rcomm_comm_t *comm = w->comm;
    uint64_t now;

    if (comm->oversubscribed)
        sched_yield();
    if ((++w->polls & 255) != 0)
        return RCOMM_OK;
    comm_progress(comm, 0);
    if (comm->failed != RCOMM_OK || !comm->tp)
        return comm_check(comm, w->c->fn);
    if ((now = base_now_ns()) - w->since_ns < w->limit_ns)
        return RCOMM_OK;
    base_err(RCOMM_ERR_TIMEOUT,
             "%s: rank %d: collective #%llu: rank %d has not %s in %g s "
             "(RCOMM_TIMEOUT)",
             w->c->fn, comm->rank, (unsigned long long)w->seq, peer, what,
             comm->cfg.timeout_s);
    comm_fail(comm, RCOMM_ERR_TIMEOUT);
    return RCOMM_ERR_TIMEOUT;
}

/* Peer q's contribution to call seq, once there: NULL while it is not yet;
 * *st set when q made that call differently. */
static const unsigned char *take(waiter_t *w, int q, const slot_desc_t *want,
                                 rcomm_status_t *st)
{
    const mailbox_t *box = w->sl->peer[q];
    const slot_t *in = &box->slot[w->seq & 1];
    const uint64_t t = tagged(w->seq);

    if (atomic_load_explicit(&in->seq, memory_order_acquire) != t) {
        if (atomic_load_explicit(&box->started, memory_order_acquire) < t)
            return NULL; /* not there yet */
        /* "started" is stored after the slot: now the slot is final. */
        if (atomic_load_explicit(&in->seq, memory_order_acquire) != t) {
            *st = base_err(
                RCOMM_ERR_MISMATCH,
                "%s: rank %d: collective #%llu: rank %d called it differently "
                "(not a blocking allreduce of %zu elements with rcomm's choice "
                "of algorithm)",
                w->c->fn, w->comm->rank, (unsigned long long)w->seq, q, w->c->desc.count);
            return NULL;
        }
    }
    if (memcmp(&in->desc, want, sizeof(*want)) != 0) {
        *st =
            base_err(RCOMM_ERR_MISMATCH,
                     "%s: rank %d: collective #%llu: rank %d called it with count %llu, "
                     "dtype %llu, op %llu; this rank with count %zu, dtype %d, op %d",
                     w->c->fn, w->comm->rank, (unsigned long long)w->seq, q,
                     (unsigned long long)in->desc.count,
                     (unsigned long long)in->desc.dtype, (unsigned long long)in->desc.op,
                     w->c->desc.count, (int)w->c->desc.dtype, (int)w->c->desc.op);
        return NULL;
    }
    return in->data;
}

rcomm_status_t coll_slots_allreduce(rcomm_comm_t *comm, const coll_call_t *c)
{
    coll_state_t *colls = coll_state(comm);
    const int p = comm->size;
    const size_t bytes = c->desc.count * rcomm_dtype_size(c->desc.dtype);
    const slot_desc_t want = desc_of(&c->desc);
    waiter_t w = {comm,
                  colls->slots,
                  c,
                  colls->next_seq++,
                  base_now_ns(),
                  (uint64_t)(comm->cfg.timeout_s * 1e9),
                  0};
    slot_t *out = &w.sl->mine->slot[w.seq & 1];
    const unsigned char **in = w.sl->in;
    rcomm_status_t st = RCOMM_OK;
    int left = p - 1;

    base_err_clear();
    /* Nobody may still read this slot's call seq - 2. */
    for (int q = 0; q < p; q++)
        while (q != comm->rank &&
               atomic_load_explicit(&w.sl->peer[q]->started, memory_order_acquire) <
                   tagged(w.seq - 1))
            if ((st = poll_on(&w, q, "finished the call before last")) != RCOMM_OK)
                return st;
    out->desc = want;
    memcpy(out->data, c->sbuf, bytes);
    atomic_store_explicit(&out->seq, tagged(w.seq), memory_order_release);
    coll_slots_started(colls, w.seq);

    memset(in, 0, (size_t)p * sizeof(*in));
    in[comm->rank] = out->data;
    while (left > 0) {
        for (int q = 0; q < p && st == RCOMM_OK; q++)
            if (!in[q] && (in[q] = take(&w, q, &want, &st)))
                left--;
        if (st != RCOMM_OK) {
            comm_fail(comm, st);
            return st;
        }
        for (int q = 0; left > 0 && q < p; q++)
            if (!in[q]) {
                if ((st = poll_on(&w, q, "made this call")) != RCOMM_OK)
                    return st;
                break;
            }
    }
    /* In rank order on every rank: the same bits everywhere. */
    memcpy(c->rbuf, in[0], bytes);
    for (int q = 1; q < p; q++)
        reduce_apply(c->rbuf, c->rbuf, in[q], c->desc.count, c->desc.dtype, c->desc.op);
    reduce_finish(c->rbuf, c->desc.count, c->desc.dtype, c->desc.op, p);
    if (comm->deferred != RCOMM_OK)
        return comm_check(comm, c->fn);
    return RCOMM_OK;
}
