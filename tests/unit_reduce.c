/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Unit tests for the reduction kernels and the half-precision conversions.
 *
 * Every expected value is computed here without calling the code under test:
 * half formats are rounded by an exact double-arithmetic reference (ref_encode), and
 * binary16 is also checked against gcc's _Float16 (libgcc soft-fp) where available.
 * Results are compared bit for bit, except that any NaN matches any NaN in the
 * reduction checks and -0 matches +0 for MIN/MAX. The kernels' cases run in every
 * tier of kernels the CPU has (tiers.h).
 */
#include <check.h>
#include <float.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "reduce/reduce.h"
#include "tiers.h"

#if defined(__FLT16_MAX__)
#define HAVE_FLOAT16 1
#endif
#if defined(__x86_64__) || defined(__i386__)
#include <xmmintrin.h>
#define HAVE_MXCSR 1
#endif

/* ---- helpers ----------------------------------------------------------- */

/* ck_assert_msg() records a mark point through a pipe on every pass: millions of them
 * make the loops below crawl in system calls. This one only acts on failure. */
#define CHECK(cond, ...)                                                                 \
    do {                                                                                 \
        if (!(cond))                                                                     \
            ck_abort_msg(__VA_ARGS__);                                                   \
    } while (0)

static uint64_t rng_state;

static void rng_seed(uint64_t seed)
{
    rng_state = seed * 0x9e3779b97f4a7c15ull + 1;
}

static uint64_t rng(void) /* xorshift64* */
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 0x2545f4914f6cdd1dull;
}

static uint32_t fbits(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof(u));
    return u;
}

static float bitsf(uint32_t u)
{
    float f;
    memcpy(&f, &u, sizeof(f));
    return f;
}

/* A small binary floating-point format: p significand bits (with the implicit one),
 * exponent bias, and the exponent of the smallest normal. */
typedef struct {
    int p, bias, emin;
} fmt_t;

static const fmt_t FMT_F16 = {11, 15, -14};
static const fmt_t FMT_BF16 = {8, 127, -126};

/* Value of a half bit pattern, by the textbook formula. */
static double ref_decode(fmt_t fmt, uint16_t h)
{
    int mbits = fmt.p - 1;
    int ebits = 15 - mbits;
    unsigned emask = (1u << ebits) - 1;
    unsigned exp = (h >> mbits) & emask, mant = h & ((1u << mbits) - 1);
    double sign = (h & 0x8000) ? -1.0 : 1.0;
    if (exp == emask)
        return mant ? NAN : sign * INFINITY;
    if (exp == 0)
        return sign * ldexp(mant, fmt.emin - mbits);
    return sign * ldexp(mant + (1u << mbits), (int)exp - fmt.bias - mbits);
}

/* Bit pattern of x, rounded to the format to nearest even. The rounding is done by
 * scaling to an integer number of quanta and nearbyint(), all exact in double
 * except that one rounding. NaN gives the quiet NaN with x's top payload bits. */
static uint16_t ref_encode(fmt_t fmt, double x, uint32_t f32_bits_for_nan)
{
    int mbits = fmt.p - 1;
    int emax = fmt.bias;
    uint16_t sign = signbit(x) ? 0x8000 : 0;
    uint16_t inf = (uint16_t)(((1u << (15 - mbits)) - 1) << mbits);
    if (isnan(x))
        return (uint16_t)(sign | inf | (1u << (mbits - 1)) |
                          ((f32_bits_for_nan & 0x7fffff) >> (23 - mbits)));
    double ax = fabs(x);
    if (isinf(ax))
        return sign | inf;
    if (ax == 0)
        return sign;
    int e = ilogb(ax);
    if (e < fmt.emin)
        e = fmt.emin;
    double q = nearbyint(ldexp(ax, mbits - e)); /* in quanta of 2^(e - mbits) */
    double r = ldexp(q, e - mbits);
    if (r >= ldexp(1, emax + 1))
        return sign | inf;
    if (r < ldexp(1, fmt.emin))
        return (uint16_t)(sign | (uint16_t)ldexp(r, mbits - fmt.emin));
    int re = ilogb(r);
    unsigned mant = (unsigned)ldexp(r, mbits - re) - (1u << mbits);
    return (uint16_t)(sign | ((unsigned)(re + fmt.bias) << mbits) | mant);
}

static uint16_t ref_round_f32(fmt_t fmt, float f)
{
    return ref_encode(fmt, f, fbits(f));
}

/* Element values, read with memcpy (buffers are untyped bytes). */
static double load_float(rcomm_dtype_t dt, const void *p)
{
    float f;
    double d;
    uint16_t h;
    if (dt == RCOMM_F32) {
        memcpy(&f, p, sizeof(f));
        return f;
    }
    if (dt == RCOMM_F64) {
        memcpy(&d, p, sizeof(d));
        return d;
    }
    memcpy(&h, p, sizeof(h));
    return ref_decode(dt == RCOMM_F16 ? FMT_F16 : FMT_BF16, h);
}

