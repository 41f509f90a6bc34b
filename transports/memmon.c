/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The userfaultfd memory monitor (see memmon.h). Process-wide by nature: a
 * range can belong to one userfaultfd only, and the kernel reports every
 * unmap of it to that one.
 */
#include "transports/memmon.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef UFFD_USER_MODE_ONLY
#define UFFD_USER_MODE_ONLY 1
#endif

#define MEMMON_FEATURES                                                                  \
    (UFFD_FEATURE_EVENT_UNMAP | UFFD_FEATURE_EVENT_REMOVE | UFFD_FEATURE_EVENT_REMAP)
/* Pending ranges per subscriber; beyond that it invalidates everything. */
#define MEMMON_RING 128
/* A fault unwatches the aligned block around it, not page by page. */
#define MEMMON_FAULT_BLOCK ((uintptr_t)2 << 20)

typedef struct {
    uintptr_t start, end;
} range_t;

struct tp_memmon_sub {
    tp_memmon_sub_t *next; /* the fields below: under mon.lock */
    size_t n;
    int overflow;
    range_t ring[MEMMON_RING];
};

/* A piece of watched address space and how many watches cover it. Pieces
 * are disjoint, sorted, and split at every watched boundary (never merged),
 * so an unwatch finds its own boundaries without allocating. */
typedef struct {
    uintptr_t start, end;
    size_t count;
} seg_t;

static struct {
    /* Users, start/stop and the segments. May be held across malloc/free and
     * ioctls: the thread never takes it. */
    pthread_mutex_t life;
    /* Subscribers and their rings. Never held across malloc/free. */
    pthread_mutex_t lock;
    int users;
    pid_t pid; /* that started the thread: a forked child has no thread */
    int uffd, wake;
    uintptr_t page;
    pthread_t thread;
    tp_memmon_sub_t *subs;
    seg_t *segs;
    size_t nsegs, cap;
} mon = {.life = PTHREAD_MUTEX_INITIALIZER,
         .lock = PTHREAD_MUTEX_INITIALIZER,
         .uffd = -1,
         .wake = -1};

static int uffd_range(unsigned long req, uintptr_t start, uintptr_t end)
{
    struct uffdio_range r = {.start = start, .len = end - start};
    return ioctl(mon.uffd, req, &r);
}

/* Under mon.lock: queue [start, end) for every subscriber. */
static void post(uintptr_t start, uintptr_t end)
{
    for (tp_memmon_sub_t *s = mon.subs; s; s = s->next) {
        range_t *last = s->n ? &s->ring[s->n - 1] : NULL;
        if (last && start <= last->end && end >= last->start) {
            last->start = start < last->start ? start : last->start;
            last->end = end > last->end ? end : last->end;
        } else if (s->n == MEMMON_RING) {
            s->overflow = 1;
        } else {
            s->ring[s->n++] = (range_t){start, end};
        }
    }
}

/* Under mon.lock. A removed or faulting range is unwatched before it is
 * posted, so that a watch made after the subscriber drains it stays. */
static void handle(const struct uffd_msg *m)
{
    uintptr_t s, e;

    switch (m->event) {
    case UFFD_EVENT_UNMAP: /* the kernel registration went with the mapping */
        post(m->arg.remove.start, m->arg.remove.end);
        break;
    case UFFD_EVENT_REMOVE:
        uffd_range(UFFDIO_UNREGISTER, m->arg.remove.start, m->arg.remove.end);
        post(m->arg.remove.start, m->arg.remove.end);
        break;
    case UFFD_EVENT_REMAP: /* the registration moved along: drop it there */
        uffd_range(UFFDIO_UNREGISTER, m->arg.remap.to,
                   m->arg.remap.to + m->arg.remap.len);
        post(m->arg.remap.from, m->arg.remap.from + m->arg.remap.len);
        break;
    case UFFD_EVENT_PAGEFAULT:
        /* Pinned pages do not fault; these were never touched or were
         * dropped. Unregistering wakes the thread, which then faults as
         * usual. The block may reach an incompatible mapping: then the page. */
        s = m->arg.pagefault.address & ~(mon.page - 1);
        e = (s | (MEMMON_FAULT_BLOCK - 1)) + 1;
        s &= ~(MEMMON_FAULT_BLOCK - 1);
        if (uffd_range(UFFDIO_UNREGISTER, s, e) != 0) {
            s = m->arg.pagefault.address & ~(mon.page - 1);
            e = s + mon.page;
            uffd_range(UFFDIO_UNREGISTER, s, e);
        }
        uffd_range(UFFDIO_WAKE, s, e);
        post(s, e);
        break;
    }
}

/* Never calls malloc/free, never logs: a free() in another thread may be
 * waiting for it to read the event (see memmon.h). */
