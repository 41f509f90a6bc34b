/* SPDX-License-Identifier: BSD-3-Clause */
/* Unit tests: the cost model's arithmetic, its choices and switch points,
 * and tuning files (parsing, errors naming the line, sections, round trip).
 * No timing: every expected value is computed from the constants here. */
#include <check.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/error.h"
#include "coll/model.h"
#include "rcomm.h"
#include "suite_run.h"

#define US 1e-6
#define NS 1e-9

/* Two classes: up to 1 KiB {10 us, 1 ns/B, 0.5 ns/B}, above {20 us, 0.5, 0.25}. */
static void two_classes(coll_model_t *m)
{
    memset(m, 0, sizeof(*m));
    strcpy(m->transport, "tcp");
    m->nclasses = 2;
    m->cls[0] = (coll_model_class_t){1024, 10, 1, 0.5};
    m->cls[1] = (coll_model_class_t){COLL_MODEL_LAST, 20, 0.5, 0.25};
}

static double msg(double bytes)
{
    return bytes <= 1024 ? 10 * US + bytes * 1 * NS : 20 * US + bytes * 0.5 * NS;
}

static double red(double bytes)
{
    return bytes * (bytes <= 1024 ? 0.5 : 0.25) * NS;
}

#define ck_near(a, b)                                                                    \
    ck_assert_msg(fabs((double)(a) - (double)(b)) <= 1e-12 + 1e-9 * fabs((double)(b)),   \
                  "%.12g != %.12g", (double)(a), (double)(b))

START_TEST(class_costs)
{
    coll_model_t m;

    two_classes(&m);
    ck_near(coll_model_msg(&m, 0), 10 * US);
    ck_near(coll_model_msg(&m, 1024), msg(1024));
    ck_near(coll_model_msg(&m, 1025), msg(1025));
    ck_near(coll_model_msg(&m, (size_t)1 << 40), msg(1099511627776.0));
    ck_near(coll_model_reduce(&m, 1024), red(1024));
    ck_near(coll_model_reduce(&m, 4096), red(4096));
    /* A negative intercept never makes a negative cost. */
    m.cls[1].alpha_us = -1e6;
    ck_near(coll_model_msg(&m, 2048), 0);
}
END_TEST

START_TEST(algorithm_costs)
{
    coll_model_t m;
    const size_t n = 4096;

    two_classes(&m);
    /* p = 4: ring moves n/4 per step; butterfly n/2 then n/4; rd n twice. */
    ck_near(coll_cost_allreduce(&m, RCOMM_ALGO_RING, 4, n),
            6 * msg(1024) + 3 * red(1024));
    ck_near(coll_cost_allreduce(&m, RCOMM_ALGO_BUTTERFLY, 4, n),
            2 * msg(2048) + red(2048) + 2 * msg(1024) + red(1024));
    ck_near(coll_cost_allreduce(&m, RCOMM_ALGO_RD, 4, n), 2 * (msg(n) + red(n)));
    /* p = 5: one rank folded in and out, one-way messages of n priced as
     * exchanges of n/2 (2 msg(n/2) + red(n)); ring's blocks round up. */
    ck_near(coll_cost_allreduce(&m, RCOMM_ALGO_RD, 5, n),
            2 * (msg(n) + red(n)) + 2 * msg(n / 2) + red(n));
    ck_near(coll_cost_allreduce(&m, RCOMM_ALGO_RING, 5, n), 8 * msg(820) + 4 * red(820));
    ck_near(coll_cost_allreduce(&m, RCOMM_ALGO_RING, 1, n), 0);
    /* Broadcast, one-way: ceil(lg 5) = 3 levels; chain (p - 2 + segments)
     * pieces. */
    ck_near(coll_cost_broadcast(&m, 1024, COLL_BCAST_BINOMIAL, 5, n), 3 * msg(n / 2));
    ck_near(coll_cost_broadcast(&m, 1024, COLL_BCAST_CHAIN, 5, n), 7 * msg(512));
    ck_near(coll_cost_broadcast(&m, 1 << 20, COLL_BCAST_CHAIN, 5, n), 4 * msg(n / 2));
    ck_near(coll_cost_broadcast(&m, 1024, COLL_BCAST_BINOMIAL, 2, 7), msg(4));
}
END_TEST

