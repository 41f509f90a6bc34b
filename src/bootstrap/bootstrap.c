/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The bootstrap's entry points: every argument is checked here, once, with
 * an error naming what was wrong, and the call goes to the backend's ops
 * table (backend.h).
 */
#include <config.h> /* the build's: HAVE_PMIX */
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "bootstrap/backend.h"

static rcomm_status_t check_key(const char *key, const char *fn)
{
    size_t n;

    if (!key)
        return base_err(RCOMM_ERR_INVALID_ARG, "%s: key is NULL", fn);
    n = strlen(key);
    if (n == 0 || n > BOOTSTRAP_MAX_KEY)
        return base_err(RCOMM_ERR_INVALID_ARG,
                        "%s: key '%.40s%s' must have 1 to %d bytes", fn, key,
                        n > 40 ? "..." : "", BOOTSTRAP_MAX_KEY);
    return RCOMM_OK;
}

bool bootstrap_pmix_started(void)
{
    const char *ns = getenv("PMIX_NAMESPACE"), *rank = getenv("PMIX_RANK");

    return ns && *ns && rank && *rank;
}

#ifndef HAVE_PMIX
bool bootstrap_pmix_built(void)
{
    return false;
}

rcomm_status_t bootstrap_pmix_create(int timeout_ms, auth_key_t *key, bootstrap_t **bs)
{
    (void)timeout_ms, (void)key, (void)bs;
    return base_err(RCOMM_ERR_CONFIG,
                    "RCOMM_BOOTSTRAP=pmix: this rcomm was built without PMIx (Debian: "
                    "apt-get install libpmix-dev, then configure again)");
}
#endif

const char *bootstrap_name(const bootstrap_t *bs)
{
    return bs ? bs->ops->name : "none";
}

void bootstrap_where(const bootstrap_t *bs, bootstrap_where_t *where)
{
    if (bs && where)
        *where = bs->where;
}

rcomm_status_t bootstrap_put(bootstrap_t *bs, const char *key, const void *val,
                             size_t len)
{
    rcomm_status_t st;

    if (!bs)
        return base_err(RCOMM_ERR_INVALID_ARG, "bootstrap_put: bs is NULL");
    if ((st = check_key(key, "bootstrap_put")) != RCOMM_OK)
        return st;
    if (len > BOOTSTRAP_MAX_VALUE || (!val && len))
        return base_err(RCOMM_ERR_INVALID_ARG, "bootstrap_put '%s': %s", key,
                        val ? "value larger than 64 KiB" : "value is NULL");
    return bs->ops->put(bs, key, val, len);
}

rcomm_status_t bootstrap_get(bootstrap_t *bs, int owner, const char *key, void *val,
                             size_t *len)
{
    rcomm_status_t st;

    if (!bs || !len || (!val && *len))
        return base_err(RCOMM_ERR_INVALID_ARG, "bootstrap_get: %s is NULL",
                        !bs    ? "bs"
                        : !len ? "len"
                               : "val");
    if ((st = check_key(key, "bootstrap_get")) != RCOMM_OK)
        return st;
    if (owner < 0 || owner >= bs->where.size)
        return base_err(RCOMM_ERR_INVALID_ARG,
                        "bootstrap_get '%s': owner rank %d is not in [0, %d)", key, owner,
                        bs->where.size);
    return bs->ops->get(bs, owner, key, val, len);
}

rcomm_status_t bootstrap_allgather(bootstrap_t *bs, const char *prefix, const void *mine,
                                   void *all, size_t len)
{
    char key[BOOTSTRAP_MAX_KEY + 16];

    if (!bs || !prefix || (len && (!mine || !all)))
        return base_err(RCOMM_ERR_INVALID_ARG, "bootstrap_allgather: %s is NULL",
                        !bs       ? "bs"
                        : !prefix ? "prefix"
                        : !mine   ? "mine"
                                  : "all");
    if (!*prefix)
        return base_err(RCOMM_ERR_INVALID_ARG, "bootstrap_allgather: prefix is empty");
    if (len > BOOTSTRAP_MAX_VALUE)
        return base_err(
            RCOMM_ERR_INVALID_ARG,
            "bootstrap_allgather '%s': %zu bytes per rank is more than 64 KiB", prefix,
            len);
    if (snprintf(key, sizeof(key), "%s/%d", prefix, bs->where.size - 1) >
        BOOTSTRAP_MAX_KEY)
        return base_err(RCOMM_ERR_INVALID_ARG, "allgather: name '%.40s...' is too long",
                        prefix);
    return bs->ops->allgather(bs, prefix, mine, all, len);
}

rcomm_status_t bootstrap_barrier(bootstrap_t *bs, const char *name)
{
    if (!bs || !name)
        return base_err(RCOMM_ERR_INVALID_ARG, "bootstrap_barrier: %s is NULL",
                        !bs ? "bs" : "name");
    return bs->ops->barrier(bs, name);
}

const char *bootstrap_local_host(const bootstrap_t *bs)
{
    return bs ? bs->ops->local_host(bs) : NULL;
}

void bootstrap_destroy(bootstrap_t *bs)
{
    if (bs)
        bs->ops->destroy(bs);
}
