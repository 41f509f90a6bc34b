/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * rcomm-tune: measure the cost model's constants on this machine and write a
 * tuning file for RCOMM_TUNING_FILE (format in src/coll/model.h).
 *
 *   rcomm-run -n 4 rcomm-tune -o tcp.tuning
 *   RCOMM_TUNING_FILE=tcp.tuning rcomm-run -n 4 rcomm-allreduce-perf -a all
 *
 * Run it with the transport and as many ranks per host as the jobs it is for:
 * every rank works at once, as in a collective, so the figures include the
 * contention for cores, memory and links that the algorithms meet.
 *
 * What is measured, each size the median of -r repetitions:
 *  - msg(m): one step of the algorithms. Ranks pair up (0-1, 2-3, ...; an odd
 *    last rank waits) and exchange m bytes both ways through the collective
 *    executor, in segments, as ring, butterfly and recursive doubling do. At
 *    every power of two from -b to -e, and just above the transport's eager
 *    limit: the protocol step.
 *  - red(m): reducing m bytes (f32 sum, out of place), on every rank at once.
 *
 *  - rules (model.h): allreduce with ring, butterfly, rd, direct (and hier), broadcast
 * with binomial and chain, at every power of two from -b to -e, the algorithms taking
 * turns within each repetition; per size, at this job's rank count, the formulas' own
 * choice while it is within -g (5%) of the fastest, else the previous size's choice if
 * that is, else the fastest (a rule that followed noise would flip between runs). -R
 * skips them.
 *
 *  - in a job where shared memory serves each host's ranks beside a network
 *    (RCOMM_SHM=auto over several hosts), two sections: the network's,
 *    timed between hosts 0 and 1, 2 and 3 ..., every rank with the rank of
 *    its place on the other host, each sending its share of the size: a
 *    size is the bytes on a host's link (links.c prices steps so), with
 *    every rank as busy as in a collective; and shm's, timed between
 *    neighbours on each host, every host at once.
 *    Rules then include hier. With every rank on one host, shm alone.
 *
 * Noise is smoothed by isotonic regression: the non-decreasing curve closest
 * to the medians (a size never costs more than a larger one).
 *
 * The classes: one per measured size m_k, holding (m_{k-1}, m_k]. Inside it
 * msg is the straight line through the two measured ends, so the model is
 * continuous, never decreasing, and equal to the measurement at every m_k;
 * beta_k is that line's slope and alpha_k where it meets m = 0 (the latency
 * in the small classes; less, even negative, where time grows faster than
 * size, as when the working set leaves the cache). The first class is flat;
 * the step at the eager limit is the line between eager and eager + 8 bytes.
 * gamma_k = red(m_k) / m_k. The slowest rank's time counts (max over ranks).
 */
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hooks/hooks.h"
#include "perf/grade.h"
#include "perf/perf_cli.h"
#include "rcomm.h"

#define MAX_POINTS (COLL_MODEL_MAX_CLASSES - 1)

typedef struct {
    size_t minb, maxb;
    int iters, reps, rules;
    double gain; /* -g: what a rule must gain over the formulas' choice */
    const char *out;
} opts_t;

static rcomm_comm_t *comm;
static int rank, size;

static void usage(FILE *f)
{
    fprintf(f,
            "usage: %s [options]   (every rank of a job, e.g. rcomm-run -n 4 %s)\n"
            "Measures the cost model's constants (message latency and time per byte,\n"
            "reduction time per byte, the step at the eager limit) with this job's\n"
            "transport and ranks, and writes a tuning file for RCOMM_TUNING_FILE.\n"
            "  -b SIZE   smallest message (default 8)\n"
            "  -e SIZE   largest message (default 64M; K, M, G suffixes)\n"
            "  -n N      exchanges timed per size and repetition (default: 20 up to\n"
            "            64 KiB, fewer above, at least 2)\n"
            "  -r N      repetitions, the median counts (default 5)\n"
            "  -o FILE   write the tuning file there (default: standard output)\n"
            "  -R        no rules: skip timing every algorithm at this rank count\n"
            "  -g PCT    a rule departs from the formulas' choice only where that is\n"
            "            more than PCT%% slower than the fastest (default 5; set it to\n"
            "            what separate runs of one job differ by on this machine)\n"
            "  -h        this help\n",
            perf_prog, perf_prog);
}

