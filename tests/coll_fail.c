/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Failure behaviour, run by every rank under rcomm-run (see test_coll.c):
 *   badargs        invalid calls fail with INVALID_ARG and a message naming
 *                  the argument; the communicator still works afterwards
 *   exit-early     the last rank exits without a word; the others fail with
 *                  an error naming it
 *   hang           the last rank sleeps past RCOMM_TIMEOUT; the others fail
 *                  with TIMEOUT naming it
 *   exit-mapped / hang-mapped
 *                  the same with 64 Ki elements in rcomm_mem_alloc's memory
 *                  (where every rank shares memory, the mapped path, which
 *                  waits in the mailboxes, not on messages); exit-mapped
 *                  must notice the death, not time out
 *   mismatch-count / -dtype / -op / -root / -coll
 *                  rank 0 calls differently; every rank gets MISMATCH
 *   mismatch-small-count / -dtype / -op
 *                  the same with 2 elements (the shared slots, where every
 *                  rank shares memory), the deviant's count 1000
 *   mismatch-nb    the same with a nonblocking allreduce that fails while
 *                  the rank waits for a later barrier: waited for after the
 *                  thread's last error was cleared, it still explains itself
 *                  (the message travels with the request)
 * The calls added with reduce, gather and the rest (3 to 8 ranks):
 *   badargs-rooted / -v / -p2p
 *                  badargs for reduce, gather, scatter / alltoall,
 *                  allgatherv, alltoallv / send, recv, sendrecv, and their
 *                  nonblocking forms; then a real call of the family, checked
 *   badargs-alltoallv-null
 *                  alltoallv and ialltoallv with a NULL communicator
 *   root-reduce / -gather / -scatter
 *                  rank 0 says root 0, the others the last rank: every rank
 *                  ends with an error naming rank 0 (rank 0: another rank),
 *                  never a wrong answer; a scatter's rank 0 gets MISMATCH
 *                  (within-root-* asks more: MISMATCH within the call)
 *   root-reduce-late / root-gather-late
 *                  the same, a rank whose call returned OK computing past
 *                  RCOMM_TIMEOUT before its next call: both roots MISMATCH
 *   count-reduce / -gather / -alltoall
 *                  rank 0 (the root) calls with twice the count: the ranks
 *                  that hear from one they disagree with get MISMATCH, the
 *                  others an error naming rank 0
 *   count-scatter  the same with the last rank (a receiver) the deviant
 *   counts-allgatherv
 *                  rank 0's recvcounts differ (same total): ranks 0 and 1,
 *                  which hear from a rank they disagree with, get MISMATCH
 *   counts-alltoallv / -zero / -unexpected
 *                  rank 0 sends rank 1 5 elements where it expects 3 / 0
 *                  where it expects 4 / 4 where it expects 0: rank 1 gets
 *                  MISMATCH naming rank 0 and both counts
 *   p2p-count / p2p-dtype
 *                  rank 1 receives rank 0's message with another count /
 *                  dtype: MISMATCH naming rank 0
 *   p2p-exit / p2p-hang
 *                  the last rank exits / sleeps past RCOMM_TIMEOUT; ranks
 *                  receiving from it or sending it 4 MB fail naming it within
 *                  RCOMM_TIMEOUT (a send the kernel took fails the next call)
 *   exit-alltoall  the last rank exits before an alltoall: the others fail
 *                  naming it
 *   exit-staged / hang-staged
 *                  the last rank exits / stalls past RCOMM_TIMEOUT in the
 *                  middle of a loop of 16 MiB allreduces between malloc'd
 *                  buffers (the staged path, in 16 pieces, where every rank
 *                  shares memory): the others fail naming it; exit-staged
 *                  must notice the death, not time out
 * Disagreements every rank must see within the call itself, as MISMATCH
 * naming the deviant (on the deviant, another rank) and both calls (2 to 8
 * ranks, under a long RCOMM_TIMEOUT so that only a real detection ends
 * them); the deviant is the rank given after the mode (default 0), then
 * optionally others-late or deviant-late: those ranks call 0.3 s late, so
 * that the others' messages are there before their call:
 *   within-zero-allreduce / -broadcast / -reduce / -allgather /
 *   -reduce-scatter / -gather / -scatter / -alltoall
 *                  the deviant calls with count 0, the others with N
 *   within-root-broadcast / -reduce / -gather / -scatter
 *                  the deviant says it is the root, the others the rank
 *                  after it
 *   handles        a request waited for twice, a parameter server and the
 *                  communicator used and destroyed again after destroy:
 *                  INVALID_ARG naming the handle, every time
 * RCOMM_TEST_VERBOSE=1 prints how each rank's disagreement ended.
 * Exit status 0 when this rank saw what it should.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "rank_check.h"

static int badargs(rcomm_comm_t *comm)
{
    float a[8] = {0}, b[8] = {0};
    int bad = 0;
    rcomm_comm_t *c2;
    rcomm_request_t *req;

    bad |= expect("NULL comm", rcomm_allreduce(NULL, a, b, 8, RCOMM_F32, RCOMM_SUM),
                  RCOMM_ERR_INVALID_ARG, "comm is NULL");
    bad |= expect("NULL sendbuf", rcomm_allreduce(comm, NULL, b, 8, RCOMM_F32, RCOMM_SUM),
                  RCOMM_ERR_INVALID_ARG, "sendbuf is NULL");
    bad |= expect("NULL recvbuf", rcomm_allreduce(comm, a, NULL, 8, RCOMM_F32, RCOMM_SUM),
                  RCOMM_ERR_INVALID_ARG, "recvbuf is NULL");
    bad |=
        expect("bad dtype", rcomm_allreduce(comm, a, b, 8, (rcomm_dtype_t)99, RCOMM_SUM),
               RCOMM_ERR_INVALID_ARG, "dtype 99");
    bad |= expect("bad op", rcomm_allreduce(comm, a, b, 8, RCOMM_F32, (rcomm_op_t)-3),
                  RCOMM_ERR_INVALID_ARG, "op -3");
    bad |= expect(
        "bad algo",
        rcomm_allreduce_with(comm, a, b, 8, RCOMM_F32, RCOMM_SUM, (rcomm_algo_t)17),
        RCOMM_ERR_INVALID_ARG, "algo 17");
    bad |= expect("overlap", rcomm_allreduce(comm, a, a + 1, 4, RCOMM_F32, RCOMM_SUM),
                  RCOMM_ERR_INVALID_ARG, "overlap");
    bad |= expect("root", rcomm_broadcast(comm, a, 8, RCOMM_F32, size),
                  RCOMM_ERR_INVALID_ARG, "root");
    bad |= expect("negative root", rcomm_broadcast(comm, a, 8, RCOMM_F32, -1),
                  RCOMM_ERR_INVALID_ARG, "root -1");
    bad |= expect("huge count",
                  rcomm_allreduce(comm, a, b, (size_t)-1 / 2, RCOMM_F32, RCOMM_SUM),
                  RCOMM_ERR_INVALID_ARG, "too large");
    bad |= expect("allgather overlap", rcomm_allgather(comm, b, b, 1, RCOMM_F32),
                  RCOMM_ERR_INVALID_ARG, "overlap");
    bad |= expect(
        "NULL req",
        rcomm_iallreduce(comm, a, b, 8, RCOMM_F32, RCOMM_SUM, RCOMM_ALGO_AUTO, NULL),
        RCOMM_ERR_INVALID_ARG, "req is NULL");
    bad |= expect("wait NULL", rcomm_wait(NULL), RCOMM_ERR_INVALID_ARG, "req");
    bad |=
        expect("rank NULL", rcomm_comm_rank(comm, NULL), RCOMM_ERR_INVALID_ARG, "rank");
    bad |= expect("create rank", rcomm_comm_create(3, 2, "127.0.0.1:1", &c2),
                  RCOMM_ERR_INVALID_ARG, "rank 3");
    bad |= expect("create no addr", rcomm_comm_create(0, 2, NULL, &c2), RCOMM_ERR_CONFIG,
                  "RCOMM_ADDR");
    setenv("RCOMM_TIMEOUT", "soon", 1);
    bad |= expect("bad env", rcomm_comm_create(0, 1, NULL, &c2), RCOMM_ERR_CONFIG,
                  "RCOMM_TIMEOUT='soon'");
    unsetenv("RCOMM_TIMEOUT");
    bad |= expect("bad algo name", rcomm_algo_parse("fastest", &(rcomm_algo_t){0}),
                  RCOMM_ERR_INVALID_ARG, "fastest");
    /* destroy refuses while a request is in flight, then works after wait */
    for (int i = 0; i < 8; i++)
        a[i] = (float)(rank + i);
    bad |= expect(
        "ialloc",
        rcomm_iallreduce(comm, a, b, 8, RCOMM_F32, RCOMM_SUM, RCOMM_ALGO_AUTO, &req),
        RCOMM_OK, NULL);
    bad |= expect("destroy busy", rcomm_comm_destroy(comm), RCOMM_ERR_INVALID_ARG,
                  "in flight");
    bad |= expect("wait", rcomm_wait(req), RCOMM_OK, NULL);
    /* the communicator is intact */
    for (int i = 0; i < 8; i++)
        if (b[i] != (float)(size * (size - 1) / 2 + size * i)) {
            fprintf(stderr, "FAIL rank %d: allreduce after bad args: b[%d] = %g\n", rank,
                    i, b[i]);
            bad = 1;
        }
    return bad;
}