static int64_t load_int(rcomm_dtype_t dt, const void *p)
{
    int32_t i;
    int64_t l;
    uint8_t u;
    if (dt == RCOMM_I32) {
        memcpy(&i, p, sizeof(i));
        return i;
    }
    if (dt == RCOMM_I64) {
        memcpy(&l, p, sizeof(l));
        return l;
    }
    memcpy(&u, p, sizeof(u));
    return u;
}

static int is_float(rcomm_dtype_t dt)
{
    return dt == RCOMM_F32 || dt == RCOMM_F64 || dt == RCOMM_F16 || dt == RCOMM_BF16;
}

#ifdef HAVE_FLOAT16
static uint16_t oracle_f32_to_f16(float f)
{
    _Float16 h = (_Float16)f;
    uint16_t u;
    memcpy(&u, &h, sizeof(u));
    return u;
}

static float oracle_f16_to_f32(uint16_t u)
{
    _Float16 h;
    memcpy(&h, &u, sizeof(h));
    return (float)h;
}
#endif

/* A float that stresses rounding to the format: exponents around the format's range,
 * random mantissa bits, random sign; or, one time in four, any bit pattern. */
static float random_float_near(fmt_t fmt)
{
    uint64_t r = rng();
    if ((r & 3) == 0)
        return bitsf((uint32_t)(r >> 32));
    int lo = fmt.emin - fmt.p - 2, hi = fmt.bias + 2;
    int e = lo + (int)((r >> 2) % (uint64_t)(hi - lo + 1));
    uint32_t u = ((uint32_t)(e + 127) << 23) | ((uint32_t)(r >> 16) & 0x7fffff);
    return bitsf(u | (uint32_t)(r >> 63) << 31);
}

/* Rounding edges of a format: for a finite pattern h, the midpoint between h and the
 * next pattern (exact in f32 for both formats), and its f32 neighbours. */
static void halfway_cases(fmt_t fmt, uint16_t h, float out[3])
{
    double lo = ref_decode(fmt, h), hi = ref_decode(fmt, (uint16_t)(h + 1));
    if (isinf(hi)) /* overflow threshold: the next binade would start at 2^(emax+1) */
        hi = ldexp(1, fmt.bias + 1) * (signbit(lo) ? -1 : 1);
    float mid = (float)((lo + hi) / 2);
    out[0] = mid;
    out[1] = nextafterf(mid, INFINITY);
    out[2] = nextafterf(mid, -INFINITY);
}

/* clang-format off */
static const float edge_floats[] = {
    0.0f, -0.0f, 1.0f, -1.0f, 65504.0f, 65519.99f, 65520.0f, -65520.0f, 65536.0f,
    0x1p-24f, 0x1p-25f, 0x1.000002p-25f, 0x1.8p-25f, 0x1p-26f, 0x1p-14f, 0x1.ff8p-15f,
    0x1.ffcp-15f, 6.1e-5f, 1e-8f, FLT_MIN, FLT_TRUE_MIN, -FLT_TRUE_MIN, FLT_MAX,
    -FLT_MAX, 0x1.fefffep127f, 0x1.ff0000p127f, 0x1.fe8p127f, 3.0e38f, INFINITY,
    -INFINITY, NAN, -NAN, 0.1f, 1.0f / 3.0f, 2049.0f, 2051.0f, 257.0f, 259.0f,
};
/* clang-format on */
#define N_EDGE (sizeof(edge_floats) / sizeof(edge_floats[0]))

/* ---- conversions ------------------------------------------------------- */

START_TEST(test_f16_all_patterns)
{
    for (uint32_t i = 0; i < 0x10000; i++) {
        uint16_t h = (uint16_t)i;
        float f = reduce_f16_to_f32(h);
        double want = ref_decode(FMT_F16, h);
        uint16_t back = reduce_f32_to_f16(f);
        if (isnan(want)) {
            /* NaN stays NaN: made quiet, sign and payload kept. */
            uint32_t qnan =
                (uint32_t)(h & 0x8000) << 16 | 0x7fc00000u | (h & 0x3ffu) << 13;
            CHECK(fbits(f) == qnan, "f16 %04x -> %08x, want %08x", h, fbits(f), qnan);
            CHECK(back == (h | 0x200), "f16 NaN %04x -> %04x", h, back);
        } else {
            CHECK((double)f == want && !!signbit(f) == !!signbit(want),
                  "f16 %04x -> %a, want %a", h, f, want);
            CHECK(back == h, "f16 %04x -> %a -> %04x", h, f, back);
        }
#ifdef HAVE_FLOAT16
        CHECK(fbits(f) == fbits(oracle_f16_to_f32(h)), "f16 %04x vs _Float16", h);
#endif
    }
}
END_TEST

START_TEST(test_bf16_all_patterns)
{
    for (uint32_t i = 0; i < 0x10000; i++) {
        uint16_t b = (uint16_t)i;
        float f = reduce_bf16_to_f32(b);
        double want = ref_decode(FMT_BF16, b);
        uint16_t back = reduce_f32_to_bf16(f);
        if (isnan(want)) {
            CHECK(fbits(f) == ((uint32_t)b << 16 | 0x00400000u), "bf16 %04x -> %08x", b,
                  fbits(f));
            CHECK(back == (b | 0x40), "bf16 NaN %04x -> %04x", b, back);
        } else {
            CHECK((double)f == want && !!signbit(f) == !!signbit(want),
                  "bf16 %04x -> %a, want %a", b, f, want);
            CHECK(back == b, "bf16 %04x -> %a -> %04x", b, f, back);
        }
    }
}
END_TEST

