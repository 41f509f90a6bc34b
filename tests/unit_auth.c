/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The job key: loading it (text, private file, required), its tags, and
 * strangers at rank 0's store: without the key, with a wrong one, replaying
 * a recorded proof, reflecting the store's own tag, flooding it with idle,
 * half-sent and oversized connections. Each must be refused while the real
 * ranks join and exchange exact values; an idle stranger must not keep rank
 * 0 from leaving. (Strangers at the TCP transport: unit_tcp_faults.c; whole
 * jobs: tests/launcher.sh.)
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/auth.h"
#include "bootstrap/bootstrap.h"
#include "bootstrap/kvs_proto.h"
#include "fork_ranks.h"

#define TCASE_TIMEOUT_S 120
#define KEY_A "0123456789abcdef0123456789abcdef-job-a"
#define KEY_B "0123456789abcdef0123456789abcdef-job-b"

static void unset_keys(void)
{
    unsetenv("RCOMM_JOB_KEY");
    unsetenv("RCOMM_JOB_KEY_FILE");
}

/* ---- Loading ------------------------------------------------------------------- */

static void write_file(const char *path, const char *text, mode_t mode)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);

    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(write(fd, text, strlen(text)), (int)strlen(text));
    close(fd);
    ck_assert_int_eq(chmod(path, mode), 0);
}

START_TEST(test_key_load)
{
    char path[] = "/tmp/rcomm-key-XXXXXX";
    auth_key_t a, b, none;
    int fd = mkstemp(path);

    ck_assert_int_ge(fd, 0);
    close(fd);
    unset_keys();
    auth_key_none(&none);

    /* No key: the public stand-in, unless one is required. */
    ck_assert_int_eq(auth_key_load(&a, 0, false), RCOMM_OK);
    ck_assert(!a.keyed && memcmp(a.k, none.k, AUTH_KEY_LEN) == 0);
    ck_assert_int_eq(auth_key_load(&a, 3, true), RCOMM_ERR_CONFIG);
    ck_assert_ptr_nonnull(strstr(rcomm_last_error(), "RCOMM_REQUIRE_KEY"));

    /* Text: too short is refused without echoing it. */
    setenv("RCOMM_JOB_KEY", "short-secret", 1);
    ck_assert_int_eq(auth_key_load(&a, 0, false), RCOMM_ERR_CONFIG);
    ck_assert_ptr_nonnull(strstr(rcomm_last_error(), "RCOMM_JOB_KEY has 12 characters"));
    ck_assert_ptr_null(strstr(rcomm_last_error(), "short-secret"));
    setenv("RCOMM_JOB_KEY", KEY_A, 1);
    ck_assert_int_eq(auth_key_load(&a, 0, true), RCOMM_OK);
    ck_assert(a.keyed && memcmp(a.k, none.k, AUTH_KEY_LEN) != 0);

    /* Both set: ambiguous. */
    setenv("RCOMM_JOB_KEY_FILE", path, 1);
    ck_assert_int_eq(auth_key_load(&b, 0, false), RCOMM_ERR_CONFIG);
    unsetenv("RCOMM_JOB_KEY");

    /* A file others can read is refused; a private one gives the same key
     * as the same text (a trailing newline is not part of it). */
    write_file(path, KEY_A "\n", 0644);
    ck_assert_int_eq(auth_key_load(&b, 0, false), RCOMM_ERR_CONFIG);
    ck_assert_ptr_nonnull(strstr(rcomm_last_error(), "chmod 600"));
    ck_assert_ptr_null(strstr(rcomm_last_error(), KEY_A));
    write_file(path, KEY_A "\n", 0640);
    ck_assert_int_eq(auth_key_load(&b, 0, false), RCOMM_ERR_CONFIG);
    write_file(path, KEY_A "\n", 0600);
    ck_assert_int_eq(auth_key_load(&b, 0, false), RCOMM_OK);
    ck_assert(b.keyed && memcmp(a.k, b.k, AUTH_KEY_LEN) == 0);
    write_file(path, KEY_B, 0400);
    ck_assert_int_eq(auth_key_load(&b, 0, false), RCOMM_OK);
    ck_assert(memcmp(a.k, b.k, AUTH_KEY_LEN) != 0);
    unlink(path);
    ck_assert_int_eq(auth_key_load(&b, 0, false), RCOMM_ERR_SYSTEM);
    unset_keys();
}
END_TEST

