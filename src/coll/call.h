/* SPDX-License-Identifier: BSD-3-Clause */
/* What the public entry points share: a call's description, its argument
 * checks, and running it (coll.c). One file per family of calls: api.c
 * (allreduce, broadcast, allgather, reduce-scatter, barrier), api_rooted.c
 * (reduce, gather, scatter), api_v.c (alltoall and the variable counts),
 * p2p.c (send and receive). */
#ifndef RCOMM_CALL_H
#define RCOMM_CALL_H

#include "coll/coll.h"

typedef struct {
    const char *fn; /* public function name, for messages */
    coll_desc_t desc;
    const char *sbuf;
    char *rbuf;
    int algo; /* chosen in the entry point: rcomm_algo_t (allreduce),
               * coll_reduce_algo_t (reduce) */
    int peer; /* exchange: the partner, -1 to only take part in the numbering */
    /* Variable counts, in elements; displacements never NULL here. */
    const size_t *scounts, *sdispls, *rcounts, *rdispls;
    /* Point-to-point: the ranks to send to and receive from (-1: none), and
     * the count sent (desc.count is the count received, or sent by a send). */
    int dst, src;
    size_t send_count;
    const coll_nbr_t *nbr; /* neighbour averaging: who and with what weights */
    bool mapped;           /* allreduce: the mapped path if every rank's buffers allow,
                            * else algo (allreduce_mapped_nb.c) */
} coll_call_t;

/* Whether [a, a + alen) and [b, b + blen) share a byte. */
int coll_overlap(const char *a, size_t alen, const char *b, size_t blen);
/* The communicator is usable, dtype (and op, with has_op) valid, count sane. */
rcomm_status_t coll_check_common(rcomm_comm_t *comm, const coll_call_t *c, int has_op);
/* buf is not NULL when count > 0; what names it ("recvbuf"). */
rcomm_status_t coll_check_buf(const rcomm_comm_t *comm, const coll_call_t *c,
                              const void *buf, const char *what);
/* sendbuf and recvbuf are equal or disjoint. */
rcomm_status_t coll_check_overlap(const rcomm_comm_t *comm, const coll_call_t *c,
                                  size_t sbytes, size_t rbytes);
/* One vector in, one out, of desc.count elements each (allreduce, reduce at
 * the root): RCOMM_IN_PLACE makes sbuf rbuf; both set; equal or apart. */
rcomm_status_t coll_check_inout(const rcomm_comm_t *comm, coll_call_t *c);
/* A root in range. */
rcomm_status_t coll_check_root(const rcomm_comm_t *comm, const coll_call_t *c);

/* p2p.c: the schedule of a send, a receive, or both (sendrecv). */
rcomm_status_t coll_p2p_build(coll_sched_t *s, const coll_call_t *c);

/* allreduce_slots.c: a blocking allreduce of at most COLL_SLOT_BYTES with
 * rcomm's choice of algorithm, on a communicator whose ranks all share
 * memory, runs through the slots; every rank decides alike. */
#define COLL_SLOT_BYTES 256
rcomm_status_t coll_slots_allreduce(rcomm_comm_t *comm, const coll_call_t *c);

/* The ways a blocking allreduce with rcomm's choice of algorithm may go
 * where every rank shares memory, besides a schedule; what this rank tries
 * (api.c; the mapped path still needs every rank to try it). */
typedef enum {
    COLL_PATH_SCHED,
    COLL_PATH_SLOTS,
    COLL_PATH_MAPPED,    /* blocking: meet in the mailboxes */
    COLL_PATH_STAGED,    /* the same, where this rank's buffers do not fit */
    COLL_PATH_MAPPED_NB, /* nonblocking: a schedule that branches */
} coll_path_t;
coll_path_t coll_allreduce_path(const rcomm_comm_t *comm, const coll_call_t *c,
                                bool blocking);
/* allreduce_mapped.c: whether this rank tries the mapped path for c, whose
 * buffers' region keys then go into srk and rrk (either may be NULL). */
bool coll_mapped_fit(const rcomm_comm_t *comm, const coll_call_t *c, tp_rkey_t *srk,
                     tp_rkey_t *rrk);

/* Build and start the schedule; with req_out, hand it back, else wait. */
rcomm_status_t coll_run(rcomm_comm_t *comm, const coll_call_t *c,
                        rcomm_request_t **req_out);

#endif
