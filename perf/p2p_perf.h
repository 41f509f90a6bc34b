/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The point-to-point benchmarks (rcomm-{write,read,send,atomic}-{bw,lat}) in two
 * halves: p2p_perf.c parses the options, sets up, runs each size and prints
 * the results (its top comment documents the columns); p2p_run.c drives the
 * transport and times the bandwidth and latency protocols.
 */
#ifndef RCOMM_P2P_PERF_H
#define RCOMM_P2P_PERF_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "hooks/hooks.h"
#include "perf/grade.h"
#include "perf/perf_out.h"
#include "rcomm.h"

enum { OP_WRITE, OP_READ, OP_SEND, OP_ATOMIC, OP_COUNT };
enum { TEST_BW, TEST_LAT, TEST_COUNT };

#define ALL_MAX (8u << 20) /* -a: 2 B to 8 MiB, as perftest */
#define RX_DEPTH 512       /* send-bw receives kept posted, as perftest */

/* Tags: in a space of our own, registered as a service of the communicator
 * (core/service.h), so no other traffic can match ours. */
#define TAG(kind) comm_service_tag(p->space, (kind))
enum { T_SETUP, T_READY, T_DATA, T_PONG, T_ACK, T_DONE, T_REPORT, T_BYE };

typedef struct {
    int op, test, all, check, gbits, tx_depth, warmup, no_ceiling, malloc_win;
    size_t size;     /* 0 until set */
    long iters;      /* 0 until set; stays 0 with -D */
    double duration; /* seconds per size, 0 for -n */
    const char *json, *csv;
} opts_t;

/* SETUP (both ways), DONE (rank 0 to 1) and REPORT (1 to 0). */
typedef struct {
    tp_rkey_t win;   /* SETUP: the sender's window */
    uint64_t digest; /* SETUP: what its options make it do */
    uint64_t wrong;  /* bytes -c found wrong */
    uint64_t count;  /* operations seen */
} msg_t;

typedef struct {
    opts_t o;
    tp_t *tp;
    uint32_t space; /* our tag space */
    int peer, yield;
    double spin; /* seconds of busy polling before progress may sleep */
    /* loc: source of puts and sends, destination of gets; win: exposed to
     * the peer (target of puts, source of gets, receive buffer). */
    unsigned char *loc, *win;
    tp_mr_t *loc_mr, *win_mr;
    tp_rkey_t rwin;        /* the peer's window */
    tp_req_t *reqs;        /* tx ring (rank 0) or rx ring (rank 1) */
    double *tpost, *tdone; /* bw: times of each timed operation */
    uint64_t pings;        /* write-lat markers so far, the same on both ranks */
    perf_out_t *json, *csv;
    grade_t grade; /* rank 0: bw's ceiling and best rate, lat's sweep */
} p2p_t;

typedef struct {
    size_t bytes;
    uint64_t iters;
    double v[7]; /* bw: peak, average, Mpps; lat: min max median avg sd p99 p99.9 */
} row_t;

/* p2p_perf.c */
extern const char *const p2p_op_names[OP_COUNT];
void __attribute__((format(printf, 2, 3), noreturn))
p2p_die(rcomm_status_t st, const char *fmt, ...);
void __attribute__((noreturn))
p2p_die_op(rcomm_status_t st, const char *what, size_t len);

/* p2p_run.c: the transport */
void p2p_wait_req(p2p_t *p, tp_req_t *req, const char *what, size_t len);
void p2p_post_msg(p2p_t *p, int out, int kind, void *buf, size_t len, tp_req_t *req);
void p2p_ctrl(p2p_t *p, int out, int kind, msg_t *msg);

/* p2p_run.c: the timed protocols, rank 0 (client) and rank 1 */
void p2p_bw_client(p2p_t *p, size_t len, row_t *row);
uint64_t p2p_rx_stream(p2p_t *p, size_t len);
void p2p_lat_client(p2p_t *p, size_t len, row_t *row);
uint64_t p2p_pong(p2p_t *p, size_t len, tp_req_t *done);

#endif
