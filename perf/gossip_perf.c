/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * rcomm-gossip-perf: one round of neighbour averaging per graph and size,
 * against an allreduce of the same vector. One process per rank:
 *   rcomm-run -n 8 rcomm-gossip-perf -b 8 -e 64M -f 2
 * For each size (bytes of an f32 vector) and graph:
 *   degree     : the most out-neighbours a rank sends to
 *   sent(B)    : bytes the busiest rank sends per round (degree x size)
 *   time(us)   : microseconds per rcomm_neighbor_allreduce: mean of -n
 *                calls on the slowest rank, median of -r repetitions
 *   allreduce  : the same for rcomm_allreduce (f32 sum, in place) of the
 *                vector, interleaved with it per repetition; its ring
 *                sends 2 (p-1)/p x size per rank
 *   ratio      : allreduce / time (above 1: the round is cheaper)
 * Rank 0 prints the table and, per graph, a line that grades the largest
 * size: the round's time and bytes against the allreduce's.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "perf/grade.h"
#include "perf/perf_cli.h"

#define TOOL "rcomm-gossip-perf"
#define MAX_REPS 64

static const char *const graph_names[RCOMM_GRAPH_KIND_COUNT] = {"ring", "torus", "exp2",
                                                                "full", "one-peer"};

typedef struct {
    size_t minb, maxb, factor;
    int iters, warmup, reps;
    int graphs[RCOMM_GRAPH_KIND_COUNT], ngraphs;
} opts_t;

static rcomm_comm_t *comm;
static int rank, size;

static void usage(FILE *f)
{
    fprintf(f, "usage: rcomm-run -n N " TOOL " [options]\n"
               "  -b SIZE   smallest vector in bytes (default 8; K, M, G suffixes)\n"
               "  -e SIZE   largest vector in bytes (default 16M)\n"
               "  -f N      multiply the size by N each step (default 2)\n"
               "  -n N      timed calls per size (default 20)\n"
               "  -w N      warm-up calls per size (default 3)\n"
               "  -r N      repetitions; the median is reported (default 3)\n"
               "  -G LIST   graphs, comma-separated: ring torus exp2 full one-peer "
               "(default all)\n"
               "  -h        this help\n");
}

static void parse(int argc, char **argv, opts_t *o)
{
    int opt;

    *o = (opts_t){8, 16 << 20, 2, 20, 3, 3, {0}, 0};
    while ((opt = getopt(argc, argv, "b:e:f:n:w:r:G:h")) != -1) {
        switch (opt) {
        case 'b': o->minb = perf_parse_size(optarg); break;
        case 'e': o->maxb = perf_parse_size(optarg); break;
        case 'f': o->factor = (size_t)perf_parse_int(optarg, 2); break;
        case 'n': o->iters = perf_parse_int(optarg, 1); break;
        case 'w': o->warmup = perf_parse_int(optarg, 0); break;
        case 'r': o->reps = perf_parse_int(optarg, 1); break;
        case 'G':
            o->ngraphs = perf_parse_list(optarg, graph_names, RCOMM_GRAPH_KIND_COUNT,
                                         o->graphs, "-G");
            break;
        case 'h': usage(stdout); exit(0);
        default: usage(stderr); exit(2);
        }
    }
    if (o->minb < 4 || o->minb > o->maxb)
        perf_bad_usage("need 4 <= -b <= -e", NULL);
    if (o->reps > MAX_REPS)
        o->reps = MAX_REPS;
    if (!o->ngraphs)
        for (int i = 0; i < RCOMM_GRAPH_KIND_COUNT; i++)
            o->graphs[o->ngraphs++] = i;
}

/* Mean seconds per call on the slowest rank of `calls` calls. */
static double timed(rcomm_graph_t *g, float *x, float *y, size_t n, int calls)
{
    double t = 0, t0;

    for (int i = 0; i < calls; i++) {
        t0 = grade_now_s();
        if (g ? rcomm_neighbor_allreduce(g, x, y, n, RCOMM_F32)
              : rcomm_allreduce(comm, RCOMM_IN_PLACE, y, n, RCOMM_F32, RCOMM_SUM))
            perf_die(g ? "rcomm_neighbor_allreduce" : "rcomm_allreduce");
        t += grade_now_s() - t0;
    }
    t /= calls;
    if (rcomm_allreduce(comm, RCOMM_IN_PLACE, &t, 1, RCOMM_F64, RCOMM_MAX))
        perf_die("allreduce of timings");
    return t;
}

