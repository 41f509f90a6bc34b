/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Verbs transport: private types and the wire protocol.
 *
 * Setup (verbs_dev.c, verbs_iface.c). create() picks the device and port
 * (RCOMM_IB_HCA=dev[:port], else of the devices with an ACTIVE port the one
 * nearest the caller's CPUs, else the first: vx_choose_device), the GID (on RoCE a
 * v2 GID of an IPv4 address, RCOMM_IB_GID_INDEX overrides) and takes the
 * path MTU from the port's active MTU. It opens one PD and one CQ and one RC
 * QP per peer, posts every QP's receives and registers a control region:
 * one 64-bit credit word per peer. local_addr() publishes {LID, GID, PSN,
 * control region, QPN per peer}; connect() moves every QP to RTR and RTS
 * with the peer's numbers and completes a HELLO exchange on each QP, so that
 * a successful connect() means every peer can receive. An instance serving
 * a subset of the peers (params->serves) creates and connects QPs for those
 * only, and publishes QPN 0 for the others. With
 * RCOMM_IB_USE_RDMA_CM=1 librdmacm connects the QPs instead (verbs_cm.c).
 *
 * Messages. Every SEND carries a vx_hdr_t. A message of at most
 * RCOMM_IB_EAGER bytes goes eagerly: header and payload in one SEND, inline
 * when it fits the QP's inline limit, else gathered from the user's buffer
 * when that is registered, else copied into a registered send slot. The
 * receiver's SEND lands in a pre-posted receive slot and is copied out
 * (counted in bytes_copied). A longer message is a rendezvous, so its bytes
 * are never copied: the sender sends RTS {tag, env, len, op id}; when the
 * matching receive is posted the receiver registers its buffer (explicit
 * registration or the registration cache) and answers CTS {op id, address,
 * rkey, receive id}; the sender RDMA-WRITEs the payload straight into the
 * destination, the last write WITH IMMEDIATE = receive id, whose completion
 * at the receiver completes the receive. A receive too small for the RTS is
 * answered with a refusing CTS (the send completes OK, as on TCP: the
 * mismatch is the application's) and fails with PROTOCOL.
 *
 * Credits. Each QP has rx_depth receive slots. A message that consumes one
 * at the peer (SEND or WRITE WITH IMMEDIATE) needs a credit: credits =
 * (receives the peer has posted for us, which it RDMA-WRITEs into our credit
 * word for it) - (such messages we have sent). Announcing credits by RDMA
 * WRITE consumes no receive at the other side, so credit returns can never
 * deadlock. The last credit is reserved for BYE. Posts that lack a credit, a send slot or
 * send-queue room wait in the peer's outbox, in posting order (that order is what makes
 * messages of one tag match in order).
 *
 * Sleeping. With RCOMM_IB_POLL=event, progress() sleeps on the completion
 * channel (nonblocking) and the rdma_cm channel, and wait_fd() returns one
 * epoll set of both after arming the CQ. While an outbox waits for credits,
 * which come by RDMA WRITE and raise no event, neither sleeps (wait_fd()
 * returns -1); without completion events wait_fd() is always -1.
 *
 * Completions. Every send-queue WQE owns an entry of its QP's ring; wr_id
 * encodes (peer, ring index) or, for receives, (peer, slot). Only WQEs whose
 * completion matters are signalled (rendezvous writes, one-sided ops, sends
 * from user memory), plus one every VX_SIGNAL_EVERY WQEs to retire the rest:
 * a signalled completion retires every earlier entry of its ring (RC
 * completes in order). A failed peer's entries are detached from their
 * requests, so a late flush completion never touches user memory.
 *
 * One-sided. put = RDMA WRITE, get = RDMA READ, fetch_add and compare_swap
 * = the 64-bit atomics into a registered result slot. put_notify = RDMA
 * WRITE whose last chunk is WITH IMMEDIATE = VX_IMM_NOTIFY | imm: it needs a
 * credit, like a message, and its receive completion at the target calls
 * on_notify. A region's rkey
 * carries its rights in the upper 32 bits of tp_rkey_t.key: the
 * initiator refuses a range or right the region does not grant with ACCESS
 * before anything is sent, and the HCA enforces the same rights for keys
 * forged past that check (a remote access error then breaks the QP, which
 * is reported as such).
 *
 * Matching and failure records are transports/util's (match.h, peer.h).
 *
 * Failure. A completion error on a QP fails its peer: every request
 * involving it completes with the mapped status (retry exceeded ->
 * PEER_FAILED, "peer dead or network down"; remote access -> ACCESS), and
 * the message names the peer, the QP number, ibv_wc_status_str() and a
 * hint. destroy() sends BYE {reason, text} to every healthy peer and waits
 * briefly for it to leave; a peer receiving it fails us with that reason.
 * A peer that dies without a BYE (SIGKILL) is noticed only when we send to
 * it, so every second a peer that completed nothing with us gets a
 * zero-length RDMA WRITE (vx_keepalive): to a dead peer's QP it fails with
 * retry exceeded after RCOMM_IB_TIMEOUT x RCOMM_IB_RETRY (about 2 s by
 * default), which fails the peer, naming it, and every request on it (a
 * serving rank's wait for a worker's done message too). A stopped but live
 * process's HCA still answers it.
 */
