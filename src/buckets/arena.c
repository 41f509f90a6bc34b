/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The gradient arena (rcomm.h): one block from rcomm_mem_alloc holding the
 * tensors back to back in declaration order, so that every bucket lies
 * contiguously and is reduced in place, with no staging copy; where every
 * rank shares one host, the peers reduce straight from and into it (the
 * mapped AllReduce). A dtype change starts at a
 * 64-byte boundary; buckets split there anyway, so no bucket spans a gap.
 * Built on the public API only.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "rcomm.h"

struct rcomm_grad_arena {
    rcomm_comm_t *comm;
    void *base;
    size_t bytes;
};

#define ALIGN 64

rcomm_status_t rcomm_grad_arena_create(rcomm_comm_t *comm, rcomm_grad_t *grads,
                                       int ngrads, rcomm_grad_arena_t **out)
{
    rcomm_grad_arena_t *a;
    size_t off = 0, es;
    rcomm_status_t st;
    int rank = -1;

    if (!comm || !grads || !out)
        return base_err(RCOMM_ERR_INVALID_ARG, "rcomm_grad_arena_create: %s is NULL",
                        !comm    ? "comm"
                        : !grads ? "grads"
                                 : "arena");
    rcomm_comm_rank(comm, &rank);
    if (ngrads < 1)
        return base_err(RCOMM_ERR_INVALID_ARG,
                        "rcomm_grad_arena_create: rank %d: ngrads %d is not positive",
                        rank, ngrads);
    for (int i = 0; i < ngrads; i++) {
        if (!(es = rcomm_dtype_size(grads[i].dtype)))
            return base_err(RCOMM_ERR_INVALID_ARG,
                            "rcomm_grad_arena_create: rank %d: tensor #%d has dtype %d, "
                            "which is not valid",
                            rank, i, (int)grads[i].dtype);
        if (i && grads[i].dtype != grads[i - 1].dtype)
            off = (off + ALIGN - 1) & ~(size_t)(ALIGN - 1);
        if (grads[i].count > (SIZE_MAX / 2 - off) / es)
            return base_err(RCOMM_ERR_INVALID_ARG,
                            "rcomm_grad_arena_create: rank %d: tensor #%d's %zu elements "
                            "overflow the arena",
                            rank, i, grads[i].count);
        off += grads[i].count * es;
    }
    if (!(a = calloc(1, sizeof(*a))))
        return base_err(RCOMM_ERR_NO_MEMORY,
                        "rcomm_grad_arena_create: rank %d: no memory for the arena",
                        rank);
    a->comm = comm;
    a->bytes = off ? off : 1;
    /* Page-aligned, so a dtype's 64-byte boundary is one in memory too. */
    if ((st = rcomm_mem_alloc(comm, a->bytes, &a->base)) != RCOMM_OK) {
        free(a);
        return st;
    }
    memset(a->base, 0, a->bytes);
    off = 0;
    for (int i = 0; i < ngrads; i++) {
        if (i && grads[i].dtype != grads[i - 1].dtype)
            off = (off + ALIGN - 1) & ~(size_t)(ALIGN - 1);
        grads[i].buf = (char *)a->base + off;
        off += grads[i].count * rcomm_dtype_size(grads[i].dtype);
    }
    *out = a;
    return RCOMM_OK;
}

rcomm_status_t rcomm_grad_arena_destroy(rcomm_grad_arena_t *a)
{
    rcomm_status_t st;

    if (!a)
        return RCOMM_OK;
    if ((st = rcomm_mem_free(a->comm, a->base)) != RCOMM_OK)
        return st; /* a collective on it is in flight: keep it */
    free(a);
    return RCOMM_OK;
}
