/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * tcp_bound: the least time moving an allreduce's bytes over loopback TCP
 * takes on this host, with no reduction and no library: what rcomm's and
 * Gloo's TCP figures are read against (docs/PERFORMANCE.md, "TCP at 4
 * ranks, 64 MiB: the third look").
 *
 *   perf/tcp_bound [P [SIZE [REPS]]]   (default 4, 64M, 7; K, M, G suffixes)
 *
 * P processes (fork) in a ring, one connection from each to the next: each
 * sends 2 (P-1)/P SIZE bytes to the next and receives as many from the
 * previous at once (nonblocking, poll), which is what every rank of a ring
 * or butterfly allreduce of SIZE bytes sends and receives. A spin barrier
 * in shared memory starts every repetition together; the received bytes
 * are checked. Prints the median over REPS of the slowest rank's time, and
 * the busbw an allreduce of SIZE taking that long would have.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "perf/grade.h" /* the clock, the median */
#include "perf/perf_cli.h"

#define MAXP 64
#define MAXREPS 101

typedef struct {
    _Alignas(64) _Atomic unsigned long arrived;
    double t[MAXP][MAXREPS]; /* each rank's times */
} shared_t;

static void barrier(shared_t *sh, unsigned long *k, int p)
{
    unsigned long want = ++*k * (unsigned long)p;

    atomic_fetch_add_explicit(&sh->arrived, 1, memory_order_acq_rel);
    while (atomic_load_explicit(&sh->arrived, memory_order_acquire) < want)
        sched_yield();
}

static void die(int r, const char *what)
{
    fprintf(stderr, "tcp_bound: rank %d: ", r);
    perror(what);
    exit(1);
}

/* A listener on 127.0.0.1, its port (the kernel's choice) in *port. */
static int listener(int r, in_port_t *port)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(0x7f000001)};
    socklen_t len = sizeof(a);
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) != 0 || listen(fd, 1) != 0 ||
        getsockname(fd, (struct sockaddr *)&a, &len) != 0)
        die(r, "listener");
    *port = a.sin_port;
    return fd;
}

static void rank_main(int r, int p, size_t n, int reps, shared_t *sh, const int *lfd,
                      const in_port_t *port)
{
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = port[(r + 1) % p],
                            .sin_addr.s_addr = htonl(0x7f000001)};
    unsigned char *sbuf = malloc(n), *rbuf = malloc(n);
    const unsigned char from = (unsigned char)((r + p - 1) % p + 1);
    unsigned long k = 0;
    int out, in;

    if (!sbuf || !rbuf)
        die(r, "malloc");
    memset(sbuf, r + 1, n);
    /* The listeners exist before any rank starts: the connect completes
     * through the backlog, before the next rank accepts it. */
    if ((out = socket(AF_INET, SOCK_STREAM, 0)) < 0 ||
        connect(out, (struct sockaddr *)&a, sizeof(a)) != 0 ||
        fcntl(out, F_SETFL, O_NONBLOCK) != 0)
        die(r, "connect");
    if ((in = accept4(lfd[r], NULL, NULL, SOCK_NONBLOCK)) < 0)
        die(r, "accept");
    for (int rep = 0; rep < reps; rep++) {
        size_t sent = 0, got = 0;
        double t;

        memset(rbuf, 0, n);
        barrier(sh, &k, p);
        t = grade_now_s();
        while (sent < n || got < n) {
            struct pollfd f[2] = {{out, sent < n ? POLLOUT : 0, 0},
                                  {in, got < n ? POLLIN : 0, 0}};
            ssize_t m;

            if (poll(f, 2, -1) < 0)
                die(r, "poll");
            if (sent < n && (f[0].revents & (POLLOUT | POLLERR)) &&
                (m = send(out, sbuf + sent, n - sent, MSG_NOSIGNAL)) > 0)
                sent += (size_t)m;
            if (got < n && (f[1].revents & (POLLIN | POLLERR | POLLHUP))) {
                if ((m = recv(in, rbuf + got, n - got, 0)) == 0) {
                    fprintf(stderr, "tcp_bound: rank %d: the previous rank hung up\n", r);
                    exit(1);
                }
                got += m > 0 ? (size_t)m : 0;
            }
        }
        sh->t[r][rep] = grade_now_s() - t;
        for (size_t i = 0; i < n; i++)
            if (rbuf[i] != from) {
                fprintf(stderr, "tcp_bound: rank %d: byte %zu is %u, not %u\n", r, i,
                        rbuf[i], from);
                exit(1);
            }
    }
    close(out);
    close(in);
    free(sbuf);
    free(rbuf);
}

static void usage(FILE *f)
{
    fprintf(f,
            "usage: tcp_bound [P [SIZE [REPS]]]: 2 <= P <= %d, SIZE >= P bytes, "
            "1 <= REPS <= %d\n",
            MAXP, MAXREPS);
}

int main(int argc, char **argv)
{
    int p, reps, lfd[MAXP], bad = 0;
    in_port_t port[MAXP];
    double slowest[MAXREPS], t;
    size_t size, n;
    shared_t *sh;

    perf_prog = "tcp_bound";
    perf_usage = usage;
    p = argc > 1 ? perf_parse_int(argv[1], 2) : 4;
    size = argc > 2 ? perf_parse_size(argv[2]) : 64u << 20;
    reps = argc > 3 ? perf_parse_int(argv[3], 1) : 7;
    if (p > MAXP || reps > MAXREPS || size < (size_t)p)
        perf_bad_usage("bad arguments", NULL);
    n = size / (size_t)p * 2 * (size_t)(p - 1);
    sh = mmap(NULL, sizeof(*sh), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1,
              0);
    if (sh == MAP_FAILED)
        die(0, "mmap");
    for (int r = 0; r < p; r++)
        lfd[r] = listener(r, &port[r]);
    for (int r = 0; r < p; r++)
        if (fork() == 0) {
            rank_main(r, p, n, reps, sh, lfd, port);
            _exit(0);
        }
    for (int r = 0; r < p; r++) {
        int status;
        bad |= wait(&status) < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0;
    }
    if (bad)
        return 1;
    for (int rep = 0; rep < reps; rep++) {
        slowest[rep] = 0;
        for (int r = 0; r < p; r++)
            slowest[rep] = sh->t[r][rep] > slowest[rep] ? sh->t[r][rep] : slowest[rep];
    }
    t = grade_median(slowest, reps);
    printf("tcp_bound: %d ranks, the bytes of a %zu-byte allreduce (%zu B each way per "
           "rank) over loopback TCP: %.3f ms, median of %d; as an allreduce, busbw "
           "%.3f GB/s\n",
           p, size, n, 1e3 * t, reps, (double)n / t / 1e9);
    return 0;
}
