/* SPDX-License-Identifier: BSD-3-Clause */
/* TCP transport: listening, the full-mesh connect with its handshake, and the
 * options of every data socket. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "base/clock.h"
#include "base/error.h"
#include "transports/tcp/tcp.h"

/* Handshake state of one socket during connect(). */
typedef struct {
    int fd;       /* -1: not dialing now */
    int rank;     /* dialed rank; -1 for an accepted, unidentified socket */
    bool dialing; /* nonblocking connect() in flight */
    int step;     /* handshake frames this side has received */
    size_t got;   /* bytes of in received */
    unsigned char in[TCP_HS_LEN];
    tcp_hdr_t hello; /* the dialer's HELLO (acceptor: as received) */
    uint8_t nonce[AUTH_NONCE_LEN], peer_nonce[AUTH_NONCE_LEN];
    uint64_t retry_ns; /* dialer: next attempt; acceptor: handshake deadline */
    unsigned backoff_ms;
    char why[96]; /* last reason a dial failed, for the timeout error */
} tcp_hs_t;

static void addr_to_sockaddr(const tcp_addr_t *a, struct sockaddr_storage *ss,
                             socklen_t *len)
{
    memset(ss, 0, sizeof(*ss));
    if (a->family == 4) {
        struct sockaddr_in *in = (struct sockaddr_in *)ss;
        in->sin_family = AF_INET;
        in->sin_port = htons(a->port);
        memcpy(&in->sin_addr, a->ip, 4);
        *len = sizeof(*in);
    } else {
        struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;
        in6->sin6_family = AF_INET6;
        in6->sin6_port = htons(a->port);
        memcpy(&in6->sin6_addr, a->ip, 16);
        *len = sizeof(*in6);
    }
}

static void addr_format(const tcp_addr_t *a, char *buf, size_t len)
{
    char ip[INET6_ADDRSTRLEN];

    inet_ntop(a->family == 4 ? AF_INET : AF_INET6, a->ip, ip, sizeof(ip));
    snprintf(buf, len, a->family == 4 ? "%s:%u" : "[%s]:%u", ip, a->port);
}

static void warn_bufsize(tcp_tp_t *tp, int fd, int opt, const char *name)
{
    int val = 0;
    socklen_t l = sizeof(val);

    /* Linux reports twice what was set; less means net.core.*mem_max cut it. */
    if (getsockopt(fd, SOL_SOCKET, opt, &val, &l) == 0 && (size_t)val / 2 < tp->bufsize &&
        !tp->warned_bufsize) {
        tp->warned_bufsize = true;
        base_log(BASE_LOG_WARN,
                 "rank %d: %s is %d bytes, not RCOMM_TCP_BUFSIZE=%zu: raise "
                 "net.core.rmem_max / wmem_max",
                 tp->base.rank, name, val / 2, tp->bufsize);
    }
}

rcomm_status_t tcp_sock_setup(tcp_tp_t *tp, int fd)
{
    int one = 1, buf = tp->bufsize > (size_t)1 << 30 ? 1 << 30 : (int)tp->bufsize;
    int lowat = TCP_UNSENT_MAX, fl = fcntl(fd, F_GETFL);

    /* Fixed buffers: autotuned ones start small and stall on delayed ACKs. */
    if (setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &buf, sizeof(buf)) != 0 ||
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &buf, sizeof(buf)) != 0 ||
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) != 0 || fl < 0 ||
        fcntl(fd, F_SETFL, fl | O_NONBLOCK) != 0)
        return base_err_sys("rank %d: setting up a TCP socket", tp->base.rank);
    /* But at most TCP_UNSENT_MAX bytes not yet sent wait in the kernel: a
     * control frame (tcp_enqueue) cannot overtake those, and 4 MiB of them
     * held a health probe for 1.6 s on a 20 Mbit/s link. Bytes in flight
     * do not count, so the link stays full. Best effort (Linux >= 3.12). */
    (void)setsockopt(fd, IPPROTO_TCP, TCP_NOTSENT_LOWAT, &lowat, sizeof(lowat));
    warn_bufsize(tp, fd, SO_SNDBUF, "SO_SNDBUF");
    warn_bufsize(tp, fd, SO_RCVBUF, "SO_RCVBUF");
    return RCOMM_OK;
}

