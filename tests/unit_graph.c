/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Communication graphs for decentralized averaging (src/gossip/graph.c):
 * the builders' neighbours and default weights, exactly; the checks that
 * refuse bad graphs, naming the rank; and the mathematics the weights are
 * for, on dense copies of W in f64:
 * - doubly stochastic W keeps the sum (1e-12 relative) over 200 rounds;
 * - the consensus error after t rounds is at most lambda^t times the
 *   first, lambda the second-largest eigenvalue modulus of W, from LAPACK
 *   (OpenBLAS's dgeev); every W built here is normal (symmetric or
 *   circulant), where that bound holds;
 * - one-peer exponential-2 reaches the exact average in log2 p rounds on a
 *   power of two, from any step.
 * On 1, 2, 3, 5, 7 and 8 ranks (and a 3 x 3 torus).
 */
#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "gossip/graph.h"
#include "slem.h"
#include "suite_run.h"

static const int sizes[] = {1, 2, 3, 5, 7, 8};
#define NSIZES (int)(sizeof(sizes) / sizeof(sizes[0]))
static const gossip_kind_t kinds[] = {GOSSIP_RING, GOSSIP_TORUS, GOSSIP_EXP2,
                                      GOSSIP_FULL};
static const char *const kind_names[] = {"ring", "torus", "exp2", "full"};

static double *dense(const gossip_graph_t *g)
{
    double *w = calloc((size_t)g->n * (size_t)g->n, sizeof(double));

    ck_assert_ptr_nonnull(w);
    for (int i = 0; i < g->n; i++) {
        w[(size_t)i * g->n + i] = g->self_w[i];
        for (int k = g->in_off[i]; k < g->in_off[i + 1]; k++)
            w[(size_t)i * g->n + g->in_nbr[k]] += g->in_w[k];
    }
    return w;
}

static void in_is(const gossip_graph_t *g, int r, const int *want, int nwant, double w,
                  double self)
{
    ck_assert_int_eq(g->in_off[r + 1] - g->in_off[r], nwant);
    for (int k = 0; k < nwant; k++) {
        ck_assert_int_eq(g->in_nbr[g->in_off[r] + k], want[k]);
        ck_assert_double_eq(g->in_w[g->in_off[r] + k], w);
    }
    ck_assert_double_eq_tol(g->self_w[r], self, 1e-15); /* "the rest" */
}

