/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Registration cache: keeps the registrations (ibv_reg_mr) of user buffers
 * for reuse, because registering per message costs more than the transfer.
 * Generic: the transport supplies reg/dereg and keeps its handle here.
 *
 * Safety. A cached registration pins the pages the buffer had when it was
 * registered; if the user frees the buffer and a later mmap returns the same
 * address, the entry must not be reused. Each cached range is watched by the
 * memory monitor (memmon.h): an unmap, madvise(DONTNEED/REMOVE) or mremap of
 * it queues an invalidation before that call returns to the user, and every
 * acquire applies the queued invalidations before looking up. Entries
 * invalidated while acquired are deregistered at release. A buffer that
 * cannot be watched (file-backed mapping) is registered for one use only.
 *
 * Without a monitor (userfaultfd unavailable, or RCOMM_RCACHE_NO_MONITOR=1 set
 * when the cache is created, for tests and as an escape hatch) nothing is
 * cached: acquire registers and release deregisters. One warning says so.
 *
 * reg must leave the pages populated (ibv_reg_mr without ODP does): a later
 * first touch of a watched page costs a trip to the monitor thread and
 * invalidates the entry. Do not use on-demand-paging registrations here.
 *
 * A cache is used by one thread at a time; caches in different threads are
 * independent. Buffers in flight must stay mapped until release, as always.
 */
#ifndef RCOMM_RCACHE_H
#define RCOMM_RCACHE_H

#include <stddef.h>
#include <stdint.h>

#include "rcomm.h"

typedef struct tp_rcache tp_rcache_t;

typedef struct {
    /* Register [addr, addr + len) (page aligned) and set *handle. Returns
     * RCOMM_ERR_NO_MEMORY without logging when the memory-lock or device
     * limit is hit: the cache evicts, retries once, then logs with the hint
     * below. Any other error is returned as is, unlogged by the cache (reg
     * logs it, or the transport does after a fallback). */
    rcomm_status_t (*reg)(void *ctx, void *addr, size_t len, void **handle);
    void (*dereg)(void *ctx, void *handle);
} tp_rcache_ops_t;

typedef struct {
    const tp_rcache_ops_t *ops;
    void *ctx;
    /* Bounds on cached registrations, in use or not (0 = none). max_bytes is
     * also capped at 3/4 of RLIMIT_MEMLOCK. A request that does not fit after
     * evicting unreferenced entries is registered for one use. */
    size_t max_bytes;
    size_t max_entries;
    int rank; /* for messages */
} tp_rcache_params_t;

/* What acquire returns: the registered range (page aligned, covering the
 * request) and the transport's handle. Read-only for the caller. */
typedef struct {
    void *addr;
    size_t len;
    void *handle;
} tp_rcache_region_t;

typedef struct {
    /* Every acquire is one of hit, miss (new cached entry) or uncached (one
     * use: no monitor, too large, no room, or not watchable). */
    uint64_t hits, misses, uncached;
    uint64_t evictions, invalidations; /* entries */
    size_t bytes, entries;             /* cached now */
    int monitored;
} tp_rcache_stats_t;

rcomm_status_t tp_rcache_create(const tp_rcache_params_t *p, tp_rcache_t **out);
/* Deregisters everything, including entries still acquired (a caller bug). */
void tp_rcache_destroy(tp_rcache_t *c);

/* A registered region covering [addr, addr + len), len > 0, held until
 * released. Errors: RCOMM_ERR_NO_MEMORY (logged, with the memlock hint) or
 * whatever reg returned. */
rcomm_status_t tp_rcache_acquire(tp_rcache_t *c, const void *addr, size_t len,
                                 tp_rcache_region_t **out);
void tp_rcache_release(tp_rcache_t *c, tp_rcache_region_t *r);

/* Apply pending invalidations now, so that freed buffers are unpinned
 * without waiting for the next acquire (e.g. from an idle progress()). */
void tp_rcache_poll(tp_rcache_t *c);

void tp_rcache_stats(const tp_rcache_t *c, tp_rcache_stats_t *s);

/* "RLIMIT_MEMLOCK is 8192 KiB; raise it: ulimit -l unlimited (...)" or
 * "RLIMIT_MEMLOCK is unlimited", for registration failures. */
void tp_memlock_hint(char *buf, size_t len);

#endif
