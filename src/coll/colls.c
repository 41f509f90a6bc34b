/* SPDX-License-Identifier: BSD-3-Clause */
/* The collectives' service: its state, its cost model and its hooks. */
#include "coll/colls.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "coll/mailbox.h"
#include "coll/sched.h"

/* Shared memory's profile from the tuning file, or the built-in one when
 * the file has no shm section (it was measured for the network alone); a
 * broken file is an error. */
static rcomm_status_t choose_shm(const char *path, int local, coll_model_t *m)
{
    rcomm_status_t st;
    int found = 0;

    if (path[0] &&
        ((st = coll_model_load_if(path, "shm", local, m, &found)) != RCOMM_OK || found))
        return st;
    if (path[0])
        base_log(BASE_LOG_INFO,
                 "cost model: %s has no shm section; shared memory's built-in profile",
                 path);
    return coll_model_builtin("shm", local, m);
}

/* Rank 0's text of the models for the others: a tuning file's, or "!" and
 * the error when st is one. Returns st, or the store's error. */
static rcomm_status_t share_models(rcomm_comm_t *comm, const coll_state_t *c, int two,
                                   rcomm_status_t st)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);

    if (!f)
        return base_err(RCOMM_ERR_NO_MEMORY, "no memory to share the cost model");
    if (st == RCOMM_OK) {
        fprintf(f, "rcomm-tuning 1\n");
        coll_model_write(&c->model, f);
        if (two)
            coll_model_write(&c->local, f);
    } else {
        fprintf(f, "!%s", rcomm_last_error());
    }
    fclose(f);
    rcomm_status_t pst = bootstrap_put(comm->bs, "tuning", text, len + 1);
    free(text);
    return st != RCOMM_OK ? st : pst;
}

/* The other ranks: rank 0's models, from the store. */
static rcomm_status_t receive_models(rcomm_comm_t *comm, coll_state_t *c, const char *tp,
                                     int two)
{
    const char *path = comm->cfg.tuning_file, *from = "shared by rank 0";
    size_t len = BOOTSTRAP_MAX_VALUE;
    char *text = malloc(len);
    rcomm_status_t st;

    if (!text)
        return base_err(RCOMM_ERR_NO_MEMORY, "no memory for the cost model");
    if ((st = bootstrap_get(comm->bs, 0, "tuning", text, &len)) == RCOMM_OK) {
        text[len ? len - 1 : 0] = '\0';
        if (text[0] == '!')
            st = base_err(RCOMM_ERR_CONFIG,
                          "rank 0 could not load the cost model: %.200s", text + 1);
        else
            st = coll_model_parse(text, strlen(text), from, tp, 0, &c->model);
        if (st == RCOMM_OK && two)
            st = coll_model_parse(text, strlen(text), from, "shm", 0, &c->local);
    }
    free(text);
    snprintf(c->model.source, sizeof(c->model.source), "%.100s (from rank 0)",
             path[0] ? path : "built-in profile");
    snprintf(c->local.source, sizeof(c->local.source), "%.100s (from rank 0)",
             path[0] ? path : "built-in profile");
    return st;
}

/* The cost model: RCOMM_TUNING_FILE or the built-in profiles, as rank 0
 * sees them: the transport's; or, where shared memory serves the ranks of
 * a host beside a network (core/comm.h host_of), the network's and shared
 * memory's (links.c); or shared memory's alone when every rank is on one
 * host. Rank 0 shares them through the store (as a tuning file's text, or
 * its error), so that every rank picks the same algorithms even if the file
 * differs between hosts or is missing on some. */
static rcomm_status_t load_model(rcomm_comm_t *comm, coll_state_t *c)
{
    const char *path = comm->cfg.tuning_file;
    const int composed = comm_hosts_shared(comm);
    const int two = composed && comm->nhosts > 1;
    const char *tp = composed && !two ? "shm" : comm->cfg.transport;
    rcomm_status_t st;

    if (comm->rank == 0 || !comm->bs) {
        st = composed && !two ? choose_shm(path, comm->local_size, &c->model)
                              : coll_model_choose(path, tp, comm->local_size, &c->model);
        if (st == RCOMM_OK && two)
            st = choose_shm(path, comm->local_size, &c->local);
        if (comm->bs)
            st = share_models(comm, c, two, st);
    } else {
        st = receive_models(comm, c, tp, two);
    }
    if (st != RCOMM_OK)
        return st;
    if (coll_links_init(&c->links, &c->model, two ? &c->local : NULL, comm->size,
                        comm->host_of, comm->nhosts) != RCOMM_OK)
        return base_err(RCOMM_ERR_NO_MEMORY, "rank %d: no memory for the link map",
                        comm->rank);
    return RCOMM_OK;
}

static void colls_progress(rcomm_comm_t *comm, void *state)
{
    coll_state_t *c = state;

    for (coll_sched_t *s = c->active; s; s = s->next) {
        rcomm_status_t st = coll_sched_progress(s);
        if (st < 0 && st != RCOMM_ERR_COMM_FAILED)
            comm_fail(comm, st);
    }
}