/* A needle with a number in it ("root 3"); a few can be live at once. */
static const char *say(const char *fmt, int n)
{
    static char bufs[4][48];
    static int next;
    char *b = bufs[next++ % 4];

    snprintf(b, sizeof(bufs[0]), fmt, n);
    return b;
}

#define INVALID RCOMM_ERR_INVALID_ARG

/* reduce, gather and scatter. Every call fails on this rank alone, before
 * any message: what only the root checks is tried with this rank as the
 * root, what only the others check with the next rank as the root. */
static int badargs_rooted(rcomm_comm_t *comm)
{
    static float a[64], b[64];
    const int me = rank, other = (rank + 1) % size;
    const size_t huge = (size_t)-1 / 2;
    rcomm_request_t *req = NULL;
    int bad = 0;

    /* reduce */
    bad |=
        expect("reduce NULL comm", rcomm_reduce(NULL, a, b, 8, RCOMM_F32, RCOMM_SUM, 0),
               INVALID, "comm is NULL");
    bad |= expect("reduce NULL sendbuf",
                  rcomm_reduce(comm, NULL, b, 8, RCOMM_F32, RCOMM_SUM, other), INVALID,
                  "sendbuf is NULL");
    bad |= expect("reduce NULL recvbuf on the root",
                  rcomm_reduce(comm, a, NULL, 8, RCOMM_F32, RCOMM_SUM, me), INVALID,
                  "recvbuf is NULL");
    bad |= expect("reduce dtype",
                  rcomm_reduce(comm, a, b, 8, (rcomm_dtype_t)99, RCOMM_SUM, 0), INVALID,
                  "dtype 99");
    bad |= expect("reduce op", rcomm_reduce(comm, a, b, 8, RCOMM_F32, (rcomm_op_t)-3, 0),
                  INVALID, "op -3");
    bad |= expect("reduce root", rcomm_reduce(comm, a, b, 8, RCOMM_F32, RCOMM_SUM, size),
                  INVALID, say("root %d", size));
    bad |=
        expect("reduce negative root",
               rcomm_reduce(comm, a, b, 8, RCOMM_F32, RCOMM_SUM, -1), INVALID, "root -1");
    bad |= expect("reduce in place off the root",
                  rcomm_reduce(comm, RCOMM_IN_PLACE, b, 8, RCOMM_F32, RCOMM_SUM, other),
                  INVALID, "RCOMM_IN_PLACE");
    bad |= expect("reduce overlap",
                  rcomm_reduce(comm, a, a + 1, 4, RCOMM_F32, RCOMM_SUM, me), INVALID,
                  "overlap");
    bad |= expect("reduce huge count",
                  rcomm_reduce(comm, a, b, huge, RCOMM_F32, RCOMM_SUM, me), INVALID,
                  "too large");
    bad |= expect("ireduce NULL req",
                  rcomm_ireduce(comm, a, b, 8, RCOMM_F32, RCOMM_SUM, 0, NULL), INVALID,
                  "req is NULL");
    bad |= expect("ireduce bad root",
                  rcomm_ireduce(comm, a, b, 8, RCOMM_F32, RCOMM_SUM, -1, &req), INVALID,
                  "root -1");
    /* gather: recvbuf (size blocks) on the root, sendbuf everywhere */
    bad |= expect("gather NULL comm", rcomm_gather(NULL, a, b, 8, RCOMM_F32, 0), INVALID,
                  "comm is NULL");
    bad |= expect("gather NULL sendbuf", rcomm_gather(comm, NULL, b, 8, RCOMM_F32, other),
                  INVALID, "sendbuf is NULL");
    bad |=
        expect("gather NULL recvbuf on the root",
               rcomm_gather(comm, a, NULL, 8, RCOMM_F32, me), INVALID, "recvbuf is NULL");
    bad |= expect("gather dtype", rcomm_gather(comm, a, b, 8, (rcomm_dtype_t)99, 0),
                  INVALID, "dtype 99");
    bad |= expect("gather root", rcomm_gather(comm, a, b, 8, RCOMM_F32, size), INVALID,
                  say("root %d", size));
    bad |= expect("gather negative root", rcomm_gather(comm, a, b, 8, RCOMM_F32, -1),
                  INVALID, "root -1");
    bad |= expect("gather in place off the root",
                  rcomm_gather(comm, RCOMM_IN_PLACE, b, 8, RCOMM_F32, other), INVALID,
                  "RCOMM_IN_PLACE");
    bad |= expect("gather overlap", rcomm_gather(comm, b + 8, b, 8, RCOMM_F32, me),
                  INVALID, "overlaps");
    bad |= expect("gather huge count", rcomm_gather(comm, a, b, huge, RCOMM_F32, me),
                  INVALID, "too large");
    bad |= expect("igather NULL req", rcomm_igather(comm, a, b, 8, RCOMM_F32, 0, NULL),
                  INVALID, "req is NULL");
    bad |= expect("igather NULL sendbuf",
                  rcomm_igather(comm, NULL, b, 8, RCOMM_F32, other, &req), INVALID,
                  "sendbuf is NULL");
    /* scatter: sendbuf (size blocks) on the root, recvbuf everywhere */
    bad |= expect("scatter NULL comm", rcomm_scatter(NULL, a, b, 8, RCOMM_F32, 0),
                  INVALID, "comm is NULL");
    bad |= expect("scatter NULL sendbuf on the root",
                  rcomm_scatter(comm, NULL, b, 8, RCOMM_F32, me), INVALID,
                  "sendbuf is NULL");
    bad |=
        expect("scatter NULL recvbuf", rcomm_scatter(comm, a, NULL, 8, RCOMM_F32, other),
               INVALID, "recvbuf is NULL");
    bad |= expect("scatter dtype", rcomm_scatter(comm, a, b, 8, (rcomm_dtype_t)-1, 0),
                  INVALID, "dtype -1");
    bad |= expect("scatter root", rcomm_scatter(comm, a, b, 8, RCOMM_F32, size), INVALID,
                  say("root %d", size));
    bad |= expect("scatter negative root", rcomm_scatter(comm, a, b, 8, RCOMM_F32, -7),
                  INVALID, "root -7");
    bad |= expect("scatter in place off the root",
                  rcomm_scatter(comm, a, RCOMM_IN_PLACE, 8, RCOMM_F32, other), INVALID,
                  "RCOMM_IN_PLACE");
    bad |= expect("scatter overlap", rcomm_scatter(comm, a, a + 8, 8, RCOMM_F32, me),
                  INVALID, "overlaps");
    bad |= expect("scatter huge count", rcomm_scatter(comm, a, b, huge, RCOMM_F32, me),
                  INVALID, "too large");
    bad |= expect("iscatter NULL req", rcomm_iscatter(comm, a, b, 8, RCOMM_F32, 0, NULL),
                  INVALID, "req is NULL");
    bad |= expect("iscatter in place off the root",
                  rcomm_iscatter(comm, a, RCOMM_IN_PLACE, 8, RCOMM_F32, other, &req),
                  INVALID, "RCOMM_IN_PLACE");
    if (req) {
        FAIL("a failed nonblocking call set *req");
        return bad;
    }
    /* the communicator is intact: a reduce and a gather to the last rank */
    for (int i = 0; i < 8; i++)
        a[i] = (float)(rank * 10 + i);
    bad |= expect("reduce after bad args",
                  rcomm_reduce(comm, a, b, 8, RCOMM_F32, RCOMM_SUM, size - 1), RCOMM_OK,
                  NULL);
    for (int i = 0; i < 8 && rank == size - 1; i++)
        if (b[i] != (float)(10 * size * (size - 1) / 2 + size * i))
            FAIL("reduce after bad args: b[%d] = %g", i, b[i]);
    bad |= expect("gather after bad args",
                  rcomm_gather(comm, a, b, 8, RCOMM_F32, size - 1), RCOMM_OK, NULL);
    for (int i = 0; i < 8 * size && rank == size - 1; i++)
        if (b[i] != (float)(i / 8 * 10 + i % 8))
            FAIL("gather after bad args: b[%d] = %g", i, b[i]);
    return bad;
}

