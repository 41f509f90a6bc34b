/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * A transport made of instances that split the peers (transport.h,
 * tp_multi_create): shared memory for the ranks of this host and TCP or
 * verbs for the others, behind one table, so that nothing above transports/
 * knows which peer goes where. Each op is the peer's instance's op; what
 * concerns all peers (regions, progress, waiting, counters) is done for
 * every instance.
 */
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "base/error.h"
#include "transports/transport.h"
#include "transports/util/match.h"
#include "transports/util/peer.h"
#include "transports/util/rma.h"

typedef struct {
    tp_t base;
    int n;
    tp_t *sub[TP_MULTI_MAX];
    uint64_t *own_moved[TP_MULTI_MAX]; /* theirs, given back before destroy */
    uint8_t *which;                    /* [size] */
    bool connected;
    struct multi_mr *mrs;    /* live regions */
    bool idle[TP_MULTI_MAX]; /* the instance serves nobody: never polled */
    int epfd;
    bool in_ep[TP_MULTI_MAX]; /* the instance's wait_fd is in epfd */
} multi_t;

typedef struct multi_mr {
    tp_mr_t head;
    tp_mr_t *sub[TP_MULTI_MAX];
    struct multi_mr *next, *prev; /* multi_t.mrs: destroy frees what is left */
} multi_mr_t;

extern const tp_ops_t tp_multi_ops;

static multi_t *multi(tp_t *tp)
{
    return (multi_t *)tp;
}

/* The instances' counters, as ours. */
static void sync_counters(multi_t *m)
{
    m->base.traffic = 0;
    memset(&m->base.stats, 0, sizeof(m->base.stats));
    for (int i = 0; i < m->n; i++) {
        const tp_stats_t *s = &m->sub[i]->stats;
        m->base.traffic += m->sub[i]->traffic;
        m->base.stats.bytes_sent += s->bytes_sent;
        m->base.stats.bytes_received += s->bytes_received;
        m->base.stats.bytes_copied += s->bytes_copied;
        m->base.stats.messages_sent += s->messages_sent;
        m->base.stats.messages_received += s->messages_received;
    }
}

static void multi_destroy(tp_t *base, rcomm_status_t reason, const char *why)
{
    multi_t *m = multi(base);

    if (!m)
        return;
    for (int i = 0; i < m->n; i++) {
        m->sub[i]->moved = m->own_moved[i];
        m->sub[i]->ops->destroy(m->sub[i], reason, why);
    }
    while (m->mrs) { /* their instances' halves went with them */
        multi_mr_t *next = m->mrs->next;
        free(m->mrs);
        m->mrs = next;
    }
    if (m->epfd >= 0)
        close(m->epfd);
    free(m->which);
    tp_head_fini(base);
    free(m);
}

rcomm_status_t tp_multi_create(const tp_params_t *params, const tp_ops_t *const *ops,
                               int n, const uint8_t *which, tp_t **out)
{
    uint8_t *serves = NULL;
    rcomm_status_t st;
    multi_t *m;

    if ((st = tp_create_check(params, out, "multi")) != RCOMM_OK)
        return st;
    if (!ops || !which || n < 1 || n > TP_MULTI_MAX)
        return base_err(RCOMM_ERR_INVALID_ARG, "multi create: %s",
                        !ops || !which ? "ops or which is NULL"
                                       : "between 1 and TP_MULTI_MAX instances");
    if (!(m = calloc(1, sizeof(*m))) || !(serves = malloc((size_t)params->size))) {
        free(m);
        return base_err(RCOMM_ERR_NO_MEMORY, "rank %d: multi create: out of memory",
                        params->rank);
    }
    m->epfd = -1;
    if ((st = tp_head_init(&m->base, &tp_multi_ops, params)) != RCOMM_OK) {
        free(serves);
        free(m);
        return st;
    }
    if (!(m->which = malloc((size_t)params->size))) {
        st = base_err(RCOMM_ERR_NO_MEMORY, "rank %d: multi create: out of memory",
                      params->rank);
        goto fail;
    }
    memcpy(m->which, which, (size_t)params->size);
    for (int i = 0; i < n; i++) {
        tp_params_t p = *params;
        for (int r = 0; r < params->size; r++)
            serves[r] = tp_serves(&m->base, r) && which[r] == i;
        p.serves = serves;
        if ((st = ops[i]->create(&p, &m->sub[i])) != RCOMM_OK)
            goto fail;
        /* One array: each instance bumps only its own peers' entries. */
        m->own_moved[i] = m->sub[i]->moved;
        m->sub[i]->moved = m->base.moved;
        m->n = i + 1;
    }
    free(serves);
    *out = &m->base;
    return RCOMM_OK;
fail:
    free(serves);
    multi_destroy(&m->base, RCOMM_OK, NULL);
    return st;
}

