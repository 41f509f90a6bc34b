/* SPDX-License-Identifier: BSD-3-Clause */
/* Communicator life cycle: environment, bootstrap, transport, failure. */
#include "core/comm.h"

#include <errno.h>
#include <limits.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/clock.h"
#include "base/error.h"
#include "base/topo.h"
#include "core/handle.h"

/* Launchers we recognise: rank variable, size variable. */
static const char *const launcher_env[][2] = {
    {"RCOMM_RANK", "RCOMM_SIZE"},
    {"SLURM_PROCID", "SLURM_NTASKS"},
    {"OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_SIZE"},
};

static rcomm_status_t parse_int(const char *name, const char *val, int *out)
{
    char *end;
    long v;

    errno = 0;
    v = strtol(val, &end, 10);
    if (errno || end == val || *end != '\0' || v < 0 || v > INT_MAX)
        return base_err(RCOMM_ERR_CONFIG, "%s='%s' is not a non-negative integer", name,
                        val);
    *out = (int)v;
    return RCOMM_OK;
}

static rcomm_status_t comm_create(int rank, int size, const char *addr, bool pmix,
                                  rcomm_comm_t **out);

/* RCOMM_BOOTSTRAP: pmix (asked for, or auto: a PMIx server started us, this
 * build has PMIx, and no RCOMM_ADDR asks for the store) or the store. */
static rcomm_status_t want_pmix(bool *pmix)
{
    base_config_t cfg;
    rcomm_status_t st;

    if ((st = base_config_load(&cfg)) != RCOMM_OK)
        return st;
    /* pmix without PMIx in the build: bootstrap_pmix_create says so. */
    *pmix = cfg.bootstrap == BASE_BOOT_PMIX ||
            (cfg.bootstrap == BASE_BOOT_AUTO && bootstrap_pmix_built() &&
             bootstrap_pmix_started() && !getenv("RCOMM_ADDR"));
    return RCOMM_OK;
}

rcomm_status_t rcomm_comm_create_from_env(rcomm_comm_t **comm)
{
    rcomm_status_t st;
    int rank = 0, size = 1;
    bool pmix = false;

    if (!comm)
        return base_err(RCOMM_ERR_INVALID_ARG,
                        "rcomm_comm_create_from_env: comm is NULL");
    base_err_clear();
    if ((st = want_pmix(&pmix)) != RCOMM_OK)
        return st;
    if (pmix) /* rank and size from PMIx */
        return comm_create(-1, -1, NULL, true, comm);
    for (size_t i = 0; i < sizeof(launcher_env) / sizeof(launcher_env[0]); i++) {
        const char *r = getenv(launcher_env[i][0]), *s = getenv(launcher_env[i][1]);
        if (!r && !s)
            continue;
        if (!r || !s)
            return base_err(RCOMM_ERR_CONFIG, "%s is set but %s is not",
                            r ? launcher_env[i][0] : launcher_env[i][1],
                            r ? launcher_env[i][1] : launcher_env[i][0]);
        if ((st = parse_int(launcher_env[i][0], r, &rank)) != RCOMM_OK ||
            (st = parse_int(launcher_env[i][1], s, &size)) != RCOMM_OK)
            return st;
        break;
    }
    return comm_create(rank, size, getenv("RCOMM_ADDR"), false, comm);
}

/* A message arrived before its receive was posted: its space's service. */
static void on_unexpected(void *arg, int peer, uint64_t tag, const tp_env_t *env,
                          size_t len)
{
    comm_services_unexpected(arg, peer, tag, env, len);
}

/* A put_notify landed: the service its immediate names. */
static void on_notify(void *arg, int peer, uint32_t imm)
{
    comm_services_notify(arg, peer, imm);
}

/* Which peers shared memory serves (RCOMM_SHM=auto): those whose host
 * identity (tp_shm_host_id) equals ours. Every rank decides alike from the
 * same published identities whether any two ranks share a host, so all
 * create the same composed transport, or none does. A rank with RCOMM_SHM=off
 * publishes no identity and is no one's shm peer. */
