/* SPDX-License-Identifier: BSD-3-Clause */
/* Shared-memory transport: progress, the tx queues, sleeping and failure
 * (see shm.h). */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>

#include "base/clock.h"
#include "base/error.h"
#include "transports/shm/shm.h"

/* Records read from one peer per round, so that one busy peer does not
 * starve the others. */
#define SHM_RX_BUDGET 64

void shm_complete(shm_tp_t *tp, shm_op_t *op, rcomm_status_t status)
{
    tp_done(&tp->done, &op->op, status);
}

static void free_ctl(shm_op_t *op)
{
    if (op->flags & SHM_O_OWNBUF)
        free(op->buf);
    free(op);
}

shm_op_t *shm_find_id(tp_opq_t *q, uint64_t id, bool unlink)
{
    for (tp_op_t *prev = NULL, *o = q->head; o; prev = o, o = o->next)
        if (shm_op_of(o)->id == id) {
            if (unlink)
                BASE_FIFO_UNLINK(q, prev, o);
            return shm_op_of(o);
        }
    return NULL;
}

/* One answer record (no payload); false when the ring is full. */
static bool write_answer(shm_tp_t *tp, shm_peer_t *p, shm_op_t *op)
{
    shm_hdr_t *h = shm_ring_reserve(tp, p, 0);

    if (!h)
        return false;
    h->type = op->rec;
    h->id = op->id;
    h->status = op->op.status;
    h->imm = op->imm;
    h->a = op->a;
    shm_ring_commit(tp, p, h);
    free_ctl(op);
    return true;
}

/* Carry op out as far as the ring allows: true when it has left the tx
 * queue's care (completed, waiting for an answer, or freed). */
static bool write_op(shm_tp_t *tp, shm_peer_t *p, shm_op_t *op)
{
    switch (op->kind) {
    case SHM_OP_SEND: return shm_msg_write(tp, p, op);
    case SHM_OP_CTL:
        return op->rec == SHM_GET_DATA ? shm_rma_write(tp, p, op)
                                       : write_answer(tp, p, op);
    default: return shm_rma_write(tp, p, op);
    }
}

void shm_flush(shm_tp_t *tp, shm_peer_t *p)
{
    tp_op_t *o;

    while ((o = p->txq.head) && p->fail.status == RCOMM_OK) {
        BASE_FIFO_POP(&p->txq);
        if (!write_op(tp, p, shm_op_of(o))) {
            /* Back at the front: it keeps its place. */
            o->next = p->txq.head;
            p->txq.head = o;
            if (!p->txq.tail)
                p->txq.tail = o;
            return;
        }
    }
}

void shm_tx(shm_tp_t *tp, shm_peer_t *p, shm_op_t *op)
{
    if (!p->txq.head && write_op(tp, p, op))
        return;
    BASE_FIFO_PUSH(&p->txq, &op->op);
}

shm_op_t *shm_ctl_new(shm_tp_t *tp, shm_peer_t *p, uint8_t rec, uint64_t id)
{
    shm_op_t *op = calloc(1, sizeof(*op));

    if (!op) {
        shm_peer_fail(tp, p, RCOMM_ERR_NO_MEMORY, "rank %d: no memory to answer rank %d",
                      tp->base.rank, p->rank);
        return NULL;
    }
    op->kind = SHM_OP_CTL;
    op->rec = rec;
    op->id = id;
    return op;
}

void shm_answer(shm_tp_t *tp, shm_peer_t *p, uint8_t rec, uint64_t id, int32_t status,
                uint32_t imm, uint64_t a)
{
    shm_op_t *op = shm_ctl_new(tp, p, rec, id);

    if (!op)
        return;
    op->op.status = status;
    op->imm = imm;
    op->a = a;
    shm_tx(tp, p, op);
}

/* ---- failure ------------------------------------------------------------- */

static unsigned fail_ops(shm_tp_t *tp, tp_opq_t *q, rcomm_status_t status)
{
    unsigned n = 0;
    tp_op_t *o;

    while ((o = q->head)) {
        BASE_FIFO_POP(q);
        if (shm_op_of(o)->kind == SHM_OP_CTL) {
            free_ctl(shm_op_of(o));
            continue;
        }
        n += tp_op_counted(o); /* before completion hands it back */
        shm_complete(tp, shm_op_of(o), status);
    }
    return n;
}

