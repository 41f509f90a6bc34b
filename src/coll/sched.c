/* SPDX-License-Identifier: BSD-3-Clause */
#include "coll/sched.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/clock.h"
#include "base/error.h"
#include "coll/pattern.h"
#include "reduce/reduce.h"

/* ---- envelopes ----------------------------------------------------------- */

void coll_desc_to_env(const coll_desc_t *d, uint64_t seq, tp_env_t *env)
{
    env->w[0] = seq;
    env->w[1] = d->count;
    env->w[2] = (uint64_t)d->kind | (uint64_t)d->dtype << 8 | (uint64_t)d->op << 16 |
                (uint64_t)(uint32_t)d->root << 32;
}

void coll_env_to_desc(const tp_env_t *env, coll_desc_t *d)
{
    d->count = env->w[1];
    d->kind = (coll_kind_t)(env->w[2] & 0xff);
    d->dtype = (rcomm_dtype_t)((env->w[2] >> 8) & 0xff);
    d->op = (rcomm_op_t)((env->w[2] >> 16) & 0xff);
    d->root = (int)(uint32_t)(env->w[2] >> 32);
}

const char *coll_kind_name(coll_kind_t k)
{
    static const char *names[COLL_KIND_COUNT] = {"?",
                                                 "allreduce",
                                                 "broadcast",
                                                 "allgather",
                                                 "reduce_scatter",
                                                 "barrier",
                                                 "exchange",
                                                 "reduce",
                                                 "gather",
                                                 "scatter",
                                                 "alltoall",
                                                 "allgatherv",
                                                 "alltoallv",
                                                 "send",
                                                 "recv",
                                                 "neighbor_allreduce"};
    return (unsigned)k < COLL_KIND_COUNT ? names[k] : "?";
}

void coll_desc_format(const coll_desc_t *d, char *buf, size_t len)
{
    const char *kind = coll_kind_name(d->kind), *dt = rcomm_dtype_name(d->dtype);

    switch (d->kind) {
    case COLL_BARRIER: snprintf(buf, len, "barrier()"); break;
    case COLL_BROADCAST:
    case COLL_GATHER:
    case COLL_SCATTER:
        snprintf(buf, len, "%s(count=%zu, %s, root=%d)", kind, d->count, dt, d->root);
        break;
    case COLL_REDUCE:
        snprintf(buf, len, "%s(count=%zu, %s, %s, root=%d)", kind, d->count, dt,
                 rcomm_op_name(d->op), d->root);
        break;
    case COLL_ALLGATHER:
    case COLL_ALLTOALL:
        snprintf(buf, len, "%s(count=%zu, %s)", kind, d->count, dt);
        break;
    case COLL_ALLGATHERV:
        snprintf(buf, len, "%s(recvcounts summing to %zu with hash %08x, %s)", kind,
                 d->count, (unsigned)d->root, dt);
        break;
    case COLL_ALLTOALLV:
        snprintf(buf, len, "%s(%zu elements, %s)", kind, d->count, dt);
        break;
    case COLL_SEND:
    case COLL_RECV:
        snprintf(buf, len, "%s(count=%zu, %s, tag=%d)", kind, d->count, dt, d->root);
        break;
    case COLL_NEIGHBOR:
        snprintf(buf, len, "%s(count=%zu, %s, graph and step with hash %08x)", kind,
                 d->count, dt, (unsigned)d->root);
        break;
    default:
        snprintf(buf, len, "%s(count=%zu, %s, %s)", kind, d->count, dt,
                 rcomm_op_name(d->op));
    }
}

void coll_sched_title(const coll_sched_t *s, char *buf, size_t len)
{
    if (s->label[0])
        snprintf(buf, len, "%s", s->label);
    else
        snprintf(buf, len, "%s #%llu", s->name, (unsigned long long)s->seq);
}

/* ---- building ------------------------------------------------------------ */

/* At least n uint32_t in s->work; its contents are not kept. */
static uint32_t *work(coll_sched_t *s, size_t n)
{
    if (n > s->cap_work) {
        uint32_t *w = malloc(n * sizeof(*w));
        if (!w)
            return NULL;
        free(s->work);
        s->work = w;
        s->cap_work = n;
    }
    return s->work;
}

