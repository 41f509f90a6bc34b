/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Failure behaviour, run by every rank under rcomm-run (see test_coll.c):
 *   badargs        invalid calls fail with INVALID_ARG and a message naming
 *                  the argument; the communicator still works afterwards
 *   exit-early     the last rank exits without a word; the others fail with
 *                  an error naming it
 *   hang           the last rank sleeps past RCOMM_TIMEOUT; the others fail
 *                  with TIMEOUT naming it
 *   mismatch-count / -dtype / -op / -root / -coll
 *                  rank 0 calls differently; every rank gets MISMATCH
 *   mismatch-nb    the same with a nonblocking allreduce that fails while
 *                  the rank waits for a later barrier: waited for after the
 *                  thread's last error was cleared, it still explains itself
 *                  (the message travels with the request)
 * Exit status 0 when this rank saw what it should.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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

static int mismatch(rcomm_comm_t *comm, const char *what)
{
    static float buf[4000];
    int deviant = rank == 0;
    size_t n = deviant && strcmp(what, "count") == 0 ? 2000 : 1000;
    rcomm_dtype_t dt = deviant && strcmp(what, "dtype") == 0 ? RCOMM_I32 : RCOMM_F32;
    rcomm_op_t op = deviant && strcmp(what, "op") == 0 ? RCOMM_MAX : RCOMM_SUM;
    rcomm_status_t st;

    if (strcmp(what, "root") == 0)
        st = rcomm_broadcast(comm, buf, n, dt, deviant ? 0 : size - 1);
    else if (strcmp(what, "coll") == 0 && deviant)
        st = rcomm_reduce_scatter(comm, buf, buf + 2000, n / (size_t)size, dt, op);
    else
        st = rcomm_allreduce(comm, buf, buf + 2000, n, dt, op);
    /* A broadcast root only sends, so it can finish before any message tells
     * it the others disagree, and so can ranks that only heard from a parent
     * that agreed with them: the stray message fails the next call of its
     * receiver, whose goodbye reaches the rest within another call or two. */
    for (int i = 0; i < 3 && st == RCOMM_OK && strcmp(what, "root") == 0; i++)
        st = rcomm_barrier(comm);
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

int main(int argc, char **argv)
{
    const char *mode = argc > 1 ? argv[1] : "";
    rcomm_comm_t *comm;
    float buf[1000] = {0};
    char name[32];
    int bad = 0;
    rcomm_status_t st;

    comm = join();
    snprintf(name, sizeof(name), "rank %d", size - 1);
    if (strcmp(mode, "badargs") == 0) {
        bad = badargs(comm);
    } else if (strcmp(mode, "exit-early") == 0) {
        if (rank == size - 1)
            _exit(0); /* no goodbye: the kernel just closes the sockets */
        st = rcomm_allreduce(comm, buf, buf, 1000, RCOMM_F32, RCOMM_SUM);
        bad = st == RCOMM_OK || !strstr(rcomm_last_error(), name);
        if (bad)
            fprintf(stderr, "FAIL rank %d: exit-early: %s (%s)\n", rank,
                    rcomm_strerror(st), rcomm_last_error());
    } else if (strcmp(mode, "hang") == 0) {
        if (rank == size - 1)
            sleep(4);
        st = rcomm_allreduce(comm, buf, buf, 1000, RCOMM_F32, RCOMM_SUM);
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
    } else if (strcmp(mode, "mismatch-nb") == 0) {
        bad = mismatch_nb(comm);
    } else if (strncmp(mode, "mismatch-", 9) == 0) {
        bad = mismatch(comm, mode + 9);
    } else {
        fprintf(stderr, "usage: coll_fail badargs|exit-early|hang|mismatch-WHAT\n");
        return 2;
    }
    /* A failed communicator says so on later calls, and destroys cleanly. */
    if (strcmp(mode, "badargs") != 0) {
        st = rcomm_barrier(comm);
        bad |= expect("after failure", st, RCOMM_ERR_COMM_FAILED, "failed earlier");
    }
    rcomm_comm_destroy(comm);
    return bad;
}
