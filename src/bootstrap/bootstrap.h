/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Bootstrap: a small key-value store served by rank 0 at RCOMM_ADDR
 * (host:port) over TCP. Ranks publish their transport addresses there and
 * fetch each other's. Rank 0 serves from a thread of its own for the life of
 * the bootstrap object; that thread touches only the store.
 */
#ifndef RCOMM_BOOTSTRAP_H
#define RCOMM_BOOTSTRAP_H

#include <stddef.h>

#include "base/auth.h"
#include "rcomm.h"

typedef struct bootstrap bootstrap_t;

#define BOOTSTRAP_MAX_VALUE (64 * 1024)

/* Who may join: the job key every connection to the store must prove, and
 * how long a new connection has to prove it before rank 0 drops it. */
typedef struct {
    const auth_key_t *key;
    int handshake_ms;
} bootstrap_auth_t;

/* Rank 0 binds addr's port (any local interface) and serves; every rank,
 * rank 0 included, connects as a client, retrying until timeout_ms (rank 0
 * may start last). auth NULL: no key (auth_key_none), and a handshake time of
 * at most 5 s. Errors name the address and what failed. */
rcomm_status_t bootstrap_create(int rank, int size, const char *addr, int timeout_ms,
                                const bootstrap_auth_t *auth, bootstrap_t **bs);

/* Publish key (NUL-terminated, < 256 bytes) = value (< 64 KiB). Keys are
 * write-once: publishing an existing key with a different value fails. */
rcomm_status_t bootstrap_put(bootstrap_t *bs, const char *key, const void *val,
                             size_t len);

/* Wait until key exists (up to the timeout), then copy it into val (capacity
 * *len) and set *len. The timeout error names the key. */
rcomm_status_t bootstrap_get(bootstrap_t *bs, const char *key, void *val, size_t *len);

/* Every rank publishes mine (len bytes) under "<prefix>/<rank>" and gets all
 * ranks' values: all[r] (len bytes each, caller-provided size*len buffer).
 * Values must have the same length on every rank. A rank that never publishes
 * is named in the timeout error. */
rcomm_status_t bootstrap_allgather(bootstrap_t *bs, const char *prefix, const void *mine,
                                   void *all, size_t len);

/* Returns once every rank has called it with the same name. */
rcomm_status_t bootstrap_barrier(bootstrap_t *bs, const char *name);

/* The local IP address (numeric string) of our connection to the store: the
 * address other ranks can most likely reach us at. */
const char *bootstrap_local_host(const bootstrap_t *bs);

/* On rank 0 this waits (at most the timeout) until every other rank has
 * disconnected or can no longer be answered, so that a rank 0 that finishes
 * first does not cut off ranks still reading keys. */
void bootstrap_destroy(bootstrap_t *bs);

#ifdef RCOMM_FUZZING
/* Fuzz builds only (fuzz/fuzz_store.c): join as rank of size over fd, a
 * connected socket (owned from then on, closed on failure), with the same
 * handshake as bootstrap_create but no server, address or retry. reply is
 * the client's reply buffer, KVS_MAX_REPLY bytes the caller keeps (a malloc
 * of that size is an mmap and a munmap per input under ASan);
 * bootstrap_fuzz_leave, not bootstrap_destroy, ends such a client. */
rcomm_status_t bootstrap_fuzz_join(int rank, int size, int fd, const auth_key_t *key,
                                   void *reply, bootstrap_t **bs);
void bootstrap_fuzz_leave(bootstrap_t *bs);
#endif

#endif
