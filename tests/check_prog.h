/* SPDX-License-Identifier: BSD-3-Clause */
/* What the conformance programs (coll_check, coll_set_check) share outside
 * their checks: where their time goes, and where their buffers come from. */
#ifndef RCOMM_TESTS_CHECK_PROG_H
#define RCOMM_TESTS_CHECK_PROG_H

#include <malloc.h>
#include <time.h>

/* Seconds since the last call (*t = 0 before the first), for the summary
 * line that says where a suite's time went. */
static inline double check_lap(double *t)
{
    struct timespec ts;
    double t0 = *t;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    *t = (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
    return *t - t0;
}

/* Every case allocates its buffers afresh: from the heap, kept between
 * cases, rather than mmap'd and faulted in each time (a third of a rank's
 * time at coll_check's largest count). */
static inline void check_keep_heap(void)
{
    mallopt(M_MMAP_THRESHOLD, 64 << 20);
    mallopt(M_TRIM_THRESHOLD, 256 << 20);
}

#endif
