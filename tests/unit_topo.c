/* SPDX-License-Identifier: BSD-3-Clause */
/* Unit tests: the topology from hwloc (base/topo.c) agrees with what the
 * kernel says of this process, and follows a narrowed CPU binding; the
 * placement decisions: the device nearest the caller on synthetic
 * localities, and the progress thread's CPU (none, N, auto). */
#include <check.h>
#include <sched.h>
#include <stdlib.h>
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

static cpu_set_t cpus(const char *list)
{
    cpu_set_t set;
    ck_assert_int_eq(base_cpulist_parse(list, &set), 0);
    return set;
}

START_TEST(cpu_lists)
{
    cpu_set_t set;
    char buf[64];

    set = cpus("0-3,8");
    ck_assert_int_eq(CPU_COUNT(&set), 5);
    base_cpulist_format(&set, buf, sizeof(buf));
    ck_assert_str_eq(buf, "0-3,8");
    set = cpus(" 1,3-4\n"); /* as sysfs writes them */
    base_cpulist_format(&set, buf, sizeof(buf));
    ck_assert_str_eq(buf, "1,3-4");
    set = cpus("");
    ck_assert_int_eq(CPU_COUNT(&set), 0);
    base_cpulist_format(&set, buf, sizeof(buf));
    ck_assert_str_eq(buf, "");
    ck_assert_int_eq(base_cpulist_parse("3-1", &set), -1);
    ck_assert_int_eq(base_cpulist_parse("0,x", &set), -1);
    ck_assert_int_eq(base_cpulist_parse("99999", &set), -1);
    ck_assert_int_eq(CPU_COUNT(&set), 0);
}
END_TEST

/* Two devices, one per NUMA half of an 8-CPU machine. */
START_TEST(nearest_device_by_locality)
{
    const char *halves[] = {"0-3", "4-7"};
    const char *nested[] = {"0-7", "4-5"};
    cpu_set_t mine;
    char why[256];

    mine = cpus("4-5");
    ck_assert_int_eq(base_topo_nearest(2, halves, &mine, why, sizeof(why)), 1);
    ck_assert_str_eq(why, "nearest to CPUs 4-5 (its locality: CPUs 4-7)");
    mine = cpus("1");
    ck_assert_int_eq(base_topo_nearest(2, halves, &mine, why, sizeof(why)), 0);
    /* Bound across both halves: equals, the first. */
    mine = cpus("3-4");
    ck_assert_int_eq(base_topo_nearest(2, halves, &mine, why, sizeof(why)), 0);
    /* Both near: the more specific one. */
    mine = cpus("4");
    ck_assert_int_eq(base_topo_nearest(2, nested, &mine, why, sizeof(why)), 1);
    mine = cpus("0");
    ck_assert_int_eq(base_topo_nearest(2, nested, &mine, why, sizeof(why)), 0);
}
END_TEST

START_TEST(nearest_device_falls_back_to_the_first)
{
    const char *none[] = {"", NULL, ""};
    const char *far[] = {"", "4-7"};
    cpu_set_t mine = cpus("0-1");
    char why[256];

    /* soft-RoCE: no device has a PCI locality. */
    ck_assert_int_eq(base_topo_nearest(3, none, &mine, why, sizeof(why)), 0);
    ck_assert_ptr_nonnull(strstr(why, "no device has PCI locality"));
    ck_assert_ptr_nonnull(strstr(why, "the first active one"));
    /* One has a locality, away from us: no reason to prefer it. */
    ck_assert_int_eq(base_topo_nearest(2, far, &mine, why, sizeof(why)), 0);
    ck_assert_ptr_nonnull(strstr(why, "this process's CPUs 0-1"));
    ck_assert_ptr_nonnull(strstr(why, "the first active one"));
    ck_assert_int_eq(base_topo_nearest(1, far, &mine, why, sizeof(why)), 0);
}
END_TEST

static int first_allowed(const cpu_set_t *set)
{
    int c = 0;
    while (!CPU_ISSET(c, set))
        c++;
    return c;
}

