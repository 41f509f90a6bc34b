/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Drives the multi-process tests through rcomm-run: coll_check (every
 * collective, algorithm, datatype, op and awkward count) and coll_set_check
 * (reduce, gather, scatter, alltoall, the variable-count calls and
 * point-to-point, blocking and not, under both reduce algorithms) on 1, 2,
 * 3, 5, 7 and 8 ranks, and coll_fail's failure scenarios. Built a second
 * time as test_coll_small (COLL_SMALL_SEGMENTS), which runs both checks
 * with tiny segments so that every pipeline path runs, on 2, 3 and 8
 * ranks (a pair, an odd count, three butterfly stages): two programs, so
 * that `make -j` runs them side by side. RCOMM_TEST_TRANSPORT picks the
 * transport (default tcp): the same suite runs over every transport.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "job.h"

/* RCOMM_TEST_RANKS is unset or lists counts of counts[] only, at least one:
 * a list that matches none of them must not pass by running nothing. */
static int ranks_list_valid(const int *counts, int ncounts)
{
    const char *l = getenv("RCOMM_TEST_RANKS");
    char *end;
    int found = 0, bad = 0;

    for (; l && !bad; l = end) {
        long v = strtol(l, &end, 10);
        int i = 0;

        if (end == l)
            break;
        while (i < ncounts && counts[i] != v)
            i++;
        bad = i == ncounts;
        found++;
    }
    if (l && (bad || !found || l[strspn(l, " ")] != '\0')) {
        fprintf(stderr,
                "test_coll: RCOMM_TEST_RANKS='%s': not a list of rank counts of "
                "this program\n",
                getenv("RCOMM_TEST_RANKS"));
        return 0;
    }
    return 1;
}

/* coll_set_check with RCOMM_REDUCE_ALGO=binomial, then its reduce cases again
 * with rsg. */
static int set_check(int n, const char *env, const char *args)
{
    char e[256], a[64];

    snprintf(e, sizeof(e), "%s RCOMM_REDUCE_ALGO=binomial", env);
    if (job(n, e, "coll_set_check", args) != 0)
        return 1;
    snprintf(e, sizeof(e), "%s RCOMM_REDUCE_ALGO=rsg", env);
    snprintf(a, sizeof(a), "%s --reduce-only", args);
    return job(n, e, "coll_set_check", a);
}

#ifdef COLL_SMALL_SEGMENTS
static const int seg_ranks[] = {2, 3, 8};
#define NSEG_RANKS (int)(sizeof(seg_ranks) / sizeof(seg_ranks[0]))

START_TEST(conformance_small_segments)
{
    /* 64-byte segments, 2 slots: many segments per block, slots reused. */
    if (!job_ranks_wanted(seg_ranks[_i]))
        return;
    ck_assert_int_eq(job(seg_ranks[_i], "RCOMM_SEGMENT_SIZE=64 RCOMM_PIPELINE_DEPTH=2",
                         "coll_check", "--quick"),
                     0);
}
END_TEST

START_TEST(conformance_set_small_segments)
{
    if (!job_ranks_wanted(seg_ranks[_i]))
        return;
    ck_assert_int_eq(set_check(seg_ranks[_i],
                               "RCOMM_SEGMENT_SIZE=64 RCOMM_PIPELINE_DEPTH=2", "--quick"),
                     0);
}
END_TEST

#else
static const int ranks[] = {1, 2, 3, 5, 7, 8};
#define NRANKS (int)(sizeof(ranks) / sizeof(ranks[0]))

/* RCOMM_CHECK_QUICK=1 (sanitizer builds) skips the 1000003-element counts,
 * and so do 7 and 8 ranks: there they took 20 s of 24 (4 ranks to a core
 * here), and what they test beyond 4099 elements, blocks of several
 * segments, runs on 8 ranks with 64-byte segments (test_coll_small) and in
 * coll_check's staged cases of up to 3 MiB. */
static const char *quick(int n)
{
    return getenv("RCOMM_CHECK_QUICK") || n >= 7 ? "--quick" : "";
}

START_TEST(conformance)
{
    if (!job_ranks_wanted(ranks[_i]))
        return;
    ck_assert_int_eq(job(ranks[_i], "", "coll_check", quick(ranks[_i])), 0);
}
END_TEST

START_TEST(conformance_set)
{
    if (!job_ranks_wanted(ranks[_i]))
        return;
    ck_assert_int_eq(set_check(ranks[_i], "", quick(ranks[_i])), 0);
}
END_TEST

static const char *failures[] = {
    "badargs",
    "exit-early",
    "hang",
    "mismatch-count",
    "mismatch-dtype",
    "mismatch-op",
    "mismatch-root",
    "mismatch-coll",
    "mismatch-nb",
    /* the calls added with reduce, gather and the rest */
    "badargs-rooted",
    "badargs-v",
    "badargs-alltoallv-null",
    "badargs-p2p",
    /* disagreements about them */
    "root-reduce",
    "root-gather",
    "root-scatter",
    "root-reduce-late",
    "root-gather-late",
    "count-reduce",
    "count-gather",
    "count-scatter",
    "count-alltoall",
    "counts-allgatherv",
    "counts-alltoallv",
    "counts-alltoallv-zero",
    "counts-alltoallv-unexpected",
    "p2p-count",
    "p2p-dtype",
    /* dead peers */
    "p2p-exit",
    "p2p-hang",
    "exit-alltoall",
};
#define NFAILURES (int)(sizeof(failures) / sizeof(failures[0]))