/* Keep the envelope of a message for collective seq, not called here yet,
 * unless one saying the same is kept: a peer ahead of us usually sends
 * several. alltoallv's messages each claim their own count: not compared. */
static void keep_early(coll_state_t *c, int peer, uint64_t seq, const tp_env_t *env)
{
    coll_desc_t d;
    tp_env_t e = *env;

    coll_env_to_desc(env, &d);
    if (d.kind == COLL_ALLTOALLV)
        e.w[1] = 0;
    for (unsigned i = 0; i < c->nearly; i++)
        if (c->early[i].seq == seq && c->early[i].env.w[1] == e.w[1] &&
            c->early[i].env.w[2] == e.w[2])
            return;
    if (c->nearly < COLL_EARLY_MAX)
        c->early[c->nearly++] = (coll_early_t){seq, peer, e};
}

rcomm_status_t coll_early_check(rcomm_comm_t *comm, coll_sched_t *s)
{
    coll_state_t *c = coll_state(comm);
    unsigned kept = 0;

    for (unsigned i = 0; i < c->nearly; i++) {
        if (c->early[i].seq == s->seq)
            coll_sched_check_unexpected(s, c->early[i].peer, &c->early[i].env);
        else if (c->early[i].seq > s->seq)
            c->early[kept++] = c->early[i];
    }
    c->nearly = kept;
    return s->status < 0 ? s->status : RCOMM_OK;
}

/* Data for a collective in flight is checked against ours; data for one not
 * called yet, when it is called; data for one we completed means the peer
 * called it with other arguments, reported at the next call (the
 * collectives that could complete so see agree.c). */
static void colls_unexpected(rcomm_comm_t *comm, void *state, int peer, uint64_t tag,
                             const tp_env_t *env, size_t len)
{
    coll_state_t *c = state;
    const uint64_t seq = tag >> 32;
    coll_desc_t theirs;
    char desc[96];

    (void)len;
    for (coll_sched_t *s = c->active; s; s = s->next) {
        if (s->seq == seq && s->status == RCOMM_INPROGRESS) {
            coll_sched_check_unexpected(s, peer, env);
            return;
        }
    }
    if (seq >= c->next_seq || coll_mbox_tag(seq) == c->mbox_call) {
        keep_early(c, peer, seq, env);
        return;
    }
    if (comm->deferred == RCOMM_OK) {
        coll_env_to_desc(env, &theirs);
        coll_desc_format(&theirs, desc, sizeof(desc));
        comm->deferred = RCOMM_ERR_MISMATCH;
        snprintf(comm->deferred_msg, sizeof(comm->deferred_msg),
                 "collective #%llu: rank %d called %s, which rank %d had completed "
                 "called differently",
                 (unsigned long long)seq, peer, desc, comm->rank);
    }
}

static bool colls_busy(rcomm_comm_t *comm, void *state, char *what, size_t len)
{
    coll_state_t *c = state;

    (void)comm;
    char title[96];

    if (c->active) {
        coll_sched_title(c->active, title, sizeof(title));
        snprintf(what, len, "%s%s",
                 coll_is_p2p(c->active) ? "" : "nonblocking collective ", title);
    }
    return c->active != NULL;
}

static void colls_fail(rcomm_comm_t *comm, void *state)
{
    coll_state_t *c = state;

    (void)comm;
    for (coll_sched_t *s = c->active; s; s = s->next)
        coll_sched_fail(s, RCOMM_ERR_COMM_FAILED);
}

static rcomm_status_t colls_connected(rcomm_comm_t *comm, void *state)
{
    return coll_slots_connected(comm, state);
}

static void colls_destroy(rcomm_comm_t *comm, void *state)
{
    (void)comm;
    coll_spare_free(((coll_state_t *)state)->spare);
    coll_slots_free(NULL, ((coll_state_t *)state)->slots); /* the transport is gone */
    free(state);
}

static const comm_service_ops_t colls_service = {
    .name = "collectives",
    .progress = colls_progress,
    .unexpected = colls_unexpected,
    .busy = colls_busy,
    .connected = colls_connected,
    .fail = colls_fail,
    .destroy = colls_destroy,
};

/* The collectives own every tag space below the services': their sequence
 * numbers. The health checks come next, with a space of their own. */
rcomm_status_t comm_services_builtin(rcomm_comm_t *comm)
{
    coll_state_t *c = calloc(1, sizeof(*c));
    rcomm_status_t st;

    if (!c)
        return base_err(RCOMM_ERR_NO_MEMORY, "rank %d: no memory for the collectives",
                        comm->rank);
    if ((st = load_model(comm, c)) != RCOMM_OK) {
        free(c);
        return st;
    }
    comm_service_set_rest(comm, &colls_service, c);
    if ((st = coll_health_init(comm)) != RCOMM_OK)
        return st;
    return coll_p2p_init(comm);
}
