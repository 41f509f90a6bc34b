/* SPDX-License-Identifier: BSD-3-Clause */
/* Shared-memory transport: one-sided operations, by cross-memory attach in
 * the initiator or as records the target applies; atomics always the latter
 * (see shm.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>

#include "base/error.h"
#include "transports/shm/shm.h"

/* The entry of key in a region table, read consistently (its key before and
 * after) into *v, and whether kind may touch [raddr, raddr + len) of it. */
static tp_acc_t lookup(shm_mrent_t *table, tp_rma_t kind, uint64_t key, uint64_t raddr,
                       uint64_t len, shm_view_t *v)
{
    uint32_t slot = (uint32_t)key - 1;
    uint64_t acc;
    shm_mrent_t *e;
    shm_view_t got;

    *v = (shm_view_t){.fd = -1};
    if (key == 0 || slot >= SHM_MAX_MRS)
        return TP_ACC_NO_KEY;
    e = &table[slot];
    if (atomic_load_explicit(&e->key, memory_order_acquire) != key)
        return TP_ACC_NO_KEY;
    got = (shm_view_t){e->base, e->len, e->fd, e->ino, e->off};
    acc = e->access;
    atomic_thread_fence(memory_order_acquire);
    if (atomic_load_explicit(&e->key, memory_order_relaxed) != key)
        return TP_ACC_NO_KEY;
    *v = got;
    return tp_rma_access(kind, got.base, got.len, (unsigned)acc, raddr, len);
}

static rcomm_status_t post(shm_tp_t *tp, tp_rma_t kind, int peer, void *buf, size_t len,
                           const tp_rkey_t *rkey, uint64_t raddr, tp_req_t *req,
                           shm_op_t **out)
{
    rcomm_status_t st;
    shm_peer_t *p;
    shm_op_t *op;
    shm_view_t v;
    tp_acc_t acc;

    *out = NULL;
    if ((st = tp_check_post(&tp->base, tp->connected, peer, req, tp_rma_post(kind))) !=
        RCOMM_OK)
        return st;
    p = &tp->peers[peer];
    if ((st = tp_fail_check(&p->fail, tp_rma_post(kind), peer)) != RCOMM_OK)
        return st;
    if (!rkey || (!buf && len && (kind == TP_PUT || kind == TP_GET)))
        return base_err(RCOMM_ERR_INVALID_ARG, "rank %d: %s rank %d: %s is NULL",
                        tp->base.rank, tp_rma_post(kind), peer, !rkey ? "rkey" : "buf");
    op = shm_op(req);
    memset(op, 0, sizeof(*op));
    op->kind = kind == TP_PUT ? SHM_OP_PUT : kind == TP_GET ? SHM_OP_GET : SHM_OP_ATOMIC;
    op->rma = (uint8_t)kind;
    op->op.peer = peer;
    op->buf = buf;
    op->len = len;
    op->key = rkey->key;
    op->raddr = raddr;
    op->id = ++tp->next_id;
    if (req->fence)
        op->flags |= SHM_O_FENCE;
    req->status = RCOMM_INPROGRESS;
    req->len = 0;
    req->result = 0;
    /* The target's own table says what it allows: checked here, before
     * anything moves (and again by the target for what it applies). */
    acc = lookup(p->mrs, kind, rkey->key, raddr,
                 kind == TP_PUT || kind == TP_GET ? len : 8, &v);
    if (acc != TP_ACC_OK) {
        shm_complete(tp, op,
                     tp_rma_denied(tp->base.rank, peer, kind, len, raddr, rkey->key, acc,
                                   v.base, v.len));
        return RCOMM_OK;
    }
    /* Its memory mapped here: done by us, like a CPU's own access. An
     * atomic needs its word aligned here too (the entry is the peer's). */
    if (p->cma &&
        (op->direct = shm_map_direct(tp, p, &v, raddr,
                                     op->kind == SHM_OP_ATOMIC ? 8 : len, false)) &&
        op->kind == SHM_OP_ATOMIC && ((uintptr_t)op->direct & 7))
        op->direct = NULL;
    *out = op;
    return RCOMM_OK;
}

rcomm_status_t shm_put(tp_t *base, int peer, const void *buf, size_t len,
                       const tp_rkey_t *rkey, uint64_t raddr, tp_req_t *req)
{
    shm_tp_t *tp = shm_tp(base);
    shm_op_t *op;
    rcomm_status_t st = post(tp, TP_PUT, peer, (void *)buf, len, rkey, raddr, req, &op);

    if (op)
        shm_tx(tp, &tp->peers[peer], op);
    return st;
}

