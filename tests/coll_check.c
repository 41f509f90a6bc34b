/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Collective conformance check, run by every rank under rcomm-run (see
 * test_coll.c). Every collective, algorithm, datatype and op, on counts 0, 1,
 * p-1, p, a prime, and more than one segment, in place and out of place.
 * Inputs are small integers chosen so that every result is exact in every
 * type (even f16 and bf16), so results are compared bit for bit with a
 * reference computed here independently of the library's kernels.
 *
 * usage: coll_check [--quick] [--mapped]
 *   --quick: skip the 1000003-element counts
 *   --mapped: every rank shares memory and can map its peers' (shm with
 *             cross-memory attach): an allreduce between buffers from
 *             rcomm_mem_alloc must then send no message (from 32 KiB on
 *             where the ranks outnumber the cores, allreduce_mapped.c),
 *             and one with a rank's buffer from malloc must, below the
 *             staged path's 64 KiB (allreduce_staged.c; blocking, unless
 *             RCOMM_SHM_STAGED=0), from which it must not
 * Exit status 0 when every case passed on this rank.
 */
#include <inttypes.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check_prog.h"
#include "perf/exact_inputs.h"
#include "rcomm.h"

static int rank, size, failures, cases, expect_mapped, oversubscribed, no_staged;

static void fail(const char *what, size_t i, double got, double want)
{
    failures++;
    if (failures <= 20)
        fprintf(stderr, "FAIL rank %d: %s: element %zu is %g, expected %g\n", rank, what,
                i, got, want);
}

/* Compare bit for bit; report the first difference. */
static int compare(const char *what, const void *got, const void *want, size_t n,
                   rcomm_dtype_t dt)
{
    size_t es = rcomm_dtype_size(dt);
    cases++;
    if (memcmp(got, want, n * es) == 0)
        return 0;
    for (size_t i = 0; i < n; i++) {
        if (memcmp((const char *)got + i * es, (const char *)want + i * es, es) != 0) {
            fail(what, i, exact_get(got, i, dt), exact_get(want, i, dt));
            return -1;
        }
    }
    return 0;
}

static void check_status(const char *what, rcomm_status_t st)
{
    if (st != RCOMM_OK) {
        fprintf(stderr, "FAIL rank %d: %s returned %s: %s\n", rank, what,
                rcomm_strerror(st), rcomm_last_error());
        exit(1); /* the communicator is gone; nothing else can run */
    }
}

/* Where an allreduce's buffers come from: malloc; rcomm_mem_alloc (where
 * every rank shares memory, the mapped path, allreduce_mapped.c), a few
 * elements into the allocation; the same but rank 0's send buffer from
 * malloc (every rank must then take the generic path together). */
enum { MEM_MALLOC, MEM_RCOMM, MEM_MIXED };
static const char *const mem_names[] = {"", " rcomm_mem_alloc", " rank 0 malloc"};

static char *buf_get(rcomm_comm_t *comm, size_t bytes, int mem, int is_send)
{
    void *p;

    if (mem == MEM_MALLOC || (mem == MEM_MIXED && is_send && rank == 0))
        return malloc(bytes + 1);
    check_status("rcomm_mem_alloc", rcomm_mem_alloc(comm, bytes + 64, &p));
    return (char *)p + 16;
}

static void buf_put(rcomm_comm_t *comm, char *b, int mem, int is_send)
{
    if (mem == MEM_MALLOC || (mem == MEM_MIXED && is_send && rank == 0))
        free(b);
    else
        check_status("rcomm_mem_free", rcomm_mem_free(comm, b - 16));
}

/* One allreduce, blocking, or (nb) started with rcomm_iallreduce and
 * waited for. */
static rcomm_status_t allreduce_call(rcomm_comm_t *comm, const void *send, void *recv,
                                     size_t n, rcomm_dtype_t dt, rcomm_op_t op,
                                     rcomm_algo_t algo, int nb)
{
    rcomm_request_t *req;
    rcomm_status_t st;

    if (!nb)
        return rcomm_allreduce_with(comm, send, recv, n, dt, op, algo);
    if ((st = rcomm_iallreduce(comm, send, recv, n, dt, op, algo, &req)) != RCOMM_OK)
        return st;
    return rcomm_wait(req);
}