START_TEST(choice_is_the_cheapest)
{
    coll_model_t m;
    static const int ps[] = {2, 3, 4, 5, 7, 8, 64, 1000};

    two_classes(&m);
    for (size_t i = 0; i < sizeof(ps) / sizeof(ps[0]); i++) {
        for (size_t b = 1; b <= ((size_t)1 << 30); b *= 4) {
            rcomm_algo_t a = coll_select_allreduce(&m, RCOMM_ALGO_AUTO, ps[i], b);
            for (int o = RCOMM_ALGO_RING; o < RCOMM_ALGO_COUNT; o++)
                ck_assert(coll_cost_allreduce(&m, a, ps[i], b) <=
                          coll_cost_allreduce(&m, (rcomm_algo_t)o, ps[i], b));
        }
    }
    /* Direct moves the ring's messages and bytes: the formulas price it as
     * the ring and never prefer it (only a measured rule does). */
    for (size_t i = 0; i < sizeof(ps) / sizeof(ps[0]); i++)
        for (size_t b = 1; b <= ((size_t)1 << 30); b *= 4) {
            ck_near(coll_cost_allreduce(&m, RCOMM_ALGO_DIRECT, ps[i], b),
                    coll_cost_allreduce(&m, RCOMM_ALGO_RING, ps[i], b));
            ck_assert_int_ne(coll_select_allreduce(&m, RCOMM_ALGO_AUTO, ps[i], b),
                             RCOMM_ALGO_DIRECT);
        }
    /* Latency-bound: recursive doubling; bandwidth-bound: never. */
    ck_assert_int_eq(coll_select_allreduce(&m, RCOMM_ALGO_AUTO, 8, 8), RCOMM_ALGO_RD);
    ck_assert_int_ne(coll_select_allreduce(&m, RCOMM_ALGO_AUTO, 8, 64 << 20),
                     RCOMM_ALGO_RD);
    /* Forced choices win whatever the size. */
    ck_assert_int_eq(coll_select_allreduce(&m, RCOMM_ALGO_RING, 8, 8), RCOMM_ALGO_RING);
    ck_assert_int_eq(coll_select_broadcast(&m, COLL_BCAST_CHAIN, 1024, 8, 8),
                     COLL_BCAST_CHAIN);
    ck_assert_int_eq(coll_select_broadcast(&m, -1, 1024, 8, 8), COLL_BCAST_BINOMIAL);
    ck_assert_int_eq(coll_select_broadcast(&m, -1, 1 << 20, 8, 256 << 20),
                     COLL_BCAST_CHAIN);
}
END_TEST

/* Reduce: binomial takes lg p whole one-way messages; rsg a ring
 * reduce-scatter of n/p blocks, then a tree gather of 1, 2, 4 ... blocks. */
/* One class each: shared memory {1 us, 0.1 ns/B}, the network {10 us,
 * 10 ns/B}; reducing costs 0.5 ns/B on both. */
static void one_class(coll_model_t *m, const char *tp, double alpha_us, double beta_ns)
{
    memset(m, 0, sizeof(*m));
    strcpy(m->transport, tp);
    m->nclasses = 1;
    m->cls[0] = (coll_model_class_t){COLL_MODEL_LAST, alpha_us, beta_ns, 0.5};
}
#define SHM(b) (1 * US + (double)(b)*0.1 * NS)
#define NET(b) (10 * US + (double)(b)*10 * NS)
#define RED(b) ((double)(b)*0.5 * NS)

