/* SPDX-License-Identifier: BSD-3-Clause */
/* Explicit memory registration (rcomm.h): a handle per registered range, kept
 * on its communicator so that a transport closed by a failure leaves no
 * dangling regions behind. */
#include <stdlib.h>

#include "base/error.h"
#include "core/comm.h"
#include "core/handle.h"

struct rcomm_mem {
    rcomm_mem_t *next;
    tp_mr_t *mr; /* NULL once the transport is gone (or size 1) */
    void *addr;
    size_t len;
};

static rcomm_status_t mem_register(rcomm_comm_t *comm, void *addr, size_t len,
                                   rcomm_mem_t **out)
{
    rcomm_status_t st;
    rcomm_mem_t *m;

    if ((st = comm_check(comm, "rcomm_mem_register")) != RCOMM_OK)
        return st;
    if (!addr || !len || !out)
        return base_err(RCOMM_ERR_INVALID_ARG, "rcomm_mem_register: rank %d: %s",
                        comm->rank,
                        !addr  ? "addr is NULL"
                        : !len ? "len is 0"
                               : "mem is NULL");
    if (!(m = calloc(1, sizeof(*m))))
        return base_err(RCOMM_ERR_NO_MEMORY, "rcomm_mem_register: rank %d: out of memory",
                        comm->rank);
    m->addr = addr;
    m->len = len;
    if (comm->tp && (st = comm->tp->ops->mem_reg(comm->tp, addr, len, TP_MESSAGES,
                                                 &m->mr)) != RCOMM_OK) {
        free(m);
        base_err_prefix("rcomm_mem_register: ");
        return st;
    }
    m->next = comm->mems;
    comm->mems = m;
    *out = m;
    return RCOMM_OK;
}

rcomm_status_t rcomm_mem_register(rcomm_comm_t *comm, void *addr, size_t len,
                                  rcomm_mem_t **out)
{
    return COMM_LOCKED(comm, mem_register(comm, addr, len, out));
}

static rcomm_status_t mem_deregister(rcomm_comm_t *comm, rcomm_mem_t *mem)
{
    rcomm_mem_t **pp;
    char what[96];

    if (comm_valid(comm, "rcomm_mem_deregister") != RCOMM_OK)
        return RCOMM_ERR_INVALID_ARG;
    if (!mem)
        return base_err(RCOMM_ERR_INVALID_ARG, "rcomm_mem_deregister: mem is NULL");
    for (pp = &comm->mems; *pp && *pp != mem; pp = &(*pp)->next)
        ;
    if (!*pp)
        return base_err(RCOMM_ERR_INVALID_ARG,
                        "rcomm_mem_deregister: rank %d: not a registration of this "
                        "communicator",
                        comm->rank);
    if (comm_services_busy(comm, what, sizeof(what)))
        return base_err(RCOMM_ERR_INVALID_ARG,
                        "rcomm_mem_deregister: rank %d: %s is in flight; wait for it "
                        "first",
                        comm->rank, what);
    *pp = mem->next;
    if (mem->mr && comm->tp)
        comm->tp->ops->mem_dereg(comm->tp, mem->mr);
    free(mem);
    return RCOMM_OK;
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
        if (m->mr && comm->tp)
            comm->tp->ops->mem_dereg(comm->tp, m->mr);
        free(m);
    }
}
