/* SPDX-License-Identifier: BSD-3-Clause */
/* rcomm-info: version, transports in this build, every tunable with its
 * current value, and the algorithms the cost model picks: for 2 .. 1024
 * ranks, the message sizes from which each algorithm is chosen. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/config.h"
#include "base/topo.h"
#include "coll/model.h"
#include "rcomm.h"
#include "transports/transport.h"

static void usage(FILE *f)
{
    fprintf(f,
            "usage: rcomm-info [--ranks-per-host N] [--explain RANKS BYTES [--hosts H]]\n"
            "       rcomm-run -n N rcomm-info --map\n"
            "  prints rcomm's version, transports, tunables (RCOMM_* environment\n"
            "  variables) and the cost model's choices for 2 .. 1024 ranks, from\n"
            "  RCOMM_TUNING_FILE or the transport's built-in profile. The section\n"
            "  measured with the closest number of ranks per host is used (default:\n"
            "  RCOMM_LOCAL_SIZE, else 1). --explain prints every algorithm's predicted\n"
            "  time for one call instead; with --hosts H, for RANKS ranks on H hosts\n"
            "  (RANKS/H each, in rank order), shared memory within a host beside the\n"
            "  transport between hosts. --map, one process per rank: every rank's\n"
            "  host, the packages and NUMA nodes its CPUs touch, and its CPUs (after\n"
            "  RCOMM_BIND), printed by rank 0.\n");
}

/* "96 KiB" */
static void human(size_t b, char *buf, size_t len)
{
    static const char *const unit[] = {"B", "KiB", "MiB", "GiB"};
    int u = 0;

    while (u < 3 && b >= 1024 && b % 1024 == 0) {
        b /= 1024;
        u++;
    }
    snprintf(buf, len, "%zu %s", b, unit[u]);
}

static void print_switches(const coll_model_t *m, size_t seg, int coll, const char *name)
{
    static const int ranks[] = {2, 3, 4, 5, 6, 7, 8, 12, 16, 32, 64, 128, 256, 512, 1024};
    coll_switch_t sw[16];

    printf("# %s: the algorithm picked from each size on (up to 1 GiB)\n", name);
    printf("# %6s  %s\n", "ranks", "choice");
    for (size_t i = 0; i < sizeof(ranks) / sizeof(ranks[0]); i++) {
        int n = coll_switch_points(m, seg, coll, ranks[i], (size_t)1 << 30, sw, 16);
        printf("  %6d ", ranks[i]);
        for (int k = 0; k < n; k++) {
            char from[32];
            human(sw[k].from, from, sizeof(from));
            printf("%s %s from %s", k ? "," : "", coll_model_algo_name(coll, sw[k].algo),
                   from);
        }
        printf("%s\n", coll_model_rule(m, coll, ranks[i], 1) >= 0
                           ? "  (measured rules, to their last size)"
                           : "");
    }
}

/* The machine as hwloc sees it, and where this process may run. */
static void print_topology(void)
{
    base_topo_t t;

    if (base_topo_get(&t) != RCOMM_OK) {
        printf("#\n# topology: unknown (%s)\n", rcomm_last_error());
        return;
    }
    printf(
        "#\n# topology (hwloc): %d package(s), %d NUMA node(s), %d core(s), %d "
        "hardware thread(s);\n#   this process may run on %d core(s), %d thread(s): %s\n",
        t.packages, t.numa_nodes, t.cores, t.pus, t.my_cores, t.my_pus, t.my_list);
}

/* What rcomm would choose on this machine for a rank of this process: the
 * verbs device and where a progress thread would run (local rank 0). */
static void print_choices(const base_config_t *cfg, int local)
{
    char dev[96], near[128] = "", why[256];
    cpu_set_t set;

    printf("#\n# what rcomm would choose (local rank 0 of %d):\n", local);
    if (tp_verbs_device(cfg, dev, sizeof(dev), near, sizeof(near), why, sizeof(why)) ==
        RCOMM_OK)
        printf("#   verbs device: %s, near CPUs %s: %s\n", dev, *near ? near : "(none)",
               why);
    else
        printf("#   verbs device: none (%s)\n", rcomm_last_error());
    printf("#   progress: %s (RCOMM_PROGRESS)\n",
           cfg->progress_thread ? "a progress thread" : "the caller, inside rcomm calls");
    if (base_topo_progress_cpu(cfg->progress_cpu, near, 0, local, &set, why,
                               sizeof(why)) == RCOMM_OK)
        printf("#   %s progress thread's CPU: %s\n",
               cfg->progress_thread ? "the" : "with RCOMM_PROGRESS=thread, the", why);
    else
        printf("#   progress thread's CPU: error: %s\n", rcomm_last_error());
}

