/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Push: gradients add into a local accumulator and mark their blocks dirty
 * (and full, when every key of the block was named); on a push step
 * (rcomm_ps_clock) the dirty blocks are staged as records, each stamped with
 * the clock, and go into our slot on their servers in one write per server
 * (runs far apart: a few), the last one notifying the server (put_notify),
 * which moves our clock word there: the signal its threads wait for.
 * Our slot on a server has two halves that pushes alternate between
 * (ps_half): a push waits only until the server has published the push
 * before our previous one, not the previous one.
 *
 * What goes of a dirty block: the whole block when it is full; the keys
 * with a nonzero gradient as an image (sparse.c) when it is not, or when a
 * filter or a compressor picks keys, if the image is smaller; the
 * compressor's encoding of the block with bf16, f16 or sign.
 */
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "ps/ps.h"
#include "reduce/reduce.h"

/* Mark the blocks of tensor t that keys [a, b) touch: dirty, and full when
 * the keys cover the block. */
static void mark_range(rcomm_ps_t *ps, int t, size_t a, size_t b)
{
    const size_t blk = ps->lay.t[t].blk;
    size_t b0, b1;

    for (size_t k = a; k < b;) {
        const ps_piece_t p = ps_piece_at(ps, t, k, b);
        const ps_range_t *r = ps_range(&ps->lay, p.s, t);
        ps_remote_t *rm = &ps->rem[p.s];
        ps_piece_blocks(ps, &p, &b0, &b1);
        for (size_t i = b0; i <= b1; i++) {
            const size_t first = r->lo + (i - r->block) * blk;
            const size_t end = first + ps_block_keys(&ps->lay, p.s, t, i - r->block);
            rm->dirty[i] = 1;
            rm->full[i] |= p.a <= first && p.b >= end;
        }
        k = p.b;
    }
}

static rcomm_status_t pushv_locked(rcomm_ps_t *ps, const rcomm_ps_slice_t *v, int n,
                                   const char *fn)
{
    rcomm_status_t st;

    if ((st = ps_check_slices(ps, fn, v, n, "grad")) != RCOMM_OK)
        return st;
    for (int i = 0; i < n; i++) {
        const ps_tensor_t *tn = &ps->lay.t[v[i].tensor];
        char *acc = ps->accum[v[i].tensor] + v[i].offset * tn->esize;
        if (!v[i].count)
            continue;
        reduce_apply(acc, acc, v[i].buf, v[i].count, tn->dtype, RCOMM_SUM);
        mark_range(ps, v[i].tensor, v[i].offset, v[i].offset + v[i].count);
    }
    return RCOMM_OK;
}

rcomm_status_t rcomm_ps_pushv(rcomm_ps_t *ps, const rcomm_ps_slice_t *slices, int n)
{
    rcomm_comm_t *comm = ps_lock_comm(ps);

    return COMM_LOCKED(comm, pushv_locked(ps, slices, n, "rcomm_ps_pushv"));
}

rcomm_status_t rcomm_ps_push(rcomm_ps_t *ps, int tensor, size_t offset, size_t count,
                             const void *grad)
{
    rcomm_comm_t *comm = ps_lock_comm(ps);
    const rcomm_ps_slice_t v = {tensor, offset, count, (void *)(uintptr_t)grad};

    return COMM_LOCKED(comm, pushv_locked(ps, &v, 1, "rcomm_ps_push"));
}

static rcomm_status_t push_keys_locked(rcomm_ps_t *ps, int tensor, const size_t *keys,
                                       size_t n, const void *grad)
{
    static const char fn[] = "rcomm_ps_push_keys";
    const ps_tensor_t *tn;
    rcomm_status_t st;

    if ((st = ps_check_worker(ps, fn)) != RCOMM_OK ||
        (st = ps_check_keys(ps, fn, tensor, 0, 0, NULL, NULL)) != RCOMM_OK)
        return st;
    tn = &ps->lay.t[tensor];
    if (n && (!keys || !grad))
        return base_err(RCOMM_ERR_INVALID_ARG, "%s: rank %d: %s is NULL", fn,
                        ps->comm->rank, keys ? "grad" : "keys");
    for (size_t i = 0; i < n; i++)
        if (keys[i] >= tn->count)
            return base_err(RCOMM_ERR_INVALID_ARG,
                            "%s: rank %d: keys[%zu] = %zu is outside tensor '%s' (%zu "
                            "keys); nothing was added",
                            fn, ps->comm->rank, i, keys[i], tn->name, tn->count);
    for (size_t i = 0; i < n; i++) {
        char *acc = ps->accum[tensor] + keys[i] * tn->esize;
        reduce_apply(acc, acc, (const char *)grad + i * tn->esize, 1, tn->dtype,
                     RCOMM_SUM);
        mark_range(ps, tensor, keys[i], keys[i] + 1);
    }
    return RCOMM_OK;
}

