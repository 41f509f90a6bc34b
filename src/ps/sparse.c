/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Pushes that carry only some keys: the significance filter
 * (cfg.push_threshold) and top-k or random-k compressors pick keys; a block
 * with picked keys goes as an image of (offset, value) pairs when that is
 * smaller than the block, else whole. The stamp of a block written sparse
 * says how many keys its image holds (PS_STAMP); the server adds the image
 * into a zeroed block and updates only the keys it names, so a key that was
 * not pushed is not a zero gradient (momentum leaves it alone too).
 * Compressors with a dense encoding (bf16, f16, sign) send every dirty
 * block encoded instead, flagged in its stamp; the worker keeps what the
 * encoding lost.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "compress/compress.h"
#include "ps/ps.h"
#include "reduce/reduce.h"

static int kind_is(const rcomm_ps_t *ps, int t, rcomm_compress_kind_t a,
                   rcomm_compress_kind_t b)
{
    const rcomm_compressor_t *c = ps->cfg.compressor;

    return c && ps->lay.t[t].dtype == RCOMM_F32 && (c->cfg.kind == a || c->cfg.kind == b);
}

int ps_picks(const rcomm_ps_t *ps, int t)
{
    return ps->cfg.push_threshold > 0 ||
           kind_is(ps, t, RCOMM_COMPRESS_TOPK, RCOMM_COMPRESS_RANDK);
}

int ps_encodes(const rcomm_ps_t *ps, int t)
{
    return kind_is(ps, t, RCOMM_COMPRESS_BF16, RCOMM_COMPRESS_F16) ||
           kind_is(ps, t, RCOMM_COMPRESS_SIGN, RCOMM_COMPRESS_SIGN);
}

int ps_drops(const rcomm_ps_t *ps, int t)
{
    const rcomm_compressor_t *c = ps->cfg.compressor;

    return c && !c->cfg.error_feedback && ps->lay.t[t].dtype == RCOMM_F32;
}

rcomm_status_t ps_sparse_init(rcomm_ps_t *ps)
{
    size_t longest = 1;
    int any = 0;

    for (int t = 0; t < ps->lay.ntensors; t++)
        any |= ps_picks(ps, t) || ps_encodes(ps, t);
    if (!any || ps->worker < 0)
        return RCOMM_OK;
    for (int s = 0; s < ps->cfg.num_servers; s++)
        for (int t = 0; t < ps->lay.ntensors; t++)
            if (ps_range(&ps->lay, s, t)->n > longest)
                longest = ps_range(&ps->lay, s, t)->n;
    ps->pick = malloc(longest * sizeof(uint32_t));
    ps->pick_val = malloc(longest * sizeof(float));
    ps->pick_scr = malloc(longest * sizeof(float));
    any = ps->pick && ps->pick_val && ps->pick_scr;
    for (int s = 0; s < ps->cfg.num_servers && any; s++)
        any = !!(ps->rem[s].stage = malloc(ps->lay.bytes[s] ? ps->lay.bytes[s] : 1));
    if (!any) /* ps_worker_free releases what was allocated */
        return base_err(RCOMM_ERR_NO_MEMORY,
                        "rcomm_ps_create: worker rank %d: no memory for sparse pushes",
                        ps->comm->rank);
    return RCOMM_OK;
}

static double value(const char *p, rcomm_dtype_t dtype, size_t k)
{
    return dtype == RCOMM_F64 ? ((const double *)p)[k] : ((const float *)p)[k];
}

size_t ps_pick(rcomm_ps_t *ps, int s, int t)
{
    const ps_range_t *r = ps_range(&ps->lay, s, t);
    const ps_tensor_t *tn = &ps->lay.t[t];
    const char *acc = ps->accum[t] + r->lo * tn->esize;
    const char *par = ps->local[t] + r->lo * tn->esize;
    rcomm_compressor_t *c = tn->dtype == RCOMM_F32 ? ps->cfg.compressor : NULL;
    const double thr = ps->cfg.push_threshold;
    const ps_remote_t *rm = &ps->rem[s];
    size_t m = 0, kept = 0;

    if (c && c->cfg.kind == RCOMM_COMPRESS_TOPK) {
        m = cmp_keep(c, r->n);
        cmp_topk_select((const float *)acc, r->n, m, ps->pick, ps->pick_val,
                        ps->pick_scr);
    } else if (c) { /* random-k: a stream per (tensor, server) and push */
        m = cmp_keep(c, r->n);
        cmp_randk_indices(c->cfg.seed, t * ps->cfg.num_servers + s, ps->stats.pushes,
                          r->n, m, ps->pick);
    } else { /* every key of a dirty block, for the filter below */
        for (size_t k = 0; k < r->n; k++)
            if (rm->dirty[r->block + k / tn->blk])
                ps->pick[m++] = (uint32_t)k;
    }
    /* Keep the nonzero and, with the filter, the significant (a NaN is). */
    for (size_t j = 0; j < m; j++) {
        const size_t k = ps->pick[j];
        const double g = value(acc, tn->dtype, k);
        const double bound =
            ps->cfg.push_relative ? thr * fabs(value(par, tn->dtype, k)) : thr;
        if (g != 0 && (thr <= 0 || !(fabs(g) <= bound)))
            ps->pick[kept++] = (uint32_t)k;
    }
    return kept;
}

