/* SPDX-License-Identifier: BSD-3-Clause */
/* The machine's topology through hwloc, and placement decisions (topo.h). */
#include "base/topo.h"

#include <ctype.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/config.h"
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

/* The machine's topology, loaded, and in *cpus a new bitmap of where the
 * calling thread or process (flags: HWLOC_CPUBIND_*) may run. On success the
 * caller frees *cpus and destroys *h; on failure nothing is left. */
static rcomm_status_t load(hwloc_topology_t *h, hwloc_bitmap_t *cpus, int flags)
{
    if (hwloc_topology_init(h) != 0)
        return base_err(RCOMM_ERR_INTERNAL, "hwloc: cannot initialise a topology");
    if (hwloc_topology_load(*h) != 0) {
        hwloc_topology_destroy(*h);
        return base_err_sys("hwloc: cannot read this machine's topology");
    }
    if (!(*cpus = hwloc_bitmap_alloc()) || hwloc_get_cpubind(*h, *cpus, flags) != 0) {
        rcomm_status_t st =
            base_err_sys("hwloc: cannot read this %s's CPU binding",
                         flags == HWLOC_CPUBIND_THREAD ? "thread" : "process");
        hwloc_bitmap_free(*cpus);
        hwloc_topology_destroy(*h);
        return st;
    }
    return RCOMM_OK;
}

rcomm_status_t base_topo_get(base_topo_t *t)
{
    hwloc_topology_t h;
    hwloc_bitmap_t mine;
    rcomm_status_t st = RCOMM_OK;

    memset(t, 0, sizeof(*t));
    if ((st = load(&h, &mine, HWLOC_CPUBIND_THREAD)) != RCOMM_OK)
        return st;
    t->packages = count(h, HWLOC_OBJ_PACKAGE, NULL);
    t->numa_nodes = count(h, HWLOC_OBJ_NUMANODE, NULL);
    t->cores = count(h, HWLOC_OBJ_CORE, NULL);
    t->pus = count(h, HWLOC_OBJ_PU, NULL);
    t->my_cores = count(h, HWLOC_OBJ_CORE, mine);
    t->my_pus = count(h, HWLOC_OBJ_PU, mine);
    hwloc_bitmap_list_snprintf(t->my_list, sizeof(t->my_list), mine);
    hwloc_bitmap_free(mine);
    hwloc_topology_destroy(h);
    return st;
}

/* coreid[pu] = the logical index of pu's core, for every PU of the machine
 * (-1 elsewhere). A PU that hwloc puts in no core is a core of its own. */
static int core_ids(int *coreid)
{
    hwloc_topology_t h;
    int next = 0;

    for (int i = 0; i < CPU_SETSIZE; i++)
        coreid[i] = -1;
    if (hwloc_topology_init(&h) != 0)
        return -1;
    if (hwloc_topology_load(h) != 0) {
        hwloc_topology_destroy(h);
        return -1;
    }
    for (hwloc_obj_t c = hwloc_get_next_obj_by_type(h, HWLOC_OBJ_CORE, NULL); c;
         c = hwloc_get_next_obj_by_type(h, HWLOC_OBJ_CORE, c)) {
        unsigned pu;
        hwloc_bitmap_foreach_begin(pu, c->cpuset)
        {
            if (pu < CPU_SETSIZE)
                coreid[pu] = (int)c->logical_index;
        }
        hwloc_bitmap_foreach_end();
        if ((int)c->logical_index >= next)
            next = (int)c->logical_index + 1;
    }
    for (hwloc_obj_t u = hwloc_get_next_obj_by_type(h, HWLOC_OBJ_PU, NULL); u;
         u = hwloc_get_next_obj_by_type(h, HWLOC_OBJ_PU, u))
        if (u->os_index < CPU_SETSIZE && coreid[u->os_index] < 0)
            coreid[u->os_index] = next++;
    hwloc_topology_destroy(h);
    return 0;
}

/* The logical indexes of the objects of type that touch within, as a list. */
static void touching(hwloc_topology_t h, hwloc_obj_type_t type,
                     hwloc_const_bitmap_t within, hwloc_bitmap_t scratch, char *buf,
                     size_t len)
{
    hwloc_bitmap_zero(scratch);
    for (hwloc_obj_t o = hwloc_get_next_obj_by_type(h, type, NULL); o;
         o = hwloc_get_next_obj_by_type(h, type, o))
        if (hwloc_bitmap_intersects(o->cpuset, within))
            hwloc_bitmap_set(scratch, o->logical_index);
    hwloc_bitmap_list_snprintf(buf, len, scratch);
}

