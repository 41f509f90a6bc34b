/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Bootstrap: how the ranks of a job find each other before the transport
 * connects. A small key-value exchange (put, get, allgather, barrier) with
 * two backends behind one ops table (bootstrap/backend.h):
 *  - the store (store.c): rank 0 serves it at RCOMM_ADDR (host:port) over
 *    TCP from a thread of its own, for the life of the bootstrap object;
 *  - PMIx (pmix.c, built with libpmix): the launcher's process-management
 *    server (srun --mpi=pmix, Open MPI's mpirun) exchanges the values, and
 *    gives rank, size, the node-local rank and the host name.
 * Callers see only the functions below; which backend runs is chosen at
 * communicator creation (RCOMM_BOOTSTRAP, core/comm.c).
 */
#ifndef RCOMM_BOOTSTRAP_H
#define RCOMM_BOOTSTRAP_H

#include <stdbool.h>
#include <stddef.h>

#include "base/auth.h"
#include "rcomm.h"

typedef struct bootstrap bootstrap_t;

#define BOOTSTRAP_MAX_KEY 255 /* bytes, without the NUL */
#define BOOTSTRAP_MAX_VALUE (64 * 1024)

/* Who may join: the job key every connection to the store must prove, and
 * how long a new connection has to prove it before rank 0 drops it. */
typedef struct {
    const auth_key_t *key;
    int handshake_ms;
} bootstrap_auth_t;

/* Where this process runs, as far as the backend knows it. */
typedef struct {
    int rank, size;
    int local_rank;       /* among the job's ranks on this host; -1: unknown */
    int local_size;       /* the job's ranks on this host; -1: unknown */
    const char *hostname; /* as the launcher names this host; NULL: unknown */
} bootstrap_where_t;

/* The store. Rank 0 binds addr's port (any local interface) and serves;
 * every rank, rank 0 included, connects as a client, retrying until
 * timeout_ms (rank 0 may start last). auth NULL: no key (auth_key_none), and
 * a handshake time of at most 5 s. Errors name the address and what failed. */
rcomm_status_t bootstrap_create(int rank, int size, const char *addr, int timeout_ms,
                                const bootstrap_auth_t *auth, bootstrap_t **bs);

/* Whether this build has the PMIx backend, and whether this process was
 * started by a PMIx server (PMIX_NAMESPACE and PMIX_RANK in the
 * environment, as srun --mpi=pmix and mpirun set them). */
bool bootstrap_pmix_built(void);
bool bootstrap_pmix_started(void);

/* The PMIx backend: connects to the launcher's PMIx server (PMIx_Init) and
 * learns rank, size and locality from it (bootstrap_where). key: when it is
 * not keyed on entry (no RCOMM_JOB_KEY or key file), rank 0 draws a fresh
 * one and publishes it through PMIx, and every rank returns with it in
 * *key. Every wait ends within timeout_ms, with an error naming the PMIx
 * call and its status. RCOMM_ERR_CONFIG without PMIx in the build or
 * without a server. */
rcomm_status_t bootstrap_pmix_create(int timeout_ms, auth_key_t *key, bootstrap_t **bs);

/* The backend's name: "store" or "pmix". */
const char *bootstrap_name(const bootstrap_t *bs);

/* Where this process runs (see bootstrap_where_t). */
void bootstrap_where(const bootstrap_t *bs, bootstrap_where_t *where);

/* Publish key (NUL-terminated, 1..BOOTSTRAP_MAX_KEY bytes) = value (at most
 * BOOTSTRAP_MAX_VALUE bytes). Keys are write-once: publishing an existing
 * key with a different value fails (the store), or is not allowed (PMIx
 * keeps the last value; callers never do it). */
rcomm_status_t bootstrap_put(bootstrap_t *bs, const char *key, const void *val,
                             size_t len);

/* Wait until rank owner has published key (up to the timeout), then copy it
 * into val (capacity *len) and set *len. The timeout error names the key
 * and the owner. */
rcomm_status_t bootstrap_get(bootstrap_t *bs, int owner, const char *key, void *val,
                             size_t *len);

/* Every rank publishes mine (len bytes) under "<prefix>/<rank>" and gets all
 * ranks' values: all[r] (len bytes each, caller-provided size*len buffer).
 * Values must have the same length on every rank. A rank that never publishes
 * is named in the timeout error (the store), or the error names the PMIx
 * call and status (PMIx). */
rcomm_status_t bootstrap_allgather(bootstrap_t *bs, const char *prefix, const void *mine,
                                   void *all, size_t len);

/* Returns once every rank has called it with the same name. */
rcomm_status_t bootstrap_barrier(bootstrap_t *bs, const char *name);

/* The local IP address (numeric string) other ranks can most likely reach
 * us at: the store's, of our connection to rank 0; PMIx's, 127.0.0.1 when
 * the whole job is on this host, else this host's name resolved. */
const char *bootstrap_local_host(const bootstrap_t *bs);

/* The store's rank 0 waits (at most the timeout) until every other rank has
 * disconnected or can no longer be answered, so that a rank 0 that finishes
 * first does not cut off ranks still reading keys. NULL: nothing. */
void bootstrap_destroy(bootstrap_t *bs);

#ifdef RCOMM_FUZZING
/* Fuzz builds only (fuzz/fuzz_store.c): join the store as rank of size over
 * fd, a connected socket (owned from then on, closed on failure), with the
 * same handshake as bootstrap_create but no server, address or retry. reply
 * is the client's reply buffer, KVS_MAX_REPLY bytes the caller keeps (a
 * malloc of that size is an mmap and a munmap per input under ASan);
 * bootstrap_fuzz_leave, not bootstrap_destroy, ends such a client. */
rcomm_status_t bootstrap_fuzz_join(int rank, int size, int fd, const auth_key_t *key,
                                   void *reply, bootstrap_t **bs);
void bootstrap_fuzz_leave(bootstrap_t *bs);
#endif

#endif
