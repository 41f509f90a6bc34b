/* SPDX-License-Identifier: BSD-3-Clause */
/* Communication graphs and their mixing weights (see graph.h). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "gossip/graph.h"

#define SUM_TOL 1e-12

typedef struct {
    int src, dst;
    double w;
} edge_t;

static int cmp_edge(const void *a, const void *b)
{
    const edge_t *x = a, *y = b;

    return x->dst != y->dst ? (x->dst > y->dst) - (x->dst < y->dst)
                            : (x->src > y->src) - (x->src < y->src);
}

static int mod(long a, int n)
{
    return (int)(((a % n) + n) % n);
}

void gossip_graph_free(gossip_graph_t *g)
{
    if (!g)
        return;
    free(g->in_off);
    free(g->in_nbr);
    free(g->in_w);
    free(g->out_off);
    free(g->out_nbr);
    free(g->out_w);
    free(g->self_w);
    memset(g, 0, sizeof(*g));
}

/* Is there an edge src -> dst in e (sorted by dst, then src)? Its index. */
static long find(const edge_t *e, size_t m, int src, int dst)
{
    size_t lo = 0, hi = m;

    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        edge_t key = {src, dst, 0};
        int c = cmp_edge(&e[mid], &key);
        if (c == 0)
            return (long)mid;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return -1;
}

/* The sparse form of m edges (sorted, unique) with their weights set. */
static rcomm_status_t assemble(int n, edge_t *e, size_t m, const double *self_w,
                               bool directed, gossip_graph_t *g)
{
    int *fill = NULL;

    memset(g, 0, sizeof(*g));
    g->n = n;
    g->directed = directed;
    g->in_off = calloc((size_t)n + 1, sizeof(int));
    g->out_off = calloc((size_t)n + 1, sizeof(int));
    g->in_nbr = malloc((m ? m : 1) * sizeof(int));
    g->out_nbr = malloc((m ? m : 1) * sizeof(int));
    g->in_w = malloc((m ? m : 1) * sizeof(double));
    g->out_w = malloc((m ? m : 1) * sizeof(double));
    g->self_w = malloc((size_t)n * sizeof(double));
    fill = calloc((size_t)n, sizeof(int));
    if (!g->in_off || !g->out_off || !g->in_nbr || !g->out_nbr || !g->in_w || !g->out_w ||
        !g->self_w || !fill) {
        free(fill);
        gossip_graph_free(g);
        return base_err(RCOMM_ERR_NO_MEMORY, "gossip graph: no memory for %zu edges", m);
    }
    for (size_t k = 0; k < m; k++) {
        g->in_off[e[k].dst + 1]++;
        g->out_off[e[k].src + 1]++;
    }
    for (int i = 0; i < n; i++) {
        g->in_off[i + 1] += g->in_off[i];
        g->out_off[i + 1] += g->out_off[i];
        g->self_w[i] = self_w[i];
    }
    for (size_t k = 0; k < m; k++) { /* sorted by dst: in-lists in order */
        g->in_nbr[k] = e[k].src;
        g->in_w[k] = e[k].w;
    }
    for (int i = 0; i < n; i++) /* out-lists: by src, in order of dst */
        for (int k = g->in_off[i]; k < g->in_off[i + 1]; k++) {
            int j = g->in_nbr[k], at = g->out_off[j] + fill[j]++;
            g->out_nbr[at] = i;
            g->out_w[at] = g->in_w[k];
        }
    free(fill);
    return RCOMM_OK;
}

/* Default weights for sorted unique edges: Metropolis-Hastings when every
 * edge has its reverse, else uniform out-weights. *directed says which. */
static rcomm_status_t weigh(int n, edge_t *e, size_t m, bool *directed, double *self_w)
{
    int *in = calloc((size_t)n, sizeof(int)), *out = calloc((size_t)n, sizeof(int));

    if (!in || !out) {
        free(in);
        free(out);
        return base_err(RCOMM_ERR_NO_MEMORY, "gossip graph: no memory for %d ranks", n);
    }
    *directed = false;
    for (size_t k = 0; k < m; k++) {
        in[e[k].dst]++;
        out[e[k].src]++;
        if (find(e, m, e[k].dst, e[k].src) < 0)
            *directed = true;
    }
    for (int i = 0; i < n; i++)
        self_w[i] = 1;
    for (size_t k = 0; k < m; k++) {
        /* undirected: deg = in = out */
        const int di = in[e[k].dst], dj = in[e[k].src];
        e[k].w = *directed ? 1.0 / (1 + out[e[k].src]) : 1.0 / (1 + (di > dj ? di : dj));
        if (!*directed)
            self_w[e[k].dst] -= e[k].w;
    }
    if (*directed)
        for (int i = 0; i < n; i++)
            self_w[i] = 1.0 / (1 + out[i]);
    free(in);
    free(out);
    return RCOMM_OK;
}

