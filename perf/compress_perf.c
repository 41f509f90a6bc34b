/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * rcomm-compress-perf: gradient compression per kind and size. One process
 * per rank:
 *   rcomm-run -n 4 rcomm-compress-perf -b 4K -e 16M -f 4 -K topk,sign -R 0.01
 * For each size (bytes of an f32 gradient) and kind:
 *   encode, decode : GB/s of gradient bytes through the kind's encode and
 *                    one decode_add, on this rank alone (no network)
 *   wire           : bytes one rank's encoding takes; ratio = 4 n / wire
 *   time, plain    : microseconds per rcomm_allreduce_compressed and per
 *                    plain f32 rcomm_allreduce (SUM) of the same gradient:
 *                    mean of -n calls on the slowest rank, median of -r
 *                    repetitions, the two interleaved per repetition
 *   speedup        : plain / time
 * The gradients are random (seeded by rank) and reset before every call, so
 * every call compresses the same kind of input. Rank 0 prints the table and,
 * per kind, a line that grades it: the wire ratio at the largest size and
 * whether the compressed allreduce beat the plain one there.
 */
#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hooks/hooks.h"
#include "perf/grade.h"
#include "perf/perf_cli.h"

#define TOOL "rcomm-compress-perf"
#define MAX_REPS 64

typedef struct {
    size_t minb, maxb, factor;
    int iters, warmup, reps;
    int kinds[RCOMM_COMPRESS_COUNT], nkinds;
    double ratio;
    size_t chunk;
} opts_t;

static rcomm_comm_t *comm;
static int rank, size;

static void usage(FILE *f)
{
    fprintf(f,
            "usage: rcomm-run -n N " TOOL " [options]\n"
            "  -b SIZE   smallest gradient in bytes (default 4K; K, M, G suffixes)\n"
            "  -e SIZE   largest gradient in bytes (default 16M)\n"
            "  -f N      multiply the size by N each step (default 4)\n"
            "  -n N      timed calls per size (default 20)\n"
            "  -w N      warm-up calls per size (default 3)\n"
            "  -r N      repetitions; the median is reported (default 3)\n"
            "  -K LIST   kinds, comma-separated: bf16 f16 randk topk sign (default all)\n"
            "  -R X      randk and topk: fraction of entries kept (default 0.01)\n"
            "  -c N      sign: entries per scale (default 1024)\n"
            "  -h        this help\n");
}

static void parse(int argc, char **argv, opts_t *o)
{
    int opt;

    *o = (opts_t){4096, 16 << 20, 4, 20, 3, 3, {0}, 0, 0.01, 1024};
    while ((opt = getopt(argc, argv, "b:e:f:n:w:r:K:R:c:h")) != -1) {
        switch (opt) {
        case 'b': o->minb = perf_parse_size(optarg); break;
        case 'e': o->maxb = perf_parse_size(optarg); break;
        case 'f': o->factor = (size_t)perf_parse_int(optarg, 2); break;
        case 'n': o->iters = perf_parse_int(optarg, 1); break;
        case 'w': o->warmup = perf_parse_int(optarg, 0); break;
        case 'r': o->reps = perf_parse_int(optarg, 1); break;
        case 'R':
            o->ratio = atof(optarg);
            if (!(o->ratio > 0 && o->ratio <= 1))
                perf_bad_usage("-R must be in (0, 1]", optarg);
            break;
        case 'c': o->chunk = (size_t)perf_parse_int(optarg, 1); break;
        case 'K': {
            const char *names[RCOMM_COMPRESS_COUNT];
            for (int i = 0; i < RCOMM_COMPRESS_COUNT; i++)
                names[i] = rcomm_compress_kind_name((rcomm_compress_kind_t)i);
            o->nkinds =
                perf_parse_list(optarg, names, RCOMM_COMPRESS_COUNT, o->kinds, "-K");
            break;
        }
        case 'h': usage(stdout); exit(0);
        default: usage(stderr); exit(2);
        }
    }
    if (o->minb < 4 || o->minb > o->maxb)
        perf_bad_usage("need 4 <= -b <= -e", NULL);
    if (o->reps > MAX_REPS)
        o->reps = MAX_REPS;
    if (!o->nkinds)
        for (int i = 0; i < RCOMM_COMPRESS_COUNT; i++)
            o->kinds[o->nkinds++] = i;
}

static void fill(float *g, size_t n, uint64_t seed)
{
    for (size_t i = 0; i < n; i++) {
        seed = seed * 6364136223846793005ull + 1442695040888963407ull;
        g[i] = (float)((double)(int32_t)(seed >> 32) / 2147483648.0);
    }
}