START_TEST(links_count_streams)
{
    const int ordered[8] = {0, 0, 1, 1, 2, 2, 3, 3}, robin[8] = {0, 1, 2, 3, 0, 1, 2, 3},
              odd[6] = {0, 0, 0, 1, 1, 2};
    coll_model_t net, shm;
    coll_links_t k;

    one_class(&net, "tcp", 10, 10);
    one_class(&shm, "shm", 1, 0.1);
    /* Hosts in rank order: a ring step leaves each host once; butterfly's
     * first step stays home, the others take both ranks of a host out. */
    ck_assert_int_eq(coll_links_init(&k, &net, &shm, 8, ordered, 4), RCOMM_OK);
    ck_assert_int_eq(k.ring, 1);
    ck_assert_int_eq(k.dist[0], 0);
    ck_assert_int_eq(k.dist[1], 2);
    ck_assert_int_eq(k.dist[2], 2);
    ck_assert_int_eq(k.hosts, 4);
    ck_assert_int_eq(k.per_host, 2);
    ck_assert_int_eq(k.all, 2); /* direct: both ranks of a host, always */
    /* Round-robin: every ring step takes both out; r^4 stays home. */
    ck_assert_int_eq(coll_links_init(&k, &net, &shm, 8, robin, 4), RCOMM_OK);
    ck_assert_int_eq(k.ring, 2);
    ck_assert_int_eq(k.dist[0], 2);
    ck_assert_int_eq(k.dist[2], 0);
    /* Hosts of 3, 2, 1: no hierarchical shape; the fold pairs 0-1, 2-3. */
    ck_assert_int_eq(coll_links_init(&k, &net, &shm, 6, odd, 3), RCOMM_OK);
    ck_assert_int_eq(k.per_host, 0);
    ck_assert_int_eq(k.fold, 1);
    ck_assert_int_eq(k.ring, 1);
    ck_assert_int_eq(k.all, 3);
    ck_near(coll_cost_allreduce_on(&k, RCOMM_ALGO_HIER, 4096), 1e30);
    /* One host: every step is shared memory's. */
    ck_assert_int_eq(coll_links_init(&k, &net, &shm, 6, (const int[6]){0}, 1), RCOMM_OK);
    ck_assert_int_eq(k.ring, 0);
    ck_assert_int_eq(k.all, 0);
    /* Without shared memory, the flat model prices everything. */
    ck_assert_int_eq(coll_links_init(&k, &net, NULL, 8, ordered, 4), RCOMM_OK);
    ck_assert_int_eq(k.ring, 1);
    ck_assert_int_eq(k.dist[0], 1);
    ck_assert_int_eq(k.per_host, 0);
}
END_TEST

START_TEST(links_price_each_step)
{
    const int ordered[8] = {0, 0, 1, 1, 2, 2, 3, 3}, robin[8] = {0, 1, 2, 3, 0, 1, 2, 3};
    coll_model_t net, shm;
    coll_links_t k;
    const size_t n = 8192;

    one_class(&net, "tcp", 10, 10);
    one_class(&shm, "shm", 1, 0.1);
    ck_assert_int_eq(coll_links_init(&k, &net, &shm, 8, ordered, 4), RCOMM_OK);
    /* ring: 14 steps of n/8 on one stream */
    ck_near(coll_cost_allreduce_on(&k, RCOMM_ALGO_RING, n),
            14 * NET(n / 8) + 7 * RED(n / 8));
    /* butterfly: n/2 at distance 4 and n/4 at 2, two streams a link; n/8
     * at distance 1, at home */
    ck_near(coll_cost_allreduce_on(&k, RCOMM_ALGO_BUTTERFLY, n),
            2 * NET(2 * n / 2) + 2 * NET(2 * n / 4) + 2 * SHM(n / 8) + RED(n / 2) +
                RED(n / 4) + RED(n / 8));
    ck_near(coll_cost_allreduce_on(&k, RCOMM_ALGO_RD, n),
            SHM(n) + 2 * NET(2 * n) + 3 * RED(n));
    /* direct: the ring's 14 rounds of n/8, each putting both of a host's
     * ranks on its link */
    ck_near(coll_cost_allreduce_on(&k, RCOMM_ALGO_DIRECT, n),
            14 * NET(2 * n / 8) + 7 * RED(n / 8));
    /* hier: a ring of 2 at home on n/2, a ring of 4 hosts on n/8 with both
     * of a host's ranks on its link */
    ck_near(coll_cost_allreduce_on(&k, RCOMM_ALGO_HIER, n),
            2 * SHM(n / 2) + RED(n / 2) + 6 * NET(2 * n / 8) + 3 * RED(n / 8));
    /* Small: rd's 3 steps win; large: hier's fewer bytes on a link. */
    ck_assert_int_eq(coll_select_allreduce_on(&k, RCOMM_ALGO_AUTO, 8), RCOMM_ALGO_RD);
    ck_assert_int_eq(coll_select_allreduce_on(&k, RCOMM_ALGO_AUTO, 64 << 20),
                     RCOMM_ALGO_HIER);
    ck_assert_int_eq(coll_select_allreduce_on(&k, RCOMM_ALGO_RING, 64 << 20),
                     RCOMM_ALGO_RING);
    /* Ranks round-robin over the hosts: every ring step takes both of a
     * host's ranks out (hier groups them by host whatever their order);
     * butterfly's halves at distance 4 now stay home, its cheapest case. */
    ck_assert_int_eq(coll_links_init(&k, &net, &shm, 8, robin, 4), RCOMM_OK);
    ck_near(coll_cost_allreduce_on(&k, RCOMM_ALGO_RING, n),
            14 * NET(2 * n / 8) + 7 * RED(n / 8));
    ck_near(coll_cost_allreduce_on(&k, RCOMM_ALGO_BUTTERFLY, n),
            2 * SHM(n / 2) + 2 * NET(2 * n / 4) + 2 * NET(2 * n / 8) + RED(n / 2) +
                RED(n / 4) + RED(n / 8));
    /* The flat wrapper is the same arithmetic with one stream a step. */
    coll_links_flat(&k, &net, 8);
    ck_near(coll_cost_allreduce_on(&k, RCOMM_ALGO_RD, n),
            coll_cost_allreduce(&net, RCOMM_ALGO_RD, 8, n));
    ck_near(coll_cost_allreduce_on(&k, RCOMM_ALGO_RD, n), 3 * (NET(n) + RED(n)));
}
END_TEST

