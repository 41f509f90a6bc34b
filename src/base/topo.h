/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The machine, discovered once with hwloc: packages, NUMA nodes, cores and
 * hardware threads, and where the calling thread may run. The communicator,
 * the transports (device locality) and rcomm-info read it.
 *
 * Placement (issue 12) is decided here from hwloc-free inputs (CPU lists
 * and cpu_set_t), so that the tests can feed synthetic machines: which
 * device is nearest the caller (base_topo_nearest) and where a progress
 * thread goes (base_topo_progress_cpu).
 */
#ifndef RCOMM_TOPO_H
#define RCOMM_TOPO_H

#include <sched.h>
#include <stddef.h>

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

/* A CPU list ("0-3,8", "" = none) into set; -1 if malformed or a CPU is
 * beyond CPU_SETSIZE (set is then empty). */
int base_cpulist_parse(const char *list, cpu_set_t *set);
/* set as a list ("0-3,8"; "" when empty), truncated to len. */
void base_cpulist_format(const cpu_set_t *set, char *buf, size_t len);

/* Of n devices, the one nearest the CPUs in mine. near[i] is device i's
 * locality as a CPU list; "" (or NULL) when it has none: no PCI device
 * (soft-RoCE), a locality that is the whole machine, or unknown. Among the
 * devices whose locality intersects mine, the one with the smallest
 * locality wins (the most specific; the first of equals); when none does,
 * the first device. Returns its index (0 when n < 1) and says why in words
 * ("nearest to CPUs 0-3 (its locality: 0-7)", "no device has PCI locality
 * ...: the first active one"). Pure: no hwloc, no system call. */
int base_topo_nearest(int n, const char *const near[], const cpu_set_t *mine, char *why,
                      size_t whylen);

/* Where the progress thread of the calling thread's communicator goes.
 * Called on the application thread (its binding is read, and the CPU it
 * runs on). spec is RCOMM_PROGRESS_CPU (base_config_t.progress_cpu):
 *  - -2 (none): *out empty (CPU_COUNT 0: do not bind);
 *  - N >= 0: {N}, or RCOMM_ERR_CONFIG naming RCOMM_PROGRESS_CPU=N when this
 *    thread may not run on CPU N;
 *  - -1 (auto): the candidates are the allowed CPUs near the device
 *    (near_cpus, "" unknown; all allowed CPUs when that leaves fewer than
 *    two). Over two or more cores, a whole core counted from the last,
 *    offset by the rank's index on its host (core ncores-1 - local_index %
 *    ncores), so that the ranks of a host spread their threads and keep off
 *    the first cores, where callers usually run; on one core with several
 *    hardware threads, one the caller is not on; on a single CPU, none
 *    (*out empty: the thread shares it).
 * why names the choice in words. local_size is only quoted. */
rcomm_status_t base_topo_progress_cpu(int spec, const char *near_cpus, int local_index,
                                      int local_size, cpu_set_t *out, char *why,
                                      size_t whylen);

/* Where the calling process may run: the logical indexes of the packages
 * and NUMA nodes its CPUs touch, and the CPUs, as lists ("0", "0-1").
 * RCOMM_ERR_UNSUPPORTED without hwloc, RCOMM_ERR_INTERNAL when hwloc cannot
 * read the machine. */
rcomm_status_t base_topo_where(char *packages, char *numa, char *cpus, size_t len);

/* rcomm-run's default placement: the index-th of n shares of allowed's
 * cores, whole cores, in the order of their ids. coreid[cpu] is cpu's core
 * (as from hwloc; the CPU itself when unknown). Shares differ by at most
 * one core, the larger first. More ranks than cores: one core each, the
 * ranks in runs of about n / cores (4 on 2 cores: 0 0 1 1), since ranks
 * left to the scheduler there were moved between cores mid-run and took
 * 1.2-2.3x as long (docs/PERFORMANCE.md). Returns 0, or -1 (out empty) when
 * index is not in 0..n-1 or no allowed CPU has a core. Pure. */
int base_topo_share(const cpu_set_t *allowed, const int *coreid, int index, int n,
                    cpu_set_t *out);

/* base_topo_share of every index 0..n-1 into out[n], over the CPUs the
 * calling process may use and the machine's cores (hwloc's, read once; each
 * CPU a core without it). 0, or -1 when one cannot be told. */
int base_topo_shares_self(int n, cpu_set_t *out);

/* RCOMM_BIND: pin the calling process, the host's local_index-th rank, to
 * the local_index-th (modulo their number) of the cores (mode
 * BASE_BIND_CORE: all of a core's hardware threads) or NUMA nodes
 * (BASE_BIND_NUMA) it may run on now, in hwloc's logical order; nothing for
 * BASE_BIND_NONE. why says where, in words ("core 1 of 2: CPUs 1"). Errors:
 * RCOMM_ERR_UNSUPPORTED without hwloc, RCOMM_ERR_INTERNAL (hwloc's reason)
 * when the binding fails. */
rcomm_status_t base_topo_bind(int mode, int local_index, char *why, size_t whylen);

#endif
