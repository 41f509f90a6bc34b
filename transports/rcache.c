/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Registration cache (see rcache.h). Cached entries are disjoint and kept in
 * an array sorted by address, so a lookup is one binary search. A miss that
 * overlaps cached entries registers the union and drops them: two buffers
 * sharing a page then share one entry instead of evicting each other.
 */
#include "transports/rcache.h"

#include <linux/capability.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "base/error.h"
#include "transports/memmon.h"

typedef struct link {
    struct link *prev, *next;
} link_t;

typedef struct {
    tp_rcache_region_t r; /* first: the caller's view */
    link_t link;          /* in lru when unreferenced, else in busy */
    uintptr_t start, end;
    unsigned refs;
    int cached;  /* in the lookup array */
    int watched; /* until destroyed, even once dropped from the array */
} entry_t;

static entry_t *entry_of(link_t *l)
{
    return (entry_t *)((char *)l - offsetof(entry_t, link));
}

struct tp_rcache {
    tp_rcache_ops_t ops;
    void *ctx;
    int rank;
    uintptr_t page;
    size_t max_bytes, max_entries;
    tp_memmon_sub_t *mon; /* NULL: nothing is cached */
    entry_t **v;          /* cached entries by address */
    size_t n, cap;
    link_t lru;  /* unreferenced cached entries, least recently released first */
    link_t busy; /* referenced entries, cached or not */
    tp_rcache_stats_t st;
};

static void link_init(link_t *head)
{
    head->prev = head->next = head;
}

static void link_del(link_t *l)
{
    l->prev->next = l->next;
    l->next->prev = l->prev;
}

static void link_add_tail(link_t *head, link_t *l)
{
    l->prev = head->prev;
    l->next = head;
    head->prev->next = l;
    head->prev = l;
}

/* Index of the first cached entry ending after addr (entries are disjoint,
 * so ends are sorted too). */
static size_t find(const tp_rcache_t *c, uintptr_t addr)
{
    size_t lo = 0, hi = c->n;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (c->v[mid]->end > addr)
            hi = mid;
        else
            lo = mid + 1;
    }
    return lo;
}

/* The entry is in no list. */
static void destroy(tp_rcache_t *c, entry_t *e)
{
    if (e->watched)
        tp_memmon_unwatch(c->mon, e->start, e->end);
    c->ops.dereg(c->ctx, e->r.handle);
    free(e);
}

/* Remove v[i] from the lookup: destroyed now if unreferenced, else at release. */
static void drop(tp_rcache_t *c, size_t i)
{
    entry_t *e = c->v[i];

    memmove(&c->v[i], &c->v[i + 1], (c->n - i - 1) * sizeof(*c->v));
    c->n--;
    c->st.entries = c->n;
    c->st.bytes -= e->end - e->start;
    e->cached = 0;
    if (e->refs == 0) {
        link_del(&e->link);
        destroy(c, e);
    }
}

static void invalidate(void *arg, uintptr_t start, uintptr_t end)
{
    tp_rcache_t *c = arg;

    for (size_t i = find(c, start); i < c->n && c->v[i]->start < end;) {
        drop(c, i);
        c->st.invalidations++;
    }
}

static void evict_lru(tp_rcache_t *c)
{
    drop(c, find(c, entry_of(c->lru.next)->start));
    c->st.evictions++;
}

/* Evict unreferenced entries until one more of len bytes fits. */
static int make_room(tp_rcache_t *c, size_t len)
{
    while (len > c->max_bytes - c->st.bytes || c->n >= c->max_entries) {
        if (c->lru.next == &c->lru)
            return 0;
        evict_lru(c);
    }
    return 1;
}

