/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The transport contract. Everything rcomm moves between ranks goes through
 * one const tp_ops_t table; nothing above transports/ sees a socket or
 * a verbs object.
 *
 * Model
 *  - A transport instance (tp_t) belongs to one communicator and is
 *    driven by one thread at a time: no op is thread-safe.
 *  - Operations are posted with a caller-owned request (tp_req_t) that
 *    must stay valid until it completes. Posting never blocks and never
 *    reports completion: completion is reported only from progress(), by
 *    setting req->status and calling req->cb (if set). A post that fails
 *    returns the error and does not touch the request again. A callback may
 *    post and cancel (its own request included); it must not call progress()
 *    or destroy().
 *  - Buffers are used in place (zero copy): a send buffer must not change
 *    and a receive buffer must not be read until the request completes.
 *  - Peers are ranks 0..size-1; a rank never posts to itself.
 *  - When a peer fails (connection lost, protocol violation) every request
 *    involving it completes with an error, later posts to it fail at once
 *    (except receives of messages that had fully arrived before), and the
 *    transport logs one message naming the peer.
 *
 * Two-sided messages match on (peer, tag) in posting order per peer, and
 * carry a small envelope (tp_env_t) that the receiver gets back in
 * req->env: the collective layer uses it to detect ranks that called a
 * collective with different arguments. Messages of different tags keep no
 * order: a zero-byte message may overtake larger ones posted before it to
 * the same peer (TCP sends it ahead of queued data, so that a health probe
 * and its answer do not wait behind a bulk transfer). A message that
 * arrives before its receive is posted is "unexpected": the transport
 * reports it through on_unexpected, then either buffers it (counted in
 * bytes_copied) or, above the transport's eager limit, holds its
 * announcement and moves the data once the receive is posted (rendezvous).
 * Either way the peer's later traffic never waits behind it; the send of a
 * held message completes only after its receive is posted.
 *
 * One-sided operations (put, get, 64-bit atomics) target memory a peer
 * exposed with mem_reg and described by an tp_rkey_t it sent us. A
 * transport without hardware support emulates them in the target's
 * progress(): the target must be inside progress() for them to complete.
 * Accesses outside the region or its rights complete with RCOMM_ERR_ACCESS
 * and leave target memory untouched.
 */
#ifndef RCOMM_TRANSPORT_H
#define RCOMM_TRANSPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/auth.h"
#include "base/config.h"
#include "rcomm.h"

typedef struct tp_base tp_t;
typedef struct tp_req tp_req_t;
typedef struct tp_mr tp_mr_t;

/* Opaque to the transport: carried from sender to receiver unchanged. */
typedef struct {
    uint64_t w[3];
} tp_env_t;

typedef void (*tp_cb_t)(tp_req_t *req);

#define TP_REQ_PRIV 128

struct tp_req {
    /* Set by the transport at completion. */
    rcomm_status_t status; /* RCOMM_INPROGRESS while posted */
    size_t len;            /* recv: bytes received; get: bytes read */
    uint64_t result;       /* atomics: value before the operation */
    tp_env_t env;          /* recv: the sender's envelope */
    /* Set by the caller before posting (optional). */
    tp_cb_t cb;
    void *arg;
    /* get: read the target's memory only after every earlier get and atomic
     * of ours to the same peer has read it (a seqlock's version, then its
     * data). Verbs holds the READ back until those have completed (separate
     * READs may be served out of order; not IBV_SEND_FENCE, whose wake-up
     * soft-RoCE can lose, stalling the queue pair); TCP serves a peer's
     * requests in order anyway. */
    uint8_t fence;
    /* recv: a watch on its peer, on a tag nobody sends to (coll/health.c).
     * It completes only when the peer fails or closes, and is not counted
     * among the failed operations then: a peer that closes normally while
     * only watches wait for it is no error. */
    uint8_t watch;
    /* Transport-private: queue links, progress state. */
    _Alignas(16) unsigned char priv[TP_REQ_PRIV];
};

