/* SPDX-License-Identifier: BSD-3-Clause */
/* What the reduction kernels share (reduce.c's pairwise ones, fan.c's
 * many-to-many ones): the datatype list, the ops, and how each kernel is
 * compiled. reduce.c's header says why each is as it is. */
#ifndef RCOMM_REDUCE_KERNELS_H
#define RCOMM_REDUCE_KERNELS_H

#include "reduce/half_impl.h"

/* RCOMM_NO_TARGET_CLONES builds the plain loops only: for toolchains without ifunc,
 * and to test the baseline code on an AVX2 machine. ThreadSanitizer builds
 * too: the ifunc resolvers run before its runtime is up and crash. */
#if defined(__SANITIZE_THREAD__) && !defined(RCOMM_NO_TARGET_CLONES)
#define RCOMM_NO_TARGET_CLONES 1
#endif
#if defined(__x86_64__) && defined(__has_attribute) && !defined(RCOMM_NO_TARGET_CLONES)
#if __has_attribute(target_clones)
#define KERNEL_ATTR __attribute__((target_clones("avx2", "default")))
#endif
#endif
#ifndef KERNEL_ATTR
#define KERNEL_ATTR
#endif

#define AS_IS(x) (x)

/*
 * X(enum, name, storage, compute, wrap, divisor, load, store):
 *   storage   element type in memory
 *   compute   type the op is evaluated in (load converts storage to it, store back)
 *   wrap      type of SUM and PROD: unsigned for integers so overflow wraps
 *   divisor   type nranks takes for AVG: int for integers, so it is never truncated
 *             to u8 and the division truncates toward zero
 */
#define DTYPES(X)                                                                        \
    X(RCOMM_F32, f32, float, float, float, float, AS_IS, AS_IS)                          \
    X(RCOMM_F64, f64, double, double, double, double, AS_IS, AS_IS)                      \
    X(RCOMM_F16, f16, uint16_t, float, float, float, rc_f16_to_f32_raw, rc_f32_to_f16)   \
    X(RCOMM_BF16, bf16, uint16_t, float, float, float, rc_bf16_to_f32_raw,               \
      rc_f32_to_bf16)                                                                    \
    X(RCOMM_I32, i32, int32_t, int32_t, uint32_t, int, AS_IS, AS_IS)                     \
    X(RCOMM_I64, i64, int64_t, int64_t, uint64_t, int64_t, AS_IS, AS_IS)                 \
    X(RCOMM_U8, u8, uint8_t, uint8_t, uint8_t, int, AS_IS, AS_IS)

/* The ops on compute-type values. For MIN/MAX, x != x is true only for a NaN x; a
 * NaN y makes the comparison false and so is returned too. The forms are the ones
 * gcc turns into vector compares and blends. */
#define OP_SUM(W, x, y) ((W)(x) + (W)(y))
#define OP_PROD(W, x, y) ((W)(x) * (W)(y))
#define OP_MIN(W, x, y) ((x) < (y) || (x) != (x) ? (x) : (y))
#define OP_MAX(W, x, y) ((x) > (y) || (x) != (x) ? (x) : (y))

#endif
