/* SPDX-License-Identifier: BSD-3-Clause */
/* Verbs transport: completion queue polling, completion of requests, and
 * failure of a peer. */
#include <arpa/inet.h>
#include <poll.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/clock.h"
#include "base/error.h"
#include "transports/verbs/verbs.h"

void vx_complete(vx_tp_t *tp, vx_op_t *op, rcomm_status_t status)
{
    if (op->kind == VX_OP_CTL) {
        free(op);
        return;
    }
    if (op->state == VX_S_DONE)
        return;
    if (op->reg) {
        vx_reg_release(tp, op->reg);
        op->reg = NULL;
    }
    if (op->kind == VX_OP_RECV && (op->state == VX_S_CTS || op->state == VX_S_LANDING) &&
        op->rid < tp->nrdv && tp->rdv[op->rid] == op)
        tp->rdv[op->rid] = NULL;
    if (status == RCOMM_OK && op->kind == VX_OP_SEND) {
        tp->base.stats.bytes_sent += op->len;
        tp->base.stats.messages_sent++;
    }
    op->state = VX_S_DONE;
    tp_done(&tp->done, &op->h, status);
}

static unsigned fail_list(vx_tp_t *tp, tp_opq_t *q, rcomm_status_t status)
{
    unsigned n = 0;
    vx_op_t *op;

    while (q->head) {
        op = vx_op_of(q->head);
        BASE_FIFO_POP(q);
        n += op->kind != VX_OP_CTL && tp_op_counted(&op->h);
        vx_complete(tp, op, status);
    }
    return n;
}

void vx_peer_fail(vx_tp_t *tp, vx_peer_t *p, rcomm_status_t status, const char *fmt, ...)
{
    struct ibv_qp_attr a = {.qp_state = IBV_QPS_ERR};
    tp_cause_t cause;
    char failed[32];
    unsigned n = 0;
    va_list ap;

    va_start(ap, fmt);
    tp_cause_vfmt(&cause, fmt, ap);
    va_end(ap);
    if (!tp_fail_start(&p->fail, status, tp->base.rank, &cause))
        return;
    n += fail_list(tp, &p->m.posted, status);
    n += fail_list(tp, &p->rts, status);
    n += fail_list(tp, &p->outbox, status);
    /* Detach requests from WQEs still in the queue: their flush completions
     * must not touch memory the user may reuse. */
    for (uint32_t i = p->sq_tail; i != p->sq_head; i++) {
        vx_sqe_t *e = &p->sq[i % tp->sq_depth];
        if (e->op) {
            vx_complete(tp, e->op, status);
            e->op = NULL;
            n++;
        }
    }
    for (uint32_t i = 0; i < tp->nrdv; i++)
        if (tp->rdv[i] && tp->rdv[i]->h.peer == p->rank) {
            vx_complete(tp, tp->rdv[i], status);
            n++;
        }
    if (p->qp)
        ibv_modify_qp(p->qp, &a, IBV_QP_STATE); /* flush; nothing more goes out */
    snprintf(failed, sizeof(failed), "%u request(s)", n);
    tp_fail_log(&p->fail, tp->base.rank, &cause, n ? failed : NULL, p->bye);
}

rcomm_status_t vx_post_check(vx_tp_t *tp, int peer, const void *req, const char *what)
{
    rcomm_status_t st =
        tp_check_post(tp ? &tp->base : NULL, tp && tp->connected, peer, req, what);

    return st != RCOMM_OK ? st : tp_fail_check(&tp->peers[peer].fail, what, peer);
}

/* What a completion error means, and what to tell the user. */
static rcomm_status_t wc_error(enum ibv_wc_status s, const char **hint)
{
    switch (s) {
    case IBV_WC_RETRY_EXC_ERR:
        *hint = "peer dead or network down";
        return RCOMM_ERR_PEER_FAILED;
    case IBV_WC_RNR_RETRY_EXC_ERR:
        *hint = "the peer stopped posting receives: dead or stuck";
        return RCOMM_ERR_PEER_FAILED;
    case IBV_WC_REM_ACCESS_ERR:
        *hint = "wrong rights or key for the target region; the connection is unusable";
        return RCOMM_ERR_ACCESS;
    case IBV_WC_LOC_PROT_ERR:
    case IBV_WC_MW_BIND_ERR:
        *hint = "a local buffer is not registered for this access";
        return RCOMM_ERR_ACCESS;
    case IBV_WC_REM_INV_REQ_ERR:
        *hint = "the peer rejected the request (length, alignment or opcode)";
        return RCOMM_ERR_PROTOCOL;
    case IBV_WC_REM_OP_ERR:
        *hint = "the peer's queue pair failed";
        return RCOMM_ERR_PEER_FAILED;
    case IBV_WC_WR_FLUSH_ERR:
        *hint = "the queue pair failed earlier";
        return RCOMM_ERR_PEER_FAILED;
    default: *hint = "unexpected completion error"; return RCOMM_ERR_PEER_FAILED;
    }
}

