/* SPDX-License-Identifier: BSD-3-Clause */
/* Shared-memory transport: the host identity, the segment and its rings
 * (see shm.h). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/error.h"
#include "transports/shm/shm.h"

static size_t align_up(size_t n, size_t a)
{
    return (n + a - 1) / a * a;
}

/* ---- which host -------------------------------------------------------- */

static int hexval(int c)
{
    return c >= '0' && c <= '9'   ? c - '0'
           : c >= 'a' && c <= 'f' ? c - 'a' + 10
           : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                  : -1;
}

rcomm_status_t shm_host_id(shm_hostid_t *id, char *why, size_t whylen)
{
    char text[64] = "";
    struct stat st;
    FILE *f;
    int n = 0;

    memset(id, 0, sizeof(*id));
    if ((f = fopen("/proc/sys/kernel/random/boot_id", "re"))) {
        if (!fgets(text, sizeof(text), f))
            text[0] = '\0';
        fclose(f);
    }
    for (const char *c = text; *c && n < 32; c++)
        if (hexval(*c) >= 0) {
            id->boot_id[n / 2] = (unsigned char)(id->boot_id[n / 2] << 4 | hexval(*c));
            n++;
        }
    if (n != 32) {
        snprintf(why, whylen, "cannot read the kernel's boot_id");
        return RCOMM_ERR_UNSUPPORTED;
    }
    if (stat("/proc/self/ns/net", &st) != 0) {
        snprintf(why, whylen, "cannot stat /proc/self/ns/net: %s", strerror(errno));
        return RCOMM_ERR_UNSUPPORTED;
    }
    id->netns = st.st_ino;
    if (stat("/proc/self/ns/pid", &st) != 0) {
        snprintf(why, whylen, "cannot stat /proc/self/ns/pid: %s", strerror(errno));
        return RCOMM_ERR_UNSUPPORTED;
    }
    id->pidns = st.st_ino;
    if (stat("/dev/shm", &st) != 0) {
        snprintf(why, whylen, "no /dev/shm: %s", strerror(errno));
        return RCOMM_ERR_UNSUPPORTED;
    }
    id->shm_dev = st.st_dev;
    id->uid = (uint32_t)getuid();
    return RCOMM_OK;
}

bool tp_shm_host_id(unsigned char id[TP_HOST_ID_LEN])
{
    shm_hostid_t h;
    char why[160];

    _Static_assert(sizeof(h) == TP_HOST_ID_LEN, "the host identity's size");
    if (shm_host_id(&h, why, sizeof(why)) != RCOMM_OK)
        return false;
    memcpy(id, &h, sizeof(h));
    return true;
}

void shm_host_describe(const shm_hostid_t *id, char *buf, size_t len)
{
    snprintf(buf, len,
             "boot %02x%02x%02x%02x..., netns %" PRIu64 ", pidns %" PRIu64
             ", /dev/shm device %" PRIu64 ", uid %u",
             id->boot_id[0], id->boot_id[1], id->boot_id[2], id->boot_id[3], id->netns,
             id->pidns, id->shm_dev, id->uid);
}

/* ---- the segment -------------------------------------------------------- */

typedef struct {
    size_t ring_of, mrs, rings, total;
} layout_t;

static layout_t layout(int size, int nrings, size_t ring_bytes)
{
    layout_t l;

    l.ring_of = align_up(sizeof(shm_seghdr_t), SHM_ALIGN);
    l.mrs = l.ring_of + align_up((size_t)size * sizeof(int32_t), SHM_ALIGN);
    l.rings = l.mrs + align_up(SHM_MAX_MRS * sizeof(shm_mrent_t), SHM_ALIGN);
    l.total = l.rings + (size_t)nrings * (sizeof(shm_ring_t) + ring_bytes);
    return l;
}

shm_ring_t *shm_ring_at(void *rings, size_t ring_bytes, int i)
{
    return (shm_ring_t *)((char *)rings + (size_t)i * (sizeof(shm_ring_t) + ring_bytes));
}

/* Is pid a live process? A zombie is not: its parent (a launcher) has not
 * reaped it yet. */
bool shm_pid_alive(long pid)
{
    char path[64], stat[256] = "";
    const char *end;
    FILE *f;

    if (kill((pid_t)pid, 0) != 0 && errno == ESRCH)
        return false;
    snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
    if (!(f = fopen(path, "re")))
        return true;
    if (!fgets(stat, sizeof(stat), f))
        stat[0] = '\0';
    fclose(f);
    end = strrchr(stat, ')'); /* the state follows the command's name */
    return !(end && end[1] == ' ' && (end[2] == 'Z' || end[2] == 'X'));
}

