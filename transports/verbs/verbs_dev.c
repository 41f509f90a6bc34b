/* SPDX-License-Identifier: BSD-3-Clause */
/* Verbs transport: device, port and GID selection, the buffers every
 * instance registers, queue-pair state transitions and the address blob. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/random.h>
#include <unistd.h>

#include "base/error.h"
#include "base/topo.h"
#include "transports/rcache.h"
#include "transports/verbs/verbs.h"
#ifdef HAVE_HWLOC /* the build's config.h, through verbs.h */
#include <hwloc.h>
#include <hwloc/openfabrics-verbs.h>
#endif

int vx_mtu_bytes(enum ibv_mtu m)
{
    return m >= IBV_MTU_256 && m <= IBV_MTU_4096 ? 128 << m : 0;
}

/* On RoCE, prefer a RoCE v2 GID of an IPv4 address (routable, what rdma_cm
 * would pick), then any v2, then any non-zero GID. */
static int pick_gid(struct ibv_context *ctx, uint8_t port, int table_len)
{
    int best = -1, best_score = 0;

    for (int i = 0; i < table_len; i++) {
        struct ibv_gid_entry e;
        static const uint8_t v4mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
        int score;

        if (ibv_query_gid_ex(ctx, port, (uint32_t)i, &e, 0) != 0)
            continue;
        if (e.gid.global.interface_id == 0 && e.gid.global.subnet_prefix == 0)
            continue;
        score = 1;
        if (e.gid_type == IBV_GID_TYPE_ROCE_V2) {
            score = 2;
            if (memcmp(e.gid.raw, v4mapped, 12) == 0)
                score = 3;
        }
        if (score > best_score) {
            best = i;
            best_score = score;
        }
    }
    return best;
}

/* Does dev (port, or any port if 0) have an active port? Sets *port. */
static bool active_port(struct ibv_context *ctx, uint8_t *port)
{
    struct ibv_device_attr da;
    uint8_t first = *port ? *port : 1, last = *port;

    if (ibv_query_device(ctx, &da) != 0)
        return false;
    if (!last)
        last = da.phys_port_cnt;
    for (uint8_t p = first; p <= last && p <= da.phys_port_cnt; p++) {
        struct ibv_port_attr pa;
        if (ibv_query_port(ctx, p, &pa) == 0 && pa.state == IBV_PORT_ACTIVE) {
            *port = p;
            return true;
        }
    }
    return false;
}

#ifdef HAVE_HWLOC
/* dev's locality as a CPU list; "" when it has none: no PCI device
 * (soft-RoCE: hwloc then reports the whole machine), one near every CPU
 * (a single NUMA node), or unknown. */
static void dev_near(hwloc_topology_t h, struct ibv_device *dev, char *buf, size_t len)
{
    hwloc_bitmap_t set = hwloc_bitmap_alloc();

    buf[0] = '\0';
    if (set && hwloc_ibv_get_device_cpuset(h, dev, set) == 0 &&
        !hwloc_bitmap_iszero(set) &&
        !hwloc_bitmap_isincluded(hwloc_topology_get_topology_cpuset(h), set))
        hwloc_bitmap_list_snprintf(buf, len, set);
    hwloc_bitmap_free(set);
}
#endif

/* The localities of devs[0..n-1] into near[i] (VX_NEAR bytes each), "" for
 * every device without hwloc or when hwloc cannot read this machine. */
static void devs_near(struct ibv_device **devs, int n, char (*near)[VX_NEAR])
{
    for (int i = 0; i < n; i++)
        near[i][0] = '\0';
#ifdef HAVE_HWLOC
    hwloc_topology_t h;
    if (hwloc_topology_init(&h) != 0)
        return;
    if (hwloc_topology_load(h) == 0)
        for (int i = 0; i < n; i++)
            dev_near(h, devs[i], near[i], VX_NEAR);
    hwloc_topology_destroy(h);
#endif
}

