/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The machine, discovered once with hwloc: packages, NUMA nodes, cores and
 * hardware threads, and where the calling thread may run. The communicator,
 * the transports (device locality) and rcomm-info read it.
 */
#ifndef RCOMM_TOPO_H
#define RCOMM_TOPO_H

#include "rcomm.h"

typedef struct {
    int packages, numa_nodes, cores, pus; /* the whole machine */
    int my_cores, my_pus;                 /* those the calling thread may use */
    char my_list[128];                    /* its PUs as a list ("0-3,8") */
} base_topo_t;

/* Fill t. RCOMM_ERR_UNSUPPORTED when rcomm was built without hwloc, or
 * RCOMM_ERR_INTERNAL when hwloc cannot read this machine (the message says
 * why); t is zeroed then. */
rcomm_status_t base_topo_get(base_topo_t *t);

#endif
