/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Server threads: they apply pushed gradients to the parameters. No worker
 * ever talks to them: a worker writes its gradient into its slot, the last
 * write with a notification (put_notify: over verbs a WRITE WITH IMMEDIATE,
 * whose receive completes here after the bytes of every write before it on
 * the connection). The rank's progress takes the notification
 * (ps_server_notified), checks it is the worker's next push and moves the
 * worker's clock word; its service hook (ps_server_progress) hands the push
 * out (dispatch): small, it applies it itself; else it releases it to the
 * threads (rel[]) and rings the bell that wakes them. Whoever applies a
 * push publishes in applied[] the clock whose updates are in the
 * parameters, and the hook tells the worker (ps_server_tell). Idle threads
 * sleep on a condition variable: an idle server spends no CPU in them. Who
 * progresses the rank is docs/PS.md's "Who progresses what": a rank that
 * also works and has no progress thread takes notifications only inside its
 * calls.
 *
 * Each thread owns a contiguous share of the blocks and is the only writer
 * of them, so no lock is needed (Hogwild across blocks, exact within one).
 * A block is written under its version word, seqlock style: odd while the
 * thread writes it, the next even value after; readers retry a block whose
 * version was odd or changed while they read it. The last thread to finish
 * a push publishes its clock (pending[] counts the threads still at it), so
 * a published clock means every block has the update.
 *
 *   BSP       wait until every worker has pushed the next step, sum the
 *             gradients block by block in worker order, apply once;
 *   SSP, ASP  apply each worker's push as soon as it is there.
 * A block a push did not write (its stamp is older than the push) is left
 * alone: no gradient is not a zero gradient for momentum. Nor is a key that
 * a sparse push left out (sparse.c): only the keys it names are updated.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/clock.h"
#include "base/error.h"
#include "ps/ps.h"
#include "reduce/reduce.h"

/* An applier: an update thread, or the progress's own (sv->own). */
typedef struct ps_thread {
    rcomm_ps_t *ps;
    size_t b_lo, b_hi;   /* blocks [b_lo, b_hi) of this server are ours */
    uint64_t *seen;      /* [W] clock of the last push we applied, per worker */
    char *sum;           /* one block of gradient: BSP's sum, or a sparse push's */
    unsigned char *mark; /* [blk]: the keys sum holds, when not all */
} ps_thread_t;

static int server_index(const rcomm_ps_t *ps)
{
    return ps->comm->rank; /* servers are ranks 0..nservers-1 */
}

/* The built-in rule on n elements: m = mu*m + g; p -= lr*m (or p -= lr*g). */
#define SGD_LOOP(T)                                                                      \
    do {                                                                                 \
        T *p = params, *m = mom;                                                         \
        const T *g = grad;                                                               \
        const T lr = (T)cfg->lr, mu = (T)cfg->momentum;                                  \
        if (m)                                                                           \
            for (size_t i = 0; i < n; i++) {                                             \
                m[i] = mu * m[i] + g[i];                                                 \
                p[i] -= lr * m[i];                                                       \
            }                                                                            \
        else                                                                             \
            for (size_t i = 0; i < n; i++)                                               \
                p[i] -= lr * g[i];                                                       \
    } while (0)

static void update(const rcomm_ps_config_t *cfg, int t, const ps_tensor_t *tn,
                   size_t first, void *params, void *mom, const void *grad, size_t n)
{
    if (cfg->update) {
        cfg->update(cfg->update_arg, t, first, params, grad, n, tn->dtype);
        return;
    }
    if (tn->dtype == RCOMM_F64)
        SGD_LOOP(double);
    else
        SGD_LOOP(float);
}

/* The record at byte rec of worker w's slot, half h. */
static char *slot_rec(const rcomm_ps_t *ps, int w, int h, size_t rec)
{
    return ps->srv.slots[w] + ps_slot_at(ps, server_index(ps), h, rec);
}

/* Its stamp: the header's clock word. */
static uint64_t stamp(const rcomm_ps_t *ps, int w, int h, size_t rec)
{
    const ps_block_hdr_t *hd = (const ps_block_hdr_t *)slot_rec(ps, w, h, rec);

    return __atomic_load_n(&hd->clock, __ATOMIC_ACQUIRE);
}