static void parse(int argc, char **argv, opts_t *o)
{
    int c;

    *o = (opts_t){8, 64 << 20, 0, 5, 1, 1.05, NULL};
    while ((c = getopt(argc, argv, "b:e:n:r:o:g:Rh")) != -1) {
        switch (c) {
        case 'b': o->minb = perf_parse_size(optarg); break;
        case 'e': o->maxb = perf_parse_size(optarg); break;
        case 'n': o->iters = perf_parse_int(optarg, 1); break;
        case 'r': o->reps = perf_parse_int(optarg, 1); break;
        case 'o': o->out = optarg; break;
        case 'R': o->rules = 0; break;
        case 'g': o->gain = 1 + perf_parse_int(optarg, 0) / 100.0; break;
        case 'h': usage(stdout); exit(0);
        default: perf_bad_usage("unknown option", NULL);
        }
    }
    if (optind < argc)
        perf_bad_usage("unexpected argument", argv[optind]);
    if (o->minb < 1 || o->maxb < o->minb || o->maxb > ((size_t)1 << 32))
        perf_bad_usage("need 1 <= -b <= -e <= 4G", NULL);
    if (o->reps > 64)
        perf_bad_usage("-r is at most 64", NULL);
}

static int iters_for(const opts_t *o, size_t m)
{
    if (o->iters)
        return o->iters;
    return m <= (64 << 10) ? 20 : m <= (4 << 20) ? 8 : 3;
}

/* What is timed: one exchange with the partner, or one reduction. */
typedef struct {
    int peer; /* exchange: the partner (-1: take part only); reduce: -2 */
    size_t bytes;
    char *a, *b, *dst;
} step_t;

static void run_step(const step_t *st)
{
    if (st->peer == -2)
        reduce_apply(st->dst, st->a, st->b, st->bytes / 4 ? st->bytes / 4 : 1, RCOMM_F32,
                     RCOMM_SUM);
    else if (hook_exchange(comm, st->peer, st->a, st->dst, st->bytes) != RCOMM_OK)
        perf_die("exchange");
}

/* Seconds per step on the slowest rank, the median of -r repetitions of it
 * calls each, every rank at once (one warm-up step first). */
static double timed(const opts_t *o, const step_t *st, int it)
{
    double t[64];

    for (int r = 0; r < o->reps; r++) {
        if (rcomm_barrier(comm) != RCOMM_OK)
            perf_die("barrier");
        run_step(st);
        double t0 = grade_now_s();
        for (int i = 0; i < it; i++)
            run_step(st);
        t[r] = (grade_now_s() - t0) / it;
        if (rcomm_allreduce(comm, RCOMM_IN_PLACE, &t[r], 1, RCOMM_F64, RCOMM_MAX) !=
            RCOMM_OK)
            perf_die("allreduce of the times");
    }
    return grade_median(t, o->reps);
}

/* ---- rules: every algorithm, timed in turns ------------------------------ */

#define NCAND 7 /* ring, butterfly, rd, hier, direct; binomial, chain */
#define HIER 3  /* hier: a candidate only where the hosts have its shape */

static const struct {
    int coll, algo;
} cand[NCAND] = {
    {COLL_ALLREDUCE, RCOMM_ALGO_RING},   {COLL_ALLREDUCE, RCOMM_ALGO_BUTTERFLY},
    {COLL_ALLREDUCE, RCOMM_ALGO_RD},     {COLL_ALLREDUCE, RCOMM_ALGO_HIER},
    {COLL_ALLREDUCE, RCOMM_ALGO_DIRECT}, {COLL_BROADCAST, COLL_BCAST_BINOMIAL},
    {COLL_BROADCAST, COLL_BCAST_CHAIN},
};

static int cand_of(int coll, int algo)
{
    int c = 0;

    while (cand[c].coll != coll || cand[c].algo != algo)
        c++;
    return c;
}

static void run_cand(int c, char *sbuf, char *rbuf, size_t count)
{
    rcomm_status_t st;

    if (cand[c].coll == COLL_ALLREDUCE) {
        st = rcomm_allreduce_with(comm, sbuf, rbuf, count, RCOMM_F32, RCOMM_SUM,
                                  (rcomm_algo_t)cand[c].algo);
    } else {
        base_config_t *cfg = hook_config(comm);
        const int saved = cfg->bcast_algo; /* broadcast has no per-call choice */
        cfg->bcast_algo = cand[c].algo;
        st = rcomm_broadcast(comm, rbuf, count, RCOMM_F32, 0);
        cfg->bcast_algo = saved;
    }
    if (st != RCOMM_OK)
        perf_die(cand[c].coll == COLL_ALLREDUCE ? "allreduce" : "broadcast");
}