static rcomm_status_t multi_local_addr(tp_t *base, void *buf, size_t *len)
{
    multi_t *m = multi(base);
    size_t need = 0, lens[TP_MULTI_MAX];
    unsigned char *p = buf;
    rcomm_status_t st;

    if (!m || !len)
        return base_err(RCOMM_ERR_INVALID_ARG, "multi local_addr: tp or len is NULL");
    for (int i = 0; i < m->n; i++) {
        if ((st = m->sub[i]->ops->local_addr(m->sub[i], NULL, &lens[i])) != RCOMM_OK)
            return st;
        need += 4 + lens[i];
    }
    if (!buf) {
        *len = need;
        return RCOMM_OK;
    }
    if (*len < need)
        return base_err(
            RCOMM_ERR_INVALID_ARG,
            "multi local_addr: buffer too small (the address takes %zu bytes)", need);
    for (int i = 0; i < m->n; i++) {
        for (int b = 0; b < 4; b++)
            *p++ = (unsigned char)(lens[i] >> (8 * b));
        if ((st = m->sub[i]->ops->local_addr(m->sub[i], p, &lens[i])) != RCOMM_OK)
            return st;
        p += lens[i];
    }
    *len = need;
    return RCOMM_OK;
}

static rcomm_status_t multi_connect(tp_t *base, const void *const *addrs,
                                    const size_t *lens)
{
    multi_t *m = multi(base);
    const void **sa = NULL;
    size_t *sl = NULL;
    rcomm_status_t st = RCOMM_OK;
    int size = base ? base->size : 0;

    if (!m || !addrs || !lens || m->connected)
        return base_err(RCOMM_ERR_INVALID_ARG, "multi connect: %s",
                        m && m->connected ? "already connected" : "a NULL argument");
    sa = calloc((size_t)(m->n * size), sizeof(*sa));
    sl = calloc((size_t)(m->n * size), sizeof(*sl));
    if (!sa || !sl) {
        st = base_err(RCOMM_ERR_NO_MEMORY, "rank %d: multi connect: out of memory",
                      base->rank);
        goto out;
    }
    /* Cut every blob into the instances' (a peer's bytes: bounded first). */
    for (int r = 0; r < size; r++) {
        const unsigned char *p = addrs[r];
        size_t left = lens[r];
        if (!p)
            continue;
        for (int i = 0; i < m->n; i++) {
            size_t l;
            if (left < 4 || (l = (size_t)p[0] | (size_t)p[1] << 8 | (size_t)p[2] << 16 |
                                 (size_t)p[3] << 24) > left - 4) {
                st = base_err(RCOMM_ERR_PROTOCOL,
                              "rank %d: multi connect: rank %d's address is malformed "
                              "(instance %d)",
                              base->rank, r, i);
                goto out;
            }
            sa[i * size + r] = p + 4;
            sl[i * size + r] = l;
            p += 4 + l;
            left -= 4 + l;
        }
    }
    for (int i = 0; i < m->n; i++) {
        for (int r = 0; r < size; r++)
            if (r != base->rank && !(tp_serves(base, r) && m->which[r] == i)) {
                sa[i * size + r] = NULL;
                sl[i * size + r] = 0;
            }
        if ((st = m->sub[i]->ops->connect(m->sub[i], sa + i * size, sl + i * size)) !=
            RCOMM_OK)
            goto out;
    }
    /* A job on one host polls no socket (TCP's epoll_wait costs a system
     * call per progress, more than a shared-memory message takes). */
    for (int i = 0; i < m->n; i++)
        m->idle[i] = tp_served(m->sub[i]) == 0;
    if ((m->epfd = epoll_create1(EPOLL_CLOEXEC)) < 0) {
        st = base_err_sys("rank %d: multi connect: epoll_create1", base->rank);
        goto out;
    }
    m->connected = true;
out:
    free(sa);
    free(sl);
    return st;
}

/* The instance of peer, or NULL after logging why (the usual checks). */
static tp_t *route(multi_t *m, int peer, const void *req, const char *what)
{
    if (tp_check_post(m ? &m->base : NULL, m && m->connected, peer, req, what) !=
        RCOMM_OK)
        return NULL;
    if (m->which[peer] >= m->n) {
        base_err(RCOMM_ERR_INVALID_ARG, "rank %d: %s rank %d: no instance serves it",
                 m->base.rank, what, peer);
        return NULL;
    }
    return m->sub[m->which[peer]];
}

