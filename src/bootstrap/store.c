/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The store backend (backend.h), the client side: parses RCOMM_ADDR, starts rank 0's
 * server (kvs_server.c), connects to it with retries, and turns put / get / allgather /
 * barrier into request-reply exchanges (kvs_proto.h) with a deadline on every wait. This
 * file decides the errors the caller sees: the server only sends the text of its own
 * (write-once conflict, size mismatch).
 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "base/clock.h"
#include "base/error.h"
#include "bootstrap/backend.h"
#include "bootstrap/kvs_proto.h"

#define MAX_RANKS (1 << 24)
#define RETRY_MIN_MS 10
#define RETRY_MAX_MS 250

typedef struct store {
    bootstrap_t base;
    int rank;
    int size;
    int fd; /* -1 once the connection was lost */
    int timeout_ms;
    uint32_t seq;      /* of the last request sent */
    uint64_t barriers; /* barriers so far: makes reused names safe */
    bool joining;      /* connection failures are retried, not yet reported */
    bool lost;         /* the connection broke while joining: dial again */
    auth_key_t key;
    kvs_server_t *server; /* rank 0 only */
    unsigned char *reply; /* value of the last reply, KVS_MAX_REPLY bytes */
    char addr[300];       /* as the user wrote it */
    char local_host[INET6_ADDRSTRLEN];
} store_t;

/* ---- Address parsing and connecting -------------------------------------------- */

/* "host:port" or "[v6addr]:port" into host and port (port checked 1..65535). */
static rcomm_status_t parse_addr(const char *addr, char *host, size_t hostcap, char *port,
                                 size_t portcap)
{
    const char *colon, *h = addr, *hend;
    char *end;
    long p;

    if (!addr || !*addr)
        return base_err(RCOMM_ERR_INVALID_ARG,
                        "bootstrap address is empty "
                        "(expected host:port, e.g. RCOMM_ADDR=10.0.0.1:29500)");
    if (*addr == '[') {
        h = addr + 1;
        hend = strchr(h, ']');
        if (!hend || hend[1] != ':')
            return base_err(RCOMM_ERR_INVALID_ARG,
                            "bootstrap address '%s': expected "
                            "[ipv6-address]:port",
                            addr);
        colon = hend + 1;
    } else {
        colon = strrchr(addr, ':');
        if (!colon)
            return base_err(RCOMM_ERR_INVALID_ARG,
                            "bootstrap address '%s' has no "
                            "port (expected host:port)",
                            addr);
        hend = colon;
        if (memchr(addr, ':', (size_t)(colon - addr)))
            return base_err(RCOMM_ERR_INVALID_ARG,
                            "bootstrap address '%s': write "
                            "IPv6 addresses as [address]:port",
                            addr);
    }
    if (hend == h || (size_t)(hend - h) >= hostcap)
        return base_err(RCOMM_ERR_INVALID_ARG, "bootstrap address '%s': host is %s", addr,
                        hend == h ? "empty" : "too long");
    errno = 0;
    p = strtol(colon + 1, &end, 10);
    if (colon[1] < '0' || colon[1] > '9' || *end || errno || p < 1 || p > 65535)
        return base_err(RCOMM_ERR_INVALID_ARG,
                        "bootstrap address '%s': port '%s' is "
                        "not a number in 1..65535",
                        addr, colon + 1);
    memcpy(host, h, (size_t)(hend - h));
    host[hend - h] = '\0';
    snprintf(port, portcap, "%ld", p);
    return RCOMM_OK;
}

static int remaining_ms(uint64_t deadline)
{
    uint64_t now = base_now_ns();
    if (now >= deadline)
        return 0;
    /* Round up so a poll never returns just before the deadline and spins. */
    return (int)((deadline - now + 999999) / 1000000);
}