/* Remote access rights of an exposed region. */
enum {
    TP_LOCAL = 0,
    TP_REMOTE_READ = 1 << 0,
    TP_REMOTE_WRITE = 1 << 1,
    TP_REMOTE_ATOMIC = 1 << 2,
    /* Not a remote right: the region holds message buffers, so a transport
     * that writes received messages straight into place (verbs) may give the
     * matched sender write access to it. Never part of an rkey's rights. */
    TP_MESSAGES = 1 << 3,
};

/* Common head of every transport's region; the rest is the transport's. */
struct tp_mr {
    tp_t *tp;
};

/* What a peer needs to access a region: sent to it by the upper layer. */
typedef struct {
    uint64_t addr; /* base address in the owner's address space */
    uint64_t len;
    uint64_t key; /* transport-defined (rkey for verbs, region id for tcp) */
    /* A composed transport's (tp_multi_create) key for its second instance:
     * shared memory's, when key is the network's. 0 otherwise. */
    uint64_t key2;
} tp_rkey_t;

/* Called from progress() when a message arrives with no matching receive.
 * It may not post or cancel operations; it may record state. */
typedef void (*tp_unexpected_fn)(void *arg, int peer, uint64_t tag, const tp_env_t *env,
                                 size_t len);

/* Called from progress() when a peer's put_notify has landed: its bytes are
 * in place. imm is the peer's value, < TP_NOTIFY_LIMIT (the transport drops
 * a peer that sends a larger one). Like on_unexpected it may record state;
 * it must not post or cancel operations. */
typedef void (*tp_notify_fn)(void *arg, int peer, uint32_t imm);
#define TP_NOTIFY_LIMIT (1u << 31)

typedef struct {
    int rank;
    int size;
    const base_config_t *cfg; /* tunables (socket buffers, eager limit...) */
    int timeout_ms;           /* for connect(); operations are timed by the caller */
    /* The job key every connection must prove before it is believed, and
     * how long a new connection has to do it. */
    const auth_key_t *key;
    int handshake_ms;
    /* Host address to publish in local_addr ("" = let the transport choose). */
    const char *host;
    tp_unexpected_fn on_unexpected;
    void *unexpected_arg;
    tp_notify_fn on_notify; /* NULL: notifications are dropped */
    void *notify_arg;
    /* The peers this instance serves: serves[r] != 0 for each rank r it
     * connects to and carries traffic with (serves[rank] is ignored); size
     * entries, read by create() only. NULL: every other rank. Instances that
     * split the peers between them (of one transport or of several) can
     * serve one communicator. */
    const uint8_t *serves;
} tp_params_t;

/* What a transport does natively, and the link the perf tools grade
 * against (caps() below). */
typedef struct {
    bool native_rma; /* put/get by the NIC; false: emulated by the peer's progress */
    /* fetch_add/compare_swap with no work for the target's CPU: by the NIC
     * (verbs), or by the initiator on memory from tp_heap_alloc (shm) */
    bool native_atomics;
    double link_gbs; /* the link's data rate in GB/s; 0: unknown */
    char link[224];  /* where link_gbs comes from, or why it is unknown */
    /* The CPUs near the device as a list ("0-7,16-23"); "" when it has no
     * locality (TCP, soft-RoCE) or it is unknown. The progress thread is
     * bound near it (RCOMM_PROGRESS_CPU=auto). */
    char near_cpus[128];
    /* The transport whose link the above describes ("tcp", "shm",
     * "verbs"): a composed transport's slowest. */
    char name[16];
} tp_caps_t;

/* Counters every transport keeps; see rcomm_stats_t. */
typedef rcomm_stats_t tp_stats_t;

