/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * PowerSGD (Vogels et al., 2019): a rows x cols gradient M as P Q^T of rank
 * r, one step of subspace iteration per call, warm-started from the last
 * call's Q:
 *   P = M Q          (rows x r)   allreduced (sum), then orthonormalised
 *   Q_i = M^T P      (cols x r)   this rank's; mine = P Q_i^T
 *   Q = sum Q_i                   allreduced, kept for the next call
 *   out = P Q^T = sum over ranks of P Q_i^T
 * So out is the sum of every rank's contribution, as with the other kinds,
 * and error feedback keeps M - P Q_i^T. The first Q is standard normal from
 * (seed, tensor), the same on every rank. GEMMs by OpenBLAS (cblas).
 *   wire = 4 r (rows + cols) bytes per rank, in two allreduces
 * With cfg.deterministic each sum is an allgather added up in rank order.
 * Sent uncompressed (one f32 allreduce, wire 4 n) unless the tensor was
 * declared a matrix with r < min(rows, cols) and r (rows + cols) at most
 * half of rows * cols: below that P and Q are not worth their two rounds.
 */
#include "compress/compress.h"

#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "reduce/reduce.h"

static bool compresses(const rcomm_compressor_t *c, const cmp_tensor_t *t)
{
    const size_t r = (size_t)c->cfg.lowrank;

    return t && t->rows && r < t->rows && r < t->cols &&
           2 * r * (t->rows + t->cols) <= t->rows * t->cols;
}

static size_t wire(const rcomm_compressor_t *c, const cmp_tensor_t *t, size_t n)
{
    return compresses(c, t) ? 4 * (size_t)c->cfg.lowrank * (t->rows + t->cols) : 4 * n;
}

void cmp_powersgd_orthonormalise(float *p, size_t rows, size_t r)
{
    for (size_t j = 0; j < r; j++) {
        double norm = 0;
        for (size_t k = 0; k < j; k++) {
            double dot = 0;
            for (size_t i = 0; i < rows; i++)
                dot += (double)p[i * r + j] * p[i * r + k];
            for (size_t i = 0; i < rows; i++)
                p[i * r + j] -= (float)(dot * p[i * r + k]);
        }
        for (size_t i = 0; i < rows; i++)
            norm += (double)p[i * r + j] * p[i * r + j];
        norm = sqrt(norm);
        for (size_t i = 0; i < rows; i++)
            p[i * r + j] = norm > 1e-30 ? (float)(p[i * r + j] / norm) : 0.0f;
    }
}

void cmp_powersgd_first_q(float *q, size_t len, uint64_t seed, int tensor)
{
    uint64_t s = seed ^ ((uint64_t)(uint32_t)tensor * 0xd6e8feb86659fd93ull);

    for (size_t i = 0; i < len; i += 2) {
        double u1 = ((double)(cmp_splitmix(&s) >> 11) + 1.0) / 9007199254740993.0;
        double u2 = (double)(cmp_splitmix(&s) >> 11) / 9007199254740992.0;
        double m = sqrt(-2.0 * log(u1));
        q[i] = (float)(m * cos(2 * M_PI * u2));
        if (i + 1 < len)
            q[i + 1] = (float)(m * sin(2 * M_PI * u2));
    }
}

/* Sum v (len floats) over the ranks in place: an allreduce, or with
 * cfg.deterministic an allgather into t->all that gathered() then adds up
 * in rank order. */
static rcomm_status_t post_sum(cmp_call_t *k, float *v, size_t len)
{
    rcomm_compressor_t *c = k->c;

    if (c->cfg.deterministic)
        return rcomm_iallgather(c->comm, v, k->t->all, len, RCOMM_F32, &k->req);
    return rcomm_iallreduce(c->comm, RCOMM_IN_PLACE, v, len, RCOMM_F32, RCOMM_SUM,
                            RCOMM_ALGO_AUTO, &k->req);
}

/* After post_sum: v = the sum (a no-op after an allreduce). */
static void gathered(cmp_call_t *k, float *v, size_t len)
{
    const float *all = k->t->all;

    if (!k->c->cfg.deterministic)
        return;
    memset(v, 0, len * sizeof(float));
    for (int r = 0; r < k->c->size; r++)
        reduce_apply(v, v, all + (size_t)r * len, len, RCOMM_F32, RCOMM_SUM);
}

/* Round 0 posts P = M Q; round 1 orthonormalises P and posts Q = sum
 * M^T P; round 2 forms the result. Uncompressed: round 0 posts M, round 1
 * is the result. */
static rcomm_status_t step(cmp_call_t *k)
{
    rcomm_compressor_t *c = k->c;
    cmp_tensor_t *t = k->t;
    const size_t r = (size_t)c->cfg.lowrank, rows = t->rows, cols = t->cols;
    const float *m = t->x;
    float *p = t->enc, *qi = p + rows * r; /* wire bytes: room for P and Q_i */

    if (!compresses(c, t)) {
        if (k->round == 0) {
            memcpy(t->mine, m, k->n * sizeof(float));
            memcpy(k->buf, m, k->n * sizeof(float));
            return post_sum(k, k->buf, k->n);
        }
        gathered(k, k->buf, k->n);
        k->done = true;
        return RCOMM_OK;
    }
    switch (k->round) {
    case 0:
        if (!t->q) {
            if (!(t->q = malloc(cols * r * sizeof(float))))
                return base_err(RCOMM_ERR_NO_MEMORY,
                                "rcomm_allreduce_compressed: rank %d: no memory for "
                                "tensor %d's Q (%zu x %zu)",
                                c->rank, k->tensor, cols, r);
            cmp_powersgd_first_q(t->q, cols * r, c->cfg.seed, k->tensor);
        }
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)rows, (int)r,
                    (int)cols, 1.0f, m, (int)cols, t->q, (int)r, 0.0f, p, (int)r);
        return post_sum(k, p, rows * r);
    case 1:
        gathered(k, p, rows * r);
        cmp_powersgd_orthonormalise(p, rows, r);
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)cols, (int)r, (int)rows,
                    1.0f, m, (int)cols, p, (int)r, 0.0f, qi, (int)r);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)rows, (int)cols, (int)r,
                    1.0f, p, (int)r, qi, (int)r, 0.0f, t->mine, (int)cols);
        memcpy(t->q, qi, cols * r * sizeof(float));
        return post_sum(k, t->q, cols * r);
    default:
        gathered(k, t->q, cols * r);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)rows, (int)cols, (int)r,
                    1.0f, p, (int)r, t->q, (int)r, 0.0f, k->buf, (int)cols);
        k->done = true;
        return RCOMM_OK;
    }
}

const cmp_ops_t cmp_powersgd_ops = {.name = "powersgd",
                                    .linear = true,
                                    .wire_dtype = RCOMM_F32,
                                    .wire_bytes = wire,
                                    .step = step};
