/* SPDX-License-Identifier: BSD-3-Clause */
/* Verbs transport: the send side. Each peer's outbox holds operations in
 * posting order until they get what they need (a credit, a send slot, room
 * in the send queue); vx_flush() posts them and tells peers about reposted
 * receives. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "transports/verbs/verbs.h"

int32_t vx_slot_get(vx_tp_t *tp)
{
    return tp->ntx_free ? tp->tx_free[--tp->ntx_free] : -1;
}

void vx_slot_put(vx_tp_t *tp, int32_t slot)
{
    tp->tx_free[tp->ntx_free++] = slot;
}

static void mark_busy(vx_tp_t *tp, vx_peer_t *p)
{
    if (!p->listed) {
        p->listed = true;
        tp->busy[tp->nbusy++] = p->rank;
    }
}

void vx_outbox_push(vx_tp_t *tp, vx_peer_t *p, vx_op_t *op)
{
    BASE_FIFO_PUSH(&p->outbox, &op->h);
    mark_busy(tp, p);
}

rcomm_status_t vx_post_recv(vx_tp_t *tp, vx_peer_t *p, uint32_t slot)
{
    struct ibv_sge sge = {.addr = (uintptr_t)vx_rx_slot(tp, p->rank, slot),
                          .length = (uint32_t)tp->slot_len,
                          .lkey = tp->rx_mr->lkey};
    struct ibv_recv_wr wr = {.wr_id = vx_wr_id(true, p->rank, slot),
                             .sg_list = &sge,
                             .num_sge = 1},
                       *bad;
    int rc;

    if ((rc = ibv_post_recv(p->qp, &wr, &bad)) != 0) {
        errno = rc;
        return base_err_sys("rank %d: verbs: ibv_post_recv on QP 0x%x (peer %d)",
                            tp->base.rank, p->qp->qp_num, p->rank);
    }
    p->rx_posted++;
    if (p->rx_posted - p->rx_told >= (tp->rx_depth + 3) / 4)
        mark_busy(tp, p);
    return RCOMM_OK;
}

static uint32_t sq_room(vx_tp_t *tp, const vx_peer_t *p)
{
    return tp->sq_depth - (p->sq_head - p->sq_tail);
}

static uint64_t credits(vx_tp_t *tp, const vx_peer_t *p)
{
    return __atomic_load_n(&tp->credit[p->rank], __ATOMIC_ACQUIRE) - p->tx_used;
}

/* The last credit is kept for BYE, so that a closing rank can always tell
 * a peer why, even one whose receives are all full of unmatched data. */
static bool may_consume(vx_tp_t *tp, const vx_peer_t *p, const vx_op_t *op)
{
    bool bye = op->kind == VX_OP_CTL && ((vx_ctl_t *)op)->msg.h.type == VX_BYE;

    return credits(tp, p) > (bye ? 0u : 1u);
}

/* Post one WQE (wr->next must be NULL) owning ring entry {op, slot}; the
 * caller has checked sq_room(): the entry must be free. */
static int post(vx_tp_t *tp, vx_peer_t *p, struct ibv_send_wr *wr, vx_op_t *op,
                int32_t slot)
{
    uint32_t idx = p->sq_head % tp->sq_depth;
    struct ibv_send_wr *bad;
    int rc;

    if (op || (wr->send_flags & IBV_SEND_SIGNALED) ||
        ++p->unsignaled >= VX_SIGNAL_EVERY || sq_room(tp, p) <= 1) {
        wr->send_flags |= IBV_SEND_SIGNALED;
        p->unsignaled = 0;
    }
    wr->wr_id = vx_wr_id(false, p->rank, idx);
    if ((rc = ibv_post_send(p->qp, wr, &bad)) != 0) {
        vx_peer_fail(tp, p, RCOMM_ERR_SYSTEM,
                     "rank %d: verbs: ibv_post_send on QP 0x%x to peer %d: %s",
                     tp->base.rank, p->qp->qp_num, p->rank, strerror(rc));
        return -1;
    }
    p->sq[idx] = (vx_sqe_t){.op = op, .slot = slot};
    p->sq_head++;
    return 0;
}

/* A SEND of hdr (+ payload) consuming a credit: inline when it fits, from
 * the user's registered buffer, or copied into a send slot. Returns -1
 * (peer failed), 0 (posted, payload consumed), 1 (no send slot or no room
 * in the send queue) or 2 (posted from the user's buffer: op completes
 * with the WQE). */