/* The fastest algorithm of each collective at every power of two, as rules
 * for this rank count: a run of sizes with the same winner is one rule. */
static void time_rules(const opts_t *o, char *sbuf, char *rbuf, coll_model_t *m,
                       const coll_model_t *shm, const hook_host_t *h)
{
    int last[2] = {0, 0}; /* per collective: index + 1 of its newest rule */
    coll_model_t f = *m;  /* the formulas alone */
    coll_links_t lk;

    f.nrules = 0;
    if (coll_links_init(&lk, &f, shm, size, h->host_of, h->nhosts) != RCOMM_OK)
        perf_die("the link map");

    for (size_t b = o->minb < 4 ? 4 : o->minb; b <= o->maxb; b *= 2) {
        double t[NCAND][64], med[NCAND], v[NCAND];
        const int it = iters_for(o, b);
        int best[2] = {-1, -1};

        for (int r = 0; r < o->reps; r++) {
            for (int c = 0; c < NCAND; c++) {
                if (c == HIER && !lk.per_host) {
                    v[c] = INFINITY;
                    continue;
                }
                if (rcomm_barrier(comm) != RCOMM_OK)
                    perf_die("barrier");
                run_cand(c, sbuf, rbuf, b / 4);
                double t0 = grade_now_s();
                for (int i = 0; i < it; i++)
                    run_cand(c, sbuf, rbuf, b / 4);
                v[c] = (grade_now_s() - t0) / it;
            }
            if (rcomm_allreduce(comm, RCOMM_IN_PLACE, v, NCAND, RCOMM_F64, RCOMM_MAX) !=
                RCOMM_OK)
                perf_die("allreduce of the times");
            for (int c = 0; c < NCAND; c++)
                t[c][r] = v[c];
        }
        for (int c = 0; c < NCAND; c++) {
            const int k = cand[c].coll == COLL_BROADCAST;
            med[c] = grade_median(t[c], o->reps);
            if (best[k] < 0 || med[c] < med[best[k]])
                best[k] = c;
        }
        /* Each time named from cand[], so that the line cannot fall out of
         * step with the candidates (it once printed direct's as binomial's). */
        if (rank == 0) {
            fprintf(stderr, "rcomm-tune: %10zu B ", b);
            for (int c = 0; c < NCAND; c++) {
                if (c == 0 || cand[c].coll != cand[c - 1].coll)
                    fprintf(stderr, "%s %s", c ? " us;" : "",
                            cand[c].coll == COLL_BROADCAST ? "broadcast" : "allreduce");
                fprintf(stderr, isinf(med[c]) ? " %s -" : " %s %.2f", /* -: not timed */
                        coll_model_algo_name(cand[c].coll, cand[c].algo), med[c] * 1e6);
            }
            fprintf(stderr, " us\n");
        }
        for (int k = 0; k < 2; k++) {
            coll_model_rule_t *prev = last[k] ? &m->rule[last[k] - 1] : NULL;
            const int coll = k ? COLL_BROADCAST : COLL_ALLREDUCE;
            const int formula =
                k ? (int)coll_select_broadcast(&f, -1, hook_config(comm)->segment_size,
                                               size, b)
                  : (int)coll_select_allreduce_on(&lk, RCOMM_ALGO_AUTO, b);
            int algo = cand[best[k]].algo;

            /* The formulas' choice stands while it is within -g of the
             * fastest, and so does the previous size's: a rule that follows
             * noise would flip at random between runs. */
            if (med[cand_of(coll, formula)] <= o->gain * med[best[k]])
                algo = formula;
            else if (prev && med[cand_of(coll, prev->algo)] <= o->gain * med[best[k]])
                algo = prev->algo;
            if (algo != formula && rank == 0)
                fprintf(
                    stderr,
                    "rcomm-tune: %10zu B  %s: rule %s, where the formulas pick %s "
                    "(%.0f%% slower)\n",
                    b, k ? "broadcast" : "allreduce", coll_model_algo_name(coll, algo),
                    coll_model_algo_name(coll, formula),
                    (med[cand_of(coll, formula)] / med[cand_of(coll, algo)] - 1) * 100);
            if (prev && prev->algo == algo) {
                prev->upto = b;
                continue;
            }
            if (m->nrules == COLL_MODEL_MAX_RULES)
                perf_die("too many rules");
            m->rule[m->nrules] = (coll_model_rule_t){coll, size, b, algo};
            last[k] = ++m->nrules;
        }
        if (b > o->maxb / 2)
            break;
    }
}