/* in_place: 0 out of place, 1 in place, 2 in place on odd ranks only. */
static void test_allreduce_in(rcomm_comm_t *comm, rcomm_algo_t algo, rcomm_dtype_t dt,
                              rcomm_op_t op, size_t n, int in_place, int mem, int nb)
{
    static const char *const placed[] = {"out", "in-place", "in-place on odd ranks"};
    size_t es = rcomm_dtype_size(dt);
    char *send = buf_get(comm, n * es, mem, 1), *recv = buf_get(comm, n * es, mem, 0),
         *ref = malloc(n * es + 1), *orig = malloc(n * es + 1), what[160];
    const size_t bytes = n * es;
    const bool staged = algo == RCOMM_ALGO_AUTO && !nb && !no_staged && bytes >= 65536;
    rcomm_stats_t before, after;

    snprintf(what, sizeof(what), "%sallreduce %s %s %s count=%zu %s%s", nb ? "i" : "",
             rcomm_algo_name(algo), rcomm_dtype_name(dt), rcomm_op_name(op), n,
             placed[in_place], mem_names[mem]);
    in_place = in_place == 2 ? rank & 1 : in_place;
    exact_fill(send, n, rank, op, dt);
    memcpy(orig, send, n * es);
    memset(recv, 0x5a, n * es);
    exact_expect_range(ref, 0, n, op, dt, size);
    check_status("stats", rcomm_comm_stats(comm, &before));
    if (in_place) {
        check_status(what,
                     allreduce_call(comm, RCOMM_IN_PLACE, send, n, dt, op, algo, nb));
        compare(what, send, ref, n, dt);
    } else {
        check_status(what, allreduce_call(comm, send, recv, n, dt, op, algo, nb));
        if (compare(what, recv, ref, n, dt) == 0)
            compare("allreduce left sendbuf unchanged", send, orig, n, dt);
    }
    check_status("stats", rcomm_comm_stats(comm, &after));
    /* Where the mapped path is tried: blocking above the slots' 256 bytes
     * (32 KiB on more ranks than cores), nonblocking from 64 KiB; where the
     * staged path serves (algo auto: it is the mapped path's fallback). */
    if (expect_mapped && (mem != MEM_MALLOC || staged) && size > 1 &&
        (nb ? bytes >= 65536u : bytes > 256 && (!oversubscribed || bytes >= 32768))) {
        /* Blocking, the ranks meet in shared memory: no message. Nonblocking,
         * by messages: where the buffers are and a vote, under 128 bytes a
         * peer; the generic path sends the data (64 KiB and up). */
        const uint64_t msgs = after.messages_sent - before.messages_sent,
                       sent = after.bytes_sent - before.bytes_sent;
        const bool quiet = nb ? sent < 128u * (unsigned)(size - 1) : msgs == 0;
        cases++;
        if (quiet != (mem == MEM_RCOMM || staged)) {
            strcat(what, quiet ? ": generic path expected, no data sent"
                               : ": mapped or staged path expected, data sent");
            fail(what, 0, (double)(nb ? sent : msgs), 0);
        }
    }
    buf_put(comm, send, mem, 1);
    buf_put(comm, recv, mem, 0);
    free(ref);
    free(orig);
}

/* The staged path (allreduce_staged.c): blocking allreduces from 64 KiB
 * between buffers the peers cannot map, in pieces of 1 MiB, three stages
 * taken in turn over the calls. Counts at the pieces' edges one after
 * another (1 to 4 pieces, the stages' turn shifting), odd datatypes and
 * ops, in place on some ranks only, and one rank's buffer the only one
 * from malloc. Over TCP too, where every rank is on this host. */