/* alltoall, allgatherv and alltoallv: counts of 2 per block unless said. */
static int badargs_v(rcomm_comm_t *comm)
{
    static float a[64], b[64];
    size_t counts[8], displs[8], big[8];
    const size_t huge = (size_t)-1 / 2;
    rcomm_request_t *req = NULL;
    int bad = 0;

    for (int i = 0; i < size; i++) {
        counts[i] = 2;
        displs[i] = 2 * (size_t)i;
        big[i] = 2;
    }
    /* alltoall */
    bad |= expect("alltoall NULL comm", rcomm_alltoall(NULL, a, b, 2, RCOMM_F32), INVALID,
                  "comm is NULL");
    bad |= expect("alltoall NULL sendbuf", rcomm_alltoall(comm, NULL, b, 2, RCOMM_F32),
                  INVALID, "sendbuf is NULL");
    bad |= expect("alltoall NULL recvbuf", rcomm_alltoall(comm, a, NULL, 2, RCOMM_F32),
                  INVALID, "recvbuf is NULL");
    bad |= expect("alltoall dtype", rcomm_alltoall(comm, a, b, 2, (rcomm_dtype_t)7),
                  INVALID, "dtype 7");
    bad |= expect("alltoall overlap", rcomm_alltoall(comm, b + 1, b, 2, RCOMM_F32),
                  INVALID, "overlaps");
    bad |= expect("alltoall huge count", rcomm_alltoall(comm, a, b, huge, RCOMM_F32),
                  INVALID, "too large");
    bad |= expect("ialltoall NULL req", rcomm_ialltoall(comm, a, b, 2, RCOMM_F32, NULL),
                  INVALID, "req is NULL");
    bad |= expect("ialltoall NULL recvbuf",
                  rcomm_ialltoall(comm, a, NULL, 2, RCOMM_F32, &req), INVALID,
                  "recvbuf is NULL");
    /* allgatherv */
    bad |= expect("allgatherv NULL comm",
                  rcomm_allgatherv(NULL, a, 2, b, counts, displs, RCOMM_F32), INVALID,
                  "comm is NULL");
    bad |= expect("allgatherv NULL recvcounts",
                  rcomm_allgatherv(comm, a, 2, b, NULL, displs, RCOMM_F32), INVALID,
                  "recvcounts is NULL");
    bad |= expect("allgatherv NULL recvbuf",
                  rcomm_allgatherv(comm, a, 2, NULL, counts, displs, RCOMM_F32), INVALID,
                  "recvbuf is NULL");
    bad |= expect("allgatherv NULL sendbuf",
                  rcomm_allgatherv(comm, NULL, 2, b, counts, NULL, RCOMM_F32), INVALID,
                  "sendbuf is NULL");
    bad |= expect("allgatherv dtype",
                  rcomm_allgatherv(comm, a, 2, b, counts, displs, (rcomm_dtype_t)99),
                  INVALID, "dtype 99");
    bad |= expect("allgatherv sendcount",
                  rcomm_allgatherv(comm, a, 3, b, counts, displs, RCOMM_F32), INVALID,
                  say("recvcounts[%d]", rank));
    displs[size - 1] = displs[size - 2] + 1; /* the last two blocks share one element */
    bad |= expect("allgatherv overlapping blocks",
                  rcomm_allgatherv(comm, a, 2, b, counts, displs, RCOMM_F32), INVALID,
                  "overlap");
    displs[size - 1] = displs[size - 2] + 2;
    bad |= expect("allgatherv sendbuf in recvbuf",
                  rcomm_allgatherv(comm, b + 1, 2, b, counts, displs, RCOMM_F32), INVALID,
                  "overlaps");
    big[size - 1] = huge;
    bad |= expect("allgatherv huge count",
                  rcomm_allgatherv(comm, a, 2, b, big, NULL, RCOMM_F32), INVALID,
                  say("recvcounts[%d]", size - 1));
    bad |= expect("allgatherv huge count says so",
                  rcomm_allgatherv(comm, a, 2, b, big, NULL, RCOMM_F32), INVALID,
                  "too large");
    /* each count fits, their sum does not */
    for (int q = 0; q < size; q++)
        big[q] = (size_t)-1 / 8 / sizeof(float) / 2 + 1;
    bad |= expect("allgatherv counts summing too large",
                  rcomm_allgatherv(comm, a, big[rank], b, big, NULL, RCOMM_F32), INVALID,
                  "too large");
    for (int q = 0; q < size; q++)
        big[q] = 2;
    bad |= expect("iallgatherv NULL req",
                  rcomm_iallgatherv(comm, a, 2, b, counts, displs, RCOMM_F32, NULL),
                  INVALID, "req is NULL");
    bad |= expect("iallgatherv NULL recvcounts",
                  rcomm_iallgatherv(comm, a, 2, b, NULL, displs, RCOMM_F32, &req),
                  INVALID, "recvcounts is NULL");
    /* alltoallv */
    bad |= expect("alltoallv NULL sendcounts",
                  rcomm_alltoallv(comm, a, NULL, displs, b, counts, displs, RCOMM_F32),
                  INVALID, "sendcounts is NULL");
    bad |= expect("alltoallv NULL recvcounts",
                  rcomm_alltoallv(comm, a, counts, displs, b, NULL, displs, RCOMM_F32),
                  INVALID, "recvcounts is NULL");
    bad |=
        expect("alltoallv NULL sendbuf",
               rcomm_alltoallv(comm, NULL, counts, displs, b, counts, displs, RCOMM_F32),
               INVALID, "sendbuf is NULL");
    bad |=
        expect("alltoallv NULL recvbuf",
               rcomm_alltoallv(comm, a, counts, displs, NULL, counts, displs, RCOMM_F32),
               INVALID, "recvbuf is NULL");
    bad |= expect(
        "alltoallv dtype",
        rcomm_alltoallv(comm, a, counts, displs, b, counts, displs, (rcomm_dtype_t)99),
        INVALID, "dtype 99");
    big[size - 1] = 2;
    big[rank] = 3; /* our own block changes size on the way */
    bad |= expect("alltoallv own block",
                  rcomm_alltoallv(comm, a, big, NULL, b, counts, NULL, RCOMM_F32),
                  INVALID, say("sendcounts[%d]", rank));
    big[rank] = 2;
    displs[0] = 3; /* blocks 0 and 1 share an element */
    bad |= expect("alltoallv overlapping receive blocks",
                  rcomm_alltoallv(comm, a, counts, NULL, b, counts, displs, RCOMM_F32),
                  INVALID, "receive blocks");
    displs[0] = 0;
    big[0] = huge;
    bad |= expect("alltoallv huge sendcount",
                  rcomm_alltoallv(comm, a, big, NULL, b, counts, NULL, RCOMM_F32),
                  INVALID, "sendcounts[0]");
    bad |= expect("alltoallv huge recvcount",
                  rcomm_alltoallv(comm, a, counts, NULL, b, big, NULL, RCOMM_F32),
                  INVALID, "recvcounts[0]");
    big[0] = 2;
    displs[0] = (size_t)-1 - 1; /* a block far past the address space */
    bad |= expect("alltoallv huge rdispls",
                  rcomm_alltoallv(comm, a, counts, NULL, b, counts, displs, RCOMM_F32),
                  INVALID, "rdispls[0]");
    displs[0] = 0;
    bad |= expect("alltoallv overlap",
                  rcomm_alltoallv(comm, b + 2, counts, NULL, b, counts, NULL, RCOMM_F32),
                  INVALID, "overlaps");
    bad |=
        expect("ialltoallv NULL req",
               rcomm_ialltoallv(comm, a, counts, NULL, b, counts, NULL, RCOMM_F32, NULL),
               INVALID, "req is NULL");
    bad |= expect("ialltoallv NULL sendcounts",
                  rcomm_ialltoallv(comm, a, NULL, NULL, b, counts, NULL, RCOMM_F32, &req),
                  INVALID, "sendcounts is NULL");
    if (req) {
        FAIL("a failed nonblocking call set *req");
        return bad;
    }
    /* the communicator is intact: an alltoallv where rank r sends r + 1
     * elements of value 100 * r + q to rank q, and an allgatherv */
    for (int q = 0; q < size; q++) {
        big[q] = (size_t)rank + 1;              /* sent to q */
        counts[q] = (size_t)q + 1;              /* received from q */
        displs[q] = 8 * (size_t)(size - 1 - q); /* received blocks in reverse */
        for (int i = 0; i < rank + 1; i++)
            a[8 * q + i] = (float)(100 * rank + q);
    }
    {
        size_t sd[8];
        for (int q = 0; q < size; q++)
            sd[q] = 8 * (size_t)q;
        bad |= expect("alltoallv after bad args",
                      rcomm_alltoallv(comm, a, big, sd, b, counts, displs, RCOMM_F32),
                      RCOMM_OK, NULL);
    }
    for (int q = 0; q < size; q++)
        for (int i = 0; i < q + 1; i++)
            if (b[displs[q] + (size_t)i] != (float)(100 * q + rank))
                FAIL("alltoallv after bad args: element %d from rank %d is %g", i, q,
                     b[displs[q] + (size_t)i]);
    for (int i = 0; i < rank + 1; i++)
        a[i] = (float)rank;
    bad |= expect("allgatherv after bad args",
                  rcomm_allgatherv(comm, a, (size_t)rank + 1, b, counts, NULL, RCOMM_F32),
                  RCOMM_OK, NULL);
    for (int q = 0, k = 0; q < size; q++)
        for (int i = 0; i < q + 1; i++, k++)
            if (b[k] != (float)q)
                FAIL("allgatherv after bad args: b[%d] = %g, expected %d", k, b[k], q);
    return bad;
}

