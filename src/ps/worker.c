/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The worker's state, the scratch its calls share, and their checks. The
 * calls themselves are in pull.c and push.c.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/clock.h"
#include "base/error.h"
#include "ps/ps.h"

rcomm_status_t ps_worker_init(rcomm_ps_t *ps)
{
    const int S = ps->cfg.num_servers, T = ps->lay.ntensors;

    if (ps->worker < 0)
        return RCOMM_OK;
    ps->rem = calloc((size_t)S, sizeof(*ps->rem));
    ps->accum = calloc((size_t)T, sizeof(*ps->accum));
    if (!ps->rem || !ps->accum)
        goto nomem;
    for (int s = 0; s < S; s++) {
        ps_remote_t *r = &ps->rem[s];
        size_t nb = ps->lay.nblocks[s] ? ps->lay.nblocks[s] : 1;
        r->local = calloc(1, ps->lay.pbytes[s] ? ps->lay.pbytes[s] : 1);
        r->stage = calloc(1, ps->lay.pbytes[s] ? ps->lay.pbytes[s] : 1); /* stamps 0 */
        r->applied = calloc((size_t)ps->nworkers, 8);
        r->fetched = malloc(nb * 8);
        r->dirty = calloc(nb, 1);
        r->full = calloc(nb, 1);
        r->sent = calloc(nb, 1);
        r->staged = calloc(nb, sizeof(*r->staged));
        if (!r->local || !r->stage || !r->applied || !r->fetched || !r->dirty ||
            !r->full || !r->sent || !r->staged)
            goto nomem;
        memset(r->fetched, 0xff, nb * 8); /* never pulled */
    }
    for (int t = 0; t < T; t++) {
        size_t bytes = ps->lay.t[t].count * ps->lay.t[t].esize;
        if (!(ps->accum[t] = calloc(1, bytes)))
            goto nomem;
    }
    return ps_sparse_init(ps);
nomem:
    return base_err(RCOMM_ERR_NO_MEMORY,
                    "rcomm_ps_create: worker rank %d: no memory for the local copies",
                    ps->comm->rank);
}

void ps_worker_free(rcomm_ps_t *ps)
{
    for (int s = 0; ps->rem && s < ps->cfg.num_servers; s++) {
        ps_remote_t *r = &ps->rem[s];
        free(r->local);
        free(r->applied);
        free(r->fetched);
        free(r->dirty);
        free(r->full);
        free(r->sent);
        free(r->staged);
        free(r->stage);
    }
    free(ps->pick);
    free(ps->pick_val);
    free(ps->pick_scr);
    for (int t = 0; ps->accum && t < ps->lay.ntensors; t++)
        free(ps->accum[t]);
    free(ps->rem);
    free(ps->accum);
    free(ps->pieces.v);
    free(ps->again.v);
    free(ps->inbox);
    free(ps->ops);
    free(ps->fetch_msg);
}

rcomm_status_t ps_worker_finish(rcomm_ps_t *ps)
{
    size_t n = 0;
    ps_op_t *o;

    ps->done_sent = 1;
    for (int s = 0; s < ps->cfg.num_servers; s++) {
        if (s == ps->comm->rank)
            continue;
        if (!(o = ps_op_add(ps, &n)))
            return ps_nomem(ps, "rcomm_ps_destroy");
        *o = (ps_op_t){.kind = PS_SEND, .server = s, .add = PS_MSG_DONE};
    }
    return ps_rma_run(ps, ps->ops, n, "destroy");
}

/* ---- scratch ----------------------------------------------------------- */

ps_op_t *ps_op_add(rcomm_ps_t *ps, size_t *n)
{
    if (*n == ps->cap_ops) {
        size_t cap = ps->cap_ops ? 2 * ps->cap_ops : 16;
        ps_op_t *o = realloc(ps->ops, cap * sizeof(*o));
        if (!o)
            return NULL;
        ps->ops = o;
        ps->cap_ops = cap;
    }
    memset(&ps->ops[*n], 0, sizeof(ps->ops[*n]));
    return &ps->ops[(*n)++];
}

void ps_op_get(ps_op_t *o, int s, void *buf, size_t len, const tp_rkey_t *key, size_t off,
               int words)
{
    o->kind = PS_GET;
    o->server = s;
    o->buf = buf;
    o->len = len;
    o->rkey = key;
    o->raddr = ps_raddr(key, off);
    o->words = words;
}

int ps_piece_add(ps_pieces_t *v, int s, int t, size_t a, size_t b)
{
    ps_piece_t *last = v->n ? &v->v[v->n - 1] : NULL;

    if (last && last->s == s && last->t == t && last->b == a) {
        last->b = b; /* coalesce */
        return 0;
    }
    if (v->n == v->cap) {
        size_t c = v->cap ? 2 * v->cap : 16;
        ps_piece_t *p = realloc(v->v, c * sizeof(*p));
        if (!p)
            return -1;
        v->v = p;
        v->cap = c;
    }
    v->v[v->n++] = (ps_piece_t){.s = s, .t = t, .a = a, .b = b};
    return 0;
}

ps_piece_t ps_piece_at(const rcomm_ps_t *ps, int t, size_t k, size_t end)
{
    const int s = ps_layout_owner(&ps->lay, t, k);
    const ps_range_t *r = ps_range(&ps->lay, s, t);

    return (ps_piece_t){
        .s = s, .t = t, .a = k, .b = r->lo + r->n < end ? r->lo + r->n : end};
}