static rcomm_status_t reg(tp_rcache_t *c, uintptr_t s, uintptr_t e, void **handle)
{
    rcomm_status_t st;
    char hint[192];

    st = c->ops.reg(c->ctx, (void *)s, e - s, handle);
    if (st == RCOMM_ERR_NO_MEMORY && c->lru.next != &c->lru) {
        while (c->lru.next != &c->lru)
            evict_lru(c);
        st = c->ops.reg(c->ctx, (void *)s, e - s, handle);
    }
    if (st != RCOMM_ERR_NO_MEMORY)
        return st;
    tp_memlock_hint(hint, sizeof(hint));
    return base_err(st,
                    "rank %d: cannot register %zu bytes at %p for RDMA (memory-lock "
                    "or device limit, %zu bytes in use by the cache): %s",
                    c->rank, (size_t)(e - s), (void *)s, c->st.bytes, hint);
}

static rcomm_status_t miss(tp_rcache_t *c, uintptr_t s, uintptr_t e,
                           tp_rcache_region_t **out)
{
    int keep = c->mon && e - s <= c->max_bytes;
    uintptr_t us = s, ue = e;
    entry_t *en, **grown;
    rcomm_status_t st;
    size_t i;

    en = calloc(1, sizeof(*en));
    if (!en)
        return base_err(RCOMM_ERR_NO_MEMORY, "rank %d: registration cache: out of memory",
                        c->rank);
    if (keep && c->n == c->cap) {
        grown = realloc(c->v, (c->cap ? 2 * c->cap : 64) * sizeof(*c->v));
        keep = grown != NULL;
        if (grown) {
            c->v = grown;
            c->cap = c->cap ? 2 * c->cap : 64;
        }
    }
    if (keep) {
        for (i = find(c, s); i < c->n && c->v[i]->start < e; i++) {
            us = c->v[i]->start < us ? c->v[i]->start : us;
            ue = c->v[i]->end > ue ? c->v[i]->end : ue;
        }
        if (ue - us <= c->max_bytes) {
            s = us;
            e = ue;
        }
        for (i = find(c, s); i < c->n && c->v[i]->start < e;)
            drop(c, i);
        keep = make_room(c, e - s);
    }
    st = reg(c, s, e, &en->r.handle);
    if (st != RCOMM_OK) {
        free(en);
        return st;
    }
    /* Watched after reg, which populates the pages: a kernel-mode fault on a
     * missing watched page would fail (UFFD_USER_MODE_ONLY). A buffer freed
     * meanwhile was the caller's race; its unmapped range fails the watch. */
    if (keep && tp_memmon_watch(c->mon, s, e) != RCOMM_OK)
        keep = 0;
    en->r.addr = (void *)s;
    en->r.len = e - s;
    en->start = s;
    en->end = e;
    en->refs = 1;
    link_add_tail(&c->busy, &en->link);
    if (keep) {
        i = find(c, s);
        memmove(&c->v[i + 1], &c->v[i], (c->n - i) * sizeof(*c->v));
        c->v[i] = en;
        c->n++;
        en->cached = en->watched = 1;
        c->st.entries = c->n;
        c->st.bytes += e - s;
        c->st.misses++;
    } else {
        c->st.uncached++;
    }
    *out = &en->r;
    return RCOMM_OK;
}

rcomm_status_t tp_rcache_acquire(tp_rcache_t *c, const void *addr, size_t len,
                                 tp_rcache_region_t **out)
{
    uintptr_t a = (uintptr_t)addr, b = a + len;
    entry_t *e;
    size_t i;

    if (len == 0 || b < a)
        return base_err(RCOMM_ERR_INVALID_ARG, "rank %d: cannot register %zu bytes at %p",
                        c->rank, len, addr);
    tp_rcache_poll(c);
    i = find(c, a);
    if (i < c->n && c->v[i]->start <= a && b <= c->v[i]->end) {
        e = c->v[i];
        if (e->refs++ == 0) {
            link_del(&e->link);
            link_add_tail(&c->busy, &e->link);
        }
        c->st.hits++;
        *out = &e->r;
        return RCOMM_OK;
    }
    return miss(c, a & ~(c->page - 1), (b + c->page - 1) & ~(c->page - 1), out);
}

