/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Sparse parameter-server pushes, run by every rank under rcomm-run (see
 * test_ps.c). Every worker pushes a whole f32 tensor (1000 keys) and a whole
 * f64 one (333 keys) each step, values from {0, +-1/8, +-1/4, +-1, +-2}, to
 * servers with 64-byte blocks (so a block goes as an image of up to 7 f32
 * keys or 3 f64 keys, else whole), under BSP with momentum 0.5. Every rank
 * simulates every worker's accumulator, the keys it picks, the block rule
 * and the servers' update of the keys pushed only; after the last step each
 * worker's pull must equal that exactly (every value is a binary fraction).
 * Modes, the keys picked:
 *   filter    |g| > 0.5
 *   relative  |g| > 0.25 |p|, p from a pull before the first step (2 and 4)
 *   topk      the 5 largest per server range (f32 only; f64 whole)
 *   randk     5 random ones per server range (f32 only; f64 whole)
 *   bf16, f16, sign   every block encoded (f32 only; f64 whole), what the
 *             encoding lost kept for the next push
 * Each worker's bytes pushed must be the model's, some worker must have
 * sent keys sparse (keys_pushed) where keys are picked, and a config that
 * differs on one rank is a MISMATCH. Options: --servers S --work --steps T.
 */
#include <getopt.h>
#include <math.h>

#include "compress/compress.h"
#include "ps/ps.h"
#include "rank_check.h"
#include "reduce/reduce.h"

static int bad;
static rcomm_comm_t *comm;
static rcomm_ps_config_t cfg;
static int steps = 6;

#define NT 2
static const size_t count[NT] = {1000, 333};
static const rcomm_dtype_t dtype[NT] = {RCOMM_F32, RCOMM_F64};

static int nworkers(void)
{
    return cfg.servers_work || size == 1 ? size : size - cfg.num_servers;
}

/* Worker w's gradient of key k of tensor t at step s. */
static double grad(int w, int s, int t, size_t k)
{
    static const double v[9] = {0, 0.125, -0.125, 0.25, -0.25, 1, -1, 2, -2};
    uint64_t h = ((uint64_t)w * 7919u + (uint64_t)s * 104729u + (uint64_t)t * 31u + k) *
                 0x9e3779b97f4a7c15ull;
    return v[(h >> 33) % 9];
}

static double init(int t, size_t k)
{
    return (double)(2 + 2 * t) * (k % 2 ? 1 : -1);
}

/* The model every rank computes. */
typedef struct {
    double *acc[NT]; /* [worker][key], one block of memory per tensor */
    double *p[NT], *m[NT], *d[NT];
    unsigned char *mark[NT];
    uint32_t *pick;
    float *fv, *fs, *facc;
    uint64_t *bytes; /* [worker]: what it writes, gradient only */
} model_t;

/* v rounded to tensor t's precision: the model does f32 tensors' sums and
 * updates step by step in f32, as the server does. */
static double round_as(int t, double v)
{
    return dtype[t] == RCOMM_F32 ? (double)(float)v : v;
}

static int picked(double g, double p)
{
    const double thr = cfg.push_threshold,
                 bound = cfg.push_relative ? thr * fabs(p) : thr;
    return g != 0 && (thr <= 0 || !(fabs(g) <= bound));
}