/* Pool adjacent violators: the non-decreasing sequence closest to v[0..n)
 * in least squares. A noisy dip or spike is averaged with its neighbours,
 * where a lower envelope would take the luckiest sample for all sizes below
 * it. */
static void monotone(double *v, int n)
{
    double mean[MAX_POINTS];
    int len[MAX_POINTS], nb = 0;

    for (int i = 0; i < n; i++) {
        mean[nb] = v[i];
        len[nb++] = 1;
        while (nb > 1 && mean[nb - 2] > mean[nb - 1]) {
            mean[nb - 2] = (mean[nb - 2] * len[nb - 2] + mean[nb - 1] * len[nb - 1]) /
                           (len[nb - 2] + len[nb - 1]);
            len[nb - 2] += len[nb - 1];
            nb--;
        }
    }
    for (int b = 0, i = 0; b < nb; b++)
        for (int k = 0; k < len[b]; k++)
            v[i++] = mean[b];
}

/* This rank's partner in a section's exchanges (-1: it takes part only),
 * and into how many streams (*split) a point's bytes are cut. One kind of
 * link: rank ^ 1, whole. Shared memory beside a network: for "shm", the
 * rank next to it on its host (each host's ranks paired in rank order,
 * every host at once, as in the hierarchical allreduce's host phase); for
 * the network, the rank of the same place on the host next to it (hosts
 * 0-1, 2-3 ...), every rank at once, each sending its share of the point:
 * the point is the bytes on a host's link, as links.c prices them, with
 * every core as busy as in a collective. */
static int partner(const hook_host_t *h, int shm, int *split)
{
    const int host = h->host_of ? h->host_of[rank] : 0;
    int idx = 0, here = 0, n = 0;

    *split = 1;
    if (!h->host_of || h->nhosts < 2)
        return (rank ^ 1) < size ? rank ^ 1 : -1;
    for (int r = 0; r < size; r++)
        if (h->host_of[r] == host) {
            idx += r < rank;
            here++;
        }
    if (shm)
        idx ^= 1;
    else
        *split = here;
    for (int r = 0; r < size; r++)
        if (h->host_of[r] == (shm ? host : host ^ 1) && n++ == idx)
            return r;
    return -1;
}

/* Measure one section of the model: msg with the partner (-1: none),
 * reduction, the step just above eager. */
static void measure(const opts_t *o, int peer, int split, size_t eager, const char *name,
                    int local, char *sbuf, char *rbuf, char *dst, coll_model_t *m,
                    double *step)
{
    size_t pts[MAX_POINTS];
    double msg[MAX_POINTS], red[MAX_POINTS];
    int np = 0, eager_at = -1;

    /* Powers of two, and the eager limit and just above it, in order. */
    for (size_t b = o->minb; b <= o->maxb && np < MAX_POINTS - 2; b *= 2) {
        const int at_eager = eager_at < 0 && eager >= o->minb && eager + 8 <= o->maxb;
        if (at_eager && eager < b) {
            pts[np++] = eager;
            eager_at = np;
            pts[np++] = eager + 8;
        }
        pts[np++] = b;
        if (at_eager && eager == b) {
            eager_at = np;
            pts[np++] = eager + 8;
        }
        if (b > o->maxb / 2)
            break;
    }
    for (int i = 0; i < np; i++) {
        const step_t x = {peer, (pts[i] + (size_t)split - 1) / (size_t)split, sbuf, NULL,
                          rbuf};
        const step_t rd = {-2, pts[i], sbuf, rbuf, dst};
        msg[i] = timed(o, &x, iters_for(o, pts[i]));
        red[i] = timed(o, &rd, iters_for(o, pts[i]) * 4);
        if (rank == 0)
            fprintf(stderr, "rcomm-tune: %s %10zu B  msg %10.2f us  reduce %10.2f us\n",
                    name, pts[i], msg[i] * 1e6, red[i] * 1e6);
    }
    /* A larger message never costs less: the closest non-decreasing curve. */
    monotone(msg, np);
    monotone(red, np);
    *step = eager_at > 0 ? msg[eager_at] - msg[eager_at - 1] : 0;

    memset(m, 0, sizeof(*m));
    snprintf(m->transport, sizeof(m->transport), "%s", name);
    m->ranks_per_host = local;
    for (int i = 0; i < np; i++) {
        coll_model_class_t *c = &m->cls[m->nclasses++];
        /* The line through this point and the previous one (the last class
         * extends it), flat below the smallest size. */
        double beta = i == 0 ? 0 : (msg[i] - msg[i - 1]) / (double)(pts[i] - pts[i - 1]);

        c->upto = i == np - 1 ? COLL_MODEL_LAST : pts[i];
        c->alpha_us = (msg[i] - beta * (double)pts[i]) * 1e6;
        c->beta_ns = beta * 1e9;
        c->gamma_ns = red[i] / (double)pts[i] * 1e9;
    }
}

