/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * coll_set_check's point-to-point cases, and requests of every kind in
 * flight at once. Messages carry moved data keyed by (sender, receiver, tag,
 * sequence number), so a message matched to the wrong receive shows. Every
 * rank takes part in each case (on one rank only sendrecv with itself).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "coll_set.h"

static int right(int k)
{
    return (rank + k) % size;
}

static int left(int k)
{
    return ((rank - k) % size + size) % size;
}

static uint64_t msg_key(int from, int to, int tag, int seq)
{
    return 6000000 + ((uint64_t)from * 4099 + (uint64_t)to) * 1000003 +
           (uint64_t)tag * 31 + (uint64_t)seq;
}

/* A message of n elements of dt from `from` to `to`: its send buffer (the
 * sender's), a poisoned receive buffer and the expected contents. */
typedef struct {
    char *send, *recv, *ref, *orig;
    size_t n, bytes;
    rcomm_dtype_t dt;
} msg_t;

static void msg_init(msg_t *m, rcomm_dtype_t dt, size_t n, uint64_t skey, uint64_t rkey)
{
    m->dt = dt;
    m->n = n;
    m->bytes = n * rcomm_dtype_size(dt);
    m->send = guarded(m->bytes);
    m->recv = guarded(m->bytes);
    m->ref = malloc(m->bytes + 1);
    moved_fill(m->send, n, skey, dt);
    moved_fill(m->ref, n, rkey, dt);
    m->orig = snapshot(m->send, m->bytes);
}

static void msg_free(msg_t *m)
{
    guarded_free(m->send);
    guarded_free(m->recv);
    free(m->ref);
    free(m->orig);
}

/* The message arrived whole, nothing around it was written, the input is
 * unchanged; then free it. */
static void msg_check(msg_t *m, const char *what)
{
    compare(what, m->recv, m->ref, m->n, m->dt);
    unchanged(what, m->send, m->orig, m->bytes);
    guards_ok(what, m->send, m->bytes);
    guards_ok(what, m->recv, m->bytes);
    msg_free(m);
}

/* Ring shifts by sendrecv: rank r sends c(r) elements to r + k and receives
 * c(r - k) from r - k (on one rank, both itself). Counts differ per rank. */
static void ring_sendrecv(rcomm_comm_t *comm, rcomm_dtype_t dt, size_t n, int k, int tag)
{
    const int dst = right(k), src = left(k);
    const size_t sn = n ? n + (size_t)rank % 3 : 0, rn = n ? n + (size_t)src % 3 : 0;
    msg_t s, r;
    char what[160];

    snprintf(what, sizeof(what), "sendrecv %s n=%zu to rank %d from rank %d tag %d",
             rcomm_dtype_name(dt), n, dst, src, tag);
    /* s: what this rank sends (its receive buffer unused), r: what it gets. */
    msg_init(&s, dt, sn, msg_key(rank, dst, tag, 0), 0);
    msg_init(&r, dt, rn, 0, msg_key(src, rank, tag, 0));
    check_status(what, rcomm_sendrecv(comm, s.send, sn, dst, r.recv, rn, src, dt, tag));
    compare(what, r.recv, r.ref, rn, dt);
    unchanged(what, s.send, s.orig, s.bytes);
    guards_ok(what, s.send, s.bytes);
    guards_ok(what, r.recv, r.bytes);
    msg_free(&s);
    msg_free(&r);
}

/* Neighbour swap: pairs (0 1) (2 3) ..., dst == src; a rank left without a
 * partner swaps with itself. */
static void swap(rcomm_comm_t *comm, rcomm_dtype_t dt, size_t n)
{
    const int peer = (rank ^ 1) < size ? rank ^ 1 : rank;
    msg_t m;
    char what[160];

    snprintf(what, sizeof(what), "sendrecv swap %s n=%zu with rank %d",
             rcomm_dtype_name(dt), n, peer);
    msg_init(&m, dt, n, msg_key(rank, peer, 3, 0), msg_key(peer, rank, 3, 0));
    check_status(what, rcomm_sendrecv(comm, m.send, n, peer, m.recv, n, peer, dt, 3));
    msg_check(&m, what);
}

/* Blocking send and recv around the ring: rank 0 sends first, the others
 * receive first, so that it works whether or not a send waits. */
