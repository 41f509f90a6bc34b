/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The benchmarks' ceilings, shares and alpha-beta fit (see grade.h). The
 * ceilings are upper bounds a run can be held against, each found the
 * cheapest honest way:
 *   verbs  the port's link rate as the transport reports it (caps(): the
 *          nominal rate of the link, not a measurement);
 *   tcp    TCP over 127.0.0.1 on this host, measured with the socket buffers
 *          the transport uses: what the kernel can move between two local
 *          processes, the bound for ranks on one host (only a local figure
 *          when ranks span hosts);
 *   memcpy every byte a rank receives in a reduction is reduced in memory,
 *          so a copy on one core is the yardstick of the busbw of allreduce
 *          and reduce-scatter, at the sweep's largest size: a copy that
 *          fits the caches runs 2-3x faster than one from memory. It is no
 *          bound: ranks on several cores copy in parallel (the mapped
 *          allreduce beats it on 2 ranks in place).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <math.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "config.h"
#include "hooks/hooks.h"
#include "perf/grade.h"

double grade_median(double *v, int n)
{
    for (int i = 1; i < n; i++)
        for (int j = i; j > 0 && v[j] < v[j - 1]; j--) {
            double t = v[j];
            v[j] = v[j - 1];
            v[j - 1] = t;
        }
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

/* ---- memcpy -------------------------------------------------------------- */

double grade_memcpy_gbs(size_t bytes, int reps)
{
    char *src = malloc(bytes), *dst = malloc(bytes);
    double best = 1e30;

    if (!src || !dst || bytes == 0) {
        free(src);
        free(dst);
        return 0;
    }
    memset(src, 1, bytes); /* fault the pages in before timing */
    memset(dst, 0, bytes);
    for (int r = 0; r < reps; r++) {
        double t0 = grade_now_s(), t;
        memcpy(dst, src, bytes);
        t = grade_now_s() - t0;
        __asm__ volatile("" : : "r"(dst) : "memory"); /* dst counts as read: kept */
        best = t < best ? t : best;
    }
    free(src);
    free(dst);
    return (double)bytes / best / 1e9;
}

/* ---- tcp loopback -------------------------------------------------------- */

#define LO_BYTES (64u << 20) /* per run: tens of ms at loopback speeds */
#define LO_RUNS 5            /* the fastest is taken: a ceiling */
#define LO_CHUNK (1u << 20)  /* bytes per send() or recv() call */

typedef struct {
    int fd;
    char *buf;
} lo_sender_t;

/* Send (out) or receive len bytes from buf's first LO_CHUNK; 0 or an errno. */
static int lo_move(int fd, char *buf, size_t len, int out)
{
    while (len > 0) {
        size_t n = len < LO_CHUNK ? len : LO_CHUNK;
        ssize_t k = out ? send(fd, buf, n, MSG_NOSIGNAL) : recv(fd, buf, n, 0);

        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            return k < 0 ? errno : ECONNRESET;
        len -= (size_t)k;
    }
    return 0;
}

/* The sending rank's part, in a thread: LO_BYTES for every "go" byte.
 * On a failure it shuts the socket, which ends the receiver's wait. */
static void *lo_send(void *arg)
{
    lo_sender_t *s = arg;

    for (int r = 0; r < LO_RUNS; r++)
        if (lo_move(s->fd, s->buf, 1, 0) || lo_move(s->fd, s->buf, LO_BYTES, 1))
            break;
    shutdown(s->fd, SHUT_RDWR);
    return NULL;
}

/* As tcp_sock_setup: fixed buffers of RCOMM_TCP_BUFSIZE, no Nagle. */
static int lo_tune(int fd, size_t bufsize)
{
    int one = 1, buf = bufsize > (size_t)1 << 30 ? 1 << 30 : (int)bufsize;

    if (setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &buf, sizeof(buf)) ||
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &buf, sizeof(buf)) ||
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)))
        return errno;
    return 0;
}

/* A connected pair over 127.0.0.1 (fd[0] connected, fd[1] accepted); 0 or
 * an errno, with nothing left open. */
static int lo_pair(int fd[2], size_t bufsize)
{
    struct sockaddr_in a = {.sin_family = AF_INET};
    socklen_t al = sizeof(a);
    int ls = socket(AF_INET, SOCK_STREAM, 0), err = 0;

    fd[0] = socket(AF_INET, SOCK_STREAM, 0);
    fd[1] = -1;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (ls < 0 || fd[0] < 0 || bind(ls, (struct sockaddr *)&a, sizeof(a)) ||
        listen(ls, 1) || getsockname(ls, (struct sockaddr *)&a, &al) ||
        connect(fd[0], (struct sockaddr *)&a, sizeof(a)) ||
        (fd[1] = accept(ls, NULL, NULL)) < 0 || (err = lo_tune(fd[0], bufsize)) ||
        (err = lo_tune(fd[1], bufsize)))
        err = err ? err : errno;
    if (ls >= 0)
        close(ls);
    for (int i = 0; err && i < 2; i++)
        if (fd[i] >= 0)
            close(fd[i]);
    return err;
}