/* Mean seconds per call on the slowest rank of `calls` calls. */
static double timed(rcomm_compressor_t *c, float *buf, const float *g, size_t n,
                    int calls, int compressed)
{
    double t = 0, t0;

    for (int i = 0; i < calls; i++) {
        memcpy(buf, g, n * sizeof(float)); /* the same input every call */
        t0 = grade_now_s();
        if (compressed
                ? rcomm_allreduce_compressed(c, 0, buf, n, RCOMM_SUM)
                : rcomm_allreduce(comm, RCOMM_IN_PLACE, buf, n, RCOMM_F32, RCOMM_SUM))
            perf_die(compressed ? "rcomm_allreduce_compressed" : "rcomm_allreduce");
        t += grade_now_s() - t0;
    }
    t /= calls;
    if (rcomm_allreduce(comm, RCOMM_IN_PLACE, &t, 1, RCOMM_F64, RCOMM_MAX))
        perf_die("allreduce of timings");
    return t;
}

int main(int argc, char **argv)
{
    opts_t o;
    const char *tp;
    float *g, *buf;
    double ratio_at_max[RCOMM_COMPRESS_COUNT] = {0},
           speedup_at_max[RCOMM_COMPRESS_COUNT] = {0};

    perf_prog = TOOL;
    perf_usage = usage;
    parse(argc, argv, &o);
    comm = perf_comm_create(&rank, &size, &tp);
    g = malloc(o.maxb);
    buf = malloc(o.maxb);
    if (!g || !buf)
        perf_die("buffers");
    if (rank == 0) {
        printf("# " TOOL ": %d ranks, transport %s, iters %d, warmup %d, reps %d, ratio "
               "%g, chunk %zu\n",
               size, tp, o.iters, o.warmup, o.reps, o.ratio, o.chunk);
        printf("# %10s %10s %8s %12s %12s %10s %8s %10s %10s %8s\n", "size(B)", "count",
               "kind", "encode(GB/s)", "decode(GB/s)", "wire(B)", "ratio", "time(us)",
               "plain(us)", "speedup");
    }
    for (size_t bytes = o.minb; bytes <= o.maxb; bytes *= o.factor) {
        const size_t n = bytes / 4;
        fill(g, n, 12345 + (uint64_t)rank);
        for (int a = 0; a < o.nkinds; a++) {
            rcomm_compress_config_t cfg;
            rcomm_compressor_t *c;
            double tc[MAX_REPS], tpl[MAX_REPS], enc_s, dec_s;
            size_t wire;

            rcomm_compress_config_init(&cfg, (rcomm_compress_kind_t)o.kinds[a]);
            cfg.ratio = o.ratio;
            cfg.chunk = o.chunk;
            cfg.error_feedback = 0; /* the same input every call: no residual */
            rcomm_status_t cst = rcomm_compressor_create(comm, &cfg, &c);
            if (cst == RCOMM_ERR_UNSUPPORTED)
                continue; /* powersgd without OpenBLAS: said in the error */
            if (cst != RCOMM_OK)
                perf_die("rcomm_compressor_create");
            /* PowerSGD: the gradient as a matrix as square as a power of two
             * allows (the sizes are powers of two). */
            size_t rows = 1;
            while (rows * rows * 4 <= n)
                rows *= 2;
            if (n % rows == 0 && rcomm_compress_shape(c, 0, rows, n / rows) != RCOMM_OK)
                perf_die("rcomm_compress_shape");
            if (hook_compress_rates(c, g, n, o.iters, &enc_s, &dec_s) != RCOMM_OK)
                perf_die("the local rates");
            rcomm_compress_wire_bytes(c, 0, n, &wire);
            timed(c, buf, g, n, o.warmup ? o.warmup : 1, 1);
            timed(c, buf, g, n, o.warmup ? o.warmup : 1, 0);
            for (int r = 0; r < o.reps; r++) {
                tc[r] = timed(c, buf, g, n, o.iters, 1);
                tpl[r] = timed(c, buf, g, n, o.iters, 0);
            }
            double t1 = grade_median(tc, o.reps), t2 = grade_median(tpl, o.reps);
            ratio_at_max[o.kinds[a]] = (double)bytes / (double)wire;
            speedup_at_max[o.kinds[a]] = t2 / t1;
            if (rank == 0)
                printf(
                    "  %10zu %10zu %8s %12.3f %12.3f %10zu %8.2f %10.2f %10.2f %8.2f\n",
                    bytes, n, rcomm_compress_kind_name(cfg.kind),
                    enc_s ? (double)bytes / enc_s / 1e9 : 0.0,
                    dec_s ? (double)bytes / dec_s / 1e9 : 0.0, wire,
                    (double)bytes / (double)wire, t1 * 1e6, t2 * 1e6, t2 / t1);
            rcomm_compressor_destroy(c);
        }
        if (bytes > o.maxb / o.factor)
            break;
    }
    if (rank == 0)
        for (int a = 0; a < o.nkinds; a++) {
            int k = o.kinds[a];
            printf("# %-6s: wire %.1fx smaller at the largest size; the compressed "
                   "allreduce took %.2fx %s the plain one\n",
                   rcomm_compress_kind_name((rcomm_compress_kind_t)k), ratio_at_max[k],
                   speedup_at_max[k] >= 1 ? speedup_at_max[k] : 1 / speedup_at_max[k],
                   speedup_at_max[k] >= 1 ? "less time than" : "the time of");
        }
    free(g);
    free(buf);
    rcomm_comm_destroy(comm);
    return 0;
}
