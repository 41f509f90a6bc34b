/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Sign (1 bit per entry): per chunk of `chunk` entries a scale, the mean
 * absolute value (summed in double, stored as f32), and per entry one bit,
 * 1 for negative (so 0 and -0 decode to +scale). An entry decodes to
 * +-scale of its chunk. Not linear: allgathered and added up in rank order.
 *   wire = 4 ceil(n / chunk) + ceil(n / 8) bytes per rank: the scales, then
 *   the bits (entry i is bit i % 8 of byte i / 8)
 */
#include "compress/compress.h"

#include <math.h>
#include <string.h>

static size_t chunks(size_t n, size_t chunk)
{
    return (n + chunk - 1) / chunk;
}

size_t cmp_sign_bytes(size_t n, size_t chunk)
{
    return 4 * chunks(n, chunk) + (n + 7) / 8;
}

/* Bits are gathered a byte at a time in a register: setting them one by
 * one in memory cost a read-modify-write per entry. A byte shared by two
 * chunks (chunk not a multiple of 8) is or-ed into. */
void cmp_sign_encode(const float *x, size_t n, size_t chunk, unsigned char *enc)
{
    unsigned char *bits = enc + 4 * chunks(n, chunk);

    memset(bits, 0, (n + 7) / 8);
    for (size_t c = 0, o = 0; o < n; c++, o += chunk) {
        const size_t end = n - o < chunk ? n : o + chunk;
        double sum = 0;
        unsigned byte = 0;
        float scale;
        for (size_t i = o; i < end; i++) {
            sum += fabs((double)x[i]);
            byte |= (unsigned)(x[i] < 0) << (i & 7);
            if ((i & 7) == 7 || i + 1 == end) {
                bits[i >> 3] |= (unsigned char)byte;
                byte = 0;
            }
        }
        scale = (float)(sum / (double)(end - o));
        memcpy(enc + 4 * c, &scale, 4);
    }
}

/* out += +-scale, the sign put into scale's bits: no branch. */
void cmp_sign_decode_add(const unsigned char *enc, size_t n, size_t chunk, float *out)
{
    const unsigned char *bits = enc + 4 * chunks(n, chunk);

    for (size_t c = 0, o = 0; o < n; c++, o += chunk) {
        const size_t end = n - o < chunk ? n : o + chunk;
        uint32_t s;
        memcpy(&s, enc + 4 * c, 4);
        for (size_t i = o; i < end; i++) {
            const uint32_t v = s ^ (uint32_t)((bits[i >> 3] >> (i & 7)) & 1) << 31;
            float f;
            memcpy(&f, &v, 4);
            out[i] += f;
        }
    }
}

static size_t wire(const rcomm_compressor_t *c, const cmp_tensor_t *t, size_t n)
{
    return cmp_sign_bytes(n, c->cfg.chunk);
}

static void encode(rcomm_compressor_t *c, int tensor, cmp_tensor_t *t, const float *x,
                   size_t n, void *enc, float *mine)
{
    cmp_sign_encode(x, n, c->cfg.chunk, enc);
    memset(mine, 0, n * sizeof(float));
    cmp_sign_decode_add(enc, n, c->cfg.chunk, mine);
}

/* Every bit pattern and scale decodes to something finite or not: nothing
 * to bound but the size, which the allgather fixed. */
static rcomm_status_t decode_add(const rcomm_compressor_t *c, const cmp_tensor_t *t,
                                 const void *enc, size_t n, float *out, int r)
{
    cmp_sign_decode_add(enc, n, c->cfg.chunk, out);
    return RCOMM_OK;
}

const cmp_ops_t cmp_sign_ops = {.name = "sign",
                                .linear = false,
                                .wire_dtype = RCOMM_U8,
                                .wire_bytes = wire,
                                .encode = encode,
                                .decode_add = decode_add};
