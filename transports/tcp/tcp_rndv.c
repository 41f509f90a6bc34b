/* SPDX-License-Identifier: BSD-3-Clause */
/* TCP transport: the rendezvous of messages above the eager limit (RTS, CTS,
 * DATA; the protocol is described in tcp.h). */
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "transports/tcp/tcp.h"

void tcp_rndv_announce(tcp_tp_t *tp, tcp_op_t *op)
{
    tcp_hdr_t *h = &op->tx.hdr;
    tcp_peer_t *p = &tp->peers[op->h.peer];
    size_t head =
        h->len > tp->eager && p->unacked + tp->eager <= tp->budget ? tp->eager : 0;

    /* The first eager bytes go with the announcement: they travel while the
     * CTS comes back, so the round trip costs little when the receive is
     * posted, and a receiver that holds the RTS buffers no more than for an
     * eager message. */
    h->u.msg.size = h->len;
    h->len = head;
    h->type = TCP_RTS;
    op->early = 0;
    p->unacked += head; /* until its CTS */
    h->detail = ++tp->next_rid;
    /* Its CTS is what the sender waits for now: read that peer first. */
    tp->hot = op->h.peer;
}

/* A CTS, from the receiver's own memory: the receive may complete (refused)
 * before it is written. */
static void cts_queue(tcp_tp_t *tp, tcp_peer_t *p, uint32_t rid, rcomm_status_t status)
{
    tcp_reply_t *r = calloc(1, sizeof(*r));

    if (!r) {
        tcp_peer_fail(tp, p, RCOMM_ERR_NO_MEMORY,
                      "no memory to answer rank %d's rendezvous", p->rank);
        return;
    }
    tcp_hdr_init(&r->tx.hdr, TCP_CTS, 0);
    r->tx.hdr.status = status;
    r->tx.hdr.detail = rid;
    tcp_enqueue(tp, p, &r->tx);
    tcp_tx_now(tp, p);
}

void tcp_rndv_grant(tcp_tp_t *tp, tcp_peer_t *p, tcp_op_t *op, const tcp_unexp_t *ux)
{
    const tcp_hdr_t *h = &p->rx.hdr;
    uint64_t tag = ux ? ux->h.tag : h->u.msg.tag;
    uint64_t size = ux ? ux->h.len : h->u.msg.size;
    const void *env = ux ? (const void *)&ux->h.env : h->u.msg.env;
    uint32_t rid = ux ? ux->rid : h->detail;
    tp_req_t *req = tcp_req(op);
    rcomm_status_t st;

    /* An announcement held from a peer that has failed since: its data
     * will never come. */
    if ((st = tp_fail_check(&p->fail, "irecv from", p->rank)) != RCOMM_OK) {
        tcp_complete(tp, op, st);
        return;
    }
    if (size > op->cap) { /* an arriving head is read into nowhere */
        tcp_rx_too_long(tp, p, op, tag, size, env);
        cts_queue(tp, p, rid, RCOMM_ERR_PROTOCOL);
        return;
    }
    req->len = (size_t)size;
    memcpy(&req->env, env, sizeof(req->env));
    op->rid = rid;
    op->landed = ux ? ux->head : h->len; /* the DATA chunks follow the head */
    /* Answered before the head is read: the round trip overlaps it. */
    BASE_FIFO_PUSH(&p->rndv_rx, &op->h);
    tcp_rx_expect(p, op->cap, +1);
    cts_queue(tp, p, rid, RCOMM_OK);
    if (p->fd < 0) /* writing the CTS found the peer gone: op has failed */
        return;
    if (ux) {
        memcpy(op->buf, ux->data, ux->head);
        tp->base.stats.bytes_copied += ux->head;
    } else {
        p->rx.dst = op->buf; /* p->rx.op stays NULL: rndv_rx owns op */
    }
}

void tcp_rndv_hold(tcp_tp_t *tp, tcp_peer_t *p)
{
    const tcp_hdr_t *h = &p->rx.hdr;
    tcp_unexp_t *ux;

    tp_unexpected(&tp->base, p->rank, h->u.msg.tag, (const tp_env_t *)h->u.msg.env,
                  h->u.msg.size);
    if (!tcp_credit_take(tp, p, h->len))
        return;
    if (!(ux = tcp_ux_alloc(tp, h->len))) {
        tcp_peer_fail(tp, p, RCOMM_ERR_NO_MEMORY,
                      "no memory to hold rank %d's announcement of a %llu-byte message",
                      p->rank, (unsigned long long)h->u.msg.size);
        return;
    }
    ux->h.tag = h->u.msg.tag;
    ux->h.len = h->u.msg.size;
    memcpy(&ux->h.env, h->u.msg.env, sizeof(ux->h.env));
    ux->rts = true;
    ux->rid = h->detail;
    ux->head = h->len;
    p->rx.ux = ux; /* held once its head is in (rx_send_end) */
    p->rx.dst = (char *)ux->data;
}

void tcp_rndv_clear(tcp_tp_t *tp, tcp_peer_t *p, tcp_op_t *op, rcomm_status_t status)
{
    p->unacked -= op->tx.hdr.len; /* its head was taken */
    if (status != RCOMM_OK) {     /* the receiver failed its receive: too short */
        tp->base.stats.messages_sent++;
        tcp_complete(tp, op, RCOMM_OK);
        return;
    }
    /* The rest in chunks (tx_next_chunk): control frames for this peer
     * never wait behind more than one. */
    op->unsent = op->tx.hdr.u.msg.size - op->tx.hdr.len;
    op->tx.payload = (const char *)op->tx.payload + op->tx.hdr.len;
    op->tx.hdr.len = op->unsent < TCP_DATA_CHUNK ? op->unsent : TCP_DATA_CHUNK;
    op->unsent -= op->tx.hdr.len;
    op->tx.hdr.type = TCP_DATA;
    tcp_enqueue(tp, p, &op->tx);
}

