/* SPDX-License-Identifier: BSD-3-Clause */
/* TCP transport: the receive state machine, header validation, and two-sided
 * messages (isend, irecv, matching, unexpected messages, cancel). */
#include <byteswap.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include "base/error.h"
#include "transports/tcp/tcp.h"

int tcp_hdr_check(const tcp_hdr_t *h, bool handshake, char *why, size_t len)
{
    why[0] = '\0';
    if (h->magic != TCP_MAGIC)
        snprintf(why, len, "bad magic 0x%08x (expected 0x%08x%s)", h->magic, TCP_MAGIC,
                 h->magic == bswap_32(TCP_MAGIC) ? ": the peer has the other byte order"
                                                 : "");
    else if (h->version != TCP_VERSION)
        snprintf(why, len, "protocol version %u (ours is %u)", h->version, TCP_VERSION);
    else if (handshake ? h->type != TCP_HELLO
                       : h->type == TCP_HELLO || h->type == 0 || h->type >= TCP_TYPE_END)
        snprintf(why, len, "unexpected frame type %u (%s)%s", h->type,
                 tcp_type_name(h->type), handshake ? " in the handshake" : "");
    else if (h->flags & ~(handshake            ? TCP_HELLO_FLAGS
                          : h->type == TCP_PUT ? TCP_F_NOTIFY
                                               : 0u))
        snprintf(why, len, "unknown flags 0x%x in a %s frame", h->flags,
                 tcp_type_name(h->type));
    else if ((h->flags & TCP_F_NOTIFY) && h->u.rma.arg[0] >= TP_NOTIFY_LIMIT)
        snprintf(why, len, "notification value %llu in a PUT (at most %u)",
                 (unsigned long long)h->u.rma.arg[0], TP_NOTIFY_LIMIT - 1);
    else if (h->len > TCP_MAX_PAYLOAD)
        snprintf(why, len, "absurd payload length %llu in a %s frame",
                 (unsigned long long)h->len, tcp_type_name(h->type));
    else if (handshake && h->len != sizeof(tcp_auth_t))
        snprintf(why, len, "HELLO of %llu bytes (expected %zu)",
                 (unsigned long long)h->len, sizeof(tcp_auth_t));
    else if (handshake)
        ;
    else if (h->type == TCP_GOODBYE && h->len > TCP_BYE_TEXT_MAX)
        snprintf(why, len, "GOODBYE with a %llu-byte message (at most %d)",
                 (unsigned long long)h->len, TCP_BYE_TEXT_MAX);
    else if (h->len != 0 && !tcp_type_has_payload(h->type))
        snprintf(why, len, "%s frame with %llu payload bytes (it has none)",
                 tcp_type_name(h->type), (unsigned long long)h->len);
    else if ((h->type == TCP_RTS || h->type == TCP_DATA) &&
             (h->u.msg.size > TCP_MAX_PAYLOAD ||
              (h->type == TCP_RTS ? h->len >= h->u.msg.size
                                  : h->len == 0 || h->len > h->u.msg.size)))
        snprintf(why, len, "%s of %llu bytes of a %llu-byte message",
                 tcp_type_name(h->type), (unsigned long long)h->len,
                 (unsigned long long)h->u.msg.size);
    return why[0] ? -1 : 0;
}

void tcp_rx_expect(tcp_peer_t *p, size_t len, int delta)
{
    if (len > TCP_COPY_MAX)
        p->nbig += (unsigned)delta;
}

/* Small traffic expected: read greedily into the staging buffer. Otherwise
 * read one header at a time, so no large payload lands in staging. */
static bool rx_greedy(const tcp_peer_t *p)
{
    return p->nbig == 0;
}

static tcp_op_t *posted_take(tcp_peer_t *p, uint64_t tag)
{
    tp_op_t *h = tp_match_posted(&p->m, tag);

    if (!h)
        return NULL;
    tcp_rx_expect(p, tcp_op_of(h)->cap, -1);
    return tcp_op_of(h);
}

/* The request still gets the sender's envelope and length: the caller may
 * explain the size from them (the collective layer reports a mismatch). */
void tcp_rx_too_long(tcp_tp_t *tp, tcp_peer_t *p, tcp_op_t *op, uint64_t tag,
                     uint64_t len, const void *env)
{
    tp_req_t *req = tcp_req(op);

    memcpy(&req->env, env, sizeof(req->env));
    req->len = (size_t)len;
    tcp_complete(tp, op, tp_err_oversize(tp->base.rank, p->rank, len, tag, op->cap));
}