static int post_send(vx_tp_t *tp, vx_peer_t *p, const void *h, size_t hlen,
                     const void *payload, size_t len, vx_op_t *op, bool signal)
{
    struct ibv_sge sge[2];
    struct ibv_send_wr wr = {.opcode = IBV_WR_SEND, .sg_list = sge};
    vx_mr_t *mr = NULL;
    int32_t slot = -1;

    if (sq_room(tp, p) < 1)
        return 1;
    if (hlen + len <= tp->max_inline) {
        sge[0] = (struct ibv_sge){.addr = (uintptr_t)h, .length = (uint32_t)hlen};
        sge[1] = (struct ibv_sge){.addr = (uintptr_t)payload, .length = (uint32_t)len};
        wr.num_sge = len ? 2 : 1;
        wr.send_flags = IBV_SEND_INLINE;
        op = NULL; /* the data is in the WQE */
    } else {
        if ((slot = vx_slot_get(tp)) < 0)
            return 1;
        memcpy(vx_tx_slot(tp, slot), h, hlen);
        sge[0] = (struct ibv_sge){.addr = (uintptr_t)vx_tx_slot(tp, slot),
                                  .length = (uint32_t)hlen,
                                  .lkey = tp->tx_mr->lkey};
        wr.num_sge = 1;
        if (len && op && (mr = vx_mr_find(tp, payload, len, false))) {
            sge[1] = (struct ibv_sge){.addr = (uintptr_t)payload,
                                      .length = (uint32_t)len,
                                      .lkey = mr->mr->lkey};
            wr.num_sge = 2;
        } else {
            if (len)
                memcpy(vx_tx_slot(tp, slot) + hlen, payload, len);
            sge[0].length += (uint32_t)len;
            tp->base.stats.bytes_copied += len;
            op = NULL;
        }
    }
    if (signal)
        wr.send_flags |= IBV_SEND_SIGNALED;
    if (post(tp, p, &wr, op, slot) != 0) {
        if (slot >= 0)
            vx_slot_put(tp, slot);
        return -1;
    }
    p->tx_used++;
    return op ? 2 : 0;
}

/* RDMA WRITE or READ of len bytes in chunks of max_msg; the last chunk
 * carries the immediate (imm) and completes op. inl: small WRITE whose data
 * goes in the WQE (no registration). */
static int post_rdma(vx_tp_t *tp, vx_peer_t *p, enum ibv_wr_opcode opc, vx_op_t *op,
                     bool inl, bool imm)
{
    size_t len = op->len, nchunk = len ? (len + tp->max_msg - 1) / tp->max_msg : 1;
    uint32_t lkey = op->reg ? op->reg->lkey : 0;

    if (sq_room(tp, p) < nchunk)
        return 1;
    for (size_t i = 0; i < nchunk; i++) {
        size_t off = i * tp->max_msg,
               n = len - off < tp->max_msg ? len - off : tp->max_msg;
        bool last = i + 1 == nchunk;
        struct ibv_sge sge = {
            .addr = (uintptr_t)op->buf + off, .length = (uint32_t)n, .lkey = lkey};
        struct ibv_send_wr wr = {.opcode = opc, .sg_list = &sge, .num_sge = n ? 1 : 0};
        wr.wr.rdma.remote_addr = op->u.rma.raddr + off;
        wr.wr.rdma.rkey = op->u.rma.rkey;
        if (last && imm) {
            wr.opcode = IBV_WR_RDMA_WRITE_WITH_IMM;
            wr.imm_data = htonl(op->rid);
        }
        if (inl)
            wr.send_flags = IBV_SEND_INLINE;
        if (post(tp, p, &wr, last ? op : NULL, -1) != 0)
            return -1;
    }
    if (imm)
        p->tx_used++;
    if (opc == IBV_WR_RDMA_READ)
        p->reads_out++;
    return 0;
}

static int post_atomic(vx_tp_t *tp, vx_peer_t *p, vx_op_t *op)
{
    int32_t slot;
    struct ibv_sge sge;
    struct ibv_send_wr wr = {.sg_list = &sge, .num_sge = 1};

    if (sq_room(tp, p) < 1 || (slot = vx_slot_get(tp)) < 0)
        return 1;
    sge = (struct ibv_sge){
        .addr = (uintptr_t)vx_tx_slot(tp, slot), .length = 8, .lkey = tp->tx_mr->lkey};
    wr.opcode =
        op->kind == VX_OP_FADD ? IBV_WR_ATOMIC_FETCH_AND_ADD : IBV_WR_ATOMIC_CMP_AND_SWP;
    wr.wr.atomic.remote_addr = op->u.rma.raddr;
    wr.wr.atomic.rkey = op->u.rma.rkey;
    wr.wr.atomic.compare_add = op->opnd[0];
    wr.wr.atomic.swap = op->opnd[1];
    if (post(tp, p, &wr, op, slot) != 0) {
        vx_slot_put(tp, slot);
        return -1;
    }
    p->reads_out++;
    return 0;
}

