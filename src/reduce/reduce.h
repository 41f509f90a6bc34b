/* SPDX-License-Identifier: BSD-3-Clause */
/* Reduction kernels and datatype conversions. */
#ifndef RCOMM_REDUCE_H
#define RCOMM_REDUCE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rcomm.h"

/* The instruction sets the kernels are compiled for (kernels.h), narrowest
 * first. On other machines than x86-64 there is the baseline only. */
typedef enum {
    REDUCE_ISA_BASE,
    REDUCE_ISA_AVX2,   /* and F16C */
    REDUCE_ISA_AVX512, /* F, BW, DQ and VL, and F16C */
    REDUCE_ISA_COUNT
} reduce_isa_t;

/* The tier every kernel here uses from now on: the widest that the build
 * has and the CPU runs, and no wider than max (REDUCE_ISA_COUNT: no limit).
 * The first call of any kernel sets it so. Returns the tier taken. For
 * tests, which run every tier, and benchmarks, which compare them; the
 * bits are the same in every tier. */
reduce_isa_t reduce_set_isa(reduce_isa_t max);
/* The tier in use. */
reduce_isa_t reduce_isa(void);
/* "baseline", "avx2", "avx512"; "unknown" for anything else. */
const char *reduce_isa_name(reduce_isa_t isa);

/* dst[i] = a[i] op b[i] for i < count. dst may alias a or b (exactly, not
 * partially). F16/BF16 are computed in f32 and rounded to nearest even once.
 * AVG reduces like SUM; reduce_finish() divides at the end. Integer SUM
 * and PROD wrap modulo 2^bits. dtype and op must be valid (callers validate). */
void reduce_apply(void *dst, const void *a, const void *b, size_t count,
                  rcomm_dtype_t dtype, rcomm_op_t op);

/* Completes an op over nranks contributions: for AVG, buf[i] /= nranks
 * (integer division truncates toward zero); nothing for other ops. */
void reduce_finish(void *buf, size_t count, rcomm_dtype_t dtype, rcomm_op_t op,
                   int nranks);

/* Many to many in one pass (fan.c): for i < count, the result of
 * reduce_apply() over src[0][i], src[1][i], ..., src[nsrc-1][i] in that
 * order, then reduce_finish() with nranks, is stored to every dst[j][i]
 * with streaming stores: the same bits as that chain, without reading the
 * destinations' lines first. Every buffer is taken `off` bytes after the
 * pointer given; dst[j] may be src[j] (in place). False, having done
 * nothing, where it does not serve: off x86-64, F16 and BF16 in the
 * baseline tier, integer AVG, or destinations that differ in their alignment
 * to 64 bytes or are not aligned to the element. True: done, and the
 * stores are fenced. */
bool reduce_fan(void *const *dst, int ndst, const void *const *src, int nsrc, size_t off,
                size_t count, rcomm_dtype_t dtype, rcomm_op_t op, int nranks);
/* The same result the plain way, on any datatype and op: the sources
 * reduced pairwise in order into dst[0], then copied to the other
 * destinations. For what reduce_fan does not serve, and where the results
 * should stay in the caches. */
void reduce_chain(void *const *dst, int ndst, const void *const *src, int nsrc,
                  size_t off, size_t count, rcomm_dtype_t dtype, rcomm_op_t op,
                  int nranks);

/* Weighted sums (weighted.c): the accumulator holds f32 for F32, F16 and
 * BF16, f64 for F64 and the integers (reduce_acc_size: its element size, 0
 * for an invalid dtype). reduce_axpy: acc = w x when first, else acc += w x,
 * for n elements of x (dtype) with w rounded to the accumulator's type.
 * reduce_acc_store: dst (dtype) = acc, rounded to nearest even (integers:
 * then held to the type's range). */
size_t reduce_acc_size(rcomm_dtype_t dtype);
void reduce_axpy(void *acc, const void *x, size_t n, rcomm_dtype_t dtype, double w,
                 int first);
void reduce_acc_store(void *dst, const void *acc, size_t n, rcomm_dtype_t dtype);

/* IEEE binary16 and bfloat16 <-> binary32, round to nearest even; NaN stays
 * NaN (quiet), infinities and signed zeros are kept, f16 subnormals handled. */
uint16_t reduce_f32_to_f16(float f);
float reduce_f16_to_f32(uint16_t h);
uint16_t reduce_f32_to_bf16(float f);
float reduce_bf16_to_f32(uint16_t b);

#endif
