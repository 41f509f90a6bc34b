/* SPDX-License-Identifier: BSD-3-Clause */
/* TCP transport: the progress engine (epoll loop, send queues, completion
 * reporting) and peer failure. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "base/error.h"
#include "transports/tcp/tcp.h"

#define TCP_EVENTS 64
/* A spinning caller (timeout 0) that is reading its hot peer directly checks
 * the other sockets through epoll only once in this many calls. */
#define TCP_EPOLL_EVERY 8

void tcp_update_events(tcp_tp_t *tp, tcp_peer_t *p)
{
    uint32_t ev = EPOLLIN | (p->tx_blocked ? EPOLLOUT : 0);
    struct epoll_event e = {.events = ev, .data.ptr = p};

    if (p->fd < 0 || ev == p->events)
        return;
    if (epoll_ctl(tp->epfd, EPOLL_CTL_MOD, p->fd, &e) != 0) {
        tcp_peer_fail(tp, p, RCOMM_ERR_SYSTEM,
                      "cannot watch the connection to rank %d: epoll_ctl: %s", p->rank,
                      strerror(errno));
        return;
    }
    p->events = ev;
}

void tcp_complete(tcp_tp_t *tp, tcp_op_t *op, rcomm_status_t status)
{
    tp_done(&tp->done, &op->h, status);
}

rcomm_status_t tcp_post_check(tcp_tp_t *tp, int peer, const void *req, const char *what)
{
    rcomm_status_t st = tp_check_post(&tp->base, tp->connected, peer, req, what);

    return st != RCOMM_OK ? st : tp_fail_check(&tp->peers[peer].fail, what, peer);
}

/* Control frames: no payload, and little order to keep with what is
 * queued before them: a CTS, an ACK, or a zero-byte message such as a
 * health probe or its answer (tcp.h, "Control before data"). */
static bool tx_control(const tcp_txf_t *f)
{
    return f->hdr.len == 0 &&
           (f->hdr.type == TCP_SEND || f->hdr.type == TCP_CTS || f->hdr.type == TCP_ACK);
}

/* Whether control frame f must stay behind g, queued before it: CTSs keep
 * their order (DATA comes back in it); a message stays behind those of
 * its tag (matched in sending order) and behind one-sided requests and
 * replies (their order with messages is left as it was). */
static bool tx_keeps_behind(const tcp_txf_t *f, const tcp_txf_t *g)
{
    switch (f->hdr.type) {
    case TCP_CTS: return g->hdr.type == TCP_CTS;
    case TCP_ACK: return false;
    default:
        if (g->hdr.type == TCP_SEND || g->hdr.type == TCP_RTS)
            return g->hdr.u.msg.tag == f->hdr.u.msg.tag;
        return g->hdr.type != TCP_DATA && g->hdr.type != TCP_CTS &&
               g->hdr.type != TCP_ACK;
    }
}

static void txq_insert_after(tcp_txq_t *q, tcp_txf_t *after, tcp_txf_t *f)
{
    if (!after) {
        f->next = q->head;
        q->head = f;
    } else {
        f->next = after->next;
        after->next = f;
    }
    if (!f->next)
        q->tail = f;
}

void tcp_enqueue(tcp_tp_t *tp, tcp_peer_t *p, tcp_txf_t *f)
{
    if (!tx_control(f)) {
        BASE_FIFO_PUSH(&p->txq, f);
    } else {
        /* Ahead of the data queued for this peer. A health probe (or its
         * answer) that waited behind megabytes of DATA on a slow link
         * took longer than the grace period, and a live rank was named
         * as silent. It still goes after the frame being written (at most
         * TCP_DATA_CHUNK bytes of DATA) and after what it must stay
         * behind. */
        tcp_txf_t *after = p->tx_off ? p->txq.head : NULL;
        for (tcp_txf_t *g = after ? after->next : p->txq.head; g; g = g->next)
            if (tx_keeps_behind(f, g))
                after = g;
        txq_insert_after(&p->txq, after, f);
    }
    if (!p->tx_listed && !p->tx_blocked) {
        p->tx_listed = true;
        tp->txlist[tp->ntx++] = p->rank;
    }
}

