/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The PMIx backend (backend.h): the launcher's process-management server
 * (srun --mpi=pmix, Open MPI's mpirun) is the key-value exchange, so that
 * nothing has to be exported. The mapping:
 *
 *   put        PMIx_Put(PMIX_GLOBAL) + PMIx_Commit
 *   get        PMIx_Get(owner) with PMIX_TIMEOUT, asked again with a growing
 *              pause (1 to 100 ms) while the key is NOT-FOUND, until the
 *              timeout: a late key such as rank 0's "tuning" (get_until)
 *   allgather  put, PMIx_Fence(PMIX_COLLECT_DATA, PMIX_TIMEOUT), then a
 *              PMIx_Get per rank from the local cache
 *   barrier    PMIx_Fence(PMIX_TIMEOUT)
 *
 * PMIx keys belong to the process, not to a communicator: each bootstrap
 * object (one per communicator created from the environment, in the same
 * order on every rank) prefixes its keys with "rcomm.<n>.", n counted per
 * process, so that a second communicator never reads the first one's
 * values from a cache.
 *
 * Values from PMIx are checked for their type and length before use.
 */
#include <config.h> /* the build's: HAVE_PMIX */

#ifdef HAVE_PMIX
#include <arpa/inet.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pmix.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/clock.h"
#include "base/error.h"
#include "bootstrap/backend.h"

typedef struct {
    bootstrap_t base;
    pmix_proc_t me;
    pmix_proc_t all; /* our namespace, every rank */
    int timeout_ms;
    unsigned instance;
    char hostname[PMIX_MAX_NSLEN + 1];
    char local_host[INET6_ADDRSTRLEN];
} pmix_bs_t;

/* Bootstrap objects made by this process so far (see the top). */
static atomic_uint instances;

/* The process's own PMIx_Init, held from the first bootstrap until exit.
 * Each bootstrap object holds one more (PMIx counts them), but were the
 * count to reach 0 between two communicators, the server would take the
 * process for gone: its peers' next fence completed without it (seen once
 * in 55 runs of tests/pmix_where --again under mpirun), and its own fence
 * then waited alone. atexit runs the last PMIx_Finalize, at exit or when
 * the library is unloaded. */
static pthread_once_t held_once = PTHREAD_ONCE_INIT;
static bool held;

static void release_held(void)
{
    if (held)
        PMIx_Finalize(NULL, 0);
    held = false;
}

static void hold_pmix(void)
{
    pmix_proc_t me;

    if (PMIx_Init(&me, NULL, 0) == PMIX_SUCCESS) {
        held = true;
        atexit(release_held);
    }
}

static const bootstrap_ops_t pmix_ops;

bool bootstrap_pmix_built(void)
{
    return true;
}

/* PMIX_TIMEOUT is in whole seconds: the timeout rounded up. */
static int timeout_s(const pmix_bs_t *bs)
{
    return bs->timeout_ms <= 0 ? 1 : (bs->timeout_ms + 999) / 1000;
}

static double since_s(uint64_t start)
{
    return (double)(base_now_ns() - start) / 1e9;
}

static void full_key(const pmix_bs_t *bs, const char *key, char out[PMIX_MAX_KEYLEN + 1])
{
    snprintf(out, PMIX_MAX_KEYLEN + 1, "rcomm.%u.%s", bs->instance, key);
}

/* An unsigned number of any integer type PMIx may use for it; -1 when the
 * value is not one or is out of range. */
static long value_uint(const pmix_value_t *v)
{
    uint64_t u;

    switch (v->type) {
    case PMIX_UINT8: u = v->data.uint8; break;
    case PMIX_UINT16: u = v->data.uint16; break;
    case PMIX_UINT32: u = v->data.uint32; break;
    case PMIX_UINT64: u = v->data.uint64; break;
    case PMIX_SIZE: u = v->data.size; break;
    case PMIX_UINT: u = v->data.uint; break;
    case PMIX_PROC_RANK: u = v->data.rank; break;
    case PMIX_INT:
        if (v->data.integer < 0)
            return -1;
        u = (uint64_t)v->data.integer;
        break;
    default: return -1;
    }
    return u > (1u << 30) ? -1 : (long)u;
}

/* A job or process attribute the server gives at start-up, within secs.
 * Not PMIX_OPTIONAL (the local cache only): after a PMIx_Finalize and a new
 * PMIx_Init (a second communicator) the job's attributes are no longer in
 * it, and only the server has them. */
static pmix_value_t *attr(const pmix_proc_t *proc, const char *key, int secs)
{
    pmix_info_t info;
    pmix_value_t *v = NULL;

    PMIX_INFO_LOAD(&info, PMIX_TIMEOUT, &secs, PMIX_INT);
    if (PMIx_Get(proc, key, &info, 1, &v) != PMIX_SUCCESS && v) {
        PMIX_VALUE_RELEASE(v);
        v = NULL;
    }
    PMIX_INFO_DESTRUCT(&info);
    return v;
}

/* As a number; -1 when absent or malformed. */
static long attr_uint(const pmix_proc_t *proc, const char *key, int secs)
{
    pmix_value_t *v = attr(proc, key, secs);
    long n = v ? value_uint(v) : -1;

    if (v)
        PMIX_VALUE_RELEASE(v);
    return n;
}

/* As a string into out; "" when absent, malformed or too long. */
static void attr_string(const pmix_proc_t *proc, const char *key, int secs, char *out,
                        size_t cap)
{
    pmix_value_t *v = attr(proc, key, secs);

    out[0] = '\0';
    if (v && v->type == PMIX_STRING && v->data.string &&
        strnlen(v->data.string, cap) < cap)
        snprintf(out, cap, "%s", v->data.string);
    if (v)
        PMIX_VALUE_RELEASE(v);
}

static rcomm_status_t pmix_put(bootstrap_t *b, const char *key, const void *val,
                               size_t len)
{
    pmix_bs_t *bs = (pmix_bs_t *)b;
    char k[PMIX_MAX_KEYLEN + 1];
    pmix_value_t v;
    pmix_status_t rc;

    full_key(bs, key, k);
    PMIX_VALUE_CONSTRUCT(&v);
    v.type = PMIX_BYTE_OBJECT;
    v.data.bo.bytes = (char *)val; /* copied by PMIx_Put */
    v.data.bo.size = len;
    if ((rc = PMIx_Put(PMIX_GLOBAL, k, &v)) != PMIX_SUCCESS)
        return base_err(RCOMM_ERR_BOOTSTRAP, "rank %d: PMIx_Put of key '%s' failed: %s",
                        b->where.rank, key, PMIx_Error_string(rc));
    if ((rc = PMIx_Commit()) != PMIX_SUCCESS)
        return base_err(RCOMM_ERR_BOOTSTRAP,
                        "rank %d: PMIx_Commit after key '%s' failed: %s", b->where.rank,
                        key, PMIx_Error_string(rc));
    return RCOMM_OK;
}

/* PMIx_Get of owner's key until the deadline. The server is asked again
 * each time (PMIX_GET_REFRESH_CACHE): a key the owner has not committed yet
 * is NOT-FOUND at once, not waited for, whenever the owner's data reached
 * us before (a fence brought it, or the server had some of it) -- PMIx 4.2
 * under mpirun does so in about one run of three with a late key, so a
 * direct-modex wait is not relied on. */
static pmix_status_t get_until(const pmix_proc_t *proc, const char *key,
                               uint64_t deadline, pmix_value_t **v)
{
    long pause_us = 1000;
    pmix_status_t rc;
    bool refresh = false; /* the first try may find it in the cache (a fence's) */

    for (;;) {
        pmix_info_t info[2];
        uint64_t now = base_now_ns();
        int secs = now >= deadline ? 1 : (int)((deadline - now + 999999999) / 1000000000);

        PMIX_INFO_LOAD(&info[0], PMIX_TIMEOUT, &secs, PMIX_INT);
        PMIX_INFO_LOAD(&info[1], PMIX_GET_REFRESH_CACHE, &refresh, PMIX_BOOL);
        *v = NULL;
        rc = PMIx_Get(proc, key, info, 2, v);
        PMIX_INFO_DESTRUCT(&info[0]);
        PMIX_INFO_DESTRUCT(&info[1]);
        if (rc != PMIX_ERR_NOT_FOUND || base_now_ns() >= deadline)
            return rc;
        if (*v)
            PMIX_VALUE_RELEASE(*v);
        refresh = true;
        usleep((useconds_t)pause_us);
        pause_us = pause_us * 2 > 100000 ? 100000 : pause_us * 2;
    }
}

/* owner's key into val (capacity *len; exact: the length it must have when
 * not 0). doing says what for, in errors. */
static rcomm_status_t fetch(pmix_bs_t *bs, int owner, const char *key, void *val,
                            size_t *len, size_t exact, const char *doing)
{
    const int rank = bs->base.where.rank;
    char k[PMIX_MAX_KEYLEN + 1];
    pmix_proc_t proc;
    pmix_value_t *v = NULL;
    pmix_status_t rc;
    uint64_t start = base_now_ns();
    rcomm_status_t st = RCOMM_OK;

    full_key(bs, key, k);
    PMIX_LOAD_PROCID(&proc, bs->me.nspace, (pmix_rank_t)owner);
    rc = get_until(&proc, k, start + (uint64_t)bs->timeout_ms * 1000000ull, &v);
    if (rc != PMIX_SUCCESS || !v) {
        if (v)
            PMIX_VALUE_RELEASE(v);
        return base_err(
            rc == PMIX_ERR_TIMEOUT || rc == PMIX_ERR_NOT_FOUND ? RCOMM_ERR_TIMEOUT
                                                               : RCOMM_ERR_BOOTSTRAP,
            "rank %d %s: PMIx_Get of key '%s' from rank %d returned %s after "
            "%.1f s (did rank %d start, and publish it?)",
            rank, doing, key, owner, PMIx_Error_string(rc), since_s(start), owner);
    }
    if (v->type != PMIX_BYTE_OBJECT || (v->data.bo.size && !v->data.bo.bytes))
        st = base_err(RCOMM_ERR_PROTOCOL,
                      "rank %d %s: key '%s' from rank %d has PMIx type %u, not bytes",
                      rank, doing, key, owner, (unsigned)v->type);
    else if (exact && v->data.bo.size != exact)
        st = base_err(RCOMM_ERR_MISMATCH,
                      "%s '%s': rank %d published %zu bytes, rank %d expected %zu", doing,
                      key, owner, v->data.bo.size, rank, exact);
    else if (v->data.bo.size > *len)
        st = base_err(RCOMM_ERR_INVALID_ARG,
                      "value of key '%s' has %zu bytes; the buffer holds %zu", key,
                      v->data.bo.size, *len);
    if (st == RCOMM_OK) {
        if (v->data.bo.size)
            memcpy(val, v->data.bo.bytes, v->data.bo.size);
        *len = v->data.bo.size;
    }
    PMIX_VALUE_RELEASE(v);
    return st;
}

static rcomm_status_t pmix_get(bootstrap_t *b, int owner, const char *key, void *val,
                               size_t *len)
{
    return fetch((pmix_bs_t *)b, owner, key, val, len, 0, "waiting");
}

/* Every rank's fence, bounded by the timeout; collect: bring every rank's
 * committed values along. */
static rcomm_status_t fence(pmix_bs_t *bs, bool collect, const char *what,
                            const char *name)
{
    pmix_info_t info[2];
    pmix_status_t rc;
    int secs = timeout_s(bs);
    uint64_t start = base_now_ns();

    PMIX_INFO_LOAD(&info[0], PMIX_TIMEOUT, &secs, PMIX_INT);
    PMIX_INFO_LOAD(&info[1], PMIX_COLLECT_DATA, &collect, PMIX_BOOL);
    rc = PMIx_Fence(&bs->all, 1, info, 2);
    PMIX_INFO_DESTRUCT(&info[0]);
    PMIX_INFO_DESTRUCT(&info[1]);
    if (rc == PMIX_SUCCESS)
        return RCOMM_OK;
    return base_err(rc == PMIX_ERR_TIMEOUT ? RCOMM_ERR_TIMEOUT : RCOMM_ERR_BOOTSTRAP,
                    "rank %d in %s '%s': PMIx_Fence returned %s after %.1f s (a rank of "
                    "the %d never reached it, or exited: check the other ranks' output; "
                    "RCOMM_TIMEOUT bounds the wait)",
                    bs->base.where.rank, what, name, PMIx_Error_string(rc),
                    since_s(start), bs->base.where.size);
}

static rcomm_status_t pmix_allgather(bootstrap_t *b, const char *prefix, const void *mine,
                                     void *all, size_t len)
{
    pmix_bs_t *bs = (pmix_bs_t *)b;
    char key[BOOTSTRAP_MAX_KEY + 16];
    rcomm_status_t st;

    snprintf(key, sizeof(key), "%s/%d", prefix, b->where.rank);
    if ((st = pmix_put(b, key, mine, len)) != RCOMM_OK ||
        (st = fence(bs, true, "allgather", prefix)) != RCOMM_OK)
        return st;
    for (int r = 0; r < b->where.size; r++) {
        unsigned char *slot = (unsigned char *)all + (size_t)r * len;
        size_t got = len;

        if (r == b->where.rank) {
            if (len)
                memcpy(slot, mine, len);
            continue;
        }
        snprintf(key, sizeof(key), "%s/%d", prefix, r);
        /* An empty value must be empty everywhere: exact 0 checks nothing,
         * so the capacity (0) does. */
        if ((st = fetch(bs, r, key, slot, &got, len, "allgather")) != RCOMM_OK)
            return st;
    }
    return RCOMM_OK;
}

static rcomm_status_t pmix_barrier(bootstrap_t *b, const char *name)
{
    return fence((pmix_bs_t *)b, false, "barrier", name);
}

static const char *pmix_local_host(const bootstrap_t *b)
{
    return ((const pmix_bs_t *)b)->local_host;
}

static void pmix_destroy(bootstrap_t *b)
{
    PMIx_Finalize(NULL, 0);
    free(b);
}

static const bootstrap_ops_t pmix_ops = {
    .name = "pmix",
    .put = pmix_put,
    .get = pmix_get,
    .allgather = pmix_allgather,
    .barrier = pmix_barrier,
    .local_host = pmix_local_host,
    .destroy = pmix_destroy,
};

/* The address peers reach us at: loopback when the whole job is on this
 * host; else the first address this host's name resolves to that is not
 * loopback; else the first interface that is up and not loopback. */
static void pick_local_host(pmix_bs_t *bs)
{
    struct addrinfo hints = {.ai_family = AF_INET, .ai_socktype = SOCK_STREAM}, *res;
    struct ifaddrs *ifs;
    const bootstrap_where_t *w = &bs->base.where;

    snprintf(bs->local_host, sizeof(bs->local_host), "127.0.0.1");
    if (w->local_size == w->size)
        return;
    if (getaddrinfo(bs->hostname, NULL, &hints, &res) == 0) {
        for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
            const struct sockaddr_in *in = (const struct sockaddr_in *)ai->ai_addr;
            if ((ntohl(in->sin_addr.s_addr) >> 24) == 127)
                continue;
            inet_ntop(AF_INET, &in->sin_addr, bs->local_host, sizeof(bs->local_host));
            freeaddrinfo(res);
            return;
        }
        freeaddrinfo(res);
    }
    if (getifaddrs(&ifs) != 0)
        return;
    for (struct ifaddrs *i = ifs; i; i = i->ifa_next)
        if (i->ifa_addr && i->ifa_addr->sa_family == AF_INET && (i->ifa_flags & IFF_UP) &&
            !(i->ifa_flags & IFF_LOOPBACK)) {
            inet_ntop(AF_INET, &((const struct sockaddr_in *)i->ifa_addr)->sin_addr,
                      bs->local_host, sizeof(bs->local_host));
            break;
        }
    freeifaddrs(ifs);
}