START_TEST(reduce_costs_and_choice)
{
    coll_model_t m;
    const size_t n = 4096;

    two_classes(&m);
    ck_near(coll_cost_reduce(&m, COLL_REDUCE_BINOMIAL, 4, n), 2 * (msg(n / 2) + red(n)));
    ck_near(coll_cost_reduce(&m, COLL_REDUCE_RSG, 4, n),
            3 * (msg(1024) + red(1024)) + msg(512) + msg(1024));
    /* p = 5: ceil(lg 5) = 3 tree levels; the last gather step is capped at n. */
    ck_near(coll_cost_reduce(&m, COLL_REDUCE_RSG, 5, n),
            4 * (msg(820) + red(820)) + msg(410) + msg(820) + msg(1640));
    ck_near(coll_cost_reduce(&m, COLL_REDUCE_BINOMIAL, 1, n), 0);
    for (int p = 2; p <= 64; p = p * 2 + 1)
        for (size_t b = 1; b <= ((size_t)1 << 30); b *= 8) {
            coll_reduce_algo_t a = coll_select_reduce(&m, -1, p, b);
            ck_assert(coll_cost_reduce(&m, a, p, b) <=
                      coll_cost_reduce(&m, (coll_reduce_algo_t)!a, p, b));
        }
    /* Latency-bound: the tree; bandwidth-bound on many ranks: rsg. */
    ck_assert_int_eq(coll_select_reduce(&m, -1, 8, 8), COLL_REDUCE_BINOMIAL);
    ck_assert_int_eq(coll_select_reduce(&m, -1, 8, 64 << 20), COLL_REDUCE_RSG);
    ck_assert_int_eq(coll_select_reduce(&m, COLL_REDUCE_RSG, 8, 8), COLL_REDUCE_RSG);
    /* A measured rule for the job's size wins over the formulas. */
    const char *ruled = "rcomm-tuning 1\ntransport tcp\nclass inf 10 1 0.1\n"
                        "rule reduce 4 16K binomial\nrule reduce 4 inf rsg\n";
    ck_assert_int_eq(coll_model_parse(ruled, strlen(ruled), "t", "tcp", 1, &m), RCOMM_OK);
    ck_assert_int_eq(coll_select_reduce(&m, -1, 4, 16 << 10), COLL_REDUCE_BINOMIAL);
    ck_assert_int_eq(coll_select_reduce(&m, -1, 4, (16 << 10) + 1), COLL_REDUCE_RSG);
    ck_assert_int_eq(coll_select_reduce(&m, COLL_REDUCE_BINOMIAL, 4, 1 << 20),
                     COLL_REDUCE_BINOMIAL);
}
END_TEST

/* Every switch point is exact: the size before it chooses the previous
 * algorithm, the size itself the new one, and the first starts at 1 B. */