rcomm_status_t rcomm_ps_push_keys(rcomm_ps_t *ps, int tensor, const size_t *keys,
                                  size_t n, const void *grad)
{
    rcomm_comm_t *comm = ps_lock_comm(ps);

    return COMM_LOCKED(comm, push_keys_locked(ps, tensor, keys, n, grad));
}

/* ---- the push step ----------------------------------------------------- */

/* What server s has applied of ours, as last seen: told into our mailbox,
 * read by a pull, or in place when it is our own rank. */
static uint64_t applied(rcomm_ps_t *ps, int s)
{
    uint64_t *known = &ps->rem[s].applied[ps->worker];
    const uint64_t told =
        s == ps->comm->rank ? __atomic_load_n(&ps->srv.pub[ps->worker], __ATOMIC_ACQUIRE)
                            : __atomic_load_n(&ps->mbox[s], __ATOMIC_ACQUIRE);

    *known = told > *known ? told : *known;
    return *known;
}

/* The half of our slots this push writes is busy until every server has
 * published the push before our previous one, which wrote it last. The
 * servers tell us (ps_server_tell), so a push usually finds it known; one
 * that does not reads the word itself, as a thread's publication is told
 * only at the server's next progress. */
static rcomm_status_t wait_slots(rcomm_ps_t *ps, const char *fn)
{
    const uint64_t iv = (uint64_t)ps->cfg.push_interval;
    const uint64_t need = ps->pushed > iv ? ps->pushed - iv : 0;
    ps_wait_t wait = {0};
    rcomm_status_t st;

    for (;;) {
        size_t n = 0;
        int busy = -1;
        for (int s = 0; s < ps->cfg.num_servers; s++) {
            ps_op_t *o;
            if (applied(ps, s) >= need)
                continue;
            if (!(o = ps_op_add(ps, &n)))
                return ps_nomem(ps, fn);
            ps_op_get(o, s, &ps->rem[s].applied[ps->worker], 8, &ps->rem[s].pub,
                      (size_t)ps->worker * 8, 1);
        }
        if (!n)
            return RCOMM_OK;
        if ((st = ps_rma_run(ps, ps->ops, n, "clock")) != RCOMM_OK)
            return st;
        for (int s = 0; s < ps->cfg.num_servers && busy < 0; s++)
            if (applied(ps, s) < need)
                busy = s;
        if (busy < 0)
            return RCOMM_OK;
        if (ps_wait_step(ps, &wait))
            return ps_fail(
                ps, base_err(RCOMM_ERR_TIMEOUT,
                             "%s: rank %d: server rank %d has not applied our push of "
                             "clock %llu within RCOMM_TIMEOUT (%.0f s)%s",
                             fn, ps->comm->rank, busy, (unsigned long long)need,
                             ps->comm->cfg.timeout_s,
                             ps->cfg.staleness == 0
                                 ? "; under BSP it waits for every worker's push"
                                 : ""));
    }
}

/* Block i of tensor t's range on server s in the stage: its record's data
 * (what goes of the block) and header (its stamp; bytes it used in
 * rm->staged). */
static char *staged(rcomm_ps_t *ps, int s, int t, size_t i)
{
    return ps->rem[s].stage + ps_rec(&ps->lay, s, t, i) + PS_REC_DATA;
}
static void stamp(rcomm_ps_t *ps, int s, int t, size_t i, uint64_t word, int sent,
                  size_t bytes)
{
    ps_remote_t *rm = &ps->rem[s];
    const size_t b = ps_range(&ps->lay, s, t)->block + i;

    ((ps_block_hdr_t *)(rm->stage + ps_rec(&ps->lay, s, t, i)))->clock = word;
    rm->sent[b] = (unsigned char)sent;
    rm->staged[b] = (uint32_t)bytes;
}

