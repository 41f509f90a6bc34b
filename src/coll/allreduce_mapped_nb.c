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
 *   2. once all have come, every rank decides alike: if every rank fits,
 *      the mapped way (the generic ops are skipped), else the generic
 *      way (the mapped ops are skipped). No byte of the buffers has moved.
 *   mapped: map the peers' buffers, reduce our block straight from their
 *      send buffers into their receive buffers (in slices, as local work),
 *      give the mappings back, and tell every peer in a byte that we did
 *      (until every peer has said so, one may still read our send buffer
 *      or write our receive buffer). A rank that could not map says 0, and
 *      the call fails on every rank, naming it: mapping fails only when
 *      the host is out of memory or descriptors, and unlike the blocking
 *      path (which votes before any byte moves) this costs no extra round.
 *   generic: the schedule of the algorithm rcomm chose, every op of it
 *      waiting for the branch.
 * A rank whose own buffers do not fit starts the generic way at once. So a
 * call between malloc'd buffers pays only the 88-byte messages, sent beside
 * its own; a mapped one pays that round and a round of 1-byte messages
 * (coll_mapped_nb_applies: where it is tried).
 */
#include <stdio.h>
#include <string.h>

#include "base/error.h"
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
    uint8_t done, *dones;     /* ours (1: reduced, 0: could not map); [size] theirs */
    const char **src;         /* [size]: every rank's buffers, mapped */
    char **dst;
    coll_sop_id_t map_from, map_to, gen_from, gen_to;
    char why[160]; /* why our mapping failed */
} nb_t;

/* Everyone's buffers fit: the mapped way (mapping the peers' buffers), else
 * the generic one. */
static bool branch(coll_sched_t *s, void *arg, size_t *budget)
{
    nb_t *b = arg;
    bool fit = b->mine.fit != 0;

    (void)budget;
    for (int q = 0; q < b->comm->size && fit; q++)
        fit = q == b->comm->rank || b->at[q].fit == 1;
    if (!fit) {
        coll_sched_skip(s, b->map_from, b->map_to);
        return true;
    }
    coll_sched_skip(s, b->gen_from, b->gen_to);
    b->done = coll_mapped_map(b->comm, b->fn, s->seq, b->bytes, b->in, b->src, b->dst);
    if (!b->done)
        snprintf(b->why, sizeof(b->why), "%s", rcomm_last_error());
    return true;
}

/* The mapped way's work, a slice at a time; none if we could not map. A
 * call that fails midway (a peer died) keeps its mappings: the
 * communicator is failed by then. */
static bool reduce(coll_sched_t *s, void *arg, size_t *budget)
{
    nb_t *b = arg;

    (void)s;
    if (!b->done)
        return true;
    if (!coll_mapped_reduce(b->comm, &b->desc, b->src, b->dst, &b->pos, budget))
        return false;
    coll_mapped_unmap(b->comm, b->src, b->dst);
    return true;
}

/* Every rank has said whether it did its block: one that could not map
 * its peers' buffers fails the call everywhere (the others' blocks are in
 * place, its own is not). */
static bool finish(coll_sched_t *s, void *arg, size_t *budget)
{
    nb_t *b = arg;

    (void)budget;
    for (int q = 0; q < b->comm->size; q++) {
        if (q == b->comm->rank ? b->done : b->dones[q] == 1)
            continue;
        if (q == b->comm->rank)
            coll_sched_fail(s, base_err(RCOMM_ERR_NO_MEMORY,
                                        "rank %d: %s: collective #%llu: could not map "
                                        "its peers' buffers: %s",
                                        q, b->fn, (unsigned long long)s->seq, b->why));
        else
            coll_sched_fail(s, base_err(RCOMM_ERR_NO_MEMORY,
                                        "rank %d: %s: collective #%llu: rank %d could "
                                        "not map its peers' buffers (its log says why)",
                                        b->comm->rank, b->fn, (unsigned long long)s->seq,
                                        q));
        return true;
    }
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
    b->dones = (uint8_t *)(b->dst + p);
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

rcomm_status_t coll_allreduce_mapped_nb_build(coll_sched_t *s, const coll_call_t *c)
{
    const int p = s->comm->size, r = s->comm->rank;
    nb_t *b = state(s, c);
    coll_sop_id_t told, choose, work, end;
    rcomm_status_t st;

    if (!b)
        return RCOMM_ERR_NO_MEMORY;
    told = coll_sched_join(s);
    choose = coll_sched_call(s, branch, b);
    coll_sched_dep(s, choose, told);
    for (int q = 0; q < p; q++)
        if (q != r) {
            coll_sched_send(s, q, &b->mine, sizeof(b->mine));
            coll_sched_dep(s, told, coll_sched_recv(s, q, &b->at[q], sizeof(b->at[q])));
        }

    /* The generic ops first: sends to a peer go out in build order, and a
     * generic call's must not queue behind the mapped way's done byte,
     * which is skipped only once the branch is known. */
    b->gen_from = s->nops;
    st = coll_allreduce_build(s, c->algo, c->sbuf, c->rbuf);
    b->gen_to = s->nops;

    b->map_from = s->nops;
    work = coll_sched_call(s, reduce, b);
    end = coll_sched_call(s, finish, b);
    coll_sched_dep(s, work, choose);
    coll_sched_dep(s, end, work);
    for (int q = 0; q < p; q++)
        if (q != r) {
            coll_sched_dep(s, coll_sched_send(s, q, &b->done, 1), work);
            coll_sop_id_t hear = coll_sched_recv(s, q, &b->dones[q], 1);
            coll_sched_dep(s, hear, choose);
            coll_sched_dep(s, end, hear);
        }
    b->map_to = s->nops;
    /* A rank whose own buffers do not fit knows the way already: it skips
     * the mapped ops now and starts the generic ones at once, as a call
     * without the branch would (its messages wait at the peers until they
     * decide; the numbering is the same on both sides). Otherwise every
     * generic op waits for the branch. (A schedule is done when all its
     * ops are, skipped ones included.) */
    if (!b->mine.fit)
        coll_sched_skip(s, b->map_from, b->map_to);
    else
        for (coll_sop_id_t i = b->gen_from; i < b->gen_to; i++)
            coll_sched_dep(s, i, choose);
    return st;
}