/* The next chunk of the DATA in f goes first (after control frames): the
 * receiver lands DATA in the order of its CTSs, a message's chunks
 * together. */
static void tx_next_chunk(tcp_peer_t *p, tcp_op_t *op)
{
    tcp_txf_t *f = &op->tx, *after = NULL;

    f->payload = (const char *)f->payload + f->hdr.len;
    f->hdr.len = op->unsent < TCP_DATA_CHUNK ? op->unsent : TCP_DATA_CHUNK;
    op->unsent -= f->hdr.len;
    for (tcp_txf_t *g = p->txq.head; g && tx_control(g); g = g->next)
        after = g;
    txq_insert_after(&p->txq, after, f);
}

/* A frame has left completely. */
static void frame_sent(tcp_tp_t *tp, tcp_peer_t *p, tcp_txf_t *f)
{
    if (f->hdr.type == TCP_SEND || f->hdr.type == TCP_RTS || f->hdr.type == TCP_DATA ||
        f->hdr.type == TCP_PUT || f->hdr.type == TCP_GET_RESP)
        tp->base.stats.bytes_sent += f->hdr.len;
    if (tcp_type_is_ours(f->hdr.type)) {
        tcp_reply_free((tcp_reply_t *)f);
    } else if (f->hdr.type == TCP_DATA && tcp_op_of_tx(f)->unsent) {
        tx_next_chunk(p, tcp_op_of_tx(f));
    } else if (f->hdr.type == TCP_SEND || f->hdr.type == TCP_DATA) {
        tp->base.stats.messages_sent++;
        tcp_complete(tp, tcp_op_of_tx(f), RCOMM_OK);
    } else if (f->hdr.type == TCP_RTS && tcp_op_of_tx(f)->early) {
        /* Its CTS came while it was being written (tcp_rndv_cts). Queued
         * at the tail: behind what this write took with it. */
        tcp_rndv_clear(tp, p, tcp_op_of_tx(f),
                       tcp_op_of_tx(f)->early == 1 ? RCOMM_OK : RCOMM_ERR_PROTOCOL);
    } else if (f->hdr.type == TCP_RTS) {
        BASE_FIFO_PUSH(&p->rndv_tx, &tcp_op_of_tx(f)->h);
    } else {
        /* The reply can only come after the target read all of this. */
        BASE_FIFO_PUSH(&p->waiting, &tcp_op_of_tx(f)->h);
    }
}

/* Write as much of p's queue as the socket takes, many frames per call. */
static void tx_flush(tcp_tp_t *tp, tcp_peer_t *p, bool reading)
{
    while (p->txq.head && !p->tx_blocked && p->fd >= 0) {
        struct iovec iov[2 * TCP_BATCH];
        struct msghdr msg = {.msg_iov = iov};
        size_t skip = p->tx_off, total = 0;
        ssize_t n;
        int nf = 0;

        for (tcp_txf_t *f = p->txq.head; f && nf < TCP_BATCH; f = f->next, nf++) {
            size_t poff = skip > TCP_HDR_LEN ? skip - TCP_HDR_LEN : 0;
            if (skip < TCP_HDR_LEN)
                iov[msg.msg_iovlen++] =
                    (struct iovec){(char *)&f->hdr + skip, TCP_HDR_LEN - skip};
            if (f->hdr.len > poff)
                iov[msg.msg_iovlen++] =
                    (struct iovec){(char *)f->payload + poff, f->hdr.len - poff};
            total += TCP_HDR_LEN + f->hdr.len - skip;
            skip = 0;
            /* Its next chunk is queued only once this one is written,
             * ahead of what follows it now. */
            if (f->hdr.type == TCP_DATA && tcp_op_of_tx(f)->unsent)
                break;
        }
        n = sendmsg(p->fd, &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN) {
                p->tx_blocked = true;
                break;
            }
            /* A GOODBYE waiting in our receive buffer explains this better. */
            {
                int err = errno;
                if (!reading)
                    tcp_rx_run(tp, p);
                tcp_peer_fail(tp, p, RCOMM_ERR_PEER_FAILED,
                              "connection to rank %d lost while sending (%s): it "
                              "exited or crashed",
                              p->rank, strerror(err));
            }
            return;
        }
        tp->base.traffic++;
        tp->base.moved[p->rank]++;
        if ((size_t)n < total) /* the socket is full: skip the EAGAIN round */
            p->tx_blocked = true;
        while (n > 0) {
            tcp_txf_t *f = p->txq.head;
            size_t left = TCP_HDR_LEN + f->hdr.len - p->tx_off;
            if ((size_t)n < left) {
                p->tx_off += (size_t)n;
                break;
            }
            n -= (ssize_t)left;
            p->tx_off = 0;
            BASE_FIFO_POP(&p->txq);
            frame_sent(tp, p, f);
        }
    }
    tcp_update_events(tp, p);
}