size_t ps_sparse_image(rcomm_ps_t *ps, int s, int t, size_t i, const uint32_t *keys,
                       size_t m)
{
    const ps_range_t *r = ps_range(&ps->lay, s, t);
    const ps_tensor_t *tn = &ps->lay.t[t];
    const size_t es = tn->esize, first = i * tn->blk;
    const size_t n = r->n - first < tn->blk ? r->n - first : tn->blk;
    char *img = ps->rem[s].stage + r->off + first * es;
    char *vals = img + (4 * m + es - 1) / es * es;
    char *acc = ps->accum[t] + (r->lo + first) * es;

    if (m > PS_STAMP_KEYS_MAX || ps_sparse_bytes(m, es) >= n * es)
        return 0;
    for (size_t j = 0; j < m; j++) {
        const uint32_t off = (uint32_t)(keys[j] - first);
        memcpy(img + 4 * j, &off, 4);
        memcpy(vals + j * es, acc + off * es, es);
        memset(acc + off * es, 0, es); /* sent: the image holds it now */
    }
    return ps_sparse_bytes(m, es);
}

size_t ps_sparse_add(const char *img, size_t m, size_t n, rcomm_dtype_t dtype, char *sum,
                     unsigned char *mark)
{
    const size_t es = dtype == RCOMM_F64 ? 8 : 4;
    const char *vals = img + (4 * m + es - 1) / es * es;
    size_t bad = 0;

    if (ps_sparse_bytes(m, es) > n * es)
        return m; /* it cannot be an image of this block */
    for (size_t j = 0; j < m; j++) {
        uint32_t off;
        memcpy(&off, img + 4 * j, 4);
        if (off >= n) {
            bad++;
            continue;
        }
        if (dtype == RCOMM_F64) {
            double v;
            memcpy(&v, vals + j * 8, 8);
            ((double *)sum)[off] += v;
        } else {
            float v;
            memcpy(&v, vals + j * 4, 4);
            ((float *)sum)[off] += v;
        }
        mark[off] = 1;
    }
    return bad;
}

size_t ps_encoded_image(rcomm_ps_t *ps, int s, int t, size_t i)
{
    const rcomm_compressor_t *c = ps->cfg.compressor;
    const ps_range_t *r = ps_range(&ps->lay, s, t);
    const ps_tensor_t *tn = &ps->lay.t[t];
    const size_t first = i * tn->blk, n = r->n - first < tn->blk ? r->n - first : tn->blk;
    const int sign = c->cfg.kind == RCOMM_COMPRESS_SIGN;
    const size_t bytes = sign ? cmp_sign_bytes(n, c->cfg.chunk) : 2 * n;
    char *img = ps->rem[s].stage + r->off + first * 4;
    float *acc = (float *)ps->accum[t] + r->lo + first, *dec = ps->pick_val;

    if (bytes >= 4 * n)
        return 0;
    if (sign) {
        cmp_sign_encode(acc, n, c->cfg.chunk, (unsigned char *)img);
        memset(dec, 0, n * sizeof(float));
        cmp_sign_decode_add((const unsigned char *)img, n, c->cfg.chunk, dec);
    } else {
        const int bf = c->cfg.kind == RCOMM_COMPRESS_BF16;
        for (size_t k = 0; k < n; k++) {
            const uint16_t h =
                bf ? reduce_f32_to_bf16(acc[k]) : reduce_f32_to_f16(acc[k]);
            memcpy(img + 2 * k, &h, 2);
            dec[k] = bf ? reduce_bf16_to_f32(h) : reduce_f16_to_f32(h);
        }
    }
    for (size_t k = 0; k < n; k++) /* sent: what was lost stays, or nothing */
        acc[k] = c->cfg.error_feedback ? acc[k] - dec[k] : 0.0f;
    return bytes;
}

void ps_encoded_add(const rcomm_ps_t *ps, const char *img, size_t n, float *sum)
{
    const rcomm_compressor_t *c = ps->cfg.compressor;

    if (c->cfg.kind == RCOMM_COMPRESS_SIGN) {
        cmp_sign_decode_add((const unsigned char *)img, n, c->cfg.chunk, sum);
        return;
    }
    for (size_t k = 0; k < n; k++) {
        uint16_t h;
        memcpy(&h, img + 2 * k, 2);
        sum[k] += c->cfg.kind == RCOMM_COMPRESS_BF16 ? reduce_bf16_to_f32(h)
                                                     : reduce_f16_to_f32(h);
    }
}
