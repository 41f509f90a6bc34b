/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Inputs whose reductions are exact in every rcomm type, even f16 and bf16,
 * and the reference results computed from them without the library's
 * kernels. Shared by the conformance test (tests/coll_check.c) and the
 * benchmarks' #wrong column, so both check the same thing the same way.
 * Element by element first, then whole calls of each collective.
 */
#ifndef RCOMM_EXACT_INPUTS_H
#define RCOMM_EXACT_INPUTS_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "hooks/hooks.h"
#include "rcomm.h"

/* Input of rank r at element i: small integers (|sum| <= 32 on 8 ranks,
 * |product| <= 2^8), negative ones only for signed types. */
static inline int64_t exact_input(int r, size_t i, rcomm_op_t op, rcomm_dtype_t dt)
{
    const int is_signed = dt != RCOMM_U8;

    switch (op) {
    case RCOMM_PROD:
        if (is_signed && (i + (size_t)r) % 5 == 0)
            return -1;
        return (i + (size_t)r) % 3 == 0 ? 2 : 1;
    case RCOMM_MIN:
    case RCOMM_MAX:
        return (int64_t)((i * 7 + (size_t)r * 13) % 23) - (is_signed ? 11 : 0);
    default: return (int64_t)((i * 5 + (size_t)r * 3) % 9) - (is_signed ? 4 : 0);
    }
}

/* Store v, exact by construction, as element i of a buffer of type dt. */
static inline void exact_put(void *buf, size_t i, rcomm_dtype_t dt, double v)
{
    switch (dt) {
    case RCOMM_F32: ((float *)buf)[i] = (float)v; break;
    case RCOMM_F64: ((double *)buf)[i] = v; break;
    case RCOMM_F16: ((uint16_t *)buf)[i] = reduce_f32_to_f16((float)v); break;
    case RCOMM_BF16: ((uint16_t *)buf)[i] = reduce_f32_to_bf16((float)v); break;
    case RCOMM_I32: ((int32_t *)buf)[i] = (int32_t)v; break;
    case RCOMM_I64: ((int64_t *)buf)[i] = (int64_t)v; break;
    case RCOMM_U8: ((uint8_t *)buf)[i] = (uint8_t)(int64_t)v; break;
    default: abort();
    }
}

static inline double exact_get(const void *buf, size_t i, rcomm_dtype_t dt)
{
    switch (dt) {
    case RCOMM_F32: return ((const float *)buf)[i];
    case RCOMM_F64: return ((const double *)buf)[i];
    case RCOMM_F16: return reduce_f16_to_f32(((const uint16_t *)buf)[i]);
    case RCOMM_BF16: return reduce_bf16_to_f32(((const uint16_t *)buf)[i]);
    case RCOMM_I32: return ((const int32_t *)buf)[i];
    case RCOMM_I64: return (double)((const int64_t *)buf)[i];
    case RCOMM_U8: return ((const uint8_t *)buf)[i];
    default: abort();
    }
}

/* Every input, and so every expected element, repeats along i with a period
 * that divides this (15 for PROD, 23 for MIN and MAX, 9 otherwise): buffers
 * are written one period at a time and copied on, so that a check of a
 * large call costs memcpy, not a switch per element (under ASan and in the
 * VM this was most of the conformance suites' time). */
#define EXACT_PERIOD 1035u

/* buf holds its first min(n, EXACT_PERIOD) elements: repeat them up to n. */
static inline void exact_repeat(void *buf, size_t n, rcomm_dtype_t dt)
{
    const size_t es = rcomm_dtype_size(dt);

    for (size_t done = EXACT_PERIOD; done < n; done *= 2)
        memcpy((char *)buf + done * es, buf, (n - done < done ? n - done : done) * es);
}

static inline void exact_fill(void *buf, size_t n, int r, rcomm_op_t op, rcomm_dtype_t dt)
{
    for (size_t i = 0; i < n && i < EXACT_PERIOD; i++)
        exact_put(buf, i, dt, (double)exact_input(r, i, op, dt));
    exact_repeat(buf, n, dt);
}

/* Data that a collective only moves (broadcast, allgather): rank r's element
 * i. The MIN inputs: 23 values in every type, so that a block from the wrong
 * rank or at the wrong offset shows, as in tests/coll_check.c. */
static inline void exact_fill_moved(void *buf, size_t n, int r, rcomm_dtype_t dt)
{
    exact_fill(buf, n, r, RCOMM_MIN, dt);
}

/* ref[at] = rank r's element i of exact_fill_moved(). */
static inline void exact_moved(void *ref, size_t i, size_t at, int r, rcomm_dtype_t dt)
{
    exact_put(ref, at, dt, (double)exact_input(r, i, RCOMM_MIN, dt));
}

/* The byte that fills receive buffers before a checked call (as in
 * tests/coll_check.c): a non-integer in the float types, far too large in
 * i32 and i64, 90 in u8 (only a u8 sum on 12 or more ranks could make it),
 * so an element that a collective never wrote is counted wrong. */
