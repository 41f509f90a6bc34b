/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Compressed allreduce on every rank of an rcomm-run job (tests/compress.sh).
 *   values    every kind (bf16 and randk also deterministic: by allgather),
 *             counts 0, 1, fewer than k, not divisible by the
 *             chunk, 4099; three steps with error feedback: each rank
 *             simulates every rank's compressor from every rank's inputs and
 *             the result must equal that reference exactly, on every rank,
 *             and so must its own residual; the bytes sent equal those of
 *             the plain collective that carries the encoding
 *   powersgd  (with OpenBLAS) ranks 2 and 4 within 1e-3 of an f64 reference
 *             and identical bits on every rank; with cfg.deterministic,
 *             ranks 2 and 3 equal bit for bit a replay of the library's f32
 *             steps from every rank's inputs, and so does the residual
 *   buckets   every kind through gradient buckets (f32 tensors of 1, 0,
 *             3000 (a 60 x 50 matrix) and 1023 entries, an f64 one between,
 *             several buckets, tensors marked in another order on odd ranks):
 *             three steps, each equal bit for bit to the blocking compressed
 *             allreduce of the same tensors on a second compressor; a rank
 *             without the compressor is a MISMATCH
 *   mismatch  a rank with another config (MISMATCH naming the field), and
 *             ranks that disagree about a tensor's count
 */
#include <config.h> /* the build's: HAVE_OPENBLAS */

#include <math.h>
#include <stdint.h>
#ifdef HAVE_OPENBLAS
#include <cblas.h>
#endif

#include "compress/compress.h"
#include "rank_check.h"
#include "reduce/reduce.h"

static int bad;

/* Rank r's gradient entry i at step s: small integers for the linear kinds
 * (every sum exact in any order, every value exact in 16 bits), sixty-fourths
 * for the others (summed in rank order on every rank and here alike). */
static float grad(int kind, int r, int s, size_t i)
{
    uint64_t h =
        ((uint64_t)r * 1000003u + (uint64_t)s * 7919u + i) * 0x9e3779b97f4a7c15ull;
    h ^= h >> 29;
    if (kind == RCOMM_COMPRESS_TOPK || kind == RCOMM_COMPRESS_SIGN)
        return (float)((int)(h % 2001) - 1000) / 64.0f;
    return (float)((int)(h % 17) - 8);
}

/* What rank r's x decodes to under cfg (the library's pure parts). */
static void decode_mine(const rcomm_compress_config_t *cfg, int tensor, uint64_t call,
                        const float *x, size_t n, size_t k, float *mine, void *scratch)
{
    memset(mine, 0, n * sizeof(float));
    switch (cfg->kind) {
    case RCOMM_COMPRESS_BF16:
        for (size_t i = 0; i < n; i++)
            mine[i] = reduce_bf16_to_f32(reduce_f32_to_bf16(x[i]));
        break;
    case RCOMM_COMPRESS_F16:
        for (size_t i = 0; i < n; i++)
            mine[i] = reduce_f16_to_f32(reduce_f32_to_f16(x[i]));
        break;
    case RCOMM_COMPRESS_RANDK: {
        uint32_t *idx = scratch;
        cmp_randk_indices(cfg->seed, tensor, call, n, k, idx);
        for (size_t j = 0; j < k; j++)
            mine[idx[j]] = x[idx[j]];
        break;
    }
    case RCOMM_COMPRESS_TOPK: {
        uint32_t *idx = scratch;
        float *val = (float *)(idx + n), *scr = val + n;
        cmp_topk_select(x, n, k, idx, val, scr);
        for (size_t j = 0; j < k; j++)
            mine[idx[j]] = val[j];
        break;
    }
    case RCOMM_COMPRESS_SIGN:
        cmp_sign_encode(x, n, cfg->chunk, scratch);
        cmp_sign_decode_add(scratch, n, cfg->chunk, mine);
        break;
    default: break;
    }
}

