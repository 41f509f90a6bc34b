/* SPDX-License-Identifier: BSD-3-Clause */
/* Shared-memory transport: the ops table, the life cycle of an instance and
 * its region table (see shm.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "base/clock.h"
#include "base/error.h"
#include "transports/shm/shm.h"
#include "transports/util/heap.h"

static void bell_name(const unsigned char nonce[16], struct sockaddr_un *sa,
                      socklen_t *len)
{
    memset(sa, 0, sizeof(*sa));
    sa->sun_family = AF_UNIX;
    /* Abstract (leading NUL): per network namespace, gone with the socket. */
    int n = snprintf(sa->sun_path + 1, sizeof(sa->sun_path) - 1, "rcomm-shm-");
    for (int i = 0; i < 16; i++)
        n += snprintf(sa->sun_path + 1 + n, sizeof(sa->sun_path) - 1 - (size_t)n, "%02x",
                      nonce[i]);
    *len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + (size_t)n);
}

static void shm_destroy(tp_t *base, rcomm_status_t reason, const char *why);

static rcomm_status_t shm_create(const tp_params_t *params, tp_t **out)
{
    struct sockaddr_un sa;
    socklen_t salen;
    rcomm_status_t st;
    shm_tp_t *tp;
    char msg[160];

    if ((st = tp_create_check(params, out, "shm")) != RCOMM_OK)
        return st;
    if (!(tp = calloc(1, sizeof(*tp))))
        return base_err(RCOMM_ERR_NO_MEMORY, "rank %d: shm create: out of memory",
                        params->rank);
    tp->bell_fd = tp->epfd = -1;
    if ((st = tp_head_init(&tp->base, &tp_shm_ops, params)) != RCOMM_OK) {
        free(tp);
        return st;
    }
    tp->cfg = params->cfg;
    tp->eager = params->cfg->shm_eager;
    /* A power of two, so that positions wrap with a mask. */
    for (tp->ring_bytes = 65536; tp->ring_bytes < params->cfg->shm_ring;)
        tp->ring_bytes *= 2;
    /* A SEND is one record, and a record at most a quarter of the ring. */
    if (tp->eager > tp->ring_bytes / 4 - SHM_HDR_LEN)
        tp->eager = tp->ring_bytes / 4 - SHM_HDR_LEN;
    tp->cma_allowed = params->cfg->shm_cma;
    tp->timeout_ms = params->timeout_ms;
    if (!(tp->peers = calloc((size_t)params->size, sizeof(*tp->peers)))) {
        st = base_err(RCOMM_ERR_NO_MEMORY, "rank %d: shm create: out of memory",
                      params->rank);
        goto fail;
    }
    for (int r = 0; r < params->size; r++) {
        tp->peers[r].rank = r;
        tp->peers[r].pidfd = -1;
    }
    /* An instance that serves nobody (a rank alone on its host in a job
     * that shares memory elsewhere) needs no identity. */
    if ((st = shm_host_id(&tp->host, msg, sizeof(msg))) != RCOMM_OK &&
        tp_served(&tp->base) > 0) {
        st = base_err(st, "rank %d: shm: cannot tell which host this is: %s",
                      params->rank, msg);
        goto fail;
    }
    if (getrandom(tp->nonce, sizeof(tp->nonce), 0) != (ssize_t)sizeof(tp->nonce)) {
        st = base_err_sys("rank %d: shm: getrandom", params->rank);
        goto fail;
    }
    /* Under Yama's ptrace_scope 1 only a declared tracer may attach; our
     * peers read and write our memory with process_vm_readv/writev. (No
     * effect elsewhere; the peers' probe says whether it works.) */
    (void)prctl(PR_SET_PTRACER, PR_SET_PTRACER_ANY, 0, 0, 0);
    bell_name(tp->nonce, &sa, &salen);
    if ((tp->bell_fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0)) <
            0 ||
        bind(tp->bell_fd, (struct sockaddr *)&sa, salen) != 0) {
        st = base_err_sys("rank %d: shm: the doorbell socket", params->rank);
        goto fail;
    }
    if ((tp->epfd = epoll_create1(EPOLL_CLOEXEC)) < 0 ||
        epoll_ctl(tp->epfd, EPOLL_CTL_ADD, tp->bell_fd,
                  &(struct epoll_event){.events = EPOLLIN, .data.u64 = UINT64_MAX}) !=
            0) {
        st = base_err_sys("rank %d: shm: epoll", params->rank);
        goto fail;
    }
    if ((st = shm_seg_create(tp)) != RCOMM_OK)
        goto fail;
    *out = &tp->base;
    return RCOMM_OK;
fail:
    shm_destroy(&tp->base, RCOMM_OK, NULL);
    return st;
}

