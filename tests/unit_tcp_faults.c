/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Faults over the TCP transport: fake ranks that send malformed frames or bad
 * handshakes, a rank that exits mid-transfer, a rank that closes with a
 * reason, and a rank that never starts. The others must report the right
 * status naming the culprit, never crash, and keep working with each other.
 */
#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "base/clock.h"
#include "base/error.h"
#include "tp_harness.h"
#include "transports/tcp/tcp_frame.h"

/* ---- a fake rank's tools: blocking sockets, 10 s timeouts ---------------- */

static void dead_addr(tp_blob_t *b)
{
    struct sockaddr_in in = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(0x7f000001)};
    socklen_t l = sizeof(in);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    tcp_addr_t a = {.version = TCP_ADDR_VERSION, .family = 4};

    /* A port that was free a moment ago: connecting to it is refused. */
    REQUIRE(fd >= 0 && bind(fd, (struct sockaddr *)&in, l) == 0 &&
            getsockname(fd, (struct sockaddr *)&in, &l) == 0);
    close(fd);
    a.port = ntohs(in.sin_port);
    memcpy(a.ip, &in.sin_addr, 4);
    memcpy(b->data, &a, sizeof(a));
    b->len = sizeof(a);
}

static int dial(const tp_blob_t *b)
{
    tcp_addr_t a;
    struct sockaddr_in in = {.sin_family = AF_INET};
    struct timeval tv = {.tv_sec = 10};
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    REQUIRE(fd >= 0 && b->len == sizeof(a));
    memcpy(&a, b->data, sizeof(a));
    in.sin_port = htons(a.port);
    memcpy(&in.sin_addr, a.ip, 4);
    REQUIRE(connect(fd, (struct sockaddr *)&in, sizeof(in)) == 0);
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    return fd;
}

static void put_all(int fd, const void *buf, size_t len)
{
    REQUIRE(send(fd, buf, len, MSG_NOSIGNAL) == (ssize_t)len);
}

/* Exactly len bytes: 1, or 0 on EOF, -1 on timeout or error. */
static int get_all(int fd, void *buf, size_t len)
{
    for (size_t off = 0; off < len;) {
        ssize_t n = recv(fd, (char *)buf + off, len - off, 0);
        if (n <= 0)
            return n == 0 ? 0 : -1;
        off += (size_t)n;
    }
    return 1;
}

/* The flow-control credit our HELLOs claim: by default twice the harness's
 * 64 KiB eager limit. */
static uint32_t hello_credit_kib = 128;

static void hello(tcp_hdr_t *h, int src, int size, int dst)
{
    tcp_hdr_init(h, TCP_HELLO, sizeof(tcp_auth_t));
    h->u.hello.src = src;
    h->u.hello.size = size;
    h->u.hello.dst = dst;
    h->u.hello.credit_kib = hello_credit_kib;
}

static void put_frame(int fd, const tcp_hdr_t *h, const tcp_auth_t *a)
{
    put_all(fd, h, sizeof(*h));
    put_all(fd, a, sizeof(*a));
}

/* 1 with the next handshake frame, 0 if the acceptor closed instead. */
static int get_frame(int fd, tcp_hdr_t *h, tcp_auth_t *a)
{
    int rc = get_all(fd, h, sizeof(*h));

    REQUIRE(rc >= 0);
    if (rc == 0)
        return 0;
    REQUIRE(get_all(fd, a, sizeof(*a)) == 1);
    return 1;
}

/* The dialer's side of the handshake (tcp_frame.h) proving key (NULL: the
 * no-key stand-in) with the claims of *h. Returns 1 with the verdict in *h,
 * or 0 when the acceptor closed without one. */
static int handshake(int fd, tcp_hdr_t *h, const auth_key_t *key)
{
    auth_key_t none;
    tcp_auth_t mine = {0}, theirs;
    int32_t claims[3];

    if (!key) {
        auth_key_none(&none);
        key = &none;
    }
    tcp_hello_claims(h, claims);
    auth_nonce(mine.nonce);
    put_frame(fd, h, &mine);
    if (!get_frame(fd, h, &theirs))
        return 0;
    if (h->flags & TCP_F_PROOF) /* a verdict at once: a version refusal */
        return 1;
    REQUIRE(h->type == TCP_HELLO && (h->flags & ~TCP_F_KEYED) == TCP_F_ACK &&
            h->status == RCOMM_OK);
    h->flags = TCP_F_PROOF;
    h->u.hello.src = claims[0];
    h->u.hello.size = claims[1];
    h->u.hello.dst = claims[2];
    auth_tag(key, TCP_LABEL_DIALER, claims, sizeof(claims), mine.nonce, theirs.nonce,
             mine.tag);
    memset(mine.nonce, 0, sizeof(mine.nonce));
    put_frame(fd, h, &mine);
    return get_frame(fd, h, &theirs);
}

