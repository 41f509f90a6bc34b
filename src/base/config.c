/* SPDX-License-Identifier: BSD-3-Clause */
#include "base/config.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "base/error.h"

typedef enum {
    CFG_DOUBLE,
    CFG_SIZE,
    CFG_STRING,
    CFG_ALGO,
    CFG_LOGLEVEL,
    CFG_BOOL,     /* 0/1, no/yes, false/true, off/on */
    CFG_AUTOINT,  /* "auto" (-1) or an integer >= 0 */
    CFG_AUTONUM,  /* "auto" (-1) or a number >= 0 */
    CFG_POLL,     /* busy (0) or event (1) */
    CFG_BCAST,    /* auto (-1), binomial (0) or chain (1) */
    CFG_REDUCE,   /* auto (-1), binomial (0) or rsg (1) */
    CFG_PROGRESS, /* caller (0) or thread (1) */
    CFG_CPU,      /* auto (-1), none (-2) or a CPU number >= 0 */
    CFG_BIND,     /* none (-1), core (0) or numa (1) */
    CFG_SHM,      /* auto (-1) or off (0) */
    CFG_BOOT,     /* auto (-1), store (0) or pmix (1) */
} cfg_type_t;

static const char *const bcast_names[] = {"auto", "binomial", "chain"};
static const char *const reduce_names[] = {"auto", "binomial", "rsg"};
static const char *const bind_names[] = {"none", "core", "numa"};
static const char *const shm_names[] = {"auto", "off"};
static const char *const boot_names[] = {"auto", "store", "pmix"};

/* The names of a choice, the one stored as -1 first, and how many. */
static const char *const *choice_names(cfg_type_t t, int *n)
{
    *n = t == CFG_SHM ? 2 : 3;
    return t == CFG_BCAST    ? bcast_names
           : t == CFG_REDUCE ? reduce_names
           : t == CFG_SHM    ? shm_names
           : t == CFG_BOOT   ? boot_names
                             : bind_names;
}

typedef struct {
    const char *env;
    cfg_type_t type;
    size_t offset;
    size_t len; /* strings: capacity */
    const char *dflt;
    const char *help;
} cfg_row_t;

#define ROW(env, type, field, dflt, help)                                                \
    {                                                                                    \
        env, type, offsetof(base_config_t, field), sizeof(((base_config_t *)0)->field),  \
            dflt, help                                                                   \
    }

