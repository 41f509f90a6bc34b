/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Gradient compression (rcomm.h): the compressor object (compress.c) and one
 * file per kind behind a small ops table. Built on the public collectives.
 *
 * A call runs: x = gradient + residual (in f64, then rounded to f32); the
 * kind's rounds of nonblocking collectives combine x across ranks into the
 * caller's buffer and leave in `mine` what this rank's x decodes to;
 * residual = (gradient + residual) - mine.
 * So after T calls, the sum of what a rank contributed plus its residual is
 * the sum of its gradients (error feedback telescopes, to f64 rounding).
 */
#ifndef RCOMM_COMPRESS_H
#define RCOMM_COMPRESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rcomm.h"

typedef struct {
    size_t n;          /* entries, fixed at the first call */
    size_t rows, cols; /* rcomm_compress_shape; 0: a vector */
    float *q;          /* PowerSGD: Q (cols x lowrank), kept between calls */
    /* n entries; NULL without error feedback. In f64, so that rounding
     * x = gradient + residual to f32 loses nothing either. */
    double *residual;
    uint64_t calls; /* calls so far: random-k's stream position */
    bool busy;      /* a call is in flight */
    /* Scratch of the call in flight, sized at the first call: */
    float *x, *mine; /* n: what this call compresses; what ours decodes to */
    void *enc, *all; /* ops->wire_bytes; when gathering, size times that */
    uint32_t *idx;   /* random-k: the indices, from encode to decode */
} cmp_tensor_t;

struct rcomm_compressor {
    rcomm_comm_t *comm;
    int rank, size;
    rcomm_compress_config_t cfg;
    const struct cmp_ops *ops;
    /* By tensor number, allocated when first named (calls in flight point
     * at them); n == 0: no call yet. */
    cmp_tensor_t **t;
    int nt;
};

/* One compressed allreduce, started by cmp_start and completed by
 * cmp_finish; cmp_test moves its collective along in between. */
typedef struct cmp_call {
    rcomm_compressor_t *c;
    int tensor;
    cmp_tensor_t *t;
    float *buf; /* in: the gradient (read by cmp_start); out: the result */
    size_t n;
    rcomm_op_t op;
    int round;            /* rounds done: the collective in flight is number round */
    bool done;            /* the last round is done: buf holds the sum */
    rcomm_request_t *req; /* the collective in flight, or NULL */
    rcomm_status_t status;
} cmp_call_t;

/* A kind. The default rounds (compress.c) combine the encodings: a linear
 * kind's by an allreduce (SUM) of wire_dtype elements, then one decode; any
 * other's (and a linear one's with cfg.deterministic) by an allgather, then
 * a decode_add of each rank's in rank order, so that every rank adds the
 * same numbers in the same order. */
typedef struct cmp_ops {
    const char *name;
    bool linear;
    rcomm_dtype_t wire_dtype; /* linear: what the allreduce sums */
    /* Bytes of one rank's encoding of n entries (t: the tensor's shape, or
     * NULL for a vector). */
    size_t (*wire_bytes)(const rcomm_compressor_t *c, const cmp_tensor_t *t, size_t n);
    /* enc = the encoding of x (n); mine = what it decodes to. mine may be
     * used as n floats of scratch before that. */
    void (*encode)(rcomm_compressor_t *c, int tensor, cmp_tensor_t *t, const float *x,
                   size_t n, void *enc, float *mine);
    /* out += decoded enc. enc may come from another rank (r): PROTOCOL when
     * it does not fit n entries, never an access outside out. */
    rcomm_status_t (*decode_add)(const rcomm_compressor_t *c, const cmp_tensor_t *t,
                                 const void *enc, size_t n, float *out, int r);
    /* Optional, instead of the above (PowerSGD's two rounds): with round
     * collectives done, compute from them and post the next one into
     * k->req; after the last, set buf to the sum over ranks, t->mine to
     * ours, and k->done. Posts only in the order cmp_finish calls it, so
     * that every rank posts the same collectives in the same order. */
    rcomm_status_t (*step)(cmp_call_t *k);
} cmp_ops_t;

