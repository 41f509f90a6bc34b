/* SPDX-License-Identifier: BSD-3-Clause */
/* Shared-memory transport: two-sided messages, eager through the ring and
 * rendezvous by cross-memory attach or streamed DATA (see shm.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>

#include "base/error.h"
#include "transports/shm/shm.h"

static tp_req_t *req_of(shm_op_t *op)
{
    return tp_req_head(&op->op);
}

static void finish_recv(shm_tp_t *tp, shm_op_t *op, uint64_t len, const tp_env_t *env,
                        rcomm_status_t status)
{
    tp_req_t *req = req_of(op);

    req->len = (size_t)len;
    req->env = *env;
    if (status == RCOMM_OK) {
        tp->base.stats.messages_received++;
        tp->base.stats.bytes_received += len;
    }
    shm_complete(tp, op, status);
}

static void init_op(shm_op_t *op, uint8_t kind, int peer, uint64_t tag, void *buf,
                    size_t len)
{
    memset(op, 0, sizeof(*op));
    op->kind = kind;
    op->op.peer = peer;
    op->op.tag = tag;
    op->buf = buf;
    op->len = len;
}

rcomm_status_t shm_isend(tp_t *base, int peer, uint64_t tag, const tp_env_t *env,
                         const void *buf, size_t len, tp_req_t *req)
{
    shm_tp_t *tp = shm_tp(base);
    rcomm_status_t st;
    shm_peer_t *p;
    shm_op_t *op;

    if ((st = tp_check_post(base, tp && tp->connected, peer, req, "send to")) != RCOMM_OK)
        return st;
    p = &tp->peers[peer];
    if ((st = tp_fail_check(&p->fail, "send to", peer)) != RCOMM_OK)
        return st;
    if (!buf && len)
        return base_err(RCOMM_ERR_INVALID_ARG, "rank %d: send to rank %d: buf is NULL",
                        base->rank, peer);
    op = shm_op(req);
    init_op(op, SHM_OP_SEND, peer, tag, (void *)buf, len);
    op->rec = len <= tp->eager ? SHM_SEND : SHM_RTS;
    op->id = ++tp->next_id;
    if (env)
        op->env = *env;
    req->status = RCOMM_INPROGRESS;
    shm_tx(tp, p, op);
    return RCOMM_OK;
}

bool shm_msg_write(shm_tp_t *tp, shm_peer_t *p, shm_op_t *op)
{
    shm_hdr_t *h;

    if (op->rec == SHM_DATA) { /* granted by a CTS: stream it */
        while (op->off < op->len) {
            size_t n =
                op->len - op->off < shm_chunk(tp) ? op->len - op->off : shm_chunk(tp);
            if (!(h = shm_ring_reserve(tp, p, n)))
                return false;
            h->type = SHM_DATA;
            h->id = op->id;
            h->off = op->off;
            h->size = op->len;
            memcpy(h + 1, (const char *)op->buf + op->off, n);
            shm_ring_commit(tp, p, h);
            op->off += n;
            tp->base.stats.bytes_sent += n;
        }
        tp->base.stats.messages_sent++;
        shm_complete(tp, op, RCOMM_OK);
        return true;
    }
    if (!(h = shm_ring_reserve(tp, p, op->rec == SHM_SEND ? op->len : 0)))
        return false;
    h->type = op->rec;
    h->tag = op->op.tag;
    h->env = op->env;
    h->size = op->len;
    h->id = op->id;
    if (op->rec == SHM_SEND) {
        if (op->len)
            memcpy(h + 1, op->buf, op->len);
        shm_ring_commit(tp, p, h);
        tp->base.stats.messages_sent++;
        tp->base.stats.bytes_sent += op->len;
        shm_complete(tp, op, RCOMM_OK);
        return true;
    }
    h->addr = (uintptr_t)op->buf;
    shm_ring_commit(tp, p, h);
    BASE_FIFO_PUSH(&p->waiting, &op->op);
    return true;
}

