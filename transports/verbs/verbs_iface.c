/* SPDX-License-Identifier: BSD-3-Clause */
/* Verbs transport: the ops table and the life cycle of an instance. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/clock.h"
#include "base/error.h"
#include "transports/util/rma.h"
#include "transports/verbs/verbs.h"

static void vx_destroy(tp_t *base, rcomm_status_t reason, const char *why);

static rcomm_status_t vx_create(const tp_params_t *params, tp_t **out)
{
    const base_config_t *cfg = params ? params->cfg : NULL;
    rcomm_status_t st;
    size_t payload;
    vx_tp_t *tp;

    if ((st = tp_create_check(params, out, "verbs")) != RCOMM_OK)
        return st;
    if (!(tp = calloc(1, sizeof(*tp))))
        return base_err(RCOMM_ERR_NO_MEMORY, "rank %d: verbs create: out of memory",
                        params->rank);
    if ((st = tp_head_init(&tp->base, &tp_verbs_ops, params)) != RCOMM_OK) {
        free(tp);
        return st;
    }
    tp->cfg = cfg;
    tp->wait_fd = -1;
    tp->timeout_ms = params->timeout_ms;
    if (params->key)
        tp->key = *params->key;
    else
        auth_key_none(&tp->key);
    auth_nonce(tp->cm_challenge);
    tp->events = cfg->ib_poll_event;
    tp->cm = cfg->ib_use_rdma_cm;
    tp->eager = cfg->ib_eager;
    tp->rx_depth = (uint32_t)cfg->ib_rx_depth;
    tp->sq_depth = (uint32_t)cfg->ib_sq_depth;
    payload = tp->eager > VX_BYE_TEXT_MAX ? tp->eager : VX_BYE_TEXT_MAX;
    tp->slot_len = (VX_HDR_LEN + payload + 63) & ~(size_t)63;
    tp->peers = calloc((size_t)params->size, sizeof(*tp->peers));
    tp->busy = calloc((size_t)params->size, sizeof(*tp->busy));
    if (!tp->peers || !tp->busy) {
        st = base_err(RCOMM_ERR_NO_MEMORY, "rank %d: verbs create: out of memory",
                      params->rank);
        goto fail;
    }
    for (int r = 0; r < params->size; r++) {
        vx_peer_t *p = &tp->peers[r];
        p->rank = r;
        if (!(p->sq = malloc(tp->sq_depth * sizeof(*p->sq)))) {
            st = base_err(RCOMM_ERR_NO_MEMORY, "rank %d: verbs create: out of memory",
                          params->rank);
            goto fail;
        }
        for (uint32_t i = 0; i < tp->sq_depth; i++)
            p->sq[i] = (vx_sqe_t){.op = NULL, .slot = -1};
    }
    if ((st = vx_dev_open(tp)) != RCOMM_OK || (st = vx_buffers_init(tp)) != RCOMM_OK ||
        (st = vx_mem_init(tp)) != RCOMM_OK)
        goto fail;
    for (int r = 0; r < params->size; r++) {
        if (tp_serves(&tp->base, r) && !tp->cm &&
            (st = vx_qp_create(tp, &tp->peers[r])) != RCOMM_OK)
            goto fail;
    }
    base_log(BASE_LOG_INFO,
             "rank %d: verbs: %s port %u, path MTU %d, %s %d, inline %u, eager %zu",
             tp->base.rank, tp->devname, tp->port, vx_mtu_bytes(tp->mtu),
             tp->gid_index >= 0 ? "GID index" : "LID",
             tp->gid_index >= 0 ? tp->gid_index : tp->lid, tp->max_inline, tp->eager);
    *out = &tp->base;
    return RCOMM_OK;
fail:
    vx_destroy(&tp->base, RCOMM_OK, NULL);
    return st;
}

static rcomm_status_t vx_local_addr(tp_t *base, void *buf, size_t *len)
{
    vx_tp_t *tp = vx_tp(base);
    size_t need = tp ? vx_addr_len(base->size) : 0;

    if (tp && len && !buf) {
        *len = need; /* a size query */
        return RCOMM_OK;
    }
    if (!tp || !len || *len < need)
        return base_err(RCOMM_ERR_INVALID_ARG,
                        "verbs local_addr: %s (the address takes %zu bytes)",
                        !tp || !len ? "tp or len is NULL" : "buffer too small", need);
    vx_addr_pack(tp, buf);
    *len = need;
    return RCOMM_OK;
}

