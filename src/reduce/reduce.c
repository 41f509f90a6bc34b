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
 *    (in the AVX2 clone; baseline f16 stays scalar, SSE2 has no per-lane shifts).
 *    Loads skip NaN quieting, which the store does anyway.
 *  - dst may alias a or b exactly, so there is no restrict. gcc versions each loop
 *    with a runtime overlap check that treats an exact alias (distance 0, read before
 *    write) as safe, so in-place calls get the vector loop too.
 *  - MIN/MAX on floats propagate NaN: if either input is NaN the result is a NaN
 *    (a's if both are). For equal inputs, such as -0 and +0, b is returned. This
 *    relies on x != x, so never build this file with -ffast-math.
 *  - On x86-64 each kernel is compiled twice with target_clones (AVX2 and baseline);
 *    the dynamic loader picks one per kernel once, so no -march flag is needed.
 */
#include <assert.h>

#include "reduce/kernels.h"
#include "reduce/reduce.h"

typedef void kernel_fn(void *dst, const void *a, const void *b, size_t n);
typedef void finish_fn(void *buf, size_t n, int nranks);

#define DEFINE_KERNEL(E, name, S, C, W, D, load, store, OP)                              \
    KERNEL_ATTR static void reduce_##name##_##OP(void *dst_, const void *a_,             \
                                                 const void *b_, size_t n)               \
    {                                                                                    \
        S *dst = dst_;                                                                   \
        const S *a = a_, *b = b_;                                                        \
        for (size_t i = 0; i < n; i++) {                                                 \
            C x = load(a[i]), y = load(b[i]);                                            \
            dst[i] = store((C)OP_##OP(W, x, y));                                         \
        }                                                                                \
    }

#define DEFINE_FINISH(E, name, S, C, W, D, load, store)                                  \
    KERNEL_ATTR static void finish_##name(void *buf_, size_t n, int nranks)              \
    {                                                                                    \
        S *buf = buf_;                                                                   \
        const D d = (D)nranks;                                                           \
        for (size_t i = 0; i < n; i++)                                                   \
            buf[i] = store((C)(load(buf[i]) / d));                                       \
    }

#define DEFINE_KERNELS(...)                                                              \
    DEFINE_KERNEL(__VA_ARGS__, SUM)                                                      \
    DEFINE_KERNEL(__VA_ARGS__, PROD)                                                     \
    DEFINE_KERNEL(__VA_ARGS__, MIN)                                                      \
    DEFINE_KERNEL(__VA_ARGS__, MAX)                                                      \
    DEFINE_FINISH(__VA_ARGS__)

DTYPES(DEFINE_KERNELS)

/* AVG reduces like SUM; the division happens once, in reduce_finish(). */
#define TABLE_ROW(E, name, ...)                                                          \
    [E] = {[RCOMM_SUM] = reduce_##name##_SUM,                                            \
           [RCOMM_PROD] = reduce_##name##_PROD,                                          \
           [RCOMM_MIN] = reduce_##name##_MIN,                                            \
           [RCOMM_MAX] = reduce_##name##_MAX,                                            \
           [RCOMM_AVG] = reduce_##name##_SUM},

static kernel_fn *const kernels[RCOMM_DTYPE_COUNT][RCOMM_OP_COUNT] = {DTYPES(TABLE_ROW)};

#define FINISH_ROW(E, name, ...) [E] = finish_##name,

static finish_fn *const finishers[RCOMM_DTYPE_COUNT] = {DTYPES(FINISH_ROW)};

void reduce_apply(void *dst, const void *a, const void *b, size_t count,
                  rcomm_dtype_t dtype, rcomm_op_t op)
{
    assert((unsigned)dtype < RCOMM_DTYPE_COUNT && (unsigned)op < RCOMM_OP_COUNT);
    kernels[dtype][op](dst, a, b, count);
}

void reduce_finish(void *buf, size_t count, rcomm_dtype_t dtype, rcomm_op_t op,
                   int nranks)
{
    assert((unsigned)dtype < RCOMM_DTYPE_COUNT && nranks >= 1);
    /* Dividing by 1 changes nothing. With asserts off, skipping nranks < 1 as well
     * keeps division by zero and INT_MIN / -1 out. */
    if (op != RCOMM_AVG || nranks <= 1)
        return;
    finishers[dtype](buf, count, nranks);
}
