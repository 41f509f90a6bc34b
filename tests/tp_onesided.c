/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * One-sided conformance of a transport (tp_transport): rank 0 exposes
 * regions with different rights; every other rank puts, gets and runs
 * atomics on them, then tries each kind of access violation. Rank 0 finally
 * checks its memory byte by byte: the allowed writes and nothing else.
 *
 * A key the target does not know (bogus or deregistered) is refused by the
 * TCP target and the connection goes on; on verbs the HCA refuses it and the
 * queue pair breaks, so unit_verbs tests that case on its own.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/error.h"
#include "tp_harness.h"

enum { R_CNT, R_RW, R_RO, R_WO, R_NOAT, NREG };

#define RW_LEN (3 * (1 << 20) + 5)
#define CHUNK(q) (500000 + (size_t)(q))
#define CHUNK_OFF(q) ((size_t)(q)*600000)
#define NFADD 100

static const size_t reg_len[NREG] = {64, RW_LEN, 4096, 4096, 64};
static const unsigned reg_acc[NREG] = {
    TP_REMOTE_ATOMIC | TP_REMOTE_READ | TP_REMOTE_WRITE,
    TP_REMOTE_READ | TP_REMOTE_WRITE,
    TP_REMOTE_READ,
    TP_REMOTE_WRITE,
    TP_REMOTE_READ | TP_REMOTE_WRITE,
};

/* Rank 0: expose, serve (inside the barriers' progress), then verify. */
static void target(tp_ctx_t *c)
{
    unsigned char *mem[NREG], *want[NREG];
    tp_mr_t *mr[NREG], *fresh;
    tp_rkey_t rk[NREG];
    tp_req_t rq[TP_MAXP] = {0};
    uint64_t total = 0, *cnt;

    for (int i = 0; i < NREG; i++) {
        mem[i] = tp_xmalloc(reg_len[i]);
        want[i] = tp_xmalloc(reg_len[i]);
        tp_fill(mem[i], reg_len[i], tp_seed(0, 0, 500 + i));
        if (i == R_CNT)
            memset(mem[i], 0, reg_len[i]);
        memcpy(want[i], mem[i], reg_len[i]);
        OK(c->ops->mem_reg(c->tp, mem[i], reg_len[i], reg_acc[i], &mr[i]));
        OK(c->ops->mem_rkey(mr[i], &rk[i]));
        REQUIRE(rk[i].addr == (uintptr_t)mem[i] && rk[i].len == reg_len[i]);
    }
    for (int q = 1; q < c->size; q++)
        OK(c->ops->isend(c->tp, q, 10, NULL, rk, sizeof(rk), &rq[q]));
    tp_wait_ok(c, rq + 1, c->size - 1);
    tp_barrier(c, 11); /* the others work on our memory */
    /* A new region reuses the slot of a deregistered one: the old key must
     * not reach it. */
    OK(c->ops->mem_dereg(c->tp, mr[R_NOAT]));
    OK(c->ops->mem_reg(c->tp, mem[R_NOAT], reg_len[R_NOAT], reg_acc[R_CNT], &fresh));
    tp_barrier(c, 12);
    tp_barrier(c, 13);

    cnt = (uint64_t *)want[R_CNT];
    for (int q = 1; q < c->size; q++) {
        total += (uint64_t)NFADD * q;
        cnt[q] = 1000u * q;
        tp_fill(want[R_RW] + CHUNK_OFF(q), CHUNK(q), tp_seed(q, 0, 600));
    }
    cnt[0] = total;
    for (int i = 0; i < NREG; i++) {
        for (size_t b = 0; b < reg_len[i]; b++)
            REQUIREF(mem[i][b] == want[i][b], "region %d byte %zu is 0x%02x, want 0x%02x",
                     i, b, mem[i][b], want[i][b]);
        if (i != R_NOAT)
            OK(c->ops->mem_dereg(c->tp, mr[i]));
        free(mem[i]);
        free(want[i]);
    }
    OK(c->ops->mem_dereg(c->tp, fresh));
}

static void expect_denied(tp_ctx_t *c, rcomm_status_t posted, tp_req_t *rq,
                          const char *needle)
{
    tp_expect_fail(c, posted, rq, RCOMM_ERR_ACCESS, needle);
    REQUIRE(strstr(rcomm_last_error(), "rank 0"));
}