static rcomm_status_t plan_shm(rcomm_comm_t *comm, const void *all, size_t stride,
                               size_t id_off, size_t ok_off)
{
    const unsigned char *at = all, *mine = at + (size_t)comm->rank * stride;
    bool pairs = false;

    if (!(comm->host_of = malloc((size_t)comm->size * sizeof(int))))
        return base_err(RCOMM_ERR_NO_MEMORY, "no memory for the host map");
    for (int r = 0; r < comm->size; r++) {
        int q = 0;
        for (; q < r; q++)
            if (at[r * stride + ok_off] && at[q * stride + ok_off] &&
                memcmp(at + r * stride + id_off, at + q * stride + id_off,
                       TP_HOST_ID_LEN) == 0)
                break;
        comm->host_of[r] = q < r ? comm->host_of[q] : comm->nhosts++;
    }
    for (int r = 0; r < comm->size && !pairs; r++)
        for (int q = r + 1; q < comm->size && !pairs; q++)
            pairs = at[r * stride + ok_off] && at[q * stride + ok_off] &&
                    memcmp(at + r * stride + id_off, at + q * stride + id_off,
                           TP_HOST_ID_LEN) == 0;
    if (!pairs)
        return RCOMM_OK;
    if (!(comm->shm_which = calloc((size_t)comm->size, 1)))
        return base_err(RCOMM_ERR_NO_MEMORY, "no memory to plan shared memory");
    for (int r = 0; r < comm->size; r++)
        comm->shm_which[r] =
            r != comm->rank && mine[ok_off] && at[r * stride + ok_off] &&
            memcmp(at + r * stride + id_off, mine + id_off, TP_HOST_ID_LEN) == 0;
    return RCOMM_OK;
}

#define OVERSUB_SHM_SPIN_US 2000

/* Whether shared memory serves every other rank (plan_shm ran). */
static bool all_shm(const rcomm_comm_t *comm)
{
    if (strcmp(comm->cfg.transport, "shm") == 0)
        return true;
    for (int r = 0; r < comm->size; r++)
        if (r != comm->rank && !(comm->shm_which && comm->shm_which[r]))
            return false;
    return comm->size > 1;
}

/* Ranks on this host and the cores they may run on: every rank publishes its
 * host name and CPU affinity. More ranks than cores in the union of their
 * cpusets means oversubscribed: a rank that spins takes the core the rank it
 * waits for needs (comm->oversubscribed). Works under any launcher. */
