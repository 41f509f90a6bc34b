/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Verbs transport, RCOMM_IB_USE_RDMA_CM=1: queue pairs connected by
 * librdmacm instead of from published QP numbers. Address and route come
 * from the IP stack and the subnet manager (what routed RoCE v2, VLANs and
 * IB path records need), and the connection manager reports a peer's
 * connection going away, so a rank that dies is noticed at once, even by a
 * peer that only waits to receive from it.
 *
 * create() listens on the port's IPv4 address; local_addr() publishes that
 * address and port; connect() has every rank connect to each lower rank and
 * accept the higher ones, whose requests carry {magic, rank, size} as
 * private data. Receives are posted before accepting or connecting, so the
 * credit scheme is the same as without rdma_cm.
 *
 * The job key (base/auth.h): each rank publishes a fresh challenge with its
 * address, through the authenticated store. A request carries the dialer's
 * nonce and its tag over the claims, that nonce and the acceptor's
 * challenge; the acceptor checks it before it believes the claims or makes
 * a QP, and its reply carries its own tag, which the dialer checks when the
 * connection is established. The three connection messages of the CM allow
 * no more (the third carries no private data); a recorded request is no use
 * in another job (another challenge) nor in this one (the rank is taken).
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>

#include "base/error.h"
#include "transports/verbs/verbs.h"

#define CM_STEP_MS 5000 /* address and route resolution, each */
#define CM_LABEL_REQUEST "verbs request"
#define CM_LABEL_REPLY "verbs reply"

/* The tags cover the dialer's rank, the size and the acceptor's rank. */
static void cm_claims(uint32_t claims[3], uint32_t dialer, uint32_t size,
                      uint32_t acceptor)
{
    claims[0] = htonl(dialer);
    claims[1] = htonl(size);
    claims[2] = htonl(acceptor);
}

/* The IPv4 address in a v4-mapped GID (RoCE v2). */
static bool gid_ipv4(const union ibv_gid *g, uint32_t *ip)
{
    static const uint8_t v4mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

    if (memcmp(g->raw, v4mapped, 12) != 0)
        return false;
    memcpy(ip, g->raw + 12, 4);
    return true;
}

/* An IPv4 address of one of dev's network interfaces (IPoIB on InfiniBand). */
static bool netdev_ipv4(const char *dev, uint32_t *ip)
{
    char path[160];
    struct ifaddrs *ifs, *i;
    struct dirent *e;
    bool found = false;
    DIR *d;

    snprintf(path, sizeof(path), "/sys/class/infiniband/%s/device/net", dev);
    if (!(d = opendir(path)))
        return false;
    if (getifaddrs(&ifs) != 0) {
        closedir(d);
        return false;
    }
    while (!found && (e = readdir(d)))
        for (i = ifs; i && !found; i = i->ifa_next)
            if (i->ifa_addr && i->ifa_addr->sa_family == AF_INET &&
                strcmp(i->ifa_name, e->d_name) == 0) {
                *ip = ((struct sockaddr_in *)i->ifa_addr)->sin_addr.s_addr;
                found = true;
            }
    freeifaddrs(ifs);
    closedir(d);
    return found;
}

static const char *ipstr(uint32_t ip, char *buf)
{
    return inet_ntop(AF_INET, &ip, buf, INET_ADDRSTRLEN) ? buf : "?";
}