static void ring_blocking(rcomm_comm_t *comm, rcomm_dtype_t dt, size_t n, int tag)
{
    const int dst = right(1), src = left(1);
    msg_t m;
    char what[160];

    snprintf(what, sizeof(what), "send/recv ring %s n=%zu (%zu bytes) tag %d",
             rcomm_dtype_name(dt), n, n * rcomm_dtype_size(dt), tag);
    msg_init(&m, dt, n, msg_key(rank, dst, tag, 0), msg_key(src, rank, tag, 0));
    if (rank == 0)
        check_status(what, rcomm_send(comm, m.send, n, dt, dst, tag));
    check_status(what, rcomm_recv(comm, m.recv, n, dt, src, tag));
    if (rank != 0)
        check_status(what, rcomm_send(comm, m.send, n, dt, dst, tag));
    msg_check(&m, what);
}

/* Both directions at once with isend / irecv, completed by rcomm_test. */
static void ring_nonblocking(rcomm_comm_t *comm, rcomm_dtype_t dt, size_t n)
{
    msg_t m[2];
    rcomm_request_t *req[4];
    char what[160];

    snprintf(what, sizeof(what), "isend/irecv both ways %s n=%zu", rcomm_dtype_name(dt),
             n);
    msg_init(&m[0], dt, n, msg_key(rank, right(1), 8, 0), msg_key(left(1), rank, 8, 0));
    msg_init(&m[1], dt, n, msg_key(rank, left(1), 9, 0), msg_key(right(1), rank, 9, 0));
    check_status(what, rcomm_irecv(comm, m[0].recv, n, dt, left(1), 8, &req[0]));
    check_status(what, rcomm_isend(comm, m[0].send, n, dt, right(1), 8, &req[1]));
    check_status(what, rcomm_isend(comm, m[1].send, n, dt, left(1), 9, &req[2]));
    check_status(what, rcomm_irecv(comm, m[1].recv, n, dt, right(1), 9, &req[3]));
    for (int k = 0; k < 4; k++)
        complete(what, req[k], 2);
    msg_check(&m[0], what);
    msg_check(&m[1], what);
}

/* Many messages with one tag, of sizes that alternate between tiny and
 * large (a large one may travel differently), arrive in the order sent. */
static void same_tag_in_order(rcomm_comm_t *comm)
{
    enum { M = 24 };
    const size_t sizes[4] = {1, quick ? 40000 : 300000, 0, 17};
    const int dst = right(1), src = left(1), tag = 77;
    rcomm_request_t *req[M];
    msg_t m[M];
    char what[160];

    for (int k = 0; k < M; k++) {
        msg_init(&m[k], RCOMM_I32, sizes[k % 4], msg_key(rank, dst, tag, k),
                 msg_key(src, rank, tag, k));
        check_status("isend same tag",
                     rcomm_isend(comm, m[k].send, m[k].n, RCOMM_I32, dst, tag, &req[k]));
    }
    for (int k = 0; k < M; k++) {
        snprintf(what, sizeof(what), "same tag %d: message %d of %d (%zu elements)", tag,
                 k, M, m[k].n);
        check_status(what, rcomm_recv(comm, m[k].recv, m[k].n, RCOMM_I32, src, tag));
    }
    for (int k = 0; k < M; k++) {
        snprintf(what, sizeof(what), "same tag %d: message %d of %d (%zu elements)", tag,
                 k, M, m[k].n);
        complete(what, req[k], 1 + k % 2);
        msg_check(&m[k], what);
    }
}

/* One tag from two peers (p >= 3), received in the opposite order to the
 * one they were sent in: a receive takes only its own peer's message. */