void ps_piece_blocks(const rcomm_ps_t *ps, const ps_piece_t *p, size_t *b0, size_t *b1)
{
    const ps_range_t *r = ps_range(&ps->lay, p->s, p->t);
    const size_t blk = ps->lay.t[p->t].blk;

    *b0 = r->block + (p->a - r->lo) / blk;
    *b1 = r->block + (p->b - 1 - r->lo) / blk;
}

rcomm_status_t ps_nomem(const rcomm_ps_t *ps, const char *fn)
{
    return base_err(RCOMM_ERR_NO_MEMORY, "%s: rank %d: out of memory", fn,
                    ps->comm->rank);
}

/* Once its spin is over, a wait on remote memory naps between reads: from
 * NAP_MIN_US, doubling, then 1 ms at a time in the transport (where our own
 * server's traffic wakes it). What a BSP worker waits for, the round
 * applied, usually comes within a millisecond: naps of a fixed 1 ms cost
 * the training example 1.40-1.52x of allreduce's step against 1.09-1.24x
 * with 50-200 us (docs/PERFORMANCE.md), while a long wait still reads
 * about once a millisecond. */
#define NAP_MIN_US 50
#define NAP_MAX_US 1000

int ps_wait_step(rcomm_ps_t *ps, ps_wait_t *wait)
{
    const uint64_t limit = (uint64_t)base_config_timeout_ms(&ps->comm->cfg) * 1000000ull;

    if (!wait->start) {
        wait->start = base_now_ns();
        comm_waiter_start(ps->comm, &wait->waiter);
        wait->waiter.follow = false; /* our own polls are the traffic */
        wait->nap_us = NAP_MIN_US;
        ps->stats.waits++;
    } else if (limit && base_now_ns() - wait->start > limit) {
        return 1;
    }
    /* Re-read after each step: the state we wait for is remote memory,
     * whose change no local event announces. */
    if (wait->nap_us < NAP_MAX_US &&
        base_now_ns() - wait->waiter.since_ns >= wait->waiter.spin_ns) {
        const struct timespec nap = {0, (long)wait->nap_us * 1000};
        comm_progress(ps->comm, 0);
        nanosleep(&nap, NULL);
        wait->nap_us *= 2;
        return 0;
    }
    comm_wait_step(ps->comm, &wait->waiter, 1);
    return 0;
}

/* ---- checks ------------------------------------------------------------ */

rcomm_status_t ps_check_worker(rcomm_ps_t *ps, const char *fn)
{
    rcomm_status_t st;

    if ((st = ps_check_handle(ps, fn)) != RCOMM_OK)
        return st;
    if (ps->failed)
        return comm_check(ps->comm, fn);
    if (ps->worker < 0)
        return base_err(RCOMM_ERR_INVALID_ARG,
                        "%s: rank %d is a server, not a worker (cfg.servers_work is 0)",
                        fn, ps->comm->rank);
    if (ps->done_sent)
        return base_err(
            RCOMM_ERR_INVALID_ARG, "%s: rank %d: the PS is %s", fn, ps->comm->rank,
            ps->finalized ? "finished (rcomm_ps_final was called)" : "being destroyed");
    return RCOMM_OK;
}

rcomm_status_t ps_check_slices(rcomm_ps_t *ps, const char *fn, const rcomm_ps_slice_t *v,
                               int n, const char *bufname)
{
    rcomm_status_t st;
    char what[64];

    if ((st = ps_check_worker(ps, fn)) != RCOMM_OK)
        return st;
    if (n < 0 || (n && !v))
        return base_err(RCOMM_ERR_INVALID_ARG, "%s: rank %d: %d slices at %p", fn,
                        ps->comm->rank, n, (const void *)v);
    for (int i = 0; i < n; i++) {
        snprintf(what, sizeof(what), n > 1 ? "%s (slice %d)" : "%s", fn, i);
        if ((st = ps_check_keys(ps, what, v[i].tensor, v[i].offset, v[i].count, v[i].buf,
                                bufname)) != RCOMM_OK)
            return st;
    }
    return RCOMM_OK;
}

rcomm_status_t ps_check_keys(rcomm_ps_t *ps, const char *fn, int tensor, size_t off,
                             size_t count, const void *buf, const char *bufname)
{
    const ps_tensor_t *t;

    if (tensor < 0 || tensor >= ps->lay.ntensors)
        return base_err(RCOMM_ERR_INVALID_ARG, "%s: rank %d: tensor %d is not in [0, %d)",
                        fn, ps->comm->rank, tensor, ps->lay.ntensors);
    t = &ps->lay.t[tensor];
    if (off > t->count || count > t->count - off)
        return base_err(RCOMM_ERR_INVALID_ARG,
                        "%s: rank %d: keys [%zu, %zu + %zu) are outside tensor '%s' "
                        "(%zu keys)",
                        fn, ps->comm->rank, off, off, count, t->name, t->count);
    if (count && !buf && bufname)
        return base_err(RCOMM_ERR_INVALID_ARG, "%s: rank %d: %s is NULL", fn,
                        ps->comm->rank, bufname);
    return RCOMM_OK;
}