/* f32 -> half against the references, over edges, every halfway case, and many
 * random floats. */
static void check_rounding(fmt_t fmt, uint16_t (*conv)(float), const char *name)
{
    rng_seed(fmt.p);
    for (size_t i = 0; i < N_EDGE + 0x10000 * 3 + 2000000; i++) {
        float f;
        if (i < N_EDGE) {
            f = edge_floats[i];
        } else if (i < N_EDGE + 0x10000 * 3) {
            size_t j = i - N_EDGE;
            uint16_t h = (uint16_t)(j / 3);
            if (isnan(ref_decode(fmt, h)) || isinf(ref_decode(fmt, h)))
                continue;
            float mids[3];
            halfway_cases(fmt, h, mids);
            f = mids[j % 3];
        } else {
            f = random_float_near(fmt);
        }
        uint16_t got = conv(f), want = ref_round_f32(fmt, f);
        CHECK(got == want, "%s(%a = %08x) = %04x, want %04x", name, f, fbits(f), got,
              want);
#ifdef HAVE_FLOAT16
        if (fmt.p == FMT_F16.p)
            CHECK(got == oracle_f32_to_f16(f), "%s(%a) = %04x, _Float16 %04x", name, f,
                  got, oracle_f32_to_f16(f));
#endif
    }
}

START_TEST(test_f16_rounding)
{
    check_rounding(FMT_F16, reduce_f32_to_f16, "f32_to_f16");
}
END_TEST

START_TEST(test_bf16_rounding)
{
    check_rounding(FMT_BF16, reduce_f32_to_bf16, "f32_to_bf16");
}
END_TEST

START_TEST(test_half_spot_values)
{
    /* Exact values read off the formats, as a sanity check of the references. */
    ck_assert_uint_eq(reduce_f32_to_f16(65504.0f), 0x7bff);
    ck_assert_uint_eq(reduce_f32_to_f16(65520.0f), 0x7c00); /* tie rounds to inf */
    ck_assert_uint_eq(reduce_f32_to_f16(65519.99f), 0x7bff);
    ck_assert_uint_eq(reduce_f32_to_f16(0x1p-24f), 0x0001);
    ck_assert_uint_eq(reduce_f32_to_f16(0x1p-25f), 0x0000); /* tie rounds to even 0 */
    ck_assert_uint_eq(reduce_f32_to_f16(0x1.000002p-25f), 0x0001);
    ck_assert_uint_eq(reduce_f32_to_f16(-0.0f), 0x8000);
    ck_assert_uint_eq(reduce_f32_to_f16(0x1.ffcp-15f), 0x0400); /* up to min normal */
    ck_assert_uint_eq(reduce_f32_to_f16(-INFINITY), 0xfc00);
    ck_assert_uint_eq(reduce_f32_to_f16(NAN) & 0x7e00, 0x7e00);
    ck_assert_uint_eq(reduce_f32_to_bf16(1.0f), 0x3f80);
    ck_assert_uint_eq(reduce_f32_to_bf16(bitsf(0x3f808000)), 0x3f80); /* tie, even */
    ck_assert_uint_eq(reduce_f32_to_bf16(bitsf(0x3f818000)), 0x3f82); /* tie, even */
    ck_assert_uint_eq(reduce_f32_to_bf16(FLT_MAX), 0x7f80);
    ck_assert_uint_eq(reduce_f32_to_bf16(bitsf(0x7f800001)), 0x7fc0); /* NaN, not inf */
    ck_assert_uint_eq(reduce_f32_to_bf16(-0.0f), 0x8000);
    ck_assert(reduce_f16_to_f32(0x0001) == 0x1p-24f);
    ck_assert(reduce_f16_to_f32(0x03ff) == 0x1.ff8p-15f);
    ck_assert(reduce_bf16_to_f32(0x0001) == 0x1p-133f);
}
END_TEST

/* ---- reductions -------------------------------------------------------- */

/* Expected a op b for one element, computed without the kernels: floats in double
 * (exact or innocuously double-rounded: 53 >= 2p + 2) then rounded once to the type,
 * integers through uint64_t and truncated. AVG reduces like SUM. */