rcomm_status_t vx_cm_open(vx_tp_t *tp)
{
    struct sockaddr_in sa = {.sin_family = AF_INET};
    char a[INET_ADDRSTRLEN];
    const char *bound;
    int rank = tp->base.rank;

    if (!(tp->gid_index >= 0 && gid_ipv4(&tp->gid, &tp->cm_ip)) &&
        !netdev_ipv4(tp->devname, &tp->cm_ip))
        return base_err(RCOMM_ERR_CONFIG,
                        "rank %d: RCOMM_IB_USE_RDMA_CM=1: %s port %u has no IPv4 address "
                        "(its GID is not one and no netdev of it has one); configure one "
                        "or unset RCOMM_IB_USE_RDMA_CM",
                        rank, tp->devname, tp->port);
    sa.sin_addr.s_addr = tp->cm_ip;
    if (!(tp->cm_chan = rdma_create_event_channel()))
        return base_err_sys("rank %d: rdma_cm: rdma_create_event_channel (is "
                            "rdma_ucm loaded?)",
                            rank);
    if (fcntl(tp->cm_chan->fd, F_SETFL, fcntl(tp->cm_chan->fd, F_GETFL) | O_NONBLOCK))
        return base_err_sys("rank %d: rdma_cm: nonblocking event channel", rank);
    if (rdma_create_id(tp->cm_chan, &tp->cm_listen, NULL, RDMA_PS_TCP))
        return base_err_sys("rank %d: rdma_cm: rdma_create_id", rank);
    if (rdma_bind_addr(tp->cm_listen, (struct sockaddr *)&sa) ||
        rdma_listen(tp->cm_listen, tp->base.size))
        return base_err_sys("rank %d: rdma_cm: listen on %s (%s port %u)", rank,
                            ipstr(tp->cm_ip, a), tp->devname, tp->port);
    tp->cm_port = ntohs(rdma_get_src_port(tp->cm_listen));
    bound = tp->cm_listen->verbs ? ibv_get_device_name(tp->cm_listen->verbs->device) : "";
    if (strcmp(bound, tp->devname) != 0)
        return base_err(RCOMM_ERR_CONFIG,
                        "rank %d: rdma_cm: address %s belongs to device '%s', not %s",
                        rank, ipstr(tp->cm_ip, a), bound, tp->devname);
    /* PD, CQ and QPs must live on librdmacm's context of the device. */
    ibv_close_device(tp->ctx);
    tp->ctx = tp->cm_listen->verbs;
    tp->port = tp->cm_listen->port_num;
    return RCOMM_OK;
}

/* Private data for peer p: a request (p is lower: we dial it) or a reply. */
void vx_cm_priv(vx_tp_t *tp, vx_peer_t *p, vx_cm_priv_t *pd)
{
    uint32_t claims[3];
    bool request = p->rank < tp->base.rank;
    int dialer = request ? tp->base.rank : p->rank;
    int acceptor = request ? p->rank : tp->base.rank;
    const uint8_t *challenge = request ? p->remote.challenge : tp->cm_challenge;

    *pd = (vx_cm_priv_t){.magic = htonl(VX_CM_MAGIC),
                         .rank = htonl((uint32_t)tp->base.rank),
                         .size = htonl((uint32_t)tp->base.size)};
    if (request)
        auth_nonce(p->cm_nonce);
    if (request)
        memcpy(pd->nonce, p->cm_nonce, AUTH_NONCE_LEN);
    cm_claims(claims, (uint32_t)dialer, (uint32_t)tp->base.size, (uint32_t)acceptor);
    auth_tag(&tp->key, request ? CM_LABEL_REQUEST : CM_LABEL_REPLY, claims,
             sizeof(claims), p->cm_nonce, challenge, pd->tag);
}

static void conn_param(vx_tp_t *tp, vx_peer_t *p, struct rdma_conn_param *cp,
                       vx_cm_priv_t *pd)
{
    vx_cm_priv(tp, p, pd);
    *cp = (struct rdma_conn_param){
        .private_data = pd,
        .private_data_len = sizeof(*pd),
        .responder_resources = tp->rd_atomic,
        .initiator_depth = tp->rd_atomic,
        .retry_count = (uint8_t)(tp->cfg->ib_retry < 7 ? tp->cfg->ib_retry : 7),
        .rnr_retry_count = 7, /* as without rdma_cm: credits make RNR rare */
    };
}