/* One nonblocking connect to ai, waiting until deadline; -1 with errno set. */
static int try_connect(const struct addrinfo *ai, uint64_t deadline)
{
    int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int err = 0, one = 1;
    socklen_t el = sizeof(err);

    if (fd < 0)
        return -1;
    if (connect(fd, ai->ai_addr, ai->ai_addrlen) != 0) {
        struct pollfd pfd = {.fd = fd, .events = POLLOUT};
        int n;

        if (errno != EINPROGRESS)
            goto fail;
        do
            n = poll(&pfd, 1, remaining_ms(deadline));
        while (n < 0 && errno == EINTR);
        if (n == 0)
            errno = ETIMEDOUT;
        if (n <= 0)
            goto fail;
        if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el) != 0)
            goto fail;
        if (err) {
            errno = err;
            goto fail;
        }
    }
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    return fd;
fail:
    err = errno;
    close(fd);
    errno = err;
    return -1;
}

/* Rank 0 may start after everyone else: retry every address with a short,
 * growing pause until the deadline. */
static rcomm_status_t connect_store(store_t *bs, const struct addrinfo *res,
                                    uint64_t start, uint64_t deadline)
{
    int pause_ms = RETRY_MIN_MS, err = ETIMEDOUT;

    for (;;) {
        for (const struct addrinfo *ai = res; ai; ai = ai->ai_next) {
            if ((bs->fd = try_connect(ai, deadline)) >= 0)
                return RCOMM_OK;
            err = errno;
        }
        if (remaining_ms(deadline) == 0)
            break;
        if (pause_ms > remaining_ms(deadline))
            pause_ms = remaining_ms(deadline);
        nanosleep(&(struct timespec){pause_ms / 1000, (pause_ms % 1000) * 1000000L},
                  NULL);
        pause_ms = pause_ms * 2 > RETRY_MAX_MS ? RETRY_MAX_MS : pause_ms * 2;
    }
    return base_err(RCOMM_ERR_BOOTSTRAP,
                    "rank %d could not connect to rank 0's store "
                    "at %s within %.1f s: %s (did rank 0 start? is RCOMM_ADDR the same "
                    "on every rank?)",
                    bs->rank, bs->addr, (double)(base_now_ns() - start) / 1e9,
                    strerror(err));
}

/* ---- One request, one reply ---------------------------------------------------- */

/* What a failed wait on the socket was, for the caller's message. */
typedef enum { IO_OK, IO_TIMEOUT, IO_CLOSED, IO_ERROR } io_result_t;

static io_result_t wait_fd(int fd, short events, uint64_t deadline)
{
    struct pollfd pfd = {.fd = fd, .events = events};
    int n;

    do
        n = poll(&pfd, 1, remaining_ms(deadline));
    while (n < 0 && errno == EINTR);
    if (n < 0)
        return IO_ERROR;
    return n == 0 ? IO_TIMEOUT : IO_OK;
}

static io_result_t send_all(int fd, const unsigned char *p, size_t len, uint64_t deadline)
{
    while (len) {
        ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
        io_result_t r;

        if (n >= 0) {
            p += n;
            len -= (size_t)n;
        } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
            if ((r = wait_fd(fd, POLLOUT, deadline)) != IO_OK)
                return r;
        } else if (errno != EINTR) {
            return errno == EPIPE || errno == ECONNRESET ? IO_CLOSED : IO_ERROR;
        }
    }
    return IO_OK;
}

/* *got counts bytes received, so the caller knows whether a timeout left the
 * stream in the middle of a message. */
static io_result_t recv_all(int fd, unsigned char *p, size_t len, uint64_t deadline,
                            size_t *got)
{
    while (len) {
        ssize_t n = recv(fd, p, len, 0);
        io_result_t r;

        if (n > 0) {
            p += n;
            len -= (size_t)n;
            *got += (size_t)n;
        } else if (n == 0) {
            return IO_CLOSED;
        } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
            if ((r = wait_fd(fd, POLLIN, deadline)) != IO_OK)
                return r;
        } else if (errno != EINTR) {
            return errno == ECONNRESET ? IO_CLOSED : IO_ERROR;
        }
    }
    return IO_OK;
}

static void drop_connection(store_t *bs)
{
    if (bs->fd >= 0)
        close(bs->fd);
    bs->fd = -1;
}

