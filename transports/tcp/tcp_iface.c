/* SPDX-License-Identifier: BSD-3-Clause */
/* TCP transport: the ops table, the life cycle of an instance, and the
 * region table of one-sided operations. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "base/error.h"
#include "transports/tcp/tcp.h"
#include "transports/util/rma.h"

static rcomm_status_t tcp_create(const tp_params_t *params, tp_t **out)
{
    const char *host;
    rcomm_status_t st;
    tcp_tp_t *tp;

    if ((st = tp_create_check(params, out, "tcp")) != RCOMM_OK)
        return st;
    if (!(tp = calloc(1, sizeof(*tp))))
        return base_err(RCOMM_ERR_NO_MEMORY, "rank %d: tcp create: out of memory",
                        params->rank);
    if ((st = tp_head_init(&tp->base, &tp_tcp_ops, params)) != RCOMM_OK)
        goto free_tp;
    tp->bufsize = params->cfg->tcp_bufsize;
    tp->eager = params->cfg->tcp_eager;
    /* Two eager messages ahead of the receiver: with a 256K limit, 1, 2, 4
     * and 16 times it measured alike for a ready receiver (allreduce), and
     * the smaller budgets best for a reduce's leaves (docs/PERFORMANCE.md). */
    tp->budget = 2 * tp->eager;
    tp->timeout_ms = params->timeout_ms;
    tp->handshake_ms = params->handshake_ms > 0    ? params->handshake_ms
                       : params->timeout_ms < 5000 ? params->timeout_ms
                                                   : 5000;
    if (params->key)
        tp->key = *params->key;
    else
        auth_key_none(&tp->key);
    tp->listen_fd = -1;
    tp->hot = -1;
    tp->peers = calloc((size_t)params->size, sizeof(*tp->peers));
    tp->txlist = calloc((size_t)params->size, sizeof(*tp->txlist));
    if (!tp->peers || !tp->txlist) {
        st = base_err(RCOMM_ERR_NO_MEMORY, "rank %d: tcp create: out of memory",
                      params->rank);
        goto free_tp;
    }
    for (int r = 0; r < params->size; r++) {
        tp->peers[r].fd = -1;
        tp->peers[r].rank = r;
    }
    if ((tp->epfd = epoll_create1(EPOLL_CLOEXEC)) < 0) {
        st = base_err_sys("rank %d: tcp create: epoll_create1", params->rank);
        goto free_tp;
    }
    host = params->host && *params->host ? params->host
           : params->cfg->host[0]        ? params->cfg->host
                                         : "127.0.0.1";
    if ((st = tcp_listen(tp, host)) != RCOMM_OK)
        goto close_epoll;
    *out = &tp->base;
    return RCOMM_OK;
close_epoll:
    close(tp->epfd);
free_tp:
    tp_head_fini(&tp->base);
    free(tp->txlist);
    free(tp->peers);
    free(tp);
    return st;
}

static rcomm_status_t tcp_local_addr(tp_t *base, void *buf, size_t *len)
{
    if (base && len && !buf) {
        *len = TCP_ADDR_LEN; /* a size query */
        return RCOMM_OK;
    }
    if (!base || !buf || !len || *len < TCP_ADDR_LEN)
        return base_err(
            RCOMM_ERR_INVALID_ARG, "tcp local_addr: %s (the address takes %d bytes)",
            !base || !buf || !len ? "tp, buf or len is NULL" : "buffer too small",
            TCP_ADDR_LEN);
    memcpy(buf, &tcp_tp(base)->addr, TCP_ADDR_LEN);
    *len = TCP_ADDR_LEN;
    return RCOMM_OK;
}

static void tcp_destroy(tp_t *base, rcomm_status_t reason, const char *why)
{
    tcp_tp_t *tp = tcp_tp(base);

    if (!tp)
        return;
    for (int r = 0; r < base->size; r++) {
        tcp_peer_t *p = &tp->peers[r];
        tp_unexp_t *ux;
        tcp_peer_close(tp, p, reason, why);
        tcp_drop_txq(p);
        while ((ux = p->m.unexp.head)) {
            BASE_FIFO_POP(&p->m.unexp);
            tcp_ux_free(tp, tcp_ux_of(ux));
        }
        tcp_ux_free(tp, p->rx.ux);
        free(p->stage);
    }
    if (tp->listen_fd >= 0)
        close(tp->listen_fd);
    close(tp->epfd);
    for (uint32_t i = 0; i < tp->nmrs; i++)
        free(tp->mrs[i].mr);
    free(tp->mrs);
    tcp_ux_pool_free(tp);
    tp_head_fini(base);
    free(tp->txlist);
    free(tp->peers);
    auth_key_wipe(&tp->key);
    free(tp);
}

/* ---- regions ------------------------------------------------------------ */