/* The best rate of LO_RUNS transfers of LO_BYTES, sender in a thread: as
 * two ranks on this host, each with its own core. 0 or an errno. */
static int lo_measure(size_t bufsize, double *gbs)
{
    lo_sender_t s;
    pthread_t th;
    double t[LO_RUNS];
    char *buf = malloc(2 * LO_CHUNK);
    int fd[2], err = buf ? lo_pair(fd, bufsize) : ENOMEM;

    if (err) {
        free(buf);
        return err;
    }
    memset(buf, 0, 2 * LO_CHUNK);
    s = (lo_sender_t){.fd = fd[1], .buf = buf + LO_CHUNK};
    if ((err = pthread_create(&th, NULL, lo_send, &s)) == 0) {
        for (int r = 0; r < LO_RUNS && !err; r++) {
            double t0 = grade_now_s();
            if ((err = lo_move(fd[0], buf, 1, 1)) == 0)
                err = lo_move(fd[0], buf, LO_BYTES, 0);
            t[r] = grade_now_s() - t0;
        }
        shutdown(fd[0], SHUT_RDWR); /* ends the sender if we stopped early */
        pthread_join(th, NULL);
    }
    close(fd[0]);
    close(fd[1]);
    free(buf);
    if (err)
        return err;
    for (int r = 1; r < LO_RUNS; r++)
        t[0] = t[r] < t[0] ? t[r] : t[0];
    *gbs = LO_BYTES / t[0] / 1e9;
    return 0;
}

static void tcp_ceiling(grade_t *g, const base_config_t *cfg)
{
    int err = lo_measure(cfg->tcp_bufsize, &g->net_gbs);

    if (err)
        snprintf(g->net_what, sizeof(g->net_what),
                 "unknown: measuring tcp loopback failed: %s", strerror(err));
    else
        snprintf(g->net_what, sizeof(g->net_what), "tcp loopback, measured: %.2f GB/s",
                 g->net_gbs);
}

/* ---- the run ------------------------------------------------------------- */

static void net_ceiling(grade_t *g, const rcomm_comm_t *comm)
{
    const size_t n = sizeof(g->net_what);

    tp_caps_t caps;
    const char *name;

    if (!hook_caps(comm, &caps, &name))
        snprintf(g->net_what, n, "none: with 1 rank nothing crosses a link");
    else if (strcmp(name, "tcp") == 0)
        tcp_ceiling(g, hook_config((rcomm_comm_t *)comm));
    else if (strcmp(name, "shm") == 0) { /* every byte is a copy in memory */
        g->net_gbs = grade_memcpy_gbs(8u << 20, 10);
        snprintf(g->net_what, n, "shared memory: memcpy on rank 0, measured: %.2f GB/s",
                 g->net_gbs);
    } else { /* the rate the transport's link reports */
        g->net_gbs = caps.link_gbs;
        snprintf(g->net_what, n, "%s", caps.link);
    }
}

void grade_init(grade_t *g, const rcomm_comm_t *comm, unsigned what, size_t max_bytes)
{
    int rank = 0;

    *g = (grade_t){.what = what};
    rcomm_comm_rank(comm, &rank);
    if (rank != 0)
        return;
    if (what & GRADE_NET)
        net_ceiling(g, comm);
    if (what & GRADE_MEM) {
        g->mem_bytes = max_bytes < GRADE_MEM_MIN   ? GRADE_MEM_MIN
                       : max_bytes > GRADE_MEM_MAX ? GRADE_MEM_MAX
                                                   : max_bytes;
        g->mem_gbs = grade_memcpy_gbs(g->mem_bytes, 10);
    }
}

void grade_rate(grade_t *g, size_t bytes, double gbs, const char *where)
{
    if (gbs > g->best_gbs) {
        g->best_gbs = gbs;
        g->best_bytes = bytes;
        g->best_where = where;
    }
    if (bytes > g->top_bytes || (bytes == g->top_bytes && gbs > g->top_gbs)) {
        g->top_gbs = gbs;
        g->top_bytes = bytes;
        g->top_where = where;
    }
}

void grade_time(grade_t *g, size_t bytes, double time_us)
{
    if (time_us > 0 && g->n < GRADE_MAX_SIZES) {
        g->bytes[g->n] = (double)bytes;
        g->time_us[g->n++] = time_us;
    }
}

double grade_ceiling_gbs(const grade_t *g)
{
    return g->net_gbs > 0 ? g->net_gbs : NAN;
}

double grade_share(const grade_t *g, double gbs)
{
    return gbs / grade_ceiling_gbs(g);
}

/* ---- printing ------------------------------------------------------------ */