static uint64_t sent(rcomm_comm_t *comm)
{
    rcomm_stats_t st;
    rcomm_comm_stats(comm, &st);
    return st.bytes_sent;
}

/* Bytes the plain collective that carries a wire-byte encoding sends. */
/* The allreduce the compressor runs: a nonblocking one with rcomm's choice
 * (where every rank shares a host, that one first tells the peers where its
 * buffer is: allreduce_mapped_nb.c). */
static rcomm_status_t plain_allreduce(rcomm_comm_t *comm, void *b, size_t n,
                                      rcomm_dtype_t dt)
{
    rcomm_request_t *req;
    rcomm_status_t st = rcomm_iallreduce(comm, RCOMM_IN_PLACE, b, n, dt, RCOMM_SUM,
                                         RCOMM_ALGO_AUTO, &req);

    return st != RCOMM_OK ? st : rcomm_wait(req);
}

static uint64_t plain_bytes(rcomm_comm_t *comm, const rcomm_compress_config_t *cfg,
                            size_t n, size_t wire)
{
    void *b = calloc(wire ? wire * (size_t)size : 1, 1);
    uint64_t before = sent(comm);
    rcomm_status_t st;

    if (cfg->deterministic) /* every kind's encodings by allgather */
        st = rcomm_allgather(comm, RCOMM_IN_PLACE, b, wire, RCOMM_U8);
    else if (cfg->kind == RCOMM_COMPRESS_BF16 || cfg->kind == RCOMM_COMPRESS_F16)
        st = plain_allreduce(comm, b, n,
                             cfg->kind == RCOMM_COMPRESS_BF16 ? RCOMM_BF16 : RCOMM_F16);
    else if (cfg->kind == RCOMM_COMPRESS_RANDK)
        st = plain_allreduce(comm, b, wire / 4, RCOMM_F32);
    else
        st = rcomm_allgather(comm, RCOMM_IN_PLACE, b, wire, RCOMM_U8);
    if (st != RCOMM_OK)
        FAIL("plain collective: %s", rcomm_last_error());
    free(b);
    return sent(comm) - before;
}