static rcomm_status_t tcp_mem_reg(tp_t *base, void *addr, size_t len, unsigned access,
                                  tp_mr_t **out)
{
    tcp_tp_t *tp = tcp_tp(base);
    unsigned all = TP_REMOTE_READ | TP_REMOTE_WRITE | TP_REMOTE_ATOMIC |
                   TP_MESSAGES; /* MESSAGES: nothing to do, TCP copies anyway */
    tcp_mr_t *mr;
    uint32_t slot;

    if (!tp || !out || (!addr && len) || (access & ~all))
        return base_err(RCOMM_ERR_INVALID_ARG, "tcp mem_reg: %s",
                        !tp || !out     ? "tp or mr is NULL"
                        : access & ~all ? "unknown access bits"
                                        : "addr is NULL");
    /* Slots are reused; the generation in the key tells old keys apart. */
    for (slot = 0; slot < tp->nmrs && tp->mrs[slot].mr; slot++)
        ;
    if (slot == tp->nmrs) {
        uint32_t n = tp->nmrs ? 2 * tp->nmrs : 8;
        tcp_mr_slot_t *s = realloc(tp->mrs, n * sizeof(*s));
        if (!s)
            return base_err(RCOMM_ERR_NO_MEMORY, "rank %d: mem_reg: out of memory",
                            base->rank);
        memset(s + tp->nmrs, 0, (n - tp->nmrs) * sizeof(*s));
        tp->mrs = s;
        tp->nmrs = n;
    }
    if (!(mr = malloc(sizeof(*mr))))
        return base_err(RCOMM_ERR_NO_MEMORY, "rank %d: mem_reg: out of memory",
                        base->rank);
    *mr = (tcp_mr_t){.head = {.tp = base},
                     .base = addr,
                     .len = len,
                     .access = access & ~(unsigned)TP_MESSAGES,
                     .key = (uint64_t)++tp->mrs[slot].gen << 32 | (slot + 1)};
    tp->mrs[slot].mr = mr;
    *out = &mr->head;
    return RCOMM_OK;
}

static rcomm_status_t tcp_mem_rkey(const tp_mr_t *head, tp_rkey_t *rkey)
{
    const tcp_mr_t *mr = (const tcp_mr_t *)head;

    if (!mr || !rkey)
        return base_err(RCOMM_ERR_INVALID_ARG, "tcp mem_rkey: %s is NULL",
                        !mr ? "mr" : "rkey");
    *rkey = (tp_rkey_t){.addr = (uintptr_t)mr->base, .len = mr->len, .key = mr->key};
    return RCOMM_OK;
}

static rcomm_status_t tcp_mem_dereg(tp_t *base, tp_mr_t *head)
{
    tcp_tp_t *tp = tcp_tp(base);
    tcp_mr_t *mr = (tcp_mr_t *)head;
    uint32_t slot = mr ? (uint32_t)mr->key - 1 : 0;

    if (!tp || !mr || slot >= tp->nmrs || tp->mrs[slot].mr != mr)
        return base_err(RCOMM_ERR_INVALID_ARG, "tcp mem_dereg: %s",
                        !tp || !mr ? "tp or mr is NULL"
                                   : "not a region of this transport");
    tcp_rma_forget(tp, mr);
    tp->mrs[slot].mr = NULL;
    free(mr);
    return RCOMM_OK;
}

/* One-sided operations and atomics are messages the target's progress
 * applies; the link is whatever route the sockets take, so its rate is for
 * the perf tools to measure. */
static void tcp_caps(tp_t *tp, tp_caps_t *caps)
{
    (void)tp;
    *caps = (tp_caps_t){.native_rma = false, .native_atomics = false, .name = "tcp"};
    snprintf(caps->link, sizeof(caps->link),
             "unknown: TCP does not know its route's rate (measure it)");
}

const tp_ops_t tp_tcp_ops = {
    .size = sizeof(tp_ops_t),
    .name = "tcp",
    .create = tcp_create,
    .local_addr = tcp_local_addr,
    .connect = tcp_connect,
    .destroy = tcp_destroy,
    .isend = tcp_isend,
    .irecv = tcp_irecv,
    .cancel = tcp_cancel,
    .mem_reg = tcp_mem_reg,
    .mem_rkey = tcp_mem_rkey,
    .mem_dereg = tcp_mem_dereg,
    .put = tcp_put,
    .get = tcp_get,
    .fetch_add = tcp_fetch_add,
    .compare_swap = tcp_compare_swap,
    .rkey_ptr = tp_rkey_ptr_unmapped,
    .rkey_ptr_release = tp_rkey_ptr_release_none,
    .put_notify = tcp_put_notify,
    .caps = tcp_caps,
    .progress = tcp_progress,
    .wait_fd = tcp_wait_fd,
};
