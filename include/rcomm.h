/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * rcomm: communication runtime for distributed machine-learning training.
 *
 * This header is the whole public API. Conventions:
 *  - every function returns an rcomm_status_t (RCOMM_OK = 0, negative on
 *    error) and sets its output parameters only on success;
 *  - on error, rcomm_last_error() returns a message for the calling thread that
 *    names what was wrong (argument, rank, peer, operation); the error is also
 *    logged once on stderr unless RCOMM_LOG_LEVEL=none;
 *  - a communicator is used by one application thread at a time (any thread,
 *    but not two at once);
 *  - progress (RCOMM_PROGRESS): with "caller" (the default) operations in
 *    flight advance only inside rcomm calls on their communicator; with
 *    "thread" a progress thread per communicator also advances them while
 *    the application computes: posted nonblocking collectives and gradient
 *    buckets, one-sided operations peers ask of this rank over TCP, and so
 *    the parameter server's serving. The thread and the application never
 *    run rcomm code at the same time (each call holds the communicator for
 *    its length; the thread sleeps on the transport when nothing is in
 *    flight). What the application may touch is unchanged: a buffer of a
 *    request in flight belongs to rcomm until rcomm_test/rcomm_wait says it
 *    completed, whichever thread did the work; after that, its contents are
 *    visible to the caller without further synchronisation;
 *  - all ranks of a communicator call collectives in the same order, with the
 *    same count, datatype, op and root. Ranks that disagree get
 *    RCOMM_ERR_MISMATCH (or, if the disagreement makes a peer stop talking,
 *    RCOMM_ERR_TIMEOUT / RCOMM_ERR_PEER_FAILED naming it), never a wrong
 *    answer or a hang; and no rank's call returns OK, not even one that
 *    would only send (a broadcast root, a reduce leaf) or has count 0.
 *    (One exception: in alltoallv, counts that a sender and its receiver
 *    disagree on concern that pair only; the receiver fails, the sender may
 *    not.) In a rooted collective (broadcast, reduce, gather, scatter), and
 *    between count 0 and another count in allreduce, allgather,
 *    reduce-scatter or alltoall, the error is MISMATCH from that very call
 *    on every rank, naming a rank it disagrees with and both calls, without
 *    waiting for RCOMM_TIMEOUT: such calls exchange ceil(log2 p) + 1
 *    zero-byte messages per rank for it, next to their data (count 0 is not
 *    a local no-op when size > 1). The sender of a point-to-point message
 *    may return before the receiver finds a disagreement; it gets the error
 *    from its next call;
 *  - handles (a communicator, a request, a parameter server) are checked at
 *    every call: one that was destroyed (a request: that rcomm_test or
 *    rcomm_wait completed), destroyed a second time, or a pointer to
 *    something else is RCOMM_ERR_INVALID_ARG naming it, not a crash. Freed
 *    memory cannot be checked, so a destroyed handle is freed only after the
 *    next 32 destroyed handles of its kind: the check is certain for those,
 *    and a best effort beyond (as for a pointer that never was a handle).
 */
#ifndef RCOMM_H
#define RCOMM_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

/* librcomm is built with hidden visibility: exactly what this header declares
 * is exported. */
#pragma GCC visibility push(default)

#define RCOMM_VERSION_MAJOR 0
#define RCOMM_VERSION_MINOR 1

/* Status codes. Errors are grouped by what they affect. */
typedef enum {
    RCOMM_OK = 0,
    RCOMM_INPROGRESS = 1, /* nonblocking operation not finished yet */

    /* The call itself was wrong; nothing was sent, the communicator is intact. */
    RCOMM_ERR_INVALID_ARG = -1,
    RCOMM_ERR_UNSUPPORTED = -2,
    RCOMM_ERR_NO_MEMORY = -3,
    RCOMM_ERR_CONFIG = -4, /* a bad RCOMM_* environment value */

    /* A peer misbehaved or disappeared. */
    RCOMM_ERR_PEER_FAILED = -10, /* connection lost: peer exited or crashed */
    RCOMM_ERR_TIMEOUT = -11,     /* peer silent for longer than RCOMM_TIMEOUT */
    RCOMM_ERR_PROTOCOL = -12,    /* malformed, truncated or unexpected frame */
    RCOMM_ERR_MISMATCH = -13,    /* ranks called a collective differently */
    RCOMM_ERR_ACCESS = -14,      /* remote memory access outside rights */

    /* The communicator as a whole. */
    RCOMM_ERR_COMM_FAILED = -20, /* an earlier error left it unusable */
    RCOMM_ERR_BOOTSTRAP = -21,   /* rendezvous failed */
    RCOMM_ERR_AUTH = -22,        /* a peer did not prove the job key */

    /* The system underneath. */
    RCOMM_ERR_SYSTEM = -30,   /* an OS call failed; the message names it */
    RCOMM_ERR_INTERNAL = -31, /* a bug in rcomm: please report it */
} rcomm_status_t;

/* A constant string for a status, such as "peer failed". Never NULL. */
const char *rcomm_strerror(rcomm_status_t status);

/* The message of the last error on the calling thread ("" when none). The
 * string stays valid until the next rcomm call on this thread. */
const char *rcomm_last_error(void);

/* Element types. F16 and BF16 are reduced in f32 and rounded once per step. */
typedef enum {
    RCOMM_F32 = 0,
    RCOMM_F64,
    RCOMM_F16,
    RCOMM_BF16,
    RCOMM_I32,
    RCOMM_I64,
    RCOMM_U8,
    RCOMM_DTYPE_COUNT
} rcomm_dtype_t;

/* Reduction operators. AVG divides the sum by the communicator size (integer
 * division, truncating toward zero, for integer types). Integer SUM and PROD
 * wrap modulo 2^bits instead of being undefined. Floating MIN and MAX return
 * NaN when either input is NaN. */
typedef enum {
    RCOMM_SUM = 0,
    RCOMM_PROD,
    RCOMM_MIN,
    RCOMM_MAX,
    RCOMM_AVG,
    RCOMM_OP_COUNT
} rcomm_op_t;

/* Size in bytes of one element, 0 for an invalid type. */
size_t rcomm_dtype_size(rcomm_dtype_t dtype);
/* "f32", "bf16", ...; "invalid" for an invalid value. Same for ops. */
const char *rcomm_dtype_name(rcomm_dtype_t dtype);
const char *rcomm_op_name(rcomm_op_t op);

/* ---- Communicators ----------------------------------------------------- */

typedef struct rcomm_comm rcomm_comm_t;

/*
 * Create a communicator from the environment. Started by a PMIx server
 * (srun --mpi=pmix, mpirun) and built with PMIx, with RCOMM_ADDR unset:
 * rank, size, locality, the address exchange and the job key all come from
 * PMIx, nothing to export. Otherwise rank and size from RCOMM_RANK /
 * RCOMM_SIZE, else SLURM_PROCID / SLURM_NTASKS (srun), else
 * OMPI_COMM_WORLD_RANK / OMPI_COMM_WORLD_SIZE (mpirun); the rendezvous address
 * from RCOMM_ADDR=host:port (rank 0 serves it). A size of 1 needs no address.
 * RCOMM_BOOTSTRAP=pmix|store forces either way.
 * Collective over all ranks: blocks until every rank has joined or
 * RCOMM_TIMEOUT expires (then fails naming the ranks that never arrived, or
 * under PMIx the PMIx call that timed out and its status).
 */