/* The job key when the user gave none: rank 0 draws one and publishes it
 * ("jobkey": a flag byte, then the key's text); flag 1 says rank 0 had a
 * key of its own, which is not published, so the others need it too. Ranks
 * with a key of their own read nothing: the handshakes check that it is
 * the same everywhere. */
#define KEY_MSG_LEN (1 + AUTH_KEY_TEXT_LEN)

static rcomm_status_t share_key(pmix_bs_t *bs, auth_key_t *key)
{
    unsigned char msg[KEY_MSG_LEN];
    size_t len = sizeof(msg);
    rcomm_status_t st;

    memset(msg, 0, sizeof(msg));
    if (bs->base.where.rank == 0) {
        char text[AUTH_KEY_TEXT_LEN + 1];

        msg[0] = key->keyed;
        if (!key->keyed) {
            if ((st = auth_key_generate_text(text)) != RCOMM_OK)
                return st;
            memcpy(msg + 1, text, AUTH_KEY_TEXT_LEN);
            st = auth_key_from_text(key, text, AUTH_KEY_TEXT_LEN, "the key from PMIx");
            memset(text, 0, sizeof(text));
            if (st != RCOMM_OK)
                return st;
        }
        st = pmix_put(&bs->base, "jobkey", msg, sizeof(msg));
        memset(msg, 0, sizeof(msg));
        return st;
    }
    if (key->keyed)
        return RCOMM_OK;
    st = fetch(bs, 0, "jobkey", msg, &len, sizeof(msg), "waiting for the job key");
    if (st == RCOMM_OK && msg[0] > 1)
        st = base_err(RCOMM_ERR_PROTOCOL, "rank %d: the job key from PMIx is malformed",
                      bs->base.where.rank);
    else if (st == RCOMM_OK && msg[0] == 1)
        st =
            base_err(RCOMM_ERR_AUTH,
                     "rank %d has no job key and rank 0 has one of its own "
                     "(RCOMM_JOB_KEY or RCOMM_JOB_KEY_FILE): set it on every rank, or on "
                     "none and PMIx hands out a fresh one",
                     bs->base.where.rank);
    else if (st == RCOMM_OK)
        st = auth_key_from_text(key, (const char *)msg + 1, AUTH_KEY_TEXT_LEN,
                                "the key from PMIx");
    memset(msg, 0, sizeof(msg));
    return st;
}