/* Dial rank dst as rank src and complete a valid handshake with key. */
static int join_keyed(const tp_blob_t *blobs, int dst, int src, int size,
                      const auth_key_t *key)
{
    tcp_hdr_t h;
    int fd = dial(&blobs[dst]);

    hello(&h, src, size, dst);
    REQUIRE(handshake(fd, &h, key) == 1);
    REQUIRE(h.magic == TCP_MAGIC && h.type == TCP_HELLO && (h.flags & TCP_F_ACK) &&
            h.status == RCOMM_OK && h.u.hello.src == dst && h.u.hello.dst == src);
    return fd;
}

static int join(const tp_blob_t *blobs, int dst, int src, int size)
{
    return join_keyed(blobs, dst, src, size, NULL);
}

static void send_msg(int fd, uint64_t tag, const char *text)
{
    tcp_hdr_t h;

    tcp_hdr_init(&h, TCP_SEND, strlen(text));
    h.u.msg.tag = tag;
    put_all(fd, &h, sizeof(h));
    put_all(fd, text, strlen(text));
}

/* The real rank closes: its GOODBYE carries status. */
static void expect_goodbye(int fd, rcomm_status_t status)
{
    tcp_hdr_t h;

    REQUIRE(get_all(fd, &h, sizeof(h)) == 1);
    REQUIRE(h.magic == TCP_MAGIC && h.type == TCP_GOODBYE && h.status == status);
    close(fd);
}

/* ---- malformed frames ---------------------------------------------------- */

enum {
    BAD_MAGIC,
    BAD_VERSION,
    HUGE_LEN,
    BAD_TYPE,
    TRUNCATED,
    UNKNOWN_REPLY,
    PAYLOAD_ON_ATOMIC,
    BAD_GOODBYE,
    UNKNOWN_CTS, /* for a rendezvous we never announced */
    STRAY_DATA,  /* rendezvous data nobody asked for */
    HUGE_RTS,    /* announcing an absurd size */
    BAD_ACK,     /* acknowledging bytes never sent */
    NO_CREDIT,   /* more unexpected eager bytes than its flow-control credit */
    GREEDY,      /* claims a 4 TiB credit, then sends 200 MiB unasked */
    BAD_NOTIFY,  /* a put_notify's value at TP_NOTIFY_LIMIT */
    NOTIFY_GET,  /* the notify flag on a frame other than PUT */
    NBAD
};