/* At most this many bytes of free buffers stay pooled. */
#define TCP_UX_POOL (4u << 20)

tcp_unexp_t *tcp_ux_alloc(tcp_tp_t *tp, size_t len)
{
    tcp_unexp_t *ux;

    if (len <= TCP_COPY_MAX || len > tp->eager) {
        if ((ux = malloc(sizeof(*ux) + len)))
            *ux = (tcp_unexp_t){.cap = len};
        return ux;
    }
    if (tp->ux_pool.head) {
        ux = tcp_ux_of(tp->ux_pool.head);
        BASE_FIFO_POP(&tp->ux_pool);
        tp->ux_pooled--;
    } else if (!(ux = malloc(sizeof(*ux) + tp->eager))) {
        return NULL;
    }
    *ux = (tcp_unexp_t){.cap = tp->eager};
    return ux;
}

void tcp_ux_free(tcp_tp_t *tp, tcp_unexp_t *ux)
{
    if (!ux)
        return;
    if (ux->cap == tp->eager && ux->cap > TCP_COPY_MAX &&
        (tp->ux_pooled + 1) * tp->eager <= TCP_UX_POOL) {
        BASE_FIFO_PUSH(&tp->ux_pool, &ux->h);
        tp->ux_pooled++;
        return;
    }
    free(ux);
}

void tcp_ux_pool_free(tcp_tp_t *tp)
{
    tp_unexp_t *ux;

    while ((ux = tp->ux_pool.head)) {
        BASE_FIFO_POP(&tp->ux_pool);
        free(tcp_ux_of(ux));
    }
    tp->ux_pooled = 0;
}

/* Bytes p sent on credit (tcp.h, flow control) that we now hold; false after
 * failing p when it had no credit for them. */
bool tcp_credit_take(tcp_tp_t *tp, tcp_peer_t *p, uint64_t len)
{
    if ((p->held += len) <= p->credit)
        return true;
    tcp_peer_fail(tp, p, RCOMM_ERR_PROTOCOL,
                  "rank %d sent %llu bytes of messages nobody had asked for yet, beyond "
                  "its flow-control credit of %llu (it ignores flow control)",
                  p->rank, (unsigned long long)p->held, (unsigned long long)p->credit);
    return false;
}

/* A held message meets its receive. */
static void ux_deliver(tcp_tp_t *tp, tcp_peer_t *p, tcp_unexp_t *ux, tcp_op_t *op)
{
    tp_req_t *req = tcp_req(op);

    if (!ux->rts) /* matched: its sender may send that much more eagerly */
        tcp_rndv_ack(tp, p, ux->h.len);
    p->held -= ux->rts ? ux->head : ux->h.len > TCP_COPY_MAX ? ux->h.len : 0;
    if (ux->rts) {
        tcp_rndv_grant(tp, p, op, ux);
    } else if (ux->h.len > op->cap) {
        tcp_rx_too_long(tp, p, op, ux->h.tag, ux->h.len, &ux->h.env);
    } else {
        if (ux->h.len)
            memcpy(op->buf, ux->data, ux->h.len);
        tp->base.stats.bytes_copied += ux->h.len;
        req->len = ux->h.len;
        req->env = ux->h.env;
        tcp_complete(tp, op, RCOMM_OK);
    }
    tcp_ux_free(tp, ux);
}

/* The SEND in rx.hdr goes to op. */
static void rx_land(tcp_tp_t *tp, tcp_peer_t *p, tcp_op_t *op)
{
    p->rx.state = TCP_RX_BODY;
    tcp_rndv_ack(tp, p, p->rx.hdr.len);
    if (p->rx.hdr.len > op->cap) { /* fail it, read the payload into nowhere */
        tcp_rx_too_long(tp, p, op, p->rx.hdr.u.msg.tag, p->rx.hdr.len,
                        p->rx.hdr.u.msg.env);
        return;
    }
    p->rx.op = op;
    p->rx.dst = op->buf;
}