/* What the caller is doing, for messages: "waiting for key 'tcp/3'". For a
 * GET, start is when the caller began waiting, and owner the rank expected
 * to publish the key (-1: unknown), which "never <missing>" on timeout. */
typedef struct {
    const char *doing;
    const char *prefix; /* an exchange's: its timeout asks who is missing */
    int owner;
    const char *missing;
    uint64_t start;
} call_ctx_t;

static rcomm_status_t io_error(store_t *bs, io_result_t r, const call_ctx_t *cx)
{
    int err = errno;

    drop_connection(bs);
    bs->lost = r != IO_TIMEOUT;
    if (bs->joining) /* join() retries; its last failure is reported there */
        return base_err_quiet(r == IO_TIMEOUT ? RCOMM_ERR_TIMEOUT : RCOMM_ERR_BOOTSTRAP,
                              "rank %d: connection to rank 0's store at %s %s while %s",
                              bs->rank, bs->addr, r == IO_CLOSED ? "closed" : "failed",
                              cx->doing);
    if (r == IO_CLOSED)
        return base_err(RCOMM_ERR_BOOTSTRAP,
                        "rank %d lost its connection to rank 0's "
                        "store at %s while %s (rank 0 exited or destroyed its "
                        "bootstrap)",
                        bs->rank, bs->addr, cx->doing);
    if (r == IO_TIMEOUT)
        return base_err(RCOMM_ERR_BOOTSTRAP,
                        "rank %d: rank 0's store at %s stopped "
                        "responding while %s",
                        bs->rank, bs->addr, cx->doing);
    errno = err;
    return base_err_sys("rank %d: socket to rank 0's store at %s while %s", bs->rank,
                        bs->addr, cx->doing);
}

static rcomm_status_t call(store_t *bs, kvs_hdr_t *req, const char *key, const void *val,
                           uint64_t deadline, const call_ctx_t *cx, kvs_hdr_t *rep);

/* Which ranks have not published under prefix: how many (-1: unknown), the
 * first of them listed in list ("2, 4, 5"). */
static long missing_ranks(store_t *bs, const char *prefix, char *list, size_t cap)
{
    kvs_hdr_t req = {.type = KVS_MISSING, .key_len = (uint32_t)strlen(prefix)}, rep;
    call_ctx_t cx = {.doing = "asking which ranks are missing", .owner = -1};
    size_t len = 0;

    if (call(bs, &req, prefix, NULL, base_now_ns() + 2000000000ull, &cx, &rep) !=
            RCOMM_OK ||
        rep.val_len % 4 || rep.val_len > 4 * KVS_MISSING_MAX ||
        rep.a0 < rep.val_len / 4 || rep.a0 > (uint32_t)bs->size)
        return -1;
    list[0] = '\0';
    for (uint32_t i = 0; i < rep.val_len / 4 && len + 16 < cap; i++)
        len += (size_t)snprintf(list + len, cap - len, "%s%u", i ? ", " : "",
                                kvs_get32(bs->reply + 4 * i));
    if (rep.a0 > rep.val_len / 4)
        snprintf(list + len, cap - len, ", ...");
    return rep.a0;
}

static rcomm_status_t get_timeout(store_t *bs, const call_ctx_t *cx)
{
    double waited = (double)(base_now_ns() - cx->start) / 1e9;
    char list[256];
    long n = cx->prefix ? missing_ranks(bs, cx->prefix, list, sizeof(list)) : -1;

    if (n > 1)
        return base_err(RCOMM_ERR_TIMEOUT,
                        "rank %d timed out after %.1f s %s (%ld ranks never %s: %s; did "
                        "they start?)",
                        bs->rank, waited, cx->doing, n, cx->missing, list);
    if (cx->owner >= 0)
        return base_err(RCOMM_ERR_TIMEOUT,
                        "rank %d timed out after %.1f s %s (rank %d "
                        "never %s; did it start?)",
                        bs->rank, waited, cx->doing, cx->owner, cx->missing);
    return base_err(RCOMM_ERR_TIMEOUT,
                    "rank %d timed out after %.1f s %s (no rank "
                    "published it)",
                    bs->rank, waited, cx->doing);
}

