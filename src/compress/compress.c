/* SPDX-License-Identifier: BSD-3-Clause */
/* The compressor object: config, agreement across ranks, error feedback. */
#include <config.h> /* the build's: HAVE_OPENBLAS */

#include "compress/compress.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"

#define CMP_MAX_TENSORS 65536

static const cmp_ops_t *const kinds[RCOMM_COMPRESS_COUNT] = {
    [RCOMM_COMPRESS_BF16] = &cmp_bf16_ops,         [RCOMM_COMPRESS_F16] = &cmp_f16_ops,
    [RCOMM_COMPRESS_RANDK] = &cmp_randk_ops,       [RCOMM_COMPRESS_TOPK] = &cmp_topk_ops,
    [RCOMM_COMPRESS_SIGN] = &cmp_sign_ops,
#ifdef HAVE_OPENBLAS
    [RCOMM_COMPRESS_POWERSGD] = &cmp_powersgd_ops,
#endif
};

const char *rcomm_compress_kind_name(rcomm_compress_kind_t kind)
{
    if (kind == RCOMM_COMPRESS_POWERSGD)
        return "powersgd"; /* also in a build without it */
    return (unsigned)kind < RCOMM_COMPRESS_COUNT ? kinds[kind]->name : "invalid";
}

void rcomm_compress_config_init(rcomm_compress_config_t *cfg, rcomm_compress_kind_t kind)
{
    if (cfg)
        *cfg = (rcomm_compress_config_t){.kind = kind,
                                         .ratio = 0.01,
                                         .chunk = 1024,
                                         .lowrank = 2,
                                         .error_feedback = 1};
}

size_t cmp_keep(const rcomm_compressor_t *c, size_t n)
{
    /* ratio is checked only for the kinds that use it: never convert a NaN. */
    double want =
        c->cfg.ratio > 0 && c->cfg.ratio <= 1 ? ceil(c->cfg.ratio * (double)n) : 1;
    size_t k = c->cfg.k ? c->cfg.k : (size_t)want;

    if (k < 1)
        k = 1;
    return k < n ? k : n;
}

rcomm_status_t cmp_bad_encoding(const rcomm_compressor_t *c, int r, const char *what)
{
    return base_err(RCOMM_ERR_PROTOCOL,
                    "rcomm_allreduce_compressed: rank %d: rank %d's %s encoding has %s",
                    c->rank, r, c->ops->name, what);
}

rcomm_status_t cmp_tensor_alloc(const rcomm_compressor_t *c, cmp_tensor_t *t, size_t n)
{
    const size_t bytes = c->ops->wire_bytes(c, t->rows ? t : NULL, n);

    t->x = malloc(n * sizeof(float));
    t->mine = malloc(n * sizeof(float));
    t->enc = malloc(bytes ? bytes : 1);
    t->all = cmp_gathers(c) ? malloc(bytes * (size_t)c->size + 1) : NULL;
    t->idx = malloc(4 * cmp_keep(c, n) + 4);
    if (!t->x || !t->mine || !t->enc || (cmp_gathers(c) && !t->all) || !t->idx)
        return base_err(RCOMM_ERR_NO_MEMORY,
                        "rcomm_allreduce_compressed: rank %d: no memory for the scratch "
                        "of a call on %zu entries",
                        c->rank, n);
    return RCOMM_OK;
}

void cmp_tensor_free(cmp_tensor_t *t)
{
    free(t->residual);
    free(t->q);
    free(t->x);
    free(t->mine);
    free(t->enc);
    free(t->all);
    free(t->idx);
}

/* The default rounds: encode and post the collective; then decode. */
static rcomm_status_t encode_decode(cmp_call_t *k)
{
    rcomm_compressor_t *c = k->c;
    cmp_tensor_t *t = k->t;
    const cmp_ops_t *ops = c->ops;
    const size_t n = k->n, bytes = ops->wire_bytes(c, t->rows ? t : NULL, n),
                 esz = rcomm_dtype_size(ops->wire_dtype);
    rcomm_status_t st = RCOMM_OK;

    if (k->round == 0) {
        ops->encode(c, k->tensor, t, t->x, n, t->enc, t->mine);
        if (!cmp_gathers(c))
            return rcomm_iallreduce(c->comm, RCOMM_IN_PLACE, t->enc, bytes / esz,
                                    ops->wire_dtype, RCOMM_SUM, RCOMM_ALGO_AUTO, &k->req);
        return rcomm_iallgather(c->comm, t->enc, t->all, bytes, RCOMM_U8, &k->req);
    }
    memset(k->buf, 0, n * sizeof(float));
    if (!cmp_gathers(c))
        st = ops->decode_add(c, t, t->enc, n, k->buf, -1);
    for (int r = 0; cmp_gathers(c) && r < c->size && st == RCOMM_OK; r++)
        st =
            ops->decode_add(c, t, (const char *)t->all + (size_t)r * bytes, n, k->buf, r);
    k->done = true;
    return st;
}