rcomm_status_t vx_wait_peers(vx_tp_t *tp, bool (*ready)(const vx_peer_t *p),
                             void (*step)(vx_tp_t *tp), const char *what)
{
    uint64_t deadline = base_now_ns() + (uint64_t)tp->timeout_ms * 1000000;

    for (;;) {
        char names[160] = "";
        int missing = 0;

        step(tp);
        for (int r = 0; r < tp->base.size; r++) {
            vx_peer_t *p = &tp->peers[r];
            if (!tp_serves(&tp->base, r) || ready(p))
                continue;
            if (p->fail.status)
                return base_err(p->fail.status, "rank %d: verbs connect: %s",
                                tp->base.rank, p->fail.msg);
            if (missing++ < 8)
                snprintf(names + strlen(names), sizeof(names) - strlen(names), "%s%d",
                         missing > 1 ? ", " : "", r);
        }
        if (!missing)
            return RCOMM_OK;
        if (base_now_ns() > deadline)
            return base_err(RCOMM_ERR_TIMEOUT,
                            "rank %d: verbs connect timed out after %d ms; %s %d "
                            "peer(s): rank %s%s",
                            tp->base.rank, tp->timeout_ms, what, missing, names,
                            missing > 8 ? ", ..." : "");
    }
}

static bool said_hello(const vx_peer_t *p)
{
    return p->hello;
}

static void hello_step(vx_tp_t *tp)
{
    vx_flush(tp);
    vx_poll(tp);
}

/* Every QP is in RTS: trade HELLOs so that each peer is known to receive. */
static rcomm_status_t hello(vx_tp_t *tp)
{
    vx_hdr_t h = {.type = VX_HELLO, .u.hello = {tp->base.rank, tp->base.size}};
    rcomm_status_t st;

    for (int r = 0; r < tp->base.size; r++)
        if (tp_serves(&tp->base, r) &&
            (st = vx_ctl_send(tp, &tp->peers[r], &h, NULL, 0, false)))
            return st;
    return vx_wait_peers(tp, said_hello, hello_step, "no HELLO from");
}

static rcomm_status_t vx_connect(tp_t *base, const void *const *addrs, const size_t *lens)
{
    vx_tp_t *tp = vx_tp(base);
    rcomm_status_t st;

    if (!tp || !addrs || !lens || tp->connect_called)
        return base_err(RCOMM_ERR_INVALID_ARG, "verbs connect: %s",
                        !tp || !addrs || !lens ? "tp, addrs or lens is NULL"
                                               : "called twice");
    tp->connect_called = true;
    for (int r = 0; r < base->size; r++) {
        if (!tp_serves(base, r))
            continue; /* its blob may be missing */
        if (!addrs[r])
            return base_err(RCOMM_ERR_INVALID_ARG,
                            "verbs connect: no address for rank %d", r);
        if ((st = vx_addr_unpack(tp, r, addrs[r], lens[r])) != RCOMM_OK ||
            (!tp->cm && (st = vx_qp_connect(tp, &tp->peers[r])) != RCOMM_OK))
            return st;
    }
    if (tp->cm && (st = vx_cm_connect(tp)) != RCOMM_OK)
        return st;
    tp->connected = true;
    if ((st = hello(tp)) != RCOMM_OK)
        tp->connected = false;
    return st;
}

/* Send BYE(reason) to every healthy peer and wait until each is
 * acknowledged or the peer is found dead, so that peers learn why we left.
 * What still waits in an outbox is dropped first, and BYE has a reserved
 * credit, so only the peer's acknowledgement (given by its HCA, whatever the
 * process does, or a retry timeout) is awaited; tp->timeout_ms bounds it. */