#ifndef RCOMM_VERBS_H
#define RCOMM_VERBS_H

#include <infiniband/verbs.h>
#include <rdma/rdma_cma.h>
#include <stdbool.h>
#include <stdint.h>

#include "base/fifo.h"
#include "config.h"
#include "transports/transport.h"
#include "transports/util/match.h"
#include "transports/util/peer.h"

#define VX_HDR_LEN 64
#define VX_BYE_TEXT_MAX 200
#define VX_SIGNAL_EVERY 16
#define VX_KEEPALIVE_NS 1000000000ull /* vx_keepalive's period */
#define VX_ERRMSG 256
#define VX_CQ_BATCH 16
/* A WRITE WITH IMMEDIATE's value: a rendezvous receive id, or with this bit
 * a put_notify's value for on_notify (TP_NOTIFY_LIMIT keeps it free). */
#define VX_IMM_NOTIFY 0x80000000u

enum { VX_EAGER = 1, VX_RTS, VX_CTS, VX_HELLO, VX_BYE };
enum { VX_CTS_REFUSE = 1 };

typedef struct {
    uint8_t type;
    uint8_t flags;
    uint16_t text_len; /* BYE: bytes of text after the header */
    int32_t status;    /* BYE: the closer's reason */
    uint64_t tag;
    uint64_t len; /* EAGER: payload; RTS: message; CTS: bytes to write */
    uint64_t id;  /* RTS: the sender's op id; CTS: the same, echoed */
    union {
        tp_env_t env; /* EAGER, RTS */
        struct {
            uint64_t addr;
            uint32_t rkey;
            uint32_t rid; /* immediate data to use */
        } cts;
        struct {
            int32_t src, size;
        } hello;
    } u;
} vx_hdr_t;
_Static_assert(sizeof(vx_hdr_t) <= VX_HDR_LEN, "header must fit VX_HDR_LEN");
/* A header as sent: VX_HDR_LEN bytes, so that the payload follows at the
 * same offset whatever sizeof(vx_hdr_t) is. */
typedef union {
    vx_hdr_t h;
    unsigned char bytes[VX_HDR_LEN];
} vx_wire_t;

typedef enum {
    VX_OP_SEND,
    VX_OP_RECV,
    VX_OP_PUT,
    VX_OP_GET,
    VX_OP_FADD,
    VX_OP_CSWAP,
    VX_OP_CTL, /* transport-made SEND (refusing CTS, BYE): a vx_ctl_t */
} vx_kind_t;

typedef enum {
    VX_S_NEW,     /* send/one-sided: in the outbox, nothing posted yet */
    VX_S_RTS,     /* send: RTS posted, waiting for the CTS */
    VX_S_WRITE,   /* send: CTS received, write waiting in the outbox */
    VX_S_WIRE,    /* WQE posted; its completion completes the op */
    VX_S_POSTED,  /* recv: waiting for a message */
    VX_S_CTS,     /* recv: CTS waiting in the outbox */
    VX_S_LANDING, /* recv: CTS sent, data being written */
    VX_S_DONE,
} vx_state_t;

typedef struct vx_reg vx_reg_t;

