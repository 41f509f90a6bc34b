/* SPDX-License-Identifier: BSD-3-Clause */
/* Exported half-precision conversions; the logic lives in half_impl.h so the
 * reduction kernels can inline it. */
#include "reduce/half_impl.h"
#include "reduce/reduce.h"

uint16_t reduce_f32_to_f16(float f)
{
    return rc_f32_to_f16(f);
}

float reduce_f16_to_f32(uint16_t h)
{
    return rc_f16_to_f32(h);
}

uint16_t reduce_f32_to_bf16(float f)
{
    return rc_f32_to_bf16(f);
}

float reduce_bf16_to_f32(uint16_t b)
{
    return rc_bf16_to_f32(b);
}
