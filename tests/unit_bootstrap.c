/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Bootstrap store tests. Ranks are forked processes talking to rank 0's
 * server on 127.0.0.1 (a port picked per test), so every test exercises the
 * real sockets and the server thread. Children report failures on stderr and
 * through their exit status; alarm() bounds each child, and each tcase has a
 * timeout, so nothing can hang the suite.
 */
#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/clock.h"
#include "bootstrap/bootstrap.h"
#include "bootstrap/kvs_proto.h"
#include "fork_ranks.h"

#define TCASE_TIMEOUT_S 120

/* Run fn as ranks 0..size-1 (first..size-1 when some are run elsewhere) and
 * check that every one succeeds. */
static void run_ranks(int first, int size, const char *addr, rank_fn fn, void *arg)
{
    pid_t pids[64];
    char who[32];

    ck_assert_int_le(size, 64);
    for (int r = first; r < size; r++)
        pids[r] = spawn(fn, r, size, addr, arg);
    for (int r = first; r < size; r++) {
        snprintf(who, sizeof(who), "rank %d", r);
        reap(pids[r], who);
    }
}

static double secs_since(uint64_t t0)
{
    return (double)(base_now_ns() - t0) / 1e9;
}

/* Exactly predictable contents: value of rank r, byte i. */
static unsigned char pattern(int r, size_t i)
{
    return (unsigned char)(r * 131 + i * 7 + (i >> 8));
}

static size_t value_len(int r, int size)
{
    /* Lengths from 1 byte to the 64 KiB limit, all different. */
    return r == size - 1 ? BOOTSTRAP_MAX_VALUE : 1 + (size_t)r * 997;
}

/* ---- Exchanges between 1..8 ranks ---------------------------------------------- */

static int rank_exchange(int rank, int size, const char *addr, void *arg)
{
    static unsigned char val[BOOTSTRAP_MAX_VALUE], got[BOOTSTRAP_MAX_VALUE];
    unsigned char mine[24], all[8 * 24], small[4];
    bootstrap_t *bs;
    char key[32];
    size_t len;

    CK_OK(bootstrap_create(rank, size, addr, 20000, NULL, &bs));
    CK(strcmp(bootstrap_local_host(bs), "127.0.0.1") == 0);

    len = value_len(rank, size);
    for (size_t i = 0; i < len; i++)
        val[i] = pattern(rank, i);
    snprintf(key, sizeof(key), "val/%d", rank);
    CK_OK(bootstrap_put(bs, key, val, len));
    CK_OK(bootstrap_put(bs, key, val, len)); /* same value again: fine */

    for (size_t i = 0; i < sizeof(mine); i++)
        mine[i] = pattern(rank + 100, i);
    /* Arrive in reverse rank order: the runs of the allgather stop at every
     * missing rank and resume when it publishes. */
    usleep((useconds_t)(size - 1 - rank) * 20000);
    CK_OK(bootstrap_allgather(bs, "ag", mine, all, sizeof(mine)));
    for (int r = 0; r < size; r++)
        for (size_t i = 0; i < sizeof(mine); i++)
            CK(all[r * sizeof(mine) + i] == pattern(r + 100, i));

    CK_OK(bootstrap_barrier(bs, "b"));
    CK_OK(bootstrap_barrier(bs, "b")); /* a name may be used again */

    for (int r = 0; r < size; r++) {
        size_t want = value_len(r, size);
        snprintf(key, sizeof(key), "val/%d", r);
        len = sizeof(got);
        CK_OK(bootstrap_get(bs, 0, key, got, &len));
        CK(len == want);
        for (size_t i = 0; i < len; i++)
            CK(got[i] == pattern(r, i));
        len = sizeof(small);
        if (want > sizeof(small)) {
            CK(bootstrap_get(bs, 0, key, small, &len) == RCOMM_ERR_INVALID_ARG);
            CK(len == sizeof(small)); /* untouched on error */
            CK(strstr(rcomm_last_error(), key) != NULL);
        }
    }
    CK_OK(bootstrap_barrier(bs, "end"));
    bootstrap_destroy(bs);
    return 0;
}

static const int exchange_sizes[] = {1, 2, 3, 5, 8};

START_TEST(test_exchange)
{
    char addr[64];

    make_addr(addr, sizeof(addr), "127.0.0.1:%d");
    run_ranks(0, exchange_sizes[_i], addr, rank_exchange, NULL);
}
END_TEST