rcomm_status_t base_topo_where(char *packages, char *numa, char *cpus, size_t len)
{
    hwloc_topology_t h;
    hwloc_bitmap_t mine = NULL, ids = NULL;
    rcomm_status_t st = RCOMM_OK;

    if ((st = load(&h, &mine, HWLOC_CPUBIND_PROCESS)) != RCOMM_OK)
        return st;
    if (!(ids = hwloc_bitmap_alloc())) {
        st = base_err(RCOMM_ERR_NO_MEMORY, "hwloc: out of memory");
        goto out;
    }
    touching(h, HWLOC_OBJ_PACKAGE, mine, ids, packages, len);
    touching(h, HWLOC_OBJ_NUMANODE, mine, ids, numa, len);
    hwloc_bitmap_list_snprintf(cpus, len, mine);
out:
    hwloc_bitmap_free(mine);
    hwloc_bitmap_free(ids);
    hwloc_topology_destroy(h);
    return st;
}

rcomm_status_t base_topo_bind(int mode, int local_index, char *why, size_t whylen)
{
    const hwloc_obj_type_t type =
        mode == BASE_BIND_CORE ? HWLOC_OBJ_CORE : HWLOC_OBJ_NUMANODE;
    const char *what = mode == BASE_BIND_CORE ? "core" : "NUMA node";
    hwloc_topology_t h;
    hwloc_bitmap_t allowed = NULL, set = NULL;
    hwloc_obj_t pick = NULL;
    rcomm_status_t st = RCOMM_OK;
    char cpus[128];
    int n;

    if (mode == BASE_BIND_NONE) {
        snprintf(why, whylen, "not bound (RCOMM_BIND=none)");
        return RCOMM_OK;
    }
    if ((st = load(&h, &allowed, HWLOC_CPUBIND_PROCESS)) != RCOMM_OK)
        return st;
    if (!(set = hwloc_bitmap_alloc())) {
        st = base_err(RCOMM_ERR_NO_MEMORY, "RCOMM_BIND: out of memory");
        goto out;
    }
    /* The local_index-th of those we may run on, wrapping around. */
    if ((n = count(h, type, allowed)) > 0)
        local_index %= n;
    for (hwloc_obj_t o = hwloc_get_next_obj_by_type(h, type, NULL); o && n;
         o = hwloc_get_next_obj_by_type(h, type, o))
        if (hwloc_bitmap_intersects(o->cpuset, allowed) && local_index-- == 0) {
            pick = o;
            break;
        }
    if (!pick) {
        st = base_err(RCOMM_ERR_CONFIG,
                      "RCOMM_BIND: hwloc finds no %s this process may use", what);
        goto out;
    }
    hwloc_bitmap_and(set, pick->cpuset, allowed);
    hwloc_bitmap_list_snprintf(cpus, sizeof(cpus), set);
    if (hwloc_set_cpubind(h, set, HWLOC_CPUBIND_PROCESS) != 0) {
        st = base_err_sys("RCOMM_BIND: cannot bind to %s %u (CPUs %s)", what,
                          pick->logical_index, cpus);
        goto out;
    }
    snprintf(why, whylen, "%s %u of %d allowed: CPUs %s", what, pick->logical_index, n,
             cpus);
out:
    hwloc_bitmap_free(allowed);
    hwloc_bitmap_free(set);
    hwloc_topology_destroy(h);
    return st;
}
#else
rcomm_status_t base_topo_get(base_topo_t *t)
{
    memset(t, 0, sizeof(*t));
    return base_err(RCOMM_ERR_UNSUPPORTED, "rcomm was built without hwloc");
}

static int core_ids(int *coreid)
{
    (void)coreid;
    return -1;
}

rcomm_status_t base_topo_where(char *packages, char *numa, char *cpus, size_t len)
{
    (void)len;
    *packages = *numa = *cpus = 0;
    return base_err(RCOMM_ERR_UNSUPPORTED, "rcomm was built without hwloc");
}

rcomm_status_t base_topo_bind(int mode, int local_index, char *why, size_t whylen)
{
    (void)local_index;
    if (mode == BASE_BIND_NONE) {
        snprintf(why, whylen, "not bound (RCOMM_BIND=none)");
        return RCOMM_OK;
    }
    return base_err(RCOMM_ERR_UNSUPPORTED, "RCOMM_BIND=%s: rcomm was built without hwloc",
                    mode == BASE_BIND_CORE ? "core" : "numa");
}
#endif

/* A new array of CPU_SETSIZE core ids, one per CPU (free it), or NULL
 * without memory: hwloc's cores; without hwloc every PU a core, and a PU
 * hwloc does not know a core of its own. */