static void ref_elem(rcomm_dtype_t dt, rcomm_op_t op, const void *pa, const void *pb,
                     void *out)
{
    if (op == RCOMM_AVG)
        op = RCOMM_SUM;
    size_t sz = rcomm_dtype_size(dt);
    if (!is_float(dt)) {
        int64_t x = load_int(dt, pa), y = load_int(dt, pb);
        uint64_t v = op == RCOMM_SUM    ? (uint64_t)x + (uint64_t)y
                     : op == RCOMM_PROD ? (uint64_t)x * (uint64_t)y
                     : op == RCOMM_MIN  ? (uint64_t)(x < y ? x : y)
                                        : (uint64_t)(x > y ? x : y);
        /* Truncate to the element width: that is the wrap. */
        uint32_t v32 = (uint32_t)v;
        uint8_t v8 = (uint8_t)v;
        memcpy(out, sz == 8 ? (void *)&v : sz == 4 ? (void *)&v32 : (void *)&v8, sz);
        return;
    }
    double x = load_float(dt, pa), y = load_float(dt, pb), r;
    if (op == RCOMM_SUM)
        r = x + y;
    else if (op == RCOMM_PROD)
        r = x * y;
    else if (isnan(x) || isnan(y))
        r = NAN;
    else
        r = op == RCOMM_MIN ? fmin(x, y) : fmax(x, y);
    if (dt == RCOMM_F32) {
        float f = (float)r;
        memcpy(out, &f, sizeof(f));
    } else if (dt == RCOMM_F64) {
        memcpy(out, &r, sizeof(r));
    } else {
        uint16_t h = ref_encode(dt == RCOMM_F16 ? FMT_F16 : FMT_BF16, r, 0);
        memcpy(out, &h, sizeof(h));
    }
}

/* Element equality for checking: bits, except that NaN matches NaN, and for MIN/MAX
 * -0 matches +0 (either is a correct minimum). */
static int elem_eq(rcomm_dtype_t dt, rcomm_op_t op, const void *got, const void *want)
{
    if (memcmp(got, want, rcomm_dtype_size(dt)) == 0)
        return 1;
    if (!is_float(dt))
        return 0;
    double g = load_float(dt, got), w = load_float(dt, want);
    if (isnan(g) && isnan(w))
        return 1;
    return (op == RCOMM_MIN || op == RCOMM_MAX) && g == w;
}

/* Random test data: any bit pattern for integers and halves (wraps, overflow, NaN,
 * subnormals); for f32/f64 mostly moderate values so sums are not all dominated by
 * one side, with some specials. */
static void fill_random(rcomm_dtype_t dt, void *buf, size_t n)
{
    size_t sz = rcomm_dtype_size(dt);
    for (size_t i = 0; i < n; i++) {
        uint64_t r = rng();
        char *p = (char *)buf + i * sz;
        if (dt == RCOMM_F32 || dt == RCOMM_F64) {
            double v = ldexp((double)(int32_t)(r >> 32), (int)(r % 40) - 40);
            if ((r & 0xff00) == 0)
                v = (r & 0x10000) ? INFINITY : (r & 0x20000) ? NAN : -0.0;
            if (dt == RCOMM_F32) {
                float f = (float)v;
                memcpy(p, &f, sz);
            } else {
                memcpy(p, &v, sz);
            }
        } else if (dt == RCOMM_BF16 && (r & 1)) {
            uint16_t h = (uint16_t)(0x3c00 + (r >> 40) % 0x0800 + (r & 2 ? 0x8000 : 0));
            memcpy(p, &h, sz); /* |x| in [2^-7, 2^9): sums that round */
        } else {
            memcpy(p, &r, sz);
        }
    }
}

static void *xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    ck_assert_ptr_nonnull(p);
    return p;
}

enum { DST_SEPARATE, DST_IS_A, DST_IS_B, N_ALIAS };
static const char *const alias_names[] = {"separate", "dst==a", "dst==b"};
static const size_t counts[] = {0, 1, 7, 8, 33, 1000, 4099};
#define N_COUNTS (sizeof(counts) / sizeof(counts[0]))

/* One (dtype, op) per loop index: every count, aliasing mode, and alignment (element
 * offset 0 or 1 from malloc's alignment, so vector loops peel or run unaligned).
 * Each buffer ends exactly at its last element so ASan/valgrind see tail overruns. */
START_TEST(test_reduce_matrix)
{
    rcomm_dtype_t dt = (rcomm_dtype_t)(_i / RCOMM_OP_COUNT);
    rcomm_op_t op = (rcomm_op_t)(_i % RCOMM_OP_COUNT);
    size_t sz = rcomm_dtype_size(dt);
    rng_seed((uint64_t)_i + 100);
    for (size_t c = 0; c < N_COUNTS; c++) {
        size_t n = counts[c];
        for (int mode = 0; mode < N_ALIAS; mode++) {
            for (size_t off = 0; off < 2; off++) {
                char *abuf = xmalloc((n + off) * sz), *bbuf = xmalloc((n + off) * sz);
                char *dbuf = xmalloc((n + off) * sz);
                char *a0 = xmalloc(n * sz), *b0 = xmalloc(n * sz),
                     *want = xmalloc(n * sz);
                char *a = abuf + off * sz, *b = bbuf + off * sz, *d = dbuf + off * sz;
                fill_random(dt, a0, n);
                fill_random(dt, b0, n);
                memcpy(a, a0, n * sz);
                memcpy(b, b0, n * sz);
                for (size_t i = 0; i < n; i++)
                    ref_elem(dt, op, a0 + i * sz, b0 + i * sz, want + i * sz);

                char *dst = mode == DST_IS_A ? a : mode == DST_IS_B ? b : d;
                reduce_apply(dst, a, b, n, dt, op);

                for (size_t i = 0; i < n; i++)
                    CHECK(elem_eq(dt, op, dst + i * sz, want + i * sz),
                          "%s %s n=%zu %s off=%zu: element %zu wrong",
                          rcomm_dtype_name(dt), rcomm_op_name(op), n, alias_names[mode],
                          off, i);
                CHECK(mode == DST_IS_A || memcmp(a, a0, n * sz) == 0, "a modified (%s)",
                      alias_names[mode]);
                CHECK(mode == DST_IS_B || memcmp(b, b0, n * sz) == 0, "b modified (%s)",
                      alias_names[mode]);
                free(abuf), free(bbuf), free(dbuf), free(a0), free(b0), free(want);
            }
        }
    }
}
END_TEST