/*
 * Send one request and wait for its reply until deadline. On KVS_VALUE the
 * value is in bs->reply, described by *rep. Replies to earlier requests
 * (a GET we gave up on) are skipped by seq. A timeout with nothing of the
 * reply read keeps the connection usable; anything else broken drops it.
 */
static rcomm_status_t call(store_t *bs, kvs_hdr_t *req, const char *key, const void *val,
                           uint64_t deadline, const call_ctx_t *cx, kvs_hdr_t *rep)
{
    unsigned char hbuf[KVS_HDR_SIZE];
    const char *problem;
    kvs_hdr_t h;
    io_result_t r;

    if (bs->fd < 0)
        return base_err(RCOMM_ERR_BOOTSTRAP,
                        "rank %d cannot go on %s: the connection "
                        "to rank 0's store at %s was lost earlier",
                        bs->rank, cx->doing, bs->addr);
    req->magic = KVS_MAGIC;
    req->version = KVS_VERSION;
    req->seq = ++bs->seq;
    kvs_hdr_encode(req, hbuf);
    if ((r = send_all(bs->fd, hbuf, sizeof(hbuf), deadline)) != IO_OK ||
        (r = send_all(bs->fd, (const unsigned char *)key, req->key_len, deadline)) !=
            IO_OK ||
        (r = send_all(bs->fd, val, req->val_len, deadline)) != IO_OK)
        return io_error(bs, r, cx);

    for (;;) {
        size_t got = 0;

        r = recv_all(bs->fd, hbuf, sizeof(hbuf), deadline, &got);
        if (r == IO_TIMEOUT && got == 0 &&
            (req->type == KVS_GET || req->type == KVS_MGET))
            return get_timeout(bs, cx);
        if (r == IO_OK) {
            kvs_hdr_decode(hbuf, &h);
            problem = kvs_hdr_problem(&h);
            if (!problem && h.type < KVS_OK)
                problem = "request type in a reply";
            if (!problem && (int32_t)(h.seq - bs->seq) > 0)
                problem = "reply to a request never sent";
            if (problem) {
                drop_connection(bs);
                return base_err(RCOMM_ERR_PROTOCOL,
                                "rank %d: bad reply from rank 0's "
                                "store at %s while %s: %s",
                                bs->rank, bs->addr, cx->doing, problem);
            }
            r = recv_all(bs->fd, bs->reply, h.val_len, deadline, &got);
        }
        if (r != IO_OK)
            return io_error(bs, r, cx);
        if (h.seq == bs->seq)
            break;
        /* The late answer to a GET that timed out: not ours any more. */
    }

    if (h.type == KVS_ERROR && req->type == KVS_HELLO) {
        /* Not yet proved to be our store: its words are not repeated. */
        drop_connection(bs);
        return base_err(RCOMM_ERR_AUTH,
                        "rank %d: the process at %s answered HELLO with an error instead "
                        "of proving the job key (another program, or an rcomm of another "
                        "version?)",
                        bs->rank, bs->addr);
    }
    if (h.type == KVS_ERROR) {
        /* a0 is the store's word: negating it as an int overflows for
         * 0x80000000, so the range is checked on the unsigned value. */
        int st = h.a0 <= (uint32_t)-RCOMM_ERR_INTERNAL ? -(int)h.a0 : RCOMM_ERR_PROTOCOL;
        if (st >= 0)
            st = RCOMM_ERR_PROTOCOL;
        return base_err((rcomm_status_t)st, "rank %d while %s: %.*s", bs->rank, cx->doing,
                        (int)h.val_len, (const char *)bs->reply);
    }
    if (h.type !=
        (req->type == KVS_GET || req->type == KVS_MGET || req->type == KVS_MISSING
             ? KVS_VALUE
         : req->type == KVS_HELLO ? KVS_CHALLENGE
                                  : KVS_OK)) {
        drop_connection(bs);
        return base_err(RCOMM_ERR_PROTOCOL,
                        "rank %d: rank 0's store at %s answered "
                        "type %u while %s",
                        bs->rank, bs->addr, h.type, cx->doing);
    }
    if (rep)
        *rep = h;
    return RCOMM_OK;
}