START_TEST(builders)
{
    gossip_graph_t g;
    char why[256];

    /* ring: 1 rank alone; 2 ranks one neighbour; else r - 1 and r + 1 */
    ck_assert_int_eq(gossip_graph_build(GOSSIP_RING, 1, 0, &g), RCOMM_OK);
    in_is(&g, 0, NULL, 0, 0, 1);
    ck_assert_int_eq(gossip_graph_check(&g, 7, why, sizeof(why)), RCOMM_OK);
    gossip_graph_free(&g);
    ck_assert_int_eq(gossip_graph_build(GOSSIP_RING, 2, 0, &g), RCOMM_OK);
    in_is(&g, 0, (int[]){1}, 1, 0.5, 0.5);
    gossip_graph_free(&g);
    ck_assert_int_eq(gossip_graph_build(GOSSIP_RING, 5, 0, &g), RCOMM_OK);
    in_is(&g, 0, (int[]){1, 4}, 2, 1.0 / 3, 1 - 1.0 / 3 - 1.0 / 3);
    in_is(&g, 3, (int[]){2, 4}, 2, 1.0 / 3, 1 - 1.0 / 3 - 1.0 / 3);
    ck_assert(!g.directed);
    gossip_graph_free(&g);
    /* torus: 8 = 2 x 4 (up and down are one rank: 3 neighbours); 9 = 3 x 3 */
    ck_assert_int_eq(gossip_graph_build(GOSSIP_TORUS, 8, 0, &g), RCOMM_OK);
    in_is(&g, 0, (int[]){1, 3, 4}, 3, 0.25, 0.25);
    in_is(&g, 6, (int[]){2, 5, 7}, 3, 0.25, 0.25);
    gossip_graph_free(&g);
    ck_assert_int_eq(gossip_graph_build(GOSSIP_TORUS, 9, 3, &g), RCOMM_OK);
    in_is(&g, 4, (int[]){1, 3, 5, 7}, 4, 0.2, 0.2);
    in_is(&g, 0, (int[]){1, 2, 3, 6}, 4, 0.2, 0.2);
    gossip_graph_free(&g);
    ck_assert_int_eq(gossip_graph_build(GOSSIP_TORUS, 8, 3, &g), RCOMM_ERR_INVALID_ARG);
    ck_assert(strstr(rcomm_last_error(), "3 rows cannot hold 8 ranks"));
    /* exponential-2: r receives from r - 1, r - 2, r - 4; directed */
    ck_assert_int_eq(gossip_graph_build(GOSSIP_EXP2, 8, 0, &g), RCOMM_OK);
    in_is(&g, 0, (int[]){4, 6, 7}, 3, 0.25, 0.25);
    ck_assert_int_eq(g.out_off[1] - g.out_off[0], 3);
    ck_assert_int_eq(g.out_nbr[0], 1);
    ck_assert_int_eq(g.out_nbr[2], 4);
    ck_assert(g.directed);
    ck_assert_int_eq(
        gossip_graph_check(&g, GOSSIP_NEED_ROWS | GOSSIP_NEED_COLUMNS, why, sizeof(why)),
        RCOMM_OK);
    ck_assert_int_eq(gossip_graph_check(&g, GOSSIP_NEED_SYMMETRIC, why, sizeof(why)),
                     RCOMM_ERR_INVALID_ARG);
    ck_assert_str_eq(why, "rank 0 receives from rank 6, which does not receive from it "
                          "(a symmetric graph is needed)");
    gossip_graph_free(&g);
    /* full: every other rank, 1 / n each */
    ck_assert_int_eq(gossip_graph_build(GOSSIP_FULL, 5, 0, &g), RCOMM_OK);
    in_is(&g, 2, (int[]){0, 1, 3, 4}, 4, 0.2, 0.2);
    gossip_graph_free(&g);
    ck_assert_int_eq(gossip_graph_build(GOSSIP_RING, 0, 0, &g), RCOMM_ERR_INVALID_ARG);
    ck_assert_int_eq(gossip_graph_build((gossip_kind_t)9, 4, 0, &g),
                     RCOMM_ERR_INVALID_ARG);
    ck_assert_int_eq(gossip_graph_build(GOSSIP_RING, 4, 0, NULL), RCOMM_ERR_INVALID_ARG);
}
END_TEST

