/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * libFuzzer harness: the TCP transport's wire (tcp_frame.h), as rank 1 of a
 * job of 3. Rank 2 dials us (tcp_fuzz_accept: the acceptor's side of the
 * 4-frame HELLO handshake), we dial rank 0 (tcp_fuzz_dial: the dialer's
 * side); each peer is a socketpair whose other end the harness plays from
 * the input. Then the data path (tcp_fuzz_ready, then the transport's ops
 * table) reads whatever the input sends, interleaved with the posts the
 * input asks for, so that frames meet receives, rendezvous, one-sided
 * requests and a registered region:
 *
 *   input = flags, credit, rank 2's handshake (choice or raw bytes), rank 0's
 *           (likewise), steps
 *
 * flags bit 0 / bit 1: the harness writes rank 2's / rank 0's handshake
 * itself, with the tags that prove the key (nonces are fixed in fuzz
 * builds: AUTH_FUZZ_NONCE), so that the input reaches the data path; a
 * choice byte may make its claims or tags wrong, and when it does not, the
 * handshake must succeed or the harness aborts. Otherwise the handshake is
 * raw input bytes. Bits 2 / 3: that peer leaves right after it. Bit 4: the
 * peers read what the transport sent only when a step says so, so that its
 * queues fill and control frames overtake data (protocol v4, tcp.h); bit 5:
 * small send buffers, so that frames stop halfway (a CTS may then come
 * while its RTS is still being written).
 *
 * Steps: raw bytes or a frame built from input fields on a peer's socket,
 * irecv, isend (up to two and a half DATA chunks, TCP_DATA_CHUNK), put /
 * get / atomics, cancel, EOF, deregister, read; progress(0) runs after
 * each. Everything the transport sends is parsed and checked: every header
 * (tcp_hdr_check), DATA chunks (at most TCP_DATA_CHUNK, each after the bytes
 * of its message sent before, within the size its RTS announced) and the
 * bytes of SEND, RTS, DATA and PUT payloads, which all come from src.
 */
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "base/auth.h"
#include "base/config.h"
#include "fuzz/fuzz.h"
#include "transports/tcp/tcp.h"

#define NREQ 16
#define MAX_MSG 40000 /* posts and frames: above TCP_COPY_MAX and the eager limit */
#define BIG_MSG (2 * TCP_DATA_CHUNK + 4096) /* sends: DATA in three chunks */
#define REGION_LEN 65536
#define NRNDV 64 /* rendezvous a peer follows */

static base_config_t cfg;
static auth_key_t key;
static _Alignas(64) unsigned char region[REGION_LEN]; /* ours, registered */
static unsigned char src[BIG_MSG];                    /* payloads we send: i & 0xff */

/* A rendezvous the transport announced to a peer: the bytes of its message
 * sent so far. */
typedef struct {
    uint32_t rid;
    uint64_t sent, size;
} rndv_t;

/* One peer as the harness plays it: its end of the socketpair, and the
 * parser of what the transport sends it. */
typedef struct {
    int fd;
    int rank;
    int hs_left; /* handshake frames still to come before data frames */
    unsigned char hdr[TCP_HS_LEN];
    size_t got;    /* bytes of hdr */
    uint64_t skip; /* payload bytes of the current frame still to come */
    int64_t at;    /* offset in src of the next of them; -1: not from src */
    rndv_t rndv[NRNDV];
    unsigned nrndv;
    bool lost; /* a rendezvous was forgotten (table full) */
} side_t;

static void bad_frame(const side_t *s, const char *what, const tcp_hdr_t *h)
{
    fprintf(stderr,
            "fuzz_tcp: the transport sent rank %d a bad frame: %s (%s, len %llu, size "
            "%llu, id %u)\n",
            s->rank, what, tcp_type_name(h->type), (unsigned long long)h->len,
            (unsigned long long)h->u.msg.size, h->detail);
    abort();
}

