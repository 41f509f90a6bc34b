/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * TCP transport: private types.
 *
 * Connection setup (tcp_conn.c). create() opens a listening socket on an
 * ephemeral port of the published host (INADDR_ANY if that address is not
 * local) and local_addr() returns {version, family, port, ip}. connect()
 * builds a full mesh, one connection per pair: rank j dials every i < j and
 * accepts every i > j. The handshake (tcp_frame.h) is the job key's
 * challenge-response (base/auth.h): the dialer sends HELLO {src, size, dst}
 * and a nonce, the acceptor its nonce and tag, the dialer checks that tag
 * and sends its own; only then does the acceptor check magic, version, size,
 * that dst is itself, that src is a higher rank not yet connected, and
 * answer with its verdict (status OK, or an error with a reason the dialer
 * reports). A connection that does not prove the key within handshake_ms,
 * or is the oldest when size + TCP_MAX_PENDING are authenticating, is closed
 * without a word; the wait goes on. Refused dials are retried until timeout_ms; the
 * timeout error names every peer still missing. Data sockets are then TCP_NODELAY,
 * SO_SNDBUF/SO_RCVBUF = tcp_bufsize, O_NONBLOCK, in one epoll set, and the
 * listening socket is closed. An instance serving a subset of the peers
 * (params->serves) dials and accepts only those, and refuses others' HELLOs.
 *
 * Frame flow. Every frame is a 64-byte header (tcp_frame.h) and hdr.len
 * payload bytes. Posts only queue: a send (or one-sided request) embeds its
 * frame in the caller's request (tcp_op_t in req->priv), so queueing
 * allocates nothing. progress() flushes each peer's queue with sendmsg over
 * an iovec array [hdr, payload, hdr, payload...] taken straight from user
 * memory, many frames per call (up to a DATA chunk with more to follow,
 * whose next chunk is queued once it is written). EPOLLOUT is armed only
 * while a peer's socket is full. The receiver reads a header, decides where
 * its payload goes, and reads the payload straight there. While no receive
 * (posted or granted a rendezvous) or GET longer than TCP_COPY_MAX waits on
 * the peer, what comes is small or eager, so reads go into a
 * 64 KiB staging buffer so one read(2) picks up many small frames; their
 * payloads are copied out (counted in bytes_copied). Otherwise the receiver
 * reads exactly one header at a time and readv()s the payload into its final
 * place together with the next header, so large payloads are never copied.
 * A read that comes back short means the socket is empty: no EAGAIN round.
 * Before epoll_wait, progress() reads directly from the "hot" peer (the one
 * the latest receive or one-sided request was posted for): when its data is
 * there, a message costs one sendmsg and one recv, and epoll_wait is skipped
 * (every 8th call still polls, so other peers are served). Completions go to
 * a done list, reported (status, callback) at the end of progress(): posting
 * never completes anything, and a callback that posts does not disturb the
 * queues being walked.
 *
 * Matching (the queues are transports/util/match.h's). Per peer, posted
 * receives are kept in posting order; a message matches the first with its
 * tag. A message of at most tcp_eager bytes is a SEND carrying its payload;
 * with no receive, on_unexpected is called and it is read into a pooled
 * buffer kept on the peer's unexpected list (a later irecv takes the oldest
 * with its tag and completes from it).
 *
 * Rendezvous (tcp_rndv.c). A longer message is announced: RTS {tag,
 * envelope, size, id} carrying its first tcp_eager bytes (the head), and
 * the send waits on the peer's rndv_tx list. The receiver matches the RTS as
 * it would a SEND; once a receive takes it (at once: the head lands in
 * place; or later from the unexpected list, where the head was buffered) it
 * answers CTS {id} at once, written before the head is read, and waits on
 * rndv_rx. (So a CTS can come back while the sender still writes the head,
 * its socket full: the RTS, at the head of the queue, is marked and goes on
 * to its DATA once written; before, that CTS failed the peer with PROTOCOL,
 * "unknown rendezvous id", once in two runs of rcomm-send-bw -s 1M -t 16
 * with RCOMM_TCP_BUFSIZE=100K.) The sender then writes the rest straight from the user's
 * buffer, in DATA frames {the RTS's fields} of at most TCP_DATA_CHUNK
 * bytes each, and completes when the last is written. The round trip
 * thus overlaps the head's transfer, a message nobody has asked for yet
 * costs the receiver at most tcp_eager bytes and never holds up the traffic
 * behind it (a parked frame did: with several collectives in flight, what a
 * rank needed could wait behind a message whose receive waited for it).
 * A message's chunks come one after the other; messages come in the order
 * the sender heard their CTSs, except that one whose CTS came early goes
 * after those heard while its head was still being written. So the
 * receiver finds each chunk's receive on rndv_rx by its id, checks it, and
 * lands it after the bytes it has placed so far (op->landed).
 *
 * Control before data. Frames without payload that need no place in the
 * data's order, CTS, ACK and zero-byte SENDs (the health checks' probes and
 * answers, barriers), are queued ahead of the data waiting for the same
 * peer: behind the frame being written, earlier CTSs, messages of their own
 * tag and one-sided frames only (tcp_enqueue). A DATA chunk is at most
 * TCP_DATA_CHUNK bytes, and the kernel holds at most TCP_UNSENT_MAX bytes
 * not yet sent (TCP_NOTSENT_LOWAT), so a probe never waits for more than
 * about 1.25 MiB of a big transfer to drain (0.5 s at 20 Mbit/s, within the
 * health check's grace), whatever its size: on a 20 Mbit/s link a probe
 * queued behind a 16 MiB message took seconds, and the health check named a
 * live rank as silent. (An eager SEND, at most
 * tcp_eager bytes, and one-sided payloads are still written whole.)
 *
 * Flow control. A sender can run ahead of its receiver by whole calls (a
 * reduce's leaves send and never wait). Eager SENDs above TCP_COPY_MAX and
 * RTS heads count toward a per-peer budget (twice tcp_eager)
 * until the receiver matches them (the CTS; ACK {size} for eager ones, one
 * per tcp_eager / 2 bytes so that mid-size messages do not each cost a
 * frame); beyond it, messages are announced without a head. Nothing waits
 * for an ACK. The budget is sent in the handshake, so the receiver knows it
 * too: what it holds unexpected of those bytes can never exceed it, and a
 * peer that sends more (it ignores flow control) is failed with PROTOCOL
 * rather than buffered without bound.
 *
 * A message longer than its receive fails that receive with PROTOCOL: a
 * SEND's payload is read and discarded so the connection stays usable (the
 * mismatch is the application's, not the stream's); an RTS is answered by a
 * CTS refusing it, and the send completes without sending its data, as an
 * eager one would have.
 *
 * One-sided emulation (tcp_onesided.c). Regions get a key (slot | generation
 * << 32, so a stale key never reaches a newer region). PUT carries its
 * payload, which the target reads straight into the region; GET_REQ and the
 * atomics carry no payload. The target checks key, range, rights and
 * alignment, applies the operation in its progress() and answers PUT_ACK,
 * GET_RESP (payload sent straight from the region) or ATOMIC_RESP with a
 * status; a refused PUT's payload is drained. A reply is sent only after the
 * whole request frame has been read, so the initiator's request has left its
 * send queue by then: it waits on a per-peer list, found by op id. When a
 * region is deregistered, replies still queued from it get a copy of their
 * payload (the memory may be freed at once) and a PUT landing in it is
 * drained and refused. Atomics
 * use the CPU's atomic instructions on the target word: they are atomic with
 * respect to every peer's emulated atomics, and to the target's own threads
 * only if those also use atomic instructions on that word; any other local
 * access by the target is not coordinated with emulated operations.
 *
 * Failure (recorded and logged by transports/util/peer.h). One function,
 * tcp_peer_fail(), handles a dead or misbehaving
 * peer: every request involving it completes with the status, later posts
 * fail at once, the socket is closed, and one message is logged naming the
 * peer, the local rank and what we were doing (logged at warning level and
 * kept for the next post when nothing was pending). EOF or reset without a
 * GOODBYE is PEER_FAILED; a GOODBYE carries the closer's reason (an error is
 * passed on as is, OK becomes PEER_FAILED "closed the connection"); a bad
 * header is PROTOCOL, and we send the peer a GOODBYE saying so. Messages
 * already buffered from a failed peer can still be received. destroy() sends
 * GOODBYE(reason) on each connection whose send queue is at a frame boundary
 * (never the rest of a payload: the user's buffers may be gone), shuts down
 * the write side and reads what has arrived, so that close() sends a FIN and
 * not a reset that could destroy the GOODBYE in flight.
 */
#ifndef RCOMM_TCP_H
#define RCOMM_TCP_H

#include <stdbool.h>
#include <stdint.h>

#include "base/config.h"
#include "base/fifo.h"
#include "transports/tcp/tcp_frame.h"
#include "transports/transport.h"
#include "transports/util/match.h"
#include "transports/util/peer.h"

#define TCP_STAGE_LEN (64 * 1024) /* per-peer staging buffer */
#define TCP_COPY_MAX (8 * 1024)   /* receives this small may be staged */
#define TCP_BATCH 64              /* frames per sendmsg() */
/* The most payload one DATA frame carries: a longer rendezvous goes in
 * several, between which control frames are written (tcp_enqueue). Each
 * chunk is one sendmsg: with 256 KiB a 64 MiB all-to-all on 2 ranks made
 * 2.6x the system calls of Open MPI's and took 1.09x its time; 1 MiB took
 * 8% less (docs/PERFORMANCE.md, "Reduce and all-to-all against Open MPI,
 * fourth pass"). */
#define TCP_DATA_CHUNK (1024 * 1024)
/* Bytes written but not yet sent that a socket may hold (TCP_NOTSENT_LOWAT,
 * tcp_sock_setup): what a control frame may wait behind in the kernel. */
#define TCP_UNSENT_MAX (256 * 1024)

typedef struct tcp_tp tcp_tp_t;
typedef struct tcp_mr tcp_mr_t;

/* A frame on a peer's send queue. Requests are inside a tcp_op_t; replies are
 * a malloc'd tcp_reply_t (tcp_type_is_reply tells which). */
typedef struct tcp_txf {
    struct tcp_txf *next;
    const void *payload; /* hdr.len bytes */
    tcp_hdr_t hdr;
} tcp_txf_t;

typedef enum {
    TCP_OP_SEND,
    TCP_OP_RECV,
    TCP_OP_PUT,
    TCP_OP_GET,
    TCP_OP_FADD,
    TCP_OP_CSWAP,
} tcp_op_kind_t;

/* The transport's view of a request (in tp_req_t.priv). */
typedef struct tcp_op {
    tp_op_t h; /* on the posted, waiting, rndv or done list */
    union {
        tcp_txf_t tx;    /* sends and one-sided requests */
        uint64_t landed; /* receive on rndv_rx: bytes of the message whose
                            place is known (the head, then each DATA chunk
                            from its header on) */
    };
    void *buf; /* receive / get destination */
    union {
        size_t cap;    /* receive / get: its size */
        size_t unsent; /* send in DATA chunks: bytes in no chunk yet */
    };
    uint8_t kind;  /* tcp_op_kind_t */
    uint8_t early; /* RTS: its CTS came while it was being written: 1 OK,
                      2 refused (tcp_rndv_cts) */
    uint32_t rid;  /* receive on rndv_rx: the sender's rendezvous id */
} tcp_op_t;

_Static_assert(sizeof(tcp_op_t) <= TP_REQ_PRIV, "tcp_op_t must fit in req->priv");

typedef struct tcp_reply {
    tcp_txf_t tx;
    tcp_mr_t *mr; /* GET_RESP reading from this region, until detached */
    void *copy;   /* payload copied out when the region is deregistered */
} tcp_reply_t;

/* A message that arrived before its receive: an eager one's payload, or an
 * RTS (h.len is then the announced size, and data holds its first head
 * bytes). */
typedef struct tcp_unexp {
    tp_unexp_t h;
    size_t cap;   /* bytes data can hold */
    bool rts;     /* an announcement */
    uint32_t rid; /* its rendezvous id */
    size_t head;  /* RTS: bytes of data that came with it */
    unsigned char data[];
} tcp_unexp_t;

struct tcp_mr {
    tp_mr_t head; /* head.tp is the transport */
    uint64_t key;
    char *base;
    size_t len;
    unsigned access;
};

typedef struct {
    tcp_txf_t *head, *tail;
} tcp_txq_t;

typedef enum { TCP_RX_HDR, TCP_RX_BODY } tcp_rx_state_t;

/* Receive state of one connection. */
typedef struct {
    uint8_t state;   /* tcp_rx_state_t */
    tcp_hdr_t hdr;   /* frame being received */
    uint64_t off;    /* payload bytes received so far */
    char *dst;       /* where they go; NULL = read and discard */
    tcp_op_t *op;    /* SEND, DATA: the receive; GET_RESP: the get */
    tcp_unexp_t *ux; /* SEND: buffer of an unexpected message */
    tcp_mr_t *mr;    /* PUT: target region */
} tcp_rx_t;

/* Accepted connections authenticating at once, beyond one per peer. */
#define TCP_MAX_PENDING 64

typedef struct tcp_peer {
    int fd; /* -1 before connect and after failure */
    int rank;
    uint32_t events; /* registered epoll events */
    bool tx_listed;  /* in tp->txlist */
    bool tx_blocked; /* socket full: waiting for EPOLLOUT */
    bool goodbye;    /* it closed with a GOODBYE */

    tcp_txq_t txq;
    size_t tx_off; /* bytes of txq.head already written */

    tp_match_t m;     /* receives; buffered unexpected messages */
    tp_opq_t waiting; /* one-sided requests awaiting replies, sending order */
    tp_opq_t rndv_tx; /* sends announced, awaiting their CTS */
    tp_opq_t rndv_rx; /* receives granted (CTS queued), awaiting DATA */
    unsigned nbig;    /* receives (posted or granted) and gets > TCP_COPY_MAX */
    uint64_t unacked; /* bytes we sent it eagerly above TCP_COPY_MAX, unmatched */
    uint64_t matched; /* such bytes from it we matched, not yet acknowledged */
    uint64_t held;    /* such bytes from it held unexpected (and RTS heads) */
    uint64_t credit;  /* how many it may send us so: its budget, from HELLO */

    tcp_rx_t rx;
    char *stage; /* TCP_STAGE_LEN bytes; [head, tail) not yet parsed */
    uint32_t stage_head, stage_tail;

    tp_fail_t fail;
    char bye[TCP_BYE_TEXT_MAX + 1]; /* the message of its GOODBYE */
} tcp_peer_t;

typedef struct {
    tcp_mr_t *mr;
    uint32_t gen;
} tcp_mr_slot_t;

struct tcp_tp {
    tp_t base;
    size_t bufsize; /* cfg->tcp_bufsize */
    size_t eager;   /* cfg->tcp_eager: larger messages use the rendezvous */
    size_t budget;  /* unacked bytes allowed per peer before smaller ones do */
    int timeout_ms;
    int handshake_ms; /* a new connection's time to prove the key */
    auth_key_t key;
    uint64_t refused; /* connections dropped before they proved it */
    tcp_addr_t addr;  /* published */
    char host[64];
    int listen_fd;
    int epfd;
    bool connect_called;
    bool connected; /* connect() succeeded */
    bool warned_bufsize;
    tcp_peer_t *peers; /* [size]; ours unused */

    int *txlist; /* peers with queued frames and room to write */
    int ntx;
    tp_opq_t done;     /* completed, not yet reported */
    uint64_t next_id;  /* one-sided op ids */
    uint32_t next_rid; /* rendezvous ids */
    int hot;           /* peer of the latest receive-type post, -1 = none */
    bool hot_hit;      /* the last direct read of it found data */
    unsigned skips;    /* epoll_wait calls skipped in a row */

    tcp_mr_slot_t *mrs;
    uint32_t nmrs;

    tp_uxq_t ux_pool; /* free unexpected-message buffers of eager bytes */
    unsigned ux_pooled;
};

/* Buffers for unexpected messages (tcp_rx.c). Those above TCP_COPY_MAX come
 * from a pool of eager-sized buffers: malloc and free of 64 KiB blocks make
 * glibc return and refault pages on every message, which cost 10x in
 * pipelines of eager-sized segments. NULL when out of memory. */
tcp_unexp_t *tcp_ux_alloc(tcp_tp_t *tp, size_t len);
void tcp_ux_free(tcp_tp_t *tp, tcp_unexp_t *ux);
void tcp_ux_pool_free(tcp_tp_t *tp);

static inline tcp_tp_t *tcp_tp(tp_t *tp)
{
    return (tcp_tp_t *)tp;
}

static inline tcp_op_t *tcp_op(tp_req_t *req)
{
    return (tcp_op_t *)req->priv;
}

static inline tp_req_t *tcp_req(tcp_op_t *op)
{
    return tp_req_head(&op->h);
}

static inline tcp_op_t *tcp_op_of(tp_op_t *h)
{
    return (tcp_op_t *)h;
}

/* A request's frame on a send queue. */
static inline tcp_op_t *tcp_op_of_tx(tcp_txf_t *f)
{
    return (tcp_op_t *)((char *)f - offsetof(tcp_op_t, tx));
}

static inline tcp_unexp_t *tcp_ux_of(tp_unexp_t *h)
{
    return (tcp_unexp_t *)h;
}

/* tcp_conn.c */
rcomm_status_t tcp_listen(tcp_tp_t *tp, const char *host);
rcomm_status_t tcp_connect(tp_t *tp, const void *const *addrs, const size_t *lens);
/* TCP_NODELAY, SO_SNDBUF/SO_RCVBUF, O_NONBLOCK. */
rcomm_status_t tcp_sock_setup(tcp_tp_t *tp, int fd);
#ifdef RCOMM_FUZZING
/* Fuzz builds only (fuzz/fuzz_tcp.c): connect() by hand, on sockets whose
 * peer bytes are already there. tcp_fuzz_accept runs the acceptor's side of
 * the handshake on fd and returns the rank it accepted (its peer fd from
 * then on), or -1 (fd closed); tcp_fuzz_dial the dialer's side toward rank;
 * tcp_fuzz_ready switches to the data path once every peer has its fd. */
int tcp_fuzz_accept(tcp_tp_t *tp, int fd);
rcomm_status_t tcp_fuzz_dial(tcp_tp_t *tp, int rank, int fd);
rcomm_status_t tcp_fuzz_ready(tcp_tp_t *tp);
#endif

/* tcp_progress.c */
rcomm_status_t tcp_progress(tp_t *tp, int timeout_ms);
/* The epoll set, when nothing is pending outside the sockets. */
int tcp_wait_fd(tp_t *tp);
/* tp_check_post, then whether peer has failed (reported as this post's
 * error). */
rcomm_status_t tcp_post_check(tcp_tp_t *tp, int peer, const void *req, const char *what);
void tcp_enqueue(tcp_tp_t *tp, tcp_peer_t *p, tcp_txf_t *f);
/* Write p's queue now, from inside tcp_rx_run (a CTS that should not wait
 * for the end of progress()). */
void tcp_tx_now(tcp_tp_t *tp, tcp_peer_t *p);
void tcp_complete(tcp_tp_t *tp, tcp_op_t *op, rcomm_status_t status);
void tcp_update_events(tcp_tp_t *tp, tcp_peer_t *p);
void tcp_peer_fail(tcp_tp_t *tp, tcp_peer_t *p, rcomm_status_t status, const char *fmt,
                   ...) __attribute__((format(printf, 4, 5)));
/* Close p's socket: GOODBYE(reason) first if the stream is at a frame
 * boundary. For destroy and for failures we decided. */
void tcp_peer_close(tcp_tp_t *tp, tcp_peer_t *p, rcomm_status_t reason, const char *why);
void tcp_drop_txq(tcp_peer_t *p);

/* tcp_rx.c */
/* Read from p's socket and handle whatever frames are complete. */
void tcp_rx_run(tcp_tp_t *tp, tcp_peer_t *p);
/* Checks every header read from a socket; HELLO only during the handshake.
 * Returns 0, or -1 with what is wrong in why. */
int tcp_hdr_check(const tcp_hdr_t *h, bool handshake, char *why, size_t len);
bool tcp_credit_take(tcp_tp_t *tp, tcp_peer_t *p, uint64_t len);
/* The credit a peer's HELLO claims (KiB), believed up to the budget of the
 * largest RCOMM_TCP_EAGER: no rank may make us hold more. */
static inline uint64_t tcp_credit_of(uint32_t kib)
{
    const uint64_t c = (uint64_t)kib * 1024, max = 2 * (uint64_t)BASE_TCP_EAGER_MAX;
    return c < max ? c : max;
}
/* Count a posted receive or get of len bytes toward choosing how to read. */
void tcp_rx_expect(tcp_peer_t *p, size_t len, int delta);
/* Fail receive op: the sender's message (len bytes, its envelope) is longer. */
void tcp_rx_too_long(tcp_tp_t *tp, tcp_peer_t *p, tcp_op_t *op, uint64_t tag,
                     uint64_t len, const void *env);
rcomm_status_t tcp_isend(tp_t *tp, int peer, uint64_t tag, const tp_env_t *env,
                         const void *buf, size_t len, tp_req_t *req);
rcomm_status_t tcp_irecv(tp_t *tp, int peer, uint64_t tag, void *buf, size_t len,
                         tp_req_t *req);
rcomm_status_t tcp_cancel(tp_t *tp, tp_req_t *req);

/* tcp_rndv.c */
/* Make the SEND in op an RTS: its data waits for the receiver's CTS. */
void tcp_rndv_announce(tcp_tp_t *tp, tcp_op_t *op);
/* The RTS in ux (unexpected, or ux NULL: the one in p->rx.hdr) meets its
 * receive op: answer CTS, or refuse if op is too short. */
void tcp_rndv_grant(tcp_tp_t *tp, tcp_peer_t *p, tcp_op_t *op, const tcp_unexp_t *ux);
/* An RTS header with no receive posted: hold it. */
void tcp_rndv_hold(tcp_tp_t *tp, tcp_peer_t *p);
/* A CTS header arrived: send the data, or complete a refused send. */
void tcp_rndv_cts(tcp_tp_t *tp, tcp_peer_t *p);
/* op's RTS was answered with status: queue its DATA, or complete it. */
void tcp_rndv_clear(tcp_tp_t *tp, tcp_peer_t *p, tcp_op_t *op, rcomm_status_t status);
/* A DATA header arrived: find its receive and land it there. */
void tcp_rndv_data(tcp_tp_t *tp, tcp_peer_t *p);
/* An eager SEND of len bytes was matched (or refused): tell its sender. */
void tcp_rndv_ack(tcp_tp_t *tp, tcp_peer_t *p, uint64_t len);
/* An ACK header arrived. */
void tcp_rndv_acked(tcp_tp_t *tp, tcp_peer_t *p);

/* tcp_onesided.c */
rcomm_status_t tcp_put(tp_t *tp, int peer, const void *buf, size_t len,
                       const tp_rkey_t *rkey, uint64_t raddr, tp_req_t *req);
rcomm_status_t tcp_get(tp_t *tp, int peer, void *buf, size_t len, const tp_rkey_t *rkey,
                       uint64_t raddr, tp_req_t *req);
rcomm_status_t tcp_fetch_add(tp_t *tp, int peer, const tp_rkey_t *rkey, uint64_t raddr,
                             uint64_t add, tp_req_t *req);
rcomm_status_t tcp_put_notify(tp_t *tp, int peer, const void *buf, size_t len,
                              const tp_rkey_t *rkey, uint64_t raddr, uint32_t imm,
                              tp_req_t *req);
rcomm_status_t tcp_compare_swap(tp_t *tp, int peer, const tp_rkey_t *rkey, uint64_t raddr,
                                uint64_t compare, uint64_t swap, tp_req_t *req);
/* A one-sided header arrived from p (in p->rx.hdr): set up its payload. */
void tcp_rma_begin(tcp_tp_t *tp, tcp_peer_t *p);
/* Its payload is complete: apply, reply or complete. */
void tcp_rma_end(tcp_tp_t *tp, tcp_peer_t *p);
/* A region is going away: stop reading from or writing into it. */
void tcp_rma_forget(tcp_tp_t *tp, tcp_mr_t *mr);
void tcp_reply_free(tcp_reply_t *r);

#endif /* RCOMM_TCP_H */