rcomm_status_t tcp_listen(tcp_tp_t *tp, const char *host)
{
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *ai;
    struct sockaddr_storage ss;
    socklen_t sl = sizeof(ss);
    rcomm_status_t st;
    int rc, fd;

    if ((rc = getaddrinfo(host, "0", &hints, &ai)) != 0)
        return base_err(RCOMM_ERR_CONFIG, "rank %d: cannot resolve host '%s': %s",
                        tp->base.rank, host, gai_strerror(rc));
    fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        freeaddrinfo(ai);
        return base_err_sys("rank %d: socket()", tp->base.rank);
    }
    /* Accepted sockets inherit the buffer sizes, and with them the window
     * scale negotiated in the SYN. */
    if ((st = tcp_sock_setup(tp, fd)) != RCOMM_OK)
        goto close_fd;
    memcpy(&ss, ai->ai_addr, ai->ai_addrlen);
    if (bind(fd, ai->ai_addr, ai->ai_addrlen) != 0) {
        /* The published address may not be local (NAT): listen everywhere. */
        if (errno != EADDRNOTAVAIL) {
            st = base_err_sys("rank %d: bind to %s", tp->base.rank, host);
            goto close_fd;
        }
        if (ss.ss_family == AF_INET)
            ((struct sockaddr_in *)&ss)->sin_addr.s_addr = htonl(INADDR_ANY);
        else
            ((struct sockaddr_in6 *)&ss)->sin6_addr = in6addr_any;
        if (bind(fd, (struct sockaddr *)&ss, ai->ai_addrlen) != 0) {
            st = base_err_sys("rank %d: bind to the wildcard address", tp->base.rank);
            goto close_fd;
        }
    }
    if (listen(fd, tp->base.size < 128 ? 128 : tp->base.size) != 0 ||
        getsockname(fd, (struct sockaddr *)&ss, &sl) != 0) {
        st = base_err_sys("rank %d: listen on %s", tp->base.rank, host);
        goto close_fd;
    }
    memset(&tp->addr, 0, sizeof(tp->addr));
    tp->addr.version = TCP_ADDR_VERSION;
    if (ai->ai_family == AF_INET) {
        tp->addr.family = 4;
        memcpy(tp->addr.ip, &((struct sockaddr_in *)ai->ai_addr)->sin_addr, 4);
        tp->addr.port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
    } else {
        tp->addr.family = 6;
        memcpy(tp->addr.ip, &((struct sockaddr_in6 *)ai->ai_addr)->sin6_addr, 16);
        tp->addr.port = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
    }
    freeaddrinfo(ai);
    tp->listen_fd = fd;
    return RCOMM_OK;
close_fd:
    close(fd);
    freeaddrinfo(ai);
    return st;
}

/* ---- connect ------------------------------------------------------------ */

static rcomm_status_t parse_addrs(tcp_tp_t *tp, const void *const *addrs,
                                  const size_t *lens, tcp_addr_t *out)
{
    for (int r = 0; r < tp->base.size; r++) {
        if (r != tp->base.rank && !tp_serves(&tp->base, r))
            continue; /* its blob may be missing */
        if (!addrs[r] || lens[r] != TCP_ADDR_LEN)
            return base_err(RCOMM_ERR_INVALID_ARG,
                            "rank %d: tcp connect: address of rank %d is %zu bytes, "
                            "expected %d",
                            tp->base.rank, r, addrs[r] ? lens[r] : 0, TCP_ADDR_LEN);
        memcpy(&out[r], addrs[r], TCP_ADDR_LEN);
        if (out[r].version != TCP_ADDR_VERSION ||
            (out[r].family != 4 && out[r].family != 6))
            return base_err(RCOMM_ERR_INVALID_ARG,
                            "rank %d: tcp connect: address of rank %d has version %u "
                            "family %u (expected version %d, family 4 or 6)",
                            tp->base.rank, r, out[r].version, out[r].family,
                            TCP_ADDR_VERSION);
    }
    return RCOMM_OK;
}

static void hello_init(tcp_tp_t *tp, tcp_hdr_t *h, int dst, unsigned flags, tcp_rej_t rej)
{
    tcp_hdr_init(h, TCP_HELLO, sizeof(tcp_auth_t));
    h->flags = (uint16_t)(flags | (tp->key.keyed ? TCP_F_KEYED : 0));
    h->status = rej == TCP_REJ_OK ? RCOMM_OK : RCOMM_ERR_BOOTSTRAP;
    h->detail = rej;
    h->u.hello.src = tp->base.rank;
    h->u.hello.size = rej == TCP_REJ_VERSION ? TCP_VERSION : tp->base.size;
    h->u.hello.dst = dst;
    h->u.hello.credit_kib = (uint32_t)((tp->budget + 1023) / 1024);
}

