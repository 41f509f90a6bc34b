/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * AllReduce between buffers the peers map (rcomm_mem_alloc), on a
 * communicator whose ranks all share one host: rank r reduces block r
 * straight from every rank's send buffer and stores the result straight
 * into every rank's receive buffer (NCCL's registered user buffers; Open
 * MPI's single-copy with XPMEM). Each rank reads n bytes and writes n,
 * with no copy into or out of a transport: a staged path (messages, or
 * shared staging areas) copies every byte at least twice more, which is
 * what keeps those under half of memcpy at 64 MiB (docs/PERFORMANCE.md).
 *
 * The ranks meet in the mailboxes (mailbox.h), three times per call:
 *   1. each posts where its buffers are (region keys and addresses); a
 *      rank whose buffers are not both in such memory goes the generic way
 *      at once, and every rank that sees it does the same with the same
 *      call number;
 *   2. each maps its peers' buffers (rkey_ptr) and says whether it could,
 *      in `ready`; all go on only if all could, else all go the generic
 *      way (no byte has moved yet);
 *   3. each says in `done` that it has finished with its peers' buffers,
 *      gives their mappings back (rkey_ptr_release: a program that
 *      allocates and frees buffers must not keep every file mapped), and
 *      returns once every peer has finished with its own.
 * The same rank writes block r everywhere, so every rank has the same bits.
 * In place, a rank reads its segment of a peer's block before it writes
 * the result there, and nobody else touches that block. Work is in
 * segments that stay in the cache between the reduction and the copies;
 * large calls out of place go in one pass instead (coll_mapped_reduce).
 * Nonblocking calls meet by messages instead (allreduce_mapped_nb.c).
 */
#include <stddef.h>
#include <string.h>

#include "base/clock.h"
#include "base/error.h"
#include "coll/mailbox.h"
#include "coll/mapped.h"
#include "coll/pattern.h"
#include "reduce/reduce.h"

/* Bytes of a segment: reduced, then copied out, while in the cache. */
#define SEG_BYTES (256u << 10)
/* Bytes the whole call writes (every rank's receive buffer) from which the
 * stores stream. From there the one pass is 1.06-1.9x faster on 2 and 4
 * ranks; below it, where the buffers stay in the caches from call to call,
 * streaming them out cost up to 0.83x on 2 ranks (docs/PERFORMANCE.md, "One
 * pass with streaming stores"). */
#define STREAM_MIN (16u << 20)
/* Where the ranks outnumber the cores, each of the three meetings waits
 * for every rank to be scheduled: 28 us a call on 4 ranks over 2 cores,
 * where the generic path's rd takes 16 us at 1 KiB; from 32 KiB on this
 * path is faster (docs/PERFORMANCE.md). A rank below it goes the generic
 * way, and the others with it. */
#define MIN_OVERSUBSCRIBED (32u << 10)
/* A nonblocking call sends every peer where its buffers are, malloc'd ones
 * too (beside the generic path's messages): 0.5-1 us a call. From 64 KiB
 * that costs a malloc'd call at most 6% on 2 and 4 ranks over 2 cores, and
 * the mapped path is 1.5-5.5x faster (docs/PERFORMANCE.md, "Nonblocking
 * mapped AllReduce"). */
#define MIN_NB (64u << 10)

/* The vote of step 2, as stored in `ready`: the call and a bit. */
static uint64_t vote(uint64_t seq, bool ok)
{
    return coll_mbox_tag(seq) << 1 | ok;
}

/* Every peer's vote of step 2 for this call; *all_ok: all were yes. A
 * peer's next vote comes only after this call, which needs ours: the word
 * holds this call's once it is at least vote(seq, false). */
static rcomm_status_t wait_votes(coll_mbox_wait_t *w, bool *all_ok)
{
    rcomm_status_t st =
        coll_mbox_wait_all(w, offsetof(coll_mailbox_t, ready), vote(w->seq, false),
                           "mapped the buffers of this call");

    *all_ok = true;
    for (int q = 0; q < w->comm->size && st == RCOMM_OK; q++)
        *all_ok =
            *all_ok &&
            (q == w->comm->rank ||
             (atomic_load_explicit(&w->sl->peer[q]->ready, memory_order_acquire) & 1));
    return st;
}

