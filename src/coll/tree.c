/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Binomial gather and scatter of blocks, shared by gather, scatter and the
 * reduce-scatter + gather reduce. Ranks are renumbered from the root,
 * v = r - root mod p; v's subtree is [v, v + sz(v)) with sz the lowest set
 * bit of v (cut at p), and its children are v + 1, v + 2, v + 4, ... below
 * that bit. p = 7, root 0:
 *
 *        v0 <- v1          gather: v1 hands over [1, 2), v2 [2, 4), v4 [4, 7)
 *        v0 <- v2 <- v3     (v6 first hands [6, 7) to v4); scatter is the
 *        v0 <- v4 <- v5     same tree walked down
 *              v4 <- v6
 *
 * A subtree's blocks travel as its owner's own block, then the rest of the
 * range cut where the real rank wraps from p - 1 to 0, so every message is
 * one contiguous run both in the root's buffer (real order) and in a
 * relay's subtree buffer (tree order). Own blocks move straight from the
 * send buffer or into the receive buffer: only relays copy, into scratch.
 *   cost (gather or scatter of n bytes in all) ~ ceil(lg p) alpha + (p-1)/p n beta
 */
#include "coll/coll.h"

static int real_of(const coll_tree_t *t, int j)
{
    return coll_mod((long)j + t->root, t->p);
}

/* Subtree size of v. */
static int subtree(const coll_tree_t *t, int v)
{
    int low = v & -v;
    return v == 0 ? t->p : (low < t->p - v ? low : t->p - v);
}

/* [a, b) cut at the wrap: up to two runs, returned as their ends. */
static int runs(const coll_tree_t *t, int a, int b, int ends[2])
{
    const int wrap = t->p - t->root; /* v of real rank 0 */

    if (a < wrap && wrap < b) {
        ends[0] = wrap;
        ends[1] = b;
        return 2;
    }
    ends[0] = b;
    return a < b ? 1 : 0;
}

/* Elements of blocks [a, b) (tree order). */
static size_t span(const coll_tree_t *t, int a, int b)
{
    int ends[2], n = runs(t, a, b, ends);
    size_t total = 0, off, len;

    for (int i = 0; i < n; a = ends[i++]) {
        coll_block_range(t->bl, real_of(t, a), ends[i] - a, &off, &len);
        total += len;
    }
    return total;
}

/* Where block j lives here: the root's buffer in real order, a relay's in
 * tree order, our own block at own. */
static char *where(const coll_tree_t *t, int j, size_t es)
{
    size_t off, len;

    if (j == t->v)
        return t->own;
    if (t->v == 0) {
        coll_block(t->bl, real_of(t, j), &off, &len);
        return t->buf + off * es;
    }
    return t->buf + span(t, t->v, j) * es;
}

/* Move the blocks of child c's subtree between c and its parent (send from
 * the child, receive at the parent), in the message order described above.
 * Every op depends on after and is a dependency of done. */
static void move_subtree(coll_sched_t *s, const coll_tree_t *t, int c, int peer,
                         int sending, coll_sop_id_t after, coll_sop_id_t done)
{
    const size_t es = s->esize, seg = coll_seg(s);
    int a = c, ends[3], n;

    ends[0] = c + 1;
    n = 1 + runs(t, c + 1, c + subtree(t, c), ends + 1);
    for (int i = 0; i < n; a = ends[i++]) {
        size_t len = span(t, a, ends[i]);
        char *base = where(t, a, es);

        for (size_t o = 0; o < len; o += seg) {
            size_t k = len - o < seg ? len - o : seg;
            coll_sop_id_t op = sending ? coll_sched_send(s, peer, base + o * es, k * es)
                                       : coll_sched_recv(s, peer, base + o * es, k * es);
            coll_sched_dep(s, op, after);
            coll_sched_dep(s, done, op);
        }
    }
}

int coll_tree_init(coll_tree_t *t, coll_sched_t *s, const coll_blocks_t *bl,
                   char *root_buf)
{
    t->bl = bl;
    t->p = s->comm->size;
    t->root = s->desc.root;
    t->v = coll_mod((long)s->comm->rank - t->root, t->p);
    t->own = NULL;
    if (t->v == 0) {
        t->buf = root_buf;
        return 0;
    }
    /* A subtree buffer big enough for our own block and everything below. */
    t->buf = coll_sched_scratch(s, span(t, t->v, t->v + subtree(t, t->v)) * s->esize + 1);
    return t->buf ? 0 : -1;
}

coll_sop_id_t coll_tree_gather(coll_sched_t *s, coll_tree_t *t, coll_sop_id_t after)
{
    const int v = t->v, low = v ? (v & -v) : t->p;
    coll_sop_id_t got = coll_sched_join(s), done = coll_sched_join(s);

    /* The smallest subtrees finish first: receive from them first. */
    for (int m = 1; m < low && v + m < t->p; m <<= 1)
        move_subtree(s, t, v + m, real_of(t, v + m), 0, after, got);
    coll_sched_dep(s, done, got);
    if (v != 0)
        move_subtree(s, t, v, real_of(t, v - low), 1, got, done);
    coll_sched_dep(s, got, after);
    return done;
}

coll_sop_id_t coll_tree_scatter(coll_sched_t *s, coll_tree_t *t, coll_sop_id_t after)
{
    const int v = t->v, low = v ? (v & -v) : t->p;
    coll_sop_id_t got = coll_sched_join(s), done = coll_sched_join(s);
    int m = 1;

    coll_sched_dep(s, got, after);
    if (v != 0)
        move_subtree(s, t, v, real_of(t, v - low), 0, after, got);
    coll_sched_dep(s, done, got);
    /* The largest subtree has the longest way to go: serve it first. */
    while (m < low && v + m < t->p)
        m <<= 1;
    for (m >>= 1; m > 0; m >>= 1)
        if (v + m < t->p)
            move_subtree(s, t, v + m, real_of(t, v + m), 1, got, done);
    return done;
}