/* Worker w pushes its range [lo, lo + n) of tensor t on server s at step. */
static void push_range(model_t *x, rcomm_compressor_t *c, int w, int step, int t, int s,
                       size_t lo, size_t n)
{
    double *acc = x->acc[t] + (size_t)w * count[t] + lo;
    const size_t es = dtype[t] == RCOMM_F64 ? 8 : 4, blk = cfg.block_bytes / es;
    const int compressed = c && dtype[t] == RCOMM_F32;
    const int dense = compressed && c->cfg.kind != RCOMM_COMPRESS_TOPK &&
                      c->cfg.kind != RCOMM_COMPRESS_RANDK;
    size_t m = 0, kept = 0, j = 0;

    if (dense) { /* every block encoded; the encoding's loss stays */
        for (size_t first = 0; first < n; first += blk) {
            const size_t len = n - first < blk ? n - first : blk;
            const size_t sb = cmp_sign_bytes(len, c->cfg.chunk);
            const int sign = c->cfg.kind == RCOMM_COMPRESS_SIGN,
                      raw = sign && sb >= 4 * len;
            unsigned char img[64];
            for (size_t k = 0; k < len; k++)
                x->facc[k] = (float)acc[first + k];
            memset(x->fv, 0, len * sizeof(float));
            if (sign) {
                cmp_sign_encode(x->facc, len, c->cfg.chunk, img);
                cmp_sign_decode_add(img, len, c->cfg.chunk, x->fv);
            }
            for (size_t k = 0; k < len && !sign; k++)
                x->fv[k] = c->cfg.kind == RCOMM_COMPRESS_BF16
                               ? reduce_bf16_to_f32(reduce_f32_to_bf16(x->facc[k]))
                               : reduce_f16_to_f32(reduce_f32_to_f16(x->facc[k]));
            x->bytes[w] += raw ? 4 * len : sign ? sb : 2 * len;
            for (size_t k = 0; k < len; k++) { /* a raw block goes whole */
                const float v = raw ? x->facc[k] : x->fv[k];
                x->d[t][lo + first + k] = (float)(x->d[t][lo + first + k] + v);
                x->mark[t][lo + first + k] = 1;
                acc[first + k] = (double)(x->facc[k] - v);
            }
        }
        return;
    }
    if (compressed) {
        m = cmp_keep(c, n);
        for (size_t k = 0; k < n; k++)
            x->facc[k] = (float)acc[k];
        if (c->cfg.kind == RCOMM_COMPRESS_TOPK)
            cmp_topk_select(x->facc, n, m, x->pick, x->fv, x->fs);
        else
            cmp_randk_indices(c->cfg.seed, t * cfg.num_servers + s, (uint64_t)step, n, m,
                              x->pick);
    } else if (cfg.push_threshold > 0) {
        for (size_t k = 0; k < n; k++)
            x->pick[m++] = (uint32_t)k;
    }
    for (size_t i = 0; i < m; i++)
        if (picked(acc[x->pick[i]], init(t, lo + x->pick[i])))
            x->pick[kept++] = x->pick[i];
    for (size_t first = 0; first < n; first += blk) {
        const size_t len = n - first < blk ? n - first : blk;
        size_t a = j, whole;
        while (j < kept && x->pick[j] < first + len)
            j++;
        whole = !(compressed || cfg.push_threshold > 0) ||
                (j > a && ps_sparse_bytes(j - a, es) >= len * es);
        x->bytes[w] += whole ? len * es : j > a ? ps_sparse_bytes(j - a, es) : 0;
        for (size_t k = first; k < first + len; k++) {
            int send = whole;
            for (size_t i = a; i < j && !send; i++)
                send = x->pick[i] == k;
            if (!send)
                continue;
            x->d[t][lo + k] = round_as(t, x->d[t][lo + k] + acc[k]);
            x->mark[t][lo + k] = 1;
            acc[k] = 0;
        }
    }
}

/* One BSP step of every worker, then the servers' update. */
static int model_step(model_t *x, rcomm_ps_t *ps, rcomm_compressor_t *c, int step)
{
    for (int t = 0; t < NT; t++) {
        memset(x->d[t], 0, count[t] * sizeof(double));
        memset(x->mark[t], 0, count[t]);
        for (int w = 0; w < nworkers(); w++)
            for (size_t k = 0; k < count[t]; k++)
                x->acc[t][(size_t)w * count[t] + k] += grad(w, step, t, k);
        for (int w = 0; w < nworkers(); w++)
            for (size_t k = 0; k < count[t];) {
                int s;
                size_t lo, n;
                CALL(rcomm_ps_owner(ps, t, k, &s, &lo, &n));
                push_range(x, c, w, step, t, s, lo, n);
                k = lo + n;
            }
        for (size_t k = 0; k < count[t]; k++)
            if (x->mark[t][k]) {
                /* As the server computes, in the tensor's precision. */
                x->m[t][k] =
                    round_as(t, round_as(t, cfg.momentum * x->m[t][k]) + x->d[t][k]);
                x->p[t][k] = round_as(t, x->p[t][k] - round_as(t, cfg.lr * x->m[t][k]));
            }
    }
    return 0;
}

