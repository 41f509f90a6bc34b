/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Rank 0's listening socket for the bootstrap store (kvs_listen.h).
 *
 * rcomm-run makes the listener of a job on 127.0.0.1 itself and hands it to
 * rank 0 (RCOMM_STORE_FD). When it only chose a free port, another process
 * could take the port before rank 0 bound it: under a parallel `make check`
 * one did. The inherited descriptor is believed only when it is a TCP
 * listener on one of the job's addresses. Each store uses a copy and closes
 * it; the inherited one stays open, holding the port for this process's
 * next store, and is closed on exec.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "base/error.h"
#include "bootstrap/kvs_listen.h"

/* The copy of the inherited listener a store is using; -1: none is. */
static atomic_int adopted = -1;

static bool same_addr(const struct sockaddr *a, const struct sockaddr *b)
{
    if (a->sa_family != b->sa_family)
        return false;
    if (a->sa_family == AF_INET) {
        const struct sockaddr_in *x = (const void *)a, *y = (const void *)b;
        return x->sin_port == y->sin_port && x->sin_addr.s_addr == y->sin_addr.s_addr;
    }
    if (a->sa_family == AF_INET6) {
        const struct sockaddr_in6 *x = (const void *)a, *y = (const void *)b;
        return x->sin6_port == y->sin6_port &&
               memcmp(&x->sin6_addr, &y->sin6_addr, sizeof(x->sin6_addr)) == 0;
    }
    return false;
}

/* Whether fd is a TCP listener bound to one of res's addresses. */
static bool listens_on(int fd, const struct addrinfo *res)
{
    struct sockaddr_storage ss;
    socklen_t sl = sizeof(ss), vl = sizeof(int);
    int acc = 0, proto = 0;

    if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &acc, &vl) != 0 || !acc ||
        getsockopt(fd, SOL_SOCKET, SO_PROTOCOL, &proto, &vl) != 0 ||
        proto != IPPROTO_TCP || getsockname(fd, (struct sockaddr *)&ss, &sl) != 0)
        return false;
    for (const struct addrinfo *ai = res; ai; ai = ai->ai_next)
        if (same_addr((struct sockaddr *)&ss, ai->ai_addr))
            return true;
    return false;
}

/* A non-blocking copy of rcomm-run's listener for one store, or -1: none
 * inherited, another store of ours uses it, or it is not what it should be
 * (said: binding the port then likely fails). */
static int adopt(const char *addr, const struct addrinfo *res)
{
    const char *s = getenv("RCOMM_STORE_FD");
    char *end;
    long n;
    int fd, none = -1;

    if (!s || atomic_load(&adopted) >= 0)
        return -1;
    errno = 0;
    n = strtol(s, &end, 10);
    if (errno || end == s || *end || n < 3 || n > INT_MAX || !listens_on((int)n, res)) {
        base_log(BASE_LOG_WARN,
                 "rank 0: RCOMM_STORE_FD (from rcomm-run) is not a listener on %s: "
                 "binding the port instead",
                 addr);
        return -1;
    }
    if ((fd = fcntl((int)n, F_DUPFD_CLOEXEC, 3)) < 0)
        return -1;
    if (!atomic_compare_exchange_strong(&adopted, &none, fd)) {
        close(fd);
        return -1;
    }
    fcntl((int)n, F_SETFD, FD_CLOEXEC);
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    return fd;
}

void kvs_listen_close(int fd)
{
    int mine = fd;

    if (fd < 0)
        return;
    atomic_compare_exchange_strong(&adopted, &mine, -1);
    close(fd);
}

static bool is_loopback(const struct sockaddr *sa)
{
    if (sa->sa_family == AF_INET)
        return (ntohl(((const struct sockaddr_in *)sa)->sin_addr.s_addr) >> 24) == 127;
    if (sa->sa_family == AF_INET6) {
        const struct in6_addr *a = &((const struct sockaddr_in6 *)sa)->sin6_addr;
        return IN6_IS_ADDR_LOOPBACK(a) ||
               (IN6_IS_ADDR_V4MAPPED(a) && a->s6_addr[12] == 127);
    }
    return false;
}

/* Bind and listen on one address; -1 with errno set on failure. */
static int listen_on(const struct sockaddr *sa, socklen_t len, bool dual_stack)
{
    int one = 1, zero = 0, saved;
    int fd = socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

    if (fd < 0)
        return -1;
    /* A restarted job must not wait out TIME_WAIT of the previous one. */
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (sa->sa_family == AF_INET6)
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, dual_stack ? &zero : &one, sizeof(int));
    if (bind(fd, sa, len) == 0 && listen(fd, SOMAXCONN) == 0)
        return fd;
    saved = errno;
    close(fd);
    errno = saved;
    return -1;
}

static rcomm_status_t bind_error(const char *addr, const struct sockaddr *sa,
                                 socklen_t len, int err)
{
    char host[INET6_ADDRSTRLEN] = "?";

    getnameinfo(sa, len, host, sizeof(host), NULL, 0, NI_NUMERICHOST);
    return base_err(RCOMM_ERR_BOOTSTRAP, "rank 0 cannot listen on %s (bound as %s): %s%s",
                    addr, host, strerror(err),
                    err == EADDRINUSE ? " (another job on this port? pick another "
                                        "port in RCOMM_ADDR)"
                                      : "");
}

/* A job whose address is a loopback one stays on loopback (the first of its
 * addresses this host supports); any other listens on every interface,
 * dual-stack when the host has IPv6. */
rcomm_status_t kvs_listen_open(const char *addr, const struct addrinfo *res, int *fd)
{
    const struct addrinfo *ai;
    bool loopback = true;

    for (ai = res; ai; ai = ai->ai_next)
        loopback = loopback && is_loopback(ai->ai_addr);
    if (loopback) {
        if ((*fd = adopt(addr, res)) >= 0)
            return RCOMM_OK;
        for (ai = res; ai; ai = ai->ai_next) {
            if ((*fd = listen_on(ai->ai_addr, ai->ai_addrlen, false)) >= 0)
                return RCOMM_OK;
            if (errno != EADDRNOTAVAIL && errno != EAFNOSUPPORT)
                break; /* not "IPv6 is off here": worth reporting as is */
        }
        return bind_error(addr, (ai ? ai : res)->ai_addr, (ai ? ai : res)->ai_addrlen,
                          errno);
    } else {
        uint16_t port = res->ai_family == AF_INET
                            ? ((struct sockaddr_in *)res->ai_addr)->sin_port
                            : ((struct sockaddr_in6 *)res->ai_addr)->sin6_port;
        struct sockaddr_in6 any6 = {
            .sin6_family = AF_INET6, .sin6_port = port, .sin6_addr = IN6ADDR_ANY_INIT};
        struct sockaddr_in any4 = {.sin_family = AF_INET,
                                   .sin_port = port,
                                   .sin_addr.s_addr = htonl(INADDR_ANY)};

        *fd = listen_on((struct sockaddr *)&any6, sizeof(any6), true);
        if (*fd < 0 && (errno == EAFNOSUPPORT || errno == EADDRNOTAVAIL))
            *fd = listen_on((struct sockaddr *)&any4, sizeof(any4), false);
        if (*fd < 0)
            return bind_error(addr, (struct sockaddr *)&any4, sizeof(any4), errno);
        return RCOMM_OK;
    }
}
