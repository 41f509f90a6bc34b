/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Unit tests: handles used after they were destroyed (core/handle.h), on
 * communicators of one rank. Every call with a destroyed communicator,
 * request or parameter server, or with a pointer to something else, is
 * RCOMM_ERR_INVALID_ARG naming the handle; a second destroy too. The
 * sanitizer build runs it: nothing freed may be read, nothing freed twice.
 */
#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rcomm.h"
#include "suite_run.h"

static rcomm_comm_t *one_rank(void)
{
    rcomm_comm_t *comm = NULL;

    setenv("RCOMM_LOG_LEVEL", "none", 1);
    ck_assert_int_eq(rcomm_comm_create(0, 1, NULL, &comm), RCOMM_OK);
    return comm;
}

/* st is INVALID_ARG and the last error says needle. */
#define INVALID(st, needle)                                                              \
    do {                                                                                 \
        rcomm_status_t st_ = (st);                                                       \
        ck_assert_msg(st_ == RCOMM_ERR_INVALID_ARG, "%s: %s (%s)", #st,                  \
                      rcomm_strerror(st_), rcomm_last_error());                          \
        ck_assert_msg(strstr(rcomm_last_error(), needle), "%s: '%s' lacks '%s'", #st,    \
                      rcomm_last_error(), needle);                                       \
    } while (0)

#define GONE "comm was destroyed or is not a communicator"

START_TEST(comm_after_destroy)
{
    rcomm_comm_t *comm = one_rank();
    float a[4] = {1, 2, 3, 4}, b[4];
    size_t counts[1] = {4};
    rcomm_ps_config_t pcfg;
    rcomm_ps_tensor_t t = {"w", 4, RCOMM_F32, NULL};
    rcomm_compress_config_t ccfg;
    rcomm_request_t *req = NULL;
    rcomm_mem_t *mem = NULL;
    rcomm_ps_t *ps = NULL;
    rcomm_compressor_t *cmp = NULL;
    rcomm_stats_t stats;
    rcomm_algo_t algo;
    const char *name;
    char *text = NULL;
    size_t len = 0;
    FILE *f;
    int r;

    ck_assert_int_eq(rcomm_allreduce(comm, a, b, 4, RCOMM_F32, RCOMM_SUM), RCOMM_OK);
    ck_assert_int_eq(rcomm_comm_destroy(comm), RCOMM_OK);
    INVALID(rcomm_allreduce(comm, a, b, 4, RCOMM_F32, RCOMM_SUM),
            "rcomm_allreduce: " GONE);
    INVALID(rcomm_iallreduce(comm, a, b, 4, RCOMM_F32, RCOMM_SUM, RCOMM_ALGO_AUTO, &req),
            "rcomm_iallreduce: " GONE);
    ck_assert_ptr_null(req);
    INVALID(rcomm_broadcast(comm, a, 4, RCOMM_F32, 0), "rcomm_broadcast: " GONE);
    INVALID(rcomm_barrier(comm), "rcomm_barrier: " GONE);
    INVALID(rcomm_reduce(comm, a, b, 4, RCOMM_F32, RCOMM_SUM, 0), "rcomm_reduce: " GONE);
    INVALID(rcomm_gather(comm, a, b, 4, RCOMM_F32, 0), "rcomm_gather: " GONE);
    INVALID(rcomm_allgatherv(comm, a, 4, b, counts, NULL, RCOMM_F32),
            "rcomm_allgatherv: " GONE);
    INVALID(rcomm_alltoallv(comm, a, counts, NULL, b, counts, NULL, RCOMM_F32),
            "rcomm_alltoallv: " GONE);
    INVALID(rcomm_sendrecv(comm, a, 4, 0, b, 4, 0, RCOMM_F32, 0),
            "rcomm_sendrecv: " GONE);
    INVALID(rcomm_send(comm, a, 4, RCOMM_F32, 0, 0), "rcomm_send: " GONE);
    INVALID(rcomm_comm_rank(comm, &r), "rcomm_comm_rank: " GONE);
    INVALID(rcomm_comm_size(comm, &r), "rcomm_comm_size: " GONE);
    INVALID(rcomm_comm_transport(comm, &name), "rcomm_comm_transport: " GONE);
    INVALID(rcomm_comm_stats(comm, &stats), "rcomm_comm_stats: " GONE);
    INVALID(rcomm_allreduce_algo(comm, 4, RCOMM_F32, &algo),
            "rcomm_allreduce_algo: " GONE);
    INVALID(rcomm_mem_register(comm, a, sizeof(a), &mem), "rcomm_mem_register: " GONE);
    INVALID(rcomm_mem_deregister(comm, mem), "rcomm_mem_deregister: " GONE);
    INVALID(rcomm_mem_alloc(comm, 64, (void **)&text), "rcomm_mem_alloc: " GONE);
    INVALID(rcomm_mem_free(comm, a), "rcomm_mem_free: " GONE);
    f = open_memstream(&text, &len);
    INVALID(rcomm_config_print(comm, f), "rcomm_config_print: " GONE);
    fclose(f);
    free(text);
    rcomm_ps_config_init(&pcfg);
    INVALID(rcomm_ps_create(comm, &pcfg, &t, 1, &ps), "rcomm_ps_create: " GONE);
    ck_assert_ptr_null(ps);
    /* Not ours, but they ask the communicator first. */
    rcomm_compress_config_init(&ccfg, RCOMM_COMPRESS_BF16);
    INVALID(rcomm_compressor_create(comm, &ccfg, &cmp), GONE);
    ck_assert_ptr_null(cmp);
    /* A second destroy: no double free. */
    INVALID(rcomm_comm_destroy(comm), "rcomm_comm_destroy: " GONE);
    INVALID(rcomm_comm_destroy(comm), "rcomm_comm_destroy: " GONE);
}
END_TEST

