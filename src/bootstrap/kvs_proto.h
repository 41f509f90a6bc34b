/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Wire format of the bootstrap key-value store, shared by the client
 * (bootstrap.c) and rank 0's server thread (kvs_server.c), and the small
 * interface between the two.
 *
 * One TCP connection per rank; strictly one request at a time, each answered
 * by exactly one reply. Every message is a 28-byte header, then key_len bytes
 * of key (no NUL), then val_len bytes of value. All integers are big-endian.
 *
 * A connection joins with the job key's challenge-response (base/auth.h),
 * the claims being the rank and size as two big-endian words:
 *
 *   HELLO     (a0 = rank, a1 = size, value = flags, client nonce)
 *   CHALLENGE (value = flags, server nonce, server tag)
 *   AUTH      (value = client tag)
 *   OK, or ERROR once the client is known to hold the key
 *
 * Until AUTH checks out the server answers nothing else and tells nothing
 * (no error text, no job size); a client checks the server's tag before it
 * sends its own, so it never talks to a store that lacks the key.
 *
 *   requests:  PUT   (key, value)      GET (key)
 *              MGET  (key = prefix, a0 = first rank, a1 = count): the run of
 *                    keys "<prefix>/<first>", "<prefix>/<first+1>", ... that
 *                    exist, at least one, at most count
 *   replies:   OK    (to HELLO and PUT)
 *              VALUE (to GET: the value; to MGET: a0 = n, then n records of
 *                    4-byte length + bytes; sent once the first key exists)
 *              ERROR (a0 = -rcomm_status_t, value = message text)
 *
 *              MISSING (key = prefix): which ranks r have no "<prefix>/<r>"
 *                    yet; VALUE a0 = how many, then the first (at most
 *                    KVS_MISSING_MAX) as 4-byte ranks. For timeout errors.
 *
 * MGET turns an allgather over p ranks into a few round trips per rank
 * instead of p, while a rank waiting on it still waits on exactly one key,
 * the one its timeout error names.
 *
 * A reply echoes its request's seq so that a client that gave up on a GET
 * (timeout) can discard the late answer when it arrives. Both sides check
 * every field against the limits below before trusting a length.
 */
#ifndef RCOMM_KVS_PROTO_H
#define RCOMM_KVS_PROTO_H

#include <arpa/inet.h>
#include <netdb.h>
#include <stdint.h>
#include <string.h>

#include "base/auth.h"
#include "bootstrap/bootstrap.h"
#include "rcomm.h"

#define KVS_MAGIC 0x52434b56u /* "RCKV" */
#define KVS_VERSION 2         /* 2: the job key's handshake */
#define KVS_HDR_SIZE 28
#define KVS_MAX_KEY BOOTSTRAP_MAX_KEY /* bytes, without a terminating NUL */
#define KVS_MAX_VALUE BOOTSTRAP_MAX_VALUE
#define KVS_MAX_ERRMSG 512
#define KVS_MISSING_MAX 32
#define KVS_MAX_REPLY (4 * KVS_MAX_VALUE) /* an MGET run stops before this */

/* Handshake values (see above). Flags: KVS_F_KEYED when the sender has a job
 * key, so a missing key on one side is named as such. */
#define KVS_F_KEYED 0x1
#define KVS_HELLO_LEN (1 + AUTH_NONCE_LEN)
#define KVS_CHALLENGE_LEN (1 + AUTH_NONCE_LEN + AUTH_TAG_LEN)
#define KVS_AUTH_LEN AUTH_TAG_LEN
#define KVS_LABEL_SERVER "kvs server"
#define KVS_LABEL_CLIENT "kvs client"

enum kvs_type {
    KVS_HELLO = 1,
    KVS_PUT = 2,
    KVS_GET = 3,
    KVS_MGET = 4,
    KVS_AUTH = 5,
    KVS_MISSING = 6,
    KVS_OK = 16,
    KVS_VALUE = 17,
    KVS_ERROR = 18,
    KVS_CHALLENGE = 19,
};

typedef struct {
    uint32_t magic;
    uint16_t version;
    uint16_t type;
    uint32_t seq;
    uint32_t a0, a1; /* per-type arguments, see above */
    uint32_t key_len;
    uint32_t val_len;
} kvs_hdr_t;

static inline void kvs_put32(unsigned char *p, uint32_t v)
{
    v = htonl(v);
    memcpy(p, &v, 4);
}

static inline uint32_t kvs_get32(const unsigned char *p)
{
    uint32_t v;
    memcpy(&v, p, 4);
    return ntohl(v);
}

/* Explicit byte layout: struct padding and host byte order never reach the
 * wire. */