void tcp_tx_now(tcp_tp_t *tp, tcp_peer_t *p)
{
    if (!p->tx_blocked)
        tx_flush(tp, p, true);
}

static void tx_flush_all(tcp_tp_t *tp)
{
    /* Flushing may queue frames for peers appended behind i: ntx is reread. */
    for (int i = 0; i < tp->ntx; i++) {
        tcp_peer_t *p = &tp->peers[tp->txlist[i]];
        p->tx_listed = false;
        tx_flush(tp, p, false);
    }
    tp->ntx = 0;
}

static bool expecting(const tcp_peer_t *p)
{
    return p->fd >= 0 && (p->m.posted.head || p->waiting.head || p->rndv_tx.head ||
                          p->rndv_rx.head || p->rx.state == TCP_RX_BODY);
}

static void handle_event(tcp_tp_t *tp, tcp_peer_t *p, uint32_t ev)
{
    if (p->fd < 0) /* failed earlier in this batch */
        return;
    if (ev & EPOLLOUT) {
        p->tx_blocked = false;
        tx_flush(tp, p, false);
    }
    if (p->fd < 0 || !(ev & (EPOLLIN | EPOLLERR | EPOLLHUP)))
        return;
    tcp_rx_run(tp, p);
}

rcomm_status_t tcp_progress(tp_t *base, int timeout_ms)
{
    tcp_tp_t *tp = tcp_tp(base);
    struct epoll_event ev[TCP_EVENTS];
    bool tried = false, busy;
    int n;

    if (!tp->connected)
        return base_err(RCOMM_ERR_INVALID_ARG, "rank %d: tcp progress before connect",
                        base->rank);
    tx_flush_all(tp);
    /* The peer we last posted a receive for usually has the data: read it
     * directly rather than asking epoll first. A blocking call does so only
     * while that keeps paying off. */
    busy = tp->done.head != NULL;
    if (!busy && tp->hot >= 0 && (timeout_ms == 0 || tp->hot_hit) &&
        expecting(&tp->peers[tp->hot])) {
        tried = true;
        tcp_rx_run(tp, &tp->peers[tp->hot]);
        busy = tp->hot_hit = tp->done.head != NULL;
        /* What it answered (the DATA of a CTS) must not wait for epoll. */
        tx_flush_all(tp);
    }
    if ((busy || (tried && timeout_ms == 0)) && ++tp->skips < TCP_EPOLL_EVERY) {
        n = 0;
    } else {
        tp->skips = 0;
        n = epoll_wait(tp->epfd, ev, TCP_EVENTS, busy ? 0 : timeout_ms);
        if (n < 0 && errno != EINTR)
            return base_err_sys("rank %d: epoll_wait", base->rank);
    }
    for (int i = 0; i < n; i++)
        handle_event(tp, ev[i].data.ptr, ev[i].events);
    tx_flush_all(tp); /* replies queued by the frames just read */
    tp_report_done(&tp->base, &tp->done);
    return RCOMM_OK;
}

/* Frames waiting to be written, staged bytes and unreported completions
 * show on no socket: progress() must run first. */
int tcp_wait_fd(tp_t *base)
{
    tcp_tp_t *tp = tcp_tp(base);

    return tp->connected && !tp->ntx && !tp->done.head ? tp->epfd : -1;
}

/* ---- failure ------------------------------------------------------------ */

