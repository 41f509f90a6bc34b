/* SPDX-License-Identifier: BSD-3-Clause */
/* Explicit memory registration (rcomm.h): a handle per registered range, kept
 * on its communicator so that a transport closed by a failure leaves no
 * dangling regions behind. rcomm_mem_alloc's memory is such a range too,
 * owned, from tp_heap_alloc (the peers of a host can map it) and open to
 * their loads and stores. */
#include <stdlib.h>

#include "base/error.h"
#include "core/comm.h"
#include "core/handle.h"
#include "transports/util/heap.h"

struct rcomm_mem {
    rcomm_mem_t *next;
    tp_mr_t *mr; /* NULL once the transport is gone (or size 1) */
    void *addr;
    size_t len;
    bool owned;   /* rcomm_mem_alloc's: freed with the handle */
    tp_rkey_t rk; /* owned: what a peer needs to map it */
};

static rcomm_status_t add(rcomm_comm_t *comm, void *addr, size_t len, bool owned,
                          rcomm_mem_t **out)
{
    const unsigned access = TP_MESSAGES | (owned ? TP_REMOTE_READ | TP_REMOTE_WRITE : 0);
    rcomm_mem_t *m = calloc(1, sizeof(*m));
    rcomm_status_t st;

    if (!m)
        return base_err(RCOMM_ERR_NO_MEMORY, "rank %d: out of memory", comm->rank);
    m->addr = addr;
    m->len = len;
    m->owned = owned;
    if (comm->tp &&
        ((st = comm->tp->ops->mem_reg(comm->tp, addr, len, access, &m->mr)) != RCOMM_OK ||
         (owned && (st = comm->tp->ops->mem_rkey(m->mr, &m->rk)) != RCOMM_OK))) {
        if (m->mr)
            comm->tp->ops->mem_dereg(comm->tp, m->mr);
        free(m);
        return st;
    }
    m->next = comm->mems;
    comm->mems = m;
    *out = m;
    return RCOMM_OK;
}

static rcomm_status_t mem_register(rcomm_comm_t *comm, void *addr, size_t len,
                                   rcomm_mem_t **out)
{
    rcomm_status_t st;

    if ((st = comm_check(comm, "rcomm_mem_register")) != RCOMM_OK)
        return st;
    if (!addr || !len || !out)
        return base_err(RCOMM_ERR_INVALID_ARG, "rcomm_mem_register: rank %d: %s",
                        comm->rank,
                        !addr  ? "addr is NULL"
                        : !len ? "len is 0"
                               : "mem is NULL");
    if ((st = add(comm, addr, len, false, out)) != RCOMM_OK)
        base_err_prefix("rcomm_mem_register: ");
    return st;
}

rcomm_status_t rcomm_mem_register(rcomm_comm_t *comm, void *addr, size_t len,
                                  rcomm_mem_t **out)
{
    return COMM_LOCKED(comm, mem_register(comm, addr, len, out));
}

static void release(rcomm_comm_t *comm, rcomm_mem_t *m)
{
    if (m->mr && comm->tp)
        comm->tp->ops->mem_dereg(comm->tp, m->mr);
    if (m->owned)
        tp_heap_free(m->addr);
    free(m);
}

/* Unlink the handle the match picks, unless a collective is in flight. */
static rcomm_status_t drop(rcomm_comm_t *comm, const char *fn, const void *mem,
                           const void *addr, const char *none)
{
    rcomm_mem_t **pp, *m;
    char what[96];

    for (pp = &comm->mems; *pp && *pp != mem && !((*pp)->owned && (*pp)->addr == addr);
         pp = &(*pp)->next)
        ;
    if (!(m = *pp) || m->owned != (addr != NULL))
        return base_err(RCOMM_ERR_INVALID_ARG, "%s: rank %d: %s", fn, comm->rank, none);
    if (comm_services_busy(comm, what, sizeof(what)))
        return base_err(RCOMM_ERR_INVALID_ARG,
                        "%s: rank %d: %s is in flight; wait for it first", fn, comm->rank,
                        what);
    *pp = m->next;
    release(comm, m);
    return RCOMM_OK;
}

static rcomm_status_t mem_deregister(rcomm_comm_t *comm, rcomm_mem_t *mem)
{
    if (comm_valid(comm, "rcomm_mem_deregister") != RCOMM_OK)
        return RCOMM_ERR_INVALID_ARG;
    if (!mem)
        return base_err(RCOMM_ERR_INVALID_ARG, "rcomm_mem_deregister: mem is NULL");
    return drop(comm, "rcomm_mem_deregister", mem, NULL,
                "not a registration of this communicator");
}

rcomm_status_t rcomm_mem_deregister(rcomm_comm_t *comm, rcomm_mem_t *mem)
{
    return COMM_LOCKED(comm, mem_deregister(comm, mem));
}

void comm_mem_detach_all(rcomm_comm_t *comm)
{
    for (rcomm_mem_t *m = comm->mems; m; m = m->next)
        m->mr = NULL;
}

void comm_mem_free_all(rcomm_comm_t *comm)
{
    rcomm_mem_t *m;

    while ((m = comm->mems)) {
        comm->mems = m->next;
        release(comm, m);
    }
}

static rcomm_status_t mem_alloc(rcomm_comm_t *comm, size_t len, void **ptr)
{
    rcomm_status_t st;
    rcomm_mem_t *m;
    void *p;

    if ((st = comm_check(comm, "rcomm_mem_alloc")) != RCOMM_OK)
        return st;
    if (!len || !ptr)
        return base_err(RCOMM_ERR_INVALID_ARG, "rcomm_mem_alloc: rank %d: %s", comm->rank,
                        !len ? "len is 0" : "ptr is NULL");
    *ptr = NULL;
    if ((st = tp_heap_alloc(len, &p)) != RCOMM_OK) {
        base_err_prefix("rcomm_mem_alloc: ");
        return st;
    }
    if ((st = add(comm, p, len, true, &m)) != RCOMM_OK) {
        tp_heap_free(p);
        base_err_prefix("rcomm_mem_alloc: ");
        return st;
    }
    *ptr = p;
    return RCOMM_OK;
}

rcomm_status_t rcomm_mem_alloc(rcomm_comm_t *comm, size_t len, void **ptr)
{
    return COMM_LOCKED(comm, mem_alloc(comm, len, ptr));
}

static rcomm_status_t mem_free(rcomm_comm_t *comm, void *ptr)
{
    if (comm_valid(comm, "rcomm_mem_free") != RCOMM_OK)
        return RCOMM_ERR_INVALID_ARG;
    if (!ptr)
        return RCOMM_OK;
    return drop(comm, "rcomm_mem_free", NULL, ptr,
                "not memory from rcomm_mem_alloc on this communicator");
}

rcomm_status_t rcomm_mem_free(rcomm_comm_t *comm, void *ptr)
{
    return COMM_LOCKED(comm, mem_free(comm, ptr));
}

bool comm_mem_shared(const rcomm_comm_t *comm, const void *addr, size_t len,
                     tp_rkey_t *rk)
{
    const char *a = addr;

    for (const rcomm_mem_t *m = comm->mems; m; m = m->next)
        if (m->owned && m->mr && a >= (const char *)m->addr &&
            (size_t)(a - (const char *)m->addr) <= m->len &&
            len <= m->len - (size_t)(a - (const char *)m->addr)) {
            *rk = m->rk;
            return true;
        }
    return false;
}
