/* SPDX-License-Identifier: BSD-3-Clause */
/* Tunables: one table (config.c) gives each its RCOMM_* name, default and
 * description; base_config_load() fills this struct from the environment. */
#ifndef RCOMM_CONFIG_H
#define RCOMM_CONFIG_H

/* The largest RCOMM_TCP_EAGER: it bounds what a peer may make us buffer. */
#define BASE_TCP_EAGER_MAX ((size_t)64 << 20)

#include <stddef.h>
#include <stdio.h>

#include "rcomm.h"

typedef struct {
    double timeout_s;           /* RCOMM_TIMEOUT */
    double handshake_timeout_s; /* RCOMM_HANDSHAKE_TIMEOUT */
    int require_key;            /* RCOMM_REQUIRE_KEY */
    char transport[16];         /* RCOMM_TRANSPORT */
    char host[64];              /* RCOMM_HOST */
    int allreduce_algo;         /* RCOMM_ALLREDUCE_ALGO (rcomm_algo_t) */
    size_t segment_size;        /* RCOMM_SEGMENT_SIZE */
    size_t pipeline_depth;      /* RCOMM_PIPELINE_DEPTH */
    size_t scratch_cache;       /* RCOMM_SCRATCH_CACHE */
    size_t tcp_bufsize;         /* RCOMM_TCP_BUFSIZE */
    size_t tcp_eager;           /* RCOMM_TCP_EAGER, at most BASE_TCP_EAGER_MAX */
    double spin_us;             /* RCOMM_SPIN_US */
    double oversub_spin_us;     /* RCOMM_OVERSUB_SPIN_US */
    int oversubscribed;         /* RCOMM_OVERSUBSCRIBED (-1 auto, 0, 1) */
    char tuning_file[256];      /* RCOMM_TUNING_FILE */
    int bcast_algo;             /* RCOMM_BROADCAST_ALGO (-1 auto, coll_bcast_algo_t) */
    int reduce_algo;            /* RCOMM_REDUCE_ALGO (-1 auto, coll_reduce_algo_t) */
    int progress_thread;        /* RCOMM_PROGRESS (0 caller, 1 thread) */
    int progress_cpu;           /* RCOMM_PROGRESS_CPU (-1 auto, -2 none, N) */
    int bind;                   /* RCOMM_BIND (BASE_BIND_*) */
    int log_level;              /* RCOMM_LOG_LEVEL */
    int shm;                    /* RCOMM_SHM (-1 auto, 0 off) */
    int bootstrap;              /* RCOMM_BOOTSTRAP (BASE_BOOT_*) */
    size_t shm_eager;           /* RCOMM_SHM_EAGER */
    size_t shm_ring;            /* RCOMM_SHM_RING */
    int shm_cma;                /* RCOMM_SHM_CMA */
    int shm_mapped;             /* RCOMM_SHM_MAPPED */
    int shm_staged;             /* RCOMM_SHM_STAGED */
    char ib_hca[64];            /* RCOMM_IB_HCA */
    int ib_gid_index;           /* RCOMM_IB_GID_INDEX (-1 = auto) */
    int ib_use_rdma_cm;         /* RCOMM_IB_USE_RDMA_CM */
    size_t ib_eager;            /* RCOMM_IB_EAGER */
    size_t ib_rx_depth;         /* RCOMM_IB_RX_DEPTH */
    size_t ib_sq_depth;         /* RCOMM_IB_SQ_DEPTH */
    size_t ib_timeout;          /* RCOMM_IB_TIMEOUT (exponent) */
    size_t ib_retry;            /* RCOMM_IB_RETRY */
    int ib_poll_event;          /* RCOMM_IB_POLL (0 busy, 1 event) */
    int ib_fork_safe;           /* RCOMM_IB_FORK_SAFE */
    size_t ib_reg_cache;        /* RCOMM_IB_REG_CACHE */
} base_config_t;

/* RCOMM_BIND: where a rank pins itself (base_topo_bind). */
enum { BASE_BIND_NONE = -1, BASE_BIND_CORE = 0, BASE_BIND_NUMA = 1 };
/* RCOMM_BOOTSTRAP: which bootstrap backend (core/comm.c). */
enum { BASE_BOOT_AUTO = -1, BASE_BOOT_STORE = 0, BASE_BOOT_PMIX = 1 };

/* Defaults overridden by the environment. A malformed value is an
 * RCOMM_ERR_CONFIG naming the variable and the value. */
rcomm_status_t base_config_load(base_config_t *cfg);

/* The first base_config_load of the process also logs each RCOMM_*
 * variable of the environment that rcomm does not read (a name, never its
 * value), with the closest known name when it looks like a typo. */

/* The known variable closest to name[0..len) (any case), or NULL when none
 * is within a typo or two. */
const char *base_config_closest(const char *name, size_t len);

/* RCOMM_LOG_LEVEL as read from the environment now (logging needs it before
 * any communicator exists). */
int base_config_log_level(void);

int base_config_timeout_ms(const base_config_t *cfg);

/* How long a new connection may take to authenticate: RCOMM_HANDSHAKE_TIMEOUT,
 * at most RCOMM_TIMEOUT. */
int base_config_handshake_ms(const base_config_t *cfg);

/* The table rcomm-info prints: every variable with cfg's value, its default
 * and what it does (rcomm_config_print in comm.c picks cfg). */
void base_config_write(const base_config_t *cfg, FILE *out);

/* RCOMM_BROADCAST_ALGO's names: "auto" (-1), "binomial" (0), "chain" (1). */
const char *base_bcast_algo_name(int algo);
const char *base_reduce_algo_name(int algo);

/* "123", "64K", "4M", "1G" (powers of 1024) into *out; -1 if malformed. */
int base_parse_size(const char *s, size_t *out);

#endif