#define EXACT_POISON 0x5a

/* ref[at] = the reduction over size ranks of element i. */
static inline void exact_expect(void *ref, size_t i, size_t at, rcomm_op_t op,
                                rcomm_dtype_t dt, int size)
{
    int64_t acc = exact_input(0, i, op, dt);
    const int is_float =
        dt == RCOMM_F32 || dt == RCOMM_F64 || dt == RCOMM_F16 || dt == RCOMM_BF16;

    for (int r = 1; r < size; r++) {
        int64_t x = exact_input(r, i, op, dt);
        switch (op) {
        case RCOMM_PROD: acc *= x; break;
        case RCOMM_MIN: acc = x < acc ? x : acc; break;
        case RCOMM_MAX: acc = x > acc ? x : acc; break;
        default: acc += x; break;
        }
    }
    if (dt == RCOMM_U8)
        acc = (uint8_t)acc; /* u8 arithmetic wraps at every step */
    if (op != RCOMM_AVG)
        exact_put(ref, at, dt, (double)acc);
    else if (!is_float)
        exact_put(ref, at, dt, (double)(acc / size));
    else if (dt == RCOMM_F64)
        exact_put(ref, at, dt, (double)acc / size);
    else /* f32, f16, bf16 divide in f32 */
        exact_put(ref, at, dt, (double)((float)acc / (float)size));
}

/* ref[k] = the reduction over size ranks of element first + k, k < n. */
static inline void exact_expect_range(void *ref, size_t first, size_t n, rcomm_op_t op,
                                      rcomm_dtype_t dt, int size)
{
    for (size_t k = 0; k < n && k < EXACT_PERIOD; k++)
        exact_expect(ref, first + k, k, op, dt, size);
    exact_repeat(ref, n, dt);
}

/* ---- whole calls ---------------------------------------------------------- */

typedef enum {
    EXACT_ALLREDUCE,
    EXACT_BROADCAST,
    EXACT_ALLGATHER,
    EXACT_REDUCE_SCATTER,
    EXACT_REDUCE,
    EXACT_GATHER,
    EXACT_SCATTER,
    EXACT_ALLTOALL,
    EXACT_SENDRECV, /* rcomm_sendrecv to rank + 1, from rank - 1 */
    EXACT_COLL_COUNT
} exact_coll_t;

/* One call of a collective, as every rank makes it. */
typedef struct {
    exact_coll_t coll;
    rcomm_dtype_t dt;
    rcomm_op_t op; /* allreduce, reduce-scatter, reduce */
    int root;      /* broadcast, reduce, gather, scatter */
    int rank, size;
    size_t count; /* the count argument */
} exact_call_t;

/*
 * Where each call's input goes and what its result is (n = count, p ranks,
 * r = this rank; "moved(q, j)": rank q's element j of exact_fill_moved, the
 * data a collective only moves; "reduced(j)": exact_expect of element j).
 * In place, the input is in rbuf where rcomm.h wants it:
 *   allreduce      in n: exact_fill            out n: reduced(i)
 *   broadcast      root in n: moved(root, i)   out n: moved(root, i)
 *   allgather      in n (in place: at r * n)   out p * n: moved(i / n, i % n)
 *   reduce-scatter in p * n: exact_fill        out n (in place: at r * n):
 *                                              reduced(r * n + i)
 *   reduce         in n: exact_fill            out n, root: reduced(i); the
 *                                              others: rbuf untouched
 *   gather         in n (in place: at r * n)   out p * n, root: moved(i / n,
 *                                              i % n); the others: untouched
 *   scatter        root in p * n: moved(root,  out n (in place: at r * n):
 *                  j) for j < p * n            moved(root, r * n + i)
 *   alltoall       in p * n: moved(r, j)       out p * n: moved(i / n,
 *                                              r * n + i % n)
 *   sendrecv       in n: moved(r, i)           out n: moved(r - 1 mod p, i)
 * "Untouched": rcomm.h says recvbuf matters on the root only, so the other
 * ranks' receive buffers must come back as they were, poison and (in place)
 * their own input, as nccl-tests checks them. A scattered or all-to-all
 * vector is indexed across its blocks, so a block from the wrong place
 * shows (unless n is a multiple of 23, the period of the moved values).
 */

/* Elements of the send buffer (in place: of the input in the receive buffer). */
static inline size_t exact_send_elems(const exact_call_t *c)
{
    switch (c->coll) {
    case EXACT_REDUCE_SCATTER:
    case EXACT_SCATTER:
    case EXACT_ALLTOALL: return c->count * (size_t)c->size;
    default: return c->count;
    }
}

/* Elements of the result that exact_count_wrong checks. */
static inline size_t exact_recv_elems(const exact_call_t *c)
{
    switch (c->coll) {
    case EXACT_ALLGATHER:
    case EXACT_GATHER:
    case EXACT_ALLTOALL: return c->count * (size_t)c->size;
    default: return c->count;
    }
}