/* alltoallv and ialltoallv on a NULL communicator (apart: they crashed). */
static int badargs_alltoallv_null(void)
{
    static float a[64], b[64];
    size_t counts[8] = {1, 1, 1, 1, 1, 1, 1, 1};
    rcomm_request_t *req = NULL;
    int bad = 0;

    bad |= expect("alltoallv NULL comm",
                  rcomm_alltoallv(NULL, a, counts, NULL, b, counts, NULL, RCOMM_F32),
                  INVALID, "comm is NULL");
    bad |=
        expect("ialltoallv NULL comm",
               rcomm_ialltoallv(NULL, a, counts, NULL, b, counts, NULL, RCOMM_F32, &req),
               INVALID, "comm is NULL");
    return bad;
}

/* send, recv, sendrecv and their nonblocking forms. */
static int badargs_p2p(rcomm_comm_t *comm)
{
    static float a[64], b[64];
    const int next = (rank + 1) % size, prev = (rank + size - 1) % size;
    const size_t huge = (size_t)-1 / 2;
    rcomm_request_t *req = NULL, *r2;
    int bad = 0;

    /* send */
    bad |= expect("send NULL comm", rcomm_send(NULL, a, 4, RCOMM_F32, next, 0), INVALID,
                  "comm is NULL");
    bad |= expect("send NULL buf", rcomm_send(comm, NULL, 4, RCOMM_F32, next, 0), INVALID,
                  " buf is NULL");
    bad |= expect("send dtype", rcomm_send(comm, a, 4, (rcomm_dtype_t)99, next, 0),
                  INVALID, "dtype 99");
    bad |= expect("send peer", rcomm_send(comm, a, 4, RCOMM_F32, size, 0), INVALID,
                  say("peer %d", size));
    bad |= expect("send negative peer", rcomm_send(comm, a, 4, RCOMM_F32, -1, 0), INVALID,
                  "peer -1");
    bad |= expect("send to self", rcomm_send(comm, a, 4, RCOMM_F32, rank, 0), INVALID,
                  say("peer %d", rank));
    bad |= expect("send negative tag", rcomm_send(comm, a, 4, RCOMM_F32, next, -1),
                  INVALID, "tag -1");
    /* An int cannot exceed RCOMM_TAG_MAX (INT_MAX): the most negative is the
     * other end. */
    bad |= expect("send tag INT_MIN",
                  rcomm_send(comm, a, 4, RCOMM_F32, next, -2147483647 - 1), INVALID,
                  "tag -2147483648");
    bad |= expect("send huge count", rcomm_send(comm, a, huge, RCOMM_F32, next, 0),
                  INVALID, "too large");
    /* recv */
    bad |= expect("recv NULL comm", rcomm_recv(NULL, b, 4, RCOMM_F32, prev, 0), INVALID,
                  "comm is NULL");
    bad |= expect("recv NULL buf", rcomm_recv(comm, NULL, 4, RCOMM_F32, prev, 0), INVALID,
                  " buf is NULL");
    bad |= expect("recv dtype", rcomm_recv(comm, b, 4, (rcomm_dtype_t)99, prev, 0),
                  INVALID, "dtype 99");
    bad |= expect("recv peer", rcomm_recv(comm, b, 4, RCOMM_F32, size + 3, 0), INVALID,
                  say("peer %d", size + 3));
    bad |= expect("recv negative peer", rcomm_recv(comm, b, 4, RCOMM_F32, -2, 0), INVALID,
                  "peer -2");
    bad |= expect("recv from self", rcomm_recv(comm, b, 4, RCOMM_F32, rank, 0), INVALID,
                  say("peer %d", rank));
    bad |= expect("recv negative tag", rcomm_recv(comm, b, 4, RCOMM_F32, prev, -5),
                  INVALID, "tag -5");
    bad |= expect("recv huge count", rcomm_recv(comm, b, huge, RCOMM_F32, prev, 0),
                  INVALID, "too large");
    /* sendrecv */
    bad |= expect("sendrecv NULL comm",
                  rcomm_sendrecv(NULL, a, 4, next, b, 4, prev, RCOMM_F32, 0), INVALID,
                  "comm is NULL");
    bad |= expect("sendrecv NULL sendbuf",
                  rcomm_sendrecv(comm, NULL, 4, next, b, 4, prev, RCOMM_F32, 0), INVALID,
                  "sendbuf is NULL");
    bad |= expect("sendrecv NULL recvbuf",
                  rcomm_sendrecv(comm, a, 4, next, NULL, 4, prev, RCOMM_F32, 0), INVALID,
                  "recvbuf is NULL");
    bad |=
        expect("sendrecv dst", rcomm_sendrecv(comm, a, 4, size, b, 4, prev, RCOMM_F32, 0),
               INVALID, say("dst %d", size));
    bad |=
        expect("sendrecv src", rcomm_sendrecv(comm, a, 4, next, b, 4, -1, RCOMM_F32, 0),
               INVALID, "src -1");
    bad |= expect("sendrecv dst self",
                  rcomm_sendrecv(comm, a, 4, rank, b, 4, prev, RCOMM_F32, 0), INVALID,
                  say("dst %d", rank));
    bad |= expect("sendrecv tag",
                  rcomm_sendrecv(comm, a, 4, next, b, 4, prev, RCOMM_F32, -1), INVALID,
                  "tag -1");
    bad |= expect("sendrecv dtype",
                  rcomm_sendrecv(comm, a, 4, next, b, 4, prev, (rcomm_dtype_t)99, 0),
                  INVALID, "dtype 99");
    bad |= expect("sendrecv huge sendcount",
                  rcomm_sendrecv(comm, a, huge, next, b, 4, prev, RCOMM_F32, 0), INVALID,
                  "too large");
    bad |= expect("sendrecv to self tag",
                  rcomm_sendrecv(comm, a, 4, rank, b, 4, rank, RCOMM_F32, -1), INVALID,
                  "tag -1");
    bad |= expect("sendrecv to self NULL recvbuf",
                  rcomm_sendrecv(comm, a, 4, rank, NULL, 4, rank, RCOMM_F32, 0), INVALID,
                  "recvbuf is NULL");
    /* a rank that sends itself another count than it receives disagrees with
     * itself: MISMATCH, found locally */
    bad |= expect("sendrecv to self counts",
                  rcomm_sendrecv(comm, a, 4, rank, b, 3, rank, RCOMM_F32, 0),
                  RCOMM_ERR_MISMATCH, "receives 3");
    /* nonblocking */
    bad |= expect("isend NULL req", rcomm_isend(comm, a, 4, RCOMM_F32, next, 0, NULL),
                  INVALID, "req is NULL");
    bad |= expect("irecv NULL req", rcomm_irecv(comm, b, 4, RCOMM_F32, prev, 0, NULL),
                  INVALID, "req is NULL");
    bad |= expect("isend peer", rcomm_isend(comm, a, 4, RCOMM_F32, -1, 0, &req), INVALID,
                  "peer -1");
    bad |= expect("irecv tag", rcomm_irecv(comm, b, 4, RCOMM_F32, prev, -9, &req),
                  INVALID, "tag -9");
    bad |= expect("irecv NULL comm", rcomm_irecv(NULL, b, 4, RCOMM_F32, prev, 0, &req),
                  INVALID, "comm is NULL");
    if (req) {
        FAIL("a failed nonblocking call set *req");
        return bad;
    }
    /* the communicator is intact: a ring shift both ways, and the greatest tag */
    for (int i = 0; i < 4; i++)
        a[i] = (float)(rank * 10 + i);
    bad |= expect("sendrecv after bad args",
                  rcomm_sendrecv(comm, a, 4, next, b, 4, prev, RCOMM_F32, RCOMM_TAG_MAX),
                  RCOMM_OK, NULL);
    for (int i = 0; i < 4; i++)
        if (b[i] != (float)(prev * 10 + i))
            FAIL("sendrecv after bad args: b[%d] = %g", i, b[i]);
    bad |= expect("irecv after bad args",
                  rcomm_irecv(comm, b, 4, RCOMM_F32, next, 7, &req), RCOMM_OK, NULL);
    bad |= expect("isend after bad args",
                  rcomm_isend(comm, a, 4, RCOMM_F32, prev, 7, &r2), RCOMM_OK, NULL);
    if (bad)
        return bad;
    bad |= expect("wait isend", rcomm_wait(r2), RCOMM_OK, NULL);
    bad |= expect("wait irecv", rcomm_wait(req), RCOMM_OK, NULL);
    for (int i = 0; i < 4; i++)
        if (b[i] != (float)(next * 10 + i))
            FAIL("irecv after bad args: b[%d] = %g", i, b[i]);
    bad |= expect("barrier after p2p", rcomm_barrier(comm), RCOMM_OK, NULL);
    return bad;
}

