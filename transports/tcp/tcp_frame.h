/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * TCP transport wire format: the address blob ranks exchange before connect(),
 * and the 64-byte header in front of every frame on a connection.
 *
 * Fields are in host byte order: rcomm ranks of one job run the same build on
 * the same architecture. A peer of the other byte order fails the magic check
 * in the handshake, and the message says so.
 */
#ifndef RCOMM_TCP_FRAME_H
#define RCOMM_TCP_FRAME_H

#include <stddef.h>
#include <stdint.h>

/* ---- Address blob (local_addr / connect) -------------------------------- */

#define TCP_ADDR_VERSION 1
#define TCP_ADDR_LEN 20

/* No padding: the blob is this struct's bytes. */
typedef struct {
    uint8_t version; /* TCP_ADDR_VERSION */
    uint8_t family;  /* 4 or 6 */
    uint16_t port;   /* host order */
    uint8_t ip[16];  /* network order; first 4 bytes for IPv4 */
} tcp_addr_t;

_Static_assert(sizeof(tcp_addr_t) == TCP_ADDR_LEN, "address blob layout");

/* ---- Frame header -------------------------------------------------------- */

#define TCP_MAGIC 0x52434d54u /* "RCMT" */
/* 2: rendezvous (RTS, CTS, DATA); 3: the job key; 4: DATA in chunks;
 * 5: PUT with TCP_F_NOTIFY */
#define TCP_VERSION 5

/* A frame announcing more payload than this is garbage, not data. */
#define TCP_MAX_PAYLOAD (1ull << 40)

typedef enum {
    TCP_HELLO = 1,    /* handshake only: connecting rank -> acceptor and back */
    TCP_SEND,         /* two-sided message: tag, envelope, payload */
    TCP_PUT,          /* payload written at key/raddr */
    TCP_PUT_ACK,      /* reply to PUT: status */
    TCP_GET_REQ,      /* arg[0] bytes wanted from key/raddr */
    TCP_GET_RESP,     /* reply to GET_REQ: status, payload */
    TCP_ATOMIC_FADD,  /* arg[0] = addend */
    TCP_ATOMIC_CSWAP, /* arg[0] = compare, arg[1] = swap */
    TCP_ATOMIC_RESP,  /* reply to either atomic: status, arg[0] = old value */
    TCP_GOODBYE,      /* sender is closing; status = why (RCOMM_OK or its failure) */
    TCP_RTS,          /* a SEND above the eager limit: msg, payload its first bytes */
    TCP_CTS,          /* its receive is posted: status OK (send DATA) or PROTOCOL */
    TCP_DATA,         /* the rest, in chunks: the RTS's msg, payload the next len of
                         msg.size (after the head and the chunks before) */
    TCP_ACK,          /* msg.size bytes of eager SENDs were received (flow control) */
    TCP_TYPE_END
} tcp_type_t;

/* HELLO flags. The handshake is four HELLO frames (tcp.h), each followed by
 * a tcp_auth_t (hdr.len = its size):
 *   dialer -> acceptor   HELLO        {src, size, dst}, dialer's nonce
 *   acceptor -> dialer   ACK          acceptor's nonce and tag
 *   dialer -> acceptor   PROOF        dialer's tag
 *   acceptor -> dialer   ACK|PROOF    the verdict: status and tcp_rej_t
 * Before the dialer's tag checks out the acceptor says nothing about itself
 * but its protocol version. */
#define TCP_F_ACK 0x1   /* from the acceptor */
#define TCP_F_PROOF 0x2 /* the second round */
#define TCP_F_KEYED 0x4 /* the sender has a job key (for the error message) */
#define TCP_HELLO_FLAGS (TCP_F_ACK | TCP_F_PROOF | TCP_F_KEYED)
/* PUT: once the payload is in place, hand u.rma.arg[0] (< TP_NOTIFY_LIMIT)
 * to the target's on_notify (put_notify). */
#define TCP_F_NOTIFY 0x8

/* The job key's part of every handshake frame (base/auth.h). */
typedef struct {
    uint8_t nonce[16]; /* AUTH_NONCE_LEN; zero where not used */
    uint8_t tag[16];   /* AUTH_TAG_LEN */
} tcp_auth_t;

#define TCP_LABEL_ACCEPTOR "tcp acceptor"
#define TCP_LABEL_DIALER "tcp dialer"

/* Why a target refused a one-sided operation (detail of a reply). */
typedef enum {
    TCP_ACC_OK = 0,
    TCP_ACC_NO_KEY, /* no region registered under that key */
    TCP_ACC_RANGE,  /* [raddr, raddr+len) leaves the region (arg = base, len) */
    TCP_ACC_RIGHTS, /* region lacks the right the operation needs */
    TCP_ACC_ALIGN,  /* atomic address not 8-byte aligned */
} tcp_acc_t;

