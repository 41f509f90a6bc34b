/* SPDX-License-Identifier: BSD-3-Clause */
#include "coll/pattern.h"

void coll_block(const coll_blocks_t *b, int i, size_t *off, size_t *len)
{
    size_t base, extra;

    if (b->counts) {
        *off = b->displs[i];
        *len = b->counts[i];
        return;
    }
    if (b->fixed) {
        *off = (size_t)i * b->fixed;
        *len = b->fixed;
        return;
    }
    base = b->count / (size_t)b->nblocks;
    extra = b->count % (size_t)b->nblocks;
    *off = (size_t)i * base + ((size_t)i < extra ? (size_t)i : extra);
    *len = base + ((size_t)i < extra ? 1 : 0);
}

size_t coll_block_max(const coll_blocks_t *b)
{
    size_t off, len, max = 0;

    if (!b->counts) { /* block 0 is never shorter */
        coll_block(b, 0, &off, &len);
        return len;
    }
    for (int i = 0; i < b->nblocks; i++)
        max = b->counts[i] > max ? b->counts[i] : max;
    return max;
}

void coll_block_range(const coll_blocks_t *b, int first, int n, size_t *off, size_t *len)
{
    size_t end_off, end_len;

    coll_block(b, first, off, len);
    coll_block(b, first + n - 1, &end_off, &end_len);
    *len = end_off + end_len - *off;
}

size_t coll_nseg(size_t len, size_t seg)
{
    return (len + seg - 1) / seg;
}

int coll_mod(long r, int p)
{
    long m = r % p;
    return (int)(m < 0 ? m + p : m);
}

void coll_fold(int rank, int p, coll_fold_t *f)
{
    int p2 = 1;

    while (p2 * 2 <= p)
        p2 *= 2;
    f->p2 = p2;
    f->rem = p - p2;
    if (rank < 2 * f->rem) {
        f->fold_peer = rank ^ 1;
        f->vrank = (rank & 1) ? rank / 2 : -1;
    } else {
        f->fold_peer = -1;
        f->vrank = rank - f->rem;
    }
}

int coll_fold_real(const coll_fold_t *f, int v)
{
    return v < f->rem ? 2 * v + 1 : v + f->rem;
}

int coll_log2(int p2)
{
    int l = 0;
    while ((1 << l) < p2)
        l++;
    return l;
}
