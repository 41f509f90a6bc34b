/* SPDX-License-Identifier: BSD-3-Clause */
/* Verbs transport: memory. Regions registered explicitly (mem_reg: one-sided
 * exposure and long-lived message buffers) and the registrations operations
 * hold while the HCA reads or writes a user buffer: an explicit region when
 * one covers the buffer, else the registration cache (rcache.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "transports/rcache.h"
#include "transports/verbs/verbs.h"

#define RIGHTS (TP_REMOTE_READ | TP_REMOTE_WRITE | TP_REMOTE_ATOMIC)

static int ibv_access(unsigned access)
{
    int a = IBV_ACCESS_LOCAL_WRITE;

    if (access & (TP_REMOTE_WRITE | TP_MESSAGES))
        a |= IBV_ACCESS_REMOTE_WRITE;
    if (access & TP_REMOTE_READ)
        a |= IBV_ACCESS_REMOTE_READ;
    if (access & TP_REMOTE_ATOMIC)
        a |= IBV_ACCESS_REMOTE_ATOMIC;
    return a;
}

/* ibv_reg_mr failed with errno: the status and a message naming why. */
static rcomm_status_t reg_failed(vx_tp_t *tp, const void *addr, size_t len)
{
    int e = errno;
    char hint[200] = "";

    if (e == ENOMEM || e == EAGAIN)
        tp_memlock_hint(hint, sizeof(hint));
    return base_err(e == ENOMEM || e == EAGAIN ? RCOMM_ERR_NO_MEMORY : RCOMM_ERR_SYSTEM,
                    "rank %d: verbs: cannot register %zu bytes at %p on %s: %s%s%s",
                    tp->base.rank, len, addr, tp->devname, strerror(e),
                    hint[0] ? "; " : "", hint);
}

rcomm_status_t vx_mem_reg(tp_t *base, void *addr, size_t len, unsigned access,
                          tp_mr_t **out)
{
    vx_tp_t *tp = vx_tp(base);
    vx_mr_t *mr, **mrs;

    if (!tp || !out || !addr || !len || (access & ~(RIGHTS | TP_MESSAGES)))
        return base_err(RCOMM_ERR_INVALID_ARG, "rank %d: verbs mem_reg: %s",
                        tp ? base->rank : -1,
                        !tp || !out                        ? "tp or mr is NULL"
                        : access & ~(RIGHTS | TP_MESSAGES) ? "unknown access bits"
                        : !addr                            ? "addr is NULL"
                                                           : "len is 0");
    if (!(mr = calloc(1, sizeof(*mr))) ||
        !(mrs = realloc(tp->mrs, (tp->nmrs + 1) * sizeof(*mrs)))) {
        free(mr);
        return base_err(RCOMM_ERR_NO_MEMORY, "rank %d: mem_reg: out of memory",
                        base->rank);
    }
    tp->mrs = mrs;
    if (!(mr->mr = ibv_reg_mr(tp->pd, addr, len, ibv_access(access)))) {
        rcomm_status_t st = reg_failed(tp, addr, len);
        free(mr);
        return st;
    }
    mr->base.tp = base;
    mr->addr = addr;
    mr->len = len;
    mr->access = access;
    tp->mrs[tp->nmrs++] = mr;
    *out = &mr->base;
    return RCOMM_OK;
}

rcomm_status_t vx_mem_rkey(const tp_mr_t *head, tp_rkey_t *rkey)
{
    const vx_mr_t *mr = (const vx_mr_t *)head;

    if (!mr || !rkey)
        return base_err(RCOMM_ERR_INVALID_ARG, "verbs mem_rkey: %s is NULL",
                        !mr ? "mr" : "rkey");
    *rkey = (tp_rkey_t){.addr = (uintptr_t)mr->addr,
                        .len = mr->len,
                        .key = (uint64_t)(mr->access & RIGHTS) << 32 | mr->mr->rkey};
    return RCOMM_OK;
}

rcomm_status_t vx_mem_dereg(tp_t *base, tp_mr_t *head)
{
    vx_tp_t *tp = vx_tp(base);
    uint32_t i;

    for (i = 0; tp && head && i < tp->nmrs && &tp->mrs[i]->base != head; i++)
        ;
    if (!tp || !head || i == tp->nmrs)
        return base_err(RCOMM_ERR_INVALID_ARG, "verbs mem_dereg: %s",
                        !tp || !head ? "tp or mr is NULL"
                                     : "not a region of this transport");
    ibv_dereg_mr(tp->mrs[i]->mr);
    free(tp->mrs[i]);
    tp->mrs[i] = tp->mrs[--tp->nmrs];
    return RCOMM_OK;
}