void grade_print_ceilings(const grade_t *g, const grade_fmt_t *f)
{
    if (g->what & GRADE_NET) {
        printf("%s%-*s: %s", f->lead, f->head_w, "Ceiling", g->net_what);
        if (g->net_gbs > 0 && strcmp(f->unit, "GB/s") != 0)
            printf(" = %.*f %s", f->prec, g->net_gbs * f->per_gbs, f->unit);
        printf("\n");
    }
    if (g->what & GRADE_MEM)
        printf("%s%-*s: memcpy on rank 0, measured: %.2f GB/s (one core, %zu B: the "
               "largest size, held to 8-256 MiB)\n",
               f->lead, f->head_w, "Memory", g->mem_gbs, g->mem_bytes);
}

static void print_share(const grade_t *g, const grade_fmt_t *f, const char *label,
                        const char *of, double ceiling)
{
    printf("%s%-*s: best %s %.*f %s (%zu B%s%s) reached %.3g%% of %s (%.*f %s)\n",
           f->lead, f->foot_w, label, f->rate, f->prec, g->best_gbs * f->per_gbs, f->unit,
           g->best_bytes, g->best_where ? ", " : "", g->best_where ? g->best_where : "",
           100 * g->best_gbs / ceiling, of, f->prec, ceiling * f->per_gbs, f->unit);
}

/* ---- the alpha-beta fit -------------------------------------------------- */

typedef struct {
    double alpha_us, beta_ns, r2;
} fit_t;

/*
 * Weighted least squares of time = alpha + beta * bytes, with weights 1/t^2:
 * it minimises the relative residuals. A sweep's sizes grow geometrically and
 * its times span orders of magnitude; plain least squares would fit the
 * largest sizes alone, their noise swamping alpha. With x = bytes, y = time,
 * w = 1/y^2 and weighted means xm, ym:
 *   beta = sum w (x - xm)(y - ym) / sum w (x - xm)^2,  alpha = ym - beta xm,
 *   R^2  = 1 - sum w (y - alpha - beta x)^2 / sum w (y - ym)^2.
 * NULL, or why there is no fit; a beta <= 0 is the caller's to refuse.
 */
static const char *fit(const grade_t *g, fit_t *f)
{
    double sw = 0, xm = 0, ym = 0, sxx = 0, sxy = 0, syy = 0, res = 0;

    for (int i = 0; i < g->n; i++) {
        double w = 1 / (g->time_us[i] * g->time_us[i]);
        sw += w;
        xm += w * g->bytes[i];
        ym += w * g->time_us[i];
    }
    xm /= sw;
    ym /= sw;
    for (int i = 0; i < g->n; i++) {
        double w = 1 / (g->time_us[i] * g->time_us[i]), dx = g->bytes[i] - xm,
               dy = g->time_us[i] - ym;
        sxx += w * dx * dx;
        sxy += w * dx * dy;
        syy += w * dy * dy;
    }
    if (sxx <= 0)
        return "every size is the same";
    f->beta_ns = 1e3 * sxy / sxx;
    f->alpha_us = ym - sxy / sxx * xm;
    for (int i = 0; i < g->n; i++) {
        double e = g->time_us[i] - f->alpha_us - 1e-3 * f->beta_ns * g->bytes[i];
        res += e * e / (g->time_us[i] * g->time_us[i]);
    }
    f->r2 = syy > 0 ? 1 - res / syy : 1;
    return NULL;
}

static void print_fit(const grade_t *g, const char *lead)
{
    fit_t f;
    const char *why;

    if (g->n < 3) /* no sweep: nothing to fit */
        return;
    if ((why = fit(g, &f)) != NULL)
        printf("%salpha-beta fit: none, %s\n", lead, why);
    else if (f.beta_ns <= 0) /* latency-bound sizes only, or noise */
        printf(
            "%salpha-beta fit: none, time does not grow with size (beta = %.3g ns/B)\n",
            lead, f.beta_ns);
    else
        printf("%salpha-beta fit: alpha = %.2f us, beta = %.4g ns/B (%.3f GB/s), "
               "R^2 = %.4f\n",
               lead, f.alpha_us, f.beta_ns, 1 / f.beta_ns, f.r2);
}

void grade_print_results(const grade_t *g, const grade_fmt_t *f)
{
    if (g->best_gbs > 0 && g->net_gbs > 0)
        print_share(g, f, "Share of ceiling", "the ceiling", g->net_gbs);
    if (g->top_gbs > 0 && g->mem_gbs > 0)
        printf("%s%-*s: largest size's %s %.*f %s (%zu B%s%s) is %.3g%% of memcpy of "
               "%zu B (%.*f %s)\n",
               f->lead, f->foot_w, "Share of memcpy", f->rate, f->prec,
               g->top_gbs * f->per_gbs, f->unit, g->top_bytes, g->top_where ? ", " : "",
               g->top_where ? g->top_where : "", 100 * g->top_gbs / g->mem_gbs,
               g->mem_bytes, f->prec, g->mem_gbs * f->per_gbs, f->unit);
    print_fit(g, f->lead);
}