rcomm_status_t vx_choose_device(const char *want, int rank, bool quiet, vx_choice_t *c)
{
    rcomm_status_t (*err)(rcomm_status_t, const char *, ...) =
        quiet ? base_err_quiet : base_err;
    char who[24] = "";
    char name[64] = "";
    uint8_t port = 0;
    struct ibv_device **list, **devs = NULL;
    struct ibv_context **ctxs = NULL;
    uint8_t *ports = NULL;
    char(*near)[VX_NEAR] = NULL;
    const char **nears = NULL;
    int n = 0, nact = 0, pick = 0;
    rcomm_status_t st = RCOMM_OK;

    memset(c, 0, sizeof(*c));
    if (rank >= 0)
        snprintf(who, sizeof(who), "rank %d: ", rank);
    if (*want) {
        const char *colon = strchr(want, ':');
        size_t nl = colon ? (size_t)(colon - want) : strlen(want);
        char *end;
        long pn = colon ? strtol(colon + 1, &end, 10) : 0;
        if (nl == 0 || nl >= sizeof(name) || (colon && (*end || pn < 1 || pn > 255)))
            return err(RCOMM_ERR_CONFIG, "%sRCOMM_IB_HCA='%s' is not device[:port]", who,
                       want);
        memcpy(name, want, nl);
        port = (uint8_t)pn;
    }
    if (!(list = ibv_get_device_list(&n)) || n == 0) {
        if (list)
            ibv_free_device_list(list);
        return err(RCOMM_ERR_UNSUPPORTED,
                   "%sverbs: no RDMA device found (is rdma_rxe or a driver "
                   "loaded? see ibv_devices)",
                   who);
    }
    if (!(devs = calloc((size_t)n, sizeof(*devs))) ||
        !(ctxs = calloc((size_t)n, sizeof(*ctxs))) ||
        !(ports = calloc((size_t)n, sizeof(*ports))) ||
        !(near = calloc((size_t)n, sizeof(*near))) ||
        !(nears = calloc((size_t)n, sizeof(*nears)))) {
        st = err(RCOMM_ERR_NO_MEMORY, "%sverbs: no memory", who);
        goto out;
    }
    /* Every device with an active port, in ibv_get_device_list order (only
     * the first when RCOMM_IB_HCA names one). */
    for (int i = 0; i < n && !(*name && nact); i++) {
        const char *dn = ibv_get_device_name(list[i]);
        struct ibv_context *ctx;
        uint8_t p = port;
        if (*name && strcmp(dn, name) != 0)
            continue;
        if (!(ctx = ibv_open_device(list[i])))
            continue;
        if (active_port(ctx, &p)) {
            devs[nact] = list[i];
            ctxs[nact] = ctx;
            ports[nact++] = p;
        } else {
            ibv_close_device(ctx);
        }
    }
    if (!nact) {
        char have[256] = "";
        for (int i = 0; i < n; i++)
            snprintf(have + strlen(have), sizeof(have) - strlen(have), "%s%s",
                     i ? ", " : "", ibv_get_device_name(list[i]));
        st = err(RCOMM_ERR_UNSUPPORTED, "%sverbs: %s%s %s ACTIVE port (devices: %s)", who,
                 *name ? "RCOMM_IB_HCA=" : "no device", *name ? want : "",
                 *name ? "has no" : "has an", have);
        goto out;
    }
    devs_near(devs, nact, near);
    if (*name) {
        snprintf(c->why, sizeof(c->why), "RCOMM_IB_HCA=%s", want);
    } else {
#ifdef HAVE_HWLOC
        cpu_set_t mine;
        if (sched_getaffinity(0, sizeof(mine), &mine) != 0)
            CPU_ZERO(&mine);
        for (int i = 0; i < nact; i++)
            nears[i] = near[i];
        pick = base_topo_nearest(nact, nears, &mine, c->why, sizeof(c->why));
#else
        snprintf(c->why, sizeof(c->why),
                 "the first active one (built without hwloc: no device locality)");
#endif
    }
    c->ctx = ctxs[pick];
    c->port = ports[pick];
    snprintf(c->name, sizeof(c->name), "%s", ibv_get_device_name(devs[pick]));
    snprintf(c->near, sizeof(c->near), "%s", near[pick]);
    for (int i = 0; i < nact; i++)
        if (i != pick)
            ibv_close_device(ctxs[i]);
out:
    free(nears);
    free(near);
    free(ports);
    free(ctxs);
    free(devs);
    ibv_free_device_list(list);
    return st;
}

static rcomm_status_t open_device(vx_tp_t *tp)
{
    vx_choice_t c;
    rcomm_status_t st = vx_choose_device(tp->cfg->ib_hca, tp->base.rank, false, &c);

    if (st != RCOMM_OK)
        return st;
    tp->ctx = c.ctx;
    tp->port = c.port;
    snprintf(tp->devname, sizeof(tp->devname), "%s", c.name);
    snprintf(tp->near, sizeof(tp->near), "%s", c.near);
    base_log(BASE_LOG_INFO, "rank %d: verbs: device %s port %u: %s", tp->base.rank,
             c.name, c.port, c.why);
    return RCOMM_OK;
}