/* Sort, drop duplicates (builders may make them on small n), weigh, assemble. */
static rcomm_status_t finish(int n, edge_t *e, size_t m, gossip_graph_t *g)
{
    double *self_w = malloc((size_t)n * sizeof(double));
    size_t u = 0;
    bool directed = false;
    rcomm_status_t st;

    if (!self_w)
        return base_err(RCOMM_ERR_NO_MEMORY, "gossip graph: no memory for %d ranks", n);
    qsort(e, m, sizeof(*e), cmp_edge);
    for (size_t k = 0; k < m; k++)
        if (!u || cmp_edge(&e[k], &e[u - 1]) != 0)
            e[u++] = e[k];
    if ((st = weigh(n, e, u, &directed, self_w)) == RCOMM_OK)
        st = assemble(n, e, u, self_w, directed, g);
    free(self_w);
    return st;
}

static int square_rows(int n)
{
    int rows = 1;

    for (int r = 1; (long)r * r <= n; r++)
        if (n % r == 0)
            rows = r;
    return rows;
}

rcomm_status_t gossip_graph_build(gossip_kind_t kind, int n, int rows, gossip_graph_t *g)
{
    size_t m = 0, cap;
    edge_t *e;
    rcomm_status_t st;
    int cols;

    if (!g)
        return base_err(RCOMM_ERR_INVALID_ARG, "gossip graph: g is NULL");
    memset(g, 0, sizeof(*g));
    if (n < 1)
        return base_err(RCOMM_ERR_INVALID_ARG, "gossip graph: %d ranks (at least 1)", n);
    if (kind == GOSSIP_TORUS && (rows < 0 || (rows > 0 && n % rows != 0)))
        return base_err(RCOMM_ERR_INVALID_ARG,
                        "gossip graph: a torus of %d rows cannot hold %d ranks "
                        "(rows must divide the ranks)",
                        rows, n);
    if (kind < GOSSIP_RING || kind > GOSSIP_FULL)
        return base_err(RCOMM_ERR_INVALID_ARG, "gossip graph: unknown kind %d",
                        (int)kind);
    if (kind == GOSSIP_FULL && n > 4096)
        return base_err(RCOMM_ERR_INVALID_ARG,
                        "gossip graph: a full graph of %d ranks (at most 4096)", n);
    cap = kind == GOSSIP_FULL ? (size_t)n * (size_t)(n - 1) : (size_t)n * 64;
    if (!(e = malloc((cap ? cap : 1) * sizeof(*e))))
        return base_err(RCOMM_ERR_NO_MEMORY, "gossip graph: no memory for %zu edges",
                        cap);
    rows = kind == GOSSIP_TORUS && rows == 0 ? square_rows(n) : rows;
    cols = kind == GOSSIP_TORUS ? n / rows : n;
    for (int r = 0; r < n; r++) {
        switch (kind) {
        case GOSSIP_RING:
            if (n > 1) {
                e[m++] = (edge_t){mod(r - 1L, n), r, 0};
                e[m++] = (edge_t){mod(r + 1L, n), r, 0};
            }
            break;
        case GOSSIP_TORUS: {
            const int i = r / cols, j = r % cols;
            const int nb[4] = {mod(i - 1L, rows) * cols + j, mod(i + 1L, rows) * cols + j,
                               i * cols + mod(j - 1L, cols),
                               i * cols + mod(j + 1L, cols)};
            for (int k = 0; k < 4; k++)
                if (nb[k] != r)
                    e[m++] = (edge_t){nb[k], r, 0};
            break;
        }
        case GOSSIP_EXP2:
            for (long d = 1; d < n; d *= 2) /* r receives from r - d */
                e[m++] = (edge_t){mod(r - d, n), r, 0};
            break;
        case GOSSIP_FULL:
            for (int q = 0; q < n; q++)
                if (q != r)
                    e[m++] = (edge_t){q, r, 0};
            break;
        }
    }
    st = finish(n, e, m, g);
    free(e);
    return st;
}