static void values(rcomm_comm_t *comm, rcomm_compress_kind_t kind, size_t kk,
                   double ratio, int det)
{
    const size_t counts[] = {0, 1, 3, 1000, 4099};
    rcomm_compress_config_t cfg;
    rcomm_compressor_t *c;

    rcomm_compress_config_init(&cfg, kind);
    cfg.k = kk;
    cfg.ratio = ratio;
    cfg.seed = 99;
    cfg.chunk = 64;
    cfg.deterministic = det;
    if (expect("create", rcomm_compressor_create(comm, &cfg, &c), RCOMM_OK, NULL)) {
        bad = 1;
        return;
    }
    for (size_t a = 0; a < sizeof(counts) / sizeof(counts[0]); a++) {
        const size_t n = counts[a], k = n ? cmp_keep(c, n) : 0;
        const int tensor = (int)a;
        double *res = calloc((size_t)size * (n ? n : 1), sizeof(double));
        float *buf = malloc((n ? n : 1) * sizeof(float)), *x = malloc((n ? n : 1) * 4),
              *mine = malloc((n ? n : 1) * 4), *ref = malloc((n ? n : 1) * 4);
        void *scratch = malloc(cmp_sign_bytes(n ? n : 1, 1) + 12 * (n ? n : 1));
        for (int s = 0; s < 3; s++) {
            const rcomm_op_t op = s == 2 ? RCOMM_AVG : RCOMM_SUM;
            uint64_t before, got_bytes;
            size_t wire;
            memset(ref, 0, (n ? n : 1) * sizeof(float));
            for (int r = 0; r < size; r++) { /* every rank's compressor, in rank order */
                double *rr = res + (size_t)r * n;
                for (size_t i = 0; i < n; i++) {
                    rr[i] += (double)grad(kind, r, s, i);
                    x[i] = (float)rr[i];
                }
                decode_mine(&cfg, tensor, (uint64_t)s, x, n, k, mine, scratch);
                for (size_t i = 0; i < n; i++) {
                    rr[i] -= (double)mine[i];
                    ref[i] += mine[i];
                }
            }
            if (op == RCOMM_AVG)
                for (size_t i = 0; i < n; i++)
                    ref[i] /= (float)size;
            for (size_t i = 0; i < n; i++)
                buf[i] = grad(kind, rank, s, i);
            before = sent(comm);
            if (expect("rcomm_allreduce_compressed",
                       rcomm_allreduce_compressed(c, tensor, buf, n, op), RCOMM_OK,
                       NULL)) {
                bad = 1;
                break;
            }
            got_bytes = sent(comm) - before;
            for (size_t i = 0; i < n; i++)
                if (memcmp(&buf[i], &ref[i], sizeof(float)) != 0) {
                    FAIL("%s, count %zu, step %d: entry %zu is %.9g, the reference %.9g",
                         rcomm_compress_kind_name(kind), n, s, i, buf[i], ref[i]);
                    break;
                }
            if (n) {
                const double *mr;
                size_t mn;
                rcomm_compress_residual(c, tensor, &mr, &mn);
                if (mn != n || memcmp(mr, res + (size_t)rank * n, n * sizeof(double)))
                    FAIL("%s, count %zu, step %d: the residual differs from the "
                         "reference's",
                         rcomm_compress_kind_name(kind), n, s);
            }
            rcomm_compress_wire_bytes(c, tensor, n, &wire);
            /* (A tensor's first call also agrees on its count.) */
            if (n && s > 0 && got_bytes != plain_bytes(comm, &cfg, n, wire))
                FAIL("%s, count %zu: sent %llu bytes, the plain collective of its %zu "
                     "wire bytes sends another amount",
                     rcomm_compress_kind_name(kind), n, (unsigned long long)got_bytes,
                     wire);
        }
        free(res);
        free(buf);
        free(x);
        free(mine);
        free(ref);
        free(scratch);
    }
    rcomm_compressor_destroy(c);
}

#ifdef HAVE_OPENBLAS
/* PowerSGD's sums go through allreduces of non-integers, so the reference
 * (the same algorithm in f64 from every rank's inputs) is matched to a
 * tolerance; every rank must still hold the same bits. */
static void ref_orth(double *p, size_t rows, size_t r)
{
    for (size_t j = 0; j < r; j++) {
        double norm = 0;
        for (size_t k = 0; k < j; k++) {
            double dot = 0;
            for (size_t i = 0; i < rows; i++)
                dot += p[i * r + j] * p[i * r + k];
            for (size_t i = 0; i < rows; i++)
                p[i * r + j] -= dot * p[i * r + k];
        }
        for (size_t i = 0; i < rows; i++)
            norm += p[i * r + j] * p[i * r + j];
        for (size_t i = 0; i < rows; i++)
            p[i * r + j] /= sqrt(norm);
    }
}