/* The transport's view of a request (in tp_req_t.priv). */
typedef struct vx_op {
    tp_op_t h; /* on one list: posted, outbox, rts, dropped or done */
    void *buf;
    size_t len;    /* send, put, get: bytes; recv: capacity */
    vx_reg_t *reg; /* registration of buf held while the HCA uses it */
    uint8_t kind;  /* vx_kind_t */
    uint8_t state; /* vx_state_t */
    uint32_t rid;  /* recv: rendezvous id; send: the CTS's */
    union {
        tp_env_t env; /* send */
        struct {
            uint64_t raddr;
            uint32_t rkey;
        } rma; /* one-sided; send after its CTS */
    } u;
    uint64_t opnd[2]; /* atomics: add, or compare and swap */
} vx_op_t;
_Static_assert(sizeof(vx_op_t) <= TP_REQ_PRIV, "vx_op_t must fit in req->priv");

typedef struct {
    vx_op_t op; /* kind VX_OP_CTL, on the outbox; freed once posted */
    size_t len;
    bool signal; /* BYE: destroy() waits for it to be acknowledged */
    union {      /* what goes: the header, then a BYE's text at VX_HDR_LEN */
        vx_hdr_t h;
        unsigned char bytes[VX_HDR_LEN + VX_BYE_TEXT_MAX];
    } msg;
} vx_ctl_t;

/* A message that arrived before its receive. */
typedef struct vx_unexp {
    tp_unexp_t h;
    uint64_t id; /* RTS: the sender's op id */
    bool rts;    /* no data here: a rendezvous waiting for its receive */
    unsigned char data[];
} vx_unexp_t;

/* One send-queue WQE in flight. */
typedef struct {
    vx_op_t *op;  /* completed by this WQE's completion; NULL = none */
    int32_t slot; /* send slot to free at retirement, -1 = none */
} vx_sqe_t;

/* What a peer publishes about itself (verbs_dev.c packs it). */
typedef struct {
    uint16_t lid;
    uint8_t gid[16];
    uint32_t psn;
    uint64_t ctl_addr; /* its credit words: ours is at + 8 * our rank */
    uint32_t ctl_rkey;
    uint32_t qpn; /* of its QP for us */
    uint32_t ip;  /* rdma_cm mode: where it listens (network order) */
    uint16_t port;
    uint8_t challenge[AUTH_NONCE_LEN]; /* rdma_cm mode: what our request proves */
} vx_remote_t;

typedef struct vx_peer {
    int rank;
    struct ibv_qp *qp;
    struct rdma_cm_id *cm_id;         /* rdma_cm mode: owns qp */
    bool cm_up;                       /* rdma_cm mode: ESTABLISHED */
    uint8_t cm_nonce[AUTH_NONCE_LEN]; /* rdma_cm mode: of our request to it */
    vx_remote_t remote;
    bool hello; /* its HELLO arrived */
    bool bye;   /* it closed with a BYE */

    vx_sqe_t *sq;              /* [sq_depth] ring */
    uint32_t sq_head, sq_tail; /* posted, retired (free-running) */
    uint32_t unsignaled;       /* WQEs since the last signalled one */
    uint32_t reads_out;        /* READs and atomics posted, not yet retired */

    uint64_t tx_used;   /* credit-consuming messages sent */
    uint64_t rx_posted; /* receives posted for it, ever */
    uint64_t rx_told;   /* rx_posted last written into its credit word */
    uint64_t told_src;  /* source of that RDMA WRITE (inline) */

    tp_opq_t outbox;   /* waiting for credit, slot or queue room, in order */
    tp_opq_t rts;      /* sends whose RTS went out, waiting for CTS */
    tp_opq_t dropped;  /* the outbox at close: never posted, freed after BYE */
    tp_match_t m;      /* receives; messages that arrived early */
    bool listed;       /* in tp->busy (outbox not empty or credits to tell) */
    bool bye_posted;   /* nothing more goes out on the QP */
    uint64_t ka_moved; /* base.moved[rank] at the last keepalive tick */

    tp_fail_t fail;
    char bye_text[VX_BYE_TEXT_MAX + 1];
} vx_peer_t;

/* An explicitly registered region (mem_reg), also used for zero copy. */
typedef struct vx_mr {
    tp_mr_t base;
    struct ibv_mr *mr;
    char *addr;
    size_t len;
    unsigned access; /* RCOMM_TP_* */
} vx_mr_t;

/* A registration held by an operation: an explicit region, a cache entry or
 * a one-use registration. */
struct vx_reg {
    uint32_t lkey, rkey;
    vx_mr_t *mr;        /* explicit region (not owned) */
    void *cached;       /* tp_rcache_region_t */
    struct ibv_mr *own; /* one use: deregistered at release */
};