/* The wr_id, not wc->opcode: a failed completion's opcode is undefined. */
static const char *op_name(const vx_op_t *op, uint64_t wr_id)
{
    if (!op) /* an unsignalled send, credits or the keepalive (vx_keepalive) */
        return wr_id & VX_WR_RECV ? "receive" : "send or keepalive";
    switch (op->kind) {
    case VX_OP_SEND:
        return op->len > 0 && op->state == VX_S_WIRE ? "send (RDMA write)" : "send";
    case VX_OP_PUT: return "put (RDMA write)";
    case VX_OP_GET: return "get (RDMA read)";
    case VX_OP_FADD: return "fetch-add";
    case VX_OP_CSWAP: return "compare-swap";
    default: return "receive";
    }
}

static void wc_failed(vx_tp_t *tp, vx_peer_t *p, const struct ibv_wc *wc, vx_op_t *op)
{
    const char *hint;
    rcomm_status_t st = wc_error(wc->status, &hint);

    char msg[VX_ERRMSG - 40];

    if (p->fail.status)
        return;
    /* A rendezvous write targets memory the receiver granted for it: its
     * key failing means that memory went away, and a rank that dies loses
     * its regions before its queue pairs (soft-RoCE NAKs the rest). */
    if (wc->status == IBV_WC_REM_ACCESS_ERR && op && op->kind == VX_OP_SEND) {
        st = RCOMM_ERR_PEER_FAILED;
        hint = "the receive's memory went away mid-transfer: the peer exited, or freed "
               "the buffer of a pending receive";
    }
    snprintf(msg, sizeof(msg), "rank %d: %s to rank %d failed on QP 0x%x: %s (%s)",
             tp->base.rank, op_name(op, wc->wr_id), p->rank, p->qp->qp_num,
             ibv_wc_status_str(wc->status), hint);
    if (op) /* this request fails with exactly this status and message */
        vx_complete(tp, op, base_err(st, "%s", msg));
    vx_peer_fail(tp, p, st, "%s", msg);
}

/* Send-queue completion: retire every entry up to and including this one. */
static void retire(vx_tp_t *tp, vx_peer_t *p, const struct ibv_wc *wc)
{
    uint32_t idx = (uint32_t)wc->wr_id;

    if (wc->status != IBV_WC_SUCCESS) {
        vx_sqe_t *e = &p->sq[idx];
        vx_op_t *op;
        /* Only RDMA meets a remote access error, and a long one's chunks
         * carry no op: its last chunk, the next entry with one, does. */
        if (!e->op && wc->status == IBV_WC_REM_ACCESS_ERR) {
            uint32_t at = p->sq_tail +
                          (idx + tp->sq_depth - p->sq_tail % tp->sq_depth) % tp->sq_depth;
            for (; at != p->sq_head && !p->sq[at % tp->sq_depth].op; at++)
                ;
            if (at != p->sq_head)
                e = &p->sq[at % tp->sq_depth];
        }
        op = e->op;
        e->op = NULL;
        wc_failed(tp, p, wc, op);
    }
    while (p->sq_tail != p->sq_head) {
        vx_sqe_t *e = &p->sq[p->sq_tail % tp->sq_depth];
        bool last = p->sq_tail % tp->sq_depth == idx;
        vx_op_t *op = e->op;

        p->sq_tail++;
        e->op = NULL;
        if (op) {
            tp_req_t *req = vx_req(op);
            if (op->kind == VX_OP_GET || op->kind == VX_OP_FADD ||
                op->kind == VX_OP_CSWAP)
                p->reads_out--;
            if (op->kind == VX_OP_GET) {
                VX_WRITTEN(op->buf, op->len);
                req->len = op->len;
            } else if (op->kind == VX_OP_FADD || op->kind == VX_OP_CSWAP) {
                VX_WRITTEN(vx_tx_slot(tp, e->slot), 8);
                memcpy(&req->result, vx_tx_slot(tp, e->slot), 8);
            }
            vx_complete(tp, op, RCOMM_OK);
        }
        if (e->slot >= 0)
            vx_slot_put(tp, e->slot);
        e->slot = -1;
        if (last)
            break;
    }
}

static void on_wc(vx_tp_t *tp, const struct ibv_wc *wc)
{
    int peer = (int)((wc->wr_id >> 32) & 0x7fffffff);
    vx_peer_t *p = &tp->peers[peer];
    uint32_t slot = (uint32_t)wc->wr_id;
    rcomm_status_t st;

    if (peer < tp->base.size)
        tp->base.moved[peer]++;
    if (!(wc->wr_id & VX_WR_RECV)) {
        retire(tp, p, wc);
        return;
    }
    if (wc->status != IBV_WC_SUCCESS) {
        wc_failed(tp, p, wc, NULL);
        return;
    }
    if (p->fail.status)
        return;
    if (wc->opcode == IBV_WC_RECV_RDMA_WITH_IMM &&
        (ntohl(wc->imm_data) & VX_IMM_NOTIFY)) { /* a put_notify landed */
        if (tp->base.on_notify)
            tp->base.on_notify(tp->base.notify_arg, peer,
                               ntohl(wc->imm_data) & ~VX_IMM_NOTIFY);
    } else if (wc->opcode == IBV_WC_RECV_RDMA_WITH_IMM) {
        vx_rx_landed(tp, p, ntohl(wc->imm_data), wc->byte_len);
    } else {
        VX_WRITTEN(vx_rx_slot(tp, peer, slot), wc->byte_len);
        vx_rx_message(tp, p, vx_rx_slot(tp, peer, slot), wc->byte_len);
    }
    if (!p->fail.status && (st = vx_post_recv(tp, p, slot)) != RCOMM_OK)
        vx_peer_fail(tp, p, st, "rank %d: cannot repost a receive for rank %d",
                     tp->base.rank, peer);
}

