/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Inputs whose reductions are exact in every rcomm type, even f16 and bf16,
 * and the reference results computed from them without the library's
 * kernels. Shared by the conformance test (tests/coll_check.c) and the
 * benchmarks' #wrong column, so both check the same thing the same way.
 */
#ifndef RCOMM_EXACT_INPUTS_H
#define RCOMM_EXACT_INPUTS_H

#include <stdint.h>
#include <stdlib.h>

#include "rcomm.h"
#include "reduce/reduce.h"

/* Input of rank r at element i: small integers (|sum| <= 32 on 8 ranks,
 * |product| <= 2^8), negative ones only for signed types. */
static inline int64_t exact_input(int r, size_t i, rcomm_op_t op, rcomm_dtype_t dt)
{
    const int is_signed = dt != RCOMM_U8;

    switch (op) {
    case RCOMM_PROD:
        if (is_signed && (i + (size_t)r) % 5 == 0)
            return -1;
        return (i + (size_t)r) % 3 == 0 ? 2 : 1;
    case RCOMM_MIN:
    case RCOMM_MAX:
        return (int64_t)((i * 7 + (size_t)r * 13) % 23) - (is_signed ? 11 : 0);
    default:
        return (int64_t)((i * 5 + (size_t)r * 3) % 9) - (is_signed ? 4 : 0);
    }
}

/* Store v, exact by construction, as element i of a buffer of type dt. */
static inline void exact_put(void *buf, size_t i, rcomm_dtype_t dt, double v)
{
    switch (dt) {
    case RCOMM_F32: ((float *)buf)[i] = (float)v; break;
    case RCOMM_F64: ((double *)buf)[i] = v; break;
    case RCOMM_F16: ((uint16_t *)buf)[i] = rcomm_f32_to_f16((float)v); break;
    case RCOMM_BF16: ((uint16_t *)buf)[i] = rcomm_f32_to_bf16((float)v); break;
    case RCOMM_I32: ((int32_t *)buf)[i] = (int32_t)v; break;
    case RCOMM_I64: ((int64_t *)buf)[i] = (int64_t)v; break;
    case RCOMM_U8: ((uint8_t *)buf)[i] = (uint8_t)(int64_t)v; break;
    default: abort();
    }
}

static inline double exact_get(const void *buf, size_t i, rcomm_dtype_t dt)
{
    switch (dt) {
    case RCOMM_F32: return ((const float *)buf)[i];
    case RCOMM_F64: return ((const double *)buf)[i];
    case RCOMM_F16: return rcomm_f16_to_f32(((const uint16_t *)buf)[i]);
    case RCOMM_BF16: return rcomm_bf16_to_f32(((const uint16_t *)buf)[i]);
    case RCOMM_I32: return ((const int32_t *)buf)[i];
    case RCOMM_I64: return (double)((const int64_t *)buf)[i];
    case RCOMM_U8: return ((const uint8_t *)buf)[i];
    default: abort();
    }
}

static inline void exact_fill(void *buf, size_t n, int r, rcomm_op_t op, rcomm_dtype_t dt)
{
    for (size_t i = 0; i < n; i++)
        exact_put(buf, i, dt, (double)exact_input(r, i, op, dt));
}

/* ref[at] = the reduction over size ranks of element i. */
static inline void exact_expect(void *ref, size_t i, size_t at, rcomm_op_t op,
                                rcomm_dtype_t dt, int size)
{
    int64_t acc = exact_input(0, i, op, dt);
    const int is_float = dt == RCOMM_F32 || dt == RCOMM_F64 || dt == RCOMM_F16 ||
                         dt == RCOMM_BF16;

    for (int r = 1; r < size; r++) {
        int64_t x = exact_input(r, i, op, dt);
        switch (op) {
        case RCOMM_PROD: acc *= x; break;
        case RCOMM_MIN: acc = x < acc ? x : acc; break;
        case RCOMM_MAX: acc = x > acc ? x : acc; break;
        default: acc += x; break;
        }
    }
    if (dt == RCOMM_U8)
        acc = (uint8_t)acc; /* u8 arithmetic wraps at every step */
    if (op != RCOMM_AVG)
        exact_put(ref, at, dt, (double)acc);
    else if (!is_float)
        exact_put(ref, at, dt, (double)(acc / size));
    else if (dt == RCOMM_F64)
        exact_put(ref, at, dt, (double)acc / size);
    else /* f32, f16, bf16 divide in f32 */
        exact_put(ref, at, dt, (double)((float)acc / (float)size));
}

#endif