START_TEST(user_graphs)
{
    gossip_graph_t g;
    char why[256];
    const double nan = strtod("nan", NULL);

    /* refused at once, naming the edge */
    ck_assert_int_eq(
        gossip_graph_from_edges(3, (int[]){0}, (int[]){0}, NULL, NULL, 1, &g),
        RCOMM_ERR_INVALID_ARG);
    ck_assert(strstr(rcomm_last_error(), "edge 0 (0 -> 0) is a self loop"));
    ck_assert_int_eq(
        gossip_graph_from_edges(3, (int[]){0, 1}, (int[]){1, 3}, NULL, NULL, 2, &g),
        RCOMM_ERR_INVALID_ARG);
    ck_assert(strstr(rcomm_last_error(), "edge 1 (1 -> 3) names a rank outside"));
    ck_assert_int_eq(
        gossip_graph_from_edges(3, (int[]){0, 0}, (int[]){1, 1}, NULL, NULL, 2, &g),
        RCOMM_ERR_INVALID_ARG);
    ck_assert(strstr(rcomm_last_error(), "the edge 0 -> 1 is given twice"));
    ck_assert_int_eq(gossip_graph_from_edges(2, (int[]){0}, (int[]){1}, (double[]){nan},
                                             (double[]){0.5, 0.5}, 1, &g),
                     RCOMM_ERR_INVALID_ARG);
    ck_assert(strstr(rcomm_last_error(), "has weight nan, not in [0, 1]"));
    ck_assert_int_eq(gossip_graph_from_edges(2, (int[]){0}, (int[]){1}, (double[]){0.5},
                                             (double[]){0.5, 1.5}, 1, &g),
                     RCOMM_ERR_INVALID_ARG);
    ck_assert(strstr(rcomm_last_error(), "rank 1's self weight 1.5"));
    ck_assert_int_eq(
        gossip_graph_from_edges(2, (int[]){0}, (int[]){1}, (double[]){0.5}, NULL, 1, &g),
        RCOMM_ERR_INVALID_ARG);

    /* built, then refused by the check, naming the rank */
    ck_assert_int_eq(
        gossip_graph_from_edges(4, (int[]){0, 1, 2}, (int[]){1, 2, 0}, NULL, NULL, 3, &g),
        RCOMM_OK);
    ck_assert(g.directed); /* no reverses: uniform out-weights, 1/2 */
    in_is(&g, 1, (int[]){0}, 1, 0.5, 0.5);
    ck_assert_int_eq(gossip_graph_check(&g, GOSSIP_NEED_COLUMNS, why, sizeof(why)),
                     RCOMM_ERR_INVALID_ARG);
    ck_assert_str_eq(why, "rank 3 has no in-neighbour");
    gossip_graph_free(&g);
    /* a triangle with its reverses: Metropolis-Hastings, 1/3 */
    ck_assert_int_eq(gossip_graph_from_edges(3, (int[]){0, 1, 1, 2, 2, 0},
                                             (int[]){1, 0, 2, 1, 0, 2}, NULL, NULL, 6,
                                             &g),
                     RCOMM_OK);
    ck_assert(!g.directed);
    in_is(&g, 2, (int[]){0, 1}, 2, 1.0 / 3, 1 - 1.0 / 3 - 1.0 / 3);
    ck_assert_int_eq(gossip_graph_check(&g, 7, why, sizeof(why)), RCOMM_OK);
    gossip_graph_free(&g);
    /* a path 0 - 1 - 2 (degrees 1, 2, 1): Metropolis-Hastings takes the larger
     * degree of each pair, so the ends keep 2/3 */
    ck_assert_int_eq(gossip_graph_from_edges(3, (int[]){0, 1, 1, 2}, (int[]){1, 0, 2, 1},
                                             NULL, NULL, 4, &g),
                     RCOMM_OK);
    in_is(&g, 0, (int[]){1}, 1, 1.0 / 3, 2.0 / 3);
    in_is(&g, 1, (int[]){0, 2}, 2, 1.0 / 3, 1.0 / 3);
    ck_assert_int_eq(gossip_graph_check(&g, 7, why, sizeof(why)), RCOMM_OK);
    gossip_graph_free(&g);
    /* given weights: a row that sums to 0.9, then asymmetric weights */
    ck_assert_int_eq(gossip_graph_from_edges(2, (int[]){0, 1}, (int[]){1, 0},
                                             (double[]){0.5, 0.4}, (double[]){0.5, 0.5},
                                             2, &g),
                     RCOMM_OK);
    ck_assert_int_eq(gossip_graph_check(&g, GOSSIP_NEED_ROWS, why, sizeof(why)),
                     RCOMM_ERR_INVALID_ARG);
    ck_assert(
        strstr(why, "rank 0's weights (its own and its in-neighbours') sum to 0.9"));
    ck_assert_int_eq(gossip_graph_check(&g, GOSSIP_NEED_SYMMETRIC, why, sizeof(why)),
                     RCOMM_ERR_INVALID_ARG);
    ck_assert(strstr(why, "rank 0 weighs rank 1 0.4"));
    gossip_graph_free(&g);
}
END_TEST

/* x <- W x, t rounds, on every topology and size: the sum stays, and the
 * distance from the average shrinks at least as fast as lambda^t. */
