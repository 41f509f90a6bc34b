/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The parameter server: the key partition checked exhaustively in process,
 * then ps_check's scenarios (see there) through rcomm-run on 1 to 8 ranks,
 * with dedicated and working servers. RCOMM_TEST_TRANSPORT picks the
 * transport (default tcp); `make check-rxe` runs them over verbs, on the rank
 * counts RCOMM_TEST_RANKS lists (job.h).
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "job.h"
#include "ps/ps.h"

/* Every key has exactly one owner, ranges differ by at most one key, and a
 * server's ranges and blocks follow each other without overlap. */
static void check_partition(size_t count, int nservers, size_t block_bytes)
{
    ps_tensor_t t[2] = {{"a", count, RCOMM_F64, 8, 0},
                        {"b", count / 3 + 1, RCOMM_F32, 4, 0}};
    ps_layout_t l;

    ck_assert_int_eq(ps_layout_init(&l, nservers, t, 2, block_bytes), RCOMM_OK);
    for (int i = 0; i < 2; i++) {
        size_t next = 0, min = (size_t)-1, max = 0;
        for (int s = 0; s < nservers; s++) {
            const ps_range_t *r = ps_range(&l, s, i);
            ck_assert_uint_eq(r->lo, next);
            next += r->n;
            min = r->n < min ? r->n : min;
            max = r->n > max ? r->n : max;
            ck_assert_uint_eq(r->off % 64, 0);
            ck_assert_uint_eq(r->poff % 64, 0);
            /* A record: the header, then the block's data, 8-byte aligned. */
            ck_assert_uint_eq(l.t[i].rec % 8, 0);
            ck_assert_uint_ge(l.t[i].rec, PS_REC_DATA + l.t[i].blk * t[i].esize);
            ck_assert_uint_lt(l.t[i].rec, PS_REC_DATA + l.t[i].blk * t[i].esize + 8);
            if (r->n)
                ck_assert_uint_le(ps_rec(&l, s, i, (r->n - 1) / l.t[i].blk) + l.t[i].rec,
                                  l.pbytes[s]);
            if (i == 1) {
                const ps_range_t *p = ps_range(&l, s, 0);
                const size_t pb = (p->n + l.t[0].blk - 1) / l.t[0].blk;
                ck_assert_uint_ge(r->off, p->off + p->n * 8);
                ck_assert_uint_ge(r->poff, ps_rec(&l, s, 0, pb));
                ck_assert_uint_eq(r->block,
                                  p->block + (p->n + l.t[0].blk - 1) / l.t[0].blk);
                ck_assert_uint_le(r->off + r->n * 4, l.bytes[s]);
                ck_assert_uint_eq(l.nblocks[s],
                                  r->block + (r->n + l.t[1].blk - 1) / l.t[1].blk);
            }
        }
        ck_assert_uint_eq(next, t[i].count);
        ck_assert_uint_le(max - min, 1);
        /* Plain ifs: every ck_assert costs a message to Check's parent. */
        for (size_t k = 0; k < t[i].count; k++) {
            int s = ps_layout_owner(&l, i, k);
            const ps_range_t *r = s >= 0 && s < nservers ? ps_range(&l, s, i) : NULL;
            if (!r || k < r->lo || k >= r->lo + r->n)
                ck_abort_msg("key %zu of %zu on %d servers: owner %d holds [%zu, +%zu)",
                             k, t[i].count, nservers, s, r ? r->lo : 0, r ? r->n : 0);
        }
    }
    ps_layout_free(&l);
}

START_TEST(partition)
{
    for (size_t count = 1; count <= 200; count++)
        for (int s = 1; s <= 9; s++)
            check_partition(count, s, 64);
    check_partition(1000003, 7, 16384);
    check_partition(5, 8, 64);
}
END_TEST

/* A block request from the network names keys of one of the server's
 * ranges, or is refused. */
