/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Shared-memory transport tests: the conformance cases every transport runs
 * (tp_twosided.c, tp_onesided.c), with cross-memory attach (large messages
 * and one-sided data copied once, by the kernel) or, given the argument
 * "nocma", with RCOMM_SHM_CMA=0, the fallback that copies everything through
 * the rings. Then shm's own cases: a rank killed mid-transfer (noticed, and
 * nothing left in /dev/shm), a rank killed before connect (its name is swept
 * by the next create), a peer published from another host, and a peer that
 * scribbles on its ring; and the composed transport (transports/multi.c)
 * of TCP and shared memory, every operation between ranks of both kinds.
 */
#include <check.h>
#include <dirent.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "suite_run.h"
#include "tp_harness.h"
#include "transports/shm/shm.h"
#include "transports/util/heap.h"

static void run(int size, void (*fn)(tp_ctx_t *), int killed, int timeout_ms)
{
    tp_group_t g = {.transport = "shm",
                    .size = size,
                    .fn = fn,
                    .absent = -1,
                    .killed = killed,
                    .timeout_ms = timeout_ms};
    tp_run_group(&g);
}

/* The segment names in /dev/shm of the rank that published blob. */
static int names_of(const void *blob)
{
    const shm_addr_t *a = blob;
    char prefix[96];
    struct dirent *e;
    DIR *d = opendir("/dev/shm");
    int n = 0;

    REQUIRE(d);
    snprintf(prefix, sizeof(prefix), "rcomm-%u-%" PRIu64 "-%u-", a->host.uid,
             a->host.pidns, a->pid);
    while ((e = readdir(d)))
        n += strncmp(e->d_name, prefix, strlen(prefix)) == 0;
    closedir(d);
    return n;
}

/* Rank 2 is killed while it copies a 64 MiB message out of rank 0: rank 0's
 * send and its receive from rank 2 fail with PEER_FAILED naming rank 2, ranks
 * 0 and 1 go on, and no rank has a name left in /dev/shm. */
static void sc_killed(tp_ctx_t *c)
{
    enum { BIG = 64 << 20 };
    tp_req_t rq[2] = {{0}};
    char *b = tp_xmalloc(BIG);
    rcomm_status_t st;

    if (c->rank == 2) {
        OK(c->ops->irecv(c->tp, 0, 7, b, BIG, &rq[0]));
        tp_progress_for(c, 50);
        raise(SIGKILL);
    }
    if (c->rank == 0) {
        tp_fill(b, 4096, 1);
        OK(c->ops->isend(c->tp, 2, 7, NULL, b, BIG, &rq[0]));
        OK(c->ops->irecv(c->tp, 2, 8, b, 64, &rq[1]));
        st = tp_wait(c, &rq[0], 30000);
        /* It may have finished copying before it died. */
        REQUIREF(st == RCOMM_ERR_PEER_FAILED || st == RCOMM_OK, "send: %s (%s)",
                 rcomm_strerror(st), rcomm_last_error());
        st = tp_wait(c, &rq[1], 30000);
        REQUIREF(st == RCOMM_ERR_PEER_FAILED && strstr(rcomm_last_error(), "rank 2"),
                 "receive: %s (%s)", rcomm_strerror(st), rcomm_last_error());
        tp_ping(c, 1, 9, 100000);
    } else {
        tp_ping(c, 0, 9, 100000);
    }
    /* Every rank has connected (rank 2 before it died): no names left. */
    for (int r = 0; r < c->size; r++)
        REQUIREF(names_of(c->addrs[r]) == 0, "rank %d's segment is still named", r);
    free(b);
}

/* Rank 1 is killed after create, before connect: its name stays in
 * /dev/shm; rank 0's connect fails naming it, and the next create removes
 * the name. */