/* The one place each tunable is defined. */
static const cfg_row_t cfg_rows[] = {
    ROW("RCOMM_TIMEOUT", CFG_DOUBLE, timeout_s, "60",
        "seconds without progress before a peer is declared dead"),
    ROW("RCOMM_HANDSHAKE_TIMEOUT", CFG_DOUBLE, handshake_timeout_s, "5",
        "seconds a new connection has to prove the job key before it is dropped"),
    ROW("RCOMM_REQUIRE_KEY", CFG_BOOL, require_key, "0",
        "1: refuse to start without a job key (RCOMM_JOB_KEY or RCOMM_JOB_KEY_FILE; "
        "rcomm-run makes one per job)"),
    ROW("RCOMM_TRANSPORT", CFG_STRING, transport, "tcp",
        "transport between hosts: tcp (verbs when built with it); shm: shared memory "
        "only, every rank on one host (RCOMM_SHM adds it for the ranks of a host)"),
    ROW("RCOMM_BOOTSTRAP", CFG_BOOT, bootstrap, "auto",
        "how ranks find each other: store (rank 0's, at RCOMM_ADDR), pmix (the "
        "launcher's PMIx server: srun --mpi=pmix, mpirun), auto (pmix when a PMIx "
        "server started the process, rcomm has PMIx and RCOMM_ADDR is not set)"),
    ROW("RCOMM_HOST", CFG_STRING, host, "",
        "address peers use to reach this rank (default: the one that reaches "
        "RCOMM_ADDR; under PMIx 127.0.0.1 when the whole job is on one host, else the "
        "first address of the host's name that is not loopback)"),
    ROW("RCOMM_ALLREDUCE_ALGO", CFG_ALGO, allreduce_algo, "auto",
        "allreduce algorithm: auto, ring, butterfly, rd, direct, hier (per host, across "
        "hosts, "
        "per host: ranks that share memory)"),
    ROW("RCOMM_SEGMENT_SIZE", CFG_SIZE, segment_size, "256K",
        "pipeline segment in bytes: reduction of one overlaps transfer of the next"),
    ROW("RCOMM_PIPELINE_DEPTH", CFG_SIZE, pipeline_depth, "4",
        "segments in flight per peer (scratch = depth x segment)"),
    ROW("RCOMM_SCRATCH_CACHE", CFG_SIZE, scratch_cache, "64M",
        "scratch bytes kept between collectives (reused: no page faults, stays "
        "registered)"),
    ROW("RCOMM_TCP_BUFSIZE", CFG_SIZE, tcp_bufsize, "4M",
        "SO_SNDBUF/SO_RCVBUF of every data socket (fixed, never autotuned)"),
    ROW("RCOMM_TCP_EAGER", CFG_SIZE, tcp_eager, "64K",
        "largest message sent at once (buffered if unexpected), at most 64M; "
        "larger ones are announced and sent when their receive is posted (zero copy)"),
    ROW("RCOMM_SPIN_US", CFG_DOUBLE, spin_us, "200",
        "microseconds to busy-poll before sleeping in epoll_wait"),
    ROW("RCOMM_OVERSUB_SPIN_US", CFG_AUTONUM, oversub_spin_us, "auto",
        "the same when ranks outnumber the cores of their host (polls yield the CPU); "
        "auto: 2000 when shared memory serves every peer (a waiting rank copies its "
        "own messages there), else 0"),
    ROW("RCOMM_OVERSUBSCRIBED", CFG_AUTOINT, oversubscribed, "auto",
        "auto (more ranks on the host than cores in their cpusets), 1 or 0"),
    ROW("RCOMM_TUNING_FILE", CFG_STRING, tuning_file, "",
        "cost model measured by rcomm-tune (read by rank 0, shared; default: the "
        "built-in profile of the transport)"),
    ROW("RCOMM_BROADCAST_ALGO", CFG_BCAST, bcast_algo, "auto",
        "broadcast algorithm: auto, binomial, chain"),
    ROW("RCOMM_REDUCE_ALGO", CFG_REDUCE, reduce_algo, "auto",
        "reduce algorithm: auto, binomial (tree), rsg (reduce-scatter + gather)"),
    ROW("RCOMM_PROGRESS", CFG_PROGRESS, progress_thread, "caller",
        "who advances posted operations: caller (inside rcomm calls) or thread (a "
        "progress thread per communicator, also while the caller computes)"),
    ROW("RCOMM_PROGRESS_CPU", CFG_CPU, progress_cpu, "auto",
        "progress thread binding: auto (a core near the device, away from the "
        "caller's), none, or a CPU number"),
    ROW("RCOMM_BIND", CFG_BIND, bind, "none",
        "pin each rank at creation: none, core (the host's i-th rank on its i-th "
        "allowed core) or numa (on its i-th NUMA node)"),
    ROW("RCOMM_LOG_LEVEL", CFG_LOGLEVEL, log_level, "error",
        "none, error, warn, info or debug"),
    ROW("RCOMM_SHM", CFG_SHM, shm, "auto",
        "auto: ranks of one host (same kernel boot, network and PID namespaces, "
        "/dev/shm and user) talk through shared memory, the others over "
        "RCOMM_TRANSPORT; off: RCOMM_TRANSPORT for every peer"),
    ROW("RCOMM_SHM_EAGER", CFG_SIZE, shm_eager, "16K",
        "shm: largest message copied through the ring; larger ones are copied once, "
        "straight from the sender's memory (cross-memory attach)"),
    ROW("RCOMM_SHM_RING", CFG_SIZE, shm_ring, "256K",
        "shm: bytes of the ring each peer writes into (rounded up to a power of two, "
        "at least 64K, at most 64M)"),
    ROW("RCOMM_SHM_CMA", CFG_BOOL, shm_cma, "1",
        "shm: 0 copies large messages and one-sided data through the ring instead of "
        "with process_vm_readv/writev (which ptrace rules may forbid: then it does so "
        "anyway)"),
    ROW("RCOMM_SHM_MAPPED", CFG_BOOL, shm_mapped, "1",
        "shm: 0 keeps allreduces between rcomm_mem_alloc buffers on the usual path "
        "(no mapped AllReduce, blocking or not); the same on every rank"),
    ROW("RCOMM_SHM_STAGED", CFG_BOOL, shm_staged, "1",
        "shm: 0 keeps large blocking allreduces between other buffers on the usual path "
        "(no staged AllReduce through the mailboxes); the same on every rank"),
    ROW("RCOMM_IB_HCA", CFG_STRING, ib_hca, "",
        "verbs: device[:port] (default: the active device nearest the process's CPUs, "
        "else the first active one)"),
    ROW("RCOMM_IB_GID_INDEX", CFG_AUTOINT, ib_gid_index, "auto",
        "verbs: GID index (auto: on RoCE a v2 GID of an IPv4 address)"),
    ROW("RCOMM_IB_USE_RDMA_CM", CFG_BOOL, ib_use_rdma_cm, "0",
        "verbs: connect queue pairs with librdmacm (IP routes, fast peer-loss "
        "detection) instead of from published QP numbers"),
    ROW("RCOMM_IB_EAGER", CFG_SIZE, ib_eager, "8K",
        "verbs: largest message sent eagerly (copied); larger ones are zero-copy"),
    ROW("RCOMM_IB_RX_DEPTH", CFG_SIZE, ib_rx_depth, "32",
        "verbs: receives posted per peer (= credits of each sender)"),
    ROW("RCOMM_IB_SQ_DEPTH", CFG_SIZE, ib_sq_depth, "128",
        "verbs: send queue entries per peer"),
    ROW("RCOMM_IB_TIMEOUT", CFG_SIZE, ib_timeout, "16",
        "verbs: ack timeout exponent, 4.096 us x 2^n per retry (16 = 268 ms)"),
    ROW("RCOMM_IB_RETRY", CFG_SIZE, ib_retry, "6",
        "verbs: retransmissions before a peer is declared unreachable (7 = forever on "
        "rxe)"),
    ROW("RCOMM_IB_POLL", CFG_POLL, ib_poll_event, "busy",
        "verbs: busy (poll the CQ) or event (sleep on completion events when idle)"),
    ROW("RCOMM_IB_FORK_SAFE", CFG_BOOL, ib_fork_safe, "0",
        "verbs: call ibv_fork_init() (kernels before 5.13 corrupt transfers after "
        "fork(); the child then has no copy of registered memory)"),
    ROW("RCOMM_IB_REG_CACHE", CFG_SIZE, ib_reg_cache, "1G",
        "verbs: bytes the registration cache may keep pinned (also <= RLIMIT_MEMLOCK)"),
};