/* Registration for the payload of op, acquired on first need; on failure
 * op completes with the error. */
static int need_reg(vx_tp_t *tp, vx_op_t *op, bool writable)
{
    rcomm_status_t st;

    if (op->reg || !op->len)
        return 0;
    if ((st = vx_reg_acquire(tp, op->buf, op->len, writable, &op->reg)) != RCOMM_OK) {
        vx_complete(tp, op, st);
        return -1;
    }
    return 0;
}

/* Try to post op, just taken from the head of p's outbox. Returns 0 (posted,
 * or completed with an error), 1 (must wait: put it back) or -1 (the post
 * failed and p has failed; op is not on any list). */
static int post_op(vx_tp_t *tp, vx_peer_t *p, vx_op_t *op)
{
    vx_wire_t w; /* what goes: all VX_HDR_LEN bytes, the padding zero */
    vx_hdr_t *h = &w.h;
    bool credit = may_consume(tp, p, op);
    int rc;

    memset(&w, 0, sizeof(w));
    switch (op->kind) {
    case VX_OP_SEND:
        if (!credit)
            return 1;
        if (op->state == VX_S_WRITE) {
            if (need_reg(tp, op, false))
                return 0;
            if ((rc = post_rdma(tp, p, IBV_WR_RDMA_WRITE, op, false, true)) == 0)
                op->state = VX_S_WIRE;
            return rc;
        }
        h->tag = op->h.tag;
        h->len = op->len;
        h->u.env = op->u.env;
        if (op->len <= tp->eager) {
            h->type = VX_EAGER;
            rc = post_send(tp, p, w.bytes, VX_HDR_LEN, op->buf, op->len, op, false);
            if (rc == 0)
                vx_complete(tp, op, RCOMM_OK); /* inline or copied: done */
            else if (rc == 2)
                op->state = VX_S_WIRE;
            return rc == 2 ? 0 : rc;
        }
        h->type = VX_RTS;
        h->id = (uintptr_t)op;
        if ((rc = post_send(tp, p, w.bytes, VX_HDR_LEN, NULL, 0, NULL, false)) != 0)
            return rc;
        op->state = VX_S_RTS;
        BASE_FIFO_PUSH(&p->rts, &op->h);
        return 0;
    case VX_OP_RECV: /* its CTS */
        if (!credit)
            return 1;
        h->type = VX_CTS;
        h->id = op->opnd[0];
        h->len = op->len;
        h->u.cts.addr = (uintptr_t)op->buf;
        h->u.cts.rkey = op->reg ? op->reg->rkey : 0;
        h->u.cts.rid = op->rid;
        if ((rc = post_send(tp, p, w.bytes, VX_HDR_LEN, NULL, 0, NULL, false)) == 0)
            op->state = VX_S_LANDING;
        return rc;
    case VX_OP_CTL: {
        vx_ctl_t *c = (vx_ctl_t *)op;
        if (!credit)
            return 1;
        bool bye = c->msg.h.type == VX_BYE;
        if ((rc = post_send(tp, p, c->msg.bytes, c->len, NULL, 0, NULL, c->signal)) ==
                0 &&
            bye)
            p->bye_posted = true;
        if (rc != 1)
            free(c);
        return rc < 0 ? 0 : rc;
    }
    case VX_OP_PUT:
    case VX_OP_GET: {
        bool put = op->kind == VX_OP_PUT, notify = put && (op->rid & VX_IMM_NOTIFY);
        bool inl = put && op->len <= tp->max_inline;
        if (notify && !credit) /* it consumes a receive there */
            return 1;
        /* Our own fence (transport.h says why not IBV_SEND_FENCE). */
        if (!put && vx_req(op)->fence && p->reads_out)
            return 1;
        if (!inl && need_reg(tp, op, !put))
            return 0;
        if ((rc = post_rdma(tp, p, put ? IBV_WR_RDMA_WRITE : IBV_WR_RDMA_READ, op, inl,
                            notify)) == 0)
            op->state = VX_S_WIRE;
        return rc;
    }
    default:
        if ((rc = post_atomic(tp, p, op)) == 0)
            op->state = VX_S_WIRE;
        return rc;
    }
}