/* Port attributes: MTU, LID, link layer and the GID to use. */
static rcomm_status_t query_port(vx_tp_t *tp)
{
    struct ibv_port_attr pa;
    struct ibv_device_attr da;
    int idx = tp->cfg->ib_gid_index;

    if (ibv_query_port(tp->ctx, tp->port, &pa) != 0 ||
        ibv_query_device(tp->ctx, &da) != 0)
        return base_err_sys("rank %d: verbs: query %s port %u", tp->base.rank,
                            tp->devname, tp->port);
    tp->mtu = pa.active_mtu;
    tp->lid = pa.lid;
    tp->max_msg = pa.max_msg_sz ? pa.max_msg_sz : (1u << 30);
    if (tp->max_msg > (1u << 30))
        tp->max_msg = 1u << 30;
    tp->rd_atomic = (uint8_t)(da.max_qp_rd_atom < 16 ? da.max_qp_rd_atom : 16);
    if (tp->rd_atomic == 0)
        tp->rd_atomic = 1;
    if (pa.link_layer == IBV_LINK_LAYER_INFINIBAND && idx < 0) {
        tp->gid_index = -1; /* LID routing within the subnet */
        return RCOMM_OK;
    }
    if (idx < 0 && (idx = pick_gid(tp->ctx, tp->port, pa.gid_tbl_len)) < 0)
        return base_err(RCOMM_ERR_CONFIG,
                        "rank %d: verbs: %s port %u has no usable GID (is an IP address "
                        "configured on its netdev?)",
                        tp->base.rank, tp->devname, tp->port);
    if (idx >= pa.gid_tbl_len || ibv_query_gid(tp->ctx, tp->port, idx, &tp->gid) != 0)
        return base_err(RCOMM_ERR_CONFIG,
                        "rank %d: verbs: RCOMM_IB_GID_INDEX=%d: %s port %u has %d GIDs",
                        tp->base.rank, idx, tp->devname, tp->port, pa.gid_tbl_len);
    tp->gid_index = idx;
    return RCOMM_OK;
}

/* RCOMM_IB_POLL=event: a nonblocking completion channel, and one epoll set
 * of it and the connection channel for wait_fd(). */
static rcomm_status_t open_channel(vx_tp_t *tp)
{
    struct epoll_event ev = {.events = EPOLLIN};
    int fl;

    if (!(tp->chan = ibv_create_comp_channel(tp->ctx)))
        return base_err_sys("rank %d: verbs: ibv_create_comp_channel", tp->base.rank);
    if ((fl = fcntl(tp->chan->fd, F_GETFL)) < 0 ||
        fcntl(tp->chan->fd, F_SETFL, fl | O_NONBLOCK) != 0 ||
        (tp->wait_fd = epoll_create1(EPOLL_CLOEXEC)) < 0 ||
        epoll_ctl(tp->wait_fd, EPOLL_CTL_ADD, tp->chan->fd, &ev) != 0 ||
        (tp->cm_chan && epoll_ctl(tp->wait_fd, EPOLL_CTL_ADD, tp->cm_chan->fd, &ev) != 0))
        return base_err_sys("rank %d: verbs: the completion channel's epoll set",
                            tp->base.rank);
    return RCOMM_OK;
}

rcomm_status_t vx_dev_open(vx_tp_t *tp)
{
    rcomm_status_t st;
    int cqe;

    if (tp->cfg->ib_fork_safe && ibv_fork_init() != 0)
        return base_err_sys("rank %d: verbs: RCOMM_IB_FORK_SAFE=1: ibv_fork_init",
                            tp->base.rank);
    if ((st = open_device(tp)) != RCOMM_OK || (st = query_port(tp)) != RCOMM_OK ||
        (tp->cm && (st = vx_cm_open(tp)) != RCOMM_OK))
        return st;
    if (!(tp->pd = ibv_alloc_pd(tp->ctx)))
        return base_err_sys("rank %d: verbs: ibv_alloc_pd on %s", tp->base.rank,
                            tp->devname);
    if (tp->events && (st = open_channel(tp)) != RCOMM_OK)
        return st;
    cqe = (int)((tp->rx_depth + tp->sq_depth) * (uint32_t)(tp->base.size - 1) + 16);
    if (!(tp->cq = ibv_create_cq(tp->ctx, cqe, NULL, tp->chan, 0)))
        return base_err_sys("rank %d: verbs: ibv_create_cq(%d entries) on %s",
                            tp->base.rank, cqe, tp->devname);
    if (getrandom(&tp->psn, sizeof(tp->psn), 0) != sizeof(tp->psn))
        tp->psn = 0x1234;
    tp->psn &= 0xffffff;
    return RCOMM_OK;
}

