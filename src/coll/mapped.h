/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The mapped AllReduce's pieces (allreduce_mapped.c), shared by its two
 * ways of meeting: the mailboxes, for a blocking call, and messages in a
 * schedule, for a nonblocking one (allreduce_mapped_nb.c).
 */
#ifndef RCOMM_COLL_MAPPED_H
#define RCOMM_COLL_MAPPED_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "coll/call.h"

/* What a rank tells its peers of a call's buffers. */
typedef struct {
    tp_rkey_t srk, rrk;
    uint64_t sbuf, rbuf;
    uint64_t fit; /* 1 when both are memory the peers can map */
} coll_where_t;

/* Every peer's buffers, from what it told (in[q], a coll_where_t), mapped
 * into src[q] and dst[q]; ours are left alone. False, with those it took
 * given back, when some cannot be (logged at info, naming fn and seq). */
bool coll_mapped_map(rcomm_comm_t *comm, const char *fn, uint64_t seq, size_t bytes,
                     const unsigned char *const *in, const char **src, char **dst);
/* Give back the peers' mappings in src and dst, and clear them. */
void coll_mapped_unmap(rcomm_comm_t *comm, const char **src, char **dst);
/* Our block of the call d, from element *pos of it on, until *budget bytes
 * of it are done (a segment at least): reduced from every rank's send
 * buffer src[q] in the order r, r+1, ..., and stored into every rank's
 * receive buffer dst[q]. True once the block is done. */
bool coll_mapped_reduce(const rcomm_comm_t *comm, const coll_desc_t *d, const char **src,
                        char **dst, size_t *pos, size_t *budget);
/* Whether the ranks of c may meet by messages for the mapped path: the same
 * answer on every rank (the call, the communicator; not the buffers). */
bool coll_mapped_nb_applies(const rcomm_comm_t *comm, const coll_call_t *c);
/* The schedule of a nonblocking allreduce that takes the mapped path when
 * every rank's buffers can be mapped, and c->algo's otherwise. */
rcomm_status_t coll_allreduce_mapped_nb_build(coll_sched_t *s, const coll_call_t *c);

#endif