/* RCOMM_TIMEOUT for a mode: short where the failure is a rank that stays
 * silent (the others must give up on it), or two roots that wait for each
 * other (only the timeout's diagnosis can tell them apart). */
static const char *failure_timeout(const char *mode)
{
    if (strcmp(mode, "hang") == 0 || strcmp(mode, "p2p-hang") == 0)
        return "1";
    if (strncmp(mode, "root-", 5) == 0)
        return "2";
    return "20";
}

/* Every mode on 3 and on 5 ranks; with RCOMM_CHECK_QUICK (the sanitizer
 * build, the soft-RoCE VM) each mode on one of them, in turn, so that both
 * rank counts still run. */
START_TEST(failure_modes)
{
    const char *mode = failures[_i % NFAILURES];
    const int n = _i < NFAILURES ? 3 : 5;
    char env[128];

    if (getenv("RCOMM_CHECK_QUICK") && (_i % NFAILURES) % 2 != (_i < NFAILURES ? 0 : 1))
        return;
    snprintf(env, sizeof(env), "RCOMM_TIMEOUT=%s RCOMM_LOG_LEVEL=none",
             failure_timeout(mode));
    ck_assert_int_eq(job(n, env, "coll_fail", mode), 0);
}
END_TEST

/* Ranks started by srun or mpirun carry only those launchers' variables
 * (here set by hand: 3 processes, no rcomm-run). */
static const char *launcher_vars[][2] = {
    {"SLURM_PROCID", "SLURM_NTASKS"}, {"OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_SIZE"}};

START_TEST(foreign_launchers)
{
    char cmd[2048];
    int st;

    /* The rendezvous port is picked here, not by rcomm-run: another job may
     * hold it, so a port found busy is tried again with another (up to 3). */
    snprintf(cmd, sizeof(cmd),
             "for try in 1 2 3; do "
             "port=$((20000 + ($$ * 7 + try * 4099) %% 30000)); log=$(mktemp); pids=; "
             "for r in 0 1 2; do "
             "env -u RCOMM_RANK -u RCOMM_SIZE %s=$r %s=3 RCOMM_ADDR=127.0.0.1:$port "
             "RCOMM_TIMEOUT=20 timeout 120 %s/coll_fail badargs 2>>\"$log\" & "
             "pids=\"$pids $!\"; done; "
             "rc=0; for p in $pids; do wait $p || rc=1; done; "
             "grep -q 'Address already in use' \"$log\"; busy=$?; cat \"$log\" >&2; "
             "rm -f \"$log\"; [ $rc -eq 0 ] && exit 0; [ $busy -eq 0 ] || exit $rc; "
             "done; exit 1",
             launcher_vars[_i][0], launcher_vars[_i][1], testdir());
    fprintf(stderr, "+ %s\n", cmd);
    st = system(cmd);
    ck_assert_int_eq(WIFEXITED(st) ? WEXITSTATUS(st) : -1, 0);
}
END_TEST

#endif

int main(void)
{
    Suite *s = suite_create("collectives");
    TCase *conf = tcase_create("conformance");
    SRunner *sr;
    int failed;

    tcase_set_timeout(conf, 1800);
#ifdef COLL_SMALL_SEGMENTS
    if (!ranks_list_valid(seg_ranks, NSEG_RANKS))
        return EXIT_FAILURE;
    tcase_add_loop_test(conf, conformance_small_segments, 0, NSEG_RANKS);
    tcase_add_loop_test(conf, conformance_set_small_segments, 0, NSEG_RANKS);
    suite_add_tcase(s, conf);
#else
    TCase *set = tcase_create("conformance-set"), *fail = tcase_create("failures");

    if (!ranks_list_valid(ranks, NRANKS))
        return EXIT_FAILURE;
    tcase_add_loop_test(conf, conformance, 0, NRANKS);
    /* Tagged, so that a run can take coll_set_check alone (CK_INCLUDE_TAGS)
     * or leave it out (CK_EXCLUDE_TAGS): tests/rxe_suite.sh. */
    tcase_set_tags(set, "set");
    tcase_set_timeout(set, 1800);
    tcase_add_loop_test(set, conformance_set, 0, NRANKS);
    tcase_set_timeout(fail, 300);
    tcase_add_loop_test(fail, failure_modes, 0, 2 * NFAILURES);
    tcase_add_loop_test(fail, foreign_launchers, 0, 2);
    suite_add_tcase(s, conf);
    suite_add_tcase(s, set);
    suite_add_tcase(s, fail);
#endif
    sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
