/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Memory for regions that ranks of one host can map (heap.c): each
 * allocation a memfd of its own, page-aligned, zeroed, kept open and
 * listed in the process. The shared-memory transport records a region's
 * memfd when it is registered inside one, and its peers then map it and
 * reach it with their own loads, stores and atomic instructions
 * (transports/shm/shm.h); every other transport takes it like any memory.
 * It belongs to the process, not to a transport: it stays valid when a
 * transport fails or is destroyed, and is freed with tp_heap_free only.
 * Where no memfd can be had (out of descriptors) it is ordinary memory.
 */
#ifndef RCOMM_TP_HEAP_H
#define RCOMM_TP_HEAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rcomm.h"

/* len > 0 bytes into *addr; INVALID_ARG (len 0, addr NULL), NO_MEMORY or
 * SYSTEM with a message. Thread-safe. */
rcomm_status_t tp_heap_alloc(size_t len, void **addr);
/* What tp_heap_alloc gave; NULL is ignored. Regions in it are deregistered
 * first. */
void tp_heap_free(void *addr);
/* The memfd holding [addr, addr + len): its descriptor, inode and the
 * offset of addr in it. false when no allocation holds it all. */
bool tp_heap_find(const void *addr, size_t len, int *fd, uint64_t *ino, uint64_t *off);

#endif /* RCOMM_TP_HEAP_H */