static void violations(tp_ctx_t *c, const tp_rkey_t *rk)
{
    const tp_ops_t *o = c->ops;
    tp_rkey_t bogus = rk[R_RW];
    char *big = tp_xmalloc(200000), small[16];
    tp_req_t rq = {0};

    memset(small, 0x5a, sizeof(small));
    memset(big, 0x5a, 200000);
    bogus.key = 0xdead;
    expect_denied(c, o->put(c->tp, 0, small, 16, &rk[R_RO], rk[R_RO].addr, &rq), &rq,
                  "lacks the remote-write right");
    expect_denied(c, o->get(c->tp, 0, small, 16, &rk[R_WO], rk[R_WO].addr, &rq), &rq,
                  "lacks the remote-read right");
    expect_denied(c, o->fetch_add(c->tp, 0, &rk[R_NOAT], rk[R_NOAT].addr, 1, &rq), &rq,
                  "lacks the remote-atomic right");
    expect_denied(c, o->compare_swap(c->tp, 0, &rk[R_NOAT], rk[R_NOAT].addr, 0, 1, &rq),
                  &rq, "remote-atomic");
    expect_denied(c,
                  o->put(c->tp, 0, small, 16, &rk[R_RW], rk[R_RW].addr + RW_LEN - 8, &rq),
                  &rq, "outside the region");
    expect_denied(c, o->get(c->tp, 0, small, 16, &rk[R_RW], rk[R_RW].addr - 8, &rq), &rq,
                  "outside the region");
    expect_denied(c, o->fetch_add(c->tp, 0, &rk[R_CNT], rk[R_CNT].addr + 4, 1, &rq), &rq,
                  "not 8-byte aligned");
    expect_denied(c, o->fetch_add(c->tp, 0, &rk[R_CNT], rk[R_CNT].addr + 64, 1, &rq), &rq,
                  "outside the region");
    if (strcmp(o->name, "tcp") == 0)
        expect_denied(c, o->put(c->tp, 0, small, 16, &bogus, rk[R_RW].addr, &rq), &rq,
                      "no region with that key");
    /* A refused payload is drained: the stream still works after it. */
    expect_denied(c, o->put(c->tp, 0, big, 200000, &rk[R_RO], rk[R_RO].addr, &rq), &rq,
                  "outside the region");
    OK(o->get(c->tp, 0, small, 16, &rk[R_RO], rk[R_RO].addr + 100, &rq));
    tp_wait_ok(c, &rq, 1);
    for (int i = 0; i < 16; i++)
        REQUIRE((unsigned char)small[i] ==
                (unsigned char)(tp_seed(0, 0, 500 + R_RO) * 131u + (100u + i) * 7u));
    free(big);
}

/* A fenced get's callback: every request posted before it is complete. */
typedef struct {
    tp_req_t *before;
    int n, ok;
} fence_arg_t;

static void fenced_done(tp_req_t *req)
{
    fence_arg_t *a = req->arg;

    a->ok = 1;
    for (int i = 0; i < a->n; i++)
        if (a->before[i].status == RCOMM_INPROGRESS)
            a->ok = 0;
}

/* Rounds of gets of several sizes and a fetch_add, then a fenced get, then
 * one more get: every fenced get waits for what came before it, none
 * stalls (rxe once lost the wake-up of IBV_SEND_FENCE), all data exact. */
