/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Random-k: k entries at indices every rank draws from the same stream
 * (seed, tensor, call), so only the values travel and a plain f32 allreduce
 * sums them. Linear. The values are not rescaled by n / k: with error
 * feedback the rest is delivered later instead (without it the result is
 * the sum of the kept entries only).
 *   wire = 4 k bytes per rank
 * Indices by selection sampling (Knuth's algorithm S): one pass over n,
 * ascending, each kept with probability (k - kept) / (n - i): exactly k.
 */
#include "compress/compress.h"

#include <string.h>

void cmp_randk_indices(uint64_t seed, int tensor, uint64_t call, size_t n, size_t k,
                       uint32_t *idx)
{
    uint64_t s =
        seed ^ ((uint64_t)(uint32_t)tensor << 40) ^ (call * 0xd1b54a32d192ed03ull);
    size_t kept = 0;

    for (size_t i = 0; i < n && kept < k; i++) {
        /* A uniform double in [0, 1) from 53 random bits. */
        double u = (double)(cmp_splitmix(&s) >> 11) * (1.0 / 9007199254740992.0);
        if (u * (double)(n - i) < (double)(k - kept))
            idx[kept++] = (uint32_t)i;
    }
}

static size_t wire(const rcomm_compressor_t *c, const cmp_tensor_t *t, size_t n)
{
    return 4 * cmp_keep(c, n);
}

/* The indices are kept in t->idx for decode_add, which runs in the same
 * call on the summed values. */
static void encode(rcomm_compressor_t *c, int tensor, cmp_tensor_t *t, const float *x,
                   size_t n, void *enc, float *mine)
{
    const size_t k = cmp_keep(c, n);
    float *val = enc;

    cmp_randk_indices(c->cfg.seed, tensor, t->calls, n, k, t->idx);
    memset(mine, 0, n * sizeof(float));
    for (size_t j = 0; j < k; j++)
        mine[t->idx[j]] = val[j] = x[t->idx[j]];
}

static rcomm_status_t decode_add(const rcomm_compressor_t *c, const cmp_tensor_t *t,
                                 const void *enc, size_t n, float *out, int r)
{
    const size_t k = cmp_keep(c, n);
    const float *val = enc;

    for (size_t j = 0; j < k; j++)
        out[t->idx[j]] += val[j];
    return RCOMM_OK;
}

const cmp_ops_t cmp_randk_ops = {.name = "randk",
                                 .linear = true,
                                 .wire_dtype = RCOMM_F32,
                                 .wire_bytes = wire,
                                 .encode = encode,
                                 .decode_add = decode_add};