static void same_tag_two_peers(rcomm_comm_t *comm)
{
    const size_t nr = quick ? 30000 : 300000, nl = 3; /* to the right, to the left */
    const int tag = 55;
    rcomm_request_t *req[2];
    msg_t m[2];

    if (size < 3)
        return;
    msg_init(&m[0], RCOMM_F32, nr, msg_key(rank, right(1), tag, 0),
             msg_key(left(1), rank, tag, 0));
    msg_init(&m[1], RCOMM_F32, nl, msg_key(rank, left(1), tag, 0),
             msg_key(right(1), rank, tag, 0));
    check_status("isend tag 55 right",
                 rcomm_isend(comm, m[0].send, nr, RCOMM_F32, right(1), tag, &req[0]));
    check_status("isend tag 55 left",
                 rcomm_isend(comm, m[1].send, nl, RCOMM_F32, left(1), tag, &req[1]));
    check_status("recv tag 55 from the right",
                 rcomm_recv(comm, m[1].recv, nl, RCOMM_F32, right(1), tag));
    check_status("recv tag 55 from the left",
                 rcomm_recv(comm, m[0].recv, nr, RCOMM_F32, left(1), tag));
    complete("isend tag 55 right", req[0], 1);
    complete("isend tag 55 left", req[1], 2);
    msg_check(&m[0], "tag 55 from the left");
    msg_check(&m[1], "tag 55 from the right");
}

/* Messages with different tags (0 and RCOMM_TAG_MAX among them) and sizes,
 * all sent before any receive, received in the reverse order. */
static void tags_reversed(rcomm_comm_t *comm)
{
    enum { K = 8 };
    const int tags[K] = {
        0, 1, 2, 1000, 65536, 123456789, RCOMM_TAG_MAX - 1, RCOMM_TAG_MAX};
    const size_t n[K] = {5, 0, 1, 2000, 3, quick ? 20000 : 200000, 64, 7};
    const int dst = right(1), src = left(1);
    rcomm_request_t *req[K];
    msg_t m[K];
    char what[160];

    for (int k = 0; k < K; k++) {
        rcomm_dtype_t dt = (rcomm_dtype_t)(k % RCOMM_DTYPE_COUNT);
        msg_init(&m[k], dt, n[k], msg_key(rank, dst, tags[k], 0),
                 msg_key(src, rank, tags[k], 0));
        check_status("isend tags",
                     rcomm_isend(comm, m[k].send, n[k], dt, dst, tags[k], &req[k]));
    }
    for (int k = K - 1; k >= 0; k--) {
        snprintf(what, sizeof(what), "tag %d received after the later tags (%s n=%zu)",
                 tags[k], rcomm_dtype_name(m[k].dt), n[k]);
        check_status(what, rcomm_recv(comm, m[k].recv, n[k], m[k].dt, src, tags[k]));
    }
    for (int k = 0; k < K; k++) {
        snprintf(what, sizeof(what), "tag %d received after the later tags (%s n=%zu)",
                 tags[k], rcomm_dtype_name(m[k].dt), n[k]);
        complete(what, req[k], 1);
        msg_check(&m[k], what);
    }
}

/* Empty messages: NULL buffers, and a real receive buffer that must stay
 * poison. */
static void zero_length(rcomm_comm_t *comm)
{
    const int dst = right(1), src = left(1);
    char *buf = guarded(16);
    rcomm_request_t *req;

    check_status("isend 0 elements (NULL)",
                 rcomm_isend(comm, NULL, 0, RCOMM_F64, dst, 5, &req));
    check_status("recv 0 elements (NULL)", rcomm_recv(comm, NULL, 0, RCOMM_F64, src, 5));
    complete("isend 0 elements (NULL)", req, 1);
    check_status("isend 0 elements", rcomm_isend(comm, buf, 0, RCOMM_U8, dst, 6, &req));
    check_status("recv 0 elements", rcomm_recv(comm, buf, 0, RCOMM_U8, src, 6));
    complete("isend 0 elements", req, 2);
    untouched("recv 0 elements: buffer", buf, 16);
    guards_ok("recv 0 elements", buf, 16);
    check_status("sendrecv 0 elements",
                 rcomm_sendrecv(comm, NULL, 0, dst, buf, 0, src, RCOMM_BF16, 7));
    untouched("sendrecv 0 elements: buffer", buf, 16);
    guarded_free(buf);
}

