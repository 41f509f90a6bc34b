/* SPDX-License-Identifier: BSD-3-Clause */
/* Schedule builders, one per algorithm file. Each fills a schedule that
 * rcomm_sched_init prepared; arguments were validated by the caller. Buffers
 * are char * so that offsets are in bytes; counts are in elements. */
#ifndef RCOMM_COLL_H
#define RCOMM_COLL_H

#include "coll/model.h"
#include "coll/pattern.h"
#include "coll/sched.h"

/* Elements per pipeline segment (RCOMM_SEGMENT_SIZE, at least one). */
size_t rcomm_coll_seg(const rcomm_sched_t *s);

/* exchange.c: send scount elements from src to peer and receive rcount
 * elements from it, in segments. With slots, each received segment is reduced
 * (dst = a op received); without, it lands in dst directly. Every op depends
 * on after; the returned join completes when all are done. */
rcomm_sop_id_t rcomm_exchange(rcomm_sched_t *s, int peer, const char *src, size_t scount,
                              char *dst, const char *a, size_t rcount, rcomm_slots_t *sl,
                              rcomm_sop_id_t after);

/* ring.c: the two ring phases, shared by allreduce, reduce_scatter and
 * allgather. Every op created depends on `after`; the returned join completes
 * when the phase is done.
 *
 * Reduce-scatter: rank r ends with block r reduced over all ranks, written to
 * out. Intermediate partial blocks go to acc + block offset when acc_is_full
 * (a full-size buffer, e.g. allreduce's recvbuf) or else to a double buffer
 * of two blocks taken from scratch. */
rcomm_sop_id_t rcomm_ring_reduce_scatter(rcomm_sched_t *s, const rcomm_blocks_t *bl,
                                         const char *sbuf, char *acc, int acc_is_full,
                                         char *out, rcomm_sop_id_t after);
/* Allgather: every rank's block b ends in rbuf + block offset; our own block
 * is sent from own_src (which may be rbuf's own block). */
rcomm_sop_id_t rcomm_ring_allgather(rcomm_sched_t *s, const rcomm_blocks_t *bl,
                                    const char *own_src, char *rbuf,
                                    rcomm_sop_id_t after);

rcomm_status_t rcomm_allreduce_ring_build(rcomm_sched_t *s, const char *sbuf, char *rbuf);
rcomm_status_t rcomm_allreduce_butterfly_build(rcomm_sched_t *s, const char *sbuf,
                                               char *rbuf);
rcomm_status_t rcomm_allreduce_rd_build(rcomm_sched_t *s, const char *sbuf, char *rbuf);
/* Fold/unfold of the extra ranks for butterfly and rd (allreduce_rd.c):
 * fold leaves the partial result in rbuf on butterfly ranks; returns the join
 * after which butterfly ranks may start. unfold sends the result back. */
rcomm_sop_id_t rcomm_fold_in(rcomm_sched_t *s, const rcomm_fold_t *f, const char *sbuf,
                             char *rbuf, rcomm_slots_t *sl);
rcomm_sop_id_t rcomm_fold_out(rcomm_sched_t *s, const rcomm_fold_t *f, char *rbuf,
                              rcomm_sop_id_t after);

rcomm_status_t rcomm_broadcast_build(rcomm_sched_t *s, char *buf,
                                     rcomm_bcast_algo_t algo);
rcomm_status_t rcomm_allgather_build(rcomm_sched_t *s, const char *sbuf, char *rbuf);
rcomm_status_t rcomm_reduce_scatter_build(rcomm_sched_t *s, const char *sbuf, char *rbuf);
rcomm_status_t rcomm_barrier_build(rcomm_sched_t *s);

#endif