/* The kind's next round. */
static rcomm_status_t step(cmp_call_t *k)
{
    return (k->c->ops->step ? k->c->ops->step : encode_decode)(k);
}

static rcomm_status_t check_config(const rcomm_compress_config_t *cfg, int rank)
{
    const char *fn = "rcomm_compressor_create";

    if ((unsigned)cfg->kind >= RCOMM_COMPRESS_COUNT)
        return base_err(RCOMM_ERR_INVALID_ARG, "%s: rank %d: kind %d is not valid", fn,
                        rank, (int)cfg->kind);
    if ((cfg->kind == RCOMM_COMPRESS_RANDK || cfg->kind == RCOMM_COMPRESS_TOPK) &&
        !cfg->k && !(cfg->ratio > 0 && cfg->ratio <= 1))
        return base_err(RCOMM_ERR_INVALID_ARG,
                        "%s: rank %d: %s needs k > 0 or a ratio in (0, 1], not %g", fn,
                        rank, rcomm_compress_kind_name(cfg->kind), cfg->ratio);
    if (cfg->kind == RCOMM_COMPRESS_SIGN && (cfg->chunk == 0 || cfg->chunk > (1u << 30)))
        return base_err(RCOMM_ERR_INVALID_ARG,
                        "%s: rank %d: sign needs a chunk in 1 .. 2^30, not %zu", fn, rank,
                        cfg->chunk);
    if (cfg->kind == RCOMM_COMPRESS_POWERSGD && !kinds[cfg->kind])
        return base_err(RCOMM_ERR_UNSUPPORTED,
                        "%s: rank %d: powersgd needs OpenBLAS, and this build has none "
                        "(configure found no cblas)",
                        fn, rank);
    if (cfg->kind == RCOMM_COMPRESS_POWERSGD && (cfg->lowrank < 1 || cfg->lowrank > 1024))
        return base_err(RCOMM_ERR_INVALID_ARG,
                        "%s: rank %d: powersgd needs a lowrank in 1 .. 1024, not %d", fn,
                        rank, cfg->lowrank);
    if (cfg->error_feedback != 0 && cfg->error_feedback != 1)
        return base_err(RCOMM_ERR_INVALID_ARG,
                        "%s: rank %d: error_feedback must be 0 or 1, not %d", fn, rank,
                        cfg->error_feedback);
    if (cfg->deterministic != 0 && cfg->deterministic != 1)
        return base_err(RCOMM_ERR_INVALID_ARG,
                        "%s: rank %d: deterministic must be 0 or 1, not %d", fn, rank,
                        cfg->deterministic);
    return RCOMM_OK;
}

/* Every rank's config, field by field, against rank 0's. */
#define NFIELDS 8
static rcomm_status_t agree(rcomm_compressor_t *c)
{
    static const char *const names[NFIELDS] = {
        "kind",           "ratio",        "k", "seed", "chunk", "lowrank",
        "error_feedback", "deterministic"};
    const rcomm_compress_config_t *g = &c->cfg;
    uint64_t mine[NFIELDS] = {(uint64_t)g->kind,
                              0,
                              g->k,
                              g->seed,
                              g->chunk,
                              (uint64_t)g->lowrank,
                              (uint64_t)g->error_feedback,
                              (uint64_t)g->deterministic};
    uint64_t *all = malloc((size_t)c->size * NFIELDS * sizeof(uint64_t));
    rcomm_status_t st;

    if (!all)
        return base_err(RCOMM_ERR_NO_MEMORY, "rcomm_compressor_create: out of memory");
    memcpy(&mine[1], &g->ratio, sizeof(double));
    st = rcomm_allgather(c->comm, mine, all, NFIELDS, RCOMM_I64);
    for (int r = 1; st == RCOMM_OK && r < c->size; r++)
        for (int f = 0; f < NFIELDS; f++)
            if (all[(size_t)r * NFIELDS + f] != all[f]) {
                st = base_err(RCOMM_ERR_MISMATCH,
                              "rcomm_compressor_create: rank %d: rank %d's %s differs "
                              "from rank 0's",
                              c->rank, r, names[f]);
                break;
            }
    free(all);
    return st;
}

