/* SPDX-License-Identifier: BSD-3-Clause */
/* Unit tests of the compressors' mathematics (src/compress/): selection,
 * shared indices, exact decoding, wire sizes, and error feedback on one rank. */
#include <config.h> /* the build's: HAVE_OPENBLAS */

#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "compress/compress.h"
#include "reduce/reduce.h"
#include "suite_run.h"

static uint64_t rng = 42;
static uint64_t next(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

/* Brute force: is entry i among the k kept, by (|x| desc, index asc)? An
 * entry j beats i if |x_j| > |x_i|, or equal and j < i (NaN as largest). */
static float mag(float v)
{
    return v == v ? fabsf(v) : INFINITY;
}
static int kept_by_rule(const float *x, size_t n, size_t k, size_t i)
{
    size_t beaten = 0;
    for (size_t j = 0; j < n; j++)
        beaten += mag(x[j]) > mag(x[i]) || (mag(x[j]) == mag(x[i]) && j < i);
    return beaten < k;
}

START_TEST(topk_is_exact_with_ties)
{
    const size_t ns[] = {1, 2, 7, 64, 1000};
    for (size_t a = 0; a < sizeof(ns) / sizeof(ns[0]); a++) {
        size_t n = ns[a];
        float *x = malloc(n * sizeof(float)), *val = malloc(n * sizeof(float)),
              *scr = malloc(n * sizeof(float));
        uint32_t *idx = malloc(n * sizeof(uint32_t));
        for (int trial = 0; trial < 20; trial++) {
            /* Few distinct magnitudes, both signs: many ties; a NaN now and then. */
            for (size_t i = 0; i < n; i++)
                x[i] = (float)((int)(next() % 9) - 4) * (trial % 2 ? 0.5f : 1.0f);
            if (trial % 5 == 4)
                x[next() % n] = NAN;
            for (size_t k = 1; k <= n; k = k < 4 ? k + 1 : k * 3) {
                cmp_topk_select(x, n, k, idx, val, scr);
                for (size_t j = 0; j < k; j++) {
                    ck_assert_uint_lt(idx[j], n);
                    if (j)
                        ck_assert_uint_lt(idx[j - 1], idx[j]); /* ascending, distinct */
                    ck_assert(kept_by_rule(x, n, k, idx[j]));
                    ck_assert(memcmp(&val[j], &x[idx[j]], sizeof(float)) == 0);
                }
            }
        }
        free(x);
        free(val);
        free(scr);
        free(idx);
    }
}
END_TEST

/* The reference for large n: indices sorted by (|x| desc, index asc), the
 * first k of them, ascending. */
static const float *sort_x;
static int by_rule(const void *a, const void *b)
{
    const uint32_t i = *(const uint32_t *)a, j = *(const uint32_t *)b;
    const float u = mag(sort_x[i]), v = mag(sort_x[j]);
    return u > v ? -1 : u < v ? 1 : (i > j) - (i < j);
}
static int ascending(const void *a, const void *b)
{
    const uint32_t i = *(const uint32_t *)a, j = *(const uint32_t *)b;
    return (i > j) - (i < j);
}

/* The sampled shortlist: continuous values (it must hit), ties (it may
 * give up), and always the exact rule's result through cmp_topk_select. */
START_TEST(topk_sampled_is_exact)
{
    const size_t n = 100000, ks[] = {256, 1000, 3125};
    float *x = malloc(n * sizeof(float)), *val = malloc(n * sizeof(float)),
          *scr = malloc(n * sizeof(float));
    uint32_t *idx = malloc(n * sizeof(uint32_t)), *ref = malloc(n * sizeof(uint32_t));
    int hits = 0;

    for (int trial = 0; trial < 6; trial++) {
        for (size_t i = 0; i < n; i++) /* 2^24 levels, or 5 (ties) */
            x[i] = trial < 4 ? (float)((int)(next() % (1u << 24)) - (1 << 23)) / 1024.0f
                             : (float)((int)(next() % 5) - 2);
        if (trial == 3)
            x[next() % n] = NAN;
        for (size_t a = 0; a < sizeof(ks) / sizeof(ks[0]); a++) {
            const size_t k = ks[a];
            for (size_t i = 0; i < n; i++)
                ref[i] = (uint32_t)i;
            sort_x = x;
            qsort(ref, n, sizeof(uint32_t), by_rule);
            qsort(ref, k, sizeof(uint32_t), ascending);
            if (cmp_topk_select_sampled(x, n, k, idx, val, scr)) {
                hits++;
                ck_assert(memcmp(idx, ref, k * sizeof(uint32_t)) == 0);
            }
            ck_assert_msg(trial >= 4 || hits, "the shortlist missed continuous values");
            cmp_topk_select(x, n, k, idx, val, scr);
            ck_assert(memcmp(idx, ref, k * sizeof(uint32_t)) == 0);
            for (size_t j = 0; j < k; j++)
                ck_assert(memcmp(&val[j], &x[idx[j]], sizeof(float)) == 0);
        }
    }
    ck_assert_int_ge(hits, 10);
    free(x);
    free(val);
    free(scr);
    free(idx);
    free(ref);
}
END_TEST

START_TEST(randk_indices_are_shared_and_distinct)
{
    const size_t n = 1000;
    uint32_t a[1000], b[1000], c[1000];
    for (size_t k = 1; k <= n; k = k * 7 + 1) {
        cmp_randk_indices(7, 3, 11, n, k, a);
        cmp_randk_indices(7, 3, 11, n, k, b); /* what another rank computes */
        ck_assert(memcmp(a, b, k * sizeof(uint32_t)) == 0);
        for (size_t j = 0; j < k; j++) {
            ck_assert_uint_lt(a[j], n);
            if (j)
                ck_assert_uint_lt(a[j - 1], a[j]);
        }
    }
    cmp_randk_indices(7, 3, 11, n, n, a); /* k = n: everything */
    for (size_t j = 0; j < n; j++)
        ck_assert_uint_eq(a[j], j);
    /* The next call and another tensor draw other indices. */
    cmp_randk_indices(7, 3, 11, n, 10, a);
    cmp_randk_indices(7, 3, 12, n, 10, b);
    cmp_randk_indices(7, 4, 11, n, 10, c);
    ck_assert(memcmp(a, b, 10 * sizeof(uint32_t)) != 0);
    ck_assert(memcmp(a, c, 10 * sizeof(uint32_t)) != 0);
}
END_TEST

START_TEST(sign_decodes_exactly)
{
    const size_t n = 1003, chunks[] = {1, 8, 64, 1000, 5000};
    float x[1003], out[1003];
    unsigned char enc[8192];
    for (size_t i = 0; i < n; i++)
        x[i] = (float)((int)(next() % 2001) - 1000) / 64.0f;
    x[5] = 0.0f;
    x[6] = -0.0f;
    for (size_t a = 0; a < sizeof(chunks) / sizeof(chunks[0]); a++) {
        size_t ch = chunks[a], nch = (n + ch - 1) / ch;
        ck_assert_uint_eq(cmp_sign_bytes(n, ch), 4 * nch + (n + 7) / 8);
        cmp_sign_encode(x, n, ch, enc);
        for (size_t i = 0; i < n; i++)
            out[i] = 1.0f;
        cmp_sign_decode_add(enc, n, ch, out);
        for (size_t o = 0; o < n; o += ch) {
            size_t len = n - o < ch ? n - o : ch;
            double sum = 0;
            for (size_t i = o; i < o + len; i++)
                sum += fabs((double)x[i]);
            float scale = (float)(sum / (double)len);
            for (size_t i = o; i < o + len; i++)
                ck_assert_float_eq(out[i], 1.0f + (x[i] < 0 ? -scale : scale));
        }
    }
}
END_TEST

/* One rank: the compressed allreduce delivers exactly what this rank's x
 * decodes to, so error feedback can be checked against the inputs alone. */
static rcomm_comm_t *one_rank(void)
{
    rcomm_comm_t *comm = NULL;
    ck_assert_int_eq(rcomm_comm_create(0, 1, NULL, &comm), RCOMM_OK);
    return comm;
}

START_TEST(error_feedback_telescopes)
{
    rcomm_comm_t *comm = one_rank();
    const size_t ns[] = {1, 3, 1000};
    for (int kind = 0; kind < RCOMM_COMPRESS_COUNT; kind++) {
        for (size_t a = 0; a < sizeof(ns) / sizeof(ns[0]); a++) {
            const size_t n = ns[a];
            rcomm_compress_config_t cfg;
            rcomm_compressor_t *c;
            double *in = calloc(n, sizeof(double)), *got = calloc(n, sizeof(double));
            float *g = malloc(n * sizeof(float));
            const double *res;
            size_t rn;

            rcomm_compress_config_init(&cfg, (rcomm_compress_kind_t)kind);
            cfg.ratio = 0.1;
            cfg.chunk = 16;
            cfg.seed = 5;
            ck_assert_int_eq(rcomm_compressor_create(comm, &cfg, &c), RCOMM_OK);
            if (kind == RCOMM_COMPRESS_POWERSGD && n == 1000) /* a matrix it compresses */
                ck_assert_int_eq(rcomm_compress_shape(c, 2, 40, 25), RCOMM_OK);
            for (int step = 0; step < 50; step++) {
                for (size_t i = 0; i < n; i++) {
                    /* Not representable in 16 bits: rounding has work to do. */
                    g[i] = (float)((double)(int64_t)(next() % 2000001 - 1000000) / 3e5);
                    in[i] += g[i];
                }
                ck_assert_int_eq(rcomm_allreduce_compressed(c, 2, g, n, RCOMM_SUM),
                                 RCOMM_OK);
                for (size_t i = 0; i < n; i++)
                    got[i] += g[i];
            }
            ck_assert_int_eq(rcomm_compress_residual(c, 2, &res, &rn), RCOMM_OK);
            ck_assert_ptr_nonnull(res);
            ck_assert_uint_eq(rn, n);
            double worst = 0, scale = 0;
            for (size_t i = 0; i < n; i++) {
                worst = fmax(worst, fabs(got[i] + res[i] - in[i]));
                scale = fmax(scale, fabs(in[i]));
            }
            ck_assert_msg(worst <= 1e-12 * fmax(scale, 1.0),
                          "%s, n %zu: delivered + residual is off the inputs by %g",
                          rcomm_compress_kind_name(cfg.kind), n, worst);
            ck_assert_int_eq(rcomm_compressor_destroy(c), RCOMM_OK);
            free(in);
            free(got);
            free(g);
        }
    }
    rcomm_comm_destroy(comm);
}
END_TEST

#ifdef HAVE_OPENBLAS
/* A matrix of rank r comes back whole from one PowerSGD step of rank r:
 * P = M Q spans M's columns, and P P^T M = M (to f32 rounding). */
START_TEST(powersgd_reproduces_a_rank_r_matrix)
{
    rcomm_comm_t *comm = one_rank();
    const size_t rows = 64, cols = 48;
    float m[64 * 48], got[64 * 48];
    double u[2][64], v[2][48], worst = 0, scale = 0;
    rcomm_compress_config_t cfg;
    rcomm_compressor_t *c;
    size_t b;

    for (int k = 0; k < 2; k++) {
        for (size_t i = 0; i < rows; i++)
            u[k][i] = (double)((int)(next() % 201) - 100) / 50;
        for (size_t j = 0; j < cols; j++)
            v[k][j] = (double)((int)(next() % 201) - 100) / 50;
    }
    for (size_t i = 0; i < rows; i++)
        for (size_t j = 0; j < cols; j++)
            m[i * cols + j] = (float)(u[0][i] * v[0][j] + u[1][i] * v[1][j]);
    rcomm_compress_config_init(&cfg, RCOMM_COMPRESS_POWERSGD);
    cfg.error_feedback = 0;
    ck_assert_int_eq(rcomm_compressor_create(comm, &cfg, &c), RCOMM_OK);
    ck_assert_int_eq(rcomm_compress_shape(c, 0, rows, cols), RCOMM_OK);
    ck_assert_int_eq(rcomm_compress_wire_bytes(c, 0, rows * cols, &b), RCOMM_OK);
    ck_assert_uint_eq(b, 4 * 2 * (rows + cols));
    memcpy(got, m, sizeof(m));
    ck_assert_int_eq(rcomm_allreduce_compressed(c, 0, got, rows * cols, RCOMM_SUM),
                     RCOMM_OK);
    for (size_t i = 0; i < rows * cols; i++) {
        worst = fmax(worst, fabs((double)got[i] - m[i]));
        scale = fmax(scale, fabs((double)m[i]));
    }
    ck_assert_msg(worst <= 1e-6 * scale, "off by %g of %g", worst, scale);
    /* Not a matrix worth compressing: sent whole (wire 4 n). */
    ck_assert_int_eq(rcomm_compress_shape(c, 1, 4, 4), RCOMM_OK);
    ck_assert_int_eq(rcomm_compress_wire_bytes(c, 1, 16, &b), RCOMM_OK);
    ck_assert_uint_eq(b, 64);
    ck_assert_int_eq(rcomm_compress_shape(c, 0, 8, 8),
                     RCOMM_ERR_INVALID_ARG); /* called */
    ck_assert_int_eq(rcomm_compressor_destroy(c), RCOMM_OK);
    rcomm_comm_destroy(comm);
}
END_TEST
#endif

START_TEST(wire_bytes_and_bad_arguments)
{
    rcomm_comm_t *comm = one_rank();
    rcomm_compress_config_t cfg;
    rcomm_compressor_t *c;
    size_t b;
    float one = 1;

    rcomm_compress_config_init(&cfg, RCOMM_COMPRESS_TOPK);
    cfg.k = 10;
    ck_assert_int_eq(rcomm_compressor_create(comm, &cfg, &c), RCOMM_OK);
    ck_assert_int_eq(rcomm_compress_wire_bytes(c, 0, 1000, &b), RCOMM_OK);
    ck_assert_uint_eq(b, 80);
    ck_assert_int_eq(rcomm_compress_wire_bytes(c, 0, 3, &b), RCOMM_OK); /* fewer than k */
    ck_assert_uint_eq(b, 24);
    ck_assert_int_eq(rcomm_allreduce_compressed(c, 0, &one, 1, RCOMM_MAX),
                     RCOMM_ERR_INVALID_ARG);
    ck_assert_int_eq(rcomm_allreduce_compressed(c, -1, &one, 1, RCOMM_SUM),
                     RCOMM_ERR_INVALID_ARG);
    ck_assert_int_eq(rcomm_allreduce_compressed(c, 0, NULL, 1, RCOMM_SUM),
                     RCOMM_ERR_INVALID_ARG);
    ck_assert_int_eq(rcomm_allreduce_compressed(c, 0, &one, 1, RCOMM_SUM), RCOMM_OK);
    /* A tensor keeps its size. */
    ck_assert_int_eq(rcomm_allreduce_compressed(c, 0, &one, 2, RCOMM_SUM),
                     RCOMM_ERR_INVALID_ARG);
    ck_assert_int_eq(rcomm_compressor_destroy(c), RCOMM_OK);

    cfg.kind = RCOMM_COMPRESS_COUNT;
    ck_assert_int_eq(rcomm_compressor_create(comm, &cfg, &c), RCOMM_ERR_INVALID_ARG);
    rcomm_compress_config_init(&cfg, RCOMM_COMPRESS_RANDK);
    cfg.ratio = 1.5;
    ck_assert_int_eq(rcomm_compressor_create(comm, &cfg, &c), RCOMM_ERR_INVALID_ARG);
    rcomm_compress_config_init(&cfg, RCOMM_COMPRESS_SIGN);
    cfg.chunk = 0;
    ck_assert_int_eq(rcomm_compressor_create(comm, &cfg, &c), RCOMM_ERR_INVALID_ARG);
    rcomm_compress_config_init(&cfg, RCOMM_COMPRESS_BF16);
    cfg.deterministic = 2;
    ck_assert_int_eq(rcomm_compressor_create(comm, &cfg, &c), RCOMM_ERR_INVALID_ARG);
    ck_assert_ptr_nonnull(strstr(rcomm_last_error(), "deterministic"));
    rcomm_compress_config_init(&cfg, RCOMM_COMPRESS_BF16);
    ck_assert_int_eq(rcomm_compressor_create(comm, &cfg, &c), RCOMM_OK);
    ck_assert_int_eq(rcomm_compress_wire_bytes(c, 0, 1001, &b), RCOMM_OK);
    ck_assert_uint_eq(b, 2002);
    ck_assert_int_eq(rcomm_compressor_destroy(c), RCOMM_OK);
    ck_assert_int_eq(rcomm_compressor_destroy(NULL), RCOMM_OK);
    rcomm_comm_destroy(comm);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("compress");
    TCase *tc = tcase_create("core");

    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, topk_is_exact_with_ties);
    tcase_add_test(tc, topk_sampled_is_exact);
    tcase_add_test(tc, randk_indices_are_shared_and_distinct);
    tcase_add_test(tc, sign_decodes_exactly);
    tcase_add_test(tc, error_feedback_telescopes);
    tcase_add_test(tc, wire_bytes_and_bad_arguments);
#ifdef HAVE_OPENBLAS
    tcase_add_test(tc, powersgd_reproduces_a_rank_r_matrix);
#endif
    suite_add_tcase(s, tc);
    return unit_run(s);
}