/* Names rcomm reads that are not tunables: the launchers' and the job key's
 * (set by rcomm-run or by hand), and those of the tests and tools. */
static const char *const other_names[] = {
    "RCOMM_ADDR",           "RCOMM_RANK",         "RCOMM_SIZE",
    "RCOMM_LOCAL_RANK",     "RCOMM_LOCAL_SIZE",   "RCOMM_RCACHE_NO_MONITOR",
    "RCOMM_JOB_KEY",        "RCOMM_JOB_KEY_FILE", "RCOMM_RUN",
    "RCOMM_TEST_TRANSPORT", "RCOMM_TEST_VERBOSE", "RCOMM_CHECK_QUICK",
    "RCOMM_PROGRESS_QUICK", "RCOMM_SIMHOSTS",     "RCOMM_TEST_FWD",
    "RCOMM_TEST_SET",       "RCOMM_PERF",         "RCOMM_TEST_RANKS",
    "RCOMM_TEST_SHM",       "RCOMM_TP_QUICK",     "RCOMM_NO_PMIX_TESTS",
    "RCOMM_STORE_FD",
};

/* The verbs transport signals every 16th WQE; a queue must hold two rounds. */
#define VX_MIN_SQ 16

#define NROWS (sizeof(cfg_rows) / sizeof(cfg_rows[0]))