vx_mr_t *vx_mr_find(vx_tp_t *tp, const void *buf, size_t len, bool remote_write)
{
    uintptr_t b = (uintptr_t)buf;

    for (uint32_t i = 0; i < tp->nmrs; i++) {
        vx_mr_t *mr = tp->mrs[i];
        uintptr_t a = (uintptr_t)mr->addr;
        if (b >= a && len <= mr->len && b - a <= mr->len - len &&
            (!remote_write || (mr->access & (TP_REMOTE_WRITE | TP_MESSAGES))))
            return mr;
    }
    return NULL;
}

/* ---- the registration cache's callbacks ---------------------------------- */

static rcomm_status_t cache_reg(void *ctx, void *addr, size_t len, void **handle)
{
    vx_tp_t *tp = ctx;
    struct ibv_mr *mr =
        ibv_reg_mr(tp->pd, addr, len, IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE);

    if (!mr && (errno == EFAULT || errno == EACCES))
        return RCOMM_ERR_ACCESS; /* read-only memory: vx_reg_acquire retries */
    if (!mr)
        return errno == ENOMEM || errno == EAGAIN ? RCOMM_ERR_NO_MEMORY
                                                  : reg_failed(tp, addr, len);
    *handle = mr;
    return RCOMM_OK;
}

static void cache_dereg(void *ctx, void *handle)
{
    (void)ctx;
    ibv_dereg_mr(handle);
}

static const tp_rcache_ops_t cache_ops = {.reg = cache_reg, .dereg = cache_dereg};

rcomm_status_t vx_mem_init(vx_tp_t *tp)
{
    tp_rcache_params_t p = {.ops = &cache_ops,
                            .ctx = tp,
                            .max_bytes = tp->cfg->ib_reg_cache,
                            .max_entries = 1024,
                            .rank = tp->base.rank};

    return tp_rcache_create(&p, (tp_rcache_t **)&tp->rcache);
}

rcomm_status_t vx_reg_acquire(vx_tp_t *tp, const void *buf, size_t len, bool remote,
                              vx_reg_t **out)
{
    vx_reg_t *r = calloc(1, sizeof(*r));
    tp_rcache_region_t *cr;
    rcomm_status_t st;

    if (!r)
        return base_err(RCOMM_ERR_NO_MEMORY, "rank %d: verbs: out of memory",
                        tp->base.rank);
    if ((r->mr = vx_mr_find(tp, buf, len, remote))) {
        r->lkey = r->mr->mr->lkey;
        r->rkey = r->mr->mr->rkey;
    } else if ((st = tp_rcache_acquire(tp->rcache, buf, len, &cr)) == RCOMM_OK) {
        r->cached = cr;
        r->lkey = ((struct ibv_mr *)cr->handle)->lkey;
        r->rkey = ((struct ibv_mr *)cr->handle)->rkey;
    } else if (st == RCOMM_ERR_ACCESS && !remote &&
               (r->own = ibv_reg_mr(tp->pd, (void *)buf, len, 0))) {
        /* A send from read-only memory cannot be registered writable (the
         * cache's registrations are): register it read-only for this use. */
        r->lkey = r->own->lkey;
    } else {
        if (st == RCOMM_ERR_ACCESS)
            st = reg_failed(tp, buf, len);
        free(r);
        return st;
    }
    *out = r;
    return RCOMM_OK;
}

void vx_reg_release(vx_tp_t *tp, vx_reg_t *r)
{
    if (r->cached)
        tp_rcache_release(tp->rcache, r->cached);
    if (r->own)
        ibv_dereg_mr(r->own);
    free(r);
}

void vx_mem_fini(vx_tp_t *tp)
{
    for (uint32_t i = 0; i < tp->nmrs; i++) {
        ibv_dereg_mr(tp->mrs[i]->mr);
        free(tp->mrs[i]);
    }
    free(tp->mrs);
    tp->mrs = NULL;
    tp->nmrs = 0;
    if (tp->rcache)
        tp_rcache_destroy(tp->rcache);
    tp->rcache = NULL;
}
