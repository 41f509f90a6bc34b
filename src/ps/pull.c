/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Pull: one-sided reads of a list of slices (one tensor's keys or several
 * tensors'), all servers at once.
 *
 * The slices become pieces (keys of one tensor on one server), widened to
 * whole blocks and sorted by server. A round posts, to every server
 * involved at once, reads of the published clocks and of every piece's
 * block headers and data, then waits. Nothing orders those reads, and
 * nothing needs to: a block is taken when its header's version is even and
 * its checksum matches the bytes read (ps_block_whole), which a read torn
 * by a write fails, and its header's clock says whose pushes are in it. A
 * pull of blocks whose clocks meet the staleness bound therefore takes one
 * round, and reads no clocks when the last pull did not need them.
 *
 * A block whose clock is too old (no push has written it lately) gets a
 * floor instead: the smallest clock of the last clocks read that completed
 * before its data's read was posted (ps_remote_t.known). It is read again
 * once such a read meets the bound; while the clocks do not, rounds of
 * clocks alone repeat (the staleness wait). A block torn in two reads is
 * fetched from its server (fetch.c), so a block is read at most twice
 * one-sided.
 */
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "ps/ps.h"

/* The clock every worker must have reached before a pull at our clock. */
static uint64_t required_clock(const rcomm_ps_t *ps)
{
    const uint64_t s = (uint64_t)ps->cfg.staleness, n = (uint64_t)ps->cfg.push_interval;

    if (ps->cfg.staleness < 0 || ps->clock <= s)
        return 0;
    /* A worker's clock reaches the servers at push steps only. */
    return (ps->clock - s) / n * n;
}

static uint64_t min_applied(const rcomm_ps_t *ps, int s, int *who)
{
    uint64_t m = UINT64_MAX;

    for (int w = 0; w < ps->nworkers; w++)
        if (ps->rem[s].applied[w] < m) {
            m = ps->rem[s].applied[w];
            *who = w;
        }
    return m;
}

/* One round over the pieces of v: with clocks, the published clocks of
 * every server involved; with data, one read of every piece's records
 * (headers and data) into the same place in our copy. */
static rcomm_status_t read_round(rcomm_ps_t *ps, const ps_pieces_t *v, int clocks,
                                 int data, const char *fn)
{
    size_t n = 0, b0, b1;
    int last = -1;
    ps_op_t *o;

    for (size_t i = 0; i < v->n; i++) {
        const ps_piece_t *p = &v->v[i];
        ps_remote_t *r = &ps->rem[p->s];
        size_t off;
        if (clocks && p->s != last) { /* the pieces are sorted by server */
            if (!(o = ps_op_add(ps, &n)))
                return ps_nomem(ps, fn);
            ps_op_get(o, p->s, r->applied, (size_t)ps->nworkers * 8, &r->pub, 0, 1);
            last = p->s;
        }
        if (!data)
            continue;
        ps_piece_blocks(ps, p, &b0, &b1);
        off = ps_rec(&ps->lay, p->s, p->t, b0 - ps_range(&ps->lay, p->s, p->t)->block);
        if (!(o = ps_op_add(ps, &n)))
            return ps_nomem(ps, fn);
        ps_op_get(o, p->s, r->local + off, (b1 - b0 + 1) * ps->lay.t[p->t].rec,
                  &r->params, off, 0);
    }
    ps->stats.rounds++;
    return ps_rma_run(ps, ps->ops, n, fn + 9 /* "rcomm_ps_" */);
}

/* The clocks just read from the servers of v are a floor for the data of
 * later rounds, not for the data read beside them: to be called once that
 * data has been judged. */
static void raise_known(rcomm_ps_t *ps, const ps_pieces_t *v)
{
    int last = -1, w = 0;

    for (size_t i = 0; i < v->n; i++)
        if (v->v[i].s != last) {
            ps_remote_t *r = &ps->rem[last = v->v[i].s];
            const uint64_t m = min_applied(ps, last, &w);
            r->known = m > r->known ? m : r->known;
        }
}

/* The blocks of v just read: the whole ones whose clock (or floor) meets
 * need are kept, their clock in fetched[] and *low; the others go to next
 * (*stale counts the ones that were whole but too old). */
static rcomm_status_t sort_blocks(rcomm_ps_t *ps, const ps_pieces_t *v, uint64_t need,
                                  ps_pieces_t *next, uint64_t *low, int *stale,
                                  const char *fn)
{
    size_t b0, b1;

    next->n = 0;
    for (size_t i = 0; i < v->n; i++) {
        const ps_piece_t *p = &v->v[i];
        const ps_range_t *r = ps_range(&ps->lay, p->s, p->t);
        const ps_tensor_t *tn = &ps->lay.t[p->t];
        ps_remote_t *rm = &ps->rem[p->s];
        ps_piece_blocks(ps, p, &b0, &b1);
        for (size_t b = b0; b <= b1; b++) {
            const size_t a = r->lo + (b - r->block) * tn->blk;
            const size_t e = a + ps_block_keys(&ps->lay, p->s, p->t, b - r->block);
            const char *rec = rm->local + ps_rec(&ps->lay, p->s, p->t, b - r->block);
            const ps_block_hdr_t *h = (const ps_block_hdr_t *)rec;
            const uint64_t c = h->clock > rm->known ? h->clock : rm->known;
            if (!ps_block_whole(h, rec + PS_REC_DATA, (e - a) * tn->esize))
                ps->stats.retries++;
            else if (c < need)
                ++*stale;
            else {
                rm->fetched[b] = c;
                *low = c < *low ? c : *low;
                continue;
            }
            if (ps_piece_add(next, p->s, p->t, a, e))
                return ps_nomem(ps, fn);
        }
    }
    return RCOMM_OK;
}

/* The blocks of v, torn twice, from their servers; their floor is the
 * clocks read before the request. */
static rcomm_status_t fetch_blocks(rcomm_ps_t *ps, const ps_pieces_t *v, uint64_t *low,
                                   const char *fn)
{
    rcomm_status_t st = ps_fetch(ps, v, fn);
    size_t b0, b1;

    for (size_t i = 0; st == RCOMM_OK && i < v->n; i++) {
        ps_remote_t *rm = &ps->rem[v->v[i].s];
        ps_piece_blocks(ps, &v->v[i], &b0, &b1);
        for (size_t b = b0; b <= b1; b++)
            rm->fetched[b] = rm->known;
        *low = rm->known < *low ? rm->known : *low;
    }
    return st;
}

static rcomm_status_t timeout(rcomm_ps_t *ps, const ps_pieces_t *v, uint64_t need,
                              const char *fn)
{
    int lag_s = v->v[0].s, lag_w = 0, w = 0;
    uint64_t lag = UINT64_MAX;

    for (size_t i = 0; i < v->n; i++) {
        const uint64_t m = min_applied(ps, v->v[i].s, &w);
        if (m < lag) {
            lag = m;
            lag_s = v->v[i].s;
            lag_w = w;
        }
    }
    return ps_fail(ps, base_err(RCOMM_ERR_TIMEOUT,
                                "%s: rank %d at clock %llu waited RCOMM_TIMEOUT (%.0f s) "
                                "for worker rank %d: server rank %d has its updates up "
                                "to clock %llu, staleness %d needs %llu",
                                fn, ps->comm->rank, (unsigned long long)ps->clock,
                                ps->comm->cfg.timeout_s, ps->worker_rank[lag_w], lag_s,
                                (unsigned long long)lag, ps->cfg.staleness,
                                (unsigned long long)need));
}

/* The smallest floor among the servers of v. */
static uint64_t min_known(const rcomm_ps_t *ps, const ps_pieces_t *v)
{
    uint64_t m = UINT64_MAX;

    for (size_t i = 0; i < v->n; i++)
        m = ps->rem[v->v[i].s].known < m ? ps->rem[v->v[i].s].known : m;
    return m;
}

/* Read the pieces (whole blocks, sorted) from the servers: *got gets the
 * clock of what was read. The first round reads what the last pull needed:
 * the data alone when their blocks' clocks were enough, clocks too when not,
 * clocks alone when it had to wait for them. A block is read one-sided at
 * most twice; what is left after two reads is fetched, once the floor
 * meets need. */
static rcomm_status_t read_pieces(rcomm_ps_t *ps, uint64_t *got, const char *fn)
{
    const uint64_t need = required_clock(ps);
    ps_pieces_t *todo = &ps->pieces, *next = &ps->again, *tmp;
    int clocks = ps->pull_mode != PS_PULL_DATA, data = ps->pull_mode != PS_PULL_WAIT;
    int reads = 0, stale = 0;
    ps_wait_t wait = {0};
    rcomm_status_t st;

    *got = UINT64_MAX;
    ps->pull_mode = PS_PULL_DATA;
    for (;;) {
        if ((st = read_round(ps, todo, clocks, data, fn)) != RCOMM_OK)
            return st;
        if (data) {
            reads++;
            stale = 0;
            if ((st = sort_blocks(ps, todo, need, next, got, &stale, fn)) != RCOMM_OK)
                return st;
        }
        if (clocks)
            raise_known(ps, todo);
        if (data) {
            tmp = todo, todo = next, next = tmp;
            if (!todo->n)
                return RCOMM_OK;
            if (stale && ps->pull_mode == PS_PULL_DATA)
                ps->pull_mode = PS_PULL_CLOCKS;
        }
        clocks = 1;
        if (min_known(ps, todo) >= need) { /* every whole read passes now */
            if (reads >= 2)
                return fetch_blocks(ps, todo, got, fn);
            data = 1;
        } else if (data && !stale && reads < 2) {
            data = 1; /* torn only: their own clocks may do, read them again */
        } else {
            data = 0; /* the staleness wait: clocks alone until they do */
            ps->pull_mode = PS_PULL_WAIT;
            if (ps_wait_step(ps, &wait))
                return timeout(ps, todo, need, fn);
        }
    }
}

/* Every key of [off, off + count) has been pulled; the oldest clock among
 * their blocks, or UINT64_MAX if one was never pulled. */
static uint64_t local_clock(const rcomm_ps_t *ps, int t, size_t off, size_t count)
{
    uint64_t c = UINT64_MAX - 1;
    size_t k = off, b0, b1;

    while (k < off + count) {
        const ps_piece_t p = ps_piece_at(ps, t, k, off + count);
        ps_piece_blocks(ps, &p, &b0, &b1);
        for (size_t b = b0; b <= b1; b++)
            if (ps->rem[p.s].fetched[b] == UINT64_MAX)
                return UINT64_MAX;
            else if (ps->rem[p.s].fetched[b] < c)
                c = ps->rem[p.s].fetched[b];
        k = p.b;
    }
    return c;
}

static int piece_cmp(const void *x, const void *y)
{
    const ps_piece_t *a = x, *b = y;

    if (a->s != b->s)
        return a->s < b->s ? -1 : 1;
    if (a->t != b->t)
        return a->t < b->t ? -1 : 1;
    return a->a < b->a ? -1 : a->a > b->a;
}

/* Sort the pieces by server (one clock read per server and round) and merge
 * the ones that overlap or touch (slices may). */
static void sort_pieces(ps_pieces_t *v)
{
    size_t n = 0;

    qsort(v->v, v->n, sizeof(*v->v), piece_cmp);
    for (size_t i = 0; i < v->n; i++) {
        ps_piece_t *last = n ? &v->v[n - 1] : NULL;
        if (last && last->s == v->v[i].s && last->t == v->v[i].t &&
            v->v[i].a <= last->b) {
            if (v->v[i].b > last->b)
                last->b = v->v[i].b;
        } else {
            v->v[n++] = v->v[i];
        }
    }
    v->n = n;
}

static rcomm_status_t pullv_locked(rcomm_ps_t *ps, const rcomm_ps_slice_t *v, int n,
                                   unsigned flags, uint64_t *clock, const char *fn)
{
    const int fresh = flags & RCOMM_PS_FRESH;
    uint64_t got = UINT64_MAX, c, read = 0, bytes = 0;
    rcomm_status_t st;

    if ((st = ps_check_slices(ps, fn, v, n, NULL)) != RCOMM_OK)
        return st;
    if (flags & ~RCOMM_PS_FRESH)
        return base_err(RCOMM_ERR_INVALID_ARG, "%s: rank %d: unknown flags 0x%x", fn,
                        ps->comm->rank, flags & ~RCOMM_PS_FRESH);
    ps->pieces.n = 0;
    for (int i = 0; i < n; i++) {
        const int t = v[i].tensor;
        const size_t end = v[i].offset + v[i].count;
        if (!v[i].count)
            continue;
        c = local_clock(ps, t, v[i].offset, v[i].count);
        if (!fresh && ps->clock % (uint64_t)ps->cfg.pull_interval != 0 &&
            c != UINT64_MAX) {
            got = c < got ? c : got; /* served from the local copy */
            continue;
        }
        for (size_t k = v[i].offset; k < end;) {
            const ps_piece_t p = ps_piece_at(ps, t, k, end);
            size_t a = p.a, e = p.b; /* a checksum covers a whole block */
            ps_layout_whole_blocks(&ps->lay, p.s, p.t, &a, &e);
            if (ps_piece_add(&ps->pieces, p.s, p.t, a, e))
                return ps_nomem(ps, fn);
            k = p.b;
        }
        bytes += v[i].count * ps->lay.t[t].esize;
    }
    if (ps->pieces.n) {
        sort_pieces(&ps->pieces);
        if ((st = read_pieces(ps, &read, fn)) != RCOMM_OK)
            return st;
        got = read < got ? read : got;
        ps->stats.pulls++;
        ps->stats.bytes_pulled += bytes;
    } else if (got != UINT64_MAX) {
        ps->stats.local_pulls++;
    }
    for (int i = 0; i < n; i++) {
        char *buf = v[i].buf;
        const size_t end = v[i].offset + v[i].count;
        for (size_t k = v[i].offset; buf && k < end;) {
            const ps_piece_t p = ps_piece_at(ps, v[i].tensor, k, end);
            ps_rec_copy(&ps->lay, p.s, p.t, p.a, p.b, ps->rem[p.s].local,
                        buf + (k - v[i].offset) * ps->lay.t[p.t].esize, 1);
            k = p.b;
        }
    }
    if (clock)
        *clock = got == UINT64_MAX ? ps->clock : got;
    return RCOMM_OK;
}

rcomm_status_t rcomm_ps_pullv(rcomm_ps_t *ps, const rcomm_ps_slice_t *slices, int n,
                              unsigned flags, uint64_t *clock)
{
    rcomm_comm_t *comm = ps_lock_comm(ps);

    return COMM_LOCKED(comm, pullv_locked(ps, slices, n, flags, clock, "rcomm_ps_pullv"));
}

rcomm_status_t rcomm_ps_pull(rcomm_ps_t *ps, int tensor, size_t offset, size_t count,
                             void *dst, uint64_t *clock)
{
    rcomm_comm_t *comm = ps_lock_comm(ps);
    const rcomm_ps_slice_t v = {tensor, offset, count, dst};

    return COMM_LOCKED(comm, pullv_locked(ps, &v, 1, 0, clock, "rcomm_ps_pull"));
}

rcomm_status_t rcomm_ps_pull_fresh(rcomm_ps_t *ps, int tensor, size_t offset,
                                   size_t count, void *dst, uint64_t *clock)
{
    rcomm_comm_t *comm = ps_lock_comm(ps);
    const rcomm_ps_slice_t v = {tensor, offset, count, dst};

    return COMM_LOCKED(
        comm, pullv_locked(ps, &v, 1, RCOMM_PS_FRESH, clock, "rcomm_ps_pull_fresh"));
}
