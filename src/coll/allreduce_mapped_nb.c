/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The mapped AllReduce (allreduce_mapped.c) for a nonblocking call: the
 * same reduction straight between the ranks' buffers, but the ranks meet
 * by small messages inside a schedule, so that several calls (gradient
 * buckets) can be in flight at once and progress without a thread of
 * their own. The blocking path's mailboxes hold one call at a time.
 *
 * Whether the buffers can be mapped is known only at run time, and every
 * rank must take the same way, so the schedule holds both ways and a
 * branch between them:
 *   1. every rank sends every peer where its buffers are (coll_where_t,
 *      with fit = both in rcomm_mem_alloc memory);
 *   2. once all have come: if every rank fits, map the peers' buffers;
 *      send every peer a vote (1 byte: mapped them all);
 *   3. once all votes have come: all yes, skip the generic ops; else give
 *      the mappings back and skip the mapped ones. No byte of the
 *      buffers has moved before this point.
 *   mapped: reduce our block straight from the peers' send buffers into
 *      their receive buffers (in slices, as local work), give the mappings
 *      back, tell every peer we are done and wait for theirs: until then a
 *      peer may still read our send buffer or write our receive buffer.
 *   generic: the schedule of the algorithm rcomm chose, every op of it
 *      waiting for the branch.
 * Two rounds of small messages and a third of empty ones: worth it above
 * the slots' 256 bytes, and from 32 KiB where ranks outnumber cores, as in
 * the blocking path (the same rule: coll_mapped_nb_applies).
 */
#include <string.h>

#include "coll/coll.h"
#include "coll/mapped.h"

typedef struct {
    rcomm_comm_t *comm;
    const char *fn;
    coll_desc_t desc;
    size_t bytes, pos;
    coll_where_t mine;
    coll_where_t *at;         /* [size]: what each peer told */
    const unsigned char **in; /* [size]: at[q] as bytes, for coll_mapped_map */
    uint8_t vote, *votes;     /* ours; [size] the peers' */
    const char **src;         /* [size]: every rank's buffers, mapped */
    char **dst;
    coll_sop_id_t map_from, map_to, gen_from, gen_to;
    bool mapped;
} nb_t;

/* Step 2: everyone's buffers fit? Then map the peers'. */
static bool gate_map(coll_sched_t *s, void *arg, size_t *budget)
{
    nb_t *b = arg;
    bool fit = b->mine.fit != 0;

    (void)budget;
    for (int q = 0; q < b->comm->size && fit; q++)
        fit = q == b->comm->rank || b->at[q].fit == 1;
    b->mapped =
        fit && coll_mapped_map(b->comm, b->fn, s->seq, b->bytes, b->in, b->src, b->dst);
    b->vote = b->mapped;
    return true;
}

/* Step 3: the branch. */
static bool gate_branch(coll_sched_t *s, void *arg, size_t *budget)
{
    nb_t *b = arg;
    bool all = b->vote;

    (void)budget;
    for (int q = 0; q < b->comm->size && all; q++)
        all = q == b->comm->rank || b->votes[q] == 1;
    if (all) {
        coll_sched_skip(s, b->gen_from, b->gen_to);
        return true;
    }
    if (b->mapped)
        coll_mapped_unmap(b->comm, b->src, b->dst);
    b->mapped = false;
    coll_sched_skip(s, b->map_from, b->map_to);
    return true;
}

/* The mapped way's work, a slice at a time. A call that fails midway (a
 * peer died) keeps its mappings: the communicator is failed by then. */
static bool reduce(coll_sched_t *s, void *arg, size_t *budget)
{
    nb_t *b = arg;
    const int r = b->comm->rank;

    (void)s;
    if (!coll_mapped_reduce(b->comm, &b->desc, b->src, b->dst, &b->pos, budget))
        return false;
    b->src[r] = NULL;
    b->dst[r] = NULL;
    coll_mapped_unmap(b->comm, b->src, b->dst);
    b->mapped = false;
    return true;
}

/* Our state in one scratch block: the struct, then the per-rank arrays. */
static nb_t *state(coll_sched_t *s, const coll_call_t *c)
{
    const size_t p = (size_t)s->comm->size;
    const size_t need =
        sizeof(nb_t) + p * (sizeof(coll_where_t) + sizeof(void *) * 3 + 1);
    nb_t *b = coll_sched_scratch(s, need);
    char *at;

    if (!b)
        return NULL;
    memset(b, 0, need);
    at = (char *)(b + 1);
    b->at = (coll_where_t *)at;
    b->in = (const unsigned char **)(at + p * sizeof(coll_where_t));
    b->src = (const char **)(b->in + p);
    b->dst = (char **)(b->src + p);
    b->votes = (uint8_t *)(b->dst + p);
    b->comm = s->comm;
    b->fn = c->fn;
    b->desc = c->desc;
    b->bytes = c->desc.count * s->esize;
    for (size_t q = 0; q < p; q++)
        b->in[q] = (const unsigned char *)&b->at[q];
    b->mine.fit = coll_mapped_fit(s->comm, c, &b->mine.srk, &b->mine.rrk);
    b->mine.sbuf = (uint64_t)(uintptr_t)c->sbuf;
    b->mine.rbuf = (uint64_t)(uintptr_t)c->rbuf;
    b->src[s->comm->rank] = c->sbuf;
    b->dst[s->comm->rank] = c->rbuf;
    return b;
}

rcomm_status_t coll_allreduce_mapped_nb_build(coll_sched_t *s, const coll_call_t *c,
                                              rcomm_algo_t algo)
{
    const int p = s->comm->size, r = s->comm->rank;
    nb_t *b = state(s, c);
    coll_sop_id_t told, voted, map, branch, work;
    rcomm_status_t st;

    if (!b)
        return RCOMM_ERR_NO_MEMORY;
    told = coll_sched_join(s);
    map = coll_sched_call(s, gate_map, b);
    voted = coll_sched_join(s);
    branch = coll_sched_call(s, gate_branch, b);
    for (int q = 0; q < p; q++) {
        if (q == r)
            continue;
        coll_sched_send(s, q, &b->mine, sizeof(b->mine));
        coll_sched_dep(s, told, coll_sched_recv(s, q, &b->at[q], sizeof(b->at[q])));
        coll_sched_dep(s, coll_sched_send(s, q, &b->vote, 1), map);
        coll_sched_dep(s, voted, coll_sched_recv(s, q, &b->votes[q], 1));
    }
    coll_sched_dep(s, map, told);
    coll_sched_dep(s, voted, map);
    coll_sched_dep(s, branch, voted);

    b->map_from = s->nops;
    work = coll_sched_call(s, reduce, b);
    coll_sched_dep(s, work, branch);
    for (int q = 0; q < p; q++) {
        if (q == r)
            continue;
        coll_sop_id_t tell = coll_sched_ctrl_send(s, q, COLL_TAG_CTRL + 1),
                      hear = coll_sched_ctrl_recv(s, q, COLL_TAG_CTRL + 1);
        coll_sched_dep(s, tell, work);
        coll_sched_dep(s, hear, branch);
    }
    b->map_to = s->nops;

    b->gen_from = s->nops;
    st = coll_allreduce_build(s, algo, c->sbuf, c->rbuf);
    b->gen_to = s->nops;
    /* Every generic op waits for the branch. (A schedule is done when all
     * its ops are, skipped ones included.) */
    for (coll_sop_id_t i = b->gen_from; i < b->gen_to; i++)
        coll_sched_dep(s, i, branch);
    return st;
}
