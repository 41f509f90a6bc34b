/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Drives coll_fail's disagreements that every rank must see within the call
 * (rcomm.h: a rank never returns OK from a collective another rank called
 * differently): one rank calls with count 0, or names another root, on 2, 3
 * and 5 ranks, the deviant first the first rank and then the last.
 * RCOMM_TIMEOUT is 30 s, so that a rank left waiting would end in TIMEOUT
 * (coll_fail requires MISMATCH): only detection ends these jobs. Some again
 * with the deviant, or the others, calling late. Then
 * coll_fail's handles mode on 2 and 3 ranks: a request, a parameter server
 * and the communicator used after destroy.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "job.h"
#include "suite_run.h"

static const char *modes[] = {
    "within-zero-allreduce", "within-zero-broadcast",      "within-zero-reduce",
    "within-zero-allgather", "within-zero-reduce-scatter", "within-zero-gather",
    "within-zero-scatter",   "within-zero-alltoall",       "within-root-broadcast",
    "within-root-reduce",    "within-root-gather",         "within-root-scatter",
};
#define NMODES (int)(sizeof(modes) / sizeof(modes[0]))
static const int ranks[] = {2, 3, 5};

#define ENV "RCOMM_TIMEOUT=30 RCOMM_LOG_LEVEL=none"

/* _i: mode, rank count, deviant (first or last rank). With RCOMM_CHECK_QUICK
 * (the sanitizer build, where each job takes a second) each mode and deviant
 * on one of the rank counts, in turn, so that every count still runs with
 * both deviants and both kinds of disagreement. */
START_TEST(within_the_call)
{
    const char *mode = modes[_i % NMODES];
    const int n = ranks[_i / NMODES % 3], deviant = _i / NMODES / 3 ? n - 1 : 0;
    char args[96];

    if (getenv("RCOMM_CHECK_QUICK") &&
        _i / NMODES % 3 != (_i % NMODES + _i / NMODES / 3) % 3)
        return;
    snprintf(args, sizeof(args), "%s %d", mode, deviant);
    ck_assert_int_eq(job(n, ENV, "coll_fail", args), 0);
}
END_TEST

/* The deviant, or the others, call late, with a progress thread that takes
 * in the messages of those that called before the late ones call: their
 * envelopes are checked when the call is made, even those that match
 * nothing it posts. */
START_TEST(within_the_call_late)
{
    static const char *const late[][2] = {
        {"within-zero-allreduce", "others-late"},
        {"within-zero-allreduce", "deviant-late"},
        {"within-zero-allgather", "others-late"},
        {"within-zero-broadcast", "others-late"},
        {"within-root-broadcast", "deviant-late"},
        {"within-root-reduce", "others-late"},
    };
    char args[96];

    snprintf(args, sizeof(args), "%s 1 %s", late[_i / 2][0], late[_i / 2][1]);
    ck_assert_int_eq(job(_i % 2 ? 5 : 3, ENV " RCOMM_PROGRESS=thread", "coll_fail", args),
                     0);
}
END_TEST

START_TEST(handles_after_destroy)
{
    ck_assert_int_eq(job(ranks[_i], ENV, "coll_fail", "handles"), 0);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("mismatch");
    TCase *tc = tcase_create("within");

    tcase_set_timeout(tc, 300);
    tcase_add_loop_test(tc, within_the_call, 0, NMODES * 3 * 2);
    tcase_add_loop_test(tc, within_the_call_late, 0, 12);
    tcase_add_loop_test(tc, handles_after_destroy, 0, 2);
    suite_add_tcase(s, tc);
    return unit_run(s);
}