extern const cmp_ops_t cmp_bf16_ops, cmp_f16_ops, cmp_randk_ops, cmp_topk_ops,
    cmp_sign_ops, cmp_powersgd_ops;

/* The random stream of random-k and PowerSGD's first Q (splitmix64). */
static inline uint64_t cmp_splitmix(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* compress.c: entries kept by random-k and top-k for n entries. */
size_t cmp_keep(const rcomm_compressor_t *c, size_t n);
/* compress.c: t's scratch for calls on n entries (t->x, mine, enc, all,
 * idx); cmp_tensor_free releases it and the rest of t. */
rcomm_status_t cmp_tensor_alloc(const rcomm_compressor_t *c, cmp_tensor_t *t, size_t n);
void cmp_tensor_free(cmp_tensor_t *t);

/* compress.c: a compressed allreduce of tensor i (buf, n, SUM or AVG) in
 * steps, for rcomm_allreduce_compressed and gradient buckets. cmp_start
 * checks the arguments, adds the residual and posts the first collective;
 * cmp_test moves the collective in flight along without posting another
 * (RCOMM_INPROGRESS until it lands); cmp_finish runs the remaining rounds
 * to the end, in order, then keeps the residual and returns the call's
 * status. A call whose cmp_start failed needs no cmp_finish. One call per
 * tensor at a time; buf stays the caller's only after cmp_finish. */
rcomm_status_t cmp_start(rcomm_compressor_t *c, int i, float *buf, size_t n,
                         rcomm_op_t op, const char *fn, cmp_call_t *k);
rcomm_status_t cmp_test(cmp_call_t *k);
rcomm_status_t cmp_finish(cmp_call_t *k);
/* compress.c: a PROTOCOL error for an encoding from rank r that does not
 * fit (the value is bounded, never trusted). */
rcomm_status_t cmp_bad_encoding(const rcomm_compressor_t *c, int r, const char *what);

/* The kinds' pure parts, for tests and the reference they compare with. */

/* topk.c: the k entries of x (n) of largest magnitude, ties to the lower
 * index, as indices ascending in idx and their values in val; scratch holds
 * n floats. */
void cmp_topk_select(const float *x, size_t n, size_t k, uint32_t *idx, float *val,
                     float *scratch);
/* topk.c: the same by a sampled threshold (Deep Gradient Compression's) as
 * a shortlist, for k <= n / 4: false, with nothing selected, when the
 * shortlist missed (too few candidates) or overflowed (8 k, ties); then
 * cmp_topk_select's full selection is needed. */
bool cmp_topk_select_sampled(const float *x, size_t n, size_t k, uint32_t *idx,
                             float *val, float *scratch);
/* randk.c: k distinct indices in [0, n), ascending, from (seed, tensor,
 * call): the same on every rank. */
void cmp_randk_indices(uint64_t seed, int tensor, uint64_t call, size_t n, size_t k,
                       uint32_t *idx);
/* sign.c: the bytes of an encoding of n entries in chunks of `chunk` (the
 * f32 scales, mean |x| per chunk, then one bit per entry, 1: negative);
 * encode; and decode_add: out += decoded. */
size_t cmp_sign_bytes(size_t n, size_t chunk);
void cmp_sign_encode(const float *x, size_t n, size_t chunk, unsigned char *enc);
void cmp_sign_decode_add(const unsigned char *enc, size_t n, size_t chunk, float *out);

/* Whether a call combines encodings by an allgather and a sum in rank
 * order (non-linear kinds, or deterministic) rather than an allreduce. */
static inline bool cmp_gathers(const rcomm_compressor_t *c)
{
    return !c->ops->linear || c->cfg.deterministic;
}

/* powersgd.c: columns of P (rows x r, row-major) orthonormal, by modified
 * Gram-Schmidt with f64 sums; a column that vanishes stays zero. */
void cmp_powersgd_orthonormalise(float *p, size_t rows, size_t r);
/* powersgd.c: a tensor's first Q (len entries), standard normal (Box-Muller)
 * from (seed, tensor): the same on every rank. */
void cmp_powersgd_first_q(float *q, size_t len, uint64_t seed, int tensor);

#endif
