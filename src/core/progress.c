/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The progress thread (RCOMM_PROGRESS=thread): one per communicator, it
 * advances what is in flight (nonblocking collectives, one-sided operations
 * a TCP peer asks of us, parameter-server traffic) while the application
 * computes outside rcomm.
 *
 * One recursive mutex per communicator serialises the application's calls
 * and the thread: every public call that touches the communicator holds it
 * for its whole length (a blocking call progresses by itself meanwhile and
 * the thread waits on the mutex, costing nothing). The thread takes it for
 * one progress(0) round at a time and sleeps with it released, in poll() on
 * the transport's wait descriptor and an eventfd the application kicks when
 * it leaves a call with work in flight. Transports without a descriptor in
 * their mode (verbs busy polling) are polled with naps that double up to
 * 1 ms. Traffic that arrives during a call is the call's: the thread then
 * waits for the call to leave, and stays off the transport for a grace time
 * after it, so that a loop of blocking calls wakes it once per grace time
 * (docs/ARCHITECTURE.md, "The progress thread").
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "base/clock.h"
#include "base/error.h"
#include "base/topo.h"
#include "core/comm.h"
#include "core/handle.h"

#define NAP_MIN_NS 10000ull   /* first nap without a descriptor */
#define NAP_MAX_NS 1000000ull /* longest: bounds the added latency */
#define BUSY_SLEEP_MS 50      /* work in flight: traffic or a kick wakes us sooner */
#define IDLE_SLEEP_MS 1000    /* nothing in flight: only a peer or a kick wakes us */
/* After a call, this long without watching the transport: a caller making
 * back-to-back blocking calls then never shares its traffic with us. */
#define GRACE_NS 1000000ull

/* Not on a destroyed communicator, or on something else: the call under the
 * lock then fails its own check (comm_valid) before touching anything. */
void comm_lock(rcomm_comm_t *comm)
{
    if (comm && comm->magic == HANDLE_MAGIC_COMM && comm->pt.running) {
        pthread_mutex_lock(&comm->pt.lock);
        comm->pt.depth++;
    }
}

rcomm_status_t comm_unlock(rcomm_comm_t *comm, rcomm_status_t st)
{
    comm_progress_t *pt = comm && comm->magic == HANDLE_MAGIC_COMM ? &comm->pt : NULL;
    uint64_t one = 1;
    bool busy = false, outer;

    if (!pt || !pt->running)
        return st;
    if ((outer = pt->depth == 1)) {
        busy = comm_services_busy(comm, NULL, 0);
        __atomic_store_n(&pt->left_ns, base_now_ns(), __ATOMIC_RELAXED);
    }
    pt->depth--;
    pthread_mutex_unlock(&pt->lock);
    /* Read after unlocking: a thread that found the lock taken raised
     * want_kick before its last try, so one of us sees the other. Kick when
     * it waits for us to leave, or sleeps while we leave work in flight. */
    if (outer &&
        (__atomic_load_n(&pt->want_kick, __ATOMIC_SEQ_CST) ||
         (busy && __atomic_load_n(&pt->sleeping, __ATOMIC_SEQ_CST))) &&
        write(pt->wake_fd, &one, sizeof(one)) < 0 && errno != EAGAIN)
        base_log(BASE_LOG_WARN, "progress thread: cannot wake it: %s", strerror(errno));
    return st;
}

/* Sleep until the transport (fd, if >= 0) or the application has something
 * for us, at most timeout_ns. pt->sleeping was set under the lock, so that a
 * call that posts after we looked kicks us. */
static void sleep_for_work(comm_progress_t *pt, int fd, uint64_t timeout_ns)
{
    struct timespec ts = {(time_t)(timeout_ns / 1000000000ull),
                          (long)(timeout_ns % 1000000000ull)};
    struct pollfd p[2] = {{.fd = pt->wake_fd, .events = POLLIN},
                          {.fd = fd, .events = POLLIN}};
    uint64_t drain;

    if (!__atomic_load_n(&pt->stop, __ATOMIC_ACQUIRE) &&
        ppoll(p, fd >= 0 ? 2 : 1, &ts, NULL) > 0 && (p[0].revents & POLLIN) &&
        read(pt->wake_fd, &drain, sizeof(drain)) < 0)
        (void)0; /* nonblocking: nothing left to drain */
    __atomic_store_n(&pt->sleeping, 0, __ATOMIC_RELEASE);
}

/* The application is inside a call (it progresses by itself): wait for it
 * to leave rather than on the lock or the transport, which would wake us
 * for traffic it handles. If it is back already since it last kicked us
 * (back-to-back calls), only a call that leaves work in flight wakes us
 * within the grace time: one kick per grace time, not one per call.
 * false: it left meanwhile, the lock is ours. */
static bool wait_for_caller(comm_progress_t *pt, bool *kicked)
{
    if (*kicked) {
        *kicked = false;
        __atomic_store_n(&pt->sleeping, 1, __ATOMIC_SEQ_CST);
        sleep_for_work(pt, -1, GRACE_NS);
        return true;
    }
    __atomic_store_n(&pt->want_kick, 1, __ATOMIC_SEQ_CST);
    if (pthread_mutex_trylock(&pt->lock) == 0) {
        __atomic_store_n(&pt->want_kick, 0, __ATOMIC_RELAXED);
        return false;
    }
    sleep_for_work(pt, -1, (uint64_t)BUSY_SLEEP_MS * 1000000ull);
    __atomic_store_n(&pt->want_kick, 0, __ATOMIC_RELAXED);
    *kicked = true;
    return true;
}

