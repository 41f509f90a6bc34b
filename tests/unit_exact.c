/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Unit tests for perf/exact_inputs.h, the inputs and references of the
 * conformance checks and the benchmarks' #wrong column. Its fills and
 * checks write one period and copy it on: each must give what the element
 * by element definition gives (exact_input, exact_expect, exact_expect_call)
 * at every count around the period, and exact_count_wrong must count every
 * element that differs, wherever it lies in a block or a window.
 */
#include <check.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "perf/exact_inputs.h"
#include "suite_run.h"

#define CHECK(cond, ...)                                                                 \
    do {                                                                                 \
        if (!(cond))                                                                     \
            ck_abort_msg(__VA_ARGS__);                                                   \
    } while (0)

static const size_t counts[] = {0,
                                1,
                                2,
                                EXACT_PERIOD - 1,
                                EXACT_PERIOD,
                                EXACT_PERIOD + 1,
                                2 * EXACT_PERIOD + 7,
                                9 * EXACT_PERIOD - 3};
#define NCOUNTS (sizeof(counts) / sizeof(counts[0]))
#define MAXN (9 * EXACT_PERIOD)

/* Fills and references: as the per-element definitions say. */
START_TEST(test_fill_and_expect)
{
    const rcomm_dtype_t dt = (rcomm_dtype_t)(_i / RCOMM_OP_COUNT);
    const rcomm_op_t op = (rcomm_op_t)(_i % RCOMM_OP_COUNT);
    const size_t es = rcomm_dtype_size(dt);
    char *got = malloc(MAXN * es), *want = malloc(MAXN * es);

    for (size_t c = 0; c < NCOUNTS; c++) {
        const size_t n = counts[c];
        for (int r = 0; r < 8; r += 3) {
            exact_fill(got, n, r, op, dt);
            for (size_t i = 0; i < n; i++)
                exact_put(want, i, dt, (double)exact_input(r, i, op, dt));
            CHECK(memcmp(got, want, n * es) == 0, "exact_fill %s %s rank %d count %zu",
                  rcomm_dtype_name(dt), rcomm_op_name(op), r, n);
        }
        for (int size = 1; size <= 8; size += 3)
            for (size_t first = 0; first < 3000; first += 1477) {
                exact_expect_range(got, first, n, op, dt, size);
                for (size_t i = 0; i < n; i++)
                    exact_expect(want, first + i, i, op, dt, size);
                CHECK(memcmp(got, want, n * es) == 0,
                      "exact_expect_range %s %s %d ranks from %zu count %zu",
                      rcomm_dtype_name(dt), rcomm_op_name(op), size, first, n);
            }
    }
    free(got);
    free(want);
}
END_TEST

/* exact_count_wrong: 0 on the result exact_expect_call describes, and one
 * per element changed: the first and last of the result, a block's edges,
 * a window's edges. */
START_TEST(test_count_wrong)
{
    const exact_coll_t coll = (exact_coll_t)_i;

    for (int p = 1; p <= 8; p += 3)
        for (size_t c = 0; c < NCOUNTS * 4; c++) {
            const int ip = c & 1, rank = c & 2 ? p - 1 : p / 2; /* the root, or not */
            const exact_call_t call = {coll, RCOMM_F16, RCOMM_MIN,    p - 1,
                                       rank, p,         counts[c / 4]};

            const size_t es = rcomm_dtype_size(call.dt), total = exact_recv_elems(&call),
                         at = exact_result_at(&call, ip), n = call.count;
            const size_t spots[] = {
                0, total - 1, n - 1, n, EXACT_PERIOD - 1, EXACT_PERIOD, 2 * n + 3};
            char *rbuf = calloc(at + total + 1, es), *res = rbuf + at * es;
            size_t changed = 0, done[8];

            for (size_t i = 0; i < total; i++)
                exact_expect_call(&call, i, ip, res + i * es);
            CHECK(exact_count_wrong(&call, rbuf, ip) == 0,
                  "coll %d, %d ranks, count %zu%s: a right result counted wrong", coll, p,
                  n, ip ? " in place" : "");
            for (size_t k = 0; k < sizeof(spots) / sizeof(spots[0]); k++) {
                const size_t s = spots[k];
                bool again = false;
                for (size_t j = 0; j < changed; j++)
                    again |= done[j] == s;
                if (s >= total || again)
                    continue;
                res[s * es + 1] ^= 0x40; /* an exponent bit: another value */
                done[changed++] = s;
            }
            CHECK(exact_count_wrong(&call, rbuf, ip) == changed,
                  "coll %d, %d ranks, count %zu%s: %zu wrong counted as %zu", coll, p, n,
                  ip ? " in place" : "", changed, exact_count_wrong(&call, rbuf, ip));
            free(rbuf);
        }
}
END_TEST

int main(void)
{
    Suite *s = suite_create("exact");
    TCase *tc = tcase_create("exact");

    tcase_set_timeout(tc, 300); /* valgrind and the emulated VM are slow */
    tcase_add_loop_test(tc, test_fill_and_expect, 0, RCOMM_DTYPE_COUNT * RCOMM_OP_COUNT);
    tcase_add_loop_test(tc, test_count_wrong, 0, EXACT_COLL_COUNT);
    suite_add_tcase(s, tc);
    return unit_run(s);
}