/* rcomm_mem_alloc's memory: zeroed, usable, freed once; what is not its
 * is named; what is left goes with the communicator (the sanitizer build
 * and valgrind see a leak otherwise). */
START_TEST(mem_alloc)
{
    rcomm_comm_t *comm = one_rank();
    rcomm_mem_t *mem = NULL;
    char *p = NULL, *q = NULL, local[8];

    INVALID(rcomm_mem_alloc(comm, 0, (void **)&p), "rcomm_mem_alloc: rank 0: len is 0");
    INVALID(rcomm_mem_alloc(comm, 64, NULL), "rcomm_mem_alloc: rank 0: ptr is NULL");
    ck_assert_int_eq(rcomm_mem_alloc(comm, 10000, (void **)&p), RCOMM_OK);
    ck_assert_int_eq(rcomm_mem_alloc(comm, 1, (void **)&q), RCOMM_OK);
    ck_assert_uint_eq((uintptr_t)p % 4096, 0);
    for (int i = 0; i < 10000; i++)
        ck_assert_int_eq(p[i], 0);
    memset(p, 7, 10000);
    ck_assert_int_eq(rcomm_allreduce(comm, RCOMM_IN_PLACE, p, 2500, RCOMM_I32, RCOMM_SUM),
                     RCOMM_OK);
    ck_assert_int_eq(p[9999], 7);
    ck_assert_int_eq(rcomm_mem_free(comm, NULL), RCOMM_OK);
    INVALID(rcomm_mem_free(comm, local), "not memory from rcomm_mem_alloc");
    INVALID(rcomm_mem_free(comm, p + 1), "not memory from rcomm_mem_alloc");
    ck_assert_int_eq(rcomm_mem_register(comm, local, sizeof(local), &mem), RCOMM_OK);
    INVALID(rcomm_mem_free(comm, local), "not memory from rcomm_mem_alloc");
    ck_assert_int_eq(rcomm_mem_free(comm, p), RCOMM_OK);
    INVALID(rcomm_mem_free(comm, p), "not memory from rcomm_mem_alloc");
    ck_assert_int_eq(rcomm_mem_deregister(comm, mem), RCOMM_OK);
    ck_assert_int_eq(rcomm_comm_destroy(comm), RCOMM_OK); /* frees q */
}
END_TEST

START_TEST(not_a_communicator)
{
    static uint64_t junk[16384]; /* larger than a communicator, all zero */
    rcomm_comm_t *comm = (rcomm_comm_t *)junk;
    int r;

    INVALID(rcomm_barrier(comm), "rcomm_barrier: " GONE);
    INVALID(rcomm_comm_rank(comm, &r), "rcomm_comm_rank: " GONE);
    INVALID(rcomm_comm_destroy(comm), "rcomm_comm_destroy: " GONE);
    memset(junk, 0xa5, sizeof(junk));
    INVALID(rcomm_barrier(comm), "rcomm_barrier: " GONE);
    INVALID(rcomm_wait((rcomm_request_t *)junk), "rcomm_wait: req completed already");
    INVALID(rcomm_ps_destroy((rcomm_ps_t *)junk),
            "ps was destroyed or is not a parameter");
}
END_TEST

