/* SPDX-License-Identifier: BSD-3-Clause */
/* Check tests that fork one process per rank: a free port for the store,
 * spawning a rank function with an alarm, reaping with a clear failure. */
#ifndef RCOMM_TESTS_FORK_RANKS_H
#define RCOMM_TESTS_FORK_RANKS_H

#include <arpa/inet.h>
#include <check.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "rcomm.h"

#define CHILD_ALARM_S 60

static int g_rank = -1; /* in a child: its rank, for messages */

/* In a child: report a failed check (with rcomm's last error) and fail. */
#define CK(cond)                                                                         \
    do {                                                                                 \
        if (!(cond)) {                                                                   \
            fprintf(stderr, "rank %d: %s:%d: check failed: %s (last error: '%s')\n",     \
                    g_rank, __FILE__, __LINE__, #cond, rcomm_last_error());              \
            return 1;                                                                    \
        }                                                                                \
    } while (0)

#define CK_OK(call) CK((call) == RCOMM_OK)

/* ---- Helpers ------------------------------------------------------------------- */

/* A port nobody listens on right now: bind port 0, read it, close. */
static int pick_port(void)
{
    struct sockaddr_in sa = {.sin_family = AF_INET,
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t sl = sizeof(sa);
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&sa, &sl), 0);
    close(fd);
    return ntohs(sa.sin_port);
}

static void make_addr(char *buf, size_t len, const char *fmt)
{
    snprintf(buf, len, fmt, pick_port());
}

typedef int (*rank_fn)(int rank, int size, const char *addr, void *arg);

static pid_t spawn(rank_fn fn, int rank, int size, const char *addr, void *arg)
{
    pid_t pid;

    fflush(NULL);
    pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        g_rank = rank;
        alarm(CHILD_ALARM_S);
        exit(fn(rank, size, addr, arg)); /* exit, not _exit: leak checkers run */
    }
    return pid;
}

static void reap(pid_t pid, const char *who)
{
    int status;

    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
                  "%s failed: %s %d (see its message above)", who,
                  WIFEXITED(status) ? "exit status" : "signal",
                  WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
}

/* A raw connection to the store at addr ("127.0.0.1:port"), retried for
 * 10 s while rank 0 starts; -1 if it never listened. */
static int raw_connect(const char *addr)
{
    struct sockaddr_in sa = {.sin_family = AF_INET,
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK),
                             .sin_port = htons((uint16_t)atoi(strchr(addr, ':') + 1))};

    for (int tries = 0; tries < 1000; tries++) {
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0)
            return fd;
        close(fd);
        usleep(10 * 1000);
    }
    return -1;
}

#endif