/* The rule on the marked keys of a block only, run by run. */
static void update_marked(const rcomm_ps_config_t *cfg, int t, const ps_tensor_t *tn,
                          size_t first, char *params, char *mom, const char *grad,
                          size_t n, const unsigned char *mark)
{
    const size_t es = tn->esize;

    for (size_t a = 0, e; a < n; a = e) {
        for (e = a; e < n && mark[e]; e++)
            ;
        if (e > a)
            update(cfg, t, tn, first + a, params + a * es, mom ? mom + a * es : NULL,
                   grad + a * es, e - a);
        else
            e++;
    }
}

/* Add a worker's part of a block (grad: in its slot; n keys) into th->sum:
 * the first one (*have == 0) sets it. A whole block marks every key. */
static void add_block(ps_thread_t *th, const char *grad, uint64_t stamp_word, size_t n,
                      const ps_tensor_t *tn, int *have, int *whole)
{
    ps_server_t *sv = &th->ps->srv;
    const size_t keys = PS_STAMP_KEYS(stamp_word);

    if (stamp_word & PS_STAMP_ENCODED) { /* f32, the compressor's encoding */
        if (!*have)
            memset(th->sum, 0, n * sizeof(float));
        ps_encoded_add(th->ps, grad, n, (float *)th->sum);
        *whole = 1;
    } else if (keys == 0) {
        if (!*have)
            memcpy(th->sum, grad, n * tn->esize);
        else
            reduce_apply(th->sum, th->sum, grad, n, tn->dtype, RCOMM_SUM);
        *whole = 1;
    } else {
        if (!*have) {
            memset(th->sum, 0, n * tn->esize);
            memset(th->mark, 0, n);
        }
        const size_t bad = ps_sparse_add(grad, keys, n, tn->dtype, th->sum, th->mark);
        if (bad) /* a shared counter: touched only when something was wrong */
            __atomic_add_fetch(&sv->rejected, bad, __ATOMIC_RELAXED);
    }
    *have = 1;
}

/* Apply the push of clock c to our blocks: from worker w's slot, or (w < 0,
 * BSP) the sum over every worker's; from the slots' half for c. */
static void apply(ps_thread_t *th, int w, uint64_t c)
{
    rcomm_ps_t *ps = th->ps;
    ps_server_t *sv = &ps->srv;
    const int s = server_index(ps), h = ps_half(ps, c);
    uint64_t clock = c; /* what the blocks we write will hold: see below */

    /* Every worker's pushes up to th->seen[] are in all our blocks. */
    for (int j = 0; w >= 0 && j < ps->nworkers; j++)
        if (j != w && th->seen[j] < clock)
            clock = th->seen[j];

    for (int t = 0; t < ps->lay.ntensors; t++) {
        const ps_range_t *r = ps_range(&ps->lay, s, t);
        const ps_tensor_t *tn = &ps->lay.t[t];
        const size_t nb = (r->n + tn->blk - 1) / tn->blk;
        size_t lo = r->block > th->b_lo ? r->block : th->b_lo;
        size_t hi = r->block + nb < th->b_hi ? r->block + nb : th->b_hi;

        for (size_t b = lo; b < hi; b++) {
            const size_t first = (b - r->block) * tn->blk;
            const size_t n = ps_block_keys(&ps->lay, s, t, b - r->block);
            const size_t off = r->off + first * tn->esize; /* the momentum's */
            const size_t rec = ps_rec(&ps->lay, s, t, b - r->block);
            const char *grad;
            int have = 0, whole = 0;
            uint64_t v, sw;

            for (int j = w < 0 ? 0 : w; j < (w < 0 ? ps->nworkers : w + 1); j++) {
                sw = stamp(ps, j, h, rec);
                if (PS_STAMP_CLOCK(sw) != c)
                    continue;
                if (w >= 0 && !(sw & PS_STAMP_ENCODED) && PS_STAMP_KEYS(sw) == 0) {
                    /* in place, no copy */
                    have = whole = 1;
                    break;
                }
                add_block(th, slot_rec(ps, j, h, rec) + PS_REC_DATA, sw, n, tn, &have,
                          &whole);
            }
            if (!have)
                continue;
            grad = w >= 0 && whole ? slot_rec(ps, w, h, rec) + PS_REC_DATA : th->sum;
            v = ps_server_begin_write(ps, t, b - r->block);
            if (whole)
                update(&ps->cfg, t, tn, r->lo + first,
                       ps_server_data(ps, t, b - r->block),
                       sv->momentum ? sv->momentum + off : NULL, grad, n);
            else
                update_marked(
                    &ps->cfg, t, tn, r->lo + first, ps_server_data(ps, t, b - r->block),
                    sv->momentum ? sv->momentum + off : NULL, grad, n, th->mark);
            ps_server_end_write(ps, t, b - r->block, v, clock);
        }
    }
}

