/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * One-sided conformance of a transport (tp_transport): rank 0 exposes
 * regions with different rights; every other rank puts, gets and runs
 * atomics on them, then tries each kind of access violation. Rank 0 finally
 * checks its memory byte by byte: the allowed writes and nothing else.
 * put_notify has its own plan (sc_notify): rank 0 checks at each
 * notification that the bytes it announces, and those of every earlier put
 * of that peer, are in place.
 *
 * Variant 1 takes rank 0's regions from tp_heap_alloc (shm: memory its
 * peers map, so their operations are their own loads, stores and
 * atomics). sc_cpu_free shows that where caps.native_atomics says so: rank 0
 * never runs progress while the others lock, count and add in its memory.
 *
 * A key the target does not know (bogus or deregistered) is refused by the
 * TCP target and the connection goes on; on verbs the HCA refuses it and the
 * queue pair breaks, so unit_verbs tests that case on its own.
 */
#include <check.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "base/error.h"
#include "tp_harness.h"
#include "transports/util/heap.h"

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
        if (c->variant == 1)
            OK(tp_heap_alloc(reg_len[i], (void **)&mem[i]));
        else
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
        if (i == R_NOAT)
            OK(c->ops->mem_dereg(c->tp, fresh));
        if (c->variant == 1)
            tp_heap_free(mem[i]);
        else
            free(mem[i]);
        free(want[i]);
    }
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

static int shm_can_map(void);

/* rkey_ptr. Where the transport maps a peer's memory here (shm, on memory
 * from tp_heap_alloc, where descriptors can be taken), every rank but 0
 * writes a pattern, then a flag, into its slot of rank 0's region through
 * the pointer and waits there for rank 0's answer: no call of the transport
 * on either side. The refusals are a get's and a put's, memory not from
 * tp_heap_alloc is not mapped, and bad arguments are named. Elsewhere the
 * same call is UNSUPPORTED, with the pointer cleared. */
enum { PTR_SLOT = 128, PTR_ANSWER = PTR_SLOT - 8 };

static uint64_t ptr_answer(int q)
{
    return 1000 + (uint64_t)q;
}

static void ptr_target(tp_ctx_t *c, unsigned char *mem, bool maps)
{
    const uint64_t give_up = 60 * 1000 * (uint64_t)tp_slow(); /* ms */

    for (int q = 1; maps && q < c->size; q++) {
        unsigned char *slot = mem + (size_t)q * PTR_SLOT;
        uint64_t waited = 0;
        while (!__atomic_load_n((uint64_t *)slot, __ATOMIC_ACQUIRE)) {
            REQUIREF(waited++ < give_up, "rank %d wrote nothing in %llu ms", q,
                     (unsigned long long)give_up);
            usleep(1000);
        }
        for (int i = 8; i < PTR_ANSWER; i++)
            REQUIREF(slot[i] == (unsigned char)(q * 7 + i), "rank %d's byte %d is %u", q,
                     i, slot[i]);
        __atomic_store_n((uint64_t *)(slot + PTR_ANSWER), ptr_answer(q),
                         __ATOMIC_RELEASE);
    }
}