static void test_staged(rcomm_comm_t *comm)
{
    const size_t per = (1u << 20) / 4, p = (size_t)size;
    const size_t n[] = {16384,           per - 1,     per,  per + 1,
                        2 * per + p - 1, 3 * per + 7, 16385};
    static const rcomm_dtype_t dt[] = {RCOMM_F64, RCOMM_U8,   RCOMM_F16,
                                       RCOMM_I64, RCOMM_BF16, RCOMM_I32};
    static const rcomm_op_t op[] = {RCOMM_MAX,  RCOMM_SUM, RCOMM_AVG,
                                    RCOMM_PROD, RCOMM_MIN, RCOMM_AVG};

    for (size_t k = 0; k < sizeof(n) / sizeof(n[0]); k++)
        test_allreduce_in(comm, RCOMM_ALGO_AUTO, RCOMM_F32, RCOMM_SUM, n[k], (int)(k % 3),
                          MEM_MALLOC, 0);
    /* A piece and 3 elements more, of each type. */
    for (size_t k = 0; k < sizeof(dt) / sizeof(dt[0]); k++)
        test_allreduce_in(comm, RCOMM_ALGO_AUTO, dt[k], op[k],
                          (per * 4 / rcomm_dtype_size(dt[k])) + 3, (int)(k % 3),
                          MEM_MALLOC, 0);
    test_allreduce_in(comm, RCOMM_ALGO_AUTO, RCOMM_F32, RCOMM_SUM, per + 1, 0, MEM_MIXED,
                      0);
    test_allreduce_in(comm, RCOMM_ALGO_AUTO, RCOMM_F32, RCOMM_SUM, per + 1, 1, MEM_MIXED,
                      0);
}

/* Gradient buckets' way: several nonblocking allreduces in flight at once,
 * in place in rcomm_mem_alloc memory (the mapped path where every rank
 * shares memory), one of them with rank 0's buffer from malloc (the
 * generic path, beside the others), waited for in reverse order. */
static void test_iallreduce_flight(rcomm_comm_t *comm)
{
    enum { K = 4 };
    const size_t n[K] = {300007, 4099, 70001, 65536};
    const int mem[K] = {MEM_RCOMM, MEM_RCOMM, MEM_MIXED, MEM_RCOMM};
    rcomm_request_t *req[K];
    char *buf[K], *ref[K], what[96];

    for (int k = 0; k < K; k++) {
        buf[k] = buf_get(comm, n[k] * 4, mem[k], 1);
        ref[k] = malloc(n[k] * 4);
        exact_fill(buf[k], n[k], rank + k, RCOMM_SUM, RCOMM_F32);
    }
    /* Every call its own data (rank + k's fill: small integers, so the sum
     * is exact in any order), summed here as one process would. */
    for (int k = 0; k < K; k++) {
        char *one = malloc(n[k] * 4), *acc = calloc(n[k], 4);
        for (int r = 0; r < size; r++) {
            exact_fill(one, n[k], r + k, RCOMM_SUM, RCOMM_F32);
            for (size_t i = 0; i < n[k]; i++)
                ((float *)acc)[i] += ((float *)one)[i];
        }
        memcpy(ref[k], acc, n[k] * 4);
        free(one);
        free(acc);
    }
    for (int k = 0; k < K; k++)
        check_status("rcomm_iallreduce in flight",
                     rcomm_iallreduce(comm, RCOMM_IN_PLACE, buf[k], n[k], RCOMM_F32,
                                      RCOMM_SUM, RCOMM_ALGO_AUTO, &req[k]));
    for (int k = K - 1; k >= 0; k--) {
        snprintf(what, sizeof(what), "iallreduce #%d of %d in flight, count=%zu%s", k, K,
                 n[k], mem_names[mem[k]]);
        check_status(what, rcomm_wait(req[k]));
        compare(what, buf[k], ref[k], n[k], RCOMM_F32);
    }
    for (int k = 0; k < K; k++) {
        buf_put(comm, buf[k], mem[k], 1);
        free(ref[k]);
    }
}

static void test_allreduce(rcomm_comm_t *comm, rcomm_algo_t algo, rcomm_dtype_t dt,
                           rcomm_op_t op, size_t n, int in_place)
{
    test_allreduce_in(comm, algo, dt, op, n, in_place, MEM_MALLOC, 0);
}