/* Create p's QP on id (which must be on our device) and post its receives. */
static rcomm_status_t make_qp(vx_tp_t *tp, vx_peer_t *p, struct rdma_cm_id *id)
{
    struct ibv_qp_init_attr ia;
    uint8_t timeout = (uint8_t)tp->cfg->ib_timeout;

    if (id->verbs != tp->ctx)
        return base_err(RCOMM_ERR_CONFIG,
                        "rank %d: rdma_cm: the connection with rank %d goes through "
                        "device %s, not %s (check the routes to its address)",
                        tp->base.rank, p->rank,
                        id->verbs ? ibv_get_device_name(id->verbs->device) : "?",
                        tp->devname);
    /* Best effort: older kernels keep their default ack timeout. */
    (void)rdma_set_option(id, RDMA_OPTION_ID, RDMA_OPTION_ID_ACK_TIMEOUT, &timeout,
                          sizeof(timeout));
    vx_qp_init_attr(tp, &ia);
    if (rdma_create_qp(id, tp->pd, &ia))
        return base_err_sys("rank %d: rdma_cm: rdma_create_qp for rank %d", tp->base.rank,
                            p->rank);
    p->qp = id->qp;
    return vx_qp_ready(tp, p, &ia);
}

int vx_cm_request_rank(const vx_tp_t *tp, const void *priv, size_t len)
{
    const vx_cm_priv_t *pd = priv;
    uint32_t r, claims[3];

    /* The tag first: nothing else a stranger says is believed or logged. */
    if (!pd || len < sizeof(*pd) || ntohl(pd->magic) != VX_CM_MAGIC ||
        (cm_claims(claims, ntohl(pd->rank), ntohl(pd->size), (uint32_t)tp->base.rank),
         !auth_check(&tp->key, CM_LABEL_REQUEST, claims, sizeof(claims), pd->nonce,
                     tp->cm_challenge, pd->tag)))
        return -1;
    if (ntohl(pd->size) != (uint32_t)tp->base.size ||
        (r = ntohl(pd->rank)) <= (uint32_t)tp->base.rank ||
        r >= (uint32_t)tp->base.size || tp->peers[r].cm_id ||
        !tp_serves(&tp->base, (int)r))
        return -2;
    return (int)r;
}

/* A connect request: from a higher rank of this job, once. Returns false if
 * the new id is to be destroyed (after its event is acknowledged). */
static bool on_request(vx_tp_t *tp, struct rdma_cm_event *ev)
{
    const vx_cm_priv_t *pd = ev->param.conn.private_data;
    int r = vx_cm_request_rank(tp, pd, ev->param.conn.private_data_len);
    struct rdma_conn_param cp;
    vx_cm_priv_t mine;
    vx_peer_t *p;
    rcomm_status_t st;

    if (r == -1) {
        if (++tp->cm_refused <= 3)
            base_log(BASE_LOG_WARN,
                     "rank %d: rdma_cm: rejected a connection request that did not "
                     "prove the job key%s",
                     tp->base.rank,
                     tp->cm_refused == 3 ? " (further ones are counted, not logged)"
                                         : "");
        rdma_reject(ev->id, NULL, 0);
        return false;
    }
    if (r < 0) {
        base_log(BASE_LOG_WARN,
                 "rank %d: rdma_cm: rejected a connection request that is not from a "
                 "higher rank of this job not yet connected",
                 tp->base.rank);
        rdma_reject(ev->id, NULL, 0);
        return false;
    }
    p = &tp->peers[r];
    p->cm_id = ev->id;
    ev->id->context = p;
    memcpy(p->cm_nonce, pd->nonce, AUTH_NONCE_LEN);
    conn_param(tp, p, &cp, &mine);
    if ((st = make_qp(tp, p, ev->id)) != RCOMM_OK) {
        vx_peer_fail(tp, p, st, "%s", rcomm_last_error());
        rdma_reject(ev->id, NULL, 0);
    } else if (rdma_accept(ev->id, &cp)) {
        vx_peer_fail(tp, p, RCOMM_ERR_SYSTEM,
                     "rank %d: rdma_cm: rdma_accept for rank %d: %s", tp->base.rank,
                     p->rank, strerror(errno));
    }
    return true;
}

