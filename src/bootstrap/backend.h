/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The bootstrap's backend contract (store.c, pmix.c), private to
 * src/bootstrap/. bootstrap.c checks every argument before it calls a
 * member, so a backend sees only valid keys (1..BOOTSTRAP_MAX_KEY bytes),
 * lengths (<= BOOTSTRAP_MAX_VALUE) and non-NULL buffers. The rules for all
 * members:
 *  - Threads: one thread at a time per object (the communicator's).
 *  - Blocking: every member may block, but never past the timeout the
 *    object was created with; a member that gives up returns
 *    RCOMM_ERR_TIMEOUT (or BOOTSTRAP for a broken exchange) and says which
 *    call, key and rank it waited for.
 *  - Errors: the member that decides an error logs it (base_err) once.
 *  - Ownership: values are copied in by put and out by get/allgather; the
 *    caller keeps its buffers.
 *  - Bytes from elsewhere (the store's replies, PMIx values) are checked for
 *    type and length before they are copied.
 */
#ifndef RCOMM_BOOTSTRAP_BACKEND_H
#define RCOMM_BOOTSTRAP_BACKEND_H

#include "bootstrap/bootstrap.h"

typedef struct {
    const char *name;
    /* Publish key = val for every rank; returns once readers can get it. */
    rcomm_status_t (*put)(bootstrap_t *bs, const char *key, const void *val, size_t len);
    /* Wait until owner's key exists, copy it into val (capacity *len). A
     * value larger than *len is RCOMM_ERR_INVALID_ARG. */
    rcomm_status_t (*get)(bootstrap_t *bs, int owner, const char *key, void *val,
                          size_t *len);
    /* Publish "<prefix>/<rank>", return every rank's (same length on all). */
    rcomm_status_t (*allgather)(bootstrap_t *bs, const char *prefix, const void *mine,
                                void *all, size_t len);
    /* Return once every rank has entered it (name: for messages). */
    rcomm_status_t (*barrier)(bootstrap_t *bs, const char *name);
    /* Numeric address peers can reach us at; valid until destroy. */
    const char *(*local_host)(const bootstrap_t *bs);
    /* Free everything; the object is never used again. */
    void (*destroy)(bootstrap_t *bs);
} bootstrap_ops_t;

/* Every backend's object begins with this. */
struct bootstrap {
    const bootstrap_ops_t *ops;
    bootstrap_where_t where;
};

#endif