rcomm_status_t rcomm_comm_create_from_env(rcomm_comm_t **comm);

/* The same with rank, size and rendezvous address given explicitly (addr may
 * be NULL when size is 1). Tunables still come from RCOMM_* variables. */
rcomm_status_t rcomm_comm_create(int rank, int size, const char *addr,
                                 rcomm_comm_t **comm);

/* Release a communicator. Not collective; pending nonblocking requests must be
 * waited for first (destroy fails with INVALID_ARG otherwise), and objects
 * made on it (parameter server, buckets...) destroyed first. NULL is OK; a
 * communicator destroyed already is INVALID_ARG (see the handles above). */
rcomm_status_t rcomm_comm_destroy(rcomm_comm_t *comm);

rcomm_status_t rcomm_comm_rank(const rcomm_comm_t *comm, int *rank);
rcomm_status_t rcomm_comm_size(const rcomm_comm_t *comm, int *size);
/* What carries this rank's messages: the transport in use ("tcp",
 * "verbs"), "shm" when shared memory serves every peer (all ranks on this
 * host), or "tcp+shm" / "verbs+shm" when it serves some. */
rcomm_status_t rcomm_comm_transport(const rcomm_comm_t *comm, const char **name);

/* Transport counters: payload bytes handed to the network, received, and
 * copied through intermediate buffers (zero when every message was zero-copy). */
typedef struct {
    uint64_t bytes_sent;
    uint64_t bytes_received;
    uint64_t bytes_copied;
    uint64_t messages_sent;
    uint64_t messages_received;
} rcomm_stats_t;
rcomm_status_t rcomm_comm_stats(const rcomm_comm_t *comm, rcomm_stats_t *stats);

/* ---- Memory registration ------------------------------------------------ */

/*
 * Register a long-lived buffer (gradients, parameters) with the transport,
 * once: collectives whose send and receive buffers lie inside registered
 * memory move their large messages with no copy and no registration cost per
 * call (verbs: RDMA straight between the buffers). Buffers not registered
 * work too: the verbs transport registers them through a bounded cache
 * (RCOMM_IB_REG_CACHE) that notices when memory is freed. On TCP this only
 * validates and records the range. Not collective.
 *
 * The memory must stay allocated until rcomm_mem_deregister(). Errors:
 * INVALID_ARG (NULL or zero length), NO_MEMORY (the locked-memory limit,
 * with a hint naming RLIMIT_MEMLOCK), COMM_FAILED.
 */
typedef struct rcomm_mem rcomm_mem_t;
rcomm_status_t rcomm_mem_register(rcomm_comm_t *comm, void *addr, size_t len,
                                  rcomm_mem_t **mem);
/* No collective may be in flight on comm (INVALID_ARG otherwise). Handles
 * still registered are released by rcomm_comm_destroy(). */
rcomm_status_t rcomm_mem_deregister(rcomm_comm_t *comm, rcomm_mem_t *mem);

/*
 * Memory the collectives move fastest: len bytes, page-aligned, zeroed and
 * registered as by rcomm_mem_register; on one host, also shared with the
 * peers. An rcomm_allreduce of more than 256 bytes (32 KiB where the
 * ranks outnumber the cores), or an rcomm_iallreduce of 64 KiB or more,
 * whose send and receive
 * buffers both lie in such memory on every rank of a communicator whose
 * ranks all share one host is then reduced by each rank straight from the
 * peers' buffers into theirs, with no copy through a transport (NCCL's
 * registered user buffers; docs/PERFORMANCE.md). Where one rank's buffers
 * are not in it, every rank takes the usual path (a nonblocking call after
 * a round of small messages that finds it out). Other uses see
 * ordinary registered memory. Peers of the job can read and write it while
 * a collective on it runs: use it for buffers you would send anyway. Not
 * collective. Errors: INVALID_ARG (len 0, ptr NULL), NO_MEMORY,
 * COMM_FAILED.
 */
rcomm_status_t rcomm_mem_alloc(rcomm_comm_t *comm, size_t len, void **ptr);
/* What rcomm_mem_alloc gave on comm; NULL is OK. INVALID_ARG for any other
 * pointer and while a collective is in flight. rcomm_comm_destroy() frees
 * what is left. */
rcomm_status_t rcomm_mem_free(rcomm_comm_t *comm, void *ptr);

/* ---- Collectives ------------------------------------------------------- */

/* Pass as sendbuf (as recvbuf for scatter) for in-place operation. For
 * allreduce and reduce, sendbuf == recvbuf means in place too; any other
 * overlap of the two buffers is an error. */
#define RCOMM_IN_PLACE ((void *)1)

/* AllReduce algorithms. AUTO asks the cost model (see rcomm_allreduce_algo). */
typedef enum {
    RCOMM_ALGO_AUTO = 0,
    RCOMM_ALGO_RING,      /* reduce-scatter + allgather around a ring */
    RCOMM_ALGO_BUTTERFLY, /* recursive halving + doubling (Rabenseifner) */
    RCOMM_ALGO_RD,        /* recursive doubling, whole vector each step */
    RCOMM_ALGO_HIER,      /* per host, then across hosts, then per host again
                           * (ranks that share memory; else ring) */
    RCOMM_ALGO_DIRECT,    /* reduce-scatter + allgather, every block sent
                           * straight to its owner and back, in two steps */
    RCOMM_ALGO_COUNT
} rcomm_algo_t;

const char *rcomm_algo_name(rcomm_algo_t algo);
/* Parse "auto", "ring", "butterfly", "rd", "hier", "direct". */
rcomm_status_t rcomm_algo_parse(const char *name, rcomm_algo_t *algo);

/* The algorithm the cost model (or RCOMM_ALLREDUCE_ALGO) picks for this call. */
rcomm_status_t rcomm_allreduce_algo(const rcomm_comm_t *comm, size_t count,
                                    rcomm_dtype_t dtype, rcomm_algo_t *algo);

/* recvbuf[i] = op over ranks of sendbuf[i], for i < count, on every rank. */
rcomm_status_t rcomm_allreduce(rcomm_comm_t *comm, const void *sendbuf, void *recvbuf,
                               size_t count, rcomm_dtype_t dtype, rcomm_op_t op);
/* The same with the algorithm chosen by the caller (AUTO = as above). */
rcomm_status_t rcomm_allreduce_with(rcomm_comm_t *comm, const void *sendbuf,
                                    void *recvbuf, size_t count, rcomm_dtype_t dtype,
                                    rcomm_op_t op, rcomm_algo_t algo);

/* buf on every rank = buf on root. */
rcomm_status_t rcomm_broadcast(rcomm_comm_t *comm, void *buf, size_t count,
                               rcomm_dtype_t dtype, int root);

/* recvbuf[r * count + i] = sendbuf[i] of rank r. recvbuf holds size * count
 * elements. In place: sendbuf == RCOMM_IN_PLACE and each rank's contribution
 * already at recvbuf + rank * count. */
