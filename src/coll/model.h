/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The cost model that picks collective algorithms: measured, per transport
 * and per message-size class.
 *
 * A message of m bytes in the class c with lo_c < m <= upto_c costs
 *     msg(m) = alpha_c + beta_c m
 * (one step of a pairwise exchange: both ranks send m bytes and receive m
 * bytes, while every other rank of the job does the same), and reducing m
 * bytes costs red(m) = gamma_c m. Classes are short, so the model follows
 * what a single line cannot: a cache that stops holding the working set, a
 * protocol step at an eager limit (a class that ends there and one that
 * starts just above), a socket buffer that fills. alpha_c is the latency in
 * the small classes; in a class where time grows faster than size it is the
 * intercept of the class's line and may be negative. rcomm-tune measures the constants on
 * the machine and writes them to a tuning file; RCOMM_TUNING_FILE loads it on rank 0,
 * which shares it with the others so that every rank picks the same algorithm.
 *
 * Tuning file: text, one directive per line, '#' starts a comment.
 *     rcomm-tuning 1                      first directive: format version
 *     transport tcp                       a section for one transport
 *     ranks-per-host 4                    (optional) measured with 4 ranks
 *                                         per host: jobs pick the closest
 *     class UPTO ALPHA_US BETA_NS GAMMA_NS
 *     ...                                 UPTO increasing; the last is "inf"
 *     rule COLL RANKS UPTO ALGO           (optional) a measured decision
 *     ...                                 UPTO increasing per COLL and RANKS
 * Sizes take K, M, G suffixes. Errors name the file, the line and the field.
 *
 * A job where shared memory serves the ranks of a host beside a network
 * takes two sections, its network transport's and "shm"'s (links.c prices
 * each step by the link it crosses); rcomm-tune writes both in such a job.
 *
 * Rules are Open MPI's dynamic rules in this file's terms: rcomm-tune times
 * every algorithm of allreduce (ring, butterfly, rd, direct) and broadcast (binomial,
 * chain) at the job's own rank count and writes the fastest per size; reduce
 * (binomial, rsg) takes rules too, written by hand from a side-by-side run
 * (perf/wait_bench.sh -v RCOMM_REDUCE_ALGO). A job
 * of exactly RANKS ranks uses ALGO for COLL messages of more than the
 * previous rule's UPTO and up to this one; anywhere else (other rank counts,
 * sizes past the last rule) the formulas over the classes choose. They
 * exist because the formulas price steps one at a time, and on a host with
 * more ranks than cores what a step costs depends on who else is running.
 */
#ifndef RCOMM_MODEL_H
#define RCOMM_MODEL_H

#include <stddef.h>
#include <stdio.h>

#include "rcomm.h"

typedef enum {
    COLL_ALLREDUCE = 1,
    COLL_BROADCAST,
    COLL_ALLGATHER,
    COLL_REDUCE_SCATTER,
    COLL_BARRIER,
    COLL_EXCHANGE, /* rcomm-tune's measurement step (hook_exchange) */
    COLL_REDUCE,
    COLL_GATHER,
    COLL_SCATTER,
    COLL_ALLTOALL,
    COLL_ALLGATHERV, /* count: the total; root: a hash of the counts */
    COLL_ALLTOALLV,  /* count: each message's own (coll_sched_set_count) */
    COLL_SEND,       /* point-to-point; root: the tag */
    COLL_RECV,
    COLL_NEIGHBOR, /* neighbour averaging; root: the graph's hash and step */
    COLL_KIND_COUNT
} coll_kind_t;

#define COLL_MODEL_MAX_CLASSES 64
#define COLL_MODEL_MAX_RULES 128
#define COLL_MODEL_MAX_FILE (1 << 20)
#define COLL_MODEL_LAST SIZE_MAX /* upto of the last class: "inf" */

typedef struct {
    size_t upto;
    double alpha_us, beta_ns, gamma_ns;
} coll_model_class_t;

typedef struct {
    int coll;  /* coll_kind_t: COLL_ALLREDUCE, COLL_BROADCAST or COLL_REDUCE */
    int ranks; /* the job's size */
    size_t upto;
    int algo; /* rcomm_algo_t, coll_bcast_algo_t or coll_reduce_algo_t */
} coll_model_rule_t;

typedef struct {
    char transport[16];
    int ranks_per_host; /* measured with this many ranks per host; 0 = any */
    char source[128];   /* the file it came from, or "built-in ..." */
    int nclasses;
    coll_model_class_t cls[COLL_MODEL_MAX_CLASSES];
    int nrules;
    coll_model_rule_t rule[COLL_MODEL_MAX_RULES];
} coll_model_t;

/* The built-in profile of a transport (measured on the development machine,
 * see docs/PERFORMANCE.md): used without RCOMM_TUNING_FILE. */
rcomm_status_t coll_model_builtin(const char *transport, int local, coll_model_t *m);
/* The tuning file at path (RCOMM_TUNING_FILE), or the built-in profile when
 * path is empty. */
rcomm_status_t coll_model_choose(const char *path, const char *transport, int local,
                                 coll_model_t *m);

/* Parse a tuning file's text and take the section of transport measured
 * with the ranks-per-host closest to local (the same; else the largest
 * below; else the smallest above). name is what error messages call the
 * text (the file's path). */