rcomm_status_t shm_put_notify(tp_t *base, int peer, const void *buf, size_t len,
                              const tp_rkey_t *rkey, uint64_t raddr, uint32_t imm,
                              tp_req_t *req)
{
    shm_tp_t *tp = shm_tp(base);
    rcomm_status_t st;
    shm_op_t *op;

    if (imm >= TP_NOTIFY_LIMIT)
        return base_err(RCOMM_ERR_INVALID_ARG,
                        "rank %d: put_notify to rank %d: value %u is not below "
                        "TP_NOTIFY_LIMIT (2^31)",
                        base ? base->rank : -1, peer, imm);
    if ((st = post(tp, TP_PUT, peer, (void *)buf, len, rkey, raddr, req, &op)) ==
            RCOMM_OK &&
        op) {
        op->flags |= SHM_O_NOTIFY;
        op->imm = imm;
        shm_tx(tp, &tp->peers[peer], op);
    }
    return st;
}

rcomm_status_t shm_get(tp_t *base, int peer, void *buf, size_t len, const tp_rkey_t *rkey,
                       uint64_t raddr, tp_req_t *req)
{
    shm_tp_t *tp = shm_tp(base);
    shm_op_t *op;
    rcomm_status_t st = post(tp, TP_GET, peer, buf, len, rkey, raddr, req, &op);

    if (op)
        shm_tx(tp, &tp->peers[peer], op);
    return st;
}

static rcomm_status_t post_atomic(tp_t *base, tp_rma_t kind, int peer,
                                  const tp_rkey_t *rkey, uint64_t raddr, uint64_t a,
                                  uint64_t b, tp_req_t *req)
{
    shm_tp_t *tp = shm_tp(base);
    shm_op_t *op;
    rcomm_status_t st = post(tp, kind, peer, NULL, 8, rkey, raddr, req, &op);

    if (op) {
        op->a = a;
        op->b = b;
        shm_tx(tp, &tp->peers[peer], op);
    }
    return st;
}

rcomm_status_t shm_fetch_add(tp_t *base, int peer, const tp_rkey_t *rkey, uint64_t raddr,
                             uint64_t add, tp_req_t *req)
{
    return post_atomic(base, TP_FADD, peer, rkey, raddr, add, 0, req);
}

rcomm_status_t shm_compare_swap(tp_t *base, int peer, const tp_rkey_t *rkey,
                                uint64_t raddr, uint64_t compare, uint64_t swap,
                                tp_req_t *req)
{
    return post_atomic(base, TP_CSWAP, peer, rkey, raddr, compare, swap, req);
}

/* ---- the initiator's side ------------------------------------------------ */

/* What the target's progress does with an ATOMIC record, and an initiator
 * on memory it maps: the old value. */
/* The peer's own table says what it allows, as for a get (read) and a put
 * (write); then its file is mapped here for good. */
rcomm_status_t shm_rkey_ptr(tp_t *base, int peer, const tp_rkey_t *rkey, uint64_t raddr,
                            size_t len, unsigned access, void **ptr)
{
    shm_tp_t *tp = shm_tp(base);
    rcomm_status_t st;
    tp_acc_t acc = TP_ACC_OK;
    tp_rma_t kind = TP_GET;
    shm_peer_t *p;
    shm_view_t v;

    st = tp_rkey_ptr_check(base, tp && tp->connected, peer, rkey, access, ptr);
    if (st != RCOMM_OK)
        return st;
    p = &tp->peers[peer];
    if ((st = tp_fail_check(&p->fail, "rkey_ptr to", peer)) != RCOMM_OK)
        return st;
    if (access & TP_REMOTE_READ)
        acc = lookup(p->mrs, kind, rkey->key, raddr, len, &v);
    if (acc == TP_ACC_OK && (access & TP_REMOTE_WRITE))
        acc = lookup(p->mrs, kind = TP_PUT, rkey->key, raddr, len, &v);
    if (acc != TP_ACC_OK)
        return tp_rma_denied(base->rank, peer, kind, len, raddr, rkey->key, acc, v.base,
                             v.len);
    if (!p->cma || !(*ptr = shm_map_direct(tp, p, &v, raddr, len, true)))
        return base_err(RCOMM_ERR_UNSUPPORTED,
                        "rank %d: rkey_ptr to rank %d: its region 0x%llx is not mapped "
                        "here (%s)",
                        base->rank, peer, (unsigned long long)rkey->key,
                        !p->cma || !p->getfd ? "its memory cannot be mapped from here"
                        : v.fd < 0           ? "not memory from tp_heap_alloc"
                                             : "its file could not be mapped, or "
                                               "SHM_MAPS of them are held already");
    return RCOMM_OK;
}