void shm_peer_fail(shm_tp_t *tp, shm_peer_t *p, rcomm_status_t status, const char *fmt,
                   ...)
{
    unsigned nrecv, nother;
    char failed[96];
    tp_cause_t cause;
    va_list ap;

    va_start(ap, fmt);
    tp_cause_vfmt(&cause, fmt, ap);
    va_end(ap);
    if (!tp_fail_start(&p->fail, status, tp->base.rank, &cause))
        return;
    nrecv = fail_ops(tp, &p->m.posted, status) + fail_ops(tp, &p->rndv_rx, status);
    nother = fail_ops(tp, &p->waiting, status) + fail_ops(tp, &p->txq, status);
    p->inflight = 0;
    shm_say_bye(tp, p, status, cause.text);
    snprintf(failed, sizeof(failed), "%u receive(s), %u send(s) or one-sided op(s)",
             nrecv, nother);
    tp_fail_log(&p->fail, tp->base.rank, &cause, nrecv + nother ? failed : NULL,
                p->goodbye);
}

void shm_say_bye(shm_tp_t *tp, shm_peer_t *p, rcomm_status_t reason, const char *why)
{
    size_t wlen = why && reason != RCOMM_OK ? strnlen(why, SHM_BYE_TEXT_MAX) : 0;
    uint64_t give_up = base_now_ns() + 100 * 1000000ull;
    shm_hdr_t *h;

    if (!p->connected || p->goodbye)
        return;
    /* A full ring drains while the peer lives; without the BYE it would
     * take a normal close for a death, and a failure would lose its cause. */
    while (!(h = shm_ring_reserve(tp, p, wlen)))
        if (base_now_ns() > give_up || shm_peer_gone(p))
            return;
        else
            nanosleep(&(struct timespec){0, 100000}, NULL);
    h->type = SHM_BYE;
    h->status = reason;
    if (wlen)
        memcpy(h + 1, why, wlen);
    shm_ring_commit(tp, p, h);
}

static void rx_bye(shm_tp_t *tp, shm_peer_t *p, const shm_hdr_t *h,
                   const unsigned char *pl)
{
    tp_cause_t cause;
    rcomm_status_t st =
        tp_goodbye(p->rank, h->status, (const char *)pl,
                   h->len < SHM_BYE_TEXT_MAX ? h->len : SHM_BYE_TEXT_MAX, &cause);

    p->goodbye = true;
    shm_peer_fail(tp, p, st, "%s", cause.text);
}

void shm_dispatch(shm_tp_t *tp, shm_peer_t *p, const shm_hdr_t *h,
                  const unsigned char *pl)
{
    switch (h->type) {
    case SHM_BYE: rx_bye(tp, p, h, pl); break;
    case SHM_SEND:
    case SHM_RTS:
    case SHM_CTS:
    case SHM_DATA:
    case SHM_FIN: shm_rx_msg(tp, p, h, pl); break;
    case SHM_HELLO:
        shm_peer_fail(tp, p, RCOMM_ERR_PROTOCOL, "rank %d sent a second HELLO", p->rank);
        break;
    default: shm_rx_rma(tp, p, h, pl); break;
    }
}

/* ---- progress -------------------------------------------------------------- */

bool shm_peer_gone(const shm_peer_t *p)
{
    struct pollfd pf = {.fd = p->pidfd, .events = POLLIN};

    /* Without pidfd_open (kernels before 5.3, valgrind): /proc. */
    if (p->pidfd >= 0)
        return poll(&pf, 1, 0) == 1;
    return p->pid && !shm_pid_alive(p->pid);
}