rcomm_status_t coll_sched_init(coll_sched_t *s, rcomm_comm_t *comm,
                               const coll_desc_t *desc, const char *name)
{
    /* A cleared schedule's arrays (coll_sched_clear), or none. */
    coll_sop_t *ops = s->ops;
    uint64_t *edges = s->edges;
    uint32_t *w = s->work, cap_ops = s->cap_ops, cap_edges = s->cap_edges;
    size_t cap_work = s->cap_work;

    *s = (coll_sched_t){.ops = ops,
                        .cap_ops = cap_ops,
                        .edges = edges,
                        .cap_edges = cap_edges,
                        .work = w,
                        .cap_work = cap_work};
    s->comm = comm;
    s->desc = *desc;
    s->esize = rcomm_dtype_size(desc->dtype);
    s->name = name;
    s->status = RCOMM_INPROGRESS;
    s->failed_peer = -1;
    if (!work(s, 3 * (size_t)comm->size))
        return base_err(RCOMM_ERR_NO_MEMORY, "%s: no memory for a schedule", name);
    s->peer_next = s->work;
    s->last_send = s->work + 2 * (size_t)comm->size;
    memset(s->peer_next, 0, 2 * (size_t)comm->size * sizeof(uint32_t));
    for (int i = 0; i < comm->size; i++)
        s->last_send[i] = COLL_SOP_NONE;
    return RCOMM_OK;
}

static coll_sop_t *add_op(coll_sched_t *s, coll_sop_kind_t kind)
{
    coll_sop_t *op;

    if (s->status != RCOMM_INPROGRESS)
        return NULL;
    if (s->nops == s->cap_ops) {
        uint32_t cap = s->cap_ops ? 2 * s->cap_ops : 16;
        coll_sop_t *ops = realloc(s->ops, cap * sizeof(*ops));
        if (!ops) {
            s->status = RCOMM_ERR_NO_MEMORY;
            return NULL;
        }
        s->ops = ops;
        s->cap_ops = cap;
    }
    op = &s->ops[s->nops++];
    memset(op, 0, sizeof(*op));
    op->kind = (uint8_t)kind;
    op->peer = -1;
    op->order_next = COLL_SOP_NONE;
    return op;
}

#define OP_ID(s, op) ((op) ? (coll_sop_id_t)((op) - (s)->ops) : COLL_SOP_NONE)

coll_sop_id_t coll_sched_send(coll_sched_t *s, int peer, const void *buf, size_t bytes)
{
    coll_sop_t *op = add_op(s, COLL_SOP_SEND);
    coll_sop_id_t id = OP_ID(s, op);

    if (!op)
        return COLL_SOP_NONE;
    op->peer = peer;
    op->a = buf;
    op->n = bytes;
    op->tag = s->peer_next[2 * peer]++;
    op->count = s->desc.count;
    /* Sends to one peer are posted in build order. */
    if (s->last_send[peer] != COLL_SOP_NONE) {
        s->ops[s->last_send[peer]].order_next = id;
        op->pending++;
    }
    s->last_send[peer] = id;
    return id;
}

coll_sop_id_t coll_sched_recv(coll_sched_t *s, int peer, void *buf, size_t bytes)
{
    coll_sop_t *op = add_op(s, COLL_SOP_RECV);

    if (!op)
        return COLL_SOP_NONE;
    op->peer = peer;
    op->dst = buf;
    op->n = bytes;
    op->tag = s->peer_next[2 * peer + 1]++;
    op->count = s->desc.count;
    return OP_ID(s, op);
}

static coll_sop_id_t ctrl_op(coll_sched_t *s, coll_sop_kind_t kind, int peer,
                             uint32_t tag)
{
    coll_sop_t *op = add_op(s, kind);

    if (!op)
        return COLL_SOP_NONE;
    op->peer = peer;
    op->tag = tag;
    op->count = s->desc.count;
    return OP_ID(s, op);
}

coll_sop_id_t coll_sched_ctrl_send(coll_sched_t *s, int peer, uint32_t tag)
{
    return ctrl_op(s, COLL_SOP_SEND, peer, tag);
}

coll_sop_id_t coll_sched_ctrl_recv(coll_sched_t *s, int peer, uint32_t tag)
{
    return ctrl_op(s, COLL_SOP_RECV, peer, tag);
}

