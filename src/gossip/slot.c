/* SPDX-License-Identifier: BSD-3-Clause */
/* A gossip window's double-buffered, checksummed slots (slot.h). */
#include "gossip/slot.h"

#include <string.h>
#include <xxhash.h>

typedef struct {
    uint64_t seq, sum;
} hdr_t;

size_t gossip_slot_half(size_t nvals)
{
    return (sizeof(hdr_t) + nvals * sizeof(double) + 63) / 64 * 64;
}

void gossip_slot_encode(void *half, uint64_t seq, const double *vals, size_t nvals)
{
    hdr_t h = {seq, XXH64(vals, nvals * sizeof(double), seq)};

    memcpy(half, &h, sizeof(h));
    memcpy((char *)half + sizeof(h), vals, nvals * sizeof(double));
}

uint64_t gossip_slot_read(const void *slot, size_t nvals, uint64_t after, void *copy,
                          double *vals, uint64_t *torn)
{
    const size_t half = gossip_slot_half(nvals), bytes = nvals * sizeof(double);
    uint64_t best = 0;

    for (int k = 0; k < 2; k++) {
        hdr_t h;
        /* Whatever the writer did before us is in memory we read after. */
        __atomic_thread_fence(__ATOMIC_ACQUIRE);
        memcpy(copy, (const char *)slot + (size_t)k * half, sizeof(h) + bytes);
        memcpy(&h, copy, sizeof(h));
        if (h.seq == 0 || h.seq <= after || h.seq <= best)
            continue; /* empty, folded already, or older than the other half */
        if (XXH64((char *)copy + sizeof(h), bytes, h.seq) != h.sum) {
            ++*torn;
            continue;
        }
        memcpy(vals, (char *)copy + sizeof(h), bytes);
        best = h.seq;
    }
    return best;
}