/* A data frame's header, checked: where in src its payload comes from. */
static void data_frame(side_t *s, const tcp_hdr_t *h)
{
    rndv_t *r = NULL;
    unsigned i;

    s->at = -1;
    s->skip = h->len;
    if (h->type == TCP_SEND || h->type == TCP_PUT) {
        s->at = 0;
    } else if (h->type == TCP_RTS) {
        /* A peer that never answers leaves its rendezvous here: the oldest
         * goes when the table is full. */
        if (s->nrndv == NRNDV) {
            memmove(s->rndv, s->rndv + 1, (NRNDV - 1) * sizeof(*r));
            s->nrndv--;
            s->lost = true;
        }
        s->rndv[s->nrndv++] = (rndv_t){h->detail, h->len, h->u.msg.size};
        s->at = 0;
    } else if (h->type == TCP_DATA) {
        if (h->len > TCP_DATA_CHUNK)
            bad_frame(s, "a DATA chunk above TCP_DATA_CHUNK", h);
        for (i = 0; i < s->nrndv && s->rndv[i].rid != h->detail; i++)
            ;
        if (i == s->nrndv) {
            if (!s->lost)
                bad_frame(s, "DATA of no rendezvous announced", h);
            return;
        }
        r = &s->rndv[i];
        if (r->size != h->u.msg.size || h->len > r->size - r->sent)
            bad_frame(s, "DATA past the size its RTS announced", h);
        s->at = (int64_t)r->sent;
        if ((r->sent += h->len) == r->size)
            memmove(r, r + 1, (s->nrndv-- - i - 1) * sizeof(*r));
    }
}

/* Payload bytes of the current frame: those from src must be src's. */
static void payload(side_t *s, const unsigned char *p, size_t n)
{
    if (s->at < 0)
        return;
    for (size_t j = 0; j < n; j++)
        if (p[j] != (unsigned char)(s->at + (int64_t)j)) {
            fprintf(stderr,
                    "fuzz_tcp: the transport sent rank %d byte %lld of a message wrong\n",
                    s->rank, (long long)s->at + (long long)j);
            abort();
        }
    s->at += (int64_t)n;
}

static void put_all(side_t *s, const void *buf, size_t len)
{
    /* What the transport does not take (it closed) is lost, as on TCP. */
    (void)!send(s->fd, buf, len, MSG_NOSIGNAL | MSG_DONTWAIT);
}

/* Read what the transport sent to s; abort on a frame it must not send. */
static void drain(side_t *s)
{
    unsigned char buf[65536];
    ssize_t n;

    do {
        if ((n = recv(s->fd, buf, sizeof(buf), MSG_DONTWAIT)) <= 0)
            break;
        for (size_t i = 0; i < (size_t)n;) {
            size_t want = s->hs_left ? TCP_HS_LEN : TCP_HDR_LEN, k;
            tcp_hdr_t h;
            char why[128];

            if (s->skip) {
                k = (size_t)n - i < s->skip ? (size_t)n - i : s->skip;
                payload(s, buf + i, k);
                s->skip -= k;
                i += k;
                continue;
            }
            k = want - s->got < (size_t)n - i ? want - s->got : (size_t)n - i;
            memcpy(s->hdr + s->got, buf + i, k);
            s->got += k;
            i += k;
            if (s->got < want)
                continue;
            s->got = 0;
            memcpy(&h, s->hdr, TCP_HDR_LEN);
            if (tcp_hdr_check(&h, s->hs_left > 0, why, sizeof(why)) != 0)
                bad_frame(s, why, &h);
            if (s->hs_left)
                s->hs_left--;
            else
                data_frame(s, &h);
        }
    } while ((size_t)n == sizeof(buf)); /* short: the socket is empty */
}

/* Only the sides with something to read: every system call counts. */
static void drain_all(side_t *sides)
{
    struct pollfd p[2] = {{.fd = sides[0].fd, .events = POLLIN},
                          {.fd = sides[1].fd, .events = POLLIN}};

    if (poll(p, 2, 0) > 0)
        for (int i = 0; i < 2; i++)
            if (p[i].revents & POLLIN)
                drain(&sides[i]);
}

static void hello_hdr(tcp_hdr_t *h, unsigned flags, int src_rank, int size, int dst,
                      unsigned credit)
{
    tcp_hdr_init(h, TCP_HELLO, sizeof(tcp_auth_t));
    h->flags = (uint16_t)flags;
    h->u.hello.src = src_rank;
    h->u.hello.size = size;
    h->u.hello.dst = dst;
    h->u.hello.credit_kib = credit;
}

static void put_hs(side_t *s, const tcp_hdr_t *h, const tcp_auth_t *a)
{
    unsigned char buf[TCP_HS_LEN];

    memcpy(buf, h, TCP_HDR_LEN);
    memcpy(buf + TCP_HDR_LEN, a, sizeof(*a));
    put_all(s, buf, sizeof(buf));
}