coll_sop_id_t coll_sched_reduce(coll_sched_t *s, void *dst, const void *a, const void *b,
                                size_t count)
{
    coll_sop_t *op = add_op(s, COLL_SOP_REDUCE);

    if (!op)
        return COLL_SOP_NONE;
    op->dst = dst;
    op->a = a;
    op->b = b;
    op->n = count;
    return OP_ID(s, op);
}

coll_sop_id_t coll_sched_copy(coll_sched_t *s, void *dst, const void *src, size_t bytes)
{
    coll_sop_t *op = add_op(s, COLL_SOP_COPY);

    if (!op)
        return COLL_SOP_NONE;
    op->dst = dst;
    op->a = src;
    op->n = bytes;
    return OP_ID(s, op);
}

coll_sop_id_t coll_sched_finish(coll_sched_t *s, void *buf, size_t count)
{
    coll_sop_t *op = add_op(s, COLL_SOP_FINISH);

    if (!op)
        return COLL_SOP_NONE;
    op->dst = buf;
    op->n = count;
    return OP_ID(s, op);
}

coll_sop_id_t coll_sched_axpy(coll_sched_t *s, void *acc, const void *x, size_t count,
                              double w, int first)
{
    coll_sop_t *op = add_op(s, COLL_SOP_AXPY);

    if (!op)
        return COLL_SOP_NONE;
    op->dst = acc;
    op->a = x;
    op->n = count;
    op->w = w;
    op->first = (uint8_t) !!first;
    return OP_ID(s, op);
}

coll_sop_id_t coll_sched_store(coll_sched_t *s, void *dst, const void *acc, size_t count)
{
    coll_sop_t *op = add_op(s, COLL_SOP_STORE);

    if (!op)
        return COLL_SOP_NONE;
    op->dst = dst;
    op->a = acc;
    op->n = count;
    return OP_ID(s, op);
}

coll_sop_id_t coll_sched_join(coll_sched_t *s)
{
    return OP_ID(s, add_op(s, COLL_SOP_JOIN));
}

coll_sop_id_t coll_sched_call(coll_sched_t *s, coll_sop_fn *fn, void *arg)
{
    coll_sop_t *op = add_op(s, COLL_SOP_CALL);

    if (!op)
        return COLL_SOP_NONE;
    op->fn = fn;
    op->dst = arg;
    return OP_ID(s, op);
}

void coll_sched_skip(coll_sched_t *s, coll_sop_id_t from, coll_sop_id_t to)
{
    for (coll_sop_id_t i = from; i < to && i < s->nops; i++)
        s->ops[i].skip = 1;
}

void coll_sched_set_count(coll_sched_t *s, coll_sop_id_t op, uint64_t count)
{
    if (op != COLL_SOP_NONE && s->status == RCOMM_INPROGRESS)
        s->ops[op].count = count;
}

void coll_sched_set_tag(coll_sched_t *s, coll_sop_id_t op, uint32_t tag)
{
    if (op != COLL_SOP_NONE && s->status == RCOMM_INPROGRESS)
        s->ops[op].tag = tag;
}

void coll_sched_dep(coll_sched_t *s, coll_sop_id_t op, coll_sop_id_t dep)
{
    if (op == COLL_SOP_NONE || dep == COLL_SOP_NONE || s->status != RCOMM_INPROGRESS)
        return;
    if (s->nedges == s->cap_edges) {
        uint32_t cap = s->cap_edges ? 2 * s->cap_edges : 32;
        uint64_t *e = realloc(s->edges, cap * sizeof(*e));
        if (!e) {
            s->status = RCOMM_ERR_NO_MEMORY;
            return;
        }
        s->edges = e;
        s->cap_edges = cap;
    }
    s->edges[s->nedges++] = (uint64_t)dep << 32 | op;
    s->ops[op].pending++;
}

void *coll_sched_scratch(coll_sched_t *s, size_t bytes)
{
    size_t i;

    for (i = 0; i < COLL_SCHED_SCRATCH && s->scratch[i]; i++)
        ;
    if (i == COLL_SCHED_SCRATCH || s->status != RCOMM_INPROGRESS) {
        s->status = i == COLL_SCHED_SCRATCH ? RCOMM_ERR_INTERNAL : s->status;
        return NULL;
    }
    s->scratch[i] = comm_scratch_get(s->comm, bytes);
    if (!s->scratch[i])
        s->status = RCOMM_ERR_NO_MEMORY;
    return s->scratch[i];
}