/* We finished our share of job `slot`; the last thread publishes. */
static void finish(ps_thread_t *th, unsigned *pending, int w, uint64_t c)
{
    rcomm_ps_t *ps = th->ps;
    ps_server_t *sv = &ps->srv;

    if (__atomic_sub_fetch(pending, 1, __ATOMIC_ACQ_REL) != 0)
        return;
    __atomic_store_n(pending, (unsigned)sv->nthreads, __ATOMIC_RELAXED);
    for (int j = w < 0 ? 0 : w; j < (w < 0 ? ps->nworkers : w + 1); j++)
        __atomic_store_n(&sv->pub[j], c, __ATOMIC_RELEASE);
    __atomic_add_fetch(&sv->updates, 1, __ATOMIC_RELAXED);
}

/* What every worker's applied clock says is in all blocks, ours too. */
static void catch_up(ps_thread_t *th)
{
    for (int w = 0; w < th->ps->nworkers; w++) {
        const uint64_t p = __atomic_load_n(&th->ps->srv.pub[w], __ATOMIC_ACQUIRE);
        th->seen[w] = p > th->seen[w] ? p : th->seen[w];
    }
}

/* hook_ps_pause: microseconds a thread waits between reading rel[] and
 * pub[], for tests that widen that window. */
static unsigned pause_us;

void ps_server_pause(unsigned us)
{
    __atomic_store_n(&pause_us, us, __ATOMIC_RELAXED);
}

/* rel[] before pub[]: the progress publishes a push it applied itself
 * before it moves rel[] past it, so a thread that sees rel[] moved also sees
 * whether that push is already in (read the other way round, a thread late
 * between the two applied such a push a second time). Returns rel[w]. */
static uint64_t released(ps_thread_t *th, int w)
{
    const uint64_t r = __atomic_load_n(&th->ps->srv.rel[w], __ATOMIC_ACQUIRE);
    const unsigned us = __atomic_load_n(&pause_us, __ATOMIC_RELAXED);

    if (us)
        usleep(us);
    catch_up(th);
    return r;
}

/* A thread's pass over the pushes released to the threads; returns whether
 * there was work. A worker may have two released (one in each half): they
 * are applied one at a time, in order, each push_interval past the last. */
static int poll_once(ps_thread_t *th)
{
    rcomm_ps_t *ps = th->ps;
    ps_server_t *sv = &ps->srv;
    const uint64_t iv = (uint64_t)ps->cfg.push_interval;
    int worked = 0;

    if (ps->cfg.staleness == 0) {
        const uint64_t r = released(th, 0);
        const uint64_t c = th->seen[0] + iv;
        if (r >= c) {
            apply(th, -1, c);
            th->seen[0] = c;
            finish(th, &sv->pending[ps_half(ps, c)], -1, c);
            worked = 1;
        }
        return worked;
    }
    for (int w = 0; w < ps->nworkers; w++) {
        const uint64_t r = released(th, w);
        const uint64_t c = th->seen[w] + iv;
        if (r >= c) {
            apply(th, w, c);
            th->seen[w] = c;
            finish(th, &sv->pending[2 * w + ps_half(ps, c)], w, c);
            worked = 1;
        }
    }
    return worked;
}

