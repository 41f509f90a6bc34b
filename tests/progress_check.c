/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The progress thread, run by every rank under rcomm-run (tests/progress.sh).
 *   overlap  a 4 MiB allreduce is posted and every rank computes outside
 *            rcomm until its transport has moved no byte for 2 s (read
 *            with rcomm_comm_stats, which never progresses): with
 *            --expect done the first rcomm_test then finds it complete
 *            (the thread did the work); with --expect pending
 *            (RCOMM_PROGRESS=caller) it is still in flight. The result is
 *            checked element by element either way.
 *   idle     a communicator with nothing in flight for 2 s: the process's
 *            CPU time over that time stays below 20% of one core (a
 *            spinning thread would use 100%); prints the figure.
 * Exit status 0 when this rank saw what it should.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "rank_check.h"

static int bad;

static double now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static double cpu_s(void)
{
    struct rusage ru;

    getrusage(RUSAGE_SELF, &ru); /* every thread of the process */
    return (double)ru.ru_utime.tv_sec + 1e-6 * (double)ru.ru_utime.tv_usec +
           (double)ru.ru_stime.tv_sec + 1e-6 * (double)ru.ru_stime.tv_usec;
}

static uint64_t moved(rcomm_comm_t *comm)
{
    rcomm_stats_t s;

    rcomm_comm_stats(comm, &s);
    return s.bytes_sent + s.bytes_received;
}

/* Quiet this long means done: the allreduce takes about 10 ms here, and
 * sanitizers, valgrind and a loaded CI machine stretch gaps well past that. */
#define QUIET_S 2.0

static int overlap(rcomm_comm_t *comm, int expect_done)
{
    const size_t n = (size_t)1 << 20; /* 4 MiB of f32: many round trips */
    float *buf = malloc(n * sizeof(float));
    rcomm_request_t *req;
    rcomm_status_t st;
    volatile double acc = 0;
    double quiet_since, t0;
    uint64_t last;

    if (!buf)
        return 1;
    for (size_t i = 0; i < n; i++)
        buf[i] = (float)(rank + 1) * (float)(i % 1024);
    if ((st = rcomm_iallreduce(comm, RCOMM_IN_PLACE, buf, n, RCOMM_F32, RCOMM_SUM,
                               RCOMM_ALGO_RING, &req)) != RCOMM_OK) {
        FAIL("rcomm_iallreduce: %s", rcomm_last_error());
        free(buf);
        return 1;
    }
    /* The training step: compute, never entering a call that progresses. */
    t0 = quiet_since = now_s();
    last = moved(comm);
    while (now_s() - quiet_since < QUIET_S && now_s() - t0 < 120) {
        uint64_t m;

        for (int i = 0; i < 200000; i++)
            acc += 1e-9 * i;
        if ((m = moved(comm)) != last) {
            last = m;
            quiet_since = now_s();
        }
    }
    st = rcomm_test(req);
    if (expect_done && st != RCOMM_OK)
        FAIL("the allreduce was %s after the caller computed until no byte moved for "
             "%.0f s: no thread advanced it",
             st == RCOMM_INPROGRESS ? "still in flight" : rcomm_strerror(st), QUIET_S);
    if (!expect_done && st != RCOMM_INPROGRESS)
        FAIL("the allreduce was %s without a progress thread, expected in flight",
             rcomm_strerror(st));
    if (st == RCOMM_INPROGRESS && (st = rcomm_wait(req)) != RCOMM_OK)
        FAIL("rcomm_wait: %s", rcomm_last_error());
    for (size_t i = 0; st == RCOMM_OK && i < n; i++) {
        float want = (float)(size * (size + 1) / 2) * (float)(i % 1024);
        if (buf[i] != want) {
            FAIL("element %zu is %g, expected %g", i, buf[i], want);
            break;
        }
    }
    free(buf);
    return 0;
}

static int idle(rcomm_comm_t *comm)
{
    double c0, t0, share;

    rcomm_barrier(comm);
    c0 = cpu_s();
    t0 = now_s();
    nanosleep(&(struct timespec){2, 0}, NULL);
    share = (cpu_s() - c0) / (now_s() - t0);
    printf("rank %d: an idle communicator used %.2f%% of one core\n", rank, 100 * share);
    if (share > 0.2)
        FAIL("an idle communicator used %.0f%% of one core", 100 * share);
    return rcomm_barrier(comm) != RCOMM_OK;
}

int main(int argc, char **argv)
{
    rcomm_comm_t *comm;
    int rc;

    if (argc < 2 || (strcmp(argv[1], "overlap") == 0 && argc != 4)) {
        fprintf(stderr, "usage: progress_check overlap --expect done|pending | idle\n");
        return 2;
    }
    comm = join();
    if (strcmp(argv[1], "overlap") == 0)
        rc = overlap(comm, strcmp(argv[3], "done") == 0);
    else if (strcmp(argv[1], "idle") == 0)
        rc = idle(comm);
    else {
        fprintf(stderr, "progress_check: unknown mode '%s'\n", argv[1]);
        rc = 2;
    }
    if (rcomm_comm_destroy(comm) != RCOMM_OK)
        FAIL("rcomm_comm_destroy: %s", rcomm_last_error());
    return rc ? rc : bad;
}
