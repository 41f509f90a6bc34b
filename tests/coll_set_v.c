/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * coll_set_check's all-to-all and variable-count cases: alltoall,
 * allgatherv, alltoallv. n scales the counts: the per-block count of
 * alltoall, and for the variable calls per-rank (allgatherv) or per-pair
 * (alltoallv) counts of 0, about n/2, n or 3n/2, all 0 when n is 0. In the
 * gapped layout the blocks lie in a rotated, reversed order with gaps of 0
 * to 2 elements between them (and around them), which must stay poison.
 * A nonblocking call's count and displacement arrays are overwritten as
 * soon as it is posted: rcomm.h says they are read during the call only.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "coll_set.h"

/* The count of k halves of n, rounded up: (k n + 1) / 2, 0 for k = 0 or n = 0. */
static size_t halves(size_t n, size_t k)
{
    return (k * n + 1) / 2;
}

static const char *nb_name(int nb)
{
    return nb == 0 ? "" : nb == 1 ? " nonblocking/wait" : " nonblocking/test";
}

static size_t *sizes(size_t n)
{
    size_t *a = calloc(n + 1, sizeof(size_t));

    if (!a)
        abort();
    return a;
}

static size_t *dup_sizes(const size_t *a)
{
    size_t *d = sizes((size_t)size);

    memcpy(d, a, (size_t)size * sizeof(size_t));
    return d;
}

/* What a nonblocking call must no longer read once posted. */
static void clobber(size_t *a)
{
    if (a)
        memset(a, 0xff, (size_t)size * sizeof(size_t));
}

/* Displacements of p blocks of counts[] in one rank's buffer. Layout 0:
 * packed. Layout 1: block (seed - j) mod p is the j-th in memory, after a
 * gap of (j + 1) mod 3 elements, and 2 more elements follow the last.
 * Returns the extent in elements. */
static size_t layout_displs(const size_t *counts, int layout, int seed, size_t *displs)
{
    size_t at = 0;

    for (int j = 0; j < size; j++) {
        int b = layout ? ((seed - j) % size + size) % size : j;
        if (layout)
            at += (size_t)((j + 1) % 3);
        displs[b] = at;
        at += counts[b];
    }
    return at + (layout ? 2 : 0);
}

/* ---- alltoall -------------------------------------------------------------- */

static uint64_t a2a_key(int from, int to)
{
    return 2000000 + (uint64_t)from * 4099 + (uint64_t)to;
}

void test_alltoall(rcomm_comm_t *comm, rcomm_dtype_t dt, size_t n, int in_place, int nb)
{
    const size_t es = rcomm_dtype_size(dt), bytes = n * es, total = bytes * (size_t)size;
    char *send = guarded(total), *recv = guarded(total), *ref = malloc(total + 1), *orig;
    const void *sarg = in_place ? RCOMM_IN_PLACE : send;
    char *in = in_place ? recv : send;
    char what[160];

    snprintf(what, sizeof(what), "alltoall %s count=%zu %s%s", rcomm_dtype_name(dt), n,
             in_place ? "in-place" : "out-of-place", nb_name(nb));
    for (int q = 0; q < size; q++) {
        moved_fill(in + (size_t)q * bytes, n, a2a_key(rank, q), dt);
        moved_fill(ref + (size_t)q * bytes, n, a2a_key(q, rank), dt);
    }
    orig = snapshot(send, total);
    RUN(what, nb, rcomm_alltoall(comm, sarg, recv, n, dt),
        rcomm_ialltoall(comm, sarg, recv, n, dt, &req));
    compare(what, recv, ref, n * (size_t)size, dt);
    unchanged(what, send, orig, total);
    guards_ok(what, send, total);
    guards_ok(what, recv, total);
    guarded_free(send);
    guarded_free(recv);
    free(ref);
    free(orig);
}

/* ---- allgatherv ------------------------------------------------------------ */

/* Rank r's count, the same on every rank: 3, 0, 1, 2, 3, ... halves of n. */
static size_t agv_count(size_t n, int r)
{
    return halves(n, (size_t)(r + 3) % 4);
}

static uint64_t agv_key(int r)
{
    return 4000000 + (uint64_t)r;
}

/* layout 0: displs NULL (packed); 1: gapped, in an order of this rank's own.
 * In place, sendcount is 0: rcomm.h says it is ignored. */