rcomm_status_t rcomm_allgather(rcomm_comm_t *comm, const void *sendbuf, void *recvbuf,
                               size_t count, rcomm_dtype_t dtype);

/* recvbuf[i] = op over ranks of sendbuf[rank * count + i]. sendbuf holds
 * size * count elements. In place: sendbuf == RCOMM_IN_PLACE, the input is in
 * recvbuf (size * count elements) and the result lands at recvbuf + rank * count. */
rcomm_status_t rcomm_reduce_scatter(rcomm_comm_t *comm, const void *sendbuf,
                                    void *recvbuf, size_t count, rcomm_dtype_t dtype,
                                    rcomm_op_t op);

/* Returns once every rank has entered the barrier. */
rcomm_status_t rcomm_barrier(rcomm_comm_t *comm);

/* recvbuf[i] on root = op over ranks of sendbuf[i]. recvbuf matters on the
 * root only (NULL elsewhere is fine). In place: sendbuf == RCOMM_IN_PLACE (or
 * == recvbuf) on the root, its input in recvbuf. AVG divides on the root. */
rcomm_status_t rcomm_reduce(rcomm_comm_t *comm, const void *sendbuf, void *recvbuf,
                            size_t count, rcomm_dtype_t dtype, rcomm_op_t op, int root);

/* recvbuf[r * count + i] on root = sendbuf[i] of rank r; recvbuf (size * count
 * elements) matters on the root only. In place: sendbuf == RCOMM_IN_PLACE on
 * the root, its own block already at recvbuf + root * count. */
rcomm_status_t rcomm_gather(rcomm_comm_t *comm, const void *sendbuf, void *recvbuf,
                            size_t count, rcomm_dtype_t dtype, int root);

/* recvbuf[i] on rank r = sendbuf[r * count + i] of root; sendbuf (size * count
 * elements) matters on the root only. In place: recvbuf == RCOMM_IN_PLACE on
 * the root, whose own block stays where it is in sendbuf. */
rcomm_status_t rcomm_scatter(rcomm_comm_t *comm, const void *sendbuf, void *recvbuf,
                             size_t count, rcomm_dtype_t dtype, int root);

/* recvbuf[r * count + i] on rank q = sendbuf[q * count + i] of rank r: block q
 * of every rank's sendbuf goes to rank q. Both buffers hold size * count
 * elements. In place: sendbuf == RCOMM_IN_PLACE, the blocks to send in
 * recvbuf, replaced by the blocks received. */
rcomm_status_t rcomm_alltoall(rcomm_comm_t *comm, const void *sendbuf, void *recvbuf,
                              size_t count, rcomm_dtype_t dtype);

/*
 * Variable counts. Counts and displacements are in elements and are read
 * during the call only (a nonblocking form keeps no pointer to them). NULL
 * displacements mean packed blocks: block r at the sum of the counts before
 * r. Receive blocks must not overlap one another.
 *
 * allgatherv: rank r contributes recvcounts[r] elements (sendcount must say
 * the same), which land at recvbuf + displs[r] on every rank. recvcounts
 * must be equal on every rank: a rank whose array differs gets
 * RCOMM_ERR_MISMATCH naming the peer it disagrees with, and no rank gets a
 * wrong answer. displs describe each rank's own buffer and may differ. In
 * place: sendbuf == RCOMM_IN_PLACE (sendcount ignored), the rank's own block
 * already at recvbuf + displs[rank].
 */
rcomm_status_t rcomm_allgatherv(rcomm_comm_t *comm, const void *sendbuf, size_t sendcount,
                                void *recvbuf, const size_t *recvcounts,
                                const size_t *displs, rcomm_dtype_t dtype);

/* alltoallv: rank r sends sendcounts[q] elements from sendbuf + sdispls[q] to
 * rank q, which receives them at recvbuf + rdispls[r]; they must be the
 * recvcounts[r] elements that rank q expects from r (RCOMM_ERR_MISMATCH
 * naming both ranks and both counts otherwise). Zero counts are fine. In
 * place: sendbuf == RCOMM_IN_PLACE (sendcounts and sdispls ignored, may be
 * NULL): the data for rank q is the recvcounts[q] elements at recvbuf +
 * rdispls[q], replaced by what q sends. */
rcomm_status_t rcomm_alltoallv(rcomm_comm_t *comm, const void *sendbuf,
                               const size_t *sendcounts, const size_t *sdispls,
                               void *recvbuf, const size_t *recvcounts,
                               const size_t *rdispls, rcomm_dtype_t dtype);

/* ---- Point-to-point ---------------------------------------------------- */

/*
 * Tagged messages between two ranks, outside the collectives' ordering (other
 * ranks take no part). A receive matches the message from its peer with
 * exactly its tag; messages from one peer with one tag are received in the
 * order they were sent. There is no wildcard source or tag: training's
 * exchanges (pipeline stages, neighbour averaging, expert shuffles) name their
 * peer, and exact matching lets the transport match in order with no search.
 * The receive's count and dtype must equal the send's: a difference fails the
 * receive with RCOMM_ERR_MISMATCH naming the peer and both calls (and the
 * send, on a transport that can tell). A peer that dies fails the operation
 * with its error; one that stays silent past RCOMM_TIMEOUT fails it with
 * RCOMM_ERR_TIMEOUT.
 *
 * A blocking send may wait for the receiver (large messages move when the
 * receive is posted, zero-copy): two ranks that send to each other at once
 * should use rcomm_isend, or rcomm_sendrecv. tag is 0 .. RCOMM_TAG_MAX.
 */
#define RCOMM_TAG_MAX 0x7fffffff

rcomm_status_t rcomm_send(rcomm_comm_t *comm, const void *buf, size_t count,
                          rcomm_dtype_t dtype, int peer, int tag);
rcomm_status_t rcomm_recv(rcomm_comm_t *comm, void *buf, size_t count,
                          rcomm_dtype_t dtype, int peer, int tag);
/* Send to dst and receive from src at once (a ring shift, a neighbour swap):
 * both with the same tag; dst and src may be the same rank. */
rcomm_status_t rcomm_sendrecv(rcomm_comm_t *comm, const void *sendbuf, size_t sendcount,
                              int dst, void *recvbuf, size_t recvcount, int src,
                              rcomm_dtype_t dtype, int tag);

/* ---- Nonblocking collectives ------------------------------------------- */

/* A collective in flight. It progresses inside rcomm_test / rcomm_wait (and
 * inside any other call on the same communicator), and with
 * RCOMM_PROGRESS=thread also while the caller is outside rcomm. Buffers must
 * stay untouched until rcomm_test or rcomm_wait reports completion.
 * The blocking and the nonblocking form of a collective are different calls
 * (as in MPI): every rank makes the same one. Where every rank shares memory
 * a blocking allreduce of at most 256 bytes with RCOMM_ALGO_AUTO goes
 * through shared slots, and a rank that made it nonblocking, or with a
 * chosen algorithm, fails it with RCOMM_ERR_MISMATCH on every rank. */
typedef struct rcomm_request rcomm_request_t;