START_TEST(test_generate)
{
    char t1[AUTH_KEY_TEXT_LEN + 1], t2[AUTH_KEY_TEXT_LEN + 1];

    ck_assert_int_eq(auth_key_generate_text(t1), RCOMM_OK);
    ck_assert_int_eq(auth_key_generate_text(t2), RCOMM_OK);
    ck_assert_uint_eq(strlen(t1), AUTH_KEY_TEXT_LEN);
    ck_assert_uint_eq(strspn(t1, "0123456789abcdef"), AUTH_KEY_TEXT_LEN);
    ck_assert_str_ne(t1, t2);
}
END_TEST

/* A tag checks only with the same key, label, claims and nonces. */
START_TEST(test_tags)
{
    auth_key_t a, b;
    unsigned char n1[AUTH_NONCE_LEN], n2[AUTH_NONCE_LEN], tag[AUTH_TAG_LEN];
    int claims[2] = {2, 3}, other[2] = {1, 3};

    ck_assert_int_eq(auth_key_from_text(&a, KEY_A, strlen(KEY_A), "a"), RCOMM_OK);
    ck_assert_int_eq(auth_key_from_text(&b, KEY_B, strlen(KEY_B), "b"), RCOMM_OK);
    auth_nonce(n1);
    auth_nonce(n2);
    ck_assert(memcmp(n1, n2, AUTH_NONCE_LEN) != 0);
    auth_tag(&a, "side one", claims, sizeof(claims), n1, n2, tag);
    ck_assert(auth_check(&a, "side one", claims, sizeof(claims), n1, n2, tag));
    ck_assert(!auth_check(&b, "side one", claims, sizeof(claims), n1, n2, tag));
    ck_assert(!auth_check(&a, "side two", claims, sizeof(claims), n1, n2, tag));
    ck_assert(!auth_check(&a, "side one", other, sizeof(other), n1, n2, tag));
    ck_assert(!auth_check(&a, "side one", claims, sizeof(claims), n2, n1, tag));
    tag[AUTH_TAG_LEN - 1] ^= 1;
    ck_assert(!auth_check(&a, "side one", claims, sizeof(claims), n1, n2, tag));
}
END_TEST

/* ---- Strangers at the store ------------------------------------------------------ */

static auth_key_t job_key;

static int send_msg(int fd, uint16_t type, uint32_t a0, uint32_t a1, const void *val,
                    uint32_t vlen)
{
    unsigned char m[KVS_HDR_SIZE];
    kvs_hdr_t h = {.magic = KVS_MAGIC,
                   .version = KVS_VERSION,
                   .type = type,
                   .seq = 1,
                   .a0 = a0,
                   .a1 = a1,
                   .val_len = vlen};

    kvs_hdr_encode(&h, m);
    if (send(fd, m, sizeof(m), MSG_NOSIGNAL) != (ssize_t)sizeof(m))
        return -1;
    return vlen && send(fd, val, vlen, MSG_NOSIGNAL) != (ssize_t)vlen ? -1 : 0;
}

/* Read exactly len bytes within 10 s: 1, 0 on EOF, -1 otherwise. */
static int recv_exact(int fd, void *buf, size_t len)
{
    for (size_t off = 0; off < len;) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        ssize_t n;

        if (poll(&p, 1, 10000) != 1)
            return -1;
        n = recv(fd, (char *)buf + off, len - off, 0);
        if (n <= 0)
            return n == 0 ? 0 : -1;
        off += (size_t)n;
    }
    return 1;
}

/* The server hangs up within 10 s having sent nothing more. */
static int expect_eof(int fd)
{
    unsigned char b;
    int rc = recv_exact(fd, &b, 1);

    close(fd);
    return rc == 0 ? 0 : -1;
}

/* HELLO as rank/size with nonce nc: the CHALLENGE's value into ch. */
static int hello(int fd, uint32_t rank, uint32_t size, const unsigned char *nc,
                 unsigned char ch[KVS_CHALLENGE_LEN])
{
    unsigned char val[KVS_HELLO_LEN] = {KVS_F_KEYED}, hdr[KVS_HDR_SIZE];
    kvs_hdr_t h;

    memcpy(val + 1, nc, AUTH_NONCE_LEN);
    if (send_msg(fd, KVS_HELLO, rank, size, val, sizeof(val)) != 0 ||
        recv_exact(fd, hdr, sizeof(hdr)) != 1)
        return -1;
    kvs_hdr_decode(hdr, &h);
    if (h.type != KVS_CHALLENGE || h.val_len != KVS_CHALLENGE_LEN)
        return -1;
    return recv_exact(fd, ch, KVS_CHALLENGE_LEN) == 1 ? 0 : -1;
}

