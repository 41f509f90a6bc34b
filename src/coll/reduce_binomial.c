/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Reduce by binomial tree, in segments. Ranks are renumbered from the root
 * (v = r - root mod p); v receives from v + 1, v + 2, v + 4, ... below its
 * lowest set bit, folds each into its accumulator, and passes the sum to
 * v - lowbit(v). p = 6, root 0:
 *
 *   step 1   v1 -> v0   v3 -> v2   v5 -> v4
 *   step 2   v2 -> v0             (v2 holds v2 + v3)
 *   step 3   v4 -> v0             (v4 holds v4 + v5): v0 has all six
 *
 * Every segment is its own message and reduction, so segment m climbs to
 * the root while segment m+1 is still on its way up below. Leaves send
 * straight from sendbuf; the root accumulates in recvbuf.
 *   cost ~ ceil(lg p) (alpha + n beta + n gamma): good for small messages
 */
#include "coll/coll.h"

rcomm_status_t coll_reduce_binomial_build(coll_sched_t *s, const char *sbuf, char *rbuf)
{
    const int p = s->comm->size, root = s->desc.root;
    const int v = coll_mod((long)s->comm->rank - root, p), low = v ? (v & -v) : p;
    const size_t n = s->desc.count, es = s->esize, seg = coll_seg(s);
    int nchild = 0, children[32];
    char *acc = v == 0 ? rbuf : NULL;
    coll_slots_t sl;

    for (int m = 1; m < low && v + m < p; m <<= 1)
        children[nchild++] = coll_mod((long)v + m + root, p);
    if (nchild == 0) { /* a leaf: its input is its message */
        for (size_t o = 0; o < n; o += seg)
            coll_sched_send(s, coll_mod((long)v - low + root, p), sbuf + o * es,
                            (n - o < seg ? n - o : seg) * es);
        return RCOMM_OK;
    }
    if (!acc && !(acc = coll_sched_scratch(s, n * es)))
        return RCOMM_OK; /* out of memory: recorded, start fails */
    coll_slots_init(&sl, s, seg * es, n * es * (size_t)nchild);
    if (!sl.base)
        return RCOMM_OK;
    for (size_t o = 0; o < n; o += seg) {
        const size_t len = n - o < seg ? n - o : seg;
        coll_sop_id_t prev = COLL_SOP_NONE, wait;

        for (int c = 0; c < nchild; c++) {
            char *slot = coll_slot_take(&sl, &wait);
            coll_sop_id_t rcv = coll_sched_recv(s, children[c], slot, len * es);
            coll_sop_id_t red = coll_sched_reduce(
                s, acc + o * es, c ? acc + o * es : sbuf + o * es, slot, len);
            coll_sched_dep(s, rcv, wait);
            coll_sched_dep(s, red, rcv);
            coll_sched_dep(s, red, prev);
            coll_slot_release(&sl, red);
            prev = red;
        }
        if (v != 0) {
            coll_sop_id_t snd = coll_sched_send(s, coll_mod((long)v - low + root, p),
                                                acc + o * es, len * es);
            coll_sched_dep(s, snd, prev);
        } else if (s->desc.op == RCOMM_AVG) {
            coll_sched_dep(s, coll_sched_finish(s, acc + o * es, len), prev);
        }
    }
    return RCOMM_OK;
}