/* Rank 2 of 3: a good message to rank 1 then EOF; a bad frame to rank 0. */
static int fake_malformed(const tp_blob_t *blobs, int first, int size, int variant)
{
    int fd0, fd1;
    tcp_hdr_t h;

    if (variant == GREEDY)
        hello_credit_kib = UINT32_MAX;
    fd0 = join(blobs, 0, 2, 3);
    fd1 = join(blobs, 1, 2, 3);

    send_msg(fd1, 9, "hello");
    close(fd1);
    tcp_hdr_init(&h, TCP_SEND, 100);
    h.u.msg.tag = 9;
    switch (variant) {
    case BAD_MAGIC: h.magic = 0x12345678; break;
    case BAD_VERSION: h.version = 9; break;
    case HUGE_LEN: h.len = 1ull << 41; break;
    case BAD_TYPE: h.type = 77; break;
    case UNKNOWN_REPLY:
        tcp_hdr_init(&h, TCP_PUT_ACK, 0);
        h.u.rma.id = 777;
        break;
    case PAYLOAD_ON_ATOMIC: tcp_hdr_init(&h, TCP_ATOMIC_FADD, 16); break;
    case BAD_GOODBYE:
        tcp_hdr_init(&h, TCP_GOODBYE, 0);
        h.status = 5;
        break;
    case UNKNOWN_CTS:
        tcp_hdr_init(&h, TCP_CTS, 0);
        h.detail = 777;
        break;
    case STRAY_DATA:
        tcp_hdr_init(&h, TCP_DATA, 100);
        h.u.msg.tag = 9;
        h.u.msg.size = 100;
        h.detail = 1;
        break;
    case BAD_ACK:
        tcp_hdr_init(&h, TCP_ACK, 0);
        h.u.msg.size = 100000;
        break;
    case GREEDY: /* beyond any credit a rank may grant: refused unread */
        tcp_hdr_init(&h, TCP_SEND, 200u << 20);
        h.u.msg.tag = 50;
        break;
    case BAD_NOTIFY: /* refused at the header, before the access check */
        tcp_hdr_init(&h, TCP_PUT, 0);
        h.flags = TCP_F_NOTIFY;
        h.u.rma.arg[0] = TP_NOTIFY_LIMIT;
        break;
    case NOTIFY_GET:
        tcp_hdr_init(&h, TCP_GET_REQ, 0);
        h.flags = TCP_F_NOTIFY;
        break;
    case HUGE_RTS:
        tcp_hdr_init(&h, TCP_RTS, 0);
        h.u.msg.tag = 9;
        h.u.msg.size = 1ull << 41;
        break;
    }
    if (variant == TRUNCATED) {
        put_all(fd0, &h, 30);
        close(fd0);
        return 0;
    }
    if (variant == NO_CREDIT) {
        /* 32 KiB messages nobody receives: the fifth exceeds 128 KiB. */
        static char big[32 << 10];
        for (int i = 0; i < 5; i++) {
            tcp_hdr_init(&h, TCP_SEND, sizeof(big));
            h.u.msg.tag = 50;
            put_all(fd0, &h, sizeof(h));
            put_all(fd0, big, sizeof(big));
        }
        expect_goodbye(fd0, RCOMM_ERR_PROTOCOL);
        return 0;
    }
    put_all(fd0, &h, sizeof(h));
    expect_goodbye(fd0, RCOMM_ERR_PROTOCOL); /* rank 0 tells us why it closed */
    return 0;
}

static void sc_malformed(tp_ctx_t *c)
{
    rcomm_status_t want =
        c->variant == TRUNCATED ? RCOMM_ERR_PEER_FAILED : RCOMM_ERR_PROTOCOL;
    tp_req_t rq = {0};
    char buf[16];

    if (c->rank == 0) {
        tp_expect_fail(c, c->ops->irecv(c->tp, 2, 9, buf, 16, &rq), &rq, want, "rank 2");
        REQUIRE(c->ops->irecv(c->tp, 2, 9, buf, 16, &rq) == want);
        REQUIRE(c->ops->isend(c->tp, 2, 9, NULL, buf, 16, &rq) == want);
    } else {
        OK(c->ops->irecv(c->tp, 2, 9, buf, 16, &rq));
        tp_wait_ok(c, &rq, 1);
        REQUIRE(rq.len == 5 && memcmp(buf, "hello", 5) == 0);
        tp_expect_fail(c, c->ops->irecv(c->tp, 2, 10, buf, 16, &rq), &rq,
                       RCOMM_ERR_PEER_FAILED, "connection to rank 2 lost");
    }
    tp_ping(c, 1 - c->rank, 77, 100000); /* the healthy pair goes on */
}

START_TEST(test_malformed)
{
    tp_group_t g = {.transport = "tcp",
                    .size = 3,
                    .fn = sc_malformed,
                    .variant = _i,
                    .fake_from = 2,
                    .fake = fake_malformed,
                    .absent = -1,
                    .absent_addr = dead_addr};
    tp_run_group(&g);
}
END_TEST

/* ---- rendezvous data out of CTS order -------------------------------------- */

/* A sender hears CTS A, then CTS B while A's head is still being written:
 * B's DATA goes first (tcp_rndv.c). Fake rank 2 announces A (tag 9, id 1)
 * and B (tag 10, id 2) to rank 0, takes both CTSs, then sends B's DATA and
 * A's in two chunks with a control frame between them. */
#define ORDER_LEN 3000