/* Common head of every transport instance. */
struct tp_base {
    const struct tp_ops *ops;
    int rank;
    int size;
    tp_unexpected_fn on_unexpected;
    void *unexpected_arg;
    tp_notify_fn on_notify;
    void *notify_arg;
    tp_stats_t stats;
    /* Bumped whenever bytes moved or a completion came, even mid-message:
     * a waiting caller keeps polling while it changes (comm_wait_step). */
    uint64_t traffic;
    /* [size]: bumped whenever bytes moved to or from that peer, even
     * mid-message (TCP; verbs on completions): a collective whose peers
     * still move bytes is slow, not stuck (coll.c check_timeout). */
    uint64_t *moved;
    uint8_t *serves; /* [size]: a copy of params->serves; NULL: every other rank */
};

/* Does tp carry traffic with peer (a valid rank)? */
static inline bool tp_serves(const tp_t *tp, int peer)
{
    return peer != tp->rank && (!tp->serves || tp->serves[peer]);
}

typedef struct tp_ops {
    size_t size; /* sizeof(tp_ops_t): catches stale tables */
    const char *name;

    /* Create the local endpoint (listen, open device). Blocking, local. */
    rcomm_status_t (*create)(const tp_params_t *params, tp_t **tp);
    /* Write this endpoint's address blob (at most *len bytes) and set *len.
     * Other ranks pass it to connect(). buf NULL: only set *len to the size
     * needed (the same on every rank of a job). */
    rcomm_status_t (*local_addr)(tp_t *tp, void *buf, size_t *len);
    /* Connect to every peer it serves, given every rank's address blob
     * (addrs[rank] is ours; the blobs of peers it does not serve may be NULL
     * with length 0, and are not read). Collective: every rank it serves
     * calls it; blocks until every connection is up or the timeout expires
     * (the error names the missing peers). Called once; after a failure the
     * transport can only be destroyed. */
    rcomm_status_t (*connect)(tp_t *tp, const void *const *addrs, const size_t *lens);
    /* Close every connection gracefully and free everything. Outstanding
     * requests are dropped without callbacks. Never fails. reason is RCOMM_OK
     * for a normal close, or the error that made the communicator fail: peers
     * complete their requests involving us with it (RCOMM_OK there becomes
     * RCOMM_ERR_PEER_FAILED), so an error decided on one rank reaches the
     * others as the same status instead of as a lost connection. why (may be
     * NULL) is the failure's message; peers quote it in theirs, so that a
     * rank that fails because a neighbour failed still names the cause. */
    void (*destroy)(tp_t *tp, rcomm_status_t reason, const char *why);

    /* Two-sided. len may be 0. */
    rcomm_status_t (*isend)(tp_t *tp, int peer, uint64_t tag, const tp_env_t *env,
                            const void *buf, size_t len, tp_req_t *req);
    /* Receive up to len bytes; a longer message fails with RCOMM_ERR_PROTOCOL,
     * with req->env and req->len set from it all the same. */
    rcomm_status_t (*irecv)(tp_t *tp, int peer, uint64_t tag, void *buf, size_t len,
                            tp_req_t *req);
    /* Withdraw a posted receive that has not started to land. Returns OK and
     * the request is never completed, or INPROGRESS if data is landing (it
     * will complete), or INVALID_ARG if not posted. */
    rcomm_status_t (*cancel)(tp_t *tp, tp_req_t *req);

    /* Memory exposed to peers for one-sided access. */
    rcomm_status_t (*mem_reg)(tp_t *tp, void *addr, size_t len, unsigned access,
                              tp_mr_t **mr);
    rcomm_status_t (*mem_rkey)(const tp_mr_t *mr, tp_rkey_t *rkey);
    /* The region must have no one-sided operation of ours in flight. */
    rcomm_status_t (*mem_dereg)(tp_t *tp, tp_mr_t *mr);

    /* One-sided, completed when the target has applied them. raddr is an
     * address inside the region described by rkey. */
    rcomm_status_t (*put)(tp_t *tp, int peer, const void *buf, size_t len,
                          const tp_rkey_t *rkey, uint64_t raddr, tp_req_t *req);
    rcomm_status_t (*get)(tp_t *tp, int peer, void *buf, size_t len,
                          const tp_rkey_t *rkey, uint64_t raddr, tp_req_t *req);
    /* put, then tell the target: once the bytes are in place, its progress()
     * calls on_notify(notify_arg, our rank, imm). A peer's notifications
     * come in the order it posted them, each after the bytes of every put it
     * posted before (verbs: RDMA WRITE WITH IMMEDIATE on the RC queue pair,
     * which consumes a receive there; TCP: a flag on the PUT frame). So one
     * request both moves the data and wakes the target: no atomic, no
     * message behind it. imm < TP_NOTIFY_LIMIT (else INVALID_ARG); len may
     * be 0 (a notification alone). A put the region refuses (ACCESS)
     * notifies nothing. */
    rcomm_status_t (*put_notify)(tp_t *tp, int peer, const void *buf, size_t len,
                                 const tp_rkey_t *rkey, uint64_t raddr, uint32_t imm,
                                 tp_req_t *req);
    /* 64-bit, raddr 8-byte aligned; req->result gets the old value.
     * Atomic with respect to each other's operations through the same
     * instance, and to the target CPU's atomic instructions where the
     * transport uses the CPU (TCP and shm: the target's progress or, on
     * memory from tp_heap_alloc, the initiator). Verbs uses the HCA, whose
     * atomics are not atomic with respect to the CPU's (IBV_ATOMIC_HCA): in a
     * composed job, do not aim verbs atomics and shm or CPU ones at one word. */
    rcomm_status_t (*fetch_add)(tp_t *tp, int peer, const tp_rkey_t *rkey, uint64_t raddr,
                                uint64_t add, tp_req_t *req);
    rcomm_status_t (*compare_swap)(tp_t *tp, int peer, const tp_rkey_t *rkey,
                                   uint64_t raddr, uint64_t compare, uint64_t swap,
                                   tp_req_t *req);

    /* A pointer to [raddr, raddr + len) of the peer's region in this
     * process's address space: the peer's memory itself, mapped here, so
     * that loads, stores and atomics through it reach the peer with no call
     * of the transport and no work of either CPU beyond them (UCX's
     * ucp_rkey_ptr). access is TP_REMOTE_READ, TP_REMOTE_WRITE or both, each
     * of which the region must grant (else RCOMM_ERR_ACCESS, as for a get or
     * put there). Returns RCOMM_ERR_UNSUPPORTED, with *ptr NULL, where no
     * such mapping exists: TCP and verbs, and shm unless the peer took the
     * region from tp_heap_alloc and its descriptors can be taken here (see
     * shm.h), or when too many of the peer's files are held already. The
     * mapping lasts until destroy(), even if the peer deregisters or frees
     * the region (stores then reach memory nobody reads). Ordering between
     * the processes is the caller's: C11 atomics on the mapping order as
     * they do between threads. Local, never blocks. */
    rcomm_status_t (*rkey_ptr)(tp_t *tp, int peer, const tp_rkey_t *rkey, uint64_t raddr,
                               size_t len, unsigned access, void **ptr);
    /* Give back a pointer rkey_ptr returned for peer: its mapping may then
     * go when room is needed, once no other pointer into it is held (one
     * release per rkey_ptr). For memory needed a while (a collective's
     * buffers), which would otherwise keep every file a peer ever used
     * mapped. The pointer must not be used after. Anything else is ignored.
     * Local, never fails; a no-op where rkey_ptr maps nothing. */
    void (*rkey_ptr_release)(tp_t *tp, int peer, void *ptr);

    /* Fill *caps. Local, never fails (an unknown link rate is 0 with the
     * reason in caps->link). */
    void (*caps)(tp_t *tp, tp_caps_t *caps);

    /* Move data and complete requests. Waits up to timeout_ms for something
     * to happen when nothing is ready (0 = poll once, never sleep; negative =
     * no limit). Returns OK, or an error only for a failure of the transport
     * as a whole; peer failures are reported through the requests. */
    rcomm_status_t (*progress)(tp_t *tp, int timeout_ms);
    /* A file descriptor to poll() for readability, so that the caller can
     * sleep until the transport has something to do (and wait for other
     * descriptors at the same time) instead of sleeping inside progress().
     * Ask right before sleeping, after progress(): the transport may arm its
     * notifications here and move data, but never reports a completion.
     * Returns -1 when there is nothing to sleep on now: work is pending (call
     * progress() at once), or the transport cannot wait on a descriptor in
     * its mode (verbs without RCOMM_IB_POLL=event); the caller then sleeps
     * inside progress(timeout_ms). Readable means "call progress()", not
     * that a request completes. The descriptor is the transport's (never
     * read or close it) and stays the same until destroy(). Local, never
     * blocks. */
    int (*wait_fd)(tp_t *tp);
} tp_ops_t;

