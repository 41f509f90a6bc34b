/* SPDX-License-Identifier: BSD-3-Clause */
/* The public graph object (api.c), shared with the gossip window (win.c). */
#ifndef RCOMM_GOSSIP_H
#define RCOMM_GOSSIP_H

#include "gossip/graph.h"
#include "rcomm.h"

struct rcomm_graph {
    uint64_t magic;
    rcomm_comm_t *comm;
    size_t nsteps;
    gossip_graph_t *steps;
    uint64_t *hash; /* [nsteps] */
    uint64_t step;  /* calls made */
    /* Why the graph cannot average (a row off 1) or push-sum (a column off
     * 1); empty when it can. Creation refuses a graph that can do neither. */
    char rows_why[200], cols_why[200];
};

/* OK, or INVALID_ARG "fn: graph is NULL" / "... was destroyed". */
rcomm_status_t gossip_graph_valid(const rcomm_graph_t *g, const char *fn);

#endif