/* A 96-byte frame into an empty socket buffer: never partial in practice,
 * and a handshake that cannot write it is treated as broken. */
static int hello_send(const tcp_hdr_t *h, const tcp_auth_t *a, int fd)
{
    unsigned char buf[TCP_HS_LEN];

    memcpy(buf, h, TCP_HDR_LEN);
    memcpy(buf + TCP_HDR_LEN, a, sizeof(*a));
    return send(fd, buf, sizeof(buf), MSG_NOSIGNAL | MSG_DONTWAIT) == (ssize_t)sizeof(buf)
               ? 0
               : -1;
}

/* Read what is there of the next handshake frame. Returns 1 when complete
 * (its header in *h, its auth part in *a), 0 for more, -1 on EOF or error. */
static int hello_recv(tcp_hs_t *hs, tcp_hdr_t *h, tcp_auth_t *a)
{
    ssize_t n = recv(hs->fd, hs->in + hs->got, TCP_HS_LEN - hs->got, MSG_DONTWAIT);

    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return 0;
    if (n <= 0)
        return -1;
    hs->got += (size_t)n;
    if (hs->got < TCP_HS_LEN)
        return 0;
    hs->got = 0;
    hs->step++;
    memcpy(h, hs->in, TCP_HDR_LEN);
    memcpy(a, hs->in + TCP_HDR_LEN, sizeof(*a));
    return 1;
}

/* tag over the dialer's claims and both nonces (dialer's first). */
static void hs_tag(const tcp_tp_t *tp, const char *label, const tcp_hs_t *hs,
                   const uint8_t *dialer_nonce, const uint8_t *acceptor_nonce,
                   uint8_t tag[AUTH_TAG_LEN])
{
    int32_t claims[3];

    tcp_hello_claims(&hs->hello, claims);
    auth_tag(&tp->key, label, claims, sizeof(claims), dialer_nonce, acceptor_nonce, tag);
}

static bool hs_check(const tcp_tp_t *tp, const char *label, const tcp_hs_t *hs,
                     const uint8_t *dialer_nonce, const uint8_t *acceptor_nonce,
                     const uint8_t tag[AUTH_TAG_LEN])
{
    int32_t claims[3];

    tcp_hello_claims(&hs->hello, claims);
    return auth_check(&tp->key, label, claims, sizeof(claims), dialer_nonce,
                      acceptor_nonce, tag);
}

static const char *rej_text(tcp_rej_t rej, const tcp_hdr_t *h, char *buf, size_t len)
{
    switch (rej) {
    case TCP_REJ_VERSION:
        snprintf(buf, len, "it speaks protocol version %d", h->u.hello.size);
        break;
    case TCP_REJ_SIZE:
        snprintf(buf, len, "its communicator has %d ranks", h->u.hello.size);
        break;
    case TCP_REJ_DST: snprintf(buf, len, "it is not the rank we meant"); break;
    case TCP_REJ_SRC: snprintf(buf, len, "it does not accept that rank"); break;
    case TCP_REJ_DUP: snprintf(buf, len, "that rank is already connected"); break;
    default: snprintf(buf, len, "reason %d", (int)rej); break;
    }
    return buf;
}

/* An accepted connection that did not prove the key, or broke the protocol
 * before it did: closed without an answer. Only the first few are logged,
 * with numbers, never with what the stranger sent. */
static void hs_refuse(tcp_tp_t *tp, tcp_hs_t *hs, const char *why)
{
    if (++tp->refused <= 3)
        base_log(BASE_LOG_WARN, "rank %d: dropped a connection: %s%s", tp->base.rank, why,
                 tp->refused == 3 ? " (further ones are counted, not logged)" : "");
    close(hs->fd);
    hs->fd = -1;
}

/* The acceptor's first step: a HELLO arrived. Answer with our nonce and
 * tag, whatever it claims: its claims are checked once it proved the key. */
