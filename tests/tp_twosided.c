/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Two-sided conformance of a transport (tp_transport): 2, 3 and 5 ranks in
 * forked processes (tp_harness.h), every payload checked byte by byte. The
 * same cases run over every transport (unit_tcp, unit_verbs).
 */
#include <arpa/inet.h>
#include <check.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "base/clock.h"
#include "base/error.h"
#include "tp_harness.h"
#include "transports/tcp/tcp_frame.h"

#define MiB ((size_t)1 << 20)

static const size_t sizes[] = {0, 1, 7, 4096, 65536 + 1, 3 * MiB + 5};
#define NSIZES (sizeof(sizes) / sizeof(sizes[0]))

static void run(int size, void (*fn)(tp_ctx_t *), int variant)
{
    tp_group_t g = {.transport = tp_transport,
                    .size = size,
                    .fn = fn,
                    .variant = variant,
                    .absent = -1};
    tp_run_group(&g);
}

static void stats_delta(const tp_t *tp, const rcomm_stats_t *s0, rcomm_stats_t *d)
{
    d->bytes_sent = tp->stats.bytes_sent - s0->bytes_sent;
    d->bytes_received = tp->stats.bytes_received - s0->bytes_received;
    d->bytes_copied = tp->stats.bytes_copied - s0->bytes_copied;
    d->messages_sent = tp->stats.messages_sent - s0->messages_sent;
    d->messages_received = tp->stats.messages_received - s0->messages_received;
}

/* ---- two-sided ---------------------------------------------------------- */

/* Every size with every peer; receives posted in the reverse order of the
 * sends. Envelopes and the counters are checked too. */
static void all_sizes(tp_ctx_t *c)
{
    int nq = c->size - 1, k = 0;
    tp_req_t *rr = calloc((size_t)nq * NSIZES, sizeof(*rr));
    tp_req_t *sr = calloc((size_t)nq * NSIZES, sizeof(*sr));
    void **in = calloc((size_t)nq * NSIZES, sizeof(void *));
    void **out = calloc((size_t)nq * NSIZES, sizeof(void *));
    rcomm_stats_t s0 = c->tp->stats, d;
    uint64_t total = 0;

    REQUIRE(rr && sr && in && out);
    for (int q = 0; q < c->size; q++)
        for (int s = NSIZES - 1; q != c->rank && s >= 0; s--, k++) {
            in[k] = tp_xmalloc(sizes[s]);
            OK(c->ops->irecv(c->tp, q, 100 + s, in[k], sizes[s], &rr[k]));
        }
    k = 0;
    for (int q = 0; q < c->size; q++)
        for (size_t s = 0; q != c->rank && s < NSIZES; s++, k++) {
            tp_env_t env = tp_env(c->rank, q, 100 + s);
            out[k] = tp_xmalloc(sizes[s]);
            tp_fill(out[k], sizes[s], tp_seed(c->rank, q, 100 + s));
            OK(c->ops->isend(c->tp, q, 100 + s, &env, out[k], sizes[s], &sr[k]));
            total += sizes[s];
        }
    tp_wait_ok(c, rr, k);
    tp_wait_ok(c, sr, k);
    k = 0;
    for (int q = 0; q < c->size; q++)
        for (int s = NSIZES - 1; q != c->rank && s >= 0; s--, k++) {
            tp_env_t env = tp_env(q, c->rank, 100 + s);
            REQUIRE(rr[k].len == sizes[s]);
            REQUIRE(memcmp(&rr[k].env, &env, sizeof(env)) == 0);
            tp_check(in[k], sizes[s], tp_seed(q, c->rank, 100 + s));
            free(in[k]);
            free(out[k]);
        }
    stats_delta(c->tp, &s0, &d);
    /* Peers done first may have sent us their (empty) barrier message. */
    REQUIRE(d.messages_sent == (uint64_t)k && d.messages_received >= (uint64_t)k &&
            d.messages_received <= (uint64_t)(k + nq));
    REQUIRE(d.bytes_sent == total && d.bytes_received == total);
    free(rr);
    free(sr);
    free(in);
    free(out);
}

/* 64 tags per peer, received in a scrambled order; some are large. */
static size_t tag_len(int k)
{
    return k % 16 == 5 ? 100000 : 1 + 13 * (size_t)k;
}