/* Replay and reflection, by a process that can compute real tags (it has
 * the key) but sends ones from another exchange: both must be refused. */
static int replay_and_reflect(const char *addr)
{
    unsigned char nc[AUTH_NONCE_LEN], ch1[KVS_CHALLENGE_LEN], ch2[KVS_CHALLENGE_LEN];
    unsigned char claims[8], recorded[AUTH_TAG_LEN];
    int fd;

    auth_nonce(nc);
    kvs_claims(claims, 2, 3);
    /* Record the proof the real rank 2 would send... */
    CK((fd = raw_connect(addr)) >= 0 && hello(fd, 2, 3, nc, ch1) == 0);
    CK(auth_check(&job_key, KVS_LABEL_SERVER, claims, sizeof(claims), nc, ch1 + 1,
                  ch1 + 1 + AUTH_NONCE_LEN));
    auth_tag(&job_key, KVS_LABEL_CLIENT, claims, sizeof(claims), nc, ch1 + 1, recorded);
    close(fd);
    /* ...and replay it with the same HELLO: the store's nonce is new. */
    CK((fd = raw_connect(addr)) >= 0 && hello(fd, 2, 3, nc, ch2) == 0);
    CK(memcmp(ch1 + 1, ch2 + 1, AUTH_NONCE_LEN) != 0);
    CK(send_msg(fd, KVS_AUTH, 0, 0, recorded, sizeof(recorded)) == 0);
    CK(expect_eof(fd) == 0);
    /* The store's own tag sent back as ours. */
    CK((fd = raw_connect(addr)) >= 0 && hello(fd, 2, 3, nc, ch1) == 0);
    CK(send_msg(fd, KVS_AUTH, 0, 0, ch1 + 1 + AUTH_NONCE_LEN, AUTH_TAG_LEN) == 0);
    CK(expect_eof(fd) == 0);
    /* A PUT instead of the proof. */
    CK((fd = raw_connect(addr)) >= 0 && hello(fd, 2, 3, nc, ch1) == 0);
    CK(send_msg(fd, KVS_PUT, 0, 0, NULL, 0) == 0);
    CK(expect_eof(fd) == 0);
    return 0;
}

/* Strangers with the wrong key or none, through the real client. */
static int wrong_keys(const char *addr)
{
    auth_key_t other, none;
    bootstrap_t *bs = NULL;

    CK_OK(auth_key_from_text(&other, KEY_B, strlen(KEY_B), "test"));
    auth_key_none(&none);
    CK(bootstrap_create(2, 3, addr, 20000, &(bootstrap_auth_t){&other, 1000}, &bs) ==
       RCOMM_ERR_AUTH);
    CK(bs == NULL && strstr(rcomm_last_error(), "the keys differ"));
    CK(bootstrap_create(2, 3, addr, 20000, &(bootstrap_auth_t){&none, 1000}, &bs) ==
       RCOMM_ERR_AUTH);
    CK(strstr(rcomm_last_error(), "rank 0 has a key and this rank has none"));
    CK(bootstrap_create(2, 3, addr, 20000, NULL, &bs) == RCOMM_ERR_AUTH);
    return 0;
}

#define FLOOD_IDLE 150
#define FLOOD_HALF 100
#define FLOOD_PUT 100

/* Connections that never prove anything: idle, a HELLO cut in half, a
 * 64 KiB PUT announced before any HELLO. Each must be closed by the store
 * (at its handshake deadline or at once). */