void shm_rkey_ptr_release(tp_t *base, int peer, void *ptr)
{
    shm_tp_t *tp = shm_tp(base);

    if (tp && tp->peers && peer >= 0 && peer < base->size && peer != base->rank && ptr)
        shm_map_unpin(&tp->peers[peer], ptr);
}

static uint64_t apply_atomic(tp_rma_t kind, uint64_t *w, uint64_t a, uint64_t b)
{
    uint64_t old = a;

    if (kind == TP_FADD)
        return __atomic_fetch_add(w, a, __ATOMIC_SEQ_CST);
    __atomic_compare_exchange_n(w, &old, b, false, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
    return old;
}

/* An operation on memory we map: done now. */
static void direct(shm_tp_t *tp, shm_op_t *op)
{
    tp_req_t *req = tp_req_head(&op->op);

    if (op->kind == SHM_OP_ATOMIC) {
        req->result = apply_atomic((tp_rma_t)op->rma, op->direct, op->a, op->b);
        return;
    }
    if (op->len)
        memcpy(op->kind == SHM_OP_PUT ? op->direct : op->buf,
               op->kind == SHM_OP_PUT ? op->buf : op->direct, op->len);
    *(op->kind == SHM_OP_PUT ? &tp->base.stats.bytes_sent
                             : &tp->base.stats.bytes_received) += op->len;
}

/* One process_vm_writev/readv until done; an errno, or 0. */
static int cma(shm_peer_t *p, bool write, void *buf, uint64_t raddr, size_t len)
{
    size_t done = 0;

    while (done < len) {
        struct iovec l = {(char *)buf + done, len - done};
        struct iovec r = {(void *)(uintptr_t)(raddr + done), len - done};
        ssize_t n = write ? process_vm_writev((pid_t)p->pid, &l, 1, &r, 1, 0)
                          : process_vm_readv((pid_t)p->pid, &l, 1, &r, 1, 0);
        if (n <= 0)
            return n < 0 ? errno : EFAULT;
        done += (size_t)n;
    }
    return 0;
}

static void cma_failed(shm_tp_t *tp, shm_peer_t *p, shm_op_t *op, int e)
{
    if (e == ESRCH) {
        shm_complete(tp, op, RCOMM_ERR_PEER_FAILED);
        shm_peer_fail(tp, p, RCOMM_ERR_PEER_FAILED, "peer rank %d (pid %u) exited",
                      p->rank, p->pid);
        return;
    }
    shm_complete(tp, op,
                 base_err(RCOMM_ERR_ACCESS,
                          "rank %d: %s rank %d: %llu bytes at 0x%llx: %s (the region's "
                          "memory is not mapped in rank %d)",
                          tp->base.rank, tp_rma_post(op->rma), p->rank,
                          (unsigned long long)op->len, (unsigned long long)op->raddr,
                          strerror(e), p->rank));
}

/* A stream of PUT or GET_DATA records from op->buf: false when the ring is
 * full (op->off says how far it got). */
static bool stream(shm_tp_t *tp, shm_peer_t *p, shm_op_t *op, uint8_t type)
{
    do {
        size_t n = op->len - op->off < shm_chunk(tp) ? op->len - op->off : shm_chunk(tp);
        shm_hdr_t *h = shm_ring_reserve(tp, p, n);
        if (!h)
            return false;
        h->type = type;
        h->id = op->id;
        h->off = op->off;
        h->size = op->len;
        h->tag = op->key;
        h->addr = op->raddr;
        h->status = op->op.status;
        h->imm = op->imm;
        if (op->off + n == op->len)
            h->flags = SHM_F_LAST | (op->flags & SHM_O_NOTIFY ? SHM_F_NOTIFY : 0);
        if (n)
            memcpy(h + 1, (const char *)op->buf + op->off, n);
        shm_ring_commit(tp, p, h);
        op->off += n;
        tp->base.stats.bytes_sent += n;
    } while (op->off < op->len);
    return true;
}

bool shm_rma_write(shm_tp_t *tp, shm_peer_t *p, shm_op_t *op)
{
    shm_hdr_t *h;
    int e;

    if (op->kind == SHM_OP_CTL) { /* GET_DATA, answering a peer's get */
        if (!stream(tp, p, op, SHM_GET_DATA))
            return false;
        if (op->flags & SHM_O_OWNBUF)
            free(op->buf);
        free(op);
        return true;
    }
    /* After the gets and atomics before it that the peer answers: a fenced
     * get, and anything done here at once. */
    if (((op->kind == SHM_OP_GET && (op->flags & SHM_O_FENCE)) || op->direct) &&
        p->inflight)
        return false;
    if (op->direct || (p->cma && op->kind != SHM_OP_ATOMIC)) {
        if (op->direct && !(op->flags & SHM_O_STREAM)) {
            direct(tp, op);
            op->flags |= SHM_O_STREAM;
            tp->base.traffic++;
        } else if (!(op->flags & SHM_O_STREAM)) { /* the bytes, once */
            if ((e = cma(p, op->kind == SHM_OP_PUT, op->buf, op->raddr, op->len))) {
                cma_failed(tp, p, op, e);
                return true;
            }
            op->flags |= SHM_O_STREAM;
            *(op->kind == SHM_OP_PUT ? &tp->base.stats.bytes_sent
                                     : &tp->base.stats.bytes_received) += op->len;
            tp->base.traffic++;
        }
        if (op->flags & SHM_O_NOTIFY) {
            if (!(h = shm_ring_reserve(tp, p, 0)))
                return false;
            h->type = SHM_NOTIFY;
            h->imm = op->imm;
            shm_ring_commit(tp, p, h);
        }
        tp_req_head(&op->op)->len = op->kind == SHM_OP_GET ? op->len : 0;
        shm_complete(tp, op, RCOMM_OK);
        return true;
    }
    if (op->kind == SHM_OP_PUT) {
        if (!stream(tp, p, op, SHM_PUT))
            return false;
    } else {
        if (!(h = shm_ring_reserve(tp, p, 0)))
            return false;
        h->type = op->kind == SHM_OP_GET ? SHM_GET_REQ : SHM_ATOMIC;
        h->id = op->id;
        h->tag = op->key;
        h->addr = op->raddr;
        h->size = op->len;
        h->flags = op->rma;
        h->a = op->a;
        h->b = op->b;
        shm_ring_commit(tp, p, h);
        p->inflight++;
    }
    op->off = 0;
    BASE_FIFO_PUSH(&p->waiting, &op->op);
    return true;
}

/* ---- the target's side ------------------------------------------------------ */

static void rx_put(shm_tp_t *tp, shm_peer_t *p, const shm_hdr_t *h,
                   const unsigned char *pl)
{
    shm_view_t v;
    tp_acc_t acc = lookup(tp->mrs, TP_PUT, h->tag, h->addr + h->off, h->len, &v);

    if (h->off > h->size || h->len > h->size - h->off) {
        shm_peer_fail(tp, p, RCOMM_ERR_PROTOCOL,
                      "rank %d sent a PUT piece of %u bytes at %llu of %llu", p->rank,
                      h->len, (unsigned long long)h->off, (unsigned long long)h->size);
        return;
    }
    if (p->refused_id != h->id) {
        if (acc == TP_ACC_OK) {
            if (h->len)
                memcpy((void *)(uintptr_t)(h->addr + h->off), pl, h->len);
            tp->base.stats.bytes_received += h->len;
        } else {
            p->refused_id = h->id;
            p->refused_why = (uint8_t)acc;
        }
    }
    if (!(h->flags & SHM_F_LAST))
        return;
    if (p->refused_id == h->id) {
        shm_answer(tp, p, SHM_PUT_ACK, h->id, RCOMM_ERR_ACCESS, p->refused_why, 0);
        p->refused_id = 0;
        return;
    }
    shm_answer(tp, p, SHM_PUT_ACK, h->id, RCOMM_OK, 0, 0);
    if (h->flags & SHM_F_NOTIFY && tp->base.on_notify)
        tp->base.on_notify(tp->base.notify_arg, p->rank, h->imm);
}

static void rx_get_req(shm_tp_t *tp, shm_peer_t *p, const shm_hdr_t *h)
{
    shm_view_t v;
    tp_acc_t acc = lookup(tp->mrs, TP_GET, h->tag, h->addr, h->size, &v);
    shm_op_t *op = shm_ctl_new(tp, p, SHM_GET_DATA, h->id);

    if (!op)
        return;
    op->buf = (void *)(uintptr_t)h->addr;
    op->len = acc == TP_ACC_OK ? h->size : 0;
    op->op.status = acc == TP_ACC_OK ? RCOMM_OK : RCOMM_ERR_ACCESS;
    op->imm = (uint32_t)acc;
    shm_tx(tp, p, op);
}

static void rx_atomic(shm_tp_t *tp, shm_peer_t *p, const shm_hdr_t *h)
{
    uint64_t old = 0;
    shm_view_t v;
    tp_acc_t acc = h->flags == TP_FADD || h->flags == TP_CSWAP
                       ? lookup(tp->mrs, (tp_rma_t)h->flags, h->tag, h->addr, 8, &v)
                       : TP_ACC_RIGHTS;

    if (acc == TP_ACC_OK)
        old =
            apply_atomic((tp_rma_t)h->flags, (uint64_t *)(uintptr_t)h->addr, h->a, h->b);
    shm_answer(tp, p, SHM_ATOMIC_RESP, h->id,
               acc == TP_ACC_OK ? RCOMM_OK : RCOMM_ERR_ACCESS, (uint32_t)acc, old);
}

/* An answer to one of our operations. */
static void rx_answer(shm_tp_t *tp, shm_peer_t *p, const shm_hdr_t *h,
                      const unsigned char *pl)
{
    shm_op_t *op = shm_find_id(&p->waiting, h->id, false);
    bool last = true;
    tp_req_t *req;

    if (!op || op->kind == SHM_OP_SEND ||
        (h->type == SHM_GET_DATA) != (op->kind == SHM_OP_GET) ||
        (h->type == SHM_ATOMIC_RESP) != (op->kind == SHM_OP_ATOMIC) ||
        (h->type == SHM_GET_DATA && h->status == RCOMM_OK &&
         (h->off != op->off || h->size != op->len || h->len > op->len - op->off))) {
        shm_peer_fail(tp, p, RCOMM_ERR_PROTOCOL,
                      "rank %d answered an operation %llu that does not match", p->rank,
                      (unsigned long long)h->id);
        return;
    }
    req = tp_req_head(&op->op);
    if (h->type == SHM_GET_DATA && h->status == RCOMM_OK) {
        if (h->len)
            memcpy((char *)op->buf + op->off, pl, h->len);
        op->off += h->len;
        tp->base.stats.bytes_received += h->len;
        last = op->off == op->len;
    }
    if (!last)
        return;
    shm_find_id(&p->waiting, h->id, true);
    if (op->kind != SHM_OP_PUT)
        p->inflight--;
    if (h->status != RCOMM_OK) {
        tp_acc_t why = h->imm <= TP_ACC_ALIGN ? (tp_acc_t)h->imm : TP_ACC_RIGHTS;
        shm_complete(tp, op,
                     tp_rma_denied(tp->base.rank, p->rank, op->rma, op->len, op->raddr,
                                   op->key, why, 0, 0));
        return;
    }
    req->len = op->kind == SHM_OP_GET ? op->len : 0;
    req->result = op->kind == SHM_OP_ATOMIC ? h->a : 0;
    shm_complete(tp, op, RCOMM_OK);
}

void shm_rx_rma(shm_tp_t *tp, shm_peer_t *p, const shm_hdr_t *h, const unsigned char *pl)
{
    switch (h->type) {
    case SHM_PUT: rx_put(tp, p, h, pl); break;
    case SHM_GET_REQ: rx_get_req(tp, p, h); break;
    case SHM_ATOMIC: rx_atomic(tp, p, h); break;
    case SHM_NOTIFY:
        if (h->imm >= TP_NOTIFY_LIMIT)
            shm_peer_fail(tp, p, RCOMM_ERR_PROTOCOL,
                          "rank %d sent a notification value of %u (at most 2^31 - 1)",
                          p->rank, h->imm);
        else if (tp->base.on_notify)
            tp->base.on_notify(tp->base.notify_arg, p->rank, h->imm);
        break;
    default: /* PUT_ACK, GET_DATA, ATOMIC_RESP */ rx_answer(tp, p, h, pl); break;
    }
}

bool shm_rma_forget(shm_tp_t *tp, const void *base, size_t len)
{
    const char *lo = base, *hi = lo + len;
    bool any = false;

    for (int r = 0; r < tp->base.size; r++)
        for (tp_op_t *o = tp->peers[r].txq.head; o; o = o->next) {
            shm_op_t *op = shm_op_of(o);
            char *copy;
            if (op->kind != SHM_OP_CTL || op->rec != SHM_GET_DATA ||
                (op->flags & SHM_O_OWNBUF) || (const char *)op->buf < lo ||
                (const char *)op->buf >= hi || !op->len)
                continue;
            /* Same offsets, so the stream goes on unchanged. */
            if (!(copy = malloc(op->len))) {
                op->len = op->off; /* cannot keep it: cut short, the peer fails it */
                continue;
            }
            memcpy(copy + op->off, (char *)op->buf + op->off, op->len - op->off);
            tp->base.stats.bytes_copied += op->len - op->off;
            op->buf = copy;
            op->flags |= SHM_O_OWNBUF;
            any = true;
        }
    return any;
}
