/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * AllReduce through the mailboxes' stages, on a communicator whose ranks
 * all share one host, for buffers the peers cannot map (malloc'd ones):
 * Open MPI's copy-in, copy-out through shared memory (coll/sm, xhc). The
 * vector goes in pieces of COLL_STAGE_BYTES; for piece m each rank
 *   1. copies its send buffer's piece into its stage, all but its own
 *      block of it (nobody else reads that);
 *   2. reduces its block from its send buffer and every peer's stage, in
 *      the order r, r+1, ..., into its own stage;
 *   3. copies the piece's result out of the stages into its receive buffer,
 *      each block from the stage of the rank that reduced it.
 * Every byte is copied twice more than on the mapped path, but the stages
 * stay in the caches, and no page of the caller's is pinned or mapped, so
 * at large sizes this is several times faster than cross-memory attach
 * (docs/PERFORMANCE.md, "Staged AllReduce").
 *
 * The ranks meet once per piece, in the word `staged`: 2g + 1 says "pieces
 * up to g - 1 reduced, piece g copied in", 2g "pieces up to g - 1 reduced";
 * g counts pieces over all the staged calls, so the word only grows. In one
 * step a rank copies piece m - 1 out, reduces piece m, and copies piece
 * m + 1 in. Piece g lives in stage[g % 3]: when a rank copies piece m + 1
 * in, or reduces piece m, every peer has reduced piece m - 1, so it has
 * copied out of that stage what it held before (pieces m - 2 and m - 3).
 */
#include <stddef.h>
#include <string.h>

#include "base/clock.h"
#include "coll/mailbox.h"
#include "coll/pattern.h"
#include "reduce/reduce.h"

/* From here on, against the generic path: 1.6-3x as fast on 3 and 4 ranks
 * (a tie on 4 in place at 64 KiB), 2.2-2.7x on 2 ranks in place; on 2
 * ranks out of place level (0.87-1.16) up to 4 MiB and 1.5x beyond
 * (docs/PERFORMANCE.md, "Staged AllReduce"). */
#define STAGE_MIN (64u << 10)

/* Piece g of a call whose first piece is `first`: its element range. */
typedef struct {
    const coll_call_t *c;
    uint64_t first;
    size_t per, es;
} pieces_t;

static void piece_range(const pieces_t *pc, uint64_t g, size_t *off, size_t *len)
{
    const size_t at = (size_t)(g - pc->first) * pc->per;
    const size_t left = pc->c->desc.count - at;

    *off = at;
    *len = left < pc->per ? left : pc->per;
}

static void block_of(size_t len, int p, int q, size_t *off, size_t *n)
{
    const coll_blocks_t bl = {len, p, 0, NULL, NULL, NULL};

    coll_block(&bl, q, off, n);
}

static unsigned char *stage_of(const coll_mailbox_t *box, uint64_t g)
{
    return (unsigned char *)box->stage[g % COLL_STAGE_BUFS];
}

/* Step 1 for piece g: all of it into our stage but our own block. */
static void copy_in(coll_mbox_wait_t *w, const pieces_t *pc, uint64_t g)
{
    const rcomm_comm_t *comm = w->comm;
    const unsigned char *src = (const unsigned char *)pc->c->sbuf;
    unsigned char *st = stage_of(w->sl->mine, g);
    size_t off, len, b, n;

    piece_range(pc, g, &off, &len);
    block_of(len, comm->size, comm->rank, &b, &n);
    src += off * pc->es;
    memcpy(st, src, b * pc->es);
    memcpy(st + (b + n) * pc->es, src + (b + n) * pc->es, (len - b - n) * pc->es);
}

/* Step 2: our block of piece g, from our send buffer and the peers' stages
 * in the order r, r+1, ..., into our stage. */
static void reduce(coll_mbox_wait_t *w, const pieces_t *pc, uint64_t g)
{
    const rcomm_comm_t *comm = w->comm;
    const int p = comm->size, r = comm->rank;
    const char **from = w->sl->src;
    void *to;
    size_t off, len, b, n;

    piece_range(pc, g, &off, &len);
    block_of(len, p, r, &b, &n);
    from[0] = (const char *)pc->c->sbuf + (off + b) * pc->es;
    for (int k = 1; k < p; k++)
        from[k] = (const char *)stage_of(w->sl->peer[(r + k) % p], g) + b * pc->es;
    to = stage_of(w->sl->mine, g) + b * pc->es;
    reduce_chain(&to, 1, (const void *const *)from, p, 0, n, pc->c->desc.dtype,
                 pc->c->desc.op, p);
    for (int k = 0; k < p; k++)
        from[k] = NULL;
}

/* Step 3: piece g's result, each block from the stage that holds it. */
static void copy_out(coll_mbox_wait_t *w, const pieces_t *pc, uint64_t g)
{
    const int p = w->comm->size;
    unsigned char *dst = (unsigned char *)pc->c->rbuf;
    size_t off, len, b, n;

    piece_range(pc, g, &off, &len);
    dst += off * pc->es;
    for (int q = 0; q < p; q++) {
        block_of(len, p, q, &b, &n);
        memcpy(dst + b * pc->es, stage_of(w->sl->peer[q], g) + b * pc->es, n * pc->es);
    }
}

/* Before the first staged call: our stages written once, and every page
 * of the peers' read once, so that no page is first touched inside a later
 * call: where that fell in the first calls to take each stage, 1 MiB took
 * 5-8x its time (docs/PERFORMANCE.md, "Staged AllReduce"). Ours are
 * written, not read: here a page's first write cost 4 us even after a
 * read had mapped it. Nobody reads our stages for data before we say so. */
static void warm(coll_mailboxes_t *sl, int p, int me)
{
    memset(sl->mine->stage, 0, sizeof(sl->mine->stage));
    for (int q = 0; q < p; q++) {
        const volatile unsigned char *at = &sl->peer[q]->stage[0][0];

        if (q == me)
            continue;
        for (size_t i = 0; i < sizeof(sl->peer[q]->stage); i += 4096)
            (void)at[i];
    }
    sl->warm = true;
}

static void say(coll_mbox_wait_t *w, uint64_t v)
{
    atomic_store_explicit(&w->sl->mine->staged, v, memory_order_release);
}

bool coll_staged_fit(const rcomm_comm_t *comm, const coll_call_t *c)
{
    const size_t bytes = c->desc.count * rcomm_dtype_size(c->desc.dtype);

    return comm->cfg.shm_staged && comm->size > 1 && bytes >= STAGE_MIN;
}

rcomm_status_t coll_staged_allreduce(coll_mbox_wait_t *w)
{
    const coll_call_t *c = w->c;
    const size_t es = rcomm_dtype_size(c->desc.dtype);
    const pieces_t pc = {c, w->sl->pieces, COLL_STAGE_BYTES / es, es};
    const uint64_t end = pc.first + (c->desc.count + pc.per - 1) / pc.per;
    rcomm_status_t st;

    if (!w->sl->warm)
        warm(w->sl, w->comm->size, w->comm->rank);
    copy_in(w, &pc, pc.first);
    say(w, 2 * pc.first + 1);
    for (uint64_t m = pc.first; m < end; m++) {
        if ((st = coll_mbox_wait_all(w, offsetof(coll_mailbox_t, staged), 2 * m + 1,
                                     "staged its piece of this call")) != RCOMM_OK)
            return st;
        /* RCOMM_TIMEOUT bounds a wait for the peers, not a long call. */
        w->since_ns = base_now_ns();
        if (m > pc.first)
            copy_out(w, &pc, m - 1);
        reduce(w, &pc, m);
        if (m + 1 < end)
            copy_in(w, &pc, m + 1);
        say(w, 2 * (m + 1) + (m + 1 < end));
    }
    if ((st = coll_mbox_wait_all(w, offsetof(coll_mailbox_t, staged), 2 * end,
                                 "reduced its block of this call's last piece")) !=
        RCOMM_OK)
        return st;
    copy_out(w, &pc, end - 1);
    w->sl->pieces = end;
    return RCOMM_OK;
}