/* Copy a rendezvous message out of the sender's memory, or ask for it. */
static void start_rndv(shm_tp_t *tp, shm_peer_t *p, shm_op_t *op, uint64_t id,
                       uint64_t addr, uint64_t size, const tp_env_t *env)
{
    uint64_t got = 0;

    if (size > op->len) {
        finish_recv(tp, op, size, env,
                    tp_err_oversize(tp->base.rank, p->rank, size, op->op.tag, op->len));
        shm_answer(tp, p, SHM_FIN, id, RCOMM_OK, SHM_F_REFUSED, 0);
        return;
    }
    if (!p->cma) {
        op->id = id;
        op->a = size;
        op->off = 0;
        op->env = *env;
        BASE_FIFO_PUSH(&p->rndv_rx, &op->op);
        shm_answer(tp, p, SHM_CTS, id, RCOMM_OK, 0, 0);
        return;
    }
    while (got < size) {
        struct iovec l = {(char *)op->buf + got, size - got};
        struct iovec r = {(void *)(uintptr_t)(addr + got), size - got};
        ssize_t n = process_vm_readv((pid_t)p->pid, &l, 1, &r, 1, 0);
        if (n <= 0) {
            int e = n < 0 ? errno : EFAULT;
            finish_recv(tp, op, size, env, RCOMM_ERR_PEER_FAILED);
            shm_peer_fail(tp, p, e == ESRCH ? RCOMM_ERR_PEER_FAILED : RCOMM_ERR_PROTOCOL,
                          "rank %d: cannot read rank %d's %llu-byte message: %s",
                          tp->base.rank, p->rank, (unsigned long long)size, strerror(e));
            return;
        }
        got += (uint64_t)n;
    }
    finish_recv(tp, op, size, env, RCOMM_OK);
    shm_answer(tp, p, SHM_FIN, id, RCOMM_OK, 0, 0);
}

/* A held message meets its receive. */
static void take_held(shm_tp_t *tp, shm_peer_t *p, shm_op_t *op, shm_ux_t *ux)
{
    if (ux->type == SHM_RTS) {
        start_rndv(tp, p, op, ux->id, ux->addr, ux->ux.len, &ux->ux.env);
    } else if (ux->ux.len > op->len) {
        finish_recv(
            tp, op, ux->ux.len, &ux->ux.env,
            tp_err_oversize(tp->base.rank, p->rank, ux->ux.len, op->op.tag, op->len));
    } else {
        if (ux->ux.len)
            memcpy(op->buf, ux->data, ux->ux.len);
        tp->base.stats.bytes_copied += ux->ux.len;
        finish_recv(tp, op, ux->ux.len, &ux->ux.env, RCOMM_OK);
    }
    free(ux);
}

rcomm_status_t shm_irecv(tp_t *base, int peer, uint64_t tag, void *buf, size_t len,
                         tp_req_t *req)
{
    shm_tp_t *tp = shm_tp(base);
    tp_unexp_t *held, *prev;
    rcomm_status_t st;
    shm_peer_t *p;
    shm_op_t *op;

    if ((st = tp_check_post(base, tp && tp->connected, peer, req, "receive from")) !=
        RCOMM_OK)
        return st;
    if (!buf && len)
        return base_err(RCOMM_ERR_INVALID_ARG,
                        "rank %d: receive from rank %d: buf is NULL", base->rank, peer);
    p = &tp->peers[peer];
    held = tp_find_held(&p->m, tag, &prev);
    /* A message that has fully arrived is delivered even from a failed peer;
     * an announced one cannot be fetched any more. */
    if ((!held || ((shm_ux_t *)held)->type == SHM_RTS) &&
        (st = tp_fail_check(&p->fail, "receive from", peer)) != RCOMM_OK)
        return st;
    op = shm_op(req);
    init_op(op, SHM_OP_RECV, peer, tag, buf, len);
    req->status = RCOMM_INPROGRESS;
    req->len = 0;
    if (held) {
        tp_unhold(&p->m, prev, held);
        take_held(tp, p, op, (shm_ux_t *)held);
        return RCOMM_OK;
    }
    tp_post(&p->m, &op->op);
    return RCOMM_OK;
}

rcomm_status_t shm_cancel(tp_t *base, tp_req_t *req)
{
    shm_tp_t *tp = shm_tp(base);
    shm_op_t *op = req ? shm_op(req) : NULL;
    shm_peer_t *p;

    if (!tp || !op || op->op.peer < 0 || op->op.peer >= base->size ||
        op->kind != SHM_OP_RECV)
        return base_err(RCOMM_ERR_INVALID_ARG, "shm cancel: %s",
                        !tp || !op ? "tp or req is NULL" : "not a posted receive");
    p = &tp->peers[op->op.peer];
    if (tp_unpost(&p->m, &op->op))
        return RCOMM_OK;
    /* Landing, or landed and not yet reported: it will complete. */
    if (tp_queued(&p->rndv_rx, &op->op) || tp_queued(&tp->done, &op->op))
        return RCOMM_INPROGRESS;
    return base_err(RCOMM_ERR_INVALID_ARG,
                    "rank %d: cancel: the receive from rank %d is "
                    "not posted",
                    base->rank, op->op.peer);
}