/* Stage the dirty blocks of tensor t on server s for this push: each whole,
 * or as the image of the keys picked (a filter, a compressor; those with
 * gradient when the push named only some) or the compressor's encoding
 * (sparse.c) when that is smaller. A block of which nothing was picked
 * stays dirty. */
static rcomm_status_t stage_dirty(rcomm_ps_t *ps, int s, int t, uint64_t *bytes)
{
    static const char fn[] = "rcomm_ps_clock";
    const ps_range_t *r = ps_range(&ps->lay, s, t);
    const ps_tensor_t *tn = &ps->lay.t[t];
    ps_remote_t *rm = &ps->rem[s];
    const size_t nb = (r->n + tn->blk - 1) / tn->blk;
    const int picks = ps_picks(ps, t), encodes = ps_encodes(ps, t);
    const size_t m = picks ? ps_pick(ps, s, t) : 0;
    size_t k = 0; /* the next picked key */

    for (size_t i = 0; i < nb; i++) {
        const size_t b = r->block + i, first = i * tn->blk;
        const size_t len = ps_block_keys(&ps->lay, s, t, i) * tn->esize;
        size_t img = 0, a = 0, got = 0;
        if (!rm->dirty[b])
            continue;
        if (picks) {
            const size_t end = first + tn->blk;
            while (k < m && ps->pick[k] < first)
                k++;
            for (a = k; k < m && ps->pick[k] < end;)
                k++;
            if (a == k) /* nothing picked: it waits */
                continue;
            got = k - a;
        } else if (encodes) {
            if ((img = ps_encoded_image(ps, s, t, i)))
                stamp(ps, s, t, i, PS_STAMP(ps->clock, 0) | PS_STAMP_ENCODED,
                      PS_SENT_ENCODED, img);
        } else if (!rm->full[b]) { /* some keys pushed: those with gradient */
            if ((got = ps_pick_block(ps, s, t, i)) == (size_t)-1)
                return ps_nomem(ps, fn);
            if (!got) { /* they cancelled out */
                rm->dirty[b] = 0;
                continue;
            }
            a = 0;
        }
        if (got && (img = ps_sparse_image(ps, s, t, i, ps->pick + a, got))) {
            stamp(ps, s, t, i, PS_STAMP(ps->clock, got), PS_SENT_SPARSE, img);
            ps->stats.keys_pushed += got;
        }
        if (!img) {
            memcpy(staged(ps, s, t, i), ps->accum[t] + (r->lo + first) * tn->esize, len);
            stamp(ps, s, t, i, PS_STAMP(ps->clock, 0), PS_SENT_DENSE, len);
        }
        *bytes += img ? img : len;
    }
    return RCOMM_OK;
}

/* Records closer than this are written together, the records between
 * included (their stamps are older than the push: the server skips them):
 * one request less is worth more than a few KiB. */
#define PS_GAP_BYTES 4096

/* A write of bytes [a, e) of the stage for server s into the same bytes
 * of half h of our slot there: a put, or (kind PS_PUTN) the one that
 * notifies it with value. */
static rcomm_status_t put_run(rcomm_ps_t *ps, int s, int h, size_t a, size_t e,
                              ps_op_kind_t kind, uint32_t value, size_t *n)
{
    ps_remote_t *rm = &ps->rem[s];
    ps_op_t *o = ps_op_add(ps, n);

    if (!o)
        return ps_nomem(ps, "rcomm_ps_clock");
    *o = (ps_op_t){.kind = kind,
                   .server = s,
                   .buf = rm->stage + a,
                   .len = e - a,
                   .rkey = &rm->slot,
                   .raddr = ps_raddr(&rm->slot, ps_slot_at(ps, s, h, a)),
                   .add = value};
    return RCOMM_OK;
}

/* Write the records staged for server s into half ps_half(clock) of our
 * slot there, in runs, trimmed to the bytes used; the last write notifies
 * the server (a push of nothing still does: the clock moves), saying
 * whether the push is small. */
