/* SPDX-License-Identifier: BSD-3-Clause */
/* Unit tests of the communicator's scratch cache (src/core/scratch.c). */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "core/comm.h"
#include "suite_run.h"

static rcomm_comm_t *fake_comm(size_t limit)
{
    rcomm_comm_t *c = calloc(1, sizeof(*c));
    ck_assert_ptr_nonnull(c);
    c->cfg.scratch_cache = limit;
    return c;
}

static void free_comm(rcomm_comm_t *c)
{
    comm_scratch_free_all(c);
    free(c);
}

START_TEST(reuses_a_returned_block)
{
    rcomm_comm_t *c = fake_comm(64 << 10);
    char *a = comm_scratch_get(c, 40 << 10), *b;

    ck_assert_ptr_nonnull(a);
    memset(a, 1, 40 << 10);
    comm_scratch_put(c, a);
    ck_assert_uint_eq(c->scratch.cached, 40 << 10);
    b = comm_scratch_get(c, 39 << 10); /* rounded to the same pages */
    ck_assert_ptr_eq(a, b);
    ck_assert_uint_eq(c->scratch.cached, 0);
    /* Two in flight at once get two blocks. */
    ck_assert_ptr_ne(comm_scratch_get(c, 40 << 10), b);
    free_comm(c);
}
END_TEST

START_TEST(keeps_the_large_block_within_the_limit)
{
    /* A block exactly at the limit plus a small one: the small one goes, so
     * the block that is expensive to fault in again stays (it used to be
     * the other way round, and an in-place 64 MiB all-to-all faulted its
     * whole copy in on every call). */
    rcomm_comm_t *c = fake_comm(64 << 10);
    char *big = comm_scratch_get(c, 64 << 10), *small = comm_scratch_get(c, 100);

    comm_scratch_put(c, small);
    comm_scratch_put(c, big);
    ck_assert_uint_eq(c->scratch.n, 1);
    ck_assert_uint_eq(c->scratch.cached, 64 << 10);
    ck_assert_ptr_eq(comm_scratch_get(c, 64 << 10), big);
    free_comm(c);
}
END_TEST

START_TEST(frees_a_block_over_the_limit)
{
    rcomm_comm_t *c = fake_comm(64 << 10);
    char *keep = comm_scratch_get(c, 8 << 10), *huge = comm_scratch_get(c, 65 << 10);

    comm_scratch_put(c, keep);
    comm_scratch_put(c, huge);
    ck_assert_uint_eq(c->scratch.n, 1); /* only keep's block is left */
    ck_assert_uint_eq(c->scratch.cached, 8 << 10);
    /* Not ours, or returned twice: ignored, never freed twice. */
    comm_scratch_put(c, keep);
    comm_scratch_put(c, (char *)c);
    ck_assert_uint_eq(c->scratch.cached, 8 << 10);
    free_comm(c);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("scratch");
    TCase *tc = tcase_create("core");

    tcase_add_test(tc, reuses_a_returned_block);
    tcase_add_test(tc, keeps_the_large_block_within_the_limit);
    tcase_add_test(tc, frees_a_block_over_the_limit);
    suite_add_tcase(s, tc);
    return unit_run(s);
}