static rcomm_status_t put(store_t *bs, const char *key, const void *val, size_t len)
{
    char doing[KVS_MAX_KEY + 32];
    call_ctx_t cx = {.doing = doing, .owner = -1};
    kvs_hdr_t req = {
        .type = KVS_PUT, .key_len = (uint32_t)strlen(key), .val_len = (uint32_t)len};

    snprintf(doing, sizeof(doing), "publishing key '%s'", key);
    return call(bs, &req, key, val, base_now_ns() + (uint64_t)bs->timeout_ms * 1000000ull,
                &cx, NULL);
}

/* GET until the timeout, into val (capacity *len); owner (-1: unknown) is
 * named if it never publishes. */
static rcomm_status_t get(store_t *bs, int owner, const char *key, void *val, size_t *len)
{
    uint64_t start = base_now_ns();
    uint64_t deadline = start + (uint64_t)bs->timeout_ms * 1000000ull;
    char doing[KVS_MAX_KEY + 32];
    call_ctx_t cx = {
        .doing = doing, .owner = owner, .missing = "published it", .start = start};
    kvs_hdr_t req = {.type = KVS_GET, .key_len = (uint32_t)strlen(key)}, rep;
    size_t n;
    rcomm_status_t st;

    snprintf(doing, sizeof(doing), "waiting for key '%s'", key);
    if ((st = call(bs, &req, key, NULL, deadline, &cx, &rep)) != RCOMM_OK)
        return st;
    n = rep.val_len;
    if (n > *len)
        return base_err(RCOMM_ERR_INVALID_ARG,
                        "value of key '%s' has %zu bytes; the "
                        "buffer holds %zu",
                        key, n, *len);
    if (n)
        memcpy(val, bs->reply, n);
    *len = n;
    return RCOMM_OK;
}

/* ---- Joining ------------------------------------------------------------------- */

/* One attempt on a fresh connection: HELLO, check the store's tag, AUTH. */
static rcomm_status_t handshake(store_t *bs, uint64_t deadline)
{
    unsigned char claims[8], nonce_c[AUTH_NONCE_LEN], hello_val[KVS_HELLO_LEN];
    unsigned char tag[AUTH_TAG_LEN];
    const unsigned char *ch = bs->reply; /* the CHALLENGE: flags, nonce, tag */
    kvs_hdr_t hello = {.type = KVS_HELLO,
                       .a0 = (uint32_t)bs->rank,
                       .a1 = (uint32_t)bs->size,
                       .val_len = KVS_HELLO_LEN},
              auth = {.type = KVS_AUTH, .val_len = KVS_AUTH_LEN};
    call_ctx_t cx = {.doing = "joining (HELLO)", .owner = -1};
    rcomm_status_t st;

    auth_nonce(nonce_c);
    hello_val[0] = bs->key.keyed ? KVS_F_KEYED : 0;
    memcpy(hello_val + 1, nonce_c, AUTH_NONCE_LEN);
    if ((st = call(bs, &hello, NULL, hello_val, deadline, &cx, NULL)) != RCOMM_OK)
        return st;
    kvs_claims(claims, (uint32_t)bs->rank, (uint32_t)bs->size);
    if (!auth_check(&bs->key, KVS_LABEL_SERVER, claims, sizeof(claims), nonce_c, ch + 1,
                    ch + 1 + AUTH_NONCE_LEN)) {
        bool theirs = ch[0] & KVS_F_KEYED;
        drop_connection(bs);
        return base_err(
            RCOMM_ERR_AUTH, "rank %d: the store at %s did not prove this job's key: %s",
            bs->rank, bs->addr,
            theirs && !bs->key.keyed
                ? "rank 0 has a key and this rank has none (set RCOMM_JOB_KEY or "
                  "RCOMM_JOB_KEY_FILE as on the other ranks)"
            : !theirs && bs->key.keyed
                ? "this rank has a key and rank 0 has none"
                : "the keys differ, or another process answers at that address");
    }
    auth_tag(&bs->key, KVS_LABEL_CLIENT, claims, sizeof(claims), nonce_c, ch + 1, tag);
    cx.doing = "joining (AUTH)";
    return call(bs, &auth, NULL, tag, deadline, &cx, NULL);
}