static rcomm_status_t put_staged(rcomm_ps_t *ps, int s, size_t *n)
{
    const ps_remote_t *rm = &ps->rem[s];
    const int h = ps_half(ps, ps->clock);
    size_t a = 0, e = 0, bytes = 0; /* the run: bytes [a, e) of the stage */
    int run = 0;
    rcomm_status_t st;

    for (int t = 0; t < ps->lay.ntensors; t++) {
        const ps_range_t *r = ps_range(&ps->lay, s, t);
        for (size_t i = 0; i * ps->lay.t[t].blk < r->n; i++) {
            const size_t b = r->block + i, rec = ps_rec(&ps->lay, s, t, i);
            if (rm->sent[b] == PS_SENT_NONE)
                continue;
            if (run && rec - e > PS_GAP_BYTES) {
                if ((st = put_run(ps, s, h, a, e, PS_PUT, 0, n)) != RCOMM_OK)
                    return st;
                run = 0;
            }
            if (!run)
                a = rec;
            run = 1;
            e = rec + PS_REC_DATA + rm->staged[b];
            bytes += PS_REC_DATA + rm->staged[b];
        }
    }
    return put_run(ps, s, h, a, e, PS_PUTN,
                   ps_notify_value(ps->clock, bytes <= PS_SMALL_BYTES), n);
}

/* After a push: blocks sent whole are zeroed; a block sent sparse (its keys
 * zeroed already) or encoded (what it lost kept) stays dirty while it holds
 * gradient, which is dropped instead when the compressor keeps no error
 * feedback. A block that stays dirty is no longer full. */
static void settle(rcomm_ps_t *ps, int s, int t)
{
    const ps_range_t *r = ps_range(&ps->lay, s, t);
    const ps_tensor_t *tn = &ps->lay.t[t];
    ps_remote_t *rm = &ps->rem[s];
    const int drop = ps_drops(ps, t);

    for (size_t i = 0; i * tn->blk < r->n; i++) {
        const size_t b = r->block + i, first = i * tn->blk;
        const size_t len = ps_block_keys(&ps->lay, s, t, i) * tn->esize;
        char *acc = ps->accum[t] + (r->lo + first) * tn->esize;
        if (rm->sent[b] == PS_SENT_DENSE || (rm->sent[b] != PS_SENT_NONE && drop)) {
            memset(acc, 0, len);
            rm->dirty[b] = 0;
        } else if (rm->sent[b] != PS_SENT_NONE) { /* sparse, or encoded */
            size_t z = 0;
            while (z < len && !acc[z])
                z++;
            rm->dirty[b] = z < len;
        }
        if (rm->sent[b] != PS_SENT_NONE)
            rm->full[b] = 0;
        rm->sent[b] = PS_SENT_NONE;
    }
}

static rcomm_status_t flush(rcomm_ps_t *ps)
{
    static const char fn[] = "rcomm_ps_clock";
    uint64_t bytes = 0;
    size_t n = 0;
    rcomm_status_t st;

    if ((st = wait_slots(ps, fn)) != RCOMM_OK)
        return st;
    for (int s = 0; s < ps->cfg.num_servers; s++) {
        for (int t = 0; t < ps->lay.ntensors; t++)
            if ((st = stage_dirty(ps, s, t, &bytes)) != RCOMM_OK)
                return st;
        if ((st = put_staged(ps, s, &n)) != RCOMM_OK)
            return st;
    }
    if ((st = ps_rma_run(ps, ps->ops, n, "clock")) != RCOMM_OK)
        return st;
    for (int s = 0; s < ps->cfg.num_servers; s++)
        for (int t = 0; t < ps->lay.ntensors; t++)
            settle(ps, s, t);
    ps->pushed = ps->clock;
    ps->stats.pushes++;
    ps->stats.bytes_pushed += bytes;
    return RCOMM_OK;
}

static rcomm_status_t ps_clock_locked(rcomm_ps_t *ps)
{
    rcomm_status_t st;

    if ((st = ps_check_worker(ps, "rcomm_ps_clock")) != RCOMM_OK)
        return st;
    ps->clock++;
    if (ps->clock % (uint64_t)ps->cfg.push_interval != 0)
        return RCOMM_OK;
    return flush(ps);
}

rcomm_status_t rcomm_ps_clock(rcomm_ps_t *ps)
{
    rcomm_comm_t *comm = ps_lock_comm(ps);

    return COMM_LOCKED(comm, ps_clock_locked(ps));
}
