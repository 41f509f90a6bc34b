/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Scratch memory kept by the communicator between collectives.
 *
 * Why: a schedule used to malloc its receive slots and partial vectors and
 * free them at the end. Above glibc's mmap and trim thresholds (128 KiB and
 * up) that returns the pages to the kernel, so the next call faults every
 * page in again while the socket copies into it: on the development VM a
 * 256 KiB recursive-doubling AllReduce took 800 us instead of 80 us, which
 * looked like a protocol cliff. Keeping the buffers also keeps their
 * registration in the verbs registration cache.
 *
 * A block is handed to one schedule at a time (nonblocking collectives in
 * flight each get their own). Free blocks stay cached while their total is at
 * most RCOMM_SCRATCH_CACHE bytes: a block larger than that is freed when
 * returned, and beyond it the smallest free blocks go first.
 */
#include <stdlib.h>
#include <string.h>

#include "core/comm.h"

struct comm_scratch_blk {
    void *p;
    size_t cap;
    int used;
};

/* Blocks are 64-byte aligned (vector loads) and rounded up to a page above
 * one, so that slightly different sizes reuse the same block. */
static size_t round_cap(size_t bytes)
{
    const size_t page = 4096;

    if (bytes <= 64)
        return 64;
    return bytes < page ? (bytes + 63) & ~(size_t)63 : (bytes + page - 1) & ~(page - 1);
}

void *comm_scratch_get(rcomm_comm_t *comm, size_t bytes)
{
    comm_scratch_t *sc = &comm->scratch;
    struct comm_scratch_blk *best = NULL, *b;
    size_t cap = round_cap(bytes);

    for (size_t i = 0; i < sc->n; i++) {
        b = &sc->blk[i];
        if (!b->used && b->cap >= cap && (!best || b->cap < best->cap))
            best = b;
    }
    /* A block twice too large is kept for the call that needs it. */
    if (best && best->cap / 2 <= cap) {
        best->used = 1;
        sc->cached -= best->cap;
        return best->p;
    }
    if (sc->n == sc->cap) {
        size_t ncap = sc->cap ? 2 * sc->cap : 8;
        b = realloc(sc->blk, ncap * sizeof(*b));
        if (!b)
            return NULL;
        sc->blk = b;
        sc->cap = ncap;
    }
    b = &sc->blk[sc->n];
    if (posix_memalign(&b->p, cap >= 4096 ? 4096 : 64, cap) != 0)
        return NULL;
    b->cap = cap;
    b->used = 1;
    sc->n++;
    return b->p;
}

static void drop(comm_scratch_t *sc, size_t i)
{
    free(sc->blk[i].p);
    sc->blk[i] = sc->blk[--sc->n];
}

void comm_scratch_put(rcomm_comm_t *comm, void *p)
{
    comm_scratch_t *sc = &comm->scratch;
    size_t i;

    if (!p)
        return;
    for (i = 0; i < sc->n && sc->blk[i].p != p; i++)
        ;
    if (i == sc->n || !sc->blk[i].used)
        return; /* not ours: a caller bug, but never a double free */
    if (sc->blk[i].cap > comm->cfg.scratch_cache) {
        drop(sc, i);
        return;
    }
    sc->blk[i].used = 0;
    sc->cached += sc->blk[i].cap;
    /* Smallest first: a large block costs the most to fault in again, a small
     * one comes back from the heap without faults. */
    while (sc->cached > comm->cfg.scratch_cache) {
        size_t small = sc->n;
        for (size_t j = 0; j < sc->n; j++)
            if (!sc->blk[j].used &&
                (small == sc->n || sc->blk[j].cap < sc->blk[small].cap))
                small = j;
        sc->cached -= sc->blk[small].cap;
        drop(sc, small);
    }
}

void comm_scratch_free_all(rcomm_comm_t *comm)
{
    comm_scratch_t *sc = &comm->scratch;

    while (sc->n)
        drop(sc, sc->n - 1);
    free(sc->blk);
    memset(sc, 0, sizeof(*sc));
}