static int run(const char *mode)
{
    const int worker = cfg.servers_work || rank >= cfg.num_servers || size == 1;
    const int me = cfg.servers_work || size == 1 ? rank : rank - cfg.num_servers;
    rcomm_ps_tensor_t tensors[NT];
    rcomm_compressor_t *c = NULL;
    rcomm_ps_t *ps = NULL;
    rcomm_ps_stats_t st;
    model_t x = {0};
    void *buf[NT], *got = malloc(count[0] * 8);
    double *in[NT];
    int64_t sparse = 0;

    if (strcmp(mode, "filter") && strcmp(mode, "relative")) {
        rcomm_compress_config_t cc;
        int kind = 0;
        while (strcmp(rcomm_compress_kind_name((rcomm_compress_kind_t)kind), mode))
            kind++; /* main() checked the name */
        rcomm_compress_config_init(&cc, (rcomm_compress_kind_t)kind);
        cc.k = 5;
        cc.seed = 7;
        CALL(rcomm_compressor_create(comm, &cc, &c));
        cfg.compressor = c;
    }
    cfg.push_threshold = !strcmp(mode, "filter")     ? 0.5
                         : !strcmp(mode, "relative") ? 0.25
                                                     : 0;
    cfg.push_relative = !strcmp(mode, "relative");
    for (int t = 0; t < NT; t++) {
        const size_t n = count[t];
        in[t] = malloc(n * sizeof(double));
        buf[t] = malloc(n * 8);
        x.acc[t] = calloc((size_t)nworkers() * n, sizeof(double));
        x.p[t] = malloc(n * sizeof(double));
        x.m[t] = calloc(n, sizeof(double));
        x.d[t] = malloc(n * sizeof(double));
        x.mark[t] = malloc(n);
        for (size_t k = 0; k < n; k++) {
            x.p[t][k] = in[t][k] = init(t, k);
            if (dtype[t] == RCOMM_F32)
                ((float *)buf[t])[k] = (float)in[t][k];
            else
                ((double *)buf[t])[k] = in[t][k];
        }
        tensors[t] = (rcomm_ps_tensor_t){t ? "b" : "a", n, dtype[t], buf[t]};
    }
    x.pick = malloc(count[0] * 4);
    x.bytes = calloc((size_t)nworkers(), sizeof(uint64_t));
    x.fv = malloc(count[0] * 4);
    x.fs = malloc(count[0] * 4);
    x.facc = malloc(count[0] * 4);
    CALL(rcomm_ps_create(comm, &cfg, tensors, NT, &ps));
    if (worker) {
        for (int t = 0; t < NT; t++) /* the local copy the relative filter uses */
            CALL(rcomm_ps_pull(ps, t, 0, count[t], got, NULL));
        for (int s = 0; s < steps; s++) {
            for (int t = 0; t < NT; t++) {
                for (size_t k = 0; k < count[t]; k++)
                    if (dtype[t] == RCOMM_F32)
                        ((float *)buf[t])[k] = (float)grad(me, s, t, k);
                    else
                        ((double *)buf[t])[k] = grad(me, s, t, k);
                CALL(rcomm_ps_push(ps, t, 0, count[t], buf[t]));
            }
            CALL(rcomm_ps_clock(ps));
        }
    }
    for (int s = 0; s < steps; s++)
        if (model_step(&x, ps, c, s))
            return 1;
    if (worker) {
        for (int t = 0; t < NT; t++) {
            CALL(rcomm_ps_pull(ps, t, 0, count[t], got, NULL));
            for (size_t k = 0; k < count[t]; k++) {
                double v = dtype[t] == RCOMM_F32 ? ((float *)got)[k] : ((double *)got)[k];
                if (v != x.p[t][k]) {
                    FAIL("%s: tensor %d key %zu is %.17g after %d steps, the model's "
                         "%.17g",
                         mode, t, k, v, steps, x.p[t][k]);
                    break;
                }
            }
        }
        CALL(rcomm_ps_stats(ps, &st));
        sparse = (int64_t)st.keys_pushed;
        if (st.bytes_pushed != x.bytes[me])
            FAIL("%s: pushed %llu bytes, the model %llu", mode,
                 (unsigned long long)st.bytes_pushed, (unsigned long long)x.bytes[me]);
    } else {
        CALL(rcomm_ps_serve(ps));
    }
    CALL(rcomm_ps_destroy(ps));
    /* Some worker sent keys sparse: the path under test was taken. */
    CALL(rcomm_allreduce(comm, RCOMM_IN_PLACE, &sparse, 1, RCOMM_I64, RCOMM_SUM));
    if (!sparse &&
        (!c || c->cfg.kind == RCOMM_COMPRESS_TOPK || c->cfg.kind == RCOMM_COMPRESS_RANDK))
        FAIL("%s: no worker sent a sparse push", mode);
    /* A threshold picks keys; a dense encoding sends whole blocks. */
    if (c && c->cfg.kind == RCOMM_COMPRESS_SIGN) {
        rcomm_ps_config_t both = cfg;
        both.push_threshold = 0.5;
        if (expect("rcomm_ps_create, sign and a threshold",
                   rcomm_ps_create(comm, &both, tensors, NT, &ps), RCOMM_ERR_INVALID_ARG,
                   "push_threshold"))
            bad = 1;
    }
    /* The last rank without the filter or the compressor. */
    if (size > 1) {
        rcomm_ps_config_t other = cfg;
        if (rank == size - 1) {
            other.push_threshold = c ? 0 : 0.75;
            other.compressor = NULL;
        }
        if (expect("rcomm_ps_create, another push config on the last rank",
                   rcomm_ps_create(comm, &other, tensors, NT, &ps), RCOMM_ERR_MISMATCH,
                   c ? "compressor" : "push_threshold"))
            bad = 1;
    }
    for (int t = 0; t < NT; t++) {
        free(in[t]), free(buf[t]), free(x.acc[t]), free(x.p[t]), free(x.m[t]);
        free(x.d[t]), free(x.mark[t]);
    }
    free(x.pick), free(x.fv), free(x.fs), free(x.facc), free(x.bytes), free(got);
    rcomm_compressor_destroy(c);
    return 0;
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"servers", 1, 0, 'S'}, {"work", 0, 0, 'W'}, {"steps", 1, 0, 'T'}, {0, 0, 0, 0}};
    static const char *const modes[7] = {"filter", "relative", "topk", "randk",
                                         "bf16",   "f16",      "sign"};
    int c, rc, known = 0;

    rcomm_ps_config_init(&cfg);
    cfg.block_bytes = 64;
    cfg.lr = 0.5;
    cfg.momentum = 0.5;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'S': cfg.num_servers = atoi(optarg); break;
        case 'W': cfg.servers_work = 1; break;
        case 'T': steps = atoi(optarg); break;
        default: return 2;
        }
    }
    for (int k = 0; optind == argc - 1 && k < 7; k++)
        known |= !strcmp(argv[optind], modes[k]);
    if (!known) {
        fprintf(stderr, "usage: ps_sparse_check [--servers S] [--work] [--steps T] "
                        "filter|relative|topk|randk|bf16|f16|sign\n");
        return 2;
    }
    comm = join();
    rc = run(argv[optind]);
    rcomm_comm_destroy(comm);
    if (!rc && !bad && rank == 0)
        printf("ps_sparse_check %s: %d ranks OK\n", argv[optind], size);
    return rc ? rc : bad;
}