/* ---- Rank 0 last, and address forms -------------------------------------------- */

static int rank_late_root(int rank, int size, const char *addr, void *arg)
{
    unsigned char all[3 * sizeof(int)];
    bootstrap_t *bs;

    if (rank == 0)
        usleep(500 * 1000); /* the others must retry until the server is up */
    CK_OK(bootstrap_create(rank, size, addr, 20000, NULL, &bs));
    CK_OK(bootstrap_allgather(bs, "late", &rank, all, sizeof(int)));
    for (int r = 0; r < size; r++)
        CK(memcmp(all + r * sizeof(int), &r, sizeof(int)) == 0);
    bootstrap_destroy(bs);
    return 0;
}

static const char *const late_addr_fmts[] = {"127.0.0.1:%d", "localhost:%d", "[::1]:%d"};

static int have_ipv6_loopback(void)
{
    struct sockaddr_in6 sa = {.sin6_family = AF_INET6,
                              .sin6_addr = IN6ADDR_LOOPBACK_INIT};
    int fd = socket(AF_INET6, SOCK_STREAM, 0);
    int ok = fd >= 0 && bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0;

    if (fd >= 0)
        close(fd);
    return ok;
}

START_TEST(test_root_last)
{
    char addr[64];

    if (strchr(late_addr_fmts[_i], '[') && !have_ipv6_loopback())
        return; /* a host without IPv6: nothing to test */
    make_addr(addr, sizeof(addr), late_addr_fmts[_i]);
    run_ranks(0, 3, addr, rank_late_root, NULL);
}
END_TEST

/* ---- Timeouts ------------------------------------------------------------------ */

START_TEST(test_get_timeout)
{
    bootstrap_t *bs;
    char addr[64], buf[8];
    size_t len = sizeof(buf);
    uint64_t t0;
    double dt;

    make_addr(addr, sizeof(addr), "127.0.0.1:%d");
    ck_assert_int_eq(bootstrap_create(0, 1, addr, 300, NULL, &bs), RCOMM_OK);
    t0 = base_now_ns();
    ck_assert_int_eq(bootstrap_get(bs, 0, "missing/key", buf, &len), RCOMM_ERR_TIMEOUT);
    dt = secs_since(t0);
    ck_assert_msg(dt >= 0.25 && dt < 5.0, "get returned after %.3f s", dt);
    ck_assert_msg(strstr(rcomm_last_error(), "'missing/key'"), "%s", rcomm_last_error());
    ck_assert_int_eq(len, sizeof(buf));

    /* The connection stays usable after a timeout. */
    ck_assert_int_eq(bootstrap_put(bs, "k", "v", 1), RCOMM_OK);
    ck_assert_int_eq(bootstrap_get(bs, 0, "k", buf, &len), RCOMM_OK);
    ck_assert_int_eq(len, 1);
    bootstrap_destroy(bs);
}
END_TEST

START_TEST(test_allgather_names_missing_rank)
{
    bootstrap_t *bs;
    char addr[64];
    int all[3];
    uint64_t t0;

    /* Rank 0 of 3 alone: ranks 1 and 2 never start; both are named. */
    make_addr(addr, sizeof(addr), "127.0.0.1:%d");
    ck_assert_int_eq(bootstrap_create(0, 3, addr, 300, NULL, &bs), RCOMM_OK);
    t0 = base_now_ns();
    ck_assert_int_eq(bootstrap_allgather(bs, "tcp", &(int){7}, all, sizeof(int)),
                     RCOMM_ERR_TIMEOUT);
    ck_assert_double_lt(secs_since(t0), 5.0);
    ck_assert_msg(strstr(rcomm_last_error(), "'tcp/1'") &&
                      strstr(rcomm_last_error(), "2 ranks never published it: 1, 2;"),
                  "%s", rcomm_last_error());
    ck_assert_int_eq(bootstrap_barrier(bs, "bar"), RCOMM_ERR_TIMEOUT);
    ck_assert_msg(strstr(rcomm_last_error(), "barrier 'bar'") &&
                      strstr(rcomm_last_error(), "2 ranks never arrived: 1, 2;"),
                  "%s", rcomm_last_error());
    bootstrap_destroy(bs);
}
END_TEST

