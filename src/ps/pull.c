/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Pull: versioned one-sided reads of a list of slices (one tensor's keys or
 * several tensors'), all servers at once.
 *
 * The slices become pieces (keys of one tensor on one server), sorted by
 * server, and every round reads all of them: the published clocks once per
 * server, the blocks' version words, the data. Seqlock style, each round
 * posting everything and then waiting:
 *   1. the clocks, the versions v1 and, fenced behind them, the data; the
 *      clocks may say to wait (staleness), and then this round is repeated
 *      without the data until they say otherwise, and the data read once;
 *   2. the versions again (v2).
 * A block whose v1 was odd (a thread was writing it) or whose v2 differs
 * was overwritten while we read it: those blocks alone are read again,
 * versions and data in one round, and then their versions. The writer makes
 * the version odd before it writes and even after, so v1 even and equal to
 * v2 means no write overlapped the data's read.
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

/* One round over ps->pieces: with clocks, the published clocks of every
 * server involved; the versions of every piece (into v1, or v2 after the
 * data); with data, each piece's data after its versions, fenced
 * (tp_req_t.fence: the TCP target serves our reads in order, the verbs
 * transport posts a fenced READ once the reads before it are done, our own
 * memory is copied in order), so that it is read after them, as the
 * seqlock check needs. */
static rcomm_status_t read_round(rcomm_ps_t *ps, int second, int clocks, int data,
                                 const char *fn)
{
    size_t n = 0, b0, b1;
    int last = -1;
    ps_op_t *o;

    for (size_t i = 0; i < ps->pieces.n; i++) {
        const ps_piece_t *p = &ps->pieces.v[i];
        const ps_range_t *rg = ps_range(&ps->lay, p->s, p->t);
        const size_t es = ps->lay.t[p->t].esize;
        ps_remote_t *r = &ps->rem[p->s];
        if (clocks && p->s != last) { /* the pieces are sorted by server */
            if (!(o = ps_op_add(ps, &n)))
                return ps_nomem(ps, fn);
            ps_op_get(o, p->s, r->applied, (size_t)ps->nworkers * 8, &r->pub, 0, 1);
            last = p->s;
        }
        ps_piece_blocks(ps, p, &b0, &b1);
        if (!(o = ps_op_add(ps, &n)))
            return ps_nomem(ps, fn);
        ps_op_get(o, p->s, (second ? r->v2 : r->v1) + b0, (b1 - b0 + 1) * 8, &r->pub,
                  ps_pub_version(ps, b0), 1);
        if (data) {
            if (!(o = ps_op_add(ps, &n)))
                return ps_nomem(ps, fn);
            ps_op_get(o, p->s, ps->local[p->t] + p->a * es, (p->b - p->a) * es,
                      &r->params, rg->off + (p->a - rg->lo) * es, 0);
            o->req.fence = 1;
        }
    }
    ps->stats.rounds++;
    return ps_rma_run(ps, ps->ops, n, fn + 9 /* "rcomm_ps_" */);
}

/* Read clocks and versions (and, on the first read when `data`, the data)
 * until every server involved has applied every worker's pushes up to
 * `need`; *got gets the smallest clock applied, *have_data whether the
 * data came with the read that showed it, ps->pull_waited whether it took
 * more than one read. */
static rcomm_status_t wait_clocks(rcomm_ps_t *ps, uint64_t need, int data, uint64_t *got,
                                  int *have_data, const char *fn)
{
    ps_wait_t wait = {0};
    rcomm_status_t st;

    for (;;) {
        int lag_s = -1, lag_w = 0, w = 0;
        uint64_t lag = UINT64_MAX;
        if ((st = read_round(ps, 0, 1, data, fn)) != RCOMM_OK)
            return st;
        for (size_t i = 0; i < ps->pieces.n; i++) {
            uint64_t m = min_applied(ps, ps->pieces.v[i].s, &w);
            if (m < lag) {
                lag = m;
                lag_s = ps->pieces.v[i].s;
                lag_w = w;
            }
        }
        if (lag >= need || lag_s < 0) {
            *got = lag_s < 0 ? need : lag;
            *have_data = data;
            ps->pull_waited = wait.start != 0;
            return RCOMM_OK;
        }
        data = 0; /* not the data of the clock we wait for: poll without it */
        if (ps_wait_step(ps, &wait))
            return ps_fail(ps, base_err(RCOMM_ERR_TIMEOUT,
                                        "%s: rank %d at clock %llu waited RCOMM_TIMEOUT "
                                        "(%.0f s) for worker rank %d: server rank %d has "
                                        "its updates up to clock %llu, staleness %d "
                                        "needs %llu",
                                        fn, ps->comm->rank, (unsigned long long)ps->clock,
                                        ps->comm->cfg.timeout_s, ps->worker_rank[lag_w],
                                        lag_s, (unsigned long long)lag, ps->cfg.staleness,
                                        (unsigned long long)need));
    }
}

/* The pieces' versions (v1) and data have been read: read the versions
 * again (v2), and the blocks that changed in between again, versions and
 * data in one round, then their versions; blocks that changed during that
 * second read too are fetched from their servers (fetch.c), which cannot
 * fail that way. A block is read at most twice one-sided. */
static rcomm_status_t read_consistent(rcomm_ps_t *ps, const char *fn)
{
    rcomm_status_t st;
    size_t b0, b1;

    for (int pass = 0;; pass++) {
        if ((st = read_round(ps, 1, 0, 0, fn)) != RCOMM_OK)
            return st;
        ps->again.n = 0;
        for (size_t i = 0; i < ps->pieces.n; i++) {
            const ps_piece_t *p = &ps->pieces.v[i];
            const ps_range_t *r = ps_range(&ps->lay, p->s, p->t);
            const ps_remote_t *rm = &ps->rem[p->s];
            const size_t blk = ps->lay.t[p->t].blk;
            ps_piece_blocks(ps, p, &b0, &b1);
            for (size_t b = b0; b <= b1; b++) {
                /* This block's keys within the piece. */
                size_t a = r->lo + (b - r->block) * blk, e = a + blk;
                if (!(rm->v1[b] & 1) && rm->v1[b] == rm->v2[b])
                    continue;
                if (ps_piece_add(&ps->again, p->s, p->t, a > p->a ? a : p->a,
                                 e < p->b ? e : p->b))
                    return ps_nomem(ps, fn);
                ps->stats.retries++;
            }
        }
        if (!ps->again.n)
            return RCOMM_OK;
        {
            ps_pieces_t tmp = ps->pieces;
            ps->pieces = ps->again;
            ps->again = tmp;
        }
        if (pass == 1)
            return ps_fetch(ps, &ps->pieces, fn);
        if ((st = read_round(ps, 0, 0, 1, fn)) != RCOMM_OK)
            return st;
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

/* Read the pieces from the servers: *got gets the clock of what was read. */
static rcomm_status_t read_pieces(rcomm_ps_t *ps, uint64_t *got, const char *fn)
{
    rcomm_status_t st;
    int have_data = 0;
    size_t b0, b1;

    sort_pieces(&ps->pieces);
    /* The data comes with the clocks unless we expect to wait for them (the
     * last pull did): then a read of it would be of an older clock. */
    if ((st = wait_clocks(ps, required_clock(ps), !ps->pull_waited, got, &have_data,
                          fn)) != RCOMM_OK)
        return st;
    if (!have_data && (st = read_round(ps, 0, 0, 1, fn)) != RCOMM_OK)
        return st;
    /* The pieces are rewritten by retries: remember the blocks first. */
    for (size_t i = 0; i < ps->pieces.n; i++) {
        ps_piece_blocks(ps, &ps->pieces.v[i], &b0, &b1);
        for (size_t b = b0; b <= b1; b++)
            ps->rem[ps->pieces.v[i].s].fetched[b] = *got;
    }
    return read_consistent(ps, fn);
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
            if (ps_piece_add(&ps->pieces, p.s, p.t, p.a, p.b))
                return ps_nomem(ps, fn);
            k = p.b;
        }
        bytes += v[i].count * ps->lay.t[t].esize;
    }
    if (ps->pieces.n) {
        if ((st = read_pieces(ps, &read, fn)) != RCOMM_OK)
            return st;
        got = read < got ? read : got;
        ps->stats.pulls++;
        ps->stats.bytes_pulled += bytes;
    } else if (got != UINT64_MAX) {
        ps->stats.local_pulls++;
    }
    for (int i = 0; i < n; i++)
        if (v[i].buf && v[i].count) {
            const size_t es = ps->lay.t[v[i].tensor].esize;
            memcpy(v[i].buf, ps->local[v[i].tensor] + v[i].offset * es, v[i].count * es);
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