static rcomm_status_t shm_local_addr(tp_t *base, void *buf, size_t *len)
{
    shm_tp_t *tp = shm_tp(base);
    shm_addr_t a;

    if (base && len && !buf) {
        *len = sizeof(a);
        return RCOMM_OK;
    }
    if (!base || !buf || !len || *len < sizeof(a))
        return base_err(
            RCOMM_ERR_INVALID_ARG, "shm local_addr: %s (the address takes %zu bytes)",
            !base || !buf || !len ? "tp, buf or len is NULL" : "buffer too small",
            sizeof(a));
    memset(&a, 0, sizeof(a));
    a.magic = SHM_MAGIC;
    a.version = SHM_VERSION;
    a.rank = base->rank;
    a.pid = (uint32_t)getpid();
    a.probe_fd = tp->bell_fd;
    memcpy(a.nonce, tp->nonce, sizeof(a.nonce));
    a.host = tp->host;
    a.probe = (uintptr_t)tp->shdr->nonce;
    snprintf(a.name, sizeof(a.name), "%s", tp->name);
    memcpy(buf, &a, sizeof(a));
    *len = sizeof(a);
    return RCOMM_OK;
}

/* Can we read and write the peer's memory directly? Read its nonce. */
static bool probe_cma(const shm_addr_t *a)
{
    unsigned char got[16];
    struct iovec l = {got, sizeof(got)}, r = {(void *)(uintptr_t)a->probe, sizeof(got)};

    return process_vm_readv((pid_t)a->pid, &l, 1, &r, 1, 0) == (ssize_t)sizeof(got) &&
           memcmp(got, a->nonce, sizeof(got)) == 0;
}

static rcomm_status_t connect_peer(shm_tp_t *tp, shm_peer_t *p, const void *blob,
                                   size_t len)
{
    int rank = tp->base.rank, q = p->rank;
    shm_addr_t a;
    shm_hdr_t *h;
    rcomm_status_t st;

    if (!blob || len != sizeof(a))
        return base_err(RCOMM_ERR_PROTOCOL,
                        "rank %d: shm connect: rank %d's address has %zu bytes, not %zu",
                        rank, q, len, sizeof(a));
    memcpy(&a, blob, sizeof(a));
    if (a.magic != SHM_MAGIC || a.version != SHM_VERSION || a.rank != q)
        return base_err(RCOMM_ERR_PROTOCOL,
                        "rank %d: shm connect: rank %d's address is not a shm address of "
                        "this version for that rank",
                        rank, q);
    if (memcmp(&a.host, &tp->host, sizeof(a.host)) != 0) {
        char ours[160], theirs[160];
        shm_host_describe(&tp->host, ours, sizeof(ours));
        shm_host_describe(&a.host, theirs, sizeof(theirs));
        return base_err(
            RCOMM_ERR_CONFIG,
            "rank %d: shm connect: rank %d is not on this host (%s; here: %s); "
            "shared memory serves only ranks of one host",
            rank, q, theirs, ours);
    }
    if ((st = shm_seg_open(tp, p, &a)) != RCOMM_OK)
        return st;
    bell_name(a.nonce, &p->bell, &p->bell_len);
    p->pid = a.pid;
    p->pidfd = (int)syscall(SYS_pidfd_open, (pid_t)a.pid, 0);
    if (p->pidfd >= 0)
        (void)epoll_ctl(
            tp->epfd, EPOLL_CTL_ADD, p->pidfd,
            &(struct epoll_event){.events = EPOLLIN, .data.u64 = (uint64_t)q});
    p->cma = tp->cma_allowed && probe_cma(&a);
    p->getfd = p->cma && shm_probe_getfd(p, a.probe_fd);
    if (tp->cma_allowed && !p->cma)
        base_log(BASE_LOG_INFO,
                 "rank %d: shm: cross-memory attach to rank %d (pid %u) is not allowed "
                 "(%s): large messages and one-sided operations copy through the segment",
                 rank, q, a.pid, strerror(errno));
    /* The ring is empty: its first record always fits. */
    if (!(h = shm_ring_reserve(tp, p, 0)))
        return base_err(RCOMM_ERR_PROTOCOL,
                        "rank %d: shm connect: rank %d's ring is full", rank, q);
    h->type = SHM_HELLO;
    shm_ring_commit(tp, p, h);
    p->connected = true;
    return RCOMM_OK;
}

/* Wait until every served peer's HELLO is in our rings: each has mapped our
 * segment, so its name can go. Records behind a HELLO stay for progress(). */