/* Why an acceptor refused a handshake (detail of a HELLO ack with an error). */
typedef enum {
    TCP_REJ_OK = 0,
    TCP_REJ_VERSION, /* hello.size = the acceptor's protocol version */
    TCP_REJ_SIZE,    /* hello.size = the acceptor's communicator size */
    TCP_REJ_DST,     /* the hello was meant for another rank */
    TCP_REJ_SRC,     /* the claimed rank must not connect to us */
    TCP_REJ_DUP,     /* that rank is already connected */
} tcp_rej_t;

typedef struct {
    uint32_t magic;  /* TCP_MAGIC */
    uint8_t version; /* TCP_VERSION */
    uint8_t type;    /* tcp_type_t */
    uint16_t flags;  /* TCP_F_*; 0 unless stated */
    int32_t status;  /* replies, GOODBYE, HELLO ack: an rcomm_status_t */
    uint32_t detail; /* replies: tcp_acc_t; HELLO ack: tcp_rej_t; RTS, CTS,
                        DATA: the sender's rendezvous id */
    uint64_t len;    /* payload bytes following the header */
    union {
        struct { /* SEND, RTS, DATA */
            uint64_t tag;
            uint64_t env[3];
            uint64_t size; /* the message's length (RTS, DATA) */
        } msg;
        struct {          /* PUT .. ATOMIC_RESP */
            uint64_t id;  /* initiator's op id, echoed by the reply */
            uint64_t key; /* region key (requests) */
            uint64_t raddr;
            uint64_t arg[2];
        } rma;
        struct {                 /* HELLO */
            int32_t src;         /* sender's rank */
            int32_t size;        /* sender's communicator size */
            int32_t dst;         /* the rank the sender believes it reached */
            uint32_t credit_kib; /* its flow-control budget (tcp.h), KiB */
        } hello;
    } u;
} tcp_hdr_t;

_Static_assert(sizeof(tcp_hdr_t) == 64, "the frame header is 64 bytes on the wire");

#define TCP_HDR_LEN sizeof(tcp_hdr_t)
/* A handshake frame: header and tcp_auth_t. */
#define TCP_HS_LEN (TCP_HDR_LEN + sizeof(tcp_auth_t))

/* What the handshake's tags cover: the dialer's HELLO fields. */
static inline void tcp_hello_claims(const tcp_hdr_t *h, int32_t claims[3])
{
    claims[0] = h->u.hello.src;
    claims[1] = h->u.hello.size;
    claims[2] = h->u.hello.dst;
}

/* Which frame types may carry a payload. */
/* A GOODBYE may carry the closer's failure message, this long at most. */
#define TCP_BYE_TEXT_MAX 255

static inline int tcp_type_has_payload(unsigned type)
{
    return type == TCP_SEND || type == TCP_PUT || type == TCP_GET_RESP ||
           type == TCP_GOODBYE || type == TCP_RTS || type == TCP_DATA;
}

/* Replies are built by the target in memory of its own; requests live in the
 * initiator's request. */
static inline int tcp_type_is_reply(unsigned type)
{
    return type == TCP_PUT_ACK || type == TCP_GET_RESP || type == TCP_ATOMIC_RESP;
}

/* Frames the transport allocates, freed once written: replies, CTS, ACK. */
static inline int tcp_type_is_ours(unsigned type)
{
    return tcp_type_is_reply(type) || type == TCP_CTS || type == TCP_ACK;
}

static inline const char *tcp_type_name(unsigned type)
{
    static const char *const names[TCP_TYPE_END] = {
        [TCP_HELLO] = "HELLO",
        [TCP_SEND] = "SEND",
        [TCP_PUT] = "PUT",
        [TCP_PUT_ACK] = "PUT_ACK",
        [TCP_GET_REQ] = "GET_REQ",
        [TCP_GET_RESP] = "GET_RESP",
        [TCP_ATOMIC_FADD] = "ATOMIC_FADD",
        [TCP_ATOMIC_CSWAP] = "ATOMIC_CSWAP",
        [TCP_ATOMIC_RESP] = "ATOMIC_RESP",
        [TCP_GOODBYE] = "GOODBYE",
        [TCP_RTS] = "RTS",
        [TCP_CTS] = "CTS",
        [TCP_DATA] = "DATA",
        [TCP_ACK] = "ACK",
    };
    return type > 0 && type < TCP_TYPE_END ? names[type] : "unknown";
}

static inline void tcp_hdr_init(tcp_hdr_t *h, unsigned type, uint64_t len)
{
    *h = (tcp_hdr_t){
        .magic = TCP_MAGIC, .version = TCP_VERSION, .type = (uint8_t)type, .len = len};
}

#endif /* RCOMM_TCP_FRAME_H */
