/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The mailboxes of a communicator whose ranks all share memory, and the
 * meeting of a call's ranks in them (mailbox.h).
 */
#include <sched.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "base/clock.h"
#include "base/error.h"
#include "coll/mailbox.h"
#include "transports/util/heap.h"

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
    free(sl->src);
    free(sl->dst);
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
        !(sl->src = calloc((size_t)comm->size, sizeof(*sl->src))) ||
        !(sl->dst = calloc((size_t)comm->size, sizeof(*sl->dst))) ||
        tp_heap_alloc(sizeof(coll_mailbox_t), (void **)&sl->mine) != RCOMM_OK) {
        coll_slots_free(tp, sl);
        return NULL;
    }
    memset(sl->mine, 0, offsetof(coll_mailbox_t, stage));
    if (tp->ops->mem_reg(tp, sl->mine, sizeof(coll_mailbox_t), TP_REMOTE_READ, &sl->mr) !=
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
        vote = all[q].ok && comm->tp->ops->rkey_ptr(
                                comm->tp, q, &all[q].rk, all[q].rk.addr,
                                sizeof(coll_mailbox_t), TP_REMOTE_READ, &ptr) == RCOMM_OK;
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
        atomic_store_explicit(&colls->slots->mine->started, coll_mbox_tag(seq),
                              memory_order_release);
}

/* The wait for peer, which has not done what, ran out: the peers are asked
 * what they do, as a schedule's timeout asks them (health.c), so that a
 * peer stopped elsewhere is named rather than whoever waits for it. */
static rcomm_status_t timed_out(coll_mbox_wait_t *w, int peer, const char *what)
{
    coll_stall_t stall = {.seq = w->seq, .desc = w->c->desc, .p2p = false};
    rcomm_status_t st;
    char msg[640];

    snprintf(stall.title, sizeof(stall.title), "%s #%llu (in shared memory)",
             coll_kind_name(w->c->desc.kind), (unsigned long long)w->seq);
    snprintf(stall.waiting, sizeof(stall.waiting), "rank %d (which has not %s)", peer,
             what);
    st = coll_health_diagnose(w->comm, &stall, msg, sizeof(msg));
    base_err(st, "%s: rank %d: %s", w->c->fn, w->comm->rank, msg);
    comm_fail(w->comm, st);
    return st;
}

/* How often a waiting rank that yields looks at its peers' health. */
#define POLL_CHECK_NS 1000000ull

rcomm_status_t coll_mbox_poll(coll_mbox_wait_t *w, int peer, const char *what)
{
    rcomm_comm_t *comm = w->comm;
    rcomm_status_t st;
    uint64_t now;

    /* A peer's last act may be the store we wait for: the caller looked
     * once more after we saw it go. Still waiting for it: it failed. */
    if (w->gone != RCOMM_OK && w->gone_peer == peer) {
        base_err(w->gone,
                 "%s: rank %d: collective #%llu: rank %d failed while this rank waited "
                 "for it",
                 w->c->fn, comm->rank, (unsigned long long)w->seq, peer);
        comm_fail(comm, w->gone);
        return w->gone;
    }
    w->gone = RCOMM_OK;
    /* Where the ranks outnumber the cores a poll yields, and under load a
     * yield can last a time slice: 256 of them could take seconds, so the
     * clock says when to look. */
    if (comm->oversubscribed) {
        sched_yield();
        if ((now = base_now_ns()) - w->checked_ns < POLL_CHECK_NS &&
            (++w->polls & 255) != 0)
            return RCOMM_OK;
        w->checked_ns = now;
    } else if ((++w->polls & 255) != 0) {
        return RCOMM_OK;
    }
    comm_progress(comm, 0);
    if (comm->failed != RCOMM_OK || !comm->tp)
        return comm_check(comm, w->c->fn);
    if (coll_health_peer_failed(comm, peer, &st)) {
        w->gone = st;
        w->gone_peer = peer;
        return RCOMM_OK;
    }
    if ((now = base_now_ns()) - w->since_ns < w->limit_ns)
        return RCOMM_OK;
    return timed_out(w, peer, what);
}