static void rx_send_begin(tcp_tp_t *tp, tcp_peer_t *p)
{
    const tcp_hdr_t *h = &p->rx.hdr;
    tcp_op_t *op = posted_take(p, h->u.msg.tag);
    tcp_unexp_t *ux;

    if (op) {
        rx_land(tp, p, op);
        return;
    }
    tp_unexpected(&tp->base, p->rank, h->u.msg.tag, (const tp_env_t *)h->u.msg.env,
                  h->len);
    if (h->len > TCP_COPY_MAX && !tcp_credit_take(tp, p, h->len))
        return;
    if (!(ux = tcp_ux_alloc(tp, h->len))) {
        tcp_peer_fail(tp, p, RCOMM_ERR_NO_MEMORY,
                      "no memory to buffer a %llu-byte message from rank %d",
                      (unsigned long long)h->len, p->rank);
        return;
    }
    ux->h.tag = h->u.msg.tag;
    ux->h.len = h->len;
    memcpy(&ux->h.env, h->u.msg.env, sizeof(ux->h.env));
    p->rx.ux = ux;
    p->rx.dst = (char *)ux->data;
}

/* An RTS: grant it to its receive (its head lands there), or hold it. */
static void rx_rts(tcp_tp_t *tp, tcp_peer_t *p)
{
    tcp_op_t *op = posted_take(p, p->rx.hdr.u.msg.tag);

    if (op)
        tcp_rndv_grant(tp, p, op, NULL);
    else
        tcp_rndv_hold(tp, p);
}

static void rx_send_end(tcp_tp_t *tp, tcp_peer_t *p)
{
    tcp_unexp_t *ux = p->rx.ux;
    tcp_op_t *op = p->rx.op;
    uint64_t len = p->rx.hdr.type == TCP_DATA ? p->rx.hdr.u.msg.size : p->rx.hdr.len;

    /* A DATA chunk before the last: its receive is still on rndv_rx. */
    if (p->rx.hdr.type == TCP_DATA && !op)
        return;
    if (p->rx.hdr.type != TCP_RTS) { /* an RTS is counted with its DATA */
        tp->base.stats.messages_received++;
        tp->base.stats.bytes_received += len;
    }
    if (op) {
        tp_req_t *req = tcp_req(op);
        req->len = (size_t)len;
        memcpy(&req->env, p->rx.hdr.u.msg.env, sizeof(req->env));
        tcp_complete(tp, op, RCOMM_OK);
    } else if (ux) {
        /* A receive posted while it was arriving is the first in line. */
        if ((op = posted_take(p, ux->h.tag)))
            ux_deliver(tp, p, ux, op);
        else
            tp_hold(&p->m, &ux->h);
    }
}

/* The GOODBYE and its message (in p->bye) have arrived. */
static void rx_goodbye(tcp_tp_t *tp, tcp_peer_t *p)
{
    tp_cause_t cause;
    rcomm_status_t st =
        tp_goodbye(p->rank, p->rx.hdr.status, p->bye, p->rx.hdr.len, &cause);

    p->goodbye = true;
    tcp_peer_fail(tp, p, st, "%s", cause.text);
}

/* A complete header is in rx.hdr: decide where its payload goes. */
static void rx_header(tcp_tp_t *tp, tcp_peer_t *p)
{
    char why[128];
    tcp_rx_t *rx = &p->rx;

    if (tcp_hdr_check(&rx->hdr, false, why, sizeof(why)) != 0) {
        tcp_peer_fail(tp, p, RCOMM_ERR_PROTOCOL, "rank %d sent a malformed frame: %s",
                      p->rank, why);
        return;
    }
    rx->off = 0;
    rx->dst = NULL;
    rx->op = NULL;
    rx->ux = NULL;
    rx->mr = NULL;
    rx->state = TCP_RX_BODY;
    if (rx->hdr.type == TCP_SEND) {
        rx_send_begin(tp, p);
    } else if (rx->hdr.type == TCP_RTS) {
        rx_rts(tp, p);
    } else if (rx->hdr.type == TCP_CTS) {
        tcp_rndv_cts(tp, p);
    } else if (rx->hdr.type == TCP_DATA) {
        tcp_rndv_data(tp, p);
    } else if (rx->hdr.type == TCP_ACK) {
        tcp_rndv_acked(tp, p);
    } else if (rx->hdr.type == TCP_GOODBYE) {
        rx->dst = p->bye;
        if (rx->hdr.len == 0)
            rx_goodbye(tp, p);
    } else
        tcp_rma_begin(tp, p);
}