/* Where the result starts in the receive buffer, in elements. */
static inline size_t exact_result_at(const exact_call_t *c, int in_place)
{
    const int at_rank = c->coll == EXACT_REDUCE_SCATTER || c->coll == EXACT_SCATTER;

    return in_place && at_rank ? (size_t)c->rank * c->count : 0;
}

/* Poison the receive buffer (all that the input or the result of the call
 * occupies), then put this rank's input where rcomm.h wants it: in sbuf out
 * of place, in rbuf in place (see the table above). */
static inline void exact_fill_call(const exact_call_t *c, void *sbuf, void *rbuf,
                                   int in_place)
{
    const size_t es = rcomm_dtype_size(c->dt), block = c->count * es,
                 sn = exact_send_elems(c), rn = exact_recv_elems(c);
    char *in = in_place ? (char *)rbuf : (char *)sbuf;
    const int root = c->rank == c->root;

    memset(rbuf, EXACT_POISON, (sn > rn ? sn : rn) * es);
    switch (c->coll) {
    case EXACT_BROADCAST:
        if (root)
            exact_fill_moved(in, c->count, c->root, c->dt);
        break;
    case EXACT_ALLGATHER:
    case EXACT_GATHER:
        exact_fill_moved(in + (in_place ? (size_t)c->rank * block : 0), c->count, c->rank,
                         c->dt);
        break;
    case EXACT_SCATTER:
        if (root)
            exact_fill_moved(in, sn, c->root, c->dt);
        break;
    case EXACT_ALLTOALL:
    case EXACT_SENDRECV: exact_fill_moved(in, sn, c->rank, c->dt); break;
    default: exact_fill(in, sn, c->rank, c->op, c->dt); break;
    }
}

/* ref[0] = element i of this rank's result (from exact_result_at). */
static inline void exact_expect_call(const exact_call_t *c, size_t i, int in_place,
                                     void *ref)
{
    const size_t n = c->count, es = rcomm_dtype_size(c->dt);
    const int r = c->rank, p = c->size, root = r == c->root;

    switch (c->coll) {
    case EXACT_ALLREDUCE: exact_expect(ref, i, 0, c->op, c->dt, p); break;
    case EXACT_BROADCAST: exact_moved(ref, i, 0, c->root, c->dt); break;
    case EXACT_ALLGATHER: exact_moved(ref, i % n, 0, (int)(i / n), c->dt); break;
    case EXACT_REDUCE_SCATTER:
        exact_expect(ref, (size_t)r * n + i, 0, c->op, c->dt, p);
        break;
    case EXACT_REDUCE:
        if (root)
            exact_expect(ref, i, 0, c->op, c->dt, p);
        else if (in_place)
            exact_put(ref, 0, c->dt, (double)exact_input(r, i, c->op, c->dt));
        else
            memset(ref, EXACT_POISON, es);
        break;
    case EXACT_GATHER:
        if (root || (in_place && i / n == (size_t)r))
            exact_moved(ref, i % n, 0, (int)(i / n), c->dt);
        else
            memset(ref, EXACT_POISON, es);
        break;
    case EXACT_SCATTER: exact_moved(ref, (size_t)r * n + i, 0, c->root, c->dt); break;
    case EXACT_ALLTOALL:
        exact_moved(ref, (size_t)r * n + i % n, 0, (int)(i / n), c->dt);
        break;
    default: exact_moved(ref, i, 0, (r + p - 1) % p, c->dt); break; /* sendrecv */
    }
}

/* Elements of this rank's result that differ from the expected ones. The
 * result is in rbuf, at exact_result_at. */
static inline size_t exact_count_wrong(const exact_call_t *c, const void *rbuf,
                                       int in_place)
{
    const size_t es = rcomm_dtype_size(c->dt), total = exact_recv_elems(c);
    /* The result is blocks of count elements, each periodic along its
     * elements: one period of each is computed, the rest compared with it. */
    const size_t block = c->count ? c->count : 1;
    const char *got = (const char *)rbuf + exact_result_at(c, in_place) * es;
    unsigned char want[EXACT_PERIOD * 8];
    size_t wrong = 0;

    for (size_t b = 0; b < total; b += block) {
        const size_t n = total - b < block ? total - b : block;
        for (size_t j = 0; j < n && j < EXACT_PERIOD; j++)
            exact_expect_call(c, b + j, in_place, want + j * es);
        for (size_t j = 0; j < n; j += EXACT_PERIOD) {
            const size_t k = n - j < EXACT_PERIOD ? n - j : EXACT_PERIOD;
            const char *g = got + (b + j) * es;
            if (memcmp(g, want, k * es) == 0)
                continue;
            for (size_t e = 0; e < k; e++)
                wrong += memcmp(g + e * es, want + e * es, es) != 0;
        }
    }
    return wrong;
}

#endif
