/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * libFuzzer harness: the bootstrap store's protocol (kvs_proto.h), both ends.
 *
 * Server (first byte even): rank 0's store (kvs_server.c, through the
 * kvs_fuzz_* entry points) for a job of JOB_SIZE ranks, with NCONN
 * connections on socketpairs. The rest of the input is a script of steps,
 * each followed by one round of the server's poll loop:
 *   RAW     bytes on a connection, as they come;
 *   JOIN    HELLO for claims the input picks, and AUTH with the tag that
 *           proves the key over the server's challenge (or a wrong one), so
 *           that the requests behind it are parsed, not just the handshake;
 *   REQUEST a header and key and value built from input fields;
 *   EOF     the connection's write side closed.
 * Every reply the server sends is checked to be well formed
 * (kvs_hdr_problem, a reply type): a malformed one aborts.
 *
 *   input = 0, steps; a step is one byte (bits 0-1: the connection, bits
 *   2-3: which), then RAW: 16-bit length, bytes; JOIN: one choice byte;
 *   REQUEST: type and flags, key length, a0, a1, key, [16-bit length,
 *   value]; EOF: nothing.
 *
 * Client (first byte odd): a rank's client (bootstrap.c, through
 * bootstrap_fuzz_join) joins over a socketpair whose other end already holds
 * the input as the store's replies, optionally behind a CHALLENGE with the
 * right tag, then makes the put / get / allgather / barrier calls the input
 * picks. Nonces are fixed in fuzz builds (AUTH_FUZZ_NONCE), which is what
 * lets the harness compute the tags the client checks.
 *
 *   input = 1, flags (bits 0-1: our rank, 0x10: the harness writes the
 *   CHALLENGE, 0x20: we have no key), the number of calls (up to 8) and 3
 *   bytes per call (which, key, length), then the store's byte stream.
 */
#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "base/auth.h"
#include "bootstrap/bootstrap.h"
#include "bootstrap/kvs_proto.h"
#include "fuzz/fuzz.h"

#define JOB_SIZE 4
#define NCONN 3
#define MAX_VALUE 2048 /* of the values the harness builds */

static auth_key_t key;

static void put_all(int fd, const void *buf, size_t len)
{
    /* The peer may have closed (EPIPE): what it did not take is lost, as on
     * a real connection. */
    (void)!send(fd, buf, len, MSG_NOSIGNAL | MSG_DONTWAIT);
}

static void put_msg(int fd, uint16_t type, uint32_t seq, uint32_t a0, uint32_t a1,
                    const void *k, uint32_t klen, const void *v, uint32_t vlen)
{
    kvs_hdr_t h = {.magic = KVS_MAGIC,
                   .version = KVS_VERSION,
                   .type = type,
                   .seq = seq,
                   .a0 = a0,
                   .a1 = a1,
                   .key_len = klen,
                   .val_len = vlen};
    unsigned char buf[KVS_HDR_SIZE + 256 + MAX_VALUE];

    kvs_hdr_encode(&h, buf);
    if (klen)
        memcpy(buf + KVS_HDR_SIZE, k, klen);
    if (vlen)
        memcpy(buf + KVS_HDR_SIZE + klen, v, vlen);
    put_all(fd, buf, KVS_HDR_SIZE + klen + vlen);
}

/* ---- Server --------------------------------------------------------------------- */

typedef struct {
    int fd; /* our end */
    uint32_t seq;
    uint32_t rank, size;                            /* claims of its last JOIN */
    unsigned char nonce_c[16];                      /* nonce of its last JOIN */
    unsigned char nonce_s[16];                      /* from the server's last CHALLENGE */
    unsigned char rx[KVS_HDR_SIZE + KVS_MAX_REPLY]; /* replies not yet parsed */
    size_t rx_len;
} conn_t;

static conn_t conns[NCONN];