static void test_broadcast(rcomm_comm_t *comm, rcomm_dtype_t dt, size_t n, int root)
{
    size_t es = rcomm_dtype_size(dt);
    char *buf = malloc(n * es + 1), *ref = malloc(n * es + 1), what[96];

    snprintf(what, sizeof(what), "broadcast %s count=%zu root=%d", rcomm_dtype_name(dt),
             n, root);
    exact_fill(ref, n, root, RCOMM_MIN, dt);
    if (rank == root)
        memcpy(buf, ref, n * es);
    else
        memset(buf, 0x5a, n * es);
    check_status(what, rcomm_broadcast(comm, buf, n, dt, root));
    compare(what, buf, ref, n, dt);
    free(buf);
    free(ref);
}

static void test_allgather(rcomm_comm_t *comm, rcomm_dtype_t dt, size_t n, int in_place)
{
    size_t es = rcomm_dtype_size(dt), total = n * (size_t)size;
    char *send = malloc(n * es + 1), *recv = malloc(total * es + 1),
         *ref = malloc(total * es + 1), what[96];

    snprintf(what, sizeof(what), "allgather %s count=%zu %s", rcomm_dtype_name(dt), n,
             in_place ? "in-place" : "out");
    for (int r = 0; r < size; r++)
        exact_fill(ref + (size_t)r * n * es, n, r, RCOMM_MIN, dt);
    exact_fill(send, n, rank, RCOMM_MIN, dt);
    memset(recv, 0x5a, total * es);
    if (in_place) {
        memcpy(recv + (size_t)rank * n * es, send, n * es);
        check_status(what, rcomm_allgather(comm, RCOMM_IN_PLACE, recv, n, dt));
    } else {
        check_status(what, rcomm_allgather(comm, send, recv, n, dt));
    }
    compare(what, recv, ref, total, dt);
    free(send);
    free(recv);
    free(ref);
}

static void test_reduce_scatter(rcomm_comm_t *comm, rcomm_dtype_t dt, rcomm_op_t op,
                                size_t n, int in_place)
{
    size_t es = rcomm_dtype_size(dt), total = n * (size_t)size;
    char *send = malloc(total * es + 1), *recv = malloc(n * es + 1),
         *ref = malloc(n * es + 1), what[128];

    snprintf(what, sizeof(what), "reduce_scatter %s %s count=%zu %s",
             rcomm_dtype_name(dt), rcomm_op_name(op), n, in_place ? "in-place" : "out");
    /* Element j of the full vector is input j; block r is [r n, (r+1) n). */
    exact_fill(send, total, rank, op, dt);
    exact_expect_range(ref, (size_t)rank * n, n, op, dt, size);
    if (in_place) {
        check_status(what, rcomm_reduce_scatter(comm, RCOMM_IN_PLACE, send, n, dt, op));
        compare(what, send + (size_t)rank * n * es, ref, n, dt);
    } else {
        memset(recv, 0x5a, n * es);
        check_status(what, rcomm_reduce_scatter(comm, send, recv, n, dt, op));
        compare(what, recv, ref, n, dt);
    }
    free(send);
    free(recv);
    free(ref);
}

/* Nobody leaves the barrier before everyone has entered it: each rank leaves
 * a file behind before entering and checks for all files after leaving. */
