/* SPDX-License-Identifier: BSD-3-Clause */
/* Unit tests: the service registry (core/service.c). Tag spaces handed out
 * from the top in order, a freed space reused, the limit, and each
 * unexpected message delivered to the owner of its space (or to the
 * collectives below the services' spaces, or to nobody); busy, fail and
 * destroy reach every service that has the hook, destroy the rest last. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "core/comm.h"
#include "core/service.h"

typedef struct {
    int progress, unexpected, last_peer, failed, destroyed;
    int busy; /* what the busy hook answers */
    uint64_t last_tag;
    size_t last_len;
    int id; /* what progress appends to order[] */
} probe_t;

static int order[32], norder;

static void on_progress(rcomm_comm_t *comm, void *state)
{
    probe_t *p = state;

    (void)comm;
    p->progress++;
    order[norder++] = p->id;
}

static void on_unexpected(rcomm_comm_t *comm, void *state, int peer, uint64_t tag,
                          const tp_env_t *env, size_t len)
{
    probe_t *p = state;

    (void)comm, (void)env;
    p->unexpected++;
    p->last_peer = peer;
    p->last_tag = tag;
    p->last_len = len;
}

static bool on_busy(rcomm_comm_t *comm, void *state, char *what, size_t len)
{
    probe_t *p = state;

    (void)comm;
    snprintf(what, len, "probe %d's operation", p->id);
    return p->busy;
}

static void on_fail(rcomm_comm_t *comm, void *state)
{
    (void)comm;
    ((probe_t *)state)->failed++;
}

static void on_destroy(rcomm_comm_t *comm, void *state)
{
    probe_t *p = state;

    (void)comm;
    p->destroyed++;
    order[norder++] = p->id;
}

static const comm_service_ops_t probe_ops = {
    .name = "probe", .progress = on_progress, .unexpected = on_unexpected};
static const comm_service_ops_t full_ops = {.name = "full",
                                            .progress = on_progress,
                                            .unexpected = on_unexpected,
                                            .busy = on_busy,
                                            .fail = on_fail,
                                            .destroy = on_destroy};

static rcomm_comm_t *new_comm(void)
{
    rcomm_comm_t *c = calloc(1, sizeof(*c));

    ck_assert_ptr_nonnull(c);
    c->rank = 3;
    return c;
}

START_TEST(spaces_from_the_top)
{
    rcomm_comm_t *c = new_comm();
    probe_t p[COMM_SERVICE_MAX + 1] = {{0}};
    uint32_t space[COMM_SERVICE_MAX + 1];

    for (int i = 0; i < COMM_SERVICE_MAX; i++) {
        ck_assert_int_eq(comm_service_add(c, &probe_ops, &p[i], &space[i]), RCOMM_OK);
        ck_assert_uint_eq(space[i], COMM_SPACE_TOP - (uint32_t)i);
    }
    ck_assert_uint_eq(space[COMM_SERVICE_MAX - 1], COMM_SPACE_FLOOR);
    ck_assert_int_eq(comm_service_add(c, &probe_ops, &p[8], &space[8]),
                     RCOMM_ERR_INTERNAL);
    ck_assert_ptr_nonnull(
        strstr(rcomm_last_error(), "rank 3: no room for service probe"));
    /* A freed space is handed out again, the highest free first. */
    comm_service_remove(c, space[5]);
    comm_service_remove(c, space[2]);
    ck_assert_int_eq(comm_service_add(c, &probe_ops, &p[8], &space[8]), RCOMM_OK);
    ck_assert_uint_eq(space[8], space[2]);
    ck_assert_int_eq(comm_service_add(c, &probe_ops, &p[8], &space[8]), RCOMM_OK);
    ck_assert_uint_eq(space[8], space[5]);
    free(c);
}
END_TEST