rcomm_status_t coll_mbox_wait_all(coll_mbox_wait_t *w, size_t word, uint64_t want,
                                  const char *what)
{
    for (int q = 0; q < w->comm->size; q++) {
        const _Atomic uint64_t *v =
            (const _Atomic uint64_t *)((const char *)w->sl->peer[q] + word);
        rcomm_status_t st;

        while (q != w->comm->rank && atomic_load_explicit(v, memory_order_acquire) < want)
            if ((st = coll_mbox_poll(w, q, what)) != RCOMM_OK)
                return st;
    }
    return RCOMM_OK;
}

rcomm_status_t coll_mbox_post(coll_mbox_wait_t *w, rcomm_comm_t *comm,
                              const coll_call_t *c, const void *data, size_t bytes)
{
    coll_state_t *colls = coll_state(comm);
    coll_mbox_slot_t *out;
    rcomm_status_t st;

    *w = (coll_mbox_wait_t){comm,
                            colls->slots,
                            c,
                            colls->next_seq++,
                            {(uint64_t)c->desc.kind, (uint64_t)c->desc.dtype,
                             (uint64_t)c->desc.op, (uint64_t)c->desc.count},
                            base_now_ns(),
                            (uint64_t)(comm->cfg.timeout_s * 1e9),
                            base_now_ns(),
                            RCOMM_OK,
                            -1,
                            0};
    colls->mbox_call = coll_mbox_tag(w->seq);
    colls->mbox_desc = c->desc;
    colls->in_mbox = true;
    out = &w->sl->mine->slot[w->seq & 1];
    /* Nobody may still read this slot's call seq - 2. */
    if ((st = coll_mbox_wait_all(w, offsetof(coll_mailbox_t, started),
                                 coll_mbox_tag(w->seq - 1),
                                 "finished the call before last")) != RCOMM_OK)
        return st;
    out->desc = w->want;
    memcpy(out->data, data, bytes);
    atomic_store_explicit(&out->seq, coll_mbox_tag(w->seq), memory_order_release);
    coll_slots_started(colls, w->seq);
    return RCOMM_OK;
}

const unsigned char *coll_mbox_take(coll_mbox_wait_t *w, int q, bool *other,
                                    rcomm_status_t *st)
{
    const coll_mailbox_t *box = w->sl->peer[q];
    const coll_mbox_slot_t *in = &box->slot[w->seq & 1];
    const uint64_t t = coll_mbox_tag(w->seq);
    const coll_mbox_desc_t *d = &in->desc;

    if (atomic_load_explicit(&in->seq, memory_order_acquire) != t) {
        if (atomic_load_explicit(&box->started, memory_order_acquire) < t)
            return NULL; /* not there yet */
        /* "started" is stored after the slot: now the slot is final. */
        if (atomic_load_explicit(&in->seq, memory_order_acquire) != t) {
            *other = true;
            return NULL;
        }
    }
    if (memcmp(d, &w->want, sizeof(*d)) != 0) {
        *st =
            base_err(RCOMM_ERR_MISMATCH,
                     "%s: rank %d: collective #%llu: rank %d called it with count %llu, "
                     "dtype %llu, op %llu; this rank with count %zu, dtype %d, op %d",
                     w->c->fn, w->comm->rank, (unsigned long long)w->seq, q,
                     (unsigned long long)d->count, (unsigned long long)d->dtype,
                     (unsigned long long)d->op, w->c->desc.count, (int)w->c->desc.dtype,
                     (int)w->c->desc.op);
        return NULL;
    }
    return in->data;
}

rcomm_status_t coll_mbox_gather(coll_mbox_wait_t *w, int *other)
{
    const int p = w->comm->size;
    const unsigned char **in = w->sl->in;
    rcomm_status_t st = RCOMM_OK;
    int left = p - 1;
    bool another = false;

    *other = -1;
    memset(in, 0, (size_t)p * sizeof(*in));
    in[w->comm->rank] = w->sl->mine->slot[w->seq & 1].data;
    while (left > 0) {
        for (int q = 0; q < p && st == RCOMM_OK && !another; q++)
            if (!in[q] && (in[q] = coll_mbox_take(w, q, &another, &st)))
                left--;
            else if (another)
                *other = q;
        if (st != RCOMM_OK) {
            comm_fail(w->comm, st);
            return st;
        }
        if (another)
            return RCOMM_OK;
        for (int q = 0; left > 0 && q < p; q++)
            if (!in[q]) {
                if ((st = coll_mbox_poll(w, q, "made this call")) != RCOMM_OK)
                    return st;
                break;
            }
    }
    return RCOMM_OK;
}