/* A GET that timed out is answered later; the next call must skip that late
 * reply instead of taking it for its own. */
static int rank_stale_reply(int rank, int size, const char *addr, void *arg)
{
    bootstrap_t *bs;
    char buf[32];
    size_t len = sizeof(buf);

    CK_OK(bootstrap_create(rank, size, addr, rank == 0 ? 1000 : 20000, NULL, &bs));
    CK_OK(bootstrap_barrier(bs, "up"));
    if (rank == 0) {
        CK(bootstrap_get(bs, 0, "slow", buf, &len) == RCOMM_ERR_TIMEOUT);
        usleep(1500 * 1000); /* rank 1 publishes "slow", then "other" */
        CK_OK(bootstrap_get(bs, 0, "other", buf, &len));
        CK(len == 5 && memcmp(buf, "other", 5) == 0);
    } else {
        usleep(1500 * 1000);
        CK_OK(bootstrap_put(bs, "slow", "slow-value", 10));
        CK_OK(bootstrap_put(bs, "other", "other", 5));
    }
    bootstrap_destroy(bs);
    return 0;
}

START_TEST(test_stale_reply)
{
    char addr[64];

    make_addr(addr, sizeof(addr), "127.0.0.1:%d");
    run_ranks(0, 2, addr, rank_stale_reply, NULL);
}
END_TEST

/* ---- Bad arguments ------------------------------------------------------------- */

START_TEST(test_bad_addr)
{
    static const char *const bad[] = {
        "nohost",         "127.0.0.1", "127.0.0.1:99999", "",      "127.0.0.1:0",
        "127.0.0.1:12ab", ":5000",     "::1:5000",        "[::1]", "[::1]5000"};
    bootstrap_t *bs = NULL;

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        rcomm_status_t st = bootstrap_create(1, 2, bad[i], 100, NULL, &bs);
        ck_assert_msg(st == RCOMM_ERR_INVALID_ARG || st == RCOMM_ERR_BOOTSTRAP,
                      "'%s' gave %d", bad[i], st);
        ck_assert_ptr_null(bs);
        if (*bad[i])
            ck_assert_msg(strstr(rcomm_last_error(), bad[i]), "'%s': %s", bad[i],
                          rcomm_last_error());
        else
            ck_assert_msg(strstr(rcomm_last_error(), "empty"), "%s", rcomm_last_error());
    }
    ck_assert_int_eq(bootstrap_create(1, 2, NULL, 100, NULL, &bs), RCOMM_ERR_INVALID_ARG);
    ck_assert_int_eq(bootstrap_create(2, 2, "127.0.0.1:1", 100, NULL, &bs),
                     RCOMM_ERR_INVALID_ARG);
    ck_assert_int_eq(bootstrap_create(0, 0, "127.0.0.1:1", 100, NULL, &bs),
                     RCOMM_ERR_INVALID_ARG);
    ck_assert_int_eq(bootstrap_create(0, 1, "127.0.0.1:1", -1, NULL, &bs),
                     RCOMM_ERR_INVALID_ARG);
    ck_assert_ptr_null(bs);
}
END_TEST

START_TEST(test_no_server)
{
    bootstrap_t *bs = NULL;
    char addr[64];
    uint64_t t0 = base_now_ns();

    make_addr(addr, sizeof(addr), "127.0.0.1:%d");
    ck_assert_int_eq(bootstrap_create(1, 2, addr, 200, NULL, &bs), RCOMM_ERR_BOOTSTRAP);
    ck_assert_double_lt(secs_since(t0), 5.0);
    ck_assert_msg(strstr(rcomm_last_error(), addr), "%s", rcomm_last_error());
    ck_assert_ptr_null(bs);
}
END_TEST

/* A listener on a free port of 127.0.0.1; its "127.0.0.1:port" in addr. */
static int listener(char *addr, size_t len)
{
    struct sockaddr_in sa = {.sin_family = AF_INET,
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t sl = sizeof(sa);
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    ck_assert_int_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    ck_assert_int_eq(listen(fd, 4), 0);
    ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&sa, &sl), 0);
    snprintf(addr, len, "127.0.0.1:%d", ntohs(sa.sin_port));
    return fd;
}