/* ---- disagreements about the new calls ------------------------------------ */

/* Whether msg names a rank other than self ("rank N"). */
static int names_other(const char *msg, int self)
{
    for (const char *p = strstr(msg, "rank "); p; p = strstr(p + 5, "rank ")) {
        char *end;
        long n = strtol(p + 5, &end, 10);
        if (end != p + 5 && n != self)
            return 1;
    }
    return 0;
}

/* The error must be one a disagreement may end in, and name culprit (-1:
 * any rank but this one). */
static int named_error(const char *what, rcomm_status_t st, int culprit)
{
    const char *msg = rcomm_last_error();
    char name[32];

    if (st != RCOMM_ERR_MISMATCH && st != RCOMM_ERR_PEER_FAILED &&
        st != RCOMM_ERR_TIMEOUT && st != RCOMM_ERR_COMM_FAILED) {
        fprintf(stderr, "FAIL rank %d: %s: got %s (%s)\n", rank, what, rcomm_strerror(st),
                msg);
        return 1;
    }
    if (culprit < 0) {
        if (names_other(msg, rank))
            return 0;
        fprintf(stderr, "FAIL rank %d: %s: %s names no other rank: '%s'\n", rank, what,
                rcomm_strerror(st), msg);
        return 1;
    }
    snprintf(name, sizeof(name), "rank %d", culprit);
    return expect(what, st, st, name);
}

/* What a rank saw, on stderr when RCOMM_TEST_VERBOSE is set (to record how a
 * disagreement actually ends). */
static void note(const char *what, rcomm_status_t st)
{
    if (getenv("RCOMM_TEST_VERBOSE"))
        fprintf(stderr, "rank %d: %s: %s (%s)\n", rank, what, rcomm_strerror(st),
                st == RCOMM_OK ? "" : rcomm_last_error());
}

/*
 * How a disagreement ends on this rank, whose call returned st. A rank whose
 * call could finish without hearing of it (it only sent, or heard only from
 * ranks that agree with it) fails its next call instead, once the goodbye of
 * a rank that found out arrives: up to 3 barriers. must says how:
 *   HEARS  this rank receives from one it disagrees with: its own call fails
 *          with MISMATCH
 *   LATER  its call or a barrier after it fails with MISMATCH
 *   ANY    its call or a barrier after it fails with any error a
 *          disagreement may end in
 * The error names culprit (-1: any rank but this one).
 */
enum { ANY, LATER, HEARS };

static int disagreement_ends(rcomm_comm_t *comm, const char *what, rcomm_status_t st,
                             int must, int culprit)
{
    note(what, st);
    if (must == HEARS && st != RCOMM_ERR_MISMATCH)
        return expect(what, st, RCOMM_ERR_MISMATCH, NULL);
    for (int i = 0; i < 3 && st == RCOMM_OK; i++) {
        st = rcomm_barrier(comm);
        note("barrier after it", st);
    }
    if (must == LATER && st != RCOMM_ERR_MISMATCH)
        return expect(what, st, RCOMM_ERR_MISMATCH, NULL);
    return named_error(what, st, culprit);
}

static double timeout_s(void)
{
    const char *t = getenv("RCOMM_TIMEOUT");

    return t ? atof(t) : 60;
}

/* The error came within the timeout (plus the health check's grace). */
static int in_time(const char *what, double secs)
{
    double limit = timeout_s() + 5;

    if (secs <= limit)
        return 0;
    fprintf(stderr, "FAIL rank %d: %s took %.1f s, more than RCOMM_TIMEOUT + 5\n", rank,
            what, secs);
    return 1;
}

static double now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

#define N 1000 /* elements per rank in the disagreements */

/*
 * root-reduce / root-gather / root-scatter: rank 0 calls with root 0, the
 * others with root size - 1. Two ranks both think they are the root. Their
 * data alone would not tell them (in a reduce or gather both roots wait to
 * receive from one another; in a scatter both only send), but rooted
 * collectives compare their arguments as they go (agree.c), so every rank
 * now fails within the call with MISMATCH; this checks the looser promise
 * (an error naming rank 0, never a wrong answer) under the short
 * RCOMM_TIMEOUT these modes run with, and within-root-* the strict one.
 * root-reduce-late / root-gather-late: a rank whose call returned OK would
 * compute past RCOMM_TIMEOUT before its next call (none does any more).
 */
static int root_mismatch(rcomm_comm_t *comm, const char *coll)
{
    static float a[8 * N], b[8 * N];
    const int root = rank == 0 ? 0 : size - 1, am_root = rank == root;
    const int scatter = strncmp(coll, "scatter", 7) == 0;
    const int late = strstr(coll, "-late") != NULL;
    rcomm_status_t st;
    int bad = 0, must = ANY;

    for (int i = 0; i < size * N; i++)
        a[i] = (float)(rank + 1);
    if (strncmp(coll, "reduce", 6) == 0)
        st = rcomm_reduce(comm, a, b, N, RCOMM_F32, RCOMM_SUM, root);
    else if (strncmp(coll, "gather", 6) == 0)
        st = rcomm_gather(comm, a, b, N, RCOMM_F32, root);
    else if (strcmp(coll, "scatter") == 0)
        st = rcomm_scatter(comm, a, b, N, RCOMM_F32, root);
    else
        return 2;
    /* Never a wrong answer: what a rank got, it got from the root it named. */
    if (st == RCOMM_OK && am_root && !scatter)
        FAIL("%s with disagreeing roots returned OK on root %d", coll, root);
    if (st == RCOMM_OK && !am_root && scatter)
        for (int i = 0; i < N; i++)
            if (b[i] != (float)(root + 1)) {
                FAIL("scatter with disagreeing roots: b[%d] = %g", i, b[i]);
                break;
            }
    if (late && st == RCOMM_OK)
        usleep((useconds_t)((timeout_s() + 1) * 1e6));
    if (scatter && rank == 0)
        must = LATER;
    if (late && am_root)
        must = HEARS;
    bad |= disagreement_ends(comm, coll, st, must, rank == 0 ? -1 : 0);
    return bad;
}

/*
 * count-reduce / count-gather: the root (rank 0) calls with 2N elements, the
 * others with N: the root receives every message, all of the wrong size.
 * count-scatter: the last rank expects 2N from root 0, which sends N.
 * count-alltoall: rank 0 with 2N per block, the others N: everybody hears
 * from rank 0, and rank 0 from everybody.
 */