static void order_data(int fd, uint64_t tag, uint32_t rid, size_t off, size_t len,
                       char fill)
{
    static char buf[ORDER_LEN];
    tcp_hdr_t h;

    tcp_hdr_init(&h, TCP_DATA, len);
    h.u.msg.tag = tag;
    h.u.msg.size = ORDER_LEN;
    h.detail = rid;
    memset(buf, fill, len);
    buf[0] = (char)(fill + (off ? 1 : 0)); /* each chunk lands where it belongs */
    put_all(fd, &h, sizeof(h));
    put_all(fd, buf, len);
}

static int fake_data_order(const tp_blob_t *blobs, int first, int size, int variant)
{
    int fd0 = join(blobs, 0, 2, 3), fd1 = join(blobs, 1, 2, 3), cts = 0;
    uint32_t granted[2] = {0, 0};
    tcp_hdr_t h;
    char skip[256];

    close(fd1);
    for (uint32_t rid = 1; rid <= 2; rid++) {
        tcp_hdr_init(&h, TCP_RTS, 0); /* no head: all of it in DATA */
        h.u.msg.tag = 8 + rid;
        h.u.msg.size = ORDER_LEN;
        h.detail = rid;
        put_all(fd0, &h, sizeof(h));
    }
    while (cts < 2) { /* whatever else comes is skipped */
        REQUIRE(get_all(fd0, &h, sizeof(h)) == 1 && h.magic == TCP_MAGIC);
        for (uint64_t left = h.len; left > 0;) {
            size_t n = left < sizeof(skip) ? (size_t)left : sizeof(skip);
            REQUIRE(get_all(fd0, skip, n) == 1);
            left -= n;
        }
        if (h.type == TCP_CTS)
            granted[cts++] = h.detail;
    }
    REQUIRE(granted[0] == 1 && granted[1] == 2); /* announced order */
    order_data(fd0, 10, 2, 0, ORDER_LEN, 'b');
    order_data(fd0, 9, 1, 0, 1000, 'a');
    send_msg(fd0, 11, ""); /* zero bytes: a control frame */
    order_data(fd0, 9, 1, 1000, ORDER_LEN - 1000, 'a');
    while (get_all(fd0, &h, sizeof(h)) == 1 && h.type != TCP_GOODBYE)
        ; /* until rank 0 leaves */
    close(fd0);
    (void)first, (void)size, (void)variant;
    return 0;
}

static void sc_data_order(tp_ctx_t *c)
{
    if (c->rank == 0) {
        char *a = tp_xmalloc(ORDER_LEN), *b = tp_xmalloc(ORDER_LEN), z;
        tp_req_t rq[3] = {{0}};

        OK(c->ops->irecv(c->tp, 2, 9, a, ORDER_LEN, &rq[0]));
        OK(c->ops->irecv(c->tp, 2, 10, b, ORDER_LEN, &rq[1]));
        OK(c->ops->irecv(c->tp, 2, 11, &z, 1, &rq[2]));
        tp_wait_ok(c, rq, 3);
        REQUIRE(rq[0].len == ORDER_LEN && rq[1].len == ORDER_LEN && rq[2].len == 0);
        for (size_t i = 0; i < ORDER_LEN; i++) {
            REQUIREF(b[i] == 'b', "B's byte %zu", i);
            REQUIREF(a[i] == (i == 1000 ? 'b' : 'a'), "A's byte %zu", i);
        }
        free(a);
        free(b);
    }
    tp_ping(c, 1 - c->rank, 77, 100000);
}

START_TEST(test_data_order)
{
    tp_group_t g = {.transport = "tcp",
                    .size = 3,
                    .fn = sc_data_order,
                    .fake_from = 2,
                    .fake = fake_data_order,
                    .absent = -1,
                    .absent_addr = dead_addr};
    tp_run_group(&g);
}
END_TEST

/* ---- handshake ------------------------------------------------------------ */

