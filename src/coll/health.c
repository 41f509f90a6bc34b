/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Who is to blame when a collective stops making progress.
 *
 * A rank whose collective times out knows only the peer it waits for, and
 * that peer may itself be waiting for another. So before giving up, the rank
 * asks every peer what it is doing: a zero-byte PROBE on a control tag. Ranks
 * blocked inside rcomm answer from their progress loop with a REPLY whose
 * envelope names the collective they are in. Then:
 *  - a peer whose probe fails (its connection is gone: it died, and nothing
 *    told us yet, as with verbs without a connection manager) is named first;
 *  - a peer that failed and told us why (its goodbye carried its error, as
 *    when it timed out a moment before us and named the cause) is next: its
 *    reason is quoted, since it holds the cause we could not see, and the
 *    peer itself is unreachable only because it has left;
 *  - a peer that does not answer within the grace period has not reached the
 *    collective, or is stuck outside rcomm: it is named as the cause;
 *  - a peer in the same collective called with other arguments is a mismatch
 *    that the data messages could not reveal (for example two ranks that
 *    both think they are the broadcast root, each waiting for the other),
 *    and so are two peers in one collective that disagree with each other
 *    while we, already past it, wait for them in the next;
 *  - otherwise every rank is in the collective and the one we wait for is
 *    named.
 * Every rank that times out probes, and they answer each other, so all of
 * them name the same silent rank. Probes and answers carry no payload, so
 * that the transport sends them ahead of the data it has queued for that
 * peer (transport.h): behind a 16 MiB message on a 20 Mbit/s link they
 * missed the grace period, and live ranks were named as silent.
 */
#include <stdlib.h>
#include <string.h>

#include "base/clock.h"
#include "base/error.h"
#include "coll/colls.h"
#include "coll/sched.h"

#define CTRL_PROBE(h) comm_service_tag((h)->space, 1)
#define CTRL_REPLY(h) comm_service_tag((h)->space, 2)
/* Never sent: a receive posted on it completes only when its peer fails. */
#define CTRL_WATCH(h) comm_service_tag((h)->space, 3)
#define IDLE UINT64_MAX
#define TIMED_OUT "(RCOMM_TIMEOUT): "

typedef struct {
    tp_req_t consume, reply; /* answering their probe */
    tp_req_t ask, answer;    /* our own probe */
    int probes;              /* probes received, not yet answered */
    int answering;
    tp_req_t watch; /* coll_health_peer_failed's */
    bool watching;
} peer_health_t;

struct coll_health {
    peer_health_t *peer;
    uint32_t space; /* our tag space (service.h) */
};

static void on_probe(rcomm_comm_t *comm, void *state, int peer, uint64_t tag,
                     const tp_env_t *env, size_t len);
static void answer_probes(rcomm_comm_t *comm, void *state);

static void health_free(rcomm_comm_t *comm, void *state)
{
    struct coll_health *h = state;

    if (coll_state(comm))
        coll_state(comm)->health = NULL;
    if (h)
        free(h->peer);
    free(h);
}

static const comm_service_ops_t health_service = {
    .name = "health checks",
    .progress = answer_probes,
    .unexpected = on_probe,
    .destroy = health_free,
};

/* After the collectives (whose state points here). */
rcomm_status_t coll_health_init(rcomm_comm_t *comm)
{
    struct coll_health *h = calloc(1, sizeof(*h));
    rcomm_status_t st;

    if (h)
        h->peer = calloc((size_t)comm->size, sizeof(peer_health_t));
    if (!h || !h->peer) {
        health_free(comm, h);
        return base_err(RCOMM_ERR_NO_MEMORY, "rank %d: no memory for health checks",
                        comm->rank);
    }
    if ((st = comm_service_add(comm, &health_service, h, &h->space)) != RCOMM_OK) {
        health_free(comm, h);
        return st;
    }
    coll_state(comm)->health = h;
    return RCOMM_OK;
}

bool coll_health_peer_failed(rcomm_comm_t *comm, int peer, rcomm_status_t *st)
{
    struct coll_health *h = coll_state(comm)->health;
    peer_health_t *ph;

    if (!h || !comm->tp || peer < 0 || peer >= comm->size || peer == comm->rank)
        return false;
    ph = &h->peer[peer];
    if (!ph->watching) {
        base_err_mute(true); /* a failed peer is the answer, said by the caller */
        ph->watch.watch = 1;
        *st = comm->tp->ops->irecv(comm->tp, peer, CTRL_WATCH(h), NULL, 0, &ph->watch);
        base_err_mute(false);
        if (*st != RCOMM_OK)
            return true;
        ph->watching = true;
    }
    if (ph->watch.status == RCOMM_INPROGRESS)
        return false;
    /* A message on a tag nobody sends to is a broken peer too. */
    *st = ph->watch.status == RCOMM_OK ? RCOMM_ERR_PROTOCOL : ph->watch.status;
    return true;
}

/* What we are doing, as an envelope: our oldest collective in flight, or
 * the call we are in in the mailboxes. */