START_TEST(fetch_valid)
{
    ps_layout_t l;
    const ps_tensor_t t[2] = {{"a", 100, RCOMM_F32, 4, 0}, {"b", 7, RCOMM_F64, 8, 0}};
    const ps_range_t *r = NULL;
    ps_fetch_msg_t m;

    ck_assert_int_eq(ps_layout_init(&l, 3, t, 2, 64), RCOMM_OK);
    r = ps_range(&l, 1, 0); /* tensor a on server 1: keys [34, 67) */
    ck_assert_uint_eq(r->lo, 34);
    ck_assert_uint_eq(r->n, 33);
    m = (ps_fetch_msg_t){0, 5, 34, 67};
    ck_assert(ps_fetch_valid(&l, 1, &m, sizeof(m)));
    m = (ps_fetch_msg_t){0, 5, 40, 41};
    ck_assert(ps_fetch_valid(&l, 1, &m, sizeof(m)));
    ck_assert(!ps_fetch_valid(&l, 1, &m, sizeof(m) - 1)); /* short */
    ck_assert(!ps_fetch_valid(&l, 0, &m, sizeof(m)));     /* another server's keys */
    m = (ps_fetch_msg_t){0, 5, 33, 40};                   /* starts before the range */
    ck_assert(!ps_fetch_valid(&l, 1, &m, sizeof(m)));
    m = (ps_fetch_msg_t){0, 5, 60, 68}; /* ends after it */
    ck_assert(!ps_fetch_valid(&l, 1, &m, sizeof(m)));
    m = (ps_fetch_msg_t){0, 5, 40, 40}; /* empty */
    ck_assert(!ps_fetch_valid(&l, 1, &m, sizeof(m)));
    m = (ps_fetch_msg_t){0, 5, 41, 40}; /* backwards */
    ck_assert(!ps_fetch_valid(&l, 1, &m, sizeof(m)));
    m = (ps_fetch_msg_t){2, 5, 40, 41}; /* no tensor 2 */
    ck_assert(!ps_fetch_valid(&l, 1, &m, sizeof(m)));
    m = (ps_fetch_msg_t){0, PS_FETCH_ID_MAX, 40, 41}; /* id too large for a tag */
    ck_assert(!ps_fetch_valid(&l, 1, &m, sizeof(m)));
    m = (ps_fetch_msg_t){1, 0, 0, ~0ull}; /* past the range both ways */
    ck_assert(!ps_fetch_valid(&l, 2, &m, sizeof(m)));
    ps_layout_free(&l);
}
END_TEST

/* A block is taken only as one whole state: its bytes, version and clock
 * all of one write. Two states A and B of a 64-key block, and every way a
 * read could mix them. */
START_TEST(block_whole)
{
    double a[64], b[64], mix[64];
    ps_block_hdr_t ha, hb, h;

    for (int k = 0; k < 64; k++) {
        a[k] = k;
        b[k] = k + 1;
    }
    ha = (ps_block_hdr_t){2, 5, ps_block_sum(2, 5, a, sizeof(a))};
    hb = (ps_block_hdr_t){4, 6, ps_block_sum(4, 6, b, sizeof(b))};
    ck_assert(ps_block_whole(&ha, a, sizeof(a)));
    ck_assert(ps_block_whole(&hb, b, sizeof(b)));
    ck_assert(!ps_block_whole(&ha, b, sizeof(b))); /* a header of another state */
    ck_assert(!ps_block_whole(&hb, a, sizeof(a)));
    for (int i = 1; i < 64; i++) { /* bytes torn at key i, either way */
        memcpy(mix, a, (size_t)i * 8);
        memcpy(mix + i, b + i, (size_t)(64 - i) * 8);
        ck_assert(!ps_block_whole(&ha, mix, sizeof(mix)));
        ck_assert(!ps_block_whole(&hb, mix, sizeof(mix)));
        memcpy(mix, b, (size_t)i * 8);
        memcpy(mix + i, a + i, (size_t)(64 - i) * 8);
        ck_assert(!ps_block_whole(&ha, mix, sizeof(mix)));
        ck_assert(!ps_block_whole(&hb, mix, sizeof(mix)));
    }
    /* A header torn between the states. */
    h = (ps_block_hdr_t){ha.version, hb.clock, hb.sum};
    ck_assert(!ps_block_whole(&h, b, sizeof(b)));
    h = (ps_block_hdr_t){hb.version, ha.clock, hb.sum};
    ck_assert(!ps_block_whole(&h, b, sizeof(b)));
    h = (ps_block_hdr_t){hb.version, hb.clock, ha.sum};
    ck_assert(!ps_block_whole(&h, b, sizeof(b)));
    /* The same bytes under another clock, and a write in progress. */
    h = (ps_block_hdr_t){4, 7, ps_block_sum(4, 6, b, sizeof(b))};
    ck_assert(!ps_block_whole(&h, b, sizeof(b)));
    h = (ps_block_hdr_t){5, 6, ps_block_sum(5, 6, b, sizeof(b))};
    ck_assert(!ps_block_whole(&h, b, sizeof(b)));
}
END_TEST