/* --map: every rank's place, gathered and printed by rank 0. */
static int print_map(void)
{
    typedef struct {
        char host[64], packages[96], numa[96], cpus[96];
    } place_t;
    place_t mine = {0}, *all;
    rcomm_comm_t *comm;
    int rank, size, rc = 1;

    if (rcomm_comm_create_from_env(&comm) != RCOMM_OK) {
        fprintf(stderr, "rcomm-info --map: %s\n", rcomm_last_error());
        return 1;
    }
    rcomm_comm_rank(comm, &rank);
    rcomm_comm_size(comm, &size);
    if (gethostname(mine.host, sizeof(mine.host) - 1) != 0)
        strcpy(mine.host, "?");
    if (base_topo_where(mine.packages, mine.numa, mine.cpus, sizeof(mine.cpus)) !=
        RCOMM_OK) {
        strcpy(mine.packages, "?");
        strcpy(mine.numa, "?");
        strcpy(mine.cpus, "?");
    }
    if (!(all = calloc((size_t)size, sizeof(*all))))
        goto out;
    if (rcomm_allgather(comm, &mine, all, sizeof(mine), RCOMM_U8) != RCOMM_OK) {
        fprintf(stderr, "rcomm-info --map: %s\n", rcomm_last_error());
        goto out;
    }
    if (rank == 0) {
        printf("# locality map: %d rank(s); packages and NUMA nodes are hwloc's logical "
               "indexes on each host\n# %5s %-24s %-9s %-9s %s\n",
               size, "rank", "host", "packages", "numa", "cpus");
        for (int r = 0; r < size; r++)
            printf("  %5d %-24.63s %-9.95s %-9.95s %.95s\n", r, all[r].host,
                   all[r].packages, all[r].numa, all[r].cpus);
    }
    rc = 0;
out:
    free(all);
    rcomm_comm_destroy(comm);
    return rc;
}

/* Why auto picks what it picks: every algorithm's predicted time, over k. */
static void explain(const coll_links_t *k, size_t seg, size_t bytes)
{
    const coll_model_t *m = k->net;
    const int p = k->p;
    rcomm_algo_t pick = coll_select_allreduce_on(k, RCOMM_ALGO_AUTO, bytes);
    coll_bcast_algo_t bpick = coll_select_broadcast(m, -1, seg, p, bytes);
    coll_reduce_algo_t rpick = coll_select_reduce(m, -1, p, bytes);

    printf("# predicted time of one call on %d ranks, %zu bytes\n", p, bytes);
    if (k->local)
        printf("# %d hosts: shared memory (%s) within them, %s between\n",
               k->hosts ? k->hosts : p / 2, k->local->source, m->transport);
    if (coll_model_rule(m, COLL_ALLREDUCE, p, bytes) >= 0)
        printf("# allreduce: a measured rule for %d ranks decides, not the formulas\n",
               p);
    if (coll_model_rule(m, COLL_BROADCAST, p, bytes) >= 0)
        printf("# broadcast: a measured rule for %d ranks decides, not the formulas\n",
               p);
    if (coll_model_rule(m, COLL_REDUCE, p, bytes) >= 0)
        printf("# reduce: a measured rule for %d ranks decides, not the formulas\n", p);
    for (int a = RCOMM_ALGO_AUTO + 1; a < RCOMM_ALGO_COUNT; a++)
        if (a == RCOMM_ALGO_HIER && !k->per_host)
            printf("# allreduce hier: needs ranks on several hosts, as many on each "
                   "(--hosts)\n");
        else
            printf("allreduce  %-10s %12.2f us%s\n", rcomm_algo_name((rcomm_algo_t)a),
                   coll_cost_allreduce_on(k, (rcomm_algo_t)a, bytes) * 1e6,
                   a == (int)pick ? "  <- auto" : "");
    for (int b = COLL_BCAST_BINOMIAL; b <= COLL_BCAST_CHAIN; b++)
        printf("broadcast  %-10s %12.2f us%s\n", coll_model_algo_name(COLL_BROADCAST, b),
               coll_cost_broadcast(m, seg, (coll_bcast_algo_t)b, p, bytes) * 1e6,
               b == (int)bpick ? "  <- auto" : "");
    for (int r = COLL_REDUCE_BINOMIAL; r <= COLL_REDUCE_RSG; r++)
        printf("reduce     %-10s %12.2f us%s\n", base_reduce_algo_name(r),
               coll_cost_reduce(m, (coll_reduce_algo_t)r, p, bytes) * 1e6,
               r == (int)rpick ? "  <- auto" : "");
}