rcomm_status_t gossip_graph_from_edges(int n, const int *src, const int *dst,
                                       const double *w, const double *self_w,
                                       size_t nedges, gossip_graph_t *g)
{
    edge_t *e;
    rcomm_status_t st = RCOMM_OK;

    if (!g)
        return base_err(RCOMM_ERR_INVALID_ARG, "gossip graph: g is NULL");
    memset(g, 0, sizeof(*g));
    if (n < 1 || (nedges && (!src || !dst)) || (!w != !self_w))
        return base_err(RCOMM_ERR_INVALID_ARG, "gossip graph: %s",
                        n < 1           ? "fewer than 1 rank"
                        : !w != !self_w ? "give both w and self_w, or neither"
                                        : "src or dst is NULL");
    if (!(e = malloc((nedges ? nedges : 1) * sizeof(*e))))
        return base_err(RCOMM_ERR_NO_MEMORY, "gossip graph: no memory for %zu edges",
                        nedges);
    for (size_t k = 0; k < nedges && st == RCOMM_OK; k++) {
        e[k] = (edge_t){src[k], dst[k], w ? w[k] : 0};
        if (src[k] < 0 || src[k] >= n || dst[k] < 0 || dst[k] >= n || src[k] == dst[k])
            st = base_err(RCOMM_ERR_INVALID_ARG, "gossip graph: edge %zu (%d -> %d) %s",
                          k, src[k], dst[k],
                          src[k] == dst[k] ? "is a self loop (give self_w instead)"
                                           : "names a rank outside 0..n-1");
        else if (w && !(w[k] >= 0 && w[k] <= 1))
            st =
                base_err(RCOMM_ERR_INVALID_ARG,
                         "gossip graph: edge %zu (%d -> %d) has weight %g, not in [0, 1]",
                         k, src[k], dst[k], w[k]);
    }
    for (int i = 0; self_w && i < n && st == RCOMM_OK; i++)
        if (!(self_w[i] >= 0 && self_w[i] <= 1))
            st = base_err(RCOMM_ERR_INVALID_ARG,
                          "gossip graph: rank %d's self weight %g is not in [0, 1]", i,
                          self_w[i]);
    if (st == RCOMM_OK) {
        qsort(e, nedges, sizeof(*e), cmp_edge);
        for (size_t k = 1; k < nedges && st == RCOMM_OK; k++)
            if (cmp_edge(&e[k], &e[k - 1]) == 0)
                st = base_err(RCOMM_ERR_INVALID_ARG,
                              "gossip graph: the edge %d -> %d is given twice", e[k].src,
                              e[k].dst);
    }
    if (st == RCOMM_OK)
        st = w ? assemble(n, e, nedges, self_w, false, g) : finish(n, e, nedges, g);
    if (st == RCOMM_OK && w) { /* directed unless every edge has its reverse */
        for (size_t k = 0; k < nedges && !g->directed; k++)
            g->directed = find(e, nedges, e[k].dst, e[k].src) < 0;
    }
    free(e);
    return st;
}

rcomm_status_t gossip_graph_check(const gossip_graph_t *g, unsigned need, char *why,
                                  size_t len)
{
    char local[256];

    if (!why || !len)
        why = local, len = sizeof(local);
    if (!g || !g->in_off)
        return base_err(RCOMM_ERR_INVALID_ARG, "gossip graph: no graph");
    *why = '\0';
    for (int i = 0; i < g->n && !*why; i++) {
        double in = g->self_w[i], out = g->self_w[i];
        for (int k = g->in_off[i]; k < g->in_off[i + 1]; k++)
            in += g->in_w[k];
        for (int k = g->out_off[i]; k < g->out_off[i + 1]; k++)
            out += g->out_w[k];
        if (g->n > 1 && g->in_off[i + 1] == g->in_off[i])
            snprintf(why, len, "rank %d has no in-neighbour", i);
        else if (g->n > 1 && g->out_off[i + 1] == g->out_off[i])
            snprintf(why, len, "rank %d has no out-neighbour", i);
        else if ((need & GOSSIP_NEED_ROWS) && fabs(in - 1) > SUM_TOL)
            snprintf(why, len,
                     "rank %d's weights (its own and its in-neighbours') sum to %.17g, "
                     "not 1",
                     i, in);
        else if ((need & GOSSIP_NEED_COLUMNS) && fabs(out - 1) > SUM_TOL)
            snprintf(why, len,
                     "the weights of rank %d's value (its own and its out-neighbours') "
                     "sum to %.17g, not 1",
                     i, out);
        for (int k = g->in_off[i];
             !*why && (need & GOSSIP_NEED_SYMMETRIC) && k < g->in_off[i + 1]; k++) {
            const int j = g->in_nbr[k];
            int back = -1;
            for (int q = g->in_off[j]; q < g->in_off[j + 1] && back < 0; q++)
                if (g->in_nbr[q] == i)
                    back = q;
            if (back < 0)
                snprintf(why, len,
                         "rank %d receives from rank %d, which does not receive from it "
                         "(a symmetric graph is needed)",
                         i, j);
            else if (g->in_w[back] != g->in_w[k])
                snprintf(why, len,
                         "rank %d weighs rank %d %.17g, which weighs it %.17g (a "
                         "symmetric graph is needed)",
                         i, j, g->in_w[k], g->in_w[back]);
        }
    }
    return *why ? base_err(RCOMM_ERR_INVALID_ARG, "gossip graph: %s", why) : RCOMM_OK;
}

void gossip_one_peer(int n, int rank, uint64_t t, int *to, int *from)
{
    int levels = 0;

    while ((1L << levels) < n)
        levels++;
    if (n <= 1) {
        *to = *from = rank;
        return;
    }
    const long d = 1L << (int)(t % (uint64_t)levels);
    *to = mod(rank + d, n);
    *from = mod(rank - d, n);
}