static void scrambled_tags(tp_ctx_t *c)
{
    enum { N = 64 };
    int nq = c->size - 1;
    tp_req_t *rr = calloc((size_t)nq * N, sizeof(*rr));
    tp_req_t *sr = calloc((size_t)nq * N, sizeof(*sr));
    char **in = calloc((size_t)nq * N, sizeof(char *)),
         **out = calloc((size_t)nq * N, sizeof(char *));
    int i = 0;

    REQUIRE(rr && sr && in && out);
    for (int q = 0; q < c->size; q++)
        for (int j = 0; q != c->rank && j < N; j++, i++) {
            int k = j * 37 % N;
            in[i] = tp_xmalloc(tag_len(k));
            OK(c->ops->irecv(c->tp, q, 1000 + k, in[i], tag_len(k), &rr[i]));
        }
    i = 0;
    for (int q = 0; q < c->size; q++)
        for (int k = 0; q != c->rank && k < N; k++, i++) {
            out[i] = tp_xmalloc(tag_len(k));
            tp_fill(out[i], tag_len(k), tp_seed(c->rank, q, 1000 + k));
            OK(c->ops->isend(c->tp, q, 1000 + k, NULL, out[i], tag_len(k), &sr[i]));
        }
    tp_wait_ok(c, rr, i);
    tp_wait_ok(c, sr, i);
    i = 0;
    for (int q = 0; q < c->size; q++)
        for (int j = 0; q != c->rank && j < N; j++, i++) {
            int k = j * 37 % N;
            REQUIRE(rr[i].len == tag_len(k));
            tp_check(in[i], tag_len(k), tp_seed(q, c->rank, 1000 + k));
            free(in[i]);
            free(out[i]);
        }
    free(rr);
    free(sr);
    free(in);
    free(out);
}

/* One tag, 40 messages per peer: received in sending order, whether they
 * found their receive, were buffered or were announced (rendezvous). */
static size_t fifo_len(int k)
{
    return k % 10 == 9 ? 200000 : 16 + (size_t)k;
}

static void same_tag_fifo(tp_ctx_t *c)
{
    enum { N = 40 };
    int nq = c->size - 1;
    tp_req_t *rr = calloc((size_t)nq * N, sizeof(*rr));
    tp_req_t *sr = calloc((size_t)nq * N, sizeof(*sr));
    char **in = calloc((size_t)nq * N, sizeof(char *)),
         **out = calloc((size_t)nq * N, sizeof(char *));

    REQUIRE(rr && sr && in && out);
    for (int half = 0; half < 2; half++) {
        for (int q = 0, i = 0; q < c->size; q++)
            for (int k = 0; q != c->rank && k < N; k++, i++) {
                if (half != (k >= N / 2))
                    continue;
                in[i] = tp_xmalloc(fifo_len(k));
                OK(c->ops->irecv(c->tp, q, 2000, in[i], fifo_len(k), &rr[i]));
            }
        if (half == 0) {
            for (int q = 0, i = 0; q < c->size; q++)
                for (int k = 0; q != c->rank && k < N; k++, i++) {
                    out[i] = tp_xmalloc(fifo_len(k));
                    tp_fill(out[i], fifo_len(k), tp_seed(c->rank, q, 2000 + k));
                    OK(c->ops->isend(c->tp, q, 2000, NULL, out[i], fifo_len(k), &sr[i]));
                }
            tp_progress_for(c, 30); /* the second half arrives unexpected */
        }
    }
    tp_wait_ok(c, rr, nq * N);
    tp_wait_ok(c, sr, nq * N);
    for (int q = 0, i = 0; q < c->size; q++)
        for (int k = 0; q != c->rank && k < N; k++, i++) {
            REQUIRE(rr[i].len == fifo_len(k));
            tp_check(in[i], fifo_len(k), tp_seed(q, c->rank, 2000 + k));
            free(in[i]);
            free(out[i]);
        }
    free(rr);
    free(sr);
    free(in);
    free(out);
}

static void sc_sendrecv(tp_ctx_t *c)
{
    all_sizes(c);
    tp_barrier(c, 1);
    scrambled_tags(c);
    tp_barrier(c, 2);
    same_tag_fifo(c);
    tp_barrier(c, 3);
}

/* Rank 0 receives from everyone: small messages are buffered (copied once),
 * large ones held as announcements and received in place; a receive posted
 * first is zero copy. The hook sees every unexpected message. */