/* --explain over H hosts of p/H ranks each (rank order), shared memory's
 * profile from the tuning file or built in. */
static int explain_hosts(const base_config_t *cfg, const coll_model_t *net, int hosts,
                         int p, size_t bytes)
{
    coll_model_t shm;
    coll_links_t k;
    int *host_of = malloc((size_t)p * sizeof(int)), found = 0, rc = 1;

    if (!host_of)
        return 1;
    for (int r = 0; r < p; r++)
        host_of[r] = r / (p / hosts);
    if ((!cfg->tuning_file[0] || coll_model_load_if(cfg->tuning_file, "shm", p / hosts,
                                                    &shm, &found) == RCOMM_OK) &&
        (found || coll_model_builtin("shm", p / hosts, &shm) == RCOMM_OK) &&
        coll_links_init(&k, net, &shm, p, host_of, hosts) == RCOMM_OK) {
        explain(&k, cfg->segment_size, bytes);
        rc = 0;
    } else {
        fprintf(stderr, "rcomm-info: %s\n", rcomm_last_error());
    }
    free(host_of);
    return rc;
}

int main(int argc, char **argv)
{
    base_config_t cfg;
    coll_model_t model;
    const char *ls = getenv("RCOMM_LOCAL_SIZE");
    int local = ls ? atoi(ls) : 1, ex_p = 0, hosts = 0;
    size_t ex_bytes = 0;

    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            usage(stdout);
            return 0;
        }
        if (strcmp(argv[i], "--map") == 0 && argc == 2)
            return print_map();
        if (strcmp(argv[i], "--ranks-per-host") == 0 && i + 1 < argc &&
            (local = atoi(argv[i + 1])) >= 1) {
            i++;
            continue;
        }
        if (strcmp(argv[i], "--explain") == 0 && i + 2 < argc &&
            (ex_p = atoi(argv[i + 1])) >= 2 && ex_p <= 1 << 20 &&
            base_parse_size(argv[i + 2], &ex_bytes) == 0) {
            i += 2;
            continue;
        }
        if (strcmp(argv[i], "--hosts") == 0 && i + 1 < argc &&
            (hosts = atoi(argv[i + 1])) >= 1) {
            i++;
            continue;
        }
        fprintf(stderr, "rcomm-info: bad argument '%s'\n", argv[i]);
        usage(stderr);
        return 2;
    }
    if (!ex_p)
        printf("rcomm %d.%d\n", RCOMM_VERSION_MAJOR, RCOMM_VERSION_MINOR);
    if ((!ex_p && rcomm_config_print(NULL, stdout) != RCOMM_OK) ||
        base_config_load(&cfg) != RCOMM_OK) {
        fprintf(stderr, "rcomm-info: %s\n", rcomm_last_error());
        return 1;
    }
    if (coll_model_choose(cfg.tuning_file, cfg.transport, local, &model) != RCOMM_OK) {
        fprintf(stderr, "rcomm-info: %s\n", rcomm_last_error());
        return 1;
    }
    if (ex_p) {
        printf("# cost model: %s, %d ranks per host\n", model.source,
               model.ranks_per_host);
        if (hosts) {
            if (ex_p % hosts) {
                fprintf(stderr, "rcomm-info: --hosts %d does not divide %d ranks\n",
                        hosts, ex_p);
                return 2;
            }
            return explain_hosts(&cfg, &model, hosts, ex_p, ex_bytes);
        }
        coll_links_t k;
        coll_links_flat(&k, &model, ex_p);
        explain(&k, cfg.segment_size, ex_bytes);
        return 0;
    }
    print_topology();
    print_choices(&cfg, local);
    printf("#\n# cost model: %s, transport %s, measured with %d ranks per host "
           "(0: any), segment %zu B\n",
           model.source, model.transport, model.ranks_per_host, cfg.segment_size);
    if (cfg.allreduce_algo != RCOMM_ALGO_AUTO)
        printf("# (RCOMM_ALLREDUCE_ALGO=%s overrides the allreduce choice)\n",
               rcomm_algo_name((rcomm_algo_t)cfg.allreduce_algo));
    print_switches(&model, cfg.segment_size, COLL_ALLREDUCE, "allreduce");
    print_switches(&model, cfg.segment_size, COLL_BROADCAST, "broadcast");
    return 0;
}
