/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Agreement: the part of a schedule that makes every rank's call fail when
 * the ranks called it differently, in the collectives whose data alone would
 * not. Every message's envelope carries the call (sched.h) and a receive
 * fails with MISMATCH when it differs from ours, so a rank cannot finish
 * with the wrong answer if everything it finishes with came, hop by checked
 * hop, from every rank. An allreduce, allgather, reduce-scatter or alltoall
 * with data has that property: every rank's result needs every rank's data.
 * A rooted collective does not (a broadcast root hears from nobody, a
 * reduce leaf only sends), nor does a call with count 0 (it moves nothing):
 * those ranks could return OK while the others wait for them. They add
 * this pattern, the same on every rank whatever the call (so that ranks
 * that disagree still run it alike), next to their data, sharing nothing
 * with it:
 *
 * Dissemination, as the barrier: in round k rank r sends a zero-byte
 * message to r + 2^k once it has those of every earlier round, and
 * receives one from r - 2^k. Each receive checks the sender's call against
 * ours, and a sender has checked everyone before it, so after ceil(log2 p)
 * rounds r has compared, through checked hops, with every rank: it
 * completes only if all called alike. In round 0 r also sends to r - 1, so
 * that both neighbours are among the ranks it waits for. Every receive is
 * posted at once.
 *
 * p = 5, rank 0 calls with count 0, the others with 1000:
 *   round 0: 0 -> 1 and 0 -> 4 (also 1 -> 2 ... 4 -> 0, if they agree)
 *            rank 1 and rank 4 find count 0 against their 1000: MISMATCH.
 *   They fail, and their goodbye carries MISMATCH and the message to every
 *   peer: rank 0's receives from 1 and 4 fail with it, ranks 2 and 3 fail
 *   waiting for data of 1, 4 or 0 (or, if they run this pattern too, for
 *   their messages). No rank can finish, and none waits for RCOMM_TIMEOUT:
 *   a rank waiting for round k waits for a sender that waits for an earlier
 *   round, down to round 0, which is sent at once; so every wait ends at a
 *   rank that failed, whose goodbye fails the receive posted for it.
 * A rank whose peer's message arrives before it makes its own call checks
 * the envelope when it makes it (colls.c keeps them), even if it never posts
 * a receive the message matches.
 *
 * cost = (ceil(log2 p) + 1) alpha in parallel with the data: zero bytes,
 * ceil(log2 p) + 1 messages per rank. But no rank returns before every rank
 * has called: a broadcast root or a reduce leaf, which returned as soon as
 * its sends were out, now waits about as long as a barrier.
 */
#include "coll/coll.h"

#define TAG_FWD(k) (COLL_TAG_CTRL | (uint32_t)(k) << 1)
#define TAG_BACK (COLL_TAG_CTRL | 1u)

void coll_agree_build(coll_sched_t *s)
{
    const int p = s->comm->size, r = s->comm->rank;
    coll_sop_id_t heard[32]; /* the receives of rounds 0 .. k - 1 */
    int k = 0;

    for (int d = 1; d < p; d *= 2, k++) {
        coll_sop_id_t snd = coll_sched_ctrl_send(s, coll_mod(r + d, p), TAG_FWD(k));
        /* Every earlier round, not only the last: the receives are all
         * posted at once, so round k - 1 may complete before round k - 2. */
        for (int j = 0; j < k; j++)
            coll_sched_dep(s, snd, heard[j]);
        heard[k] = coll_sched_ctrl_recv(s, coll_mod(r - d, p), TAG_FWD(k));
    }
    /* With two ranks the forward message goes to the only neighbour. */
    if (p > 2) {
        coll_sched_ctrl_send(s, coll_mod(r - 1, p), TAG_BACK);
        coll_sched_ctrl_recv(s, coll_mod(r + 1, p), TAG_BACK);
    }
}
