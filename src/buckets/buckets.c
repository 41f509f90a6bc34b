/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Gradient buckets (rcomm.h): tensors grouped in backprop order, each bucket
 * reduced by one nonblocking allreduce as soon as all its tensors are ready
 * and every earlier bucket has been posted. Posting in bucket order keeps
 * the ranks' collectives in the same order however they mark tensors. Built
 * on the public API, and on the compressor's calls in steps (compress.h):
 * with a compressor, each f32 tensor is a compressed allreduce of its own,
 * started when its bucket is posted; later rounds (PowerSGD's second) are
 * posted only by rcomm_buckets_wait, in bucket and tensor order, so that
 * they too come in the same order on every rank.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "compress/compress.h"
#include "rcomm.h"

typedef struct {
    int first, end;      /* tensors [first, end) */
    size_t count, bytes; /* elements and bytes of the bucket */
    rcomm_dtype_t dtype;
    char *buf;     /* what is reduced: the tensors in place, or staging */
    char *staging; /* NULL when the tensors lie back to back */
    int pending;   /* tensors not marked yet in this step */
    rcomm_request_t *req;
    cmp_call_t *calls;     /* compressed: one per tensor, else NULL */
    rcomm_status_t status; /* of this step's reduction, once finished */
} bucket_t;

struct rcomm_buckets {
    rcomm_comm_t *comm;
    rcomm_compressor_t *compressor;
    int rank;
    rcomm_op_t op;
    int n, nb;
    rcomm_grad_t *g; /* names copied */
    int *bucket_of;
    unsigned char *marked;
    int nmarked;
    int next_post; /* first bucket not posted in this step */
    bucket_t *bk;
    /* Every bucket's staging, carved from one rcomm_mem_alloc block: one
     * mapping per peer for the mapped AllReduce, however many buckets. */
    char *staging;
};

void rcomm_buckets_config_init(rcomm_buckets_config_t *cfg)
{
    if (cfg)
        *cfg = (rcomm_buckets_config_t){.bucket_bytes = 1u << 20, /* PERFORMANCE.md */
                                        .first_bucket_bytes = 256u << 10,
                                        .op = RCOMM_AVG};
}

static uint64_t name_hash(const char *s)
{
    uint64_t h = 1469598103934665603ull;

    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

static rcomm_status_t check_args(rcomm_comm_t *comm, const rcomm_buckets_config_t *cfg,
                                 const rcomm_grad_t *g, int n, rcomm_buckets_t **b,
                                 int rank)
{
    const char *fn = "rcomm_buckets_create";

    if (!comm || !b || (n > 0 && !g))
        return base_err(RCOMM_ERR_INVALID_ARG, "%s: %s is NULL", fn,
                        !comm ? "comm"
                        : !b  ? "b"
                              : "grads");
    if (n < 1)
        return base_err(RCOMM_ERR_INVALID_ARG, "%s: rank %d: ngrads is %d", fn, rank, n);
    if (cfg->op != RCOMM_SUM && cfg->op != RCOMM_AVG)
        return base_err(RCOMM_ERR_INVALID_ARG, "%s: rank %d: op %s: only sum and avg", fn,
                        rank, rcomm_op_name(cfg->op));
    if (!cfg->bucket_bytes || !cfg->first_bucket_bytes)
        return base_err(RCOMM_ERR_INVALID_ARG, "%s: rank %d: a bucket size is 0", fn,
                        rank);
    for (int i = 0; i < n; i++) {
        if (!g[i].name)
            return base_err(RCOMM_ERR_INVALID_ARG, "%s: rank %d: tensor #%d has no name",
                            fn, rank, i);
        if ((unsigned)g[i].dtype >= RCOMM_DTYPE_COUNT)
            return base_err(RCOMM_ERR_INVALID_ARG,
                            "%s: rank %d: tensor '%.64s' (#%d): dtype %d is not valid",
                            fn, rank, g[i].name, i, (int)g[i].dtype);
        if (g[i].count && !g[i].buf)
            return base_err(
                RCOMM_ERR_INVALID_ARG,
                "%s: rank %d: tensor '%.64s' (#%d): buf is NULL with count %zu", fn, rank,
                g[i].name, i, g[i].count);
    }
    return RCOMM_OK;
}

/* Every rank declares what rank 0 declares: the first rank and tensor that
 * differ are named on every rank. */
static rcomm_status_t agree(rcomm_comm_t *comm, const rcomm_buckets_config_t *cfg,
                            const rcomm_grad_t *g, int n, int rank, int size)
{
    uint64_t mine[3] = {(uint64_t)n, cfg->bucket_bytes, cfg->first_bucket_bytes};
    uint64_t *all = calloc((size_t)size * 3, sizeof(uint64_t)), *rec = NULL, *recs = NULL;
    rcomm_status_t st;

    if (!all)
        return base_err(RCOMM_ERR_NO_MEMORY, "rcomm_buckets_create: out of memory");
    mine[0] |= (uint64_t)cfg->op << 32 | (uint64_t) !!cfg->compressor << 40;
    if ((st = rcomm_allgather(comm, mine, all, 3, RCOMM_I64)) != RCOMM_OK)
        goto out;
    for (int r = 0; r < size; r++)
        if (memcmp(all + 3 * r, all, 3 * sizeof(uint64_t)) != 0) {
            st = base_err(
                RCOMM_ERR_MISMATCH,
                "rcomm_buckets_create: rank %d: rank %d declares %d tensors, op %s, "
                "buckets of %llu and %llu bytes, %s; rank 0 %d, %s, %llu and %llu, %s",
                rank, r, (int)(uint32_t)all[3 * r],
                rcomm_op_name((rcomm_op_t)(all[3 * r] >> 32 & 0xff)),
                (unsigned long long)all[3 * r + 1], (unsigned long long)all[3 * r + 2],
                all[3 * r] >> 40 ? "a compressor" : "no compressor",
                (int)(uint32_t)all[0], rcomm_op_name((rcomm_op_t)(all[0] >> 32 & 0xff)),
                (unsigned long long)all[1], (unsigned long long)all[2],
                all[0] >> 40 ? "a compressor" : "no compressor");
            goto out;
        }
    rec = malloc((size_t)n * 3 * sizeof(uint64_t));
    recs = malloc((size_t)size * n * 3 * sizeof(uint64_t));
    if (!rec || !recs) {
        st = base_err(RCOMM_ERR_NO_MEMORY, "rcomm_buckets_create: out of memory");
        goto out;
    }
    for (int i = 0; i < n; i++) {
        rec[3 * i] = g[i].count;
        rec[3 * i + 1] = (uint64_t)g[i].dtype;
        rec[3 * i + 2] = name_hash(g[i].name);
    }
    if ((st = rcomm_allgather(comm, rec, recs, (size_t)n * 3, RCOMM_I64)) != RCOMM_OK)
        goto out;
    for (int r = 1; r < size; r++)
        for (int i = 0; i < n; i++) {
            const uint64_t *a = recs + 3 * ((size_t)r * n + i), *z = recs + 3 * i;
            if (memcmp(a, z, 3 * sizeof(uint64_t)) == 0)
                continue;
            st =
                base_err(RCOMM_ERR_MISMATCH,
                         "rcomm_buckets_create: rank %d: rank %d declares tensor #%d "
                         "(here '%.64s') as %llu x %s%s; rank 0 as %llu x %s",
                         rank, r, i, g[i].name, (unsigned long long)a[0],
                         rcomm_dtype_name((rcomm_dtype_t)a[1]),
                         a[2] != z[2] ? " under another name" : "",
                         (unsigned long long)z[0], rcomm_dtype_name((rcomm_dtype_t)z[1]));
            goto out;
        }
out:
    free(all);
    free(rec);
    free(recs);
    return st;
}

/* A bucket that is reduced in a copy: bytes, and neither in place nor
 * compressed tensor by tensor. */
static bool staged(const bucket_t *k)
{
    return k->bytes && !k->buf && !k->calls;
}

/* The staged buckets' places in one block, each at a 64-byte boundary. */
static rcomm_status_t carve_staging(rcomm_buckets_t *b)
{
    size_t total = 0;
    rcomm_status_t st;

    for (int j = 0; j < b->nb; j++)
        if (staged(&b->bk[j]))
            total += (b->bk[j].bytes + 63) & ~(size_t)63;
    if (!total)
        return RCOMM_OK;
    if ((st = rcomm_mem_alloc(b->comm, total, (void **)&b->staging)) != RCOMM_OK)
        return st;
    total = 0;
    for (int j = 0; j < b->nb; j++) {
        bucket_t *k = &b->bk[j];
        if (!staged(k))
            continue;
        k->staging = k->buf = b->staging + total;
        total += (k->bytes + 63) & ~(size_t)63;
    }
    return RCOMM_OK;
}

/* Backprop order; a bucket closes once it holds its target or the dtype
 * changes. */
static rcomm_status_t group(rcomm_buckets_t *b, const rcomm_buckets_config_t *cfg)
{
    const rcomm_grad_t *g = b->g;

    if (!(b->bk = calloc((size_t)b->n, sizeof(bucket_t))))
        return base_err(RCOMM_ERR_NO_MEMORY, "rcomm_buckets_create: out of memory");
    for (int i = 0; i < b->n; i++) {
        bucket_t *k = b->nb ? &b->bk[b->nb - 1] : NULL; /* the one being filled */
        const size_t target = b->nb == 1 ? cfg->first_bucket_bytes : cfg->bucket_bytes;
        const size_t bytes = g[i].count * rcomm_dtype_size(g[i].dtype);

        if (!k || k->dtype != g[i].dtype || k->bytes >= target) {
            k = &b->bk[b->nb++];
            k->first = i;
            k->dtype = g[i].dtype;
        }
        k->end = i + 1;
        k->count += g[i].count;
        k->bytes += bytes;
        b->bucket_of[i] = b->nb - 1;
    }
    for (int j = 0; j < b->nb; j++) {
        bucket_t *k = &b->bk[j];
        char *next = NULL;
        int contiguous = 1;

        for (int i = k->first; i < k->end; i++) {
            if (!g[i].count)
                continue;
            contiguous &= !next || g[i].buf == next;
            next = (char *)g[i].buf + g[i].count * rcomm_dtype_size(g[i].dtype);
        }
        k->pending = k->end - k->first;
        if (!k->bytes)
            continue;
        if (b->compressor && k->dtype == RCOMM_F32) { /* tensor by tensor, in place */
            if (!(k->calls = calloc((size_t)(k->end - k->first), sizeof(cmp_call_t))))
                return base_err(RCOMM_ERR_NO_MEMORY,
                                "rcomm_buckets_create: out of memory");
            continue;
        }
        if (contiguous) {
            for (int i = k->first; i < k->end && !k->buf; i++)
                k->buf = g[i].count ? g[i].buf : NULL;
            continue;
        }
        /* staged: neither buf nor calls; its place is carved below */
    }
    return carve_staging(b);
}

rcomm_status_t rcomm_buckets_create(rcomm_comm_t *comm, const rcomm_buckets_config_t *cfg,
                                    const rcomm_grad_t *grads, int ngrads,
                                    rcomm_buckets_t **out)
{
    rcomm_buckets_config_t defaults;
    rcomm_buckets_t *b;
    rcomm_status_t st;
    int rank = -1, size = 0;

    rcomm_buckets_config_init(&defaults);
    if (!cfg)
        cfg = &defaults;
    if (comm)
        rcomm_comm_rank(comm, &rank), rcomm_comm_size(comm, &size);
    if ((st = check_args(comm, cfg, grads, ngrads, out, rank)) != RCOMM_OK ||
        (st = agree(comm, cfg, grads, ngrads, rank, size)) != RCOMM_OK)
        return st;
    if (!(b = calloc(1, sizeof(*b))))
        return base_err(RCOMM_ERR_NO_MEMORY, "rcomm_buckets_create: out of memory");
    *b = (rcomm_buckets_t){.comm = comm,
                           .compressor = cfg->compressor,
                           .rank = rank,
                           .op = cfg->op,
                           .n = ngrads};
    b->g = calloc((size_t)ngrads, sizeof(*b->g));
    b->bucket_of = calloc((size_t)ngrads, sizeof(int));
    b->marked = calloc((size_t)ngrads, 1);
    st = !b->g || !b->bucket_of || !b->marked
             ? base_err(RCOMM_ERR_NO_MEMORY, "rcomm_buckets_create: out of memory")
             : RCOMM_OK;
    for (int i = 0; i < ngrads && st == RCOMM_OK; i++) {
        b->g[i] = grads[i];
        if (!(b->g[i].name = strdup(grads[i].name)))
            st = base_err(RCOMM_ERR_NO_MEMORY, "rcomm_buckets_create: out of memory");
    }
    if (st == RCOMM_OK)
        st = group(b, cfg);
    if (st != RCOMM_OK) {
        rcomm_buckets_destroy(b);
        return st;
    }
    *out = b;
    return RCOMM_OK;
}

static void gather(const rcomm_buckets_t *b, const bucket_t *k, int back)
{
    size_t off = 0;

    for (int i = k->first; i < k->end; i++) {
        const size_t n = b->g[i].count * rcomm_dtype_size(b->g[i].dtype);
        if (n && back)
            memcpy(b->g[i].buf, k->staging + off, n);
        else if (n)
            memcpy(k->staging + off, b->g[i].buf, n);
        off += n;
    }
}

/* Post every bucket that is complete and next in order; move the posted
 * ones along. */
static rcomm_status_t advance(rcomm_buckets_t *b)
{
    rcomm_status_t st = RCOMM_OK;

    while (b->next_post < b->nb && b->bk[b->next_post].pending == 0) {
        bucket_t *k = &b->bk[b->next_post++];
        k->status = RCOMM_OK;
        if (!k->bytes)
            continue;
        if (k->calls) {
            for (int i = k->first; i < k->end; i++) { /* failures stay with their calls */
                rcomm_status_t cs =
                    cmp_start(b->compressor, i, b->g[i].buf, b->g[i].count, b->op,
                              "rcomm_buckets_ready", &k->calls[i - k->first]);
                st = st != RCOMM_OK ? st : cs; /* the first one is reported now */
            }
            if (st != RCOMM_OK)
                return st;
            continue;
        }
        if (k->staging)
            gather(b, k, 0);
        st = rcomm_iallreduce(b->comm, RCOMM_IN_PLACE, k->buf, k->count, k->dtype, b->op,
                              RCOMM_ALGO_AUTO, &k->req);
        if (st != RCOMM_OK)
            return k->status = st;
    }
    for (int j = 0; j < b->next_post; j++) { /* the oldest running one */
        bucket_t *k = &b->bk[j];
        for (int i = 0; k->calls && i < k->end - k->first; i++)
            if (k->calls[i].req)
                return cmp_test(&k->calls[i]) == RCOMM_INPROGRESS ? RCOMM_OK
                                                                  : k->calls[i].status;
        if (!k->req)
            continue;
        if ((st = rcomm_test(k->req)) != RCOMM_INPROGRESS) {
            k->req = NULL;
            k->status = st;
        }
        break;
    }
    return st == RCOMM_INPROGRESS ? RCOMM_OK : st;
}

rcomm_status_t rcomm_buckets_ready(rcomm_buckets_t *b, int i)
{
    if (!b)
        return base_err(RCOMM_ERR_INVALID_ARG, "rcomm_buckets_ready: b is NULL");
    if (i < 0 || i >= b->n)
        return base_err(RCOMM_ERR_INVALID_ARG,
                        "rcomm_buckets_ready: rank %d: tensor %d is not one of the %d "
                        "declared",
                        b->rank, i, b->n);
    if (b->marked[i])
        return base_err(RCOMM_ERR_INVALID_ARG,
                        "rcomm_buckets_ready: rank %d: tensor '%.64s' (#%d) was already "
                        "marked ready in this step",
                        b->rank, b->g[i].name, i);
    b->marked[i] = 1;
    b->nmarked++;
    b->bk[b->bucket_of[i]].pending--;
    return advance(b);
}

rcomm_status_t rcomm_buckets_wait(rcomm_buckets_t *b)
{
    rcomm_status_t st = RCOMM_OK;

    if (!b)
        return base_err(RCOMM_ERR_INVALID_ARG, "rcomm_buckets_wait: b is NULL");
    if (b->nmarked < b->n) {
        int i = 0;

        while (b->marked[i])
            i++;
        return base_err(RCOMM_ERR_INVALID_ARG,
                        "rcomm_buckets_wait: rank %d: tensor '%.64s' (#%d) is not marked "
                        "ready (%d of %d are)",
                        b->rank, b->g[i].name, i, b->nmarked, b->n);
    }
    while (b->next_post < b->nb) /* each posts one bucket at least; failures stay */
        advance(b);              /* with their buckets */
    for (int j = 0; j < b->nb; j++) {
        bucket_t *k = &b->bk[j];
        if (k->req) {
            k->status = rcomm_wait(k->req);
            k->req = NULL;
        }
        for (int i = 0; k->calls && i < k->end - k->first; i++) {
            rcomm_status_t cs = cmp_finish(&k->calls[i]);
            k->status = k->status != RCOMM_OK ? k->status : cs;
        }
        if (k->status == RCOMM_OK && k->staging)
            gather(b, k, 1);
        if (st == RCOMM_OK && k->status != RCOMM_OK)
            st = k->status;
        k->pending = k->end - k->first;
    }
    memset(b->marked, 0, (size_t)b->n);
    b->nmarked = 0;
    b->next_post = 0;
    return st;
}

rcomm_status_t rcomm_buckets_layout(const rcomm_buckets_t *b, int *nbuckets,
                                    int *bucket_of)
{
    if (!b || !nbuckets)
        return base_err(RCOMM_ERR_INVALID_ARG, "rcomm_buckets_layout: %s is NULL",
                        !b ? "b" : "nbuckets");
    *nbuckets = b->nb;
    if (bucket_of)
        memcpy(bucket_of, b->bucket_of, (size_t)b->n * sizeof(int));
    return RCOMM_OK;
}

rcomm_status_t rcomm_buckets_staged(const rcomm_buckets_t *b, size_t *bytes)
{
    if (!b || !bytes)
        return base_err(RCOMM_ERR_INVALID_ARG, "rcomm_buckets_staged: %s is NULL",
                        !b ? "b" : "bytes");
    *bytes = 0;
    for (int j = 0; j < b->nb; j++)
        *bytes += b->bk[j].staging ? b->bk[j].bytes : 0;
    return RCOMM_OK;
}

rcomm_status_t rcomm_buckets_destroy(rcomm_buckets_t *b)
{
    if (!b)
        return RCOMM_OK;
    if (b->nmarked)
        return base_err(RCOMM_ERR_INVALID_ARG,
                        "rcomm_buckets_destroy: rank %d: a step is in flight (%d of %d "
                        "tensors marked); rcomm_buckets_wait first",
                        b->rank, b->nmarked, b->n);
    if (b->staging)
        rcomm_mem_free(b->comm, b->staging);
    for (int j = 0; b->bk && j < b->nb; j++)
        free(b->bk[j].calls);
    for (int i = 0; b->g && i < b->n; i++)
        free((char *)b->g[i].name);
    free(b->g);
    free(b->bucket_of);
    free(b->marked);
    free(b->bk);
    free(b);
    return RCOMM_OK;
}