static int flood(const char *addr)
{
    static int fds[FLOOD_IDLE + FLOOD_HALF + FLOOD_PUT];
    unsigned char half[KVS_HDR_SIZE];
    kvs_hdr_t h = {.magic = KVS_MAGIC,
                   .version = KVS_VERSION,
                   .type = KVS_HELLO,
                   .a0 = 2,
                   .a1 = 3,
                   .val_len = KVS_HELLO_LEN};
    int n = 0;

    kvs_hdr_encode(&h, half);
    for (int i = 0; i < FLOOD_IDLE + FLOOD_HALF + FLOOD_PUT; i++) {
        CK((fds[n] = raw_connect(addr)) >= 0);
        if (i >= FLOOD_IDLE + FLOOD_HALF) {
            static unsigned char junk[KVS_MAX_VALUE / 2];
            send_msg(fds[n], KVS_PUT, 0, 0, NULL, 0); /* refused at its header */
            send(fds[n], junk, sizeof(junk), MSG_NOSIGNAL | MSG_DONTWAIT);
        } else if (i >= FLOOD_IDLE) {
            CK(send(fds[n], half, sizeof(half), MSG_NOSIGNAL) == (ssize_t)sizeof(half));
        }
        n++;
    }
    for (int i = 0; i < n; i++) {
        /* A reset (the PUTs' unread bytes) counts as closed too. */
        unsigned char b[256];
        ssize_t r;
        struct pollfd p = {.fd = fds[i], .events = POLLIN};
        CK(poll(&p, 1, 20000) == 1);
        while ((r = recv(fds[i], b, sizeof(b), 0)) > 0)
            ;
        CK(r == 0 || errno == ECONNRESET);
        close(fds[i]);
    }
    return 0;
}

typedef struct {
    int variant; /* STRANGER_* */
} stranger_arg_t;

enum { STRANGER_KEYS, STRANGER_REPLAY, STRANGER_FLOOD, STRANGER_IDLE };

/* Ranks 0 and 1 join at once; the stranger acts first; rank 2 joins after
 * it. All three then exchange values that must come back exact. */
static int job_rank(int rank, int size, const char *addr, void *arg)
{
    const stranger_arg_t *sa = arg;
    bool idle = sa->variant == STRANGER_IDLE;
    bootstrap_auth_t auth = {&job_key, idle ? 600000 : 300};
    bootstrap_t *bs;
    int out[3];

    /* STRANGER_IDLE: a connection that says nothing stays pending for the
     * whole (600 s) handshake time; a destroy that waited for it would hang
     * the test until Check's timeout. */
    CK_OK(bootstrap_create(rank, size, addr, idle ? 600000 : 20000, &auth, &bs));
    CK_OK(bootstrap_allgather(bs, "v", &rank, out, sizeof(int)));
    for (int r = 0; r < size; r++)
        CK(out[r] == r);
    CK_OK(bootstrap_barrier(bs, "end"));
    bootstrap_destroy(bs);
    return 0;
}

static int stranger(int rank, int size, const char *addr, void *arg)
{
    const stranger_arg_t *sa = arg;

    switch (sa->variant) {
    case STRANGER_KEYS: return wrong_keys(addr);
    case STRANGER_REPLAY: return replay_and_reflect(addr);
    case STRANGER_FLOOD: return flood(addr);
    default: return 0;
    }
}

START_TEST(test_store_strangers)
{
    stranger_arg_t sa = {.variant = _i};
    char addr[64];
    pid_t r0, r1, s, r2;
    int idle = -1;

    make_addr(addr, sizeof(addr), "127.0.0.1:%d");
    r0 = spawn(job_rank, 0, 3, addr, &sa);
    r1 = spawn(job_rank, 1, 3, addr, &sa);
    if (sa.variant == STRANGER_IDLE) {
        ck_assert_int_ge(idle = raw_connect(addr), 0); /* and say nothing */
    } else {
        s = spawn(stranger, 2, 3, addr, &sa);
        reap(s, "the stranger");
    }
    r2 = spawn(job_rank, 2, 3, addr, &sa);
    reap(r1, "rank 1");
    reap(r2, "rank 2");
    reap(r0, "rank 0");
    if (idle >= 0)
        close(idle);
}
END_TEST

static Suite *auth_suite(void)
{
    Suite *s = suite_create("auth");
    TCase *tc = tcase_create("key");

    tcase_add_test(tc, test_key_load);
    tcase_add_test(tc, test_generate);
    tcase_add_test(tc, test_tags);
    suite_add_tcase(s, tc);
    tc = tcase_create("store");
    tcase_set_timeout(tc, TCASE_TIMEOUT_S);
    tcase_add_loop_test(tc, test_store_strangers, STRANGER_KEYS, STRANGER_IDLE + 1);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(auth_suite());
    int failed;

    /* Refusals are expected here; a failed check prints rcomm's message. */
    setenv("RCOMM_LOG_LEVEL", "none", 0);
    if (auth_key_from_text(&job_key, KEY_A, strlen(KEY_A), "test") != RCOMM_OK)
        return EXIT_FAILURE;
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