static int count_mismatch(rcomm_comm_t *comm, const char *coll)
{
    static float a[16 * N], b[16 * N];
    const int scatter = strcmp(coll, "scatter") == 0;
    const int deviant = scatter ? size - 1 : 0;
    const size_t n = rank == deviant ? 2 * N : N;
    rcomm_status_t st;
    int must, bad = 0;

    for (int i = 0; i < 16 * N; i++)
        a[i] = (float)(rank + 1);
    if (strcmp(coll, "reduce") == 0) {
        st = rcomm_reduce(comm, a, b, n, RCOMM_F32, RCOMM_SUM, 0);
        must = rank == 0 ? HEARS : ANY; /* the root hears from its children */
    } else if (strcmp(coll, "gather") == 0) {
        st = rcomm_gather(comm, a, b, n, RCOMM_F32, 0);
        must = rank == 0 ? HEARS : ANY;
    } else if (scatter) {
        st = rcomm_scatter(comm, a, b, n, RCOMM_F32, 0);
        must = rank == deviant ? HEARS : ANY; /* hears from the root on 3 and 5 ranks */
    } else if (strcmp(coll, "alltoall") == 0) {
        st = rcomm_alltoall(comm, a, b, n, RCOMM_F32);
        must = HEARS;
    } else {
        return 2;
    }
    /* The ranks that hear from one they disagree with never finish; a
     * scatter's other receivers get their block as sent. */
    if (st == RCOMM_OK && must == HEARS)
        FAIL("%s with disagreeing counts returned OK", coll);
    for (int i = 0; scatter && st == RCOMM_OK && i < N; i++)
        if (b[i] != 1.0f) {
            FAIL("scatter with disagreeing counts: b[%d] = %g", i, b[i]);
            break;
        }
    return bad | disagreement_ends(comm, coll, st, must, rank == deviant ? -1 : deviant);
}

/*
 * counts-allgatherv: rank 0's recvcounts have blocks 1 and 2 swapped (the
 * same total: only the counts themselves differ). In the ring rank 1 hears
 * from rank 0 and rank 0 from the last rank: both must get MISMATCH.
 */
static int counts_allgatherv(rcomm_comm_t *comm)
{
    static float a[N], b[8 * N];
    size_t counts[8];
    rcomm_status_t st;
    int bad = 0;

    for (int q = 0; q < size; q++)
        counts[q] = (size_t)(q + 1) * 100;
    if (rank == 0) {
        counts[1] = 300;
        counts[2] = 200;
    }
    for (int i = 0; i < N; i++)
        a[i] = (float)rank;
    st = rcomm_allgatherv(comm, a, counts[rank], b, counts, NULL, RCOMM_F32);
    if (st == RCOMM_OK && (rank == 0 || rank == 1))
        FAIL("allgatherv with disagreeing counts returned OK");
    /* Rank 0 must name the rank it heard from; rank 1, rank 0. */
    return bad |
           disagreement_ends(comm, "allgatherv", st, rank == 0 || rank == 1 ? HEARS : ANY,
                             rank == 0 ? size - 1 : 0);
}

/*
 * counts-alltoallv: rank 0 sends 5 elements to rank 1, which expects 3;
 * counts-alltoallv-zero: 0 sends nothing, rank 1 expects 4;
 * counts-alltoallv-unexpected: 0 sends 4, rank 1 expects nothing.
 * Every other pair agrees (rank q sends q + 1 elements to everyone).
 */
static int counts_alltoallv(rcomm_comm_t *comm, const char *how)
{
    static float a[8 * 8], b[8 * 8];
    size_t sc[8], rc[8], sd[8], rd[8];
    size_t says = 5, expects = 3;
    rcomm_status_t st;
    int bad = 0;

    if (strcmp(how, "-zero") == 0)
        says = 0, expects = 4;
    else if (strcmp(how, "-unexpected") == 0)
        says = 4, expects = 0;
    else if (how[0])
        return 2;
    for (int q = 0; q < size; q++) {
        sc[q] = (size_t)rank + 1;
        rc[q] = (size_t)q + 1;
        sd[q] = rd[q] = 8 * (size_t)q;
        for (int i = 0; i < 8; i++) {
            a[8 * q + i] = (float)(100 * rank + q);
            b[8 * q + i] = -1;
        }
    }
    if (rank == 0)
        sc[1] = says;
    if (rank == 1)
        rc[0] = expects;
    st = rcomm_alltoallv(comm, a, sc, sd, b, rc, rd, RCOMM_F32);
    if (st == RCOMM_OK && rank == 1)
        FAIL("alltoallv with disagreeing counts returned OK on rank 1");
    /* Any rank that finished got what it expected. */
    for (int q = 0; q < size && st == RCOMM_OK; q++)
        for (size_t i = 0; i < rc[q]; i++)
            if (b[rd[q] + i] != (float)(100 * q + rank)) {
                FAIL("alltoallv: element %zu from rank %d is %g", i, q, b[rd[q] + i]);
                break;
            }
    /* Rank 1 receives the message it disagrees with; rank 0 only sent it. */
    bad |= disagreement_ends(comm, "alltoallv", st, rank == 1 ? HEARS : ANY,
                             rank == 1 ? 0 : 1);
    if (rank == 1 && !strstr(rcomm_last_error(), "sendcounts[1] on rank 0"))
        FAIL("alltoallv: the message does not name both counts: %s", rcomm_last_error());
    return bad;
}

/*
 * p2p-count: rank 0 sends 100000 elements (above the eager size) to rank 1,
 * which receives 99999; p2p-dtype: rank 0 sends f32, rank 1 receives i32 of
 * the same size. Rank 1 fails with MISMATCH naming rank 0 and its call; the
 * sender (whose send may finish first) and the other ranks end in an error
 * naming rank 1, the sender another rank.
 */
static int p2p_mismatch(rcomm_comm_t *comm, const char *what)
{
    static float buf[100000];
    const int count = strcmp(what, "count") == 0;
    const size_t n = count ? 100000 : 16;
    rcomm_status_t st = RCOMM_OK;

    if (size < 2)
        return 0;
    if (rank == 0)
        st = rcomm_send(comm, buf, n, RCOMM_F32, 1, 3);
    else if (rank == 1)
        st =
            rcomm_recv(comm, buf, count ? n - 1 : n, count ? RCOMM_F32 : RCOMM_I32, 0, 3);
    if (rank == 1) {
        note("recv", st);
        return expect("p2p recv", st, RCOMM_ERR_MISMATCH, "from rank 0") |
               expect("p2p recv says what", st, st, count ? "count=99999" : "i32");
    }
    return disagreement_ends(comm, rank == 0 ? "p2p send" : "bystander", st, ANY,
                             rank == 0 ? -1 : 1);
}

/*
 * p2p-exit: the last rank exits at once; even ranks receive from it, odd
 * ones send it 4 MB. p2p-hang: the same with the last rank asleep past
 * RCOMM_TIMEOUT. Either way the error names it, within RCOMM_TIMEOUT.
 */
static int p2p_dead(rcomm_comm_t *comm, int hang)
{
    static float buf[1 << 20];
    const int last = size - 1;
    char name[32];
    rcomm_status_t st;
    double t0;
    int bad;

    if (rank == last) {
        if (!hang)
            _exit(0); /* no goodbye: the kernel just closes the sockets */
        sleep(4);
        /* Its peers gave up on it: its next call fails. */
        st = rcomm_barrier(comm);
        note("barrier after sleeping", st);
        return expect("woken", st, st == RCOMM_OK ? RCOMM_ERR_PEER_FAILED : st, NULL);
    }
    snprintf(name, sizeof(name), "rank %d", last);
    t0 = now_s();
    if (rank % 2 == 0)
        st = rcomm_recv(comm, buf, 1000, RCOMM_F32, last, 1);
    else
        st = rcomm_send(comm, buf, 1 << 20, RCOMM_F32, last, 1);
    note(rank % 2 ? "send" : "recv", st);
    /* Over TCP a send is done when the kernel has its bytes: 4 MB can fit in
     * the socket buffers of a connection whose peer is gone (or asleep), and
     * then the next call fails instead. */
    for (int i = 0; i < 3 && rank % 2 && st == RCOMM_OK; i++) {
        st = rcomm_barrier(comm);
        note("barrier after it", st);
    }
    bad = expect(rank % 2 ? "send to a dead peer" : "recv from a dead peer", st,
                 hang                      ? RCOMM_ERR_TIMEOUT
                 : st == RCOMM_ERR_TIMEOUT ? st
                                           : RCOMM_ERR_PEER_FAILED,
                 name);
    return bad | in_time("the error", now_s() - t0);
}

/* exit-alltoall: the last rank exits before the alltoall. */
static int exit_alltoall(rcomm_comm_t *comm)
{
    static float a[8 * N], b[8 * N];
    char name[32];
    rcomm_status_t st;
    double t0;
    int bad = 0;

    if (rank == size - 1)
        _exit(0);
    snprintf(name, sizeof(name), "rank %d", size - 1);
    t0 = now_s();
    st = rcomm_alltoall(comm, a, b, N, RCOMM_F32);
    note("alltoall", st);
    if (st == RCOMM_OK) {
        FAIL("alltoall without the last rank returned OK");
        return bad;
    }
    return expect("alltoall without the last rank", st, st, name) |
           in_time("the error", now_s() - t0);
}

