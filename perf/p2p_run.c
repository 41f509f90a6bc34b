/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The point-to-point benchmarks' transport and timed protocols: blocking
 * helpers over the transport's requests, then bandwidth (bursts of -t
 * operations in flight, send-bw's receiving side) and latency (ping-pong,
 * or one get at a time for read). See p2p_perf.c's top for what is measured.
 */
#include <inttypes.h>
#include <math.h>
#include <sched.h>
#include <stdint.h>
#include <stdlib.h>

#include "perf/p2p_perf.h"

/* write-lat: "ping k arrived" in a window's last byte; never 0 (a cleared
 * window), never the same for two pings in a row. */
static unsigned char marker(uint64_t k)
{
    return (unsigned char)(k % 255 + 1);
}

/* ---- the transport ------------------------------------------------------- */

/* Spin for RCOMM_SPIN_US after since, then let progress sleep (see p2p_perf.c);
 * but not while waiting for bytes a peer writes (memory): an RDMA write
 * raises no completion to end that sleep, so keep polling, yielding the
 * core to whoever else needs it. */
static void poll_tp(p2p_t *p, double since, int memory)
{
    const int idle = grade_now_s() - since >= p->spin;
    rcomm_status_t st = p->tp->ops->progress(p->tp, idle && !memory);

    if (st != RCOMM_OK)
        p2p_die_op(st, "progress", 0);
    if (p->yield || (idle && memory))
        sched_yield();
}

static void check_req(const tp_req_t *req, const char *what, size_t len)
{
    if (req->status != RCOMM_OK && req->status != RCOMM_INPROGRESS)
        p2p_die_op(req->status, what, len);
}

void p2p_wait_req(p2p_t *p, tp_req_t *req, const char *what, size_t len)
{
    const double since = grade_now_s();

    while (req->status == RCOMM_INPROGRESS)
        poll_tp(p, since, 0);
    check_req(req, what, len);
}

/* Post a send (out) or a receive of a message with tag kind. */
void p2p_post_msg(p2p_t *p, int out, int kind, void *buf, size_t len, tp_req_t *req)
{
    rcomm_status_t st =
        out ? p->tp->ops->isend(p->tp, p->peer, TAG(kind), NULL, buf, len, req)
            : p->tp->ops->irecv(p->tp, p->peer, TAG(kind), buf, len, req);

    if (st != RCOMM_OK)
        p2p_die_op(st, out ? "send" : "receive", len);
}

/* Control messages: blocking, an msg_t or empty (msg NULL). */
void p2p_ctrl(p2p_t *p, int out, int kind, msg_t *msg)
{
    const size_t len = msg ? sizeof(*msg) : 0;
    tp_req_t req = {0};

    p2p_post_msg(p, out, kind, msg, len, &req);
    p2p_wait_req(p, &req, out ? "control send" : "control receive", len);
    if (!out && req.len != len)
        p2p_die(RCOMM_ERR_PROTOCOL, "control message of %zu bytes, not %zu", req.len,
                len);
}

/* The benchmarked operation, between loc and the peer's window. */
static void post_op(p2p_t *p, size_t len, tp_req_t *req)
{
    const tp_ops_t *ops = p->tp->ops;
    rcomm_status_t st;

    if (p->o.op == OP_WRITE)
        st = ops->put(p->tp, p->peer, p->loc, len, &p->rwin, p->rwin.addr, req);
    else if (p->o.op == OP_READ)
        st = ops->get(p->tp, p->peer, p->loc, len, &p->rwin, p->rwin.addr, req);
    else if (p->o.op == OP_ATOMIC) /* the window's first word counts them */
        st = ops->fetch_add(p->tp, p->peer, &p->rwin, p->rwin.addr, 1, req);
    else
        st = ops->isend(p->tp, p->peer, TAG(T_DATA), NULL, p->loc, len, req);
    if (st != RCOMM_OK)
        p2p_die_op(st, p2p_op_names[p->o.op], len);
}

static void cancel_recv(p2p_t *p, tp_req_t *req, size_t len)
{
    rcomm_status_t st = p->tp->ops->cancel(p->tp, req);

    if (st == RCOMM_INPROGRESS)
        p2p_wait_req(p, req, "receive", len); /* it was landing already */
    else if (st != RCOMM_OK)
        p2p_die_op(st, "cancel of a receive", len);
}

/* ---- bandwidth ----------------------------------------------------------- */

/* perftest's peak: the fewest seconds per operation over any run i..j of
 * the n operations, min (done[j] - post[i]) / (j - i + 1). Bisection on
 * that time s: some run makes it iff for some j, done[j] - s (j + 1) <=
 * max over i <= j of (post[i] - s i). The whole run always does. */