/* Names left by ranks of this user and PID namespace whose process is gone
 * (killed between create and connect, before the name was unlinked). */
static void sweep(const shm_tp_t *tp)
{
    char prefix[64];
    struct dirent *e;
    DIR *d = opendir("/dev/shm");
    size_t plen;

    if (!d)
        return;
    plen = (size_t)snprintf(prefix, sizeof(prefix), "rcomm-%u-%" PRIu64 "-", tp->host.uid,
                            tp->host.pidns);
    while ((e = readdir(d))) {
        char *end, path[300];
        long pid;
        if (strncmp(e->d_name, prefix, plen) != 0)
            continue;
        pid = strtol(e->d_name + plen, &end, 10);
        if (*end != '-' || pid <= 0 || pid == (long)getpid() || shm_pid_alive(pid))
            continue;
        snprintf(path, sizeof(path), "/%s", e->d_name);
        if (shm_unlink(path) == 0)
            base_log(BASE_LOG_INFO, "shm: removed /dev/shm%s, left by process %ld", path,
                     pid);
    }
    closedir(d);
}

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23 /* Linux 5.14 */
#endif

/* Map the pages of [addr, addr + len) now. Left to the first touch, each
 * ring page cost a fault inside the timed calls: 8-byte allreduces took
 * 2.7 us until the rings had wrapped once, 1.2 us after. An older kernel
 * refuses the advice (EINVAL): the pages then fault in as before. */
static void populate(void *addr, size_t len)
{
    const uintptr_t pg = (uintptr_t)sysconf(_SC_PAGESIZE),
                    a = (uintptr_t)addr & ~(pg - 1),
                    b = ((uintptr_t)addr + len + pg - 1) & ~(pg - 1);

    (void)madvise((void *)a, b - a, MADV_POPULATE_WRITE);
}