START_TEST(progress_cpu_none_and_n)
{
    cpu_set_t set, out, one;
    char why[256], msg[64];
    int first, other = CPU_SETSIZE - 1;

    ck_assert_int_eq(sched_getaffinity(0, sizeof(set), &set), 0);
    first = first_allowed(&set);
    ck_assert_int_eq(base_topo_progress_cpu(-2, "", 0, 1, &out, why, sizeof(why)),
                     RCOMM_OK);
    ck_assert_int_eq(CPU_COUNT(&out), 0);
    ck_assert_ptr_nonnull(strstr(why, "RCOMM_PROGRESS_CPU=none"));
    ck_assert_int_eq(base_topo_progress_cpu(first, "", 0, 1, &out, why, sizeof(why)),
                     RCOMM_OK);
    ck_assert_int_eq(CPU_COUNT(&out), 1);
    ck_assert(CPU_ISSET(first, &out));
    /* A CPU we may not run on (beyond the machine, if it has fewer). */
    if (!CPU_ISSET(other, &set)) {
        ck_assert_int_eq(base_topo_progress_cpu(other, "", 0, 1, &out, why, sizeof(why)),
                         RCOMM_ERR_CONFIG);
        snprintf(msg, sizeof(msg), "RCOMM_PROGRESS_CPU=%d", other);
        ck_assert_ptr_nonnull(strstr(rcomm_last_error(), msg));
    }
    ck_assert_int_eq(base_topo_progress_cpu(65535, "", 0, 1, &out, why, sizeof(why)),
                     RCOMM_ERR_CONFIG);
    ck_assert_ptr_nonnull(strstr(rcomm_last_error(), "RCOMM_PROGRESS_CPU=65535"));
    /* Narrowed to one CPU: every other one is refused. */
    if (CPU_COUNT(&set) >= 2) {
        CPU_ZERO(&one);
        CPU_SET(first, &one);
        other = first + 1;
        while (!CPU_ISSET(other, &set))
            other++;
        ck_assert_int_eq(sched_setaffinity(0, sizeof(one), &one), 0);
        ck_assert_int_eq(base_topo_progress_cpu(other, "", 0, 1, &out, why, sizeof(why)),
                         RCOMM_ERR_CONFIG);
        ck_assert_int_eq(sched_setaffinity(0, sizeof(set), &set), 0);
        snprintf(msg, sizeof(msg), "RCOMM_PROGRESS_CPU=%d", other);
        ck_assert_ptr_nonnull(strstr(rcomm_last_error(), msg));
    }
}
END_TEST

/* rcomm-run's placement: whole cores in id order, the larger shares first,
 * none when the ranks outnumber the cores. Synthetic machines: 4 cores of 2
 * hardware threads, numbered as siblings side by side (0-1 a core) and as
 * Linux often numbers them (c and c+4 a core). */
static void share_is(const cpu_set_t *allowed, const int *coreid, int index, int n,
                     const char *want)
{
    cpu_set_t out;
    char got[64];

    ck_assert_int_eq(base_topo_share(allowed, coreid, index, n, &out), 0);
    base_cpulist_format(&out, got, sizeof(got));
    ck_assert_msg(strcmp(got, want) == 0, "share %d of %d: CPUs %s, expected %s", index,
                  n, got, want);
}

START_TEST(launcher_shares)
{
    static int side[CPU_SETSIZE], apart[CPU_SETSIZE];
    cpu_set_t all, part, out;

    CPU_ZERO(&all);
    for (int c = 0; c < CPU_SETSIZE; c++)
        side[c] = apart[c] = -1;
    for (int c = 0; c < 8; c++) {
        side[c] = c / 2;
        apart[c] = c % 4;
        CPU_SET(c, &all);
    }
    share_is(&all, side, 0, 1, "0-7");
    share_is(&all, side, 0, 2, "0-3");
    share_is(&all, side, 1, 2, "4-7");
    share_is(&all, side, 0, 3, "0-3"); /* 4 cores over 3: 2, 1, 1 */
    share_is(&all, side, 1, 3, "4-5");
    share_is(&all, side, 2, 3, "6-7");
    share_is(&all, side, 3, 4, "6-7");
    share_is(&all, apart, 0, 2, "0-1,4-5");
    share_is(&all, apart, 1, 4, "1,5");
    /* Only some CPUs allowed: only their cores, only those CPUs. */
    CPU_ZERO(&part);
    for (int c = 3; c < 8; c++)
        CPU_SET(c, &part);
    share_is(&part, side, 0, 3, "3");
    share_is(&part, side, 2, 3, "6-7");
    /* More ranks than cores: a core each, in runs (3 cores of part, 4 ranks:
     * cores 1 1 2 3; 4 cores, 5 ranks: 0 0 1 2 3). */
    share_is(&part, side, 0, 4, "3");
    share_is(&part, side, 1, 4, "3");
    share_is(&part, side, 2, 4, "4-5");
    share_is(&part, side, 3, 4, "6-7");
    share_is(&all, side, 1, 5, "0-1");
    share_is(&all, side, 2, 5, "2-3");
    share_is(&all, side, 4, 5, "6-7");
    share_is(&all, apart, 7, 8, "3,7");
    /* No such rank, no core: nobody is bound. */
    ck_assert_int_eq(base_topo_share(&all, side, 5, 5, &out), -1);
    ck_assert_int_eq(CPU_COUNT(&out), 0);
    CPU_ZERO(&part);
    ck_assert_int_eq(base_topo_share(&part, side, 0, 1, &out), -1);
    ck_assert_int_eq(base_topo_share(&all, side, 2, 2, &out), -1);
    ck_assert_int_eq(base_topo_share(&all, side, -1, 2, &out), -1);
    ck_assert_int_eq(base_topo_share(&all, side, 0, 0, &out), -1);
}
END_TEST