rcomm_status_t rcomm_compressor_create(rcomm_comm_t *comm,
                                       const rcomm_compress_config_t *cfg,
                                       rcomm_compressor_t **out)
{
    rcomm_compressor_t *c;
    rcomm_status_t st;
    int rank, size;

    if (!comm || !cfg || !out)
        return base_err(RCOMM_ERR_INVALID_ARG, "rcomm_compressor_create: %s is NULL",
                        !comm  ? "comm"
                        : !cfg ? "cfg"
                               : "c");
    if ((st = rcomm_comm_rank(comm, &rank)) != RCOMM_OK ||
        (st = rcomm_comm_size(comm, &size)) != RCOMM_OK)
        return st;
    if ((st = check_config(cfg, rank)) != RCOMM_OK)
        return st;
    if (!(c = calloc(1, sizeof(*c))))
        return base_err(RCOMM_ERR_NO_MEMORY, "rcomm_compressor_create: out of memory");
    *c = (rcomm_compressor_t){
        .comm = comm, .rank = rank, .size = size, .cfg = *cfg, .ops = kinds[cfg->kind]};
    if ((st = agree(c)) != RCOMM_OK) {
        free(c);
        return st;
    }
    *out = c;
    return RCOMM_OK;
}

rcomm_status_t rcomm_compressor_destroy(rcomm_compressor_t *c)
{
    if (!c)
        return RCOMM_OK;
    for (int i = 0; i < c->nt; i++)
        if (c->t[i] && c->t[i]->busy)
            return base_err(RCOMM_ERR_INVALID_ARG,
                            "rcomm_compressor_destroy: rank %d: tensor %d has a call in "
                            "flight (destroy the buckets that use it first)",
                            c->rank, i);
    for (int i = 0; i < c->nt; i++)
        if (c->t[i]) {
            cmp_tensor_free(c->t[i]);
            free(c->t[i]);
        }
    free(c->t);
    free(c);
    return RCOMM_OK;
}

/* A tensor's first call: every rank names the same tensor and count (an
 * encoding of equal size could otherwise hide a disagreement). */
static rcomm_status_t agree_tensor(rcomm_compressor_t *c, int i, size_t n)
{
    uint64_t mine[2] = {(uint64_t)i << 32 | n, c->t[i]->rows};
    uint64_t *all = malloc((size_t)c->size * sizeof(mine));
    rcomm_status_t st;

    if (!all)
        return base_err(RCOMM_ERR_NO_MEMORY, "rcomm_allreduce_compressed: out of memory");
    st = rcomm_allgather(c->comm, mine, all, 2, RCOMM_I64);
    for (int r = 1; st == RCOMM_OK && r < c->size; r++)
        if (all[2 * r] != all[0] || all[2 * r + 1] != all[1])
            st = base_err(RCOMM_ERR_MISMATCH,
                          "rcomm_allreduce_compressed: rank %d: rank %d's first call of "
                          "tensor %d has %llu entries in %llu rows; rank 0's of tensor "
                          "%d, %llu in %llu",
                          c->rank, r, (int)(all[2 * r] >> 32),
                          (unsigned long long)(uint32_t)all[2 * r],
                          (unsigned long long)all[2 * r + 1], (int)(all[0] >> 32),
                          (unsigned long long)(uint32_t)all[0],
                          (unsigned long long)all[1]);
    free(all);
    return st;
}

/* Tensor numbers are 0 .. CMP_MAX_TENSORS - 1. */
static rcomm_status_t check_tensor(const rcomm_compressor_t *c, int i, const char *fn)
{
    if (i < 0 || i >= CMP_MAX_TENSORS)
        return base_err(RCOMM_ERR_INVALID_ARG, "%s: rank %d: tensor %d is not in 0 .. %d",
                        fn, c->rank, i, CMP_MAX_TENSORS - 1);
    return RCOMM_OK;
}

