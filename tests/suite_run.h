/* SPDX-License-Identifier: BSD-3-Clause */
/* The end of every Check unit test's main(): run the suite, report, and
 * exit with its verdict. */
#ifndef RCOMM_TESTS_SUITE_RUN_H
#define RCOMM_TESTS_SUITE_RUN_H

#include <check.h>
#include <stdlib.h>

static inline int unit_run(Suite *s)
{
    SRunner *sr = srunner_create(s);
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

#endif