/* The rkey as the peer's instance knows it. */
static tp_rkey_t sub_rkey(const multi_t *m, int peer, const tp_rkey_t *rkey)
{
    tp_rkey_t k = *rkey;

    k.key = m->which[peer] == 0 ? rkey->key : rkey->key2;
    k.key2 = 0;
    return k;
}

#define ROUTE(what)                                                                      \
    multi_t *m = multi(base);                                                            \
    tp_t *s = route(m, peer, req, what);                                                 \
    rcomm_status_t st;                                                                   \
    if (!s)                                                                              \
        return RCOMM_ERR_INVALID_ARG;

static rcomm_status_t multi_isend(tp_t *base, int peer, uint64_t tag, const tp_env_t *env,
                                  const void *buf, size_t len, tp_req_t *req)
{
    ROUTE("send to");
    st = s->ops->isend(s, peer, tag, env, buf, len, req);
    sync_counters(m);
    return st;
}

static rcomm_status_t multi_irecv(tp_t *base, int peer, uint64_t tag, void *buf,
                                  size_t len, tp_req_t *req)
{
    ROUTE("receive from");
    st = s->ops->irecv(s, peer, tag, buf, len, req);
    sync_counters(m);
    return st;
}

static rcomm_status_t multi_cancel(tp_t *base, tp_req_t *req)
{
    /* Every transport's request state starts with a tp_op_t (match.h). */
    int peer = req ? tp_op(req)->peer : -1;
    multi_t *m = multi(base);

    if (!m || peer < 0 || peer >= base->size || m->which[peer] >= m->n)
        return base_err(RCOMM_ERR_INVALID_ARG, "multi cancel: %s",
                        !m || !req ? "tp or req is NULL" : "not a posted receive");
    return m->sub[m->which[peer]]->ops->cancel(m->sub[m->which[peer]], req);
}

static rcomm_status_t multi_put(tp_t *base, int peer, const void *buf, size_t len,
                                const tp_rkey_t *rkey, uint64_t raddr, tp_req_t *req)
{
    ROUTE("put to");
    tp_rkey_t k = rkey ? sub_rkey(m, peer, rkey) : (tp_rkey_t){0};
    st = s->ops->put(s, peer, buf, len, rkey ? &k : NULL, raddr, req);
    sync_counters(m);
    return st;
}

static rcomm_status_t multi_get(tp_t *base, int peer, void *buf, size_t len,
                                const tp_rkey_t *rkey, uint64_t raddr, tp_req_t *req)
{
    ROUTE("get from");
    tp_rkey_t k = rkey ? sub_rkey(m, peer, rkey) : (tp_rkey_t){0};
    st = s->ops->get(s, peer, buf, len, rkey ? &k : NULL, raddr, req);
    sync_counters(m);
    return st;
}

static rcomm_status_t multi_put_notify(tp_t *base, int peer, const void *buf, size_t len,
                                       const tp_rkey_t *rkey, uint64_t raddr,
                                       uint32_t imm, tp_req_t *req)
{
    ROUTE("put to");
    tp_rkey_t k = rkey ? sub_rkey(m, peer, rkey) : (tp_rkey_t){0};
    st = s->ops->put_notify(s, peer, buf, len, rkey ? &k : NULL, raddr, imm, req);
    sync_counters(m);
    return st;
}

static rcomm_status_t multi_fetch_add(tp_t *base, int peer, const tp_rkey_t *rkey,
                                      uint64_t raddr, uint64_t add, tp_req_t *req)
{
    ROUTE("fetch_add on");
    tp_rkey_t k = rkey ? sub_rkey(m, peer, rkey) : (tp_rkey_t){0};
    st = s->ops->fetch_add(s, peer, rkey ? &k : NULL, raddr, add, req);
    sync_counters(m);
    return st;
}

static rcomm_status_t multi_compare_swap(tp_t *base, int peer, const tp_rkey_t *rkey,
                                         uint64_t raddr, uint64_t compare, uint64_t swap,
                                         tp_req_t *req)
{
    ROUTE("compare_swap on");
    tp_rkey_t k = rkey ? sub_rkey(m, peer, rkey) : (tp_rkey_t){0};
    st = s->ops->compare_swap(s, peer, rkey ? &k : NULL, raddr, compare, swap, req);
    sync_counters(m);
    return st;
}