rcomm_status_t rcomm_iallreduce(rcomm_comm_t *comm, const void *sendbuf, void *recvbuf,
                                size_t count, rcomm_dtype_t dtype, rcomm_op_t op,
                                rcomm_algo_t algo, rcomm_request_t **req);
rcomm_status_t rcomm_ibroadcast(rcomm_comm_t *comm, void *buf, size_t count,
                                rcomm_dtype_t dtype, int root, rcomm_request_t **req);
rcomm_status_t rcomm_iallgather(rcomm_comm_t *comm, const void *sendbuf, void *recvbuf,
                                size_t count, rcomm_dtype_t dtype, rcomm_request_t **req);
rcomm_status_t rcomm_ireduce_scatter(rcomm_comm_t *comm, const void *sendbuf,
                                     void *recvbuf, size_t count, rcomm_dtype_t dtype,
                                     rcomm_op_t op, rcomm_request_t **req);
rcomm_status_t rcomm_ibarrier(rcomm_comm_t *comm, rcomm_request_t **req);
rcomm_status_t rcomm_ireduce(rcomm_comm_t *comm, const void *sendbuf, void *recvbuf,
                             size_t count, rcomm_dtype_t dtype, rcomm_op_t op, int root,
                             rcomm_request_t **req);
rcomm_status_t rcomm_igather(rcomm_comm_t *comm, const void *sendbuf, void *recvbuf,
                             size_t count, rcomm_dtype_t dtype, int root,
                             rcomm_request_t **req);
rcomm_status_t rcomm_iscatter(rcomm_comm_t *comm, const void *sendbuf, void *recvbuf,
                              size_t count, rcomm_dtype_t dtype, int root,
                              rcomm_request_t **req);
rcomm_status_t rcomm_ialltoall(rcomm_comm_t *comm, const void *sendbuf, void *recvbuf,
                               size_t count, rcomm_dtype_t dtype, rcomm_request_t **req);
rcomm_status_t rcomm_iallgatherv(rcomm_comm_t *comm, const void *sendbuf,
                                 size_t sendcount, void *recvbuf,
                                 const size_t *recvcounts, const size_t *displs,
                                 rcomm_dtype_t dtype, rcomm_request_t **req);
rcomm_status_t rcomm_ialltoallv(rcomm_comm_t *comm, const void *sendbuf,
                                const size_t *sendcounts, const size_t *sdispls,
                                void *recvbuf, const size_t *recvcounts,
                                const size_t *rdispls, rcomm_dtype_t dtype,
                                rcomm_request_t **req);
/* Point-to-point in flight: a request like a collective's. Many may be in
 * flight at once, in any mix with collectives. */
rcomm_status_t rcomm_isend(rcomm_comm_t *comm, const void *buf, size_t count,
                           rcomm_dtype_t dtype, int peer, int tag, rcomm_request_t **req);
rcomm_status_t rcomm_irecv(rcomm_comm_t *comm, void *buf, size_t count,
                           rcomm_dtype_t dtype, int peer, int tag, rcomm_request_t **req);

/* Progress req once. Returns RCOMM_INPROGRESS while it runs; otherwise the
 * collective's final status, and the request is freed: a later rcomm_test
 * or rcomm_wait on it is INVALID_ARG. */
rcomm_status_t rcomm_test(rcomm_request_t *req);
/* Block until req completes (or times out); returns its status and frees it
 * (a second wait is INVALID_ARG). */
rcomm_status_t rcomm_wait(rcomm_request_t *req);

/* ---- Gradient buckets --------------------------------------------------- */

/*
 * AllReduce of a model's gradients during the backward pass, in the spirit
 * of PyTorch DDP's reducer and Horovod's tensor fusion. Declare the gradient
 * tensors once, in the order backprop produces them; rcomm groups them into
 * buckets of about bucket_bytes (the first one smaller, so that reduction
 * starts early; a change of dtype starts a new bucket). Mark each tensor
 * ready as backprop finishes it: a bucket whose tensors are all ready is
 * reduced at once (in place when its tensors lie back to back in memory,
 * else through a registered staging buffer), buckets always in order, so
 * that every rank posts the same collectives in the same order whatever
 * order it marks tensors in. rcomm_buckets_wait returns when every bucket is
 * reduced in place and readies the buckets for the next step.
 *
 * Errors name the rank and the tensor: a tensor marked twice in a step, a
 * wait before every tensor is marked (INVALID_ARG), tensors declared
 * differently on different ranks (MISMATCH, from rcomm_buckets_create).
 */
typedef struct rcomm_buckets rcomm_buckets_t;

typedef struct {
    const char *name; /* for messages; compared across ranks */
    void *buf;        /* the gradient, reduced in place */
    size_t count;
    rcomm_dtype_t dtype;
} rcomm_grad_t;

typedef struct rcomm_compressor rcomm_compressor_t;

typedef struct {
    size_t bucket_bytes;       /* target size of a bucket (default 1 MiB) */
    size_t first_bucket_bytes; /* target size of the first one (default 256 KiB) */
    rcomm_op_t op;             /* RCOMM_SUM or RCOMM_AVG (default) */
    /* NULL (default), or a compressor (below) for the f32 tensors: each is
     * then a compressed allreduce of its own, tensor number = its index in
     * grads (rcomm_compress_shape it before the first step); other dtypes
     * are reduced plainly. Every rank passes one or none (MISMATCH); it
     * must outlive the buckets and serve no other call on those numbers. */
    rcomm_compressor_t *compressor;
} rcomm_buckets_config_t;

void rcomm_buckets_config_init(rcomm_buckets_config_t *cfg);
/* Collective: every rank declares the same tensors (names, counts, dtypes,
 * in the same order); their buffers stay valid until destroy. */
rcomm_status_t rcomm_buckets_create(rcomm_comm_t *comm, const rcomm_buckets_config_t *cfg,
                                    const rcomm_grad_t *grads, int ngrads,
                                    rcomm_buckets_t **b);
/* Tensor i's gradient is final for this step. */
rcomm_status_t rcomm_buckets_ready(rcomm_buckets_t *b, int i);
/* Every tensor marked: wait until all are reduced. */
rcomm_status_t rcomm_buckets_wait(rcomm_buckets_t *b);
/* How the tensors were grouped: *nbuckets, and bucket_of[i] for each tensor
 * (bucket_of may be NULL). */
rcomm_status_t rcomm_buckets_layout(const rcomm_buckets_t *b, int *nbuckets,
                                    int *bucket_of);
/* Bytes a step copies through staging buffers (0: every bucket is reduced in
 * place, as with an arena below). */
rcomm_status_t rcomm_buckets_staged(const rcomm_buckets_t *b, size_t *bytes);
/* Not while a step is in flight (INVALID_ARG). NULL is OK. */
rcomm_status_t rcomm_buckets_destroy(rcomm_buckets_t *b);

/* An arena for the gradients, which rcomm hands out so that every bucket
 * is reduced in place with no copy: the tensors are laid out back to back
 * in declaration order (a dtype change starts at a 64-byte boundary),
 * zeroed, and each grads[i].buf is set to its place. The memory is
 * rcomm_mem_alloc's: where every rank shares one host, the buckets' bytes
 * go straight between the ranks' arenas. Compute the gradients there and
 * pass the same grads to rcomm_buckets_create. Not collective. Destroy it
 * after the buckets and before the communicator (INVALID_ARG while a
 * collective is in flight; rcomm_comm_destroy frees its memory, and the
 * tensors with it, otherwise). NULL is OK. */
