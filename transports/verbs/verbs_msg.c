/* SPDX-License-Identifier: BSD-3-Clause */
/* Verbs transport: two-sided messages. Posting, matching (per peer, by tag,
 * in posting order), the eager and rendezvous protocols on the receive side,
 * and the transport's own messages (HELLO, BYE). */
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "transports/verbs/verbs.h"

static void op_init(vx_op_t *op, tp_req_t *req, vx_kind_t kind, int peer)
{
    memset(op, 0, sizeof(*op));
    op->kind = (uint8_t)kind;
    op->h.peer = peer;
    op->h.status = RCOMM_INPROGRESS;
    req->status = RCOMM_INPROGRESS;
}

rcomm_status_t vx_isend(tp_t *base, int peer, uint64_t tag, const tp_env_t *env,
                        const void *buf, size_t len, tp_req_t *req)
{
    vx_tp_t *tp = vx_tp(base);
    rcomm_status_t st = vx_post_check(tp, peer, req, "send to");
    vx_op_t *op;

    if (st != RCOMM_OK)
        return st;
    if (!buf && len)
        return base_err(RCOMM_ERR_INVALID_ARG, "rank %d: send to rank %d: buf is NULL",
                        base->rank, peer);
    op = vx_op(req);
    op_init(op, req, VX_OP_SEND, peer);
    op->buf = (void *)buf;
    op->len = len;
    op->h.tag = tag;
    if (env) /* else a zero envelope */
        op->u.env = *env;
    vx_outbox_push(tp, &tp->peers[peer], op);
    vx_flush(tp);
    return RCOMM_OK;
}

/* Rendezvous id of a receive whose data will be written into it. */
static rcomm_status_t rdv_add(vx_tp_t *tp, vx_op_t *op)
{
    uint32_t i;

    for (i = 0; i < tp->nrdv && tp->rdv[i]; i++)
        ;
    if (i == tp->nrdv) {
        uint32_t n = tp->nrdv ? 2 * tp->nrdv : 64;
        vx_op_t **r = realloc(tp->rdv, n * sizeof(*r));
        if (!r)
            return base_err(RCOMM_ERR_NO_MEMORY, "rank %d: verbs: out of memory",
                            tp->base.rank);
        memset(r + tp->nrdv, 0, (n - tp->nrdv) * sizeof(*r));
        tp->rdv = r;
        tp->nrdv = n;
    }
    tp->rdv[i] = op;
    op->rid = i;
    return RCOMM_OK;
}

/* Answer an RTS we cannot take, so that its sender does not wait forever. */
static void refuse(vx_tp_t *tp, vx_peer_t *p, uint64_t id, rcomm_status_t why)
{
    vx_hdr_t h = {.type = VX_CTS, .flags = VX_CTS_REFUSE, .status = why, .id = id};
    (void)vx_ctl_send(tp, p, &h, NULL, 0, false);
}

/* The receive op matched an RTS {id, len, env}: clear its sender to write. */
static void rdv_start(vx_tp_t *tp, vx_peer_t *p, vx_op_t *op, uint64_t id, uint64_t len,
                      const tp_env_t *env)
{
    tp_req_t *req = vx_req(op);
    rcomm_status_t st;

    req->env = *env;
    req->len = len;
    if (len > op->len) {
        vx_complete(tp, op,
                    tp_err_oversize(tp->base.rank, p->rank, len, op->h.tag, op->len));
        refuse(tp, p, id, RCOMM_OK);
        return;
    }
    op->len = len;
    if ((st = vx_reg_acquire(tp, op->buf, len, true, &op->reg)) != RCOMM_OK ||
        (st = rdv_add(tp, op)) != RCOMM_OK) {
        vx_complete(tp, op, st);
        refuse(tp, p, id, RCOMM_ERR_PEER_FAILED);
        return;
    }
    op->opnd[0] = id;
    op->state = VX_S_CTS;
    vx_outbox_push(tp, p, op);
}

/* An eager message for a matched receive. */
static void eager_deliver(vx_tp_t *tp, vx_peer_t *p, vx_op_t *op, const void *data,
                          uint64_t len, const tp_env_t *env)
{
    tp_req_t *req = vx_req(op);

    req->env = *env;
    req->len = len;
    if (len > op->len) {
        vx_complete(tp, op,
                    tp_err_oversize(tp->base.rank, p->rank, len, op->h.tag, op->len));
        return;
    }
    if (len) /* a receive of 0 bytes may have no buffer */
        memcpy(op->buf, data, len);
    tp->base.stats.bytes_copied += len;
    tp->base.stats.bytes_received += len;
    tp->base.stats.messages_received++;
    vx_complete(tp, op, RCOMM_OK);
}