/* A device's locality as a CPU list (tp_caps_t.near_cpus). */
#define VX_NEAR 128

/* The device vx_choose_device picked, open. */
typedef struct {
    struct ibv_context *ctx;
    uint8_t port;
    char name[64];
    char near[VX_NEAR]; /* its locality, "" none */
    char why[256];      /* why this one, in words */
} vx_choice_t;

typedef struct vx_tp {
    tp_t base;
    const base_config_t *cfg;
    int timeout_ms;
    bool events; /* RCOMM_IB_POLL=event */
    bool connect_called, connected;
    bool cm;      /* RCOMM_IB_USE_RDMA_CM=1: QPs connected by librdmacm */
    size_t eager; /* payload limit of an eager message */
    uint32_t rx_depth, sq_depth, max_inline;
    uint64_t max_msg; /* largest single RDMA write */

    struct ibv_context *ctx; /* with cm: librdmacm's, not ours to close */
    struct ibv_pd *pd;
    struct ibv_comp_channel *chan;
    struct ibv_cq *cq;
    int cq_armed;
    int wait_fd;        /* RCOMM_IB_POLL=event: epoll of chan and cm_chan; else -1 */
    uint32_t cq_events; /* to acknowledge */
    uint8_t port;
    enum ibv_mtu mtu;
    int gid_index; /* -1: no GRH (InfiniBand LID routing) */
    uint16_t lid;
    union ibv_gid gid;
    uint32_t psn;
    uint8_t rd_atomic;
    char devname[64];
    char near[VX_NEAR]; /* the device's locality as a CPU list, "" none */

    vx_peer_t *peers;
    /* Receive slots: rx_depth per peer, each VX_HDR_LEN + eager bytes. */
    char *rx_buf;
    struct ibv_mr *rx_mr;
    /* Send slots: headers, copied eager messages, atomic results. */
    char *tx_buf;
    struct ibv_mr *tx_mr;
    int32_t *tx_free;
    uint32_t ntx, ntx_free;
    size_t slot_len;
    /* Credit words, one per peer, written by the peers. */
    volatile uint64_t *credit;
    struct ibv_mr *credit_mr;

    vx_op_t **rdv; /* receives waiting for their data, by rendezvous id */
    uint32_t nrdv;

    int *busy; /* peers with an outbox or credits to tell */
    int nbusy;
    tp_opq_t done;

    vx_mr_t **mrs;
    uint32_t nmrs;
    void *rcache; /* tp_rcache_t */

    /* rdma_cm mode (verbs_cm.c) */
    struct rdma_event_channel *cm_chan;
    struct rdma_cm_id *cm_listen;
    uint32_t cm_ip;                       /* ours, network order */
    uint16_t cm_port;                     /* ours, host order */
    uint8_t cm_challenge[AUTH_NONCE_LEN]; /* published: requests must prove it */
    auth_key_t key;
    uint64_t cm_refused; /* requests that did not prove the key */
    uint64_t cm_due_ns;  /* next look at the event channel while busy polling */
    uint64_t ka_due_ns;  /* next keepalive tick (vx_keepalive) */
} vx_tp_t;

static inline vx_tp_t *vx_tp(tp_t *tp)
{
    return (vx_tp_t *)tp;
}
static inline vx_op_t *vx_op(tp_req_t *req)
{
    return (vx_op_t *)req->priv;
}
static inline tp_req_t *vx_req(vx_op_t *op)
{
    return tp_req_head(&op->h);
}
static inline vx_op_t *vx_op_of(tp_op_t *h)
{
    return (vx_op_t *)h;
}
static inline char *vx_rx_slot(vx_tp_t *tp, int peer, uint32_t i)
{
    return tp->rx_buf + ((size_t)peer * tp->rx_depth + i) * tp->slot_len;
}
static inline char *vx_tx_slot(vx_tp_t *tp, int32_t i)
{
    return tp->tx_buf + (size_t)i * tp->slot_len;
}

/* The HCA writes memory behind valgrind's back: mark what it wrote. */
#ifdef HAVE_VALGRIND_MEMCHECK_H
#include <valgrind/memcheck.h>
#define VX_WRITTEN(p, n) ((void)VALGRIND_MAKE_MEM_DEFINED((p), (n)))
#else
#define VX_WRITTEN(p, n) ((void)0)
#endif