static void powersgd(rcomm_comm_t *comm, int r)
{
    enum { ROWS = 64, COLS = 48, STEPS = 3 };
    const size_t n = ROWS * COLS;
    rcomm_compress_config_t cfg;
    rcomm_compressor_t *c;
    double *res = calloc((size_t)size * n, sizeof(double)), *q = calloc(COLS * r, 8),
           *p = malloc(ROWS * r * 8), *qs = malloc(COLS * r * 8), *ref = malloc(n * 8);
    float *buf = malloc(n * sizeof(float)), *q0 = malloc(COLS * r * sizeof(float));
    uint64_t h, *hs = malloc((size_t)size * 8);

    rcomm_compress_config_init(&cfg, RCOMM_COMPRESS_POWERSGD);
    cfg.lowrank = r;
    cfg.seed = 7;
    if (expect("create", rcomm_compressor_create(comm, &cfg, &c), RCOMM_OK, NULL) ||
        expect("shape", rcomm_compress_shape(c, 0, ROWS, COLS), RCOMM_OK, NULL)) {
        bad = 1;
        return;
    }
    for (int s = 0; s < STEPS; s++) {
        double worst = 0, scale = 0;
        for (size_t i = 0; i < n; i++) /* res holds x = gradient + residual now */
            for (int k = 0; k < size; k++)
                res[(size_t)k * n + i] += (double)grad(RCOMM_COMPRESS_TOPK, k, s, i);
        for (size_t i = 0; i < n; i++)
            buf[i] = grad(RCOMM_COMPRESS_TOPK, rank, s, i);
        if (expect("rcomm_allreduce_compressed (powersgd)",
                   rcomm_allreduce_compressed(c, 0, buf, n, RCOMM_SUM), RCOMM_OK, NULL)) {
            bad = 1;
            break;
        }
        if (s == 0) { /* the first Q, as the library draws it; later, the last sum */
            cmp_powersgd_first_q(q0, (size_t)COLS * r, cfg.seed, 0);
            for (size_t i = 0; i < (size_t)COLS * r; i++)
                q[i] = q0[i];
        }
        memset(p, 0, ROWS * r * 8);
        for (int k = 0; k < size; k++)
            for (size_t i = 0; i < ROWS; i++)
                for (int j = 0; j < r; j++)
                    for (size_t l = 0; l < COLS; l++)
                        p[i * r + j] += res[(size_t)k * n + i * COLS + l] * q[l * r + j];
        ref_orth(p, ROWS, r);
        memset(qs, 0, COLS * r * 8);
        memset(ref, 0, n * 8);
        for (int k = 0; k < size; k++) {
            double *x = res + (size_t)k * n, qk[COLS * 8];
            for (size_t l = 0; l < COLS; l++)
                for (int j = 0; j < r; j++) {
                    double d = 0;
                    for (size_t i = 0; i < ROWS; i++)
                        d += x[i * COLS + l] * p[i * r + j];
                    qk[l * r + j] = d;
                    qs[l * r + j] += d;
                }
            for (size_t i = 0; i < ROWS; i++) /* residual = x - P Q_k^T */
                for (size_t l = 0; l < COLS; l++) {
                    double d = 0;
                    for (int j = 0; j < r; j++)
                        d += p[i * r + j] * qk[l * r + j];
                    x[i * COLS + l] -= d;
                    ref[i * COLS + l] += d;
                }
        }
        memcpy(q, qs, COLS * r * 8);
        for (size_t i = 0; i < n; i++) {
            worst = fmax(worst, fabs((double)buf[i] - ref[i]));
            scale = fmax(scale, fabs(ref[i]));
        }
        if (!(worst <= 1e-3 * scale))
            FAIL("powersgd rank %d, step %d: off the f64 reference by %g of %g", r, s,
                 worst, scale);
        h = 1469598103934665603ull; /* FNV-1a of the result's bits */
        for (size_t i = 0; i < n * sizeof(float); i++)
            h = (h ^ ((unsigned char *)buf)[i]) * 1099511628211ull;
        if (rcomm_allgather(comm, &h, hs, 1, RCOMM_I64) != RCOMM_OK)
            FAIL("allgather of hashes: %s", rcomm_last_error());
        for (int k = 1; k < size; k++)
            if (hs[k] != hs[0])
                FAIL("powersgd: rank %d's result differs from rank 0's", k);
    }
    rcomm_compressor_destroy(c);
    free(res);
    free(q);
    free(p);
    free(qs);
    free(ref);
    free(buf);
    free(q0);
    free(hs);
}
#endif

#ifdef HAVE_OPENBLAS
/* PowerSGD with cfg.deterministic: the sums are in rank order, so the
 * reference replays the library's own f32 steps (the same GEMM calls, the
 * same orthonormalisation) from every rank's x and must match bit for bit,
 * the result and this rank's residual. */
