/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * binary16 and bfloat16 <-> binary32 conversions, as static inline functions so that
 * the reduction loops can inline them and vectorise. half.c exports wrappers.
 *
 * Integer operations on the bit patterns, plus one exact int-to-float step for f16
 * subnormals: the results do not depend on the FP rounding mode or on FTZ/DAZ, which
 * frameworks sometimes set. Every path is computed and the answer picked with selects
 * instead of branches, so gcc can if-convert the loops that use them (the variable
 * shifts need AVX2 to vectorise on x86).
 *
 * The _raw widening functions keep a signalling NaN signalling. The kernels use them:
 * f32 arithmetic quiets NaNs anyway and every narrowing here quiets, so a reduction
 * result is the same, and skipping the quieting makes f16/bf16 loops 20-40% faster.
 */
#ifndef RCOMM_HALF_IMPL_H
#define RCOMM_HALF_IMPL_H

#include <stdint.h>
#include <string.h>

static inline uint32_t rc_f32_bits(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof(u));
    return u;
}

static inline float rc_bits_f32(uint32_t u)
{
    float f;
    memcpy(&f, &u, sizeof(f));
    return f;
}

static inline float rc_f16_to_f32_raw(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    uint32_t a = h & 0x7fffu;
    /* Normal: move exponent and mantissa into place and rebias 15 -> 127. */
    uint32_t mag = (a << 13) + ((127u - 15u) << 23);
    /* Inf/NaN: rebias once more so the exponent is all ones; NaN keeps its payload. */
    mag = a >= 0x7c00u ? mag + ((127u - 15u) << 23) : mag;
    /* Zero and subnormals are a * 2^-24. The int-to-float conversion and the scaling
     * are exact (a < 2^10; results are zero or f32 normals), so neither the rounding
     * mode nor FTZ/DAZ can change them; two vector instructions, where normalising
     * the mantissa by hand takes a dozen. Selected with a mask, not ?:, because gcc
     * would sink FP operations under a condition it then cannot if-convert ("could
     * trap"), and the loop would not vectorise. */
    uint32_t sub = rc_f32_bits((float)(int32_t)a * 0x1p-24f);
    uint32_t is_sub = 0u - (uint32_t)(a < 0x400u);
    mag = (sub & is_sub) | (mag & ~is_sub);
    return rc_bits_f32(sign | mag);
}

static inline uint16_t rc_f32_to_f16(float f)
{
    uint32_t u = rc_f32_bits(f);
    uint32_t sign = (u >> 16) & 0x8000u;
    uint32_t a = u & 0x7fffffffu;
    /* The range tests compare a as signed (it is below 2^31): x86 vectors have signed
     * compares only, unsigned ones cost extra instructions. */
    int32_t sa = (int32_t)a;
    /* Normal result: rebias 127 -> 15 and drop 13 mantissa bits, rounding to nearest
     * even by adding 0xfff plus the lowest kept bit. A carry out of the mantissa bumps
     * the exponent, and out of the largest exponent gives exactly infinity (0x7c00). */
    uint32_t normal = (a - ((127u - 15u) << 23) + 0xfffu + ((a >> 13) & 1u)) >> 13;
    /* Subnormal result (|f| < 2^-14): the 24-bit significand shifted right by
     * 126 - exp, rounded the same way. Rounding up from the largest subnormal gives
     * 0x400, the smallest normal. The shift is clamped to [13, 25] to stay defined
     * for every input; 25 (exponents below 101, zero, f32 subnormals) gives 0. */
    uint32_t e = a >> 23;
    uint32_t shift = 126u - (e < 113u ? e : 113u);
    shift = shift < 25u ? shift : 25u;
    uint32_t m = (a & 0x7fffffu) | 0x800000u;
    uint32_t sub = (m + (1u << (shift - 1)) - 1u + ((m >> shift) & 1u)) >> shift;
    /* |f| >= 2^16 overflows; NaN keeps the top of its payload and becomes quiet. */
    uint32_t special = sa > 0x7f800000 ? 0x7e00u | ((a >> 13) & 0x3ffu) : 0x7c00u;
    uint32_t mag = sa >= 0x38800000 ? normal : sub;
    mag = sa >= 0x47800000 ? special : mag;
    return (uint16_t)(sign | mag);
}

static inline float rc_bf16_to_f32_raw(uint16_t b)
{
    return rc_bits_f32((uint32_t)b << 16);
}

/* A NaN made quiet, anything else unchanged. */
static inline float rc_f32_quiet(float f)
{
    uint32_t u = rc_f32_bits(f);
    return rc_bits_f32((int32_t)(u & 0x7fffffffu) > 0x7f800000 ? u | 0x00400000u : u);
}

static inline float rc_f16_to_f32(uint16_t h)
{
    return rc_f32_quiet(rc_f16_to_f32_raw(h));
}

static inline float rc_bf16_to_f32(uint16_t b)
{
    return rc_f32_quiet(rc_bf16_to_f32_raw(b));
}

static inline uint16_t rc_f32_to_bf16(float f)
{
    uint32_t u = rc_f32_bits(f);
    /* bfloat16 is the top half of binary32: round the low 16 bits to nearest even.
     * Cannot wrap: the largest non-NaN pattern, 0xff800000, has room for 0x8000. */
    uint32_t rounded = (u + 0x7fffu + ((u >> 16) & 1u)) >> 16;
    /* Rounding could carry a NaN into infinity, so NaNs are truncated and quieted. */
    uint32_t nan = (u >> 16) | 0x40u;
    return (uint16_t)((int32_t)(u & 0x7fffffffu) > 0x7f800000 ? nan : rounded);
}

#endif
