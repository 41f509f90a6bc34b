/* SPDX-License-Identifier: BSD-3-Clause */
/* The tools' window (hooks.h). */
#include "hooks/hooks.h"

#include <stdlib.h>

#include "base/clock.h"
#include "base/error.h"
#include "coll/call.h"
#include "coll/colls.h"
#include "compress/compress.h"
#include "core/comm.h"
#include "ps/ps.h"

base_config_t *hook_config(rcomm_comm_t *comm)
{
    return &comm->cfg;
}

tp_t *hook_transport(const rcomm_comm_t *comm)
{
    comm_progress_stop((rcomm_comm_t *)comm); /* the tool drives it from now on */
    return comm->tp;
}

bool hook_caps(const rcomm_comm_t *comm, tp_caps_t *caps, const char **name)
{
    rcomm_comm_t *c = (rcomm_comm_t *)comm;
    bool have;

    comm_lock(c);
    if ((have = comm->tp != NULL)) {
        comm->tp->ops->caps(comm->tp, caps);
        *name = caps->name; /* the link's, under a composed transport */
    }
    comm_unlock(c, RCOMM_OK);
    return have;
}

void hook_host(const rcomm_comm_t *comm, hook_host_t *host)
{
    const int composed = comm_hosts_shared(comm);

    *host = (hook_host_t){.local_index = comm->local_index,
                          .local_size = comm->local_size,
                          .local_cores = comm->local_cores,
                          .oversubscribed = comm->oversubscribed != 0,
                          .spin_ns = comm->spin_ns,
                          .host_of = composed ? comm->host_of : NULL,
                          .nhosts = composed ? comm->nhosts : 0};
}

const coll_model_t *hook_model(const rcomm_comm_t *comm)
{
    return &coll_state(comm)->model;
}

const coll_links_t *hook_links(const rcomm_comm_t *comm)
{
    return &coll_state(comm)->links;
}

coll_bcast_algo_t hook_bcast_algo(const rcomm_comm_t *comm, size_t bytes)
{
    return coll_select_broadcast(&coll_state(comm)->model, comm->cfg.bcast_algo,
                                 comm->cfg.segment_size, comm->size, bytes);
}

const char *hook_allreduce_path(const rcomm_comm_t *comm, const void *sendbuf,
                                void *recvbuf, size_t count, rcomm_dtype_t dtype,
                                bool blocking)
{
    const coll_call_t c = {.desc = {COLL_ALLREDUCE, dtype, RCOMM_SUM, 0, count},
                           .sbuf = sendbuf == RCOMM_IN_PLACE ? recvbuf : sendbuf,
                           .rbuf = recvbuf,
                           .algo = RCOMM_ALGO_AUTO};

    switch (coll_allreduce_path(comm, &c, blocking)) {
    case COLL_PATH_SLOTS: return "slots";
    case COLL_PATH_MAPPED: return "mapped";
    case COLL_PATH_STAGED: return "staged";
    case COLL_PATH_MAPPED_NB:
        return coll_mapped_fit(comm, &c, NULL, NULL) ? "mapped" : NULL;
    default: return NULL;
    }
}

void hook_fail(rcomm_comm_t *comm, rcomm_status_t status, const char *why)
{
    comm_lock(comm);
    comm_fail(comm, base_err_quiet(status, "%s", why));
    comm_unlock(comm, RCOMM_OK);
}

rcomm_status_t hook_compress_rates(rcomm_compressor_t *c, const float *g, size_t n,
                                   int iters, double *enc_s, double *dec_s)
{
    cmp_tensor_t t = {.n = n};
    float *out = NULL;
    uint64_t t0;
    rcomm_status_t st;

    *enc_s = *dec_s = 0;
    if (!c->ops->encode || !n || iters < 1)
        return RCOMM_OK;
    if ((st = cmp_tensor_alloc(c, &t, n)) == RCOMM_OK &&
        !(out = calloc(n, sizeof(float))))
        st = base_err(RCOMM_ERR_NO_MEMORY, "hook_compress_rates: out of memory");
    if (st == RCOMM_OK) {
        t0 = base_now_ns();
        for (int i = 0; i < iters; i++)
            c->ops->encode(c, 0, &t, g, n, t.enc, t.mine);
        *enc_s = (double)(base_now_ns() - t0) / 1e9 / iters;
        t0 = base_now_ns();
        for (int i = 0; i < iters && st == RCOMM_OK; i++)
            st = c->ops->decode_add(c, &t, t.enc, n, out, c->rank);
        *dec_s = (double)(base_now_ns() - t0) / 1e9 / iters;
    }
    free(out);
    cmp_tensor_free(&t);
    return st;
}

static rcomm_status_t ps_notify_locked(rcomm_ps_t *ps, uint64_t clock)
{
    rcomm_status_t st;
    ps_op_t x;

    if ((st = ps_check_worker(ps, "hook_ps_notify")) != RCOMM_OK)
        return st;
    x = (ps_op_t){.kind = PS_PUTN,
                  .server = 0,
                  .rkey = &ps->rem[0].slot,
                  .raddr = ps_raddr(&ps->rem[0].slot, ps_slot_probe(ps, 0)),
                  .add = ps_notify_value(clock, 1)};
    return ps_rma_run(ps, &x, 1, "forged notification");
}

rcomm_status_t hook_ps_notify(rcomm_ps_t *ps, uint64_t clock)
{
    rcomm_comm_t *comm = ps_lock_comm(ps);

    return COMM_LOCKED(comm, ps_notify_locked(ps, clock));
}

void hook_ps_pause(unsigned us)
{
    ps_server_pause(us);
}

size_t hook_ps_probe_bytes(void)
{
    return PS_PROBE_BYTES;
}

static rcomm_status_t ps_bare_locked(rcomm_ps_t *ps, bool write, void *buf, size_t bytes)
{
    static const char fn[] = "hook_ps_bare";
    ps_op_t x = {0};
    ps_remote_t *r;
    rcomm_status_t st;

    if ((st = ps_check_worker(ps, fn)) != RCOMM_OK)
        return st;
    r = &ps->rem[0];
    if (!buf || (write && bytes > PS_PROBE_BYTES) ||
        (!write && bytes > ps->lay.pbytes[0]))
        return base_err(RCOMM_ERR_INVALID_ARG, "%s: rank %d: a bare %s of %zu bytes%s",
                        fn, ps->comm->rank, write ? "write" : "read", bytes,
                        buf ? " does not fit" : " into NULL");
    if (write)
        x = (ps_op_t){.kind = PS_PUT,
                      .server = 0,
                      .buf = buf,
                      .len = bytes,
                      .rkey = &r->slot,
                      .raddr = ps_raddr(&r->slot, ps_slot_probe(ps, 0))};
    else
        ps_op_get(&x, 0, buf, bytes, &r->params, 0, 0);
    return ps_rma_run(ps, &x, 1, "bare operation");
}

rcomm_status_t hook_ps_bare(rcomm_ps_t *ps, bool write, void *buf, size_t bytes)
{
    rcomm_comm_t *comm = ps_lock_comm(ps);

    return COMM_LOCKED(comm, ps_bare_locked(ps, write, buf, bytes));
}