static int parse_loglevel(const char *s)
{
    static const char *names[] = {"none", "error", "warn", "info", "debug"};
    for (int i = 0; i < 5; i++)
        if (strcasecmp(s, names[i]) == 0)
            return i;
    return -1;
}

int base_parse_size(const char *s, size_t *out)
{
    char *end;
    unsigned long long v;
    int shift = 0;

    errno = 0;
    if (*s == '-')
        return -1;
    v = strtoull(s, &end, 10);
    if (errno || end == s)
        return -1;
    switch (*end) {
    case 'k':
    case 'K': shift = 10; break;
    case 'm':
    case 'M': shift = 20; break;
    case 'g':
    case 'G': shift = 30; break;
    default: break;
    }
    end += shift != 0;
    /* A suffix that would shift bits out is an overflow, not a smaller size. */
    if (*end != '\0' || v > (ULLONG_MAX >> shift) || (v << shift) > SIZE_MAX)
        return -1;
    *out = (size_t)(v << shift);
    return 0;
}

static int parse_bool(const char *s)
{
    static const char *names[] = {"0", "no", "false", "off", "1", "yes", "true", "on"};
    for (int i = 0; i < 8; i++)
        if (strcasecmp(s, names[i]) == 0)
            return i >= 4;
    return -1;
}

static rcomm_status_t set_field(base_config_t *cfg, const cfg_row_t *row, const char *val)
{
    char *field = (char *)cfg + row->offset;
    char *end;
    double d;
    rcomm_algo_t algo;
    int lvl;
    long l;

    switch (row->type) {
    case CFG_AUTONUM:
        if (strcasecmp(val, "auto") == 0) {
            *(double *)field = -1;
            return RCOMM_OK;
        }
        /* fall through */
    case CFG_DOUBLE:
        errno = 0;
        d = strtod(val, &end);
        if (errno || end == val || *end != '\0' || !isfinite(d) || d < 0)
            goto bad;
        *(double *)field = d;
        return RCOMM_OK;
    case CFG_SIZE:
        if (base_parse_size(val, (size_t *)field) != 0)
            goto bad;
        return RCOMM_OK;
    case CFG_STRING:
        if (strlen(val) >= row->len)
            goto bad;
        strcpy(field, val);
        return RCOMM_OK;
    case CFG_ALGO:
        if (rcomm_algo_parse(val, &algo) != RCOMM_OK)
            goto bad;
        *(int *)field = (int)algo;
        return RCOMM_OK;
    case CFG_LOGLEVEL:
        if ((lvl = parse_loglevel(val)) < 0)
            goto bad;
        *(int *)field = lvl;
        return RCOMM_OK;
    case CFG_BOOL:
        if ((lvl = parse_bool(val)) < 0)
            goto bad;
        *(int *)field = lvl;
        return RCOMM_OK;
    case CFG_AUTOINT:
        if (strcasecmp(val, "auto") == 0) {
            *(int *)field = -1;
            return RCOMM_OK;
        }
        errno = 0;
        l = strtol(val, &end, 10);
        if (errno || end == val || *end != '\0' || l < 0 || l > 65535)
            goto bad;
        *(int *)field = (int)l;
        return RCOMM_OK;
    case CFG_POLL:
        if (strcasecmp(val, "busy") != 0 && strcasecmp(val, "event") != 0)
            goto bad;
        *(int *)field = strcasecmp(val, "event") == 0;
        return RCOMM_OK;
    case CFG_PROGRESS:
        if (strcasecmp(val, "caller") != 0 && strcasecmp(val, "thread") != 0)
            goto bad;
        *(int *)field = strcasecmp(val, "thread") == 0;
        return RCOMM_OK;
    case CFG_CPU:
        if (strcasecmp(val, "auto") == 0 || strcasecmp(val, "none") == 0) {
            *(int *)field = strcasecmp(val, "auto") == 0 ? -1 : -2;
            return RCOMM_OK;
        }
        errno = 0;
        l = strtol(val, &end, 10);
        if (errno || end == val || *end != '\0' || l < 0 || l >= 65536)
            goto bad;
        *(int *)field = (int)l;
        return RCOMM_OK;
    case CFG_BCAST:
    case CFG_REDUCE:
    case CFG_BIND:
    case CFG_SHM:
    case CFG_BOOT:
        for (int i = 0, n = 3; i < n; i++)
            if (strcasecmp(val, choice_names(row->type, &n)[i]) == 0) {
                *(int *)field = i - 1;
                return RCOMM_OK;
            }
        goto bad;
    }
bad:
    return base_err(RCOMM_ERR_CONFIG, "%s='%s' is not valid (%s)", row->env, val,
                    row->help);
}