int vx_poll(vx_tp_t *tp)
{
    struct ibv_wc wc[VX_CQ_BATCH];
    int n = ibv_poll_cq(tp->cq, VX_CQ_BATCH, wc);

    for (int i = 0; i < n; i++)
        on_wc(tp, &wc[i]);
    if (n > 0)
        tp->base.traffic += (uint64_t)n;
    return n < 0 ? 0 : n;
}

/* Take the completion channel's event, if one came (the channel is
 * nonblocking): the CQ must be armed again. */
static void take_cq_event(vx_tp_t *tp)
{
    struct ibv_cq *cq;
    void *ctx;

    if (ibv_get_cq_event(tp->chan, &cq, &ctx) != 0)
        return;
    tp->cq_armed = 0;
    if (++tp->cq_events >= 64) {
        ibv_ack_cq_events(tp->cq, tp->cq_events);
        tp->cq_events = 0;
    }
}

/* Arm the CQ for the next completion. Returns false when one arrived before
 * the arming (or arming failed): then there is no sleeping. */
static bool arm(vx_tp_t *tp)
{
    if (!tp->cq_armed) {
        if (ibv_req_notify_cq(tp->cq, 0) != 0)
            return false;
        tp->cq_armed = 1;
        if (vx_poll(tp) > 0) /* arrived before arming */
            return false;
    }
    return true;
}

/* Sleep on the completion channel until an event or timeout_ms. */
static void wait_event(vx_tp_t *tp, int timeout_ms)
{
    struct pollfd pfd[2] = {{.fd = tp->chan->fd, .events = POLLIN},
                            {.fd = tp->cm_chan ? tp->cm_chan->fd : -1, .events = POLLIN}};

    if (!arm(tp) || poll(pfd, 2, timeout_ms) <= 0)
        return;
    if (pfd[1].revents)
        vx_cm_poll(tp);
    if (pfd[0].revents)
        take_cq_event(tp);
}

int vx_wait_fd(tp_t *base)
{
    vx_tp_t *tp = vx_tp(base);

    if (!tp->connected || tp->wait_fd < 0)
        return -1;
    /* A caller that woke and only polled (progress(0)) left the event. */
    take_cq_event(tp);
    vx_cm_poll(tp);
    /* Credits come by RDMA WRITE, which raises no event: while an outbox
     * waits for them there is no sleeping (as in progress()). */
    if (tp->nbusy || tp->done.head || !arm(tp))
        return -1;
    return tp->wait_fd;
}

/* With rdma_cm, look for connection events (a peer gone) every millisecond:
 * a nonblocking read of the event channel. And the keepalive's tick. */
static void cm_check(vx_tp_t *tp)
{
    uint64_t now = base_now_ns();

    if (tp->cm_chan && now >= tp->cm_due_ns) {
        tp->cm_due_ns = now + 1000000;
        vx_cm_poll(tp);
    }
    if (tp->connected && now >= tp->ka_due_ns) {
        tp->ka_due_ns = now + VX_KEEPALIVE_NS;
        vx_keepalive(tp);
    }
}

rcomm_status_t vx_progress(tp_t *base, int timeout_ms)
{
    vx_tp_t *tp = vx_tp(base);
    uint64_t until;
    int n, idle = 0;

    if (!tp)
        return base_err(RCOMM_ERR_INVALID_ARG, "verbs progress: tp is NULL");
    vx_flush(tp);
    n = vx_poll(tp);
    cm_check(tp);
    if (!n && !tp->done.head && timeout_ms != 0) {
        /* Credits arrive by RDMA WRITE, which raises no completion: while an
         * outbox waits for them, poll the credit words too, never sleep. */
        if (tp->events && !tp->nbusy) {
            wait_event(tp, timeout_ms);
            vx_poll(tp);
        } else {
            until = timeout_ms < 0 ? UINT64_MAX
                                   : base_now_ns() + (uint64_t)timeout_ms * 1000000;
            while (!vx_poll(tp) && !tp->done.head && base_now_ns() < until) {
                if (tp->nbusy)
                    vx_flush(tp);
                cm_check(tp);
                if (++idle > 100)
                    sched_yield(); /* let ranks sharing the core run */
            }
        }
    }
    vx_flush(tp);
    tp_report_done(&tp->base, &tp->done);
    return RCOMM_OK;
}