void coll_slots_init(coll_slots_t *sl, coll_sched_t *s, size_t seg_bytes,
                     size_t total_bytes)
{
    size_t n = s->comm->cfg.pipeline_depth;
    size_t need = seg_bytes ? (total_bytes + seg_bytes - 1) / seg_bytes : 1;

    if (n > COLL_MAX_SLOTS)
        n = COLL_MAX_SLOTS;
    if (need < n)
        n = need ? need : 1;
    /* A small message needs a small slot, not a whole segment. */
    if (seg_bytes > total_bytes)
        seg_bytes = total_bytes;
    sl->n = (uint32_t)n;
    sl->next = 0;
    sl->bytes = seg_bytes;
    sl->base = coll_sched_scratch(s, n * seg_bytes);
    for (size_t i = 0; i < n; i++)
        sl->release[i] = COLL_SOP_NONE;
}

char *coll_slot_take(coll_slots_t *sl, coll_sop_id_t *wait_for)
{
    uint32_t i = sl->next % sl->n;

    *wait_for = sl->release[i];
    return sl->base ? sl->base + (size_t)i * sl->bytes : NULL;
}

void coll_slot_release(coll_slots_t *sl, coll_sop_id_t op)
{
    sl->release[sl->next % sl->n] = op;
    sl->next++;
}

/* ---- running ------------------------------------------------------------- */

static void fail(coll_sched_t *s, rcomm_status_t st, int peer)
{
    if (s->status == RCOMM_INPROGRESS) {
        s->status = st;
        s->failed_peer = peer;
        snprintf(s->errmsg, sizeof(s->errmsg), "%s", rcomm_last_error());
    }
}

void coll_sched_fail(coll_sched_t *s, rcomm_status_t status)
{
    fail(s, status, -1);
}

/* s failed on a peer's failure; the message is the thread's last error. A
 * peer that failed on a mismatch passed its diagnosis on in its goodbye,
 * behind "peer rank P failed: " and each relay's prefix and suffix (a chain
 * that outgrows the message on many ranks): keep the diagnosis alone, with
 * the peer that told us, and make that the last error too, for it goes on
 * in our own goodbye. */
static void peer_failure_message(coll_sched_t *s)
{
    const char *err = rcomm_last_error(), *at = strstr(err, "collective #"), *end;

    if (s->status != RCOMM_ERR_MISMATCH || s->failed_peer < 0 || !at || at == err) {
        snprintf(s->errmsg, sizeof(s->errmsg), "%s", err);
        return;
    }
    end = strstr(at, " [seen by");
    snprintf(s->errmsg, sizeof(s->errmsg), "peer rank %d failed: %.*s", s->failed_peer,
             end ? (int)(end - at) : (int)strlen(at), at);
    base_err_quiet(s->status, "%s", s->errmsg);
}

/* The ready queue is a ring of nops entries: an op is in it at most once,
 * and a sliced local op goes back to its tail between slices. */
static void make_ready(coll_sched_t *s, coll_sop_id_t id)
{
    s->ready[s->ready_tail++ % s->nops] = id;
}

static coll_sop_id_t take_ready(coll_sched_t *s)
{
    return s->ready[s->ready_head++ % s->nops];
}

static void complete(coll_sched_t *s, coll_sop_t *op)
{
    s->ndone++; /* check_timeout (coll.c) notes the time when it sees it */
    for (uint32_t i = 0; i < op->nsucc; i++) {
        coll_sop_id_t succ = s->succ[op->succ_off + i];
        if (--s->ops[succ].pending == 0)
            make_ready(s, succ);
    }
}

/* Fails s with MISMATCH if the peer's envelope disagrees with our call. */
int coll_desc_equal(const coll_desc_t *a, const coll_desc_t *b)
{
    return a->kind == b->kind && a->dtype == b->dtype && a->op == b->op &&
           a->root == b->root && a->count == b->count;
}

/* What a peer's message must say: our call, with the count this message
 * claims, and a receive's SEND where we say RECV. */