/* Write our count of posted receives into p's credit word for us. */
static void tell_credits(vx_tp_t *tp, vx_peer_t *p)
{
    struct ibv_sge sge = {.addr = (uintptr_t)&p->told_src, .length = 8};
    struct ibv_send_wr wr = {.opcode = IBV_WR_RDMA_WRITE, .sg_list = &sge, .num_sge = 1};
    int32_t slot = -1;

    if (p->rx_posted == p->rx_told || sq_room(tp, p) < 2)
        return;
    p->told_src = p->rx_posted;
    if (tp->max_inline >= 8) {
        wr.send_flags = IBV_SEND_INLINE;
    } else {
        if ((slot = vx_slot_get(tp)) < 0)
            return;
        memcpy(vx_tx_slot(tp, slot), &p->told_src, 8);
        sge.addr = (uintptr_t)vx_tx_slot(tp, slot);
        sge.lkey = tp->tx_mr->lkey;
    }
    wr.wr.rdma.remote_addr = p->remote.ctl_addr + 8 * (uint64_t)tp->base.rank;
    wr.wr.rdma.rkey = p->remote.ctl_rkey;
    if (post(tp, p, &wr, NULL, slot) == 0)
        p->rx_told = p->rx_posted;
    else if (slot >= 0)
        vx_slot_put(tp, slot);
}

void vx_keepalive(vx_tp_t *tp)
{
    for (int r = 0; r < tp->base.size; r++) {
        vx_peer_t *p = &tp->peers[r];
        /* It touches no memory (a zero-length RDMA WRITE is not checked
         * against the key, IBTA C9-88), but the address is the peer's
         * credit word for us anyway. */
        struct ibv_send_wr wr = {
            .opcode = IBV_WR_RDMA_WRITE,
            .wr.rdma = {.remote_addr = p->remote.ctl_addr + 8 * (uint64_t)tp->base.rank,
                        .rkey = p->remote.ctl_rkey}};
        uint64_t moved = tp->base.moved[r];

        if (r == tp->base.rank || !p->qp || !p->hello || p->fail.status || p->bye ||
            p->bye_posted)
            continue;
        if (moved != p->ka_moved)
            p->ka_moved = moved; /* it answered lately */
        else if (sq_room(tp, p) >= 2)
            post(tp, p, &wr, NULL, -1);
    }
}

void vx_flush(vx_tp_t *tp)
{
    for (int i = 0; i < tp->nbusy;) {
        vx_peer_t *p = &tp->peers[tp->busy[i]];
        vx_op_t *op;

        while (!p->fail.status && !p->bye_posted && p->outbox.head) {
            int rc;
            op = vx_op_of(p->outbox.head);
            BASE_FIFO_POP(&p->outbox);
            if ((rc = post_op(tp, p, op)) == 1) {
                op->h.next = p->outbox.head; /* back at the head */
                p->outbox.head = &op->h;
                if (!p->outbox.tail)
                    p->outbox.tail = &op->h;
                break;
            }
            if (rc < 0)
                vx_complete(tp, op, p->fail.status); /* frees a vx_ctl_t */
        }
        if (!p->fail.status && !p->bye_posted &&
            p->rx_posted - p->rx_told >= (tp->rx_depth + 3) / 4)
            tell_credits(tp, p);
        if (p->fail.status || p->bye_posted ||
            (!p->outbox.head && p->rx_posted - p->rx_told < (tp->rx_depth + 3) / 4)) {
            p->listed = false;
            tp->busy[i] = tp->busy[--tp->nbusy];
        } else {
            i++;
        }
    }
}

rcomm_status_t vx_ctl_send(vx_tp_t *tp, vx_peer_t *p, const vx_hdr_t *h, const char *text,
                           size_t text_len, bool signal)
{
    vx_ctl_t *c = calloc(1, sizeof(*c));

    if (!c)
        return base_err(RCOMM_ERR_NO_MEMORY, "rank %d: verbs: out of memory",
                        tp->base.rank);
    if (text_len > VX_BYE_TEXT_MAX)
        text_len = VX_BYE_TEXT_MAX;
    c->op.kind = VX_OP_CTL;
    c->op.h.peer = p->rank;
    c->msg.h = *h;
    c->msg.h.text_len = (uint16_t)text_len;
    if (text_len)
        memcpy(c->msg.bytes + VX_HDR_LEN, text, text_len);
    c->len = VX_HDR_LEN + text_len;
    c->signal = signal;
    vx_outbox_push(tp, p, &c->op);
    return RCOMM_OK;
}