START_TEST(switch_points_are_exact)
{
    coll_model_t m;
    coll_switch_t sw[16];
    static const int ps[] = {2, 3, 4, 8, 1024};

    two_classes(&m);
    for (size_t i = 0; i < sizeof(ps) / sizeof(ps[0]); i++) {
        int n = coll_switch_points(&m, 1024, COLL_ALLREDUCE, ps[i], 1 << 30, sw, 16);
        ck_assert_int_ge(n, 2); /* rd for 8 B, something else for 64 MiB */
        ck_assert_uint_eq(sw[0].from, 1);
        ck_assert_int_eq(sw[0].algo, RCOMM_ALGO_RD);
        for (int k = 1; k < n; k++) {
            ck_assert_uint_gt(sw[k].from, sw[k - 1].from);
            ck_assert_int_eq(coll_select_allreduce(&m, 0, ps[i], sw[k].from), sw[k].algo);
            ck_assert_int_eq(coll_select_allreduce(&m, 0, ps[i], sw[k].from - 1),
                             sw[k - 1].algo);
        }
        n = coll_switch_points(&m, 1024, COLL_BROADCAST, ps[i], 1 << 30, sw, 16);
        ck_assert_int_eq(sw[0].algo, COLL_BCAST_BINOMIAL);
        for (int k = 1; k < n; k++)
            ck_assert_int_eq(coll_select_broadcast(&m, -1, 1024, ps[i], sw[k].from - 1),
                             sw[k - 1].algo);
    }
}
END_TEST

static const char good[] = "# a comment line\n"
                           "rcomm-tuning 1\n"
                           "transport tcp   # loopback\n"
                           "ranks-per-host 2\n"
                           "class 64K 10 0.25 0.02\n"
                           "class inf -30.5 0.5 0.04\n"
                           "rule allreduce 3 4K rd\n"
                           "rule broadcast 3 inf chain\n"
                           "rule allreduce 3 1M ring\n"
                           "rule allreduce 5 inf butterfly\n"
                           "\n"
                           "transport tcp\n"
                           "ranks-per-host 8\n"
                           "class inf 80 1 0.1\n"
                           "transport verbs\n"
                           "class 8K 3 0.1 0.02\n"
                           "class inf 5 0.08 0.02\n";

static rcomm_status_t parse(const char *text, const char *tp, int local, coll_model_t *m)
{
    return coll_model_parse(text, strlen(text), "t.tuning", tp, local, m);
}

START_TEST(sections_and_values)
{
    coll_model_t m;

    ck_assert_int_eq(parse(good, "tcp", 2, &m), RCOMM_OK);
    ck_assert_int_eq(m.ranks_per_host, 2);
    ck_assert_int_eq(m.nclasses, 2);
    ck_assert_uint_eq(m.cls[0].upto, 65536);
    ck_assert(m.cls[0].alpha_us == 10 && m.cls[0].beta_ns == 0.25 &&
              m.cls[0].gamma_ns == 0.02);
    ck_assert(m.cls[1].upto == COLL_MODEL_LAST && m.cls[1].alpha_us == -30.5);
    ck_assert_str_eq(m.source, "t.tuning");
    /* The closest section: the same count, else the largest below, else the
     * smallest above. */
    ck_assert_int_eq(parse(good, "tcp", 8, &m), RCOMM_OK);
    ck_assert_int_eq(m.ranks_per_host, 8);
    ck_assert_int_eq(parse(good, "tcp", 5, &m), RCOMM_OK);
    ck_assert_int_eq(m.ranks_per_host, 2);
    ck_assert_int_eq(parse(good, "tcp", 64, &m), RCOMM_OK);
    ck_assert_int_eq(m.ranks_per_host, 8);
    ck_assert_int_eq(parse(good, "tcp", 1, &m), RCOMM_OK);
    ck_assert_int_eq(m.ranks_per_host, 2);
    ck_assert_int_eq(parse(good, "verbs", 4, &m), RCOMM_OK);
    ck_assert_int_eq(m.ranks_per_host, 0);
    ck_assert_uint_eq(m.cls[0].upto, 8192);
}
END_TEST

/* A rule decides for its rank count and sizes, the formulas elsewhere; a
 * forced algorithm beats both. */
