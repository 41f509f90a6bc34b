/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Top-k: the k entries of largest magnitude, ties to the lower index (a NaN
 * counts as the largest), sent as k indices (u32, ascending) then their k
 * values. Not linear: the encodings are allgathered and every rank adds
 * them up in rank order, so every rank gets the same sum.
 *   wire = 8 k bytes per rank
 * Selection: quickselect finds the k-th largest magnitude m (average O(n)),
 * then one pass keeps every entry above m and, in index order, as many equal
 * to m as there is room for.
 */
#include "compress/compress.h"

#include <math.h>
#include <string.h>

static float mag(float v)
{
    float m = fabsf(v);
    return m == m ? m : INFINITY;
}

static void swap(float *a, size_t i, size_t j)
{
    float t = a[i];
    a[i] = a[j];
    a[j] = t;
}

/* The k-th largest (1-based) of a[0..n-1], no NaN, reordering a:
 * quickselect with a three-way partition (runs of equal values cost one
 * pass) around the median of three. */
static float kth_largest(float *a, size_t n, size_t k)
{
    size_t lo = 0, hi = n, want = k - 1;

    while (hi - lo > 1) {
        float x = a[lo], y = a[lo + (hi - lo) / 2], z = a[hi - 1];
        float p = x > y ? (y > z ? y : (x > z ? z : x)) : (x > z ? x : (y > z ? z : y));
        size_t lt = lo, i = lo, gt = hi; /* [lo,lt) > p, [lt,gt) == p, [gt,hi) < p */
        while (i < gt) {
            if (a[i] > p)
                swap(a, lt++, i++);
            else if (a[i] < p)
                swap(a, i, --gt);
            else
                i++;
        }
        if (want < lt)
            hi = lt;
        else if (want >= gt)
            lo = gt;
        else
            return p;
    }
    return a[lo];
}

void cmp_topk_select(const float *x, size_t n, size_t k, uint32_t *idx, float *val,
                     float *scratch)
{
    size_t above = 0, kept = 0;
    float m;

    if (k == 0 || n == 0)
        return;
    for (size_t i = 0; i < n; i++)
        scratch[i] = mag(x[i]);
    m = kth_largest(scratch, n, k);
    for (size_t i = 0; i < n; i++)
        above += mag(x[i]) > m;
    /* Room for k - above entries equal to m, the lowest indices first. */
    for (size_t i = 0, eq = k - above; i < n && kept < k; i++) {
        float v = mag(x[i]);
        if (v > m || (v == m && eq && eq--)) {
            idx[kept] = (uint32_t)i;
            val[kept++] = x[i];
        }
    }
}

static size_t wire(const rcomm_compressor_t *c, const cmp_tensor_t *t, size_t n)
{
    return 8 * cmp_keep(c, n);
}

static void encode(rcomm_compressor_t *c, int tensor, cmp_tensor_t *t, const float *x,
                   size_t n, void *enc, float *mine)
{
    const size_t k = cmp_keep(c, n);
    uint32_t *idx = enc;
    float *val = (float *)(idx + k);

    cmp_topk_select(x, n, k, idx, val, mine); /* mine is scratch until here */
    memset(mine, 0, n * sizeof(float));
    for (size_t j = 0; j < k; j++)
        mine[idx[j]] = val[j];
}

static rcomm_status_t decode_add(const rcomm_compressor_t *c, const cmp_tensor_t *t,
                                 const void *enc, size_t n, float *out, int r)
{
    const size_t k = cmp_keep(c, n);
    const uint32_t *idx = enc;
    const float *val = (const float *)(idx + k);

    for (size_t j = 0; j < k; j++)
        if (idx[j] >= n)
            return cmp_bad_encoding(c, r, "an index past the tensor's end");
    for (size_t j = 0; j < k; j++)
        out[idx[j]] += val[j];
    return RCOMM_OK;
}

const cmp_ops_t cmp_topk_ops = {.name = "topk",
                                .linear = false,
                                .wire_dtype = RCOMM_U8,
                                .wire_bytes = wire,
                                .encode = encode,
                                .decode_add = decode_add};