static void ptr_initiator(tp_ctx_t *c, const tp_rkey_t *rk, bool maps)
{
    const uint64_t give_up = 60 * 1000 * (uint64_t)tp_slow(), at = rk[0].addr;
    const unsigned rw = TP_REMOTE_READ | TP_REMOTE_WRITE;
    uint64_t waited = 0;
    unsigned char *slot;
    void *p = &p;

    REQUIRE(c->ops->rkey_ptr(c->tp, 0, &rk[0], at, 8, 0, &p) == RCOMM_ERR_INVALID_ARG);
    REQUIRE(c->ops->rkey_ptr(c->tp, 0, &rk[0], at, 8, 64, &p) == RCOMM_ERR_INVALID_ARG);
    REQUIRE(c->ops->rkey_ptr(c->tp, 0, &rk[0], at, 8, rw, NULL) == RCOMM_ERR_INVALID_ARG);
    REQUIRE(c->ops->rkey_ptr(c->tp, 0, NULL, at, 8, rw, &p) == RCOMM_ERR_INVALID_ARG);
    REQUIRE(c->ops->rkey_ptr(c->tp, c->rank, &rk[0], at, 8, rw, &p) ==
            RCOMM_ERR_INVALID_ARG);
    REQUIRE(c->ops->rkey_ptr(c->tp, c->size, &rk[0], at, 8, rw, &p) ==
            RCOMM_ERR_INVALID_ARG);
    REQUIRE(!p);
    if (!maps) {
        p = &p;
        REQUIRE(c->ops->rkey_ptr(c->tp, 0, &rk[0], at, PTR_SLOT, rw, &p) ==
                RCOMM_ERR_UNSUPPORTED);
        /* TCP and verbs never map; shm without descriptors to take says so. */
        REQUIRE(!p && strstr(rcomm_last_error(), strcmp(c->ops->name, "shm") == 0
                                                     ? "cannot be mapped from here"
                                                     : "maps no peer"));
        return;
    }
    /* Past the region's end, a write where only reads are granted, memory
     * not from tp_heap_alloc. */
    REQUIRE(c->ops->rkey_ptr(c->tp, 0, &rk[0], at + (uint64_t)c->size * PTR_SLOT - 8, 16,
                             TP_REMOTE_READ, &p) == RCOMM_ERR_ACCESS);
    REQUIRE(c->ops->rkey_ptr(c->tp, 0, &rk[1], rk[1].addr, 8, rw, &p) ==
            RCOMM_ERR_ACCESS);
    REQUIRE(!p && strstr(rcomm_last_error(), "remote-write"));
    OK(c->ops->rkey_ptr(c->tp, 0, &rk[1], rk[1].addr, 8, TP_REMOTE_READ, &p));
    REQUIRE(c->ops->rkey_ptr(c->tp, 0, &rk[2], rk[2].addr, 8, rw, &p) ==
            RCOMM_ERR_UNSUPPORTED);
    REQUIRE(!p && strstr(rcomm_last_error(), "tp_heap_alloc"));

    OK(c->ops->rkey_ptr(c->tp, 0, &rk[0], at + (uint64_t)c->rank * PTR_SLOT, PTR_SLOT, rw,
                        &p));
    slot = p;
    for (int i = 8; i < PTR_ANSWER; i++)
        slot[i] = (unsigned char)(c->rank * 7 + i);
    __atomic_store_n((uint64_t *)slot, 1, __ATOMIC_RELEASE);
    while (__atomic_load_n((uint64_t *)(slot + PTR_ANSWER), __ATOMIC_ACQUIRE) !=
           ptr_answer(c->rank)) {
        REQUIREF(waited++ < give_up, "no answer from rank 0 in %llu ms",
                 (unsigned long long)give_up);
        usleep(1000);
    }
}

static void sc_rkey_ptr(tp_ctx_t *c)
{
    const bool maps = strcmp(c->ops->name, "shm") == 0 && shm_can_map();
    const size_t len = (size_t)c->size * PTR_SLOT;
    tp_req_t rq[TP_MAXP] = {0};
    unsigned char *mem = NULL, *plain = NULL;
    tp_mr_t *mr[3] = {NULL};
    tp_rkey_t rk[3];

    if (c->rank == 0) {
        OK(tp_heap_alloc(len, (void **)&mem));
        memset(mem, 0, len);
        plain = tp_xmalloc(64);
        OK(c->ops->mem_reg(c->tp, mem, len, TP_REMOTE_READ | TP_REMOTE_WRITE, &mr[0]));
        OK(c->ops->mem_reg(c->tp, mem, 64, TP_REMOTE_READ, &mr[1]));
        OK(c->ops->mem_reg(c->tp, plain, 64, TP_REMOTE_READ | TP_REMOTE_WRITE, &mr[2]));
        for (int i = 0; i < 3; i++)
            OK(c->ops->mem_rkey(mr[i], &rk[i]));
        for (int q = 1; q < c->size; q++)
            OK(c->ops->isend(c->tp, q, 40, NULL, rk, sizeof(rk), &rq[q]));
        tp_wait_ok(c, rq + 1, c->size - 1);
        ptr_target(c, mem, maps);
    } else {
        OK(c->ops->irecv(c->tp, 0, 40, rk, sizeof(rk), &rq[0]));
        tp_wait_ok(c, rq, 1);
        ptr_initiator(c, rk, maps);
    }
    tp_barrier(c, 41);
    if (c->rank == 0) {
        for (int i = 0; i < 3; i++)
            OK(c->ops->mem_dereg(c->tp, mr[i]));
        tp_heap_free(mem);
        free(plain);
    }
}

/* rkey_ptr_release. Rank 0 registers PTR_FILES regions of tp_heap_alloc,
 * each its own file, more than shm keeps mapped (SHM_MAPS, 16). Rank 1 maps
 * each, writes its number there and gives the pointer back: every one maps,
 * as the released ones make room. Without the releases the held files run
 * out (checked, so that the test can fail), and a release with a pointer
 * rkey_ptr never gave is ignored. Where nothing maps, release is a no-op. */
enum { PTR_FILES = 40, PTR_HELD = 16 };

