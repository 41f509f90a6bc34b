/* SPDX-License-Identifier: BSD-3-Clause */
/* Parameter server life cycle: checks, server memory, keys, serve, destroy. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "compress/compress.h"
#include "core/handle.h"
#include "ps/ps.h"
#include "transports/util/heap.h"

void rcomm_ps_config_init(rcomm_ps_config_t *cfg)
{
    if (!cfg)
        return;
    memset(cfg, 0, sizeof(*cfg));
    cfg->num_servers = 1;
    cfg->push_interval = 1;
    cfg->pull_interval = 1;
    cfg->lr = 0.01;
    cfg->block_bytes = 1000; /* records (a 24-byte header, then the data) of 1 KiB */
    cfg->server_threads = 2;
}

#define BAD(fmt, ...)                                                                    \
    return base_err(RCOMM_ERR_INVALID_ARG, "rcomm_ps_create: rank %d: " fmt, comm->rank, \
                    ##__VA_ARGS__)

static rcomm_status_t check_args(const rcomm_comm_t *comm, const rcomm_ps_config_t *c,
                                 const rcomm_ps_tensor_t *t, int nt)
{
    if (c->num_servers < 1 || c->num_servers > comm->size)
        BAD("cfg->num_servers %d is not in [1, %d] (the communicator's size)",
            c->num_servers, comm->size);
    if (!c->servers_work && c->num_servers == comm->size)
        BAD("cfg->num_servers %d: every rank serves and none works (set "
            "cfg->servers_work)",
            c->num_servers);
    if (c->staleness < RCOMM_PS_ASP)
        BAD("cfg->staleness %d is negative (0 = BSP, RCOMM_PS_ASP = no bound)",
            c->staleness);
    if (c->push_interval < 1)
        BAD("cfg->push_interval %d is below 1", c->push_interval);
    if (c->pull_interval < 1)
        BAD("cfg->pull_interval %d is below 1", c->pull_interval);
    if (!isfinite(c->lr))
        BAD("cfg->lr %g is not finite", c->lr);
    if (c->average < 0 || c->average > RCOMM_PS_MEAN)
        BAD("cfg->average %d is not 0 (sum), RCOMM_PS_MEAN_WORKERS, RCOMM_PS_MEAN_STEPS "
            "or RCOMM_PS_MEAN",
            c->average);
    if (c->average && c->update)
        BAD("cfg->average %d with a user rule (cfg->update): the rule gets the sum and "
            "scales it itself",
            c->average);
    if (!(c->momentum >= 0 && c->momentum < 1))
        BAD("cfg->momentum %g is not in [0, 1)", c->momentum);
    if (c->block_bytes < 64 || c->block_bytes > ((size_t)1 << 30))
        BAD("cfg->block_bytes %zu is not in [64, 2^30]", c->block_bytes);
    if (c->server_threads < 0 || c->server_threads > 256)
        BAD("cfg->server_threads %d is not in [0, 256]", c->server_threads);
    if (!(c->push_threshold >= 0) || !isfinite(c->push_threshold))
        BAD("cfg->push_threshold %g is not a finite value >= 0 (0: no filter)",
            c->push_threshold);
    if (c->push_relative != 0 && c->push_relative != 1)
        BAD("cfg->push_relative %d is not 0 or 1", c->push_relative);
    if (c->compressor && c->compressor->comm != comm)
        BAD("cfg->compressor was created on another communicator");
    if (c->compressor && c->compressor->cfg.kind == RCOMM_COMPRESS_POWERSGD)
        return base_err(RCOMM_ERR_UNSUPPORTED,
                        "rcomm_ps_create: rank %d: cfg->compressor is powersgd, which "
                        "combines the workers' factors before decoding: a push takes "
                        "bf16, f16, randk, topk or sign",
                        comm->rank);
    if (c->compressor && c->push_threshold > 0 &&
        c->compressor->cfg.kind != RCOMM_COMPRESS_TOPK &&
        c->compressor->cfg.kind != RCOMM_COMPRESS_RANDK)
        BAD("cfg->push_threshold %g with a %s compressor: the filter picks keys, and %s "
            "sends whole blocks (a threshold goes with topk, randk or no compressor)",
            c->push_threshold, rcomm_compress_kind_name(c->compressor->cfg.kind),
            rcomm_compress_kind_name(c->compressor->cfg.kind));
    if (!t)
        BAD("tensors is NULL");
    if (nt < 1)
        BAD("ntensors %d: need at least one tensor", nt);
    for (int i = 0; i < nt; i++) {
        if (!t[i].name || !t[i].name[0] || strlen(t[i].name) >= 64)
            BAD("tensors[%d]: the name is NULL, empty or longer than 63 bytes", i);
        if (!t[i].count)
            BAD("tensors[%d] ('%s') has count 0", i, t[i].name);
        if (t[i].dtype != RCOMM_F32 && t[i].dtype != RCOMM_F64)
            BAD("tensors[%d] ('%s'): dtype %d is not RCOMM_F32 or RCOMM_F64", i,
                t[i].name, (int)t[i].dtype);
        for (int j = 0; j < i; j++)
            if (!strcmp(t[i].name, t[j].name))
                BAD("tensors[%d]: name '%s' is also that of tensors[%d]", i, t[i].name,
                    j);
    }
    return RCOMM_OK;
}
#undef BAD

/* What every rank must agree on, as words for one allgather. */
enum {
    AG_SERVERS,
    AG_WORK,
    AG_STALE,
    AG_PUSH,
    AG_PULL,
    AG_BLOCK,
    AG_NT,
    AG_LR,
    AG_MOM,
    AG_UPDATE,
    AG_TENSORS,
    AG_THRESH,
    AG_REL,
    AG_COMPRESS,
    AG_AVERAGE,
    AG_N
};
static const char *const ag_names[AG_N] = {"num_servers",
                                           "servers_work",
                                           "staleness",
                                           "push_interval",
                                           "pull_interval",
                                           "block_bytes",
                                           "ntensors",
                                           "lr",
                                           "momentum",
                                           "update (NULL or not)",
                                           "tensors (names, counts or dtypes)",
                                           "push_threshold",
                                           "push_relative",
                                           "compressor (NULL or not)",
                                           "average"};

static void agreement(const rcomm_ps_config_t *c, const rcomm_ps_tensor_t *t, int nt,
                      int64_t *w)
{
    uint64_t h = 1469598103934665603ull; /* FNV-1a over the tensor list */

    for (int i = 0; i < nt; i++) {
        uint64_t f[2] = {t[i].count, (uint64_t)t[i].dtype};
        const unsigned char *p = (const unsigned char *)t[i].name;
        for (size_t k = 0; k <= strlen(t[i].name); k++)
            h = (h ^ p[k]) * 1099511628211ull;
        p = (const unsigned char *)f;
        for (size_t k = 0; k < sizeof(f); k++)
            h = (h ^ p[k]) * 1099511628211ull;
    }
    w[AG_SERVERS] = c->num_servers;
    w[AG_WORK] = !!c->servers_work;
    w[AG_STALE] = c->staleness;
    w[AG_PUSH] = c->push_interval;
    w[AG_PULL] = c->pull_interval;
    w[AG_BLOCK] = (int64_t)c->block_bytes;
    w[AG_NT] = nt;
    memcpy(&w[AG_LR], &c->lr, 8);
    memcpy(&w[AG_MOM], &c->momentum, 8);
    w[AG_UPDATE] = c->update != NULL;
    w[AG_TENSORS] = (int64_t)h;
    memcpy(&w[AG_THRESH], &c->push_threshold, 8);
    w[AG_REL] = c->push_relative;
    w[AG_COMPRESS] = c->compressor != NULL;
    w[AG_AVERAGE] = c->average;
}

static rcomm_status_t check_agreement(rcomm_ps_t *ps, const rcomm_ps_tensor_t *t, int nt)
{
    rcomm_comm_t *comm = ps->comm;
    int64_t mine[AG_N], *all;
    rcomm_status_t st;

    agreement(&ps->cfg, t, nt, mine);
    if (comm->size == 1)
        return RCOMM_OK;
    if (!(all = malloc((size_t)comm->size * sizeof(mine))))
        return base_err(RCOMM_ERR_NO_MEMORY, "rcomm_ps_create: rank %d: out of memory",
                        comm->rank);
    st = rcomm_allgather(comm, mine, all, AG_N, RCOMM_I64);
    for (int r = 1; st == RCOMM_OK && r < comm->size; r++)
        for (int f = 0; f < AG_N; f++)
            if (all[(size_t)r * AG_N + f] != all[f]) {
                st = base_err(RCOMM_ERR_MISMATCH,
                              "rcomm_ps_create: rank %d passed another %s than rank 0", r,
                              ag_names[f]);
                break;
            }
    free(all);
    return st;
}

static void *zalloc(size_t n)
{
    void *p = NULL;

    n = n ? (n + 63) & ~(size_t)63 : 64;
    if (posix_memalign(&p, 64, n))
        return NULL;
    memset(p, 0, n);
    return p;
}

/* Memory for a region peers reach, zeroed: ranks of this host map it (shm),
 * so a pull on one host is the worker's memcpy. */
static void *region_alloc(size_t n)
{
    void *p = NULL;

    return tp_heap_alloc(n ? n : 64, &p) == RCOMM_OK ? p : NULL;
}

/* Expose a server region; without a transport (one rank) only describe it. */
static rcomm_status_t expose(rcomm_ps_t *ps, void *addr, size_t len, unsigned rights,
                             tp_mr_t **mr, tp_rkey_t *key)
{
    tp_t *tp = ps->comm->tp;
    rcomm_status_t st;

    len = len ? len : 64; /* zalloc's minimum: a server may own no key */
    if (!tp) {
        *key = (tp_rkey_t){.addr = (uintptr_t)addr, .len = len};
        return RCOMM_OK;
    }
    if ((st = tp->ops->mem_reg(tp, addr, len, rights, mr)) != RCOMM_OK)
        return st;
    return tp->ops->mem_rkey(*mr, key);
}

/* Server memory, initial values, regions. keys[0..1] get the public keys,
 * slot_keys[w] each worker's. */
static rcomm_status_t server_init(rcomm_ps_t *ps, const rcomm_ps_tensor_t *t,
                                  tp_rkey_t *keys, tp_rkey_t *slot_keys)
{
    ps_server_t *sv = &ps->srv;
    const int s = ps->comm->rank, W = ps->nworkers;
    const size_t bytes = ps->lay.bytes[s], pbytes = ps->lay.pbytes[s];
    const size_t slot_bytes = ps_slot_bytes(ps, s);
    rcomm_status_t st;

    sv->params = region_alloc(pbytes);
    sv->pub = region_alloc((size_t)W * 8);
    sv->clk = calloc((size_t)W, 8);
    sv->done = calloc((size_t)W, sizeof(*sv->done));
    sv->slots = calloc((size_t)W, sizeof(*sv->slots));
    sv->mr_slots = calloc((size_t)W, sizeof(*sv->mr_slots));
    if (ps->cfg.momentum > 0 && !ps->cfg.update)
        sv->momentum = zalloc(bytes);
    if (!sv->params || !sv->pub || !sv->clk || !sv->done || !sv->slots || !sv->mr_slots ||
        (ps->cfg.momentum > 0 && !ps->cfg.update && !sv->momentum))
        return base_err(RCOMM_ERR_NO_MEMORY,
                        "rcomm_ps_create: server rank %d: no memory for %zu bytes of "
                        "parameters and %d slots",
                        s, pbytes, W);
    for (int i = 0; i < ps->lay.ntensors; i++) {
        const ps_range_t *r = ps_range(&ps->lay, s, i);
        const size_t es = ps->lay.t[i].esize, blk = ps->lay.t[i].blk;
        if (t[i].init) /* into the records; copied, never written through */
            ps_rec_copy(&ps->lay, s, i, r->lo, r->lo + r->n, sv->params,
                        (char *)(uintptr_t)t[i].init + r->lo * es, 0);
        for (size_t k = 0; k < r->n; k += blk) /* version 0, clock 0 */
            ps_server_hdr(ps, i, k / blk)->sum =
                ps_block_sum(0, 0, ps_server_data(ps, i, k / blk),
                             ps_block_keys(&ps->lay, s, i, k / blk) * es);
    }
    if ((st = expose(ps, sv->params, pbytes, TP_REMOTE_READ, &sv->mr_params, &keys[0])) !=
            RCOMM_OK ||
        (st = expose(ps, sv->pub, (size_t)W * 8, TP_REMOTE_READ, &sv->mr_pub,
                     &keys[1])) != RCOMM_OK)
        return st;
    for (int w = 0; w < W; w++) {
        if (!(sv->slots[w] = region_alloc(slot_bytes)))
            return base_err(RCOMM_ERR_NO_MEMORY,
                            "rcomm_ps_create: server rank %d: no memory for slot %d", s,
                            w);
        if ((st = expose(ps, sv->slots[w], slot_bytes, TP_REMOTE_WRITE, &sv->mr_slots[w],
                         &slot_keys[w])) != RCOMM_OK)
            return st;
    }
    return ps_server_start(ps);
}

/* Everyone learns every server's public keys; each worker its own slots',
 * and each server its workers' mailboxes. */
static rcomm_status_t exchange_keys(rcomm_ps_t *ps, const tp_rkey_t *keys,
                                    const tp_rkey_t *slot_keys)
{
    rcomm_comm_t *comm = ps->comm;
    const int S = ps->cfg.num_servers, W = ps->nworkers;
    tp_rkey_t *all = NULL, mbox = {0};
    ps_op_t *ops = NULL;
    size_t n = 0;
    rcomm_status_t st = RCOMM_ERR_NO_MEMORY;

    if (ps->worker >= 0 && (!(ps->mbox = region_alloc((size_t)S * 8)) ||
                            (st = expose(ps, ps->mbox, (size_t)S * 8, TP_REMOTE_WRITE,
                                         &ps->mr_mbox, &mbox)) != RCOMM_OK))
        return ps->mbox ? st
                        : base_err(RCOMM_ERR_NO_MEMORY,
                                   "rcomm_ps_create: rank %d: out of memory", comm->rank);
    if (comm->size == 1) {
        ps->rem[0].params = keys[0];
        ps->rem[0].pub = keys[1];
        ps->rem[0].slot = slot_keys[0];
        return RCOMM_OK;
    }
    all = calloc((size_t)comm->size * 2, sizeof(*all));
    ops = calloc(2 * ((size_t)W + (size_t)S), sizeof(*ops));
    if (!all || !ops) {
        st = base_err(RCOMM_ERR_NO_MEMORY, "rcomm_ps_create: rank %d: out of memory",
                      comm->rank);
        goto out;
    }
    st = rcomm_allgather(comm, keys, all, 2 * sizeof(*keys) / 8, RCOMM_I64);
    if (st != RCOMM_OK)
        goto out;
    for (int s = 0; ps->worker >= 0 && s < S; s++) {
        ps->rem[s].params = all[s * 2];
        ps->rem[s].pub = all[s * 2 + 1];
        if (s == comm->rank) {
            ps->rem[s].slot = slot_keys[ps->worker];
            continue;
        }
        ops[n++] = (ps_op_t){.kind = PS_RECV,
                             .server = s,
                             .buf = &ps->rem[s].slot,
                             .len = sizeof(tp_rkey_t),
                             .add = PS_MSG_KEY};
        ops[n++] = (ps_op_t){.kind = PS_SEND,
                             .server = s,
                             .buf = &mbox,
                             .len = sizeof(tp_rkey_t),
                             .add = PS_MSG_MBOX};
    }
    for (int w = 0; ps->is_server && w < W; w++) {
        if (ps->worker_rank[w] == comm->rank)
            continue;
        ops[n++] = (ps_op_t){.kind = PS_SEND,
                             .server = ps->worker_rank[w],
                             .buf = (void *)&slot_keys[w],
                             .len = sizeof(tp_rkey_t),
                             .add = PS_MSG_KEY};
        ops[n++] = (ps_op_t){.kind = PS_RECV,
                             .server = ps->worker_rank[w],
                             .buf = &ps->srv.mbox[w],
                             .len = sizeof(tp_rkey_t),
                             .add = PS_MSG_MBOX};
    }
    st = ps_rma_run(ps, ops, n, "create");
    ps->srv.mbox_known = st == RCOMM_OK;
out:
    free(all);
    free(ops);
    return st;
}

/* Everything ps holds, but not ps itself. */
static void release(rcomm_ps_t *ps)
{
    ps_server_t *sv = &ps->srv;
    tp_t *tp = ps->comm->tp; /* NULL after a failure: regions went with it */

    if (ps->is_server) {
        ps_server_stop(ps);
        if (tp) {
            if (sv->mr_params)
                tp->ops->mem_dereg(tp, sv->mr_params);
            if (sv->mr_pub)
                tp->ops->mem_dereg(tp, sv->mr_pub);
        }
        for (int w = 0; sv->slots && w < ps->nworkers; w++) {
            if (tp && sv->mr_slots && sv->mr_slots[w])
                tp->ops->mem_dereg(tp, sv->mr_slots[w]);
            tp_heap_free(sv->slots[w]);
        }
        tp_heap_free(sv->params);
        tp_heap_free(sv->pub);
        free(sv->clk);
        free(sv->done);
        free(sv->slots);
        free(sv->mr_slots);
        free(sv->momentum);
    }
    if (tp && ps->mr_mbox)
        tp->ops->mem_dereg(tp, ps->mr_mbox);
    tp_heap_free(ps->mbox);
    ps_worker_free(ps);
    free(ps->worker_rank);
    ps_layout_free(&ps->lay);
    if (ps->space)
        comm_service_remove(ps->comm, ps->space);
}

rcomm_status_t ps_check_handle(const rcomm_ps_t *ps, const char *fn)
{
    if (!ps)
        return base_err(RCOMM_ERR_INVALID_ARG, "%s: ps is NULL", fn);
    if (ps->magic != HANDLE_MAGIC_PS)
        return base_err(RCOMM_ERR_INVALID_ARG,
                        "%s: ps was destroyed or is not a parameter server", fn);
    if (ps->comm->magic != HANDLE_MAGIC_COMM)
        return base_err(RCOMM_ERR_INVALID_ARG,
                        "%s: the communicator of ps was destroyed (destroy the "
                        "parameter server first)",
                        fn);
    return RCOMM_OK;
}

rcomm_comm_t *ps_lock_comm(const rcomm_ps_t *ps)
{
    return ps && ps->magic == HANDLE_MAGIC_PS ? ps->comm : NULL;
}

/* A serving rank's progress wakes its update threads (server.c). */
static void ps_service_progress(rcomm_comm_t *comm, void *state)
{
    rcomm_ps_t *ps = state;

    (void)comm;
    if (ps->is_server)
        ps_server_progress(ps);
}

/* A worker's push landed in its slot here. */
static void ps_service_notify(rcomm_comm_t *comm, void *state, int peer, uint32_t value)
{
    (void)comm;
    ps_server_notified(state, peer, value);
}

/* Our messages travel in a tag space of our own; nothing to note when they
 * arrive early (the transport keeps them). */
static const comm_service_ops_t ps_service = {.name = "parameter server",
                                              .progress = ps_service_progress,
                                              .notify = ps_service_notify};

static rcomm_status_t ps_create_locked(rcomm_comm_t *comm, const rcomm_ps_config_t *cfg,
                                       const rcomm_ps_tensor_t *tensors, int ntensors,
                                       rcomm_ps_t **out)
{
    tp_rkey_t keys[2] = {{0}}, *slot_keys = NULL;
    ps_tensor_t *tn = NULL;
    rcomm_ps_t *ps;
    rcomm_status_t st;

    if ((st = comm_check(comm, "rcomm_ps_create")) != RCOMM_OK)
        return st;
    if (!cfg || !out)
        return base_err(RCOMM_ERR_INVALID_ARG, "rcomm_ps_create: rank %d: %s is NULL",
                        comm->rank, !cfg ? "cfg" : "ps");
    if (!(ps = calloc(1, sizeof(*ps))))
        return base_err(RCOMM_ERR_NO_MEMORY, "rcomm_ps_create: rank %d: out of memory",
                        comm->rank);
    ps->comm = comm;
    ps->cfg = *cfg;
    if (comm->size == 1)
        ps->cfg.servers_work = 1;
    if (ps->cfg.server_threads == 0)
        ps->cfg.server_threads = 2;
    if ((st = check_args(comm, &ps->cfg, tensors, ntensors)) != RCOMM_OK ||
        (st = check_agreement(ps, tensors, ntensors)) != RCOMM_OK ||
        (st = comm_service_add(comm, &ps_service, ps, &ps->space)) != RCOMM_OK) {
        free(ps);
        return st;
    }
    ps->nworkers = ps->cfg.servers_work ? comm->size : comm->size - ps->cfg.num_servers;
    ps->is_server = comm->rank < ps->cfg.num_servers;
    ps->worker = ps_worker_of(ps, comm->rank);
    /* From here on cfg.lr is the rate per summed gradient the servers apply:
     * averaging is a smaller rate (the rule is linear in g, momentum too). */
    if (ps->cfg.average & RCOMM_PS_MEAN_WORKERS)
        ps->cfg.lr /= ps->nworkers;
    if (ps->cfg.average & RCOMM_PS_MEAN_STEPS)
        ps->cfg.lr /= ps->cfg.push_interval;
    ps->worker_rank = calloc((size_t)ps->nworkers, sizeof(int));
    tn = calloc((size_t)ntensors, sizeof(*tn));
    slot_keys = calloc((size_t)ps->nworkers, sizeof(*slot_keys));
    if (!ps->worker_rank || !tn || !slot_keys) {
        st = base_err(RCOMM_ERR_NO_MEMORY, "rcomm_ps_create: rank %d: out of memory",
                      comm->rank);
        goto fail;
    }
    for (int w = 0; w < ps->nworkers; w++)
        ps->worker_rank[w] = ps->cfg.servers_work ? w : ps->cfg.num_servers + w;
    for (int i = 0; i < ntensors; i++) {
        snprintf(tn[i].name, sizeof(tn[i].name), "%s", tensors[i].name);
        tn[i].count = tensors[i].count;
        tn[i].dtype = tensors[i].dtype;
        tn[i].esize = rcomm_dtype_size(tensors[i].dtype);
    }
    if ((st = ps_layout_init(&ps->lay, ps->cfg.num_servers, tn, ntensors,
                             ps->cfg.block_bytes)) != RCOMM_OK ||
        (ps->is_server && (st = server_init(ps, tensors, keys, slot_keys)) != RCOMM_OK) ||
        (st = ps_worker_init(ps)) != RCOMM_OK ||
        (st = exchange_keys(ps, keys, slot_keys)) != RCOMM_OK)
        goto fail;
    free(tn);
    free(slot_keys);
    ps->stats.is_server = ps->is_server;
    ps->stats.is_worker = ps->worker >= 0;
    ps->magic = HANDLE_MAGIC_PS;
    *out = ps;
    return RCOMM_OK;
fail:
    /* The other ranks may be waiting for our keys: they must not hang. */
    if (st != RCOMM_ERR_INVALID_ARG)
        comm_fail(comm, st);
    free(tn);
    free(slot_keys);
    release(ps);
    free(ps); /* never handed out */
    return st;
}

rcomm_status_t rcomm_ps_create(rcomm_comm_t *comm, const rcomm_ps_config_t *cfg,
                               const rcomm_ps_tensor_t *tensors, int ntensors,
                               rcomm_ps_t **out)
{
    return COMM_LOCKED(comm, ps_create_locked(comm, cfg, tensors, ntensors, out));
}

/* Serve until every worker is done and every push is applied. The done
 * messages' receives fail if a worker fails, which ends the wait. */
rcomm_status_t ps_serve(rcomm_ps_t *ps, const char *fn)
{
    ps_server_t *sv = &ps->srv;
    comm_waiter_t waiter;
    rcomm_status_t st;
    int left;

    for (int w = 0; !sv->done_posted && w < ps->nworkers; w++) {
        sv->done[w] =
            (ps_op_t){.kind = PS_RECV, .server = ps->worker_rank[w], .add = PS_MSG_DONE};
        if (ps->worker_rank[w] == ps->comm->rank)
            sv->done[w].req.status = RCOMM_OK; /* ourselves: we are here */
        else if ((st = ps_post(ps, &sv->done[w], fn + 9)) != RCOMM_OK)
            return st;
    }
    sv->done_posted = 1;
    comm_waiter_start(ps->comm, &waiter);
    do {
        int idle;
        left = 0;
        for (int w = 0; w < ps->nworkers; w++) {
            if (sv->done[w].req.status == RCOMM_INPROGRESS)
                left++;
            else if (sv->done[w].req.status != RCOMM_OK) {
                ps_server_log_state(ps, fn);
                return ps_op_error(ps, &sv->done[w], fn + 9);
            }
        }
        idle = ps_server_idle(ps);
        if (!left && idle) {
            ps_server_quiesce(ps); /* before peers may leave */
            return RCOMM_OK;
        }
        /* We answer one-sided requests in our progress (TCP) and ring the
         * update threads (server.c): poll while requests come, then sleep
         * in the transport until traffic wakes us; while the threads apply
         * a push, wake every millisecond to see whether they are done. */
        comm_wait_step(ps->comm, &waiter, idle ? 100 : 1);
        if (ps->comm->failed)
            ps->failed = ps->comm->failed;
    } while (!ps->failed);
    ps_server_log_state(ps, fn);
    return comm_check(ps->comm, fn);
}

static rcomm_status_t ps_serve_locked(rcomm_ps_t *ps)
{
    rcomm_status_t st;

    if ((st = ps_check_handle(ps, "rcomm_ps_serve")) != RCOMM_OK)
        return st;
    if (!ps->is_server || ps->worker >= 0)
        return base_err(RCOMM_ERR_INVALID_ARG,
                        "rcomm_ps_serve: rank %d is %s; only a server that does not "
                        "work serves here (a working server serves inside its calls "
                        "and rcomm_ps_destroy)",
                        ps->comm->rank, ps->is_server ? "a worker too" : "not a server");
    if (ps->failed)
        return comm_check(ps->comm, "rcomm_ps_serve");
    return ps_serve(ps, "rcomm_ps_serve");
}

rcomm_status_t rcomm_ps_serve(rcomm_ps_t *ps)
{
    rcomm_comm_t *comm = ps_lock_comm(ps);

    return COMM_LOCKED(comm, ps_serve_locked(ps));
}

static rcomm_status_t ps_destroy_locked(rcomm_ps_t *ps)
{
    rcomm_status_t st = RCOMM_OK;

    if (!ps)
        return RCOMM_OK;
    if ((st = ps_check_handle(ps, "rcomm_ps_destroy")) != RCOMM_OK)
        return st;
    if (!ps->failed && ps->worker >= 0 && !ps->done_sent)
        st = ps_worker_finish(ps);
    if (st == RCOMM_OK && !ps->failed && ps->is_server)
        st = ps_serve(ps, "rcomm_ps_destroy");
    /* Nobody touches our memory once everyone is past this. */
    if (st == RCOMM_OK && !ps->failed && ps->comm->size > 1)
        st = rcomm_barrier(ps->comm);
    release(ps);
    ps->magic = 0;
    handle_bury(HANDLE_PS, ps); /* a second destroy is then an error */
    return st;
}

rcomm_status_t rcomm_ps_destroy(rcomm_ps_t *ps)
{
    rcomm_comm_t *comm = ps_lock_comm(ps);

    return COMM_LOCKED(comm, ps_destroy_locked(ps));
}

rcomm_status_t rcomm_ps_stats(const rcomm_ps_t *ps, rcomm_ps_stats_t *stats)
{
    if (ps_check_handle(ps, "rcomm_ps_stats") != RCOMM_OK)
        return RCOMM_ERR_INVALID_ARG;
    if (!stats)
        return base_err(RCOMM_ERR_INVALID_ARG, "rcomm_ps_stats: stats is NULL");
    *stats = ps->stats;
    stats->clock = ps->clock;
    if (ps->is_server) {
        stats->updates = __atomic_load_n(&ps->srv.updates, __ATOMIC_RELAXED);
        stats->keys_rejected = __atomic_load_n(&ps->srv.rejected, __ATOMIC_RELAXED);
    }
    return RCOMM_OK;
}

rcomm_status_t rcomm_ps_worker(const rcomm_ps_t *ps, int *index, int *count)
{
    if (ps_check_handle(ps, "rcomm_ps_worker") != RCOMM_OK)
        return RCOMM_ERR_INVALID_ARG;
    if (index)
        *index = ps->worker;
    if (count)
        *count = ps->nworkers;
    return RCOMM_OK;
}

rcomm_status_t rcomm_ps_owner(const rcomm_ps_t *ps, int tensor, size_t offset,
                              int *server, size_t *first, size_t *count)
{
    const ps_range_t *r;
    int s;

    if (ps_check_handle(ps, "rcomm_ps_owner") != RCOMM_OK)
        return RCOMM_ERR_INVALID_ARG;
    if (tensor < 0 || tensor >= ps->lay.ntensors)
        return base_err(RCOMM_ERR_INVALID_ARG,
                        "rcomm_ps_owner: rank %d: tensor %d is not in [0, %d)",
                        ps->comm->rank, tensor, ps->lay.ntensors);
    if (offset >= ps->lay.t[tensor].count)
        return base_err(
            RCOMM_ERR_INVALID_ARG,
            "rcomm_ps_owner: rank %d: offset %zu is past tensor '%s' (%zu keys)",
            ps->comm->rank, offset, ps->lay.t[tensor].name, ps->lay.t[tensor].count);
    s = ps_layout_owner(&ps->lay, tensor, offset);
    r = ps_range(&ps->lay, s, tensor);
    if (server)
        *server = s;
    if (first)
        *first = r->lo;
    if (count)
        *count = r->n;
    return RCOMM_OK;
}