static void sc_unexpected(tp_ctx_t *c)
{
    enum { SMALL = 100, LARGE = 1 << 20, HUGE = 3 * (1 << 20) + 5 };
    int nq = c->size - 1;
    tp_req_t rq[3 * TP_MAXP] = {0};
    char *buf[3 * TP_MAXP];
    uint64_t copied, heads;

    if (c->rank != 0) {
        tp_env_t e1 = tp_env(c->rank, 0, 1), e2 = tp_env(c->rank, 0, 2);
        for (int t = 0; t < 3; t++)
            tp_fill(buf[t] = tp_xmalloc(HUGE), HUGE, tp_seed(c->rank, 0, t + 1));
        OK(c->ops->isend(c->tp, 0, 1, &e1, buf[0], SMALL, &rq[0]));
        OK(c->ops->isend(c->tp, 0, 2, &e2, buf[1], LARGE, &rq[1]));
        OK(c->ops->irecv(c->tp, 0, 3, NULL, 0, &rq[2]));
        tp_wait_ok(c, rq, 3);
        OK(c->ops->isend(c->tp, 0, 4, NULL, buf[2], HUGE, &rq[0]));
        tp_wait_ok(c, rq, 1);
        for (int t = 0; t < 3; t++)
            free(buf[t]);
        tp_barrier(c, 99);
        return;
    }
    for (int i = 0; i < 1000 && c->nux < 2 * nq; i++)
        tp_progress_for(c, 5);
    tp_progress_for(c, 50);
    REQUIREF(c->nux == 2 * nq, "%d unexpected messages", c->nux);
    for (int i = 0; i < c->nux; i++) {
        const tp_ux_t *u = &c->ux[i];
        tp_env_t env = tp_env(u->peer, 0, u->tag);
        REQUIRE(u->peer >= 1 && u->peer < c->size && (u->tag == 1 || u->tag == 2));
        REQUIRE(u->len == (u->tag == 1 ? SMALL : LARGE));
        REQUIRE(memcmp(&u->env, &env, sizeof(env)) == 0);
        for (int j = 0; j < i; j++) /* per peer, in sending order */
            REQUIRE(c->ux[j].peer != u->peer || c->ux[j].tag < u->tag);
    }
    /* Small ones are copied once, on arrival or on delivery. */
    copied = c->tp->stats.bytes_copied;
    REQUIRE(copied <= (uint64_t)SMALL * nq);
    /* The announced ones land in place; TCP's announcement carries the first
     * eager bytes (64 KiB here), which were held and are copied. */
    for (int q = 1; q <= nq; q++)
        OK(c->ops->irecv(c->tp, q, 2, buf[q] = tp_xmalloc(LARGE), LARGE, &rq[q]));
    tp_wait_ok(c, rq + 1, nq);
    heads = strcmp(c->ops->name, "tcp") == 0 ? (uint64_t)nq * (64 << 10) : 0;
    REQUIRE(c->tp->stats.bytes_copied == copied + heads);
    for (int q = 1; q <= nq; q++) {
        REQUIRE(rq[q].len == LARGE);
        tp_check(buf[q], LARGE, tp_seed(q, 0, 2));
        OK(c->ops->irecv(c->tp, q, 1, buf[q], SMALL, &rq[q]));
    }
    /* Those receives matched buffered messages at their post: no byte
     * moves, but the progress() that reports them must count them as
     * traffic (transport.h). A waiter that saw none slept on the work they
     * made ready: 50 ms a step where shm and TCP shared a communicator. */
    for (int q = 1, i = 0; q <= nq && i < 100000; i++) {
        const uint64_t before = c->tp->traffic;
        OK(c->ops->progress(c->tp, 0));
        if (rq[q].status != RCOMM_INPROGRESS)
            REQUIREF(c->tp->traffic != before,
                     "%s: progress() reported a receive done, traffic unchanged",
                     c->ops->name);
        while (q <= nq && rq[q].status != RCOMM_INPROGRESS)
            q++;
    }
    tp_wait_ok(c, rq + 1, nq);
    /* TCP reads an unexpected message into its holding buffer and copies it
     * out once; verbs also copies it out of the receive slot on arrival. */
    REQUIRE(c->tp->stats.bytes_copied ==
            heads + (uint64_t)SMALL * nq * (strcmp(c->ops->name, "verbs") == 0 ? 2 : 1));
    for (int q = 1; q <= nq; q++) {
        REQUIRE(rq[q].len == SMALL);
        tp_check(buf[q], SMALL, tp_seed(q, 0, 1));
        free(buf[q]);
    }
    copied = c->tp->stats.bytes_copied;
    for (int q = 1; q <= nq; q++) {
        OK(c->ops->irecv(c->tp, q, 4, buf[q] = tp_xmalloc(HUGE), HUGE, &rq[q]));
        OK(c->ops->isend(c->tp, q, 3, NULL, NULL, 0, &rq[nq + q]));
    }
    tp_wait_ok(c, rq + 1, 2 * nq);
    REQUIRE(c->tp->stats.bytes_copied == copied);
    for (int q = 1; q <= nq; q++) {
        tp_check(buf[q], HUGE, tp_seed(q, 0, 3));
        free(buf[q]);
    }
    tp_barrier(c, 99);
}