/* Connect and authenticate, dialing again when rank 0 drops the connection
 * mid-handshake (it sheds the oldest attempts when strangers crowd it). */
static rcomm_status_t join(store_t *bs, const struct addrinfo *res)
{
    uint64_t start = base_now_ns();
    uint64_t deadline = start + (uint64_t)bs->timeout_ms * 1000000ull;
    rcomm_status_t st;

    for (;;) {
        if ((st = connect_store(bs, res, start, deadline)) != RCOMM_OK)
            return st;
        bs->joining = true;
        bs->lost = false;
        st = handshake(bs, deadline);
        bs->joining = false;
        if (st == RCOMM_OK || !bs->lost || base_now_ns() >= deadline)
            break;
        nanosleep(&(struct timespec){0, RETRY_MIN_MS * 1000000L}, NULL);
    }
    if (st != RCOMM_OK && bs->lost) { /* quiet so far: say it now */
        char msg[512];
        snprintf(msg, sizeof(msg), "%s", rcomm_last_error());
        st = base_err(st, "%s", msg);
    }
    return st;
}

static const bootstrap_ops_t store_ops;

/* ---- Creation ---------------------------------------------------------- */

/* A client not yet connected (key NULL: the stand-in; reply NULL: a reply
 * buffer of its own); NULL when out of memory. */
static store_t *bs_new(int rank, int size, const char *addr, int timeout_ms,
                       const auth_key_t *key, unsigned char *reply)
{
    store_t *bs = calloc(1, sizeof(*bs));

    if (!bs || !(bs->reply = reply ? reply : malloc(KVS_MAX_REPLY))) {
        free(bs);
        return NULL;
    }
    bs->base.ops = &store_ops;
    bs->base.where = (bootstrap_where_t){rank, size, -1, -1, NULL};
    bs->rank = rank;
    bs->size = size;
    bs->fd = -1;
    bs->timeout_ms = timeout_ms;
    snprintf(bs->addr, sizeof(bs->addr), "%s", addr);
    if (key)
        bs->key = *key;
    else
        auth_key_none(&bs->key);
    return bs;
}