/* wr_id: bit 63 = receive; bits 32..62 = peer; low 32 = ring index or slot. */
#define VX_WR_RECV (1ULL << 63)
static inline uint64_t vx_wr_id(bool recv, int peer, uint32_t idx)
{
    return (recv ? VX_WR_RECV : 0) | (uint64_t)peer << 32 | idx;
}

/* verbs_dev.c */
int vx_mtu_bytes(enum ibv_mtu m);
rcomm_status_t vx_dev_open(vx_tp_t *tp);
/* The device and port the transport opens: RCOMM_IB_HCA's (want, "" unset)
 * or, unset, of the devices with an active port the one nearest this
 * thread's CPUs (base_topo_nearest on their hwloc localities; the first
 * without hwloc). c->ctx is open (the caller closes it); c->why says why in
 * words. Errors name rank (if >= 0) and are logged unless quiet. */
rcomm_status_t vx_choose_device(const char *want, int rank, bool quiet, vx_choice_t *c);
rcomm_status_t vx_qp_create(vx_tp_t *tp, vx_peer_t *p);
rcomm_status_t vx_qp_connect(vx_tp_t *tp, vx_peer_t *p);
size_t vx_addr_len(int size);
void vx_addr_pack(vx_tp_t *tp, unsigned char *buf);
rcomm_status_t vx_addr_unpack(vx_tp_t *tp, int r, const unsigned char *buf, size_t len);
rcomm_status_t vx_buffers_init(vx_tp_t *tp);
void vx_dev_close(vx_tp_t *tp);

rcomm_status_t vx_qp_ready(vx_tp_t *tp, vx_peer_t *p, const struct ibv_qp_init_attr *ia);

/* verbs_iface.c: run step until ready() holds for every peer, one fails, or
 * tp->timeout_ms passes (what names the missing thing: "no HELLO from"). */
rcomm_status_t vx_wait_peers(vx_tp_t *tp, bool (*ready)(const vx_peer_t *p),
                             void (*step)(vx_tp_t *tp), const char *what);
void vx_qp_init_attr(vx_tp_t *tp, struct ibv_qp_init_attr *ia);

/* verbs_cm.c: RCOMM_IB_USE_RDMA_CM=1 */
#define VX_CM_MAGIC 0x52434d32u /* "RCM2": with the job key */

/* Private data of a connection request or reply: 44 bytes (a REQ may carry
 * 56). */
typedef struct {
    uint32_t magic, rank, size;    /* network order */
    uint8_t nonce[AUTH_NONCE_LEN]; /* the dialer's; zero in a reply */
    uint8_t tag[AUTH_TAG_LEN];
} vx_cm_priv_t;

/* After device and GID selection: listen on the port's IPv4 address and
 * switch tp->ctx to librdmacm's context of the same device. */
rcomm_status_t vx_cm_open(vx_tp_t *tp);
/* Connect every QP (lower ranks accept, higher ranks connect), given the
 * peers' addresses in p->remote. */
rcomm_status_t vx_cm_connect(vx_tp_t *tp);
/* Handle connection events (a peer's DISCONNECTED fails it); nonblocking. */
void vx_cm_poll(vx_tp_t *tp);
/* Destroy QPs and identifiers (before the PD and CQ go). */
void vx_cm_close_qps(vx_tp_t *tp);
void vx_cm_close(vx_tp_t *tp);
/* The private data of our connection messages to p (a request when p is a
 * lower rank, with a fresh nonce; else a reply), and the checks of the
 * peers' (priv: len bytes as the CM delivered them). A request yields the
 * rank of its dialer when it proves the key and comes from a higher rank of
 * this job, served and not yet connected; -1 when it does not prove the key
 * (nothing else in it is believed), -2 when it does but is not welcome. */
void vx_cm_priv(vx_tp_t *tp, vx_peer_t *p, vx_cm_priv_t *pd);
int vx_cm_request_rank(const vx_tp_t *tp, const void *priv, size_t len);
bool vx_cm_reply_ok(const vx_tp_t *tp, const vx_peer_t *p, const void *priv, size_t len);

/* verbs_post.c */
void vx_outbox_push(vx_tp_t *tp, vx_peer_t *p, vx_op_t *op);
/* Post what the outbox and credits allow, for every busy peer. */
void vx_flush(vx_tp_t *tp);
/* Once every VX_KEEPALIVE_NS: a zero-length RDMA WRITE to each connected
 * peer that completed nothing with us since the last tick (verbs_post.c). */