/* auto: whole cores from the last, spread by local rank; none on one CPU. */
START_TEST(progress_cpu_auto)
{
    cpu_set_t set, one, a0, a1, an, both, near2;
    char why[256], near[32];
    int first, second;

    ck_assert_int_eq(sched_getaffinity(0, sizeof(set), &set), 0);
    first = first_allowed(&set);
    CPU_ZERO(&one);
    CPU_SET(first, &one);
    ck_assert_int_eq(sched_setaffinity(0, sizeof(one), &one), 0);
    ck_assert_int_eq(base_topo_progress_cpu(-1, "", 0, 1, &a0, why, sizeof(why)),
                     RCOMM_OK);
    ck_assert_int_eq(sched_setaffinity(0, sizeof(set), &set), 0);
    ck_assert_int_eq(CPU_COUNT(&a0), 0);
    ck_assert_ptr_nonnull(strstr(why, "one CPU"));
    if (CPU_COUNT(&set) < 2)
        return;

    ck_assert_int_eq(base_topo_progress_cpu(-1, "", 0, 2, &a0, why, sizeof(why)),
                     RCOMM_OK);
    ck_assert_int_ge(CPU_COUNT(&a0), 1);
    CPU_AND(&both, &a0, &set);
    ck_assert(CPU_EQUAL(&both, &a0)); /* only CPUs we may use */
    if (strncmp(why, "core ", 5) == 0) {
        /* Several cores: the last; local rank 1 the one before, which is
         * another core; the ranks wrap around after the last core. */
        int ncores;
        char *of = strstr(why, "of the ");
        ck_assert_ptr_nonnull(strstr(why, "the last of the"));
        ck_assert_ptr_nonnull(of);
        ncores = atoi(of + 7);
        ck_assert_int_ge(ncores, 2);
        ck_assert_int_eq(base_topo_progress_cpu(-1, "", 1, 2, &a1, why, sizeof(why)),
                         RCOMM_OK);
        CPU_AND(&both, &a0, &a1);
        ck_assert_int_eq(CPU_COUNT(&both), 0);
        ck_assert_int_eq(base_topo_progress_cpu(-1, "", ncores, 2, &an, why, sizeof(why)),
                         RCOMM_OK);
        ck_assert(CPU_EQUAL(&an, &a0));
    } else {
        /* One core with several hardware threads: one, not the caller's. */
        ck_assert_int_eq(CPU_COUNT(&a0), 1);
        ck_assert_ptr_nonnull(strstr(why, "one core"));
    }

    /* Near the device: only its CPUs (here the first two we may use). */
    second = first + 1;
    while (!CPU_ISSET(second, &set))
        second++;
    snprintf(near, sizeof(near), "%d,%d", first, second);
    near2 = cpus(near);
    ck_assert_int_eq(base_topo_progress_cpu(-1, near, 0, 1, &a0, why, sizeof(why)),
                     RCOMM_OK);
    ck_assert_int_ge(CPU_COUNT(&a0), 1);
    CPU_AND(&both, &a0, &near2);
    ck_assert(CPU_EQUAL(&both, &a0));
    ck_assert_ptr_nonnull(strstr(why, "near the device"));
    /* A device near one of our CPUs only: all of ours are candidates. */
    snprintf(near, sizeof(near), "%d", first);
    ck_assert_int_eq(base_topo_progress_cpu(-1, near, 0, 1, &a0, why, sizeof(why)),
                     RCOMM_OK);
    ck_assert_ptr_nonnull(strstr(why, strncmp(why, "core ", 5) == 0
                                          ? "this process may use (< 2 near the device)"
                                          : "for this process"));
}
END_TEST

int main(void)
{
    Suite *s = suite_create("topo");
    TCase *tc = tcase_create("hwloc");
    SRunner *sr;
    int failed;

    setenv("RCOMM_LOG_LEVEL", "none", 1); /* the refusals below are expected */

    tcase_add_test(tc, agrees_with_the_kernel);
    tcase_add_test(tc, follows_the_binding);
    tcase_add_test(tc, cpu_lists);
    tcase_add_test(tc, nearest_device_by_locality);
    tcase_add_test(tc, nearest_device_falls_back_to_the_first);
    tcase_add_test(tc, progress_cpu_none_and_n);
    tcase_add_test(tc, progress_cpu_auto);
    tcase_add_test(tc, launcher_shares);
    suite_add_tcase(s, tc);
    sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