/* Rank 2 dials us: HELLO, then (ahead of our answer: our nonce is known)
 * its PROOF. c = 0 is the handshake tcp_conn.c makes, which must be
 * accepted; its bits change the claims (1: src from bits 1-2, 8: size,
 * 16: dst), the key flag (32), the tag (64) and the PROOF's flags (128),
 * with a tag that proves the key over whatever is claimed. */
static bool dialer_handshake(side_t *s, unsigned credit, unsigned c)
{
    int src = c & 1 ? (int)(c >> 1 & 3) : 2, size = c & 8 ? 4 : 3, dst = c & 16 ? 0 : 1;
    unsigned keyed = c & 32 ? 0 : TCP_F_KEYED;
    uint8_t ours[AUTH_NONCE_LEN];
    int32_t claims[3];
    tcp_auth_t a = {0};
    tcp_hdr_t h;

    memset(ours, AUTH_FUZZ_NONCE, sizeof(ours));
    memset(a.nonce, 0x21, sizeof(a.nonce));
    hello_hdr(&h, keyed, src, size, dst, credit);
    put_hs(s, &h, &a);
    tcp_hello_claims(&h, claims);
    auth_tag(&key, TCP_LABEL_DIALER, claims, sizeof(claims), a.nonce, ours, a.tag);
    a.tag[0] ^= c & 64 ? 1 : 0;
    memset(a.nonce, 0, sizeof(a.nonce));
    hello_hdr(&h, keyed | (c & 128 ? TCP_F_ACK : TCP_F_PROOF), src, size, dst, credit);
    put_hs(s, &h, &a);
    return !(c & ~32u);
}

/* Rank 0 accepts our dial: its challenge (over the HELLO we will send),
 * then its verdict. c = 0 is what tcp_conn.c answers, which must connect;
 * its bits make the challenge a refusal (1, reason from bits 1-3) or its tag
 * wrong (16), the verdict a refusal (32), about other ranks (64) or without
 * its PROOF flag (128). */
static bool acceptor_handshake(side_t *s, unsigned credit, unsigned c)
{
    uint8_t ours[AUTH_NONCE_LEN];
    int32_t claims[3] = {1, 3, 0}; /* our HELLO: src, size, dst */
    tcp_auth_t a = {0};
    tcp_hdr_t h;

    memset(ours, AUTH_FUZZ_NONCE, sizeof(ours));
    memset(a.nonce, 0x43, sizeof(a.nonce));
    auth_tag(&key, TCP_LABEL_ACCEPTOR, claims, sizeof(claims), ours, a.nonce, a.tag);
    a.tag[0] ^= c & 16 ? 1 : 0;
    hello_hdr(&h, TCP_F_ACK | TCP_F_KEYED, 0, 0, -1, credit);
    if (c & 1) {
        h.status = RCOMM_ERR_BOOTSTRAP;
        h.detail = c >> 1 & 7;
    }
    put_hs(s, &h, &a);
    memset(&a, 0, sizeof(a));
    hello_hdr(&h, TCP_F_ACK | (c & 128 ? 0 : TCP_F_PROOF) | TCP_F_KEYED, c & 64 ? 2 : 0,
              3, 1, credit);
    if (c & 32) {
        h.status = RCOMM_ERR_BOOTSTRAP;
        h.detail = c >> 1 & 7;
        h.u.hello.size = (int32_t)(c >> 1 & 7);
    }
    put_hs(s, &h, &a);
    return c == 0;
}

static void raw(side_t *s, fuzz_in_t *in, size_t max)
{
    unsigned char buf[4096];
    size_t len = fuzz_u16(in) % (max + 1);

    put_all(s, buf, fuzz_bytes(in, buf, len < sizeof(buf) ? len : sizeof(buf)));
}

/* A frame from input fields: a header the fuzzer would rarely guess (magic,
 * version, our region's key and address, ids of our operations), and its
 * payload from the input as far as it goes, or zeros. misc: 1 size field,
 * 2 flags, 4 a key from the input, 8 an address below the region, 16 zeros. */
