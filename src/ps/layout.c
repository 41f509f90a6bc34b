/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Which server owns which keys. Each tensor of n keys is cut into nservers
 * contiguous ranges, the first n % nservers of them one key longer, so every
 * key has exactly one owner and no server holds more than one key more than
 * another. With 10 keys on 3 servers: [0,4) [4,7) [7,10). A tensor with
 * fewer keys than servers leaves the last servers without a range.
 *
 * On a server, its ranges follow each other in tensor order, each starting
 * on a 64-byte boundary (a cache line: a version word and its block never
 * share a line with another tensor's block), and each is cut into blocks of
 * block_bytes, the unit of versioning and of the update threads. In the
 * params region each block is a record, its header before its data, 8-byte
 * aligned; the last block of a range has a whole record too.
 *
 * A block's checksum is XXH64 (xxHash) of its bytes, seeded with a hash of
 * its version and clock: a read torn between two states of the block, or
 * a header of one state with bytes of another, matches with probability
 * 2^-64. XXH64 is scalar: 14 us for 256 KiB here, and 73 us under the
 * soft-RoCE VM's emulated CPU, where XXH3's vector code took 800 us.
 */
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "base/error.h"
#include "ps/ps.h"

static size_t range_lo(size_t n, int nservers, int s)
{
    size_t q = n / (size_t)nservers, r = n % (size_t)nservers, us = (size_t)s;

    return us * q + (us < r ? us : r);
}

int ps_layout_owner(const ps_layout_t *l, int t, size_t k)
{
    size_t n = l->t[t].count, q = n / (size_t)l->nservers, r = n % (size_t)l->nservers;

    /* The first r servers hold q + 1 keys each. */
    if (k < r * (q + 1))
        return (int)(k / (q + 1));
    return (int)(r + (k - r * (q + 1)) / q);
}

rcomm_status_t ps_layout_init(ps_layout_t *l, int nservers, const ps_tensor_t *t,
                              int ntensors, size_t block_bytes)
{
    memset(l, 0, sizeof(*l));
    l->nservers = nservers;
    l->ntensors = ntensors;
    l->t = calloc((size_t)ntensors, sizeof(*l->t));
    l->r = calloc((size_t)nservers * (size_t)ntensors, sizeof(*l->r));
    l->bytes = calloc((size_t)nservers, sizeof(*l->bytes));
    l->pbytes = calloc((size_t)nservers, sizeof(*l->pbytes));
    l->nblocks = calloc((size_t)nservers, sizeof(*l->nblocks));
    if (!l->t || !l->r || !l->bytes || !l->pbytes || !l->nblocks) {
        ps_layout_free(l);
        return base_err(RCOMM_ERR_NO_MEMORY,
                        "parameter server: no memory for the layout");
    }
    memcpy(l->t, t, (size_t)ntensors * sizeof(*t));
    for (int i = 0; i < ntensors; i++) {
        l->t[i].blk = block_bytes / l->t[i].esize;
        if (!l->t[i].blk)
            l->t[i].blk = 1;
        l->t[i].rec = (PS_REC_DATA + l->t[i].blk * l->t[i].esize + 7) & ~(size_t)7;
    }
    for (int s = 0; s < nservers; s++) {
        size_t off = 0, poff = 0, block = 0;
        for (int i = 0; i < ntensors; i++) {
            ps_range_t *r = &l->r[(size_t)s * ntensors + i];
            size_t nb;
            r->lo = range_lo(l->t[i].count, nservers, s);
            r->n = range_lo(l->t[i].count, nservers, s + 1) - r->lo;
            nb = (r->n + l->t[i].blk - 1) / l->t[i].blk;
            r->off = off;
            r->poff = poff;
            r->block = block;
            off += (r->n * l->t[i].esize + 63) & ~(size_t)63;
            poff += (nb * l->t[i].rec + 63) & ~(size_t)63;
            block += nb;
        }
        l->bytes[s] = off;
        l->pbytes[s] = poff;
        l->nblocks[s] = block;
    }
    return RCOMM_OK;
}

void ps_layout_free(ps_layout_t *l)
{
    free(l->t);
    free(l->r);
    free(l->bytes);
    free(l->pbytes);
    free(l->nblocks);
    memset(l, 0, sizeof(*l));
}

uint64_t ps_block_sum(uint64_t version, uint64_t clock, const void *data, size_t bytes)
{
    const uint64_t vc[2] = {version, clock};

    return XXH64(data, bytes, XXH64(vc, sizeof(vc), 0));
}

int ps_block_whole(const ps_block_hdr_t *h, const void *data, size_t bytes)
{
    return !(h->version & 1) && ps_block_sum(h->version, h->clock, data, bytes) == h->sum;
}

void ps_layout_whole_blocks(const ps_layout_t *l, int s, int t, size_t *a, size_t *b)
{
    const ps_range_t *r = ps_range(l, s, t);
    const size_t blk = l->t[t].blk, end = r->lo + r->n;

    *a = r->lo + (*a - r->lo) / blk * blk;
    *b = r->lo + (*b - r->lo + blk - 1) / blk * blk;
    if (*b > end)
        *b = end;
}

void ps_rec_copy(const ps_layout_t *l, int s, int t, size_t a, size_t b, char *records,
                 char *buf, int out)
{
    const ps_range_t *r = ps_range(l, s, t);
    const size_t blk = l->t[t].blk;

    for (size_t k = a, e; k < b; k = e) {
        char *at = records + ps_rec_key(l, s, t, k - r->lo);
        size_t len;
        e = r->lo + ((k - r->lo) / blk + 1) * blk; /* the block's end */
        e = e < b ? e : b;
        len = (e - k) * l->t[t].esize;
        if (out)
            memcpy(buf, at, len);
        else
            memcpy(at, buf, len);
        buf += len;
    }
}
