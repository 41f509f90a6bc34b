/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Weighted sums, for neighbour averaging (x_i <- w_ii x_i + sum w_ij x_j):
 * an accumulator in the type the sum is kept in, f32 for f32, f16 and bf16,
 * f64 for f64 and the integers, and the store back into the element type. The weight
 * is rounded to the accumulator's type once per call, and each step is one
 * multiply and one add in that type, never fused (the library is built
 * with -ffp-contract=off, Makefile.am), so a test can predict every bit
 * by doing the same. Same layout as reduce.c: one loop per type from one
 * list. With the weights 1/3 of a ring on 4 ranks, f32: acc = (float)(1/3)
 * x_1, then acc = acc + (float)(1/3) x_0, then + (float)(1/3) x_2.
 */
#include <math.h>

#include "reduce/half_impl.h"
#include "reduce/reduce.h"

#define AS_IS(x) (x)

/* Integers are summed in f64 and rounded to nearest, ties to even, once,
 * then held to the type's range (a weighted average of values in range
 * stays in range, but user weights need not be convex). */
static inline int32_t round_i32(double a)
{
    a = nearbyint(a);
    return a <= INT32_MIN ? INT32_MIN : a >= INT32_MAX ? INT32_MAX : (int32_t)a;
}

static inline int64_t round_i64(double a)
{
    a = nearbyint(a);
    return a <= -0x1p63 ? INT64_MIN : a >= 0x1p63 ? INT64_MAX : (int64_t)a;
}

static inline uint8_t round_u8(double a)
{
    a = nearbyint(a);
    return a <= 0 ? 0 : a >= 255 ? 255 : (uint8_t)a;
}

/* X(enum, name, storage, accumulator, load, store) */
#define WTYPES(X)                                                                        \
    X(RCOMM_F32, f32, float, float, AS_IS, AS_IS)                                        \
    X(RCOMM_F64, f64, double, double, AS_IS, AS_IS)                                      \
    X(RCOMM_F16, f16, uint16_t, float, rc_f16_to_f32, rc_f32_to_f16)                     \
    X(RCOMM_BF16, bf16, uint16_t, float, rc_bf16_to_f32, rc_f32_to_bf16)                 \
    X(RCOMM_I32, i32, int32_t, double, AS_IS, round_i32)                                 \
    X(RCOMM_I64, i64, int64_t, double, AS_IS, round_i64)                                 \
    X(RCOMM_U8, u8, uint8_t, double, AS_IS, round_u8)

#define DEFINE_W(E, name, S, A, load, store)                                             \
    static void axpy_##name(void *acc_, const void *x_, size_t n, double w, int first)   \
    {                                                                                    \
        A *acc = acc_;                                                                   \
        const S *x = x_;                                                                 \
        const A wa = (A)w;                                                               \
        if (first)                                                                       \
            for (size_t i = 0; i < n; i++)                                               \
                acc[i] = wa * load(x[i]);                                                \
        else                                                                             \
            for (size_t i = 0; i < n; i++)                                               \
                acc[i] = acc[i] + wa * load(x[i]);                                       \
    }                                                                                    \
    static void store_##name(void *dst_, const void *acc_, size_t n)                     \
    {                                                                                    \
        S *dst = dst_;                                                                   \
        const A *acc = acc_;                                                             \
        for (size_t i = 0; i < n; i++)                                                   \
            dst[i] = store(acc[i]);                                                      \
    }
WTYPES(DEFINE_W)

size_t reduce_acc_size(rcomm_dtype_t dtype)
{
    switch (dtype) {
#define ACC_SIZE(E, name, S, A, load, store)                                             \
    case E: return sizeof(A);
        WTYPES(ACC_SIZE)
    default: return 0;
    }
}

void reduce_axpy(void *acc, const void *x, size_t n, rcomm_dtype_t dtype, double w,
                 int first)
{
    switch (dtype) {
#define AXPY_CASE(E, name, S, A, load, store)                                            \
    case E: axpy_##name(acc, x, n, w, first); break;
        WTYPES(AXPY_CASE)
    default: break; /* callers validate dtype */
    }
}

void reduce_acc_store(void *dst, const void *acc, size_t n, rcomm_dtype_t dtype)
{
    switch (dtype) {
#define STORE_CASE(E, name, S, A, load, store)                                           \
    case E: store_##name(dst, acc, n); break;
        WTYPES(STORE_CASE)
    default: break;
    }
}