static struct ibv_mr *reg(vx_tp_t *tp, void *addr, size_t len, int access)
{
    return ibv_reg_mr(tp->pd, addr, len, access);
}

rcomm_status_t vx_buffers_init(vx_tp_t *tp)
{
    size_t npeer = (size_t)tp->base.size;
    size_t rx = npeer * tp->rx_depth * tp->slot_len;

    tp->ntx = 64 + VX_SIGNAL_EVERY * (uint32_t)npeer;
    if (!(tp->rx_buf = aligned_alloc(4096, (rx + 4095) & ~(size_t)4095)) ||
        !(tp->tx_buf = aligned_alloc(4096, ((size_t)tp->ntx * tp->slot_len + 4095) &
                                               ~(size_t)4095)) ||
        !(tp->tx_free = malloc(tp->ntx * sizeof(*tp->tx_free))) ||
        !(tp->credit = aligned_alloc(4096, (npeer * 8 + 4095) & ~(size_t)4095)))
        return base_err(RCOMM_ERR_NO_MEMORY, "rank %d: verbs: no memory for buffers",
                        tp->base.rank);
    for (uint32_t i = 0; i < tp->ntx; i++)
        tp->tx_free[i] = (int32_t)(tp->ntx - 1 - i);
    tp->ntx_free = tp->ntx;
    for (size_t r = 0; r < npeer; r++)
        tp->credit[r] = tp->rx_depth; /* the receives each peer posts before connecting */
    if (!(tp->rx_mr = reg(tp, tp->rx_buf, rx, IBV_ACCESS_LOCAL_WRITE)) ||
        !(tp->tx_mr = reg(tp, tp->tx_buf, (size_t)tp->ntx * tp->slot_len,
                          IBV_ACCESS_LOCAL_WRITE)) ||
        !(tp->credit_mr = reg(tp, (void *)tp->credit, npeer * 8,
                              IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE))) {
        char hint[160];
        tp_memlock_hint(hint, sizeof(hint));
        return base_err(
            errno == ENOMEM || errno == EAGAIN ? RCOMM_ERR_NO_MEMORY : RCOMM_ERR_SYSTEM,
            "rank %d: verbs: cannot register %zu bytes of message slots: "
            "%s (%s)",
            tp->base.rank, rx + (size_t)tp->ntx * tp->slot_len, strerror(errno), hint);
    }
    return RCOMM_OK;
}

void vx_qp_init_attr(vx_tp_t *tp, struct ibv_qp_init_attr *ia)
{
    *ia = (struct ibv_qp_init_attr){
        .send_cq = tp->cq,
        .recv_cq = tp->cq,
        .qp_type = IBV_QPT_RC,
        .cap = {.max_send_wr = tp->sq_depth,
                .max_recv_wr = tp->rx_depth,
                .max_send_sge = 2,
                .max_recv_sge = 1,
                .max_inline_data = 256},
    };
}

/* p->qp was just created (attributes ia, as granted) and is in INIT: post
 * its receives, which the peer counts as its initial credits. */
rcomm_status_t vx_qp_ready(vx_tp_t *tp, vx_peer_t *p, const struct ibv_qp_init_attr *ia)
{
    if (!tp->max_inline || ia->cap.max_inline_data < tp->max_inline)
        tp->max_inline = ia->cap.max_inline_data;
    for (uint32_t i = 0; i < tp->rx_depth; i++) {
        rcomm_status_t st = vx_post_recv(tp, p, i);
        if (st != RCOMM_OK)
            return st;
    }
    p->rx_told = p->rx_posted;
    return RCOMM_OK;
}

