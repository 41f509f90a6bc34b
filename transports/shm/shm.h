/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Shared-memory transport: private types.
 *
 * Who it serves. Ranks of one host: the same kernel boot (boot_id), network
 * namespace, PID namespace, /dev/shm and user (shm_host_id). Simulated hosts
 * (network namespaces) are therefore different hosts, and so are containers
 * unless they share all of these. connect() refuses a peer published from
 * another host, naming it.
 *
 * The segment (shm_seg.c). create() makes one POSIX shared-memory segment
 * per rank, "/rcomm-<uid>-<pidns>-<pid>-<n>", mode 0600, holding what the
 * others write to this rank: a header, the rank's region table and one ring
 * per served peer. connect() maps every served peer's segment, writes a
 * HELLO into its ring there and waits for every peer's HELLO in its own
 * rings: then every peer has mapped ours, and create()'s name is unlinked.
 * From then on no name exists, so nothing is left in /dev/shm when a rank
 * is killed, whatever its signal; a name left by a rank killed between
 * create() and connect() is removed by the next create() of the same user
 * and PID namespace that finds its process gone.
 *
 * Rings. Single producer (the peer), single consumer (the owner): records
 * of a 96-byte header (shm_hdr_t) and a payload, 64-byte aligned, written
 * at tail and published by a release store of it; the consumer reads at
 * head and hands the space back with a release store of head. The two
 * counters sit on cache lines of their own and each side caches the other's.
 * A record that would straddle the end is preceded by a PAD. The consumer
 * believes nothing of a record before checking it against the ring: a bad
 * length or type fails the peer with PROTOCOL.
 *
 * Messages. Up to RCOMM_SHM_EAGER bytes a SEND carries the payload (copied
 * in and out: two copies; an unexpected one is buffered). A longer message
 * is an RTS {tag, envelope, size, the sender's address}: once its receive
 * is matched, the receiver copies the data straight out of the sender's
 * memory with process_vm_readv (Linux cross-memory attach: one copy) and
 * answers FIN; the send completes then. Where cross-memory attach is not
 * allowed (ptrace rules: Yama, containers' seccomp; probed per peer at
 * connect, or RCOMM_SHM_CMA=0) the receiver answers CTS instead and the
 * sender streams DATA records through the ring: two copies, in chunks of
 * SHM_CHUNK so that copy-in and copy-out overlap.
 *
 * One-sided operations. A region's entry sits in the owner's table in its
 * segment (key = generation << 32 | slot + 1), so an initiator checks key,
 * range and rights itself, under the entry's key read twice. With
 * cross-memory attach a put or get is then one process_vm_writev/readv, in
 * the initiator, with no work for the target's CPU; put_notify adds a
 * NOTIFY record behind it. Without, PUT records carry the data and the
 * target's progress copies it (PUT_ACK answers), GET_REQ is answered by
 * GET_DATA records. Atomics are ATOMIC records applied by the target's
 * progress with the CPU's atomic instructions (as in TCP), except on memory
 * from tp_heap_alloc (shm_map.c).
 *
 * Memory the peers map (shm_map.c). tp_heap_alloc (transports/util/heap.h)
 * gives each allocation a memfd of its own, kept open; a region registered
 * inside one records in its entry the descriptor's number, the file's inode
 * and the region's offset in it. A peer's first operation on such a region takes the
 * descriptor with pidfd_getfd (the ptrace permission that cross-memory
 * attach needs too), checks that it is a regular file with that inode and
 * room for the operation, and maps the whole file. From then on its puts
 * and gets there are memcpy and its atomics the CPU's own instructions, in
 * the initiator, completed at once. A peer keeps SHM_MAPS files mapped, the
 * least recently used going first, except those rkey_ptr handed out a
 * pointer into: they stay until destroy(). A freed allocation lives on in the
 * mappings of peers that still hold it, so a late operation lands in memory
 * nobody reads rather than in memory reused for something else.
 *
 * Order. Posts to a peer are carried out in posting order: a post goes
 * straight to the ring (or, for one-sided operations with cross-memory
 * attach, to the peer's memory) only when nothing waits before it, else it
 * joins the peer's tx queue, which progress() flushes as the ring drains.
 * Answers made inside progress() (CTS, FIN, acknowledgements, GET_DATA)
 * join the same queue. A fenced get waits there until the atomics and gets
 * before it have completed.
 *
 * Waiting and failure. A rank about to sleep sets its segment's sleeping
 * word; a producer that publishes a record and finds it set sends one
 * datagram to the rank's doorbell (an abstract unix socket of the network
 * namespace). A producer that finds the ring full sets the ring's
 * want_space word, and the consumer rings its bell once it has freed room,
 * so a blocked sender sleeps too instead of polling. wait_fd() is an epoll set of the
 * doorbell and a pidfd per peer, so a sleeping rank also wakes when a peer exits. A peer
 * that exits without a BYE record fails with PEER_FAILED within SHM_DEATH_NS of its death
 * (progress checks the pidfds that often); destroy() writes BYE with its reason, quoted
 * by the peer like TCP's GOODBYE.
 */
#ifndef RCOMM_SHM_H
#define RCOMM_SHM_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "base/fifo.h"
#include "transports/transport.h"
#include "transports/util/match.h"
#include "transports/util/peer.h"
#include "transports/util/rma.h"

#define SHM_MAGIC 0x72636d73686d3031ull /* "rcmshm01" */
#define SHM_VERSION 2
#define SHM_HDR_LEN 96
#define SHM_ALIGN 64
#define SHM_MAX_MRS 1024
#define SHM_MAPS 16 /* files of a peer's heap kept mapped */
#define SHM_BYE_TEXT_MAX 200
#define SHM_DEATH_NS (20 * 1000000ull) /* how often progress checks for dead peers */

/* Record types. */
enum {
    SHM_PAD = 1, /* skip to the ring's start */
    SHM_HELLO,
    SHM_BYE,         /* status, text */
    SHM_SEND,        /* tag, env, payload */
    SHM_RTS,         /* tag, env, size, addr, id */
    SHM_CTS,         /* id */
    SHM_DATA,        /* id, off, size, payload */
    SHM_FIN,         /* id, status */
    SHM_PUT,         /* id, key, addr, size, off, flags, imm, payload */
    SHM_PUT_ACK,     /* id, status, imm = tp_acc_t */
    SHM_GET_REQ,     /* id, key, addr, size */
    SHM_GET_DATA,    /* id, off, status, imm = tp_acc_t, payload */
    SHM_NOTIFY,      /* imm */
    SHM_ATOMIC,      /* id, key, addr, flags = tp_rma_t, a, b */
    SHM_ATOMIC_RESP, /* id, status, imm = tp_acc_t, a = old value */
    SHM_NTYPES
};

/* Record flags. */
enum { SHM_F_LAST = 1, SHM_F_NOTIFY = 2, SHM_F_REFUSED = 4 };

typedef struct {
    uint32_t len; /* payload bytes after the header */
    uint8_t type;
    uint8_t flags;
    uint16_t pad;
    int32_t status;
    uint32_t imm;
    uint64_t id;
    uint64_t size;
    uint64_t off;
    uint64_t tag; /* SEND/RTS: tag; one-sided: the region key */
    uint64_t addr;
    uint64_t a, b;
    tp_env_t env;
} shm_hdr_t;
_Static_assert(sizeof(shm_hdr_t) == SHM_HDR_LEN, "shm header layout");

typedef struct {
    _Alignas(64) _Atomic uint64_t tail; /* producer */
    _Atomic uint32_t want_space;        /* producer: ring my bell when you free some */
    _Alignas(64) _Atomic uint64_t head; /* consumer */
    _Alignas(64) unsigned char data[];  /* ring bytes, then the next ring */
} shm_ring_t;

/* A region's entry; key 0 = free. */
typedef struct {
    _Atomic uint64_t key;
    uint64_t base;
    uint64_t len;
    uint64_t access;
    /* Inside memory from tp_heap_alloc: the memfd's descriptor in the owner
     * (else -1), its inode and the region's offset in it. */
    int64_t fd;
    uint64_t ino;
    uint64_t off;
} shm_mrent_t;

/* What an initiator read of an entry (lookup in shm_rma.c). */
typedef struct {
    uint64_t base, len;
    int64_t fd;
    uint64_t ino, off;
} shm_view_t;

/* A peer's allocation that we map. */
typedef struct {
    uint64_t ino; /* 0: unused */
    void *addr;
    size_t len;
    uint64_t used; /* for least recently used */
    uint32_t pins; /* rkey_ptr's pointers not released: kept while > 0 */
} shm_map_t;

/* The head of a segment; ring_of, the region table and the rings follow. */
typedef struct {
    uint64_t magic;
    uint32_t version;
    int32_t rank, size;
    int32_t nrings;
    uint64_t ring_bytes;
    unsigned char nonce[16];
    _Alignas(64) _Atomic uint32_t sleeping; /* the owner may sleep: ring its doorbell */
} shm_seghdr_t;

/* What identifies a host for shared memory (shm_host_id). */
typedef struct {
    unsigned char boot_id[16];
    uint64_t netns, pidns, shm_dev;
    uint32_t uid;
    uint32_t pad;
} shm_hostid_t;

/* The address blob. */
typedef struct {
    uint64_t magic;
    uint32_t version;
    int32_t rank;
    uint32_t pid;
    int32_t probe_fd; /* a descriptor of ours, to probe pidfd_getfd with */
    unsigned char nonce[16];
    shm_hostid_t host;
    uint64_t probe; /* our segment's nonce, in our address space (the CMA probe) */
    char name[64];  /* the segment's name */
} shm_addr_t;

/* Per-request state, in tp_req_t.priv (and malloc'd for answers made by
 * progress(), which carry SHM_OP_CTL). */
enum { SHM_OP_SEND = 1, SHM_OP_RECV, SHM_OP_PUT, SHM_OP_GET, SHM_OP_ATOMIC, SHM_OP_CTL };
enum { SHM_O_FENCE = 1, SHM_O_NOTIFY = 2, SHM_O_OWNBUF = 4, SHM_O_STREAM = 8 };

typedef struct {
    tp_op_t op; /* must be first (match.h) */
    uint8_t kind;
    uint8_t rec;   /* the record to write: SEND, RTS, DATA, PUT, ... */
    uint8_t flags; /* SHM_O_* */
    uint8_t rma;   /* tp_rma_t */
    uint32_t imm;
    void *buf;
    uint64_t len;
    uint64_t off; /* bytes written / landed so far */
    uint64_t id;  /* ours (sends, one-sided), or the peer's (answers, rx) */
    uint64_t key, raddr;
    uint64_t a, b;
    tp_env_t env;
    void *direct; /* raddr in our mapping of the peer's memory, or NULL */
} shm_op_t;
_Static_assert(sizeof(shm_op_t) <= TP_REQ_PRIV, "shm op fits tp_req_t.priv");

static inline shm_op_t *shm_op(tp_req_t *req)
{
    return (shm_op_t *)req->priv;
}
static inline shm_op_t *shm_op_of(tp_op_t *op)
{
    return (shm_op_t *)op;
}

/* A message held before its receive: a SEND's copy or an RTS. */
typedef struct {
    tp_unexp_t ux; /* must be first */
    uint8_t type;  /* SHM_SEND or SHM_RTS */
    uint64_t id, addr;
    unsigned char data[];
} shm_ux_t;

typedef struct {
    int rank;
    bool connected; /* HELLO sent (segment mapped) */
    bool hello;     /* its HELLO seen in our ring */
    bool cma;       /* cross-memory attach to it works */
    bool getfd;     /* pidfd_getfd on it works: we may map its heap */
    bool goodbye;
    uint32_t pid;
    int pidfd;
    tp_fail_t fail;
    tp_match_t m;
    /* Its segment (we produce into ring tx there) and our ring from it. */
    void *seg;
    size_t seg_len;
    shm_seghdr_t *shdr;
    shm_mrent_t *mrs; /* its region table */
    shm_ring_t *tx;
    size_t tx_bytes;           /* its ring's size */
    uint64_t tx_tail, tx_head; /* ours, and the last head we read */
    uint64_t tx_next;          /* the tail once the reserved record is committed */
    shm_ring_t *rx;
    uint64_t rx_head;
    shm_hdr_t rxh;           /* a private copy of the record being read */
    struct sockaddr_un bell; /* its doorbell */
    socklen_t bell_len;
    tp_opq_t txq;        /* posts and answers waiting for the ring, in order */
    tp_opq_t waiting;    /* answered later: rendezvous sends, one-sided ops */
    tp_opq_t rndv_rx;    /* receives granted a CTS, DATA to come */
    unsigned inflight;   /* gets and atomics on waiting (fences wait for them) */
    uint64_t refused_id; /* fallback PUT: the id a piece of was refused */
    uint8_t refused_why;
    shm_map_t maps[SHM_MAPS];
} shm_peer_t;

typedef struct {
    tp_t base;
    const base_config_t *cfg;
    size_t eager, ring_bytes;
    bool cma_allowed; /* RCOMM_SHM_CMA */
    bool connected;
    int timeout_ms;
    shm_peer_t *peers;
    /* Our segment. */
    char name[64];
    bool named; /* the name still exists in /dev/shm */
    void *seg;
    size_t seg_len;
    shm_seghdr_t *shdr;
    int32_t *ring_of;
    shm_mrent_t *mrs;
    shm_ring_t *rings; /* the first of nrings */
    unsigned char nonce[16];
    shm_hostid_t host;
    int bell_fd; /* our doorbell; also sends to the peers' */
    int epfd;    /* the doorbell and every peer's pidfd */
    uint64_t next_id;
    uint64_t next_death_check;
    uint64_t polls;
    uint32_t gen[SHM_MAX_MRS];
    struct shm_mr *mr_of[SHM_MAX_MRS]; /* ours, freed by destroy if still there */
    tp_opq_t done;
    uint64_t map_clock;
} shm_tp_t;

typedef struct shm_mr {
    tp_mr_t head;
    uint32_t slot;
    uint64_t key;
    void *base;
    size_t len;
} shm_mr_t;

static inline shm_tp_t *shm_tp(tp_t *tp)
{
    return (shm_tp_t *)tp;
}

/* shm_seg.c */
rcomm_status_t shm_host_id(shm_hostid_t *id, char *why, size_t whylen);
/* A zombie (exited, not yet reaped by its parent) is not alive. */
bool shm_pid_alive(long pid);
void shm_host_describe(const shm_hostid_t *id, char *buf, size_t len);
rcomm_status_t shm_seg_create(shm_tp_t *tp);
void shm_seg_unlink(shm_tp_t *tp);
rcomm_status_t shm_seg_open(shm_tp_t *tp, shm_peer_t *p, const shm_addr_t *a);
shm_ring_t *shm_ring_at(void *rings, size_t ring_bytes, int i);
/* Producer: space for a record of payload len, or NULL when the ring is full
 * now. shm_ring_commit publishes it (and rings the owner's doorbell). */
shm_hdr_t *shm_ring_reserve(shm_tp_t *tp, shm_peer_t *p, size_t len);
void shm_ring_commit(shm_tp_t *tp, shm_peer_t *p, shm_hdr_t *h);
/* Consumer: the next record, checked, or NULL (empty; *bad set on a
 * malformed one, with the reason); shm_ring_release hands it back. */
const shm_hdr_t *shm_ring_peek(shm_tp_t *tp, shm_peer_t *p, const unsigned char **payload,
                               char *bad, size_t badlen);
void shm_ring_release(shm_peer_t *p, const shm_hdr_t *h);
bool shm_rings_pending(shm_tp_t *tp);
size_t shm_chunk(const shm_tp_t *tp);

/* shm_map.c */
/* May we map p's memory? Probe with the descriptor it published. */
bool shm_probe_getfd(const shm_peer_t *p, int32_t fd);
/* raddr (len bytes) of the region v in our mapping of p's memory, mapping
 * it on first use; NULL when it is not mapped memory or cannot be mapped
 * now (the operation then takes the other way). pin keeps the mapping until
 * shm_map_unpin (rkey_ptr); an unpinned one may be replaced by another. */
void *shm_map_direct(shm_tp_t *tp, shm_peer_t *p, const shm_view_t *v, uint64_t raddr,
                     uint64_t len, bool pin);
/* One pin fewer on the mapping of p's memory that holds ptr, if any. */
void shm_map_unpin(shm_peer_t *p, const void *ptr);
void shm_maps_drop(shm_peer_t *p);

/* shm_progress.c */
rcomm_status_t shm_progress(tp_t *base, int timeout_ms);
int shm_wait_fd(tp_t *base);
void shm_peer_fail(shm_tp_t *tp, shm_peer_t *p, rcomm_status_t status, const char *fmt,
                   ...) __attribute__((format(printf, 4, 5)));
void shm_complete(shm_tp_t *tp, shm_op_t *op, rcomm_status_t status);
/* Queue op on p's tx queue (or write it now if nothing waits) */
void shm_tx(shm_tp_t *tp, shm_peer_t *p, shm_op_t *op);
/* An answer of progress() (SHM_OP_CTL), to fill and queue; NULL when out
 * of memory (the peer is failed). */
shm_op_t *shm_ctl_new(shm_tp_t *tp, shm_peer_t *p, uint8_t rec, uint64_t id);
/* An answer of progress(): queued like a post, freed once written. */
void shm_answer(shm_tp_t *tp, shm_peer_t *p, uint8_t rec, uint64_t id, int32_t status,
                uint32_t imm, uint64_t a);
void shm_flush(shm_tp_t *tp, shm_peer_t *p);
shm_op_t *shm_find_id(tp_opq_t *q, uint64_t id, bool unlink);
void shm_dispatch(shm_tp_t *tp, shm_peer_t *p, const shm_hdr_t *h,
                  const unsigned char *pl);
bool shm_peer_gone(const shm_peer_t *p);
/* Write BYE with reason and why (the peer quotes it), waiting a little for
 * room in a full ring; nothing to a peer that said BYE itself. */
void shm_say_bye(shm_tp_t *tp, shm_peer_t *p, rcomm_status_t reason, const char *why);

/* shm_msg.c */
rcomm_status_t shm_isend(tp_t *base, int peer, uint64_t tag, const tp_env_t *env,
                         const void *buf, size_t len, tp_req_t *req);
rcomm_status_t shm_irecv(tp_t *base, int peer, uint64_t tag, void *buf, size_t len,
                         tp_req_t *req);
rcomm_status_t shm_cancel(tp_t *base, tp_req_t *req);
/* Write the next record(s) of a message op: false when the ring is full. */
bool shm_msg_write(shm_tp_t *tp, shm_peer_t *p, shm_op_t *op);
void shm_rx_msg(shm_tp_t *tp, shm_peer_t *p, const shm_hdr_t *h, const unsigned char *pl);

/* shm_rma.c */
rcomm_status_t shm_put(tp_t *base, int peer, const void *buf, size_t len,
                       const tp_rkey_t *rkey, uint64_t raddr, tp_req_t *req);
rcomm_status_t shm_get(tp_t *base, int peer, void *buf, size_t len, const tp_rkey_t *rkey,
                       uint64_t raddr, tp_req_t *req);
rcomm_status_t shm_put_notify(tp_t *base, int peer, const void *buf, size_t len,
                              const tp_rkey_t *rkey, uint64_t raddr, uint32_t imm,
                              tp_req_t *req);
rcomm_status_t shm_fetch_add(tp_t *base, int peer, const tp_rkey_t *rkey, uint64_t raddr,
                             uint64_t add, tp_req_t *req);
rcomm_status_t shm_compare_swap(tp_t *base, int peer, const tp_rkey_t *rkey,
                                uint64_t raddr, uint64_t compare, uint64_t swap,
                                tp_req_t *req);
rcomm_status_t shm_rkey_ptr(tp_t *tp, int peer, const tp_rkey_t *rkey, uint64_t raddr,
                            size_t len, unsigned access, void **ptr);
void shm_rkey_ptr_release(tp_t *tp, int peer, void *ptr);
/* Carry out or write a one-sided op: false when it must wait (ring full,
 * or a fence). */
bool shm_rma_write(shm_tp_t *tp, shm_peer_t *p, shm_op_t *op);
void shm_rx_rma(shm_tp_t *tp, shm_peer_t *p, const shm_hdr_t *h, const unsigned char *pl);
/* A region goes away: gets streaming from it keep a copy. */
bool shm_rma_forget(shm_tp_t *tp, const void *base, size_t len);

extern const tp_ops_t tp_shm_ops;

#endif /* RCOMM_SHM_H */