static void fenced_gets(tp_ctx_t *c, const tp_rkey_t *rk)
{
    enum { ROUNDS = 64, PLAIN = 4 };
    const tp_ops_t *o = c->ops;
    const int q = c->rank;
    const size_t len[PLAIN] = {1, 4096, CHUNK(q), 0};
    char *buf[PLAIN];
    tp_req_t rq[PLAIN + 3];
    uint64_t word, after;

    for (int i = 0; i < PLAIN; i++)
        buf[i] = tp_xmalloc(len[i] ? len[i] : 1);
    for (int r = 0; r < ROUNDS; r++) {
        fence_arg_t a = {rq, PLAIN + 1, -1};
        memset(rq, 0, sizeof(rq));
        for (int i = 0; i < PLAIN; i++) {
            const tp_rkey_t *k = i == 2 ? &rk[R_RW] : &rk[R_RO];
            OK(o->get(c->tp, 0, buf[i], len[i], k, k->addr + (i == 2 ? CHUNK_OFF(q) : 0),
                      &rq[i]));
        }
        OK(o->fetch_add(c->tp, 0, &rk[R_CNT], rk[R_CNT].addr + 8u * q, 0, &rq[PLAIN]));
        rq[PLAIN + 1].fence = 1;
        rq[PLAIN + 1].cb = fenced_done;
        rq[PLAIN + 1].arg = &a;
        OK(o->get(c->tp, 0, &word, 8, &rk[R_CNT], rk[R_CNT].addr + 8u * q,
                  &rq[PLAIN + 1]));
        OK(o->get(c->tp, 0, &after, 8, &rk[R_CNT], rk[R_CNT].addr + 8u * q,
                  &rq[PLAIN + 2]));
        tp_wait_ok(c, rq, PLAIN + 3);
        REQUIREF(a.ok == 1, "round %d: the fenced get completed %s", r,
                 a.ok ? "before an earlier request" : "without its callback");
        REQUIRE(word == 1000u * q && after == word && rq[PLAIN].result == word);
        tp_check(buf[0], 1, tp_seed(0, 0, 500 + R_RO));
        tp_check(buf[1], 4096, tp_seed(0, 0, 500 + R_RO));
        tp_check(buf[2], CHUNK(q), tp_seed(q, 0, 600));
    }
    for (int i = 0; i < PLAIN; i++)
        free(buf[i]);
}

static void initiator(tp_ctx_t *c)
{
    const tp_ops_t *o = c->ops;
    int q = c->rank;
    tp_rkey_t rk[NREG];
    tp_req_t rq[NFADD] = {0};
    char *chunk = tp_xmalloc(CHUNK(q)), *back = tp_xmalloc(RW_LEN);
    uint64_t word;

    OK(o->irecv(c->tp, 0, 10, rk, sizeof(rk), &rq[0]));
    tp_wait_ok(c, rq, 1);
    REQUIRE(rq[0].len == sizeof(rk));

    /* put, get back, and get a read-only region whole */
    tp_fill(chunk, CHUNK(q), tp_seed(q, 0, 600));
    OK(o->put(c->tp, 0, chunk, CHUNK(q), &rk[R_RW], rk[R_RW].addr + CHUNK_OFF(q),
              &rq[0]));
    tp_wait_ok(c, rq, 1);
    OK(o->get(c->tp, 0, back, CHUNK(q), &rk[R_RW], rk[R_RW].addr + CHUNK_OFF(q), &rq[0]));
    OK(o->get(c->tp, 0, back + CHUNK(q), 4096, &rk[R_RO], rk[R_RO].addr, &rq[1]));
    tp_wait_ok(c, rq, 2);
    REQUIRE(rq[0].len == CHUNK(q) && rq[1].len == 4096);
    tp_check(back, CHUNK(q), tp_seed(q, 0, 600));
    tp_check(back + CHUNK(q), 4096, tp_seed(0, 0, 500 + R_RO));

    /* many concurrent fetch_adds: this rank's old values only grow */
    for (int i = 0; i < NFADD; i++)
        OK(o->fetch_add(c->tp, 0, &rk[R_CNT], rk[R_CNT].addr, (uint64_t)q, &rq[i]));
    tp_wait_ok(c, rq, NFADD);
    for (int i = 1; i < NFADD; i++)
        REQUIRE(rq[i].result >= rq[i - 1].result + (uint64_t)q);

    /* compare_swap: success, then failure returning the current value */
    OK(o->compare_swap(c->tp, 0, &rk[R_CNT], rk[R_CNT].addr + 8u * q, 0, 1000u * q,
                       &rq[0]));
    tp_wait_ok(c, rq, 1);
    REQUIRE(rq[0].result == 0);
    OK(o->compare_swap(c->tp, 0, &rk[R_CNT], rk[R_CNT].addr + 8u * q, 0, 5, &rq[0]));
    tp_wait_ok(c, rq, 1);
    REQUIRE(rq[0].result == 1000u * q);
    OK(o->get(c->tp, 0, &word, 8, &rk[R_CNT], rk[R_CNT].addr + 8u * q, &rq[0]));
    tp_wait_ok(c, rq, 1);
    REQUIRE(word == 1000u * q);
    fenced_gets(c, rk);

    violations(c, rk);
    tp_barrier(c, 11);
    tp_barrier(c, 12); /* rank 0 deregistered R_NOAT */
    if (strcmp(o->name, "tcp") == 0)
        expect_denied(c, o->get(c->tp, 0, &word, 8, &rk[R_NOAT], rk[R_NOAT].addr, &rq[0]),
                      &rq[0], "no region with that key");
    tp_barrier(c, 13);
    free(chunk);
    free(back);
}

