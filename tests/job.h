/* SPDX-License-Identifier: BSD-3-Clause */
/* Running a multi-process test program through rcomm-run, for the Check
 * drivers (test_coll.c, test_ps.c). RCOMM_RUN and TESTS_BUILDDIR come from
 * the automake environment; RCOMM_TEST_TRANSPORT picks the transport. */
#ifndef RCOMM_TESTS_JOB_H
#define RCOMM_TESTS_JOB_H

#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>

static inline const char *runner(void)
{
    const char *r = getenv("RCOMM_RUN");
    return r ? r : "./rcomm-run";
}

static inline const char *testdir(void)
{
    const char *d = getenv("TESTS_BUILDDIR");
    return d ? d : "./tests";
}

/* RCOMM_TEST_RANKS="2 3" runs the jobs of those rank counts only (the
 * others pass at once): the soft-RoCE VM (tests/rxe_suite.sh) runs some of
 * them over verbs, where a large rank count takes minutes on two emulated
 * CPUs, while the TCP suite runs the same code on all of them. Unset: all
 * of them. test_coll.c keeps its failure modes' counts whatever it says. */
static inline int job_ranks_wanted(int n)
{
    const char *l = getenv("RCOMM_TEST_RANKS");
    char *end;

    if (!l)
        return 1;
    for (;; l = end) {
        long v = strtol(l, &end, 10);
        if (end == l)
            return 0;
        if (v == n)
            return 1;
    }
}

/* Run PROGRAM on n ranks with extra environment; returns its exit status.
 * The ranks all run here, so RCOMM_SHM would carry their traffic through
 * shared memory: off unless RCOMM_TEST_SHM says otherwise, so that the
 * suite tests RCOMM_TEST_TRANSPORT (tests/shm_coll.sh tests shm). */
static inline int job(int n, const char *env, const char *program, const char *args)
{
    char cmd[1024];
    const char *tp = getenv("RCOMM_TEST_TRANSPORT"), *shm = getenv("RCOMM_TEST_SHM");
    int st;

    snprintf(cmd, sizeof(cmd),
             "env RCOMM_TRANSPORT=%s RCOMM_SHM=%s %s %s -n %d -t 900 %s/%s %s",
             tp ? tp : "tcp", shm ? shm : "off", env, runner(), n, testdir(), program,
             args);
    fprintf(stderr, "+ %s\n", cmd);
    fflush(stderr);
    st = system(cmd);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

#endif
