/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Conformance check of the rest of the collective set, run by every rank
 * under rcomm-run (see test_coll.c), in the manner of coll_check.c: reduce,
 * gather, scatter (here), alltoall, allgatherv, alltoallv (coll_set_v.c),
 * send, recv, sendrecv (coll_set_p2p.c); each blocking and nonblocking
 * (completed by rcomm_wait or by rcomm_test), in every datatype (reduce: with
 * every op), on counts 0, 1, p-1, p, a prime and 1000003, from every root,
 * in place and out of place in each way rcomm.h allows, and with several
 * requests of every kind in flight at once.
 *
 * Reduction inputs are exact_inputs.h's, exact in every type, so results are
 * compared bit for bit with references computed here; data that is only
 * moved is a hash of (block, index), so that a block from the wrong rank or
 * at the wrong offset shows. Every buffer has poisoned guards around it;
 * what a call must not write (a non-root's receive buffer, the gaps between
 * variable blocks, the guards) must still be poison afterwards, and inputs
 * out of place must be unchanged.
 *
 * usage: coll_set_check [--quick] [--reduce-only]
 *   --quick: skip the 1000003-element counts
 *   --reduce-only: only the reduce cases (test_coll.c runs the program again
 *       with the other RCOMM_REDUCE_ALGO)
 * Exit status 0 when every case passed on this rank.
 */
#include "check_prog.h"
#include "coll_set.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int rank, size, quick;
static int failures, cases;

/* ---- helpers --------------------------------------------------------------- */