/* A message longer than its receive fails that receive with PROTOCOL; the
 * stream goes on (found, buffered and announced cases). */
static void sc_oversize(tp_ctx_t *c)
{
    static const size_t len[] = {4096, 100, 2000, 1 << 20, 50}; /* tags 3..7 */
    tp_req_t rq[5] = {0};
    char *buf[5];

    for (int i = 0; i < 5; i++)
        buf[i] = tp_xmalloc(len[i]);
    if (c->rank == 1) {
        OK(c->ops->irecv(c->tp, 0, 50, NULL, 0, &rq[0]));
        tp_wait_ok(c, rq, 1);
        for (int i = 0; i < 5; i++) {
            tp_fill(buf[i], len[i], tp_seed(1, 0, 3 + i));
            OK(c->ops->isend(c->tp, 0, 3 + i, NULL, buf[i], len[i], &rq[i]));
        }
        tp_wait_ok(c, rq, 5);
    } else {
        OK(c->ops->irecv(c->tp, 1, 3, buf[0], 1024, &rq[0]));
        OK(c->ops->irecv(c->tp, 1, 4, buf[1], 100, &rq[1]));
        OK(c->ops->isend(c->tp, 1, 50, NULL, NULL, 0, &rq[2]));
        tp_expect_fail(c, RCOMM_OK, &rq[0], RCOMM_ERR_PROTOCOL, "sent 4096 bytes");
        REQUIRE(strstr(rcomm_last_error(), "posted for 1024"));
        tp_wait_ok(c, &rq[1], 2);
        tp_check(buf[1], 100, tp_seed(1, 0, 4));
        while (c->nux < 2) /* tag 5 buffered, tag 6 announced */
            tp_progress_for(c, 1);
        OK(c->ops->irecv(c->tp, 1, 5, buf[2], 1000, &rq[2]));
        tp_expect_fail(c, RCOMM_OK, &rq[2], RCOMM_ERR_PROTOCOL, "sent 2000 bytes");
        OK(c->ops->irecv(c->tp, 1, 6, buf[3], 1000, &rq[3]));
        tp_expect_fail(c, RCOMM_OK, &rq[3], RCOMM_ERR_PROTOCOL, "sent 1048576 bytes");
        OK(c->ops->irecv(c->tp, 1, 7, buf[4], 50, &rq[4]));
        tp_wait_ok(c, &rq[4], 1);
        tp_check(buf[4], 50, tp_seed(1, 0, 7));
    }
    for (int i = 0; i < 5; i++)
        free(buf[i]);
    tp_barrier(c, 51);
}

/* A large message nobody has asked for yet holds up nothing behind it: rank
 * 0 receives the small message sent after it first. (Parking it in the socket deadlocked
 * several collectives in flight, each waiting for what the other's message held back.) */