/* On our side of a connection we asked for: the acceptor's reply tag. */
bool vx_cm_reply_ok(const vx_tp_t *tp, const vx_peer_t *p, const void *priv, size_t len)
{
    const vx_cm_priv_t *pd = priv;
    uint32_t claims[3];

    if (!pd || len < sizeof(*pd) || ntohl(pd->magic) != VX_CM_MAGIC)
        return false;
    cm_claims(claims, (uint32_t)tp->base.rank, (uint32_t)tp->base.size,
              (uint32_t)p->rank);
    return auth_check(&tp->key, CM_LABEL_REPLY, claims, sizeof(claims), p->cm_nonce,
                      p->remote.challenge, pd->tag);
}

/* Handle one event; returns false if ev->id must be destroyed after the ack. */
static bool on_event(vx_tp_t *tp, struct rdma_cm_event *ev)
{
    vx_peer_t *p = ev->id->context;
    struct rdma_conn_param cp;
    vx_cm_priv_t mine;
    char a[INET_ADDRSTRLEN];
    rcomm_status_t st;

    if (ev->event == RDMA_CM_EVENT_CONNECT_REQUEST)
        return on_request(tp, ev);
    if (ev->event == RDMA_CM_EVENT_DEVICE_REMOVAL) {
        for (int r = 0; r < tp->base.size; r++)
            if (r != tp->base.rank)
                vx_peer_fail(tp, &tp->peers[r], RCOMM_ERR_SYSTEM,
                             "rank %d: rdma_cm: device %s was removed", tp->base.rank,
                             tp->devname);
        return true;
    }
    if (!p)
        return true; /* the listener's own events */
    switch (ev->event) {
    case RDMA_CM_EVENT_ADDR_RESOLVED:
        if (rdma_resolve_route(ev->id, CM_STEP_MS))
            vx_peer_fail(tp, p, RCOMM_ERR_SYSTEM,
                         "rank %d: rdma_cm: rdma_resolve_route to rank %d: %s",
                         tp->base.rank, p->rank, strerror(errno));
        break;
    case RDMA_CM_EVENT_ROUTE_RESOLVED:
        conn_param(tp, p, &cp, &mine);
        if ((st = make_qp(tp, p, ev->id)) != RCOMM_OK)
            vx_peer_fail(tp, p, st, "%s", rcomm_last_error());
        else if (rdma_connect(ev->id, &cp))
            vx_peer_fail(tp, p, RCOMM_ERR_SYSTEM,
                         "rank %d: rdma_cm: rdma_connect to rank %d: %s", tp->base.rank,
                         p->rank, strerror(errno));
        break;
    case RDMA_CM_EVENT_ESTABLISHED:
        if (p->rank < tp->base.rank && !vx_cm_reply_ok(tp, p, ev->param.conn.private_data,
                                                       ev->param.conn.private_data_len))
            vx_peer_fail(tp, p, RCOMM_ERR_AUTH,
                         "rank %d: rdma_cm: the process at %s port %u, published as rank "
                         "%d, did not prove the job key in its reply (RCOMM_JOB_KEY "
                         "differs?)",
                         tp->base.rank, ipstr(p->remote.ip, a), p->remote.port, p->rank);
        else
            p->cm_up = true;
        break;
    case RDMA_CM_EVENT_DISCONNECTED:
        /* A BYE the peer sent before leaving is already in our CQ (it was
         * acknowledged before the disconnect): let it speak first. */
        while (vx_poll(tp) > 0)
            ;
        vx_peer_fail(tp, p, RCOMM_ERR_PEER_FAILED,
                     "rank %d: rank %d closed its connection without a goodbye (rdma_cm "
                     "DISCONNECTED: did its process exit or crash?)",
                     tp->base.rank, p->rank);
        break;
    case RDMA_CM_EVENT_TIMEWAIT_EXIT:
    case RDMA_CM_EVENT_CONNECT_RESPONSE: break;
    default: /* ADDR_ERROR, ROUTE_ERROR, UNREACHABLE, REJECTED, CONNECT_ERROR */
        vx_peer_fail(tp, p, RCOMM_ERR_PEER_FAILED,
                     "rank %d: rdma_cm: connecting with rank %d (%s port %u): %s, status "
                     "%d%s",
                     tp->base.rank, p->rank, ipstr(p->remote.ip, a), p->remote.port,
                     rdma_event_str(ev->event), ev->status,
                     ev->event == RDMA_CM_EVENT_REJECTED
                         ? " (does it run with RCOMM_IB_USE_RDMA_CM=1 too? A process "
                           "with a different job key, RCOMM_JOB_KEY, is refused the "
                           "same way)"
                         : "");
    }
    return true;
}

