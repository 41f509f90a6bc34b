/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Algorithm choice: the cheapest by the measured cost model (model.h). Each
 * algorithm's cost is the sum of its steps, each step priced at the size of
 * the message it really sends, so a step whose message crosses a class
 * boundary (an eager limit, the cache) pays what was measured there. The
 * formulas follow the algorithm files' own cost lines:
 *   ring      2(p-1) msg(n/p) + (p-1) red(n/p)
 *   direct    the same, each message round on the links of an all-to-all
 *   butterfly sum over k = 1..lg p2 of 2 msg(n/2^k) + red(n/2^k)  (+ fold)
 *   rd        lg p2 (msg(n) + red(n))                             (+ fold)
 *   fold      2 one(n) + red(n), when p is not a power of two
 *   hier      see hier_cost
 * Over a network with ranks sharing hosts (model.h, coll_links_t), each
 * step is priced by the link it crosses on the busiest host.
 *   binomial broadcast  ceil(lg p) one(n)
 *   chain broadcast     (p - 2 + n/seg) one(seg)
 *   binomial reduce     ceil(lg p) (one(n) + red(n))    (the root takes lg p
 *                                                         whole messages)
 *   rsg reduce          (p-1) (msg(n/p) + red(n/p)) + sum over k < ceil(lg p)
 *                       of one(2^k n/p)                  (ring + tree gather)
 * msg(m) was measured as an exchange, m bytes each way; a one-way message
 * of n bytes (fold, broadcast) moves as many bytes as an exchange of n/2:
 *   one(n) = msg(n/2)
 * A measured rule for the job's rank count (model.h) overrides the formulas.
 */
#include "coll/coll.h"

static size_t ceil_div(size_t a, size_t b)
{
    return (a + b - 1) / b;
}

static double one(const coll_model_t *m, size_t n)
{
    return coll_model_msg(m, n - n / 2);
}

/* Hierarchical, H hosts of L (allreduce_hier.c): rings of L over shared
 * memory around a ring of H whose L streams per host share the host's
 * link:
 *   2 (L-1) msg_s(n/L) + (L-1) red(n/L) + 2 (H-1) msg_w(L n/(HL)) + (H-1) red(n/(HL)) */
static double hier_cost(const coll_links_t *k, size_t bytes)
{
    const int L = k->per_host, H = k->hosts;
    const size_t bl = ceil_div(bytes, (size_t)L), bx = ceil_div(bl, (size_t)H);

    return 2.0 * (L - 1) * coll_links_msg(k, 0, bl) +
           (L - 1) * coll_model_reduce(k->net, bl) +
           2.0 * (H - 1) * coll_links_msg(k, L, bx) +
           (H - 1) * coll_model_reduce(k->net, bx);
}

double coll_cost_allreduce_on(const coll_links_t *k, rcomm_algo_t algo, size_t bytes)
{
    const coll_model_t *m = k->net;
    const int p = k->p;
    coll_fold_t f;
    double t = 0;
    int lg;

    if (p <= 1)
        return 0;
    coll_fold(0, p, &f);
    lg = coll_log2(f.p2);
    /* fold: 2 one(n) + red(n), when p is not a power of two */
    if (f.rem && algo != RCOMM_ALGO_RING && algo != RCOMM_ALGO_HIER &&
        algo != RCOMM_ALGO_DIRECT)
        t = 2 * coll_links_msg(k, k->fold, bytes - bytes / 2) +
            coll_model_reduce(m, bytes);
    switch (algo) {
    case RCOMM_ALGO_RING:
    case RCOMM_ALGO_DIRECT: {
        size_t blk = ceil_div(bytes, (size_t)p);
        int streams = algo == RCOMM_ALGO_RING ? k->ring : k->all;
        return 2.0 * (p - 1) * coll_links_msg(k, streams, blk) +
               (p - 1) * coll_model_reduce(m, blk);
    }
    case RCOMM_ALGO_BUTTERFLY: /* halves at distance p2/2, quarters at p2/4 ... */
        for (int i = 0; i < lg; i++) {
            size_t half = ceil_div(bytes, (size_t)2 << i);
            t += 2 * coll_links_msg(k, k->dist[lg - 1 - i], half) +
                 coll_model_reduce(m, half);
        }
        return t;
    case RCOMM_ALGO_RD:
        for (int i = 0; i < lg; i++)
            t += coll_links_msg(k, k->dist[i], bytes) + coll_model_reduce(m, bytes);
        return t;
    case RCOMM_ALGO_HIER: return k->per_host ? hier_cost(k, bytes) : 1e30;
    default: return 1e30;
    }
}

double coll_cost_allreduce(const coll_model_t *m, rcomm_algo_t algo, int p, size_t bytes)
{
    coll_links_t k;

    coll_links_flat(&k, m, p);
    return coll_cost_allreduce_on(&k, algo, bytes);
}

