/* SPDX-License-Identifier: BSD-3-Clause */
/* Unit tests: the registration cache over a mock reg/dereg, and the memory
 * monitor that invalidates it when the user unmaps. Each test runs in its own
 * process (Check's fork mode), so the process-wide monitor starts fresh.
 * Tests that need userfaultfd pass with a note when it is unavailable. */
#include <check.h>
#include <linux/magic.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/vfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/error.h"
#include "rcomm.h"
#include "suite_run.h"
#include "transports/rcache.h"

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define MALLOC_INTERCEPTED 1 /* free() keeps the memory mapped for a while */
#else
#define MALLOC_INTERCEPTED 0
#endif

#define MOCK_MAX 512

typedef struct {
    char *addr;
    size_t len;
    int live;
} mock_reg_t;

static struct {
    mock_reg_t regs[MOCK_MAX];
    int nregs, nderegs;
    size_t live_bytes;
    size_t limit; /* NO_MEMORY past this many live bytes (0 = none) */
    int no_touch; /* do not populate pages the way pinning does */
} mock;

static size_t pg;
static pthread_mutex_t mock_lock = PTHREAD_MUTEX_INITIALIZER; /* two-thread test */

/* Like pinning: whole pages, around the buffer too (hence not for ASan). */
__attribute__((no_sanitize_address)) static void touch(const char *addr, size_t len)
{
    for (size_t o = 0; o < len; o += pg)
        (void)((const volatile char *)addr)[o];
}

static rcomm_status_t mock_reg(void *ctx, void *addr, size_t len, void **handle)
{
    mock_reg_t *r;

    ck_assert_uint_eq((uintptr_t)addr % pg, 0);
    ck_assert_uint_eq(len % pg, 0);
    if (!mock.no_touch)
        touch(addr, len);
    pthread_mutex_lock(&mock_lock);
    if (mock.limit && mock.live_bytes + len > mock.limit) {
        pthread_mutex_unlock(&mock_lock);
        return RCOMM_ERR_NO_MEMORY;
    }
    ck_assert_int_lt(mock.nregs, MOCK_MAX);
    r = &mock.regs[mock.nregs++];
    *r = (mock_reg_t){addr, len, 1};
    mock.live_bytes += len;
    pthread_mutex_unlock(&mock_lock);
    *handle = r;
    return RCOMM_OK;
}

static void mock_dereg(void *ctx, void *handle)
{
    mock_reg_t *r = handle;

    pthread_mutex_lock(&mock_lock);
    ck_assert(r->live);
    r->live = 0;
    mock.live_bytes -= r->len;
    mock.nderegs++;
    pthread_mutex_unlock(&mock_lock);
}

static const tp_rcache_ops_t mock_ops = {.reg = mock_reg, .dereg = mock_dereg};

static tp_rcache_t *make_cache(size_t max_bytes, size_t max_entries)
{
    tp_rcache_params_t p = {
        .ops = &mock_ops, .max_bytes = max_bytes, .max_entries = max_entries, .rank = 3};
    tp_rcache_t *c;

    setenv("RCOMM_LOG_LEVEL", "none", 1);
    pg = (size_t)sysconf(_SC_PAGESIZE);
    ck_assert_int_eq(tp_rcache_create(&p, &c), RCOMM_OK);
    return c;
}

static tp_rcache_stats_t stats(const tp_rcache_t *c)
{
    tp_rcache_stats_t s;
    tp_rcache_stats(c, &s);
    return s;
}

/* Caching needs the monitor: without it the test has nothing to check. */
static int need_monitor(tp_rcache_t *c)
{
    if (stats(c).monitored)
        return 1;
    fprintf(stderr, "unit_rcache: userfaultfd unavailable, caching test skipped\n");
    tp_rcache_destroy(c);
    return 0;
}

static char *map(size_t pages)
{
    char *p = mmap(NULL, pages * pg, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
                   -1, 0);
    ck_assert(p != MAP_FAILED);
    memset(p, 1, pages * pg);
    return p;
}

static tp_rcache_region_t *get(tp_rcache_t *c, const void *addr, size_t len)
{
    tp_rcache_region_t *r = NULL;
    ck_assert_int_eq(tp_rcache_acquire(c, addr, len, &r), RCOMM_OK);
    ck_assert((const char *)r->addr <= (const char *)addr);
    ck_assert((const char *)r->addr + r->len >= (const char *)addr + len);
    return r;
}