static void expected_desc(const coll_sched_t *s, const coll_sop_t *op, coll_desc_t *d)
{
    *d = s->desc;
    if (op)
        d->count = op->count;
    if (d->kind == COLL_RECV)
        d->kind = COLL_SEND;
}

static int check_env(coll_sched_t *s, const coll_sop_t *op, int peer, const tp_env_t *env)
{
    coll_desc_t theirs, mine;
    char mine_s[96], theirs_s[96], title[96];

    coll_env_to_desc(env, &theirs);
    expected_desc(s, op, &mine);
    if (!op && s->desc.kind == COLL_ALLTOALLV)
        mine.count = theirs.count; /* each message has its own: checked on receipt */
    if (coll_desc_equal(&theirs, &mine))
        return 0;
    coll_desc_format(&mine, mine_s, sizeof(mine_s));
    coll_desc_format(&theirs, theirs_s, sizeof(theirs_s));
    if (s->desc.kind == COLL_RECV) {
        coll_desc_format(&s->desc, mine_s, sizeof(mine_s));
        fail(s,
             base_err(RCOMM_ERR_MISMATCH, "rank %d: %s from rank %d met its %s",
                      s->comm->rank, mine_s, peer, theirs_s),
             peer);
        return -1;
    }
    if (s->desc.kind == COLL_ALLTOALLV && theirs.kind == mine.kind) {
        coll_sched_title(s, title, sizeof(title));
        fail(s,
             base_err(RCOMM_ERR_MISMATCH,
                      "%s: rank %d sends %zu elements to rank %d, which expects %zu "
                      "(sendcounts[%d] on rank %d != recvcounts[%d] on rank %d)",
                      title, peer, theirs.count, s->comm->rank, mine.count, s->comm->rank,
                      peer, peer, s->comm->rank),
             peer);
        return -1;
    }
    fail(s,
         base_err(RCOMM_ERR_MISMATCH,
                  "collective #%llu: rank %d called %s but rank %d called %s",
                  (unsigned long long)s->seq, peer, theirs_s, s->comm->rank, mine_s),
         peer);
    return -1;
}

void coll_sched_check_unexpected(coll_sched_t *s, int peer, const tp_env_t *env)
{
    if (s->status == RCOMM_INPROGRESS)
        check_env(s, NULL, peer, env);
}

/* Called by the transport from inside its progress(). */
static void transport_done(tp_req_t *req)
{
    coll_sop_t *op = (coll_sop_t *)req;
    coll_sched_t *s = op->sched;

    if (s->status != RCOMM_INPROGRESS)
        return;
    /* A message too long for its receive is usually a peer that called the
     * collective with another count: its envelope says so. */
    if (req->status == RCOMM_ERR_PROTOCOL && op->kind == COLL_SOP_RECV &&
        check_env(s, op, op->peer, &req->env) != 0)
        return;
    if (req->status != RCOMM_OK) {
        /* The transport logs why once all of the peer's requests have
         * failed: the message is taken at the next coll_sched_progress. */
        fail(s, req->status, op->peer);
        s->errmsg_late = 1;
        return;
    }
    if (op->kind == COLL_SOP_RECV) {
        if (check_env(s, op, op->peer, &req->env) != 0)
            return;
        if (req->len != op->n) {
            char title[96];
            coll_sched_title(s, title, sizeof(title));
            fail(s,
                 base_err(RCOMM_ERR_PROTOCOL,
                          "%s: rank %d sent %zu bytes where %zu were "
                          "expected",
                          title, op->peer, req->len, op->n),
                 op->peer);
            return;
        }
    }
    complete(s, op);
}

