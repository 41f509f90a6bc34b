/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The links a communicator's collectives cross (model.h, coll_links_t):
 * for each step pattern of the algorithms, how many of a host's ranks send
 * off the host at once, on the busiest host. Counted once at creation from
 * the host map, so that pricing a call stays O(lg p).
 *
 * Ranks 0-3 on hosts A A B B (host-ordered):
 *   ring (r -> r+1)         ranks 1 and 3 leave their host: 1 stream each
 *   butterfly d = 1 (r^1)   every partner is on its host: 0 (shared memory)
 *   butterfly d = 2 (r^2)   both ranks of each host leave it: 2 streams
 * Ranks placed round-robin (A B A B) turn all of these around: every ring
 * step puts both of a host's ranks on its link. A direct step (every rank
 * to every peer) puts both on it whatever the placement.
 */
#include <stdlib.h>
#include <string.h>

#include "coll/coll.h"

/* The most ranks of one host whose partner (partner[r], -1: none) is on
 * another host. */
static int busiest(const int *host_of, int nhosts, int p, const int *partner, int *count)
{
    int most = 0;

    memset(count, 0, (size_t)nhosts * sizeof(*count));
    for (int r = 0; r < p; r++)
        if (partner[r] >= 0 && host_of[partner[r]] != host_of[r] &&
            ++count[host_of[r]] > most)
            most = count[host_of[r]];
    return most;
}

int coll_hosts_shape(const int *host_of, int p, int nhosts)
{
    int first = 0, n;

    if (!host_of || nhosts < 2 || p % nhosts != 0)
        return 0;
    for (int h = 0; h < nhosts; h++) {
        n = 0;
        for (int r = 0; r < p; r++)
            n += host_of[r] == h;
        if (h == 0)
            first = n;
        if (n != first)
            return 0;
    }
    return first >= 2 ? first : 0;
}

void coll_links_flat(coll_links_t *k, const coll_model_t *m, int p)
{
    *k = (coll_links_t){.net = m, .p = p, .ring = 1, .fold = 1, .all = 1};
    for (int i = 0; i < COLL_LINKS_MAX_LG; i++)
        k->dist[i] = 1;
}

rcomm_status_t coll_links_init(coll_links_t *k, const coll_model_t *net,
                               const coll_model_t *local, int p, const int *host_of,
                               int nhosts)
{
    coll_fold_t f;
    int *partner, *count;

    coll_links_flat(k, net, p);
    if (!local || !host_of || nhosts < 1 || p < 2)
        return RCOMM_OK;
    if (!(partner = malloc((size_t)(p + nhosts) * sizeof(int))))
        return RCOMM_ERR_NO_MEMORY;
    count = partner + p;
    k->local = local;
    for (int r = 0; r < p; r++)
        partner[r] = (r + 1) % p;
    k->ring = busiest(host_of, nhosts, p, partner, count);
    coll_fold(0, p, &f);
    for (int r = 0; r < p; r++)
        partner[r] = r < 2 * f.rem ? r ^ 1 : -1;
    k->fold = busiest(host_of, nhosts, p, partner, count);
    for (int i = 0; i < COLL_LINKS_MAX_LG && (1 << i) < f.p2; i++) {
        for (int r = 0; r < p; r++)
            partner[r] = -1;
        for (int v = 0; v < f.p2; v++)
            partner[coll_fold_real(&f, v)] = coll_fold_real(&f, v ^ (1 << i));
        k->dist[i] = busiest(host_of, nhosts, p, partner, count);
    }
    /* All at once (direct): every rank of a host with peers elsewhere. */
    memset(count, 0, (size_t)nhosts * sizeof(*count));
    k->all = 0;
    if (nhosts > 1)
        for (int r = 0; r < p; r++)
            if (++count[host_of[r]] > k->all)
                k->all = count[host_of[r]];
    k->per_host = coll_hosts_shape(host_of, p, nhosts);
    k->hosts = k->per_host ? nhosts : 0;
    free(partner);
    return RCOMM_OK;
}

double coll_links_msg(const coll_links_t *k, int streams, size_t bytes)
{
    if (streams == 0 && k->local)
        return coll_model_msg(k->local, bytes);
    return coll_model_msg(k->net, (size_t)(streams > 1 ? streams : 1) * bytes);
}