/* Take what the server sent on c and check each complete reply. */
static void drain(conn_t *c)
{
    for (;;) {
        size_t room = sizeof(c->rx) - c->rx_len;
        ssize_t n = recv(c->fd, c->rx + c->rx_len, room, MSG_DONTWAIT);

        if (n <= 0)
            break;
        c->rx_len += (size_t)n;
        while (c->rx_len >= KVS_HDR_SIZE) {
            kvs_hdr_t h;
            const char *problem;
            size_t len;

            kvs_hdr_decode(c->rx, &h);
            problem = kvs_hdr_problem(&h);
            if (!problem && h.type < KVS_OK)
                problem = "a request type in a reply";
            if (problem) {
                fprintf(stderr, "fuzz_store: the server sent a bad reply: %s\n", problem);
                abort();
            }
            len = KVS_HDR_SIZE + h.key_len + h.val_len;
            if (c->rx_len < len)
                break;
            if (h.type == KVS_CHALLENGE)
                memcpy(c->nonce_s, c->rx + KVS_HDR_SIZE + 1, AUTH_NONCE_LEN);
            memmove(c->rx, c->rx + len, c->rx_len - len);
            c->rx_len -= len;
        }
        if (c->rx_len == sizeof(c->rx)) { /* cannot be: replies are smaller */
            fprintf(stderr, "fuzz_store: a reply larger than KVS_MAX_REPLY\n");
            abort();
        }
        if ((size_t)n < room) /* the socket is empty: no EAGAIN round */
            break;
    }
}

/* Only the connections with something to read: every system call counts. */
static void drain_all(void)
{
    struct pollfd p[NCONN];

    for (int i = 0; i < NCONN; i++)
        p[i] = (struct pollfd){.fd = conns[i].fd, .events = POLLIN};
    if (poll(p, NCONN, 0) > 0)
        for (int i = 0; i < NCONN; i++)
            if (p[i].revents & POLLIN)
                drain(&conns[i]);
}

/* HELLO and AUTH as bootstrap.c's handshake sends them, for claims picked by
 * b; a wrong tag, no AUTH and a missing key flag are choices too. */
static void join(conn_t *c, kvs_server_t *srv, unsigned b)
{
    unsigned char hello[KVS_HELLO_LEN], claims[8], tag[AUTH_TAG_LEN];

    c->rank = b & 7;
    c->size = b & 8 ? JOB_SIZE + 1 : JOB_SIZE;
    memset(c->nonce_c, (int)b, sizeof(c->nonce_c));
    hello[0] = b & 16 ? 0 : KVS_F_KEYED;
    memcpy(hello + 1, c->nonce_c, AUTH_NONCE_LEN);
    put_msg(c->fd, KVS_HELLO, ++c->seq, c->rank, c->size, NULL, 0, hello, sizeof(hello));
    kvs_fuzz_serve(srv);
    drain(c); /* the CHALLENGE: its nonce goes into our tag */
    if (b & 64)
        return;
    kvs_claims(claims, c->rank, c->size);
    auth_tag(&key, KVS_LABEL_CLIENT, claims, sizeof(claims), c->nonce_c, c->nonce_s, tag);
    if (b & 32)
        tag[b % AUTH_TAG_LEN] ^= 1;
    put_msg(c->fd, KVS_AUTH, ++c->seq, 0, 0, NULL, 0, tag, sizeof(tag));
}

/* A request from fields of the input: mostly well-formed, sometimes not. */
static void request(conn_t *c, fuzz_in_t *in)
{
    static const uint16_t types[] = {KVS_PUT,  KVS_GET, KVS_MGET,  KVS_MISSING,
                                     KVS_PUT,  KVS_GET, KVS_MGET,  KVS_HELLO,
                                     KVS_AUTH, KVS_OK,  KVS_VALUE, 99};
    static const char alphabet[] = "ab/0123";
    unsigned t = fuzz_u8(in), klen = fuzz_u8(in) % 32;
    uint16_t type = types[(t & 0x1f) % (sizeof(types) / sizeof(types[0]))];
    uint32_t a0 = fuzz_u8(in), a1 = fuzz_u8(in), vlen = 0;
    unsigned char k[32], v[MAX_VALUE];

    fuzz_bytes(in, k, klen);
    /* Keys from a small alphabet meet each other (PUT, then GET); raw
     * ones reach the checks for NUL bytes and for text in messages. */
    if (!(t & 0x80))
        for (unsigned i = 0; i < klen; i++)
            k[i] = (unsigned char)alphabet[k[i] % (sizeof(alphabet) - 1)];
    if (type == KVS_PUT || (t & 0x40))
        vlen = fuzz_u16(in) % (MAX_VALUE + 1);
    fuzz_bytes(in, v, vlen);
    if (t & 0x20) /* a rank past the job, or a count to the end of 2^32 */
        a1 = 0xffffffffu - a1;
    put_msg(c->fd, type, ++c->seq, a0, a1, k, klen, v, vlen);
}