static void sc_rkey_ptr_release(tp_ctx_t *c)
{
    const bool maps = strcmp(c->ops->name, "shm") == 0 && shm_can_map();
    tp_req_t rq[1] = {{0}};
    uint64_t *mem[PTR_FILES];
    tp_mr_t *mr[PTR_FILES];
    tp_rkey_t rk[PTR_FILES];
    void *held[PTR_HELD + 1], *p;
    int stray = 0;

    if (c->rank == 0) {
        for (int i = 0; i < PTR_FILES; i++) {
            OK(tp_heap_alloc(64, (void **)&mem[i]));
            OK(c->ops->mem_reg(c->tp, mem[i], 64, TP_REMOTE_READ | TP_REMOTE_WRITE,
                               &mr[i]));
            OK(c->ops->mem_rkey(mr[i], &rk[i]));
        }
        OK(c->ops->isend(c->tp, 1, 42, NULL, rk, sizeof(rk), &rq[0]));
        tp_wait_ok(c, rq, 1);
    } else {
        OK(c->ops->irecv(c->tp, 0, 42, rk, sizeof(rk), &rq[0]));
        tp_wait_ok(c, rq, 1);
        c->ops->rkey_ptr_release(c->tp, 0, &stray); /* never handed out */
        c->ops->rkey_ptr_release(c->tp, 0, NULL);
        for (int i = 0; maps && i < PTR_FILES; i++) {
            OK(c->ops->rkey_ptr(c->tp, 0, &rk[i], rk[i].addr, 8, TP_REMOTE_WRITE, &p));
            __atomic_store_n((uint64_t *)p, (uint64_t)i + 1, __ATOMIC_RELEASE);
            c->ops->rkey_ptr_release(c->tp, 0, p);
        }
        /* Held, they run out; given back, the next one maps. */
        for (int i = 0; maps && i < PTR_HELD; i++)
            OK(c->ops->rkey_ptr(c->tp, 0, &rk[i], rk[i].addr, 8, TP_REMOTE_READ,
                                &held[i]));
        if (maps) {
            REQUIRE(c->ops->rkey_ptr(c->tp, 0, &rk[PTR_HELD], rk[PTR_HELD].addr, 8,
                                     TP_REMOTE_READ, &p) == RCOMM_ERR_UNSUPPORTED);
            for (int i = 0; i < PTR_HELD; i++)
                c->ops->rkey_ptr_release(c->tp, 0, held[i]);
            OK(c->ops->rkey_ptr(c->tp, 0, &rk[PTR_HELD], rk[PTR_HELD].addr, 8,
                                TP_REMOTE_READ, &p));
            c->ops->rkey_ptr_release(c->tp, 0, p);
        }
    }
    tp_barrier(c, 43);
    if (c->rank == 0)
        for (int i = 0; i < PTR_FILES; i++) {
            REQUIREF(!maps || *mem[i] == (uint64_t)i + 1, "region %d holds %llu", i,
                     (unsigned long long)*mem[i]);
            OK(c->ops->mem_dereg(c->tp, mr[i]));
            tp_heap_free(mem[i]);
        }
}

/* Words of sc_cpu_free's region. */
enum { W_COUNT, W_DONE, W_LOCK, W_SUM, NWORDS };
#define CPU_FREE_ROUNDS 200

/* Rank 0 only watches its memory (no progress, no call of the transport)
 * while every other rank, CPU_FREE_ROUNDS times, takes a lock word with
 * compare_swap, reads the counter, writes it back plus one and unlocks, and
 * adds its rank to a sum; then adds 1 to "done". Lost updates or an
 * operation that waits for rank 0's CPU show as a wrong count or a hang. */