static void frame(side_t *s, fuzz_in_t *in, const tp_rkey_t *rk)
{
    unsigned type = fuzz_u8(in), misc = fuzz_u8(in);
    uint64_t len = fuzz_u16(in) % (MAX_MSG + 1);
    unsigned char buf[TCP_HDR_LEN + 4096];
    tcp_hdr_t h;
    size_t k;

    tcp_hdr_init(&h, type & 0x80 ? type : type % TCP_TYPE_END, len);
    h.u.msg.tag = fuzz_u8(in) % 4;
    h.u.msg.size = len + (misc & 1 ? fuzz_u16(in) : 0);
    h.detail = fuzz_u8(in);
    h.status = (int8_t)fuzz_u8(in);
    if (misc & 2)
        h.flags = (uint16_t)fuzz_u8(in);
    if (h.type >= TCP_PUT && h.type <= TCP_ATOMIC_RESP) {
        h.u.rma.id = fuzz_u8(in);
        h.u.rma.key = misc & 4 ? fuzz_u8(in) : rk->key;
        h.u.rma.raddr = rk->addr + (misc & 8 ? (uint64_t)0 - fuzz_u8(in) : fuzz_u16(in));
        h.u.rma.arg[0] = fuzz_u16(in);
        h.u.rma.arg[1] = fuzz_u8(in);
    }
    memcpy(buf, &h, TCP_HDR_LEN);
    if (!(misc & 16)) { /* else zeros: large frames from short inputs */
        k = fuzz_bytes(in, buf + TCP_HDR_LEN, len < 4096 ? len : 4096);
        put_all(s, buf, TCP_HDR_LEN + k);
        return;
    }
    put_all(s, buf, TCP_HDR_LEN);
    for (memset(buf, 0, sizeof(buf)); len; len -= k) {
        k = len < sizeof(buf) ? len : sizeof(buf);
        put_all(s, buf, k);
    }
}

typedef struct {
    tp_req_t req;
    void *buf;
} slot_t;

static slot_t slots[NREQ];

/* A slot whose request is done (or never posted), its buffer freed. */
static slot_t *free_slot(unsigned i)
{
    slot_t *sl = &slots[i % NREQ];

    if (sl->req.status == RCOMM_INPROGRESS)
        return NULL;
    free(sl->buf);
    memset(sl, 0, sizeof(*sl));
    return sl;
}

static void data_path(tp_t *tp, side_t *sides, bool read_always, fuzz_in_t *in)
{
    const tp_ops_t *ops = tp->ops;
    tp_mr_t *mr = NULL;
    tp_rkey_t rk = {0};

    memset(region, 0, sizeof(region)); /* what earlier inputs wrote there */
    if (ops->mem_reg(tp, region, sizeof(region),
                     TP_REMOTE_READ | TP_REMOTE_WRITE | TP_REMOTE_ATOMIC,
                     &mr) != RCOMM_OK ||
        ops->mem_rkey(mr, &rk) != RCOMM_OK)
        abort();
    while (in->n) {
        unsigned op = fuzz_u8(in);
        side_t *s = &sides[op & 1];
        unsigned tag = fuzz_u8(in) % 4;
        slot_t *sl;

        switch ((op >> 1) % 10) {
        case 0: raw(s, in, 4096); break;
        case 1: frame(s, in, &rk); break;
        case 2:
            if ((sl = free_slot(fuzz_u8(in)))) {
                size_t cap = fuzz_u16(in) % (MAX_MSG + 1);
                sl->buf = malloc(cap ? cap : 1);
                ops->irecv(tp, s->rank, tag, sl->buf, cap, &sl->req);
            }
            break;
        case 3: {
            unsigned which = fuzz_u8(in);
            /* Bit 7: a message long enough for DATA in chunks. */
            size_t len = which & 0x80 ? fuzz_u16(in) * 16u % (BIG_MSG + 1)
                                      : fuzz_u16(in) % (MAX_MSG + 1);
            if ((sl = free_slot(which)))
                ops->isend(tp, s->rank, tag, NULL, src, len, &sl->req);
            break;
        }
        case 4:
            if ((sl = free_slot(fuzz_u8(in)))) {
                /* The peer's region: whatever it is, its replies decide. */
                tp_rkey_t prk = {.addr = 4096, .len = 65536, .key = fuzz_u8(in)};
                size_t len = fuzz_u16(in) % 8192;
                switch (tag) {
                case 0: ops->put(tp, s->rank, src, len, &prk, 4096, &sl->req); break;
                case 1:
                    sl->buf = malloc(len ? len : 1);
                    ops->get(tp, s->rank, sl->buf, len, &prk, 4096, &sl->req);
                    break;
                case 2: ops->fetch_add(tp, s->rank, &prk, 4096, 1, &sl->req); break;
                case 3: ops->compare_swap(tp, s->rank, &prk, 4096, 0, 1, &sl->req); break;
                }
            }
            break;
        case 5: ops->progress(tp, 0); break;
        case 6:
            sl = &slots[fuzz_u8(in) % NREQ];
            if (sl->req.status == RCOMM_INPROGRESS &&
                ops->cancel(tp, &sl->req) == RCOMM_OK)
                sl->req.status = RCOMM_OK; /* never completed now: the slot is free */
            break;
        case 7: shutdown(s->fd, SHUT_WR); break;
        case 8:
            if (mr) {
                ops->mem_dereg(tp, mr);
                mr = NULL;
            }
            break;
        case 9: drain(s); break;
        }
        ops->progress(tp, 0);
        if (read_always)
            drain_all(sides);
    }
    if (mr)
        ops->mem_dereg(tp, mr);
}

