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

static inline void exact_fill(void *buf, size_t n, int r, rcomm_op_t op, rcomm_dtype_t dt)
{
    for (size_t i = 0; i < n; i++)
        exact_put(buf, i, dt, (double)exact_input(r, i, op, dt));
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

/* ---- whole calls ---------------------------------------------------------- */

typedef enum {
    EXACT_ALLREDUCE,
    EXACT_BROADCAST,
    EXACT_ALLGATHER,
    EXACT_REDUCE_SCATTER,
    EXACT_COLL_COUNT
} exact_coll_t;

/* One call of a collective, as every rank makes it. */
typedef struct {
    exact_coll_t coll;
    rcomm_dtype_t dt;
    rcomm_op_t op; /* allreduce, reduce-scatter */
    int root;      /* broadcast */
    int rank, size;
    size_t count; /* the count argument */
} exact_call_t;

/* Elements of the send and the receive buffer. */
static inline size_t exact_send_elems(const exact_call_t *c)
{
    return c->coll == EXACT_REDUCE_SCATTER ? c->count * (size_t)c->size : c->count;
}

static inline size_t exact_recv_elems(const exact_call_t *c)
{
    return c->coll == EXACT_ALLGATHER ? c->count * (size_t)c->size : c->count;
}

/* Poison the receive buffer, then put this rank's input where rcomm.h wants
 * it: in sbuf out of place (for broadcast, the root's only), in place in
 * rbuf (allgather: this rank's block of it). */
static inline void exact_fill_call(const exact_call_t *c, void *sbuf, void *rbuf,
                                   int in_place)
{
    const size_t es = rcomm_dtype_size(c->dt), block = c->count * es;
    char *in = in_place ? (char *)rbuf : (char *)sbuf;

    memset(rbuf, EXACT_POISON, exact_recv_elems(c) * es);
    switch (c->coll) {
    case EXACT_BROADCAST:
        if (c->rank == c->root)
            exact_fill_moved(in, c->count, c->root, c->dt);
        break;
    case EXACT_ALLGATHER:
        exact_fill_moved(in + (in_place ? (size_t)c->rank * block : 0), c->count, c->rank,
                         c->dt);
        break;
    default: exact_fill(in, exact_send_elems(c), c->rank, c->op, c->dt); break;
    }
}

/* ref[0] = element i of this rank's result. */
static inline void exact_expect_call(const exact_call_t *c, size_t i, void *ref)
{
    const size_t n = c->count;

    switch (c->coll) {
    case EXACT_ALLREDUCE: exact_expect(ref, i, 0, c->op, c->dt, c->size); break;
    case EXACT_BROADCAST: exact_moved(ref, i, 0, c->root, c->dt); break;
    case EXACT_ALLGATHER: exact_moved(ref, i % n, 0, (int)(i / n), c->dt); break;
    default: exact_expect(ref, (size_t)c->rank * n + i, 0, c->op, c->dt, c->size); break;
    }
}

/* Elements of this rank's result that differ from the expected ones. The
 * result is in rbuf, but for reduce-scatter in place at rbuf + rank * count. */
static inline size_t exact_count_wrong(const exact_call_t *c, const void *rbuf,
                                       int in_place)
{
    const size_t es = rcomm_dtype_size(c->dt), total = exact_recv_elems(c);
    const char *got = (const char *)rbuf;
    unsigned char want[8];
    size_t wrong = 0;

    if (in_place && c->coll == EXACT_REDUCE_SCATTER)
        got += (size_t)c->rank * c->count * es;
    for (size_t i = 0; i < total; i++) {
        exact_expect_call(c, i, want);
        wrong += memcmp(got + i * es, want, es) != 0;
    }
    return wrong;
}

#endif