static rcomm_status_t find_local(rcomm_comm_t *comm)
{
    typedef struct {
        char host[64];
        cpu_set_t cpus;
        unsigned char shm_id[TP_HOST_ID_LEN]; /* valid when shm_ok */
        uint8_t shm_ok;
    } where_t;
    where_t mine, *all = NULL;
    cpu_set_t cores;
    rcomm_status_t st = RCOMM_OK;

    bootstrap_where_t w = {.local_rank = -1, .local_size = -1};

    memset(&mine, 0, sizeof(mine));
    bootstrap_where(comm->bs, &w);
    /* The launcher's name for the host (PMIx) when there is one. */
    if (w.hostname)
        snprintf(mine.host, sizeof(mine.host), "%s", w.hostname);
    else if (gethostname(mine.host, sizeof(mine.host) - 1) != 0)
        snprintf(mine.host, sizeof(mine.host), "?");
    if (sched_getaffinity(0, sizeof(mine.cpus), &mine.cpus) != 0) {
        CPU_ZERO(&mine.cpus);
        for (long i = 0, n = sysconf(_SC_NPROCESSORS_ONLN); i < n && i < CPU_SETSIZE; i++)
            CPU_SET((int)i, &mine.cpus);
    }
    mine.shm_ok = comm->cfg.shm != 0 && strcmp(comm->cfg.transport, "shm") != 0 &&
                  tp_shm_host_id(mine.shm_id);
    comm->local_size = 1;
    cores = mine.cpus;
    if (comm->bs) {
        if (!(all = malloc((size_t)comm->size * sizeof(*all))))
            return base_err(RCOMM_ERR_NO_MEMORY, "no memory to find the local ranks");
        st = bootstrap_allgather(comm->bs, "host", &mine, all, sizeof(mine));
        comm->local_size = 0;
        for (int r = 0; st == RCOMM_OK && r < comm->size; r++) {
            if (strncmp(all[r].host, mine.host, sizeof(mine.host)) != 0)
                continue;
            comm->local_index += r < comm->rank;
            comm->local_size++;
            CPU_OR(&cores, &cores, &all[r].cpus);
        }
        if (st == RCOMM_OK)
            st = plan_shm(comm, all, sizeof(*all), offsetof(where_t, shm_id),
                          offsetof(where_t, shm_ok));
        free(all);
    }
    /* The launcher's node-local rank (PMIx) is the host's i-th rank for
     * binding; it equals the count of lower ranks with our host name
     * unless the names mislead (containers sharing one). */
    if (w.local_rank >= 0 && st == RCOMM_OK) {
        if (w.local_rank != comm->local_index || w.local_size != comm->local_size)
            base_log(BASE_LOG_INFO,
                     "rank %d: PMIx says local rank %d of %d, host names %d of %d; "
                     "PMIx's are used",
                     comm->rank, w.local_rank, w.local_size, comm->local_index,
                     comm->local_size);
        comm->local_index = w.local_rank;
        comm->local_size = w.local_size;
    }
    comm->local_cores = CPU_COUNT(&cores);
    if (st == RCOMM_OK && comm->cfg.bind != BASE_BIND_NONE) {
        char why[192];
        if ((st = base_topo_bind(comm->cfg.bind, comm->local_index, why, sizeof(why))) !=
            RCOMM_OK)
            return st;
        base_log(BASE_LOG_INFO, "RCOMM_BIND: rank %d (%d of %d on its host): %s",
                 comm->rank, comm->local_index, comm->local_size, why);
    }
    comm->oversubscribed = comm->cfg.oversubscribed >= 0
                               ? comm->cfg.oversubscribed > 0
                               : comm->local_size > comm->local_cores;
    /* Spinning ranks would take the cores the ranks they wait for need:
     * oversubscribed, polls yield, and over a network a rank sleeps at once
     * (the kernel moves its bytes meanwhile). Over shared memory nobody
     * moves them but the ranks: a rank that sleeps is woken through its
     * bell, and 4 ranks on 2 cores took 2.5x as long at 32 KiB
     * (docs/PERFORMANCE.md). */
    snprintf(comm->transport_name, sizeof(comm->transport_name), "%s%s",
             all_shm(comm) ? "shm" : comm->cfg.transport,
             !all_shm(comm) && comm->shm_which && memchr(comm->shm_which, 1, comm->size)
                 ? "+shm"
                 : "");
    comm->spin_ns =
        (uint64_t)(1e3 * (!comm->oversubscribed            ? comm->cfg.spin_us
                          : comm->cfg.oversub_spin_us >= 0 ? comm->cfg.oversub_spin_us
                          : all_shm(comm)                  ? OVERSUB_SHM_SPIN_US
                                                           : 0));
    return st;
}

/* Publish our transport address, fetch everyone's, connect. Each blob is
 * stored behind a 4-byte length; the transport says how long it is (verbs
 * blobs grow with the job: a queue-pair number per peer). */
