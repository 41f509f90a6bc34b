/* SPDX-License-Identifier: BSD-3-Clause */
/* Unit tests of the pattern arithmetic: blocks, segments, fold and partners. */
#include <check.h>
#include <stdlib.h>

#include "coll/pattern.h"
#include "suite_run.h"

START_TEST(blocks_cover_exactly)
{
    /* Blocks tile [0, count) in order, lengths differ by at most one. */
    const size_t counts[] = {0, 1, 2, 6, 7, 8, 1000003};
    for (size_t c = 0; c < sizeof(counts) / sizeof(counts[0]); c++) {
        for (int p = 1; p <= 9; p++) {
            coll_blocks_t b = {counts[c], p, 0, NULL, NULL, NULL};
            size_t next = 0, off, len, minl = (size_t)-1, maxl = 0;
            for (int i = 0; i < p; i++) {
                coll_block(&b, i, &off, &len);
                ck_assert_uint_eq(off, next);
                next = off + len;
                minl = len < minl ? len : minl;
                maxl = len > maxl ? len : maxl;
            }
            ck_assert_uint_eq(next, counts[c]);
            ck_assert_uint_le(maxl - minl, 1);
            /* block 0 is the longest: ring.c sizes its buffers by it */
            coll_block(&b, 0, &off, &len);
            ck_assert_uint_eq(len, maxl);
        }
    }
}
END_TEST

START_TEST(fixed_blocks_and_ranges)
{
    coll_blocks_t b = {30, 3, 10, NULL, NULL, NULL};
    size_t off, len;
    coll_block(&b, 2, &off, &len);
    ck_assert_uint_eq(off, 20);
    ck_assert_uint_eq(len, 10);
    coll_blocks_t e = {10, 4, 0, NULL, NULL, NULL}; /* 3 3 2 2 */
    coll_block_range(&e, 1, 2, &off, &len);
    ck_assert_uint_eq(off, 3);
    ck_assert_uint_eq(len, 5);
    coll_block_range(&e, 0, 4, &off, &len);
    ck_assert_uint_eq(off, 0);
    ck_assert_uint_eq(len, 10);
}
END_TEST

START_TEST(segments_and_mod)
{
    ck_assert_uint_eq(coll_nseg(0, 4), 0);
    ck_assert_uint_eq(coll_nseg(1, 4), 1);
    ck_assert_uint_eq(coll_nseg(4, 4), 1);
    ck_assert_uint_eq(coll_nseg(5, 4), 2);
    ck_assert_int_eq(coll_mod(-1, 5), 4);
    ck_assert_int_eq(coll_mod(-6, 5), 4);
    ck_assert_int_eq(coll_mod(7, 5), 2);
    ck_assert_int_eq(coll_log2(1), 0);
    ck_assert_int_eq(coll_log2(8), 3);
}
END_TEST

START_TEST(fold_is_a_bijection)
{
    /* For every p: the butterfly ranks are exactly 0..p2-1, each real rank
     * maps back to itself, and folded ranks pair with an odd partner. */
    for (int p = 1; p <= 33; p++) {
        int seen[64] = {0};
        coll_fold_t f;
        for (int r = 0; r < p; r++) {
            coll_fold(r, p, &f);
            ck_assert_int_eq(f.p2 + f.rem, p);
            ck_assert_int_eq(f.p2 & (f.p2 - 1), 0);
            ck_assert_int_le(f.rem, f.p2 - 1);
            if (f.vrank < 0) {
                ck_assert_int_eq(r % 2, 0);
                ck_assert_int_eq(f.fold_peer, r + 1);
                continue;
            }
            ck_assert_int_lt(f.vrank, f.p2);
            ck_assert_int_eq(seen[f.vrank]++, 0);
            ck_assert_int_eq(coll_fold_real(&f, f.vrank), r);
            if (f.fold_peer >= 0)
                ck_assert_int_eq(f.fold_peer, r - 1);
        }
        for (int v = 0; v < f.p2; v++)
            ck_assert_int_eq(seen[v], 1);
    }
}
END_TEST

START_TEST(butterfly_partners_pair_up)
{
    /* Partner of partner is self, at every distance. */
    for (int p2 = 2; p2 <= 64; p2 *= 2)
        for (int v = 0; v < p2; v++)
            for (int mask = 1; mask < p2; mask *= 2) {
                int w = v ^ mask;
                ck_assert_int_lt(w, p2);
                ck_assert_int_eq(w ^ mask, v);
            }
}
END_TEST

int main(void)
{
    Suite *s = suite_create("pattern");
    TCase *tc = tcase_create("core");

    tcase_add_test(tc, blocks_cover_exactly);
    tcase_add_test(tc, fixed_blocks_and_ranges);
    tcase_add_test(tc, segments_and_mod);
    tcase_add_test(tc, fold_is_a_bijection);
    tcase_add_test(tc, butterfly_partners_pair_up);
    suite_add_tcase(s, tc);
    return unit_run(s);
}