static void sc_overtake(tp_ctx_t *c)
{
    enum { BIG = 8 * MiB, SMALL = 1000 };
    tp_req_t rq[3] = {0};
    char *big = tp_xmalloc(BIG), small[SMALL];

    if (c->rank == 1) {
        tp_fill(big, BIG, tp_seed(1, 0, 10));
        tp_fill(small, SMALL, tp_seed(1, 0, 11));
        OK(c->ops->isend(c->tp, 0, 10, NULL, big, BIG, &rq[0]));
        OK(c->ops->isend(c->tp, 0, 11, NULL, small, SMALL, &rq[1]));
        tp_wait_ok(c, rq, 2);
    } else {
        OK(c->ops->irecv(c->tp, 1, 11, small, SMALL, &rq[1]));
        REQUIREF(tp_wait(c, &rq[1], 20000) == RCOMM_OK,
                 "the small message stayed behind the large one");
        tp_check(small, SMALL, tp_seed(1, 0, 11));
        /* The big one may be reported unexpected only after the small one
         * completes (seen over verbs with completion events, once in CI):
         * what is checked is that it did not hold the small one back. The
         * small one may have come before its receive was posted, and then
         * was reported unexpected too (rank 1 does not wait for us). */
        int big_at = -1;
        for (int ms = 0; big_at < 0 && ms < 20000 * tp_slow(); ms += 10) {
            tp_progress_for(c, 10);
            for (int i = 0; i < c->nux && big_at < 0; i++)
                big_at = c->ux[i].tag == 10 ? i : -1;
        }
        REQUIREF(big_at >= 0, "the large message was never reported (%d reports)",
                 c->nux);
        REQUIREF(c->ux[big_at].len == BIG,
                 "the large message was reported with %zu bytes",
                 (size_t)c->ux[big_at].len);
        for (int i = 0; i < c->nux; i++)
            REQUIREF(i == big_at || c->ux[i].tag == 11,
                     "report %d of %d: unexpected tag %llu", i, c->nux,
                     (unsigned long long)c->ux[i].tag);
        OK(c->ops->irecv(c->tp, 1, 10, big, BIG, &rq[0]));
        tp_wait_ok(c, rq, 1);
        REQUIRE(rq[0].len == BIG);
        tp_check(big, BIG, tp_seed(1, 0, 10));
    }
    free(big);
    tp_barrier(c, 53);
}

/* Cancel withdraws a posted receive (whose message then arrives unexpected),
 * refuses what is not posted, and says INPROGRESS once data is landing. */
static void sc_cancel(tp_ctx_t *c)
{
    tp_req_t rq[4] = {0}, never = {0};
    char small[64], *big = tp_xmalloc(MiB);

    if (c->rank == 1) {
        OK(c->ops->irecv(c->tp, 0, 9, NULL, 0, &rq[0]));
        tp_wait_ok(c, rq, 1);
        tp_fill(small, sizeof(small), tp_seed(1, 0, 5));
        tp_fill(big, MiB, tp_seed(1, 0, 7));
        OK(c->ops->isend(c->tp, 0, 5, NULL, small, sizeof(small), &rq[0]));
        OK(c->ops->isend(c->tp, 0, 6, NULL, NULL, 0, &rq[1]));
        OK(c->ops->isend(c->tp, 0, 7, NULL, big, MiB, &rq[2]));
        tp_wait_ok(c, rq, 3);
    } else {
        memset(&never, 0, sizeof(never));
        REQUIRE(c->ops->cancel(c->tp, &never) == RCOMM_ERR_INVALID_ARG);
        OK(c->ops->irecv(c->tp, 1, 5, small, sizeof(small), &rq[0]));
        OK(c->ops->cancel(c->tp, &rq[0]));
        REQUIRE(c->ops->cancel(c->tp, &rq[0]) == RCOMM_ERR_INVALID_ARG);
        OK(c->ops->irecv(c->tp, 1, 6, NULL, 0, &rq[1]));
        OK(c->ops->isend(c->tp, 1, 9, NULL, NULL, 0, &rq[2]));
        tp_wait_ok(c, &rq[1], 2);
        REQUIRE(rq[0].status == RCOMM_INPROGRESS); /* never completed */
        REQUIRE(c->nux >= 1 && c->ux[0].tag == 5);
        OK(c->ops->irecv(c->tp, 1, 5, small, sizeof(small), &rq[0]));
        tp_wait_ok(c, rq, 1);
        tp_check(small, sizeof(small), tp_seed(1, 0, 5));
        REQUIRE(c->ops->cancel(c->tp, &rq[0]) == RCOMM_ERR_INVALID_ARG);
        while (c->nux < 2)
            tp_progress_for(c, 1);
        /* The announcement is reported when its header arrives. A receive
         * posted before its first bytes are held is still an ordinary
         * posted one, which cancel withdraws (the message stays unexpected);
         * once held, the receive meets it and cancel says INPROGRESS. */
        rcomm_status_t st;
        for (int ms = 0;; ms++) {
            OK(c->ops->irecv(c->tp, 1, 7, big, MiB, &rq[3]));
            if ((st = c->ops->cancel(c->tp, &rq[3])) != RCOMM_OK)
                break;
            REQUIREF(ms < 20000 * tp_slow(), "the announced message was never held");
            tp_progress_for(c, 1);
        }
        REQUIREF(st == RCOMM_INPROGRESS, "cancel of a receive meeting data: %s",
                 rcomm_strerror(st));
        tp_wait_ok(c, &rq[3], 1);
        tp_check(big, MiB, tp_seed(1, 0, 7));
    }
    free(big);
    tp_barrier(c, 52);
}