static rcomm_status_t connect_transport(rcomm_comm_t *comm)
{
    const tp_ops_t *ops = tp_find(comm->cfg.transport);
    tp_params_t params = {
        .rank = comm->rank,
        .size = comm->size,
        .cfg = &comm->cfg,
        .timeout_ms = base_config_timeout_ms(&comm->cfg),
        .key = &comm->key,
        .handshake_ms = base_config_handshake_ms(&comm->cfg),
        .host = comm->cfg.host[0] ? comm->cfg.host : bootstrap_local_host(comm->bs),
        .on_unexpected = on_unexpected,
        .unexpected_arg = comm,
        .on_notify = on_notify,
        .notify_arg = comm,
    };
    unsigned char *mine = NULL, *all = NULL;
    const void **addrs = NULL;
    size_t *lens = NULL, len = 0, slot;
    rcomm_status_t st;

    if (!ops)
        return base_err(
            RCOMM_ERR_CONFIG,
            "RCOMM_TRANSPORT=%s: no such transport in this build (have: tcp%s)",
            comm->cfg.transport, tp_find("verbs") ? ", verbs" : "");
    /* Shared memory for the ranks of our host, ops for the others. */
    if (comm->shm_which) {
        const tp_ops_t *both[2] = {ops, tp_find("shm")};
        st = tp_multi_create(&params, both, 2, comm->shm_which, &comm->tp);
        free(comm->shm_which);
        comm->shm_which = NULL;
    } else {
        st = ops->create(&params, &comm->tp);
    }
    if (st != RCOMM_OK ||
        (st = comm->tp->ops->local_addr(comm->tp, NULL, &len)) != RCOMM_OK)
        return st;
    slot = 4 + len;
    mine = calloc(1, slot);
    all = malloc((size_t)comm->size * slot);
    addrs = malloc((size_t)comm->size * sizeof(*addrs));
    lens = malloc((size_t)comm->size * sizeof(*lens));
    if (!mine || !all || !addrs || !lens) {
        st = base_err(RCOMM_ERR_NO_MEMORY, "no memory for %d addresses of %zu bytes",
                      comm->size, len);
        goto out;
    }
    if ((st = comm->tp->ops->local_addr(comm->tp, mine + 4, &len)) != RCOMM_OK)
        goto out;
    for (int i = 0; i < 4; i++)
        mine[i] = (unsigned char)(len >> (8 * i));
    /* Every rank computes the same slot size, or the allgather fails. */
    st = bootstrap_allgather(comm->bs, "tp", mine, all, slot);
    if (st != RCOMM_OK)
        goto out;
    for (int r = 0; r < comm->size; r++) {
        unsigned char *blob = all + (size_t)r * slot;
        addrs[r] = blob + 4;
        lens[r] = (size_t)blob[0] | (size_t)blob[1] << 8 | (size_t)blob[2] << 16 |
                  (size_t)blob[3] << 24;
        if (lens[r] > slot - 4) {
            st = base_err(RCOMM_ERR_BOOTSTRAP, "rank %d published a corrupt address", r);
            goto out;
        }
    }
    st = comm->tp->ops->connect(comm->tp, addrs, lens);
out:
    free(mine);
    free(all);
    free(addrs);
    free(lens);
    return st;
}

rcomm_status_t rcomm_comm_create(int rank, int size, const char *addr, rcomm_comm_t **out)
{
    base_err_clear();
    if (!out)
        return base_err(RCOMM_ERR_INVALID_ARG, "rcomm_comm_create: comm is NULL");
    if (size < 1 || rank < 0 || rank >= size)
        return base_err(RCOMM_ERR_INVALID_ARG,
                        "rcomm_comm_create: rank %d is not in [0, size %d)", rank, size);
    if (size > 1 && (!addr || !*addr))
        return base_err(RCOMM_ERR_CONFIG,
                        "rank %d of %d: RCOMM_ADDR is not set; rank 0 serves the "
                        "rendezvous at host:port (rcomm-run sets it; srun --mpi=pmix and "
                        "mpirun need nothing with rcomm_comm_create_from_env and PMIx; "
                        "otherwise export RCOMM_ADDR=<first host>:<free port>)",
                        rank, size);
    return comm_create(rank, size, addr, false, out);
}