static void fuzz_server(fuzz_in_t *in)
{
    kvs_server_t *srv = kvs_fuzz_server(JOB_SIZE, &key);
    unsigned char raw[4096];
    int sv[2];

    if (!srv)
        abort();
    for (int i = 0; i < NCONN; i++) {
        conns[i].fd = -1;
        conns[i].seq = 0;
        conns[i].rx_len = 0;
        memset(conns[i].nonce_s, AUTH_FUZZ_NONCE, AUTH_NONCE_LEN);
        if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) != 0)
            abort();
        if (kvs_fuzz_connect(srv, sv[0]) != 0)
            abort();
        conns[i].fd = sv[1];
    }
    while (in->n) {
        unsigned op = fuzz_u8(in);
        conn_t *c = &conns[(op & 3) % NCONN];

        switch ((op >> 2) % 4) {
        case 0:
            put_all(c->fd, raw, fuzz_bytes(in, raw, fuzz_u16(in) % sizeof(raw)));
            break;
        case 1: join(c, srv, fuzz_u8(in)); break;
        case 2: request(c, in); break;
        case 3: shutdown(c->fd, SHUT_WR); break;
        }
        kvs_fuzz_serve(srv);
        drain_all();
    }
    kvs_fuzz_free(srv);
    for (int i = 0; i < NCONN; i++)
        close(conns[i].fd);
}

/* ---- Client --------------------------------------------------------------------- */

static void fuzz_client(fuzz_in_t *in)
{
    static const char *const keys[] = {"k", "tcp/0", "tcp", "addr", "a/b", "x"};
    static unsigned char val[MAX_VALUE], out[JOB_SIZE * 64];
    /* The client's reply buffer: 256 KiB from malloc would be an mmap and a
     * munmap per input, a fifth of the harness's time (ASan still sees a
     * read past a global's end). */
    static unsigned char reply[KVS_MAX_REPLY];
    unsigned flags = fuzz_u8(in), nops = fuzz_u8(in) % 9;
    int rank = (int)(flags % JOB_SIZE);
    unsigned char ops[8 * 3];
    auth_key_t mine;
    bootstrap_t *bs;
    int sv[2];

    fuzz_bytes(in, ops, 3 * nops);
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) != 0)
        abort();
    if (flags & 0x10) {
        /* The store's answer to our HELLO, as kvs_server.c makes it. */
        unsigned char ch[KVS_CHALLENGE_LEN], claims[8], nonce_c[AUTH_NONCE_LEN];

        memset(nonce_c, AUTH_FUZZ_NONCE, sizeof(nonce_c));
        ch[0] = KVS_F_KEYED;
        memset(ch + 1, (int)flags, AUTH_NONCE_LEN);
        kvs_claims(claims, (uint32_t)rank, JOB_SIZE);
        auth_tag(&key, KVS_LABEL_SERVER, claims, sizeof(claims), nonce_c, ch + 1,
                 ch + 1 + AUTH_NONCE_LEN);
        put_msg(sv[1], KVS_CHALLENGE, 1, 0, 0, NULL, 0, ch, sizeof(ch));
    }
    put_all(sv[1], in->p, in->n < 65536 ? in->n : 65536);
    shutdown(sv[1], SHUT_WR); /* the client never waits: it sees EOF instead */
    if (flags & 0x20)
        auth_key_none(&mine);
    else
        mine = key;
    if (bootstrap_fuzz_join(rank, JOB_SIZE, sv[0], &mine, reply, &bs) == RCOMM_OK) {
        for (unsigned i = 0; i < nops; i++) {
            const unsigned char *o = ops + 3 * i;
            const char *k = keys[o[1] % (sizeof(keys) / sizeof(keys[0]))];
            size_t len = o[2];

            switch (o[0] % 4) {
            case 0: bootstrap_put(bs, k, val, len); break;
            case 1: bootstrap_get(bs, 0, k, out, &len); break;
            case 2: bootstrap_allgather(bs, k, val, out, len % 64); break;
            case 3: bootstrap_barrier(bs, k); break;
            }
        }
        bootstrap_fuzz_leave(bs);
    }
    close(sv[1]);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    fuzz_setup(&key);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_in_t in = {data, size};

    if (!size)
        return 0;
    if (fuzz_u8(&in) & 1)
        fuzz_client(&in);
    else
        fuzz_server(&in);
    return 0;
}
