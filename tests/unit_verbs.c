/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Verbs transport tests: the conformance cases every transport runs
 * (tp_twosided.c, tp_onesided.c), then what only verbs has: rights enforced
 * by the HCA for keys forged past the initiator's check, zero copy proven by
 * the counters, put_notify held back for credits, the registration cache
 * under eviction and across free() and a new allocation at the same
 * address, fork() with memory registered, a peer killed mid-transfer, and
 * with rdma_cm a dead peer noticed by a rank that only receives from it and
 * a stranger without the job key refused. Without an RDMA device the program
 * exits 77 (skipped) and says why; `make check-rxe` runs it inside the
 * soft-RoCE VM.
 */
#include <check.h>
#include <infiniband/verbs.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/clock.h"
#include "base/error.h"
#include "suite_run.h"
#include "tp_harness.h"
#include "transports/rcache.h"
#include "transports/verbs/verbs.h"

#define MiB ((size_t)1 << 20)

static void run(int size, void (*fn)(tp_ctx_t *), int variant, int killed)
{
    tp_group_t g = {.transport = "verbs",
                    .size = size,
                    .fn = fn,
                    .variant = variant,
                    .absent = -1,
                    .killed = killed};
    tp_run_group(&g);
}

static tp_rcache_stats_t cache_stats(tp_ctx_t *c)
{
    tp_rcache_stats_t s;
    tp_rcache_stats(vx_tp(c->tp)->rcache, &s);
    return s;
}

/* ---- rights enforced by the HCA ------------------------------------------ */

/* Rank 1 writes with a key the initiator's check cannot refuse: variant 0
 * forges the write right onto a read-only region's key, variant 1 uses the
 * key of a region rank 0 has deregistered. The HCA refuses, the put fails
 * with ACCESS naming the QP, and rank 0's memory is untouched. */
static void sc_forged(tp_ctx_t *c)
{
    enum { LEN = 4096 };
    tp_req_t rq = {0};
    tp_rkey_t rk;
    tp_mr_t *mr;
    unsigned char *mem = tp_xmalloc(LEN), src[64];

    if (c->rank == 0) {
        tp_fill(mem, LEN, tp_seed(0, 0, 800));
        OK(c->ops->mem_reg(c->tp, mem, LEN, c->variant ? TP_REMOTE_WRITE : TP_REMOTE_READ,
                           &mr));
        OK(c->ops->mem_rkey(mr, &rk));
        if (c->variant)
            OK(c->ops->mem_dereg(c->tp, mr));
        OK(c->ops->isend(c->tp, 1, 1, NULL, &rk, sizeof(rk), &rq));
        tp_wait_ok(c, &rq, 1);
        /* Wait for rank 1 to be done: it cannot tell us (the QP broke), so
         * wait until our side notices (the receive fails, or cannot even be
         * posted once the flush has been seen) or long enough. */
        if (c->ops->irecv(c->tp, 1, 2, NULL, 0, &rq) == RCOMM_OK)
            (void)tp_wait(c, &rq, 3000);
        tp_check(mem, LEN, tp_seed(0, 0, 800));
        if (!c->variant)
            OK(c->ops->mem_dereg(c->tp, mr));
    } else {
        OK(c->ops->irecv(c->tp, 0, 1, &rk, sizeof(rk), &rq));
        tp_wait_ok(c, &rq, 1);
        if (!c->variant)
            rk.key |= (uint64_t)TP_REMOTE_WRITE << 32;
        memset(src, 0x5a, sizeof(src));
        OK(c->ops->put(c->tp, 0, src, sizeof(src), &rk, rk.addr, &rq));
        REQUIRE(tp_wait(c, &rq, 20000) == RCOMM_ERR_ACCESS);
        REQUIREF(strstr(rcomm_last_error(), "remote access error") &&
                     strstr(rcomm_last_error(), "QP 0x") &&
                     strstr(rcomm_last_error(), "rank 0"),
                 "error: %s", rcomm_last_error());
    }
    free(mem);
}

/* ---- zero copy ------------------------------------------------------------- */

/* Large messages move with no copy: between registered buffers, and between
 * plain malloc'd ones through the registration cache (a miss, then hits). */