void tcp_rndv_cts(tcp_tp_t *tp, tcp_peer_t *p)
{
    const tcp_hdr_t *h = &p->rx.hdr;
    tcp_txf_t *f = p->txq.head;
    tp_op_t *o, *prev = NULL;

    for (o = p->rndv_tx.head; o && tcp_op_of(o)->tx.hdr.detail != h->detail; o = o->next)
        prev = o;
    /* The receiver answers once it has the RTS's header, so its CTS can
     * come while we still write the head (the socket was full): the RTS
     * is then at the head of the queue, past its header. It goes on once
     * written (frame_sent). */
    if (!o && f && f->hdr.type == TCP_RTS && f->hdr.detail == h->detail &&
        p->tx_off >= TCP_HDR_LEN && !tcp_op_of_tx(f)->early &&
        (h->status == RCOMM_OK || h->status == RCOMM_ERR_PROTOCOL)) {
        tcp_op_of_tx(f)->early = h->status == RCOMM_OK ? 1 : 2;
        return;
    }
    if (!o || (h->status != RCOMM_OK && h->status != RCOMM_ERR_PROTOCOL)) {
        tcp_peer_fail(tp, p, RCOMM_ERR_PROTOCOL,
                      "rank %d sent a malformed frame: CTS with status %d for %s "
                      "rendezvous id %u",
                      p->rank, h->status, o ? "a" : "unknown", h->detail);
        return;
    }
    BASE_FIFO_UNLINK(&p->rndv_tx, prev, o);
    tcp_rndv_clear(tp, p, tcp_op_of(o), (rcomm_status_t)h->status);
}

/* DATA lands in the receive its id names. Messages come in the order the
 * sender heard their CTSs, which is not always the order they were sent: a
 * CTS that comes back while its RTS is still being written (tcp_rndv_cts)
 * sends its DATA only once that write ends, behind the DATA of a CTS that
 * came after it (direct allreduce on 4 ranks, 64 MiB: "DATA for another
 * rendezvous id" in 4 runs of 5). A message's chunks do come together. */
void tcp_rndv_data(tcp_tp_t *tp, tcp_peer_t *p)
{
    const tcp_hdr_t *h = &p->rx.hdr;
    tp_op_t *o, *prev = NULL;
    tcp_op_t *op;

    for (o = p->rndv_rx.head; o && tcp_op_of(o)->rid != h->detail; o = o->next)
        prev = o;
    op = o ? tcp_op_of(o) : NULL;
    if (!op || op->h.tag != h->u.msg.tag || tcp_req(op)->len != h->u.msg.size ||
        h->len > h->u.msg.size - op->landed) {
        tcp_peer_fail(tp, p, RCOMM_ERR_PROTOCOL,
                      "rank %d sent a malformed frame: DATA of %llu bytes %s "
                      "rendezvous id %u",
                      p->rank, (unsigned long long)h->len,
                      op ? "whose tag, size or length does not fit" : "for an ungranted",
                      h->detail);
        return;
    }
    p->rx.dst = (char *)op->buf + op->landed;
    if ((op->landed += h->len) < h->u.msg.size)
        return; /* not the last: op stays on rndv_rx (and fails there) */
    BASE_FIFO_UNLINK(&p->rndv_rx, prev, o);
    tcp_rx_expect(p, op->cap, -1);
    p->rx.op = op;
}

/* Flow control of eager messages. A sender may run ahead of its receiver by
 * whole calls (the leaves of a reduce or gather send and never wait), and
 * the receiver buffers what comes early: unbounded, that is memory faulted
 * in and copied at every message. So a sender counts the bytes it sent
 * eagerly above TCP_COPY_MAX until the receiver says they met their
 * receive, and beyond the budget announces even messages it would have sent
 * eagerly. Nothing ever waits for an ACK: a receiver that is ready answers
 * at once and the sender keeps sending eagerly. */
void tcp_rndv_ack(tcp_tp_t *tp, tcp_peer_t *p, uint64_t len)
{
    tcp_reply_t *r;

    if (len <= TCP_COPY_MAX || p->fd < 0)
        return;
    /* The sender's budget is twice the eager limit: acknowledging every
     * half of it keeps it sending eagerly. */
    if ((p->matched += len) < tp->eager / 2)
        return;
    len = p->matched;
    p->matched = 0;
    if (!(r = calloc(1, sizeof(*r)))) {
        tcp_peer_fail(tp, p, RCOMM_ERR_NO_MEMORY, "no memory to acknowledge rank %d",
                      p->rank);
        return;
    }
    tcp_hdr_init(&r->tx.hdr, TCP_ACK, 0);
    r->tx.hdr.u.msg.size = len;
    tcp_enqueue(tp, p, &r->tx);
}

void tcp_rndv_acked(tcp_tp_t *tp, tcp_peer_t *p)
{
    uint64_t len = p->rx.hdr.u.msg.size;

    if (len > p->unacked || len == 0) {
        tcp_peer_fail(tp, p, RCOMM_ERR_PROTOCOL,
                      "rank %d sent a malformed frame: ACK of %llu bytes (%llu sent)",
                      p->rank, (unsigned long long)len, (unsigned long long)p->unacked);
        return;
    }
    p->unacked -= len;
}