START_TEST(test_int_wrap)
{
    int32_t ia[] = {INT32_MAX, INT32_MIN, INT32_MIN, 65536, -5};
    int32_t ib[] = {1, -1, -1, 65536, 3};
    int32_t id[5];
    reduce_apply(id, ia, ib, 5, RCOMM_I32, RCOMM_SUM);
    ck_assert_int_eq(id[0], INT32_MIN);
    ck_assert_int_eq(id[1], INT32_MAX);
    ck_assert_int_eq(id[4], -2);
    reduce_apply(id, ia, ib, 5, RCOMM_I32, RCOMM_PROD);
    ck_assert_int_eq(id[2], INT32_MIN); /* INT32_MIN * -1 wraps to itself */
    ck_assert_int_eq(id[3], 0);         /* 2^32 wraps to 0 */
    ck_assert_int_eq(id[4], -15);
    reduce_apply(id, ia, ib, 5, RCOMM_I32, RCOMM_MIN);
    ck_assert_int_eq(id[0], 1);
    ck_assert_int_eq(id[1], INT32_MIN);
    ck_assert_int_eq(id[4], -5);
    reduce_apply(id, ia, ib, 5, RCOMM_I32, RCOMM_MAX);
    ck_assert_int_eq(id[0], INT32_MAX);
    ck_assert_int_eq(id[4], 3);

    int64_t la[] = {INT64_MAX, INT64_MIN, -7}, lb[] = {1, -1, -9}, ld[3];
    reduce_apply(ld, la, lb, 3, RCOMM_I64, RCOMM_SUM);
    ck_assert(ld[0] == INT64_MIN && ld[1] == INT64_MAX && ld[2] == -16);
    reduce_apply(ld, la, lb, 3, RCOMM_I64, RCOMM_PROD);
    ck_assert(ld[0] == INT64_MAX && ld[1] == INT64_MIN && ld[2] == 63);
    reduce_apply(ld, la, lb, 3, RCOMM_I64, RCOMM_MIN);
    ck_assert(ld[0] == 1 && ld[1] == INT64_MIN && ld[2] == -9);

    uint8_t ua[] = {250, 16, 0, 255}, ub[] = {10, 16, 255, 254}, ud[4];
    reduce_apply(ud, ua, ub, 4, RCOMM_U8, RCOMM_SUM);
    ck_assert(ud[0] == 4 && ud[1] == 32 && ud[2] == 255 && ud[3] == 253);
    reduce_apply(ud, ua, ub, 4, RCOMM_U8, RCOMM_PROD);
    ck_assert(ud[0] == (uint8_t)2500 && ud[1] == 0 && ud[2] == 0 && ud[3] == 2);
    reduce_apply(ud, ua, ub, 4, RCOMM_U8, RCOMM_MAX);
    ck_assert(ud[0] == 250 && ud[2] == 255 && ud[3] == 255);
}
END_TEST

/* NaN propagates through MIN and MAX whichever side it is on. */
START_TEST(test_nan_minmax)
{
    static const rcomm_dtype_t fdt[] = {RCOMM_F32, RCOMM_F64, RCOMM_F16, RCOMM_BF16};
    const double xa[] = {NAN, 1, NAN, -INFINITY, 2, -3, 5, INFINITY, 0.0};
    const double xb[] = {1, NAN, NAN, NAN, -INFINITY, 4, 5, 7, NAN};
    enum { N = sizeof(xa) / sizeof(xa[0]) };
    for (size_t t = 0; t < sizeof(fdt) / sizeof(fdt[0]); t++) {
        rcomm_dtype_t dt = fdt[t];
        size_t sz = rcomm_dtype_size(dt);
        char a[N * 8], b[N * 8], d[N * 8];
        for (size_t i = 0; i < N; i++) {
            float fa = (float)xa[i], fb = (float)xb[i];
            uint16_t ha, hb;
            switch (dt) {
            case RCOMM_F32:
                memcpy(a + i * sz, &fa, sz), memcpy(b + i * sz, &fb, sz);
                break;
            case RCOMM_F64:
                memcpy(a + i * sz, &xa[i], sz), memcpy(b + i * sz, &xb[i], sz);
                break;
            default:
                ha = ref_round_f32(dt == RCOMM_F16 ? FMT_F16 : FMT_BF16, fa);
                hb = ref_round_f32(dt == RCOMM_F16 ? FMT_F16 : FMT_BF16, fb);
                memcpy(a + i * sz, &ha, sz), memcpy(b + i * sz, &hb, sz);
            }
        }
        for (rcomm_op_t op = RCOMM_MIN; op <= RCOMM_MAX; op++) {
            reduce_apply(d, a, b, N, dt, op);
            for (size_t i = 0; i < N; i++) {
                double g = load_float(dt, d + i * sz);
                int want_nan = isnan(xa[i]) || isnan(xb[i]);
                double want = op == RCOMM_MIN ? fmin(xa[i], xb[i]) : fmax(xa[i], xb[i]);
                CHECK(want_nan ? isnan(g) : g == want, "%s %s [%zu] = %g",
                      rcomm_dtype_name(dt), rcomm_op_name(op), i, g);
            }
        }
    }
}
END_TEST

