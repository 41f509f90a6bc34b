/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Unit tests for reduce_fan(), the one-pass many-to-many kernel: every
 * destination must hold, bit for bit, what a chain of reduce_apply() over
 * the sources in order and reduce_finish() give (unit_reduce.c checks those
 * against references of its own). Every datatype and op, 1 to 8 sources, 1
 * and 3 destinations, counts around the kernel's 64-byte line and its head
 * (the elements before the destinations' first line boundary), in place
 * and not; bytes around each destination's range must stay as they were.
 * Where it says it does not serve (its header's list, checked here), it
 * must have written nothing. All of it in every tier of kernels the CPU
 * runs (baseline, AVX2, AVX-512).
 */
#include <check.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "reduce/reduce.h"
#include "tiers.h"

#define CHECK(cond, ...)                                                                 \
    do {                                                                                 \
        if (!(cond))                                                                     \
            ck_abort_msg(__VA_ARGS__);                                                   \
    } while (0)

#define MAXB 8
#define GUARD 0xa5

static uint64_t rng_state;

static uint64_t rng(void) /* xorshift64* */
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 2685821657736338717ull;
}

/* Values whose sums and products stay finite in every type: small
 * integers for the integers, and for the floats a sign, a few mantissa bits
 * and an exponent near 0 (rounding still happens in f16 and bf16). */
static void fill(rcomm_dtype_t dt, void *buf, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        const uint64_t r = rng();
        const float f = (float)((int)(r % 2001) - 1000) / (float)(1 + (r >> 20) % 64);

        switch (dt) {
        case RCOMM_F32: ((float *)buf)[i] = f; break;
        case RCOMM_F64: ((double *)buf)[i] = (double)f / 3.0; break;
        case RCOMM_F16: ((uint16_t *)buf)[i] = reduce_f32_to_f16(f / 64); break;
        case RCOMM_BF16: ((uint16_t *)buf)[i] = reduce_f32_to_bf16(f); break;
        case RCOMM_I32: ((int32_t *)buf)[i] = (int32_t)(r >> 33); break;
        case RCOMM_I64: ((int64_t *)buf)[i] = (int64_t)(r >> 1); break;
        default: ((uint8_t *)buf)[i] = (uint8_t)r; break;
        }
    }
}

static void *xmalloc(size_t n)
{
    void *p = aligned_alloc(64, (n + 63) / 64 * 64 + 64);

    ck_assert_ptr_nonnull(p);
    return p;
}

/* Around a line of every element size (64 bytes: 8 to 64 elements). */
static const size_t counts[] = {0, 1, 7, 9, 17, 63, 65, 1000};
static const int nsrcs[] = {1, 2, 3, 8};

/* What reduce.h says reduce_fan serves. */
static bool serves(rcomm_dtype_t dt, rcomm_op_t op, int ns, char *const *dst, int nd,
                   size_t at)
{
    const uintptr_t mis = ((uintptr_t)dst[0] + at) % 64;
    const bool integer = dt == RCOMM_I32 || dt == RCOMM_I64 || dt == RCOMM_U8;
    const bool half = dt == RCOMM_F16 || dt == RCOMM_BF16;
    bool ok = (!half || reduce_isa() != REDUCE_ISA_BASE) &&
              (op != RCOMM_AVG || ns == 1 || !integer) && mis % rcomm_dtype_size(dt) == 0;

#if !defined(__x86_64__)
    ok = false;
#endif
    for (int j = 1; j < nd; j++)
        ok = ok && ((uintptr_t)dst[j] + at) % 64 == mis;
    return ok;
}

/* off: elements before the range. skew: the last destination one element
 * further, so the destinations are not aligned alike. In place, the first
 * destinations are the sources. */
