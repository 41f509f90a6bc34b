/* SPDX-License-Identifier: BSD-3-Clause */
/* The machine's topology through hwloc (topo.h). */
#include "base/topo.h"

#include <string.h>

#include "base/error.h"
#include <config.h> /* the build's, not base/config.h */

#ifdef HAVE_HWLOC
#include <hwloc.h>

static int count(hwloc_topology_t h, hwloc_obj_type_t type, hwloc_const_bitmap_t within)
{
    int n = 0;

    for (hwloc_obj_t o = hwloc_get_next_obj_by_type(h, type, NULL); o;
         o = hwloc_get_next_obj_by_type(h, type, o))
        n += !within || hwloc_bitmap_intersects(o->cpuset, within);
    return n;
}

rcomm_status_t base_topo_get(base_topo_t *t)
{
    hwloc_topology_t h;
    hwloc_bitmap_t mine;
    rcomm_status_t st = RCOMM_OK;

    memset(t, 0, sizeof(*t));
    if (hwloc_topology_init(&h) != 0)
        return base_err(RCOMM_ERR_INTERNAL, "hwloc: cannot initialise a topology");
    if (hwloc_topology_load(h) != 0) {
        hwloc_topology_destroy(h);
        return base_err_sys("hwloc: cannot read this machine's topology");
    }
    if (!(mine = hwloc_bitmap_alloc()) ||
        hwloc_get_cpubind(h, mine, HWLOC_CPUBIND_THREAD) != 0) {
        st = base_err_sys("hwloc: cannot read this thread's CPU binding");
        goto out;
    }
    t->packages = count(h, HWLOC_OBJ_PACKAGE, NULL);
    t->numa_nodes = count(h, HWLOC_OBJ_NUMANODE, NULL);
    t->cores = count(h, HWLOC_OBJ_CORE, NULL);
    t->pus = count(h, HWLOC_OBJ_PU, NULL);
    t->my_cores = count(h, HWLOC_OBJ_CORE, mine);
    t->my_pus = count(h, HWLOC_OBJ_PU, mine);
    hwloc_bitmap_list_snprintf(t->my_list, sizeof(t->my_list), mine);
out:
    hwloc_bitmap_free(mine);
    hwloc_topology_destroy(h);
    return st;
}
#else
rcomm_status_t base_topo_get(base_topo_t *t)
{
    memset(t, 0, sizeof(*t));
    return base_err(RCOMM_ERR_UNSUPPORTED, "rcomm was built without hwloc");
}
#endif
