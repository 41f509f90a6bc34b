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

    h->u.msg.size = h->len;
    h->len = 0;
    h->type = TCP_RTS;
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
    if (size > op->cap) {
        tcp_rx_too_long(tp, p, op, tag, size, env);
        cts_queue(tp, p, rid, RCOMM_ERR_PROTOCOL);
        return;
    }
    req->len = (size_t)size;
    memcpy(&req->env, env, sizeof(req->env));
    op->rid = rid;
    BASE_FIFO_PUSH(&p->rndv_rx, &op->h);
    tcp_rx_expect(p, op->cap, +1);
    cts_queue(tp, p, rid, RCOMM_OK);
}

void tcp_rndv_hold(tcp_tp_t *tp, tcp_peer_t *p)
{
    const tcp_hdr_t *h = &p->rx.hdr;
    tcp_unexp_t *ux;

    tp_unexpected(&tp->base, p->rank, h->u.msg.tag, (const tp_env_t *)h->u.msg.env,
                  h->u.msg.size);
    if (!(ux = tcp_ux_alloc(tp, 0))) {
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
    tp_hold(&p->m, &ux->h);
}

void tcp_rndv_cts(tcp_tp_t *tp, tcp_peer_t *p)
{
    const tcp_hdr_t *h = &p->rx.hdr;
    tp_op_t *o, *prev = NULL;
    tcp_op_t *op;

    for (o = p->rndv_tx.head; o && tcp_op_of(o)->tx.hdr.detail != h->detail; o = o->next)
        prev = o;
    if (!o || (h->status != RCOMM_OK && h->status != RCOMM_ERR_PROTOCOL)) {
        tcp_peer_fail(tp, p, RCOMM_ERR_PROTOCOL,
                      "rank %d sent a malformed frame: CTS with status %d for %s "
                      "rendezvous id %u",
                      p->rank, h->status, o ? "a" : "unknown", h->detail);
        return;
    }
    BASE_FIFO_UNLINK(&p->rndv_tx, prev, o);
    op = tcp_op_of(o);
    if (h->status != RCOMM_OK) { /* the receiver failed its receive: too short */
        tp->base.stats.messages_sent++;
        tcp_complete(tp, op, RCOMM_OK);
        return;
    }
    op->tx.hdr.type = TCP_DATA;
    op->tx.hdr.len = op->tx.hdr.u.msg.size;
    tcp_enqueue(tp, p, &op->tx);
}

void tcp_rndv_data(tcp_tp_t *tp, tcp_peer_t *p)
{
    const tcp_hdr_t *h = &p->rx.hdr;
    tcp_op_t *op = p->rndv_rx.head ? tcp_op_of(p->rndv_rx.head) : NULL;

    if (!op || op->rid != h->detail || op->h.tag != h->u.msg.tag ||
        tcp_req(op)->len != h->len || h->u.msg.size != h->len) {
        tcp_peer_fail(tp, p, RCOMM_ERR_PROTOCOL,
                      "rank %d sent a malformed frame: DATA of %llu bytes for %s "
                      "rendezvous id %u",
                      p->rank, (unsigned long long)h->len, op ? "another" : "no",
                      h->detail);
        return;
    }
    BASE_FIFO_POP(&p->rndv_rx);
    tcp_rx_expect(p, op->cap, -1);
    p->rx.op = op;
    p->rx.dst = op->buf;
}