static void accept_hello(tcp_tp_t *tp, tcp_hs_t *hs, const tcp_hdr_t *h,
                         const tcp_auth_t *a)
{
    tcp_hdr_t ack;
    tcp_auth_t mine = {0};
    char why[128];

    if (tcp_hdr_check(h, true, why, sizeof(why)) != 0 || (h->flags & ~TCP_F_KEYED) != 0) {
        if (h->magic == TCP_MAGIC && h->version != TCP_VERSION) {
            /* Worth telling: an rcomm of another version. */
            hello_init(tp, &ack, -1, TCP_F_ACK | TCP_F_PROOF, TCP_REJ_VERSION);
            hello_send(&ack, &mine, hs->fd);
        }
        hs_refuse(tp, hs, why[0] ? why : "a HELLO with unexpected flags");
        return;
    }
    hs->hello = *h;
    memcpy(hs->peer_nonce, a->nonce, AUTH_NONCE_LEN);
    auth_nonce(hs->nonce);
    memcpy(mine.nonce, hs->nonce, AUTH_NONCE_LEN);
    hs_tag(tp, TCP_LABEL_ACCEPTOR, hs, hs->peer_nonce, hs->nonce, mine.tag);
    hello_init(tp, &ack, -1, TCP_F_ACK, TCP_REJ_OK);
    ack.u.hello.size = 0; /* nothing about the job before the proof */
    if (hello_send(&ack, &mine, hs->fd) != 0)
        hs_refuse(tp, hs, "it left during the handshake");
}

/* The acceptor's second step: the dialer's proof. Returns its rank once it
 * is accepted, -1 otherwise (answered when it proved the key, and reason
 * described in reject). */
static int accept_proof(tcp_tp_t *tp, tcp_hs_t *hs, const tcp_hdr_t *h,
                        const tcp_auth_t *a, char *reject, size_t rlen)
{
    const tcp_hdr_t *c = &hs->hello; /* its claims */
    tcp_rej_t rej = TCP_REJ_OK;
    tcp_auth_t none = {0};
    tcp_hdr_t verdict;
    char why[128];

    if (tcp_hdr_check(h, true, why, sizeof(why)) != 0 ||
        (h->flags & ~TCP_F_KEYED) != TCP_F_PROOF ||
        !hs_check(tp, TCP_LABEL_DIALER, hs, hs->peer_nonce, hs->nonce, a->tag)) {
        snprintf(why, sizeof(why), "it did not prove the job key%s",
                 (c->flags & TCP_F_KEYED) == (tp->key.keyed ? TCP_F_KEYED : 0) ? ""
                 : tp->key.keyed ? " (it has none)"
                                 : " (it has one and this rank has none)");
        hs_refuse(tp, hs, why);
        return -1;
    }
    if (c->u.hello.size != tp->base.size)
        rej = TCP_REJ_SIZE;
    else if (c->u.hello.dst != tp->base.rank)
        rej = TCP_REJ_DST;
    else if (c->u.hello.src <= tp->base.rank || c->u.hello.src >= tp->base.size ||
             !tp_serves(&tp->base, c->u.hello.src))
        rej = TCP_REJ_SRC;
    else if (tp->peers[c->u.hello.src].fd >= 0)
        rej = TCP_REJ_DUP;
    hello_init(tp, &verdict, c->u.hello.src, TCP_F_ACK | TCP_F_PROOF, rej);
    if (hello_send(&verdict, &none, hs->fd) == 0 && rej == TCP_REJ_OK) {
        tp->peers[c->u.hello.src].credit = tcp_credit_of(c->u.hello.credit_kib);
        return c->u.hello.src;
    }
    snprintf(reject, rlen, "refused rank %d of %d dialing rank %d: %s", c->u.hello.src,
             c->u.hello.size, c->u.hello.dst,
             rej == TCP_REJ_SIZE  ? "wrong communicator size"
             : rej == TCP_REJ_DST ? "meant for another rank"
             : rej == TCP_REJ_SRC ? "that rank must accept us, not dial, or this "
                                    "instance does not serve it"
             : rej == TCP_REJ_DUP ? "that rank is already connected"
                                  : "it left during the handshake");
    base_log(BASE_LOG_WARN, "rank %d: %s", tp->base.rank, reject);
    close(hs->fd);
    hs->fd = -1;
    return -1;
}

/* The dialer's first step: the acceptor's challenge. Checked before we
 * prove anything to it. */