static void use(tp_rcache_t *c, const void *addr, size_t len)
{
    tp_rcache_release(c, get(c, addr, len));
}

START_TEST(hit_on_same_and_contained_range)
{
    tp_rcache_t *c = make_cache(0, 0);
    tp_rcache_region_t *r, *r2;
    char *buf = map(4);

    if (!need_monitor(c))
        return;
    r = get(c, buf + 10, 3 * pg);
    ck_assert_ptr_eq(r->addr, buf);
    ck_assert_uint_eq(r->len, 4 * pg);
    tp_rcache_release(c, r);
    r2 = get(c, buf + 10, 3 * pg);
    ck_assert_ptr_eq(r2, r);
    tp_rcache_release(c, r2);
    r2 = get(c, buf + pg + 100, 500);
    ck_assert_ptr_eq(r2->handle, &mock.regs[0]);
    tp_rcache_release(c, r2);
    ck_assert_uint_eq(stats(c).hits, 2);
    ck_assert_uint_eq(stats(c).misses, 1);
    ck_assert_int_eq(mock.nregs, 1);
    ck_assert_int_eq(mock.nderegs, 0);
    tp_rcache_destroy(c);
    ck_assert_int_eq(mock.nderegs, 1);
}
END_TEST

START_TEST(miss_on_other_buffer_and_union_on_overlap)
{
    tp_rcache_t *c = make_cache(0, 0);
    char *buf = map(8);

    if (!need_monitor(c))
        return;
    use(c, buf, pg);
    use(c, buf + 4 * pg, pg);
    ck_assert_uint_eq(stats(c).misses, 2);
    ck_assert_uint_eq(stats(c).entries, 2);
    /* Shares a page with the first: one entry covering both replaces it. */
    use(c, buf + pg - 8, 2 * pg);
    ck_assert_uint_eq(stats(c).misses, 3);
    ck_assert_int_eq(mock.regs[0].live, 0);
    ck_assert_ptr_eq(mock.regs[2].addr, buf);
    ck_assert_uint_eq(mock.regs[2].len, 3 * pg);
    use(c, buf, 3 * pg);
    ck_assert_uint_eq(stats(c).hits, 1);
    ck_assert_uint_eq(stats(c).entries, 2);
    ck_assert_uint_eq(stats(c).bytes, 4 * pg);
    tp_rcache_destroy(c);
    ck_assert_int_eq(mock.nderegs, mock.nregs);
}
END_TEST

/* Pages 0, 2, 4, 6 of a mapping: A, B, C, D, never sharing a page. */
static void lru_order(tp_rcache_t *c, char *buf)
{
    use(c, buf, pg);          /* A */
    use(c, buf + 2 * pg, pg); /* B */
    use(c, buf + 4 * pg, pg); /* C */
    use(c, buf, pg);          /* A again: B is now the least recently released */
    use(c, buf + 6 * pg, pg); /* D evicts B */
    ck_assert_uint_eq(stats(c).evictions, 1);
    ck_assert_int_eq(mock.regs[1].live, 0);
    ck_assert_int_eq(mock.nderegs, 1);
    use(c, buf, pg);
    ck_assert_uint_eq(stats(c).hits, 2);
    use(c, buf + 2 * pg, pg);
    ck_assert_uint_eq(stats(c).misses, 5);
    tp_rcache_destroy(c);
    ck_assert_int_eq(mock.nderegs, mock.nregs);
}

START_TEST(lru_eviction_by_bytes)
{
    tp_rcache_t *c = make_cache(3 * (size_t)sysconf(_SC_PAGESIZE), 0);

    if (need_monitor(c))
        lru_order(c, map(8));
}
END_TEST

START_TEST(lru_eviction_by_entries)
{
    tp_rcache_t *c = make_cache(0, 3);

    if (need_monitor(c))
        lru_order(c, map(8));
}
END_TEST

