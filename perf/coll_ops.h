/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * What the collective benchmark (coll_perf.c) knows of each collective: its
 * names, its sizes and bus-bandwidth factor as nccl-tests defines them, how
 * rcomm is called for it out of place and in place, the algorithm it runs,
 * and its exact check (the inputs and expected results are
 * perf/exact_inputs.h's). coll_perf.c does the rest (options, timing,
 * output) the same way for all of them.
 *
 * Sizes, as nccl-tests' *_perf print them (max of the bytes sent and
 * received per rank; src/<coll>.cu, GetCollByteCount and GetBw):
 *   allreduce, broadcast, reduce, sendrecv
 *                  : size = count elements, the whole vector
 *   allgather, gather, scatter, alltoall
 *                  : count = size / p elements per rank block (rounded down;
 *                    a size that rounds to 0 is skipped), size = count * p,
 *                    the gathered, scattered or exchanged vector
 *   reduce-scatter : count = size / p elements of result per rank, size =
 *                    count * p, the vector that is reduced
 * busbw = algbw * factor: allreduce 2 (p-1)/p; allgather, reduce-scatter,
 * gather, scatter, alltoall (p-1)/p; broadcast, reduce, sendrecv 1.
 *
 * Where rcomm differs from nccl-tests:
 *  - recent nccl-tests round the per-rank count of the block collectives
 *    (allgather, gather, scatter) down to a multiple of 16 bytes, NCCL's
 *    alignment; rcomm needs none, so here it is size / p for all of them,
 *    as nccl-tests had it before;
 *  - nccl-tests time alltoall and sendrecv in place too but cannot check
 *    them (#wrong N/A). rcomm.h defines an in-place alltoall, which is
 *    checked here; sendrecv has no in-place form, so its in-place columns
 *    are N/A and it is not run in place;
 *  - tools without a reduction print "none" as redop (nccl-tests' gather,
 *    alltoall and sendrecv print "" or the -o op they ignore);
 *  - nccl-tests' non-root ranks of an in-place gather, reduce or scatter
 *    pass recvbuf-based pointers everywhere; rcomm takes RCOMM_IN_PLACE
 *    from the root only, so the others pass their block's address instead
 *    (perf_coll_run), which is the same memory.
 */
#ifndef RCOMM_PERF_COLL_OPS_H
#define RCOMM_PERF_COLL_OPS_H

#include <stddef.h>

#include "perf/exact_inputs.h"
#include "rcomm.h"

enum {
    PERF_COLL_REDUCES = 1,     /* takes -o; graded against memcpy too */
    PERF_COLL_BLOCKS = 2,      /* count is per rank block: size = count * p */
    PERF_COLL_ROOTED = 4,      /* takes -R, printed in the root column */
    PERF_COLL_NO_IN_PLACE = 8, /* out of place only: in-place columns N/A */
};

typedef struct {
    const char *name, *tool;
    unsigned flags; /* PERF_COLL_* */
} perf_coll_info_t;

extern const perf_coll_info_t perf_coll_info[EXACT_COLL_COUNT];

/* One collective as a tool calls it, the same on every rank but rank. */
typedef struct {
    rcomm_comm_t *comm;
    int rank, size;
    exact_coll_t coll;
    rcomm_dtype_t dtype;
    rcomm_op_t op;     /* the reducing ones */
    rcomm_algo_t algo; /* allreduce */
    int root;          /* the rooted ones */
    int nonblocking;   /* allreduce: rcomm_iallreduce, then rcomm_wait */
} perf_coll_t;

/* busbw / algbw on p ranks. */
double perf_coll_bus_factor(exact_coll_t coll, int p);
/* The count for a size of bytes (0: skip the size), and the size that
 * count is printed as. */
size_t perf_coll_count(const perf_coll_t *c, size_t bytes);
size_t perf_coll_bytes(const perf_coll_t *c, size_t count);
/* 2, or 1 for an out-of-place-only collective. */
int perf_coll_placements(exact_coll_t coll);
/* The root column: the root of a rooted collective, else -1. */
int perf_coll_root_column(const perf_coll_t *c);
/* The redop column: the op of a reducing collective, else "none". */
const char *perf_coll_redop(const perf_coll_t *c);

/* One call with count n: from sbuf into rbuf, or in place in rbuf (where
 * exact_fill_call puts the input). Both hold the vector's bytes (size). */
rcomm_status_t perf_coll_run(const perf_coll_t *c, const char *sbuf, char *rbuf, size_t n,
                             int in_place);
/* The algorithm a call of count n runs (out of place, between sbuf and
 * rbuf), for the algo column: an allreduce's way without a schedule
 * ("slots", "mapped") where it takes one. */
const char *perf_coll_algo(const perf_coll_t *c, size_t n, const void *sbuf, void *rbuf);
/* Fill exact inputs, make one call and count this rank's wrong elements
 * into *wrong; the call's status. */
rcomm_status_t perf_coll_check(const perf_coll_t *c, char *sbuf, char *rbuf, size_t n,
                               int in_place, size_t *wrong);

#endif
