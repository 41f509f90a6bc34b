/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Algorithm choice by an alpha-beta-gamma cost model: alpha is the latency of
 * one message, beta the time per byte on the wire, gamma the time per byte of
 * reduction (RCOMM_ALPHA_US, RCOMM_BETA_NS, RCOMM_GAMMA_NS; the defaults are
 * rough loopback figures of the development machine, see docs/PERFORMANCE.md,
 * and should be set for a real network). Each algorithm file states its cost;
 * the formulas here must match them.
 */
#include "coll/coll.h"

double rcomm_cost_allreduce(const rcomm_config_t *cfg, rcomm_algo_t algo, int p,
                            size_t bytes)
{
    const double a = cfg->alpha_us * 1e-6, b = cfg->beta_ns * 1e-9,
                 g = cfg->gamma_ns * 1e-9, n = (double)bytes;
    rcomm_fold_t f;
    double fold, lg;

    if (p <= 1)
        return 0;
    rcomm_fold(0, p, &f);
    lg = rcomm_log2(f.p2);
    fold = f.rem ? 2 * a + 2 * n * b + n * g : 0;
    switch (algo) {
    case RCOMM_ALGO_RING:
        return 2 * (p - 1) * a + 2.0 * (p - 1) / p * n * b + (double)(p - 1) / p * n * g;
    case RCOMM_ALGO_BUTTERFLY:
        return 2 * lg * a + 2.0 * (f.p2 - 1) / f.p2 * n * b +
               (double)(f.p2 - 1) / f.p2 * n * g + fold;
    case RCOMM_ALGO_RD:
        return lg * (a + n * b + n * g) + fold;
    default:
        return 1e30;
    }
}

rcomm_algo_t rcomm_select_allreduce(const rcomm_config_t *cfg, int p, size_t bytes)
{
    rcomm_algo_t best = RCOMM_ALGO_RING;
    double best_cost = rcomm_cost_allreduce(cfg, best, p, bytes);

    if ((rcomm_algo_t)cfg->allreduce_algo != RCOMM_ALGO_AUTO)
        return (rcomm_algo_t)cfg->allreduce_algo;
    for (int a = RCOMM_ALGO_BUTTERFLY; a < RCOMM_ALGO_COUNT; a++) {
        double c = rcomm_cost_allreduce(cfg, (rcomm_algo_t)a, p, bytes);
        if (c < best_cost) {
            best = (rcomm_algo_t)a;
            best_cost = c;
        }
    }
    return best;
}

rcomm_bcast_algo_t rcomm_select_broadcast(const rcomm_config_t *cfg, int p,
                                          size_t bytes)
{
    const double a = cfg->alpha_us * 1e-6, b = cfg->beta_ns * 1e-9, n = (double)bytes;
    const double seg = (double)cfg->segment_size;
    double binomial = rcomm_log2(p) * (a + n * b);
    double chain = (p - 2 + (n + seg - 1) / seg) * (a + (n < seg ? n : seg) * b);

    return chain < binomial ? RCOMM_BCAST_CHAIN : RCOMM_BCAST_BINOMIAL;
}