/* Ring the bell: every thread waiting for a ring after the last wakes. */
static void ring(ps_server_t *sv)
{
    pthread_mutex_lock(&sv->bell_mu);
    __atomic_add_fetch(&sv->bell, 1, __ATOMIC_RELEASE);
    if (sv->sleepers)
        pthread_cond_broadcast(&sv->bell_cv);
    pthread_mutex_unlock(&sv->bell_mu);
}

/* Wait until the bell rings after `gen` (or stop). With cores to spare,
 * poll first for spin_ns; then sleep. */
static void wait_bell(ps_server_t *sv, uint64_t gen)
{
    const uint64_t t0 = sv->spin_ns ? base_now_ns() : 0;

    while (sv->spin_ns && base_now_ns() - t0 < sv->spin_ns)
        if (__atomic_load_n(&sv->bell, __ATOMIC_ACQUIRE) != gen ||
            __atomic_load_n(&sv->stop, __ATOMIC_ACQUIRE))
            return;
    pthread_mutex_lock(&sv->bell_mu);
    sv->sleepers++;
    while (__atomic_load_n(&sv->bell, __ATOMIC_ACQUIRE) == gen &&
           !__atomic_load_n(&sv->stop, __ATOMIC_ACQUIRE))
        pthread_cond_wait(&sv->bell_cv, &sv->bell_mu);
    sv->sleepers--;
    pthread_mutex_unlock(&sv->bell_mu);
}

static void thread_free(ps_thread_t *th)
{
    if (!th)
        return;
    free(th->seen);
    free(th->sum);
    free(th->mark);
    free(th);
}

/* An applier of blocks [b_lo, b_hi); NULL when out of memory. */
static ps_thread_t *thread_new(rcomm_ps_t *ps, size_t b_lo, size_t b_hi)
{
    const size_t sum_bytes = ps->cfg.block_bytes < 8 ? 8 : ps->cfg.block_bytes;
    ps_thread_t *th = calloc(1, sizeof(*th));

    if (!th)
        return NULL;
    *th = (ps_thread_t){.ps = ps, .b_lo = b_lo, .b_hi = b_hi};
    th->seen = calloc((size_t)ps->nworkers, sizeof(*th->seen));
    th->sum = malloc(sum_bytes);
    th->mark = malloc(sum_bytes);
    if (th->seen && th->sum && th->mark)
        return th;
    thread_free(th);
    return NULL;
}

static void *thread_main(void *arg)
{
    ps_thread_t *th = arg;
    ps_server_t *sv = &th->ps->srv;

    while (!__atomic_load_n(&sv->stop, __ATOMIC_ACQUIRE)) {
        /* Read before looking: a ring after this wakes us. */
        const uint64_t gen = __atomic_load_n(&sv->bell, __ATOMIC_ACQUIRE);
        if (!poll_once(th))
            wait_bell(sv, gen);
    }
    poll_once(th); /* a push that came with the last done */
    thread_free(th);
    return NULL;
}

void ps_server_notified(rcomm_ps_t *ps, int peer, uint32_t value)
{
    ps_server_t *sv = &ps->srv;
    uint64_t next;
    int w;

    /* Not serving yet (no worker has a slot key: a stray) or any more. */
    if (!ps->is_server || !sv->started || sv->bad_peer)
        return;
    w = ps_worker_of(ps, peer);
    /* Only this thread (the one that progresses the rank) writes clk. */
    next = w < 0 ? 0 : sv->clk[w] + (uint64_t)ps->cfg.push_interval;
    if (w < 0 || value >> 1 != (next & (PS_NOTIFY_CLOCKS - 1))) {
        sv->bad_peer = peer + 1;
        sv->bad_value = value >> 1;
        return;
    }
    sv->small[2 * w + ps_half(ps, next)] = value & 1;
    __atomic_store_n(&sv->clk[w], next, __ATOMIC_RELEASE);
}

/* A notification that was not the next push of a worker: the peer does not
 * speak our protocol, so nothing it wrote is believed. */
