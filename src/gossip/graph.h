/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Communication graphs for decentralized averaging (graph.c): who each rank
 * averages with, and with what weights. Pure: no communicator, the same
 * answer on every rank from the same arguments.
 *
 * A graph over ranks 0..n-1 is a mixing matrix W in sparse form: rank i's
 * step is
 *   x_i <- w_ii x_i + sum over in-neighbours j of w_ij x_j
 * so the in-neighbours are the ranks i receives from, and the out-neighbours
 * the ranks i sends to (j is an out-neighbour of i iff i is an in-neighbour
 * of j). Synchronous averaging needs W row-stochastic (each rank's weights
 * sum to 1); the average is kept when W is also column-stochastic (doubly
 * stochastic). Push-sum needs column-stochastic W (what a rank sends out,
 * itself included, sums to 1).
 *
 * Default weights:
 * - undirected graphs (ring, torus, full, a symmetric edge list without
 *   weights): Metropolis-Hastings, w_ij = 1 / (1 + max(deg i, deg j)),
 *   w_ii the rest: doubly stochastic on any undirected graph;
 * - directed graphs (exponential-2, an edge list without weights that is not
 *   symmetric): uniform out-weights, w_ij = w_jj = 1 / (1 + outdeg j):
 *   column-stochastic, and doubly stochastic when every rank has as many
 *   in- as out-neighbours with the same out-degree (exponential-2 does).
 *
 * p = 4, ring (undirected, degree 2): w_ij = 1/3 for each neighbour, w_ii =
 * 1/3. Exponential-2 on 8: out-neighbours of r are r+1, r+2, r+4; w = 1/4.
 */
#ifndef RCOMM_GOSSIP_GRAPH_H
#define RCOMM_GOSSIP_GRAPH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rcomm.h"

typedef enum {
    GOSSIP_RING,  /* r - 1, r + 1 */
    GOSSIP_TORUS, /* 2-D, rows x (n / rows), wrapping; rows 0: the most square */
    GOSSIP_EXP2,  /* directed: r + 1, r + 2, r + 4, ... (below n) */
    GOSSIP_FULL,  /* every other rank */
} gossip_kind_t;

typedef struct {
    int n;
    /* Rank i's in-neighbours are in_nbr[in_off[i] .. in_off[i + 1]), in
     * increasing order, with weights in_w; out_* likewise (out_w[k]: the
     * weight the out-neighbour gives us, w_ji). */
    int *in_off, *in_nbr;
    double *in_w;
    int *out_off, *out_nbr;
    double *out_w;
    double *self_w; /* [n]: w_ii */
    bool directed;  /* built as directed (default weights: uniform out) */
} gossip_graph_t;

/* A graph of kind on n >= 1 ranks with its default weights (rows: only for
 * the torus; 0 picks the factor of n closest to its square root, and rows
 * must divide n). INVALID_ARG naming the argument; NO_MEMORY. */
rcomm_status_t gossip_graph_build(gossip_kind_t kind, int n, int rows, gossip_graph_t *g);

/* A user's directed graph: edge e goes from src[e] to dst[e] (dst receives
 * from src), with weight w[e] = w_{dst,src} and self weights self_w[n], or
 * both NULL for the default weights (Metropolis-Hastings when every edge
 * has its reverse, uniform out-weights otherwise). INVALID_ARG naming the
 * edge or rank: out of range, a self loop, an edge given twice, a weight
 * that is not finite or not in [0, 1]. The result is then checked with
 * gossip_graph_check by the caller, for what its use needs. */
rcomm_status_t gossip_graph_from_edges(int n, const int *src, const int *dst,
                                       const double *w, const double *self_w,
                                       size_t nedges, gossip_graph_t *g);

/* What a use of the graph needs of it. */
enum {
    GOSSIP_NEED_ROWS = 1,      /* each rank's weights sum to 1 (averaging) */
    GOSSIP_NEED_COLUMNS = 2,   /* what each rank gives sums to 1 (push-sum) */
    GOSSIP_NEED_SYMMETRIC = 4, /* j -> i iff i -> j, with equal weights */
};

/* OK, or INVALID_ARG with why naming the first rank that fails (n > 1: a
 * rank with no in- or out-neighbour; sums off 1 by more than 1e-12; an edge
 * without its reverse, or with another weight). */
rcomm_status_t gossip_graph_check(const gossip_graph_t *g, unsigned need, char *why,
                                  size_t len);

void gossip_graph_free(gossip_graph_t *g);

/* Dynamic one-peer exponential-2: at step t rank r sends to r + 2^k and
 * receives from r - 2^k, k = t mod ceil(log2 n), both with weight 1/2.
 * For a power of two n, log2 n steps from any t reach the exact average.
 * n = 1: both are r. */
void gossip_one_peer(int n, int rank, uint64_t t, int *to, int *from);

#endif /* RCOMM_GOSSIP_GRAPH_H */