/* Widening keys to whole blocks stays inside the server's range. */
START_TEST(whole_blocks)
{
    ps_layout_t l;
    const ps_tensor_t t[1] = {{"a", 100, RCOMM_F32, 4, 16}};
    /* server 1: keys [34, 67), blocks of 16 keys from 34; the last has one */
    const size_t cases[][4] = {
        {40, 41, 34, 50}, {50, 51, 50, 66}, {66, 67, 66, 67}, {34, 67, 34, 67}};

    ck_assert_int_eq(ps_layout_init(&l, 3, t, 1, 64), RCOMM_OK);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        size_t a = cases[i][0], e = cases[i][1];
        ps_layout_whole_blocks(&l, 1, 0, &a, &e);
        ck_assert_uint_eq(a, cases[i][2]);
        ck_assert_uint_eq(e, cases[i][3]);
    }
    ps_layout_free(&l);
}
END_TEST

/* A job of one of the programs every rank runs: ranks, arguments. */
typedef struct {
    int n;
    const char *args;
} ps_job_t;

/* Run it with the scenarios' environment; 0 when every rank passed. */
static int run_job(const ps_job_t *j, const char *prog)
{
    if (!job_ranks_wanted(j->n))
        return 0;
    return job(j->n, "RCOMM_TIMEOUT=30 RCOMM_LOG_LEVEL=none", prog, j->args);
}

static const ps_job_t jobs[] = {
    {1, "values"},
    {2, "--servers 1 values"},
    {3, "--servers 2 values"},
    {5, "--servers 3 values"},
    {7, "--servers 2 --work values"},
    {8, "--servers 3 --work values"},
    {5, "--servers 2 clocks"},                      /* BSP: exact */
    {5, "--servers 1 --staleness 2 clocks"},        /* SSP */
    {7, "--servers 3 --work --staleness 1 clocks"}, /* SSP, working servers */
    {3, "--servers 1 --work --staleness asp clocks"},
    {4, "--servers 1 --push 3 --pull 2 --steps 12 intervals"},
    {5, "--servers 2 --staleness 1 --push 2 --pull 3 --steps 13 intervals"},
    {3, "--servers 2 --work --staleness asp --push 4 --pull 1 --steps 9 intervals"},
    {4, "--servers 2 --work torn"},
    {5, "--servers 1 torn"},
    {3, "--servers 1 --steps 30 equiv"},
    {5, "--servers 2 --work --steps 30 equiv"},
    {8, "--servers 3 --steps 20 equiv"},
    {4, "death"},
    {5, "death"},
    {4, "wdeath"},
    {3, "badnotify"},
    /* Pushes applied by the server's progress and by its threads. */
    {4, "--steps 30 mixed"},
    {3, "--servers 1 --work --steps 20 mixed"},
    /* The same with the threads slow between their two reads, where the
     * progress applies small pushes itself (BSP rounds, ASP pushes). */
    {5, "--pause 300 --servers 2 --work --steps 10 equiv"},
    {3, "--pause 300 --servers 1 --work --steps 20 mixed"},
    /* The same step with 2 and 4 workers, pushing every 1 or 2 steps. */
    {3, "--servers 1 --average 3 --push 2 --steps 4 mean"},
    {5, "--servers 1 --average 3 --push 2 --steps 4 mean"},
    {6, "--servers 2 --average 1 --staleness 1 --steps 4 mean"},
    {4, "--servers 2 --work --average 1 --steps 4 mean"},
    {5, "--servers 1 --average 2 --push 4 --steps 8 mean"},
    {3, "--servers 1 --average 0 --push 2 --steps 4 mean"},
    {3, "--servers 1 --steps 9 fresh"},
    {5, "--servers 2 --work --steps 10 fresh"},
    /* The final model to one rank (a worker, a server) or to every rank. */
    {1, "--steps 3 final"},
    {3, "--servers 1 --steps 5 --root 2 final"},
    {5, "--servers 2 --staleness asp --steps 6 --root 1 final"},
    {8, "--servers 3 --work --staleness 2 --steps 4 final"},
};

