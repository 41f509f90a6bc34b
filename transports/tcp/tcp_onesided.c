/* SPDX-License-Identifier: BSD-3-Clause */
/* TCP transport: one-sided operations emulated over the stream. The
 * initiator queues a request frame and waits for the reply; the target checks
 * the access and applies it from inside its progress(). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "transports/tcp/tcp.h"
#include "transports/util/rma.h"

/* ---- target ------------------------------------------------------------- */

static tcp_mr_t *mr_find(tcp_tp_t *tp, uint64_t key)
{
    uint32_t slot = (uint32_t)key - 1; /* low half: slot + 1, high half: generation */
    tcp_mr_t *mr = slot < tp->nmrs ? tp->mrs[slot].mr : NULL;

    return mr && mr->key == key ? mr : NULL;
}

/* TCP_ACC_* travel on the wire: they are the shared reasons. */
_Static_assert(TCP_ACC_NO_KEY == (int)TP_ACC_NO_KEY &&
                   TCP_ACC_RANGE == (int)TP_ACC_RANGE &&
                   TCP_ACC_RIGHTS == (int)TP_ACC_RIGHTS &&
                   TCP_ACC_ALIGN == (int)TP_ACC_ALIGN,
               "tcp_acc_t and tp_acc_t");
_Static_assert(TCP_OP_GET - TCP_OP_PUT == TP_GET && TCP_OP_FADD - TCP_OP_PUT == TP_FADD &&
                   TCP_OP_CSWAP - TCP_OP_PUT == TP_CSWAP,
               "tcp_op_kind_t and tp_rma_t");

static tp_rma_t rma_kind(unsigned kind)
{
    return (tp_rma_t)(kind - TCP_OP_PUT);
}

/* May the request in h touch len bytes at its address as kind? Range
 * refusals return the region in arg. */
static tcp_acc_t rma_access(tcp_tp_t *tp, const tcp_hdr_t *h, uint64_t len, tp_rma_t kind,
                            tcp_mr_t **out, uint64_t arg[2])
{
    tcp_mr_t *mr = mr_find(tp, h->u.rma.key);
    tp_acc_t acc;

    if (!mr)
        return TCP_ACC_NO_KEY;
    acc = tp_rma_access(kind, (uintptr_t)mr->base, mr->len, mr->access, h->u.rma.raddr,
                        len);
    if (acc == TP_ACC_RANGE) {
        arg[0] = (uintptr_t)mr->base;
        arg[1] = mr->len;
    }
    if (acc == TP_ACC_OK)
        *out = mr;
    return (tcp_acc_t)acc;
}

/* Answer the request in p->rx.hdr. A GET_RESP's payload is sent straight
 * from the region (mr), detached by tcp_rma_forget if it goes away first. */
static void reply(tcp_tp_t *tp, tcp_peer_t *p, unsigned type, tcp_acc_t acc,
                  const uint64_t arg[2], const void *payload, uint64_t len, tcp_mr_t *mr)
{
    tcp_reply_t *r = malloc(sizeof(*r));

    if (!r) {
        tcp_peer_fail(tp, p, RCOMM_ERR_NO_MEMORY, "no memory to answer rank %d's %s",
                      p->rank, tcp_type_name(p->rx.hdr.type));
        return;
    }
    tcp_hdr_init(&r->tx.hdr, type, acc == TCP_ACC_OK ? len : 0);
    r->tx.hdr.status = acc == TCP_ACC_OK ? RCOMM_OK : RCOMM_ERR_ACCESS;
    r->tx.hdr.detail = acc;
    r->tx.hdr.u.rma.id = p->rx.hdr.u.rma.id;
    r->tx.hdr.u.rma.arg[0] = arg[0];
    r->tx.hdr.u.rma.arg[1] = arg[1];
    r->tx.payload = payload;
    r->mr = acc == TCP_ACC_OK && len ? mr : NULL;
    r->copy = NULL;
    tcp_enqueue(tp, p, &r->tx);
}

void tcp_reply_free(tcp_reply_t *r)
{
    free(r->copy);
    free(r);
}