void test_p2p(rcomm_comm_t *comm)
{
    const size_t counts[] = {0, 1, (size_t)size, 1009};

    /* dst == src == self: a copy, on every rank. */
    for (int dt = 0; dt < RCOMM_DTYPE_COUNT; dt++)
        for (int c = 0; c < 4; c++)
            ring_sendrecv(comm, (rcomm_dtype_t)dt, counts[c], 0, dt);
    if (size == 1)
        return;
    for (int dt = 0; dt < RCOMM_DTYPE_COUNT; dt++) {
        for (int c = 0; c < 4; c++)
            ring_sendrecv(comm, (rcomm_dtype_t)dt, counts[c], 1, 100 + dt);
        ring_sendrecv(comm, (rcomm_dtype_t)dt, counts[dt % 4], size - 1, 200 + dt);
        swap(comm, (rcomm_dtype_t)dt, counts[(dt + 1) % 4]);
        ring_nonblocking(comm, (rcomm_dtype_t)dt, counts[(dt + 2) % 4]);
    }
    ring_sendrecv(comm, RCOMM_F32, 300000, size / 2, 9); /* > 1 MiB */
    ring_blocking(comm, RCOMM_F64, 1, 1);
    ring_blocking(comm, RCOMM_F64, 150001, 2); /* > 1 MiB */
    if (!quick)
        ring_blocking(comm, RCOMM_U8, 5000011, 3);
    ring_nonblocking(comm, RCOMM_BF16, 600000); /* > 1 MiB */
    same_tag_in_order(comm);
    same_tag_two_peers(comm);
    tags_reversed(comm);
    zero_length(comm);
}

/* ---- everything in flight at once ------------------------------------- */

/* One request of test_in_flight and what to check once it is done: got
 * against want (n elements), or nothing (got NULL). */
typedef struct {
    const char *what;
    rcomm_request_t *req;
    const char *got, *want;
    size_t n;
    rcomm_dtype_t dt;
} flight_t;

/*
 * Nonblocking collectives of every kind posted together with point-to-point
 * messages in both directions around the ring (one over 1 MiB), completed
 * by sweeping rcomm_test over them from the newest until all are done, then
 * checked. Receive buffers are guarded; their guards are checked too.
 */
