/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Shared by the pieces of coll_set_check (coll_set_check.c: helpers, main,
 * reduce, gather, scatter; coll_set_v.c: alltoall, allgatherv, alltoallv;
 * coll_set_p2p.c: send, recv, sendrecv and requests of every kind in flight
 * together).
 *
 * Buffers come from guarded(): GUARD bytes of EXACT_POISON on either side,
 * and the buffer itself poisoned too, so that a receive buffer's unwritten
 * parts (gaps between blocks, a non-root's buffer) and the bytes around it
 * can be checked with untouched() / guards_ok() after the call.
 */
#ifndef RCOMM_TESTS_COLL_SET_H
#define RCOMM_TESTS_COLL_SET_H

#include <stddef.h>
#include <stdint.h>

#include "perf/exact_inputs.h"
#include "rcomm.h"

#define GUARD 64

extern int rank, size, quick;

/* Count a failed case and report it (the first 30 on each rank). */
void failf(const char *what, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* One more case checked. */
void count_case(void);
/* Compare n elements bit for bit; report the first difference. */
int compare(const char *what, const void *got, const void *want, size_t n,
            rcomm_dtype_t dt);
/* An error from rcomm ends the program: the communicator is gone. */
void check_status(const char *what, rcomm_status_t st);
/* Complete req: how 1 = rcomm_wait, 2 = rcomm_test until done. */
void complete(const char *what, rcomm_request_t *req, int how);

/* bytes of poison between two guards (never NULL, even for 0 bytes). */
char *guarded(size_t bytes);
void guarded_free(char *p);
/* The guards around a guarded() buffer of bytes are intact. */
int guards_ok(const char *what, const char *p, size_t bytes);
/* bytes at p are all still EXACT_POISON. */
int untouched(const char *what, const char *p, size_t bytes);
/* A copy of bytes at p, to check later that an input was left unchanged. */
char *snapshot(const void *p, size_t bytes);
int unchanged(const char *what, const void *now, const char *snap, size_t bytes);

/*
 * Data that a call only moves: element i of the block identified by key
 * (sender, receiver, tag...). A hash of both, so that a block from the wrong
 * rank or at the wrong offset shows at once (the reduction inputs of
 * exact_inputs.h repeat every 23 elements); stored with exact_put, so it is
 * exact in every type: -125..125, but 0..88 in u8, where 90 is the poison.
 */
static inline double moved_value(uint64_t key, size_t i, rcomm_dtype_t dt)
{
    uint64_t x = key * 0x9e3779b97f4a7c15ull + i;

    x ^= x >> 29;
    x *= 0xbf58476d1ce4e5b9ull;
    x ^= x >> 32;
    return dt == RCOMM_U8 ? (double)(x % 89) : (double)(int)(x % 251) - 125;
}

static inline void moved_fill(void *buf, size_t n, uint64_t key, rcomm_dtype_t dt)
{
    for (size_t i = 0; i < n; i++)
        exact_put(buf, i, dt, moved_value(key, i, dt));
}

/* Make a call blocking (nb 0) or nonblocking (1: rcomm_wait, 2: rcomm_test
 * loop). icall names the request req. */
#define RUN(what, nb, call, icall)                                                       \
    do {                                                                                 \
        if (nb) {                                                                        \
            rcomm_request_t *req = NULL;                                                 \
            check_status(what, icall);                                                   \
            complete(what, req, nb);                                                     \
        } else {                                                                         \
            check_status(what, call);                                                    \
        }                                                                                \
    } while (0)

/* coll_set_v.c */
void test_alltoall(rcomm_comm_t *comm, rcomm_dtype_t dt, size_t n, int in_place, int nb);
void test_allgatherv(rcomm_comm_t *comm, rcomm_dtype_t dt, size_t n, int layout,
                     int in_place, int nb);
void test_alltoallv(rcomm_comm_t *comm, rcomm_dtype_t dt, size_t n, int layout,
                    int in_place, int nb);

/* coll_set_p2p.c */
void test_p2p(rcomm_comm_t *comm);
void test_in_flight(rcomm_comm_t *comm);

#endif