static void sc_onesided(tp_ctx_t *c)
{
    if (c->rank == 0)
        target(c);
    else
        initiator(c);
}

/* Deregistering a region whose GET replies are still queued (the initiator
 * is not reading) copies them out: the initiator still gets the data as it
 * was, and the target may free the memory at once. */
static void sc_dereg_queued(tp_ctx_t *c)
{
    enum { N = 8 }; /* 24 MiB of replies: more than the sockets hold */
    tp_req_t rq[N + 1] = {0};
    tp_rkey_t rk;
    tp_mr_t *mr;
    char *buf[N];
    uint64_t copied;

    if (c->rank == 0) {
        buf[0] = tp_xmalloc(RW_LEN);
        tp_fill(buf[0], RW_LEN, tp_seed(0, 0, 700));
        OK(c->ops->mem_reg(c->tp, buf[0], RW_LEN, TP_REMOTE_READ, &mr));
        OK(c->ops->mem_rkey(mr, &rk));
        OK(c->ops->isend(c->tp, 1, 10, NULL, &rk, sizeof(rk), &rq[0]));
        OK(c->ops->irecv(c->tp, 1, 20, NULL, 0, &rq[1]));
        tp_wait_ok(c, rq, 2); /* all the GET requests were read before it */
        copied = c->tp->stats.bytes_copied;
        OK(c->ops->mem_dereg(c->tp, mr));
        REQUIRE(c->tp->stats.bytes_copied > copied);
        memset(buf[0], 0xee, RW_LEN);
        free(buf[0]);
    } else {
        OK(c->ops->irecv(c->tp, 0, 10, &rk, sizeof(rk), &rq[0]));
        tp_wait_ok(c, rq, 1);
        for (int i = 0; i < N; i++) {
            buf[i] = tp_xmalloc(RW_LEN);
            OK(c->ops->get(c->tp, 0, buf[i], RW_LEN, &rk, rk.addr, &rq[i]));
        }
        OK(c->ops->isend(c->tp, 0, 20, NULL, NULL, 0, &rq[N]));
        OK(c->ops->progress(c->tp, 0)); /* sends the requests */
        usleep((useconds_t)(300000 * tp_slow()));
        tp_wait_ok(c, rq, N + 1);
        for (int i = 0; i < N; i++) {
            tp_check(buf[i], RW_LEN, tp_seed(0, 0, 700));
            free(buf[i]);
        }
    }
    tp_barrier(c, 21);
}

/* Rounds of small puts, then (odd rounds) a fetch_add, then a message on
 * the same connection: when the message arrives every put has landed (RC
 * orders a SEND after the WRITEs before it; TCP streams them in order).
 * The counts straddle the default send queue (RCOMM_IB_SQ_DEPTH, 128): the
 * atomic or the message behind exactly 128 puts once overwrote the oldest
 * put's entry in the send ring, which then never completed. The target
 * answers once it has checked, before the next round's puts. */