static size_t eager_of(const char *tp)
{
    return strcmp(tp, "verbs") == 0 ? hook_config(comm)->ib_eager
           : strcmp(tp, "shm") == 0 ? hook_config(comm)->shm_eager
                                    : hook_config(comm)->tcp_eager;
}

int main(int argc, char **argv)
{
    opts_t o;
    const char *tp, *link = NULL;
    double step = 0, shm_step = 0;
    char *sbuf, *rbuf, *dst;
    coll_model_t m, shm;
    hook_host_t host;
    tp_caps_t caps;
    FILE *out = stdout;
    int two, peer, split, local;

    perf_prog = "rcomm-tune";
    perf_usage = usage;
    parse(argc, argv, &o);
    comm = perf_comm_create(&rank, &size, &tp);
    if (size < 2) {
        fprintf(stderr,
                "rcomm-tune: needs at least 2 ranks (rcomm-run -n 4 rcomm-tune)\n");
        return 2;
    }
    /* Shared memory alone when it serves every peer; beside the network
     * when it serves some: a section for each, the network's named by its
     * own transport ("tcp", not rcomm_comm_transport's "tcp+shm"). */
    tp = hook_config(comm)->transport;
    hook_host(comm, &host);
    if (hook_caps(comm, &caps, &link) && strcmp(link, "shm") == 0)
        tp = "shm";
    two = host.host_of && host.nhosts > 1;
    sbuf = aligned_alloc(4096, (o.maxb + 8 + 4095) & ~(size_t)4095);
    rbuf = aligned_alloc(4096, (o.maxb + 8 + 4095) & ~(size_t)4095);
    dst = aligned_alloc(4096, (o.maxb + 8 + 4095) & ~(size_t)4095);
    if (!sbuf || !rbuf || !dst)
        perf_die("allocating buffers");
    memset(sbuf, 1, o.maxb + 8);
    memset(rbuf, 2, o.maxb + 8);
    memset(dst, 0, o.maxb + 8);
    peer = partner(&host, 0, &split);
    /* Ranks per host: the host map's where shared memory draws it (hosts
     * that share a name, as simulated ones do, are still apart there). */
    local = two ? split : host.local_size;
    /* The protocol step where each stream's share passes the eager limit. */
    measure(&o, peer, split, eager_of(tp) * (size_t)split, tp, local, sbuf, rbuf, dst, &m,
            &step);
    if (two) {
        peer = partner(&host, 1, &split);
        measure(&o, peer, split, eager_of("shm"), "shm", local, sbuf, rbuf, dst, &shm,
                &shm_step);
    }
    if (o.rules)
        time_rules(&o, sbuf, rbuf, &m, two ? &shm : NULL, &host);
    if (rank == 0) {
        if (o.out && !(out = fopen(o.out, "w"))) {
            perror(o.out);
            return 1;
        }
        fprintf(out, "rcomm-tuning 1\n");
        fprintf(out,
                "# written by rcomm-tune: %d ranks, transport %s, segment %zu B,\n"
                "# eager limit %zu B (step there %.2f us), %zu B .. %zu B, "
                "median of %d\n",
                size, tp, hook_config(comm)->segment_size, eager_of(tp), step * 1e6,
                o.minb, o.maxb, o.reps);
        if (two)
            fprintf(out,
                    "# %d hosts: %s measured between hosts 0-1, 2-3 ... (a size is the "
                    "bytes on a link, split over a host's ranks), shm within hosts "
                    "(eager step %.2f us)\n",
                    host.nhosts, tp, shm_step * 1e6);
        if (o.rules)
            fprintf(out,
                    "# rules for %d ranks: the formulas' choice, except where it was "
                    "more than %.0f%% slower than the fastest\n",
                    size, (o.gain - 1) * 100);
        coll_model_write(&m, out);
        if (two)
            coll_model_write(&shm, out);
        if (out != stdout && fclose(out) != 0) {
            perror(o.out);
            return 1;
        }
    }
    free(sbuf);
    free(rbuf);
    free(dst);
    return rcomm_comm_destroy(comm) == RCOMM_OK ? 0 : 1;
}
