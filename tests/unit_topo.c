/* SPDX-License-Identifier: BSD-3-Clause */
/* Unit tests: the topology from hwloc (base/topo.c) agrees with what the
 * kernel says of this process, and follows a narrowed CPU binding. */
#include <check.h>
#include <sched.h>
#include <string.h>

#include "base/topo.h"
#include "config.h"

START_TEST(agrees_with_the_kernel)
{
    base_topo_t t;
    cpu_set_t set;

#ifndef HAVE_HWLOC
    ck_assert_int_eq(base_topo_get(&t), RCOMM_ERR_UNSUPPORTED);
    return;
#endif
    ck_assert_int_eq(base_topo_get(&t), RCOMM_OK);
    ck_assert_int_eq(sched_getaffinity(0, sizeof(set), &set), 0);
    ck_assert_int_eq(t.my_pus, CPU_COUNT(&set));
    ck_assert_int_ge(t.packages, 1);
    ck_assert_int_ge(t.numa_nodes, 1);
    ck_assert_int_ge(t.my_cores, 1);
    ck_assert_int_le(t.my_cores, t.cores);
    ck_assert_int_le(t.cores, t.pus);
    ck_assert_int_le(t.my_pus, t.pus);
    ck_assert_int_ge(t.my_pus, t.my_cores);
    ck_assert_int_gt((int)strlen(t.my_list), 0);
}
END_TEST

/* Bound to the first CPU we may use: one core, one thread, that one. */
START_TEST(follows_the_binding)
{
    base_topo_t t;
    cpu_set_t set, one;
    int first = 0;
    char want[16];

#ifndef HAVE_HWLOC
    return;
#endif
    ck_assert_int_eq(sched_getaffinity(0, sizeof(set), &set), 0);
    while (!CPU_ISSET(first, &set))
        first++;
    CPU_ZERO(&one);
    CPU_SET(first, &one);
    ck_assert_int_eq(sched_setaffinity(0, sizeof(one), &one), 0);
    ck_assert_int_eq(base_topo_get(&t), RCOMM_OK);
    ck_assert_int_eq(t.my_pus, 1);
    ck_assert_int_eq(t.my_cores, 1);
    snprintf(want, sizeof(want), "%d", first);
    ck_assert_str_eq(t.my_list, want);
    ck_assert_int_eq(sched_setaffinity(0, sizeof(set), &set), 0);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("topo");
    TCase *tc = tcase_create("hwloc");
    SRunner *sr;
    int failed;

    tcase_add_test(tc, agrees_with_the_kernel);
    tcase_add_test(tc, follows_the_binding);
    suite_add_tcase(s, tc);
    sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