/* Tensor i's slot, zeroed when new. */
static rcomm_status_t slot(rcomm_compressor_t *c, int i, const char *fn)
{
    if (i >= c->nt) {
        int nt = i + 1 > 2 * c->nt ? i + 1 : 2 * c->nt;
        cmp_tensor_t **p = realloc(c->t, (size_t)nt * sizeof(*p));
        if (!p)
            return base_err(RCOMM_ERR_NO_MEMORY, "%s: rank %d: out of memory", fn,
                            c->rank);
        memset(p + c->nt, 0, (size_t)(nt - c->nt) * sizeof(*p));
        c->t = p;
        c->nt = nt;
    }
    if (!c->t[i] && !(c->t[i] = calloc(1, sizeof(cmp_tensor_t))))
        return base_err(RCOMM_ERR_NO_MEMORY, "%s: rank %d: out of memory", fn, c->rank);
    return RCOMM_OK;
}

rcomm_status_t rcomm_compress_shape(rcomm_compressor_t *c, int i, size_t rows,
                                    size_t cols)
{
    const char *fn = "rcomm_compress_shape";
    cmp_tensor_t *t;
    rcomm_status_t st;

    if (!c)
        return base_err(RCOMM_ERR_INVALID_ARG, "%s: c is NULL", fn);
    if ((st = check_tensor(c, i, fn)) != RCOMM_OK)
        return st;
    if (!rows || !cols || rows > UINT32_MAX / cols)
        return base_err(RCOMM_ERR_INVALID_ARG,
                        "%s: rank %d: tensor %d: %zu x %zu is empty or has 2^32 entries "
                        "or more",
                        fn, c->rank, i, rows, cols);
    if ((st = slot(c, i, fn)) != RCOMM_OK)
        return st;
    t = c->t[i];
    if (t->n)
        return base_err(RCOMM_ERR_INVALID_ARG,
                        "%s: rank %d: tensor %d: a shape goes before its first call", fn,
                        c->rank, i);
    t->rows = rows;
    t->cols = cols;
    return RCOMM_OK;
}

/* Tensor i's state, sized n on its first call; the same n ever after. */
static rcomm_status_t tensor(rcomm_compressor_t *c, int i, size_t n, const char *fn,
                             cmp_tensor_t **t)
{
    rcomm_status_t st;

    if ((st = slot(c, i, fn)) != RCOMM_OK)
        return st;
    *t = c->t[i];
    if ((*t)->rows && (*t)->rows * (*t)->cols != n)
        return base_err(RCOMM_ERR_INVALID_ARG,
                        "%s: rank %d: tensor %d is %zu x %zu, not %zu entries", fn,
                        c->rank, i, (*t)->rows, (*t)->cols, n);
    if ((*t)->n && (*t)->n != n)
        return base_err(RCOMM_ERR_INVALID_ARG,
                        "%s: rank %d: tensor %d has %zu entries, not %zu (its residual "
                        "was sized by its first call)",
                        fn, c->rank, i, (*t)->n, n);
    if (!(*t)->n) {
        if ((st = agree_tensor(c, i, n)) != RCOMM_OK)
            return st;
        if (c->cfg.error_feedback && !((*t)->residual = calloc(n, sizeof(double))))
            return base_err(
                RCOMM_ERR_NO_MEMORY,
                "%s: rank %d: no memory for tensor %d's residual (%zu floats)", fn,
                c->rank, i, n);
        if ((st = cmp_tensor_alloc(c, *t, n)) != RCOMM_OK) {
            const size_t rows = (*t)->rows, cols = (*t)->cols;
            cmp_tensor_free(*t);
            **t = (cmp_tensor_t){.rows = rows, .cols = cols};
            return st;
        }
        (*t)->n = n;
    }
    return RCOMM_OK;
}