static void sc_killed_early(tp_ctx_t *c)
{
    tp_params_t params = {.rank = 0, .size = 1, .cfg = &c->cfg, .timeout_ms = 1000};
    rcomm_status_t st;
    tp_t *other;

    if (c->rank == 1)
        raise(SIGKILL);
    st = c->ops->connect(c->tp, c->addrs, c->lens);
    REQUIREF(st == RCOMM_ERR_PEER_FAILED && strstr(rcomm_last_error(), "rank 1"),
             "connect: %s (%s)", rcomm_strerror(st), rcomm_last_error());
    REQUIRE(names_of(c->addrs[1]) == 1);
    OK(c->ops->create(&params, &other));
    REQUIRE(names_of(c->addrs[1]) == 0);
    c->ops->destroy(other, RCOMM_OK, NULL);
}

/* A peer whose address says it runs in another network namespace is
 * refused by connect, named. */
static void sc_other_host(tp_ctx_t *c)
{
    shm_addr_t forged;
    rcomm_status_t st;

    if (c->rank == 1) {
        st = c->ops->connect(c->tp, c->addrs, c->lens);
        REQUIRE(st == RCOMM_ERR_TIMEOUT || st == RCOMM_ERR_PEER_FAILED);
        return;
    }
    memcpy(&forged, c->addrs[1], sizeof(forged));
    forged.host.netns ^= 1;
    c->addrs[1] = &forged;
    st = c->ops->connect(c->tp, c->addrs, c->lens);
    REQUIREF(st == RCOMM_ERR_CONFIG &&
                 strstr(rcomm_last_error(), "rank 1 is not on this host"),
             "connect: %s (%s)", rcomm_strerror(st), rcomm_last_error());
}

/* Rank 1 writes a record of no known type into its ring: rank 0 fails it
 * with PROTOCOL and believes nothing of it. */
static void sc_scribble(tp_ctx_t *c)
{
    tp_req_t rq = {0};
    rcomm_status_t st;

    if (c->rank == 1) {
        shm_tp_t *tp = (shm_tp_t *)c->tp;
        shm_hdr_t *h = shm_ring_reserve(tp, &tp->peers[0], 16);
        REQUIRE(h);
        h->type = 200;
        shm_ring_commit(tp, &tp->peers[0], h);
        OK(c->ops->irecv(c->tp, 0, 5, NULL, 0, &rq));
        REQUIRE(tp_wait(c, &rq, 20000) == RCOMM_ERR_PROTOCOL);
        return;
    }
    OK(c->ops->irecv(c->tp, 1, 5, NULL, 0, &rq));
    st = tp_wait(c, &rq, 20000);
    REQUIREF(st == RCOMM_ERR_PROTOCOL && strstr(rcomm_last_error(), "malformed record"),
             "receive: %s (%s)", rcomm_strerror(st), rcomm_last_error());
    c->reason = RCOMM_ERR_PROTOCOL; /* so that rank 1's receive fails with it */
}

/* ---- the composed transport: shm for a "host"'s ranks, TCP across ---- */

/* Ranks {0, 1} and {2, 3} share memory; the other pairs go over TCP. */
static int same_host(int rank, int q)
{
    return rank / 2 == q / 2;
}

static void count_note(tp_ctx_t *c, int peer, uint32_t imm)
{
    REQUIREF(imm == (uint32_t)peer * 10, "notification %u from rank %d", imm, peer);
}

/* Every pair exchanges messages of every protocol (eager and rendezvous of
 * both instances); every rank puts, gets, adds and notifies into rank 0's
 * region with the one rkey rank 0 sent to all (its shm peer uses key2);
 * then the counters are both instances', and every peer moved bytes. The
 * region is tp_heap_alloc's memory: rank 1 (shm) maps it
 * and adds with its own CPU while TCP's adds are applied by rank 0's
 * progress, all on one word, and none may be lost. */
/* rkey_ptr goes to the peer's instance: rank 1's is shm, which maps rank
 * 0's heap where descriptors can be taken (then the pointer shows what rank
 * 1 put there) and else says why not; TCP's maps nothing. */
