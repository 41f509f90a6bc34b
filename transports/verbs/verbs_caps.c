/* SPDX-License-Identifier: BSD-3-Clause */
/* Verbs transport: what it does natively (one-sided operations and atomics
 * on the HCA) and the link rate of its port, which the perf tools grade
 * against. */
#include <stdio.h>
#include <string.h>

#include "transports/verbs/verbs.h"

/* PortInfo's encodings in ibv_port_attr (rdma-core 44 has no active_speed_ex,
 * so an XDR link reads as NDR). Lane rates in Gb/s: nominal as ibstat names
 * them, and what carries data: 8b/10b leaves 80% of SDR to QDR, FDR's 14.0625
 * Gbaud carry 13.64 Gb/s; from FDR10 on the nominal rate is the data rate. */
static const struct {
    unsigned code;
    const char *name;
    double nominal, data;
} ib_speeds[] = {{1, "SDR", 2.5, 2},   {2, "DDR", 5, 4},       {4, "QDR", 10, 8},
                 {8, "FDR10", 10, 10}, {16, "FDR", 14, 13.64}, {32, "EDR", 25, 25},
                 {64, "HDR", 50, 50},  {128, "NDR", 100, 100}};
static const struct {
    unsigned code, lanes;
} ib_widths[] = {{1, 1}, {16, 2}, {2, 4}, {4, 8}, {8, 12}};

static int ib_speed(unsigned code)
{
    for (size_t i = 0; i < sizeof(ib_speeds) / sizeof(ib_speeds[0]); i++)
        if (ib_speeds[i].code == code)
            return (int)i;
    return -1;
}

static unsigned ib_lanes(unsigned code)
{
    for (size_t i = 0; i < sizeof(ib_widths) / sizeof(ib_widths[0]); i++)
        if (ib_widths[i].code == code)
            return ib_widths[i].lanes;
    return 0;
}

/* On RoCE (soft-RoCE too) the kernel maps the Ethernet link's speed onto
 * these codes, or a default when it has none: whatever the port says is
 * reported, as its nominal rate. */
void vx_caps(tp_t *base, tp_caps_t *caps)
{
    vx_tp_t *tp = vx_tp(base);
    struct ibv_port_attr pa;
    int s, rc = ibv_query_port(tp->ctx, tp->port, &pa);
    unsigned lanes = rc ? 0 : ib_lanes(pa.active_width);
    const size_t n = sizeof(caps->link);

    *caps = (tp_caps_t){.native_rma = true, .native_atomics = true, .name = "verbs"};
    snprintf(caps->near_cpus, sizeof(caps->near_cpus), "%s", tp->near);
    if (rc) {
        snprintf(caps->link, n, "unknown: ibv_query_port(%s, %u) failed: %s", tp->devname,
                 tp->port, strerror(rc));
    } else if ((s = ib_speed(pa.active_speed)) < 0 || !lanes) {
        snprintf(caps->link, n,
                 "unknown: %s port %u reports active_speed %u, active_width %u",
                 tp->devname, tp->port, pa.active_speed, pa.active_width);
    } else {
        const double nominal = lanes * ib_speeds[s].nominal,
                     data = lanes * ib_speeds[s].data;
        caps->link_gbs = data / 8;
        snprintf(caps->link, n,
                 "%s port %u reports %uX %s: %g Gb/s nominal, %g Gb/s of data = %.3f "
                 "GB/s (the link's nominal rate, not a measurement)",
                 tp->devname, tp->port, lanes, ib_speeds[s].name, nominal, data,
                 caps->link_gbs);
    }
}