static double best_time(const double *post, const double *done, uint64_t n)
{
    double lo = 0, hi = (done[n - 1] - post[0]) / (double)n;

    for (int step = 0; step < 50; step++) {
        double s = (lo + hi) / 2, start = -INFINITY;
        int ok = 0;
        for (uint64_t j = 0; j < n && !ok; j++) {
            start = fmax(start, post[j] - s * (double)j);
            ok = done[j] - s * (double)(j + 1) <= start;
        }
        *(ok ? &hi : &lo) = s;
    }
    return hi;
}

/* Posts count operations (with seconds > 0: as many as fit), keeping up to w
 * in flight. Completions are reaped in posting order: a transport completes
 * same-sized operations to one peer in that order, and the ring then needs
 * no free list. Returns the operations done; *t0, *t1: first post, last
 * completion. */
static uint64_t burst(p2p_t *p, size_t len, uint64_t count, double seconds, int timed,
                      double *t0, double *t1)
{
    uint64_t posted = 0, done = 0, tx = (uint64_t)p->o.tx_depth;
    const uint64_t w = count && count < tx ? count : tx;
    double t = *t0 = grade_now_s();

    for (;;) {
        while (posted - done < w && (seconds > 0 ? t - *t0 < seconds : posted < count)) {
            if (timed)
                p->tpost[posted] = t;
            post_op(p, len, &p->reqs[posted++ % w]);
            t = grade_now_s();
        }
        if (done == posted)
            break;
        poll_tp(p, t, 0);
        for (; done < posted && p->reqs[done % w].status != RCOMM_INPROGRESS; done++) {
            check_req(&p->reqs[done % w], p2p_op_names[p->o.op], len);
            t = grade_now_s();
            if (timed)
                p->tdone[done] = t;
        }
    }
    *t1 = t;
    return done;
}

void p2p_bw_client(p2p_t *p, size_t len, row_t *row)
{
    const double unit = p->o.gbits ? 125e6 : 1048576.0;
    double t0, t1, secs;

    burst(p, len, (uint64_t)p->o.warmup, 0, 0, &t0, &t1);
    row->iters =
        burst(p, len, (uint64_t)p->o.iters, p->o.duration, p->tpost != NULL, &t0, &t1);
    if (p->o.op == OP_SEND) {
        /* An empty message ends the stream; rank 1 answers once all landed. */
        p2p_ctrl(p, 1, T_DATA, NULL);
        p2p_ctrl(p, 0, T_ACK, NULL);
        t1 = grade_now_s();
    }
    secs = t1 - t0;
    if (p->tpost)
        row->v[0] = (double)len / best_time(p->tpost, p->tdone, row->iters) / unit;
    row->v[1] = (double)len * (double)row->iters / secs / unit;
    row->v[2] = (double)row->iters / secs / 1e6;
}

/* Rank 1 of send-bw: receives into the window until the empty message that
 * ends the stream, keeping up to RX_DEPTH receives posted; they complete in
 * posting order, as they match. Returns the data messages received. */
uint64_t p2p_rx_stream(p2p_t *p, size_t len)
{
    const uint64_t all = (uint64_t)p->o.iters + (uint64_t)p->o.warmup + 1;
    const uint64_t depth = p->o.duration == 0 && all < RX_DEPTH ? all : RX_DEPTH;
    uint64_t head, got, posted;
    tp_req_t *q;

    for (posted = 0; posted < depth; posted++)
        p2p_post_msg(p, 0, T_DATA, p->win, len, &p->reqs[posted]);
    p2p_ctrl(p, 1, T_READY, NULL);
    for (head = 0;; head++) {
        q = &p->reqs[head % depth];
        p2p_wait_req(p, q, "receive", len);
        if (q->len == 0)
            break;
        p2p_post_msg(p, 0, T_DATA, p->win, len, q);
        posted++;
    }
    p2p_ctrl(p, 1, T_ACK, NULL); /* stops rank 0's clock */
    /* Receives posted after the end: nothing else comes with this tag. */
    for (got = head; ++head < posted;)
        cancel_recv(p, &p->reqs[head % depth], len);
    return got;
}

/* ---- latency ------------------------------------------------------------- */

/* One timed iteration on rank 0, in seconds: one way for write and send
 * (half the round trip), the whole round trip for read and atomic. */