static void say_goodbye(vx_tp_t *tp, rcomm_status_t reason, const char *why)
{
    vx_hdr_t h = {.type = VX_BYE, .status = reason};
    int wait_ms = tp->timeout_ms > 500 ? tp->timeout_ms : 500;
    uint64_t deadline = base_now_ns() + (uint64_t)wait_ms * 1000000;
    bool pending = true;

    for (int r = 0; r < tp->base.size; r++) {
        vx_peer_t *p = &tp->peers[r];
        if (!tp_serves(&tp->base, r) || p->fail.status)
            continue;
        p->dropped = p->outbox;
        p->outbox.head = p->outbox.tail = NULL;
        vx_ctl_send(tp, p, &h, why ? why : "", why ? strlen(why) : 0, true);
    }
    while (pending && base_now_ns() < deadline) {
        vx_flush(tp);
        vx_poll(tp);
        vx_cm_poll(tp); /* a peer that is gone need not be waited for */
        pending = false;
        for (int r = 0; r < tp->base.size; r++) {
            vx_peer_t *p = &tp->peers[r];
            if (tp_serves(&tp->base, r) && !p->fail.status &&
                (!p->bye_posted || p->sq_tail != p->sq_head))
                pending = true;
        }
    }
}

static void release_list(vx_tp_t *tp, tp_opq_t *q)
{
    vx_op_t *op;

    while (q->head) {
        op = vx_op_of(q->head);
        BASE_FIFO_POP(q);
        if (op->kind == VX_OP_CTL) {
            free(op);
        } else if (op->reg) {
            vx_reg_release(tp, op->reg);
            op->reg = NULL;
        }
    }
}

static void vx_destroy(tp_t *base, rcomm_status_t reason, const char *why)
{
    vx_tp_t *tp = vx_tp(base);

    if (!tp)
        return;
    if (tp->connected)
        say_goodbye(tp, reason, why);
    /* Requests still outstanding are dropped: release what they hold. */
    for (int r = 0; tp->peers && r < base->size; r++) {
        vx_peer_t *p = &tp->peers[r];
        tp_unexp_t *ux;
        release_list(tp, &p->outbox);
        release_list(tp, &p->dropped);
        release_list(tp, &p->rts);
        release_list(tp, &p->m.posted);
        for (uint32_t i = p->sq_tail; p->sq && i != p->sq_head; i++) {
            vx_op_t *op = p->sq[i % tp->sq_depth].op;
            if (op && op->reg) {
                vx_reg_release(tp, op->reg);
                op->reg = NULL;
            }
        }
        while ((ux = p->m.unexp.head)) {
            BASE_FIFO_POP(&p->m.unexp);
            free(ux);
        }
    }
    for (uint32_t i = 0; i < tp->nrdv; i++)
        if (tp->rdv[i] && tp->rdv[i]->reg)
            vx_reg_release(tp, tp->rdv[i]->reg);
    vx_mem_fini(tp);
    vx_dev_close(tp);
    for (int r = 0; tp->peers && r < base->size; r++)
        free(tp->peers[r].sq);
    free(tp->rdv);
    free(tp->busy);
    tp_head_fini(base);
    free(tp->peers);
    auth_key_wipe(&tp->key);
    free(tp);
}

const tp_ops_t tp_verbs_ops = {
    .size = sizeof(tp_ops_t),
    .name = "verbs",
    .create = vx_create,
    .local_addr = vx_local_addr,
    .connect = vx_connect,
    .destroy = vx_destroy,
    .isend = vx_isend,
    .irecv = vx_irecv,
    .cancel = vx_cancel,
    .mem_reg = vx_mem_reg,
    .mem_rkey = vx_mem_rkey,
    .mem_dereg = vx_mem_dereg,
    .put = vx_put,
    .get = vx_get,
    .fetch_add = vx_fetch_add,
    .compare_swap = vx_compare_swap,
    .rkey_ptr = tp_rkey_ptr_unmapped,
    .rkey_ptr_release = tp_rkey_ptr_release_none,
    .put_notify = vx_put_notify,
    .caps = vx_caps,
    .progress = vx_progress,
    .wait_fd = vx_wait_fd,
};
