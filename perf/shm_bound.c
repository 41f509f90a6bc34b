/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * shm_bound: the fastest a staged p-process allreduce (f32 sum) of private
 * buffers can be on this host through memory they share, with no transport
 * at all: what rcomm's paths for malloc'd buffers are read against
 * (docs/PERFORMANCE.md, "64 MiB: the bound"; buffers from rcomm_mem_alloc
 * need no staging and pass it: "Mapped AllReduce").
 *
 *   perf/shm_bound [P [BYTES [CHUNK]]]   (default 2, 64M, 1M; K, M, G suffixes)
 *
 * P processes (fork) with private send and receive buffers, touched once,
 * and one shared staging area each. Per chunk of CHUNK bytes of the vector,
 * the least copying a staged allreduce can do:
 *   1. each copies the blocks its peers reduce into its staging area;
 *   2. each reduces its own block from its send buffer and the peers'
 *      staging areas, into its staging area (rcomm's reduction kernel);
 *   3. each copies every finished block into its receive buffer;
 * with a spin barrier between phases (nothing sleeps). No cross-memory
 * attach, no messages: what is left is copies, one reduction and the
 * barriers. Prints the median of 9 calls beside memcpy of BYTES in one
 * process (median of 9), as time and busbw (size/time * 2(p-1)/p).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "hooks/hooks.h" /* the reduction kernels */
#include "perf/grade.h"  /* the clock, the median */
#include "perf/perf_cli.h"

#define REPS 9

typedef struct {
    _Alignas(64) _Atomic unsigned long arrived;
    _Alignas(64) double t[REPS]; /* rank 0's times */
} shared_t;

/* Sense-free barrier: the k-th barrier of p ranks waits for k * p arrivals. */
static void barrier(shared_t *sh, unsigned long *k, int p)
{
    unsigned long want = ++*k * (unsigned long)p;

    atomic_fetch_add_explicit(&sh->arrived, 1, memory_order_acq_rel);
    /* Yield when the ranks outnumber this host's 2 cores, and now and then
     * anyway: a peer may be descheduled by someone else's work. */
    for (unsigned spins = 1;
         atomic_load_explicit(&sh->arrived, memory_order_acquire) < want; spins++)
        if (p > 2 || spins % 256 == 0)
            sched_yield();
}

static char *private_buf(size_t n, int fill)
{
    char *b = malloc(n);

    if (!b) {
        perror("shm_bound: malloc");
        exit(1);
    }
    memset(b, fill, n);
    return b;
}

static void rank_main(int r, int p, size_t n, size_t chunk, shared_t *sh, char *stage)
{
    char *sbuf = private_buf(n, 0), *rbuf = private_buf(n, 0);
    char *mine = stage + (size_t)r * n;
    unsigned long k = 0;
    float *f = (float *)sbuf;

    for (size_t i = 0; i < n / sizeof(float); i++)
        f[i] = (float)(r + 1);
    for (int rep = 0; rep < REPS; rep++) {
        double t;
        barrier(sh, &k, p);
        t = grade_now_s();
        for (size_t c = 0; c < n; c += chunk) {
            const size_t len = n - c < chunk ? n - c : chunk, blk = len / (size_t)p;
            const size_t off = c + (size_t)r * blk;
            const size_t mylen = r == p - 1 ? len - (size_t)r * blk : blk;

            for (int q = 0; q < p; q++) { /* 1: the blocks the peers reduce */
                size_t o = c + (size_t)q * blk,
                       l = q == p - 1 ? len - (size_t)q * blk : blk;
                if (q != r)
                    memcpy(mine + o, sbuf + o, l);
            }
            barrier(sh, &k, p);
            /* 2: our block, as rcomm's direct does: p - 1 passes */
            for (int q = 0, first = 1; q < p; q++)
                if (q != r) {
                    reduce_apply(mine + off, first ? sbuf + off : mine + off,
                                 stage + (size_t)q * n + off, mylen / sizeof(float),
                                 RCOMM_F32, RCOMM_SUM);
                    first = 0;
                }
            barrier(sh, &k, p);
            for (int q = 0; q < p; q++) { /* 3: every finished block */
                size_t o = c + (size_t)q * blk,
                       l = q == p - 1 ? len - (size_t)q * blk : blk;
                memcpy(rbuf + o, stage + (size_t)q * n + o, l);
            }
            barrier(sh, &k, p); /* the staging areas are reused */
        }
        t = grade_now_s() - t;
        if (r == 0)
            sh->t[rep] = t;
    }
    /* Every element is 1 + 2 + ... + p. */
    for (size_t i = 0; i < n / sizeof(float); i++)
        if (((float *)rbuf)[i] != (float)(p * (p + 1) / 2)) {
            fprintf(stderr, "shm_bound: rank %d: element %zu is %g\n", r, i,
                    (double)((float *)rbuf)[i]);
            exit(1);
        }
    free(sbuf);
    free(rbuf);
}

static void usage(FILE *f)
{
    fprintf(f, "usage: shm_bound [P [BYTES [CHUNK]]]: 2 <= P <= 64; BYTES a multiple "
               "of CHUNK, CHUNK a multiple of P floats and at least 64 P bytes\n");
}

int main(int argc, char **argv)
{
    int p;
    size_t n, chunk;
    double tm[REPS], busbw, t_med, m_med;
    shared_t *sh;
    char *stage;
    int bad = 0;

    perf_prog = "shm_bound";
    perf_usage = usage;
    p = argc > 1 ? perf_parse_int(argv[1], 2) : 2;
    n = argc > 2 ? perf_parse_size(argv[2]) : 64u << 20;
    chunk = argc > 3 ? perf_parse_size(argv[3]) : 1u << 20;
    if (p > 64 || n == 0 || chunk < (size_t)p * 64 ||
        chunk % ((size_t)p * sizeof(float)) || n % chunk)
        perf_bad_usage("bad sizes", NULL);
    sh = mmap(NULL, sizeof(*sh), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1,
              0);
    stage = mmap(NULL, (size_t)p * n, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
                 -1, 0);
    if (sh == MAP_FAILED || stage == MAP_FAILED) {
        perror("shm_bound: mmap");
        return 1;
    }
    memset(stage, 0, (size_t)p * n); /* faulted in once, as a pool would be */
    for (int r = 1; r < p; r++)
        if (fork() == 0) {
            rank_main(r, p, n, chunk, sh, stage);
            _exit(0);
        }
    rank_main(0, p, n, chunk, sh, stage);
    for (int r = 1; r < p; r++) {
        int status;
        bad |= wait(&status) < 0 || status != 0;
    }
    {
        char *a = private_buf(n, 1), *b = private_buf(n, 2);
        for (int rep = 0; rep < REPS; rep++) {
            double t = grade_now_s();
            memcpy(b, a, n);
            tm[rep] = grade_now_s() - t;
        }
        free(a);
        free(b);
    }
    t_med = grade_median(sh->t, REPS);
    m_med = grade_median(tm, REPS);
    busbw = (double)n / t_med * 2.0 * (p - 1) / p / 1e9;
    printf("shm_bound: %d ranks, %zu B in %zu-byte chunks: %.3f ms, busbw %.2f GB/s; "
           "memcpy of %zu B: %.3f ms, %.2f GB/s; busbw / memcpy %.2f\n",
           p, n, chunk, 1e3 * t_med, busbw, n, 1e3 * m_med, (double)n / m_med / 1e9,
           busbw / ((double)n / m_med / 1e9));
    return bad;
}