/* Half results that are exact or hit a known tie, computed in f32, rounded once. */
START_TEST(test_half_exact)
{
    /* f16: 1.5 + 2.25; 2048 + 1 = 2049 ties to 2048; 2048 + 3 = 2051 ties to 2052;
     * 65504 + 16 = 65520 ties to inf; 65504 + 8 -> 65504. */
    const float f16a[] = {1.5f, 2048, 2048, 65504, 65504, -0.25f};
    const float f16b[] = {2.25f, 1, 3, 16, 8, 0.125f};
    const float f16sum[] = {3.75f, 2048, 2052, INFINITY, 65504, -0.125f};
    /* bf16: 256 + 1 = 257 ties to 256; 256 + 3 = 259 ties to 260. */
    const float bfa[] = {1.5f, 256, 256, -3, 0x1p-133f, 1};
    const float bfb[] = {2.25f, 1, 3, 0.5f, 0x1p-133f, 0x1p-8f};
    const float bfsum[] = {3.75f, 256, 260, -2.5f, 0x1p-132f, 1};
    enum { N = 6 };
    uint16_t a[N], b[N], d[N];
    for (size_t i = 0; i < N; i++)
        a[i] = ref_round_f32(FMT_F16, f16a[i]), b[i] = ref_round_f32(FMT_F16, f16b[i]);
    reduce_apply(d, a, b, N, RCOMM_F16, RCOMM_SUM);
    for (size_t i = 0; i < N; i++)
        CHECK(ref_decode(FMT_F16, d[i]) == f16sum[i], "f16 sum [%zu] = %g", i,
              ref_decode(FMT_F16, d[i]));
    reduce_apply(d, a, b, N, RCOMM_F16, RCOMM_PROD);
    ck_assert(ref_decode(FMT_F16, d[0]) == 3.375 &&
              ref_decode(FMT_F16, d[5]) == -0.03125);
    for (size_t i = 0; i < N; i++)
        a[i] = ref_round_f32(FMT_BF16, bfa[i]), b[i] = ref_round_f32(FMT_BF16, bfb[i]);
    reduce_apply(d, a, b, N, RCOMM_BF16, RCOMM_SUM);
    for (size_t i = 0; i < N; i++)
        CHECK(ref_decode(FMT_BF16, d[i]) == bfsum[i], "bf16 sum [%zu] = %g", i,
              ref_decode(FMT_BF16, d[i]));
    reduce_apply(d, a, b, N, RCOMM_BF16, RCOMM_MIN);
    ck_assert(ref_decode(FMT_BF16, d[3]) == -3 && ref_decode(FMT_BF16, d[1]) == 1);
}
END_TEST

START_TEST(test_avg_finish_int)
{
    int32_t i32[] = {-7, 7, -1, 5, INT32_MIN, INT32_MAX, 0, -2};
    enum { N = sizeof(i32) / sizeof(i32[0]) };
    int64_t i64[N];
    for (int nranks = 1; nranks <= 5; nranks++) {
        int32_t v32[N];
        memcpy(v32, i32, sizeof(v32));
        for (size_t i = 0; i < N; i++)
            i64[i] = (int64_t)i32[i] * 1000000007;
        int64_t v64[N];
        memcpy(v64, i64, sizeof(v64));
        reduce_finish(v32, N, RCOMM_I32, RCOMM_AVG, nranks);
        reduce_finish(v64, N, RCOMM_I64, RCOMM_AVG, nranks);
        for (size_t i = 0; i < N; i++) {
            ck_assert_int_eq(v32[i], i32[i] / nranks); /* C truncates toward zero */
            ck_assert_int_eq(v64[i], i64[i] / nranks);
        }
    }
    int32_t neg[] = {-7, -1, -5};
    reduce_finish(neg, 3, RCOMM_I32, RCOMM_AVG, 2);
    ck_assert(neg[0] == -3 && neg[1] == 0 && neg[2] == -2);

    uint8_t u8[] = {255, 7, 0, 100};
    reduce_finish(u8, 4, RCOMM_U8, RCOMM_AVG, 3);
    ck_assert(u8[0] == 85 && u8[1] == 2 && u8[2] == 0 && u8[3] == 33);
    uint8_t big[] = {255, 200};
    reduce_finish(big, 2, RCOMM_U8, RCOMM_AVG, 256 + 3); /* nranks not truncated */
    ck_assert(big[0] == 0 && big[1] == 0);

    /* Other ops leave the buffer alone. */
    int32_t keep[] = {9, -9};
    reduce_finish(keep, 2, RCOMM_I32, RCOMM_SUM, 4);
    reduce_finish(keep, 2, RCOMM_I32, RCOMM_MAX, 4);
    ck_assert(keep[0] == 9 && keep[1] == -9);
}
END_TEST