START_TEST(test_port_in_use)
{
    bootstrap_t *bs = NULL;
    char addr[64];
    int fd = listener(addr, sizeof(addr));

    ck_assert_int_eq(bootstrap_create(0, 2, addr, 200, NULL, &bs), RCOMM_ERR_BOOTSTRAP);
    ck_assert_msg(strstr(rcomm_last_error(), addr) &&
                      strstr(rcomm_last_error(), strerror(EADDRINUSE)),
                  "%s", rcomm_last_error());
    ck_assert_ptr_null(bs);
    close(fd);
}
END_TEST

static void set_store_fd(int fd)
{
    char num[16];

    snprintf(num, sizeof(num), "%d", fd);
    setenv("RCOMM_STORE_FD", num, 1);
}

/* rcomm-run's listener (RCOMM_STORE_FD) serves rank 0's store when it is a
 * TCP listener on the job's address, one store at a time, and keeps the port
 * between stores; anything else named there is not believed. A store of one
 * rank joins its own server: it succeeds only if that accepts. */
START_TEST(test_inherited_listener)
{
    bootstrap_t *a = NULL, *b = NULL;
    char addr[64], other_addr[64];
    int fd = listener(addr, sizeof(addr)),
        other = listener(other_addr, sizeof(other_addr));
    int p[2];

    set_store_fd(fd);
    ck_assert_int_eq(bootstrap_create(0, 1, addr, 2000, NULL, &a), RCOMM_OK);
    ck_assert_int_eq(fcntl(fd, F_GETFD) & FD_CLOEXEC, FD_CLOEXEC);
    /* Not shared by a second store at once: that one binds, and the port is
     * taken. */
    ck_assert_int_eq(bootstrap_create(0, 1, addr, 200, NULL, &b), RCOMM_ERR_BOOTSTRAP);
    ck_assert_msg(strstr(rcomm_last_error(), strerror(EADDRINUSE)), "%s",
                  rcomm_last_error());
    bootstrap_destroy(a);
    ck_assert_int_eq(bootstrap_create(0, 1, addr, 2000, NULL, &b), RCOMM_OK);
    bootstrap_destroy(b);

    /* A listener on another port: not used, so the held port stays taken. */
    set_store_fd(other);
    ck_assert_int_eq(bootstrap_create(0, 1, addr, 200, NULL, &b), RCOMM_ERR_BOOTSTRAP);
    close(fd);
    /* With the port free, nonsense is ignored and the port is bound. */
    ck_assert_int_eq(pipe(p), 0);
    const int bogus[] = {p[0], 2, -1, 1 << 20};
    for (size_t i = 0; i < sizeof(bogus) / sizeof(bogus[0]); i++) {
        set_store_fd(bogus[i]);
        ck_assert_int_eq(bootstrap_create(0, 1, addr, 2000, NULL, &b), RCOMM_OK);
        bootstrap_destroy(b);
    }
    setenv("RCOMM_STORE_FD", "12x", 1);
    ck_assert_int_eq(bootstrap_create(0, 1, addr, 2000, NULL, &b), RCOMM_OK);
    bootstrap_destroy(b);
    unsetenv("RCOMM_STORE_FD");
    close(p[0]);
    close(p[1]);
    close(other);
}
END_TEST