static void powersgd_exact(rcomm_comm_t *comm, int r)
{
    enum { ROWS = 40, COLS = 30, STEPS = 3 };
    const size_t n = ROWS * COLS;
    rcomm_compress_config_t cfg;
    rcomm_compressor_t *c;
    double *res = calloc((size_t)size * n, sizeof(double));
    float *x = malloc(n * 4), *q = malloc(COLS * r * 4), *p = malloc(ROWS * r * 4),
          *pk = malloc(ROWS * r * 4), *qk = malloc(COLS * r * 4),
          *qs = malloc(COLS * r * 4), *mine = malloc(n * 4), *ref = malloc(n * 4),
          *buf = malloc(n * 4);

    rcomm_compress_config_init(&cfg, RCOMM_COMPRESS_POWERSGD);
    cfg.lowrank = r;
    cfg.seed = 11;
    cfg.deterministic = 1;
    if (expect("create", rcomm_compressor_create(comm, &cfg, &c), RCOMM_OK, NULL) ||
        expect("shape", rcomm_compress_shape(c, 0, ROWS, COLS), RCOMM_OK, NULL)) {
        bad = 1;
        return;
    }
    cmp_powersgd_first_q(q, (size_t)COLS * r, cfg.seed, 0);
    for (int s = 0; s < STEPS && !bad; s++) {
        const double *mr;
        size_t mn;
        for (size_t i = 0; i < n; i++)
            buf[i] = grad(RCOMM_COMPRESS_TOPK, rank, s, i);
        if (expect("rcomm_allreduce_compressed (powersgd, deterministic)",
                   rcomm_allreduce_compressed(c, 0, buf, n, RCOMM_SUM), RCOMM_OK, NULL)) {
            bad = 1;
            break;
        }
        memset(p, 0, ROWS * r * 4); /* P = sum of M_k Q, in rank order */
        for (int k = 0; k < size; k++) {
            for (size_t i = 0; i < n; i++) {
                res[(size_t)k * n + i] += (double)grad(RCOMM_COMPRESS_TOPK, k, s, i);
                x[i] = (float)res[(size_t)k * n + i];
            }
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, ROWS, r, COLS, 1.0f, x,
                        COLS, q, r, 0.0f, pk, r);
            for (size_t i = 0; i < (size_t)ROWS * r; i++)
                p[i] += pk[i];
        }
        cmp_powersgd_orthonormalise(p, ROWS, (size_t)r);
        memset(qs, 0, COLS * r * 4);
        for (int k = 0; k < size; k++) { /* Q = sum of M_k^T P; residual -= P Q_k^T */
            for (size_t i = 0; i < n; i++)
                x[i] = (float)res[(size_t)k * n + i];
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, COLS, r, ROWS, 1.0f, x,
                        COLS, p, r, 0.0f, qk, r);
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, ROWS, COLS, r, 1.0f, p,
                        r, qk, r, 0.0f, mine, COLS);
            for (size_t i = 0; i < (size_t)COLS * r; i++)
                qs[i] += qk[i];
            for (size_t i = 0; i < n; i++)
                res[(size_t)k * n + i] -= (double)mine[i];
        }
        memcpy(q, qs, COLS * r * 4);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, ROWS, COLS, r, 1.0f, p, r, q,
                    r, 0.0f, ref, COLS);
        if (memcmp(buf, ref, n * 4) != 0)
            FAIL("powersgd rank %d, deterministic, step %d: the result differs from the "
                 "replayed reference",
                 r, s);
        rcomm_compress_residual(c, 0, &mr, &mn);
        if (mn != n || memcmp(mr, res + (size_t)rank * n, n * sizeof(double)) != 0)
            FAIL("powersgd rank %d, deterministic, step %d: the residual differs", r, s);
    }
    rcomm_compressor_destroy(c);
    free(res), free(x), free(q), free(p), free(pk), free(qk), free(qs);
    free(mine), free(ref), free(buf);
}
#endif

/* Rank r's step-s value for entry i of bucket tensor t: sixty-fourths. */
static float bgrad(int r, int s, int t, size_t i)
{
    return grad(RCOMM_COMPRESS_TOPK, r, s * 8 + t, i);
}