rcomm_status_t vx_qp_create(vx_tp_t *tp, vx_peer_t *p)
{
    struct ibv_qp_init_attr ia;
    struct ibv_qp_attr a = {.qp_state = IBV_QPS_INIT,
                            .pkey_index = 0,
                            .port_num = tp->port,
                            .qp_access_flags = IBV_ACCESS_REMOTE_WRITE |
                                               IBV_ACCESS_REMOTE_READ |
                                               IBV_ACCESS_REMOTE_ATOMIC};

    vx_qp_init_attr(tp, &ia);
    if (!(p->qp = ibv_create_qp(tp->pd, &ia)))
        return base_err_sys(
            "rank %d: verbs: ibv_create_qp for peer %d (send %u, recv %u)", tp->base.rank,
            p->rank, tp->sq_depth, tp->rx_depth);
    if (ibv_modify_qp(p->qp, &a,
                      IBV_QP_STATE | IBV_QP_PKEY_INDEX | IBV_QP_PORT |
                          IBV_QP_ACCESS_FLAGS))
        return base_err_sys("rank %d: verbs: QP 0x%x for peer %d to INIT", tp->base.rank,
                            p->qp->qp_num, p->rank);
    return vx_qp_ready(tp, p, &ia);
}

/* INIT -> RTR -> RTS with the peer's published numbers. */
rcomm_status_t vx_qp_connect(vx_tp_t *tp, vx_peer_t *p)
{
    const vx_remote_t *r = &p->remote;
    struct ibv_qp_attr a = {
        .qp_state = IBV_QPS_RTR,
        .path_mtu = tp->mtu,
        .dest_qp_num = r->qpn,
        .rq_psn = r->psn,
        .max_dest_rd_atomic = tp->rd_atomic,
        .min_rnr_timer = 12, /* 0.64 ms */
        .ah_attr = {.dlid = r->lid, .sl = 0, .port_num = tp->port},
    };
    int mask = IBV_QP_STATE | IBV_QP_AV | IBV_QP_PATH_MTU | IBV_QP_DEST_QPN |
               IBV_QP_RQ_PSN | IBV_QP_MAX_DEST_RD_ATOMIC | IBV_QP_MIN_RNR_TIMER;

    if (tp->gid_index >= 0) {
        a.ah_attr.is_global = 1;
        memcpy(a.ah_attr.grh.dgid.raw, r->gid, 16);
        a.ah_attr.grh.sgid_index = (uint8_t)tp->gid_index;
        a.ah_attr.grh.hop_limit = 64;
    }
    if (ibv_modify_qp(p->qp, &a, mask))
        return base_err_sys("rank %d: verbs: QP 0x%x to RTR (peer %d, its QP 0x%x)",
                            tp->base.rank, p->qp->qp_num, p->rank, r->qpn);
    memset(&a, 0, sizeof(a));
    a.qp_state = IBV_QPS_RTS;
    a.sq_psn = tp->psn;
    a.timeout = (uint8_t)tp->cfg->ib_timeout;
    a.retry_cnt = (uint8_t)tp->cfg->ib_retry;
    a.rnr_retry = 7; /* credits make RNR rare; never fail on it */
    a.max_rd_atomic = tp->rd_atomic;
    if (ibv_modify_qp(p->qp, &a,
                      IBV_QP_STATE | IBV_QP_SQ_PSN | IBV_QP_TIMEOUT | IBV_QP_RETRY_CNT |
                          IBV_QP_RNR_RETRY | IBV_QP_MAX_QP_RD_ATOMIC))
        return base_err_sys(
            "rank %d: verbs: QP 0x%x to RTS (peer %d, timeout %u, retry %u)",
            tp->base.rank, p->qp->qp_num, p->rank, a.timeout, a.retry_cnt);
    return RCOMM_OK;
}

/* Blob: magic, size, lid, psn, ctl rkey, ctl addr, rank, gid, challenge,
 * then a QPN per rank. With rdma_cm the magic differs (so that ranks
 * configured differently refuse each other), the lid field holds the
 * listening port, the gid the listening IPv4 address (v4-mapped), the
 * challenge is what a connection request to us must prove (verbs_cm.c) and
 * the QPNs are unused. */
#define VX_ADDR_MAGIC 0x52435658u    /* "RCVX" */
#define VX_ADDR_MAGIC_CM 0x52435643u /* "RCVC" */
#define VX_ADDR_HEAD 64

size_t vx_addr_len(int size)
{
    return VX_ADDR_HEAD + 4 * (size_t)size;
}

static void put32(unsigned char *b, uint32_t v)
{
    v = htonl(v);
    memcpy(b, &v, 4);
}
static uint32_t get32(const unsigned char *b)
{
    uint32_t v;
    memcpy(&v, b, 4);
    return ntohl(v);
}

