/* SPDX-License-Identifier: BSD-3-Clause */
/* Shared-memory transport: mapping the peers' heaps (transports/util/heap.h),
 * so that our one-sided operations there, atomics included, need no work of
 * theirs (see shm.h). */
#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "base/error.h"
#include "transports/shm/shm.h"

#ifndef SYS_pidfd_getfd
#define SYS_pidfd_getfd 438
#endif

bool shm_probe_getfd(const shm_peer_t *p, int32_t fd)
{
    int got;

    if (p->pidfd < 0 || fd < 0)
        return false;
    if ((got = (int)syscall(SYS_pidfd_getfd, p->pidfd, fd, 0)) < 0)
        return false;
    close(got);
    return true;
}

/* A slot for a new mapping: a free one, else the least recently used of
 * those not pinned, which may go only when no queued operation points into
 * it (NULL then, or when every one is pinned). */
static shm_map_t *victim(shm_peer_t *p)
{
    shm_map_t *v = NULL;

    for (int i = 0; i < SHM_MAPS; i++) {
        if (!p->maps[i].ino)
            return &p->maps[i];
        if (!p->maps[i].pins && (!v || p->maps[i].used < v->used))
            v = &p->maps[i];
    }
    if (!v || p->txq.head)
        return NULL;
    munmap(v->addr, v->len);
    v->ino = 0;
    return v;
}

/* Map the file behind the owner's descriptor fd, if it is the one with
 * inode ino: a regular file of at least need bytes. The entry is the
 * peer's word, so each of these is checked here, on our own descriptor. */
static bool map_file(shm_tp_t *tp, shm_peer_t *p, shm_map_t *m, int64_t fd, uint64_t ino,
                     uint64_t need)
{
    struct stat sb;
    void *a;
    int got;

    if (fd < 0 || fd > INT32_MAX)
        return false;
    if ((got = (int)syscall(SYS_pidfd_getfd, p->pidfd, (int)fd, 0)) < 0) {
        if (errno == EPERM || errno == ENOSYS || errno == EACCES) {
            base_log(BASE_LOG_INFO,
                     "rank %d: shm: cannot take rank %d's memory descriptors (%s): its "
                     "one-sided operations go by cross-memory attach and records",
                     tp->base.rank, p->rank, strerror(errno));
            p->getfd = false;
        }
        return false; /* EBADF: the region went away; it will say so */
    }
    if (fstat(got, &sb) != 0 || !S_ISREG(sb.st_mode) || (uint64_t)sb.st_ino != ino ||
        sb.st_size < 0 || (uint64_t)sb.st_size < need ||
        (a = mmap(NULL, (size_t)sb.st_size, PROT_READ | PROT_WRITE, MAP_SHARED, got,
                  0)) == MAP_FAILED) {
        close(got);
        return false;
    }
    close(got);
    *m = (shm_map_t){ino, a, (size_t)sb.st_size, ++tp->map_clock, 0};
    return true;
}

void *shm_map_direct(shm_tp_t *tp, shm_peer_t *p, const shm_view_t *v, uint64_t raddr,
                     uint64_t len, bool pin)
{
    uint64_t at;
    shm_map_t *m = NULL;

    if (!p->getfd || v->fd < 0 || !v->ino || raddr < v->base ||
        v->off > UINT64_MAX - (raddr - v->base))
        return NULL;
    at = v->off + (raddr - v->base);
    if (at > UINT64_MAX - len)
        return NULL;
    for (int i = 0; i < SHM_MAPS && !m; i++)
        if (p->maps[i].ino == v->ino)
            m = &p->maps[i];
    if (!m && (!(m = victim(p)) || !map_file(tp, p, m, v->fd, v->ino, at + len)))
        return NULL;
    if (at + len > m->len)
        return NULL;
    m->used = ++tp->map_clock;
    m->pins += pin;
    return (char *)m->addr + at;
}

void shm_map_unpin(shm_peer_t *p, const void *ptr)
{
    const char *c = ptr;

    for (int i = 0; i < SHM_MAPS; i++)
        if (p->maps[i].ino && p->maps[i].pins && c >= (const char *)p->maps[i].addr &&
            c < (const char *)p->maps[i].addr + p->maps[i].len) {
            p->maps[i].pins--;
            return;
        }
}

void shm_maps_drop(shm_peer_t *p)
{
    for (int i = 0; i < SHM_MAPS; i++)
        if (p->maps[i].ino) {
            munmap(p->maps[i].addr, p->maps[i].len);
            p->maps[i].ino = 0;
        }
}