rcomm_status_t cmp_start(rcomm_compressor_t *c, int i, float *buf, size_t n,
                         rcomm_op_t op, const char *fn, cmp_call_t *k)
{
    cmp_tensor_t *t = NULL;
    rcomm_status_t st;

    *k = (cmp_call_t){.c = c, .tensor = i, .buf = buf, .n = n, .op = op, .done = !n};
    if (!c)
        return k->status = base_err(RCOMM_ERR_INVALID_ARG, "%s: c is NULL", fn);
    if ((st = check_tensor(c, i, fn)) != RCOMM_OK)
        return k->status = st;
    if (op != RCOMM_SUM && op != RCOMM_AVG)
        return k->status =
                   base_err(RCOMM_ERR_INVALID_ARG, "%s: rank %d: op %s: only sum and avg",
                            fn, c->rank, rcomm_op_name(op));
    if (n && !buf)
        return k->status =
                   base_err(RCOMM_ERR_INVALID_ARG,
                            "%s: rank %d: buf is NULL with count %zu", fn, c->rank, n);
    if (n > UINT32_MAX)
        return k->status =
                   base_err(RCOMM_ERR_INVALID_ARG,
                            "%s: rank %d: count %zu: at most 2^32 - 1 entries per tensor",
                            fn, c->rank, n);
    if (!n)
        return RCOMM_OK;
    if (i < c->nt && c->t[i] && c->t[i]->busy)
        return k->status = base_err(RCOMM_ERR_INVALID_ARG,
                                    "%s: rank %d: tensor %d already has a call in flight",
                                    fn, c->rank, i);
    if ((st = tensor(c, i, n, fn, &t)) != RCOMM_OK)
        return k->status = st;
    k->t = t;
    if (t->residual) {
        for (size_t j = 0; j < n; j++) { /* residual holds gradient + residual */
            t->residual[j] += (double)buf[j];
            t->x[j] = (float)t->residual[j];
        }
    } else {
        memcpy(t->x, buf, n * sizeof(float));
    }
    t->busy = true;
    k->status = step(k);
    if (k->status != RCOMM_OK)
        return cmp_finish(k);
    return RCOMM_OK;
}

rcomm_status_t cmp_test(cmp_call_t *k)
{
    rcomm_status_t st;

    if (!k->req)
        return k->status;
    if ((st = rcomm_test(k->req)) == RCOMM_INPROGRESS)
        return st;
    k->req = NULL;
    return k->status = st;
}

rcomm_status_t cmp_finish(cmp_call_t *k)
{
    cmp_tensor_t *t = k->t;
    const size_t n = k->n;

    if (!t)
        return k->status;
    while (k->status == RCOMM_OK && !k->done) {
        if (k->req) {
            k->status = rcomm_wait(k->req);
            k->req = NULL;
            if (k->status != RCOMM_OK)
                break;
        }
        k->round++;
        k->status = step(k);
    }
    if (k->req) /* a failed round still owns its collective */
        (void)rcomm_wait(k->req), k->req = NULL;
    if (t->residual)
        for (size_t j = 0; j < n; j++) /* also when the call failed: no gradient lost */
            t->residual[j] -= k->status == RCOMM_OK ? (double)t->mine[j] : 0.0;
    t->busy = false;
    k->t = NULL;
    if (k->status != RCOMM_OK)
        return k->status;
    t->calls++;
    if (k->op == RCOMM_AVG)
        for (size_t j = 0; j < n; j++)
            k->buf[j] /= (float)k->c->size;
    return RCOMM_OK;
}

rcomm_status_t rcomm_allreduce_compressed(rcomm_compressor_t *c, int i, float *buf,
                                          size_t n, rcomm_op_t op)
{
    cmp_call_t k;
    rcomm_status_t st = cmp_start(c, i, buf, n, op, "rcomm_allreduce_compressed", &k);

    return st != RCOMM_OK ? st : cmp_finish(&k);
}

rcomm_status_t rcomm_compress_wire_bytes(const rcomm_compressor_t *c, int i, size_t n,
                                         size_t *bytes)
{
    const cmp_tensor_t *t;
    rcomm_status_t st;

    if (!c || !bytes)
        return base_err(RCOMM_ERR_INVALID_ARG, "rcomm_compress_wire_bytes: %s is NULL",
                        !c ? "c" : "bytes");
    if ((st = check_tensor(c, i, "rcomm_compress_wire_bytes")) != RCOMM_OK)
        return st;
    t = i < c->nt && c->t[i] && c->t[i]->rows ? c->t[i] : NULL;
    *bytes = n ? c->ops->wire_bytes(c, t && t->rows * t->cols == n ? t : NULL, n) : 0;
    return RCOMM_OK;
}

rcomm_status_t rcomm_compress_residual(const rcomm_compressor_t *c, int i,
                                       const double **residual, size_t *n)
{
    rcomm_status_t st;

    if (!c || !residual || !n)
        return base_err(RCOMM_ERR_INVALID_ARG, "rcomm_compress_residual: %s is NULL",
                        !c          ? "c"
                        : !residual ? "residual"
                                    : "count");
    if ((st = check_tensor(c, i, "rcomm_compress_residual")) != RCOMM_OK)
        return st;
    *residual = i < c->nt && c->t[i] ? c->t[i]->residual : NULL;
    *n = i < c->nt && c->t[i] ? c->t[i]->n : 0;
    return RCOMM_OK;
}
