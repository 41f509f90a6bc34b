/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Reduction kernels: dst[i] = a[i] op b[i], and the AVG finishing division.
 *
 * Design:
 *  - One loop, one table. DTYPES lists each datatype once with its storage type,
 *    compute type and load/store conversions; DEFINE_KERNELS instantiates the single
 *    loop for every (dtype, op) and TABLE_ROW fills the dispatch table from the same
 *    list. Nothing is written per type or per op.
 *  - Integer SUM and PROD are evaluated in the unsigned type of the same width, so
 *    they wrap modulo 2^bits instead of being undefined on overflow.
 *  - F16 and BF16 are loaded into f32, reduced there and rounded to nearest even
 *    once on store. f32 has at least 2p+2 significand bits for both (p = 11, 8), so
 *    one +, *, / in f32 followed by that rounding gives the correctly rounded half
 *    result: double rounding cannot bite. The conversions are branch-free inline
 *    functions (half_impl.h), so the fused loop vectorises with no staging buffers
 *    (in the AVX2 and AVX-512 tiers; baseline f16 stays scalar, SSE2 has no per-lane
 *    shifts).
 *    Loads skip NaN quieting, which the store does anyway.
 *  - dst may alias a or b exactly, so there is no restrict. gcc versions each loop
 *    with a runtime overlap check that treats an exact alias (distance 0, read before
 *    write) as safe, so in-place calls get the vector loop too.
 *  - MIN/MAX on floats propagate NaN: if either input is NaN the result is a NaN
 *    (a's if both are). For equal inputs, such as -0 and +0, b is returned. This
 *    relies on x != x, so never build this file with -ffast-math.
 *  - On x86-64 each kernel is compiled three times (baseline, AVX2, AVX-512: the
 *    tiers of kernels.h), and the widest tier the CPU runs serves every call, so no
 *    -march flag is needed. AVX-512 over AVX2, medians in one run: for f32 in the
 *    cache 1.2x out of place and 2x in place, 2.4x for bf16 (docs/PERFORMANCE.md,
 *    "Kernels for AVX-512, and F16C").
 */
#include <assert.h>
#include <stdatomic.h>
#include <stdint.h>

#include "reduce/kernels.h"
#include "reduce/reduce.h"

typedef void kernel_fn(void *dst, const void *a, const void *b, size_t n);
typedef void finish_fn(void *buf, size_t n, int nranks);

/* The leads of kernels.h. NONE: the loop does it all. F16C: in the AVX2
 * and AVX-512 tiers, F16C widens and narrows 8 halves an instruction, where
 * the portable conversions (half_impl.h) take about 30; 6-15x the kernel's
 * speed (docs/PERFORMANCE.md, "Kernels for AVX-512, and F16C"). The bits
 * are the loop's: widening is exact (a signalling NaN comes out quiet,
 * which the narrowing makes it anyway), narrowing rounds to nearest even
 * by its immediate, not by MXCSR, and an f16 value is never an f32
 * subnormal, so FTZ and DAZ cannot touch it (unit_reduce checks every
 * pattern under both). */
#define LEAD_NONE(T, OP, dst, a, b, n) 0
#define LEAD_DIV_NONE(T, buf, n, d) 0
#define LEAD_F16C(T, OP, dst, a, b, n) F16C_##T(OP, dst, a, b, n)
#define LEAD_DIV_F16C(T, buf, n, d) F16C_DIV_##T(buf, n, d)
#define F16C_base(OP, dst, a, b, n) 0
#define F16C_DIV_base(buf, n, d) 0

#if defined(__x86_64__)
#include <cpuid.h>
#include <immintrin.h>

#define DEFINE_F16C(OP)                                                                  \
    TIER_AVX2 static size_t f16c_##OP(uint16_t *dst, const uint16_t *a,                  \
                                      const uint16_t *b, size_t n)                       \
    {                                                                                    \
        size_t i = 0;                                                                    \
                                                                                         \
        for (; i + 8 <= n; i += 8) {                                                     \
            const __m256 x = F16C_LOAD(a + i), y = F16C_LOAD(b + i);                     \
                                                                                         \
            F16C_STORE(dst + i, F32X8_##OP(x, y));                                       \
        }                                                                                \
        return i;                                                                        \
    }
DEFINE_F16C(SUM)
DEFINE_F16C(PROD)
DEFINE_F16C(MIN)
DEFINE_F16C(MAX)

TIER_AVX2 static size_t f16c_div(uint16_t *buf, size_t n, float d)
{
    const __m256 v = _mm256_set1_ps(d);
    size_t i = 0;

    for (; i + 8 <= n; i += 8)
        F16C_STORE(buf + i, _mm256_div_ps(F16C_LOAD(buf + i), v));
    return i;
}

#define F16C_avx2(OP, dst, a, b, n) f16c_##OP(dst, a, b, n)
#define F16C_avx512(OP, dst, a, b, n) f16c_##OP(dst, a, b, n)
#define F16C_DIV_avx2(buf, n, d) f16c_div(buf, n, d)
#define F16C_DIV_avx512(buf, n, d) f16c_div(buf, n, d)
#endif

#define DEFINE_KERNEL(T, A, E, name, S, C, W, D, load, store, lead, OP)                  \
    A static void reduce_##T##_##name##_##OP(void *dst_, const void *a_, const void *b_, \
                                             size_t n)                                   \
    {                                                                                    \
        S *dst = dst_;                                                                   \
        const S *a = a_, *b = b_;                                                        \
        for (size_t i = LEAD_##lead(T, OP, dst, a, b, n); i < n; i++) {                  \
            C x = load(a[i]), y = load(b[i]);                                            \
            dst[i] = store((C)OP_##OP(W, x, y));                                         \
        }                                                                                \
    }

#define DEFINE_FINISH(T, A, E, name, S, C, W, D, load, store, lead)                      \
    A static void finish_##T##_##name(void *buf_, size_t n, int nranks)                  \
    {                                                                                    \
        S *buf = buf_;                                                                   \
        const D d = (D)nranks;                                                           \
        for (size_t i = LEAD_DIV_##lead(T, buf, n, d); i < n; i++)                       \
            buf[i] = store((C)(load(buf[i]) / d));                                       \
    }

#define DEFINE_KERNELS(...)                                                              \
    DEFINE_KERNEL(__VA_ARGS__, SUM)                                                      \
    DEFINE_KERNEL(__VA_ARGS__, PROD)                                                     \
    DEFINE_KERNEL(__VA_ARGS__, MIN)                                                      \
    DEFINE_KERNEL(__VA_ARGS__, MAX)                                                      \
    DEFINE_FINISH(__VA_ARGS__)

#define TIER_KERNELS(ISA, T, A) DTYPES(DEFINE_KERNELS, T, A)
REDUCE_TIERS(TIER_KERNELS)

#define TABLE_ROW(T, A, E, name, ...) [E] = OPS_ROW(reduce_##T##_##name),
#define TIER_TABLE(ISA, T, A) [ISA] = {DTYPES(TABLE_ROW, T, A)},

static kernel_fn *const kernels[REDUCE_ISA_COUNT][RCOMM_DTYPE_COUNT][RCOMM_OP_COUNT] = {
    REDUCE_TIERS(TIER_TABLE)};

#define FINISH_ROW(T, A, E, name, ...) [E] = finish_##T##_##name,
#define TIER_FINISH(ISA, T, A) [ISA] = {DTYPES(FINISH_ROW, T, A)},

static finish_fn *const finishers[REDUCE_ISA_COUNT][RCOMM_DTYPE_COUNT] = {
    REDUCE_TIERS(TIER_FINISH)};

/* -1 until the first call looks at the CPU; then the tier in use. */
static _Atomic int isa_now = -1;

/* The widest tier this build has that the CPU (and the OS, which must save
 * the wider registers: the builtins check that too) runs. */
static reduce_isa_t widest(void)
{
    reduce_isa_t w = REDUCE_ISA_BASE;

#if defined(__x86_64__)
    unsigned eax, ebx, ecx = 0, edx;

    __builtin_cpu_init();
    /* F16C by its CPUID bit: clang's builtin does not know the name. The
     * AVX2 test covers the OS's side, the same registers. */
    __get_cpuid(1, &eax, &ebx, &ecx, &edx);
    if (__builtin_cpu_supports("avx2") && (ecx & bit_F16C))
        w = REDUCE_ISA_AVX2;
    if (w == REDUCE_ISA_AVX2 && __builtin_cpu_supports("avx512f") &&
        __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512dq") &&
        __builtin_cpu_supports("avx512vl"))
        w = REDUCE_ISA_AVX512;
#endif
    return w;
}

reduce_isa_t reduce_set_isa(reduce_isa_t max)
{
    reduce_isa_t w = widest();

    if ((unsigned)max < (unsigned)w)
        w = max;
    atomic_store_explicit(&isa_now, (int)w, memory_order_relaxed);
    return w;
}

reduce_isa_t reduce_isa(void)
{
    const int i = atomic_load_explicit(&isa_now, memory_order_relaxed);

    return i >= 0 ? (reduce_isa_t)i : reduce_set_isa(REDUCE_ISA_COUNT);
}

const char *reduce_isa_name(reduce_isa_t isa)
{
    static const char *const names[REDUCE_ISA_COUNT] = {"baseline", "avx2", "avx512"};

    return (unsigned)isa < REDUCE_ISA_COUNT ? names[isa] : "unknown";
}

void reduce_apply(void *dst, const void *a, const void *b, size_t count,
                  rcomm_dtype_t dtype, rcomm_op_t op)
{
    const reduce_isa_t isa = reduce_isa();
    const size_t es = rcomm_dtype_size(dtype);
    kernel_fn *k;

    assert((unsigned)dtype < RCOMM_DTYPE_COUNT && (unsigned)op < RCOMM_OP_COUNT);
    k = kernels[isa][dtype][op];
    /* A 64-byte vector that straddles two lines costs both: from malloc
     * (16-byte aligned) the AVX-512 loop ran slower than AVX2's out of the
     * cache. Up to dst's next line first, so that its stores, and the loads
     * of inputs aligned as it is, fall on whole lines. */
    if (isa == REDUCE_ISA_AVX512 && (uintptr_t)dst % es == 0) {
        const size_t head = (64 - (uintptr_t)dst % 64) % 64 / es;

        if (head > 0 && head < count) {
            k(dst, a, b, head);
            dst = (char *)dst + head * es;
            a = (const char *)a + head * es;
            b = (const char *)b + head * es;
            count -= head;
        }
    }
    k(dst, a, b, count);
}

void reduce_finish(void *buf, size_t count, rcomm_dtype_t dtype, rcomm_op_t op,
                   int nranks)
{
    assert((unsigned)dtype < RCOMM_DTYPE_COUNT && nranks >= 1);
    /* Dividing by 1 changes nothing. With asserts off, skipping nranks < 1 as well
     * keeps division by zero and INT_MIN / -1 out. */
    if (op != RCOMM_AVG || nranks <= 1)
        return;
    finishers[reduce_isa()][dtype](buf, count, nranks);
}
