/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * 16-bit wire: every entry rounded to bf16 or f16 (nearest even), the
 * encodings summed by rcomm's own bf16/f16 allreduce, which adds in f32 and
 * rounds once per step. Linear: the sum of encodings is an encoding.
 *   wire = 2 n bytes per rank (half of f32)
 */
#include "compress/compress.h"
#include "reduce/reduce.h"

static size_t wire16(const rcomm_compressor_t *c, size_t n)
{
    return 2 * n;
}

static rcomm_status_t run(rcomm_compressor_t *c, const float *x, float *mine, float *out,
                          size_t n, rcomm_dtype_t dt)
{
    uint16_t (*enc)(float) = dt == RCOMM_BF16 ? reduce_f32_to_bf16 : reduce_f32_to_f16;
    float (*dec)(uint16_t) = dt == RCOMM_BF16 ? reduce_bf16_to_f32 : reduce_f16_to_f32;
    rcomm_status_t st = cmp_buffers(c, 2 * n, 0, "rcomm_allreduce_compressed");
    uint16_t *e = c->enc;

    if (st != RCOMM_OK)
        return st;
    for (size_t j = 0; j < n; j++) {
        e[j] = enc(x[j]);
        mine[j] = dec(e[j]);
    }
    if ((st = rcomm_allreduce(c->comm, RCOMM_IN_PLACE, e, n, dt, RCOMM_SUM)) != RCOMM_OK)
        return st;
    for (size_t j = 0; j < n; j++)
        out[j] = dec(e[j]);
    return RCOMM_OK;
}

static rcomm_status_t bf16(rcomm_compressor_t *c, int tensor, cmp_tensor_t *t,
                           const float *x, float *mine, float *out, size_t n)
{
    return run(c, x, mine, out, n, RCOMM_BF16);
}

static rcomm_status_t f16(rcomm_compressor_t *c, int tensor, cmp_tensor_t *t,
                          const float *x, float *mine, float *out, size_t n)
{
    return run(c, x, mine, out, n, RCOMM_F16);
}

const cmp_ops_t cmp_bf16_ops = {"bf16", true, wire16, bf16};
const cmp_ops_t cmp_f16_ops = {"f16", true, wire16, f16};