static double ping(p2p_t *p, size_t len)
{
    volatile unsigned char *last = p->win + len - 1;
    tp_req_t out = {0}, in = {0};
    const unsigned char m = marker(p->pings);
    const int op = p->o.op;
    double t0, t;

    if (op == OP_SEND)
        p2p_post_msg(p, 0, T_PONG, p->win, len, &in); /* before the ping it answers */
    if (op == OP_WRITE) {
        p->loc[len - 1] = m;
        p->pings++;
    }
    t0 = grade_now_s();
    post_op(p, len, &out);
    if (op == OP_WRITE) {
        while (*last != m) { /* rank 1 writes the same marker back */
            check_req(&out, "write", len);
            poll_tp(p, t0, 1);
        }
    } else {
        p2p_wait_req(p, op == OP_SEND ? &in : &out,
                     op == OP_SEND ? "receive" : p2p_op_names[op], len);
    }
    t = grade_now_s() - t0;
    p2p_wait_req(p, &out, p2p_op_names[op], len);
    return op == OP_READ || op == OP_ATOMIC ? t : t / 2;
}

/* Rank 1 of a latency test: say READY, then answer pings until rank 0 says
 * done. A write ping shows as its marker in the window's last byte; a read
 * or an atomic needs nothing but progress (TCP serves them inside it). */
uint64_t p2p_pong(p2p_t *p, size_t len, tp_req_t *done)
{
    volatile unsigned char *last = p->win + len - 1;
    tp_req_t out = {0}, in = {0};
    double since = grade_now_s();
    uint64_t n = 0;

    if (p->o.op == OP_SEND)
        p2p_post_msg(p, 0, T_DATA, p->win, len, &in);
    p2p_ctrl(p, 1, T_READY, NULL);
    while (done->status == RCOMM_INPROGRESS) {
        poll_tp(p, since, p->o.op == OP_WRITE);
        if (p->o.op == OP_WRITE && *last == marker(p->pings)) {
            p2p_wait_req(p, &out, "write", len);
            p->loc[len - 1] = marker(p->pings++);
            post_op(p, len, &out);
        } else if (p->o.op == OP_SEND && in.status != RCOMM_INPROGRESS) {
            check_req(&in, "receive", len);
            p2p_post_msg(p, 0, T_DATA, p->win, len, &in);
            p2p_wait_req(p, &out, "send", len);
            p2p_post_msg(p, 1, T_PONG, p->loc, len, &out);
        } else {
            continue;
        }
        n++;
        since = grade_now_s();
    }
    p2p_wait_req(p, &out, "answer", len);
    if (p->o.op == OP_SEND && in.status == RCOMM_INPROGRESS)
        cancel_recv(p, &in, len);
    return n;
}

static int cmp_double(const void *a, const void *b)
{
    const double x = *(const double *)a, y = *(const double *)b;

    return (x > y) - (x < y);
}

/* Nearest rank: the smallest sample with a share q of them at or below it. */
static double percentile(const double *v, uint64_t n, double q)
{
    const uint64_t k = (uint64_t)ceil(q * (double)n);

    return v[k ? k - 1 : 0];
}

void p2p_lat_client(p2p_t *p, size_t len, row_t *row)
{
    const double dur = p->o.duration;
    uint64_t n = 0, cap = dur > 0 ? 4096 : (uint64_t)p->o.iters;
    double *v = malloc(cap * sizeof(*v)), sum = 0, sq = 0, avg, t0;

    for (int i = 0; i < p->o.warmup; i++)
        ping(p, len);
    t0 = grade_now_s();
    while (v && (n == 0 || (dur > 0 ? grade_now_s() - t0 < dur : n < cap))) {
        if (n == cap)
            v = realloc(v, (cap *= 2) * sizeof(*v));
        if (v)
            v[n++] = ping(p, len);
    }
    if (!v)
        p2p_die(RCOMM_ERR_NO_MEMORY, "no memory for %" PRIu64 " latency samples", cap);
    qsort(v, n, sizeof(*v), cmp_double);
    for (uint64_t i = 0; i < n; i++)
        sum += v[i];
    avg = sum / (double)n;
    for (uint64_t i = 0; i < n; i++)
        sq += (v[i] - avg) * (v[i] - avg);
    row->iters = n;
    row->v[0] = v[0];
    row->v[1] = v[n - 1];
    row->v[2] = n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
    row->v[3] = avg;
    row->v[4] = sqrt(sq / (double)n);
    row->v[5] = percentile(v, n, 0.99);
    row->v[6] = percentile(v, n, 0.999);
    for (int i = 0; i < 7; i++)
        row->v[i] *= 1e6;
    free(v);
}