/* Sparse pushes (ps_sparse_check): exact against a model of every worker. */
static const ps_job_t sparse_jobs[] = {
    {1, "filter"},
    {2, "--servers 1 filter"},
    {3, "--servers 1 relative"},
    {5, "--servers 2 topk"},
    {4, "--servers 2 --work randk"},
    {7, "--servers 3 --work filter"},
    {3, "--servers 1 sign"},
    {5, "--servers 2 bf16"},
    {2, "--servers 1 --work f16"},
};

/* Pushes of some keys, and lists of slices (ps_list_check). */
static const ps_job_t list_jobs[] = {
    {1, "keys"},
    {3, "--servers 1 keys"},
    {5, "--servers 2 --work keys"},
    {7, "--servers 3 keys"},
    {2, "--servers 1 many"},
    {5, "--servers 2 many"},
    {8, "--servers 3 --work many"},
};

START_TEST(list_scenarios)
{
    ck_assert_int_eq(run_job(&list_jobs[_i], "ps_list_check"), 0);
}
END_TEST

START_TEST(sparse_scenarios)
{
    ck_assert_int_eq(run_job(&sparse_jobs[_i], "ps_sparse_check"), 0);
}
END_TEST

/* A server adds a sparse image from a worker's slot: untrusted. Offsets
 * past the block are ignored and counted; so is an image that claims more
 * keys than the block can hold. */
START_TEST(sparse_add_bounds)
{
    char img[64] = {0};
    float sum[16] = {0}, v[3] = {1.5f, 2.5f, 4.0f};
    unsigned char mark[16] = {0};
    const uint32_t off[3] = {3, 16, 15}; /* 16 is past a block of 16 */

    ck_assert_uint_eq(ps_sparse_bytes(3, 4), 24);
    ck_assert_uint_eq(ps_sparse_bytes(3, 8), 40); /* offsets padded to 8 */
    memcpy(img, off, sizeof(off));
    memcpy(img + 12, v, sizeof(v));
    ck_assert_uint_eq(ps_sparse_add(img, 3, 16, RCOMM_F32, (char *)sum, mark), 1);
    ck_assert(sum[3] == 1.5f && sum[15] == 4.0f && mark[3] && mark[15]);
    for (int i = 0; i < 16; i++)
        ck_assert(i == 3 || i == 15 || (sum[i] == 0 && !mark[i]));
    /* 8 keys of f32 take 64 bytes: not an image of a 7-key block. */
    ck_assert_uint_eq(ps_sparse_add(img, 8, 7, RCOMM_F32, (char *)sum, mark), 8);
    ck_assert(sum[3] == 1.5f);
}
END_TEST