START_TEST(messages_reach_their_owner)
{
    rcomm_comm_t *c = new_comm();
    probe_t rest = {.id = 0}, a = {.id = 1}, b = {.id = 2};
    uint32_t sa, sb;
    tp_env_t env = {{0}};

    comm_service_set_rest(c, &probe_ops, &rest);
    ck_assert_int_eq(comm_service_add(c, &probe_ops, &a, &sa), RCOMM_OK);
    ck_assert_int_eq(comm_service_add(c, &probe_ops, &b, &sb), RCOMM_OK);
    comm_services_unexpected(c, 2, comm_service_tag(sb, 7), &env, 40);
    ck_assert_int_eq(b.unexpected, 1);
    ck_assert_int_eq(b.last_peer, 2);
    ck_assert_uint_eq(b.last_tag, comm_service_tag(sb, 7));
    ck_assert_uint_eq(b.last_len, 40);
    ck_assert_int_eq(a.unexpected + rest.unexpected, 0);
    /* A collective's sequence number: the rest. */
    comm_services_unexpected(c, 1, comm_service_tag(12345, 0), &env, 8);
    ck_assert_int_eq(rest.unexpected, 1);
    ck_assert_uint_eq(rest.last_tag >> 32, 12345);
    /* A service's space not handed out here (a faster peer's new service):
     * nobody; the transport keeps the message. */
    comm_services_unexpected(c, 1, comm_service_tag(COMM_SPACE_FLOOR, 1), &env, 8);
    ck_assert_int_eq(a.unexpected + b.unexpected + rest.unexpected, 2);
    /* Progress: the rest first, then in registration order; a removed
     * service is not called. */
    norder = 0;
    comm_services_progress(c);
    ck_assert_int_eq(norder, 3);
    ck_assert(order[0] == 0 && order[1] == 1 && order[2] == 2);
    comm_service_remove(c, sa);
    comm_services_progress(c);
    ck_assert_int_eq(a.progress, 1);
    ck_assert_int_eq(b.progress, 2);
    comm_services_unexpected(c, 1, comm_service_tag(sa, 1), &env, 8);
    ck_assert_int_eq(a.unexpected, 0);
    free(c);
}
END_TEST

START_TEST(busy_fail_destroy)
{
    rcomm_comm_t *c = new_comm();
    probe_t rest = {.id = 0}, a = {.id = 1}, b = {.id = 2}, plain = {.id = 3};
    uint32_t sa, sb, sp;
    char what[64] = "";

    comm_service_set_rest(c, &full_ops, &rest);
    ck_assert_int_eq(comm_service_add(c, &full_ops, &a, &sa), RCOMM_OK);
    ck_assert_int_eq(comm_service_add(c, &probe_ops, &plain, &sp), RCOMM_OK);
    ck_assert_int_eq(comm_service_add(c, &full_ops, &b, &sb), RCOMM_OK);
    ck_assert(!comm_services_busy(c, what, sizeof(what)));
    b.busy = 1;
    ck_assert(comm_services_busy(c, what, sizeof(what)));
    ck_assert_str_eq(what, "probe 2's operation");
    rest.busy = 1; /* the first busy one answers */
    ck_assert(comm_services_busy(c, what, sizeof(what)));
    ck_assert_str_eq(what, "probe 0's operation");
    comm_services_fail(c);
    ck_assert(rest.failed == 1 && a.failed == 1 && b.failed == 1);
    norder = 0;
    comm_services_destroy(c);
    ck_assert(rest.destroyed == 1 && a.destroyed == 1 && b.destroyed == 1);
    ck_assert_int_eq(norder, 3);
    ck_assert(order[0] == 2 && order[1] == 1 && order[2] == 0); /* the rest last */
    /* Nothing is left registered. */
    norder = 0;
    comm_services_progress(c);
    ck_assert_int_eq(norder, 0);
    (void)sp;
    free(c);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("service");
    TCase *tc = tcase_create("core");
    SRunner *sr;
    int failed;

    tcase_add_test(tc, spaces_from_the_top);
    tcase_add_test(tc, messages_reach_their_owner);
    tcase_add_test(tc, busy_fail_destroy);
    suite_add_tcase(s, tc);
    sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
