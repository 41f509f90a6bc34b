/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The tools' window into the library: everything perf/ (the benchmarks,
 * rcomm-tune) may use beyond include/rcomm.h. A tool that needs more adds it
 * here, so that the communicator's layout stays private to src/.
 *  - the communicator's configuration, transport, host and cost model;
 *  - the transport contract, for the point-to-point benchmarks that time it
 *    directly (transports/transport.h), and a tag space to do it in
 *    (core/service.h);
 *  - the cost model and the choice it makes (coll/model.h), and one
 *    exchange step through the collectives' executor, for rcomm-tune;
 *  - the reduction kernels (reduce/reduce.h), for the reduction benchmark;
 *  - a compressor's encode and decode alone, for rcomm-compress-perf;
 *  - a bare one-sided operation on a parameter server, for rcomm-ps-perf,
 *    and a forged push notification and a pause in the update threads, for
 *    tests/ps_check.
 */
#ifndef RCOMM_HOOKS_H
#define RCOMM_HOOKS_H

#include <stdbool.h>
#include <stdint.h>

#include "base/config.h"
#include "coll/model.h"
#include "core/service.h"
#include "rcomm.h"
#include "reduce/reduce.h"
#include "transports/transport.h"
#include "transports/util/heap.h" /* region memory for the tools */

/* Where the communicator runs (found at creation). */
typedef struct {
    int local_index;     /* this rank's index among them, in rank order */
    int local_size;      /* ranks on this host */
    int local_cores;     /* cores in the union of their cpusets */
    bool oversubscribed; /* more ranks than cores: polls yield */
    uint64_t spin_ns;    /* busy-poll this long before sleeping */
    const int *host_of;  /* [size] each rank's host, when shared memory serves
                          * the ranks of a host (NULL otherwise) */
    int nhosts;
} hook_host_t;

/* The configuration the communicator loaded; a tool may change a tunable
 * between collectives (rcomm-tune forces the broadcast algorithm). */
base_config_t *hook_config(rcomm_comm_t *comm);
/* The transport, NULL on one rank or after a failure, for a tool that drives
 * it directly: the progress thread, if any, is stopped for good first (the
 * transport is driven by one thread). */
tp_t *hook_transport(const rcomm_comm_t *comm);
/* The transport's caps and the name of the transport whose link they
 * describe (caps->name: "shm" when shared memory serves every peer); false
 * when there is none. Leaves the progress thread running. */
bool hook_caps(const rcomm_comm_t *comm, tp_caps_t *caps, const char **name);
void hook_host(const rcomm_comm_t *comm, hook_host_t *host);
/* The cost model every rank uses (rank 0's), and the links it prices
 * (the network's and shared memory's, when both serve: model.h). */
const coll_model_t *hook_model(const rcomm_comm_t *comm);
const coll_links_t *hook_links(const rcomm_comm_t *comm);
/* The broadcast algorithm the communicator picks for bytes. */
coll_bcast_algo_t hook_bcast_algo(const rcomm_comm_t *comm, size_t bytes);
/* The way an rcomm_allreduce (blocking) or rcomm_iallreduce of these
 * buffers would go besides a plain schedule, as this rank sees it: "slots",
 * "mapped" (coll/call.h; nonblocking: if the peers' buffers allow it too),
 * "staged" (blocking, buffers the peers cannot map);
 * NULL: a schedule, of rcomm_allreduce_algo's algorithm. */
const char *hook_allreduce_path(const rcomm_comm_t *comm, const void *sendbuf,
                                void *recvbuf, size_t count, rcomm_dtype_t dtype,
                                bool blocking);
/* Fail the communicator with why (a tool's own traffic failed): peers learn
 * it and quote why. Logs nothing (the tool has said it). */
void hook_fail(rcomm_comm_t *comm, rcomm_status_t status, const char *why);
/* One step of the algorithms, for rcomm-tune to time: send bytes to peer and
 * receive bytes from it, in segments, through the collectives' executor.
 * Called by every rank (peer -1: take part in the numbering only). */
rcomm_status_t hook_exchange(rcomm_comm_t *comm, int peer, const void *sendbuf,
                             void *recvbuf, size_t bytes);
/* Seconds per call of c's encode, and of one decode_add of that encoding, of
 * the n entries of g as a vector, mean of iters calls each, on this rank
 * alone; both 0 for a kind whose halves are not separate (PowerSGD). */
rcomm_status_t hook_compress_rates(rcomm_compressor_t *c, const float *g, size_t n,
                                   int iters, double *enc_s, double *dec_s);
/* rcomm-ps-perf --vs-raw: one bare one-sided operation of this worker on
 * server rank 0, through the wait the PS's own operations use: a READ of
 * bytes from the start of its parameters into buf (write false), or a WRITE
 * of bytes from buf into the probe after our slot there, which the server
 * never reads (write true; at most hook_ps_probe_bytes()). INVALID_ARG on a
 * rank that does not work or a write too large; a failure fails ps. */
rcomm_status_t hook_ps_bare(rcomm_ps_t *ps, bool write, void *buf, size_t bytes);
size_t hook_ps_probe_bytes(void);
/* Worker of ps: the notification of a push of clock alone (a write of
 * nothing) to server rank 0: tests/ps_check's badnotify, where the server
 * must refuse it. */
rcomm_status_t hook_ps_notify(rcomm_ps_t *ps, uint64_t clock);
/* tests/ps_check --pause: the parameter servers' update threads of this
 * process wait us microseconds between reading what the progress released
 * and what is applied, which widens the window where the progress applies
 * a small push itself (0: no pause). */
void hook_ps_pause(unsigned us);

#endif