START_TEST(request_after_completion)
{
    rcomm_comm_t *comm = one_rank();
    float a[4] = {1, 2, 3, 4}, b[4];
    rcomm_request_t *req, *r2;
    rcomm_status_t st;

    ck_assert_int_eq(
        rcomm_iallreduce(comm, a, b, 4, RCOMM_F32, RCOMM_SUM, RCOMM_ALGO_AUTO, &req),
        RCOMM_OK);
    ck_assert_int_eq(rcomm_wait(req), RCOMM_OK);
    INVALID(rcomm_wait(req), "rcomm_wait: req completed already");
    INVALID(rcomm_test(req), "rcomm_test: req completed already");
    /* Completed by rcomm_test this time. */
    ck_assert_int_eq(rcomm_ibarrier(comm, &r2), RCOMM_OK);
    while ((st = rcomm_test(r2)) == RCOMM_INPROGRESS)
        ;
    ck_assert_int_eq(st, RCOMM_OK);
    INVALID(rcomm_test(r2), "rcomm_test: req completed already");
    INVALID(rcomm_wait(r2), "rcomm_wait: req completed already");
    /* More requests than the quarantine holds: the oldest are freed, once. */
    for (int i = 0; i < 200; i++) {
        ck_assert_int_eq(
            rcomm_iallreduce(comm, a, b, 4, RCOMM_F32, RCOMM_SUM, RCOMM_ALGO_AUTO, &r2),
            RCOMM_OK);
        ck_assert_int_eq(rcomm_wait(r2), RCOMM_OK);
    }
    INVALID(rcomm_wait(r2), "rcomm_wait: req completed already");
    ck_assert_int_eq(rcomm_comm_destroy(comm), RCOMM_OK);
}
END_TEST

START_TEST(ps_after_destroy)
{
    rcomm_comm_t *comm = one_rank();
    float init[8] = {1, 2, 3, 4, 5, 6, 7, 8}, got[8];
    rcomm_ps_tensor_t t = {"w", 8, RCOMM_F32, init};
    rcomm_ps_config_t cfg;
    rcomm_ps_stats_t stats;
    rcomm_ps_t *ps;
    int server;

    rcomm_ps_config_init(&cfg);
    ck_assert_int_eq(rcomm_ps_create(comm, &cfg, &t, 1, &ps), RCOMM_OK);
    ck_assert_int_eq(rcomm_ps_pull(ps, 0, 0, 8, got, NULL), RCOMM_OK);
    ck_assert(got[7] == 8.0f);
    ck_assert_int_eq(rcomm_ps_destroy(ps), RCOMM_OK);
    INVALID(rcomm_ps_destroy(ps), "rcomm_ps_destroy: ps was destroyed");
    INVALID(rcomm_ps_pull(ps, 0, 0, 8, got, NULL), "rcomm_ps_pull: ps was destroyed");
    INVALID(rcomm_ps_push(ps, 0, 0, 8, got), "rcomm_ps_push: ps was destroyed");
    INVALID(rcomm_ps_clock(ps), "rcomm_ps_clock: ps was destroyed");
    INVALID(rcomm_ps_serve(ps), "rcomm_ps_serve: ps was destroyed");
    INVALID(rcomm_ps_stats(ps, &stats), "rcomm_ps_stats: ps was destroyed");
    INVALID(rcomm_ps_owner(ps, 0, 0, &server, NULL, NULL),
            "rcomm_ps_owner: ps was destroyed");
    /* The communicator is untouched. */
    ck_assert_int_eq(rcomm_barrier(comm), RCOMM_OK);
    ck_assert_int_eq(rcomm_comm_destroy(comm), RCOMM_OK);
}
END_TEST

/* More communicators than the quarantine holds: each freed once, and the
 * latest destroyed still recognised. */
START_TEST(many_communicators)
{
    rcomm_comm_t *last = NULL;

    for (int i = 0; i < 40; i++) {
        last = one_rank();
        ck_assert_int_eq(rcomm_barrier(last), RCOMM_OK);
        ck_assert_int_eq(rcomm_comm_destroy(last), RCOMM_OK);
    }
    INVALID(rcomm_barrier(last), "rcomm_barrier: " GONE);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("handles");
    TCase *tc = tcase_create("core");

    tcase_add_test(tc, comm_after_destroy);
    tcase_add_test(tc, mem_alloc);
    tcase_add_test(tc, not_a_communicator);
    tcase_add_test(tc, request_after_completion);
    tcase_add_test(tc, ps_after_destroy);
    tcase_add_test(tc, many_communicators);
    suite_add_tcase(s, tc);
    return unit_run(s);
}