static rcomm_status_t post(coll_sched_t *s, coll_sop_t *op)
{
    tp_t *tp = s->comm->tp;
    uint64_t tag = s->tag_base | op->tag;
    coll_desc_t desc;
    tp_env_t env;
    rcomm_status_t st = RCOMM_OK;

    op->sched = s;
    op->req.cb = transport_done;
    op->req.status = RCOMM_INPROGRESS;
    switch ((coll_sop_kind_t)op->kind) {
    case COLL_SOP_SEND:
        desc = s->desc;
        desc.count = op->count;
        if (coll_is_p2p(s))
            desc.kind = COLL_SEND; /* a sendrecv's schedule says RECV */
        coll_desc_to_env(&desc, s->seq, &env);
        st = tp->ops->isend(tp, op->peer, tag, &env, op->a, op->n, &op->req);
        if (st == RCOMM_OK) {
            op->posted = 1;
            if (op->order_next != COLL_SOP_NONE && --s->ops[op->order_next].pending == 0)
                make_ready(s, op->order_next);
        }
        return st;
    case COLL_SOP_RECV:
        st = tp->ops->irecv(tp, op->peer, tag, op->dst, op->n, &op->req);
        if (st == RCOMM_OK)
            op->posted = 1;
        return st;
    case COLL_SOP_JOIN: complete(s, op); break;
    default: break; /* local work: run_local */
    }
    return RCOMM_OK;
}

static int is_local(const coll_sop_t *op)
{
    return op->kind != COLL_SOP_SEND && op->kind != COLL_SOP_RECV &&
           op->kind != COLL_SOP_JOIN;
}

/* Runs local op op, or as much of it as *budget bytes allow; true once it
 * is all done. Copies, reductions and finishes are cut in pieces of whole
 * elements; AXPY and STORE, whose accumulator has its own element size,
 * run whole. */
static bool run_local(coll_sched_t *s, coll_sop_t *op, size_t *budget)
{
    const size_t unit = op->kind == COLL_SOP_COPY ? 1 : s->esize;
    const size_t off = op->off * unit;
    size_t k = op->n - op->off;

    if (op->kind == COLL_SOP_CALL)
        return op->fn(s, op->dst, budget);
    if (op->kind != COLL_SOP_AXPY && op->kind != COLL_SOP_STORE && k * unit > *budget)
        k = *budget / unit ? *budget / unit : 1;
    switch ((coll_sop_kind_t)op->kind) {
    case COLL_SOP_REDUCE:
        reduce_apply(coll_at(op->dst, off), coll_at(op->a, off), coll_at(op->b, off), k,
                     s->desc.dtype, s->desc.op);
        break;
    case COLL_SOP_COPY:
        if (op->dst != op->a && k) /* memcpy of NULL, even 0 bytes, is undefined */
            memcpy(coll_at(op->dst, off), coll_at(op->a, off), k);
        break;
    case COLL_SOP_FINISH:
        reduce_finish(coll_at(op->dst, off), k, s->desc.dtype, s->desc.op, s->comm->size);
        break;
    case COLL_SOP_AXPY:
        reduce_axpy(op->dst, op->a, op->n, s->desc.dtype, op->w, op->first);
        break;
    case COLL_SOP_STORE: reduce_acc_store(op->dst, op->a, op->n, s->desc.dtype); break;
    default: break;
    }
    *budget = k * unit < *budget ? *budget - k * unit : 0;
    op->off += k;
    return op->off == op->n;
}

static void start_op(coll_sched_t *s, coll_sop_t *op)
{
    rcomm_status_t st = post(s, op);

    if (st != RCOMM_OK) {
        fail(s, st, op->peer);
        peer_failure_message(s);
    }
}

rcomm_status_t coll_sched_progress(coll_sched_t *s)
{
    size_t budget = COLL_LOCAL_SLICE; /* sched.h */

    if (s->errmsg_late) {
        s->errmsg_late = 0;
        peer_failure_message(s);
    }
    while (s->status == RCOMM_INPROGRESS && s->ready_head != s->ready_tail) {
        coll_sop_id_t id = take_ready(s);
        coll_sop_t *op = &s->ops[id];

        if (op->skip) {
            /* As if posted and done: the next send to the peer may go. */
            if (op->kind == COLL_SOP_SEND && op->order_next != COLL_SOP_NONE &&
                --s->ops[op->order_next].pending == 0)
                make_ready(s, op->order_next);
            complete(s, op);
        } else if (!is_local(op)) {
            start_op(s, op);
        } else if (budget == 0) { /* the transport's turn: post the rest */
            make_ready(s, id);
            for (uint32_t n = s->ready_tail - s->ready_head - 1; n--;) {
                op = &s->ops[id = take_ready(s)];
                if (is_local(op) || op->skip) /* a skip completes next time */
                    make_ready(s, id);
                else if (s->status == RCOMM_INPROGRESS)
                    start_op(s, op);
            }
            break;
        } else if (run_local(s, op, &budget)) {
            complete(s, op);
        } else {
            make_ready(s, id);
        }
    }
    /* Left in the queue: local work that the caller's wait must not sleep
     * through (core/comm.h local_work). */
    if (s->status == RCOMM_INPROGRESS && s->ready_head != s->ready_tail)
        s->comm->local_work = 1;
    if (s->status == RCOMM_INPROGRESS && s->ndone == s->nops)
        s->status = RCOMM_OK;
    return s->status;
}

