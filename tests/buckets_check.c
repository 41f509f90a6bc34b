/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Gradient buckets, run by every rank under rcomm-run (tests/buckets.sh):
 *   values    six tensors (three f32 back to back in one arena, one of them
 *             of p-1 elements; two f64 and an i32 apart, the f64 pair in one
 *             staged bucket), buckets of 1 and 4 KiB, three steps marked in
 *             different orders on
 *             different ranks; every element checked exactly for SUM and
 *             AVG; then the errors: a tensor marked twice, a wait before
 *             every tensor is marked, a bad index, a destroy mid-step; then
 *             the same tensors in an arena from rcomm_grad_arena_create:
 *             nothing staged, the same exact values, and its bad arguments
 *   big       16 tensors of 1 MiB in an arena, buckets of 1 MiB: 16
 *             allreduces in flight at once, each rank testing the oldest as
 *             it marks (over TCP, 4 ranks deadlocked so when every message
 *             larger than the eager limit waited for its receive); 3 steps,
 *             every element exact
 *   mismatch  the last rank declares tensor #1 with another count: every
 *             rank gets MISMATCH naming it
 * Exit status 0 when this rank saw what it should.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rank_check.h"

static int bad;

enum { NT = 6 };
static const size_t counts[NT] = {1000, 1, 0 /* size - 1 */, 7, 3001, 513};
static const rcomm_dtype_t dtypes[NT] = {RCOMM_F32, RCOMM_F32, RCOMM_F32,
                                         RCOMM_F64, RCOMM_F64, RCOMM_I32};

/* Rank r's element j of tensor i; the sum over ranks is exact in every type. */
static double value(int r, int i, size_t j, int step)
{
    return (double)((r + 1) * (i + 1 + step) + (int)(j % 7));
}

static void fill(rcomm_grad_t *g, int step)
{
    for (int i = 0; i < NT; i++)
        for (size_t j = 0; j < g[i].count; j++) {
            const double v = value(rank, i, j, step);
            if (dtypes[i] == RCOMM_F32)
                ((float *)g[i].buf)[j] = (float)v;
            else if (dtypes[i] == RCOMM_F64)
                ((double *)g[i].buf)[j] = v;
            else
                ((int32_t *)g[i].buf)[j] = (int32_t)v;
        }
}

static void check(const rcomm_grad_t *g, int step, rcomm_op_t op)
{
    for (int i = 0; i < NT; i++)
        for (size_t j = 0; j < g[i].count; j++) {
            double sum = 0, got;
            for (int r = 0; r < size; r++)
                sum += value(r, i, j, step);
            if (dtypes[i] == RCOMM_F32) {
                const float want =
                    op == RCOMM_AVG ? (float)sum / (float)size : (float)sum;
                got = ((float *)g[i].buf)[j];
                if ((float)got != want)
                    goto wrong;
            } else if (dtypes[i] == RCOMM_F64) {
                const double want = op == RCOMM_AVG ? sum / size : sum;
                got = ((double *)g[i].buf)[j];
                if (got != want)
                    goto wrong;
            } else {
                const int32_t want = op == RCOMM_AVG ? (int32_t)sum / size : (int32_t)sum;
                got = ((int32_t *)g[i].buf)[j];
                if (got != want)
                    goto wrong;
            }
            continue;
        wrong:
            FAIL("step %d, %s: tensor %s[%zu] = %g, expected %g", step, rcomm_op_name(op),
                 g[i].name, j, got, op == RCOMM_AVG ? sum / size : sum);
            return;
        }
}

static void make(rcomm_grad_t *g, char *arena, void **apart)
{
    static const char *names[NT] = {"fc2.weight", "fc2.bias",   "fc1.bias",
                                    "fc1.bias2",  "fc1.weight", "emb.index"};
    size_t off = 0;

    for (int i = 0; i < NT; i++) {
        const size_t n = i == 2 ? (size_t)size - 1 : counts[i];
        g[i] = (rcomm_grad_t){names[i], NULL, n, dtypes[i]};
        if (i < 3) { /* back to back in one arena */
            g[i].buf = arena + off;
            off += n * sizeof(float);
        } else {
            g[i].buf = apart[i - 3] = malloc(n * 8 + 8);
        }
    }
}

