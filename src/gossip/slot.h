/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * A gossip window's slot (slot.c): where one out-neighbour's one-sided
 * writes land. Pure: no transport.
 *
 * A slot is two halves. Write number seq (1, 2, ...) goes to half seq % 2
 * as a header (seq, checksum) and the values, in one put; the writer posts
 * write seq + 1 only once write seq has completed, so at most one half is
 * being written at any time and the other holds a whole earlier write. The
 * checksum is XXH64 of the values seeded with seq, so a half whose bytes
 * come from two writes, or are still arriving, fails it (but for a 2^-64
 * chance) and is never used: the reader takes the newest half that passes.
 * Nothing else orders the reader and the writer, so this holds for RDMA
 * writes, whose bytes land in no promised order, as for memcpy.
 */
#ifndef RCOMM_GOSSIP_SLOT_H
#define RCOMM_GOSSIP_SLOT_H

#include <stddef.h>
#include <stdint.h>

/* Bytes of one half for nvals doubles: a 16-byte header and the values,
 * rounded up to a cache line. */
size_t gossip_slot_half(size_t nvals);

/* Fill half (gossip_slot_half(nvals) bytes) with write seq of vals. */
void gossip_slot_encode(void *half, uint64_t seq, const double *vals, size_t nvals);

/* The newest whole write in slot (two halves) newer than after: its values
 * into vals (nvals), its number returned; 0 when there is none. copy is
 * scratch of one half; *torn counts halves refused by their checksum. */
uint64_t gossip_slot_read(const void *slot, size_t nvals, uint64_t after, void *copy,
                          double *vals, uint64_t *torn);

#endif