START_TEST(test_limits_and_write_once)
{
    static unsigned char big[BOOTSTRAP_MAX_VALUE + 1];
    bootstrap_t *bs;
    char addr[64], key[300], buf[4];
    size_t len = sizeof(buf);

    make_addr(addr, sizeof(addr), "127.0.0.1:%d");
    ck_assert_int_eq(bootstrap_create(0, 1, addr, 2000, NULL, &bs), RCOMM_OK);

    ck_assert_int_eq(bootstrap_put(bs, "k", "a", 1), RCOMM_OK);
    ck_assert_int_eq(bootstrap_put(bs, "k", "a", 1), RCOMM_OK);
    ck_assert_int_eq(bootstrap_put(bs, "k", "b", 1), RCOMM_ERR_INVALID_ARG);
    ck_assert_msg(strstr(rcomm_last_error(), "'k'"), "%s", rcomm_last_error());
    ck_assert_int_eq(bootstrap_put(bs, "k", "ab", 2), RCOMM_ERR_INVALID_ARG);
    ck_assert_int_eq(bootstrap_get(bs, 0, "k", buf, &len), RCOMM_OK);
    ck_assert(len == 1 && buf[0] == 'a');

    ck_assert_int_eq(bootstrap_put(bs, "empty", NULL, 0), RCOMM_OK);
    len = sizeof(buf);
    ck_assert_int_eq(bootstrap_get(bs, 0, "empty", buf, &len), RCOMM_OK);
    ck_assert_int_eq(len, 0);

    ck_assert_int_eq(bootstrap_put(bs, "big", big, sizeof(big) - 1), RCOMM_OK);
    ck_assert_int_eq(bootstrap_put(bs, "big2", big, sizeof(big)), RCOMM_ERR_INVALID_ARG);
    memset(key, 'x', sizeof(key));
    key[255] = '\0';
    ck_assert_int_eq(bootstrap_put(bs, key, "v", 1), RCOMM_OK);
    key[255] = 'x';
    key[256] = '\0';
    ck_assert_int_eq(bootstrap_put(bs, key, "v", 1), RCOMM_ERR_INVALID_ARG);
    ck_assert_int_eq(bootstrap_put(bs, "", "v", 1), RCOMM_ERR_INVALID_ARG);
    ck_assert_int_eq(bootstrap_put(bs, NULL, "v", 1), RCOMM_ERR_INVALID_ARG);
    ck_assert_int_eq(bootstrap_get(bs, 0, "k", NULL, NULL), RCOMM_ERR_INVALID_ARG);
    ck_assert_int_eq(bootstrap_allgather(bs, key, "v", buf, 1), RCOMM_ERR_INVALID_ARG);
    bootstrap_destroy(bs);
    bootstrap_destroy(NULL);
}
END_TEST

/* ---- Disagreeing ranks --------------------------------------------------------- */

/* Rank 0 of 4 stays up while the others try to join wrongly. */
static int rank_root_idle(int rank, int size, const char *addr, void *arg)
{
    bootstrap_t *bs;
    char buf[4];
    size_t len = sizeof(buf);

    CK_OK(bootstrap_create(rank, size, addr, 20000, NULL, &bs));
    CK_OK(bootstrap_get(bs, 0, "done", buf, &len));
    bootstrap_destroy(bs);
    return 0;
}

static int join_expect_error(int rank, int size, const char *addr, const char *what)
{
    bootstrap_t *bs = NULL;

    CK(bootstrap_create(rank, size, addr, 20000, NULL, &bs) == RCOMM_ERR_BOOTSTRAP);
    CK(bs == NULL);
    CK(strstr(rcomm_last_error(), what) != NULL);
    return 0;
}

START_TEST(test_size_mismatch)
{
    bootstrap_t *bs;
    char addr[64];
    pid_t root;

    make_addr(addr, sizeof(addr), "127.0.0.1:%d");
    root = spawn(rank_root_idle, 0, 4, addr, NULL);
    ck_assert_int_eq(join_expect_error(3, 5, addr, "rank 3 says size 5, rank 0 says 4"),
                     0);
    /* Two processes claiming rank 1. */
    ck_assert_int_eq(bootstrap_create(1, 4, addr, 20000, NULL, &bs), RCOMM_OK);
    ck_assert_int_eq(join_expect_error(1, 4, addr, "rank 1 is already connected"), 0);
    ck_assert_int_eq(bootstrap_put(bs, "done", "y", 1), RCOMM_OK);
    bootstrap_destroy(bs);
    reap(root, "rank 0");
}
END_TEST

static int rank_len_mismatch(int rank, int size, const char *addr, void *arg)
{
    unsigned char mine[8] = {0}, all[16];
    bootstrap_t *bs;

    CK_OK(bootstrap_create(rank, size, addr, 20000, NULL, &bs));
    CK(bootstrap_allgather(bs, "ag", mine, all, rank == 0 ? 4 : 8) == RCOMM_ERR_MISMATCH);
    CK(strstr(rcomm_last_error(), rank == 0 ? "rank 1 published 8 bytes"
                                            : "rank 0 published 4 bytes") != NULL);
    bootstrap_destroy(bs);
    return 0;
}

START_TEST(test_allgather_len_mismatch)
{
    char addr[64];

    make_addr(addr, sizeof(addr), "127.0.0.1:%d");
    run_ranks(0, 2, addr, rank_len_mismatch, NULL);
}
END_TEST