rcomm_algo_t coll_select_allreduce_on(const coll_links_t *k, int forced, size_t bytes)
{
    rcomm_algo_t best = RCOMM_ALGO_RING;
    double best_cost = coll_cost_allreduce_on(k, best, bytes);
    int ruled;

    if ((rcomm_algo_t)forced != RCOMM_ALGO_AUTO)
        return (rcomm_algo_t)forced;
    if ((ruled = coll_model_rule(k->net, COLL_ALLREDUCE, k->p, bytes)) >= 0)
        return (rcomm_algo_t)ruled;
    for (int a = RCOMM_ALGO_RING + 1; a < RCOMM_ALGO_COUNT; a++) {
        double c = coll_cost_allreduce_on(k, (rcomm_algo_t)a, bytes);
        if (c < best_cost) {
            best = (rcomm_algo_t)a;
            best_cost = c;
        }
    }
    return best;
}

rcomm_algo_t coll_select_allreduce(const coll_model_t *m, int forced, int p, size_t bytes)
{
    coll_links_t k;

    coll_links_flat(&k, m, p);
    return coll_select_allreduce_on(&k, forced, bytes);
}

double coll_cost_broadcast(const coll_model_t *m, size_t seg, coll_bcast_algo_t algo,
                           int p, size_t bytes)
{
    int lg = 0;

    if (p <= 1)
        return 0;
    if (algo == COLL_BCAST_CHAIN) {
        size_t piece = bytes < seg ? bytes : seg;
        return ((double)(p - 2) + (double)ceil_div(bytes ? bytes : 1, seg)) *
               one(m, piece);
    }
    while ((1 << lg) < p)
        lg++;
    return lg * one(m, bytes);
}

coll_bcast_algo_t coll_select_broadcast(const coll_model_t *m, int forced, size_t seg,
                                        int p, size_t bytes)
{
    int ruled;

    if (forced >= 0)
        return (coll_bcast_algo_t)forced;
    if ((ruled = coll_model_rule(m, COLL_BROADCAST, p, bytes)) >= 0)
        return (coll_bcast_algo_t)ruled;
    return coll_cost_broadcast(m, seg, COLL_BCAST_CHAIN, p, bytes) <
                   coll_cost_broadcast(m, seg, COLL_BCAST_BINOMIAL, p, bytes)
               ? COLL_BCAST_CHAIN
               : COLL_BCAST_BINOMIAL;
}

double coll_cost_reduce(const coll_model_t *m, coll_reduce_algo_t algo, int p,
                        size_t bytes)
{
    size_t blk = ceil_div(bytes, (size_t)(p > 0 ? p : 1));
    double t = 0;
    int lg = 0;

    if (p <= 1)
        return 0;
    while ((1 << lg) < p)
        lg++;
    if (algo == COLL_REDUCE_BINOMIAL)
        return lg * (one(m, bytes) + coll_model_reduce(m, bytes));
    t = (p - 1) * (coll_model_msg(m, blk) + coll_model_reduce(m, blk));
    for (int k = 0; k < lg; k++) {
        size_t sub = blk << k;
        t += one(m, sub < bytes ? sub : bytes);
    }
    return t;
}

coll_reduce_algo_t coll_select_reduce(const coll_model_t *m, int forced, int p,
                                      size_t bytes)
{
    int ruled;

    if (forced >= 0)
        return (coll_reduce_algo_t)forced;
    if ((ruled = coll_model_rule(m, COLL_REDUCE, p, bytes)) >= 0)
        return (coll_reduce_algo_t)ruled;
    return coll_cost_reduce(m, COLL_REDUCE_RSG, p, bytes) <
                   coll_cost_reduce(m, COLL_REDUCE_BINOMIAL, p, bytes)
               ? COLL_REDUCE_RSG
               : COLL_REDUCE_BINOMIAL;
}

/* ---- switch points ------------------------------------------------------- */

static int choice(const coll_model_t *m, size_t seg, int coll, int p, size_t bytes)
{
    return coll == COLL_BROADCAST
               ? (int)coll_select_broadcast(m, -1, seg, p, bytes)
               : (int)coll_select_allreduce(m, RCOMM_ALGO_AUTO, p, bytes);
}

int coll_switch_points(const coll_model_t *m, size_t seg, int coll, int p,
                       size_t maxbytes, coll_switch_t *sw, int max)
{
    int n = 0, prev = -1;
    size_t lo = 0;

    for (size_t b = 1; b <= maxbytes && n < max; lo = b, b *= 2) {
        int c = choice(m, seg, coll, p, b);
        if (c == prev)
            continue;
        if (prev >= 0) { /* bisect (lo, b]: the first size that chooses c */
            size_t l = lo, h = b;
            while (h - l > 1) {
                size_t mid = l + (h - l) / 2;
                *(choice(m, seg, coll, p, mid) == prev ? &l : &h) = mid;
            }
            lo = h;
        }
        sw[n].from = prev < 0 ? 1 : lo;
        sw[n].algo = c;
        n++;
        prev = c;
        if (b > maxbytes / 2)
            break;
    }
    return n;
}