static int *core_map(void)
{
    int *coreid = malloc(CPU_SETSIZE * sizeof(*coreid));

    if (!coreid)
        return NULL;
    if (core_ids(coreid) != 0)
        for (int c = 0; c < CPU_SETSIZE; c++)
            coreid[c] = c;
    for (int c = 0; c < CPU_SETSIZE; c++)
        if (coreid[c] < 0 || coreid[c] >= CPU_SETSIZE)
            coreid[c] = c;
    return coreid;
}

int base_topo_share(const cpu_set_t *allowed, const int *coreid, int index, int n,
                    cpu_set_t *out)
{
    cpu_set_t cores; /* the allowed CPUs' core ids */
    int ncores, base, extra, first, size, k = 0;

    CPU_ZERO(out);
    CPU_ZERO(&cores);
    for (int c = 0; c < CPU_SETSIZE; c++)
        if (CPU_ISSET(c, allowed) && coreid[c] >= 0 && coreid[c] < CPU_SETSIZE)
            CPU_SET(coreid[c], &cores);
    ncores = CPU_COUNT(&cores);
    if (n < 1 || index < 0 || index >= n || ncores < 1)
        return -1;
    if (n > ncores) { /* a core each, ranks in runs: 4 on 2 cores 0 0 1 1 */
        first = (int)((long)index * ncores / n);
        size = 1;
    } else {
        base = ncores / n;
        extra = ncores % n;
        first = index * base + (index < extra ? index : extra);
        size = base + (index < extra);
    }
    for (int id = 0; id < CPU_SETSIZE; id++) {
        if (!CPU_ISSET(id, &cores))
            continue;
        if (k >= first && k < first + size)
            for (int c = 0; c < CPU_SETSIZE; c++)
                if (CPU_ISSET(c, allowed) && coreid[c] == id)
                    CPU_SET(c, out);
        k++;
    }
    return 0;
}

int base_topo_shares_self(int n, cpu_set_t *out)
{
    cpu_set_t allowed;
    int *coreid, rc = 0;

    if (sched_getaffinity(0, sizeof(allowed), &allowed) != 0 || !(coreid = core_map()))
        return -1;
    for (int i = 0; i < n && rc == 0; i++)
        rc = base_topo_share(&allowed, coreid, i, n, &out[i]);
    free(coreid);
    return rc;
}

int base_cpulist_parse(const char *list, cpu_set_t *set)
{
    const char *s = list ? list : "";

    CPU_ZERO(set);
    while (isspace((unsigned char)*s))
        s++;
    while (*s) {
        char *end;
        long a, b;

        errno = 0;
        a = b = strtol(s, &end, 10);
        if (errno || end == s || a < 0)
            goto bad;
        s = end;
        if (*s == '-') {
            b = strtol(++s, &end, 10);
            if (errno || end == s || b < a)
                goto bad;
            s = end;
        }
        if (b >= CPU_SETSIZE)
            goto bad;
        for (long c = a; c <= b; c++)
            CPU_SET((int)c, set);
        while (isspace((unsigned char)*s))
            s++;
        if (*s == ',')
            s++;
        else if (*s)
            goto bad;
    }
    return 0;
bad:
    CPU_ZERO(set);
    return -1;
}

void base_cpulist_format(const cpu_set_t *set, char *buf, size_t len)
{
    size_t at = 0;

    if (len)
        buf[0] = '\0';
    for (int c = 0; c < CPU_SETSIZE && at < len; c++) {
        int e = c;
        if (!CPU_ISSET(c, set))
            continue;
        while (e + 1 < CPU_SETSIZE && CPU_ISSET(e + 1, set))
            e++;
        at += (size_t)(e == c ? snprintf(buf + at, len - at, "%s%d", at ? "," : "", c)
                              : snprintf(buf + at, len - at, "%s%d-%d", at ? "," : "", c,
                                         e));
        c = e;
    }
}

int base_topo_nearest(int n, const char *const near[], const cpu_set_t *mine, char *why,
                      size_t whylen)
{
    int best = -1, best_count = 0, with = 0;
    char list[128], dev[128];

    for (int i = 0; i < n; i++) {
        cpu_set_t d, both;
        if (!near || !near[i] || !*near[i] || base_cpulist_parse(near[i], &d) != 0 ||
            CPU_COUNT(&d) == 0)
            continue;
        with++;
        CPU_AND(&both, &d, mine);
        if (CPU_COUNT(&both) && (best < 0 || CPU_COUNT(&d) < best_count)) {
            best = i;
            best_count = CPU_COUNT(&d);
        }
    }
    base_cpulist_format(mine, list, sizeof(list));
    if (best >= 0) {
        snprintf(dev, sizeof(dev), "%s", near[best]);
        snprintf(why, whylen, "nearest to CPUs %s (its locality: CPUs %s)", list, dev);
        return best;
    }
    if (with)
        snprintf(why, whylen,
                 "no device's locality includes this process's CPUs %s: the first "
                 "active one",
                 list);
    else
        snprintf(why, whylen,
                 "no device has PCI locality (soft-RoCE, or one NUMA node): the first "
                 "active one");
    return 0;
}