static rcomm_status_t dial_challenge(tcp_tp_t *tp, tcp_hs_t *hs, const tcp_hdr_t *h,
                                     const tcp_auth_t *a, const char *at)
{
    tcp_hdr_t proof;
    tcp_auth_t mine = {0};
    char why[128];

    if (tcp_hdr_check(h, true, why, sizeof(why)) != 0 || !(h->flags & TCP_F_ACK))
        return base_err(RCOMM_ERR_PROTOCOL,
                        "rank %d: the handshake answer from rank %d at %s is malformed "
                        "(%s)",
                        tp->base.rank, hs->rank, at, why[0] ? why : "no ACK flag");
    if (h->status != RCOMM_OK) /* only a version refusal comes before the proof */
        return base_err(RCOMM_ERR_BOOTSTRAP,
                        "rank %d: rank %d at %s refused our connection: %s",
                        tp->base.rank, hs->rank, at,
                        rej_text((tcp_rej_t)h->detail, h, why, sizeof(why)));
    if (!hs_check(tp, TCP_LABEL_ACCEPTOR, hs, hs->nonce, a->nonce, a->tag)) {
        bool theirs = h->flags & TCP_F_KEYED;
        return base_err(RCOMM_ERR_AUTH,
                        "rank %d: the process at %s, published as rank %d, did not prove "
                        "the job key: %s",
                        tp->base.rank, at, hs->rank,
                        theirs && !tp->key.keyed   ? "it has a key and this rank has none"
                        : !theirs && tp->key.keyed ? "this rank has a key and it has none"
                                                   : "the keys differ");
    }
    hs_tag(tp, TCP_LABEL_DIALER, hs, hs->nonce, a->nonce, mine.tag);
    hello_init(tp, &proof, hs->rank, TCP_F_PROOF, TCP_REJ_OK);
    if (hello_send(&proof, &mine, hs->fd) != 0)
        return base_err(RCOMM_ERR_PEER_FAILED,
                        "rank %d: rank %d at %s left during the handshake", tp->base.rank,
                        hs->rank, at);
    return RCOMM_OK;
}

/* The dialer's last step: the acceptor's verdict. */
static rcomm_status_t dial_verdict(tcp_tp_t *tp, const tcp_hs_t *hs, const tcp_hdr_t *h,
                                   const char *at)
{
    char why[128];

    if (tcp_hdr_check(h, true, why, sizeof(why)) != 0 ||
        (h->flags & ~TCP_F_KEYED) != (TCP_F_ACK | TCP_F_PROOF))
        return base_err(RCOMM_ERR_PROTOCOL,
                        "rank %d: the handshake verdict from rank %d at %s is malformed "
                        "(%s)",
                        tp->base.rank, hs->rank, at, why[0] ? why : "wrong flags");
    if (h->status != RCOMM_OK)
        return base_err(RCOMM_ERR_BOOTSTRAP,
                        "rank %d: rank %d at %s refused our connection: %s",
                        tp->base.rank, hs->rank, at,
                        rej_text((tcp_rej_t)h->detail, h, why, sizeof(why)));
    if (h->u.hello.src != hs->rank || h->u.hello.size != tp->base.size ||
        h->u.hello.dst != tp->base.rank)
        return base_err(RCOMM_ERR_BOOTSTRAP,
                        "rank %d: the process at %s, published as rank %d of %d, says it "
                        "is rank %d of %d (and that we are rank %d)",
                        tp->base.rank, at, hs->rank, tp->base.size, h->u.hello.src,
                        h->u.hello.size, h->u.hello.dst);
    tp->peers[hs->rank].credit = tcp_credit_of(h->u.hello.credit_kib);
    return RCOMM_OK;
}

static bool dial_retryable(int err)
{
    return err == ECONNREFUSED || err == ETIMEDOUT || err == EHOSTUNREACH ||
           err == ENETUNREACH || err == ECONNRESET || err == ECONNABORTED ||
           err == EAGAIN || err == EPIPE;
}

static void dial_close(tcp_hs_t *hs, const char *why, uint64_t now)
{
    close(hs->fd);
    hs->fd = -1;
    hs->dialing = false;
    hs->got = 0;
    hs->step = 0;
    snprintf(hs->why, sizeof(hs->why), "%s", why);
    hs->retry_ns = now + (uint64_t)hs->backoff_ms * 1000000u;
    hs->backoff_ms = hs->backoff_ms >= 100 ? 200 : hs->backoff_ms * 2;
}

static rcomm_status_t dial_start(tcp_tp_t *tp, tcp_hs_t *hs, const tcp_addr_t *a,
                                 uint64_t now)
{
    struct sockaddr_storage ss;
    socklen_t sl;
    rcomm_status_t st;

    addr_to_sockaddr(a, &ss, &sl);
    hs->fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (hs->fd < 0)
        return base_err_sys("rank %d: socket() to dial rank %d", tp->base.rank, hs->rank);
    if ((st = tcp_sock_setup(tp, hs->fd)) != RCOMM_OK) {
        close(hs->fd);
        hs->fd = -1;
        return st;
    }
    hs->dialing = true;
    if (connect(hs->fd, (struct sockaddr *)&ss, sl) == 0 || errno == EINPROGRESS)
        return RCOMM_OK;
    if (!dial_retryable(errno))
        return base_err_sys("rank %d: connect to rank %d", tp->base.rank, hs->rank);
    dial_close(hs, strerror(errno), now);
    return RCOMM_OK;
}