static void run(fuzz_in_t *in)
{
    tp_params_t params = {.rank = 1,
                          .size = 3,
                          .cfg = &cfg,
                          .timeout_ms = 1000,
                          .key = &key,
                          .handshake_ms = 1000,
                          .host = "127.0.0.1"};
    unsigned flags = fuzz_u8(in), credit = fuzz_u8(in) * 16;
    side_t sides[2] = {{.rank = 0, .hs_left = 2}, {.rank = 2, .hs_left = 2}};
    int sv0[2], sv2[2], r;
    bool valid = false; /* a handshake that must succeed */
    rcomm_status_t st;
    tcp_tp_t *t;
    tp_t *tp;

    if (tp_tcp_ops.create(&params, &tp) != RCOMM_OK)
        abort();
    t = tcp_tp(tp);
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv0) != 0 ||
        socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv2) != 0)
        abort();
    sides[0].fd = sv0[1];
    sides[1].fd = sv2[1];
    if (flags & 32) { /* the least the kernel allows: a few KiB */
        int small = 1;
        setsockopt(sv0[0], SOL_SOCKET, SO_SNDBUF, &small, sizeof(small));
        setsockopt(sv2[0], SOL_SOCKET, SO_SNDBUF, &small, sizeof(small));
    }

    if (flags & 1)
        valid = dialer_handshake(&sides[1], credit, fuzz_u8(in));
    else
        raw(&sides[1], in, 2 * TCP_HS_LEN + 8);
    if (flags & 4) /* it leaves after what it sent */
        shutdown(sides[1].fd, SHUT_WR);
    r = tcp_fuzz_accept(t, sv2[0]);
    if (valid && r != 2) {
        fprintf(stderr, "fuzz_tcp: a valid handshake from rank 2 was refused\n");
        abort();
    }
    valid = false;
    if (flags & 2)
        valid = acceptor_handshake(&sides[0], credit, fuzz_u8(in));
    else
        raw(&sides[0], in, 2 * TCP_HS_LEN + 8);
    if (flags & 8)
        shutdown(sides[0].fd, SHUT_WR);
    st = tcp_fuzz_dial(t, 0, sv0[0]);
    if (valid && st != RCOMM_OK) {
        fprintf(stderr, "fuzz_tcp: a valid handshake with rank 0 failed: %s\n",
                rcomm_last_error());
        abort();
    }
    if (r == 2 && st == RCOMM_OK) {
        drain_all(sides);
        if (tcp_fuzz_ready(t) != RCOMM_OK)
            abort();
        data_path(tp, sides, !(flags & 16), in);
    }
    tp->ops->destroy(tp, RCOMM_OK, NULL);
    for (int i = 0; i < NREQ; i++) {
        free(slots[i].buf);
        memset(&slots[i], 0, sizeof(slots[i]));
    }
    close(sv0[1]);
    close(sv2[1]);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    fuzz_setup(&key);
    if (base_config_load(&cfg) != RCOMM_OK)
        abort();
    cfg.tcp_bufsize = 65536;
    cfg.tcp_eager = 16384; /* rendezvous within reach of small inputs */
    for (size_t i = 0; i < sizeof(src); i++)
        src[i] = (unsigned char)i;
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_in_t in = {data, size};

    run(&in);
    return 0;
}
