/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * A fork-based harness for transport tests. run_group() forks one process per
 * rank; the parent relays the address blobs (pipes) and checks exit statuses.
 * Each child creates its transport, connects, runs a scenario and exits 0, or
 * prints what failed and exits 1. A "fake" process may play the highest
 * ranks over raw sockets, and one rank may be absent (never started). Every
 * child arms alarm(), so a hang is a failure. Children never call Check: they
 * use REQUIRE, which exits.
 */
#ifndef RCOMM_TP_HARNESS_H
#define RCOMM_TP_HARNESS_H

#include <check.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "base/config.h"
#include "transports/transport.h"

#define TP_MAXP 8
#define TP_BLOB_MAX 240

typedef struct tp_ctx tp_ctx_t;

typedef struct {
    size_t len;
    unsigned char data[TP_BLOB_MAX];
    size_t len2; /* the second instance's, with tp_group_t.serves */
    unsigned char data2[TP_BLOB_MAX];
} tp_blob_t;

typedef struct {
    const char *transport; /* "tcp" */
    int size;
    void (*fn)(tp_ctx_t *c); /* what every real rank runs */
    int variant;             /* for fn and fake */
    /* Ranks fake_from..size-1 are played by fake (one process); 0 = none.
     * It publishes mine for them and gets every rank's blob. */
    int fake_from;
    int (*fake)(const tp_blob_t *blobs, int first, int size, int variant);
    int absent; /* never started (-1 = none): gets the blob of absent_addr */
    void (*absent_addr)(tp_blob_t *blob);
    int timeout_ms; /* connect timeout; 0 = generous, and connect before fn */
    int killed;     /* 1 + the rank that kills itself with SIGKILL; 0 = none */
    /* Set: every rank creates two instances that split its peers, instance
     * inst serving rank q when serves(inst, rank, q) (symmetric); the second
     * is tp_ctx_t.tp2. Unserved peers' addresses are passed as NULL. */
    int (*serves)(int inst, int rank, int q);
    const auth_key_t *key; /* the job key of the real ranks; NULL = none */
    int handshake_ms;      /* 0 = the transport's default */
    int no_notify;         /* create with on_notify NULL (notifications dropped) */
    /* Set: every rank creates one composed transport (tp_multi_create) of
     * TCP and shared memory, shm serving q when multi(rank, q) (symmetric);
     * transport must be "tcp". */
    int (*multi)(int rank, int q);
} tp_group_t;

typedef struct {
    int peer;
    uint64_t tag;
    tp_env_t env;
    size_t len;
} tp_ux_t;

/* One on_notify call. */
typedef struct {
    int peer;
    uint32_t imm;
} tp_note_t;

#define TP_NOTES_MAX 4096

struct tp_ctx {
    const tp_group_t *g;
    int rank, size, variant;
    const tp_ops_t *ops;
    tp_t *tp;  /* set to NULL if fn destroyed it */
    tp_t *tp2; /* the second instance (tp_group_t.serves) */
    base_config_t cfg;
    const void *addrs[TP_MAXP];
    size_t lens[TP_MAXP];
    int nux; /* on_unexpected calls recorded */
    tp_ux_t ux[64];
    /* on_notify calls: all counted, the first TP_NOTES_MAX recorded. A
     * scenario that expects notifications sets on_note, called at the moment
     * of each one (after recording it) to check what has landed; without it
     * a notification fails the rank (nothing but put_notify may notify). */
    int nnote;
    tp_note_t note[TP_NOTES_MAX];
    void (*on_note)(tp_ctx_t *c, int peer, uint32_t imm);
    void *note_arg;        /* the scenario's, for on_note */
    rcomm_status_t reason; /* passed to destroy */
};

void tp_run_group(const tp_group_t *g);

/* The transport the conformance cases run over: set by main(). */
extern const char *tp_transport;

/* Conformance cases (tp_twosided.c, tp_onesided.c), for any transport. */
void tp_add_twosided_tests(Suite *s);
void tp_add_onesided_tests(Suite *s);

/* ---- inside children ---- */

/* The rank of this process (-1 in the parent): for messages. */
int tp_rank(void);
/* CK_TIMEOUT_MULTIPLIER: waits and alarms scale with it (valgrind). */
double tp_slow(void);
void tp_die(int line, const char *cond, const char *msg) __attribute__((noreturn));

#define REQUIRE(cond)                                                                    \
    do {                                                                                 \
        if (!(cond))                                                                     \
            tp_die(__LINE__, #cond, "");                                                 \
    } while (0)
#define REQUIREF(cond, ...)                                                              \
    do {                                                                                 \
        if (!(cond)) {                                                                   \
            char m_[256];                                                                \
            snprintf(m_, sizeof(m_), __VA_ARGS__);                                       \
            tp_die(__LINE__, #cond, m_);                                                 \
        }                                                                                \
    } while (0)
#define OK(call)                                                                         \
    do {                                                                                 \
        rcomm_status_t st_ = (call);                                                     \
        REQUIREF(st_ == RCOMM_OK, "%s: %s", #call, rcomm_strerror(st_));                 \
    } while (0)

void *tp_xmalloc(size_t len);
/* Byte i of the data of message seed: every payload is predictable. */
uint64_t tp_seed(int src, int dst, uint64_t tag);
void tp_fill(void *buf, size_t len, uint64_t seed);
void tp_check(const void *buf, size_t len, uint64_t seed);
tp_env_t tp_env(int src, int dst, uint64_t tag);

/* Progress until req completes or ms (scaled) pass; returns its status. */
rcomm_status_t tp_wait(tp_ctx_t *c, tp_req_t *req, int ms);
/* Every request completes with OK. */
void tp_wait_ok(tp_ctx_t *c, tp_req_t *req, int n);
void tp_progress_for(tp_ctx_t *c, int ms);
/* A post to a failing peer either fails at once (posted) or completes with
 * want; either way the thread's last error contains needle. */
void tp_expect_fail(tp_ctx_t *c, rcomm_status_t posted, tp_req_t *req,
                    rcomm_status_t want, const char *needle);
/* Zero-byte messages with every other rank. */
void tp_barrier(tp_ctx_t *c, uint64_t tag);
/* Exchange len checked bytes with q. */
void tp_ping(tp_ctx_t *c, int q, uint64_t tag, size_t len);

#endif