START_TEST(referenced_entries_are_never_evicted)
{
    tp_rcache_t *c = make_cache(0, 1);
    tp_rcache_region_t *a, *b;
    char *buf = map(4);

    if (!need_monitor(c))
        return;
    a = get(c, buf, pg);
    b = get(c, buf + 2 * pg, pg); /* no room: A is in use */
    ck_assert_uint_eq(stats(c).uncached, 1);
    ck_assert_int_eq(mock.regs[0].live, 1);
    tp_rcache_release(c, b);
    ck_assert_int_eq(mock.regs[1].live, 0);
    tp_rcache_release(c, a);
    ck_assert_int_eq(mock.regs[0].live, 1);
    use(c, buf + 2 * pg, pg); /* now A can go */
    ck_assert_uint_eq(stats(c).evictions, 1);
    ck_assert_int_eq(mock.regs[0].live, 0);
    ck_assert_uint_eq(stats(c).entries, 1);
    tp_rcache_destroy(c);
}
END_TEST

START_TEST(oversized_request_is_uncached)
{
    tp_rcache_t *c = make_cache(2 * (size_t)sysconf(_SC_PAGESIZE), 0);
    tp_rcache_region_t *r;
    char *buf = map(4);

    if (!need_monitor(c))
        return;
    r = get(c, buf, 4 * pg);
    ck_assert_uint_eq(stats(c).uncached, 1);
    ck_assert_uint_eq(stats(c).entries, 0);
    tp_rcache_release(c, r);
    ck_assert_int_eq(mock.nderegs, 1);
    use(c, buf, pg); /* a small one still caches */
    ck_assert_uint_eq(stats(c).entries, 1);
    tp_rcache_destroy(c);
}
END_TEST

START_TEST(no_memory_evicts_and_retries)
{
    tp_rcache_t *c = make_cache(0, 0);
    tp_rcache_region_t *r;
    char *buf = map(8);

    if (!need_monitor(c))
        return;
    mock.limit = 3 * pg;
    use(c, buf, pg);
    use(c, buf + 2 * pg, pg);
    r = get(c, buf + 4 * pg, 2 * pg); /* fails once, fits after evicting both */
    ck_assert_uint_eq(stats(c).evictions, 2);
    ck_assert_int_eq(mock.regs[0].live + mock.regs[1].live, 0);
    ck_assert_uint_eq(stats(c).entries, 1);
    tp_rcache_release(c, r);
    tp_rcache_destroy(c);
}
END_TEST

START_TEST(no_memory_error_names_rank_size_and_memlock)
{
    tp_rcache_t *c = make_cache(0, 0);
    tp_rcache_region_t *held, *r = NULL;
    char *buf = map(8), hint[192], want[64];

    mock.limit = 2 * pg;
    held = get(c, buf, pg);
    ck_assert_int_eq(tp_rcache_acquire(c, buf + 4 * pg, 2 * pg, &r), RCOMM_ERR_NO_MEMORY);
    ck_assert_ptr_null(r);
    tp_memlock_hint(hint, sizeof(hint));
    ck_assert_ptr_nonnull(strstr(hint, "RLIMIT_MEMLOCK"));
    ck_assert_ptr_nonnull(strstr(rcomm_last_error(), hint));
    ck_assert_ptr_nonnull(strstr(rcomm_last_error(), "rank 3"));
    snprintf(want, sizeof(want), "%zu bytes at %p", 2 * pg, (void *)(buf + 4 * pg));
    ck_assert_ptr_nonnull(strstr(rcomm_last_error(), want));
    ck_assert_int_eq(mock.regs[0].live, 1); /* in use: not evicted */
    tp_rcache_release(c, held);
    tp_rcache_destroy(c);
    ck_assert_int_eq(mock.nderegs, mock.nregs);
}
END_TEST

