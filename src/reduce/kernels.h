/* SPDX-License-Identifier: BSD-3-Clause */
/* What the reduction kernels share (reduce.c's pairwise ones, fan.c's
 * many-to-many ones): the datatype list, the ops, and the instruction sets
 * each kernel is compiled for. reduce.c's header says why each is as it is. */
#ifndef RCOMM_REDUCE_KERNELS_H
#define RCOMM_REDUCE_KERNELS_H

#include "reduce/half_impl.h"

/*
 * Tiers: every kernel is compiled once for each instruction set below, and
 * one tier serves every call, picked at run time (reduce_set_isa,
 * reduce.h): the widest the CPU has unless a test or a benchmark asks for
 * less. Tables per tier rather than target_clones, so that tests run every
 * tier on one machine, and ThreadSanitizer builds keep them (its runtime
 * is not up yet when ifunc resolvers run).
 *   X(isa, tier, attr): the reduce_isa_t, the name part, the attribute.
 */
#if defined(__x86_64__)
#define TIER_AVX2 __attribute__((target("avx2,f16c")))
#define TIER_AVX512 __attribute__((target("avx512f,avx512bw,avx512dq,avx512vl,f16c")))
#define REDUCE_TIERS(X)                                                                  \
    X(REDUCE_ISA_BASE, base, )                                                           \
    X(REDUCE_ISA_AVX2, avx2, TIER_AVX2)                                                  \
    X(REDUCE_ISA_AVX512, avx512, TIER_AVX512)
#else
#define REDUCE_TIERS(X) X(REDUCE_ISA_BASE, base, )
#endif

/* In the AVX2 and AVX-512 tiers: F16C's 8 halves to f32 and back (round
 * to nearest even), and the ops of below on 8 f32 lanes (F32X8_), for the
 * halves' kernels (reduce.c, fan.c): MIN/MAX pick x where x < y (x > y) or
 * x is a NaN, else y. */
#if defined(__x86_64__)
#include <immintrin.h>
#define F16C_LOAD(p) _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(p)))
#define F16C_NARROW(v) _mm256_cvtps_ph(v, _MM_FROUND_TO_NEAREST_INT)
#define F16C_STORE(p, v) _mm_storeu_si128((__m128i *)(p), F16C_NARROW(v))
#define F32X8_SUM(x, y) _mm256_add_ps(x, y)
#define F32X8_PROD(x, y) _mm256_mul_ps(x, y)
#define F32X8_PICK(x, y, cmp)                                                            \
    _mm256_blendv_ps(                                                                    \
        y, x, _mm256_or_ps(_mm256_cmp_ps(x, y, cmp), _mm256_cmp_ps(x, x, _CMP_UNORD_Q)))
#define F32X8_MIN(x, y) F32X8_PICK(x, y, _CMP_LT_OQ)
#define F32X8_MAX(x, y) F32X8_PICK(x, y, _CMP_GT_OQ)
#endif

#define AS_IS(x) (x)

/*
 * X(..., enum, name, storage, compute, wrap, divisor, load, store, lead), where
 * "..." is DTYPES' own arguments after X (a tier's name and attribute):
 *   storage   element type in memory
 *   compute   type the op is evaluated in (load converts storage to it, store back)
 *   wrap      type of SUM and PROD: unsigned for integers so overflow wraps
 *   divisor   type nranks takes for AVG: int for integers, so it is never truncated
 *             to u8 and the division truncates toward zero
 *   lead      what a tier does of a loop first, with instructions the compiler does
 *             not find itself: LEAD_<lead>(tier, op, dst, a, b, n) gives the elements
 *             done, and the loop does the rest (reduce.c)
 */
#define DTYPES(X, ...)                                                                   \
    X(__VA_ARGS__, RCOMM_F32, f32, float, float, float, float, AS_IS, AS_IS, NONE)       \
    X(__VA_ARGS__, RCOMM_F64, f64, double, double, double, double, AS_IS, AS_IS, NONE)   \
    X(__VA_ARGS__, RCOMM_F16, f16, uint16_t, float, float, float, rc_f16_to_f32_raw,     \
      rc_f32_to_f16, F16C)                                                               \
    X(__VA_ARGS__, RCOMM_BF16, bf16, uint16_t, float, float, float, rc_bf16_to_f32_raw,  \
      rc_f32_to_bf16, NONE)                                                              \
    X(__VA_ARGS__, RCOMM_I32, i32, int32_t, int32_t, uint32_t, int, AS_IS, AS_IS, NONE)  \
    X(__VA_ARGS__, RCOMM_I64, i64, int64_t, int64_t, uint64_t, int64_t, AS_IS, AS_IS,    \
      NONE)                                                                              \
    X(__VA_ARGS__, RCOMM_U8, u8, uint8_t, uint8_t, uint8_t, int, AS_IS, AS_IS, NONE)

/* A dispatch table's row for one datatype: the kernels named pre_SUM, pre_PROD,
 * pre_MIN and pre_MAX. AVG reduces like SUM; reduce_finish() divides at the end. */
#define OPS_ROW(pre)                                                                     \
    {                                                                                    \
        [RCOMM_SUM] = pre##_SUM, [RCOMM_PROD] = pre##_PROD, [RCOMM_MIN] = pre##_MIN,     \
        [RCOMM_MAX] = pre##_MAX, [RCOMM_AVG] = pre##_SUM                                 \
    }

/* The ops on compute-type values. For MIN/MAX, x != x is true only for a NaN x; a
 * NaN y makes the comparison false and so is returned too. The forms are the ones
 * gcc turns into vector compares and blends. */
#define OP_SUM(W, x, y) ((W)(x) + (W)(y))
#define OP_PROD(W, x, y) ((W)(x) * (W)(y))
#define OP_MIN(W, x, y) ((x) < (y) || (x) != (x) ? (x) : (y))
#define OP_MAX(W, x, y) ((x) > (y) || (x) != (x) ? (x) : (y))

#endif