START_TEST(test_avg_finish_float)
{
    static const float vals[] = {1, 3, -3, 0.1f, -0.0f, FLT_MAX};
    /* The values over and over, past a vector of every tier and a tail. */
    enum { N = 27 };
    float f32[N];
    double f64[N];
    uint16_t h[N], bf[N];
    for (size_t i = 0; i < N; i++) {
        f32[i] = vals[i % (sizeof(vals) / sizeof(vals[0]))];
        f64[i] = f32[i] * 1.25;
        h[i] = ref_round_f32(FMT_F16, f32[i]);
        bf[i] = ref_round_f32(FMT_BF16, f32[i]);
    }
    float v32[N];
    double v64[N];
    uint16_t vh[N], vbf[N];
    memcpy(v32, f32, sizeof(v32));
    memcpy(v64, f64, sizeof(v64));
    memcpy(vh, h, sizeof(vh));
    memcpy(vbf, bf, sizeof(vbf));
    reduce_finish(v32, N, RCOMM_F32, RCOMM_AVG, 3);
    reduce_finish(v64, N, RCOMM_F64, RCOMM_AVG, 3);
    reduce_finish(vh, N, RCOMM_F16, RCOMM_AVG, 3);
    reduce_finish(vbf, N, RCOMM_BF16, RCOMM_AVG, 3);
    for (size_t i = 0; i < N; i++) {
        /* Division in the type's precision; halves: correctly rounded quotient. */
        ck_assert(fbits(v32[i]) == fbits(f32[i] / 3.0f));
        ck_assert(v64[i] == f64[i] / 3.0 && !!signbit(v64[i]) == !!signbit(f64[i]));
        ck_assert_uint_eq(vh[i], ref_encode(FMT_F16, ref_decode(FMT_F16, h[i]) / 3, 0));
        ck_assert_uint_eq(vbf[i],
                          ref_encode(FMT_BF16, ref_decode(FMT_BF16, bf[i]) / 3, 0));
    }
    /* Exact: 3 / 2 = 1.5 in every float type. */
    float three = 3;
    uint16_t h3 = ref_round_f32(FMT_F16, 3), b3 = ref_round_f32(FMT_BF16, 3);
    reduce_finish(&three, 1, RCOMM_F32, RCOMM_AVG, 2);
    reduce_finish(&h3, 1, RCOMM_F16, RCOMM_AVG, 2);
    reduce_finish(&b3, 1, RCOMM_BF16, RCOMM_AVG, 2);
    ck_assert(three == 1.5f && ref_decode(FMT_F16, h3) == 1.5 &&
              ref_decode(FMT_BF16, b3) == 1.5);
}
END_TEST

/* AVG over three "ranks" end to end: reduce twice, then finish. */
START_TEST(test_avg_end_to_end)
{
    int32_t r0[] = {1, -8, 100}, r1[] = {2, -1, 200}, r2[] = {4, 0, 301};
    reduce_apply(r0, r0, r1, 3, RCOMM_I32, RCOMM_AVG);
    reduce_apply(r0, r2, r0, 3, RCOMM_I32, RCOMM_AVG);
    reduce_finish(r0, 3, RCOMM_I32, RCOMM_AVG, 3);
    ck_assert(r0[0] == 2 && r0[1] == -3 && r0[2] == 200);
}
END_TEST

/* Every tier gives the baseline's bits, NaN payloads and the sign of zero
 * included, which the checks above let pass: a job whose hosts have
 * different CPUs must reduce alike. Random patterns of every type with
 * zeros, infinities and NaNs mixed in, out of place and in place, and AVG's
 * division. One exception: where both inputs of a SUM or PROD are NaNs,
 * which payload comes out is the compiler's choice of operand order (IEEE
 * 754 leaves it open, and the ASan build's baseline picks the other), so
 * any NaN passes there. */
static bool tiers_same(rcomm_dtype_t dt, rcomm_op_t op, const char *a, const char *b,
                       const char *got, const char *want)
{
    const size_t es = rcomm_dtype_size(dt);

    if (is_float(dt) && op != RCOMM_MIN && op != RCOMM_MAX && isnan(load_float(dt, a)) &&
        isnan(load_float(dt, b)))
        return isnan(load_float(dt, got)) && isnan(load_float(dt, want));
    return memcmp(got, want, es) == 0;
}