rcomm_status_t coll_sched_start(coll_sched_t *s)
{
    uint32_t *count;

    if (s->status != RCOMM_INPROGRESS)
        return base_err(s->status, "%s: building the schedule failed", s->name);
    /* peer_next and last_send are done with: their block now holds the
     * successors, the ready queue and the counts. */
    s->peer_next = s->last_send = NULL;
    if (!work(s, (size_t)s->nedges + 2 * (size_t)s->nops + 1))
        return base_err(RCOMM_ERR_NO_MEMORY, "%s: no memory for %u operations", s->name,
                        s->nops);
    s->succ = s->work;
    s->ready = s->succ + s->nedges;
    count = s->ready + s->nops;
    memset(count, 0, ((size_t)s->nops + 1) * sizeof(*count));
    /* Successor lists in one array (compressed rows). */
    for (uint32_t e = 0; e < s->nedges; e++)
        count[(s->edges[e] >> 32) + 1]++;
    for (uint32_t i = 0; i < s->nops; i++) {
        count[i + 1] += count[i];
        s->ops[i].succ_off = count[i];
        s->ops[i].nsucc = 0;
    }
    for (uint32_t e = 0; e < s->nedges; e++) {
        coll_sop_t *from = &s->ops[s->edges[e] >> 32];
        s->succ[from->succ_off + from->nsucc++] = (uint32_t)s->edges[e];
    }
    s->last_activity_ns = base_now_ns();
    for (uint32_t i = 0; i < s->nops; i++)
        if (s->ops[i].pending == 0)
            make_ready(s, i);
    return coll_sched_progress(s);
}

void coll_sched_waiting_for(const coll_sched_t *s, char *buf, size_t len)
{
    size_t n = 0;
    int listed = 0;

    buf[0] = '\0';
    for (uint32_t i = 0; i < s->nops && n + 40 < len; i++) {
        const coll_sop_t *op = &s->ops[i];
        if (!op->posted || op->req.status != RCOMM_INPROGRESS)
            continue;
        /* Name each peer once per direction. */
        int seen = 0;
        for (uint32_t j = 0; j < i && !seen; j++)
            seen = s->ops[j].posted && s->ops[j].req.status == RCOMM_INPROGRESS &&
                   s->ops[j].peer == op->peer && s->ops[j].kind == op->kind;
        if (seen)
            continue;
        n += (size_t)snprintf(buf + n, len - n, "%srank %d (%s)", listed ? ", " : "",
                              op->peer, op->kind == COLL_SOP_SEND ? "send" : "receive");
        listed++;
    }
    if (!listed)
        snprintf(buf, len, "no peer (local work)");
}

uint64_t coll_sched_moved(const coll_sched_t *s)
{
    const uint64_t *moved = s->comm->tp->moved;
    uint64_t sum = 0;

    for (uint32_t i = 0; i < s->nops; i++)
        if (s->ops[i].posted && s->ops[i].req.status == RCOMM_INPROGRESS)
            sum += moved[s->ops[i].peer];
    return sum;
}

void coll_sched_clear(coll_sched_t *s)
{
    for (int i = 0; i < COLL_SCHED_SCRATCH; i++) {
        comm_scratch_put(s->comm, s->scratch[i]);
        s->scratch[i] = NULL;
    }
}

void coll_sched_free(coll_sched_t *s)
{
    if (!s)
        return;
    coll_sched_clear(s);
    free(s->ops);
    free(s->edges);
    free(s->work);
    s->ops = NULL;
    s->edges = NULL;
    s->work = NULL;
    s->cap_ops = s->cap_edges = 0;
    s->cap_work = 0;
}