/* The hazard the monitor exists for: same address, new pages. */
START_TEST(munmap_then_mmap_same_address_misses)
{
    tp_rcache_t *c = make_cache(0, 0);
    char *buf = map(4), *again;
    int rc;

    if (!need_monitor(c))
        return;
    use(c, buf, 4 * pg);
    use(c, buf, 4 * pg);
    /* Nothing in between: an allocation could take the hole. */
    rc = munmap(buf, 4 * pg);
    again = mmap(buf, 4 * pg, PROT_READ | PROT_WRITE,
                 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
    ck_assert_int_eq(rc, 0);
    if (again != buf) { /* an old kernel treats the address as a hint */
        fprintf(stderr, "unit_rcache: address not reusable, remap test skipped\n");
        tp_rcache_destroy(c);
        return;
    }
    memset(again, 2, 4 * pg);
    use(c, again, 4 * pg);
    ck_assert_uint_eq(stats(c).hits, 1);
    ck_assert_uint_eq(stats(c).misses, 2);
    ck_assert_uint_eq(stats(c).invalidations, 1);
    ck_assert_int_eq(mock.nregs, 2);
    ck_assert_int_eq(mock.regs[0].live, 0);
    ck_assert_int_eq(mock.regs[1].live, 1);
    /* And the new mapping is watched in turn. */
    ck_assert_int_eq(munmap(again, 4 * pg), 0);
    tp_rcache_poll(c);
    ck_assert_uint_eq(stats(c).invalidations, 2);
    ck_assert_int_eq(mock.nderegs, 2);
    tp_rcache_destroy(c);
}
END_TEST

/* The same with no hole to lose: mmap(MAP_FIXED) over the cached range. */
START_TEST(mmap_fixed_over_cached_range_misses)
{
    tp_rcache_t *c = make_cache(0, 0);
    char *buf = map(4), *again;

    if (!need_monitor(c))
        return;
    use(c, buf, 4 * pg);
    again = mmap(buf + pg, 2 * pg, PROT_READ | PROT_WRITE,
                 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
    ck_assert_ptr_eq(again, buf + pg);
    memset(again, 2, 2 * pg);
    use(c, buf, 4 * pg);
    ck_assert_uint_eq(stats(c).hits, 0);
    ck_assert_uint_eq(stats(c).invalidations, 1);
    ck_assert_int_eq(mock.regs[0].live, 0);
    ck_assert_int_eq(mock.regs[1].live, 1);
    tp_rcache_destroy(c);
}
END_TEST

START_TEST(madvise_dontneed_invalidates_without_hang)
{
    tp_rcache_t *c = make_cache(0, 0);
    char *buf = map(8);

    if (!need_monitor(c))
        return;
    alarm(10);
    use(c, buf, 8 * pg);
    ck_assert_int_eq(madvise(buf + 2 * pg, pg, MADV_DONTNEED), 0);
    memset(buf, 3, 8 * pg); /* the dropped page faults in anew */
    ck_assert_int_eq(buf[2 * pg], 3);
    use(c, buf, 8 * pg);
    ck_assert_uint_eq(stats(c).invalidations, 1);
    ck_assert_uint_eq(stats(c).misses, 2);
    ck_assert_int_eq(mock.regs[0].live, 0);
    tp_rcache_destroy(c);
    alarm(0);
}
END_TEST

/* Pages reg did not populate fault into the monitor, which must let the
 * faulting thread go (and drop the entry, which no longer pins them). */
START_TEST(first_touch_of_watched_page_does_not_hang)
{
    tp_rcache_t *c = make_cache(0, 0);
    tp_rcache_region_t *r;
    char *buf;

    if (!need_monitor(c))
        return;
    alarm(10);
    mock.no_touch = 1;
    buf = mmap(NULL, 8 * pg, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    ck_assert(buf != MAP_FAILED);
    r = get(c, buf, 8 * pg);
    memset(buf, 4, 8 * pg);
    tp_rcache_release(c, r);
    use(c, buf, 8 * pg);
    ck_assert_uint_ge(stats(c).invalidations, 1);
    ck_assert_int_eq(mock.regs[0].live, 0);
    tp_rcache_destroy(c);
    alarm(0);
}
END_TEST

START_TEST(free_of_large_malloc_invalidates)
{
    tp_rcache_t *c = make_cache(0, 0);
    size_t n = 8 << 20;
    char *p = malloc(n), *other = map(1);

    ck_assert_ptr_nonnull(p);
    if (!need_monitor(c)) {
        free(p);
        return;
    }
    memset(p, 5, n);
    use(c, p, n);
    free(p); /* glibc unmaps chunks this large */
    use(c, other, pg);
    if (!MALLOC_INTERCEPTED) {
        ck_assert_uint_eq(stats(c).invalidations, 1);
        ck_assert_int_eq(mock.regs[0].live, 0);
    }
    tp_rcache_destroy(c);
}
END_TEST

START_TEST(invalidated_while_in_use_goes_at_release)
{
    tp_rcache_t *c = make_cache(0, 0);
    tp_rcache_region_t *r;
    char *buf = map(4), *other = map(1);

    if (!need_monitor(c))
        return;
    r = get(c, buf, 4 * pg);
    ck_assert_int_eq(munmap(buf, 4 * pg), 0); /* a user bug, not a crash */
    use(c, other, pg);
    ck_assert_uint_eq(stats(c).invalidations, 1);
    ck_assert_int_eq(mock.regs[0].live, 1);
    ck_assert_uint_eq(stats(c).entries, 1);
    tp_rcache_release(c, r);
    ck_assert_int_eq(mock.regs[0].live, 0);
    tp_rcache_destroy(c);
}
END_TEST

/* One cache going away must not unwatch pages another still caches. */
START_TEST(two_caches_share_a_watched_range)
{
    tp_rcache_t *c1 = make_cache(0, 0), *c2 = make_cache(0, 0);
    char *buf = map(4), *other = map(1);

    if (!need_monitor(c1)) {
        tp_rcache_destroy(c2);
        return;
    }
    use(c1, buf, 4 * pg);
    use(c2, buf + pg, pg);
    tp_rcache_destroy(c1);
    ck_assert_int_eq(munmap(buf, 4 * pg), 0);
    use(c2, other, pg);
    ck_assert_uint_eq(stats(c2).invalidations, 1);
    ck_assert_int_eq(mock.regs[1].live, 0);
    tp_rcache_destroy(c2);
}
END_TEST

START_TEST(file_backed_buffer_is_uncached)
{
    tp_rcache_t *c = make_cache(0, 0);
    tp_rcache_region_t *r;
    struct statfs fs;
    FILE *f = fopen("/proc/self/exe", "r");
    char *p;

    ck_assert_ptr_nonnull(f);
    p = mmap(NULL, pg, PROT_READ, MAP_PRIVATE, fileno(f), 0);
    ck_assert(p != MAP_FAILED);
    fclose(f);
    if (!need_monitor(c))
        return;
    ck_assert_int_eq(statfs("/proc/self/exe", &fs), 0);
    if (fs.f_type == TMPFS_MAGIC) { /* shmem can be watched */
        tp_rcache_destroy(c);
        return;
    }
    r = get(c, p, 64);
    ck_assert_uint_eq(stats(c).uncached, 1);
    tp_rcache_release(c, r);
    ck_assert_int_eq(mock.nderegs, 1);
    tp_rcache_destroy(c);
}
END_TEST

/* More pending ranges than the ring holds: everything is invalidated. */
START_TEST(ring_overflow_invalidates_everything)
{
    enum { N = 200 };
    tp_rcache_t *c = make_cache(0, 0);
    char *buf = map(2 * N + 2), *other = buf + 2 * N * pg;

    if (!need_monitor(c))
        return;
    for (int i = 0; i < N; i++)
        use(c, buf + 2 * i * pg, pg);
    use(c, other, pg);
    for (int i = 0; i < N; i++)
        ck_assert_int_eq(munmap(buf + 2 * i * pg, pg), 0);
    use(c, other, pg);
    ck_assert_uint_eq(stats(c).invalidations, N + 1);
    ck_assert_int_eq(mock.nderegs, N + 1);
    tp_rcache_destroy(c);
}
END_TEST

START_TEST(without_monitor_every_release_deregisters)
{
    tp_rcache_t *c;
    char *buf;

    setenv("RCOMM_RCACHE_NO_MONITOR", "1", 1);
    c = make_cache(0, 0);
    buf = map(4);
    ck_assert_int_eq(stats(c).monitored, 0);
    for (int i = 0; i < 3; i++) {
        use(c, buf, 4 * pg);
        ck_assert_int_eq(mock.nderegs, i + 1);
    }
    ck_assert_uint_eq(stats(c).uncached, 3);
    ck_assert_uint_eq(stats(c).hits + stats(c).misses, 0);
    tp_rcache_destroy(c);
    unsetenv("RCOMM_RCACHE_NO_MONITOR");
}
END_TEST

/* The monitor thread stops with its last user and starts again. */
START_TEST(monitor_restarts)
{
    for (int i = 0; i < 20; i++) {
        tp_rcache_t *c = make_cache(0, 0);
        char *buf = map(1);
        use(c, buf, pg);
        use(c, buf, pg);
        ck_assert_uint_eq(stats(c).hits, stats(c).monitored ? 1 : 0);
        tp_rcache_destroy(c);
        munmap(buf, pg);
    }
}
END_TEST

/* A child forked while the monitor runs has no monitor thread: it runs
 * uncached, and dropping what it inherited leaves the parent's monitor be. */
START_TEST(forked_child_runs_uncached)
{
    tp_rcache_t *c = make_cache(0, 0);
    char *buf = map(2), *other = map(1);
    int status;
    pid_t pid;

    use(c, buf, pg);
    pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        tp_rcache_t *child = make_cache(0, 0);
        int ok = !stats(child).monitored, before = mock.nderegs;
        use(child, buf, pg);
        use(child, buf, pg);
        ok = ok && stats(child).uncached == 2 && mock.nderegs == before + 2;
        tp_rcache_destroy(child);
        tp_rcache_destroy(c);
        _exit(ok ? 0 : 1);
    }
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    if (stats(c).monitored) {
        alarm(10);
        ck_assert_int_eq(munmap(buf, 2 * pg), 0);
        use(c, other, pg);
        ck_assert_uint_eq(stats(c).invalidations, 1);
        alarm(0);
    }
    tp_rcache_destroy(c);
}
END_TEST

/* Caches in two threads, each remapping its own buffers, sharing the monitor. */
static void *remap_loop(void *arg)
{
    tp_rcache_t *c = arg;
    long bad = 0;

    for (int i = 0; i < 100; i++) {
        char *buf = mmap(NULL, 4 * pg, PROT_READ | PROT_WRITE,
                         MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        tp_rcache_region_t *r;
        memset(buf, 6, 4 * pg);
        if (tp_rcache_acquire(c, buf, 4 * pg, &r) != RCOMM_OK)
            return (void *)1;
        tp_rcache_release(c, r);
        munmap(buf, 4 * pg);
        bad += stats(c).hits != 0; /* a stale hit would show here */
    }
    return (void *)bad;
}

START_TEST(threads_share_the_monitor)
{
    tp_rcache_t *c[2] = {make_cache(0, 0), make_cache(0, 0)};
    pthread_t t[2];
    void *bad;

    if (!need_monitor(c[0])) {
        tp_rcache_destroy(c[1]);
        return;
    }
    for (int i = 0; i < 2; i++)
        ck_assert_int_eq(pthread_create(&t[i], NULL, remap_loop, c[i]), 0);
    for (int i = 0; i < 2; i++) {
        ck_assert_int_eq(pthread_join(t[i], &bad), 0);
        ck_assert_ptr_null(bad);
        tp_rcache_poll(c[i]);
        ck_assert_uint_eq(stats(c[i]).entries, 0);
        tp_rcache_destroy(c[i]);
    }
    ck_assert_int_eq(mock.nderegs, mock.nregs);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("rcache");
    TCase *tc = tcase_create("core");

    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, hit_on_same_and_contained_range);
    tcase_add_test(tc, miss_on_other_buffer_and_union_on_overlap);
    tcase_add_test(tc, lru_eviction_by_bytes);
    tcase_add_test(tc, lru_eviction_by_entries);
    tcase_add_test(tc, referenced_entries_are_never_evicted);
    tcase_add_test(tc, oversized_request_is_uncached);
    tcase_add_test(tc, no_memory_evicts_and_retries);
    tcase_add_test(tc, no_memory_error_names_rank_size_and_memlock);
    tcase_add_test(tc, munmap_then_mmap_same_address_misses);
    tcase_add_test(tc, mmap_fixed_over_cached_range_misses);
    tcase_add_test(tc, madvise_dontneed_invalidates_without_hang);
    tcase_add_test(tc, first_touch_of_watched_page_does_not_hang);
    tcase_add_test(tc, free_of_large_malloc_invalidates);
    tcase_add_test(tc, invalidated_while_in_use_goes_at_release);
    tcase_add_test(tc, two_caches_share_a_watched_range);
    tcase_add_test(tc, file_backed_buffer_is_uncached);
    tcase_add_test(tc, ring_overflow_invalidates_everything);
    tcase_add_test(tc, without_monitor_every_release_deregisters);
    tcase_add_test(tc, monitor_restarts);
    tcase_add_test(tc, forked_child_runs_uncached);
    tcase_add_test(tc, threads_share_the_monitor);
    suite_add_tcase(s, tc);
    return unit_run(s);
}