/* Ranks 1 and 2 of 3, dialing rank 0 with every kind of bad HELLO first. */
static int fake_handshake(const tp_blob_t *blobs, int first, int size, int variant)
{
    static const struct {
        uint32_t magic;
        uint8_t version;
        int src, size, dst;
        int rej; /* -1: closed without an answer */
    } bad[] = {
        {0x11111111, TCP_VERSION, 2, 3, 0, -1},
        {TCP_MAGIC, TCP_VERSION + 1, 2, 3, 0, TCP_REJ_VERSION},
        {TCP_MAGIC, TCP_VERSION, 2, 4, 0, TCP_REJ_SIZE},
        {TCP_MAGIC, TCP_VERSION, 2, 3, 1, TCP_REJ_DST},
        {TCP_MAGIC, TCP_VERSION, 0, 3, 0, TCP_REJ_SRC},
        {TCP_MAGIC, TCP_VERSION, 7, 3, 0, TCP_REJ_SRC},
    };
    int fd1, fd2, fd;
    tcp_hdr_t h;

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        fd = dial(&blobs[0]);
        hello(&h, bad[i].src, bad[i].size, bad[i].dst);
        h.magic = bad[i].magic;
        h.version = bad[i].version;
        if (bad[i].rej >= 0) {
            REQUIRE(handshake(fd, &h, NULL) == 1);
            REQUIRE(h.type == TCP_HELLO && h.status != RCOMM_OK &&
                    h.detail == (uint32_t)bad[i].rej);
        } else {
            REQUIRE(handshake(fd, &h, NULL) == 0);
        }
        REQUIRE(get_all(fd, &h, sizeof(h)) == 0); /* then closed */
        close(fd);
    }
    fd2 = join(blobs, 0, 2, 3);
    fd = dial(&blobs[0]); /* rank 2 again */
    hello(&h, 2, 3, 0);
    REQUIRE(handshake(fd, &h, NULL) == 1 && h.detail == TCP_REJ_DUP);
    close(fd);
    fd1 = join(blobs, 0, 1, 3);
    send_msg(fd1, 1, "one");
    send_msg(fd2, 2, "two");
    expect_goodbye(fd1, RCOMM_OK);
    expect_goodbye(fd2, RCOMM_OK);
    return 0;
}

static void sc_handshake(tp_ctx_t *c)
{
    tp_req_t rq[2] = {0};
    char a[8], b[8];

    OK(c->ops->irecv(c->tp, 1, 1, a, sizeof(a), &rq[0]));
    OK(c->ops->irecv(c->tp, 2, 2, b, sizeof(b), &rq[1]));
    tp_wait_ok(c, rq, 2);
    REQUIRE(rq[0].len == 3 && memcmp(a, "one", 3) == 0);
    REQUIRE(rq[1].len == 3 && memcmp(b, "two", 3) == 0);
}

START_TEST(test_handshake)
{
    tp_group_t g = {.transport = "tcp",
                    .size = 3,
                    .fn = sc_handshake,
                    .fake_from = 1,
                    .fake = fake_handshake,
                    .absent = -1,
                    .absent_addr = dead_addr};
    tp_run_group(&g);
}
END_TEST

/* ---- strangers ------------------------------------------------------------ */

#define STRANGER_KEY "stranger-test-key-0123456789abcdef-0123"
#define FLOOD 150

/* Rank 0 is real and has a key; the fake first tries rank 0 without it,
 * with another, by replaying a proof recorded on another connection and by
 * flooding it with connections that never finish a HELLO. Each must be
 * closed without a verdict; then ranks 1 and 2 join with the key and their
 * messages arrive exact. */