typedef struct rcomm_grad_arena rcomm_grad_arena_t;
rcomm_status_t rcomm_grad_arena_create(rcomm_comm_t *comm, rcomm_grad_t *grads,
                                       int ngrads, rcomm_grad_arena_t **arena);
rcomm_status_t rcomm_grad_arena_destroy(rcomm_grad_arena_t *arena);

/* ---- Gradient compression ------------------------------------------------ */

/*
 * Send less per step: each rank's f32 gradient is compressed, the
 * compressed forms are combined across ranks, and every rank gets the same
 * sum of the decoded contributions. With error feedback (the default) what
 * compression dropped from a tensor is kept in a residual and added to that
 * tensor's next gradient, so nothing is lost, only delayed. Kinds:
 *  - BF16, F16: every entry rounded to 16 bits (linear: the encodings are
 *    summed inside an allreduce, in f32 at every step, rounded once per step);
 *  - RANDK: k entries at indices drawn from the shared seed, the same on
 *    every rank (linear: the values are summed by a plain allreduce, the
 *    indices never sent);
 *  - TOPK: the k entries of largest magnitude, ties to the lower index, sent
 *    as (index, value) pairs (not linear: allgathered, then summed);
 *  - SIGN: one bit per entry and, per chunk of `chunk` entries, the mean
 *    absolute value as its scale; 0 counts as positive (not linear:
 *    allgathered, then summed);
 *  - POWERSGD: a rows x cols gradient M (declared with rcomm_compress_shape)
 *    as P Q^T of rank `lowrank`: P = M Q, allreduced and orthonormalised,
 *    Q = M^T P, allreduced, Q kept for the next step (OpenBLAS GEMMs; needs a
 *    build with OpenBLAS: UNSUPPORTED otherwise). A tensor that is not a
 *    matrix, or that would not shrink to half, is sent uncompressed.
 * docs/COMPRESSION.md has the formats, the wire sizes and the measurements.
 */
typedef enum {
    RCOMM_COMPRESS_BF16 = 0,
    RCOMM_COMPRESS_F16,
    RCOMM_COMPRESS_RANDK,
    RCOMM_COMPRESS_TOPK,
    RCOMM_COMPRESS_SIGN,
    RCOMM_COMPRESS_POWERSGD,
    RCOMM_COMPRESS_COUNT
} rcomm_compress_kind_t;

typedef struct {
    rcomm_compress_kind_t kind;
    double ratio;       /* RANDK, TOPK: fraction of entries kept, (0, 1] */
    size_t k;           /* RANDK, TOPK: entries kept; 0: from ratio (rounded
                         * up, at least 1); never more than the tensor has */
    uint64_t seed;      /* RANDK: the index stream; POWERSGD: the first Q (the
                         * same on every rank) */
    int lowrank;        /* POWERSGD: the rank r of P Q^T (default 2) */
    size_t chunk;       /* SIGN: entries per scale (default 1024) */
    int error_feedback; /* keep a residual per tensor (default 1) */
    /* 1: the linear kinds (bf16, f16, randk, powersgd) sum the ranks'
     * encodings in rank order after an allgather, as the others do, so that
     * the result depends on the inputs alone, not on the allreduce
     * algorithm rcomm picks; it costs about p / 2 times the bytes of the
     * allreduce on p ranks (default 0). */
    int deterministic;
} rcomm_compress_config_t;

/* rcomm_compressor_t is declared with the gradient buckets, which take one. */

/* Defaults for kind: ratio 0.01, k 0, seed 0, chunk 1024, lowrank 2, error
 * feedback. */
void rcomm_compress_config_init(rcomm_compress_config_t *cfg, rcomm_compress_kind_t kind);
/* "bf16", "f16", "randk", "topk", "sign", "powersgd"; "invalid" otherwise. */
const char *rcomm_compress_kind_name(rcomm_compress_kind_t kind);
/* Collective: every rank passes the same config (MISMATCH naming the rank
 * and the field otherwise). The compressor belongs to comm's calls. */
rcomm_status_t rcomm_compressor_create(rcomm_comm_t *comm,
                                       const rcomm_compress_config_t *cfg,
                                       rcomm_compressor_t **c);
/*
 * buf (count f32, the gradient of the caller's tensor number `tensor`, 0 ..
 * 65535) := op (SUM or AVG) over ranks of each rank's compressed gradient,
 * decoded; the same on every rank. Collective, like an allreduce: the same
 * tensor and count on every rank. A tensor keeps its count for the
 * compressor's life (its residual has that size). count 0 is a no-op.
 */
rcomm_status_t rcomm_allreduce_compressed(rcomm_compressor_t *c, int tensor, float *buf,
                                          size_t count, rcomm_op_t op);
/* Tensor `tensor` is a rows x cols matrix, row-major (POWERSGD; the other
 * kinds ignore it). Before its first call, on every rank alike; count is
 * then rows * cols. */
rcomm_status_t rcomm_compress_shape(rcomm_compressor_t *c, int tensor, size_t rows,
                                    size_t cols);
/* The bytes one rank puts on the wire for one call on count entries of
 * tensor `tensor` (its shape, if declared, counts; the collective that
 * carries the encoding adds its own factor). */
rcomm_status_t rcomm_compress_wire_bytes(const rcomm_compressor_t *c, int tensor,
                                         size_t count, size_t *bytes);
/* Tensor `tensor`'s residual (count entries, kept in f64 so that rounding
 * loses nothing; NULL before its first call or without error feedback):
 * read-only, for inspection and tests. */
rcomm_status_t rcomm_compress_residual(const rcomm_compressor_t *c, int tensor,
                                       const double **residual, size_t *count);
/* NULL is OK. */
rcomm_status_t rcomm_compressor_destroy(rcomm_compressor_t *c);

/* ---- Parameter server --------------------------------------------------- */

/*
 * A parameter server over one-sided operations (docs/PS.md). Ranks
 * 0..num_servers-1 are servers; the others are workers, and with servers_work
 * set the servers are workers too. Each tensor's keys (elements) are split
 * into num_servers contiguous ranges, one per server, the first
 * count % num_servers ranges one key longer.
 *
 * Workers never ask a server thread for anything:
 *  - pull reads server memory with one-sided reads (RDMA READ over verbs);
 *    each block carries a version, a clock and a checksum of its bytes, so
 *    a block that changed while it was read is read again (then fetched
 *    from its server), and a read is never torn;
 *  - push writes the worker's accumulated gradient into its own slot in
 *    server memory in one write per server whose landing the server's
 *    progress is told of (RDMA WRITE WITH IMMEDIATE): it applies a small
 *    push itself and wakes its update threads for a large one (each block
 *    has one writer at a time: no lock), publishes the clock applied and
 *    writes it into the worker's mailbox;
 *  - the consistency check reads the published clocks, one-sided too.
 * Over TCP the same operations are emulated inside the server's progress, so
 * a server rank must be inside an rcomm call (rcomm_ps_serve, or any PS call
 * on a rank that also works) for reads and writes to it to complete.
 *
 * Clocks. A worker's clock counts its finished steps (rcomm_ps_clock). Every
 * push_interval steps it pushes what it accumulated, and the servers' copy of
 * its clock advances to the step count. A pull at clock c waits until every
 * worker's applied clock is at least c - staleness, rounded down to a push
 * boundary: staleness 0 is bulk synchronous (a pull sees exactly the updates
 * of steps before c), s > 0 is stale synchronous, and under RCOMM_PS_ASP a
 * pull never waits. A push may wait, whatever the staleness, until the
 * server has applied the push before the worker's previous one (a worker
 * has a slot of two halves on each server, which its pushes alternate
 * between).
 * Between pulls (pull_interval > 1) a pull is served from the worker's local
 * copy. Under BSP a server sums the gradients of every worker for a step (in
 * rank order) and applies the rule once; otherwise it applies each push as it
 * arrives.
 */