static void rx_frame_end(tcp_tp_t *tp, tcp_peer_t *p)
{
    if (p->rx.hdr.type == TCP_SEND || p->rx.hdr.type == TCP_DATA ||
        p->rx.hdr.type == TCP_RTS)
        rx_send_end(tp, p);
    else if (p->rx.hdr.type == TCP_CTS || p->rx.hdr.type == TCP_ACK)
        ; /* done with the header */
    else if (p->rx.hdr.type == TCP_GOODBYE)
        rx_goodbye(tp, p);
    else
        tcp_rma_end(tp, p);
    if (p->fd >= 0) {
        p->rx.state = TCP_RX_HDR;
        p->rx.op = NULL;
        p->rx.ux = NULL;
        p->rx.mr = NULL;
    }
}

/* EOF or an error on a read. Returns true if the peer is gone. */
static bool rx_lost(tcp_tp_t *tp, tcp_peer_t *p, ssize_t n)
{
    bool mid = p->rx.state == TCP_RX_BODY || p->stage_tail > p->stage_head;

    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return false;
    tcp_peer_fail(tp, p, RCOMM_ERR_PEER_FAILED,
                  "connection to rank %d lost%s%s%s: it exited or crashed", p->rank,
                  mid ? " in the middle of a frame" : " while receiving",
                  n < 0 ? ": " : "", n < 0 ? strerror(errno) : "");
    return true;
}

/* Read more header bytes into staging. Returns bytes read, 0 if none now,
 * -1 if the peer is gone. */
static ssize_t rx_read_stage(tcp_tp_t *tp, tcp_peer_t *p)
{
    uint32_t have = p->stage_tail - p->stage_head;
    size_t want;
    ssize_t n;

    memmove(p->stage, p->stage + p->stage_head, have);
    p->stage_head = 0;
    p->stage_tail = have;
    want = rx_greedy(p) ? TCP_STAGE_LEN - have : TCP_HDR_LEN - have;
    n = recv(p->fd, p->stage + have, want, MSG_DONTWAIT);
    if (n > 0) {
        tp->base.traffic++;
        tp->base.moved[p->rank]++;
        p->stage_tail += (uint32_t)n;
        return (size_t)n < want ? n : -2; /* -2: full read, there may be more */
    }
    return rx_lost(tp, p, n) ? -1 : 0;
}

/* Read payload straight into its destination, and the next header (or, when
 * greedy, the next small frames) behind it in the same call. */
static ssize_t rx_read_body(tcp_tp_t *tp, tcp_peer_t *p)
{
    tcp_rx_t *rx = &p->rx;
    uint64_t left = rx->hdr.len - rx->off;
    struct iovec iov[2];
    size_t want;
    int niov = 1;
    ssize_t n;

    p->stage_head = p->stage_tail = 0;
    if (rx->dst) {
        iov[0] = (struct iovec){rx->dst + rx->off, left};
        iov[1] = (struct iovec){p->stage, rx_greedy(p) ? TCP_STAGE_LEN : TCP_HDR_LEN};
        niov = 2;
    } else { /* discarding: staging is scratch */
        iov[0] = (struct iovec){p->stage, left < TCP_STAGE_LEN ? left : TCP_STAGE_LEN};
    }
    want = iov[0].iov_len + (niov > 1 ? iov[1].iov_len : 0);
    n = readv(p->fd, iov, niov);
    if (n <= 0)
        return rx_lost(tp, p, n) ? -1 : 0;
    tp->base.traffic++;
    tp->base.moved[p->rank]++;
    if ((size_t)n > iov[0].iov_len) {
        p->stage_tail = (uint32_t)((size_t)n - iov[0].iov_len);
        rx->off += iov[0].iov_len;
    } else {
        rx->off += (size_t)n;
    }
    return (size_t)n < want ? n : -2;
}

void tcp_rx_run(tcp_tp_t *tp, tcp_peer_t *p)
{
    tcp_rx_t *rx = &p->rx;
    bool drained = false; /* a read came back short: the socket is empty */
    ssize_t n;

    while (p->fd >= 0) {
        uint32_t have = p->stage_tail - p->stage_head;

        if (rx->state == TCP_RX_HDR) {
            if (have >= TCP_HDR_LEN) {
                memcpy(&rx->hdr, p->stage + p->stage_head, TCP_HDR_LEN);
                p->stage_head += TCP_HDR_LEN;
                rx_header(tp, p);
                continue;
            }
            if (drained || (n = rx_read_stage(tp, p)) == 0 || n == -1)
                return;
            drained = n > 0;
        } else if (rx->off == rx->hdr.len) {
            rx_frame_end(tp, p);
        } else if (have > 0) { /* payload bytes that came in with a header */
            uint64_t k = rx->hdr.len - rx->off < have ? rx->hdr.len - rx->off : have;
            if (rx->dst) {
                memcpy(rx->dst + rx->off, p->stage + p->stage_head, k);
                /* a buffered message is counted when delivered */
                if (!rx->ux && rx->hdr.type != TCP_GOODBYE)
                    tp->base.stats.bytes_copied += k;
            }
            p->stage_head += (uint32_t)k;
            rx->off += k;
        } else {
            if (drained || (n = rx_read_body(tp, p)) == 0 || n == -1)
                return;
            drained = n > 0;
        }
    }
}