static int fake_strangers(const tp_blob_t *blobs, int first, int size, int variant)
{
    static int flood[FLOOD];
    auth_key_t key, other;
    tcp_auth_t mine = {0}, theirs, again, recorded = {0};
    int32_t claims[3];
    tcp_hdr_t h, r;
    int fd, fd1, fd2;

    REQUIRE(auth_key_from_text(&key, STRANGER_KEY, strlen(STRANGER_KEY), "t") ==
            RCOMM_OK);
    REQUIRE(auth_key_from_text(&other, STRANGER_KEY "!", strlen(STRANGER_KEY) + 1, "t") ==
            RCOMM_OK);
    for (int i = 0; i < 2; i++) { /* no key, a wrong key */
        fd = dial(&blobs[0]);
        hello(&h, 2, 3, 0);
        REQUIRE(handshake(fd, &h, i ? &other : NULL) == 0);
        close(fd);
    }
    /* The proof rank 2 would give on one connection, replayed on another:
     * rank 0's nonce differs, so it must not check. */
    hello(&h, 2, 3, 0);
    tcp_hello_claims(&h, claims);
    auth_nonce(mine.nonce);
    fd = dial(&blobs[0]);
    put_frame(fd, &h, &mine);
    REQUIRE(get_frame(fd, &r, &theirs) == 1 && (r.flags & ~TCP_F_KEYED) == TCP_F_ACK);
    auth_tag(&key, TCP_LABEL_DIALER, claims, sizeof(claims), mine.nonce, theirs.nonce,
             recorded.tag);
    close(fd);
    fd = dial(&blobs[0]);
    put_frame(fd, &h, &mine);
    REQUIRE(get_frame(fd, &r, &again) == 1 && (r.flags & ~TCP_F_KEYED) == TCP_F_ACK);
    REQUIRE(memcmp(theirs.nonce, again.nonce, sizeof(again.nonce)) != 0);
    r = h;
    r.flags = TCP_F_PROOF;
    put_frame(fd, &r, &recorded);
    REQUIRE(get_frame(fd, &r, &again) == 0);
    close(fd);
    /* Idle and half-sent connections, more than rank 0 keeps pending: all
     * closed (the oldest first, the rest at the handshake deadline). */
    for (int i = 0; i < FLOOD; i++) {
        flood[i] = dial(&blobs[0]);
        if (i % 2)
            put_all(flood[i], &h, sizeof(h) / 2);
    }
    for (int i = 0; i < FLOOD; i++) {
        unsigned char b;
        REQUIRE(get_all(flood[i], &b, 1) == 0 || errno == ECONNRESET);
        close(flood[i]);
    }
    fd1 = join_keyed(blobs, 0, 1, 3, &key);
    fd2 = join_keyed(blobs, 0, 2, 3, &key);
    send_msg(fd1, 1, "one");
    send_msg(fd2, 2, "two");
    expect_goodbye(fd1, RCOMM_OK);
    expect_goodbye(fd2, RCOMM_OK);
    return 0;
}

START_TEST(test_strangers)
{
    auth_key_t key;
    tp_group_t g = {.transport = "tcp",
                    .size = 3,
                    .fn = sc_handshake,
                    .fake_from = 1,
                    .fake = fake_strangers,
                    .absent = -1,
                    .absent_addr = dead_addr,
                    .key = &key,
                    .handshake_ms = 300};

    ck_assert_int_eq(auth_key_from_text(&key, STRANGER_KEY, strlen(STRANGER_KEY), "t"),
                     RCOMM_OK);
    tp_run_group(&g);
}
END_TEST

/* ---- a rank that leaves --------------------------------------------------- */

#define BIG (32u << 20)
#define RNDV (1u << 20) /* above the eager limit */

/* Rank 2 exits without destroy while sending 32 MiB to rank 0 (variant 0), or
 * destroys with a reason (1: MISMATCH, 2: OK). Ranks 0 and 1 have requests
 * pending with it; then they still talk to each other. */
static void leaver(tp_ctx_t *c)
{
    tp_req_t rq[3] = {0};
    char *big;

    OK(c->ops->irecv(c->tp, 0, 1, NULL, 0, &rq[0]));
    OK(c->ops->irecv(c->tp, 1, 1, NULL, 0, &rq[1]));
    tp_wait_ok(c, rq, 2);
    if (c->variant > 0) {
        c->ops->destroy(c->tp, c->variant == 1 ? RCOMM_ERR_MISMATCH : RCOMM_OK,
                        c->variant == 1 ? "test mismatch" : NULL);
        c->tp = NULL;
        return;
    }
    OK(c->ops->isend(c->tp, 1, 2, NULL, NULL, 0, &rq[0]));
    /* Rank 1's get is answered (it came first), then its big message is
     * announced and never received: that send waits for us. */
    for (int i = 0; i < 10000 && c->nux == 0; i++)
        OK(c->ops->progress(c->tp, 1));
    REQUIRE(c->nux == 1 && c->ux[0].tag == 77);
    big = tp_xmalloc(BIG);
    memset(big, 1, BIG);
    OK(c->ops->isend(c->tp, 0, 3, NULL, big, BIG, &rq[1]));
    OK(c->ops->progress(c->tp, 0)); /* at most the socket buffers' worth leaves */
    _exit(0);
}