/* ---- disagreements found within the call ---------------------------------- */

/* One collective of kind coll (allreduce, broadcast, ...) with count n and
 * root; buffers big enough for 8 ranks of N. */
static rcomm_status_t run_coll(rcomm_comm_t *comm, const char *coll, size_t n, int root)
{
    static float a[8 * N], b[8 * N];

    for (int i = 0; i < 8 * N; i++)
        a[i] = (float)(rank + 1);
    if (strcmp(coll, "allreduce") == 0)
        return rcomm_allreduce(comm, a, b, n, RCOMM_F32, RCOMM_SUM);
    if (strcmp(coll, "broadcast") == 0)
        return rcomm_broadcast(comm, rank == root ? a : b, n, RCOMM_F32, root);
    if (strcmp(coll, "reduce") == 0)
        return rcomm_reduce(comm, a, b, n, RCOMM_F32, RCOMM_SUM, root);
    if (strcmp(coll, "allgather") == 0)
        return rcomm_allgather(comm, a, b, n, RCOMM_F32);
    if (strcmp(coll, "reduce-scatter") == 0)
        return rcomm_reduce_scatter(comm, a, b, n, RCOMM_F32, RCOMM_SUM);
    if (strcmp(coll, "gather") == 0)
        return rcomm_gather(comm, a, b, n, RCOMM_F32, root);
    if (strcmp(coll, "scatter") == 0)
        return rcomm_scatter(comm, a, b, n, RCOMM_F32, root);
    if (strcmp(coll, "alltoall") == 0)
        return rcomm_alltoall(comm, a, b, n, RCOMM_F32);
    return RCOMM_ERR_UNSUPPORTED;
}

/*
 * within-zero-COLL: the deviant calls COLL with count 0, the others with N
 * (root 0). within-root-COLL: count N, the deviant's root is itself, the
 * others' the rank after it. Every rank, the deviant too, must get MISMATCH
 * from this very call: one that returned OK, or TIMEOUT after RCOMM_TIMEOUT,
 * fails. The message names the deviant (on the deviant, another rank) and
 * says what each called.
 */
static int within(rcomm_comm_t *comm, const char *what, int deviant, const char *late)
{
    const int zero = strncmp(what, "zero-", 5) == 0;
    const char *coll = what + 5; /* after "zero-" or "root-" */
    const int root = zero ? 0 : rank == deviant ? deviant : (deviant + 1) % size;
    const size_t n = zero && rank == deviant ? 0 : N;
    const char *msg;
    rcomm_status_t st;
    int bad = 0;

    if (!zero && strncmp(what, "root-", 5) != 0)
        return 2;
    /* Late ranks find the others' messages already there when they call. */
    if ((strcmp(late, "others-late") == 0 && rank != deviant) ||
        (strcmp(late, "deviant-late") == 0 && rank == deviant))
        usleep(300000);
    st = run_coll(comm, coll, n, root);
    if (st == RCOMM_ERR_UNSUPPORTED)
        return 2;
    note(what, st);
    msg = rcomm_last_error();
    bad |= expect(what, st, RCOMM_ERR_MISMATCH, "called");
    if (rank == deviant && !names_other(msg, rank))
        FAIL("%s: the deviant's message names no other rank: '%s'", what, msg);
    if (rank != deviant)
        bad |= expect(what, st, st, say("rank %d", deviant));
    if (zero)
        bad |= expect(what, st, st, "count=0") | expect(what, st, st, say("count=%d", N));
    else
        bad |= expect(what, st, st, say("root=%d", deviant));
    return bad;
}

/* handles: every misuse of a destroyed handle is INVALID_ARG naming it. */
static int handles(rcomm_comm_t *comm)
{
    static float a[N], b[N];
    rcomm_ps_tensor_t t = {"w", N, RCOMM_F32, NULL};
    rcomm_ps_config_t cfg;
    rcomm_request_t *req;
    rcomm_ps_t *ps;
    int r, bad = 0;

    CALL(rcomm_iallreduce(comm, a, b, N, RCOMM_F32, RCOMM_SUM, RCOMM_ALGO_AUTO, &req));
    CALL(rcomm_wait(req));
    bad |= expect("wait again", rcomm_wait(req), INVALID, "rcomm_wait: req completed");
    bad |= expect("test after wait", rcomm_test(req), INVALID, "rcomm_test: req");
    rcomm_ps_config_init(&cfg);
    CALL(rcomm_ps_create(comm, &cfg, &t, 1, &ps));
    CALL(rcomm_ps_destroy(ps));
    bad |= expect("ps destroy again", rcomm_ps_destroy(ps), INVALID,
                  "rcomm_ps_destroy: ps was destroyed");
    bad |= expect("ps pull after destroy", rcomm_ps_pull(ps, 0, 0, 1, a, NULL), INVALID,
                  "rcomm_ps_pull: ps was destroyed");
    bad |= expect("ps stats after destroy", rcomm_ps_stats(ps, &(rcomm_ps_stats_t){0}),
                  INVALID, "rcomm_ps_stats: ps was destroyed");
    /* the communicator still works, and then is destroyed */
    CALL(rcomm_allreduce(comm, a, b, N, RCOMM_F32, RCOMM_SUM));
    CALL(rcomm_comm_destroy(comm));
    bad |= expect("barrier after destroy", rcomm_barrier(comm), INVALID,
                  "rcomm_barrier: comm was destroyed");
    bad |= expect("allreduce after destroy",
                  rcomm_allreduce(comm, a, b, N, RCOMM_F32, RCOMM_SUM), INVALID,
                  "rcomm_allreduce: comm was destroyed");
    bad |= expect(
        "iallreduce after destroy",
        rcomm_iallreduce(comm, a, b, N, RCOMM_F32, RCOMM_SUM, RCOMM_ALGO_AUTO, &req),
        INVALID, "comm was destroyed");
    bad |= expect("send after destroy",
                  rcomm_send(comm, a, 1, RCOMM_F32, (rank + 1) % size, 0), INVALID,
                  "rcomm_send: comm was destroyed");
    bad |= expect("rank after destroy", rcomm_comm_rank(comm, &r), INVALID,
                  "rcomm_comm_rank: comm was destroyed");
    bad |= expect("ps create after destroy", rcomm_ps_create(comm, &cfg, &t, 1, &ps),
                  INVALID, "rcomm_ps_create: comm was destroyed");
    bad |= expect("destroy again", rcomm_comm_destroy(comm), INVALID,
                  "rcomm_comm_destroy: comm was destroyed");
    return bad;
}

static int mismatch(rcomm_comm_t *comm, const char *what)
{
    static float buf[4000];
    int deviant = rank == 0;
    /* small-: 2 elements, which go through the shared slots where every
     * rank shares memory (allreduce_slots.c); the deviant's count there is
     * 1000, which does not. */
    const int small = strncmp(what, "small-", 6) == 0;
    size_t n = small ? (deviant && strcmp(what + 6, "count") == 0 ? 1000 : 2)
                     : (deviant && strcmp(what, "count") == 0 ? 2000 : 1000);

    what += small ? 6 : 0;
    rcomm_dtype_t dt = deviant && strcmp(what, "dtype") == 0 ? RCOMM_I32 : RCOMM_F32;
    rcomm_op_t op = deviant && strcmp(what, "op") == 0 ? RCOMM_MAX : RCOMM_SUM;
    rcomm_status_t st;

    if (strcmp(what, "root") == 0)
        st = rcomm_broadcast(comm, buf, n, dt, deviant ? 0 : size - 1);
    else if (strcmp(what, "coll") == 0 && deviant)
        st = rcomm_reduce_scatter(comm, buf, buf + 2000, n / (size_t)size, dt, op);
    else
        st = rcomm_allreduce(comm, buf, buf + 2000, n, dt, op);
    /* Even a broadcast root, which only sends, hears of it within the call:
     * rooted collectives agree on their arguments as they go (agree.c). */
    return expect("mismatch", st, RCOMM_ERR_MISMATCH, "called");
}