/* The PMIx bootstrap: rank and size come from it, and the job key when the
 * user gave none (bootstrap.h). One rank alone keeps no bootstrap. */
static rcomm_status_t join_pmix(rcomm_comm_t *comm)
{
    const char *r = getenv("PMIX_RANK");
    int rank = r ? atoi(r) : -1; /* for messages until PMIx says */
    bootstrap_where_t w;
    rcomm_status_t st;
    bool own_key;

    if ((st = auth_key_given(&comm->key, rank)) != RCOMM_OK)
        return st;
    own_key = comm->key.keyed;
    if ((st = bootstrap_pmix_create(base_config_timeout_ms(&comm->cfg), &comm->key,
                                    &comm->bs)) != RCOMM_OK)
        return st;
    bootstrap_where(comm->bs, &w);
    comm->rank = w.rank;
    comm->size = w.size;
    base_log_set_rank(w.rank);
    base_log(BASE_LOG_INFO,
             "bootstrap: PMIx, rank %d of %d (%d of %d on host %s), job key %s", w.rank,
             w.size, w.local_rank, w.local_size, w.hostname ? w.hostname : "?",
             own_key ? "the user's" : "rank 0's through PMIx");
    if (w.size == 1) {
        bootstrap_destroy(comm->bs);
        comm->bs = NULL;
    }
    return RCOMM_OK;
}

/* rank and size -1: from PMIx (pmix true). */
static rcomm_status_t comm_create(int rank, int size, const char *addr, bool pmix,
                                  rcomm_comm_t **out)
{
    rcomm_comm_t *comm;
    rcomm_status_t st;
    int old_log_rank;

    if (!(comm = calloc(1, sizeof(*comm))))
        return base_err(RCOMM_ERR_NO_MEMORY, "rcomm_comm_create: out of memory");
    comm->rank = rank;
    comm->size = size;
    old_log_rank = base_log_set_rank(rank);
    if ((st = base_config_load(&comm->cfg)) != RCOMM_OK)
        goto fail;
    if (pmix) {
        if ((st = join_pmix(comm)) != RCOMM_OK)
            goto fail;
        size = comm->size;
    } else if (size > 1 && ((st = auth_key_load(&comm->key, rank,
                                                comm->cfg.require_key)) != RCOMM_OK ||
                            (st = bootstrap_create(
                                 rank, size, addr, base_config_timeout_ms(&comm->cfg),
                                 &(bootstrap_auth_t){
                                     &comm->key, base_config_handshake_ms(&comm->cfg)},
                                 &comm->bs)) != RCOMM_OK)) {
        goto fail;
    }
    if ((st = find_local(comm)) != RCOMM_OK ||
        (st = comm_services_builtin(comm)) != RCOMM_OK)
        goto fail;
    /* Nobody leaves before everyone is done with the store. */
    if (size > 1 && ((st = connect_transport(comm)) != RCOMM_OK ||
                     (st = comm_services_connected(comm)) != RCOMM_OK ||
                     (st = bootstrap_barrier(comm->bs, "ready")) != RCOMM_OK))
        goto fail;
    if ((st = comm_progress_start(comm)) != RCOMM_OK)
        goto fail;
    comm->magic = HANDLE_MAGIC_COMM;
    *out = comm;
    return RCOMM_OK;
fail:
    free(comm->shm_which);
    free(comm->host_of);
    if (comm->tp)
        comm->tp->ops->destroy(comm->tp, st, rcomm_last_error());
    comm_services_destroy(comm);
    bootstrap_destroy(comm->bs);
    auth_key_wipe(&comm->key);
    free(comm);
    base_log_set_rank(old_log_rank);
    return st;
}