/* ---- names that are not ours ---------------------------------------------- */

#define NAME_MAX_CMP 64 /* longer names get no suggestion */

/* Edit distance between a and b, ignoring case, with a swap of two
 * neighbours counting as one edit (optimal string alignment): "TIMOUT" is 1
 * from "TIMEOUT", "SZIE" 1 from "SIZE". */
static size_t edit_distance(const char *a, size_t la, const char *b, size_t lb)
{
    size_t d[NAME_MAX_CMP + 1][NAME_MAX_CMP + 1];

    for (size_t i = 0; i <= la; i++)
        d[i][0] = i;
    for (size_t j = 0; j <= lb; j++)
        d[0][j] = j;
    for (size_t i = 1; i <= la; i++)
        for (size_t j = 1; j <= lb; j++) {
            const int ai = toupper((unsigned char)a[i - 1]),
                      bj = toupper((unsigned char)b[j - 1]);
            size_t v = d[i - 1][j - 1] + (ai != bj);
            if (d[i - 1][j] + 1 < v)
                v = d[i - 1][j] + 1;
            if (d[i][j - 1] + 1 < v)
                v = d[i][j - 1] + 1;
            if (i > 1 && j > 1 && ai == toupper((unsigned char)b[j - 2]) &&
                bj == toupper((unsigned char)a[i - 2]) && d[i - 2][j - 2] + 1 < v)
                v = d[i - 2][j - 2] + 1;
            d[i][j] = v;
        }
    return d[la][lb];
}

static const char *known_name(size_t i)
{
    return i < NROWS ? cfg_rows[i].env : other_names[i - NROWS];
}
#define NKNOWN (NROWS + sizeof(other_names) / sizeof(other_names[0]))

static int is_known(const char *name, size_t len)
{
    for (size_t i = 0; i < NKNOWN; i++)
        if (strlen(known_name(i)) == len && strncmp(known_name(i), name, len) == 0)
            return 1;
    return 0;
}

const char *base_config_closest(const char *name, size_t len)
{
    const char *best = NULL;
    size_t best_d = SIZE_MAX;

    if (len > NAME_MAX_CMP)
        return NULL;
    for (size_t i = 0; i < NKNOWN; i++) {
        const char *k = known_name(i);
        size_t d = edit_distance(name, len, k, strlen(k));
        if (d < best_d) {
            best_d = d;
            best = k;
        }
    }
    /* Only a likely typo: at most two edits, and at most one per three
     * letters after RCOMM_, so that RCOMM_FOO suggests nothing. */
    if (best_d > 2 || (len > 6 && 3 * best_d > len - 6))
        return NULL;
    return best;
}