void test_allgatherv(rcomm_comm_t *comm, rcomm_dtype_t dt, size_t n, int layout,
                     int in_place, int nb)
{
    const size_t es = rcomm_dtype_size(dt);
    size_t *counts = sizes((size_t)size), *displs = sizes((size_t)size), *acounts,
           *adispls;
    size_t extent, sbytes, scount;
    char *send, *recv, *ref, *orig, what[160];
    const void *sarg;
    void *rbuf;

    for (int r = 0; r < size; r++)
        counts[r] = agv_count(n, r);
    extent = layout_displs(counts, layout, rank, displs);
    sbytes = counts[rank] * es;
    send = guarded(sbytes);
    rbuf = recv = guarded(extent * es);
    ref = malloc(extent * es + 1);
    snprintf(what, sizeof(what), "allgatherv %s n=%zu %s %s%s", rcomm_dtype_name(dt), n,
             layout ? "gapped" : "packed (NULL displs)",
             in_place ? "in-place" : "out-of-place", nb_name(nb));
    memset(ref, EXACT_POISON, extent * es);
    for (int r = 0; r < size; r++)
        moved_fill(ref + displs[r] * es, counts[r], agv_key(r), dt);
    if (in_place) {
        moved_fill(recv + displs[rank] * es, counts[rank], agv_key(rank), dt);
        sarg = RCOMM_IN_PLACE;
        scount = 0;
    } else {
        moved_fill(send, counts[rank], agv_key(rank), dt);
        sarg = send;
        scount = counts[rank];
    }
    orig = snapshot(send, sbytes);
    if (extent == 0) { /* nothing anywhere: NULL buffers are fine */
        rbuf = NULL;
        if (!in_place)
            sarg = NULL;
    }
    acounts = dup_sizes(counts);
    adispls = layout ? dup_sizes(displs) : NULL;
    if (nb) {
        rcomm_request_t *req;
        check_status(what, rcomm_iallgatherv(comm, sarg, scount, rbuf, acounts, adispls,
                                             dt, &req));
        clobber(acounts);
        clobber(adispls);
        complete(what, req, nb);
    } else {
        check_status(what,
                     rcomm_allgatherv(comm, sarg, scount, rbuf, acounts, adispls, dt));
    }
    compare(what, recv, ref, extent, dt); /* the gaps too: poison in ref */
    unchanged(what, send, orig, sbytes);
    guards_ok(what, send, sbytes);
    guards_ok(what, recv, extent * es);
    guarded_free(send);
    guarded_free(recv);
    free(ref);
    free(orig);
    free(counts);
    free(displs);
    free(acounts);
    free(adispls);
}

/* ---- alltoallv ------------------------------------------------------------- */

/* What rank `from` sends to rank `to`: sendcounts[to] on from and
 * recvcounts[from] on to both come from here. In place both directions of
 * a pair must agree, so the count is symmetric. */
static size_t pair_count(size_t n, int from, int to, int sym)
{
    size_t k = sym ? (size_t)(from + to + 3) % 4 : (size_t)(3 * from + to + 1) % 4;
    return halves(n, k);
}

static uint64_t a2av_key(int from, int to)
{
    return 5000000 + (uint64_t)from * 4099 + (uint64_t)to;
}

/* layout 0: NULL displacements (packed); 1: both gapped, each in its own
 * order. In place: sendcounts and sdispls NULL, as rcomm.h allows. */
void test_alltoallv(rcomm_comm_t *comm, rcomm_dtype_t dt, size_t n, int layout,
                    int in_place, int nb)
{
    const size_t es = rcomm_dtype_size(dt);
    size_t *sc = sizes((size_t)size), *sd = sizes((size_t)size),
           *rc = sizes((size_t)size), *rd = sizes((size_t)size), *asc = NULL, *asd = NULL,
           *arc, *ard = NULL;
    size_t sext, rext;
    char *send, *recv, *ref, *orig, *in, what[160];
    const void *sarg;
    void *rbuf;

    for (int q = 0; q < size; q++) {
        sc[q] = pair_count(n, rank, q, in_place);
        rc[q] = pair_count(n, q, rank, in_place);
    }
    sext = layout_displs(sc, layout, rank + 1, sd);
    rext = layout_displs(rc, layout, rank, rd);
    send = guarded(sext * es);
    rbuf = recv = guarded(rext * es);
    ref = malloc(rext * es + 1);
    snprintf(what, sizeof(what), "alltoallv %s n=%zu %s %s%s", rcomm_dtype_name(dt), n,
             layout ? "gapped" : "packed (NULL displs)",
             in_place ? "in-place" : "out-of-place", nb_name(nb));
    memset(ref, EXACT_POISON, rext * es);
    for (int q = 0; q < size; q++)
        moved_fill(ref + rd[q] * es, rc[q], a2av_key(q, rank), dt);
    for (int q = 0; q < size; q++) {
        in = in_place ? recv + rd[q] * es : send + sd[q] * es;
        moved_fill(in, sc[q], a2av_key(rank, q), dt);
    }
    orig = snapshot(send, sext * es);
    sarg = in_place ? RCOMM_IN_PLACE : send;
    /* Nothing anywhere: NULL buffers are fine. (At eda26aa UBSan stops here:
     * the schedule copies 0 bytes from recvbuf NULL, sched.c's memcpy.) */
    if (rext == 0 && sext == 0) {
        rbuf = NULL;
        if (!in_place)
            sarg = NULL;
    }
    arc = dup_sizes(rc);
    if (layout)
        ard = dup_sizes(rd);
    if (!in_place) {
        asc = dup_sizes(sc);
        if (layout)
            asd = dup_sizes(sd);
    }
    if (nb) {
        rcomm_request_t *req;
        check_status(what,
                     rcomm_ialltoallv(comm, sarg, asc, asd, rbuf, arc, ard, dt, &req));
        clobber(asc);
        clobber(asd);
        clobber(arc);
        clobber(ard);
        complete(what, req, nb);
    } else {
        check_status(what, rcomm_alltoallv(comm, sarg, asc, asd, rbuf, arc, ard, dt));
    }
    compare(what, recv, ref, rext, dt); /* the gaps too: poison in ref */
    unchanged(what, send, orig, sext * es);
    guards_ok(what, send, sext * es);
    guards_ok(what, recv, rext * es);
    guarded_free(send);
    guarded_free(recv);
    free(ref);
    free(orig);
    free(sc);
    free(sd);
    free(rc);
    free(rd);
    free(asc);
    free(asd);
    free(arc);
    free(ard);
}
