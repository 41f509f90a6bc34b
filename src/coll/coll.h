/* SPDX-License-Identifier: BSD-3-Clause */
/* Schedule builders, one per algorithm file. Each fills a schedule that
 * coll_sched_init prepared; arguments were validated by the caller. Buffers
 * are char * so that offsets are in bytes; counts are in elements. */
#ifndef RCOMM_COLL_H
#define RCOMM_COLL_H

#include "coll/model.h"
#include "coll/pattern.h"
#include "coll/sched.h"

/* Elements per pipeline segment (RCOMM_SEGMENT_SIZE, at least one). */
size_t coll_seg(const coll_sched_t *s);

/* exchange.c: send scount elements from src to peer and receive rcount
 * elements from it, in segments. With slots, each received segment is reduced
 * (dst = a op received); without, it lands in dst directly. Every op depends
 * on after; the returned join completes when all are done. */
coll_sop_id_t coll_exchange(coll_sched_t *s, int peer, const char *src, size_t scount,
                            char *dst, const char *a, size_t rcount, coll_slots_t *sl,
                            coll_sop_id_t after);

/* ring.c: the two ring phases, shared by allreduce, reduce_scatter and
 * allgather. Every op created depends on `after`; the returned join completes
 * when the phase is done.
 *
 * Reduce-scatter: rank r ends with block r reduced over all ranks, written to
 * out. Intermediate partial blocks go to acc + block offset when acc_is_full
 * (a full-size buffer, e.g. allreduce's recvbuf) or else to a double buffer
 * of two blocks taken from scratch. */
coll_sop_id_t coll_ring_reduce_scatter(coll_sched_t *s, const coll_blocks_t *bl,
                                       const char *sbuf, char *acc, int acc_is_full,
                                       char *out, coll_sop_id_t after);
/* Allgather: every rank's block b ends in rbuf + block offset; our own block
 * is sent from own_src (which may be rbuf's own block). */
coll_sop_id_t coll_ring_allgather(coll_sched_t *s, const coll_blocks_t *bl,
                                  const char *own_src, char *rbuf, coll_sop_id_t after);

rcomm_status_t coll_allreduce_ring_build(coll_sched_t *s, const char *sbuf, char *rbuf);
rcomm_status_t coll_allreduce_direct_build(coll_sched_t *s, const char *sbuf, char *rbuf);
rcomm_status_t coll_allreduce_butterfly_build(coll_sched_t *s, const char *sbuf,
                                              char *rbuf);
rcomm_status_t coll_allreduce_rd_build(coll_sched_t *s, const char *sbuf, char *rbuf);
rcomm_status_t coll_allreduce_hier_build(coll_sched_t *s, const char *sbuf, char *rbuf);
/* The one of the above for algo (an rcomm_algo_t; rd for any other). */
rcomm_status_t coll_allreduce_build(coll_sched_t *s, int algo, const char *sbuf,
                                    char *rbuf);
/* Fold/unfold of the extra ranks for butterfly and rd (allreduce_rd.c):
 * fold leaves the partial result in rbuf on butterfly ranks; returns the join
 * after which butterfly ranks may start. unfold sends the result back. */
coll_sop_id_t coll_fold_in(coll_sched_t *s, const coll_fold_t *f, const char *sbuf,
                           char *rbuf, coll_slots_t *sl);
coll_sop_id_t coll_fold_out(coll_sched_t *s, const coll_fold_t *f, char *rbuf,
                            coll_sop_id_t after);

/* tree.c: binomial gather and scatter of the blocks of bl, rooted at
 * s->desc.root. At the root, blocks live in the caller's buffer at their
 * offsets (the root's own block is the caller's to place); a relay keeps its
 * subtree's blocks in scratch. own is this rank's block: read from there by
 * gather, written there by scatter (set it after init; the root's is unused).
 * Every op depends on after; the returned join completes when this rank is
 * done. */
typedef struct {
    const coll_blocks_t *bl;
    int p, root, v; /* v: this rank counted from the root */
    char *buf;
    char *own;
} coll_tree_t;
/* 0, or -1 when out of memory (recorded in s). */
int coll_tree_init(coll_tree_t *t, coll_sched_t *s, const coll_blocks_t *bl,
                   char *root_buf);
coll_sop_id_t coll_tree_gather(coll_sched_t *s, coll_tree_t *t, coll_sop_id_t after);
coll_sop_id_t coll_tree_scatter(coll_sched_t *s, coll_tree_t *t, coll_sop_id_t after);

/* agree.c: the zero-byte pattern that lets no rank finish a call that another
 * rank called differently, added to the calls whose data would not see to
 * it (rooted ones, count 0). The same on every rank, whatever the call. */
void coll_agree_build(coll_sched_t *s);

rcomm_status_t coll_broadcast_build(coll_sched_t *s, char *buf, coll_bcast_algo_t algo);
rcomm_status_t coll_allgather_build(coll_sched_t *s, const char *sbuf, char *rbuf);
rcomm_status_t coll_reduce_scatter_build(coll_sched_t *s, const char *sbuf, char *rbuf);
rcomm_status_t coll_barrier_build(coll_sched_t *s);
rcomm_status_t coll_reduce_binomial_build(coll_sched_t *s, const char *sbuf, char *rbuf);
rcomm_status_t coll_reduce_rsg_build(coll_sched_t *s, const char *sbuf, char *rbuf);
rcomm_status_t coll_gather_build(coll_sched_t *s, const char *sbuf, char *rbuf);
rcomm_status_t coll_scatter_build(coll_sched_t *s, const char *sbuf, char *rbuf);
/* alltoall.c: pairwise exchange, for alltoall (counts all desc.count,
 * displacements r * count) and alltoallv; v: send a message to every peer
 * even when empty, each claiming its own count. */
rcomm_status_t coll_alltoall_build(coll_sched_t *s, const char *sbuf,
                                   const size_t *scounts, const size_t *sdispls,
                                   char *rbuf, const size_t *rcounts,
                                   const size_t *rdispls, int v);
/* neighbor.c: one step of neighbour averaging over floating dtypes. in and
 * in_w are the in-neighbours (increasing, without us) and their weights,
 * out the out-neighbours. */
typedef struct {
    int nin, nout;
    const int *in, *out;
    const double *in_w;
    double self_w;
} coll_nbr_t;
rcomm_status_t coll_neighbor_build(coll_sched_t *s, const char *sbuf, char *rbuf,
                                   const coll_nbr_t *nb);
rcomm_status_t coll_allgatherv_build(coll_sched_t *s, const char *sbuf, char *rbuf,
                                     const size_t *counts, const size_t *displs);

#endif