START_TEST(mixing)
{
    for (int kk = 0; kk < 4; kk++)
        for (int s = 0; s < NSIZES; s++) {
            const int n = sizes[s];
            gossip_graph_t g;
            double *w, *x, *y, lam, e0 = 0, sum0 = 0, avg;
            char why[256];

            ck_assert_int_eq(gossip_graph_build(kinds[kk], n, 0, &g), RCOMM_OK);
            ck_assert_msg(gossip_graph_check(&g, GOSSIP_NEED_ROWS | GOSSIP_NEED_COLUMNS,
                                             why, sizeof(why)) == RCOMM_OK,
                          "%s on %d: %s", kind_names[kk], n, why);
            w = dense(&g);
            x = malloc(n * sizeof(double));
            y = malloc(n * sizeof(double));
            for (int i = 0; i < n; i++)
                sum0 += x[i] = (double)((i * 7919) % 13) - 6.5 + i * 0.001;
            avg = sum0 / n;
            for (int i = 0; i < n; i++)
                e0 += (x[i] - avg) * (x[i] - avg);
            e0 = sqrt(e0);
            lam = n > 1 ? slem(w, n) : 0;
            ck_assert_msg(lam >= 0, "dgeev failed on %d", n);
            if (n > 1)
                ck_assert_msg(lam < 1 - 1e-6, "%s on %d: lambda %g", kind_names[kk], n,
                              lam);
            for (int t = 1; t <= 200; t++) {
                double sum = 0, e = 0;
                for (int i = 0; i < n; i++) {
                    y[i] = 0;
                    for (int j = 0; j < n; j++)
                        y[i] += w[(size_t)i * n + j] * x[j];
                }
                memcpy(x, y, n * sizeof(double));
                for (int i = 0; i < n; i++) {
                    sum += x[i];
                    e += (x[i] - avg) * (x[i] - avg);
                }
                ck_assert_msg(fabs(sum - sum0) <= 1e-12 * fabs(sum0) + 1e-12,
                              "%s on %d: round %d sum %.17g, was %.17g", kind_names[kk],
                              n, t, sum, sum0);
                ck_assert_msg(sqrt(e) <= pow(lam, t) * e0 * (1 + 1e-9) + 1e-12,
                              "%s on %d: round %d error %g > lambda^t %g x %g",
                              kind_names[kk], n, t, sqrt(e), pow(lam, t), e0);
            }
            free(w);
            free(x);
            free(y);
            gossip_graph_free(&g);
        }
}
END_TEST

/* One-peer exponential-2: log2 p rounds from any step give every rank the
 * average exactly (powers of two); elsewhere, to and from pair up. */
START_TEST(one_peer)
{
    for (int s = 0; s < NSIZES; s++) {
        const int n = sizes[s];
        int levels = 0;
        while ((1 << levels) < n)
            levels++;
        for (uint64_t t0 = 0; t0 < 7; t0 += 3) {
            double x[8], y[8], sum = 0;
            for (int i = 0; i < n; i++)
                sum += x[i] = (double)(i * 37 % 11) + 0.25 * i;
            for (uint64_t t = t0; t < t0 + (uint64_t)levels; t++) {
                for (int r = 0; r < n; r++) {
                    int to, from, back_to, back_from;
                    gossip_one_peer(n, r, t, &to, &from);
                    gossip_one_peer(n, from, t, &back_to, &back_from);
                    ck_assert_int_eq(back_to, r); /* from sends to us */
                    ck_assert(to >= 0 && to < n && (n == 1 || to != r));
                    y[r] = (x[r] + x[from]) / 2;
                }
                memcpy(x, y, sizeof(x));
            }
            if ((n & (n - 1)) == 0)
                for (int r = 0; r < n; r++)
                    ck_assert_msg(x[r] == sum / n,
                                  "p %d from step %llu: rank %d has %.17g", n,
                                  (unsigned long long)t0, r, x[r]);
        }
    }
}
END_TEST

int main(void)
{
    Suite *s = suite_create("graph");
    TCase *tc = tcase_create("graph");

    tcase_add_test(tc, builders);
    tcase_add_test(tc, user_graphs);
    tcase_add_test(tc, mixing);
    tcase_add_test(tc, one_peer);
    suite_add_tcase(s, tc);
    return unit_run(s);
}