/* Each RCOMM_* variable of the environment that rcomm does not read. Only
 * the name is printed: the value may be a secret (a mistyped
 * RCOMM_JOB_KEY). */
static void warn_unknown(void)
{
    for (char **e = environ; e && *e; e++) {
        const char *eq = strchr(*e, '='), *close;
        size_t len = eq ? (size_t)(eq - *e) : strlen(*e);

        if (len <= 6 || strncasecmp(*e, "RCOMM_", 6) != 0 || is_known(*e, len))
            continue;
        /* Nothing fails, but a typo nobody sees is what this is for. */
        if ((close = base_config_closest(*e, len)) != NULL)
            base_log_loud_warning(
                "%.*s is not an rcomm variable; did you mean %s? (ignored)",
                (int)(len < 96 ? len : 96), *e, close);
        else
            base_log_loud_warning(
                "%.*s is not an rcomm variable (ignored; rcomm-info lists them)",
                (int)(len < 96 ? len : 96), *e);
    }
}

static pthread_once_t warn_once = PTHREAD_ONCE_INIT;

rcomm_status_t base_config_load(base_config_t *cfg)
{
    base_config_t tmp;
    rcomm_status_t st;

    pthread_once(&warn_once, warn_unknown);
    memset(&tmp, 0, sizeof(tmp));
    for (size_t i = 0; i < NROWS; i++) {
        const char *env = getenv(cfg_rows[i].env);
        st = set_field(&tmp, &cfg_rows[i], cfg_rows[i].dflt);
        if (st != RCOMM_OK)
            return RCOMM_ERR_INTERNAL;
        if (env && *env && (st = set_field(&tmp, &cfg_rows[i], env)) != RCOMM_OK)
            return st;
    }
    if (!(tmp.timeout_s > 0))
        return base_err(
            RCOMM_ERR_CONFIG,
            "RCOMM_TIMEOUT='%g' must be more than 0 seconds: it is how long a "
            "dead peer can go unnoticed",
            tmp.timeout_s);
    if (!(tmp.handshake_timeout_s > 0))
        return base_err(RCOMM_ERR_CONFIG,
                        "RCOMM_HANDSHAKE_TIMEOUT='%g' must be more than 0 seconds",
                        tmp.handshake_timeout_s);
    if (tmp.segment_size < 64 || tmp.pipeline_depth < 1 || tmp.tcp_bufsize < 4096 ||
        tmp.tcp_eager > BASE_TCP_EAGER_MAX)
        return base_err(RCOMM_ERR_CONFIG,
                        "RCOMM_SEGMENT_SIZE must be >= 64, RCOMM_PIPELINE_DEPTH >= 1, "
                        "RCOMM_TCP_BUFSIZE >= 4096 and RCOMM_TCP_EAGER <= 64M");
    if (tmp.ib_rx_depth < 4 || tmp.ib_rx_depth > 4096 ||
        tmp.ib_sq_depth < 2 * VX_MIN_SQ || tmp.ib_sq_depth > 16384 ||
        tmp.ib_timeout < 1 || tmp.ib_timeout > 31 || tmp.ib_retry > 7 ||
        tmp.ib_eager > (1u << 20))
        return base_err(RCOMM_ERR_CONFIG,
                        "RCOMM_IB_RX_DEPTH must be in [4, 4096], RCOMM_IB_SQ_DEPTH in "
                        "[%d, 16384], RCOMM_IB_TIMEOUT in [1, 31], RCOMM_IB_RETRY <= 7 "
                        "and RCOMM_IB_EAGER <= 1M",
                        2 * VX_MIN_SQ);
    if (tmp.shm_ring > ((size_t)64 << 20) || tmp.shm_eager > (1u << 20))
        return base_err(RCOMM_ERR_CONFIG,
                        "RCOMM_SHM_RING must be <= 64M and RCOMM_SHM_EAGER <= 1M");
    *cfg = tmp;
    return RCOMM_OK;
}

