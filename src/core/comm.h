/* SPDX-License-Identifier: BSD-3-Clause */
/* The communicator: one bootstrap, one transport, the services it hosts. */
#ifndef RCOMM_COMM_H
#define RCOMM_COMM_H

#include <pthread.h>
#include <stdint.h>

#include "base/config.h"
#include "bootstrap/bootstrap.h"
#include "core/service.h"
#include "rcomm.h"
#include "transports/transport.h"

/* Scratch blocks kept between collectives (scratch.c). */
typedef struct {
    struct comm_scratch_blk *blk;
    size_t n, cap;
    size_t cached; /* bytes in free blocks */
} comm_scratch_t;

/* The progress thread (progress.c), when RCOMM_PROGRESS=thread. */
typedef struct {
    int running;      /* set and cleared by the application thread only */
    int stop;         /* atomic: the thread is to exit */
    int sleeping;     /* atomic: the thread will sleep or sleeps, kick it after posting */
    int depth;        /* the application's nesting of comm_lock (under lock) */
    int want_kick;    /* atomic: the thread waits for the application to leave */
    uint64_t left_ns; /* atomic: when the application last left a call */
    int wake_fd;      /* eventfd: kicks and stop */
    uint64_t spin_ns; /* poll this long after waking while work is in flight */
    pthread_t tid;
    pthread_mutex_t lock; /* recursive: public calls nest */
} comm_progress_t;

struct rcomm_comm {
    uint64_t magic; /* HANDLE_MAGIC_COMM while usable (core/handle.h) */
    int rank;
    int size;
    base_config_t cfg;
    auth_key_t key;        /* the job key (auth.h) */
    bootstrap_t *bs;       /* NULL when size == 1 */
    tp_t *tp;              /* NULL when size == 1 or after a failure */
    rcomm_status_t failed; /* first fatal error, RCOMM_OK while healthy */
    char failmsg[256];
    rcomm_stats_t stats; /* kept when the transport is closed */
    int oversubscribed;  /* more local ranks than cores: yield while polling */
    /* A service left ready local work (a copy or reduction cut in slices,
     * coll/sched.c): waits poll on without sleeping or yielding. Set by the
     * service's progress, cleared by comm_services_progress before it. */
    int local_work;
    uint64_t spin_ns;   /* busy-poll this long before sleeping (comm.c) */
    int local_size;     /* ranks on this host (find_local in comm.c) */
    int local_index;    /* our place among them, by rank */
    int local_cores;    /* cores in the union of their cpusets */
    uint8_t *shm_which; /* [size] 1: shared memory serves that rank (until connect) */
    /* [size]: each rank's host, the ranks that share memory (0, 1, ... in
     * order of their lowest rank; a rank without shared memory is a host of
     * its own); NULL on one rank. Hierarchical collectives group by it. */
    int *host_of;
    int nhosts;
    rcomm_status_t deferred; /* an error found inside progress, for the next call */
    char deferred_msg[256];
    /* What serves our peers (rcomm_comm_transport): the configured
     * transport, "shm" when shared memory serves every peer, "tcp+shm" when
     * both serve some. */
    char transport_name[32];
    rcomm_mem_t *mems; /* explicit registrations (mem.c) */
    comm_scratch_t scratch;
    comm_service_t services[COMM_SERVICE_MAX]; /* service.h */
    comm_service_t rest;                       /* owns the spaces below theirs */
    comm_progress_t pt;
};

/* Some ranks share a host through shared memory (host_of has fewer hosts
 * than ranks): the transport is composed, and the collectives price two
 * kinds of link. */
static inline int comm_hosts_shared(const rcomm_comm_t *comm)
{
    return comm->host_of && comm->nhosts < comm->size;
}

/* scratch.c: a block of at least bytes for one schedule (64-byte aligned),
 * NULL if out of memory; put returns it for reuse (p may be NULL). */
void *comm_scratch_get(rcomm_comm_t *comm, size_t bytes);
void comm_scratch_put(rcomm_comm_t *comm, void *p);
void comm_scratch_free_all(rcomm_comm_t *comm);

/* mem.c: the transport is about to go away (its regions die with it), or
 * the communicator is. */
void comm_mem_detach_all(rcomm_comm_t *comm);
void comm_mem_free_all(rcomm_comm_t *comm);
/* [addr, addr + len) lies in memory from rcomm_mem_alloc, registered with
 * the live transport: true, with what a peer needs to map it in *rk. */
bool comm_mem_shared(const rcomm_comm_t *comm, const void *addr, size_t len,
                     tp_rkey_t *rk);

/* Fatal error: records it, closes the transport so that peers fail fast
 * instead of timing out (the goodbye frame carries status), and has every
 * service fail what it has in flight. Later calls return COMM_FAILED. */
void comm_fail(rcomm_comm_t *comm, rcomm_status_t status);

/* At the entry of every call: COMM_FAILED with the first failure's message,
 * a deferred error found since the last call (which fails the communicator),
 * or OK. */
rcomm_status_t comm_check(rcomm_comm_t *comm, const char *fn);

/* One round of progress: the transport, then every service's hook. Fails the communicator
 * on fatal errors. */
void comm_progress(rcomm_comm_t *comm, int timeout_ms);

/* The wait policy of every blocking path (collectives, the parameter
 * server's one-sided batches, its workers' waits and its serving loop):
 * within spin_ns (the communicator's spin time unless the caller sets
 * another) since the wait began or last saw traffic (the transport's
 * counter moved: bytes, not only whole messages), poll, yielding the core
 * between polls when ranks outnumber cores; after it, sleep inside the
 * transport's progress (on its wait descriptor) until traffic or sleep_ms.
 * The caller checks its own condition and deadline after each step. */
typedef struct {
    uint64_t since_ns; /* when the wait began, or its traffic last changed */
    uint64_t traffic;  /* the transport's traffic counter then */
    uint64_t spin_ns;
    bool follow;     /* traffic restarts the spin (not for a loop that polls
                      * remote memory: its own reads are traffic) */
    uint64_t now_ns; /* the clock as last read */
    uint32_t polls;
} comm_waiter_t;
void comm_waiter_start(rcomm_comm_t *comm, comm_waiter_t *w);
/* Returns the clock as the step last read it (base_now_ns; while spinning,
 * up to 7 polls old), for the caller's deadline. */
uint64_t comm_wait_step(rcomm_comm_t *comm, comm_waiter_t *w, int sleep_ms);

/* progress.c. With the progress thread on, every public call that touches
 * the communicator (or reads what the thread writes) runs between
 * comm_lock and comm_unlock, which returns st: COMM_LOCKED(comm, call).
 * Both are no-ops without the thread; comm may be NULL. comm is evaluated
 * twice: pass a variable. */
void comm_lock(rcomm_comm_t *comm);
rcomm_status_t comm_unlock(rcomm_comm_t *comm, rcomm_status_t st);
#define COMM_LOCKED(comm, call) (comm_lock(comm), comm_unlock((comm), (call)))
/* Start the thread if RCOMM_PROGRESS=thread (at the end of creation), stop
 * and join it (at destroy; also when a tool takes the transport over). */
rcomm_status_t comm_progress_start(rcomm_comm_t *comm);
void comm_progress_stop(rcomm_comm_t *comm);

#endif