START_TEST(rules_override_the_formulas)
{
    coll_model_t m, f;
    coll_switch_t sw[16];
    int n;

    ck_assert_int_eq(parse(good, "tcp", 2, &m), RCOMM_OK);
    ck_assert_int_eq(m.nrules, 4);
    f = m;
    f.nrules = 0; /* the same classes, no rules */
    ck_assert_int_eq(coll_model_rule(&m, COLL_ALLREDUCE, 3, 0), RCOMM_ALGO_RD);
    ck_assert_int_eq(coll_model_rule(&m, COLL_ALLREDUCE, 3, 4096), RCOMM_ALGO_RD);
    ck_assert_int_eq(coll_model_rule(&m, COLL_ALLREDUCE, 3, 4097), RCOMM_ALGO_RING);
    ck_assert_int_eq(coll_model_rule(&m, COLL_ALLREDUCE, 3, 1 << 20), RCOMM_ALGO_RING);
    ck_assert_int_eq(coll_model_rule(&m, COLL_ALLREDUCE, 3, (1 << 20) + 1), -1);
    ck_assert_int_eq(coll_model_rule(&m, COLL_ALLREDUCE, 4, 8), -1);
    ck_assert_int_eq(coll_model_rule(&m, COLL_ALLREDUCE, 5, SIZE_MAX - 1),
                     RCOMM_ALGO_BUTTERFLY);
    ck_assert_int_eq(coll_model_rule(&m, COLL_BROADCAST, 3, 8), COLL_BCAST_CHAIN);
    ck_assert_int_eq(coll_model_rule(&m, COLL_BROADCAST, 5, 8), -1);
    for (size_t b = 1; b <= ((size_t)1 << 30); b *= 2) {
        int want3 = b <= 4096 ? RCOMM_ALGO_RD : b <= (1 << 20) ? RCOMM_ALGO_RING : -1;
        if (want3 < 0) /* past the rules: the formulas' choice */
            want3 = coll_select_allreduce(&f, RCOMM_ALGO_AUTO, 3, b);
        ck_assert_int_eq(coll_select_allreduce(&m, RCOMM_ALGO_AUTO, 3, b), want3);
        ck_assert_int_eq(coll_select_allreduce(&m, RCOMM_ALGO_AUTO, 5, b),
                         RCOMM_ALGO_BUTTERFLY);
        ck_assert_int_eq(coll_select_allreduce(&m, RCOMM_ALGO_AUTO, 4, b),
                         coll_select_allreduce(&f, RCOMM_ALGO_AUTO, 4, b));
        ck_assert_int_eq(coll_select_allreduce(&m, RCOMM_ALGO_RING, 5, b),
                         RCOMM_ALGO_RING);
        ck_assert_int_eq(coll_select_broadcast(&m, -1, 1024, 3, b), COLL_BCAST_CHAIN);
        ck_assert_int_eq(coll_select_broadcast(&m, COLL_BCAST_BINOMIAL, 1024, 3, b),
                         COLL_BCAST_BINOMIAL);
        ck_assert_int_eq(coll_select_broadcast(&m, -1, 1024, 4, b),
                         coll_select_broadcast(&f, -1, 1024, 4, b));
    }
    /* Switch points follow the rules: rd to 4 KiB, ring from 4097 B. */
    n = coll_switch_points(&m, 1024, COLL_ALLREDUCE, 3, 1 << 20, sw, 16);
    ck_assert_int_eq(n, 2);
    ck_assert_int_eq(sw[0].algo, RCOMM_ALGO_RD);
    ck_assert_uint_eq(sw[1].from, 4097);
    ck_assert_int_eq(sw[1].algo, RCOMM_ALGO_RING);
}
END_TEST

/* Each bad file fails with RCOMM_ERR_CONFIG and a message that names the
 * file, the line and what is wrong. */