typedef struct rcomm_ps rcomm_ps_t;

#define RCOMM_PS_ASP (-1) /* staleness: no bound */

/* rcomm_ps_config_t.average: with MEAN_WORKERS the step does not change
 * with the number of workers (each push counts 1/W; a BSP round applies
 * their mean); with MEAN_STEPS a push applies the mean of the steps it
 * accumulated rather than their sum: one optimizer step per push, as
 * gradient accumulation does, whatever the push interval. */
#define RCOMM_PS_MEAN_WORKERS 1
#define RCOMM_PS_MEAN_STEPS 2
#define RCOMM_PS_MEAN (RCOMM_PS_MEAN_WORKERS | RCOMM_PS_MEAN_STEPS)

/* A user update rule, called by server threads: params[i] is updated with
 * grad[i] for i < n, both of the tensor's dtype (f32 or f64); params[0] is
 * key `first` of tensor `tensor`. Called concurrently for disjoint ranges. */
typedef void (*rcomm_ps_update_fn)(void *arg, int tensor, size_t first, void *params,
                                   const void *grad, size_t n, rcomm_dtype_t dtype);

typedef struct {
    int num_servers;           /* servers are ranks 0..num_servers-1 (default 1) */
    int servers_work;          /* nonzero: server ranks are also workers (default 0;
                                * forced on a communicator of one rank) */
    int staleness;             /* 0 = BSP (default), s > 0 = SSP, RCOMM_PS_ASP */
    int push_interval;         /* push every n steps, accumulating between (default 1) */
    int pull_interval;         /* pull every n steps, local copy between (default 1) */
    double lr;                 /* built-in rule: m = momentum*m + g; p -= lr*m */
    int average;               /* what g is: 0 = the sum over workers and over
                                * the push interval (default); or
                                * RCOMM_PS_MEAN_WORKERS, RCOMM_PS_MEAN_STEPS,
                                * or both (RCOMM_PS_MEAN): divided by their
                                * count. Built-in rule only. */
    double momentum;           /* in [0, 1); 0 = plain SGD (default) */
    rcomm_ps_update_fn update; /* non-NULL replaces the built-in rule */
    void *update_arg;
    size_t block_bytes; /* data per block: the unit of checksums, reads and
                         * updates (default 1000: with its 24-byte header a
                         * block is 1 KiB on the server) */
    int server_threads; /* update threads per server (0 = default 2) */
    /* Pushes that carry only some keys (docs/PS.md, "Sparse pushes"); the
     * keys left out stay accumulated for a later push. Both off by default.
     * Significance filter: push_threshold > 0 sends only the keys whose
     * accumulated gradient g has |g| > push_threshold, or with
     * push_relative, |g| > push_threshold * |p|, p the key's parameter in
     * the worker's local copy (its last pull). */
    double push_threshold;
    int push_relative;
    /* A compressor (created on the same communicator; not powersgd) for
     * the f32 tensors (f64 ones go as without it): top-k and random-k send
     * the k keys of their choice per server range of a tensor (k from the
     * ratio or k, of the range); bf16, f16 and sign send every dirty block
     * in their encoding. What is not sent, or lost to the encoding, stays
     * accumulated, unless error feedback is off: then it is dropped. No
     * push_threshold with the last three. Must outlive the server. */
    rcomm_compressor_t *compressor;
} rcomm_ps_config_t;

/* Fill cfg with the defaults above (lr = 0.01). */
void rcomm_ps_config_init(rcomm_ps_config_t *cfg);

/* A dense tensor of parameters. init (count elements) gives the initial
 * values; servers read their own range from it, workers ignore it; NULL
 * means zeros. */
typedef struct {
    const char *name;
    size_t count;
    rcomm_dtype_t dtype; /* RCOMM_F32 or RCOMM_F64 */
    const void *init;
} rcomm_ps_tensor_t;

/*
 * Create the parameter server on comm. Collective: every rank passes the
 * same configuration and tensor list (RCOMM_ERR_MISMATCH names the rank and
 * the field that differ). Registers the servers' memory with the least
 * rights it needs: parameters and published clocks remote-readable, clocks
 * remote-atomic, and one remote-writable gradient slot per worker whose key
 * is sent to that worker only. The communicator can still run collectives
 * while the PS exists, from the same thread.
 */
rcomm_status_t rcomm_ps_create(rcomm_comm_t *comm, const rcomm_ps_config_t *cfg,
                               const rcomm_ps_tensor_t *tensors, int ntensors,
                               rcomm_ps_t **ps);

/*
 * Worker: copy keys [offset, offset + count) of tensor into dst (NULL: only
 * refresh the local copy). On a pull step (clock % pull_interval == 0) or for
 * keys never pulled, reads the servers, first waiting as the staleness bound
 * requires (RCOMM_ERR_TIMEOUT after RCOMM_TIMEOUT, naming the worker that is
 * behind); otherwise copies from the local copy. *clock (may be NULL) gets
 * the clock of what was read: every worker's updates of steps before it are
 * in it.
 */
rcomm_status_t rcomm_ps_pull(rcomm_ps_t *ps, int tensor, size_t offset, size_t count,
                             void *dst, uint64_t *clock);

/* Worker: as rcomm_ps_pull, but always from the servers, whatever the step
 * and pull_interval (the staleness bound still applies; under RCOMM_PS_ASP
 * it reads what the servers have now). The local copy is refreshed too. */
rcomm_status_t rcomm_ps_pull_fresh(rcomm_ps_t *ps, int tensor, size_t offset,
                                   size_t count, void *dst, uint64_t *clock);

/* Worker: add grad (count elements of the tensor's dtype) to the local
 * accumulator for keys [offset, offset + count). Nothing is sent before the
 * next push step (rcomm_ps_clock), and then only the keys pushed: a block
 * (cfg.block_bytes) whose every key was pushed goes whole; of one whose
 * keys were pushed in part, the keys with a nonzero gradient go as (offset,
 * value) pairs when that is smaller, and the update rule runs on those keys
 * only (docs/PS.md, "Sparse pushes"). */
rcomm_status_t rcomm_ps_push(rcomm_ps_t *ps, int tensor, size_t offset, size_t count,
                             const void *grad);