/* Whether every rank's buffers are memory its peers can map, as each posted
 * (a rank whose are not posts only where the staged path may serve). */
static bool all_fit(const coll_mbox_wait_t *w)
{
    bool all = true;

    for (int q = 0; q < w->comm->size && all; q++) {
        coll_where_t at;

        memcpy(&at, w->sl->in[q], sizeof(at));
        all = at.fit != 0;
    }
    return all;
}

void coll_mapped_unmap(rcomm_comm_t *comm, const char **src, char **dst)
{
    tp_t *tp = comm->tp;

    for (int q = 0; q < comm->size; q++) {
        if (q != comm->rank && src[q])
            tp->ops->rkey_ptr_release(tp, q, (void *)src[q]);
        if (q != comm->rank && dst[q])
            tp->ops->rkey_ptr_release(tp, q, dst[q]);
        src[q] = NULL;
        dst[q] = NULL;
    }
}

bool coll_mapped_map(rcomm_comm_t *comm, const char *fn, uint64_t seq, size_t bytes,
                     const unsigned char *const *in, const char **src, char **dst)
{
    tp_t *tp = comm->tp;
    bool ok = true;

    base_err_mute(true); /* a refusal is a vote, not an error */
    for (int q = 0; q < comm->size && ok; q++) {
        coll_where_t at;
        void *s, *d;

        if (q == comm->rank)
            continue;
        memcpy(&at, in[q], sizeof(at));
        if (tp->ops->rkey_ptr(tp, q, &at.srk, at.sbuf, bytes, TP_REMOTE_READ, &s) ==
            RCOMM_OK)
            src[q] = s;
        if (tp->ops->rkey_ptr(tp, q, &at.rrk, at.rbuf, bytes, TP_REMOTE_WRITE, &d) ==
            RCOMM_OK)
            dst[q] = d;
        if (!(ok = src[q] && dst[q]))
            base_log(BASE_LOG_INFO,
                     "rank %d: %s: collective #%llu takes the generic path: %s",
                     comm->rank, fn, (unsigned long long)seq, rcomm_last_error());
    }
    base_err_mute(false);
    base_err_clear();
    if (!ok)
        coll_mapped_unmap(comm, src, dst);
    return ok;
}

/* Our block, segment by segment, reduced from every rank's send buffer and
 * stored into every rank's receive buffer.
 *   Out of place, once the call writes STREAM_MIN or more in all: in one
 * pass with streaming stores (reduce_fan), which read no destination line
 * first.
 *   Otherwise (and where reduce_fan does not serve): reduced into rank 0's
 * receive buffer, then copied from there (reduce_chain). In place every
 * store lands on a line just read, so streaming would gain nothing; in
 * smaller calls the results stay in the caches, where the caller reads
 * them next. */
bool coll_mapped_reduce(const rcomm_comm_t *comm, const coll_desc_t *d, const char **src,
                        char **dst, size_t *pos, size_t *budget)
{
    const int p = comm->size;
    const size_t es = rcomm_dtype_size(d->dtype), seg = SEG_BYTES / es;
    const coll_blocks_t bl = {d->count, p, 0, NULL, NULL, NULL};
    bool fan = d->count * es * (size_t)p >= STREAM_MIN;
    size_t off, len, o;

    for (int k = 0; k < p; k++)
        fan = fan && src[k] != dst[k];
    coll_block(&bl, comm->rank, &off, &len);
    for (o = *pos; o<len && * budget> 0; o += seg) {
        const size_t n = len - o < seg ? len - o : seg, at = (off + o) * es;
        void *const *to = (void *const *)dst;
        const void *const *from = (const void *const *)src;

        if (!fan || !reduce_fan(to, p, from, p, at, n, d->dtype, d->op, p))
            reduce_chain(to, p, from, p, at, n, d->dtype, d->op, p);
        *budget = *budget > n * es ? *budget - n * es : 0;
    }
    *pos = o;
    return o >= len;
}