static rcomm_status_t multi_rkey_ptr(tp_t *base, int peer, const tp_rkey_t *rkey,
                                     uint64_t raddr, size_t len, unsigned access,
                                     void **ptr)
{
    multi_t *m = multi(base);
    rcomm_status_t st =
        tp_rkey_ptr_check(base, m && m->connected, peer, rkey, access, ptr);
    tp_rkey_t k;
    tp_t *s;

    if (st != RCOMM_OK)
        return st;
    if (!(s = route(m, peer, ptr, "rkey_ptr to")))
        return RCOMM_ERR_INVALID_ARG;
    k = sub_rkey(m, peer, rkey);
    return s->ops->rkey_ptr(s, peer, &k, raddr, len, access, ptr);
}

static void multi_rkey_ptr_release(tp_t *base, int peer, void *ptr)
{
    multi_t *m = multi(base);
    tp_t *s;

    base_err_mute(true); /* nothing to give back is no error */
    if (ptr && (s = route(m, peer, ptr, "rkey_ptr_release to")))
        s->ops->rkey_ptr_release(s, peer, ptr);
    base_err_mute(false);
}

/* ---- regions: one per instance that serves someone ------------------------ */

/* Whether instance i holds a part of the regions: not when it serves no
 * peer (verbs, when every rank shares this host), where registering would
 * only pin memory nobody reaches through it; the first instance does when
 * none serves anyone (a job of one rank), so that a region has a key. */
static bool holds_regions(const multi_t *m, int i)
{
    bool any = false;

    for (int j = 0; j < m->n; j++)
        any = any || tp_served(m->sub[j]) > 0;
    return any ? tp_served(m->sub[i]) > 0 : i == 0;
}

static rcomm_status_t multi_mem_reg(tp_t *base, void *addr, size_t len, unsigned access,
                                    tp_mr_t **out)
{
    multi_t *m = multi(base);
    rcomm_status_t st = RCOMM_OK;
    multi_mr_t *mr;

    if (!m || !out)
        return base_err(RCOMM_ERR_INVALID_ARG, "multi mem_reg: tp or mr is NULL");
    if (!(mr = calloc(1, sizeof(*mr))))
        return base_err(RCOMM_ERR_NO_MEMORY, "rank %d: mem_reg: out of memory",
                        base->rank);
    mr->head.tp = base;
    for (int i = 0; i < m->n && st == RCOMM_OK; i++)
        if (holds_regions(m, i))
            st = m->sub[i]->ops->mem_reg(m->sub[i], addr, len, access, &mr->sub[i]);
    if (st != RCOMM_OK) {
        for (int i = 0; i < m->n; i++)
            if (mr->sub[i])
                m->sub[i]->ops->mem_dereg(m->sub[i], mr->sub[i]);
        free(mr);
        return st;
    }
    if ((mr->next = m->mrs))
        m->mrs->prev = mr;
    m->mrs = mr;
    *out = &mr->head;
    return RCOMM_OK;
}

static rcomm_status_t multi_mem_rkey(const tp_mr_t *head, tp_rkey_t *rkey)
{
    const multi_mr_t *mr = (const multi_mr_t *)head;
    const multi_t *m = mr ? (const multi_t *)mr->head.tp : NULL;
    tp_rkey_t k[TP_MULTI_MAX] = {{0}};
    rcomm_status_t st;

    if (!mr || !rkey)
        return base_err(RCOMM_ERR_INVALID_ARG, "multi mem_rkey: %s is NULL",
                        !mr ? "mr" : "rkey");
    /* An instance without its part of the region (holds_regions) has no
     * peer to use its key: 0. */
    for (int i = 0; i < m->n; i++)
        if (mr->sub[i] && (st = m->sub[i]->ops->mem_rkey(mr->sub[i], &k[i])) != RCOMM_OK)
            return st;
    *rkey = mr->sub[0] ? k[0] : k[1];
    rkey->key = k[0].key;
    rkey->key2 = k[1].key;
    return RCOMM_OK;
}

static rcomm_status_t multi_mem_dereg(tp_t *base, tp_mr_t *head)
{
    multi_t *m = multi(base);
    multi_mr_t *mr = (multi_mr_t *)head;
    rcomm_status_t st = RCOMM_OK, s;

    if (!m || !mr || mr->head.tp != base)
        return base_err(RCOMM_ERR_INVALID_ARG, "multi mem_dereg: %s",
                        !m || !mr ? "tp or mr is NULL"
                                  : "not a region of this transport");
    for (int i = 0; i < m->n; i++)
        if (mr->sub[i] &&
            (s = m->sub[i]->ops->mem_dereg(m->sub[i], mr->sub[i])) != RCOMM_OK)
            st = s;
    if (mr->prev)
        mr->prev->next = mr->next;
    else
        m->mrs = mr->next;
    if (mr->next)
        mr->next->prev = mr->prev;
    free(mr);
    return st;
}

