/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The gossip window's slots (src/gossip/slot.c): a write read back whole;
 * the newer of two halves chosen; a half torn anywhere (a value, the
 * header's number or checksum, bytes of two writes) refused and counted,
 * the other half used instead; nothing newer than what was folded.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "gossip/slot.h"
#include "suite_run.h"

#define NV 37

static char *slot;
static size_t half;
static char copy[1024];

static void fill(double *v, double base)
{
    for (int i = 0; i < NV; i++)
        v[i] = base + i * 0.5;
}

static void setup(void)
{
    half = gossip_slot_half(NV);
    ck_assert_uint_le(half, sizeof(copy));
    ck_assert_uint_eq(half % 64, 0);
    slot = calloc(2, half);
    ck_assert_ptr_nonnull(slot);
}

static void teardown(void)
{
    free(slot);
}

/* Write seq of values base... into its half. */
static void put(uint64_t seq, double base)
{
    double v[NV];
    fill(v, base);
    gossip_slot_encode(slot + (seq % 2) * half, seq, v, NV);
}

static uint64_t get(uint64_t after, double *v, uint64_t *torn)
{
    return gossip_slot_read(slot, NV, after, copy, v, torn);
}

START_TEST(empty_then_whole)
{
    double v[NV], want[NV];
    uint64_t torn = 0;

    ck_assert_uint_eq(get(0, v, &torn), 0); /* never written */
    put(1, 10);
    ck_assert_uint_eq(get(0, v, &torn), 1);
    fill(want, 10);
    ck_assert_mem_eq(v, want, sizeof(v));
    put(2, 20);
    ck_assert_uint_eq(get(0, v, &torn), 2); /* the newer half */
    fill(want, 20);
    ck_assert_mem_eq(v, want, sizeof(v));
    ck_assert_uint_eq(get(2, v, &torn), 0); /* folded already */
    put(3, 30);                             /* overwrites write 1 */
    ck_assert_uint_eq(get(2, v, &torn), 3);
    ck_assert_uint_eq(torn, 0);
}
END_TEST

/* Every byte of the newest half's header and values flipped, in turn:
 * refused each time, and the other half (write 1) returned. */
START_TEST(torn_falls_back)
{
    double v[NV], want[NV];
    const size_t used = 16 + NV * sizeof(double);

    fill(want, 10);
    for (size_t b = 0; b < used; b++) {
        uint64_t torn = 0, got;
        put(1, 10);
        put(2, 20);
        slot[b] ^= 0x40;        /* write 2 is in half 0 (2 % 2) */
        got = get(0, v, &torn); /* a flipped number fails its checksum too */
        ck_assert_uint_eq(got, 1);
        ck_assert_uint_eq(torn, 1);
        ck_assert_mem_eq(v, want, sizeof(v));
    }
}
END_TEST

/* A half whose first values come from write 4 and the rest from write 2
 * (an RDMA write still landing over an old one). */
START_TEST(two_writes_mixed)
{
    double v[NV], want[NV];
    char old[1024];
    uint64_t torn = 0;

    put(2, 20);
    memcpy(old, slot, half);
    put(3, 30);
    put(4, 40); /* half 0 again */
    memcpy(slot + 16 + 8 * 5, old + 16 + 8 * 5, half - 16 - 8 * 5);
    ck_assert_uint_eq(get(0, v, &torn), 3);
    ck_assert_uint_eq(torn, 1);
    fill(want, 30);
    ck_assert_mem_eq(v, want, sizeof(v));
    /* Both halves torn: nothing. */
    slot[half + 20] ^= 1;
    ck_assert_uint_eq(get(0, v, &torn), 0);
    ck_assert_uint_eq(torn, 3);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("gossip slots");
    TCase *tc = tcase_create("slots");

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, empty_then_whole);
    tcase_add_test(tc, torn_falls_back);
    tcase_add_test(tc, two_writes_mixed);
    suite_add_tcase(s, tc);
    return unit_run(s);
}