rcomm_status_t bootstrap_create(int rank, int size, const char *addr, int timeout_ms,
                                const bootstrap_auth_t *auth, bootstrap_t **out)
{
    struct addrinfo hints = {
        .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV};
    struct addrinfo *res = NULL;
    struct sockaddr_storage ss;
    socklen_t sl = sizeof(ss);
    char host[256], port[8];
    const char *h;
    store_t *bs;
    rcomm_status_t st;
    int gai;

    if (!out)
        return base_err(RCOMM_ERR_INVALID_ARG, "bootstrap_create: bs is NULL");
    if (size < 1 || size > MAX_RANKS || rank < 0 || rank >= size)
        return base_err(RCOMM_ERR_INVALID_ARG,
                        "bootstrap_create: rank %d of "
                        "size %d is out of range",
                        rank, size);
    if (timeout_ms < 0)
        return base_err(RCOMM_ERR_INVALID_ARG,
                        "bootstrap_create: timeout %d ms "
                        "is negative",
                        timeout_ms);
    if ((st = parse_addr(addr, host, sizeof(host), port, sizeof(port))) != RCOMM_OK)
        return st;
    if ((gai = getaddrinfo(host, port, &hints, &res)) != 0)
        return base_err(RCOMM_ERR_BOOTSTRAP,
                        "cannot resolve host '%s' of bootstrap "
                        "address '%s': %s",
                        host, addr,
                        gai == EAI_SYSTEM ? strerror(errno) : gai_strerror(gai));
    if (!(bs = bs_new(rank, size, addr, timeout_ms, auth ? auth->key : NULL, NULL))) {
        st = base_err(RCOMM_ERR_NO_MEMORY, "rank %d: bootstrap client", rank);
        goto undo_alloc;
    }

    if (rank == 0 &&
        (st = kvs_server_start(size, res, addr, &bs->key,
                               auth ? auth->handshake_ms
                                    : (timeout_ms < 5000 ? timeout_ms : 5000),
                               &bs->server)) != RCOMM_OK)
        goto undo_alloc;
    if ((st = join(bs, res)) != RCOMM_OK)
        goto undo_connect;

    /* The address rank 0 sees us at is the one other ranks can likely reach. */
    if (getsockname(bs->fd, (struct sockaddr *)&ss, &sl) != 0 ||
        getnameinfo((struct sockaddr *)&ss, sl, bs->local_host, sizeof(bs->local_host),
                    NULL, 0, NI_NUMERICHOST) != 0) {
        st = base_err_sys("rank %d: local address of the connection to %s", rank, addr);
        goto undo_connect;
    }
    h = bs->local_host;
    if (strncmp(h, "::ffff:", 7) == 0 && strchr(h + 7, '.'))
        memmove(bs->local_host, h + 7, strlen(h + 7) + 1); /* IPv4-mapped */
    freeaddrinfo(res);
    *out = &bs->base;
    return RCOMM_OK;

undo_connect:
    drop_connection(bs);
    kvs_server_stop(bs->server, 0);
undo_alloc:
    if (bs) {
        free(bs->reply);
        auth_key_wipe(&bs->key);
    }
    free(bs);
    freeaddrinfo(res);
    return st;
}

static rcomm_status_t store_put(bootstrap_t *b, const char *key, const void *val,
                                size_t len)
{
    return put((store_t *)b, key, val, len);
}

static rcomm_status_t store_get(bootstrap_t *b, int owner, const char *key, void *val,
                                size_t *len)
{
    return get((store_t *)b, owner, key, val, len);
}

/* Copy the records of an MGET reply (ranks first.. in bs->reply) into all.
 * Returns how many, or -1 after reporting what was wrong. */
static long take_run(store_t *bs, const kvs_hdr_t *rep, const char *prefix, int first,
                     void *all, size_t len, const char *fn, rcomm_status_t *st)
{
    const unsigned char *p = bs->reply, *end = bs->reply + rep->val_len;

    if (rep->a0 == 0 || rep->a0 > (uint32_t)(bs->size - first))
        goto bad;
    for (uint32_t i = 0; i < rep->a0; i++) {
        uint32_t n;
        if (end - p < 4 || (size_t)(end - p - 4) < (n = kvs_get32(p)))
            goto bad;
        if (n != len) {
            *st = base_err(RCOMM_ERR_MISMATCH,
                           "%s '%s': rank %u published %u bytes, "
                           "rank %d expected %zu",
                           fn, prefix, first + i, n, bs->rank, len);
            return -1;
        }
        if (len)
            memcpy((unsigned char *)all + (size_t)(first + (int)i) * len, p + 4, len);
        p += 4 + n;
    }
    if (p == end)
        return rep->a0;
bad:
    drop_connection(bs);
    *st = base_err(RCOMM_ERR_PROTOCOL,
                   "rank %d: malformed MGET reply from rank 0's "
                   "store at %s during %s '%s'",
                   bs->rank, bs->addr, fn, prefix);
    return -1;
}

/* Publish "<prefix>/<rank>", then fetch all ranks' values in runs (MGET) under
 * one deadline for the whole exchange. A missing rank stalls the run at its
 * key, and the timeout error names it. barrier names the barrier, NULL for an
 * allgather. */
