/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * 16-bit wire: every entry rounded to bf16 or f16 (nearest even), the
 * encodings summed by rcomm's own bf16/f16 allreduce, which adds in f32 and
 * rounds once per step. Linear: the sum of encodings is an encoding.
 *   wire = 2 n bytes per rank (half of f32)
 */
#include "compress/compress.h"
#include "reduce/half_impl.h"

static size_t wire16(const rcomm_compressor_t *c, const cmp_tensor_t *t, size_t n)
{
    return 2 * n;
}

/* One loop for both formats, with the reduction kernels' inline converters
 * (src/reduce/half_impl.h): a call per entry cost 3-4 times the loop. */
static inline void encode16(const float *x, size_t n, uint16_t *e, float *mine,
                            uint16_t (*to)(float), float (*from)(uint16_t))
{
    for (size_t i = 0; i < n; i++)
        mine[i] = from(e[i] = to(x[i]));
}

static inline void decode16(const uint16_t *e, size_t n, float *out,
                            float (*from)(uint16_t))
{
    for (size_t i = 0; i < n; i++)
        out[i] += from(e[i]);
}

static void enc_bf16(rcomm_compressor_t *c, int tensor, cmp_tensor_t *t, const float *x,
                     size_t n, void *enc, float *mine)
{
    encode16(x, n, enc, mine, rc_f32_to_bf16, rc_bf16_to_f32);
}

static void enc_f16(rcomm_compressor_t *c, int tensor, cmp_tensor_t *t, const float *x,
                    size_t n, void *enc, float *mine)
{
    encode16(x, n, enc, mine, rc_f32_to_f16, rc_f16_to_f32);
}

static rcomm_status_t dec_bf16(const rcomm_compressor_t *c, const cmp_tensor_t *t,
                               const void *enc, size_t n, float *out, int r)
{
    decode16(enc, n, out, rc_bf16_to_f32);
    return RCOMM_OK;
}

static rcomm_status_t dec_f16(const rcomm_compressor_t *c, const cmp_tensor_t *t,
                              const void *enc, size_t n, float *out, int r)
{
    decode16(enc, n, out, rc_f16_to_f32);
    return RCOMM_OK;
}

const cmp_ops_t cmp_bf16_ops = {.name = "bf16",
                                .linear = true,
                                .wire_dtype = RCOMM_BF16,
                                .wire_bytes = wire16,
                                .encode = enc_bf16,
                                .decode_add = dec_bf16};
const cmp_ops_t cmp_f16_ops = {.name = "f16",
                               .linear = true,
                               .wire_dtype = RCOMM_F16,
                               .wire_bytes = wire16,
                               .encode = enc_f16,
                               .decode_add = dec_f16};