static int mismatch_nb(rcomm_comm_t *comm)
{
    static float buf[4000];
    const size_t n = rank == 0 ? 2000 : 1000;
    rcomm_request_t *r1 = NULL, *r2 = NULL;
    rcomm_status_t st;

    if ((st = rcomm_iallreduce(comm, buf, buf + 2000, n, RCOMM_F32, RCOMM_SUM,
                               RCOMM_ALGO_RING, &r1)) != RCOMM_OK)
        return expect("iallreduce", st, RCOMM_OK, NULL);
    /* Progress through other calls until the communicator has failed: by
     * then the allreduce has failed too, in a call that was not its own. */
    st = rcomm_ibarrier(comm, &r2);
    if (st == RCOMM_OK)
        st = rcomm_wait(r2);
    for (int i = 0; i < 20 && st == RCOMM_OK; i++)
        st = rcomm_barrier(comm);
    rcomm_comm_rank(NULL, NULL); /* the thread's last error is now about that */
    st = rcomm_wait(r1);
    /* COMM_FAILED: a later call failed first; the communicator explains. */
    return expect("mismatch-nb", st,
                  st == RCOMM_ERR_COMM_FAILED ? st : RCOMM_ERR_MISMATCH, "called");
}

static void die_now(int sig)
{
    (void)sig;
    _exit(0);
}

static void stall_now(int sig)
{
    (void)sig;
    sleep(4);
    _exit(0);
}

/* exit-staged / hang-staged: the last rank stops 20 ms into a loop of
 * allreduces of 16 MiB (some ms each), most likely between two of a call's
 * pieces; it never returns. The others fail naming it. */
static int stop_staged(rcomm_comm_t *comm, int hang, const char *name)
{
    const size_t count = 4u << 20;
    float *buf = calloc(count, sizeof(float));
    rcomm_status_t st = RCOMM_OK;
    int bad;

    if (!buf)
        return 1;
    if (rank == size - 1) {
        signal(SIGALRM, hang ? stall_now : die_now);
        ualarm(20000, 0);
    }
    for (int i = 0; i < 1000000 && st == RCOMM_OK; i++)
        st = rcomm_allreduce(comm, RCOMM_IN_PLACE, buf, count, RCOMM_F32, RCOMM_SUM);
    if (hang) {
        bad = expect("hang-staged", st, RCOMM_ERR_TIMEOUT, name);
    } else {
        bad = st == RCOMM_OK || st == RCOMM_ERR_TIMEOUT ||
              !strstr(rcomm_last_error(), name);
        if (bad)
            fprintf(stderr, "FAIL rank %d: exit-staged: %s (%s)\n", rank,
                    rcomm_strerror(st), rcomm_last_error());
    }
    free(buf);
    return bad;
}

int main(int argc, char **argv)
{
    const char *mode = argc > 1 ? argv[1] : "";
    rcomm_comm_t *comm;
    static float stack_buf[1000];
    float *buf = stack_buf;
    size_t count = 1000;
    char name[32];
    int bad = 0;
    rcomm_status_t st;

    comm = join();
    snprintf(name, sizeof(name), "rank %d", size - 1);
    if ((size < 2 || size > 8) &&
        (strncmp(mode, "within-", 7) == 0 || strcmp(mode, "handles") == 0)) {
        fprintf(stderr, "coll_fail %s: needs 2 to 8 ranks, not %d\n", mode, size);
        return 2;
    }
    if ((size < 3 || size > 8) && strcmp(mode, "badargs") != 0 &&
        strcmp(mode, "exit-early") != 0 && strcmp(mode, "hang") != 0 &&
        strcmp(mode, "exit-mapped") != 0 && strcmp(mode, "hang-mapped") != 0 &&
        strncmp(mode, "mismatch", 8) != 0 && strncmp(mode, "within-", 7) != 0 &&
        strcmp(mode, "handles") != 0) {
        fprintf(stderr, "coll_fail %s: needs 3 to 8 ranks, not %d\n", mode, size);
        return 2;
    }
    if (strncmp(mode, "within-", 7) == 0) {
        if ((bad = within(comm, mode + 7, argc > 2 ? atoi(argv[2]) % size : 0,
                          argc > 3 ? argv[3] : "")) == 2) {
            fprintf(stderr,
                    "usage: coll_fail MODE (the modes are listed in coll_fail.c)\n");
            return 2;
        }
    } else if (strcmp(mode, "handles") == 0) {
        return handles(comm); /* it destroyed comm */
    } else if (strcmp(mode, "badargs") == 0) {
        bad = badargs(comm);
    } else if (strcmp(mode, "badargs-rooted") == 0) {
        bad = badargs_rooted(comm);
    } else if (strcmp(mode, "badargs-v") == 0) {
        bad = badargs_v(comm);
    } else if (strcmp(mode, "badargs-alltoallv-null") == 0) {
        bad = badargs_alltoallv_null() || rcomm_barrier(comm) != RCOMM_OK;
    } else if (strcmp(mode, "badargs-p2p") == 0) {
        bad = badargs_p2p(comm);
    } else if (strncmp(mode, "root-", 5) == 0) {
        bad = root_mismatch(comm, mode + 5);
    } else if (strncmp(mode, "count-", 6) == 0) {
        bad = count_mismatch(comm, mode + 6);
    } else if (strcmp(mode, "counts-allgatherv") == 0) {
        bad = counts_allgatherv(comm);
    } else if (strncmp(mode, "counts-alltoallv", 16) == 0) {
        bad = counts_alltoallv(comm, mode + 16);
    } else if (strcmp(mode, "p2p-count") == 0 || strcmp(mode, "p2p-dtype") == 0) {
        bad = p2p_mismatch(comm, mode + 4);
    } else if (strcmp(mode, "p2p-exit") == 0 || strcmp(mode, "p2p-hang") == 0) {
        bad = p2p_dead(comm, strcmp(mode, "p2p-hang") == 0);
        if (rank == size - 1) { /* it slept: its peers have left */
            rcomm_comm_destroy(comm);
            return bad;
        }
    } else if (strcmp(mode, "exit-alltoall") == 0) {
        bad = exit_alltoall(comm);
    } else if (strcmp(mode, "exit-early") == 0 || strcmp(mode, "exit-mapped") == 0) {
        if (strcmp(mode, "exit-mapped") == 0 &&
            rcomm_mem_alloc(comm, (count = 65536) * sizeof(float), (void **)&buf))
            return 1;
        if (rank == size - 1)
            _exit(0); /* no goodbye: the kernel just closes the sockets */
        st = rcomm_allreduce(comm, buf, buf, count, RCOMM_F32, RCOMM_SUM);
        /* Mapped: its death noticed, not waited out (the mailboxes' waits
         * watch the peer: coll_health_peer_failed). */
        bad = st == RCOMM_OK || !strstr(rcomm_last_error(), name) ||
              (count > 1000 && st == RCOMM_ERR_TIMEOUT);
        if (bad)
            fprintf(stderr, "FAIL rank %d: exit-early: %s (%s)\n", rank,
                    rcomm_strerror(st), rcomm_last_error());
    } else if (strcmp(mode, "hang") == 0 || strcmp(mode, "hang-mapped") == 0) {
        if (strcmp(mode, "hang-mapped") == 0 &&
            rcomm_mem_alloc(comm, (count = 65536) * sizeof(float), (void **)&buf))
            return 1;
        if (rank == size - 1)
            sleep(4);
        st = rcomm_allreduce(comm, buf, buf, count, RCOMM_F32, RCOMM_SUM);
        if (rank != size - 1) {
            bad = expect("hang", st, RCOMM_ERR_TIMEOUT, name);
        } else {
            /* Its peers' data may all have arrived before they gave up, so
             * this call can succeed; the next one cannot. */
            if (st == RCOMM_OK)
                st = rcomm_barrier(comm);
            bad = st == RCOMM_OK;
            rcomm_comm_destroy(comm);
            return bad;
        }
    } else if (strcmp(mode, "exit-staged") == 0 || strcmp(mode, "hang-staged") == 0) {
        bad = stop_staged(comm, strcmp(mode, "hang-staged") == 0, name);
    } else if (strcmp(mode, "mismatch-nb") == 0) {
        bad = mismatch_nb(comm);
    } else if (strncmp(mode, "mismatch-", 9) == 0) {
        bad = mismatch(comm, mode + 9);
    } else {
        fprintf(stderr, "usage: coll_fail MODE (the modes are listed in coll_fail.c)\n");
        return 2;
    }
    /* A failed communicator says so on later calls, and destroys cleanly. */
    if (strncmp(mode, "badargs", 7) != 0) {
        st = rcomm_barrier(comm);
        bad |= expect("after failure", st, RCOMM_ERR_COMM_FAILED, "failed earlier");
    }
    rcomm_comm_destroy(comm);
    return bad;
}