START_TEST(bad_files_name_the_line)
{
    static const struct {
        const char *text, *expect;
    } cases[] = {
        {"", "empty"},
        {"transport tcp\n", "line 1: the first directive must be 'rcomm-tuning 1'"},
        {"rcomm-tuning 2\n", "line 1: the first directive"},
        {"rcomm-tuning 1\nclass inf 1 1 1\n", "line 2: 'class' before any 'transport'"},
        {"rcomm-tuning 1\ntransport tcp\nclass inf 1 1\n",
         "line 3: 'class' takes 4 fields"},
        {"rcomm-tuning 1\ntransport tcp\nclass 1K x 1 1\n",
         "line 3: alpha_us 'x' is not"},
        {"rcomm-tuning 1\ntransport tcp\nclass 1K 1 -1 1\n", "line 3: beta_ns '-1'"},
        {"rcomm-tuning 1\ntransport tcp\nclass 1K 1 1 nan\n", "line 3: gamma_ns 'nan'"},
        {"rcomm-tuning 1\ntransport tcp\nclass 1Q 1 1 1\n", "line 3: class size '1Q'"},
        {"rcomm-tuning 1\ntransport tcp\nclass 2K 1 1 1\n\nclass 1K 1 1 1\n",
         "line 5: class size 1024 is not larger than the previous one (2048)"},
        {"rcomm-tuning 1\ntransport tcp\nclass inf 1 1 1\nclass 1K 1 1 1\n",
         "line 4: a class after the 'inf' class"},
        {"rcomm-tuning 1\ntransport tcp\nclass 1K 1 1 1\n",
         "must end with a class whose"},
        {"rcomm-tuning 1\ntransport tcp\nclass inf 1 1 1\nbogus 3\n",
         "line 4: unknown directive 'bogus'"},
        {"rcomm-tuning 1\ntransport tcp\nclass inf 1 1 1\ntransport tcp\nclass inf 1 1 "
         "1\n",
         "line 5: a second section for transport tcp"},
        {"rcomm-tuning 1\ntransport tcp\nclass 1K 1 1 1\nranks-per-host 4\n",
         "line 4: 'ranks-per-host' belongs right after"},
        {"rcomm-tuning 1\ntransport tcp\nranks-per-host 0\n", "line 3: 'ranks-per-host' "
                                                              "takes one whole number"},
        {"rcomm-tuning 1\ntransport verbs\nclass inf 1 1 1\n",
         "no section 'transport tcp'"},
        {"rcomm-tuning 1\nrule allreduce 3 1K rd\n", "line 2: 'rule' before any"},
        {"rcomm-tuning 1\ntransport tcp\nrule allreduce 3 1K\n",
         "line 3: 'rule' takes 4 fields"},
        {"rcomm-tuning 1\ntransport tcp\nrule gather 3 1K rd\n",
         "line 3: rule for 'gather': the collectives are allreduce, broadcast and "
         "reduce"},
        {"rcomm-tuning 1\ntransport tcp\nrule allreduce 1 1K rd\n",
         "line 3: rule ranks '1' is not a whole number in [2,"},
        {"rcomm-tuning 1\ntransport tcp\nrule allreduce 2.5 1K rd\n",
         "line 3: rule ranks '2.5'"},
        {"rcomm-tuning 1\ntransport tcp\nrule allreduce 3 1x rd\n",
         "line 3: rule size '1x' is not a size"},
        {"rcomm-tuning 1\ntransport tcp\nrule allreduce 3 1K chain\n",
         "line 3: 'chain' is not an algorithm of allreduce (ring, butterfly or rd)"},
        {"rcomm-tuning 1\ntransport tcp\nrule allreduce 3 1K auto\n",
         "line 3: 'auto' is not an algorithm of allreduce"},
        {"rcomm-tuning 1\ntransport tcp\nrule broadcast 3 1K rd\n",
         "line 3: 'rd' is not an algorithm of broadcast (binomial or chain)"},
        {"rcomm-tuning 1\ntransport tcp\nrule allreduce 3 2K rd\nrule allreduce 4 1K rd\n"
         "rule allreduce 3 2K ring\n",
         "line 5: rule size 2048 is not larger than the previous one for allreduce on 3 "
         "ranks (2048)"},
        {"rcomm-tuning 1\ntransport tcp\nrule allreduce 3 inf rd\nranks-per-host 2\n",
         "line 4: 'ranks-per-host' belongs right after"},
        {"rcomm-tuning 1\ntransport tcp\nclass inf 1 1 1\nbad\x01\xff directive\n",
         "line 4: unknown directive 'bad?"
         "?'"},
    };
    coll_model_t m;
    char longline[400];

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        ck_assert_int_eq(parse(cases[i].text, "tcp", 1, &m), RCOMM_ERR_CONFIG);
        ck_assert_msg(strstr(rcomm_last_error(), cases[i].expect) &&
                          strstr(rcomm_last_error(), "t.tuning"),
                      "case %zu: '%s' lacks '%s'", i, rcomm_last_error(),
                      cases[i].expect);
    }
    memset(longline, 'x', sizeof(longline));
    memcpy(longline, "rcomm-tuning 1\n", 15);
    longline[sizeof(longline) - 1] = '\0';
    ck_assert_int_eq(parse(longline, "tcp", 1, &m), RCOMM_ERR_CONFIG);
    ck_assert_ptr_nonnull(strstr(rcomm_last_error(), "line 2: longer than 255"));
    ck_assert_int_eq(
        coll_model_parse("rcomm-tuning 1\n\0x", 17, "t.tuning", "tcp", 1, &m),
        RCOMM_ERR_CONFIG);
    ck_assert_ptr_nonnull(strstr(rcomm_last_error(), "line 2: a NUL byte"));
}
END_TEST