static void our_state(const rcomm_comm_t *comm, tp_env_t *env)
{
    const coll_state_t *c = coll_state(comm);
    const coll_sched_t *s = c->active;

    while (s && coll_is_p2p(s)) /* not numbered: peers could not place it */
        s = s->next;
    if (s) {
        coll_desc_to_env(&s->desc, s->seq, env);
    } else if (c->in_mbox) {
        coll_desc_to_env(&c->mbox_desc, c->mbox_call - 1, env);
    } else {
        memset(env, 0, sizeof(*env));
        env->w[0] = IDLE;
        env->w[1] = c->next_seq;
    }
}

/* A probe arrived: answered by the next progress (posting is not allowed
 * here). */
static void on_probe(rcomm_comm_t *comm, void *state, int peer, uint64_t tag,
                     const tp_env_t *env, size_t len)
{
    struct coll_health *h = state;

    (void)comm, (void)env, (void)len;
    if (tag == CTRL_PROBE(h))
        h->peer[peer].probes++;
}

/* Answer the probes that arrived; called after every transport progress. */
static void answer_probes(rcomm_comm_t *comm, void *state)
{
    tp_t *tp = comm->tp;
    struct coll_health *hs = state;
    tp_env_t env;

    if (!tp)
        return;
    for (int p = 0; p < comm->size; p++) {
        peer_health_t *h = &hs->peer[p];
        if (h->answering && h->consume.status != RCOMM_INPROGRESS &&
            h->reply.status != RCOMM_INPROGRESS)
            h->answering = 0;
        if (!h->probes || h->answering)
            continue;
        our_state(comm, &env);
        h->consume.cb = h->reply.cb = NULL;
        h->consume.status = h->reply.status = RCOMM_INPROGRESS;
        if (tp->ops->irecv(tp, p, CTRL_PROBE(hs), NULL, 0, &h->consume) != RCOMM_OK ||
            tp->ops->isend(tp, p, CTRL_REPLY(hs), &env, NULL, 0, &h->reply) != RCOMM_OK)
            continue; /* the peer is gone: nobody to answer */
        h->probes--;
        h->answering = 1;
    }
}

/* A peer's failure as the transport recorded it (rcomm_last_error after a
 * post to it): "peer rank P failed: REASON" when its goodbye gave a reason.
 * Returns REASON, or NULL when the peer died without one. */
static const char *reported_reason(const char *err, int peer)
{
    char head[40];
    const char *at;

    snprintf(head, sizeof(head), "peer rank %d failed: ", peer);
    if (!(at = strstr(err, head)))
        return NULL;
    at += strlen(head);
    /* Its own diagnosis: what follows the preamble, so that a chain of
     * ranks that timed out one after another stays short. */
    return strstr(at, TIMED_OUT) ? strstr(at, TIMED_OUT) + strlen(TIMED_OUT) : at;
}

/* Why posting to peer fails now (it does: the transport saw it fail), found
 * by posting again into its finished answer request. */
static void failure_of(rcomm_comm_t *comm, int peer, char *buf, size_t len)
{
    const struct coll_health *hl = coll_state(comm)->health;
    tp_req_t *r = &hl->peer[peer].answer;

    r->cb = NULL;
    if (comm->tp->ops->irecv(comm->tp, peer, CTRL_REPLY(hl), NULL, 0, r) == RCOMM_OK) {
        comm->tp->ops->cancel(comm->tp, r); /* not failed after all */
        buf[0] = '\0';
        return;
    }
    snprintf(buf, len, "%s", rcomm_last_error());
}

static size_t list_add(char *buf, size_t len, size_t n, const char *fmt, int rank)
{
    if (n < len)
        n += (size_t)snprintf(buf + n, len - n, fmt, n ? ", " : "", rank);
    return n;
}