void test_in_flight(rcomm_comm_t *comm)
{
    enum { MAXF = 12, NR = 1009, NG = 5, NS = 7, NA = 3, NBIG = 300000 };
    const int p = size, root_r = 0, root_g = p - 1, root_s = p / 2;
    const size_t P = (size_t)p;
    flight_t f[MAXF];
    msg_t m[2];
    int nf = 0, pending;
    size_t *cnt = calloc(4 * P, sizeof(size_t)), *vc = cnt, *sc = cnt + P,
           *rc = cnt + 2 * P;
    size_t vtotal = 0, stotal = 0, rtotal = 0, at;
    /* reduce i64 PROD; gather bf16; scatter u8; alltoall f64; allgatherv i32;
     * alltoallv f16 */
    char *red_s = guarded(NR * 8), *red_r = guarded(NR * 8), *red_ref = malloc(NR * 8);
    char *g_s = guarded(NG * 2), *g_r = guarded(NG * 2 * P), *g_ref = malloc(NG * 2 * P);
    char *s_s = guarded(NS * P), *s_r = guarded(NS), *s_ref = malloc(NS * P);
    char *a_r = guarded(NA * 8 * P), *a_ref = malloc(NA * 8 * P);
    char *v_s, *v_r, *v_ref, *w_s, *w_r, *w_ref;

    for (int q = 0; q < p; q++) {
        vc[q] = (size_t)q % 3 * 11;
        sc[q] = (size_t)(rank + 2 * q) % 3 * 5; /* rank -> q */
        rc[q] = (size_t)(q + 2 * rank) % 3 * 5; /* q -> rank */
        vtotal += vc[q];
        stotal += sc[q];
        rtotal += rc[q];
    }
    v_s = guarded(vc[rank] * 4);
    v_r = guarded(vtotal * 4);
    v_ref = malloc(vtotal * 4 + 1);
    w_s = guarded(stotal * 2);
    w_r = guarded(rtotal * 2);
    w_ref = malloc(rtotal * 2 + 1);

    if (p > 1) {
        msg_init(&m[0], RCOMM_F32, NR, msg_key(rank, right(1), 11, 0),
                 msg_key(left(1), rank, 11, 0));
        msg_init(&m[1], RCOMM_F32, NBIG, msg_key(rank, left(1), 12, 0),
                 msg_key(right(1), rank, 12, 0));
        f[nf] = (flight_t){
            "in flight: irecv tag 11", NULL, m[0].recv, m[0].ref, NR, RCOMM_F32};
        check_status(f[nf].what, rcomm_irecv(comm, m[0].recv, NR, RCOMM_F32, left(1), 11,
                                             &f[nf].req));
        nf++;
    }

    exact_fill(red_s, NR, rank, RCOMM_PROD, RCOMM_I64);
    for (size_t i = 0; i < NR; i++)
        exact_expect(red_ref, i, i, RCOMM_PROD, RCOMM_I64, p);
    f[nf] = (flight_t){"in flight: ireduce i64 prod",
                       NULL,
                       rank == root_r ? red_r : NULL,
                       red_ref,
                       NR,
                       RCOMM_I64};
    check_status(f[nf].what, rcomm_ireduce(comm, red_s, rank == root_r ? red_r : NULL, NR,
                                           RCOMM_I64, RCOMM_PROD, root_r, &f[nf].req));
    nf++;

    for (int q = 0; q < p; q++)
        moved_fill(g_ref + (size_t)q * NG * 2, NG, 7000 + (uint64_t)q, RCOMM_BF16);
    if (rank == root_g) /* in place */
        memcpy(g_r + (size_t)rank * NG * 2, g_ref + (size_t)rank * NG * 2, NG * 2);
    else
        moved_fill(g_s, NG, 7000 + (uint64_t)rank, RCOMM_BF16);
    f[nf] = (flight_t){"in flight: igather bf16 in place",
                       NULL,
                       rank == root_g ? g_r : NULL,
                       g_ref,
                       NG * P,
                       RCOMM_BF16};
    check_status(f[nf].what, rcomm_igather(comm, rank == root_g ? RCOMM_IN_PLACE : g_s,
                                           g_r, NG, RCOMM_BF16, root_g, &f[nf].req));
    nf++;

    if (p > 1) {
        f[nf] = (flight_t){"in flight: isend tag 11", NULL, NULL, NULL, 0, RCOMM_F32};
        check_status(f[nf].what, rcomm_isend(comm, m[0].send, NR, RCOMM_F32, right(1), 11,
                                             &f[nf].req));
        nf++;
    }

    for (int q = 0; q < p; q++)
        moved_fill(s_ref + (size_t)q * NS, NS, 8000 + (uint64_t)q, RCOMM_U8);
    if (rank == root_s)
        memcpy(s_s, s_ref, NS * P);
    /* In place at the root: its block stays in sendbuf. */
    f[nf] = (flight_t){"in flight: iscatter u8 in place",
                       NULL,
                       rank == root_s ? s_s : s_r,
                       rank == root_s ? s_ref : s_ref + (size_t)rank * NS,
                       rank == root_s ? NS * P : NS,
                       RCOMM_U8};
    check_status(f[nf].what, rcomm_iscatter(comm, rank == root_s ? s_s : NULL,
                                            rank == root_s ? RCOMM_IN_PLACE : s_r, NS,
                                            RCOMM_U8, root_s, &f[nf].req));
    nf++;

    for (int q = 0; q < p; q++) {
        moved_fill(a_r + (size_t)q * NA * 8, NA, 9000 + (uint64_t)(rank * p + q),
                   RCOMM_F64);
        moved_fill(a_ref + (size_t)q * NA * 8, NA, 9000 + (uint64_t)(q * p + rank),
                   RCOMM_F64);
    }
    f[nf] = (flight_t){
        "in flight: ialltoall f64 in place", NULL, a_r, a_ref, NA * P, RCOMM_F64};
    check_status(f[nf].what,
                 rcomm_ialltoall(comm, RCOMM_IN_PLACE, a_r, NA, RCOMM_F64, &f[nf].req));
    nf++;

    at = 0;
    for (int q = 0; q < p; q++) {
        moved_fill(v_ref + at * 4, vc[q], 10000 + (uint64_t)q, RCOMM_I32);
        at += vc[q];
    }
    moved_fill(v_s, vc[rank], 10000 + (uint64_t)rank, RCOMM_I32);
    f[nf] = (flight_t){"in flight: iallgatherv i32", NULL, v_r, v_ref, vtotal, RCOMM_I32};
    check_status(f[nf].what, rcomm_iallgatherv(comm, v_s, vc[rank], v_r, vc, NULL,
                                               RCOMM_I32, &f[nf].req));
    nf++;

    at = 0;
    for (int q = 0; q < p; q++) {
        moved_fill(w_s + at * 2, sc[q], 11000 + (uint64_t)(rank * p + q), RCOMM_F16);
        at += sc[q];
    }
    at = 0;
    for (int q = 0; q < p; q++) {
        moved_fill(w_ref + at * 2, rc[q], 11000 + (uint64_t)(q * p + rank), RCOMM_F16);
        at += rc[q];
    }
    f[nf] = (flight_t){"in flight: ialltoallv f16", NULL, w_r, w_ref, rtotal, RCOMM_F16};
    check_status(f[nf].what, rcomm_ialltoallv(comm, w_s, sc, NULL, w_r, rc, NULL,
                                              RCOMM_F16, &f[nf].req));
    nf++;

    if (p > 1) {
        f[nf] = (flight_t){
            "in flight: isend tag 12 (> 1 MiB)", NULL, NULL, NULL, 0, RCOMM_F32};
        check_status(f[nf].what, rcomm_isend(comm, m[1].send, NBIG, RCOMM_F32, left(1),
                                             12, &f[nf].req));
        nf++;
        f[nf] = (flight_t){"in flight: irecv tag 12 (> 1 MiB)",
                           NULL,
                           m[1].recv,
                           m[1].ref,
                           NBIG,
                           RCOMM_F32};
        check_status(f[nf].what, rcomm_irecv(comm, m[1].recv, NBIG, RCOMM_F32, right(1),
                                             12, &f[nf].req));
        nf++;
    }

    /* Blocking calls while all that is in flight: a reduce and a ring
     * shift. */
    {
        float x = (float)rank, sum = 0, want = (float)(p * (p - 1) / 2);
        check_status("in flight: blocking reduce",
                     rcomm_reduce(comm, &x, &sum, 1, RCOMM_F32, RCOMM_SUM, root_g));
        if (rank == root_g)
            compare("in flight: blocking reduce", &sum, &want, 1, RCOMM_F32);
        x = (float)rank;
        want = (float)left(1);
        check_status(
            "in flight: blocking sendrecv",
            rcomm_sendrecv(comm, &x, 1, right(1), &sum, 1, left(1), RCOMM_F32, 11));
        compare("in flight: blocking sendrecv (tag 11, as an irecv in flight)", &sum,
                &want, 1, RCOMM_F32);
    }

    do { /* sweep from the newest */
        pending = 0;
        for (int k = nf - 1; k >= 0; k--) {
            rcomm_status_t st;
            if (!f[k].req)
                continue;
            if ((st = rcomm_test(f[k].req)) == RCOMM_INPROGRESS) {
                pending++;
                continue;
            }
            check_status(f[k].what, st);
            f[k].req = NULL;
        }
    } while (pending);

    for (int k = 0; k < nf; k++)
        if (f[k].got)
            compare(f[k].what, f[k].got, f[k].want, f[k].n, f[k].dt);
    if (rank != root_g)
        untouched("in flight: igather: non-root recvbuf", g_r, NG * 2 * P);
    if (rank == root_s)
        untouched("in flight: iscatter: root recvbuf (not passed)", s_r, NS);
    else
        untouched("in flight: iscatter: non-root sendbuf (not passed)", s_s, NS * P);
    guards_ok("in flight: ireduce recvbuf", red_r, NR * 8);
    guards_ok("in flight: igather recvbuf", g_r, NG * 2 * P);
    guards_ok("in flight: iscatter recvbuf", s_r, NS);
    guards_ok("in flight: ialltoall recvbuf", a_r, NA * 8 * P);
    guards_ok("in flight: iallgatherv recvbuf", v_r, vtotal * 4);
    guards_ok("in flight: ialltoallv recvbuf", w_r, rtotal * 2);
    for (int k = 0; k < 2 && p > 1; k++)
        msg_check(&m[k], k ? "in flight: tag 12 (> 1 MiB)" : "in flight: tag 11");
    guarded_free(red_s);
    guarded_free(red_r);
    guarded_free(g_s);
    guarded_free(g_r);
    guarded_free(s_s);
    guarded_free(s_r);
    guarded_free(a_r);
    guarded_free(v_s);
    guarded_free(v_r);
    guarded_free(w_s);
    guarded_free(w_r);
    free(red_ref);
    free(g_ref);
    free(s_ref);
    free(a_ref);
    free(v_ref);
    free(w_ref);
    free(cnt);
}