static void bad_notification(rcomm_ps_t *ps)
{
    const int peer = ps->srv.bad_peer - 1, w = ps_worker_of(ps, peer);

    if (w < 0)
        ps_fail(ps, base_err(RCOMM_ERR_PROTOCOL,
                             "parameter server rank %d: rank %d, not a worker, notified "
                             "a push",
                             ps->comm->rank, peer));
    else
        ps_fail(ps,
                base_err(RCOMM_ERR_PROTOCOL,
                         "parameter server rank %d: worker rank %d notified a push "
                         "of clock %u (mod 2^%d), where its next is %llu",
                         ps->comm->rank, peer, ps->srv.bad_value, COMM_NOTIFY_BITS - 1,
                         (unsigned long long)(ps->srv.clk[w] +
                                              (uint64_t)ps->cfg.push_interval)));
}

/* Whether the progress may apply a push itself: it is small, the rule is
 * the built-in one, no fetch holds a block (the hold waits for the
 * progress), and the threads are idle: everything released to them is
 * published, so no thread writes a block. */
static int own_turn(const rcomm_ps_t *ps, int small)
{
    const ps_server_t *sv = &ps->srv;

    if (!small || !sv->own || __atomic_load_n(&sv->hold, __ATOMIC_ACQUIRE))
        return 0;
    for (int w = 0; w < ps->nworkers; w++)
        if (__atomic_load_n(&sv->pub[w], __ATOMIC_ACQUIRE) != sv->rel[w])
            return 0;
    return 1;
}

/* Hand out the pushes notified since the last look, in order: a small one
 * the progress applies and publishes at once (no thread to wake: the
 * latency of a small push is the progress's), the others go to the
 * threads, which are rung. BSP hands out rounds: every worker's push of
 * the next step. */
static void dispatch(rcomm_ps_t *ps)
{
    ps_server_t *sv = &ps->srv;
    const uint64_t iv = (uint64_t)ps->cfg.push_interval;
    const int bsp = ps->cfg.staleness == 0;
    int released = 0;
    uint64_t sum = 0;

    for (int w = 0; w < (bsp ? 1 : ps->nworkers); w++)
        for (;;) {
            /* The push's workers: w, or every worker for a BSP round. */
            const int j0 = bsp ? 0 : w, j1 = bsp ? ps->nworkers : w + 1;
            const uint64_t c = sv->rel[w] + iv;
            int small = 1;
            for (int j = j0; j < j1; j++) {
                if (sv->clk[j] < c)
                    small = -1; /* not all there */
                else if (small > 0)
                    small = sv->small[2 * j + ps_half(ps, c)];
            }
            if (small < 0)
                break;
            if (own_turn(ps, small)) {
                catch_up(sv->own);
                apply(sv->own, bsp ? -1 : w, c);
                for (int j = j0; j < j1; j++)
                    __atomic_store_n(&sv->pub[j], c, __ATOMIC_RELEASE);
                __atomic_add_fetch(&sv->updates, 1, __ATOMIC_RELAXED);
            } else {
                released = 1;
            }
            for (int j = j0; j < j1; j++)
                __atomic_store_n(&sv->rel[j], c, __ATOMIC_RELEASE);
        }
    /* Under BSP also at each push of a round not yet complete: the threads
     * are then awake when it completes, where a wake-up on a busy host
     * costs tens of microseconds (the training example's BSP step took
     * 1.34-1.48x allreduce's with a ring per round, 1.18-1.31x with one per
     * push, as before 2026-12-05; docs/PERFORMANCE.md). */
    for (int w = 0; bsp && w < ps->nworkers; w++)
        sum += sv->clk[w];
    if (released || sum != sv->rung)
        ring(sv);
    sv->rung = sum;
}