static unsigned fail_ops(tcp_tp_t *tp, tp_opq_t *q, rcomm_status_t status)
{
    unsigned n = 0;
    tp_op_t *op;

    while ((op = q->head)) {
        BASE_FIFO_POP(q);
        n += tp_op_counted(op);
        tp_done(&tp->done, op, status);
    }
    return n;
}

void tcp_drop_txq(tcp_peer_t *p)
{
    tcp_txf_t *f;

    while ((f = p->txq.head)) {
        BASE_FIFO_POP(&p->txq);
        if (tcp_type_is_ours(f->hdr.type))
            tcp_reply_free((tcp_reply_t *)f);
    }
    p->tx_off = 0;
}

void tcp_peer_close(tcp_tp_t *tp, tcp_peer_t *p, rcomm_status_t reason, const char *why)
{
    size_t wlen = why && reason != RCOMM_OK ? strnlen(why, TCP_BYE_TEXT_MAX) : 0;

    if (p->fd < 0)
        return;
    /* Mid-frame, a GOODBYE would land inside the payload: the peer will see
     * a truncated frame and EOF instead. */
    if (p->tx_off == 0) {
        tcp_hdr_t h;
        struct iovec iov[2] = {{&h, TCP_HDR_LEN}, {(void *)why, wlen}};
        struct msghdr msg = {.msg_iov = iov, .msg_iovlen = wlen ? 2 : 1};
        tcp_hdr_init(&h, TCP_GOODBYE, wlen);
        h.status = reason;
        (void)sendmsg(p->fd, &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
    }
    shutdown(p->fd, SHUT_WR);
    /* Unread bytes would make close() send a reset, which can destroy the
     * GOODBYE before the peer reads it. Take what is already there. */
    if (p->stage)
        for (int i = 0; i < 64; i++)
            if (recv(p->fd, p->stage, TCP_STAGE_LEN, MSG_DONTWAIT) <= 0)
                break;
    close(p->fd);
    p->fd = -1;
}

void tcp_peer_fail(tcp_tp_t *tp, tcp_peer_t *p, rcomm_status_t status, const char *fmt,
                   ...)
{
    unsigned nrecv, nsend = 0, nrma;
    char failed[96];
    tp_cause_t cause;
    tcp_txf_t *f;
    va_list ap;

    va_start(ap, fmt);
    tp_cause_vfmt(&cause, fmt, ap);
    va_end(ap);
    if (!tp_fail_start(&p->fail, status, tp->base.rank, &cause))
        return;

    nrecv = fail_ops(tp, &p->m.posted, status) + fail_ops(tp, &p->rndv_rx, status);
    nsend = fail_ops(tp, &p->rndv_tx, status);
    nrma = fail_ops(tp, &p->waiting, status);
    if (p->rx.op) { /* a receive or get that was landing */
        *(p->rx.op->kind == TCP_OP_RECV ? &nrecv : &nrma) += 1;
        tcp_complete(tp, p->rx.op, status);
    }
    while ((f = p->txq.head)) {
        BASE_FIFO_POP(&p->txq);
        if (tcp_type_is_ours(f->hdr.type)) {
            tcp_reply_free((tcp_reply_t *)f);
        } else {
            unsigned t = f->hdr.type;
            tcp_complete(tp, tcp_op_of_tx(f), status);
            *(t == TCP_SEND || t == TCP_RTS || t == TCP_DATA ? &nsend : &nrma) += 1;
        }
    }
    tcp_ux_free(tp, p->rx.ux);
    p->rx = (tcp_rx_t){.state = TCP_RX_HDR};
    p->nbig = 0;
    tcp_peer_close(tp, p, status, cause.text);
    p->tx_off = 0;
    p->tx_blocked = false;
    free(p->stage);
    p->stage = NULL;
    p->stage_head = p->stage_tail = 0;

    snprintf(failed, sizeof(failed), "%u receive(s), %u send(s), %u one-sided op(s)",
             nrecv, nsend, nrma);
    tp_fail_log(&p->fail, tp->base.rank, &cause, nrecv + nsend + nrma ? failed : NULL,
                p->goodbye);
}