rcomm_status_t rcomm_comm_destroy(rcomm_comm_t *comm)
{
    char what[96];
    rcomm_status_t st;

    if (!comm)
        return RCOMM_OK;
    if ((st = comm_valid(comm, "rcomm_comm_destroy")) != RCOMM_OK)
        return st;
    comm_lock(comm);
    if (comm_services_busy(comm, what, sizeof(what)))
        return comm_unlock(comm,
                           base_err(RCOMM_ERR_INVALID_ARG,
                                    "rcomm_comm_destroy: rank %d still has %s in flight; "
                                    "rcomm_wait() for it first",
                                    comm->rank, what));
    comm_unlock(comm, RCOMM_OK);
    comm->magic = 0;
    comm_progress_stop(comm);
    comm_mem_free_all(comm);
    if (comm->tp)
        comm->tp->ops->destroy(comm->tp, RCOMM_OK, NULL);
    comm_services_destroy(comm);
    comm_scratch_free_all(comm);
    bootstrap_destroy(comm->bs);
    auth_key_wipe(&comm->key);
    free(comm->host_of);
    comm->host_of = NULL;
    /* Kept a while, so that a later call (or destroy) with it is an error. */
    handle_bury(HANDLE_COMM, comm);
    return RCOMM_OK;
}

void comm_fail(rcomm_comm_t *comm, rcomm_status_t status)
{
    if (comm->failed != RCOMM_OK)
        return;
    comm->failed = status;
    snprintf(comm->failmsg, sizeof(comm->failmsg), "%s", rcomm_last_error());
    comm_services_fail(comm);
    if (comm->tp) {
        comm->stats = comm->tp->stats;
        comm_mem_detach_all(comm);
        comm->tp->ops->destroy(comm->tp, status, comm->failmsg);
        comm->tp = NULL;
    }
}

void comm_progress(rcomm_comm_t *comm, int timeout_ms)
{
    rcomm_status_t st;

    if (comm->tp && (st = comm->tp->ops->progress(comm->tp, timeout_ms)) != RCOMM_OK)
        comm_fail(comm, st);
    comm_services_progress(comm);
}

static uint64_t traffic(const rcomm_comm_t *comm)
{
    return comm->tp ? comm->tp->traffic : 0;
}

void comm_waiter_start(rcomm_comm_t *comm, comm_waiter_t *w)
{
    /* Oversubscribed, traffic means another rank is running: polling on
     * would take its core. */
    const uint64_t now = base_now_ns();

    *w =
        (comm_waiter_t){now, traffic(comm), comm->spin_ns, !comm->oversubscribed, now, 1};
}

#define COMM_YIELD_AFTER_NS 20000

uint64_t comm_wait_step(rcomm_comm_t *comm, comm_waiter_t *w, int sleep_ms)
{
    uint64_t t;

    /* While spinning, the clock is read every 8th poll: in a VM a read
     * costs about what a poll of shared memory does (12% of an 8-byte
     * allreduce's time when read every poll). */
    if ((w->polls++ & 7) == 0)
        w->now_ns = base_now_ns();
    if ((t = w->now_ns - w->since_ns) < w->spin_ns || comm->local_work) {
        const uint64_t before = traffic(comm);
        comm_progress(comm, 0);
        if (comm->local_work) /* the next slice is ours to run at once */
            return w->now_ns;
        /* Let the rank we wait for run: oversubscribed, always; otherwise
         * once the spin has found nothing for a while, since the scheduler
         * may have put that rank on our core (2 ranks on 2 idle cores took
         * 234 us an 8-byte allreduce in 1 launch of 3, 3 us in the others;
         * docs/PERFORMANCE.md). Not after a poll that found something: the
         * caller may be done, or have the next step to post, and a yield
         * that switches costs microseconds (4 ranks on 2 cores yielded 12
         * times an 8-byte allreduce, Open MPI 4.5). */
        if ((comm->oversubscribed || t > COMM_YIELD_AFTER_NS) && traffic(comm) == before)
            sched_yield();
    } else {
        /* Sleep inside the transport's progress: it waits on the same
         * descriptor that wait_fd() hands out (TCP's epoll set) without an
         * extra poll() and call, which made 8 B - 8 KiB on 4 ranks over 2
         * cores about 6% slower (docs/PERFORMANCE.md). wait_fd() is for a
         * thread that must also wake on descriptors of its own. */
        comm_progress(comm, sleep_ms);
        w->now_ns = base_now_ns();
    }
    /* Bytes still moving: the rest is likely to follow within the spin. */
    if (w->follow && (t = traffic(comm)) != w->traffic) {
        w->traffic = t;
        w->since_ns = w->now_ns;
    }
    return w->now_ns;
}