static rcomm_status_t await_hellos(shm_tp_t *tp)
{
    uint64_t deadline = base_now_ns() + (uint64_t)tp->timeout_ms * 1000000ull;
    int rank = tp->base.rank;

    for (;;) {
        char missing[256] = "", bad[128] = "";
        size_t n = 0;
        for (int r = 0; r < tp->base.size; r++) {
            shm_peer_t *p = &tp->peers[r];
            const unsigned char *pl;
            const shm_hdr_t *h;
            if (!tp_serves(&tp->base, r) || p->hello)
                continue;
            if ((h = shm_ring_peek(tp, p, &pl, bad, sizeof(bad)))) {
                if (h->type != SHM_HELLO)
                    snprintf(bad, sizeof(bad), "a record of type %u before HELLO",
                             h->type);
                else
                    p->hello = true, shm_ring_release(p, h);
            }
            if (bad[0])
                return base_err(RCOMM_ERR_PROTOCOL,
                                "rank %d: shm connect: rank %d sent %s", rank, r, bad);
            if (p->hello)
                continue;
            if (shm_peer_gone(p))
                return base_err(RCOMM_ERR_PEER_FAILED,
                                "rank %d: shm connect: rank %d (pid %u) exited", rank, r,
                                p->pid);
            if (n < sizeof(missing))
                n += (size_t)snprintf(missing + n, sizeof(missing) - n, "%s%d",
                                      n ? ", " : "", r);
        }
        if (!n)
            return RCOMM_OK;
        if (base_now_ns() > deadline)
            return base_err(RCOMM_ERR_TIMEOUT,
                            "rank %d: shm connect: no HELLO within %d ms from rank(s) %s "
                            "(did they call connect?)",
                            rank, tp->timeout_ms, missing);
        nanosleep(&(struct timespec){0, 200000}, NULL);
    }
}

static rcomm_status_t shm_connect(tp_t *base, const void *const *addrs,
                                  const size_t *lens)
{
    shm_tp_t *tp = shm_tp(base);
    rcomm_status_t st;

    if (!tp || !addrs || !lens || tp->connected)
        return base_err(RCOMM_ERR_INVALID_ARG, "shm connect: %s",
                        tp && tp->connected ? "already connected" : "a NULL argument");
    for (int r = 0; r < base->size; r++)
        if (tp_serves(base, r) &&
            (st = connect_peer(tp, &tp->peers[r], addrs[r], lens[r])) != RCOMM_OK)
            return st;
    if ((st = await_hellos(tp)) != RCOMM_OK)
        return st;
    shm_seg_unlink(tp);
    tp->connected = true;
    tp->next_death_check = base_now_ns() + SHM_DEATH_NS;
    return RCOMM_OK;
}

static void shm_destroy(tp_t *base, rcomm_status_t reason, const char *why)
{
    shm_tp_t *tp = shm_tp(base);

    if (!tp)
        return;
    for (int r = 0; tp->peers && r < base->size; r++) {
        shm_peer_t *p = &tp->peers[r];
        tp_unexp_t *ux;
        shm_op_t *op;
        if (p->fail.status == RCOMM_OK)
            shm_say_bye(tp, p, reason, why);
        while ((ux = p->m.unexp.head)) {
            BASE_FIFO_POP(&p->m.unexp);
            free(ux);
        }
        while ((op = (shm_op_t *)p->txq.head)) {
            BASE_FIFO_POP(&p->txq);
            if (op->kind == SHM_OP_CTL) {
                if (op->flags & SHM_O_OWNBUF)
                    free(op->buf);
                free(op);
            }
        }
        if (p->pidfd >= 0)
            close(p->pidfd);
        if (p->seg)
            munmap(p->seg, p->seg_len);
        shm_maps_drop(p);
    }
    for (int i = 0; i < SHM_MAX_MRS; i++) /* regions never deregistered */
        free(tp->mr_of[i]);
    shm_seg_unlink(tp);
    if (tp->seg)
        munmap(tp->seg, tp->seg_len);
    if (tp->bell_fd >= 0)
        close(tp->bell_fd);
    if (tp->epfd >= 0)
        close(tp->epfd);
    tp_head_fini(base);
    free(tp->peers);
    free(tp);
}

/* ---- regions: entries in our segment, read by the initiators ------------ */

/* Generations start at a number of this instance's own, so that a key of
 * another instance (a previous communicator's, or the network's in a
 * composed transport) never names one of our regions. */
static uint32_t gen_base(const shm_tp_t *tp)
{
    uint32_t b;

    memcpy(&b, tp->nonce + 8, sizeof(b));
    return b;
}

