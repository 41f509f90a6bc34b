/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Top-k: the k entries of largest magnitude, ties to the lower index (a NaN
 * counts as the largest), sent as k indices (u32, ascending) then their k
 * values. Not linear: the encodings are allgathered and every rank adds
 * them up in rank order, so every rank gets the same sum.
 *   wire = 8 k bytes per rank
 * Selection: quickselect finds the k-th largest magnitude m (average O(n)),
 * then one pass keeps every entry above m and, in index order, as many equal
 * to m as there is room for. For 256 <= k <= n / 32 a sampled
 * threshold shortlists about 2 k candidates first (cmp_topk_select_sampled), with
 * the same result.
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

/* Keep, in index order, the entries of x at cand (ascending, c of them)
 * whose magnitude is above m, and as many equal to m as fill k, the lowest
 * indices first; above: how many are above m. */
static void keep(const float *x, const uint32_t *cand, size_t c, size_t k, float m,
                 size_t above, uint32_t *idx, float *val)
{
    size_t kept = 0;

    for (size_t j = 0, eq = k - above; j < c && kept < k; j++) {
        const size_t i = cand ? cand[j] : j;
        float v = mag(x[i]);
        if (v > m || (v == m && eq && eq--)) {
            idx[kept] = (uint32_t)i;
            val[kept++] = x[i];
        }
    }
}

/* The exact rule over all n entries: quickselect on every magnitude. */
static void select_all(const float *x, size_t n, size_t k, uint32_t *idx, float *val,
                       float *scratch)
{
    size_t above = 0;
    float m;

    for (size_t i = 0; i < n; i++)
        scratch[i] = mag(x[i]);
    m = kth_largest(scratch, n, k);
    for (size_t i = 0; i < n; i++)
        above += mag(x[i]) > m;
    keep(x, NULL, n, k, m, above, idx, val);
}

/* Deep Gradient Compression's sampled threshold, used as a shortlist: the
 * magnitude of rank 2 k s / n among s sampled entries is, most likely,
 * below the k-th largest, so the entries at or above it (about 2 k) hold
 * the top k and the exact rule runs on them alone. Too few candidates (the
 * sample was unlucky) or too many (ties): false, and the caller selects
 * over everything. Either way the result is the exact rule's. */
bool cmp_topk_select_sampled(const float *x, size_t n, size_t k, uint32_t *idx,
                             float *val, float *scratch)
{
    const size_t s = n / 64, cap = n / 4 < 8 * k ? n / 4 : 8 * k;
    size_t ks = (2 * k * s + n - 1) / n, c = 0, above = 0;
    uint32_t *cand = (uint32_t *)(scratch + cap);
    uint64_t seed = n * 0x9e3779b97f4a7c15ull;
    float thr, m;

    if (s < 1 || k > cap)
        return false;
    for (size_t j = 0; j < s; j++)
        scratch[j] = mag(x[cmp_splitmix(&seed) % n]);
    thr = kth_largest(scratch, s, ks < 1 ? 1 : ks > s ? s : ks);
    for (size_t i = 0; i < n; i++)
        if (mag(x[i]) >= thr) {
            if (c == cap)
                return false;
            scratch[c] = mag(x[i]);
            cand[c++] = (uint32_t)i;
        }
    if (c < k)
        return false;
    m = kth_largest(scratch, c, k);
    for (size_t j = 0; j < c; j++)
        above += mag(x[cand[j]]) > m;
    keep(x, cand, c, k, m, above, idx, val);
    return true;
}

void cmp_topk_select(const float *x, size_t n, size_t k, uint32_t *idx, float *val,
                     float *scratch)
{
    if (k == 0 || n == 0)
        return;
    /* Sampling pays when k is a small share of a large tensor, and needs a
     * sample that holds several of the top k (k s / n >= 4). */
    if (n >= 8192 && k >= 256 && k <= n / 32 &&
        cmp_topk_select_sampled(x, n, k, idx, val, scratch))
        return;
    select_all(x, n, k, idx, val, scratch);
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