/* A peer's last message is delivered after it closed: rank 1 sends one and
 * destroys its transport; rank 0, with nothing posted, receives it once
 * the close has had time to arrive. That receive succeeds and reports no
 * error (verbs reported the close there, an error line at many normal
 * exits); one for a message never sent fails with PEER_FAILED. */
static void sc_last_word(tp_ctx_t *c)
{
    char b[64];
    tp_req_t rq = {0};

    if (c->rank == 1) {
        tp_fill(b, sizeof(b), tp_seed(1, 0, 11));
        OK(c->ops->isend(c->tp, 0, 11, NULL, b, sizeof(b), &rq));
        tp_wait_ok(c, &rq, 1);
        c->ops->destroy(c->tp, RCOMM_OK, NULL);
        c->tp = NULL;
        return;
    }
    for (int ms = 0; c->nux < 1; ms++) {
        REQUIREF(ms < 20000 * tp_slow(), "rank 1's message never arrived");
        tp_progress_for(c, 1);
    }
    tp_progress_for(c, 300 * tp_slow()); /* its close follows on the same link */
    base_err_clear();
    OK(c->ops->irecv(c->tp, 1, 11, b, sizeof(b), &rq));
    tp_wait_ok(c, &rq, 1);
    tp_check(b, sizeof(b), tp_seed(1, 0, 11));
    REQUIREF(!rcomm_last_error()[0], "receiving the held message reported: %s",
             rcomm_last_error());
    memset(&rq, 0, sizeof(rq));
    rcomm_status_t st = c->ops->irecv(c->tp, 1, 12, b, sizeof(b), &rq);
    if (st == RCOMM_OK)
        st = tp_wait(c, &rq, 30000 * tp_slow());
    REQUIREF(st == RCOMM_ERR_PEER_FAILED, "a receive from the closed rank 1: %s",
             rcomm_strerror(st));
}

/* Argument checks, and a communicator of one. */
static void sc_args(tp_ctx_t *c)
{
    tp_req_t rq = {0};
    char small[4];
    size_t len = 4;

    tp_caps_t caps;

    /* Capabilities: verbs does one-sided ops and atomics on the HCA, TCP
     * emulates them, shm does puts and gets by cross-memory attach where
     * allowed (never with RCOMM_SHM_CMA=0), and atomics too on memory from
     * tp_heap_alloc, which its peers map under the same permission; a link
     * rate is known or says why not. */
    c->ops->caps(c->tp, &caps);
    if (strcmp(c->ops->name, "shm") == 0)
        REQUIRE((!caps.native_atomics || caps.native_rma) &&
                (c->cfg.shm_cma || !caps.native_rma));
    else
        REQUIRE(caps.native_rma == (strcmp(c->ops->name, "verbs") == 0) &&
                caps.native_atomics == caps.native_rma);
    REQUIRE(caps.link_gbs >= 0 && memchr(caps.link, '\0', sizeof(caps.link)));
    REQUIRE(caps.link_gbs > 0 ? caps.link[0] != '\0'
                              : strncmp(caps.link, "unknown", 7) == 0);
    REQUIRE(c->ops->local_addr(c->tp, small, &len) == RCOMM_ERR_INVALID_ARG);
    REQUIRE(c->ops->isend(c->tp, c->rank, 1, NULL, NULL, 0, &rq) ==
            RCOMM_ERR_INVALID_ARG);
    REQUIRE(c->ops->irecv(c->tp, c->size, 1, NULL, 0, &rq) == RCOMM_ERR_INVALID_ARG);
    REQUIRE(c->ops->irecv(c->tp, -1, 1, NULL, 0, &rq) == RCOMM_ERR_INVALID_ARG);
    OK(c->ops->progress(c->tp, 0));
    if (c->size > 1) {
        REQUIRE(c->ops->isend(c->tp, 1 - c->rank, 1, NULL, NULL, 0, NULL) ==
                RCOMM_ERR_INVALID_ARG);
        REQUIRE(c->ops->irecv(c->tp, 1 - c->rank, 1, NULL, 8, &rq) ==
                RCOMM_ERR_INVALID_ARG);
        REQUIRE(c->ops->connect(c->tp, c->addrs, c->lens) == RCOMM_ERR_INVALID_ARG);
        tp_ping(c, 1 - c->rank, 1, 8);
    }
}