START_TEST(write_then_parse)
{
    coll_model_t m, back;
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);

    ck_assert_int_eq(parse(good, "tcp", 2, &m), RCOMM_OK);
    fprintf(f, "rcomm-tuning 1\n");
    coll_model_write(&m, f);
    fclose(f);
    ck_assert_int_eq(coll_model_parse(text, len, "mem", "tcp", 2, &back), RCOMM_OK);
    ck_assert_int_eq(back.nclasses, m.nclasses);
    ck_assert_int_eq(back.ranks_per_host, 2);
    for (int i = 0; i < m.nclasses; i++) {
        ck_assert_uint_eq(back.cls[i].upto, m.cls[i].upto);
        ck_near(back.cls[i].alpha_us, m.cls[i].alpha_us);
        ck_near(back.cls[i].beta_ns, m.cls[i].beta_ns);
    }
    ck_assert_int_eq(back.nrules, 4);
    for (int i = 0; i < 4; i++) /* field by field: padding is not compared */
        ck_assert(back.rule[i].coll == m.rule[i].coll &&
                  back.rule[i].ranks == m.rule[i].ranks &&
                  back.rule[i].upto == m.rule[i].upto &&
                  back.rule[i].algo == m.rule[i].algo);
    free(text);
}
END_TEST

START_TEST(files_and_builtin_profiles)
{
    coll_model_t m;
    char path[] = "/tmp/unit_model_XXXXXX";
    int fd = mkstemp(path);
    FILE *f;

    ck_assert_int_ge(fd, 0);
    f = fdopen(fd, "w");
    fputs(good, f);
    fclose(f);
    ck_assert_int_eq(coll_model_load(path, "verbs", 1, &m), RCOMM_OK);
    ck_assert_str_eq(m.source, path);
    unlink(path);
    ck_assert_int_eq(coll_model_load(path, "tcp", 1, &m), RCOMM_ERR_CONFIG);
    ck_assert_ptr_nonnull(strstr(rcomm_last_error(), path));
    /* The compiled-in profiles are valid tuning files for their transport:
     * several classes, a last one without bound, costs that never decrease. */
    for (int t = 0; t < 2; t++) {
        for (int local = 1; local <= 16; local *= 2) {
            ck_assert_int_eq(coll_model_builtin(t ? "verbs" : "tcp", local, &m),
                             RCOMM_OK);
            ck_assert_str_eq(m.transport, t ? "verbs" : "tcp");
            ck_assert_int_ge(m.nclasses, 1);
            ck_assert(m.cls[m.nclasses - 1].upto == COLL_MODEL_LAST);
            for (size_t b = 1; b < ((size_t)1 << 30); b = b * 3 / 2 + 1)
                ck_assert(coll_model_msg(&m, b) <= coll_model_msg(&m, b * 3 / 2 + 1));
        }
    }
}
END_TEST

int main(void)
{
    Suite *s = suite_create("model");
    TCase *tc = tcase_create("core");

    setenv("RCOMM_LOG_LEVEL", "none", 1);
    tcase_add_test(tc, class_costs);
    tcase_add_test(tc, algorithm_costs);
    tcase_add_test(tc, choice_is_the_cheapest);
    tcase_add_test(tc, links_count_streams);
    tcase_add_test(tc, links_price_each_step);
    tcase_add_test(tc, reduce_costs_and_choice);
    tcase_add_test(tc, switch_points_are_exact);
    tcase_add_test(tc, sections_and_values);
    tcase_add_test(tc, rules_override_the_formulas);
    tcase_add_test(tc, bad_files_name_the_line);
    tcase_add_test(tc, write_then_parse);
    tcase_add_test(tc, files_and_builtin_profiles);
    suite_add_tcase(s, tc);
    return unit_run(s);
}