static void one(rcomm_dtype_t dt, rcomm_op_t op, size_t n, int ns, int nd, size_t off,
                bool inplace, bool skew)
{
    const size_t es = rcomm_dtype_size(dt), total = (n + off + 2) * es, at = off * es;
    char *src[MAXB], *dst[MAXB], *keep[MAXB];
    char *want = xmalloc(n * es + 1);

    for (int k = 0; k < ns; k++) {
        src[k] = xmalloc(total);
        keep[k] = xmalloc(total);
        fill(dt, src[k], n + off + 2);
        memcpy(keep[k], src[k], total);
    }
    /* The chain, on copies. */
    memcpy(want, src[0] + at, n * es);
    for (int k = 1; k < ns; k++)
        reduce_apply(want, want, src[k] + at, n, dt, op);
    reduce_finish(want, n, dt, op, ns);
    for (int j = 0; j < nd; j++) {
        if (inplace && j < ns) {
            dst[j] = src[j];
        } else {
            dst[j] = xmalloc(total + es);
            memset(dst[j], GUARD, total + es);
            if (skew && j == nd - 1)
                dst[j] += es;
        }
    }
    const bool served = reduce_fan((void *const *)dst, nd, (const void *const *)src, ns,
                                   at, n, dt, op, ns);
    CHECK(served == serves(dt, op, ns, dst, nd, at),
          "%s %s sources=%d destinations=%d%s: reduce_fan says %s", rcomm_dtype_name(dt),
          rcomm_op_name(op), ns, nd, skew ? " skewed" : "",
          served ? "it served" : "it does not serve");
    for (int j = 0; j < nd; j++) {
        const bool alias = inplace && j < ns;

        if (!served) {
            for (size_t b = 0; b < total; b++)
                CHECK(alias ? dst[j][b] == keep[j][b] : (unsigned char)dst[j][b] == GUARD,
                      "%s %s: not served, yet destination %d changed",
                      rcomm_dtype_name(dt), rcomm_op_name(op), j);
            continue;
        }
        CHECK(memcmp(dst[j] + at, want, n * es) == 0,
              "%s %s n=%zu sources=%d destination %d of %d off=%zu%s%s: wrong result",
              rcomm_dtype_name(dt), rcomm_op_name(op), n, ns, j, nd, off,
              alias ? " in place" : "", skew ? " skewed" : "");
        for (size_t b = 0; !alias && b < total; b++)
            CHECK(b - at < n * es || (unsigned char)dst[j][b] == GUARD,
                  "%s %s n=%zu: destination %d: byte %zu outside the range written",
                  rcomm_dtype_name(dt), rcomm_op_name(op), n, j, b);
        if (alias)
            CHECK(memcmp(dst[j], keep[j], at) == 0 &&
                      memcmp(dst[j] + at + n * es, keep[j] + at + n * es, 2 * es) == 0,
                  "%s %s n=%zu: in place, bytes outside the range changed",
                  rcomm_dtype_name(dt), rcomm_op_name(op), n);
    }
    for (int k = 0; k < ns; k++)
        CHECK((inplace && k < nd) || memcmp(src[k], keep[k], total) == 0,
              "%s %s n=%zu: source %d changed", rcomm_dtype_name(dt), rcomm_op_name(op),
              n, k);
    for (int j = 0; j < nd; j++)
        if (!(inplace && j < ns))
            free(skew && j == nd - 1 ? dst[j] - es : dst[j]);
    for (int k = 0; k < ns; k++)
        free(src[k]), free(keep[k]);
    free(want);
}

START_TEST(test_fan_matrix)
{
    const rcomm_dtype_t dt = (rcomm_dtype_t)(_i / RCOMM_OP_COUNT);
    const rcomm_op_t op = (rcomm_op_t)(_i % RCOMM_OP_COUNT);
    static const size_t offs[] = {0, 1, 5};

    rng_state = 0x9e3779b97f4a7c15ull + (uint64_t)_i;
    for (size_t c = 0; c < sizeof(counts) / sizeof(counts[0]); c++)
        for (size_t s = 0; s < sizeof(nsrcs) / sizeof(nsrcs[0]); s++)
            for (size_t o = 0; o < sizeof(offs) / sizeof(offs[0]); o++)
                for (int mode = 0; mode < 8; mode++)
                    one(dt, op, counts[c], nsrcs[s], mode & 4 ? 3 : 1, offs[o], mode & 1,
                        mode & 2);
}
END_TEST

/* A whole 256 KiB segment, as the mapped AllReduce hands over: 4 ranks,
 * in place and not. */
START_TEST(test_fan_segment)
{
    rng_state = 42;
    for (int inplace = 0; inplace < 2; inplace++)
        one(RCOMM_F32, RCOMM_SUM, 65536, 4, 4, 0, inplace, false);
}
END_TEST

/* MIN/MAX propagate a NaN from any source, as the chain does (kernels.h);
 * the blend of the vector kernel must too. A whole line of f32 and f64,
 * the NaN in each source in turn; -0 and +0 give what the chain gives. */
