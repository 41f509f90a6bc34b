/* SPDX-License-Identifier: BSD-3-Clause */
/* Arithmetic shared by the algorithms: blocks, segments, ring neighbours and
 * butterfly partners. Pure functions, unit-tested in tests/unit_pattern.c. */
#ifndef RCOMM_PATTERN_H
#define RCOMM_PATTERN_H

#include <stddef.h>

/* A vector cut into nblocks blocks. With fixed == 0 the blocks are as even as
 * possible (the first count % nblocks are one element longer); otherwise
 * block i is [i * fixed, (i + 1) * fixed). With counts set, block i is
 * [displs[i], displs[i] + counts[i]) (variable counts: blocks may be empty,
 * in any order, with gaps; coll_block_range is not for them). */
/* Ranks a phase runs among (a host's, or one per host): rank[i] is the
 * communicator rank of member i, me our index. */
typedef struct {
    int n, me;
    const int *rank;
} coll_group_t;

typedef struct {
    size_t count;
    int nblocks;
    size_t fixed;
    const size_t *counts, *displs;
    /* The ring phases (ring.c) run among these nblocks ranks, block i
     * belonging to member i; NULL: the whole communicator. */
    const coll_group_t *group;
} coll_blocks_t;

/* Offset and length, in elements, of block i (0 <= i < nblocks). */
void coll_block(const coll_blocks_t *b, int i, size_t *off, size_t *len);
/* The longest block's length. */
size_t coll_block_max(const coll_blocks_t *b);
/* Offset and length of blocks [first, first + n) taken together. */
void coll_block_range(const coll_blocks_t *b, int first, int n, size_t *off, size_t *len);

/* Number of segments of at most seg elements in len elements (0 for 0). */
size_t coll_nseg(size_t len, size_t seg);

/* base + off bytes, or NULL for a NULL base (a buffer that may be NULL
 * because nothing goes there: offsetting NULL, even by 0, is undefined). */
static inline char *coll_at(const void *base, size_t off)
{
    return base ? (char *)base + off : NULL;
}

/* (r + d) mod p for any integer d. */
int coll_mod(long r, int p);

/* Butterfly over any rank count: the largest power of two p2 <= p takes part;
 * the rem = p - p2 extra ranks are folded in first. Of ranks 0 .. 2*rem-1,
 * each even rank hands its vector to the odd rank above it and waits; the odd
 * rank joins the butterfly. Ranks >= 2*rem join as they are. */
typedef struct {
    int p2;        /* ranks in the butterfly (power of two) */
    int rem;       /* folded ranks */
    int vrank;     /* our rank inside the butterfly, -1 if folded out */
    int fold_peer; /* partner in the fold, -1 if none */
} coll_fold_t;

void coll_fold(int rank, int p, coll_fold_t *f);
/* Real rank of butterfly rank v. */
int coll_fold_real(const coll_fold_t *f, int v);
/* log2 of a power of two. */
int coll_log2(int p2);

#endif