/* The link of the first instance that serves anyone (the network's, the
 * slower, when it does: it bounds a job's collectives); one-sided
 * operations are native only where every instance that serves a peer does
 * them natively. */
static void multi_caps(tp_t *base, tp_caps_t *caps)
{
    multi_t *m = multi(base);
    bool first = true;

    m->sub[0]->ops->caps(m->sub[0], caps);
    for (int i = 0; i < m->n; i++) {
        tp_caps_t c;
        if (!tp_served(m->sub[i]))
            continue;
        m->sub[i]->ops->caps(m->sub[i], &c);
        if (first)
            *caps = c;
        caps->native_rma &= c.native_rma;
        caps->native_atomics &= c.native_atomics;
        first = false;
    }
}

/* ---- progress and waiting ------------------------------------------------- */

static int multi_wait_fd(tp_t *base)
{
    multi_t *m = multi(base);

    if (!m || !m->connected)
        return -1;
    for (int i = 0; i < m->n; i++) {
        int fd;
        if (m->idle[i])
            continue;
        if ((fd = m->sub[i]->ops->wait_fd(m->sub[i])) < 0)
            return -1;
        /* Each instance's descriptor stays the same until destroy. */
        if (!m->in_ep[i]) {
            if (epoll_ctl(m->epfd, EPOLL_CTL_ADD, fd,
                          &(struct epoll_event){.events = EPOLLIN,
                                                .data.u32 = (uint32_t)i}) != 0)
                return -1;
            m->in_ep[i] = true;
        }
    }
    return m->epfd;
}

static rcomm_status_t poll_all(multi_t *m)
{
    rcomm_status_t st;

    for (int i = 0; i < m->n; i++)
        if (!m->idle[i] && (st = m->sub[i]->ops->progress(m->sub[i], 0)) != RCOMM_OK)
            return st;
    sync_counters(m);
    return RCOMM_OK;
}

static rcomm_status_t multi_progress(tp_t *base, int timeout_ms)
{
    multi_t *m = multi(base);
    uint64_t before;
    rcomm_status_t st;
    int fd;

    if (!m || !m->connected)
        return base_err(RCOMM_ERR_INVALID_ARG, "multi progress: %s",
                        m ? "the transport is not connected" : "tp is NULL");
    before = m->base.traffic;
    if ((st = poll_all(m)) != RCOMM_OK || timeout_ms == 0 || m->base.traffic != before)
        return st;
    /* Nothing happened: sleep on every instance at once if they all can,
     * else nap in the first busy one (the network's) a millisecond at a
     * time. */
    if ((fd = multi_wait_fd(base)) >= 0) {
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        (void)poll(&pfd, 1, timeout_ms);
    } else {
        tp_t *nap = m->sub[m->idle[0] ? m->n - 1 : 0];
        if ((st = nap->ops->progress(
                 nap, timeout_ms < 0 || timeout_ms > 1 ? 1 : timeout_ms)) != RCOMM_OK)
            return st;
    }
    return poll_all(m);
}

/* Made by tp_multi_create, never found by name. */
static rcomm_status_t multi_create_by_name(const tp_params_t *params, tp_t **tp)
{
    (void)params;
    (void)tp;
    return base_err(RCOMM_ERR_UNSUPPORTED, "multi: made by tp_multi_create only");
}

const tp_ops_t tp_multi_ops = {
    .size = sizeof(tp_ops_t),
    .name = "multi",
    .create = multi_create_by_name,
    .local_addr = multi_local_addr,
    .connect = multi_connect,
    .destroy = multi_destroy,
    .isend = multi_isend,
    .irecv = multi_irecv,
    .cancel = multi_cancel,
    .mem_reg = multi_mem_reg,
    .mem_rkey = multi_mem_rkey,
    .mem_dereg = multi_mem_dereg,
    .put = multi_put,
    .get = multi_get,
    .fetch_add = multi_fetch_add,
    .compare_swap = multi_compare_swap,
    .rkey_ptr = multi_rkey_ptr,
    .rkey_ptr_release = multi_rkey_ptr_release,
    .put_notify = multi_put_notify,
    .caps = multi_caps,
    .progress = multi_progress,
    .wait_fd = multi_wait_fd,
};