static void steps(rcomm_comm_t *comm, rcomm_grad_t *g, rcomm_op_t op, size_t staged)
{
    size_t got_staged = 0;
    rcomm_buckets_config_t cfg;
    rcomm_buckets_t *b;
    rcomm_status_t st;
    int nb = 0, of[NT];

    rcomm_buckets_config_init(&cfg);
    cfg.first_bucket_bytes = 1024;
    cfg.bucket_bytes = 4096;
    cfg.op = op;
    if ((st = rcomm_buckets_create(comm, &cfg, g, NT, &b)) != RCOMM_OK) {
        bad |= expect("create", st, RCOMM_OK, NULL);
        return;
    }
    rcomm_buckets_layout(b, &nb, of);
    /* 4000 bytes of fc2.weight fill the 1 KiB first bucket; the two f64 (apart
     * in memory: staged) share one; i32 starts its own. */
    if (nb != 4 || of[0] != 0 || of[1] != 1 || of[2] != 1 || of[3] != 2 || of[4] != 2 ||
        of[5] != 3)
        FAIL("layout: %d buckets, tensors in %d %d %d %d %d %d", nb, of[0], of[1], of[2],
             of[3], of[4], of[5]);
    if (rcomm_buckets_staged(b, &got_staged) != RCOMM_OK || got_staged != staged)
        FAIL("%zu bytes staged per step, expected %zu", got_staged, staged);
    for (int step = 0; step < 3; step++) {
        fill(g, step);
        for (int k = 0; k < NT; k++) {
            /* step 0 backwards, 1 forwards, 2 in a rank's own order */
            const int i = step == 0 ? NT - 1 - k : step == 1 ? k : (k * 5 + rank) % NT;
            if ((st = rcomm_buckets_ready(b, i)) != RCOMM_OK)
                bad |= expect("ready", st, RCOMM_OK, NULL);
        }
        if ((st = rcomm_buckets_wait(b)) != RCOMM_OK)
            bad |= expect("wait", st, RCOMM_OK, NULL);
        check(g, step, op);
    }
    /* Bad use, then a good step. */
    fill(g, 3);
    bad |= expect("bad index", rcomm_buckets_ready(b, NT), RCOMM_ERR_INVALID_ARG,
                  "tensor 6 is not one of the 6");
    bad |= expect("first mark", rcomm_buckets_ready(b, 1), RCOMM_OK, NULL);
    bad |= expect("marked twice", rcomm_buckets_ready(b, 1), RCOMM_ERR_INVALID_ARG,
                  "'fc2.bias' (#1) was already marked");
    bad |= expect("early wait", rcomm_buckets_wait(b), RCOMM_ERR_INVALID_ARG,
                  "'fc2.weight' (#0) is not marked");
    bad |= expect("destroy mid-step", rcomm_buckets_destroy(b), RCOMM_ERR_INVALID_ARG,
                  "a step is in flight");
    for (int i = 0; i < NT; i++)
        if (i != 1 && (st = rcomm_buckets_ready(b, i)) != RCOMM_OK)
            bad |= expect("ready", st, RCOMM_OK, NULL);
    bad |= expect("wait", rcomm_buckets_wait(b), RCOMM_OK, NULL);
    check(g, 3, op);
    bad |= expect("destroy", rcomm_buckets_destroy(b), RCOMM_OK, NULL);
}