static void sc_cpu_free(tp_ctx_t *c)
{
    tp_req_t rq[TP_MAXP] = {0};
    tp_caps_t caps;
    tp_rkey_t rk;
    uint64_t *w;
    tp_mr_t *mr;

    c->ops->caps(c->tp, &caps);
    REQUIREF(caps.native_atomics, "%s on this host does not do atomics natively",
             c->ops->name);
    if (c->rank == 0) {
        const uint64_t give_up = 60 * 1000 * (uint64_t)tp_slow(); /* ms */
        uint64_t sum = 0, waited = 0;
        OK(tp_heap_alloc(NWORDS * 8, (void **)&w));
        OK(c->ops->mem_reg(c->tp, w, NWORDS * 8,
                           TP_REMOTE_ATOMIC | TP_REMOTE_READ | TP_REMOTE_WRITE, &mr));
        OK(c->ops->mem_rkey(mr, &rk));
        for (int q = 1; q < c->size; q++)
            OK(c->ops->isend(c->tp, q, 20, NULL, &rk, sizeof(rk), &rq[q]));
        tp_wait_ok(c, rq + 1, c->size - 1);
        while (__atomic_load_n(&w[W_DONE], __ATOMIC_ACQUIRE) != (uint64_t)c->size - 1) {
            REQUIREF(waited++ < give_up, "after %llu ms only %llu of %d ranks are done",
                     (unsigned long long)give_up,
                     (unsigned long long)__atomic_load_n(&w[W_DONE], __ATOMIC_ACQUIRE),
                     c->size - 1);
            usleep(1000);
        }
        for (int q = 1; q < c->size; q++)
            sum += (uint64_t)CPU_FREE_ROUNDS * (uint64_t)q;
        REQUIREF(w[W_COUNT] == (uint64_t)CPU_FREE_ROUNDS * (uint64_t)(c->size - 1),
                 "count %llu", (unsigned long long)w[W_COUNT]);
        REQUIREF(w[W_SUM] == sum, "sum %llu, want %llu", (unsigned long long)w[W_SUM],
                 (unsigned long long)sum);
        REQUIRE(w[W_LOCK] == 0);
        tp_barrier(c, 21);
        OK(c->ops->mem_dereg(c->tp, mr));
        tp_heap_free(w);
        return;
    }
    OK(c->ops->irecv(c->tp, 0, 20, &rk, sizeof(rk), &rq[0]));
    tp_wait_ok(c, rq, 1);
    for (int i = 0; i < CPU_FREE_ROUNDS; i++) {
        uint64_t v;
        do {
            OK(c->ops->compare_swap(c->tp, 0, &rk, rk.addr + 8 * W_LOCK, 0,
                                    (uint64_t)c->rank, &rq[0]));
            tp_wait_ok(c, rq, 1);
        } while (rq[0].result != 0);
        OK(c->ops->get(c->tp, 0, &v, 8, &rk, rk.addr + 8 * W_COUNT, &rq[0]));
        tp_wait_ok(c, rq, 1);
        v++;
        OK(c->ops->put(c->tp, 0, &v, 8, &rk, rk.addr + 8 * W_COUNT, &rq[0]));
        OK(c->ops->fetch_add(c->tp, 0, &rk, rk.addr + 8 * W_SUM, (uint64_t)c->rank,
                             &rq[1]));
        tp_wait_ok(c, rq, 2);
        OK(c->ops->compare_swap(c->tp, 0, &rk, rk.addr + 8 * W_LOCK, (uint64_t)c->rank, 0,
                                &rq[0]));
        tp_wait_ok(c, rq, 1);
        REQUIRE(rq[0].result == (uint64_t)c->rank);
    }
    OK(c->ops->fetch_add(c->tp, 0, &rk, rk.addr + 8 * W_DONE, 1, &rq[0]));
    tp_wait_ok(c, rq, 1);
    tp_barrier(c, 21);
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

/* ---- put_notify ---------------------------------------------------------- */

/* Every rank q > 0 runs the same plan of operations on rank 0's memory,
 * in order: both sides build it (note_plan), so rank 0 knows which
 * notification comes next from each peer, which bytes must be in place by
 * then, and what its memory must hold at the end. Each op writes its own
 * place of q's area (NOTE_GAP untouched bytes between places) with its own
 * pattern.
 *  1. put_notify of 50 sizes (0, 1, 7, around the verbs inline limit and
 *     one MTU, up to 100 KB), in batches posted without waiting.
 *  2. plain puts, then a put_notify: the puts' bytes are in place at it.
 *  3. imm at or above TP_NOTIFY_LIMIT fails the post with INVALID_ARG and
 *     sends nothing; TP_NOTIFY_LIMIT - 1 arrives as it is.
 *  4. put_notify the region refuses (rights, range, a payload TCP drains)
 *     completes with ACCESS and notifies nothing; the next one arrives.
 *  5. NOTE_BURST zero-byte put_notify back to back: more than the verbs
 *     receive depth (RCOMM_IB_RX_DEPTH, 32), so most wait for credits.
 * Rank 0 checks at each notification (note_landed) and once more at the
 * end: each peer's notifications exactly once, in its posting order. */

enum { N_NOTIFY, N_PUT, N_BIGIMM, N_DENIED };
enum { NR_RW, NR_RO, NNR };

#define NOTE_AREA ((size_t)1 << 20) /* per initiator, in rank 0's NR_RW */
#define NOTE_GAP 8
#define NOTE_BURST 300
#define NOTE_MAXOPS 512
#define NOTE_RO_LEN 4096
#define NOTE_DRAINED 200000
/* (q, sequence): q < 8 sets the high bits, up to bit 30. */
#define NOTE_IMM(q, i)                                                                   \
    ((uint32_t)(q) << 28 | (uint32_t)(i) << 8 | ((uint32_t)((q) ^ (i)) & 0xffu))

typedef struct {
    uint8_t kind;
    uint8_t wait; /* the initiator waits for all it posted, this included */
    uint8_t reg;  /* N_DENIED: the region */
    int64_t off;  /* in q's area of NR_RW (N_DENIED: from reg's base) */
    size_t len;
    uint32_t imm;
    const char *needle; /* N_DENIED: in the error */
} note_op_t;

static const char *const note_kind[] = {"put_notify", "put", "put_notify with a bad imm",
                                        "refused put_notify"};

static size_t note_area(int q)
{
    return (size_t)(q - 1) * NOTE_AREA;
}

static uint64_t note_seed(int q, int i)
{
    return tp_seed(q, 0, 900 + (uint64_t)i);
}

static int note_plan(int q, int size, note_op_t *op)
{
    static const size_t sizes[] = {
        0,     1,     7,    8,    9,     63,    64,    65,    200,    255,
        256,   257,   300,  1000, 1023,  1024,  1025,  2048,  4095,   4096,
        4097,  5000,  8192, 9000, 16384, 33333, 65536, 65537, 100000, 102400,
        0,     3,     1,    0,    17,    511,   512,   513,   4000,   12345,
        77777, 99999, 0,    0,    2,     4,     6000,  20000, 50000,  1};
    static const int batch_end[] = {0, 1, 3, 6, 11, 19, 32, 49};
    static const size_t mixed[] = {1, 3000, 70000, 0, 200};
    static const uint32_t bigimm[] = {TP_NOTIFY_LIMIT, TP_NOTIFY_LIMIT + 1,
                                      TP_NOTIFY_LIMIT | 0x1234u, UINT32_MAX};
    const int64_t rw_end = (int64_t)((size_t)(size - 1) * NOTE_AREA);
    size_t off = NOTE_GAP;
    int n = 0;

#define NOTE_ADD(k, l, w)                                                                \
    do {                                                                                 \
        op[n] = (note_op_t){.kind = (k), .wait = (w), .off = (int64_t)off, .len = (l)};  \
        op[n].imm = NOTE_IMM(q, n);                                                      \
        off += (l) + NOTE_GAP;                                                           \
        n++;                                                                             \
    } while (0)
#define NOTE_DENY(r, o, l, text)                                                         \
    do {                                                                                 \
        op[n] = (note_op_t){                                                             \
            .kind = N_DENIED, .wait = 1, .reg = (r), .off = (o), .len = (l)};            \
        op[n].imm = NOTE_IMM(q, n);                                                      \
        op[n].needle = (text);                                                           \
        n++;                                                                             \
    } while (0)

    for (int i = 0, b = 0; i < (int)(sizeof(sizes) / sizeof(sizes[0])); i++) {
        int end = i == batch_end[b];
        b += end;
        NOTE_ADD(N_NOTIFY, sizes[i], end);
    }
    for (int r = 0; r < 2; r++) {
        for (int i = 0; i < (int)(sizeof(mixed) / sizeof(mixed[0])); i++)
            NOTE_ADD(N_PUT, mixed[i], 0);
        NOTE_ADD(N_NOTIFY, r ? 5000 : 0, 1);
    }
    for (int i = 0; i < (int)(sizeof(bigimm) / sizeof(bigimm[0])); i++) {
        NOTE_ADD(N_BIGIMM, 16, 0);
        op[n - 1].imm = bigimm[i];
    }
    NOTE_ADD(N_NOTIFY, 33, 1);
    op[n - 1].imm = TP_NOTIFY_LIMIT - 1;
    NOTE_DENY(NR_RO, 0, 16, "lacks the remote-write right");
    NOTE_DENY(NR_RW, rw_end - 8, 16, "outside the region");
    NOTE_DENY(NR_RW, -8, 16, "outside the region");
    NOTE_DENY(NR_RO, 0, NOTE_DRAINED, "outside the region");
    NOTE_ADD(N_NOTIFY, 10, 1);
    for (int i = 0; i < NOTE_BURST; i++)
        NOTE_ADD(N_NOTIFY, 0, i == NOTE_BURST - 1);
#undef NOTE_ADD
#undef NOTE_DENY
    REQUIRE(n <= NOTE_MAXOPS && off <= NOTE_AREA);
    return n;
}

typedef struct {
    unsigned char *mem[NNR], *want[NNR];
    note_op_t *op[TP_MAXP];
    int nop[TP_MAXP];
    int next[TP_MAXP]; /* q's first op whose bytes are not checked yet */
    int got[TP_MAXP];  /* notifications from q */
} note_target_t;

/* What imm from q is in its plan, for the message. */
static const char *note_which(const note_target_t *t, int q, uint32_t imm, char *buf,
                              size_t len)
{
    snprintf(buf, len, "no op of rank %d has it", q);
    for (int i = 0; i < t->nop[q]; i++)
        if (t->op[q][i].imm == imm)
            snprintf(buf, len, "rank %d's op %d, a %s%s", q, i,
                     note_kind[t->op[q][i].kind],
                     i < t->next[q] ? " already notified" : "");
    return buf;
}

static void note_check_bytes(const note_target_t *t, int q, int i, uint32_t imm)
{
    const note_op_t *o = &t->op[q][i];
    size_t at = note_area(q) + (size_t)o->off;

    if (memcmp(t->mem[NR_RW] + at, t->want[NR_RW] + at, o->len) == 0)
        return;
    for (size_t b = 0; b < o->len; b++)
        REQUIREF(
            t->mem[NR_RW][at + b] == t->want[NR_RW][at + b],
            "at rank %d's notification 0x%x: byte %zu of its op %d (%s of %zu bytes) "
            "is 0x%02x, want 0x%02x: not in place yet",
            q, imm, b, i, note_kind[o->kind], o->len, t->mem[NR_RW][at + b],
            t->want[NR_RW][at + b]);
}

/* on_note: this is the next put_notify of peer's plan, and its bytes and
 * those of every op before it are in place now. */
static void note_landed(tp_ctx_t *c, int peer, uint32_t imm)
{
    note_target_t *t = c->note_arg;
    char which[128];
    int i;

    REQUIREF(peer > 0 && peer < c->size, "a notification (imm 0x%x) from rank %d", imm,
             peer);
    for (i = t->next[peer]; i < t->nop[peer] && t->op[peer][i].kind != N_NOTIFY; i++)
        ;
    REQUIREF(i < t->nop[peer],
             "notification %d from rank %d (imm 0x%x, %s): it posted %d",
             t->got[peer] + 1, peer, imm, note_which(t, peer, imm, which, sizeof(which)),
             t->got[peer]);
    REQUIREF(imm == t->op[peer][i].imm,
             "notification %d from rank %d is imm 0x%x (%s), want 0x%x (its op %d)",
             t->got[peer] + 1, peer, imm, note_which(t, peer, imm, which, sizeof(which)),
             t->op[peer][i].imm, i);
    for (int j = t->next[peer]; j <= i; j++)
        if (t->op[peer][j].kind == N_PUT || t->op[peer][j].kind == N_NOTIFY)
            note_check_bytes(t, peer, j, imm);
    t->next[peer] = i + 1;
    t->got[peer]++;
}

static void note_target(tp_ctx_t *c)
{
    static const unsigned nr_acc[NNR] = {TP_REMOTE_WRITE | TP_REMOTE_READ,
                                         TP_REMOTE_READ};
    const size_t nr_len[NNR] = {(size_t)(c->size - 1) * NOTE_AREA, NOTE_RO_LEN};
    note_target_t t = {0};
    tp_mr_t *mr[NNR];
    tp_rkey_t rk[NNR];
    tp_req_t rq[TP_MAXP] = {0};
    int total = 0, k;

    for (int r = 0; r < NNR; r++) {
        t.mem[r] = tp_xmalloc(nr_len[r]);
        t.want[r] = tp_xmalloc(nr_len[r]);
        tp_fill(t.mem[r], nr_len[r], tp_seed(0, 0, 800 + r));
        memcpy(t.want[r], t.mem[r], nr_len[r]);
        OK(c->ops->mem_reg(c->tp, t.mem[r], nr_len[r], nr_acc[r], &mr[r]));
        OK(c->ops->mem_rkey(mr[r], &rk[r]));
    }
    for (int q = 1; q < c->size; q++) {
        t.op[q] = tp_xmalloc(NOTE_MAXOPS * sizeof(note_op_t));
        t.nop[q] = note_plan(q, c->size, t.op[q]);
        for (int i = 0; i < t.nop[q]; i++) {
            const note_op_t *o = &t.op[q][i];
            if (o->kind == N_PUT || o->kind == N_NOTIFY)
                tp_fill(t.want[NR_RW] + note_area(q) + (size_t)o->off, o->len,
                        note_seed(q, i));
            total += o->kind == N_NOTIFY;
        }
    }
    c->note_arg = &t;
    c->on_note = note_landed;
    for (int q = 1; q < c->size; q++)
        OK(c->ops->isend(c->tp, q, 40, NULL, rk, sizeof(rk), &rq[q]));
    tp_wait_ok(c, rq + 1, c->size - 1);
    tp_barrier(c, 41); /* each peer has seen its last put_notify complete */
    tp_progress_for(c, (int)(50 * tp_slow())); /* time for any extra one */

    REQUIREF(c->nnote == total && c->nnote <= TP_NOTES_MAX, "%d notifications, want %d",
             c->nnote, total);
    for (int q = 1; q < c->size; q++) {
        /* Rank q's recorded values are its plan's put_notify, in order,
         * each once. */
        int want = 0, have = 0;
        k = 0;
        for (int i = 0; i < t.nop[q]; i++) {
            if (t.op[q][i].kind != N_NOTIFY)
                continue;
            while (k < c->nnote && c->note[k].peer != q)
                k++;
            REQUIREF(k < c->nnote && c->note[k].imm == t.op[q][i].imm,
                     "rank %d's op %d (imm 0x%x) was not notified in its order", q, i,
                     t.op[q][i].imm);
            k++;
            want++;
        }
        for (k = 0; k < c->nnote; k++)
            have += c->note[k].peer == q;
        REQUIREF(have == want && t.got[q] == want,
                 "rank %d: %d notifications (%d checked), want %d", q, have, t.got[q],
                 want);
    }
    for (int r = 0; r < NNR; r++) {
        for (size_t b = 0; b < nr_len[r]; b++)
            REQUIREF(t.mem[r][b] == t.want[r][b],
                     "region %d byte %zu (rank %zu's area, +%zu) is 0x%02x, want 0x%02x",
                     r, b, 1 + b / NOTE_AREA, b % NOTE_AREA, t.mem[r][b], t.want[r][b]);
        OK(c->ops->mem_dereg(c->tp, mr[r]));
        free(t.mem[r]);
        free(t.want[r]);
    }
    c->on_note = NULL;
    for (int q = 1; q < c->size; q++)
        free(t.op[q]);
}

static void note_wait(tp_ctx_t *c, const note_op_t *op, tp_req_t *rq, int from, int to)
{
    for (int i = from; i < to; i++)
        if (op[i].kind == N_NOTIFY || op[i].kind == N_PUT)
            REQUIREF(tp_wait(c, &rq[i], 20000) == RCOMM_OK, "op %d (%s of %zu bytes): %s",
                     i, note_kind[op[i].kind], op[i].len, rcomm_strerror(rq[i].status));
}

static void note_initiator(tp_ctx_t *c)
{
    const tp_ops_t *o = c->ops;
    const int q = c->rank;
    note_op_t *op = tp_xmalloc(NOTE_MAXOPS * sizeof(*op));
    tp_req_t *rq = tp_xmalloc(NOTE_MAXOPS * sizeof(*rq));
    unsigned char *src = tp_xmalloc(NOTE_AREA);
    tp_rkey_t rk[NNR];
    int n = note_plan(q, c->size, op), first = 0;
    rcomm_status_t st;

    memset(rq, 0, NOTE_MAXOPS * sizeof(*rq));
    memset(src, 0, NOTE_AREA);
    for (int i = 0; i < n; i++)
        if (op[i].kind == N_PUT || op[i].kind == N_NOTIFY)
            tp_fill(src + op[i].off, op[i].len, note_seed(q, i));
    OK(o->irecv(c->tp, 0, 40, rk, sizeof(rk), &rq[0]));
    tp_wait_ok(c, rq, 1);
    REQUIRE(rq[0].len == sizeof(rk));
    for (int i = 0; i < n; i++) {
        const note_op_t *p = &op[i];
        uint64_t at = rk[NR_RW].addr + note_area(q) + (uint64_t)p->off;
        switch (p->kind) {
        case N_NOTIFY:
            OK(o->put_notify(c->tp, 0, src + p->off, p->len, &rk[NR_RW], at, p->imm,
                             &rq[i]));
            break;
        case N_PUT:
            OK(o->put(c->tp, 0, src + p->off, p->len, &rk[NR_RW], at, &rq[i]));
            break;
        case N_BIGIMM:
            st = o->put_notify(c->tp, 0, src + p->off, p->len, &rk[NR_RW], at, p->imm,
                               &rq[i]);
            REQUIREF(st == RCOMM_ERR_INVALID_ARG, "put_notify with imm 0x%x: %s", p->imm,
                     rcomm_strerror(st));
            REQUIREF(strstr(rcomm_last_error(), "TP_NOTIFY_LIMIT"),
                     "the error does not say why: %s", rcomm_last_error());
            break;
        default:
            expect_denied(c,
                          o->put_notify(c->tp, 0, src, p->len, &rk[p->reg],
                                        (uint64_t)((int64_t)rk[p->reg].addr + p->off),
                                        p->imm, &rq[i]),
                          &rq[i], p->needle);
        }
        if (p->wait) {
            note_wait(c, op, rq, first, i + 1);
            first = i + 1;
        }
    }
    note_wait(c, op, rq, first, n);
    tp_barrier(c, 41);
    free(src);
    free(rq);
    free(op);
}

static void sc_notify(tp_ctx_t *c)
{
    if (c->rank == 0)
        note_target(c);
    else
        note_initiator(c);
}

/* Without on_notify the notifications are dropped; the puts still land
 * and complete. */
static void sc_notify_dropped(tp_ctx_t *c)
{
    enum { N = 4 };
    static const size_t len[N] = {0, 1000, 100000, 0};
    const size_t total = 2 * 100000;
    unsigned char *mem = tp_xmalloc(total);
    tp_req_t rq[N] = {0};
    tp_rkey_t rk;
    tp_mr_t *mr;

    if (c->rank == 0) {
        memset(mem, 0, total);
        OK(c->ops->mem_reg(c->tp, mem, total, TP_REMOTE_WRITE, &mr));
        OK(c->ops->mem_rkey(mr, &rk));
        OK(c->ops->isend(c->tp, 1, 40, NULL, &rk, sizeof(rk), &rq[0]));
        tp_wait_ok(c, rq, 1);
        tp_barrier(c, 42);
        for (int i = 0; i < N; i++)
            tp_check(mem + (size_t)i * 50000, len[i], tp_seed(1, 0, 950 + (uint64_t)i));
        OK(c->ops->mem_dereg(c->tp, mr));
    } else {
        OK(c->ops->irecv(c->tp, 0, 40, &rk, sizeof(rk), &rq[0]));
        tp_wait_ok(c, rq, 1);
        for (int i = 0; i < N; i++) {
            tp_fill(mem + (size_t)i * 50000, len[i], tp_seed(1, 0, 950 + (uint64_t)i));
            OK(c->ops->put_notify(c->tp, 0, mem + (size_t)i * 50000, len[i], &rk,
                                  rk.addr + (uint64_t)i * 50000, (uint32_t)i, &rq[i]));
        }
        tp_wait_ok(c, rq, N);
        tp_barrier(c, 42);
    }
    REQUIRE(c->nnote == 0);
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
    tp_group_t g = {.transport = tp_transport,
                    .size = np[_i % 3],
                    .fn = sc_onesided,
                    .variant = _i / 3,
                    .absent = -1};
    tp_run_group(&g);
}
END_TEST

START_TEST(test_rkey_ptr)
{
    static const int np[] = {2, 3, 5};
    tp_group_t g = {
        .transport = tp_transport, .size = np[_i], .fn = sc_rkey_ptr, .absent = -1};
    tp_run_group(&g);
}
END_TEST

START_TEST(test_rkey_ptr_release)
{
    tp_group_t g = {
        .transport = tp_transport, .size = 2, .fn = sc_rkey_ptr_release, .absent = -1};
    tp_run_group(&g);
}
END_TEST

START_TEST(test_cpu_free)
{
    static const int np[] = {2, 3, 5};
    tp_group_t g = {
        .transport = tp_transport, .size = np[_i], .fn = sc_cpu_free, .absent = -1};
    tp_run_group(&g);
}
END_TEST

START_TEST(test_notify)
{
    static const int np[] = {2, 3, 5};
    tp_group_t g = {
        .transport = tp_transport, .size = np[_i], .fn = sc_notify, .absent = -1};
    tp_run_group(&g);
}
END_TEST

START_TEST(test_notify_dropped)
{
    tp_group_t g = {.transport = tp_transport,
                    .size = 2,
                    .fn = sc_notify_dropped,
                    .absent = -1,
                    .no_notify = 1};
    tp_run_group(&g);
}
END_TEST

/* Can shm's peers map its memory here? Not with RCOMM_SHM_CMA=0, nor where
 * the kernel (before 5.6) or valgrind (3.19) knows no pidfd_getfd: shm then
 * applies atomics in the target's progress, and says so in its caps. */
static int shm_can_map(void)
{
    const char *cma = getenv("RCOMM_SHM_CMA");
    int pidfd, fd;

    if (cma && strcmp(cma, "0") == 0)
        return 0;
    if ((pidfd = (int)syscall(SYS_pidfd_open, getpid(), 0)) >= 0) {
        fd = (int)syscall(SYS_pidfd_getfd, pidfd, STDIN_FILENO, 0);
        close(pidfd);
        if (fd >= 0 || errno != ENOSYS) { /* EBADF: no stdin, but it exists */
            if (fd >= 0)
                close(fd);
            return 1;
        }
    }
    fprintf(stderr, "one-sided: no pidfd_getfd here (%s): test_cpu_free not run\n",
            strerror(errno));
    return 0;
}

void tp_add_onesided_tests(Suite *s)
{
    TCase *tc = tcase_create("one-sided");
    tcase_set_timeout(tc, 120);
    tcase_add_loop_test(tc, test_onesided, 0, 6);
    /* Where atomics need no target CPU: the HCA, or shm's mapped memory. */
    if (strcmp(tp_transport, "verbs") == 0 ||
        (strcmp(tp_transport, "shm") == 0 && shm_can_map()))
        tcase_add_loop_test(tc, test_cpu_free, 0, 3);
    tcase_add_test(tc, test_puts_then_message);
    tcase_add_loop_test(tc, test_rkey_ptr, 0, 3);
    tcase_add_test(tc, test_rkey_ptr_release);
    tcase_add_loop_test(tc, test_notify, 0, 3);
    tcase_add_test(tc, test_notify_dropped);
    /* TCP's emulation detail: replies queued from a region being dropped. */
    if (strcmp(tp_transport, "tcp") == 0)
        tcase_add_test(tc, test_dereg_queued);
    suite_add_tcase(s, tc);
}
