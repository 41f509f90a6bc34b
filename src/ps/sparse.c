/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Pushes that carry only some keys: the keys a push named, when it did not
 * name a whole block (ps_pick_block); the significance filter
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

/* The compressor of tensor t's pushes: f32 tensors only. */
static rcomm_compressor_t *compressor(const rcomm_ps_t *ps, int t)
{
    return ps->lay.t[t].dtype == RCOMM_F32 ? ps->cfg.compressor : NULL;
}

/* Top-k and random-k pick keys; the other kinds encode whole blocks. */
static int picking(const rcomm_compressor_t *c)
{
    return c->cfg.kind == RCOMM_COMPRESS_TOPK || c->cfg.kind == RCOMM_COMPRESS_RANDK;
}

int ps_picks(const rcomm_ps_t *ps, int t)
{
    const rcomm_compressor_t *c = compressor(ps, t);

    return ps->cfg.push_threshold > 0 || (c && picking(c));
}

int ps_encodes(const rcomm_ps_t *ps, int t)
{
    const rcomm_compressor_t *c = compressor(ps, t);

    return c && !picking(c);
}

int ps_drops(const rcomm_ps_t *ps, int t)
{
    const rcomm_compressor_t *c = compressor(ps, t);

    return c && !c->cfg.error_feedback;
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
    rcomm_compressor_t *c = compressor(ps, t);
    const double thr = ps->cfg.push_threshold;
    const ps_remote_t *rm = &ps->rem[s];
    size_t m = 0, kept = 0;

    if (c && !picking(c))
        c = NULL; /* ps_create refuses a threshold with an encoding kind */
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
            ps->cfg.push_relative
                ? thr *
                      fabs(value(rm->local + ps_rec_key(&ps->lay, s, t, k), tn->dtype, 0))
                : thr;
        if (g != 0 && (thr <= 0 || !(fabs(g) <= bound)))
            ps->pick[kept++] = (uint32_t)k;
    }
    return kept;
}

size_t ps_pick_block(rcomm_ps_t *ps, int s, int t, size_t i)
{
    const ps_range_t *r = ps_range(&ps->lay, s, t);
    const ps_tensor_t *tn = &ps->lay.t[t];
    const size_t first = i * tn->blk, n = ps_block_keys(&ps->lay, s, t, i);
    const char *acc = ps->accum[t] + (r->lo + first) * tn->esize;
    size_t m = 0;

    /* Made on the first push of some keys: a model pushed whole never needs
     * them. A block's keys fit in a pick list of blk (or the longest range,
     * when something picks). */
    if (!ps->pick) {
        size_t blk = 1;
        for (int u = 0; u < ps->lay.ntensors; u++)
            blk = ps->lay.t[u].blk > blk ? ps->lay.t[u].blk : blk;
        if (!(ps->pick = malloc(blk * sizeof(uint32_t))))
            return (size_t)-1;
    }
    for (size_t k = 0; k < n; k++)
        if (value(acc, tn->dtype, k) != 0) /* a NaN is pushed too */
            ps->pick[m++] = (uint32_t)(first + k);
    return m;
}

size_t ps_sparse_image(rcomm_ps_t *ps, int s, int t, size_t i, const uint32_t *keys,
                       size_t m)
{
    const ps_range_t *r = ps_range(&ps->lay, s, t);
    const ps_tensor_t *tn = &ps->lay.t[t];
    const size_t es = tn->esize, first = i * tn->blk;
    const size_t n = ps_block_keys(&ps->lay, s, t, i);
    char *img = ps->rem[s].stage + ps_rec(&ps->lay, s, t, i) + PS_REC_DATA;
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

/* The kinds' own encode and decode_add (src/compress/), block by block; none
 * of these kinds keeps per-tensor state, so an empty tensor stands in. */
size_t ps_encoded_image(rcomm_ps_t *ps, int s, int t, size_t i)
{
    rcomm_compressor_t *c = ps->cfg.compressor;
    const ps_range_t *r = ps_range(&ps->lay, s, t);
    const ps_tensor_t *tn = &ps->lay.t[t];
    const size_t first = i * tn->blk, n = ps_block_keys(&ps->lay, s, t, i);
    const size_t bytes = c->ops->wire_bytes(c, NULL, n);
    float *acc = (float *)ps->accum[t] + r->lo + first, *dec = ps->pick_val;
    cmp_tensor_t none = {.n = n};

    if (bytes >= 4 * n)
        return 0;
    c->ops->encode(c, t, &none, acc, n,
                   ps->rem[s].stage + ps_rec(&ps->lay, s, t, i) + PS_REC_DATA, dec);
    /* Sent: what the encoding lost stays (settle() drops it without error
     * feedback). */
    for (size_t k = 0; k < n; k++)
        acc[k] -= dec[k];
    return bytes;
}

void ps_encoded_add(const rcomm_ps_t *ps, const char *img, size_t n, float *sum)
{
    const rcomm_compressor_t *c = ps->cfg.compressor;
    const cmp_tensor_t none = {.n = n};

    /* The image's size follows from n alone: these kinds cannot fail. */
    (void)c->ops->decode_add(c, &none, img, n, sum, -1);
}
