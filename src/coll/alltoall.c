/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * All-to-all by pairwise exchange: at step k = 1 .. p-1 rank r sends its
 * block for r + k and receives the block of r - k, so every step is a
 * permutation: each rank sends one block and receives one, and no rank is
 * the target of two. p = 4:
 *
 *   step 1   0->1  1->2  2->3  3->0
 *   step 2   0->2  1->3  2->0  3->1
 *   step 3   0->3  1->0  2->1  3->2
 *
 * Steps overlap by a window of ALLTOALL_WINDOW (a step starts when the one
 * that many steps before it has finished) so that a slow pair delays the
 * next steps without leaving the links idle. Blocks move straight from
 * sendbuf to recvbuf, in messages of up to ALLTOALL_SEGS_PER_MSG segments;
 * our own block is a copy, made while they move.
 *   cost = (p-1) (alpha + n beta), n = bytes per block
 * A Bruck exchange would take ceil(lg p) rounds instead of p-1 steps, but
 * moves every block lg p / 2 times through scratch. It is not built yet:
 * with p - 1 <= ALLTOALL_WINDOW every step is already in flight at once,
 * and the smallest all-to-all takes 0.89 times Open MPI's time on 2 ranks
 * and 1.04 times on 4 (docs/PERFORMANCE.md, second pass); whether Bruck
 * pays on more ranks is unmeasured.
 *
 * alltoallv is the same walk with each pair's own count. An empty block
 * still sends one empty message: its envelope carries the sender's count, so
 * a receiver that expected something else fails with MISMATCH instead of
 * waiting (or finishing with data it did not expect).
 */
#include "coll/coll.h"

#define ALLTOALL_WINDOW 4
/* Nothing here is pipelined, and every message costs a rendezvous round
 * trip, so a message carries this many segments (64 MiB by default; 64 MiB
 * on 2 ranks: 18.1 ms against 20.2 with one segment per message, medians of
 * 7). Scaled by RCOMM_SEGMENT_SIZE all the same, so that one setting still
 * bounds every message and small settings still split blocks. */
#define ALLTOALL_SEGS_PER_MSG 256

/* Send or receive count elements at buf in segments; one empty message if
 * count is 0 and v. Every op depends on after and is a dependency of done;
 * each claims (or expects) count. */
static void move(coll_sched_t *s, int peer, int sending, char *buf, size_t count, int v,
                 coll_sop_id_t after, coll_sop_id_t done)
{
    const size_t es = s->esize, seg = coll_seg(s) * ALLTOALL_SEGS_PER_MSG;

    for (size_t o = 0; o < count || (o == 0 && v); o += seg) {
        size_t n = count - o < seg ? count - o : seg;
        coll_sop_id_t op = sending
                               ? coll_sched_send(s, peer, coll_at(buf, o * es), n * es)
                               : coll_sched_recv(s, peer, coll_at(buf, o * es), n * es);
        coll_sched_set_count(s, op, count);
        coll_sched_dep(s, op, after);
        coll_sched_dep(s, done, op);
        if (count == 0)
            break;
    }
}

rcomm_status_t coll_alltoall_build(coll_sched_t *s, const char *sbuf,
                                   const size_t *scounts, const size_t *sdispls,
                                   char *rbuf, const size_t *rcounts,
                                   const size_t *rdispls, int v)
{
    const int p = s->comm->size, r = s->comm->rank;
    const size_t es = s->esize;
    const int in_place = sbuf == rbuf;
    coll_sop_id_t step[ALLTOALL_WINDOW], start = COLL_SOP_NONE;

    for (int k = 0; k < ALLTOALL_WINDOW; k++)
        step[k] = COLL_SOP_NONE;
    s->fan_in = p > 2; /* several peers' blocks in flight at once */
    if (in_place) {    /* in place: what we send is copied out first (our own
                        * block stays where it is) */
        size_t extent = 0;
        char *copy;
        for (int q = 0; q < p; q++)
            if (rdispls[q] + rcounts[q] > extent)
                extent = rdispls[q] + rcounts[q];
        /* At least one byte (extent 0), but no more: a byte over
         * RCOMM_SCRATCH_CACHE would fault the whole copy in on every call. */
        if (!(copy = coll_sched_scratch(s, extent ? extent * es : 1)))
            return RCOMM_OK; /* out of memory: recorded, start fails */
        start = coll_sched_copy(s, copy, rbuf, extent * es);
        sbuf = copy;
    }
    for (int k = 1; k < p; k++) {
        const int to = coll_mod((long)r + k, p), from = coll_mod((long)r - k, p);
        coll_sop_id_t done = coll_sched_join(s), after = coll_sched_join(s);

        coll_sched_dep(s, after, start);
        coll_sched_dep(s, after, step[k % ALLTOALL_WINDOW]);
        move(s, to, 1, coll_at(sbuf, sdispls[to] * es), scounts[to], v, after, done);
        move(s, from, 0, coll_at(rbuf, rdispls[from] * es), rcounts[from], v, after,
             done);
        step[k % ALLTOALL_WINDOW] = done;
    }
    /* Last in the ready queue, so behind the first steps' posts, and run in
     * slices between transport progress (sched.c): it overlaps the transfer. */
    if (!in_place)
        coll_sched_copy(s, coll_at(rbuf, rdispls[r] * es), coll_at(sbuf, sdispls[r] * es),
                        rcounts[r] * es);
    return RCOMM_OK;
}