rcomm_status_t coll_health_diagnose(rcomm_comm_t *comm, const coll_stall_t *s, char *msg,
                                    size_t len)
{
    struct coll_health *hl = coll_state(comm)->health;
    tp_t *tp = comm->tp;
    double grace = comm->cfg.timeout_s < 2 ? comm->cfg.timeout_s : 2;
    uint64_t deadline = base_now_ns() + (uint64_t)(grace * 1e9);
    const char *waiting = s->waiting, *title = s->title;
    char silent[160] = "", gone[160] = "", elsewhere[256] = "", cause[320], mine_s[96],
         theirs_s[96], failure[512], reason[256] = "";
    size_t ns = 0, ng = 0, ne = 0;
    int reporter = -1;
    tp_env_t env;
    int pending = 0;

    if (!tp || !hl)
        goto plain;
    our_state(comm, &env);
    for (int p = 0; p < comm->size; p++) {
        peer_health_t *h = &hl->peer[p];
        h->ask.cb = h->answer.cb = NULL;
        h->answer.status = h->ask.status = RCOMM_INPROGRESS;
        if (p == comm->rank ||
            tp->ops->irecv(tp, p, CTRL_REPLY(hl), NULL, 0, &h->answer) != RCOMM_OK) {
            h->answer.status = RCOMM_ERR_PEER_FAILED;
            continue;
        }
        if (tp->ops->isend(tp, p, CTRL_PROBE(hl), &env, NULL, 0, &h->ask) != RCOMM_OK) {
            tp->ops->cancel(tp, &h->answer);
            h->answer.status = RCOMM_ERR_PEER_FAILED;
            continue;
        }
        pending++;
    }
    while (pending && base_now_ns() < deadline && comm->tp) {
        comm_progress(comm, 10);
        pending = 0;
        for (int p = 0; p < comm->size; p++)
            pending += p != comm->rank && hl->peer[p].answer.status == RCOMM_INPROGRESS;
    }
    for (int p = 0; p < comm->size && comm->tp; p++) {
        const tp_req_t *a = &hl->peer[p].answer;
        coll_desc_t theirs;

        if (p == comm->rank)
            continue;
        if (a->status < 0) { /* it failed: with a reason, or died (a likely cause) */
            const char *why;
            failure_of(comm, p, failure, sizeof(failure));
            if ((why = reported_reason(failure, p)) != NULL) {
                if (reporter < 0) {
                    reporter = p;
                    snprintf(reason, sizeof(reason), "%s", why);
                }
            } else {
                ng = list_add(gone, sizeof(gone), ng, "%srank %d", p);
            }
            continue;
        }
        if (a->status == RCOMM_INPROGRESS) {
            ns = list_add(silent, sizeof(silent), ns, "%srank %d", p);
            continue;
        }
        coll_env_to_desc(&a->env, &theirs);
        if (!s->p2p && a->env.w[0] == s->seq && !coll_desc_equal(&theirs, &s->desc)) {
            coll_desc_format(&s->desc, mine_s, sizeof(mine_s));
            coll_desc_format(&theirs, theirs_s, sizeof(theirs_s));
            snprintf(msg, len,
                     "collective #%llu: rank %d called %s but rank %d called %s",
                     (unsigned long long)s->seq, p, theirs_s, comm->rank, mine_s);
            return RCOMM_ERR_MISMATCH;
        }
        if (a->env.w[0] != s->seq && ne < sizeof(elsewhere)) {
            if (a->env.w[0] == IDLE)
                ne +=
                    (size_t)snprintf(elsewhere + ne, sizeof(elsewhere) - ne,
                                     "%srank %d is between collectives (%llu done)",
                                     ne ? "; " : "", p, (unsigned long long)a->env.w[1]);
            else
                ne += (size_t)snprintf(elsewhere + ne, sizeof(elsewhere) - ne,
                                       "%srank %d is in collective #%llu", ne ? "; " : "",
                                       p, (unsigned long long)a->env.w[0]);
        }
    }
    /* Two peers in the same collective with different arguments: a mismatch
     * that kept them waiting for each other while we waited for them. */
    for (int a = 0; a < comm->size && comm->tp; a++) {
        const tp_req_t *ra = &hl->peer[a].answer;
        coll_desc_t da, db;

        if (a == comm->rank || ra->status != RCOMM_OK || ra->env.w[0] == IDLE)
            continue;
        coll_env_to_desc(&ra->env, &da);
        for (int b = 0; b < a; b++) {
            const tp_req_t *rb = &hl->peer[b].answer;
            if (b == comm->rank || rb->status != RCOMM_OK || rb->env.w[0] != ra->env.w[0])
                continue;
            coll_env_to_desc(&rb->env, &db);
            if (coll_desc_equal(&da, &db))
                continue;
            coll_desc_format(&db, mine_s, sizeof(mine_s));
            coll_desc_format(&da, theirs_s, sizeof(theirs_s));
            snprintf(msg, len,
                     "%s: no progress: collective #%llu: rank %d called %s but rank %d "
                     "called %s",
                     title, (unsigned long long)ra->env.w[0], a, theirs_s, b, mine_s);
            return RCOMM_ERR_MISMATCH;
        }
    }
    /* Without a connection manager a dead peer may show only as a failed
     * probe: it comes first, or the rank we wait for (itself waiting for the
     * dead one) would be blamed. */
    if (ng)
        snprintf(cause, sizeof(cause),
                 "%s could not be reached (connection failed: did it exit?)", gone);
    else if (reporter >= 0)
        snprintf(cause, sizeof(cause), "rank %d failed first (%s)", reporter, reason);
    else if (ns)
        snprintf(cause, sizeof(cause),
                 "%s did not respond (not inside rcomm: has it reached this %s?)", silent,
                 s->p2p ? "call" : "collective");
    else if (ne)
        snprintf(cause, sizeof(cause), "%s", elsewhere);
    if (ng || reporter >= 0 || ns || ne) {
        snprintf(msg, len,
                 "%s: no progress for %.1f s " TIMED_OUT "%s; rank %d waits "
                 "for %s",
                 title, comm->cfg.timeout_s, cause, comm->rank, waiting);
        return RCOMM_ERR_TIMEOUT;
    }
plain:
    snprintf(msg, len,
             "%s: rank %d made no progress for %.1f s (RCOMM_TIMEOUT); "
             "waiting for %s",
             title, comm->rank, comm->cfg.timeout_s, waiting);
    return RCOMM_ERR_TIMEOUT;
}