void ps_server_tell(rcomm_ps_t *ps)
{
    ps_server_t *sv = &ps->srv;

    for (int w = 0; w < ps->nworkers; w++) {
        ps_op_t *o = &sv->tell[w];
        const uint64_t p = __atomic_load_n(&sv->pub[w], __ATOMIC_ACQUIRE);
        /* Ourselves (read in place), no key yet, one in flight, or a write
         * that failed: the worker is gone, and its done receive says so. */
        if (ps->worker_rank[w] == ps->comm->rank || !sv->mbox_known ||
            o->req.status != RCOMM_OK || p <= sv->told[w])
            continue;
        sv->told[w] = p;
        *o = (ps_op_t){.kind = PS_PUT,
                       .server = ps->worker_rank[w],
                       .buf = &sv->told[w],
                       .len = 8,
                       .rkey = &sv->mbox[w],
                       .raddr = ps_raddr(&sv->mbox[w], (size_t)server_index(ps) * 8)};
        if (ps_post(ps, o, "serve") != RCOMM_OK)
            return; /* ps failed, and says why */
    }
}

int ps_server_telling(const rcomm_ps_t *ps)
{
    for (int w = 0; ps->srv.tell && w < ps->nworkers; w++)
        if (ps->srv.tell[w].req.status == RCOMM_INPROGRESS)
            return 1;
    return 0;
}

void ps_server_progress(rcomm_ps_t *ps)
{
    ps_server_t *sv = &ps->srv;

    if (!sv->started || sv->closing || ps->failed || ps->comm->failed)
        return;
    if (sv->bad_peer) {
        bad_notification(ps);
        return;
    }
    ps_fetch_serve(ps);
    dispatch(ps);
    ps_server_tell(ps);
}

rcomm_status_t ps_server_start(rcomm_ps_t *ps)
{
    ps_server_t *sv = &ps->srv;
    const size_t nb = ps->lay.nblocks[server_index(ps)];
    const size_t W = (size_t)ps->nworkers;

    sv->nthreads = ps->cfg.server_threads;
    if ((size_t)sv->nthreads > nb)
        sv->nthreads = nb ? (int)nb : 1;
    if (!(sv->threads = calloc((size_t)sv->nthreads, sizeof(*sv->threads))) ||
        !(sv->pending = calloc(2 * W, sizeof(*sv->pending))) ||
        !(sv->rel = calloc(W, sizeof(*sv->rel))) || !(sv->small = calloc(2 * W, 1)) ||
        !(sv->mbox = calloc(W, sizeof(*sv->mbox))) ||
        !(sv->told = calloc(W, sizeof(*sv->told))) ||
        !(sv->tell = calloc(W, sizeof(*sv->tell))) ||
        (!ps->cfg.update && !(sv->own = thread_new(ps, 0, nb))) ||
        !(sv->fetch_in = calloc(W, sizeof(*sv->fetch_in))) ||
        !(sv->fetch_buf = calloc(W, sizeof(*sv->fetch_buf))) ||
        !(sv->fetch_st = calloc(W, sizeof(*sv->fetch_st))) ||
        !(sv->fetch_out = calloc(W, sizeof(*sv->fetch_out))))
        return base_err(RCOMM_ERR_NO_MEMORY, "rank %d: parameter server: no memory",
                        ps->comm->rank);
    for (size_t i = 0; i < 2 * W; i++)
        sv->pending[i] = (unsigned)sv->nthreads;
    sv->job.w = -1;
    pthread_mutex_init(&sv->bell_mu, NULL);
    pthread_cond_init(&sv->bell_cv, NULL);
    sv->bell_ready = 1;
    /* Threads poll before they sleep only when every thread on the host
     * has a core: otherwise they would take a computing thread's. */
    sv->spin_ns = (uint64_t)ps->comm->local_size * (1 + (uint64_t)sv->nthreads) <=
                          (uint64_t)ps->comm->local_cores
                      ? ps->comm->spin_ns
                      : 0;
    for (int i = 0; i < sv->nthreads; i++) {
        ps_thread_t *th = thread_new(ps, nb * (size_t)i / (size_t)sv->nthreads,
                                     nb * (size_t)(i + 1) / (size_t)sv->nthreads);
        int e;
        if (!th)
            return base_err(RCOMM_ERR_NO_MEMORY,
                            "rank %d: parameter server: no memory for thread %d",
                            ps->comm->rank, i);
        if ((e = pthread_create(&sv->threads[i], NULL, thread_main, th)) != 0) {
            thread_free(th);
            return base_err(RCOMM_ERR_SYSTEM,
                            "rank %d: parameter server: pthread_create: %s",
                            ps->comm->rank, strerror(e));
        }
        sv->started++;
    }
    ps_server_progress(ps); /* the first receives (fetch.c) */
    return ps->failed ? comm_check(ps->comm, "rcomm_ps_create") : RCOMM_OK;
}

