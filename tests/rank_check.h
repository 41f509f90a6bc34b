/* SPDX-License-Identifier: BSD-3-Clause */
/* What the programs every rank runs under rcomm-run share (coll_fail,
 * ps_check, buckets_check): this rank and the job's size, and checks that
 * print what was wrong, naming the rank. */
#ifndef RCOMM_TESTS_RANK_CHECK_H
#define RCOMM_TESTS_RANK_CHECK_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rcomm.h"

static int rank, size;

/* Print a failure and set the including file's `bad`. */
#define FAIL(...)                                                                        \
    do {                                                                                 \
        fprintf(stderr, "FAIL rank %d: ", rank);                                         \
        fprintf(stderr, __VA_ARGS__);                                                    \
        fprintf(stderr, "\n");                                                           \
        bad = 1;                                                                         \
    } while (0)

/* x must succeed; otherwise say so and return 1 from the calling function. */
#define CALL(x)                                                                          \
    do {                                                                                 \
        rcomm_status_t st_ = (x);                                                        \
        if (st_ != RCOMM_OK) {                                                           \
            FAIL("%s: %s (%s)", #x, rcomm_strerror(st_), rcomm_last_error());            \
            return 1;                                                                    \
        }                                                                                \
    } while (0)

/* got must be want and, with a needle, the last error must mention it.
 * Returns 1 (and says why) when not. */
static inline int expect(const char *what, rcomm_status_t got, rcomm_status_t want,
                         const char *needle)
{
    const char *msg = rcomm_last_error();

    if (got != want) {
        fprintf(stderr, "FAIL rank %d: %s: got %s, expected %s (%s)\n", rank, what,
                rcomm_strerror(got), rcomm_strerror(want), msg);
        return 1;
    }
    if (needle && !strstr(msg, needle)) {
        fprintf(stderr, "FAIL rank %d: %s: message '%s' does not mention '%s'\n", rank,
                what, msg, needle);
        return 1;
    }
    return 0;
}

/* Join the job (rcomm-run's environment); sets rank and size. Exits 1
 * saying why when it cannot. */
static inline rcomm_comm_t *join(void)
{
    rcomm_comm_t *comm;

    if (rcomm_comm_create_from_env(&comm) != RCOMM_OK) {
        fprintf(stderr, "FAIL: rcomm_comm_create_from_env: %s\n", rcomm_last_error());
        exit(1);
    }
    rcomm_comm_rank(comm, &rank);
    rcomm_comm_size(comm, &size);
    return comm;
}

#endif
