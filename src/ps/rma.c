/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * One-sided operations on servers. A worker posts a batch (reads of
 * records and clocks; writes of gradients, the last one notifying) and
 * waits for all of it: batches keep several servers busy at once, and one
 * wait loop holds the timeout and the error messages. The transport never
 * posts to its own rank, so an operation on our own server is done here with
 * loads and stores, with the same ordering guarantees as the network's.
 */
#include <string.h>

#include "base/clock.h"
#include "base/error.h"
#include "core/comm.h"
#include "ps/ps.h"

static const char *const op_names[] = {[PS_GET] = "read",
                                       [PS_PUT] = "write",
                                       [PS_PUTN] = "write",
                                       [PS_SEND] = "send",
                                       [PS_RECV] = "receive"};
static const tp_env_t no_env;
#define PS_TAG(ps, op) comm_service_tag((ps)->space, (uint32_t)(op)->add)

rcomm_status_t ps_fail(rcomm_ps_t *ps, rcomm_status_t st)
{
    if (!ps->failed)
        ps->failed = st;
    comm_fail(ps->comm, st);
    return st;
}

static void local_op(rcomm_ps_t *ps, ps_op_t *op)
{
    void *at = (void *)(uintptr_t)op->raddr;

    switch (op->kind) {
    case PS_GET:
        if (op->words) {
            const uint64_t *src = at;
            uint64_t *dst = op->buf;
            for (size_t i = 0; i < op->len / 8; i++)
                dst[i] = __atomic_load_n(&src[i], __ATOMIC_ACQUIRE);
        } else {
            memcpy(op->buf, at, op->len);
        }
        break;
    case PS_PUT: memcpy(at, op->buf, op->len); break;
    case PS_PUTN: /* the clock it sets is released: the bytes come with it */
        memcpy(at, op->buf, op->len);
        ps_server_notified(ps, ps->comm->rank, (uint32_t)op->add);
        break;
    case PS_SEND:
    case PS_RECV: break; /* never to ourselves: ps.c copies those keys */
    }
    op->req.status = RCOMM_OK;
}

static rcomm_status_t post(rcomm_ps_t *ps, ps_op_t *op)
{
    tp_t *tp = ps->comm->tp;
    const tp_ops_t *o = tp->ops;

    op->req.cb = NULL;
    switch (op->kind) {
    case PS_GET:
        return o->get(tp, op->server, op->buf, op->len, op->rkey, op->raddr, &op->req);
    case PS_PUT:
        return o->put(tp, op->server, op->buf, op->len, op->rkey, op->raddr, &op->req);
    case PS_PUTN:
        return o->put_notify(tp, op->server, op->buf, op->len, op->rkey, op->raddr,
                             comm_notify_imm(ps->space, (uint32_t)op->add), &op->req);
    case PS_SEND:
        return o->isend(tp, op->server, PS_TAG(ps, op), &no_env, op->buf, op->len,
                        &op->req);
    case PS_RECV:
        return o->irecv(tp, op->server, PS_TAG(ps, op), op->buf, op->len, &op->req);
    }
    return RCOMM_ERR_INTERNAL;
}

rcomm_status_t ps_op_error(rcomm_ps_t *ps, const ps_op_t *op, const char *what)
{
    const rcomm_status_t st = op->req.status;
    char why[200];

    snprintf(why, sizeof(why), "%s", rcomm_last_error());
    if (op->kind == PS_RECV && op->add == PS_MSG_DONE)
        return ps_fail(ps, base_err(st,
                                    "rcomm_ps_%s: server rank %d: worker rank %d failed "
                                    "before it was done: %s",
                                    what, ps->comm->rank, op->server,
                                    why[0] ? why : rcomm_strerror(st)));
    return ps_fail(ps, base_err(st,
                                "rcomm_ps_%s: rank %d: %s of %zu bytes with %s "
                                "rank %d failed: %s",
                                what, ps->comm->rank, op_names[op->kind], op->len,
                                op->server < ps->cfg.num_servers ? "server" : "worker",
                                op->server, why[0] ? why : rcomm_strerror(st)));
}

rcomm_status_t ps_post(rcomm_ps_t *ps, ps_op_t *op, const char *what)
{
    rcomm_status_t st;

    op->req.status = RCOMM_INPROGRESS;
    if (op->server == ps->comm->rank) {
        local_op(ps, op);
        return RCOMM_OK;
    }
    if (!ps->comm->tp)
        return comm_check(ps->comm, what);
    if ((st = post(ps, op)) != RCOMM_OK) {
        op->req.status = st;
        return ps_op_error(ps, op, what);
    }
    return RCOMM_OK;
}

rcomm_status_t ps_rma_run(rcomm_ps_t *ps, ps_op_t *ops, size_t n, const char *what)
{
    rcomm_comm_t *comm = ps->comm;
    const uint64_t limit = (uint64_t)base_config_timeout_ms(&comm->cfg) * 1000000ull;
    comm_waiter_t w;
    uint64_t start;
    size_t left = 0;
    rcomm_status_t st;

    if (ps->failed)
        return comm_check(comm, what);
    for (size_t i = 0; i < n; i++) {
        if ((st = ps_post(ps, &ops[i], what)) != RCOMM_OK)
            return st;
        left += ops[i].server != comm->rank;
    }
    start = base_now_ns();
    comm_waiter_start(comm, &w);
    while (left) {
        comm_wait_step(comm, &w, 1);
        if (comm->failed) {
            ps->failed = comm->failed;
            return comm_check(comm, what);
        }
        left = 0;
        for (size_t i = 0; i < n; i++) {
            if (ops[i].req.status == RCOMM_INPROGRESS)
                left++;
            else if (ops[i].req.status != RCOMM_OK)
                return ps_op_error(ps, &ops[i], what);
        }
        if (!left)
            break;
        if (limit && base_now_ns() - start > limit) {
            for (size_t i = 0; i < n; i++)
                if (ops[i].req.status == RCOMM_INPROGRESS)
                    return ps_fail(
                        ps, base_err(RCOMM_ERR_TIMEOUT,
                                     "rcomm_ps_%s: rank %d: %s rank %d did not "
                                     "complete a %s of %zu bytes within RCOMM_TIMEOUT "
                                     "(%.0f s)",
                                     what, comm->rank,
                                     ops[i].server < ps->cfg.num_servers ? "server"
                                                                         : "worker",
                                     ops[i].server, op_names[ops[i].kind], ops[i].len,
                                     comm->cfg.timeout_s));
        }
    }
    return RCOMM_OK;
}
