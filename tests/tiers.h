/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Unit tests of the reduction kernels run in every tier of them the CPU
 * has (reduce.h: baseline, AVX2, AVX-512), each the whole suite over.
 */
#ifndef RCOMM_TESTS_TIERS_H
#define RCOMM_TESTS_TIERS_H

#include <check.h>
#include <stdio.h>

#include "reduce/reduce.h"

static reduce_isa_t tiers_now;

/* A fixture sets the tier before every test, forked or not. */
static void tiers_set(void)
{
    ck_assert_int_eq(reduce_set_isa(tiers_now), tiers_now);
}

/* make(tier's name) builds the suite, its cases through tiers_case; the
 * failures of every tier, added up. */
static int tiers_run(const char *prog, Suite *(*make)(const char *name))
{
    int failed = 0;

    for (tiers_now = REDUCE_ISA_BASE; tiers_now < REDUCE_ISA_COUNT; tiers_now++) {
        SRunner *sr;

        if (reduce_set_isa(tiers_now) != tiers_now) {
            printf("%s: no %s kernels here: not run\n", prog, reduce_isa_name(tiers_now));
            continue;
        }
        sr = srunner_create(make(reduce_isa_name(tiers_now)));
        srunner_run_all(sr, CK_NORMAL);
        failed += srunner_ntests_failed(sr);
        srunner_free(sr);
    }
    return failed;
}

/* A case of the tier being run, named name, with the fixture. */
static TCase *tiers_case(const char *name)
{
    TCase *tc = tcase_create(name);

    tcase_set_timeout(tc, 300); /* valgrind and the emulated VM are slow */
    tcase_add_checked_fixture(tc, tiers_set, NULL);
    return tc;
}

#endif