static rcomm_status_t exchange(store_t *bs, const char *prefix, const void *mine,
                               void *all, size_t len, const char *barrier)
{
    const char *fn = barrier ? "barrier" : "allgather";
    uint64_t start = base_now_ns();
    uint64_t deadline = start + (uint64_t)bs->timeout_ms * 1000000ull;
    char key[KVS_MAX_KEY + 16], doing[KVS_MAX_KEY + 48];
    size_t plen = strlen(prefix);
    rcomm_status_t st;

    if (snprintf(key, sizeof(key), "%s/%d", prefix, bs->size - 1) > KVS_MAX_KEY)
        return base_err(RCOMM_ERR_INVALID_ARG, "%s: name '%.40s...' is too long", fn,
                        prefix);
    snprintf(key, sizeof(key), "%s/%d", prefix, bs->rank);
    if ((st = put(bs, key, mine, len)) != RCOMM_OK)
        return st;
    for (int r = 0; r < bs->size;) {
        kvs_hdr_t req = {.type = KVS_MGET,
                         .key_len = (uint32_t)plen,
                         .a0 = (uint32_t)r,
                         .a1 = (uint32_t)(bs->size - r)},
                  rep;
        call_ctx_t cx = {.doing = doing,
                         .prefix = prefix,
                         .owner = r,
                         .start = start,
                         .missing = barrier ? "arrived" : "published it"};
        long n;

        if (barrier)
            snprintf(doing, sizeof(doing), "in barrier '%s'", barrier);
        else
            snprintf(doing, sizeof(doing), "waiting for key '%s/%d'", prefix, r);
        if ((st = call(bs, &req, prefix, NULL, deadline, &cx, &rep)) != RCOMM_OK)
            return st;
        if ((n = take_run(bs, &rep, prefix, r, all, len, fn, &st)) < 0)
            return st;
        r += (int)n;
    }
    return RCOMM_OK;
}

static rcomm_status_t store_allgather(bootstrap_t *b, const char *prefix,
                                      const void *mine, void *all, size_t len)
{
    return exchange((store_t *)b, prefix, mine, all, len, NULL);
}

static rcomm_status_t store_barrier(bootstrap_t *b, const char *name)
{
    store_t *bs = (store_t *)b;
    char prefix[KVS_MAX_KEY + 32];

    /* Keys are write-once; the count (the same on every rank, since all ranks
     * call barriers in the same order) lets a name be used again. */
    snprintf(prefix, sizeof(prefix), "%s#%llu", name, (unsigned long long)bs->barriers++);
    return exchange(bs, prefix, NULL, NULL, 0, name);
}

static const char *store_local_host(const bootstrap_t *b)
{
    return ((const store_t *)b)->local_host;
}

static void store_destroy(bootstrap_t *b)
{
    store_t *bs = (store_t *)b;

    /* Our own connection first: the server lingers until it sees it close. */
    drop_connection(bs);
    kvs_server_stop(bs->server, bs->timeout_ms);
    free(bs->reply);
    auth_key_wipe(&bs->key);
    free(bs);
}

static const bootstrap_ops_t store_ops = {
    .name = "store",
    .put = store_put,
    .get = store_get,
    .allgather = store_allgather,
    .barrier = store_barrier,
    .local_host = store_local_host,
    .destroy = store_destroy,
};

#ifdef RCOMM_FUZZING
/* ---- Fuzzing (fuzz/fuzz_store.c) ----------------------------------------------- */

rcomm_status_t bootstrap_fuzz_join(int rank, int size, int fd, const auth_key_t *key,
                                   void *reply, bootstrap_t **out)
{
    store_t *bs = bs_new(rank, size, "fuzz", 1000, key, reply);
    rcomm_status_t st;

    if (!bs) {
        close(fd);
        return RCOMM_ERR_NO_MEMORY;
    }
    bs->fd = fd;
    if ((st = handshake(bs, base_now_ns() + 1000000000ull)) != RCOMM_OK) {
        bootstrap_fuzz_leave(&bs->base);
        return st;
    }
    *out = &bs->base;
    return RCOMM_OK;
}

void bootstrap_fuzz_leave(bootstrap_t *b)
{
    ((store_t *)b)->reply = NULL; /* the caller's */
    store_destroy(b);
}
#endif
