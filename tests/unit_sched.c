/* SPDX-License-Identifier: BSD-3-Clause */
/* Unit tests of the schedule executor's local work (src/coll/sched.c): a
 * reduction, copy or finish longer than COLL_LOCAL_SLICE runs in slices,
 * one per progress call, and ends with the same bytes as one run would. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "coll/sched.h"
#include "core/comm.h"
#include "suite_run.h"

/* A communicator of 3 ranks with no transport: enough for local ops. */
static rcomm_comm_t *fake_comm(void)
{
    rcomm_comm_t *c = calloc(1, sizeof(*c));
    ck_assert_ptr_nonnull(c);
    c->size = 3;
    return c;
}

/* Runs s to the end; returns how many progress calls it took after start,
 * checking that each one that stops early says local work is left. */
static int run(coll_sched_t *s, rcomm_comm_t *c)
{
    rcomm_status_t st;
    int calls = 0;

    c->local_work = 0;
    st = coll_sched_start(s);
    while (st == RCOMM_INPROGRESS) {
        ck_assert_int_eq(c->local_work, 1);
        c->local_work = 0;
        st = coll_sched_progress(s);
        ck_assert_int_lt(++calls, 1000);
    }
    ck_assert_int_eq(st, RCOMM_OK);
    ck_assert_uint_eq(s->ndone, s->nops);
    return calls;
}

START_TEST(long_local_ops_run_in_slices)
{
    /* f64 AVG: dst = (a + b) / 3 over 2 slices and 5 elements, then a copy
     * of 2 slices and 3 bytes (an odd length: no element size there). */
    const size_t n = 2 * (COLL_LOCAL_SLICE / 8) + 5, nb = 2 * COLL_LOCAL_SLICE + 3;
    const coll_desc_t d = {COLL_ALLREDUCE, RCOMM_F64, RCOMM_AVG, -1, n};
    double *a = malloc(n * 8), *b = malloc(n * 8), *dst = malloc(n * 8);
    unsigned char *src = malloc(nb), *cp = calloc(1, nb);
    rcomm_comm_t *c = fake_comm();
    coll_sched_t s = {0};

    ck_assert(a && b && dst && src && cp);
    for (size_t i = 0; i < n; i++) {
        a[i] = (double)i * 0.25 - 7;
        b[i] = 1.0 / (double)(i + 1);
    }
    for (size_t i = 0; i < nb; i++)
        src[i] = (unsigned char)(i * 7 + (i >> 9));
    ck_assert_int_eq(coll_sched_init(&s, c, &d, "unit"), RCOMM_OK);
    coll_sop_id_t red = coll_sched_reduce(&s, dst, a, b, n);
    coll_sop_id_t fin = coll_sched_finish(&s, dst, n);
    coll_sched_dep(&s, fin, red);
    coll_sched_copy(&s, cp, src, nb);
    /* 3 slices of the reduction (the copy's first rides with the third),
     * the copy's other 2 and the finish's 3 follow: at least 6 calls. */
    ck_assert_int_ge(run(&s, c), 6);
    for (size_t i = 0; i < n; i++)
        ck_assert_msg(dst[i] == (a[i] + b[i]) / 3, "element %zu: %a, not %a", i, dst[i],
                      (a[i] + b[i]) / 3);
    ck_assert_mem_eq(cp, src, nb);
    coll_sched_free(&s);
    free(a), free(b), free(dst), free(src), free(cp), free(c);
}
END_TEST

START_TEST(short_local_ops_run_at_once)
{
    /* Below the slice, one call does everything: no extra round through
     * the transport's progress. */
    int x[5] = {1, 2, 3, 4, 5}, y[5] = {10, 20, 30, 40, 50}, z[5];
    const coll_desc_t d = {COLL_ALLREDUCE, RCOMM_I32, RCOMM_SUM, -1, 5};
    rcomm_comm_t *c = fake_comm();
    coll_sched_t s = {0};

    ck_assert_int_eq(coll_sched_init(&s, c, &d, "unit"), RCOMM_OK);
    coll_sched_dep(&s, coll_sched_copy(&s, x, z, 0), coll_sched_reduce(&s, z, x, y, 5));
    ck_assert_int_eq(run(&s, c), 0);
    for (int i = 0; i < 5; i++)
        ck_assert_int_eq(z[i], 11 * (i + 1));
    coll_sched_free(&s);
    free(c);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("sched");
    TCase *tc = tcase_create("local work");

    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, long_local_ops_run_in_slices);
    tcase_add_test(tc, short_local_ops_run_at_once);
    suite_add_tcase(s, tc);
    return unit_run(s);
}