START_TEST(test_fan_nan)
{
    for (int dt = 0; dt < 2; dt++)
        for (int op = 0; op < 2; op++)
            for (int at = 0; at < 3; at++) {
                const rcomm_dtype_t t = dt ? RCOMM_F64 : RCOMM_F32;
                const rcomm_op_t o = op ? RCOMM_MAX : RCOMM_MIN;
                const size_t es = rcomm_dtype_size(t), n = 64 / es;
                char *src[3], *dst[1], *want = xmalloc(64);

                for (int k = 0; k < 3; k++) {
                    src[k] = xmalloc(64);
                    for (size_t i = 0; i < n; i++) {
                        const double v = k == at && i % 3 == 0 ? NAN
                                         : i % 3 == 1          ? (k ? 0.0 : -0.0)
                                                               : (double)(k * 7 % 5) - 2;

                        if (dt)
                            ((double *)src[k])[i] = v;
                        else
                            ((float *)src[k])[i] = (float)v;
                    }
                }
                dst[0] = xmalloc(64);
                memcpy(want, src[0], 64);
                for (int k = 1; k < 3; k++)
                    reduce_apply(want, want, src[k], n, t, o);
                ck_assert(reduce_fan((void *const *)dst, 1, (const void *const *)src, 3,
                                     0, n, t, o, 3));
                for (size_t i = 0; i < n; i++) {
                    const double g = dt ? ((double *)dst[0])[i] : ((float *)dst[0])[i];
                    const double w = dt ? ((double *)want)[i] : ((float *)want)[i];

                    CHECK(i % 3 ? memcmp(dst[0] + i * es, want + i * es, es) == 0
                                : isnan(g) && isnan(w),
                          "%s %s: NaN in source %d, element %zu: %g, the chain %g",
                          rcomm_dtype_name(t), rcomm_op_name(o), at, i, g, w);
                }
                for (int k = 0; k < 3; k++)
                    free(src[k]);
                free(dst[0]), free(want);
            }
}
END_TEST

static bool half_nan(rcomm_dtype_t dt, uint16_t h)
{
    return dt == RCOMM_F16 ? (h & 0x7c00) == 0x7c00 && (h & 0x3ff)
                           : (h & 0x7f80) == 0x7f80 && (h & 0x7f);
}

/* The halves' kernels on every bit pattern: random 16-bit elements (NaNs
 * with payloads, infinities, subnormals, ties), 3 sources, every op; the
 * chain's bits, or for SUM, PROD and AVG a NaN where the chain's is a NaN
 * (which operand's payload a sum keeps is the compiler's choice, as in
 * unit_reduce). MIN and MAX pick an operand: the same bits. */
START_TEST(test_fan_half_bits)
{
    enum { N = 2 * 32 + 5 };

    rng_state = 7;
    for (int h = 0; h < 2; h++)
        for (int op = 0; op < RCOMM_OP_COUNT; op++) {
            const rcomm_dtype_t t = h ? RCOMM_BF16 : RCOMM_F16;
            uint16_t *src[3], *dst = xmalloc(N * 2), *want = xmalloc(N * 2);

            for (int k = 0; k < 3; k++) {
                src[k] = xmalloc(N * 2);
                for (size_t i = 0; i < N; i++)
                    src[k][i] = (uint16_t)(rng() >> 48);
            }
            memcpy(want, src[0], N * 2);
            for (int k = 1; k < 3; k++)
                reduce_apply(want, want, src[k], N, t, (rcomm_op_t)op);
            reduce_finish(want, N, t, (rcomm_op_t)op, 3);
            CHECK(reduce_fan((void *const *)&dst, 1, (const void *const *)src, 3, 0, N, t,
                             (rcomm_op_t)op, 3) == (reduce_isa() != REDUCE_ISA_BASE),
                  "%s %s: served in the wrong tiers", rcomm_dtype_name(t),
                  rcomm_op_name((rcomm_op_t)op));
            for (size_t i = 0; i < N && reduce_isa() != REDUCE_ISA_BASE; i++)
                CHECK(dst[i] == want[i] || (op != RCOMM_MIN && op != RCOMM_MAX &&
                                            half_nan(t, dst[i]) && half_nan(t, want[i])),
                      "%s %s: element %zu (%04x %04x %04x) is %04x, the chain %04x",
                      rcomm_dtype_name(t), rcomm_op_name((rcomm_op_t)op), i, src[0][i],
                      src[1][i], src[2][i], dst[i], want[i]);
            for (int k = 0; k < 3; k++)
                free(src[k]);
            free(dst), free(want);
        }
}
END_TEST

static Suite *fan_suite(const char *tier)
{
    Suite *s = suite_create(tier);
    TCase *tc = tiers_case("fan");

    tcase_add_loop_test(tc, test_fan_matrix, 0, RCOMM_DTYPE_COUNT * RCOMM_OP_COUNT);
    tcase_add_test(tc, test_fan_segment);
#ifdef __x86_64__
    tcase_add_test(tc, test_fan_nan);
    tcase_add_test(tc, test_fan_half_bits);
#endif
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return tiers_run("unit_fan", fan_suite) == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
