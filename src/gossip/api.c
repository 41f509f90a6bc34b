/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The public graph object and neighbour averaging (rcomm.h, "Decentralized
 * averaging"). A graph is one or more steps (gossip_graph_t, graph.c) over
 * the communicator's ranks and a count of the calls made with it; call t
 * uses step t mod nsteps. The schedule is built in coll/neighbor.c from this
 * rank's row of the step: the graph is read only while the call is built.
 *
 * Creation compares the graphs: each rank hashes every step (XXH64 of the
 * sparse arrays, weights included) and the ranks allgather the hashes. A
 * call's envelope then carries a 32-bit hash of the step's graph and of t,
 * so neighbours that are at different calls, or use different graphs,
 * fail with MISMATCH instead of averaging the wrong vectors.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "base/error.h"
#include "coll/call.h"
#include "core/handle.h"
#include "gossip/gossip.h"

rcomm_status_t gossip_graph_valid(const rcomm_graph_t *g, const char *fn)
{
    if (!g)
        return base_err(RCOMM_ERR_INVALID_ARG, "%s: graph is NULL", fn);
    if (g->magic != HANDLE_MAGIC_GRAPH)
        return base_err(RCOMM_ERR_INVALID_ARG,
                        "%s: graph was destroyed or is not a graph", fn);
    return RCOMM_OK;
}

static uint64_t hash_step(const gossip_graph_t *s)
{
    const size_t n = (size_t)s->n, m = (size_t)s->in_off[s->n];
    uint64_t h = XXH64(&s->n, sizeof(s->n), 0);

    h = XXH64(s->in_off, (n + 1) * sizeof(int), h);
    h = XXH64(s->in_nbr, m * sizeof(int), h);
    h = XXH64(s->in_w, m * sizeof(double), h);
    return XXH64(s->self_w, n * sizeof(double), h);
}

/* Everything the graph holds, not the handle itself. */
static void graph_release(rcomm_graph_t *g)
{
    for (size_t t = 0; g->steps && t < g->nsteps; t++)
        gossip_graph_free(&g->steps[t]);
    free(g->steps);
    free(g->hash);
    g->steps = NULL;
    g->hash = NULL;
}

static void graph_free(rcomm_graph_t *g)
{
    graph_release(g);
    free(g);
}

/* A graph of nsteps zeroed steps for comm, or NULL (NO_MEMORY set). */
static rcomm_graph_t *graph_new(rcomm_comm_t *comm, size_t nsteps, const char *fn)
{
    rcomm_graph_t *g = calloc(1, sizeof(*g));

    if (g && (g->steps = calloc(nsteps, sizeof(*g->steps))) &&
        (g->hash = calloc(nsteps, sizeof(*g->hash)))) {
        g->comm = comm;
        g->nsteps = nsteps;
        return g;
    }
    if (g)
        graph_free(g);
    base_err(RCOMM_ERR_NO_MEMORY, "%s: rank %d: out of memory", fn, comm->rank);
    return NULL;
}

/* Check every step for averaging (rows) and for push-sum (columns): a graph
 * fit for neither is refused, and the other's reason kept for its use. Hash
 * every step and compare with every rank: the graph is then live, or freed
 * with the error. */
static rcomm_status_t graph_finish(rcomm_graph_t *g, const char *fn, rcomm_graph_t **out)
{
    rcomm_comm_t *comm = g->comm;
    uint64_t mine = 0, *all;
    rcomm_status_t st = RCOMM_OK;
    char why[160];

    for (size_t t = 0; t < g->nsteps; t++) {
        if (!g->rows_why[0] && gossip_graph_check(&g->steps[t], GOSSIP_NEED_ROWS, why,
                                                  sizeof(why)) != RCOMM_OK)
            snprintf(g->rows_why, sizeof(g->rows_why), "step %zu: %s", t, why);
        if (!g->cols_why[0] && gossip_graph_check(&g->steps[t], GOSSIP_NEED_COLUMNS, why,
                                                  sizeof(why)) != RCOMM_OK)
            snprintf(g->cols_why, sizeof(g->cols_why), "step %zu: %s", t, why);
        g->hash[t] = hash_step(&g->steps[t]);
        mine = XXH64(&g->hash[t], sizeof(uint64_t), mine);
    }
    if (g->rows_why[0] && g->cols_why[0])
        st = base_err(RCOMM_ERR_INVALID_ARG,
                      "%s: rank %d: %s (and for push-sum, which needs what each rank "
                      "gives to sum to 1: %s)",
                      fn, comm->rank, g->rows_why, g->cols_why);
    if (st == RCOMM_OK && !(all = malloc((size_t)comm->size * sizeof(*all))))
        st = base_err(RCOMM_ERR_NO_MEMORY, "%s: rank %d: out of memory", fn, comm->rank);
    if (st != RCOMM_OK) {
        graph_free(g);
        return st;
    }
    {
        coll_call_t c = {.fn = fn,
                         .desc = {COLL_ALLGATHER, RCOMM_I64, 0, 0, 1},
                         .sbuf = (const char *)&mine,
                         .rbuf = (char *)all};
        st = COMM_LOCKED(comm, coll_run(comm, &c, NULL));
    }
    for (int r = 0; r < comm->size && st == RCOMM_OK; r++)
        if (all[r] != all[0])
            st = base_err(RCOMM_ERR_MISMATCH,
                          "%s: rank %d built another graph than rank 0 (every rank must "
                          "pass the same arguments)",
                          fn, r);
    free(all);
    if (st != RCOMM_OK) {
        graph_free(g);
        return st;
    }
    g->magic = HANDLE_MAGIC_GRAPH;
    *out = g;
    return RCOMM_OK;
}

/* The graph layer's error, prefixed with the public call and the rank. */
static rcomm_status_t rewrap(rcomm_status_t st, const char *fn, int rank)
{
    char why[256];

    snprintf(why, sizeof(why), "%s", rcomm_last_error());
    return base_err(st, "%s: rank %d: %s", fn, rank, why);
}

static rcomm_status_t create_args(rcomm_comm_t *comm, rcomm_graph_t **graph,
                                  const char *fn)
{
    rcomm_status_t st;

    if (!graph)
        return base_err(RCOMM_ERR_INVALID_ARG, "%s: graph is NULL", fn);
    *graph = NULL;
    if ((st = comm_valid(comm, fn)) != RCOMM_OK)
        return st;
    return RCOMM_OK;
}

/* One-peer exponential-2's step k: r -> r + 2^k, weights 1/2. */
static rcomm_status_t one_peer_step(int n, int k, gossip_graph_t *s)
{
    int *src = malloc((size_t)n * sizeof(int)), *dst = malloc((size_t)n * sizeof(int));
    double *w = malloc((size_t)n * sizeof(double)),
           *self = malloc((size_t)n * sizeof(double));
    rcomm_status_t st = RCOMM_ERR_NO_MEMORY;

    if (src && dst && w && self) {
        for (int r = 0; r < n; r++) {
            src[r] = r;
            dst[r] = (int)(((long)r + (1L << k)) % n);
            w[r] = self[r] = 0.5;
        }
        st = gossip_graph_from_edges(n, src, dst, w, self, (size_t)n, s);
    }
    free(src);
    free(dst);
    free(w);
    free(self);
    return st;
}

rcomm_status_t rcomm_graph_create(rcomm_comm_t *comm, rcomm_graph_kind_t kind,
                                  rcomm_graph_t **graph)
{
    static const char fn[] = "rcomm_graph_create";
    static const gossip_kind_t kinds[] = {GOSSIP_RING, GOSSIP_TORUS, GOSSIP_EXP2,
                                          GOSSIP_FULL};
    rcomm_status_t st;
    rcomm_graph_t *g;
    size_t nsteps = 1;

    if ((st = create_args(comm, graph, fn)) != RCOMM_OK)
        return st;
    if ((unsigned)kind >= RCOMM_GRAPH_KIND_COUNT)
        return base_err(RCOMM_ERR_INVALID_ARG,
                        "%s: rank %d: kind %d is not an rcomm_graph_kind_t", fn,
                        comm->rank, (int)kind);
    if (kind == RCOMM_GRAPH_ONE_PEER_EXP2)
        while (((size_t)1 << nsteps) < (size_t)comm->size)
            nsteps++;
    if (!(g = graph_new(comm, nsteps, fn)))
        return RCOMM_ERR_NO_MEMORY;
    for (size_t t = 0; t < nsteps; t++) {
        if (kind != RCOMM_GRAPH_ONE_PEER_EXP2)
            st = gossip_graph_build(kinds[kind], comm->size, 0, &g->steps[t]);
        else if (comm->size == 1)
            st = gossip_graph_build(GOSSIP_FULL, 1, 0, &g->steps[t]);
        else
            st = one_peer_step(comm->size, (int)t, &g->steps[t]);
        if (st != RCOMM_OK) {
            graph_free(g);
            return rewrap(st, fn, comm->rank);
        }
    }
    return graph_finish(g, fn, graph);
}

rcomm_status_t rcomm_graph_create_edges(rcomm_comm_t *comm, size_t nedges, const int *src,
                                        const int *dst, const double *weights,
                                        const double *self_weights, rcomm_graph_t **graph)
{
    static const char fn[] = "rcomm_graph_create_edges";
    rcomm_status_t st;
    rcomm_graph_t *g;

    if ((st = create_args(comm, graph, fn)) != RCOMM_OK)
        return st;
    if (!(g = graph_new(comm, 1, fn)))
        return RCOMM_ERR_NO_MEMORY;
    st = gossip_graph_from_edges(comm->size, src, dst, weights, self_weights, nedges,
                                 &g->steps[0]);
    if (st != RCOMM_OK) {
        graph_free(g);
        return rewrap(st, fn, comm->rank);
    }
    return graph_finish(g, fn, graph);
}

/* dst = a copy of src (sizes from src->n and its edge counts). */
static rcomm_status_t copy_step(const gossip_graph_t *src, gossip_graph_t *dst)
{
    const size_t n = (size_t)src->n, mi = (size_t)src->in_off[src->n],
                 mo = (size_t)src->out_off[src->n];

    memset(dst, 0, sizeof(*dst));
    dst->n = src->n;
    dst->directed = src->directed;
#define DUP(f, len)                                                                      \
    do {                                                                                 \
        if (!(dst->f = malloc(((len) ? (len) : 1) * sizeof(*src->f))))                   \
            return RCOMM_ERR_NO_MEMORY;                                                  \
        memcpy(dst->f, src->f, (len) * sizeof(*src->f));                                 \
    } while (0)
    DUP(in_off, n + 1);
    DUP(in_nbr, mi);
    DUP(in_w, mi);
    DUP(out_off, n + 1);
    DUP(out_nbr, mo);
    DUP(out_w, mo);
    DUP(self_w, n);
#undef DUP
    return RCOMM_OK;
}

rcomm_status_t rcomm_graph_create_schedule(rcomm_comm_t *comm,
                                           rcomm_graph_t *const *steps, size_t nsteps,
                                           rcomm_graph_t **graph)
{
    static const char fn[] = "rcomm_graph_create_schedule";
    rcomm_status_t st;
    rcomm_graph_t *g;
    size_t total = 0;

    if ((st = create_args(comm, graph, fn)) != RCOMM_OK)
        return st;
    if (!steps || nsteps == 0)
        return base_err(RCOMM_ERR_INVALID_ARG, "%s: rank %d: %s", fn, comm->rank,
                        !steps ? "steps is NULL" : "nsteps is 0");
    for (size_t i = 0; i < nsteps; i++) {
        if (!steps[i] || steps[i]->magic != HANDLE_MAGIC_GRAPH)
            return base_err(RCOMM_ERR_INVALID_ARG,
                            "%s: rank %d: steps[%zu] is NULL, destroyed or not a graph",
                            fn, comm->rank, i);
        if (steps[i]->comm != comm)
            return base_err(RCOMM_ERR_INVALID_ARG,
                            "%s: rank %d: steps[%zu] belongs to another communicator", fn,
                            comm->rank, i);
        total += steps[i]->nsteps;
    }
    if (!(g = graph_new(comm, total, fn)))
        return RCOMM_ERR_NO_MEMORY;
    for (size_t i = 0, t = 0; i < nsteps; i++)
        for (size_t k = 0; k < steps[i]->nsteps; k++, t++)
            if (copy_step(&steps[i]->steps[k], &g->steps[t]) != RCOMM_OK) {
                graph_free(g);
                return base_err(RCOMM_ERR_NO_MEMORY, "%s: rank %d: out of memory", fn,
                                comm->rank);
            }
    return graph_finish(g, fn, graph);
}

rcomm_status_t rcomm_graph_in_neighbors(const rcomm_graph_t *graph, uint64_t step,
                                        int *nbrs, double *weights, size_t cap, size_t *n,
                                        double *self_weight)
{
    static const char fn[] = "rcomm_graph_in_neighbors";
    rcomm_status_t st;
    const gossip_graph_t *s;
    int r, lo;

    if ((st = gossip_graph_valid(graph, fn)) != RCOMM_OK)
        return st;
    if (!n || (cap && !nbrs && !weights))
        return base_err(RCOMM_ERR_INVALID_ARG, "%s: %s", fn,
                        !n ? "n is NULL" : "cap > 0 but nbrs and weights are NULL");
    s = &graph->steps[step % graph->nsteps];
    r = graph->comm->rank;
    lo = s->in_off[r];
    *n = (size_t)(s->in_off[r + 1] - lo);
    for (size_t k = 0; k < *n && k < cap; k++) {
        if (nbrs)
            nbrs[k] = s->in_nbr[lo + (int)k];
        if (weights)
            weights[k] = s->in_w[lo + (int)k];
    }
    if (self_weight)
        *self_weight = s->self_w[r];
    return RCOMM_OK;
}

uint64_t rcomm_graph_step(const rcomm_graph_t *graph)
{
    return graph && graph->magic == HANDLE_MAGIC_GRAPH ? graph->step : 0;
}

rcomm_status_t rcomm_graph_destroy(rcomm_graph_t *graph)
{
    rcomm_status_t st;

    if ((st = gossip_graph_valid(graph, "rcomm_graph_destroy")) != RCOMM_OK)
        return st;
    graph->magic = 0;
    graph_release(graph);
    handle_bury(HANDLE_GRAPH, graph); /* a second destroy is then an error */
    return RCOMM_OK;
}

static rcomm_status_t neighbor(rcomm_graph_t *graph, const void *sendbuf, void *recvbuf,
                               size_t count, rcomm_dtype_t dtype, const char *fn,
                               rcomm_request_t **req)
{
    rcomm_comm_t *comm = graph->comm;
    const gossip_graph_t *s = &graph->steps[graph->step % graph->nsteps];
    const int r = comm->rank;
    const uint64_t t = graph->step;
    coll_nbr_t nb = {
        .nin = s->in_off[r + 1] - s->in_off[r],
        .nout = s->out_off[r + 1] - s->out_off[r],
        .in = s->in_nbr + s->in_off[r],
        .out = s->out_nbr + s->out_off[r],
        .in_w = s->in_w + s->in_off[r],
        .self_w = s->self_w[r],
    };
    coll_call_t c = {.fn = fn,
                     .desc = {COLL_NEIGHBOR, dtype, 0, 0, count},
                     .sbuf = sendbuf,
                     .rbuf = recvbuf,
                     .nbr = &nb};
    rcomm_status_t st;

    c.desc.root = (int)(uint32_t)XXH64(&t, sizeof(t), graph->hash[t % graph->nsteps]);
    if ((st = coll_check_common(comm, &c, 0)) != RCOMM_OK)
        return st;
    if (graph->rows_why[0])
        return base_err(RCOMM_ERR_INVALID_ARG,
                        "%s: rank %d: the graph cannot average (a push-sum window can "
                        "use it): %s",
                        fn, r, graph->rows_why);
    if ((st = coll_check_inout(comm, &c)) != RCOMM_OK)
        return st;
    graph->step++;
    return coll_run(comm, &c, req);
}

rcomm_status_t rcomm_neighbor_allreduce(rcomm_graph_t *graph, const void *sendbuf,
                                        void *recvbuf, size_t count, rcomm_dtype_t dtype)
{
    static const char fn[] = "rcomm_neighbor_allreduce";
    rcomm_status_t st;

    if ((st = gossip_graph_valid(graph, fn)) != RCOMM_OK)
        return st;
    return COMM_LOCKED(graph->comm,
                       neighbor(graph, sendbuf, recvbuf, count, dtype, fn, NULL));
}

rcomm_status_t rcomm_ineighbor_allreduce(rcomm_graph_t *graph, const void *sendbuf,
                                         void *recvbuf, size_t count, rcomm_dtype_t dtype,
                                         rcomm_request_t **req)
{
    static const char fn[] = "rcomm_ineighbor_allreduce";
    rcomm_status_t st;

    if (!req)
        return base_err(RCOMM_ERR_INVALID_ARG, "%s: req is NULL", fn);
    if ((st = gossip_graph_valid(graph, fn)) != RCOMM_OK)
        return st;
    return COMM_LOCKED(graph->comm,
                       neighbor(graph, sendbuf, recvbuf, count, dtype, fn, req));
}