bool coll_mapped_nb_applies(const rcomm_comm_t *comm, const coll_call_t *c)
{
    const size_t bytes = c->desc.count * rcomm_dtype_size(c->desc.dtype);

    (void)comm;
    return bytes >= MIN_NB;
}

bool coll_mapped_fit(const rcomm_comm_t *comm, const coll_call_t *c, tp_rkey_t *srk,
                     tp_rkey_t *rrk)
{
    const size_t bytes = c->desc.count * rcomm_dtype_size(c->desc.dtype);
    tp_rkey_t k;

    return bytes > COLL_SLOT_BYTES &&
           (!comm->oversubscribed || bytes >= MIN_OVERSUBSCRIBED) &&
           comm_mem_shared(comm, c->sbuf, bytes, srk ? srk : &k) &&
           comm_mem_shared(comm, c->rbuf, bytes, rrk ? rrk : &k);
}

rcomm_status_t coll_mapped_allreduce(rcomm_comm_t *comm, const coll_call_t *c,
                                     bool *generic)
{
    const size_t bytes = c->desc.count * rcomm_dtype_size(c->desc.dtype);
    const bool staged = coll_staged_fit(comm, c);
    coll_mailboxes_t *sl = coll_state(comm)->slots;
    const char **src = sl->src;
    char **dst = sl->dst;
    coll_mbox_wait_t w;
    rcomm_status_t st;
    coll_where_t mine = {0};
    size_t pos = 0, budget = SIZE_MAX;
    int other;
    bool ok = false, all;

    *generic = true;
    mine.fit = comm->cfg.shm_mapped && coll_mapped_fit(comm, c, &mine.srk, &mine.rrk);
    if (!mine.fit && !staged)
        return RCOMM_OK; /* the peers will see us go the generic way */
    mine.sbuf = (uint64_t)(uintptr_t)c->sbuf;
    mine.rbuf = (uint64_t)(uintptr_t)c->rbuf;
    base_err_clear();
    if ((st = coll_mbox_post(&w, comm, c, &mine, sizeof(mine))) != RCOMM_OK ||
        (st = coll_mbox_gather(&w, &other)) != RCOMM_OK)
        return st;
    if (other < 0 && all_fit(&w)) {
        ok = coll_mapped_map(comm, c->fn, w.seq, bytes, sl->in, src, dst);
        atomic_store_explicit(&sl->mine->ready, vote(w.seq, ok), memory_order_release);
        if ((st = wait_votes(&w, &all)) != RCOMM_OK) {
            coll_mapped_unmap(comm, src, dst);
            return st;
        }
        if (ok && !all)
            coll_mapped_unmap(comm, src, dst);
        ok = ok && all;
    }
    if (!ok && other < 0 && staged) {
        *generic = false;
        if ((st = coll_staged_allreduce(&w)) == RCOMM_OK && comm->deferred != RCOMM_OK)
            st = comm_check(comm, c->fn);
        return st;
    }
    if (!ok) {
        /* Nothing has moved: the call keeps its number on the generic way. */
        coll_state(comm)->next_seq = w.seq;
        return RCOMM_OK;
    }
    *generic = false;
    src[comm->rank] = c->sbuf;
    dst[comm->rank] = c->rbuf;
    coll_mapped_reduce(comm, &c->desc, src, dst, &pos, &budget);
    atomic_store_explicit(&sl->mine->done, coll_mbox_tag(w.seq), memory_order_release);
    w.since_ns = base_now_ns(); /* RCOMM_TIMEOUT bounds the wait, not our work */
    src[comm->rank] = NULL;
    dst[comm->rank] = NULL;
    coll_mapped_unmap(comm, src, dst);
    if ((st = coll_mbox_wait_all(&w, offsetof(coll_mailbox_t, done), coll_mbox_tag(w.seq),
                                 "finished with this rank's buffers")) == RCOMM_OK &&
        comm->deferred != RCOMM_OK)
        st = comm_check(comm, c->fn);
    return st;
}
