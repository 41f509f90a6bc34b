/* SPDX-License-Identifier: BSD-3-Clause */
/* The quarantine of destroyed handles (handle.h). Process-wide state, the
 * only kind outside a communicator besides the log's: a destroyed
 * communicator cannot keep itself. */
#include "core/handle.h"

#include <pthread.h>
#include <stdlib.h>

#include "base/error.h"
#include "core/comm.h"

/* A ring per kind: the slot taken next holds the oldest handle. */
static struct {
    void *slot[HANDLE_QUARANTINE];
    unsigned next;
} graves[HANDLE_KINDS];
static pthread_mutex_t graves_lock = PTHREAD_MUTEX_INITIALIZER;

void handle_bury(handle_kind_t kind, void *p)
{
    void *oldest;

    pthread_mutex_lock(&graves_lock);
    oldest = graves[kind].slot[graves[kind].next];
    graves[kind].slot[graves[kind].next] = p;
    graves[kind].next = (graves[kind].next + 1) % HANDLE_QUARANTINE;
    pthread_mutex_unlock(&graves_lock);
    free(oldest);
}

rcomm_status_t comm_valid(const rcomm_comm_t *comm, const char *fn)
{
    if (!comm)
        return base_err(RCOMM_ERR_INVALID_ARG, "%s: comm is NULL", fn);
    if (comm->magic != HANDLE_MAGIC_COMM)
        return base_err(RCOMM_ERR_INVALID_ARG,
                        "%s: comm was destroyed or is not a communicator", fn);
    return RCOMM_OK;
}