/* A dialing socket is writable or readable. Sets *done once the acceptor
 * took us. */
static rcomm_status_t dial_event(tcp_tp_t *tp, tcp_hs_t *hs, const tcp_addr_t *a,
                                 uint64_t now, bool *done)
{
    char at[64];
    tcp_hdr_t h;
    tcp_auth_t au = {0};
    int err = 0, rc;
    socklen_t l = sizeof(err);

    addr_format(a, at, sizeof(at));
    if (hs->dialing) {
        getsockopt(hs->fd, SOL_SOCKET, SO_ERROR, &err, &l);
        if (err) {
            if (!dial_retryable(err)) {
                errno = err;
                return base_err_sys("rank %d: connect to rank %d at %s", tp->base.rank,
                                    hs->rank, at);
            }
            dial_close(hs, strerror(err), now);
            return RCOMM_OK;
        }
        hs->dialing = false;
        hello_init(tp, &hs->hello, hs->rank, 0, TCP_REJ_OK);
        auth_nonce(hs->nonce);
        memcpy(au.nonce, hs->nonce, AUTH_NONCE_LEN);
        if (hello_send(&hs->hello, &au, hs->fd) != 0)
            dial_close(hs, "connection broke before the handshake", now);
        return RCOMM_OK;
    }
    if ((rc = hello_recv(hs, &h, &au)) < 0)
        dial_close(hs, "closed without answering the handshake", now);
    if (rc <= 0)
        return RCOMM_OK;
    if (hs->step == 1)
        return dial_challenge(tp, hs, &h, &au, at);
    *done = true;
    return dial_verdict(tp, hs, &h, at);
}

static rcomm_status_t connect_timeout(tcp_tp_t *tp, const tcp_hs_t *dial,
                                      const tcp_addr_t *addrs, const char *reject)
{
    char list[384], at[64];
    size_t n = 0;
    int missing = 0;

    list[0] = '\0';
    for (int r = 0; r < tp->base.size && n + 100 < sizeof(list); r++) {
        if (!tp_serves(&tp->base, r) || tp->peers[r].fd >= 0)
            continue;
        if (r < tp->base.rank) {
            addr_format(&addrs[r], at, sizeof(at));
            n += (size_t)snprintf(list + n, sizeof(list) - n, "%srank %d at %s (%s)",
                                  missing ? ", " : "", r, at,
                                  dial[r].why[0] ? dial[r].why : "no answer");
        } else {
            n += (size_t)snprintf(list + n, sizeof(list) - n,
                                  "%srank %d (never connected to us)",
                                  missing ? ", " : "", r);
        }
        missing++;
    }
    return base_err(RCOMM_ERR_TIMEOUT,
                    "rank %d: tcp connect timed out after %d ms; %d peer(s) missing: "
                    "%s%s%s",
                    tp->base.rank, tp->timeout_ms, missing, list,
                    reject[0] ? "; last refused: " : "", reject);
}

/* Sockets of the handshake, polled together. */
typedef struct {
    struct pollfd *pfd;
    tcp_hs_t **hs; /* NULL entry = the listening socket */
    int n;
} hs_poll_t;

static void hs_poll_add(hs_poll_t *hp, int fd, short events, tcp_hs_t *hs)
{
    hp->pfd[hp->n] = (struct pollfd){.fd = fd, .events = events};
    hp->hs[hp->n++] = hs;
}

/* Room for one more accepted socket: when every slot is taken, the oldest
 * attempt goes (strangers must not crowd out ranks; a rank dropped early
 * dials again). */
static int anon_slot(tcp_tp_t *tp, tcp_hs_t *anon, int *nanon, int capanon)
{
    int oldest = 0;

    if (*nanon < capanon)
        return (*nanon)++;
    for (int i = 1; i < *nanon; i++)
        if (anon[i].retry_ns < anon[oldest].retry_ns)
            oldest = i;
    hs_refuse(tp, &anon[oldest], "too many connections were authenticating at once");
    return oldest;
}

/* An accepted socket is readable. Returns the rank it proved to be, or -1
 * (still going, or closed: hs->fd < 0). */
static int accept_event(tcp_tp_t *tp, tcp_hs_t *hs, char *reject, size_t rlen)
{
    tcp_hdr_t h;
    tcp_auth_t au;
    int rc = hello_recv(hs, &h, &au);

    if (rc < 0)
        hs_refuse(tp, hs, "it closed during the handshake");
    if (rc <= 0)
        return -1;
    if (hs->step == 1) {
        accept_hello(tp, hs, &h, &au);
        return -1;
    }
    return accept_proof(tp, hs, &h, &au, reject, rlen);
}