rcomm_status_t bootstrap_pmix_create(int timeout_ms, auth_key_t *key, bootstrap_t **out)
{
    pmix_bs_t *bs;
    pmix_status_t rc;
    rcomm_status_t st;
    long size, lrank, lsize;

    if (!out || !key)
        return base_err(RCOMM_ERR_INVALID_ARG, "bootstrap_pmix_create: %s is NULL",
                        !out ? "bs" : "key");
    if (timeout_ms < 0)
        return base_err(RCOMM_ERR_INVALID_ARG,
                        "bootstrap_pmix_create: timeout %d ms is negative", timeout_ms);
    if (!bootstrap_pmix_started())
        return base_err(RCOMM_ERR_CONFIG,
                        "RCOMM_BOOTSTRAP=pmix, but no PMIx server started this process "
                        "(PMIX_NAMESPACE and PMIX_RANK are not set): start it with srun "
                        "--mpi=pmix or mpirun, or set RCOMM_BOOTSTRAP=store (or auto)");
    if (!(bs = calloc(1, sizeof(*bs))))
        return base_err(RCOMM_ERR_NO_MEMORY, "bootstrap_pmix_create: out of memory");
    pthread_once(&held_once, hold_pmix);
    if ((rc = PMIx_Init(&bs->me, NULL, 0)) != PMIX_SUCCESS) {
        free(bs);
        return base_err(RCOMM_ERR_BOOTSTRAP,
                        "PMIx_Init failed: %s (PMIX_NAMESPACE=%s, PMIX_RANK=%s: is the "
                        "launcher's PMIx server still there?)",
                        PMIx_Error_string(rc), getenv("PMIX_NAMESPACE"),
                        getenv("PMIX_RANK"));
    }
    bs->base.ops = &pmix_ops;
    bs->timeout_ms = timeout_ms;
    bs->instance = atomic_fetch_add(&instances, 1);
    PMIX_LOAD_PROCID(&bs->all, bs->me.nspace, PMIX_RANK_WILDCARD);
    size = attr_uint(&bs->all, PMIX_JOB_SIZE, timeout_s(bs));
    lrank = attr_uint(&bs->me, PMIX_LOCAL_RANK, timeout_s(bs));
    lsize = attr_uint(&bs->all, PMIX_LOCAL_SIZE, timeout_s(bs));
    attr_string(&bs->me, PMIX_HOSTNAME, timeout_s(bs), bs->hostname,
                sizeof(bs->hostname));
    if (!bs->hostname[0] && gethostname(bs->hostname, sizeof(bs->hostname) - 1) != 0)
        bs->hostname[0] = '\0';
    if (size < 1 || bs->me.rank >= (pmix_rank_t)size) {
        st = base_err(RCOMM_ERR_BOOTSTRAP,
                      "PMIx gave rank %u and job size %ld (PMIx_Get of %s): not a rank "
                      "in a job",
                      (unsigned)bs->me.rank, size, PMIX_JOB_SIZE);
        goto undo_init;
    }
    if (lsize < 1 || lsize > size || lrank < 0 || lrank >= lsize)
        lrank = lsize = -1; /* unknown: the ranks' host names decide */
    bs->base.where =
        (bootstrap_where_t){(int)bs->me.rank, (int)size, (int)lrank, (int)lsize,
                            bs->hostname[0] ? bs->hostname : NULL};
    pick_local_host(bs);
    if ((st = share_key(bs, key)) != RCOMM_OK)
        goto undo_init;
    *out = &bs->base;
    return RCOMM_OK;

undo_init:
    PMIx_Finalize(NULL, 0);
    free(bs);
    return st;
}
#endif