static void sc_zero_copy(tp_ctx_t *c)
{
    static const size_t len[] = {MiB, 3 * MiB + 5, 8193};
    int q = 1 - c->rank;
    char *out = tp_xmalloc(4 * MiB), *in = tp_xmalloc(4 * MiB);
    tp_mr_t *mo = NULL, *mi = NULL;
    tp_rcache_stats_t s0, s1;

    if (c->variant == 0) {
        OK(c->ops->mem_reg(c->tp, out, 4 * MiB, TP_MESSAGES, &mo));
        OK(c->ops->mem_reg(c->tp, in, 4 * MiB, TP_MESSAGES, &mi));
    }
    s0 = cache_stats(c);
    for (int round = 0; round < 3; round++)
        for (size_t i = 0; i < sizeof(len) / sizeof(len[0]); i++) {
            tp_req_t rq[2] = {{0}};
            uint64_t copied = c->tp->stats.bytes_copied;
            tp_fill(out, len[i], tp_seed(c->rank, q, 10 * round + i));
            OK(c->ops->irecv(c->tp, q, i, in, len[i], &rq[0]));
            OK(c->ops->isend(c->tp, q, i, NULL, out, len[i], &rq[1]));
            tp_wait_ok(c, rq, 2);
            REQUIRE(rq[0].len == len[i]);
            tp_check(in, len[i], tp_seed(q, c->rank, 10 * round + i));
            REQUIREF(c->tp->stats.bytes_copied == copied, "%llu bytes copied",
                     (unsigned long long)(c->tp->stats.bytes_copied - copied));
        }
    s1 = cache_stats(c);
    if (c->variant == 0) {
        REQUIRE(s1.hits == s0.hits && s1.misses == s0.misses); /* explicit regions only */
        OK(c->ops->mem_dereg(c->tp, mo));
        OK(c->ops->mem_dereg(c->tp, mi));
    } else if (s1.monitored) {
        REQUIRE(s1.misses > s0.misses && s1.hits > s1.misses);
    }
    free(out);
    free(in);
}

/* ---- fork ------------------------------------------------------------------ */

/* A process that forks while memory is registered (a data loader, say) keeps
 * a working transport: rank 0 sends from a buffer (registered through the
 * cache, or explicitly), forks a child that writes its copy of the buffer
 * and exits, then writes new data into its own buffer and sends again from
 * the same registration; rank 1 gets exactly the new data. Variant 1 runs
 * with RCOMM_IB_FORK_SAFE=1 (ibv_fork_init), where the child has no copy of
 * registered memory at all. */