static void sc_leave(tp_ctx_t *c)
{
    static const rcomm_status_t want[] = {RCOMM_ERR_PEER_FAILED, RCOMM_ERR_MISMATCH,
                                          RCOMM_ERR_PEER_FAILED};
    static const char *const why[] = {"exited or crashed", "failed: test mismatch",
                                      "closed the connection"};
    tp_req_t rq[5] = {0};
    tp_rkey_t bogus = {.addr = 4096, .len = 8, .key = 12345};
    rcomm_status_t w = want[c->variant];
    char *big, small[8];
    uint64_t t0;

    if (c->rank == 2) {
        leaver(c);
        return;
    }
    big = tp_xmalloc(BIG);
    if (c->rank == 0) {
        OK(c->ops->irecv(c->tp, 2, 3, big, BIG, &rq[0]));
        OK(c->ops->irecv(c->tp, 2, 4, small, 8, &rq[1]));
    } else {
        OK(c->ops->irecv(c->tp, 2, 6, small, 8, &rq[0]));
        OK(c->ops->irecv(c->tp, 2, 2, NULL, 0, &rq[1])); /* "go" in variant 0 */
    }
    OK(c->ops->isend(c->tp, 2, 1, NULL, NULL, 0, &rq[2]));
    tp_wait_ok(c, &rq[2], 1);
    t0 = base_now_ns();
    if (c->rank == 1 && c->variant == 0) {
        rcomm_status_t st;
        tp_wait_ok(c, &rq[1], 1);
        memset(big, 7, RNDV);
        st = c->ops->get(c->tp, 2, small, 8, &bogus, 4096, &rq[1]);
        OK(c->ops->isend(c->tp, 2, 77, NULL, big, RNDV, &rq[3]));
        tp_expect_fail(c, st, &rq[1], RCOMM_ERR_ACCESS, "rank 2");
        tp_expect_fail(c, RCOMM_OK, &rq[3], w, "rank 2");
    } else {
        tp_expect_fail(c, RCOMM_OK, &rq[1], w, "rank 2");
    }
    tp_expect_fail(c, RCOMM_OK, &rq[0], w, why[c->variant]);
    REQUIRE(strstr(rcomm_last_error(), "rank 2"));
    REQUIRE(base_now_ns() - t0 < (uint64_t)(5e9 * tp_slow()));
    REQUIRE(c->ops->irecv(c->tp, 2, 5, small, 8, &rq[0]) == w);
    REQUIRE(c->ops->isend(c->tp, 2, 5, NULL, small, 8, &rq[0]) == w);
    REQUIRE(strstr(rcomm_last_error(), "isend to rank 2: ") &&
            strstr(rcomm_last_error(), why[c->variant]));
    tp_ping(c, 1 - c->rank, 8, 300000);
    free(big);
}

START_TEST(test_leave)
{
    tp_group_t g = {
        .transport = "tcp", .size = 3, .fn = sc_leave, .variant = _i, .absent = -1};
    tp_run_group(&g);
}
END_TEST

/* ---- a rank that never starts --------------------------------------------- */

static void sc_timeout(tp_ctx_t *c)
{
    int absent = c->g->absent;
    uint64_t t0 = base_now_ns();
    rcomm_status_t st = c->ops->connect(c->tp, c->addrs, c->lens);
    char needle[32];

    REQUIREF(st == RCOMM_ERR_TIMEOUT, "%s", rcomm_strerror(st));
    snprintf(needle, sizeof(needle), absent ? "rank %d (never" : "rank %d at", absent);
    REQUIREF(strstr(rcomm_last_error(), needle), "'%s' not named", needle);
    REQUIRE(base_now_ns() - t0 < (uint64_t)(10e9 * tp_slow()));
}

START_TEST(test_timeout)
{
    tp_group_t g = {.transport = "tcp",
                    .size = 3,
                    .fn = sc_timeout,
                    .absent = _i ? 0 : 2,
                    .absent_addr = dead_addr,
                    .timeout_ms = 1000};
    tp_run_group(&g);
}
END_TEST

void tcp_add_fault_tests(Suite *s);

void tcp_add_fault_tests(Suite *s)
{
    TCase *tc = tcase_create("faults");
    tcase_set_timeout(tc, 120);
    tcase_add_loop_test(tc, test_malformed, 0, NBAD);
    tcase_add_test(tc, test_data_order);
    tcase_add_test(tc, test_handshake);
    tcase_add_test(tc, test_strangers);
    tcase_add_loop_test(tc, test_leave, 0, 3);
    tcase_add_loop_test(tc, test_timeout, 0, 2);
    suite_add_tcase(s, tc);
}