void tp_rcache_release(tp_rcache_t *c, tp_rcache_region_t *r)
{
    entry_t *e = (entry_t *)r;

    if (--e->refs > 0)
        return;
    link_del(&e->link);
    if (e->cached)
        link_add_tail(&c->lru, &e->link);
    else
        destroy(c, e);
}

void tp_rcache_poll(tp_rcache_t *c)
{
    if (c->mon)
        tp_memmon_drain(c->mon, invalidate, c);
}

void tp_rcache_stats(const tp_rcache_t *c, tp_rcache_stats_t *s)
{
    *s = c->st;
}

/* With CAP_IPC_LOCK, RLIMIT_MEMLOCK does not limit registration. */
static int has_ipc_lock(void)
{
    struct __user_cap_header_struct h = {.version = _LINUX_CAPABILITY_VERSION_3};
    struct __user_cap_data_struct d[2];

    if (syscall(SYS_capget, &h, d) != 0)
        return 0;
    return (d[CAP_IPC_LOCK / 32].effective >> (CAP_IPC_LOCK % 32)) & 1;
}

void tp_memlock_hint(char *buf, size_t len)
{
    struct rlimit rl;

    if (getrlimit(RLIMIT_MEMLOCK, &rl) == 0 && rl.rlim_cur == RLIM_INFINITY)
        snprintf(buf, len, "RLIMIT_MEMLOCK is unlimited");
    else
        snprintf(buf, len,
                 "RLIMIT_MEMLOCK is %llu KiB; raise it: ulimit -l unlimited "
                 "(LimitMEMLOCK=infinity under systemd, --ulimit memlock=-1 with Docker)",
                 (unsigned long long)rl.rlim_cur / 1024);
}

rcomm_status_t tp_rcache_create(const tp_rcache_params_t *p, tp_rcache_t **out)
{
    const char *off = getenv("RCOMM_RCACHE_NO_MONITOR");
    tp_rcache_t *c;
    struct rlimit rl;
    char why[160];

    if (!p || !p->ops || !p->ops->reg || !p->ops->dereg)
        return base_err(RCOMM_ERR_INVALID_ARG, "registration cache: reg and dereg are "
                                               "required");
    c = calloc(1, sizeof(*c));
    if (!c)
        return base_err(RCOMM_ERR_NO_MEMORY, "rank %d: registration cache: out of memory",
                        p->rank);
    c->ops = *p->ops;
    c->ctx = p->ctx;
    c->rank = p->rank;
    c->page = (uintptr_t)sysconf(_SC_PAGESIZE);
    c->max_bytes = p->max_bytes ? p->max_bytes : SIZE_MAX;
    c->max_entries = p->max_entries ? p->max_entries : SIZE_MAX;
    /* Leave a quarter of the limit to the transport's own registrations. */
    if (getrlimit(RLIMIT_MEMLOCK, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
        rl.rlim_cur / 4 * 3 < c->max_bytes && !has_ipc_lock())
        c->max_bytes = rl.rlim_cur / 4 * 3;
    link_init(&c->lru);
    link_init(&c->busy);
    if (off && *off && strcmp(off, "0") != 0)
        snprintf(why, sizeof(why), "RCOMM_RCACHE_NO_MONITOR is set");
    else if (tp_memmon_open(&c->mon, why, sizeof(why)) != RCOMM_OK)
        c->mon = NULL;
    if (!c->mon)
        base_log(BASE_LOG_WARN,
                 "rank %d: registration cache off (%s): each transfer from a buffer "
                 "not registered by the user registers and deregisters it",
                 c->rank, why);
    c->st.monitored = c->mon != NULL;
    *out = c;
    return RCOMM_OK;
}

static void destroy_all(tp_rcache_t *c, link_t *head)
{
    while (head->next != head) {
        entry_t *e = entry_of(head->next);
        link_del(&e->link);
        destroy(c, e);
    }
}

void tp_rcache_destroy(tp_rcache_t *c)
{
    if (!c)
        return;
    destroy_all(c, &c->lru);
    destroy_all(c, &c->busy);
    free(c->v);
    tp_memmon_close(c->mon);
    free(c);
}