START_TEST(test_tiers_agree)
{
    static const size_t n = 1000 + 13;
    const rcomm_dtype_t dt = (rcomm_dtype_t)(_i / RCOMM_OP_COUNT);
    const rcomm_op_t op = (rcomm_op_t)(_i % RCOMM_OP_COUNT);
    const size_t es = rcomm_dtype_size(dt);
    char *a = xmalloc(n * es), *b = xmalloc(n * es), *want = xmalloc(n * es),
         *got = xmalloc(n * es), *inp = xmalloc(n * es);

    rng_seed(77 + (uint64_t)_i);
    fill_random(dt, a, n);
    fill_random(dt, b, n);
    for (size_t i = 0; dt == RCOMM_F16 || dt == RCOMM_BF16 ? i < n : 0; i += 5) {
        const uint16_t pz = 0, nz = 0x8000; /* zeros of both signs side by side */

        memcpy(a + i * es, i & 2 ? &nz : &pz, es);
        memcpy(b + i * es, i & 2 ? &pz : &nz, es);
    }
    reduce_set_isa(REDUCE_ISA_BASE);
    reduce_apply(want, a, b, n, dt, op);
    reduce_finish(want, n, dt, op, 3);
    reduce_set_isa(tiers_now);
    reduce_apply(got, a, b, n, dt, op);
    reduce_finish(got, n, dt, op, 3);
    memcpy(inp, a, n * es);
    reduce_apply(inp, inp, b, n, dt, op);
    reduce_finish(inp, n, dt, op, 3);
    for (size_t i = 0; i < n; i++)
        ck_assert_msg(
            tiers_same(dt, op, a + i * es, b + i * es, got + i * es, want + i * es) &&
                tiers_same(dt, op, a + i * es, b + i * es, inp + i * es, want + i * es),
            "%s %s, tier %s: element %zu differs from the baseline tier's",
            rcomm_dtype_name(dt), rcomm_op_name(op), reduce_isa_name(tiers_now), i);
    free(a), free(b), free(want), free(got), free(inp);
}
END_TEST

START_TEST(test_count_zero)
{
    /* Nothing is touched, so empty buffers may be NULL. */
    for (int dt = 0; dt < RCOMM_DTYPE_COUNT; dt++) {
        reduce_apply(NULL, NULL, NULL, 0, (rcomm_dtype_t)dt, RCOMM_SUM);
        reduce_finish(NULL, 0, (rcomm_dtype_t)dt, RCOMM_AVG, 4);
    }
}
END_TEST

#ifdef HAVE_MXCSR
/* Frameworks often run with flush-to-zero and denormals-are-zero. f16 subnormals are
 * f32 normals, so f16 conversions and f16 kernels must not change under them. */
START_TEST(test_f16_under_ftz_daz)
{
    unsigned csr = _mm_getcsr();
    _mm_setcsr(csr | 0x8040); /* FTZ | DAZ */
    uint16_t *h = xmalloc(0x10000 * 2), *z = xmalloc(0x10000 * 2),
             *d = xmalloc(0x10000 * 2);
    for (uint32_t i = 0; i < 0x10000; i++)
        h[i] = (uint16_t)i, z[i] = 0x8000; /* x + -0 == x for every x, even -0 */
    reduce_apply(d, h, z, 0x10000, RCOMM_F16, RCOMM_SUM);
    int bad = -1;
    for (uint32_t i = 0; i < 0x10000 && bad < 0; i++) {
        int nan = (h[i] & 0x7fff) > 0x7c00;
        uint16_t want = nan ? (uint16_t)(h[i] | 0x200) : h[i];
        if (d[i] != want || reduce_f32_to_f16(reduce_f16_to_f32(h[i])) != want)
            bad = (int)i;
    }
    uint16_t tiny = reduce_f32_to_f16(0x1.8p-25f), sub = reduce_f32_to_f16(FLT_TRUE_MIN);
    _mm_setcsr(csr);
    free(h), free(z), free(d);
    ck_assert_msg(bad < 0, "f16 pattern %04x changed under FTZ/DAZ", (unsigned)bad);
    ck_assert_uint_eq(tiny, 0x0001);
    ck_assert_uint_eq(sub, 0x0000);
}
END_TEST
#endif

/* The conversions (half.c) are compiled once: their case runs with the
 * baseline tier only. Every kernel's cases run in every tier. */
static Suite *reduce_suite(const char *tier)
{
    Suite *s = suite_create(tier);
    TCase *tc;

    if (tiers_now == REDUCE_ISA_BASE) {
        tc = tiers_case("half");
        tcase_add_test(tc, test_f16_all_patterns);
        tcase_add_test(tc, test_bf16_all_patterns);
        tcase_add_test(tc, test_f16_rounding);
        tcase_add_test(tc, test_bf16_rounding);
        tcase_add_test(tc, test_half_spot_values);
        suite_add_tcase(s, tc);
    }
    tc = tiers_case("reduce");
    tcase_add_loop_test(tc, test_reduce_matrix, 0, RCOMM_DTYPE_COUNT * RCOMM_OP_COUNT);
    tcase_add_test(tc, test_int_wrap);
    tcase_add_test(tc, test_nan_minmax);
    tcase_add_test(tc, test_half_exact);
    tcase_add_test(tc, test_avg_finish_int);
    tcase_add_test(tc, test_avg_finish_float);
    tcase_add_test(tc, test_avg_end_to_end);
    tcase_add_test(tc, test_count_zero);
    if (tiers_now != REDUCE_ISA_BASE)
        tcase_add_loop_test(tc, test_tiers_agree, 0, RCOMM_DTYPE_COUNT * RCOMM_OP_COUNT);
#ifdef HAVE_MXCSR
    tcase_add_test(tc, test_f16_under_ftz_daz);
#endif
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return tiers_run("unit_reduce", reduce_suite) == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