static void *monitor_main(void *unused)
{
    struct pollfd fds[2] = {{.fd = mon.uffd, .events = POLLIN},
                            {.fd = mon.wake, .events = POLLIN}};
    struct uffd_msg msg;

    for (;;) {
        if (poll(fds, 2, -1) < 0)
            continue; /* EINTR; nothing else can fail here */
        if (fds[1].revents)
            return NULL;
        /* Read and post under one lock: the unmapper resumes at the read, and
         * its next drain must find the range. */
        pthread_mutex_lock(&mon.lock);
        while (read(mon.uffd, &msg, sizeof(msg)) == (ssize_t)sizeof(msg))
            handle(&msg);
        pthread_mutex_unlock(&mon.lock);
    }
}

static int open_uffd(char *why, size_t len)
{
    struct uffdio_api api = {.api = UFFD_API, .features = MEMMON_FEATURES};
    int fd;

    fd = (int)syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK | UFFD_USER_MODE_ONLY);
    if (fd < 0 && errno == EINVAL) /* before Linux 5.11 */
        fd = (int)syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) {
        if (errno == EPERM)
            snprintf(why, len,
                     "userfaultfd unavailable (vm.unprivileged_userfaultfd=0 "
                     "and no CAP_SYS_PTRACE, or blocked by seccomp)");
        else
            snprintf(why, len, "userfaultfd unavailable: %s", strerror(errno));
        return -1;
    }
    if (ioctl(fd, UFFDIO_API, &api) != 0) {
        snprintf(why, len, "userfaultfd lacks unmap events: UFFDIO_API: %s",
                 strerror(errno));
        close(fd);
        return -1;
    }
    return fd;
}

static rcomm_status_t monitor_start(char *why, size_t len)
{
    sigset_t all, old;
    int rc;

    mon.page = (uintptr_t)sysconf(_SC_PAGESIZE);
    mon.uffd = open_uffd(why, len);
    if (mon.uffd < 0)
        return RCOMM_ERR_UNSUPPORTED;
    mon.wake = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (mon.wake < 0) {
        snprintf(why, len, "eventfd: %s", strerror(errno));
        goto close_uffd;
    }
    /* The thread takes no signals: a handler there could free() memory. */
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    rc = pthread_create(&mon.thread, NULL, monitor_main, NULL);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc != 0) {
        snprintf(why, len, "cannot start the monitor thread: %s", strerror(rc));
        goto close_wake;
    }
    pthread_setname_np(mon.thread, "rcomm-memmon");
    mon.pid = getpid();
    return RCOMM_OK;

close_wake:
    close(mon.wake);
    mon.wake = -1;
close_uffd:
    close(mon.uffd);
    mon.uffd = -1;
    return RCOMM_ERR_UNSUPPORTED;
}

/* Under mon.life. A forked child inherits this state but not the thread,
 * and the userfaultfd still acts on the parent's memory: hands off. */
static int inherited(void)
{
    return mon.users > 0 && mon.pid != getpid();
}

static void monitor_stop(void)
{
    uint64_t one = 1;

    if (mon.pid == getpid()) {
        while (write(mon.wake, &one, sizeof(one)) < 0 && errno == EINTR)
            ;
        pthread_join(mon.thread, NULL);
    }
    /* Closing drops whatever registrations remain (moved by mremap). */
    close(mon.uffd);
    close(mon.wake);
    mon.uffd = mon.wake = -1;
    free(mon.segs);
    mon.segs = NULL;
    mon.nsegs = mon.cap = 0;
}

/* The child of a fork must not inherit a lock the thread held. */
static void fork_prepare(void)
{
    pthread_mutex_lock(&mon.life);
    pthread_mutex_lock(&mon.lock);
}

static void fork_done(void)
{
    pthread_mutex_unlock(&mon.lock);
    pthread_mutex_unlock(&mon.life);
}

static void fork_handlers(void)
{
    pthread_atfork(fork_prepare, fork_done, fork_done);
}

rcomm_status_t tp_memmon_open(tp_memmon_sub_t **out, char *why, size_t why_len)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    tp_memmon_sub_t *sub;
    rcomm_status_t st;

    pthread_once(&once, fork_handlers);

    /* Touched now: the thread must never fault on it. */
    sub = malloc(sizeof(*sub));
    if (!sub) {
        snprintf(why, why_len, "out of memory");
        return RCOMM_ERR_NO_MEMORY;
    }
    memset(sub, 0, sizeof(*sub));
    pthread_mutex_lock(&mon.life);
    if (inherited()) {
        snprintf(why, why_len, "forked from the process that started the monitor");
        st = RCOMM_ERR_UNSUPPORTED;
    } else {
        st = mon.users > 0 ? RCOMM_OK : monitor_start(why, why_len);
    }
    if (st != RCOMM_OK) {
        pthread_mutex_unlock(&mon.life);
        free(sub);
        return st;
    }
    mon.users++;
    pthread_mutex_lock(&mon.lock);
    sub->next = mon.subs;
    mon.subs = sub;
    pthread_mutex_unlock(&mon.lock);
    pthread_mutex_unlock(&mon.life);
    *out = sub;
    return RCOMM_OK;
}

