/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Broadcast down a tree, in segments: a rank forwards segment m to its
 * children as soon as it has it, so segments flow down the tree in a
 * pipeline. Ranks are renumbered relative to the root (v = r - root mod p).
 *
 * Binomial tree, p = 8: v0 sends to v4, v2, v1; v4 to v6, v5; v2 to v3;
 * v6 to v7. log2(p) levels: good for small messages.
 *   cost ~ log2(p) (alpha + n beta)
 * Chain, v0 -> v1 -> ... -> v(p-1): every link carries n bytes once, so for
 * large messages the time tends to n beta however many ranks there are.
 *   cost ~ (p - 2 + n/seg) (alpha + seg beta)
 */
#include "coll/coll.h"

rcomm_status_t coll_broadcast_build(coll_sched_t *s, char *buf, coll_bcast_algo_t algo)
{
    const int p = s->comm->size, root = s->desc.root;
    const int v = coll_mod(s->comm->rank - root, p);
    const size_t es = s->esize, seg = coll_seg(s), n = s->desc.count;
    int parent = -1, children[32], nchildren = 0;

    if (algo == COLL_BCAST_CHAIN) {
        parent = v > 0 ? v - 1 : -1;
        if (v + 1 < p)
            children[nchildren++] = v + 1;
    } else {
        int mask = 1;
        while (mask < p) {
            if (v & mask) {
                parent = v - mask;
                break;
            }
            mask <<= 1;
        }
        for (mask >>= 1; mask > 0; mask >>= 1)
            if (v + mask < p)
                children[nchildren++] = v + mask;
    }
    for (size_t o = 0; o < n; o += seg) {
        size_t len = n - o < seg ? n - o : seg;
        coll_sop_id_t rcv = COLL_SOP_NONE;

        if (parent >= 0)
            rcv = coll_sched_recv(s, coll_mod(parent + root, p), buf + o * es, len * es);
        for (int c = 0; c < nchildren; c++) {
            coll_sop_id_t snd = coll_sched_send(s, coll_mod(children[c] + root, p),
                                                buf + o * es, len * es);
            coll_sched_dep(s, snd, rcv);
        }
    }
    return RCOMM_OK;
}