static void sc_fork(tp_ctx_t *c)
{
    enum { LEN = 2 << 20 };
    char *buf = tp_xmalloc(LEN);
    tp_mr_t *mr = NULL;

    if (c->variant == 1)
        OK(c->ops->mem_reg(c->tp, buf, LEN, TP_MESSAGES, &mr));
    for (int round = 0; round < 2; round++) {
        tp_req_t rq = {0};
        if (c->rank == 0) {
            tp_fill(buf, LEN, tp_seed(0, 1, 70 + round));
            OK(c->ops->isend(c->tp, 1, 70, NULL, buf, LEN, &rq));
            tp_wait_ok(c, &rq, 1);
            if (round == 0) {
                int st;
                pid_t pid = fork();
                REQUIRE(pid >= 0);
                if (pid == 0) {
                    /* ibv_fork_init leaves registered pages out of the
                     * child (MADV_DONTFORK): it must not touch them. */
                    if (c->variant == 0)
                        memset(buf, 0x5a, LEN); /* the child's copy only */
                    _exit(0);
                }
                REQUIRE(waitpid(pid, &st, 0) == pid);
                REQUIREF(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child: status 0x%x", st);
            }
        } else {
            OK(c->ops->irecv(c->tp, 0, 70, buf, LEN, &rq));
            tp_wait_ok(c, &rq, 1);
            tp_check(buf, LEN, tp_seed(0, 1, 70 + round));
        }
    }
    if (mr)
        OK(c->ops->mem_dereg(c->tp, mr));
    free(buf);
}

/* ---- the registration cache ------------------------------------------------ */

/* Variant 0: 12 distinct 512 KiB buffers through a 2 MiB cache, 3 rounds:
 * entries are evicted, the data is always right. Variant 1: munmap a buffer
 * and map again (the kernel hands back the same address, new pages): the
 * cached registration must not be reused. */
static void sc_rcache(tp_ctx_t *c)
{
    enum { N = 12, LEN = 512 << 10, BIG = 16 << 20 };
    int q = 1 - c->rank;
    tp_req_t rq[2 * N] = {{0}};

    if (c->variant == 0) {
        char *b[N];
        for (int i = 0; i < N; i++)
            b[i] = tp_xmalloc(LEN);
        /* One at a time, so that the cache holds released entries to evict. */
        for (int round = 0; round < 3; round++)
            for (int i = 0; i < N; i++) {
                if (c->rank == 0) {
                    tp_fill(b[i], LEN, tp_seed(0, 1, 100 * round + i));
                    OK(c->ops->isend(c->tp, q, i, NULL, b[i], LEN, &rq[i]));
                } else {
                    OK(c->ops->irecv(c->tp, q, i, b[i], LEN, &rq[i]));
                }
                tp_wait_ok(c, &rq[i], 1);
                if (c->rank == 1)
                    tp_check(b[i], LEN, tp_seed(0, 1, 100 * round + i));
            }
        if (cache_stats(c).monitored) {
            tp_rcache_stats_t s = cache_stats(c);
            REQUIREF(s.evictions > 0 && s.bytes <= 2 * MiB, "%llu evictions, %zu bytes",
                     (unsigned long long)s.evictions, s.bytes);
        }
        for (int i = 0; i < N; i++)
            free(b[i]);
        return;
    }
    void *prev = NULL;
    int same = 0;
    for (int round = 0; round < 4; round++) {
        char *b =
            mmap(NULL, BIG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        REQUIRE(b != MAP_FAILED);
        same += b == prev;
        if (c->rank == 0) {
            tp_fill(b, BIG, tp_seed(0, 1, 900 + round));
            OK(c->ops->isend(c->tp, q, 50, NULL, b, BIG, &rq[0]));
        } else {
            OK(c->ops->irecv(c->tp, q, 50, b, BIG, &rq[0]));
        }
        tp_wait_ok(c, rq, 1);
        if (c->rank == 1)
            tp_check(b, BIG, tp_seed(0, 1, 900 + round));
        REQUIRE(munmap(b, BIG) == 0); /* the next round's mapping is new memory */
        prev = b;
    }
    /* Each reused address must have dropped its stale registration. */
    if (cache_stats(c).monitored)
        REQUIREF(cache_stats(c).invalidations >= (uint64_t)same,
                 "%llu invalidations, %d reuses",
                 (unsigned long long)cache_stats(c).invalidations, same);
}

/* ---- a peer killed mid-transfer -------------------------------------------- */

/* Rank 2 is killed while rank 0 RDMA-writes 64 MiB into it: rank 0's send
 * and its receive from rank 2 fail with PEER_FAILED naming rank 2 and the QP
 * (retry exceeded, or the remote access error of writing into memory the
 * dying rank lost before its QP: soft-RoCE does that in about half the runs)
 * within the QP's retry time, or the lost connection with rdma_cm; rank 0
 * and rank 1 go on. */
static void sc_killed(tp_ctx_t *c)
{
    enum { BIG = 64 << 20 };
    tp_req_t rq[2] = {{0}};
    char *b = tp_xmalloc(BIG);

    if (c->rank == 2) {
        OK(c->ops->irecv(c->tp, 0, 7, b, BIG, &rq[0]));
        tp_progress_for(c, 300); /* the CTS goes out, data starts landing */
        raise(SIGKILL);
    }
    if (c->rank == 0) {
        tp_fill(b, 4096, 1);
        OK(c->ops->isend(c->tp, 2, 7, NULL, b, BIG, &rq[0]));
        OK(c->ops->irecv(c->tp, 2, 8, b, 64, &rq[1]));
        rcomm_status_t st = tp_wait(c, &rq[0], 30000);
        REQUIREF(st == RCOMM_ERR_PEER_FAILED, "send: %s (%s)", rcomm_strerror(st),
                 rcomm_last_error());
        /* Retry exceeded on the QP, or with rdma_cm possibly the disconnect
         * first. */
        REQUIREF(strstr(rcomm_last_error(), "rank 2") &&
                     (strstr(rcomm_last_error(), "QP 0x") ||
                      strstr(rcomm_last_error(), "rank 2 closed its connection")),
                 "error: %s", rcomm_last_error());
        REQUIRE(tp_wait(c, &rq[1], 1000) == RCOMM_ERR_PEER_FAILED);
        tp_ping(c, 1, 9, 100000);
    } else {
        tp_ping(c, 0, 9, 100000);
    }
    free(b);
}

/* With rdma_cm a rank that dies is noticed by a peer that only waits to
 * receive from it (nothing of the peer's own would time out): rank 0's
 * receive from the SIGKILLed rank 1 fails with PEER_FAILED saying so, and
 * rank 0 and rank 2 go on. Without rdma_cm the collective layer's
 * RCOMM_TIMEOUT is what catches this case. */
static void sc_disconnected(tp_ctx_t *c)
{
    tp_req_t rq = {0}, go[2] = {{0}};
    char b[64];

    if (c->rank == 1) { /* dies once both others are connected and waiting */
        OK(c->ops->irecv(c->tp, 0, 7, NULL, 0, &go[0]));
        OK(c->ops->irecv(c->tp, 2, 7, NULL, 0, &go[1]));
        tp_wait_ok(c, go, 2);
        raise(SIGKILL);
    }
    if (c->rank == 0)
        OK(c->ops->irecv(c->tp, 1, 6, b, sizeof(b), &rq));
    OK(c->ops->isend(c->tp, 1, 7, NULL, NULL, 0, &go[0]));
    if (c->rank == 0) {
        REQUIRE(tp_wait(c, &rq, 60000) == RCOMM_ERR_PEER_FAILED);
        REQUIREF(strstr(rcomm_last_error(), "rank 1 closed its connection"), "error: %s",
                 rcomm_last_error());
        tp_ping(c, 2, 9, 100000);
    } else {
        tp_ping(c, 0, 9, 100000);
    }
}

/* ---- put_notify waits for credits ------------------------------------------ */

/* A put_notify (WRITE WITH IMMEDIATE) consumes a receive at the target, so
 * it needs a credit like a message. Rank 0 sleeps (reposts and announces
 * nothing) while rank 1 posts a burst of zero-byte put_notify, nearly ten
 * times its receive depth: those beyond its credits must wait in the outbox,
 * never reach the wire, where soft-RoCE's endless RNR retries would hide the
 * overrun. Then rank 0 wakes and every notification arrives, in order. */
enum { NC_BURST = 300 };

static void nc_landed(tp_ctx_t *c, int peer, uint32_t imm)
{
    int *got = c->note_arg;

    REQUIREF(peer == 1 && imm == (uint32_t)*got, "notification %d is rank %d's imm %u",
             *got, peer, imm);
    ++*got;
}

static void sc_notify_credits(tp_ctx_t *c)
{
    unsigned char mem[64] = {0};
    tp_req_t *rq = tp_xmalloc(NC_BURST * sizeof(*rq));
    tp_rkey_t rk;
    tp_mr_t *mr;
    int got = 0;

    memset(rq, 0, NC_BURST * sizeof(*rq));
    if (c->rank == 0) {
        c->note_arg = &got;
        c->on_note = nc_landed;
        OK(c->ops->mem_reg(c->tp, mem, sizeof(mem), TP_REMOTE_WRITE, &mr));
        OK(c->ops->mem_rkey(mr, &rk));
        OK(c->ops->isend(c->tp, 1, 1, NULL, &rk, sizeof(rk), &rq[0]));
        tp_wait_ok(c, rq, 1);
        usleep((useconds_t)(1000000 * tp_slow()));
        tp_barrier(c, 2);
        REQUIREF(got == NC_BURST, "%d notifications, want %d", got, NC_BURST);
        OK(c->ops->mem_dereg(c->tp, mr));
        c->on_note = NULL;
    } else {
        vx_tp_t *tp = vx_tp(c->tp);
        vx_peer_t *p = &tp->peers[0];
        uint64_t end;

        OK(c->ops->irecv(c->tp, 0, 1, &rk, sizeof(rk), &rq[0]));
        tp_wait_ok(c, rq, 1);
        REQUIRE(NC_BURST > 4 * tp->rx_depth);
        for (int i = 0; i < NC_BURST; i++)
            OK(c->ops->put_notify(c->tp, 0, mem, 0, &rk, rk.addr, (uint32_t)i, &rq[i]));
        end = base_now_ns() + (uint64_t)(200 * tp_slow()) * 1000000u;
        do {
            OK(c->ops->progress(c->tp, 1));
            REQUIREF(p->tx_used < tp->credit[0],
                     "%llu receive-consuming operations posted with %llu credits",
                     (unsigned long long)p->tx_used, (unsigned long long)tp->credit[0]);
        } while (base_now_ns() < end);
        tp_wait_ok(c, rq, NC_BURST);
        tp_barrier(c, 2);
    }
    free(rq);
}

START_TEST(test_forged)
{
    run(2, sc_forged, _i, 0);
}
END_TEST

START_TEST(test_notify_credits)
{
    run(2, sc_notify_credits, 0, 0);
}
END_TEST

START_TEST(test_zero_copy)
{
    run(2, sc_zero_copy, _i, 0);
}
END_TEST

START_TEST(test_fork)
{
    if (_i == 1)
        setenv("RCOMM_IB_FORK_SAFE", "1", 1);
    run(2, sc_fork, _i, 0);
    unsetenv("RCOMM_IB_FORK_SAFE");
}
END_TEST

START_TEST(test_rcache)
{
    setenv("RCOMM_IB_REG_CACHE", _i == 0 ? "2M" : "64M", 1);
    run(2, sc_rcache, _i, 0);
    unsetenv("RCOMM_IB_REG_CACHE");
}
END_TEST

START_TEST(test_killed)
{
    setenv("RCOMM_IB_TIMEOUT", "14", 1); /* 67 ms x 7 retries */
    run(3, sc_killed, 0, 3);
    unsetenv("RCOMM_IB_TIMEOUT");
}
END_TEST

START_TEST(test_cm_disconnected)
{
    setenv("RCOMM_IB_USE_RDMA_CM", "1", 1);
    run(3, sc_disconnected, 0, 2);
    unsetenv("RCOMM_IB_USE_RDMA_CM");
}
END_TEST

#define JOB_KEY "verbs-test-job-key-0123456789abcdef"

/* With rdma_cm, a process holding rank 0's published address (challenge
 * included) but not the job key dials rank 0 as rank 1, before the real
 * rank 1 does: its request is rejected, it learns nothing, and rank 0
 * goes on waiting for the real rank 1, with which it then moves data.
 * Variant 1: the stranger has no key (the public stand-in). */
static void sc_stranger(tp_ctx_t *c)
{
    if (c->rank == 1) {
        pid_t pid = fork();
        int status;

        REQUIRE(pid >= 0);
        if (pid == 0) {
            auth_key_t other;
            unsigned char blob[TP_BLOB_MAX];
            size_t len = sizeof(blob);
            const void *addrs[2] = {c->addrs[0], blob};
            size_t lens[2] = {c->lens[0], 0};
            tp_t *tp;
            rcomm_status_t st;

            if (c->variant == 0)
                REQUIRE(auth_key_from_text(&other, JOB_KEY "!", strlen(JOB_KEY) + 1,
                                           "test") == RCOMM_OK);
            else
                auth_key_none(&other);
            tp_params_t p = {.rank = 1,
                             .size = 2,
                             .cfg = &c->cfg,
                             .timeout_ms = (int)(10000 * tp_slow()),
                             .host = "",
                             .key = &other};
            OK(c->ops->create(&p, &tp));
            OK(c->ops->local_addr(tp, blob, &len));
            lens[1] = len;
            st = c->ops->connect(tp, addrs, lens);
            REQUIREF(st != RCOMM_OK, "the stranger connected");
            REQUIREF(strstr(rcomm_last_error(), "REJECTED"), "stranger: %s: %s",
                     rcomm_strerror(st), rcomm_last_error());
            c->ops->destroy(tp, st, NULL);
            _exit(0);
        }
        REQUIRE(waitpid(pid, &status, 0) == pid);
        REQUIREF(WIFEXITED(status) && WEXITSTATUS(status) == 0, "stranger: status %d",
                 status);
    }
    OK(c->ops->connect(c->tp, c->addrs, c->lens));
    tp_ping(c, 1 - c->rank, 5, 1 << 20);
}

START_TEST(test_cm_stranger)
{
    auth_key_t key;
    tp_group_t g = {.transport = "verbs",
                    .size = 2,
                    .fn = sc_stranger,
                    .variant = _i,
                    .absent = -1,
                    .timeout_ms = 30000,
                    .key = &key};

    ck_assert_int_eq(auth_key_from_text(&key, JOB_KEY, strlen(JOB_KEY), "test"),
                     RCOMM_OK);
    setenv("RCOMM_IB_USE_RDMA_CM", "1", 1);
    tp_run_group(&g);
    unsetenv("RCOMM_IB_USE_RDMA_CM");
}
END_TEST

/* Ranks that disagree about RCOMM_IB_USE_RDMA_CM refuse each other's
 * address with CONFIG, naming the setting and the rank (two instances in
 * this process: rank 0 without rdma_cm, rank 1 with it). */
START_TEST(test_cm_mismatch)
{
    base_config_t plain, cm;
    tp_t *tp[2];
    unsigned char blob[2][TP_BLOB_MAX];
    const void *addrs[2] = {blob[0], blob[1]};
    size_t lens[2] = {sizeof(blob[0]), sizeof(blob[1])};

    ck_assert_int_eq(base_config_load(&plain), RCOMM_OK);
    plain.ib_use_rdma_cm = 0; /* whatever the environment says */
    cm = plain;
    cm.ib_use_rdma_cm = 1;
    for (int r = 0; r < 2; r++) {
        tp_params_t p = {.rank = r,
                         .size = 2,
                         .cfg = r ? &cm : &plain,
                         .timeout_ms = 5000,
                         .host = ""};
        ck_assert_int_eq(tp_verbs_ops.create(&p, &tp[r]), RCOMM_OK);
        ck_assert_int_eq(tp_verbs_ops.local_addr(tp[r], blob[r], &lens[r]), RCOMM_OK);
    }
    ck_assert_int_eq(tp_verbs_ops.connect(tp[0], addrs, lens), RCOMM_ERR_CONFIG);
    ck_assert_msg(strstr(rcomm_last_error(), "rank 1 has RCOMM_IB_USE_RDMA_CM=1"), "%s",
                  rcomm_last_error());
    for (int r = 0; r < 2; r++)
        tp_verbs_ops.destroy(tp[r], RCOMM_OK, NULL);
}
END_TEST

/* Why verbs cannot run here, or NULL. */
static const char *no_device(void)
{
    static char why[160];
    int n = 0;
    struct ibv_device **l = ibv_get_device_list(&n);

    if (l)
        ibv_free_device_list(l);
    if (n > 0)
        return NULL;
    snprintf(why, sizeof(why),
             "no RDMA device (ibv_get_device_list found none); run `make check-rxe` to "
             "test verbs inside the soft-RoCE VM");
    return why;
}

int main(void)
{
    const char *why = no_device();
    Suite *s;
    TCase *tc;

    if (why) {
        printf("unit_verbs: SKIP: %s\n", why);
        return 77;
    }
    tp_transport = "verbs";
    s = suite_create("verbs");
    tp_add_twosided_tests(s);
    tp_add_onesided_tests(s);
    tc = tcase_create("verbs");
    tcase_set_timeout(tc, 300);
    tcase_add_loop_test(tc, test_forged, 0, 2);
    tcase_add_loop_test(tc, test_zero_copy, 0, 2);
    tcase_add_test(tc, test_notify_credits);
    tcase_add_loop_test(tc, test_rcache, 0, 2);
    tcase_add_loop_test(tc, test_fork, 0, 2);
    tcase_add_test(tc, test_killed);
    tcase_add_test(tc, test_cm_disconnected);
    tcase_add_test(tc, test_cm_mismatch);
    tcase_add_loop_test(tc, test_cm_stranger, 0, 2);
    suite_add_tcase(s, tc);
    return unit_run(s);
}