rcomm_status_t vx_irecv(tp_t *base, int peer, uint64_t tag, void *buf, size_t len,
                        tp_req_t *req)
{
    vx_tp_t *tp = vx_tp(base);
    rcomm_status_t st;
    tp_unexp_t *h, *prev;
    vx_unexp_t *ux;
    vx_peer_t *p;
    vx_op_t *op;

    /* A message that has fully arrived can be received from a failed peer:
     * the peer's failure is reported below, only if nothing is held. (Asking
     * first logged it even for a message that had arrived: "closed the
     * connection" at every normal exit where a peer left before a receive
     * of its last message was posted.) */
    if ((st = tp_check_post(tp ? &tp->base : NULL, tp && tp->connected, peer, req,
                            "receive from")) != RCOMM_OK)
        return st;
    if (!buf && len)
        return base_err(RCOMM_ERR_INVALID_ARG,
                        "rank %d: receive from rank %d: buf is NULL", base->rank, peer);
    p = &tp->peers[peer];
    op = vx_op(req);
    op_init(op, req, VX_OP_RECV, peer);
    op->buf = buf;
    op->len = len;
    op->h.tag = tag;
    /* A rendezvous from a failed peer will never send its data. */
    if ((h = tp_find_held(&p->m, tag, &prev)) &&
        !((ux = (vx_unexp_t *)h)->rts && p->fail.status)) {
        tp_unhold(&p->m, prev, h);
        if (ux->rts)
            rdv_start(tp, p, op, ux->id, h->len, &h->env);
        else
            eager_deliver(tp, p, op, ux->data, h->len, &h->env);
        free(ux);
        vx_flush(tp);
        return RCOMM_OK;
    }
    if (p->fail.status)
        return tp_fail_report(&p->fail, "receive from", peer);
    op->state = VX_S_POSTED;
    tp_post(&p->m, &op->h);
    return RCOMM_OK;
}

rcomm_status_t vx_cancel(tp_t *base, tp_req_t *req)
{
    vx_tp_t *tp = vx_tp(base);
    vx_op_t *op = req ? vx_op(req) : NULL;

    if (!tp || !op || op->kind != VX_OP_RECV || op->h.peer < 0 ||
        op->h.peer >= base->size)
        return base_err(RCOMM_ERR_INVALID_ARG, "rank %d: cancel: not a posted receive",
                        base ? base->rank : -1);
    if (op->state == VX_S_CTS || op->state == VX_S_LANDING)
        return RCOMM_INPROGRESS;
    if (op->state != VX_S_POSTED || !tp_unpost(&tp->peers[op->h.peer].m, &op->h))
        return base_err(RCOMM_ERR_INVALID_ARG, "rank %d: cancel: not a posted receive",
                        base->rank);
    op->state = VX_S_DONE;
    return RCOMM_OK;
}

static vx_op_t *match(vx_peer_t *p, uint64_t tag)
{
    tp_op_t *h = tp_match_posted(&p->m, tag);

    return h ? vx_op_of(h) : NULL;
}

static void unexpected(vx_tp_t *tp, vx_peer_t *p, const vx_hdr_t *h, const void *data,
                       bool rts)
{
    size_t n = rts ? 0 : h->len;
    vx_unexp_t *ux = malloc(sizeof(*ux) + n);

    tp_unexpected(&tp->base, p->rank, h->tag, &h->u.env, h->len);
    if (!ux) {
        vx_peer_fail(tp, p, RCOMM_ERR_NO_MEMORY,
                     "rank %d: no memory to hold a %llu-byte message from rank %d",
                     tp->base.rank, (unsigned long long)h->len, p->rank);
        return;
    }
    *ux = (vx_unexp_t){
        .h = {.tag = h->tag, .env = h->u.env, .len = h->len}, .id = h->id, .rts = rts};
    if (n) /* an RTS has no data: memcpy from NULL is undefined, even of 0 bytes */
        memcpy(ux->data, data, n);
    tp->base.stats.bytes_copied += n;
    tp_hold(&p->m, &ux->h);
}