static inline void kvs_hdr_encode(const kvs_hdr_t *h, unsigned char *p)
{
    kvs_put32(p, h->magic);
    kvs_put32(p + 4, ((uint32_t)h->version << 16) | h->type);
    kvs_put32(p + 8, h->seq);
    kvs_put32(p + 12, h->a0);
    kvs_put32(p + 16, h->a1);
    kvs_put32(p + 20, h->key_len);
    kvs_put32(p + 24, h->val_len);
}

static inline void kvs_hdr_decode(const unsigned char *p, kvs_hdr_t *h)
{
    uint32_t vt = kvs_get32(p + 4);

    h->magic = kvs_get32(p);
    h->version = (uint16_t)(vt >> 16);
    h->type = (uint16_t)(vt & 0xffff);
    h->seq = kvs_get32(p + 8);
    h->a0 = kvs_get32(p + 12);
    h->a1 = kvs_get32(p + 16);
    h->key_len = kvs_get32(p + 20);
    h->val_len = kvs_get32(p + 24);
}

/* NULL if the header is well formed for its type, else what is wrong with
 * it (a constant string for error messages). Checked before any length is
 * used to size a read. */
static inline const char *kvs_hdr_problem(const kvs_hdr_t *h)
{
    if (h->magic != KVS_MAGIC)
        return "bad magic (not an rcomm bootstrap peer?)";
    if (h->version != KVS_VERSION)
        return "unsupported protocol version";
    switch (h->type) {
    case KVS_HELLO:
        return h->key_len != 0 || h->val_len != KVS_HELLO_LEN ? "malformed HELLO" : NULL;
    case KVS_AUTH:
        return h->key_len != 0 || h->val_len != KVS_AUTH_LEN ? "malformed AUTH" : NULL;
    case KVS_CHALLENGE:
        return h->key_len != 0 || h->val_len != KVS_CHALLENGE_LEN ? "malformed CHALLENGE"
                                                                  : NULL;
    case KVS_OK:
        if (h->key_len != 0 || h->val_len != 0)
            return "OK carries a key or value";
        return NULL;
    case KVS_PUT:
    case KVS_GET:
    case KVS_MGET:
    case KVS_MISSING:
        if (h->key_len == 0 || h->key_len > KVS_MAX_KEY)
            return "key length out of range";
        if (h->type == KVS_PUT ? h->val_len > KVS_MAX_VALUE : h->val_len != 0)
            return "value length out of range";
        if (h->type == KVS_MGET && (h->a1 == 0 || h->a0 + h->a1 < h->a0))
            return "MGET of no keys, or of ranks past 2^32";
        return NULL;
    case KVS_VALUE:
        if (h->key_len != 0 || h->val_len > KVS_MAX_REPLY)
            return "VALUE lengths out of range";
        return NULL;
    case KVS_ERROR:
        if (h->key_len != 0 || h->val_len > KVS_MAX_ERRMSG)
            return "ERROR lengths out of range";
        return NULL;
    default: return "unknown message type";
    }
}

/* The handshake's claims (rank, size) as both sides lay them out. */
static inline void kvs_claims(unsigned char c[8], uint32_t rank, uint32_t size)
{
    kvs_put32(c, rank);
    kvs_put32(c + 4, size);
}

/* ---- Rank 0's server ------------------------------------------------------ */

typedef struct kvs_server kvs_server_t;

/* Listen on port for a job of size ranks and serve from a new thread. The
 * listening addresses: those of res when they are all loopback addresses
 * (a single-host job stays off the network), else every interface.
 * addr is the user's "host:port", for messages. A connection that has not
 * proved key within handshake_ms is dropped; so is the oldest of those still
 * trying when more than size + KVS_MAX_PENDING are. */
rcomm_status_t kvs_server_start(int size, const struct addrinfo *res, const char *addr,
                                const auth_key_t *key, int handshake_ms,
                                kvs_server_t **srv);

/* Connections still authenticating, beyond one per rank. */
#define KVS_MAX_PENDING 64

/* Let the other ranks finish, then stop: returns once every connection has
 * closed or is parked on a GET (no rank left that could answer it), or after
 * linger_ms; then joins the thread, closes every connection and frees the
 * store. NULL is OK. */
void kvs_server_stop(kvs_server_t *srv, int linger_ms);

#ifdef RCOMM_FUZZING
/* Fuzz builds only (fuzz/fuzz_store.c): a server with no listener and no
 * thread. kvs_fuzz_connect adds a connection on fd (a socketpair end; the
 * server owns it from then on; -1: out of memory); kvs_fuzz_serve runs one
 * round of the poll loop on every connection, without waiting. */
kvs_server_t *kvs_fuzz_server(int size, const auth_key_t *key);
int kvs_fuzz_connect(kvs_server_t *srv, int fd);
void kvs_fuzz_serve(kvs_server_t *srv);
void kvs_fuzz_free(kvs_server_t *srv);
#endif

#endif