void vx_keepalive(vx_tp_t *tp);
rcomm_status_t vx_post_recv(vx_tp_t *tp, vx_peer_t *p, uint32_t slot);
int32_t vx_slot_get(vx_tp_t *tp);
void vx_slot_put(vx_tp_t *tp, int32_t slot);
/* Queue a transport-made message (header + optional text) for p. */
rcomm_status_t vx_ctl_send(vx_tp_t *tp, vx_peer_t *p, const vx_hdr_t *h, const char *text,
                           size_t text_len, bool signal);

/* verbs_progress.c */
rcomm_status_t vx_progress(tp_t *tp, int timeout_ms);
/* RCOMM_IB_POLL=event: the epoll set of the completion and connection
 * channels, with the CQ armed; -1 while work is pending or when polling. */
int vx_wait_fd(tp_t *tp);
/* verbs_caps.c: native one-sided ops and atomics; the port's link rate. */
void vx_caps(tp_t *tp, tp_caps_t *caps);
void vx_complete(vx_tp_t *tp, vx_op_t *op, rcomm_status_t status);
void vx_peer_fail(vx_tp_t *tp, vx_peer_t *p, rcomm_status_t status, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
rcomm_status_t vx_post_check(vx_tp_t *tp, int peer, const void *req, const char *what);
/* Poll the CQ once, handling up to VX_CQ_BATCH completions; returns how many. */
int vx_poll(vx_tp_t *tp);

/* verbs_msg.c */
rcomm_status_t vx_isend(tp_t *tp, int peer, uint64_t tag, const tp_env_t *env,
                        const void *buf, size_t len, tp_req_t *req);
rcomm_status_t vx_irecv(tp_t *tp, int peer, uint64_t tag, void *buf, size_t len,
                        tp_req_t *req);
rcomm_status_t vx_cancel(tp_t *tp, tp_req_t *req);
/* A SEND arrived in p's receive slot (byte_len bytes). */
void vx_rx_message(vx_tp_t *tp, vx_peer_t *p, const char *slot, uint32_t byte_len);
/* A rendezvous write completed (immediate = receive id). */
void vx_rx_landed(vx_tp_t *tp, vx_peer_t *p, uint32_t rid, uint32_t byte_len);

/* verbs_rma.c */
rcomm_status_t vx_put(tp_t *tp, int peer, const void *buf, size_t len,
                      const tp_rkey_t *rkey, uint64_t raddr, tp_req_t *req);
rcomm_status_t vx_get(tp_t *tp, int peer, void *buf, size_t len, const tp_rkey_t *rkey,
                      uint64_t raddr, tp_req_t *req);
rcomm_status_t vx_fetch_add(tp_t *tp, int peer, const tp_rkey_t *rkey, uint64_t raddr,
                            uint64_t add, tp_req_t *req);
rcomm_status_t vx_put_notify(tp_t *tp, int peer, const void *buf, size_t len,
                             const tp_rkey_t *rkey, uint64_t raddr, uint32_t imm,
                             tp_req_t *req);
rcomm_status_t vx_compare_swap(tp_t *tp, int peer, const tp_rkey_t *rkey, uint64_t raddr,
                               uint64_t compare, uint64_t swap, tp_req_t *req);

/* verbs_mem.c */
rcomm_status_t vx_mem_reg(tp_t *tp, void *addr, size_t len, unsigned access,
                          tp_mr_t **mr);
rcomm_status_t vx_mem_rkey(const tp_mr_t *mr, tp_rkey_t *rkey);
rcomm_status_t vx_mem_dereg(tp_t *tp, tp_mr_t *mr);
/* A registration covering [buf, buf + len) for the HCA to read (remote =
 * false) or for peers to write (remote = true). */
rcomm_status_t vx_reg_acquire(vx_tp_t *tp, const void *buf, size_t len, bool remote,
                              vx_reg_t **reg);
void vx_reg_release(vx_tp_t *tp, vx_reg_t *reg);
/* The explicit region holding [buf, buf + len) with local access, or NULL. */
vx_mr_t *vx_mr_find(vx_tp_t *tp, const void *buf, size_t len, bool remote_write);
rcomm_status_t vx_mem_init(vx_tp_t *tp);
void vx_mem_fini(vx_tp_t *tp);

#endif /* RCOMM_VERBS_H */