rcomm_status_t comm_check(rcomm_comm_t *comm, const char *fn)
{
    if (comm_valid(comm, fn) != RCOMM_OK)
        return RCOMM_ERR_INVALID_ARG;
    if (comm->deferred != RCOMM_OK && comm->failed == RCOMM_OK) {
        rcomm_status_t st = base_err(comm->deferred, "%s", comm->deferred_msg);
        comm_fail(comm, st);
        return st;
    }
    if (comm->failed != RCOMM_OK)
        return base_err(RCOMM_ERR_COMM_FAILED,
                        "%s: rank %d's communicator failed earlier (%s: %s)", fn,
                        comm->rank, rcomm_strerror(comm->failed), comm->failmsg);
    return RCOMM_OK;
}

rcomm_status_t rcomm_comm_rank(const rcomm_comm_t *comm, int *rank)
{
    if (comm_valid(comm, "rcomm_comm_rank") != RCOMM_OK)
        return RCOMM_ERR_INVALID_ARG;
    if (!rank)
        return base_err(RCOMM_ERR_INVALID_ARG, "rcomm_comm_rank: rank is NULL");
    *rank = comm->rank;
    return RCOMM_OK;
}

rcomm_status_t rcomm_comm_size(const rcomm_comm_t *comm, int *size)
{
    if (comm_valid(comm, "rcomm_comm_size") != RCOMM_OK)
        return RCOMM_ERR_INVALID_ARG;
    if (!size)
        return base_err(RCOMM_ERR_INVALID_ARG, "rcomm_comm_size: size is NULL");
    *size = comm->size;
    return RCOMM_OK;
}

rcomm_status_t rcomm_comm_transport(const rcomm_comm_t *comm, const char **name)
{
    if (comm_valid(comm, "rcomm_comm_transport") != RCOMM_OK)
        return RCOMM_ERR_INVALID_ARG;
    if (!name)
        return base_err(RCOMM_ERR_INVALID_ARG, "rcomm_comm_transport: name is NULL");
    *name = comm->transport_name[0] ? comm->transport_name : comm->cfg.transport;
    return RCOMM_OK;
}

rcomm_status_t rcomm_comm_stats(const rcomm_comm_t *comm, rcomm_stats_t *stats)
{
    rcomm_comm_t *c = (rcomm_comm_t *)comm; /* the lock is not the caller's state */

    if (comm_valid(comm, "rcomm_comm_stats") != RCOMM_OK)
        return RCOMM_ERR_INVALID_ARG;
    if (!stats)
        return base_err(RCOMM_ERR_INVALID_ARG, "rcomm_comm_stats: stats is NULL");
    comm_lock(c);
    *stats = comm->tp ? comm->tp->stats : comm->stats;
    return comm_unlock(c, RCOMM_OK);
}

rcomm_status_t rcomm_config_print(const rcomm_comm_t *comm, FILE *out)
{
    base_config_t env_cfg;
    rcomm_status_t st;

    if (!out)
        return base_err(RCOMM_ERR_INVALID_ARG, "rcomm_config_print: out is NULL");
    if (comm && comm_valid(comm, "rcomm_config_print") != RCOMM_OK)
        return RCOMM_ERR_INVALID_ARG;
    if (!comm && (st = base_config_load(&env_cfg)) != RCOMM_OK)
        return st;
    base_config_write(comm ? &comm->cfg : &env_cfg, out);
    return RCOMM_OK;
}