static void hold(shm_tp_t *tp, shm_peer_t *p, const shm_hdr_t *h, const unsigned char *pl)
{
    size_t n = h->type == SHM_SEND ? h->len : 0;
    shm_ux_t *ux = malloc(sizeof(*ux) + n);

    if (!ux) {
        shm_peer_fail(tp, p, RCOMM_ERR_NO_MEMORY,
                      "rank %d: no memory to hold a %zu-byte message from rank %d",
                      tp->base.rank, n, p->rank);
        return;
    }
    tp_unexpected(&tp->base, p->rank, h->tag, &h->env, h->size);
    ux->ux.tag = h->tag;
    ux->ux.len = h->size;
    ux->ux.env = h->env;
    ux->type = h->type;
    ux->id = h->id;
    ux->addr = h->addr;
    if (n)
        memcpy(ux->data, pl, n);
    tp_hold(&p->m, &ux->ux);
}

void shm_rx_msg(shm_tp_t *tp, shm_peer_t *p, const shm_hdr_t *h, const unsigned char *pl)
{
    int q = p->rank;
    shm_op_t *op;

    switch (h->type) {
    case SHM_SEND:
    case SHM_RTS:
        if (h->type == SHM_SEND ? h->size != h->len : h->len != 0 || h->size == 0) {
            shm_peer_fail(tp, p, RCOMM_ERR_PROTOCOL,
                          "rank %d sent a malformed message: %u bytes of a %llu-byte %s",
                          q, h->len, (unsigned long long)h->size,
                          h->type == SHM_SEND ? "SEND" : "RTS");
            return;
        }
        if (!(op = (shm_op_t *)tp_match_posted(&p->m, h->tag))) {
            hold(tp, p, h, pl);
        } else if (h->type == SHM_RTS) {
            start_rndv(tp, p, op, h->id, h->addr, h->size, &h->env);
        } else if (h->len > op->len) {
            finish_recv(tp, op, h->len, &h->env,
                        tp_err_oversize(tp->base.rank, q, h->len, h->tag, op->len));
        } else {
            if (h->len)
                memcpy(op->buf, pl, h->len);
            finish_recv(tp, op, h->len, &h->env, RCOMM_OK);
        }
        return;
    case SHM_CTS:
        if (!(op = shm_find_id(&p->waiting, h->id, true)) || op->kind != SHM_OP_SEND)
            break;
        op->rec = SHM_DATA;
        op->off = 0;
        shm_tx(tp, p, op);
        return;
    case SHM_DATA:
        if (!(op = shm_find_id(&p->rndv_rx, h->id, false)) || h->off != op->off ||
            h->size != op->a || h->len == 0 || h->len > op->a - op->off)
            break;
        memcpy((char *)op->buf + op->off, pl, h->len); /* in place, like a read */
        if ((op->off += h->len) == op->a) {
            shm_find_id(&p->rndv_rx, h->id, true);
            finish_recv(tp, op, op->a, &op->env, RCOMM_OK);
        }
        return;
    case SHM_FIN:
        if (!(op = shm_find_id(&p->waiting, h->id, true)) || op->kind != SHM_OP_SEND)
            break;
        if (h->status == RCOMM_OK && !(h->imm & SHM_F_REFUSED)) {
            tp->base.stats.messages_sent++;
            tp->base.stats.bytes_sent += op->len;
        }
        shm_complete(tp, op,
                     h->status <= 0 && h->status > -100 ? (rcomm_status_t)h->status
                                                        : RCOMM_ERR_PROTOCOL);
        return;
    }
    shm_peer_fail(tp, p, RCOMM_ERR_PROTOCOL,
                  "rank %d sent a %s for rendezvous id %llu, which it does not match", q,
                  h->type == SHM_CTS   ? "CTS"
                  : h->type == SHM_FIN ? "FIN"
                                       : "DATA record",
                  (unsigned long long)h->id);
}