static void test_barrier(rcomm_comm_t *comm)
{
    char dir[256], path[300];
    int32_t job = (int32_t)getpid();

    /* A directory of this job's alone (rank 0's pid): two jobs at once
     * (make -j, each started by Slurm or mpirun without RCOMM_ADDR) must
     * not find or remove each other's files. */
    check_status("broadcast of rank 0's pid",
                 rcomm_broadcast(comm, &job, 1, RCOMM_I32, 0));
    snprintf(dir, sizeof(dir), "/tmp/rcomm-barrier-%" PRId32, job);
    mkdir(dir, 0700);
    for (int round = 0; round < 3; round++) {
        usleep((useconds_t)(((rank * 7 + round * 3) % size) * 20000));
        snprintf(path, sizeof(path), "%s/%d.%d", dir, round, rank);
        FILE *f = fopen(path, "w");
        if (f)
            fclose(f);
        check_status("barrier", rcomm_barrier(comm));
        cases++;
        for (int r = 0; r < size; r++) {
            snprintf(path, sizeof(path), "%s/%d.%d", dir, round, r);
            if (access(path, F_OK) != 0)
                fail("barrier: left before rank entered", (size_t)r, 0, 1);
        }
    }
    check_status("barrier", rcomm_barrier(comm));
    for (int round = 0; round < 3; round++) {
        snprintf(path, sizeof(path), "%s/%d.%d", dir, round, rank);
        unlink(path);
    }
    check_status("barrier", rcomm_barrier(comm));
    rmdir(dir);
}

/* Several collectives in flight at once, completed in reverse order. */
static void test_nonblocking(rcomm_comm_t *comm)
{
    enum { K = 4 };
    const size_t n = 5000;
    rcomm_request_t *req[K + 1];
    float *buf[K], *ref = malloc(n * sizeof(float));
    int root = size - 1;
    int32_t b[64];

    for (int k = 0; k < K; k++) {
        buf[k] = malloc(n * sizeof(float));
        exact_fill(buf[k], n, rank, RCOMM_SUM, RCOMM_F32);
        check_status("iallreduce",
                     rcomm_iallreduce(comm, RCOMM_IN_PLACE, buf[k], n, RCOMM_F32,
                                      RCOMM_SUM, (rcomm_algo_t)(k % RCOMM_ALGO_COUNT),
                                      &req[k]));
    }
    for (int i = 0; i < 64; i++)
        b[i] = rank == root ? i * 3 : -1;
    check_status("ibroadcast", rcomm_ibroadcast(comm, b, 64, RCOMM_I32, root, &req[K]));
    for (int k = K; k >= 0; k--)
        check_status("wait", rcomm_wait(req[k]));
    exact_expect_range(ref, 0, n, RCOMM_SUM, RCOMM_F32, size);
    for (int k = 0; k < K; k++) {
        compare("nonblocking iallreduce", buf[k], ref, n, RCOMM_F32);
        free(buf[k]);
    }
    cases++;
    for (int i = 0; i < 64; i++)
        if (b[i] != i * 3)
            fail("nonblocking ibroadcast", (size_t)i, b[i], i * 3);
    /* rcomm_test drives a request to completion too. */
    float x = (float)rank, want = (float)(size * (size - 1) / 2);
    rcomm_request_t *t;
    rcomm_status_t st;
    check_status("iallreduce", rcomm_iallreduce(comm, RCOMM_IN_PLACE, &x, 1, RCOMM_F32,
                                                RCOMM_SUM, RCOMM_ALGO_AUTO, &t));
    while ((st = rcomm_test(t)) == RCOMM_INPROGRESS)
        ;
    check_status("test", st);
    compare("rcomm_test", &x, &want, 1, RCOMM_F32);
    free(ref);
}

/* Past 100000 elements (more than a segment: the pipelines and slices) a
 * case adds nothing that the same algorithm at 4099 elements did not test
 * for its datatype and op, whose kernels are the same at every count: there
 * every datatype runs with SUM, every op with F32, and moving data without
 * an op every element size once. Each of these cases takes 100000 times the
 * time of a small one (coll_check on 8 ranks: 67 s with all, 1.5 without). */
static int large(size_t count)
{
    return count > 100000;
}

static int wanted(size_t count, int dt, int op)
{
    return !large(count) || dt == RCOMM_F32 || op == RCOMM_SUM;
}

static int wanted_size(size_t count, int dt)
{
    return !large(count) || dt == RCOMM_F32 || dt == RCOMM_F64 || dt == RCOMM_F16 ||
           dt == RCOMM_U8;
}