static void sc_puts_then_message(tp_ctx_t *c)
{
    enum { STRIDE = 64, MAXPUT = 700, CNT = MAXPUT * STRIDE, LEN = CNT + 8 };
    static const int nput[] = {128, 128, 127, 127, 129, 129, 256, 700, 1, 255, 257};
    const int rounds = (int)(sizeof(nput) / sizeof(nput[0]));
    char *mem = tp_xmalloc(LEN);
    tp_req_t *rq = tp_xmalloc((MAXPUT + 3) * sizeof(*rq));
    uint64_t note, adds = 0;
    tp_rkey_t rk;
    tp_mr_t *mr;

    memset(rq, 0, (MAXPUT + 3) * sizeof(*rq));
    if (c->rank == 0) {
        memset(mem, 0, LEN);
        OK(c->ops->mem_reg(c->tp, mem, LEN, TP_REMOTE_WRITE | TP_REMOTE_ATOMIC, &mr));
        OK(c->ops->mem_rkey(mr, &rk));
        OK(c->ops->isend(c->tp, 1, 10, NULL, &rk, sizeof(rk), &rq[0]));
        tp_wait_ok(c, rq, 1);
        for (int r = 0; r < rounds; r++) {
            OK(c->ops->irecv(c->tp, 1, 30 + (uint64_t)r, &note, sizeof(note), &rq[0]));
            tp_wait_ok(c, rq, 1);
            REQUIRE(note == (uint64_t)r);
            for (int i = 0; i < nput[r]; i++)
                tp_check(mem + i * STRIDE, 1 + (size_t)(i + r) % STRIDE,
                         tp_seed(1, 0, (uint64_t)(r * MAXPUT + i)));
            adds += r % 2;
            REQUIREF(memcmp(mem + CNT, &adds, 8) == 0,
                     "round %d: the counter is not %llu", r, (unsigned long long)adds);
            /* Checked: the next round may overwrite. */
            OK(c->ops->isend(c->tp, 1, 50 + (uint64_t)r, NULL, NULL, 0, &rq[0]));
            tp_wait_ok(c, rq, 1);
        }
        tp_barrier(c, 31);
        OK(c->ops->mem_dereg(c->tp, mr));
    } else {
        OK(c->ops->irecv(c->tp, 0, 10, &rk, sizeof(rk), &rq[0]));
        tp_wait_ok(c, rq, 1);
        for (int r = 0; r < rounds; r++) {
            int n = nput[r];
            for (int i = 0; i < n; i++) {
                size_t len = 1 + (size_t)(i + r) % STRIDE;
                tp_fill(mem + i * STRIDE, len, tp_seed(1, 0, (uint64_t)(r * MAXPUT + i)));
                OK(c->ops->put(c->tp, 0, mem + i * STRIDE, len, &rk,
                               rk.addr + (uint64_t)i * STRIDE, &rq[i]));
            }
            if (r % 2)
                OK(c->ops->fetch_add(c->tp, 0, &rk, rk.addr + CNT, 1, &rq[n++]));
            note = (uint64_t)r;
            OK(c->ops->isend(c->tp, 0, 30 + (uint64_t)r, NULL, &note, sizeof(note),
                             &rq[n++]));
            OK(c->ops->irecv(c->tp, 0, 50 + (uint64_t)r, NULL, 0, &rq[n++]));
            tp_wait_ok(c, rq, n);
        }
        tp_barrier(c, 31);
    }
    free(rq);
    free(mem);
}

START_TEST(test_puts_then_message)
{
    tp_group_t g = {
        .transport = tp_transport, .size = 2, .fn = sc_puts_then_message, .absent = -1};
    tp_run_group(&g);
}
END_TEST

START_TEST(test_dereg_queued)
{
    tp_group_t g = {.transport = "tcp", .size = 2, .fn = sc_dereg_queued, .absent = -1};
    tp_run_group(&g);
}
END_TEST

START_TEST(test_onesided)
{
    static const int np[] = {2, 3, 5};
    tp_group_t g = {
        .transport = tp_transport, .size = np[_i], .fn = sc_onesided, .absent = -1};
    tp_run_group(&g);
}
END_TEST

void tp_add_onesided_tests(Suite *s)
{
    TCase *tc = tcase_create("one-sided");
    tcase_set_timeout(tc, 120);
    tcase_add_loop_test(tc, test_onesided, 0, 3);
    tcase_add_test(tc, test_puts_then_message);
    /* TCP's emulation detail: replies queued from a region being dropped. */
    if (strcmp(tp_transport, "tcp") == 0)
        tcase_add_test(tc, test_dereg_queued);
    suite_add_tcase(s, tc);
}