/* ---- A client sending garbage -------------------------------------------------- */

/* Send bytes, then expect the server to hang up (EOF or reset) within 10 s,
 * after at most one reply. Returns 0 when it did. */
static int send_expect_close(const char *addr, const void *buf, size_t len)
{
    unsigned char junk[1024];
    struct pollfd pfd;
    int fd = raw_connect(addr);
    ssize_t n;

    if (fd < 0 || send(fd, buf, len, MSG_NOSIGNAL) != (ssize_t)len)
        return -1;
    shutdown(fd, SHUT_WR); /* a truncated request ends here */
    do {
        pfd = (struct pollfd){.fd = fd, .events = POLLIN};
        if (poll(&pfd, 1, 10000) != 1)
            break;
        n = recv(fd, junk, sizeof(junk), 0);
    } while (n > 0);
    close(fd);
    return pfd.revents ? 0 : -1;
}

static size_t make_msg(unsigned char *p, uint32_t magic, uint16_t type, uint32_t a0,
                       uint32_t a1, uint32_t klen, uint32_t vlen)
{
    kvs_hdr_t h = {.magic = magic,
                   .version = KVS_VERSION,
                   .type = type,
                   .seq = 1,
                   .a0 = a0,
                   .a1 = a1,
                   .key_len = klen,
                   .val_len = vlen};
    kvs_hdr_encode(&h, p);
    return KVS_HDR_SIZE;
}

static int rank_with_garbage(int rank, int size, const char *addr, void *arg)
{
    unsigned char m[2 * KVS_HDR_SIZE + 64], out[3 * sizeof(int)];
    bootstrap_t *bs;
    size_t n;

    if (rank == size - 1) {
        /* Junk first, from this rank, before it joins properly. */
        memset(m, 0xa5, sizeof(m));
        CK(send_expect_close(addr, m, sizeof(m)) == 0);
        CK(send_expect_close(addr, "GET /index.html HTTP/1.0\r\n\r\n", 28) == 0);
        n = make_msg(m, KVS_MAGIC, KVS_HELLO, 0, 3, 0, 0);
        CK(send_expect_close(addr, m, n - 5) == 0); /* truncated header */
        n = make_msg(m, KVS_MAGIC, KVS_PUT, 0, 0, 0xffffff, 0xfffffff);
        CK(send_expect_close(addr, m, n) == 0); /* huge lengths */
        n = make_msg(m, KVS_MAGIC, KVS_PUT, 0, 0, 1, 1);
        memcpy(m + n, "kv", 2);
        CK(send_expect_close(addr, m, n + 2) == 0); /* PUT before HELLO */
        n = make_msg(m, KVS_MAGIC, KVS_HELLO, 99, 3, 0, 0);
        CK(send_expect_close(addr, m, n) == 0); /* rank out of range */
        n = make_msg(m, KVS_MAGIC, KVS_HELLO, 2, 3, 0, 0);
        n += make_msg(m + n, KVS_MAGIC, KVS_PUT, 0, 0, 3, 0);
        memcpy(m + n, "a\0b", 3); /* NUL in a key */
        CK(send_expect_close(addr, m, n + 3) == 0);
        n = make_msg(m, KVS_MAGIC, KVS_HELLO, 2, 3, 0, 0);
        n += make_msg(m + n, KVS_MAGIC, KVS_MGET, 0, 0, 1, 0);
        memcpy(m + n, "g", 1); /* MGET of no keys */
        CK(send_expect_close(addr, m, n + 1) == 0);
        n = make_msg(m, KVS_MAGIC, KVS_HELLO, 2, 3, 0, 0);
        n += make_msg(m + n, KVS_MAGIC, KVS_PUT, 0, 0, 4, 10);
        memcpy(m + n, "half", 4);
        CK(send_expect_close(addr, m, n + 4 + 3) == 0); /* value cut short */
    }
    CK_OK(bootstrap_create(rank, size, addr, 20000, NULL, &bs));
    CK_OK(bootstrap_allgather(bs, "g", &rank, out, sizeof(int)));
    for (int r = 0; r < size; r++)
        CK(memcmp(out + r * sizeof(int), &r, sizeof(int)) == 0);
    CK_OK(bootstrap_barrier(bs, "end"));
    bootstrap_destroy(bs);
    return 0;
}