int main(int argc, char **argv)
{
    double t = 0, secs[5];
    int quick = 0;
    rcomm_comm_t *comm;
    size_t counts[6];
    int ncounts = 0;

    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--quick") == 0)
            quick = 1;
        else if (strcmp(argv[i], "--mapped") == 0)
            expect_mapped = 1;
        else {
            fprintf(stderr, "coll_check: unknown argument %s\n", argv[i]);
            return 2;
        }
    }
    no_staged =
        getenv("RCOMM_SHM_STAGED") && strcmp(getenv("RCOMM_SHM_STAGED"), "0") == 0;
    check_keep_heap();
    check_status("create", rcomm_comm_create_from_env(&comm));
    rcomm_comm_rank(comm, &rank);
    rcomm_comm_size(comm, &size);
    {
        /* As core/comm.c decides it, every rank on this host: more ranks
         * than cores in the union of their affinities (rcomm-run pins). */
        static unsigned char on[CPU_SETSIZE];
        const char *o = getenv("RCOMM_OVERSUBSCRIBED");
        cpu_set_t cores;
        int ncores = 0;

        CPU_ZERO(&cores);
        check_status("sched_getaffinity", sched_getaffinity(0, sizeof(cores), &cores)
                                              ? RCOMM_ERR_SYSTEM
                                              : RCOMM_OK);
        for (int i = 0; i < CPU_SETSIZE; i++)
            on[i] = CPU_ISSET(i, &cores) != 0;
        check_status(
            "the union of the affinities",
            rcomm_allreduce(comm, RCOMM_IN_PLACE, on, CPU_SETSIZE, RCOMM_U8, RCOMM_MAX));
        for (int i = 0; i < CPU_SETSIZE; i++)
            ncores += on[i];
        oversubscribed = o && strcmp(o, "auto") != 0 ? atoi(o) > 0 : size > ncores;
    }
    counts[ncounts++] = 0;
    counts[ncounts++] = 1;
    if (size > 2)
        counts[ncounts++] = (size_t)size - 1;
    if (size > 1)
        counts[ncounts++] = (size_t)size;
    counts[ncounts++] = 4099; /* prime, several segments with a small segment size */
    if (!quick)
        counts[ncounts++] = 1000003;

    check_lap(&t);
    for (int c = 0; c < ncounts; c++)
        for (int algo = RCOMM_ALGO_RING; algo < RCOMM_ALGO_COUNT; algo++)
            for (int dt = 0; dt < RCOMM_DTYPE_COUNT; dt++)
                for (int op = 0; op < RCOMM_OP_COUNT; op++)
                    for (int ip = 0; ip < 2 && wanted(counts[c], dt, op); ip++)
                        test_allreduce(comm, (rcomm_algo_t)algo, (rcomm_dtype_t)dt,
                                       (rcomm_op_t)op, counts[c], ip);
    secs[0] = check_lap(&t);
    /* rcomm's choice: at these counts, where every rank shares memory, the
     * shared slots (allreduce_slots.c), with every datatype and op. */
    for (int c = 0; c < ncounts; c++)
        for (int dt = 0; dt < RCOMM_DTYPE_COUNT; dt++)
            for (int op = 0; op < RCOMM_OP_COUNT; op++)
                for (int ip = 0; ip < 2 && (counts[c] <= 64 || (dt == 0 && op == 0));
                     ip++)
                    test_allreduce(comm, RCOMM_ALGO_AUTO, (rcomm_dtype_t)dt,
                                   (rcomm_op_t)op, counts[c], ip);
    secs[1] = check_lap(&t);
    /* Buffers from rcomm_mem_alloc: where every rank shares memory, above
     * the slots' 256 bytes, the mapped path, with every datatype and op;
     * with one rank's buffer elsewhere, the generic path on every rank. */
    /* Blocking and nonblocking (allreduce_mapped_nb.c). */
    /* Nonblocking only where it may take the mapped path (--mapped, 64 KiB
     * and up): elsewhere it is the plain schedule, checked above. */
    for (int nb = 0; nb < 1 + expect_mapped; nb++)
        for (int c = 0; c < ncounts; c++)
            for (int dt = 0; dt < RCOMM_DTYPE_COUNT; dt++)
                for (int op = 0; op < RCOMM_OP_COUNT; op++)
                    for (int ip = 0; ip < 2; ip++)
                        for (int mem = MEM_RCOMM; mem <= MEM_MIXED; mem++)
                            if ((mem == MEM_RCOMM ? wanted(counts[c], dt, op)
                                                  : dt == 0 && op == 0) &&
                                (!nb || counts[c] * rcomm_dtype_size(dt) >= 65536))
                                test_allreduce_in(comm, RCOMM_ALGO_AUTO,
                                                  (rcomm_dtype_t)dt, (rcomm_op_t)op,
                                                  counts[c], ip, mem, nb);
    /* Several of its 256 KiB segments per rank, and a block that is not;
     * nonblocking, also with rank 0's send buffer from malloc. */
    static const rcomm_dtype_t fan_dt[] = {RCOMM_F64, RCOMM_I32, RCOMM_U8, RCOMM_F32,
                                           RCOMM_F16};
    static const rcomm_op_t fan_op[] = {RCOMM_MAX, RCOMM_MIN, RCOMM_PROD, RCOMM_AVG,
                                        RCOMM_SUM};
    for (int nb = 0; nb < 1 + expect_mapped; nb++)
        for (int ip = 0; ip < 2; ip++) {
            if (expect_mapped)
                test_allreduce_in(comm, RCOMM_ALGO_AUTO, RCOMM_F32, RCOMM_SUM, 300007, ip,
                                  MEM_MIXED, nb);
            test_allreduce_in(comm, RCOMM_ALGO_AUTO, RCOMM_F32, RCOMM_SUM, 300007, ip,
                              MEM_RCOMM, nb);
            test_allreduce_in(comm, RCOMM_ALGO_AUTO, RCOMM_I64, RCOMM_AVG, 300007, ip,
                              MEM_RCOMM, nb);
            /* Out of place these take reduce_fan's one pass (f16: the
             * chain), each op's vector form once. */
            for (int k = 0; k < 5 && expect_mapped && !ip; k++)
                test_allreduce_in(comm, RCOMM_ALGO_AUTO, fan_dt[k], fan_op[k], 300007, 0,
                                  MEM_RCOMM, nb);
        }
    if (expect_mapped)
        test_iallreduce_flight(comm);
    test_staged(comm);
    secs[2] = check_lap(&t);
    for (int c = 0; c < ncounts; c++)
        for (int dt = 0; dt < RCOMM_DTYPE_COUNT; dt++) {
            if (!wanted_size(counts[c], dt))
                continue;
            test_broadcast(comm, (rcomm_dtype_t)dt, counts[c], 0);
            test_broadcast(comm, (rcomm_dtype_t)dt, counts[c], size - 1);
            test_broadcast(comm, (rcomm_dtype_t)dt, counts[c], size / 2);
            for (int ip = 0; ip < 2; ip++)
                test_allgather(comm, (rcomm_dtype_t)dt, counts[c], ip);
        }
    secs[3] = check_lap(&t);
    for (int c = 0; c < ncounts; c++)
        for (int dt = 0; dt < RCOMM_DTYPE_COUNT; dt++)
            for (int op = 0; op < RCOMM_OP_COUNT; op++)
                for (int ip = 0; ip < 2 && wanted(counts[c], dt, op); ip++)
                    test_reduce_scatter(comm, (rcomm_dtype_t)dt, (rcomm_op_t)op,
                                        large(counts[c]) ? counts[c] / 7 : counts[c], ip);
    test_barrier(comm);
    test_nonblocking(comm);
    secs[4] = check_lap(&t);
    check_status("destroy", rcomm_comm_destroy(comm));
    if (rank == 0 || failures)
        printf("coll_check: %d ranks: %d cases, %d failed on rank %d (seconds: allreduce "
               "%.1f, its choice %.1f, rcomm_mem_alloc %.1f, broadcast/allgather %.1f, "
               "reduce-scatter etc. %.1f)\n",
               size, cases, failures, rank, secs[0], secs[1], secs[2], secs[3], secs[4]);
    return failures ? 1 : 0;
}