void vx_cm_poll(vx_tp_t *tp)
{
    struct rdma_cm_event *ev;

    while (tp->cm_chan && rdma_get_cm_event(tp->cm_chan, &ev) == 0) {
        struct rdma_cm_id *id = ev->id;
        bool keep = on_event(tp, ev);
        rdma_ack_cm_event(ev);
        if (!keep)
            rdma_destroy_id(id);
    }
}

/* Start connecting to the lower ranks. */
static rcomm_status_t start(vx_tp_t *tp)
{
    struct sockaddr_in src = {.sin_family = AF_INET, .sin_addr.s_addr = tp->cm_ip};
    char a[INET_ADDRSTRLEN];

    for (int r = 0; r < tp->base.rank; r++) {
        vx_peer_t *p = &tp->peers[r];
        if (!tp_serves(&tp->base, r))
            continue;
        struct sockaddr_in dst = {.sin_family = AF_INET,
                                  .sin_port = htons(p->remote.port),
                                  .sin_addr.s_addr = p->remote.ip};
        if (rdma_create_id(tp->cm_chan, &p->cm_id, p, RDMA_PS_TCP))
            return base_err_sys("rank %d: rdma_cm: rdma_create_id", tp->base.rank);
        if (rdma_resolve_addr(p->cm_id, (struct sockaddr *)&src, (struct sockaddr *)&dst,
                              CM_STEP_MS))
            return base_err_sys("rank %d: rdma_cm: resolve rank %d's address %s",
                                tp->base.rank, r, ipstr(p->remote.ip, a));
    }
    return RCOMM_OK;
}

static bool cm_up(const vx_peer_t *p)
{
    return p->cm_up;
}

static void cm_step(vx_tp_t *tp)
{
    struct pollfd pfd = {.fd = tp->cm_chan->fd, .events = POLLIN};

    (void)poll(&pfd, 1, 100);
    vx_cm_poll(tp);
}

rcomm_status_t vx_cm_connect(vx_tp_t *tp)
{
    rcomm_status_t st = start(tp);

    return st != RCOMM_OK
               ? st
               : vx_wait_peers(tp, cm_up, cm_step, "rdma_cm has not connected");
}

void vx_cm_close_qps(vx_tp_t *tp)
{
    for (int r = 0; tp->peers && r < tp->base.size; r++) {
        vx_peer_t *p = &tp->peers[r];
        if (p->cm_id && p->cm_id->qp) {
            rdma_destroy_qp(p->cm_id);
            p->qp = NULL;
        }
    }
}

void vx_cm_close(vx_tp_t *tp)
{
    for (int r = 0; tp->peers && r < tp->base.size; r++) {
        vx_peer_t *p = &tp->peers[r];
        if (p->cm_id) {
            if (p->cm_up)
                rdma_disconnect(p->cm_id);
            rdma_destroy_id(p->cm_id);
            p->cm_id = NULL;
        }
    }
    if (tp->cm_listen)
        rdma_destroy_id(tp->cm_listen);
    tp->cm_listen = NULL;
    if (tp->cm_chan)
        rdma_destroy_event_channel(tp->cm_chan);
    tp->cm_chan = NULL;
}