static void check_rkey_ptr(tp_ctx_t *c, const tp_rkey_t *rk, uint64_t at)
{
    rcomm_status_t st;
    void *p = NULL;

    st = c->ops->rkey_ptr(c->tp, 0, rk, at, 64, TP_REMOTE_READ, &p);
    if (c->rank != 1)
        REQUIRE(st == RCOMM_ERR_UNSUPPORTED && strstr(rcomm_last_error(), "tcp maps no"));
    else if (st == RCOMM_OK)
        tp_check(p, 64, tp_seed(c->rank, 0, 8));
    else
        REQUIRE(st == RCOMM_ERR_UNSUPPORTED &&
                strstr(rcomm_last_error(), "cannot be mapped from here"));
}

static void sc_multi(tp_ctx_t *c)
{
    enum { CHUNK = 300000, LEN = 4 * CHUNK + 64, NADD = 100 };
    static const size_t sizes[] = {0, 100, 20000, 100000, 3 << 20};
    tp_req_t rq[NADD + 2] = {{0}};
    unsigned char *mem = NULL, *mine = tp_xmalloc(CHUNK);
    tp_rkey_t rk;
    tp_mr_t *mr = NULL;
    uint64_t *cnt;

    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++)
        for (int q = 0; q < c->size; q++)
            if (q != c->rank)
                tp_ping(c, q, 100 + i, sizes[i]);
    if (c->rank == 0) {
        OK(tp_heap_alloc(LEN, (void **)&mem));
        c->on_note = count_note;
        OK(c->ops->mem_reg(c->tp, mem, LEN,
                           TP_REMOTE_READ | TP_REMOTE_WRITE | TP_REMOTE_ATOMIC, &mr));
        OK(c->ops->mem_rkey(mr, &rk));
        REQUIRE(rk.key != 0 && rk.key2 != 0);
        for (int q = 1; q < c->size; q++)
            OK(c->ops->isend(c->tp, q, 7, NULL, &rk, sizeof(rk), &rq[q]));
        tp_wait_ok(c, rq + 1, c->size - 1);
    } else {
        uint64_t at;
        OK(c->ops->irecv(c->tp, 0, 7, &rk, sizeof(rk), &rq[0]));
        tp_wait_ok(c, rq, 1);
        at = rk.addr + 64 + (uint64_t)(c->rank - 1) * CHUNK;
        tp_fill(mine, CHUNK, tp_seed(c->rank, 0, 8));
        OK(c->ops->put(c->tp, 0, mine, CHUNK, &rk, at, &rq[0]));
        OK(c->ops->put_notify(c->tp, 0, mine, 8, &rk, at, (uint32_t)c->rank * 10,
                              &rq[1]));
        for (int i = 0; i < NADD; i++)
            OK(c->ops->fetch_add(c->tp, 0, &rk, rk.addr, (uint64_t)c->rank, &rq[2 + i]));
        tp_wait_ok(c, rq, NADD + 2);
        memset(mine, 0, CHUNK);
        OK(c->ops->get(c->tp, 0, mine, CHUNK, &rk, at, &rq[0]));
        tp_wait_ok(c, rq, 1);
        tp_check(mine, CHUNK, tp_seed(c->rank, 0, 8));
        check_rkey_ptr(c, &rk, at);
    }
    tp_barrier(c, 9);
    if (c->rank == 0) {
        cnt = (uint64_t *)mem;
        REQUIREF(*cnt == NADD * (1 + 2 + 3), "counter %llu", (unsigned long long)*cnt);
        REQUIREF(c->nnote == c->size - 1, "%d notifications", c->nnote);
        for (int q = 1; q < c->size; q++)
            tp_check(mem + 64 + (size_t)(q - 1) * CHUNK, CHUNK, tp_seed(q, 0, 8));
        OK(c->ops->mem_dereg(c->tp, mr));
    }
    for (int q = 0; q < c->size; q++)
        REQUIREF(q == c->rank || c->tp->moved[q] > 0, "nothing moved with rank %d", q);
    REQUIRE(c->tp->stats.messages_sent > 0 && c->tp->stats.bytes_received > (3u << 20));
    tp_barrier(c, 10);
    tp_heap_free(mem);
    free(mine);
}

static int one_host(int rank, int q)
{
    (void)rank;
    (void)q;
    return 1;
}