/* ---- posting ------------------------------------------------------------ */

rcomm_status_t tcp_isend(tp_t *base, int peer, uint64_t tag, const tp_env_t *env,
                         const void *buf, size_t len, tp_req_t *req)
{
    tcp_tp_t *tp = tcp_tp(base);
    rcomm_status_t st = tcp_post_check(tp, peer, req, "isend to");
    tcp_op_t *op;

    if (st != RCOMM_OK)
        return st;
    if ((!buf && len) || len > TCP_MAX_PAYLOAD)
        return base_err(RCOMM_ERR_INVALID_ARG, "rank %d: isend to rank %d: %s",
                        base->rank, peer, !buf ? "buf is NULL" : "message too long");
    op = tcp_op(req);
    op->kind = TCP_OP_SEND;
    op->h.peer = peer;
    op->tx.payload = buf;
    tcp_hdr_init(&op->tx.hdr, TCP_SEND, len);
    op->tx.hdr.u.msg.tag = tag;
    if (env)
        memcpy(op->tx.hdr.u.msg.env, env, sizeof(*env));
    if (len > tp->eager ||
        (len > TCP_COPY_MAX && tp->peers[peer].unacked + len > tp->budget))
        tcp_rndv_announce(tp, op);
    else if (len > TCP_COPY_MAX)
        tp->peers[peer].unacked += len; /* until its ACK */
    req->status = RCOMM_INPROGRESS;
    tcp_enqueue(tp, &tp->peers[peer], &op->tx);
    return RCOMM_OK;
}

rcomm_status_t tcp_irecv(tp_t *base, int peer, uint64_t tag, void *buf, size_t len,
                         tp_req_t *req)
{
    tcp_tp_t *tp = tcp_tp(base);
    rcomm_status_t st = tp_check_post(&tp->base, tp->connected, peer, req, "irecv from");
    tp_unexp_t *ux;
    tcp_peer_t *p;
    tcp_op_t *op;

    if (st != RCOMM_OK)
        return st;
    if (!buf && len)
        return base_err(RCOMM_ERR_INVALID_ARG, "rank %d: irecv from rank %d: buf is NULL",
                        base->rank, peer);
    p = &tp->peers[peer];
    op = tcp_op(req);
    op->kind = TCP_OP_RECV;
    op->h.peer = peer;
    op->h.tag = tag;
    op->buf = buf;
    op->cap = len;
    /* A held message may have arrived before the peer failed. */
    if ((ux = tp_match_held(&p->m, tag))) {
        req->status = RCOMM_INPROGRESS;
        ux_deliver(tp, p, tcp_ux_of(ux), op);
        return RCOMM_OK;
    }
    if ((st = tcp_post_check(tp, peer, req, "irecv from")) != RCOMM_OK)
        return st;
    req->status = RCOMM_INPROGRESS;
    tp->hot = peer;
    tp_post(&p->m, &op->h);
    tcp_rx_expect(p, len, +1);
    return RCOMM_OK;
}

rcomm_status_t tcp_cancel(tp_t *base, tp_req_t *req)
{
    tcp_tp_t *tp = tcp_tp(base);
    tcp_op_t *op = req ? tcp_op(req) : NULL;

    /* Found by address, never by trusting the fields of req: it may be a
     * request that was never posted. */
    for (int r = 0; op && tp->peers && r < base->size; r++) {
        tcp_peer_t *p = &tp->peers[r];
        if (tp_unpost(&p->m, &op->h)) {
            tcp_rx_expect(p, op->cap, -1);
            return RCOMM_OK;
        }
        if (p->rx.op == op || tp_queued(&p->rndv_rx, &op->h))
            return RCOMM_INPROGRESS;
    }
    if (op && tp_queued(&tp->done, &op->h))
        return RCOMM_INPROGRESS;
    return base_err(RCOMM_ERR_INVALID_ARG, "rank %d: cancel: not a posted receive",
                    base->rank);
}