/* The descriptor of wait_fd, once nothing is pending (-1 until then, or for
 * good when the transport sleeps only inside progress()). */
static int settled_fd(tp_ctx_t *c)
{
    int fd = -1;

    for (int i = 0; i < 100 && fd < 0; i++) {
        OK(c->ops->progress(c->tp, 0));
        fd = c->ops->wait_fd(c->tp);
    }
    /* TCP always has its epoll set; verbs has a descriptor with completion
     * events only. */
    REQUIREF(fd >= 0 || (strcmp(c->ops->name, "verbs") == 0 && !c->cfg.ib_poll_event),
             "%s gives no descriptor to wait on", c->ops->name);
    return fd;
}

static bool readable(int fd, int ms)
{
    struct pollfd pfd = {.fd = fd, .events = POLLIN};
    return poll(&pfd, 1, (int)(ms * tp_slow())) == 1 && (pfd.revents & POLLIN);
}

/* An idle transport's descriptor stays quiet; a message for a posted
 * receive makes it readable, and progress() then completes the receive. */
static void sc_wait_fd(tp_ctx_t *c)
{
    tp_req_t rq[2] = {0};
    char msg[32], in[32];
    int fd;

    tp_fill(msg, sizeof(msg), tp_seed(1, 0, 2));
    if (c->rank == 1) {
        OK(c->ops->irecv(c->tp, 0, 1, NULL, 0, &rq[0]));
        tp_wait_ok(c, rq, 1);
        usleep(100000); /* rank 0 is asleep on its descriptor by now */
        OK(c->ops->isend(c->tp, 0, 2, NULL, msg, sizeof(msg), &rq[1]));
        tp_wait_ok(c, &rq[1], 1);
    } else {
        OK(c->ops->irecv(c->tp, 1, 2, in, sizeof(in), &rq[1]));
        if ((fd = settled_fd(c)) >= 0)
            REQUIREF(!readable(fd, 50),
                     "%s: the descriptor of an idle transport is "
                     "readable",
                     c->ops->name);
        OK(c->ops->isend(c->tp, 1, 1, NULL, NULL, 0, &rq[0]));
        tp_wait_ok(c, rq, 1);
        REQUIRE(rq[1].status == RCOMM_INPROGRESS);
        if ((fd = settled_fd(c)) >= 0 && rq[1].status == RCOMM_INPROGRESS) {
            REQUIREF(readable(fd, 10000),
                     "%s: a message arrived for a posted receive "
                     "and the descriptor stayed quiet",
                     c->ops->name);
            for (int i = 0; i < 1000 && rq[1].status == RCOMM_INPROGRESS; i++)
                OK(c->ops->progress(c->tp, 0));
            REQUIREF(rq[1].status == RCOMM_OK, "progress() after the wake-up: %s",
                     rcomm_strerror(rq[1].status));
        }
        tp_wait_ok(c, &rq[1], 1);
        REQUIRE(rq[1].len == sizeof(in));
        tp_check(in, sizeof(in), tp_seed(1, 0, 2));
    }
    tp_barrier(c, 53);
}

/* Instance 0 serves the pairs {2k, 2k+1}, instance 1 the others: with 4
 * ranks each instance has peers on every rank, with 3 rank 2's instance 0
 * serves nobody. */
static int split(int inst, int rank, int q)
{
    return ((rank ^ q) == 1) == (inst == 0);
}

/* Two instances per rank split its peers: traffic flows on each with the
 * peers it serves (in increasing rank order, so no two ranks wait on each
 * other in a cycle), and a post to a peer the other instance serves is
 * refused with a message naming this rank, the transport and the peer. */