static void buckets(rcomm_comm_t *comm, rcomm_compress_kind_t kind)
{
    enum { NT = 5 };
    static const size_t count[NT] = {1, 3, 0, 3000, 1023};
    static const rcomm_dtype_t dtype[NT] = {RCOMM_F32, RCOMM_F64, RCOMM_F32, RCOMM_F32,
                                            RCOMM_F32};
    const char *name = rcomm_compress_kind_name(kind);
    rcomm_compress_config_t cfg;
    rcomm_compressor_t *c = NULL, *ref = NULL;
    rcomm_buckets_config_t bc;
    rcomm_buckets_t *bk = NULL;
    rcomm_grad_t g[NT];
    float *want[NT];
    double w64[3];

    rcomm_compress_config_init(&cfg, kind);
    cfg.k = 7;
    cfg.seed = 5;
    cfg.chunk = 100;
    if (expect("create", rcomm_compressor_create(comm, &cfg, &c), RCOMM_OK, NULL) ||
        expect("create", rcomm_compressor_create(comm, &cfg, &ref), RCOMM_OK, NULL)) {
        bad = 1;
        return;
    }
    rcomm_compress_shape(c, 3, 60, 50);
    rcomm_compress_shape(ref, 3, 60, 50);
    for (int t = 0; t < NT; t++) {
        g[t] = (rcomm_grad_t){"t", malloc(count[t] * 8 + 8), count[t], dtype[t]};
        want[t] = malloc(count[t] * 4 + 4);
    }
    rcomm_buckets_config_init(&bc);
    bc.first_bucket_bytes = 8;
    bc.bucket_bytes = 6000;
    bc.compressor = c;
    if (expect("rcomm_buckets_create", rcomm_buckets_create(comm, &bc, g, NT, &bk),
               RCOMM_OK, NULL)) {
        bad = 1;
        goto out;
    }
    for (int s = 0; s < 3 && !bad; s++) {
        for (int t = 0; t < NT; t++)
            for (size_t i = 0; i < count[t]; i++) {
                if (dtype[t] == RCOMM_F64)
                    ((double *)g[t].buf)[i] = bgrad(rank, s, t, i);
                else
                    ((float *)g[t].buf)[i] = want[t][i] = bgrad(rank, s, t, i);
            }
        for (int j = 0; j < NT; j++) /* odd ranks mark backwards */
            if (expect("rcomm_buckets_ready",
                       rcomm_buckets_ready(bk, rank % 2 ? NT - 1 - j : j), RCOMM_OK,
                       NULL))
                bad = 1;
        if (expect("rcomm_buckets_wait", rcomm_buckets_wait(bk), RCOMM_OK, NULL))
            bad = 1;
        for (int t = 0; t < NT && !bad; t++) {
            if (dtype[t] == RCOMM_F64)
                continue;
            if (expect("rcomm_allreduce_compressed",
                       rcomm_allreduce_compressed(ref, t, want[t], count[t], RCOMM_AVG),
                       RCOMM_OK, NULL))
                bad = 1;
            for (size_t i = 0; i < count[t] && !bad; i++)
                if (memcmp(&want[t][i], (float *)g[t].buf + i, 4))
                    FAIL("%s buckets, step %d, tensor %d: entry %zu is %.9g, the "
                         "blocking call's %.9g",
                         name, s, t, i, ((float *)g[t].buf)[i], want[t][i]);
        }
        for (size_t i = 0; i < 3; i++) { /* the f64 tensor: a plain average */
            w64[i] = 0;
            for (int r = 0; r < size; r++)
                w64[i] += bgrad(r, s, 1, i);
            if (((double *)g[1].buf)[i] != w64[i] / size)
                FAIL("%s buckets, step %d: f64 entry %zu is %.17g, not %.17g", name, s, i,
                     ((double *)g[1].buf)[i], w64[i] / size);
        }
    }
    rcomm_buckets_destroy(bk);
    bc.compressor = rank == size - 1 ? NULL : c;
    if (size > 1)
        bad |= expect("buckets, the last rank without the compressor",
                      rcomm_buckets_create(comm, &bc, g, NT, &bk), RCOMM_ERR_MISMATCH,
                      "no compressor");
out:
    for (int t = 0; t < NT; t++) {
        free(g[t].buf);
        free(want[t]);
    }
    rcomm_compressor_destroy(c);
    rcomm_compressor_destroy(ref);
}