START_TEST(test_garbage_client)
{
    char addr[64];

    make_addr(addr, sizeof(addr), "127.0.0.1:%d");
    run_ranks(0, 3, addr, rank_with_garbage, NULL);
}
END_TEST

/* ---- Rank 0 leaving ------------------------------------------------------------ */

static int rank_server_gone(int rank, int size, const char *addr, void *arg)
{
    bootstrap_t *bs;
    char buf[4];
    size_t len = sizeof(buf);
    uint64_t t0;

    CK_OK(bootstrap_create(rank, size, addr, 20000, NULL, &bs));
    CK_OK(bootstrap_barrier(bs, "up"));
    if (rank != 0) {
        /* Rank 0 is gone once every other rank waits for a key nobody will
         * publish: the store tells them now instead of at their timeout. */
        t0 = base_now_ns();
        CK(bootstrap_get(bs, 0, "never", buf, &len) == RCOMM_ERR_BOOTSTRAP);
        CK(secs_since(t0) < 5.0);
        CK(strstr(rcomm_last_error(), addr) != NULL);
        CK(bootstrap_put(bs, "after", "x", 1) == RCOMM_ERR_BOOTSTRAP);
    }
    bootstrap_destroy(bs);
    return 0;
}

START_TEST(test_server_gone)
{
    char addr[64];

    make_addr(addr, sizeof(addr), "127.0.0.1:%d");
    run_ranks(0, 3, addr, rank_server_gone, NULL);
}
END_TEST

/* Rank 0 finishing first must not cut off ranks still reading the store. */
static int rank_root_leaves_first(int rank, int size, const char *addr, void *arg)
{
    bootstrap_t *bs;
    char buf[8];
    size_t len = sizeof(buf);

    CK_OK(bootstrap_create(rank, size, addr, 20000, NULL, &bs));
    if (rank == 0)
        CK_OK(bootstrap_put(bs, "late", "value", 5));
    CK_OK(bootstrap_barrier(bs, "up"));
    if (rank != 0) {
        usleep(300 * 1000);
        CK_OK(bootstrap_get(bs, 0, "late", buf, &len));
        CK(len == 5 && memcmp(buf, "value", 5) == 0);
    }
    bootstrap_destroy(bs);
    return 0;
}

START_TEST(test_root_leaves_first)
{
    char addr[64];

    make_addr(addr, sizeof(addr), "127.0.0.1:%d");
    run_ranks(0, 3, addr, rank_root_leaves_first, NULL);
}
END_TEST

/* ---- Suite --------------------------------------------------------------------- */

static TCase *tcase(const char *name)
{
    TCase *tc = tcase_create(name);
    tcase_set_timeout(tc, TCASE_TIMEOUT_S);
    return tc;
}

static Suite *bootstrap_suite(void)
{
    Suite *s = suite_create("bootstrap");
    TCase *tc;

    tc = tcase("exchange");
    tcase_add_loop_test(tc, test_exchange, 0,
                        sizeof(exchange_sizes) / sizeof(exchange_sizes[0]));
    tcase_add_loop_test(tc, test_root_last, 0,
                        sizeof(late_addr_fmts) / sizeof(late_addr_fmts[0]));
    suite_add_tcase(s, tc);

    tc = tcase("timeouts");
    tcase_add_test(tc, test_get_timeout);
    tcase_add_test(tc, test_allgather_names_missing_rank);
    tcase_add_test(tc, test_stale_reply);
    tcase_add_test(tc, test_no_server);
    suite_add_tcase(s, tc);

    tc = tcase("errors");
    tcase_add_test(tc, test_bad_addr);
    tcase_add_test(tc, test_port_in_use);
    tcase_add_test(tc, test_inherited_listener);
    tcase_add_test(tc, test_limits_and_write_once);
    tcase_add_test(tc, test_size_mismatch);
    tcase_add_test(tc, test_allgather_len_mismatch);
    tcase_add_test(tc, test_garbage_client);
    suite_add_tcase(s, tc);

    tc = tcase("shutdown");
    tcase_add_test(tc, test_server_gone);
    tcase_add_test(tc, test_root_leaves_first);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(bootstrap_suite());
    int failed;

    /* Most errors here are expected; a failed check prints rcomm's message. */
    setenv("RCOMM_LOG_LEVEL", "none", 0);
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