void ps_server_quiesce(rcomm_ps_t *ps)
{
    rcomm_comm_t *comm = ps->comm;
    const uint64_t start = base_now_ns(),
                   limit = (uint64_t)base_config_timeout_ms(&comm->cfg) * 1000000ull;
    int busy;

    if (!ps->srv.bell_ready)
        return;
    ps->srv.closing = 1;
    ps_fetch_cancel(ps);
    do {
        busy = ps_fetch_busy(ps) || ps_server_telling(ps);
        if (busy)
            comm_progress(comm, 0);
    } while (busy && comm->tp && !comm->failed && base_now_ns() - start < limit);
}

void ps_server_stop(rcomm_ps_t *ps)
{
    ps_server_t *sv = &ps->srv;

    __atomic_store_n(&sv->stop, 1, __ATOMIC_RELEASE);
    __atomic_store_n(&sv->hold, 0, __ATOMIC_RELEASE); /* a held thread may leave */
    if (sv->bell_ready)
        ring(sv);
    for (int i = 0; i < sv->started; i++)
        pthread_join(sv->threads[i], NULL);
    sv->started = 0; /* from here on the hook does nothing */
    if (sv->bell_ready) {
        ps_server_quiesce(ps);
        pthread_cond_destroy(&sv->bell_cv);
        pthread_mutex_destroy(&sv->bell_mu);
        sv->bell_ready = 0;
    }
    ps_fetch_release(ps);
    free(sv->fetch_in);
    free(sv->fetch_buf);
    free(sv->fetch_st);
    free(sv->fetch_out);
    sv->fetch_in = NULL;
    sv->fetch_buf = NULL;
    sv->fetch_st = NULL;
    sv->fetch_out = NULL;
    free(sv->threads);
    free(sv->pending);
    free(sv->rel);
    free(sv->small);
    free(sv->mbox);
    free(sv->told);
    free(sv->tell);
    thread_free(sv->own);
    sv->threads = NULL;
    sv->pending = NULL;
    sv->rel = NULL;
    sv->small = NULL;
    sv->mbox = NULL;
    sv->told = NULL;
    sv->tell = NULL;
    sv->own = NULL;
}

int ps_server_idle(const rcomm_ps_t *ps)
{
    const ps_server_t *sv = &ps->srv;
    uint64_t min = UINT64_MAX;

    for (int w = 0; w < ps->nworkers; w++) {
        uint64_t c = __atomic_load_n(&sv->clk[w], __ATOMIC_ACQUIRE);
        min = c < min ? c : min;
    }
    for (int w = 0; w < ps->nworkers; w++) {
        uint64_t want =
            ps->cfg.staleness == 0 ? min : __atomic_load_n(&sv->clk[w], __ATOMIC_ACQUIRE);
        if (__atomic_load_n(&sv->pub[w], __ATOMIC_ACQUIRE) < want)
            return 0;
    }
    return 1;
}

void ps_server_log_state(const rcomm_ps_t *ps, const char *fn)
{
    const ps_server_t *sv = &ps->srv;
    char line[512] = "";
    size_t at = 0;

    /* Enough for a few dozen workers; a larger job gets the first ones. */
    for (int w = 0; w < ps->nworkers && at < sizeof(line) - 48; w++) {
        unsigned long long pushed = __atomic_load_n(&sv->clk[w], __ATOMIC_ACQUIRE),
                           applied = __atomic_load_n(&sv->pub[w], __ATOMIC_ACQUIRE);
        at += (size_t)snprintf(line + at, sizeof(line) - at, " %d:%llu/%llu",
                               ps->worker_rank[w], pushed, applied);
    }
    base_log(BASE_LOG_WARN,
             "%s: server rank %d when it failed, per worker rank pushed/applied "
             "clock:%s%s",
             fn, ps->comm->rank, line, at >= sizeof(line) - 48 ? " ..." : "");
}