rcomm_status_t coll_model_parse(const char *text, size_t len, const char *name,
                                const char *transport, int local, coll_model_t *m);
/* Read and parse the file at path (at most COLL_MODEL_MAX_FILE bytes). */
rcomm_status_t coll_model_load(const char *path, const char *transport, int local,
                               coll_model_t *m);
/* The same for a section the file may lack: *found 0 (and RCOMM_OK) when the
 * file is good but has none for transport; its errors stay errors. */
rcomm_status_t coll_model_load_if(const char *path, const char *transport, int local,
                                  coll_model_t *m, int *found);
/* Write m as one tuning-file section ("transport ...", its classes and
 * rules). */
void coll_model_write(const coll_model_t *m, FILE *out);

/* An algorithm's name: rcomm_algo_t for allreduce, coll_bcast_algo_t for
 * broadcast (coll: coll_kind_t). */
const char *coll_model_algo_name(int coll, int algo);

/* The algorithm a rule sets for coll on p ranks at bytes, or -1: none. */
int coll_model_rule(const coll_model_t *m, int coll, int p, size_t bytes);

/* Seconds. */
double coll_model_msg(const coll_model_t *m, size_t bytes);
double coll_model_reduce(const coll_model_t *m, size_t bytes);

typedef enum { COLL_BCAST_BINOMIAL, COLL_BCAST_CHAIN } coll_bcast_algo_t;
typedef enum { COLL_REDUCE_BINOMIAL, COLL_REDUCE_RSG } coll_reduce_algo_t;

/* links.c: the links a communicator's collectives cross. With one kind of
 * link (a single transport, or ranks that share no host), net prices every
 * message and each step puts one stream on a link. When shared memory
 * serves the ranks of a host and a network the others, local is shared
 * memory's model and net the network's, and each step pattern is priced on
 * the busiest host: s of its ranks sending m bytes off the host share its
 * link, as one network message of s*m bytes; a step where no rank leaves
 * its host is a shared-memory message. hosts x per_host is the shape the
 * hierarchical allreduce needs (0 when the hosts differ in size, or there
 * is one host, or one rank per host). */
#define COLL_LINKS_MAX_LG 31
typedef struct {
    const coll_model_t *net, *local;
    int p;
    int ring;                    /* streams of a ring step (r -> r+1) */
    int fold;                    /* ... of the fold of a non-power-of-two p */
    int dist[COLL_LINKS_MAX_LG]; /* ... of pairs at distance 2^i (butterfly, rd) */
    int all;                     /* ... of every rank to every peer (direct) */
    int hosts, per_host;
} coll_links_t;

/* One kind of link: m prices everything. */
void coll_links_flat(coll_links_t *k, const coll_model_t *m, int p);
/* From the host map (core/comm.h host_of, nhosts); local NULL: flat.
 * NO_MEMORY leaves k flat. */
rcomm_status_t coll_links_init(coll_links_t *k, const coll_model_t *net,
                               const coll_model_t *local, int p, const int *host_of,
                               int nhosts);
/* One step of streams streams of bytes each on the busiest link. */
double coll_links_msg(const coll_links_t *k, int streams, size_t bytes);
/* L, the ranks per host, when every one of nhosts >= 2 hosts has the same
 * L >= 2 ranks; 0 otherwise. */
int coll_hosts_shape(const int *host_of, int p, int nhosts);

/* select.c: the choice by the cost model. forced: the algorithm
 * set by the user (RCOMM_ALGO_AUTO, or -1 for broadcast, to choose). */
rcomm_algo_t coll_select_allreduce(const coll_model_t *m, int forced, int p,
                                   size_t bytes);
/* The same over the links of a communicator (p = k->p); the hierarchical
 * allreduce is a candidate where k has its shape. */
rcomm_algo_t coll_select_allreduce_on(const coll_links_t *k, int forced, size_t bytes);
coll_bcast_algo_t coll_select_broadcast(const coll_model_t *m, int forced, size_t seg,
                                        int p, size_t bytes);
coll_reduce_algo_t coll_select_reduce(const coll_model_t *m, int forced, int p,
                                      size_t bytes);
/* Predicted seconds, exposed for the tools and tests. */
double coll_cost_reduce(const coll_model_t *m, coll_reduce_algo_t algo, int p,
                        size_t bytes);
double coll_cost_allreduce(const coll_model_t *m, rcomm_algo_t algo, int p, size_t bytes);
double coll_cost_allreduce_on(const coll_links_t *k, rcomm_algo_t algo, size_t bytes);
double coll_cost_broadcast(const coll_model_t *m, size_t seg, coll_bcast_algo_t algo,
                           int p, size_t bytes);
/* Where the choice changes for p ranks, up to maxbytes: sw[i].algo is chosen
 * from sw[i].from bytes on (sw[0].from = 1). coll is COLL_ALLREDUCE
 * (algo: rcomm_algo_t) or COLL_BROADCAST (coll_bcast_algo_t). Returns
 * the number of entries (at most max). */
typedef struct {
    size_t from;
    int algo;
} coll_switch_t;
int coll_switch_points(const coll_model_t *m, size_t seg, int coll, int p,
                       size_t maxbytes, coll_switch_t *sw, int max);

#endif