static void sc_serves(tp_ctx_t *c)
{
    tp_t *inst[2] = {c->tp, c->tp2};
    tp_rkey_t rk = {0};
    tp_req_t rq = {0};
    char want[160];

    for (int k = 0; k < 2; k++) {
        c->tp = inst[k];
        for (int q = 0; q < c->size; q++) {
            if (q == c->rank)
                continue;
            if (split(k, c->rank, q)) {
                tp_ping(c, q, 10 + (uint64_t)k, 5000);
                tp_ping(c, q, 20 + (uint64_t)k, 100000);
                continue;
            }
            snprintf(want, sizeof(want),
                     "rank %d: %s to rank %d: this %s instance does not serve rank %d",
                     c->rank, strcmp(c->ops->name, "tcp") == 0 ? "isend" : "send", q,
                     c->ops->name, q);
            REQUIRE(c->ops->isend(c->tp, q, 1, NULL, NULL, 0, &rq) ==
                    RCOMM_ERR_INVALID_ARG);
            REQUIREF(strstr(rcomm_last_error(), want), "'%s' is not in the error", want);
            REQUIRE(c->ops->irecv(c->tp, q, 1, NULL, 0, &rq) == RCOMM_ERR_INVALID_ARG);
            REQUIRE(strstr(rcomm_last_error(), "does not serve"));
            REQUIRE(c->ops->put(c->tp, q, NULL, 0, &rk, 0, &rq) == RCOMM_ERR_INVALID_ARG);
            REQUIRE(strstr(rcomm_last_error(), "does not serve"));
        }
        /* Zero-byte exchanges, same order: every peer is done with us. */
        for (int q = 0; q < c->size; q++)
            if (q != c->rank && split(k, c->rank, q))
                tp_ping(c, q, 30 + (uint64_t)k, 0);
    }
    c->tp = inst[0];
}

/* RCOMM_TP_QUICK=1 (the verbs suite under valgrind, tests/rxe_suite.sh, where
 * each group takes seconds) runs each scenario on one group: sendrecv on 3
 * ranks (2 and 5 run the same code with one and four peers), serves on 3
 * (where one instance serves nobody, next to two that serve a peer). */
static int quick(void)
{
    return getenv("RCOMM_TP_QUICK") != NULL;
}

START_TEST(test_sendrecv)
{
    static const int np[] = {2, 3, 5};
    if (quick() && np[_i] != 3)
        return;
    run(np[_i], sc_sendrecv, 0);
}
END_TEST

START_TEST(test_unexpected)
{
    run(3, sc_unexpected, 0);
}
END_TEST

START_TEST(test_oversize)
{
    run(2, sc_oversize, 0);
}
END_TEST

START_TEST(test_cancel)
{
    run(2, sc_cancel, 0);
}
END_TEST

START_TEST(test_overtake)
{
    run(2, sc_overtake, 0);
}
END_TEST

START_TEST(test_wait_fd)
{
    run(2, sc_wait_fd, 0);
}
END_TEST

START_TEST(test_serves)
{
    if (quick() && _i != 0)
        return;
    tp_group_t g = {.transport = tp_transport,
                    .size = 3 + _i,
                    .fn = sc_serves,
                    .absent = -1,
                    .serves = split};
    tp_run_group(&g);
}
END_TEST

START_TEST(test_last_word)
{
    /* Not again under valgrind (quick): the verbs suite's parts without it
     * run it three times, and the receive path it takes is sendrecv's. */
    if (quick())
        return;
    run(2, sc_last_word, 0);
}
END_TEST

START_TEST(test_args)
{
    run(_i + 1, sc_args, 0);
}
END_TEST

void tp_add_twosided_tests(Suite *s)
{
    TCase *tc = tcase_create("two-sided");

    tcase_set_timeout(tc, 120);
    tcase_add_loop_test(tc, test_sendrecv, 0, 3);
    tcase_add_test(tc, test_unexpected);
    tcase_add_test(tc, test_oversize);
    tcase_add_test(tc, test_cancel);
    tcase_add_test(tc, test_overtake);
    tcase_add_test(tc, test_wait_fd);
    tcase_add_loop_test(tc, test_serves, 0, 2);
    tcase_add_test(tc, test_last_word);
    tcase_add_loop_test(tc, test_args, 0, 2);
    suite_add_tcase(s, tc);
}