int base_config_log_level(void)
{
    const char *s = getenv("RCOMM_LOG_LEVEL");
    int lvl = s ? parse_loglevel(s) : -1;
    return lvl < 0 ? BASE_LOG_ERROR : lvl;
}

const char *base_bcast_algo_name(int algo)
{
    return algo >= -1 && algo <= 1 ? bcast_names[algo + 1] : "?";
}

const char *base_reduce_algo_name(int algo)
{
    return algo >= -1 && algo <= 1 ? reduce_names[algo + 1] : "?";
}

static int seconds_to_ms(double s)
{
    double ms = s * 1000.0;
    return ms > 2e9 ? 2000000000 : ms < 1 ? 1 : (int)ms;
}

int base_config_timeout_ms(const base_config_t *cfg)
{
    return seconds_to_ms(cfg->timeout_s);
}

int base_config_handshake_ms(const base_config_t *cfg)
{
    /* A handshake is a few messages: never worth more than the job's timeout. */
    return seconds_to_ms(cfg->handshake_timeout_s < cfg->timeout_s
                             ? cfg->handshake_timeout_s
                             : cfg->timeout_s);
}

static void format_value(const base_config_t *cfg, const cfg_row_t *row, char *buf,
                         size_t len)
{
    static const char *lvl[] = {"none", "error", "warn", "info", "debug"};
    const char *field = (const char *)cfg + row->offset;

    switch (row->type) {
    case CFG_DOUBLE: snprintf(buf, len, "%g", *(const double *)field); break;
    case CFG_AUTONUM:
        if (*(const double *)field < 0)
            snprintf(buf, len, "auto");
        else
            snprintf(buf, len, "%g", *(const double *)field);
        break;
    case CFG_SIZE: snprintf(buf, len, "%zu", *(const size_t *)field); break;
    case CFG_STRING: snprintf(buf, len, "%s", field); break;
    case CFG_ALGO: snprintf(buf, len, "%s", rcomm_algo_name(*(const int *)field)); break;
    case CFG_LOGLEVEL: snprintf(buf, len, "%s", lvl[*(const int *)field]); break;
    case CFG_BOOL: snprintf(buf, len, "%d", *(const int *)field); break;
    case CFG_AUTOINT:
        if (*(const int *)field < 0)
            snprintf(buf, len, "auto");
        else
            snprintf(buf, len, "%d", *(const int *)field);
        break;
    case CFG_POLL:
        snprintf(buf, len, "%s", *(const int *)field ? "event" : "busy");
        break;
    case CFG_BCAST:
    case CFG_REDUCE:
    case CFG_BIND:
    case CFG_SHM:
    case CFG_BOOT: {
        int n;
        snprintf(buf, len, "%s", choice_names(row->type, &n)[*(const int *)field + 1]);
    } break;
    case CFG_PROGRESS:
        snprintf(buf, len, "%s", *(const int *)field ? "thread" : "caller");
        break;
    case CFG_CPU:
        if (*(const int *)field < 0)
            snprintf(buf, len, "%s", *(const int *)field == -1 ? "auto" : "none");
        else
            snprintf(buf, len, "%d", *(const int *)field);
        break;
    }
}

void base_config_write(const base_config_t *cfg, FILE *out)
{
    char val[80];

    fprintf(out, "%-22s %-10s %-8s %s\n", "# variable", "value", "default",
            "description");
    for (size_t i = 0; i < NROWS; i++) {
        format_value(cfg, &cfg_rows[i], val, sizeof(val));
        fprintf(out, "%-22s %-10s %-8s %s\n", cfg_rows[i].env, val[0] ? val : "\"\"",
                cfg_rows[i].dflt[0] ? cfg_rows[i].dflt : "\"\"", cfg_rows[i].help);
    }
}