/* The most out-neighbours any rank has at the graph's current step: each
 * rank marks the ranks it receives from, and the marks are summed. */
static int max_degree(rcomm_graph_t *g)
{
    int *nbrs = malloc((size_t)size * sizeof(int)),
        *out = calloc((size_t)size, sizeof(int));
    int *all = calloc((size_t)size, sizeof(int)), best = 0;
    size_t nin;

    if (!nbrs || !out || !all)
        perf_die("degree buffers");
    if (rcomm_graph_in_neighbors(g, rcomm_graph_step(g), nbrs, NULL, (size_t)size, &nin,
                                 NULL))
        perf_die("rcomm_graph_in_neighbors");
    for (size_t k = 0; k < nin; k++)
        out[nbrs[k]] = 1; /* nbrs[k] sends to us */
    if (rcomm_allreduce(comm, out, all, (size_t)size, RCOMM_I32, RCOMM_SUM))
        perf_die("allreduce of degrees");
    for (int r = 0; r < size; r++)
        best = all[r] > best ? all[r] : best;
    free(nbrs);
    free(out);
    free(all);
    return best;
}

int main(int argc, char **argv)
{
    opts_t o;
    const char *tp;
    float *x, *y;
    double ratio_at_max[RCOMM_GRAPH_KIND_COUNT] = {0};
    size_t sent_at_max[RCOMM_GRAPH_KIND_COUNT] = {0}, bytes_max = 0;

    perf_prog = TOOL;
    perf_usage = usage;
    parse(argc, argv, &o);
    comm = perf_comm_create(&rank, &size, &tp);
    x = malloc(o.maxb);
    y = malloc(o.maxb);
    if (!x || !y)
        perf_die("buffers");
    for (size_t i = 0; i < o.maxb / 4; i++)
        x[i] = y[i] = (float)((i + (size_t)rank) % 7);
    if (rank == 0) {
        printf("# " TOOL ": %d ranks, transport %s, iters %d, warmup %d, reps %d\n", size,
               tp, o.iters, o.warmup, o.reps);
        printf("# %10s %10s %9s %6s %12s %10s %12s %8s\n", "size(B)", "count", "graph",
               "degree", "sent(B)", "time(us)", "allreduce", "ratio");
    }
    for (size_t bytes = o.minb; bytes <= o.maxb; bytes *= o.factor) {
        const size_t n = bytes / 4;
        for (int a = 0; a < o.ngraphs; a++) {
            rcomm_graph_t *g;
            double tg[MAX_REPS], ta[MAX_REPS];
            int deg;

            if (rcomm_graph_create(comm, (rcomm_graph_kind_t)o.graphs[a], &g))
                perf_die("rcomm_graph_create");
            deg = max_degree(g);
            timed(g, x, y, n, o.warmup ? o.warmup : 1);
            timed(NULL, x, y, n, o.warmup ? o.warmup : 1);
            for (int r = 0; r < o.reps; r++) {
                tg[r] = timed(g, x, y, n, o.iters);
                ta[r] = timed(NULL, x, y, n, o.iters);
            }
            double t1 = grade_median(tg, o.reps), t2 = grade_median(ta, o.reps);
            ratio_at_max[o.graphs[a]] = t2 / t1;
            sent_at_max[o.graphs[a]] = (size_t)deg * n * 4;
            bytes_max = n * 4;
            if (rank == 0)
                printf("  %10zu %10zu %9s %6d %12zu %10.2f %12.2f %8.2f\n", n * 4, n,
                       graph_names[o.graphs[a]], deg, (size_t)deg * n * 4, t1 * 1e6,
                       t2 * 1e6, t2 / t1);
            rcomm_graph_destroy(g);
        }
        if (bytes > o.maxb / o.factor)
            break;
    }
    if (rank == 0)
        for (int a = 0; a < o.ngraphs; a++) {
            int k = o.graphs[a];
            printf(
                "# %-8s: at %zu B a round took %.2fx %s an allreduce, sending %zu B per "
                "rank against the ring allreduce's %.0f\n",
                graph_names[k], bytes_max,
                ratio_at_max[k] >= 1 ? ratio_at_max[k] : 1 / ratio_at_max[k],
                ratio_at_max[k] >= 1 ? "less time than" : "the time of", sent_at_max[k],
                2.0 * (size - 1) / size * (double)bytes_max);
        }
    free(x);
    free(y);
    rcomm_comm_destroy(comm);
    return 0;
}
