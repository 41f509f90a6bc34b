/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Memory monitor: tells registration caches when memory they registered is
 * unmapped, so that a later mmap at the same address is never served by a
 * registration of the old pages.
 *
 * One userfaultfd and one thread per process, started by the first
 * subscriber and stopped with the last. Watched ranges are registered with
 * the userfaultfd (missing mode, unmap/remove/remap events); the kernel makes
 * munmap(), madvise(DONTNEED/REMOVE) and mremap() of a watched range wait
 * until the monitor thread has read the event.
 *
 * Invalidations are queued, not called back: each subscriber has a fixed
 * ring of pending ranges that the thread appends to, and the subscriber
 * applies them with tp_memmon_drain() before each lookup. The thread reads
 * an event and appends it under one lock, and drain takes that lock, so a
 * drain that starts after munmap() returned always sees the range. The
 * thread never calls malloc/free and never takes a lock held across them:
 * a free() that unmaps a watched range blocks until the thread reads it.
 *
 * A removed (madvise) or faulting range is also unwatched by the thread at
 * once, so no thread is ever left blocked on a page fault; its subscribers
 * still unwatch their entries as usual (a no-op for the kernel by then).
 *
 * watch/unwatch/drain/close of one subscriber are called by one thread at a
 * time; different subscribers may be used from different threads.
 */
#ifndef RCOMM_MEMMON_H
#define RCOMM_MEMMON_H

#include <stddef.h>
#include <stdint.h>

#include "rcomm.h"

typedef struct tp_memmon_sub tp_memmon_sub_t;

/* Called by drain for each pending range; [0, UINTPTR_MAX) after the ring
 * overflowed, meaning "invalidate everything". */
typedef void (*tp_memmon_inval_fn)(void *arg, uintptr_t start, uintptr_t end);

/* Subscribe, starting the monitor if needed. On failure (UNSUPPORTED, or
 * NO_MEMORY) nothing is logged: why gets the reason (e.g. userfaultfd not
 * permitted) for the caller, which then works without caching. */
rcomm_status_t tp_memmon_open(tp_memmon_sub_t **sub, char *why, size_t why_len);
/* The subscriber's watches must all be undone first. */
void tp_memmon_close(tp_memmon_sub_t *sub);

/* Watch a page-aligned range. Watches are counted per range across
 * subscribers: the kernel registration goes away with the last unwatch.
 * Fails silently (no log) with RCOMM_ERR_UNSUPPORTED when the range cannot be
 * watched (file-backed, owned by another userfaultfd, not fully mapped, out
 * of memory): the caller must not cache it.
 *
 * In a child forked while the monitor runs, open fails, and subscribers
 * inherited from the parent are inert (watch fails, unwatch and close leave
 * the parent's registrations and thread alone). */
rcomm_status_t tp_memmon_watch(tp_memmon_sub_t *sub, uintptr_t start, uintptr_t end);
/* Undo one successful watch of exactly [start, end). */
void tp_memmon_unwatch(tp_memmon_sub_t *sub, uintptr_t start, uintptr_t end);

/* Apply the pending invalidations: fn is called without any monitor lock
 * held, so it may free memory. Returns the number of ranges. */
size_t tp_memmon_drain(tp_memmon_sub_t *sub, tp_memmon_inval_fn fn, void *arg);

#endif