/* The checks every post makes before anything else: the transport is
 * connected, req is set, peer is another rank of the job that this instance
 * serves. INVALID_ARG with a message naming this rank, what was posted
 * ("send to", "receive from"), the peer and, for a peer served elsewhere,
 * the transport. Shared by every transport (registry.c). */
rcomm_status_t tp_check_post(const tp_t *tp, bool connected, int peer, const void *req,
                             const char *what);

/* Transport lookup by name ("tcp", "verbs"). NULL when there is none, or
 * when its table is incomplete (a bug: logged as RCOMM_ERR_INTERNAL). */
const tp_ops_t *tp_find(const char *name);

/* The verbs device this process would open (RCOMM_IB_HCA from cfg, else
 * the active one nearest the calling thread's CPUs), for tools such as
 * rcomm-info that must not open a transport: its name and port ("rxe0
 * port 1"), its locality as a CPU list (tp_caps_t.near_cpus: "" none) and
 * why it is the one, in words. RCOMM_ERR_UNSUPPORTED when rcomm has no
 * verbs transport or there is no active device (the message says which;
 * nothing is logged). */
rcomm_status_t tp_verbs_device(const base_config_t *cfg, char *name, size_t namelen,
                               char *near, size_t nearlen, char *why, size_t whylen);

/* One transport made of several instances that split the peers: peer r is
 * served by ops[which[r]] (a copy of which is kept; 0xff: by none). Every
 * op goes to the peer's instance; regions are registered with every
 * instance that serves a peer (one that serves nobody, such as verbs when
 * every rank shares this host, would only pin the memory), and the rkey
 * carries the first two instances' keys (key, key2; 0 for an instance
 * without the region), so at most TP_MULTI_MAX instances. Its address blob
 * is the instances' blobs one after the other, each behind its 4-byte
 * length. Progress polls every instance, and wait_fd is an epoll set of
 * theirs. Counters (traffic, moved, stats) are the instances' together. */
#define TP_MULTI_MAX 2
rcomm_status_t tp_multi_create(const tp_params_t *params, const tp_ops_t *const *ops,
                               int n, const uint8_t *which, tp_t **out);

/* What identifies this host for shared memory: the shm transport serves
 * ranks whose identities are equal (its shm.h says what goes in). false
 * when it cannot be told: this rank then shares memory with nobody. */
#define TP_HOST_ID_LEN 48
bool tp_shm_host_id(unsigned char id[TP_HOST_ID_LEN]);

extern const tp_ops_t tp_tcp_ops;
extern const tp_ops_t tp_shm_ops;   /* ranks of one host */
extern const tp_ops_t tp_verbs_ops; /* when built with HAVE_VERBS */

#endif /* RCOMM_TRANSPORT_H */