/* Dial the lower ranks, accept the higher ones, until all are connected or
 * the deadline passes. Returns with the handshake sockets closed. */
static rcomm_status_t mesh(tcp_tp_t *tp, const tcp_addr_t *peer_addr, tcp_hs_t *dial,
                           tcp_hs_t *anon, int capanon, hs_poll_t *hp)
{
    int me = tp->base.rank, missing = tp_served(&tp->base), nanon = 0;
    uint64_t now = base_now_ns(), deadline = now + (uint64_t)tp->timeout_ms * 1000000u;
    uint64_t hs_ns = (uint64_t)tp->handshake_ms * 1000000u;
    char reject[160] = "";
    rcomm_status_t st = RCOMM_OK;

    for (int r = 0; r < tp->base.size; r++)
        dial[r] = (tcp_hs_t){.fd = -1, .rank = r, .backoff_ms = 5};
    while (missing > 0 && st == RCOMM_OK) {
        uint64_t wake = deadline;
        int n;

        now = base_now_ns();
        if (now >= deadline) {
            st = connect_timeout(tp, dial, peer_addr, reject);
            break;
        }
        hp->n = 0;
        hs_poll_add(hp, tp->listen_fd, POLLIN, NULL);
        for (int r = 0; r < me && st == RCOMM_OK; r++) {
            tcp_hs_t *hs = &dial[r];
            if (tp->peers[r].fd >= 0 || !tp_serves(&tp->base, r))
                continue;
            if (hs->fd < 0 && hs->retry_ns <= now)
                st = dial_start(tp, hs, &peer_addr[r], now);
            if (hs->fd >= 0)
                hs_poll_add(hp, hs->fd, hs->dialing ? POLLOUT : POLLIN, hs);
            else if (hs->retry_ns < wake)
                wake = hs->retry_ns;
        }
        for (int i = 0; i < nanon; i++) {
            if (anon[i].retry_ns <= now)
                hs_refuse(tp, &anon[i], "it did not prove the job key in time");
            else if (anon[i].retry_ns < wake)
                wake = anon[i].retry_ns;
            if (anon[i].fd >= 0)
                hs_poll_add(hp, anon[i].fd, POLLIN, &anon[i]);
        }
        if (st != RCOMM_OK)
            break;
        n = poll(hp->pfd, (nfds_t)hp->n, (int)((wake - now + 999999) / 1000000));
        if (n < 0 && errno != EINTR) {
            st = base_err_sys("rank %d: tcp connect: poll", me);
            break;
        }
        now = base_now_ns();
        for (int i = 0; i < hp->n && n > 0 && st == RCOMM_OK; i++) {
            tcp_hs_t *hs = hp->hs[i];
            bool done = false;
            int fd, r;

            if (!hp->pfd[i].revents || (hs && hs->fd < 0))
                continue;
            if (!hs) { /* the listening socket */
                while ((fd = accept4(tp->listen_fd, NULL, NULL,
                                     SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0) {
                    int slot = anon_slot(tp, anon, &nanon, capanon);
                    anon[slot] =
                        (tcp_hs_t){.fd = fd, .rank = -1, .retry_ns = now + hs_ns};
                }
            } else if (hs->rank >= 0) { /* we dialed it */
                st = dial_event(tp, hs, &peer_addr[hs->rank], now, &done);
                if (st == RCOMM_OK && done) {
                    tp->peers[hs->rank].fd = hs->fd;
                    hs->fd = -1;
                    missing--;
                }
            } else if ((r = accept_event(tp, hs, reject, sizeof(reject))) >= 0) {
                if ((st = tcp_sock_setup(tp, hs->fd)) == RCOMM_OK) {
                    tp->peers[r].fd = hs->fd;
                    missing--;
                } else {
                    close(hs->fd);
                }
                hs->fd = -1; /* compacted below */
            }
        }
        for (int i = 0; i < nanon;)
            if (anon[i].fd < 0)
                anon[i] = anon[--nanon];
            else
                i++;
    }
    for (int r = 0; r < tp->base.size; r++)
        if (dial[r].fd >= 0)
            close(dial[r].fd);
    for (int i = 0; i < nanon; i++)
        close(anon[i].fd);
    return st;
}

/* Every peer is connected: switch to the data path. */
static rcomm_status_t mesh_ready(tcp_tp_t *tp)
{
    close(tp->listen_fd);
    tp->listen_fd = -1;
    for (int r = 0; r < tp->base.size; r++) {
        tcp_peer_t *p = &tp->peers[r];
        struct epoll_event ev = {.events = EPOLLIN, .data.ptr = p};
        if (!tp_serves(&tp->base, r))
            continue;
        if (!(p->stage = malloc(TCP_STAGE_LEN)))
            return base_err(RCOMM_ERR_NO_MEMORY, "rank %d: tcp connect: out of memory",
                            tp->base.rank);
        if (epoll_ctl(tp->epfd, EPOLL_CTL_ADD, p->fd, &ev) != 0)
            return base_err_sys("rank %d: epoll_ctl for rank %d", tp->base.rank, r);
        p->events = EPOLLIN;
    }
    tp->connected = true;
    return RCOMM_OK;
}

rcomm_status_t tcp_connect(tp_t *base, const void *const *addrs, const size_t *lens)
{
    tcp_tp_t *tp = tcp_tp(base);
    int size = base->size, capanon = size + TCP_MAX_PENDING;
    tcp_addr_t *peer_addr;
    tcp_hs_t *dial, *anon;
    hs_poll_t hp;
    rcomm_status_t st;

    if (tp->connect_called || !addrs || !lens)
        return base_err(RCOMM_ERR_INVALID_ARG, "rank %d: tcp connect: %s", base->rank,
                        tp->connect_called ? "called twice" : "addrs or lens is NULL");
    tp->connect_called = true;
    peer_addr = calloc((size_t)size, sizeof(*peer_addr));
    dial = calloc((size_t)size, sizeof(*dial));
    anon = calloc((size_t)capanon, sizeof(*anon));
    hp = (hs_poll_t){calloc((size_t)(size + capanon + 1), sizeof(*hp.pfd)),
                     calloc((size_t)(size + capanon + 1), sizeof(*hp.hs)), 0};
    if (!peer_addr || !dial || !anon || !hp.pfd || !hp.hs)
        st = base_err(RCOMM_ERR_NO_MEMORY, "rank %d: tcp connect: out of memory",
                      base->rank);
    else if ((st = parse_addrs(tp, addrs, lens, peer_addr)) == RCOMM_OK &&
             (st = mesh(tp, peer_addr, dial, anon, capanon, &hp)) == RCOMM_OK)
        st = mesh_ready(tp);
    free(hp.pfd);
    free(hp.hs);
    free(anon);
    free(dial);
    free(peer_addr);
    return st;
}

#ifdef RCOMM_FUZZING
/* ---- fuzzing (fuzz/fuzz_tcp.c) ------------------------------------------ */

/* What mesh() does with one accepted socket, until it has nothing more to
 * read. The socket is a socketpair end: it gets no TCP options. */
int tcp_fuzz_accept(tcp_tp_t *tp, int fd)
{
    tcp_hs_t hs = {.fd = fd, .rank = -1};
    char reject[160];
    int r = -1;

    while (hs.fd >= 0 && r < 0) {
        int step = hs.step;
        size_t got = hs.got;

        r = accept_event(tp, &hs, reject, sizeof(reject));
        if (r < 0 && hs.step == step && hs.got == got)
            break; /* the dialer sent no more */
    }
    if (r >= 0)
        tp->peers[r].fd = hs.fd;
    else if (hs.fd >= 0)
        close(hs.fd);
    return r;
}

/* What mesh() does with the socket dialing rank, once connected. */
rcomm_status_t tcp_fuzz_dial(tcp_tp_t *tp, int rank, int fd)
{
    tcp_hs_t hs = {.fd = fd, .rank = rank, .dialing = true, .backoff_ms = 5};
    tcp_addr_t a = {.version = TCP_ADDR_VERSION, .family = 4, .ip = {127, 0, 0, 1}};
    rcomm_status_t st = RCOMM_OK;
    bool done = false;

    while (st == RCOMM_OK && !done && hs.fd >= 0) {
        bool dialing = hs.dialing;
        int step = hs.step;
        size_t got = hs.got;

        st = dial_event(tp, &hs, &a, 0, &done);
        if (!dialing && hs.step == step && hs.got == got)
            break; /* the acceptor sent no more */
    }
    if (st == RCOMM_OK && done) {
        tp->peers[rank].fd = hs.fd;
        return RCOMM_OK;
    }
    if (hs.fd >= 0)
        close(hs.fd);
    return st != RCOMM_OK ? st : RCOMM_ERR_PEER_FAILED;
}

rcomm_status_t tcp_fuzz_ready(tcp_tp_t *tp)
{
    return mesh_ready(tp);
}
#endif