void tp_memmon_close(tp_memmon_sub_t *sub)
{
    tp_memmon_sub_t **p;

    if (!sub)
        return;
    pthread_mutex_lock(&mon.life);
    pthread_mutex_lock(&mon.lock);
    for (p = &mon.subs; *p != sub; p = &(*p)->next)
        ;
    *p = sub->next;
    pthread_mutex_unlock(&mon.lock);
    if (--mon.users == 0)
        monitor_stop();
    pthread_mutex_unlock(&mon.life);
    free(sub);
}

/* Index of the first segment ending after addr. */
static size_t seg_find(uintptr_t addr)
{
    size_t lo = 0, hi = mon.nsegs;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (mon.segs[mid].end > addr)
            hi = mid;
        else
            lo = mid + 1;
    }
    return lo;
}

/* Capacity was reserved by the caller. */
static void seg_insert(size_t i, seg_t s)
{
    memmove(&mon.segs[i + 1], &mon.segs[i], (mon.nsegs - i) * sizeof(seg_t));
    mon.segs[i] = s;
    mon.nsegs++;
}

static void seg_split(uintptr_t addr)
{
    size_t i = seg_find(addr);
    seg_t hi;

    if (i < mon.nsegs && mon.segs[i].start < addr) {
        hi = mon.segs[i];
        hi.start = addr;
        mon.segs[i].end = addr;
        seg_insert(i + 1, hi);
    }
}

rcomm_status_t tp_memmon_watch(tp_memmon_sub_t *sub, uintptr_t start, uintptr_t end)
{
    struct uffdio_register reg = {.range = {.start = start, .len = end - start},
                                  .mode = UFFDIO_REGISTER_MODE_MISSING};
    uintptr_t cur = start;
    size_t i, need;
    seg_t *grown;

    pthread_mutex_lock(&mon.life);
    /* Worst case: two splits plus one new piece per gap. */
    need = 2 * mon.nsegs + 3;
    if (need > mon.cap && (grown = realloc(mon.segs, need * sizeof(seg_t)))) {
        mon.segs = grown;
        mon.cap = need;
    }
    /* Always ask the kernel: a counted range may have been unmapped and
     * mapped again since, without our registration. */
    if (inherited() || need > mon.cap || ioctl(mon.uffd, UFFDIO_REGISTER, &reg) != 0) {
        pthread_mutex_unlock(&mon.life);
        return RCOMM_ERR_UNSUPPORTED;
    }
    seg_split(start);
    seg_split(end);
    for (i = seg_find(start); cur < end; i++) {
        if (i < mon.nsegs && mon.segs[i].start == cur) {
            mon.segs[i].count++;
        } else {
            uintptr_t gap_end =
                i < mon.nsegs && mon.segs[i].start < end ? mon.segs[i].start : end;
            seg_insert(i, (seg_t){cur, gap_end, 1});
        }
        cur = mon.segs[i].end;
    }
    pthread_mutex_unlock(&mon.life);
    return RCOMM_OK;
}

void tp_memmon_unwatch(tp_memmon_sub_t *sub, uintptr_t start, uintptr_t end)
{
    size_t i, j, k;
    uintptr_t zs = 0, ze = 0; /* run of pieces no longer watched */

    pthread_mutex_lock(&mon.life);
    if (inherited()) {
        pthread_mutex_unlock(&mon.life);
        return;
    }
    i = j = seg_find(start);
    for (k = i; k < mon.nsegs && mon.segs[k].start < end; k++) {
        seg_t s = mon.segs[k];
        if (--s.count > 0) {
            mon.segs[j++] = s;
            continue;
        }
        if (ze != s.start) {
            if (ze > zs)
                uffd_range(UFFDIO_UNREGISTER, zs, ze);
            zs = s.start;
        }
        ze = s.end;
    }
    if (ze > zs)
        uffd_range(UFFDIO_UNREGISTER, zs, ze);
    memmove(&mon.segs[j], &mon.segs[k], (mon.nsegs - k) * sizeof(seg_t));
    mon.nsegs -= k - j;
    pthread_mutex_unlock(&mon.life);
}

size_t tp_memmon_drain(tp_memmon_sub_t *sub, tp_memmon_inval_fn fn, void *arg)
{
    range_t copy[MEMMON_RING];
    size_t n;
    int overflow;

    pthread_mutex_lock(&mon.lock);
    n = sub->n;
    overflow = sub->overflow;
    memcpy(copy, sub->ring, n * sizeof(range_t));
    sub->n = 0;
    sub->overflow = 0;
    pthread_mutex_unlock(&mon.lock);
    if (overflow) {
        fn(arg, 0, UINTPTR_MAX);
        return 1;
    }
    for (size_t i = 0; i < n; i++)
        fn(arg, copy[i].start, copy[i].end);
    return n;
}