void failf(const char *what, const char *fmt, ...)
{
    va_list ap;

    failures++;
    if (failures > 30)
        return;
    fprintf(stderr, "FAIL rank %d: %s: ", rank, what);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

void count_case(void)
{
    cases++;
}

int compare(const char *what, const void *got, const void *want, size_t n,
            rcomm_dtype_t dt)
{
    size_t es = rcomm_dtype_size(dt);

    cases++;
    if (memcmp(got, want, n * es) == 0)
        return 0;
    for (size_t i = 0; i < n; i++) {
        if (memcmp((const char *)got + i * es, (const char *)want + i * es, es) != 0) {
            failf(what, "element %zu of %zu is %g, expected %g", i, n,
                  exact_get(got, i, dt), exact_get(want, i, dt));
            return -1;
        }
    }
    return 0;
}

void check_status(const char *what, rcomm_status_t st)
{
    if (st != RCOMM_OK) {
        fprintf(stderr, "FAIL rank %d: %s returned %s: %s\n", rank, what,
                rcomm_strerror(st), rcomm_last_error());
        exit(1); /* the communicator is gone; nothing else can run */
    }
}

void complete(const char *what, rcomm_request_t *req, int how)
{
    rcomm_status_t st;

    if (how == 1) {
        check_status(what, rcomm_wait(req));
        return;
    }
    while ((st = rcomm_test(req)) == RCOMM_INPROGRESS)
        ;
    check_status(what, st);
}

char *guarded(size_t bytes)
{
    char *p = malloc(bytes + 2 * GUARD);

    if (!p) {
        fprintf(stderr, "rank %d: out of memory (%zu bytes)\n", rank, bytes);
        exit(1);
    }
    memset(p, EXACT_POISON, bytes + 2 * GUARD);
    return p + GUARD;
}

void guarded_free(char *p)
{
    free(p - GUARD);
}

static int poisoned(const char *what, const char *where, const char *p, size_t bytes)
{
    for (size_t k = 0; k < bytes; k++)
        if ((unsigned char)p[k] != EXACT_POISON) {
            failf(what, "%s: byte %zu of %zu was written", where, k, bytes);
            return -1;
        }
    return 0;
}

int guards_ok(const char *what, const char *p, size_t bytes)
{
    cases++;
    if (poisoned(what, "guard before the buffer", p - GUARD, GUARD) != 0)
        return -1;
    return poisoned(what, "guard after the buffer", p + bytes, GUARD);
}

int untouched(const char *what, const char *p, size_t bytes)
{
    cases++;
    return poisoned(what, "a buffer the call must not write", p, bytes);
}

char *snapshot(const void *p, size_t bytes)
{
    char *s = malloc(bytes + 1);

    if (!s) {
        fprintf(stderr, "rank %d: out of memory (%zu bytes)\n", rank, bytes);
        exit(1);
    }
    memcpy(s, p, bytes);
    return s;
}

int unchanged(const char *what, const void *now, const char *snap, size_t bytes)
{
    cases++;
    if (memcmp(now, snap, bytes) == 0)
        return 0;
    for (size_t k = 0; k < bytes; k++)
        if (((const char *)now)[k] != snap[k]) {
            failf(what, "input byte %zu of %zu changed", k, bytes);
            return -1;
        }
    return 0;
}

static const char *nb_name(int nb)
{
    return nb == 0 ? "" : nb == 1 ? " nonblocking/wait" : " nonblocking/test";
}

/* Count 0 moves nothing: buffers may be NULL (on even roots, say). */
static void null_if_empty(size_t n, int root, const void **sarg, void **rarg)
{
    if (n != 0 || root % 2)
        return;
    if (*sarg != RCOMM_IN_PLACE)
        *sarg = NULL;
    if (*rarg != RCOMM_IN_PLACE)
        *rarg = NULL;
}

/* ---- reduce ------------------------------------------------------------------ */

static const char *reduce_modes[] = {"out-of-place", "RCOMM_IN_PLACE",
                                     "sendbuf==recvbuf"};

/* mode: 0 out of place, at the root 1 sendbuf = RCOMM_IN_PLACE and 2
 * sendbuf = recvbuf. Other ranks are out of place; their recvbuf, which does
 * not matter, is NULL, a buffer that must stay poison, or (mode 2) their
 * sendbuf, which must stay unchanged. */
static void test_reduce(rcomm_comm_t *comm, rcomm_dtype_t dt, rcomm_op_t op, size_t n,
                        int root, int mode, int nb)
{
    const size_t es = rcomm_dtype_size(dt), bytes = n * es;
    const int am_root = rank == root, in_place = am_root && mode;
    char *send = guarded(bytes), *recv = guarded(bytes), *ref = malloc(bytes + 1), *orig;
    const void *sarg = send;
    void *rarg = recv;
    char what[160];

    snprintf(what, sizeof(what), "reduce %s %s count=%zu root=%d %s%s",
             rcomm_dtype_name(dt), rcomm_op_name(op), n, root, reduce_modes[mode],
             nb_name(nb));
    exact_expect_range(ref, 0, n, op, dt, size);
    if (in_place) {
        exact_fill(recv, n, rank, op, dt);
        sarg = mode == 1 ? RCOMM_IN_PLACE : recv;
    } else {
        exact_fill(send, n, rank, op, dt);
    }
    orig = snapshot(send, bytes);
    if (!am_root && mode == 2)
        rarg = send;
    else if (!am_root && (n + (size_t)root) % 2)
        rarg = NULL;
    null_if_empty(n, root, &sarg, &rarg);
    RUN(what, nb, rcomm_reduce(comm, sarg, rarg, n, dt, op, root),
        rcomm_ireduce(comm, sarg, rarg, n, dt, op, root, &req));
    if (am_root)
        compare(what, recv, ref, n, dt);
    else
        untouched(what, recv, bytes);
    unchanged(what, send, orig, bytes);
    guards_ok(what, send, bytes);
    guards_ok(what, recv, bytes);
    guarded_free(send);
    guarded_free(recv);
    free(ref);
    free(orig);
}

/* ---- gather and scatter --------------------------------------------------- */

static void test_gather(rcomm_comm_t *comm, rcomm_dtype_t dt, size_t n, int root,
                        int in_place, int nb)
{
    const size_t es = rcomm_dtype_size(dt), bytes = n * es, total = bytes * (size_t)size;
    const int am_root = rank == root, ip = am_root && in_place;
    char *send = guarded(bytes), *recv = guarded(total), *ref = malloc(total + 1), *orig;
    const void *sarg = send;
    void *rarg = recv;
    char what[160];

    snprintf(what, sizeof(what), "gather %s count=%zu root=%d %s%s", rcomm_dtype_name(dt),
             n, root, in_place ? "in-place" : "out-of-place", nb_name(nb));
    for (int r = 0; r < size; r++)
        moved_fill(ref + (size_t)r * bytes, n, (uint64_t)r, dt);
    if (ip) { /* the root's own block already in place */
        moved_fill(recv + (size_t)rank * bytes, n, (uint64_t)rank, dt);
        sarg = RCOMM_IN_PLACE;
    } else {
        moved_fill(send, n, (uint64_t)rank, dt);
    }
    orig = snapshot(send, bytes);
    if (!am_root && (n + (size_t)root) % 2)
        rarg = NULL;
    null_if_empty(n, root, &sarg, &rarg);
    RUN(what, nb, rcomm_gather(comm, sarg, rarg, n, dt, root),
        rcomm_igather(comm, sarg, rarg, n, dt, root, &req));
    if (am_root)
        compare(what, recv, ref, n * (size_t)size, dt);
    else
        untouched(what, recv, total);
    unchanged(what, send, orig, bytes);
    guards_ok(what, send, bytes);
    guards_ok(what, recv, total);
    guarded_free(send);
    guarded_free(recv);
    free(ref);
    free(orig);
}

/* Block r of root's scatter input. */
static uint64_t scatter_key(int root, int r)
{
    return 1000 + (uint64_t)root * 4099 + (uint64_t)r;
}

/* In place: recvbuf = RCOMM_IN_PLACE at the root, whose block stays in
 * sendbuf (so all of sendbuf is unchanged there). */
static void test_scatter(rcomm_comm_t *comm, rcomm_dtype_t dt, size_t n, int root,
                         int in_place, int nb)
{
    const size_t es = rcomm_dtype_size(dt), bytes = n * es, total = bytes * (size_t)size;
    const int am_root = rank == root, ip = am_root && in_place;
    char *send = guarded(total), *recv = guarded(bytes), *ref = malloc(bytes + 1), *orig;
    const void *sarg = send;
    void *rarg = ip ? RCOMM_IN_PLACE : recv;
    char what[160];

    snprintf(what, sizeof(what), "scatter %s count=%zu root=%d %s%s",
             rcomm_dtype_name(dt), n, root, in_place ? "in-place" : "out-of-place",
             nb_name(nb));
    if (am_root)
        for (int r = 0; r < size; r++)
            moved_fill(send + (size_t)r * bytes, n, scatter_key(root, r), dt);
    moved_fill(ref, n, scatter_key(root, rank), dt);
    orig = snapshot(send, total);
    /* sendbuf does not matter off the root: NULL, or one that stays poison. */
    if (!am_root && (n + (size_t)root) % 2)
        sarg = NULL;
    null_if_empty(n, root, &sarg, &rarg);
    RUN(what, nb, rcomm_scatter(comm, sarg, rarg, n, dt, root),
        rcomm_iscatter(comm, sarg, rarg, n, dt, root, &req));
    if (ip)
        untouched(what, recv, bytes);
    else
        compare(what, recv, ref, n, dt);
    unchanged(what, send, orig, total);
    guards_ok(what, send, total);
    guards_ok(what, recv, bytes);
    guarded_free(send);
    guarded_free(recv);
    free(ref);
    free(orig);
}

/* ---- the plan ------------------------------------------------------------------ */

/*
 * Each call is slow next to its checks (7 latency-bound steps on 8 ranks
 * sharing 2 cores), so the plan covers each dimension rather than their
 * product: every count with every way of calling (root, in-place mode,
 * blocking or not), every dtype (for reduce: with every op) on a count that
 * rotates with it. Counts of more than one segment run in fewer
 * combinations, and their moved data in one type of each size.
 */
static int big(size_t n)
{
    return n > 100000;
}

static int big_dtype(int dt)
{
    return dt == RCOMM_F64 || dt == RCOMM_I32 || dt == RCOMM_F16 || dt == RCOMM_U8;
}

/* Blocking (0) or not (1, 2) for case k whose mode is k % 3: over nine
 * cases in a row, every pair of the two. */
static int twist(int k)
{
    return (k + k / 3) % 3;
}

/* Every dtype with every op (on non-zero counts); every root with every
 * mode; every count from every root. */
static void run_reduce(rcomm_comm_t *comm, const size_t *counts, int ncounts)
{
    const int small = big(counts[ncounts - 1]) ? ncounts - 1 : ncounts;

    for (int dt = 0; dt < RCOMM_DTYPE_COUNT; dt++)
        for (int op = 0; op < RCOMM_OP_COUNT; op++) {
            int k = dt * RCOMM_OP_COUNT + op;
            test_reduce(comm, (rcomm_dtype_t)dt, (rcomm_op_t)op,
                        counts[1 + (dt + op) % (small - 1)], k % size, k % 3, twist(k));
            /* The large count: every dtype with SUM, every op with F32 (the
             * kernels are the small counts'; coll_check.c says why). */
            if (small < ncounts && (dt == RCOMM_F32 || op == RCOMM_SUM))
                test_reduce(comm, (rcomm_dtype_t)dt, (rcomm_op_t)op, counts[small],
                            (k + 1) % size, (k + 1) % 3, (k + 2) % 3);
        }
    for (int root = 0; root < size; root++)
        for (int mode = 0; mode < 3; mode++) {
            int k = root * 3 + mode;
            test_reduce(comm, (rcomm_dtype_t)(k % RCOMM_DTYPE_COUNT),
                        (rcomm_op_t)(k % RCOMM_OP_COUNT), counts[k % small], root, mode,
                        twist(k));
        }
    for (int c = 0; c < small; c++)
        for (int root = 0; root < size; root++) {
            int k = c * size + root;
            test_reduce(comm, (rcomm_dtype_t)((k + 3) % RCOMM_DTYPE_COUNT),
                        (rcomm_op_t)((k + 2) % RCOMM_OP_COUNT), counts[c], root, k % 3,
                        twist(k + 1));
        }
}

/* The same for gather and scatter: every dtype on every count, every count
 * from every root, both ways. */
static void run_rooted(rcomm_comm_t *comm, const size_t *counts, int ncounts)
{
    for (int c = 0; c < ncounts; c++)
        for (int dt = 0; dt < RCOMM_DTYPE_COUNT; dt++) {
            int k = c * RCOMM_DTYPE_COUNT + dt;
            if (big(counts[c]) && !big_dtype(dt))
                continue;
            test_gather(comm, (rcomm_dtype_t)dt, counts[c], k % size, k % 2, k % 3);
            test_scatter(comm, (rcomm_dtype_t)dt, counts[c], (k + 1) % size, (k + 1) % 2,
                         (k + 1) % 3);
        }
    for (int c = 0; c < ncounts; c++)
        for (int root = 0; root < size && !big(counts[c]); root++) {
            int k = c * size + root;
            rcomm_dtype_t dt = (rcomm_dtype_t)((k + 2) % RCOMM_DTYPE_COUNT);
            test_gather(comm, dt, counts[c], root, (k + 1) % 2, (k + 2) % 3);
            test_scatter(comm, dt, counts[c], root, k % 2, k % 3);
        }
}

/* alltoall both ways; the variable calls in both layouts (packed by NULL
 * displacements, or with gaps) both ways: every way on every count, and
 * every dtype. */
static void run_all_to_all(rcomm_comm_t *comm, const size_t *counts, int ncounts)
{
    for (int c = 0; c < ncounts; c++)
        for (int v = 0; v < 4; v++) {
            int k = c * 4 + v, dt = k % RCOMM_DTYPE_COUNT;
            if (big(counts[c])) /* p blocks of it: small types */
                dt = v % 2 ? RCOMM_F16 : RCOMM_U8;
            if (v < 2)
                test_alltoall(comm, (rcomm_dtype_t)dt, counts[c], v, k % 3);
            test_allgatherv(comm, (rcomm_dtype_t)dt, counts[c], v / 2, v % 2, k % 3);
            test_alltoallv(comm, (rcomm_dtype_t)dt, counts[c], v / 2, v % 2, (k + 1) % 3);
        }
    for (int dt = 0; dt < RCOMM_DTYPE_COUNT; dt++) {
        const int small = big(counts[ncounts - 1]) ? ncounts - 1 : ncounts;
        const size_t n = counts[1 + dt % (small - 1)];
        test_alltoall(comm, (rcomm_dtype_t)dt, n, dt % 2, (dt + 1) % 3);
        test_allgatherv(comm, (rcomm_dtype_t)dt, n, dt % 2, (dt / 2) % 2, dt % 3);
        test_alltoallv(comm, (rcomm_dtype_t)dt, n, (dt / 2) % 2, dt % 2, (dt + 2) % 3);
    }
}

int main(int argc, char **argv)
{
    const char *algo = getenv("RCOMM_REDUCE_ALGO");
    int reduce_only = 0;
    rcomm_comm_t *comm;
    size_t counts[6];
    double t = 0, secs[4] = {0};
    int ncounts = 0;

    for (int a = 1; a < argc; a++) {
        if (strcmp(argv[a], "--quick") == 0) {
            quick = 1;
        } else if (strcmp(argv[a], "--reduce-only") == 0) {
            reduce_only = 1;
        } else {
            fprintf(stderr, "usage: coll_set_check [--quick] [--reduce-only]\n");
            return 2;
        }
    }
    check_keep_heap();
    check_status("create", rcomm_comm_create_from_env(&comm));
    rcomm_comm_rank(comm, &rank);
    rcomm_comm_size(comm, &size);
    counts[ncounts++] = 0;
    counts[ncounts++] = 1;
    if (size > 2)
        counts[ncounts++] = (size_t)size - 1;
    if (size > 1)
        counts[ncounts++] = (size_t)size;
    counts[ncounts++] = 1009; /* prime, several segments with a small segment size */
    if (!quick)
        counts[ncounts++] = 1000003;

    check_lap(&t);
    run_reduce(comm, counts, ncounts);
    secs[0] = check_lap(&t);
    if (!reduce_only) {
        run_rooted(comm, counts, ncounts);
        secs[1] = check_lap(&t);
        run_all_to_all(comm, counts, ncounts);
        secs[2] = check_lap(&t);
        test_p2p(comm);
        test_in_flight(comm);
        secs[3] = check_lap(&t);
    }
    check_status("destroy", rcomm_comm_destroy(comm));
    if (rank == 0 || failures)
        printf("coll_set_check%s (reduce %s): %d ranks: %d cases, %d failed on rank %d "
               "(seconds: reduce %.1f, gather/scatter %.1f, all-to-all %.1f, p2p %.1f)\n",
               reduce_only ? " --reduce-only" : "", algo ? algo : "auto", size, cases,
               failures, rank, secs[0], secs[1], secs[2], secs[3]);
    return failures ? 1 : 0;
}