static void rx_cts(vx_tp_t *tp, vx_peer_t *p, const vx_hdr_t *h)
{
    tp_op_t *o, *prev = NULL;
    vx_op_t *op;

    for (o = p->rts.head; o && (uintptr_t)vx_op_of(o) != h->id; prev = o, o = o->next)
        ;
    if (!o) {
        vx_peer_fail(tp, p, RCOMM_ERR_PROTOCOL,
                     "rank %d sent a CTS for no send of ours (id 0x%llx)", p->rank,
                     (unsigned long long)h->id);
        return;
    }
    op = vx_op_of(o);
    BASE_FIFO_UNLINK(&p->rts, prev, o);
    if (h->flags & VX_CTS_REFUSE) {
        vx_complete(tp, op,
                    h->status == RCOMM_OK
                        ? RCOMM_OK
                        : base_err(RCOMM_ERR_PEER_FAILED,
                                   "rank %d: rank %d could not take our %zu-byte message "
                                   "(tag %llu): %s",
                                   tp->base.rank, p->rank, op->len,
                                   (unsigned long long)op->h.tag,
                                   rcomm_strerror((rcomm_status_t)h->status)));
        return;
    }
    if (h->len != op->len) {
        vx_complete(tp, op, RCOMM_ERR_PROTOCOL);
        vx_peer_fail(tp, p, RCOMM_ERR_PROTOCOL,
                     "rank %d cleared %llu bytes for our %zu-byte message", p->rank,
                     (unsigned long long)h->len, op->len);
        return;
    }
    op->u.rma.raddr = h->u.cts.addr;
    op->u.rma.rkey = h->u.cts.rkey;
    op->rid = h->u.cts.rid;
    op->state = VX_S_WRITE;
    vx_outbox_push(tp, p, op);
}

static void rx_bye(vx_tp_t *tp, vx_peer_t *p, const vx_hdr_t *h, const char *text,
                   size_t n)
{
    if (n > VX_BYE_TEXT_MAX)
        n = VX_BYE_TEXT_MAX;
    memcpy(p->bye_text, text, n);
    p->bye_text[n] = '\0';
    p->bye = true;
    if (h->status == RCOMM_OK)
        vx_peer_fail(tp, p, RCOMM_ERR_PEER_FAILED,
                     "peer rank %d closed the connection (it exited or destroyed its "
                     "communicator)",
                     p->rank);
    else if (h->status < 0 && h->status > -100)
        vx_peer_fail(tp, p, (rcomm_status_t)h->status, "peer rank %d failed: %s", p->rank,
                     p->bye_text[0] ? p->bye_text
                                    : rcomm_strerror((rcomm_status_t)h->status));
    else
        vx_peer_fail(tp, p, RCOMM_ERR_PROTOCOL, "rank %d sent a BYE with status %d",
                     p->rank, h->status);
}

void vx_rx_message(vx_tp_t *tp, vx_peer_t *p, const char *slot, uint32_t n)
{
    vx_hdr_t h;
    vx_op_t *op;

    if (n < VX_HDR_LEN) {
        vx_peer_fail(tp, p, RCOMM_ERR_PROTOCOL, "rank %d sent a %u-byte message", p->rank,
                     n);
        return;
    }
    memcpy(&h, slot, sizeof(h));
    switch (h.type) {
    case VX_EAGER:
        if (h.len > tp->eager || n != VX_HDR_LEN + h.len)
            break;
        if ((op = match(p, h.tag)))
            eager_deliver(tp, p, op, slot + VX_HDR_LEN, h.len, &h.u.env);
        else
            unexpected(tp, p, &h, slot + VX_HDR_LEN, false);
        return;
    case VX_RTS:
        if (h.len <= tp->eager)
            break;
        if ((op = match(p, h.tag)))
            rdv_start(tp, p, op, h.id, h.len, &h.u.env);
        else
            unexpected(tp, p, &h, NULL, true);
        return;
    case VX_CTS: rx_cts(tp, p, &h); return;
    case VX_HELLO:
        if (h.u.hello.src != p->rank || h.u.hello.size != tp->base.size)
            break;
        p->hello = true;
        return;
    case VX_BYE:
        if (n < VX_HDR_LEN + (uint32_t)h.text_len)
            break;
        rx_bye(tp, p, &h, slot + VX_HDR_LEN, h.text_len);
        return;
    }
    vx_peer_fail(
        tp, p, RCOMM_ERR_PROTOCOL,
        "rank %d sent a malformed message (type %u, %u bytes, length field %llu)",
        p->rank, h.type, n, (unsigned long long)h.len);
}

void vx_rx_landed(vx_tp_t *tp, vx_peer_t *p, uint32_t rid, uint32_t n)
{
    vx_op_t *op = rid < tp->nrdv ? tp->rdv[rid] : NULL;

    /* Chunked writes report the last chunk's bytes only: n <= op->len. */
    if (!op || op->h.peer != p->rank || op->state != VX_S_LANDING || n > op->len) {
        vx_peer_fail(tp, p, RCOMM_ERR_PROTOCOL,
                     "rank %d wrote %u bytes for rendezvous %u, which %s", p->rank, n,
                     rid,
                     !op || op->h.peer != p->rank ? "is not one of its receives"
                                                  : "does not expect that");
        return;
    }
    tp->rdv[rid] = NULL;
    VX_WRITTEN(op->buf, op->len);
    tp->base.stats.bytes_received += op->len;
    tp->base.stats.messages_received++;
    vx_complete(tp, op, RCOMM_OK);
}