void tcp_rma_forget(tcp_tp_t *tp, tcp_mr_t *mr)
{
    for (int i = 0; i < tp->base.size; i++) {
        tcp_peer_t *p = &tp->peers[i];
        if (p->fd < 0)
            continue;
        if (p->rx.mr == mr) { /* a PUT landing in it: drain the rest */
            p->rx.mr = NULL;
            p->rx.dst = NULL;
        }
        for (tcp_txf_t *f = p->txq.head; f; f = f->next) {
            tcp_reply_t *r = (tcp_reply_t *)f;
            if (f->hdr.type != TCP_GET_RESP || r->mr != mr)
                continue;
            if (!(r->copy = malloc(f->hdr.len))) {
                tcp_peer_fail(tp, p, RCOMM_ERR_NO_MEMORY,
                              "no memory to keep a reply to rank %d while its region "
                              "is deregistered",
                              p->rank);
                break;
            }
            memcpy(r->copy, f->payload, f->hdr.len);
            tp->base.stats.bytes_copied += f->hdr.len;
            f->payload = r->copy;
            r->mr = NULL;
        }
    }
}

static void target_end(tcp_tp_t *tp, tcp_peer_t *p)
{
    const tcp_hdr_t *h = &p->rx.hdr;
    uint64_t arg[2] = {0, 0}, *word;
    tcp_mr_t *mr = NULL;
    void *at = (void *)(uintptr_t)h->u.rma.raddr;
    tcp_acc_t acc;

    switch (h->type) {
    case TCP_PUT:
        /* Checked again: the region may have gone while the payload came. */
        acc = rma_access(tp, h, h->len, TP_PUT, &mr, arg);
        if (acc == TCP_ACC_OK)
            tp->base.stats.bytes_received += h->len;
        if (acc == TCP_ACC_OK && (h->flags & TCP_F_NOTIFY) && tp->base.on_notify)
            tp->base.on_notify(tp->base.notify_arg, p->rank, (uint32_t)h->u.rma.arg[0]);
        reply(tp, p, TCP_PUT_ACK, acc, arg, NULL, 0, NULL);
        break;
    case TCP_GET_REQ:
        acc = rma_access(tp, h, h->u.rma.arg[0], TP_GET, &mr, arg);
        reply(tp, p, TCP_GET_RESP, acc, arg, at, h->u.rma.arg[0], mr);
        break;
    default: /* atomics: progress() is single-threaded, peers are serialised */
        acc = rma_access(tp, h, 8, TP_FADD, &mr, arg);
        if (acc == TCP_ACC_OK) {
            word = at;
            if (h->type == TCP_ATOMIC_FADD) {
                arg[0] = __atomic_fetch_add(word, h->u.rma.arg[0], __ATOMIC_SEQ_CST);
            } else {
                arg[0] = h->u.rma.arg[0];
                __atomic_compare_exchange_n(word, &arg[0], h->u.rma.arg[1], false,
                                            __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
            }
        }
        reply(tp, p, TCP_ATOMIC_RESP, acc, arg, NULL, 0, NULL);
        break;
    }
}

/* ---- initiator ---------------------------------------------------------- */

/* The target refused op: say exactly why. */
static rcomm_status_t denied(tcp_tp_t *tp, tcp_peer_t *p, const tcp_op_t *op,
                             const tcp_hdr_t *rep)
{
    const tcp_hdr_t *h = &op->tx.hdr;
    uint64_t len = op->kind == TCP_OP_PUT   ? h->len
                   : op->kind == TCP_OP_GET ? h->u.rma.arg[0]
                                            : 8;

    return tp_rma_denied(tp->base.rank, p->rank, rma_kind(op->kind), len, h->u.rma.raddr,
                         h->u.rma.key, (tp_acc_t)rep->detail, rep->u.rma.arg[0],
                         rep->u.rma.arg[1]);
}

/* A reply header arrived: find its request. */
static void reply_begin(tcp_tp_t *tp, tcp_peer_t *p)
{
    const tcp_hdr_t *h = &p->rx.hdr;
    tp_op_t *o, *prev = NULL;
    tcp_op_t *op = NULL;
    bool fits;

    /* Targets answer in order, so this is almost always the head. */
    for (o = p->waiting.head; o && tcp_op_of(o)->tx.hdr.u.rma.id != h->u.rma.id;
         o = o->next)
        prev = o;
    if (o)
        op = tcp_op_of(o);
    fits = op && (h->type == TCP_PUT_ACK ? op->kind == TCP_OP_PUT
                  : h->type == TCP_GET_RESP
                      ? op->kind == TCP_OP_GET
                      : op->kind == TCP_OP_FADD || op->kind == TCP_OP_CSWAP);
    if (!fits) {
        tcp_peer_fail(tp, p, RCOMM_ERR_PROTOCOL,
                      "rank %d sent a malformed frame: %s for %s operation id %llu",
                      p->rank, tcp_type_name(h->type), op ? "a different" : "unknown",
                      (unsigned long long)h->u.rma.id);
        return;
    }
    BASE_FIFO_UNLINK(&p->waiting, prev, o);
    if (op->kind == TCP_OP_GET)
        tcp_rx_expect(p, op->cap, -1);
    p->rx.op = op; /* from here a failure of p completes it */
    if ((h->status != RCOMM_OK && h->status != RCOMM_ERR_ACCESS) ||
        (h->status != RCOMM_OK && h->len != 0) ||
        (h->type == TCP_GET_RESP && h->status == RCOMM_OK && h->len != op->cap)) {
        tcp_peer_fail(tp, p, RCOMM_ERR_PROTOCOL,
                      "rank %d sent a malformed frame: %s with status %d and %llu bytes "
                      "for a %s of %zu bytes",
                      p->rank, tcp_type_name(h->type), h->status,
                      (unsigned long long)h->len, tp_rma_name(rma_kind(op->kind)),
                      op->kind == TCP_OP_GET ? op->cap : (size_t)op->tx.hdr.len);
        return;
    }
    if (h->type == TCP_GET_RESP)
        p->rx.dst = op->buf;
}

static void reply_end(tcp_tp_t *tp, tcp_peer_t *p)
{
    const tcp_hdr_t *h = &p->rx.hdr;
    tcp_op_t *op = p->rx.op;
    tp_req_t *req = tcp_req(op);
    rcomm_status_t st = RCOMM_OK;

    if (h->status != RCOMM_OK) {
        st = denied(tp, p, op, h);
    } else if (h->type == TCP_GET_RESP) {
        req->len = h->len;
        tp->base.stats.bytes_received += h->len;
    } else if (h->type == TCP_ATOMIC_RESP) {
        req->result = h->u.rma.arg[0];
    }
    p->rx.op = NULL;
    tcp_complete(tp, op, st);
}

void tcp_rma_begin(tcp_tp_t *tp, tcp_peer_t *p)
{
    tcp_hdr_t *h = &p->rx.hdr;
    uint64_t arg[2];

    if (tcp_type_is_reply(h->type)) {
        reply_begin(tp, p);
    } else if (h->type == TCP_PUT &&
               rma_access(tp, h, h->len, TP_PUT, &p->rx.mr, arg) == TCP_ACC_OK) {
        p->rx.dst = (char *)(uintptr_t)h->u.rma.raddr; /* zero copy into the region */
    }
    /* A refused PUT is drained (dst NULL); the others carry no payload. */
}

void tcp_rma_end(tcp_tp_t *tp, tcp_peer_t *p)
{
    if (tcp_type_is_reply(p->rx.hdr.type))
        reply_end(tp, p);
    else
        target_end(tp, p);
}

/* Checks and fills what every one-sided post has in common; bad, if set,
 * is what is wrong with the caller's buffer. */
static tcp_op_t *rma_op(tcp_tp_t *tp, int peer, tp_req_t *req, const tp_rkey_t *rkey,
                        tcp_op_kind_t kind, unsigned type, uint64_t raddr,
                        const char *bad, rcomm_status_t *st)
{
    const char *what = tp_rma_post(rma_kind(kind));
    tcp_op_t *op;

    if ((*st = tcp_post_check(tp, peer, req, what)) != RCOMM_OK)
        return NULL;
    if (!rkey || bad) {
        *st = base_err(RCOMM_ERR_INVALID_ARG, "rank %d: %s rank %d: %s", tp->base.rank,
                       what, peer, bad ? bad : "rkey is NULL");
        return NULL;
    }
    op = tcp_op(req);
    op->kind = (uint8_t)kind;
    op->h.peer = peer;
    op->tx.payload = NULL;
    tcp_hdr_init(&op->tx.hdr, type, 0);
    op->tx.hdr.u.rma.id = ++tp->next_id;
    op->tx.hdr.u.rma.key = rkey->key;
    op->tx.hdr.u.rma.raddr = raddr;
    return op;
}

static rcomm_status_t rma_post(tcp_tp_t *tp, tcp_op_t *op)
{
    tcp_req(op)->status = RCOMM_INPROGRESS;
    tcp_enqueue(tp, &tp->peers[op->h.peer], &op->tx);
    tp->hot = op->h.peer;
    return RCOMM_OK;
}

static const char *bad_buf(const void *buf, size_t len)
{
    return !buf && len ? "buf is NULL" : len > TCP_MAX_PAYLOAD ? "too long" : NULL;
}

rcomm_status_t tcp_put(tp_t *base, int peer, const void *buf, size_t len,
                       const tp_rkey_t *rkey, uint64_t raddr, tp_req_t *req)
{
    rcomm_status_t st;
    tcp_op_t *op = rma_op(tcp_tp(base), peer, req, rkey, TCP_OP_PUT, TCP_PUT, raddr,
                          bad_buf(buf, len), &st);

    if (!op)
        return st;
    op->tx.payload = buf;
    op->tx.hdr.len = len;
    return rma_post(tcp_tp(base), op);
}

rcomm_status_t tcp_put_notify(tp_t *base, int peer, const void *buf, size_t len,
                              const tp_rkey_t *rkey, uint64_t raddr, uint32_t imm,
                              tp_req_t *req)
{
    rcomm_status_t st;
    tcp_op_t *op = rma_op(tcp_tp(base), peer, req, rkey, TCP_OP_PUT, TCP_PUT, raddr,
                          imm >= TP_NOTIFY_LIMIT ? "imm is not below TP_NOTIFY_LIMIT"
                                                 : bad_buf(buf, len),
                          &st);

    if (!op)
        return st;
    op->tx.payload = buf;
    op->tx.hdr.len = len;
    op->tx.hdr.flags = TCP_F_NOTIFY;
    op->tx.hdr.u.rma.arg[0] = imm;
    return rma_post(tcp_tp(base), op);
}

rcomm_status_t tcp_get(tp_t *base, int peer, void *buf, size_t len, const tp_rkey_t *rkey,
                       uint64_t raddr, tp_req_t *req)
{
    rcomm_status_t st;
    tcp_op_t *op = rma_op(tcp_tp(base), peer, req, rkey, TCP_OP_GET, TCP_GET_REQ, raddr,
                          bad_buf(buf, len), &st);

    if (!op)
        return st;
    op->buf = buf;
    op->cap = len;
    op->tx.hdr.u.rma.arg[0] = len;
    tcp_rx_expect(&tcp_tp(base)->peers[peer], len, +1);
    return rma_post(tcp_tp(base), op);
}

rcomm_status_t tcp_fetch_add(tp_t *base, int peer, const tp_rkey_t *rkey, uint64_t raddr,
                             uint64_t add, tp_req_t *req)
{
    rcomm_status_t st;
    tcp_op_t *op = rma_op(tcp_tp(base), peer, req, rkey, TCP_OP_FADD, TCP_ATOMIC_FADD,
                          raddr, NULL, &st);

    if (!op)
        return st;
    op->tx.hdr.u.rma.arg[0] = add;
    return rma_post(tcp_tp(base), op);
}

rcomm_status_t tcp_compare_swap(tp_t *base, int peer, const tp_rkey_t *rkey,
                                uint64_t raddr, uint64_t compare, uint64_t swap,
                                tp_req_t *req)
{
    rcomm_status_t st;
    tcp_op_t *op = rma_op(tcp_tp(base), peer, req, rkey, TCP_OP_CSWAP, TCP_ATOMIC_CSWAP,
                          raddr, NULL, &st);

    if (!op)
        return st;
    op->tx.hdr.u.rma.arg[0] = compare;
    op->tx.hdr.u.rma.arg[1] = swap;
    return rma_post(tcp_tp(base), op);
}