/* A rank that works and serves answers pulls while it computes outside
 * rcomm with the progress thread, and over TCP (the same test, failing the
 * other way) not without it; over verbs the HCA answers them either way,
 * and over shared memory the kernel (a pull is a process_vm_readv by the
 * worker; RCOMM_SHM_CMA=0 turns that off). */
START_TEST(attentive)
{
    static const char *const mode[] = {"thread", "caller"};
    const char *tp = getenv("RCOMM_TEST_TRANSPORT"), *cma = getenv("RCOMM_SHM_CMA");
    const int served = _i / 2 == 0 || (tp && strcmp(tp, "verbs") == 0) ||
                       (tp && strcmp(tp, "shm") == 0 && !(cma && strcmp(cma, "0") == 0));
    char dir[] = "/tmp/rcomm-attentive-XXXXXX", env[160], args[256];

    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(env, sizeof(env), "RCOMM_TIMEOUT=30 RCOMM_LOG_LEVEL=none RCOMM_PROGRESS=%s",
             mode[_i / 2]);
    snprintf(args, sizeof(args), "--flags %s %s attentive", dir,
             served ? "--wait 30 --expect served" : "--wait 3 --expect unserved");
    ck_assert_int_eq(job(_i % 2 ? 4 : 2, env, "ps_check", args), 0);
    ck_assert_int_eq(system(strcat(strcpy(args, "rm -rf "), dir)), 0);
}
END_TEST

/* Two pushes go while the server holds the first in its update rule (the
 * slot's two halves); the third waits for it and times out. */
START_TEST(halves)
{
    char dir[] = "/tmp/rcomm-halves-XXXXXX", args[128];

    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(args, sizeof(args), "--flags %s halves", dir);
    ck_assert_int_eq(
        job(2, "RCOMM_TIMEOUT=2 RCOMM_LOG_LEVEL=none", "ps_list_check", args), 0);
    ck_assert_int_eq(system(strcat(strcpy(args, "rm -rf "), dir)), 0);
}
END_TEST

/* A block that stays odd through both one-sided reads is fetched from the
 * server, whole and after its write: on 2 and on 4 ranks. */
START_TEST(fetch)
{
    char dir[] = "/tmp/rcomm-fetch-XXXXXX", args[128];

    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(args, sizeof(args), "--flags %s fetch", dir);
    ck_assert_int_eq(
        job(_i ? 4 : 2, "RCOMM_TIMEOUT=30 RCOMM_LOG_LEVEL=none", "ps_list_check", args),
        0);
    ck_assert_int_eq(system(strcat(strcpy(args, "rm -rf "), dir)), 0);
}
END_TEST

START_TEST(scenarios)
{
    ck_assert_int_eq(run_job(&jobs[_i], "ps_check"), 0);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("ps");
    TCase *unit = tcase_create("partition"), *multi = tcase_create("scenarios");
    SRunner *sr;
    int failed;

    tcase_set_timeout(unit, 60);
    tcase_set_timeout(multi, 300);
    tcase_add_test(unit, partition);
    tcase_add_test(unit, sparse_add_bounds);
    tcase_add_test(unit, fetch_valid);
    tcase_add_test(unit, block_whole);
    tcase_add_test(unit, whole_blocks);
    tcase_add_loop_test(multi, scenarios, 0, sizeof(jobs) / sizeof(jobs[0]));
    tcase_add_loop_test(multi, attentive, 0, 4);
    tcase_add_loop_test(multi, sparse_scenarios, 0,
                        sizeof(sparse_jobs) / sizeof(sparse_jobs[0]));
    tcase_add_test(multi, halves);
    tcase_add_loop_test(multi, fetch, 0, 2);
    tcase_add_loop_test(multi, list_scenarios, 0,
                        sizeof(list_jobs) / sizeof(list_jobs[0]));
    suite_add_tcase(s, unit);
    suite_add_tcase(s, multi);
    sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