static void mismatch(rcomm_comm_t *comm)
{
    rcomm_compress_config_t cfg;
    rcomm_compressor_t *c = NULL;
    float buf[64] = {0};

    rcomm_compress_config_init(&cfg, RCOMM_COMPRESS_TOPK);
    if (rank == size - 1)
        cfg.ratio = 0.5;
    bad |= expect("create, other ratio on the last rank",
                  rcomm_compressor_create(comm, &cfg, &c), RCOMM_ERR_MISMATCH, "ratio");
    cfg.ratio = 0.01;
    cfg.deterministic = rank == size - 1;
    if (size > 1)
        bad |= expect("create, deterministic on the last rank only",
                      rcomm_compressor_create(comm, &cfg, &c), RCOMM_ERR_MISMATCH,
                      "deterministic");
    cfg.deterministic = 0;
    for (int kind = 0; kind < RCOMM_COMPRESS_COUNT; kind++) {
        cfg.kind = (rcomm_compress_kind_t)kind;
        if (expect("create", rcomm_compressor_create(comm, &cfg, &c), RCOMM_OK, NULL)) {
            bad = 1;
            return;
        }
        /* The last rank says 63 entries in the tensor's first call. */
        bad |= expect(
            "a first call with another count on the last rank",
            rcomm_allreduce_compressed(c, 0, buf, rank == size - 1 ? 63 : 64, RCOMM_SUM),
            RCOMM_ERR_MISMATCH, "63 entries");
        rcomm_compressor_destroy(c);
    }
}

int main(int argc, char **argv)
{
    const char *mode = argc > 1 ? argv[1] : "values";
    rcomm_comm_t *comm = join();

    if (!strcmp(mode, "values")) {
        values(comm, RCOMM_COMPRESS_BF16, 0, 0.01, 0);
        values(comm, RCOMM_COMPRESS_F16, 0, 0.01, 0);
        values(comm, RCOMM_COMPRESS_RANDK, 5, 0.01, 0);
        values(comm, RCOMM_COMPRESS_RANDK, 0, 0.1, 0);
        values(comm, RCOMM_COMPRESS_TOPK, 5, 0.01, 0);
        values(comm, RCOMM_COMPRESS_TOPK, 0, 0.1, 0);
        values(comm, RCOMM_COMPRESS_SIGN, 0, 0.01, 0);
        values(comm, RCOMM_COMPRESS_BF16, 0, 0.01, 1); /* deterministic: allgather */
        values(comm, RCOMM_COMPRESS_RANDK, 5, 0.01, 1);
#ifdef HAVE_OPENBLAS
    } else if (!strcmp(mode, "powersgd")) {
        powersgd(comm, 2);
        powersgd(comm, 4);
        powersgd_exact(comm, 2);
        powersgd_exact(comm, 3);
#endif
    } else if (!strcmp(mode, "buckets")) {
        for (int kind = 0; kind < RCOMM_COMPRESS_COUNT; kind++)
#ifndef HAVE_OPENBLAS
            if (kind != RCOMM_COMPRESS_POWERSGD)
#endif
                buckets(comm, (rcomm_compress_kind_t)kind);
    } else if (!strcmp(mode, "mismatch")) {
        mismatch(comm);
    } else {
        fprintf(stderr, "usage: compress_check values|powersgd|buckets|mismatch\n");
        return 2;
    }
    rcomm_comm_destroy(comm);
    if (!bad && rank == 0)
        printf("compress_check %s: %d ranks OK\n", mode, size);
    return bad;
}