static void big(rcomm_comm_t *comm)
{
    enum { NB = 16, N = 1 << 18 };
    rcomm_grad_t g[NB];
    char names[NB][16];
    rcomm_buckets_config_t cfg;
    rcomm_grad_arena_t *a;
    rcomm_buckets_t *b;
    rcomm_status_t st;

    for (int i = 0; i < NB; i++) {
        snprintf(names[i], sizeof(names[i]), "layer%d", i);
        g[i] = (rcomm_grad_t){names[i], NULL, N, RCOMM_F32};
    }
    rcomm_buckets_config_init(&cfg);
    cfg.bucket_bytes = cfg.first_bucket_bytes = (size_t)N * sizeof(float);
    cfg.op = RCOMM_SUM;
    if ((st = rcomm_grad_arena_create(comm, g, NB, &a)) != RCOMM_OK ||
        (st = rcomm_buckets_create(comm, &cfg, g, NB, &b)) != RCOMM_OK) {
        bad |= expect("big: create", st, RCOMM_OK, NULL);
        return;
    }
    for (int step = 0; step < 3 && !bad; step++) {
        for (int i = 0; i < NB; i++) {
            float *x = g[i].buf;
            for (size_t j = 0; j < N; j++)
                x[j] = (float)((rank + 1) * (i + 1 + step) + (int)(j % 7));
            if ((st = rcomm_buckets_ready(b, i)) != RCOMM_OK)
                bad |= expect("big: ready", st, RCOMM_OK, NULL);
        }
        if ((st = rcomm_buckets_wait(b)) != RCOMM_OK)
            bad |= expect("big: wait", st, RCOMM_OK, NULL);
        for (int i = 0; i < NB && !bad; i++)
            for (size_t j = 0; j < N; j++) {
                const float want =
                    (float)(size * (size + 1) / 2 * (i + 1 + step) + size * (int)(j % 7));
                if (((float *)g[i].buf)[j] != want) {
                    FAIL("big: step %d: %s[%zu] = %g, expected %g", step, g[i].name, j,
                         ((float *)g[i].buf)[j], want);
                    break;
                }
            }
    }
    bad |= expect("big: destroy", rcomm_buckets_destroy(b), RCOMM_OK, NULL);
    bad |= expect("big: arena", rcomm_grad_arena_destroy(a), RCOMM_OK, NULL);
}

int main(int argc, char **argv)
{
    const char *mode = argc > 1 ? argv[1] : "";
    rcomm_comm_t *comm = join();
    rcomm_grad_t g[NT];
    rcomm_status_t st;
    void *apart[3] = {0};
    char *arena;

    arena = malloc(8192);
    make(g, arena, apart);
    if (strcmp(mode, "values") == 0) {
        const size_t f64_pair = (counts[3] + counts[4]) * sizeof(double);
        rcomm_grad_arena_t *a = NULL;

        steps(comm, g, RCOMM_SUM, f64_pair);
        steps(comm, g, RCOMM_AVG, f64_pair);
        bad |= expect("NULL comm", rcomm_buckets_create(NULL, NULL, g, NT, NULL),
                      RCOMM_ERR_INVALID_ARG, "comm is NULL");
        /* The same tensors in an arena: every bucket in place. */
        if ((st = rcomm_grad_arena_create(comm, g, NT, &a)) != RCOMM_OK)
            bad |= expect("arena", st, RCOMM_OK, NULL);
        else {
            steps(comm, g, RCOMM_SUM, 0);
            steps(comm, g, RCOMM_AVG, 0);
            bad |= expect("arena destroy", rcomm_grad_arena_destroy(a), RCOMM_OK, NULL);
        }
        bad |= expect("arena NULL comm", rcomm_grad_arena_create(NULL, g, NT, &a),
                      RCOMM_ERR_INVALID_ARG, "comm is NULL");
        bad |= expect("arena no tensors", rcomm_grad_arena_create(comm, g, 0, &a),
                      RCOMM_ERR_INVALID_ARG, "ngrads 0");
        g[5].dtype = (rcomm_dtype_t)99;
        bad |= expect("arena bad dtype", rcomm_grad_arena_create(comm, g, NT, &a),
                      RCOMM_ERR_INVALID_ARG, "tensor #5 has dtype 99");
    } else if (strcmp(mode, "big") == 0) {
        big(comm);
    } else if (strcmp(mode, "mismatch") == 0) {
        rcomm_buckets_t *b = NULL;
        char who[64];
        if (rank == size - 1)
            g[1].count = 2;
        snprintf(who, sizeof(who), "rank %d declares tensor #1", size - 1);
        bad |= expect("mismatch", rcomm_buckets_create(comm, NULL, g, NT, &b),
                      RCOMM_ERR_MISMATCH, who);
    } else {
        fprintf(stderr, "usage: buckets_check values|big|mismatch\n");
        return 2;
    }
    for (int i = 0; i < 3; i++)
        free(apart[i]);
    free(arena);
    rcomm_comm_destroy(comm);
    return bad;
}