/* Worker: as rcomm_ps_push, for the n keys keys[i] of tensor, each with
 * gradient grad[i] (the tensor's dtype); a key named twice gets both. For
 * gradients of a few rows of a large table (embeddings). */
rcomm_status_t rcomm_ps_push_keys(rcomm_ps_t *ps, int tensor, const size_t *keys,
                                  size_t n, const void *grad);

/* Keys [offset, offset + count) of tensor, and a buffer of count elements:
 * a pull's destination (NULL: only refresh the local copy) or a push's
 * gradient (read only). */
typedef struct {
    int tensor;
    size_t offset, count;
    void *buf;
} rcomm_ps_slice_t;

/* rcomm_ps_pullv flags. */
#define RCOMM_PS_FRESH 1u /* read the servers, as rcomm_ps_pull_fresh */

/* Worker: rcomm_ps_pull (or with RCOMM_PS_FRESH rcomm_ps_pull_fresh) of n
 * slices, of one tensor or several, in one set of read rounds per server
 * for the whole list: a model of many tensors waits for its servers once.
 * Slices may overlap. *clock (may be NULL) gets the oldest clock among the
 * slices' keys. Every slice is checked before anything is read; an error
 * names the slice. */
rcomm_status_t rcomm_ps_pullv(rcomm_ps_t *ps, const rcomm_ps_slice_t *slices, int n,
                              unsigned flags, uint64_t *clock);

/* Worker: rcomm_ps_push of n slices (their bufs are gradients). Every slice
 * is checked before any is added. */
rcomm_status_t rcomm_ps_pushv(rcomm_ps_t *ps, const rcomm_ps_slice_t *slices, int n);

/* Worker: end a step. The clock advances by one; when it reaches a multiple
 * of push_interval the accumulated gradient is sent and the servers are told
 * (after waiting, if needed, until the servers have applied the push before
 * the previous one). */
rcomm_status_t rcomm_ps_clock(rcomm_ps_t *ps);

/* Server that is not a worker: serve until every worker has called
 * rcomm_ps_destroy (or a failure: the error names the rank). Workers need
 * not call it. */
rcomm_status_t rcomm_ps_serve(rcomm_ps_t *ps);

typedef struct {
    int is_server, is_worker;
    uint64_t clock;       /* steps finished (workers) */
    uint64_t pushes;      /* gradients sent */
    uint64_t pulls;       /* pulls that read the servers */
    uint64_t local_pulls; /* pulls served from the local copy */
    uint64_t retries;     /* blocks read again because a write overlapped */
    uint64_t fetched;     /* ... of which fetched from the server with a message
                           * after two overlapped reads (docs/PS.md) */
    uint64_t waits;       /* pulls or pushes that had to wait for others */
    uint64_t bytes_pushed, bytes_pulled;
    uint64_t updates;       /* server: pushes (or BSP rounds) applied */
    uint64_t keys_pushed;   /* keys sent by sparse pushes (dense blocks: 0) */
    uint64_t keys_rejected; /* server: keys of sparse pushes outside their
                             * block, or blocks claiming too many, ignored */
    uint64_t rounds;        /* pulls' rounds of one-sided reads (posted, then
                             * waited for), retries and waits included */
} rcomm_ps_stats_t;
rcomm_status_t rcomm_ps_stats(const rcomm_ps_t *ps, rcomm_ps_stats_t *stats);

/* This rank's worker index in [0, *count), or -1 on a server that does not
 * work, and the number of workers: the workers are the ranks num_servers..
 * size-1 in order (index = rank - num_servers), or with servers_work every
 * rank (index = rank). For sharding data among workers. Any pointer but ps
 * may be NULL. */
rcomm_status_t rcomm_ps_worker(const rcomm_ps_t *ps, int *index, int *count);

/* Which server owns key offset of tensor, and the range [*first, *first +
 * *count) it owns. Any pointer but ps may be NULL. */
rcomm_status_t rcomm_ps_owner(const rcomm_ps_t *ps, int tensor, size_t offset,
                              int *server, size_t *first, size_t *count);

/* rcomm_ps_final's root for "every rank". */
#define RCOMM_PS_EVERY_RANK (-1)

/* Collective, after training: every worker tells the servers it is done
 * (its unpushed gradient is dropped), the servers apply every push, then
 * send their parameters to rank root, or with RCOMM_PS_EVERY_RANK to every
 * rank: dst[t] gets all of tensor t (its count elements), on the receiving
 * ranks only (the others may pass NULL). Call it instead of rcomm_ps_serve
 * on a server that does not work. Afterwards pull, push and clock are
 * INVALID_ARG; only rcomm_ps_stats, rcomm_ps_worker, rcomm_ps_owner and
 * rcomm_ps_destroy remain. */
rcomm_status_t rcomm_ps_final(rcomm_ps_t *ps, int root, void *const *dst);

/* Collective. A worker tells the servers it is done; a server serves until
 * every worker is done; then everything is released. Unpushed gradient is
 * dropped. After a failure it only releases. NULL is OK; a PS destroyed
 * already, or whose communicator was destroyed first, is INVALID_ARG. */
rcomm_status_t rcomm_ps_destroy(rcomm_ps_t *ps);

/* ---- Decentralized averaging ------------------------------------------ */

/*
 * Neighbour averaging, the communication step of decentralized SGD (D-PSGD):
 * every rank keeps its own model x_i and mixes it with a few neighbours',
 *   x_i <- w_ii x_i + sum over in-neighbours j of w_ij x_j
 * so no rank or link carries the whole job (docs/GOSSIP.md).
 *
 * A graph says who averages with whom, and with what weights. Creating one
 * is collective: every rank passes the same arguments, and the ranks compare
 * what they built (RCOMM_ERR_MISMATCH naming a rank whose graph differs).
 * Kinds, on the communicator's p ranks:
 *   RING       r - 1 and r + 1
 *   TORUS      2-D, rows x (p / rows) with rows the divisor of p closest to
 *              its square root, wrapping
 *   EXP2       directed: r sends to r + 1, r + 2, r + 4, ... (below p)
 *   FULL       every other rank
 *   ONE_PEER_EXP2  dynamic: call t sends only to r + 2^k and receives only
 *              from r - 2^k, k = t mod ceil(log2 p), weights 1/2; on a power
 *              of two p, log2 p calls reach the exact average
 * Default weights: Metropolis-Hastings, w_ij = 1 / (1 + max(deg i, deg j)),
 * on undirected graphs (doubly stochastic: the average is kept); uniform
 * out-weights, 1 / (1 + out-degree of j), on directed ones.
 *
 * rcomm_graph_create_edges: a directed graph given whole on every rank:
 * edge e goes from src[e] to dst[e] (dst receives from src) with weight
 * weights[e] = w_{dst,src}, and self_weights[r] = w_rr; both NULL for the
 * default weights. Averaging needs each rank's weights (self included) to sum
 * to 1: INVALID_ARG naming the first rank whose do not, that has no
 * neighbour, or an edge out of range, repeated, or a self loop.
 *
 * rcomm_graph_create_schedule: a dynamic graph of nsteps graphs of the same
 * communicator, used in turn (call t uses steps[t mod nsteps]); the steps
 * are copied and may be destroyed afterwards.
 */
