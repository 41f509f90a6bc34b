/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The final model (rcomm_ps_final): once every worker is done and every
 * push is applied, each server sends its range of every tensor to the
 * ranks that want the model, as messages in the PS's tag space. A tensor's
 * ranges are contiguous and in server order, so each lands straight in its
 * place in the caller's buffer. A server first copies its blocks out of
 * their records (ps_rec), leaving the headers behind.
 */
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "ps/ps.h"

static const char fn[] = "rcomm_ps_final";

static rcomm_status_t check(const rcomm_ps_t *ps, int root, void *const *dst)
{
    const int me = ps->comm->rank;

    if (root != RCOMM_PS_EVERY_RANK && (root < 0 || root >= ps->comm->size))
        return base_err(RCOMM_ERR_INVALID_ARG,
                        "%s: rank %d: root %d is not a rank of [0, %d) or "
                        "RCOMM_PS_EVERY_RANK",
                        fn, me, root, ps->comm->size);
    if (root != RCOMM_PS_EVERY_RANK && root != me)
        return RCOMM_OK;
    if (!dst)
        return base_err(RCOMM_ERR_INVALID_ARG,
                        "%s: rank %d receives the model: dst is NULL", fn, me);
    for (int t = 0; t < ps->lay.ntensors; t++)
        if (!dst[t])
            return base_err(RCOMM_ERR_INVALID_ARG, "%s: rank %d: dst[%d] ('%s') is NULL",
                            fn, me, t, ps->lay.t[t].name);
    return RCOMM_OK;
}

/* Our ranges, without the blocks' headers: at their off in a buffer of
 * lay.bytes[rank] (NULL when out of memory). */
static char *gather(const rcomm_ps_t *ps)
{
    const int me = ps->comm->rank;
    char *d = malloc(ps->lay.bytes[me] ? ps->lay.bytes[me] : 1);

    for (int t = 0; d && t < ps->lay.ntensors; t++) {
        const ps_range_t *r = ps_range(&ps->lay, me, t);
        ps_rec_copy(&ps->lay, me, t, r->lo, r->lo + r->n, ps->srv.params, d + r->off, 1);
    }
    return d;
}

/* Our messages: a server sends its ranges to every receiving rank but
 * itself, a receiving rank gets the ranges of every server but itself. */
static rcomm_status_t exchange(rcomm_ps_t *ps, int root, void *const *dst)
{
    const int me = ps->comm->rank, S = ps->cfg.num_servers, T = ps->lay.ntensors;
    const int receives = root == RCOMM_PS_EVERY_RANK || root == me;
    ps_op_t *ops = calloc((size_t)(S + ps->comm->size) * (size_t)T, sizeof(*ops));
    char *mine = ps->is_server ? gather(ps) : NULL;
    size_t n = 0;
    rcomm_status_t st;

    if (!ops || (ps->is_server && !mine)) {
        free(ops);
        free(mine);
        return base_err(RCOMM_ERR_NO_MEMORY, "%s: rank %d: out of memory", fn, me);
    }
    for (int t = 0; t < T; t++) {
        const size_t es = ps->lay.t[t].esize;
        for (int s = 0; receives && s < S; s++) {
            const ps_range_t *r = ps_range(&ps->lay, s, t);
            char *at = (char *)dst[t] + r->lo * es;
            if (s == me)
                memcpy(at, mine + r->off, r->n * es);
            else if (r->n)
                ops[n++] = (ps_op_t){.kind = PS_RECV,
                                     .server = s,
                                     .buf = at,
                                     .len = r->n * es,
                                     .add = PS_MSG_FINAL};
        }
        for (int q = 0; ps->is_server && q < ps->comm->size; q++) {
            const ps_range_t *r = ps_range(&ps->lay, me, t);
            if (q != me && r->n && (root == RCOMM_PS_EVERY_RANK || root == q))
                ops[n++] = (ps_op_t){.kind = PS_SEND,
                                     .server = q,
                                     .buf = mine + r->off,
                                     .len = r->n * es,
                                     .add = PS_MSG_FINAL};
        }
    }
    st = ps_rma_run(ps, ops, n, "final");
    free(ops);
    free(mine);
    return st;
}

static rcomm_status_t ps_final_locked(rcomm_ps_t *ps, int root, void *const *dst)
{
    rcomm_status_t st;

    if ((st = ps_check_handle(ps, fn)) != RCOMM_OK)
        return st;
    if (ps->failed)
        return comm_check(ps->comm, fn);
    if (ps->finalized)
        return base_err(RCOMM_ERR_INVALID_ARG, "%s: rank %d: called a second time", fn,
                        ps->comm->rank);
    if ((st = check(ps, root, dst)) != RCOMM_OK)
        return st;
    ps->finalized = 1;
    if (ps->worker >= 0 && (st = ps_worker_finish(ps)) != RCOMM_OK)
        return st;
    /* Every push applied here: the parameters no longer change. */
    if (ps->is_server && (st = ps_serve(ps, fn)) != RCOMM_OK)
        return st;
    return exchange(ps, root, dst);
}

rcomm_status_t rcomm_ps_final(rcomm_ps_t *ps, int root, void *const *dst)
{
    rcomm_comm_t *comm = ps_lock_comm(ps);

    return COMM_LOCKED(comm, ps_final_locked(ps, root, dst));
}