static void *thread_main(void *arg)
{
    rcomm_comm_t *comm = arg;
    comm_progress_t *pt = &comm->pt;
    uint64_t nap_ns = NAP_MIN_NS, woke = base_now_ns(), sleep_ns = 0, now, away;
    bool kicked = false;

    base_log_set_rank(comm->rank);
    while (!__atomic_load_n(&pt->stop, __ATOMIC_ACQUIRE)) {
        int fd = -1;
        bool busy;

        if (pthread_mutex_trylock(&pt->lock) != 0 && wait_for_caller(pt, &kicked))
            continue;
        kicked = false;
        comm_progress(comm, 0);
        busy = comm_services_busy(comm, NULL, 0);
        now = base_now_ns();
        away = now - __atomic_load_n(&pt->left_ns, __ATOMIC_RELAXED);
        if (comm->local_work || (busy && now - woke < pt->spin_ns)) {
            sleep_ns = 0; /* traffic is likely within the spin time */
        } else if (!busy && away < GRACE_NS) {
            /* Between back-to-back calls: stay off the transport, whose
             * traffic the next call will handle; a call that leaves work
             * in flight kicks us. */
            sleep_ns = GRACE_NS - away;
        } else if (comm->tp && (fd = comm->tp->ops->wait_fd(comm->tp)) < 0) {
            /* No descriptor: work is pending, or the transport cannot sleep
             * on one in its mode; short naps first, it may be almost done. */
            sleep_ns = nap_ns;
            nap_ns = nap_ns * 2 > NAP_MAX_NS ? NAP_MAX_NS : nap_ns * 2;
        } else {
            sleep_ns = (uint64_t)(busy ? BUSY_SLEEP_MS : IDLE_SLEEP_MS) * 1000000ull;
            nap_ns = NAP_MIN_NS;
        }
        if (sleep_ns)
            __atomic_store_n(&pt->sleeping, 1, __ATOMIC_SEQ_CST);
        pthread_mutex_unlock(&pt->lock);
        if (!sleep_ns) {
            sched_yield();
            continue;
        }
        sleep_for_work(pt, fd, sleep_ns);
        woke = base_now_ns();
    }
    return NULL;
}

/* Where RCOMM_PROGRESS_CPU puts the thread, near the device (*cpus empty:
 * unbound). A bad RCOMM_PROGRESS_CPU is the caller's error. */
static rcomm_status_t placement(rcomm_comm_t *comm, cpu_set_t *cpus, char *why,
                                size_t len)
{
    tp_caps_t caps = {0};

    if (comm->tp)
        comm->tp->ops->caps(comm->tp, &caps);
    return base_topo_progress_cpu(comm->cfg.progress_cpu, caps.near_cpus,
                                  comm->local_index, comm->local_size, cpus, why, len);
}

rcomm_status_t comm_progress_start(rcomm_comm_t *comm)
{
    comm_progress_t *pt = &comm->pt;
    pthread_mutexattr_t mattr;
    pthread_attr_t attr;
    cpu_set_t cpus;
    char why[256];
    rcomm_status_t st;
    int rc;

    if (!comm->cfg.progress_thread)
        return RCOMM_OK;
    if ((st = placement(comm, &cpus, why, sizeof(why))) != RCOMM_OK)
        return st;
    /* A rank's thread spins only when every thread on the host has a core
     * (twice the ranks): otherwise it would take the core of a computing
     * thread. */
    pt->spin_ns = 2 * comm->local_size <= comm->local_cores ? comm->spin_ns : 0;
    if ((pt->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) < 0)
        return base_err_sys("rank %d: no eventfd for the progress thread", comm->rank);
    pthread_mutexattr_init(&mattr);
    pthread_mutexattr_settype(&mattr, PTHREAD_MUTEX_RECURSIVE);
    pthread_mutex_init(&pt->lock, &mattr);
    pthread_mutexattr_destroy(&mattr);
    pthread_attr_init(&attr);
    /* Bound from its first instruction; a refusal costs speed, not results. */
    if (CPU_COUNT(&cpus) > 0 &&
        (rc = pthread_attr_setaffinity_np(&attr, sizeof(cpus), &cpus)) != 0)
        base_log(BASE_LOG_WARN, "rank %d: progress thread: cannot bind it to %s: %s",
                 comm->rank, why, strerror(rc));
    pt->running = 1;
    rc = pthread_create(&pt->tid, &attr, thread_main, comm);
    pthread_attr_destroy(&attr);
    if (rc != 0) {
        pt->running = 0;
        pthread_mutex_destroy(&pt->lock);
        close(pt->wake_fd);
        return base_err(RCOMM_ERR_SYSTEM, "rank %d: cannot start the progress thread: %s",
                        comm->rank, strerror(rc));
    }
    base_log(BASE_LOG_INFO, "rank %d: progress thread: %s", comm->rank, why);
    return RCOMM_OK;
}

void comm_progress_stop(rcomm_comm_t *comm)
{
    comm_progress_t *pt = &comm->pt;
    uint64_t one = 1;

    if (!pt->running)
        return;
    __atomic_store_n(&pt->stop, 1, __ATOMIC_RELEASE);
    if (write(pt->wake_fd, &one, sizeof(one)) < 0)
        (void)0; /* the counter is full: the thread is awake anyway */
    pthread_join(pt->tid, NULL);
    pt->running = 0;
    pthread_mutex_destroy(&pt->lock);
    close(pt->wake_fd);
}
