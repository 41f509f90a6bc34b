/* SPDX-License-Identifier: BSD-3-Clause */
/* One-sided access checks and refusals: see rma.h. */
#include "transports/util/rma.h"

#include <stdio.h>

#include "base/error.h"
#include "transports/transport.h"

static const struct {
    const char *post, *name, *right;
    unsigned bit;
} kinds[] = {
    [TP_PUT] = {"put to", "put", "remote-write", TP_REMOTE_WRITE},
    [TP_GET] = {"get from", "get", "remote-read", TP_REMOTE_READ},
    [TP_FADD] = {"fetch_add on", "fetch_add", "remote-atomic", TP_REMOTE_ATOMIC},
    [TP_CSWAP] = {"compare_swap on", "compare_swap", "remote-atomic", TP_REMOTE_ATOMIC},
};

const char *tp_rma_post(tp_rma_t kind)
{
    return kinds[kind].post;
}

const char *tp_rma_name(tp_rma_t kind)
{
    return kinds[kind].name;
}

tp_acc_t tp_rma_access(tp_rma_t kind, uint64_t base, uint64_t rlen, unsigned granted,
                       uint64_t raddr, uint64_t len)
{
    if (raddr < base || len > rlen || raddr - base > rlen - len)
        return TP_ACC_RANGE;
    if (!(granted & kinds[kind].bit))
        return TP_ACC_RIGHTS;
    if (kind >= TP_FADD && raddr % 8 != 0)
        return TP_ACC_ALIGN;
    return TP_ACC_OK;
}

rcomm_status_t tp_rma_denied(int rank, int peer, tp_rma_t kind, uint64_t len,
                             uint64_t raddr, uint64_t key, tp_acc_t why, uint64_t base,
                             uint64_t rlen)
{
    char text[128];

    switch (why) {
    case TP_ACC_NO_KEY:
        snprintf(text, sizeof(text), "rank %d has no region with that key", peer);
        break;
    case TP_ACC_RANGE:
        snprintf(text, sizeof(text), "the bytes are outside the region [0x%llx, +%llu)",
                 (unsigned long long)base, (unsigned long long)rlen);
        break;
    case TP_ACC_RIGHTS:
        snprintf(text, sizeof(text), "the region lacks the %s right", kinds[kind].right);
        break;
    case TP_ACC_ALIGN:
        snprintf(text, sizeof(text), "the address is not 8-byte aligned");
        break;
    default: snprintf(text, sizeof(text), "reason %u", (unsigned)why); break;
    }
    return base_err(RCOMM_ERR_ACCESS,
                    "rank %d: %s of %llu bytes at 0x%llx in region key 0x%llx of rank %d "
                    "denied: %s",
                    rank, kinds[kind].name, (unsigned long long)len,
                    (unsigned long long)raddr, (unsigned long long)key, peer, text);
}

rcomm_status_t tp_rkey_ptr_check(const tp_t *tp, bool connected, int peer,
                                 const tp_rkey_t *rkey, unsigned access, void **ptr)
{
    const int rank = tp ? tp->rank : -1;

    if (ptr)
        *ptr = NULL;
    if (!ptr || !rkey)
        return base_err(RCOMM_ERR_INVALID_ARG, "rank %d: rkey_ptr to rank %d: %s is NULL",
                        rank, peer, !ptr ? "ptr" : "rkey");
    if (!access || (access & ~(unsigned)(TP_REMOTE_READ | TP_REMOTE_WRITE)))
        return base_err(RCOMM_ERR_INVALID_ARG,
                        "rank %d: rkey_ptr to rank %d: access 0x%x is not remote read, "
                        "remote write or both",
                        rank, peer, access);
    return tp_check_post(tp, connected, peer, ptr, "rkey_ptr to");
}

void tp_rkey_ptr_release_none(tp_t *tp, int peer, void *ptr)
{
    (void)tp;
    (void)peer;
    (void)ptr;
}

rcomm_status_t tp_rkey_ptr_unmapped(tp_t *tp, int peer, const tp_rkey_t *rkey,
                                    uint64_t raddr, size_t len, unsigned access,
                                    void **ptr)
{
    rcomm_status_t st = tp_rkey_ptr_check(tp, true, peer, rkey, access, ptr);

    (void)raddr;
    (void)len;
    if (st != RCOMM_OK)
        return st;
    return base_err(RCOMM_ERR_UNSUPPORTED,
                    "rank %d: rkey_ptr to rank %d: %s maps no peer's memory into this "
                    "process",
                    tp->rank, peer, tp->ops->name);
}