static const char *ordinal_from_last(int k, char *buf, size_t len)
{
    static const char *const sfx[] = {"th", "st", "nd", "rd"};

    if (k == 0)
        return "the last";
    k++;
    snprintf(buf, len, "the %d%s from the last", k,
             k % 100 / 10 == 1 || k % 10 > 3 ? "th" : sfx[k % 10]);
    return buf;
}

rcomm_status_t base_topo_progress_cpu(int spec, const char *near_cpus, int local_index,
                                      int local_size, cpu_set_t *out, char *why,
                                      size_t whylen)
{
    cpu_set_t allowed, near, cand, present;
    char list[128], nlist[128], ord[32];
    int *coreid, ncores, target, id = -1, me = sched_getcpu();
    bool near_used = false;

    CPU_ZERO(out);
    if (spec == -2) {
        snprintf(why, whylen, "not bound (RCOMM_PROGRESS_CPU=none)");
        return RCOMM_OK;
    }
    if (sched_getaffinity(0, sizeof(allowed), &allowed) != 0)
        return base_err_sys("RCOMM_PROGRESS_CPU: cannot read this thread's CPU binding");
    base_cpulist_format(&allowed, list, sizeof(list));
    if (spec >= 0) {
        if (spec >= CPU_SETSIZE || !CPU_ISSET(spec, &allowed))
            return base_err(RCOMM_ERR_CONFIG,
                            "RCOMM_PROGRESS_CPU=%d: this process may not run on CPU %d "
                            "(it may use CPUs %s)",
                            spec, spec, list);
        CPU_SET(spec, out);
        snprintf(why, whylen, "CPU %d (RCOMM_PROGRESS_CPU=%d)", spec, spec);
        return RCOMM_OK;
    }
    cand = allowed;
    nlist[0] = '\0';
    if (near_cpus && *near_cpus && base_cpulist_parse(near_cpus, &near) == 0) {
        base_cpulist_format(&near, nlist, sizeof(nlist));
        CPU_AND(&near, &near, &allowed);
        if (CPU_COUNT(&near) >= 2) {
            cand = near;
            near_used = true;
        }
    }
    if (CPU_COUNT(&cand) < 2) {
        snprintf(why, whylen, "not bound: one CPU (%s), the thread shares it", list);
        return RCOMM_OK;
    }
    if (!(coreid = core_map()))
        return base_err(RCOMM_ERR_NO_MEMORY, "RCOMM_PROGRESS_CPU: no memory");
    CPU_ZERO(&present);
    for (int c = 0; c < CPU_SETSIZE; c++)
        if (CPU_ISSET(c, &cand))
            CPU_SET(coreid[c], &present);
    ncores = CPU_COUNT(&present);
    target = (local_index < 0 ? 0 : local_index) % (ncores ? ncores : 1);
    if (ncores >= 2) {
        const char *scope = near_used ? "near the device"
                            : *nlist  ? "this process may use (< 2 near the device)"
                                      : "this process may use";
        char pus[128];
        int k = ncores - 1 - target;
        for (id = 0; id < CPU_SETSIZE; id++)
            if (CPU_ISSET(id, &present) && k-- == 0)
                break;
        for (int c = 0; c < CPU_SETSIZE; c++)
            if (CPU_ISSET(c, &cand) && coreid[c] == id)
                CPU_SET(c, out);
        base_cpulist_format(out, pus, sizeof(pus));
        snprintf(
            why, whylen,
            "core %d (PUs %s), %s of the %d cores %s (local rank %d of %d), %s (CPU %d)",
            id, pus, ordinal_from_last(target, ord, sizeof(ord)), ncores, scope,
            local_index, local_size,
            me >= 0 && me < CPU_SETSIZE && CPU_ISSET(me, out)
                ? "where the caller runs too"
                : "away from the caller's",
            me);
    } else {
        int pu = -1;
        for (int c = 0; c < CPU_SETSIZE; c++)
            if (CPU_ISSET(c, &cand)) {
                id = coreid[c];
                if (c != me)
                    pu = c;
            }
        CPU_SET(pu, out);
        snprintf(why, whylen,
                 "PU %d: one core (%d) %s, its hardware thread the caller (on CPU %d) is "
                 "not on",
                 pu, id, near_used ? "near the device" : "for this process", me);
    }
    free(coreid);
    return RCOMM_OK;
}