static rcomm_status_t shm_mem_reg(tp_t *base, void *addr, size_t len, unsigned access,
                                  tp_mr_t **out)
{
    shm_tp_t *tp = shm_tp(base);
    unsigned all = TP_REMOTE_READ | TP_REMOTE_WRITE | TP_REMOTE_ATOMIC | TP_MESSAGES;
    shm_mr_t *mr;
    uint32_t slot;

    if (!tp || !out || (!addr && len) || (access & ~all))
        return base_err(RCOMM_ERR_INVALID_ARG, "shm mem_reg: %s",
                        !tp || !out     ? "tp or mr is NULL"
                        : access & ~all ? "unknown access bits"
                                        : "addr is NULL");
    for (slot = 0; slot < SHM_MAX_MRS && atomic_load(&tp->mrs[slot].key); slot++)
        ;
    if (slot == SHM_MAX_MRS)
        return base_err(
            RCOMM_ERR_NO_MEMORY,
            "rank %d: shm mem_reg: every one of the %d region slots is in use",
            base->rank, SHM_MAX_MRS);
    if (!(mr = malloc(sizeof(*mr))))
        return base_err(RCOMM_ERR_NO_MEMORY, "rank %d: shm mem_reg: out of memory",
                        base->rank);
    *mr = (shm_mr_t){.head = {.tp = base},
                     .slot = slot,
                     .key = (uint64_t)(++tp->gen[slot] + gen_base(tp)) << 32 | (slot + 1),
                     .base = addr,
                     .len = len};
    tp->mrs[slot].base = (uintptr_t)addr;
    tp->mrs[slot].len = len;
    tp->mrs[slot].access = access & ~(unsigned)TP_MESSAGES;
    {
        int fd = -1;
        uint64_t ino = 0, off = 0;
        tp->mrs[slot].fd = tp_heap_find(addr, len, &fd, &ino, &off) ? fd : -1;
        tp->mrs[slot].ino = ino;
        tp->mrs[slot].off = off;
    }
    /* Published last: a reader that sees the key sees the entry. */
    atomic_store_explicit(&tp->mrs[slot].key, mr->key, memory_order_release);
    tp->mr_of[slot] = mr;
    *out = &mr->head;
    return RCOMM_OK;
}

static rcomm_status_t shm_mem_rkey(const tp_mr_t *head, tp_rkey_t *rkey)
{
    const shm_mr_t *mr = (const shm_mr_t *)head;

    if (!mr || !rkey)
        return base_err(RCOMM_ERR_INVALID_ARG, "shm mem_rkey: %s is NULL",
                        !mr ? "mr" : "rkey");
    *rkey = (tp_rkey_t){.addr = (uintptr_t)mr->base, .len = mr->len, .key = mr->key};
    return RCOMM_OK;
}

static rcomm_status_t shm_mem_dereg(tp_t *base, tp_mr_t *head)
{
    shm_tp_t *tp = shm_tp(base);
    shm_mr_t *mr = (shm_mr_t *)head;

    if (!tp || !mr || mr->head.tp != base || mr->slot >= SHM_MAX_MRS ||
        atomic_load(&tp->mrs[mr->slot].key) != mr->key)
        return base_err(RCOMM_ERR_INVALID_ARG, "shm mem_dereg: %s",
                        !tp || !mr ? "tp or mr is NULL"
                                   : "not a region of this transport");
    atomic_store_explicit(&tp->mrs[mr->slot].key, 0, memory_order_release);
    tp->mr_of[mr->slot] = NULL;
    shm_rma_forget(tp, mr->base, mr->len);
    free(mr);
    return RCOMM_OK;
}

static void shm_caps(tp_t *base, tp_caps_t *caps)
{
    shm_tp_t *tp = shm_tp(base);
    bool cma = tp->cma_allowed && tp->connected, map = cma;

    for (int r = 0; r < base->size; r++)
        if (tp_serves(base, r)) {
            cma &= tp->peers[r].cma;
            map &= tp->peers[r].getfd;
        }
    *caps = (tp_caps_t){.native_rma = cma, .native_atomics = map, .name = "shm"};
    snprintf(caps->link, sizeof(caps->link),
             "unknown: shared memory moves at the host's copy rate (measure it)");
}

const tp_ops_t tp_shm_ops = {
    .size = sizeof(tp_ops_t),
    .name = "shm",
    .create = shm_create,
    .local_addr = shm_local_addr,
    .connect = shm_connect,
    .destroy = shm_destroy,
    .isend = shm_isend,
    .irecv = shm_irecv,
    .cancel = shm_cancel,
    .mem_reg = shm_mem_reg,
    .mem_rkey = shm_mem_rkey,
    .mem_dereg = shm_mem_dereg,
    .put = shm_put,
    .get = shm_get,
    .fetch_add = shm_fetch_add,
    .compare_swap = shm_compare_swap,
    .rkey_ptr = shm_rkey_ptr,
    .rkey_ptr_release = shm_rkey_ptr_release,
    .put_notify = shm_put_notify,
    .caps = shm_caps,
    .progress = shm_progress,
    .wait_fd = shm_wait_fd,
};