/* Read what p wrote; true if anything was. */
static bool drain(shm_tp_t *tp, shm_peer_t *p)
{
    const unsigned char *pl;
    const shm_hdr_t *h;
    char bad[128] = "";
    int n = 0;

    while (n < SHM_RX_BUDGET && p->fail.status == RCOMM_OK &&
           (h = shm_ring_peek(tp, p, &pl, bad, sizeof(bad)))) {
        shm_dispatch(tp, p, h, pl);
        shm_ring_release(p, h);
        n++;
    }
    if (bad[0])
        shm_peer_fail(tp, p, RCOMM_ERR_PROTOCOL, "rank %d wrote a malformed record: %s",
                      p->rank, bad);
    /* Room made for a producer that waits for it (shm_ring_reserve). */
    if (n) {
        atomic_thread_fence(memory_order_seq_cst);
        if (atomic_load_explicit(&p->rx->want_space, memory_order_relaxed)) {
            atomic_store_explicit(&p->rx->want_space, 0, memory_order_relaxed);
            (void)sendto(tp->bell_fd, "", 1, MSG_DONTWAIT | MSG_NOSIGNAL,
                         (const struct sockaddr *)&p->bell, p->bell_len);
        }
    }
    if (n) {
        tp->base.traffic++;
        tp->base.moved[p->rank]++;
    }
    return n > 0;
}

static void check_deaths(shm_tp_t *tp)
{
    for (int r = 0; r < tp->base.size; r++) {
        shm_peer_t *p = &tp->peers[r];
        if (!p->connected || p->fail.status != RCOMM_OK || !shm_peer_gone(p))
            continue;
        while (drain(tp, p)) /* its last words, to the end (a BYE among them) */
            ;
        if (p->fail.status == RCOMM_OK)
            shm_peer_fail(tp, p, RCOMM_ERR_PEER_FAILED,
                          "peer rank %d (pid %u) exited without closing (killed?)", r,
                          p->pid);
    }
}

static bool poll_once(shm_tp_t *tp)
{
    bool moved = false;
    uint64_t now;

    for (int r = 0; r < tp->base.size; r++) {
        shm_peer_t *p = &tp->peers[r];
        if (!p->connected || p->fail.status != RCOMM_OK)
            continue;
        moved |= drain(tp, p);
        if (p->txq.head) {
            uint64_t before = p->tx_tail;
            shm_flush(tp, p);
            moved |= p->tx_tail != before;
        }
    }
    /* The clock every 64th poll (in a VM a read costs about what a poll
     * does), and at once when a pidfd said a peer exited. */
    if ((tp->next_death_check == 0 || (++tp->polls & 63) == 0) &&
        (now = base_now_ns()) >= tp->next_death_check) {
        tp->next_death_check = now + SHM_DEATH_NS;
        check_deaths(tp);
    }
    return moved;
}

/* Producers ring the doorbell while this is set. */
static bool arm(shm_tp_t *tp)
{
    atomic_store_explicit(&tp->shdr->sleeping, 1, memory_order_relaxed);
    atomic_thread_fence(memory_order_seq_cst);
    if (!shm_rings_pending(tp))
        return true;
    atomic_store_explicit(&tp->shdr->sleeping, 0, memory_order_relaxed);
    return false;
}

static void disarm(shm_tp_t *tp)
{
    char buf[64];

    if (!atomic_load_explicit(&tp->shdr->sleeping, memory_order_relaxed))
        return;
    atomic_store_explicit(&tp->shdr->sleeping, 0, memory_order_relaxed);
    while (recv(tp->bell_fd, buf, sizeof(buf), MSG_DONTWAIT) > 0)
        ;
}

rcomm_status_t shm_progress(tp_t *base, int timeout_ms)
{
    shm_tp_t *tp = shm_tp(base);

    if (!tp || !tp->connected)
        return base_err(RCOMM_ERR_INVALID_ARG, "shm progress: %s",
                        tp ? "the transport is not connected" : "tp is NULL");
    disarm(tp);
    if (!poll_once(tp) && timeout_ms != 0 && !tp->done.head) {
        /* A send blocked on a full ring sleeps too: the consumer rings our
         * bell when it makes room (want_space). */
        struct epoll_event ev[8];
        if (arm(tp)) {
            int n = epoll_wait(tp->epfd, ev, 8, timeout_ms);
            for (int i = 0; i < n; i++)
                if (ev[i].data.u64 != UINT64_MAX)
                    tp->next_death_check = 0; /* a peer exited */
            disarm(tp);
        }
        poll_once(tp);
    }
    tp_report_done(&tp->base, &tp->done);
    return RCOMM_OK;
}

int shm_wait_fd(tp_t *base)
{
    shm_tp_t *tp = shm_tp(base);

    if (!tp || !tp->connected || tp->done.head || !arm(tp))
        return -1;
    return tp->epfd;
}