typedef struct rcomm_graph rcomm_graph_t;
typedef enum {
    RCOMM_GRAPH_RING = 0,
    RCOMM_GRAPH_TORUS,
    RCOMM_GRAPH_EXP2,
    RCOMM_GRAPH_FULL,
    RCOMM_GRAPH_ONE_PEER_EXP2,
    RCOMM_GRAPH_KIND_COUNT
} rcomm_graph_kind_t;

rcomm_status_t rcomm_graph_create(rcomm_comm_t *comm, rcomm_graph_kind_t kind,
                                  rcomm_graph_t **graph);
rcomm_status_t rcomm_graph_create_edges(rcomm_comm_t *comm, size_t nedges, const int *src,
                                        const int *dst, const double *weights,
                                        const double *self_weights,
                                        rcomm_graph_t **graph);
rcomm_status_t rcomm_graph_create_schedule(rcomm_comm_t *comm,
                                           rcomm_graph_t *const *steps, size_t nsteps,
                                           rcomm_graph_t **graph);
/* This rank's in-neighbours at call number step (the next call is the graph's
 * rcomm_graph_step): up to cap ranks into nbrs and their weights into
 * weights (either may be NULL with cap 0), the count into *n, and w_ii into
 * *self_weight (may be NULL). */
rcomm_status_t rcomm_graph_in_neighbors(const rcomm_graph_t *graph, uint64_t step,
                                        int *nbrs, double *weights, size_t cap, size_t *n,
                                        double *self_weight);
/* Calls of rcomm_neighbor_allreduce made with the graph so far. */
uint64_t rcomm_graph_step(const rcomm_graph_t *graph);
/* Not while a call that uses it is in flight. */
rcomm_status_t rcomm_graph_destroy(rcomm_graph_t *graph);

/* recvbuf = w_ii sendbuf + sum over in-neighbours j of w_ij x_j, with the
 * graph's weights at its current step, which the call then advances.
 * Collective over every rank of the graph's communicator. Every dtype: f32
 * and f64 are summed in their own type, f16 and bf16 in f32 and rounded
 * once, the integers in f64 and rounded once to nearest (ties to even),
 * held to the type's range (so integer averaging does not keep the sum
 * exactly); in a fixed order (self, then in-neighbours by rank), so the
 * result is reproducible. RCOMM_IN_PLACE as sendbuf works in recvbuf. A
 * neighbour that called differently (count, dtype, graph step) fails the
 * call with RCOMM_ERR_MISMATCH naming it; ranks compare their calls with
 * their neighbours only (the graph was compared by all at creation). The
 * graph is read only while the call starts: a nonblocking call may outlive
 * it. */
rcomm_status_t rcomm_neighbor_allreduce(rcomm_graph_t *graph, const void *sendbuf,
                                        void *recvbuf, size_t count, rcomm_dtype_t dtype);
rcomm_status_t rcomm_ineighbor_allreduce(rcomm_graph_t *graph, const void *sendbuf,
                                         void *recvbuf, size_t count, rcomm_dtype_t dtype,
                                         rcomm_request_t **req);

/*
 * Asynchronous gossip over one-sided writes: push-sum (docs/GOSSIP.md).
 * Every rank keeps a numerator s and a weight w (1 at first); its estimate
 * of the average is s / w. A push gives each out-neighbour j its column
 * weight's share of (s, w) and keeps its own share, by a one-sided write into
 * j's window, and never waits for j: while an earlier write to j is in
 * flight, the share is only added to what the next write carries (writes
 * carry running totals, so nothing is lost). A rank whose weight has fallen
 * below 1/1024 (it pushed while nothing came back) keeps it until mass
 * arrives, instead of shrinking it to underflow. An update folds whatever has
 * arrived. Torn slots are never read: each slot is two halves, each write
 * checksummed. On a strongly connected graph whose columns sum to 1
 * (directed ones included) every estimate converges to the average of the
 * initial vectors, however unevenly the ranks push.
 *
 * rcomm_gossip_win_create: collective; a static graph whose columns sum to
 * 1 (every kind but one-peer; rcomm_graph_create_edges with uniform
 * out-weights); x is this rank's initial vector, count f32 or f64 values
 * (the totals are kept in f64). rcomm_gossip_win_add: s += w delta, which
 * moves this rank's estimate by delta (a local gradient step, as in
 * stochastic gradient push; scaled by w so that a rank that pushed ahead of
 * its neighbours, and holds little weight, does not step by delta / w).
 * rcomm_gossip_win_flush: collective: every rank's writes land and are
 * folded, the estimate into x; afterwards the sums over ranks of the
 * numerators and of the weights are those at creation (plus what was added),
 * to rounding. rcomm_gossip_win_mass: this rank's numerator (count doubles)
 * and weight. rcomm_gossip_win_destroy: collective (lands every write
 * first).
 */
typedef struct rcomm_gossip_win rcomm_gossip_win_t;
typedef struct {
    uint64_t pushes;  /* rcomm_gossip_win_push calls */
    uint64_t writes;  /* one-sided writes posted */
    uint64_t skipped; /* writes not posted: the previous one was in flight */
    uint64_t folded;  /* writes folded by updates */
    uint64_t torn;    /* slot halves refused by their checksum (never used) */
    uint64_t held;    /* pushes that gave nothing: the weight was below 1/1024 */
} rcomm_gossip_stats_t;

rcomm_status_t rcomm_gossip_win_create(rcomm_graph_t *graph, const void *x, size_t count,
                                       rcomm_dtype_t dtype, rcomm_gossip_win_t **win);
rcomm_status_t rcomm_gossip_win_push(rcomm_gossip_win_t *win);
rcomm_status_t rcomm_gossip_win_update(rcomm_gossip_win_t *win, void *x);
rcomm_status_t rcomm_gossip_win_add(rcomm_gossip_win_t *win, const void *delta);
rcomm_status_t rcomm_gossip_win_flush(rcomm_gossip_win_t *win, void *x);
rcomm_status_t rcomm_gossip_win_mass(const rcomm_gossip_win_t *win, double *values,
                                     double *weight);
rcomm_status_t rcomm_gossip_win_stats(const rcomm_gossip_win_t *win,
                                      rcomm_gossip_stats_t *stats);
rcomm_status_t rcomm_gossip_win_destroy(rcomm_gossip_win_t *win);

/* ---- Configuration ----------------------------------------------------- */

/* Print every tunable: environment name, current value, default and a
 * one-line description. comm may be NULL (then the values are read from the
 * environment now). The first time a process reads its configuration (a
 * communicator's creation, or this), each RCOMM_* environment variable
 * rcomm does not know is reported on stderr, once, with the closest known
 * name when it looks like a typo ("RCOMM_TIMOUT is not an rcomm variable;
 * did you mean RCOMM_TIMEOUT?"), never with its value; unless
 * RCOMM_LOG_LEVEL=none, which hides it like every other message. */
rcomm_status_t rcomm_config_print(const rcomm_comm_t *comm, FILE *out);

#pragma GCC visibility pop

#ifdef __cplusplus
}
#endif
#endif /* RCOMM_H */