/* Every peer on this host: the network's instance serves nobody, so it
 * holds no part of a region (it would pin memory for nothing, as verbs
 * does), and the region's key says so; shared memory still serves it. */
static void sc_multi_idle(tp_ctx_t *c)
{
    enum { LEN = 1 << 16 };
    unsigned char *mem = NULL, *mine = tp_xmalloc(LEN);
    tp_req_t rq[1] = {{0}};
    tp_rkey_t rk;
    tp_mr_t *mr = NULL;
    void *p = NULL;

    if (c->rank == 0) {
        OK(tp_heap_alloc(LEN * (size_t)c->size, (void **)&mem));
        OK(c->ops->mem_reg(c->tp, mem, LEN * (size_t)c->size,
                           TP_REMOTE_READ | TP_REMOTE_WRITE, &mr));
        OK(c->ops->mem_rkey(mr, &rk));
        REQUIREF(rk.key == 0 && rk.key2 != 0 && rk.addr == (uintptr_t)mem,
                 "key %llu, key2 %llu", (unsigned long long)rk.key,
                 (unsigned long long)rk.key2);
        for (int q = 1; q < c->size; q++) {
            OK(c->ops->isend(c->tp, q, 7, NULL, &rk, sizeof(rk), &rq[0]));
            tp_wait_ok(c, rq, 1);
        }
    } else {
        const uint64_t at = (uint64_t)c->rank * LEN;
        OK(c->ops->irecv(c->tp, 0, 7, &rk, sizeof(rk), &rq[0]));
        tp_wait_ok(c, rq, 1);
        tp_fill(mine, LEN, tp_seed(c->rank, 0, 9));
        OK(c->ops->put(c->tp, 0, mine, LEN, &rk, rk.addr + at, &rq[0]));
        tp_wait_ok(c, rq, 1);
        if (c->ops->rkey_ptr(c->tp, 0, &rk, rk.addr + at, LEN, TP_REMOTE_READ, &p) ==
            RCOMM_OK) {
            tp_check(p, LEN, tp_seed(c->rank, 0, 9));
            c->ops->rkey_ptr_release(c->tp, 0, p);
        }
    }
    tp_barrier(c, 9);
    if (c->rank == 0) {
        for (int q = 1; q < c->size; q++)
            tp_check(mem + (size_t)q * LEN, LEN, tp_seed(q, 0, 9));
        OK(c->ops->mem_dereg(c->tp, mr));
    }
    tp_barrier(c, 10);
    tp_heap_free(mem);
    free(mine);
}

START_TEST(test_multi_idle)
{
    tp_group_t g = {.transport = "tcp",
                    .size = 3,
                    .fn = sc_multi_idle,
                    .absent = -1,
                    .multi = one_host};
    tp_run_group(&g);
}
END_TEST

START_TEST(test_multi)
{
    tp_group_t g = {
        .transport = "tcp", .size = 4, .fn = sc_multi, .absent = -1, .multi = same_host};
    tp_run_group(&g);
}
END_TEST

START_TEST(test_killed)
{
    run(3, sc_killed, 3, 0);
}
END_TEST

START_TEST(test_killed_early)
{
    run(2, sc_killed_early, 2, 5000);
}
END_TEST

START_TEST(test_other_host)
{
    run(2, sc_other_host, 0, 1000);
}
END_TEST

START_TEST(test_scribble)
{
    run(2, sc_scribble, 0, 0);
}
END_TEST

int main(int argc, char **argv)
{
    Suite *s = suite_create("shm");
    TCase *tc = tcase_create("shm");

    /* "nocma" (tests/shm_nocma.sh): the fallback path. */
    if (argc > 1)
        setenv("RCOMM_SHM_CMA", "0", 1);
    tp_transport = "shm";
    tp_add_twosided_tests(s);
    tp_add_onesided_tests(s);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_multi);
    tcase_add_test(tc, test_multi_idle);
    tcase_add_test(tc, test_killed);
    tcase_add_test(tc, test_killed_early);
    tcase_add_test(tc, test_other_host);
    tcase_add_test(tc, test_scribble);
    suite_add_tcase(s, tc);
    return unit_run(s);
}