void vx_addr_pack(vx_tp_t *tp, unsigned char *b)
{
    uint64_t ctl = (uintptr_t)tp->credit;

    put32(b, tp->cm ? VX_ADDR_MAGIC_CM : VX_ADDR_MAGIC);
    put32(b + 4, (uint32_t)tp->base.size);
    put32(b + 8, tp->cm ? tp->cm_port : tp->lid);
    put32(b + 12, tp->psn);
    put32(b + 16, tp->credit_mr->rkey);
    put32(b + 20, (uint32_t)(ctl >> 32));
    put32(b + 24, (uint32_t)ctl);
    put32(b + 28, (uint32_t)tp->base.rank);
    if (tp->cm) {
        memset(b + 32, 0, 16);
        b[42] = b[43] = 0xff;
        memcpy(b + 44, &tp->cm_ip, 4);
    } else {
        memcpy(b + 32, tp->gid.raw, 16);
    }
    memcpy(b + 48, tp->cm_challenge, AUTH_NONCE_LEN);
    for (int r = 0; r < tp->base.size; r++)
        put32(b + VX_ADDR_HEAD + 4 * r, tp->peers[r].qp ? tp->peers[r].qp->qp_num : 0);
}

rcomm_status_t vx_addr_unpack(vx_tp_t *tp, int r, const unsigned char *b, size_t len)
{
    vx_remote_t *rm = &tp->peers[r].remote;
    uint32_t magic = tp->cm ? VX_ADDR_MAGIC_CM : VX_ADDR_MAGIC;

    if (len == vx_addr_len(tp->base.size) &&
        get32(b) == (tp->cm ? VX_ADDR_MAGIC : VX_ADDR_MAGIC_CM))
        return base_err(RCOMM_ERR_CONFIG,
                        "rank %d: verbs: rank %d has RCOMM_IB_USE_RDMA_CM=%d, this rank "
                        "%d; set it alike on every rank",
                        tp->base.rank, r, !tp->cm, tp->cm);
    if (len != vx_addr_len(tp->base.size) || get32(b) != magic ||
        get32(b + 4) != (uint32_t)tp->base.size || get32(b + 28) != (uint32_t)r)
        return base_err(RCOMM_ERR_PROTOCOL,
                        "rank %d: verbs: rank %d published a bad address (%zu bytes; "
                        "different transport or job size?)",
                        tp->base.rank, r, len);
    rm->lid = (uint16_t)get32(b + 8);
    rm->port = (uint16_t)get32(b + 8);
    rm->psn = get32(b + 12);
    rm->ctl_rkey = get32(b + 16);
    rm->ctl_addr = (uint64_t)get32(b + 20) << 32 | get32(b + 24);
    memcpy(rm->gid, b + 32, 16);
    memcpy(&rm->ip, b + 44, 4);
    memcpy(rm->challenge, b + 48, AUTH_NONCE_LEN);
    rm->qpn = get32(b + VX_ADDR_HEAD + 4 * tp->base.rank);
    return RCOMM_OK;
}

void vx_dev_close(vx_tp_t *tp)
{
    vx_cm_close_qps(tp);
    for (int r = 0; tp->peers && r < tp->base.size; r++)
        if (tp->peers[r].qp)
            ibv_destroy_qp(tp->peers[r].qp);
    if (tp->credit_mr)
        ibv_dereg_mr(tp->credit_mr);
    if (tp->tx_mr)
        ibv_dereg_mr(tp->tx_mr);
    if (tp->rx_mr)
        ibv_dereg_mr(tp->rx_mr);
    if (tp->cq) {
        if (tp->cq_events)
            ibv_ack_cq_events(tp->cq, tp->cq_events);
        ibv_destroy_cq(tp->cq);
    }
    if (tp->wait_fd >= 0)
        close(tp->wait_fd);
    if (tp->chan)
        ibv_destroy_comp_channel(tp->chan);
    if (tp->pd)
        ibv_dealloc_pd(tp->pd);
    /* With rdma_cm the context is librdmacm's: it goes with the last id,
     * after the PD and CQ. */
    if (tp->ctx && !(tp->cm_listen && tp->ctx == tp->cm_listen->verbs))
        ibv_close_device(tp->ctx);
    vx_cm_close(tp);
    free((void *)tp->credit);
    free(tp->tx_free);
    free(tp->tx_buf);
    free(tp->rx_buf);
}