rcomm_status_t shm_seg_create(shm_tp_t *tp)
{
    int rank = tp->base.rank, size = tp->base.size, nrings = tp_served(&tp->base), fd,
        err;
    layout_t l = layout(size, nrings, tp->ring_bytes);
    char hex[17];

    sweep(tp);
    for (int i = 0; i < 8; i++)
        snprintf(hex + 2 * i, 3, "%02x", tp->nonce[i]);
    snprintf(tp->name, sizeof(tp->name), "/rcomm-%u-%" PRIu64 "-%ld-%s", tp->host.uid,
             tp->host.pidns, (long)getpid(), hex);
    if ((fd = shm_open(tp->name, O_CREAT | O_EXCL | O_RDWR | O_CLOEXEC, 0600)) < 0)
        return base_err_sys("rank %d: shm: shm_open %s", rank, tp->name);
    tp->named = true;
    /* Reserve the pages now: a full /dev/shm is an error here, not a
     * SIGBUS at the first write. */
    if ((err = posix_fallocate(fd, 0, (off_t)l.total)) != 0) {
        close(fd);
        return base_err(RCOMM_ERR_NO_MEMORY,
                        "rank %d: shm: cannot reserve %zu bytes in /dev/shm for %d "
                        "ring(s) of %zu bytes: %s",
                        rank, l.total, nrings, tp->ring_bytes, strerror(err));
    }
    tp->seg = mmap(NULL, l.total, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    close(fd);
    if (tp->seg == MAP_FAILED) {
        tp->seg = NULL;
        return base_err_sys("rank %d: shm: mmap of %zu bytes", rank, l.total);
    }
    tp->seg_len = l.total;
    populate(tp->seg, l.total);
    tp->shdr = tp->seg;
    tp->ring_of = (int32_t *)((char *)tp->seg + l.ring_of);
    tp->mrs = (shm_mrent_t *)((char *)tp->seg + l.mrs);
    tp->rings = (shm_ring_t *)((char *)tp->seg + l.rings);
    *tp->shdr = (shm_seghdr_t){.magic = SHM_MAGIC,
                               .version = SHM_VERSION,
                               .rank = rank,
                               .size = size,
                               .nrings = nrings,
                               .ring_bytes = tp->ring_bytes};
    memcpy(tp->shdr->nonce, tp->nonce, sizeof(tp->nonce));
    for (int r = 0, i = 0; r < size; r++) {
        tp->ring_of[r] = tp_serves(&tp->base, r) ? i : -1;
        if (tp_serves(&tp->base, r)) {
            tp->peers[r].rx = shm_ring_at(tp->rings, tp->ring_bytes, i++);
        }
    }
    return RCOMM_OK;
}

void shm_seg_unlink(shm_tp_t *tp)
{
    if (tp->named && shm_unlink(tp->name) != 0 && errno != ENOENT)
        base_log(BASE_LOG_WARN, "rank %d: shm: shm_unlink %s: %s", tp->base.rank,
                 tp->name, strerror(errno));
    tp->named = false;
}

rcomm_status_t shm_seg_open(shm_tp_t *tp, shm_peer_t *p, const shm_addr_t *a)
{
    int rank = tp->base.rank, q = p->rank, fd, i;
    const shm_seghdr_t *h;
    struct stat st;
    layout_t l;
    char name[sizeof(a->name)];

    memcpy(name, a->name, sizeof(name));
    name[sizeof(name) - 1] = '\0';
    if (strncmp(name, "/rcomm-", 7) != 0 || strchr(name + 1, '/'))
        return base_err(RCOMM_ERR_PROTOCOL,
                        "rank %d: shm: rank %d published a bad "
                        "segment name",
                        rank, q);
    if ((fd = shm_open(name, O_RDWR | O_CLOEXEC, 0)) < 0)
        return base_err(errno == ENOENT ? RCOMM_ERR_PEER_FAILED : RCOMM_ERR_SYSTEM,
                        "rank %d: shm: cannot open rank %d's segment %s: %s%s", rank, q,
                        name, strerror(errno),
                        errno == ENOENT ? " (did it exit, or is it on another host?)"
                                        : "");
    if (fstat(fd, &st) != 0 || (size_t)st.st_size < sizeof(shm_seghdr_t)) {
        close(fd);
        return base_err(RCOMM_ERR_PROTOCOL,
                        "rank %d: shm: rank %d's segment is too short", rank, q);
    }
    p->seg = mmap(NULL, (size_t)st.st_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    close(fd);
    if (p->seg == MAP_FAILED) {
        p->seg = NULL;
        return base_err_sys("rank %d: shm: mmap of rank %d's segment", rank, q);
    }
    p->seg_len = (size_t)st.st_size;
    h = p->shdr = p->seg;
    l = layout(tp->base.size, h->nrings, h->ring_bytes);
    if (h->magic != SHM_MAGIC || h->version != SHM_VERSION || h->rank != q ||
        h->size != tp->base.size || memcmp(h->nonce, a->nonce, sizeof(a->nonce)) != 0 ||
        h->nrings < 0 || h->nrings > h->size || h->ring_bytes < 4096 ||
        h->ring_bytes > ((size_t)1 << 30) || (h->ring_bytes & (h->ring_bytes - 1)) ||
        l.total > p->seg_len)
        return base_err(RCOMM_ERR_PROTOCOL,
                        "rank %d: shm: rank %d's segment %s does not match what it "
                        "published (another job's, or a different rcomm)",
                        rank, q, name);
    i = ((const int32_t *)((const char *)p->seg + l.ring_of))[rank];
    if (i < 0 || i >= h->nrings)
        return base_err(RCOMM_ERR_PROTOCOL,
                        "rank %d: shm: rank %d's segment has no ring for rank %d (its "
                        "instance does not serve us)",
                        rank, q, rank);
    p->mrs = (shm_mrent_t *)((char *)p->seg + l.mrs);
    p->tx_bytes = h->ring_bytes;
    p->tx = shm_ring_at((char *)p->seg + l.rings, p->tx_bytes, i);
    populate(p->seg, l.rings);
    populate(p->tx, sizeof(*p->tx) + p->tx_bytes);
    /* Writing the empty ring once brings its lines into our cache: until
     * the ring had wrapped, each record's write fetched them from memory,
     * and 8-byte allreduces took 2.5 us instead of 1.5. */
    if (p->tx_tail == atomic_load_explicit(&p->tx->head, memory_order_acquire))
        memset(p->tx->data, 0, p->tx_bytes);
    p->tx_tail = p->tx_next = p->tx_head =
        atomic_load_explicit(&p->tx->tail, memory_order_acquire);
    return RCOMM_OK;
}

/* ---- rings ------------------------------------------------------------------ */

static size_t rec_len(size_t payload)
{
    return align_up(SHM_HDR_LEN + payload, SHM_ALIGN);
}

size_t shm_chunk(const shm_tp_t *tp)
{
    (void)tp;
    return 32768;
}

shm_hdr_t *shm_ring_reserve(shm_tp_t *tp, shm_peer_t *p, size_t len)
{
    size_t R = p->tx_bytes, need = rec_len(len), idx = p->tx_tail & (R - 1);
    size_t pad = idx + need > R ? R - idx : 0;
    uint64_t end = p->tx_tail + pad + need;

    (void)tp;
    if (need > R / 2)
        return NULL; /* callers split larger payloads */
    if (end - p->tx_head > R) {
        p->tx_head = atomic_load_explicit(&p->tx->head, memory_order_acquire);
        if (end - p->tx_head > R) {
            /* Full: ask for a bell, then look again (the consumer stores
             * head, then reads this: one of us sees the other). */
            atomic_store_explicit(&p->tx->want_space, 1, memory_order_relaxed);
            atomic_thread_fence(memory_order_seq_cst);
            p->tx_head = atomic_load_explicit(&p->tx->head, memory_order_acquire);
            if (end - p->tx_head > R)
                return NULL;
        }
    }
    if (pad) {
        shm_hdr_t *ph = (shm_hdr_t *)(p->tx->data + idx);
        ph->len = 0;
        ph->type = SHM_PAD;
        idx = 0;
    }
    p->tx_next = end;
    memset(p->tx->data + idx, 0, SHM_HDR_LEN);
    ((shm_hdr_t *)(p->tx->data + idx))->len = (uint32_t)len;
    return (shm_hdr_t *)(p->tx->data + idx);
}

void shm_ring_commit(shm_tp_t *tp, shm_peer_t *p, shm_hdr_t *h)
{
    (void)h;
    atomic_store_explicit(&p->tx->tail, p->tx_next, memory_order_release);
    p->tx_tail = p->tx_next;
    /* Pairs with the owner's store of sleeping and its re-check of the
     * rings: one of the two sees the other. */
    atomic_thread_fence(memory_order_seq_cst);
    if (atomic_load_explicit(&p->shdr->sleeping, memory_order_relaxed))
        (void)sendto(tp->bell_fd, "", 1, MSG_DONTWAIT | MSG_NOSIGNAL,
                     (const struct sockaddr *)&p->bell, p->bell_len);
}

const shm_hdr_t *shm_ring_peek(shm_tp_t *tp, shm_peer_t *p, const unsigned char **payload,
                               char *bad, size_t badlen)
{
    size_t R = tp->ring_bytes;

    for (;;) {
        uint64_t tail = atomic_load_explicit(&p->rx->tail, memory_order_acquire);
        uint64_t avail = tail - p->rx_head;
        size_t idx = p->rx_head & (R - 1);
        const shm_hdr_t *h = (const shm_hdr_t *)(p->rx->data + idx);

        if (avail == 0)
            return NULL;
        if (avail > R || avail % SHM_ALIGN) {
            snprintf(bad, badlen, "its ring's tail moved %" PRIu64 " bytes ahead", avail);
            return NULL;
        }
        if (h->type == SHM_PAD) {
            if (idx == 0 || R - idx > avail) {
                snprintf(bad, badlen, "a misplaced PAD record");
                return NULL;
            }
            p->rx_head += R - idx;
            atomic_store_explicit(&p->rx->head, p->rx_head, memory_order_release);
            continue;
        }
        if (R - idx < SHM_HDR_LEN) {
            snprintf(bad, badlen, "a record header across the ring's end");
            return NULL;
        }
        p->rxh = *h; /* the peer may scribble on the ring: believe a copy */
        if (p->rxh.type < SHM_HELLO || p->rxh.type >= SHM_NTYPES ||
            p->rxh.len > R - idx - SHM_HDR_LEN || rec_len(p->rxh.len) > avail) {
            snprintf(bad, badlen, "a record of type %u with %u payload bytes",
                     p->rxh.type, p->rxh.len);
            return NULL;
        }
        *payload = p->rx->data + idx + SHM_HDR_LEN;
        return &p->rxh;
    }
}

void shm_ring_release(shm_peer_t *p, const shm_hdr_t *h)
{
    p->rx_head += rec_len(h->len);
    atomic_store_explicit(&p->rx->head, p->rx_head, memory_order_release);
}

bool shm_rings_pending(shm_tp_t *tp)
{
    for (int r = 0; r < tp->base.size; r++) {
        shm_peer_t *p = &tp->peers[r];
        if (p->rx && p->fail.status == RCOMM_OK &&
            atomic_load_explicit(&p->rx->tail, memory_order_acquire) != p->rx_head)
            return true;
    }
    return false;
}
