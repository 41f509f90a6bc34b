/* SPDX-License-Identifier: BSD-3-Clause */
/* Verbs transport: one-sided operations, straight onto the HCA. The rights
 * and bounds a region grants travel in its rkey (verbs_mem.c), so a request
 * outside them is refused here, before anything reaches the wire: on RC a
 * remote access error would break the whole connection. */
#include <string.h>

#include "base/error.h"
#include "transports/util/rma.h"
#include "transports/verbs/verbs.h"

_Static_assert(VX_OP_GET - VX_OP_PUT == TP_GET && VX_OP_FADD - VX_OP_PUT == TP_FADD &&
                   VX_OP_CSWAP - VX_OP_PUT == TP_CSWAP,
               "vx_kind_t and tp_rma_t");

/* Checks and fills what every one-sided post has in common. Returns the op,
 * or NULL with *st set (an error of the call), or the op already completed
 * with ACCESS (a request the region does not allow: *st = OK). */
static vx_op_t *rma_op(vx_tp_t *tp, int peer, tp_req_t *req, const tp_rkey_t *rkey,
                       vx_kind_t kind, void *buf, size_t len, uint64_t raddr,
                       rcomm_status_t *st)
{
    tp_rma_t rk = (tp_rma_t)(kind - VX_OP_PUT);
    tp_acc_t acc;
    vx_op_t *op;

    if ((*st = vx_post_check(tp, peer, req, tp_rma_post(rk))) != RCOMM_OK)
        return NULL;
    if (!rkey || (!buf && len && kind <= VX_OP_GET)) {
        *st = base_err(RCOMM_ERR_INVALID_ARG, "rank %d: %s rank %d: %s is NULL",
                       tp->base.rank, tp_rma_post(rk), peer, !rkey ? "rkey" : "buf");
        return NULL;
    }
    op = vx_op(req);
    memset(op, 0, sizeof(*op));
    op->kind = (uint8_t)kind;
    op->h.peer = peer;
    op->buf = buf;
    op->len = len;
    op->h.status = RCOMM_INPROGRESS;
    op->u.rma.raddr = raddr;
    op->u.rma.rkey = (uint32_t)rkey->key;
    req->status = RCOMM_INPROGRESS;
    /* The rights travel in the key's upper half (verbs_mem.c). */
    acc =
        tp_rma_access(rk, rkey->addr, rkey->len, (unsigned)(rkey->key >> 32), raddr, len);
    if (acc != TP_ACC_OK) {
        vx_complete(tp, op,
                    tp_rma_denied(tp->base.rank, peer, rk, len, raddr, rkey->key, acc,
                                  rkey->addr, rkey->len));
        *st = RCOMM_OK;
        return NULL;
    }
    return op;
}

static rcomm_status_t rma_post(vx_tp_t *tp, vx_op_t *op)
{
    if (op->len == 0 && !(op->rid & VX_IMM_NOTIFY) &&
        (op->kind == VX_OP_PUT || op->kind == VX_OP_GET)) {
        vx_complete(tp, op, RCOMM_OK); /* nothing to move */
        return RCOMM_OK;
    }
    vx_outbox_push(tp, &tp->peers[op->h.peer], op);
    vx_flush(tp);
    return RCOMM_OK;
}

rcomm_status_t vx_put(tp_t *base, int peer, const void *buf, size_t len,
                      const tp_rkey_t *rkey, uint64_t raddr, tp_req_t *req)
{
    rcomm_status_t st;
    vx_op_t *op =
        rma_op(vx_tp(base), peer, req, rkey, VX_OP_PUT, (void *)buf, len, raddr, &st);

    return op ? rma_post(vx_tp(base), op) : st;
}

rcomm_status_t vx_put_notify(tp_t *base, int peer, const void *buf, size_t len,
                             const tp_rkey_t *rkey, uint64_t raddr, uint32_t imm,
                             tp_req_t *req)
{
    rcomm_status_t st;
    vx_op_t *op;

    if (imm >= TP_NOTIFY_LIMIT)
        return base_err(RCOMM_ERR_INVALID_ARG,
                        "rank %d: put to rank %d: imm %u is not below TP_NOTIFY_LIMIT",
                        base->rank, peer, imm);
    op = rma_op(vx_tp(base), peer, req, rkey, VX_OP_PUT, (void *)buf, len, raddr, &st);
    if (!op)
        return st;
    op->rid = imm | VX_IMM_NOTIFY; /* the immediate post_rdma sends */
    return rma_post(vx_tp(base), op);
}

rcomm_status_t vx_get(tp_t *base, int peer, void *buf, size_t len, const tp_rkey_t *rkey,
                      uint64_t raddr, tp_req_t *req)
{
    rcomm_status_t st;
    vx_op_t *op = rma_op(vx_tp(base), peer, req, rkey, VX_OP_GET, buf, len, raddr, &st);

    return op ? rma_post(vx_tp(base), op) : st;
}

rcomm_status_t vx_fetch_add(tp_t *base, int peer, const tp_rkey_t *rkey, uint64_t raddr,
                            uint64_t add, tp_req_t *req)
{
    rcomm_status_t st;
    vx_op_t *op = rma_op(vx_tp(base), peer, req, rkey, VX_OP_FADD, NULL, 8, raddr, &st);

    if (!op)
        return st;
    op->len = 0;
    op->opnd[0] = add;
    return rma_post(vx_tp(base), op);
}

rcomm_status_t vx_compare_swap(tp_t *base, int peer, const tp_rkey_t *rkey,
                               uint64_t raddr, uint64_t compare, uint64_t swap,
                               tp_req_t *req)
{
    rcomm_status_t st;
    vx_op_t *op = rma_op(vx_tp(base), peer, req, rkey, VX_OP_CSWAP, NULL, 8, raddr, &st);

    if (!op)
        return st;
    op->len = 0;
    op->opnd[0] = compare;
    op->opnd[1] = swap;
    return rma_post(vx_tp(base), op);
}
