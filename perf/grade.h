/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * How good is the number? The benchmarks' self-assessment, shared by the
 * collective (nccl-tests-style) and point-to-point (perftest-style) tools:
 *
 *  - the ceiling a run is compared with, found once by rank 0 before the
 *    table: the verbs port's nominal link rate (ibv_query_port), or this
 *    machine's TCP loopback bandwidth, measured with the transport's socket
 *    buffers; for reductions also memcpy bandwidth on one core at the
 *    sweep's largest size (8 MiB to 256 MiB), a reduction's yardstick;
 *  - the share of the ceiling the best rate of the run reached, and the
 *    share of memcpy the largest size reached;
 *  - an alpha-beta fit of time = alpha + beta * bytes over a size sweep.
 *
 *   grade_t g;
 *   grade_init(&g, comm, GRADE_NET | GRADE_MEM, max); every rank; rank 0 measures
 *   grade_print_ceilings(&g, &fmt);                 before the table
 *   per size: grade_rate(&g, bytes, gbs, "in-place"); grade_time(&g, bytes, us);
 *   grade_print_results(&g, &fmt);                  after it
 *
 * Rates are GB/s (10^9 bytes per second) inside; grade_fmt_t converts them
 * to the table's unit for printing. Also the measuring helpers the tools
 * share: the clock, a median, memcpy bandwidth.
 */
#ifndef RCOMM_PERF_GRADE_H
#define RCOMM_PERF_GRADE_H

#include <stddef.h>
#include <time.h>

#include "rcomm.h"

#define GRADE_MAX_SIZES 64 /* a sweep with factor >= 2 has at most 64 sizes */
/* memcpy's size: at least 8 MiB, which the tools measured before; at most
 * 256 MiB, so that rank 0's two extra buffers stay small beside the run's. */
#define GRADE_MEM_MIN ((size_t)8 << 20)
#define GRADE_MEM_MAX ((size_t)256 << 20)

enum {
    GRADE_NET = 1, /* find the network ceiling */
    GRADE_MEM = 2, /* measure memcpy: a reduction's yardstick */
};

typedef struct {
    unsigned what;      /* GRADE_NET | GRADE_MEM asked for; 0: --no-ceiling */
    double net_gbs;     /* the network ceiling; 0: none or unknown */
    double mem_gbs;     /* memcpy on rank 0; 0: not measured */
    size_t mem_bytes;   /* of this many bytes: the sweep's largest, clamped */
    char net_what[224]; /* where net_gbs comes from, or why there is none */
    /* The run so far: its best rate and the sweep for the fit. */
    double best_gbs;
    size_t best_bytes;
    const char *best_where; /* e.g. "in-place"; NULL: nothing to add */
    /* The best rate at the largest size so far, held against memcpy. */
    double top_gbs;
    size_t top_bytes;
    const char *top_where;
    int n;
    double bytes[GRADE_MAX_SIZES], time_us[GRADE_MAX_SIZES];
} grade_t;

/* How a tool prints: "# Ceiling : ..." for nccl-tests, " Ceiling      : ..."
 * for perftest, with rates in the table's unit. */
typedef struct {
    const char *lead;   /* "# " or " " */
    int head_w, foot_w; /* label widths in the header and the footer */
    const char *rate;   /* the rate compared: "busbw", "BW average" */
    const char *unit;   /* the table's unit: "GB/s", "MB/sec", "Gb/sec" */
    double per_gbs;     /* units per GB/s */
    int prec;           /* decimals */
} grade_fmt_t;

/* Every rank; only rank 0 (which prints) queries or measures, in well under a
 * second, while the others wait in their first collective. what: GRADE_*,
 * 0 to find nothing (--no-ceiling). max_bytes: the sweep's largest size,
 * which GRADE_MEM's memcpy copies (held to GRADE_MEM_MIN..GRADE_MEM_MAX). */
void grade_init(grade_t *g, const rcomm_comm_t *comm, unsigned what, size_t max_bytes);

/* A rate of the run (GB/s) at bytes; where names the row, if anything. */
void grade_rate(grade_t *g, size_t bytes, double gbs, const char *where);
/* A point of the sweep; a time of 0 is left out. */
void grade_time(grade_t *g, size_t bytes, double time_us);
/* gbs / the network ceiling, NaN without one (JSON null, empty CSV field). */
double grade_share(const grade_t *g, double gbs);
/* The network ceiling in GB/s, NaN without one. */
double grade_ceiling_gbs(const grade_t *g);

/* Before the table: the ceiling lines, unless --no-ceiling. */
void grade_print_ceilings(const grade_t *g, const grade_fmt_t *f);
/* After it: the share of the network ceiling that the best rate reached,
 * the share of memcpy that the largest size reached, and for a sweep of 3
 * sizes or more "alpha-beta fit: ...". */
void grade_print_results(const grade_t *g, const grade_fmt_t *f);

/* The tools' clock, in seconds: monotonic, inline for the timed loops. */
static inline double grade_now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* memcpy of bytes, best of reps, GB/s; 0 when the buffers cannot be had. */
double grade_memcpy_gbs(size_t bytes, int reps);
/* The median of v[0..n-1], n >= 1; sorts v. */
double grade_median(double *v, int n);

#endif
